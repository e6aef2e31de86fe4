// The three patch types against the behaviour of kube-apiserver: JSON patch
// (evanphx/json-patch, errors as 422), JSON merge patch (RFC 7386) and
// strategic merge patch as k8s.io/apimachinery/pkg/util/strategicpatch
// applies it with the patch metadata of the built-in types (patchMergeKey /
// patchStrategy tags in k8s.io/api).
#include "api/patch.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "api/schema.h"

namespace capstan::api {
namespace {

Json json(const std::string& text) {
  auto r = parseJson(text);
  EXPECT_TRUE(r.isOk()) << r.status().message() << "\n" << text;
  return r.isOk() ? *r : Json();
}

struct PatchCase {
  std::string name;
  std::string original;
  std::string patch;
  std::string expected;
};

struct PatchErrorCase {
  std::string name;
  std::string original;
  std::string patch;
  Code code;  // kOk: any error will do
};

// Test names, not bytes, when gtest prints a failing case.
void PrintTo(const PatchCase& c, std::ostream* os) { *os << c.name; }
void PrintTo(const PatchErrorCase& c, std::ostream* os) { *os << c.name; }

std::string caseName(const ::testing::TestParamInfo<PatchCase>& info) { return info.param.name; }
std::string errorName(const ::testing::TestParamInfo<PatchErrorCase>& info) { return info.param.name; }

// ---------------------------------------------------------------------------
// JSON patch (application/json-patch+json)

class JsonPatch : public ::testing::TestWithParam<PatchCase> {};

TEST_P(JsonPatch, Applies) {
  const auto& c = GetParam();
  auto r = applyJsonPatch(json(c.original), json(c.patch));
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(*r, json(c.expected)) << r->dump();
}

const PatchCase kJsonPatchCases[] = {
    {"AddKey", R"({"metadata":{"name":"a"}})",
     R"([{"op":"add","path":"/metadata/labels","value":{"x":"1"}}])",
     R"({"metadata":{"name":"a","labels":{"x":"1"}}})"},
    {"AddEscapedKey", R"({"metadata":{"annotations":{}}})",
     R"([{"op":"add","path":"/metadata/annotations/example.com~1note","value":"v"}])",
     R"({"metadata":{"annotations":{"example.com/note":"v"}}})"},
    {"AddAppendsWithDash", R"({"spec":{"args":["a"]}})",
     R"([{"op":"add","path":"/spec/args/-","value":"b"}])", R"({"spec":{"args":["a","b"]}})"},
    {"AddInsertsAtIndex", R"({"spec":{"args":["a","c"]}})",
     R"([{"op":"add","path":"/spec/args/1","value":"b"}])", R"({"spec":{"args":["a","b","c"]}})"},
    {"Replace", R"({"spec":{"replicas":1}})", R"([{"op":"replace","path":"/spec/replicas","value":3}])",
     R"({"spec":{"replicas":3}})"},
    {"Remove", R"({"metadata":{"labels":{"a":"1","b":"2"}}})",
     R"([{"op":"remove","path":"/metadata/labels/a"}])", R"({"metadata":{"labels":{"b":"2"}}})"},
    {"RemoveArrayElement", R"({"spec":{"args":["a","b","c"]}})", R"([{"op":"remove","path":"/spec/args/1"}])",
     R"({"spec":{"args":["a","c"]}})"},
    {"TestThenReplace", R"({"spec":{"replicas":1}})",
     R"([{"op":"test","path":"/spec/replicas","value":1},{"op":"replace","path":"/spec/replicas","value":2}])",
     R"({"spec":{"replicas":2}})"},
    {"Move", R"({"a":{"x":1},"b":{}})", R"([{"op":"move","from":"/a/x","path":"/b/x"}])",
     R"({"a":{},"b":{"x":1}})"},
    {"Copy", R"({"a":{"x":1}})", R"([{"op":"copy","from":"/a","path":"/b"}])",
     R"({"a":{"x":1},"b":{"x":1}})"},
    {"EmptyPatchIsNoop", R"({"a":1})", R"([])", R"({"a":1})"},
};
INSTANTIATE_TEST_SUITE_P(Ops, JsonPatch, ::testing::ValuesIn(kJsonPatchCases), caseName);

class JsonPatchError : public ::testing::TestWithParam<PatchErrorCase> {};

TEST_P(JsonPatchError, Fails) {
  const auto& c = GetParam();
  auto r = applyJsonPatch(json(c.original), json(c.patch));
  ASSERT_FALSE(r.isOk()) << r->dump();
  if (c.code != Code::kOk) {
    EXPECT_EQ(r.status().code(), c.code) << r.status().message();
  }
  // A patch that does not apply gets kube-apiserver's generic 422 message,
  // without the patch library's own words (kubectl prints "The request is
  // invalid: the server rejected our request due to an error in our request").
  if (c.code == Code::kInvalid) {
    EXPECT_EQ(r.status().message(), "the server rejected our request due to an error in our request");
  }
}

// kube-apiserver answers a patch that does not apply with 422 (Invalid) and
// one that does not decode as a patch with 400.
const PatchErrorCase kJsonPatchErrors[] = {
    {"TestFails", R"({"spec":{"replicas":1}})",
     R"([{"op":"test","path":"/spec/replicas","value":2},{"op":"replace","path":"/spec/replicas","value":5}])",
     Code::kInvalid},
    {"TestOfMissingPath", R"({"spec":{}})", R"([{"op":"test","path":"/spec/replicas","value":1}])",
     Code::kInvalid},
    {"RemoveMissing", R"({"metadata":{}})", R"([{"op":"remove","path":"/metadata/labels"}])", Code::kInvalid},
    {"ReplaceMissing", R"({"metadata":{}})", R"([{"op":"replace","path":"/metadata/labels","value":{}}])",
     Code::kInvalid},
    {"AddUnderMissingParent", R"({})", R"([{"op":"add","path":"/metadata/labels/a","value":"1"}])",
     Code::kInvalid},
    {"ArrayIndexOutOfRange", R"({"a":[1]})", R"([{"op":"add","path":"/a/5","value":2}])", Code::kInvalid},
    {"UnknownOp", R"({})", R"([{"op":"frobnicate","path":"/a","value":1}])", Code::kInvalid},
    {"NotAnArray", R"({})", R"({"op":"add","path":"/a","value":1})", Code::kBadRequest},
};
INSTANTIATE_TEST_SUITE_P(Errors, JsonPatchError, ::testing::ValuesIn(kJsonPatchErrors), errorName);

// ---------------------------------------------------------------------------
// JSON merge patch (application/merge-patch+json)

class MergePatch : public ::testing::TestWithParam<PatchCase> {};

TEST_P(MergePatch, Applies) {
  const auto& c = GetParam();
  auto r = applyMergePatch(json(c.original), json(c.patch));
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(*r, json(c.expected)) << r->dump();
}

const PatchCase kMergePatchCases[] = {
    {"NullDeletes", R"({"metadata":{"labels":{"a":"1","b":"2"}}})", R"({"metadata":{"labels":{"a":null}}})",
     R"({"metadata":{"labels":{"b":"2"}}})"},
    {"NullOfMissingKeyIsNoop", R"({"a":1})", R"({"b":null})", R"({"a":1})"},
    {"NestedMapsMerge", R"({"spec":{"replicas":1,"template":{"metadata":{"labels":{"a":"1"}}}}})",
     R"({"spec":{"template":{"metadata":{"labels":{"b":"2"}}}}})",
     R"({"spec":{"replicas":1,"template":{"metadata":{"labels":{"a":"1","b":"2"}}}}})"},
    {"ListsReplacedWhole", R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]}})",
     R"({"spec":{"containers":[{"name":"b","image":"z"}]}})",
     R"({"spec":{"containers":[{"name":"b","image":"z"}]}})"},
    {"ScalarReplacesMap", R"({"a":{"b":1}})", R"({"a":"x"})", R"({"a":"x"})"},
    {"MapReplacesScalar", R"({"a":"x"})", R"({"a":{"b":1,"c":null}})", R"({"a":{"b":1}})"},
    {"DirectivesAreOrdinaryKeys", R"({"a":{"b":1}})", R"({"a":{"$patch":"replace"}})",
     R"({"a":{"b":1,"$patch":"replace"}})"},
    {"EmptyPatchIsNoop", R"({"a":1})", R"({})", R"({"a":1})"},
};
INSTANTIATE_TEST_SUITE_P(Rfc7386, MergePatch, ::testing::ValuesIn(kMergePatchCases), caseName);

