// podtopologyspread: DoNotSchedule constraints bound the skew of matching
// pods between topology domains (filter); ScheduleAnyway constraints, or the
// system defaults (hostname maxSkew 3, zone maxSkew 5) for pods that have
// none, prefer the less crowded domains (score). As upstream's filtering.go
// and scoring.go, with node inclusion policies (nodeAffinityPolicy Honor,
// nodeTaintsPolicy Ignore by default) and minDomains.
#include <algorithm>
#include <climits>
#include <cmath>
#include <string>
#include <unordered_map>

#include "scheduler/plugins/plugins.h"

namespace capstan::scheduler {
namespace {

bool hasAllTopologyKeys(const NodeInfo& node, const std::vector<SpreadConstraint>& cs) {
  return std::all_of(cs.begin(), cs.end(),
                     [&](const SpreadConstraint& c) { return node.label(c.topology_key) != nullptr; });
}

bool untoleratedHardTaint(const PodInfo& pod, const NodeInfo& node) {
  for (const Taint& t : node.taints) {
    if (t.effect != TaintEffect::kNoSchedule && t.effect != TaintEffect::kNoExecute) continue;
    if (!tolerationsTolerate(pod.tolerations, t)) return true;
  }
  return false;
}

bool includesNode(const SpreadConstraint& c, const PodInfo& pod, const NodeInfo& node) {
  if (c.honor_node_affinity && !pod.matchesNodeSelectorAndAffinity(node)) return false;
  if (c.honor_node_taints && untoleratedHardTaint(pod, node)) return false;
  return true;
}

// Per constraint: matching pods per domain (value of the topology key).
struct DomainCounts {
  std::unordered_map<std::string, int64_t> counts;
  int64_t min = INT32_MAX;  // upstream's criticalPaths start at MaxInt32

  void recomputeMin() {
    min = INT32_MAX;
    for (const auto& [v, n] : counts) min = std::min(min, n);
  }
};

class PodTopologySpread final : public Plugin {
 public:
  explicit PodTopologySpread(bool default_spreading) : default_spreading_(default_spreading) {}
  std::string_view name() const override { return "PodTopologySpread"; }
  bool hasFilter() const override { return true; }

  // ---- filtering

  FilterCode preFilter(const CycleContext& ctx, std::vector<std::string>&) override {
    hard_.clear();
    for (const SpreadConstraint& c : ctx.pod.spread_constraints) {
      if (c.do_not_schedule) hard_.push_back(c);
    }
    if (hard_.empty()) return FilterCode::kSkip;
    domains_.assign(hard_.size(), DomainCounts());
    hard_keys_.clear();
    for (const SpreadConstraint& c : hard_) hard_keys_.push_back(spreadCountKey(c, ctx.pod.ns));
    if (countFromIndexes(ctx)) {
      for (DomainCounts& d : domains_) d.recomputeMin();
      return FilterCode::kSuccess;
    }
    for (const NodeInfo* node : ctx.snapshot.nodes()) {
      if (!hasAllTopologyKeys(*node, hard_)) continue;
      for (size_t i = 0; i < hard_.size(); ++i) {
        const SpreadConstraint& c = hard_[i];
        if (!includesNode(c, ctx.pod, *node)) continue;
        domains_[i].counts[*node->label(c.topology_key)] += countPodsMatching(*node, c, ctx.pod.ns, hard_keys_[i]);
      }
    }
    for (DomainCounts& d : domains_) d.recomputeMin();
    return FilterCode::kSuccess;
  }

  // preFilter's counts without visiting every node, when the snapshot's
  // indexes give the same answer: every constraint's selector is one
  // label (hard_keys_), every node with the topology keys is eligible (the
  // pod constrains no node, and taints are ignored), and the eligible
  // nodes are known from the keys alone (one constraint, or every node has
  // every key). Then the domains are the key's values, and the counts are
  // the snapshot's per-domain counts for that label. False when it cannot.
  bool countFromIndexes(const CycleContext& ctx) {
    const PodInfo& pod = ctx.pod;
    bool pod_constrains_nodes =
        (pod.node_selector && !pod.node_selector->empty()) || pod.required_node_affinity.has_value();
    for (size_t i = 0; i < hard_.size(); ++i) {
      const SpreadConstraint& c = hard_[i];
      if (hard_keys_[i].empty() || c.honor_node_taints || (c.honor_node_affinity && pod_constrains_nodes))
        return false;
      if (hard_.size() > 1 && ctx.snapshot.numNodesWithLabel(c.topology_key) != ctx.snapshot.numNodes())
        return false;
    }
    for (size_t i = 0; i < hard_.size(); ++i) {
      const SpreadConstraint& c = hard_[i];
      const auto* values = ctx.snapshot.labelValues(c.topology_key);
      if (!values) continue;
      const auto& pods = ctx.snapshot.podCountsByDomain(hard_keys_[i], c.topology_key);
      auto& counts = domains_[i].counts;
      for (const auto& [value, nodes] : *values) {
        auto it = pods.find(value);
        counts.emplace(value, it == pods.end() ? 0 : it->second);
      }
    }
    return true;
  }

