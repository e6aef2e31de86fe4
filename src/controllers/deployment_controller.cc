#include "controllers/deployment_controller.h"

#include <fmt/format.h>

#include <algorithm>

#include "api/selector.h"
#include "common/log.h"
#include "controllers/controller_ref_manager.h"
#include "controllers/deployment_replica_sets.h"
#include "controllers/object_fields.h"
#include "controllers/pod_template.h"
#include "controllers/workload_fields.h"

namespace capstan::controllers {
namespace {

using namespace deployment;

const OwnerKind kDeploymentKind{"apps/v1", "Deployment"};

// Replaces the copies of rs (by uid) in a list.
void replaceIn(std::vector<Json>& list, const Json& rs) {
  for (auto& x : list)
    if (client::uidOf(x) == client::uidOf(rs)) x = rs;
}

}  // namespace

std::vector<Json> DeploymentController::State::all() const {
  std::vector<Json> out = old_rss;
  if (new_rs) out.push_back(*new_rs);
  return out;
}

DeploymentController::DeploymentController(Context& ctx, int workers)
    : Controller("deployment", ctx, workers),
      deployments_(ctx.informers.get(client::res::kDeployments)),
      replica_sets_(ctx.informers.get(client::res::kReplicaSets)),
      pods_(ctx.informers.get(client::res::kPods)),
      events_(ctx.client, "deployment-controller", "", ctx.clock) {
  deployments_.addHandlers(enqueueHandlers());
  replica_sets_.addHandlers(
      {.on_add = [this](const ObjectPtr& rs) { onReplicaSetAdd(rs); },
       .on_update = [this](const ObjectPtr& o, const ObjectPtr& rs) { onReplicaSetUpdate(o, rs); },
       .on_delete = [this](const ObjectPtr& rs) { onReplicaSetDelete(rs); }});
  pods_.addHandlers({.on_delete = [this](const ObjectPtr& p) { onPodDelete(p); }});
}

Json DeploymentController::involved(const Json& d) const {
  return {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"metadata", metadataOf(d)}};
}

ObjectPtr DeploymentController::resolveControllerRef(const std::string& ns, const Json* ref) const {
  if (!ref || stringField(*ref, "kind") != "Deployment") return nullptr;
  auto d = deployments_.get(ns + "/" + stringField(*ref, "name"));
  if (!d || client::uidOf(*d) != stringField(*ref, "uid")) return nullptr;
  return d;
}

void DeploymentController::enqueueMatchingDeployments(const Json& rs) {
  const Json& labels = labelsOf(rs);
  if (labels.empty()) return;
  for (const auto& d : deployments_.list(client::namespaceOf(rs))) {
    auto sel = api::LabelSelector::fromJson(fieldOrNull(specOf(*d), "selector"));
    if (sel && !sel->empty() && sel->matches(labels)) enqueue(d);
  }
}

void DeploymentController::onReplicaSetAdd(const ObjectPtr& rs) {
  if (isDeleting(*rs)) return onReplicaSetDelete(rs);
  if (const Json* ref = controllerRefOf(*rs)) {
    if (auto d = resolveControllerRef(client::namespaceOf(*rs), ref)) enqueue(d);
    return;
  }
  enqueueMatchingDeployments(*rs);
}

void DeploymentController::onReplicaSetUpdate(const ObjectPtr& old_rs, const ObjectPtr& rs) {
  if (stringField(metadataOf(*old_rs), "resourceVersion") == stringField(metadataOf(*rs), "resourceVersion"))
    return;
  const std::string ns = client::namespaceOf(*rs);
  const Json* cur_ref = controllerRefOf(*rs);
  const Json* old_ref = controllerRefOf(*old_rs);
  const bool ref_changed = (cur_ref ? *cur_ref : Json()) != (old_ref ? *old_ref : Json());
  if (ref_changed && old_ref)
    if (auto d = resolveControllerRef(ns, old_ref)) enqueue(d);
  if (cur_ref) {
    if (auto d = resolveControllerRef(ns, cur_ref)) enqueue(d);
    return;
  }
  if (ref_changed || labelsOf(*old_rs) != labelsOf(*rs)) enqueueMatchingDeployments(*rs);
}

void DeploymentController::onReplicaSetDelete(const ObjectPtr& rs) {
  if (auto d = resolveControllerRef(client::namespaceOf(*rs), controllerRefOf(*rs))) enqueue(d);
}

