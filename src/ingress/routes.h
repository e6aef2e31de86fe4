#pragma once
// What the ingress proxy routes, computed from the cluster's Ingresses,
// IngressClasses, Services, EndpointSlices and TLS Secrets: a value built
// in one go from snapshots (no I/O) and then only read, so that requests
// in flight keep the table they started with while a new one is built.
//
// Which Ingresses are ours: spec.ingressClassName names an IngressClass
// whose spec.controller is kControllerName; or there is no class name, the
// legacy kubernetes.io/ingress.class annotation names such a class (or is
// "capstan"), or, with neither, one of our IngressClasses is the default
// (annotation ingressclass.kubernetes.io/is-default-class: "true").
//
// Matching a request (upstream's Ingress semantics, where they are silent
// ingress-nginx's):
// - Host: a rule's host matches the request's Host (port dropped, case
//   ignored) exactly, or as a wildcard "*.example.com" that covers exactly
//   one more label ("a.example.com", not "example.com" nor "a.b.example.com").
//   Exact hosts are tried first, then wildcards (longest first), then rules
//   without a host; the first group with a matching path wins.
// - Path: Exact matches the path (no query) exactly; Prefix matches by
//   '/'-separated elements ("/foo" matches "/foo", "/foo/" and "/foo/bar",
//   not "/foobar"); ImplementationSpecific is treated as Prefix. The
//   longest path wins, Exact before Prefix at equal length.
// - Conflicts (the same host, path and type in several Ingresses): the
//   oldest Ingress wins (creationTimestamp, then namespace/name).
// - Nothing matches: the oldest of our Ingresses' spec.defaultBackend, if
//   any; else no route (the proxy answers 404).
//
// Backends are Services: the endpoints are the ready addresses of the
// Service's EndpointSlices for the port named or numbered by the backend
// (when none is ready, the serving+terminating ones, as kube-proxy does);
// headless Services work as well (ingress controllers dial endpoints).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"

namespace capstan::ingress {

inline constexpr char kControllerName[] = "capstan.io/ingress";
inline constexpr char kDefaultClassName[] = "capstan";

struct Endpoint {
  std::string ip;
  int port = 0;
  bool operator==(const Endpoint&) const = default;
};

struct Backend {
  std::string ns, service;  // empty service: a resource backend (unsupported: 503)
  std::string port;         // as written in the Ingress: a number or a name
  std::vector<Endpoint> endpoints;
};

enum class PathType { kExact, kPrefix };

struct Route {
  std::string host;  // "" for every host; "*.x.y" for a wildcard
  std::string path;  // normalised: begins with '/'; Prefix paths lose a trailing '/'
  PathType type = PathType::kPrefix;
  std::string ingress;  // namespace/name, for logs and status
  std::shared_ptr<const Backend> backend;
};

struct TlsCertificate {
  std::string secret;  // namespace/name
  std::string cert_pem, key_pem;
};

// Snapshots of the informers' caches.
struct Inputs {
  std::vector<std::shared_ptr<const Json>> ingresses, classes, services, slices, secrets;
};

class RouteTable {
 public:
  RouteTable() = default;
  static std::shared_ptr<const RouteTable> build(const Inputs& in);

  // The backend for a request, nullptr when nothing matches. `host` may
  // carry a port; `target` may carry a query.
  const Backend* match(std::string_view host, std::string_view target) const;
  // The certificate for a TLS server name (SNI), nullptr for the default one.
  std::shared_ptr<const TlsCertificate> certificateFor(std::string_view server_name) const;

  // Every certificate of the table, each once.
  std::vector<std::shared_ptr<const TlsCertificate>> certificates() const;

  // The Ingresses routed here (namespace/name), sorted.
  const std::vector<std::string>& servedIngresses() const { return served_; }
  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct HostCert {
    std::string host;
    std::shared_ptr<const TlsCertificate> cert;
  };
  std::vector<Route> routes_;  // ordered: exact hosts, wildcards, no host; within, longest path first
  std::shared_ptr<const Backend> default_backend_;
  std::vector<HostCert> certs_;
  std::vector<std::string> served_;
};

// Whether an Ingress belongs to this controller (see above).
bool isOurs(const Json& ingress, const std::vector<std::shared_ptr<const Json>>& classes);

// The request's host without its port, lowercased ("[::1]:80" -> "[::1]").
std::string normaliseHost(std::string_view host);

}  // namespace capstan::ingress
