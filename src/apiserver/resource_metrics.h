#pragma once
// Private to the API server: the pure half of metrics.k8s.io. Parses a
// kubelet's /metrics/resource exposition, turns two samples of it into
// usage over a window as metrics-server does (CPU: the rate of the
// cumulative counter between the samples; memory: the working set of the
// newer one), and builds NodeMetrics / PodMetrics objects.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::apiserver {

// One series of the Prometheus text format.
struct PromSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  std::optional<int64_t> timestamp_ms;
  std::string label(std::string_view key) const;
};

// Parses the text exposition format (0.0.4): comments and blank lines are
// skipped; a malformed line is BadRequest naming its line number.
Result<std::vector<PromSample>> parsePrometheusText(std::string_view text);

// A cumulative CPU reading and a memory reading.
struct UsagePoint {
  double cpu_seconds = 0;
  WallTime cpu_time{};
  double memory_bytes = 0;
  WallTime memory_time{};
  std::optional<WallTime> start_time;  // containers: container_start_time_seconds
  bool has_cpu = false;
  bool has_memory = false;
};

struct ResourceSample {
  std::optional<UsagePoint> node;
  // (namespace, pod) -> container name -> point
  std::map<std::pair<std::string, std::string>, std::map<std::string, UsagePoint>> containers;
};

// From the kubelet's /metrics/resource text (samples without a timestamp
// get `fetched_at`).
Result<ResourceSample> parseResourceMetrics(std::string_view text, WallTime fetched_at);

struct Usage {
  int64_t nano_cores = 0;
  int64_t memory_bytes = 0;
  WallTime timestamp{};
  std::chrono::milliseconds window{0};
};

// Usage between an older and a newer point of the same series. A container
// that started after `prev` was read (or has no `prev`) is measured from
// its start (CPU counter 0 then), as metrics-server does for fresh
// containers, if it started at least `min_window` before `last`. nullopt
// when no window of at least `min_window` exists or the counter went back.
std::optional<Usage> usageBetween(const UsagePoint* prev, const UsagePoint& last,
                                  std::chrono::milliseconds min_window);

// Quantities as metrics-server writes them: CPU in nanocores ("1234567n",
// or a larger exact suffix "15m"), memory in binary SI ("1234Ki", or bytes).
std::string cpuQuantity(int64_t nano_cores);
std::string memoryQuantity(int64_t bytes);
// Go's time.Duration.String() at millisecond precision: "1.005s", "2m0.5s".
std::string goDuration(std::chrono::milliseconds d);

// metrics.k8s.io/v1beta1 objects; `object` is the Node or Pod (name,
// namespace and labels are copied).
Json nodeMetricsJson(const Json& node, const Usage& usage, WallTime now);
Json podMetricsJson(const Json& pod, const std::vector<std::pair<std::string, Usage>>& containers,
                    WallTime now);

}  // namespace capstan::apiserver
