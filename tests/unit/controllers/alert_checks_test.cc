// The alert checks, the Prometheus text reader behind the server checks, and
// the bodies sent to Alertmanager and webhook receivers.
#include <gtest/gtest.h>

#include "api/alerting.h"
#include "common/duration.h"
#include "controllers/alert_checks.h"
#include "controllers/alert_notifier.h"
#include "controllers/prometheus_text.h"

namespace capstan::controllers::alerts {
namespace {

using namespace std::chrono_literals;

client::ObjectPtr object(Json j) { return std::make_shared<const Json>(std::move(j)); }

Json crashingPod(const std::string& name, int restarts) {
  return {{"metadata", {{"name", name}, {"namespace", "shop"}, {"uid", "u-" + name}, {"labels", {{"app", "web"}}}}},
          {"status",
           {{"containerStatuses",
             Json::array({{{"name", "main"},
                           {"restartCount", restarts},
                           {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}},
                           {"lastState", {{"terminated", {{"exitCode", 3}, {"reason", "Error"}}}}}}})}}}};
}

std::vector<Finding> runCheck(std::string_view check, double threshold, const Inputs& in) {
  return run(*api::alerting::findCheck(check), threshold, in, [](const Json&) { return true; });
}

TEST(AlertChecks, CrashLoopingPodsAboveTheRestartThreshold) {
  Inputs in{.pods = {object(crashingPod("a", 1)), object(crashingPod("b", 5))}, .now = std::chrono::system_clock::now()};
  auto found = runCheck("PodCrashLooping", 3, in);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].key, "shop.b");
  EXPECT_EQ(found[0].value, "5");
  EXPECT_EQ(found[0].object["kind"], "Pod");
  EXPECT_EQ(found[0].object["uid"], "u-b");
  EXPECT_EQ(found[0].message, "container main is in CrashLoopBackOff after 5 restarts (last exit code 3)");
  // The rule's selector decides which objects are looked at.
  auto none = run(*api::alerting::findCheck("PodCrashLooping"), 1, in, [](const Json&) { return false; });
  EXPECT_TRUE(none.empty());
}

TEST(AlertChecks, OOMKillsCountOnlyWhileRecent) {
  auto now = std::chrono::system_clock::now();
  Json pod = crashingPod("m", 1);
  pod["status"]["containerStatuses"][0]["lastState"]["terminated"] = {
      {"reason", "OOMKilled"}, {"exitCode", 137}, {"finishedAt", formatRfc3339(now - 120s)}};
  Inputs in{.pods = {object(pod)}, .now = now};
  EXPECT_EQ(runCheck("ContainerOOMKilled", 600, in).size(), 1u);
  EXPECT_TRUE(runCheck("ContainerOOMKilled", 60, in).empty());
}

TEST(AlertChecks, WorkloadsNodesAndJobs) {
  Json short_deploy = {{"metadata", {{"name", "web"}, {"namespace", "shop"}}},
                       {"spec", {{"replicas", 3}}},
                       {"status", {{"availableReplicas", 1}}}};
  Json paused = short_deploy;
  paused["metadata"]["name"] = "paused";
  paused["spec"]["paused"] = true;
  Json stuck = {{"metadata", {{"name", "stuck"}, {"namespace", "shop"}}},
                {"spec", {{"replicas", 1}}},
                {"status",
                 {{"availableReplicas", 1},
                  {"conditions", Json::array({{{"type", "Progressing"},
                                               {"status", "False"},
                                               {"reason", "ProgressDeadlineExceeded"},
                                               {"message", "ReplicaSet \"stuck-1\" has timed out progressing."}}})}}}};
  Json down = {{"metadata", {{"name", "n1"}}},
               {"status", {{"conditions", Json::array({{{"type", "Ready"}, {"status", "Unknown"}, {"message", "Kubelet stopped posting node status."}},
                                                      {{"type", "DiskPressure"}, {"status", "True"}}})}}}};
  Json failed = {{"metadata", {{"name", "backup"}, {"namespace", "ops"}}},
                 {"status", {{"conditions", Json::array({{{"type", "Failed"}, {"status", "True"}, {"reason", "BackoffLimitExceeded"}, {"message", "Job has reached the specified backoff limit"}}})}}}};
  Inputs in{.deployments = {object(short_deploy), object(paused), object(stuck)},
            .nodes = {object(down)},
            .jobs = {object(failed)},
            .now = std::chrono::system_clock::now()};
  auto mismatch = runCheck("DeploymentReplicasMismatch", 1, in);
  ASSERT_EQ(mismatch.size(), 1u);
  EXPECT_EQ(mismatch[0].value, "1/3");
  EXPECT_TRUE(runCheck("DeploymentReplicasMismatch", 3, in).empty());
  auto progress = runCheck("DeploymentNotProgressing", 0, in);
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0].key, "shop.stuck");
  auto not_ready = runCheck("NodeNotReady", 0, in);
  ASSERT_EQ(not_ready.size(), 1u);
  EXPECT_EQ(not_ready[0].key, "n1");
  EXPECT_EQ(not_ready[0].value, "Unknown");
  EXPECT_EQ(not_ready[0].object["apiVersion"], "v1");
  EXPECT_FALSE(not_ready[0].object.contains("namespace"));
  auto pressure = runCheck("NodeUnderPressure", 0, in);
  ASSERT_EQ(pressure.size(), 1u);
  EXPECT_EQ(pressure[0].value, "DiskPressure");
  auto job = runCheck("JobFailed", 0, in);
  ASSERT_EQ(job.size(), 1u);
  EXPECT_EQ(job[0].value, "BackoffLimitExceeded");
}

