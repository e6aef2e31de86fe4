#pragma once
// Scheduler's private parts, shared by the scheduling cycle (framework.cc)
// and preemption (preemption.cc).

#include <memory>
#include <string>
#include <vector>

#include "scheduler/framework.h"
#include "scheduler/plugin.h"

namespace capstan::scheduler {

struct Scheduler::Impl {
  Impl(Config c, RandomSource r);

  // Runs every filter plugin's preFilter. False when one rejected the pod
  // (reasons then hold its message parts).
  bool runPreFilters(const CycleContext& ctx, std::vector<std::string>& reasons);
  // Runs the filters that preFilter did not skip, in order, stopping at the
  // first failure (its reasons appended to `reasons`).
  FilterCode runFilters(const CycleContext& ctx, const NodeInfo& node, std::vector<std::string>& reasons);
  uint64_t random();

  Config config;
  RandomSource random_source;
  std::vector<std::unique_ptr<Plugin>> plugins;  // filter order, then score-only ones
  std::vector<Plugin*> filters;
  std::vector<Plugin*> scorers;
  std::vector<char> filter_skipped;  // per filter, this cycle
  size_t next_start_node = 0;

  // Scratch reused between cycles.
  std::vector<const NodeInfo*> feasible;
  std::vector<int64_t> totals;
  std::vector<int64_t> plugin_scores;
  std::vector<std::string> reasons;
  // Nodes that failed a filter this cycle, their reasons in failure_reasons
  // [first, first + count): a FitError is built from them only when no node
  // fits, so a successful cycle copies no names or reason lists.
  struct Failed {
    const NodeInfo* node;
    size_t first;
    size_t count;
    bool resolvable;
  };
  std::vector<Failed> failed;
  std::vector<std::string> failure_reasons;
};

}  // namespace capstan::scheduler
