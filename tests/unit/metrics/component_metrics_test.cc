#include "metrics/component_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <map>
#include <vector>

#include "apiserver/resource_metrics.h"
#include "client/work_queue.h"

namespace capstan::metrics {
namespace {

// "name{k=v,...}" -> value, labels sorted as prometheus-cpp writes them.
std::map<std::string, double> scrape(prometheus::Registry& registry) {
  std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  auto samples = apiserver::parsePrometheusText(text);
  EXPECT_TRUE(samples) << samples.status().message();
  std::map<std::string, double> out;
  if (!samples) return out;
  for (const auto& s : *samples) {
    std::string key = s.name + "{";
    for (size_t i = 0; i < s.labels.size(); ++i)
      key += (i ? "," : "") + s.labels[i].first + "=" + s.labels[i].second;
    out[key + "}"] = s.value;
  }
  return out;
}

// The finite `le` bounds of every bucket series of `name`, in order.
std::vector<double> bucketBounds(prometheus::Registry& registry, const std::string& name) {
  std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  auto samples = apiserver::parsePrometheusText(text);
  std::vector<double> out;
  if (!samples) return out;
  for (const auto& s : *samples)
    if (s.name == name && s.label("le") != "+Inf") out.push_back(std::stod(s.label("le")));
  return out;
}

TEST(WorkQueueMetricsTest, CountsAddsDepthLatencyAndRetriesAsClientGo) {
  prometheus::Registry registry;
  auto provider = workQueueMetrics(registry);
  client::WorkQueue q(std::chrono::milliseconds(1), std::chrono::milliseconds(1));
  q.setMetrics(provider->forQueue("deployment"));
  q.add("a");
  q.add("a");  // deduplicated: not an add
  q.add("b");
  auto m = scrape(registry);
  EXPECT_EQ(m["workqueue_adds_total{name=deployment}"], 2);
  EXPECT_EQ(m["workqueue_depth{name=deployment}"], 2);

  auto key = q.get();
  ASSERT_TRUE(key);
  q.add(*key);  // re-added while processing: counted, queued after done()
  m = scrape(registry);
  EXPECT_EQ(m["workqueue_adds_total{name=deployment}"], 3);
  EXPECT_EQ(m["workqueue_depth{name=deployment}"], 2);
  EXPECT_EQ(m["workqueue_queue_duration_seconds_count{name=deployment}"], 1);
  q.addRateLimited(*key);
  q.done(*key);
  m = scrape(registry);
  EXPECT_EQ(m["workqueue_retries_total{name=deployment}"], 1);
  EXPECT_EQ(m["workqueue_work_duration_seconds_count{name=deployment}"], 1);
  // client-go's buckets: 1e-8 .. 1e1 seconds (and +Inf).
  auto wq_bounds = bucketBounds(registry, "workqueue_work_duration_seconds_bucket");
  ASSERT_EQ(wq_bounds.size(), 10u);
  for (size_t i = 0; i < wq_bounds.size(); ++i)
    EXPECT_NEAR(wq_bounds[i], 1e-8 * std::pow(10.0, i), 1e-8 * std::pow(10.0, i) * 1e-9);

  // A second queue of the same name (a new leadership term) continues the series.
  client::WorkQueue again;
  again.setMetrics(provider->forQueue("deployment"));
  again.add("c");
  EXPECT_EQ(scrape(registry)["workqueue_adds_total{name=deployment}"], 4);
}

TEST(SchedulerMetricsTest, AttemptsByResultAndPendingByQueue) {
  prometheus::Registry registry;
  auto s = schedulerMetrics(registry);
  s->attempt("scheduled", "default-scheduler", 0.003);
  s->attempt("scheduled", "default-scheduler", 0.004);
  s->attempt("unschedulable", "default-scheduler", 0.001);
  s->setPending("active", 3);
  s->setPending("unschedulable", 1);
  auto m = scrape(registry);
  EXPECT_EQ(m["scheduler_schedule_attempts_total{profile=default-scheduler,result=scheduled}"], 2);
  EXPECT_EQ(m["scheduler_schedule_attempts_total{profile=default-scheduler,result=unschedulable}"], 1);
  EXPECT_EQ(
      m["scheduler_scheduling_attempt_duration_seconds_count{profile=default-scheduler,result=scheduled}"],
      2);
  auto bounds = bucketBounds(registry, "scheduler_scheduling_attempt_duration_seconds_bucket");
  ASSERT_EQ(bounds.size(), 15u * 2);  // kube-scheduler's ExponentialBuckets(0.001, 2, 15), per result
  EXPECT_DOUBLE_EQ(bounds.front(), 0.001);
  EXPECT_DOUBLE_EQ(bounds[14], 16.384);
  EXPECT_EQ(m["scheduler_pending_pods{queue=active}"], 3);
  EXPECT_EQ(m["scheduler_pending_pods{queue=unschedulable}"], 1);
}

}  // namespace
}  // namespace capstan::metrics
