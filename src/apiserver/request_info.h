#pragma once
// Parses a Kubernetes REST path into what it addresses, as upstream's
// RequestInfoFactory does:
//   /api/v1/namespaces/NS/pods/NAME/status
//   /apis/apps/v1/deployments            (all namespaces)
//   /api/v1/watch/namespaces/NS/pods     (legacy watch prefix)

#include <string>
#include <string_view>

#include "apiserver/http.h"

namespace capstan::apiserver {

struct RequestInfo {
  bool is_resource = false;  // false: discovery, health, ... (path only)
  std::string group;
  std::string version;
  std::string resource;
  std::string subresource;
  std::string ns;
  std::string name;
  // get, list, watch, create, update, patch, delete, deletecollection
  std::string verb;
};

// Returns is_resource = false for paths that do not address a resource
// (including /api, /apis, /apis/GROUP, /apis/GROUP/VERSION).
RequestInfo parseRequestInfo(const Request& req);

}  // namespace capstan::apiserver
