// The filter plugins as data: a cluster and a pod in, the feasible nodes
// (or kube-scheduler's FitError message) out.
#include <gtest/gtest.h>

#include <set>

#include "scheduler/framework.h"
#include "unit/scheduler/cluster_fixture.h"

namespace capstan::scheduler {
namespace {

using testing::feasibleNodes;
using testing::yaml;

struct FilterCase {
  const char* name;
  const char* cluster;             // {nodes, pods, namespaces, pod}
  std::set<std::string> feasible;  // empty: none fits
  const char* message = "";        // FitError message when none fits
};

const FilterCase kFilterCases[] = {
    {"NodeNameMatches",
     R"(
nodes: [{metadata: {name: a}}, {metadata: {name: b}}]
pod: {metadata: {name: p}, spec: {nodeName: b}}
)",
     {"b"}},
    {"NodeNameMissing",
     R"(
nodes: [{metadata: {name: a}}, {metadata: {name: b}}]
pod: {metadata: {name: p}, spec: {nodeName: c}}
)",
     {},
     "0/2 nodes are available: 2 node(s) didn't match the requested node name."},
    {"UnschedulableNode",
     R"(
nodes: [{metadata: {name: a}, spec: {unschedulable: true}}, {metadata: {name: b}}]
pod: {metadata: {name: p}}
)",
     {"b"}},
    {"UnschedulableTolerated",
     R"(
nodes: [{metadata: {name: a}, spec: {unschedulable: true}}]
pod: {metadata: {name: p}, spec: {tolerations: [{key: node.kubernetes.io/unschedulable, operator: Exists, effect: NoSchedule}]}}
)",
     {"a"}},
    {"AllUnschedulable",
     R"(
nodes: [{metadata: {name: a}, spec: {unschedulable: true}}]
pod: {metadata: {name: p}}
)",
     {},
     "0/1 nodes are available: 1 node(s) were unschedulable."},
    {"ResourcesFit",
     R"(
nodes:
- {metadata: {name: small}, status: {allocatable: {cpu: "1", memory: 1Gi, pods: "110"}}}
- {metadata: {name: big}, status: {allocatable: {cpu: "8", memory: 16Gi, pods: "110"}}}
pod: {metadata: {name: p}, spec: {containers: [{name: c, resources: {requests: {cpu: "2", memory: 2Gi}}}]}}
)",
     {"big"}},
    {"InsufficientCpuAndMemoryAndPods",
     R"(
nodes:
- {metadata: {name: a}, status: {allocatable: {cpu: "1", memory: 8Gi, pods: "110"}}}
- {metadata: {name: b}, status: {allocatable: {cpu: "8", memory: 1Gi, pods: "110"}}}
- {metadata: {name: c}, status: {allocatable: {cpu: "8", memory: 8Gi, pods: "1"}}}
pods:
- {metadata: {name: x}, spec: {nodeName: c}}
pod: {metadata: {name: p}, spec: {containers: [{name: c, resources: {requests: {cpu: "2", memory: 2Gi}}}]}}
)",
     {},
     "0/3 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Too many pods."},
    {"RequestsCountPlacedPods",
     R"(
nodes: [{metadata: {name: a}, status: {allocatable: {cpu: "2", memory: 8Gi, pods: "110"}}}]
pods:
- {metadata: {name: x}, spec: {nodeName: a, containers: [{name: c, resources: {requests: {cpu: 1500m}}}]}}
- {metadata: {name: done}, spec: {nodeName: a, containers: [{name: c, resources: {requests: {cpu: "2"}}}]}, status: {phase: Succeeded}}
pod: {metadata: {name: p}, spec: {containers: [{name: c, resources: {requests: {cpu: 600m}}}]}}
)",
     {},
     "0/1 nodes are available: 1 Insufficient cpu."},
    {"InitContainersAndOverhead",
     R"(
nodes: [{metadata: {name: a}, status: {allocatable: {cpu: "2", memory: 8Gi, pods: "110"}}}]
pod:
  metadata: {name: p}
  spec:
    initContainers: [{name: i, resources: {requests: {cpu: 1500m}}}]
    containers: [{name: c, resources: {requests: {cpu: 500m}}}]
    overhead: {cpu: 600m}
)",
     {},
     "0/1 nodes are available: 1 Insufficient cpu."},
    {"ExtendedResource",
     R"(
nodes:
- {metadata: {name: gpu}, status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110", example.com/gpu: "2"}}}
- {metadata: {name: plain}}
pod: {metadata: {name: p}, spec: {containers: [{name: c, resources: {limits: {example.com/gpu: "1"}}}]}}
)",
     {"gpu"}},
    {"ExtendedResourceMissing",
     R"(
nodes: [{metadata: {name: plain}}]
pod: {metadata: {name: p}, spec: {containers: [{name: c, resources: {requests: {example.com/gpu: "1"}}}]}}
)",
     {},
     "0/1 nodes are available: 1 Insufficient example.com/gpu."},
    {"NodeSelector",
     R"(
nodes: [{metadata: {name: a, labels: {disk: ssd}}}, {metadata: {name: b, labels: {disk: hdd}}}]
pod: {metadata: {name: p}, spec: {nodeSelector: {disk: ssd}}}
)",
     {"a"}},
    {"NodeAffinityOperators",
     R"(
nodes:
- {metadata: {name: a, labels: {zone: z1, cores: "8"}}}
- {metadata: {name: b, labels: {zone: z2, cores: "2"}}}
- {metadata: {name: c, labels: {zone: z3}}}
pod:
  metadata: {name: p}
  spec:
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
          - matchExpressions: [{key: zone, operator: NotIn, values: [z2]}, {key: cores, operator: Gt, values: ["4"]}]
          - matchExpressions: [{key: cores, operator: DoesNotExist}, {key: zone, operator: In, values: [z3]}]
)",
     {"a", "c"}},
    {"NodeAffinityMatchFieldsAndLt",
     R"(
nodes:
- {metadata: {name: a, labels: {cores: "8"}}}
- {metadata: {name: b, labels: {cores: "2"}}}
pod:
  metadata: {name: p}
  spec:
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
          - matchFields: [{key: metadata.name, operator: In, values: [a, b]}]
            matchExpressions: [{key: cores, operator: Lt, values: ["4"]}, {key: cores, operator: Exists}]
)",
     {"b"}},
    {"NodeAffinityNoneMatch",
     R"(
nodes: [{metadata: {name: a}}, {metadata: {name: b}}]
pod:
  metadata: {name: p}
  spec:
    nodeSelector: {disk: ssd}
)",
     {},
     "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."},
    {"EmptyNodeSelectorTermMatchesNothing",
     R"(
nodes: [{metadata: {name: a}}]
pod:
  metadata: {name: p}
  spec: {affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{}]}}}}
)",
     {},
     "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."},
    {"Taints",
     R"(
nodes:
- {metadata: {name: cp}, spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}}
- {metadata: {name: gpu}, spec: {taints: [{key: gpu, value: "true", effect: NoExecute}]}}
- {metadata: {name: soft}, spec: {taints: [{key: x, effect: PreferNoSchedule}]}}
pod: {metadata: {name: p}}
)",
     {"soft"}},
    {"TaintsMessage",
     R"(
nodes:
- {metadata: {name: a}, status: {allocatable: {cpu: "4", memory: 1Gi, pods: "110"}}}
- {metadata: {name: b}, spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}}
- {metadata: {name: c}, spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}}
pod: {metadata: {name: p}, spec: {containers: [{name: c, resources: {requests: {memory: 2Gi}}}]}}
)",
     {},
     "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint "
     "{node-role.kubernetes.io/control-plane: }."},
    {"Tolerations",
     R"(
nodes:
- {metadata: {name: a}, spec: {taints: [{key: k, value: v, effect: NoSchedule}]}}
- {metadata: {name: b}, spec: {taints: [{key: k, value: w, effect: NoSchedule}]}}
- {metadata: {name: c}, spec: {taints: [{key: other, value: v, effect: NoExecute}]}}
- {metadata: {name: d}, spec: {taints: [{key: k, value: v, effect: NoExecute}]}}
pod:
  metadata: {name: p}
  spec:
    tolerations:
    - {key: k, operator: Equal, value: v, effect: NoSchedule}
    - {key: other, operator: Exists}
)",
     {"a", "c"}},
    {"TolerateEverything",
     R"(
nodes:
- {metadata: {name: a}, spec: {taints: [{key: k, value: v, effect: NoSchedule}, {key: j, effect: NoExecute}]}}
pod: {metadata: {name: p}, spec: {tolerations: [{operator: Exists}]}}
)",
     {"a"}},
    {"HostPorts",
     R"(
nodes: [{metadata: {name: a}}, {metadata: {name: b}}, {metadata: {name: c}}, {metadata: {name: d}}]
pods:
- {metadata: {name: x}, spec: {nodeName: a, containers: [{name: c, ports: [{containerPort: 80, hostPort: 8080}]}]}}
- {metadata: {name: y}, spec: {nodeName: b, containers: [{name: c, ports: [{containerPort: 80, hostPort: 8080, protocol: UDP}]}]}}
- {metadata: {name: z}, spec: {nodeName: c, containers: [{name: c, ports: [{containerPort: 80, hostPort: 8080, hostIP: 10.0.0.2}]}]}}
- {metadata: {name: w}, spec: {nodeName: d, containers: [{name: c, ports: [{containerPort: 80, hostPort: 8080, hostIP: 10.0.0.1}]}]}}
pod: {metadata: {name: p}, spec: {containers: [{name: c, ports: [{containerPort: 80, hostPort: 8080, hostIP: 10.0.0.1}]}]}}
)",
     {"b", "c"}},
    {"HostPortsMessage",
     R"(
nodes: [{metadata: {name: a}}]
pods:
- {metadata: {name: x}, spec: {nodeName: a, containers: [{name: c, ports: [{containerPort: 80, hostPort: 80}]}]}}
pod: {metadata: {name: p}, spec: {containers: [{name: c, ports: [{containerPort: 80, hostPort: 80}]}]}}
)",
     {},
     "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."},
};

class SchedFilterCases : public ::testing::TestWithParam<FilterCase> {};

TEST_P(SchedFilterCases, FeasibleNodesAndMessage) {
  const FilterCase& c = GetParam();
  Json cluster = yaml(c.cluster);
  std::string message;
  std::set<std::string> feasible = feasibleNodes(cluster, &message);
  EXPECT_EQ(feasible, c.feasible);
  if (c.feasible.empty()) {
    EXPECT_EQ(message, c.message);
  }
}

INSTANTIATE_TEST_SUITE_P(Plugins, SchedFilterCases, ::testing::ValuesIn(kFilterCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace capstan::scheduler
