#include "proxy/socket_lb.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "common/log.h"
#include "proxy/bpf/socket_lb_maps.h"
#include "proxy/socket_lb.skel.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace capstan::proxy {
namespace {

std::string errnoText(int err) { return std::strerror(err < 0 ? -err : err); }

// libbpf's own messages go to our log at debug level (it prints to stderr
// otherwise).
int libbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[512];
  int n = vsnprintf(buf, sizeof buf, format, args);
  std::string line(buf, n > 0 ? std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1) : 0);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  LOG_DEBUG("libbpf", "message", line);
  return 0;
}

// A directory fd of the cgroup v2 root: the mounted hierarchy, or a private
// mount made and detached at once (the fd keeps it usable).
Result<int> openCgroup2Root() {
  std::ifstream mounts("/proc/self/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string source, target, type;
    fields >> source >> target >> type;
    if (type != "cgroup2") continue;
    int fd = ::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) return fd;
  }
  char dir[] = "/run/capstan-cgroup2-XXXXXX";
  if (!::mkdtemp(dir)) return Status(Code::kUnavailable, "mkdtemp for a cgroup2 mount: " + errnoText(errno));
  int fd = -1, err = 0;
  if (::mount("cgroup2", dir, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0) {
    fd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    err = errno;
    ::umount2(dir, MNT_DETACH);
  } else {
    err = errno;
  }
  ::rmdir(dir);
  if (fd < 0) return Status(Code::kUnavailable, "no cgroup2 hierarchy: " + errnoText(err));
  return fd;
}

// The cookie of a network namespace: asked of a socket made inside it, on a
// thread of its own (setns changes only the calling thread).
Result<uint64_t> netnsCookie(const std::string& path) {
  uint64_t cookie = 0;
  std::string error;
  auto ask = [&] {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof cookie;
    if (s < 0 || ::getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0)
      error = "SO_NETNS_COOKIE: " + errnoText(errno);
    if (s >= 0) ::close(s);
  };
  if (path.empty()) {
    ask();
  } else {
    std::thread([&] {
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        error = "open " + path + ": " + errnoText(errno);
        return;
      }
      if (::setns(fd, CLONE_NEWNET) != 0)
        error = "setns " + path + ": " + errnoText(errno);
      else
        ask();
      ::close(fd);
    }).join();
  }
  if (!error.empty()) return Status(Code::kUnavailable, error);
  return cookie;
}

uint32_t ipv4(const std::string& text) {
  in_addr a{};
  ::inet_pton(AF_INET, text.c_str(), &a);
  return a.s_addr;
}

capstan_lb_service_key serviceKey(const std::string& ip, int port) {
  capstan_lb_service_key k{};
  k.ip = ipv4(ip);
  k.port = htons(static_cast<uint16_t>(port));
  k.protocol = IPPROTO_TCP;
  return k;
}

}  // namespace

Result<std::unique_ptr<SocketLoadBalancer>> SocketLoadBalancer::open() {
  static std::once_flag print_once;
  std::call_once(print_once, [] { libbpf_set_print(libbpfPrint); });
  std::unique_ptr<SocketLoadBalancer> lb(new SocketLoadBalancer());
  lb->skel_ = socket_lb::open_and_load();
  if (!lb->skel_) return Status(Code::kUnavailable, "loading the BPF program: " + errnoText(errno));
  auto cgroup = openCgroup2Root();
  if (!cgroup) return cgroup.status();
  // The links are destroyed with the skeleton.
  lb->skel_->links.capstan_connect4 = bpf_program__attach_cgroup(lb->skel_->progs.capstan_connect4, *cgroup);
  int err = errno;
  if (lb->skel_->links.capstan_connect4) {
    lb->skel_->links.capstan_getpeername4 =
        bpf_program__attach_cgroup(lb->skel_->progs.capstan_getpeername4, *cgroup);
    err = errno;
  }
  ::close(*cgroup);
  if (!lb->skel_->links.capstan_connect4 || !lb->skel_->links.capstan_getpeername4)
    return Status(Code::kUnavailable, "attaching to the cgroup2 root: " + errnoText(err));
  lb->services_fd_ = bpf_map__fd(lb->skel_->maps.services);
  lb->backends_fd_ = bpf_map__fd(lb->skel_->maps.backends);
  lb->netns_fd_ = bpf_map__fd(lb->skel_->maps.netns);
  lb->balanced_fd_ = bpf_map__fd(lb->skel_->maps.balanced);
  return lb;
}

