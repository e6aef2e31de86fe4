#include "api/alerting.h"


namespace capstan::api::alerting {

const std::vector<Check>& checks() {
  static const std::vector<Check> kChecks = {
      {"PodCrashLooping", "Pod", 1, "restarts of a container in CrashLoopBackOff at least"},
      {"ContainerOOMKilled", "Pod", 600, "seconds since the OOM kill at most"},
      {"DeploymentReplicasMismatch", "Deployment", 1, "missing available replicas at least"},
      {"DeploymentNotProgressing", "Deployment", 0, "unused"},
      {"NodeNotReady", "Node", 0, "unused"},
      {"NodeUnderPressure", "Node", 0, "unused"},
      {"JobFailed", "Job", 0, "unused"},
      {"APIServerErrors", "", 0.05, "share of requests answered with a 5xx over the last evaluation, above"},
      {"APIServerSlow", "", 1, "seconds of the 99th percentile request latency (not WATCH or CONNECT), above"},
      {"StoreSlow", "", 0.5, "seconds of the 99th percentile store request latency, above"},
      {"CertificateExpiry", "", 30, "days left before a certificate of the server expires, below"},
  };
  return kChecks;
}

const Check* findCheck(std::string_view name) {
  for (const auto& c : checks())
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace capstan::api::alerting
