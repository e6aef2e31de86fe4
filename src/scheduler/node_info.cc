#include "scheduler/node_info.h"

#include <algorithm>
#include <charconv>
#include <tuple>

#include "api/quantity.h"
#include "common/clock.h"
#include "scheduler/snapshot.h"

namespace capstan::scheduler {
namespace {

const Json& emptyObject() {
  static const Json kEmpty = Json::object();
  return kEmpty;
}

// Upstream's defaults for containers that request nothing, used in scoring
// (pkg/scheduler/util DefaultMilliCPURequest / DefaultMemoryRequest).
constexpr int64_t kDefaultMilliCpuRequest = 100;
constexpr int64_t kDefaultMemoryRequest = 200 * 1024 * 1024;

// j[key] unless j is not an object, or the key is absent or null.
const Json* presentMember(const Json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

const Json* objectMember(const Json& j, std::string_view key) {
  const Json* m = presentMember(j, key);
  return m && m->is_object() ? m : nullptr;
}

const Json* arrayMember(const Json& j, std::string_view key) {
  const Json* m = presentMember(j, key);
  return m && m->is_array() ? m : nullptr;
}

std::string stringMember(const Json& j, std::string_view key) {
  const Json* m = presentMember(j, key);
  return m && m->is_string() ? m->get<std::string>() : std::string();
}

int64_t intMember(const Json& j, std::string_view key, int64_t def) {
  const Json* m = presentMember(j, key);
  if (!m) return def;
  if (m->is_number_integer()) return m->get<int64_t>();
  if (m->is_number_float()) return static_cast<int64_t>(m->get<double>());
  return def;
}

bool boolMember(const Json& j, std::string_view key) {
  const Json* m = presentMember(j, key);
  return m && m->is_boolean() && m->get<bool>();
}

// Adds a resource list ({cpu: "100m", memory: "1Gi", ...}) to `r`. Returns
// which of cpu and memory were present (for the non-zero defaults).
void addResourceList(const Json* list, Resources& r, bool* has_cpu = nullptr, bool* has_memory = nullptr) {
  if (!list || !list->is_object()) return;
  for (const auto& [name, value] : list->items()) {
    Result<api::Quantity> q = api::parseQuantityValue(value);
    if (!q) continue;
    if (name == "cpu") {
      r.milli_cpu += q->milli;
      if (has_cpu) *has_cpu = true;
    } else if (name == "memory") {
      r.memory += q->value;
      if (has_memory) *has_memory = true;
    } else if (name == "ephemeral-storage") {
      r.ephemeral_storage += q->value;
    } else if (name == "pods") {
      r.allowed_pods += q->value;
    } else {
      r.addScalar(name, q->value);
    }
  }
}

struct ContainerRequests {
  Resources requests;
  int64_t non_zero_cpu = 0;
  int64_t non_zero_memory = 0;
};

ContainerRequests containerRequests(const Json& container) {
  ContainerRequests out;
  const Json* resources = objectMember(container, "resources");
  bool has_cpu = false, has_memory = false;
  if (resources) {
    const Json* requests = objectMember(*resources, "requests");
    addResourceList(requests, out.requests, &has_cpu, &has_memory);
    // API defaulting copies limits into absent requests; do the same for
    // objects that did not pass through it.
    if (const Json* limits = objectMember(*resources, "limits")) {
      for (const auto& [name, value] : limits->items()) {
        if (requests && requests->contains(name)) continue;
        Json one = Json::object();
        one[name] = value;
        addResourceList(&one, out.requests, &has_cpu, &has_memory);
      }
    }
  }
  out.non_zero_cpu = has_cpu ? out.requests.milli_cpu : kDefaultMilliCpuRequest;
  out.non_zero_memory = has_memory ? out.requests.memory : kDefaultMemoryRequest;
  return out;
}

void maxInto(Resources& into, const Resources& r) {
  into.milli_cpu = std::max(into.milli_cpu, r.milli_cpu);
  into.memory = std::max(into.memory, r.memory);
  into.ephemeral_storage = std::max(into.ephemeral_storage, r.ephemeral_storage);
  for (const auto& [name, v] : r.scalars) {
    int64_t cur = into.scalar(name);
    if (v > cur) into.addScalar(name, v - cur);
  }
}

// resource.PodRequests: max(sum(containers) + sidecars, each init container
// + the sidecars started before it) + overhead.
void computeRequests(const Json& spec, PodInfo& pod) {
  ContainerRequests sum;
  if (const Json* containers = arrayMember(spec, "containers")) {
    for (const Json& c : *containers) {
      ContainerRequests cr = containerRequests(c);
      sum.requests.add(cr.requests);
      sum.non_zero_cpu += cr.non_zero_cpu;
      sum.non_zero_memory += cr.non_zero_memory;
    }
  }
  if (const Json* inits = arrayMember(spec, "initContainers")) {
    ContainerRequests sidecars, max_init;
    for (const Json& c : *inits) {
      ContainerRequests cr = containerRequests(c);
      if (stringMember(c, "restartPolicy") == "Always") {
        sum.requests.add(cr.requests);
        sum.non_zero_cpu += cr.non_zero_cpu;
        sum.non_zero_memory += cr.non_zero_memory;
        sidecars.requests.add(cr.requests);
        sidecars.non_zero_cpu += cr.non_zero_cpu;
        sidecars.non_zero_memory += cr.non_zero_memory;
        cr = sidecars;
      } else {
        cr.requests.add(sidecars.requests);
        cr.non_zero_cpu += sidecars.non_zero_cpu;
        cr.non_zero_memory += sidecars.non_zero_memory;
      }
      maxInto(max_init.requests, cr.requests);
      max_init.non_zero_cpu = std::max(max_init.non_zero_cpu, cr.non_zero_cpu);
      max_init.non_zero_memory = std::max(max_init.non_zero_memory, cr.non_zero_memory);
    }
    maxInto(sum.requests, max_init.requests);
    sum.non_zero_cpu = std::max(sum.non_zero_cpu, max_init.non_zero_cpu);
    sum.non_zero_memory = std::max(sum.non_zero_memory, max_init.non_zero_memory);
  }
  Resources overhead;
  addResourceList(objectMember(spec, "overhead"), overhead);
  sum.requests.add(overhead);
  pod.requests = std::move(sum.requests);
  pod.requests.allowed_pods = 0;
  pod.non_zero_milli_cpu = sum.non_zero_cpu + overhead.milli_cpu;
  pod.non_zero_memory = sum.non_zero_memory + overhead.memory;
}

std::optional<TaintEffect> parseEffect(const std::string& s) {
  if (s.empty()) return std::nullopt;
  if (s == "NoSchedule") return TaintEffect::kNoSchedule;
  if (s == "PreferNoSchedule") return TaintEffect::kPreferNoSchedule;
  if (s == "NoExecute") return TaintEffect::kNoExecute;
  return TaintEffect::kOther;
}

std::vector<NodeRequirement> parseNodeRequirements(const Json* list) {
  std::vector<NodeRequirement> out;
  if (!list || !list->is_array()) return out;
  for (const Json& e : *list) {
    NodeRequirement r;
    r.key = stringMember(e, "key");
    std::string op = stringMember(e, "operator");
    if (op == "In")
      r.op = NodeRequirement::Op::kIn;
    else if (op == "NotIn")
      r.op = NodeRequirement::Op::kNotIn;
    else if (op == "Exists")
      r.op = NodeRequirement::Op::kExists;
    else if (op == "DoesNotExist")
      r.op = NodeRequirement::Op::kDoesNotExist;
    else if (op == "Gt")
      r.op = NodeRequirement::Op::kGt;
    else if (op == "Lt")
      r.op = NodeRequirement::Op::kLt;
    else {
      // An unknown operator matches nothing: keep a requirement that cannot hold.
      r.op = NodeRequirement::Op::kIn;
      r.values.clear();
      out.push_back(std::move(r));
      continue;
    }
    if (const Json* values = arrayMember(e, "values")) {
      for (const Json& v : *values) {
        if (v.is_string()) r.values.push_back(v.get<std::string>());
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

NodeSelectorTerm parseNodeSelectorTerm(const Json& t) {
  NodeSelectorTerm term;
  term.match_expressions = parseNodeRequirements(presentMember(t, "matchExpressions"));
  term.match_fields = parseNodeRequirements(presentMember(t, "matchFields"));
  return term;
}

Status invalid(const std::string& what, const Status& cause) {
  return Status(Code::kInvalid, what + ": " + cause.message());
}

Result<AffinityTerm> parseAffinityTerm(const Json& t, const std::string& pod_ns) {
  AffinityTerm term;
  const Json* sel = presentMember(t, "labelSelector");
  if (!sel) {
    term.selector_matches_nothing = true;
  } else {
    Result<api::LabelSelector> s = api::LabelSelector::fromJson(*sel);
    if (!s) return invalid("labelSelector", s.status());
    term.selector = std::move(s).value();
  }
  if (const Json* nss = arrayMember(t, "namespaces")) {
    for (const Json& n : *nss) {
      if (n.is_string()) term.namespaces.push_back(n.get<std::string>());
    }
  }
  if (const Json* nsSel = presentMember(t, "namespaceSelector")) {
    Result<api::LabelSelector> s = api::LabelSelector::fromJson(*nsSel);
    if (!s) return invalid("namespaceSelector", s.status());
    term.namespace_selector = std::move(s).value();
  }
  if (term.namespaces.empty() && !term.namespace_selector) term.namespaces.push_back(pod_ns);
  term.topology_key = stringMember(t, "topologyKey");
  return term;
}

Status parseAffinityTerms(const Json* list, const std::string& pod_ns, bool weighted,
                          std::vector<AffinityTerm>& out) {
  if (!list || !list->is_array()) return Status::ok();
  for (const Json& e : *list) {
    const Json* t = weighted ? objectMember(e, "podAffinityTerm") : (e.is_object() ? &e : nullptr);
    if (!t) continue;
    Result<AffinityTerm> term = parseAffinityTerm(*t, pod_ns);
    if (!term) return term.status();
    if (weighted) term->weight = static_cast<int32_t>(intMember(e, "weight", 0));
    out.push_back(std::move(term).value());
  }
  return Status::ok();
}

Status parseAffinity(const Json& spec, PodInfo& pod) {
  const Json* affinity = objectMember(spec, "affinity");
  if (!affinity) return Status::ok();
  if (const Json* na = objectMember(*affinity, "nodeAffinity")) {
    if (const Json* req = objectMember(*na, "requiredDuringSchedulingIgnoredDuringExecution")) {
      std::vector<NodeSelectorTerm> terms;
      if (const Json* list = arrayMember(*req, "nodeSelectorTerms")) {
        for (const Json& t : *list) terms.push_back(parseNodeSelectorTerm(t));
      }
      pod.required_node_affinity = std::move(terms);
    }
    if (const Json* pref = arrayMember(*na, "preferredDuringSchedulingIgnoredDuringExecution")) {
      for (const Json& p : *pref) {
        const Json* t = objectMember(p, "preference");
        if (!t) continue;
        pod.preferred_node_affinity.push_back(
            {static_cast<int32_t>(intMember(p, "weight", 0)), parseNodeSelectorTerm(*t)});
      }
    }
  }
  for (auto [field, req, pref] :
       {std::tuple{"podAffinity", &pod.required_affinity, &pod.preferred_affinity},
        std::tuple{"podAntiAffinity", &pod.required_anti_affinity, &pod.preferred_anti_affinity}}) {
    const Json* a = objectMember(*affinity, field);
    if (!a) continue;
    Status s = parseAffinityTerms(presentMember(*a, "requiredDuringSchedulingIgnoredDuringExecution"), pod.ns,
                                  false, *req);
    if (!s) return invalid(std::string("spec.affinity.") + field, s);
    s = parseAffinityTerms(presentMember(*a, "preferredDuringSchedulingIgnoredDuringExecution"), pod.ns, true,
                           *pref);
    if (!s) return invalid(std::string("spec.affinity.") + field, s);
  }
  return Status::ok();
}

Status parseSpreadConstraints(const Json& spec, PodInfo& pod) {
  const Json* list = arrayMember(spec, "topologySpreadConstraints");
  if (!list) return Status::ok();
  for (const Json& c : *list) {
    SpreadConstraint sc;
    sc.max_skew = static_cast<int32_t>(intMember(c, "maxSkew", 1));
    sc.topology_key = stringMember(c, "topologyKey");
    sc.do_not_schedule = stringMember(c, "whenUnsatisfiable") != "ScheduleAnyway";
    sc.min_domains = static_cast<int32_t>(intMember(c, "minDomains", 1));
    sc.honor_node_affinity = stringMember(c, "nodeAffinityPolicy") != "Ignore";
    sc.honor_node_taints = stringMember(c, "nodeTaintsPolicy") == "Honor";
    const Json* sel = presentMember(c, "labelSelector");
    if (!sel) {
      sc.selector_matches_nothing = true;
    } else {
      Result<api::LabelSelector> s = api::LabelSelector::fromJson(*sel);
      if (!s) return invalid("spec.topologySpreadConstraints.labelSelector", s.status());
      sc.selector = std::move(s).value();
      // matchLabelKeys: the pod's values of those keys join the selector.
      if (const Json* keys = arrayMember(c, "matchLabelKeys")) {
        std::string text = sc.selector.toString();
        for (const Json& k : *keys) {
          if (!k.is_string()) continue;
          auto it = pod.labels->find(k.get<std::string>());
          if (it == pod.labels->end() || !it->is_string()) continue;
          if (!text.empty()) text += ",";
          text += k.get<std::string>() + "=" + it->get<std::string>();
        }
        Result<api::LabelSelector> merged = api::LabelSelector::parse(text);
        if (merged) sc.selector = std::move(merged).value();
      }
    }
    pod.spread_constraints.push_back(std::move(sc));
  }
  return Status::ok();
}

bool requirementMatches(const NodeRequirement& r, const std::string* value) {
  using Op = NodeRequirement::Op;
  switch (r.op) {
    case Op::kIn:
      return value && std::find(r.values.begin(), r.values.end(), *value) != r.values.end();
    case Op::kNotIn:
      return !value || std::find(r.values.begin(), r.values.end(), *value) == r.values.end();
    case Op::kExists:
      return value != nullptr;
    case Op::kDoesNotExist:
      return value == nullptr;
    case Op::kGt:
    case Op::kLt: {
      if (!value || r.values.size() != 1) return false;
      int64_t have = 0, want = 0;
      auto p1 = std::from_chars(value->data(), value->data() + value->size(), have);
      auto p2 = std::from_chars(r.values[0].data(), r.values[0].data() + r.values[0].size(), want);
      if (p1.ec != std::errc() || p1.ptr != value->data() + value->size()) return false;
      if (p2.ec != std::errc() || p2.ptr != r.values[0].data() + r.values[0].size()) return false;
      return r.op == Op::kGt ? have > want : have < want;
    }
  }
  return false;
}

}  // namespace

int64_t Resources::scalar(std::string_view name) const {
  for (const auto& [n, v] : scalars) {
    if (n == name) return v;
  }
  return 0;
}

void Resources::addScalar(std::string_view name, int64_t value) {
  auto it = std::lower_bound(scalars.begin(), scalars.end(), name,
                             [](const auto& e, std::string_view n) { return e.first < n; });
  if (it != scalars.end() && it->first == name) {
    it->second += value;
  } else {
    scalars.emplace(it, std::string(name), value);
  }
}

void Resources::add(const Resources& o) {
  milli_cpu += o.milli_cpu;
  memory += o.memory;
  ephemeral_storage += o.ephemeral_storage;
  allowed_pods += o.allowed_pods;
  for (const auto& [n, v] : o.scalars) addScalar(n, v);
}

void Resources::subtract(const Resources& o) {
  milli_cpu -= o.milli_cpu;
  memory -= o.memory;
  ephemeral_storage -= o.ephemeral_storage;
  allowed_pods -= o.allowed_pods;
  for (const auto& [n, v] : o.scalars) addScalar(n, -v);
}

bool Toleration::tolerates(const Taint& taint) const {
  if (effect && *effect != taint.effect) return false;
  if (!key.empty() && key != taint.key) return false;
  switch (op) {
    case Op::kEqual:
      return value == taint.value;
    case Op::kExists:
      return true;
    case Op::kOther:
      return false;
  }
  return false;
}

bool tolerationsTolerate(const std::vector<Toleration>& tolerations, const Taint& taint) {
  return std::any_of(tolerations.begin(), tolerations.end(),
                     [&](const Toleration& t) { return t.tolerates(taint); });
}

bool matchesNodeSelectorTerm(const NodeSelectorTerm& term, const NodeInfo& node) {
  if (term.match_expressions.empty() && term.match_fields.empty()) return false;
  for (const NodeRequirement& r : term.match_expressions) {
    if (!requirementMatches(r, node.label(r.key))) return false;
  }
  for (const NodeRequirement& r : term.match_fields) {
    if (r.key != "metadata.name") return false;
    if (r.op != NodeRequirement::Op::kIn && r.op != NodeRequirement::Op::kNotIn) return false;
    if (!requirementMatches(r, &node.name)) return false;
  }
  return true;
}

bool PodInfo::matchesNodeSelectorAndAffinity(const NodeInfo& node) const {
  if (node_selector) {
    for (const auto& [k, v] : node_selector->items()) {
      const std::string* have = node.label(k);
      if (!have || !v.is_string() || *have != v.get_ref<const std::string&>()) return false;
    }
  }
  if (required_node_affinity) {
    return std::any_of(required_node_affinity->begin(), required_node_affinity->end(),
                       [&](const NodeSelectorTerm& t) { return matchesNodeSelectorTerm(t, node); });
  }
  return true;
}

Result<std::shared_ptr<PodInfo>> parsePod(std::shared_ptr<const Json> object) {
  auto pod = std::make_shared<PodInfo>();
  pod->object = object;
  const Json& j = *object;
  const Json& meta = presentMember(j, "metadata") ? *presentMember(j, "metadata") : emptyObject();
  const Json& spec = objectMember(j, "spec") ? *objectMember(j, "spec") : emptyObject();
  const Json& status = objectMember(j, "status") ? *objectMember(j, "status") : emptyObject();
  pod->ns = stringMember(meta, "namespace");
  if (pod->ns.empty()) pod->ns = "default";
  pod->name = stringMember(meta, "name");
  const Json* labels = objectMember(meta, "labels");
  pod->labels = labels ? labels : &emptyObject();
  pod->terminating = presentMember(meta, "deletionTimestamp") != nullptr;
  if (const Json* owners = arrayMember(meta, "ownerReferences")) {
    for (const Json& o : *owners) {
      if (boolMember(o, "controller")) {
        pod->owner_uid = stringMember(o, "uid");
        break;
      }
    }
  }
  pod->node_name = stringMember(spec, "nodeName");
  pod->nominated_node = stringMember(status, "nominatedNodeName");
  pod->priority = static_cast<int32_t>(intMember(spec, "priority", 0));
  pod->preempt_never = stringMember(spec, "preemptionPolicy") == "Never";
  if (auto t = parseRfc3339(stringMember(status, "startTime"))) {
    pod->start_time = std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
  }
  computeRequests(spec, *pod);

  if (const Json* containers = arrayMember(spec, "containers")) {
    for (const Json& c : *containers) {
      const Json* ports = arrayMember(c, "ports");
      if (!ports) continue;
      for (const Json& p : *ports) {
        int64_t host_port = intMember(p, "hostPort", 0);
        if (host_port <= 0) continue;
        HostPort hp{stringMember(p, "hostIP"), stringMember(p, "protocol"), static_cast<int32_t>(host_port)};
        if (hp.ip.empty()) hp.ip = "0.0.0.0";
        if (hp.protocol.empty()) hp.protocol = "TCP";
        pod->host_ports.push_back(std::move(hp));
      }
    }
  }
  if (const Json* tolerations = arrayMember(spec, "tolerations")) {
    for (const Json& t : *tolerations) {
      Toleration tol;
      tol.key = stringMember(t, "key");
      std::string op = stringMember(t, "operator");
      tol.op = op.empty() || op == "Equal" ? Toleration::Op::kEqual
               : op == "Exists"            ? Toleration::Op::kExists
                                           : Toleration::Op::kOther;
      tol.value = stringMember(t, "value");
      tol.effect = parseEffect(stringMember(t, "effect"));
      pod->tolerations.push_back(std::move(tol));
    }
  }
  pod->node_selector = objectMember(spec, "nodeSelector");
  if (pod->node_selector && pod->node_selector->empty()) pod->node_selector = nullptr;
  if (Status s = parseAffinity(spec, *pod); !s) return s;
  if (Status s = parseSpreadConstraints(spec, *pod); !s) return s;
  return pod;
}

bool termMatches(const AffinityTerm& term, const PodInfo& pod, const Snapshot& snapshot) {
  if (term.selector_matches_nothing) return false;
  bool ns_ok = std::find(term.namespaces.begin(), term.namespaces.end(), pod.ns) != term.namespaces.end();
  if (!ns_ok && term.namespace_selector) {
    if (term.namespace_selector->empty()) {
      ns_ok = true;
    } else {
      const Json* labels = snapshot.namespaceLabels(pod.ns);
      ns_ok = labels && term.namespace_selector->matches(*labels);
    }
  }
  return ns_ok && term.selector.matches(*pod.labels);
}

const std::string* NodeInfo::label(std::string_view key) const {
  if (key.size() == kLabelZone.size() && key == kLabelZone) return zone_label;
  if (key.size() == kLabelHostname.size() && key == kLabelHostname) return hostname_label;
  auto it = labels->find(key);
  if (it == labels->end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

void NodeInfo::setNode(std::shared_ptr<const Json> node) {
  object = std::move(node);
  taints.clear();
  allocatable = Resources();
  unschedulable = false;
  hostname_label = nullptr;
  zone_label = nullptr;
  if (!object) {
    labels = &emptyObject();
    return;
  }
  const Json& j = *object;
  const Json* meta = objectMember(j, "metadata");
  const Json* l = meta ? objectMember(*meta, "labels") : nullptr;
  labels = l ? l : &emptyObject();
  for (auto [key, slot] : {std::pair{kLabelHostname, &hostname_label}, std::pair{kLabelZone, &zone_label}}) {
    auto it = labels->find(key);
    if (it != labels->end() && it->is_string()) *slot = &it->get_ref<const std::string&>();
  }
  if (const Json* spec = objectMember(j, "spec")) {
    unschedulable = boolMember(*spec, "unschedulable");
    if (const Json* list = arrayMember(*spec, "taints")) {
      for (const Json& t : *list) {
        std::optional<TaintEffect> e = parseEffect(stringMember(t, "effect"));
        taints.push_back({stringMember(t, "key"), stringMember(t, "value"), e.value_or(TaintEffect::kOther)});
      }
    }
  }
  if (const Json* status = objectMember(j, "status")) {
    // API defaulting fills allocatable from capacity when it is absent.
    const Json* alloc = objectMember(*status, "allocatable");
    addResourceList(alloc ? alloc : objectMember(*status, "capacity"), allocatable);
  }
}

std::string podLabelKey(std::string_view ns, std::string_view key, std::string_view value) {
  std::string out;
  out.reserve(ns.size() + key.size() + value.size() + 2);
  out.append(ns).push_back('\0');
  out.append(key).push_back('\0');
  out.append(value);
  return out;
}

namespace {

void countLabels(std::unordered_map<std::string, int>& counts, const PodInfo& pod, int delta) {
  if (!pod.labels->is_object()) return;
  for (auto it = pod.labels->begin(); it != pod.labels->end(); ++it) {
    if (!it->is_string()) continue;
    std::string key = podLabelKey(pod.ns, it.key(), it->get_ref<const std::string&>());
    int& n = counts[key];
    n += delta;
    if (n <= 0) counts.erase(key);
  }
}

}  // namespace

void NodeInfo::addPod(std::shared_ptr<const PodInfo> pod) {
  countLabels(label_pod_counts, *pod, 1);
  if (pod->terminating) ++terminating_pods;
  requested.add(pod->requests);
  non_zero_milli_cpu += pod->non_zero_milli_cpu;
  non_zero_memory += pod->non_zero_memory;
  for (const HostPort& p : pod->host_ports) used_ports.push_back(p);
  if (!pod->required_anti_affinity.empty()) ++pods_with_required_anti_affinity;
  pods.push_back(std::move(pod));
}

bool NodeInfo::removePod(std::string_view ns, std::string_view name) {
  for (size_t i = 0; i < pods.size(); ++i) {
    const PodInfo& p = *pods[i];
    if (p.ns != ns || p.name != name) continue;
    requested.subtract(p.requests);
    // Drop scalars that fell back to zero so `requested` stays small.
    std::erase_if(requested.scalars, [](const auto& e) { return e.second == 0; });
    non_zero_milli_cpu -= p.non_zero_milli_cpu;
    non_zero_memory -= p.non_zero_memory;
    for (const HostPort& hp : p.host_ports) {
      auto it = std::find_if(used_ports.begin(), used_ports.end(), [&](const HostPort& u) {
        return u.port == hp.port && u.ip == hp.ip && u.protocol == hp.protocol;
      });
      if (it != used_ports.end()) used_ports.erase(it);
    }
    if (!p.required_anti_affinity.empty()) --pods_with_required_anti_affinity;
    countLabels(label_pod_counts, p, -1);
    if (p.terminating) --terminating_pods;
    pods[i] = std::move(pods.back());
    pods.pop_back();
    return true;
  }
  return false;
}

}  // namespace capstan::scheduler
