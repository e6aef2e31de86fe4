#pragma once
// The Deployment controller, as upstream's pkg/controller/deployment: each
// Deployment owns ReplicaSets named "<deployment>-<pod-template-hash>", one
// per distinct pod template (the new one matches spec.template), and moves
// replicas from the old ones to the new one by its strategy:
//   RollingUpdate  at most replicas + maxSurge pods and at least
//                  replicas - maxUnavailable available ones at every step;
//   Recreate       old pods all gone before the new RS scales up.
// Revisions (deployment.kubernetes.io/revision on the RSs and the
// Deployment) number templates in rollout order; a template coming back
// (kubectl rollout undo) gives its RS the next revision. Old RSs scaled to
// zero beyond spec.revisionHistoryLimit are deleted. A paused Deployment
// only scales. Scaling during a rollout is proportional across RSs.
// Status carries replica counts and the Available and Progressing
// conditions (progressDeadlineSeconds), so that kubectl rollout status ends
// exactly when upstream's would.
//
// Files: deployment_controller.cc (handlers, sync, ReplicaSet ownership
// and the new RS), deployment_rollout.cc (strategies and scaling),
// deployment_status.cc (status and conditions), deployment_replica_sets.h
// (the arithmetic).
//
// Threading: the Controller workers; informer handlers only enqueue
// Deployment keys.

#include <optional>
#include <string>
#include <vector>

#include "controllers/controller.h"

namespace capstan::controllers {

class DeploymentController final : public Controller {
 public:
  explicit DeploymentController(Context& ctx, int workers = 2);
  ~DeploymentController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  // One sync's view: the deployment (a copy, updated as we write it) and
  // the ReplicaSets it controls (copies, replaced by what writes return).
  struct State {
    Json d;
    std::vector<Json> rss;
    std::optional<Json> new_rs;
    std::vector<Json> old_rss;
    std::vector<Json> all() const;
  };

  // Handlers.
  void onReplicaSetAdd(const ObjectPtr& rs);
  void onReplicaSetUpdate(const ObjectPtr& old_rs, const ObjectPtr& rs);
  void onReplicaSetDelete(const ObjectPtr& rs);
  void onPodDelete(const ObjectPtr& pod);
  ObjectPtr resolveControllerRef(const std::string& ns, const Json* ref) const;
  void enqueueMatchingDeployments(const Json& rs);

  // deployment_controller.cc
  Result<std::vector<Json>> claimReplicaSets(const Json& d);
  // Splits st.rss into the new RS (created when `create` and missing) and
  // the old ones, and brings revisions up to date.
  Status splitReplicaSets(State& st, bool create);
  Status updateNewReplicaSetAnnotations(State& st, const std::string& new_revision);
  Status createNewReplicaSet(State& st, const std::string& new_revision);
  // Sets rs to new_scale (and its replica annotations); records the
  // ScalingReplicaSet event. *scaled says whether the size changed.
  Status scaleReplicaSet(State& st, Json& rs, int64_t new_scale, const std::string& operation, bool* scaled);
  Status scaleReplicaSetAndRecordEvent(State& st, Json& rs, int64_t new_scale, bool* scaled);
  Status cleanupDeployment(State& st);
  Status updateDeploymentStatus(State& st, Json status);

  // deployment_rollout.cc
  Status rolloutRolling(State& st);
  Status rolloutRecreate(State& st);
  Status syncScaleOnly(State& st);  // upstream's sync(): scaling, paused cleanup, status
  Status scale(State& st);
  bool isScalingEvent(State& st);
  Status reconcileNewReplicaSet(State& st, bool* scaled);
  Status reconcileOldReplicaSets(State& st, bool* scaled);
  Status cleanupUnhealthyReplicas(State& st, int64_t max_cleanup, int64_t* cleaned);
  Status scaleDownOldReplicaSetsForRollingUpdate(State& st, int64_t* scaled_down);
  bool oldPodsRunning(const State& st) const;

  // deployment_status.cc
  Json calculateStatus(const State& st) const;
  Status syncDeploymentStatus(State& st);
  Status syncRolloutStatus(State& st);
  Status checkPausedConditions(State& st);
  void requeueStuckDeployment(const State& st, const Json& new_status);

  Json involved(const Json& d) const;

  client::Informer& deployments_;
  client::Informer& replica_sets_;
  client::Informer& pods_;
  client::EventRecorder events_;  // source "deployment-controller", as upstream
};

}  // namespace capstan::controllers
