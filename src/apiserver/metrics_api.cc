#include "apiserver/metrics_api.h"

#include <fmt/format.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "api/selector.h"
#include "apiserver/resource_metrics.h"
#include "apiserver/responses.h"
#include "common/log.h"
#include "common/url.h"

namespace capstan::apiserver {
namespace {

using Steady = std::chrono::steady_clock;
constexpr auto kFreshness = std::chrono::milliseconds(1000);
constexpr auto kMinWindow = std::chrono::milliseconds(1000);
constexpr auto kMaxWindow = std::chrono::seconds(30);
constexpr auto kFetchTimeout = std::chrono::seconds(5);
// A kubelet that failed is not asked again for this long (requests meanwhile
// get what is known, which may be nothing).
constexpr auto kRetryAfter = std::chrono::seconds(5);
constexpr size_t kMaxBody = 64u << 20;

// Collects a streamed kubelet body, then hands it over once.
class CollectSink final : public StreamSink {
 public:
  explicit CollectSink(std::function<void(Result<std::string>)> done) : done_(std::move(done)) {}
  bool write(std::string chunk) override {
    std::lock_guard lock(mu_);
    if (!done_) return false;
    if (body_.size() + chunk.size() > kMaxBody) {
      finish(Status(Code::kInternal, "kubelet metrics larger than 64 MiB"));
      return false;
    }
    body_ += chunk;
    return true;
  }
  void close() override {
    std::lock_guard lock(mu_);
    finish(std::move(body_));
  }
  size_t pendingBytes() const override { return 0; }

 private:
  void finish(Result<std::string> r) {
    if (!done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(r));
  }
  std::mutex mu_;
  std::string body_;
  std::function<void(Result<std::string>)> done_;
};

Json listJson(const char* kind, Json items) {
  return {{"kind", kind},
          {"apiVersion", "metrics.k8s.io/v1beta1"},
          {"metadata", Json::object()},
          {"items", std::move(items)}};
}

// fieldSelector support of the metrics kinds: metadata.name and metadata.namespace.
api::FieldSelector::FieldGetter fieldsOf(const Json& obj) {
  return [&obj](std::string_view f) -> std::optional<std::string> {
    const Json& meta = member(obj, "metadata");
    if (f == "metadata.name") return getString(meta, "name");
    if (f == "metadata.namespace") return getString(meta, "namespace");
    return std::nullopt;
  };
}

}  // namespace

Result<KubeletEndpoint> kubeletEndpointOf(const Json& node, const std::string& node_name) {
  const Json& status = member(node, "status");
  KubeletEndpoint ep;
  const Json& addresses = member(status, "addresses");
  for (const char* type : {"InternalIP", "Hostname", "ExternalIP"}) {
    if (!addresses.is_array() || !ep.host.empty()) break;
    for (const auto& a : addresses)
      if (getString(a, "type") == type && ep.host.empty()) ep.host = getString(a, "address");
  }
  const Json& port = member(member(member(status, "daemonEndpoints"), "kubeletEndpoint"), "Port");
  if (port.is_number_integer() && port.get<int64_t>() > 0 && port.get<int64_t>() < 65536)
    ep.port = static_cast<uint16_t>(port.get<int64_t>());
  // A hollow node advertises port 0: there is no kubelet to reach.
  if (port.is_number_integer() && port.get<int64_t>() == 0)
    return Status(Code::kUnavailable, fmt::format("node {} runs no kubelet server", node_name));
  if (ep.host.empty())
    return Status(Code::kUnavailable, fmt::format("node {} has no address to reach its kubelet", node_name));
  return ep;
}

struct MetricsApi::State : std::enable_shared_from_this<State> {
  struct Node {
    std::optional<ResourceSample> last, prev;
    Steady::time_point last_at{}, prev_at{};
    std::optional<Steady::time_point> failed_at;
    bool inflight = false;
    uint64_t generation = 0;
    std::vector<std::function<void()>> waiters;
  };

  KubeletClient* kubelet = nullptr;
  const Clock* clock = nullptr;

  std::mutex mu;  // guards nodes, timers, stopping
  std::map<std::string, Node> nodes;
  std::multimap<Steady::time_point, std::function<void()>> timers;
  bool stopping = false;
  std::condition_variable cv;
  std::thread timer_thread;

  void start() {
    timer_thread = std::thread([this] { runTimers(); });
  }
  void stop() {
    {
      std::lock_guard lock(mu);
      stopping = true;
      timers.clear();
    }
    cv.notify_all();
    if (timer_thread.joinable()) timer_thread.join();
  }