  FilterCode filter(const CycleContext& ctx, const NodeInfo& node,
                    std::vector<std::string>& reasons) const override {
    for (size_t i = 0; i < hard_.size(); ++i) {
      const SpreadConstraint& c = hard_[i];
      const std::string* value = node.label(c.topology_key);
      if (!value) {
        reasons.emplace_back(kReasonSpreadMissingLabel);
        return FilterCode::kUnschedulableAndUnresolvable;
      }
      const DomainCounts& d = domains_[i];
      int64_t min = d.min;
      if (static_cast<int64_t>(d.counts.size()) < c.min_domains) min = 0;
      int64_t self = spreadSelectorMatches(c, ctx.pod) ? 1 : 0;
      auto it = d.counts.find(*value);
      int64_t matching = it == d.counts.end() ? 0 : it->second;
      if (matching + self - min > c.max_skew) {
        reasons.emplace_back(kReasonSpread);
        return FilterCode::kUnschedulable;
      }
    }
    return FilterCode::kSuccess;
  }

  void addPod(const CycleContext& ctx, const PodInfo& other, const NodeInfo& node) override {
    update(ctx, other, node, 1);
  }
  void removePod(const CycleContext& ctx, const PodInfo& other, const NodeInfo& node) override {
    update(ctx, other, node, -1);
  }

  // ---- scoring

  bool preScore(const CycleContext& ctx, std::span<const NodeInfo* const> feasible) override {
    soft_.clear();
    const PodInfo& pod = ctx.pod;
    bool system_defaulted = false;
    if (!pod.spread_constraints.empty()) {
      for (const SpreadConstraint& c : pod.spread_constraints) {
        if (!c.do_not_schedule) soft_.push_back(c);
      }
    } else if (default_spreading_ && !pod.owner_uid.empty()) {
      system_defaulted = true;
      for (auto [key, skew] : {std::pair{kLabelHostname, 3}, std::pair{kLabelZone, 5}}) {
        SpreadConstraint c;
        c.max_skew = skew;
        c.topology_key = std::string(key);
        c.do_not_schedule = false;
        c.owner_uid = pod.owner_uid;
        soft_.push_back(std::move(c));
      }
    }
    if (soft_.empty() || feasible.empty()) return false;
    bool require_all = !system_defaulted;
    soft_keys_.clear();
    for (const SpreadConstraint& c : soft_) soft_keys_.push_back(spreadCountKey(c, pod.ns));

    ignored_.clear();
    soft_domains_.assign(soft_.size(), DomainCounts());
    size_t scored_nodes = 0;
    for (const NodeInfo* node : feasible) {
      if (require_all && !hasAllTopologyKeys(*node, soft_)) {
        ignored_.push_back(node);
        continue;
      }
      ++scored_nodes;
      for (size_t i = 0; i < soft_.size(); ++i) {
        if (soft_[i].topology_key == kLabelHostname) continue;  // counted per node in score()
        // A node without the label scores nothing for this constraint, so
        // its (empty-valued) domain need not be counted.
        if (const std::string* v = node->label(soft_[i].topology_key)) soft_domains_[i].counts.emplace(*v, 0);
      }
    }
    std::sort(ignored_.begin(), ignored_.end());
    weights_.assign(soft_.size(), 0.0);
    for (size_t i = 0; i < soft_.size(); ++i) {
      size_t size = soft_[i].topology_key == kLabelHostname ? scored_nodes : soft_domains_[i].counts.size();
      weights_[i] = std::log(static_cast<double>(size + 2));
    }
    bool any_domain = std::any_of(soft_domains_.begin(), soft_domains_.end(),
                                  [](const DomainCounts& d) { return !d.counts.empty(); });
    if (any_domain && system_defaulted) {
      // Only nodes holding pods of the owner add to a domain's count.
      if (const auto* by_node = ctx.snapshot.podsByOwner(pod.owner_uid)) {
        for (const auto& [node, count] : *by_node) {
          if (!node->object) continue;
          for (size_t i = 0; i < soft_.size(); ++i) {
            DomainCounts& d = soft_domains_[i];
            if (d.counts.empty() || !includesNode(soft_[i], pod, *node)) continue;
            const std::string* v = node->label(soft_[i].topology_key);
            if (!v) continue;
            auto it = d.counts.find(*v);
            if (it != d.counts.end()) it->second += countPodsMatching(*node, soft_[i], pod.ns);
          }
        }
      }
    } else if (any_domain) {
      for (const NodeInfo* node : ctx.snapshot.nodes()) {
        if (require_all && !hasAllTopologyKeys(*node, soft_)) continue;
        for (size_t i = 0; i < soft_.size(); ++i) {
          DomainCounts& d = soft_domains_[i];
          if (d.counts.empty() || !includesNode(soft_[i], pod, *node)) continue;
          const std::string* v = node->label(soft_[i].topology_key);
          if (!v) continue;
          auto it = d.counts.find(*v);
          if (it != d.counts.end()) it->second += countPodsMatching(*node, soft_[i], pod.ns, soft_keys_[i]);
        }
      }
    }
    return true;
  }

