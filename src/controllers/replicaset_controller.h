#pragma once
// The ReplicaSet controller, as upstream's pkg/controller/replicaset: keeps
// spec.replicas active pods (not terminal, not being deleted) for each
// ReplicaSet, creating them from spec.template and deleting the surplus in
// the order of active_pods.h; adopts matching orphans and releases pods
// that stopped matching; reports replicas, fullyLabeledReplicas,
// readyReplicas, availableReplicas (minReadySeconds), observedGeneration
// and the ReplicaFailure condition.
//
// Creations go out in slow-start batches (1, 2, 4, ...: a failing batch
// stops the rest) and are guarded by expectations, so a sync that runs
// before the informer shows the new pods does not create them again.
//
// Threading: the Controller workers; informer handlers only observe
// expectations and enqueue ReplicaSet keys.

#include <string>
#include <vector>

#include "controllers/controller.h"
#include "controllers/controller_expectations.h"

namespace capstan::controllers {

class ReplicaSetController final : public Controller {
 public:
  // `burst_replicas`: at most this many creations or deletions per sync
  // (upstream's BurstReplicas, 500).
  explicit ReplicaSetController(Context& ctx, int workers = 2, int burst_replicas = 500);
  ~ReplicaSetController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  void onPodAdd(const ObjectPtr& pod);
  void onPodUpdate(const ObjectPtr& old_pod, const ObjectPtr& pod);
  void onPodDelete(const ObjectPtr& pod);
  // The ReplicaSet a controller reference names, if cached with that uid.
  ObjectPtr resolveControllerRef(const std::string& ns, const Json* ref) const;
  void enqueueMatchingReplicaSets(const Json& pod);

  Status manageReplicas(const std::vector<ObjectPtr>& pods, const Json& rs, const std::string& key);
  Status createPods(const Json& rs, const std::string& key, int count);
  Status deletePods(const Json& rs, const std::string& key, const std::vector<ObjectPtr>& victims);
  Json calculateStatus(const Json& rs, const std::vector<ObjectPtr>& pods, const Status& manage_error) const;
  Result<Json> updateStatus(const Json& rs, Json status);

  client::Informer& pods_;
  client::Informer& replica_sets_;
  ControllerExpectations expectations_;
  client::EventRecorder events_;  // source "replicaset-controller", as upstream
  int burst_replicas_;
};

}  // namespace capstan::controllers
