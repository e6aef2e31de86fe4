#include "controllers/daemonset_controller.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/log.h"
#include "controllers/controller_revision.h"
#include "controllers/node_fit.h"
#include "controllers/object_fields.h"
#include "controllers/pod_template.h"

namespace capstan::controllers {
namespace {

constexpr const char* kPodsByDaemonSet = "daemonset-controller/pods";
constexpr const char* kRevisionsByDaemonSet = "daemonset-controller/revisions";
constexpr const char* kHashLabel = "controller-revision-hash";
const OwnerKind kDaemonSetKind{"apps/v1", "DaemonSet"};

// The node a daemon pod is for: spec.nodeName once bound, else the node its
// required affinity pins it to.
std::string targetNode(const Json& pod) {
  std::string bound = stringField(specOf(pod), "nodeName");
  if (!bound.empty()) return bound;
  const Json& required = objectField(objectField(objectField(specOf(pod), "affinity"), "nodeAffinity"),
                                     "requiredDuringSchedulingIgnoredDuringExecution");
  for (const auto& term : arrayField(required, "nodeSelectorTerms"))
    for (const auto& f : arrayField(term, "matchFields"))
      if (stringField(f, "key") == "metadata.name" && stringField(f, "operator") == "In") {
        const Json& v = arrayField(f, "values");
        if (v.size() == 1 && v[0].is_string()) return v[0].get<std::string>();
      }
  return "";
}

// The template's pod spec with upstream's automatic daemon tolerations.
Json daemonPodSpec(const Json& tmpl_spec) {
  Json spec = tmpl_spec.is_object() ? tmpl_spec : Json::object();
  if (!spec.contains("tolerations") || !spec["tolerations"].is_array()) spec["tolerations"] = Json::array();
  std::vector<std::pair<const char*, const char*>> wanted = {
      {"node.kubernetes.io/not-ready", "NoExecute"},
      {"node.kubernetes.io/unreachable", "NoExecute"},
      {"node.kubernetes.io/disk-pressure", "NoSchedule"},
      {"node.kubernetes.io/memory-pressure", "NoSchedule"},
      {"node.kubernetes.io/pid-pressure", "NoSchedule"},
      {"node.kubernetes.io/unschedulable", "NoSchedule"}};
  if (boolField(spec, "hostNetwork"))
    wanted.emplace_back("node.kubernetes.io/network-unavailable", "NoSchedule");
  for (auto [key, effect] : wanted) {
    Json& ts = spec["tolerations"];
    bool present = std::any_of(ts.begin(), ts.end(), [&](const Json& t) {
      return stringField(t, "key") == key && stringField(t, "effect") == effect &&
             stringField(t, "operator") == "Exists";
    });
    if (!present) ts.push_back({{"key", key}, {"operator", "Exists"}, {"effect", effect}});
  }
  return spec;
}

// An int-or-percent against `total`, as upstream's GetScaledValueFromIntOrPercent.
int64_t scaled(const Json& v, int64_t total, bool round_up, int64_t def) {
  if (v.is_number_integer()) return std::max<int64_t>(0, v.get<int64_t>());
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (s.empty() || s.back() != '%') return def;
    char* end = nullptr;
    double pct = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() - 1 || pct < 0) return def;
    double x = pct * static_cast<double>(total) / 100.0;
    return static_cast<int64_t>(round_up ? std::ceil(x) : std::floor(x));
  }
  return def;
}

}  // namespace

