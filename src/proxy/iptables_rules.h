#pragma once
// The service proxy's rules for hosts without nftables: the same services
// (proxy/service_model.h) as iptables-restore input, as kube-proxy's
// iptables mode writes them. Pure: no kernel, no root; unit tests read the
// text (and `iptables-restore --test` accepts it when root).
//
// Chains (every name starts with the prefix, at most 28 characters):
//
//   nat  P-SERVICES     from PREROUTING and OUTPUT: cluster IP . proto .
//                       port -> P-SVC-<h>; external IPs -> P-EXT-<h>; local
//                       destinations (not 127/8) -> P-NODEPORTS
//        P-NODEPORTS    proto . node port -> P-EXT-<h>
//        P-SVC-<h>      off-cluster sources marked for masquerade; with
//                       sessionAffinity ClientIP a recent client goes back
//                       to its endpoint (xt_recent); then endpoint i of n
//                       with probability 1/(n-i) (xt_statistic)
//        P-SEP-<h>      one endpoint: its own traffic marked (hairpin),
//                       DNAT to ip:port
//        P-EXT-<h>      masquerade, then P-SVC-<h>; with
//                       externalTrafficPolicy Local: cluster and host
//                       sources to P-SVC-<h>, the rest to P-LOCAL-<h> (this
//                       node's endpoints, source kept) or marked for drop
//        P-MARK-MASQ / P-MARK-DROP   set the masquerade / drop mark bit
//        P-POSTROUTING  from POSTROUTING: masquerade marked packets
//   filter P-FILTER     from INPUT, FORWARD and OUTPUT: drop marked packets;
//                       new connections to a service without endpoints are
//                       rejected (TCP reset, ICMP port unreachable otherwise)
//
// <h> is a hash of the service port (and endpoint), stable across runs, so
// that a sync can tell its chains from those of services now gone. Each
// sync writes all of it: every chain of ours is declared (which flushes
// it) and refilled, and chains no longer wanted are deleted, in one
// iptables-restore per table (--noflush: other rules stay).

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "proxy/service_model.h"

namespace capstan::proxy {

struct IptablesOptions {
  std::string prefix = "CAPSTAN";  // chain name prefix; at most 8 characters
  std::string cluster_cidr;        // empty: no masquerade of off-cluster sources
  std::string node_name;
  uint32_t masquerade_mark = 0x4000;
  uint32_t drop_mark = 0x8000;
};

// The chain prefix of a proxy whose nftables table would be `table`:
// "CAPSTAN" for "capstan", else "CP" and a hash (several agents on one
// machine share its iptables).
std::string iptablesPrefix(const std::string& table);

// One jump from a built-in chain into ours, for `iptables -C/-I/-D`.
struct IptablesHook {
  std::string table, chain;
  std::vector<std::string> rule;  // after "-A chain"
};
std::vector<IptablesHook> iptablesHooks(const IptablesOptions& options);

// Our chains by table, as listed by iptables-save (":NAME ..." lines that
// start with the prefix and a dash).
std::map<std::string, std::set<std::string>> ourChains(const std::string& iptables_save_output,
                                                       const std::string& prefix);

// iptables-restore --noflush input that makes our chains exactly these
// services; `existing` (ourChains of the kernel) are deleted unless still
// wanted. `wanted`, when given, gets the chains the text leaves, by table.
std::string iptablesRestoreText(const std::map<std::string, ServiceInfo>& services, const IptablesOptions& options,
                                const std::map<std::string, std::set<std::string>>& existing,
                                std::map<std::string, std::set<std::string>>* wanted = nullptr);

// Input that flushes and deletes `existing` (after the hooks are removed).
std::string iptablesDeleteText(const std::map<std::string, std::set<std::string>>& existing);

}  // namespace capstan::proxy
