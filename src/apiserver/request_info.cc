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
  if (rest.empty() || rest.size() > 3) return ri;
  ri.is_resource = true;
  ri.resource = rest[0];
  if (rest.size() >= 2) ri.name = rest[1];
  if (rest.size() == 3) ri.subresource = rest[2];

  std::string watch_param = req.param("watch");
  bool watch = watch_prefix || watch_param == "true" || watch_param == "1";
  const std::string& m = req.method;
  if (m == "GET" || m == "HEAD") {
    if (watch) ri.verb = "watch";
    else ri.verb = ri.name.empty() ? "list" : "get";
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
