#include "controllers/alert_checks.h"

#include <fmt/format.h>

#include <cmath>

#include "controllers/object_fields.h"

namespace capstan::controllers::alerts {
namespace {

Json refOf(const Json& obj, const char* api_version, const char* kind) {
  Json ref = {{"apiVersion", api_version}, {"kind", kind}, {"name", client::nameOf(obj)}, {"uid", client::uidOf(obj)}};
  if (std::string ns = client::namespaceOf(obj); !ns.empty()) ref["namespace"] = ns;
  return ref;
}

std::string keyOf(const Json& obj) {
  std::string ns = client::namespaceOf(obj);
  return ns.empty() ? client::nameOf(obj) : ns + "." + client::nameOf(obj);
}

Finding finding(const Json& obj, const char* api_version, const char* kind, std::string value, std::string message) {
  return {refOf(obj, api_version, kind), keyOf(obj), std::move(value), std::move(message)};
}

std::string number(double v) { return fmt::format("{:.4g}", v); }

void podCrashLooping(const Json& pod, double threshold, std::vector<Finding>& out) {
  for (const char* list : {"initContainerStatuses", "containerStatuses"})
    for (const auto& cs : arrayField(statusOf(pod), list)) {
      const Json& waiting = objectField(objectField(cs, "state"), "waiting");
      int64_t restarts = intField(cs, "restartCount");
      if (stringField(waiting, "reason") != "CrashLoopBackOff" || restarts < threshold) continue;
      const Json& last = objectField(objectField(cs, "lastState"), "terminated");
      std::string exit = last.contains("exitCode") ? fmt::format(" (last exit code {})", intField(last, "exitCode")) : "";
      out.push_back(finding(pod, "v1", "Pod", std::to_string(restarts),
                            fmt::format("container {} is in CrashLoopBackOff after {} restarts{}",
                                        stringField(cs, "name"), restarts, exit)));
      return;  // one alert per pod
    }
}

void containerOOMKilled(const Json& pod, double threshold, WallTime now, std::vector<Finding>& out) {
  for (const char* list : {"initContainerStatuses", "containerStatuses"})
    for (const auto& cs : arrayField(statusOf(pod), list))
      for (const char* where : {"state", "lastState"}) {
        const Json& t = objectField(objectField(cs, where), "terminated");
        if (stringField(t, "reason") != "OOMKilled") continue;
        auto finished = timeField(t, "finishedAt");
        double ago = finished ? std::chrono::duration<double>(now - *finished).count() : 0;
        if (ago > threshold) continue;
        out.push_back(finding(pod, "v1", "Pod", stringField(cs, "name"),
                              fmt::format("container {} was OOM-killed {:.0f}s ago", stringField(cs, "name"), ago)));
        return;
      }
}

void deploymentReplicas(const Json& d, double threshold, std::vector<Finding>& out) {
  if (boolField(specOf(d), "paused") || isDeleting(d)) return;
  int64_t desired = intField(specOf(d), "replicas", 1);
  int64_t available = intField(statusOf(d), "availableReplicas");
  if (desired - available < std::max(threshold, 1.0)) return;
  out.push_back(finding(d, "apps/v1", "Deployment", fmt::format("{}/{}", available, desired),
                        fmt::format("{} of {} desired replicas are available", available, desired)));
}

void deploymentProgress(const Json& d, std::vector<Finding>& out) {
  const Json* c = findCondition(d, "Progressing");
  if (!c || stringField(*c, "status") != "False" || stringField(*c, "reason") != "ProgressDeadlineExceeded") return;
  out.push_back(finding(d, "apps/v1", "Deployment", "ProgressDeadlineExceeded", stringField(*c, "message")));
}

void nodeNotReady(const Json& n, std::vector<Finding>& out) {
  const Json* c = findCondition(n, "Ready");
  std::string status = c ? stringField(*c, "status", "Unknown") : "Unknown";
  if (status == "True") return;
  std::string why = c ? stringField(*c, "message") : "the node has never reported Ready";
  out.push_back(finding(n, "v1", "Node", status, fmt::format("node is not Ready ({}): {}", status, why)));
}

void nodePressure(const Json& n, std::vector<Finding>& out) {
  std::string under;
  for (const char* type : {"MemoryPressure", "DiskPressure", "PIDPressure"})
    if (conditionTrue(n, type)) under += (under.empty() ? "" : ",") + std::string(type);
  if (!under.empty()) out.push_back(finding(n, "v1", "Node", under, "node reports " + under));
}

void jobFailed(const Json& j, std::vector<Finding>& out) {
  const Json* c = findCondition(j, "Failed");
  if (!c || stringField(*c, "status") != "True") return;
  out.push_back(finding(j, "batch/v1", "Job", stringField(*c, "reason"),
                        fmt::format("job failed: {} ({})", stringField(*c, "message"), stringField(*c, "reason"))));
}

Finding clusterFinding(std::string key, std::string value, std::string message) {
  return {nullptr, std::move(key), std::move(value), std::move(message)};
}

void serverChecks(std::string_view check, double threshold, const ServerReadings& r, WallTime now,
                  std::vector<Finding>& out) {
  if (check == "APIServerErrors") {
    if (r.error_ratio && *r.error_ratio > threshold)
      out.push_back(clusterFinding("", number(*r.error_ratio),
                                   fmt::format("{:.1f}% of API requests failed with a 5xx", *r.error_ratio * 100)));
  } else if (check == "APIServerSlow") {
    if (r.request_p99 && *r.request_p99 > threshold)
      out.push_back(clusterFinding("", number(*r.request_p99),
                                   fmt::format("99th percentile API request latency is {:.3f}s", *r.request_p99)));
  } else if (check == "StoreSlow") {
    if (r.store_p99 && *r.store_p99 > threshold)
      out.push_back(clusterFinding("", number(*r.store_p99),
                                   fmt::format("99th percentile store request latency is {:.3f}s", *r.store_p99)));
  } else if (check == "CertificateExpiry") {
    double unix_now = std::chrono::duration<double>(now.time_since_epoch()).count();
    for (const auto& [cert, expiry] : r.certificate_expiry) {
      double days = (expiry - unix_now) / 86400;
      if (days < threshold)
        out.push_back(clusterFinding(cert, fmt::format("{:.1f}", days),
                                     fmt::format("the {} certificate expires in {:.1f} days", cert, days)));
    }
  }
}

// Sums the counters of one family by a label predicate.
double sum(const std::vector<Sample>& samples, std::string_view name,
           const std::function<bool(const Sample&)>& pred = {}) {
  double total = 0;
  for (const auto& s : samples)
    if (s.name == name && (!pred || pred(s))) total += s.value;
  return total;
}

std::map<double, double> buckets(const std::vector<Sample>& samples, std::string_view name,
                                 const std::function<bool(const Sample&)>& pred) {
  std::map<double, double> out;
  for (const auto& s : samples) {
    if (s.name != name || (pred && !pred(s))) continue;
    auto le = s.labels.find("le");
    if (le == s.labels.end()) continue;
    double bound = le->second == "+Inf" ? INFINITY : std::strtod(le->second.c_str(), nullptr);
    out[bound] += s.value;
  }
  return out;
}

std::map<double, double> delta(const std::map<double, double>& before, const std::map<double, double>& after) {
  std::map<double, double> out;
  for (const auto& [le, v] : after) {
    auto b = before.find(le);
    out[le] = std::max(0.0, v - (b == before.end() ? 0 : b->second));
  }
  return out;
}

}  // namespace

std::optional<double> histogramQuantile(double q, const std::map<double, double>& cumulative) {
  if (cumulative.empty()) return std::nullopt;
  double total = cumulative.rbegin()->second;
  if (total <= 0) return std::nullopt;
  double rank = q * total;
  double lower_bound = 0, lower_count = 0;
  for (const auto& [le, count] : cumulative) {
    if (count >= rank) {
      if (std::isinf(le)) return lower_bound;  // PromQL: the highest finite bound
      if (count == lower_count) return le;
      return lower_bound + (le - lower_bound) * (rank - lower_count) / (count - lower_count);
    }
    lower_bound = le;
    lower_count = count;
  }
  return lower_bound;
}

ServerReadings readingsBetween(const std::vector<Sample>& before, const std::vector<Sample>& after) {
  ServerReadings r;
  auto is5xx = [](const Sample& s) {
    auto c = s.labels.find("code");
    return c != s.labels.end() && !c->second.empty() && c->second[0] == '5';
  };
  double all = sum(after, "apiserver_request_total") - sum(before, "apiserver_request_total");
  double failed = sum(after, "apiserver_request_total", is5xx) - sum(before, "apiserver_request_total", is5xx);
  if (all > 0) r.error_ratio = std::max(0.0, failed) / all;
  auto not_long = [](const Sample& s) {
    auto v = s.labels.find("verb");
    return v == s.labels.end() || (v->second != "WATCH" && v->second != "CONNECT");
  };
  const char* kRequests = "apiserver_request_duration_seconds_bucket";
  r.request_p99 = histogramQuantile(0.99, delta(buckets(before, kRequests, not_long), buckets(after, kRequests, not_long)));
  const char* kStore = "etcd_request_duration_seconds_bucket";
  r.store_p99 = histogramQuantile(0.99, delta(buckets(before, kStore, {}), buckets(after, kStore, {})));
  for (const auto& s : after)
    if (s.name == "capstan_certificate_expiration_timestamp_seconds")
      if (auto c = s.labels.find("certificate"); c != s.labels.end()) r.certificate_expiry[c->second] = s.value;
  return r;
}

std::vector<Finding> run(const api::alerting::Check& check, double threshold, const Inputs& in,
                         const std::function<bool(const Json&)>& selected) {
  std::vector<Finding> out;
  const std::string_view name = check.name;
  auto each = [&](const std::vector<client::ObjectPtr>& objs, auto fn) {
    for (const auto& o : objs)
      if (selected(*o)) fn(*o);
  };
  if (name == "PodCrashLooping") each(in.pods, [&](const Json& p) { podCrashLooping(p, threshold, out); });
  else if (name == "ContainerOOMKilled") each(in.pods, [&](const Json& p) { containerOOMKilled(p, threshold, in.now, out); });
  else if (name == "DeploymentReplicasMismatch") each(in.deployments, [&](const Json& d) { deploymentReplicas(d, threshold, out); });
  else if (name == "DeploymentNotProgressing") each(in.deployments, [&](const Json& d) { deploymentProgress(d, out); });
  else if (name == "NodeNotReady") each(in.nodes, [&](const Json& n) { nodeNotReady(n, out); });
  else if (name == "NodeUnderPressure") each(in.nodes, [&](const Json& n) { nodePressure(n, out); });
  else if (name == "JobFailed") each(in.jobs, [&](const Json& j) { jobFailed(j, out); });
  else if (in.server) serverChecks(name, threshold, *in.server, in.now, out);
  return out;
}

}  // namespace capstan::controllers::alerts
