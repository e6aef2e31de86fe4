#include "apiserver/discovery.h"

#include <openssl/evp.h>

#include <fmt/format.h>

#include "apiserver/openapi.h"
#include "apiserver/responses.h"

namespace capstan::apiserver {
namespace {

constexpr const char* kAggV2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
constexpr const char* kAggV2Beta1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

// Which aggregated discovery version the client accepts, if any.
std::string aggregatedVersion(const Request& req) {
  std::string accept = req.header("accept");
  accept.erase(std::remove(accept.begin(), accept.end(), ' '), accept.end());
  if (accept.find("g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList") != std::string::npos) return "v2";
  if (accept.find("g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList") != std::string::npos) return "v2beta1";
  return "";
}

std::string sha512Hex(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha512(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < n; ++i) out += fmt::format("{:02X}", md[i]);
  return out;
}

Json groupVersionJson(const api::GroupVersion& gv) { return {{"groupVersion", gv.str()}, {"version", gv.version}}; }

std::string gvPath(const api::GroupVersion& gv) { return gv.group.empty() ? "api/" + gv.version : "apis/" + gv.group + "/" + gv.version; }

Json subresourceVerbs() { return Json::array({"get", "patch", "update"}); }

}  // namespace

Discovery::Discovery(const api::Registry& registry, VersionInfo version, std::string server_address)
    : registry_(registry), version_(std::move(version)), server_address_(std::move(server_address)) {
  const api::Schemas served = servedSchemas(registry_, api::Schemas::builtin());
  for (const auto& gv : registry_.groupVersions()) {
    std::string doc = openApiV3(registry_, served, gv).dump();
    openapi_hashes_[gvPath(gv)] = sha512Hex(doc);
    openapi_docs_[gvPath(gv)] = std::move(doc);
  }
  openapi_v2_ = openApiV2Protobuf(registry_, served);
}

Response Discovery::apiVersions(const Request& req) const {
  if (std::string v = aggregatedVersion(req); !v.empty()) return aggregated(true, v);
  Json j = {{"kind", "APIVersions"},
            {"versions", Json::array({"v1"})},
            {"serverAddressByClientCIDRs",
             Json::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", req.header("host").empty() ? server_address_ : req.header("host")}}})}};
  return jsonResponse(200, j.dump());
}

Response Discovery::groupList(const Request& req) const {
  if (std::string v = aggregatedVersion(req); !v.empty()) return aggregated(false, v);
  Json groups = Json::array();
  std::map<std::string, Json> by_name;
  std::vector<std::string> order;
  for (const auto& gv : registry_.groupVersions()) {
    if (gv.group.empty()) continue;
    if (!by_name.count(gv.group)) {
      order.push_back(gv.group);
      by_name[gv.group] = {{"name", gv.group}, {"versions", Json::array()}, {"preferredVersion", groupVersionJson(gv)}};
    }
    by_name[gv.group]["versions"].push_back(groupVersionJson(gv));
  }
  for (const auto& n : order) groups.push_back(by_name[n]);
  return jsonResponse(200, Json({{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}}).dump());
}

std::optional<Response> Discovery::group(const std::string& name) const {
  Json versions = Json::array();
  for (const auto& gv : registry_.groupVersions())
    if (gv.group == name) versions.push_back(groupVersionJson(gv));
  if (versions.empty()) return std::nullopt;
  Json j = {{"kind", "APIGroup"}, {"apiVersion", "v1"}, {"name", name}, {"versions", versions}, {"preferredVersion", versions[0]}};
  return jsonResponse(200, j.dump());
}

Response Discovery::resourceList(const api::GroupVersion& gv) const {
  Json resources = Json::array();
  for (const auto* r : registry_.resourcesOf(gv)) {
    Json e = {{"name", r->resource}, {"singularName", r->singular}, {"namespaced", r->namespaced}, {"kind", r->kind}, {"verbs", r->verbs}};
    if (!r->short_names.empty()) e["shortNames"] = r->short_names;
    if (!r->categories.empty()) e["categories"] = r->categories;
    resources.push_back(std::move(e));
    if (r->has_status)
      resources.push_back({{"name", r->resource + "/status"}, {"singularName", ""}, {"namespaced", r->namespaced}, {"kind", r->kind}, {"verbs", subresourceVerbs()}});
    if (r->has_scale)
      resources.push_back({{"name", r->resource + "/scale"}, {"singularName", ""}, {"namespaced", r->namespaced}, {"group", "autoscaling"},
                           {"version", "v1"}, {"kind", "Scale"}, {"verbs", subresourceVerbs()}});
    if (r->kind == "Pod" && r->group.empty()) {
      resources.push_back({{"name", "pods/binding"}, {"singularName", ""}, {"namespaced", true}, {"kind", "Binding"}, {"verbs", {"create"}}});
      resources.push_back({{"name", "pods/eviction"}, {"singularName", ""}, {"namespaced", true}, {"group", "policy"},
                           {"version", "v1"}, {"kind", "Eviction"}, {"verbs", {"create"}}});
      // The streaming subresources, as kube-apiserver lists them.
      resources.push_back({{"name", "pods/attach"}, {"singularName", ""}, {"namespaced", true}, {"kind", "PodAttachOptions"}, {"verbs", {"create", "get"}}});
      resources.push_back({{"name", "pods/exec"}, {"singularName", ""}, {"namespaced", true}, {"kind", "PodExecOptions"}, {"verbs", {"create", "get"}}});
      resources.push_back({{"name", "pods/log"}, {"singularName", ""}, {"namespaced", true}, {"kind", "Pod"}, {"verbs", {"get"}}});
      resources.push_back({{"name", "pods/portforward"}, {"singularName", ""}, {"namespaced", true}, {"kind", "PodPortForwardOptions"}, {"verbs", {"create", "get"}}});
    }
    if (r->kind == "ServiceAccount" && r->group.empty())
      resources.push_back({{"name", "serviceaccounts/token"}, {"singularName", ""}, {"namespaced", true}, {"group", "authentication.k8s.io"},
                           {"version", "v1"}, {"kind", "TokenRequest"}, {"verbs", {"create"}}});
  }
  Json j = {{"kind", "APIResourceList"}, {"apiVersion", "v1"}, {"groupVersion", gv.str()}, {"resources", resources}};
  return jsonResponse(200, j.dump());
}

Response Discovery::aggregated(bool core, const std::string& version) const {
  Json items = Json::array();
  std::map<std::string, size_t> index;
  for (const auto& gv : registry_.groupVersions()) {
    if (gv.group.empty() != core) continue;
    Json resources = Json::array();
    for (const auto* r : registry_.resourcesOf(gv)) {
      Json e = {{"resource", r->resource},
                {"responseKind", {{"group", r->group}, {"version", r->version}, {"kind", r->kind}}},
                {"scope", r->namespaced ? "Namespaced" : "Cluster"},
                {"singularResource", r->singular},
                {"verbs", r->verbs}};
      if (!r->short_names.empty()) e["shortNames"] = r->short_names;
      if (!r->categories.empty()) e["categories"] = r->categories;
      Json subs = Json::array();
      if (r->has_scale)
        subs.push_back({{"subresource", "scale"}, {"responseKind", {{"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}}}, {"verbs", subresourceVerbs()}});
      if (r->has_status)
        subs.push_back({{"subresource", "status"}, {"responseKind", {{"group", r->group}, {"version", r->version}, {"kind", r->kind}}}, {"verbs", subresourceVerbs()}});
      if (r->kind == "Pod" && r->group.empty()) {
        subs.push_back({{"subresource", "binding"}, {"responseKind", {{"group", ""}, {"version", "v1"}, {"kind", "Binding"}}}, {"verbs", {"create"}}});
        subs.push_back({{"subresource", "eviction"}, {"responseKind", {{"group", "policy"}, {"version", "v1"}, {"kind", "Eviction"}}}, {"verbs", {"create"}}});
        subs.push_back({{"subresource", "attach"}, {"responseKind", {{"group", ""}, {"version", "v1"}, {"kind", "PodAttachOptions"}}}, {"verbs", {"create", "get"}}});
        subs.push_back({{"subresource", "exec"}, {"responseKind", {{"group", ""}, {"version", "v1"}, {"kind", "PodExecOptions"}}}, {"verbs", {"create", "get"}}});
        subs.push_back({{"subresource", "log"}, {"responseKind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}}, {"verbs", {"get"}}});
        subs.push_back({{"subresource", "portforward"}, {"responseKind", {{"group", ""}, {"version", "v1"}, {"kind", "PodPortForwardOptions"}}}, {"verbs", {"create", "get"}}});
      }
      if (r->kind == "ServiceAccount" && r->group.empty())
        subs.push_back({{"subresource", "token"}, {"responseKind", {{"group", "authentication.k8s.io"}, {"version", "v1"}, {"kind", "TokenRequest"}}}, {"verbs", {"create"}}});
      if (!subs.empty()) e["subresources"] = subs;
      resources.push_back(std::move(e));
    }
    Json v = {{"version", gv.version}, {"resources", resources}, {"freshness", "Current"}};
    auto it = index.find(gv.group);
    if (it == index.end()) {
      Json meta = core ? Json({{"creationTimestamp", nullptr}}) : Json({{"name", gv.group}, {"creationTimestamp", nullptr}});
      index[gv.group] = items.size();
      items.push_back({{"metadata", meta}, {"versions", Json::array({v})}});
    } else {
      items[it->second]["versions"].push_back(v);
    }
  }
  Json j = {{"kind", "APIGroupDiscoveryList"}, {"apiVersion", "apidiscovery.k8s.io/" + version}, {"metadata", Json::object()}, {"items", items}};
  Response r = jsonResponse(200, j.dump());
  r.content_type = version == "v2" ? kAggV2 : kAggV2Beta1;
  r.headers.emplace_back("Vary", "Accept");
  return r;
}

Response Discovery::openapiRoot() const {
  Json paths = Json::object();
  for (const auto& [path, hash] : openapi_hashes_) paths[path] = {{"serverRelativeURL", "/openapi/v3/" + path + "?hash=" + hash}};
  return jsonResponse(200, Json({{"paths", paths}}).dump());
}

std::optional<Response> Discovery::openapiGroupVersion(const std::string& path) const {
  auto it = openapi_docs_.find(path);
  if (it == openapi_docs_.end()) return std::nullopt;
  Response r = jsonResponse(200, it->second);
  r.headers.emplace_back("Etag", "\"" + openapi_hashes_.at(path) + "\"");
  return r;
}

Response Discovery::version() const {
  Json j = {{"major", version_.major},
            {"minor", version_.minor},
            {"gitVersion", version_.git_version},
            {"gitCommit", "capstan"},
            {"gitTreeState", "clean"},
            {"buildDate", "2026-11-25T00:00:00Z"},
            {"goVersion", "none (C++20)"},
            {"compiler", "gcc"},
            {"platform", "linux/amd64"}};
  return jsonResponse(200, j.dump());
}

std::optional<Response> Discovery::serve(const Request& req) const {
  const std::string& p = req.path;
  if (req.method != "GET" && req.method != "HEAD") return std::nullopt;
  if (p == "/version" || p == "/version/") return version();
  if (p == "/api" || p == "/api/") return apiVersions(req);
  if (p == "/apis" || p == "/apis/") return groupList(req);
  if (p == "/openapi/v3" || p == "/openapi/v3/") return openapiRoot();
  if (p == "/openapi/v2" || p == "/swagger-2.0.0.pb-v1") {
    Response r = jsonResponse(200, openapi_v2_);
    r.content_type = kOpenApiV2ProtobufType;
    return r;
  }
  if (p.rfind("/openapi/v3/", 0) == 0) {
    auto r = openapiGroupVersion(p.substr(std::string("/openapi/v3/").size()));
    if (r) return r;
    return errorResponse(Status(Code::kNotFound, "the server could not find the requested resource"));
  }
  // /api/v1, /apis/GROUP, /apis/GROUP/VERSION
  if (p.rfind("/api/", 0) == 0) {
    std::string v = p.substr(5);
    if (!v.empty() && v.back() == '/') v.pop_back();
    if (v.find('/') == std::string::npos) {
      for (const auto& gv : registry_.groupVersions())
        if (gv.group.empty() && gv.version == v) return resourceList(gv);
    }
    return std::nullopt;
  }
  if (p.rfind("/apis/", 0) == 0) {
    std::string rest = p.substr(6);
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    auto slash = rest.find('/');
    if (slash == std::string::npos) return group(rest);
    std::string g = rest.substr(0, slash), v = rest.substr(slash + 1);
    if (v.find('/') != std::string::npos) return std::nullopt;
    for (const auto& gv : registry_.groupVersions())
      if (gv.group == g && gv.version == v) return resourceList(gv);
  }
  return std::nullopt;
}

}  // namespace capstan::apiserver
