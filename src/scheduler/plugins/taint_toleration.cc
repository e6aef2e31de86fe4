// tainttoleration: NoSchedule/NoExecute taints must be tolerated (filter);
// fewer untolerated PreferNoSchedule taints score higher.
#include <algorithm>

#include "scheduler/plugins/plugins.h"

namespace capstan::scheduler {
namespace {

class TaintToleration final : public Plugin {
 public:
  std::string_view name() const override { return "TaintToleration"; }
  bool hasFilter() const override { return true; }

  FilterCode filter(const CycleContext& ctx, const NodeInfo& node,
                    std::vector<std::string>& reasons) const override {
    for (const Taint& t : node.taints) {
      if (t.effect != TaintEffect::kNoSchedule && t.effect != TaintEffect::kNoExecute) continue;
      if (tolerationsTolerate(ctx.pod.tolerations, t)) continue;
      reasons.push_back("node(s) had untolerated taint {" + t.key + ": " + t.value + "}");
      return FilterCode::kUnschedulableAndUnresolvable;
    }
    return FilterCode::kSuccess;
  }

  bool preScore(const CycleContext& ctx, std::span<const NodeInfo* const>) override {
    prefer_no_schedule_.clear();
    for (const Toleration& t : ctx.pod.tolerations) {
      if (!t.effect || *t.effect == TaintEffect::kPreferNoSchedule) prefer_no_schedule_.push_back(t);
    }
    return true;
  }

  int64_t score(const CycleContext&, const NodeInfo& node) const override {
    int64_t count = 0;
    for (const Taint& t : node.taints) {
      if (t.effect == TaintEffect::kPreferNoSchedule && !tolerationsTolerate(prefer_no_schedule_, t)) ++count;
    }
    return count;
  }

  void normalize(const CycleContext&, std::span<const NodeInfo* const>,
                 std::span<int64_t> scores) const override {
    defaultNormalizeScore(kMaxNodeScore, true, scores);
  }

 private:
  std::vector<Toleration> prefer_no_schedule_;
};

}  // namespace

std::unique_ptr<Plugin> newTaintToleration() { return std::make_unique<TaintToleration>(); }

}  // namespace capstan::scheduler
