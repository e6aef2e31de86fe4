#pragma once
// The kubelet's own operation metrics, as kubelet names and buckets them
// (pkg/kubelet/metrics): pod start duration, pod worker duration, runtime
// operations. The agent records into one KubeletMetrics; the kubelet
// server appends render() to its /metrics.
//
// Threading: every method is thread-safe (one mutex; recording is a few
// array increments).

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace capstan::agent::stats {

class KubeletMetrics {
 public:
  // kubelet_pod_start_duration_seconds: from the agent first seeing the
  // pod (its watch event) to the status that first reports it Running.
  void observePodStart(double seconds);
  // kubelet_pod_worker_duration_seconds{operation_type}: one sync of one
  // pod; type is "create" (first sync of the pod), "update" (its spec
  // changed since the last sync), "sync" or "kill".
  void observePodWorker(std::string_view operation_type, double seconds);
  // kubelet_runtime_operations_total / _duration_seconds / _errors_total
  // {operation_type}: one call to the runtime or the pod network, named as
  // kubelet names the CRI calls ("start_container", "run_podsandbox", ...).
  void observeRuntimeOperation(std::string_view operation_type, double seconds, bool failed);

  // More families rendered after the above, by a part of the agent that
  // keeps its own figures (the socket load balancer). The function must
  // stay callable for as long as the metrics are rendered.
  void addSource(std::function<std::string()> render);

  // The Prometheus text exposition (0.0.4) of the families above.
  std::string render() const;

  struct Histogram {
    std::vector<double> bounds;     // upper bounds, ascending (+Inf implied)
    std::vector<uint64_t> counts;   // per bucket, not cumulative; last = +Inf
    double sum = 0;
    uint64_t count = 0;
    explicit Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}
    void observe(double v);
  };

 private:
  mutable std::mutex mu_;  // guards everything below
  Histogram pod_start_{podStartBuckets()};
  std::map<std::string, Histogram, std::less<>> pod_worker_;
  std::map<std::string, Histogram, std::less<>> runtime_duration_;
  std::map<std::string, uint64_t, std::less<>> runtime_total_;
  std::map<std::string, uint64_t, std::less<>> runtime_errors_;
  std::vector<std::function<std::string()>> sources_;

 public:
  static std::vector<double> podStartBuckets();
  static std::vector<double> defaultBuckets();       // Prometheus' DefBuckets
  static std::vector<double> runtimeBuckets();       // ExponentialBuckets(.005, 2.5, 14)
};

}  // namespace capstan::agent::stats
