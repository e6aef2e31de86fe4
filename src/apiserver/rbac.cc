#include "apiserver/rbac.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

namespace capstan::apiserver {
namespace {

constexpr const char* kRbacPrefix = "/registry/rbac.authorization.k8s.io/";

bool contains(const Json& list, const std::string& value) {
  if (!list.is_array()) return false;
  for (const auto& v : list)
    if (v.is_string() && v.get_ref<const std::string&>() == value) return true;
  return false;
}

bool hasWildcardOr(const Json& list, const std::string& value) {
  return contains(list, "*") || contains(list, value);
}

bool resourceMatches(const Json& resources, const AccessAttributes& a) {
  if (!resources.is_array()) return false;
  std::string combined = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
  for (const auto& r : resources) {
    if (!r.is_string()) continue;
    const auto& s = r.get_ref<const std::string&>();
    if (s == "*" || s == combined) return true;
    // "*/scale": that subresource of any resource.
    if (!a.subresource.empty() && s.size() == a.subresource.size() + 2 && s.rfind("*/", 0) == 0 &&
        s.compare(2, std::string::npos, a.subresource) == 0)
      return true;
  }
  return false;
}

bool urlMatches(const Json& urls, const std::string& path) {
  if (!urls.is_array()) return false;
  for (const auto& u : urls) {
    if (!u.is_string()) continue;
    const auto& s = u.get_ref<const std::string&>();
    if (s == "*" || s == path) return true;
    if (!s.empty() && s.back() == '*' && path.rfind(s.substr(0, s.size() - 1), 0) == 0) return true;
  }
  return false;
}

std::string subjectText(const Json& subject) {
  std::string kind = getString(subject, "kind");
  if (kind == "ServiceAccount")
    return fmt::format("ServiceAccount \"{}/{}\"", getString(subject, "namespace"), getString(subject, "name"));
  return fmt::format("{} \"{}\"", kind, getString(subject, "name"));
}

// The distinct strings of a JSON list (others skipped), in order.
std::vector<std::string> distinct(const Json& list) {
  std::vector<std::string> out;
  if (!list.is_array()) return out;
  for (const auto& v : list)
    if (v.is_string() && std::find(out.begin(), out.end(), v.get_ref<const std::string&>()) == out.end())
      out.push_back(v.get<std::string>());
  return out;
}

// More atomic permissions than this in one role write are not checked one
// by one: the writer needs `escalate` (or `bind`) instead. A rule's lists
// multiply, so a small body could otherwise keep a thread busy for ever.
constexpr size_t kMaxCheckedPermissions = 20000;

// Calls f(attributes) for every atomic permission a rule grants, until f
// returns false. False when f did, or when the rule holds more than
// `budget` (decremented) permissions.
template <typename F>
bool eachPermission(const Json& rule, const std::string& ns, size_t& budget, F&& f) {
  auto verbs = distinct(arrayAt(rule, "verbs"));
  auto urls = distinct(arrayAt(rule, "nonResourceURLs"));
  auto groups = distinct(arrayAt(rule, "apiGroups"));
  auto resources = distinct(arrayAt(rule, "resources"));
  auto names = distinct(arrayAt(rule, "resourceNames"));
  if (names.empty()) names.push_back("");
  size_t count = verbs.size() * urls.size() + verbs.size() * groups.size() * resources.size() * names.size();
  if (count > budget) return false;
  budget -= count;
  for (const auto& v : verbs)
    for (const auto& u : urls) {
      AccessAttributes a;
      a.verb = v;
      a.path = u;
      if (!f(a)) return false;
    }
  for (const auto& v : verbs)
    for (const auto& g : groups)
      for (const auto& r : resources)
        for (const auto& n : names) {
          AccessAttributes a;
          a.is_resource = true;
          a.verb = v;
          a.group = g;
          a.resource = r;
          if (auto slash = r.find('/'); slash != std::string::npos) {
            a.subresource = r.substr(slash + 1);
            a.resource.resize(slash);
          }
          a.name = n;
          a.ns = ns;
          if (!f(a)) return false;
        }
  return true;
}

}  // namespace

AccessAttributes AccessAttributes::of(const RequestInfo& ri, const Request& req) {
  AccessAttributes a;
  a.is_resource = ri.is_resource;
  if (ri.is_resource) {
    a.verb = ri.verb;
    a.group = ri.group;
    a.resource = ri.resource;
    a.subresource = ri.subresource;
    a.ns = ri.ns;
    a.name = ri.name;
  } else {
    // Non-resource requests are authorized by the lower-case HTTP verb.
    a.verb = req.method;
    std::transform(a.verb.begin(), a.verb.end(), a.verb.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    a.path = req.path;
  }
  return a;
}

AccessAttributes AccessAttributes::onResource(std::string verb, std::string group, std::string resource,
                                              std::string ns, std::string name, std::string subresource) {
  AccessAttributes a;
  a.is_resource = true;
  a.verb = std::move(verb);
  a.group = std::move(group);
  a.resource = std::move(resource);
  a.ns = std::move(ns);
  a.name = std::move(name);
  a.subresource = std::move(subresource);
  return a;
}

bool ruleAllows(const Json& rule, const AccessAttributes& a) {
  if (!rule.is_object() || !hasWildcardOr(arrayAt(rule, "verbs"), a.verb)) return false;
  if (!a.is_resource) return urlMatches(arrayAt(rule, "nonResourceURLs"), a.path);
  if (!hasWildcardOr(arrayAt(rule, "apiGroups"), a.group)) return false;
  if (!resourceMatches(arrayAt(rule, "resources"), a)) return false;
  const Json& names = arrayAt(rule, "resourceNames");
  return names.empty() || contains(names, a.name);
}

bool subjectMatches(const Json& subject, const UserInfo& user, const std::string& binding_ns) {
  std::string kind = getString(subject, "kind");
  std::string name = getString(subject, "name");
  if (kind == "User") return name == user.name;
  if (kind == "Group") return std::find(user.groups.begin(), user.groups.end(), name) != user.groups.end();
  if (kind == "ServiceAccount") {
    std::string ns = getString(subject, "namespace");
    if (ns.empty()) ns = binding_ns;
    return user.name == "system:serviceaccount:" + ns + ":" + name;
  }
  return false;
}

RbacAuthorizer::RbacAuthorizer(const ObjectCache& cache)
    : list_([&cache](const std::string& prefix) { return cache.list(prefix, nullptr); }),
      get_([&cache](const std::string& key) { return cache.get(key); }) {}

namespace {

// The role a binding refers to (a Role only in the binding's namespace), or null.
ObjectPtr lookupRole(const RbacAuthorizer::Getter& get, const Json& role_ref, const std::string& binding_ns) {
  std::string kind = getString(role_ref, "kind");
  std::string name = getString(role_ref, "name");
  if (kind == "ClusterRole") return get(std::string(kRbacPrefix) + "clusterroles/" + name);
  if (kind == "Role" && !binding_ns.empty()) return get(std::string(kRbacPrefix) + "roles/" + binding_ns + "/" + name);
  return nullptr;
}

}  // namespace

std::optional<std::vector<Json>> RbacAuthorizer::findRoleRules(const Json& role_ref,
                                                               const std::string& binding_ns) const {
  ObjectPtr role = lookupRole(get_, role_ref, binding_ns);
  if (!role) return std::nullopt;
  const Json& rules = arrayAt(role->obj, "rules");
  return std::vector<Json>(rules.begin(), rules.end());
}

std::vector<Json> RbacAuthorizer::rulesOfRoleRef(const Json& role_ref, const std::string& binding_ns) const {
  return findRoleRules(role_ref, binding_ns).value_or(std::vector<Json>{});
}

RbacAuthorizer::Decision RbacAuthorizer::authorize(const UserInfo& user, const AccessAttributes& a) const {
  if (std::find(user.groups.begin(), user.groups.end(), kMastersGroup) != user.groups.end())
    return {true, "member of system:masters"};
  auto tryBindings = [&](const std::string& prefix, const char* binding_kind,
                         const std::string& ns) -> std::optional<Decision> {
    for (const auto& b : list_(prefix)) {
      const Json& subjects = arrayAt(b->obj, "subjects");
      for (const auto& s : subjects) {
        if (!subjectMatches(s, user, ns)) continue;
        const Json& ref = objectAt(b->obj, "roleRef");
        // The role's rules are read where the cache holds them, not copied.
        ObjectPtr role = lookupRole(get_, ref, ns);
        static const Json kNoRules = Json::array();
        const Json& rules = role ? arrayAt(role->obj, "rules") : kNoRules;
        if (std::none_of(rules.begin(), rules.end(), [&](const Json& r) { return ruleAllows(r, a); })) break;
        std::string where = ns.empty() ? "" : fmt::format(" in namespace \"{}\"", ns);
        return Decision{true, fmt::format("RBAC: allowed by {} \"{}\" of {} \"{}\" to {}{}", binding_kind,
                                          getString(objectAt(b->obj, "metadata"), "name"), getString(ref, "kind"),
                                          getString(ref, "name"), subjectText(s), where)};
      }
    }
    return std::nullopt;
  };
  if (auto d = tryBindings(std::string(kRbacPrefix) + "clusterrolebindings/", "ClusterRoleBinding", ""))
    return *d;
  if (a.is_resource && !a.ns.empty())
    if (auto d = tryBindings(std::string(kRbacPrefix) + "rolebindings/" + a.ns + "/", "RoleBinding", a.ns))
      return *d;
  return {false, ""};
}

std::vector<Json> RbacAuthorizer::rulesFor(const UserInfo& user, const std::string& ns) const {
  std::vector<Json> out;
  auto collect = [&](const std::string& prefix, const std::string& binding_ns) {
    for (const auto& b : list_(prefix)) {
      const Json& subjects = arrayAt(b->obj, "subjects");
      if (std::none_of(subjects.begin(), subjects.end(),
                       [&](const Json& s) { return subjectMatches(s, user, binding_ns); }))
        continue;
      for (auto& r : rulesOfRoleRef(objectAt(b->obj, "roleRef"), binding_ns)) out.push_back(std::move(r));
    }
  };
  collect(std::string(kRbacPrefix) + "clusterrolebindings/", "");
  if (!ns.empty()) collect(std::string(kRbacPrefix) + "rolebindings/" + ns + "/", ns);
  return out;
}

bool RbacAuthorizer::holdsAll(const UserInfo& user, const Json& rules, const std::string& ns) const {
  if (!rules.is_array()) return true;
  size_t budget = kMaxCheckedPermissions;
  for (const auto& rule : rules)
    if (!eachPermission(rule, ns, budget, [&](const AccessAttributes& a) { return authorize(user, a).allowed; }))
      return false;
  return true;
}

bool RbacAuthorizer::holdsEverything(const UserInfo& user) const {
  Json all = Json::array({Json{{"apiGroups", {"*"}}, {"resources", {"*"}}, {"verbs", {"*"}}},
                          Json{{"nonResourceURLs", {"*"}}, {"verbs", {"*"}}}});
  return holdsAll(user, all, "");
}

Status RbacAuthorizer::checkRoleWrite(const UserInfo& user, const std::string& resource, const std::string& ns,
                                      const Json& obj) const {
  if (std::find(user.groups.begin(), user.groups.end(), kMastersGroup) != user.groups.end()) return Status::ok();
  std::string name = getString(objectAt(obj, "metadata"), "name");
  auto may = [&](const std::string& verb, const std::string& res, const std::string& res_name) {
    return authorize(user, AccessAttributes::onResource(verb, "rbac.authorization.k8s.io", res, ns, res_name)).allowed;
  };
  auto refused = [&](const std::string& what) {
    Status st(Code::kForbidden,
              fmt::format("{}.rbac.authorization.k8s.io \"{}\" is forbidden: user \"{}\" is attempting to grant RBAC "
                          "permissions not currently held: {}",
                          resource, name, user.name, what));
    st.details_name = name;
    st.details_group = "rbac.authorization.k8s.io";
    st.details_kind = resource;
    return st;
  };
  if (resource == "roles" || resource == "clusterroles") {
    // An aggregation rule can select any role's rules, cluster-admin's
    // included: only who holds everything may write one, as upstream.
    if (const Json* agg = find(obj, "aggregationRule"); resource == "clusterroles" && agg && !agg->is_null()) {
      if (holdsEverything(user)) return Status::ok();
      Status st = refused("an aggregationRule needs every permission");
      return st;
    }
    if (may("escalate", resource, name)) return Status::ok();
    if (!holdsAll(user, arrayAt(obj, "rules"), ns))
      return refused("the role grants permissions the user does not hold");
    return Status::ok();
  }
  if (resource == "rolebindings" || resource == "clusterrolebindings") {
    const Json& ref = objectAt(obj, "roleRef");
    std::string ref_kind = getString(ref, "kind");
    std::string ref_res = ref_kind == "ClusterRole" ? "clusterroles" : "roles";
    if (may("bind", ref_res, getString(ref, "name"))) return Status::ok();
    // A role that does not exist yet may later grant anything.
    auto rules = findRoleRules(ref, ns);
    if (!rules)
      return refused(fmt::format("{} \"{}\" does not exist, and binding it needs the bind verb", ref_kind,
                                 getString(ref, "name")));
    if (!holdsAll(user, Json(*rules), ns))
      return refused(fmt::format("{} \"{}\" grants permissions the user does not hold", ref_kind,
                                 getString(ref, "name")));
    return Status::ok();
  }
  return Status::ok();
}

Status forbidden(const UserInfo& user, const AccessAttributes& a, const std::string& reason) {
  std::string msg;
  if (!a.is_resource) {
    msg = fmt::format("User \"{}\" cannot {} path \"{}\"", user.name, a.verb, a.path);
  } else {
    std::string res = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
    msg = a.ns.empty() ? fmt::format("User \"{}\" cannot {} resource \"{}\" in API group \"{}\" at the cluster scope",
                                     user.name, a.verb, res, a.group)
                       : fmt::format("User \"{}\" cannot {} resource \"{}\" in API group \"{}\" in the namespace \"{}\"",
                                     user.name, a.verb, res, a.group, a.ns);
  }
  if (!reason.empty()) msg += ": " + reason;
  std::string text;
  if (!a.is_resource || a.resource.empty()) {
    text = "forbidden: " + msg;
  } else {
    std::string qualified = a.group.empty() ? a.resource : a.resource + "." + a.group;
    text = a.name.empty() ? fmt::format("{} is forbidden: {}", qualified, msg)
                          : fmt::format("{} \"{}\" is forbidden: {}", qualified, a.name, msg);
  }
  Status st(Code::kForbidden, text);
  if (a.is_resource) {
    st.details_name = a.name;
    st.details_group = a.group;
    st.details_kind = a.resource;
  }
  return st;
}

namespace {

Json rule(std::vector<std::string> groups, std::vector<std::string> resources, std::vector<std::string> verbs) {
  return Json{{"apiGroups", groups}, {"resources", resources}, {"verbs", verbs}};
}

Json urlRule(std::vector<std::string> urls, std::vector<std::string> verbs) {
  return Json{{"nonResourceURLs", urls}, {"verbs", verbs}};
}

Json clusterRole(const std::string& name, Json rules, Json labels = Json::object()) {
  labels["kubernetes.io/bootstrapping"] = "rbac-defaults";
  return Json{{"apiVersion", "rbac.authorization.k8s.io/v1"},
              {"kind", "ClusterRole"},
              {"metadata",
               {{"name", name},
                {"labels", std::move(labels)},
                {"annotations", {{"rbac.authorization.kubernetes.io/autoupdate", "true"}}}}},
              {"rules", std::move(rules)}};
}

// A ClusterRole that holds what the roles labelled `label`: "true" hold,
// kept so by the clusterrole-aggregation controller; written here already
// filled with the bootstrap roles' share, so that it grants from the start.
Json aggregatedRole(const std::string& name, const std::string& label, const std::vector<Json>& parts) {
  Json role = clusterRole(name, Json::array());
  role["aggregationRule"] = {{"clusterRoleSelectors", Json::array({{{"matchLabels", {{label, "true"}}}}})}};
  for (const Json& part : parts)
    if (getString(objectAt(objectAt(part, "metadata"), "labels"), label) == "true")
      for (const auto& r : arrayAt(part, "rules"))
        if (std::find(role["rules"].begin(), role["rules"].end(), r) == role["rules"].end()) role["rules"].push_back(r);
  return role;
}

Json clusterRoleBinding(const std::string& name, const std::string& role, Json subjects) {
  return Json{{"apiVersion", "rbac.authorization.k8s.io/v1"},
              {"kind", "ClusterRoleBinding"},
              {"metadata",
               {{"name", name},
                {"labels", {{"kubernetes.io/bootstrapping", "rbac-defaults"}}},
                {"annotations", {{"rbac.authorization.kubernetes.io/autoupdate", "true"}}}}},
              {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", role}}},
              {"subjects", std::move(subjects)}};
}

Json group(const std::string& name) {
  return Json{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Group"}, {"name", name}};
}

}  // namespace

Json reconcileBootstrap(const Json& stored, const Json& wanted) {
  const Json& annotations = objectAt(objectAt(stored, "metadata"), "annotations");
  if (getString(annotations, "rbac.authorization.kubernetes.io/autoupdate") == "false") return stored;
  Json out = stored;
  auto addAll = [&](Json& target, const Json& source) {
    if (!source.is_array()) return;
    if (!target.is_array()) target = Json::array();
    for (const auto& item : source)
      if (std::find(target.begin(), target.end(), item) == target.end()) target.push_back(item);
  };
  for (const char* field : {"labels", "annotations"}) {
    const Json& want = objectAt(objectAt(wanted, "metadata"), field);
    if (want.empty()) continue;
    Json& have = out["metadata"][field];
    if (!have.is_object()) have = Json::object();
    for (const auto& [k, v] : want.items())
      if (!have.contains(k)) have[k] = v;
  }
  // An aggregated role's rules are the aggregation controller's to keep:
  // only its selectors are reconciled.
  if (const Json* agg = find(wanted, "aggregationRule"); agg && agg->is_object())
    addAll(out["aggregationRule"]["clusterRoleSelectors"], arrayAt(*agg, "clusterRoleSelectors"));
  else if (const Json* rules = find(wanted, "rules"))
    addAll(out["rules"], *rules);
  if (const Json* subjects = find(wanted, "subjects")) addAll(out["subjects"], *subjects);
  return out;
}

std::vector<Json> bootstrapPolicy() {
  const std::vector<std::string> read = {"get", "list", "watch"};
  const std::vector<std::string> write = {"create", "delete", "deletecollection", "patch", "update"};
  std::vector<std::string> all_verbs = read;
  all_verbs.insert(all_verbs.end(), write.begin(), write.end());

  // What `view` reads: namespaced workload objects, never secrets.
  Json view = Json::array({
      rule({""},
           {"configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
            "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
            "services/status", "bindings", "events", "limitranges", "namespaces/status", "pods/log",
            "pods/status", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"},
           read),
      rule({""}, {"namespaces"}, read),
      rule({"discovery.k8s.io"}, {"endpointslices"}, read),
      rule({"apps"},
           {"controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
            "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
            "statefulsets/scale", "statefulsets/status"},
           read),
      rule({"autoscaling"}, {"horizontalpodautoscalers", "horizontalpodautoscalers/status"}, read),
      rule({"batch"}, {"cronjobs", "cronjobs/status", "jobs", "jobs/status"}, read),
      rule({"policy"}, {"poddisruptionbudgets", "poddisruptionbudgets/status"}, read),
      rule({"networking.k8s.io"}, {"ingresses", "ingresses/status", "networkpolicies"}, read),
      rule({"events.k8s.io"}, {"events"}, read),
      rule({"metrics.k8s.io"}, {"pods", "nodes"}, read),
  });
  // What `edit` adds: writes to the same objects, secrets, and the pod
  // subresources that run commands or forward ports.
  Json edit = Json::array({
      rule({""},
           {"pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "pods/eviction", "configmaps",
            "endpoints", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale", "secrets",
            "serviceaccounts", "services", "services/proxy"},
           write),
      rule({""}, {"secrets", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "services/proxy"}, read),
      rule({""}, {"serviceaccounts/token"}, {"create"}),
      rule({""}, {"serviceaccounts"}, {"impersonate"}),
      rule({"apps"},
           {"daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
            "replicasets/scale", "statefulsets", "statefulsets/scale"},
           write),
      rule({"autoscaling"}, {"horizontalpodautoscalers"}, write),
      rule({"batch"}, {"cronjobs", "jobs"}, write),
      rule({"policy"}, {"poddisruptionbudgets"}, write),
      rule({"networking.k8s.io"}, {"ingresses", "networkpolicies"}, write),
      rule({"discovery.k8s.io"}, {"endpointslices"}, write),
  });
  // What `admin` adds: roles and bindings inside the namespace.
  Json admin = Json::array({rule({"rbac.authorization.k8s.io"}, {"roles", "rolebindings"}, all_verbs),
                            rule({"authorization.k8s.io"}, {"localsubjectaccessreviews"}, {"create"})});

  // admin, edit and view aggregate, as upstream's: the system:aggregate-to-*
  // roles hold the rules (view's labelled for edit and admin too, edit's
  // for admin), and any ClusterRole labelled, say,
  // rbac.authorization.k8s.io/aggregate-to-view: "true" adds its own to view.
  const std::string to_admin = "rbac.authorization.k8s.io/aggregate-to-admin";
  const std::string to_edit = "rbac.authorization.k8s.io/aggregate-to-edit";
  const std::string to_view = "rbac.authorization.k8s.io/aggregate-to-view";
  std::vector<Json> parts = {
      clusterRole("system:aggregate-to-admin", admin, {{to_admin, "true"}}),
      clusterRole("system:aggregate-to-edit", edit, {{to_admin, "true"}, {to_edit, "true"}}),
      clusterRole("system:aggregate-to-view", view, {{to_admin, "true"}, {to_edit, "true"}, {to_view, "true"}}),
  };

  std::vector<Json> out = {
      clusterRole("cluster-admin", Json::array({rule({"*"}, {"*"}, {"*"}), urlRule({"*"}, {"*"})})),
      parts[0],
      parts[1],
      parts[2],
      aggregatedRole("admin", to_admin, parts),
      aggregatedRole("edit", to_edit, parts),
      aggregatedRole("view", to_view, parts),
      clusterRole("system:discovery",
                  Json::array({urlRule({"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                        "/openapi/*", "/readyz", "/version", "/version/"},
                                       {"get"})})),
      clusterRole("system:public-info-viewer",
                  Json::array({urlRule({"/healthz", "/livez", "/readyz", "/version", "/version/"}, {"get"})})),
      clusterRole("system:basic-user",
                  Json::array({rule({"authorization.k8s.io"}, {"selfsubjectaccessreviews", "selfsubjectrulesreviews"},
                                    {"create"}),
                               rule({"authentication.k8s.io"}, {"selfsubjectreviews"}, {"create"})})),
      clusterRoleBinding("cluster-admin", "cluster-admin", Json::array({group(kMastersGroup)})),
      // Node agents (the join token's system:nodes) act for the pods they
      // run: their secrets, configmaps, tokens and status. There is no node
      // authorizer yet to narrow that to their own pods, so they hold
      // cluster-admin, through a binding an admin can see.
      clusterRoleBinding("capstan:nodes", "cluster-admin", Json::array({group("system:nodes")})),
      clusterRoleBinding("system:discovery", "system:discovery", Json::array({group("system:authenticated")})),
      clusterRoleBinding("system:basic-user", "system:basic-user", Json::array({group("system:authenticated")})),
      clusterRoleBinding("system:public-info-viewer", "system:public-info-viewer",
                         Json::array({group("system:authenticated"), group("system:unauthenticated")})),
  };
  return out;
}

}  // namespace capstan::apiserver
