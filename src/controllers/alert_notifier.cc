#include "controllers/alert_notifier.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <memory>

#include "client/client.h"
#include "common/pki.h"
#include "controllers/object_fields.h"

namespace capstan::controllers::alerts {
namespace {

// kube-state-metrics' label for an object of each kind, so routes written
// for Prometheus' alerts match capstan's too.
const char* objectLabel(const std::string& kind) {
  if (kind == "Pod") return "pod";
  if (kind == "Deployment") return "deployment";
  if (kind == "Node") return "node";
  if (kind == "Job") return "job_name";
  return "name";
}

bool resolved(const Json& alert) { return stringField(statusOf(alert), "state") == "Resolved"; }

Json postable(const Json& alert, const std::string& generator_url) {
  const Json& st = statusOf(alert);
  Json a = {{"labels", alertLabels(alert)},
            {"annotations", alertAnnotations(alert)},
            {"startsAt", stringField(st, "firedAt", stringField(st, "activeAt"))}};
  if (resolved(alert)) a["endsAt"] = stringField(st, "resolvedAt");
  if (!generator_url.empty()) a["generatorURL"] = generator_url + client::nameOf(alert);
  return a;
}

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

Json alertLabels(const Json& alert) {
  const Json& spec = specOf(alert);
  Json labels = {{"alertname", stringField(spec, "rule")},
                 {"severity", stringField(spec, "severity", "warning")},
                 {"check", stringField(spec, "check")},
                 {"source", "capstan"}};
  const Json& obj = objectField(spec, "object");
  if (std::string kind = stringField(obj, "kind"); !kind.empty()) {
    labels["kind"] = kind;
    labels[objectLabel(kind)] = stringField(obj, "name");
    if (std::string ns = stringField(obj, "namespace"); !ns.empty()) labels["namespace"] = ns;
  }
  return labels;
}

Json alertAnnotations(const Json& alert) {
  const Json& spec = specOf(alert);
  const Json& st = statusOf(alert);
  Json a = {{"summary", stringField(spec, "summary")}, {"runbook", stringField(spec, "runbook")}};
  if (std::string m = stringField(st, "message"); !m.empty()) a["description"] = m;
  if (std::string v = stringField(st, "value"); !v.empty()) a["value"] = v;
  return a;
}

Json alertmanagerBody(const std::vector<Json>& alerts, const std::string& generator_url) {
  Json out = Json::array();
  for (const auto& a : alerts) out.push_back(postable(a, generator_url));
  return out;
}

Json webhookBody(const std::string& receiver, const std::vector<Json>& alerts, const std::string& external_url) {
  Json list = Json::array();
  bool any_firing = false;
  for (const auto& a : alerts) {
    Json p = postable(a, external_url.empty() ? "" : external_url + "/dashboard/#/alerts/");
    p["status"] = resolved(a) ? "resolved" : "firing";
    if (!p.contains("endsAt")) p["endsAt"] = "0001-01-01T00:00:00Z";
    if (!p.contains("generatorURL")) p["generatorURL"] = "";
    p["fingerprint"] = pki::sha256Hex(p["labels"].dump()).substr(0, 16);
    any_firing = any_firing || !resolved(a);
    list.push_back(std::move(p));
  }
  // Labels every alert shares, as Alertmanager computes commonLabels.
  Json common = list.empty() ? Json::object() : list[0]["labels"];
  Json common_annotations = list.empty() ? Json::object() : list[0]["annotations"];
  for (const auto& a : list) {
    for (auto it = common.begin(); it != common.end();)
      it = a["labels"].value(it.key(), "") == it.value() ? std::next(it) : common.erase(it);
    for (auto it = common_annotations.begin(); it != common_annotations.end();)
      it = a["annotations"].value(it.key(), "") == it.value() ? std::next(it) : common_annotations.erase(it);
  }
  return {{"version", "4"},
          {"groupKey", "{}:{receiver=\"" + receiver + "\"}"},
          {"truncatedAlerts", 0},
          {"status", any_firing ? "firing" : "resolved"},
          {"receiver", receiver},
          {"groupLabels", Json::object()},
          {"commonLabels", common},
          {"commonAnnotations", common_annotations},
          {"externalURL", external_url},
          {"alerts", list}};
}

Status postJson(const std::string& url, const std::string& body, bool insecure_skip_verify) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Status(Code::kInternal, "curl_easy_init failed");
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> hold(headers, curl_slist_free_all);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  if (insecure_skip_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return Status(Code::kUnavailable, fmt::format("POST {}: {}", url, curl_easy_strerror(rc)));
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (code / 100 != 2) return Status(Code::kUnavailable, fmt::format("POST {}: HTTP {}", url, code));
  return Status::ok();
}

}  // namespace capstan::controllers::alerts
