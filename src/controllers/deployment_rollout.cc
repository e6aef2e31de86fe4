// The Deployment controller's strategies and scaling, as upstream's
// rolling.go, recreate.go and sync.go (scale, isScalingEvent).
#include <algorithm>
#include <map>

#include "controllers/deployment_controller.h"
#include "controllers/deployment_replica_sets.h"
#include "controllers/object_fields.h"
#include "controllers/pod_template.h"
#include "controllers/workload_fields.h"

namespace capstan::controllers {
namespace {

using namespace deployment;

std::vector<Json*> active(std::vector<Json>& rss) {
  std::vector<Json*> out;
  for (auto& rs : rss)
    if (specReplicas(rs) > 0) out.push_back(&rs);
  return out;
}

}  // namespace

Status DeploymentController::syncScaleOnly(State& st) {
  if (Status s = splitReplicaSets(st, false); !s) return s;
  if (Status s = scale(st); !s) return s;
  if (boolField(specOf(st.d), "paused"))
    if (Status s = cleanupDeployment(st); !s) return s;
  return syncDeploymentStatus(st);
}

bool DeploymentController::isScalingEvent(State& st) {
  if (Status s = splitReplicaSets(st, false); !s) return false;
  for (const auto& rs : st.all()) {
    if (specReplicas(rs) <= 0) continue;
    std::string desired = annotationOf(rs, kDesiredReplicasAnnotation);
    if (!desired.empty() && desired != std::to_string(specReplicas(st.d))) return true;
  }
  return false;
}

Status DeploymentController::scale(State& st) {
  const int64_t replicas = specReplicas(st.d);
  // One active RS (or none: then the newest) takes the whole count.
  {
    std::vector<Json> old_newest = st.old_rss;
    sortByCreation(old_newest);
    std::reverse(old_newest.begin(), old_newest.end());
    std::vector<Json*> act = active(st.old_rss);
    bool new_active = st.new_rs && specReplicas(*st.new_rs) > 0;
    size_t n_active = act.size() + (new_active ? 1 : 0);
    Json* target = nullptr;
    if (n_active == 0 && (st.new_rs || !st.old_rss.empty())) {
      if (st.new_rs) {
        target = &*st.new_rs;
      } else {
        for (auto& rs : st.old_rss)
          if (client::uidOf(rs) == client::uidOf(old_newest.front())) target = &rs;
      }
    } else if (n_active == 1) {
      target = new_active ? &*st.new_rs : act.front();
    }
    if (n_active <= 1 && target) {
      bool scaled = false;
      if (specReplicas(*target) == replicas) return Status::ok();
      return scaleReplicaSetAndRecordEvent(st, *target, replicas, &scaled);
    }
    if (n_active == 0) return Status::ok();
  }
  // A saturated new RS: the old ones go to zero.
  if (isSaturated(st.d, st.new_rs ? &*st.new_rs : nullptr)) {
    for (Json* rs : active(st.old_rss)) {
      bool scaled = false;
      if (Status s = scaleReplicaSetAndRecordEvent(st, *rs, 0, &scaled); !s) return s;
    }
    return Status::ok();
  }
  if (!isRollingUpdate(st.d)) return Status::ok();
  // Proportional scaling: spread the difference over the active RSs by
  // their share of the previous size (max-replicas annotation), the
  // leftover going to the largest.
  std::vector<Json> all;
  for (const auto& rs : st.all())
    if (specReplicas(rs) > 0) all.push_back(rs);
  int64_t allowed = replicas > 0 ? replicas + maxSurge(st.d) : 0;
  int64_t to_add = allowed - specReplicaCount(all);
  std::string operation;
  if (to_add > 0) {
    sortBySizeNewer(all);
    operation = "up";
  } else if (to_add < 0) {
    sortBySizeOlder(all);
    operation = "down";
  }
  int64_t added = 0;
  std::map<std::string, int64_t> size;
  for (const auto& rs : all) {
    int64_t p = to_add != 0 ? proportion(rs, st.d, to_add, added) : 0;
    size[client::uidOf(rs)] = specReplicas(rs) + p;
    added += p;
  }
  for (size_t i = 0; i < all.size(); ++i) {
    std::string uid = client::uidOf(all[i]);
    if (i == 0 && to_add != 0) size[uid] = std::max<int64_t>(size[uid] + (to_add - added), 0);
    // Scale the State's own copy so later steps see the result.
    Json* target = nullptr;
    if (st.new_rs && client::uidOf(*st.new_rs) == uid) target = &*st.new_rs;
    for (auto& rs : st.old_rss)
      if (client::uidOf(rs) == uid) target = &rs;
    if (!target) continue;
    bool scaled = false;
    if (Status s = scaleReplicaSet(st, *target, size[uid], operation, &scaled); !s) return s;
  }
  return Status::ok();
}

Status DeploymentController::rolloutRolling(State& st) {
  if (Status s = splitReplicaSets(st, true); !s) return s;
  bool scaled = false;
  if (Status s = reconcileNewReplicaSet(st, &scaled); !s) return s;
  if (scaled) return syncRolloutStatus(st);
  if (Status s = reconcileOldReplicaSets(st, &scaled); !s) return s;
  if (scaled) return syncRolloutStatus(st);
  if (deploymentComplete(st.d, statusOf(st.d)))
    if (Status s = cleanupDeployment(st); !s) return s;
  return syncRolloutStatus(st);
}

Status DeploymentController::reconcileNewReplicaSet(State& st, bool* scaled) {
  *scaled = false;
  if (!st.new_rs) return Status::ok();
  int64_t replicas = specReplicas(st.d);
  if (specReplicas(*st.new_rs) == replicas) return Status::ok();
  if (specReplicas(*st.new_rs) > replicas)
    return scaleReplicaSetAndRecordEvent(st, *st.new_rs, replicas, scaled);
  int64_t count = newReplicaSetReplicas(st.d, st.all(), *st.new_rs);
  return scaleReplicaSetAndRecordEvent(st, *st.new_rs, count, scaled);
}

Status DeploymentController::reconcileOldReplicaSets(State& st, bool* scaled) {
  *scaled = false;
  std::vector<Json> all = st.all();
  int64_t old_count = specReplicaCount(st.old_rss);
  if (old_count == 0) return Status::ok();
  int64_t all_count = specReplicaCount(all);
  int64_t min_available = specReplicas(st.d) - maxUnavailable(st.d);
  int64_t new_unavailable =
      st.new_rs ? specReplicas(*st.new_rs) - statusCount(*st.new_rs, "availableReplicas") : 0;
  int64_t max_scaled_down = all_count - min_available - new_unavailable;
  if (max_scaled_down <= 0) return Status::ok();
  // Unhealthy old replicas go first: they do not count as available.
  int64_t cleaned = 0;
  if (Status s = cleanupUnhealthyReplicas(st, max_scaled_down, &cleaned); !s) return s;
  int64_t scaled_down = 0;
  if (Status s = scaleDownOldReplicaSetsForRollingUpdate(st, &scaled_down); !s) return s;
  *scaled = cleaned + scaled_down > 0;
  return Status::ok();
}

Status DeploymentController::cleanupUnhealthyReplicas(State& st, int64_t max_cleanup, int64_t* cleaned) {
  *cleaned = 0;
  sortByCreation(st.old_rss);
  for (auto& rs : st.old_rss) {
    if (*cleaned >= max_cleanup) break;
    int64_t replicas = specReplicas(rs);
    int64_t available = statusCount(rs, "availableReplicas");
    if (replicas == 0 || replicas == available) continue;
    int64_t down = std::min(max_cleanup - *cleaned, replicas - available);
    if (down <= 0) continue;  // more available than desired: nothing unhealthy
    bool scaled = false;
    if (Status s = scaleReplicaSetAndRecordEvent(st, rs, replicas - down, &scaled); !s) return s;
    *cleaned += down;
  }
  return Status::ok();
}

Status DeploymentController::scaleDownOldReplicaSetsForRollingUpdate(State& st, int64_t* scaled_down) {
  *scaled_down = 0;
  int64_t min_available = specReplicas(st.d) - maxUnavailable(st.d);
  int64_t available = availableReplicaCount(st.all());
  if (available <= min_available) return Status::ok();
  int64_t total = available - min_available;
  sortByCreation(st.old_rss);
  for (auto& rs : st.old_rss) {
    if (*scaled_down >= total) break;
    int64_t replicas = specReplicas(rs);
    if (replicas == 0) continue;
    int64_t down = std::min(replicas, total - *scaled_down);
    bool scaled = false;
    if (Status s = scaleReplicaSetAndRecordEvent(st, rs, replicas - down, &scaled); !s) return s;
    *scaled_down += down;
  }
  return Status::ok();
}

bool DeploymentController::oldPodsRunning(const State& st) const {
  if (actualReplicaCount(st.old_rss) > 0) return true;
  const std::string new_uid = st.new_rs ? client::uidOf(*st.new_rs) : "";
  std::vector<std::string> old_uids;
  for (const auto& rs : st.old_rss) old_uids.push_back(client::uidOf(rs));
  for (const auto& pod : pods_.list(client::namespaceOf(st.d))) {
    std::string owner = controllerUid(*pod);
    if (owner.empty() || owner == new_uid) continue;
    if (std::find(old_uids.begin(), old_uids.end(), owner) == old_uids.end()) continue;
    if (!isPodTerminal(*pod)) return true;  // Pending, Running, Unknown, or still terminating
  }
  return false;
}

Status DeploymentController::rolloutRecreate(State& st) {
  if (Status s = splitReplicaSets(st, false); !s) return s;
  bool scaled_down = false;
  for (auto& rs : st.old_rss) {
    if (specReplicas(rs) == 0) continue;
    bool scaled = false;
    if (Status s = scaleReplicaSetAndRecordEvent(st, rs, 0, &scaled); !s) return s;
    scaled_down = scaled_down || scaled;
  }
  if (scaled_down) return syncRolloutStatus(st);
  // Wait until every old pod is gone before starting new ones.
  if (oldPodsRunning(st)) return syncRolloutStatus(st);
  if (!st.new_rs)
    if (Status s = splitReplicaSets(st, true); !s) return s;
  if (st.new_rs) {
    bool scaled = false;
    if (Status s = scaleReplicaSetAndRecordEvent(st, *st.new_rs, specReplicas(st.d), &scaled); !s) return s;
    if (scaled) return syncRolloutStatus(st);
  }
  if (deploymentComplete(st.d, statusOf(st.d)))
    if (Status s = cleanupDeployment(st); !s) return s;
  return syncRolloutStatus(st);
}

}  // namespace capstan::controllers
