// Unknown-field detection and the typed envelope, as decoding a manifest
// into Kubernetes' Go types would report them.
#include "api/known_fields.h"

#include <gtest/gtest.h>

#include <set>

#include "unit/api/kind_fixtures.h"

namespace capstan::api {
namespace {

using testing::infoFor;
using testing::yaml;

const char* kDeployment = R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labls: {a: b}}
spec:
  replica: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: nginx, imagee: typo}
      - {name: side, image: busybox}
      nodeSelectr: {}
extra: 1
)";

TEST(KnownFields, FindsUnknownFieldsAtEveryKnownLevelWithUpstreamPaths) {
  auto unknown = unknownFields(infoFor("apps", "Deployment"), yaml(kDeployment));
  std::set<std::string> got(unknown.begin(), unknown.end());
  EXPECT_EQ(got, (std::set<std::string>{"extra", "metadata.labls", "spec.replica",
                                        "spec.template.spec.containers[0].imagee", "spec.template.spec.nodeSelectr"}));
}

TEST(KnownFields, DropRemovesExactlyTheUnknownFields) {
  Json obj = yaml(kDeployment);
  dropUnknownFields(infoFor("apps", "Deployment"), obj);
  EXPECT_TRUE(unknownFields(infoFor("apps", "Deployment"), obj).empty());
  EXPECT_EQ(obj["spec"]["template"]["spec"]["containers"][0]["image"], "nginx");
  EXPECT_EQ(obj["spec"]["selector"]["matchLabels"]["app"], "web");
  EXPECT_FALSE(obj.contains("extra"));
}

TEST(KnownFields, KindsWithoutSpecUseTheirOwnTopLevelFields) {
  auto unknown = unknownFields(infoFor("", "ConfigMap"), yaml("{apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {}, spec: {}}"));
  EXPECT_EQ(unknown, std::vector<std::string>{"spec"});
}

TEST(FieldTypes, MistypedFieldsAreBadRequestsNamingTheField) {
  auto st = checkFieldTypes(infoFor("apps", "Deployment"), yaml("{metadata: {name: a}, spec: {replicas: three}}"));
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.code(), Code::kBadRequest);
  EXPECT_NE(st.message().find("cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"), std::string::npos);
  EXPECT_TRUE(checkFieldTypes(infoFor("", "Pod"), yaml(R"(
metadata: {name: p}
spec: {containers: [{name: c, image: i, resources: {limits: {cpu: 500m, memory: 1Gi}}}]})")).isOk());
  EXPECT_FALSE(checkFieldTypes(infoFor("", "Pod"), yaml(R"(
metadata: {name: p}
spec: {containers: [{name: c, image: i, resources: {limits: {cpu: abc}}}]})")).isOk());
}

}  // namespace
}  // namespace capstan::api
