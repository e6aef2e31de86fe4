// nodename: a pod with spec.nodeName fits only that node.
#include "scheduler/plugins/plugins.h"

namespace capstan::scheduler {
namespace {

class NodeName final : public Plugin {
 public:
  std::string_view name() const override { return "NodeName"; }
  bool hasFilter() const override { return true; }

  FilterCode filter(const CycleContext& ctx, const NodeInfo& node,
                    std::vector<std::string>& reasons) const override {
    if (ctx.pod.node_name.empty() || ctx.pod.node_name == node.name) return FilterCode::kSuccess;
    reasons.emplace_back(kReasonNodeName);
    return FilterCode::kUnschedulableAndUnresolvable;
  }
};

}  // namespace

std::unique_ptr<Plugin> newNodeName() { return std::make_unique<NodeName>(); }

}  // namespace capstan::scheduler
