// Service-account tokens: signing, checking, the TokenRequest subresource
// and authentication, over a real watch cache on the in-memory store.
#include "apiserver/service_account_tokens.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/base64.h"
#include "store/memory/memory_store.h"

namespace capstan::apiserver {
namespace {

namespace fs = std::filesystem;
using store::MemoryStore;
using store::Op;
using store::Txn;

const WallTime kTokenNow = *parseRfc3339("2026-11-27T04:00:00Z");
// JWTs are base64url without padding.
std::string base64UrlEncode(std::string_view in) {
  std::string s = base64Encode(in);
  for (auto& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}
std::optional<std::string> base64UrlDecode(std::string s) {
  for (auto& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4) s += '=';
  return base64Decode(s);
}

int64_t unixSeconds(WallTime t) { return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count(); }

class ServiceAccountTokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("capstan-sa-tokens-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    auto t = ServiceAccountTokens::open(dir_ / "sa.key");
    ASSERT_TRUE(t) << t.status().message();
    tokens_ = std::move(*t);
    auto c = ObjectCache::start(store_, "/registry/", 100);
    ASSERT_TRUE(c) << c.status().message();
    cache_ = std::move(*c);
    put("/registry/core/serviceaccounts/team/bot",
        R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"bot","namespace":"team","uid":"sa-1"}})");
    put("/registry/core/pods/team/web",
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"team","uid":"pod-1"},
            "spec":{"serviceAccountName":"bot"}})");
    put("/registry/core/pods/team/other",
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"other","namespace":"team","uid":"pod-2"},
            "spec":{"serviceAccountName":"default"}})");
  }
  void TearDown() override {
    cache_.reset();
    fs::remove_all(dir_);
  }
  void put(const std::string& key, const std::string& value) {
    Txn t;
    t.ops.push_back({Op::Type::kPut, key, value});
    ASSERT_TRUE(store_.txnSync(std::move(t)));
    waitFor(key, true);
  }
  void del(const std::string& key) {
    Txn t;
    t.ops.push_back({Op::Type::kDelete, key, ""});
    ASSERT_TRUE(store_.txnSync(std::move(t)));
    waitFor(key, false);
  }
  void waitFor(const std::string& key, bool present) {
    for (int i = 0; i < 1000 && (cache_->get(key) != nullptr) != present; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Response tokenRequest(const std::string& sa, const std::string& body) {
    RequestInfo ri;
    ri.is_resource = true;
    ri.resource = "serviceaccounts";
    ri.subresource = "token";
    ri.ns = "team";
    ri.name = sa;
    ri.verb = "create";
    Request req;
    req.method = "POST";
    req.body = body;
    req.headers["content-type"] = "application/json";
    return serveTokenRequest(ri, req, *cache_, *tokens_, kTokenNow);
  }
  TokenClaims claims(int64_t lifetime = 3600) {
    TokenClaims c;
    c.ns = "team";
    c.sa_name = "bot";
    c.sa_uid = "sa-1";
    c.audiences = {kServiceAccountIssuer};
    c.issued_at = unixSeconds(kTokenNow);
    c.expires_at = c.issued_at + lifetime;
    return c;
  }

  fs::path dir_;
  MemoryStore store_;
  std::unique_ptr<ObjectCache> cache_;
  std::unique_ptr<ServiceAccountTokens> tokens_;
};

TEST_F(ServiceAccountTokensTest, SignedTokensVerifyUntilTheyExpire) {
  auto token = tokens_->sign(claims());
  ASSERT_TRUE(token) << token.status().message();
  auto c = tokens_->verify(*token, unixSeconds(kTokenNow) + 10);
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->ns, "team");
  EXPECT_EQ(c->sa_name, "bot");
  EXPECT_EQ(c->sa_uid, "sa-1");
  EXPECT_EQ(c->audiences, std::vector<std::string>{kServiceAccountIssuer});
  // Remembered signatures are still held to the clock.
  EXPECT_TRUE(tokens_->verify(*token, unixSeconds(kTokenNow) + 3599));
  EXPECT_EQ(tokens_->verify(*token, unixSeconds(kTokenNow) + 3600).status().code(), Code::kUnauthorized);
  EXPECT_EQ(tokens_->verify(*token, unixSeconds(kTokenNow) - 120).status().code(),
            Code::kUnauthorized);  // not yet valid

  // The key is kept: a server started again checks the tokens it issued before.
  auto again = ServiceAccountTokens::open(dir_ / "sa.key");
  ASSERT_TRUE(again);
  EXPECT_TRUE((*again)->verify(*token, unixSeconds(kTokenNow)));
  // Another server's key does not.
  auto other = ServiceAccountTokens::open(dir_ / "other.key");
  ASSERT_TRUE(other);
  EXPECT_FALSE((*other)->verify(*token, unixSeconds(kTokenNow)));
}

