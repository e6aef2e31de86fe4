#pragma once
// A pod's files on the node: its volumes (emptyDir, hostPath, configMap,
// secret, downwardAPI, projected) under <pod dir>/volumes, and the
// /etc/hosts, /etc/hostname and /etc/resolv.conf it sees. ConfigMap,
// Secret and downward API volumes are written as kubelet's atomic writer
// does (a timestamped dir, a `..data` symlink swapped with rename, and one
// symlink per key), so updates appear in running containers at once and
// never half-written.

#include <map>
#include <string>
#include <vector>

#include "agent/container_config.h"
#include "agent/runtime/runtime.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::agent {

struct DnsConfig {
  std::string cluster_dns;  // empty: the kube-dns Service's ClusterIP, read from the API at start
  std::string cluster_domain = "cluster.local";
  std::string host_resolv_conf = "/etc/resolv.conf";  // for dnsPolicy Default
};

struct PreparedVolume {
  std::string host_path;
  bool read_only = false;
  bool tmpfs = false;  // emptyDir medium Memory, secret, projected (unmounted on cleanup)
};

// Creates or refreshes every volume of the pod. NotFound names a missing
// ConfigMap/Secret (kubelet's FailedMount); optional ones are skipped.
Result<std::map<std::string, PreparedVolume>> prepareVolumes(const Json& pod, const std::string& pod_dir,
                                                             const ObjectLookup& lookup);

// The projected serviceAccountToken sources of the pod, as (audience,
// expirationSeconds); and fetching them ahead of prepareVolumes (which
// then finds them in the lookup's cache), errors left for it to report.
std::vector<std::pair<std::string, int64_t>> serviceAccountTokenSources(const Json& pod);
void fetchServiceAccountTokens(const Json& pod, const ObjectLookup& lookup);

// The mounts of one container: its volumeMounts over the prepared volumes,
// plus the pod's /etc files and the termination-message file.
Result<std::vector<runtime::Mount>> containerMounts(const Json& pod, const Json& container,
                                                    const std::map<std::string, PreparedVolume>& volumes,
                                                    const std::string& pod_dir,
                                                    const std::string& termination_log);

// Writes <pod dir>/etc/{hosts,hostname,resolv.conf} for the pod's IP.
Status writePodEtcFiles(const Json& pod, const std::string& pod_dir, const std::string& pod_ip, const DnsConfig& dns);

// Unmounts tmpfs volumes and removes the pod dir.
Status removePodFiles(const std::string& pod_dir);

}  // namespace capstan::agent
