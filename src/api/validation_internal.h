#pragma once
// Private to src/api/validation*.cc: Kubernetes' field.Error model, values
// rendered the way Go prints them in error messages, non-throwing JSON
// accessors, and the per-kind validators the dispatcher in validation.cc
// calls. Not a front door; include validation.h instead.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/validation_names.h"
#include "common/json.h"

namespace capstan::api::vdetail {

// ---- field errors (k8s.io/apimachinery/pkg/util/validation/field) ----

enum class ErrorType {
  kNotFound,
  kRequired,
  kDuplicate,
  kInvalid,
  kNotSupported,
  kForbidden,
  kTooLong,
  kTooMany,
};

struct FieldError {
  ErrorType type;
  std::string field;
  std::optional<std::string> value;  // as Go renders BadValue; nullopt = omitted
  std::string detail;

  std::string reason() const;  // FieldValueInvalid, ...
  std::string body() const;    // ErrorBody(): "Invalid value: \"x\": detail"
};

class ErrorList {
 public:
  void required(std::string field, std::string detail = "");
  void invalid(std::string field, std::string value, std::string detail);
  void notSupported(std::string field, std::string value, const std::vector<std::string>& valid);
  void duplicate(std::string field, std::string value, std::string detail = "");
  void notFound(std::string field, std::string value);
  void forbidden(std::string field, std::string detail);
  void tooLong(std::string field, int64_t max_bytes);
  void tooMany(std::string field, int64_t actual, int64_t max_items);
  void append(const ErrorList& other) { errs_.insert(errs_.end(), other.errs_.begin(), other.errs_.end()); }

  bool empty() const { return errs_.empty(); }
  size_t size() const { return errs_.size(); }
  const std::vector<FieldError>& errors() const { return errs_; }

