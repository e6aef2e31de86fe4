#include "proxy/service_model.h"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <set>

namespace capstan::proxy {
namespace {

struct Candidate {
  Endpoint ep;
  bool ready = true;
  bool serving = true;
  bool terminating = false;
};

bool boolOr(const Json& obj, const char* key, bool def) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() ? it->get<bool>() : def;
}

int intOr(const Json& obj, const char* key, int def) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<int>() : def;
}

std::string lowerProtocol(const std::string& p) {
  if (p == "UDP") return "udp";
  if (p == "SCTP") return "sctp";
  return "tcp";
}

// Ready endpoints; when none is ready, the serving and terminating ones
// (upstream's ProxyTerminatingEndpoints), so a rolling update does not drop
// connections while the old pods still serve.
std::vector<Endpoint> choose(const std::vector<Candidate>& all, const std::string& only_node) {
  std::vector<Endpoint> ready, fallback;
  for (const auto& c : all) {
    if (!only_node.empty() && c.ep.node_name != only_node) continue;
    if (c.ready)
      ready.push_back(c.ep);
    else if (c.serving && c.terminating)
      fallback.push_back(c.ep);
  }
  return ready.empty() ? fallback : ready;
}

void addUnique(std::vector<std::string>& v, const std::string& ip) {
  if (isIpv4(ip) && std::find(v.begin(), v.end(), ip) == v.end()) v.push_back(ip);
}

}  // namespace

bool isIpv4(const std::string& s) {
  in_addr a{};
  return !s.empty() && inet_pton(AF_INET, s.c_str(), &a) == 1;
}

ServiceInfo serviceInfoOf(const Json& service, const std::vector<const Json*>& slices,
                          const NodeContext& node) {
  ServiceInfo info;
  const Json& meta = objectAt(service, "metadata");
  const Json& spec = objectAt(service, "spec");
  info.ns = getString(meta, "namespace");
  info.name = getString(meta, "name");
  std::string type = getString(spec, "type", "ClusterIP");
  info.cluster_ip = getString(spec, "clusterIP");
  if (type == "ExternalName" || !isIpv4(info.cluster_ip)) {  // also headless ("None")
    info.cluster_ip.clear();
    return info;
  }
  bool external_type = type == "NodePort" || type == "LoadBalancer";
  info.external_local = external_type && getString(spec, "externalTrafficPolicy") == "Local";
  bool internal_local = getString(spec, "internalTrafficPolicy") == "Local" && !node.node_name.empty();
  if (getString(spec, "sessionAffinity") == "ClientIP") {
    const Json& cfg = objectAt(objectAt(spec, "sessionAffinityConfig"), "clientIP");
    info.affinity_timeout = intOr(cfg, "timeoutSeconds", 10800);
    if (info.affinity_timeout <= 0) info.affinity_timeout = 10800;
  }
  for (const auto& ip : arrayAt(spec, "externalIPs"))
    if (ip.is_string()) addUnique(info.external_ips, ip.get<std::string>());
  if (type == "LoadBalancer") {
    for (const auto& ing : arrayAt(objectAt(objectAt(service, "status"), "loadBalancer"), "ingress"))
      addUnique(info.external_ips, getString(ing, "ip"));
    for (const auto& ip : node.node_ips) addUnique(info.external_ips, ip);
  }

  // Candidates per (slice port name, protocol), deduplicated by ip:port.
  std::map<std::pair<std::string, std::string>, std::map<std::pair<std::string, int>, Candidate>> by_port;
  for (const Json* slice : slices) {
    if (!slice || getString(*slice, "addressType", "IPv4") != "IPv4") continue;
    for (const auto& p : arrayAt(*slice, "ports")) {
      int port = intOr(p, "port", 0);
      if (port <= 0) continue;
      auto& cands = by_port[{getString(p, "name"), lowerProtocol(getString(p, "protocol", "TCP"))}];
      for (const auto& e : arrayAt(*slice, "endpoints")) {
        const Json& cond = objectAt(e, "conditions");
        Candidate c;
        c.ready = boolOr(cond, "ready", true);
        c.serving = boolOr(cond, "serving", c.ready);
        c.terminating = boolOr(cond, "terminating", false);
        c.ep.port = port;
        c.ep.node_name = getString(e, "nodeName");
        for (const auto& a : arrayAt(e, "addresses")) {
          if (!a.is_string() || !isIpv4(a.get<std::string>())) continue;
          c.ep.ip = a.get<std::string>();
          auto [it, added] = cands.try_emplace({c.ep.ip, port}, c);
          if (!added && c.ready && !it->second.ready) it->second = c;  // a duplicate that is ready wins
        }
      }
    }
  }

  for (const auto& p : arrayAt(spec, "ports")) {
    ServicePort sp;
    sp.name = getString(p, "name");
    sp.protocol = lowerProtocol(getString(p, "protocol", "TCP"));
    sp.port = intOr(p, "port", 0);
    if (sp.port <= 0 || sp.port > 65535) continue;
    if (external_type) sp.node_port = std::clamp(intOr(p, "nodePort", 0), 0, 65535);
    std::vector<Candidate> cands;
    if (auto it = by_port.find({sp.name, sp.protocol}); it != by_port.end())
      for (const auto& [k, c] : it->second) cands.push_back(c);
    // internalTrafficPolicy Local: cluster-IP traffic only to this node's
    // endpoints (none: refused), e.g. the per-node cluster DNS.
    sp.endpoints = choose(cands, internal_local ? node.node_name : "");
    if (info.external_local && !node.node_name.empty()) sp.local_endpoints = choose(cands, node.node_name);
    info.ports.push_back(std::move(sp));
  }
  return info;
}

}  // namespace capstan::proxy
