#include <algorithm>
#include <cctype>
#include <set>

#include <fmt/format.h>

#include "apiserver/openapi.h"

namespace capstan::apiserver {
namespace {

constexpr std::string_view kMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.";

std::string refTo(std::string_view name) { return std::string(api::kSchemaRefPrefix) + std::string(name); }

// "networking.k8s.io" -> "networking", "" -> "core": the package part of
// upstream's definition names and operation ids.
std::string groupPackage(const std::string& group) {
  if (group.empty()) return "core";
  return group.substr(0, group.find('.'));
}

std::string capitalised(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

Json param(const std::string& name, const std::string& in, const std::string& description, bool required = false) {
  Json p = {{"name", name}, {"in", in}, {"description", description}, {"schema", {{"type", "string"}, {"uniqueItems", true}}}};
  if (required) p["required"] = true;
  return p;
}

Json responseOf(const std::string& schema_name) {
  Json content = Json::object();
  for (const char* type : {"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"})
    content[type] = {{"schema", {{"$ref", refTo(schema_name)}}}};
  return {{"description", "OK"}, {"content", content}};
}

Json bodyOf(const std::string& schema_name, const std::vector<std::string>& types) {
  Json content = Json::object();
  for (const auto& t : types) content[t] = {{"schema", {{"$ref", refTo(schema_name)}}}};
  return {{"content", content}, {"required", true}};
}

}  // namespace

std::string kindDefinitionName(const api::ResourceInfo& r, const api::Schemas& served) {
  std::string name = served.kindDefinition(r.group, r.version, r.kind);
  if (!name.empty()) return name;
  return fmt::format("io.k8s.api.{}.{}.{}", groupPackage(r.group), r.version, r.kind);
}

api::Schemas servedSchemas(const api::Registry& registry, const api::Schemas& schemas) {
  api::Schemas out = schemas;
  out.add(std::string(kMeta) + "Patch",
          {{"type", "object"},
           {"description", "The body of a PATCH request: a JSON patch, a JSON merge patch, a strategic merge patch "
                           "or an apply configuration, as the request's Content-Type says."}});
  for (const auto& r : registry.all()) {
    std::string name = kindDefinitionName(r, out);
    Json gvk = {{"group", r.group}, {"version", r.version}, {"kind", r.kind}};
    if (!out.definition(name)) {
      // A served kind whose schema is not written: its fields are accepted
      // as they are.
      out.add(name, {{"type", "object"},
                     {"description", fmt::format("{} ({}).", r.kind, r.apiVersion())},
                     {"x-kubernetes-group-version-kind", Json::array({gvk})},
                     {"x-kubernetes-preserve-unknown-fields", true},
                     {"properties",
                      {{"apiVersion", {{"type", "string"}, {"description", "The versioned schema of this object."}}},
                       {"kind", {{"type", "string"}, {"description", "The kind of this object."}}},
                       {"metadata", {{"allOf", Json::array({{{"$ref", refTo(std::string(kMeta) + "ObjectMeta")}}})},
                                     {"description", "The object's metadata."}}}}}});
    }
    Json list_gvk = gvk;
    list_gvk["kind"] = r.listKind();
    out.add(name + "List",
            {{"type", "object"},
             {"description", fmt::format("A list of {} objects.", r.kind)},
             {"required", Json::array({"items"})},
             {"x-kubernetes-group-version-kind", Json::array({list_gvk})},
             {"properties",
              {{"apiVersion", {{"type", "string"}, {"description", "The versioned schema of this list."}}},
               {"items", {{"type", "array"},
                          {"items", {{"$ref", refTo(name)}}},
                          {"description", fmt::format("The {} objects.", r.kind)}}},
               {"kind", {{"type", "string"}, {"description", fmt::format("{}, the kind of this list.", r.listKind())}}},
               {"metadata", {{"allOf", Json::array({{{"$ref", refTo(std::string(kMeta) + "ListMeta")}}})},
                             {"description", "The list's metadata: its resourceVersion and continue token."}}}}}});
  }
  return out;
}

Json openApiV3(const api::Registry& registry, const api::Schemas& served, const api::GroupVersion& gv) {
  Json paths = Json::object();
  std::set<std::string> wanted = {std::string(kMeta) + "Status", std::string(kMeta) + "DeleteOptions",
                                  std::string(kMeta) + "Patch"};
  const std::string gv_path = gv.group.empty() ? "/api/" + gv.version : "/apis/" + gv.group + "/" + gv.version;
  const std::string op_scope = capitalised(groupPackage(gv.group)) + capitalised(gv.version);
  const Json pretty = param("pretty", "query", "If 'true', the output is indented.");
  const Json dry_run = param("dryRun", "query", "With the value All, the request is checked but not persisted.");
  const Json field_manager = param("fieldManager", "query", "The name of the actor making the change, recorded in managedFields.");
  const Json field_validation = param(
      "fieldValidation", "query",
      "How the server treats unknown or duplicate fields in the body: Ignore drops them, Warn drops them and answers "
      "with a warning, Strict (the default) refuses the request.");
  const Json force = param("force", "query", "With server-side apply, take ownership of fields other managers own.");
  const Json name_param = param("name", "path", "The name of the object.", true);
  const Json ns_param = param("namespace", "path", "The namespace of the object.", true);
  for (const auto* r : registry.resourcesOf(gv)) {
    const std::string def = kindDefinitionName(*r, served);
    for (const auto& n : served.closure(def)) wanted.insert(n);
    for (const auto& n : served.closure(def + "List")) wanted.insert(n);
    const Json gvk = {{"group", r->group}, {"version", r->version}, {"kind", r->kind}};
    const std::string scope = r->namespaced ? "Namespaced" : "";
    auto has = [&](const char* verb) { return std::find(r->verbs.begin(), r->verbs.end(), verb) != r->verbs.end(); };
    auto op = [&](const std::string& verb, const char* action, const std::string& kind_suffix, const std::string& body,
                  Json params) {
      Json o = {{"operationId", verb + op_scope + scope + r->kind + kind_suffix},
                {"x-kubernetes-action", action},
                {"x-kubernetes-group-version-kind", gvk},
                {"parameters", std::move(params)},
                {"responses", {{"200", responseOf(body)}}}};
      return o;
    };
    const std::string base = gv_path + (r->namespaced ? "/namespaces/{namespace}/" : "/") + r->resource;
    Json common = r->namespaced ? Json::array({ns_param, pretty}) : Json::array({pretty});
    Json collection = {{"parameters", common}};
    if (has("list")) collection["get"] = op("list", "list", "", def + "List", Json::array());
    if (has("create")) {
      collection["post"] = op("create", "post", "", def, Json::array({dry_run, field_manager, field_validation}));
      collection["post"]["requestBody"] = bodyOf(def, {"*/*"});
    }
    if (has("deletecollection")) collection["delete"] = op("deletecollection", "deletecollection", "", std::string(kMeta) + "Status", Json::array());
    paths[base] = std::move(collection);

    Json item_params = common;
    item_params.insert(item_params.begin(), name_param);
    Json item = {{"parameters", item_params}};
    const std::vector<std::string> patch_types = {"application/apply-patch+yaml", "application/json-patch+json",
                                                  "application/merge-patch+json", "application/strategic-merge-patch+json"};
    auto add_rw = [&](Json& path_item, const std::string& suffix) {
      path_item["get"] = op("read", "get", suffix, def, Json::array());
      if (has("update")) {
        path_item["put"] = op("replace", "put", suffix, def, Json::array({dry_run, field_manager, field_validation}));
        path_item["put"]["requestBody"] = bodyOf(def, {"*/*"});
      }
      if (has("patch")) {
        path_item["patch"] = op("patch", "patch", suffix, def, Json::array({dry_run, field_manager, field_validation, force}));
        path_item["patch"]["requestBody"] = bodyOf(std::string(kMeta) + "Patch", patch_types);
      }
    };
    add_rw(item, "");
    if (has("delete")) {
      item["delete"] = op("delete", "delete", "", std::string(kMeta) + "Status", Json::array({dry_run}));
      item["delete"]["requestBody"] = bodyOf(std::string(kMeta) + "DeleteOptions", {"*/*"});
    }
    paths[base + "/{name}"] = std::move(item);
    if (r->has_status) {
      Json status = {{"parameters", item_params}};
      add_rw(status, "Status");
      paths[base + "/{name}/status"] = std::move(status);
    }
    if (r->has_scale) {
      // The scale subresource reads and writes autoscaling/v1 Scale.
      const std::string scale = "io.k8s.api.autoscaling.v1.Scale";
      for (const auto& n : served.closure(scale)) wanted.insert(n);
      Json s = {{"parameters", item_params}};
      s["get"] = op("read", "get", "Scale", scale, Json::array());
      s["put"] = op("replace", "put", "Scale", scale, Json::array({dry_run, field_manager, field_validation}));
      s["put"]["requestBody"] = bodyOf(scale, {"*/*"});
      s["patch"] = op("patch", "patch", "Scale", scale, Json::array({dry_run, field_manager, field_validation, force}));
      s["patch"]["requestBody"] = bodyOf(std::string(kMeta) + "Patch", patch_types);
      for (const char* m : {"get", "put", "patch"})
        s[m]["x-kubernetes-group-version-kind"] = {{"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}};
      paths[base + "/{name}/scale"] = std::move(s);
    }
  }
  Json schemas = Json::object();
  for (const auto& root : wanted)
    for (const auto& n : served.closure(root))
      if (const Json* d = served.definition(n)) schemas[n] = *d;
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "v1.31.0"}}},
          {"paths", std::move(paths)},
          {"components", {{"schemas", std::move(schemas)}}}};
}

}  // namespace capstan::apiserver
