#include "agent/stats/kubelet_metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace capstan::agent::stats {

std::vector<double> KubeletMetrics::podStartBuckets() {
  return {0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600};
}

std::vector<double> KubeletMetrics::defaultBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> KubeletMetrics::runtimeBuckets() {
  std::vector<double> b;
  double v = 0.005;
  for (int i = 0; i < 14; ++i, v *= 2.5) b.push_back(v);
  return b;
}

void KubeletMetrics::Histogram::observe(double v) {
  size_t i = static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
  ++counts[i];
  sum += v;
  ++count;
}

void KubeletMetrics::observePodStart(double seconds) {
  std::lock_guard lock(mu_);
  pod_start_.observe(seconds);
}

void KubeletMetrics::observePodWorker(std::string_view operation_type, double seconds) {
  std::lock_guard lock(mu_);
  auto it = pod_worker_.find(operation_type);
  if (it == pod_worker_.end()) it = pod_worker_.emplace(std::string(operation_type), Histogram(defaultBuckets())).first;
  it->second.observe(seconds);
}

void KubeletMetrics::observeRuntimeOperation(std::string_view operation_type, double seconds, bool failed) {
  std::lock_guard lock(mu_);
  auto it = runtime_duration_.find(operation_type);
  if (it == runtime_duration_.end())
    it = runtime_duration_.emplace(std::string(operation_type), Histogram(runtimeBuckets())).first;
  it->second.observe(seconds);
  ++runtime_total_[std::string(operation_type)];
  if (failed) ++runtime_errors_[std::string(operation_type)];
}

namespace {

// Label values here are operation names of our own; no escaping needed.
void histogram(std::string& out, std::string_view name, std::string_view label, const KubeletMetrics::Histogram& h) {
  std::string prefix = label.empty() ? "" : std::string(label) + ",";
  std::string only = label.empty() ? "" : "{" + std::string(label) + "}";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, prefix, h.bounds[i], cumulative);
  }
  cumulative += h.counts.back();
  out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n", name, prefix, cumulative);
  out += fmt::format("{}_sum{} {}\n", name, only, h.sum);
  out += fmt::format("{}_count{} {}\n", name, only, h.count);
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} [ALPHA] {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

void KubeletMetrics::addSource(std::function<std::string()> render) {
  std::lock_guard lock(mu_);
  sources_.push_back(std::move(render));
}

std::string KubeletMetrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  header(out, "kubelet_pod_start_duration_seconds", "histogram",
         "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run");
  histogram(out, "kubelet_pod_start_duration_seconds", "", pod_start_);
  header(out, "kubelet_pod_worker_duration_seconds", "histogram",
         "Duration in seconds to sync a single pod. Broken down by operation type: create, update, or sync");
  for (const auto& [type, h] : pod_worker_)
    histogram(out, "kubelet_pod_worker_duration_seconds", fmt::format("operation_type=\"{}\"", type), h);
  header(out, "kubelet_runtime_operations_duration_seconds", "histogram",
         "Duration in seconds of runtime operations. Broken down by operation type.");
  for (const auto& [type, h] : runtime_duration_)
    histogram(out, "kubelet_runtime_operations_duration_seconds", fmt::format("operation_type=\"{}\"", type), h);
  header(out, "kubelet_runtime_operations_errors_total", "counter",
         "Cumulative number of runtime operation errors by operation type.");
  for (const auto& [type, n] : runtime_errors_)
    out += fmt::format("kubelet_runtime_operations_errors_total{{operation_type=\"{}\"}} {}\n", type, n);
  header(out, "kubelet_runtime_operations_total", "counter", "Cumulative number of runtime operations by operation type.");
  for (const auto& [type, n] : runtime_total_)
    out += fmt::format("kubelet_runtime_operations_total{{operation_type=\"{}\"}} {}\n", type, n);
  for (const auto& source : sources_) out += source();
  return out;
}

}  // namespace capstan::agent::stats
