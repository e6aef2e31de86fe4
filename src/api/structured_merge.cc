#include "api/structured_merge.h"

#include <fmt/format.h>

#include <map>
#include <mutex>
#include <unordered_map>

namespace capstan::api {
namespace structured_merge_detail {

// How a schema node merges.
struct Type {
  enum class Kind { kDeduced, kScalar, kStruct, kMap, kList };
  enum class List { kAtomic, kSet, kMap };
  Kind kind = Kind::kDeduced;
  bool atomic = false;               // struct/map: x-kubernetes-map-type atomic
  const Json* def = nullptr;         // the resolved schema
  const Json* properties = nullptr;  // struct: def's properties
  const Json* values = nullptr;      // struct, map: def's additionalProperties (an object)
  List list = List::kAtomic;
  std::vector<std::string> keys;
};

// The types of the schema nodes walked so far: schemas do not change, and
// reading one costs several lookups (resolving its $ref, the extensions).
struct TypeCache {
  std::mutex mu;
  std::unordered_map<const Json*, Type> by_schema;  // guarded by mu; never erased
};

}  // namespace structured_merge_detail

namespace {

using structured_merge_detail::Type;
using structured_merge_detail::TypeCache;

constexpr std::string_view kObjectMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

// The form a value (or a pair of values) takes under its type.
enum class Form { kLeaf, kMap, kList };

bool isScalarType(std::string_view t) {
  return t == "string" || t == "integer" || t == "number" || t == "boolean";
}

// A string member of a schema, without copying it ("" when absent).
std::string_view stringAt(const Json& j, std::string_view key) {
  const Json* v = find(j, key);
  return v && v->is_string() ? std::string_view(v->get_ref<const std::string&>()) : std::string_view();
}

bool emptyOrNull(const Json* v) {
  return !v || v->is_null() || ((v->is_object() || v->is_array()) && v->empty());
}

// The ignored fields below a node; nullptr for none.
const FieldSet* ignoredBelow(const FieldSet* ignored, const PathElement& pe) {
  if (!ignored) return nullptr;
  const FieldSet& sub = ignored->child(pe);
  return sub.empty() ? nullptr : &sub;
}

bool isIgnored(const FieldSet* ignored, const PathElement& pe) {
  return ignored && ignored->members().contains(pe);
}

// As emptyOrNull, for the value without its ignored fields.
bool emptyOrNull(const Json* v, const FieldSet* ignored) {
  if (!ignored || !v || !v->is_object()) return emptyOrNull(v);
  for (const auto& [key, val] : v->items())
    if (!isIgnored(ignored, fieldElement(key))) return false;
  return true;
}

// a == b, both without their ignored fields.
bool equalIgnoring(const Json& a, const Json& b, const FieldSet* ignored) {
  if (!ignored || !a.is_object() || !b.is_object()) return a == b;
  size_t kept = 0;
  for (const auto& [key, av] : a.items()) {
    PathElement pe = fieldElement(key);
    if (isIgnored(ignored, pe)) continue;
    ++kept;
    auto bit = b.find(key);
    if (bit == b.end() || !equalIgnoring(av, *bit, ignoredBelow(ignored, pe))) return false;
  }
  size_t b_kept = 0;
  for (const auto& [key, bv] : b.items())
    if (!isIgnored(ignored, fieldElement(key))) ++b_kept;
  return kept == b_kept;
}

class Walker {
 public:
  Walker(const Schemas& schemas, TypeCache& types) : schemas_(schemas), types_(types) {}

  // The type of the node whose (unresolved) schema is `s`; nullptr: deduced.
  const Type& typeOf(const Json* s) const {
    static const Type kDeduced;
    if (!s || !s->is_object()) return kDeduced;
    {
      std::lock_guard lock(types_.mu);
      if (auto it = types_.by_schema.find(s); it != types_.by_schema.end()) return it->second;
    }
    Type t = readType(*s);
    std::lock_guard lock(types_.mu);
    return types_.by_schema.try_emplace(s, std::move(t)).first->second;
  }

