// noderesources (Fit): requests against allocatable minus what the node's
// pods request, and the pods count (filter); LeastAllocated over cpu and
// memory with weight 1 each, on requests with upstream's non-zero defaults
// (score).
#include "scheduler/plugins/plugins.h"

namespace capstan::scheduler {
namespace {

int64_t leastRequestedScore(int64_t requested, int64_t capacity) {
  if (capacity == 0 || requested > capacity) return 0;
  return (capacity - requested) * kMaxNodeScore / capacity;
}

class NodeResourcesFit final : public Plugin {
 public:
  std::string_view name() const override { return "NodeResourcesFit"; }
  bool hasFilter() const override { return true; }

  FilterCode filter(const CycleContext& ctx, const NodeInfo& node,
                    std::vector<std::string>& reasons) const override {
    size_t before = reasons.size();
    const Resources& want = ctx.pod.requests;
    const Resources& alloc = node.allocatable;
    const Resources& used = node.requested;
    if (static_cast<int64_t>(node.pods.size()) + 1 > alloc.allowed_pods)
      reasons.emplace_back(kReasonTooManyPods);
    if (!want.empty()) {
      if (want.milli_cpu > 0 && want.milli_cpu > alloc.milli_cpu - used.milli_cpu) {
        reasons.emplace_back("Insufficient cpu");
      }
      if (want.memory > 0 && want.memory > alloc.memory - used.memory)
        reasons.emplace_back("Insufficient memory");
      if (want.ephemeral_storage > 0 &&
          want.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage) {
        reasons.emplace_back("Insufficient ephemeral-storage");
      }
      for (const auto& [name, quantity] : want.scalars) {
        if (quantity > 0 && quantity > alloc.scalar(name) - used.scalar(name)) {
          reasons.push_back("Insufficient " + name);
        }
      }
    }
    return reasons.size() == before ? FilterCode::kSuccess : FilterCode::kUnschedulable;
  }

  int64_t score(const CycleContext& ctx, const NodeInfo& node) const override {
    int64_t total = 0, weights = 0;
    if (node.allocatable.milli_cpu != 0) {
      total += leastRequestedScore(node.non_zero_milli_cpu + ctx.pod.non_zero_milli_cpu,
                                   node.allocatable.milli_cpu);
      ++weights;
    }
    if (node.allocatable.memory != 0) {
      total += leastRequestedScore(node.non_zero_memory + ctx.pod.non_zero_memory, node.allocatable.memory);
      ++weights;
    }
    return weights == 0 ? 0 : total / weights;
  }
};

}  // namespace

std::unique_ptr<Plugin> newNodeResourcesFit() { return std::make_unique<NodeResourcesFit>(); }

}  // namespace capstan::scheduler
