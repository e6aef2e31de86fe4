#include "proxy/load_balancer_status.h"

#include <set>

#include "proxy/service_model.h"

namespace capstan::proxy {

bool publishedOnNodes(const Json& service) {
  const Json& spec = objectAt(service, "spec");
  return getString(spec, "type") == "LoadBalancer" && getString(spec, "loadBalancerClass").empty();
}

Json loadBalancerIngress(const std::vector<std::shared_ptr<const Json>>& nodes) {
  std::set<std::string> ips;
  for (const auto& node : nodes) {
    if (!node) continue;
    std::vector<std::string> external, internal;
    for (const auto& a : arrayAt(objectAt(*node, "status"), "addresses")) {
      std::string ip = getString(a, "address");
      if (!isIpv4(ip)) continue;
      std::string type = getString(a, "type");
      if (type == "ExternalIP") external.push_back(ip);
      if (type == "InternalIP") internal.push_back(ip);
    }
    for (const auto& ip : external.empty() ? internal : external) ips.insert(ip);
  }
  Json out = Json::array();
  for (const auto& ip : ips) out.push_back({{"ip", ip}});
  return out;
}

Status publishLoadBalancerStatus(const client::Client& client, const Json& service, const Json& ingress) {
  const Json& current = arrayAt(objectAt(objectAt(service, "status"), "loadBalancer"), "ingress");
  if (current == ingress) return Status::ok();
  Json patch = {{"status", {{"loadBalancer", {{"ingress", ingress}}}}}};
  auto r = client.patch(client::res::kServices, client::namespaceOf(service), client::nameOf(service),
                        client::PatchType::kMerge, patch, "status");
  return std::move(r).status();
}

}  // namespace capstan::proxy
