#pragma once
// The scheduler's front door: a pure library (no I/O, no threads, no clock)
// that, given a pod and a Snapshot of the cluster, picks a node or explains
// why none fits, with kube-scheduler's plugins, weights and wording
// (pkg/scheduler/framework and its default plugins, v1.31).
//
// How the scheduling loop uses it:
//   1. Keep one Snapshot up to date from informers (snapshot.h): upsertNode /
//      removeNode, upsertPod / removePod for pods that have a node, and
//      upsertNamespace for namespaceSelector terms. Each update is O(size of
//      that object); objects are parsed once, when added.
//   2. For each pending pod: schedule(pod, snapshot). On success bind
//      result.node through pods/binding and "assume" the pod at once with
//      snapshot.upsertPod(pod, result.node), so the next pod sees it even
//      before the watch event arrives (the event then replaces it; a failed
//      binding removes it again with removePod).
//   3. When schedule() says unschedulable: result.fit_error.message() is the
//      FailedScheduling event / PodScheduled=False condition text
//      ("0/3 nodes are available: 1 Insufficient memory, 2 node(s) had
//      untolerated taint {node-role.kubernetes.io/control-plane: }.").
//      Then preempt(pod, snapshot, result.fit_error): when it returns a
//      nominated node, delete the victims, set the pod's
//      status.nominatedNodeName and requeue it; schedule() tries the
//      nominated node first. Its `message` is the "preemption: ..." suffix
//      upstream appends (FitError::post_filter_msg).
//
// Threading: a Scheduler is single-threaded (it keeps the rotating start
// index of node sampling and reusable scratch buffers); schedule() and
// preempt() must not run concurrently with updates of the same Snapshot.
// Nothing here throws: malformed objects are read defensively.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "scheduler/snapshot.h"

namespace capstan::scheduler {

// One evaluated node that did not fit and why: the reasons of the first
// filter plugin that rejected it (upstream runs filters in order and stops at
// the first failure). `resolvable` is false for UnschedulableAndUnresolvable
// (preemption cannot help on that node).
struct NodeFailure {
  std::string node;
  std::vector<std::string> reasons;
  bool resolvable = true;
};

// Why a pod fits on no node: upstream's framework.FitError.
struct FitError {
  int num_all_nodes = 0;
  std::string pre_filter_msg;         // a PreFilter rejected the pod outright
  std::vector<NodeFailure> failures;  // one per evaluated node that failed
  std::string post_filter_msg;        // optional, e.g. PreemptionResult::message

  // FitError.Error(): "0/N nodes are available: " + reasons counted per
  // reason string, formatted "<count> <reason>", sorted as strings, joined by
  // ", ", ended by "."; then " <post_filter_msg>." when set.
  std::string message() const;
};

struct ScheduleResult {
  std::string node;  // empty: unschedulable (see fit_error)
  int evaluated_nodes = 0;
  int feasible_nodes = 0;
  FitError fit_error;
  bool scheduled() const { return !node.empty(); }
};

struct PreemptionResult {
  std::string nominated_node;  // empty: preemption would not help
  // Pods to delete on nominated_node, highest priority first.
  std::vector<std::shared_ptr<const Json>> victims;
  // Upstream's PostFilter message, e.g. "preemption: 0/3 nodes are
  // available: 1 No preemption victims found for incoming pod, 2 Preemption
  // is not helpful for scheduling." (empty when a node was nominated).
  std::string message;
};

struct Config {
  // percentageOfNodesToScore: 0 = adaptive (50% - nodes/125, at least 5%);
  // never fewer than 100 nodes are searched for feasibility.
  int percentage_of_nodes_to_score = 0;
  // Upstream's system default topology spread constraints (hostname
  // maxSkew 3, zone maxSkew 5, ScheduleAnyway) for pods without their own.
  bool default_spreading = true;
  // InterPodAffinityArgs.hardPodAffinityWeight.
  int hard_pod_affinity_weight = 1;
};

// Uniformly distributed 64-bit values; tests inject a deterministic one.
using RandomSource = std::function<uint64_t()>;

class Scheduler {
 public:
  // `random` breaks ties between equally scored nodes and picks the start
  // of preemption's candidate sampling; a null function means "always 0".
  explicit Scheduler(Config config = {}, RandomSource random = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Picks a node for `pod`. An OK Result with an empty node means
  // unschedulable (fit_error says why); an error Status (Invalid) means the
  // pod itself is malformed (e.g. a bad label selector in its affinity),
  // which retrying does not fix. spec.nodeName of `pod` is ignored except by
  // the NodeName plugin; a pod with status.nominatedNodeName has that node
  // evaluated first.
  Result<ScheduleResult> schedule(const Json& pod, const Snapshot& snapshot);
  // The same without copying the pod (informers hand out shared objects).
  Result<ScheduleResult> schedule(std::shared_ptr<const Json> pod, const Snapshot& snapshot);

  // DefaultPreemption for a pod that schedule() found unschedulable:
  // the node where evicting the fewest / lowest-priority pods of strictly
  // lower priority (spec.priority) makes the pod fit. Pods with
  // preemptionPolicy Never never preempt. Pure: the snapshot is not changed.
  // `fit_error` is the one schedule() returned for this pod and snapshot:
  // nodes it rejected as unresolvable are not tried.
  Result<PreemptionResult> preempt(const Json& pod, const Snapshot& snapshot, const FitError& fit_error);
  Result<PreemptionResult> preempt(std::shared_ptr<const Json> pod, const Snapshot& snapshot,
                                   const FitError& fit_error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The number of nodes searched for feasibility out of `num_all_nodes`
// (upstream's numFeasibleNodesToFind).
int numFeasibleNodesToFind(int num_all_nodes, int percentage_of_nodes_to_score);

}  // namespace capstan::scheduler
