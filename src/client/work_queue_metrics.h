#pragma once
// What a WorkQueue reports about itself, as client-go's workqueue
// MetricsProvider: adds, depth, time waiting in the queue, time being
// worked on, and retries. The queue calls these under its own lock, so an
// implementation must be cheap and must not call back into the queue.
// Implementations live outside src/client (src/metrics turns them into
// Prometheus series), so the client library stays free of prometheus-cpp.

#include <memory>
#include <string>

namespace capstan::client {

class WorkQueueMetrics {
 public:
  virtual ~WorkQueueMetrics() = default;
  // A key entered the queue (not counted when it was already waiting).
  virtual void added() = 0;
  virtual void setDepth(double depth) = 0;
  // A worker took a key that waited `seconds` since it was added.
  virtual void queued(double seconds) = 0;
  // A worker finished a key it held for `seconds`.
  virtual void worked(double seconds) = 0;
  // A key was re-added after a failure (addRateLimited).
  virtual void retried() = 0;
};

class WorkQueueMetricsProvider {
 public:
  virtual ~WorkQueueMetricsProvider() = default;
  // One queue's metrics; `name` is the upstream queue name (e.g. "deployment").
  virtual std::shared_ptr<WorkQueueMetrics> forQueue(const std::string& name) = 0;
};

}  // namespace capstan::client