TEST(PrometheusText, ReadsSamplesAndSkipsTheRest) {
  auto samples = parsePrometheusText(
      "# HELP x help\n# TYPE x counter\n"
      "apiserver_request_total{code=\"500\",verb=\"GET\"} 3\n"
      "up 1 1700000000000\n"
      "weird{a=\"quote \\\" and \\\\ slash\"} +Inf\n"
      "broken{a=\"x} 2\n"
      "{no_name=\"x\"} 1\n");
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[0].name, "apiserver_request_total");
  EXPECT_EQ(samples[0].labels.at("code"), "500");
  EXPECT_EQ(samples[0].value, 3);
  EXPECT_EQ(samples[1].name, "up");
  EXPECT_EQ(samples[2].labels.at("a"), "quote \" and \\ slash");
  EXPECT_TRUE(std::isinf(samples[2].value));
}

TEST(ServerReadings, RatesAndQuantilesBetweenTwoScrapes) {
  auto before = parsePrometheusText(
      "apiserver_request_total{code=\"200\",verb=\"GET\"} 100\n"
      "apiserver_request_total{code=\"503\",verb=\"GET\"} 0\n"
      "apiserver_request_duration_seconds_bucket{verb=\"GET\",le=\"0.1\"} 100\n"
      "apiserver_request_duration_seconds_bucket{verb=\"GET\",le=\"1\"} 100\n"
      "apiserver_request_duration_seconds_bucket{verb=\"GET\",le=\"+Inf\"} 100\n"
      "apiserver_request_duration_seconds_bucket{verb=\"WATCH\",le=\"+Inf\"} 5\n");
  auto after = parsePrometheusText(
      "apiserver_request_total{code=\"200\",verb=\"GET\"} 180\n"
      "apiserver_request_total{code=\"503\",verb=\"GET\"} 20\n"
      "apiserver_request_duration_seconds_bucket{verb=\"GET\",le=\"0.1\"} 100\n"
      "apiserver_request_duration_seconds_bucket{verb=\"GET\",le=\"1\"} 200\n"
      "apiserver_request_duration_seconds_bucket{verb=\"GET\",le=\"+Inf\"} 200\n"
      "apiserver_request_duration_seconds_bucket{verb=\"WATCH\",le=\"+Inf\"} 90\n"
      "capstan_certificate_expiration_timestamp_seconds{certificate=\"serving\"} 1000000\n");
  auto r = readingsBetween(before, after);
  ASSERT_TRUE(r.error_ratio);
  EXPECT_DOUBLE_EQ(*r.error_ratio, 0.2);
  ASSERT_TRUE(r.request_p99);
  EXPECT_NEAR(*r.request_p99, 0.991, 1e-9);  // 99 of 100 new GETs, all in (0.1, 1]; WATCH left out
  EXPECT_FALSE(r.store_p99);
  EXPECT_EQ(r.certificate_expiry.at("serving"), 1000000);

  Inputs in{.server = r, .now = std::chrono::system_clock::time_point(std::chrono::seconds(1000000 - 86400 * 2))};
  EXPECT_EQ(runCheck("APIServerErrors", 0.05, in).size(), 1u);
  EXPECT_TRUE(runCheck("APIServerErrors", 0.5, in).empty());
  EXPECT_EQ(runCheck("APIServerSlow", 0.5, in).size(), 1u);
  auto cert = runCheck("CertificateExpiry", 30, in);
  ASSERT_EQ(cert.size(), 1u);
  EXPECT_EQ(cert[0].key, "serving");
  EXPECT_EQ(cert[0].value, "2.0");
  EXPECT_TRUE(cert[0].object.is_null());
}