  void runTimers() {
    std::unique_lock lock(mu);
    while (!stopping) {
      if (timers.empty()) {
        cv.wait(lock);
        continue;
      }
      auto first = timers.begin();
      if (Steady::now() < first->first) {
        cv.wait_until(lock, first->first);
        continue;
      }
      auto fn = std::move(first->second);
      timers.erase(first);
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  void after(Steady::duration d, std::function<void()> fn) {
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      timers.emplace(Steady::now() + d, std::move(fn));
    }
    cv.notify_all();
  }

  // Calls `ready` once `node` has a usable pair of readings (or fetching
  // failed); at once when the newest is fresh.
  void ensure(const std::string& node, const KubeletEndpoint& ep, std::function<void()> ready) {
    uint64_t gen = 0;
    {
      std::lock_guard lock(mu);
      Node& n = nodes[node];
      auto now = clock->monotonic();
      bool fresh = n.last && n.prev && now - n.last_at < kFreshness;
      bool failed_recently = n.failed_at && now - *n.failed_at < kRetryAfter;
      if (!n.inflight && (fresh || failed_recently)) {
        gen = 0;
      } else {
        n.waiters.push_back(std::move(ready));
        if (n.inflight) return;
        n.inflight = true;
        gen = ++n.generation;
      }
    }
    if (gen == 0) return ready();
    fetch(node, ep, gen);
  }

  void fetch(const std::string& node, const KubeletEndpoint& ep, uint64_t gen) {
    std::weak_ptr<State> weak = weak_from_this();
    after(kFetchTimeout, [weak, node, ep, gen] {
      if (auto s = weak.lock())
        s->finish(node, ep, gen, Status(Code::kTimeout, "kubelet did not answer in time"));
    });
    kubelet->get(ep, "/metrics/resource", [weak, node, ep, gen](Response r) {
      auto s = weak.lock();
      if (!s) return;
      if (!r.stream) {
        s->finish(node, ep, gen,
                  Status(Code::kUnavailable,
                         fmt::format("kubelet answered {}: {}", r.status, r.body.substr(0, 200))));
        return;
      }
      auto sink = std::make_shared<CollectSink>([weak, node, ep, gen](Result<std::string> body) {
        auto s = weak.lock();
        if (!s) return;
        if (!body) return s->finish(node, ep, gen, body.status());
        auto parsed = parseResourceMetrics(*body, s->clock->now());
        if (!parsed) return s->finish(node, ep, gen, parsed.status());
        s->finish(node, ep, gen, std::move(*parsed));
      });
      r.stream->start(sink);
    });
  }

  void finish(const std::string& node, const KubeletEndpoint& ep, uint64_t gen,
              Result<ResourceSample> result) {
    std::vector<std::function<void()>> waiters;
    {
      std::lock_guard lock(mu);
      Node& n = nodes[node];
      if (!n.inflight || n.generation != gen) return;  // a late answer, or a timeout after the answer
      if (result) {
        auto now = clock->monotonic();
        n.failed_at.reset();
        if (n.last && now - n.last_at >= kMinWindow) {
          n.prev = std::move(n.last);
          n.prev_at = n.last_at;
        }
        n.last = std::move(*result);
        n.last_at = now;
        if (!n.prev || n.last_at - n.prev_at > kMaxWindow) {
          // Take a second reading to have a window to measure CPU over.
          uint64_t next = ++n.generation;
          std::weak_ptr<State> weak = weak_from_this();
          if (!stopping)
            timers.emplace(Steady::now() + kMinWindow, [weak, node, ep, next] {
              if (auto s = weak.lock()) s->fetch(node, ep, next);
            });
          cv.notify_all();
          return;
        }
      } else {
        LOG_WARN("metrics: cannot read a kubelet's resource metrics", "node", node, "error",
                 result.status().message());
        n.failed_at = clock->monotonic();
      }
      n.inflight = false;
      waiters.swap(n.waiters);
    }
    for (auto& w : waiters) w();
  }

  // Calls `done` once every node in `targets` is ready.
  void ensureAll(const std::vector<std::pair<std::string, KubeletEndpoint>>& targets,
                 std::function<void()> done) {
    if (targets.empty()) return done();
    auto pending = std::make_shared<std::atomic<size_t>>(targets.size());
    auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
    for (const auto& [node, ep] : targets)
      ensure(node, ep, [pending, shared_done] {
        if (pending->fetch_sub(1) == 1) (*shared_done)();
      });
  }

  // The readings of a node (copies, for use outside the lock).
  std::pair<std::optional<ResourceSample>, std::optional<ResourceSample>> readings(const std::string& node) {
    std::lock_guard lock(mu);
    auto it = nodes.find(node);
    if (it == nodes.end()) return {};
    return {it->second.prev, it->second.last};
  }
};

MetricsApi::MetricsApi(ServerContext ctx) : ctx_(ctx), state_(std::make_shared<State>()) {
  state_->kubelet = ctx_.kubelet;
  state_->clock = ctx_.clock ? ctx_.clock : &SystemClock::instance();
  state_->start();
}

MetricsApi::~MetricsApi() { state_->stop(); }

bool MetricsApi::handles(const RequestInfo& ri) {
  if (ri.group.empty() && ri.version == "v1" && ri.resource == "nodes" && ri.subresource == "proxy")
    return true;
  return ri.group == "metrics.k8s.io" && ri.version == "v1beta1" &&
         (ri.resource == "nodes" || ri.resource == "pods");
}

void MetricsApi::serve(const RequestInfo& ri, const Request& req, Responder done) {
  if (!ctx_.kubelet)
    return done(errorResponse(Status(Code::kUnavailable, "no kubelet client in this server")));
  if (ri.group.empty()) return nodeProxy(ri, req, std::move(done));
  if (req.method != "GET" && req.method != "HEAD")
    return done(errorResponse(
        Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource")));
  if (ri.verb == "watch" || !ri.subresource.empty())
    return done(errorResponse(
        Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource")));
  if (ri.resource == "nodes") return nodeMetrics(ri, req, std::move(done));
  podMetrics(ri, req, std::move(done));
}

void MetricsApi::nodeProxy(const RequestInfo& ri, const Request& req, Responder done) {
  if (req.method != "GET" && req.method != "HEAD")
    return done(errorResponse(Status(Code::kMethodNotAllowed, "only GET is proxied to a node")));
  const api::ResourceInfo* nodes = ctx_.registry->find("", "v1", "nodes");
  ObjectPtr node = nodes ? ctx_.cache->get(nodes->storeKey("", ri.name)) : nullptr;
  if (!node) return done(errorResponse(notFound("nodes", ri.name)));
  auto ep = kubeletEndpointOf(node->obj, ri.name);
  if (!ep) return done(errorResponse(ep.status()));
  // What follows .../nodes/NAME/proxy is the kubelet's path.
  std::string marker = "/nodes/" + ri.name + "/proxy";
  auto at = req.path.find(marker);
  std::string path = at == std::string::npos ? "/" : req.path.substr(at + marker.size());
  if (path.empty()) path = "/";
  std::string query;
  for (const auto& [k, v] : req.query) {
    query += query.empty() ? "?" : "&";
    query += percentEncode(k) + "=" + percentEncode(v);
  }
  ctx_.kubelet->get(*ep, percentEncode(path, "/") + query, std::move(done));
}

void MetricsApi::nodeMetrics(const RequestInfo& ri, const Request& req, Responder done) {
  auto labels = api::LabelSelector::parse(req.param("labelSelector"));
  if (!labels) return done(errorResponse(labels.status()));
  auto fields = api::FieldSelector::parse(req.param("fieldSelector"));
  if (!fields) return done(errorResponse(fields.status()));
  const api::ResourceInfo* info = ctx_.registry->find("", "v1", "nodes");
  if (!info) return done(errorResponse(Status(Code::kInternal, "no nodes resource")));
  bool single = ri.verb == "get";
  std::vector<ObjectPtr> selected;
  if (single) {
    ObjectPtr n = ctx_.cache->get(info->storeKey("", ri.name));
    if (!n) return done(errorResponse(notFound("nodes", ri.name)));
    selected.push_back(n);
  } else {
    int64_t rev = 0;
    for (auto& n : ctx_.cache->list(info->storePrefix(), &rev)) {
      if (auto st = fields->check(fieldsOf(n->obj)); !st) return done(errorResponse(st));
      if (labels->matches(member(member(n->obj, "metadata"), "labels")) && fields->matches(fieldsOf(n->obj)))
        selected.push_back(n);
    }
  }
  std::vector<std::pair<std::string, KubeletEndpoint>> targets;
  for (const auto& n : selected)
    if (auto ep = kubeletEndpointOf(n->obj, getString(member(n->obj, "metadata"), "name")))
      targets.emplace_back(getString(member(n->obj, "metadata"), "name"), *ep);
  auto state = state_;
  std::string name = ri.name;
  state->ensureAll(targets, [state, selected, single, name, done = std::move(done)] {
    Json items = Json::array();
    WallTime now = state->clock->now();
    for (const auto& n : selected) {
      auto [prev, last] = state->readings(getString(member(n->obj, "metadata"), "name"));
      if (!last || !last->node) continue;
      auto usage = usageBetween(prev && prev->node ? &*prev->node : nullptr, *last->node, kMinWindow);
      if (!usage) continue;
      items.push_back(nodeMetricsJson(n->obj, *usage, now));
    }
    if (single) {
      if (items.empty())
        return done(errorResponse(
            Status(Code::kNotFound, fmt::format("nodemetrics.metrics.k8s.io \"{}\" not found", name))));
      return done(jsonResponse(200, items[0].dump()));
    }
    done(jsonResponse(200, listJson("NodeMetricsList", std::move(items)).dump()));
  });
}

void MetricsApi::podMetrics(const RequestInfo& ri, const Request& req, Responder done) {
  auto labels = api::LabelSelector::parse(req.param("labelSelector"));
  if (!labels) return done(errorResponse(labels.status()));
  auto fields = api::FieldSelector::parse(req.param("fieldSelector"));
  if (!fields) return done(errorResponse(fields.status()));
  const api::ResourceInfo* pods_info = ctx_.registry->find("", "v1", "pods");
  const api::ResourceInfo* nodes_info = ctx_.registry->find("", "v1", "nodes");
  if (!pods_info || !nodes_info) return done(errorResponse(Status(Code::kInternal, "no pods resource")));
  bool single = ri.verb == "get";
  std::vector<ObjectPtr> selected;
  if (single) {
    ObjectPtr p = ctx_.cache->get(pods_info->storeKey(ri.ns, ri.name));
    if (!p) return done(errorResponse(notFound("pods", ri.name)));
    selected.push_back(p);
  } else {
    int64_t rev = 0;
    std::string prefix = pods_info->storePrefix() + (ri.ns.empty() ? "" : ri.ns + "/");
    for (auto& p : ctx_.cache->list(prefix, &rev)) {
      if (auto st = fields->check(fieldsOf(p->obj)); !st) return done(errorResponse(st));
      if (labels->matches(member(member(p->obj, "metadata"), "labels")) && fields->matches(fieldsOf(p->obj)))
        selected.push_back(p);
    }
  }
  std::map<std::string, KubeletEndpoint> endpoints;
  for (const auto& p : selected) {
    std::string node = getString(member(p->obj, "spec"), "nodeName");
    if (node.empty() || endpoints.count(node)) continue;
    ObjectPtr n = ctx_.cache->get(nodes_info->storeKey("", node));
    if (!n) continue;
    if (auto ep = kubeletEndpointOf(n->obj, node)) endpoints[node] = *ep;
  }
  std::vector<std::pair<std::string, KubeletEndpoint>> targets(endpoints.begin(), endpoints.end());
  auto state = state_;
  std::string ns = ri.ns, name = ri.name;
  state->ensureAll(targets, [state, selected, single, ns, name, done = std::move(done)] {
    Json items = Json::array();
    WallTime now = state->clock->now();
    std::map<std::string, std::pair<std::optional<ResourceSample>, std::optional<ResourceSample>>> by_node;
    for (const auto& p : selected) {
      const Json& meta = member(p->obj, "metadata");
      std::string node = getString(member(p->obj, "spec"), "nodeName");
      if (node.empty()) continue;
      auto it = by_node.find(node);
      if (it == by_node.end()) it = by_node.emplace(node, state->readings(node)).first;
      const auto& [prev, last] = it->second;
      if (!last) continue;
      auto key = std::make_pair(getString(meta, "namespace"), getString(meta, "name"));
      auto cs = last->containers.find(key);
      if (cs == last->containers.end() || cs->second.empty()) continue;
      const std::map<std::string, UsagePoint>* prev_cs = nullptr;
      if (prev) {
        auto pit = prev->containers.find(key);
        if (pit != prev->containers.end()) prev_cs = &pit->second;
      }
      std::vector<std::pair<std::string, Usage>> usages;
      bool complete = true;
      for (const auto& [container, point] : cs->second) {
        const UsagePoint* before = nullptr;
        if (prev_cs)
          if (auto c = prev_cs->find(container); c != prev_cs->end()) before = &c->second;
        auto u = usageBetween(before, point, kMinWindow);
        if (!u) {
          complete = false;
          break;
        }
        usages.emplace_back(container, *u);
      }
      // As metrics-server: a pod is reported with all its containers or not at all.
      if (complete) items.push_back(podMetricsJson(p->obj, usages, now));
    }
    if (single) {
      if (items.empty())
        return done(errorResponse(
            Status(Code::kNotFound, fmt::format("podmetrics.metrics.k8s.io \"{}/{}\" not found", ns, name))));
      return done(jsonResponse(200, items[0].dump()));
    }
    done(jsonResponse(200, listJson("PodMetricsList", std::move(items)).dump()));
  });
}

}  // namespace capstan::apiserver
