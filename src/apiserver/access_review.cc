#include "apiserver/access_review.h"

#include <fmt/format.h>

#include <algorithm>

#include "apiserver/resources.h"
#include "apiserver/responses.h"
#include "common/strings.h"

namespace capstan::apiserver {
namespace {

constexpr const char* kServiceAccountPrefix = "system:serviceaccount:";

Status invalidSpec(const std::string& kind, const std::string& field, const std::string& what) {
  Status st(Code::kInvalid, fmt::format("{}.authorization.k8s.io \"\" is invalid: {}: {}", kind, field, what));
  st.causes.push_back({"FieldValueRequired", what, field});
  st.details_kind = kind;
  st.details_group = kAuthorizationGroup;
  return st;
}

Response serveRulesReview(const Json& body, const UserInfo& user, const RbacAuthorizer& rbac) {
  Json resource_rules = Json::array(), url_rules = Json::array();
  for (const Json& r : rbac.rulesFor(user, getString(objectAt(body, "spec"), "namespace"))) {
    if (const Json* urls = find(r, "nonResourceURLs"); urls && urls->is_array() && !urls->empty()) {
      url_rules.push_back({{"verbs", arrayAt(r, "verbs")}, {"nonResourceURLs", *urls}});
      continue;
    }
    Json rule = {{"verbs", arrayAt(r, "verbs")}};
    for (const char* k : {"apiGroups", "resources", "resourceNames"})
      if (const Json* v = find(r, k); v && v->is_array() && !v->empty()) rule[k] = *v;
    resource_rules.push_back(std::move(rule));
  }
  Json out = body;
  out["apiVersion"] = std::string(kAuthorizationGroup) + "/v1";
  out["kind"] = "SelfSubjectRulesReview";
  if (!out.contains("metadata") || !out["metadata"].is_object()) out["metadata"] = Json::object();
  out["status"] = {{"resourceRules", resource_rules}, {"nonResourceRules", url_rules}, {"incomplete", false}};
  return jsonResponse(201, out.dump());
}

// The values of a header sent several times (joined with commas), trimmed, empty ones left out.
std::vector<std::string> headerValues(const std::string& joined) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= joined.size()) {
    size_t comma = joined.find(',', start);
    std::string v(trimSpace(std::string_view(joined).substr(
        start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (!v.empty()) out.push_back(std::move(v));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

bool isAccessReview(const RequestInfo& ri) {
  return ri.is_resource && ri.group == kAuthorizationGroup && ri.version == "v1" &&
         (ri.resource == "selfsubjectaccessreviews" || ri.resource == "subjectaccessreviews" ||
          ri.resource == "localsubjectaccessreviews" || ri.resource == "selfsubjectrulesreviews");
}

Response serveAccessReview(const RequestInfo& ri, const Request& req, const RbacAuthorizer& rbac) {
  if (ri.verb != "create" || !ri.name.empty() || !ri.subresource.empty())
    return errorResponse(
        Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource"));
  if (!req.user) return errorResponse(Status(Code::kUnauthorized, "Unauthorized"));
  auto body = decodeBody(req);
  if (!body) return errorResponse(body.status());
  if (!body->is_object()) return errorResponse(badRequest("the body of the request is not an object"));
  if (ri.resource == "selfsubjectrulesreviews") return serveRulesReview(*body, *req.user, rbac);
  bool self = ri.resource == "selfsubjectaccessreviews";
  // LocalSubjectAccessReview: a SubjectAccessReview confined to the
  // namespace it is posted in (so a namespace's admin may be allowed to
  // ask about it alone).
  bool local = ri.resource == "localsubjectaccessreviews";
  std::string kind = self ? "SelfSubjectAccessReview" : local ? "LocalSubjectAccessReview" : "SubjectAccessReview";
  if (local) {
    Json& spec = (*body)["spec"];
    if (!spec.is_object()) spec = Json::object();
    if (find(spec, "nonResourceAttributes"))
      return errorResponse(invalidSpec(kind, "spec.nonResourceAttributes", "Invalid value: disallowed on this kind of request"));
    if (Json* r = find(spec, "resourceAttributes"); r && r->is_object()) {
      std::string ns = getString(*r, "namespace");
      if (ns.empty()) (*r)["namespace"] = ri.ns;  // defaulted to the request's
      else if (ns != ri.ns)
        return errorResponse(badRequest("spec.resourceAttributes.namespace must match namespace: " + ri.ns));
    }
  }
  const Json& spec = objectAt(*body, "spec");

  UserInfo subject;
  if (self) {
    subject = *req.user;
  } else {
    subject.name = getString(spec, "user");
    subject.uid = getString(spec, "uid");
    subject.groups = stringsOf(arrayAt(spec, "groups"));
    if (subject.name.empty() && subject.groups.empty())
      return errorResponse(invalidSpec(kind, "spec.user", "Required value: at least one of user or group must be specified"));
  }

  AccessAttributes a;
  if (const Json* r = find(spec, "resourceAttributes"); r && r->is_object()) {
    a.is_resource = true;
    a.verb = getString(*r, "verb");
    a.group = getString(*r, "group");
    a.resource = getString(*r, "resource");
    a.subresource = getString(*r, "subresource");
    a.ns = getString(*r, "namespace");
    a.name = getString(*r, "name");
  } else if (const Json* n = find(spec, "nonResourceAttributes"); n && n->is_object()) {
    a.verb = getString(*n, "verb");
    a.path = getString(*n, "path");
  } else {
    return errorResponse(invalidSpec(kind, "spec.resourceAttributes",
                                     "Required value: exactly one of nonResourceAttributes or resourceAttributes "
                                     "must be specified"));
  }
  auto decision = rbac.authorize(subject, a);
  Json out = *body;
  out["apiVersion"] = std::string(kAuthorizationGroup) + "/v1";
  out["kind"] = kind;
  if (!out.contains("metadata") || !out["metadata"].is_object()) out["metadata"] = Json::object();
  if (local) out["metadata"]["namespace"] = ri.ns;
  Json status = {{"allowed", decision.allowed}};
  if (!decision.reason.empty()) status["reason"] = decision.reason;
  out["status"] = std::move(status);
  return jsonResponse(201, out.dump());
}

Status impersonate(Request& req, const RbacAuthorizer& rbac) {
  std::string as_user(trimSpace(req.header("impersonate-user")));
  std::string as_groups = req.header("impersonate-group");
  std::string as_uid(trimSpace(req.header("impersonate-uid")));
  if (as_user.empty()) {
    bool extra = std::any_of(req.headers.begin(), req.headers.end(),
                             [](const auto& h) { return h.first.rfind("impersonate-extra-", 0) == 0; });
    if (!as_groups.empty() || !as_uid.empty() || extra)
      return badRequest("requested impersonation of groups, uid or extra attributes without impersonating a user");
    return Status::ok();
  }
  const UserInfo& caller = *req.user;
  // Each identity taken on: verb impersonate on it.
  auto allowed = [&](const std::string& group, const std::string& resource, const std::string& ns,
                     const std::string& name, const std::string& subresource = "") -> Status {
    auto a = AccessAttributes::onResource("impersonate", group, resource, ns, name, subresource);
    return rbac.authorize(caller, a).allowed ? Status::ok() : forbidden(caller, a);
  };

  UserInfo next;
  next.name = as_user;
  if (as_user.rfind(kServiceAccountPrefix, 0) == 0) {
    std::string rest = as_user.substr(std::char_traits<char>::length(kServiceAccountPrefix));
    auto colon = rest.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size())
      return badRequest(fmt::format("invalid service account user name \"{}\"", as_user));
    std::string ns = rest.substr(0, colon), name = rest.substr(colon + 1);
    if (name.find(':') != std::string::npos)
      return badRequest(fmt::format("invalid service account user name \"{}\"", as_user));
    if (auto st = allowed("", "serviceaccounts", ns, name); !st) return st;
    next.groups = {"system:serviceaccounts", "system:serviceaccounts:" + ns};
  } else {
    if (auto st = allowed("", "users", "", as_user); !st) return st;
  }
  for (const auto& g : headerValues(as_groups)) {
    if (auto st = allowed("", "groups", "", g); !st) return st;
    next.groups.push_back(g);
  }
  if (!as_uid.empty()) {
    if (auto st = allowed("authentication.k8s.io", "uids", "", as_uid); !st) return st;
    next.uid = as_uid;
  }
  // Extra attributes (Impersonate-Extra-KEY: value) are authorized as
  // upstream does, verb impersonate on userextras/KEY named by the value;
  // nothing here reads extras, so they are not carried further.
  constexpr std::string_view kExtraPrefix = "impersonate-extra-";
  for (const auto& [header, values] : req.headers) {
    if (header.rfind(kExtraPrefix, 0) != 0) continue;
    for (const auto& v : headerValues(values))
      if (auto st = allowed("authentication.k8s.io", "userextras", "", v, header.substr(kExtraPrefix.size())); !st)
        return st;
  }
  if (std::find(next.groups.begin(), next.groups.end(), "system:authenticated") == next.groups.end())
    next.groups.push_back("system:authenticated");
  req.user = std::move(next);
  return Status::ok();
}

}  // namespace capstan::apiserver
