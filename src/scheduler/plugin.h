#pragma once
// The plugin interface of the scheduling framework (upstream's
// framework.PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin with
// ScoreExtensions, and PreFilterExtensions for preemption), folded into one
// class with no-op defaults. Private to src/scheduler.
//
// A plugin instance belongs to one Scheduler and keeps the state of the
// current scheduling cycle in its members (computed in preFilter/preScore,
// read by filter/score), so a cycle allocates little. Single-threaded.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/node_info.h"
#include "scheduler/snapshot.h"

namespace capstan::scheduler {

enum class FilterCode {
  kSuccess,
  kUnschedulable,                 // preemption might help
  kUnschedulableAndUnresolvable,  // preemption cannot help
  kSkip,                          // preFilter only: filter() need not run
};

inline constexpr int64_t kMaxNodeScore = 100;

struct CycleContext {
  const PodInfo& pod;
  const Snapshot& snapshot;
};

class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual std::string_view name() const = 0;

  virtual bool hasFilter() const { return false; }
  // Computes the cycle state. A non-success code rejects the pod on every
  // node with `reasons` (FitError's pre_filter_msg); kSkip skips filter().
  virtual FilterCode preFilter(const CycleContext& ctx, std::vector<std::string>& reasons) {
    return FilterCode::kSuccess;
  }
  // On failure appends upstream's reason strings to `reasons`.
  virtual FilterCode filter(const CycleContext& ctx, const NodeInfo& node,
                            std::vector<std::string>& reasons) const {
    return FilterCode::kSuccess;
  }
  // PreFilterExtensions: the cycle state as if `other` were added to or
  // removed from `node` (used by preemption's what-if runs).
  virtual void addPod(const CycleContext& ctx, const PodInfo& other, const NodeInfo& node) {}
  virtual void removePod(const CycleContext& ctx, const PodInfo& other, const NodeInfo& node) {}

  // Score plugins: weight > 0.
  int weight() const { return weight_; }
  void setWeight(int w) { weight_ = w; }
  // False: skip this plugin's scores for the cycle (all 0).
  virtual bool preScore(const CycleContext& ctx, std::span<const NodeInfo* const> feasible) { return true; }
  virtual int64_t score(const CycleContext& ctx, const NodeInfo& node) const { return 0; }
  // Maps raw scores (same order as `feasible`) to 0..kMaxNodeScore.
  virtual void normalize(const CycleContext& ctx, std::span<const NodeInfo* const> feasible,
                         std::span<int64_t> scores) const {}

 private:
  int weight_ = 0;
};

// framework/plugins/helper.DefaultNormalizeScore.
void defaultNormalizeScore(int64_t max_priority, bool reverse, std::span<int64_t> scores);

// Pods on `node` in namespace `ns`, not terminating, whose labels match the
// constraint's selector (or that share its owner for default spreading).
int countPodsMatching(const NodeInfo& node, const SpreadConstraint& c, std::string_view ns);
// When the constraint's selector is a single "key = value" (or "key in
// (value)") requirement: the NodeInfo::label_pod_counts key that counts the
// same pods in `ns` with one lookup; empty otherwise.
std::string spreadCountKey(const SpreadConstraint& c, std::string_view ns);
// countPodsMatching using spreadCountKey's key when it is not empty.
int countPodsMatching(const NodeInfo& node, const SpreadConstraint& c, std::string_view ns,
                      const std::string& count_key);
bool spreadSelectorMatches(const SpreadConstraint& c, const PodInfo& pod);

}  // namespace capstan::scheduler
