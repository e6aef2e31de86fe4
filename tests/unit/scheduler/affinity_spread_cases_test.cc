// InterPodAffinity and PodTopologySpread filters as data.
#include <gtest/gtest.h>

#include <set>

#include "unit/scheduler/cluster_fixture.h"

namespace capstan::scheduler {
namespace {

using testing::feasibleNodes;
using testing::yaml;

struct Case {
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

const Case kCases[] = {
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

class SchedAffinitySpreadCases : public ::testing::TestWithParam<Case> {};

TEST_P(SchedAffinitySpreadCases, FeasibleNodesAndMessage) {
  const Case& c = GetParam();
  std::string message;
  EXPECT_EQ(feasibleNodes(yaml(c.cluster), &message), c.feasible);
  if (c.feasible.empty()) {
    EXPECT_EQ(message, c.message);
  }
}

INSTANTIATE_TEST_SUITE_P(Plugins, SchedAffinitySpreadCases, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace capstan::scheduler
