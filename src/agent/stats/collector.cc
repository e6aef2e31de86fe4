#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/runtime/cgroups.h"
#include "agent/stats/stats.h"

namespace capstan::agent::stats {
namespace fs = std::filesystem;
namespace {

// The labels the pod worker gives each container (agent_impl.h).
constexpr const char* kNamespaceLabel = "io.kubernetes.pod.namespace";
constexpr const char* kPodNameLabel = "io.kubernetes.pod.name";
constexpr const char* kPodUidLabel = "io.kubernetes.pod.uid";
constexpr const char* kContainerLabel = "io.kubernetes.container.name";
constexpr const char* kImageLabel = "io.capstan.container.image";

std::string label(const runtime::ContainerStatus& c, const char* key) {
  auto it = c.labels.find(key);
  return it == c.labels.end() ? std::string() : it->second;
}

std::string readAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The source of the mount holding `path` ("/dev/vda1"), from mountinfo:
// "id parent major:minor root mountpoint opts ... - fstype source superopts".
std::string deviceOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  std::string want = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno;
    ls >> id >> parent >> devno;
    if (devno != want) continue;
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream rest(line.substr(dash + 3));
    std::string fstype, source;
    rest >> fstype >> source;
    return source;
  }
  return "";
}

}  // namespace

std::vector<InterfaceStats> parseNetDev(std::string_view text) {
  // Two header lines, then "  eth0: rx_bytes rx_packets errs drop fifo frame
  // compressed multicast tx_bytes tx_packets errs drop fifo colls carrier compressed".
  std::vector<InterfaceStats> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    if (name.empty() || name == "lo" || name.find('|') != std::string::npos) continue;
    std::istringstream f(line.substr(colon + 1));
    uint64_t v[16] = {};
    int n = 0;
    while (n < 16 && f >> v[n]) ++n;
    if (n < 16) continue;
    InterfaceStats s;
    s.name = name;
    s.rx_bytes = v[0];
    s.rx_packets = v[1];
    s.rx_errors = v[2];
    s.rx_dropped = v[3];
    s.tx_bytes = v[8];
    s.tx_packets = v[9];
    s.tx_errors = v[10];
    s.tx_dropped = v[11];
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

DirUsage directoryUsage(const std::string& dir) {
  DirUsage u;
  struct stat root {};
  if (::lstat(dir.c_str(), &root) != 0) return u;
  std::set<std::pair<dev_t, ino_t>> seen;
  auto account = [&](const struct stat& st) {
    if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !seen.insert({st.st_dev, st.st_ino}).second) return;
    u.bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    u.inodes += 1;
  };
  account(root);
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    if (st.st_dev != root.st_dev) {
      if (S_ISDIR(st.st_mode)) it.disable_recursion_pending();
      continue;
    }
    account(st);
  }
  return u;
}

Collector::Collector(const runtime::Runtime& runtime, CollectorOptions options, const Clock& clock)
    : runtime_(runtime), options_(std::move(options)), clock_(clock) {
  if (!options_.containers_dir.empty()) fs_device_ = deviceOf(options_.containers_dir);
}

std::optional<DirUsage> Collector::fsUsage(const std::string& id) const {
  if (options_.containers_dir.empty()) return std::nullopt;
  auto now = clock_.monotonic();
  {
    std::lock_guard lock(mu_);
    auto it = fs_cache_.find(id);
    if (it != fs_cache_.end() && now - it->second.read_at < options_.fs_cache_ttl) return it->second.usage;
  }
  std::string upper = options_.containers_dir + "/" + id + "/upper";
  std::error_code ec;
  if (!fs::is_directory(upper, ec)) return std::nullopt;
  DirUsage u = directoryUsage(upper);
  std::lock_guard lock(mu_);
  fs_cache_[id] = {u, now};
  return u;
}

NodeSample Collector::collect() const {
  NodeSample node;
  node.timestamp = clock_.now();
  node.fs_device = fs_device_;
  if (auto root = runtime::readCgroupStats("/")) {
    node.usage = *root;
    node.usage->timestamp = clock_.now();
  }
  std::map<std::pair<std::string, std::string>, PodSample> pods;
  std::set<std::string> live;
  for (const auto& c : runtime_.list()) {
    if (c.state != runtime::ContainerState::kRunning || c.pid <= 0) continue;
    std::string ns = label(c, kNamespaceLabel), pod = label(c, kPodNameLabel),
                name = label(c, kContainerLabel);
    if (ns.empty() || pod.empty() || name.empty()) continue;
    auto stats = runtime_.stats(c.id);
    if (!stats) continue;  // removed meanwhile
    PodSample& p = pods[{ns, pod}];
    if (p.name.empty()) {
      p.ns = ns;
      p.name = pod;
      p.uid = c.pod_uid.empty() ? label(c, kPodUidLabel) : c.pod_uid;
      p.cgroup = options_.cgroup_parent + "/" + p.uid;
    }
    if (p.network.empty()) {
      // Every container of the pod shares its network namespace.
      p.network = parseNetDev(readAll("/proc/" + std::to_string(c.pid) + "/net/dev"));
      p.network_timestamp = clock_.now();
    }
    ContainerSample s;
    s.id = c.id;
    s.name = name;
    s.image = label(c, kImageLabel);
    s.cgroup = p.cgroup + "/" + c.id;
    s.start_time = c.started_at.value_or(WallTime{});
    s.usage = *stats;
    s.fs = fsUsage(c.id);
    live.insert(c.id);
    // Two attempts of one container can overlap briefly: keep the newest.
    auto same =
        std::find_if(p.containers.begin(), p.containers.end(), [&](const auto& x) { return x.name == name; });
    if (same == p.containers.end())
      p.containers.push_back(std::move(s));
    else if (same->start_time < s.start_time)
      *same = std::move(s);
  }
  for (auto& [key, p] : pods) {
    if (auto u = runtime::readCgroupStats(p.cgroup)) {
      p.usage = *u;
      p.usage->timestamp = clock_.now();
    }
    std::sort(p.containers.begin(), p.containers.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    node.pods.push_back(std::move(p));
  }
  std::lock_guard lock(mu_);
  std::erase_if(fs_cache_, [&](const auto& e) { return !live.count(e.first); });
  return node;
}

}  // namespace capstan::agent::stats