TEST(MergePatchErrors, NonObjectPatchIsRejected) {
  auto r = applyMergePatch(json(R"({"a":1})"), json(R"([1,2])"));
  EXPECT_FALSE(r.isOk());
}

// ---------------------------------------------------------------------------
// Strategic merge patch (application/strategic-merge-patch+json)

class StrategicMergePatch : public ::testing::TestWithParam<PatchCase> {};

TEST_P(StrategicMergePatch, MatchesKubernetes) {
  const auto& c = GetParam();
  auto r = applyStrategicMergePatch(json(c.original), json(c.patch));
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(*r, json(c.expected)) << "got:  " << r->dump() << "\nwant: " << json(c.expected).dump();
}

// Maps merge key by key.
const PatchCase kSmpMaps[] = {
    {"NestedMapsMerged",
     R"({"metadata":{"name":"d","labels":{"app":"web"}},"spec":{"replicas":1,"template":{"metadata":{"labels":{"app":"web"}}}}})",
     R"({"metadata":{"annotations":{"a":"1"}},"spec":{"template":{"metadata":{"labels":{"tier":"fe"}}}}})",
     R"({"metadata":{"name":"d","labels":{"app":"web"},"annotations":{"a":"1"}},
         "spec":{"replicas":1,"template":{"metadata":{"labels":{"app":"web","tier":"fe"}}}}})"},
    {"NullDeletesMapKey", R"({"metadata":{"labels":{"a":"1","b":"2"}}})",
     R"({"metadata":{"labels":{"a":null}}})", R"({"metadata":{"labels":{"b":"2"}}})"},
    {"NullDeletesNestedField", R"({"spec":{"nodeSelector":{"disk":"ssd"},"hostNetwork":true}})",
     R"({"spec":{"nodeSelector":null}})", R"({"spec":{"hostNetwork":true}})"},
    {"NullOfMissingKeyIsNoop", R"({"spec":{"a":1}})", R"({"spec":{"b":null}})", R"({"spec":{"a":1}})"},
    {"ScalarReplaced", R"({"spec":{"replicas":1}})", R"({"spec":{"replicas":5}})",
     R"({"spec":{"replicas":5}})"},
    {"NewMapTakenWhole", R"({"spec":{}})", R"({"spec":{"nodeSelector":{"a":"b"}}})",
     R"({"spec":{"nodeSelector":{"a":"b"}}})"},
    // $patch: replace on a map replaces it with the rest of the patch map.
    {"ReplaceDirectiveOnMap", R"({"metadata":{"labels":{"a":"1","b":"2"}}})",
     R"({"metadata":{"labels":{"$patch":"replace","c":"3"}}})", R"({"metadata":{"labels":{"c":"3"}}})"},
    {"ReplaceDirectiveOnWholeObject", R"({"name":"1","value":"1"})", R"({"$patch":"replace","other":"a"})",
     R"({"other":"a"})"},
    // Upstream: "delete map from nested map": the map is emptied, not removed
    // (mergeMap's handleDirectiveInMergeMap returns an empty map).
    {"DeleteDirectiveOnMapEmptiesIt", R"({"spec":{"nodeSelector":{"a":"1","b":"2"},"x":1}})",
     R"({"spec":{"nodeSelector":{"$patch":"delete"}}})", R"({"spec":{"nodeSelector":{},"x":1}})"},
    // $retainKeys clears every key of the original not listed, then merges.
    {"RetainKeysOnDeploymentStrategy",
     R"({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}})",
     R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})",
     R"({"spec":{"strategy":{"type":"Recreate"}}})"},
    {"RetainKeysKeepsListedOriginalKeys",
     R"({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}})",
     R"({"spec":{"strategy":{"$retainKeys":["type","rollingUpdate"],"rollingUpdate":{"maxSurge":2}}}})",
     R"({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":2}}}})"},
};
INSTANTIATE_TEST_SUITE_P(Maps, StrategicMergePatch, ::testing::ValuesIn(kSmpMaps), caseName);

