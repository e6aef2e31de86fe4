#include "apiserver/cluster_state_metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <utility>

#include "apiserver/object_cache.h"

namespace capstan::apiserver {
namespace {

using Label = std::pair<std::string_view, std::string_view>;

// One metric family: its series are appended while the objects are walked
// once, and the families are joined at the end.
struct Family {
  const char* name;
  const char* type;  // gauge, counter
  const char* help;
  std::string body;

  void add(std::initializer_list<Label> labels, double value) { add(labels, {}, value); }
  // `extra` labels follow `labels` (the object's identity first, as
  // kube-state-metrics orders them).
  void add(std::initializer_list<Label> labels, std::initializer_list<Label> extra, double value) {
    body += name;
    char sep = '{';
    for (const auto* list : {&labels, &extra}) {
      for (const auto& [k, v] : *list) {
        body += sep;
        sep = ',';
        body += k;
        body += "=\"";
        appendEscaped(v);
        body += '"';
      }
    }
    if (sep == ',') body += '}';
    body += ' ';
    appendValue(value);
    body += '\n';
  }

  void appendEscaped(std::string_view v) {
    for (char c : v) {
      if (c == '\\')
        body += "\\\\";
      else if (c == '"')
        body += "\\\"";
      else if (c == '\n')
        body += "\\n";
      else
        body += c;
    }
  }

  void appendValue(double v) {
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
      body += std::to_string(static_cast<int64_t>(v));
    else
      body += fmt::format("{}", v);
  }
};

double number(const Json& obj, std::string_view key, double def = 0) {
  const Json* v = find(obj, key);
  return v && v->is_number() ? v->get<double>() : def;
}

bool boolean(const Json& obj, std::string_view key) {
  const Json* v = find(obj, key);
  return v && v->is_boolean() && v->get<bool>();
}

const Json* condition(const Json& obj, std::string_view type) {
  for (const auto& c : arrayAt(objectAt(obj, "status"), "conditions"))
    if (c.is_object() && getString(c, "type") == type) return &c;
  return nullptr;
}

// kube-state-metrics' addConditionMetrics: one series per status value,
// 1 for the condition's own status.
void conditionSeries(Family& f, std::initializer_list<Label> labels, std::string_view condition_label,
                     std::string_view condition_type, std::string_view status) {
  static constexpr std::pair<std::string_view, std::string_view> kStatuses[] = {
      {"true", "True"}, {"false", "False"}, {"unknown", "Unknown"}};
  for (const auto& [label, value] : kStatuses) {
    if (condition_type.empty())
      f.add(labels, {{condition_label, label}}, status == value ? 1 : 0);
    else
      f.add(labels, {{"condition", condition_type}, {"status", label}}, status == value ? 1 : 0);
  }
}

const Json* controllerOf(const Json& obj) {
  for (const auto& ref : arrayAt(objectAt(obj, "metadata"), "ownerReferences"))
    if (ref.is_object() && boolean(ref, "controller")) return &ref;
  return nullptr;
}

struct PodFamilies {
  Family info{"kube_pod_info", "gauge", "Information about pod."};
  Family phase{"kube_pod_status_phase", "gauge", "The pods current phase."};
  Family ready{"kube_pod_status_ready", "gauge", "Describes whether the pod is ready to serve requests."};
  Family scheduled{"kube_pod_status_scheduled", "gauge",
                   "Describes the status of the scheduling process for the pod."};
  Family restarts{"kube_pod_container_status_restarts_total", "counter",
                  "The number of container restarts per container."};
  Family c_ready{"kube_pod_container_status_ready", "gauge",
                 "Describes whether the containers readiness check succeeded."};
  Family running{"kube_pod_container_status_running", "gauge",
                 "Describes whether the container is currently in running state."};
  Family waiting{"kube_pod_container_status_waiting", "gauge",
                 "Describes whether the container is currently in waiting state."};
  Family waiting_reason{"kube_pod_container_status_waiting_reason", "gauge",
                        "Describes the reason the container is currently in waiting state."};
  Family terminated{"kube_pod_container_status_terminated", "gauge",
                    "Describes whether the container is currently in terminated state."};
  Family terminated_reason{"kube_pod_container_status_terminated_reason", "gauge",
                           "Describes the reason the container is currently in terminated state."};
  Family last_terminated_reason{"kube_pod_container_status_last_terminated_reason", "gauge",
                                "Describes the last reason the container was in terminated state."};

