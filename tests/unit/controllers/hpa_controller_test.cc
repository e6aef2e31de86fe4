// The HPA controller against the in-memory API server, with PodMetrics
// faked through the controller's metrics lister: the scale subresource it
// writes, its status, conditions and events.
#include "controllers/hpa_controller.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "unit/controllers/controller_fixture.h"

namespace capstan::controllers::testing {
namespace {

const client::ResourceRef kHpas{"autoscaling", "v2", "horizontalpodautoscalers"};

class HpaControllerTest : public ControllerFixture {
 protected:
  void SetUp() override {
    ControllerFixture::SetUp();
    ctx_->options.hpa_downscale_stabilization = std::chrono::seconds(300);
  }

  // The controller with its informers synced but no workers, so each sync
  // is the test's call.
  HorizontalPodAutoscalerController& make() {
    auto c = std::make_unique<HorizontalPodAutoscalerController>(
        *ctx_, [this](const std::string& ns, const std::string& selector) -> Result<Json> {
          std::lock_guard lock(mu_);
          ++metric_calls_;
          last_selector_ = selector;
          if (!metrics_ok_)
            return Status(Code::kUnavailable, "the server is currently unable to handle the request");
          Json items = Json::array();
          for (const auto& [pod, cpu] : cpu_)
            items.push_back({{"metadata", {{"name", pod}, {"namespace", ns}}},
                             {"containers", Json::array({{{"name", "app"},
                                                          {"usage", {{"cpu", cpu}, {"memory", "10Mi"}}}}})}});
          return Json{{"kind", "PodMetricsList"}, {"items", items}};
        });
    auto& ref = *c;
    controller_ = std::move(c);
    informers_->start();
    EXPECT_TRUE(informers_->waitForSync(5s));
    return ref;
  }

  void createDeployment(int replicas) {
    Json d = {{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", {{"name", "web"}, {"namespace", "default"}}},
              {"spec",
               {{"replicas", replicas},
                {"selector", {{"matchLabels", {{"app", "web"}}}}},
                {"template",
                 {{"metadata", {{"labels", {{"app", "web"}}}}},
                  {"spec", {{"containers", Json::array({{{"name", "app"}, {"image", "nginx"}}})}}}}}}}};
    ASSERT_TRUE(client_->create(client::res::kDeployments, "default", d));
  }

  void createPod(const std::string& name, const char* cpu_request = "100m") {
    Json resources = cpu_request ? Json{{"requests", {{"cpu", cpu_request}}}} : Json::object();
    Json p = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"app", "web"}}}}},
        {"spec",
         {{"containers", Json::array({{{"name", "app"}, {"image", "nginx"}, {"resources", resources}}})}}}};
    ASSERT_TRUE(client_->create(client::res::kPods, "default", p));
    setPodPhase(name, "Running", true);
  }

  void createHpa(int min, int max, int target = 50) {
    Json h = {
        {"apiVersion", "autoscaling/v2"},
        {"kind", "HorizontalPodAutoscaler"},
        {"metadata", {{"name", "web"}, {"namespace", "default"}}},
        {"spec",
         {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}}},
          {"minReplicas", min},
          {"maxReplicas", max},
          {"metrics",
           Json::array({{{"type", "Resource"},
                         {"resource",
                          {{"name", "cpu"},
                           {"target", {{"type", "Utilization"}, {"averageUtilization", target}}}}}}})}}}};
    auto r = client_->create(kHpas, "default", h);
    ASSERT_TRUE(r) << r.status().message();
    ASSERT_TRUE(eventually([&] { return informers_->get(kHpas).get("default/web") != nullptr; }));
  }

  void setCpu(const std::string& pod, const std::string& cpu) {
    std::lock_guard lock(mu_);
    cpu_[pod] = cpu;
  }

  int64_t deploymentReplicas() { return get(client::res::kDeployments, "web")["spec"].value("replicas", -1); }
  Json hpaStatus() { return get(kHpas, "web").value("status", Json::object()); }
  Json condition(const std::string& type) {
    for (const auto& c : hpaStatus().value("conditions", Json::array()))
      if (c.value("type", "") == type) return c;
    return nullptr;
  }
  Status syncHpa() { return controller_->syncNow("default/web"); }

  std::mutex mu_;
  std::map<std::string, std::string> cpu_;  // pod -> usage
  bool metrics_ok_ = true;
  int metric_calls_ = 0;
  std::string last_selector_;
};

