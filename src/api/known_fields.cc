#include "api/known_fields.h"

#include <regex>
#include <type_traits>

#include <fmt/format.h>

#include "api/schema.h"

namespace capstan::api {
namespace {

constexpr std::string_view kQuantityDef = "io.k8s.apimachinery.pkg.api.resource.Quantity";
constexpr std::string_view kIntOrStringDef = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";

// resource.Quantity's syntax: a signed decimal with an optional binary
// (Ki..Ei), decimal (n u m k M G T P E) or exponent suffix.
bool isQuantity(const Json& v) {
  if (v.is_number()) return true;
  if (!v.is_string()) return false;
  static const std::regex kQuantity(R"(^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?[0-9]+)?$)");
  return std::regex_match(v.get<std::string>(), kQuantity);
}

const char* jsonTypeName(const Json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "bool";
  if (v.is_number()) return "number";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "null";
}

// "io.k8s.api.apps.v1.DeploymentSpec" -> "v1.DeploymentSpec", as Go names
// the type in decoding errors.
std::string goTypeOfDefinition(std::string_view def) {
  auto last = def.rfind('.');
  if (last == std::string_view::npos) return std::string(def);
  auto prev = def.rfind('.', last - 1);
  return std::string(def.substr(prev == std::string_view::npos ? 0 : prev + 1));
}

std::string_view viewOf(const Json& s, std::string_view key) {
  const Json* v = find(s, key);
  return v && v->is_string() ? std::string_view(v->get_ref<const std::string&>()) : std::string_view();
}

// The Go type a schema decodes into, for error messages.
std::string goType(const Json& schema) {
  if (std::string_view ref = Schemas::refName(schema); !ref.empty()) return goTypeOfDefinition(ref);
  std::string_view type = viewOf(schema, "type"), format = viewOf(schema, "format");
  if (type == "integer") return format.empty() ? "int" : std::string(format);
  if (type == "number") return "float64";
  if (type == "boolean") return "bool";
  if (type == "string") return format == "byte" ? "[]uint8" : "string";
  if (type == "array") {
    const Json* items = find(schema, "items");
    return "[]" + (items ? goType(*items) : std::string("interface {}"));
  }
  if (type == "object") {
    if (const Json* values = find(schema, "additionalProperties"); values && values->is_object())
      return "map[string]" + goType(*values);
    return "map[string]interface {}";
  }
  return "interface {}";
}

// One walk over an object along its schema, collecting unknown fields
// (dotted paths with list indices, as upstream's strict decoder reports them)
// and the first value whose JSON type the schema does not allow. Every
// request body passes through here, so paths are kept as a stack of views
// and spelled out only for the fields reported.
struct Walk {
  const Schemas& schemas;
  bool erase = false;
  std::vector<std::string> unknown;
  std::string type_error;  // set once

  struct Step {
    std::string_view key;  // a field name or map key; empty for a list index
    size_t index = 0;
    bool map_key = false;  // part of the reported path, not of Go's field path
  };
  std::vector<Step> steps;

  // "spec.template.spec.containers[0].image", plus `last` if given.
  std::string path(std::string_view last = {}) const {
    std::string out;
    for (const auto& st : steps) {
      if (st.key.empty()) {
        out += '[' + std::to_string(st.index) + ']';
        continue;
      }
      if (!out.empty()) out += '.';
      out += st.key;
    }
    if (!last.empty()) {
      if (!out.empty()) out += '.';
      out += last;
    }
    return out;
  }
  // Go's field path: struct fields only, no indices or map keys.
  std::string goPath() const {
    std::string out;
    for (const auto& st : steps) {
      if (st.key.empty() || st.map_key) continue;
      if (!out.empty()) out += '.';
      out += st.key;
    }
    return out;
  }

