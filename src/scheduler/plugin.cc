#include "scheduler/plugin.h"

namespace capstan::scheduler {

void defaultNormalizeScore(int64_t max_priority, bool reverse, std::span<int64_t> scores) {
  int64_t max_count = 0;
  for (int64_t s : scores) max_count = std::max(max_count, s);
  if (max_count == 0) {
    if (reverse) {
      for (int64_t& s : scores) s = max_priority;
    }
    return;
  }
  for (int64_t& s : scores) {
    s = max_priority * s / max_count;
    if (reverse) s = max_priority - s;
  }
}

bool spreadSelectorMatches(const SpreadConstraint& c, const PodInfo& pod) {
  if (!c.owner_uid.empty()) return pod.owner_uid == c.owner_uid;
  return !c.selector_matches_nothing && c.selector.matches(*pod.labels);
}

std::string spreadCountKey(const SpreadConstraint& c, std::string_view ns) {
  if (!c.owner_uid.empty() || c.selector_matches_nothing) return {};
  const auto& reqs = c.selector.requirements();
  if (reqs.size() != 1) return {};
  const api::LabelRequirement& r = reqs[0];
  bool exact = r.op == api::LabelRequirement::Op::kEquals ||
               (r.op == api::LabelRequirement::Op::kIn && r.values.size() == 1);
  if (!exact || r.values.size() != 1) return {};
  return podLabelKey(ns, r.key, r.values[0]);
}

int countPodsMatching(const NodeInfo& node, const SpreadConstraint& c, std::string_view ns,
                      const std::string& count_key) {
  // The index counts terminating pods too, which spreading leaves out.
  if (!count_key.empty() && node.terminating_pods == 0) return node.podsWithLabel(count_key);
  return countPodsMatching(node, c, ns);
}

int countPodsMatching(const NodeInfo& node, const SpreadConstraint& c, std::string_view ns) {
  // As upstream's countPodsMatchSelector, an empty selector counts nothing.
  if (c.owner_uid.empty() && (c.selector_matches_nothing || c.selector.empty())) return 0;
  int count = 0;
  for (const auto& p : node.pods) {
    if (p->terminating || p->ns != ns) continue;
    if (spreadSelectorMatches(c, *p)) ++count;
  }
  return count;
}

}  // namespace capstan::scheduler
