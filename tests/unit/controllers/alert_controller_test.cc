// The alert evaluator against a real API server: default rules, the
// Pending -> Firing -> Resolved -> gone life of an Alert, its Event and the
// condition on the affected object, and delivery to receivers.
#include <gtest/gtest.h>

#include "controllers/alert_controller.h"
#include "unit/controllers/controller_fixture.h"

namespace capstan::controllers::testing {
namespace {

const client::ResourceRef kRules{"alerting.capstan.io", "v1alpha1", "alertrules", false};
const client::ResourceRef kAlerts{"alerting.capstan.io", "v1alpha1", "alerts", false};
const client::ResourceRef kReceivers{"alerting.capstan.io", "v1alpha1", "alertreceivers", false};

class AlertControllerTest : public ControllerFixture {
 protected:
  struct Delivery {
    std::string url;
    Json body;
  };

  AlertController& startEvaluator() {
    AlertController::Options o;
    o.interval = 20ms;
    o.resend_interval = 1h;
    o.poster = [this](const std::string& url, const std::string& body, bool) {
      std::lock_guard lock(mu_);
      deliveries_.push_back({url, Json::parse(body)});
      return fail_delivery_ ? Status(Code::kUnavailable, "connection refused") : Status::ok();
    };
    return start(std::make_unique<AlertController>(*ctx_, o));
  }
  std::vector<Delivery> deliveries() {
    std::lock_guard lock(mu_);
    return deliveries_;
  }
  void createPod(const std::string& name) {
    Json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec", {{"containers", Json::array({{{"name", "main"}, {"image", "busybox"}}})}}}};
    ASSERT_TRUE(client_->create(client::res::kPods, "default", pod));
  }
  void setCrashLooping(const std::string& name, bool crashing) {
    Json state = crashing ? Json{{"waiting", {{"reason", "CrashLoopBackOff"}}}}
                          : Json{{"running", {{"startedAt", formatRfc3339(clock_.now())}}}};
    Json status = {{"phase", "Running"},
                   {"containerStatuses",
                    Json::array({{{"name", "main"}, {"restartCount", 4}, {"ready", !crashing}, {"state", state}}})}};
    ASSERT_TRUE(client_->patch(client::res::kPods, "default", name, client::PatchType::kMerge, {{"status", status}},
                               "status"));
  }
  std::string alertState(const std::string& name) {
    Json a = get(kAlerts, name);
    return a.is_object() ? a.value("status", Json::object()).value("state", "") : "";
  }
  Json receiverStatus(const std::string& name) { return get(kReceivers, name).value("status", Json::object()); }
  bool podHasAlertCondition(const std::string& name) {
    for (const auto& c : get(client::res::kPods, name).value("status", Json::object()).value("conditions", Json::array()))
      if (c.value("type", "") == "alerting.capstan.io/pod-crash-looping" && c.value("status", "") == "True") return true;
    return false;
  }

