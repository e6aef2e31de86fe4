#pragma once
// The Endpoints controller, as upstream's pkg/controller/endpoint: for each
// Service with a selector, the core/v1 Endpoints object of the same name
// lists the pods the selector matches, ready ones under `addresses` and the
// others under `notReadyAddresses` (all under `addresses` with
// publishNotReadyAddresses), each with the port every Service port's
// targetPort means in that pod. Terminating pods are left out (unless
// publishNotReadyAddresses), as are terminal pods and pods without an IP of
// the Service's family. Subsets are repacked as upstream's RepackSubsets:
// addresses grouped by the identical set of ports they serve, sorted. More
// than 1000 addresses are truncated (over-capacity annotation). Labels are
// the Service's plus service.kubernetes.io/headless for headless Services;
// endpoints.kubernetes.io/last-change-trigger-time says when the change
// that caused a write happened.
//
// Nothing is written when the Endpoints already hold the desired subsets
// and labels. Services without a selector (default/kubernetes among them)
// and ExternalName Services are left alone. When a Service is gone, its
// Endpoints are deleted; at start, Endpoints whose Service no longer
// exists are deleted too (upstream's checkLeftoverEndpoints).
//
// Threading: the Controller workers run sync(Service key); informer
// handlers only enqueue Service keys.

#include <string>
#include <vector>

#include "controllers/service_pods.h"

namespace capstan::controllers {

class EndpointsController final : public ServicePodsController {
 public:
  explicit EndpointsController(Context& ctx, int workers = 2);
  ~EndpointsController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  // The repacked, sorted subsets for these pods.
  Json desiredSubsets(const Json& service, const std::vector<ObjectPtr>& pods) const;

  client::Informer& endpoints_;
  TriggerTimeTracker trigger_times_;
  client::EventRecorder events_;  // source "endpoint-controller", as upstream
};

}  // namespace capstan::controllers
