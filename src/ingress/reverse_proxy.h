#pragma once
// The HTTP(S) reverse proxy behind Ingress: accepts client connections,
// routes each request by the current RouteTable and relays it to one of the
// backend's endpoints, streaming bodies both ways (no size limit, nothing
// buffered whole).
//
// Behaviour (as users of Traefik, k3s' ingress, would expect):
// - No route: 404 "404 page not found". A route whose Service has no
//   endpoint: 503 "no available server". No endpoint accepts a connection
//   (each is tried once, round-robin start): 502 "Bad Gateway". A
//   malformed request: 400, then close.
// - The upstream request keeps the client's Host and gains X-Forwarded-For,
//   X-Forwarded-Host, X-Forwarded-Port, X-Forwarded-Proto and X-Real-Ip.
//   Client connections are kept alive, and so are upstream connections:
//   after a complete keep-alive answer the connection goes to a pool (up
//   to 32 idle per endpoint, closed after the idle timeout) and the next
//   request to that endpoint, from any client, reuses it. If a reused
//   connection turns out closed, a request without a body is sent again on
//   a new one; one with a body gets 502 rather than being sent twice. A
//   101 Switching Protocols answer (e.g. WebSocket) turns the connection
//   into a byte tunnel both ways (never from the pool).
// - HTTPS: the certificate is chosen by SNI (RouteTable::certificateFor),
//   else the default certificate from the options.
//
// Threading: one io_context run by `threads` threads; each connection is a
// coroutine on its own strand. setRoutes() may be called from any thread;
// requests use the table current when their header arrived.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "ingress/routes.h"

namespace capstan::ingress {

struct ReverseProxyOptions {
  std::string bind_address = "0.0.0.0";
  int http_port = 80;    // 0 picks a free port; < 0 serves no plain HTTP
  int https_port = 443;  // 0 picks a free port; < 0 serves no HTTPS
  // The certificate served when no Ingress TLS entry matches the server
  // name. Required when https_port >= 0.
  std::string default_cert_file, default_key_file;
  int threads = 1;
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(5);
  // A connection with no byte moving for this long is closed.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
};

class ReverseProxy {
 public:
  static Result<std::unique_ptr<ReverseProxy>> start(const ReverseProxyOptions& options);
  ~ReverseProxy();
  ReverseProxy(const ReverseProxy&) = delete;
  ReverseProxy& operator=(const ReverseProxy&) = delete;

  void setRoutes(std::shared_ptr<const RouteTable> routes);
  uint16_t httpPort() const;   // 0 when not serving HTTP
  uint16_t httpsPort() const;  // 0 when not serving HTTPS
  void stop();                 // idempotent; open connections are dropped

  class Impl;

 private:
  explicit ReverseProxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace capstan::ingress
