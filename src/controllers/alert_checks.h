#pragma once
// The built-in alert checks (api/alerting.h lists them): pure functions
// from the cluster's objects, or from readings of the API server's own
// metrics, to findings — one per affected object. The evaluator
// (alert_controller.h) turns findings into Alerts.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/alerting.h"
#include "client/informer.h"
#include "common/clock.h"
#include "common/json.h"
#include "controllers/prometheus_text.h"

namespace capstan::controllers::alerts {

struct Finding {
  Json object;         // {apiVersion, kind, namespace?, name, uid}; null for the cluster itself
  std::string key;     // what tells findings of one rule apart: "ns.name", "name" or a certificate's name
  std::string value;   // the observed value, as text
  std::string message; // what was found, in words
};

// The API server's health between two scrapes of its /metrics.
struct ServerReadings {
  std::optional<double> error_ratio;  // share of requests answered 5xx; unset without requests
  std::optional<double> request_p99;  // seconds, WATCH and CONNECT excluded
  std::optional<double> store_p99;    // seconds
  std::map<std::string, double> certificate_expiry;  // certificate -> expiry, Unix seconds
};
ServerReadings readingsBetween(const std::vector<Sample>& before, const std::vector<Sample>& after);

struct Inputs {
  std::vector<client::ObjectPtr> pods, deployments, nodes, jobs;
  std::optional<ServerReadings> server;  // unset: the metrics could not be read
  WallTime now;
};

// The findings of `check` with `threshold` among the objects `selected`
// accepts.
std::vector<Finding> run(const api::alerting::Check& check, double threshold, const Inputs& in,
                         const std::function<bool(const Json&)>& selected);

// histogram_quantile over cumulative buckets (upper bound -> count), as
// PromQL computes it; nullopt without observations.
std::optional<double> histogramQuantile(double q, const std::map<double, double>& buckets);

}  // namespace capstan::controllers::alerts
