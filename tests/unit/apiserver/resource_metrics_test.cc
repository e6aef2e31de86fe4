#include "apiserver/resource_metrics.h"

#include <gtest/gtest.h>

#include "agent/stats/stats.h"
#include "apiserver/metrics_api.h"

namespace capstan::apiserver {
namespace {

using std::chrono::milliseconds;

TEST(PrometheusTextTest, ParsesLabelsValuesAndTimestamps) {
  auto r = parsePrometheusText(
      "# HELP x help\n# TYPE x counter\n"
      "x{a=\"1\",b=\"q\\\"u\\\\o\\nte\"} 1.5 1700000000123\n"
      "y 2e+09\n\n"
      "z{} NaN\n");
  ASSERT_TRUE(r) << r.status().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].name, "x");
  EXPECT_EQ((*r)[0].label("a"), "1");
  EXPECT_EQ((*r)[0].label("b"), "q\"u\\o\nte");
  EXPECT_EQ((*r)[0].value, 1.5);
  EXPECT_EQ((*r)[0].timestamp_ms, 1700000000123);
  EXPECT_EQ((*r)[1].value, 2e9);
  EXPECT_FALSE((*r)[1].timestamp_ms);
  EXPECT_TRUE(std::isnan((*r)[2].value));
  EXPECT_FALSE(parsePrometheusText("x{a=1} 2\n"));
  EXPECT_FALSE(parsePrometheusText("x 2 3 4\n"));
  EXPECT_FALSE(parsePrometheusText("x{a=\"1} 2\n"));
}

const char* kFirst =
    "container_cpu_usage_seconds_total{container=\"spin\",namespace=\"default\",pod=\"busy\"} 10 "
    "1700000000000\n"
    "container_memory_working_set_bytes{container=\"spin\",namespace=\"default\",pod=\"busy\"} 1048576 "
    "1700000000000\n"
    "container_start_time_seconds{container=\"spin\",namespace=\"default\",pod=\"busy\"} 1699999000\n"
    "node_cpu_usage_seconds_total 100 1700000000000\n"
    "node_memory_working_set_bytes 2.147483648e+09 1700000000000\n"
    "resource_scrape_error 0\n";
const char* kSecond =
    "container_cpu_usage_seconds_total{container=\"spin\",namespace=\"default\",pod=\"busy\"} 11.5 "
    "1700000002000\n"
    "container_memory_working_set_bytes{container=\"spin\",namespace=\"default\",pod=\"busy\"} 2097152 "
    "1700000002000\n"
    "container_start_time_seconds{container=\"spin\",namespace=\"default\",pod=\"busy\"} 1699999000\n"
    "node_cpu_usage_seconds_total 103 1700000002000\n"
    "node_memory_working_set_bytes 2.147483648e+09 1700000002000\n";

TEST(ResourceMetricsTest, RateBetweenTwoReadings) {
  auto a = parseResourceMetrics(kFirst, WallTime{});
  auto b = parseResourceMetrics(kSecond, WallTime{});
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(b->node);
  auto node = usageBetween(&*a->node, *b->node, milliseconds(1000));
  ASSERT_TRUE(node);
  EXPECT_EQ(node->nano_cores, 1500000000);  // 3 core-seconds over 2 s
  EXPECT_EQ(cpuQuantity(node->nano_cores), "1500m");
  EXPECT_EQ(node->window, milliseconds(2000));
  const auto& before = a->containers.at({"default", "busy"}).at("spin");
  const auto& after = b->containers.at({"default", "busy"}).at("spin");
  auto c = usageBetween(&before, after, milliseconds(1000));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->nano_cores, 750000000);
  EXPECT_EQ(c->memory_bytes, 2097152);
  EXPECT_EQ(memoryQuantity(c->memory_bytes), "2Mi");
  // A window shorter than the minimum is no measurement.
  EXPECT_FALSE(usageBetween(&*a->node, *b->node, milliseconds(3000)));
  // Nodes have no start time to fall back to.
  EXPECT_FALSE(usageBetween(nullptr, *b->node, milliseconds(1000)));
}

TEST(ResourceMetricsTest, FreshOrRestartedContainerIsMeasuredFromItsStart) {
  auto b = parseResourceMetrics(kSecond, WallTime{});
  ASSERT_TRUE(b);
  const auto& after = b->containers.at({"default", "busy"}).at("spin");
  auto u = usageBetween(nullptr, after, milliseconds(1000));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->window, milliseconds(1002000));  // since 1699999000
  EXPECT_EQ(u->nano_cores, static_cast<int64_t>(std::llround(11.5 / 1002 * 1e9)));
  // The previous reading is of an earlier run: the counter restarted.
  UsagePoint old = after;
  old.cpu_seconds = 500;
  old.cpu_time = WallTime{std::chrono::seconds(1699998000)};
  old.start_time = WallTime{std::chrono::seconds(1699990000)};
  auto r = usageBetween(&old, after, milliseconds(1000));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->window, milliseconds(1002000));
}

