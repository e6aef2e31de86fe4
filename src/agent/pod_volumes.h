#pragma once
// A pod's files on the node: its volumes (emptyDir, hostPath, configMap,
// secret, downwardAPI, projected), the /etc/hosts, /etc/hostname and
// /etc/resolv.conf it sees, and its containers' termination logs. See
// PodDirs for where each lives. ConfigMap,
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

// Where a pod's files live. Only disk-backed emptyDir volumes go to the
// node's disk: every other file is on tmpfs, so a pod start allocates no
// inodes of the disk's filesystem for them (on ext4 without a journal,
// each inode freed in the last minutes slows the next allocations).
//   <state>/writable/etc/{hosts,hostname,resolv.conf}      a tmpfs of the pod's own, bounded
//   <state>/writable/containers/<name>/<attempt>-termination-log  (kWritableFilesSize):
//                                                           the files containers may write
//   <state>/volumes/{configmap,downward-api}/<name>         on the node's run tmpfs
//   <state>/volumes/{secret,projected,empty-dir}/<name>     a tmpfs each (empty-dir: medium Memory)
//   <data>/volumes/empty-dir/<name>                         the node's disk
struct PodDirs {
  std::string state;  // under the node's run dir (tmpfs)
  std::string data;   // under --data-dir
  // The pod's own tmpfs for the files its containers may write.
  std::string writable() const { return state + "/writable"; }
};

// The size of a pod's tmpfs for the files its containers may write: the
// /etc files (kilobytes) and termination messages (kubelet reads 4 KiB of
// each). Its pages are charged to the writing container's memory cgroup.
inline constexpr const char* kWritableFilesSize = "4m";

// The file mounted at a container's terminationMessagePath.
std::string terminationLogPath(const PodDirs& dirs, const std::string& container, int attempt);

struct PreparedVolume {
  std::string host_path;
  bool read_only = false;
  bool tmpfs = false;  // emptyDir medium Memory, secret, projected (unmounted on cleanup)
};

// Creates or refreshes every volume of the pod. NotFound names a missing
// ConfigMap/Secret (kubelet's FailedMount); optional ones are skipped.
Result<std::map<std::string, PreparedVolume>> prepareVolumes(const Json& pod, const PodDirs& dirs,
                                                             const ObjectLookup& lookup);

// The projected serviceAccountToken sources of the pod, as (audience,
// expirationSeconds); and fetching them ahead of prepareVolumes (which
// then finds them in the lookup's cache), errors left for it to report.
std::vector<std::pair<std::string, int64_t>> serviceAccountTokenSources(const Json& pod);
void fetchServiceAccountTokens(const Json& pod, const ObjectLookup& lookup);

// The mounts of one container: its volumeMounts over the prepared volumes,
// plus the pod's /etc files and the termination-message file (empty: none).
Result<std::vector<runtime::Mount>> containerMounts(const Json& pod, const Json& container,
                                                    const std::map<std::string, PreparedVolume>& volumes,
                                                    const PodDirs& dirs, const std::string& termination_log);

// Mounts the pod's tmpfs for writable files (once) and writes its
// etc/{hosts,hostname,resolv.conf} for the pod's IP.
Status writePodEtcFiles(const Json& pod, const PodDirs& dirs, const std::string& pod_ip,
                        const DnsConfig& dns);

// Unmounts the pod's tmpfs mounts and removes both of its dirs.
Status removePodFiles(const PodDirs& dirs);

}  // namespace capstan::agent
