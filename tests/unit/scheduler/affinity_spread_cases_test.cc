// InterPodAffinity and PodTopologySpread filters as data.
#include <gtest/gtest.h>

#include <set>

#include "unit/scheduler/cluster_fixture.h"

namespace capstan::scheduler {
namespace {

using testing::feasibleNodes;
using testing::yaml;

struct SpreadCase {
  const char* name;
  const char* cluster;
  std::set<std::string> feasible;
  const char* message = "";
};

// Three nodes in two zones.
#define ZONES                                                            \
  "nodes:\n"                                                             \
  "- {metadata: {name: a, labels: {topology.kubernetes.io/zone: z1}}}\n" \
  "- {metadata: {name: b, labels: {topology.kubernetes.io/zone: z1}}}\n" \
  "- {metadata: {name: c, labels: {topology.kubernetes.io/zone: z2}}}\n"

const SpreadCase kSpreadCases[] = {
    {"AffinityToZoneOfMatchingPod",
     ZONES R"(
pods: [{metadata: {name: db, labels: {app: db}}, spec: {nodeName: a}}]
pod:
  metadata: {name: p}
  spec:
    affinity:
      podAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
        - {labelSelector: {matchLabels: {app: db}}, topologyKey: topology.kubernetes.io/zone}
)",
     {"a", "b"}},
    {"AffinityNoMatchingPod",
     ZONES R"(
pods: [{metadata: {name: web, labels: {app: web}}, spec: {nodeName: a}}]
pod:
  metadata: {name: p}
  spec:
    affinity:
      podAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
        - {labelSelector: {matchLabels: {app: db}}, topologyKey: topology.kubernetes.io/zone}
)",
     {},
     "0/3 nodes are available: 3 node(s) didn't match pod affinity rules."},
    {"AffinityFirstPodOfSelfMatchingGroup",
     ZONES R"(
pod:
  metadata: {name: p, labels: {app: db}}
  spec:
    affinity:
      podAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
        - {labelSelector: {matchLabels: {app: db}}, topologyKey: topology.kubernetes.io/zone}
)",
     {"a", "b", "c"}},
    {"AffinityOtherNamespaceIgnored",
     ZONES R"(
pods: [{metadata: {name: db, namespace: other, labels: {app: db}}, spec: {nodeName: a}}]
pod:
  metadata: {name: p}
  spec:
    affinity:
      podAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
        - {labelSelector: {matchLabels: {app: db}}, topologyKey: topology.kubernetes.io/zone}
)",
     {},
     "0/3 nodes are available: 3 node(s) didn't match pod affinity rules."},
    {"AffinityNamespaceSelector",
     ZONES R"(
namespaces: [{metadata: {name: other, labels: {team: x}}}]
pods: [{metadata: {name: db, namespace: other, labels: {app: db}}, spec: {nodeName: c}}]
pod:
  metadata: {name: p}
  spec:
    affinity:
      podAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
        - {labelSelector: {matchLabels: {app: db}}, namespaceSelector: {matchLabels: {team: x}}, topologyKey: topology.kubernetes.io/zone}
)",
     {"c"}},
    {"AntiAffinityPerHost",
     ZONES R"(
pods: [{metadata: {name: w1, labels: {app: web}}, spec: {nodeName: a}}]
pod:
  metadata: {name: p, labels: {app: web}}
  spec:
    affinity:
      podAntiAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
        - {labelSelector: {matchLabels: {app: web}}, topologyKey: kubernetes.io/hostname}
)",
     {"b", "c"}},
    {"AntiAffinityPerZoneMessage",
     ZONES R"(
pods:
- {metadata: {name: w1, labels: {app: web}}, spec: {nodeName: a}}
- {metadata: {name: w2, labels: {app: web}}, spec: {nodeName: c}}
pod:
  metadata: {name: p, labels: {app: web}}
  spec:
    affinity:
      podAntiAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
        - {labelSelector: {matchLabels: {app: web}}, topologyKey: topology.kubernetes.io/zone}
)",
     {},
     "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."},
    {"ExistingPodsAntiAffinity",
     ZONES R"(
pods:
- metadata: {name: loner}
  spec:
    nodeName: a
    affinity:
      podAntiAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
        - {labelSelector: {matchLabels: {app: web}}, topologyKey: topology.kubernetes.io/zone}
pod: {metadata: {name: p, labels: {app: web}}}
)",
     {"c"}},
    {"ExistingPodsAntiAffinityMessage",
     R"(
nodes: [{metadata: {name: a}}]
pods:
- metadata: {name: loner}
  spec:
    nodeName: a
    affinity:
      podAntiAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
        - {labelSelector: {matchLabels: {app: web}}, topologyKey: kubernetes.io/hostname}
pod: {metadata: {name: p, labels: {app: web}}}
)",
     {},
     "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."},
    {"SpreadByZone",
     ZONES R"(
pods:
- {metadata: {name: w1, labels: {app: web}}, spec: {nodeName: a}}
- {metadata: {name: w2, labels: {app: web}}, spec: {nodeName: b}}
pod:
  metadata: {name: p, labels: {app: web}}
  spec:
    topologySpreadConstraints:
    - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
)",
     {"c"}},
    {"SpreadMissingLabel",
     R"(
nodes: [{metadata: {name: a}}]
pod:
  metadata: {name: p, labels: {app: web}}
  spec:
    topologySpreadConstraints:
    - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
)",
     {},
     "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required "
     "label)."},
    {"SpreadSkewMessage",
     ZONES R"(
pods:
- {metadata: {name: w1, labels: {app: web}}, spec: {nodeName: a}}
- {metadata: {name: w2, labels: {app: web}}, spec: {nodeName: b}}
pod:
  metadata: {name: p, labels: {app: web}}
  spec:
    nodeSelector: {topology.kubernetes.io/zone: z1}
    topologySpreadConstraints:
    - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}, nodeAffinityPolicy: Ignore}
)",
     {},
     "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 node(s) didn't match "
     "pod topology spread constraints."},
    {"SpreadNodeAffinityPolicyHonorIgnoresOtherZones",
     ZONES R"(
pods:
- {metadata: {name: w1, labels: {app: web}}, spec: {nodeName: a}}
- {metadata: {name: w2, labels: {app: web}}, spec: {nodeName: b}}
pod:
  metadata: {name: p, labels: {app: web}}
  spec:
    nodeSelector: {topology.kubernetes.io/zone: z1}
    topologySpreadConstraints:
    - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
)",
     {"a", "b"}},
    {"SpreadMinDomains",
     ZONES R"(
pods:
- {metadata: {name: w1, labels: {app: web}}, spec: {nodeName: a}}
pod:
  metadata: {name: p, labels: {app: web}}
  spec:
    topologySpreadConstraints:
    - {maxSkew: 1, minDomains: 3, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
)",
     {"c"}},
    {"SpreadScheduleAnywayDoesNotFilter",
     ZONES R"(
pods:
- {metadata: {name: w1, labels: {app: web}}, spec: {nodeName: a}}
- {metadata: {name: w2, labels: {app: web}}, spec: {nodeName: b}}
pod:
  metadata: {name: p, labels: {app: web}}
  spec:
    topologySpreadConstraints:
    - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: web}}}
)",
     {"a", "b", "c"}},
};

