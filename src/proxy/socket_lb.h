#pragma once
// Socket-level load balancing for ClusterIP TCP services: a BPF program at
// the cgroup v2 root (proxy/bpf/socket_lb.bpf.c) rewrites a connect() to a
// ClusterIP port into a connect() to one of its endpoints, chosen at
// random, for sockets in the registered network namespaces. The connection
// then goes straight to the pod: no DNAT, no per-packet NAT rewrite, no
// re-routing of each packet after NAT, so a ClusterIP costs what the pod IP
// costs (bench/service). kube-proxy has no such path; Cilium's socket LB is
// the same idea.
//
// It only ever takes a shortcut: the proxy's nftables rules stay complete,
// so whatever the program does not handle (UDP, NodePorts, external IPs,
// sessionAffinity ClientIP, a service with no endpoint, which the rules
// reject at once, a namespace not registered, an update in flight) still
// works through DNAT.
//
// getpeername() on such a socket still gives the ClusterIP and port (a
// second program answers it from the socket's storage), as after DNAT.
//
// Lifetime: the program is attached through a BPF link owned by this
// object; closing it, or the process dying in any way, detaches it and
// frees the maps, so nothing is left behind on the machine.
//
// Threading: thread-safe (one mutex).

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "proxy/service_model.h"

struct socket_lb;  // the skeleton bpftool generates

namespace capstan::proxy {

class SocketLoadBalancer {
 public:
  // Loads the program and attaches it to the cgroup v2 root (the mounted
  // one, or a private mount of it when the machine has none). Unavailable
  // when the kernel or the privileges do not allow it; callers go on with
  // the nftables rules alone.
  static Result<std::unique_ptr<SocketLoadBalancer>> open();
  ~SocketLoadBalancer();
  SocketLoadBalancer(const SocketLoadBalancer&) = delete;
  SocketLoadBalancer& operator=(const SocketLoadBalancer&) = delete;

  // Sockets in the network namespace at `path` (a /run/netns or
  // /proc/PID/ns/net file; empty: the caller's own) are balanced from now
  // on, until removeNetns(name). Adding a name again with another path
  // replaces it; with the same path it is a map lookup (the agent asks for
  // each sandbox on every sync of its pod).
  Status addNetns(const std::string& name, const std::string& path);
  Status removeNetns(const std::string& name);

  // Brings the services to the given programming: `changes` maps a
  // service key to its programming, or to null when it is gone; with
  // `full`, every service not in `changes` is removed too.
  Status update(const std::map<std::string, const ServiceInfo*>& changes, bool full);

  // ClusterIP ports programmed now, and registered namespaces.
  size_t servicePorts() const;
  size_t namespaces() const;
  // Connections the program has sent to an endpoint so far.
  uint64_t balancedConnections() const;
  // The figures above in the Prometheus text format (the agent's /metrics).
  std::string renderMetrics() const;

 private:
  SocketLoadBalancer() = default;
  struct Programmed {
    std::string cluster_ip;
    int port = 0;
    uint32_t id = 0;
    uint16_t generation = 0;
    std::vector<Endpoint> endpoints;
  };
  struct Writes;
  void programPort(const std::string& cluster_ip, const ServicePort& port, const std::vector<Programmed>& before,
                   std::vector<Programmed>& out, Writes& w);
  void removeService(const std::string& key, Writes& w);
  // Takes the namespace out of the program's map unless another name
  // still has it.
  void forgetCookieLocked(uint64_t cookie);

  mutable std::mutex mu_;
  socket_lb* skel_ = nullptr;
  int services_fd_ = -1, backends_fd_ = -1, netns_fd_ = -1, balanced_fd_ = -1;
  uint32_t next_id_ = 1;
  std::map<std::string, std::vector<Programmed>> programmed_;  // service key -> its TCP ClusterIP ports
  struct Netns {
    std::string path;
    uint64_t cookie = 0;
  };
  std::map<std::string, Netns> netns_;  // by name
};

}  // namespace capstan::proxy
