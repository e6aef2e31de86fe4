#pragma once
// Discovery (legacy APIVersions/APIGroupList/APIResourceList and the
// aggregated apidiscovery.k8s.io v2/v2beta1 form), OpenAPI v3 documents and
// /version, all generated from the kind registry.

#include <optional>

#include "api/registry.h"
#include "apiserver/http.h"

namespace capstan::apiserver {

// The Kubernetes API level served. 1.31: kubectl 1.32+ sends protobuf
// bodies from its typed commands (create configmap, create deployment, ...),
// which capstan does not decode yet; the gcloud kubectl dispatcher picks its
// client by this minor, and 1.31's typed clients speak JSON.
struct VersionInfo {
  std::string major = "1";
  std::string minor = "31";
  std::string git_version = "v1.31.0-capstan";
};

class Discovery {
 public:
  Discovery(const api::Registry& registry, VersionInfo version, std::string server_address);
  // Answers discovery, OpenAPI and /version paths; nullopt for other paths.
  std::optional<Response> serve(const Request& req) const;

 private:
  Response apiVersions(const Request& req) const;
  Response groupList(const Request& req) const;
  Response resourceList(const api::GroupVersion& gv) const;
  std::optional<Response> group(const std::string& name) const;
  Response aggregated(bool core, const std::string& version) const;
  Response openapiRoot() const;
  std::optional<Response> openapiGroupVersion(const std::string& path) const;
  Response version() const;

  const api::Registry& registry_;
  VersionInfo version_;
  std::string server_address_;
  std::map<std::string, std::string> openapi_docs_;  // "api/v1" -> document
  std::map<std::string, std::string> openapi_hashes_;
  std::string openapi_v2_;  // protobuf
};

}  // namespace capstan::apiserver
