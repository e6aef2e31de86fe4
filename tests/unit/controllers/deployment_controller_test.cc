// The Deployment controller (with the ReplicaSet controller under it)
// against a real ApiServer (memory store).
#include <map>
#include <set>

#include "controllers/deployment_replica_sets.h"
#include "workload_fixture.h"

namespace capstan::controllers::testing {
namespace {

namespace dep = deployment;

class DeploymentControllerTest : public WorkloadTest {
 protected:
  Json createDeployment(const std::string& name, int replicas, const Json& strategy,
                        Json extra_spec = Json::object()) {
    Json spec = {{"replicas", replicas},
                 {"selector", {{"matchLabels", {{"app", name}}}}},
                 {"template", podTemplate(name)},
                 {"strategy", strategy}};
    spec.update(extra_spec);
    Json d = {{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", {{"name", name}, {"namespace", "default"}}},
              {"spec", spec}};
    auto r = client_->create(client::res::kDeployments, "default", d);
    EXPECT_TRUE(r) << r.status().message();
    return r ? *r : Json();
  }
  static Json rolling(const Json& surge, const Json& unavailable) {
    return {{"type", "RollingUpdate"},
            {"rollingUpdate", {{"maxSurge", surge}, {"maxUnavailable", unavailable}}}};
  }
  void patchSpec(const std::string& name, const Json& spec) {
    auto r = client_->patch(client::res::kDeployments, "default", name, client::PatchType::kMerge,
                            {{"spec", spec}});
    ASSERT_TRUE(r) << r.status().message();
  }
  void setImage(const std::string& name, const std::string& image) {
    patchSpec(name,
              {{"template", {{"spec", {{"containers", Json::array({{{"name", "c"}, {"image", image}}})}}}}}});
  }
  static std::string imageOf(const Json& obj_with_template) {
    const Json& t = obj_with_template.contains("spec") && obj_with_template["spec"].contains("template")
                        ? obj_with_template["spec"]["template"]
                        : obj_with_template;
    return t["spec"]["containers"][0].value("image", "");
  }
  static bool ready(const Json& pod) {
    // (const operator[] on a missing key is undefined behaviour in nlohmann::json: read with value())
    for (const auto& c : pod.value("status", Json::object()).value("conditions", Json::array()))
      if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
    return false;
  }
  std::vector<Json> ownedReplicaSets(const std::string& d) {
    std::vector<Json> out;
    for (const auto& rs : replicaSets())
      if (nameOf(rs).rfind(d + "-", 0) == 0) out.push_back(rs);
    return out;
  }
  Json replicaSetWithImage(const std::string& d, const std::string& image) {
    for (const auto& rs : ownedReplicaSets(d))
      if (imageOf(rs) == image) return rs;
    return nullptr;
  }
  // Pods, RS sizes and statuses no longer changing for a while.
  void quiesce() {
    auto snapshot = [&] {
      Json s = Json::array();
      for (const auto& p : pods("", true))
        s.push_back({nameOf(p), p["metadata"].contains("deletionTimestamp")});
      for (const auto& rs : replicaSets()) s.push_back({nameOf(rs), rs.value("spec", Json::object()).value("replicas", Json()), rs.value("status", Json())});
      return s;
    };
    Json last = snapshot();
    auto stable_since = std::chrono::steady_clock::now();
    auto deadline = stable_since + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
      Json now = snapshot();
      if (now != last) {
        last = now;
        stable_since = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - stable_since > 250ms) {
        return;
      }
    }
    ADD_FAILURE() << "no quiescence";
  }
  void markAllReady(const std::string& selector) {
    for (const auto& p : pods(selector))
      if (!ready(p)) markReady(nameOf(p));
  }
  bool deploymentDone(const std::string& name, int replicas) {
    Json d = get(client::res::kDeployments, name);
    if (!d.is_object()) return false;
    const Json s = d.value("status", Json::object());  // absent until the controller's first status write
    return d.value("metadata", Json::object()).value("generation", 0) <= s.value("observedGeneration", 0) &&
           s.value("updatedReplicas", 0) == replicas && s.value("replicas", 0) == replicas &&
           s.value("availableReplicas", 0) == replicas;
  }
  // A copy of the condition, or an empty object.
  static Json condition(const Json& d, const std::string& type) {
    if (d.contains("status") && d["status"].contains("conditions"))
      for (const auto& c : d["status"]["conditions"])
        if (c.value("type", "") == type) return c;
    return Json::object();
  }
  int createdEvents(const std::string& rs_name) {
    auto ev = client_->list(client::res::kEvents, "default");
    int n = 0;
    for (const auto& e : (*ev)["items"])
      if (e.value("reason", "") == "SuccessfulCreate" &&
          e.value("message", "").rfind("Created pod: " + rs_name + "-", 0) == 0)
        n += e.value("count", 1);
    return n;
  }

