#pragma once
// A Clock for tests: starts at the real time (whole seconds) and advances
// only when told; monotonic() moves with it. Thread-safe.

#include <chrono>
#include <mutex>

#include "common/clock.h"

namespace capstan::test_support {

class FakeClock final : public Clock {
 public:
  WallTime now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  std::chrono::steady_clock::time_point monotonic() const override {
    std::lock_guard lock(mu_);
    return std::chrono::steady_clock::now() + offset_;
  }
  void set(WallTime t) {
    std::lock_guard lock(mu_);
    offset_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(t - now_);
    now_ = t;
  }
  void advance(std::chrono::seconds d) { set(now() + d); }

 private:
  mutable std::mutex mu_;
  WallTime now_ = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  std::chrono::steady_clock::duration offset_{0};
};

}  // namespace capstan::test_support