  template <typename JsonT>
  void value(JsonT& v, const Json& schema, std::string_view parent_type) {
    if (v.is_null()) return;  // absent, as Go's decoder treats null
    std::string_view ref = Schemas::refName(schema);
    if (ref == kQuantityDef) {
      if (!isQuantity(v) && type_error.empty())
        type_error = v.is_string() ? "quantities must match the regular expression "
                                     "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
                                   : mismatch(v, schema, parent_type);
      return;
    }
    if (ref == kIntOrStringDef) {
      if (!v.is_number_integer() && !v.is_string() && type_error.empty()) type_error = mismatch(v, schema, parent_type);
      return;
    }
    const Json& s = schemas.resolve(schema);
    if (s.is_null()) return;  // a reference to a definition we lack
    std::string_view type = viewOf(s, "type");
    bool ok = true;
    if (type == "string") ok = v.is_string();
    else if (type == "integer") ok = v.is_number_integer();
    else if (type == "number") ok = v.is_number();
    else if (type == "boolean") ok = v.is_boolean();
    else if (type == "array") ok = v.is_array();
    else if (type == "object") ok = v.is_object();
    if (!ok) {
      if (type_error.empty()) type_error = mismatch(v, schema, parent_type);
      return;
    }
    if (type == "array") {
      const Json* items = find(s, "items");
      if (!items) return;
      for (size_t i = 0; i < v.size(); ++i) {
        steps.push_back({{}, i, false});
        value(v[i], *items, parent_type);
        steps.pop_back();
      }
      return;
    }
    if (type == "object") object(v, s, ref.empty() ? parent_type : ref.substr(ref.rfind('.') + 1));
  }

  template <typename JsonT>
  void object(JsonT& v, const Json& s, std::string_view struct_name) {
    if (const Json* p = find(s, "x-kubernetes-preserve-unknown-fields"); p && p->is_boolean() && p->template get<bool>())
      return;
    if (const Json* values = find(s, "additionalProperties"); values && values->is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        steps.push_back({it.key(), 0, true});
        value(it.value(), *values, struct_name);
        steps.pop_back();
      }
      return;
    }
    const Json* props = find(s, "properties");
    if (!props || !props->is_object()) return;  // a free-form object
    std::vector<std::string> extra;
    for (auto it = v.begin(); it != v.end(); ++it) {
      auto p = props->find(it.key());
      if (p == props->end()) {
        extra.push_back(it.key());
        continue;
      }
      steps.push_back({it.key(), 0, false});
      value(it.value(), *p, struct_name);
      steps.pop_back();
    }
    for (const auto& k : extra) {
      unknown.push_back(path(k));
      if constexpr (!std::is_const_v<JsonT>) {
        if (erase) v.erase(k);
      }
    }
  }

  std::string mismatch(const Json& v, const Json& schema, std::string_view parent_type) const {
    return fmt::format("json: cannot unmarshal {} into Go struct field {}.{} of type {}", jsonTypeName(v), parent_type,
                       goPath(), goType(schema));
  }
};

// The root schema of a kind, or nullptr when it has none.
const Json* rootSchema(const ResourceInfo& info, std::string* def_name) {
  const Schemas& schemas = Schemas::builtin();
  *def_name = schemas.kindDefinition(info.group, info.version, info.kind);
  return def_name->empty() ? nullptr : schemas.definition(*def_name);
}

template <typename JsonT>
Walk walkObject(const ResourceInfo& info, JsonT& obj, bool erase) {
  Walk w{Schemas::builtin(), erase, {}, {}};
  std::string def;
  const Json* root = rootSchema(info, &def);
  if (root && obj.is_object()) w.object(obj, *root, info.kind);
  return w;
}

}  // namespace

std::vector<std::string> unknownFields(const ResourceInfo& info, const Json& obj) {
  return walkObject(info, obj, false).unknown;
}

void dropUnknownFields(const ResourceInfo& info, Json& obj) { (void)walkObject(info, obj, true); }

FieldCheck checkFields(const ResourceInfo& info, const Json& obj) {
  if (!obj.is_object()) return {Status(Code::kBadRequest, "the object must be a JSON object"), {}};
  Walk w = walkObject(info, obj, false);
  if (w.type_error.empty()) return {Status::ok(), std::move(w.unknown)};
  return {Status(Code::kBadRequest, fmt::format("{} in version \"{}\" cannot be handled as a {}: {}",
                                                info.kind, info.version, info.kind, w.type_error)),
          std::move(w.unknown)};
}

Status checkFieldTypes(const ResourceInfo& info, const Json& obj) { return checkFields(info, obj).types; }

}  // namespace capstan::api