  void add(const Json& pod) {
    const Json& meta = objectAt(pod, "metadata");
    const Json& spec = objectAt(pod, "spec");
    const Json& status = objectAt(pod, "status");
    std::string ns = getString(meta, "namespace"), name = getString(meta, "name"),
                uid = getString(meta, "uid");
    std::initializer_list<Label> id = {{"namespace", ns}, {"pod", name}, {"uid", uid}};

    const Json* owner = controllerOf(pod);
    std::string owner_kind = owner ? getString(*owner, "kind") : "";
    std::string owner_name = owner ? getString(*owner, "name") : "";
    std::string host_ip = getString(status, "hostIP"), pod_ip = getString(status, "podIP");
    std::string node = getString(spec, "nodeName"), priority_class = getString(spec, "priorityClassName");
    info.add(id,
             {{"host_ip", host_ip},
              {"pod_ip", pod_ip},
              {"node", node},
              {"created_by_kind", owner_kind},
              {"created_by_name", owner_name},
              {"priority_class", priority_class},
              {"host_network", boolean(spec, "hostNetwork") ? "true" : "false"}},
             1);

    std::string p = getString(status, "phase");
    if (!p.empty())
      for (std::string_view each : {"Pending", "Succeeded", "Failed", "Unknown", "Running"})
        phase.add(id, {{"phase", each}}, p == each ? 1 : 0);
    if (const Json* c = condition(pod, "Ready"))
      conditionSeries(ready, id, "condition", "", getString(*c, "status"));
    if (const Json* c = condition(pod, "PodScheduled"))
      conditionSeries(scheduled, id, "condition", "", getString(*c, "status"));

    for (const auto& cs : arrayAt(status, "containerStatuses")) {
      if (!cs.is_object()) continue;
      std::string container = getString(cs, "name");
      std::initializer_list<Label> c_label = {{"container", container}};
      restarts.add(id, c_label, number(cs, "restartCount"));
      c_ready.add(id, c_label, boolean(cs, "ready") ? 1 : 0);
      const Json& state = objectAt(cs, "state");
      const Json* w = find(state, "waiting");
      const Json* r = find(state, "running");
      const Json* t = find(state, "terminated");
      running.add(id, c_label, r && r->is_object() ? 1 : 0);
      waiting.add(id, c_label, w && w->is_object() ? 1 : 0);
      terminated.add(id, c_label, t && t->is_object() ? 1 : 0);
      if (w && w->is_object()) {
        std::string reason = getString(*w, "reason");
        waiting_reason.add(id, {{"container", container}, {"reason", reason}}, 1);
      }
      if (t && t->is_object()) {
        std::string reason = getString(*t, "reason");
        terminated_reason.add(id, {{"container", container}, {"reason", reason}}, 1);
      }
      const Json* last = find(objectAt(cs, "lastState"), "terminated");
      if (last && last->is_object()) {
        std::string reason = getString(*last, "reason");
        last_terminated_reason.add(id, {{"container", container}, {"reason", reason}}, 1);
      }
    }
  }

