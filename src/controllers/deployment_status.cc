// The Deployment controller's status, as upstream's progress.go and
// sync.go (calculateStatus, syncRolloutStatus, checkPausedConditions).
#include <fmt/format.h>

#include "controllers/deployment_controller.h"
#include "controllers/deployment_replica_sets.h"
#include "controllers/object_fields.h"
#include "controllers/workload_fields.h"

namespace capstan::controllers {
namespace {

using namespace deployment;

// Zero counts are left out as Go's omitempty does, so that a status read
// back compares equal to the one computed.
void putCount(Json& status, const char* field, int64_t v, bool omit_zero = true) {
  if (v != 0 || !omit_zero)
    status[field] = v;
  else
    status.erase(field);
}

Json replicaFailure(const std::vector<Json>& rss) {
  for (const auto& rs : rss)
    for (const auto& c : arrayField(statusOf(rs), "conditions"))
      if (stringField(c, "type") == "ReplicaFailure") {
        Json dc = {{"type", "ReplicaFailure"},
                   {"status", stringField(c, "status")},
                   {"reason", stringField(c, "reason")},
                   {"message", stringField(c, "message")}};
        dc["lastUpdateTime"] = fieldOrNull(c, "lastTransitionTime");
        dc["lastTransitionTime"] = fieldOrNull(c, "lastTransitionTime");
        return dc;
      }
  return nullptr;
}

}  // namespace

Json DeploymentController::calculateStatus(const State& st) const {
  std::vector<Json> all = st.all();
  int64_t available = availableReplicaCount(all);
  int64_t total = specReplicaCount(all);
  int64_t unavailable = std::max<int64_t>(total - available, 0);
  Json status = statusOf(st.d);
  if (!status.is_object()) status = Json::object();
  putCount(status, "observedGeneration", generationOf(st.d));
  putCount(status, "replicas", actualReplicaCount(all));
  putCount(status, "updatedReplicas", st.new_rs ? statusCount(*st.new_rs, "replicas") : 0);
  putCount(status, "readyReplicas", readyReplicaCount(all));
  putCount(status, "availableReplicas", available);
  putCount(status, "unavailableReplicas", unavailable);
  if (available >= specReplicas(st.d) - maxUnavailable(st.d))
    setCondition(status, newCondition("Available", "True", kMinimumReplicasAvailable,
                                      "Deployment has minimum availability.", ctx_.clock.now()));
  else
    setCondition(status, newCondition("Available", "False", kMinimumReplicasUnavailable,
                                      "Deployment does not have minimum availability.", ctx_.clock.now()));
  return status;
}

Status DeploymentController::syncDeploymentStatus(State& st) {
  Json status = calculateStatus(st);
  if (status == statusOf(st.d)) return Status::ok();
  return updateDeploymentStatus(st, std::move(status));
}

Status DeploymentController::syncRolloutStatus(State& st) {
  Json status = calculateStatus(st);
  const WallTime now = ctx_.clock.now();
  if (!hasProgressDeadline(st.d)) removeCondition(status, "Progressing");
  const Json* current = getCondition(statusOf(st.d), "Progressing");
  bool complete_before = intField(status, "replicas") == intField(status, "updatedReplicas") && current &&
                         stringField(*current, "reason") == kNewReplicaSetAvailableReason;
  if (hasProgressDeadline(st.d) && !complete_before) {
    if (deploymentComplete(st.d, status)) {
      std::string msg = st.new_rs ? fmt::format("ReplicaSet \"{}\" has successfully progressed.",
                                                client::nameOf(*st.new_rs))
                                  : std::string();
      setCondition(status, newCondition("Progressing", "True", kNewReplicaSetAvailableReason, msg, now));
    } else if (deploymentProgressing(st.d, status)) {
      std::string msg = st.new_rs
                            ? fmt::format("ReplicaSet \"{}\" is progressing.", client::nameOf(*st.new_rs))
                            : fmt::format("Deployment \"{}\" is progressing.", client::nameOf(st.d));
      Json cond = newCondition("Progressing", "True", kReplicaSetUpdatedReason, msg, now);
      // Progress moves lastUpdateTime (the deadline's start), and keeps
      // lastTransitionTime while the condition stays True.
      if (current) {
        if (stringField(*current, "status") == "True")
          cond["lastTransitionTime"] = fieldOrNull(*current, "lastTransitionTime");
        removeCondition(status, "Progressing");
      }
      setCondition(status, std::move(cond));
    } else if (deploymentTimedOut(st.d, status, now)) {
      std::string msg =
          st.new_rs ? fmt::format("ReplicaSet \"{}\" has timed out progressing.", client::nameOf(*st.new_rs))
                    : fmt::format("Deployment \"{}\" has timed out progressing.", client::nameOf(st.d));
      setCondition(status, newCondition("Progressing", "False", kTimedOutReason, msg, now));
    }
  }
  // The new RS's failure first, else an old one's.
  Json failure = st.new_rs ? replicaFailure({*st.new_rs}) : Json();
  if (failure.is_null()) failure = replicaFailure(st.old_rss);
  if (!failure.is_null())
    setCondition(status, std::move(failure));
  else
    removeCondition(status, "ReplicaFailure");

  if (status == statusOf(st.d)) {
    requeueStuckDeployment(st, status);
    return Status::ok();
  }
  Status s = updateDeploymentStatus(st, std::move(status));
  if (s) requeueStuckDeployment(st, statusOf(st.d));
  return s;
}

void DeploymentController::requeueStuckDeployment(const State& st, const Json& new_status) {
  const Json* current = getCondition(statusOf(st.d), "Progressing");
  if (!hasProgressDeadline(st.d) || !current) return;
  if (deploymentComplete(st.d, new_status) || stringField(*current, "reason") == kTimedOutReason) return;
  auto last = timeField(*current, "lastUpdateTime");
  if (!last) return;
  auto after =
      *last + std::chrono::seconds(intField(specOf(st.d), "progressDeadlineSeconds")) - ctx_.clock.now();
  if (after < std::chrono::seconds(1)) {
    queue().addRateLimited(client::keyOf(st.d));
    return;
  }
  queue().addAfter(client::keyOf(st.d),
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(after));
}

Status DeploymentController::checkPausedConditions(State& st) {
  if (!hasProgressDeadline(st.d)) return Status::ok();
  const Json* cond = getCondition(statusOf(st.d), "Progressing");
  if (cond && stringField(*cond, "reason") == kTimedOutReason) return Status::ok();
  bool paused = boolField(specOf(st.d), "paused");
  bool paused_condition = cond && stringField(*cond, "reason") == kPausedReason;
  Json status = statusOf(st.d);
  if (paused && !paused_condition)
    setCondition(status, newCondition("Progressing", "Unknown", kPausedReason, "Deployment is paused",
                                      ctx_.clock.now()));
  else if (!paused && paused_condition)
    setCondition(status, newCondition("Progressing", "Unknown", kResumedReason, "Deployment is resumed",
                                      ctx_.clock.now()));
  else
    return Status::ok();
  return updateDeploymentStatus(st, std::move(status));
}

}  // namespace capstan::controllers