TEST_F(HpaControllerTest, ScalesUpToMaxUnderLoad) {
  createDeployment(1);
  createPod("web-a");
  setCpu("web-a", "200m");
  make();
  createHpa(1, 3);
  ASSERT_TRUE(syncHpa());

  EXPECT_EQ(deploymentReplicas(), 3);
  EXPECT_EQ(last_selector_, "app=web");
  Json st = hpaStatus();
  EXPECT_EQ(st.value("currentReplicas", -1), 1);
  EXPECT_EQ(st.value("desiredReplicas", -1), 3);
  EXPECT_TRUE(st.contains("lastScaleTime"));
  EXPECT_EQ(
      st["currentMetrics"],
      Json::parse(
          R"([{"type":"Resource","resource":{"name":"cpu","current":{"averageUtilization":200,"averageValue":"200m"}}}])"));
  EXPECT_EQ(condition("AbleToScale").value("reason", ""), "SucceededRescale");
  EXPECT_EQ(condition("ScalingActive").value("reason", ""), "ValidMetricFound");
  EXPECT_EQ(condition("ScalingActive").value("message", ""),
            "the HPA was able to successfully calculate a replica count from cpu resource utilization "
            "(percentage of request)");
  EXPECT_EQ(condition("ScalingLimited").value("status", ""), "True");
  EXPECT_EQ(condition("ScalingLimited").value("reason", ""), "TooManyReplicas");
  EXPECT_TRUE(eventually([&] {
    return hasEvent("SuccessfulRescale",
                    "New size: 3; reason: cpu resource utilization (percentage of request) above target");
  }));
}

TEST_F(HpaControllerTest, WithinToleranceLeavesTheCount) {
  createDeployment(2);
  createPod("web-a");
  createPod("web-b");
  setCpu("web-a", "52m");
  setCpu("web-b", "53m");
  make();
  createHpa(1, 5);
  ASSERT_TRUE(syncHpa());
  EXPECT_EQ(deploymentReplicas(), 2);
  EXPECT_EQ(hpaStatus().value("desiredReplicas", -1), 2);
  EXPECT_FALSE(hpaStatus().contains("lastScaleTime"));
  EXPECT_EQ(condition("AbleToScale").value("reason", ""), "ReadyForNewScale");
  EXPECT_EQ(condition("ScalingLimited").value("reason", ""), "DesiredWithinRange");
}

TEST_F(HpaControllerTest, ScaleDownWaitsForTheStabilizationWindow) {
  createDeployment(3);
  for (const char* p : {"web-a", "web-b", "web-c"}) {
    createPod(p);
    setCpu(p, "50m");
  }
  make();
  createHpa(1, 5);
  ASSERT_TRUE(syncHpa());  // at target: recommends 3
  EXPECT_EQ(deploymentReplicas(), 3);

  for (const char* p : {"web-a", "web-b", "web-c"}) setCpu(p, "5m");
  clock_.advance(std::chrono::seconds(60));
  ASSERT_TRUE(syncHpa());
  EXPECT_EQ(deploymentReplicas(), 3);
  EXPECT_EQ(condition("AbleToScale").value("reason", ""), "ScaleDownStabilized");

  clock_.advance(std::chrono::seconds(250));  // the recommendation of 3 is now 310 s old
  ASSERT_TRUE(syncHpa());
  EXPECT_EQ(deploymentReplicas(), 1);
  EXPECT_TRUE(eventually(
      [&] { return hasEvent("SuccessfulRescale", "New size: 1; reason: All metrics below target"); }));
}

