#include "controllers/node_fit.h"

#include <charconv>

#include "controllers/object_fields.h"

namespace capstan::controllers {
namespace {

bool inValues(const Json& values, const std::string& v) {
  if (!values.is_array()) return false;
  for (const auto& x : values)
    if (x.is_string() && x.get_ref<const std::string&>() == v) return true;
  return false;
}

bool toInt(const std::string& s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

bool requirementMatches(const Json& req, const Json& labels) {
  std::string key = stringField(req, "key");
  std::string op = stringField(req, "operator");
  const Json values = req.is_object() && req.contains("values") ? req["values"] : Json::array();
  bool has = labels.is_object() && labels.contains(key) && labels[key].is_string();
  std::string v = has ? labels[key].get<std::string>() : "";
  if (op == "In") return has && inValues(values, v);
  if (op == "NotIn") return !has || !inValues(values, v);
  if (op == "Exists") return has;
  if (op == "DoesNotExist") return !has;
  if (op == "Gt" || op == "Lt") {
    int64_t a = 0, b = 0;
    if (!has || !values.is_array() || values.size() != 1 || !values[0].is_string()) return false;
    if (!toInt(v, &a) || !toInt(values[0].get<std::string>(), &b)) return false;
    return op == "Gt" ? a > b : a < b;
  }
  return false;
}

bool termMatches(const Json& term, const Json& node) {
  const Json& exprs = arrayField(term, "matchExpressions");
  const Json& fields = arrayField(term, "matchFields");
  if (exprs.empty() && fields.empty()) return false;  // an empty term matches nothing
  for (const auto& r : exprs)
    if (!requirementMatches(r, labelsOf(node))) return false;
  Json node_fields = {{"metadata.name", stringField(metadataOf(node), "name")}};
  for (const auto& r : fields) {
    if (stringField(r, "key") != "metadata.name") return false;
    if (!requirementMatches(r, node_fields)) return false;
  }
  return true;
}

}  // namespace

bool matchesNodeSelector(const Json& pod_spec, const Json& node) {
  const Json& labels = labelsOf(node);
  for (const auto& [k, v] : objectField(pod_spec, "nodeSelector").items())
    if (!v.is_string() || stringField(labels, k) != v.get<std::string>() || !labels.contains(k)) return false;
  return true;
}

bool matchesRequiredNodeAffinity(const Json& pod_spec, const Json& node) {
  const Json& required = objectField(objectField(objectField(pod_spec, "affinity"), "nodeAffinity"),
                                     "requiredDuringSchedulingIgnoredDuringExecution");
  if (!required.contains("nodeSelectorTerms")) return true;
  for (const auto& term : arrayField(required, "nodeSelectorTerms"))
    if (termMatches(term, node)) return true;
  return false;
}

bool tolerates(const Json& tolerations, const Json& taint) {
  std::string key = stringField(taint, "key"), value = stringField(taint, "value"),
              effect = stringField(taint, "effect");
  if (!tolerations.is_array()) return false;
  for (const auto& t : tolerations) {
    std::string te = stringField(t, "effect");
    if (!te.empty() && te != effect) continue;
    std::string tk = stringField(t, "key");
    std::string op = stringField(t, "operator", "Equal");
    if (tk.empty() && op == "Exists") return true;
    if (tk != key) continue;
    if (op == "Exists" || (op == "Equal" && stringField(t, "value") == value)) return true;
  }
  return false;
}

const Json* untoleratedTaint(const Json& pod_spec, const Json& node, const std::string& effect) {
  const Json& tolerations = arrayField(pod_spec, "tolerations");
  for (const auto& taint : arrayField(specOf(node), "taints"))
    if (stringField(taint, "effect") == effect && !tolerates(tolerations, taint)) return &taint;
  return nullptr;
}

}  // namespace capstan::controllers
