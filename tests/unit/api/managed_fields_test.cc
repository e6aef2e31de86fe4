// Server-side apply and field ownership over a small Deployment-like schema:
// the FieldsV1 format, recorded Update entries, merge by list and map type,
// removal of fields no longer applied, conflicts with upstream's messages.
#include "api/managed_fields.h"

#include <gtest/gtest.h>

#include "api/field_set.h"
#include "api/structured_merge.h"

namespace capstan::api {
namespace {

const char* kSchema = R"(
io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta:
  type: object
  properties:
    name: {type: string}
    namespace: {type: string}
    uid: {type: string}
    resourceVersion: {type: string}
    generation: {type: integer}
    creationTimestamp: {type: string}
    labels: {type: object, additionalProperties: {type: string}}
    annotations: {type: object, additionalProperties: {type: string}}
    finalizers: {type: array, items: {type: string}, x-kubernetes-list-type: set}
    managedFields: {type: array, items: {type: object}, x-kubernetes-list-type: atomic}
t.Deployment:
  type: object
  x-kubernetes-group-version-kind: [{group: apps, version: v1, kind: Deployment}]
  properties:
    spec: {$ref: t.Spec, default: {}}
    status: {$ref: t.Status, default: {}}
t.Status:
  type: object
  properties:
    replicas: {type: integer}
t.Spec:
  type: object
  required: [selector, template]
  properties:
    replicas: {type: integer}
    paused: {type: boolean}
    selector: {$ref: t.Selector}
    template: {$ref: t.Template, default: {}}
    strategy: {$ref: t.Strategy, default: {}}
    nodeSelector:
      type: object
      additionalProperties: {type: string}
      x-kubernetes-map-type: atomic
t.Strategy:
  type: object
  properties:
    type: {type: string}
    rollingUpdate:
      type: object
      properties:
        maxSurge: {type: string}
t.Selector:
  type: object
  x-kubernetes-map-type: atomic
  properties:
    matchLabels: {type: object, additionalProperties: {type: string}}
t.Template:
  type: object
  properties:
    metadata: {$ref: io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta, default: {}}
    spec: {$ref: t.PodSpec, default: {}}
t.PodSpec:
  type: object
  required: [containers]
  properties:
    containers:
      type: array
      items: {$ref: t.Container, default: {}}
      x-kubernetes-list-type: map
      x-kubernetes-list-map-keys: [name]
    args: {type: array, items: {type: string}}
    tolerations:
      type: array
      items: {type: object, properties: {key: {type: string}}}
      x-kubernetes-patch-strategy: merge
      x-kubernetes-patch-merge-key: key
t.Container:
  type: object
  required: [name]
  properties:
    name: {type: string}
    image: {type: string}
    imagePullPolicy: {type: string}
    ports:
      type: array
      items: {$ref: t.Port, default: {}}
      x-kubernetes-list-type: map
      x-kubernetes-list-map-keys: [containerPort, protocol]
t.Port:
  type: object
  required: [containerPort]
  properties:
    containerPort: {type: integer}
    protocol: {type: string, default: TCP}
)";

const Schemas& schemas() {
  static const Schemas kSchemas = [] {
    auto s = Schemas::load({{"t.yaml", kSchema}});
    if (!s) std::abort();
    return std::move(*s);
  }();
  return kSchemas;
}

Json yaml(const char* text) {
  auto j = parseYaml(text);
  EXPECT_TRUE(j) << j.status().message();
  return j ? *j : Json();
}

const char* kManifest = R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx, namespace: default, labels: {app: nginx}}
spec:
  replicas: 3
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports: [{containerPort: 80}]
)";

class ManagedFieldsTest : public ::testing::Test {
 protected:
  ManagedFieldsTest() : typed_(schemas(), "t.Deployment") {
    ctx_.typed = &typed_;
    ctx_.api_version = "apps/v1";
    ctx_.has_status = true;
    ctx_.now = "2024-05-01T10:00:00Z";
  }

