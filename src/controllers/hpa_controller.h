#pragma once
// The HorizontalPodAutoscaler controller (autoscaling/v2), as upstream's
// pkg/controller/podautoscaler: every sync period (options.hpa_sync_period,
// kube-controller-manager's --horizontal-pod-autoscaler-sync-period) each
// HPA reads its target's scale subresource, the pods the scale's selector
// picks, and their PodMetrics from metrics.k8s.io (served by the API server
// itself); computes the desired replicas per metric (hpa_replicas.h), takes
// the highest, applies the scale-down stabilization window and the min/max
// clamp, writes the scale subresource when the count changes
// (SuccessfulRescale event) and the status (currentReplicas,
// desiredReplicas, currentMetrics, lastScaleTime, conditions AbleToScale,
// ScalingActive, ScalingLimited).
//
// Supported metric sources: Resource (cpu, memory) with Utilization or
// AverageValue targets. Pods, Object, External and ContainerResource
// sources count as invalid metrics (ScalingActive False when no valid one
// is left). spec.behavior is honoured only for
// scaleDown.stabilizationWindowSeconds; its policies are not applied.
//
// Recommendations for the stabilization window live in memory (as
// upstream), so a new leader starts with an empty window.
//
// Threading: the Controller workers; handlers only enqueue HPA keys, and
// each sync re-queues its key after the sync period. history_ is under mu_.

#include <deque>
#include <functional>
#include <map>
#include <mutex>

#include "controllers/controller.h"
#include "controllers/hpa_replicas.h"

namespace capstan::controllers {

class HorizontalPodAutoscalerController final : public Controller {
 public:
  // The PodMetricsList of namespace `ns` for a label selector; by default
  // GET /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods?labelSelector=...
  using PodMetricsLister = std::function<Result<Json>(const std::string& ns, const std::string& selector)>;

  explicit HorizontalPodAutoscalerController(Context& ctx, PodMetricsLister metrics = {});
  ~HorizontalPodAutoscalerController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  Status reconcile(const std::string& key, const Json& hpa);

  PodMetricsLister metrics_;
  std::mutex mu_;
  std::map<std::string, std::deque<hpa::Recommendation>> history_;  // by HPA key; guarded by mu_
};

}  // namespace capstan::controllers
