#include "agent/runtime/registry_auth.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace capstan::agent::runtime {
namespace {

using Params = std::map<std::string, std::string>;

TEST(WwwAuthenticateTest, DockerHubBearer) {
  auto c = parseWwwAuthenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params, (Params{{"realm", "https://auth.docker.io/token"},
                                 {"service", "registry.docker.io"},
                                 {"scope", "repository:library/busybox:pull"}}));
}

TEST(WwwAuthenticateTest, Variants) {
  struct Case {
    const char* header;
    std::vector<AuthChallenge> want;
  };
  const Case cases[] = {
      {R"(Basic realm="Registry Realm")", {{"basic", {{"realm", "Registry Realm"}}}}},
      {"basic", {{"basic", {}}}},
      // Unquoted values, spaces around '=' and ',', upper-case names.
      {"BEARER Realm = http://127.0.0.1:5001/token , Service=local",
       {{"bearer", {{"realm", "http://127.0.0.1:5001/token"}, {"service", "local"}}}}},
      // Escapes and commas inside quotes.
      {R"(Bearer realm="a\"b",scope="repository:x:pull,push")",
       {{"bearer", {{"realm", "a\"b"}, {"scope", "repository:x:pull,push"}}}}},
      // Two challenges in one header.
      {R"(Negotiate, Basic realm="r", Bearer realm="t",service="s")",
       {{"negotiate", {}}, {"basic", {{"realm", "r"}}}, {"bearer", {{"realm", "t"}, {"service", "s"}}}}},
      // Unterminated quote: the value runs to the end.
      {R"(Bearer realm="http://x)", {{"bearer", {{"realm", "http://x"}}}}},
      {"", {}},
      {" , ,", {}},
  };
  for (const auto& c : cases) {
    auto got = parseWwwAuthenticate(c.header);
    ASSERT_EQ(got.size(), c.want.size()) << c.header;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].scheme, c.want[i].scheme) << c.header;
      EXPECT_EQ(got[i].params, c.want[i].params) << c.header;
    }
  }
}

TEST(WwwAuthenticateTest, TokenRequestUrl) {
  AuthChallenge c{"bearer", {{"realm", "https://auth.docker.io/token"}, {"service", "registry.docker.io"}}};
  EXPECT_EQ(
      tokenRequestUrl(c, "repository:library/busybox:pull"),
      "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fbusybox%3Apull");
  AuthChallenge q{"bearer", {{"realm", "http://h/token?x=1"}}};
  EXPECT_EQ(tokenRequestUrl(q, "s"), "http://h/token?x=1&scope=s");
  EXPECT_EQ(tokenRequestUrl(q, ""), "http://h/token?x=1");
}

TEST(RegistryHostTest, NormalisesAndMapsDockerHub) {
  EXPECT_EQ(normaliseRegistryHost("https://index.docker.io/v1/"), "docker.io");
  EXPECT_EQ(normaliseRegistryHost("registry-1.docker.io"), "docker.io");
  EXPECT_EQ(normaliseRegistryHost("docker.io"), "docker.io");
  EXPECT_EQ(normaliseRegistryHost("http://127.0.0.1:5000"), "127.0.0.1:5000");
  EXPECT_EQ(normaliseRegistryHost("Quay.IO"), "quay.io");
  EXPECT_EQ(registryApiHost("docker.io"), "registry-1.docker.io");
  EXPECT_EQ(registryApiHost("quay.io"), "quay.io");
  EXPECT_EQ(registryBaseUrl("docker.io", {}), "https://registry-1.docker.io");
  EXPECT_EQ(registryBaseUrl("127.0.0.1:5000", {"127.0.0.1:5000"}), "http://127.0.0.1:5000");
  EXPECT_EQ(registryBaseUrl("127.0.0.1:5000", {"127.0.0.1:5001"}), "https://127.0.0.1:5000");
}

