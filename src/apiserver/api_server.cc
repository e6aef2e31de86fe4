#include "apiserver/api_server.h"

#include <arpa/inet.h>
#include <strings.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>
#include <tuple>

#include "api/registry.h"
#include "apiserver/access_review.h"
#include "apiserver/cluster_state_metrics.h"
#include "apiserver/dashboard.h"
#include "apiserver/discovery.h"
#include "apiserver/hpa_v1.h"
#include "apiserver/http_server.h"
#include "apiserver/in_process_transport.h"
#include "apiserver/kubelet_client.h"
#include "apiserver/kubernetes_service.h"
#include "apiserver/metrics.h"
#include "apiserver/metrics_api.h"
#include "apiserver/object_cache.h"
#include "apiserver/rbac.h"
#include "apiserver/request_info.h"
#include "apiserver/resources.h"
#include "apiserver/responses.h"
#include "apiserver/self_subject_review.h"
#include "apiserver/service_account_tokens.h"
#include "apiserver/service_ips.h"
#include "common/log.h"
#include "common/pki.h"
#include "store/memory/memory_store.h"
#include "store/sqlite/sqlite_store.h"

namespace capstan::apiserver {

namespace fs = std::filesystem;

namespace {

// The cluster DNS address: the tenth of the service range (10.43.0.10 by
// default, as k3s), given its first address.
std::string clusterDnsAddress(const std::string& first) {
  in_addr a{};
  if (::inet_pton(AF_INET, first.c_str(), &a) != 1) return first;
  a.s_addr = htonl(ntohl(a.s_addr) + 9);
  char buf[INET_ADDRSTRLEN];
  return ::inet_ntop(AF_INET, &a, buf, sizeof buf) ? buf : first;
}

// Paths anyone may read, as Kubernetes' system:public-info-viewer allows.
bool isPublicPath(const std::string& p) {
  // /cacerts: the cluster CA, which joining agents check against the hash in their token.
  return p == "/healthz" || p == "/livez" || p == "/readyz" || p == "/version" || p == "/cacerts" ||
         p.rfind("/healthz/", 0) == 0 || p.rfind("/livez/", 0) == 0 || p.rfind("/readyz/", 0) == 0 ||
         isDashboardPath(p);  // the page only; its API calls carry the user's token
}

Result<std::map<std::string, UserInfo>> loadTokenFile(const std::string& path) {
  std::map<std::string, UserInfo> out;
  std::ifstream in(path);
  if (!in) return Status(Code::kInvalid, "cannot read token file " + path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    // token,user,uid[,"group1,group2"]
    std::vector<std::string> fields;
    std::string cur;
    bool quoted = false;
    for (char c : line) {
      if (c == '"')
        quoted = !quoted;
      else if (c == ',' && !quoted) {
        fields.push_back(cur);
        cur.clear();
      } else
        cur += c;
    }
    fields.push_back(cur);
    if (fields.size() < 3 || fields[0].empty() || fields[1].empty())
      return Status(Code::kInvalid, fmt::format("{}:{}: expected token,user,uid[,\"groups\"]", path, n));
    UserInfo u{fields[1], fields[2], {}};
    if (fields.size() > 3) {
      std::stringstream ss(fields[3]);
      std::string g;
      while (std::getline(ss, g, ','))
        if (!g.empty()) u.groups.push_back(g);
    }
    out[fields[0]] = u;
  }
  return out;
}

// The join token's secret: the one given, else the one in <data-dir>/token,
// else a new one.
std::string joinSecret(const fs::path& path, const std::string& given) {
  if (!given.empty()) return pki::JoinToken::parse(given).secret;
  std::ifstream in(path);
  std::string t;
  if (in && std::getline(in, t) && !t.empty()) return pki::JoinToken::parse(t).secret;
  return pki::randomToken(32);
}

// <data-dir>/token holds the full token, with the CA's hash, for agents to join with.
void writeJoinToken(const fs::path& path, const pki::JoinToken& token) {
  std::ofstream(path) << token.text() << "\n";
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
}

std::string metricVerb(const RequestInfo& ri, const std::string& method) {
  if (!ri.is_resource) return method;
  if (ri.verb == "list") return "LIST";
  if (ri.verb == "watch") return "WATCH";
  if (ri.verb == "get") return "GET";
  if (ri.verb == "create") return "POST";
  if (ri.verb == "update") return "PUT";
  if (ri.verb == "patch") return "PATCH";
  if (ri.verb == "delete" || ri.verb == "deletecollection") return "DELETE";
  return method;
}

}  // namespace

struct ApiServer::Impl {
  ApiServerOptions opts;
  api::Registry registry = api::Registry::builtin();
  std::unique_ptr<store::Store> store;
  std::unique_ptr<ObjectCache> cache;
  std::unique_ptr<ServiceAllocator> services;
  Metrics metrics;
  const Clock* clock = &SystemClock::instance();
  std::unique_ptr<KubeletClient> kubelet;
  std::unique_ptr<RbacAuthorizer> rbac;
  std::unique_ptr<ServiceAccountTokens> sa_tokens;
  std::unique_ptr<Resources> resources;
  std::unique_ptr<MetricsApi> metrics_api;  // nodes/proxy and metrics.k8s.io
  std::unique_ptr<Discovery> discovery;
  std::unique_ptr<HttpServer> http;
  std::map<std::string, UserInfo> tokens;
  std::string kubeconfig;
  std::string ca_pem;  // served at /cacerts
  std::string dashboard_dir;  // ApiServerOptions::dashboard_dir

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::thread compactor;

