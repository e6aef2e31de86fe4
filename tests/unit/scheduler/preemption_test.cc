// DefaultPreemption: victims, the nominated node, and the message when
// preemption cannot help.
#include <gtest/gtest.h>

#include "unit/scheduler/cluster_fixture.h"

namespace capstan::scheduler {
namespace {

using testing::completePod;
using testing::load;
using testing::yaml;

struct Outcome {
  std::string fit_message;
  PreemptionResult preemption;
  std::vector<std::string> victims;
};

Outcome run(const char* cluster_yaml) {
  Json cluster = yaml(cluster_yaml);
  Snapshot snapshot;
  load(snapshot, cluster);
  Scheduler scheduler;
  auto pod = completePod(cluster["pod"]);
  Outcome out;
  Result<ScheduleResult> r = scheduler.schedule(pod, snapshot);
  EXPECT_TRUE(r.isOk() && !r->scheduled());
  if (!r.isOk()) return out;
  out.fit_message = r->fit_error.message();
  Result<PreemptionResult> p = scheduler.preempt(pod, snapshot, r->fit_error);
  EXPECT_TRUE(p.isOk());
  if (!p.isOk()) return out;
  out.preemption = *p;
  for (const auto& v : p->victims) out.victims.push_back((*v)["metadata"]["name"].get<std::string>());
  return out;
}

TEST(SchedPreemption, EvictsLowerPriorityPod) {
  Outcome o = run(R"(
nodes: [{metadata: {name: a}, status: {allocatable: {cpu: "2", memory: 8Gi, pods: "110"}}}]
pods:
- {metadata: {name: low}, spec: {nodeName: a, priority: 0, containers: [{name: c, resources: {requests: {cpu: "2"}}}]}}
pod: {metadata: {name: p}, spec: {priority: 100, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}}
)");
  EXPECT_EQ(o.fit_message, "0/1 nodes are available: 1 Insufficient cpu.");
  EXPECT_EQ(o.preemption.nominated_node, "a");
  EXPECT_EQ(o.victims, std::vector<std::string>{"low"});
}

TEST(SchedPreemption, ReprievesWhatItCanAndPicksLowestPriorityVictims) {
  Outcome o = run(R"(
nodes:
- {metadata: {name: a}, status: {allocatable: {cpu: "2", memory: 8Gi, pods: "110"}}}
- {metadata: {name: b}, status: {allocatable: {cpu: "2", memory: 8Gi, pods: "110"}}}
pods:
- {metadata: {name: a-mid}, spec: {nodeName: a, priority: 50, containers: [{name: c, resources: {requests: {cpu: "2"}}}]}}
- {metadata: {name: b-low1}, spec: {nodeName: b, priority: 1, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}}
- {metadata: {name: b-low2}, spec: {nodeName: b, priority: 2, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}}
pod: {metadata: {name: p}, spec: {priority: 100, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}}
)");
  EXPECT_EQ(o.preemption.nominated_node, "b");
  EXPECT_EQ(o.victims, std::vector<std::string>{"b-low1"});  // b-low2 (more important) reprieved
}

TEST(SchedPreemption, NeverPolicy) {
  Outcome o = run(R"(
nodes: [{metadata: {name: a}, status: {allocatable: {cpu: "1", memory: 8Gi, pods: "110"}}}]
pods: [{metadata: {name: low}, spec: {nodeName: a, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}}]
pod: {metadata: {name: p}, spec: {priority: 100, preemptionPolicy: Never, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}}
)");
  EXPECT_EQ(o.preemption.nominated_node, "");
  EXPECT_EQ(o.preemption.message, "preemption: not eligible due to preemptionPolicy=Never.");
}

TEST(SchedPreemption, NotHelpfulAndNoVictimsMessages) {
  Outcome o = run(R"(
nodes:
- {metadata: {name: a}, status: {allocatable: {cpu: "1", memory: 8Gi, pods: "110"}}}
- {metadata: {name: b}, spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}}
- {metadata: {name: c}, spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}}
pods: [{metadata: {name: peer}, spec: {nodeName: a, priority: 100, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}}]
pod: {metadata: {name: p}, spec: {priority: 100, containers: [{name: c, resources: {requests: {cpu: "1"}}}]}}
)");
  EXPECT_EQ(o.preemption.nominated_node, "");
  EXPECT_EQ(
      o.preemption.message,
      "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is "
      "not helpful for scheduling.");
  FitError e;
  e.num_all_nodes = 3;
  EXPECT_EQ(o.fit_message,
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
            "{node-role.kubernetes.io/control-plane: }.");
}

TEST(SchedPreemption, AntiAffinityVictim) {
  Outcome o = run(R"(
nodes: [{metadata: {name: a}}]
pods:
- {metadata: {name: web-old, labels: {app: web}}, spec: {nodeName: a, priority: 0}}
pod:
  metadata: {name: p, labels: {app: web}}
  spec:
    priority: 10
    affinity:
      podAntiAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
        - {labelSelector: {matchLabels: {app: web}}, topologyKey: kubernetes.io/hostname}
)");
  EXPECT_EQ(o.fit_message, "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules.");
  EXPECT_EQ(o.preemption.nominated_node, "a");
  EXPECT_EQ(o.victims, std::vector<std::string>{"web-old"});
}

}  // namespace
}  // namespace capstan::scheduler
