#include "api/table.h"

#include <fmt/format.h>

#include <map>
#include <optional>

namespace capstan::api {
namespace {

using Cell = std::function<Json(const Json&, WallTime)>;

std::string textAt(const Json& obj, std::string_view path, std::string_view def = "") {
  const Json* v = atPath(obj, path);
  if (!v || v->is_null()) return std::string(def);
  if (v->is_string()) return v->get<std::string>();
  return v->dump();
}

// A cell's text from any JSON value (strings unquoted).
std::string text(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

int64_t num(const Json& obj, std::string_view path) {
  const Json* v = atPath(obj, path);
  return v && v->is_number() ? v->get<int64_t>() : 0;
}

std::string age(const Json& obj, std::string_view path, WallTime now) {
  const Json* v = atPath(obj, path);
  if (!v || !v->is_string()) return "<unknown>";
  auto t = parseRfc3339(v->get<std::string>());
  if (!t) return "<unknown>";
  return humanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
}

Column col(std::string name, std::string type, int priority, std::string desc, Cell cell) {
  return Column{std::move(name), std::move(type), priority, std::move(desc), std::move(cell)};
}

Column nameCol() {
  return col("Name", "string", 0, "Name must be unique within a namespace.",
             [](const Json& o, WallTime) { return Json(textAt(o, "metadata.name")); });
}
Column ageCol() {
  return col("Age", "string", 0, "CreationTimestamp is a timestamp representing the server time when this object was created.",
             [](const Json& o, WallTime now) { return Json(age(o, "metadata.creationTimestamp", now)); });
}
// The generic table kube-apiserver gives kinds without a printer (Name and
// Created At, an RFC 3339 timestamp) ends with this column.
Column createdAtCol() {
  return col("Created At", "date", 0,
             "CreationTimestamp is a timestamp representing the server time when this object was created.",
             [](const Json& o, WallTime) { return Json(textAt(o, "metadata.creationTimestamp")); });
}

std::string joinStrings(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

// formatHPAMetrics for the metric source types capstan computes (Resource,
// ContainerResource); others print as upstream prints them without status.
std::string hpaTargets(const Json& o) {
  const Json* specs = atPath(o, "spec.metrics");
  if (!specs || !specs->is_array() || specs->empty()) return "<none>";
  const Json* statuses = atPath(o, "status.currentMetrics");
  std::vector<std::string> list;
  size_t count = 0;
  bool more = false;
  for (size_t i = 0; i < specs->size(); ++i) {
    const Json& spec = (*specs)[i];
    ++count;
    std::string type = getString(spec, "type");
    std::string src = type == "ContainerResource" ? "containerResource" : type == "Resource" ? "resource" : "";
    const Json* status = statuses && statuses->is_array() && statuses->size() > i ? &(*statuses)[i] : nullptr;
    const Json* cur = status ? atPath(*status, src + ".current") : nullptr;
    if (src.empty()) {
      list.push_back("<unknown>/<unknown>");
    } else if (const Json* av = atPath(spec, src + ".target.averageValue"); av && !av->is_null()) {
      const Json* c = cur ? atPath(*cur, "averageValue") : nullptr;
      list.push_back(textAt(spec, src + ".name") + ": " + (c ? text(*c) : "<unknown>") + "/" + text(*av));
    } else {
      const Json* c = cur ? atPath(*cur, "averageUtilization") : nullptr;
      const Json* t = atPath(spec, src + ".target.averageUtilization");
      list.push_back(textAt(spec, src + ".name") + ": " +
                     (c && c->is_number() ? text(*c) + "%" : "<unknown>") + "/" +
                     (t && t->is_number() ? text(*t) + "%" : "<auto>"));
    }
    if (list.size() > 2) {
      list.resize(2);
      more = true;
    }
  }
  std::string out = joinStrings(list, ", ");
  return more ? out + fmt::format(" + {} more...", count - 2) : out;
}

std::string orNone(const std::string& s) { return s.empty() ? "<none>" : s; }

std::string selectorString(const Json* sel) {
  if (!sel || !sel->is_object()) return "<none>";
  std::vector<std::string> parts;
  if (auto* ml = find(*sel, "matchLabels"); ml && ml->is_object())
    for (auto it = ml->begin(); it != ml->end(); ++it) parts.push_back(it.key() + "=" + text(it.value()));
  if (auto* me = find(*sel, "matchExpressions"); me && me->is_array())
    for (const auto& e : *me) {
      std::string op = getString(e, "operator");
      std::string key = getString(e, "key");
      std::vector<std::string> vals;
      if (e.contains("values") && e["values"].is_array())
        for (const auto& v : e["values"]) vals.push_back(v.is_string() ? v.get<std::string>() : v.dump());
      if (op == "In") parts.push_back(key + " in (" + joinStrings(vals, ",") + ")");
      else if (op == "NotIn") parts.push_back(key + " notin (" + joinStrings(vals, ",") + ")");
      else if (op == "Exists") parts.push_back(key);
      else if (op == "DoesNotExist") parts.push_back("!" + key);
    }
  return parts.empty() ? "<none>" : joinStrings(parts, ",");
}

std::string mapSelector(const Json* m) {
  if (!m || !m->is_object() || m->empty()) return "<none>";
  std::vector<std::string> parts;
  for (auto it = m->begin(); it != m->end(); ++it)
    parts.push_back(it.key() + "=" + (it.value().is_string() ? it.value().get<std::string>() : it.value().dump()));
  return joinStrings(parts, ",");
}

std::vector<std::string> containerField(const Json& o, std::string_view spec_path, std::string_view field) {
  std::vector<std::string> out;
  const Json* cs = atPath(o, spec_path);
  if (cs && cs->is_array())
    for (const auto& c : *cs) out.push_back(getString(c, field));
  return out;
}

std::vector<Column> workloadWide(std::string template_spec) {
  return {
      col("Containers", "string", 1, "Names of each container in the template.",
          [p = template_spec + ".containers"](const Json& o, WallTime) {
            return Json(joinStrings(containerField(o, p, "name"), ","));
          }),
      col("Images", "string", 1, "Images referenced by each container in the template.",
          [p = template_spec + ".containers"](const Json& o, WallTime) {
            return Json(joinStrings(containerField(o, p, "image"), ","));
          }),
      col("Selector", "string", 1, "Label selector for pods.",
          [](const Json& o, WallTime) { return Json(selectorString(atPath(o, "spec.selector"))); }),
  };
}

// The array at `path`, or an empty one, so loops need no null checks.
const Json& items(const Json& obj, std::string_view path) {
  static const Json kEmpty = Json::array();
  const Json* v = atPath(obj, path);
  return v && v->is_array() ? *v : kEmpty;
}

bool flag(const Json& obj, std::string_view key) {
  const Json* v = find(obj, key);
  return v && v->is_boolean() && v->get<bool>();
}

// Whether the first condition of `type` under `path` is True; upstream's
// printers look no further than the first match.
bool conditionTrue(const Json& obj, std::string_view path, std::string_view type) {
  for (const auto& c : items(obj, path))
    if (getString(c, "type") == type) return getString(c, "status") == "True";
  return false;
}

// A sidecar: an init container that keeps running beside the app containers.
bool isRestartableInit(const Json& pod, const std::string& name) {
  for (const auto& c : items(pod, "spec.initContainers"))
    if (getString(c, "name") == name) return getString(c, "restartPolicy") == "Always";
  return false;
}

// Pod READY, STATUS and RESTARTS come out of one walk over the container
// statuses (upstream printPod), so they are computed together.
struct PodSummary {
  int ready = 0;
  int total = 0;
  std::string status;
  int64_t restarts = 0;
  std::optional<WallTime> last_restart;  // latest lastState.terminated.finishedAt
};

class RestartTally {
 public:
  void add(const Json& container_status) {
    count_ += container_status.value("restartCount", int64_t{0});
    const Json* finished = atPath(container_status, "lastState.terminated.finishedAt");
    if (!finished || !finished->is_string()) return;
    auto t = parseRfc3339(finished->get<std::string>());
    if (t && (!last_ || *last_ < *t)) last_ = t;
  }
  int64_t count() const { return count_; }
  std::optional<WallTime> last() const { return last_; }

 private:
  int64_t count_ = 0;
  std::optional<WallTime> last_;
};

// A terminated container's reason, or its signal or exit code without one.
std::string terminatedReason(const Json& terminated) {
  if (auto r = getString(terminated, "reason"); !r.empty()) return r;
  if (int64_t sig = num(terminated, "signal")) return fmt::format("Signal:{}", sig);
  return fmt::format("ExitCode:{}", num(terminated, "exitCode"));
}

// "Init:..." while an init container holds the pod back, or nullopt once
// every init container has succeeded or (for sidecars) started.
std::optional<std::string> initBlocker(const Json& pod, PodSummary& s, RestartTally& all,
                                       RestartTally& sidecars) {
  const Json& statuses = items(pod, "status.initContainerStatuses");
  for (size_t i = 0; i < statuses.size(); ++i) {
    const Json& c = statuses[i];
    bool sidecar = isRestartableInit(pod, getString(c, "name"));
    all.add(c);
    if (sidecar) sidecars.add(c);
    const Json* term = atPath(c, "state.terminated");
    if (term && num(*term, "exitCode") == 0) continue;
    if (sidecar && flag(c, "started")) {
      if (flag(c, "ready")) ++s.ready;
      continue;
    }
    if (term) return "Init:" + terminatedReason(*term);
    std::string waiting = textAt(c, "state.waiting.reason");
    if (!waiting.empty() && waiting != "PodInitializing") return "Init:" + waiting;
    return fmt::format("Init:{}/{}", i, items(pod, "spec.initContainers").size());
  }
  return std::nullopt;
}

PodSummary summarizePod(const Json& pod) {
  PodSummary s;
  s.total = static_cast<int>(items(pod, "spec.containers").size());
  for (const auto& c : items(pod, "spec.initContainers"))
    if (getString(c, "restartPolicy") == "Always") ++s.total;

  std::string phase = textAt(pod, "status.phase", "Pending");
  s.status = phase;
  if (auto r = textAt(pod, "status.reason"); !r.empty()) s.status = r;
  for (const auto& c : items(pod, "status.conditions"))
    if (getString(c, "type") == "PodScheduled" && getString(c, "reason") == "SchedulingGated")
      s.status = "SchedulingGated";

  RestartTally all, sidecars;
  auto blocker = initBlocker(pod, s, all, sidecars);
  if (blocker) s.status = *blocker;
  RestartTally tally = all;
  // Once initialised (or if the kubelet says so despite a failed init status)
  // the app containers decide, and only sidecar restarts still count.
  if (!blocker || conditionTrue(pod, "status.conditions", "Initialized")) {
    tally = sidecars;
    bool has_running = false;
    const Json& statuses = items(pod, "status.containerStatuses");
    // Reverse order, so the first container's reason wins.
    for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
      const Json& c = *it;
      tally.add(c);
      const Json* term = atPath(c, "state.terminated");
      if (auto w = textAt(c, "state.waiting.reason"); !w.empty()) {
        s.status = w;
      } else if (term) {
        s.status = terminatedReason(*term);
      } else if (flag(c, "ready") && atPath(c, "state.running")) {
        has_running = true;
        ++s.ready;
      }
    }
    // One container finished while another still runs: the pod is not done.
    if (s.status == "Completed" && has_running)
      s.status = conditionTrue(pod, "status.conditions", "Ready") ? "Running" : "NotReady";
  }

  if (atPath(pod, "metadata.deletionTimestamp")) {
    if (textAt(pod, "status.reason") == "NodeLost") {
      s.status = "Unknown";
    } else if (phase != "Succeeded" && phase != "Failed") {
      s.status = "Terminating";
    }
  }
  s.restarts = tally.count();
  s.last_restart = tally.last();
  return s;
}

std::string podRestarts(const PodSummary& s, WallTime now) {
  if (s.restarts == 0 || !s.last_restart) return std::to_string(s.restarts);
  auto ago = std::chrono::duration_cast<std::chrono::seconds>(now - *s.last_restart);
  return fmt::format("{} ({} ago)", s.restarts, humanDuration(ago));
}

// "true/total" over spec.readinessGates, or <none> without gates.
std::string readinessGates(const Json& pod) {
  const Json& gates = items(pod, "spec.readinessGates");
  if (gates.empty()) return "<none>";
  size_t met = 0;
  for (const auto& g : gates)
    if (conditionTrue(pod, "status.conditions", getString(g, "conditionType"))) ++met;
  return fmt::format("{}/{}", met, gates.size());
}

// The first of status.podIPs; status.podIP stands in when a client wrote only
// the singular field (upstream's conversion fills podIPs from it).
std::string podIp(const Json& pod) {
  const Json& ips = items(pod, "status.podIPs");
  if (!ips.empty()) return orNone(getString(ips[0], "ip"));
  return orNone(textAt(pod, "status.podIP"));
}

std::vector<Column> podColumns() {
  return {
      nameCol(),
      col("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic.",
          [](const Json& o, WallTime) {
            auto s = summarizePod(o);
            return Json(fmt::format("{}/{}", s.ready, s.total));
          }),
      col("Status", "string", 0, "The aggregate status of the containers in this pod.",
          [](const Json& o, WallTime) { return Json(summarizePod(o).status); }),
      col("Restarts", "string", 0,
          "The number of times the containers in this pod have been restarted and when the last container in "
          "this pod has restarted.",
          [](const Json& o, WallTime now) { return Json(podRestarts(summarizePod(o), now)); }),
      ageCol(),
      col("IP", "string", 1,
          "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
          "allocated.",
          [](const Json& o, WallTime) { return Json(podIp(o)); }),
      col("Node", "string", 1, "NodeName is a request to schedule this pod onto a specific node.",
          [](const Json& o, WallTime) { return Json(orNone(textAt(o, "spec.nodeName"))); }),
      col("Nominated Node", "string", 1,
          "nominatedNodeName is set when this pod preempts other pods on the node.",
          [](const Json& o, WallTime) { return Json(orNone(textAt(o, "status.nominatedNodeName"))); }),
      col("Readiness Gates", "string", 1,
          "If specified, all readiness gates will be evaluated for pod readiness.",
          [](const Json& o, WallTime) { return Json(readinessGates(o)); }),
  };
}

std::string servicePorts(const Json& o) {
  const Json* ps = atPath(o, "spec.ports");
  if (!ps || !ps->is_array() || ps->empty()) return "<none>";
  std::vector<std::string> parts;
  for (const auto& p : *ps) {
    std::string s = std::to_string(p.value("port", 0));
    if (p.contains("nodePort") && p["nodePort"].is_number()) s += ":" + std::to_string(p["nodePort"].get<int>());
    s += "/" + getString(p, "protocol", "TCP");
    parts.push_back(s);
  }
  return joinStrings(parts, ",");
}

std::string externalIp(const Json& o) {
  std::string type = textAt(o, "spec.type", "ClusterIP");
  std::vector<std::string> ips;
  if (const Json* e = atPath(o, "spec.externalIPs"); e && e->is_array())
    for (const auto& ip : *e) ips.push_back(text(ip));
  if (type == "LoadBalancer") {
    if (const Json* ing = atPath(o, "status.loadBalancer.ingress"); ing && ing->is_array())
      for (const auto& i : *ing) {
        auto ip = getString(i, "ip");
        ips.push_back(ip.empty() ? getString(i, "hostname") : ip);
      }
    if (ips.empty()) return "<pending>";
  }
  if (type == "ExternalName") return textAt(o, "spec.externalName");
  return ips.empty() ? "<none>" : joinStrings(ips, ",");
}

std::string nodeStatus(const Json& o) {
  std::string s = "Unknown";
  if (const Json* cs = atPath(o, "status.conditions"); cs && cs->is_array())
    for (const auto& c : *cs)
      if (getString(c, "type") == "Ready") s = getString(c, "status") == "True" ? "Ready" : "NotReady";
  if (const Json* u = atPath(o, "spec.unschedulable"); u && u->is_boolean() && u->get<bool>()) s += ",SchedulingDisabled";
  return s;
}

std::string nodeRoles(const Json& o) {
  std::vector<std::string> roles;
  if (const Json* l = atPath(o, "metadata.labels"); l && l->is_object())
    for (auto it = l->begin(); it != l->end(); ++it) {
      const std::string& k = it.key();
      const std::string prefix = "node-role.kubernetes.io/";
      if (k.rfind(prefix, 0) == 0 && k.size() > prefix.size()) roles.push_back(k.substr(prefix.size()));
      else if (k == "kubernetes.io/role") roles.push_back(text(it.value()));
    }
  return roles.empty() ? "<none>" : joinStrings(roles, ",");
}

std::string nodeAddress(const Json& o, std::string_view type) {
  if (const Json* as = atPath(o, "status.addresses"); as && as->is_array())
    for (const auto& a : *as)
      if (getString(a, "type") == type) return getString(a, "address");
  return "<none>";
}

size_t countOf(const Json& o, std::string_view path) {
  const Json* v = atPath(o, path);
  return v && (v->is_object() || v->is_array()) ? v->size() : 0;
}

// Job STATUS: a finished job says how it ended even while being deleted;
// otherwise deletion outranks the in-flight conditions.
std::string jobStatus(const Json& job) {
  auto is = [&](std::string_view type) { return conditionTrue(job, "status.conditions", type); };
  if (is("Complete")) return "Complete";
  if (is("Failed")) return "Failed";
  if (atPath(job, "metadata.deletionTimestamp")) return "Terminating";
  if (is("Suspended")) return "Suspended";
  if (is("FailureTarget")) return "FailureTarget";
  if (is("SuccessCriteriaMet")) return "SuccessCriteriaMet";
  return "Running";
}

// printRoleBinding and printClusterRoleBinding: ROLE as "Kind/name", then
// (wide) the subjects by kind, as rbac.SubjectsStrings sorts them; service
// accounts as namespace/name, subjects of other kinds left out.
std::vector<Column> roleBindingColumns(const std::string& what) {
  auto subjects = [](std::string kind) {
    return [kind](const Json& o, WallTime) {
      std::vector<std::string> out;
      for (const auto& s : items(o, "subjects")) {
        if (getString(s, "kind") != kind) continue;
        out.push_back(kind == "ServiceAccount" ? getString(s, "namespace") + "/" + getString(s, "name")
                                               : getString(s, "name"));
      }
      return Json(joinStrings(out, ", "));
    };
  };
  return {nameCol(),
          col("Role", "string", 0, "The role the " + what + " grants, as Kind/name.",
              [](const Json& o, WallTime) {
                return Json(textAt(o, "roleRef.kind") + "/" + textAt(o, "roleRef.name"));
              }),
          ageCol(),
          col("Users", "string", 1, "Users in the " + what, subjects("User")),
          col("Groups", "string", 1, "Groups in the " + what, subjects("Group")),
          col("ServiceAccounts", "string", 1, "ServiceAccounts in the " + what, subjects("ServiceAccount"))};
}

std::map<std::string, std::vector<Column>> buildColumns() {
  std::map<std::string, std::vector<Column>> m;
  m["/pods"] = podColumns();
  m["/namespaces"] = {nameCol(),
                      col("Status", "string", 0, "The status of the namespace",
                          [](const Json& o, WallTime) { return Json(textAt(o, "status.phase")); }),
                      ageCol()};
  m["/services"] = {
      nameCol(),
      col("Type", "string", 0, "The type of the service.",
          [](const Json& o, WallTime) { return Json(textAt(o, "spec.type")); }),
      col("Cluster-IP", "string", 0, "The cluster IP of the service.",
          [](const Json& o, WallTime) { return Json(orNone(textAt(o, "spec.clusterIP"))); }),
      col("External-IP", "string", 0, "The external IP of the service.",
          [](const Json& o, WallTime) { return Json(externalIp(o)); }),
      col("Port(s)", "string", 0, "The ports of the service.",
          [](const Json& o, WallTime) { return Json(servicePorts(o)); }),
      ageCol(),
      col("Selector", "string", 1,
          "Route service traffic to pods with label keys and values matching this selector.",
          [](const Json& o, WallTime) { return Json(mapSelector(atPath(o, "spec.selector"))); }),
  };
  {
    std::vector<Column> c = {
        nameCol(),
        col("Ready", "string", 0, "Number of the pod with ready state",
            [](const Json& o, WallTime) {
              return Json(fmt::format("{}/{}", num(o, "status.readyReplicas"), num(o, "spec.replicas")));
            }),
        col("Up-to-date", "integer", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            [](const Json& o, WallTime) { return Json(num(o, "status.updatedReplicas")); }),
        col("Available", "integer", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            [](const Json& o, WallTime) { return Json(num(o, "status.availableReplicas")); }),
        ageCol()};
    for (auto& w : workloadWide("spec.template.spec")) c.push_back(w);
    m["apps/deployments"] = c;
  }
  {
    std::vector<Column> c = {
        nameCol(),
        col("Desired", "integer", 0, "Number of desired pods.", [](const Json& o, WallTime) { return Json(num(o, "spec.replicas")); }),
        col("Current", "integer", 0, "Number of actual pods.", [](const Json& o, WallTime) { return Json(num(o, "status.replicas")); }),
        col("Ready", "integer", 0, "Number of ready pods.", [](const Json& o, WallTime) { return Json(num(o, "status.readyReplicas")); }),
        ageCol()};
    for (auto& w : workloadWide("spec.template.spec")) c.push_back(w);
    m["apps/replicasets"] = c;
  }
  {
    std::vector<Column> c = {
        nameCol(),
        col("Desired", "integer", 0, "The desired number of pods.", [](const Json& o, WallTime) { return Json(num(o, "status.desiredNumberScheduled")); }),
        col("Current", "integer", 0, "The current number of pods.", [](const Json& o, WallTime) { return Json(num(o, "status.currentNumberScheduled")); }),
        col("Ready", "integer", 0, "The number of pods ready.", [](const Json& o, WallTime) { return Json(num(o, "status.numberReady")); }),
        col("Up-to-date", "integer", 0, "The number of pods updated.", [](const Json& o, WallTime) { return Json(num(o, "status.updatedNumberScheduled")); }),
        col("Available", "integer", 0, "The number of pods available.", [](const Json& o, WallTime) { return Json(num(o, "status.numberAvailable")); }),
        col("Node Selector", "string", 0, "The node selector for the pods.",
            [](const Json& o, WallTime) { return Json(mapSelector(atPath(o, "spec.template.spec.nodeSelector"))); }),
        ageCol()};
    for (auto& w : workloadWide("spec.template.spec")) c.push_back(w);
    m["apps/daemonsets"] = c;
  }
  {
    std::vector<Column> c = {
        nameCol(),
        col("Ready", "string", 0, "Number of the pod with ready state",
            [](const Json& o, WallTime) {
              return Json(fmt::format("{}/{}", num(o, "status.readyReplicas"), num(o, "spec.replicas")));
            }),
        ageCol()};
    auto w = workloadWide("spec.template.spec");
    c.push_back(w[0]);
    c.push_back(w[1]);
    m["apps/statefulsets"] = c;
  }
  {
    std::vector<Column> c = {
        nameCol(),
        col("Status", "string", 0, "Status of the job.",
            [](const Json& o, WallTime) { return Json(jobStatus(o)); }),
        col("Completions", "string", 0,
            "The desired number of successfully finished pods the job should be run with.",
            [](const Json& o, WallTime) {
              const Json* c = atPath(o, "spec.completions");
              if (c && c->is_number())
                return Json(fmt::format("{}/{}", num(o, "status.succeeded"), c->get<int64_t>()));
              // A work queue: one success ends it, however many pods run at once.
              if (int64_t p = num(o, "spec.parallelism"); p > 1)
                return Json(fmt::format("{}/1 of {}", num(o, "status.succeeded"), p));
              return Json(fmt::format("{}/1", num(o, "status.succeeded")));
            }),
        col("Duration", "string", 0, "Time required to complete the job.",
            [](const Json& o, WallTime now) {
              auto start = parseRfc3339(textAt(o, "status.startTime"));
              if (!start) return Json("");
              auto end = parseRfc3339(textAt(o, "status.completionTime"));
              return Json(humanDuration(std::chrono::duration_cast<std::chrono::seconds>((end ? *end : now) - *start)));
            }),
        ageCol()};
    for (auto& w : workloadWide("spec.template.spec")) c.push_back(w);
    m["batch/jobs"] = c;
  }
  {
    std::vector<Column> c = {
        nameCol(),
        col("Schedule", "string", 0, "The schedule in Cron format.",
            [](const Json& o, WallTime) { return Json(textAt(o, "spec.schedule")); }),
        col("Timezone", "string", 0, "The time zone for the schedule.",
            [](const Json& o, WallTime) { return Json(orNone(textAt(o, "spec.timeZone"))); }),
        col("Suspend", "boolean", 0, "Whether the cron job is suspended.",
            [](const Json& o, WallTime) {
              const Json* s = atPath(o, "spec.suspend");
              return Json(s && s->is_boolean() ? s->get<bool>() : false);
            }),
        col("Active", "integer", 0, "Number of currently running jobs.",
            [](const Json& o, WallTime) { return Json(static_cast<int64_t>(countOf(o, "status.active"))); }),
        col("Last Schedule", "string", 0, "When the job was last scheduled.",
            [](const Json& o, WallTime now) {
              return atPath(o, "status.lastScheduleTime") ? Json(age(o, "status.lastScheduleTime", now)) : Json("<none>");
            }),
        ageCol()};
    for (auto& w : workloadWide("spec.jobTemplate.spec.template.spec")) c.push_back(w);
    m["batch/cronjobs"] = c;
  }
  m["/nodes"] = {
      nameCol(),
      col("Status", "string", 0, "The status of the node",
          [](const Json& o, WallTime) { return Json(nodeStatus(o)); }),
      col("Roles", "string", 0, "The roles of the node",
          [](const Json& o, WallTime) { return Json(nodeRoles(o)); }),
      ageCol(),
      col("Version", "string", 0, "Kubelet Version reported by the node.",
          [](const Json& o, WallTime) { return Json(textAt(o, "status.nodeInfo.kubeletVersion")); }),
      col("Internal-IP", "string", 1, "List of internal IPs.",
          [](const Json& o, WallTime) { return Json(nodeAddress(o, "InternalIP")); }),
      col("External-IP", "string", 1, "List of external IPs.",
          [](const Json& o, WallTime) { return Json(nodeAddress(o, "ExternalIP")); }),
      col("OS-Image", "string", 1, "OS Image reported by the node.",
          [](const Json& o, WallTime) { return Json(textAt(o, "status.nodeInfo.osImage", "<unknown>")); }),
      col("Kernel-Version", "string", 1, "Kernel Version reported by the node.",
          [](const Json& o, WallTime) {
            return Json(textAt(o, "status.nodeInfo.kernelVersion", "<unknown>"));
          }),
      col("Container-Runtime", "string", 1, "Container Runtime Version reported by the node.",
          [](const Json& o, WallTime) {
            return Json(textAt(o, "status.nodeInfo.containerRuntimeVersion", "<unknown>"));
          }),
  };
  m["/configmaps"] = {nameCol(),
                      col("Data", "integer", 0, "Number of data entries.",
                          [](const Json& o, WallTime) {
                            return Json(static_cast<int64_t>(countOf(o, "data") + countOf(o, "binaryData")));
                          }),
                      ageCol()};
  m["/secrets"] = {
      nameCol(),
      col("Type", "string", 0, "The type of the secret",
          [](const Json& o, WallTime) { return Json(textAt(o, "type")); }),
      col("Data", "integer", 0, "Number of data entries.",
          [](const Json& o, WallTime) { return Json(static_cast<int64_t>(countOf(o, "data"))); }),
      ageCol()};
  m["/serviceaccounts"] = {nameCol(),
                           col("Secrets", "string", 0, "Number of secrets.",
                               [](const Json& o, WallTime) { return Json(static_cast<int64_t>(countOf(o, "secrets"))); }),
                           ageCol()};
  m["/endpoints"] = {nameCol(),
                     col("Endpoints", "string", 0, "Endpoints of the service.",
                         [](const Json& o, WallTime) {
                           std::vector<std::string> eps;
                           if (const Json* ss = atPath(o, "subsets"); ss && ss->is_array())
                             for (const auto& s : *ss) {
                               std::vector<std::string> ports;
                               if (s.contains("ports") && s["ports"].is_array())
                                 for (const auto& p : s["ports"]) ports.push_back(std::to_string(p.value("port", 0)));
                               if (s.contains("addresses") && s["addresses"].is_array())
                                 for (const auto& a : s["addresses"]) {
                                   if (ports.empty()) eps.push_back(getString(a, "ip"));
                                   for (const auto& p : ports) eps.push_back(getString(a, "ip") + ":" + p);
                                 }
                             }
                           if (eps.empty()) return Json("<none>");
                           if (eps.size() > 3) return Json(joinStrings({eps[0], eps[1], eps[2]}, ",") + fmt::format(" + {} more...", eps.size() - 3));
                           return Json(joinStrings(eps, ","));
                         }),
                     ageCol()};
  auto eventTime = [](const Json& o, WallTime now, bool first) -> std::string {
    for (const char* p : first ? std::vector<const char*>{"firstTimestamp", "eventTime", "metadata.creationTimestamp"}
                               : std::vector<const char*>{"series.lastObservedTime", "lastTimestamp", "eventTime", "metadata.creationTimestamp"})
      if (auto* v = atPath(o, p); v && v->is_string()) return age(o, p, now);
    return "<unknown>";
  };
  m["/events"] = {
      col("Last Seen", "string", 0, "Time when last event occurred.",
          [eventTime](const Json& o, WallTime now) { return Json(eventTime(o, now, false)); }),
      col("Type", "string", 0, "Type of the event.",
          [](const Json& o, WallTime) { return Json(textAt(o, "type")); }),
      col("Reason", "string", 0, "Reason of the event.",
          [](const Json& o, WallTime) { return Json(textAt(o, "reason")); }),
      col("Object", "string", 0, "The object the event is about.",
          [](const Json& o, WallTime) {
            std::string k = textAt(o, "involvedObject.kind");
            for (auto& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            return Json(k + "/" + textAt(o, "involvedObject.name"));
          }),
      col("Subobject", "string", 1, "The subobject the event is about.",
          [](const Json& o, WallTime) { return Json(textAt(o, "involvedObject.fieldPath")); }),
      col("Source", "string", 1, "The source of the event.",
          [](const Json& o, WallTime) {
            std::string s = textAt(o, "source.component");
            if (auto h = textAt(o, "source.host"); !h.empty()) s += ", " + h;
            return Json(s);
          }),
      col("Message", "string", 0, "Message of the event.",
          [](const Json& o, WallTime) { return Json(textAt(o, "message")); }),
      col("First Seen", "string", 1, "Time when first event occurred.",
          [eventTime](const Json& o, WallTime now) { return Json(eventTime(o, now, true)); }),
      col("Count", "string", 1, "Number of times this event has occurred.",
          [](const Json& o, WallTime) {
            return Json(std::to_string(std::max<int64_t>(1, num(o, "count"))));
          }),
      col("Name", "string", 1, "Name of the event.",
          [](const Json& o, WallTime) { return Json(textAt(o, "metadata.name")); }),
  };
  // events.k8s.io/v1 shares the core printer; its fields carry other names.
  m["events.k8s.io/events"] = {
      col("Last Seen", "string", 0, "Time when last event occurred.",
          [](const Json& o, WallTime now) {
            for (const char* p : {"series.lastObservedTime", "deprecatedLastTimestamp", "eventTime", "metadata.creationTimestamp"})
              if (auto* v = atPath(o, p); v && v->is_string()) return Json(age(o, p, now));
            return Json("<unknown>");
          }),
      col("Type", "string", 0, "Type of the event.",
          [](const Json& o, WallTime) { return Json(textAt(o, "type")); }),
      col("Reason", "string", 0, "Reason of the event.",
          [](const Json& o, WallTime) { return Json(textAt(o, "reason")); }),
      col("Object", "string", 0, "The object the event is about.",
          [](const Json& o, WallTime) {
            std::string k = textAt(o, "regarding.kind");
            for (auto& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            return Json(k + "/" + textAt(o, "regarding.name"));
          }),
      col("Message", "string", 0, "Message of the event.",
          [](const Json& o, WallTime) { return Json(textAt(o, "note")); }),
  };
  m["/limitranges"] = {
      nameCol(), col("Created At", "date", 0, "The time the limit range was created.",
                     [](const Json& o, WallTime) { return Json(textAt(o, "metadata.creationTimestamp")); })};
  // REQUEST and LIMIT: "resource: used/hard" for every hard limit, sorted,
  // the limits.* ones in LIMIT.
  auto quotaColumn = [](bool limits) {
    return [limits](const Json& o, WallTime) {
      std::vector<std::string> parts;
      if (const Json* hard = atPath(o, "status.hard"); hard && hard->is_object())
        for (const auto& [res, h] : hard->items()) {
          if (res.starts_with("limits.") != limits) continue;
          const Json* used = atPath(o, "status.used");
          std::string u = used && used->contains(res) ? text((*used)[res]) : "0";
          parts.push_back(fmt::format("{}: {}/{}", res, u, text(h)));
        }
      return Json(joinStrings(parts, ", "));
    };
  };
  m["/resourcequotas"] = {nameCol(), ageCol(),
                          col("Request", "string", 0, "Request represents a minimum amount of cpu/memory that a container may consume.", quotaColumn(false)),
                          col("Limit", "string", 0, "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.", quotaColumn(true))};
  m["coordination.k8s.io/leases"] = {
      nameCol(),
      col("Holder", "string", 0, "The holder of the lease.",
          [](const Json& o, WallTime) { return Json(textAt(o, "spec.holderIdentity")); }),
      ageCol()};
  m["discovery.k8s.io/endpointslices"] = {
      nameCol(),
      col("AddressType", "string", 0, "The type of address.",
          [](const Json& o, WallTime) { return Json(textAt(o, "addressType")); }),
      col("Ports", "string", 0, "Ports of the slice.",
          [](const Json& o, WallTime) {
            std::vector<std::string> ps;
            if (const Json* p = atPath(o, "ports"); p && p->is_array())
              for (const auto& x : *p) ps.push_back(x.contains("port") ? x["port"].dump() : "<unset>");
            return Json(ps.empty() ? "<unset>" : joinStrings(ps, ","));
          }),
      col("Endpoints", "string", 0, "Addresses of the endpoints.",
          [](const Json& o, WallTime) {
            std::vector<std::string> as;
            if (const Json* e = atPath(o, "endpoints"); e && e->is_array())
              for (const auto& x : *e)
                if (x.contains("addresses") && x["addresses"].is_array())
                  for (const auto& a : x["addresses"]) as.push_back(text(a));
            if (as.empty()) return Json("<unset>");
            if (as.size() > 3)
              return Json(joinStrings({as[0], as[1], as[2]}, ",") +
                          fmt::format(" + {} more...", as.size() - 3));
            return Json(joinStrings(as, ","));
          }),
      ageCol()};
  m["networking.k8s.io/ingresses"] = {
      nameCol(),
      col("Class", "string", 0,
          "The name of the IngressClass resource that should be used for additional configuration",
          [](const Json& o, WallTime) { return Json(textAt(o, "spec.ingressClassName", "<none>")); }),
      col("Hosts", "string", 0, "Hosts that incoming requests are matched against before the ingress rule",
          [](const Json& o, WallTime) {
            std::vector<std::string> hosts;
            if (const Json* rules = atPath(o, "spec.rules"); rules && rules->is_array())
              for (const auto& r : *rules)
                if (auto h = getString(r, "host"); !h.empty()) hosts.push_back(h);
            if (hosts.empty()) return Json("*");
            if (hosts.size() > 3)
              return Json(joinStrings({hosts[0], hosts[1], hosts[2]}, ",") + fmt::format(" + {} more...", hosts.size() - 3));
            return Json(joinStrings(hosts, ","));
          }),
      col("Address", "string", 0, "Address is a list containing ingress points for the load-balancer",
          [](const Json& o, WallTime) {
            std::vector<std::string> addrs;
            if (const Json* ing = atPath(o, "status.loadBalancer.ingress"); ing && ing->is_array())
              for (const auto& i : *ing) {
                auto ip = getString(i, "ip");
                addrs.push_back(ip.empty() ? getString(i, "hostname") : ip);
              }
            std::string joined = joinStrings(addrs, ",");
            return Json(joined.size() > 16 ? joined.substr(0, 13) + "..." : joined);  // as kubectl without -o wide
          }),
      col("Ports", "string", 0, "Ports of TLS configurations that open",
          [](const Json& o, WallTime) {
            const Json* tls = atPath(o, "spec.tls");
            return Json(tls && tls->is_array() && !tls->empty() ? "80, 443" : "80");
          }),
      ageCol()};
  m["networking.k8s.io/ingressclasses"] = {
      nameCol(),
      col("Controller", "string", 0, "Controller that is responsible for handling this class",
          [](const Json& o, WallTime) { return Json(textAt(o, "spec.controller")); }),
      col("Parameters", "string", 0, "A reference to a resource with additional parameters",
          [](const Json& o, WallTime) {
            const Json* p = atPath(o, "spec.parameters");
            if (!p || !p->is_object()) return Json("<none>");
            std::string out = getString(*p, "kind");
            if (auto g = getString(*p, "apiGroup"); !g.empty()) out += "." + g;
            return Json(out + "/" + getString(*p, "name"));
          }),
      ageCol()};
  m["scheduling.k8s.io/priorityclasses"] = {
      nameCol(),
      col("Value", "integer", 0, "value represents the integer value of this priority class.",
          [](const Json& o, WallTime) { return Json(num(o, "value")); }),
      col("Global-Default", "boolean", 0, "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.",
          [](const Json& o, WallTime) {
            const Json* g = atPath(o, "globalDefault");
            return Json(g && g->is_boolean() && g->get<bool>());
          }),
      ageCol()};
  // Roles and ClusterRoles have no printer upstream: the generic table.
  m["rbac.authorization.k8s.io/roles"] = {nameCol(), createdAtCol()};
  m["rbac.authorization.k8s.io/clusterroles"] = {nameCol(), createdAtCol()};
  m["rbac.authorization.k8s.io/rolebindings"] = roleBindingColumns("roleBinding");
  m["rbac.authorization.k8s.io/clusterrolebindings"] = roleBindingColumns("clusterRoleBinding");
  m["policy/poddisruptionbudgets"] = {
      nameCol(),
      col("Min Available", "string", 0, "The minimum number of pods that must be available simultaneously.",
          [](const Json& o, WallTime) {
            const Json* v = atPath(o, "spec.minAvailable");
            return Json(v ? text(*v) : "N/A");
          }),
      col("Max Unavailable", "string", 0, "The maximum number of pods that may be unavailable simultaneously.",
          [](const Json& o, WallTime) {
            const Json* v = atPath(o, "spec.maxUnavailable");
            return Json(v ? text(*v) : "N/A");
          }),
      col("Allowed Disruptions", "integer", 0, "Calculation of the current number of disruptions allowed.",
          [](const Json& o, WallTime) { return Json(num(o, "status.disruptionsAllowed")); }),
      ageCol()};
  // printHorizontalPodAutoscaler and formatHPAMetrics (kubectl 1.31: "cpu: 12%/50%").
  m["autoscaling/horizontalpodautoscalers"] = {
      nameCol(),
      col("Reference", "string", 0, "Reference to the resource whose replicas the autoscaler manages.",
          [](const Json& o, WallTime) {
            return Json(textAt(o, "spec.scaleTargetRef.kind") + "/" + textAt(o, "spec.scaleTargetRef.name"));
          }),
      col("Targets", "string", 0, "Current and target metric values.",
          [](const Json& o, WallTime) { return Json(hpaTargets(o)); }),
      col("MinPods", "string", 0, "Lower limit for the number of pods that can be set by the autoscaler.",
          [](const Json& o, WallTime) {
            const Json* v = atPath(o, "spec.minReplicas");
            return Json(v && v->is_number() ? text(*v) : "<unset>");
          }),
      col("MaxPods", "integer", 0, "Upper limit for the number of pods that can be set by the autoscaler.",
          [](const Json& o, WallTime) { return Json(num(o, "spec.maxReplicas")); }),
      col("Replicas", "string", 0, "Current number of replicas of pods managed by this autoscaler.",
          [](const Json& o, WallTime) { return Json(std::to_string(num(o, "status.currentReplicas"))); }),
      ageCol()};
  m["apps/controllerrevisions"] = {nameCol(),
                                   col("Controller", "string", 0, "Controller of the object.",
                                       [](const Json& o, WallTime) {
                                         if (const Json* refs = atPath(o, "metadata.ownerReferences"); refs && refs->is_array())
                                           for (const auto& r : *refs)
                                             if (r.value("controller", false)) {
                                               std::string k = getString(r, "kind");
                                               for (auto& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                                               auto av = getString(r, "apiVersion");
                                               auto g = av.find('/') == std::string::npos ? "" : "." + av.substr(0, av.find('/'));
                                               return Json(k + g + "/" + getString(r, "name"));
                                             }
                                         return Json("<none>");
                                       }),
                                   col("Revision", "integer", 0, "Revision of the object.", [](const Json& o, WallTime) { return Json(num(o, "revision")); }),
                                   ageCol()};
  // capstan's alerting (api/alerting.h).
  m["alerting.capstan.io/alertrules"] = {
      nameCol(),
      col("Check", "string", 0, "The built-in check the rule runs.",
          [](const Json& o, WallTime) { return Json(textAt(o, "spec.check")); }),
      col("Severity", "string", 0, "How urgent the rule's alerts are.",
          [](const Json& o, WallTime) { return Json(textAt(o, "spec.severity", "warning")); }),
      col("For", "string", 0, "How long the check must match before an alert fires.",
          [](const Json& o, WallTime) { return Json(textAt(o, "spec.for", "0s")); }),
      col("Firing", "integer", 0, "Alerts of the rule that are firing.",
          [](const Json& o, WallTime) { return Json(num(o, "status.firing")); }),
      col("Disabled", "boolean", 1, "Whether the rule is switched off.",
          [](const Json& o, WallTime) {
            const Json* d = atPath(o, "spec.disabled");
            return Json(d && d->is_boolean() && d->get<bool>());
          }),
      ageCol()};
  m["alerting.capstan.io/alerts"] = {
      nameCol(),
      col("State", "string", 0, "Pending, Firing or Resolved.",
          [](const Json& o, WallTime) { return Json(textAt(o, "status.state")); }),
      col("Severity", "string", 0, "How urgent the alert is.",
          [](const Json& o, WallTime) { return Json(textAt(o, "spec.severity")); }),
      col("Object", "string", 0, "The affected object.",
          [](const Json& o, WallTime) {
            std::string kind = textAt(o, "spec.object.kind");
            if (kind.empty()) return Json("<cluster>");
            std::string ns = textAt(o, "spec.object.namespace");
            return Json(kind + "/" + (ns.empty() ? "" : ns + "/") + textAt(o, "spec.object.name"));
          }),
      col("Summary", "string", 0, "What is wrong.",
          [](const Json& o, WallTime) { return Json(textAt(o, "spec.summary")); }),
      col("Since", "string", 0, "How long the rule has matched.",
          [](const Json& o, WallTime now) { return Json(age(o, "status.activeAt", now)); })};
  m["alerting.capstan.io/alertreceivers"] = {
      nameCol(),
      col("URL", "string", 0, "Where alerts are sent.",
          [](const Json& o, WallTime) { return Json(textAt(o, "spec.url")); }),
      col("Format", "string", 0, "Alertmanager or Webhook.",
          [](const Json& o, WallTime) { return Json(textAt(o, "spec.format", "Alertmanager")); }),
      col("Last Error", "string", 1, "Why the latest delivery failed.",
          [](const Json& o, WallTime) { return Json(textAt(o, "status.lastError")); }),
      ageCol()};
  return m;
}

}  // namespace

const std::vector<Column>& columnsFor(const ResourceInfo& info) {
  static const auto kColumns = buildColumns();
  static const std::vector<Column> kDefault = {nameCol(), ageCol()};
  auto it = kColumns.find(info.group + "/" + info.resource);
  return it == kColumns.end() ? kDefault : it->second;
}

Json toTable(const ResourceInfo& info, const std::vector<const Json*>& objs, IncludeObject include, WallTime now,
             bool with_columns) {
  const auto& cols = columnsFor(info);
  Json table = {{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", Json::object()}};
  if (with_columns) {
    Json defs = Json::array();
    for (const auto& c : cols)
      defs.push_back({{"name", c.name},
                      {"type", c.type},
                      {"format", c.name == "Name" ? "name" : ""},
                      {"description", c.description},
                      {"priority", c.priority}});
    table["columnDefinitions"] = std::move(defs);
  } else {
    table["columnDefinitions"] = nullptr;
  }
  Json rows = Json::array();
  for (const Json* o : objs) {
    Json cells = Json::array();
    for (const auto& c : cols) cells.push_back(c.cell(*o, now));
    Json row = {{"cells", std::move(cells)}};
    if (include == IncludeObject::kObject) {
      row["object"] = *o;
    } else if (include == IncludeObject::kMetadata) {
      Json meta = o->contains("metadata") ? (*o)["metadata"] : Json::object();
      meta.erase("managedFields");
      row["object"] = {{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", std::move(meta)}};
    }
    rows.push_back(std::move(row));
  }
  table["rows"] = std::move(rows);
  return table;
}

}  // namespace capstan::api
