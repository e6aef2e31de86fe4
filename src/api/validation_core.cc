// Validation of core/v1 kinds other than Pod: Service, Namespace,
// ConfigMap, Secret, Node, Endpoints, LimitRange, ResourceQuota. Follows
// pkg/apis/core/validation; the REST layer's clusterIP normalisation on
// update is reproduced so that errors read as upstream's.
#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include "api/validation_internal.h"

namespace capstan::api::vdetail {
namespace {

constexpr int64_t kMaxSecretSize = 1 * 1024 * 1024;
constexpr int64_t kKubeletPort = 10250;
constexpr int64_t kMaxClientIPServiceAffinitySeconds = 86400;

// ---------------------------------------------------------------- Service

std::vector<std::string> clusterIPsOf(const Json* spec) {
  auto ips = stringList(get(spec, "clusterIPs"));
  if (ips.empty() && !str(get(spec, "clusterIP")).empty()) ips.push_back(str(get(spec, "clusterIP")));
  return ips;
}

bool isHeadless(const Json* spec) {
  auto ips = clusterIPsOf(spec);
  return str(get(spec, "type")) == "ClusterIP" && ips.size() == 1 && ips[0] == "None";
}

bool externallyAccessible(const Json* spec) {
  std::string type = str(get(spec, "type"));
  return type == "LoadBalancer" || type == "NodePort" ||
         (type == "ClusterIP" && hasEntries(get(spec, "externalIPs")));
}

void validateServicePort(const Json& sp, bool require_name, std::set<std::string>& names,
                         const std::string& fld, ErrorList& errs) {
  std::string name = str(get(sp, "name"));
  if (require_name && name.empty()) {
    errs.required(child(fld, "name"));
  } else if (!name.empty()) {
    validateDns1123Label(name, child(fld, "name"), errs);
    if (!names.insert(name).second) errs.duplicate(child(fld, "name"), goQuote(name));
  }
  int64_t port = integer(get(sp, "port")).value_or(0);
  for (auto& m : portNumErrors(port)) errs.invalid(child(fld, "port"), std::to_string(port), m);
  std::string proto = str(get(sp, "protocol"));
  if (proto.empty()) {
    errs.required(child(fld, "protocol"));
  } else if (proto != "TCP" && proto != "UDP" && proto != "SCTP") {
    errs.notSupported(child(fld, "protocol"), goQuote(proto), {"SCTP", "TCP", "UDP"});
  }
  validatePortNumOrName(get(sp, "targetPort"), child(fld, "targetPort"), errs);
  if (const Json* ap = get(sp, "appProtocol")) {
    std::string v = str(ap);
    for (auto& m : qualifiedNameErrors(v)) errs.invalid(child(fld, "appProtocol"), goQuote(v), m);
  }
}

void validateClusterIPsRelatedFields(const Json* spec, ErrorList& errs) {
  if (str(get(spec, "type")) == "ExternalName") return;
  const std::string ips_fld = "spec.clusterIPs";
  std::string cluster_ip = str(get(spec, "clusterIP"));
  const Json* ips_json = get(spec, "clusterIPs");
  auto ips = stringList(ips_json);
  std::string ips_rendered = ips_json ? goJson(*ips_json) : "null";
  if (!cluster_ip.empty()) {
    if (ips.empty()) {
      errs.required(ips_fld);
    } else if (ips[0] != cluster_ip) {
      errs.invalid(ips_fld, ips_rendered, "first value must match `clusterIP`");
    }
  } else if (!ips.empty()) {
    errs.invalid(ips_fld, ips_rendered, "must be empty when `clusterIP` is not specified");
  }

  auto families = stringList(get(spec, "ipFamilies"));
  std::set<std::string> seen;
  for (size_t i = 0; i < families.size(); ++i) {
    if (families[i] != "IPv4" && families[i] != "IPv6")
      errs.notSupported(index("spec.ipFamilies", i), goQuote(families[i]), {"IPv4", "IPv6"});
    if (!seen.insert(families[i]).second) errs.duplicate(index("spec.ipFamilies", i), goQuote(families[i]));
  }
  if (const Json* policy = get(spec, "ipFamilyPolicy")) {
    std::string p = str(policy);
    if (p != "SingleStack" && p != "PreferDualStack" && p != "RequireDualStack")
      errs.notSupported("spec.ipFamilyPolicy", goQuote(p),
                        {"PreferDualStack", "RequireDualStack", "SingleStack"});
  }

  bool bad_ips = false;
  for (size_t i = 0; i < ips.size(); ++i) {
    if (i == 0 && ips[i] == "None") {
      if (ips.size() > 1) {
        bad_ips = true;
        errs.invalid(ips_fld, ips_rendered, "'None' must be the first and only value");
      }
      continue;
    }
    if (!isIp(ips[i])) {
      bad_ips = true;
      errs.invalid(index(ips_fld, i), goQuote(ips[i]),
                   "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
    }
  }
  if (ips.size() > 2) errs.invalid(ips_fld, ips_rendered, "may only hold up to 2 values");
  if (bad_ips) return;
  if (ips.size() > 1 && !(ips.size() == 2 && isIpv6(ips[0]) != isIpv6(ips[1])))
    errs.invalid(ips_fld, ips_rendered, "may specify no more than one IP for each IP family");
  if (!isHeadless(spec)) {
    for (size_t i = 0; i < ips.size() && i < families.size(); ++i) {
      if (families[i] == "IPv4" && isIpv6(ips[i]))
        errs.invalid(index(ips_fld, i), goQuote(ips[i]),
                     "expected an IPv4 value as indicated by `ipFamilies[" + std::to_string(i) + "]`");
      if (families[i] == "IPv6" && !isIpv6(ips[i]))
        errs.invalid(index(ips_fld, i), goQuote(ips[i]),
                     "expected an IPv6 value as indicated by `ipFamilies[" + std::to_string(i) + "]`");
    }
  }
}

std::string servicePortKey(const std::string& proto, int64_t port, int64_t node_port) {
  // core.ServicePort has no json tags: Go marshals field names as declared.
  std::string out = "{\"Name\":\"\",\"Protocol\":" + goJson(Json(proto)) +
                    ",\"AppProtocol\":null,\"Port\":" + std::to_string(port) +
                    ",\"TargetPort\":0,\"NodePort\":" + std::to_string(node_port) + "}";
  return out;
}

void validateServiceSpec(const Json& obj, ErrorList& errs) {
  const Json* spec = get(obj, "spec");
  std::string type = str(get(spec, "type"));
  const Json& ports = array(get(spec, "ports"));
  bool headless = isHeadless(spec);
  auto ips = clusterIPsOf(spec);

  if (ports.empty() && !headless && type != "ExternalName") errs.required("spec.ports");
  if (type == "LoadBalancer") {
    if (headless)
      errs.invalid("spec.clusterIPs[0]", goQuote(ips[0]),
                   "may not be set to 'None' for LoadBalancer services");
    for (size_t i = 0; i < ports.size(); ++i) {
      int64_t port = integer(get(ports[i], "port")).value_or(0);
      if (port == kKubeletPort)
        errs.invalid(index("spec.ports", i), std::to_string(port),
                     "may not expose port 10250 externally since it is used by kubelet");
    }
  } else if (type == "NodePort") {
    if (headless)
      errs.invalid("spec.clusterIPs[0]", goQuote(ips[0]), "may not be set to 'None' for NodePort services");
  } else if (type == "ExternalName") {
    if (hasEntries(get(spec, "clusterIPs")))
      errs.forbidden("spec.clusterIPs", "may not be set for ExternalName services");
    if (hasEntries(get(spec, "ipFamilies")))
      errs.forbidden("spec.ipFamilies", "may not be set for ExternalName services");
    if (get(spec, "ipFamilyPolicy"))
      errs.forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services");
    std::string cname = str(get(spec, "externalName"));
    if (!cname.empty() && cname.back() == '.') cname.pop_back();
    if (!cname.empty()) {
      validateDns1123Subdomain(cname, "spec.externalName", errs);
    } else {
      errs.required("spec.externalName");
    }
  }

  std::set<std::string> names;
  for (size_t i = 0; i < ports.size(); ++i)
    validateServicePort(ports[i], ports.size() > 1, names, index("spec.ports", i), errs);

  validateLabels(get(spec, "selector"), "spec.selector", errs);

  std::string affinity = str(get(spec, "sessionAffinity"));
  if (affinity.empty()) {
    errs.required("spec.sessionAffinity");
  } else if (affinity != "ClientIP" && affinity != "None") {
    errs.notSupported("spec.sessionAffinity", goQuote(affinity), {"ClientIP", "None"});
  }
  const Json* affinity_cfg = get(spec, "sessionAffinityConfig");
  if (affinity == "ClientIP") {
    std::string when = "when session affinity type is ClientIP";
    const Json* client_ip = get(affinity_cfg, "clientIP");
    const Json* timeout = get(client_ip, "timeoutSeconds");
    if (!affinity_cfg) {
      errs.required("spec.sessionAffinityConfig", when);
    } else if (!client_ip) {
      errs.required("spec.sessionAffinityConfig.clientIP", when);
    } else if (!timeout) {
      errs.required("spec.sessionAffinityConfig.clientIP.timeoutSeconds", when);
    } else if (auto t = integer(timeout).value_or(0); t <= 0 || t > kMaxClientIPServiceAffinitySeconds) {
      errs.invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", std::to_string(t),
                   "must be greater than 0 and less than 86400");
    }
  } else if (affinity == "None" && affinity_cfg) {
    errs.forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None");
  }

  validateClusterIPsRelatedFields(spec, errs);

  auto external_ips = stringList(get(spec, "externalIPs"));
  for (size_t i = 0; i < external_ips.size(); ++i)
    if (!isIp(external_ips[i]))
      errs.invalid(index("spec.externalIPs", i), goQuote(external_ips[i]),
                   "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");

  if (type.empty()) {
    errs.required("spec.type");
  } else if (type != "ClusterIP" && type != "NodePort" && type != "LoadBalancer" && type != "ExternalName") {
    errs.notSupported("spec.type", goQuote(type), {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"});
  }
  if (type == "ClusterIP")
    for (size_t i = 0; i < ports.size(); ++i)
      if (integer(get(ports[i], "nodePort")).value_or(0) != 0)
        errs.forbidden(child(index("spec.ports", i), "nodePort"),
                       "may not be used when `type` is 'ClusterIP'");

  std::set<std::pair<std::string, int64_t>> node_ports, port_keys;
  for (size_t i = 0; i < ports.size(); ++i) {
    int64_t np = integer(get(ports[i], "nodePort")).value_or(0);
    if (np != 0 && !node_ports.insert({str(get(ports[i], "protocol")), np}).second)
      errs.duplicate(child(index("spec.ports", i), "nodePort"), std::to_string(np));
  }
  for (size_t i = 0; i < ports.size(); ++i) {
    std::string proto = str(get(ports[i], "protocol"));
    int64_t port = integer(get(ports[i], "port")).value_or(0);
    if (!port_keys.insert({proto, port}).second)
      errs.duplicate(index("spec.ports", i), servicePortKey(proto, port, 0));
  }

  std::string etp = str(get(spec, "externalTrafficPolicy"));
  if (!externallyAccessible(spec)) {
    if (!etp.empty())
      errs.invalid("spec.externalTrafficPolicy", goQuote(etp),
                   "may only be set for externally-accessible services");
  } else if (etp.empty()) {
    errs.required("spec.externalTrafficPolicy");
  } else if (etp != "Cluster" && etp != "Local") {
    errs.notSupported("spec.externalTrafficPolicy", goQuote(etp), {"Cluster", "Local"});
  }
  int64_t hcnp = integer(get(spec, "healthCheckNodePort")).value_or(0);
  if (hcnp != 0 && !(type == "LoadBalancer" && etp == "Local"))
    errs.invalid("spec.healthCheckNodePort", std::to_string(hcnp),
                 "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'");
  const Json* itp = get(spec, "internalTrafficPolicy");
  if (!itp) {
    if (type == "NodePort" || type == "LoadBalancer" || type == "ClusterIP")
      errs.required("spec.internalTrafficPolicy");
  } else if (str(itp) != "Cluster" && str(itp) != "Local") {
    errs.notSupported("spec.internalTrafficPolicy", goQuote(str(itp)), {"Cluster", "Local"});
  }
}

// ---------------------------------------------------------------- Endpoints

// ValidateNonSpecialIP: unspecified, loopback and link-local addresses make
// no sense as endpoints.
void validateNonSpecialIp(const std::string& ip, const std::string& fld, ErrorList& errs) {
  unsigned char b[16] = {};
  if (inet_pton(AF_INET, ip.c_str(), b) == 1) {
    if (b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0)
      errs.invalid(fld, goQuote(ip), "may not be unspecified (" + ip + ")");
    if (b[0] == 127)
      errs.invalid(fld, goQuote(ip), "may not be in the loopback range (127.0.0.0/8, ::1/128)");
    if (b[0] == 169 && b[1] == 254)
      errs.invalid(fld, goQuote(ip), "may not be in the link-local range (169.254.0.0/16, fe80::/10)");
    if (b[0] == 224 && b[1] == 0 && b[2] == 0)
      errs.invalid(fld, goQuote(ip),
                   "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)");
  } else if (inet_pton(AF_INET6, ip.c_str(), b) == 1) {
    bool zero = std::all_of(b, b + 16, [](unsigned char c) { return c == 0; });
    bool loop = std::all_of(b, b + 15, [](unsigned char c) { return c == 0; }) && b[15] == 1;
    if (zero) errs.invalid(fld, goQuote(ip), "may not be unspecified (" + ip + ")");
    if (loop) errs.invalid(fld, goQuote(ip), "may not be in the loopback range (127.0.0.0/8, ::1/128)");
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
      errs.invalid(fld, goQuote(ip), "may not be in the link-local range (169.254.0.0/16, fe80::/10)");
    if (b[0] == 0xff && (b[1] & 0x0f) == 0x02)
      errs.invalid(fld, goQuote(ip),
                   "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)");
  } else {
    errs.invalid(fld, goQuote(ip), "must be a valid IP address");
  }
}

void validateEndpointAddress(const Json& addr, const std::string& fld, ErrorList& errs) {
  std::string ip = str(get(addr, "ip"));
  if (!isIp(ip))
    errs.invalid(child(fld, "ip"), goQuote(ip),
                 "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
  std::string hostname = str(get(addr, "hostname"));
  if (!hostname.empty()) validateDns1123Label(hostname, child(fld, "hostname"), errs);
  if (const Json* node = get(addr, "nodeName"))
    for (auto& m : nameIsDnsSubdomain(str(node), false))
      errs.invalid(child(fld, "nodeName"), goQuote(str(node)), m);
  validateNonSpecialIp(ip, child(fld, "ip"), errs);
}

}  // namespace

void validateService(const Json& obj, ErrorList& errs) { validateServiceSpec(obj, errs); }

void validateServiceUpdate(const Json& obj, const Json& old, ErrorList& errs) {
  const Json* spec = get(obj, "spec");
  const Json* old_spec = get(old, "spec");
  std::string type = str(get(spec, "type"));
  std::string old_type = str(get(old_spec, "type"));

  // The REST layer keeps allocated IPs the client omitted and lets a changed
  // clusterIP drive a single-entry clusterIPs; validate what it would store.
  Json normalized = obj;
  auto old_ips = clusterIPsOf(old_spec);
  auto new_ips = stringList(get(spec, "clusterIPs"));
  std::string new_ip = str(get(spec, "clusterIP"));
  bool both_need_ip = type != "ExternalName" && old_type != "ExternalName";
  if (both_need_ip && new_ip.empty() && new_ips.empty()) {
    new_ips = old_ips;
  } else if (!new_ip.empty() && new_ip != str(get(old_spec, "clusterIP")) &&
             (new_ips.empty() || new_ips == stringList(get(old_spec, "clusterIPs"))) && new_ips.size() <= 1) {
    new_ips = {new_ip};
  } else if (new_ips.empty() && !new_ip.empty()) {
    new_ips = {new_ip};
  }
  if (normalized.is_object() && normalized["spec"].is_object()) {
    if (!new_ips.empty()) {
      normalized["spec"]["clusterIPs"] = new_ips;
      normalized["spec"]["clusterIP"] = new_ips[0];
    }
  }
  const Json* nspec = get(normalized, "spec");

  if (both_need_ip && !(isHeadless(old_spec) && isHeadless(nspec))) {
    std::string rendered = goJson(Json(new_ips));
    if (old_ips.size() == new_ips.size()) {
      for (size_t i = 0; i < old_ips.size(); ++i)
        if (old_ips[i] != new_ips[i])
          errs.invalid(index("spec.clusterIPs", i), rendered, "may not change once set");
    } else if (old_ips.size() > new_ips.size()) {
      if (new_ips.empty()) errs.invalid("spec.clusterIPs[0]", rendered, "primary clusterIP can not be unset");
      if (!new_ips.empty() && new_ips[0] != old_ips[0])
        errs.invalid("spec.clusterIPs[0]", rendered, "may not change once set");
      if (new_ips.size() == 1 && str(get(nspec, "ipFamilyPolicy")) != "SingleStack")
        errs.invalid("spec.clusterIPs[0]", rendered,
                     "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary clusterIP");
    } else if (!old_ips.empty() && new_ips[0] != old_ips[0]) {
      errs.invalid("spec.clusterIPs[0]", rendered, "may not change once set");
    }
  }

  if (both_need_ip && isHeadless(old_spec) == isHeadless(nspec) && !isHeadless(nspec)) {
    auto old_f = stringList(get(old_spec, "ipFamilies"));
    auto new_f = stringList(get(nspec, "ipFamilies"));
    if (!old_f.empty() && !new_f.empty() && old_f[0] != new_f[0])
      errs.invalid("spec.ipFamilies[0]", goJson(Json(new_f)), "may not change once set");
  }
  validateServiceSpec(normalized, errs);
}

void validateNamespace(const Json& obj, ErrorList& errs) {
  auto finalizers = stringList(path(obj, {"spec", "finalizers"}));
  for (const auto& f : finalizers) {
    for (auto& m : qualifiedNameErrors(f)) errs.invalid("spec.finalizers", goQuote(f), m);
    if (f.find('/') == std::string::npos && f != "kubernetes" && f != "orphan" && f != "foregroundDeletion")
      errs.invalid("spec.finalizers", goQuote(f),
                   "name is neither a standard finalizer name nor is it fully qualified");
  }
}

namespace {

int64_t base64DecodedSize(const std::string& s) {
  size_t n = s.size();
  size_t pad = 0;
  while (pad < 2 && n > pad && s[n - 1 - pad] == '=') ++pad;
  return static_cast<int64_t>(n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0)) - static_cast<int64_t>(n % 4 ? 0 : pad);
}

void validateImmutableData(const Json& obj, const Json& old, std::initializer_list<const char*> keys,
                           ErrorList& errs) {
  if (!isTrue(get(old, "immutable"))) return;
  if (!isTrue(get(obj, "immutable")))
    errs.forbidden("immutable", "field is immutable when `immutable` is set");
  for (const char* k : keys)
    if (!semanticEqual(get(obj, k), get(old, k)))
      errs.forbidden(k, "field is immutable when `immutable` is set");
}

}  // namespace

void validateConfigMap(const Json& obj, ErrorList& errs) {
  int64_t total = 0;
  const Json& data = object(get(obj, "data"));
  const Json& binary = object(get(obj, "binaryData"));
  for (auto it = data.begin(); it != data.end(); ++it) {
    for (auto& m : configMapKeyErrors(it.key())) errs.invalid(key("data", it.key()), goQuote(it.key()), m);
    if (binary.contains(it.key()))
      errs.invalid(key("data", it.key()), goQuote(it.key()), "duplicate of key present in binaryData");
    total += static_cast<int64_t>(str(&it.value()).size());
  }
  for (auto it = binary.begin(); it != binary.end(); ++it) {
    for (auto& m : configMapKeyErrors(it.key()))
      errs.invalid(key("binaryData", it.key()), goQuote(it.key()), m);
    total += base64DecodedSize(str(&it.value()));
  }
  if (total > kMaxSecretSize) errs.tooLong("", kMaxSecretSize);
}

void validateConfigMapUpdate(const Json& obj, const Json& old, ErrorList& errs) {
  validateImmutableData(obj, old, {"data", "binaryData"}, errs);
  validateConfigMap(obj, errs);
}

void validateSecret(const Json& obj, ErrorList& errs) {
  const Json& data = object(get(obj, "data"));
  int64_t total = 0;
  for (auto it = data.begin(); it != data.end(); ++it) {
    for (auto& m : configMapKeyErrors(it.key())) errs.invalid(key("data", it.key()), goQuote(it.key()), m);
    total += base64DecodedSize(str(&it.value()));
  }
  if (total > kMaxSecretSize) errs.tooLong("data", kMaxSecretSize);

  std::string type = str(get(obj, "type"));
  auto has = [&](const char* k) { return data.contains(k) && !data[k].is_null(); };
  if (type == "kubernetes.io/service-account-token") {
    if (str(path(obj, {"metadata", "annotations", "kubernetes.io/service-account.name"})).empty())
      errs.required("metadata.annotations[kubernetes.io/service-account.name]");
  } else if (type == "kubernetes.io/dockercfg") {
    if (!has(".dockercfg")) errs.required("data[.dockercfg]");
  } else if (type == "kubernetes.io/dockerconfigjson") {
    if (!has(".dockerconfigjson")) errs.required("data[.dockerconfigjson]");
  } else if (type == "kubernetes.io/basic-auth") {
    if (!has("username") && !has("password")) {
      errs.required("data[username]");
      errs.required("data[password]");
    }
  } else if (type == "kubernetes.io/ssh-auth") {
    if (str(get(data, "ssh-privatekey")).empty()) errs.required("data[ssh-privatekey]");
  } else if (type == "kubernetes.io/tls") {
    if (!has("tls.crt")) errs.required("data[tls.crt]");
    if (!has("tls.key")) errs.required("data[tls.key]");
  }
}

void validateSecretUpdate(const Json& obj, const Json& old, ErrorList& errs) {
  validateImmutable(get(obj, "type"), get(old, "type"), "type", errs, goQuote(str(get(obj, "type"))));
  validateImmutableData(obj, old, {"data"}, errs);
  validateSecret(obj, errs);
}

void validateNode(const Json& obj, ErrorList& errs) {
  const Json& taints = array(path(obj, {"spec", "taints"}));
  std::set<std::pair<std::string, std::string>> unique;
  for (size_t i = 0; i < taints.size(); ++i) {
    std::string p = index("spec.taints", i);
    const Json& t = taints[i];
    std::string k = str(get(t, "key"));
    for (auto& m : qualifiedNameErrors(k)) errs.invalid(child(p, "key"), goQuote(k), m);
    std::string v = str(get(t, "value"));
    auto msgs = labelValueErrors(v);
    if (!msgs.empty()) {
      std::string joined;
      for (size_t j = 0; j < msgs.size(); ++j) joined += (j ? ";" : "") + msgs[j];
      errs.invalid(child(p, "value"), goQuote(v), joined);
    }
    validateTaintEffect(get(t, "effect"), false, child(p, "effect"), errs);
    if (!unique.insert({str(get(t, "effect")), k}).second)
      errs.duplicate(p, goJson(t), "taints must be unique by key and effect pair");
  }
}

void validateEndpoints(const Json& obj, ErrorList& errs) {
  const Json& subsets = array(get(obj, "subsets"));
  for (size_t i = 0; i < subsets.size(); ++i) {
    std::string p = index("subsets", i);
    const Json& ss = subsets[i];
    const Json& addrs = array(get(ss, "addresses"));
    const Json& not_ready = array(get(ss, "notReadyAddresses"));
    if (addrs.empty() && not_ready.empty())
      errs.required(p, "must specify `addresses` or `notReadyAddresses`");
    for (size_t a = 0; a < addrs.size(); ++a)
      validateEndpointAddress(addrs[a], index(child(p, "addresses"), a), errs);
    for (size_t a = 0; a < not_ready.size(); ++a)
      validateEndpointAddress(not_ready[a], index(child(p, "notReadyAddresses"), a), errs);
    const Json& ports = array(get(ss, "ports"));
    for (size_t k = 0; k < ports.size(); ++k) {
      std::string pp = index(child(p, "ports"), k);
      std::string name = str(get(ports[k], "name"));
      if (ports.size() > 1 && name.empty()) {
        errs.required(child(pp, "name"));
      } else if (!name.empty()) {
        validateDns1123Label(name, child(pp, "name"), errs);
      }
      int64_t port = integer(get(ports[k], "port")).value_or(0);
      for (auto& m : portNumErrors(port)) errs.invalid(child(pp, "port"), std::to_string(port), m);
      std::string proto = str(get(ports[k], "protocol"));
      if (proto.empty()) {
        errs.required(child(pp, "protocol"));
      } else if (proto != "TCP" && proto != "UDP" && proto != "SCTP") {
        errs.notSupported(child(pp, "protocol"), goQuote(proto), {"SCTP", "TCP", "UDP"});
      }
    }
  }
}

void validateLimitRange(const Json& obj, ErrorList& errs) {
  const Json& limits = array(path(obj, {"spec", "limits"}));
  for (size_t i = 0; i < limits.size(); ++i) {
    std::string p = child(index("spec.limits", i), "type");
    std::string type = str(get(limits[i], "type"));
    for (auto& m : qualifiedNameErrors(type)) errs.invalid(p, goQuote(type), m);
    if (type.find('/') == std::string::npos && type != "Pod" && type != "Container" &&
        type != "PersistentVolumeClaim")
      errs.invalid(p, goQuote(type), "must be a standard limit type or fully qualified");
  }
}

void validateResourceQuota(const Json& obj, ErrorList& errs) {
  auto scopes = stringList(path(obj, {"spec", "scopes"}));
  static const std::vector<std::string> kScopes = {"Terminating",          "NotTerminating",
                                                   "BestEffort",           "NotBestEffort",
                                                   "PriorityClass",        "CrossNamespacePodAffinity",
                                                   "VolumeAttributesClass"};
  for (const auto& s : scopes)
    if (std::find(kScopes.begin(), kScopes.end(), s) == kScopes.end())
      errs.invalid("spec.scopes", goQuote(s), "unsupported scope");
}

}  // namespace capstan::api::vdetail