// Lists with a patchMergeKey merge element by element; the cases change
// existing elements (no ordering question) unless they say otherwise.
const PatchCase kSmpMergeKeys[] = {
    {"ContainersMergedByName",
     R"({"spec":{"containers":[{"name":"app","image":"app:1","args":["serve"]},{"name":"side","image":"side:1"}]}})",
     R"({"spec":{"containers":[{"name":"side","image":"side:2"}]}})",
     R"({"spec":{"containers":[{"name":"app","image":"app:1","args":["serve"]},{"name":"side","image":"side:2"}]}})"},
    {"ContainerFieldsMergedNotReplaced",
     R"({"spec":{"containers":[{"name":"app","image":"app:1","imagePullPolicy":"Always"}]}})",
     R"({"spec":{"containers":[{"name":"app","image":"app:2"}]}})",
     R"({"spec":{"containers":[{"name":"app","image":"app:2","imagePullPolicy":"Always"}]}})"},
    {"InitContainersMergedByName", R"({"spec":{"initContainers":[{"name":"i","image":"i:1"}]}})",
     R"({"spec":{"initContainers":[{"name":"i","image":"i:2"}]}})",
     R"({"spec":{"initContainers":[{"name":"i","image":"i:2"}]}})"},
    {"ContainerPortsByContainerPort",
     R"({"spec":{"containers":[{"name":"app","ports":[{"containerPort":80,"name":"http"},{"containerPort":443,"name":"https"}]}]}})",
     R"({"spec":{"containers":[{"name":"app","ports":[{"containerPort":443,"protocol":"TCP"}]}]}})",
     R"({"spec":{"containers":[{"name":"app","ports":[{"containerPort":80,"name":"http"},{"containerPort":443,"name":"https","protocol":"TCP"}]}]}})"},
    {"ServicePortsByPort",
     R"({"spec":{"ports":[{"port":80,"targetPort":8080,"name":"http"},{"port":443,"targetPort":8443,"name":"https"}]}})",
     R"({"spec":{"ports":[{"port":80,"targetPort":9090}]}})",
     R"({"spec":{"ports":[{"port":80,"targetPort":9090,"name":"http"},{"port":443,"targetPort":8443,"name":"https"}]}})"},
    {"EnvByName",
     R"({"spec":{"containers":[{"name":"app","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]}]}})",
     R"({"spec":{"containers":[{"name":"app","env":[{"name":"B","value":"3"}]}]}})",
     R"({"spec":{"containers":[{"name":"app","env":[{"name":"A","value":"1"},{"name":"B","value":"3"}]}]}})"},
    {"VolumesByName",
     R"({"spec":{"volumes":[{"name":"data","emptyDir":{}},{"name":"cfg","configMap":{"name":"c1"}}]}})",
     R"({"spec":{"volumes":[{"name":"cfg","configMap":{"name":"c2"}}]}})",
     R"({"spec":{"volumes":[{"name":"data","emptyDir":{}},{"name":"cfg","configMap":{"name":"c2"}}]}})"},
    {"VolumeMountsByMountPath",
     R"({"spec":{"containers":[{"name":"app","volumeMounts":[{"name":"data","mountPath":"/data"},{"name":"cfg","mountPath":"/etc/cfg"}]}]}})",
     R"({"spec":{"containers":[{"name":"app","volumeMounts":[{"mountPath":"/data","readOnly":true}]}]}})",
     R"({"spec":{"containers":[{"name":"app","volumeMounts":[{"name":"data","mountPath":"/data","readOnly":true},{"name":"cfg","mountPath":"/etc/cfg"}]}]}})"},
    {"ConditionsByType",
     R"({"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"PodScheduled","status":"True"}]}})",
     R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})",
     R"({"status":{"conditions":[{"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}]}})"},
    {"NestedMergeListInMergeList",
     R"({"spec":{"template":{"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"}],"ports":[{"containerPort":80}]}]}}}})",
     R"({"spec":{"template":{"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"2"}]}]}}}})",
     R"({"spec":{"template":{"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"2"}],"ports":[{"containerPort":80}]}]}}}})"},
    {"NullInsideMergedElementDeletesField",
     R"({"spec":{"containers":[{"name":"app","image":"a","command":["x"]}]}})",
     R"({"spec":{"containers":[{"name":"app","command":null}]}})",
     R"({"spec":{"containers":[{"name":"app","image":"a"}]}})"},
    // Upstream "nested patch merge with empty list": a new list drops its
    // directive elements.
    {"NewListDropsDirectiveElements", R"({"spec":{}})",
     R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"gone","$patch":"delete"}]}})",
     R"({"spec":{"containers":[{"name":"a","image":"x"}]}})"},
    {"MissingFieldInElementAdded", R"({"spec":{"containers":[{"name":"a"}]}})",
     R"({"spec":{"containers":[{"name":"a","resources":{"limits":{"cpu":"1"}}}]}})",
     R"({"spec":{"containers":[{"name":"a","resources":{"limits":{"cpu":"1"}}}]}})"},
    // PodSpec.schedulingGates merge by name: a controller lifting its own
    // gate must leave the others in place.
    {"SchedulingGatesByName",
     R"({"spec":{"schedulingGates":[{"name":"example.com/a"},{"name":"example.com/b"}]}})",
     R"({"spec":{"schedulingGates":[{"name":"example.com/a","$patch":"delete"}]}})",
     R"({"spec":{"schedulingGates":[{"name":"example.com/b"}]}})"},
    // $retainKeys inside a list element (volumes are merge,retainKeys):
    // switching a volume's source.
    {"RetainKeysInVolume", R"({"spec":{"volumes":[{"name":"v","emptyDir":{}},{"name":"w","emptyDir":{}}]}})",
     R"({"spec":{"volumes":[{"name":"v","$retainKeys":["name","configMap"],"configMap":{"name":"c"}}]}})",
     R"({"spec":{"volumes":[{"name":"v","configMap":{"name":"c"}},{"name":"w","emptyDir":{}}]}})"},
};
INSTANTIATE_TEST_SUITE_P(MergeKeys, StrategicMergePatch, ::testing::ValuesIn(kSmpMergeKeys), caseName);

