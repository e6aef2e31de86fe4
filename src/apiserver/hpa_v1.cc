#include "apiserver/hpa_v1.h"

namespace capstan::apiserver {
namespace {

bool isCpuUtilization(const Json& m) {
  if (!m.is_object() || m.value("type", "") != "Resource") return false;
  const Json& r = m.value("resource", Json::object());
  return r.is_object() && r.value("name", "") == "cpu" && r.contains("target") && r["target"].is_object() &&
         r["target"].value("type", "") == "Utilization";
}

}  // namespace

bool isHpaV1Create(const RequestInfo& ri, const Request& req) {
  if (req.method != "POST" || !ri.is_resource || ri.group != "autoscaling" || ri.version != "v1" ||
      ri.resource != "horizontalpodautoscalers" || !ri.name.empty() || !ri.subresource.empty())
    return false;
  auto ct = req.headers.find("content-type");
  return ct == req.headers.end() || ct->second.find("json") != std::string::npos;
}

Json hpaV1ToV2(const Json& v1) {
  if (!v1.is_object()) return v1;
  Json out = v1;
  out["apiVersion"] = "autoscaling/v2";
  out.erase("status");  // status is the controller's
  if (!out.contains("spec") || !out["spec"].is_object()) return out;
  Json& spec = out["spec"];
  if (spec.contains("targetCPUUtilizationPercentage")) {
    Json pct = spec["targetCPUUtilizationPercentage"];
    spec.erase("targetCPUUtilizationPercentage");
    if (!pct.is_null())
      spec["metrics"] = Json::array(
          {{{"type", "Resource"},
            {"resource",
             {{"name", "cpu"}, {"target", {{"type", "Utilization"}, {"averageUtilization", pct}}}}}}});
  }
  return out;
}

Json hpaV2ToV1(const Json& v2) {
  if (!v2.is_object()) return v2;
  Json out = v2;
  out["apiVersion"] = "autoscaling/v1";
  if (out.contains("spec") && out["spec"].is_object()) {
    Json& spec = out["spec"];
    if (spec.contains("metrics") && spec["metrics"].is_array())
      for (const auto& m : spec["metrics"])
        if (isCpuUtilization(m) && m["resource"]["target"].contains("averageUtilization")) {
          spec["targetCPUUtilizationPercentage"] = m["resource"]["target"]["averageUtilization"];
          break;
        }
    spec.erase("metrics");
    spec.erase("behavior");
  }
  if (out.contains("status") && out["status"].is_object()) {
    Json& status = out["status"];
    if (status.contains("currentMetrics") && status["currentMetrics"].is_array())
      for (const auto& m : status["currentMetrics"])
        if (m.is_object() && m.value("type", "") == "Resource" && m.contains("resource") &&
            m["resource"].value("name", "") == "cpu" && m["resource"].contains("current") &&
            m["resource"]["current"].contains("averageUtilization")) {
          status["currentCPUUtilizationPercentage"] = m["resource"]["current"]["averageUtilization"];
          break;
        }
    status.erase("currentMetrics");
    status.erase("conditions");
    if (!status.contains("currentReplicas")) status["currentReplicas"] = 0;
    if (!status.contains("desiredReplicas")) status["desiredReplicas"] = 0;
  }
  return out;
}

}  // namespace capstan::apiserver