class SchedAffinitySpreadCases : public ::testing::TestWithParam<SpreadCase> {};

TEST_P(SchedAffinitySpreadCases, FeasibleNodesAndMessage) {
  const SpreadCase& c = GetParam();
  std::string message;
  EXPECT_EQ(feasibleNodes(yaml(c.cluster), &message), c.feasible);
  if (c.feasible.empty()) {
    EXPECT_EQ(message, c.message);
  }
}

INSTANTIATE_TEST_SUITE_P(Plugins, SchedAffinitySpreadCases, ::testing::ValuesIn(kSpreadCases),
                         [](const auto& info) { return std::string(info.param.name); });

// Spreading counts from the snapshot's indexes when it can (one-label
// selector, no node constraints on the pod, taints ignored) and visits
// every node otherwise. nodeTaintsPolicy Honor on untainted nodes changes
// no answer but forces the visit, so random clusters must give the same
// feasible nodes and messages both ways: terminating pods, pods on nodes
// without a node object, nodes without the zone, two namespaces.
TEST(SchedSpreadIndexes, SameAnswersAsVisitingEveryNode) {
  uint64_t seed = 12345;
  auto next = [&seed](uint64_t n) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (seed >> 33) % n;
  };
  for (int round = 0; round < 60; ++round) {
    Json cluster = {{"nodes", Json::array()}, {"pods", Json::array()}};
    int nodes = 2 + static_cast<int>(next(8));
    bool all_zoned = next(2) == 0;
    for (int i = 0; i < nodes; ++i) {
      Json labels = Json::object();
      if (all_zoned || next(4) != 0) labels["topology.kubernetes.io/zone"] = "z" + std::to_string(next(3));
      cluster["nodes"].push_back({{"metadata", {{"name", "n" + std::to_string(i)}, {"labels", labels}}}});
    }
    int pods = static_cast<int>(next(14));
    for (int i = 0; i < pods; ++i) {
      // A node index past the last is a node with no object yet.
      Json pod = {{"metadata", {{"name", "p" + std::to_string(i)},
                                {"namespace", next(5) == 0 ? "other" : "default"},
                                {"labels", {{"app", next(3) == 0 ? "b" : "a"}}}}},
                  {"spec", {{"nodeName", "n" + std::to_string(next(nodes + 1))}}}};
      if (next(6) == 0) pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
      cluster["pods"].push_back(pod);
    }
    Json constraints = Json::array();
    constraints.push_back({{"maxSkew", 1 + static_cast<int>(next(2))},
                           {"topologyKey", "topology.kubernetes.io/zone"},
                           {"whenUnsatisfiable", "DoNotSchedule"},
                           {"labelSelector", {{"matchLabels", {{"app", "a"}}}}}});
    if (next(2) == 0)
      constraints.push_back({{"maxSkew", 2},
                             {"topologyKey", "kubernetes.io/hostname"},
                             {"whenUnsatisfiable", "DoNotSchedule"},
                             {"labelSelector", {{"matchLabels", {{"app", "a"}}}}}});
    cluster["pod"] = {{"metadata", {{"name", "incoming"}, {"labels", {{"app", "a"}}}}},
                      {"spec", {{"topologySpreadConstraints", constraints}}}};
    std::string indexed_message, visited_message;
    auto indexed = feasibleNodes(cluster, &indexed_message);
    for (Json& c : cluster["pod"]["spec"]["topologySpreadConstraints"]) c["nodeTaintsPolicy"] = "Honor";
    auto visited = feasibleNodes(cluster, &visited_message);
    EXPECT_EQ(indexed, visited) << cluster.dump();
    EXPECT_EQ(indexed_message, visited_message) << cluster.dump();
  }
}

}  // namespace
}  // namespace capstan::scheduler
