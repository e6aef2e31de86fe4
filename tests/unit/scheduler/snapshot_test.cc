// Snapshot bookkeeping and robustness against malformed objects.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "scheduler/plugin.h"
#include "unit/scheduler/cluster_fixture.h"

namespace capstan::scheduler {
namespace {

using testing::completeNode;
using testing::completePod;
using testing::yaml;

std::shared_ptr<const Json> pod(const char* text) { return completePod(yaml(text)); }

TEST(SchedSnapshot, TracksRequestsPortsAndMoves) {
  Snapshot s;
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: a}"))).isOk());
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: b}"))).isOk());
  ASSERT_TRUE(s.upsertPod(pod(R"(
metadata: {name: x}
spec: {nodeName: a, containers: [{name: c, resources: {requests: {cpu: 250m, memory: 1Gi}}, ports: [{containerPort: 1, hostPort: 80}]}]}
)"))
                  .isOk());
  const NodeInfo* a = s.node("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->requested.milli_cpu, 250);
  EXPECT_EQ(a->requested.memory, 1 << 30);
  EXPECT_EQ(a->used_ports.size(), 1u);
  EXPECT_EQ(a->allocatable.milli_cpu, 4000);
  EXPECT_EQ(a->allocatable.allowed_pods, 110);

  // The same pod again, now on b (e.g. assumed then bound elsewhere).
  ASSERT_TRUE(s.upsertPod(pod("metadata: {name: x}\nspec: {nodeName: a}"), "b").isOk());
  EXPECT_EQ(s.node("a")->pods.size(), 0u);
  EXPECT_EQ(s.node("a")->requested.milli_cpu, 0);
  EXPECT_TRUE(s.node("a")->used_ports.empty());
  EXPECT_EQ(s.node("b")->pods.size(), 1u);
  EXPECT_EQ(s.node("b")->non_zero_milli_cpu, 100);

  s.removePod("default", "x");
  s.removePod("default", "x");
  EXPECT_EQ(s.node("b")->pods.size(), 0u);
  EXPECT_EQ(s.pod("default", "x"), nullptr);
}

TEST(SchedSnapshot, PodsBeforeTheirNodeAndNodeRemoval) {
  Snapshot s;
  ASSERT_TRUE(s.upsertPod(pod("metadata: {name: x}\nspec: {nodeName: later}")).isOk());
  EXPECT_EQ(s.numNodes(), 0u);
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: later}"))).isOk());
  ASSERT_EQ(s.numNodes(), 1u);
  EXPECT_EQ(s.node("later")->pods.size(), 1u);
  s.removeNode("later");
  EXPECT_EQ(s.numNodes(), 0u);
  EXPECT_EQ(s.node("later"), nullptr);
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: later}"))).isOk());
  EXPECT_EQ(s.node("later")->pods.size(), 1u);  // its pods stayed
}

TEST(SchedSnapshot, UnboundAndTerminalPodsTakeNoSpace) {
  Snapshot s;
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: a}"))).isOk());
  ASSERT_TRUE(s.upsertPod(pod("metadata: {name: pending}")).isOk());
  ASSERT_TRUE(s.upsertPod(pod("metadata: {name: x}\nspec: {nodeName: a}")).isOk());
  ASSERT_TRUE(s.upsertPod(pod("metadata: {name: x}\nspec: {nodeName: a}\nstatus: {phase: Failed}")).isOk());
  EXPECT_EQ(s.node("a")->pods.size(), 0u);
}