TEST(ResourceMetricsTest, Quantities) {
  EXPECT_EQ(cpuQuantity(0), "0");
  EXPECT_EQ(cpuQuantity(123456789), "123456789n");
  EXPECT_EQ(cpuQuantity(5000), "5u");
  EXPECT_EQ(cpuQuantity(250000000), "250m");
  EXPECT_EQ(cpuQuantity(2000000000), "2");
  EXPECT_EQ(memoryQuantity(1000), "1000");
  EXPECT_EQ(memoryQuantity(4096), "4Ki");
  EXPECT_EQ(memoryQuantity(3ll << 30), "3Gi");
  EXPECT_EQ(goDuration(milliseconds(0)), "0s");
  EXPECT_EQ(goDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(goDuration(milliseconds(1005)), "1.005s");
  EXPECT_EQ(goDuration(milliseconds(20064)), "20.064s");
  EXPECT_EQ(goDuration(milliseconds(15000)), "15s");
  EXPECT_EQ(goDuration(milliseconds(60500)), "1m0.5s");
  EXPECT_EQ(goDuration(milliseconds(3723000)), "1h2m3s");
}

TEST(ResourceMetricsTest, MetricsObjects) {
  Json node = {{"metadata", {{"name", "n1"}, {"labels", {{"kubernetes.io/os", "linux"}}}, {"uid", "x"}}}};
  Usage u{1500000000, 1073741824, WallTime{std::chrono::seconds(1700000002)}, milliseconds(2000)};
  WallTime now{std::chrono::seconds(1700000003)};
  Json nm = nodeMetricsJson(node, u, now);
  EXPECT_EQ(nm, Json::parse(R"({"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1",
    "metadata":{"name":"n1","creationTimestamp":"2023-11-14T22:13:23Z","labels":{"kubernetes.io/os":"linux"}},
    "timestamp":"2023-11-14T22:13:22Z","window":"2s","usage":{"cpu":"1500m","memory":"1Gi"}})"));
  Json pod = {{"metadata", {{"name", "busy"}, {"namespace", "default"}}}};
  Json pm =
      podMetricsJson(pod, {{"spin", u}, {"side", Usage{1000, 1000, u.timestamp, milliseconds(1500)}}}, now);
  EXPECT_EQ(pm["kind"], "PodMetrics");
  EXPECT_EQ(pm["metadata"]["namespace"], "default");
  EXPECT_FALSE(pm["metadata"].contains("labels"));
  EXPECT_EQ(pm["window"], "2s");
  EXPECT_EQ(pm["containers"], Json::parse(R"([{"name":"spin","usage":{"cpu":"1500m","memory":"1Gi"}},
    {"name":"side","usage":{"cpu":"1u","memory":"1000"}}])"));
}

// What the agent writes, the API server reads.
TEST(ResourceMetricsTest, ReadsTheAgentsExposition) {
  agent::stats::NodeSample n;
  WallTime t{std::chrono::milliseconds(1700000000500)};
  n.usage = agent::runtime::ContainerStats{};
  n.usage->cpu_usage_ns = 7250000000;
  n.usage->memory_working_set_bytes = 123456789;
  n.usage->timestamp = t;
  agent::stats::PodSample p;
  p.ns = "ns1";
  p.name = "web";
  agent::stats::ContainerSample c;
  c.name = "httpd";
  c.start_time = WallTime{std::chrono::seconds(1699999999)};
  c.usage.cpu_usage_ns = 1;
  c.usage.memory_working_set_bytes = 4096;
  c.usage.timestamp = t;
  p.containers.push_back(c);
  n.pods.push_back(p);
  auto r = parseResourceMetrics(agent::stats::renderResourceMetrics(n), WallTime{});
  ASSERT_TRUE(r) << r.status().message();
  ASSERT_TRUE(r->node);
  EXPECT_DOUBLE_EQ(r->node->cpu_seconds, 7.25);
  EXPECT_EQ(r->node->memory_bytes, 123456789);
  EXPECT_EQ(r->node->cpu_time, t);
  const auto& pt = r->containers.at({"ns1", "web"}).at("httpd");
  EXPECT_EQ(pt.cpu_seconds, 1e-9);
  EXPECT_EQ(pt.memory_bytes, 4096);
  EXPECT_EQ(pt.start_time, c.start_time);
}

TEST(KubeletEndpointTest, FromTheNodeStatus) {
  Json node = Json::parse(R"({"status":{"addresses":[{"type":"Hostname","address":"n1"},
    {"type":"InternalIP","address":"10.0.0.5"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":43210}}}})");
  auto ep = kubeletEndpointOf(node, "n1");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "10.0.0.5");
  EXPECT_EQ(ep->port, 43210);
  node["status"].erase("daemonEndpoints");
  EXPECT_EQ(kubeletEndpointOf(node, "n1")->port, 10250);
  // Hollow nodes advertise port 0: nothing to reach.
  node["status"]["daemonEndpoints"] = {{"kubeletEndpoint", {{"Port", 0}}}};
  EXPECT_FALSE(kubeletEndpointOf(node, "n1"));
  EXPECT_FALSE(kubeletEndpointOf(Json::object(), "n1"));
}

}  // namespace
}  // namespace capstan::apiserver
