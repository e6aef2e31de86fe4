#pragma once
// Decorators that time every call the agent makes to the container runtime
// and the pod network into KubeletMetrics' runtime operation series, as
// kubelet's instrumentedRuntimeService does around CRI. Operation names
// are kubelet's CRI names; Runtime::start is crun create + start in one
// shim call and counts as "start_container".
//
// Threading: as the wrapped objects (the metrics are thread-safe).

#include <memory>

#include "agent/network/network.h"
#include "agent/runtime/runtime.h"
#include "agent/stats/kubelet_metrics.h"

namespace capstan::agent {

std::unique_ptr<runtime::Runtime> instrumentRuntime(std::unique_ptr<runtime::Runtime> inner,
                                                    std::shared_ptr<stats::KubeletMetrics> metrics);
std::unique_ptr<network::Network> instrumentNetwork(std::unique_ptr<network::Network> inner,
                                                    std::shared_ptr<stats::KubeletMetrics> metrics);

}  // namespace capstan::agent
