#pragma once
// Private to the API server: service-account tokens, as kube-apiserver
// issues and checks them.
//
// A token is a JWT signed with ES256 by the server's own key
// (<data-dir>/tls/service-account.key). It names the service account and,
// when bound, the pod or secret it was issued for:
//
//   {"iss": ISSUER, "sub": "system:serviceaccount:NS:NAME", "aud": [...],
//    "iat", "nbf", "exp", "jti",
//    "kubernetes.io": {"namespace": NS, "serviceaccount": {"name", "uid"},
//                      "pod": {"name", "uid"}}}
//
// Tokens come from the TokenRequest subresource
// (POST /api/v1/namespaces/NS/serviceaccounts/NAME/token, what
// `kubectl create token` and the node agent's projected volumes use). A
// token authenticates only while it is unexpired, one of its audiences is
// the server's, and the service account (and the bound object) still exist
// with the UIDs it names: deleting the pod revokes its tokens (a minute
// after its deletionTimestamp, while its containers stop).
//
// Thread-safe: the key is read once; every call is a pure function of it,
// the cache's current state and the time given.

#include <filesystem>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/http.h"
#include "apiserver/object_cache.h"
#include "apiserver/request_info.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::apiserver {

// The issuer and the audience of the server's tokens, as kube-apiserver's
// default --service-account-issuer.
inline constexpr const char* kServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local";

struct TokenClaims {
  std::string ns;
  std::string sa_name;
  std::string sa_uid;
  std::string bound_kind;  // "", "Pod" or "Secret"
  std::string bound_name;
  std::string bound_uid;
  std::vector<std::string> audiences;
  int64_t issued_at = 0;  // Unix seconds
  int64_t not_before = 0;
  int64_t expires_at = 0;
};

class ServiceAccountTokens {
 public:
  // Reads the signing key at `key_file`, making it when missing.
  static Result<std::unique_ptr<ServiceAccountTokens>> open(const std::filesystem::path& key_file);

  // A signed token for the claims.
  Result<std::string> sign(const TokenClaims& claims) const;

  // The claims of a token signed by this key (ES256 only) and valid at
  // `now`; kUnauthorized otherwise. Does not look at the objects it names.
  // A signature once checked is remembered (up to kVerifiedCacheSize
  // tokens): checking one costs about a millisecond here, mostly libjwt
  // reading the PEM key again, and in-cluster clients send the same token
  // with every request.
  // A token refused for what it is (malformed, another key's, not ES256)
  // is remembered too (up to kRejectedCacheSize tokens of at most
  // kRejectedTokenMaxBytes): that never changes, and a client left with a
  // token of a previous cluster sends it with every request.
  Result<TokenClaims> verify(const std::string& token, int64_t now) const;

  // Signatures actually checked so far (the others were remembered).
  uint64_t signatureChecks() const;

  static constexpr size_t kVerifiedCacheSize = 4096;
  static constexpr size_t kRejectedCacheSize = 1024;
  static constexpr size_t kRejectedTokenMaxBytes = 8192;

 private:
  ServiceAccountTokens() = default;
  Result<TokenClaims> checkSignature(const std::string& token) const;

  std::string private_pem_;
  std::string public_pem_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, TokenClaims> verified_;  // token → its claims
  mutable std::unordered_set<std::string> rejected_;
  mutable uint64_t signature_checks_ = 0;
};

// Whether the request is a TokenRequest (create on serviceaccounts/token).
bool isTokenRequest(const RequestInfo& ri);

// Answers a TokenRequest: 201 with the TokenRequest, spec defaulted
// (expirationSeconds 3600, the server's audience) and status.token set.
// 404 for a missing service account or bound object; 400 for a bound kind
// other than Pod or Secret, or a pod that runs as another service account;
// 409 for a bound UID that does not match; 422 for an expiration below
// 10 minutes or above 2^32 seconds.
Response serveTokenRequest(const RequestInfo& ri, const Request& req, const ObjectCache& cache,
                           const ServiceAccountTokens& tokens, WallTime now);

// Who a bearer token speaks for, if it is a service-account token that
// is valid now (see above): system:serviceaccount:NS:NAME in the groups
// system:serviceaccounts and system:serviceaccounts:NS.
std::optional<UserInfo> authenticateServiceAccount(const std::string& token, const ObjectCache& cache,
                                                   const ServiceAccountTokens& tokens, WallTime now);

}  // namespace capstan::apiserver
