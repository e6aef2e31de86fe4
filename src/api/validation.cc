// The validation front door: validators shared by many kinds (labels,
// annotations, selectors, int-or-percent, immutability), object metadata,
// and the dispatch from a kind to its validator. Field errors and value
// rendering live in validation_field_errors.cc, string rules in
// validation_names.cc, kinds in validation_{pod,core,apps,batch,minor_kinds}.cc.
#include "api/validation.h"

#include <algorithm>
#include <set>

#include "api/validation_internal.h"

namespace capstan::api {
namespace vdetail {

// ---------------------------------------------------------------- shared validators

void validateDns1123Label(std::string_view value, const std::string& fld, ErrorList& errs) {
  for (auto& m : dns1123LabelErrors(value)) errs.invalid(fld, goQuote(value), m);
}

void validateDns1123Subdomain(std::string_view value, const std::string& fld, ErrorList& errs) {
  for (auto& m : dns1123SubdomainErrors(value)) errs.invalid(fld, goQuote(value), m);
}

void validateNonnegative(const Json* v, const std::string& fld, ErrorList& errs) {
  auto i = integer(v);
  if (i && *i < 0) errs.invalid(fld, std::to_string(*i), kIsNegativeErrorMsg);
}

void validateImmutable(const Json* nv, const Json* ov, const std::string& fld, ErrorList& errs,
                       const std::string& rendered_new) {
  if (!semanticEqual(nv, ov)) errs.invalid(fld, rendered_new, kFieldImmutableErrorMsg);
}

void validateImmutable(const Json* nv, const Json* ov, const std::string& fld, ErrorList& errs) {
  validateImmutable(nv, ov, fld, errs, goValue(nv));
}

void validateLabels(const Json* labels, const std::string& fld, ErrorList& errs) {
  for (auto it = object(labels).begin(); it != object(labels).end(); ++it) {
    for (auto& m : qualifiedNameErrors(it.key())) errs.invalid(fld, goQuote(it.key()), m);
    std::string v = str(&it.value());
    for (auto& m : labelValueErrors(v)) errs.invalid(fld, goQuote(v), m);
  }
}

void validateAnnotations(const Json* annotations, const std::string& fld, ErrorList& errs) {
  constexpr int64_t kTotalAnnotationSizeLimitB = 256 * (1 << 10);
  int64_t total = 0;
  for (auto it = object(annotations).begin(); it != object(annotations).end(); ++it) {
    std::string lower = it.key();
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    for (auto& m : qualifiedNameErrors(lower)) errs.invalid(fld, goQuote(it.key()), m);
    total += static_cast<int64_t>(it.key().size() + str(&it.value()).size());
  }
  if (total > kTotalAnnotationSizeLimitB) errs.tooLong(fld, kTotalAnnotationSizeLimitB);
}

void validateLabelSelector(const Json* selector, const std::string& fld, ErrorList& errs) {
  if (!selector) return;
  validateLabels(get(selector, "matchLabels"), child(fld, "matchLabels"), errs);
  const Json& exprs = array(get(selector, "matchExpressions"));
  for (size_t i = 0; i < exprs.size(); ++i) {
    std::string p = index(child(fld, "matchExpressions"), i);
    const Json& e = exprs[i];
    std::string op = str(get(e, "operator"));
    auto values = stringList(get(e, "values"));
    if (op == "In" || op == "NotIn") {
      if (values.empty())
        errs.required(child(p, "values"), "must be specified when `operator` is 'In' or 'NotIn'");
    } else if (op == "Exists" || op == "DoesNotExist") {
      if (!values.empty())
        errs.forbidden(child(p, "values"),
                       "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    } else {
      errs.invalid(child(p, "operator"), goQuote(op), "not a valid selector operator");
    }
    std::string k = str(get(e, "key"));
    for (auto& m : qualifiedNameErrors(k)) errs.invalid(child(p, "key"), goQuote(k), m);
    for (size_t j = 0; j < values.size(); ++j)
      for (auto& m : labelValueErrors(values[j]))
        errs.invalid(index(child(p, "values"), j), goQuote(values[j]), m);
  }
}

bool selectorConvertible(const Json* selector) {
  ErrorList errs;
  validateLabelSelector(selector, "", errs);
  return errs.empty();
}

bool selectorIsEmpty(const Json* selector) {
  return selector && !hasEntries(get(selector, "matchLabels")) &&
         !hasEntries(get(selector, "matchExpressions"));
}

bool selectorMatches(const Json* selector, const Json* labels) {
  if (!selector) return false;  // labels.Nothing()
  const Json& set = object(labels);
  auto lookup = [&](const std::string& k) -> std::optional<std::string> {
    auto it = set.find(k);
    if (it == set.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  const Json& ml = object(get(selector, "matchLabels"));
  for (auto it = ml.begin(); it != ml.end(); ++it) {
    auto v = lookup(it.key());
    if (!v || *v != str(&it.value())) return false;
  }
  for (const auto& e : array(get(selector, "matchExpressions"))) {
    std::string op = str(get(e, "operator"));
    auto v = lookup(str(get(e, "key")));
    auto values = stringList(get(e, "values"));
    bool in = v && std::find(values.begin(), values.end(), *v) != values.end();
    if ((op == "In" && !in) || (op == "NotIn" && in) || (op == "Exists" && !v) || (op == "DoesNotExist" && v))
      return false;
  }
  return true;
}

int64_t intOrPercentValue(const Json* v) {
  if (!v) return 0;
  if (v->is_string()) {
    std::string s = v->get<std::string>();
    if (!percentErrors(s).empty()) return 0;
    try {
      return std::stoll(s.substr(0, s.size() - 1));
    } catch (...) {
      return 0;
    }
  }
  return integer(v).value_or(0);
}

void validatePositiveIntOrPercent(const Json* v, const std::string& fld, ErrorList& errs) {
  if (!v) return;
  if (v->is_string()) {
    for (auto& m : percentErrors(v->get<std::string>())) errs.invalid(fld, intOrStringValue(v), m);
  } else {
    validateNonnegative(v, fld, errs);
  }
}

void validateNotMoreThan100Percent(const Json* v, const std::string& fld, ErrorList& errs) {
  if (!v || !v->is_string() || !percentErrors(v->get<std::string>()).empty()) return;
  if (intOrPercentValue(v) > 100) errs.invalid(fld, intOrStringValue(v), "must not be greater than 100%");
}

void validateTaintEffect(const Json* effect, bool allow_empty, const std::string& fld, ErrorList& errs) {
  std::string e = str(effect);
  if (!allow_empty && e.empty()) {
    errs.required(fld);
    return;
  }
  if (e != "NoSchedule" && e != "PreferNoSchedule" && e != "NoExecute")
    errs.notSupported(fld, goQuote(e), {"NoSchedule", "PreferNoSchedule", "NoExecute"});
}

// ---------------------------------------------------------------- metadata

namespace {

bool isStandardFinalizer(std::string_view f) {
  return f == "kubernetes" || f == "orphan" || f == "foregroundDeletion";
}

void validateOwnerReferences(const Json* refs, const std::string& fld, ErrorList& errs) {
  std::string first_controller;
  for (const auto& ref : array(refs)) {
    std::string api_version = str(get(ref, "apiVersion"));
    std::string version =
        api_version.substr(api_version.find('/') == std::string::npos ? 0 : api_version.find('/') + 1);
    if (version.empty())
      errs.invalid(child(fld, "apiVersion"), goQuote(api_version), "version must not be empty");
    std::string kind = str(get(ref, "kind"));
    if (kind.empty()) errs.invalid(child(fld, "kind"), goQuote(kind), "kind must not be empty");
    std::string name = str(get(ref, "name"));
    if (name.empty()) errs.invalid(child(fld, "name"), goQuote(name), "name must not be empty");
    std::string uid = str(get(ref, "uid"));
    if (uid.empty()) errs.invalid(child(fld, "uid"), goQuote(uid), "uid must not be empty");
    if (isTrue(get(ref, "controller"))) {
      std::string cur = kind + "/" + name;
      if (!first_controller.empty()) {
        errs.invalid(fld, goJson(*refs),
                     "Only one reference can have Controller set to true. Found \"true\" in references for " +
                         first_controller + " and " + cur);
      } else {
        first_controller = cur;
      }
    }
  }
}

void validateFinalizers(const Json* finalizers, bool kube_check, const std::string& fld, ErrorList& errs) {
  auto names = stringList(finalizers);
  bool orphan = false, foreground = false;
  for (const auto& f : names) {
    for (auto& m : qualifiedNameErrors(f)) errs.invalid(fld, goQuote(f), m);
    orphan |= f == "orphan";
    foreground |= f == "foregroundDeletion";
  }
  if (orphan && foreground)
    errs.invalid(fld, goJson(*finalizers), "finalizer orphan and foregroundDeletion cannot be both set");
  if (!kube_check) return;
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i].find('/') == std::string::npos && !isStandardFinalizer(names[i]))
      errs.invalid(index(fld, i), goQuote(names[i]),
                   "name is neither a standard finalizer name nor is it fully qualified");
}

}  // namespace

void validateObjectMeta(const Json* meta, const MetaRules& rules, ErrorList& errs) {
  const std::string fld = "metadata";
  std::string generate_name = str(get(meta, "generateName"));
  if (!generate_name.empty())
    for (auto& m : rules.name_fn(generate_name, true))
      errs.invalid(child(fld, "generateName"), goQuote(generate_name), m);
  std::string name = str(get(meta, "name"));
  if (name.empty()) {
    errs.required(child(fld, "name"), "name or generateName is required");
  } else {
    for (auto& m : rules.name_fn(name, false)) errs.invalid(child(fld, "name"), goQuote(name), m);
  }
  std::string ns = str(get(meta, "namespace"));
  if (rules.namespaced) {
    if (ns.empty()) {
      errs.required(child(fld, "namespace"));
    } else {
      for (auto& m : nameIsDnsLabel(ns, false)) errs.invalid(child(fld, "namespace"), goQuote(ns), m);
    }
  } else if (!ns.empty()) {
    errs.forbidden(child(fld, "namespace"), "not allowed on this type");
  }
  validateNonnegative(get(meta, "generation"), child(fld, "generation"), errs);
  validateLabels(get(meta, "labels"), child(fld, "labels"), errs);
  validateAnnotations(get(meta, "annotations"), child(fld, "annotations"), errs);
  validateOwnerReferences(get(meta, "ownerReferences"), child(fld, "ownerReferences"), errs);
  validateFinalizers(get(meta, "finalizers"), rules.kube_finalizers, child(fld, "finalizers"), errs);
}

void validateObjectMetaUpdate(const Json* meta, const Json* old_meta, ErrorList& errs) {
  const std::string fld = "metadata";
  if (get(old_meta, "deletionTimestamp")) {
    auto old_f = stringList(get(old_meta, "finalizers"));
    std::set<std::string> extra;
    for (auto& f : stringList(get(meta, "finalizers")))
      if (std::find(old_f.begin(), old_f.end(), f) == old_f.end()) extra.insert(f);
    if (!extra.empty())
      errs.forbidden(child(fld, "finalizers"),
                     "no new finalizers can be added if the object is being deleted, found new finalizers " +
                         goStrings({extra.begin(), extra.end()}));
  }
  validateImmutable(get(meta, "name"), get(old_meta, "name"), child(fld, "name"), errs,
                    goQuote(str(get(meta, "name"))));
  validateImmutable(get(meta, "namespace"), get(old_meta, "namespace"), child(fld, "namespace"), errs,
                    goQuote(str(get(meta, "namespace"))));
  // BeforeUpdate fills these from the stored object when the client omits them.
  for (const char* k : {"uid", "creationTimestamp"}) {
    if (get(meta, k))
      validateImmutable(get(meta, k), get(old_meta, k), child(fld, k), errs, goQuote(str(get(meta, k))));
  }
  validateLabels(get(meta, "labels"), child(fld, "labels"), errs);
  validateAnnotations(get(meta, "annotations"), child(fld, "annotations"), errs);
  validateOwnerReferences(get(meta, "ownerReferences"), child(fld, "ownerReferences"), errs);
}

}  // namespace vdetail

// ---------------------------------------------------------------- dispatch

namespace {

using namespace vdetail;

using CreateFn = void (*)(const Json& obj, ErrorList& errs);
using UpdateFn = void (*)(const Json& obj, const Json& old, ErrorList& errs);

struct KindRules {
  const char* group;
  const char* kind;
  NameFn name_fn;
  bool kube_finalizers;
  bool own_metadata;  // the kind validator checks metadata itself (upstream orders it differently)
  CreateFn create;
  UpdateFn update;  // nullptr: the create checks run on update too
};

template <void (*F)(const Json&, const Json*, ErrorList&)>
void asCreate(const Json& obj, ErrorList& errs) {
  F(obj, nullptr, errs);
}

template <void (*F)(const Json&, const Json*, ErrorList&)>
void asUpdate(const Json& obj, const Json& old, ErrorList& errs) {
  F(obj, &old, errs);
}

void noChecks(const Json&, ErrorList&) {}

// core/v1 Events get no metadata validation upstream (legacy clients);
// storage still needs a name.
void coreEventCreate(const Json& obj, ErrorList& errs) {
  if (str(path(obj, {"metadata", "name"})).empty())
    errs.required("metadata.name", "name or generateName is required");
  validateCoreEvent(obj, errs);
}

void coreEventUpdate(const Json& obj, const Json&, ErrorList& errs) { validateCoreEvent(obj, errs); }

void eventsV1Create(const Json& obj, ErrorList& errs) {
  validateEventsV1Event(obj, errs);
  validateObjectMeta(get(obj, "metadata"), MetaRules{}, errs);
  validateEventsV1EventStrict(obj, nullptr, errs);
}

void eventsV1Update(const Json& obj, const Json& old, ErrorList& errs) {
  validateEventsV1Event(obj, errs);
  validateObjectMetaUpdate(get(obj, "metadata"), get(old, "metadata"), errs);
  validateEventsV1EventStrict(obj, &old, errs);
}

// Name rules per kind as upstream's Validate*Name. Services use DNS-1035
// labels (ValidateServiceName), StatefulSets and Namespaces DNS-1123 labels.
const KindRules kRules[] = {
    {"", "Pod", nameIsDnsSubdomain, true, false, validatePod, validatePodUpdate},
    {"", "Service", nameIsDns1035Label, true, false, validateService, validateServiceUpdate},
    {"", "Namespace", nameIsDnsLabel, true, false, validateNamespace, nullptr},
    {"", "ConfigMap", nameIsDnsSubdomain, true, false, validateConfigMap, validateConfigMapUpdate},
    {"", "Secret", nameIsDnsSubdomain, true, false, validateSecret, validateSecretUpdate},
    {"", "ServiceAccount", nameIsDnsSubdomain, true, false, noChecks, nullptr},
    {"", "Node", nameIsDnsSubdomain, true, false, validateNode, nullptr},
    {"", "Endpoints", nameIsDnsSubdomain, true, false, validateEndpoints, nullptr},
    {"", "LimitRange", nameIsDnsSubdomain, true, false, validateLimitRange, nullptr},
    {"", "ResourceQuota", nameIsDnsSubdomain, true, false, validateResourceQuota, nullptr},
    {"", "Event", nameIsDnsSubdomain, true, true, coreEventCreate, coreEventUpdate},
    {"apps", "Deployment", nameIsDnsSubdomain, true, false, asCreate<validateDeployment>,
     asUpdate<validateDeployment>},
    {"apps", "ReplicaSet", nameIsDnsSubdomain, true, false, asCreate<validateReplicaSet>,
     asUpdate<validateReplicaSet>},
    {"apps", "DaemonSet", nameIsDnsSubdomain, true, false, asCreate<validateDaemonSet>,
     asUpdate<validateDaemonSet>},
    {"apps", "StatefulSet", nameIsDnsLabel, true, false, asCreate<validateStatefulSet>,
     asUpdate<validateStatefulSet>},
    {"apps", "ControllerRevision", nameIsDnsSubdomain, true, false, asCreate<validateControllerRevision>,
     asUpdate<validateControllerRevision>},
    {"batch", "Job", nameIsDnsSubdomain, true, false, asCreate<validateJob>, asUpdate<validateJob>},
    {"batch", "CronJob", nameIsDnsSubdomain, true, false, asCreate<validateCronJob>,
     asUpdate<validateCronJob>},
    {"autoscaling", "HorizontalPodAutoscaler", nameIsDnsSubdomain, true, false, validateHorizontalPodAutoscaler,
     nullptr},
    {"coordination.k8s.io", "Lease", nameIsDnsSubdomain, false, false, validateLease, nullptr},
    {"discovery.k8s.io", "EndpointSlice", nameIsDnsSubdomain, true, true, asCreate<validateEndpointSlice>,
     asUpdate<validateEndpointSlice>},
    {"events.k8s.io", "Event", nameIsDnsSubdomain, true, true, eventsV1Create, eventsV1Update},
    {"rbac.authorization.k8s.io", "Role", nameIsPathSegment, true, false, validateRole, nullptr},
    {"rbac.authorization.k8s.io", "ClusterRole", nameIsPathSegment, true, false, validateClusterRole, nullptr},
    {"rbac.authorization.k8s.io", "RoleBinding", nameIsPathSegment, true, false, validateRoleBinding,
     validateRoleBindingUpdate},
    {"rbac.authorization.k8s.io", "ClusterRoleBinding", nameIsPathSegment, true, false, validateClusterRoleBinding,
     validateClusterRoleBindingUpdate},
    {"alerting.capstan.io", "AlertRule", nameIsDnsSubdomain, false, false, validateAlertRule, nullptr},
    {"alerting.capstan.io", "AlertReceiver", nameIsDnsSubdomain, false, false, validateAlertReceiver, nullptr},
    {"alerting.capstan.io", "Alert", nameIsDnsSubdomain, false, false, noChecks, nullptr},
};

const KindRules* rulesFor(const ResourceInfo& info) {
  for (const auto& r : kRules)
    if (info.group == r.group && info.kind == r.kind) return &r;
  return nullptr;
}

Status invalidStatus(const ResourceInfo& info, const std::string& name, const ErrorList& errs) {
  // errs.ToAggregate(): distinct "field: body" strings in order.
  std::vector<std::string> distinct;
  for (const auto& e : errs.errors()) {
    std::string s = e.field + ": " + e.body();
    if (std::find(distinct.begin(), distinct.end(), s) == distinct.end()) distinct.push_back(std::move(s));
  }
  std::string agg;
  if (distinct.size() == 1) {
    agg = distinct[0];
  } else {
    agg = "[";
    for (size_t i = 0; i < distinct.size(); ++i) agg += (i ? ", " : "") + distinct[i];
    agg += "]";
  }
  std::string qualified_kind = info.group.empty() ? info.kind : info.kind + "." + info.group;
  Status st(Code::kInvalid, qualified_kind + " " + goQuote(name) + " is invalid: " + agg);
  for (const auto& e : errs.errors()) st.causes.push_back({e.reason(), e.body(), e.field});
  st.details_kind = info.kind;
  st.details_group = info.group;
  st.details_name = name;
  return st;
}

}  // namespace

Status validateObject(const ResourceInfo& info, const Json& obj, const Json* old) {
  ErrorList errs;
  const KindRules* rules = rulesFor(info);
  const Json* meta = get(obj, "metadata");
  if (!rules || !rules->own_metadata) {
    if (old) {
      validateObjectMetaUpdate(meta, get(*old, "metadata"), errs);
    } else {
      MetaRules meta_rules;
      meta_rules.namespaced = info.namespaced;
      meta_rules.kube_finalizers = false;  // custom resources may use any qualified finalizer
      if (rules) {
        meta_rules.name_fn = rules->name_fn;
        meta_rules.kube_finalizers = rules->kube_finalizers;
      }
      validateObjectMeta(meta, meta_rules, errs);
    }
  }
  if (rules) {
    if (old && rules->update) {
      rules->update(obj, *old, errs);
    } else {
      rules->create(obj, errs);
    }
  }
  if (errs.empty()) return Status::ok();
  return invalidStatus(info, str(get(meta, "name")), errs);
}

namespace {

std::string joined(const std::vector<std::string>& msgs) {
  std::string out;
  for (size_t i = 0; i < msgs.size(); ++i) out += (i ? "; " : "") + msgs[i];
  return out;
}

}  // namespace

std::string checkDns1123Subdomain(std::string_view value) { return joined(dns1123SubdomainErrors(value)); }
std::string checkDns1123Label(std::string_view value) { return joined(dns1123LabelErrors(value)); }
std::string checkDns1035Label(std::string_view value) { return joined(dns1035LabelErrors(value)); }
std::string checkQualifiedName(std::string_view value) { return joined(qualifiedNameErrors(value)); }
std::string checkLabelValue(std::string_view value) { return joined(labelValueErrors(value)); }

}  // namespace capstan::api
