#pragma once
// The few fields of the apps/v1 workload kinds (ReplicaSet, Deployment)
// read everywhere in their controllers, with the API server's defaults.

#include <cstdint>
#include <string>
#include <string_view>

#include "controllers/object_fields.h"

namespace capstan::controllers {

// obj[key] of any type, or a shared null when absent.
inline const Json& fieldOrNull(const Json& obj, std::string_view key) {
  static const Json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

// spec.replicas (1 when absent, as defaulted).
inline int64_t specReplicas(const Json& obj) { return intField(specOf(obj), "replicas", 1); }
inline int64_t generationOf(const Json& obj) { return intField(metadataOf(obj), "generation"); }
inline int64_t statusCount(const Json& obj, std::string_view field) { return intField(statusOf(obj), field); }
inline std::string annotationOf(const Json& obj, std::string_view key) {
  return stringField(objectField(metadataOf(obj), "annotations"), key);
}

}  // namespace capstan::controllers
