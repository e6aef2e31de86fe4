#pragma once
// Private to the API server: what kube-apiserver reaches through nodes'
// kubelets.
//
//   /api/v1/nodes/NAME/proxy/PATH       GET, proxied to the node's kubelet
//                                       (metrics/cadvisor, metrics/resource, healthz)
//   /apis/metrics.k8s.io/v1beta1/...    NodeMetrics and PodMetrics (get, list,
//                                       label and field selectors), served here
//                                       instead of by a metrics-server add-on
//
// Metrics are computed on request from the kubelets' /metrics/resource:
// each node's last two readings are kept; a reading younger than
// kFreshness is reused, an older one triggers a new fetch. CPU is the rate
// between the two readings (at least kMinWindow apart; when the older one
// is missing or more than kMaxWindow old a second reading is taken
// kMinWindow after the first, so the first request waits about a second),
// memory the working set of the newer one. Concurrent requests for a node
// share one fetch.
//
// Threading: serve() runs on an I/O thread and never blocks; the answer is
// sent from the kubelet client's thread or the timer thread. State is
// under one mutex, kept in a shared block that late kubelet callbacks can
// outlive the MetricsApi with.

#include <memory>

#include "apiserver/http.h"
#include "apiserver/kubelet_client.h"
#include "apiserver/request_info.h"
#include "apiserver/resources.h"
#include "common/json.h"

namespace capstan::apiserver {

// The kubelet endpoint a Node advertises: the first InternalIP (else
// Hostname, ExternalIP) and status.daemonEndpoints.kubeletEndpoint.Port.
Result<KubeletEndpoint> kubeletEndpointOf(const Json& node, const std::string& node_name);

class MetricsApi {
 public:
  explicit MetricsApi(ServerContext ctx);
  ~MetricsApi();

  // Whether serve() answers this request.
  static bool handles(const RequestInfo& ri);
  void serve(const RequestInfo& ri, const Request& req, Responder done);

  struct State;

 private:
  void nodeProxy(const RequestInfo& ri, const Request& req, Responder done);
  void nodeMetrics(const RequestInfo& ri, const Request& req, Responder done);
  void podMetrics(const RequestInfo& ri, const Request& req, Responder done);

  ServerContext ctx_;
  std::shared_ptr<State> state_;
};

}  // namespace capstan::apiserver