  // A create by `manager` (an Update from nothing), as stored.
  Json created(const Json& obj, const std::string& manager) {
    Json out = obj;
    out["metadata"]["uid"] = "u1";
    out["metadata"]["managedFields"] = recordUpdate(ctx_, nullptr, obj, manager);
    return out;
  }
  Json apply(const Json* live, const Json& config, const std::string& manager, bool force = false) {
    auto r = applyConfig(ctx_, live, config, manager, force);
    EXPECT_TRUE(r) << r.status().message();
    return r ? *r : Json();
  }
  static const Json& entryOf(const Json& obj, const std::string& manager, const std::string& op = "") {
    static const Json kNone;
    for (const auto& e : obj["metadata"]["managedFields"])
      if (e["manager"] == manager && (op.empty() || e["operation"] == op)) return e;
    return kNone;
  }

  TypedObjects typed_;
  FieldManagerContext ctx_;
};

TEST(FieldSetTest, FieldsV1RoundTripsWithDotForMembersThatHaveChildren) {
  Json v1 = yaml(R"({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                     "f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}}}}}}})");
  auto set = FieldSet::fromFieldsV1(v1);
  ASSERT_TRUE(set) << set.status().message();
  EXPECT_TRUE(set->has({fieldElement("metadata"), fieldElement("labels")}));
  EXPECT_FALSE(set->has({fieldElement("metadata")}));
  EXPECT_TRUE(set->has({fieldElement("spec"), fieldElement("template"), fieldElement("spec"),
                        fieldElement("containers"), keyElement({{"name", "nginx"}})}));
  EXPECT_EQ(set->toFieldsV1(), v1);
  // Keys are canonical whatever order the client wrote them in.
  auto reordered =
      FieldSet::fromFieldsV1(Json::parse(R"({"k:{\"protocol\":\"TCP\",\"containerPort\":80}": {}})"));
  ASSERT_TRUE(reordered);
  EXPECT_TRUE(reordered->has({keyElement({{"containerPort", 80}, {"protocol", "TCP"}})}));
  EXPECT_FALSE(FieldSet::fromFieldsV1(Json::parse(R"({"x:y": {}})")));
}

TEST(FieldSetTest, PathsPrintAsUpstream) {
  EXPECT_EQ(pathString({fieldElement("spec"), fieldElement("replicas")}), ".spec.replicas");
  EXPECT_EQ(pathString({fieldElement("ports"), keyElement({{"containerPort", 80}, {"protocol", "TCP"}}),
                        fieldElement("name")}),
            ".ports[containerPort=80,protocol=\"TCP\"].name");
  EXPECT_EQ(pathString({fieldElement("finalizers"), valueElement("a")}), ".finalizers[=\"a\"]");
}

TEST(FieldSetTest, SetAlgebra) {
  FieldSet a, b;
  a.insert({fieldElement("spec"), fieldElement("replicas")});
  a.insert({fieldElement("spec"), fieldElement("paused")});
  b.insert({fieldElement("spec"), fieldElement("replicas")});
  b.insert({fieldElement("status")});
  EXPECT_EQ(a.difference(b).toFieldsV1(), Json::parse(R"({"f:spec": {"f:paused": {}}})"));
  EXPECT_EQ(a.intersection(b).toFieldsV1(), Json::parse(R"({"f:spec": {"f:replicas": {}}})"));
  FieldSet status;
  status.insert({fieldElement("status")});
  FieldSet c;
  c.insert({fieldElement("status"), fieldElement("replicas")});
  EXPECT_TRUE(c.recursiveDifference(status).empty());
  EXPECT_FALSE(c.difference(status).empty());
}

TEST(FieldSetTest, InPlaceUnionAndDifference) {
  FieldSet a, b;
  a.insert({fieldElement("spec"), fieldElement("replicas")});
  a.insert({fieldElement("spec"), fieldElement("paused")});
  b.insert({fieldElement("spec"), fieldElement("replicas")});
  b.insert({fieldElement("status")});
  FieldSet u = a;
  u.unite(b);
  EXPECT_EQ(u, a.unionWith(b));
  EXPECT_TRUE(u.has({fieldElement("status")}));
  FieldSet d = a;
  EXPECT_TRUE(d.subtract(b));
  EXPECT_EQ(d, a.difference(b));
  EXPECT_FALSE(d.subtract(b));  // nothing left to remove
  FieldSet all = a;
  EXPECT_TRUE(all.subtract(a));
  EXPECT_TRUE(all.empty());  // no empty child is left behind
}

