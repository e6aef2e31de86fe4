#pragma once
// The OpenAPI documents, generated from the kind registry and the schemas
// we write in src/api/schemas (api/schema.h):
//   - v3 JSON, one document per group-version (/openapi/v3/apis/apps/v1),
//     read by kubectl 1.29+ for explain, field validation and patches;
//   - v2 in the protobuf encoding kubectl 1.27 and 1.28 read
//     (application/com.github.proto-openapi.spec.v2@v1.0+protobuf, gnostic's
//     openapi.v2.Document), with the same definitions.
// Both declare, for every kind, its operations with the group-version-kind
// and the fieldValidation parameter, so kubectl leaves validation to the
// server.

#include <string>

#include "api/registry.h"
#include "api/schema.h"
#include "common/json.h"

namespace capstan::apiserver {

// Clients ask with "...spec.v2@v1.0+protobuf"; Go's mime parser rejects the
// "@" in a response, so the answer uses the dotted form.
inline constexpr const char* kOpenApiV2ProtobufType = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

// The definitions the documents draw from: the schemas' own, plus a List
// definition for every served kind and a placeholder for a served kind the
// schemas lack.
api::Schemas servedSchemas(const api::Registry& registry, const api::Schemas& schemas);
// The definition name of a served kind in servedSchemas().
std::string kindDefinitionName(const api::ResourceInfo& r, const api::Schemas& served);

// The v3 document of one group-version.
Json openApiV3(const api::Registry& registry, const api::Schemas& served, const api::GroupVersion& gv);
// The serialized v2 openapi.v2.Document of every group-version.
std::string openApiV2Protobuf(const api::Registry& registry, const api::Schemas& served);

}  // namespace capstan::apiserver
