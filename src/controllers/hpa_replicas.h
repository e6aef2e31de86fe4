#pragma once
// The HorizontalPodAutoscaler's arithmetic, as upstream's
// pkg/controller/podautoscaler (replica_calculator.go and the no-behavior
// path of horizontal.go), kept free of I/O so it is tested as a table:
//
//   - desiredForUtilization: GetResourceReplicas. usage/request over the
//     pods with metrics, ratio against the target utilization, a tolerance
//     band (0.1) in which nothing changes, and upstream's conservative
//     treatment of pods without metrics (counted at 100% of their request
//     when scaling down, 0% when scaling up) and of unready pods (0% when
//     scaling up, ignored otherwise); a change that the conservative
//     recount reverses or erases keeps the current count.
//   - normalizeDesiredReplicas: the scale-down stabilization window (the
//     highest recommendation of the window wins), the scale-up limit
//     max(2 * current, 4), and the min/max clamp, with the ScalingLimited
//     condition's reason.
//
// Simplified from upstream: a pod counts as unready for CPU when its Ready
// condition is not True (upstream also looks at the first 5 minutes after
// start and the metric's timestamp); memory ignores readiness as upstream.
//
// Pure functions; thread-safe.

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace capstan::controllers::hpa {

// One pod selected by the scale target, as the calculation sees it.
struct PodSample {
  std::string name;
  bool ignored = false;          // being deleted or Failed: left out entirely
  bool pending = false;          // Pending: unready whether or not it has metrics
  bool unready = false;          // counted at 0% when scaling up, else ignored
  bool has_metrics = false;      // a PodMetrics entry was found
  int64_t usage = 0;             // summed over containers: milli-CPU or bytes
  int64_t request = 0;           // summed requests in the same unit
  bool missing_request = false;  // some container has no request for the resource
  std::string missing_request_container;
};

struct UtilizationResult {
  int32_t replicas = 0;
  int32_t utilization = 0;  // percent of request, over the pods with metrics
  int64_t raw_average = 0;  // average usage per pod with metrics (milli-CPU or bytes)
};

inline constexpr double kDefaultTolerance = 0.1;

// Desired replicas for a target utilization (percent of request) given the
// current replica count and the pods; an error (as upstream words it) when
// no pod has usable metrics or a request is missing.
Result<UtilizationResult> desiredForUtilization(int32_t current_replicas, int32_t target_utilization,
                                                const std::string& resource,
                                                const std::vector<PodSample>& pods,
                                                double tolerance = kDefaultTolerance);

// Desired replicas for a target average value (AverageValue targets):
// ceil(total usage / target) with the same tolerance on the ratio.
Result<UtilizationResult> desiredForAverageValue(int32_t current_replicas, int64_t target_average,
                                                 const std::string& resource,
                                                 const std::vector<PodSample>& pods,
                                                 double tolerance = kDefaultTolerance);

// A past recommendation, kept per HPA for the stabilization window.
struct Recommendation {
  WallTime at;
  int32_t replicas = 0;
};

struct Normalized {
  int32_t replicas = 0;
  // ScalingLimited: reason DesiredWithinRange (false), TooFewReplicas,
  // TooManyReplicas or ScaleUpLimit (true), and upstream's message.
  bool limited = false;
  std::string limited_reason;
  std::string limited_message;
  // AbleToScale: ScaleDownStabilized when the window held the count up,
  // else ReadyForNewScale.
  bool stabilized = false;
};

// normalizeDesiredReplicas: records `proposed` in `history` (dropping
// entries older than the window), takes the highest recommendation of the
// window, then limits the rate of scale-up and clamps to [min, max].
Normalized normalizeDesiredReplicas(int32_t current_replicas, int32_t proposed, int32_t min_replicas,
                                    int32_t max_replicas, std::chrono::seconds window, WallTime now,
                                    std::deque<Recommendation>& history);

}  // namespace capstan::controllers::hpa
