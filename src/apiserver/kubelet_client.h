#pragma once
// Private to the API server: the client side of the kubelet API, used to
// proxy pods/log, pods/exec, pods/attach and pods/portforward to the node
// agent that runs the pod (as kube-apiserver proxies to a kubelet).
//
// Logs come back as a streamed body; exec/attach/portforward are upgrade
// requests whose 101 is passed to the client, after which the bytes are
// relayed in both directions without being interpreted (upstream's
// UpgradeAwareHandler).
//
// TLS: requests carry the cluster join token as a bearer token. With
// ca_file set the agent's serving certificate is verified against it;
// without it (the default, as kube-apiserver without
// --kubelet-certificate-authority) it is not, because a remote agent's
// certificate is self-signed. The trade-off: whoever can pose as a node's
// address can learn the token.
//
// Threading: its own io_context on one thread; callbacks never block.

#include <cstdint>
#include <memory>
#include <string>

#include "apiserver/http.h"

namespace capstan::apiserver {

struct KubeletEndpoint {
  std::string host;
  uint16_t port = 10250;
};

struct KubeletClientOptions {
  std::string token;
  std::string ca_file;  // empty: do not verify the agent's certificate
};

class KubeletClient {
 public:
  virtual ~KubeletClient() = default;
  static std::unique_ptr<KubeletClient> create(const KubeletClientOptions& options);

  // GET `target` (path and query) on the kubelet; `done` gets its response,
  // the body streamed when it is 200.
  virtual void get(const KubeletEndpoint& endpoint, const std::string& target, Responder done) = 0;
  // Sends `req` (its method and upgrade headers) to `target`; a 101 is
  // answered with an upgrade that relays both ways, anything else as the
  // kubelet sent it.
  virtual void upgrade(const KubeletEndpoint& endpoint, const std::string& target, const Request& req,
                       Responder done) = 0;
};

// Copies bytes both ways between two upgraded streams until either side
// ends, then closes both. Backpressure: each direction waits for a write to
// finish before reading more.
void relay(std::shared_ptr<DuplexStream> a, std::shared_ptr<DuplexStream> b);

}  // namespace capstan::apiserver
