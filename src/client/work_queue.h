#pragma once
// A work queue of keys as client-go's: a key waiting is queued once however
// often it is added; a key being processed is not handed to a second worker
// (added again, it is queued for after done()); failed keys come back after
// a per-key exponential backoff.
//
// Threading: any thread may add; workers call get()/done(). get() blocks
// until a key is due or shutDown() is called.
//
// Metrics (optional, client-go's workqueue_* series): setMetrics() before
// the first add.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "client/work_queue_metrics.h"

namespace capstan::client {

class WorkQueue {
 public:
  using Duration = std::chrono::steady_clock::duration;
  explicit WorkQueue(Duration base_delay = std::chrono::milliseconds(5), Duration max_delay = std::chrono::seconds(300))
      : base_delay_(base_delay), max_delay_(max_delay) {}

  void add(const std::string& key);
  void addAfter(const std::string& key, Duration delay);
  // Adds after the key's next backoff delay (base × 2^failures, capped).
  void addRateLimited(const std::string& key);
  // The key succeeded: reset its backoff.
  void forget(const std::string& key);
  int failures(const std::string& key) const;

  std::optional<std::string> get();
  void done(const std::string& key);
  void shutDown();
  size_t length() const;
  void setMetrics(std::shared_ptr<WorkQueueMetrics> metrics);

 private:
  // Caller holds mu_.
  void addLocked(const std::string& key);
  void promoteDueLocked(std::chrono::steady_clock::time_point now);

  const Duration base_delay_;
  const Duration max_delay_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;       // queued (or to be re-queued after done)
  std::unordered_set<std::string> processing_;
  std::multimap<std::chrono::steady_clock::time_point, std::string> delayed_;
  std::unordered_map<std::string, int> failures_;
  bool shutting_down_ = false;
  // With metrics only: when each waiting key was added and each processed
  // key was taken, and the depth as client-go counts it (keys added and not
  // yet taken, including keys re-queued while being processed).
  std::shared_ptr<WorkQueueMetrics> metrics_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> added_at_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> started_at_;
  size_t depth_ = 0;
};

}  // namespace capstan::client
