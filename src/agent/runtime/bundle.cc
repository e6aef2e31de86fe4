#include "agent/runtime/bundle.h"

#include <algorithm>
#include <cctype>

namespace capstan::agent::runtime {
namespace {

std::string capName(std::string c) {
  for (auto& ch : c) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (c.rfind("CAP_", 0) != 0) c = "CAP_" + c;
  return c;
}

bool validId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

Json bindMount(const Mount& m) {
  Json opts = Json::array({"rbind", "rprivate"});
  if (m.readonly) opts.push_back("ro");
  for (const auto& o : m.options) opts.push_back(o);
  return {{"destination", m.destination}, {"type", "bind"}, {"source", m.source}, {"options", opts}};
}

Json tmpfsMount(const Mount& m) {
  Json opts = Json::array({"nosuid", "nodev", "mode=1777"});
  if (m.readonly) opts.push_back("ro");
  for (const auto& o : m.options) opts.push_back(o);
  return {{"destination", m.destination}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", opts}};
}

Json baseMounts(bool privileged) {
  Json sys_opts = Json::array({"nosuid", "noexec", "nodev"});
  sys_opts.push_back(privileged ? "rw" : "ro");
  return Json::array({
      {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}, {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
      {{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      {{"destination", "/dev/mqueue"}, {"type", "mqueue"}, {"source", "mqueue"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"}, {"options", sys_opts}},
      {{"destination", "/sys/fs/cgroup"}, {"type", "cgroup"}, {"source", "cgroup"},
       {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}},
  });
}

}  // namespace

const std::vector<std::string>& defaultCapabilities() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",  "CAP_FOWNER",           "CAP_MKNOD",
      "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",  "CAP_SETFCAP",          "CAP_SETPCAP",
      "CAP_NET_BIND_SERVICE",           "CAP_SYS_CHROOT", "CAP_KILL",          "CAP_AUDIT_WRITE"};
  return caps;
}

const std::vector<std::string>& allCapabilities() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",          "CAP_DAC_OVERRIDE",   "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
      "CAP_FSETID",         "CAP_KILL",           "CAP_SETGID",          "CAP_SETUID",
      "CAP_SETPCAP",        "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
      "CAP_NET_ADMIN",      "CAP_NET_RAW",        "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
      "CAP_SYS_MODULE",     "CAP_SYS_RAWIO",      "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
      "CAP_SYS_PACCT",      "CAP_SYS_ADMIN",      "CAP_SYS_BOOT",        "CAP_SYS_NICE",
      "CAP_SYS_RESOURCE",   "CAP_SYS_TIME",       "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
      "CAP_LEASE",          "CAP_AUDIT_WRITE",    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
      "CAP_MAC_OVERRIDE",   "CAP_MAC_ADMIN",      "CAP_SYSLOG",          "CAP_WAKE_ALARM",
      "CAP_BLOCK_SUSPEND",  "CAP_AUDIT_READ",     "CAP_PERFMON",         "CAP_BPF",
      "CAP_CHECKPOINT_RESTORE"};
  return caps;
}

std::vector<std::string> effectiveCapabilities(const SecurityOptions& security) {
  if (security.privileged) return allCapabilities();
  std::vector<std::string> caps = defaultCapabilities();
  for (const auto& d : security.cap_drop) {
    std::string name = capName(d);
    if (name == "CAP_ALL") {
      caps.clear();
      break;
    }
  }
  for (const auto& d : security.cap_drop) std::erase(caps, capName(d));
  for (const auto& a : security.cap_add) {
    std::string name = capName(a);
    if (name == "CAP_ALL") return allCapabilities();
    if (std::find(caps.begin(), caps.end(), name) == caps.end()) caps.push_back(name);
  }
  return caps;
}

std::string cgroupPathOf(const std::string& parent, const std::string& pod_uid, const std::string& id) {
  std::string p = parent.empty() ? "" : parent;
  if (!p.empty() && p.front() != '/') p = "/" + p;
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (!pod_uid.empty()) p += "/" + pod_uid;
  return p + "/" + id;
}

Result<Json> buildOciConfig(const ContainerSpec& spec, const std::string& rootfs, const std::string& cgroups_path) {
  if (!validId(spec.id)) return Status(Code::kInvalid, "invalid container id: " + spec.id);
  if (!spec.pod_uid.empty() && !validId(spec.pod_uid)) return Status(Code::kInvalid, "invalid pod uid: " + spec.pod_uid);
  if (spec.args.empty()) return Status(Code::kInvalid, "container " + spec.id + " has no command");
  const auto& sec = spec.security;
  auto caps = effectiveCapabilities(sec);
  Json process = {
      {"terminal", spec.tty},
      {"user", {{"uid", sec.uid}, {"gid", sec.gid}}},
      {"args", spec.args},
      {"env", spec.env},
      {"cwd", spec.cwd.empty() ? "/" : spec.cwd},
      {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"noNewPrivileges", sec.no_new_privileges && !sec.privileged},
  };
  if (!sec.additional_gids.empty()) process["user"]["additionalGids"] = sec.additional_gids;
  if (process["cwd"].get<std::string>().front() != '/') return Status(Code::kInvalid, "workingDir must be absolute");

  Json mounts = baseMounts(sec.privileged);
  for (const auto& m : spec.mounts) {
    if (m.destination.empty() || m.destination.front() != '/')
      return Status(Code::kInvalid, "mount destination must be absolute: " + m.destination);
    if (m.type == "bind")
      mounts.push_back(bindMount(m));
    else if (m.type == "tmpfs")
      mounts.push_back(tmpfsMount(m));
    else
      return Status(Code::kInvalid, "unsupported mount type " + m.type);
  }

  Json namespaces = Json::array({{{"type", "pid"}}, {{"type", "mount"}}});
  auto ns = [&](const char* type, const std::string& path) {
    Json n = {{"type", type}};
    if (!path.empty()) n["path"] = path;
    namespaces.push_back(n);
  };
  ns("network", spec.namespaces.network);
  ns("ipc", spec.namespaces.ipc);
  ns("uts", spec.namespaces.uts);

  Json resources = {{"devices", Json::array({{{"allow", sec.privileged}, {"access", "rwm"}}})}};
  const auto& r = spec.resources;
  if (r.memory_limit_bytes > 0) resources["memory"] = {{"limit", r.memory_limit_bytes}, {"swap", r.memory_limit_bytes}};
  Json cpu = Json::object();
  if (r.cpu_shares > 0) cpu["shares"] = r.cpu_shares;
  if (r.cpu_quota_us > 0) {
    cpu["quota"] = r.cpu_quota_us;
    cpu["period"] = r.cpu_period_us > 0 ? r.cpu_period_us : 100000;
  }
  if (!cpu.empty()) resources["cpu"] = cpu;
  if (r.pids_limit > 0) resources["pids"] = {{"limit", r.pids_limit}};

  Json linux_section = {
      {"namespaces", namespaces},
      {"cgroupsPath", cgroups_path},
      {"resources", resources},
  };
  if (!sec.privileged) {
    linux_section["maskedPaths"] = {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                                    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                                    "/sys/firmware", "/sys/devices/virtual/powercap"};
    linux_section["readonlyPaths"] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
    if (!sec.seccomp_unconfined) linux_section["seccomp"] = defaultSeccompProfile(caps);
  }

  Json annotations = Json::object();
  for (const auto& [k, v] : spec.labels) annotations[std::string(kLabelAnnotationPrefix) + k] = v;
  annotations[std::string(kPodUidAnnotation)] = spec.pod_uid;
  annotations[std::string(kLogPathAnnotation)] = spec.log_path;

  Json config = {
      {"ociVersion", "1.0.2"},
      {"process", process},
      {"root", {{"path", rootfs}, {"readonly", sec.readonly_rootfs}}},
      {"mounts", mounts},
      {"linux", linux_section},
      {"annotations", annotations},
  };
  if (!spec.hostname.empty()) config["hostname"] = spec.hostname;
  return config;
}

}  // namespace capstan::agent::runtime
