// The services a node offers its pods besides running them: cluster DNS,
// the service proxy and the Ingress proxy. All read cluster-wide caches of Services,
// EndpointSlices and Pods, started here once their handlers are in.
#include <fmt/format.h>

#include "agent/agent_impl.h"
#include "common/log.h"
#include "common/pki.h"

namespace capstan::agent {

std::string proxyTable(const std::string& node_name) {
  std::string t = "capstan_" + node_name;
  for (char& c : t)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return t;
}

Status AgentImpl::startNodeServices(const std::string& pod_cidr) {
  auto gateway = network::gatewayAddress(pod_cidr);
  if (!gateway) return gateway.status();
  cluster_informers_ = std::make_unique<client::InformerFactory>(client_);
  services_ = &cluster_informers_->get(client::res::kServices);
  dns::DnsServerOptions d;
  d.address = *gateway;
  d.port = opts_.dns_port;
  d.cluster_domain = opts_.dns.cluster_domain;
  if (!opts_.dns_upstreams.empty()) d.upstreams = opts_.dns_upstreams;
  auto dns = dns::DnsServer::start(d, *cluster_informers_);
  if (!dns) return dns.status();
  dns_ = std::move(*dns);
  proxy::ProxyOptions p;
  p.node_name = opts_.node_name;
  p.node_ips = {node_->nodeIp()};
  p.cluster_cidr = opts_.cluster_cidr;
  p.table = proxyTable(opts_.node_name);
  auto mode = proxy::parseProxyMode(opts_.proxy_mode);
  if (!mode) return mode.status();
  p.mode = *mode;
  p.socket_lb = socket_lb_.get();
  auto px = proxy::ServiceProxy::start(p, client_, *cluster_informers_);
  if (!px) return px.status();
  proxy_ = std::move(*px);
  if (opts_.ingress_http_port >= 0 || opts_.ingress_https_port >= 0) {
    if (auto st = startIngress(); !st) return st;
  }
  cluster_informers_->start();
  if (auto st = publishDnsEndpoint(*gateway, dns_->port()); !st) return st;
  LOG_INFO("cluster DNS serving", "address", *gateway, "port", dns_->port());
  return Status::ok();
}

// The Ingress proxy: its default certificate (served when no Ingress's TLS
// entry names the host) is a self-signed pair kept in the data dir.
Status AgentImpl::startIngress() {
  ingress::IngressControllerOptions o;
  o.proxy.http_port = opts_.ingress_http_port;
  o.proxy.https_port = opts_.ingress_https_port;
  if (o.proxy.https_port >= 0) {
    auto bundle = pki::ensure({opts_.data_dir + "/ingress-tls", {}, nullptr});
    if (!bundle) return bundle.status();
    o.proxy.default_cert_file = bundle->server_cert.string();
    o.proxy.default_key_file = bundle->server_key.string();
  }
  auto c = ingress::IngressController::start(std::move(o), client_, *cluster_informers_);
  if (!c) return c.status();
  ingress_ = std::move(*c);
  LOG_INFO("ingress serving", "http_port", ingress_->httpPort(), "https_port", ingress_->httpsPort());
  return Status::ok();
}

// This node's endpoint of kube-system/kube-dns: the Service has no
// selector, so each agent keeps its own slice (owned by its Node, so the
// garbage collector removes it with the node).
Status AgentImpl::publishDnsEndpoint(const std::string& address, int port) {
  auto node = client_.get(client::res::kNodes, "", opts_.node_name);
  if (!node) return node.status();
  std::string name = "kube-dns-" + opts_.node_name;
  Json slice = {
      {"apiVersion", "discovery.k8s.io/v1"},
      {"kind", "EndpointSlice"},
      {"metadata",
       {{"name", name},
        {"namespace", "kube-system"},
        {"labels", {{"kubernetes.io/service-name", "kube-dns"}, {"endpointslice.kubernetes.io/managed-by", "capstan-agent"}}},
        {"ownerReferences",
         Json::array({{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", opts_.node_name}, {"uid", client::uidOf(*node)}}})}}},
      {"addressType", "IPv4"},
      {"endpoints", Json::array({{{"addresses", {address}},
                                  {"conditions", {{"ready", true}, {"serving", true}, {"terminating", false}}},
                                  {"nodeName", opts_.node_name}}})},
      {"ports", Json::array({{{"name", "dns"}, {"port", port}, {"protocol", "UDP"}},
                             {{"name", "dns-tcp"}, {"port", port}, {"protocol", "TCP"}}})}};
  auto created = client_.create(client::res::kEndpointSlices, "kube-system", slice);
  if (created || created.status().code() != Code::kAlreadyExists) return created.status();
  auto current = client_.get(client::res::kEndpointSlices, "kube-system", name);
  if (!current) return current.status();
  slice["metadata"]["resourceVersion"] = (*current)["metadata"]["resourceVersion"];
  return client_.update(client::res::kEndpointSlices, "kube-system", slice).status();
}

}  // namespace capstan::agent
