#pragma once
// The service proxy of a node (part of the agent): keeps one nftables
// table in step with the cluster's Services and EndpointSlices so that
// ClusterIP, NodePort and LoadBalancer services spread new connections
// over their endpoints, from the host and from pods, all in the kernel
// (DNAT; no traffic passes through user space). Rule structure: see
// proxy/rule_generator.h.
//
// Contract:
// - Every change reaches the kernel as one nft transaction: no connection
//   ever sees a half-written rule set. The first sync replaces the table;
//   later ones rewrite only the changed services' chains and map elements
//   (libnftables, in-process; a change of map elements only, such as an
//   endpoint replaced, as one nfnetlink batch through libnftnl instead:
//   proxy/nft_elements.h). After a failed transaction, and every
//   `full_resync_period`, the whole table is replaced again.
// - A service whose port has no usable endpoint refuses new connections at
//   once (TCP reset / ICMP port unreachable), never black-holes them.
// - Endpoints used: ready ones; when none is ready, serving+terminating
//   ones. Headless and ExternalName services get no rules.
// - type LoadBalancer (without loadBalancerClass) is published on the node
//   IPs; with `publish_load_balancer_status` this proxy also writes
//   status.loadBalancer.ingress (see proxy/load_balancer_status.h).
// - stop(true) deletes the table; stop(false) leaves the rules serving
//   (an agent restart keeps traffic flowing). cleanup() deletes a table
//   without a running proxy (`capstan cleanup`, `capstan agent --cleanup`).
//
// Threading: start() registers informer handlers (call it before the
// InformerFactory is started) and starts one sync thread. Handlers only
// record dirty keys; the sync thread reads the informers' caches,
// generates, applies and writes statuses. A burst of events is coalesced
// into one transaction: whatever accumulated while the previous sync ran.
// The accessors are thread-safe.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "common/clock.h"
#include "common/status.h"

namespace capstan::proxy {

class SocketLoadBalancer;

// How the proxy programs the kernel: nftables (libnftables and nfnetlink),
// or iptables-restore where nftables is missing (proxy/iptables.h); auto
// takes nftables when the kernel answers it.
enum class ProxyMode { kAuto, kNftables, kIptables };
Result<ProxyMode> parseProxyMode(const std::string& text);  // auto, nftables or iptables

struct ProxyOptions {
  std::string node_name;
  // IPv4 addresses LoadBalancer services are published on. Empty: the
  // InternalIP/ExternalIP addresses of this node's Node object.
  std::vector<std::string> node_ips;
  // The pods' CIDR (e.g. 10.42.0.0/16): service traffic from outside it is
  // masqueraded. Empty: none is (only the external path and hairpin are).
  std::string cluster_cidr;
  // One table per proxy instance ("capstan", or "capstan_<node>" when
  // several agents share a machine). [A-Za-z_][A-Za-z0-9_]*. A full sync
  // builds the rules in alternateTable(table) (proxy/rule_generator.h) when `table` is live (and
  // back), then switches to it in one transaction.
  std::string table = "capstan";
  // The rules go into this network namespace (a /run/netns/<name> file)
  // instead of the agent's own. Tests use it.
  std::string netns;
  ProxyMode mode = ProxyMode::kAuto;
  // The iptables tools of the iptables mode: "iptables" (the machine's
  // alternative), "iptables-legacy" or "iptables-nft". Chains are named
  // after the table (iptablesPrefix, proxy/iptables_rules.h).
  std::string iptables_tool = "iptables";
  std::chrono::milliseconds full_resync_period = std::chrono::hours(1);  // 0: only after errors
  // Waited after the first event of a burst before syncing; 0 syncs at once
  // (events arriving during a sync are still batched into the next one).
  std::chrono::milliseconds coalesce = std::chrono::milliseconds(0);
  bool publish_load_balancer_status = true;
  // Also given each sync's services after the kernel took the rules
  // (proxy/socket_lb.h); not owned, must outlive the proxy. nullptr: the
  // rules alone.
  SocketLoadBalancer* socket_lb = nullptr;
  const Clock* clock = nullptr;  // nullptr: the system clock
};

class ServiceProxy {
 public:
  // Registers handlers on the factory's Services, EndpointSlices and Nodes
  // informers and starts the sync thread, which waits for their first list
  // before its first (full) sync. Invalid options give Invalid.
  static Result<std::unique_ptr<ServiceProxy>> start(ProxyOptions options, const client::Client& client,
                                                     client::InformerFactory& informers);
  virtual ~ServiceProxy() = default;

  // Stops the sync thread; with remove_rules, deletes the table too.
  // Idempotent. Stop the informers after (or before: handlers of a stopped
  // proxy do nothing).
  virtual Status stop(bool remove_rules) = 0;

  // Number of successful syncs (full or incremental) so far.
  virtual uint64_t syncCount() const = 0;
  // Wall time of the last successful sync: generating the text plus the
  // nft transaction.
  virtual std::chrono::microseconds lastSyncDuration() const = 0;
  // Whether the last sync was a full one (in the iptables mode every sync
  // is), and its error if it failed.
  virtual bool lastSyncWasFull() const = 0;
  virtual Status lastSyncStatus() const = 0;
  // Blocks until every change seen before the call is in the kernel (a
  // successful sync started after it), or the timeout. For tests and
  // readiness.
  virtual bool waitForSync(std::chrono::milliseconds timeout) const = 0;
  // The mode the proxy chose (never kAuto once start() returned).
  virtual ProxyMode mode() const = 0;

  // Deletes `table` and its alternate, and the iptables chains named after
  // `table` (and so every rule of a proxy that used it, in either mode) in the
  // network namespace `netns` (empty: this one). Succeeds when absent.
  static Status cleanup(const std::string& table, const std::string& netns = "",
                        const std::string& iptables_tool = "iptables");
};

}  // namespace capstan::proxy
