#include "controllers/hpa_controller.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "api/quantity.h"
#include "common/log.h"
#include "controllers/object_fields.h"

namespace capstan::controllers {
namespace {

const client::ResourceRef kHpas{"autoscaling", "v2", "horizontalpodautoscalers"};
const client::ResourceRef kPodMetrics{"metrics.k8s.io", "v1beta1", "pods"};

// The scale target's resource: apps/v1 Deployment -> apps/v1 deployments.
client::ResourceRef targetResource(const Json& ref) {
  std::string api_version = stringField(ref, "apiVersion", "apps/v1");
  auto slash = api_version.find('/');
  client::ResourceRef r;
  r.group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  r.version = slash == std::string::npos ? api_version : api_version.substr(slash + 1);
  r.resource = stringField(ref, "kind");
  for (auto& c : r.resource) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  r.resource += "s";
  return r;
}

// A quantity's amount in the unit the calculation uses: milli-CPU, bytes.
int64_t amount(const Json& q, const std::string& resource) {
  auto parsed = api::parseQuantityValue(q);
  if (!parsed) return 0;
  return resource == "cpu" ? parsed->milli : parsed->value;
}

// resource.NewMilliQuantity(DecimalSI) for CPU, NewQuantity(BinarySI) for
// bytes, as upstream writes currentMetrics[].resource.current.averageValue.
std::string formatAmount(int64_t v, const std::string& resource) {
  if (resource == "cpu") return v % 1000 == 0 ? std::to_string(v / 1000) : std::to_string(v) + "m";
  if (v == 0) return "0";
  for (auto [suffix, unit] :
       {std::pair{"Gi", int64_t{1} << 30}, {"Mi", int64_t{1} << 20}, {"Ki", int64_t{1} << 10}})
    if (v % unit == 0) return std::to_string(v / unit) + suffix;
  return std::to_string(v);
}

bool podReady(const Json& pod) {
  const Json* c = findCondition(pod, "Ready");
  return c && stringField(*c, "status") == "True";
}

// The pods as the calculation sees them for one resource.
std::vector<hpa::PodSample> samplesFor(const Json& pods, const Json& metrics, const std::string& resource) {
  std::map<std::string, int64_t> usage;
  for (const auto& m : arrayField(metrics, "items")) {
    int64_t total = 0;
    for (const auto& c : arrayField(m, "containers")) {
      const Json& u = objectField(c, "usage");
      if (u.contains(resource)) total += amount(u[resource], resource);
    }
    usage[stringField(metadataOf(m), "name")] = total;
  }
  std::vector<hpa::PodSample> out;
  for (const auto& pod : arrayField(pods, "items")) {
    hpa::PodSample s;
    s.name = stringField(metadataOf(pod), "name");
    std::string phase = stringField(statusOf(pod), "phase");
    s.ignored = isDeleting(pod) || phase == "Failed";
    s.pending = phase == "Pending";
    // Upstream holds readiness against CPU only (start-up CPU bursts).
    s.unready = resource == "cpu" && !podReady(pod);
    if (auto it = usage.find(s.name); it != usage.end()) {
      s.has_metrics = true;
      s.usage = it->second;
    }
    for (const auto& c : arrayField(specOf(pod), "containers")) {
      const Json& req = objectField(objectField(c, "resources"), "requests");
      if (!req.contains(resource)) {
        if (!s.missing_request) s.missing_request_container = stringField(c, "name");
        s.missing_request = true;
        continue;
      }
      s.request += amount(req[resource], resource);
    }
    out.push_back(std::move(s));
  }
  return out;
}

// One metric's recommendation, its status entry and its name for events.
struct MetricOutcome {
  int32_t replicas = 0;
  std::string name;  // "cpu resource utilization (percentage of request)"
  Json status;
};

Result<MetricOutcome> computeMetric(const Json& spec, int32_t current, const Json& pods, const Json& metrics,
                                    double tolerance) {
  std::string type = stringField(spec, "type");
  if (type != "Resource")
    return Status(Code::kInvalid,
                  fmt::format("the HPA controller does not support metric source type {}", type));
  const Json& res = objectField(spec, "resource");
  std::string resource = stringField(res, "name");
  const Json& target = objectField(res, "target");
  auto samples = samplesFor(pods, metrics, resource);
  MetricOutcome out;
  Json current_value;
  if (target.contains("averageValue") && !target["averageValue"].is_null()) {
    auto r = hpa::desiredForAverageValue(current, amount(target["averageValue"], resource), resource, samples,
                                         tolerance);
    if (!r) return Status(r.status().code(), "failed to get " + resource + " usage: " + r.status().message());
    out.replicas = r->replicas;
    out.name = resource + " resource";
    current_value = {{"averageValue", formatAmount(r->raw_average, resource)}};
  } else {
    int64_t target_utilization = intField(target, "averageUtilization");
    auto r = hpa::desiredForUtilization(current, static_cast<int32_t>(target_utilization), resource, samples,
                                        tolerance);
    if (!r)
      return Status(r.status().code(), "failed to get " + resource + " utilization: " + r.status().message());
    out.replicas = r->replicas;
    out.name = resource + " resource utilization (percentage of request)";
    current_value = {{"averageUtilization", r->utilization},
                     {"averageValue", formatAmount(r->raw_average, resource)}};
  }
  out.status = {{"type", "Resource"}, {"resource", {{"name", resource}, {"current", current_value}}}};
  return out;
}

std::chrono::seconds downscaleWindow(const Json& hpa, std::chrono::seconds def) {
  const Json& down = objectField(objectField(specOf(hpa), "behavior"), "scaleDown");
  return hasInt(down, "stabilizationWindowSeconds")
             ? std::chrono::seconds(intField(down, "stabilizationWindowSeconds"))
             : def;
}

}  // namespace

HorizontalPodAutoscalerController::HorizontalPodAutoscalerController(Context& ctx, PodMetricsLister metrics)
    : Controller("horizontal-pod-autoscaler", ctx, 2), metrics_(std::move(metrics)) {
  if (!metrics_) {
    metrics_ = [&client = ctx.client](const std::string& ns, const std::string& selector) {
      return client.list(kPodMetrics, ns, {.label_selector = selector});
    };
  }
  // Status writes do not re-trigger a sync: only a new spec (generation)
  // does; otherwise the key comes back every sync period.
  ctx.informers.get(kHpas).addHandlers({.on_add = [this](const ObjectPtr& o) { enqueue(o); },
                                        .on_update =
                                            [this](const ObjectPtr& old_obj, const ObjectPtr& o) {
                                              if (specOf(*old_obj) != specOf(*o)) enqueue(o);
                                            },
                                        .on_delete = [this](const ObjectPtr& o) { enqueue(o); }});
}

Status HorizontalPodAutoscalerController::sync(const std::string& key) {
  auto obj = ctx_.informers.get(kHpas).get(key);
  if (!obj) {
    std::lock_guard lock(mu_);
    history_.erase(key);
    return Status();
  }
  Status st = reconcile(key, *obj);
  // Level-driven on a timer, as upstream: every HPA is looked at again
  // after the sync period whether or not this one succeeded.
  queue().addAfter(key, ctx_.options.hpa_sync_period);
  return st;
}

Status HorizontalPodAutoscalerController::reconcile(const std::string& key, const Json& hpa_obj) {
  const WallTime now = ctx_.clock.now();
  const std::string ns = stringField(metadataOf(hpa_obj), "namespace");
  const std::string name = stringField(metadataOf(hpa_obj), "name");
  const Json& spec = specOf(hpa_obj);
  const Json& ref = objectField(spec, "scaleTargetRef");
  const int32_t min_replicas = static_cast<int32_t>(intField(spec, "minReplicas", 1));
  const int32_t max_replicas = static_cast<int32_t>(intField(spec, "maxReplicas"));
  Json status = statusOf(hpa_obj);
  if (!status.is_object()) status = Json::object();

  auto writeStatus = [&]() -> Status {
    status["observedGeneration"] = intField(metadataOf(hpa_obj), "generation");
    if (status == statusOf(hpa_obj)) return Status();
    auto r = ctx_.client.patch(kHpas, ns, name, client::PatchType::kMerge, {{"status", status}}, "status");
    return r ? Status() : r.status();
  };

  // The target's scale subresource.
  client::ResourceRef target = targetResource(ref);
  std::string scale_path = target.path(ns, stringField(ref, "name"), "scale");
  auto scale = ctx_.client.call({.method = "GET", .path = scale_path});
  if (!scale) {
    std::string msg =
        "the HPA controller was unable to get the target's current scale: " + scale.status().message();
    ctx_.events.record(hpa_obj, "Warning", "FailedGetScale", scale.status().message());
    setCondition(status, "AbleToScale", "False", "FailedGetScale", msg, now);
    (void)writeStatus();
    return scale.status();
  }
  setCondition(status, "AbleToScale", "True", "SucceededGetScale",
               "the HPA controller was able to get the target's current scale", now);
  const int32_t current = static_cast<int32_t>(intField(specOf(*scale), "replicas"));
  status["currentReplicas"] = current;  // upstream reports the scale's spec, not its status

  int32_t desired = 0;
  std::string reason;
  Json current_metrics = Json::array();
  if (current == 0 && min_replicas != 0) {
    setCondition(status, "ScalingActive", "False", "ScalingDisabled",
                 "scaling is disabled since the replica count of the target is zero", now);
  } else if (current > max_replicas) {
    reason = "Current number of replicas above Spec.MaxReplicas";
    desired = max_replicas;
  } else if (current < min_replicas) {
    reason = "Current number of replicas below Spec.MinReplicas";
    desired = min_replicas;
  } else {
    // computeReplicasForMetrics: the highest recommendation of the valid
    // metrics; the pods and their metrics are read once for all of them.
    std::string selector = stringField(statusOf(*scale), "selector");
    Result<Json> pods = ctx_.client.list(client::res::kPods, ns, {.label_selector = selector});
    Result<Json> metrics = selector.empty() ? Result<Json>(Status(Code::kInvalid, "selector is required"))
                                            : metrics_(ns, selector);
    const Json& metric_specs = arrayField(spec, "metrics");
    int32_t best = 0;
    std::string best_name;
    size_t invalid = 0;
    Status last_error;
    std::string last_reason;
    for (const auto& m : metric_specs) {
      Result<MetricOutcome> outcome = Status(Code::kInternal, "");
      if (!pods) {
        outcome = Status(pods.status().code(), "unable to get pods: " + pods.status().message());
      } else if (!metrics) {
        outcome =
            Status(metrics.status().code(),
                   fmt::format("failed to get {} utilization: unable to get metrics for resource {}: {}",
                               stringField(objectField(m, "resource"), "name"),
                               stringField(objectField(m, "resource"), "name"), metrics.status().message()));
      } else {
        outcome = computeMetric(m, current, *pods, *metrics, ctx_.options.hpa_tolerance);
      }
      if (!outcome) {
        ++invalid;
        last_error = outcome.status();
        last_reason =
            stringField(m, "type") == "Resource" ? "FailedGetResourceMetric" : "InvalidMetricSourceType";
        current_metrics.push_back({{"type", ""}});
        ctx_.events.record(hpa_obj, "Warning", last_reason, last_error.message());
        continue;
      }
      current_metrics.push_back(outcome->status);
      if (outcome->replicas > best || best_name.empty()) {
        best = outcome->replicas;
        best_name = outcome->name;
      }
    }
    if (invalid >= metric_specs.size() || (invalid > 0 && best < current)) {
      setCondition(status, "ScalingActive", "False", last_reason,
                   "the HPA was unable to compute the replica count: " + last_error.message(), now);
      status["currentMetrics"] = current_metrics;
      status["desiredReplicas"] = intField(status, "desiredReplicas", current);
      (void)writeStatus();
      return last_error.ok() ? Status(Code::kInvalid, "no metrics") : last_error;
    }
    setCondition(status, "ScalingActive", "True", "ValidMetricFound",
                 "the HPA was able to successfully calculate a replica count from " + best_name, now);
    desired = best;
    if (desired > current) reason = best_name + " above target";
    if (desired < current) reason = "All metrics below target";

    hpa::Normalized n;
    {
      std::lock_guard lock(mu_);
      n = hpa::normalizeDesiredReplicas(current, desired, min_replicas, max_replicas,
                                        downscaleWindow(hpa_obj, ctx_.options.hpa_downscale_stabilization),
                                        now, history_[key]);
    }
    if (n.stabilized)
      setCondition(
          status, "AbleToScale", "True", "ScaleDownStabilized",
          "recent recommendations were higher than current one, applying the highest recent recommendation",
          now);
    else
      setCondition(status, "AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size",
                   now);
    setCondition(status, "ScalingLimited", n.limited ? "True" : "False", n.limited_reason, n.limited_message,
                 now);
    desired = n.replicas;
  }

  const bool rescale = desired != current && !(current == 0 && min_replicas != 0);
  if (rescale) {
    Json new_scale = *scale;
    new_scale["spec"]["replicas"] = desired;
    auto w = ctx_.client.call({.method = "PUT", .path = scale_path, .body = new_scale.dump()});
    if (!w) {
      setCondition(status, "AbleToScale", "False", "FailedUpdateScale",
                   "the HPA controller was unable to update the target scale: " + w.status().message(), now);
      ctx_.events.record(
          hpa_obj, "Warning", "FailedRescale",
          fmt::format("New size: {}; reason: {}; error: {}", desired, reason, w.status().message()));
      (void)writeStatus();
      return w.status();
    }
    setCondition(status, "AbleToScale", "True", "SucceededRescale",
                 fmt::format("the HPA controller was able to update the target scale to {}", desired), now);
    ctx_.events.record(hpa_obj, "Normal", "SuccessfulRescale",
                       fmt::format("New size: {}; reason: {}", desired, reason));
    status["lastScaleTime"] = formatRfc3339(now);
    LOG_INFO("hpa rescaled", "hpa", key, "from", current, "to", desired, "reason", reason);
  } else {
    desired = current;
  }
  status["desiredReplicas"] = desired;
  if (current_metrics.empty()) {
    if (status.contains("currentMetrics")) status["currentMetrics"] = nullptr;  // merge patch: remove
  } else {
    status["currentMetrics"] = current_metrics;
  }
  return writeStatus();
}

}  // namespace capstan::controllers
