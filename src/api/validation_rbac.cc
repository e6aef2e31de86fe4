// rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding and
// ClusterRoleBinding, as upstream's pkg/apis/rbac/validation checks them.
#include "api/validation_internal.h"

namespace capstan::api::vdetail {
namespace {

constexpr const char* kRbacGroup = "rbac.authorization.k8s.io";

// ValidatePathSegmentName: RBAC names may hold colons (system:node), only
// not the characters that would break a URL path.
std::vector<std::string> pathSegmentErrors(std::string_view name, bool prefix) {
  std::vector<std::string> out;
  if (!prefix && (name == "." || name == "..")) out.push_back("may not be '" + std::string(name) + "'");
  for (const char* bad : {"/", "%"})
    if (name.find(bad) != std::string_view::npos) out.push_back(std::string("may not contain '") + bad + "'");
  return out;
}

std::string goStringSlice(const std::vector<std::string>& v) {
  std::string out = "[]string{";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + goQuote(v[i]);
  return out + "}";
}

void validatePolicyRule(const Json& rule, bool namespaced, const std::string& fld, ErrorList& errs) {
  const Json* r = &rule;
  if (stringList(get(r, "verbs")).empty()) errs.required(fld + ".verbs", "verbs must contain at least one value");
  auto urls = stringList(get(r, "nonResourceURLs"));
  if (!urls.empty()) {
    if (namespaced)
      errs.invalid(fld + ".nonResourceURLs", goStringSlice(urls), "namespaced rules cannot apply to non-resource URLs");
    if (hasEntries(get(r, "apiGroups")) || hasEntries(get(r, "resources")) || hasEntries(get(r, "resourceNames")))
      errs.invalid(fld + ".nonResourceURLs", goStringSlice(urls),
                   "rules cannot apply to both regular resources and non-resource URLs");
    return;
  }
  if (!hasEntries(get(r, "apiGroups")))
    errs.required(fld + ".apiGroups", "resource rules must supply at least one api group");
  if (!hasEntries(get(r, "resources")))
    errs.required(fld + ".resources", "resource rules must supply at least one resource");
}

void validateRules(const Json& obj, bool namespaced, ErrorList& errs) {
  const Json& rules = array(get(obj, "rules"));
  for (size_t i = 0; i < rules.size(); ++i)
    validatePolicyRule(rules[i], namespaced, "rules[" + std::to_string(i) + "]", errs);
}

void validateSubject(const Json& s, bool namespaced, const std::string& fld, ErrorList& errs) {
  std::string name = str(get(s, "name"));
  std::string kind = str(get(s, "kind"));
  std::string group = str(get(s, "apiGroup"));
  if (name.empty()) errs.required(fld + ".name", "");
  if (kind == "ServiceAccount") {
    if (!name.empty())
      for (auto& m : nameIsDnsSubdomain(name, false)) errs.invalid(fld + ".name", goQuote(name), m);
    if (!group.empty()) errs.notSupported(fld + ".apiGroup", goQuote(group), {""});
    if (!namespaced && str(get(s, "namespace")).empty()) errs.required(fld + ".namespace", "");
  } else if (kind == "User" || kind == "Group") {
    if (group != kRbacGroup) errs.notSupported(fld + ".apiGroup", goQuote(group), {kRbacGroup});
  } else {
    errs.notSupported(fld + ".kind", goQuote(kind), {"ServiceAccount", "User", "Group"});
  }
}

void validateBinding(const Json& obj, bool namespaced, ErrorList& errs) {
  const Json* ref = get(obj, "roleRef");
  std::string group = str(get(ref, "apiGroup"));
  if (group != kRbacGroup) errs.notSupported("roleRef.apiGroup", goQuote(group), {kRbacGroup});
  std::string kind = str(get(ref, "kind"));
  if (namespaced ? (kind != "Role" && kind != "ClusterRole") : kind != "ClusterRole")
    errs.notSupported("roleRef.kind", goQuote(kind),
                      namespaced ? std::vector<std::string>{"Role", "ClusterRole"} : std::vector<std::string>{"ClusterRole"});
  std::string name = str(get(ref, "name"));
  if (name.empty()) {
    errs.required("roleRef.name", "");
  } else {
    for (auto& m : pathSegmentErrors(name, false)) errs.invalid("roleRef.name", goQuote(name), m);
  }
  const Json& subjects = array(get(obj, "subjects"));
  for (size_t i = 0; i < subjects.size(); ++i)
    validateSubject(subjects[i], namespaced, "subjects[" + std::to_string(i) + "]", errs);
}

void validateBindingUpdate(const Json& obj, const Json& old, bool namespaced, ErrorList& errs) {
  validateBinding(obj, namespaced, errs);
  const Json* ref = get(obj, "roleRef");
  const Json* old_ref = get(old, "roleRef");
  if (!semanticEqual(ref, old_ref))
    errs.invalid("roleRef",
                 "rbac.RoleRef{APIGroup:" + goQuote(str(get(ref, "apiGroup"))) + ", Kind:" + goQuote(str(get(ref, "kind"))) +
                     ", Name:" + goQuote(str(get(ref, "name"))) + "}",
                 "cannot change roleRef");
}

}  // namespace

std::vector<std::string> nameIsPathSegment(std::string_view name, bool prefix) { return pathSegmentErrors(name, prefix); }

void validateRole(const Json& obj, ErrorList& errs) { validateRules(obj, true, errs); }

void validateClusterRole(const Json& obj, ErrorList& errs) {
  validateRules(obj, false, errs);
  if (const Json* agg = get(obj, "aggregationRule"); agg && !hasEntries(get(agg, "clusterRoleSelectors")))
    errs.required("aggregationRule.clusterRoleSelectors", "at least one clusterRoleSelector required if aggregationRule is non-nil");
}

void validateRoleBinding(const Json& obj, ErrorList& errs) { validateBinding(obj, true, errs); }
void validateRoleBindingUpdate(const Json& obj, const Json& old, ErrorList& errs) {
  validateBindingUpdate(obj, old, true, errs);
}
void validateClusterRoleBinding(const Json& obj, ErrorList& errs) { validateBinding(obj, false, errs); }
void validateClusterRoleBindingUpdate(const Json& obj, const Json& old, ErrorList& errs) {
  validateBindingUpdate(obj, old, false, errs);
}

}  // namespace capstan::api::vdetail