  // The type a schema gives, read from it.
  Type readType(const Json& s) const {
    Type t;
    const Json& r = schemas_.resolve(s);
    if (!r.is_object()) return t;
    t.def = &r;
    auto ext = [&](std::string_view key) {
      std::string_view v = stringAt(s, key);
      return v.empty() ? stringAt(r, key) : v;
    };
    const Json* props = find(r, "properties");
    const Json* values = find(r, "additionalProperties");
    std::string_view type = stringAt(r, "type");
    if (values && values->is_object()) t.values = values;
    if (props && props->is_object()) {
      t.properties = props;
      t.kind = Type::Kind::kStruct;
      t.atomic = ext("x-kubernetes-map-type") == "atomic";
    } else if (values && values->is_object()) {
      t.kind = Type::Kind::kMap;
      t.atomic = ext("x-kubernetes-map-type") == "atomic";
    } else if (type == "array" || r.contains("items")) {
      t.kind = Type::Kind::kList;
      bool own = s.contains("x-kubernetes-list-type") || s.contains("x-kubernetes-patch-strategy");
      ListSemantics l = listSemantics(own ? s : r);
      if (l.list_type == "map") {
        t.list = Type::List::kMap;
        t.keys = l.map_keys;
        if (t.keys.empty()) t.list = Type::List::kAtomic;
      } else if (l.list_type == "set") {
        t.list = Type::List::kSet;
      } else if (l.list_type.empty() && l.patch_strategy.find("merge") != std::string::npos) {
        // Upstream's conversion of schemas without a list type.
        if (!l.merge_key.empty()) {
          t.list = Type::List::kMap;
          t.keys = {l.merge_key};
        } else {
          t.list = Type::List::kSet;
        }
      }
    } else if (isScalarType(type) || r.value("x-kubernetes-int-or-string", false)) {
      t.kind = Type::Kind::kScalar;
    }
    return t;
  }

  // The unresolved schema of a struct field or map value; nullptr: deduced.
  const Json* fieldSchema(const Type& t, const std::string& name) const {
    if (t.kind == Type::Kind::kStruct)
      if (auto it = t.properties->find(name); it != t.properties->end()) return &*it;
    if (t.kind == Type::Kind::kStruct || t.kind == Type::Kind::kMap) return t.values;
    return nullptr;
  }
  bool namedField(const Type& t, const std::string& name) const {
    return t.kind == Type::Kind::kStruct && t.properties->contains(name);
  }
  const Json* itemSchema(const Type& t) const {
    if (!t.def || t.kind != Type::Kind::kList) return nullptr;
    return find(*t.def, "items");
  }
  // The schema below one path element.
  const Json* childSchema(const Type& t, const PathElement& pe) const {
    if (isFieldElement(pe)) return fieldSchema(t, std::string(fieldName(pe)));
    return itemSchema(t);
  }

  Form formOf(const Type& t, const Json* a, const Json* b) const {
    auto all = [&](auto pred) {
      for (const Json* v : {a, b})
        if (v && !v->is_null() && !pred(*v)) return false;
      return true;
    };
    switch (t.kind) {
      case Type::Kind::kScalar:
        return Form::kLeaf;
      case Type::Kind::kStruct:
      case Type::Kind::kMap:
        if (t.atomic || !all([](const Json& v) { return v.is_object(); })) return Form::kLeaf;
        return Form::kMap;
      case Type::Kind::kList:
        if (t.list == Type::List::kAtomic || !all([](const Json& v) { return v.is_array(); }))
          return Form::kLeaf;
        return Form::kList;
      case Type::Kind::kDeduced: {
        bool any_object = (a && a->is_object()) || (b && b->is_object());
        if (any_object && all([](const Json& v) { return v.is_object(); })) return Form::kMap;
        return Form::kLeaf;
      }
    }
    return Form::kLeaf;
  }

  Result<PathElement> itemElement(const Type& t, const Json& item, int index, const FieldPath& path) const {
    if (t.list == Type::List::kSet) return valueElement(item);
    if (t.list == Type::List::kAtomic) return indexElement(index);
    auto fail = [&](const std::string& why) -> Status {
      return Status(Code::kBadRequest, fmt::format("{}: element {}: {}", pathString(path), index, why));
    };
    if (!item.is_object()) return fail("associative list with keys may not have non-map elements");
    Json key = Json::object();
    for (const auto& k : t.keys) {
      if (auto it = item.find(k); it != item.end()) {
        key[k] = *it;
        continue;
      }
      const Json* item_schema = itemSchema(t);
      const Json* field = item_schema ? fieldSchema(typeOf(item_schema), k) : nullptr;
      const Json* def = field ? find(*field, "default") : nullptr;
      if (!def && field) def = find(schemas_.resolve(*field), "default");
      if (!def)
        return fail(
            fmt::format("associative list with keys has an element that omits key field \"{}\" (and doesn't "
                        "have default value)",
                        k));
      key[k] = *def;
    }
    return keyElement(key);
  }

