#pragma once
// Port-forward over SPDY/3.1 (portforward.k8s.io), plain or tunnelled in a
// WebSocket: per forwarded connection the client opens an error stream and
// a data stream, both with headers `port` and `requestID`; the data stream
// is joined to a TCP connection to 127.0.0.1:port inside the pod's network
// namespace, made on a short-lived thread that setns()es into
// /proc/<pid>/ns/net (a socket stays in the namespace it was made in).

#include <cstdint>
#include <memory>

#include "apiserver/http.h"
#include "common/status.h"

namespace capstan::agent::streaming {

// A TCP connection to 127.0.0.1:port in the network namespace of `pid`.
// Blocks the calling thread briefly (it runs the setns on a thread of its
// own): do not call from an I/O thread.
Result<int> connectInNetns(int pid, uint16_t port);

void servePortForward(std::shared_ptr<apiserver::DuplexStream> stream, int pid);

}  // namespace capstan::agent::streaming
