#include "api/schema.h"

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace capstan::api {

// Generated from src/api/schemas/*.yaml by cmake/embed_text.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& embeddedSchemaFiles();

namespace {

const Json kNull;

Json normalise(const Json& s);

Json normaliseMap(const Json& props) {
  Json out = Json::object();
  for (const auto& [k, v] : props.items()) out[k] = normalise(v);
  return out;
}

Json normalise(const Json& s) {
  if (!s.is_object()) return s;
  Json out = Json::object();
  for (const auto& [k, v] : s.items()) {
    if (k == "properties") out[k] = normaliseMap(v);
    else if (k == "items" || k == "additionalProperties") out[k] = normalise(v);
    else if (k == "$ref") continue;
    else out[k] = v;
  }
  if (auto it = s.find("$ref"); it != s.end() && it->is_string()) {
    std::string ref = it->get<std::string>();
    if (!ref.starts_with(kSchemaRefPrefix)) ref = std::string(kSchemaRefPrefix) + ref;
    if (out.empty()) return Json{{"$ref", ref}};
    out["allOf"] = Json::array({Json{{"$ref", ref}}});
  }
  return out;
}

void addKindFields(Json& def) {
  Json& props = def["properties"];
  if (!props.is_object()) props = Json::object();
  if (!props.contains("apiVersion"))
    props["apiVersion"] = {{"type", "string"},
                           {"description", "The versioned schema of this object, as group/version (v1 for the core "
                                           "group). Servers convert recognised versions to the latest one."}};
  if (!props.contains("kind"))
    props["kind"] = {{"type", "string"},
                     {"description", "The kind of object this is, in CamelCase; it names the REST resource the "
                                     "object belongs to. Cannot be updated."}};
  if (!props.contains("metadata"))
    props["metadata"] = {{"allOf", Json::array({{{"$ref", std::string(kSchemaRefPrefix) +
                                                             "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}}})},
                         {"default", Json::object()},
                         {"description", "The object's metadata: name, namespace, labels, annotations and the "
                                         "fields the server maintains."}};
}

}  // namespace

Result<Schemas> Schemas::load(const std::vector<std::pair<std::string_view, std::string_view>>& files) {
  Schemas out;
  for (const auto& [file, text] : files) {
    auto doc = parseYaml(text);
    if (!doc) return Status(Code::kInternal, fmt::format("schema file {}: {}", file, doc.status().message()));
    if (doc->is_null()) continue;
    if (!doc->is_object()) return Status(Code::kInternal, fmt::format("schema file {}: not a mapping", file));
    for (const auto& [name, raw] : doc->items()) {
      if (out.defs_.contains(name))
        return Status(Code::kInternal, fmt::format("schema file {}: {} is defined twice", file, name));
      if (!raw.is_object()) return Status(Code::kInternal, fmt::format("schema file {}: {} is not a mapping", file, name));
      Json def = normalise(raw);
      if (def.contains("x-kubernetes-group-version-kind")) addKindFields(def);
      out.add(name, std::move(def));
    }
  }
  return out;
}

const Schemas& Schemas::builtin() {
  static const Schemas kBuiltin = [] {
    auto s = load(embeddedSchemaFiles());
    if (!s) {
      std::fprintf(stderr, "capstan: embedded OpenAPI schemas are invalid: %s\n", s.status().message().c_str());
      std::abort();
    }
    return std::move(*s);
  }();
  return kBuiltin;
}

const Json* Schemas::definition(std::string_view name) const {
  auto it = defs_.find(name);  // heterogeneous lookup: no temporary string
  return it == defs_.end() ? nullptr : &*it;
}

void Schemas::add(const std::string& name, Json definition) {
  if (const Json* gvks = find(definition, "x-kubernetes-group-version-kind"); gvks && gvks->is_array())
    for (const auto& g : *gvks)
      kinds_[fmt::format("{}/{}/{}", getString(g, "group"), getString(g, "version"), getString(g, "kind"))] = name;
  defs_[name] = std::move(definition);
}

std::string Schemas::kindDefinition(std::string_view group, std::string_view version, std::string_view kind) const {
  auto it = kinds_.find(fmt::format("{}/{}/{}", group, version, kind));
  return it == kinds_.end() ? "" : it->second;
}

std::string_view Schemas::refName(const Json& schema) {
  if (!schema.is_object()) return {};
  if (auto it = schema.find("$ref"); it != schema.end() && it->is_string()) {
    std::string_view r = it->get_ref<const std::string&>();
    if (r.starts_with(kSchemaRefPrefix)) r.remove_prefix(kSchemaRefPrefix.size());
    return r;
  }
  if (auto it = schema.find("allOf"); it != schema.end() && it->is_array() && it->size() == 1)
    return refName((*it)[0]);
  return {};
}

const Json& Schemas::resolve(const Json& schema) const {
  const Json* s = &schema;
  for (int depth = 0; depth < 8; ++depth) {  // definitions that are only references
    std::string_view name = refName(*s);
    if (name.empty()) return *s;
    const Json* d = definition(name);
    if (!d) return kNull;
    s = d;
  }
  return *s;
}

const Json* Schemas::property(const Json& object_schema, std::string_view name) const {
  const Json& o = resolve(object_schema);
  const Json* props = find(o, "properties");
  if (!props || !props->is_object()) return nullptr;
  auto it = props->find(name);
  if (it == props->end()) return nullptr;
  return &resolve(*it);
}

const Json* Schemas::items(const Json& array_schema) const {
  const Json* i = find(resolve(array_schema), "items");
  return i ? &resolve(*i) : nullptr;
}

const Json* Schemas::mapValues(const Json& map_schema) const {
  const Json* v = find(resolve(map_schema), "additionalProperties");
  return v && v->is_object() ? &resolve(*v) : nullptr;
}

std::set<std::string> Schemas::closure(std::string_view name) const {
  std::set<std::string> seen;
  std::vector<std::string> todo{std::string(name)};
  while (!todo.empty()) {
    std::string n = std::move(todo.back());
    todo.pop_back();
    if (!seen.insert(n).second) continue;
    const Json* d = definition(n);
    if (!d) continue;
    // Every $ref anywhere below the definition.
    std::vector<const Json*> stack{d};
    while (!stack.empty()) {
      const Json* s = stack.back();
      stack.pop_back();
      if (s->is_object()) {
        for (const auto& [k, v] : s->items()) {
          if (k == "$ref" && v.is_string()) todo.emplace_back(refName(*s));
          else if (v.is_structured()) stack.push_back(&v);
        }
      } else if (s->is_array()) {
        for (const auto& v : *s) stack.push_back(&v);
      }
    }
  }
  return seen;
}

ListSemantics listSemantics(const Json& s) {
  ListSemantics l;
  l.list_type = getString(s, "x-kubernetes-list-type");
  l.patch_strategy = getString(s, "x-kubernetes-patch-strategy");
  l.merge_key = getString(s, "x-kubernetes-patch-merge-key");
  if (const Json* keys = find(s, "x-kubernetes-list-map-keys"); keys && keys->is_array())
    for (const auto& k : *keys)
      if (k.is_string()) l.map_keys.push_back(k.get<std::string>());
  return l;
}

}  // namespace capstan::api
