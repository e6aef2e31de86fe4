// Score plugins, weights and tie-breaking: where the pod lands.
#include <gtest/gtest.h>

#include <map>

#include "unit/scheduler/cluster_fixture.h"

namespace capstan::scheduler {
namespace {

using testing::completePod;
using testing::load;
using testing::yaml;

std::string place(const char* cluster_yaml, RandomSource random = {}) {
  Json cluster = yaml(cluster_yaml);
  Snapshot snapshot;
  load(snapshot, cluster);
  Scheduler scheduler({}, std::move(random));
  Result<ScheduleResult> r = scheduler.schedule(completePod(cluster["pod"]), snapshot);
  EXPECT_TRUE(r.isOk()) << r.status().message();
  return r.isOk() ? r->node : "";
}

TEST(SchedScore, LeastAllocatedPrefersEmptierNode) {
  EXPECT_EQ(place(R"(
nodes: [{metadata: {name: a}}, {metadata: {name: b}}]
pods: [{metadata: {name: x}, spec: {nodeName: a, containers: [{name: c, resources: {requests: {cpu: "2", memory: 4Gi}}}]}}]
pod: {metadata: {name: p}, spec: {containers: [{name: c, resources: {requests: {cpu: 100m, memory: 100Mi}}}]}}
)"),
            "b");
}

TEST(SchedScore, BestEffortPodsCountWithDefaultRequests) {
  // Ten best-effort pods on a count as 1 cpu / 2000Mi in LeastAllocated.
  std::string pods;
  for (int i = 0; i < 10; ++i)
    pods += "- {metadata: {name: x" + std::to_string(i) + "}, spec: {nodeName: a}}\n";
  std::string text = "nodes: [{metadata: {name: a}}, {metadata: {name: b}}]\npods:\n" + pods +
                     "pod: {metadata: {name: p}}\n";
  EXPECT_EQ(place(text.c_str()), "b");
}

TEST(SchedScore, PreferredNodeAffinityOutweighsLoad) {
  EXPECT_EQ(place(R"(
nodes: [{metadata: {name: a, labels: {disk: ssd}}}, {metadata: {name: b}}]
pods: [{metadata: {name: x}, spec: {nodeName: a, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}}]
pod:
  metadata: {name: p}
  spec:
    affinity:
      nodeAffinity:
        preferredDuringSchedulingIgnoredDuringExecution:
        - {weight: 50, preference: {matchExpressions: [{key: disk, operator: In, values: [ssd]}]}}
)"),
            "a");
}

TEST(SchedScore, PreferNoScheduleTaintAvoided) {
  EXPECT_EQ(place(R"(
nodes:
- {metadata: {name: a}, spec: {taints: [{key: k, effect: PreferNoSchedule}]}}
- {metadata: {name: b}}
pods: [{metadata: {name: x}, spec: {nodeName: b, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}}]
pod: {metadata: {name: p}}
)"),
            "b");
}

TEST(SchedScore, PreferredAntiAffinityAvoidsMatchingPods) {
  EXPECT_EQ(place(R"(
nodes: [{metadata: {name: a}}, {metadata: {name: b}}]
pods: [{metadata: {name: x, labels: {app: web}}, spec: {nodeName: b}}]
pod:
  metadata: {name: p}
  spec:
    containers: [{name: c, resources: {requests: {cpu: 100m}}}]
    affinity:
      podAntiAffinity:
        preferredDuringSchedulingIgnoredDuringExecution:
        - {weight: 100, podAffinityTerm: {labelSelector: {matchLabels: {app: web}}, topologyKey: kubernetes.io/hostname}}
)"),
            "a");
}

TEST(SchedScore, PreferredAffinityAttracts) {
  EXPECT_EQ(place(R"(
nodes: [{metadata: {name: a}}, {metadata: {name: b}}]
pods: [{metadata: {name: x, labels: {app: db}}, spec: {nodeName: b, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}}]
pod:
  metadata: {name: p}
  spec:
    affinity:
      podAffinity:
        preferredDuringSchedulingIgnoredDuringExecution:
        - {weight: 100, podAffinityTerm: {labelSelector: {matchLabels: {app: db}}, topologyKey: kubernetes.io/hostname}}
)"),
            "b");
}

TEST(SchedScore, ScheduleAnywaySpreadPrefersEmptierZone) {
  EXPECT_EQ(place(R"(
nodes:
- {metadata: {name: a, labels: {topology.kubernetes.io/zone: z1}}}
- {metadata: {name: b, labels: {topology.kubernetes.io/zone: z2}}}
pods: [{metadata: {name: x, labels: {app: web}}, spec: {nodeName: b}}]
pod:
  metadata: {name: p, labels: {app: web}}
  spec:
    topologySpreadConstraints:
    - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: web}}}
)"),
            "a");
}