  int64_t score(const CycleContext& ctx, const NodeInfo& node) const override {
    if (isIgnored(node)) return 0;
    double total = 0;
    for (size_t i = 0; i < soft_.size(); ++i) {
      const SpreadConstraint& c = soft_[i];
      const std::string* v = node.label(c.topology_key);
      if (!v) continue;
      int64_t count = 0;
      if (c.topology_key == kLabelHostname) {
        count = countPodsMatching(node, c, ctx.pod.ns, soft_keys_[i]);
      } else {
        auto it = soft_domains_[i].counts.find(*v);
        if (it != soft_domains_[i].counts.end()) count = it->second;
      }
      total += static_cast<double>(count) * weights_[i] + static_cast<double>(c.max_skew - 1);
    }
    return static_cast<int64_t>(std::round(total));
  }

  void normalize(const CycleContext&, std::span<const NodeInfo* const> feasible,
                 std::span<int64_t> scores) const override {
    int64_t lo = INT64_MAX, hi = 0;
    for (size_t i = 0; i < scores.size(); ++i) {
      if (isIgnored(*feasible[i])) continue;
      lo = std::min(lo, scores[i]);
      hi = std::max(hi, scores[i]);
    }
    for (size_t i = 0; i < scores.size(); ++i) {
      if (isIgnored(*feasible[i])) {
        scores[i] = 0;
      } else if (hi == 0) {
        scores[i] = kMaxNodeScore;
      } else {
        scores[i] = kMaxNodeScore * (hi + lo - scores[i]) / hi;
      }
    }
  }

 private:
  bool isIgnored(const NodeInfo& node) const {
    return !ignored_.empty() && std::binary_search(ignored_.begin(), ignored_.end(), &node);
  }

  void update(const CycleContext& ctx, const PodInfo& other, const NodeInfo& node, int64_t delta) {
    if (hard_.empty() || other.ns != ctx.pod.ns || !hasAllTopologyKeys(node, hard_)) return;
    for (size_t i = 0; i < hard_.size(); ++i) {
      const SpreadConstraint& c = hard_[i];
      if (!spreadSelectorMatches(c, other) || !includesNode(c, ctx.pod, node)) continue;
      domains_[i].counts[*node.label(c.topology_key)] += delta;
      domains_[i].recomputeMin();
    }
  }

  bool default_spreading_;
  std::vector<SpreadConstraint> hard_;
  std::vector<DomainCounts> domains_;
  std::vector<std::string> hard_keys_;  // spreadCountKey per hard_ constraint
  std::vector<SpreadConstraint> soft_;
  std::vector<std::string> soft_keys_;  // spreadCountKey per soft_ constraint
  std::vector<DomainCounts> soft_domains_;
  std::vector<double> weights_;
  std::vector<const NodeInfo*> ignored_;  // sorted
};

}  // namespace

std::unique_ptr<Plugin> newPodTopologySpread(bool default_spreading) {
  return std::make_unique<PodTopologySpread>(default_spreading);
}

}  // namespace capstan::scheduler