DaemonSetController::DaemonSetController(Context& ctx)
    : Controller("daemonset", ctx, 2), expectations_(ctx.clock) {
  ctx.informers.get(client::res::kDaemonSets).addHandlers(enqueueHandlers());
  auto& pods = ctx.informers.get(client::res::kPods);
  pods.addIndex(kPodsByDaemonSet, byControllerKey(kDaemonSetKind));
  pods.addHandlers({.on_add = [this](const ObjectPtr& p) { podChanged(nullptr, p, false); },
                    .on_update = [this](const ObjectPtr& o, const ObjectPtr& p) { podChanged(o, p, false); },
                    .on_delete = [this](const ObjectPtr& p) { podChanged(nullptr, p, true); }});
  ctx.informers.get(client::res::kControllerRevisions).addIndex(kRevisionsByDaemonSet, byControllerKey(kDaemonSetKind));
  ctx.informers.get(client::res::kNodes)
      .addHandlers({.on_add = [this](const ObjectPtr&) { enqueueAll(); },
                    .on_update =
                        [this](const ObjectPtr& o, const ObjectPtr& n) {
                          // Heartbeats change only status: ignore them.
                          if (labelsOf(*o) != labelsOf(*n) || specOf(*o) != specOf(*n)) enqueueAll();
                        },
                    .on_delete = [this](const ObjectPtr&) { enqueueAll(); }});
}

void DaemonSetController::enqueueAll() {
  for (const auto& ds : ctx_.informers.get(client::res::kDaemonSets).list()) enqueue(ds);
}

void DaemonSetController::podChanged(const ObjectPtr& old_pod, const ObjectPtr& pod, bool deleted) {
  std::string k = controllerKey(*pod, kDaemonSetKind);
  if (k.empty()) return;
  if (deleted || isDeleting(*pod))
    expectations_.deletionObserved(k, client::keyOf(*pod));
  else if (!old_pod)
    expectations_.creationObserved(k);
  queue().add(k);
}

Status DaemonSetController::createPod(const Json& ds, const std::string& key, const std::string& node,
                                      const std::string& hash) {
  const Json& tmpl = objectField(specOf(ds), "template");
  Json pod = podFromTemplate(tmpl, ds, kDaemonSetKind);
  pod["metadata"]["labels"][kHashLabel] = hash;
  pod["metadata"]["labels"]["pod-template-generation"] =
      std::to_string(intField(metadataOf(ds), "generation", 1));
  Json spec = daemonPodSpec(objectField(tmpl, "spec"));
  // Pinned to the node by affinity, bound by the scheduler (upstream 1.12+).
  spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = {
      {"nodeSelectorTerms",
       Json::array({{{"matchFields",
                      Json::array({{{"key", "metadata.name"}, {"operator", "In"}, {"values", {node}}}})}}})}};
  pod["spec"] = std::move(spec);
  auto r = ctx_.client.create(client::res::kPods, client::namespaceOf(ds), pod);
  if (!r) {
    expectations_.lowerCreations(key, 1);
    ctx_.events.record(withTypeMeta(ds, kDaemonSetKind), "Warning", "FailedCreate", "Error creating: " + r.status().message());
    return r.status();
  }
  ctx_.events.record(withTypeMeta(ds, kDaemonSetKind), "Normal", "SuccessfulCreate", "Created pod: " + client::nameOf(*r));
  return Status::ok();
}

