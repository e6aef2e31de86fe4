#include "controllers/replicaset_controller.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "api/selector.h"
#include "common/log.h"
#include "controllers/active_pods.h"
#include "controllers/controller_ref_manager.h"
#include "controllers/object_fields.h"
#include "controllers/pod_template.h"
#include "controllers/workload_fields.h"

namespace capstan::controllers {
namespace {

const OwnerKind kReplicaSetKind{"apps/v1", "ReplicaSet"};

// The reference events are recorded against (list items may lack kind).
Json involvedReplicaSet(const Json& rs) {
  Json r = {{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"metadata", metadataOf(rs)}};
  return r;
}

// Runs `count` asynchronous calls in slow-start batches (1, 2, 4, ...), each
// batch concurrently, stopping after a batch with a failure, as upstream's
// slowStartBatch. `start(done)` issues one call. Returns the successes and
// the first error.
std::pair<int, Status> slowStartBatch(int count,
                                      const std::function<void(std::function<void(Status)>)>& start) {
  int successes = 0;
  int batch = std::min(count, 1);
  for (int pos = 0; pos < count; batch = std::min(2 * batch, count - pos)) {
    std::mutex mu;
    std::condition_variable cv;
    int pending = batch;
    int ok = 0;
    Status first_error;
    for (int i = 0; i < batch; ++i)
      start([&](Status st) {
        std::lock_guard lock(mu);
        if (st)
          ++ok;
        else if (first_error)
          first_error = std::move(st);
        if (--pending == 0) cv.notify_all();
      });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return pending == 0; });
    successes += ok;
    if (!first_error) return {successes, first_error};
    pos += batch;
  }
  return {successes, Status::ok()};
}

bool templateLabelsMatch(const Json& rs, const Json& pod) {
  const Json& want = objectField(objectField(specOf(rs), "template"), "metadata");
  const Json& have = labelsOf(pod);
  for (const auto& [k, v] : objectField(want, "labels").items())
    if (!have.contains(k) || have[k] != v) return false;
  return true;
}

// A condition list without the given type.
Json withoutCondition(const Json& conditions, std::string_view type) {
  Json out = Json::array();
  for (const auto& c : conditions)
    if (stringField(c, "type") != type) out.push_back(c);
  return out;
}

}  // namespace

ReplicaSetController::ReplicaSetController(Context& ctx, int workers, int burst_replicas)
    : Controller("replicaset", ctx, workers),
      pods_(ctx.informers.get(client::res::kPods)),
      replica_sets_(ctx.informers.get(client::res::kReplicaSets)),
      expectations_(ctx.clock),
      events_(ctx.client, "replicaset-controller", "", ctx.clock),
      burst_replicas_(burst_replicas) {
  replica_sets_.addHandlers({.on_add = [this](const ObjectPtr& rs) { enqueue(rs); },
                             .on_update = [this](const ObjectPtr&, const ObjectPtr& rs) { enqueue(rs); },
                             .on_delete =
                                 [this](const ObjectPtr& rs) {
                                   expectations_.remove(client::keyOf(*rs));
                                   enqueue(rs);
                                 }});
  pods_.addHandlers({.on_add = [this](const ObjectPtr& p) { onPodAdd(p); },
                     .on_update = [this](const ObjectPtr& o, const ObjectPtr& p) { onPodUpdate(o, p); },
                     .on_delete = [this](const ObjectPtr& p) { onPodDelete(p); }});
}

ObjectPtr ReplicaSetController::resolveControllerRef(const std::string& ns, const Json* ref) const {
  if (!ref || stringField(*ref, "kind") != "ReplicaSet") return nullptr;
  auto rs = replica_sets_.get(ns + "/" + stringField(*ref, "name"));
  if (!rs || client::uidOf(*rs) != stringField(*ref, "uid")) return nullptr;
  return rs;
}

void ReplicaSetController::enqueueMatchingReplicaSets(const Json& pod) {
  const Json& labels = labelsOf(pod);
  if (labels.empty()) return;
  for (const auto& rs : replica_sets_.list(client::namespaceOf(pod))) {
    auto sel = api::LabelSelector::fromJson(fieldOrNull(specOf(*rs), "selector"));
    if (sel && !sel->empty() && sel->matches(labels)) enqueue(rs);
  }
}

void ReplicaSetController::onPodAdd(const ObjectPtr& pod) {
  if (isDeleting(*pod)) return onPodDelete(pod);  // e.g. seen first on a re-list
  if (const Json* ref = controllerRefOf(*pod)) {
    if (auto rs = resolveControllerRef(client::namespaceOf(*pod), ref)) {
      expectations_.creationObserved(client::keyOf(*rs));
      enqueue(rs);
    }
    return;
  }
  enqueueMatchingReplicaSets(*pod);
}

