// Kinds with few rules: core/v1 and events.k8s.io/v1 Events, Leases and
// EndpointSlices. Events and EndpointSlices order their metadata checks
// differently from other kinds upstream, so they validate their own
// metadata (the dispatcher leaves it to them).
#include <set>

#include "api/validation_internal.h"

namespace capstan::api::vdetail {
namespace {

constexpr size_t kReportingInstanceLengthLimit = 128;
constexpr size_t kActionLengthLimit = 128;
constexpr size_t kReasonLengthLimit = 128;
constexpr size_t kNoteLengthLimit = 1024;

// The fields legacyValidateEvent reads, under either API's JSON names.
struct EventView {
  std::string ns;
  const Json* event_time;
  std::string involved_ns;
  std::string reporting_controller;
  std::string reporting_instance;
  std::string action;
  std::string reason;
  std::string message;
};

// legacyValidateEvent; reporting_field is "reportingComponent" for core/v1.
void legacyValidateEvent(const EventView& ev, const char* reporting_field, ErrorList& errs) {
  if (!ev.event_time) {
    if (ev.involved_ns.empty()) {
      if (!ev.ns.empty() && ev.ns != "default")
        errs.invalid("involvedObject.namespace", goQuote(ev.involved_ns), "does not match event.namespace");
    } else if (ev.ns != ev.involved_ns) {
      errs.invalid("involvedObject.namespace", goQuote(ev.involved_ns), "does not match event.namespace");
    }
  } else {
    if (ev.involved_ns.empty() && ev.ns != "default" && ev.ns != "kube-system")
      errs.invalid("involvedObject.namespace", goQuote(ev.involved_ns), "does not match event.namespace");
    if (ev.reporting_controller.empty()) errs.required(reporting_field);
    for (auto& m : qualifiedNameErrors(ev.reporting_controller))
      errs.invalid(reporting_field, goQuote(ev.reporting_controller), m);
    if (ev.reporting_instance.empty()) errs.required("reportingInstance");
    if (ev.reporting_instance.size() > kReportingInstanceLengthLimit)
      errs.invalid("reportingInstance", "\"\"", "can have at most 128 characters");
    if (ev.action.empty()) errs.required("action");
    if (ev.action.size() > kActionLengthLimit)
      errs.invalid("action", "\"\"", "can have at most 128 characters");
    if (ev.reason.empty()) errs.required("reason");
    if (ev.reason.size() > kReasonLengthLimit)
      errs.invalid("reason", "\"\"", "can have at most 128 characters");
    if (ev.message.size() > kNoteLengthLimit)
      errs.invalid("message", "\"\"", "can have at most 1024 characters");
  }
  for (auto& m : dns1123SubdomainErrors(ev.ns)) errs.invalid("namespace", goQuote(ev.ns), m);
}

}  // namespace

void validateCoreEvent(const Json& obj, ErrorList& errs) {
  EventView ev{str(path(obj, {"metadata", "namespace"})),
               get(obj, "eventTime"),
               str(path(obj, {"involvedObject", "namespace"})),
               str(get(obj, "reportingComponent")),
               str(get(obj, "reportingInstance")),
               str(get(obj, "action")),
               str(get(obj, "reason")),
               str(get(obj, "message"))};
  legacyValidateEvent(ev, "reportingComponent", errs);
}

void validateEventsV1Event(const Json& obj, ErrorList& errs) {
  EventView ev{str(path(obj, {"metadata", "namespace"})),
               get(obj, "eventTime"),
               str(path(obj, {"regarding", "namespace"})),
               str(get(obj, "reportingController")),
               str(get(obj, "reportingInstance")),
               str(get(obj, "action")),
               str(get(obj, "reason")),
               str(get(obj, "note"))};
  legacyValidateEvent(ev, "reportingController", errs);
}

void validateEventsV1EventStrict(const Json& obj, const Json* old, ErrorList& errs) {
  const Json* series = get(obj, "series");
  bool series_changed = !old || !semanticEqual(series, get(*old, "series"));
  if (series && series_changed) {
    if (integer(get(series, "count")).value_or(0) < 2)
      errs.invalid("series.count", "\"\"", "should be at least 2");
    if (!get(series, "lastObservedTime")) errs.required("series.lastObservedTime");
  }
  if (old) {
    // Internal field names, as upstream reports them.
    const std::pair<const char*, const char*> kImmutable[] = {{"regarding", "involvedObject"},
                                                              {"reason", "reason"},
                                                              {"note", "message"},
                                                              {"reportingController", "reportingController"},
                                                              {"reportingInstance", "reportingInstance"},
                                                              {"action", "action"},
                                                              {"eventTime", "eventTime"},
                                                              {"related", "related"}};
    for (auto [json_key, fld] : kImmutable)
      validateImmutable(get(obj, json_key), get(*old, json_key), fld, errs);
    return;
  }
  if (!get(obj, "eventTime")) errs.required("eventTime");
  std::string type = str(get(obj, "type"));
  if (type != "Normal" && type != "Warning") errs.invalid("type", "\"\"", "has invalid value: " + type);
  if (get(obj, "deprecatedFirstTimestamp")) errs.invalid("firstTimestamp", "\"\"", "needs to be unset");
  if (get(obj, "deprecatedLastTimestamp")) errs.invalid("lastTimestamp", "\"\"", "needs to be unset");
  if (integer(get(obj, "deprecatedCount")).value_or(0) != 0)
    errs.invalid("count", "\"\"", "needs to be unset");
  const Json* src = get(obj, "deprecatedSource");
  if (!str(get(src, "component")).empty() || !str(get(src, "host")).empty())
    errs.invalid("source", "\"\"", "needs to be unset");
}

void validateLease(const Json& obj, ErrorList& errs) {
  const Json* spec = get(obj, "spec");
  if (auto d = integer(get(spec, "leaseDurationSeconds")); d && *d <= 0)
    errs.invalid("spec.leaseDurationSeconds", std::to_string(*d), "must be greater than 0");
  if (auto t = integer(get(spec, "leaseTransitions")); t && *t < 0)
    errs.invalid("spec.leaseTransitions", std::to_string(*t), "must be greater than or equal to 0");
  if (const Json* s = get(spec, "strategy")) {
    std::string v = str(s);
    for (auto& m : qualifiedNameErrors(v)) errs.invalid("spec.strategy", goQuote(v), m);
  }
}

namespace {

// ValidateCrossVersionObjectReference: kind and name are path segments.
void validatePathSegment(const Json* holder, const std::string& fld, const char* key, ErrorList& errs) {
  std::string v = str(get(holder, key));
  std::string f = fld + "." + key;
  if (v.empty()) {
    errs.required(f, "");
    return;
  }
  if (v == "." || v == "..") errs.invalid(f, goQuote(v), "may not be '" + v + "'");
  for (const char* bad : {"/", "%"})
    if (v.find(bad) != std::string::npos) errs.invalid(f, goQuote(v), std::string("may not contain '") + bad + "'");
}

}  // namespace

void validateHorizontalPodAutoscaler(const Json& obj, ErrorList& errs) {
  const Json* spec = get(obj, "spec");
  auto min = integer(get(spec, "minReplicas"));
  int64_t max = integer(get(spec, "maxReplicas")).value_or(0);
  if (min && *min < 1) errs.invalid("spec.minReplicas", std::to_string(*min), "must be greater than or equal to 1");
  if (max < 1) errs.invalid("spec.maxReplicas", std::to_string(max), "must be greater than 0");
  if (min && max < *min)
    errs.invalid("spec.maxReplicas", std::to_string(max), "must be greater than or equal to `minReplicas`");
  const Json* ref = get(spec, "scaleTargetRef");
  validatePathSegment(ref, "spec.scaleTargetRef", "kind", errs);
  validatePathSegment(ref, "spec.scaleTargetRef", "name", errs);
  const Json* metrics = get(spec, "metrics");
  if (!metrics || !metrics->is_array()) return;
  for (size_t i = 0; i < metrics->size(); ++i) {
    const Json& m = (*metrics)[i];
    std::string fld = "spec.metrics[" + std::to_string(i) + "]";
    std::string type = str(get(m, "type"));
    if (type.empty()) {
      errs.required(fld + ".type", "must specify a metric source type");
      continue;
    }
    if (type != "Resource" && type != "ContainerResource") continue;
    std::string src = type == "Resource" ? "resource" : "containerResource";
    const Json* r = get(m, src);
    if (!r) {
      errs.required(fld + "." + src, "must populate information for the given metric source");
      continue;
    }
    if (str(get(r, "name")).empty()) errs.required(fld + "." + src + ".name", "must specify a resource name");
    const Json* target = get(r, "target");
    std::string ttype = str(get(target, "type"));
    if (ttype.empty()) errs.required(fld + "." + src + ".target.type", "must specify a metric target type");
    if (auto u = integer(get(target, "averageUtilization")); u && *u <= 0)
      errs.invalid(fld + "." + src + ".target.averageUtilization", std::to_string(*u), "must be greater than 0");
  }
}

void validateEndpointSlice(const Json& obj, const Json* old, ErrorList& errs) {
  std::string addr_type = str(get(obj, "addressType"));
  if (!old) {
    // ValidateEndpointSliceCreate reports a bad addressType alone.
    if (addr_type.empty()) {
      errs.required("addressType");
      return;
    }
    if (addr_type != "IPv4" && addr_type != "IPv6" && addr_type != "FQDN") {
      errs.notSupported("addressType", goQuote(addr_type), {"FQDN", "IPv4", "IPv6"});
      return;
    }
  }
  MetaRules rules;
  validateObjectMeta(get(obj, "metadata"), rules, errs);

  const Json& endpoints = array(get(obj, "endpoints"));
  if (endpoints.size() > 1000) errs.tooMany("endpoints", static_cast<int64_t>(endpoints.size()), 1000);
  for (size_t i = 0; i < endpoints.size(); ++i) {
    std::string p = index("endpoints", i);
    std::string ap = child(p, "addresses");
    auto addrs = stringList(get(endpoints[i], "addresses"));
    if (addrs.empty()) {
      errs.required(ap, "must contain at least 1 address");
    } else if (addrs.size() > 100) {
      errs.tooMany(ap, static_cast<int64_t>(addrs.size()), 100);
    }
    for (size_t a = 0; a < addrs.size(); ++a) {
      if (addr_type == "IPv4" && !isIpv4(addrs[a]))
        errs.invalid(index(ap, a), goQuote(addrs[a]), "must be a valid IPv4 address");
      if (addr_type == "IPv6" && !isIpv6(addrs[a]))
        errs.invalid(index(ap, a), goQuote(addrs[a]), "must be a valid IPv6 address");
      if (addr_type == "FQDN") validateDns1123Subdomain(addrs[a], index(ap, a), errs);
    }
    if (const Json* node = get(endpoints[i], "nodeName"))
      for (auto& m : nameIsDnsSubdomain(str(node), false))
        errs.invalid(child(p, "nodeName"), goQuote(str(node)), m);
    if (const Json* host = get(endpoints[i], "hostname"))
      validateDns1123Label(str(host), child(p, "hostname"), errs);
  }

  const Json& ports = array(get(obj, "ports"));
  std::set<std::string> names;
  for (size_t i = 0; i < ports.size(); ++i) {
    std::string p = index("ports", i);
    std::string name = str(get(ports[i], "name"));
    if (!name.empty()) validateDns1123Label(name, child(p, "name"), errs);
    if (!names.insert(name).second) errs.duplicate(child(p, "name"), goQuote(name));
    const Json* proto = get(ports[i], "protocol");
    if (!proto) {
      errs.required(child(p, "protocol"));
    } else if (str(proto) != "TCP" && str(proto) != "UDP" && str(proto) != "SCTP") {
      errs.notSupported(child(p, "protocol"), goQuote(str(proto)), {"SCTP", "TCP", "UDP"});
    }
    if (const Json* ap = get(ports[i], "appProtocol"))
      for (auto& m : qualifiedNameErrors(str(ap))) errs.invalid(child(p, "appProtocol"), goQuote(str(ap)), m);
  }
  if (old)
    validateImmutable(get(obj, "addressType"), get(*old, "addressType"), "addressType", errs,
                      goQuote(addr_type));
}

}  // namespace capstan::api::vdetail