  // Drives a rolling update one readiness step at a time, checking after
  // every step that at most replicas+surge pods exist and at least
  // replicas-unavailable are ready.
  void driveRollingUpdate(const std::string& name, int replicas, int surge, int unavailable,
                          const std::string& image,
                          const std::function<void(int step)>& between_steps = nullptr) {
    for (int step = 0; step < 4 * replicas + 10; ++step) {
      quiesce();
      auto ps = pods("app=" + name);
      int ready_count = 0;
      for (const auto& p : ps) ready_count += ready(p) ? 1 : 0;
      EXPECT_LE(static_cast<int>(ps.size()), replicas + surge) << "step " << step;
      EXPECT_GE(ready_count, replicas - unavailable) << "step " << step;
      int64_t spec_sum = 0;
      for (const auto& rs : ownedReplicaSets(name)) spec_sum += rs["spec"].value("replicas", 0);
      EXPECT_LE(spec_sum, replicas + surge) << "step " << step;
      if (between_steps) between_steps(step);
      std::string next;
      for (const auto& p : ps)
        if (imageOf(p) == image && !ready(p)) next = nameOf(p);
      if (next.empty()) {
        if (deploymentDone(name, replicas)) return;
        continue;
      }
      markReady(next);
    }
    ADD_FAILURE() << "rollout did not finish";
  }
};

TEST_F(DeploymentControllerTest, CreatesReplicaSetPodsAndStatus) {
  startControllers();
  Json d = createDeployment("web", 3, rolling("25%", "25%"));
  ASSERT_TRUE(eventually([&] { return pods("app=web").size() == 3; }));
  auto rss = ownedReplicaSets("web");
  ASSERT_EQ(rss.size(), 1u);
  const Json& rs = rss[0];
  std::string hash = rs["metadata"]["labels"].value(dep::kPodTemplateHashLabel, "");
  EXPECT_EQ(nameOf(rs), "web-" + hash);
  EXPECT_EQ(hash, dep::computeHash(d["spec"]["template"], std::nullopt));
  EXPECT_EQ(rs["spec"]["selector"]["matchLabels"][dep::kPodTemplateHashLabel], hash);
  EXPECT_EQ(rs["spec"]["template"]["metadata"]["labels"][dep::kPodTemplateHashLabel], hash);
  EXPECT_EQ(rs["metadata"]["annotations"][dep::kRevisionAnnotation], "1");
  EXPECT_EQ(rs["metadata"]["annotations"][dep::kDesiredReplicasAnnotation], "3");
  EXPECT_EQ(rs["metadata"]["annotations"][dep::kMaxReplicasAnnotation], "4");
  EXPECT_EQ(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
  for (const auto& p : pods("app=web")) EXPECT_EQ(p["metadata"]["labels"][dep::kPodTemplateHashLabel], hash);

  // Not ready yet: Available is False (3 - 0 unavailable allowed... 25% of 3 rounds down to 0).
  ASSERT_TRUE(eventually([&] {
    Json cur = get(client::res::kDeployments, "web");
    Json av = condition(cur, "Available");
    return !av.empty() && av["status"] == "False" && av["reason"] == "MinimumReplicasUnavailable" &&
           cur["status"].value("unavailableReplicas", 0) == 3;
  }));
  markAllReady("app=web");
  ASSERT_TRUE(eventually([&] { return deploymentDone("web", 3); }));
  ASSERT_TRUE(eventually([&] {
    Json cur = get(client::res::kDeployments, "web");
    Json av = condition(cur, "Available");
    Json pr = condition(cur, "Progressing");
    return !av.empty() && av["reason"] == "MinimumReplicasAvailable" && av["status"] == "True" &&
           !pr.empty() && pr["reason"] == "NewReplicaSetAvailable" &&
           pr["message"] == "ReplicaSet \"" + nameOf(rs) + "\" has successfully progressed." &&
           cur["status"].value("readyReplicas", 0) == 3 && !cur["status"].contains("unavailableReplicas") &&
           cur["metadata"]["annotations"][dep::kRevisionAnnotation] == "1";
  }));
}

TEST_F(DeploymentControllerTest, RollingUpdateRespectsMaxSurgeAndMaxUnavailable) {
  startControllers();
  createDeployment("roll", 4, rolling(1, 1));
  ASSERT_TRUE(eventually([&] { return pods("app=roll").size() == 4; }));
  markAllReady("app=roll");
  ASSERT_TRUE(eventually([&] { return deploymentDone("roll", 4); }));

  setImage("roll", "nginx:2");
  driveRollingUpdate("roll", 4, 1, 1, "nginx:2");
  quiesce();
  auto ps = pods("app=roll");
  ASSERT_EQ(ps.size(), 4u);
  for (const auto& p : ps) EXPECT_EQ(imageOf(p), "nginx:2");
  Json old_rs = replicaSetWithImage("roll", "nginx:1");
  Json new_rs = replicaSetWithImage("roll", "nginx:2");
  EXPECT_EQ(old_rs["spec"]["replicas"], 0);
  EXPECT_EQ(new_rs["metadata"]["annotations"][dep::kRevisionAnnotation], "2");
  Json d = get(client::res::kDeployments, "roll");
  EXPECT_EQ(d["metadata"]["annotations"][dep::kRevisionAnnotation], "2");
  ASSERT_TRUE(eventually([&] {
    Json pr = condition(get(client::res::kDeployments, "roll"), "Progressing");
    return !pr.empty() && pr["reason"] == "NewReplicaSetAvailable";
  }));
}

TEST_F(DeploymentControllerTest, RollingUpdateWithPercentagesAndNoUnavailability) {
  startControllers();
  createDeployment("pct", 5, rolling("30%", "0%"));  // surge 2 (rounded up), unavailable 0
  ASSERT_TRUE(eventually([&] { return pods("app=pct").size() == 5; }));
  markAllReady("app=pct");
  ASSERT_TRUE(eventually([&] { return deploymentDone("pct", 5); }));
  setImage("pct", "nginx:2");
  driveRollingUpdate("pct", 5, 2, 0, "nginx:2");
}

TEST_F(DeploymentControllerTest, RecreateRemovesOldPodsBeforeCreatingNew) {
  startControllers();
  createDeployment("rec", 2, {{"type", "Recreate"}});
  ASSERT_TRUE(eventually([&] { return pods("app=rec").size() == 2; }));
  markAllReady("app=rec");
  ASSERT_TRUE(eventually([&] { return deploymentDone("rec", 2); }));
  setImage("rec", "nginx:2");
  // Never old and new pods at once.
  bool mixed = false;
  ASSERT_TRUE(eventually([&] {
    auto ps = pods("app=rec", true);
    std::set<std::string> images;
    for (const auto& p : ps) images.insert(imageOf(p));
    if (images.size() > 1) mixed = true;
    return ps.size() == 2 && images == std::set<std::string>{"nginx:2"};
  }));
  EXPECT_FALSE(mixed);
  markAllReady("app=rec");
  ASSERT_TRUE(eventually([&] { return deploymentDone("rec", 2); }));
}

TEST_F(DeploymentControllerTest, RollbackToAnEarlierRevisionAsKubectlUndoDoes) {
  startControllers();
  createDeployment("undo", 2, rolling(1, 0));
  ASSERT_TRUE(eventually([&] { return pods("app=undo").size() == 2; }));
  markAllReady("app=undo");
  ASSERT_TRUE(eventually([&] { return deploymentDone("undo", 2); }));
  setImage("undo", "nginx:2");
  driveRollingUpdate("undo", 2, 1, 0, "nginx:2");

  // kubectl rollout undo: the template of revision 1, without the hash label.
  Json v1;
  for (const auto& rs : ownedReplicaSets("undo"))
    if (rs["metadata"]["annotations"][dep::kRevisionAnnotation] == "1") v1 = rs;
  ASSERT_FALSE(v1.is_null());
  Json tmpl = v1["spec"]["template"];
  tmpl["metadata"]["labels"].erase(dep::kPodTemplateHashLabel);
  auto r = client_->patch(client::res::kDeployments, "default", "undo", client::PatchType::kJson,
                          Json::array({{{"op", "replace"}, {"path", "/spec/template"}, {"value", tmpl}}}));
  ASSERT_TRUE(r) << r.status().message();
  driveRollingUpdate("undo", 2, 1, 0, "nginx:1");

  auto rss = ownedReplicaSets("undo");
  EXPECT_EQ(rss.size(), 2u);  // the old RS came back, no third one
  Json back = get(client::res::kReplicaSets, nameOf(v1));
  EXPECT_EQ(back["spec"]["replicas"], 2);
  EXPECT_EQ(back["metadata"]["annotations"][dep::kRevisionAnnotation], "3");
  EXPECT_EQ(back["metadata"]["annotations"][dep::kRevisionHistoryAnnotation], "1");
  EXPECT_EQ(replicaSetWithImage("undo", "nginx:2")["metadata"]["annotations"][dep::kRevisionAnnotation], "2");
  ASSERT_TRUE(eventually([&] {
    return get(client::res::kDeployments, "undo")["metadata"]["annotations"][dep::kRevisionAnnotation] == "3";
  }));
}

TEST_F(DeploymentControllerTest, PausedDeploymentScalesButDoesNotRollOut) {
  startControllers();
  createDeployment("p", 2, rolling(1, 0));
  ASSERT_TRUE(eventually([&] { return pods("app=p").size() == 2; }));
  markAllReady("app=p");
  ASSERT_TRUE(eventually([&] { return deploymentDone("p", 2); }));

  patchSpec("p", {{"paused", true}});
  ASSERT_TRUE(eventually([&] {
    Json pr = condition(get(client::res::kDeployments, "p"), "Progressing");
    return !pr.empty() && pr["reason"] == "DeploymentPaused" && pr["status"] == "Unknown";
  }));
  setImage("p", "nginx:2");
  patchSpec("p", {{"replicas", 3}});
  ASSERT_TRUE(eventually([&] { return pods("app=p").size() == 3; }));
  quiesce();
  EXPECT_EQ(ownedReplicaSets("p").size(), 1u);
  for (const auto& pod : pods("app=p")) EXPECT_EQ(imageOf(pod), "nginx:1");

  patchSpec("p", {{"paused", false}});
  markAllReady("app=p");
  driveRollingUpdate("p", 3, 1, 0, "nginx:2");
  EXPECT_EQ(ownedReplicaSets("p").size(), 2u);
}

TEST_F(DeploymentControllerTest, RevisionHistoryLimitDeletesOldScaledDownReplicaSets) {
  startControllers();
  createDeployment("h", 1, rolling(1, 0), {{"revisionHistoryLimit", 1}});
  ASSERT_TRUE(eventually([&] { return pods("app=h").size() == 1; }));
  markAllReady("app=h");
  ASSERT_TRUE(eventually([&] { return deploymentDone("h", 1); }));
  for (const char* image : {"nginx:2", "nginx:3", "nginx:4"}) {
    setImage("h", image);
    driveRollingUpdate("h", 1, 1, 0, image);
  }
  ASSERT_TRUE(eventually([&] { return ownedReplicaSets("h").size() == 2; }));
  std::set<std::string> images;
  for (const auto& rs : ownedReplicaSets("h")) images.insert(imageOf(rs));
  EXPECT_EQ(images, (std::set<std::string>{"nginx:3", "nginx:4"}));
}

TEST_F(DeploymentControllerTest, RestartTemplateAnnotationStartsANewRollout) {
  startControllers();
  createDeployment("rs", 2, rolling(1, 0));
  ASSERT_TRUE(eventually([&] { return pods("app=rs").size() == 2; }));
  markAllReady("app=rs");
  ASSERT_TRUE(eventually([&] { return deploymentDone("rs", 2); }));
  // kubectl rollout restart.
  patchSpec(
      "rs",
      {{"template",
        {{"metadata", {{"annotations", {{"kubectl.kubernetes.io/restartedAt", "2024-01-01T00:00:00Z"}}}}}}}});
  ASSERT_TRUE(eventually([&] { return ownedReplicaSets("rs").size() == 2; }));
  driveRollingUpdate("rs", 2, 1, 0, "nginx:1", nullptr);
  // every pod now carries the annotation
  ASSERT_TRUE(eventually([&] {
    auto ps = pods("app=rs");
    return ps.size() == 2 && std::all_of(ps.begin(), ps.end(), [](const Json& p) {
             return p["metadata"].contains("annotations") &&
                    p["metadata"]["annotations"].contains("kubectl.kubernetes.io/restartedAt");
           });
  }));
}

TEST_F(DeploymentControllerTest, ProgressDeadlineExceeded) {
  startControllers();
  createDeployment("slow", 1, rolling(1, 0), {{"progressDeadlineSeconds", 1}});
  ASSERT_TRUE(eventually(
      [&] {
        Json pr = condition(get(client::res::kDeployments, "slow"), "Progressing");
        return !pr.empty() && pr["reason"] == "ProgressDeadlineExceeded" && pr["status"] == "False";
      },
      15s));
}

TEST_F(DeploymentControllerTest, ScalingMidRolloutIsProportional) {
  startControllers();
  createDeployment("prop", 10, rolling(3, 2));
  ASSERT_TRUE(eventually([&] { return pods("app=prop").size() == 10; }));
  markAllReady("app=prop");
  ASSERT_TRUE(eventually([&] { return deploymentDone("prop", 10); }));
  setImage("prop", "nginx:2");
  // Surge 3 and unavailable 2: new RS 5, old RS 8 (13 = 10 + 3).
  ASSERT_TRUE(eventually([&] {
    Json o = replicaSetWithImage("prop", "nginx:1"), n = replicaSetWithImage("prop", "nginx:2");
    return !n.is_null() && o["spec"]["replicas"] == 8 && n["spec"]["replicas"] == 5;
  }));
  quiesce();
  patchSpec("prop", {{"replicas", 20}});
  // 20 + 3 = 23: the 10 added split 8:5 of 13 → +6 and +4 (leftover to the largest).
  ASSERT_TRUE(eventually([&] {
    Json o = replicaSetWithImage("prop", "nginx:1"), n = replicaSetWithImage("prop", "nginx:2");
    return o["spec"]["replicas"].get<int>() + n["spec"]["replicas"].get<int>() == 23 &&
           o["spec"]["replicas"] == 14 && n["spec"]["replicas"] == 9;
  })) << replicaSetWithImage("prop", "nginx:1")["spec"]["replicas"]
      << " " << replicaSetWithImage("prop", "nginx:2")["spec"]["replicas"];
}

TEST_F(DeploymentControllerTest, ControllerRestartMidRolloutFinishesWithoutExtraPods) {
  startControllers();
  createDeployment("k", 4, rolling(1, 0));
  ASSERT_TRUE(eventually([&] { return pods("app=k").size() == 4; }));
  markAllReady("app=k");
  ASSERT_TRUE(eventually([&] { return deploymentDone("k", 4); }));
  setImage("k", "nginx:2");
  driveRollingUpdate("k", 4, 1, 0, "nginx:2", [&](int step) {
    if (step == 2 || step == 5) {
      stopControllers();
      startControllers();
    }
  });
  quiesce();
  auto ps = pods("app=k", true);
  EXPECT_EQ(ps.size(), 4u);
  Json new_rs = replicaSetWithImage("k", "nginx:2");
  ASSERT_TRUE(eventually([&] { return createdEvents(nameOf(new_rs)) == 4; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(createdEvents(nameOf(new_rs)), 4);
}

TEST(DeploymentArithmeticTest, SurgeRoundsUpUnavailableRoundsDown) {
  EXPECT_EQ(*dep::scaledValue("25%", 10, true), 3);
  EXPECT_EQ(*dep::scaledValue("25%", 10, false), 2);
  EXPECT_EQ(*dep::scaledValue(2, 10, false), 2);
  EXPECT_FALSE(dep::scaledValue("2", 10, false));
  EXPECT_FALSE(dep::scaledValue("x%", 10, false));
  Json d = {
      {"spec",
       {{"replicas", 3},
        {"strategy",
         {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", 0}, {"maxUnavailable", "10%"}}}}}}}};
  EXPECT_EQ(dep::maxSurge(d), 0);
  EXPECT_EQ(dep::maxUnavailable(d), 1);  // both zero → one may be unavailable
  d["spec"]["strategy"] = {{"type", "Recreate"}};
  EXPECT_EQ(dep::maxSurge(d), 0);
  EXPECT_EQ(dep::maxUnavailable(d), 0);
}

TEST(DeploymentArithmeticTest, HashIsStableSafeEncodedAndIgnoresItsLabel) {
  Json t = {{"metadata", {{"labels", {{"app", "a"}}}}},
            {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", "i"}}})}}}};
  std::string h = dep::computeHash(t, std::nullopt);
  EXPECT_EQ(h, dep::computeHash(t, std::nullopt));
  EXPECT_NE(h, dep::computeHash(t, 1));
  for (char c : h) EXPECT_NE(std::string_view("bcdfghjklmnpqrstvwxz2456789").find(c), std::string_view::npos);
  EXPECT_EQ(dep::safeEncodeString("0123"), "4567");
  Json labelled = t;
  labelled["metadata"]["labels"][dep::kPodTemplateHashLabel] = h;
  labelled["metadata"]["creationTimestamp"] = nullptr;
  EXPECT_TRUE(dep::equalIgnoreHash(t, labelled));
  labelled["spec"]["containers"][0]["image"] = "j";
  EXPECT_FALSE(dep::equalIgnoreHash(t, labelled));
}

TEST(DeploymentArithmeticTest, RollbackKeepsRevisionHistory) {
  Json d = {{"metadata", {{"annotations", {{"note", "x"}, {dep::kRevisionAnnotation, "2"}}}}},
            {"spec", {{"replicas", 1}}}};
  Json rs = {{"metadata", {{"annotations", {{dep::kRevisionAnnotation, "1"}}}}}};
  EXPECT_TRUE(dep::setNewReplicaSetAnnotations(d, rs, "3", true));
  EXPECT_EQ(rs["metadata"]["annotations"][dep::kRevisionAnnotation], "3");
  EXPECT_EQ(rs["metadata"]["annotations"][dep::kRevisionHistoryAnnotation], "1");
  EXPECT_EQ(rs["metadata"]["annotations"]["note"], "x");
  EXPECT_TRUE(dep::setNewReplicaSetAnnotations(d, rs, "5", true));
  EXPECT_EQ(rs["metadata"]["annotations"][dep::kRevisionHistoryAnnotation], "1,3");
  EXPECT_FALSE(dep::setNewReplicaSetAnnotations(d, rs, "4", true));
}

}  // namespace
}  // namespace capstan::controllers::testing
