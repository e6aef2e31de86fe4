#include "agent/pod_volumes.h"

#include <fmt/format.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <fstream>
#include <sstream>

#include "common/base64.h"
#include "common/clock.h"

namespace capstan::agent {
namespace fs = std::filesystem;
namespace {

Status writeFile(const fs::path& p, const std::string& content, int mode = 0644) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  fs::path tmp = p;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return Status(Code::kInternal, "cannot write " + p.string());
    f << content;
  }
  ::chmod(tmp.c_str(), mode);
  fs::rename(tmp, p, ec);
  if (ec) return Status(Code::kInternal, fmt::format("cannot write {}: {}", p.string(), ec.message()));
  return Status::ok();
}

// A file set (relative path -> content, mode) written atomically into dir.
struct Payload {
  std::map<std::string, std::pair<std::string, int>> files;
};

// Whether a payload path stays inside its volume: relative, no "..".
bool insideVolume(const std::string& rel) {
  if (rel.empty() || rel[0] == '/') return false;
  for (const auto& part : fs::path(rel))
    if (part == "..") return false;
  return true;
}

// A tmpfs on `dir` unless one is there already (a later sync of the pod).
Status ensureTmpfs(const fs::path& dir, const char* options) {
  struct stat st {};
  struct stat parent {};
  bool mounted = ::stat(dir.c_str(), &st) == 0 && ::stat(dir.parent_path().c_str(), &parent) == 0 &&
                 st.st_dev != parent.st_dev;
  if (mounted || ::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options) == 0) return Status::ok();
  return Status(Code::kInternal, fmt::format("cannot mount tmpfs on {}: {}", dir.string(), std::strerror(errno)));
}

// Secret and projected volumes (service-account tokens) live on a tmpfs
// of their own, as kubelet keeps them: never written to the node's disk
// (and no inodes of the disk's filesystem to allocate per pod).
Status secretTmpfs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status(Code::kInternal, fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  return ensureTmpfs(dir, "mode=0755");
}

Status atomicWrite(const fs::path& dir, const Payload& payload) {
  // Validation refuses such paths; this guards the node if one got through.
  for (const auto& [rel, fc] : payload.files)
    if (!insideVolume(rel)) return Status(Code::kInvalid, fmt::format("path \"{}\" is not inside the volume", rel));
  std::error_code ec;
  fs::create_directories(dir, ec);
  // Unchanged content: nothing to do (avoids churn on every sync).
  fs::path data = dir / "..data";
  if (fs::exists(data)) {
    bool same = true;
    size_t n = 0;
    for (const auto& [rel, fc] : payload.files) {
      std::ifstream f(data / rel, std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      if (!f || ss.str() != fc.first) {
        same = false;
        break;
      }
      ++n;
    }
    size_t existing = 0;
    for (auto it = fs::recursive_directory_iterator(fs::canonical(data, ec), ec); !ec && it != fs::end(it); ++it)
      if (it->is_regular_file()) ++existing;
    if (same && existing == n) return Status::ok();
  }
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
  std::string ts_name = fmt::format("..{}", nanos);
  fs::path ts = dir / ts_name;
  for (const auto& [rel, fc] : payload.files)
    if (auto st = writeFile(ts / rel, fc.first, fc.second); !st) return st;
  fs::path old_target;
  if (fs::is_symlink(data)) old_target = fs::read_symlink(data, ec);
  fs::path tmp_link = dir / "..data_tmp";
  fs::remove(tmp_link, ec);
  fs::create_symlink(ts_name, tmp_link, ec);
  if (ec) return Status(Code::kInternal, "symlink: " + ec.message());
  fs::rename(tmp_link, data, ec);
  if (ec) return Status(Code::kInternal, "rename: " + ec.message());
  // Top-level entries point through ..data.
  std::set<std::string> tops;
  for (const auto& [rel, fc] : payload.files) tops.insert(fs::path(rel).begin()->string());
  for (const auto& top : tops) {
    fs::path link = dir / top;
    if (!fs::is_symlink(link)) fs::create_symlink(fs::path("..data") / top, link, ec);
  }
  // Drop entries no longer in the payload, and the old data dir.
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("..", 0) == 0) continue;
    if (!tops.count(name)) fs::remove(e.path(), ec);
  }
  if (!old_target.empty() && old_target != ts_name) fs::remove_all(dir / old_target, ec);
  return Status::ok();
}

int modeOf(const Json& source, const Json& item) {
  if (item.is_object() && item.contains("mode") && item["mode"].is_number_integer()) return item["mode"].get<int>();
  if (source.contains("defaultMode") && source["defaultMode"].is_number_integer()) return source["defaultMode"].get<int>();
  return 0644;
}