// $patch directives inside lists.
const PatchCase kSmpListDirectives[] = {
    {"DeleteElementByMergeKey",
     R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"},{"name":"c","image":"z"}]}})",
     R"({"spec":{"containers":[{"name":"b","$patch":"delete"}]}})",
     R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"c","image":"z"}]}})"},
    {"DeleteMissingElementIsNoop", R"({"spec":{"containers":[{"name":"a"}]}})",
     R"({"spec":{"containers":[{"name":"zz","$patch":"delete"}]}})",
     R"({"spec":{"containers":[{"name":"a"}]}})"},
    {"DeleteEnvByName",
     R"({"spec":{"containers":[{"name":"c","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]}]}})",
     R"({"spec":{"containers":[{"name":"c","env":[{"name":"A","$patch":"delete"}]}]}})",
     R"({"spec":{"containers":[{"name":"c","env":[{"name":"B","value":"2"}]}]}})"},
    {"DeleteServicePortByPort", R"({"spec":{"ports":[{"port":80},{"port":443}]}})",
     R"({"spec":{"ports":[{"port":80,"$patch":"delete"}]}})", R"({"spec":{"ports":[{"port":443}]}})"},
    // Upstream "delete all duplicate entries in a merging list" (duplicate
    // env names are accepted with a warning).
    {"DeleteRemovesEveryDuplicate",
     R"({"spec":{"containers":[{"name":"c","env":[{"name":"A","value":"1"},{"name":"B","value":"2"},{"name":"A","value":"3"}]}]}})",
     R"({"spec":{"containers":[{"name":"c","env":[{"name":"A","$patch":"delete"}]}]}})",
     R"({"spec":{"containers":[{"name":"c","env":[{"name":"B","value":"2"}]}]}})"},
    {"DeleteAndMergeInOnePatch",
     R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]}})",
     R"({"spec":{"containers":[{"name":"a","$patch":"delete"},{"name":"b","image":"y2"}]}})",
     R"({"spec":{"containers":[{"name":"b","image":"y2"}]}})"},
    {"ReplaceList", R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]}})",
     R"({"spec":{"containers":[{"$patch":"replace"},{"name":"c","image":"z"}]}})",
     R"({"spec":{"containers":[{"name":"c","image":"z"}]}})"},
    {"ReplaceListWithNothingEmptiesIt", R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})",
     R"({"spec":{"containers":[{"$patch":"replace"}]}})", R"({"spec":{"containers":[]}})"},
    {"ReplaceMarkerAnywhereInList", R"({"spec":{"volumes":[{"name":"a","emptyDir":{}}]}})",
     R"({"spec":{"volumes":[{"name":"b","emptyDir":{}},{"$patch":"replace"}]}})",
     R"({"spec":{"volumes":[{"name":"b","emptyDir":{}}]}})"},
};
INSTANTIATE_TEST_SUITE_P(ListDirectives, StrategicMergePatch, ::testing::ValuesIn(kSmpListDirectives),
                         caseName);