TEST(SchedSnapshot, MalformedObjectsNeverCrash) {
  Snapshot s;
  EXPECT_FALSE(s.upsertNode(std::make_shared<const Json>(Json::array())).isOk());
  EXPECT_FALSE(s.upsertNode(std::make_shared<const Json>(yaml("metadata: {labels: 3}"))).isOk());
  ASSERT_TRUE(s.upsertNode(std::make_shared<const Json>(yaml(R"(
metadata: {name: odd, labels: [1, 2]}
spec: {unschedulable: "yes", taints: [3, {key: 4, effect: []}]}
status: {allocatable: {cpu: many, memory: [], pods: 7}}
)")))
                  .isOk());
  EXPECT_FALSE(s.upsertPod(std::make_shared<const Json>(Json("pod"))).isOk());
  EXPECT_TRUE(s.upsertPod(std::make_shared<const Json>(yaml(R"(
metadata: {name: weird, namespace: default, labels: {a: 1}, ownerReferences: [1, {controller: "x"}]}
spec:
  nodeName: odd
  priority: high
  containers: [1, {name: c, resources: {requests: 5, limits: {cpu: []}}, ports: [{hostPort: "80"}, 3]}]
  initContainers: {}
  tolerations: [1, {operator: 7}]
  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [1, {matchExpressions: [2]}]}}}
  topologySpreadConstraints: [1]
)")))
                  .isOk());
  Scheduler scheduler;
  for (const char* text :
       {"{}", "[]", "{metadata: 1, spec: 2, status: 3}",
        "{metadata: {name: p}, spec: {affinity: {podAffinity: "
        "{requiredDuringSchedulingIgnoredDuringExecution: [1, {labelSelector: 2}]}}}}",
        "{metadata: {name: p}, spec: {nodeSelector: {a: 1}, tolerations: {}, containers: {}}}"}) {
    Result<ScheduleResult> r = scheduler.schedule(yaml(text), s);
    if (r.isOk()) {
      (void)r->fit_error.message();
    } else {
      EXPECT_EQ(r.status().code(), Code::kInvalid) << text;
    }
  }
  EXPECT_EQ(s.node("odd")->pods.size(), 1u);
}

TEST(SchedSnapshot, BadSelectorIsInvalid) {
  Snapshot s;
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: a}"))).isOk());
  Scheduler scheduler;
  Result<ScheduleResult> r = scheduler.schedule(yaml(R"(
metadata: {name: p}
spec:
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - {labelSelector: {matchExpressions: [{key: a, operator: Bogus}]}, topologyKey: kubernetes.io/hostname}
)"),
                                                s);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
}

}  // namespace
}  // namespace capstan::scheduler

namespace capstan::scheduler {
namespace {

std::vector<std::string> names(const std::vector<const NodeInfo*>* nodes) {
  std::vector<std::string> out;
  if (nodes) {
    for (const NodeInfo* n : *nodes) out.push_back(n->name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SchedSnapshot, LabelIndexFollowsNodeUpdatesAndRemoval) {
  Snapshot s;
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: a, labels: {zone: z1}}"))).isOk());
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: b, labels: {zone: z1}}"))).isOk());
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: c, labels: {zone: z2}}"))).isOk());
  EXPECT_EQ(names(s.nodesWithLabel("zone", "z1")), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(names(s.nodesWithLabel("kubernetes.io/hostname", "c")), (std::vector<std::string>{"c"}));
  EXPECT_EQ(s.nodesWithLabel("zone", "z3"), nullptr);

  // Relabel b, replay a unchanged (a resync), remove c.
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: b, labels: {zone: z2}}"))).isOk());
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: a, labels: {zone: z1}}"))).isOk());
  s.removeNode("c");
  EXPECT_EQ(names(s.nodesWithLabel("zone", "z1")), (std::vector<std::string>{"a"}));
  EXPECT_EQ(names(s.nodesWithLabel("zone", "z2")), (std::vector<std::string>{"b"}));
  EXPECT_EQ(s.nodesWithLabel("kubernetes.io/hostname", "c"), nullptr);
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: c}"))).isOk());
  EXPECT_EQ(names(s.nodesWithLabel("kubernetes.io/hostname", "c")), (std::vector<std::string>{"c"}));
  EXPECT_EQ(s.nodesWithLabel("zone", "z2")->size(), 1u);
}