TEST_F(ServiceAccountTokensTest, ForgedAndUnsignedTokensAreRefused) {
  auto token = tokens_->sign(claims());
  ASSERT_TRUE(token);
  auto dot1 = token->find('.'), dot2 = token->rfind('.');
  std::string header = token->substr(0, dot1), payload = token->substr(dot1 + 1, dot2 - dot1 - 1);
  std::string sig = token->substr(dot2 + 1);
  // The same signature over other claims.
  auto decoded = base64UrlDecode(payload);
  ASSERT_TRUE(decoded);
  std::string forged_claims = *decoded;
  forged_claims.replace(forged_claims.find("\"bot\""), 5, "\"adm\"");
  std::string forged = header + "." + base64UrlEncode(forged_claims) + "." + sig;
  // alg "none" with no signature.
  std::string unsigned_token = base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." + payload + ".";
  std::vector<std::string> bad = {forged, unsigned_token, std::string("a.b.c"), std::string("not-a-jwt"),
                                  *token + "x", header + "." + payload};
  std::string huge = std::string(9000, 'a') + ".b.c";
  uint64_t checks = tokens_->signatureChecks();
  for (const std::string& t : bad)
    EXPECT_EQ(tokens_->verify(t, unixSeconds(kTokenNow)).status().code(), Code::kUnauthorized) << t;
  EXPECT_EQ(tokens_->verify(huge, unixSeconds(kTokenNow)).status().code(), Code::kUnauthorized);
  EXPECT_EQ(tokens_->signatureChecks(), checks + bad.size() + 1);
  // Refused again without being checked again (a token too big to keep is).
  for (const std::string& t : bad)
    EXPECT_EQ(tokens_->verify(t, unixSeconds(kTokenNow)).status().code(), Code::kUnauthorized) << t;
  EXPECT_EQ(tokens_->verify(huge, unixSeconds(kTokenNow)).status().code(), Code::kUnauthorized);
  EXPECT_EQ(tokens_->signatureChecks(), checks + bad.size() + 2);
  // The good token is checked once, then remembered.
  EXPECT_TRUE(tokens_->verify(*token, unixSeconds(kTokenNow)));
  EXPECT_TRUE(tokens_->verify(*token, unixSeconds(kTokenNow)));
  EXPECT_EQ(tokens_->signatureChecks(), checks + bad.size() + 3);
}

