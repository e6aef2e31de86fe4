#include "agent/container_config.h"

#include <fmt/format.h>

#include <cctype>
#include <set>

#include "api/quantity.h"

namespace capstan::agent {
namespace {

// metadata.labels['app'] style paths of the downward API.
Result<std::string> fieldPathValue(const Json& pod, const std::string& path) {
  const Json& meta = objectAt(pod, "metadata");
  auto mapEntry = [&](const char* map_name, size_t prefix_len) -> Result<std::string> {
    std::string key = path.substr(prefix_len);
    if (key.size() < 4 || key.front() != '[' || key.back() != ']') return Status(Code::kInvalid, "bad fieldPath " + path);
    key = key.substr(2, key.size() - 4);
    return getString(objectAt(meta, map_name), key.c_str());
  };
  if (path == "metadata.name") return getString(meta, "name");
  if (path == "metadata.namespace") return getString(meta, "namespace");
  if (path == "metadata.uid") return getString(meta, "uid");
  if (path.rfind("metadata.labels[", 0) == 0) return mapEntry("labels", 15);
  if (path.rfind("metadata.annotations[", 0) == 0) return mapEntry("annotations", 20);
  if (path == "spec.nodeName") return getString(objectAt(pod, "spec"), "nodeName");
  if (path == "spec.serviceAccountName") return getString(objectAt(pod, "spec"), "serviceAccountName");
  if (path == "status.hostIP") return getString(objectAt(pod, "status"), "hostIP");
  if (path == "status.podIP") return getString(objectAt(pod, "status"), "podIP");
  if (path == "status.hostIPs" || path == "status.podIPs") {
    std::string out;
    for (const auto& ip : arrayAt(objectAt(pod, "status"), path == "status.podIPs" ? "podIPs" : "hostIPs"))
      out += (out.empty() ? "" : ",") + getString(ip, "ip");
    return out;
  }
  return Status(Code::kInvalid, "unsupported fieldPath " + path);
}

Result<std::string> resourceFieldValue(const Json& container, const Json& ref) {
  std::string resource = getString(ref, "resource");
  auto dot = resource.find('.');
  if (dot == std::string::npos) return Status(Code::kInvalid, "bad resourceFieldRef " + resource);
  std::string kind = resource.substr(0, dot), name = resource.substr(dot + 1);
  const Json& values = objectAt(objectAt(container, "resources"), kind.c_str());
  auto q = values.contains(name) ? api::parseQuantityValue(values[name]) : Result<api::Quantity>(api::Quantity{});
  if (!q) return q.status();
  int64_t divisor_milli = 1000;
  if (ref.contains("divisor")) {
    auto d = api::parseQuantityValue(ref["divisor"]);
    if (d && d->milli > 0) divisor_milli = d->milli;
  }
  if (name == "cpu" && q->milli == 0 && kind == "limits") return std::string("0");
  return std::to_string((q->milli + divisor_milli - 1) / divisor_milli);
}

}  // namespace

std::string expandVars(const std::string& in, const std::map<std::string, std::string>& env) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '$' || i + 1 >= in.size()) {
      out += in[i];
      continue;
    }
    if (in[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (in[i + 1] == '(') {
      auto close = in.find(')', i + 2);
      if (close != std::string::npos) {
        std::string name = in.substr(i + 2, close - i - 2);
        auto it = env.find(name);
        if (it != env.end()) {
          out += it->second;
          i = close;
          continue;
        }
      }
    }
    out += in[i];
  }
  return out;
}

