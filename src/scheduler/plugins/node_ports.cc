// nodeports: a requested hostPort conflicts with one in use on the node
// for the same protocol and port when either binds 0.0.0.0 or both bind the
// same IP (upstream's HostPortInfo.CheckConflict).
#include "scheduler/plugins/plugins.h"

namespace capstan::scheduler {
namespace {

bool conflicts(const HostPort& want, const HostPort& used) {
  if (want.port != used.port || want.protocol != used.protocol) return false;
  return want.ip == "0.0.0.0" || used.ip == "0.0.0.0" || want.ip == used.ip;
}

class NodePorts final : public Plugin {
 public:
  std::string_view name() const override { return "NodePorts"; }
  bool hasFilter() const override { return true; }

  FilterCode preFilter(const CycleContext& ctx, std::vector<std::string>&) override {
    return ctx.pod.host_ports.empty() ? FilterCode::kSkip : FilterCode::kSuccess;
  }

  FilterCode filter(const CycleContext& ctx, const NodeInfo& node,
                    std::vector<std::string>& reasons) const override {
    for (const HostPort& want : ctx.pod.host_ports) {
      for (const HostPort& used : node.used_ports) {
        if (!conflicts(want, used)) continue;
        reasons.emplace_back(kReasonNodePorts);
        return FilterCode::kUnschedulable;
      }
    }
    return FilterCode::kSuccess;
  }
};

}  // namespace

std::unique_ptr<Plugin> newNodePorts() { return std::make_unique<NodePorts>(); }

}  // namespace capstan::scheduler
