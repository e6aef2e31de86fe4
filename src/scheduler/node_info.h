#pragma once
// Pods and nodes parsed once into what the plugins read (upstream's
// framework.PodInfo and framework.NodeInfo). The parsed structs keep the
// shared JSON object alive and point into it (labels), so they are immutable
// and cheap to share between snapshot entries and scheduling cycles.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/selector.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::scheduler {

inline constexpr std::string_view kLabelHostname = "kubernetes.io/hostname";
inline constexpr std::string_view kLabelZone = "topology.kubernetes.io/zone";

// Upstream's framework.Resource: cpu in millicores, the rest in units.
struct Resources {
  int64_t milli_cpu = 0;
  int64_t memory = 0;
  int64_t ephemeral_storage = 0;
  int64_t allowed_pods = 0;  // only meaningful for allocatable
  // Extended resources (example.com/gpu, hugepages-2Mi, ...), sorted by name.
  std::vector<std::pair<std::string, int64_t>> scalars;

  int64_t scalar(std::string_view name) const;
  void addScalar(std::string_view name, int64_t value);
  void add(const Resources& other);
  void subtract(const Resources& other);
  bool empty() const { return milli_cpu == 0 && memory == 0 && ephemeral_storage == 0 && scalars.empty(); }
};

enum class TaintEffect { kNoSchedule, kPreferNoSchedule, kNoExecute, kOther };

struct Taint {
  std::string key;
  std::string value;
  TaintEffect effect = TaintEffect::kOther;
};

struct Toleration {
  enum class Op { kEqual, kExists, kOther };
  std::string key;  // empty with Exists: tolerates every key
  Op op = Op::kEqual;
  std::string value;
  std::optional<TaintEffect> effect;  // empty: every effect

  // v1.Toleration.ToleratesTaint.
  bool tolerates(const Taint& taint) const;
};

bool tolerationsTolerate(const std::vector<Toleration>& tolerations, const Taint& taint);

struct HostPort {
  std::string ip;        // "0.0.0.0" when unset
  std::string protocol;  // "TCP" when unset
  int32_t port = 0;
};

// A NodeSelectorRequirement (matchExpressions or matchFields).
struct NodeRequirement {
  enum class Op { kIn, kNotIn, kExists, kDoesNotExist, kGt, kLt };
  std::string key;
  Op op = Op::kIn;
  std::vector<std::string> values;
};

struct NodeSelectorTerm {
  std::vector<NodeRequirement> match_expressions;
  std::vector<NodeRequirement> match_fields;  // only metadata.name is known
};

struct PreferredNodeTerm {
  int32_t weight = 0;
  NodeSelectorTerm term;
};

// A PodAffinityTerm with its namespaces resolved as upstream's
// framework.AffinityTerm: the pod's own namespace when neither namespaces
// nor namespaceSelector is given.
struct AffinityTerm {
  api::LabelSelector selector;
  bool selector_matches_nothing = false;  // labelSelector absent (null)
  std::vector<std::string> namespaces;
  std::optional<api::LabelSelector> namespace_selector;
  std::string topology_key;
  int32_t weight = 0;  // preferred terms only
};

struct SpreadConstraint {
  int32_t max_skew = 1;
  std::string topology_key;
  bool do_not_schedule = true;
  api::LabelSelector selector;
  bool selector_matches_nothing = false;
  // Default spreading: pods count when they share the controller owner.
  std::string owner_uid;
  int32_t min_domains = 1;
  bool honor_node_affinity = true;  // nodeAffinityPolicy, default Honor
  bool honor_node_taints = false;   // nodeTaintsPolicy, default Ignore
};

struct NodeInfo;

