// Pod admission through the real request chain: DefaultTolerationSeconds
// (with the server's configured seconds), ServiceAccount (the default
// account) and Priority (spec.priority from
// the PriorityClass, the global default, the built-in classes).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "apiserver/api_server.h"
#include "client/client.h"
#include "unit/testing/test_api_server.h"

namespace capstan::apiserver {
namespace {

class PodAdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_unique<test_support::TestApiServer>("capstan-admit", [](apiserver::ApiServerOptions& o) {
      o.default_not_ready_toleration_seconds = 7;
      o.default_unreachable_toleration_seconds = 9;
    });
    ASSERT_TRUE(api_->ok());
    client_ = api_->adminClient();
  }
  void TearDown() override {
    client_.reset();
    api_.reset();
  }
  Result<Json> createPod(const std::string& name, Json spec) {
    spec["containers"] = Json::array({{{"name", "c"}, {"image", "x"}}});
    return client_->create(client::res::kPods, "default",
                           {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}}}, {"spec", spec}});
  }
  Status createClass(const std::string& name, int64_t value, bool global_default = false) {
    auto r = client_->create(client::res::kPriorityClasses, "",
                             {{"apiVersion", "scheduling.k8s.io/v1"}, {"kind", "PriorityClass"},
                              {"metadata", {{"name", name}}}, {"value", value}, {"globalDefault", global_default}});
    return r.status();
  }
  std::unique_ptr<test_support::TestApiServer> api_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(PodAdmissionTest, AddsTheConfiguredDefaultTolerationsUnlessThePodHasItsOwn) {
  auto p = createPod("plain", Json::object());
  ASSERT_TRUE(p) << p.status().message();
  EXPECT_EQ((*p)["spec"]["tolerations"],
            Json::parse(R"([{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":7},
                            {"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":9}])"));
  auto own = createPod("own", {{"tolerations", {{{"key", "node.kubernetes.io/not-ready"}, {"operator", "Exists"},
                                                 {"effect", "NoExecute"}, {"tolerationSeconds", 1}}}}});
  ASSERT_TRUE(own) << own.status().message();
  ASSERT_EQ((*own)["spec"]["tolerations"].size(), 2u);
  EXPECT_EQ((*own)["spec"]["tolerations"][0]["tolerationSeconds"], 1);
  EXPECT_EQ((*own)["spec"]["tolerations"][1]["key"], "node.kubernetes.io/unreachable");
  auto all = createPod("all", {{"tolerations", {{{"operator", "Exists"}}}}});
  ASSERT_TRUE(all) << all.status().message();
  EXPECT_EQ((*all)["spec"]["tolerations"].size(), 1u);
}

TEST_F(PodAdmissionTest, PodsWithoutAServiceAccountRunAsTheDefaultOne) {
  auto p = createPod("sa-default", Json::object());
  ASSERT_TRUE(p) << p.status().message();
  EXPECT_EQ((*p)["spec"]["serviceAccountName"], "default");
  EXPECT_EQ((*p)["spec"]["serviceAccount"], "default");
  auto own = createPod("sa-own", {{"serviceAccountName", "builder"}});
  ASSERT_TRUE(own) << own.status().message();
  EXPECT_EQ((*own)["spec"]["serviceAccountName"], "builder");
  EXPECT_EQ((*own)["spec"]["serviceAccount"], "builder");
  // Only the deprecated field given: the name follows it.
  auto old = createPod("sa-deprecated", {{"serviceAccount", "legacy"}});
  ASSERT_TRUE(old) << old.status().message();
  EXPECT_EQ((*old)["spec"]["serviceAccountName"], "legacy");
}

TEST_F(PodAdmissionTest, PriorityComesFromThePriorityClass) {
  auto none = createPod("none", Json::object());
  ASSERT_TRUE(none);
  EXPECT_EQ((*none)["spec"]["priority"], 0);
  EXPECT_EQ((*none)["spec"]["preemptionPolicy"], "PreemptLowerPriority");

  auto builtin = createPod("critical", {{"priorityClassName", "system-node-critical"}});
  ASSERT_TRUE(builtin) << builtin.status().message();
  EXPECT_EQ((*builtin)["spec"]["priority"], 2000001000);

  auto created = createClass("high", 1000);
  ASSERT_TRUE(created) << created.message();
  auto high = createPod("high", {{"priorityClassName", "high"}});
  ASSERT_TRUE(high) << high.status().message();
  EXPECT_EQ((*high)["spec"]["priority"], 1000);

  auto missing = createPod("missing", {{"priorityClassName", "nope"}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.status().code(), Code::kForbidden);
  EXPECT_EQ(missing.status().message(), "pods \"missing\" is forbidden: no PriorityClass with name nope was found");

  auto mismatch = createPod("mismatch", {{"priorityClassName", "high"}, {"priority", 5}});
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.status().code(), Code::kForbidden);

  ASSERT_TRUE(createClass("everyone", 42, true));
  auto defaulted = createPod("defaulted", Json::object());
  ASSERT_TRUE(defaulted) << defaulted.status().message();
  EXPECT_EQ((*defaulted)["spec"]["priority"], 42);
  EXPECT_EQ((*defaulted)["spec"]["priorityClassName"], "everyone");
}

}  // namespace
}  // namespace capstan::apiserver
