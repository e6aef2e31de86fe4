#pragma once
// Resource usage of the node, its pods and their containers, read when
// asked (at scrape time; nothing polls): CPU and memory from the cgroups
// the runtime puts containers in (<cgroup_parent>/<pod_uid>/<id>, the pod's
// cgroup is their parent), network from /proc/<pid>/net/dev of a running
// container (the pod's network namespace), filesystem usage of each
// container's writable layer (<containers_dir>/<id>/upper).
//
// The kubelet server renders a snapshot in the two Prometheus formats
// Kubernetes' tooling scrapes: cAdvisor's (/metrics/cadvisor) and the
// kubelet's resource metrics (/metrics/resource, what metrics-server and
// capstan's metrics.k8s.io read).
//
// Threading: Collector::collect() is thread-safe (its only state is the
// filesystem-usage cache, under a lock).

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/runtime/runtime.h"
#include "common/clock.h"

namespace capstan::agent::stats {

// One interface's counters from /proc/<pid>/net/dev.
struct InterfaceStats {
  std::string name;
  uint64_t rx_bytes = 0;
  uint64_t rx_packets = 0;
  uint64_t rx_errors = 0;
  uint64_t rx_dropped = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_errors = 0;
  uint64_t tx_dropped = 0;
};

// Parses /proc/<pid>/net/dev; the loopback interface is left out (as
// cAdvisor does).
std::vector<InterfaceStats> parseNetDev(std::string_view text);

struct DirUsage {
  uint64_t bytes = 0;  // allocated blocks (du), hard links counted once
  uint64_t inodes = 0;
};
// Disk usage of a directory tree, not crossing into other filesystems.
DirUsage directoryUsage(const std::string& dir);

struct ContainerSample {
  std::string id;    // the runtime's container id (cAdvisor's `name`)
  std::string name;  // the pod's container name
  std::string image;
  std::string cgroup;  // absolute cgroup path (cAdvisor's `id`)
  WallTime start_time{};
  runtime::ContainerStats usage;  // usage.timestamp: when it was read
  std::optional<DirUsage> fs;     // writable layer, when readable
};

struct PodSample {
  std::string ns;
  std::string name;
  std::string uid;
  std::string cgroup;
  std::optional<runtime::ContainerStats> usage;  // the pod cgroup (all its containers)
  std::vector<InterfaceStats> network;           // the pod's network namespace
  WallTime network_timestamp{};
  std::vector<ContainerSample> containers;  // running ones, by name
};

struct NodeSample {
  WallTime timestamp{};
  std::optional<runtime::ContainerStats> usage;  // the root cgroup: the whole machine
  std::string fs_device;                         // the device holding the writable layers
  std::vector<PodSample> pods;                   // by namespace, name
};

struct CollectorOptions {
  std::string cgroup_parent;   // RuntimeConfig::cgroup_parent
  std::string containers_dir;  // <state_dir>/containers
  // Writable-layer sizes are re-read at most this often (a du per scrape
  // would cost too much with many containers; cAdvisor caches too).
  std::chrono::milliseconds fs_cache_ttl{10000};
};

class Collector {
 public:
  Collector(const runtime::Runtime& runtime, CollectorOptions options,
            const Clock& clock = SystemClock::instance());
  NodeSample collect() const;

 private:
  std::optional<DirUsage> fsUsage(const std::string& id) const;

  const runtime::Runtime& runtime_;
  CollectorOptions options_;
  const Clock& clock_;
  std::string fs_device_;
  mutable std::mutex mu_;  // guards fs_cache_
  struct CachedUsage {
    DirUsage usage;
    std::chrono::steady_clock::time_point read_at;
  };
  mutable std::map<std::string, CachedUsage> fs_cache_;
};

// cAdvisor's exposition (the kubelet's /metrics/cadvisor): container_*
// series with cAdvisor's labels (container, id, image, name, namespace,
// pod), one row for the machine (id="/"), one per pod cgroup
// (container="") carrying the pod's network, one per container.
std::string renderCadvisor(const NodeSample& sample);

// The kubelet's resource metrics (/metrics/resource), names, labels, help
// texts and sample timestamps as kubelet 1.31 writes them.
std::string renderResourceMetrics(const NodeSample& sample);

// The kubelet's own /metrics, as far as capstan has them: the running pod
// and container gauges (so a standard kubelet scrape job finds its target).
std::string renderKubeletMetrics(const NodeSample& sample);

}  // namespace capstan::agent::stats
