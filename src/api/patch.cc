#include "api/patch.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>

#include "api/schema.h"

namespace capstan::api {
namespace {

constexpr std::string_view kSetElementOrder = "$setElementOrder/";
constexpr std::string_view kDeleteFromPrimitiveList = "$deleteFromPrimitiveList/";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kPatch = "$patch";

// Lists of primitives merged as sets (patchStrategy: merge without a key).
bool isMergedPrimitiveList(std::string_view field) { return field == "finalizers"; }

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The $patch directive of a map: "", replace, delete or merge.
Result<std::string> directiveOf(const Json& j) {
  if (!j.is_object()) return std::string();
  auto it = j.find(kPatch);
  if (it == j.end()) return std::string();
  if (!it->is_string()) return Status(Code::kBadRequest, "invalid patch: $patch must be a string");
  std::string d = it->get<std::string>();
  if (d != "replace" && d != "delete" && d != "merge")
    return Status(Code::kBadRequest, "invalid patch: unknown patch type: " + d + " in map");
  return d;
}

// Removes directive keys from a patch fragment that is inserted as a whole.
Json stripDirectives(const Json& j) {
  if (j.is_object()) {
    Json out = Json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (startsWith(it.key(), "$")) continue;
      out[it.key()] = stripDirectives(it.value());
    }
    return out;
  }
  if (j.is_array()) {
    Json out = Json::array();
    for (const auto& e : j) {
      if (e.is_object() && e.contains(kPatch)) continue;
      out.push_back(stripDirectives(e));
    }
    return out;
  }
  return j;
}

// Where a merge is in the kind's schema: the resolved schema of the value
// being merged, or none (a kind or field without a schema, where the merge
// keys of the built-in kinds are looked up by field name instead).
struct At {
  const Schemas* schemas = nullptr;
  const Json* schema = nullptr;

  // The (unresolved) schema of property `field`, where list extensions sit.
  const Json* rawProperty(std::string_view field) const {
    if (!schemas || !schema) return nullptr;
    const Json* props = find(*schema, "properties");
    if (!props || !props->is_object()) return nullptr;
    auto it = props->find(std::string(field));
    return it == props->end() ? nullptr : &*it;
  }
  At property(std::string_view field) const {
    const Json* raw = rawProperty(field);
    if (raw) return {schemas, &schemas->resolve(*raw)};
    // A map's values share one schema.
    if (schemas && schema)
      if (const Json* values = schemas->mapValues(*schema)) return {schemas, values};
    return {schemas, nullptr};
  }
  At items(const Json* raw) const { return {schemas, raw && schemas ? schemas->items(*raw) : nullptr}; }
};

Result<Json> mergeValue(const Json* original, const Json& patch, std::string_view field, At at, const Json* raw);

// Orders a merged list as upstream does: the items the patch names, in
// the patch's order ($setElementOrder, else the patch list itself),
// interleaved with the server-only items, which keep their places relative
// to the items the server already had.
Json normalizeOrder(const Json& merged, const std::vector<Json>& patch_order, const Json& original,
                    const std::function<Json(const Json&)>& keyOf) {
  auto indexIn = [&](const std::vector<Json>& keys, const Json& k) -> long {
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i] == k) return static_cast<long>(i);
    return -1;
  };
  std::vector<Json> server_order;
  if (original.is_array())
    for (const auto& e : original) server_order.push_back(keyOf(e));
  std::vector<Json> in_patch, server_only;
  for (const auto& e : merged) (indexIn(patch_order, keyOf(e)) >= 0 ? in_patch : server_only).push_back(e);
  std::stable_sort(in_patch.begin(), in_patch.end(), [&](const Json& a, const Json& b) {
    return indexIn(patch_order, keyOf(a)) < indexIn(patch_order, keyOf(b));
  });
  Json out = Json::array();
  size_t i = 0, j = 0;
  while (i < in_patch.size() || j < server_only.size()) {
    if (i >= in_patch.size()) {
      out.push_back(server_only[j++]);
    } else if (j >= server_only.size()) {
      out.push_back(in_patch[i++]);
    } else {
      long li = indexIn(server_order, keyOf(in_patch[i]));
      long ri = indexIn(server_order, keyOf(server_only[j]));
      if (li >= 0 && ri >= 0 && ri < li) out.push_back(server_only[j++]);
      else out.push_back(in_patch[i++]);  // not both known: the patch's item first
    }
  }
  return out;
}