// Lists without a patch strategy are replaced whole.
const PatchCase kSmpAtomicLists[] = {
    {"ArgsReplaced", R"({"spec":{"containers":[{"name":"app","args":["a","b"]}]}})",
     R"({"spec":{"containers":[{"name":"app","args":["c"]}]}})",
     R"({"spec":{"containers":[{"name":"app","args":["c"]}]}})"},
    {"CommandReplaced", R"({"spec":{"containers":[{"name":"app","command":["sh","-c","x"]}]}})",
     R"({"spec":{"containers":[{"name":"app","command":["true"]}]}})",
     R"({"spec":{"containers":[{"name":"app","command":["true"]}]}})"},
    {"TolerationsReplaced",
     R"({"spec":{"tolerations":[{"key":"a","operator":"Exists"},{"key":"b","operator":"Exists"}]}})",
     R"({"spec":{"tolerations":[{"key":"c","operator":"Exists"}]}})",
     R"({"spec":{"tolerations":[{"key":"c","operator":"Exists"}]}})"},
    {"ListReplacedByEmptyList", R"({"spec":{"containers":[{"name":"a","args":["x"]}]}})",
     R"({"spec":{"containers":[{"name":"a","args":[]}]}})",
     R"({"spec":{"containers":[{"name":"a","args":[]}]}})"},
    {"SelectorExpressionsReplaced",
     R"({"spec":{"selector":{"matchExpressions":[{"key":"a","operator":"Exists"}]}}})",
     R"({"spec":{"selector":{"matchExpressions":[{"key":"b","operator":"Exists"}]}}})",
     R"({"spec":{"selector":{"matchExpressions":[{"key":"b","operator":"Exists"}]}}})"},
    // NodeSpec.taints is +listType=atomic with no patch strategy: kubectl
    // taint's "key:Effect-" sends the remaining list, which must replace.
    {"NodeTaintsReplaced",
     R"({"spec":{"taints":[{"key":"a","effect":"NoSchedule"},{"key":"b","effect":"NoExecute"}]}})",
     R"({"spec":{"taints":[{"key":"b","effect":"NoExecute"}]}})",
     R"({"spec":{"taints":[{"key":"b","effect":"NoExecute"}]}})"},
    // PodStatus.containerStatuses is +listType=atomic (no merge key).
    {"ContainerStatusesReplaced",
     R"({"status":{"containerStatuses":[{"name":"a","ready":false,"restartCount":1},{"name":"b","ready":true}]}})",
     R"({"status":{"containerStatuses":[{"name":"a","ready":true}]}})",
     R"({"status":{"containerStatuses":[{"name":"a","ready":true}]}})"},
};
INSTANTIATE_TEST_SUITE_P(AtomicLists, StrategicMergePatch, ::testing::ValuesIn(kSmpAtomicLists), caseName);

