#pragma once
// HTTPS server: TLS (with optional client certificates), HTTP/1.1
// keep-alive, bodies up to a limit, chunked streaming responses. It knows
// nothing of Kubernetes: it turns bytes into Requests for a Handler.
//
// Threading: one io_context run by `threads` threads; each connection on its
// own strand. Handlers may answer from any thread.

#include <cstdint>
#include <memory>
#include <string>

#include "apiserver/http.h"
#include "common/status.h"

namespace capstan::apiserver {

struct HttpServerOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 6443;  // 0 picks a free port
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // verifies client certificates when presented
  size_t max_body_bytes = 3 * 1024 * 1024;
  int threads = 2;
};

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> start(const HttpServerOptions& opts, Handler handler);
  ~HttpServer();
  uint16_t port() const;
  void stop();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace capstan::apiserver
