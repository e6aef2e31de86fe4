#include "apiserver/self_subject_review.h"

#include <algorithm>

#include "apiserver/responses.h"

namespace capstan::apiserver {

namespace {
constexpr const char* kGroup = "authentication.k8s.io";
}  // namespace

const std::vector<std::string>& selfSubjectReviewVersions() {
  static const std::vector<std::string> versions = {"v1", "v1beta1"};
  return versions;
}

bool isSelfSubjectReview(const RequestInfo& ri) {
  const auto& v = selfSubjectReviewVersions();
  return ri.is_resource && ri.group == kGroup && ri.resource == "selfsubjectreviews" &&
         std::find(v.begin(), v.end(), ri.version) != v.end();
}

Json userInfoJson(const UserInfo& user) {
  Json info = Json::object();
  if (!user.name.empty()) info["username"] = user.name;
  if (!user.uid.empty()) info["uid"] = user.uid;
  std::vector<std::string> groups = user.groups;
  if (std::find(groups.begin(), groups.end(), "system:authenticated") == groups.end())
    groups.push_back("system:authenticated");
  info["groups"] = groups;
  return info;
}

Json selfSubjectReview(const std::string& version, const UserInfo& user, WallTime now) {
  return {{"kind", "SelfSubjectReview"},
          {"apiVersion", std::string(kGroup) + "/" + version},
          {"metadata", {{"creationTimestamp", formatRfc3339(now)}}},
          {"status", {{"userInfo", userInfoJson(user)}}}};
}

Response serveSelfSubjectReview(const RequestInfo& ri, const Request& req, WallTime now) {
  // A create is a POST to the collection; a name, a subresource or another
  // verb addresses nothing that exists.
  if (ri.verb != "create" || !ri.name.empty() || !ri.subresource.empty())
    return errorResponse(
        Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource"));
  std::string type = req.header("content-type");
  bool json_body = type.empty() || type.rfind("application/json", 0) == 0;
  if (json_body && !req.body.empty() && Json::parse(req.body, nullptr, false).is_discarded())
    return errorResponse(
        badRequest("the body of the request was in an unknown format - accepted media types "
                   "include: application/json, application/yaml, "
                   "application/vnd.kubernetes.protobuf"));
  if (!req.user) return errorResponse(Status(Code::kUnauthorized, "Unauthorized"));
  return jsonResponse(201, selfSubjectReview(ri.version, *req.user, now).dump());
}

}  // namespace capstan::apiserver
