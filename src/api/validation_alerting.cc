// alerting.capstan.io/v1alpha1 (api/alerting.h): AlertRules and
// AlertReceivers are checked so that the evaluator never meets a rule it
// cannot run or a receiver it cannot address. Alerts are written by the
// evaluator and need only the generic checks.
#include <string>
#include <vector>

#include "api/alerting.h"
#include "common/duration.h"
#include "api/validation_internal.h"

namespace capstan::api::vdetail {
namespace {

std::vector<std::string> strings(auto const& views) {
  std::vector<std::string> out;
  for (std::string_view v : views) out.emplace_back(v);
  return out;
}

// An optional enum field: when set, one of `allowed`.
void checkOneOf(const Json* spec, const char* key, const auto& allowed, ErrorList& errs) {
  const Json* f = get(spec, key);
  if (!f) return;
  std::string v = str(f);
  for (std::string_view a : allowed)
    if (v == a) return;
  errs.notSupported(std::string("spec.") + key, goQuote(v), strings(allowed));
}

}  // namespace

void validateAlertRule(const Json& obj, ErrorList& errs) {
  const Json* spec = get(obj, "spec");
  std::string check = str(get(spec, "check"));
  if (check.empty()) {
    errs.required("spec.check");
  } else if (!alerting::findCheck(check)) {
    std::vector<std::string> names;
    for (const auto& c : alerting::checks()) names.emplace_back(c.name);
    errs.notSupported("spec.check", goQuote(check), names);
  }
  if (const Json* t = get(spec, "threshold"); t && (!t->is_number() || t->get<double>() < 0))
    errs.invalid("spec.threshold", goValue(t), "must be a number greater than or equal to 0");
  if (const Json* f = get(spec, "for")) {
    std::string v = str(f);
    if (!parseGoDuration(v))
      errs.invalid("spec.for", goQuote(v), "must be a duration such as \"30s\", \"5m\" or \"1h\"");
  }
  checkOneOf(spec, "severity", alerting::kSeverities, errs);
  validateLabelSelector(get(spec, "selector"), "spec.selector", errs);
  validateLabelSelector(get(spec, "namespaceSelector"), "spec.namespaceSelector", errs);
}

void validateAlertReceiver(const Json& obj, ErrorList& errs) {
  const Json* spec = get(obj, "spec");
  std::string url = str(get(spec, "url"));
  if (url.empty())
    errs.required("spec.url");
  else if (!(url.starts_with("http://") || url.starts_with("https://")) || url.find_first_of(" \t\r\n") != std::string::npos)
    errs.invalid("spec.url", goQuote(url), "must be an http:// or https:// URL");
  checkOneOf(spec, "format", alerting::kReceiverFormats, errs);
}

}  // namespace capstan::api::vdetail