  std::vector<Family*> all() {
    return {&info,    &phase,   &ready,          &scheduled,  &restarts,          &c_ready,
            &running, &waiting, &waiting_reason, &terminated, &terminated_reason, &last_terminated_reason};
  }
};

struct DeploymentFamilies {
  Family spec_replicas{"kube_deployment_spec_replicas", "gauge", "Number of desired pods for a deployment."};
  Family replicas{"kube_deployment_status_replicas", "gauge", "The number of replicas per deployment."};
  Family available{"kube_deployment_status_replicas_available", "gauge",
                   "The number of available replicas per deployment."};
  Family unavailable{"kube_deployment_status_replicas_unavailable", "gauge",
                     "The number of unavailable replicas per deployment."};
  Family updated{"kube_deployment_status_replicas_updated", "gauge",
                 "The number of updated replicas per deployment."};
  Family ready{"kube_deployment_status_replicas_ready", "gauge",
               "The number of ready replicas per deployment."};
  Family generation{"kube_deployment_metadata_generation", "gauge",
                    "Sequence number representing a specific generation of the desired state."};
  Family observed{"kube_deployment_status_observed_generation", "gauge",
                  "The generation observed by the deployment controller."};

  void add(const Json& d) {
    const Json& meta = objectAt(d, "metadata");
    const Json& spec = objectAt(d, "spec");
    const Json& status = objectAt(d, "status");
    std::string ns = getString(meta, "namespace"), name = getString(meta, "name");
    std::initializer_list<Label> id = {{"namespace", ns}, {"deployment", name}};
    if (const Json* r = find(spec, "replicas"); r && r->is_number()) spec_replicas.add(id, r->get<double>());
    replicas.add(id, number(status, "replicas"));
    available.add(id, number(status, "availableReplicas"));
    unavailable.add(id, number(status, "unavailableReplicas"));
    updated.add(id, number(status, "updatedReplicas"));
    ready.add(id, number(status, "readyReplicas"));
    generation.add(id, number(meta, "generation"));
    observed.add(id, number(status, "observedGeneration"));
  }
  std::vector<Family*> all() {
    return {&spec_replicas, &replicas, &available, &unavailable, &updated, &ready, &generation, &observed};
  }
};

struct NodeFamilies {
  Family info{"kube_node_info", "gauge", "Information about a cluster node."};
  Family condition_f{"kube_node_status_condition", "gauge", "The condition of a cluster node."};
  Family unschedulable{"kube_node_spec_unschedulable", "gauge", "Whether a node can schedule new pods."};

  void add(const Json& n) {
    const Json& meta = objectAt(n, "metadata");
    const Json& spec = objectAt(n, "spec");
    const Json& status = objectAt(n, "status");
    const Json& ni = objectAt(status, "nodeInfo");
    std::string name = getString(meta, "name");
    std::string internal_ip;
    for (const auto& a : arrayAt(status, "addresses"))
      if (a.is_object() && getString(a, "type") == "InternalIP") {
        internal_ip = getString(a, "address");
        break;
      }
    std::string kernel = getString(ni, "kernelVersion"), os = getString(ni, "osImage"),
                runtime = getString(ni, "containerRuntimeVersion"), kubelet = getString(ni, "kubeletVersion"),
                proxy = getString(ni, "kubeProxyVersion"), provider = getString(spec, "providerID"),
                cidr = getString(spec, "podCIDR"), uuid = getString(ni, "systemUUID");
    info.add({{"node", name}},
             {{"kernel_version", kernel},
              {"os_image", os},
              {"container_runtime_version", runtime},
              {"kubelet_version", kubelet},
              {"kubeproxy_version", proxy},
              {"provider_id", provider},
              {"pod_cidr", cidr},
              {"system_uuid", uuid},
              {"internal_ip", internal_ip}},
             1);
    for (const auto& c : arrayAt(status, "conditions")) {
      if (!c.is_object()) continue;
      std::string type = getString(c, "type");
      conditionSeries(condition_f, {{"node", name}}, "", type, getString(c, "status"));
    }
    unschedulable.add({{"node", name}}, boolean(spec, "unschedulable") ? 1 : 0);
  }
  std::vector<Family*> all() { return {&info, &condition_f, &unschedulable}; }
};

struct NamespaceFamilies {
  Family phase{"kube_namespace_status_phase", "gauge", "kubernetes namespace status phase."};
  void add(const Json& ns) {
    std::string name = getString(objectAt(ns, "metadata"), "name");
    std::string p = getString(objectAt(ns, "status"), "phase");
    if (p.empty()) p = "Active";  // what the API server defaults
    for (std::string_view each : {"Active", "Terminating"})
      phase.add({{"namespace", name}}, {{"phase", each}}, p == each);
  }
  std::vector<Family*> all() { return {&phase}; }
};

struct JobFamilies {
  Family succeeded{"kube_job_status_succeeded", "gauge", "The number of pods which reached Phase Succeeded."};
  Family failed{"kube_job_status_failed", "gauge",
                "The number of pods which reached Phase Failed and the reason for failure."};
  Family active{"kube_job_status_active", "gauge", "The number of actively running pods."};

