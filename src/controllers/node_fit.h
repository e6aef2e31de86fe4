#pragma once
// Whether a pod fits a node as the DaemonSet controller judges it (upstream
// daemon.NodeShouldRunDaemonPod): nodeSelector, required node affinity,
// and taints with effect NoSchedule/NoExecute the pod does not tolerate.

#include <string>

#include "common/json.h"

namespace capstan::controllers {

bool matchesNodeSelector(const Json& pod_spec, const Json& node);
// spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.
bool matchesRequiredNodeAffinity(const Json& pod_spec, const Json& node);
bool tolerates(const Json& tolerations, const Json& taint);
// The first taint of `effect` ("NoSchedule"/"NoExecute") not tolerated, or nullptr.
const Json* untoleratedTaint(const Json& pod_spec, const Json& node, const std::string& effect);

}  // namespace capstan::controllers
