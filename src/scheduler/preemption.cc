// DefaultPreemption's PostFilter (pkg/scheduler/framework/preemption and
// plugins/defaultpreemption): on each node where preemption might help,
// remove every pod of lower priority, check the pod fits, then reprieve the
// most important victims while it still fits; pick the node whose victims
// matter least. PodDisruptionBudgets are not considered.
#include <algorithm>
#include <limits>
#include <unordered_set>

#include "scheduler/scheduler_impl.h"

namespace capstan::scheduler {
namespace {

constexpr std::string_view kNotHelpful = "Preemption is not helpful for scheduling";
constexpr std::string_view kNoVictims = "No preemption victims found for incoming pod";
constexpr int kMinCandidateNodesPercentage = 10;
constexpr int kMinCandidateNodesAbsolute = 100;

// util.MoreImportantPod: higher priority, then the one that started first.
bool moreImportant(const PodInfo* a, const PodInfo* b) {
  if (a->priority != b->priority) return a->priority > b->priority;
  return a->start_time < b->start_time;
}

struct Candidate {
  const NodeInfo* node = nullptr;
  std::vector<const PodInfo*> victims;  // most important first
};

// pickOneNodeForPreemption without the PDB criterion.
size_t pickOne(const std::vector<Candidate>& candidates) {
  std::vector<size_t> best(candidates.size());
  for (size_t i = 0; i < best.size(); ++i) best[i] = i;
  auto keep_min = [&](auto key) {
    if (best.size() <= 1) return;
    int64_t lo = std::numeric_limits<int64_t>::max();
    for (size_t i : best) lo = std::min(lo, key(candidates[i]));
    std::erase_if(best, [&](size_t i) { return key(candidates[i]) != lo; });
  };
  keep_min([](const Candidate& c) { return static_cast<int64_t>(c.victims.front()->priority); });
  keep_min([](const Candidate& c) {
    int64_t sum = 0;
    for (const PodInfo* v : c.victims)
      sum += static_cast<int64_t>(v->priority) + std::numeric_limits<int32_t>::max() + 1;
    return sum;
  });
  keep_min([](const Candidate& c) { return static_cast<int64_t>(c.victims.size()); });
  // The latest start among each node's earliest-started highest-priority victims.
  keep_min([](const Candidate& c) {
    int64_t earliest = std::numeric_limits<int64_t>::max();
    for (const PodInfo* v : c.victims) {
      if (v->priority == c.victims.front()->priority) earliest = std::min(earliest, v->start_time);
    }
    return -earliest;
  });
  return best.front();
}

}  // namespace

Result<PreemptionResult> Scheduler::preempt(const Json& pod, const Snapshot& snapshot,
                                            const FitError& fit_error) {
  return preempt(std::make_shared<const Json>(pod), snapshot, fit_error);
}

Result<PreemptionResult> Scheduler::preempt(std::shared_ptr<const Json> pod_object, const Snapshot& snapshot,
                                            const FitError& fit_error) {
  if (!pod_object || !pod_object->is_object()) return Status(Code::kInvalid, "pod: expected an object");
  Result<std::shared_ptr<PodInfo>> parsed = parsePod(std::move(pod_object));
  if (!parsed) return parsed.status();
  const PodInfo& pod = **parsed;
  PreemptionResult result;
  if (pod.preempt_never) {
    result.message = "preemption: not eligible due to preemptionPolicy=Never.";
    return result;
  }
  const std::vector<NodeInfo*>& nodes = snapshot.nodes();
  if (nodes.empty()) return result;

  // Nodes where preemption might help: those not rejected as unresolvable.
  FitError summary;
  summary.num_all_nodes = 0;
  std::unordered_set<std::string_view> unresolvable;
  for (const NodeFailure& f : fit_error.failures) {
    if (!f.resolvable) unresolvable.insert(f.node);
  }
  std::vector<const NodeInfo*> potential;
  for (const NodeInfo* n : nodes) {
    if (unresolvable.count(n->name)) {
      summary.failures.push_back({n->name, {std::string(kNotHelpful)}, false});
    } else {
      potential.push_back(n);
    }
  }

  Impl& s = *impl_;
  CycleContext ctx{pod, snapshot};
  std::vector<std::string> reasons;
  std::vector<Candidate> candidates;
  if (!potential.empty() && s.runPreFilters(ctx, reasons)) {
    const int n = static_cast<int>(potential.size());
    int wanted = std::max(n * kMinCandidateNodesPercentage / 100, kMinCandidateNodesAbsolute);
    wanted = std::min(wanted, n);
    const size_t offset = static_cast<size_t>(s.random() % static_cast<uint64_t>(n));
    for (int i = 0; i < n && static_cast<int>(candidates.size()) < wanted; ++i) {
      const NodeInfo& original = *potential[(offset + i) % potential.size()];
      NodeInfo node = original;  // a what-if copy
      std::vector<std::shared_ptr<const PodInfo>> lower;
      for (const auto& p : original.pods) {
        if (p->priority < pod.priority) lower.push_back(p);
      }
      if (lower.empty()) {
        summary.failures.push_back({original.name, {std::string(kNoVictims)}, false});
        continue;
      }
      std::sort(lower.begin(), lower.end(),
                [](const auto& a, const auto& b) { return moreImportant(a.get(), b.get()); });
      for (const auto& v : lower) {
        node.removePod(v->ns, v->name);
        for (Plugin* f : s.filters) f->removePod(ctx, *v, original);
      }
      reasons.clear();
      FilterCode code = s.runFilters(ctx, node, reasons);
      std::vector<const PodInfo*> victims;
      if (code == FilterCode::kSuccess) {
        for (const auto& v : lower) {
          node.addPod(v);
          for (Plugin* f : s.filters) f->addPod(ctx, *v, original);
          std::vector<std::string> ignored;
          if (s.runFilters(ctx, node, ignored) != FilterCode::kSuccess) {
            node.removePod(v->ns, v->name);
            for (Plugin* f : s.filters) f->removePod(ctx, *v, original);
            victims.push_back(v.get());
          }
        }
      } else {
        for (const auto& v : lower) victims.push_back(v.get());
        summary.failures.push_back(
            {original.name, reasons, code != FilterCode::kUnschedulableAndUnresolvable});
      }
      // Put the plugins' cycle state back as the snapshot has it.
      for (const PodInfo* v : victims) {
        for (Plugin* f : s.filters) f->addPod(ctx, *v, original);
      }
      if (code == FilterCode::kSuccess) candidates.push_back({&original, std::move(victims)});
    }
  }

  if (candidates.empty()) {
    summary.num_all_nodes = static_cast<int>(summary.failures.size());
    result.message = "preemption: " + summary.message();
    return result;
  }
  const Candidate& chosen = candidates[pickOne(candidates)];
  result.nominated_node = chosen.node->name;
  for (const PodInfo* v : chosen.victims) result.victims.push_back(v->object);
  return result;
}

}  // namespace capstan::scheduler
