// The HTTPS client transport against a real API server on loopback:
// verified TLS, bearer tokens (the join token), escaping of selectors,
// watches, and refusals (wrong token, wrong CA).
#include "client/https_transport.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "apiserver/api_server.h"
#include "client/client.h"
#include "common/pki.h"
#include "unit/testing/test_api_server.h"

namespace capstan::client {
namespace {

using namespace std::chrono_literals;

class HttpsTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_unique<test_support::TestApiServer>("capstan-https");
    ASSERT_TRUE(api_->ok());
    url_ = "https://127.0.0.1:" + std::to_string(api_->server().port());
    std::ifstream f(api_->dir() / "token");
    std::getline(f, token_);
    ca_file_ = (api_->dir() / "tls" / "ca.crt").string();
  }
  void TearDown() override {
    api_.reset();
  }
  std::unique_ptr<Client> client(const std::string& token, const std::string& ca_file) {
    auto t = makeHttpsTransport({.server = url_, .ca_file = ca_file, .bearer_token = token});
    EXPECT_TRUE(t) << t.status().message();
    return std::make_unique<Client>(*t, "https-test");
  }
  std::unique_ptr<test_support::TestApiServer> api_;
  std::string url_, token_, ca_file_;
};

TEST_F(HttpsTransportTest, JoinTokenCarriesTheHashOfTheCaServedAtCacerts) {
  auto token = pki::JoinToken::parse(token_);
  ASSERT_FALSE(token.ca_hash.empty()) << token_;
  EXPECT_EQ(token_.rfind("K10", 0), 0u);
  auto ca = fetchUnverified(url_ + "/cacerts", 5s);
  ASSERT_TRUE(ca) << ca.status().message();
  std::ifstream f(ca_file_);
  std::string on_disk((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(*ca, on_disk);
  EXPECT_EQ(pki::sha256Hex(*ca), token.ca_hash);
}

TEST_F(HttpsTransportTest, CreatesListsWithSelectorsAndWatches) {
  auto c = client(token_, ca_file_);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> seen;
  auto w = c->watch(res::kConfigMaps, "default", {.label_selector = "app in (a,b)"},
                    [&](std::string_view type, ObjectPtr obj) {
                      std::lock_guard lock(mu);
                      seen.push_back(std::string(type) + " " + nameOf(*obj));
                      cv.notify_all();
                    },
                    [](Status) {});
  for (auto [name, app] : {std::pair{"one", "a"}, {"two", "c"}, {"three", "b"}}) {
    auto r = c->create(res::kConfigMaps, "default",
                       {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                        {"metadata", {{"name", name}, {"labels", {{"app", app}}}}}, {"data", {{"k", "v w&x=y"}}}});
    ASSERT_TRUE(r) << r.status().message();
  }
  auto l = c->list(res::kConfigMaps, "default", {.label_selector = "app in (a,b)"});
  ASSERT_TRUE(l) << l.status().message();
  ASSERT_EQ((*l)["items"].size(), 2u);
  auto g = c->get(res::kConfigMaps, "default", "two");
  ASSERT_TRUE(g);
  EXPECT_EQ((*g)["data"]["k"], "v w&x=y");
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return seen.size() >= 2; }));
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED one", "ADDED three"}));
}

TEST_F(HttpsTransportTest, TheBareSecretAuthenticatesAndAWrongTokenDoesNot) {
  auto bare = client(pki::JoinToken::parse(token_).secret, ca_file_);
  EXPECT_TRUE(bare->get(res::kNamespaces, "", "default"));
  auto wrong = client("not-the-token", ca_file_);
  auto r = wrong->get(res::kNamespaces, "", "default");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kUnauthorized);
}

TEST_F(HttpsTransportTest, AServerOutsideTheTrustedCaIsRefused) {
  // A different cluster's CA.
  auto other = pki::ensure({api_->dir() / "other-tls", {}, nullptr});
  ASSERT_TRUE(other) << other.status().message();
  auto c = client(token_, other->ca_cert.string());
  auto r = c->get(res::kNamespaces, "", "default");
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("certificate"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace capstan::client