// metadata.finalizers is patchStrategy=merge over strings: a set.
const PatchCase kSmpPrimitiveLists[] = {
    {"FinalizersMergedAsSet", R"({"metadata":{"finalizers":["a","b"]}})",
     R"({"metadata":{"finalizers":["b","c"]}})", R"({"metadata":{"finalizers":["a","b","c"]}})"},
    {"FinalizersAlreadyPresentUnchanged", R"({"metadata":{"finalizers":["a","b"]}})",
     R"({"metadata":{"finalizers":["a"]}})", R"({"metadata":{"finalizers":["a","b"]}})"},
    {"FinalizersNewList", R"({"metadata":{}})", R"({"metadata":{"finalizers":["x"]}})",
     R"({"metadata":{"finalizers":["x"]}})"},
    {"DeleteFromPrimitiveList", R"({"metadata":{"finalizers":["a","b","c"]}})",
     R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["b"]}})",
     R"({"metadata":{"finalizers":["a","c"]}})"},
    {"DeleteFromPrimitiveListAllDuplicates", R"({"metadata":{"finalizers":["a","b","b"]}})",
     R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["b"]}})", R"({"metadata":{"finalizers":["a"]}})"},
    {"DeleteFromPrimitiveListMissingItem", R"({"metadata":{"finalizers":["a"]}})",
     R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["z"]}})", R"({"metadata":{"finalizers":["a"]}})"},
    {"DeleteFromPrimitiveListMissingListNotAdded", R"({"metadata":{"name":"n"}})",
     R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["z"]}})", R"({"metadata":{"name":"n"}})"},
    {"DeleteFromPrimitiveListThenAdd", R"({"metadata":{"finalizers":["a","b"]}})",
     R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"],"finalizers":["b","c"]}})",
     R"({"metadata":{"finalizers":["b","c"]}})"},
    {"PlainStringListReplaced", R"({"spec":{"containers":[{"name":"a","args":["x","y"]}]}})",
     R"({"spec":{"containers":[{"name":"a","args":["y","z"]}]}})",
     R"({"spec":{"containers":[{"name":"a","args":["y","z"]}]}})"},
};
INSTANTIATE_TEST_SUITE_P(PrimitiveLists, StrategicMergePatch, ::testing::ValuesIn(kSmpPrimitiveLists),
                         caseName);