// Keys (or the listed items) of a ConfigMap/Secret into the payload.
Status addKeys(Payload& p, const Json& source, const std::map<std::string, std::string>& data, bool optional,
               const std::string& what) {
  const Json& items = arrayAt(source, "items");
  if (items.empty()) {
    for (const auto& [k, v] : data) p.files[k] = {v, modeOf(source, nullptr)};
    return Status::ok();
  }
  for (const auto& item : items) {
    std::string key = getString(item, "key"), path = getString(item, "path");
    auto it = data.find(key);
    if (it == data.end()) {
      if (optional) continue;
      return Status(Code::kNotFound, fmt::format("configmap references non-existent config key: {} ({})", key, what));
    }
    p.files[path.empty() ? key : path] = {it->second, modeOf(source, item)};
  }
  return Status::ok();
}

Status addDownward(Payload& p, const Json& pod, const Json& source) {
  for (const auto& item : arrayAt(source, "items")) {
    std::string path = getString(item, "path");
    const Json& ref = objectAt(item, "fieldRef");
    std::string field = getString(ref, "fieldPath");
    std::string value;
    const Json& meta = objectAt(pod, "metadata");
    auto render = [](const Json& m) {
      std::string out;
      for (const auto& [k, v] : m.items()) out += fmt::format("{}=\"{}\"\n", k, v.is_string() ? v.get<std::string>() : v.dump());
      if (!out.empty()) out.pop_back();
      return out;
    };
    if (field == "metadata.labels") value = render(objectAt(meta, "labels"));
    else if (field == "metadata.annotations") value = render(objectAt(meta, "annotations"));
    else if (field == "metadata.name") value = getString(meta, "name");
    else if (field == "metadata.namespace") value = getString(meta, "namespace");
    else if (field == "metadata.uid") value = getString(meta, "uid");
    else if (field.rfind("metadata.labels['", 0) == 0 && field.size() > 19)
      value = getString(objectAt(meta, "labels"), field.substr(17, field.size() - 19).c_str());
    else if (field.rfind("metadata.annotations['", 0) == 0 && field.size() > 24)
      value = getString(objectAt(meta, "annotations"), field.substr(22, field.size() - 24).c_str());
    if (!path.empty()) p.files[path] = {value, modeOf(source, item)};
  }
  return Status::ok();
}

int64_t tokenSeconds(const Json& source) {
  const Json* e = find(source, "expirationSeconds");
  return e && e->is_number_integer() ? e->get<int64_t>() : 3600;
}

}  // namespace

std::vector<std::pair<std::string, int64_t>> serviceAccountTokenSources(const Json& pod) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& v : arrayAt(objectAt(pod, "spec"), "volumes"))
    for (const auto& source : arrayAt(objectAt(v, "projected"), "sources"))
      if (const Json* src = find(source, "serviceAccountToken"); src && src->is_object())
        out.emplace_back(getString(*src, "audience"), tokenSeconds(*src));
  return out;
}

void fetchServiceAccountTokens(const Json& pod, const ObjectLookup& lookup) {
  if (!lookup.service_account_token) return;
  for (const auto& [audience, seconds] : serviceAccountTokenSources(pod))
    (void)lookup.service_account_token(pod, audience, seconds);
}

std::string terminationLogPath(const PodDirs& dirs, const std::string& container, int attempt) {
  return fmt::format("{}/containers/{}/{}-termination-log", dirs.writable(), container, attempt);
}