// Ties: upstream's reservoir sampling replaces the pick when rand(n) == 0.
TEST(SchedScore, TiesBrokenByInjectedRandom) {
  const char* three = R"(
nodes: [{metadata: {name: a}}, {metadata: {name: b}}, {metadata: {name: c}}]
pod: {metadata: {name: p}}
)";
  EXPECT_EQ(place(three, testing::fixedRandom(0)), "c");
  EXPECT_EQ(place(three, testing::fixedRandom(1)), "a");
  EXPECT_EQ(place(three), "c");  // no source: always 0
}

// A ReplicaSet's pods spread over hosts by the system default constraints.
TEST(SchedScore, DefaultSpreadingOfAWorkload) {
  Snapshot snapshot;
  load(snapshot, yaml("nodes: [{metadata: {name: a}}, {metadata: {name: b}}, {metadata: {name: c}}]"));
  Scheduler scheduler({}, testing::fixedRandom(0));
  std::map<std::string, int> per_node;
  for (int i = 0; i < 9; ++i) {
    Json pod = yaml(R"(
metadata:
  name: PLACEHOLDER
  labels: {app: web}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web, uid: rs-1, controller: true}]
spec: {containers: [{name: c}]}
)");
    pod["metadata"]["name"] = "web-" + std::to_string(i);
    auto object = completePod(pod);
    Result<ScheduleResult> r = scheduler.schedule(object, snapshot);
    ASSERT_TRUE(r.isOk() && r->scheduled());
    ++per_node[r->node];
    ASSERT_TRUE(snapshot.upsertPod(object, r->node).isOk());  // assume
  }
  EXPECT_EQ(per_node, (std::map<std::string, int>{{"a", 3}, {"b", 3}, {"c", 3}}));
}

TEST(SchedScore, SamplesNodesAndRotatesStart) {
  Snapshot snapshot;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(
        snapshot.upsertNode(testing::completeNode(yaml("metadata: {name: n" + std::to_string(i) + "}")))
            .isOk());
  }
  Scheduler scheduler;
  auto pod = completePod(yaml("metadata: {name: p}"));
  Result<ScheduleResult> r = scheduler.schedule(pod, snapshot);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->evaluated_nodes, 100);
  EXPECT_EQ(r->feasible_nodes, 100);
  EXPECT_EQ(r->node, "n99");  // the last of the tied window [0, 100)
  r = scheduler.schedule(pod, snapshot);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->node, "n199");  // the next window [100, 200)
}

TEST(SchedScore, NominatedNodeFirst) {
  EXPECT_EQ(place(R"(
nodes: [{metadata: {name: a}}, {metadata: {name: b}}]
pods: [{metadata: {name: x}, spec: {nodeName: b, containers: [{name: c, resources: {requests: {cpu: "3"}}}]}}]
pod: {metadata: {name: p}, status: {nominatedNodeName: b}}
)"),
            "b");
}

}  // namespace
}  // namespace capstan::scheduler

namespace capstan::scheduler {
namespace {

// InterPodAffinity scores only the topology domains of the feasible nodes,
// but every node of such a domain counts, also one the pod cannot go to.
TEST(SchedScore, PreferredAntiAffinityCountsPodsOnInfeasibleNodesOfTheDomain) {
  EXPECT_EQ(place(R"(
nodes:
- {metadata: {name: full, labels: {zone: z1}}, status: {allocatable: {cpu: 100m, memory: 1Gi, pods: "110"}}}
- {metadata: {name: a, labels: {zone: z1}}}
- {metadata: {name: b, labels: {zone: z2}}}
pods:
- {metadata: {name: x, labels: {app: web}}, spec: {nodeName: full, containers: [{name: c, resources: {requests: {cpu: 100m}}}]}}
pod:
  metadata: {name: p, labels: {app: web}}
  spec:
    containers: [{name: c, resources: {requests: {cpu: 100m}}}]
    affinity:
      podAntiAffinity:
        preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm: {topologyKey: zone, labelSelector: {matchLabels: {app: web}}}
)"),
            "b");
}

// The same with the existing pod's own preferred affinity to the incoming
// pod (symmetry): its term draws the pod into z1 although it sits on an
// infeasible node.
TEST(SchedScore, ExistingPodsPreferredAffinityFromInfeasibleNodeOfTheDomain) {
  EXPECT_EQ(place(R"(
nodes:
- {metadata: {name: full, labels: {zone: z1}}, status: {allocatable: {cpu: 100m, memory: 1Gi, pods: "110"}}}
- {metadata: {name: a, labels: {zone: z1}}}
- {metadata: {name: b, labels: {zone: z2}}}
pods:
- metadata: {name: x}
  spec:
    nodeName: full
    containers: [{name: c, resources: {requests: {cpu: 100m}}}]
    affinity:
      podAffinity:
        preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm: {topologyKey: zone, labelSelector: {matchLabels: {app: web}}}
- {metadata: {name: y}, spec: {nodeName: a, containers: [{name: c, resources: {requests: {cpu: 500m}}}]}}
pod:
  metadata: {name: p, labels: {app: web}}
  spec:
    containers: [{name: c, resources: {requests: {cpu: 100m}}}]
)"),
            "a");
}

}  // namespace
}  // namespace capstan::scheduler
