#include "client/client.h"

#include <fmt/format.h>

#include <future>
#include <mutex>

namespace capstan::client {

std::string ResourceRef::path(std::string_view ns, std::string_view name, std::string_view subresource) const {
  std::string p = group.empty() ? "/api/" + version : fmt::format("/apis/{}/{}", group, version);
  if (namespaced && !ns.empty()) p.append("/namespaces/").append(ns);
  p += '/';
  p += resource;
  if (!name.empty()) {
    p += '/';
    p += name;
    if (!subresource.empty()) {
      p += '/';
      p += subresource;
    }
  }
  return p;
}

namespace res {
const ResourceRef kPods{"", "v1", "pods"};
const ResourceRef kNodes{"", "v1", "nodes", false};
const ResourceRef kNamespaces{"", "v1", "namespaces", false};
const ResourceRef kServices{"", "v1", "services"};
const ResourceRef kEndpoints{"", "v1", "endpoints"};
const ResourceRef kEvents{"", "v1", "events"};
const ResourceRef kConfigMaps{"", "v1", "configmaps"};
const ResourceRef kSecrets{"", "v1", "secrets"};
const ResourceRef kServiceAccounts{"", "v1", "serviceaccounts"};
const ResourceRef kPersistentVolumeClaims{"", "v1", "persistentvolumeclaims"};
const ResourceRef kReplicaSets{"apps", "v1", "replicasets"};
const ResourceRef kDeployments{"apps", "v1", "deployments"};
const ResourceRef kDaemonSets{"apps", "v1", "daemonsets"};
const ResourceRef kStatefulSets{"apps", "v1", "statefulsets"};
const ResourceRef kControllerRevisions{"apps", "v1", "controllerrevisions"};
const ResourceRef kJobs{"batch", "v1", "jobs"};
const ResourceRef kCronJobs{"batch", "v1", "cronjobs"};
const ResourceRef kLeases{"coordination.k8s.io", "v1", "leases"};
const ResourceRef kEndpointSlices{"discovery.k8s.io", "v1", "endpointslices"};
const ResourceRef kPriorityClasses{"scheduling.k8s.io", "v1", "priorityclasses", false};
const ResourceRef kClusterRoles{"rbac.authorization.k8s.io", "v1", "clusterroles", false};
const ResourceRef kPodDisruptionBudgets{"policy", "v1", "poddisruptionbudgets"};
}  // namespace res

namespace {

Code codeOf(int http, std::string_view reason) {
  switch (http) {
    case 400: return Code::kBadRequest;
    case 401: return Code::kUnauthorized;
    case 403: return Code::kForbidden;
    case 404: return Code::kNotFound;
    case 405: return Code::kMethodNotAllowed;
    case 406: return Code::kNotAcceptable;
    case 409: return reason == "AlreadyExists" ? Code::kAlreadyExists : Code::kConflict;
    case 410: return Code::kGone;
    case 413: return Code::kRequestEntityTooLarge;
    case 415: return Code::kUnsupportedMediaType;
    case 422: return Code::kInvalid;
    case 429: return Code::kTooManyRequests;
    case 503: return Code::kUnavailable;
    case 504: return Code::kTimeout;
    case 0: return Code::kUnavailable;
    default: return Code::kInternal;
  }
}

const char* contentTypeOf(PatchType t) {
  switch (t) {
    case PatchType::kJson: return "application/json-patch+json";
    case PatchType::kMerge: return "application/merge-patch+json";
    case PatchType::kStrategic: return "application/strategic-merge-patch+json";
    case PatchType::kApply: return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

void addListQuery(HttpCall& c, const ListOptions& o) {
  if (!o.label_selector.empty()) c.query.emplace_back("labelSelector", o.label_selector);
  if (!o.field_selector.empty()) c.query.emplace_back("fieldSelector", o.field_selector);
  if (!o.resource_version.empty()) c.query.emplace_back("resourceVersion", o.resource_version);
  if (o.limit > 0) c.query.emplace_back("limit", std::to_string(o.limit));
  if (!o.continue_token.empty()) c.query.emplace_back("continue", o.continue_token);
}

}  // namespace

Status statusFromReply(const HttpReply& reply) {
  if (reply.status >= 200 && reply.status < 300) return Status::ok();
  std::string reason;
  std::string message = reply.body;
  Json body = Json::parse(reply.body, nullptr, false);
  if (body.is_object()) {
    if (auto it = body.find("message"); it != body.end() && it->is_string()) message = it->get<std::string>();
    if (auto it = body.find("reason"); it != body.end() && it->is_string()) reason = it->get<std::string>();
  }
  if (message.empty()) message = fmt::format("HTTP {}", reply.status);
  Status st(codeOf(reply.status, reason), message);
  if (reply.status == 410 && !reason.empty()) st.reason_override = reason;
  return st;
}

Client::Client(std::shared_ptr<Transport> transport, std::string field_manager)
    : transport_(std::move(transport)), field_manager_(std::move(field_manager)) {}

void Client::callAsync(HttpCall call, std::function<void(Result<Json>)> done) const {
  transport_->send(std::move(call), [done = std::move(done)](HttpReply reply) {
    Status st = statusFromReply(reply);
    if (!st) return done(std::move(st));
    Json body = Json::parse(reply.body, nullptr, false);
    if (body.is_discarded()) return done(Status(Code::kInternal, "unparseable response from the API server"));
    done(std::move(body));
  });
}

void Client::sendAsync(HttpCall call, std::function<void(Status)> done) const {
  transport_->send(std::move(call), [done = std::move(done)](HttpReply reply) {
    Status st = statusFromReply(reply);
    if (done) done(std::move(st));
  });
}

Result<Json> Client::call(HttpCall call) const {
  std::promise<Result<Json>> p;
  auto f = p.get_future();
  callAsync(std::move(call), [&p](Result<Json> r) { p.set_value(std::move(r)); });
  return f.get();
}

Result<Json> Client::get(const ResourceRef& r, std::string_view ns, std::string_view name) const {
  return call({.method = "GET", .path = r.path(ns, name)});
}

Result<Json> Client::list(const ResourceRef& r, std::string_view ns, const ListOptions& opts) const {
  HttpCall c{.method = "GET", .path = r.path(ns)};
  addListQuery(c, opts);
  return call(std::move(c));
}

Result<Json> Client::create(const ResourceRef& r, std::string_view ns, const Json& obj) const {
  HttpCall c{.method = "POST", .path = r.path(ns), .body = obj.dump()};
  c.query.emplace_back("fieldManager", field_manager_);
  return call(std::move(c));
}

Result<Json> Client::update(const ResourceRef& r, std::string_view ns, const Json& obj,
                            std::string_view subresource) const {
  HttpCall c{.method = "PUT", .path = r.path(ns, nameOf(obj), subresource), .body = obj.dump()};
  c.query.emplace_back("fieldManager", field_manager_);
  return call(std::move(c));
}

Result<Json> Client::patch(const ResourceRef& r, std::string_view ns, std::string_view name, PatchType type,
                           const Json& patch, std::string_view subresource) const {
  HttpCall c{.method = "PATCH", .path = r.path(ns, name, subresource), .body = patch.dump(),
             .content_type = contentTypeOf(type)};
  c.query.emplace_back("fieldManager", field_manager_);
  if (type == PatchType::kApply) c.query.emplace_back("force", "true");
  return call(std::move(c));
}

Result<Json> Client::remove(const ResourceRef& r, std::string_view ns, std::string_view name,
                            const Json& delete_options) const {
  HttpCall c{.method = "DELETE", .path = r.path(ns, name)};
  if (!delete_options.is_null()) c.body = delete_options.dump();
  return call(std::move(c));
}

Result<Json> Client::post(const ResourceRef& r, std::string_view ns, std::string_view name,
                          std::string_view subresource, const Json& body) const {
  return call({.method = "POST", .path = r.path(ns, name, subresource), .body = body.dump()});
}

namespace {
// Splits the watch body into lines and decodes each event.
struct WatchDecoder {
  std::function<void(std::string_view, ObjectPtr)> on_event;
  std::string buffer;
  std::mutex mu;  // chunks may arrive from different threads, but in order

  // An event without the object's metadata.managedFields: no component
  // reads them, and they are a large part of a small object, so they are
  // skipped while parsing rather than built and thrown away (upstream's
  // informers drop them with a transform). Writes that send the object
  // back without them keep the stored ones.
  static Json parseEvent(std::string_view line) {
    bool in_metadata = false;
    Json::parser_callback_t skip = [&in_metadata](int depth, Json::parse_event_t event, Json& parsed) {
      if (event != Json::parse_event_t::key) return true;
      if (depth == 2) in_metadata = parsed == "metadata";  // {"object": {"metadata": ...}}
      return !(depth == 3 && in_metadata && parsed == "managedFields");
    };
    return Json::parse(line, skip, false);
  }

  void feed(std::string_view chunk) {
    std::lock_guard lock(mu);
    buffer.append(chunk);
    size_t start = 0;
    for (;;) {
      size_t nl = buffer.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(buffer.data() + start, nl - start);
      start = nl + 1;
      if (line.empty()) continue;
      Json ev = parseEvent(line);
      if (!ev.is_object()) continue;
      auto type = ev.find("type");
      auto obj = ev.find("object");
      if (type == ev.end() || !type->is_string() || obj == ev.end()) continue;
      on_event(type->get<std::string>(), std::make_shared<const Json>(std::move(*obj)));
    }
    buffer.erase(0, start);
  }
};
}  // namespace

std::unique_ptr<StreamHandle> Client::watch(const ResourceRef& r, std::string_view ns, const ListOptions& opts,
                                            std::function<void(std::string_view, ObjectPtr)> on_event,
                                            std::function<void(Status)> on_end) const {
  HttpCall c{.method = "GET", .path = r.path(ns)};
  addListQuery(c, opts);
  c.query.emplace_back("watch", "true");
  if (opts.allow_bookmarks) c.query.emplace_back("allowWatchBookmarks", "true");
  if (opts.timeout_seconds > 0) c.query.emplace_back("timeoutSeconds", std::to_string(opts.timeout_seconds));
  auto end = [on_end](HttpReply reply) { on_end(statusFromReply(reply)); };
  if (auto handle = transport_->watchObjects(c, on_event, end)) return handle;
  auto decoder = std::make_shared<WatchDecoder>();
  decoder->on_event = std::move(on_event);
  return transport_->stream(
      std::move(c), [decoder](std::string_view chunk) { decoder->feed(chunk); },
      [on_end = std::move(on_end)](HttpReply reply) { on_end(statusFromReply(reply)); });
}

namespace {
std::string metaString(const Json& obj, const char* field) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return {};
  auto f = m->find(field);
  return f != m->end() && f->is_string() ? f->get<std::string>() : std::string();
}
}  // namespace

std::string nameOf(const Json& obj) { return metaString(obj, "name"); }
std::string namespaceOf(const Json& obj) { return metaString(obj, "namespace"); }
std::string uidOf(const Json& obj) { return metaString(obj, "uid"); }

std::string keyOf(const Json& obj) {
  std::string ns = namespaceOf(obj);
  return ns.empty() ? nameOf(obj) : ns + "/" + nameOf(obj);
}

std::pair<std::string, std::string> splitKey(std::string_view key) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos) return {"", std::string(key)};
  return {std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

}  // namespace capstan::client
