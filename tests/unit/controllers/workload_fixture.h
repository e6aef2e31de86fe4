#pragma once
// A real ApiServer (memory store) reached through the in-process transport,
// with the ReplicaSet and Deployment controllers running on their own
// informers. Nothing runs pods: tests play the node agent by binding pods
// and patching their status.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/api_server.h"
#include "client/client.h"
#include "client/event_recorder.h"
#include "client/informer.h"
#include "controllers/controller.h"
#include "controllers/deployment_controller.h"
#include "controllers/replicaset_controller.h"
#include "unit/testing/test_api_server.h"

namespace capstan::controllers::testing {

using namespace std::chrono_literals;

// The controllers and their caches; destroying it is a controller crash
// (nothing is handed over).
class ControllerHarness {
 public:
  explicit ControllerHarness(const client::Client& client)
      : informers_(client, std::chrono::milliseconds(0)),
        events_(client, "test"),
        ctx_{client, informers_, events_, SystemClock::instance(), {}} {
    replica_sets_ = std::make_unique<ReplicaSetController>(ctx_);
    deployments_ = std::make_unique<DeploymentController>(ctx_);
    informers_.start();
    EXPECT_TRUE(informers_.waitForSync(10s));
    replica_sets_->run();
    deployments_->run();
  }
  ~ControllerHarness() {
    replica_sets_->stop();
    deployments_->stop();
    informers_.stop();
  }

 private:
  client::InformerFactory informers_;
  client::EventRecorder events_;
  Context ctx_;
  std::unique_ptr<ReplicaSetController> replica_sets_;
  std::unique_ptr<DeploymentController> deployments_;
};

class WorkloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_unique<test_support::TestApiServer>("capstan-workload");
    ASSERT_TRUE(api_->ok());
    client_ = api_->adminClient();
  }
  void TearDown() override {
    harness_.reset();
    client_.reset();
    api_.reset();
  }

  void startControllers() { harness_ = std::make_unique<ControllerHarness>(*client_); }
  void stopControllers() { harness_.reset(); }

  template <typename F>
  static bool eventually(F f, std::chrono::milliseconds limit = 15s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return f();
  }

  static Json podTemplate(const std::string& app, const std::string& image = "nginx:1") {
    return {{"metadata", {{"labels", {{"app", app}}}}},
            {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", image}}})}}}};
  }

  // Pods in default matching `selector`, with those being deleted unless asked.
  std::vector<Json> pods(const std::string& selector, bool with_deleting = false) const {
    auto r = client_->list(client::res::kPods, "default", {.label_selector = selector});
    std::vector<Json> out;
    if (!r) return out;
    for (const auto& p : (*r)["items"])
      if (with_deleting || !p["metadata"].contains("deletionTimestamp")) out.push_back(p);
    return out;
  }
  std::vector<Json> replicaSets() const {
    auto r = client_->list(client::res::kReplicaSets, "default");
    return r ? (*r)["items"].get<std::vector<Json>>() : std::vector<Json>{};
  }
  Json get(const client::ResourceRef& res, const std::string& name) const {
    auto r = client_->get(res, "default", name);
    return r ? *r : Json();
  }

  // The node agent's part: bind, run and make ready (or not).
  void bind(const std::string& pod, const std::string& node = "node1") {
    Json b = {{"apiVersion", "v1"},
              {"kind", "Binding"},
              {"metadata", {{"name", pod}}},
              {"target", {{"kind", "Node"}, {"name", node}}}};
    auto r = client_->post(client::res::kPods, "default", pod, "binding", b);
    ASSERT_TRUE(r) << r.status().message();
  }
  void setPodStatus(const std::string& pod, const std::string& phase, bool ready, int restarts = 0,
                    std::chrono::seconds ready_for = 0s) {
    std::string since = formatRfc3339(ready_base_.value_or(std::chrono::system_clock::now()) - ready_for);
    Json status = {
        {"phase", phase},
        {"conditions",
         Json::array(
             {{{"type", "Ready"}, {"status", ready ? "True" : "False"}, {"lastTransitionTime", since}}})},
        {"containerStatuses", Json::array({{{"name", "c"},
                                            {"ready", ready},
                                            {"restartCount", restarts},
                                            {"image", "nginx"},
                                            {"imageID", ""}}})}};
    auto r = client_->patch(client::res::kPods, "default", pod, client::PatchType::kMerge,
                            {{"status", status}}, "status");
    ASSERT_TRUE(r) << r.status().message();
  }
  void markReady(const std::string& pod) { setPodStatus(pod, "Running", true); }

  // When set, setPodStatus counts ready_for back from here rather than from
  // now, so that pods given the same ready_for have the same ready time.
  std::optional<WallTime> ready_base_;
  std::unique_ptr<test_support::TestApiServer> api_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<ControllerHarness> harness_;
};

inline std::string nameOf(const Json& o) { return o["metadata"].value("name", ""); }

}  // namespace capstan::controllers::testing
