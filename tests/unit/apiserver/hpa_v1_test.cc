// autoscaling/v1 <-> v2 HorizontalPodAutoscaler conversion for `kubectl autoscale`.
#include "apiserver/hpa_v1.h"

#include <gtest/gtest.h>

namespace capstan::apiserver {
namespace {

TEST(HpaV1, KubectlAutoscaleBodyBecomesACpuMetric) {
  // What kubectl 1.31 `autoscale deployment web --cpu-percent=50 --min=1 --max=3` posts.
  Json v1 = Json::parse(R"({"kind":"HorizontalPodAutoscaler","apiVersion":"autoscaling/v1",
    "metadata":{"name":"web","creationTimestamp":null},
    "spec":{"scaleTargetRef":{"kind":"Deployment","name":"web","apiVersion":"apps/v1"},"minReplicas":1,
            "maxReplicas":3,"targetCPUUtilizationPercentage":50},
    "status":{"currentReplicas":0,"desiredReplicas":0}})");
  Json v2 = hpaV1ToV2(v1);
  EXPECT_EQ(v2["apiVersion"], "autoscaling/v2");
  EXPECT_FALSE(v2.contains("status"));
  EXPECT_FALSE(v2["spec"].contains("targetCPUUtilizationPercentage"));
  EXPECT_EQ(v2["spec"]["metrics"], Json::parse(R"([{"type":"Resource","resource":{"name":"cpu",
    "target":{"type":"Utilization","averageUtilization":50}}}])"));
  EXPECT_EQ(v2["spec"]["maxReplicas"], 3);
}

TEST(HpaV1, WithoutTargetLeavesMetricsToDefaulting) {
  Json v2 = hpaV1ToV2(Json::parse(R"({"apiVersion":"autoscaling/v1","spec":{"maxReplicas":2}})"));
  EXPECT_FALSE(v2["spec"].contains("metrics"));
}

TEST(HpaV1, V2AnswerAsV1) {
  Json v2 = Json::parse(R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler",
    "spec":{"maxReplicas":3,"minReplicas":1,"metrics":[
      {"type":"Resource","resource":{"name":"memory","target":{"type":"Utilization","averageUtilization":70}}},
      {"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}}}]},
    "status":{"currentReplicas":2,"desiredReplicas":3,"conditions":[{"type":"AbleToScale"}],
      "currentMetrics":[{"type":"Resource","resource":{"name":"cpu","current":{"averageUtilization":97}}}]}})");
  Json v1 = hpaV2ToV1(v2);
  EXPECT_EQ(v1["apiVersion"], "autoscaling/v1");
  EXPECT_EQ(v1["spec"],
            Json::parse(R"({"maxReplicas":3,"minReplicas":1,"targetCPUUtilizationPercentage":50})"));
  EXPECT_EQ(v1["status"],
            Json::parse(R"({"currentReplicas":2,"desiredReplicas":3,"currentCPUUtilizationPercentage":97})"));
}

}  // namespace
}  // namespace capstan::apiserver
