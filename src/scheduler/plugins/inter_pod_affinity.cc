// interpodaffinity: required pod affinity and anti-affinity of the incoming
// pod, and the required anti-affinity of pods already placed (symmetry),
// counted per topology pair in preFilter (filter); preferred terms of both
// sides and existing pods' required affinity at hardPodAffinityWeight
// (score, min-max normalised).
#include <algorithm>
#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "scheduler/plugins/plugins.h"

namespace capstan::scheduler {
namespace {

// A topology pair "key\0value" -> count; zero counts are erased so that
// empty() means "no pair counted" as upstream's len(map) == 0.
const std::vector<NodeInfo*> kNoNodes;

class PairCounts {
 public:
  void clear() { counts_.clear(); }
  bool empty() const { return counts_.empty(); }
  void add(const std::string& key, const NodeInfo& node, int64_t delta) {
    const std::string* value = node.label(key);
    if (!value) return;
    std::string pair = key;
    pair.push_back('\0');
    pair += *value;
    int64_t& c = counts_[pair];
    c += delta;
    if (c == 0) counts_.erase(pair);
  }
  int64_t get(const std::string& key, const std::string& value) const {
    if (counts_.empty()) return 0;
    scratch_ = key;
    scratch_.push_back('\0');
    scratch_ += value;
    auto it = counts_.find(scratch_);
    return it == counts_.end() ? 0 : it->second;
  }
  // True when the node carries any counted pair (with a positive count).
  bool anyOn(const NodeInfo& node) const {
    for (const auto& [pair, count] : counts_) {
      if (count <= 0) continue;
      size_t sep = pair.find('\0');
      const std::string* value = node.label(std::string_view(pair).substr(0, sep));
      if (value && *value == std::string_view(pair).substr(sep + 1)) return true;
    }
    return false;
  }

 private:
  std::unordered_map<std::string, int64_t> counts_;
  mutable std::string scratch_;
};

class InterPodAffinity final : public Plugin {
 public:
  explicit InterPodAffinity(int hard_weight) : hard_weight_(hard_weight) {}
  std::string_view name() const override { return "InterPodAffinity"; }
  bool hasFilter() const override { return true; }

  FilterCode preFilter(const CycleContext& ctx, std::vector<std::string>&) override {
    existing_anti_.clear();
    affinity_.clear();
    anti_affinity_.clear();
    const PodInfo& pod = ctx.pod;
    // Existing pods' required anti-affinity, on the nodes that hold any.
    const auto& nodes = ctx.snapshot.podsWithRequiredAntiAffinity() > 0 ? ctx.snapshot.nodes() : kNoNodes;
    for (const NodeInfo* node : nodes) {
      if (node->pods_with_required_anti_affinity == 0) continue;
      for (const auto& existing : node->pods) {
        for (const AffinityTerm& t : existing->required_anti_affinity) {
          if (termMatches(t, pod, ctx.snapshot)) existing_anti_.add(t.topology_key, *node, 1);
        }
      }
    }
    if (!pod.required_affinity.empty() || !pod.required_anti_affinity.empty()) {
      for (const NodeInfo* node : ctx.snapshot.nodes()) {
        for (const auto& existing : node->pods) countIncoming(ctx, *existing, *node, 1);
      }
    }
    if (existing_anti_.empty() && pod.required_affinity.empty() && pod.required_anti_affinity.empty()) {
      return FilterCode::kSkip;
    }
    return FilterCode::kSuccess;
  }

  FilterCode filter(const CycleContext& ctx, const NodeInfo& node,
                    std::vector<std::string>& reasons) const override {
    if (!satisfiesAffinity(ctx, node)) {
      reasons.emplace_back(kReasonAffinity);
      return FilterCode::kUnschedulableAndUnresolvable;
    }
    if (!anti_affinity_.empty()) {
      for (const AffinityTerm& t : ctx.pod.required_anti_affinity) {
        const std::string* value = node.label(t.topology_key);
        if (value && anti_affinity_.get(t.topology_key, *value) > 0) {
          reasons.emplace_back(kReasonAntiAffinity);
          return FilterCode::kUnschedulable;
        }
      }
    }
    if (existing_anti_.anyOn(node)) {
      reasons.emplace_back(kReasonExistingAntiAffinity);
      return FilterCode::kUnschedulable;
    }
    return FilterCode::kSuccess;
  }

  void addPod(const CycleContext& ctx, const PodInfo& other, const NodeInfo& node) override {
    update(ctx, other, node, 1);
  }
  void removePod(const CycleContext& ctx, const PodInfo& other, const NodeInfo& node) override {
    update(ctx, other, node, -1);
  }

