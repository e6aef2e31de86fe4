// batch/v1 validation: Job and CronJob after pkg/apis/batch/validation, and
// the schedule check CronJob borrows from robfig/cron's standard parser
// (its error texts included, since they end up in the API's message).
#include <algorithm>
#include <cctype>
#include <map>

#include "api/validation_internal.h"

namespace capstan::api::vdetail {

// ---------------------------------------------------------------- cron

namespace {

struct Bounds {
  int64_t min;
  int64_t max;
  const std::map<std::string, int64_t>* names;
};

const std::map<std::string, int64_t> kMonthNames = {{"jan", 1}, {"feb", 2},  {"mar", 3},  {"apr", 4},
                                                    {"may", 5}, {"jun", 6},  {"jul", 7},  {"aug", 8},
                                                    {"sep", 9}, {"oct", 10}, {"nov", 11}, {"dec", 12}};
const std::map<std::string, int64_t> kDowNames = {{"sun", 0}, {"mon", 1}, {"tue", 2}, {"wed", 3},
                                                  {"thu", 4}, {"fri", 5}, {"sat", 6}};

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

// strconv.Atoi then robfig's mustParseInt wording; "" on success.
std::string parseInt(const std::string& expr, int64_t& out) {
  std::string digits = expr;
  bool neg = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    neg = digits[0] == '-';
    digits = digits.substr(1);
  }
  bool ok = !digits.empty() &&
            std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!ok)
    return "failed to parse int from " + expr + ": strconv.Atoi: parsing " + goQuote(expr) +
           ": invalid syntax";
  if (digits.size() > 18)
    return "failed to parse int from " + expr + ": strconv.Atoi: parsing " + goQuote(expr) +
           ": value out of range";
  out = std::stoll(digits) * (neg ? -1 : 1);
  if (out < 0) return "negative number (" + std::to_string(out) + ") not allowed: " + expr;
  return "";
}

std::string parseIntOrName(const std::string& expr, const Bounds& b, int64_t& out) {
  if (b.names) {
    std::string lower = expr;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    auto it = b.names->find(lower);
    if (it != b.names->end()) {
      out = it->second;
      return "";
    }
  }
  return parseInt(expr, out);
}

std::string checkRange(const std::string& expr, const Bounds& b) {
  auto range_and_step = split(expr, '/');
  auto low_and_high = split(range_and_step[0], '-');
  bool single = low_and_high.size() == 1;
  int64_t start = 0, end = 0, step = 1;
  if (low_and_high[0] == "*" || low_and_high[0] == "?") {
    start = b.min;
    end = b.max;
  } else {
    if (auto e = parseIntOrName(low_and_high[0], b, start); !e.empty()) return e;
    if (low_and_high.size() == 1) {
      end = start;
    } else if (low_and_high.size() == 2) {
      if (auto e = parseIntOrName(low_and_high[1], b, end); !e.empty()) return e;
    } else {
      return "too many hyphens: " + expr;
    }
  }
  if (range_and_step.size() == 2) {
    if (auto e = parseInt(range_and_step[1], step); !e.empty()) return e;
    if (single) end = b.max;
  } else if (range_and_step.size() > 2) {
    return "too many slashes: " + expr;
  }
  auto n = [](int64_t v) { return std::to_string(v); };
  if (start < b.min) return "beginning of range (" + n(start) + ") below minimum (" + n(b.min) + "): " + expr;
  if (end > b.max) return "end of range (" + n(end) + ") above maximum (" + n(b.max) + "): " + expr;
  if (start > end)
    return "beginning of range (" + n(start) + ") beyond end of range (" + n(end) + "): " + expr;
  if (step == 0) return "step of range should be a positive number: " + expr;
  return "";
}

bool validGoDuration(std::string_view s) {
  // time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, or "0".
  if (s == "0") return true;
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  if (i == s.size()) return false;
  static const char* kUnits[] = {"ns", "us", "µs", "μs", "ms", "s", "m", "h"};
  while (i < s.size()) {
    size_t digits_start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    bool had_digits = i > digits_start;
    if (i < s.size() && s[i] == '.') {
      ++i;
      size_t frac = i;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
      had_digits |= i > frac;
    }
    if (!had_digits) return false;
    bool unit = false;
    for (const char* u : kUnits) {
      std::string_view uv(u);
      if (s.substr(i, uv.size()) == uv) {
        // Prefer the longest unit ("ms" over "m").
        if (uv == "m" && s.substr(i, 2) == "ms") continue;
        i += uv.size();
        unit = true;
        break;
      }
    }
    if (!unit) return false;
  }
  return true;
}

}  // namespace

