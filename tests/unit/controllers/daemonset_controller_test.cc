// The DaemonSet controller against a real API server with Node objects; the
// test plays the node agent (and the scheduler is not needed: pods carry
// their node in a required node affinity).
#include "controllers/daemonset_controller.h"

#include "controller_fixture.h"

namespace capstan::controllers::testing {
namespace {

using client::res::kControllerRevisions;
using client::res::kDaemonSets;
using client::res::kNodes;
using client::res::kPods;

Json node(const std::string& name, Json labels, Json spec = Json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"spec", spec}};
}

Json daemonSet(const std::string& name, Json spec_extra = Json::object()) {
  Json containers = Json::array({{{"name", "c"}, {"image", "agent:1"}}});
  Json spec = {
      {"selector", {{"matchLabels", {{"app", name}}}}},
      {"template", {{"metadata", {{"labels", {{"app", name}}}}}, {"spec", {{"containers", containers}}}}}};
  spec.update(spec_extra);
  return {{"apiVersion", "apps/v1"},
          {"kind", "DaemonSet"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", spec}};
}

std::string pinnedNode(const Json& pod) {
  return pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0]["matchFields"][0]["values"][0];
}

class DaemonSetTest : public ControllerFixture {
 protected:
  void SetUp() override {
    ControllerFixture::SetUp();
    start(std::make_unique<DaemonSetController>(*ctx_));
  }
  void addNode(const std::string& name, Json labels, Json spec = Json::object()) {
    auto r = client_->create(kNodes, "", node(name, labels, spec));
    ASSERT_TRUE(r) << r.status().message();
  }
  // Live (not deleting) daemon pods by the node they are pinned to.
  std::map<std::string, Json> podsByNode(const std::string& ds) {
    std::map<std::string, Json> out;
    for (auto& p : list(kPods, "app=" + ds))
      if (!p["metadata"].contains("deletionTimestamp")) out[pinnedNode(p)] = p;
    return out;
  }
  std::set<std::string> nodesOf(const std::string& ds) {
    std::set<std::string> out;
    for (auto& [n, p] : podsByNode(ds)) out.insert(n);
    return out;
  }
  Json dsStatus(const std::string& name) {
    Json d = get(kDaemonSets, name);
    return d.is_object() && d.contains("status") ? d["status"] : Json::object();
  }
  // Marks the daemon pods Running and Ready; pods the controller deletes
  // meanwhile are skipped.
  void readyAll(const std::string& ds) {
    for (auto& [n, p] : podsByNode(ds)) {
      if (p.value("status", Json::object()).value("phase", "") == "Running") continue;
      Json status = {{"phase", "Running"},
                     {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}};
      (void)client_->patch(kPods, "default", p["metadata"]["name"].get<std::string>(),
                           client::PatchType::kMerge, {{"status", status}}, "status");
    }
  }
};

TEST_F(DaemonSetTest, RunsOnePodOnEachEligibleNode) {
  addNode("n1", {{"role", "web"}});
  addNode("n2", {{"role", "web"}},
          {{"taints", Json::array({{{"key", "dedicated"}, {"value", "x"}, {"effect", "NoSchedule"}}})}});
  addNode("n3", {{"role", "db"}});
  addNode("n4", {{"role", "web"}}, {{"unschedulable", true}});
  ASSERT_TRUE(client_->create(
      kDaemonSets, "default",
      daemonSet("agent", {{"template",
                           {{"metadata", {{"labels", {{"app", "agent"}}}}},
                            {"spec",
                             {{"nodeSelector", {{"role", "web"}}},
                              {"containers", Json::array({{{"name", "c"}, {"image", "agent:1"}}})}}}}}})));
  ASSERT_TRUE(eventually([&] { return nodesOf("agent") == std::set<std::string>{"n1", "n4"}; }));

  Json pod = podsByNode("agent")["n1"];
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["controller"], true);
  std::string hash = pod["metadata"]["labels"].value("controller-revision-hash", "");
  EXPECT_FALSE(hash.empty());
  std::set<std::string> tolerated;
  for (auto& t : pod["spec"]["tolerations"])
    tolerated.insert(t.value("key", "") + ":" + t.value("effect", ""));
  for (const char* want :
       {"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute",
        "node.kubernetes.io/disk-pressure:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
        "node.kubernetes.io/pid-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule"})
    EXPECT_TRUE(tolerated.count(want)) << want;
  auto revisions = list(kControllerRevisions);
  ASSERT_EQ(revisions.size(), 1u);
  EXPECT_EQ(revisions[0]["metadata"]["name"], "agent-" + hash);
  EXPECT_EQ(revisions[0]["revision"], 1);

  ASSERT_TRUE(eventually([&] {
    Json s = dsStatus("agent");
    return s.value("desiredNumberScheduled", -1) == 2 && s.value("currentNumberScheduled", -1) == 2 &&
           s.value("numberReady", -1) == 0 && s.value("updatedNumberScheduled", 0) == 2 &&
           s.value("numberUnavailable", 0) == 2 && s.value("observedGeneration", 0) == 1;
  })) << dsStatus("agent").dump();
  ASSERT_EQ(list(kPods, "app=agent").size(), 2u) << list(client::res::kEvents).dump();
  readyAll("agent");
  ASSERT_TRUE(eventually([&] {
    Json s = dsStatus("agent");
    return s.value("numberReady", -1) == 2 && s.value("numberAvailable", 0) == 2 &&
           !s.contains("numberUnavailable");
  })) << dsStatus("agent").dump();

  // A new eligible node gets a pod; a node that stops matching loses it; a
  // NoExecute taint evicts.
  addNode("n5", {{"role", "web"}});
  ASSERT_TRUE(eventually([&] { return nodesOf("agent").count("n5") == 1; }));
  ASSERT_TRUE(client_->patch(kNodes, "", "n1", client::PatchType::kMerge,
                             {{"metadata", {{"labels", {{"role", "db"}}}}}}));
  ASSERT_TRUE(eventually([&] { return nodesOf("agent") == std::set<std::string>{"n4", "n5"}; }));
  ASSERT_TRUE(
      client_->patch(kNodes, "", "n5", client::PatchType::kMerge,
                     {{"spec", {{"taints", Json::array({{{"key", "gone"}, {"effect", "NoExecute"}}})}}}}));
  ASSERT_TRUE(eventually([&] { return nodesOf("agent") == std::set<std::string>{"n4"}; }));
  ASSERT_TRUE(client_->remove(kNodes, "", "n4"));
  ASSERT_TRUE(eventually([&] { return nodesOf("agent").empty(); }));
}