  bool preScore(const CycleContext& ctx, std::span<const NodeInfo* const> feasible) override {
    scores_.clear();
    const PodInfo& pod = ctx.pod;
    bool has_preferred = !pod.preferred_affinity.empty() || !pod.preferred_anti_affinity.empty();
    // score() reads only the (topology key, value) pairs of the feasible
    // nodes, so only nodes sharing such a pair can contribute: with hostname
    // terms that is the feasible nodes themselves, not the whole cluster.
    keys_.clear();
    for (const auto* terms : {&pod.preferred_affinity, &pod.preferred_anti_affinity}) {
      for (const AffinityTerm& t : *terms) keys_.push_back(t.topology_key);
    }
    for (const auto& [key, count] : ctx.snapshot.affinityTopologyKeys()) keys_.push_back(key);
    std::sort(keys_.begin(), keys_.end());
    keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
    visit_.clear();
    for (const std::string& key : keys_) {
      values_.clear();
      for (const NodeInfo* node : feasible) {
        const std::string* value = node->label(key);
        if (!value || !values_.insert(*value).second) continue;
        if (const auto* nodes = ctx.snapshot.nodesWithLabel(key, *value)) {
          visit_.insert(visit_.end(), nodes->begin(), nodes->end());
        }
      }
    }
    if (keys_.size() > 1) {
      std::sort(visit_.begin(), visit_.end());
      visit_.erase(std::unique(visit_.begin(), visit_.end()), visit_.end());
    }
    indexKeys(ctx.snapshot, pod.preferred_affinity, affinity_keys_);
    indexKeys(ctx.snapshot, pod.preferred_anti_affinity, anti_affinity_keys_);
    if (has_preferred) {
      for (const NodeInfo* node : visit_) {
        scoreIncoming(ctx, pod.preferred_affinity, affinity_keys_, *node, 1);
        scoreIncoming(ctx, pod.preferred_anti_affinity, anti_affinity_keys_, *node, -1);
      }
    }
    scoreExistingTerms(ctx);
    return !scores_.empty();
  }

  int64_t score(const CycleContext&, const NodeInfo& node) const override {
    int64_t total = 0;
    for (const auto& [key, values] : scores_) {
      const std::string* value = node.label(key);
      if (!value) continue;
      auto it = values.find(*value);
      if (it != values.end()) total += it->second;
    }
    return total;
  }

  void normalize(const CycleContext&, std::span<const NodeInfo* const>,
                 std::span<int64_t> scores) const override {
    if (scores.empty()) return;
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
    for (int64_t s : scores) {
      lo = std::min(lo, s);
      hi = std::max(hi, s);
    }
    int64_t diff = hi - lo;
    for (int64_t& s : scores) {
      double f = diff > 0 ? static_cast<double>(kMaxNodeScore) * (static_cast<double>(s - lo) / diff) : 0.0;
      s = static_cast<int64_t>(f);
    }
  }

 private:
  void countIncoming(const CycleContext& ctx, const PodInfo& existing, const NodeInfo& node, int64_t delta) {
    for (const AffinityTerm& t : ctx.pod.required_affinity) {
      if (termMatches(t, existing, ctx.snapshot)) affinity_.add(t.topology_key, node, delta);
    }
    for (const AffinityTerm& t : ctx.pod.required_anti_affinity) {
      if (termMatches(t, existing, ctx.snapshot)) anti_affinity_.add(t.topology_key, node, delta);
    }
  }

  void update(const CycleContext& ctx, const PodInfo& other, const NodeInfo& node, int64_t delta) {
    for (const AffinityTerm& t : other.required_anti_affinity) {
      if (termMatches(t, ctx.pod, ctx.snapshot)) existing_anti_.add(t.topology_key, node, delta);
    }
    countIncoming(ctx, other, node, delta);
  }

  bool satisfiesAffinity(const CycleContext& ctx, const NodeInfo& node) const {
    bool pods_exist = true;
    for (const AffinityTerm& t : ctx.pod.required_affinity) {
      const std::string* value = node.label(t.topology_key);
      if (!value) return false;  // every topology label must be on the node
      if (affinity_.get(t.topology_key, *value) <= 0) pods_exist = false;
    }
    if (pods_exist) return true;
    // The first pod of a group with affinity to itself may go anywhere its
    // topology labels exist, when no pod matches its terms yet.
    if (!affinity_.empty()) return false;
    return std::all_of(ctx.pod.required_affinity.begin(), ctx.pod.required_affinity.end(),
                       [&](const AffinityTerm& t) { return termMatches(t, ctx.pod, ctx.snapshot); });
  }

  void addScore(const std::string& key, const NodeInfo& node, int64_t delta) {
    const std::string* value = node.label(key);
    if (!value) return;
    scores_[key][*value] += delta;
  }

