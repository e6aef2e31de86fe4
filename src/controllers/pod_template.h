#pragma once
// Shared by the workload controllers: pods built from a PodTemplateSpec,
// controller ownerReferences, and the pod states controllers count.

#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/json.h"

namespace capstan::controllers {

// What identifies the owning controller in an ownerReference.
struct OwnerKind {
  std::string api_version;  // "batch/v1", "apps/v1"
  std::string kind;         // "Job", "DaemonSet", ...
};

// An ownerReference to `owner` with controller and blockOwnerDeletion set,
// as upstream's metav1.NewControllerRef.
Json controllerRef(const Json& owner, const OwnerKind& kind);

// A copy of obj with kind and apiVersion set (informers' objects may lack
// them): what event recorders need as the involved object.
Json withTypeMeta(const Json& obj, const OwnerKind& kind);

// The ownerReference of obj that has controller: true, or nullptr.
const Json* controllerRefOf(const Json& obj);
// "ns/name" of the object's controller when it is a `kind` of the same API
// group, else "": the key its controller's work queue uses.
std::string controllerKey(const Json& obj, const OwnerKind& kind);
// An informer index of dependents by controllerKey().
std::function<std::vector<std::string>(const Json&)> byControllerKey(OwnerKind kind);
// The uid of obj's controller ("" without one).
std::string controllerUid(const Json& obj);

// A pod from template (a PodTemplateSpec) in the owner's namespace: labels,
// annotations, finalizers and spec copied, the controller reference set.
// `name` empty: generateName "<owner name>-" (callers may override either).
Json podFromTemplate(const Json& tmpl, const Json& owner, const OwnerKind& kind,
                     const std::string& name = "");

// Succeeded or Failed.
bool isPodTerminal(const Json& pod);
// Neither terminal nor being deleted: what controllers count as active.
bool isPodActive(const Json& pod);
bool isPodReady(const Json& pod);
// Ready for at least min_ready_seconds (the Ready condition's
// lastTransitionTime), as upstream's podutil.IsPodAvailable.
bool isPodAvailable(const Json& pod, int64_t min_ready_seconds, WallTime now);
std::string podPhase(const Json& pod);

}  // namespace capstan::controllers
