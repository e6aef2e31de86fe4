#pragma once
// The node agent: registers this machine as a Node, renews its Lease,
// and turns the pods bound to it into containers (through the runtime and
// the CNI network), reporting their status back to the API.
//
// Threading: a pod informer (pods with spec.nodeName = this node) and
// container exits feed one work queue of pod keys; worker threads run
// syncPod(key), one key at a time (pod_worker.cc). The node reporter has
// its own thread (node_status.cc).

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "agent/pod_volumes.h"
#include "client/transport.h"
#include "common/status.h"

namespace capstan::agent {

struct AgentOptions {
  std::string node_name;
  std::string data_dir;         // images, pods, container state, logs
  std::string node_ip;          // InternalIP; empty: the first non-loopback IPv4 address
  bool control_plane = false;   // an agent inside `capstan server`: the control-plane role label
  // A hollow node (kubemark's): registered and leased, accepts pods and
  // reports them Running and Ready without running anything.
  bool hollow = false;
  std::string cni_bridge = "cni0";
  // Drop forwarding from the pod bridge to anything but itself (tests).
  bool isolate_pod_network = false;
  std::string cluster_cidr = "10.42.0.0/16";  // all pods of the cluster (isolation lets it through)
  // Cluster DNS, served on the pod bridge's address and published as this
  // node's endpoint of the kube-dns Service (internalTrafficPolicy Local).
  int dns_port = 53;
  std::vector<std::string> dns_upstreams;  // names outside the cluster; empty: the node's /etc/resolv.conf
  // The service proxy's kernel interface: auto, nftables or iptables
  // (proxy::parseProxyMode); auto takes nftables when the kernel has it.
  std::string proxy_mode = "auto";
  // Also balance ClusterIP TCP connections at connect() from this node's
  // pods and the node itself (proxy/socket_lb.h); where the kernel does not
  // allow it, the rules alone do, as they do for everything else.
  bool proxy_socket_lb = true;
  DnsConfig dns;
  // The built-in Ingress controller (ingress/ingress_controller.h) on these
  // ports of every address; < 0 serves none (the default here: tests run
  // several agents on one machine; `capstan` serves 80 and 443).
  int ingress_http_port = -1;
  int ingress_https_port = -1;
  std::string token;            // the join token (also guards the agent's own API)
  int kubelet_port = 10250;     // logs/exec/port-forward for the API server; 0 picks a free port
  std::vector<std::string> insecure_registries;
  // Container log rotation (kubelet's --container-log-max-size/-files).
  size_t container_log_max_bytes = 10 * 1024 * 1024;
  int container_log_max_files = 5;
  // Processes a container may have (pids cgroup), so that one that forks
  // without end cannot exhaust the node's PIDs; kubelet's --pod-max-pids,
  // applied per container. -1: unlimited.
  int64_t pod_max_pids = 4096;
  // Image garbage collection (image_gc.h), kubelet's flags; 100 turns it off.
  int image_gc_high_threshold = 85;
  int image_gc_low_threshold = 80;
  std::chrono::milliseconds image_gc_period{std::chrono::minutes(5)};
  std::chrono::milliseconds image_minimum_ttl{std::chrono::minutes(2)};  // unused images younger than this stay
  std::chrono::milliseconds lease_duration{10000};
  std::chrono::milliseconds lease_renew_interval{2000};
  std::chrono::milliseconds node_status_interval{30000};
  // CrashLoopBackOff: initial delay doubling to the maximum; reset after a
  // container ran this long.
  std::chrono::milliseconds backoff_initial{10000};
  std::chrono::milliseconds backoff_max{300000};
  std::chrono::milliseconds backoff_reset{600000};
  // Each running app container that may restart gets its next attempt
  // created ahead of time (Runtime::prepare): a restart then takes
  // milliseconds instead of a whole `crun run`, for one more waiting
  // process, overlay mount and cgroup per such container.
  bool prepare_restarts = true;
  int workers = 4;
};

class Agent {
 public:
  static Result<std::unique_ptr<Agent>> start(const AgentOptions& opts, std::shared_ptr<client::Transport> transport);
  virtual ~Agent() = default;
  // Stops watching and reporting; containers keep running (an agent restart
  // adopts them).
  virtual void stop() = 0;
};

// `count` hollow nodes in this process, named <node_name>-<i> (or
// node_name alone when count is 1), for scheduler and controller scale
// tests on one machine.
Result<std::unique_ptr<Agent>> startHollowNodes(const AgentOptions& opts, int count,
                                                std::shared_ptr<client::Transport> transport);

// Stops and removes every container, pod sandbox (CNI DEL, namespaces),
// the pod bridge and the isolation rule this node's agent made: for
// uninstalling, and for tests that must leave nothing behind. The agent
// must not be running.
Status cleanupNode(const AgentOptions& opts);

}  // namespace capstan::agent