  void add(const Json& j) {
    const Json& meta = objectAt(j, "metadata");
    const Json& status = objectAt(j, "status");
    std::string ns = getString(meta, "namespace"), name = getString(meta, "name");
    std::initializer_list<Label> id = {{"namespace", ns}, {"job_name", name}};
    succeeded.add(id, number(status, "succeeded"));
    active.add(id, number(status, "active"));
    double n_failed = number(status, "failed");
    if (n_failed == 0) {
      failed.add(id, 0);
      return;
    }
    // kube-state-metrics: with a Failed condition, one series per known
    // reason (1 for the condition's); the count under reason="" otherwise.
    bool known = false;
    if (const Json* c = condition(j, "Failed")) {
      std::string reason = getString(*c, "reason");
      for (std::string_view each : {"BackoffLimitExceeded", "DeadlineExceeded", "Evicted"}) {
        known = known || reason == each;
        failed.add(id, {{"reason", each}}, reason == each ? 1 : 0);
      }
    }
    if (!known) failed.add(id, {{"reason", ""}}, n_failed);
  }
  std::vector<Family*> all() { return {&succeeded, &failed, &active}; }
};

struct DaemonSetFamilies {
  Family ready{
      "kube_daemonset_status_number_ready", "gauge",
      "The number of nodes that should be running the daemon pod and have one or more of the daemon pod "
      "running and ready."};
  Family desired{"kube_daemonset_status_desired_number_scheduled", "gauge",
                 "The number of nodes that should be running the daemon pod."};
  Family current{"kube_daemonset_status_current_number_scheduled", "gauge",
                 "The number of nodes running at least one daemon pod and are supposed to."};
  Family available{
      "kube_daemonset_status_number_available", "gauge",
      "The number of nodes that should be running the daemon pod and have one or more of the daemon "
      "pod running and available"};
  Family unavailable{
      "kube_daemonset_status_number_unavailable", "gauge",
      "The number of nodes that should be running the daemon pod and have none of the daemon pod "
      "running and available"};
  void add(const Json& d) {
    const Json& meta = objectAt(d, "metadata");
    const Json& status = objectAt(d, "status");
    std::string ns = getString(meta, "namespace"), name = getString(meta, "name");
    std::initializer_list<Label> id = {{"namespace", ns}, {"daemonset", name}};
    ready.add(id, number(status, "numberReady"));
    desired.add(id, number(status, "desiredNumberScheduled"));
    current.add(id, number(status, "currentNumberScheduled"));
    available.add(id, number(status, "numberAvailable"));
    unavailable.add(id, number(status, "numberUnavailable"));
  }
  std::vector<Family*> all() { return {&ready, &desired, &current, &available, &unavailable}; }
};

struct StatefulSetFamilies {
  Family ready{"kube_statefulset_status_replicas_ready", "gauge",
               "The number of ready replicas per StatefulSet."};
  Family replicas{"kube_statefulset_replicas", "gauge", "Number of desired pods for a StatefulSet."};
  Family current{"kube_statefulset_status_replicas", "gauge", "The number of replicas per StatefulSet."};
  Family available{"kube_statefulset_status_replicas_available", "gauge",
                   "The number of available replicas per StatefulSet."};
  void add(const Json& s) {
    const Json& meta = objectAt(s, "metadata");
    const Json& status = objectAt(s, "status");
    std::string ns = getString(meta, "namespace"), name = getString(meta, "name");
    std::initializer_list<Label> id = {{"namespace", ns}, {"statefulset", name}};
    ready.add(id, number(status, "readyReplicas"));
    replicas.add(id, number(objectAt(s, "spec"), "replicas", 1));
    current.add(id, number(status, "replicas"));
    available.add(id, number(status, "availableReplicas"));
  }
  std::vector<Family*> all() { return {&ready, &replicas, &current, &available}; }
};

void append(std::string& out, const std::vector<Family*>& families) {
  for (const Family* f : families) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f->name, f->help, f->name, f->type);
    out += f->body;
  }
}

}  // namespace