TEST_F(ServiceAccountTokensTest, TokenRequestIssuesBoundTokens) {
  Response r = tokenRequest("bot", R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest",
      "spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web"}}})");
  ASSERT_EQ(r.status, 201) << r.body;
  Json out = Json::parse(r.body);
  EXPECT_EQ(out["spec"]["expirationSeconds"], 3600);
  EXPECT_EQ(out["spec"]["audiences"], Json::array({kServiceAccountIssuer}));
  EXPECT_EQ(out["spec"]["boundObjectRef"]["uid"], "pod-1");
  EXPECT_EQ(out["status"]["expirationTimestamp"], "2026-11-27T05:00:00Z");
  std::string token = out["status"]["token"];

  auto user = authenticateServiceAccount(token, *cache_, *tokens_, kTokenNow);
  ASSERT_TRUE(user);
  EXPECT_EQ(user->name, "system:serviceaccount:team:bot");
  EXPECT_EQ(user->uid, "sa-1");
  EXPECT_EQ(user->groups, (std::vector<std::string>{"system:serviceaccounts", "system:serviceaccounts:team",
                                                    "system:authenticated"}));
  EXPECT_FALSE(authenticateServiceAccount(token, *cache_, *tokens_, kTokenNow + std::chrono::hours(2)));
  // A pod being deleted keeps it for a minute past its deletion time.
  put("/registry/core/pods/team/web",
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"team","uid":"pod-1",
          "deletionTimestamp":"2026-11-27T04:00:00Z"},"spec":{"serviceAccountName":"bot"}})");
  waitFor("/registry/core/pods/team/web", true);
  EXPECT_TRUE(authenticateServiceAccount(token, *cache_, *tokens_, kTokenNow + std::chrono::seconds(59)));
  EXPECT_FALSE(authenticateServiceAccount(token, *cache_, *tokens_, kTokenNow + std::chrono::seconds(61)));
  // The pod's deletion revokes it; so does a new pod under the same name.
  del("/registry/core/pods/team/web");
  EXPECT_FALSE(authenticateServiceAccount(token, *cache_, *tokens_, kTokenNow));
  put("/registry/core/pods/team/web",
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"team","uid":"pod-9"},"spec":{"serviceAccountName":"bot"}})");
  EXPECT_FALSE(authenticateServiceAccount(token, *cache_, *tokens_, kTokenNow));

  // An unbound token lives as long as its account.
  r = tokenRequest("bot", R"({"spec":{"expirationSeconds":600,"audiences":["vault"]}})");
  ASSERT_EQ(r.status, 201) << r.body;
  token = Json::parse(r.body)["status"]["token"];
  EXPECT_FALSE(authenticateServiceAccount(token, *cache_, *tokens_, kTokenNow));  // not for the API server
  r = tokenRequest("bot", R"({"spec":{}})");
  token = Json::parse(r.body)["status"]["token"];
  EXPECT_TRUE(authenticateServiceAccount(token, *cache_, *tokens_, kTokenNow));
  del("/registry/core/serviceaccounts/team/bot");
  EXPECT_FALSE(authenticateServiceAccount(token, *cache_, *tokens_, kTokenNow));
}

TEST_F(ServiceAccountTokensTest, BadTokenRequestsAreRefused) {
  EXPECT_EQ(tokenRequest("nobody", "{}").status, 404);
  Response r = tokenRequest("bot", R"({"spec":{"expirationSeconds":599}})");
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("may not specify a duration less than 10 minutes"), std::string::npos) << r.body;
  EXPECT_EQ(tokenRequest("bot", R"({"spec":{"expirationSeconds":8589934592}})").status, 422);
  EXPECT_EQ(tokenRequest("bot", R"({"spec":{"expirationSeconds":"1h"}})").status, 400);
  EXPECT_EQ(tokenRequest("bot", R"({"spec":{"boundObjectRef":{"kind":"Node","name":"n"}}})").status, 400);
  EXPECT_EQ(tokenRequest("bot", R"({"spec":{"boundObjectRef":{"kind":"Pod","name":"gone"}}})").status, 404);
  EXPECT_EQ(tokenRequest("bot", R"({"spec":{"boundObjectRef":{"kind":"Pod","name":"web","uid":"stale"}}})").status, 409);
  // A pod that runs as another account.
  r = tokenRequest("bot", R"({"spec":{"boundObjectRef":{"kind":"Pod","name":"other"}}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("pod running with different serviceaccount name"), std::string::npos);
  EXPECT_EQ(tokenRequest("bot", "{nope").status, 400);
  EXPECT_EQ(tokenRequest("bot", "[]").status, 400);
}

}  // namespace
}  // namespace capstan::apiserver