TEST(SchedSnapshot, PodLabelCountsAndAffinityKeys) {
  Snapshot s;
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: a}"))).isOk());
  ASSERT_TRUE(s.upsertPod(pod(R"(
metadata: {name: x, labels: {app: web, tier: "1"}}
spec:
  nodeName: a
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 5
        podAffinityTerm: {topologyKey: zone, labelSelector: {matchLabels: {app: web}}}
)"))
                  .isOk());
  ASSERT_TRUE(s.upsertPod(pod("metadata: {name: y, namespace: other, labels: {app: web}}\nspec: {nodeName: a}")).isOk());
  ASSERT_TRUE(s.upsertPod(pod(
      "metadata: {name: z, labels: {app: web}, deletionTimestamp: '2024-01-01T00:00:00Z'}\nspec: {nodeName: a}"))
                  .isOk());
  const NodeInfo* a = s.node("a");
  EXPECT_EQ(a->podsWithLabel(podLabelKey("default", "app", "web")), 2);
  EXPECT_EQ(a->podsWithLabel(podLabelKey("other", "app", "web")), 1);
  EXPECT_EQ(a->podsWithLabel(podLabelKey("default", "tier", "1")), 1);
  EXPECT_EQ(a->podsWithLabel(podLabelKey("default", "app", "db")), 0);
  EXPECT_EQ(a->terminating_pods, 1);
  ASSERT_EQ(s.affinityTopologyKeys().size(), 1u);
  EXPECT_EQ(s.affinityTopologyKeys().at("zone"), 1);

  s.removePod("default", "x");
  s.removePod("default", "z");
  a = s.node("a");
  EXPECT_EQ(a->podsWithLabel(podLabelKey("default", "app", "web")), 0);
  EXPECT_EQ(a->podsWithLabel(podLabelKey("other", "app", "web")), 1);
  EXPECT_EQ(a->terminating_pods, 0);
  EXPECT_TRUE(s.affinityTopologyKeys().empty());
}

TEST(SchedSnapshot, SpreadCountKeyCountsLikeTheScan) {
  Snapshot s;
  ASSERT_TRUE(s.upsertNode(completeNode(yaml("metadata: {name: a}"))).isOk());
  for (const char* p : {"metadata: {name: p1, labels: {app: web}}\nspec: {nodeName: a}",
                        "metadata: {name: p2, labels: {app: web}}\nspec: {nodeName: a}",
                        "metadata: {name: p3, labels: {app: db}}\nspec: {nodeName: a}",
                        "metadata: {name: p4, namespace: other, labels: {app: web}}\nspec: {nodeName: a}"}) {
    ASSERT_TRUE(s.upsertPod(pod(p)).isOk());
  }
  SpreadConstraint c;
  c.selector = api::LabelSelector::parse("app=web").value();
  std::string key = spreadCountKey(c, "default");
  EXPECT_EQ(key, podLabelKey("default", "app", "web"));
  EXPECT_EQ(countPodsMatching(*s.node("a"), c, "default", key), 2);
  EXPECT_EQ(countPodsMatching(*s.node("a"), c, "default"), 2);
  // Two requirements, or owner-based counting: no key, the scan is used.
  SpreadConstraint two;
  two.selector = api::LabelSelector::parse("app=web,tier!=x").value();
  EXPECT_EQ(spreadCountKey(two, "default"), "");
  EXPECT_EQ(countPodsMatching(*s.node("a"), two, "default", ""), 2);
  SpreadConstraint owned = c;
  owned.owner_uid = "u";
  EXPECT_EQ(spreadCountKey(owned, "default"), "");
  // A terminating pod is in the index but spreading must not count it.
  ASSERT_TRUE(s.upsertPod(pod("metadata: {name: p5, labels: {app: web}, deletionTimestamp: '2024-01-01T00:00:00Z'}\n"
                              "spec: {nodeName: a}"))
                  .isOk());
  EXPECT_EQ(countPodsMatching(*s.node("a"), c, "default", key), 2);
}

// podCountsByDomain is kept current as pods and nodes change; after every
// random change it must equal a count over every node's pods.
TEST(SchedSnapshot, DomainCountsFollowEveryChange) {
  Snapshot s;
  uint64_t seed = 7;
  auto next = [&seed](uint64_t n) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (seed >> 33) % n;
  };
  const std::string zone = "topology.kubernetes.io/zone", web = podLabelKey("default", "app", "web");
  auto scan = [&](const std::string& topology_key) {
    std::map<std::string, int64_t> out;
    for (const NodeInfo* n : s.nodes()) {
      const std::string* value = n->label(topology_key);
      if (!value) continue;
      for (const auto& p : n->pods)
        if (!p->terminating && p->ns == "default" && p->labels->value("app", "") == "web") ++out[*value];
    }
    return out;
  };
  auto cached = [&](const std::string& topology_key) {
    std::map<std::string, int64_t> out;
    for (const auto& [value, n] : s.podCountsByDomain(web, topology_key))
      if (n != 0) out[value] = n;
    return out;
  };
  for (int step = 0; step < 2000; ++step) {
    std::string node = "n" + std::to_string(next(6));
    switch (next(6)) {
      case 0: {  // a node comes or changes its zone (or loses it)
        Json labels = Json::object();
        if (next(4) != 0) labels[zone] = "z" + std::to_string(next(3));
        ASSERT_TRUE(s.upsertNode(completeNode({{"metadata", {{"name", node}, {"labels", labels}}}})).isOk());
        break;
      }
      case 1:
        s.removeNode(node);
        break;
      case 2:
        s.removePod(next(2) ? "default" : "other", "p" + std::to_string(next(12)));
        break;
      default: {  // a pod is added, moved, relabelled or starts terminating
        Json meta = {{"name", "p" + std::to_string(next(12))},
                     {"namespace", next(4) == 0 ? "other" : "default"},
                     {"labels", {{"app", next(3) == 0 ? "db" : "web"}}}};
        if (next(5) == 0) meta["deletionTimestamp"] = "2026-01-01T00:00:00Z";
        ASSERT_TRUE(s.upsertPod(completePod({{"metadata", meta}, {"spec", {{"nodeName", node}}}})).isOk());
      }
    }
    if (next(3) == 0) {  // sometimes asked between changes, so both paths run
      ASSERT_EQ(cached(zone), scan(zone)) << "step " << step;
      ASSERT_EQ(cached("kubernetes.io/hostname"), scan("kubernetes.io/hostname")) << "step " << step;
    }
  }
}

