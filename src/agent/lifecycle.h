#pragma once
// Container lifecycle hooks as kubelet runs them (private to the agent).
//
// postStart runs right after the container started, on the pod worker: the
// pass reports the container Running only once the hook returned, and a
// failed hook (Warning FailedPostStartHook) kills the container, which then
// restarts per restartPolicy. preStop runs before SIGTERM whenever the agent
// stops a container (pod deletion, a failed liveness/startup probe, a failed
// postStart hook) and is counted inside the grace period: SIGKILL follows
// after what is left of it, but never sooner than 2 s after SIGTERM
// (kubelet's minimum). A failed preStop is a Warning FailedPreStopHook
// event; the container is stopped all the same.
//
// Handlers: exec (in the container, through the runtime), httpGet (to the
// pod IP unless `host` is set; any HTTP response counts as success, as for
// kubelet), sleep (seconds). tcpSocket is accepted by the API for old
// manifests but fails at run time, as upstream documents.
//
// The preStop handler, the container's ports and the pod IP travel with the
// container as runtime labels (kubelet keeps the handler in a container
// annotation the same way), so a container is stopped with its hook even
// when its pod is gone from the API or the agent restarted since.

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "agent/runtime/runtime.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::agent {

// Container labels the hooks need (the others are in agent_impl.h).
inline constexpr const char* kLabelPreStopHandler = "io.kubernetes.container.preStopHandler";
inline constexpr const char* kLabelPorts = "io.kubernetes.container.ports";
inline constexpr const char* kLabelPodIp = "io.capstan.pod.ip";

// kubelet's minimum time between SIGTERM and SIGKILL.
inline constexpr std::chrono::seconds kMinimumGracePeriod{2};
// postStart has no deadline in kubelet; here a hook that hangs gives up its
// pod worker after this long (and counts as failed).
inline constexpr std::chrono::minutes kPostStartTimeout{5};

// Where a hook runs.
struct HookTarget {
  std::string pod;  // kubelet's format.Pod, "name_namespace(uid)", for messages
  std::string pod_ip;
  std::string container_id;
  std::string container_name;
  Json container = Json::object();  // at least its "ports", for named httpGet ports
};

// The labels to give a container so that it can be stopped with its hook
// later (empty when it has no preStop hook).
std::map<std::string, std::string> hookLabels(const Json& container, const std::string& pod_ip);
// The target of a container as the runtime reports it (from its labels).
HookTarget hookTargetOf(const runtime::ContainerStatus& c);

// The outcome of one hook: `error` is the handler's own error (kubelet's
// FailedPreStopHook message), `message` the full sentence kubelet puts in
// FailedPostStartHook ("Exec lifecycle hook ([sh -c exit 1]) for Container
// \"c\" in Pod \"p_ns(uid)\" failed - error: ..., message: \"...\"").
struct HookResult {
  bool ok = true;
  std::string error;
  std::string message;
};

// Runs one handler once, for at most `timeout`.
using HookRunner =
    std::function<HookResult(const HookTarget&, const Json& handler, std::chrono::milliseconds timeout)>;
HookResult runLifecycleHandler(runtime::Runtime& rt, const HookTarget& t, const Json& handler,
                               std::chrono::milliseconds timeout);

// What is left for SIGTERM..SIGKILL when the preStop hook took `spent`.
std::chrono::milliseconds graceAfterPreStop(std::chrono::milliseconds grace, std::chrono::milliseconds spent);

// kubelet's killContainer without the event: the preStop hook (if the
// container has one and grace > 0), then SIGTERM, then SIGKILL after the
// rest of the grace period. `warn(reason, message)` reports a failed hook.
// Returns the exited container.
Result<runtime::ContainerStatus> stopWithPreStop(
    runtime::Runtime& rt, const runtime::ContainerStatus& c, std::chrono::milliseconds grace,
    const HookRunner& run_hook, const Clock& clock,
    const std::function<void(const std::string&, const std::string&)>& warn);

}  // namespace capstan::agent