TEST(FieldSetTest, TellsWhetherFieldsV1IsWhatEncodingWrites) {
  auto canonical = [](const char* text) {
    Json fields = Json::parse(text);
    bool c = FieldSet::isCanonicalFieldsV1(fields);
    auto set = FieldSet::fromFieldsV1(fields);
    if (c) {
      EXPECT_TRUE(set) << text;
      if (set) {
        EXPECT_EQ(set->toFieldsV1(), fields) << text;
      }
    }
    return c;
  };
  EXPECT_TRUE(
      canonical(R"({"f:spec": {"f:replicas": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}})"));
  EXPECT_TRUE(
      canonical(R"({"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {}, "v:\"a\"": {}, "i:0": {}})"));
  EXPECT_TRUE(canonical("{}"));
  EXPECT_FALSE(canonical(R"({"k:{\"protocol\":\"TCP\",\"containerPort\":80}": {}})"));
  EXPECT_FALSE(canonical(R"({"i:007": {}})"));
  EXPECT_FALSE(canonical(R"({"f:spec": {".": {}}})"));
  EXPECT_FALSE(canonical(R"({"f:spec": {".": {"f:x": {}}, "f:a": {}}})"));
  EXPECT_FALSE(canonical(R"({".": {}, "f:spec": {}})"));
  EXPECT_FALSE(canonical(R"({"x:y": {}})"));
  EXPECT_FALSE(canonical(R"({"f:spec": 1})"));
}

TEST_F(ManagedFieldsTest, ComparisonTreatsIgnoredFieldsAsRemoved) {
  Json a = yaml(kManifest);
  Json b = yaml(kManifest);
  a["metadata"]["managedFields"] = Json::array({{{"manager", "x"}}});
  b["spec"]["replicas"] = 5;
  b["status"] = {{"replicas", 2}};
  FieldSet ignored;
  ignored.insert({fieldElement("metadata"), fieldElement("managedFields")});
  ignored.insert({fieldElement("status")});
  auto c = typed_.compare(&a, &b, ignored);
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->modified.toFieldsV1(), yaml("f:spec: {f:replicas: {}}"));
  EXPECT_TRUE(c->added.empty());
  EXPECT_TRUE(c->removed.empty());
  // Metadata holding only ignored fields compares as the empty object it
  // would be without them.
  Json only_ignored = a, empty = a, null = a;
  only_ignored["metadata"] = {{"managedFields", Json::array()}};
  empty["metadata"] = Json::object();
  null["metadata"] = nullptr;
  auto same = typed_.compare(&only_ignored, &empty, ignored);
  ASSERT_TRUE(same);
  EXPECT_TRUE(same->same());
  auto with = typed_.compare(&only_ignored, &null, ignored);
  auto without = typed_.compare(&empty, &null);
  ASSERT_TRUE(with && without);
  EXPECT_EQ(with->modified, without->modified);
  EXPECT_TRUE(with->modified.has({fieldElement("metadata")}));
}