Result<Json> mergeList(const Json& original, const Json& patch, std::string_view field, const Json* order, At at,
                       const Json* raw) {
  // A {"$patch": "replace"} element replaces the whole list with the rest.
  for (const auto& e : patch) {
    auto d = directiveOf(e);
    if (!d) return d.status();
    if (*d == "replace") return stripDirectives(patch);
  }

  Json sample = !patch.empty() ? patch.front() : (!original.empty() ? original.front() : Json());
  if (order && order->is_array() && !order->empty() && patch.empty()) sample = order->front();
  bool primitive = !sample.is_object();
  // With a schema, the list's own patch strategy and merge key decide;
  // without, the built-in kinds' keys by field name.
  std::optional<ListSemantics> sem;
  if (raw) sem = listSemantics(*raw);
  bool merged_strategy = sem && sem->patch_strategy.find("merge") != std::string::npos;
  if (primitive) {
    if (sem ? !merged_strategy : !isMergedPrimitiveList(field)) return patch;
    Json out = original.is_array() ? original : Json::array();
    for (const auto& v : patch)
      if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    std::vector<Json> patch_order;
    for (const auto& v : (order && order->is_array()) ? *order : patch) patch_order.push_back(v);
    return normalizeOrder(out, patch_order, original, [](const Json& v) { return v; });
  }
  std::string key = sem ? (merged_strategy ? sem->merge_key : "") : mergeKeyOf(field, sample);
  if (key.empty()) return stripDirectives(patch);
  const At element = at.items(raw);

  Json out = original.is_array() ? original : Json::array();
  std::vector<Json> patch_order;
  for (const auto& pe : patch) {
    if (!pe.is_object() || !pe.contains(key)) {
      Status st(Code::kBadRequest, "map: " + pe.dump() + " does not contain declared merge key: " + key);
      return st;
    }
    const Json& kv = pe[key];
    auto d = directiveOf(pe);
    if (!d) return d.status();
    auto same = [&](const Json& oe) { return oe.is_object() && oe.contains(key) && oe[key] == kv; };
    if (*d == "delete") {
      // Every entry with the key goes (duplicates are allowed, e.g. env).
      Json kept = Json::array();
      for (auto& oe : out)
        if (!same(oe)) kept.push_back(std::move(oe));
      out = std::move(kept);
      continue;
    }
    patch_order.push_back(kv);
    auto it = std::find_if(out.begin(), out.end(), same);
    if (it == out.end()) {
      out.push_back(stripDirectives(pe));
    } else {
      auto merged = mergeValue(&*it, pe, "", element, nullptr);
      if (!merged) return merged;
      *it = std::move(*merged);
    }
  }
  if (order && order->is_array()) {
    patch_order.clear();
    for (const auto& o : *order)
      if (o.is_object() && o.contains(key)) patch_order.push_back(o[key]);
  }
  auto keyOf = [&key](const Json& e) { return e.is_object() && e.contains(key) ? e[key] : Json(); };
  return normalizeOrder(out, patch_order, original, keyOf);
}