// termGroups: like terms of many pods are one group; after every random
// change, each node's terms per kind add up to what its pods hold.
TEST(SchedSnapshot, TermGroupsFollowEveryChange) {
  using Kind = Snapshot::TermGroup::Kind;
  Snapshot s;
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(s.upsertNode(completeNode({{"metadata", {{"name", "n" + std::to_string(i)}}}})).isOk());
  auto term = [](const char* app, const char* key) {
    return Json{{"labelSelector", {{"matchLabels", {{"app", app}}}}}, {"topologyKey", key}};
  };
  auto podWith = [&](const std::string& name, const std::string& node, int variant) {
    Json affinity = Json::object();
    if (variant % 3 == 0)
      affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] =
          Json::array({{{"weight", 10}, {"podAffinityTerm", term("web", "kubernetes.io/hostname")}}});
    if (variant % 3 == 1)
      affinity["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] =
          Json::array({{{"weight", 5 + variant % 2}, {"podAffinityTerm", term("db", "zone")}}});
    if (variant % 4 == 2)
      affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] =
          Json::array({term("web", "zone"), term("db", "zone")});
    return completePod({{"metadata", {{"name", name}}}, {"spec", {{"nodeName", node}, {"affinity", affinity}}}});
  };
  uint64_t seed = 11;
  auto next = [&seed](uint64_t n) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (seed >> 33) % n;
  };
  for (int step = 0; step < 1500; ++step) {
    std::string name = "p" + std::to_string(next(20));
    if (next(4) == 0) s.removePod("default", name);
    else ASSERT_TRUE(s.upsertPod(podWith(name, "n" + std::to_string(next(5)), static_cast<int>(next(12)))).isOk());
    // Per node (n4 has no node object) and kind: the groups' counts against the pods' terms.
    for (int i = 0; i < 5; ++i) {
      std::string node_name = "n" + std::to_string(i);
      std::map<Kind, int> want, have;
      const NodeInfo* node = nullptr;
      for (const auto& [key, g] : s.termGroups()) {
        for (const auto& [n, count] : g.nodes) {
          ASSERT_GT(count, 0);
          if (n->name == node_name) {
            have[g.kind] += count;
            node = n;
          }
        }
      }
      if (!node) node = s.node(node_name);
      if (!node) continue;
      for (const auto& p : node->pods) {
        want[Kind::kRequiredAffinity] += static_cast<int>(p->required_affinity.size());
        want[Kind::kPreferredAffinity] += static_cast<int>(p->preferred_affinity.size());
        want[Kind::kPreferredAntiAffinity] += static_cast<int>(p->preferred_anti_affinity.size());
      }
      std::erase_if(want, [](const auto& kv) { return kv.second == 0; });
      ASSERT_EQ(have, want) << "step " << step << " node " << node_name;
    }
    // Like terms share a group: at most one anti-affinity group, two
    // preferred-affinity ones (weights 5 and 6), two required ones.
    ASSERT_LE(s.termGroups().size(), 5u);
  }
  for (int i = 0; i < 20; ++i) s.removePod("default", "p" + std::to_string(i));
  EXPECT_TRUE(s.termGroups().empty());
}

}  // namespace
}  // namespace capstan::scheduler