  // Per term: the snapshot's indexes of the nodes hosting the pods it
  // matches (one per namespace; null when no pod has the label), or not
  // indexed when it needs the full match (a namespaceSelector, or a
  // selector other than one key = value).
  struct Hosting {
    bool indexed = false;
    std::vector<const std::unordered_map<const NodeInfo*, int>*> maps;
  };
  using HostingIndexes = std::vector<Hosting>;

  static void indexKeys(const Snapshot& snapshot, const std::vector<AffinityTerm>& terms, HostingIndexes& out) {
    out.assign(terms.size(), {});
    for (size_t i = 0; i < terms.size(); ++i) {
      const AffinityTerm& t = terms[i];
      if (t.selector_matches_nothing || t.namespace_selector || t.namespaces.empty()) continue;
      const auto& reqs = t.selector.requirements();
      if (reqs.size() != 1 || reqs[0].values.size() != 1) continue;
      if (reqs[0].op != api::LabelRequirement::Op::kEquals && reqs[0].op != api::LabelRequirement::Op::kIn) continue;
      std::vector<std::string> namespaces = t.namespaces;
      std::sort(namespaces.begin(), namespaces.end());
      namespaces.erase(std::unique(namespaces.begin(), namespaces.end()), namespaces.end());
      out[i].indexed = true;
      for (const std::string& ns : namespaces)
        out[i].maps.push_back(snapshot.nodesWithPodLabel(podLabelKey(ns, reqs[0].key, reqs[0].values[0])));
    }
  }

  // The incoming pod's preferred terms against every pod on `node`.
  void scoreIncoming(const CycleContext& ctx, const std::vector<AffinityTerm>& terms, const HostingIndexes& keys,
                     const NodeInfo& node, int64_t multiplier) {
    for (size_t i = 0; i < terms.size(); ++i) {
      const AffinityTerm& t = terms[i];
      if (t.weight == 0) continue;
      int64_t matching = 0;
      if (keys[i].indexed) {
        // Through the snapshot's one index (keyed by node) rather than
        // each node's own (keyed by label text): no string hashed per node.
        for (const auto* hosting : keys[i].maps) {
          if (!hosting) continue;
          auto it = hosting->find(&node);
          if (it != hosting->end()) matching += it->second;
        }
      } else {
        for (const auto& existing : node.pods) matching += termMatches(t, *existing, ctx.snapshot) ? 1 : 0;
      }
      if (matching > 0) addScore(t.topology_key, node, t.weight * multiplier * matching);
    }
  }

  // The terms of the pods on the visited nodes against the incoming pod:
  // each group of like terms is matched once, then counted per node.
  void scoreExistingTerms(const CycleContext& ctx) {
    using Kind = Snapshot::TermGroup::Kind;
    const auto& groups = ctx.snapshot.termGroups();
    if (groups.empty()) return;
    bool visit_set_built = false;
    for (const auto& [key, g] : groups) {
      int64_t per_term = g.kind == Kind::kRequiredAffinity       ? hard_weight_
                         : g.kind == Kind::kPreferredAffinity    ? g.term.weight
                                                                 : -int64_t{g.term.weight};
      if (per_term == 0 || !termMatches(g.term, ctx.pod, ctx.snapshot)) continue;
      auto score = [&](const NodeInfo& node, int terms) {
        // Upstream scores required affinity only on nodes with labels.
        if (g.kind == Kind::kRequiredAffinity && node.labels->empty()) return;
        addScore(g.term.topology_key, node, per_term * terms);
      };
      if (g.nodes.size() < visit_.size()) {
        if (!visit_set_built) {
          visit_set_.clear();
          visit_set_.insert(visit_.begin(), visit_.end());
          visit_set_built = true;
        }
        for (const auto& [node, terms] : g.nodes)
          if (visit_set_.count(node)) score(*node, terms);
      } else {
        for (const NodeInfo* node : visit_) {
          auto it = g.nodes.find(node);
          if (it != g.nodes.end()) score(*node, it->second);
        }
      }
    }
  }

  int hard_weight_;
  PairCounts existing_anti_;
  PairCounts affinity_;
  PairCounts anti_affinity_;
  std::unordered_map<std::string, std::unordered_map<std::string, int64_t>> scores_;
  // preScore scratch: topology keys in use, values seen, nodes to visit.
  std::vector<std::string> keys_;
  std::unordered_set<std::string_view> values_;
  std::vector<const NodeInfo*> visit_;
  std::unordered_set<const NodeInfo*> visit_set_;
  HostingIndexes affinity_keys_;       // indexKeys of preferred_affinity
  HostingIndexes anti_affinity_keys_;  // and of preferred_anti_affinity
};

}  // namespace

std::unique_ptr<Plugin> newInterPodAffinity(int hard_pod_affinity_weight) {
  return std::make_unique<InterPodAffinity>(hard_pod_affinity_weight);
}

}  // namespace capstan::scheduler