TEST(DockerConfigTest, ParsesAuthsInEveryForm) {
  std::string json = R"({"auths": {
      "https://index.docker.io/v1/": {"auth": ")" +
                     base64Encode("alice:s3cr:et") + R"("},
      "127.0.0.1:5000": {"username": "bob", "password": "pw"},
      "ghcr.io": {"identitytoken": "refresh"},
      "empty.example": {}
  }})";
  auto a = parseDockerConfig(json);
  ASSERT_TRUE(a) << a.status().message();
  ASSERT_EQ(a->size(), 3u);
  EXPECT_EQ(a->at("docker.io").username, "alice");
  EXPECT_EQ(a->at("docker.io").password, "s3cr:et");  // only the first ':' separates
  EXPECT_EQ(a->at("127.0.0.1:5000").username, "bob");
  EXPECT_EQ(a->at("127.0.0.1:5000").password, "pw");
  EXPECT_EQ(a->at("ghcr.io").identity_token, "refresh");

  // Legacy .dockercfg: the map itself.
  auto legacy = parseDockerConfig(R"({"quay.io": {"username": "u", "password": "p"}})");
  ASSERT_TRUE(legacy);
  EXPECT_EQ(legacy->at("quay.io").username, "u");

  EXPECT_EQ(parseDockerConfig("not json").status().code(), Code::kInvalid);
  EXPECT_EQ(parseDockerConfig(R"({"auths": {"x": {"auth": "%%%"}}})").status().code(), Code::kInvalid);
  EXPECT_EQ(parseDockerConfig(R"({"auths": {"x": {"auth": ")" + base64Encode("nocolon") + R"("}}})")
                .status()
                .code(),
            Code::kInvalid);
}

TEST(RegistryErrorsTest, ParsesDistributionErrors) {
  auto e = parseRegistryErrors(
      R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]})");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].code, "MANIFEST_UNKNOWN");
  EXPECT_EQ(e[0].message, "manifest unknown");
  EXPECT_TRUE(parseRegistryErrors("<html>502</html>").empty());
  EXPECT_TRUE(parseRegistryErrors("").empty());
}

TEST(UrlTest, OriginsAndRedirects) {
  EXPECT_EQ(urlOrigin("https://Registry.example/v2/x"), "https://registry.example:443");
  EXPECT_EQ(urlOrigin("http://127.0.0.1:5000/v2/"), "http://127.0.0.1:5000");
  EXPECT_EQ(urlOrigin("http://127.0.0.1/v2/"), "http://127.0.0.1:80");
  EXPECT_EQ(urlOrigin("http://[::1]:5000/v2/"), "http://[::1]:5000");
  EXPECT_EQ(urlOrigin("http://[::1]/v2/"), "http://[::1]:80");
  EXPECT_EQ(urlOrigin("https://u:p@h.example/x"), "https://h.example:443");
  // A port or scheme change is another origin.
  EXPECT_NE(urlOrigin("http://h:5000/a"), urlOrigin("http://h:5001/a"));
  EXPECT_NE(urlOrigin("http://h/a"), urlOrigin("https://h/a"));

  const std::string base = "http://127.0.0.1:5000/v2/busybox/blobs/sha256:ab?x=1";
  EXPECT_EQ(resolveLocation(base, "https://storage.example/b?sig=1"), "https://storage.example/b?sig=1");
  EXPECT_EQ(resolveLocation(base, "//cdn.example/b"), "http://cdn.example/b");
  EXPECT_EQ(resolveLocation(base, "/storage/b"), "http://127.0.0.1:5000/storage/b");
  EXPECT_EQ(resolveLocation(base, "other"), "http://127.0.0.1:5000/v2/busybox/blobs/other");
}

TEST(DigestTest, OnlyCanonicalSha256) {
  std::string hex(64, 'a');
  EXPECT_TRUE(validSha256Digest("sha256:" + hex));
  EXPECT_FALSE(validSha256Digest("sha256:" + std::string(64, 'A')));
  EXPECT_FALSE(validSha256Digest("sha256:" + hex.substr(1)));
  EXPECT_FALSE(validSha256Digest("sha512:" + hex));
  EXPECT_FALSE(validSha256Digest("sha256:../../../../etc/passwd" + std::string(36, 'a')));
}

}  // namespace
}  // namespace capstan::agent::runtime
