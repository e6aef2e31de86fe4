// Pod and pod template validation, following ValidatePodSpec,
// ValidatePodTemplateSpec, ValidatePodCreate and ValidatePodUpdate in
// pkg/apis/core/validation. Covered: volumes, containers (common checks,
// ports, env, mounts, probes), restart and DNS policy, DNS config, node
// selector, tolerations, names of service account / node / host; and the
// pod update rules (only images, activeDeadlineSeconds, tolerations
// additions and the negative grace period fix-up may change).
#include "api/volume_sources.h"
#include <algorithm>
#include <map>
#include <set>

#include "api/validation_internal.h"

namespace capstan::api::vdetail {

void validatePortNumOrName(const Json* port, const std::string& fld, ErrorList& errs) {
  if (port && port->is_string()) {
    std::string name = port->get<std::string>();
    for (auto& m : portNameErrors(name)) errs.invalid(fld, goQuote(name), m);
  } else {
    int64_t n = integer(port).value_or(0);
    for (auto& m : portNumErrors(n)) errs.invalid(fld, std::to_string(n), m);
  }
}

namespace {

constexpr int64_t kMaxUint32 = 4294967295LL;



void validateDefaultMode(const Json* src, const std::string& fld, ErrorList& errs) {
  auto mode = integer(get(src, "defaultMode"));
  if (mode && (*mode > 0777 || *mode < 0))
    errs.invalid(child(fld, "defaultMode"), std::to_string(*mode),
                 "must be a number between 0 and 0777 (octal), both inclusive");
}

// ValidateLocalNonReservedPath: a path inside the volume.
void validateLocalPath(const std::string& path, const std::string& fld, ErrorList& errs) {
  if (!path.empty() && path[0] == '/') errs.invalid(fld, goQuote(path), "must be a relative path");
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (path.substr(start, slash == std::string::npos ? std::string::npos : slash - start) == "..") {
      errs.invalid(fld, goQuote(path), "must not contain '..'");
      break;
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (path.rfind("..", 0) == 0 && path.rfind("../", 0) != 0) errs.invalid(fld, goQuote(path), "must not start with '..'");
}

// The serviceAccountToken sources of a projected volume: a path inside it
// and a lifetime between 10 minutes and 2^32 seconds.
void validateProjectedTokens(const Json* projected, const std::string& fld, ErrorList& errs) {
  const Json& sources = array(get(projected, "sources"));
  for (size_t i = 0; i < sources.size(); ++i) {
    const Json* token = get(sources[i], "serviceAccountToken");
    if (!token) continue;
    std::string p = index(child(fld, "sources"), i);
    std::string tp = child(p, "serviceAccountToken");
    if (auto e = integer(get(token, "expirationSeconds"))) {
      if (*e < 600) errs.invalid(child(tp, "expirationSeconds"), std::to_string(*e), "may not specify a duration less than 10 minutes");
      if (*e > (int64_t{1} << 32))
        errs.invalid(child(tp, "expirationSeconds"), std::to_string(*e), "may not specify a duration larger than 2^32 seconds");
    }
    std::string path = str(get(token, "path"));
    if (path.empty())
      errs.required(child(p, "path"));
    else
      validateLocalPath(path, child(p, "path"), errs);
  }
}

void validateVolumeSource(const Json& vol, const std::string& fld, ErrorList& errs) {
  int n = 0;
  for (const char* src_key : kVolumeSources) {
    const Json* src = get(vol, src_key);
    if (!src) continue;
    std::string p = child(fld, src_key);
    if (n > 0) {
      errs.forbidden(p, "may not specify more than 1 volume type");
      continue;
    }
    ++n;
    std::string k = src_key;
    if (k == "hostPath") {
      if (str(get(src, "path")).empty()) errs.required(child(p, "path"));
    } else if (k == "secret") {
      if (str(get(src, "secretName")).empty()) errs.required(child(p, "secretName"));
      validateDefaultMode(src, p, errs);
    } else if (k == "configMap") {
      if (str(get(src, "name")).empty()) errs.required(child(p, "name"));
      validateDefaultMode(src, p, errs);
    } else if (k == "persistentVolumeClaim") {
      if (str(get(src, "claimName")).empty()) errs.required(child(p, "claimName"));
    } else if (k == "downwardAPI") {
      validateDefaultMode(src, p, errs);
    } else if (k == "projected") {
      validateDefaultMode(src, p, errs);
      validateProjectedTokens(src, p, errs);
    } else if (k == "nfs") {
      if (str(get(src, "server")).empty()) errs.required(child(p, "server"));
      if (str(get(src, "path")).empty()) errs.required(child(p, "path"));
    }
  }
  if (n == 0) errs.required(fld, "must specify a volume type");
}

// ValidateVolumes: returns the names of the volumes that passed, which is
// what volume mounts may refer to.
std::set<std::string> validateVolumes(const Json* volumes, const std::string& fld, ErrorList& errs) {
  std::set<std::string> names;
  const Json& vols = array(volumes);
  for (size_t i = 0; i < vols.size(); ++i) {
    std::string p = index(fld, i);
    std::string name_path = child(p, "name");
    ErrorList el;
    validateVolumeSource(vols[i], p, el);
    std::string name = str(get(vols[i], "name"));
    if (name.empty()) {
      el.required(name_path);
    } else {
      validateDns1123Label(name, name_path, el);
    }
    if (names.count(name)) el.duplicate(name_path, goQuote(name));
    if (el.empty()) {
      names.insert(name);
    } else {
      errs.append(el);
    }
  }
  return names;
}

void validateContainerPorts(const Json* ports, const std::string& fld, ErrorList& errs) {
  std::set<std::string> names;
  const Json& list = array(ports);
  for (size_t i = 0; i < list.size(); ++i) {
    std::string p = index(fld, i);
    const Json& port = list[i];
    std::string name = str(get(port, "name"));
    if (!name.empty()) {
      auto msgs = portNameErrors(name);
      if (!msgs.empty()) {
        for (auto& m : msgs) errs.invalid(child(p, "name"), goQuote(name), m);
      } else if (names.count(name)) {
        errs.duplicate(child(p, "name"), goQuote(name));
      } else {
        names.insert(name);
      }
    }
    int64_t cport = integer(get(port, "containerPort")).value_or(0);
    if (cport == 0) {
      errs.required(child(p, "containerPort"));
    } else {
      for (auto& m : portNumErrors(cport)) errs.invalid(child(p, "containerPort"), std::to_string(cport), m);
    }
    int64_t hport = integer(get(port, "hostPort")).value_or(0);
    if (hport != 0)
      for (auto& m : portNumErrors(hport)) errs.invalid(child(p, "hostPort"), std::to_string(hport), m);
    std::string proto = str(get(port, "protocol"));
    if (proto.empty()) {
      errs.required(child(p, "protocol"));
    } else if (proto != "TCP" && proto != "UDP" && proto != "SCTP") {
      errs.notSupported(child(p, "protocol"), goQuote(proto), {"SCTP", "TCP", "UDP"});
    }
  }
}

void validateEnv(const Json* env, const std::string& fld, ErrorList& errs) {
  const Json& list = array(env);
  for (size_t i = 0; i < list.size(); ++i) {
    std::string p = child(index(fld, i), "name");
    std::string name = str(get(list[i], "name"));
    if (name.empty()) {
      errs.required(p);
      continue;
    }
    // RelaxedEnvironmentVariableValidation (GA): printable ASCII but '='.
    bool ok = std::all_of(name.begin(), name.end(), [](char c) { return c >= 32 && c <= 126 && c != '='; });
    if (!ok)
      errs.invalid(
          p, goQuote(name),
          "a valid environment variable name must consist only of printable ASCII characters other than '='");
  }
}

void validateVolumeMounts(const Json* mounts, const std::set<std::string>& volumes, const std::string& fld,
                          ErrorList& errs) {
  std::set<std::string> mount_points;
  const Json& list = array(mounts);
  for (size_t i = 0; i < list.size(); ++i) {
    std::string p = index(fld, i);
    const Json& m = list[i];
    std::string name = str(get(m, "name"));
    std::string mount_path = str(get(m, "mountPath"));
    if (name.empty()) errs.required(child(p, "name"));
    if (!volumes.count(name)) errs.notFound(child(p, "name"), goQuote(name));
    if (mount_path.empty()) errs.required(child(p, "mountPath"));
    if (mount_points.count(mount_path))
      errs.invalid(child(p, "mountPath"), goQuote(mount_path), "must be unique");
    mount_points.insert(mount_path);
    for (const char* sub_key : {"subPath", "subPathExpr"}) {
      std::string sub = str(get(m, sub_key));
      if (sub.empty()) continue;
      // Upstream reports these on fldPath.Child(...), without the index.
      if (sub.front() == '/') errs.invalid(child(fld, sub_key), goQuote(sub), "must be a relative path");
      size_t start = 0;
      for (;;) {
        size_t slash = sub.find('/', start);
        if (sub.substr(start, slash == std::string::npos ? std::string::npos : slash - start) == "..") {
          errs.invalid(child(fld, sub_key), goQuote(sub), "must not contain '..'");
          break;
        }
        if (slash == std::string::npos) break;
        start = slash + 1;
      }
    }
    if (!str(get(m, "subPath")).empty() && !str(get(m, "subPathExpr")).empty())
      errs.invalid(child(p, "subPathExpr"), goQuote(str(get(m, "subPathExpr"))),
                   "subPathExpr and subPath are mutually exclusive");
  }
}

void validateHandler(const Json* handler, bool allow_sleep, const std::string& fld, ErrorList& errs) {
  int n = 0;
  for (const char* k : {"exec", "httpGet", "tcpSocket", "grpc", "sleep"}) {
    const Json* h = get(handler, k);
    if (!h || (std::string(k) == "sleep" && !allow_sleep)) continue;
    std::string p = child(fld, k);
    if (n++ > 0) {
      errs.forbidden(p, "may not specify more than 1 handler type");
      continue;
    }
    std::string kind = k;
    if (kind == "exec") {
      if (array(get(h, "command")).empty()) errs.required(child(p, "command"));
    } else if (kind == "httpGet") {
      if (str(get(h, "path")).empty()) errs.required(child(p, "path"));
      validatePortNumOrName(get(h, "port"), child(p, "port"), errs);
      std::string scheme = str(get(h, "scheme"));
      if (scheme != "HTTP" && scheme != "HTTPS")
        errs.notSupported(child(p, "scheme"), goQuote(scheme), {"HTTP", "HTTPS"});
    } else if (kind == "tcpSocket") {
      validatePortNumOrName(get(h, "port"), child(p, "port"), errs);
    } else if (kind == "grpc") {
      int64_t port = integer(get(h, "port")).value_or(0);
      for (auto& m : portNumErrors(port)) errs.invalid(child(p, "port"), std::to_string(port), m);
    }
  }
  if (n == 0) errs.required(fld, "must specify a handler type");
}

void validateProbe(const Json* probe, const std::string& fld, bool success_must_be_one, ErrorList& errs) {
  if (!probe) return;
  validateHandler(probe, false, fld, errs);
  for (const char* k :
       {"initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"})
    validateNonnegative(get(probe, k), child(fld, k), errs);
  auto grace = integer(get(probe, "terminationGracePeriodSeconds"));
  if (grace && *grace <= 0)
    errs.invalid(child(fld, "terminationGracePeriodSeconds"), std::to_string(*grace),
                 "must be greater than 0");
  auto success = integer(get(probe, "successThreshold"));
  if (success_must_be_one && success && *success != 1)
    errs.invalid(child(fld, "successThreshold"), std::to_string(*success), "must be 1");
}

void validateContainerCommon(const Json& ctr, const std::set<std::string>& volumes, const std::string& p,
                             ErrorList& errs) {
  std::string name = str(get(ctr, "name"));
  if (name.empty()) {
    errs.required(child(p, "name"));
  } else {
    validateDns1123Label(name, child(p, "name"), errs);
  }
  if (str(get(ctr, "image")).empty()) errs.required(child(p, "image"));
  std::string tmp = str(get(ctr, "terminationMessagePolicy"));
  if (tmp.empty()) {
    errs.required(child(p, "terminationMessagePolicy"));
  } else if (tmp != "File" && tmp != "FallbackToLogsOnError") {
    errs.notSupported(child(p, "terminationMessagePolicy"), goQuote(tmp), {"File", "FallbackToLogsOnError"});
  }
  validateContainerPorts(get(ctr, "ports"), child(p, "ports"), errs);
  validateEnv(get(ctr, "env"), child(p, "env"), errs);
  validateVolumeMounts(get(ctr, "volumeMounts"), volumes, child(p, "volumeMounts"), errs);
  std::string pull = str(get(ctr, "imagePullPolicy"));
  if (pull.empty()) {
    errs.required(child(p, "imagePullPolicy"));
  } else if (pull != "Always" && pull != "IfNotPresent" && pull != "Never") {
    errs.notSupported(child(p, "imagePullPolicy"), goQuote(pull), {"Always", "IfNotPresent", "Never"});
  }
}

// checkHostPortConflicts: a hostIP/protocol/hostPort triple may be claimed once.
void checkHostPortConflicts(const Json& containers, const std::string& fld, std::set<std::string>& seen,
                            ErrorList& errs) {
  for (size_t ci = 0; ci < containers.size(); ++ci) {
    const Json& ports = array(get(containers[ci], "ports"));
    for (size_t pi = 0; pi < ports.size(); ++pi) {
      int64_t host_port = integer(get(ports[pi], "hostPort")).value_or(0);
      if (host_port == 0) continue;
      std::string k = str(get(ports[pi], "hostIP")) + "/" + str(get(ports[pi], "protocol")) + "/" +
                      std::to_string(host_port);
      if (!seen.insert(k).second)
        errs.duplicate(child(index(child(index(fld, ci), "ports"), pi), "hostPort"), goQuote(k));
    }
  }
}

void validateContainers(const Json* containers, const std::set<std::string>& volumes, const std::string& fld,
                        ErrorList& errs) {
  const Json& list = array(containers);
  if (list.empty()) {
    errs.required(fld);
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string p = index(fld, i);
    const Json& ctr = list[i];
    validateContainerCommon(ctr, volumes, p, errs);
    std::string name = str(get(ctr, "name"));
    if (!names.insert(name).second) errs.duplicate(child(p, "name"), goQuote(name));
    if (const Json* lc = get(ctr, "lifecycle")) {
      for (const char* hook : {"postStart", "preStop"})
        if (const Json* h = get(lc, hook)) validateHandler(h, true, child(child(p, "lifecycle"), hook), errs);
    }
    validateProbe(get(ctr, "livenessProbe"), child(p, "livenessProbe"), true, errs);
    validateProbe(get(ctr, "readinessProbe"), child(p, "readinessProbe"), false, errs);
    validateProbe(get(ctr, "startupProbe"), child(p, "startupProbe"), true, errs);
    if (get(ctr, "restartPolicy"))
      errs.forbidden(child(p, "restartPolicy"), "may not be set for non-init containers");
  }
  std::set<std::string> seen;
  checkHostPortConflicts(list, fld, seen, errs);
}

void validateInitContainers(const Json* inits, const Json* containers, const std::set<std::string>& volumes,
                            const std::string& fld, ErrorList& errs) {
  std::set<std::string> names;
  for (const auto& c : array(containers)) names.insert(str(get(c, "name")));
  const Json& list = array(inits);
  for (size_t i = 0; i < list.size(); ++i) {
    std::string p = index(fld, i);
    const Json& ctr = list[i];
    validateContainerCommon(ctr, volumes, p, errs);
    bool restart_always = false;
    if (const Json* rp = get(ctr, "restartPolicy")) {
      std::string v = str(rp);
      restart_always = v == "Always";
      if (!restart_always) errs.notSupported(child(p, "restartPolicy"), goQuote(v), {"Always"});
    }
    std::string name = str(get(ctr, "name"));
    if (names.count(name)) {
      errs.duplicate(child(p, "name"), goQuote(name));
    } else if (!name.empty()) {
      names.insert(name);
    }
    std::set<std::string> seen;
    checkHostPortConflicts(Json::array({ctr}), fld, seen, errs);
    if (restart_always) {
      validateProbe(get(ctr, "livenessProbe"), child(p, "livenessProbe"), true, errs);
      validateProbe(get(ctr, "readinessProbe"), child(p, "readinessProbe"), false, errs);
      validateProbe(get(ctr, "startupProbe"), child(p, "startupProbe"), true, errs);
    } else {
      const char* kNote = "may not be set for init containers without restartPolicy=Always";
      if (get(ctr, "lifecycle")) errs.forbidden(child(p, "lifecycle"), kNote);
      if (get(ctr, "livenessProbe")) errs.forbidden(child(p, "livenessProbe"), kNote);
      if (get(ctr, "readinessProbe"))
        errs.forbidden(child(p, "readinessProbe"), "may not be set for init containers");
      if (get(ctr, "startupProbe")) errs.forbidden(child(p, "startupProbe"), kNote);
    }
  }
}

void validateTolerations(const Json* tolerations, const std::string& fld, ErrorList& errs) {
  const Json& list = array(tolerations);
  for (size_t i = 0; i < list.size(); ++i) {
    std::string p = index(fld, i);
    const Json& t = list[i];
    std::string k = str(get(t, "key"));
    std::string op = str(get(t, "operator"));
    std::string value = str(get(t, "value"));
    std::string effect = str(get(t, "effect"));
    if (!k.empty())
      for (auto& m : qualifiedNameErrors(k)) errs.invalid(child(p, "key"), goQuote(k), m);
    if (k.empty() && op != "Exists")
      errs.invalid(
          child(p, "operator"), goQuote(op),
          "operator must be Exists when `key` is empty, which means \"match all values and all keys\"");
    if (get(t, "tolerationSeconds") && effect != "NoExecute")
      errs.invalid(child(p, "effect"), goQuote(effect),
                   "effect must be 'NoExecute' when `tolerationSeconds` is set");
    if (op == "Equal" || op.empty()) {
      auto msgs = labelValueErrors(value);
      if (!msgs.empty()) {
        std::string joined;
        for (size_t j = 0; j < msgs.size(); ++j) joined += (j ? ";" : "") + msgs[j];
        errs.invalid(child(p, "operator"), goQuote(value), joined);
      }
    } else if (op == "Exists") {
      if (!value.empty())
        errs.invalid(child(p, "operator"), goJson(t), "value must be empty when `operator` is 'Exists'");
    } else {
      errs.notSupported(child(p, "operator"), goQuote(op), {"Equal", "Exists"});
    }
    if (!effect.empty()) validateTaintEffect(get(t, "effect"), true, child(p, "effect"), errs);
  }
}

void validateDnsConfig(const Json* spec, const std::string& fld, ErrorList& errs) {
  std::string policy = str(get(spec, "dnsPolicy"));
  const Json* cfg = get(spec, "dnsConfig");
  std::string p = child(fld, "dnsConfig");
  if (policy == "None" && !cfg) {
    errs.required(p, "must provide `dnsConfig` when `dnsPolicy` is None");
    return;
  }
  if (!cfg) return;
  const Json* ns = get(cfg, "nameservers");
  auto servers = stringList(ns);
  if (policy == "None" && servers.empty())
    errs.required(child(p, "nameservers"),
                  "must provide at least one DNS nameserver when `dnsPolicy` is None");
  if (servers.size() > 3)
    errs.invalid(child(p, "nameservers"), goJson(*ns), "must not have more than 3 nameservers");
  for (size_t i = 0; i < servers.size(); ++i)
    if (!isIp(servers[i]))
      errs.invalid(index(child(p, "nameservers"), i), goQuote(servers[i]), "must be valid IP address");
  auto searches = stringList(get(cfg, "searches"));
  if (searches.size() > 32)
    errs.invalid(child(p, "searches"), goJson(*get(cfg, "searches")),
                 "must not have more than 32 search paths");
}

}  // namespace

void validatePodSpec(const Json* spec, const std::string& fld, const PodSpecContext& ctx, ErrorList& errs) {
  if (!get(spec, "terminationGracePeriodSeconds")) errs.required(child(fld, "terminationGracePeriodSeconds"));
  auto volumes = validateVolumes(get(spec, "volumes"), child(fld, "volumes"), errs);
  validateContainers(get(spec, "containers"), volumes, child(fld, "containers"), errs);
  validateInitContainers(get(spec, "initContainers"), get(spec, "containers"), volumes,
                         child(fld, "initContainers"), errs);

  if (isTrue(get(spec, "hostNetwork"))) {
    for (const char* list_key : {"containers", "initContainers"}) {
      const Json& list = array(get(spec, list_key));
      for (size_t ci = 0; ci < list.size(); ++ci) {
        const Json& ports = array(get(list[ci], "ports"));
        for (size_t pi = 0; pi < ports.size(); ++pi) {
          auto host = integer(get(ports[pi], "hostPort")).value_or(0);
          auto cport = integer(get(ports[pi], "containerPort")).value_or(0);
          if (host != 0 && host != cport)
            errs.invalid(child(index(child(index(child(fld, list_key), ci), "ports"), pi), "containerPort"),
                         std::to_string(cport), "must match `hostPort` when `hostNetwork` is true");
        }
      }
    }
  }

  // The Job validator reports an unset or Always restart policy in its own words.
  std::string restart = str(get(spec, "restartPolicy"));
  if (restart.empty()) {
    errs.required(child(fld, "restartPolicy"));
  } else if (restart != "Always" && restart != "OnFailure" && restart != "Never") {
    errs.notSupported(child(fld, "restartPolicy"), goQuote(restart), {"Always", "OnFailure", "Never"});
  }
  std::string dns = str(get(spec, "dnsPolicy"));
  if (dns.empty()) {
    errs.required(child(fld, "dnsPolicy"));
  } else if (dns != "ClusterFirstWithHostNet" && dns != "ClusterFirst" && dns != "Default" && dns != "None") {
    errs.notSupported(child(fld, "dnsPolicy"), goQuote(dns),
                      {"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"});
  }
  validateLabels(get(spec, "nodeSelector"), child(fld, "nodeSelector"), errs);
  validateDnsConfig(spec, fld, errs);

  std::string sa = str(get(spec, "serviceAccountName"));
  if (!sa.empty())
    for (auto& m : nameIsDnsSubdomain(sa, false))
      errs.invalid(child(fld, "serviceAccountName"), goQuote(sa), m);
  std::string node = str(get(spec, "nodeName"));
  if (!node.empty())
    for (auto& m : nameIsDnsSubdomain(node, false)) errs.invalid(child(fld, "nodeName"), goQuote(node), m);
  if (auto ads = integer(get(spec, "activeDeadlineSeconds")); ads && (*ads < 1 || *ads > kMaxUint32))
    errs.invalid(child(fld, "activeDeadlineSeconds"), std::to_string(*ads),
                 "must be between 1 and 4294967295, inclusive");
  for (const char* k : {"hostname", "subdomain"}) {
    std::string v = str(get(spec, k));
    if (!v.empty()) validateDns1123Label(v, child(fld, k), errs);
  }
  validateTolerations(get(spec, "tolerations"), child(fld, "tolerations"), errs);
  std::string pc = str(get(spec, "priorityClassName"));
  if (!pc.empty())
    for (auto& m : nameIsDnsSubdomain(pc, false))
      errs.invalid(child(fld, "priorityClassName"), goQuote(pc), m);
  if (const Json* pp = get(spec, "preemptionPolicy")) {
    std::string v = str(pp);
    if (v != "PreemptLowerPriority" && v != "Never")
      errs.notSupported(child(fld, "preemptionPolicy"), goQuote(v), {"Never", "PreemptLowerPriority"});
  }
  (void)ctx;
}

void validatePodTemplateSpec(const Json* tmpl, const std::string& fld, ErrorList& errs) {
  const Json* meta = get(tmpl, "metadata");
  // Upstream's paths here skip "metadata" (fldPath.Child("labels")).
  validateLabels(get(meta, "labels"), child(fld, "labels"), errs);
  validateAnnotations(get(meta, "annotations"), child(fld, "annotations"), errs);
  const Json* spec = get(tmpl, "spec");
  validatePodSpec(spec, child(fld, "spec"), PodSpecContext{}, errs);
  if (hasEntries(get(spec, "ephemeralContainers")))
    errs.forbidden(child(child(fld, "spec"), "ephemeralContainers"),
                   "ephemeral containers not allowed in pod template");
}

namespace {

void validateContainersOnlyForPod(const Json* containers, const std::string& fld, ErrorList& errs) {
  const Json& list = array(containers);
  for (size_t i = 0; i < list.size(); ++i) {
    std::string image = str(get(list[i], "image"));
    auto first = image.find_first_not_of(" \t\n\v\f\r");
    auto last = image.find_last_not_of(" \t\n\v\f\r");
    bool padded = !image.empty() && (first != 0 || last != image.size() - 1);
    if (padded)
      errs.invalid(child(index(fld, i), "image"), goQuote(image),
                   "must not have leading or trailing whitespace");
  }
}

void validatePodMetadataAndSpec(const Json& obj, ErrorList& errs) {
  const Json* spec = get(obj, "spec");
  PodSpecContext ctx;
  ctx.is_pod = true;
  validatePodSpec(spec, "spec", ctx, errs);
  validateContainersOnlyForPod(get(spec, "containers"), "spec.containers", errs);
  validateContainersOnlyForPod(get(spec, "initContainers"), "spec.initContainers", errs);
}

// ValidateContainerUpdates; returns false when validation must stop.
bool validateContainerUpdates(const Json* nc, const Json* oc, const std::string& fld, ErrorList& errs) {
  const Json& n = array(nc);
  const Json& o = array(oc);
  if (n.size() != o.size()) {
    errs.forbidden(fld, "pod updates may not add or remove containers");
    return false;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    std::string image = str(get(n[i], "image"));
    if (image.empty()) errs.required(child(index(fld, i), "image"));
    auto first = image.find_first_not_of(" \t\n\v\f\r");
    auto last = image.find_last_not_of(" \t\n\v\f\r");
    if (!image.empty() && (first != 0 || last != image.size() - 1))
      errs.invalid(child(index(fld, i), "image"), goQuote(image),
                   "must not have leading or trailing whitespace");
  }
  return true;
}

bool sameToleration(const Json& a, const Json& b) {
  for (const char* k : {"key", "operator", "value", "effect"})
    if (str(get(a, k)) != str(get(b, k))) return false;
  return true;
}

std::string specDiff(const Json& old_spec, const Json& new_spec) {
  std::string out;
  std::set<std::string> keys;
  for (auto it = object(&old_spec).begin(); it != object(&old_spec).end(); ++it) keys.insert(it.key());
  for (auto it = object(&new_spec).begin(); it != object(&new_spec).end(); ++it) keys.insert(it.key());
  out += "  core.PodSpec{\n";
  for (const auto& k : keys) {
    const Json* a = get(old_spec, k);
    const Json* b = get(new_spec, k);
    if (semanticEqual(a, b)) continue;
    if (a) out += "- \t" + k + ": " + goJson(*a) + ",\n";
    if (b) out += "+ \t" + k + ": " + goJson(*b) + ",\n";
  }
  out += "  }\n";
  return out;
}

}  // namespace

void validatePod(const Json& obj, ErrorList& errs) {
  validatePodMetadataAndSpec(obj, errs);
  const Json* spec = get(obj, "spec");
  if (hasEntries(get(spec, "ephemeralContainers")))
    errs.forbidden("spec.ephemeralContainers", "cannot be set on create");
  if (!str(get(spec, "nodeName")).empty() && hasEntries(get(spec, "schedulingGates")))
    errs.forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared");
}

void validatePodUpdate(const Json& obj, const Json& old, ErrorList& errs) {
  validatePodMetadataAndSpec(obj, errs);
  const Json* spec = get(obj, "spec");
  const Json* old_spec = get(old, "spec");
  if (!validateContainerUpdates(get(spec, "containers"), get(old_spec, "containers"), "spec.containers",
                                errs))
    return;
  if (!validateContainerUpdates(get(spec, "initContainers"), get(old_spec, "initContainers"),
                                "spec.initContainers", errs))
    return;

  auto nads = integer(get(spec, "activeDeadlineSeconds"));
  auto oads = integer(get(old_spec, "activeDeadlineSeconds"));
  if (nads) {
    if (*nads < 0 || *nads > kMaxUint32) {
      errs.invalid("spec.activeDeadlineSeconds", std::to_string(*nads),
                   "must be between 0 and 4294967295, inclusive");
      return;
    }
    if (oads && *oads < *nads) {
      errs.invalid("spec.activeDeadlineSeconds", std::to_string(*nads),
                   "must be less than or equal to previous value");
      return;
    }
  } else if (oads) {
    errs.invalid("spec.activeDeadlineSeconds", "null",
                 "must not update from a positive integer to nil value");
  }

  // Tolerations: existing ones stay (their tolerationSeconds may change).
  const Json& new_tol = array(get(spec, "tolerations"));
  for (const auto& ot : array(get(old_spec, "tolerations"))) {
    bool found =
        std::any_of(new_tol.begin(), new_tol.end(), [&](const Json& nt) { return sameToleration(ot, nt); });
    if (!found) {
      errs.forbidden("spec.tolerations",
                     "existing toleration can not be modified except its tolerationSeconds");
      break;
    }
  }

  // Everything else in spec is immutable: compare with the mutable fields
  // taken from the old object.
  Json munged = spec ? *spec : Json::object();
  for (const char* list_key : {"containers", "initContainers"}) {
    Json* list = munged.is_object() && munged.contains(list_key) ? &munged[list_key] : nullptr;
    const Json& old_list = array(get(old_spec, list_key));
    if (!list || !list->is_array()) continue;
    for (size_t i = 0; i < list->size() && i < old_list.size(); ++i) {
      if (!(*list)[i].is_object()) continue;
      if (const Json* img = get(old_list[i], "image")) {
        (*list)[i]["image"] = *img;
      } else {
        (*list)[i].erase("image");
      }
    }
  }
  if (munged.is_object()) {
    for (const char* k : {"activeDeadlineSeconds", "tolerations", "schedulingGates"}) {
      if (const Json* ov = get(old_spec, k)) {
        munged[k] = *ov;
      } else {
        munged.erase(k);
      }
    }
    auto old_grace = integer(get(old_spec, "terminationGracePeriodSeconds"));
    auto new_grace = integer(get(&munged, "terminationGracePeriodSeconds"));
    if (old_grace && *old_grace < 0 && new_grace && *new_grace == 1)
      munged["terminationGracePeriodSeconds"] = *old_grace;
  }
  if (!semanticEqual(&munged, old_spec)) {
    errs.forbidden(
        "spec",
        "pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
        "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
        "previously negative)\n" +
            specDiff(old_spec ? *old_spec : Json::object(), munged));
  }
}

}  // namespace capstan::api::vdetail
