#pragma once
// Validation of the built-in kinds, as kube-apiserver performs it after
// defaulting (see defaults.h) and before storage.
//
// Contract:
// - validateObject never throws and never mutates its inputs. Any JSON shape
//   is accepted: fields of the wrong type are treated as absent (type errors
//   are the decoder's business, a 400 upstream, not a 422).
// - The result is OK, or Code::kInvalid with one StatusCause per problem, in
//   Kubernetes' order, reason one of FieldValueRequired, FieldValueInvalid,
//   FieldValueNotSupported, FieldValueDuplicate, FieldValueNotFound,
//   FieldValueTooLong, FieldValueTooMany, FieldValueForbidden; message and
//   field as upstream's field.Error (ErrorBody and path).
// - The overall message is NewInvalid's: `<Kind>[.<group>] "<name>" is
//   invalid: <field>: <body>` for one distinct error and `[a, b]` for several.
// - The object is expected to have gone through applyDefaults first; checks
//   that upstream relies on defaulting for (e.g. "terminationGracePeriodSeconds
//   Required") fire otherwise, exactly as they would upstream.
// - Stateless and thread-safe.

#include <string>
#include <string_view>

#include "api/registry.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::api {

// Validates obj (create when old is nullptr, update against the stored old
// object otherwise). On update, server-maintained metadata the client may omit
// (uid, creationTimestamp) counts as unchanged when absent, as upstream's
// BeforeUpdate copies it from the old object before validating.
Status validateObject(const ResourceInfo& info, const Json& obj, const Json* old);

// Name rules shared with the rest of the server. Each returns "" when the
// value is valid, else Kubernetes' message (several joined with "; ").
std::string checkDns1123Subdomain(std::string_view value);  // <= 253
std::string checkDns1123Label(std::string_view value);      // <= 63
std::string checkDns1035Label(std::string_view value);      // <= 63, starts with a letter
std::string checkQualifiedName(std::string_view value);     // [prefix/]name, label keys
std::string checkLabelValue(std::string_view value);        // <= 63, may be empty

}  // namespace capstan::api
