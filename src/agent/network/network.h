#pragma once
// Pod sandboxes: pinned namespaces + CNI networking.
//
// A sandbox is a new network, IPC and UTS namespace, each pinned by a bind
// mount under <run_dir>/<sandbox id>/{net,ipc,uts} (no pause process: the
// containers of the pod join them by path). Its network is set up by the
// standard CNI plugins run per the CNI spec (1.0.0): loopback, then bridge
// with host-local IPAM, then portmap when the pod has hostPorts; teardown
// runs DEL in reverse order while the netns is still pinned (DEL after the
// netns is gone leaks the bridge plugin's masquerade chain) and then
// unpins. The CNI results are kept in <run_dir>/<id>/state.json for DEL's
// prevResult and for list() after an agent restart.
//
// Threading: thread-safe; sandboxes are set up concurrently (host-local
// and the iptables calls of the plugins do their own locking).

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace capstan::agent::network {

struct NetworkConfig {
  std::string network_name = "capstan";  // CNI network name (prefixes the plugins' chains)
  std::string bridge = "cni0";
  std::string subnet = "10.42.0.0/24";  // this node's slice of the cluster CIDR
  std::string cni_bin_dir = "/usr/lib/cni";
  std::string ipam_data_dir;  // required: host-local's state
  std::string run_dir;        // required: namespace pins and CNI results
  bool hairpin_mode = true;   // a pod reaches itself through a Service VIP
  // One `iptables -t nat POSTROUTING -s <subnet> ! -d <cluster_cidr>
  // MASQUERADE` rule for the node (tagged with a comment, removed by
  // close()), instead of the bridge plugin's chain per pod.
  bool ip_masq = true;
  std::string cluster_cidr;  // pod traffic to it keeps its source; empty: the subnet
  int mtu = 0;                // 0: the plugin's default
  // Installs `iptables -I FORWARD -i <bridge> ! -d <isolate_allow> -j DROP`
  // (one rule, tagged with a comment) so pods reach the host, each other and
  // the pods of other nodes (the cluster CIDR) but nothing routed beyond
  // this machine; removed by close(). Tests use it.
  bool isolate = false;
  std::string isolate_allow;  // the cluster CIDR; empty: only the bridge itself
  // Create the bridge with its gateway address at open(), before the first
  // pod (the agent serves DNS on that address from the start).
  bool create_bridge = false;
};

// The bridge's own address: the first host address of a node's pod subnet
// (the gateway the CNI bridge plugin gives pods).
Result<std::string> gatewayAddress(const std::string& subnet);

// Makes bridged IPv4 traffic pass the IP netfilter hooks in the current
// network namespace: loads br_netfilter (modprobe) when
// /proc/sys/net/bridge is missing and sets bridge-nf-call-iptables to 1.
// The service proxy needs it: a pod reaching a Service whose endpoint is
// on the same bridge is DNATed by the node, and the endpoint's reply,
// bridged straight back to the pod, must meet conntrack to be un-NATed.
// Upstream asks the same of every node (kubeadm's preflight, k3s's agent).
// An error says what could not be done; the caller logs it and goes on
// (pods still work; only same-node Service traffic would not).
Status ensureBridgeNetfilter(const std::string& proc_sys = "/proc/sys");

struct PortMapping {
  int host_port = 0;
  int container_port = 0;
  std::string protocol = "tcp";  // tcp, udp, sctp (lower case)
  std::string host_ip;           // empty: all addresses
};

struct Sandbox {
  std::string id;
  std::string net_ns;  // pinned namespace paths, for ContainerSpec.namespaces
  std::string ipc_ns;
  std::string uts_ns;
  std::string ip;       // pod IP, no prefix ("10.42.0.5")
  std::string gateway;  // the bridge address
  std::vector<PortMapping> ports;
};

class Network {
 public:
  virtual ~Network() = default;

  // Checks the plugins, creates the dirs, installs the masquerade and
  // isolation rules.
  static Result<std::unique_ptr<Network>> open(const NetworkConfig& config);

  // New namespaces (the UTS one gets `hostname`), CNI ADD. Idempotent for
  // an id that exists: returns it as it is. On failure nothing is left.
  // id: [A-Za-z0-9_.-], at most 64 chars.
  virtual Result<Sandbox> createSandbox(const std::string& id, const std::string& hostname,
                                        const std::vector<PortMapping>& ports = {}) = 0;

  // CNI DEL (reverse order) while pinned, then unpin. Idempotent.
  virtual Status removeSandbox(const std::string& id) = 0;

  // Sandboxes pinned under run_dir (e.g. after an agent restart).
  virtual std::vector<Sandbox> list() const = 0;

  // Removes the masquerade and isolation rules (whatever subnet they were
  // made for); with delete_bridge also the bridge link
  // (only when no sandbox is left). Idempotent.
  virtual Status close(bool delete_bridge) = 0;
};

}  // namespace capstan::agent::network