SocketLoadBalancer::~SocketLoadBalancer() {
  if (skel_) socket_lb::destroy(skel_);
}

Status SocketLoadBalancer::addNetns(const std::string& name, const std::string& path) {
  {
    std::lock_guard lock(mu_);
    if (auto it = netns_.find(name); it != netns_.end() && it->second.path == path) return Status::ok();
  }
  auto cookie = netnsCookie(path);
  if (!cookie) return cookie.status();
  std::lock_guard lock(mu_);
  uint8_t one = 1;
  if (::bpf_map_update_elem(netns_fd_, &*cookie, &one, BPF_ANY) != 0)
    return Status(Code::kUnavailable, "netns map: " + errnoText(errno));
  uint64_t was = 0;
  if (auto it = netns_.find(name); it != netns_.end()) was = it->second.cookie;
  netns_[name] = {path, *cookie};
  if (was && was != *cookie) forgetCookieLocked(was);
  return Status::ok();
}

Status SocketLoadBalancer::removeNetns(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = netns_.find(name);
  if (it == netns_.end()) return Status::ok();
  uint64_t cookie = it->second.cookie;
  netns_.erase(it);
  forgetCookieLocked(cookie);
  return Status::ok();
}

void SocketLoadBalancer::forgetCookieLocked(uint64_t cookie) {
  for (const auto& [name, other] : netns_)
    if (other.cookie == cookie) return;  // still registered under another name
  ::bpf_map_delete_elem(netns_fd_, &cookie);
}

// The map writes of one update, applied in batches in an order that keeps
// every lookup consistent: new backends, then the services pointing at
// them, then removed services, then the backends nothing points at any more.
struct SocketLoadBalancer::Writes {
  std::vector<capstan_lb_backend_key> backend_keys;
  std::vector<capstan_lb_backend> backend_values;
  std::vector<capstan_lb_service_key> service_keys;
  std::vector<capstan_lb_service> service_values;
  std::vector<capstan_lb_service_key> service_deletes;
  std::vector<capstan_lb_backend_key> backend_deletes;

  void dropBackends(const Programmed& p) {
    for (size_t i = 0; i < p.endpoints.size(); ++i)
      backend_deletes.push_back({p.id, p.generation, static_cast<uint16_t>(i)});
  }
  void remove(const Programmed& p) {
    service_deletes.push_back(serviceKey(p.cluster_ip, p.port));
    dropBackends(p);
  }
};

namespace {

// One BPF_MAP_UPDATE_BATCH (one syscall for thousands of elements), or
// element by element where the kernel refuses the batch.
template <typename K, typename V>
Status putAll(int fd, const std::vector<K>& keys, const std::vector<V>& values, const char* what) {
  if (keys.empty()) return Status::ok();
  uint32_t count = static_cast<uint32_t>(keys.size());
  if (::bpf_map_update_batch(fd, keys.data(), values.data(), &count, nullptr) == 0) return Status::ok();
  for (size_t i = 0; i < keys.size(); ++i)
    if (::bpf_map_update_elem(fd, &keys[i], &values[i], BPF_ANY) != 0)
      return Status(Code::kUnavailable, std::string(what) + " map: " + errnoText(errno));
  return Status::ok();
}

// Deletes element by element: a missing key (never written) is no error,
// and a batch would stop at the first.
template <typename K>
void deleteAll(int fd, const std::vector<K>& keys) {
  for (const auto& k : keys) ::bpf_map_delete_elem(fd, &k);
}

}  // namespace

void SocketLoadBalancer::removeService(const std::string& key, Writes& w) {
  auto it = programmed_.find(key);
  if (it == programmed_.end()) return;
  for (const auto& p : it->second) w.remove(p);
  programmed_.erase(it);
}

