// The pod subresources that stream from the node: log, exec, attach and
// portforward. The API server checks the pod and container as
// kube-apiserver and the kubelet do (with their messages), finds the
// node's kubelet endpoint from its Node object, and proxies there
// (kubelet_client.h).
#include <fmt/format.h>

#include "apiserver/kubelet_client.h"
#include "apiserver/metrics_api.h"
#include "apiserver/resources.h"
#include "apiserver/responses.h"
#include "common/url.h"

namespace capstan::apiserver {
namespace {

// Readers that never throw, whatever shape a stored status has.

// The request's query for the kubelet: every parameter but `skip`.
std::string kubeletQuery(const Request& req, std::initializer_list<std::string_view> skip) {
  std::string q;
  for (const auto& [k, v] : req.query) {
    if (std::find(skip.begin(), skip.end(), k) != skip.end()) continue;
    q += q.empty() ? "?" : "&";
    q += percentEncode(k) + "=" + percentEncode(v);
  }
  return q;
}

std::vector<std::string> containerNames(const Json& pod, bool all) {
  std::vector<std::string> names;
  const Json& spec = member(pod, "spec");
  for (const char* field : {"containers", "initContainers", "ephemeralContainers"}) {
    if (!all && std::string(field) != "containers") continue;
    const Json& list = member(spec, field);
    if (!list.is_array()) continue;
    for (const auto& c : list) names.push_back(getString(c, "name"));
  }
  return names;
}

// The container a request names, or the pod's only container.
Result<std::string> pickContainer(const Json& pod, const std::string& pod_name, const std::string& asked) {
  if (asked.empty()) {
    auto names = containerNames(pod, false);
    if (names.size() == 1) return names[0];
    return badRequest(fmt::format("a container name must be specified for pod {}, choose one of: [{}]", pod_name,
                                  fmt::join(names, " ")));
  }
  for (const auto& n : containerNames(pod, true))
    if (n == asked) return asked;
  return badRequest(fmt::format("container {} is not valid for pod {}", asked, pod_name));
}

const Json* containerStatus(const Json& pod, const std::string& name) {
  const Json& status = member(pod, "status");
  for (const char* field : {"containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"}) {
    const Json& list = member(status, field);
    if (!list.is_array()) continue;
    for (const auto& c : list)
      if (getString(c, "name") == name) return &c;
  }
  return nullptr;
}

// kubelet's validateContainerLogStatus: whether there is a container to
// read (or exec into) yet.
Status checkContainerState(const Json& pod, const std::string& pod_name, const std::string& name, bool previous,
                           bool must_run) {
  const Json* cs = containerStatus(pod, name);
  if (!cs) return badRequest(fmt::format("container \"{}\" in pod \"{}\" is not available", name, pod_name));
  const Json& state = member(*cs, "state");
  const Json& last = member(*cs, "lastState");
  if (previous) {
    if (member(last, "terminated").is_null())
      return badRequest(fmt::format("previous terminated container \"{}\" in pod \"{}\" not found", name, pod_name));
    return Status::ok();
  }
  if (!member(state, "running").is_null()) return Status::ok();
  if (must_run) {
    if (!member(state, "waiting").is_null()) {
      std::string reason = getString(member(state, "waiting"), "reason");
      return badRequest(fmt::format("container \"{}\" in pod \"{}\" is waiting to start: {}", name, pod_name,
                                    reason.empty() ? "ContainerCreating" : reason));
    }
    return badRequest(fmt::format("container \"{}\" in pod \"{}\" is not running", name, pod_name));
  }
  if (!member(state, "terminated").is_null()) return Status::ok();
  if (!member(last, "terminated").is_null()) return Status::ok();
  if (!member(state, "waiting").is_null()) {
    std::string reason = getString(member(state, "waiting"), "reason");
    if (reason == "ErrImagePull" || reason == "ImagePullBackOff")
      return badRequest(fmt::format("container \"{}\" in pod \"{}\" is waiting to start: image can't be pulled",
                                    name, pod_name));
    return badRequest(fmt::format("container \"{}\" in pod \"{}\" is waiting to start: {}", name, pod_name,
                                  reason.empty() ? "ContainerCreating" : reason));
  }
  return badRequest(fmt::format("container \"{}\" in pod \"{}\" is waiting to start - no logs yet", name, pod_name));
}

}  // namespace

void Resources::podStream(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req,
                          Responder done) {
  const std::string& sub = ri.subresource;
  bool is_log = sub == "log";
  if (is_log ? req.method != "GET" : (req.method != "GET" && req.method != "POST"))
    return done(errorResponse(Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource")));
  ObjectPtr obj = ctx_.cache->get(info.storeKey(ri.ns, ri.name));
  if (!obj) return done(errorResponse(notFound(info.qualifiedResource(), ri.name)));
  const Json& pod = obj->obj;

  std::string container;
  if (sub != "portforward") {
    auto c = pickContainer(pod, ri.name, req.param("container"));
    if (!c) return done(errorResponse(c.status()));
    container = *c;
  }
  std::string node = getString(member(pod, "spec"), "nodeName");
  if (node.empty()) {
    if (is_log) {
      // Upstream: a pod without a host has no logs yet (an empty answer).
      Response r;
      r.content_type = "text/plain";
      return done(std::move(r));
    }
    return done(errorResponse(badRequest(fmt::format("pod {} does not have a host assigned", ri.name))));
  }
  std::string phase = getString(member(pod, "status"), "phase");
  if ((sub == "exec" || sub == "attach") && (phase == "Succeeded" || phase == "Failed"))
    return done(errorResponse(badRequest(fmt::format("cannot {} a container in a completed pod; current phase is {}",
                                                      sub == "exec" ? "exec into" : "attach to", phase))));
  if (sub != "portforward") {
    bool previous = is_log && (req.param("previous") == "true" || req.param("previous") == "1");
    if (auto st = checkContainerState(pod, ri.name, container, previous, !is_log); !st)
      return done(errorResponse(st));
  }

  // The node's kubelet endpoint.
  const api::ResourceInfo* nodes = ctx_.registry->find("", "v1", "nodes");
  ObjectPtr node_obj = nodes ? ctx_.cache->get(nodes->storeKey("", node)) : nullptr;
  if (!node_obj) return done(errorResponse(notFound("nodes", node)));
  auto endpoint = kubeletEndpointOf(node_obj->obj, node);
  if (!endpoint) return done(errorResponse(endpoint.status()));
  const KubeletEndpoint& ep = *endpoint;
  if (!ctx_.kubelet) return done(errorResponse(Status(Code::kUnavailable, "no kubelet client in this server")));

  std::string path_pod = percentEncode(ri.ns) + "/" + percentEncode(ri.name);
  if (is_log) {
    std::string target = "/containerLogs/" + path_pod + "/" + percentEncode(container) +
                         kubeletQuery(req, {"container", "pretty", "insecureSkipTLSVerifyBackend", "timeout"});
    return ctx_.kubelet->get(ep, target, std::move(done));
  }
  std::string target = sub == "portforward"
                           ? "/portForward/" + path_pod + kubeletQuery(req, {"timeout"})
                           : "/" + sub + "/" + path_pod + "/" + percentEncode(container) +
                                 kubeletQuery(req, {"container", "timeout"});
  ctx_.kubelet->upgrade(ep, target, req, std::move(done));
}

}  // namespace capstan::apiserver
