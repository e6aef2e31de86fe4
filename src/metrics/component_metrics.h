#pragma once
// Prometheus implementations of the components' metrics interfaces, with
// the names upstream components use so that existing dashboards work:
//   client::WorkQueueMetricsProvider -> workqueue_adds_total, workqueue_depth,
//     workqueue_queue_duration_seconds, workqueue_work_duration_seconds,
//     workqueue_retries_total (label `name`), as client-go's workqueue;
//   scheduler::SchedulerMetrics -> scheduler_schedule_attempts_total and
//     scheduler_scheduling_attempt_duration_seconds (labels result, profile),
//     scheduler_pending_pods (label queue), as kube-scheduler's.
// The families are added to a registry the caller owns (in `capstan server`
// the API server's, so they appear on its /metrics) and must outlive the
// returned objects. Call each function at most once per registry.

#include <memory>

#include "client/work_queue_metrics.h"
#include "scheduler/service/scheduler_metrics.h"

namespace prometheus {
class Registry;
}

namespace capstan::metrics {

std::shared_ptr<client::WorkQueueMetricsProvider> workQueueMetrics(prometheus::Registry& registry);
std::shared_ptr<scheduler::SchedulerMetrics> schedulerMetrics(prometheus::Registry& registry);

}  // namespace capstan::metrics
