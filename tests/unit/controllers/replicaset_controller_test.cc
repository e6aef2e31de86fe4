// The ReplicaSet controller against a real ApiServer (memory store).
#include <algorithm>
#include <set>

#include "controllers/active_pods.h"
#include "controllers/controller_expectations.h"
#include "workload_fixture.h"

namespace capstan::controllers::testing {
namespace {

class ReplicaSetControllerTest : public WorkloadTest {
 protected:
  Json replicaSet(const std::string& name, int replicas, const std::string& app, int min_ready = 0) {
    Json rs = {{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"metadata", {{"name", name}, {"namespace", "default"}}},
               {"spec",
                {{"replicas", replicas},
                 {"minReadySeconds", min_ready},
                 {"selector", {{"matchLabels", {{"app", app}}}}},
                 {"template", podTemplate(app)}}}};
    auto r = client_->create(client::res::kReplicaSets, "default", rs);
    EXPECT_TRUE(r) << r.status().message();
    return r ? *r : Json();
  }
  void scale(const std::string& name, int replicas) {
    auto r = client_->patch(client::res::kReplicaSets, "default", name, client::PatchType::kMerge,
                            {{"spec", {{"replicas", replicas}}}});
    ASSERT_TRUE(r) << r.status().message();
  }
  // Waits until the count holds, then checks it still holds a moment later
  // (no late duplicates).
  bool settlesAt(const std::string& selector, size_t n) {
    if (!eventually([&] { return pods(selector).size() == n; })) return false;
    std::this_thread::sleep_for(300ms);
    return pods(selector).size() == n;
  }
};

TEST_F(ReplicaSetControllerTest, CreatesReplicasOwnedAndLabelled) {
  startControllers();
  Json rs = replicaSet("web", 5, "web");
  ASSERT_TRUE(settlesAt("app=web", 5));
  for (const auto& p : pods("app=web")) {
    EXPECT_EQ(p["metadata"].value("generateName", ""), "web-");
    ASSERT_EQ(p["metadata"]["ownerReferences"].size(), 1u);
    const Json& ref = p["metadata"]["ownerReferences"][0];
    EXPECT_EQ(ref["kind"], "ReplicaSet");
    EXPECT_EQ(ref["uid"], rs["metadata"]["uid"]);
    EXPECT_EQ(ref["controller"], true);
    EXPECT_EQ(ref["blockOwnerDeletion"], true);
  }
  ASSERT_TRUE(eventually([&] {
    Json s = get(client::res::kReplicaSets, "web")["status"];
    return s.value("replicas", -1) == 5 && s.value("fullyLabeledReplicas", -1) == 5 &&
           s.value("observedGeneration", -1) == 1;
  }));
  // Events on the ReplicaSet, as upstream words them.
  ASSERT_TRUE(eventually([&] {
    auto ev = client_->list(client::res::kEvents, "default");
    int created = 0;
    for (const auto& e : (*ev)["items"])
      if (e.value("reason", "") == "SuccessfulCreate" &&
          e["message"].get<std::string>().rfind("Created pod: web-", 0) == 0)
        created += e.value("count", 1);
    return created == 5;
  }));
}

TEST_F(ReplicaSetControllerTest, ManyReplicasWithoutDuplicates) {
  startControllers();
  replicaSet("many", 40, "many");
  EXPECT_TRUE(settlesAt("app=many", 40));
}

TEST_F(ReplicaSetControllerTest, ReplacesDeletedAndFailedPods) {
  startControllers();
  replicaSet("r", 3, "r");
  ASSERT_TRUE(settlesAt("app=r", 3));
  auto before = pods("app=r");
  ASSERT_TRUE(client_->remove(client::res::kPods, "default", nameOf(before[0])));
  ASSERT_TRUE(eventually([&] {
    auto now = pods("app=r");
    return now.size() == 3 && std::none_of(now.begin(), now.end(),
                                           [&](const Json& p) { return nameOf(p) == nameOf(before[0]); });
  }));
  // A failed pod stays (the pod GC's business) but no longer counts.
  setPodStatus(nameOf(before[1]), "Failed", false);
  ASSERT_TRUE(eventually([&] { return pods("app=r").size() == 4; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(pods("app=r").size(), 4u);
  ASSERT_TRUE(
      eventually([&] { return get(client::res::kReplicaSets, "r")["status"].value("replicas", -1) == 3; }));
}

TEST_F(ReplicaSetControllerTest, ScaleDownDeletesTheLeastUsefulPodsFirst) {
  startControllers();
  replicaSet("v", 4, "v");
  ASSERT_TRUE(settlesAt("app=v", 4));
  auto ps = pods("app=v");
  std::string good = nameOf(ps[0]), not_ready = nameOf(ps[1]), unscheduled = nameOf(ps[2]),
              restarts = nameOf(ps[3]);
  for (const auto& n : {good, not_ready, restarts}) bind(n);
  // The same ready time for both ready pods (set a second apart, they would
  // fall in one logarithmic bucket and be ordered by UID, as upstream), so
  // that the restart count decides between them.
  ready_base_ = std::chrono::system_clock::now();
  setPodStatus(good, "Running", true, 0, 60s);
  setPodStatus(not_ready, "Running", false);
  setPodStatus(restarts, "Running", true, 5, 60s);
  ASSERT_TRUE(eventually(
      [&] { return get(client::res::kReplicaSets, "v")["status"].value("readyReplicas", 0) == 2; }));

  scale("v", 2);
  ASSERT_TRUE(eventually([&] { return pods("app=v").size() == 2; }));
  std::set<std::string> left;
  for (const auto& p : pods("app=v")) left.insert(nameOf(p));
  EXPECT_EQ(left, (std::set<std::string>{good, restarts}));

  scale("v", 1);
  ASSERT_TRUE(eventually([&] { return pods("app=v").size() == 1; }));
  EXPECT_EQ(nameOf(pods("app=v")[0]), good);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(pods("app=v").size(), 1u);
}

TEST_F(ReplicaSetControllerTest, AdoptsOrphansAndReleasesPodsThatStopMatching) {
  for (int i = 0; i < 2; ++i) {
    Json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", "orphan-" + std::to_string(i)}, {"labels", {{"app", "a"}}}}},
                {"spec", podTemplate("a")["spec"]}};
    ASSERT_TRUE(client_->create(client::res::kPods, "default", pod));
  }
  startControllers();
  Json rs = replicaSet("a", 3, "a");
  ASSERT_TRUE(settlesAt("app=a", 3));
  std::string uid = rs["metadata"]["uid"];
  ASSERT_TRUE(eventually([&] {
    Json o = get(client::res::kPods, "orphan-0");
    return o["metadata"].contains("ownerReferences") && o["metadata"]["ownerReferences"][0]["uid"] == uid;
  }));

  // Relabelled: released, and replaced.
  ASSERT_TRUE(client_->patch(client::res::kPods, "default", "orphan-1", client::PatchType::kMerge,
                             {{"metadata", {{"labels", {{"app", "other"}}}}}}));
  ASSERT_TRUE(eventually(
      [&] { return !get(client::res::kPods, "orphan-1")["metadata"].contains("ownerReferences"); }));
  EXPECT_TRUE(settlesAt("app=a", 3));
}

TEST_F(ReplicaSetControllerTest, ReadyAndAvailableHonourMinReadySeconds) {
  startControllers();
  replicaSet("m", 2, "m", /*min_ready=*/30);
  ASSERT_TRUE(settlesAt("app=m", 2));
  auto ps = pods("app=m");
  setPodStatus(nameOf(ps[0]), "Running", true, 0, 60s);  // ready long enough
  setPodStatus(nameOf(ps[1]), "Running", true, 0, 0s);   // just became ready
  ASSERT_TRUE(eventually([&] {
    Json s = get(client::res::kReplicaSets, "m")["status"];
    return s.value("readyReplicas", 0) == 2 && s.value("availableReplicas", 0) == 1;
  }));
}

TEST(ControllerExpectationsTest, CountsCreationsAndTracksDeletionsByKey) {
  ControllerExpectations e(SystemClock::instance());
  EXPECT_TRUE(e.satisfied("ns/rs"));
  e.expectCreations("ns/rs", 2);
  EXPECT_FALSE(e.satisfied("ns/rs"));
  e.creationObserved("ns/rs");
  EXPECT_FALSE(e.satisfied("ns/rs"));
  e.creationObserved("ns/rs");
  EXPECT_TRUE(e.satisfied("ns/rs"));
  e.expectDeletions("ns/rs", {"ns/p1", "ns/p2"});
  e.deletionObserved("ns/rs", "ns/other");
  e.deletionObserved("ns/rs", "ns/p1");
  EXPECT_FALSE(e.satisfied("ns/rs"));
  e.deletionObserved("ns/rs", "ns/p2");
  EXPECT_TRUE(e.satisfied("ns/rs"));
}

TEST(ActivePodsTest, RanksAsUpstream) {
  auto pod = [](const std::string& name, const std::string& node, const std::string& phase, bool ready,
                int restarts) {
    Json p = {{"metadata", {{"name", name}, {"uid", name}, {"creationTimestamp", "2024-01-01T00:00:00Z"}}},
              {"spec", {{"nodeName", node}}},
              {"status",
               {{"phase", phase},
                {"conditions", Json::array({{{"type", "Ready"},
                                             {"status", ready ? "True" : "False"},
                                             {"lastTransitionTime", "2024-01-01T00:00:00Z"}}})},
                {"containerStatuses", Json::array({{{"name", "c"}, {"restartCount", restarts}}})}}}};
    return std::make_shared<const Json>(p);
  };
  std::vector<client::ObjectPtr> ps = {
      pod("ready", "n1", "Running", true, 0), pod("restarts", "n2", "Running", true, 3),
      pod("notready", "n3", "Running", false, 0), pod("pending", "n4", "Pending", false, 0),
      pod("unscheduled", "", "Pending", false, 0)};
  rankPodsForDeletion(ps, ps, std::chrono::system_clock::now());
  std::vector<std::string> order;
  for (const auto& p : ps) order.push_back((*p)["metadata"]["name"]);
  EXPECT_EQ(order, (std::vector<std::string>{"unscheduled", "pending", "notready", "restarts", "ready"}));
}

}  // namespace
}  // namespace capstan::controllers::testing