  // Items of a granular list with their path elements.
  struct Item {
    PathElement pe;
    const Json* value;
  };
  Result<std::vector<Item>> items(const Type& t, const Json* list, const FieldPath& path) const {
    std::vector<Item> out;
    if (!list || !list->is_array()) return out;
    out.reserve(list->size());
    for (size_t i = 0; i < list->size(); ++i) {
      auto pe = itemElement(t, (*list)[i], static_cast<int>(i), path);
      if (!pe) return pe.status();
      out.push_back({std::move(*pe), &(*list)[i]});
    }
    return out;
  }

  Status toFieldSet(const Json& v, const Json* schema, FieldPath& path, FieldSet& set,
                    bool allow_dups) const {
    const Type& t = typeOf(schema);
    switch (formOf(t, &v, nullptr)) {
      case Form::kLeaf:
        set.insert(path);
        return Status::ok();
      case Form::kList: {
        auto its = items(t, &v, path);
        if (!its) return its.status();
        std::unordered_map<PathElement, int> count;
        for (const auto& it : *its) ++count[it.pe];
        const Json* item_schema = itemSchema(t);
        for (const auto& it : *its) {
          path.push_back(it.pe);
          if (count[it.pe] > 1) {
            if (!allow_dups) {
              Status st(Code::kBadRequest,
                        fmt::format("{}: duplicate entries for key {}",
                                    pathString({path.begin(), path.end() - 1}), pathString({it.pe})));
              path.pop_back();
              return st;
            }
            set.insert(path);
          } else {
            if (auto st = toFieldSet(*it.value, item_schema, path, set, allow_dups); !st) {
              path.pop_back();
              return st;
            }
            set.insert(path);
          }
          path.pop_back();
        }
        return Status::ok();
      }
      case Form::kMap: {
        if (!v.is_object()) return Status::ok();
        for (const auto& [key, val] : v.items()) {
          path.push_back(fieldElement(key));
          if (auto st = toFieldSet(val, fieldSchema(t, key), path, set, allow_dups); !st) {
            path.pop_back();
            return st;
          }
          if (val.is_null() || (val.is_object() && val.empty()) || !namedField(t, key)) set.insert(path);
          path.pop_back();
        }
        return Status::ok();
      }
    }
    return Status::ok();
  }

  // `ignored`: the ignored fields below this node (nullptr: none).
  Status compare(const Json* lhs, const Json* rhs, const Json* schema, const FieldSet* ignored,
                 FieldPath& path, Comparison& c) const {
    if (!lhs && !rhs) return Status::ok();
    // An unchanged value adds nothing to the comparison.
    if (lhs && rhs && !ignored && (lhs == rhs || *lhs == *rhs)) return Status::ok();
    const Type& t = typeOf(schema);
    Form form = formOf(t, lhs, rhs);
    if (form == Form::kLeaf || (emptyOrNull(lhs, ignored) && emptyOrNull(rhs, ignored))) {
      if (!lhs)
        c.added.insert(path);
      else if (!rhs)
        c.removed.insert(path);
      else if (!equalIgnoring(*lhs, *rhs, ignored))
        c.modified.insert(path);
      return Status::ok();
    }
    if (form == Form::kList) {
      if (auto st = compareList(t, lhs, rhs, path, c); !st) return st;
    } else {
      static const Json kEmpty = Json::object();
      const Json& l = lhs && lhs->is_object() ? *lhs : kEmpty;
      const Json& r = rhs && rhs->is_object() ? *rhs : kEmpty;
      auto one = [&](const std::string& key, const Json* lv, const Json* rv) -> Status {
        PathElement pe = fieldElement(key);
        if (isIgnored(ignored, pe)) return Status::ok();
        const FieldSet* below = ignoredBelow(ignored, pe);
        path.push_back(std::move(pe));
        auto st = compare(lv, rv, fieldSchema(t, key), below, path, c);
        path.pop_back();
        return st;
      };
      for (const auto& [key, lv] : l.items()) {
        auto rit = r.find(key);
        if (auto st = one(key, &lv, rit == r.end() ? nullptr : &*rit); !st) return st;
      }
      for (const auto& [key, rv] : r.items()) {
        if (l.contains(key)) continue;
        if (auto st = one(key, nullptr, &rv); !st) return st;
      }
    }
    if (!lhs)
      c.added.insert(path);
    else if (!rhs)
      c.removed.insert(path);
    return Status::ok();
  }

