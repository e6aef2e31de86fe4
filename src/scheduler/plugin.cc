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
