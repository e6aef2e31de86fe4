#pragma once
// What the service proxy needs of a Service and its EndpointSlices, read
// once from the informers' objects so that the rule generator never touches
// JSON. Readers tolerate missing or mistyped fields: one odd object must
// not stop the proxy. IPv4 only: other addresses are ignored.

#include <string>
#include <vector>

#include "common/json.h"

namespace capstan::proxy {

// One backend of one service port: where connections are sent.
struct Endpoint {
  std::string ip;
  int port = 0;
  std::string node_name;  // empty when the slice does not say

  bool operator==(const Endpoint&) const = default;
};

struct ServicePort {
  std::string name;      // spec.ports[].name, may be empty for a single port
  std::string protocol;  // tcp, udp or sctp (nft spelling)
  int port = 0;
  int node_port = 0;  // 0: none
  // The endpoints connections are spread over: the ready ones, or when
  // none is ready the serving and terminating ones (as upstream); only
  // this node's with internalTrafficPolicy Local.
  std::vector<Endpoint> endpoints;
  // The same choice made among the endpoints on this node only
  // (externalTrafficPolicy Local).
  std::vector<Endpoint> local_endpoints;
};

// A service as the proxy programs it. A headless or ExternalName service,
// or one without an IPv4 cluster IP, has no ports (nothing to program).
struct ServiceInfo {
  std::string ns, name;
  std::string cluster_ip;
  // Addresses besides the cluster IP that reach the service through the
  // "external" path (masqueraded, or local endpoints only with
  // externalTrafficPolicy Local): spec.externalIPs, the LoadBalancer
  // ingress IPs of the status and, for type LoadBalancer, the node's own IPs
  // (services published on the nodes, as k3s' ServiceLB does).
  std::vector<std::string> external_ips;
  bool external_local = false;  // externalTrafficPolicy Local
  int affinity_timeout = 0;     // > 0: sessionAffinity ClientIP, seconds
  std::vector<ServicePort> ports;

  bool operator==(const ServiceInfo&) const = default;
};

// The node the proxy runs on.
struct NodeContext {
  std::string node_name;
  std::vector<std::string> node_ips;  // where type LoadBalancer services are published
};

// True for a dotted-quad IPv4 address.
bool isIpv4(const std::string& s);

// Builds the service's programming from the Service object and the
// EndpointSlices labelled kubernetes.io/service-name with its name (slices of
// other services or address types are skipped).
ServiceInfo serviceInfoOf(const Json& service, const std::vector<const Json*>& slices,
                          const NodeContext& node);

// The endpoint-slice label that names the owning service.
inline constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";

}  // namespace capstan::proxy