void DeploymentController::onPodDelete(const ObjectPtr& pod) {
  // Recreate waits for the old pods to be gone, not just scaled to zero.
  const Json* ref = controllerRefOf(*pod);
  if (!ref || stringField(*ref, "kind") != "ReplicaSet") return;
  auto rs = replica_sets_.get(client::namespaceOf(*pod) + "/" + stringField(*ref, "name"));
  if (!rs || client::uidOf(*rs) != stringField(*ref, "uid")) return;
  auto d = resolveControllerRef(client::namespaceOf(*rs), controllerRefOf(*rs));
  if (d && !isRollingUpdate(*d)) enqueue(d);
}

Status DeploymentController::sync(const std::string& key) {
  auto cached = deployments_.get(key);
  if (!cached) return Status::ok();
  State st;
  st.d = *cached;
  auto selector = api::LabelSelector::fromJson(fieldOrNull(specOf(st.d), "selector"));
  if (!selector) {
    LOG_WARN("deployment has an invalid selector", "key", key, "error", selector.status().message());
    return Status::ok();
  }
  if (selector->empty()) {
    events_.record(involved(st.d), "Warning", "SelectingAll",
                   "This deployment is selecting all pods. A non-empty selector is required.");
    if (statusCount(st.d, "observedGeneration") < generationOf(st.d)) {
      Json status = statusOf(st.d);
      status["observedGeneration"] = generationOf(st.d);
      return updateDeploymentStatus(st, std::move(status));
    }
    return Status::ok();
  }
  auto rss = claimReplicaSets(st.d);
  if (!rss) return rss.status();
  st.rss = std::move(*rss);

  if (isDeleting(st.d)) {
    if (Status s = splitReplicaSets(st, false); !s) return s;
    return syncDeploymentStatus(st);
  }
  if (Status s = checkPausedConditions(st); !s) return s;
  if (boolField(specOf(st.d), "paused")) return syncScaleOnly(st);
  if (isScalingEvent(st)) return syncScaleOnly(st);
  if (isRollingUpdate(st.d)) return rolloutRolling(st);
  return rolloutRecreate(st);
}

Result<std::vector<Json>> DeploymentController::claimReplicaSets(const Json& d) {
  auto selector = api::LabelSelector::fromJson(fieldOrNull(specOf(d), "selector"));
  if (!selector) return selector.status();
  ClaimRequest req{ctx_.client,     client::res::kDeployments, d,
                   kDeploymentKind, client::res::kReplicaSets, *selector};
  auto [claimed, error] = claimObjects(req, replica_sets_.list(client::namespaceOf(d)));
  if (!error) return error;
  std::vector<Json> out;
  out.reserve(claimed.size());
  for (const auto& rs : claimed) out.push_back(*rs);
  return out;
}

Status DeploymentController::splitReplicaSets(State& st, bool create) {
  std::vector<Json> sorted = st.rss;
  sortByCreation(sorted);
  const Json& tmpl = fieldOrNull(specOf(st.d), "template");
  st.new_rs.reset();
  st.old_rss.clear();
  for (auto& rs : sorted) {
    if (!st.new_rs && equalIgnoreHash(fieldOrNull(specOf(rs), "template"), tmpl))
      st.new_rs = std::move(rs);
    else
      st.old_rss.push_back(std::move(rs));
  }
  std::string new_revision = std::to_string(maxRevision(st.old_rss) + 1);
  if (st.new_rs) return updateNewReplicaSetAnnotations(st, new_revision);
  if (create) return createNewReplicaSet(st, new_revision);
  return Status::ok();
}