Result<std::map<std::string, PreparedVolume>> prepareVolumes(const Json& pod, const PodDirs& dirs,
                                                             const ObjectLookup& lookup) {
  const fs::path state_volumes = fs::path(dirs.state) / "volumes";
  std::map<std::string, PreparedVolume> out;
  std::string ns = getString(objectAt(pod, "metadata"), "namespace");
  std::error_code ec;
  for (const auto& v : arrayAt(objectAt(pod, "spec"), "volumes")) {
    std::string name = getString(v, "name");
    if (name.empty()) continue;
    PreparedVolume pv;
    if (v.contains("emptyDir")) {
      bool memory = getString(objectAt(v, "emptyDir"), "medium") == "Memory";
      fs::path p = (memory ? state_volumes : fs::path(dirs.data) / "volumes") / "empty-dir" / name;
      fs::create_directories(p, ec);
      ::chmod(p.c_str(), 0777);
      pv.host_path = p.string();
      if (memory) {
        pv.tmpfs = true;
        if (auto st = ensureTmpfs(p, "mode=0777"); !st) return st;
      }
    } else if (v.contains("hostPath")) {
      const Json& hp = objectAt(v, "hostPath");
      std::string path = getString(hp, "path"), type = getString(hp, "type");
      if (type == "DirectoryOrCreate") fs::create_directories(path, ec);
      if (type == "FileOrCreate" && !fs::exists(path)) (void)writeFile(path, "", 0644);
      if ((type == "Directory" && !fs::is_directory(path)) || (type == "File" && !fs::is_regular_file(path)) ||
          (type == "Socket" && !fs::is_socket(path)))
        return Status(Code::kNotFound, fmt::format("hostPath type check failed: {} is not a {}", path, type));
      pv.host_path = path;
    } else if (v.contains("configMap") || v.contains("secret")) {
      bool is_cm = v.contains("configMap");
      const Json& src = objectAt(v, is_cm ? "configMap" : "secret");
      std::string obj_name = getString(src, is_cm ? "name" : "secretName");
      bool optional = src.value("optional", false);
      auto data = is_cm ? lookup.config_map(ns, obj_name) : lookup.secret(ns, obj_name);
      Payload p;
      if (!data && !optional)
        return Status(Code::kNotFound, fmt::format("{} \"{}\" not found", is_cm ? "configmap" : "secret", obj_name));
      if (data)
        if (auto st = addKeys(p, src, *data, optional, obj_name); !st) return st;
      fs::path dir = state_volumes / (is_cm ? "configmap" : "secret") / name;
      if (!is_cm) {
        if (auto st = secretTmpfs(dir); !st) return st;
        pv.tmpfs = true;
      }
      if (auto st = atomicWrite(dir, p); !st) return st;
      pv.host_path = dir.string();
      pv.read_only = true;
    } else if (v.contains("downwardAPI")) {
      Payload p;
      (void)addDownward(p, pod, objectAt(v, "downwardAPI"));
      fs::path dir = state_volumes / "downward-api" / name;
      if (auto st = atomicWrite(dir, p); !st) return st;
      pv.host_path = dir.string();
      pv.read_only = true;
    } else if (v.contains("projected")) {
      Payload p;
      const Json& projected = objectAt(v, "projected");
      for (const auto& source : arrayAt(projected, "sources")) {
        if (source.contains("configMap") || source.contains("secret")) {
          bool is_cm = source.contains("configMap");
          const Json& src = objectAt(source, is_cm ? "configMap" : "secret");
          std::string obj_name = getString(src, "name");
          bool optional = src.value("optional", false);
          auto data = is_cm ? lookup.config_map(ns, obj_name) : lookup.secret(ns, obj_name);
          if (!data) {
            if (optional) continue;
            return Status(Code::kNotFound, fmt::format("{} \"{}\" not found", is_cm ? "configmap" : "secret", obj_name));
          }
          if (auto st = addKeys(p, src, *data, optional, obj_name); !st) return st;
        } else if (source.contains("downwardAPI")) {
          (void)addDownward(p, pod, objectAt(source, "downwardAPI"));
        } else if (source.contains("serviceAccountToken")) {
          const Json& src = objectAt(source, "serviceAccountToken");
          if (!lookup.service_account_token)
            return Status(Code::kUnavailable, "service-account tokens are not available on this node");
          auto token = lookup.service_account_token(pod, getString(src, "audience"), tokenSeconds(src));
          if (!token) return token.status();
          p.files[getString(src, "path", "token")] = {*token, modeOf(projected, nullptr)};
        }
      }
      fs::path dir = state_volumes / "projected" / name;
      if (auto st = secretTmpfs(dir); !st) return st;
      pv.tmpfs = true;
      if (auto st = atomicWrite(dir, p); !st) return st;
      pv.host_path = dir.string();
      pv.read_only = true;
    } else {
      continue;  // unsupported sources (PVCs, ...) mount nothing
    }
    out[name] = pv;
  }
  return out;
}

Result<std::vector<runtime::Mount>> containerMounts(const Json& pod, const Json& container,
                                                    const std::map<std::string, PreparedVolume>& volumes,
                                                    const PodDirs& dirs, const std::string& termination_log) {
  std::vector<runtime::Mount> mounts;
  fs::path etc = fs::path(dirs.writable()) / "etc";
  bool host_network = objectAt(pod, "spec").value("hostNetwork", false);
  mounts.push_back({(etc / "hosts").string(), "/etc/hosts", "bind", false, {}});
  if (!host_network) mounts.push_back({(etc / "hostname").string(), "/etc/hostname", "bind", false, {}});
  mounts.push_back({(etc / "resolv.conf").string(), "/etc/resolv.conf", "bind", false, {}});
  for (const auto& vm : arrayAt(container, "volumeMounts")) {
    std::string name = getString(vm, "name"), path = getString(vm, "mountPath"), sub = getString(vm, "subPath");
    auto it = volumes.find(name);
    if (it == volumes.end())
      return Status(Code::kNotFound, fmt::format("volume \"{}\" of volumeMount {} is not available", name, path));
    std::string source = it->second.host_path;
    if (!sub.empty()) {
      if (sub.find("..") != std::string::npos) return Status(Code::kInvalid, "subPath must not contain '..'");
      source = (fs::path(source) / sub).string();
      std::error_code ec;
      if (!fs::exists(source)) fs::create_directories(source, ec);
    }
    mounts.push_back({source, path, "bind", vm.value("readOnly", false) || it->second.read_only, {}});
  }
  std::string tm_path = getString(container, "terminationMessagePath");
  if (tm_path.empty()) tm_path = "/dev/termination-log";
  if (!termination_log.empty()) {
    (void)writeFile(termination_log, "", 0666);
    mounts.push_back({termination_log, tm_path, "bind", false, {}});
  }
  return mounts;
}

