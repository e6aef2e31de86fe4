#include "api/known_fields.h"

#include <map>
#include <type_traits>
#include <mutex>
#include <regex>
#include <set>

namespace capstan::api {
namespace {

const std::set<std::string>& rootFields(const ResourceInfo& info) {
  static const std::set<std::string> kSpecStatus = {"apiVersion", "kind", "metadata", "spec", "status"};
  static const std::map<std::string, std::set<std::string>> kByKind = {
      {"ConfigMap", {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"}},
      {"Secret", {"apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"}},
      {"Endpoints", {"apiVersion", "kind", "metadata", "subsets"}},
      {"ServiceAccount", {"apiVersion", "kind", "metadata", "secrets", "imagePullSecrets", "automountServiceAccountToken"}},
      {"ControllerRevision", {"apiVersion", "kind", "metadata", "data", "revision"}},
      {"EndpointSlice", {"apiVersion", "kind", "metadata", "addressType", "endpoints", "ports"}},
      {"PriorityClass", {"apiVersion", "kind", "metadata", "value", "globalDefault", "description", "preemptionPolicy"}},
  };
  static const std::set<std::string> kCoreEvent = {
      "apiVersion", "kind", "metadata", "involvedObject", "reason", "message", "source", "firstTimestamp",
      "lastTimestamp", "count", "type", "eventTime", "series", "action", "related", "reportingComponent",
      "reportingInstance"};
  static const std::set<std::string> kEventsV1 = {
      "apiVersion", "kind", "metadata", "eventTime", "series", "reportingController", "reportingInstance",
      "action", "reason", "regarding", "related", "note", "type", "deprecatedSource", "deprecatedFirstTimestamp",
      "deprecatedLastTimestamp", "deprecatedCount"};
  if (info.kind == "Event") return info.group.empty() ? kCoreEvent : kEventsV1;
  auto it = kByKind.find(info.kind);
  return it == kByKind.end() ? kSpecStatus : it->second;
}

const std::set<std::string> kObjectMeta = {
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields"};

}  // namespace

namespace {

// The fields of the nested types that manifests spell most often, so a typo
// there ("spec.replica", "containers[0].imagee") is caught as upstream's
// decoder catches it. A shape lists its fields and which of them hold
// another known shape (one object, or a list of them).
struct Shape {
  std::set<std::string> fields;
  std::map<std::string, std::pair<std::string, bool>> children;  // field -> (shape, is_list)
};

const std::map<std::string, Shape>& shapes() {
  static const std::map<std::string, Shape> kShapes = [] {
    std::map<std::string, Shape> m;
    m["ObjectMeta"] = {kObjectMeta, {}};
    m["PodTemplateSpec"] = {{"metadata", "spec"}, {{"metadata", {"ObjectMeta", false}}, {"spec", {"PodSpec", false}}}};
    m["PodSpec"] = {{"volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy",
                     "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "nodeSelector",
                     "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName", "hostNetwork",
                     "hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname",
                     "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName",
                     "priority", "dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks",
                     "preemptionPolicy", "overhead", "topologySpreadConstraints", "setHostnameAsFQDN", "os",
                     "hostUsers", "schedulingGates", "resourceClaims", "resources"},
                    {{"containers", {"Container", true}}, {"initContainers", {"Container", true}}}};
    m["Container"] = {{"name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
                       "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
                       "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
                       "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty"},
                      {}};
    const std::pair<std::string, bool> kTemplate{"PodTemplateSpec", false};
    m["DeploymentSpec"] = {{"replicas", "selector", "template", "strategy", "minReadySeconds", "revisionHistoryLimit",
                            "paused", "progressDeadlineSeconds"},
                           {{"template", kTemplate}}};
    m["ReplicaSetSpec"] = {{"replicas", "minReadySeconds", "selector", "template"}, {{"template", kTemplate}}};
    m["StatefulSetSpec"] = {{"replicas", "selector", "template", "volumeClaimTemplates", "serviceName",
                             "podManagementPolicy", "updateStrategy", "revisionHistoryLimit", "minReadySeconds",
                             "persistentVolumeClaimRetentionPolicy", "ordinals"},
                            {{"template", kTemplate}}};
    m["DaemonSetSpec"] = {{"selector", "template", "updateStrategy", "minReadySeconds", "revisionHistoryLimit"},
                          {{"template", kTemplate}}};
    m["JobSpec"] = {{"parallelism", "completions", "activeDeadlineSeconds", "podFailurePolicy", "successPolicy",
                     "backoffLimit", "backoffLimitPerIndex", "maxFailedIndexes", "selector", "manualSelector",
                     "template", "ttlSecondsAfterFinished", "completionMode", "suspend", "podReplacementPolicy",
                     "managedBy"},
                    {{"template", kTemplate}}};
    m["JobTemplateSpec"] = {{"metadata", "spec"}, {{"metadata", {"ObjectMeta", false}}, {"spec", {"JobSpec", false}}}};
    m["CronJobSpec"] = {{"schedule", "timeZone", "startingDeadlineSeconds", "concurrencyPolicy", "suspend",
                         "jobTemplate", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"},
                        {{"jobTemplate", {"JobTemplateSpec", false}}}};
    m["ServiceSpec"] = {{"ports", "selector", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity",
                         "loadBalancerIP", "loadBalancerSourceRanges", "externalName", "externalTrafficPolicy",
                         "healthCheckNodePort", "publishNotReadyAddresses", "sessionAffinityConfig", "ipFamilies",
                         "ipFamilyPolicy", "allocateLoadBalancerNodePorts", "loadBalancerClass",
                         "internalTrafficPolicy", "trafficDistribution"},
                        {}};
    m["NamespaceSpec"] = {{"finalizers"}, {}};
    m["NodeSpec"] = {{"podCIDR", "podCIDRs", "providerID", "unschedulable", "taints", "configSource", "externalID"}, {}};
    return m;
  }();
  return kShapes;
}

// The shape of a kind's spec, or "".
std::string specShape(const ResourceInfo& info) {
  static const std::map<std::string, std::string> kSpecs = {
      {"apps/Deployment", "DeploymentSpec"}, {"apps/ReplicaSet", "ReplicaSetSpec"},
      {"apps/StatefulSet", "StatefulSetSpec"}, {"apps/DaemonSet", "DaemonSetSpec"},
      {"batch/Job", "JobSpec"},               {"batch/CronJob", "CronJobSpec"},
      {"/Service", "ServiceSpec"},            {"/Pod", "PodSpec"},
      {"/Namespace", "NamespaceSpec"},        {"/Node", "NodeSpec"}};
  auto it = kSpecs.find(info.group + "/" + info.kind);
  return it == kSpecs.end() ? "" : it->second;
}

// Collects (and with `erase`, removes) the unknown fields of `node`, an
// object of shape `shape` at `path`. JsonT is Json or const Json.
template <typename JsonT>
void scanShape(JsonT& node, const std::string& shape_name, const std::string& path, bool erase,
               std::vector<std::string>* out) {
  if (!node.is_object()) return;
  const auto& all = shapes();
  auto sh = all.find(shape_name);
  if (sh == all.end()) return;
  const Shape& shape = sh->second;
  std::vector<std::string> unknown;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!shape.fields.count(it.key())) {
      unknown.push_back(it.key());
      continue;
    }
    auto child = shape.children.find(it.key());
    if (child == shape.children.end()) continue;
    std::string here = path + "." + it.key();
    if (child->second.second) {
      if (!it.value().is_array()) continue;
      for (size_t i = 0; i < it.value().size(); ++i)
        scanShape(it.value()[i], child->second.first, here + "[" + std::to_string(i) + "]", erase, out);
    } else {
      scanShape(it.value(), child->second.first, here, erase, out);
    }
  }
  for (const auto& k : unknown) {
    out->push_back(path + "." + k);
    if constexpr (!std::is_const_v<JsonT>) {
      if (erase) node.erase(k);
    }
  }
}

template <typename JsonT>
std::vector<std::string> scan(const ResourceInfo& info, JsonT& obj, bool erase) {
  std::vector<std::string> out;
  if (!obj.is_object()) return out;
  const auto& roots = rootFields(info);
  std::vector<std::string> top;
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (!roots.count(it.key())) top.push_back(it.key());
  for (const auto& k : top) {
    out.push_back(k);
    if constexpr (!std::is_const_v<JsonT>) {
      if (erase) obj.erase(k);
    }
  }
  if (auto m = obj.find("metadata"); m != obj.end()) scanShape(*m, "ObjectMeta", "metadata", erase, &out);
  if (std::string spec = specShape(info); !spec.empty())
    if (auto sp = obj.find("spec"); sp != obj.end()) scanShape(*sp, spec, "spec", erase, &out);
  return out;
}

}  // namespace

std::vector<std::string> unknownFields(const ResourceInfo& info, const Json& obj) { return scan(info, obj, false); }

void dropUnknownFields(const ResourceInfo& info, Json& obj) { (void)scan(info, obj, true); }

}  // namespace capstan::api

namespace capstan::api {
namespace {

enum class T { kString, kInt, kBool, kObject, kArray, kStringMap, kStringList, kObjectList, kIntOrString, kQuantityMap };

// resource.Quantity's syntax: a signed decimal with an optional binary
// (Ki..Ei), decimal (n u m k M G T P E) or exponent suffix.
bool isQuantity(const Json& v) {
  if (v.is_number()) return true;
  if (!v.is_string()) return false;
  static const std::regex kQuantity(R"(^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?[0-9]+)?$)");
  return std::regex_match(v.get<std::string>(), kQuantity);
}

struct FieldType {
  std::string path;  // dotted; "[]" steps into every element of an array
  T type;
  const char* go_type;
};

const char* jsonTypeName(const Json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "bool";
  if (v.is_number()) return "number";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "null";
}

bool matches(const Json& v, T t) {
  if (v.is_null()) return true;  // absent, as Go's decoder treats null
  switch (t) {
    case T::kString: return v.is_string();
    case T::kInt: return v.is_number_integer();
    case T::kBool: return v.is_boolean();
    case T::kObject: return v.is_object();
    case T::kArray: return v.is_array();
    case T::kStringMap:
      if (!v.is_object()) return false;
      for (const auto& e : v) if (!e.is_string() && !e.is_null()) return false;
      return true;
    case T::kStringList:
      if (!v.is_array()) return false;
      for (const auto& e : v) if (!e.is_string()) return false;
      return true;
    case T::kObjectList:
      if (!v.is_array()) return false;
      for (const auto& e : v) if (!e.is_object() && !e.is_null()) return false;
      return true;
    case T::kIntOrString: return v.is_number_integer() || v.is_string();
    case T::kQuantityMap:
      if (!v.is_object()) return false;
      for (const auto& e : v) if (!isQuantity(e)) return false;
      return true;
  }
  return false;
}

// Walks `path` from `node`; calls check on every value found.
bool walk(const Json& node, std::string_view path, const FieldType& ft, std::string* bad_path, std::string* bad_type,
          const std::string& prefix) {
  auto dot = path.find('.');
  std::string_view head = path.substr(0, dot);
  std::string_view rest = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  bool each = head.size() > 2 && head.substr(head.size() - 2) == "[]";
  std::string key(each ? head.substr(0, head.size() - 2) : head);
  if (!node.is_object()) return true;
  auto it = node.find(key);
  if (it == node.end() || it->is_null()) return true;
  std::string here = prefix.empty() ? key : prefix + "." + key;
  if (each) {
    if (!it->is_array()) {
      *bad_path = here;
      *bad_type = jsonTypeName(*it);
      return false;
    }
    for (const auto& e : *it) {
      if (rest.empty()) {
        if (!matches(e, ft.type)) { *bad_path = here; *bad_type = jsonTypeName(e); return false; }
      } else if (!walk(e, rest, ft, bad_path, bad_type, here)) {
        return false;
      }
    }
    return true;
  }
  if (rest.empty()) {
    if (!matches(*it, ft.type)) {
      *bad_path = here;
      *bad_type = jsonTypeName(*it);
      return false;
    }
    return true;
  }
  return walk(*it, rest, ft, bad_path, bad_type, here);
}

const std::vector<FieldType> kCommon = {
    {"metadata", T::kObject, "v1.ObjectMeta"},
    {"metadata.name", T::kString, "string"},
    {"metadata.generateName", T::kString, "string"},
    {"metadata.namespace", T::kString, "string"},
    {"metadata.uid", T::kString, "types.UID"},
    {"metadata.resourceVersion", T::kString, "string"},
    {"metadata.generation", T::kInt, "int64"},
    {"metadata.creationTimestamp", T::kString, "v1.Time"},
    {"metadata.deletionTimestamp", T::kString, "v1.Time"},
    {"metadata.deletionGracePeriodSeconds", T::kInt, "int64"},
    {"metadata.labels", T::kStringMap, "map[string]string"},
    {"metadata.annotations", T::kStringMap, "map[string]string"},
    {"metadata.finalizers", T::kStringList, "[]string"},
    {"metadata.ownerReferences", T::kObjectList, "[]v1.OwnerReference"},
    {"metadata.ownerReferences[].apiVersion", T::kString, "string"},
    {"metadata.ownerReferences[].kind", T::kString, "string"},
    {"metadata.ownerReferences[].name", T::kString, "string"},
    {"metadata.ownerReferences[].uid", T::kString, "types.UID"},
    {"metadata.ownerReferences[].controller", T::kBool, "bool"},
    {"metadata.ownerReferences[].blockOwnerDeletion", T::kBool, "bool"},
    {"metadata.managedFields", T::kObjectList, "[]v1.ManagedFieldsEntry"},
};

// Pod spec fields, relative to a pod spec.
const std::vector<FieldType> kPodSpec = {
    {"containers", T::kObjectList, "[]v1.Container"},
    {"initContainers", T::kObjectList, "[]v1.Container"},
    {"containers[].name", T::kString, "string"},
    {"containers[].image", T::kString, "string"},
    {"containers[].command", T::kStringList, "[]string"},
    {"containers[].args", T::kStringList, "[]string"},
    {"containers[].ports", T::kObjectList, "[]v1.ContainerPort"},
    {"containers[].ports[].containerPort", T::kInt, "int32"},
    {"containers[].env", T::kObjectList, "[]v1.EnvVar"},
    {"containers[].env[].name", T::kString, "string"},
    {"containers[].env[].value", T::kString, "string"},
    {"containers[].resources", T::kObject, "v1.ResourceRequirements"},
    {"containers[].resources.limits", T::kQuantityMap, "resource.Quantity"},
    {"containers[].resources.requests", T::kQuantityMap, "resource.Quantity"},
    {"initContainers[].resources.limits", T::kQuantityMap, "resource.Quantity"},
    {"initContainers[].resources.requests", T::kQuantityMap, "resource.Quantity"},
    {"containers[].volumeMounts", T::kObjectList, "[]v1.VolumeMount"},
    {"initContainers[].name", T::kString, "string"},
    {"initContainers[].image", T::kString, "string"},
    {"volumes", T::kObjectList, "[]v1.Volume"},
    {"volumes[].name", T::kString, "string"},
    {"nodeSelector", T::kStringMap, "map[string]string"},
    {"nodeName", T::kString, "string"},
    {"restartPolicy", T::kString, "v1.RestartPolicy"},
    {"tolerations", T::kObjectList, "[]v1.Toleration"},
    {"terminationGracePeriodSeconds", T::kInt, "int64"},
};

std::vector<FieldType> forKind(const ResourceInfo& info) {
  std::vector<FieldType> out = kCommon;
  auto addPodSpec = [&](const std::string& at) {
    for (const auto& f : kPodSpec) out.push_back({at + "." + f.path, f.type, f.go_type});
  };
  if (info.kind == "ConfigMap") {
    out.push_back({"data", T::kStringMap, "map[string]string"});
    out.push_back({"binaryData", T::kStringMap, "map[string][]uint8"});
    out.push_back({"immutable", T::kBool, "bool"});
  } else if (info.kind == "Secret") {
    out.push_back({"data", T::kStringMap, "map[string][]uint8"});
    out.push_back({"stringData", T::kStringMap, "map[string]string"});
    out.push_back({"type", T::kString, "v1.SecretType"});
    out.push_back({"immutable", T::kBool, "bool"});
  } else {
    out.push_back({"spec", T::kObject, "spec"});
    out.push_back({"status", T::kObject, "status"});
  }
  if (info.kind == "Pod") addPodSpec("spec");
  if (info.kind == "Deployment" || info.kind == "ReplicaSet" || info.kind == "StatefulSet" || info.kind == "DaemonSet" ||
      info.kind == "Job") {
    out.push_back({"spec.replicas", T::kInt, "int32"});
    out.push_back({"spec.selector", T::kObject, "v1.LabelSelector"});
    out.push_back({"spec.selector.matchLabels", T::kStringMap, "map[string]string"});
    out.push_back({"spec.selector.matchExpressions", T::kObjectList, "[]v1.LabelSelectorRequirement"});
    out.push_back({"spec.template", T::kObject, "v1.PodTemplateSpec"});
    out.push_back({"spec.template.metadata.labels", T::kStringMap, "map[string]string"});
    out.push_back({"spec.template.metadata.annotations", T::kStringMap, "map[string]string"});
    out.push_back({"spec.template.spec", T::kObject, "v1.PodSpec"});
    out.push_back({"spec.strategy.rollingUpdate.maxSurge", T::kIntOrString, "intstr.IntOrString"});
    out.push_back({"spec.strategy.rollingUpdate.maxUnavailable", T::kIntOrString, "intstr.IntOrString"});
    out.push_back({"spec.updateStrategy.rollingUpdate.maxSurge", T::kIntOrString, "intstr.IntOrString"});
    out.push_back({"spec.updateStrategy.rollingUpdate.maxUnavailable", T::kIntOrString, "intstr.IntOrString"});
    addPodSpec("spec.template.spec");
  }
  if (info.kind == "Job") {
    out.push_back({"spec.parallelism", T::kInt, "int32"});
    out.push_back({"spec.completions", T::kInt, "int32"});
    out.push_back({"spec.backoffLimit", T::kInt, "int32"});
  }
  if (info.kind == "CronJob") {
    out.push_back({"spec.schedule", T::kString, "string"});
    out.push_back({"spec.jobTemplate", T::kObject, "v1.JobTemplateSpec"});
    addPodSpec("spec.jobTemplate.spec.template.spec");
  }
  if (info.kind == "Service") {
    out.push_back({"spec.type", T::kString, "v1.ServiceType"});
    out.push_back({"spec.clusterIP", T::kString, "string"});
    out.push_back({"spec.clusterIPs", T::kStringList, "[]string"});
    out.push_back({"spec.externalIPs", T::kStringList, "[]string"});
    out.push_back({"spec.selector", T::kStringMap, "map[string]string"});
    out.push_back({"spec.ports", T::kObjectList, "[]v1.ServicePort"});
    out.push_back({"spec.ports[].name", T::kString, "string"});
    out.push_back({"spec.ports[].port", T::kInt, "int32"});
    out.push_back({"spec.ports[].nodePort", T::kInt, "int32"});
    out.push_back({"spec.ports[].protocol", T::kString, "v1.Protocol"});
    out.push_back({"spec.ports[].targetPort", T::kIntOrString, "intstr.IntOrString"});
  }
  if (info.kind == "Namespace") out.push_back({"spec.finalizers", T::kStringList, "[]v1.FinalizerName"});
  if (info.kind == "Node") {
    out.push_back({"spec.unschedulable", T::kBool, "bool"});
    out.push_back({"spec.taints", T::kObjectList, "[]v1.Taint"});
  }
  return out;
}

// The table of a kind, built once: requests only read it.
const std::vector<FieldType>& cachedForKind(const ResourceInfo& info) {
  static std::mutex mu;
  static std::map<std::string, std::vector<FieldType>> cache;
  std::lock_guard lock(mu);
  auto key = info.group + "/" + info.kind;
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, forKind(info)).first;
  return it->second;  // entries are never erased or changed
}

}  // namespace

Status checkFieldTypes(const ResourceInfo& info, const Json& obj) {
  if (!obj.is_object()) return Status(Code::kBadRequest, "the object must be a JSON object");
  for (const auto& ft : cachedForKind(info)) {
    std::string bad_path, bad_type;
    if (!walk(obj, ft.path, ft, &bad_path, &bad_type, "")) {
      return Status(Code::kBadRequest,
                    info.kind + " in version \"" + info.version + "\" cannot be handled as a " + info.kind +
                        ": json: cannot unmarshal " + bad_type + " into Go struct field " + bad_path + " of type " +
                        ft.go_type);
    }
  }
  return Status::ok();
}

}  // namespace capstan::api
