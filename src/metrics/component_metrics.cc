#include "metrics/component_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace capstan::metrics {
namespace {

// prometheus.ExponentialBuckets(start, factor, count), as upstream declares them.
prometheus::Histogram::BucketBoundaries exponentialBuckets(double start, double factor, int count) {
  prometheus::Histogram::BucketBoundaries b;
  for (int i = 0; i < count; ++i, start *= factor) b.push_back(start);
  return b;
}

struct WorkQueueFamilies {
  explicit WorkQueueFamilies(prometheus::Registry& r)
      : adds(prometheus::BuildCounter()
                 .Name("workqueue_adds_total")
                 .Help("Total number of adds handled by workqueue")
                 .Register(r)),
        depth(
            prometheus::BuildGauge().Name("workqueue_depth").Help("Current depth of workqueue").Register(r)),
        queue_duration(prometheus::BuildHistogram()
                           .Name("workqueue_queue_duration_seconds")
                           .Help("How long in seconds an item stays in workqueue before being requested.")
                           .Register(r)),
        work_duration(prometheus::BuildHistogram()
                          .Name("workqueue_work_duration_seconds")
                          .Help("How long in seconds processing an item from workqueue takes.")
                          .Register(r)),
        retries(prometheus::BuildCounter()
                    .Name("workqueue_retries_total")
                    .Help("Total number of retries handled by workqueue")
                    .Register(r)) {}
  prometheus::Family<prometheus::Counter>& adds;
  prometheus::Family<prometheus::Gauge>& depth;
  prometheus::Family<prometheus::Histogram>& queue_duration;
  prometheus::Family<prometheus::Histogram>& work_duration;
  prometheus::Family<prometheus::Counter>& retries;
  // client-go: ExponentialBuckets(10e-9, 10, 10).
  const prometheus::Histogram::BucketBoundaries buckets = exponentialBuckets(10e-9, 10, 10);
};

class PromWorkQueueMetrics final : public client::WorkQueueMetrics {
 public:
  PromWorkQueueMetrics(WorkQueueFamilies& f, const std::string& name)
      : adds_(f.adds.Add({{"name", name}})),
        depth_(f.depth.Add({{"name", name}})),
        queue_duration_(f.queue_duration.Add({{"name", name}}, f.buckets)),
        work_duration_(f.work_duration.Add({{"name", name}}, f.buckets)),
        retries_(f.retries.Add({{"name", name}})) {}
  void added() override { adds_.Increment(); }
  void setDepth(double depth) override { depth_.Set(depth); }
  void queued(double seconds) override { queue_duration_.Observe(seconds); }
  void worked(double seconds) override { work_duration_.Observe(seconds); }
  void retried() override { retries_.Increment(); }

 private:
  prometheus::Counter& adds_;
  prometheus::Gauge& depth_;
  prometheus::Histogram& queue_duration_;
  prometheus::Histogram& work_duration_;
  prometheus::Counter& retries_;
};

class PromWorkQueueMetricsProvider final : public client::WorkQueueMetricsProvider {
 public:
  explicit PromWorkQueueMetricsProvider(prometheus::Registry& r) : families_(r) {}
  // A queue re-created under the same name (a new leadership term) continues
  // the same series, as counters must.
  std::shared_ptr<client::WorkQueueMetrics> forQueue(const std::string& name) override {
    return std::make_shared<PromWorkQueueMetrics>(families_, name);
  }

 private:
  WorkQueueFamilies families_;
};

class PromSchedulerMetrics final : public scheduler::SchedulerMetrics {
 public:
  explicit PromSchedulerMetrics(prometheus::Registry& r)
      : attempts_(
            prometheus::BuildCounter()
                .Name("scheduler_schedule_attempts_total")
                .Help("Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could "
                      "not be scheduled, while 'error' means an internal scheduler problem.")
                .Register(r)),
        durations_(prometheus::BuildHistogram()
                       .Name("scheduler_scheduling_attempt_duration_seconds")
                       .Help("Scheduling attempt latency in seconds (scheduling algorithm + binding)")
                       .Register(r)),
        pending_(
            prometheus::BuildGauge()
                .Name("scheduler_pending_pods")
                .Help("Number of pending pods, by the queue type. 'active' means number of pods in activeQ; "
                      "'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in "
                      "unschedulablePods that the scheduler attempted to schedule and failed; 'gated' is the "
                      "number of unschedulable pods that the scheduler never attempted to schedule because "
                      "they are gated.")
                .Register(r)) {}

  void attempt(std::string_view result, std::string_view profile, double seconds) override {
    prometheus::Labels labels{{"result", std::string(result)}, {"profile", std::string(profile)}};
    attempts_.Add(labels).Increment();
    durations_.Add(labels, buckets_).Observe(seconds);
  }
  void setPending(std::string_view queue, double pods) override {
    pending_.Add({{"queue", std::string(queue)}}).Set(pods);
  }

 private:
  prometheus::Family<prometheus::Counter>& attempts_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Gauge>& pending_;
  // kube-scheduler: ExponentialBuckets(0.001, 2, 15).
  const prometheus::Histogram::BucketBoundaries buckets_ = exponentialBuckets(0.001, 2, 15);
};

}  // namespace

std::shared_ptr<client::WorkQueueMetricsProvider> workQueueMetrics(prometheus::Registry& registry) {
  return std::make_shared<PromWorkQueueMetricsProvider>(registry);
}

std::shared_ptr<scheduler::SchedulerMetrics> schedulerMetrics(prometheus::Registry& registry) {
  return std::make_shared<PromSchedulerMetrics>(registry);
}

}  // namespace capstan::metrics
