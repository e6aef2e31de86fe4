#pragma once
// Field ownership (metadata.managedFields) and server-side apply, as
// kube-apiserver's field manager does it:
//   - every create/update/patch records, for its manager and operation
//     Update, the fields it changed (and takes them from other managers);
//   - an apply (application/apply-patch+yaml) merges the configuration into
//     the live object by the schema, removes the fields the same manager
//     applied before but no longer applies (unless someone else owns them),
//     and fails with 409 Conflict when it changes a field another manager
//     owns, unless forced, which moves the ownership;
//   - the "kubectl" manager keeps kubectl's last-applied-configuration
//     annotation in step and may take over fields client-side apply set
//     with the same values (the upgrade from client- to server-side apply).
// Main-resource writes of kinds with a status subresource never own status;
// status writes own only status.
//
// Pure: the time comes in the context; nothing is stored here.

#include <map>
#include <string>
#include <string_view>

#include "api/field_set.h"
#include "api/structured_merge.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::api {

inline constexpr std::string_view kLastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

struct ManagedFieldsEntry {
  std::string manager;
  std::string operation;  // "Apply" or "Update"
  std::string api_version;
  std::string subresource;
  std::string time;  // RFC 3339; "" when unknown
  FieldSet fields;
};

// Entries by manager identity (upstream's BuildManagerIdentifier: the
// manager, operation, subresource, and for Update the apiVersion, as JSON).
using ManagedFields = std::map<std::string, ManagedFieldsEntry>;

std::string managerIdentifier(const ManagedFieldsEntry& e);
// metadata.managedFields (nullptr or null: none). Errors on entries
// upstream rejects (operation, apiVersion, fieldsType, FieldsV1 syntax).
Result<ManagedFields> decodeManagedFields(const Json* entries);
// The JSON list, ordered as upstream (Apply before Update, then by time,
// manager, apiVersion, subresource).
Json encodeManagedFields(const ManagedFields& managed);

// The manager a request records when it names none: the User-Agent up to
// its first '/' ("kubectl-client-side-apply", "python", ...), else "unknown".
std::string managerFromUserAgent(std::string_view user_agent);

struct FieldManagerContext {
  const TypedObjects* typed = nullptr;
  std::string api_version;  // the kind's group/version, e.g. apps/v1
  std::string subresource;  // "", "status" or "scale"
  bool has_status = false;  // the kind has a status subresource
  std::string now;          // RFC 3339
};

// The managedFields to store after a create (`live` null), update or
// non-apply patch by `manager` that turns `live` into `next`. `next` is the
// object as decoded and defaulted, before server-side mutations, carrying
// the managedFields the client sent, if any (used when valid, on the main
// resource; an empty list resets them). Returns a JSON list (empty: the
// object keeps none).
Json recordUpdate(const FieldManagerContext& ctx, const Json* live, const Json& next,
                  const std::string& manager);

// Server-side apply of `config` by `manager` onto `live` (null: the object
// is created). Returns the merged object carrying its new managedFields
// (before defaulting and admission). Errors: BadRequest for a config the
// schema cannot take (list items without keys, duplicates, managedFields
// set), Conflict with upstream's message and FieldManagerConflict causes.
Result<Json> applyConfig(const FieldManagerContext& ctx, const Json* live, const Json& config,
                         const std::string& manager, bool force);

}  // namespace capstan::api
