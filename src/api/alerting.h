#pragma once
// capstan's own alerting API (alerting.capstan.io/v1alpha1): what the API
// server needs to validate AlertRules and AlertReceivers, and what the
// evaluator (controllers/alert_controller.h) and the dashboard share.
//
//   AlertRule      spec.check names one of kChecks; spec.threshold, spec.for
//                  (a Go duration), spec.severity; summary and runbook text.
//   Alert          written by the evaluator while a rule matches an object:
//                  status.state Pending -> Firing -> Resolved.
//   AlertReceiver  spec.url and spec.format: where firing and resolved
//                  alerts are sent (Alertmanager's API or its webhook body).

#include <string>
#include <string_view>
#include <vector>

namespace capstan::api::alerting {

inline constexpr std::string_view kGroup = "alerting.capstan.io";
inline constexpr std::string_view kVersion = "v1alpha1";
inline constexpr std::string_view kApiVersion = "alerting.capstan.io/v1alpha1";
inline constexpr std::string_view kRuleLabel = "alerting.capstan.io/rule";
// Conditions the evaluator sets on an affected object: this prefix and the
// rule's name, e.g. "alerting.capstan.io/pod-crash-looping".
inline constexpr std::string_view kConditionPrefix = "alerting.capstan.io/";

// What each threshold means is in the AlertRule schema and docs/alerts.md.
struct Check {
  std::string_view name;     // spec.check
  std::string_view subject;  // the kind it looks at ("" for the cluster)
  double default_threshold;  // when spec.threshold is unset
};

// The checks the evaluator knows, in the order the docs list them.
const std::vector<Check>& checks();
const Check* findCheck(std::string_view name);

inline constexpr std::string_view kSeverities[] = {"critical", "warning", "info"};
inline constexpr std::string_view kReceiverFormats[] = {"Alertmanager", "Webhook"};

}  // namespace capstan::api::alerting
