#pragma once
// OpenAPI v2 in the protobuf encoding kubectl 1.27 and 1.28 read
// (application/com.github.proto-openapi.spec.v2@v1.0+protobuf, gnostic's
// openapi.v2.Document). It declares, for every kind, the PATCH operation
// with its group-version-kind and the fieldValidation query parameter, so
// those kubectl versions leave validation to the server. Full schemas come
// with the kubectl parity issue.

#include <string>

#include "api/registry.h"

namespace capstan::apiserver {

// Clients ask with "...spec.v2@v1.0+protobuf"; Go's mime parser rejects the
// "@" in a response, so the answer uses the dotted form.
inline constexpr const char* kOpenApiV2ProtobufType = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

// The serialized openapi.v2.Document for the registry.
std::string openApiV2Protobuf(const api::Registry& registry);

}  // namespace capstan::apiserver
