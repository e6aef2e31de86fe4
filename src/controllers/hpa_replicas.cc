#include "controllers/hpa_replicas.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace capstan::controllers::hpa {
namespace {

struct Usage {
  std::string pod;
  int64_t value = 0;
  int64_t request = 0;
};

// What a ratio and its conservative recount are computed from.
struct Ratio {
  double ratio = 0;
  int32_t utilization = 0;
  int64_t raw_average = 0;
};

// GetResourceUtilizationRatio: percent of the summed requests, truncated
// to an integer before it becomes a ratio (as upstream does).
Result<Ratio> utilizationRatio(const std::vector<Usage>& metrics, int32_t target) {
  int64_t total = 0, requests = 0;
  for (const auto& m : metrics) {
    total += m.value;
    requests += m.request;
  }
  if (requests == 0 || metrics.empty())
    return Status(Code::kInternal, "no metrics returned matched known pods");
  Ratio r;
  r.utilization = static_cast<int32_t>(total * 100 / requests);
  r.ratio = static_cast<double>(r.utilization) / static_cast<double>(target);
  r.raw_average = total / static_cast<int64_t>(metrics.size());
  return r;
}

// GetMetricUsageRatio: the average per pod against the target average.
Result<Ratio> averageRatio(const std::vector<Usage>& metrics, int64_t target) {
  if (metrics.empty()) return Status(Code::kInternal, "no metrics returned matched known pods");
  int64_t total = 0;
  for (const auto& m : metrics) total += m.value;
  Ratio r;
  r.raw_average = total / static_cast<int64_t>(metrics.size());
  r.ratio = static_cast<double>(r.raw_average) / static_cast<double>(target);
  return r;
}

int32_t ceilTimes(double ratio, size_t n) {
  return static_cast<int32_t>(std::ceil(ratio * static_cast<double>(n)));
}

// The common body of GetResourceReplicas and calcPlainMetricReplicas.
// `ratio_of` computes the ratio of a set of usages; `full` is what a pod
// without metrics counts as when scaling down (its request, or the target).
template <typename RatioFn, typename FullFn>
Result<UtilizationResult> desired(int32_t current, const std::string& resource,
                                  const std::vector<PodSample>& pods, double tolerance, bool use_requests,
                                  RatioFn ratio_of, FullFn full) {
  if (pods.empty())
    return Status(Code::kInternal, "no pods returned by selector while calculating replica count");
  std::vector<Usage> metrics;
  std::vector<const PodSample*> missing, unready;
  size_t ready_count = 0;
  for (const auto& p : pods) {
    if (p.ignored) continue;
    if (use_requests && p.missing_request)
      return Status(Code::kInternal, fmt::format("missing request for {} in container {} of Pod {}", resource,
                                                 p.missing_request_container, p.name));
    if (p.pending) {
      unready.push_back(&p);
      continue;
    }
    if (!p.has_metrics) {
      missing.push_back(&p);
      continue;
    }
    if (p.unready) {
      unready.push_back(&p);
      continue;
    }
    ++ready_count;
    metrics.push_back({p.name, p.usage, p.request});
  }
  if (metrics.empty())
    return Status(Code::kInternal, "did not receive metrics for targeted pods (pods might be unready)");
  auto first = ratio_of(metrics);
  if (!first) return first.status();
  UtilizationResult out{current, first->utilization, first->raw_average};
  const double ratio = first->ratio;

  bool scale_up_with_unready = !unready.empty() && ratio > 1.0;
  if (!scale_up_with_unready && missing.empty()) {
    if (std::abs(1.0 - ratio) <= tolerance) return out;
    out.replicas = ceilTimes(ratio, ready_count);
    return out;
  }
  // Conservative recount: missing pods at 100% (scale down) or 0% (scale
  // up), unready pods at 0% when scaling up.
  for (const PodSample* p : missing) metrics.push_back({p->name, ratio < 1.0 ? full(*p) : 0, p->request});
  if (scale_up_with_unready)
    for (const PodSample* p : unready) metrics.push_back({p->name, 0, p->request});
  auto second = ratio_of(metrics);
  if (!second) return second.status();
  double new_ratio = second->ratio;
  if (std::abs(1.0 - new_ratio) <= tolerance || (ratio < 1.0 && new_ratio > 1.0) ||
      (ratio > 1.0 && new_ratio < 1.0))
    return out;
  int32_t n = ceilTimes(new_ratio, metrics.size());
  if ((new_ratio < 1.0 && n > current) || (new_ratio > 1.0 && n < current)) return out;
  out.replicas = n;
  return out;
}

}  // namespace

Result<UtilizationResult> desiredForUtilization(int32_t current_replicas, int32_t target_utilization,
                                                const std::string& resource,
                                                const std::vector<PodSample>& pods, double tolerance) {
  if (target_utilization <= 0) return Status(Code::kInvalid, "target utilization must be greater than 0");
  return desired(
      current_replicas, resource, pods, tolerance, true,
      [&](const std::vector<Usage>& m) { return utilizationRatio(m, target_utilization); },
      [](const PodSample& p) { return p.request; });
}

Result<UtilizationResult> desiredForAverageValue(int32_t current_replicas, int64_t target_average,
                                                 const std::string& resource,
                                                 const std::vector<PodSample>& pods, double tolerance) {
  if (target_average <= 0) return Status(Code::kInvalid, "target average value must be greater than 0");
  return desired(
      current_replicas, resource, pods, tolerance, false,
      [&](const std::vector<Usage>& m) { return averageRatio(m, target_average); },
      [&](const PodSample&) { return target_average; });
}

Normalized normalizeDesiredReplicas(int32_t current_replicas, int32_t proposed, int32_t min_replicas,
                                    int32_t max_replicas, std::chrono::seconds window, WallTime now,
                                    std::deque<Recommendation>& history) {
  // stabilizeRecommendation: one outdated entry is reused, so the history
  // holds about one entry per sync period of the window.
  Normalized out;
  int32_t stabilized = proposed;
  const WallTime cutoff = now - window;
  std::optional<size_t> old_index;
  for (size_t i = 0; i < history.size(); ++i) {
    if (history[i].at < cutoff)
      old_index = i;
    else
      stabilized = std::max(stabilized, history[i].replicas);
  }
  if (old_index)
    history[*old_index] = {now, proposed};
  else
    history.push_back({now, proposed});
  out.stabilized = stabilized != proposed;

  // convertDesiredReplicasWithRules.
  const int32_t scale_up_limit = std::max(2 * current_replicas, 4);
  int32_t max_allowed = max_replicas;
  std::string reason = "TooManyReplicas";
  std::string message = "the desired replica count is more than the maximum replica count";
  if (max_replicas > scale_up_limit) {
    max_allowed = scale_up_limit;
    reason = "ScaleUpLimit";
    message = "the desired replica count is increasing faster than the maximum scale rate";
  }
  if (stabilized < min_replicas) {
    out.replicas = min_replicas;
    reason = "TooFewReplicas";
    message = "the desired replica count is less than the minimum replica count";
  } else if (stabilized > max_allowed) {
    out.replicas = max_allowed;
  } else {
    out.replicas = stabilized;
    reason = "DesiredWithinRange";
    message = "the desired count is within the acceptable range";
  }
  out.limited = out.replicas != stabilized;
  out.limited_reason = reason;
  out.limited_message = message;
  return out;
}

}  // namespace capstan::controllers::hpa