std::string cronScheduleError(std::string_view schedule) {
  std::string spec(schedule);
  if (spec.empty()) return "empty spec string";
  if (spec.rfind("TZ=", 0) == 0 || spec.rfind("CRON_TZ=", 0) == 0) {
    size_t sp = spec.find(' ');
    if (sp == std::string::npos) sp = spec.size();
    spec = spec.substr(sp);
    spec.erase(0, spec.find_first_not_of(" \t\n\r\v\f") == std::string::npos
                      ? spec.size()
                      : spec.find_first_not_of(" \t\n\r\v\f"));
  }
  if (!spec.empty() && spec[0] == '@') {
    static const char* kDescriptors[] = {"@yearly", "@annually", "@monthly", "@weekly",
                                         "@daily",  "@midnight", "@hourly"};
    for (const char* d : kDescriptors)
      if (spec == d) return "";
    const std::string every = "@every ";
    if (spec.rfind(every, 0) == 0) {
      std::string d = spec.substr(every.size());
      if (!validGoDuration(d))
        return "failed to parse duration " + spec + ": time: invalid duration " + goQuote(d);
      return "";
    }
    return "unrecognized descriptor: " + spec;
  }
  std::vector<std::string> fields;
  std::string cur;
  for (char c : spec) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) fields.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) fields.push_back(cur);
  if (fields.size() != 5) {
    std::string listed = "[";
    for (size_t i = 0; i < fields.size(); ++i) listed += (i ? " " : "") + fields[i];
    return "expected exactly 5 fields, found " + std::to_string(fields.size()) + ": " + listed + "]";
  }
  const Bounds bounds[] = {
      {0, 59, nullptr}, {0, 23, nullptr}, {1, 31, nullptr}, {1, 12, &kMonthNames}, {0, 6, &kDowNames}};
  for (size_t i = 0; i < 5; ++i) {
    for (const auto& expr : split(fields[i], ',')) {
      if (expr.empty()) continue;  // strings.FieldsFunc drops empty parts
      if (auto e = checkRange(expr, bounds[i]); !e.empty()) return e;
    }
  }
  return "";
}

// ---------------------------------------------------------------- Job

namespace {

constexpr int64_t kMaxParallelismForIndexedJob = 100000;
constexpr int64_t kMaxFailedIndexesForIndexedJob = 100000;

// validateJobSpec: everything but the selector, shared with CronJob's jobTemplate.
void validateJobSpecCommon(const Json* spec, const std::string& fld, ErrorList& errs) {
  for (const char* k : {"parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
                        "ttlSecondsAfterFinished", "backoffLimitPerIndex", "maxFailedIndexes"})
    validateNonnegative(get(spec, k), child(fld, k), errs);
  if (get(spec, "maxFailedIndexes") && !get(spec, "backoffLimitPerIndex"))
    errs.required(child(fld, "backoffLimitPerIndex"), "when maxFailedIndexes is specified");

  const Json* mode = get(spec, "completionMode");
  std::string mode_s = str(mode);
  auto completions = integer(get(spec, "completions"));
  auto parallelism = integer(get(spec, "parallelism"));
  auto max_failed = integer(get(spec, "maxFailedIndexes"));
  if (mode) {
    if (mode_s != "NonIndexed" && mode_s != "Indexed")
      errs.notSupported(child(fld, "completionMode"), goQuote(mode_s), {"NonIndexed", "Indexed"});
    if (mode_s == "Indexed") {
      if (!completions) errs.required(child(fld, "completions"), "when completion mode is Indexed");
      if (parallelism && *parallelism > kMaxParallelismForIndexedJob)
        errs.invalid(child(fld, "parallelism"), std::to_string(*parallelism),
                     "must be less than or equal to 100000 when completion mode is Indexed");
      if (completions && max_failed && *max_failed > *completions)
        errs.invalid(child(fld, "maxFailedIndexes"), std::to_string(*max_failed),
                     "must be less than or equal to completions");
      if (max_failed && *max_failed > kMaxFailedIndexesForIndexedJob)
        errs.invalid(child(fld, "maxFailedIndexes"), std::to_string(*max_failed),
                     "must be less than or equal to 100000");
    }
  }
  if (!mode || mode_s == "NonIndexed") {
    if (auto v = integer(get(spec, "backoffLimitPerIndex")))
      errs.invalid(child(fld, "backoffLimitPerIndex"), std::to_string(*v),
                   "requires indexed completion mode");
    if (max_failed)
      errs.invalid(child(fld, "maxFailedIndexes"), std::to_string(*max_failed),
                   "requires indexed completion mode");
  }
  if (const Json* sp = get(spec, "successPolicy"); sp && mode_s != "Indexed")
    errs.invalid(child(fld, "successPolicy"), goJson(*sp), "requires indexed completion mode");

  const Json* pfp = get(spec, "podFailurePolicy");
  if (const Json* prp = get(spec, "podReplacementPolicy")) {
    std::string v = str(prp);
    if (pfp) {
      if (v != "Failed") errs.notSupported(child(fld, "podReplacementPolicy"), goQuote(v), {"Failed"});
    } else if (v != "Failed" && v != "TerminatingOrFailed") {
      errs.notSupported(child(fld, "podReplacementPolicy"), goQuote(v), {"Failed", "TerminatingOrFailed"});
    }
  }

  const Json* tmpl = get(spec, "template");
  std::string tmpl_path = child(fld, "template");
  validatePodTemplateSpec(tmpl, tmpl_path, errs);
  // SetDefaults_PodSpec fills Always when unset, so both mean "not chosen".
  std::string restart = str(path(tmpl ? *tmpl : Json(), {"spec", "restartPolicy"}));
  std::string restart_path = child(child(tmpl_path, "spec"), "restartPolicy");
  if (restart == "Always" || restart.empty()) {
    errs.required(restart_path, "valid values: \"OnFailure\", \"Never\"");
  } else if (restart != "OnFailure" && restart != "Never") {
    errs.notSupported(restart_path, goQuote(restart), {"OnFailure", "Never"});
  } else if (pfp && restart != "Never") {
    errs.invalid(restart_path, goQuote(restart),
                 "only \"Never\" is supported when podFailurePolicy is specified");
  }
}

}  // namespace

