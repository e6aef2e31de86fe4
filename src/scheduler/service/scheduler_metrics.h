#pragma once
// What the scheduler reports, as kube-scheduler's metrics: the result and
// duration of each scheduling attempt (scheduler_schedule_attempts_total,
// scheduler_scheduling_attempt_duration_seconds) and the number of pending
// pods per internal queue (scheduler_pending_pods). src/metrics turns these
// into Prometheus series; the scheduler itself does not depend on a
// metrics library.
//
// Threading: called from the scheduling thread and informer threads, under
// the scheduler's queue lock; implementations must be cheap and thread-safe.

#include <string_view>

namespace capstan::scheduler {

class SchedulerMetrics {
 public:
  virtual ~SchedulerMetrics() = default;
  // result: "scheduled", "unschedulable" or "error" (upstream's values);
  // profile: the scheduler name; seconds: from taking the pod off the
  // queue until the binding was answered (scheduled) or the failure known.
  virtual void attempt(std::string_view result, std::string_view profile, double seconds) = 0;
  // queue: "active", "backoff", "unschedulable" or "gated".
  virtual void setPending(std::string_view queue, double pods) = 0;
};

}  // namespace capstan::scheduler
