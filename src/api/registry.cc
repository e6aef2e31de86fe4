#include "api/registry.h"

#include <algorithm>

namespace capstan::api {

std::string ResourceInfo::storePrefix() const {
  return "/registry/" + (group.empty() ? std::string("core") : group) + "/" + resource + "/";
}

std::string ResourceInfo::storeKey(std::string_view ns, std::string_view name) const {
  std::string k = storePrefix();
  if (namespaced) {
    k += ns;
    k += '/';
  }
  k += name;
  return k;
}

std::string ResourceInfo::qualifiedResource() const {
  return group.empty() ? resource : resource + "." + group;
}

void Registry::add(ResourceInfo info) { resources_.push_back(std::move(info)); }

const ResourceInfo* Registry::find(std::string_view group, std::string_view version,
                                   std::string_view resource) const {
  for (const auto& r : resources_)
    if (r.group == group && r.version == version && r.resource == resource) return &r;
  return nullptr;
}

const ResourceInfo* Registry::findKind(std::string_view group, std::string_view version,
                                       std::string_view kind) const {
  for (const auto& r : resources_)
    if (r.group == group && r.version == version && r.kind == kind) return &r;
  return nullptr;
}

std::vector<GroupVersion> Registry::groupVersions() const {
  std::vector<GroupVersion> out;
  for (const auto& r : resources_) {
    GroupVersion gv = r.gv();
    if (std::find(out.begin(), out.end(), gv) == out.end()) out.push_back(gv);
  }
  return out;
}

std::vector<const ResourceInfo*> Registry::resourcesOf(const GroupVersion& gv) const {
  std::vector<const ResourceInfo*> out;
  for (const auto& r : resources_)
    if (r.gv() == gv) out.push_back(&r);
  return out;
}

const Json* atPath(const Json& obj, std::string_view dotted) {
  const Json* cur = &obj;
  size_t start = 0;
  while (start <= dotted.size()) {
    size_t dot = dotted.find('.', start);
    std::string_view part = dotted.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return cur;
}

Json* atPath(Json& obj, std::string_view dotted, bool create) {
  Json* cur = &obj;
  size_t start = 0;
  for (;;) {
    size_t dot = dotted.find('.', start);
    std::string part(dotted.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (cur->is_null() && create) *cur = Json::object();
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(part);
    if (it == cur->end()) {
      if (!create) return nullptr;
      cur = &(*cur)[part];
    } else {
      cur = &*it;
    }
    if (dot == std::string_view::npos) return cur;
    start = dot + 1;
  }
}

std::optional<std::string> selectableFieldValue(const ResourceInfo& info, const Json& obj, std::string_view field) {
  bool ok = field == "metadata.name" || field == "metadata.namespace" ||
            std::find(info.selectable_fields.begin(), info.selectable_fields.end(), field) !=
                info.selectable_fields.end();
  if (!ok) return std::nullopt;
  const Json* v = atPath(obj, field);
  if (!v || v->is_null()) return std::string();
  if (v->is_string()) return v->get<std::string>();
  if (v->is_boolean()) return std::string(v->get<bool>() ? "true" : "false");
  return v->dump();
}

}  // namespace capstan::api
