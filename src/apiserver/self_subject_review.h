#pragma once
// Private to the API server: authentication.k8s.io SelfSubjectReview, what
// `kubectl auth whoami` creates to learn who the server thinks it is.
//
//   POST /apis/authentication.k8s.io/v1/selfsubjectreviews
//   POST /apis/authentication.k8s.io/v1beta1/selfsubjectreviews
//
// Nothing is stored: the answer (201) is the review with status.userInfo
// of the authenticated user, in the version asked for. v1 is what kubectl
// 1.28+ sends first; kubectl 1.27 knows only v1beta1 (then v1alpha1), so
// v1beta1 is served as well (kube-apiserver 1.28+ serves it when enabled
// with --runtime-config). Every other verb is 405, as upstream. The body
// is not read beyond being well-formed JSON: upstream ignores its content
// too, which also lets clients that send protobuf bodies (kubectl 1.32+
// typed clients) through.
//
// Pure functions; thread-safe.

#include <string>
#include <vector>

#include "apiserver/http.h"
#include "apiserver/request_info.h"
#include "common/clock.h"
#include "common/json.h"

namespace capstan::apiserver {

// The versions served, preferred first.
const std::vector<std::string>& selfSubjectReviewVersions();

// Whether the request addresses selfsubjectreviews (any verb).
bool isSelfSubjectReview(const RequestInfo& ri);

// status.userInfo as kube-apiserver reports it: its authenticator adds the
// group system:authenticated to every authenticated user.
Json userInfoJson(const UserInfo& user);

// The review answered to a create in `version` ("v1", "v1beta1").
Json selfSubjectReview(const std::string& version, const UserInfo& user, WallTime now);

// The whole exchange: 201 with the review, 400 for a malformed JSON body,
// 405 for any verb but create.
Response serveSelfSubjectReview(const RequestInfo& ri, const Request& req, WallTime now);

}  // namespace capstan::apiserver
