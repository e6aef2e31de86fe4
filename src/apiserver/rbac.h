#pragma once
// Private to the API server: authorization by role-based access control
// (rbac.authorization.k8s.io/v1), as kube-apiserver's RBAC authorizer
// decides it.
//
// A request is allowed when some binding names the user (by user name,
// group or service account) and the role it refers to has a rule that
// covers the request. ClusterRoleBindings grant everywhere; RoleBindings
// grant only in their own namespace, whether they refer to a Role or a
// ClusterRole. There is no deny: a request no rule covers is forbidden.
//
// Members of system:masters are allowed everything without a lookup, as
// upstream's privileged group is; so are this server's own components.
//
// Roles and bindings are read from the watch cache at each decision, so a
// change applies to the next request and the store stays the only truth.
// Thread-safe; decisions are pure functions of the policy objects.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/http.h"
#include "apiserver/object_cache.h"
#include "apiserver/request_info.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::apiserver {

// What a request asks to do: upstream's authorizer.Attributes.
struct AccessAttributes {
  std::string verb;  // get, list, watch, create, update, patch, delete, deletecollection, bind, ...
  bool is_resource = false;
  std::string group;
  std::string resource;
  std::string subresource;
  std::string ns;
  std::string name;
  std::string path;  // non-resource requests: the URL path

  static AccessAttributes of(const RequestInfo& ri, const Request& req);
  // A request on a resource, e.g. onResource("impersonate", "", "users", "", "alice").
  static AccessAttributes onResource(std::string verb, std::string group, std::string resource, std::string ns = "",
                                     std::string name = "", std::string subresource = "");
};

// Whether one PolicyRule (JSON) covers the request.
bool ruleAllows(const Json& rule, const AccessAttributes& a);

// Whether a binding's subject (JSON) names the user. Service account
// subjects without a namespace take the binding's.
bool subjectMatches(const Json& subject, const UserInfo& user, const std::string& binding_ns);

// The superuser group: allowed everything, never looked up.
inline constexpr const char* kMastersGroup = "system:masters";

class RbacAuthorizer {
 public:
  // Looks up the stored objects under a key prefix (e.g. the cache's list()).
  using Lister = std::function<std::vector<ObjectPtr>(const std::string& prefix)>;
  using Getter = std::function<ObjectPtr(const std::string& key)>;

  RbacAuthorizer(Lister list, Getter get) : list_(std::move(list)), get_(std::move(get)) {}
  // Reads the cache's current state at each call.
  explicit RbacAuthorizer(const ObjectCache& cache);

  struct Decision {
    bool allowed = false;
    std::string reason;  // which binding allowed it, as upstream's reason reads
  };
  Decision authorize(const UserInfo& user, const AccessAttributes& a) const;

  // Every rule granted to the user in namespace `ns` (cluster-wide ones
  // included), as SelfSubjectRulesReview lists them.
  std::vector<Json> rulesFor(const UserInfo& user, const std::string& ns) const;

  // The escalation check of role and binding writes: a user may only
  // create or change a role whose rules it holds itself, unless it may
  // `escalate` that role; and may only bind a role whose rules it holds,
  // unless it may `bind` it (a role that does not exist needs `bind`). A
  // ClusterRole with an aggregationRule needs every permission, since its
  // selectors may pick any role. `obj` is the new object, `ns` its
  // namespace ("" for cluster kinds). Ok, or Forbidden saying what is missing.
  Status checkRoleWrite(const UserInfo& user, const std::string& resource, const std::string& ns,
                        const Json& obj) const;

 private:
  // The rules of the role a binding refers to; nullopt when it does not exist.
  std::optional<std::vector<Json>> findRoleRules(const Json& role_ref, const std::string& binding_ns) const;
  std::vector<Json> rulesOfRoleRef(const Json& role_ref, const std::string& binding_ns) const;
  // Whether the user holds every atomic permission `rules` grant, in `ns`.
  // Each rule's lists are taken without repeats; a write of more than
  // kMaxCheckedPermissions atomic permissions counts as not held.
  bool holdsAll(const UserInfo& user, const Json& rules, const std::string& ns) const;
  // Every verb on every resource and path, cluster-wide.
  bool holdsEverything(const UserInfo& user) const;

  Lister list_;
  Getter get_;
};

// The Forbidden status kube-apiserver answers, e.g.
//   pods is forbidden: User "u" cannot list resource "pods" in API group "" in the namespace "default"
Status forbidden(const UserInfo& user, const AccessAttributes& a, const std::string& reason = "");

// The bootstrap policy created at start when missing: cluster-admin, admin,
// edit, view, system:discovery, system:basic-user, system:public-info-viewer
// and their bindings (ClusterRoles first, then ClusterRoleBindings).
std::vector<Json> bootstrapPolicy();

// A stored bootstrap object brought up to the default `wanted`, as
// kube-apiserver reconciles them at each start: unless it is annotated
// rbac.authorization.kubernetes.io/autoupdate: "false", what the default
// has and the stored object lacks is added (a role's rules, or an
// aggregated role's selectors, a binding's subjects, labels and
// annotations); what an admin added stays. Returns the object unchanged
// when nothing is missing.
Json reconcileBootstrap(const Json& stored, const Json& wanted);

}  // namespace capstan::apiserver