TEST_F(ManagedFieldsTest, EntriesAnUpdateLeavesAloneAreStoredAgainUnlessStoredDifferently) {
  Json live = created(yaml(kManifest), "creator");
  // Entries as a client may have written them: a key element out of order
  // and an unknown field; decoding accepts both, encoding would not write them.
  Json reordered = Json::parse(R"({"f:spec": {"f:template": {"f:spec": {"f:containers": {
      "k:{\"name\":\"nginx\"}": {"f:ports": {"k:{\"protocol\":\"TCP\",\"containerPort\":80}": {}}}}}}}})");
  live["metadata"]["managedFields"].push_back({{"manager", "reordered"},
                                               {"operation", "Update"},
                                               {"apiVersion", "apps/v1"},
                                               {"time", "2024-01-01T00:00:00Z"},
                                               {"fieldsType", "FieldsV1"},
                                               {"fieldsV1", reordered}});
  live["metadata"]["managedFields"].push_back({{"manager", "extra"},
                                               {"operation", "Update"},
                                               {"apiVersion", "apps/v1"},
                                               {"time", "2024-01-01T00:00:00Z"},
                                               {"fieldsType", "FieldsV1"},
                                               {"fieldsV1", yaml("f:spec: {f:paused: {}}")},
                                               {"unknown", 1}});
  FieldManagerContext status = ctx_;
  status.subresource = "status";
  Json next = live;
  next["status"] = {{"replicas", 3}};
  next["spec"]["replicas"] = 7;  // not owned through the status subresource
  Json entries = recordUpdate(status, &live, next, "kubelet");
  ASSERT_EQ(entries.size(), 4u);
  Json obj = next;
  obj["metadata"]["managedFields"] = entries;
  EXPECT_EQ(entryOf(obj, "creator"), entryOf(live, "creator"));
  EXPECT_EQ(entryOf(obj, "reordered")["fieldsV1"],
            Json::parse(R"({"f:spec": {"f:template": {"f:spec": {"f:containers": {
      "k:{\"name\":\"nginx\"}": {"f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {}}}}}}}})"));
  EXPECT_FALSE(entryOf(obj, "extra").contains("unknown"));
  EXPECT_EQ(entryOf(obj, "extra")["fieldsV1"], yaml("f:spec: {f:paused: {}}"));
  EXPECT_EQ(entryOf(obj, "kubelet")["subresource"], "status");
  EXPECT_EQ(entryOf(obj, "kubelet")["fieldsV1"], yaml("f:status: {.: {}, f:replicas: {}}"));
  // Each is what encoding the decoded entries gives.
  auto decoded = decodeManagedFields(&entries);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(encodeManagedFields(*decoded), entries);

  // A main-resource update decodes what it changes: the creator loses
  // spec.replicas, "extra" keeps spec.paused, the kubelet keeps status.
  Json live2 = obj;
  Json next2 = obj;
  next2["spec"]["replicas"] = 9;
  Json entries2 = recordUpdate(ctx_, &live2, next2, "scaler");
  Json obj2 = next2;
  obj2["metadata"]["managedFields"] = entries2;
  EXPECT_FALSE(entryOf(obj2, "creator")["fieldsV1"]["f:spec"].contains("f:replicas"));
  EXPECT_EQ(entryOf(obj2, "extra"), entryOf(obj, "extra"));
  EXPECT_EQ(entryOf(obj2, "kubelet"), entryOf(obj, "kubelet"));
  EXPECT_EQ(entryOf(obj2, "scaler")["fieldsV1"], yaml("f:spec: {f:replicas: {}}"));
  // The kubelet again: its own entry is merged with what it changes now.
  Json next3 = obj2;
  next3["status"]["observed"] = true;
  Json entries3 = recordUpdate(status, &obj2, next3, "kubelet");
  Json obj3 = next3;
  obj3["metadata"]["managedFields"] = entries3;
  EXPECT_EQ(entryOf(obj3, "kubelet")["fieldsV1"], yaml("f:status: {.: {}, f:observed: {}, f:replicas: {}}"));
  EXPECT_EQ(entryOf(obj3, "creator"), entryOf(obj2, "creator"));
  auto decoded3 = decodeManagedFields(&entries3);
  ASSERT_TRUE(decoded3);
  EXPECT_EQ(encodeManagedFields(*decoded3), entries3);
}