TEST_F(DaemonSetTest, RollingUpdateReplacesAtMostMaxUnavailableAtATime) {
  for (const char* n : {"a", "b", "c"}) addNode(n, Json::object());
  ASSERT_TRUE(client_->create(kDaemonSets, "default", daemonSet("roll")));
  ASSERT_TRUE(eventually([&] { return podsByNode("roll").size() == 3; }));
  std::string old_hash = podsByNode("roll")["a"]["metadata"]["labels"]["controller-revision-hash"];
  // Play the agent until all three are available, as a real agent readies
  // every pod it runs. A single readyAll left numberAvailable at 2 for 5 s
  // once under CPU load (CI, and 1 of 5 loaded local runs); likely cause: the
  // duplicate pod the controller could make before its expectations were
  // read ahead of the cache (readyAll readies the last pod per node, the
  // controller counts the oldest).
  ASSERT_TRUE(eventually([&] {
    readyAll("roll");
    return dsStatus("roll").value("numberAvailable", 0) == 3;
  })) << dsStatus("roll").dump() << list(kPods, "app=roll").dump();

  ASSERT_TRUE(client_->patch(kDaemonSets, "default", "roll", client::PatchType::kMerge,
                             {{"spec", {{"template", {{"metadata", {{"annotations", {{"v", "2"}}}}}}}}}}));
  auto count = [&](bool updated) {
    int n = 0;
    for (auto& [node, p] : podsByNode("roll"))
      if ((p["metadata"]["labels"]["controller-revision-hash"] != old_hash) == updated) ++n;
    return n;
  };
  ASSERT_TRUE(eventually([&] { return count(true) == 1; }));
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(count(false), 2);  // the new pod is not ready yet: no second replacement
  // Play the agent until the rollout is through.
  ASSERT_TRUE(eventually(
      [&] {
        readyAll("roll");
        return count(true) == 3;
      },
      10s));
  ASSERT_TRUE(eventually([&] { return dsStatus("roll").value("updatedNumberScheduled", 0) == 3; }));
  EXPECT_EQ(list(kControllerRevisions).size(), 2u);
}

TEST_F(DaemonSetTest, OnDeleteUpdatesOnlyDeletedPods) {
  addNode("a", Json::object());
  ASSERT_TRUE(
      client_->create(kDaemonSets, "default", daemonSet("od", {{"updateStrategy", {{"type", "OnDelete"}}}})));
  ASSERT_TRUE(eventually([&] { return podsByNode("od").size() == 1; }));
  Json first = podsByNode("od")["a"];
  ASSERT_TRUE(client_->patch(kDaemonSets, "default", "od", client::PatchType::kMerge,
                             {{"spec", {{"template", {{"metadata", {{"annotations", {{"v", "2"}}}}}}}}}}));
  ASSERT_TRUE(eventually([&] { return list(kControllerRevisions).size() == 2; }));
  std::this_thread::sleep_for(150ms);
  // One pod on the node, never a second (a sync that checked its
  // expectations after reading the cache once made a duplicate under load).
  EXPECT_EQ(list(kPods, "app=od").size(), 1u);
  EXPECT_EQ(podsByNode("od")["a"]["metadata"]["name"], first["metadata"]["name"]);
  ASSERT_TRUE(client_->remove(kPods, "default", first["metadata"]["name"].get<std::string>()));
  ASSERT_TRUE(eventually([&] {
    auto pods = podsByNode("od");
    return pods.size() == 1 && pods["a"]["metadata"]["labels"]["controller-revision-hash"] !=
                                   first["metadata"]["labels"]["controller-revision-hash"];
  }));
}

}  // namespace
}  // namespace capstan::controllers::testing