void validateJob(const Json& obj, const Json* old, ErrorList& errs) {
  const Json* spec = get(obj, "spec");
  validateJobSpecCommon(spec, "spec", errs);
  // The selector is generated by the server (controller-uid) unless
  // manualSelector; it is not required here but must match when present.
  const Json* selector = get(spec, "selector");
  if (selector) {
    validateLabelSelector(selector, "spec.selector", errs);
    if (selectorConvertible(selector) &&
        !selectorMatches(selector, path(obj, {"spec", "template", "metadata", "labels"})))
      errs.invalid("spec.template.metadata.labels",
                   goValue(path(obj, {"spec", "template", "metadata", "labels"})),
                   "`selector` does not match template `labels`");
  }
  if (!old) {
    auto completions = integer(get(spec, "completions"));
    if (str(get(spec, "completionMode")) == "Indexed" && completions && *completions > 0) {
      std::string name = str(path(obj, {"metadata", "name"}));
      std::string host = name + "-" + std::to_string(*completions - 1);
      if (!dns1123LabelErrors(host).empty())
        errs.invalid("metadata.name", goQuote(name),
                     "will not able to create pod with invalid DNS label: " + host);
    }
    return;
  }

  const Json* old_spec = get(*old, "spec");
  // completions: immutable, except in tandem with parallelism for Indexed Jobs.
  const Json* nc = get(spec, "completions");
  if (str(get(spec, "completionMode")) != "Indexed") {
    validateImmutable(nc, get(old_spec, "completions"), "spec.completions", errs);
  } else if (nc && !semanticEqual(nc, get(old_spec, "completions")) &&
             integer(nc) != integer(get(spec, "parallelism"))) {
    errs.invalid("spec.completions", goValue(nc), "can only be modified in tandem with spec.parallelism");
  }
  validateImmutable(selector, get(old_spec, "selector"), "spec.selector", errs, renderSelector(selector));

  // The pod template is immutable, but scheduling directives may change
  // while the Job is suspended and has never started.
  const Json* tmpl = get(spec, "template");
  Json old_tmpl = get(old_spec, "template") ? *get(old_spec, "template") : Json::object();
  bool mutable_scheduling = isTrue(get(spec, "suspend")) && !path(*old, {"status", "startTime"});
  static const Json kNoTemplate;
  // An lvalue either way: a temporary Json here would leave path()'s result dangling.
  const Json& new_tmpl = tmpl ? *tmpl : kNoTemplate;
  if (mutable_scheduling && old_tmpl.is_object()) {
    auto copy_from_new = [&](const char* section, const char* k) {
      Json& dst = old_tmpl[section];
      if (!dst.is_object()) dst = Json::object();
      if (const Json* v = path(new_tmpl, {section, k})) {
        dst[k] = *v;
      } else {
        dst.erase(k);
      }
    };
    for (const char* k : {"nodeSelector", "tolerations", "schedulingGates"}) copy_from_new("spec", k);
    for (const char* k : {"labels", "annotations"}) copy_from_new("metadata", k);
    // Touch affinity only when one side has it: operator[] would add a null.
    Json& old_spec_json = old_tmpl["spec"];
    if (const Json* na = path(new_tmpl, {"spec", "affinity", "nodeAffinity"})) {
      Json& affinity = old_spec_json["affinity"];
      if (!affinity.is_object()) affinity = Json::object();
      affinity["nodeAffinity"] = *na;
    } else if (old_spec_json.contains("affinity") && old_spec_json["affinity"].is_object()) {
      old_spec_json["affinity"].erase("nodeAffinity");
      if (old_spec_json["affinity"].empty()) old_spec_json.erase("affinity");
    }
  }
  validateImmutable(tmpl, &old_tmpl, "spec.template", errs);
  for (const char* k :
       {"completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"})
    validateImmutable(get(spec, k), get(old_spec, k), child("spec", k), errs);
}

