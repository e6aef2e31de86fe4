#pragma once
// One pass of the pod worker over a pod that should run (pod_worker.cc
// handles deletion and finished pods): sandbox, volumes, images, init
// containers in order, app containers with restart policy and
// CrashLoopBackOff, then the status report.

#include "agent/agent_impl.h"
#include "agent/pod_status.h"
#include "agent/pod_volumes.h"

namespace capstan::agent {

class PodSync {
 public:
  PodSync(AgentImpl& agent, ObjectPtr pod);
  Status run();

 private:
  // Returns true when the container runs (or finished for good).
  bool ensureContainer(const Json& container, ContainerView& view, bool init);
  Result<runtime::Image> ensureImage(const Json& container, ContainerView& view);
  Status startContainer(const Json& container, ContainerView& view, const runtime::Image& image, int attempt);
  // The runtime's spec of a container's attempt (env, command, mounts,
  // security, labels, log file), as started now.
  Result<runtime::ContainerSpec> containerSpec(const Json& container, const ContainerView& view,
                                               const runtime::Image& image, int attempt);
  // Has the runtime make the next attempt of a running app container ahead
  // of time (Runtime::prepare), so that a restart only starts it.
  void prepareRestart(const Json& container, const ContainerView& view, const runtime::ContainerStatus& running);
  void runPostStart(const Json& container, ContainerView& view);
  // Starts the probes of a running app container (once per container).
  void trackProbes(const Json& container, const runtime::ContainerStatus& running);
  bool shouldRestart(const runtime::ContainerStatus& last) const;
  Status report();
  Json podRef() const;

  AgentImpl& a_;
  ObjectPtr pod_;
  const Json& meta_;
  const Json& spec_;
  std::string ns_, name_, uid_;
  network::Sandbox sandbox_;
  std::map<std::string, PreparedVolume> volumes_;
  std::map<std::string, std::vector<runtime::ContainerStatus>> attempts_;  // by container name, newest first
  PodView view_;
  std::chrono::milliseconds requeue_{0};
};

}  // namespace capstan::agent
