#include "controllers/pod_template.h"

#include "controllers/object_fields.h"

namespace capstan::controllers {

Json controllerRef(const Json& owner, const OwnerKind& kind) {
  return {{"apiVersion", kind.api_version},
          {"kind", kind.kind},
          {"name", stringField(metadataOf(owner), "name")},
          {"uid", stringField(metadataOf(owner), "uid")},
          {"controller", true},
          {"blockOwnerDeletion", true}};
}

Json withTypeMeta(const Json& obj, const OwnerKind& kind) {
  Json o = obj;
  o["kind"] = kind.kind;
  o["apiVersion"] = kind.api_version;
  return o;
}

const Json* controllerRefOf(const Json& obj) {
  for (const auto& r : arrayField(metadataOf(obj), "ownerReferences"))
    if (r.is_object() && boolField(r, "controller")) return &r;
  return nullptr;
}

std::string controllerKey(const Json& obj, const OwnerKind& kind) {
  const Json* ref = controllerRefOf(obj);
  if (!ref || stringField(*ref, "kind") != kind.kind) return "";
  std::string group = kind.api_version.substr(0, kind.api_version.find('/') + 1);
  if (!stringField(*ref, "apiVersion").starts_with(group)) return "";
  return stringField(metadataOf(obj), "namespace") + "/" + stringField(*ref, "name");
}

std::function<std::vector<std::string>(const Json&)> byControllerKey(OwnerKind kind) {
  return [kind = std::move(kind)](const Json& obj) {
    std::string k = controllerKey(obj, kind);
    return k.empty() ? std::vector<std::string>{} : std::vector<std::string>{k};
  };
}

std::string controllerUid(const Json& obj) {
  const Json* r = controllerRefOf(obj);
  return r ? stringField(*r, "uid") : "";
}

Json podFromTemplate(const Json& tmpl, const Json& owner, const OwnerKind& kind, const std::string& name) {
  const Json& tmeta = objectField(tmpl, "metadata");
  const Json& ometa = metadataOf(owner);
  Json meta = Json::object();
  meta["namespace"] = stringField(ometa, "namespace");
  if (name.empty())
    meta["generateName"] = stringField(ometa, "name") + "-";
  else
    meta["name"] = name;
  for (const char* f : {"labels", "annotations"})
    if (const Json& m = objectField(tmeta, f); !m.empty()) meta[f] = m;
  if (const Json& f = arrayField(tmeta, "finalizers"); !f.empty()) meta["finalizers"] = f;
  meta["ownerReferences"] = Json::array({controllerRef(owner, kind)});
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", std::move(meta)},
          {"spec", objectField(tmpl, "spec")}};
}

std::string podPhase(const Json& pod) { return stringField(statusOf(pod), "phase"); }

bool isPodTerminal(const Json& pod) {
  std::string phase = podPhase(pod);
  return phase == "Succeeded" || phase == "Failed";
}

bool isPodActive(const Json& pod) { return !isPodTerminal(pod) && !isDeleting(pod); }

bool isPodReady(const Json& pod) { return conditionTrue(pod, "Ready"); }

bool isPodAvailable(const Json& pod, int64_t min_ready_seconds, WallTime now) {
  if (!isPodReady(pod)) return false;
  if (min_ready_seconds <= 0) return true;
  const Json* c = findCondition(pod, "Ready");
  auto since = c ? timeField(*c, "lastTransitionTime") : std::nullopt;
  return since && *since + std::chrono::seconds(min_ready_seconds) <= now;
}

}  // namespace capstan::controllers
