#include "controllers/statefulset_controller.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "controllers/controller_revision.h"
#include "controllers/object_fields.h"
#include "controllers/pod_template.h"

namespace capstan::controllers {
namespace {

constexpr const char* kPodsBySet = "statefulset-controller/pods";
constexpr const char* kRevisionsBySet = "statefulset-controller/revisions";
constexpr const char* kHashLabel = "controller-revision-hash";
const OwnerKind kStatefulSetKind{"apps/v1", "StatefulSet"};

// The ordinal of "<set>-<n>", or -1.
int64_t ordinalOf(const std::string& set, const std::string& pod) {
  if (pod.size() <= set.size() + 1 || !pod.starts_with(set) || pod[set.size()] != '-') return -1;
  std::string_view digits = std::string_view(pod).substr(set.size() + 1);
  int64_t n = -1;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || p != digits.data() + digits.size() || n < 0) return -1;
  return n;
}

bool runningAndReady(const Json& pod) {
  return podPhase(pod) == "Running" && isPodReady(pod) && !isDeleting(pod);
}

}  // namespace

StatefulSetController::StatefulSetController(Context& ctx)
    : Controller("statefulset", ctx, 2), expectations_(ctx.clock) {
  ctx.informers.get(client::res::kStatefulSets).addHandlers(enqueueHandlers());
  auto& pods = ctx.informers.get(client::res::kPods);
  pods.addIndex(kPodsBySet, byControllerKey(kStatefulSetKind));
  pods.addHandlers({.on_add = [this](const ObjectPtr& p) { podChanged(nullptr, p, false); },
                    .on_update = [this](const ObjectPtr& o, const ObjectPtr& p) { podChanged(o, p, false); },
                    .on_delete = [this](const ObjectPtr& p) { podChanged(nullptr, p, true); }});
  ctx.informers.get(client::res::kControllerRevisions).addIndex(kRevisionsBySet, byControllerKey(kStatefulSetKind));
}

void StatefulSetController::podChanged(const ObjectPtr& old_pod, const ObjectPtr& pod, bool deleted) {
  std::string k = controllerKey(*pod, kStatefulSetKind);
  if (k.empty()) return;
  if (deleted || isDeleting(*pod))
    expectations_.deletionObserved(k, client::keyOf(*pod));
  else if (!old_pod)
    expectations_.creationObserved(k);
  queue().add(k);
}

Status StatefulSetController::createPod(const Json& set, const std::string& key, int64_t ordinal,
                                        const Json& revision) {
  const std::string name = client::nameOf(set) + "-" + std::to_string(ordinal);
  const Json& tmpl = objectField(objectField(objectField(revision, "data"), "spec"), "template");
  Json clean_tmpl = tmpl;
  clean_tmpl.erase("$patch");
  Json pod = podFromTemplate(clean_tmpl, set, kStatefulSetKind, name);
  Json& labels = pod["metadata"]["labels"];
  labels[kHashLabel] = client::nameOf(revision);
  labels["statefulset.kubernetes.io/pod-name"] = name;
  labels["apps.kubernetes.io/pod-index"] = std::to_string(ordinal);
  pod["spec"]["hostname"] = name;
  std::string service = stringField(specOf(set), "serviceName");
  if (!service.empty()) pod["spec"]["subdomain"] = service;
  expectations_.expectCreations(key, 1);
  auto r = ctx_.client.create(client::res::kPods, client::namespaceOf(set), pod);
  if (!r) {
    expectations_.lowerCreations(key, 1);
    if (r.status().code() == Code::kAlreadyExists) return Status::ok();  // the cache will show it
    ctx_.events.record(withTypeMeta(set, kStatefulSetKind), "Warning", "FailedCreate",
                       "create Pod " + name + " in StatefulSet " + client::nameOf(set) +
                           " failed error: " + r.status().message());
    return r.status();
  }
  ctx_.events.record(withTypeMeta(set, kStatefulSetKind), "Normal", "SuccessfulCreate",
                     "create Pod " + name + " in StatefulSet " + client::nameOf(set) + " successful");
  return Status::ok();
}

