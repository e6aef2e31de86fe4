#pragma once
// default/kubernetes: the Service every cluster has, on the first address of
// the service range, and the Endpoints and EndpointSlice that lead it to this
// API server (its advertise address and bound port), as kube-apiserver's
// endpoint reconciler keeps them. The Service has no selector, so the
// Endpoints and EndpointSlice controllers leave these objects alone.
//
// ApiServer::start writes them once it listens (the port may have been
// picked then) and again at every start: a server restarted with another
// address or port rewrites what an earlier run stored.

#include <functional>
#include <string>

#include "apiserver/http.h"
#include "common/status.h"

namespace capstan::apiserver {

// A blocking request through the API server's chain (ApiServer::call).
using CallFn =
    std::function<Response(const std::string& method, const std::string& path, const std::string& body)>;

struct KubernetesServiceTarget {
  std::string cluster_ip;  // the Service's ClusterIP
  std::string address;     // the advertise address (IPv4); "" writes no Endpoints or EndpointSlice
  int port = 0;            // the bound HTTPS port
};

// The address pods reach the API server at when --advertise-address is not
// given: the bind address when it is a specific IPv4 address, else (0.0.0.0,
// IPv6, or loopback, which no endpoint may be, as upstream's
// ResolveBindAddress) the machine's first IPv4 address (firstHostIpv4).
// "" when there is none.
std::string defaultAdvertiseAddress(const std::string& bind_address);

// Creates the Service, Endpoints and EndpointSlice, or updates the fields
// this file owns (the Service's ports; the others' labels, addresses and
// ports) where a stored one differs; writes nothing when all match.
Status ensureKubernetesService(const CallFn& call, const KubernetesServiceTarget& target);

}  // namespace capstan::apiserver
