#include "controllers/object_fields.h"

#include <cmath>

namespace capstan::controllers {

const Json& objectField(const Json& obj, std::string_view key) {
  static const Json kEmpty = Json::object();
  if (!obj.is_object()) return kEmpty;
  auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? *it : kEmpty;
}

const Json& arrayField(const Json& obj, std::string_view key) {
  static const Json kEmpty = Json::array();
  if (!obj.is_object()) return kEmpty;
  auto it = obj.find(key);
  return it != obj.end() && it->is_array() ? *it : kEmpty;
}

std::string stringField(const Json& obj, std::string_view key, std::string_view def) {
  if (!obj.is_object()) return std::string(def);
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string(def);
}

bool hasInt(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return false;
  auto it = obj.find(key);
  if (it == obj.end()) return false;
  if (it->is_number_integer()) return true;
  return it->is_number_float() && std::isfinite(it->get<double>()) &&
         std::floor(it->get<double>()) == it->get<double>() && std::fabs(it->get<double>()) < 9e18;
}

int64_t intField(const Json& obj, std::string_view key, int64_t def) {
  if (!hasInt(obj, key)) return def;
  const Json& v = *obj.find(key);
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    return u > static_cast<uint64_t>(INT64_MAX) ? def : static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return static_cast<int64_t>(v.get<double>());
}

bool boolField(const Json& obj, std::string_view key, bool def) {
  if (!obj.is_object()) return def;
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() ? it->get<bool>() : def;
}

std::optional<WallTime> timeField(const Json& obj, std::string_view key) {
  std::string s = stringField(obj, key);
  if (s.empty()) return std::nullopt;
  return parseRfc3339(s);
}

const Json& metadataOf(const Json& obj) { return objectField(obj, "metadata"); }
const Json& specOf(const Json& obj) { return objectField(obj, "spec"); }
const Json& statusOf(const Json& obj) { return objectField(obj, "status"); }
const Json& labelsOf(const Json& obj) { return objectField(metadataOf(obj), "labels"); }
bool isDeleting(const Json& obj) { return metadataOf(obj).contains("deletionTimestamp"); }

bool hasFinalizer(const Json& obj, std::string_view finalizer) {
  for (const auto& f : arrayField(metadataOf(obj), "finalizers"))
    if (f.is_string() && f.get_ref<const std::string&>() == finalizer) return true;
  return false;
}

const Json* findCondition(const Json& obj, std::string_view type) {
  for (const auto& c : arrayField(statusOf(obj), "conditions"))
    if (c.is_object() && stringField(c, "type") == type) return &c;
  return nullptr;
}

bool conditionTrue(const Json& obj, std::string_view type) {
  const Json* c = findCondition(obj, type);
  return c && stringField(*c, "status") == "True";
}

bool setCondition(Json& status, const std::string& type, const std::string& value, const std::string& reason,
                  const std::string& message, WallTime now, bool with_probe_time) {
  if (!status.is_object()) status = Json::object();
  if (!status.contains("conditions") || !status["conditions"].is_array())
    status["conditions"] = Json::array();
  std::string stamp = formatRfc3339(now);
  for (auto& c : status["conditions"]) {
    if (!c.is_object() || stringField(c, "type") != type) continue;
    if (stringField(c, "status") == value && stringField(c, "reason") == reason &&
        stringField(c, "message") == message)
      return false;
    if (stringField(c, "status") != value) c["lastTransitionTime"] = stamp;
    c["status"] = value;
    c["reason"] = reason;
    c["message"] = message;
    if (with_probe_time) c["lastProbeTime"] = stamp;
    return true;
  }
  Json c = {{"type", type},
            {"status", value},
            {"reason", reason},
            {"message", message},
            {"lastTransitionTime", stamp}};
  if (with_probe_time) c["lastProbeTime"] = stamp;
  status["conditions"].push_back(std::move(c));
  return true;
}

}  // namespace capstan::controllers
