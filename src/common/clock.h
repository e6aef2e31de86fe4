#pragma once
// Time is injected: logic asks a Clock, so tests can advance time instead of
// sleeping. SystemClock is the real one.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace capstan {

using WallTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual WallTime now() const = 0;
  virtual std::chrono::steady_clock::time_point monotonic() const = 0;
};

class SystemClock final : public Clock {
 public:
  WallTime now() const override { return std::chrono::system_clock::now(); }
  std::chrono::steady_clock::time_point monotonic() const override { return std::chrono::steady_clock::now(); }
  static const SystemClock& instance();
};

// Kubernetes' metav1.Time: RFC 3339 in UTC, second precision.
std::string formatRfc3339(WallTime t);
// metav1.MicroTime: RFC 3339 with microseconds.
std::string formatRfc3339Micro(WallTime t);
std::optional<WallTime> parseRfc3339(std::string_view s);
// kubectl's human age: 5s, 3m, 2h, 4d (and 3m20s style below 10 minutes as
// kubectl's duration.HumanDuration prints it).
std::string humanDuration(std::chrono::seconds d);

}  // namespace capstan
