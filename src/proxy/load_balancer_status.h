#pragma once
// Type LoadBalancer without a cloud, as k3s' ServiceLB: every node
// publishes the service on its own addresses (the rule generator sends
// <node IP>:<port> to the endpoints), and status.loadBalancer.ingress lists
// the nodes' addresses. Every node's proxy computes the same list from the
// same Node objects, so several writers agree and a write happens only
// when the status differs (level driven, idempotent).

#include <memory>
#include <vector>

#include "client/client.h"
#include "common/json.h"

namespace capstan::proxy {

// A LoadBalancer service this proxy publishes: type LoadBalancer and no
// spec.loadBalancerClass (a class means another controller owns it).
bool publishedOnNodes(const Json& service);

// [{"ip": ...}] sorted: per node its IPv4 ExternalIP addresses, or its
// InternalIP ones when it has no ExternalIP.
Json loadBalancerIngress(const std::vector<std::shared_ptr<const Json>>& nodes);

// Patches the service's status.loadBalancer.ingress to `ingress` unless it
// already is that. NotFound when the service is gone.
Status publishLoadBalancerStatus(const client::Client& client, const Json& service, const Json& ingress);

}  // namespace capstan::proxy
