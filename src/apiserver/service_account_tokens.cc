#include "apiserver/service_account_tokens.h"

#include <jwt.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "api/meta.h"
#include "apiserver/resources.h"
#include "apiserver/responses.h"
#include "common/pki.h"

namespace capstan::apiserver {
namespace {

struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;

struct CharFree {
  void operator()(char* s) const { std::free(s); }  // NOLINT: libjwt hands out malloc'd strings
};

constexpr int64_t kDefaultExpirationSeconds = 3600;
constexpr int64_t kMinExpirationSeconds = 600;
constexpr int64_t kMaxExpirationSeconds = int64_t{1} << 32;
// Clock skew tolerated on not-before, as upstream's validator allows.
constexpr int64_t kLeewaySeconds = 60;

Status unauthorized() { return Status(Code::kUnauthorized, "Unauthorized"); }

std::string objectKey(const std::string& resource, const std::string& ns, const std::string& name) {
  return "/registry/core/" + resource + "/" + ns + "/" + name;
}

std::string uidOf(const Json& obj) { return getString(objectAt(obj, "metadata"), "uid"); }

int64_t unixSeconds(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

Status invalidToken(const std::string& name, const std::string& field, const std::string& value,
                    const std::string& detail) {
  Status st(Code::kInvalid,
            fmt::format("TokenRequest.authentication.k8s.io \"{}\" is invalid: {}: Invalid value: {}: {}", name, field,
                        value, detail));
  st.causes.push_back({"FieldValueInvalid", "Invalid value: " + value + ": " + detail, field});
  st.details_name = name;
  st.details_group = "authentication.k8s.io";
  st.details_kind = "TokenRequest";
  return st;
}

}  // namespace

Result<std::unique_ptr<ServiceAccountTokens>> ServiceAccountTokens::open(const std::filesystem::path& key_file) {
  auto key = pki::ensureSigningKey(key_file);
  if (!key) return key.status();
  std::unique_ptr<ServiceAccountTokens> t(new ServiceAccountTokens());
  t->private_pem_ = std::move(key->private_pem);
  t->public_pem_ = std::move(key->public_pem);
  return t;
}

Result<std::string> ServiceAccountTokens::sign(const TokenClaims& c) const {
  Json k8s = {{"namespace", c.ns}, {"serviceaccount", {{"name", c.sa_name}, {"uid", c.sa_uid}}}};
  if (c.bound_kind == "Pod") k8s["pod"] = {{"name", c.bound_name}, {"uid", c.bound_uid}};
  if (c.bound_kind == "Secret") k8s["secret"] = {{"name", c.bound_name}, {"uid", c.bound_uid}};
  Json claims = {{"iss", kServiceAccountIssuer},
                 {"sub", fmt::format("system:serviceaccount:{}:{}", c.ns, c.sa_name)},
                 {"aud", c.audiences},
                 {"iat", c.issued_at},
                 {"nbf", c.issued_at},
                 {"exp", c.expires_at},
                 {"jti", api::newUid()},
                 {"kubernetes.io", std::move(k8s)}};
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return Status(Code::kInternal, "cannot make a token");
  JwtPtr jwt(raw);
  if (jwt_add_grants_json(jwt.get(), claims.dump().c_str()) != 0 ||
      jwt_set_alg(jwt.get(), JWT_ALG_ES256, reinterpret_cast<const unsigned char*>(private_pem_.data()),
                  static_cast<int>(private_pem_.size())) != 0)
    return Status(Code::kInternal, "cannot sign a token");
  std::unique_ptr<char, CharFree> text(jwt_encode_str(jwt.get()));
  if (!text) return Status(Code::kInternal, "cannot sign a token");
  return std::string(text.get());
}

Result<TokenClaims> ServiceAccountTokens::checkSignature(const std::string& token) const {
  // A JWT is three base64url parts; anything longer than any token we issue is not one.
  if (token.size() > 8192 || std::count(token.begin(), token.end(), '.') != 2) return unauthorized();
  jwt_t* raw = nullptr;
  int rc = jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(public_pem_.data()),
                      static_cast<int>(public_pem_.size()));
  if (rc == ENOMEM) return Status(Code::kInternal, "out of memory checking a token");  // not the token's fault
  if (rc != 0) return unauthorized();
  JwtPtr jwt(raw);
  // Only what this server signs: an "alg": "none" token carries no signature.
  if (jwt_get_alg(jwt.get()) != JWT_ALG_ES256) return unauthorized();
  std::unique_ptr<char, CharFree> grants(jwt_get_grants_json(jwt.get(), nullptr));
  if (!grants) return unauthorized();
  Json claims = Json::parse(grants.get(), nullptr, false);
  if (!claims.is_object() || getString(claims, "iss") != kServiceAccountIssuer) return unauthorized();
  auto number = [&](const char* k) -> std::optional<int64_t> {
    const Json* v = find(claims, k);
    if (!v || !v->is_number_integer()) return std::nullopt;
    return v->get<int64_t>();
  };
  auto exp = number("exp"), nbf = number("nbf"), iat = number("iat");
  if (!exp) return unauthorized();
  const Json& k8s = objectAt(claims, "kubernetes.io");
  TokenClaims c;
  c.ns = getString(k8s, "namespace");
  c.sa_name = getString(objectAt(k8s, "serviceaccount"), "name");
  c.sa_uid = getString(objectAt(k8s, "serviceaccount"), "uid");
  if (c.ns.empty() || c.sa_name.empty() ||
      getString(claims, "sub") != fmt::format("system:serviceaccount:{}:{}", c.ns, c.sa_name))
    return unauthorized();
  for (const char* kind : {"pod", "secret"})
    if (const Json* b = find(k8s, kind); b && b->is_object()) {
      c.bound_kind = std::string(kind) == "pod" ? "Pod" : "Secret";
      c.bound_name = getString(*b, "name");
      c.bound_uid = getString(*b, "uid");
    }
  if (const Json* aud = find(claims, "aud")) {
    if (aud->is_string()) c.audiences.push_back(aud->get<std::string>());
    if (aud->is_array())
      for (const auto& a : *aud)
        if (a.is_string()) c.audiences.push_back(a.get<std::string>());
  }
  c.issued_at = iat.value_or(0);
  c.not_before = nbf.value_or(c.issued_at);
  c.expires_at = *exp;
  return c;
}

Result<TokenClaims> ServiceAccountTokens::verify(const std::string& token, int64_t now) const {
  std::optional<TokenClaims> claims;
  {
    std::lock_guard lock(mu_);
    if (auto it = verified_.find(token); it != verified_.end()) claims = it->second;
    if (!claims && rejected_.count(token)) return unauthorized();
    if (!claims) ++signature_checks_;
  }
  if (!claims) {
    auto checked = checkSignature(token);
    std::lock_guard lock(mu_);
    if (!checked) {
      if (checked.status().code() == Code::kUnauthorized && token.size() <= kRejectedTokenMaxBytes) {
        if (rejected_.size() >= kRejectedCacheSize) rejected_.clear();
        rejected_.insert(token);
      }
      return checked.status();
    }
    claims = std::move(*checked);
    if (verified_.size() >= kVerifiedCacheSize) verified_.clear();
    verified_.emplace(token, *claims);
  }
  if (claims->expires_at <= now || claims->not_before > now + kLeewaySeconds) return unauthorized();
  return *claims;
}

uint64_t ServiceAccountTokens::signatureChecks() const {
  std::lock_guard lock(mu_);
  return signature_checks_;
}

bool isTokenRequest(const RequestInfo& ri) {
  return ri.is_resource && ri.group.empty() && ri.resource == "serviceaccounts" && ri.subresource == "token";
}

Response serveTokenRequest(const RequestInfo& ri, const Request& req, const ObjectCache& cache,
                           const ServiceAccountTokens& tokens, WallTime now) {
  if (ri.verb != "create" || ri.name.empty())
    return errorResponse(
        Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource"));
  auto body = decodeBody(req);
  if (!body) return errorResponse(body.status());
  if (!body->is_object()) return errorResponse(badRequest("the body of the request is not an object"));
  ObjectPtr sa = cache.get(objectKey("serviceaccounts", ri.ns, ri.name));
  if (!sa) return errorResponse(notFound("serviceaccounts", ri.name));

  const Json& spec = objectAt(*body, "spec");
  int64_t expiration = kDefaultExpirationSeconds;
  if (const Json* e = find(spec, "expirationSeconds"); e && !e->is_null()) {
    if (!e->is_number_integer())
      return errorResponse(badRequest("spec.expirationSeconds must be an integer"));
    expiration = e->get<int64_t>();
  }
  if (expiration < kMinExpirationSeconds)
    return errorResponse(invalidToken(ri.name, "spec.expirationSeconds", std::to_string(expiration),
                                      "may not specify a duration less than 10 minutes"));
  if (expiration > kMaxExpirationSeconds)
    return errorResponse(invalidToken(ri.name, "spec.expirationSeconds", std::to_string(expiration),
                                      "may not specify a duration larger than 2^32 seconds"));

  TokenClaims c;
  c.ns = ri.ns;
  c.sa_name = ri.name;
  c.sa_uid = uidOf(sa->obj);
  for (const auto& a : arrayAt(spec, "audiences"))
    if (a.is_string() && !a.get<std::string>().empty()) c.audiences.push_back(a.get<std::string>());
  if (c.audiences.empty()) c.audiences.push_back(kServiceAccountIssuer);
  Json bound;
  if (const Json* ref = find(spec, "boundObjectRef"); ref && ref->is_object()) {
    std::string kind = getString(*ref, "kind");
    std::string name = getString(*ref, "name");
    std::string uid = getString(*ref, "uid");
    if (kind != "Pod" && kind != "Secret")
      return errorResponse(badRequest(fmt::format("cannot bind token to object of type {}", kind)));
    std::string resource = kind == "Pod" ? "pods" : "secrets";
    ObjectPtr obj = cache.get(objectKey(resource, ri.ns, name));
    if (!obj) return errorResponse(notFound(resource, name));
    if (!uid.empty() && uid != uidOf(obj->obj)) {
      Status st(Code::kConflict,
                fmt::format("Operation cannot be fulfilled on {} \"{}\": the UID in the bound object reference ({}) "
                            "does not match the UID in record. The object might have been deleted and then recreated",
                            resource, name, uid));
      st.details_name = name;
      st.details_kind = resource;
      return errorResponse(st);
    }
    if (kind == "Pod" && getString(objectAt(obj->obj, "spec"), "serviceAccountName", "default") != ri.name)
      return errorResponse(badRequest(
          fmt::format("cannot bind token for serviceaccount \"{}\" to pod running with different serviceaccount name.",
                      ri.name)));
    c.bound_kind = kind;
    c.bound_name = name;
    c.bound_uid = uidOf(obj->obj);
    bound = {{"kind", kind}, {"apiVersion", "v1"}, {"name", name}, {"uid", c.bound_uid}};
  }
  c.issued_at = unixSeconds(now);
  c.expires_at = c.issued_at + expiration;
  auto token = tokens.sign(c);
  if (!token) return errorResponse(token.status());

  Json out = *body;
  out["apiVersion"] = "authentication.k8s.io/v1";
  out["kind"] = "TokenRequest";
  out["metadata"] = {{"name", ri.name}, {"namespace", ri.ns}, {"creationTimestamp", formatRfc3339(now)}};
  out["spec"] = {{"audiences", c.audiences}, {"expirationSeconds", expiration}};
  if (!bound.is_null()) out["spec"]["boundObjectRef"] = std::move(bound);
  out["status"] = {{"token", *token},
                   {"expirationTimestamp", formatRfc3339(now + std::chrono::seconds(expiration))}};
  return jsonResponse(201, out.dump());
}

std::optional<UserInfo> authenticateServiceAccount(const std::string& token, const ObjectCache& cache,
                                                   const ServiceAccountTokens& tokens, WallTime now) {
  auto c = tokens.verify(token, unixSeconds(now));
  if (!c) return std::nullopt;
  if (std::find(c->audiences.begin(), c->audiences.end(), kServiceAccountIssuer) == c->audiences.end())
    return std::nullopt;
  // Revoked with what it names: the account, and the pod or secret it is bound to.
  ObjectPtr sa = cache.get(objectKey("serviceaccounts", c->ns, c->sa_name));
  if (!sa || uidOf(sa->obj) != c->sa_uid) return std::nullopt;
  if (!c->bound_kind.empty()) {
    ObjectPtr obj = cache.get(objectKey(c->bound_kind == "Pod" ? "pods" : "secrets", c->ns, c->bound_name));
    if (!obj || uidOf(obj->obj) != c->bound_uid) return std::nullopt;
    // A pod being deleted keeps its tokens for a minute past its deletion
    // time (its containers are still stopping), as upstream allows.
    if (auto deleted = parseRfc3339(getString(objectAt(obj->obj, "metadata"), "deletionTimestamp")))
      if (now > *deleted + std::chrono::seconds(60)) return std::nullopt;
  }
  return UserInfo{fmt::format("system:serviceaccount:{}:{}", c->ns, c->sa_name), c->sa_uid,
                  {"system:serviceaccounts", "system:serviceaccounts:" + c->ns, "system:authenticated"}};
}

}  // namespace capstan::apiserver