void ReplicaSetController::onPodUpdate(const ObjectPtr& old_pod, const ObjectPtr& pod) {
  if (stringField(metadataOf(*old_pod), "resourceVersion") ==
      stringField(metadataOf(*pod), "resourceVersion"))
    return;  // a resync: the ReplicaSets resync themselves
  const bool labels_changed = labelsOf(*old_pod) != labelsOf(*pod);
  if (isDeleting(*pod)) {
    // Graceful deletion: count it as deleted now, as upstream does, so the
    // replacement starts while the old pod terminates.
    onPodDelete(pod);
    if (labels_changed) onPodDelete(old_pod);
    return;
  }
  const Json* cur_ref = controllerRefOf(*pod);
  const Json* old_ref = controllerRefOf(*old_pod);
  const std::string ns = client::namespaceOf(*pod);
  const bool ref_changed = (cur_ref ? *cur_ref : Json()) != (old_ref ? *old_ref : Json());
  if (ref_changed && old_ref)
    if (auto rs = resolveControllerRef(ns, old_ref)) enqueue(rs);
  if (cur_ref) {
    auto rs = resolveControllerRef(ns, cur_ref);
    if (!rs) return;
    enqueue(rs);
    int64_t min_ready = intField(specOf(*rs), "minReadySeconds");
    if (min_ready > 0 && !isPodReady(*old_pod) && isPodReady(*pod))
      queue().addAfter(client::keyOf(*rs), std::chrono::seconds(min_ready + 1));
    return;
  }
  if (labels_changed || ref_changed) enqueueMatchingReplicaSets(*pod);
}

void ReplicaSetController::onPodDelete(const ObjectPtr& pod) {
  auto rs = resolveControllerRef(client::namespaceOf(*pod), controllerRefOf(*pod));
  if (!rs) return;
  expectations_.deletionObserved(client::keyOf(*rs), client::keyOf(*pod));
  enqueue(rs);
}

Status ReplicaSetController::sync(const std::string& key) {
  auto rs = replica_sets_.get(key);
  if (!rs) {
    expectations_.remove(key);
    return Status::ok();
  }
  auto selector = api::LabelSelector::fromJson(fieldOrNull(specOf(*rs), "selector"));
  if (!selector) {
    LOG_WARN("replicaset has an invalid selector", "key", key, "error", selector.status().message());
    return Status::ok();  // retrying cannot help until the object changes
  }
  const bool needs_sync = expectations_.satisfied(key);

  std::vector<ObjectPtr> active;
  for (auto& p : pods_.list(client::namespaceOf(*rs)))
    if (isPodActive(*p)) active.push_back(std::move(p));
  ClaimRequest claim{ctx_.client,     client::res::kReplicaSets, *rs,
                     kReplicaSetKind, client::res::kPods,        *selector};
  auto [pods, claim_error] = claimObjects(claim, active);
  if (!claim_error) return claim_error;

  Status manage_error;
  if (needs_sync && !isDeleting(*rs)) manage_error = manageReplicas(pods, *rs, key);

  auto updated = updateStatus(*rs, calculateStatus(*rs, pods, manage_error));
  if (!updated) return updated.status();
  int64_t min_ready = intField(specOf(*updated), "minReadySeconds");
  int64_t replicas = specReplicas(*updated);
  if (manage_error && min_ready > 0 && intField(statusOf(*updated), "readyReplicas") == replicas &&
      intField(statusOf(*updated), "availableReplicas") != replicas)
    queue().addAfter(key, std::chrono::seconds(min_ready));
  return manage_error;
}

Status ReplicaSetController::manageReplicas(const std::vector<ObjectPtr>& pods, const Json& rs,
                                            const std::string& key) {
  int64_t diff = static_cast<int64_t>(pods.size()) - std::max<int64_t>(specReplicas(rs), 0);
  if (diff < 0) return createPods(rs, key, static_cast<int>(std::min<int64_t>(-diff, burst_replicas_)));
  if (diff == 0) return Status::ok();
  diff = std::min<int64_t>(diff, burst_replicas_);
  // Pods of sibling ReplicaSets (same controller, e.g. one Deployment's)
  // count for spreading: doubled-up nodes lose pods first.
  std::vector<ObjectPtr> related = pods;
  if (const Json* owner = controllerRefOf(rs)) {
    std::string owner_uid = stringField(*owner, "uid");
    for (const auto& sibling : replica_sets_.list(client::namespaceOf(rs))) {
      if (client::uidOf(*sibling) == client::uidOf(rs) || controllerUid(*sibling) != owner_uid) continue;
      for (const auto& p : pods_.list(client::namespaceOf(rs)))
        if (controllerUid(*p) == client::uidOf(*sibling)) related.push_back(p);
    }
  }
  std::vector<ObjectPtr> victims = pods;
  rankPodsForDeletion(victims, related, ctx_.clock.now());
  victims.resize(static_cast<size_t>(diff));
  return deletePods(rs, key, victims);
}