  void handle(Request req, Responder done);
  void serveAuthenticated(Request req, RequestInfo ri, Responder done);
  void compactLoop();
};

void ApiServer::Impl::handle(Request req, Responder done) {
  // Authentication: an in-process caller, a client certificate, or a bearer token.
  bool failed_bearer = false;
  if (!req.user) {
    if (req.cert_user) {
      req.user = req.cert_user;
    } else {
      std::string auth = req.header("authorization");
      // The scheme is case-insensitive; other schemes (Basic) are not ours and are ignored.
      if (auth.size() > 7 && ::strncasecmp(auth.c_str(), "bearer ", 7) == 0) {
        std::string bearer = auth.substr(7);
        if (auto it = tokens.find(bearer); it != tokens.end())
          req.user = it->second;
        else
          req.user = authenticateServiceAccount(bearer, *cache, *sa_tokens, clock->now());
        failed_bearer = !req.user;
      }
    }
  }
  // Anyone may read the public paths, but a bearer token that fails is a
  // 401 everywhere, as kube-apiserver answers it.
  if (!req.user && (!isPublicPath(req.path) || failed_bearer)) {
    Status st(Code::kUnauthorized, "Unauthorized");
    return done(errorResponse(st));
  }
  // Every authenticated user is in system:authenticated, as upstream's
  // authenticators add it (bindings to that group reach everyone signed in).
  auto addAuthenticated = [](UserInfo& u) {
    if (std::find(u.groups.begin(), u.groups.end(), "system:authenticated") == u.groups.end())
      u.groups.push_back("system:authenticated");
  };
  if (req.user) addAuthenticated(*req.user);
  RequestInfo ri;
  if (req.user) {
    if (auto st = impersonate(req, *rbac); !st) return done(errorResponse(st));
    ri = parseRequestInfo(req);
    // Authorization: RBAC over the stored roles and bindings. The public
    // paths above are answered to anyone, as system:public-info-viewer
    // grants them.
    if (!isPublicPath(req.path)) {
      AccessAttributes a = AccessAttributes::of(ri, req);
      if (!rbac->authorize(*req.user, a).allowed) return done(errorResponse(forbidden(*req.user, a)));
      // exec, attach and portforward over a WebSocket arrive as GETs, yet
      // they run commands or open ports: they need create too, as
      // Kubernetes 1.35 asks (a role granting only get on pods/exec would
      // otherwise allow exec).
      if (a.verb == "get" && a.group.empty() && a.resource == "pods" &&
          (a.subresource == "exec" || a.subresource == "attach" || a.subresource == "portforward")) {
        a.verb = "create";
        if (!rbac->authorize(*req.user, a).allowed) return done(errorResponse(forbidden(*req.user, a)));
      }
    }
  } else {
    ri = parseRequestInfo(req);
  }
  serveAuthenticated(std::move(req), std::move(ri), std::move(done));
}

void ApiServer::Impl::serveAuthenticated(Request req, RequestInfo ri, Responder done) {
  auto started = std::chrono::steady_clock::now();
  if (isHpaV1Create(ri, req)) {
    // `kubectl autoscale` posts autoscaling/v1: created as v2, answered as v1.
    Json body = req.body_object ? std::move(*req.body_object) : Json::parse(req.body, nullptr, false);
    req.body_object.reset();
    if (body.is_discarded())
      return done(errorResponse(Status(Code::kBadRequest, "the body of the request is not valid JSON")));
    req.body = hpaV1ToV2(body).dump();
    for (std::string* s : {&req.path, &req.target})
      if (auto at = s->find("/apis/autoscaling/v1/"); at != std::string::npos) s->replace(at, 21, "/apis/autoscaling/v2/");
    ri = parseRequestInfo(req);
    done = [done = std::move(done)](Response r) {
      if (r.status / 100 == 2 && !r.stream) {
        Json obj = Json::parse(r.body, nullptr, false);
        if (!obj.is_discarded()) r.body = hpaV2ToV1(obj).dump();
      }
      done(std::move(r));
    };
  }
  RequestLabels labels{
      metricVerb(ri, req.method),
      ri.group,
      ri.version,
      ri.resource,
      ri.subresource,
      ri.is_resource ? (!ri.name.empty() ? "resource" : (ri.ns.empty() ? "cluster" : "namespace")) : ""};
  Responder observed = [this, labels, started, done = std::move(done)](Response r) {
    if (!r.stream)
      metrics.observeRequest(
          labels, r.status,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    done(std::move(r));
  };

  const std::string p = req.path;
  if (p == "/cacerts") {
    Response r;
    r.content_type = "text/plain; charset=utf-8";
    r.body = ca_pem;
    return observed(std::move(r));
  }
  if (p == "/healthz/ping" || p == "/livez/ping" || p == "/readyz/ping") {
    Response r;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "ok";
    return observed(std::move(r));
  }
  if (p == "/healthz" || p == "/livez" || p == "/readyz") {
    Response r;
    r.content_type = "text/plain; charset=utf-8";
    if (req.hasParam("verbose")) {
      std::string what = p.substr(1);
      // Each check is real: the store answers, the cache follows it.
      bool store_ok = store->currentRevision() >= cache->revision();
      r.body = std::string("[+]ping ok\n") + (store_ok ? "[+]store ok\n" : "[-]store failed\n") + what +
               (store_ok ? " check passed\n" : " check failed\n");
      if (!store_ok) r.status = 500;
    } else {
      r.body = "ok";
    }
    return observed(std::move(r));
  }
  if (p == "/metrics") {
    metrics.setObjectCount("all", static_cast<double>(cache->size()));
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics.scrape();
    return observed(std::move(r));
  }
  if (p == "/metrics/cluster-state") {
    // kube-state-metrics' series, computed from the watch cache on each scrape.
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = clusterStateMetrics(*cache);
    return observed(std::move(r));
  }
  if (isDashboardPath(p)) {
    if (req.method != "GET" && req.method != "HEAD")
      return observed(errorResponse(Status(Code::kMethodNotAllowed, "the dashboard is read with GET")));
    return observed(serveDashboard(p, dashboard_dir));
  }
  if (!ri.is_resource) {
    if (auto r = discovery->serve(req)) return observed(std::move(*r));
    return observed(
        errorResponse(Status(Code::kNotFound, "the server could not find the requested resource")));
  }
  const api::ResourceInfo* info = registry.find(ri.group, ri.version, ri.resource);
  if (!info)
    return observed(
        errorResponse(Status(Code::kNotFound, "the server could not find the requested resource")));
  // The JSON library throws on a few shapes our code does not expect
  // (e.g. a number where a string belongs); such a request fails alone.
  auto once = std::make_shared<std::atomic<bool>>(false);
  Responder guarded = [once, observed](Response r) {
    if (!once->exchange(true)) observed(std::move(r));
  };
  try {
    if (MetricsApi::handles(ri)) return metrics_api->serve(ri, req, guarded);
    if (isSelfSubjectReview(ri)) return guarded(serveSelfSubjectReview(ri, req, clock->now()));
    if (isAccessReview(ri)) return guarded(serveAccessReview(ri, req, *rbac));
    if (isTokenRequest(ri)) return guarded(serveTokenRequest(ri, req, *cache, *sa_tokens, clock->now()));
    resources->serve(ri, *info, std::move(req), guarded);
  } catch (const nlohmann::json::exception& e) {
    // An object of a shape our typed checks did not foresee.
    guarded(errorResponse(Status(Code::kBadRequest, info->kind + " in version \"" + info->version +
                                                        "\" cannot be handled as a " + info->kind + ": " +
                                                        e.what())));
  } catch (const std::exception& e) {
    LOG_ERROR("request failed with an exception", "path", p, "error", e.what());
    guarded(errorResponse(Status(Code::kInternal, std::string("Internal error occurred: ") + e.what())));
  }
}

void ApiServer::Impl::compactLoop() {
  // Like kube-apiserver: every interval, compact to the revision seen one
  // interval ago, so watchers have a full interval to catch up.
  constexpr auto kInterval = std::chrono::minutes(5);
  int64_t previous = 0;
  std::unique_lock lock(stop_mu);
  while (!stop_cv.wait_for(lock, kInterval, [this] { return stopping; })) {
    int64_t cur = store->currentRevision();
    if (previous > store->compactedRevision()) {
      auto t0 = std::chrono::steady_clock::now();
      if (auto st = store->compact(previous); !st)
        LOG_WARN("compaction failed", "error", st.message());
      else
        LOG_INFO("compacted", "revision", previous, "ms",
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    previous = cur;
  }
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ApiServer::~ApiServer() { stop(); }

void ApiServer::stop() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->stop_mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->stop_cv.notify_all();
  if (impl_->compactor.joinable()) impl_->compactor.join();
  if (impl_->http) impl_->http->stop();
  impl_->http.reset();
  impl_->metrics_api.reset();
  impl_->resources.reset();
  impl_->cache.reset();
  impl_->store.reset();
}

uint16_t ApiServer::port() const { return impl_->http->port(); }
std::string ApiServer::kubeconfigPath() const { return impl_->kubeconfig; }
const std::string& ApiServer::caPem() const { return impl_->ca_pem; }
prometheus::Registry& ApiServer::metricsRegistry() { return impl_->metrics.registry(); }

void ApiServer::handle(Request req, Responder done) { impl_->handle(std::move(req), std::move(done)); }

std::shared_ptr<client::Transport> ApiServer::inProcessTransport(UserInfo user) {
  Impl* impl = impl_.get();
  return makeInProcessTransport(
      [impl](Request req, Responder done) { impl->handle(std::move(req), std::move(done)); },
      std::move(user));
}

Response ApiServer::call(const std::string& method, const std::string& path, const std::string& body) {
  Request req;
  req.method = method;
  auto q = path.find('?');
  req.path = path.substr(0, q);
  req.target = path;
  if (q != std::string::npos) {
    std::stringstream ss(path.substr(q + 1));
    std::string kv;
    while (std::getline(ss, kv, '&')) {
      auto eq = kv.find('=');
      req.query.emplace_back(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
    }
  }
  req.body = body;
  req.headers["content-type"] = "application/json";
  req.user = UserInfo{"system:apiserver", "", {"system:masters"}};
  std::promise<Response> p;
  auto f = p.get_future();
  handle(std::move(req), [&p](Response r) { p.set_value(std::move(r)); });
  return f.get();
}

Result<std::unique_ptr<ApiServer>> ApiServer::start(const ApiServerOptions& opts) {
  if (in_addr a{};
      !opts.advertise_address.empty() && ::inet_pton(AF_INET, opts.advertise_address.c_str(), &a) != 1)
    return Status(Code::kInvalid, "--advertise-address is not an IPv4 address: " + opts.advertise_address);
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  // metrics.k8s.io, served by MetricsApi from the kubelets' readings (in
  // discovery like every kind; no objects are stored).
  struct MetricsKind {
    const char* resource;
    const char* kind;
    bool namespaced;
  };
  for (const auto& m :
       {MetricsKind{"nodes", "NodeMetrics", false}, MetricsKind{"pods", "PodMetrics", true}}) {
    api::ResourceInfo r;
    r.group = "metrics.k8s.io";
    r.version = "v1beta1";
    r.resource = m.resource;
    r.kind = m.kind;
    r.namespaced = m.namespaced;
    r.verbs = {"get", "list"};
    impl->registry.add(r);
  }
  // authorization.k8s.io access reviews (`kubectl auth can-i`): create-only,
  // answered by the authorizer, never stored.
  for (const auto& [resource, singular, kind_name] :
       {std::tuple{"selfsubjectaccessreviews", "selfsubjectaccessreview", "SelfSubjectAccessReview"},
        std::tuple{"subjectaccessreviews", "subjectaccessreview", "SubjectAccessReview"},
        std::tuple{"selfsubjectrulesreviews", "selfsubjectrulesreview", "SelfSubjectRulesReview"}}) {
    api::ResourceInfo r;
    r.group = kAuthorizationGroup;
    r.version = "v1";
    r.resource = resource;
    r.singular = singular;
    r.kind = kind_name;
    r.namespaced = false;
    r.verbs = {"create"};
    impl->registry.add(r);
  }
  {
    api::ResourceInfo r;
    r.group = kAuthorizationGroup;
    r.version = "v1";
    r.resource = "localsubjectaccessreviews";
    r.singular = "localsubjectaccessreview";
    r.kind = "LocalSubjectAccessReview";
    r.namespaced = true;
    r.verbs = {"create"};
    impl->registry.add(r);
  }
  // authentication.k8s.io SelfSubjectReview (`kubectl auth whoami`):
  // create-only, answered from the request's user, never stored.
  for (const auto& version : selfSubjectReviewVersions()) {
    api::ResourceInfo r;
    r.group = "authentication.k8s.io";
    r.version = version;
    r.resource = "selfsubjectreviews";
    r.singular = "selfsubjectreview";
    r.kind = "SelfSubjectReview";
    r.namespaced = false;
    r.verbs = {"create"};
    impl->registry.add(r);
  }
  std::error_code ec;
  fs::create_directories(fs::path(opts.data_dir) / "db", ec);
  if (ec)
    return Status(Code::kInternal, fmt::format("cannot create data dir {}: {}", opts.data_dir, ec.message()));

  // Store.
  std::string endpoint = opts.datastore_endpoint;
  if (endpoint.empty()) endpoint = "sqlite://" + (fs::path(opts.data_dir) / "db" / "state.db").string();
  if (endpoint.rfind("sqlite://", 0) == 0) {
    auto s = store::SqliteStore::open({endpoint.substr(9)});
    if (!s) return s.status();
    impl->store = std::move(*s);
  } else if (endpoint == "memory://") {
    impl->store = std::make_unique<store::MemoryStore>();
  } else {
    return Status(
        Code::kInvalid,
        "unsupported --datastore-endpoint (sqlite://PATH or memory://; etcd comes later): " + endpoint);
  }

  auto cache = ObjectCache::start(*impl->store, "/registry/", opts.watch_window);
  if (!cache) return cache.status();
  impl->cache = std::move(*cache);
  auto services = ServiceAllocator::create(opts.service_cidr, *impl->cache);
  if (!services) return services.status();
  impl->services = std::move(*services);
  // The kubelet API client (pods/log, exec, attach, portforward) sends the
  // join token, which every agent knows.
  std::string token = joinSecret(fs::path(opts.data_dir) / "token", opts.token);
  impl->kubelet = KubeletClient::create({token, ""});
  impl->rbac = std::make_unique<RbacAuthorizer>(*impl->cache);
  ServerContext ctx{&impl->registry,
                    impl->store.get(),
                    impl->cache.get(),
                    &impl->metrics,
                    impl->clock,
                    impl->services.get(),
                    impl->kubelet.get(),
                    impl->rbac.get(),
                    opts.default_not_ready_toleration_seconds,
                    opts.default_unreachable_toleration_seconds};
  impl->resources = std::make_unique<Resources>(ctx);
  impl->metrics_api = std::make_unique<MetricsApi>(ctx);

  // Credentials.
  std::vector<std::string> sans = opts.tls_sans;
  sans.push_back("kubernetes");
  sans.push_back("kubernetes.default");
  sans.push_back("kubernetes.default.svc");
  sans.push_back("kubernetes.default.svc.cluster.local");
  sans.push_back(impl->services->firstIp());
  auto bundle = pki::ensure({fs::path(opts.data_dir) / "tls", sans, nullptr});
  if (!bundle) return bundle.status();
  auto sa_tokens = ServiceAccountTokens::open(fs::path(opts.data_dir) / "tls" / "service-account.key");
  if (!sa_tokens) return sa_tokens.status();
  impl->sa_tokens = std::move(*sa_tokens);
  pki::JoinToken join{pki::sha256Hex(bundle->ca_cert_pem), token};
  writeJoinToken(fs::path(opts.data_dir) / "token", join);
  impl->ca_pem = bundle->ca_cert_pem;
  impl->dashboard_dir = opts.dashboard_dir;
  for (const auto& [name, pem] : {std::pair<std::string, const std::string*>{"ca", &bundle->ca_cert_pem},
                                  {"serving", &bundle->server_cert_pem},
                                  {"admin", &bundle->admin_cert_pem}})
    if (auto expiry = pki::certificateExpiry(*pem)) impl->metrics.setCertificateExpiry(name, static_cast<double>(*expiry));
  // Agents may present the full token or its bare secret.
  impl->tokens[token] = UserInfo{"capstan:agent", "", {"system:nodes", "system:authenticated"}};
  impl->tokens[join.text()] = impl->tokens[token];
  if (!opts.token_auth_file.empty()) {
    auto t = loadTokenFile(opts.token_auth_file);
    if (!t) return t.status();
    for (auto& [k, v] : *t) impl->tokens[k] = v;
  }

  // Bootstrap objects, through the same chain as every client.
  ApiServer* self = nullptr;
  std::unique_ptr<ApiServer> server(new ApiServer(std::move(impl)));
  self = server.get();
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    if (self->impl_->cache->get(std::string("/registry/core/namespaces/") + ns)) continue;
    Response r =
        self->call("POST", "/api/v1/namespaces",
                   Json({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}}).dump());
    if (r.status != 201 && r.status != 409)
      return Status(Code::kInternal, "bootstrap namespace " + std::string(ns) + ": " + r.body);
  }

  // The default RBAC policy: the roles and bindings kube-apiserver
  // bootstraps, created when missing and reconciled when present (what a
  // newer default adds is added; an admin's additions stay).
  for (const Json& obj : bootstrapPolicy()) {
    bool binding = getString(obj, "kind") == "ClusterRoleBinding";
    std::string resource = binding ? "clusterrolebindings" : "clusterroles";
    std::string name = getString(obj["metadata"], "name");
    std::string path = "/apis/rbac.authorization.k8s.io/v1/" + resource;
    Response r;
    if (auto stored = self->impl_->cache->get("/registry/rbac.authorization.k8s.io/" + resource + "/" + name)) {
      Json next = reconcileBootstrap(stored->obj, obj);
      if (next == stored->obj) continue;
      LOG_INFO("reconciled a bootstrap policy object", "resource", resource, "name", name);
      r = self->call("PUT", path + "/" + name, next.dump());
    } else {
      r = self->call("POST", path, obj.dump());
    }
    if (r.status / 100 != 2 && r.status != 409)
      return Status(Code::kInternal, "bootstrap " + resource + " " + name + ": " + r.body);
  }

  // The cluster DNS Service (served by every node agent, which publishes
  // its own endpoint; internalTrafficPolicy Local keeps queries on the node).
  if (!self->impl_->cache->get("/registry/core/services/kube-system/kube-dns")) {
    auto port = [](const char* name, const char* protocol) {
      return Json{{"name", name}, {"port", 53}, {"protocol", protocol}, {"targetPort", 53}};
    };
    Json svc = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata",
                 {{"name", "kube-dns"},
                  {"namespace", "kube-system"},
                  // cluster-service: listed by `kubectl cluster-info`, as
                  // kubeadm's and k3s' CoreDNS Service is.
                  {"labels",
                   {{"k8s-app", "kube-dns"},
                    {"kubernetes.io/cluster-service", "true"},
                    {"kubernetes.io/name", "capstan-dns"}}}}},
                {"spec",
                 {{"clusterIP", opts.cluster_dns.empty() ? clusterDnsAddress(self->impl_->services->firstIp())
                                                         : opts.cluster_dns},
                  {"internalTrafficPolicy", "Local"},
                  {"ports", Json::array({port("dns", "UDP"), port("dns-tcp", "TCP")})}}}};
    Response r = self->call("POST", "/api/v1/namespaces/kube-system/services", svc.dump());
    if (r.status != 201 && r.status != 409)
      return Status(Code::kInternal, "bootstrap service kube-dns: " + r.body);
  }

  // The IngressClass of the agents' built-in Ingress proxy, the default
  // class (as k3s ships "traefik"), so that Ingresses without a class are
  // served.
  if (!self->impl_->cache->get("/registry/networking.k8s.io/ingressclasses/capstan")) {
    Json cls = {
        {"apiVersion", "networking.k8s.io/v1"},
        {"kind", "IngressClass"},
        {"metadata",
         {{"name", "capstan"}, {"annotations", {{"ingressclass.kubernetes.io/is-default-class", "true"}}}}},
        {"spec", {{"controller", "capstan.io/ingress"}}}};  // ingress::kControllerName
    Response r = self->call("POST", "/apis/networking.k8s.io/v1/ingressclasses", cls.dump());
    if (r.status != 201 && r.status != 409)
      return Status(Code::kInternal, "bootstrap ingressclass capstan: " + r.body);
  }

  HttpServerOptions hopts;
  hopts.bind_address = opts.bind_address;
  hopts.port = opts.port;
  hopts.cert_file = bundle->server_cert.string();
  hopts.key_file = bundle->server_key.string();
  hopts.client_ca_file = bundle->ca_cert.string();
  hopts.threads = opts.threads;
  Impl* raw = self->impl_.get();
  raw->discovery = std::make_unique<Discovery>(raw->registry, VersionInfo{},
                                               fmt::format("{}:{}", opts.bind_address, opts.port));
  auto http = HttpServer::start(
      hopts, [raw](Request req, Responder done) { raw->handle(std::move(req), std::move(done)); });
  if (!http) return http.status();
  raw->http = std::move(*http);

  // default/kubernetes and its endpoints, now that the port is known.
  std::string advertise =
      opts.advertise_address.empty() ? defaultAdvertiseAddress(opts.bind_address) : opts.advertise_address;
  if (advertise.empty())
    LOG_WARN("no IPv4 address to advertise: default/kubernetes gets no endpoints (set --advertise-address)");
  auto call = [self](const std::string& method, const std::string& path, const std::string& body) {
    return self->call(method, path, body);
  };
  if (auto st = ensureKubernetesService(call, {raw->services->firstIp(), advertise, raw->http->port()}); !st)
    return st;

  std::string host =
      opts.bind_address == "0.0.0.0" || opts.bind_address == "::" ? "127.0.0.1" : opts.bind_address;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  std::string url = fmt::format("https://{}:{}", host, raw->http->port());
  raw->kubeconfig = (fs::path(opts.data_dir) / "kubeconfig.yaml").string();
  if (auto st = pki::writeKubeconfig(raw->kubeconfig, url, *bundle); !st) return st;
  if (!opts.write_kubeconfig.empty())
    if (auto st = pki::writeKubeconfig(opts.write_kubeconfig, url, *bundle); !st) return st;
  raw->compactor = std::thread([raw] { raw->compactLoop(); });
  LOG_INFO("api server listening", "url", url, "advertise", advertise, "kubeconfig", raw->kubeconfig);
  return server;
}

}  // namespace capstan::apiserver