 private:
  std::vector<FieldError> errs_;
};

// ---- Go value rendering ----

std::string goQuote(std::string_view s);  // strconv.Quote / %q
std::string goJson(const Json& v);        // json.Marshal (sorted keys, HTML-safe)
std::string goValue(const Json* v);       // a BadValue: quoted string, number, bool, null, or JSON
std::string goStrings(const std::vector<std::string>& v);  // %#v of []string
std::string renderSelector(const Json* selector);          // a metav1.LabelSelector as JSON
std::string intOrStringValue(const Json* v);               // IntOrString.String()

// ---- field paths (field.Path.String()) ----

std::string child(std::string_view path, std::string_view name);
std::string index(std::string_view path, size_t i);
std::string key(std::string_view path, std::string_view k);

// ---- non-throwing JSON access: wrong types read as absent ----

const Json* get(const Json* obj, std::string_view k);  // nullptr unless obj is an object holding non-null k
const Json* get(const Json& obj, std::string_view k);
const Json* path(const Json& obj, std::initializer_list<std::string_view> keys);
std::string str(const Json* v);  // "" unless a string
std::optional<int64_t> integer(const Json* v);
bool isTrue(const Json* v);
const Json& array(const Json* v);   // the array, or an empty one
const Json& object(const Json* v);  // the object, or an empty one
std::vector<std::string> stringList(const Json* v);
bool hasEntries(const Json* v);  // non-empty object or array

// Semantic equality as apiequality.Semantic.DeepEqual sees it on our JSON:
// null, empty strings, false, empty lists and empty maps equal absence.
bool semanticEqual(const Json* a, const Json* b);

// ---- string rules (k8s.io/apimachinery/pkg/util/validation) ----

using NameFn = std::vector<std::string> (*)(std::string_view name, bool prefix);

// The rules themselves are in api/validation_names.h.

// A port given by number (1-65535) or by IANA service name, e.g. targetPort
// or a probe's port.
void validatePortNumOrName(const Json* port, const std::string& fld, ErrorList& errs);

inline constexpr const char* kIsNegativeErrorMsg = "must be greater than or equal to 0";
inline constexpr const char* kFieldImmutableErrorMsg = "field is immutable";

// ---- shared field validators ----

void validateDns1123Label(std::string_view value, const std::string& fld, ErrorList& errs);
void validateDns1123Subdomain(std::string_view value, const std::string& fld, ErrorList& errs);
void validateNonnegative(const Json* v, const std::string& fld, ErrorList& errs);
// ValidateImmutableField: Invalid(newValue, "field is immutable") unless semantically equal.
void validateImmutable(const Json* nv, const Json* ov, const std::string& fld, ErrorList& errs,
                       const std::string& rendered_new);
void validateImmutable(const Json* nv, const Json* ov, const std::string& fld, ErrorList& errs);
void validateLabels(const Json* labels, const std::string& fld, ErrorList& errs);
void validateAnnotations(const Json* annotations, const std::string& fld, ErrorList& errs);
void validateLabelSelector(const Json* selector, const std::string& fld, ErrorList& errs);
// Whether LabelSelectorAsSelector would succeed.
bool selectorConvertible(const Json* selector);
// labels.Selector semantics: nil selects nothing, {} selects everything.
bool selectorMatches(const Json* selector, const Json* labels);
bool selectorIsEmpty(const Json* selector);  // non-nil and no requirements
int64_t intOrPercentValue(const Json* v);    // getIntOrPercentValue
void validatePositiveIntOrPercent(const Json* v, const std::string& fld, ErrorList& errs);
void validateNotMoreThan100Percent(const Json* v, const std::string& fld, ErrorList& errs);
void validateTaintEffect(const Json* effect, bool allow_empty, const std::string& fld, ErrorList& errs);

// ---- metadata ----

struct MetaRules {
  NameFn name_fn = nameIsDnsSubdomain;
  bool namespaced = true;
  bool kube_finalizers = true;  // core's check that unqualified finalizers are standard
};
void validateObjectMeta(const Json* meta, const MetaRules& rules, ErrorList& errs);
void validateObjectMetaUpdate(const Json* meta, const Json* old_meta, ErrorList& errs);

// ---- pods (validation_pod.cc) ----

struct PodSpecContext {
  bool is_pod = false;  // a Pod rather than a template: whitespace image checks etc.
};
void validatePodSpec(const Json* spec, const std::string& fld, const PodSpecContext& ctx, ErrorList& errs);
// ValidatePodTemplateSpec: template labels/annotations and its spec.
void validatePodTemplateSpec(const Json* tmpl, const std::string& fld, ErrorList& errs);
void validatePod(const Json& obj, ErrorList& errs);
void validatePodUpdate(const Json& obj, const Json& old, ErrorList& errs);

// ---- per-kind spec validators; metadata is checked by the dispatcher ----

// core (validation_core.cc)
void validateService(const Json& obj, ErrorList& errs);
void validateServiceUpdate(const Json& obj, const Json& old, ErrorList& errs);
void validateNamespace(const Json& obj, ErrorList& errs);
void validateConfigMap(const Json& obj, ErrorList& errs);
void validateConfigMapUpdate(const Json& obj, const Json& old, ErrorList& errs);
void validateSecret(const Json& obj, ErrorList& errs);
void validateSecretUpdate(const Json& obj, const Json& old, ErrorList& errs);
void validateNode(const Json& obj, ErrorList& errs);
void validateEndpoints(const Json& obj, ErrorList& errs);
void validateLimitRange(const Json& obj, ErrorList& errs);
void validateResourceQuota(const Json& obj, ErrorList& errs);

// apps (validation_apps.cc)
void validateDeployment(const Json& obj, const Json* old, ErrorList& errs);
void validateReplicaSet(const Json& obj, const Json* old, ErrorList& errs);
void validateDaemonSet(const Json& obj, const Json* old, ErrorList& errs);
void validateStatefulSet(const Json& obj, const Json* old, ErrorList& errs);
void validateControllerRevision(const Json& obj, const Json* old, ErrorList& errs);

// batch (validation_batch.cc)
void validateJob(const Json& obj, const Json* old, ErrorList& errs);
void validateCronJob(const Json& obj, const Json* old, ErrorList& errs);
std::string cronScheduleError(std::string_view schedule);  // robfig/cron ParseStandard's error, "" if valid

// events, leases, endpoint slices (validation_minor_kinds.cc)
void validateCoreEvent(const Json& obj, ErrorList& errs);
void validateEventsV1Event(const Json& obj, ErrorList& errs);  // legacyValidateEvent
void validateEventsV1EventStrict(const Json& obj, const Json* old, ErrorList& errs);
void validateLease(const Json& obj, ErrorList& errs);

// ---- rbac.authorization.k8s.io (validation_rbac.cc) ----

std::vector<std::string> nameIsPathSegment(std::string_view name, bool prefix);
void validateRole(const Json& obj, ErrorList& errs);
void validateClusterRole(const Json& obj, ErrorList& errs);
void validateRoleBinding(const Json& obj, ErrorList& errs);
void validateRoleBindingUpdate(const Json& obj, const Json& old, ErrorList& errs);
void validateClusterRoleBinding(const Json& obj, ErrorList& errs);
void validateClusterRoleBindingUpdate(const Json& obj, const Json& old, ErrorList& errs);
void validateEndpointSlice(const Json& obj, const Json* old, ErrorList& errs);

// autoscaling/v2 (validation_minor_kinds.cc)
void validateHorizontalPodAutoscaler(const Json& obj, ErrorList& errs);

// alerting.capstan.io/v1alpha1 (validation_alerting.cc)
void validateAlertRule(const Json& obj, ErrorList& errs);
void validateAlertReceiver(const Json& obj, ErrorList& errs);

}  // namespace capstan::api::vdetail