TEST_F(ManagedFieldsTest, AppliedSetMatchesUpstreamForTheNginxDeployment) {
  Json obj = apply(nullptr, yaml(kManifest), "kubectl");
  const Json& e = entryOf(obj, "kubectl");
  EXPECT_EQ(e["operation"], "Apply");
  EXPECT_EQ(e["apiVersion"], "apps/v1");
  EXPECT_EQ(e["fieldsType"], "FieldsV1");
  EXPECT_EQ(e["time"], "2024-05-01T10:00:00Z");
  EXPECT_FALSE(e.contains("subresource"));
  EXPECT_EQ(e["fieldsV1"], yaml(R"(
f:metadata: {f:labels: {f:app: {}}}
f:spec:
  f:replicas: {}
  f:selector: {}
  f:template:
    f:metadata: {f:labels: {f:app: {}}}
    f:spec:
      f:containers:
        k:{"name":"nginx"}:
          .: {}
          f:image: {}
          f:name: {}
          f:ports:
            k:{"containerPort":80,"protocol":"TCP"}: {.: {}, f:containerPort: {}}
)"));
}

TEST_F(ManagedFieldsTest, CreateRecordsAnUpdateMarkingContainersAbsentFromTheEmptyObject) {
  Json obj = yaml(kManifest);
  obj["spec"]["strategy"] = {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", "25%"}}}};
  obj["status"] = {{"replicas", 1}};
  Json stored = created(obj, "kubectl-client-side-apply");
  const Json& e = entryOf(stored, "kubectl-client-side-apply");
  EXPECT_EQ(e["operation"], "Update");
  EXPECT_EQ(e["fieldsV1"], yaml(R"(
f:metadata: {f:labels: {.: {}, f:app: {}}}
f:spec:
  f:replicas: {}
  f:selector: {}
  f:strategy: {f:rollingUpdate: {.: {}, f:maxSurge: {}}, f:type: {}}
  f:template:
    f:metadata: {f:labels: {.: {}, f:app: {}}}
    f:spec:
      f:containers:
        k:{"name":"nginx"}:
          .: {}
          f:image: {}
          f:name: {}
          f:ports:
            .: {}
            k:{"containerPort":80,"protocol":"TCP"}: {.: {}, f:containerPort: {}}
)"));
}

TEST_F(ManagedFieldsTest, UpdatesTakeChangedFieldsAndKeepTheirOwnOnNoOp) {
  Json live = created(yaml(kManifest), "creator");
  Json next = live;
  next["spec"]["replicas"] = 5;
  next["metadata"].erase("managedFields");
  Json entries = recordUpdate(ctx_, &live, next, "scaler");
  ASSERT_EQ(entries.size(), 2u);
  next["metadata"]["managedFields"] = entries;
  EXPECT_EQ(entryOf(next, "scaler")["fieldsV1"], yaml("f:spec: {f:replicas: {}}"));
  EXPECT_FALSE(entryOf(next, "creator")["fieldsV1"]["f:spec"].contains("f:replicas"));
  // Nothing changed: the entries stay as they are.
  EXPECT_EQ(recordUpdate(ctx_, &next, next, "other"), entries);
  // A client that sends an empty list resets them; an object without any is
  // not tracked by updates.
  Json reset = next;
  reset["metadata"]["managedFields"] = Json::array();
  EXPECT_TRUE(recordUpdate(ctx_, &next, reset, "x").empty());
}

TEST_F(ManagedFieldsTest, ConflictWithAnUpdaterUsesUpstreamsMessage) {
  Json live = created(yaml(kManifest), "kubectl-client-side-apply");
  Json config = yaml(kManifest);
  config["spec"]["replicas"] = 5;
  auto r = applyConfig(ctx_, &live, config, "other", false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kConflict);
  EXPECT_EQ(r.status().message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: "
            ".spec.replicas");
  ASSERT_EQ(r.status().causes.size(), 1u);
  EXPECT_EQ(r.status().causes[0].reason, "FieldManagerConflict");
  EXPECT_EQ(r.status().causes[0].field, ".spec.replicas");
  EXPECT_EQ(r.status().causes[0].message, "conflict with \"kubectl-client-side-apply\" using apps/v1");

  config["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2";
  auto two = applyConfig(ctx_, &live, config, "other", false);
  ASSERT_FALSE(two);
  EXPECT_EQ(two.status().message(),
            "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n"
            "- .spec.replicas\n"
            "- .spec.template.spec.containers[name=\"nginx\"].image");

  // Forced: the applier takes the fields over.
  Json forced = apply(&live, config, "other", true);
  EXPECT_EQ(forced["spec"]["replicas"], 5);
  const Json& csa = entryOf(forced, "kubectl-client-side-apply")["fieldsV1"];
  EXPECT_FALSE(csa["f:spec"].contains("f:replicas"));
  EXPECT_TRUE(entryOf(forced, "other")["fieldsV1"]["f:spec"].contains("f:replicas"));
}

TEST_F(ManagedFieldsTest, SameValueSharesOwnershipAndConflictsAppliers) {
  Json live = apply(nullptr, yaml(kManifest), "a");
  Json shared = apply(
      &live, yaml(R"({apiVersion: apps/v1, kind: Deployment, metadata: {name: nginx}, spec: {replicas: 3}})"),
      "b");
  EXPECT_TRUE(entryOf(shared, "a")["fieldsV1"]["f:spec"].contains("f:replicas"));
  EXPECT_TRUE(entryOf(shared, "b")["fieldsV1"]["f:spec"].contains("f:replicas"));
  auto r = applyConfig(
      ctx_, &shared,
      yaml(R"({apiVersion: apps/v1, kind: Deployment, metadata: {name: nginx}, spec: {replicas: 4}})"), "b",
      false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().message(), "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas");
}

TEST_F(ManagedFieldsTest, FieldsNoLongerAppliedAreRemovedUnlessSomeoneElseOwnsThem) {
  Json config = yaml(kManifest);
  config["metadata"]["labels"]["tier"] = "web";
  config["spec"]["paused"] = true;
  Json live = apply(nullptr, config, "kubectl");
  // Someone else also applies the tier label.
  live = apply(
      &live, yaml(R"({apiVersion: apps/v1, kind: Deployment, metadata: {name: nginx, labels: {tier: web}}})"),
      "other");
  Json out = apply(&live, yaml(kManifest), "kubectl");
  EXPECT_FALSE(out["spec"].contains("paused"));
  EXPECT_EQ(out["metadata"]["labels"], (Json{{"app", "nginx"}, {"tier", "web"}}));
  // A container dropped from the manifest goes; fields set by an updater stay.
  Json two = yaml(kManifest);
  two["spec"]["template"]["spec"]["containers"].push_back({{"name", "side"}, {"image", "busybox"}});
  Json before = apply(nullptr, two, "kubectl");
  Json live2 = before;
  live2["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always";
  live2["metadata"].erase("managedFields");
  live2["metadata"]["managedFields"] = recordUpdate(ctx_, &before, live2, "editor");
  EXPECT_EQ(entryOf(live2, "editor")["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"],
            yaml(R"({'k:{"name":"nginx"}': {f:imagePullPolicy: {}}})"));
  Json out2 = apply(&live2, yaml(kManifest), "kubectl");
  ASSERT_EQ(out2["spec"]["template"]["spec"]["containers"].size(), 1u);
  EXPECT_EQ(out2["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "Always");
}

TEST_F(ManagedFieldsTest, MergesListsAndMapsByTheirType) {
  Json live = yaml(kManifest);
  live["spec"]["template"]["spec"]["containers"].push_back({{"name", "side"}, {"image", "busybox"}});
  live["spec"]["template"]["spec"]["args"] = {"a", "b"};
  live["spec"]["template"]["spec"]["tolerations"] = Json::array({{{"key", "x"}}});
  live["spec"]["nodeSelector"] = {{"disk", "ssd"}, {"zone", "a"}};
  live["metadata"]["finalizers"] = {"one"};
  Json stored = created(live, "creator");
  Json config = yaml(R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx, finalizers: [two]}
spec:
  nodeSelector: {zone: b}
  template:
    spec:
      args: [c]
      tolerations: [{key: y}]
      containers: [{name: nginx, image: nginx:2}]
)");
  Json out = apply(&stored, config, "applier", true);
  const Json& pod = out["spec"]["template"]["spec"];
  ASSERT_EQ(pod["containers"].size(), 2u);  // map list: merged by name
  EXPECT_EQ(pod["containers"][0]["image"], "nginx:2");
  EXPECT_EQ(pod["containers"][0]["ports"][0]["containerPort"], 80);
  EXPECT_EQ(pod["containers"][1]["name"], "side");
  EXPECT_EQ(pod["args"], Json::array({"c"}));                             // atomic: replaced
  EXPECT_EQ(pod["tolerations"].size(), 2u);                               // patch merge key: a map list
  EXPECT_EQ(out["spec"]["nodeSelector"], (Json{{"zone", "b"}}));          // atomic map: replaced
  EXPECT_EQ(out["metadata"]["finalizers"], Json::array({"one", "two"}));  // set: union
  EXPECT_TRUE(entryOf(out, "applier")["fieldsV1"]["f:metadata"]["f:finalizers"].contains("v:\"two\""));
}

TEST_F(ManagedFieldsTest, StatusIsNotOwnedThroughTheMainResourceAndConfigErrorsAreBadRequests) {
  Json config = yaml(kManifest);
  config["status"] = {{"replicas", 9}};
  Json out = apply(nullptr, config, "kubectl");
  EXPECT_FALSE(entryOf(out, "kubectl")["fieldsV1"].contains("f:status"));
  Json bad = yaml(kManifest);
  bad["spec"]["template"]["spec"]["containers"].push_back({{"image", "x"}});
  auto r = applyConfig(ctx_, nullptr, bad, "kubectl", false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  EXPECT_NE(r.status().message().find("omits key field \"name\""), std::string::npos) << r.status().message();
  Json with_mf = yaml(kManifest);
  with_mf["metadata"]["managedFields"] = Json::array({Json::object()});
  EXPECT_EQ(applyConfig(ctx_, nullptr, with_mf, "kubectl", false).status().message(),
            "metadata.managedFields must be nil");
}

TEST_F(ManagedFieldsTest, KubectlTakesOverClientSideApplyFieldsAndKeepsLastAppliedInStep) {
  Json csa = yaml(kManifest);
  csa["metadata"]["annotations"] = {{std::string(kLastAppliedAnnotation), yaml(kManifest).dump() + "\n"}};
  Json live = created(csa, "kubectl-client-side-apply");
  Json config = yaml(kManifest);
  config["spec"]["replicas"] = 4;
  // replicas still holds what client-side apply set: kubectl may take it.
  Json out = apply(&live, config, "kubectl");
  EXPECT_EQ(out["spec"]["replicas"], 4);
  EXPECT_EQ(out["metadata"]["annotations"][std::string(kLastAppliedAnnotation)], config.dump() + "\n");
  // Another manager may not.
  EXPECT_FALSE(applyConfig(ctx_, &live, config, "other", false));
}

TEST_F(ManagedFieldsTest, ObjectsWithoutManagedFieldsStartWithBeforeFirstApply) {
  Json live = yaml(kManifest);
  live["metadata"]["uid"] = "u1";
  Json config = yaml(kManifest);
  config["spec"]["replicas"] = 2;
  auto r = applyConfig(ctx_, &live, config, "kubectl", false);
  ASSERT_FALSE(r);
  EXPECT_EQ(
      r.status().message(),
      "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas");
}

TEST(ManagedFieldsCodec, IdentifiersAndOrderFollowUpstream) {
  ManagedFieldsEntry e{"kubectl", "Apply", "apps/v1", "", "", {}};
  EXPECT_EQ(managerIdentifier(e), R"({"manager":"kubectl","operation":"Apply"})");
  ManagedFieldsEntry u{"kube-controller-manager", "Update", "apps/v1", "status", "", {}};
  EXPECT_EQ(
      managerIdentifier(u),
      R"({"manager":"kube-controller-manager","operation":"Update","apiVersion":"apps/v1","subresource":"status"})");
  EXPECT_EQ(managerFromUserAgent("kubectl-client-side-apply/v1.27.16 (linux/amd64) kubernetes/abc"),
            "kubectl-client-side-apply");
  EXPECT_EQ(managerFromUserAgent(""), "unknown");
  Json list = Json::parse(R"([
    {"manager":"b","operation":"Update","apiVersion":"v1","time":"2024-01-01T00:00:02Z","fieldsType":"FieldsV1","fieldsV1":{"f:data":{}}},
    {"manager":"a","operation":"Update","apiVersion":"v1","time":"2024-01-01T00:00:01Z","fieldsType":"FieldsV1","fieldsV1":{"f:data":{}}},
    {"manager":"z","operation":"Apply","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{}}}])");
  auto decoded = decodeManagedFields(&list);
  ASSERT_TRUE(decoded);
  Json enc = encodeManagedFields(*decoded);
  EXPECT_EQ(enc[0]["manager"], "z");
  EXPECT_EQ(enc[1]["manager"], "a");
  EXPECT_EQ(enc[2]["manager"], "b");
  Json bad =
      Json::parse(R"([{"manager":"a","operation":"Patch","apiVersion":"v1","fieldsType":"FieldsV1"}])");
  EXPECT_FALSE(decodeManagedFields(&bad));
}

}  // namespace
}  // namespace capstan::api
