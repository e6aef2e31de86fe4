#pragma once
// The patch types the API accepts: JSON patch (RFC 6902), JSON merge patch
// (RFC 7386), and Kubernetes' strategic merge patch with its directives
// ($patch, $retainKeys, $setElementOrder, $deleteFromPrimitiveList) and the
// merge keys of the built-in kinds.

#include "common/json.h"
#include "common/status.h"

namespace capstan::api {

class Schemas;

Result<Json> applyJsonPatch(const Json& target, const Json& patch);
Result<Json> applyMergePatch(const Json& target, const Json& patch);
// With `schemas` and the kind's definition name, lists merge by the merge
// keys and patch strategies of the schema; without, by the built-in kinds'
// keys looked up by field name (mergeKeyOf).
Result<Json> applyStrategicMergePatch(const Json& target, const Json& patch, const Schemas* schemas = nullptr,
                                      std::string_view root = "");

// A strategic merge patch without its directives ($patch, $retainKeys,
// $setElementOrder/..., $deleteFromPrimitiveList/...): the fields it sets.
Json withoutDirectives(const Json& patch);

// The merge key of a list field (e.g. "containers" -> "name"), "" when the
// list is replaced as a whole. `sample` is an element of the list, used to
// tell container ports (containerPort) from service ports (port).
std::string mergeKeyOf(std::string_view field, const Json& sample);

}  // namespace capstan::api
