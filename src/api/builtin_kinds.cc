// The built-in kinds, declared as data: group, version, resource, kind,
// scope, short names, categories, subresources and selectable fields as
// upstream Kubernetes serves them.
#include "api/alerting.h"
#include "api/registry.h"

#include <tuple>

namespace capstan::api {
namespace {

ResourceInfo kind(std::string group, std::string version, std::string resource, std::string singular,
                  std::string kind_name, bool namespaced) {
  ResourceInfo r;
  r.group = std::move(group);
  r.version = std::move(version);
  r.resource = std::move(resource);
  r.singular = std::move(singular);
  r.kind = std::move(kind_name);
  r.namespaced = namespaced;
  return r;
}

}  // namespace

Registry Registry::builtin() {
  Registry reg;
  constexpr bool kNs = true, kCluster = false;
  const std::vector<std::string> all = {"all"};

  // core/v1
  {
    auto r = kind("", "v1", "namespaces", "namespace", "Namespace", kCluster);
    r.short_names = {"ns"};
    r.has_status = true;
    r.selectable_fields = {"status.phase"};
    r.verbs = {"create", "delete", "get", "list", "patch", "update", "watch"};
    reg.add(r);
  }
  {
    auto r = kind("", "v1", "pods", "pod", "Pod", kNs);
    r.short_names = {"po"};
    r.categories = all;
    r.has_status = true;
    r.selectable_fields = {"spec.nodeName",        "spec.restartPolicy", "spec.schedulerName",
                           "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                           "status.podIP",          "status.nominatedNodeName"};
    reg.add(r);
  }
  {
    auto r = kind("", "v1", "services", "service", "Service", kNs);
    r.short_names = {"svc"};
    r.categories = all;
    r.has_status = true;
    r.verbs = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
    reg.add(r);
  }
  {
    auto r = kind("", "v1", "endpoints", "endpoints", "Endpoints", kNs);
    r.short_names = {"ep"};
    reg.add(r);
  }
  {
    auto r = kind("", "v1", "configmaps", "configmap", "ConfigMap", kNs);
    r.short_names = {"cm"};
    reg.add(r);
  }
  {
    auto r = kind("", "v1", "secrets", "secret", "Secret", kNs);
    r.selectable_fields = {"type"};
    reg.add(r);
  }
  {
    auto r = kind("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", kNs);
    r.short_names = {"sa"};
    reg.add(r);
  }
  {
    auto r = kind("", "v1", "nodes", "node", "Node", kCluster);
    r.short_names = {"no"};
    r.has_status = true;
    r.selectable_fields = {"spec.unschedulable"};
    reg.add(r);
  }
  {
    auto r = kind("", "v1", "events", "event", "Event", kNs);
    r.short_names = {"ev"};
    r.selectable_fields = {"involvedObject.kind",       "involvedObject.namespace", "involvedObject.name",
                           "involvedObject.uid",        "involvedObject.apiVersion",
                           "involvedObject.resourceVersion", "involvedObject.fieldPath",
                           "reason",                    "reportingComponent",       "source",
                           "type"};
    reg.add(r);
  }
  {
    auto r = kind("", "v1", "limitranges", "limitrange", "LimitRange", kNs);
    r.short_names = {"limits"};
    reg.add(r);
  }
  {
    auto r = kind("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", kNs);
    r.short_names = {"quota"};
    r.has_status = true;
    reg.add(r);
  }

  // apps/v1
  {
    auto r = kind("apps", "v1", "deployments", "deployment", "Deployment", kNs);
    r.has_generation = true;
    r.short_names = {"deploy"};
    r.categories = all;
    r.has_status = r.has_scale = true;
    reg.add(r);
  }
  {
    auto r = kind("apps", "v1", "replicasets", "replicaset", "ReplicaSet", kNs);
    r.has_generation = true;
    r.short_names = {"rs"};
    r.categories = all;
    r.has_status = r.has_scale = true;
    reg.add(r);
  }
  {
    auto r = kind("apps", "v1", "statefulsets", "statefulset", "StatefulSet", kNs);
    r.has_generation = true;
    r.short_names = {"sts"};
    r.categories = all;
    r.has_status = r.has_scale = true;
    reg.add(r);
  }
  {
    auto r = kind("apps", "v1", "daemonsets", "daemonset", "DaemonSet", kNs);
    r.has_generation = true;
    r.short_names = {"ds"};
    r.categories = all;
    r.has_status = true;
    reg.add(r);
  }
  {
    auto r = kind("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", kNs);
    reg.add(r);
  }

  // autoscaling/v2
  {
    auto r = kind("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler",
                  "HorizontalPodAutoscaler", kNs);
    r.has_generation = true;
    r.short_names = {"hpa"};
    r.categories = all;
    r.has_status = true;
    reg.add(r);
  }

  // batch/v1
  {
    auto r = kind("batch", "v1", "jobs", "job", "Job", kNs);
    r.has_generation = true;
    r.categories = all;
    r.has_status = true;
    reg.add(r);
  }
  {
    auto r = kind("batch", "v1", "cronjobs", "cronjob", "CronJob", kNs);
    r.has_generation = true;
    r.short_names = {"cj"};
    r.categories = all;
    r.has_status = true;
    reg.add(r);
  }

  // coordination.k8s.io/v1
  {
    auto r = kind("coordination.k8s.io", "v1", "leases", "lease", "Lease", kNs);
    reg.add(r);
  }
  // discovery.k8s.io/v1
  {
    auto r = kind("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", kNs);
    reg.add(r);
  }
  // networking.k8s.io/v1
  {
    auto r = kind("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", kNs);
    r.has_generation = true;
    r.short_names = {"ing"};
    r.has_status = true;
    reg.add(r);
  }
  {
    auto r = kind("networking.k8s.io", "v1", "ingressclasses", "ingressclass", "IngressClass", kCluster);
    reg.add(r);
  }
  // policy/v1
  {
    auto r = kind("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", kNs);
    r.has_generation = true;
    r.short_names = {"pdb"};
    r.has_status = true;
    reg.add(r);
  }
  // rbac.authorization.k8s.io/v1
  for (const auto& [resource, singular, kind_name, scope] :
       {std::tuple{"roles", "role", "Role", kNs}, std::tuple{"rolebindings", "rolebinding", "RoleBinding", kNs},
        std::tuple{"clusterroles", "clusterrole", "ClusterRole", kCluster},
        std::tuple{"clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", kCluster}}) {
    auto r = kind("rbac.authorization.k8s.io", "v1", resource, singular, kind_name, scope);
    reg.add(r);
  }
  // scheduling.k8s.io/v1
  {
    auto r = kind("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", kCluster);
    r.short_names = {"pc"};
    reg.add(r);
  }
  // events.k8s.io/v1
  {
    auto r = kind("events.k8s.io", "v1", "events", "event", "Event", kNs);
    r.short_names = {"ev"};
    r.selectable_fields = {"regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
                           "reason", "reportingController", "type"};
    reg.add(r);
  }
  // alerting.capstan.io/v1alpha1: capstan's own alerting (api/alerting.h).
  const std::string alertingGroup(alerting::kGroup), alertingVersion(alerting::kVersion);
  {
    auto r = kind(alertingGroup, alertingVersion, "alertrules", "alertrule", "AlertRule", kCluster);
    r.has_generation = true;
    r.has_status = true;
    r.categories = {"alerting"};
    reg.add(r);
  }
  {
    auto r = kind(alertingGroup, alertingVersion, "alerts", "alert", "Alert", kCluster);
    r.has_status = true;
    r.categories = {"alerting"};
    reg.add(r);
  }
  {
    auto r = kind(alertingGroup, alertingVersion, "alertreceivers", "alertreceiver", "AlertReceiver", kCluster);
    r.has_generation = true;
    r.has_status = true;
    r.categories = {"alerting"};
    reg.add(r);
  }
  return reg;
}

}  // namespace capstan::api
