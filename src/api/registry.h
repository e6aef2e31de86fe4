#pragma once
// The kind registry: every served resource, declared once as data. The API
// server, discovery, OpenAPI and tables are generic over it; adding a
// built-in kind (or later a CRD) is adding a ResourceInfo, not a handler.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"

namespace capstan::api {

struct GroupVersion {
  std::string group;  // "" for the core group
  std::string version;
  // "v1" or "apps/v1"
  std::string str() const { return group.empty() ? version : group + "/" + version; }
  bool operator<(const GroupVersion& o) const { return std::tie(group, version) < std::tie(o.group, o.version); }
  bool operator==(const GroupVersion& o) const = default;
};

struct ResourceInfo {
  std::string group;
  std::string version;
  std::string resource;  // plural, lower case: "deployments"
  std::string singular;  // "deployment"
  std::string kind;      // "Deployment"
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<std::string> verbs = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
  bool has_status = false;
  bool has_scale = false;
  // Paths used by the scale subresource (dotted, from the object root).
  std::string scale_spec_replicas = "spec.replicas";
  std::string scale_status_replicas = "status.replicas";
  std::string scale_selector = "spec.selector";
  // Fields usable in fieldSelector besides metadata.name and metadata.namespace.
  std::vector<std::string> selectable_fields;
  // Whether metadata.generation tracks changes to everything but metadata
  // and status (upstream sets it for the workload kinds only).
  bool has_generation = false;

  GroupVersion gv() const { return {group, version}; }
  std::string apiVersion() const { return gv().str(); }
  std::string listKind() const { return kind + "List"; }
  // Key prefix in the store: /registry/<group or core>/<resource>/
  std::string storePrefix() const;
  std::string storeKey(std::string_view ns, std::string_view name) const;
  // "deployments.apps", or "pods" for the core group: the resource as it
  // appears in Kubernetes' error messages.
  std::string qualifiedResource() const;
};

class Registry {
 public:
  // The built-in kinds of issue 2 (declared in builtin_kinds.cc).
  static Registry builtin();

  void add(ResourceInfo info);
  const ResourceInfo* find(std::string_view group, std::string_view version, std::string_view resource) const;
  const ResourceInfo* findKind(std::string_view group, std::string_view version, std::string_view kind) const;
  const std::vector<ResourceInfo>& all() const { return resources_; }
  // Group-versions in registration order (core first).
  std::vector<GroupVersion> groupVersions() const;
  std::vector<const ResourceInfo*> resourcesOf(const GroupVersion& gv) const;

 private:
  std::vector<ResourceInfo> resources_;
};

// Reads a field for fieldSelector: metadata.name, metadata.namespace, or one
// of the kind's selectable fields (a dotted path). nullopt if the field is
// not supported for this kind. Absent fields read as "".
std::optional<std::string> selectableFieldValue(const ResourceInfo& info, const Json& obj, std::string_view field);

// Dotted-path access ("spec.replicas").
const Json* atPath(const Json& obj, std::string_view dotted);
Json* atPath(Json& obj, std::string_view dotted, bool create);

}  // namespace capstan::api
