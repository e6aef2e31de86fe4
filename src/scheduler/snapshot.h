#pragma once
// The scheduler's view of the cluster: every node with the pods placed on it
// (bound or assumed) and their summed requests, kept up to date incrementally
// from informer events. Objects are parsed into compact structs once, when
// added (node_info.h), so scheduling never re-reads JSON.
//
// Not thread-safe: the owner serialises updates and scheduling (reads
// too: lookups fill caches).

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "scheduler/node_info.h"

namespace capstan::scheduler {

class Snapshot {
 public:
  Snapshot();
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  // Adds or replaces a node (by metadata.name). A node without a name is
  // refused (Invalid). Pods already recorded for that node name stay.
  Status upsertNode(std::shared_ptr<const Json> node);
  // Idempotent. Pods recorded on the node stay until removed (upstream keeps
  // such a node "imaginary" until its pods go); it is no longer a candidate.
  void removeNode(std::string_view name);

  // Adds or replaces a pod (by namespace/name) on `node_name`, or on its
  // spec.nodeName when node_name is empty. A pod with no node, or in phase
  // Succeeded/Failed, is removed instead (it uses no resources). The node
  // need not exist yet. Returns Invalid for a pod without a name.
  Status upsertPod(std::shared_ptr<const Json> pod, std::string_view node_name = {});
  // Idempotent.
  void removePod(std::string_view ns, std::string_view name);

  // Namespaces, for pod affinity terms with a namespaceSelector.
  void upsertNamespace(std::shared_ptr<const Json> ns);
  void removeNamespace(std::string_view name);

  // Nodes that exist (candidates), in a stable order that changes only on
  // add/remove.
  const std::vector<NodeInfo*>& nodes() const { return nodes_; }
  size_t numNodes() const { return nodes_.size(); }
  const NodeInfo* node(std::string_view name) const;
  const PodInfo* pod(std::string_view ns, std::string_view name) const;
  // Labels of a namespace, or nullptr when unknown.
  const Json* namespaceLabels(std::string_view name) const;

  // Pods recorded here with a required anti-affinity term: when none, the
  // InterPodAffinity plugin need not look at any node for them.
  int podsWithRequiredAntiAffinity() const { return pods_with_required_anti_affinity_; }
  // Non-terminating pods per node of one controller (ownerReference uid),
  // or nullptr when it has none: default spreading counts from this index
  // instead of walking every node.
  const std::unordered_map<const NodeInfo*, int>* podsByOwner(std::string_view owner_uid) const;
  // Nodes (with a node object) whose label `key` has the string `value`, or
  // nullptr when none has: InterPodAffinity scores only the topology domains
  // of the nodes being scored.
  const std::vector<const NodeInfo*>* nodesWithLabel(std::string_view key, std::string_view value) const;
  // The nodes (also imaginary ones) hosting pods that carry the label
  // podLabelKey(ns, key, value), each with how many (terminating ones
  // included), or nullptr when none does.
  const std::unordered_map<const NodeInfo*, int>* nodesWithPodLabel(const std::string& pod_label_key) const;
  // Per value of the node label `topology_key`, the pods (not terminating)
  // that carry the label podLabelKey(ns, key, value) on the nodes with a
  // node object and that label: what topology spreading counts for a
  // one-label selector. Computed when first asked for, then kept current
  // as pods come and go, so that a scheduling cycle pays for the domains,
  // not for every node. Values without such pods may be missing.
  const std::unordered_map<std::string, int64_t>& podCountsByDomain(const std::string& pod_label_key,
                                                                    const std::string& topology_key) const;
  // Per value of the node label `key`, how many nodes (with a node object)
  // carry it; nullptr when none does.
  const std::unordered_map<std::string, int>* labelValues(const std::string& key) const;
  // The number of nodes (with a node object) carrying the label `key`.
  size_t numNodesWithLabel(const std::string& key) const;
  // The affinity terms of the pods recorded here that score incoming pods
  // (required affinity, preferred affinity and anti-affinity), grouped:
  // terms that match the same pods (selector, namespaces,
  // namespaceSelector) with the same topology key, weight and kind are one
  // group, with how many of them each node holds. InterPodAffinity scores
  // an incoming pod against each group once, not against every pod.
  struct TermGroup {
    enum class Kind { kRequiredAffinity, kPreferredAffinity, kPreferredAntiAffinity };
    Kind kind = Kind::kRequiredAffinity;
    AffinityTerm term;                               // one of the group's terms
    std::unordered_map<const NodeInfo*, int> nodes;  // node -> terms of the group there
  };
  const std::unordered_map<std::string, TermGroup>& termGroups() const { return term_groups_; }
  // The topology keys of every pod (anti-)affinity term (required and
  // preferred) of the pods recorded here, each with its number of terms.
  const std::unordered_map<std::string, int>& affinityTopologyKeys() const { return affinity_keys_; }

 private:
  NodeInfo& nodeSlot(const std::string& name);
  void indexLabels(const NodeInfo& node, bool add);
  void countAffinityKeys(const PodInfo& pod, int delta);
  void dropIfEmpty(const std::string& name);
  void indexPodLabels(const PodInfo& pod, const NodeInfo& node, int delta);
  void groupTerms(const PodInfo& pod, const NodeInfo& node, int delta);

  // Every NodeInfo, also "imaginary" ones (pods but no node object yet).
  std::unordered_map<std::string, std::unique_ptr<NodeInfo>> infos_;
  std::vector<NodeInfo*> nodes_;  // those with a node object
  // namespace/name -> (node name, parsed pod)
  std::unordered_map<std::string, std::shared_ptr<const PodInfo>> pods_;
  std::unordered_map<std::string, std::shared_ptr<const Json>> namespaces_;
  std::unordered_map<std::string, std::unordered_map<const NodeInfo*, int>> owner_pods_;
  // "key\0value" -> nodes with that label (those in nodes_).
  std::unordered_map<std::string, std::vector<const NodeInfo*>> label_nodes_;
  // key -> value -> nodes with it, and key -> nodes with it (those in nodes_).
  std::unordered_map<std::string, std::unordered_map<std::string, int>> label_values_;
  std::unordered_map<std::string, size_t> label_key_nodes_;
  // podLabelKey -> node -> pods there with that label (terminating ones too).
  std::unordered_map<std::string, std::unordered_map<const NodeInfo*, int>> pod_label_nodes_;
  // podCountsByDomain's answers: podLabelKey -> topology key -> value ->
  // count. Dropped whenever a node comes, goes or changes labels.
  mutable std::unordered_map<std::string, std::unordered_map<std::string, std::unordered_map<std::string, int64_t>>>
      domain_counts_;
  std::unordered_map<std::string, int> affinity_keys_;
  int pods_with_required_anti_affinity_ = 0;
  mutable std::string lookup_;  // nodesWithLabel's key buffer
  std::unordered_map<std::string, TermGroup> term_groups_;  // by groupKey
};

}  // namespace capstan::scheduler
