#pragma once
// A decorator of the pod network that registers each sandbox's network
// namespace with the socket load balancer (proxy/socket_lb.h) for as long
// as the sandbox exists, so that its pods' ClusterIP connections go
// straight to an endpoint. Also registers the node's own namespace and
// those of the sandboxes already there (an agent restart). A namespace
// that could not be registered only loses the shortcut: the nftables rules
// still serve it.
//
// Threading: as the wrapped network (the balancer is thread-safe).

#include <memory>

#include "agent/network/network.h"
#include "proxy/socket_lb.h"

namespace capstan::agent {

std::unique_ptr<network::Network> balanceSandboxes(std::unique_ptr<network::Network> inner,
                                                   proxy::SocketLoadBalancer& lb);

}  // namespace capstan::agent