Status DeploymentController::updateNewReplicaSetAnnotations(State& st, const std::string& new_revision) {
  Json copy = *st.new_rs;
  bool annotations_changed = setNewReplicaSetAnnotations(st.d, copy, new_revision, true);
  int64_t min_ready = intField(specOf(st.d), "minReadySeconds");
  if (annotations_changed || intField(specOf(copy), "minReadySeconds") != min_ready) {
    copy["spec"]["minReadySeconds"] = min_ready;
    auto r = ctx_.client.update(client::res::kReplicaSets, client::namespaceOf(copy), copy);
    if (!r) return r.status();
    st.new_rs = *r;
    replaceIn(st.rss, *r);
    return Status::ok();
  }
  Json status = statusOf(st.d);
  bool needs_update = false;
  std::string revision = annotationOf(copy, kRevisionAnnotation);
  if (annotationOf(st.d, kRevisionAnnotation) != revision) {
    // The status subresource keeps metadata; the revision goes by a patch.
    Json patch = {{"metadata", {{"annotations", {{kRevisionAnnotation, revision}}}}}};
    auto r = ctx_.client.patch(client::res::kDeployments, client::namespaceOf(st.d), client::nameOf(st.d),
                               client::PatchType::kMerge, patch);
    if (!r) return r.status();
    st.d["metadata"] = metadataOf(*r);
  }
  if (hasProgressDeadline(st.d) && !getCondition(status, "Progressing")) {
    setCondition(status, newCondition("Progressing", "True", kFoundNewReplicaSetReason,
                                      fmt::format("Found new replica set \"{}\"", client::nameOf(copy)),
                                      ctx_.clock.now()));
    needs_update = true;
  }
  if (needs_update) return updateDeploymentStatus(st, std::move(status));
  return Status::ok();
}

Status DeploymentController::createNewReplicaSet(State& st, const std::string& new_revision) {
  const Json& d = st.d;
  std::optional<int64_t> collisions;
  if (hasInt(statusOf(d), "collisionCount")) collisions = intField(statusOf(d), "collisionCount");
  Json tmpl = fieldOrNull(specOf(d), "template");
  std::string hash = computeHash(tmpl, collisions);
  if (!tmpl.is_object()) tmpl = Json::object();
  tmpl["metadata"]["labels"][kPodTemplateHashLabel] = hash;
  Json selector = fieldOrNull(specOf(d), "selector");
  if (!selector.is_object()) selector = Json::object();
  selector["matchLabels"][kPodTemplateHashLabel] = hash;
  const std::string ns = client::namespaceOf(d);
  const std::string name = client::nameOf(d) + "-" + hash;
  Json rs = {{"apiVersion", "apps/v1"},
             {"kind", "ReplicaSet"},
             {"metadata",
              {{"name", name},
               {"namespace", ns},
               {"labels", tmpl["metadata"]["labels"]},
               {"ownerReferences", Json::array({controllerRef(d, kDeploymentKind)})}}},
             {"spec",
              {{"replicas", 0},
               {"minReadySeconds", intField(specOf(d), "minReadySeconds")},
               {"selector", selector},
               {"template", tmpl}}}};
  std::vector<Json> all = st.old_rss;
  all.push_back(rs);
  int64_t replicas = newReplicaSetReplicas(d, all, rs);
  rs["spec"]["replicas"] = replicas;
  setNewReplicaSetAnnotations(d, rs, new_revision, false);

  Json status = statusOf(d);
  bool already_exists = false;
  auto created = ctx_.client.create(client::res::kReplicaSets, ns, rs);
  if (!created && created.status().code() == Code::kAlreadyExists) {
    // Ours from an earlier sync whose creation the cache had not shown yet,
    // or a hash collision with a foreign or different RS.
    auto existing = ctx_.client.get(client::res::kReplicaSets, ns, name);
    if (existing && controllerUid(*existing) == client::uidOf(d) &&
        equalIgnoreHash(fieldOrNull(specOf(*existing), "template"), fieldOrNull(specOf(d), "template"))) {
      already_exists = true;
      created = std::move(*existing);
    } else {
      status["collisionCount"] = collisions.value_or(0) + 1;
      Status st_update = updateDeploymentStatus(st, std::move(status));
      if (!st_update) return st_update;
      return Status(Code::kAlreadyExists,
                    fmt::format("replica set \"{}\" collides with an existing one", name));
    }
  } else if (!created && created.status().code() == Code::kForbidden) {
    return created.status();  // e.g. the namespace is terminating
  } else if (!created) {
    std::string msg =
        fmt::format("Failed to create new replica set \"{}\": {}", name, created.status().message());
    if (hasProgressDeadline(d)) {
      setCondition(
          status, newCondition("Progressing", "False", kFailedReplicaSetCreateReason, msg, ctx_.clock.now()));
      Status ignored = updateDeploymentStatus(st, std::move(status));
      ignored.ignore();
    }
    events_.record(involved(d), "Warning", kFailedReplicaSetCreateReason, msg);
    return created.status();
  }
  if (!already_exists && replicas > 0)
    events_.record(involved(d), "Normal", "ScalingReplicaSet",
                   fmt::format("Scaled up replica set {} to {}", name, replicas));
  st.new_rs = *created;
  st.rss.push_back(*created);

  if (annotationOf(st.d, kRevisionAnnotation) != new_revision) {
    Json patch = {{"metadata", {{"annotations", {{kRevisionAnnotation, new_revision}}}}}};
    auto r = ctx_.client.patch(client::res::kDeployments, ns, client::nameOf(st.d), client::PatchType::kMerge,
                               patch);
    if (!r) return r.status();
    st.d["metadata"] = metadataOf(*r);
  }
  if (!already_exists && hasProgressDeadline(st.d)) {
    setCondition(status, newCondition("Progressing", "True", kNewReplicaSetReason,
                                      fmt::format("Created new replica set \"{}\"", name), ctx_.clock.now()));
    return updateDeploymentStatus(st, std::move(status));
  }
  return Status::ok();
}

