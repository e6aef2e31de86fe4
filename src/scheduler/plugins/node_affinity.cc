// nodeaffinity: spec.nodeSelector and required node affinity (filter);
// the summed weights of matching preferred terms (score).
#include "scheduler/plugins/plugins.h"

namespace capstan::scheduler {
namespace {

class NodeAffinity final : public Plugin {
 public:
  std::string_view name() const override { return "NodeAffinity"; }
  bool hasFilter() const override { return true; }

  FilterCode preFilter(const CycleContext& ctx, std::vector<std::string>&) override {
    return ctx.pod.node_selector || ctx.pod.required_node_affinity ? FilterCode::kSuccess : FilterCode::kSkip;
  }

  FilterCode filter(const CycleContext& ctx, const NodeInfo& node,
                    std::vector<std::string>& reasons) const override {
    if (ctx.pod.matchesNodeSelectorAndAffinity(node)) return FilterCode::kSuccess;
    reasons.emplace_back(kReasonNodeAffinity);
    return FilterCode::kUnschedulableAndUnresolvable;
  }

  bool preScore(const CycleContext& ctx, std::span<const NodeInfo* const>) override {
    return !ctx.pod.preferred_node_affinity.empty();
  }

  int64_t score(const CycleContext& ctx, const NodeInfo& node) const override {
    int64_t total = 0;
    for (const PreferredNodeTerm& p : ctx.pod.preferred_node_affinity) {
      if (p.weight != 0 && matchesNodeSelectorTerm(p.term, node)) total += p.weight;
    }
    return total;
  }

  void normalize(const CycleContext&, std::span<const NodeInfo* const>,
                 std::span<int64_t> scores) const override {
    defaultNormalizeScore(kMaxNodeScore, false, scores);
  }
};

}  // namespace

std::unique_ptr<Plugin> newNodeAffinity() { return std::make_unique<NodeAffinity>(); }

}  // namespace capstan::scheduler