Status ReplicaSetController::createPods(const Json& rs, const std::string& key, int count) {
  expectations_.expectCreations(key, count);
  const Json pod = podFromTemplate(objectField(specOf(rs), "template"), rs, kReplicaSetKind);
  const std::string ns = client::namespaceOf(rs);
  const Json involved = involvedReplicaSet(rs);
  const std::string body = pod.dump();
  auto [created, error] = slowStartBatch(count, [&](std::function<void(Status)> done) {
    client::HttpCall call{.method = "POST", .path = client::res::kPods.path(ns), .body = body};
    ctx_.client.callAsync(std::move(call), [this, involved, done = std::move(done)](Result<Json> r) {
      if (r) {
        events_.record(involved, "Normal", "SuccessfulCreate", "Created pod: " + client::nameOf(*r));
        return done(Status::ok());
      }
      events_.record(involved, "Warning", "FailedCreate", "Error creating: " + r.status().message());
      done(r.status());
    });
  });
  // Pods never created will never be observed.
  if (created < count) expectations_.lowerCreations(key, count - created);
  return error;
}

Status ReplicaSetController::deletePods(const Json& rs, const std::string& key,
                                        const std::vector<ObjectPtr>& victims) {
  std::vector<std::string> keys;
  for (const auto& p : victims) keys.push_back(client::keyOf(*p));
  expectations_.expectDeletions(key, keys);
  const Json involved = involvedReplicaSet(rs);
  std::mutex mu;
  std::condition_variable cv;
  size_t pending = victims.size();
  Status first_error;
  for (const auto& p : victims) {
    client::HttpCall call{.method = "DELETE",
                          .path = client::res::kPods.path(client::namespaceOf(*p), client::nameOf(*p))};
    std::string name = client::nameOf(*p);
    std::string pod_key = client::keyOf(*p);
    ctx_.client.sendAsync(std::move(call), [&, name, pod_key](Status st) {
      if (st) {
        events_.record(involved, "Normal", "SuccessfulDelete", "Deleted pod: " + name);
      } else {
        // The informer will not show a deletion that did not happen.
        expectations_.deletionObserved(key, pod_key);
        if (st.code() != Code::kNotFound)
          events_.record(involved, "Warning", "FailedDelete", "Error deleting: " + st.message());
      }
      std::lock_guard lock(mu);
      if (!st && st.code() != Code::kNotFound && first_error) first_error = st;
      if (--pending == 0) cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return pending == 0; });
  return first_error;
}

Json ReplicaSetController::calculateStatus(const Json& rs, const std::vector<ObjectPtr>& pods,
                                           const Status& manage_error) const {
  int64_t fully_labeled = 0, ready = 0, available = 0;
  int64_t min_ready = intField(specOf(rs), "minReadySeconds");
  WallTime now = ctx_.clock.now();
  for (const auto& p : pods) {
    if (templateLabelsMatch(rs, *p)) ++fully_labeled;
    if (isPodReady(*p)) ++ready;
    if (isPodAvailable(*p, min_ready, now)) ++available;
  }
  Json status = {{"replicas", pods.size()}};
  // Zero counts are omitted, as Go's omitempty writes them.
  if (fully_labeled) status["fullyLabeledReplicas"] = fully_labeled;
  if (ready) status["readyReplicas"] = ready;
  if (available) status["availableReplicas"] = available;
  Json conditions = arrayField(statusOf(rs), "conditions");
  const Json* failure = findCondition(rs, "ReplicaFailure");
  if (!manage_error && !failure) {
    int64_t diff = static_cast<int64_t>(pods.size()) - specReplicas(rs);
    std::string reason = diff < 0 ? "FailedCreate" : diff > 0 ? "FailedDelete" : "";
    conditions.push_back({{"type", "ReplicaFailure"},
                          {"status", "True"},
                          {"lastTransitionTime", formatRfc3339(now)},
                          {"reason", reason},
                          {"message", manage_error.message()}});
  } else if (manage_error && failure) {
    conditions = withoutCondition(conditions, "ReplicaFailure");
  }
  if (!conditions.empty()) status["conditions"] = conditions;
  return status;
}

Result<Json> ReplicaSetController::updateStatus(const Json& rs, Json status) {
  const Json& cur = statusOf(rs);
  auto same = [&](const char* f) { return intField(cur, f) == intField(status, f); };
  if (same("replicas") && same("fullyLabeledReplicas") && same("readyReplicas") &&
      same("availableReplicas") && generationOf(rs) == intField(cur, "observedGeneration") &&
      arrayField(cur, "conditions") == arrayField(status, "conditions"))
    return rs;
  if (int64_t g = generationOf(rs)) status["observedGeneration"] = g;
  Json updated = rs;
  for (int attempt = 0;; ++attempt) {
    updated["status"] = status;
    auto r = ctx_.client.update(client::res::kReplicaSets, client::namespaceOf(rs), updated, "status");
    if (r || attempt >= 1 || r.status().code() != Code::kConflict) return r;
    auto fresh = ctx_.client.get(client::res::kReplicaSets, client::namespaceOf(rs), client::nameOf(rs));
    if (!fresh) return fresh.status();
    updated = std::move(*fresh);
  }
}

}  // namespace capstan::controllers
