#include "agent/runtime/cgroups.h"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "common/log.h"

namespace capstan::agent::runtime {
namespace fs = std::filesystem;
namespace {

struct CgroupMount {
  std::string dir;
  std::vector<std::string> controllers;  // empty for cgroup2
  bool v2 = false;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep))
    if (!part.empty()) out.push_back(part);
  return out;
}

// From /proc/self/mountinfo: "... mountpoint opts - fstype source superopts".
std::vector<CgroupMount> parseCgroupMounts() {
  std::vector<CgroupMount> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    auto fields = split(line, ' ');
    auto dash = std::find(fields.begin(), fields.end(), "-");
    if (dash == fields.end() || fields.end() - dash < 4 || fields.size() < 5) continue;
    const std::string& fstype = *(dash + 1);
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    CgroupMount m;
    m.dir = fields[4];
    m.v2 = fstype == "cgroup2";
    if (!m.v2) {
      for (const auto& opt : split(*(dash + 3), ',')) {
        if (opt == "rw" || opt == "ro" || opt.find('=') != std::string::npos) {
          if (opt.rfind("name=", 0) == 0) m.controllers.push_back(opt);
          continue;
        }
        m.controllers.push_back(opt);
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

// The cgroup mounts, read once: mountinfo grows with every mount on the
// node (a pod adds its rootfs overlays with their long options, its
// namespace pins and tmpfs volumes), and the runtime asked for a
// controller's dir at each container start, exit, removal and stats
// scrape; with 40 pods running, those reads were 3 % of the machine's
// CPU in the serial pod-start bench. Cgroup hierarchies are mounted once
// at boot (kubelet also resolves them at start); fixHybridCgroups reads
// them again after it mounts one.
std::mutex g_cgroup_mounts_mu;
std::shared_ptr<const std::vector<CgroupMount>> g_cgroup_mounts;

std::shared_ptr<const std::vector<CgroupMount>> readCgroupMounts(bool refresh = false) {
  std::lock_guard lock(g_cgroup_mounts_mu);
  if (!g_cgroup_mounts || refresh)
    g_cgroup_mounts = std::make_shared<const std::vector<CgroupMount>>(parseCgroupMounts());
  return g_cgroup_mounts;
}

std::string readAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t readU64(const std::string& path) {
  std::ifstream in(path);
  uint64_t v = 0;
  in >> v;
  return v;
}

// "key value" lines (memory.stat, memory.oom_control).
uint64_t statField(const std::string& text, std::string_view key) {
  std::istringstream in(text);
  std::string k;
  uint64_t v;
  while (in >> k >> v)
    if (k == key) return v;
  return 0;
}

}  // namespace

std::vector<std::string> hybridLeftoverControllers() {
  std::string unified = std::string(kCgroupRoot) + "/unified/cgroup.controllers";
  std::vector<std::string> out;
  for (const auto& c : split(readAll(unified), ' '))
    for (const auto& w : split(c, '\n')) out.push_back(w);
  return out;
}

Status fixHybridCgroups() {
  auto leftovers = hybridLeftoverControllers();
  if (leftovers.empty()) return Status::ok();
  for (const auto& c : leftovers) {
    std::string dir = std::string(kCgroupRoot) + "/" + c;
    if (!controllerDir(c, "/").empty()) continue;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (::mount("cgroup", dir.c_str(), "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC, c.c_str()) != 0)
      return Status(Code::kInternal, "mount cgroup v1 " + c + " on " + dir + ": " + strerror(errno));
    LOG_INFO("mounted cgroup v1 hierarchy so crun accepts the hybrid host", "controller", c, "dir", dir);
  }
  (void)readCgroupMounts(/*refresh=*/true);
  auto still = hybridLeftoverControllers();
  if (!still.empty())
    return Status(Code::kInternal, "cgroup2 still holds controller " + still[0] + "; crun cannot run here");
  return Status::ok();
}

std::vector<std::string> cgroupMounts() {
  std::vector<std::string> out;
  for (const auto& m : *readCgroupMounts()) out.push_back(m.dir);
  return out;
}

std::string controllerDir(const std::string& controller, const std::string& path) {
  for (const auto& m : *readCgroupMounts()) {
    if (m.v2) continue;
    if (std::find(m.controllers.begin(), m.controllers.end(), controller) != m.controllers.end())
      return path == "/" ? m.dir : m.dir + path;
  }
  return "";
}

Status removeCgroup(const std::string& path) {
  Status first;
  for (const auto& dir : cgroupMounts()) {
    std::string p = dir + path;
    if (::rmdir(p.c_str()) != 0 && errno != ENOENT && errno != EBUSY && first.isOk())
      first = Status(Code::kInternal, "rmdir " + p + ": " + strerror(errno));
  }
  return first;
}

bool cgroupOomKilled(const std::string& path) {
  std::string dir = controllerDir("memory", path);
  return !dir.empty() && statField(readAll(dir + "/memory.oom_control"), "oom_kill") > 0;
}

Result<ContainerStats> readCgroupStats(const std::string& path) {
  std::string mem = controllerDir("memory", path);
  if (mem.empty() || !fs::exists(mem)) return Status(Code::kNotFound, "no memory cgroup " + path);
  std::string cpu = controllerDir("cpuacct", path);
  std::string pids = controllerDir("pids", path);
  return readCgroupStatsFrom(mem, cpu, pids);
}

ContainerStats readCgroupStatsFrom(const std::string& memory_dir, const std::string& cpu_dir,
                                   const std::string& pids_dir) {
  ContainerStats s;
  std::error_code ec;
  std::string stat = memory_dir.empty() ? std::string() : readAll(memory_dir + "/memory.stat");
  if (!memory_dir.empty() && fs::exists(memory_dir + "/memory.usage_in_bytes", ec)) {
    // v1: the total_* fields include the descendants (a pod's containers).
    s.memory_usage_bytes = readU64(memory_dir + "/memory.usage_in_bytes");
    s.memory_rss_bytes = statField(stat, "total_rss");
    uint64_t inactive_file = statField(stat, "total_inactive_file");
    s.memory_working_set_bytes =
        s.memory_usage_bytes > inactive_file ? s.memory_usage_bytes - inactive_file : 0;
  } else if (!memory_dir.empty() && fs::exists(memory_dir + "/memory.current", ec)) {
    // v2: memory.stat is hierarchical already.
    s.memory_usage_bytes = readU64(memory_dir + "/memory.current");
    s.memory_rss_bytes = statField(stat, "anon");
    uint64_t inactive_file = statField(stat, "inactive_file");
    s.memory_working_set_bytes =
        s.memory_usage_bytes > inactive_file ? s.memory_usage_bytes - inactive_file : 0;
  }
  if (!cpu_dir.empty()) {
    if (fs::exists(cpu_dir + "/cpuacct.usage", ec))
      s.cpu_usage_ns = readU64(cpu_dir + "/cpuacct.usage");
    else if (fs::exists(cpu_dir + "/cpu.stat", ec))
      s.cpu_usage_ns = statField(readAll(cpu_dir + "/cpu.stat"), "usage_usec") * 1000;
  }
  if (!pids_dir.empty()) s.pids = readU64(pids_dir + "/pids.current");
  return s;
}

}  // namespace capstan::agent::runtime
