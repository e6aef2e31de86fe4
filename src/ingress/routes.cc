#include "ingress/routes.h"

#include <algorithm>
#include <map>

#include "common/base64.h"
#include "common/strings.h"

namespace capstan::ingress {
namespace {

using ObjectPtr = std::shared_ptr<const Json>;

std::string keyOf(const Json& obj) {
  const Json& meta = objectAt(obj, "metadata");
  return getString(meta, "namespace") + "/" + getString(meta, "name");
}

std::string annotation(const Json& obj, std::string_view name) {
  return getString(objectAt(objectAt(obj, "metadata"), "annotations"), name);
}

bool isOurClass(const Json& cls) { return getString(objectAt(cls, "spec"), "controller") == kControllerName; }

const Json* classNamed(const std::vector<ObjectPtr>& classes, const std::string& name) {
  for (const auto& c : classes)
    if (getString(objectAt(*c, "metadata"), "name") == name) return c.get();
  return nullptr;
}

bool isWildcard(const std::string& host) { return host.size() > 2 && host[0] == '*' && host[1] == '.'; }

// "*.example.com" covers "a.example.com" only: one label more.
bool wildcardCovers(const std::string& pattern, const std::string& host) {
  std::string_view suffix = std::string_view(pattern).substr(1);  // ".example.com"
  if (host.size() <= suffix.size() || host.compare(host.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  return host.find('.') == host.size() - suffix.size();
}

bool hostMatches(const std::string& rule_host, const std::string& host) {
  if (rule_host.empty()) return true;
  if (isWildcard(rule_host)) return wildcardCovers(rule_host, host);
  return rule_host == host;
}

bool pathMatches(const Route& r, std::string_view path) {
  if (r.type == PathType::kExact) return path == r.path;
  if (r.path == "/") return true;
  if (path.size() < r.path.size() || path.compare(0, r.path.size(), r.path) != 0) return false;
  return path.size() == r.path.size() || path[r.path.size()] == '/';
}

int hostGroup(const std::string& host) { return host.empty() ? 2 : isWildcard(host) ? 1 : 0; }

// Which endpoints of a Service a backend reaches (see routes.h).
class BackendResolver {
 public:
  explicit BackendResolver(const Inputs& in) {
    for (const auto& s : in.services) services_[keyOf(*s)] = s.get();
    for (const auto& s : in.slices) {
      std::string svc = getString(objectAt(objectAt(*s, "metadata"), "labels"), "kubernetes.io/service-name");
      if (!svc.empty())
        slices_[getString(objectAt(*s, "metadata"), "namespace") + "/" + svc].push_back(s.get());
    }
  }

  std::shared_ptr<const Backend> resolve(const std::string& ns, const Json& backend_spec) {
    auto b = std::make_shared<Backend>();
    b->ns = ns;
    const Json& svc_ref = objectAt(backend_spec, "service");
    b->service = getString(svc_ref, "name");
    const Json& port = objectAt(svc_ref, "port");
    int number =
        port.contains("number") && port["number"].is_number_integer() ? port["number"].get<int>() : 0;
    b->port = number ? std::to_string(number) : getString(port, "name");
    if (b->service.empty()) return b;
    std::string key = ns + "/" + b->service;
    auto svc = services_.find(key);
    if (svc == services_.end()) return b;
    const Json& spec = objectAt(*svc->second, "spec");
    if (getString(spec, "type") == "ExternalName") return b;
    const Json* chosen = nullptr;
    for (const auto& p : arrayAt(spec, "ports")) {
      bool by_number =
          number && p.contains("port") && p["port"].is_number_integer() && p["port"].get<int>() == number;
      bool by_name = !number && !b->port.empty() && getString(p, "name") == b->port;
      if (by_number || by_name) chosen = &p;
    }
    if (!chosen || getString(*chosen, "protocol", "TCP") != "TCP") return b;
    std::string port_name = getString(*chosen, "name");
    std::vector<Endpoint> ready, serving;
    for (const Json* slice : slices_[key]) {
      if (getString(*slice, "addressType") != "IPv4") continue;
      int target = 0;
      for (const auto& sp : arrayAt(*slice, "ports"))
        if (getString(sp, "name") == port_name && getString(sp, "protocol", "TCP") == "TCP" &&
            sp.contains("port") && sp["port"].is_number_integer())
          target = sp["port"].get<int>();
      if (!target) continue;
      for (const auto& ep : arrayAt(*slice, "endpoints")) {
        const Json& addrs = arrayAt(ep, "addresses");
        if (addrs.empty() || !addrs[0].is_string()) continue;
        const Json& cond = objectAt(ep, "conditions");
        auto flag = [&](const char* name, bool def) {
          return cond.contains(name) && cond[name].is_boolean() ? cond[name].get<bool>() : def;
        };
        Endpoint e{addrs[0].get<std::string>(), target};
        if (flag("ready", true))
          ready.push_back(e);
        else if (flag("serving", false) && flag("terminating", false))
          serving.push_back(e);
      }
    }
    b->endpoints = ready.empty() ? std::move(serving) : std::move(ready);
    std::sort(b->endpoints.begin(), b->endpoints.end(), [](const Endpoint& x, const Endpoint& y) {
      return std::tie(x.ip, x.port) < std::tie(y.ip, y.port);
    });
    b->endpoints.erase(std::unique(b->endpoints.begin(), b->endpoints.end()), b->endpoints.end());
    return b;
  }

 private:
  std::map<std::string, const Json*> services_;
  std::map<std::string, std::vector<const Json*>> slices_;
};

std::shared_ptr<const TlsCertificate> loadCertificate(const std::map<std::string, const Json*>& secrets,
                                                      const std::string& key) {
  auto it = secrets.find(key);
  if (it == secrets.end()) return nullptr;
  const Json& data = objectAt(*it->second, "data");
  auto crt = base64Decode(getString(data, "tls.crt"));
  auto pem = base64Decode(getString(data, "tls.key"));
  if (!crt || !pem || crt->empty() || pem->empty()) return nullptr;
  return std::make_shared<TlsCertificate>(TlsCertificate{key, std::move(*crt), std::move(*pem)});
}

}  // namespace

bool isOurs(const Json& ingress, const std::vector<ObjectPtr>& classes) {
  std::string name = getString(objectAt(ingress, "spec"), "ingressClassName");
  if (!name.empty()) {
    const Json* cls = classNamed(classes, name);
    return cls && isOurClass(*cls);
  }
  std::string legacy = annotation(ingress, "kubernetes.io/ingress.class");
  if (!legacy.empty()) {
    const Json* cls = classNamed(classes, legacy);
    return legacy == kDefaultClassName || (cls && isOurClass(*cls));
  }
  return std::any_of(classes.begin(), classes.end(), [](const ObjectPtr& c) {
    return isOurClass(*c) && annotation(*c, "ingressclass.kubernetes.io/is-default-class") == "true";
  });
}

std::string normaliseHost(std::string_view host) {
  if (!host.empty() && host.front() == '[') {  // [v6]:port
    auto end = host.find(']');
    return asciiLower(host.substr(0, end == std::string_view::npos ? host.size() : end + 1));
  }
  auto colon = host.rfind(':');
  if (colon != std::string_view::npos) host = host.substr(0, colon);
  while (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return asciiLower(host);
}

std::shared_ptr<const RouteTable> RouteTable::build(const Inputs& in) {
  auto table = std::make_shared<RouteTable>();
  std::vector<ObjectPtr> ours;
  for (const auto& ing : in.ingresses)
    if (isOurs(*ing, in.classes)) ours.push_back(ing);
  // Oldest first: the first Ingress to claim a host/path keeps it.
  std::sort(ours.begin(), ours.end(), [](const ObjectPtr& a, const ObjectPtr& b) {
    auto ta = getString(objectAt(*a, "metadata"), "creationTimestamp");
    auto tb = getString(objectAt(*b, "metadata"), "creationTimestamp");
    return ta != tb ? ta < tb : keyOf(*a) < keyOf(*b);
  });
  std::map<std::string, const Json*> secrets;
  for (const auto& s : in.secrets) secrets[keyOf(*s)] = s.get();

  BackendResolver resolver(in);
  std::vector<std::pair<Route, size_t>> routes;  // with the Ingress's age rank
  for (size_t rank = 0; rank < ours.size(); ++rank) {
    const Json& ing = *ours[rank];
    std::string ns = getString(objectAt(ing, "metadata"), "namespace");
    std::string key = keyOf(ing);
    table->served_.push_back(key);
    const Json& spec = objectAt(ing, "spec");
    if (!table->default_backend_ && spec.contains("defaultBackend") && spec["defaultBackend"].is_object())
      table->default_backend_ = resolver.resolve(ns, spec["defaultBackend"]);
    for (const auto& rule : arrayAt(spec, "rules")) {
      std::string host = asciiLower(getString(rule, "host"));
      for (const auto& p : arrayAt(objectAt(rule, "http"), "paths")) {
        Route r;
        r.host = host;
        r.ingress = key;
        r.type = getString(p, "pathType") == "Exact" ? PathType::kExact : PathType::kPrefix;
        r.path = getString(p, "path", "/");
        if (r.path.empty() || r.path[0] != '/') r.path = "/" + r.path;
        if (r.type == PathType::kPrefix)
          while (r.path.size() > 1 && r.path.back() == '/') r.path.pop_back();
        r.backend = resolver.resolve(ns, objectAt(p, "backend"));
        routes.emplace_back(std::move(r), rank);
      }
    }
    for (const auto& tls : arrayAt(spec, "tls")) {
      std::string secret = getString(tls, "secretName");
      if (secret.empty()) continue;
      auto cert = loadCertificate(secrets, ns + "/" + secret);
      if (!cert) continue;
      const Json& hosts = arrayAt(tls, "hosts");
      if (hosts.empty()) table->certs_.push_back({"", cert});
      for (const auto& h : hosts)
        if (h.is_string()) table->certs_.push_back({asciiLower(h.get<std::string>()), cert});
    }
  }
  std::stable_sort(routes.begin(), routes.end(), [](const auto& a, const auto& b) {
    const Route& x = a.first;
    const Route& y = b.first;
    if (hostGroup(x.host) != hostGroup(y.host)) return hostGroup(x.host) < hostGroup(y.host);
    if (x.host.size() != y.host.size()) return x.host.size() > y.host.size();
    if (x.host != y.host) return x.host < y.host;
    if (x.path.size() != y.path.size()) return x.path.size() > y.path.size();
    if (x.type != y.type) return x.type == PathType::kExact;
    return a.second < b.second;
  });
  for (auto& [r, rank] : routes) table->routes_.push_back(std::move(r));
  std::sort(table->served_.begin(), table->served_.end());
  return table;
}

const Backend* RouteTable::match(std::string_view host, std::string_view target) const {
  std::string h = normaliseHost(host);
  std::string_view path = target.substr(0, target.find_first_of("?#"));
  if (path.empty()) path = "/";
  for (const auto& r : routes_)
    if (hostMatches(r.host, h) && pathMatches(r, path)) return r.backend.get();
  return default_backend_.get();
}

std::shared_ptr<const TlsCertificate> RouteTable::certificateFor(std::string_view server_name) const {
  std::string h = normaliseHost(server_name);
  for (const auto& c : certs_)
    if (!c.host.empty() && !isWildcard(c.host) && c.host == h) return c.cert;
  for (const auto& c : certs_)
    if (isWildcard(c.host) && wildcardCovers(c.host, h)) return c.cert;
  for (const auto& c : certs_)
    if (c.host.empty()) return c.cert;
  return nullptr;
}

std::vector<std::shared_ptr<const TlsCertificate>> RouteTable::certificates() const {
  std::vector<std::shared_ptr<const TlsCertificate>> out;
  for (const auto& c : certs_)
    if (std::find(out.begin(), out.end(), c.cert) == out.end()) out.push_back(c.cert);
  return out;
}

}  // namespace capstan::ingress
