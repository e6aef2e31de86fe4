#include "controllers/active_pods.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "controllers/object_fields.h"
#include "controllers/pod_template.h"

namespace capstan::controllers {
namespace {

std::string nodeOf(const Json& pod) { return stringField(specOf(pod), "nodeName"); }

int phaseOrdinal(const Json& pod) {
  std::string phase = podPhase(pod);
  if (phase == "Pending") return 0;
  if (phase == "Unknown") return 1;
  if (phase == "Running") return 2;
  return 0;  // upstream's map yields 0 for anything else
}

int64_t deletionCost(const Json& pod) {
  std::string s =
      stringField(objectField(metadataOf(pod), "annotations"), "controller.kubernetes.io/pod-deletion-cost");
  int32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() ? v : 0;
}

std::optional<WallTime> readyTime(const Json& pod) {
  const Json* c = findCondition(pod, "Ready");
  if (!c || stringField(*c, "status") != "True") return std::nullopt;
  return timeField(*c, "lastTransitionTime");
}

std::optional<WallTime> createdAt(const Json& pod) { return timeField(metadataOf(pod), "creationTimestamp"); }

std::pair<int64_t, int64_t> maxRestarts(const Json& pod) {
  int64_t regular = 0, sidecar = 0;
  for (const auto& c : arrayField(statusOf(pod), "containerStatuses"))
    regular = std::max(regular, intField(c, "restartCount"));
  std::set<std::string> sidecars;
  for (const auto& c : arrayField(specOf(pod), "initContainers"))
    if (stringField(c, "restartPolicy") == "Always") sidecars.insert(stringField(c, "name"));
  for (const auto& c : arrayField(statusOf(pod), "initContainerStatuses"))
    if (sidecars.count(stringField(c, "name"))) sidecar = std::max(sidecar, intField(c, "restartCount"));
  return {regular, sidecar};
}

int64_t logRank(WallTime t, WallTime now) {
  auto d = std::chrono::duration_cast<std::chrono::nanoseconds>(now - t).count();
  return d > 0 ? static_cast<int64_t>(std::log2(static_cast<double>(d))) : -1;
}

struct Ranked {
  client::ObjectPtr pod;
  int rank;  // related pods on its node
};

// Upstream's afterOrZero with logarithmic buckets: an unset time first,
// then the later (newer) time.
std::optional<bool> newerFirst(const std::optional<WallTime>& a, const std::optional<WallTime>& b,
                               WallTime now, const Json& pa, const Json& pb) {
  if (a == b) return std::nullopt;
  if (!a || !b) return !a;
  int64_t diff = logRank(*a, now) - logRank(*b, now);
  if (diff == 0) return stringField(metadataOf(pa), "uid") < stringField(metadataOf(pb), "uid");
  return diff < 0;
}

bool deleteBefore(const Ranked& x, const Ranked& y, WallTime now) {
  const Json& a = *x.pod;
  const Json& b = *y.pod;
  std::string na = nodeOf(a), nb = nodeOf(b);
  if (na != nb && (na.empty() || nb.empty())) return na.empty();
  if (phaseOrdinal(a) != phaseOrdinal(b)) return phaseOrdinal(a) < phaseOrdinal(b);
  bool ra = isPodReady(a), rb = isPodReady(b);
  if (ra != rb) return !ra;
  if (deletionCost(a) != deletionCost(b)) return deletionCost(a) < deletionCost(b);
  if (x.rank != y.rank) return x.rank > y.rank;
  if (ra && rb)
    if (auto r = newerFirst(readyTime(a), readyTime(b), now, a, b)) return *r;
  auto [rega, sidea] = maxRestarts(a);
  auto [regb, sideb] = maxRestarts(b);
  if (rega != regb) return rega > regb;
  if (sidea != sideb) return sidea > sideb;
  if (auto r = newerFirst(createdAt(a), createdAt(b), now, a, b)) return *r;
  return false;
}

}  // namespace

void rankPodsForDeletion(std::vector<client::ObjectPtr>& pods, const std::vector<client::ObjectPtr>& related,
                         WallTime now) {
  std::map<std::string, int> on_node;
  for (const auto& p : related)
    if (isPodActive(*p)) ++on_node[nodeOf(*p)];
  std::vector<Ranked> ranked;
  ranked.reserve(pods.size());
  for (auto& p : pods) ranked.push_back({p, on_node[nodeOf(*p)]});
  std::stable_sort(ranked.begin(), ranked.end(),
                   [now](const Ranked& x, const Ranked& y) { return deleteBefore(x, y, now); });
  for (size_t i = 0; i < pods.size(); ++i) pods[i] = ranked[i].pod;
}

}  // namespace capstan::controllers
