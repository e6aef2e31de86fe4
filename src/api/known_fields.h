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
// Removes them, as decoding into Kubernetes' types does.
void dropUnknownFields(const ResourceInfo& info, Json& obj);

}  // namespace capstan::api

namespace capstan::api {

// Checks the JSON types of the fields every client relies on (ObjectMeta,
// ConfigMap/Secret data, replicas, containers, service ports, ...), as
// decoding into Kubernetes' Go types would. Returns BadRequest with
// upstream's "cannot be handled as a <Kind>: json: cannot unmarshal ..."
// message. Full per-field typing comes with the OpenAPI schemas.
Status checkFieldTypes(const ResourceInfo& info, const Json& obj);

}  // namespace capstan::api
