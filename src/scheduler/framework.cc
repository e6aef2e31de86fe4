// The scheduling cycle (upstream's schedulePod): preFilter, filter over a
// rotating sample of nodes, preScore/score/normalize with plugin weights,
// and a random pick among the best.
#include <algorithm>
#include <iterator>

#include "scheduler/plugins/plugins.h"
#include "scheduler/scheduler_impl.h"

namespace capstan::scheduler {
namespace {

constexpr int kMinFeasibleNodesToFind = 100;
constexpr int kMinFeasibleNodesPercentageToFind = 5;

std::string joinReasons(const std::vector<std::string>& reasons) {
  std::string out;
  for (size_t i = 0; i < reasons.size(); ++i) {
    if (i > 0) out += ", ";
    out += reasons[i];
  }
  return out;
}

}  // namespace

int numFeasibleNodesToFind(int num_all_nodes, int percentage) {
  if (num_all_nodes < kMinFeasibleNodesToFind) return num_all_nodes;
  if (percentage <= 0) {
    percentage = 50 - num_all_nodes / 125;
    if (percentage < kMinFeasibleNodesPercentageToFind) percentage = kMinFeasibleNodesPercentageToFind;
  }
  if (percentage > 100) percentage = 100;
  int n = static_cast<int>(static_cast<int64_t>(num_all_nodes) * percentage / 100);
  return n < kMinFeasibleNodesToFind ? kMinFeasibleNodesToFind : n;
}

Scheduler::Impl::Impl(Config c, RandomSource r) : config(c), random_source(std::move(r)) {
  // Upstream's default profile (v1.31): filter order and score weights.
  auto add = [&](std::unique_ptr<Plugin> p, int weight) {
    p->setWeight(weight);
    if (p->hasFilter()) filters.push_back(p.get());
    if (weight > 0) scorers.push_back(p.get());
    plugins.push_back(std::move(p));
  };
  add(newNodeUnschedulable(), 0);
  add(newNodeName(), 0);
  add(newTaintToleration(), 3);
  add(newNodeAffinity(), 2);
  add(newNodePorts(), 0);
  add(newNodeResourcesFit(), 1);
  add(newPodTopologySpread(config.default_spreading), 2);
  add(newInterPodAffinity(config.hard_pod_affinity_weight), 2);
  add(newNodeResourcesBalancedAllocation(), 1);
  filter_skipped.assign(filters.size(), 0);
}

uint64_t Scheduler::Impl::random() { return random_source ? random_source() : 0; }

bool Scheduler::Impl::runPreFilters(const CycleContext& ctx, std::vector<std::string>& out) {
  for (size_t i = 0; i < filters.size(); ++i) {
    FilterCode code = filters[i]->preFilter(ctx, out);
    filter_skipped[i] = code == FilterCode::kSkip;
    if (code == FilterCode::kUnschedulable || code == FilterCode::kUnschedulableAndUnresolvable) return false;
  }
  return true;
}

FilterCode Scheduler::Impl::runFilters(const CycleContext& ctx, const NodeInfo& node,
                                       std::vector<std::string>& out) {
  for (size_t i = 0; i < filters.size(); ++i) {
    if (filter_skipped[i]) continue;
    FilterCode code = filters[i]->filter(ctx, node, out);
    if (code != FilterCode::kSuccess) return code;
  }
  return FilterCode::kSuccess;
}

Scheduler::Scheduler(Config config, RandomSource random)
    : impl_(std::make_unique<Impl>(config, std::move(random))) {}
Scheduler::~Scheduler() = default;

Result<ScheduleResult> Scheduler::schedule(const Json& pod, const Snapshot& snapshot) {
  return schedule(std::make_shared<const Json>(pod), snapshot);
}

Result<ScheduleResult> Scheduler::schedule(std::shared_ptr<const Json> pod_object, const Snapshot& snapshot) {
  if (!pod_object || !pod_object->is_object()) return Status(Code::kInvalid, "pod: expected an object");
  Result<std::shared_ptr<PodInfo>> parsed = parsePod(std::move(pod_object));
  if (!parsed) return parsed.status();
  const PodInfo& pod = **parsed;
  Impl& s = *impl_;
  ScheduleResult result;
  const std::vector<NodeInfo*>& nodes = snapshot.nodes();
  const int num_nodes = static_cast<int>(nodes.size());
  result.fit_error.num_all_nodes = num_nodes;
  if (num_nodes == 0) return result;

  CycleContext ctx{pod, snapshot};
  s.reasons.clear();
  if (!s.runPreFilters(ctx, s.reasons)) {
    result.fit_error.pre_filter_msg = joinReasons(s.reasons);
    return result;
  }

  // A nominated node (set by an earlier preemption) is tried first.
  if (!pod.nominated_node.empty()) {
    if (const NodeInfo* node = snapshot.node(pod.nominated_node)) {
      s.reasons.clear();
      if (s.runFilters(ctx, *node, s.reasons) == FilterCode::kSuccess) {
        result.node = node->name;
        result.evaluated_nodes = 1;
        result.feasible_nodes = 1;
        return result;
      }
    }
  }

  // Filter a rotating window of nodes until enough are feasible.
  const int to_find = numFeasibleNodesToFind(num_nodes, s.config.percentage_of_nodes_to_score);
  s.feasible.clear();
  s.failed.clear();
  s.failure_reasons.clear();
  int processed = 0;
  size_t start = s.next_start_node % nodes.size();
  for (int i = 0; i < num_nodes && static_cast<int>(s.feasible.size()) < to_find; ++i) {
    const NodeInfo& node = *nodes[(start + i) % nodes.size()];
    ++processed;
    size_t first = s.failure_reasons.size();
    FilterCode code = s.runFilters(ctx, node, s.failure_reasons);
    if (code == FilterCode::kSuccess) {
      s.failure_reasons.resize(first);
      s.feasible.push_back(&node);
      continue;
    }
    s.failed.push_back(
        {&node, first, s.failure_reasons.size() - first, code != FilterCode::kUnschedulableAndUnresolvable});
  }
  s.next_start_node = (start + processed) % nodes.size();
  result.evaluated_nodes = processed;
  result.feasible_nodes = static_cast<int>(s.feasible.size());
  if (s.feasible.size() <= 1) {
    // Unschedulable, or the only feasible node, which is taken unscored
    // with the failures of the others kept as before.
    result.fit_error.failures.reserve(s.failed.size());
    for (const Impl::Failed& f : s.failed) {
      auto begin = s.failure_reasons.begin() + static_cast<std::ptrdiff_t>(f.first);
      result.fit_error.failures.push_back(
          {f.node->name, std::vector<std::string>(std::make_move_iterator(begin),
                                                  std::make_move_iterator(begin + static_cast<std::ptrdiff_t>(f.count))),
           f.resolvable});
    }
    if (!s.feasible.empty()) result.node = s.feasible[0]->name;
    return result;
  }

  // Score: sum of weight * normalised score per plugin.
  std::span<const NodeInfo* const> feasible(s.feasible.data(), s.feasible.size());
  s.totals.assign(feasible.size(), 0);
  for (Plugin* p : s.scorers) {
    if (!p->preScore(ctx, feasible)) continue;
    s.plugin_scores.resize(feasible.size());
    for (size_t i = 0; i < feasible.size(); ++i) s.plugin_scores[i] = p->score(ctx, *feasible[i]);
    p->normalize(ctx, feasible, s.plugin_scores);
    for (size_t i = 0; i < feasible.size(); ++i) s.totals[i] += s.plugin_scores[i] * p->weight();
  }

  // selectHost: reservoir sampling among the highest totals.
  size_t best = 0;
  uint64_t ties = 1;
  for (size_t i = 1; i < feasible.size(); ++i) {
    if (s.totals[i] > s.totals[best]) {
      best = i;
      ties = 1;
    } else if (s.totals[i] == s.totals[best]) {
      ++ties;
      if (s.random() % ties == 0) best = i;
    }
  }
  result.node = feasible[best]->name;
  return result;
}

}  // namespace capstan::scheduler
