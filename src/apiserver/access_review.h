#pragma once
// Private to the API server: authorization.k8s.io access reviews, which ask
// the authorizer a question without making the request.
//
//   POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews   (`kubectl auth can-i`)
//   POST /apis/authorization.k8s.io/v1/subjectaccessreviews       (about any user)
//   POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews    (`kubectl auth can-i --list`)
//
// Nothing is stored: the answer (201) is the review with status.allowed
// and, when a binding allowed it, status.reason. Every other verb is 405.
// A spec that names neither resourceAttributes nor nonResourceAttributes,
// or a SubjectAccessReview that names neither user nor groups, is 422.
// A rules review lists the caller's rules in spec.namespace: resourceRules
// and nonResourceRules, each rule as its role wrote it.

#include "apiserver/http.h"
#include "apiserver/rbac.h"
#include "apiserver/request_info.h"

namespace capstan::apiserver {

inline constexpr const char* kAuthorizationGroup = "authorization.k8s.io";

// Whether the request addresses one of the reviews served here.
bool isAccessReview(const RequestInfo& ri);

Response serveAccessReview(const RequestInfo& ri, const Request& req, const RbacAuthorizer& rbac);

// Applies Impersonate-User / -Group / -Uid / -Extra-KEY to an
// authenticated request: each identity taken on must be allowed to the
// caller (verb impersonate on users, groups, serviceaccounts, uids or
// userextras/KEY), and the request then proceeds as that user. Ok and
// unchanged when nothing is impersonated.
Status impersonate(Request& req, const RbacAuthorizer& rbac);

}  // namespace capstan::apiserver