  std::mutex mu_;
  std::vector<Delivery> deliveries_;
  std::atomic<bool> fail_delivery_{false};
};

TEST_F(AlertControllerTest, CreatesTheDefaultRulesOnceAndKeepsUserChanges) {
  ASSERT_TRUE(client_->create(kRules, "", {{"apiVersion", "alerting.capstan.io/v1alpha1"},
                                           {"kind", "AlertRule"},
                                           {"metadata", {{"name", "job-failed"}}},
                                           {"spec", {{"check", "JobFailed"}, {"for", "1h"}}}}));
  startEvaluator();
  ASSERT_TRUE(eventually([&] { return list(kRules).size() == 11; })) << list(kRules).dump();
  EXPECT_EQ(get(kRules, "job-failed")["spec"]["for"], "1h");  // the user's rule stays as it is
  EXPECT_EQ(get(kRules, "pod-crash-looping")["spec"]["check"], "PodCrashLooping");
  ASSERT_TRUE(eventually([&] { return get(kRules, "pod-crash-looping").value("status", Json::object()).value("firing", -1) == 0; }));
}

TEST_F(AlertControllerTest, PendingThenFiringThenResolvedThenGone) {
  ASSERT_TRUE(client_->create(kReceivers, "", {{"apiVersion", "alerting.capstan.io/v1alpha1"},
                                               {"kind", "AlertReceiver"},
                                               {"metadata", {{"name", "am"}}},
                                               {"spec", {{"url", "http://127.0.0.1:9/"}}}}));
  startEvaluator();
  ASSERT_TRUE(eventually([&] { return get(kRules, "pod-crash-looping").is_object(); }));
  ASSERT_TRUE(client_->patch(kRules, "", "pod-crash-looping", client::PatchType::kMerge,
                             {{"spec", {{"for", "30s"}}}}));
  createPod("web");
  setCrashLooping("web", true);
  const std::string name = "pod-crash-looping.default.web";
  ASSERT_TRUE(eventually([&] { return alertState(name) == "Pending"; })) << list(kAlerts).dump();
  Json pending = get(kAlerts, name);
  EXPECT_EQ(pending["spec"]["summary"], "Pod default/web is crash looping");
  EXPECT_EQ(pending["metadata"]["labels"]["alerting.capstan.io/rule"], "pod-crash-looping");
  EXPECT_EQ(pending["status"]["value"], "4");
  EXPECT_FALSE(podHasAlertCondition("web"));
  EXPECT_TRUE(deliveries().empty());  // pending alerts are not sent

  clock_.advance(31s);
  ASSERT_TRUE(eventually([&] { return alertState(name) == "Firing"; }));
  ASSERT_TRUE(eventually([&] { return podHasAlertCondition("web"); }));
  ASSERT_TRUE(eventually([&] { return hasEvent("AlertFiring", "Alert pod-crash-looping is firing"); }));
  ASSERT_TRUE(eventually([&] { return get(kRules, "pod-crash-looping").value("status", Json::object()).value("firing", 0) == 1; }));
  ASSERT_TRUE(eventually([&] { return !deliveries().empty(); }));
  auto first = deliveries().front();
  EXPECT_EQ(first.url, "http://127.0.0.1:9/api/v2/alerts");
  ASSERT_EQ(first.body.size(), 1u);
  EXPECT_EQ(first.body[0]["labels"]["pod"], "web");
  ASSERT_TRUE(eventually([&] { return receiverStatus("am").contains("lastSendTime"); }));

  // The agent writing the pod's status keeps the condition (its own are replaced).
  setCrashLooping("web", true);
  EXPECT_TRUE(podHasAlertCondition("web"));

  setCrashLooping("web", false);
  ASSERT_TRUE(eventually([&] { return alertState(name) == "Resolved"; }));
  ASSERT_TRUE(eventually([&] { return !podHasAlertCondition("web"); }));
  ASSERT_TRUE(eventually([&] { return hasEvent("AlertResolved"); }));
  ASSERT_TRUE(eventually([&] {
    auto d = deliveries();
    return d.back().body.size() == 1 && d.back().body[0].contains("endsAt");
  }));

  clock_.advance(16min);
  ASSERT_TRUE(eventually([&] { return !get(kAlerts, name).is_object(); }));
}

TEST_F(AlertControllerTest, AFailedDeliveryIsReportedAndRetried) {
  fail_delivery_ = true;
  ASSERT_TRUE(client_->create(kReceivers, "", {{"apiVersion", "alerting.capstan.io/v1alpha1"},
                                               {"kind", "AlertReceiver"},
                                               {"metadata", {{"name", "down"}}},
                                               {"spec", {{"url", "http://127.0.0.1:9"}, {"format", "Webhook"}}}}));
  startEvaluator();
  ASSERT_TRUE(eventually([&] { return get(kRules, "pod-crash-looping").is_object(); }));
  ASSERT_TRUE(client_->patch(kRules, "", "pod-crash-looping", client::PatchType::kMerge, {{"spec", {{"for", "0s"}}}}));
  createPod("db");
  setCrashLooping("db", true);
  ASSERT_TRUE(eventually([&] {
    return receiverStatus("down").value("lastError", "") == "connection refused";
  }));
  size_t before = deliveries().size();
  ASSERT_TRUE(eventually([&] { return deliveries().size() > before + 1; }));  // retried every evaluation
  EXPECT_EQ(deliveries().back().url, "http://127.0.0.1:9");
  EXPECT_EQ(deliveries().back().body["version"], "4");
  fail_delivery_ = false;
  ASSERT_TRUE(eventually([&] { return !receiverStatus("down").contains("lastError"); }));
  // A disabled rule's alerts resolve.
  ASSERT_TRUE(client_->patch(kRules, "", "pod-crash-looping", client::PatchType::kMerge,
                             {{"spec", {{"disabled", true}}}}));
  ASSERT_TRUE(eventually([&] { return alertState("pod-crash-looping.default.db") == "Resolved"; }));
}

}  // namespace
}  // namespace capstan::controllers::testing
