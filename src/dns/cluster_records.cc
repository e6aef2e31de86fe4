#include "dns/cluster_records.h"

namespace capstan::dns {
namespace {

std::vector<PortInfo> portsOf(const Json& ports) {
  std::vector<PortInfo> out;
  for (const auto& p : ports) {
    if (!p.is_object()) continue;
    auto port = p.find("port");
    if (port == p.end() || !port->is_number_integer()) continue;
    out.push_back({getString(p, "name"), getString(p, "protocol", "TCP"), port->get<int>()});
  }
  return out;
}

}  // namespace

ServiceInfo serviceInfoOf(const Json& service) {
  const Json& meta = objectAt(service, "metadata");
  const Json& spec = objectAt(service, "spec");
  ServiceInfo s;
  s.ns = getString(meta, "namespace");
  s.name = getString(meta, "name");
  std::string cluster_ip = getString(spec, "clusterIP");
  if (getString(spec, "type") == "ExternalName") {
    s.external_name = getString(spec, "externalName");
  } else if (cluster_ip == "None") {
    s.headless = true;
  } else {
    s.cluster_ips = stringsOf(arrayAt(spec, "clusterIPs"));
    if (s.cluster_ips.empty() && !cluster_ip.empty()) s.cluster_ips.push_back(cluster_ip);
  }
  s.ports = portsOf(arrayAt(spec, "ports"));
  return s;
}

SliceInfo sliceInfoOf(const Json& slice) {
  const Json& meta = objectAt(slice, "metadata");
  SliceInfo s;
  s.ns = getString(meta, "namespace");
  s.name = getString(meta, "name");
  s.service = getString(objectAt(meta, "labels"), "kubernetes.io/service-name");
  s.address_type = getString(slice, "addressType", "IPv4");
  for (const auto& e : arrayAt(slice, "endpoints")) {
    EndpointInfo ep;
    ep.addresses = stringsOf(arrayAt(e, "addresses"));
    ep.hostname = getString(e, "hostname");
    const Json* ready = find(objectAt(e, "conditions"), "ready");
    ep.ready = !(ready && ready->is_boolean() && !ready->get<bool>());
    s.endpoints.push_back(std::move(ep));
  }
  s.ports = portsOf(arrayAt(slice, "ports"));
  return s;
}

PodInfo podInfoOf(const Json& pod) {
  const Json& meta = objectAt(pod, "metadata");
  const Json& status = objectAt(pod, "status");
  PodInfo p;
  p.ns = getString(meta, "namespace");
  p.name = getString(meta, "name");
  std::string phase = getString(status, "phase");
  // A finished pod's IP may already belong to another pod.
  if (phase == "Succeeded" || phase == "Failed") return p;
  for (const auto& ip : arrayAt(status, "podIPs")) {
    std::string s = getString(ip, "ip");
    if (!s.empty()) p.ips.push_back(std::move(s));
  }
  std::string single = getString(status, "podIP");
  if (p.ips.empty() && !single.empty()) p.ips.push_back(std::move(single));
  return p;
}

}  // namespace capstan::dns
