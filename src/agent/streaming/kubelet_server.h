#pragma once
// The node agent's HTTPS server for the paths kube-apiserver proxies to a
// kubelet (the streaming half of the kubelet API):
//   GET  /containerLogs/{ns}/{pod}/{container}?follow&previous&tailLines&
//        sinceSeconds&sinceTime&timestamps&limitBytes      text/plain (chunked)
//   GET  /exec/{ns}/{pod}/{container}?command=..&stdin&stdout&stderr&tty
//        WebSocket, v5.channel.k8s.io or v4.channel.k8s.io
//   POST /exec/...  SPDY/3.1 (X-Stream-Protocol-Version v4.channel.k8s.io)
//   GET|POST /attach/{ns}/{pod}/{container}?stdin&stdout&stderr&tty  (as exec)
//   GET|POST /portForward/{ns}/{pod}
//        SPDY/3.1 (portforward.k8s.io), plain or in a WebSocket
//        (subprotocol SPDY/3.1+portforward.k8s.io)
//   GET  /metrics            the kubelet's own (running pods and containers, pod start,
//                            pod worker and runtime operation histograms)
//   GET  /metrics/cadvisor   container usage in cAdvisor's exposition
//   GET  /metrics/resource   the kubelet's resource metrics (metrics.k8s.io's source)
//   GET  /healthz
// Every path but /healthz requires `Authorization: Bearer <token>` (the
// cluster join token, which the API server sends): nothing
// unauthenticated reaches a container.
//
// Containers are found from Runtime::list() by the labels the pod worker
// sets (kPodNamespaceLabel etc.): the current one is the highest attempt,
// the previous one the next highest of the same pod UID.
//
// Threading: the HTTP transport's I/O threads route and answer; each log
// follow, exec and port-forward connection moves its bytes on a thread of
// its own (blocking there, never on an I/O thread). A metrics scrape reads
// cgroup and proc files on the I/O thread (tens of microseconds per
// container; writable-layer sizes are cached).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "agent/runtime/runtime.h"
#include "agent/stats/kubelet_metrics.h"
#include "agent/stats/stats.h"
#include "common/status.h"

namespace capstan::apiserver {
class HttpServer;
}

namespace capstan::agent::streaming {

inline constexpr char kPodNamespaceLabel[] = "io.kubernetes.pod.namespace";
inline constexpr char kPodNameLabel[] = "io.kubernetes.pod.name";
inline constexpr char kPodUidLabel[] = "io.kubernetes.pod.uid";
inline constexpr char kContainerNameLabel[] = "io.kubernetes.container.name";
inline constexpr char kContainerAttemptLabel[] = "io.kubernetes.container.attempt";

struct KubeletServerOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 10250;  // 0 picks a free port
  // Serving certificate. Empty: a self-signed pair is kept in tls_dir
  // (created on first start, reused after).
  std::string cert_file;
  std::string key_file;
  std::string tls_dir;
  std::string token;  // required; requests must carry it as a bearer token
  int threads = 1;
  // Where the metrics endpoints find cgroups and writable layers.
  stats::CollectorOptions stats;
  // The agent's operation metrics, appended to /metrics; may be null.
  std::shared_ptr<const stats::KubeletMetrics> metrics;
};

// The current (highest attempt) container of a pod's container, or the
// previous one; nullopt when there is none. Exposed for tests.
std::optional<runtime::ContainerStatus> findContainer(const runtime::Runtime& runtime, const std::string& ns,
                                                      const std::string& pod, const std::string& container,
                                                      bool previous);

class KubeletServer {
 public:
  static Result<std::unique_ptr<KubeletServer>> start(const KubeletServerOptions& options,
                                                      runtime::Runtime& runtime);
  ~KubeletServer();
  uint16_t port() const;
  void stop();

  class Impl;

 private:
  explicit KubeletServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace capstan::agent::streaming
