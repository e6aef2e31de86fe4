#include "controllers/manager.h"

#include <algorithm>

#include "common/log.h"
#include "controllers/deployment_controller.h"
#include "controllers/alert_controller.h"
#include "controllers/cronjob_controller.h"
#include "controllers/daemonset_controller.h"
#include "controllers/endpoints_controller.h"
#include "controllers/endpointslice_controller.h"
#include "controllers/garbage_collector.h"
#include "controllers/hpa_controller.h"
#include "controllers/job_controller.h"
#include "controllers/namespace_controller.h"
#include "controllers/replicaset_controller.h"
#include "controllers/node_ipam_controller.h"
#include "controllers/node_lifecycle_controller.h"
#include "controllers/clusterrole_aggregation.h"
#include "controllers/root_ca_publisher.h"
#include "controllers/service_account_controller.h"
#include "controllers/statefulset_controller.h"

namespace capstan::controllers {
namespace {

std::vector<client::ResourceRef> namespacedResources(const api::Registry& registry) {
  std::vector<client::ResourceRef> out;
  for (const auto& r : registry.all()) {
    if (!r.namespaced) continue;
    if (std::find(r.verbs.begin(), r.verbs.end(), "deletecollection") == r.verbs.end()) continue;
    // events.k8s.io Events are the same objects as core Events upstream.
    if (r.group == "events.k8s.io") continue;
    out.push_back({r.group, r.version, r.resource, true});
  }
  return out;
}

// The served resources whose objects carry ownerReferences in practice.
std::vector<client::ResourceRef> garbageCollected(const api::Registry& registry) {
  using namespace client::res;
  std::vector<client::ResourceRef> out;
  for (const auto& r : {kPods, kReplicaSets, kDeployments, kDaemonSets, kStatefulSets, kControllerRevisions, kJobs,
                        kCronJobs, kServices, kEndpoints, kEndpointSlices, kConfigMaps, kSecrets, kServiceAccounts,
                        kPersistentVolumeClaims, kPodDisruptionBudgets, kLeases})
    if (registry.find(r.group, r.version, r.resource)) out.push_back(r);
  return out;
}

// kube-controller-manager's work queue names, so workqueue_* dashboards match.
std::string upstreamQueueName(const std::string& controller) {
  if (controller == "endpointslice") return "endpoint_slice";
  if (controller == "garbage-collector") return "garbage_collector_attempt_to_delete";
  if (controller == "node-lifecycle") return "node_lifecycle_controller";
  if (controller == "horizontal-pod-autoscaler") return "horizontalpodautoscaler";
  std::string name = controller;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

}  // namespace

Manager::Manager(std::shared_ptr<client::Transport> transport, const api::Registry& registry, ManagerOptions opts)
    : registry_(registry), opts_(std::move(opts)), client_(std::move(transport), "kube-controller-manager"),
      events_(client_, "controller-manager") {}

Manager::~Manager() { stop(); }

bool Manager::leading() const { return elector_ && elector_->isLeader(); }

void Manager::start() {
  client::LeaderElectionConfig cfg{.lease_name = "kube-controller-manager",
                                   .identity = opts_.identity,
                                   .lease_duration = opts_.lease_duration,
                                   .renew_deadline = opts_.renew_deadline,
                                   .retry_period = opts_.retry_period};
  elector_ = std::make_unique<client::LeaderElector>(
      client_, cfg, [this] { startControllers(); }, [this] { stopControllers(); });
  elector_->start();
}

void Manager::stop() {
  if (elector_) elector_->stop();  // stops the controllers through on_stopped
  elector_.reset();
}

void Manager::startControllers() {
  // Fresh caches and queues each time this process becomes the leader.
  informers_ = std::make_unique<client::InformerFactory>(client_);
  ctx_ = std::make_unique<Context>(Context{client_, *informers_, events_, SystemClock::instance(), opts_.controllers});
  auto enabled = [this](const std::string& name) {
    return std::find(opts_.disabled.begin(), opts_.disabled.end(), name) == opts_.disabled.end();
  };
  if (enabled("namespace"))
    controllers_.push_back(std::make_unique<NamespaceController>(*ctx_, namespacedResources(registry_)));
  if (enabled("node-ipam")) controllers_.push_back(std::make_unique<NodeIpamController>(*ctx_));
  if (enabled("node-lifecycle")) controllers_.push_back(std::make_unique<NodeLifecycleController>(*ctx_));
  if (enabled("serviceaccount")) controllers_.push_back(std::make_unique<ServiceAccountController>(*ctx_));
  if (enabled("root-ca-cert-publisher")) controllers_.push_back(std::make_unique<RootCaPublisher>(*ctx_));
  if (enabled("clusterrole-aggregation")) controllers_.push_back(std::make_unique<ClusterRoleAggregation>(*ctx_));
  if (enabled("garbage-collector"))
    controllers_.push_back(std::make_unique<GarbageCollector>(*ctx_, registry_, garbageCollected(registry_)));
  if (enabled("job")) controllers_.push_back(std::make_unique<JobController>(*ctx_));
  if (enabled("cronjob")) controllers_.push_back(std::make_unique<CronJobController>(*ctx_));
  if (enabled("daemonset")) controllers_.push_back(std::make_unique<DaemonSetController>(*ctx_));
  if (enabled("statefulset")) controllers_.push_back(std::make_unique<StatefulSetController>(*ctx_));
  if (enabled("replicaset")) controllers_.push_back(std::make_unique<ReplicaSetController>(*ctx_));
  if (enabled("deployment")) controllers_.push_back(std::make_unique<DeploymentController>(*ctx_));
  if (enabled("horizontal-pod-autoscaler"))
    controllers_.push_back(std::make_unique<HorizontalPodAutoscalerController>(*ctx_));
  if (enabled("alerts"))
    controllers_.push_back(std::make_unique<AlertController>(
        *ctx_, AlertController::Options{.interval = opts_.controllers.alert_evaluation_interval}));
  if (enabled("endpoint")) controllers_.push_back(std::make_unique<EndpointsController>(*ctx_));
  if (enabled("endpointslice")) controllers_.push_back(std::make_unique<EndpointSliceController>(*ctx_));

  if (opts_.queue_metrics)
    for (auto& c : controllers_) c->queue().setMetrics(opts_.queue_metrics->forQueue(upstreamQueueName(c->name())));
  informers_->start();
  if (!informers_->waitForSync(std::chrono::seconds(30))) LOG_WARN("controller caches not synced after 30s");
  for (auto& c : controllers_) c->run();
  LOG_INFO("controllers started", "count", controllers_.size());
}

void Manager::stopControllers() {
  for (auto& c : controllers_) c->stop();
  if (informers_) informers_->stop();
  controllers_.clear();
  ctx_.reset();
  informers_.reset();
}

}  // namespace capstan::controllers
