#pragma once
// Unknown-field detection for fieldValidation=Strict/Warn. This checks the
// envelope every kind shares (top-level fields per kind and ObjectMeta);
// the full per-field schemas come from the OpenAPI model (kubectl parity
// issue) and will replace this table.

#include <string>
#include <vector>

#include "api/registry.h"
#include "common/json.h"

namespace capstan::api {

// Paths of unknown fields, e.g. "spec.replica" style dotted paths.
std::vector<std::string> unknownFields(const ResourceInfo& info, const Json& obj);

}  // namespace capstan::api
