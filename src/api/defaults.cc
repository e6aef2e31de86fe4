// SetDefaults_* of core/v1, apps/v1, batch/v1 and discovery.k8s.io/v1, on
// JSON. Each helper mirrors one upstream defaulting function; Go's "unset"
// is absent-or-null for pointers and absent-or-empty for strings and numbers.
#include "api/defaults.h"

#include "api/volume_sources.h"

#include <algorithm>
#include <optional>
#include <string>

#include "common/base64.h"

namespace capstan::api {
namespace {

// ---------------------------------------------------------------- helpers

bool unset(const Json& obj, const char* k) {
  auto it = obj.find(k);
  return it == obj.end() || it->is_null();
}

// A Go pointer field: defaulted when nil.
void setIfNull(Json& obj, const char* k, Json v) {
  if (obj.is_object() && unset(obj, k)) obj[k] = std::move(v);
}

// A Go string field: defaulted when "".
void setIfEmpty(Json& obj, const char* k, const char* v) {
  if (!obj.is_object()) return;
  auto it = obj.find(k);
  if (it == obj.end() || it->is_null() || (it->is_string() && it->get_ref<const std::string&>().empty()))
    obj[k] = v;
}

// A Go integer field: defaulted when 0.
void setIfZero(Json& obj, const char* k, int64_t v) {
  if (!obj.is_object()) return;
  auto it = obj.find(k);
  if (it == obj.end() || it->is_null() || (it->is_number() && it->get<double>() == 0)) obj[k] = v;
}

// The object at obj[k], created when absent; nullptr when obj[k] holds
// something else.
Json* ensureObject(Json& obj, const char* k) {
  if (!obj.is_object()) return nullptr;
  Json& v = obj[k];
  if (v.is_null()) v = Json::object();
  return v.is_object() ? &v : nullptr;
}

// The object at obj[k] if present, without creating it.
Json* existing(Json& obj, const char* k) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(k);
  return it != obj.end() && it->is_object() ? &*it : nullptr;
}

template <typename F>
void forEachObject(Json& obj, const char* k, F f) {
  if (!obj.is_object()) return;
  auto it = obj.find(k);
  if (it == obj.end() || !it->is_array()) return;
  for (auto& item : *it)
    if (item.is_object()) f(item);
}

std::string stringAt(const Json& obj, const char* k) {
  if (!obj.is_object()) return "";
  auto it = obj.find(k);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

bool hasEntries(const Json& obj, const char* k) {
  if (!obj.is_object()) return false;
  auto it = obj.find(k);
  return it != obj.end() && (it->is_object() || it->is_array()) && !it->empty();
}

// ---------------------------------------------------------------- containers

// The tag parsers.ParseImageName finds: "latest" when neither tag nor digest
// is given, "" when the reference does not parse.
std::string imageTag(const std::string& image) {
  if (image.empty()) return "";
  std::string name = image;
  bool digest = false;
  if (auto at = name.find('@'); at != std::string::npos) {
    digest = true;
    name = name.substr(0, at);
  }
  std::string tag;
  auto slash = name.rfind('/');
  auto colon = name.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    tag = name.substr(colon + 1);
    name = name.substr(0, colon);
    if (tag.empty()) return "";
  }
  // The domain (a first component with '.', ':', uppercase, or localhost)
  // may use any case; the repository path must be lower case.
  auto first_slash = name.find('/');
  std::string path = name;
  if (first_slash != std::string::npos) {
    std::string first = name.substr(0, first_slash);
    bool domain = first.find_first_of(".:") != std::string::npos || first == "localhost" ||
                  std::any_of(first.begin(), first.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    if (domain) path = name.substr(first_slash + 1);
  }
  bool path_ok = !path.empty() && std::all_of(path.begin(), path.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/';
  });
  bool tag_ok = std::all_of(tag.begin(), tag.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  if (!path_ok || !tag_ok || tag.size() > 128) return "";
  if (tag.empty() && !digest) return "latest";
  return tag;
}

void defaultHttpGet(Json& handler) {
  if (Json* http = existing(handler, "httpGet")) {
    setIfEmpty(*http, "path", "/");
    setIfEmpty(*http, "scheme", "HTTP");
  }
}

void defaultProbe(Json& probe) {
  setIfZero(probe, "timeoutSeconds", 1);
  setIfZero(probe, "periodSeconds", 10);
  setIfZero(probe, "successThreshold", 1);
  setIfZero(probe, "failureThreshold", 3);
  defaultHttpGet(probe);
  if (Json* grpc = existing(probe, "grpc")) setIfNull(*grpc, "service", "");
}

void defaultFieldRef(Json& holder) {
  if (Json* ref = existing(holder, "fieldRef")) setIfEmpty(*ref, "apiVersion", "v1");
}

// SetDefaults_Container (regular, init and ephemeral containers).
void defaultContainer(Json& c) {
  if (unset(c, "imagePullPolicy") || stringAt(c, "imagePullPolicy").empty())
    c["imagePullPolicy"] = imageTag(stringAt(c, "image")) == "latest" ? "Always" : "IfNotPresent";
  setIfEmpty(c, "terminationMessagePath", "/dev/termination-log");
  setIfEmpty(c, "terminationMessagePolicy", "File");
  setIfNull(c, "resources", Json::object());
  forEachObject(c, "ports", [](Json& p) { setIfEmpty(p, "protocol", "TCP"); });
  forEachObject(c, "env", [](Json& e) {
    if (Json* from = existing(e, "valueFrom")) defaultFieldRef(*from);
  });
  for (const char* k : {"livenessProbe", "readinessProbe", "startupProbe"})
    if (Json* p = existing(c, k)) defaultProbe(*p);
  if (Json* lc = existing(c, "lifecycle")) {
    for (const char* k : {"postStart", "preStop"})
      if (Json* h = existing(*lc, k)) defaultHttpGet(*h);
  }
}

// ---------------------------------------------------------------- volumes



constexpr int64_t kDefaultMode = 0644;  // 420

void defaultDownwardApiItems(Json& src) {
  forEachObject(src, "items", [](Json& item) { defaultFieldRef(item); });
}

void defaultPvcSpec(Json& spec) { setIfNull(spec, "volumeMode", "Filesystem"); }

void defaultVolume(Json& v) {
  bool any = std::any_of(std::begin(kVolumeSources), std::end(kVolumeSources),
                         [&](const char* k) { return !unset(v, k); });
  if (!any) v["emptyDir"] = Json::object();
  if (Json* s = existing(v, "secret")) setIfNull(*s, "defaultMode", kDefaultMode);
  if (Json* s = existing(v, "configMap")) setIfNull(*s, "defaultMode", kDefaultMode);
  if (Json* s = existing(v, "downwardAPI")) {
    setIfNull(*s, "defaultMode", kDefaultMode);
    defaultDownwardApiItems(*s);
  }
  if (Json* s = existing(v, "projected")) {
    setIfNull(*s, "defaultMode", kDefaultMode);
    forEachObject(*s, "sources", [](Json& src) {
      if (Json* tok = existing(src, "serviceAccountToken")) setIfNull(*tok, "expirationSeconds", 3600);
      if (Json* d = existing(src, "downwardAPI")) defaultDownwardApiItems(*d);
    });
  }
  if (Json* s = existing(v, "hostPath")) setIfNull(*s, "type", "");
  if (Json* s = existing(v, "iscsi")) setIfEmpty(*s, "iscsiInterface", "default");
  if (Json* s = existing(v, "rbd")) {
    setIfEmpty(*s, "pool", "rbd");
    setIfEmpty(*s, "user", "admin");
    setIfEmpty(*s, "keyring", "/etc/ceph/keyring");
  }
  if (Json* s = existing(v, "azureDisk")) {
    setIfNull(*s, "cachingMode", "ReadWrite");
    setIfNull(*s, "kind", "Shared");
    setIfNull(*s, "fsType", "ext4");
    setIfNull(*s, "readOnly", false);
  }
  if (Json* s = existing(v, "scaleIO")) {
    setIfEmpty(*s, "storageMode", "ThinProvisioned");
    setIfEmpty(*s, "fsType", "xfs");
  }
  if (Json* e = existing(v, "ephemeral"))
    if (Json* t = existing(*e, "volumeClaimTemplate"))
      if (Json* spec = existing(*t, "spec")) defaultPvcSpec(*spec);
}

// ---------------------------------------------------------------- pods

// SetDefaults_PodSpec: what templates and pods share.
void defaultPodSpec(Json& spec) {
  setIfEmpty(spec, "dnsPolicy", "ClusterFirst");
  setIfEmpty(spec, "restartPolicy", "Always");
  setIfNull(spec, "securityContext", Json::object());
  setIfNull(spec, "terminationGracePeriodSeconds", 30);
  setIfEmpty(spec, "schedulerName", "default-scheduler");
  for (const char* k : {"containers", "initContainers", "ephemeralContainers"})
    forEachObject(spec, k, defaultContainer);
  forEachObject(spec, "volumes", defaultVolume);
  // The deprecated serviceAccount mirrors serviceAccountName both ways
  // (conversion, not defaulting, but visible the same way).
  if (stringAt(spec, "serviceAccountName").empty() && !stringAt(spec, "serviceAccount").empty())
    spec["serviceAccountName"] = spec["serviceAccount"];
  if (!stringAt(spec, "serviceAccountName").empty()) spec["serviceAccount"] = spec["serviceAccountName"];
}

void defaultPodTemplate(Json& tmpl_parent) {
  Json* tmpl = ensureObject(tmpl_parent, "template");
  if (!tmpl) return;
  if (Json* spec = ensureObject(*tmpl, "spec")) defaultPodSpec(*spec);
}

void requestsFromLimits(Json& c) {
  Json* res = existing(c, "resources");
  if (!res || !hasEntries(*res, "limits") || !(*res)["limits"].is_object()) return;
  Json* requests = ensureObject(*res, "requests");
  if (!requests) return;
  for (auto it = (*res)["limits"].begin(); it != (*res)["limits"].end(); ++it)
    if (unset(*requests, it.key().c_str())) (*requests)[it.key()] = it.value();
}

void defaultPod(Json& obj) {
  Json* spec = ensureObject(obj, "spec");
  if (!spec) return;
  defaultPodSpec(*spec);
  // SetDefaults_Pod: pods only, not templates.
  forEachObject(*spec, "containers", requestsFromLimits);
  forEachObject(*spec, "initContainers", requestsFromLimits);
  setIfNull(*spec, "enableServiceLinks", true);
  auto is_true = [](const Json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_boolean() && it->get<bool>();
  };
  if (is_true(*spec, "hostNetwork")) {
    for (const char* list : {"containers", "initContainers"})
      forEachObject(*spec, list, [](Json& c) {
        forEachObject(c, "ports", [](Json& p) {
          if (unset(p, "containerPort")) return;
          auto it = p.find("hostPort");
          if (it == p.end() || it->is_null() || (it->is_number() && it->get<double>() == 0))
            p["hostPort"] = p["containerPort"];
        });
      });
  }
}

// ---------------------------------------------------------------- apps

void defaultDeployment(Json& obj) {
  Json* spec = ensureObject(obj, "spec");
  if (!spec) return;
  setIfNull(*spec, "replicas", 1);
  if (Json* strategy = ensureObject(*spec, "strategy")) {
    setIfEmpty(*strategy, "type", "RollingUpdate");
    if (stringAt(*strategy, "type") == "RollingUpdate") {
      if (Json* ru = ensureObject(*strategy, "rollingUpdate")) {
        setIfNull(*ru, "maxUnavailable", "25%");
        setIfNull(*ru, "maxSurge", "25%");
      }
    }
  }
  setIfNull(*spec, "revisionHistoryLimit", 10);
  setIfNull(*spec, "progressDeadlineSeconds", 600);
  defaultPodTemplate(*spec);
}

void defaultReplicaSet(Json& obj) {
  Json* spec = ensureObject(obj, "spec");
  if (!spec) return;
  setIfNull(*spec, "replicas", 1);
  defaultPodTemplate(*spec);
}

void defaultDaemonSet(Json& obj) {
  Json* spec = ensureObject(obj, "spec");
  if (!spec) return;
  if (Json* strategy = ensureObject(*spec, "updateStrategy")) {
    setIfEmpty(*strategy, "type", "RollingUpdate");
    if (stringAt(*strategy, "type") == "RollingUpdate") {
      if (Json* ru = ensureObject(*strategy, "rollingUpdate")) {
        setIfNull(*ru, "maxUnavailable", 1);
        setIfNull(*ru, "maxSurge", 0);
      }
    }
  }
  setIfNull(*spec, "revisionHistoryLimit", 10);
  defaultPodTemplate(*spec);
}

void defaultStatefulSet(Json& obj) {
  Json* spec = ensureObject(obj, "spec");
  if (!spec) return;
  setIfEmpty(*spec, "podManagementPolicy", "OrderedReady");
  if (Json* strategy = ensureObject(*spec, "updateStrategy")) {
    if (stringAt(*strategy, "type").empty()) {
      (*strategy)["type"] = "RollingUpdate";
      setIfNull(*strategy, "rollingUpdate", Json::object());
    }
    if (stringAt(*strategy, "type") == "RollingUpdate")
      if (Json* ru = existing(*strategy, "rollingUpdate")) setIfNull(*ru, "partition", 0);
  }
  if (Json* policy = ensureObject(*spec, "persistentVolumeClaimRetentionPolicy")) {
    setIfEmpty(*policy, "whenDeleted", "Retain");
    setIfEmpty(*policy, "whenScaled", "Retain");
  }
  setIfNull(*spec, "replicas", 1);
  setIfNull(*spec, "revisionHistoryLimit", 10);
  forEachObject(*spec, "volumeClaimTemplates", [](Json& pvc) {
    if (Json* s = existing(pvc, "spec")) defaultPvcSpec(*s);
    if (Json* status = ensureObject(pvc, "status")) setIfEmpty(*status, "phase", "Pending");
  });
  defaultPodTemplate(*spec);
}

// ---------------------------------------------------------------- batch

void defaultJob(Json& obj) {
  Json* spec = ensureObject(obj, "spec");
  if (!spec) return;
  if (unset(*spec, "completions") && unset(*spec, "parallelism")) {
    (*spec)["completions"] = 1;
    (*spec)["parallelism"] = 1;
  }
  setIfNull(*spec, "parallelism", 1);
  setIfNull(*spec, "backoffLimit", unset(*spec, "backoffLimitPerIndex") ? 6 : 2147483647);
  // Job labels default to the template's.
  if (Json* tmpl = existing(*spec, "template")) {
    if (Json* tmeta = existing(*tmpl, "metadata")) {
      auto labels = tmeta->find("labels");
      if (labels != tmeta->end() && labels->is_object()) {
        Json* meta = ensureObject(obj, "metadata");
        if (meta && !hasEntries(*meta, "labels")) (*meta)["labels"] = *labels;
      }
    }
  }
  setIfNull(*spec, "completionMode", "NonIndexed");
  setIfNull(*spec, "suspend", false);
  if (Json* pfp = existing(*spec, "podFailurePolicy")) {
    forEachObject(*pfp, "rules", [](Json& rule) {
      forEachObject(rule, "onPodConditions", [](Json& pattern) { setIfEmpty(pattern, "status", "True"); });
    });
  }
  setIfNull(*spec, "podReplacementPolicy",
            existing(*spec, "podFailurePolicy") ? "Failed" : "TerminatingOrFailed");
  defaultPodTemplate(*spec);
}

void defaultCronJob(Json& obj) {
  Json* spec = ensureObject(obj, "spec");
  if (!spec) return;
  setIfEmpty(*spec, "concurrencyPolicy", "Allow");
  setIfNull(*spec, "suspend", false);
  setIfNull(*spec, "successfulJobsHistoryLimit", 3);
  setIfNull(*spec, "failedJobsHistoryLimit", 1);
  // Only the pod template inside gets defaults; SetDefaults_Job is for Jobs.
  if (Json* jt = ensureObject(*spec, "jobTemplate"))
    if (Json* js = ensureObject(*jt, "spec")) defaultPodTemplate(*js);
}

// ---------------------------------------------------------------- core

bool isIpv6Literal(const std::string& ip) { return ip.find(':') != std::string::npos; }

void defaultService(Json& obj) {
  Json* spec = ensureObject(obj, "spec");
  if (!spec) return;
  setIfEmpty(*spec, "sessionAffinity", "None");
  std::string affinity = stringAt(*spec, "sessionAffinity");
  if (affinity == "None") spec->erase("sessionAffinityConfig");
  if (affinity == "ClientIP") {
    const Json* timeout = nullptr;
    if (Json* cfg = existing(*spec, "sessionAffinityConfig"))
      if (Json* cip = existing(*cfg, "clientIP"))
        if (!unset(*cip, "timeoutSeconds")) timeout = &(*cip)["timeoutSeconds"];
    if (!timeout) (*spec)["sessionAffinityConfig"] = {{"clientIP", {{"timeoutSeconds", 10800}}}};
  }
  setIfEmpty(*spec, "type", "ClusterIP");
  std::string type = stringAt(*spec, "type");
  forEachObject(*spec, "ports", [](Json& p) {
    setIfEmpty(p, "protocol", "TCP");
    auto tp = p.find("targetPort");
    bool zero = tp == p.end() || tp->is_null() || (tp->is_number() && tp->get<double>() == 0) ||
                (tp->is_string() && tp->get_ref<const std::string&>().empty());
    if (zero) p["targetPort"] = unset(p, "port") ? Json(0) : p["port"];
  });
  bool externally = type == "LoadBalancer" || type == "NodePort" ||
                    (type == "ClusterIP" && hasEntries(*spec, "externalIPs"));
  if (externally) setIfEmpty(*spec, "externalTrafficPolicy", "Cluster");
  if (type == "NodePort" || type == "LoadBalancer" || type == "ClusterIP")
    setIfNull(*spec, "internalTrafficPolicy", "Cluster");
  if (type == "LoadBalancer") setIfNull(*spec, "allocateLoadBalancerNodePorts", true);

  if (type == "ExternalName") return;
  // What the service REST layer settles before allocation: clusterIP and
  // clusterIPs agree, and the IP family fields are filled for a
  // single-stack IPv4 cluster.
  std::string cluster_ip = stringAt(*spec, "clusterIP");
  if (!hasEntries(*spec, "clusterIPs") && !cluster_ip.empty())
    (*spec)["clusterIPs"] = Json::array({cluster_ip});
  if (cluster_ip.empty() && hasEntries(*spec, "clusterIPs") && (*spec)["clusterIPs"][0].is_string()) {
    cluster_ip = (*spec)["clusterIPs"][0].get<std::string>();
    (*spec)["clusterIP"] = cluster_ip;
  }
  bool headless_selectorless = cluster_ip == "None" && !hasEntries(*spec, "selector");
  setIfNull(*spec, "ipFamilyPolicy", headless_selectorless ? "RequireDualStack" : "SingleStack");
  if (!hasEntries(*spec, "ipFamilies")) {
    bool v6 = !cluster_ip.empty() && cluster_ip != "None" && isIpv6Literal(cluster_ip);
    (*spec)["ipFamilies"] = Json::array({v6 ? "IPv6" : "IPv4"});
  }
}

void defaultNamespace(Json& obj) {
  Json* meta = ensureObject(obj, "metadata");
  if (meta) {
    std::string name = stringAt(*meta, "name");
    if (!name.empty())
      if (Json* labels = ensureObject(*meta, "labels")) (*labels)["kubernetes.io/metadata.name"] = name;
  }
  if (Json* status = ensureObject(obj, "status")) setIfEmpty(*status, "phase", "Active");
  // The create strategy requires the "kubernetes" finalizer. Updates keep
  // the stored finalizers (the namespace controller removes it through
  // /finalize while the namespace terminates), so only a body that was
  // never stored gets it: no resourceVersion and not being deleted.
  bool stored = meta && (!stringAt(*meta, "resourceVersion").empty() || !unset(*meta, "deletionTimestamp"));
  if (stored) return;
  Json* spec = ensureObject(obj, "spec");
  if (!spec) return;
  Json& finalizers = (*spec)["finalizers"];
  if (finalizers.is_null()) finalizers = Json::array();
  if (!finalizers.is_array()) return;
  if (std::find(finalizers.begin(), finalizers.end(), Json("kubernetes")) == finalizers.end())
    finalizers.push_back("kubernetes");
}

void defaultSecret(Json& obj) {
  if (!obj.is_object()) return;
  setIfEmpty(obj, "type", "Opaque");
  // v1 conversion: stringData entries overwrite data, base64-encoded.
  auto sd = obj.find("stringData");
  if (sd == obj.end()) return;
  if (sd->is_object()) {
    Json* data = ensureObject(obj, "data");
    if (data) {
      for (auto it = obj["stringData"].begin(); it != obj["stringData"].end(); ++it)
        if (it->is_string()) (*data)[it.key()] = base64Encode(it->get<std::string>());
    }
  }
  obj.erase("stringData");
  if (obj.contains("data") && obj["data"].is_object() && obj["data"].empty()) obj.erase("data");
}

void defaultNode(Json& obj) {
  Json* status = existing(obj, "status");
  if (status && unset(*status, "allocatable") && !unset(*status, "capacity"))
    (*status)["allocatable"] = (*status)["capacity"];
}

void defaultEndpoints(Json& obj) {
  forEachObject(obj, "subsets", [](Json& ss) {
    forEachObject(ss, "ports", [](Json& p) { setIfEmpty(p, "protocol", "TCP"); });
  });
}

void defaultEndpointSlice(Json& obj) {
  forEachObject(obj, "ports", [](Json& p) {
    setIfNull(p, "name", "");
    setIfNull(p, "protocol", "TCP");
  });
}

void defaultLimitRange(Json& obj) {
  Json* spec = existing(obj, "spec");
  if (!spec) return;
  forEachObject(*spec, "limits", [](Json& item) {
    if (stringAt(item, "type") != "Container") return;
    // default <- max, defaultRequest <- default, then min.
    Json def = item.contains("default") && item["default"].is_object() ? item["default"] : Json::object();
    Json req = item.contains("defaultRequest") && item["defaultRequest"].is_object() ? item["defaultRequest"]
                                                                                     : Json::object();
    auto fill = [](Json& dst, const Json& src) {
      if (!src.is_object()) return;
      for (auto it = src.begin(); it != src.end(); ++it)
        if (!dst.contains(it.key())) dst[it.key()] = it.value();
    };
    fill(def, item.contains("max") ? item["max"] : Json());
    fill(req, def);
    fill(req, item.contains("min") ? item["min"] : Json());
    if (!def.empty()) item["default"] = def;
    if (!req.empty()) item["defaultRequest"] = req;
  });
}

// SetDefaults_HorizontalPodAutoscaler (autoscaling/v2): minReplicas 1 and,
// without metrics, CPU at 80% utilization. Behavior stays unset when absent
// (the controller then applies its flag-given downscale stabilization).
void defaultHorizontalPodAutoscaler(Json& obj) {
  if (!obj.contains("spec") || obj["spec"].is_null()) obj["spec"] = Json::object();
  if (!obj["spec"].is_object()) return;
  Json& spec = obj["spec"];
  setIfNull(spec, "minReplicas", 1);
  if (!spec.contains("metrics") || (spec["metrics"].is_array() && spec["metrics"].empty()))
    spec["metrics"] = Json::array(
        {{{"type", "Resource"},
          {"resource", {{"name", "cpu"}, {"target", {{"type", "Utilization"}, {"averageUtilization", 80}}}}}}});
}

// RoleBinding and ClusterRoleBinding: roleRef and User/Group subjects are
// in the RBAC group unless they say otherwise; service accounts in the core group.
void defaultBinding(Json& obj) {
  constexpr const char* kRbacGroup = "rbac.authorization.k8s.io";
  if (obj.contains("roleRef") && obj["roleRef"].is_object() && getString(obj["roleRef"], "apiGroup").empty())
    obj["roleRef"]["apiGroup"] = kRbacGroup;
  if (!obj.contains("subjects") || !obj["subjects"].is_array()) return;
  for (auto& s : obj["subjects"]) {
    if (!s.is_object() || !getString(s, "apiGroup").empty()) continue;
    std::string kind = getString(s, "kind");
    if (kind == "User" || kind == "Group") s["apiGroup"] = kRbacGroup;
  }
}

}  // namespace

void applyDefaults(const ResourceInfo& info, Json& obj) {
  if (!obj.is_object()) return;
  const std::string& g = info.group;
  const std::string& k = info.kind;
  if (g.empty()) {
    if (k == "Pod")
      defaultPod(obj);
    else if (k == "Service")
      defaultService(obj);
    else if (k == "Namespace")
      defaultNamespace(obj);
    else if (k == "Secret")
      defaultSecret(obj);
    else if (k == "Node")
      defaultNode(obj);
    else if (k == "Endpoints")
      defaultEndpoints(obj);
    else if (k == "LimitRange")
      defaultLimitRange(obj);
  } else if (g == "apps") {
    if (k == "Deployment")
      defaultDeployment(obj);
    else if (k == "ReplicaSet")
      defaultReplicaSet(obj);
    else if (k == "DaemonSet")
      defaultDaemonSet(obj);
    else if (k == "StatefulSet")
      defaultStatefulSet(obj);
  } else if (g == "batch") {
    if (k == "Job")
      defaultJob(obj);
    else if (k == "CronJob")
      defaultCronJob(obj);
  } else if (g == "autoscaling") {
    if (k == "HorizontalPodAutoscaler") defaultHorizontalPodAutoscaler(obj);
  } else if (g == "discovery.k8s.io") {
    if (k == "EndpointSlice") defaultEndpointSlice(obj);
  } else if (g == "rbac.authorization.k8s.io") {
    if (k == "RoleBinding" || k == "ClusterRoleBinding") defaultBinding(obj);
  }
}

}  // namespace capstan::api
