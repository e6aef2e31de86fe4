// The OpenAPI schemas we write in src/api/schemas: they load, every
// reference resolves, every served kind and every field is described, and
// the YAML shorthand is normalised as upstream's documents write it.
#include "api/schema.h"

#include <gtest/gtest.h>

#include <functional>

#include "api/registry.h"

namespace capstan::api {
namespace {

TEST(Schemas, EveryReferenceResolvesAndEveryFieldIsDescribed) {
  const Schemas& s = Schemas::builtin();
  ASSERT_GT(s.definitions().size(), 250u);
  std::vector<std::string> problems;
  std::function<void(const std::string&, const Json&, const std::string&, bool)> walk =
      [&](const std::string& def, const Json& node, const std::string& path, bool needs_description) {
        if (std::string_view ref = Schemas::refName(node); !ref.empty() && !s.definition(ref))
          problems.push_back(def + path + ": missing definition " + std::string(ref));
        if (needs_description && getString(node, "description").empty()) problems.push_back(def + path + ": no description");
        if (const Json* props = find(node, "properties"))
          for (const auto& [k, v] : props->items()) walk(def, v, path + "." + k, true);
        if (const Json* items = find(node, "items")) walk(def, *items, path + "[]", false);
        if (const Json* values = find(node, "additionalProperties"); values && values->is_object())
          walk(def, *values, path + "{}", false);
      };
  for (const auto& [name, def] : s.definitions().items()) walk(name, def, "", true);
  EXPECT_TRUE(problems.empty()) << problems.size() << " problems, first: " << problems.front();
}

TEST(Schemas, EveryServedKindHasADefinitionWithItsKindFields) {
  const Schemas& s = Schemas::builtin();
  const Registry registry = Registry::builtin();
  for (const auto& r : registry.all()) {
    std::string name = s.kindDefinition(r.group, r.version, r.kind);
    ASSERT_FALSE(name.empty()) << r.apiVersion() << " " << r.kind;
    const Json& def = *s.definition(name);
    for (const char* f : {"apiVersion", "kind", "metadata"})
      EXPECT_NE(s.property(def, f), nullptr) << name << " lacks " << f;
  }
}

TEST(Schemas, PropertiesResolveThroughReferences) {
  const Schemas& s = Schemas::builtin();
  const Json* dep = s.definition(s.kindDefinition("apps", "v1", "Deployment"));
  ASSERT_NE(dep, nullptr);
  const Json* spec = s.property(*dep, "spec");
  ASSERT_NE(spec, nullptr);
  const Json* replicas = s.property(*spec, "replicas");
  ASSERT_NE(replicas, nullptr);
  EXPECT_EQ(getString(*replicas, "type"), "integer");
  EXPECT_EQ(getString(*replicas, "format"), "int32");
  const Json* pod_spec = s.definition("io.k8s.api.core.v1.PodSpec");
  ASSERT_NE(pod_spec, nullptr);
  // List semantics sit on the property, beside the items.
  ListSemantics containers = listSemantics((*pod_spec)["properties"]["containers"]);
  EXPECT_EQ(containers.list_type, "map");
  EXPECT_EQ(containers.map_keys, std::vector<std::string>{"name"});
  EXPECT_EQ(containers.merge_key, "name");
  EXPECT_EQ(containers.patch_strategy, "merge");
  const Json* container = s.items((*pod_spec)["properties"]["containers"]);
  ASSERT_NE(container, nullptr);
  ListSemantics ports = listSemantics((*container)["properties"]["ports"]);
  EXPECT_EQ(ports.map_keys, (std::vector<std::string>{"containerPort", "protocol"}));
  std::set<std::string> closure = s.closure(s.kindDefinition("apps", "v1", "Deployment"));
  EXPECT_TRUE(closure.count("io.k8s.api.core.v1.Container"));
  EXPECT_TRUE(closure.count("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
  EXPECT_FALSE(closure.count("io.k8s.api.core.v1.ServiceSpec"));
}

TEST(Schemas, ShorthandIsNormalised) {
  auto s = Schemas::load({{"t.yaml", R"(
t.Thing:
  description: A thing.
  type: object
  x-kubernetes-group-version-kind: [{group: example.com, version: v1, kind: Thing}]
  properties:
    part: {$ref: t.Part, description: The part.}
    bare: {$ref: t.Part}
t.Part:
  description: A part.
  type: object
)"}});
  ASSERT_TRUE(s.isOk()) << s.status().message();
  const Json& thing = *s->definition("t.Thing");
  EXPECT_EQ(thing["properties"]["part"]["allOf"][0]["$ref"], "#/components/schemas/t.Part");
  EXPECT_EQ(thing["properties"]["part"]["description"], "The part.");
  EXPECT_EQ(thing["properties"]["bare"], Json({{"$ref", "#/components/schemas/t.Part"}}));
  EXPECT_TRUE(thing["properties"].contains("apiVersion"));
  EXPECT_EQ(Schemas::refName(thing["properties"]["metadata"]), "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
  EXPECT_EQ(s->kindDefinition("example.com", "v1", "Thing"), "t.Thing");
  EXPECT_EQ(s->kindDefinition("example.com", "v1", "Other"), "");
  EXPECT_EQ(getString(*s->property(thing, "part"), "description"), "A part.");
}

TEST(Schemas, BadFilesAreRefused) {
  EXPECT_FALSE(Schemas::load({{"a.yaml", "t.A: {type: object}\n"}, {"b.yaml", "t.A: {type: object}\n"}}).isOk());
  EXPECT_FALSE(Schemas::load({{"a.yaml", "- not a mapping\n"}}).isOk());
  EXPECT_FALSE(Schemas::load({{"a.yaml", "t.A: [1]\n"}}).isOk());
}

}  // namespace
}  // namespace capstan::api
