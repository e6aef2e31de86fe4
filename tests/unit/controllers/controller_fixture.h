#pragma once
// A real ApiServer (memory store) reached through the in-process transport,
// shared informers, an event recorder and a settable clock: what a
// controller under test runs against. Nothing runs pods; tests play the node
// agent by patching pod status.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "apiserver/api_server.h"
#include "client/client.h"
#include "client/event_recorder.h"
#include "client/informer.h"
#include "controllers/controller.h"
#include "unit/testing/fake_clock.h"
#include "unit/testing/test_api_server.h"

namespace capstan::controllers::testing {

using namespace std::chrono_literals;

using test_support::FakeClock;

class ControllerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_unique<test_support::TestApiServer>("capstan-ctl");
    ASSERT_TRUE(api_->ok());
    client_ = api_->adminClient();
    informers_ = std::make_unique<client::InformerFactory>(*client_, 0ms);
    // The recorder names events by its clock's time: the fake clock would
    // give two events of one object the same name.
    events_ = std::make_unique<client::EventRecorder>(*client_, "test-controller");
    ctx_ = std::make_unique<Context>(Context{*client_, *informers_, *events_, clock_, {}});
  }
  // Owns and runs the controller (constructed on ctx_, so its informers are
  // registered before they start).
  template <typename C>
  C& start(std::unique_ptr<C> c) {
    C& ref = *c;
    controller_ = std::move(c);
    informers_->start();
    EXPECT_TRUE(informers_->waitForSync(5s));
    ref.run();
    return ref;
  }
  void TearDown() override {
    // Informers first: their handlers call into the controller.
    if (informers_) informers_->stop();
    controller_.reset();
    ctx_.reset();
    events_.reset();
    client_.reset();
    api_.reset();
  }
  template <typename F>
  // Generous: CI runs this beside e2e servers on 2 cores; a passing wait
  // returns as soon as the condition holds.
  static bool eventually(F f, std::chrono::milliseconds limit = 15s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return f();
  }
  // Items of a list in namespace default (with an optional label selector).
  Json list(const client::ResourceRef& r, const std::string& selector = "") {
    auto l = client_->list(r, r.namespaced ? "default" : "", {.label_selector = selector});
    return l ? (*l)["items"] : Json::array();
  }
  Json get(const client::ResourceRef& r, const std::string& name) {
    auto g = client_->get(r, r.namespaced ? "default" : "", name);
    return g ? *g : Json();
  }
  // Plays the node agent: sets the pod's phase (and Ready condition).
  void setPodPhase(const std::string& name, const std::string& phase, bool ready = false) {
    Json status = {{"phase", phase},
                   {"conditions", Json::array({{{"type", "Ready"},
                                                {"status", ready ? "True" : "False"},
                                                {"lastTransitionTime", formatRfc3339(clock_.now())}}})}};
    auto r = client_->patch(client::res::kPods, "default", name, client::PatchType::kMerge,
                            {{"status", status}}, "status");
    ASSERT_TRUE(r) << r.status().message();
  }
  bool hasEvent(const std::string& reason, const std::string& message_prefix = "") {
    for (const auto& e : list(client::res::kEvents))
      if (e.value("reason", "") == reason && e.value("message", "").starts_with(message_prefix)) return true;
    return false;
  }

  std::unique_ptr<test_support::TestApiServer> api_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::unique_ptr<client::EventRecorder> events_;
  FakeClock clock_;
  std::unique_ptr<Context> ctx_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace capstan::controllers::testing
