#pragma once
// The OpenAPI schemas of the built-in kinds. We write them as data, in
// src/api/schemas/*.yaml (one mapping of definition name -> OpenAPI v3
// schema per file, upstream's definition names, our own descriptions), and
// the build compiles them into the binary. Everything that needs to know the
// shape of an object reads it here: the OpenAPI v3 and v2 documents,
// unknown-field validation, strategic merge patch keys, server-side apply.
//
// Loading normalises the YAML shorthand:
//   - `$ref: NAME` becomes `$ref: "#/components/schemas/NAME"`; a reference
//     with a description beside it becomes `allOf: [{$ref}]` + description,
//     as upstream's v3 documents write it;
//   - a definition with x-kubernetes-group-version-kind gains the apiVersion,
//     kind and metadata properties every kind has.

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace capstan::api {

inline constexpr std::string_view kSchemaRefPrefix = "#/components/schemas/";

class Schemas {
 public:
  // The embedded schemas, loaded on first use. Aborts if they do not parse:
  // they are part of the program, checked by unit tests.
  static const Schemas& builtin();
  // Definitions from YAML texts ({file name, text}); tests load small sets.
  static Result<Schemas> load(const std::vector<std::pair<std::string_view, std::string_view>>& files);

  // Adds (or replaces) a definition already in normalised form, e.g. the
  // List kinds the OpenAPI documents generate.
  void add(const std::string& name, Json definition);

  // Every definition, name -> normalised OpenAPI v3 schema.
  const Json& definitions() const { return defs_; }
  const Json* definition(std::string_view name) const;
  // The name of the definition of a kind, "" when there is none.
  std::string kindDefinition(std::string_view group, std::string_view version, std::string_view kind) const;
  // The definition a schema refers to ($ref, or allOf with one $ref), or the
  // schema itself.
  const Json& resolve(const Json& schema) const;
  // A property of an object schema, resolved; nullptr when it has none.
  const Json* property(const Json& object_schema, std::string_view name) const;
  // The element schema of an array, or the value schema of a map, resolved.
  const Json* items(const Json& array_schema) const;
  const Json* mapValues(const Json& map_schema) const;
  // `name` and every definition it refers to, transitively.
  std::set<std::string> closure(std::string_view name) const;

  // The definition name in a $ref (or allOf-wrapped $ref), "" if none. A
  // view into `schema`, which must outlive it.
  static std::string_view refName(const Json& schema);

 private:
  Json defs_ = Json::object();
  std::map<std::string, std::string> kinds_;  // "group/version/Kind" -> definition name
};

// How a list is merged, from a property's (unresolved) schema extensions.
struct ListSemantics {
  std::string list_type;              // x-kubernetes-list-type: atomic, set, map; "" if unset
  std::vector<std::string> map_keys;  // x-kubernetes-list-map-keys
  std::string patch_strategy;         // x-kubernetes-patch-strategy: merge, retainKeys, "merge,retainKeys"
  std::string merge_key;              // x-kubernetes-patch-merge-key
};
ListSemantics listSemantics(const Json& property_schema);

}  // namespace capstan::api
