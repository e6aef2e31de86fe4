#include "agent/stats/kubelet_metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "agent/instrumented_runtime.h"

namespace capstan::agent {
namespace {

using stats::KubeletMetrics;

bool has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

TEST(KubeletMetricsTest, PodStartHistogramHasKubeletsBucketsAndCumulativeCounts) {
  KubeletMetrics m;
  m.observePodStart(0.04);
  m.observePodStart(0.5);  // le is inclusive
  m.observePodStart(7);
  std::string out = m.render();
  EXPECT_TRUE(has(out, "# HELP kubelet_pod_start_duration_seconds [ALPHA] Duration in seconds from kubelet seeing a pod "
                       "for the first time to the pod starting to run"));
  EXPECT_TRUE(has(out, "# TYPE kubelet_pod_start_duration_seconds histogram"));
  EXPECT_TRUE(has(out, "kubelet_pod_start_duration_seconds_bucket{le=\"0.5\"} 2"));
  EXPECT_TRUE(has(out, "kubelet_pod_start_duration_seconds_bucket{le=\"6\"} 2"));
  EXPECT_TRUE(has(out, "kubelet_pod_start_duration_seconds_bucket{le=\"8\"} 3"));
  EXPECT_TRUE(has(out, "kubelet_pod_start_duration_seconds_bucket{le=\"3600\"} 3"));
  EXPECT_TRUE(has(out, "kubelet_pod_start_duration_seconds_bucket{le=\"+Inf\"} 3"));
  EXPECT_TRUE(has(out, "kubelet_pod_start_duration_seconds_sum 7.54"));
  EXPECT_TRUE(has(out, "kubelet_pod_start_duration_seconds_count 3"));
}

TEST(KubeletMetricsTest, EmptyFamiliesStillDeclared) {
  KubeletMetrics m;
  std::string out = m.render();
  EXPECT_TRUE(has(out, "kubelet_pod_start_duration_seconds_count 0"));
  EXPECT_TRUE(has(out, "# TYPE kubelet_pod_worker_duration_seconds histogram"));
  EXPECT_TRUE(has(out, "# TYPE kubelet_runtime_operations_total counter"));
  EXPECT_TRUE(has(out, "# TYPE kubelet_runtime_operations_duration_seconds histogram"));
}

TEST(KubeletMetricsTest, PodWorkerDurationByOperationType) {
  KubeletMetrics m;
  m.observePodWorker("create", 0.03);
  m.observePodWorker("sync", 0.001);
  m.observePodWorker("sync", 20);
  std::string out = m.render();
  EXPECT_TRUE(has(out, "kubelet_pod_worker_duration_seconds_bucket{operation_type=\"create\",le=\"0.025\"} 0"));
  EXPECT_TRUE(has(out, "kubelet_pod_worker_duration_seconds_bucket{operation_type=\"create\",le=\"0.05\"} 1"));
  EXPECT_TRUE(has(out, "kubelet_pod_worker_duration_seconds_bucket{operation_type=\"sync\",le=\"0.005\"} 1"));
  EXPECT_TRUE(has(out, "kubelet_pod_worker_duration_seconds_bucket{operation_type=\"sync\",le=\"10\"} 1"));
  EXPECT_TRUE(has(out, "kubelet_pod_worker_duration_seconds_bucket{operation_type=\"sync\",le=\"+Inf\"} 2"));
  EXPECT_TRUE(has(out, "kubelet_pod_worker_duration_seconds_count{operation_type=\"sync\"} 2"));
  EXPECT_TRUE(has(out, "kubelet_pod_worker_duration_seconds_sum{operation_type=\"create\"} 0.03"));
}

TEST(KubeletMetricsTest, RuntimeOperationsBucketsAreKubeletsExponentialOnes) {
  auto b = KubeletMetrics::runtimeBuckets();
  ASSERT_EQ(b.size(), 14u);
  EXPECT_DOUBLE_EQ(b[0], 0.005);
  EXPECT_DOUBLE_EQ(b[1], 0.0125);
  EXPECT_DOUBLE_EQ(b[13], 0.005 * std::pow(2.5, 13));
  KubeletMetrics m;
  m.observeRuntimeOperation("start_container", 0.02, false);
  m.observeRuntimeOperation("start_container", 0.01, true);
  std::string out = m.render();
  EXPECT_TRUE(has(out, "kubelet_runtime_operations_total{operation_type=\"start_container\"} 2"));
  EXPECT_TRUE(has(out, "kubelet_runtime_operations_errors_total{operation_type=\"start_container\"} 1"));
  EXPECT_TRUE(has(out, "kubelet_runtime_operations_duration_seconds_bucket{operation_type=\"start_container\",le=\"0.0125\"} 1"));
  EXPECT_TRUE(has(out, "kubelet_runtime_operations_duration_seconds_bucket{operation_type=\"start_container\",le=\"0.03125\"} 2"));
}

// A runtime that answers from memory.
class FakeRuntime final : public runtime::Runtime {
 public:
  void setExitHandler(runtime::ExitHandler) override {}
  Result<runtime::ContainerStatus> start(const runtime::ContainerSpec& spec) override {
    if (spec.id == "bad") return Status(Code::kInvalid, "bad spec");
    return runtime::ContainerStatus{.id = spec.id, .state = runtime::ContainerState::kRunning};
  }
  Result<runtime::ContainerStatus> stop(const std::string& id, std::chrono::milliseconds) override {
    return runtime::ContainerStatus{.id = id, .state = runtime::ContainerState::kExited};
  }
  Status kill(const std::string&, int) override { return Status::ok(); }
  Result<runtime::ContainerStatus> waitExit(const std::string& id, std::chrono::milliseconds) override {
    return runtime::ContainerStatus{.id = id};
  }
  Status remove(const std::string&) override { return Status::ok(); }
  Result<runtime::ContainerStatus> status(const std::string& id) const override {
    return Status(Code::kNotFound, id);
  }
  std::vector<runtime::ContainerStatus> list() const override { return {runtime::ContainerStatus{.id = "a"}}; }
  Result<runtime::ExecResult> exec(const std::string&, const std::vector<std::string>&,
                                   const runtime::ExecOptions&) override {
    return runtime::ExecResult{};
  }
  Result<runtime::ExecProcess> execStreaming(const std::string&, const std::vector<std::string>&,
                                             const runtime::ExecOptions&) override {
    return runtime::ExecProcess{};
  }
  Result<runtime::ExecProcess> attach(const std::string&) override { return runtime::ExecProcess{}; }
  Result<runtime::ContainerStats> stats(const std::string&) const override { return runtime::ContainerStats{}; }
  std::string version() const override { return "fake 1"; }
};

class FakeNetwork final : public network::Network {
 public:
  Result<network::Sandbox> createSandbox(const std::string& id, const std::string&,
                                         const std::vector<network::PortMapping>&) override {
    return network::Sandbox{.id = id, .ip = "10.0.0.2"};
  }
  Status removeSandbox(const std::string&) override { return Status::ok(); }
  std::vector<network::Sandbox> list() const override { return {}; }
  Status close(bool) override { return Status::ok(); }
};

TEST(InstrumentedRuntimeTest, CountsEachCallUnderKubeletsOperationNames) {
  auto m = std::make_shared<KubeletMetrics>();
  auto rt = instrumentRuntime(std::make_unique<FakeRuntime>(), m);
  runtime::ContainerSpec spec;
  spec.id = "c1";
  auto started = rt->start(spec);
  ASSERT_TRUE(started);
  EXPECT_EQ(started->id, "c1");  // results pass through
  spec.id = "bad";
  EXPECT_FALSE(rt->start(spec));
  EXPECT_TRUE(rt->stop("c1", std::chrono::seconds(1)));
  EXPECT_TRUE(rt->remove("c1"));
  EXPECT_EQ(rt->list().size(), 1u);
  EXPECT_FALSE(rt->status("nope"));
  EXPECT_EQ(rt->version(), "fake 1");
  auto net = instrumentNetwork(std::make_unique<FakeNetwork>(), m);
  EXPECT_EQ(net->createSandbox("p1", "h")->ip, "10.0.0.2");
  EXPECT_TRUE(net->removeSandbox("p1"));

  std::string out = m->render();
  for (auto [op, n] : std::vector<std::pair<std::string, int>>{{"start_container", 2},
                                                                {"stop_container", 1},
                                                                {"remove_container", 1},
                                                                {"list_containers", 1},
                                                                {"container_status", 1},
                                                                {"run_podsandbox", 1},
                                                                {"remove_podsandbox", 1}})
    EXPECT_TRUE(has(out, "kubelet_runtime_operations_total{operation_type=\"" + op + "\"} " + std::to_string(n))) << op;
  EXPECT_TRUE(has(out, "kubelet_runtime_operations_errors_total{operation_type=\"start_container\"} 1"));
  EXPECT_TRUE(has(out, "kubelet_runtime_operations_errors_total{operation_type=\"container_status\"} 1"));
  EXPECT_TRUE(has(out, "kubelet_runtime_operations_duration_seconds_count{operation_type=\"run_podsandbox\"} 1"));
}

}  // namespace
}  // namespace capstan::agent
