#pragma once
// The API server's Prometheus metrics, with kube-apiserver's names so that
// existing dashboards and alerts work: apiserver_request_total,
// apiserver_request_duration_seconds, apiserver_longrunning_requests,
// etcd_request_duration_seconds (the store's latency).

#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace capstan::apiserver {

struct RequestLabels {
  std::string verb;  // upper-case as upstream: GET, LIST, WATCH, POST, PUT, PATCH, DELETE
  std::string group;
  std::string version;
  std::string resource;
  std::string subresource;
  std::string scope;  // resource, namespace, cluster, or "" for non-resource paths
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  void observeRequest(const RequestLabels& l, int code, double seconds);
  void watchStarted(const RequestLabels& l);
  void watchEnded(const RequestLabels& l);
  void observeStore(const std::string& operation, const std::string& type, double seconds);
  void setObjectCount(const std::string& resource, double count);
  // capstan_certificate_expiration_timestamp_seconds{certificate=NAME}: when
  // a certificate of the server (ca, serving, admin) expires, Unix seconds.
  void setCertificateExpiry(const std::string& certificate, double unix_seconds);
  // Prometheus text exposition format.
  std::string scrape() const;
  prometheus::Registry& registry();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace capstan::apiserver
