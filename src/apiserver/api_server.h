#pragma once
// The API server: the store, the watch cache, the request chain
// (authentication, authorization, admission, storage) and the HTTPS front.
// Every request, in-process ones included, passes through handle().
//
// Threading: HTTP I/O on the HttpServer's threads; writes complete on the
// store's writer thread; handlers never block an I/O thread.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apiserver/http.h"
#include "client/transport.h"
#include "common/status.h"

namespace prometheus {
class Registry;
}

namespace capstan::apiserver {

struct ApiServerOptions {
  std::string data_dir = "/var/lib/capstan";
  std::string bind_address = "0.0.0.0";
  uint16_t port = 6443;  // 0 picks a free port
  // The IPv4 address pods reach the server at, through the endpoints of
  // default/kubernetes; empty: defaultAdvertiseAddress(bind_address).
  std::string advertise_address;
  std::vector<std::string> tls_sans;
  std::string write_kubeconfig;  // extra copy of the admin kubeconfig
  std::string token;             // join token; generated when empty
  std::string token_auth_file;   // CSV: token,user,uid,"group1,group2"
  std::string datastore_endpoint;  // "" or sqlite://PATH (default <data-dir>/db/state.db), memory://
  std::string cluster_cidr = "10.42.0.0/16";
  std::string service_cidr = "10.43.0.0/16";
  // Tolerations added to pods without their own (Kubernetes' defaults: 300 s).
  int64_t default_not_ready_toleration_seconds = 30;
  int64_t default_unreachable_toleration_seconds = 30;
  std::string cluster_dns;  // the kube-dns Service's ClusterIP; empty: the tenth address of service_cidr
  size_t watch_window = 20000;
  int threads = 2;
  std::string dashboard_dir;  // serve /dashboard/ from here instead of the compiled-in files
};

class ApiServer {
 public:
  static Result<std::unique_ptr<ApiServer>> start(const ApiServerOptions& opts);
  ~ApiServer();

  uint16_t port() const;
  std::string kubeconfigPath() const;
  // The cluster CA certificate (PEM), as served at /cacerts.
  const std::string& caPem() const;
  // The request chain; `req.user` set means an in-process caller already
  // known to the server.
  void handle(Request req, Responder done);
  // Blocking in-process call (not from an I/O thread).
  Response call(const std::string& method, const std::string& path, const std::string& body = "");
  // A client transport into handle() for components in this process,
  // acting as `user` (e.g. system:kube-controller-manager).
  std::shared_ptr<client::Transport> inProcessTransport(UserInfo user);
  // The registry served at /metrics: components in this process (scheduler,
  // controllers) add their families to it.
  prometheus::Registry& metricsRegistry();
  void stop();

  struct Impl;

 private:
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace capstan::apiserver
