#pragma once
// Unknown-field detection for fieldValidation=Strict/Warn and JSON type
// checks, both read from the kind's OpenAPI schema (api/schema.h), as
// decoding into Kubernetes' Go types would report them. A kind without a
// schema, and fields marked x-kubernetes-preserve-unknown-fields, accept
// anything.

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

// Checks the JSON type of every field against the schema. Returns BadRequest
// with upstream's "cannot be handled as a <Kind>: json: cannot unmarshal
// <json type> into Go struct field <Struct>.<path> of type <Go type>".
Status checkFieldTypes(const ResourceInfo& info, const Json& obj);

// Both in one walk over the object, as every create and update needs them.
struct FieldCheck {
  Status types;                      // checkFieldTypes' answer
  std::vector<std::string> unknown;  // unknownFields' answer
};
FieldCheck checkFields(const ResourceInfo& info, const Json& obj);

}  // namespace capstan::api
