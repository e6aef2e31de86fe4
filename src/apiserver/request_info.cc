#include "apiserver/request_info.h"

#include <vector>

namespace capstan::apiserver {
namespace {

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

RequestInfo parseRequestInfo(const Request& req) {
  RequestInfo ri;
  auto parts = splitPath(req.path);
  size_t i = 0;
  if (parts.empty()) return ri;
  if (parts[0] == "api") {
    if (parts.size() < 3) return ri;  // /api, /api/v1
    ri.version = parts[1];
    i = 2;
  } else if (parts[0] == "apis") {
    if (parts.size() < 4) return ri;  // /apis, /apis/g, /apis/g/v
    ri.group = parts[1];
    ri.version = parts[2];
    i = 3;
  } else {
    return ri;
  }
  bool watch_prefix = false;
  if (parts[i] == "watch") {
    watch_prefix = true;
    ++i;
    if (i >= parts.size()) return ri;
  }
  std::vector<std::string> rest(parts.begin() + static_cast<long>(i), parts.end());
  // namespaces/NS/RESOURCE/... addresses a namespaced resource; namespaces,
  // namespaces/NAME and namespaces/NAME/SUB address namespaces themselves.
  if (rest.size() >= 3 && rest[0] == "namespaces" && !(ri.group.empty() && rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
    ri.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  // Beyond RESOURCE/NAME/SUB only a proxy subresource carries a subpath.
  if (rest.empty() || (rest.size() > 3 && rest[2] != "proxy")) return ri;
  ri.is_resource = true;
  ri.resource = rest[0];
  if (rest.size() >= 2) ri.name = rest[1];
  if (rest.size() >= 3) ri.subresource = rest[2];
  // A namespace is its own namespace, as upstream's authorizer sees it.
  if (ri.group.empty() && ri.resource == "namespaces" && !ri.name.empty()) ri.ns = ri.name;

  // Like Go's strconv.ParseBool as the apiserver uses it: 1, t, true, True, TRUE...
  std::string watch_param = req.param("watch");
  for (auto& c : watch_param) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool watch = watch_prefix || watch_param == "true" || watch_param == "1" || watch_param == "t";
  const std::string& m = req.method;
  if (m == "GET" || m == "HEAD") {
    if (watch) ri.verb = "watch";
    else ri.verb = ri.name.empty() ? "list" : "get";
    // A list or watch pinned to one name (fieldSelector=metadata.name=X)
    // names that object, so authorization by resourceNames applies.
    if (ri.name.empty() && (ri.verb == "list" || ri.verb == "watch")) {
      std::string fs = req.param("fieldSelector");
      const std::string key = "metadata.name=";
      if (fs.rfind(key, 0) == 0 && fs.find(',') == std::string::npos) ri.name = fs.substr(key.size());
    }
  } else if (m == "POST") {
    ri.verb = "create";
  } else if (m == "PUT") {
    ri.verb = "update";
  } else if (m == "PATCH") {
    ri.verb = "patch";
  } else if (m == "DELETE") {
    ri.verb = ri.name.empty() ? "deletecollection" : "delete";
  } else {
    ri.verb = m;
  }
  return ri;
}

}  // namespace capstan::apiserver