std::string renderClusterStateMetrics(const ClusterStateObjects& objects) {
  NamespaceFamilies namespaces;
  for (const Json* o : objects.namespaces) namespaces.add(*o);
  NodeFamilies nodes;
  for (const Json* o : objects.nodes) nodes.add(*o);
  PodFamilies pods;
  for (const Json* o : objects.pods) pods.add(*o);
  DeploymentFamilies deployments;
  for (const Json* o : objects.deployments) deployments.add(*o);
  DaemonSetFamilies daemonsets;
  for (const Json* o : objects.daemonsets) daemonsets.add(*o);
  StatefulSetFamilies statefulsets;
  for (const Json* o : objects.statefulsets) statefulsets.add(*o);
  JobFamilies jobs;
  for (const Json* o : objects.jobs) jobs.add(*o);

  std::string out;
  size_t size = 0;
  for (const auto& list : {namespaces.all(), nodes.all(), pods.all(), deployments.all(), daemonsets.all(),
                           statefulsets.all(), jobs.all()})
    for (const Family* f : list) size += f->body.size() + 200;
  out.reserve(size);
  append(out, namespaces.all());
  append(out, nodes.all());
  append(out, pods.all());
  append(out, deployments.all());
  append(out, daemonsets.all());
  append(out, statefulsets.all());
  append(out, jobs.all());
  return out;
}

std::string clusterStateMetrics(const ObjectCache& cache) {
  // The cached objects are immutable and shared: holding the pointers keeps
  // them alive while rendering, without copying or holding the cache's lock.
  struct Source {
    const char* prefix;
    std::vector<const Json*> ClusterStateObjects::*list;
  };
  static constexpr Source kSources[] = {
      {"/registry/core/namespaces/", &ClusterStateObjects::namespaces},
      {"/registry/core/nodes/", &ClusterStateObjects::nodes},
      {"/registry/core/pods/", &ClusterStateObjects::pods},
      {"/registry/apps/deployments/", &ClusterStateObjects::deployments},
      {"/registry/apps/daemonsets/", &ClusterStateObjects::daemonsets},
      {"/registry/apps/statefulsets/", &ClusterStateObjects::statefulsets},
      {"/registry/batch/jobs/", &ClusterStateObjects::jobs},
  };
  std::vector<std::vector<ObjectPtr>> held;
  held.reserve(std::size(kSources));
  ClusterStateObjects objects;
  for (const Source& s : kSources) {
    held.push_back(cache.list(s.prefix, nullptr));
    auto& list = objects.*(s.list);
    list.reserve(held.back().size());
    for (const auto& o : held.back()) list.push_back(&o->obj);
  }
  return renderClusterStateMetrics(objects);
}

}  // namespace capstan::apiserver
