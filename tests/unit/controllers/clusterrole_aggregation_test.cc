// The clusterrole-aggregation controller against a real API server, whose
// bootstrap policy aggregates admin, edit and view.
#include "controllers/clusterrole_aggregation.h"

#include "apiserver/rbac.h"
#include "unit/controllers/controller_fixture.h"

namespace capstan::controllers::testing {
namespace {

const client::ResourceRef& kRoles = client::res::kClusterRoles;

Json labelled(const std::string& name, Json labels, Json rules) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "ClusterRole"},
          {"metadata", {{"name", name}, {"labels", std::move(labels)}}},
          {"rules", std::move(rules)}};
}

bool holds(const Json& role, const Json& rule) {
  const Json& rules = arrayAt(role, "rules");
  return std::find(rules.begin(), rules.end(), rule) != rules.end();
}

class ClusterRoleAggregationTest : public ControllerFixture {};

TEST_F(ClusterRoleAggregationTest, BootstrapRolesAreAlreadyAggregated) {
  // What the server writes at start is what the controller would compute.
  std::vector<Json> roles;
  for (const Json& obj : apiserver::bootstrapPolicy())
    if (obj["kind"] == "ClusterRole") roles.push_back(obj);
  int aggregated = 0;
  for (const auto& r : roles) {
    if (!r.contains("aggregationRule")) continue;
    ++aggregated;
    EXPECT_EQ(ClusterRoleAggregation::aggregateRules(r, roles), r["rules"]) << r["metadata"]["name"];
  }
  EXPECT_EQ(aggregated, 3);
}

TEST_F(ClusterRoleAggregationTest, LabelledRolesExtendViewEditAndAdmin) {
  start(std::make_unique<ClusterRoleAggregation>(*ctx_));
  Json rule = {{"apiGroups", {"example.com"}}, {"resources", {"widgets"}}, {"verbs", {"get", "list"}}};
  ASSERT_TRUE(client_->create(kRoles, "",
                              labelled("widget-reader", {{"rbac.authorization.k8s.io/aggregate-to-view", "true"}},
                                       Json::array({rule}))));
  EXPECT_TRUE(eventually([&] { return holds(get(kRoles, "view"), rule); }));
  // Only view: edit and admin aggregate what is labelled for them, as upstream.
  EXPECT_FALSE(holds(get(kRoles, "edit"), rule));
  Json role = get(kRoles, "widget-reader");
  role["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"] = "true";
  ASSERT_TRUE(client_->update(kRoles, "", role));
  EXPECT_TRUE(eventually([&] { return holds(get(kRoles, "admin"), rule); }));
  EXPECT_FALSE(holds(get(kRoles, "edit"), rule));
  // Unlabelled, it leaves them again; what they had stays.
  role = get(kRoles, "widget-reader");
  role["metadata"]["labels"] = Json::object();
  ASSERT_TRUE(client_->update(kRoles, "", role));
  EXPECT_TRUE(eventually([&] { return !holds(get(kRoles, "admin"), rule) && !holds(get(kRoles, "view"), rule); }));
  Json pods = {{"apiGroups", {""}}, {"resources", {"pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "pods/eviction",
                                                       "configmaps", "endpoints", "persistentvolumeclaims", "replicationcontrollers",
                                                       "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
                                                       "services/proxy"}},
               {"verbs", {"create", "delete", "deletecollection", "patch", "update"}}};
  EXPECT_TRUE(holds(get(kRoles, "edit"), pods));
  EXPECT_FALSE(holds(get(kRoles, "view"), pods));
}

TEST_F(ClusterRoleAggregationTest, UnionInNameOrderWithoutRepeats) {
  start(std::make_unique<ClusterRoleAggregation>(*ctx_));
  Json a = {{"apiGroups", {""}}, {"resources", {"pods"}}, {"verbs", {"get"}}};
  Json b = {{"apiGroups", {""}}, {"resources", {"nodes"}}, {"verbs", {"get"}}};
  Json monitoring = labelled("monitoring", Json::object(), Json::array());
  monitoring["aggregationRule"] = {{"clusterRoleSelectors", Json::array({{{"matchLabels", {{"team", "mon"}}}}})}};
  ASSERT_TRUE(client_->create(kRoles, "", monitoring));
  ASSERT_TRUE(client_->create(kRoles, "", labelled("z-part", {{"team", "mon"}}, Json::array({a, b}))));
  ASSERT_TRUE(client_->create(kRoles, "", labelled("a-part", {{"team", "mon"}}, Json::array({b}))));
  ASSERT_TRUE(client_->create(kRoles, "", labelled("other", {{"team", "ops"}}, Json::array({a}))));
  EXPECT_TRUE(eventually([&] { return get(kRoles, "monitoring")["rules"] == Json::array({b, a}); }))
      << get(kRoles, "monitoring").dump();
  ASSERT_TRUE(client_->remove(kRoles, "", "z-part"));
  EXPECT_TRUE(eventually([&] { return get(kRoles, "monitoring")["rules"] == Json::array({b}); }));
}

}  // namespace
}  // namespace capstan::controllers::testing
