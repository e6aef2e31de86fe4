#pragma once
// Sets of field paths, as server-side apply records them in
// metadata.managedFields (structured-merge-diff's fieldpath.Set): a trie
// whose steps are path elements, each node saying which of its children are
// members of the set themselves. Serialised as FieldsV1 ("f:name",
// "k:{...}", "v:...", "i:N" keys, "." for a node that is a member and has
// members below it).
//
// Invariant: no child node is empty, so equality is structural.

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace capstan::api {

// One step of a path in its FieldsV1 spelling: "f:<field name>",
// "k:<JSON object of the list-map keys, keys sorted>", "v:<JSON value>" (a
// member of a set-list), "i:<index>". Canonical: two steps are the same
// iff their strings are equal.
using PathElement = std::string;
using FieldPath = std::vector<PathElement>;

PathElement fieldElement(std::string_view name);
PathElement keyElement(const Json& key_fields);  // an object: key field -> value
PathElement valueElement(const Json& value);
PathElement indexElement(int index);
bool isFieldElement(const PathElement& pe);
// The field name of an "f:" element ("" for the others).
std::string_view fieldName(const PathElement& pe);
// Brings a client-supplied element to the canonical form (JSON re-encoded
// with sorted keys); error when it is not one of the four forms.
Result<PathElement> canonicalElement(std::string_view text);

// Upstream's printed path, used in conflict messages and causes:
// .spec.replicas, .spec.containers[name="nginx"].image, .finalizers[="x"].
std::string pathString(const FieldPath& path);

class FieldSet {
 public:
  // Adds the path as a member (its parents are not members unless added).
  void insert(const FieldPath& path);
  bool has(const FieldPath& path) const;
  bool empty() const { return members_.empty() && children_.empty(); }

  FieldSet unionWith(const FieldSet& other) const;
  // In place: this set becomes its union with `other`.
  void unite(const FieldSet& other);
  // In place: this set becomes difference(other); true when that removed
  // anything.
  bool subtract(const FieldSet& other);
  // Members in both; children intersected, empty ones dropped.
  FieldSet intersection(const FieldSet& other) const;
  // Members of this set not in `other`, recursively (a parent member of
  // `other` does not remove this set's children).
  FieldSet difference(const FieldSet& other) const;
  // As difference, but a member of `other` also removes everything below
  // it (used to ignore whole subtrees such as status).
  FieldSet recursiveDifference(const FieldSet& other) const;

  const std::set<PathElement>& members() const { return members_; }
  const std::map<PathElement, FieldSet>& children() const { return children_; }
  // The subset below `pe` (empty set when none).
  const FieldSet& child(const PathElement& pe) const;
  void addMember(const PathElement& pe) { members_.insert(pe); }
  // Adds (or merges) a non-empty subtree under `pe`.
  void addChild(const PathElement& pe, FieldSet set);

  // Every member path: a node's members first, then its children's, in
  // element order (upstream's Iterate).
  void forEach(const std::function<void(const FieldPath&)>& f) const;

  Json toFieldsV1() const;
  static Result<FieldSet> fromFieldsV1(const Json& fields);
  // Whether `fields` is valid FieldsV1 written exactly as toFieldsV1 writes
  // it (elements in canonical form, "." only beside the members below a
  // member), checked without decoding it: a caller may then keep the stored
  // JSON instead of decoding and encoding it again.
  static bool isCanonicalFieldsV1(const Json& fields);

  bool operator==(const FieldSet& other) const = default;

 private:
  void forEach(FieldPath& prefix, const std::function<void(const FieldPath&)>& f) const;

  std::set<PathElement> members_;
  std::map<PathElement, FieldSet> children_;
};

}  // namespace capstan::api
