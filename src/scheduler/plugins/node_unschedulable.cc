// nodeunschedulable: a cordoned node (spec.unschedulable) takes only pods
// that tolerate node.kubernetes.io/unschedulable:NoSchedule.
#include "scheduler/plugins/plugins.h"

namespace capstan::scheduler {
namespace {

class NodeUnschedulable final : public Plugin {
 public:
  std::string_view name() const override { return "NodeUnschedulable"; }
  bool hasFilter() const override { return true; }

  FilterCode filter(const CycleContext& ctx, const NodeInfo& node,
                    std::vector<std::string>& reasons) const override {
    if (!node.unschedulable) return FilterCode::kSuccess;
    static const Taint kUnschedulable{"node.kubernetes.io/unschedulable", "", TaintEffect::kNoSchedule};
    if (tolerationsTolerate(ctx.pod.tolerations, kUnschedulable)) return FilterCode::kSuccess;
    reasons.emplace_back(kReasonUnschedulable);
    return FilterCode::kUnschedulableAndUnresolvable;
  }
};

}  // namespace

std::unique_ptr<Plugin> newNodeUnschedulable() { return std::make_unique<NodeUnschedulable>(); }

}  // namespace capstan::scheduler
