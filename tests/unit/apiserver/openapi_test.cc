// The OpenAPI documents generated from the registry and the schemas.
#include "apiserver/openapi.h"

#include <gtest/gtest.h>

#include <functional>

namespace capstan::apiserver {
namespace {

class OpenApiTest : public ::testing::Test {
 protected:
  api::Registry registry = api::Registry::builtin();
  api::Schemas served = servedSchemas(registry, api::Schemas::builtin());
};

TEST_F(OpenApiTest, V3DocumentCarriesTheKindsSchemasAndPatchTypes) {
  Json doc = openApiV3(registry, served, {"apps", "v1"});
  const Json& schemas = doc["components"]["schemas"];
  ASSERT_TRUE(schemas.contains("io.k8s.api.apps.v1.Deployment"));
  ASSERT_TRUE(schemas.contains("io.k8s.api.apps.v1.DeploymentList"));
  EXPECT_TRUE(schemas.contains("io.k8s.api.core.v1.PodSpec"));  // everything a kind refers to
  EXPECT_FALSE(schemas.contains("io.k8s.api.core.v1.ServiceSpec"));
  EXPECT_EQ(schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0]["kind"], "Deployment");
  const Json& patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
  EXPECT_EQ(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
  EXPECT_TRUE(patch["requestBody"]["content"].contains("application/strategic-merge-patch+json"));
  bool field_validation = false;
  for (const auto& p : patch["parameters"]) field_validation |= p["name"] == "fieldValidation" && p["in"] == "query";
  EXPECT_TRUE(field_validation);
  EXPECT_TRUE(doc["paths"].contains("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"));
  // Every reference in the document resolves inside it.
  std::function<void(const Json&)> check = [&](const Json& n) {
    if (n.is_object()) {
      if (auto r = n.find("$ref"); r != n.end()) {
        std::string name = r->get<std::string>().substr(api::kSchemaRefPrefix.size());
        EXPECT_TRUE(schemas.contains(name)) << name;
      }
      for (const auto& [k, v] : n.items()) check(v);
    } else if (n.is_array()) {
      for (const auto& v : n) check(v);
    }
  };
  check(doc);
}

TEST_F(OpenApiTest, ListKindsAreGeneratedForEveryServedKind) {
  for (const auto& r : registry.all()) {
    std::string def = kindDefinitionName(r, served);
    const Json* list = served.definition(def + "List");
    ASSERT_NE(list, nullptr) << def;
    EXPECT_EQ((*list)["x-kubernetes-group-version-kind"][0]["kind"], r.kind + "List");
  }
}

TEST_F(OpenApiTest, V2ProtobufHoldsTheDefinitions) {
  std::string pb = openApiV2Protobuf(registry, served);
  EXPECT_NE(pb.find("io.k8s.api.apps.v1.DeploymentSpec"), std::string::npos);
  EXPECT_NE(pb.find("#/definitions/io.k8s.api.core.v1.PodSpec"), std::string::npos);
  EXPECT_NE(pb.find("x-kubernetes-patch-merge-key"), std::string::npos);
  EXPECT_EQ(pb.find("#/components/schemas/"), std::string::npos);
}

}  // namespace
}  // namespace capstan::apiserver