TEST_F(HpaControllerTest, BehaviorWindowOverridesTheDefault) {
  createDeployment(3);
  for (const char* p : {"web-a", "web-b", "web-c"}) {
    createPod(p);
    setCpu(p, "5m");
  }
  make();
  createHpa(1, 5);
  auto r = client_->patch(kHpas, "default", "web", client::PatchType::kMerge,
                          {{"spec", {{"behavior", {{"scaleDown", {{"stabilizationWindowSeconds", 0}}}}}}}});
  ASSERT_TRUE(r) << r.status().message();
  ASSERT_TRUE(eventually([&] {
    auto h = informers_->get(kHpas).get("default/web");
    return h && (*h)["spec"].contains("behavior");
  }));
  ASSERT_TRUE(syncHpa());
  EXPECT_EQ(deploymentReplicas(), 1);
}

TEST_F(HpaControllerTest, MissingMetricsMakeScalingInactive) {
  createDeployment(1);
  createPod("web-a");
  metrics_ok_ = false;
  make();
  createHpa(1, 3);
  EXPECT_FALSE(syncHpa());
  EXPECT_EQ(deploymentReplicas(), 1);
  Json c = condition("ScalingActive");
  EXPECT_EQ(c.value("status", ""), "False");
  EXPECT_EQ(c.value("reason", ""), "FailedGetResourceMetric");
  EXPECT_TRUE(
      c.value("message", "")
          .starts_with("the HPA was unable to compute the replica count: failed to get cpu utilization"))
      << c.dump();
  EXPECT_TRUE(eventually([&] { return hasEvent("FailedGetResourceMetric"); }));
}

TEST_F(HpaControllerTest, MissingRequestIsReported) {
  createDeployment(1);
  createPod("web-a", nullptr);
  setCpu("web-a", "100m");
  make();
  createHpa(1, 3);
  EXPECT_FALSE(syncHpa());
  EXPECT_EQ(condition("ScalingActive").value("message", ""),
            "the HPA was unable to compute the replica count: failed to get cpu utilization: missing request "
            "for cpu "
            "in container app of Pod web-a");
}

TEST_F(HpaControllerTest, MissingTargetIsFailedGetScale) {
  make();
  createHpa(1, 3);
  EXPECT_FALSE(syncHpa());
  Json c = condition("AbleToScale");
  EXPECT_EQ(c.value("status", ""), "False");
  EXPECT_EQ(c.value("reason", ""), "FailedGetScale");
}

TEST_F(HpaControllerTest, ReplicasBelowMinAreRaisedWithoutMetrics) {
  createDeployment(1);
  metrics_ok_ = false;
  make();
  createHpa(2, 4);
  ASSERT_TRUE(syncHpa());
  EXPECT_EQ(deploymentReplicas(), 2);
  EXPECT_EQ(metric_calls_, 0);
  EXPECT_TRUE(eventually([&] {
    return hasEvent("SuccessfulRescale",
                    "New size: 2; reason: Current number of replicas below Spec.MinReplicas");
  }));
}

TEST_F(HpaControllerTest, DefaultsAndValidation) {
  Json h = {{"apiVersion", "autoscaling/v2"},
            {"kind", "HorizontalPodAutoscaler"},
            {"metadata", {{"name", "d"}, {"namespace", "default"}}},
            {"spec",
             {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}}},
              {"maxReplicas", 2}}}};
  auto r = client_->create(kHpas, "default", h);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ((*r)["spec"]["minReplicas"], 1);
  EXPECT_EQ((*r)["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 80);

  h["metadata"]["name"] = "bad";
  h["spec"]["minReplicas"] = 3;
  h["spec"]["scaleTargetRef"].erase("name");
  r = client_->create(kHpas, "default", h);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_EQ(
      r.status().message(),
      "HorizontalPodAutoscaler.autoscaling \"bad\" is invalid: [spec.maxReplicas: Invalid value: 2: must be "
      "greater than or equal to `minReplicas`, spec.scaleTargetRef.name: Required value]");
}

}  // namespace
}  // namespace capstan::controllers::testing