  Status compareList(const Type& t, const Json* lhs, const Json* rhs, FieldPath& path, Comparison& c) const {
    auto l = items(t, lhs, path);
    if (!l) return l.status();
    auto r = items(t, rhs, path);
    if (!r) return r.status();
    // Every element once, in order of first appearance; values per side.
    std::vector<PathElement> order;
    std::unordered_map<PathElement, std::pair<std::vector<const Json*>, std::vector<const Json*>>> by_pe;
    for (const auto& it : *l) {
      auto& e = by_pe[it.pe];
      if (e.first.empty() && e.second.empty()) order.push_back(it.pe);
      e.first.push_back(it.value);
    }
    for (const auto& it : *r) {
      auto& e = by_pe[it.pe];
      if (e.first.empty() && e.second.empty()) order.push_back(it.pe);
      e.second.push_back(it.value);
    }
    const Json* item_schema = itemSchema(t);
    for (const auto& pe : order) {
      const auto& [lv, rv] = by_pe[pe];
      path.push_back(pe);
      Status st = Status::ok();
      if (lv.size() <= 1 && rv.size() <= 1) {
        st = compare(lv.empty() ? nullptr : lv[0], rv.empty() ? nullptr : rv[0], item_schema, nullptr, path,
                     c);
      } else if (lv.size() >= 2 && rv.size() >= 2) {
        bool equal = lv.size() == rv.size();
        for (size_t i = 0; equal && i < lv.size(); ++i) equal = *lv[i] == *rv[i];
        if (!equal) c.modified.insert(path);
      } else if (lv.size() >= 2) {
        if (!rv.empty()) st = compare(nullptr, rv[0], item_schema, nullptr, path, c);
        c.removed.insert(path);
      } else {
        if (!lv.empty()) st = compare(lv[0], nullptr, item_schema, nullptr, path, c);
        c.added.insert(path);
      }
      path.pop_back();
      if (!st) return st;
    }
    return Status::ok();
  }

  Result<std::optional<Json>> merge(const Json* lhs, const Json* rhs, const Json* schema,
                                    FieldPath& path) const {
    if (!lhs && !rhs) return std::optional<Json>();
    const Type& t = typeOf(schema);
    Form form = formOf(t, lhs, rhs);
    if (form == Form::kLeaf || (emptyOrNull(lhs) && emptyOrNull(rhs)))
      return std::optional<Json>(rhs ? *rhs : *lhs);
    if (form == Form::kList) return mergeList(t, lhs, rhs, path);
    static const Json kEmpty = Json::object();
    const Json& l = lhs && lhs->is_object() ? *lhs : kEmpty;
    const Json& r = rhs && rhs->is_object() ? *rhs : kEmpty;
    Json out = Json::object();
    auto one = [&](const std::string& key, const Json* lv, const Json* rv) -> Status {
      if (rv && rv->is_null()) return Status::ok();  // an applied null removes the field
      path.push_back(fieldElement(key));
      auto m = merge(lv, rv, fieldSchema(t, key), path);
      path.pop_back();
      if (!m) return m.status();
      if (*m) out[key] = std::move(**m);
      return Status::ok();
    };
    for (const auto& [key, lv] : l.items()) {
      auto rit = r.find(key);
      if (auto st = one(key, &lv, rit == r.end() ? nullptr : &*rit); !st) return st;
    }
    for (const auto& [key, rv] : r.items())
      if (!l.contains(key))
        if (auto st = one(key, nullptr, &rv); !st) return st;
    if (out.empty()) return std::optional<Json>();
    return std::optional<Json>(std::move(out));
  }