Result<Json> mergeObject(const Json& original, const Json& patch, At at) {
  auto d = directiveOf(patch);
  if (!d) return d.status();
  if (*d == "replace") return stripDirectives(patch);
  if (*d == "delete") return Json::object();  // upstream leaves an empty map
  Json out = original.is_object() ? original : Json::object();
  std::map<std::string, const Json*> orders;
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    if (startsWith(k, kSetElementOrder)) {
      orders[k.substr(kSetElementOrder.size())] = &it.value();
    } else if (startsWith(k, kDeleteFromPrimitiveList)) {
      std::string field = k.substr(kDeleteFromPrimitiveList.size());
      if (out.contains(field) && out[field].is_array() && it.value().is_array()) {
        Json kept = Json::array();
        for (const auto& v : out[field])
          if (std::find(it.value().begin(), it.value().end(), v) == it.value().end()) kept.push_back(v);
        out[field] = std::move(kept);
      }
    }
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    if (startsWith(k, "$")) continue;
    const Json& pv = it.value();
    if (pv.is_null()) {
      out.erase(k);
      continue;
    }
    const Json* ov = out.contains(k) ? &out[k] : nullptr;
    const Json* raw = at.rawProperty(k);
    Result<Json> merged = (pv.is_array() && ov && ov->is_array())
                              ? mergeList(*ov, pv, k, orders.count(k) ? orders[k] : nullptr, at.property(k), raw)
                              : mergeValue(ov, pv, k, at.property(k), raw);
    if (!merged) return merged;
    out[k] = std::move(*merged);
  }
  // A list that only got a new order.
  for (const auto& [field, order] : orders) {
    if (patch.contains(field) || !out.contains(field) || !out[field].is_array()) continue;
    auto r = mergeList(out[field], Json::array(), field, order, at.property(field), at.rawProperty(field));
    if (!r) return r;
    out[field] = std::move(*r);
  }
  if (patch.contains(kRetainKeys) && !patch[kRetainKeys].is_array())
    return Status(Code::kBadRequest, "invalid patch: $retainKeys must be a list of strings");
  if (patch.contains(kRetainKeys) && patch[kRetainKeys].is_array()) {
    const Json& keep = patch[kRetainKeys];
    for (auto it = patch.begin(); it != patch.end(); ++it)
      if (!startsWith(it.key(), "$") && !it.value().is_null() && std::find(keep.begin(), keep.end(), it.key()) == keep.end())
        return Status(Code::kBadRequest, "invalid patch: " + it.key() + " is not in the $retainKeys list");
    for (auto it = out.begin(); it != out.end();) {
      if (std::find(keep.begin(), keep.end(), it.key()) == keep.end()) it = out.erase(it);
      else ++it;
    }
  }
  return out;
}

Result<Json> mergeValue(const Json* original, const Json& patch, std::string_view field, At at, const Json* raw) {
  if (patch.is_object()) {
    if (original && original->is_object()) return mergeObject(*original, patch, at);
    return mergeObject(Json::object(), patch, at);
  }
  if (patch.is_array()) {
    if (original && original->is_array()) return mergeList(*original, patch, field, nullptr, at, raw);
    return mergeList(Json::array(), patch, field, nullptr, at, raw);
  }
  return patch;
}

}  // namespace

Json withoutDirectives(const Json& patch) { return stripDirectives(patch); }

std::string mergeKeyOf(std::string_view field, const Json& sample) {
  static const std::map<std::string_view, std::string_view> kKeys = {
      {"containers", "name"},        {"initContainers", "name"},  {"ephemeralContainers", "name"},
      {"volumes", "name"},           {"volumeMounts", "mountPath"}, {"volumeDevices", "devicePath"},
      {"env", "name"},               {"imagePullSecrets", "name"}, {"hostAliases", "ip"},
      {"conditions", "type"},        {"ownerReferences", "uid"},   {"topologySpreadConstraints", "topologyKey"},
      {"addresses", "type"},         {"podIPs", "ip"},             {"schedulingGates", "name"},
      {"resourceClaims", "name"},    {"secrets", "name"},
  };
  if (field == "ports") {
    if (sample.is_object() && sample.contains("containerPort")) return "containerPort";
    return "port";
  }
  auto it = kKeys.find(field);
  return it == kKeys.end() ? "" : std::string(it->second);
}

Result<Json> applyJsonPatch(const Json& target, const Json& patch) {
  if (!patch.is_array()) return Status(Code::kBadRequest, "json patch must be an array of operations");
  try {
    return target.patch(patch);
  } catch (const std::exception&) {
    // kube-apiserver answers a patch that does not apply (a failed test, a
    // missing path) with a generic 422 whose message leaves the cause out;
    // kubectl prints exactly "The request is invalid: <message>".
    return Status(Code::kInvalid, "the server rejected our request due to an error in our request");
  }
}

Result<Json> applyMergePatch(const Json& target, const Json& patch) {
  if (!patch.is_object()) return Status(Code::kBadRequest, "merge patch must be a JSON object");
  Json out = target;
  out.merge_patch(patch);
  return out;
}

Result<Json> applyStrategicMergePatch(const Json& target, const Json& patch, const Schemas* schemas,
                                      std::string_view root) {
  if (!patch.is_object()) return Status(Code::kBadRequest, "strategic merge patch must be a JSON object");
  At at;
  if (schemas && !root.empty())
    if (const Json* def = schemas->definition(root)) at = {schemas, def};
  return mergeObject(target, patch, at);
}

}  // namespace capstan::api