Status StatefulSetController::deletePod(const Json& set, const std::string& key, const Json& pod) {
  expectations_.expectDeletions(key, {client::keyOf(pod)});
  Json opts = {
      {"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"preconditions", {{"uid", client::uidOf(pod)}}}};
  auto r = ctx_.client.remove(client::res::kPods, client::namespaceOf(pod), client::nameOf(pod), opts);
  if (!r) {
    expectations_.deletionObserved(key, client::keyOf(pod));
    if (r.status().code() == Code::kNotFound || r.status().code() == Code::kConflict) return Status::ok();
    ctx_.events.record(withTypeMeta(set, kStatefulSetKind), "Warning", "FailedDelete",
                       "delete Pod " + client::nameOf(pod) + " in StatefulSet " + client::nameOf(set) +
                           " failed error: " + r.status().message());
    return r.status();
  }
  ctx_.events.record(
      withTypeMeta(set, kStatefulSetKind), "Normal", "SuccessfulDelete",
      "delete Pod " + client::nameOf(pod) + " in StatefulSet " + client::nameOf(set) + " successful");
  return Status::ok();
}

Status StatefulSetController::sync(const std::string& key) {
  auto set_ptr = ctx_.informers.get(client::res::kStatefulSets).get(key);
  if (!set_ptr) {
    expectations_.remove(key);
    return Status::ok();
  }
  const Json& set = *set_ptr;
  if (isDeleting(set)) return Status::ok();
  const std::string uid = client::uidOf(set);
  const std::string set_name = client::nameOf(set);
  const Json& spec = specOf(set);
  const WallTime now = ctx_.clock.now();

  // Revisions: the update revision holds today's template; the current
  // revision is the one the set last finished rolling out.
  Json tmpl_data = objectField(spec, "template");
  tmpl_data["$patch"] = "replace";
  Json data = {{"spec", {{"template", tmpl_data}}}};
  std::vector<ObjectPtr> owned;
  for (const auto& r : ctx_.informers.get(client::res::kControllerRevisions).byIndex(kRevisionsBySet, key))
    if (controllerUid(*r) == uid) owned.push_back(r);
  auto revisions = ensureRevision(ctx_.client, set, kStatefulSetKind, data,
                                  intField(statusOf(set), "collisionCount", 0), owned);
  if (!revisions) return revisions.status();
  const Json& update_rev = *revisions->current;
  const std::string update_name = client::nameOf(update_rev);
  std::string current_name = stringField(statusOf(set), "currentRevision", update_name);
  const Json* current_rev = &update_rev;
  for (const auto& r : revisions->history)
    if (client::nameOf(*r) == current_name) current_rev = r.get();
  if (current_rev == &update_rev) current_name = update_name;

  const int64_t replicas = std::max<int64_t>(0, intField(spec, "replicas", 1));
  const int64_t start = std::max<int64_t>(0, intField(objectField(spec, "ordinals"), "start", 0));
  const bool parallel = stringField(spec, "podManagementPolicy") == "Parallel";
  const Json& strategy = objectField(spec, "updateStrategy");
  const bool rolling = stringField(strategy, "type", "RollingUpdate") == "RollingUpdate";
  const int64_t partition =
      std::max<int64_t>(0, intField(objectField(strategy, "rollingUpdate"), "partition", 0));
  const int64_t min_ready = intField(spec, "minReadySeconds", 0);

  // Read before the pod cache (see the DaemonSet controller): checked after
  // it, an add landing in between would pass while the read lacks the pod.
  const bool satisfied = expectations_.satisfied(key);
  std::map<int64_t, ObjectPtr> in_range;
  std::vector<ObjectPtr> condemned;
  std::vector<std::string> hashes_in_use;
  for (const auto& p : ctx_.informers.get(client::res::kPods).byIndex(kPodsBySet, key)) {
    if (controllerUid(*p) != uid) continue;
    hashes_in_use.push_back(stringField(labelsOf(*p), kHashLabel));
    int64_t ord = ordinalOf(set_name, client::nameOf(*p));
    if (ord >= start && ord < start + replicas)
      in_range[ord] = p;
    else if (ord >= 0)
      condemned.push_back(p);
  }
  std::sort(condemned.begin(), condemned.end(), [&](const ObjectPtr& a, const ObjectPtr& b) {
    return ordinalOf(set_name, client::nameOf(*a)) > ordinalOf(set_name, client::nameOf(*b));
  });

  // Status first, from what the cache shows.
  int64_t count = 0, ready = 0, available = 0, current = 0, updated = 0;
  for (const auto& [ord, p] : in_range) {
    if (isDeleting(*p)) continue;
    ++count;
    if (runningAndReady(*p)) ++ready;
    if (runningAndReady(*p) && isPodAvailable(*p, min_ready, now)) ++available;
    std::string rev = stringField(labelsOf(*p), kHashLabel);
    if (rev == current_name) ++current;
    if (rev == update_name) ++updated;
  }
  for (const auto& p : condemned)
    if (!isDeleting(*p)) ++count;
  Json status = statusOf(set);
  if (updated == replicas && count == replicas && ready == replicas) {
    current_name = update_name;  // the rollout is complete
    current = updated;
  }
  status["observedGeneration"] = intField(metadataOf(set), "generation", 0);
  status["replicas"] = count;
  status["readyReplicas"] = ready;
  status["availableReplicas"] = available;
  status["currentReplicas"] = current;
  status["updatedReplicas"] = updated;
  status["currentRevision"] = current_name;
  status["updateRevision"] = update_name;
  if (!status.contains("collisionCount")) status["collisionCount"] = 0;
  if (status != statusOf(set)) {
    Json copy = set;
    copy["status"] = status;
    auto r = ctx_.client.update(client::res::kStatefulSets, client::namespaceOf(set), copy, "status");
    if (!r) return r.status();
  }

  if (!satisfied) return Status::ok();  // our last writes were not all in the cache we read

  // Pods in range, lowest ordinal first: create the missing, replace the failed.
  bool blocked = false;  // OrderedReady: a predecessor is not Running and Ready
  for (int64_t ord = start; ord < start + replicas; ++ord) {
    auto it = in_range.find(ord);
    if (it == in_range.end()) {
      // Ordinals below the partition keep the current revision.
      const Json& rev = rolling && ord - start < partition ? *current_rev : update_rev;
      if (Status st = createPod(set, key, ord, rev); !st) return st;
      if (!parallel) return Status::ok();
      blocked = true;  // not Running and Ready yet
      continue;
    }
    const Json& pod = *it->second;
    if (podPhase(pod) == "Failed" && !isDeleting(pod)) {
      if (Status st = deletePod(set, key, pod); !st) return st;
      if (!parallel) return Status::ok();
      blocked = true;
      continue;
    }
    if (!runningAndReady(pod)) blocked = true;
    if (blocked && !parallel) return Status::ok();
  }

  // Pods beyond the replicas, highest ordinal first.
  for (const auto& p : condemned) {
    if (isDeleting(*p)) {
      if (!parallel) return Status::ok();  // wait for it to go
      continue;
    }
    if (!parallel && blocked) return Status::ok();
    if (Status st = deletePod(set, key, *p); !st) return st;
    if (!parallel) return Status::ok();
  }

  // Rolling update: one pod at a time, highest ordinal first, down to the
  // partition, only while every pod is Running and Ready.
  if (rolling && !blocked && condemned.empty()) {
    for (auto it = in_range.rbegin(); it != in_range.rend(); ++it) {
      if (it->first - start < partition) break;
      const Json& pod = *it->second;
      if (stringField(labelsOf(pod), kHashLabel) == update_name) continue;
      if (isDeleting(pod)) break;
      if (Status st = deletePod(set, key, pod); !st) return st;
      break;
    }
  }
  hashes_in_use.push_back(current_name);
  return pruneRevisions(ctx_.client, *revisions, intField(spec, "revisionHistoryLimit", 10), hashes_in_use);
}

}  // namespace capstan::controllers