// Order of merged lists (design proposal "preserve order in strategic merge
// patch"): $setElementOrder first, then the patch's order, then the live
// order; server-only items keep their place relative to their neighbours.
const PatchCase kSmpOrdering[] = {
    {"SetElementOrderReorders", R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}})",
     R"({"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"},{"name":"b"}]}})",
     R"({"spec":{"containers":[{"name":"c"},{"name":"a"},{"name":"b"}]}})"},
    {"SetElementOrderPlacesNewItem", R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})",
     R"({"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"new"},{"name":"b"}],
                 "containers":[{"name":"new","image":"n"}]}})",
     R"({"spec":{"containers":[{"name":"a"},{"name":"new","image":"n"},{"name":"b"}]}})"},
    {"SetElementOrderWithDelete", R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}})",
     R"({"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"}],
                 "containers":[{"name":"b","$patch":"delete"}]}})",
     R"({"spec":{"containers":[{"name":"c"},{"name":"a"}]}})"},
    // Upstream "set elements order in a list with server-only items".
    {"SetElementOrderServerOnlyItemLast",
     R"({"spec":{"containers":[{"name":"1","other":"a"},{"name":"3","value":3},{"name":"4","value":4},{"name":"2","value":2},{"name":"9"}]}})",
     R"({"spec":{"$setElementOrder/containers":[{"name":"4"},{"name":"2"},{"name":"3"},{"name":"1"}]}})",
     R"({"spec":{"containers":[{"name":"4","value":4},{"name":"2","value":2},{"name":"3","value":3},{"name":"1","other":"a"},{"name":"9"}]}})"},
    // Upstream "... with server-only items 2": a server-only item is placed
    // before the first ordered item that followed it in the live list.
    {"SetElementOrderServerOnlyItemInterleaved",
     R"({"spec":{"containers":[{"name":"1","other":"a"},{"name":"2","value":2},{"name":"9"},{"name":"3","value":3},{"name":"4","value":4}]}})",
     R"({"spec":{"$setElementOrder/containers":[{"name":"2"},{"name":"1"},{"name":"4"},{"name":"3"}]}})",
     R"({"spec":{"containers":[{"name":"2","value":2},{"name":"1","other":"a"},{"name":"9"},{"name":"4","value":4},{"name":"3","value":3}]}})"},
    {"SetElementOrderOfFinalizers", R"({"metadata":{"finalizers":["a","b"]}})",
     R"({"metadata":{"$setElementOrder/finalizers":["b","a"]}})", R"({"metadata":{"finalizers":["b","a"]}})"},
    // What kubectl apply sends when it adds a finalizer before existing ones.
    {"SetElementOrderOfFinalizersWithNewItem", R"({"metadata":{"finalizers":["a","b"]}})",
     R"({"metadata":{"$setElementOrder/finalizers":["c","a","b"],"finalizers":["c"]}})",
     R"({"metadata":{"finalizers":["c","a","b"]}})"},
    // Without $setElementOrder, items the live list lacks come first
    // (mergeSortedSlice: a server-only item only goes before a patch item it
    // is known to precede). The documented example: "kubectl patch
    // deployment patch-demo" with a redis container lists redis first.
    {"NewContainerWithoutOrderGoesFirst", R"({"spec":{"containers":[{"name":"nginx","image":"nginx"}]}})",
     R"({"spec":{"containers":[{"name":"redis","image":"redis"}]}})",
     R"({"spec":{"containers":[{"name":"redis","image":"redis"},{"name":"nginx","image":"nginx"}]}})"},
    {"NewFinalizerWithoutOrderGoesFirst", R"({"metadata":{"finalizers":["a","b"]}})",
     R"({"metadata":{"finalizers":["c"]}})", R"({"metadata":{"finalizers":["c","a","b"]}})"},
    {"ModifiedItemsInLiveOrderStayPut", R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}})",
     R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"c","image":"z"}]}})",
     R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b"},{"name":"c","image":"z"}]}})"},
    // The patch's own order outranks the live order: patch items come in
    // patch order, and b (live, before c) is slotted in ahead of c.
    {"PatchOrderOutranksLiveOrder", R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}})",
     R"({"spec":{"containers":[{"name":"c","image":"z"},{"name":"a","image":"x"}]}})",
     R"({"spec":{"containers":[{"name":"b"},{"name":"c","image":"z"},{"name":"a","image":"x"}]}})"},
};
INSTANTIATE_TEST_SUITE_P(Ordering, StrategicMergePatch, ::testing::ValuesIn(kSmpOrdering), caseName);

class StrategicMergePatchError : public ::testing::TestWithParam<PatchErrorCase> {};

TEST_P(StrategicMergePatchError, Fails) {
  const auto& c = GetParam();
  auto r = applyStrategicMergePatch(json(c.original), json(c.patch));
  ASSERT_FALSE(r.isOk()) << r->dump();
  if (c.code != Code::kOk) {
    EXPECT_EQ(r.status().code(), c.code) << r.status().message();
  }
}

const PatchErrorCase kSmpErrors[] = {
    // "map: ... does not contain declared merge key: name"
    {"MissingMergeKey", R"({"spec":{"containers":[{"name":"a","image":"x"}]}})",
     R"({"spec":{"containers":[{"image":"y"}]}})", Code::kOk},
    {"MissingMergeKeyOnDelete", R"({"spec":{"containers":[{"name":"a"}]}})",
     R"({"spec":{"containers":[{"$patch":"delete"}]}})", Code::kOk},
    {"NotAnObject", R"({})", R"([{"op":"add","path":"/a","value":1}])", Code::kBadRequest},
    // mergepatch.ErrBadPatchFormatForRetainKeys, answered as 400: every
    // field set by the patch must be listed in $retainKeys.
    {"RetainKeysMissingPatchedField", R"({"spec":{"strategy":{"type":"RollingUpdate"}}})",
     R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate","rollingUpdate":{"maxSurge":1}}}})",
     Code::kBadRequest},
};
INSTANTIATE_TEST_SUITE_P(Errors, StrategicMergePatchError, ::testing::ValuesIn(kSmpErrors), errorName);

// ---------------------------------------------------------------------------
// mergeKeyOf: the patchMergeKey tags of k8s.io/api (core/v1 types.go).

struct MergeKeyCase {
  std::string field;
  std::string sample;
  std::string key;  // "" = no merge key: replaced whole
};

void PrintTo(const MergeKeyCase& c, std::ostream* os) { *os << c.field << " " << c.sample; }

class MergeKeyOf : public ::testing::TestWithParam<MergeKeyCase> {};

TEST_P(MergeKeyOf, MatchesUpstreamTags) {
  const auto& c = GetParam();
  EXPECT_EQ(mergeKeyOf(c.field, json(c.sample)), c.key) << c.field << " " << c.sample;
}