TEST(ServerReadings, HistogramQuantileAsPromQL) {
  EXPECT_FALSE(histogramQuantile(0.99, {}));
  EXPECT_FALSE(histogramQuantile(0.99, {{1.0, 0}, {INFINITY, 0}}));
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.5, {{1.0, 10}, {2.0, 20}, {INFINITY, 20}}), 1.0);
  // Beyond the last finite bucket the answer is that bucket's bound.
  EXPECT_DOUBLE_EQ(*histogramQuantile(0.99, {{1.0, 1}, {INFINITY, 100}}), 1.0);
}

Json firingAlert(const std::string& state) {
  Json a = {{"metadata", {{"name", "pod-crash-looping.shop.a"}}},
            {"spec",
             {{"rule", "pod-crash-looping"},
              {"check", "PodCrashLooping"},
              {"severity", "warning"},
              {"summary", "Pod shop/a is crash looping"},
              {"runbook", "Look: kubectl describe"},
              {"object", {{"kind", "Pod"}, {"namespace", "shop"}, {"name", "a"}}}}},
            {"status",
             {{"state", state}, {"activeAt", "2026-01-01T00:00:00Z"}, {"firedAt", "2026-01-01T00:00:05Z"}, {"value", "4"}}}};
  if (state == "Resolved") a["status"]["resolvedAt"] = "2026-01-01T00:10:00Z";
  return a;
}

TEST(AlertNotifier, AlertmanagerBodyHasKubeStateMetricsLabels) {
  Json body = alertmanagerBody({firingAlert("Firing"), firingAlert("Resolved")}, "");
  ASSERT_EQ(body.size(), 2u);
  EXPECT_EQ(body[0]["labels"], (Json{{"alertname", "pod-crash-looping"}, {"severity", "warning"}, {"check", "PodCrashLooping"},
                                     {"source", "capstan"}, {"kind", "Pod"}, {"pod", "a"}, {"namespace", "shop"}}));
  EXPECT_EQ(body[0]["annotations"]["runbook"], "Look: kubectl describe");
  EXPECT_EQ(body[0]["startsAt"], "2026-01-01T00:00:05Z");
  EXPECT_FALSE(body[0].contains("endsAt"));
  EXPECT_FALSE(body[0].contains("generatorURL"));
  EXPECT_EQ(body[1]["endsAt"], "2026-01-01T00:10:00Z");
}

TEST(AlertNotifier, WebhookBodyIsAlertmanagersVersion4) {
  Json body = webhookBody("hook", {firingAlert("Firing")}, "https://capstan:6443");
  EXPECT_EQ(body["version"], "4");
  EXPECT_EQ(body["status"], "firing");
  EXPECT_EQ(body["receiver"], "hook");
  EXPECT_EQ(body["commonLabels"]["pod"], "a");
  EXPECT_EQ(body["alerts"][0]["status"], "firing");
  EXPECT_EQ(body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(body["alerts"][0]["generatorURL"], "https://capstan:6443/dashboard/#/alerts/pod-crash-looping.shop.a");
  EXPECT_EQ(body["alerts"][0]["fingerprint"].get<std::string>().size(), 16u);
  Json resolved = webhookBody("hook", {firingAlert("Resolved")}, "");
  EXPECT_EQ(resolved["status"], "resolved");
}

TEST(GoDuration, ParsedAsGoParsesThem) {
  const auto parseDuration = parseGoDuration;
  EXPECT_EQ(parseDuration("0s"), 0ms);
  EXPECT_EQ(parseDuration("0"), 0ms);
  EXPECT_EQ(parseDuration("90s"), 90000ms);
  EXPECT_EQ(parseDuration("1h30m"), 5400000ms);
  EXPECT_EQ(parseDuration("1.5h"), 5400000ms);
  EXPECT_EQ(parseDuration("250ms"), 250ms);
  for (const char* bad : {"", "5", "soon", "5 m", "-5m", "m", "5x", "1e400h"}) EXPECT_FALSE(parseDuration(bad)) << bad;
}

}  // namespace
}  // namespace capstan::controllers::alerts
