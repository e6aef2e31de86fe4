#pragma once
// Objects walked along their OpenAPI schema the way server-side apply sees
// them (structured-merge-diff's typed values): which fields a value sets,
// what changed between two values, how an applied configuration merges into
// a live object, and how fields are removed.
//
// How a node is treated, from its schema (api/schema.h):
//   - properties: a struct, merged field by field; its fields are "named"
//     (a set holds a field only when it is a leaf, null or empty);
//     x-kubernetes-map-type: atomic makes it one leaf;
//   - additionalProperties: a map; each key is a member;
//   - arrays by x-kubernetes-list-type: map (items keyed by
//     x-kubernetes-list-map-keys, a missing key taken from the key field's
//     default), set (items are their own key), atomic (one leaf). Without a
//     list type, x-kubernetes-patch-strategy merge with a merge key makes a
//     map list, merge alone a set, anything else atomic (upstream's
//     conversion of the built-in schemas);
//   - scalars are leaves;
//   - no schema (a kind or field not described yet, or
//     x-kubernetes-preserve-unknown-fields): deduced from the value, objects
//     as granular maps, arrays atomic, as upstream treats untyped fields.
// A value whose JSON type contradicts its schema is treated as a leaf.
//
// Pure functions; no I/O, no clock.

#include <memory>
#include <optional>
#include <string>

#include "api/field_set.h"
#include "api/schema.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::api {

// What changed from one value to another (upstream's typed.Comparison).
// Containers that appear or disappear are themselves added/removed.
struct Comparison {
  FieldSet removed;
  FieldSet modified;
  FieldSet added;
  bool same() const { return removed.empty() && modified.empty() && added.empty(); }
};

namespace structured_merge_detail {
struct TypeCache;
}

// Safe to share between threads (its cache of schema types has a lock):
// one instance per kind may serve every request.
class TypedObjects {
 public:
  // Objects of the kind whose definition is `root_definition`; with "" (a
  // kind without a schema) only metadata is typed. `schemas` must outlive it.
  TypedObjects(const Schemas& schemas, std::string root_definition);
  ~TypedObjects();
  TypedObjects(const TypedObjects&) = delete;
  TypedObjects& operator=(const TypedObjects&) = delete;

  // The set of fields `obj` specifies: every leaf, list item and map key.
  // Errors on list items without their keys, or duplicated items when
  // `allow_duplicates` is false.
  Result<FieldSet> toFieldSet(const Json& obj, bool allow_duplicates = true) const;
  // nullptr stands for an absent value. The members of `ignored` (struct
  // and map fields only, not list items) are treated as absent from both
  // values, as if removed first, without copying them. Values equal on both
  // sides are not walked, so only the parts that differ are checked for
  // list items without their keys.
  Result<Comparison> compare(const Json* lhs, const Json* rhs, const FieldSet& ignored = {}) const;
  // `config` merged into `live`: leaves from config win, structs and granular
  // maps merge by key, associative lists by item key (keeping live's order
  // for items config does not mention), atomic lists are replaced. A null in
  // config removes the field.
  Result<Json> merge(const Json& live, const Json& config) const;
  // `obj` without the members of `set` (a member removes its whole value;
  // containers left empty are removed too).
  Json removeItems(const Json& obj, const FieldSet& set) const;
  // `set` plus every struct field that has members below it.
  FieldSet ensureNamedFieldsAreMembers(const FieldSet& set) const;
  // What Kubernetes' Go types give for an empty object of the kind: the
  // struct fields that are not pointers (schema default {}) present and
  // empty, required ones null. Used as the "before" of a create, so that the
  // recorded fields mark the same containers as upstream's. Computed once,
  // with the object.
  const Json& zeroValue() const { return zero_; }

 private:
  const Schemas& schemas_;
  Json root_;  // an unresolved schema: {$ref: root} or the synthetic one
  std::unique_ptr<structured_merge_detail::TypeCache> types_;
  Json zero_;
};

}  // namespace capstan::api
