// The pod phase when every app container has terminated, per restartPolicy
// (kubelet's getPhase): with Always the pod stays Running, whatever the exit
// codes, since each container is about to restart (as after a container
// killed for a failed postStart hook).
#include "agent/pod_status.h"

#include <gtest/gtest.h>

namespace capstan::agent {
namespace {

std::string phaseWith(const std::string& policy, std::vector<int> exit_codes) {
  Json pod = {{"metadata", {{"name", "p"}, {"namespace", "default"}}}, {"spec", {{"restartPolicy", policy}}}};
  PodView v;
  v.sandbox_ready = true;
  v.initialized = true;
  for (size_t i = 0; i < exit_codes.size(); ++i) {
    ContainerView c{.name = "c" + std::to_string(i), .image = "busybox"};
    runtime::ContainerStatus s;
    s.id = c.name;
    s.state = runtime::ContainerState::kExited;
    s.exit_code = exit_codes[i];
    s.reason = exit_codes[i] == 0 ? "Completed" : "Error";
    c.attempts.push_back(s);
    v.containers.push_back(c);
  }
  return buildPodStatus(pod, v, WallTime{})["phase"];
}

TEST(PodStatusTest, PhaseOfAPodWhoseContainersAllTerminated) {
  EXPECT_EQ(phaseWith("Always", {0}), "Running");
  EXPECT_EQ(phaseWith("Always", {0, 1}), "Running");
  EXPECT_EQ(phaseWith("OnFailure", {0, 0}), "Succeeded");
  EXPECT_EQ(phaseWith("OnFailure", {0, 1}), "Running");
  EXPECT_EQ(phaseWith("Never", {0, 0}), "Succeeded");
  EXPECT_EQ(phaseWith("Never", {0, 137}), "Failed");
}

}  // namespace
}  // namespace capstan::agent
