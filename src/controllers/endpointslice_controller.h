#pragma once
// The EndpointSlice controller, as upstream's pkg/controller/endpointslice
// and its reconciler (k8s.io/endpointslice): for each Service with a
// selector, discovery.k8s.io/v1 EndpointSlices labelled
// kubernetes.io/service-name=<service> and
// endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io,
// named "<service>-" plus a generated suffix, controlled by the Service.
//
// One endpoint per selected pod with an IP of the slice's address type
// (one set of slices per family in spec.ipFamilies), terminal pods left
// out, terminating pods kept: conditions serving = pod Ready, terminating
// = deletionTimestamp set, ready = serving and not terminating (always
// true with publishNotReadyAddresses); nodeName, the node's
// topology.kubernetes.io/zone, hostname (pods whose subdomain is the
// Service), targetRef. Pods are grouped by the ports the Service's
// targetPorts resolve to in them (a named port may be a different number
// per pod, or missing), each group in slices of at most
// `max_endpoints_per_slice`. Pods on a node the cache does not know are
// skipped (unless publishNotReadyAddresses) and the Service is retried, as
// upstream.
//
// Reconciling keeps churn low as upstream: existing slices are updated in
// place (changed endpoints replaced, gone ones removed, new ones added to
// the slices being written anyway, then to the closest-fitting unchanged
// slice, then to new slices); slices that would be deleted while others
// are created are reused; a Service selecting nothing keeps one empty
// placeholder slice. A slice is written only when its endpoints or labels
// change; each write carries endpoints.kubernetes.io/last-change-trigger-
// time. Services without a selector and ExternalName Services are left
// alone. When a Service is gone, its slices are deleted (the garbage
// collector would delete them too).
//
// What this controller wrote is remembered until the informer shows it, so
// a sync never works from a cache that lacks its own last writes (which
// would create duplicate slices); such a sync is retried.
//
// Threading: the Controller workers run sync(Service key); informer
// handlers only enqueue Service keys and note observed writes (under
// written_mu_).

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "controllers/service_pods.h"

namespace capstan::controllers {

class EndpointSliceController final : public ServicePodsController {
 public:
  explicit EndpointSliceController(Context& ctx, int workers = 2, size_t max_endpoints_per_slice = 100);
  ~EndpointSliceController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  // Slices to write for one Service.
  struct Plan {
    std::vector<Json> create;
    std::vector<Json> update;
    std::vector<ObjectPtr> remove;
  };
  // The desired endpoints of one port set, by endpoint identity.
  struct PortSet {
    Json ports = Json::array();
    std::map<std::string, Json> endpoints;
  };

  Status deleteSlicesOf(const std::string& key);
  // Adds to `plan` what makes `existing` (the slices of that address type)
  // match `pods`; a pod skipped for an unknown node sets `skipped`.
  void reconcileAddressType(const Json& service, const std::vector<ObjectPtr>& pods,
                            const std::vector<ObjectPtr>& existing, const std::string& address_type,
                            Plan& plan, Status& skipped) const;
  void reconcilePortSet(const Json& service, const std::vector<ObjectPtr>& existing, PortSet& desired,
                        const std::string& address_type, Plan& plan) const;
  Status finalize(const Json& service, Plan plan, const std::optional<WallTime>& trigger);

  // Written-but-not-yet-observed bookkeeping.
  bool cacheIsStale(const std::string& key) const;
  void wrote(const std::string& key, const Json& slice);
  void deleted(const std::string& key, const std::string& slice_name);
  void onSliceEvent(const ObjectPtr& slice, bool was_deleted);

  client::Informer& slices_;
  client::Informer& nodes_;
  TriggerTimeTracker trigger_times_;
  client::EventRecorder events_;  // source "endpoint-slice-controller", as upstream
  size_t max_endpoints_per_slice_;

  mutable std::mutex written_mu_;  // guards written_
  // Service key → slice name → resourceVersion written (kDeleted: deleted).
  std::unordered_map<std::string, std::map<std::string, int64_t>> written_;
};

}  // namespace capstan::controllers
