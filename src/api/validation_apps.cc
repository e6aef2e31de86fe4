// apps/v1 validation: Deployment, ReplicaSet, DaemonSet, StatefulSet,
// ControllerRevision, after pkg/apis/apps/validation plus the selector
// immutability the apps REST strategies add on update.
#include <string>

#include "api/validation_internal.h"

namespace capstan::api::vdetail {
namespace {

std::string templateLabels(const Json* tmpl) {
  return goValue(path(tmpl ? *tmpl : Json(), {"metadata", "labels"}));
}

// ValidatePodTemplateSpecForReplicaSet (also used by Deployment).
void validateTemplateForReplicaSet(const Json* tmpl, const Json* selector, const std::string& fld,
                                   const char* owner, ErrorList& errs) {
  // labels.Selector.Empty() is true only for a non-nil selector without requirements.
  if (!selectorIsEmpty(selector) &&
      !selectorMatches(selector, path(tmpl ? *tmpl : Json(), {"metadata", "labels"})))
    errs.invalid(child(child(fld, "metadata"), "labels"), templateLabels(tmpl),
                 "`selector` does not match template `labels`");
  validatePodTemplateSpec(tmpl, fld, errs);
  const Json* spec = get(tmpl, "spec");
  std::string restart = str(get(spec, "restartPolicy"));
  if (restart != "Always")
    errs.notSupported(child(child(fld, "spec"), "restartPolicy"), goQuote(restart), {"Always"});
  if (get(spec, "activeDeadlineSeconds"))
    errs.forbidden(child(child(fld, "spec"), "activeDeadlineSeconds"),
                   std::string("activeDeadlineSeconds in ") + owner + " is not Supported");
}

// The required-selector rules shared by Deployment, ReplicaSet and StatefulSet.
// Returns whether the selector converts (LabelSelectorAsSelector succeeds).
bool validateRequiredSelector(const Json* selector, const char* owner_lower, ErrorList& errs) {
  if (!selector) {
    errs.required("spec.selector");
  } else {
    validateLabelSelector(selector, "spec.selector", errs);
    if (selectorIsEmpty(selector))
      errs.invalid("spec.selector", renderSelector(selector),
                   std::string("empty selector is invalid for ") + owner_lower);
  }
  return selectorConvertible(selector);
}

void validateSelectorImmutable(const Json& obj, const Json* old, ErrorList& errs) {
  if (!old) return;
  const Json* ns = path(obj, {"spec", "selector"});
  validateImmutable(ns, path(*old, {"spec", "selector"}), "spec.selector", errs, renderSelector(ns));
}

std::string strategyValue(const Json* strategy) {
  return "{\"Type\":" + goJson(Json(str(get(strategy, "type")))) + ",\"RollingUpdate\":" +
         (get(strategy, "rollingUpdate") ? goJson(*get(strategy, "rollingUpdate")) : std::string("null")) +
         "}";
}

void validateDeploymentStrategy(const Json* strategy, ErrorList& errs) {
  const std::string fld = "spec.strategy";
  std::string type = str(get(strategy, "type"));
  const Json* ru = get(strategy, "rollingUpdate");
  if (type == "Recreate") {
    if (ru)
      errs.forbidden(child(fld, "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'");
  } else if (type == "RollingUpdate") {
    if (!ru) {
      errs.required(child(fld, "rollingUpdate"), "this should be defaulted and never be nil");
      return;
    }
    std::string p = child(fld, "rollingUpdate");
    const Json* mu = get(ru, "maxUnavailable");
    const Json* ms = get(ru, "maxSurge");
    validatePositiveIntOrPercent(mu, child(p, "maxUnavailable"), errs);
    validatePositiveIntOrPercent(ms, child(p, "maxSurge"), errs);
    if (intOrPercentValue(mu) == 0 && intOrPercentValue(ms) == 0)
      errs.invalid(child(p, "maxUnavailable"), intOrStringValue(mu), "may not be 0 when `maxSurge` is 0");
    validateNotMoreThan100Percent(mu, child(p, "maxUnavailable"), errs);
  } else {
    errs.notSupported(fld, strategyValue(strategy), {"Recreate", "RollingUpdate"});
  }
}

void validateDaemonSetUpdateStrategy(const Json* strategy, ErrorList& errs) {
  const std::string fld = "spec.updateStrategy";
  std::string type = str(get(strategy, "type"));
  if (type == "OnDelete") return;
  if (type != "RollingUpdate") {
    errs.notSupported(fld, strategyValue(strategy), {"RollingUpdate", "OnDelete"});
    return;
  }
  const Json* ru = get(strategy, "rollingUpdate");
  std::string p = child(fld, "rollingUpdate");
  if (!ru) {
    errs.required(p);
    return;
  }
  const Json* mu = get(ru, "maxUnavailable");
  const Json* ms = get(ru, "maxSurge");
  validatePositiveIntOrPercent(mu, child(p, "maxUnavailable"), errs);
  validatePositiveIntOrPercent(ms, child(p, "maxSurge"), errs);
  validateNotMoreThan100Percent(mu, child(p, "maxUnavailable"), errs);
  validateNotMoreThan100Percent(ms, child(p, "maxSurge"), errs);
  bool has_unavailable = intOrPercentValue(mu) != 0;
  bool has_surge = intOrPercentValue(ms) != 0;
  if (has_unavailable && has_surge) {
    errs.invalid(child(p, "maxSurge"), intOrStringValue(ms),
                 "may not be set when maxUnavailable is non-zero");
  } else if (!has_unavailable && !has_surge) {
    errs.required(child(p, "maxUnavailable"), "cannot be 0 when maxSurge is 0");
  }
}

}  // namespace

void validateDeployment(const Json& obj, const Json* old, ErrorList& errs) {
  const Json* spec = get(obj, "spec");
  validateNonnegative(get(spec, "replicas"), "spec.replicas", errs);
  const Json* selector = get(spec, "selector");
  if (validateRequiredSelector(selector, "deployment", errs)) {
    validateTemplateForReplicaSet(get(spec, "template"), selector, "spec.template", "ReplicaSet", errs);
  } else {
    errs.invalid("spec.selector", renderSelector(selector), "invalid label selector");
  }
  validateDeploymentStrategy(get(spec, "strategy"), errs);
  validateNonnegative(get(spec, "minReadySeconds"), "spec.minReadySeconds", errs);
  validateNonnegative(get(spec, "revisionHistoryLimit"), "spec.revisionHistoryLimit", errs);
  if (auto pds = integer(get(spec, "progressDeadlineSeconds"))) {
    validateNonnegative(get(spec, "progressDeadlineSeconds"), "spec.progressDeadlineSeconds", errs);
    if (*pds <= integer(get(spec, "minReadySeconds")).value_or(0))
      errs.invalid("spec.progressDeadlineSeconds", std::to_string(*pds),
                   "must be greater than minReadySeconds");
  }
  validateSelectorImmutable(obj, old, errs);
}

void validateReplicaSet(const Json& obj, const Json* old, ErrorList& errs) {
  const Json* spec = get(obj, "spec");
  validateNonnegative(get(spec, "replicas"), "spec.replicas", errs);
  validateNonnegative(get(spec, "minReadySeconds"), "spec.minReadySeconds", errs);
  const Json* selector = get(spec, "selector");
  // Upstream's ReplicaSet message says "deployment" too.
  if (validateRequiredSelector(selector, "deployment", errs)) {
    validateTemplateForReplicaSet(get(spec, "template"), selector, "spec.template", "ReplicaSet", errs);
  } else {
    errs.invalid("spec.selector", renderSelector(selector), "invalid label selector");
  }
  validateSelectorImmutable(obj, old, errs);
}

void validateDaemonSet(const Json& obj, const Json* old, ErrorList& errs) {
  const Json* spec = get(obj, "spec");
  const Json* selector = get(spec, "selector");
  const Json* tmpl = get(spec, "template");
  validateLabelSelector(selector, "spec.selector", errs);
  if (selectorConvertible(selector) &&
      !selectorMatches(selector, path(tmpl ? *tmpl : Json(), {"metadata", "labels"})))
    errs.invalid("spec.template.metadata.labels", templateLabels(tmpl),
                 "`selector` does not match template `labels`");
  if (selectorIsEmpty(selector))
    errs.invalid("spec.selector", renderSelector(selector), "empty selector is invalid for daemonset");
  validatePodTemplateSpec(tmpl, "spec.template", errs);
  const Json* pod_spec = get(tmpl, "spec");
  std::string restart = str(get(pod_spec, "restartPolicy"));
  if (restart != "Always")
    errs.notSupported("spec.template.spec.restartPolicy", goQuote(restart), {"Always"});
  if (get(pod_spec, "activeDeadlineSeconds"))
    errs.forbidden("spec.template.spec.activeDeadlineSeconds",
                   "activeDeadlineSeconds in DaemonSet is not Supported");
  validateNonnegative(get(spec, "minReadySeconds"), "spec.minReadySeconds", errs);
  validateNonnegative(get(spec, "templateGeneration"), "spec.templateGeneration", errs);
  validateDaemonSetUpdateStrategy(get(spec, "updateStrategy"), errs);
  validateNonnegative(get(spec, "revisionHistoryLimit"), "spec.revisionHistoryLimit", errs);
  validateSelectorImmutable(obj, old, errs);
}

void validateStatefulSet(const Json& obj, const Json* old, ErrorList& errs) {
  const Json* spec = get(obj, "spec");
  std::string pmp = str(get(spec, "podManagementPolicy"));
  if (pmp.empty()) {
    errs.required("spec.podManagementPolicy");
  } else if (pmp != "OrderedReady" && pmp != "Parallel") {
    errs.invalid("spec.podManagementPolicy", goQuote(pmp), "must be 'OrderedReady' or 'Parallel'");
  }

  const Json* strategy = get(spec, "updateStrategy");
  std::string type = str(get(strategy, "type"));
  const Json* ru = get(strategy, "rollingUpdate");
  if (type.empty()) {
    errs.required("spec.updateStrategy");
  } else if (type == "OnDelete") {
    if (ru)
      errs.invalid("spec.updateStrategy.rollingUpdate", goJson(*ru),
                   "only allowed for updateStrategy 'RollingUpdate'");
  } else if (type == "RollingUpdate") {
    if (ru) {
      validateNonnegative(get(ru, "partition"), "spec.updateStrategy.rollingUpdate.partition", errs);
      if (const Json* mu = get(ru, "maxUnavailable")) {
        const std::string p = "spec.updateStrategy.rollingUpdate.maxUnavailable";
        validatePositiveIntOrPercent(mu, p, errs);
        if (intOrPercentValue(mu) == 0) errs.invalid(p, intOrStringValue(mu), "cannot be 0");
        validateNotMoreThan100Percent(mu, p, errs);
      }
    }
  } else {
    errs.invalid("spec.updateStrategy", strategyValue(strategy), "must be 'RollingUpdate' or 'OnDelete'");
  }

  if (const Json* policy = get(spec, "persistentVolumeClaimRetentionPolicy")) {
    for (const char* k : {"whenDeleted", "whenScaled"}) {
      std::string v = str(get(policy, k));
      if (v != "Retain" && v != "Delete")
        errs.notSupported(child("spec.persistentVolumeClaimRetentionPolicy", k), goQuote(v),
                          {"Retain", "Delete"});
    }
  }
  validateNonnegative(get(spec, "replicas"), "spec.replicas", errs);
  validateNonnegative(get(spec, "minReadySeconds"), "spec.minReadySeconds", errs);
  validateNonnegative(path(obj, {"spec", "ordinals", "start"}), "spec.ordinals.start", errs);

  const Json* selector = get(spec, "selector");
  const Json* tmpl = get(spec, "template");
  if (validateRequiredSelector(selector, "statefulset", errs)) {
    // ValidatePodTemplateSpecForStatefulSet checks the template's metadata
    // only: upstream defers pod spec checks to pod creation because volume
    // mounts may name volumeClaimTemplates.
    if (!selectorIsEmpty(selector) &&
        !selectorMatches(selector, path(tmpl ? *tmpl : Json(), {"metadata", "labels"})))
      errs.invalid("spec.template.metadata.labels", templateLabels(tmpl),
                   "`selector` does not match template `labels`");
    validateLabels(path(tmpl ? *tmpl : Json(), {"metadata", "labels"}), "spec.template.labels", errs);
    validateAnnotations(path(tmpl ? *tmpl : Json(), {"metadata", "annotations"}), "spec.template.annotations",
                        errs);
  } else {
    errs.invalid("spec.selector", renderSelector(selector), "");
  }
  std::string restart = str(path(tmpl ? *tmpl : Json(), {"spec", "restartPolicy"}));
  if (restart != "Always")
    errs.notSupported("spec.template.spec.restartPolicy", goQuote(restart), {"Always"});
  if (path(tmpl ? *tmpl : Json(), {"spec", "activeDeadlineSeconds"}))
    errs.forbidden("spec.template.spec.activeDeadlineSeconds",
                   "activeDeadlineSeconds in StatefulSet is not Supported");

  if (!old) return;
  Json munged = spec ? *spec : Json::object();
  const Json* old_spec = get(*old, "spec");
  if (munged.is_object()) {
    for (const char* k : {"replicas", "template", "updateStrategy", "minReadySeconds", "ordinals",
                          "persistentVolumeClaimRetentionPolicy", "revisionHistoryLimit"}) {
      if (const Json* ov = get(old_spec, k)) {
        munged[k] = *ov;
      } else {
        munged.erase(k);
      }
    }
  }
  if (!semanticEqual(&munged, old_spec))
    errs.forbidden("spec",
                   "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                   "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                   "'minReadySeconds' are forbidden");
}

void validateControllerRevision(const Json& obj, const Json* old, ErrorList& errs) {
  if (!get(obj, "data")) errs.required("data", "data is mandatory");
  validateNonnegative(get(obj, "revision"), "revision", errs);
  if (old) validateImmutable(get(obj, "data"), get(*old, "data"), "data", errs);
}

}  // namespace capstan::api::vdetail
