// noderesources (BalancedAllocation): favours nodes whose cpu and memory
// would be used in equal fractions: (1 - |cpu fraction - memory fraction| / 2)
// * 100, on actual requests. Best-effort pods skip it, as upstream.
#include <algorithm>
#include <cmath>

#include "scheduler/plugins/plugins.h"

namespace capstan::scheduler {
namespace {

class BalancedAllocation final : public Plugin {
 public:
  std::string_view name() const override { return "NodeResourcesBalancedAllocation"; }

  bool preScore(const CycleContext& ctx, std::span<const NodeInfo* const>) override {
    return ctx.pod.requests.milli_cpu != 0 || ctx.pod.requests.memory != 0;
  }

  int64_t score(const CycleContext& ctx, const NodeInfo& node) const override {
    double fractions[2];
    int n = 0;
    if (node.allocatable.milli_cpu != 0) {
      double f = static_cast<double>(node.requested.milli_cpu + ctx.pod.requests.milli_cpu) /
                 static_cast<double>(node.allocatable.milli_cpu);
      fractions[n++] = std::min(f, 1.0);
    }
    if (node.allocatable.memory != 0) {
      double f = static_cast<double>(node.requested.memory + ctx.pod.requests.memory) /
                 static_cast<double>(node.allocatable.memory);
      fractions[n++] = std::min(f, 1.0);
    }
    double std_dev = n == 2 ? std::abs((fractions[0] - fractions[1]) / 2) : 0.0;
    return static_cast<int64_t>((1 - std_dev) * static_cast<double>(kMaxNodeScore));
  }
};

}  // namespace

std::unique_ptr<Plugin> newNodeResourcesBalancedAllocation() {
  return std::make_unique<BalancedAllocation>();
}

}  // namespace capstan::scheduler