Status writePodEtcFiles(const Json& pod, const PodDirs& dirs, const std::string& pod_ip,
                        const DnsConfig& dns) {
  fs::path writable = dirs.writable();
  std::error_code ec;
  fs::create_directories(writable, ec);
  if (ec)
    return Status(Code::kInternal, fmt::format("cannot create {}: {}", writable.string(), ec.message()));
  if (auto st = ensureTmpfs(writable, fmt::format("mode=0755,size={}", kWritableFilesSize).c_str()); !st)
    return st;
  const Json& spec = objectAt(pod, "spec");
  const Json& meta = objectAt(pod, "metadata");
  std::string ns = getString(meta, "namespace");
  std::string hostname = getString(spec, "hostname");
  if (hostname.empty()) hostname = getString(meta, "name");
  if (hostname.size() > 63) hostname.resize(63);
  std::string subdomain = getString(spec, "subdomain");
  fs::path etc = writable / "etc";

  std::string hosts = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                      "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n";
  if (!pod_ip.empty()) {
    if (!subdomain.empty())
      hosts += fmt::format("{}\t{}.{}.{}.svc.{}\t{}\n", pod_ip, hostname, subdomain, ns, dns.cluster_domain, hostname);
    else
      hosts += fmt::format("{}\t{}\n", pod_ip, hostname);
  }
  for (const auto& alias : arrayAt(spec, "hostAliases")) {
    std::string line = getString(alias, "ip");
    for (const auto& h : arrayAt(alias, "hostnames"))
      if (h.is_string()) line += "\t" + h.get<std::string>();
    hosts += line + "\n";
  }
  if (auto st = writeFile(etc / "hosts", hosts); !st) return st;
  if (auto st = writeFile(etc / "hostname", hostname + "\n"); !st) return st;

  std::string policy = getString(spec, "dnsPolicy");
  if (policy.empty()) policy = "ClusterFirst";
  bool host_network = spec.value("hostNetwork", false);
  std::string resolv;
  if (policy == "Default" || (policy == "ClusterFirst" && host_network)) {
    std::ifstream f(dns.host_resolv_conf);
    std::stringstream ss;
    ss << f.rdbuf();
    resolv = ss.str();
  } else if (policy != "None") {
    resolv = fmt::format("search {0}.svc.{1} svc.{1} {1}\nnameserver {2}\noptions ndots:5\n", ns, dns.cluster_domain,
                         dns.cluster_dns);
  }
  const Json& cfg = objectAt(spec, "dnsConfig");
  if (!cfg.empty()) {
    std::string extra;
    for (const auto& n : arrayAt(cfg, "nameservers"))
      if (n.is_string()) extra += "nameserver " + n.get<std::string>() + "\n";
    std::string searches;
    for (const auto& s : arrayAt(cfg, "searches"))
      if (s.is_string()) searches += " " + s.get<std::string>();
    if (!searches.empty()) extra += "search" + searches + "\n";
    std::string options;
    for (const auto& o : arrayAt(cfg, "options")) {
      std::string n = getString(o, "name"), v = getString(o, "value");
      if (!n.empty()) options += " " + n + (v.empty() ? "" : ":" + v);
    }
    if (!options.empty()) extra += "options" + options + "\n";
    resolv += extra;
  }
  return writeFile(etc / "resolv.conf", resolv);
}

Status removePodFiles(const PodDirs& dirs) {
  std::error_code ec;
  // Under the data dir too: an older agent kept every volume there.
  for (const auto& dir : {dirs.state, dirs.data})
    for (const char* kind : {"empty-dir", "secret", "projected"})
      for (const auto& e : fs::directory_iterator(fs::path(dir) / "volumes" / kind, ec))
        ::umount2(e.path().c_str(), MNT_DETACH);
  ::umount2(dirs.writable().c_str(), MNT_DETACH);
  for (const auto& dir : {dirs.state, dirs.data}) {
    fs::remove_all(dir, ec);
    if (ec) return Status(Code::kInternal, fmt::format("cannot remove {}: {}", dir, ec.message()));
  }
  return Status::ok();
}

}  // namespace capstan::agent
