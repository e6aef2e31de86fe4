#pragma once
// The cluster DNS server (issue 6): answers for the cluster domain from the
// informers' caches, forwards every other name to the node's resolvers.
//
//   DnsServerOptions o;                    // 10.43.0.10:53, cluster.local
//   auto dns = DnsServer::start(o, informers);  // before informers.start()
//   ... informers.start();
//
// Answers (see dns/resolver.h and dns/zone_snapshot.h for the details):
// A/AAAA for <svc>.<ns>.svc.<domain> (cluster IPs, or a headless service's
// ready endpoints and <hostname>.<svc>.<ns>.svc.<domain>), SRV for named
// ports as _<port>._<proto>.<svc>.<ns>.svc.<domain>, CNAME for
// ExternalName services, A/AAAA for <a-b-c-d>.<ns>.pod.<domain> of running
// pods, PTR for service and endpoint IPs, NXDOMAIN (or NODATA) with the
// SOA for the rest of the domain, TTL 5 s. Short names are the client's
// business (the pod's resolv.conf search path), as with CoreDNS.
//
// Until the informers have listed, names in the domain get SERVFAIL.
//
// Threading: `threads` workers, each with its own SO_REUSEPORT UDP socket
// and TCP listener on the address, serve from the latest immutable zone
// snapshot, which one builder thread rebuilds from informer events. A
// query for a cluster name never waits for an upstream or for a build.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/informer.h"
#include "common/clock.h"
#include "common/status.h"

namespace capstan::dns {

class RecordStore;
class DnsWorker;

struct DnsServerOptions {
  std::string address = "10.43.0.10";  // an IPv4 or IPv6 address of this node
  int port = 53;                       // 0: any free port (the same for UDP and TCP); see port()
  std::string cluster_domain = "cluster.local";
  // Resolvers for names outside the cluster domain, "ip:port", "[v6]:port"
  // or an address alone (port 53). nullopt: the nameservers of
  // `resolv_conf`. Empty: no forwarding (such names get REFUSED).
  std::optional<std::vector<std::string>> upstreams;
  std::string resolv_conf = "/etc/resolv.conf";
  int threads = 2;
  std::chrono::milliseconds upstream_timeout{2000};   // per upstream tried, then the next; then SERVFAIL
  std::chrono::milliseconds tcp_idle_timeout{10000};  // a TCP connection quiet this long is closed
  size_t max_tcp_connections = 1024;                  // per thread; beyond, new connections are closed
  const Clock* clock = nullptr;                       // SystemClock when null
};

class DnsServer {
 public:
  // Binds the sockets, registers the record store's handlers on the
  // Service, EndpointSlice and Pod informers of `informers` and starts
  // serving. Precondition: `informers` has not been started yet (its
  // handlers are fixed once it runs); it may outlive the server.
  // BadRequest for a bad address or upstream, Internal when a socket
  // cannot be bound.
  static Result<std::unique_ptr<DnsServer>> start(const DnsServerOptions& options,
                                                  client::InformerFactory& informers);
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // The port served on (the one picked when options.port was 0).
  int port() const { return port_; }
  // Stops serving and closes the sockets; idempotent.
  void stop();

 private:
  DnsServer() = default;

  int port_ = 0;
  std::shared_ptr<RecordStore> records_;  // shared with the informers' handlers
  std::vector<std::unique_ptr<DnsWorker>> workers_;
};

}  // namespace capstan::dns