  // Items keyed on both sides merge; the order is config's for the items it
  // names, with live's other items kept where they were relative to them
  // (structured-merge-diff's merge order).
  Result<std::optional<Json>> mergeList(const Type& t, const Json* lhs, const Json* rhs,
                                        FieldPath& path) const {
    auto lr = items(t, lhs, path);
    if (!lr) return lr.status();
    auto rr = items(t, rhs, path);
    if (!rr) return rr.status();
    const auto& L = *lr;
    const auto& R = *rr;
    std::unordered_map<PathElement, const Json*> lhs_value;  // nullptr for duplicated live items
    for (const auto& it : L) {
      auto [pos, fresh] = lhs_value.emplace(it.pe, it.value);
      if (!fresh) pos->second = nullptr;
    }
    std::unordered_map<PathElement, const Json*> rhs_value;
    for (const auto& it : R) {
      if (!rhs_value.emplace(it.pe, it.value).second) {
        return Status(Code::kBadRequest,
                      fmt::format("{}: duplicate entries for key {}", pathString(path), pathString({it.pe})));
      }
    }
    std::vector<const PathElement*> shared;
    for (const auto& it : R)
      if (lhs_value.contains(it.pe)) shared.push_back(&it.pe);
    size_t next_shared_index = 0;
    const PathElement* next_shared = nullptr;
    auto advance = [&] {
      next_shared = next_shared_index < shared.size() ? shared[next_shared_index++] : nullptr;
    };
    advance();
    static const Json kNull;
    const Json* item_schema = itemSchema(t);
    Json out = Json::array();
    std::unordered_map<PathElement, bool> merged_rhs;
    auto emit = [&](const PathElement& pe, const Json* lv, const Json* rv) -> Status {
      path.push_back(pe);
      auto m = merge(lv, rv, item_schema, path);
      path.pop_back();
      if (!m) return m.status();
      if (*m) out.push_back(std::move(**m));
      return Status::ok();
    };
    auto live_of = [&](const PathElement& pe) -> const Json* {
      auto it = lhs_value.find(pe);
      if (it == lhs_value.end()) return nullptr;
      return it->second ? it->second : &kNull;
    };
    size_t li = 0, ri = 0;
    while (li < L.size() || ri < R.size()) {
      if (li < L.size() && ri < R.size()) {
        const PathElement& pe = L[li].pe;
        if (pe == R[ri].pe) {
          merged_rhs[pe] = true;
          if (auto st = emit(pe, live_of(pe), R[ri].value); !st) return st;
          ++li;
          ++ri;
          advance();
          continue;
        }
        if (rhs_value.contains(pe) && next_shared && *next_shared != pe) {
          ++li;  // a shared item, emitted when config reaches it
          continue;
        }
      }
      if (li < L.size()) {
        const PathElement& pe = L[li].pe;
        if (!rhs_value.contains(pe)) {
          if (auto st = emit(pe, L[li].value, nullptr); !st) return st;
          ++li;
          continue;
        }
        if (merged_rhs.contains(pe)) ++li;
      }
      if (ri < R.size()) {
        const PathElement& pe = R[ri].pe;
        merged_rhs[pe] = true;
        if (auto st = emit(pe, live_of(pe), R[ri].value); !st) return st;
        ++ri;
        if (next_shared && *next_shared == pe) advance();
      }
    }
    if (out.empty()) return std::optional<Json>();
    return std::optional<Json>(std::move(out));
  }

  std::optional<Json> removeItems(const Json& v, const FieldSet& set, const Json* schema,
                                  FieldPath& path) const {
    const Type& t = typeOf(schema);
    Form form = formOf(t, &v, nullptr);
    if (form == Form::kLeaf || emptyOrNull(&v)) return v;
    if (form == Form::kList) {
      Json out = Json::array();
      const Json* item_schema = itemSchema(t);
      for (size_t i = 0; i < v.size(); ++i) {
        auto pe = itemElement(t, v[i], static_cast<int>(i), path);
        if (!pe) {
          out.push_back(v[i]);
          continue;
        }
        if (set.members().contains(*pe)) continue;
        const FieldSet& sub = set.child(*pe);
        if (sub.empty()) {
          out.push_back(v[i]);
          continue;
        }
        path.push_back(*pe);
        auto kept = removeItems(v[i], sub, item_schema, path);
        path.pop_back();
        if (kept) out.push_back(std::move(*kept));
      }
      if (out.empty()) return std::nullopt;
      return out;
    }
    Json out = Json::object();
    for (const auto& [key, val] : v.items()) {
      PathElement pe = fieldElement(key);
      if (set.members().contains(pe)) continue;
      const FieldSet& sub = set.child(pe);
      if (sub.empty()) {
        out[key] = val;
        continue;
      }
      path.push_back(pe);
      auto kept = removeItems(val, sub, fieldSchema(t, key), path);
      path.pop_back();
      if (kept) out[key] = std::move(*kept);
    }
    if (out.empty()) return std::nullopt;
    return out;
  }