const MergeKeyCase kMergeKeys[] = {
    {"containers", R"({"name":"a"})", "name"},
    {"initContainers", R"({"name":"a"})", "name"},
    {"ephemeralContainers", R"({"name":"a"})", "name"},
    {"ports", R"({"containerPort":80})", "containerPort"},
    {"ports", R"({"port":80})", "port"},
    {"ports", R"({"port":80,"targetPort":8080,"nodePort":30080})", "port"},
    {"env", R"({"name":"A"})", "name"},
    {"volumes", R"({"name":"v"})", "name"},
    {"volumeMounts", R"({"mountPath":"/d"})", "mountPath"},
    {"volumeDevices", R"({"devicePath":"/dev/x"})", "devicePath"},
    {"imagePullSecrets", R"({"name":"s"})", "name"},
    {"hostAliases", R"({"ip":"1.2.3.4"})", "ip"},
    {"topologySpreadConstraints", R"({"topologyKey":"zone"})", "topologyKey"},
    {"conditions", R"({"type":"Ready"})", "type"},
    {"addresses", R"({"type":"InternalIP"})", "type"},
    {"ownerReferences", R"({"uid":"u"})", "uid"},
    {"secrets", R"({"name":"s"})", "name"},
    {"schedulingGates", R"({"name":"g"})", "name"},
    {"args", R"("a")", ""},
    {"command", R"("a")", ""},
    {"tolerations", R"({"key":"k"})", ""},
    {"taints", R"({"key":"k","effect":"NoSchedule"})", ""},
    {"containerStatuses", R"({"name":"a"})", ""},
    {"initContainerStatuses", R"({"name":"a"})", ""},
    {"matchExpressions", R"({"key":"a"})", ""},
};
INSTANTIATE_TEST_SUITE_P(CoreV1, MergeKeyOf, ::testing::ValuesIn(kMergeKeys), [](const auto& info) {
  std::string n = info.param.field + "_" + std::to_string(info.index);
  return n;
});

// With the kind's schema, the schema's merge keys and strategies decide.
TEST(StrategicMergePatchWithSchema, FollowsTheBuiltinSchemas) {
  const Schemas& s = Schemas::builtin();
  // NodeSpec.podCIDRs is a set merged by value (patchStrategy merge, no key).
  auto node = applyStrategicMergePatch(json(R"({"spec":{"podCIDRs":["10.0.0.0/24"]}})"),
                                       json(R"({"spec":{"podCIDRs":["fd00::/64"]}})"), &s, "io.k8s.api.core.v1.Node");
  ASSERT_TRUE(node.isOk()) << node.status().message();
  // New items come first when the patch gives no order, as upstream.
  EXPECT_EQ((*node)["spec"]["podCIDRs"], json(R"(["fd00::/64","10.0.0.0/24"])"));
  // Containers by name, their env by name, tolerations replaced whole.
  auto pod = applyStrategicMergePatch(
      json(R"({"spec":{"containers":[{"name":"a","image":"x","env":[{"name":"A","value":"1"}]},{"name":"b","image":"y"}],
               "tolerations":[{"key":"k1"}]}})"),
      json(R"({"spec":{"containers":[{"name":"a","env":[{"name":"B","value":"2"}]}],"tolerations":[{"key":"k2"}]}})"), &s,
      s.kindDefinition("", "v1", "Pod"));
  ASSERT_TRUE(pod.isOk()) << pod.status().message();
  EXPECT_EQ((*pod)["spec"]["containers"][0]["env"], json(R"([{"name":"B","value":"2"},{"name":"A","value":"1"}])"));
  EXPECT_EQ((*pod)["spec"]["containers"][1]["image"], "y");
  EXPECT_EQ((*pod)["spec"]["tolerations"], json(R"([{"key":"k2"}])"));
}

TEST(StrategicMergePatchWithSchema, MergeKeyComesFromTheSchemaNotTheFieldName) {
  auto schemas = Schemas::load({{"t.yaml", R"(
t.Root:
  description: r
  type: object
  properties:
    containers:
      description: keyed by id here, not by name
      type: array
      items: {$ref: t.Item}
      x-kubernetes-patch-strategy: merge
      x-kubernetes-patch-merge-key: id
    env:
      description: no strategy here, so replaced whole
      type: array
      items: {$ref: t.Item}
t.Item:
  description: i
  type: object
  properties:
    id: {type: string, description: id}
    name: {type: string, description: name}
)"}});
  ASSERT_TRUE(schemas.isOk()) << schemas.status().message();
  auto r = applyStrategicMergePatch(json(R"({"containers":[{"id":"1","name":"a"}],"env":[{"name":"A"}]})"),
                                    json(R"({"containers":[{"id":"1","name":"b"}],"env":[{"name":"B"}]})"), &*schemas, "t.Root");
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(*r, json(R"({"containers":[{"id":"1","name":"b"}],"env":[{"name":"B"}]})"));
}

}  // namespace
}  // namespace capstan::api
