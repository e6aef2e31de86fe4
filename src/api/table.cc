#include "api/table.h"

#include <fmt/format.h>

#include <map>

namespace capstan::api {
namespace {

using Cell = std::function<Json(const Json&, WallTime)>;

std::string str(const Json& obj, std::string_view path, std::string_view def = "") {
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
             [](const Json& o, WallTime) { return Json(str(o, "metadata.name")); });
}
Column ageCol() {
  return col("Age", "string", 0, "CreationTimestamp is a timestamp representing the server time when this object was created.",
             [](const Json& o, WallTime now) { return Json(age(o, "metadata.creationTimestamp", now)); });
}

std::string joinStrings(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
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

// Pod STATUS as kubectl/kube-apiserver's printer computes it.
std::string podStatus(const Json& o) {
  std::string reason = str(o, "status.phase", "Pending");
  if (auto r = str(o, "status.reason"); !r.empty()) reason = r;
  const Json* ics = atPath(o, "status.initContainerStatuses");
  bool initializing = false;
  if (ics && ics->is_array()) {
    int i = 0;
    int total = static_cast<int>(atPath(o, "spec.initContainers") && atPath(o, "spec.initContainers")->is_array()
                                     ? atPath(o, "spec.initContainers")->size()
                                     : ics->size());
    for (const auto& c : *ics) {
      const Json* term = atPath(c, "state.terminated");
      const Json* wait = atPath(c, "state.waiting");
      if (term && num(*term, "exitCode") == 0) { ++i; continue; }
      if (term) {
        auto r = getString(*term, "reason");
        reason = r.empty() ? fmt::format("Init:ExitCode:{}", num(*term, "exitCode")) : "Init:" + r;
      } else if (wait && !getString(*wait, "reason").empty() && getString(*wait, "reason") != "PodInitializing") {
        reason = "Init:" + getString(*wait, "reason");
      } else {
        reason = fmt::format("Init:{}/{}", i, total);
      }
      initializing = true;
      break;
    }
  }
  if (!initializing) {
    const Json* cs = atPath(o, "status.containerStatuses");
    bool has_running = false;
    if (cs && cs->is_array()) {
      for (auto it = cs->rbegin(); it != cs->rend(); ++it) {
        const Json& c = *it;
        const Json* wait = atPath(c, "state.waiting");
        const Json* term = atPath(c, "state.terminated");
        if (wait && !getString(*wait, "reason").empty()) reason = getString(*wait, "reason");
        else if (term && !getString(*term, "reason").empty()) reason = getString(*term, "reason");
        else if (term) {
          reason = num(*term, "signal") ? fmt::format("Signal:{}", num(*term, "signal"))
                                        : fmt::format("ExitCode:{}", num(*term, "exitCode"));
        } else if (atPath(c, "state.running") && c.value("ready", false)) {
          has_running = true;
        }
      }
      if (reason == "Completed" && has_running) reason = "Running";
    }
  }
  if (atPath(o, "metadata.deletionTimestamp")) reason = str(o, "status.reason") == "NodeLost" ? "Unknown" : "Terminating";
  return reason;
}

std::vector<Column> podColumns() {
  return {
      nameCol(),
      col("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic.",
          [](const Json& o, WallTime) {
            const Json* cs = atPath(o, "status.containerStatuses");
            const Json* spec = atPath(o, "spec.containers");
            int total = spec && spec->is_array() ? static_cast<int>(spec->size()) : 0;
            int ready = 0;
            if (cs && cs->is_array())
              for (const auto& c : *cs) ready += c.value("ready", false) ? 1 : 0;
            return Json(fmt::format("{}/{}", ready, total));
          }),
      col("Status", "string", 0, "The aggregate status of the containers in this pod.",
          [](const Json& o, WallTime) { return Json(podStatus(o)); }),
      col("Restarts", "string", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
          [](const Json& o, WallTime) {
            int64_t r = 0;
            const Json* cs = atPath(o, "status.containerStatuses");
            if (cs && cs->is_array())
              for (const auto& c : *cs) r += c.value("restartCount", 0);
            return Json(std::to_string(r));
          }),
      ageCol(),
      col("IP", "string", 1, "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
          [](const Json& o, WallTime) { return Json(orNone(str(o, "status.podIP"))); }),
      col("Node", "string", 1, "NodeName is a request to schedule this pod onto a specific node.",
          [](const Json& o, WallTime) { return Json(orNone(str(o, "spec.nodeName"))); }),
      col("Nominated Node", "string", 1, "nominatedNodeName is set when this pod preempts other pods on the node.",
          [](const Json& o, WallTime) { return Json(orNone(str(o, "status.nominatedNodeName"))); }),
      col("Readiness Gates", "string", 1, "If specified, all readiness gates will be evaluated for pod readiness.",
          [](const Json& o, WallTime) {
            const Json* g = atPath(o, "spec.readinessGates");
            if (!g || !g->is_array() || g->empty()) return Json("<none>");
            return Json(fmt::format("0/{}", g->size()));
          }),
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
  std::string type = str(o, "spec.type", "ClusterIP");
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
  if (type == "ExternalName") return str(o, "spec.externalName");
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

std::map<std::string, std::vector<Column>> buildColumns() {
  std::map<std::string, std::vector<Column>> m;
  m["/pods"] = podColumns();
  m["/namespaces"] = {nameCol(),
                      col("Status", "string", 0, "The status of the namespace",
                          [](const Json& o, WallTime) { return Json(str(o, "status.phase")); }),
                      ageCol()};
  m["/services"] = {
      nameCol(),
      col("Type", "string", 0, "The type of the service.", [](const Json& o, WallTime) { return Json(str(o, "spec.type")); }),
      col("Cluster-IP", "string", 0, "The cluster IP of the service.",
          [](const Json& o, WallTime) { return Json(orNone(str(o, "spec.clusterIP"))); }),
      col("External-IP", "string", 0, "The external IP of the service.",
          [](const Json& o, WallTime) { return Json(externalIp(o)); }),
      col("Port(s)", "string", 0, "The ports of the service.", [](const Json& o, WallTime) { return Json(servicePorts(o)); }),
      ageCol(),
      col("Selector", "string", 1, "Route service traffic to pods with label keys and values matching this selector.",
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
            [](const Json& o, WallTime) {
              std::string s = "Running";
              if (const Json* cs = atPath(o, "status.conditions"); cs && cs->is_array())
                for (const auto& cnd : *cs) {
                  if (getString(cnd, "status") != "True") continue;
                  std::string t = getString(cnd, "type");
                  if (t == "Complete") s = "Complete";
                  else if (t == "Failed") s = "Failed";
                  else if (t == "Suspended") s = "Suspended";
                  else if (t == "FailureTarget") s = "FailureTarget";
                  else if (t == "SuccessCriteriaMet") s = "SuccessCriteriaMet";
                }
              return Json(s);
            }),
        col("Completions", "string", 0, "The desired number of successfully finished pods the job should be run with.",
            [](const Json& o, WallTime) {
              const Json* c = atPath(o, "spec.completions");
              if (c && c->is_number()) return Json(fmt::format("{}/{}", num(o, "status.succeeded"), c->get<int64_t>()));
              int64_t p = atPath(o, "spec.parallelism") ? num(o, "spec.parallelism") : 1;
              return Json(fmt::format("{}/1 of {}", num(o, "status.succeeded"), p));
            }),
        col("Duration", "string", 0, "Time required to complete the job.",
            [](const Json& o, WallTime now) {
              auto start = parseRfc3339(str(o, "status.startTime"));
              if (!start) return Json("");
              auto end = parseRfc3339(str(o, "status.completionTime"));
              return Json(humanDuration(std::chrono::duration_cast<std::chrono::seconds>((end ? *end : now) - *start)));
            }),
        ageCol()};
    for (auto& w : workloadWide("spec.template.spec")) c.push_back(w);
    m["batch/jobs"] = c;
  }
  {
    std::vector<Column> c = {
        nameCol(),
        col("Schedule", "string", 0, "The schedule in Cron format.", [](const Json& o, WallTime) { return Json(str(o, "spec.schedule")); }),
        col("Timezone", "string", 0, "The time zone for the schedule.",
            [](const Json& o, WallTime) { return Json(orNone(str(o, "spec.timeZone"))); }),
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
      col("Status", "string", 0, "The status of the node", [](const Json& o, WallTime) { return Json(nodeStatus(o)); }),
      col("Roles", "string", 0, "The roles of the node", [](const Json& o, WallTime) { return Json(nodeRoles(o)); }),
      ageCol(),
      col("Version", "string", 0, "Kubelet Version reported by the node.",
          [](const Json& o, WallTime) { return Json(str(o, "status.nodeInfo.kubeletVersion")); }),
      col("Internal-IP", "string", 1, "List of internal IPs.", [](const Json& o, WallTime) { return Json(nodeAddress(o, "InternalIP")); }),
      col("External-IP", "string", 1, "List of external IPs.", [](const Json& o, WallTime) { return Json(nodeAddress(o, "ExternalIP")); }),
      col("OS-Image", "string", 1, "OS Image reported by the node.", [](const Json& o, WallTime) { return Json(str(o, "status.nodeInfo.osImage", "<unknown>")); }),
      col("Kernel-Version", "string", 1, "Kernel Version reported by the node.",
          [](const Json& o, WallTime) { return Json(str(o, "status.nodeInfo.kernelVersion", "<unknown>")); }),
      col("Container-Runtime", "string", 1, "Container Runtime Version reported by the node.",
          [](const Json& o, WallTime) { return Json(str(o, "status.nodeInfo.containerRuntimeVersion", "<unknown>")); }),
  };
  m["/configmaps"] = {nameCol(),
                      col("Data", "integer", 0, "Number of data entries.",
                          [](const Json& o, WallTime) {
                            return Json(static_cast<int64_t>(countOf(o, "data") + countOf(o, "binaryData")));
                          }),
                      ageCol()};
  m["/secrets"] = {nameCol(),
                   col("Type", "string", 0, "The type of the secret", [](const Json& o, WallTime) { return Json(str(o, "type")); }),
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
      col("Last Seen", "string", 0, "Time when last event occurred.", [eventTime](const Json& o, WallTime now) { return Json(eventTime(o, now, false)); }),
      col("Type", "string", 0, "Type of the event.", [](const Json& o, WallTime) { return Json(str(o, "type")); }),
      col("Reason", "string", 0, "Reason of the event.", [](const Json& o, WallTime) { return Json(str(o, "reason")); }),
      col("Object", "string", 0, "The object the event is about.",
          [](const Json& o, WallTime) {
            std::string k = str(o, "involvedObject.kind");
            for (auto& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            return Json(k + "/" + str(o, "involvedObject.name"));
          }),
      col("Subobject", "string", 1, "The subobject the event is about.",
          [](const Json& o, WallTime) { return Json(str(o, "involvedObject.fieldPath")); }),
      col("Source", "string", 1, "The source of the event.",
          [](const Json& o, WallTime) {
            std::string s = str(o, "source.component");
            if (auto h = str(o, "source.host"); !h.empty()) s += ", " + h;
            return Json(s);
          }),
      col("Message", "string", 0, "Message of the event.", [](const Json& o, WallTime) { return Json(str(o, "message")); }),
      col("First Seen", "string", 1, "Time when first event occurred.", [eventTime](const Json& o, WallTime now) { return Json(eventTime(o, now, true)); }),
      col("Count", "string", 1, "Number of times this event has occurred.",
          [](const Json& o, WallTime) { return Json(std::to_string(std::max<int64_t>(1, num(o, "count")))); }),
      col("Name", "string", 1, "Name of the event.", [](const Json& o, WallTime) { return Json(str(o, "metadata.name")); }),
  };
  m["coordination.k8s.io/leases"] = {nameCol(),
                                     col("Holder", "string", 0, "The holder of the lease.",
                                         [](const Json& o, WallTime) { return Json(str(o, "spec.holderIdentity")); }),
                                     ageCol()};
  m["discovery.k8s.io/endpointslices"] = {
      nameCol(),
      col("AddressType", "string", 0, "The type of address.", [](const Json& o, WallTime) { return Json(str(o, "addressType")); }),
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
            if (as.size() > 3) return Json(joinStrings({as[0], as[1], as[2]}, ",") + fmt::format(" + {} more...", as.size() - 3));
            return Json(joinStrings(as, ","));
          }),
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
