#pragma once
// The built-in Ingress controller of a node (part of the agent, as k3s
// ships Traefik): serves networking.k8s.io/v1 Ingresses of the "capstan"
// IngressClass (controller capstan.io/ingress; routes.h says which ones and
// how requests match) through the reverse proxy on the node's HTTP and HTTPS
// ports, and publishes the nodes' addresses in their
// status.loadBalancer.ingress (every node computes the same list from the
// same Node objects, so several writers agree; writes happen only on change).
//
// Threading: start() registers informer handlers (call it before the
// InformerFactory is started) and starts one sync thread; handlers only
// mark the table dirty, the sync thread rebuilds it from the caches, hands
// it to the proxy and writes statuses. A burst of events is one rebuild.

#include <chrono>
#include <memory>

#include "client/client.h"
#include "client/informer.h"
#include "common/status.h"
#include "ingress/reverse_proxy.h"

namespace capstan::ingress {

struct IngressControllerOptions {
  ReverseProxyOptions proxy;
  bool publish_status = true;
};

class IngressController {
 public:
  static Result<std::unique_ptr<IngressController>> start(IngressControllerOptions options,
                                                          const client::Client& client,
                                                          client::InformerFactory& informers);
  virtual ~IngressController() = default;

  virtual void stop() = 0;  // idempotent
  virtual uint16_t httpPort() const = 0;
  virtual uint16_t httpsPort() const = 0;
  // Blocks until every change seen before the call is in the proxy's
  // table, or the timeout. For tests.
  virtual bool waitForSync(std::chrono::milliseconds timeout) const = 0;
};

}  // namespace capstan::ingress