Status DaemonSetController::deletePod(const Json& ds, const std::string& key, const Json& pod) {
  Json opts = {
      {"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"preconditions", {{"uid", client::uidOf(pod)}}}};
  auto r = ctx_.client.remove(client::res::kPods, client::namespaceOf(pod), client::nameOf(pod), opts);
  if (!r) {
    // No delete event will meet this expectation: the pod was already gone
    // (or replaced), or it stays; either way the owner must not wait 5 min.
    expectations_.deletionObserved(key, client::keyOf(pod));
    if (r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict) {
      ctx_.events.record(withTypeMeta(ds, kDaemonSetKind), "Warning", "FailedDelete",
                         "Error deleting: " + r.status().message());
      return r.status();
    }
  }
  ctx_.events.record(withTypeMeta(ds, kDaemonSetKind), "Normal", "SuccessfulDelete", "Deleted pod: " + client::nameOf(pod));
  return Status::ok();
}

Status DaemonSetController::sync(const std::string& key) {
  auto ds_ptr = ctx_.informers.get(client::res::kDaemonSets).get(key);
  if (!ds_ptr) {
    expectations_.remove(key);
    return Status::ok();
  }
  const Json& ds = *ds_ptr;
  if (isDeleting(ds)) return Status::ok();  // the garbage collector removes its pods
  const std::string uid = client::uidOf(ds);
  const Json& spec = specOf(ds);
  const Json& tmpl = objectField(spec, "template");
  const WallTime now = ctx_.clock.now();

  // The current revision.
  Json tmpl_data = tmpl;
  tmpl_data["$patch"] = "replace";
  Json data = {{"spec", {{"template", tmpl_data}}}};
  std::vector<ObjectPtr> owned_revisions;
  for (const auto& r :
       ctx_.informers.get(client::res::kControllerRevisions).byIndex(kRevisionsByDaemonSet, key))
    if (controllerUid(*r) == uid) owned_revisions.push_back(r);
  auto revisions = ensureRevision(ctx_.client, ds, kDaemonSetKind, data,
                                  intField(statusOf(ds), "collisionCount", 0), owned_revisions);
  if (!revisions) return revisions.status();
  const std::string hash = stringField(labelsOf(*revisions->current), kHashLabel);

  // Read before the pod cache, as upstream: the informer stores a pod before
  // its handler lowers the expectations, so "satisfied" here means the read
  // below shows all our pod writes. Read after it, an add landing in between
  // would satisfy it while the read lacks that pod, and the pod would be
  // made twice.
  const bool satisfied = expectations_.satisfied(key);

  // Daemon pods by target node, oldest first.
  std::map<std::string, std::vector<ObjectPtr>> by_node;
  std::vector<std::string> hashes_in_use;
  for (const auto& p : ctx_.informers.get(client::res::kPods).byIndex(kPodsByDaemonSet, key)) {
    if (controllerUid(*p) != uid) continue;
    hashes_in_use.push_back(stringField(labelsOf(*p), kHashLabel));
    if (!isDeleting(*p)) by_node[targetNode(*p)].push_back(p);
  }
  for (auto& [node, list] : by_node)
    std::sort(list.begin(), list.end(), [](const ObjectPtr& a, const ObjectPtr& b) {
      return stringField(metadataOf(*a), "creationTimestamp") <
             stringField(metadataOf(*b), "creationTimestamp");
    });

  const Json pod_spec = daemonPodSpec(objectField(tmpl, "spec"));
  const int64_t min_ready = intField(spec, "minReadySeconds", 0);
  std::vector<std::string> create_on;
  std::vector<ObjectPtr> to_delete;
  std::vector<std::pair<std::string, ObjectPtr>> running;  // (node, its daemon pod) where it belongs
  int64_t desired = 0, current = 0, misscheduled = 0, ready = 0, available = 0, updated = 0;
  std::set<std::string> node_names;
  for (const auto& node : ctx_.informers.get(client::res::kNodes).list()) {
    const std::string name = client::nameOf(*node);
    node_names.insert(name);
    bool fits = matchesNodeSelector(pod_spec, *node) && matchesRequiredNodeAffinity(pod_spec, *node);
    bool should_run = fits && !untoleratedTaint(pod_spec, *node, "NoSchedule") &&
                      !untoleratedTaint(pod_spec, *node, "NoExecute");
    bool should_continue = fits && !untoleratedTaint(pod_spec, *node, "NoExecute");
    auto it = by_node.find(name);
    std::vector<ObjectPtr> pods = it == by_node.end() ? std::vector<ObjectPtr>{} : it->second;
    if (should_run) {
      ++desired;
      if (!pods.empty()) {
        ++current;
        const Json& p = *pods.front();
        if (isPodReady(p)) ++ready;
        if (isPodAvailable(p, min_ready, now)) ++available;
        if (stringField(labelsOf(p), kHashLabel) == hash) ++updated;
      }
    } else if (!pods.empty()) {
      ++misscheduled;
    }
    if (!should_continue) {
      to_delete.insert(to_delete.end(), pods.begin(), pods.end());
      continue;
    }
    // Failed daemon pods are replaced; duplicates beyond the oldest go.
    std::vector<ObjectPtr> alive;
    for (const auto& p : pods) (podPhase(*p) == "Failed" ? to_delete : alive).push_back(p);
    if (alive.size() > 1) to_delete.insert(to_delete.end(), alive.begin() + 1, alive.end());
    if (!alive.empty())
      running.emplace_back(name, alive.front());
    else if (should_run && pods.empty())
      create_on.push_back(name);
  }
  for (const auto& [node, pods] : by_node)
    if (!node_names.count(node)) to_delete.insert(to_delete.end(), pods.begin(), pods.end());

  // Rolling update: replace old pods while at most maxUnavailable nodes lack
  // an available daemon pod. Old pods that are not available go at once.
  const Json& strategy = objectField(spec, "updateStrategy");
  if (satisfied && create_on.empty() && to_delete.empty() &&
      stringField(strategy, "type", "RollingUpdate") == "RollingUpdate") {
    const Json& ru = objectField(strategy, "rollingUpdate");
    int64_t max_unavailable =
        scaled(ru.contains("maxUnavailable") ? ru["maxUnavailable"] : Json(1), desired, true, 1);
    if (max_unavailable == 0) max_unavailable = 1;
    int64_t unavailable = desired - available;
    for (const auto& [node, pod] : running) {
      if (stringField(labelsOf(*pod), kHashLabel) == hash) continue;
      if (!isPodAvailable(*pod, min_ready, now)) {
        to_delete.push_back(pod);
      } else if (unavailable < max_unavailable) {
        to_delete.push_back(pod);
        ++unavailable;
      }
    }
  }

  Json status = statusOf(ds);
  status["desiredNumberScheduled"] = desired;
  status["currentNumberScheduled"] = current;
  status["numberMisscheduled"] = misscheduled;
  status["numberReady"] = ready;
  auto setCount = [&](const char* f, int64_t v) {
    if (v > 0)
      status[f] = v;
    else
      status.erase(f);
  };
  setCount("numberAvailable", available);
  setCount("numberUnavailable", desired - available);
  setCount("updatedNumberScheduled", updated);
  status["observedGeneration"] = intField(metadataOf(ds), "generation", 0);
  if (status != statusOf(ds)) {
    Json copy = ds;
    copy["status"] = status;
    auto r = ctx_.client.update(client::res::kDaemonSets, client::namespaceOf(ds), copy, "status");
    if (!r) return r.status();
  }

  if (!satisfied) {  // our last writes were not all in the cache we read
    LOG_DEBUG("daemonset waits for its pod writes to show", "key", key, "create", create_on.size(), "delete",
              to_delete.size());
    return Status::ok();
  }
  if (!to_delete.empty()) {
    std::vector<std::string> keys;
    for (const auto& p : to_delete) keys.push_back(client::keyOf(*p));
    expectations_.expectDeletions(key, keys);
    Status first_error;
    for (const auto& p : to_delete)
      if (Status st = deletePod(ds, key, *p); !st && first_error) first_error = st;
    if (!first_error) return first_error;
  } else if (!create_on.empty()) {
    expectations_.expectCreations(key, static_cast<int>(create_on.size()));
    for (size_t i = 0; i < create_on.size(); ++i)
      if (Status st = createPod(ds, key, create_on[i], hash); !st) {
        expectations_.lowerCreations(key, static_cast<int>(create_on.size() - i - 1));
        return st;
      }
  }
  return pruneRevisions(ctx_.client, *revisions, intField(spec, "revisionHistoryLimit", 10), hashes_in_use);
}

}  // namespace capstan::controllers
