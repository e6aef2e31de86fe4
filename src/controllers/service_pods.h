#pragma once
// What the Endpoints and EndpointSlice controllers share, as upstream's
// pkg/controller/util/endpoint and k8s.io/endpointslice/util: which pods a
// Service selects, which Services a pod change concerns, the per-pod facts
// both write (the port a targetPort names in that pod, the address of an IP
// family, the hostname), and the last-change-trigger-time bookkeeping.
//
// A Service selects pods by spec.selector, a plain map of labels. A Service
// without one (or with an empty one) selects nothing here: its endpoints
// are someone else's (the user's, or the API server's for
// default/kubernetes).

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "controllers/controller.h"

namespace capstan::controllers {

// The annotation both controllers stamp with the earliest change that
// caused a write (RFC 3339, UTC).
inline constexpr char kLastChangeTriggerTime[] = "endpoints.kubernetes.io/last-change-trigger-time";
// Set on the Endpoints and EndpointSlices of a Service without a cluster IP.
inline constexpr char kHeadlessLabel[] = "service.kubernetes.io/headless";

// An informer index of namespaced objects by namespace.
inline constexpr char kNamespaceIndex[] = "namespace";
void addNamespaceIndex(client::Informer& informer);

// spec.selector when the Service selects pods: present, non-empty, and the
// Service is not of type ExternalName (which gets no endpoints). Else null.
const Json* podSelectorOf(const Json& service);
// Every selector entry is a label of `labels` with the same value.
bool selectorMatches(const Json& selector, const Json& labels);
// The pods in the Service's namespace that its selector matches.
std::vector<client::ObjectPtr> selectedPods(const client::Informer& pods, const Json& service);

// Whether a pod belongs in Endpoints or EndpointSlices at all: not terminal
// (Succeeded/Failed), has an IP, and is not terminating unless
// `include_terminating`.
bool shouldPodBeInEndpoints(const Json& pod, bool include_terminating);
// The port number a Service port's targetPort means for this pod: the
// number itself, or the containerPort of that name and the port's
// protocol (containers, then restartable init containers). nullopt when a
// named port is not found.
std::optional<int64_t> findPort(const Json& pod, const Json& service_port);
// A pod's hostname is published when its subdomain is the Service's name.
bool shouldSetHostname(const Json& pod, const Json& service);
// The pod's IPs of an address family ("IPv4" or "IPv6"), status.podIPs
// first, status.podIP when that list is empty.
std::vector<std::string> podIpsOfFamily(const Json& pod, std::string_view family);
// "IPv4" or "IPv6" by the text of an address.
std::string ipFamilyOf(std::string_view ip);
// No cluster IP ("" or "None"): upstream's !IsServiceIPSet.
bool isHeadless(const Json& service);
// The Service's labels with the headless label set or removed to match the
// Service (as both controllers label what they write).
Json labelsForEndpoints(const Json& service);

// Upstream's TriggerTimeTracker: for each Service, the earliest of the
// change times (a pod's Ready condition's lastTransitionTime, the
// Service's creationTimestamp) that are newer than what the previous sync
// of that Service saw. Pods deleted since are not accounted for, as
// upstream. Thread-safe; calls for one key must not run concurrently (the
// work queue guarantees it).
class TriggerTimeTracker {
 public:
  // nullopt when nothing changed since the last call for `key`.
  std::optional<WallTime> compute(const std::string& key, const Json& service,
                                  const std::vector<client::ObjectPtr>& pods);
  void forget(const std::string& key);

 private:
  struct State {
    std::map<std::string, WallTime> pods;  // by pod name
    std::optional<WallTime> service;
  };
  std::mutex mu_;  // guards states_
  std::unordered_map<std::string, State> states_;
};

// The part both controllers share: Service changes enqueue the Service; a
// pod change enqueues the Services of its namespace whose selectors match
// its old or new labels, when the change matters to endpoints (readiness,
// IPs, node, deletion, phase, labels). Subclasses implement sync(key)
// for Service keys.
class ServicePodsController : public Controller {
 protected:
  ServicePodsController(std::string name, Context& ctx, int workers);

  client::Informer& pods_;
  client::Informer& services_;

 private:
  std::set<std::string> servicesSelecting(const std::string& ns, const Json& labels) const;
  void onPodAdd(const client::ObjectPtr& pod);
  void onPodUpdate(const client::ObjectPtr& old_pod, const client::ObjectPtr& pod);
};

}  // namespace capstan::controllers