void SocketLoadBalancer::programPort(const std::string& cluster_ip, const ServicePort& port,
                                     const std::vector<Programmed>& before, std::vector<Programmed>& out, Writes& w) {
  const Programmed* was = nullptr;
  for (const auto& p : before)
    if (p.cluster_ip == cluster_ip && p.port == port.port) was = &p;
  std::vector<Endpoint> endpoints = port.endpoints;
  if (endpoints.size() > 65535) endpoints.resize(65535);
  if (was && was->endpoints == endpoints) {
    out.push_back(*was);
    return;
  }
  Programmed next{cluster_ip, port.port, was ? was->id : next_id_++,
                  static_cast<uint16_t>(was ? was->generation ^ 1 : 0), endpoints};
  auto key = serviceKey(cluster_ip, port.port);
  if (endpoints.empty()) {
    w.service_deletes.push_back(key);  // no endpoint: the rules refuse the connection at once
  } else {
    for (size_t i = 0; i < endpoints.size(); ++i) {
      w.backend_keys.push_back({next.id, next.generation, static_cast<uint16_t>(i)});
      w.backend_values.push_back({ipv4(endpoints[i].ip), htons(static_cast<uint16_t>(endpoints[i].port))});
    }
    w.service_keys.push_back(key);
    w.service_values.push_back({next.id, static_cast<uint16_t>(endpoints.size()), next.generation});
  }
  if (was) w.dropBackends(*was);
  out.push_back(std::move(next));
}

Status SocketLoadBalancer::update(const std::map<std::string, const ServiceInfo*>& changes, bool full) {
  std::lock_guard lock(mu_);
  Writes w;
  if (full)
    for (auto it = programmed_.begin(); it != programmed_.end();) {
      auto next = std::next(it);
      if (!changes.count(it->first)) removeService(it->first, w);
      it = next;
    }
  for (const auto& [key, info] : changes) {
    // What the nftables rules alone must keep: sessionAffinity (the choice
    // is remembered per client there), and anything without a ClusterIP.
    if (!info || info->affinity_timeout > 0 || !isIpv4(info->cluster_ip)) {
      removeService(key, w);
      continue;
    }
    std::vector<Programmed> before;
    if (auto it = programmed_.find(key); it != programmed_.end()) before = std::move(it->second);
    std::vector<Programmed> now;
    std::set<std::pair<std::string, int>> kept;
    for (const auto& port : info->ports) {
      if (port.protocol != "tcp" || port.port <= 0 || port.port > 65535) continue;
      if (!kept.insert({info->cluster_ip, port.port}).second) continue;
      programPort(info->cluster_ip, port, before, now, w);
    }
    for (const auto& p : before)
      if (!kept.count({p.cluster_ip, p.port})) w.remove(p);
    if (now.empty())
      programmed_.erase(key);
    else
      programmed_[key] = std::move(now);
  }
  Status st = putAll(backends_fd_, w.backend_keys, w.backend_values, "backends");
  if (st) st = putAll(services_fd_, w.service_keys, w.service_values, "services");
  if (!st) {
    // Leave what this update touched to the nftables rules rather than
    // half-programmed; the next full update tries again.
    deleteAll(services_fd_, w.service_keys);
    deleteAll(backends_fd_, w.backend_keys);
    for (auto it = programmed_.begin(); it != programmed_.end();)
      it = changes.count(it->first) ? programmed_.erase(it) : std::next(it);
  }
  deleteAll(services_fd_, w.service_deletes);
  deleteAll(backends_fd_, w.backend_deletes);
  return st;
}

size_t SocketLoadBalancer::servicePorts() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, ports] : programmed_)
    for (const auto& p : ports) n += p.endpoints.empty() ? 0 : 1;
  return n;
}

size_t SocketLoadBalancer::namespaces() const {
  std::lock_guard lock(mu_);
  return netns_.size();
}

uint64_t SocketLoadBalancer::balancedConnections() const {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return 0;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
  uint32_t zero = 0;
  if (::bpf_map_lookup_elem(balanced_fd_, &zero, per_cpu.data()) != 0) return 0;
  uint64_t sum = 0;
  for (uint64_t n : per_cpu) sum += n;
  return sum;
}

std::string SocketLoadBalancer::renderMetrics() const {
  return fmt::format(
      "# HELP capstan_proxy_socket_lb_connections_total ClusterIP TCP connections sent straight to an endpoint at "
      "connect().\n"
      "# TYPE capstan_proxy_socket_lb_connections_total counter\n"
      "capstan_proxy_socket_lb_connections_total {}\n"
      "# HELP capstan_proxy_socket_lb_service_ports ClusterIP TCP ports balanced at connect().\n"
      "# TYPE capstan_proxy_socket_lb_service_ports gauge\n"
      "capstan_proxy_socket_lb_service_ports {}\n"
      "# HELP capstan_proxy_socket_lb_namespaces Network namespaces whose connections are balanced at connect().\n"
      "# TYPE capstan_proxy_socket_lb_namespaces gauge\n"
      "capstan_proxy_socket_lb_namespaces {}\n",
      balancedConnections(), servicePorts(), namespaces());
}

}  // namespace capstan::proxy