// ---------------------------------------------------------------- CronJob

void validateCronJob(const Json& obj, const Json* old, ErrorList& errs) {
  const Json* spec = get(obj, "spec");
  const Json* old_spec = old ? get(*old, "spec") : nullptr;
  std::string schedule = str(get(spec, "schedule"));
  if (schedule.empty()) {
    errs.required("spec.schedule");
  } else {
    if (auto e = cronScheduleError(schedule); !e.empty()) errs.invalid("spec.schedule", goQuote(schedule), e);
    bool allow_tz = old_spec && str(get(old_spec, "schedule")).find("TZ") != std::string::npos;
    bool has_tz = schedule.find("TZ") != std::string::npos;
    if (allow_tz && has_tz && get(spec, "timeZone")) {
      errs.invalid("spec.schedule", goQuote(schedule),
                   "cannot use both timeZone field and TZ or CRON_TZ in schedule");
    } else if (!allow_tz && has_tz) {
      errs.invalid("spec.schedule", goQuote(schedule),
                   "cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
    }
  }
  validateNonnegative(get(spec, "startingDeadlineSeconds"), "spec.startingDeadlineSeconds", errs);

  const Json* tz = get(spec, "timeZone");
  if (tz && (!old_spec || !semanticEqual(tz, get(old_spec, "timeZone")))) {
    std::string z = str(tz);
    if (z.empty()) {
      errs.invalid("spec.timeZone", goQuote(z), "timeZone must be nil or non-empty string");
    } else {
      bool ok = true;
      for (const auto& part : split(z, '/')) {
        bool chars = !part.empty() && part.size() <= 14 && std::all_of(part.begin(), part.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '+';
        });
        if (part == "." || part == ".." || (!part.empty() && part[0] == '-') || !chars) ok = false;
      }
      if (!ok) {
        errs.invalid("spec.timeZone", goQuote(z), "unknown time zone " + z);
      } else if (std::equal(z.begin(), z.end(), "Local", "Local" + 5, [](char a, char b) {
                   return std::tolower(static_cast<unsigned char>(a)) ==
                          std::tolower(static_cast<unsigned char>(b));
                 })) {
        errs.invalid("spec.timeZone", goQuote(z),
                     "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones");
      }
    }
  }

  std::string cp = str(get(spec, "concurrencyPolicy"));
  if (cp.empty()) {
    errs.required("spec.concurrencyPolicy");
  } else if (cp != "Allow" && cp != "Forbid" && cp != "Replace") {
    errs.notSupported("spec.concurrencyPolicy", goQuote(cp), {"Allow", "Forbid", "Replace"});
  }

  const Json* job_spec = path(obj, {"spec", "jobTemplate", "spec"});
  validateJobSpecCommon(job_spec, "spec.jobTemplate.spec", errs);
  if (const Json* sel = get(job_spec, "selector"))
    errs.invalid("spec.jobTemplate.spec.selector", renderSelector(sel), "`selector` will be auto-generated");
  if (isTrue(get(job_spec, "manualSelector")))
    errs.notSupported("spec.jobTemplate.spec.manualSelector", "true", {"nil", "false"});

  validateNonnegative(get(spec, "successfulJobsHistoryLimit"), "spec.successfulJobsHistoryLimit", errs);
  validateNonnegative(get(spec, "failedJobsHistoryLimit"), "spec.failedJobsHistoryLimit", errs);

  // The controller appends an 11-character suffix to Job names (63 max).
  std::string name = str(path(obj, {"metadata", "name"}));
  if (!old && name.size() > 52)
    errs.invalid("metadata.name", goQuote(name), "must be no more than 52 characters");
}

}  // namespace capstan::api::vdetail