namespace {

std::string envName(std::string name) {
  for (char& c : name) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

void addServiceVars(const Json& service, std::map<std::string, std::string>& out) {
  const Json& spec = objectAt(service, "spec");
  std::string ip = getString(spec, "clusterIP");
  const Json& ports = arrayAt(spec, "ports");
  if (ip.empty() || ip == "None" || ports.empty()) return;
  std::string prefix = envName(getString(objectAt(service, "metadata"), "name"));
  std::string host = ip.find(':') == std::string::npos ? ip : "[" + ip + "]";
  out[prefix + "_SERVICE_HOST"] = ip;
  for (size_t i = 0; i < ports.size(); ++i) {
    const Json& p = ports[i];
    std::string port = std::to_string(p.value("port", 0));
    std::string proto = getString(p, "protocol", "TCP");
    std::string lower = proto;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string url = lower + "://" + host + ":" + port;
    std::string name = getString(p, "name");
    if (i == 0) {
      out[prefix + "_SERVICE_PORT"] = port;
      out[prefix + "_PORT"] = url;
    }
    if (!name.empty()) out[prefix + "_SERVICE_PORT_" + envName(name)] = port;
    std::string link = prefix + "_PORT_" + port + "_" + proto;
    out[link] = url;
    out[link + "_PROTO"] = lower;
    out[link + "_PORT"] = port;
    out[link + "_ADDR"] = ip;
  }
}

}  // namespace

Result<std::map<std::string, std::string>> serviceEnv(const Json& pod, const ObjectLookup& lookup) {
  std::map<std::string, std::string> out;
  if (!lookup.services) return out;
  std::string ns = getString(objectAt(pod, "metadata"), "namespace");
  std::map<std::string, Json> chosen;  // by name: a pod's own "kubernetes" Service wins
  if (objectAt(pod, "spec").value("enableServiceLinks", true)) {
    auto own = lookup.services(ns);
    if (!own) return own.status();
    for (auto& s : *own) chosen.emplace(getString(objectAt(s, "metadata"), "name"), std::move(s));
  }
  if (!chosen.count("kubernetes")) {
    auto defaults = lookup.services("default");
    if (!defaults) return defaults.status();
    for (auto& s : *defaults)
      if (getString(objectAt(s, "metadata"), "name") == "kubernetes") chosen.emplace("kubernetes", std::move(s));
  }
  for (const auto& [name, service] : chosen) addServiceVars(service, out);
  return out;
}

Result<std::vector<std::string>> containerEnv(const Json& pod, const Json& container, const ObjectLookup& lookup) {
  std::string ns = getString(objectAt(pod, "metadata"), "namespace");
  auto services = serviceEnv(pod, lookup);
  if (!services) return services.status();
  std::vector<std::pair<std::string, std::string>> ordered;
  // $(VAR) sees the service variables too, as kubelet's expansion does.
  std::map<std::string, std::string> values = *services;
  std::set<std::string> own;
  auto set = [&](const std::string& k, const std::string& v) {
    if (own.insert(k).second) ordered.emplace_back(k, v);
    else
      for (auto& kv : ordered)
        if (kv.first == k) kv.second = v;
    values[k] = v;
  };
  for (const auto& from : arrayAt(container, "envFrom")) {
    std::string prefix = getString(from, "prefix");
    bool is_cm = from.contains("configMapRef");
    const Json& ref = objectAt(from, is_cm ? "configMapRef" : "secretRef");
    std::string name = getString(ref, "name");
    bool optional = ref.value("optional", false);
    auto data = is_cm ? lookup.config_map(ns, name) : lookup.secret(ns, name);
    if (!data) {
      if (optional) continue;
      return Status(Code::kNotFound, fmt::format("{} \"{}\" not found", is_cm ? "configmap" : "secret", name));
    }
    for (const auto& [k, v] : *data) set(prefix + k, v);
  }
  for (const auto& e : arrayAt(container, "env")) {
    std::string name = getString(e, "name");
    if (name.empty()) continue;
    if (e.contains("value") && e["value"].is_string()) {
      set(name, expandVars(e["value"].get<std::string>(), values));
      continue;
    }
    const Json& from = objectAt(e, "valueFrom");
    if (from.empty()) {
      set(name, "");
      continue;
    }
    if (from.contains("fieldRef")) {
      auto v = fieldPathValue(pod, getString(objectAt(from, "fieldRef"), "fieldPath"));
      if (!v) return v.status();
      set(name, *v);
    } else if (from.contains("resourceFieldRef")) {
      auto v = resourceFieldValue(container, objectAt(from, "resourceFieldRef"));
      if (!v) return v.status();
      set(name, *v);
    } else {
      bool is_cm = from.contains("configMapKeyRef");
      const Json& ref = objectAt(from, is_cm ? "configMapKeyRef" : "secretKeyRef");
      std::string obj_name = getString(ref, "name"), key = getString(ref, "key");
      bool optional = ref.value("optional", false);
      auto data = is_cm ? lookup.config_map(ns, obj_name) : lookup.secret(ns, obj_name);
      if (!data || !data->count(key)) {
        if (optional) continue;
        if (!data)
          return Status(Code::kNotFound, fmt::format("{} \"{}\" not found", is_cm ? "configmap" : "secret", obj_name));
        return Status(Code::kNotFound, fmt::format("couldn't find key {} in {} {}/{}", key,
                                                   is_cm ? "ConfigMap" : "Secret", ns, obj_name));
      }
      set(name, data->at(key));
    }
  }
  for (const auto& [k, v] : *services)
    if (!own.count(k)) ordered.emplace_back(k, v);
  std::vector<std::string> out;
  out.reserve(ordered.size());
  for (const auto& [k, v] : ordered) out.push_back(k + "=" + v);
  return out;
}

runtime::Resources containerResources(const Json& container) {
  runtime::Resources r;
  const Json& res = objectAt(container, "resources");
  const Json& requests = objectAt(res, "requests");
  const Json& limits = objectAt(res, "limits");
  // Upstream: a limit with no request requests the limit.
  const Json& cpu_req = requests.contains("cpu") ? requests["cpu"] : (limits.contains("cpu") ? limits["cpu"] : Json());
  if (!cpu_req.is_null())
    if (auto q = api::parseQuantityValue(cpu_req)) r.cpu_shares = std::max<int64_t>(2, q->milli * 1024 / 1000);
  if (limits.contains("cpu"))
    if (auto q = api::parseQuantityValue(limits["cpu"]); q && q->milli > 0)
      r.cpu_quota_us = std::max<int64_t>(1000, q->milli * r.cpu_period_us / 1000);
  if (limits.contains("memory"))
    if (auto q = api::parseQuantityValue(limits["memory"]); q && q->value > 0) r.memory_limit_bytes = q->value;
  return r;
}

Result<runtime::SecurityOptions> containerSecurity(const Json& pod, const Json& container,
                                                   const runtime::ImageConfig& image) {
  const Json& psc = objectAt(objectAt(pod, "spec"), "securityContext");
  const Json& csc = objectAt(container, "securityContext");
  auto pick = [&](const char* key) -> const Json* {
    if (csc.contains(key)) return &csc[key];
    if (psc.contains(key)) return &psc[key];
    return nullptr;
  };
  runtime::SecurityOptions s;
  // The image's USER when it is numeric ("1000" or "1000:1000").
  if (!image.user.empty()) {
    auto colon = image.user.find(':');
    std::string u = image.user.substr(0, colon);
    if (!u.empty() && u.find_first_not_of("0123456789") == std::string::npos) s.uid = std::stoul(u);
    if (colon != std::string::npos) {
      std::string g = image.user.substr(colon + 1);
      if (!g.empty() && g.find_first_not_of("0123456789") == std::string::npos) s.gid = std::stoul(g);
    }
  }
  if (const Json* v = pick("runAsUser"); v && v->is_number_integer()) s.uid = v->get<uint32_t>();
  if (const Json* v = pick("runAsGroup"); v && v->is_number_integer()) s.gid = v->get<uint32_t>();
  if (const Json* v = pick("runAsNonRoot"); v && v->is_boolean() && v->get<bool>() && s.uid == 0)
    return Status(Code::kInvalid, "container has runAsNonRoot and image will run as root");
  for (const auto& g : arrayAt(psc, "supplementalGroups"))
    if (g.is_number_integer()) s.additional_gids.push_back(g.get<uint32_t>());
  if (psc.contains("fsGroup") && psc["fsGroup"].is_number_integer()) s.additional_gids.push_back(psc["fsGroup"].get<uint32_t>());
  s.privileged = csc.value("privileged", false);
  if (csc.contains("allowPrivilegeEscalation") && csc["allowPrivilegeEscalation"].is_boolean())
    s.no_new_privileges = !csc["allowPrivilegeEscalation"].get<bool>();
  s.readonly_rootfs = csc.value("readOnlyRootFilesystem", false);
  const Json& caps = objectAt(csc, "capabilities");
  for (const auto& c : arrayAt(caps, "add"))
    if (c.is_string()) s.cap_add.push_back(c.get<std::string>());
  for (const auto& c : arrayAt(caps, "drop"))
    if (c.is_string()) s.cap_drop.push_back(c.get<std::string>());
  const Json* seccomp = pick("seccompProfile");
  if (seccomp && seccomp->is_object() && seccomp->value("type", "") == "Unconfined") s.seccomp_unconfined = true;
  return s;
}

}  // namespace capstan::agent
