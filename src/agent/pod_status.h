#pragma once
// Pod status as kubelet reports it, computed from what the runtime says
// about the pod's containers. Pure: no I/O.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/runtime/runtime.h"
#include "common/clock.h"
#include "common/json.h"

namespace capstan::agent {

// What the worker knows about one container of the spec.
struct ContainerView {
  std::string name;
  std::string image;       // as in the spec
  std::string image_id;    // the resolved image's digest, once known
  bool init = false;
  // Newest attempt first; empty when never started.
  std::vector<runtime::ContainerStatus> attempts;
  // Why it is not running (ContainerCreating, PodInitializing,
  // CrashLoopBackOff, ErrImagePull, ImagePullBackOff,
  // CreateContainerConfigError, ...); empty when it runs or terminated.
  std::string waiting_reason;
  std::string waiting_message;
  bool ready = false;    // readiness (true while running when there is no probe)
  bool started = false;  // startup probe passed (or none)
  std::string termination_message;  // read back from terminationMessagePath
};

struct PodView {
  std::string pod_ip;
  std::string host_ip;
  bool sandbox_ready = false;
  bool initialized = false;
  std::vector<ContainerView> init_containers;
  std::vector<ContainerView> containers;
  std::optional<WallTime> start_time;
};

// The status to report (phase, conditions, container statuses, IPs, QoS),
// keeping the lastTransitionTime of conditions whose status did not change.
Json buildPodStatus(const Json& pod, const PodView& view, WallTime now);

// Kubernetes' QoS class: Guaranteed, Burstable or BestEffort.
std::string qosClass(const Json& pod);

}  // namespace capstan::agent