Status DeploymentController::scaleReplicaSetAndRecordEvent(State& st, Json& rs, int64_t new_scale,
                                                           bool* scaled) {
  *scaled = false;
  if (specReplicas(rs) == new_scale) return Status::ok();
  return scaleReplicaSet(st, rs, new_scale, specReplicas(rs) < new_scale ? "up" : "down", scaled);
}

Status DeploymentController::scaleReplicaSet(State& st, Json& rs, int64_t new_scale,
                                             const std::string& operation, bool* scaled) {
  *scaled = false;
  int64_t desired = specReplicas(st.d);
  int64_t max = desired + maxSurge(st.d);
  bool size_changes = specReplicas(rs) != new_scale;
  if (!size_changes && !replicasAnnotationsNeedUpdate(rs, desired, max)) return Status::ok();
  int64_t old_scale = specReplicas(rs);
  Json copy = rs;
  copy["spec"]["replicas"] = new_scale;
  setReplicasAnnotations(copy, desired, max);
  auto r = ctx_.client.update(client::res::kReplicaSets, client::namespaceOf(copy), copy);
  if (!r) return r.status();
  rs = *r;
  replaceIn(st.rss, rs);
  replaceIn(st.old_rss, rs);
  if (st.new_rs && client::uidOf(*st.new_rs) == client::uidOf(rs)) st.new_rs = rs;
  if (size_changes) {
    *scaled = true;
    events_.record(involved(st.d), "Normal", "ScalingReplicaSet",
                   fmt::format("Scaled {} replica set {} to {} from {}", operation, client::nameOf(rs),
                               new_scale, old_scale));
  }
  return Status::ok();
}

Status DeploymentController::cleanupDeployment(State& st) {
  if (!hasInt(specOf(st.d), "revisionHistoryLimit")) return Status::ok();
  int64_t limit = intField(specOf(st.d), "revisionHistoryLimit");
  std::vector<Json> cleanable;
  for (const auto& rs : st.old_rss)
    if (!isDeleting(rs)) cleanable.push_back(rs);
  int64_t diff = static_cast<int64_t>(cleanable.size()) - limit;
  if (diff <= 0) return Status::ok();
  sortByRevision(cleanable);
  for (int64_t i = 0; i < diff; ++i) {
    const Json& rs = cleanable[static_cast<size_t>(i)];
    // Only RSs that are fully scaled down and whose controller saw that.
    if (statusCount(rs, "replicas") != 0 || specReplicas(rs) != 0 ||
        generationOf(rs) > statusCount(rs, "observedGeneration") || isDeleting(rs))
      continue;
    Json opts = {
        {"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"preconditions", {{"uid", client::uidOf(rs)}}}};
    auto r = ctx_.client.remove(client::res::kReplicaSets, client::namespaceOf(rs), client::nameOf(rs), opts);
    if (!r && r.status().code() != Code::kNotFound) return r.status();
  }
  return Status::ok();
}

Status DeploymentController::updateDeploymentStatus(State& st, Json status) {
  Json updated = st.d;
  updated["status"] = std::move(status);
  auto r = ctx_.client.update(client::res::kDeployments, client::namespaceOf(updated), updated, "status");
  if (!r) return r.status();
  st.d = std::move(*r);
  return Status::ok();
}

}  // namespace capstan::controllers
