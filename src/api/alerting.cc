#include "api/alerting.h"


namespace capstan::api::alerting {

const std::vector<Check>& checks() {
  static const std::vector<Check> kChecks = {
      {"PodCrashLooping", "Pod", 1},
      {"ContainerOOMKilled", "Pod", 600},
      {"DeploymentReplicasMismatch", "Deployment", 1},
      {"DeploymentNotProgressing", "Deployment", 0},
      {"NodeNotReady", "Node", 0},
      {"NodeUnderPressure", "Node", 0},
      {"JobFailed", "Job", 0},
      {"APIServerErrors", "", 0.05},
      {"APIServerSlow", "", 1},
      {"StoreSlow", "", 0.5},
      {"CertificateExpiry", "", 30},
  };
  return kChecks;
}

const Check* findCheck(std::string_view name) {
  for (const auto& c : checks())
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace capstan::api::alerting
