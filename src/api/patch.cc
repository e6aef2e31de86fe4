#include "api/patch.h"

#include <algorithm>
#include <map>

namespace capstan::api {
namespace {

constexpr std::string_view kSetElementOrder = "$setElementOrder/";
constexpr std::string_view kDeleteFromPrimitiveList = "$deleteFromPrimitiveList/";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kPatch = "$patch";

// Lists of primitives merged as sets (patchStrategy: merge without a key).
bool isMergedPrimitiveList(std::string_view field) { return field == "finalizers"; }

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

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

Result<Json> mergeValue(const Json* original, const Json& patch, std::string_view field);

Result<Json> mergeList(const Json& original, const Json& patch, std::string_view field, const Json* order) {
  // A {"$patch": "replace"} element replaces the whole list with the rest.
  for (const auto& e : patch)
    if (e.is_object() && e.value(std::string(kPatch), "") == "replace") return stripDirectives(patch);

  Json sample = !patch.empty() ? patch.front() : (!original.empty() ? original.front() : Json());
  bool primitive = !sample.is_object();
  if (primitive) {
    if (!isMergedPrimitiveList(field)) return patch;
    Json out = original;
    for (const auto& v : patch)
      if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    return out;
  }
  std::string key = mergeKeyOf(field, sample);
  if (key.empty()) return stripDirectives(patch);

  Json out = original.is_array() ? original : Json::array();
  for (const auto& pe : patch) {
    if (!pe.is_object() || !pe.contains(key)) {
      Status st(Code::kBadRequest, "map: " + pe.dump() + " does not contain declared merge key: " + key);
      return st;
    }
    const Json& kv = pe[key];
    auto it = std::find_if(out.begin(), out.end(), [&](const Json& oe) { return oe.is_object() && oe.contains(key) && oe[key] == kv; });
    std::string directive = pe.value(std::string(kPatch), "");
    if (directive == "delete") {
      if (it != out.end()) out.erase(it);
      continue;
    }
    if (it == out.end()) {
      out.push_back(stripDirectives(pe));
    } else {
      auto merged = mergeValue(&*it, pe, "");
      if (!merged) return merged;
      *it = std::move(*merged);
    }
  }
  if (order && order->is_array()) {
    // Items named in the order come first, in that order; others keep theirs.
    std::vector<Json> ordered, rest;
    std::vector<bool> used(out.size(), false);
    for (const auto& o : *order) {
      const Json* ok = o.is_object() && o.contains(key) ? &o[key] : nullptr;
      if (!ok) continue;
      for (size_t i = 0; i < out.size(); ++i)
        if (!used[i] && out[i].is_object() && out[i].contains(key) && out[i][key] == *ok) {
          ordered.push_back(out[i]);
          used[i] = true;
          break;
        }
    }
    for (size_t i = 0; i < out.size(); ++i)
      if (!used[i]) rest.push_back(out[i]);
    Json res = Json::array();
    for (auto& e : ordered) res.push_back(std::move(e));
    for (auto& e : rest) res.push_back(std::move(e));
    return res;
  }
  return out;
}

Result<Json> mergeObject(const Json& original, const Json& patch) {
  std::string directive = patch.value(std::string(kPatch), "");
  if (directive == "replace") return stripDirectives(patch);
  if (directive == "delete") return Json();  // caller removes
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
    Result<Json> merged = (pv.is_array() && ov && ov->is_array())
                              ? mergeList(*ov, pv, k, orders.count(k) ? orders[k] : nullptr)
                              : mergeValue(ov, pv, k);
    if (!merged) return merged;
    if (pv.is_object() && pv.value(std::string(kPatch), "") == "delete") {
      out.erase(k);
      continue;
    }
    out[k] = std::move(*merged);
  }
  // A list that only got a new order.
  for (const auto& [field, order] : orders) {
    if (patch.contains(field) || !out.contains(field) || !out[field].is_array()) continue;
    auto r = mergeList(out[field], Json::array(), field, order);
    if (!r) return r;
    out[field] = std::move(*r);
  }
  if (patch.contains(kRetainKeys) && patch[kRetainKeys].is_array()) {
    const Json& keep = patch[kRetainKeys];
    for (auto it = out.begin(); it != out.end();) {
      if (std::find(keep.begin(), keep.end(), it.key()) == keep.end()) it = out.erase(it);
      else ++it;
    }
  }
  return out;
}

Result<Json> mergeValue(const Json* original, const Json& patch, std::string_view field) {
  if (patch.is_object()) {
    if (original && original->is_object()) return mergeObject(*original, patch);
    return mergeObject(Json::object(), patch);
  }
  if (patch.is_array()) {
    if (original && original->is_array()) return mergeList(*original, patch, field, nullptr);
    return mergeList(Json::array(), patch, field, nullptr);
  }
  return patch;
}

}  // namespace

std::string mergeKeyOf(std::string_view field, const Json& sample) {
  static const std::map<std::string_view, std::string_view> kKeys = {
      {"containers", "name"},        {"initContainers", "name"},  {"ephemeralContainers", "name"},
      {"volumes", "name"},           {"volumeMounts", "mountPath"}, {"volumeDevices", "devicePath"},
      {"env", "name"},               {"imagePullSecrets", "name"}, {"hostAliases", "ip"},
      {"conditions", "type"},        {"ownerReferences", "uid"},   {"topologySpreadConstraints", "topologyKey"},
      {"addresses", "type"},         {"taints", "key"},            {"podIPs", "ip"},
      {"resourceClaims", "name"},    {"secrets", "name"},          {"containerStatuses", "name"},
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
  } catch (const std::exception& e) {
    return Status(Code::kInvalid, std::string("the server rejected our request due to an error in our request: ") + e.what());
  }
}

Result<Json> applyMergePatch(const Json& target, const Json& patch) {
  if (!patch.is_object()) return Status(Code::kBadRequest, "merge patch must be a JSON object");
  Json out = target;
  out.merge_patch(patch);
  return out;
}

Result<Json> applyStrategicMergePatch(const Json& target, const Json& patch) {
  if (!patch.is_object()) return Status(Code::kBadRequest, "strategic merge patch must be a JSON object");
  return mergeObject(target, patch);
}

}  // namespace capstan::api