struct PodInfo {
  std::shared_ptr<const Json> object;
  std::string ns;
  std::string name;
  std::string node_name;         // spec.nodeName, or where the snapshot put it
  std::string nominated_node;    // status.nominatedNodeName
  std::string owner_uid;         // controller ownerReference's uid
  const Json* labels = nullptr;  // never null; points into object or an empty object
  int32_t priority = 0;
  bool preempt_never = false;
  bool terminating = false;  // metadata.deletionTimestamp set
  int64_t start_time = 0;    // status.startTime, seconds since epoch (0 if unset)

  Resources requests;              // max(sum(containers), each init) + overhead
  int64_t non_zero_milli_cpu = 0;  // with upstream's defaults (100m / 200Mi) for
  int64_t non_zero_memory = 0;     // containers that request nothing

  std::vector<HostPort> host_ports;
  std::vector<Toleration> tolerations;

  const Json* node_selector = nullptr;  // spec.nodeSelector object, or null
  std::optional<std::vector<NodeSelectorTerm>> required_node_affinity;
  std::vector<PreferredNodeTerm> preferred_node_affinity;

  std::vector<AffinityTerm> required_affinity;
  std::vector<AffinityTerm> required_anti_affinity;
  std::vector<AffinityTerm> preferred_affinity;
  std::vector<AffinityTerm> preferred_anti_affinity;

  std::vector<SpreadConstraint> spread_constraints;

  bool hasAffinity() const {
    return !required_affinity.empty() || !required_anti_affinity.empty() || !preferred_affinity.empty() ||
           !preferred_anti_affinity.empty();
  }
  // The pod's requiredDuringScheduling node affinity and nodeSelector
  // (upstream's RequiredNodeAffinity.Match).
  bool matchesNodeSelectorAndAffinity(const NodeInfo& node) const;
};

// Parses a pod. Malformed label selectors in its affinity or spread
// constraints give Invalid; other oddities (wrong JSON types) are skipped.
Result<std::shared_ptr<PodInfo>> parsePod(std::shared_ptr<const Json> pod);

// Whether `pod` (in namespace pod.ns with its labels) matches the term,
// given the namespace labels lookup of the snapshot.
class Snapshot;
bool termMatches(const AffinityTerm& term, const PodInfo& pod, const Snapshot& snapshot);

struct NodeInfo {
  std::shared_ptr<const Json> object;  // null for an "imaginary" node
  std::string name;
  const Json* labels = nullptr;  // never null
  bool unschedulable = false;
  std::vector<Taint> taints;
  Resources allocatable;

  std::vector<std::shared_ptr<const PodInfo>> pods;
  Resources requested;
  int64_t non_zero_milli_cpu = 0;
  int64_t non_zero_memory = 0;
  std::vector<HostPort> used_ports;
  int pods_with_required_anti_affinity = 0;
  // Pods (terminating ones too) per podLabelKey(namespace, label key,
  // value) of their string labels, so a selector of one label counts pods
  // without scanning them (PodTopologySpread and InterPodAffinity read many
  // nodes each cycle).
  std::unordered_map<std::string, int> label_pod_counts;
  int terminating_pods = 0;  // pods with metadata.deletionTimestamp
  int podsWithLabel(const std::string& label_key) const {
    auto it = label_pod_counts.find(label_key);
    return it == label_pod_counts.end() ? 0 : it->second;
  }

  // The value of a node label, or nullptr. The hostname and zone labels,
  // read for every node by default spreading, are looked up once in setNode.
  const std::string* label(std::string_view key) const;
  const std::string* hostname_label = nullptr;
  const std::string* zone_label = nullptr;

  void setNode(std::shared_ptr<const Json> node);
  void addPod(std::shared_ptr<const PodInfo> pod);
  // False when the pod was not there.
  bool removePod(std::string_view ns, std::string_view name);
};

// The key of NodeInfo::label_pod_counts: "namespace\0key\0value".
std::string podLabelKey(std::string_view ns, std::string_view key, std::string_view value);

bool matchesNodeSelectorTerm(const NodeSelectorTerm& term, const NodeInfo& node);

}  // namespace capstan::scheduler