  FieldSet ensureNamedFieldsAreMembers(const FieldSet& set, const Json* schema) const {
    const Type& t = typeOf(schema);
    FieldSet out;
    for (const auto& m : set.members()) out.addMember(m);
    for (const auto& [pe, sub] : set.children()) {
      if (isFieldElement(pe) && namedField(t, std::string(fieldName(pe)))) out.addMember(pe);
      out.addChild(pe, ensureNamedFieldsAreMembers(sub, childSchema(t, pe)));
    }
    return out;
  }

  Json zeroValue(const Json* schema, int depth) const {
    const Type& t = typeOf(schema);
    Json out = Json::object();
    if (t.kind != Type::Kind::kStruct || depth > 16) return out;
    std::set<std::string> required;
    if (const Json* req = find(*t.def, "required"); req && req->is_array())
      for (const auto& r : *req)
        if (r.is_string()) required.insert(r.get<std::string>());
    for (const auto& [name, prop] : (*t.def)["properties"].items()) {
      const Json* def = find(prop, "default");
      if (def && def->is_object() && def->empty())
        out[name] = zeroValue(&prop, depth + 1);
      else if (required.contains(name))
        out[name] = nullptr;
    }
    return out;
  }

 private:
  const Schemas& schemas_;
  TypeCache& types_;
};

}  // namespace

TypedObjects::TypedObjects(const Schemas& schemas, std::string root_definition)
    : schemas_(schemas), types_(std::make_unique<structured_merge_detail::TypeCache>()) {
  if (!root_definition.empty() && schemas.definition(root_definition)) {
    root_ = Json{{"$ref", std::string(kSchemaRefPrefix) + root_definition}};
  } else {
    // A kind without a schema: metadata is ObjectMeta, the rest untyped.
    root_ = {{"type", "object"},
             {"x-kubernetes-preserve-unknown-fields", true},
             {"properties",
              {{"apiVersion", {{"type", "string"}}},
               {"kind", {{"type", "string"}}},
               {"metadata", {{"$ref", std::string(kSchemaRefPrefix) + std::string(kObjectMeta)}}}}}};
  }
  zero_ = Walker(schemas_, *types_).zeroValue(&root_, 0);
}

TypedObjects::~TypedObjects() = default;

Result<FieldSet> TypedObjects::toFieldSet(const Json& obj, bool allow_duplicates) const {
  FieldSet set;
  FieldPath path;
  if (auto st = Walker(schemas_, *types_).toFieldSet(obj, &root_, path, set, allow_duplicates); !st)
    return st;
  return set;
}

Result<Comparison> TypedObjects::compare(const Json* lhs, const Json* rhs, const FieldSet& ignored) const {
  Comparison c;
  FieldPath path;
  if (auto st =
          Walker(schemas_, *types_).compare(lhs, rhs, &root_, ignored.empty() ? nullptr : &ignored, path, c);
      !st)
    return st;
  return c;
}

Result<Json> TypedObjects::merge(const Json& live, const Json& config) const {
  FieldPath path;
  auto m = Walker(schemas_, *types_).merge(&live, &config, &root_, path);
  if (!m) return m.status();
  return m->value_or(Json::object());
}

Json TypedObjects::removeItems(const Json& obj, const FieldSet& set) const {
  FieldPath path;
  return Walker(schemas_, *types_).removeItems(obj, set, &root_, path).value_or(Json::object());
}

FieldSet TypedObjects::ensureNamedFieldsAreMembers(const FieldSet& set) const {
  return Walker(schemas_, *types_).ensureNamedFieldsAreMembers(set, &root_);
}

}  // namespace capstan::api
