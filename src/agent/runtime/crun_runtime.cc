// Runtime over crun: container table, start/stop/remove, and the watcher
// thread that turns shim exits (pidfds in one epoll set) into events.

#include <signal.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "agent/runtime/bundle.h"
#include "agent/runtime/cgroups.h"
#include "agent/runtime/fd_passing.h"
#include "agent/runtime/process.h"
#include "agent/runtime/rootfs.h"
#include "agent/runtime/runtime.h"
#include "agent/runtime/shim.h"
#include "common/log.h"

namespace capstan::agent::runtime {
namespace fs = std::filesystem;
namespace {

int pidfdOpen(int pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

WallTime fromNs(int64_t ns) { return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(ns))); }

std::string reasonOf(const ShimExit& e) {
  if (e.phase != 0) return "StartError";
  if (e.oom) return "OOMKilled";
  return e.exit_code == 0 ? "Completed" : "Error";
}

void applyExit(ContainerStatus& s, const ShimExit& e, const std::string& dir) {
  s.state = ContainerState::kExited;
  s.pid = 0;
  s.exit_code = e.exit_code;
  s.signal = e.signal;
  s.oom_killed = e.oom;
  s.finished_at = fromNs(e.finished_ns);
  s.reason = reasonOf(e);
  if (e.phase != 0) s.message = lastCrunError(dir);
}

Status writeFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::trunc);
  out << data;
  out.flush();
  if (!out) return Status(Code::kInternal, "write " + path);
  return Status::ok();
}

// crun guards the host's binary against a container that would overwrite
// it through /proc/self/exe (CVE-2019-5736): unless it already runs from a
// sealed memfd, every `crun run`, `create` and `exec` copies itself into
// one and executes itself again, which is a second start-up of crun and its
// eleven libraries. A sealed copy made once, and crun run from it, keeps
// the same guard without that: 15-16 ms per `crun run` instead of 18-19
// here. The copy is a memfd of this process; others (the shims) reach it
// as /proc/<pid>/fd/<fd> while the agent lives. Empty on failure: then
// crun runs from its own path, as before.
struct SealedCopy {
  int fd = -1;
  std::string path;
};

SealedCopy sealedCopyOf(const std::string& binary) {
  int in = ::open(binary.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return {};
  int fd = memfd_create("crun", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  bool ok = fd >= 0;
  char buf[65536];
  for (ssize_t n; ok && (n = ::read(in, buf, sizeof buf)) != 0;) {
    if (n < 0) {
      ok = errno == EINTR;
      continue;
    }
    for (ssize_t off = 0; ok && off < n;) {
      ssize_t w = ::write(fd, buf + off, static_cast<size_t>(n - off));
      if (w > 0) off += w;
      else ok = w < 0 && errno == EINTR;
    }
  }
  ::close(in);
  ok = ok && fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) == 0;
  if (!ok) {
    if (fd >= 0) ::close(fd);
    return {};
  }
  return {fd, fmt::format("/proc/{}/fd/{}", getpid(), fd)};
}

class CrunRuntime final : public Runtime {
 public:
  CrunRuntime(RuntimeConfig config, const Clock& clock) : config_(std::move(config)), clock_(clock) {}
  ~CrunRuntime() override {
    if (watcher_.joinable()) {
      uint64_t one = 1;
      {
        std::lock_guard lock(mu_);
        stopping_ = true;
      }
      if (::write(wake_fd_, &one, sizeof one) < 0) {
      }
      cv_.notify_all();
      watcher_.join();
    }
    if (preparer_.joinable()) preparer_.join();
    for (auto& [id, e] : containers_)
      if (e.pidfd >= 0) ::close(e.pidfd);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (crun_copy_.fd >= 0) ::close(crun_copy_.fd);
  }

  Status init() {
    std::error_code ec;
    for (const auto& d : {containersDir(), layersDir(), config_.crun_root}) {
      fs::create_directories(d, ec);
      if (ec) return Status(Code::kInternal, "mkdir " + d + ": " + ec.message());
    }
    if (config_.fix_hybrid_cgroups)
      if (auto st = fixHybridCgroups(); !st) return st;
    auto v = runProcess({config_.crun_path, "--version"});
    if (!v || v->exit_code != 0) return Status(Code::kInternal, "crun not usable at " + config_.crun_path);
    crun_copy_ = sealedCopyOf(config_.crun_path);
    if (crun_copy_.fd < 0) LOG_WARN("crun runs from its own path: no sealed copy", "path", config_.crun_path);
    if (config_.shim_path.empty()) config_.shim_path = defaultShimPath();
    if (::access(config_.shim_path.c_str(), X_OK) != 0)
      return Status(Code::kInternal, "the container shim is missing: " + config_.shim_path +
                                         " (capstan-shim is built and installed beside capstan)");
    version_ = firstLine(v->out);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_fd_ < 0 || wake_fd_ < 0) return Status(Code::kInternal, "epoll/eventfd failed");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd_;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    recover();
    watcher_ = std::thread([this] { watch(); });
    preparer_ = std::thread([this] { prepareLoop(); });
    return Status::ok();
  }

  void setExitHandler(ExitHandler handler) override {
    std::lock_guard lock(mu_);
    handler_ = std::move(handler);
  }

  Result<ContainerStatus> start(const ContainerSpec& spec) override {
    std::string dir = containersDir() + "/" + spec.id;
    std::string cgroup = cgroupPathOf(config_.cgroup_parent, spec.pod_uid, spec.id);
    auto config = buildOciConfig(spec, dir + "/rootfs", cgroup);
    if (!config) return config.status();
    if (spec.log_path.empty() || spec.log_path.front() != '/')
      return Status(Code::kInvalid, "log path must be absolute");
    if (auto prepared = startPrepared(spec, fingerprintOf(spec, *config))) return std::move(*prepared);
    StartingGuard starting(*this);
    {
      std::lock_guard lock(mu_);
      if (containers_.count(spec.id) || fs::exists(dir))
        return Status(Code::kAlreadyExists, "container " + spec.id + " exists");
      Entry& e = containers_[spec.id];
      e.dir = dir;
      e.cgroup = cgroup;
      e.status.id = spec.id;
      e.status.pod_uid = spec.pod_uid;
      e.status.state = ContainerState::kCreated;
      e.status.labels = spec.labels;
      e.status.log_path = spec.log_path;
    }
    auto fail = [&](Status st) -> Result<ContainerStatus> {
      std::lock_guard lock(mu_);
      auto& s = containers_[spec.id].status;
      s.state = ContainerState::kExited;
      s.reason = "StartError";
      s.message = st.message();
      s.exit_code = 128;
      s.finished_at = clock_.now();
      cv_.notify_all();
      return st;
    };
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (auto st = writeBundle(spec, dir, *config); !st) return fail(st);
    auto launch = launchShim(shimParamsOf(spec, dir, cgroup), std::chrono::seconds(60));
    if (!launch) return fail(launch.status());
    int pidfd = launch->started ? pidfdOpen(launch->shim_pid) : -1;
    std::unique_lock lock(mu_);
    Entry& e = containers_[spec.id];
    e.shim_pid = launch->shim_pid;
    if (!launch->started) {
      if (auto ex = readShimExit(dir)) applyExit(e.status, *ex, dir);
      cv_.notify_all();
      std::string msg = e.status.message.empty() ? "crun failed" : e.status.message;
      return Status(Code::kInternal, "start " + spec.id + ": " + msg);
    }
    e.status.state = ContainerState::kRunning;
    e.status.pid = launch->container_pid;
    e.status.started_at = fromNs(launch->started_ns);
    if (pidfd >= 0) {
      watchLocked(spec.id, e, pidfd);
    } else if (auto ex = readShimExit(dir)) {
      applyExit(e.status, *ex, dir);  // the shim is gone already
    }
    return e.status;
  }

  Result<ContainerStatus> stop(const std::string& id, std::chrono::milliseconds grace) override {
    auto s = status(id);
    if (!s) return s;
    if (s->state != ContainerState::kRunning) return s;
    if (grace.count() > 0) {
      kill(id, SIGTERM).ignore();
      auto done = waitExit(id, grace);
      if (done) return done;
    }
    kill(id, SIGKILL).ignore();
    return waitExit(id, std::chrono::seconds(30));
  }

  Status kill(const std::string& id, int signal) override {
    auto s = status(id);
    if (!s) return s.status();
    if (s->state != ContainerState::kRunning) return Status(Code::kConflict, "container " + id + " is not running");
    auto r = runProcess({crun(), "--root", config_.crun_root, "kill", id, std::to_string(signal)});
    if (!r) return r.status();
    if (r->exit_code != 0) {
      auto again = status(id);  // it may have exited meanwhile
      if (again && again->state == ContainerState::kExited) return Status::ok();
      return Status(Code::kInternal, "crun kill " + id + ": " + firstLine(r->err));
    }
    return Status::ok();
  }

  Result<ContainerStatus> waitExit(const std::string& id, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    bool done = cv_.wait_for(lock, timeout, [&] {
      auto it = containers_.find(id);
      return it == containers_.end() || it->second.status.state == ContainerState::kExited;
    });
    auto it = containers_.find(id);
    if (it == containers_.end()) return Status(Code::kNotFound, "container " + id + " not found");
    if (!done) return Status(Code::kTimeout, "container " + id + " still running");
    return it->second.status;
  }

  Status remove(const std::string& id) override {
    dropSuccessorOf(id);
    std::string dir = containersDir() + "/" + id;
    std::string cgroup;
    {
      std::lock_guard lock(mu_);
      tried_.erase(id);
      auto it = containers_.find(id);
      if (it != containers_.end()) cgroup = it->second.cgroup;
    }
    if (auto s = status(id); s && s->state == ContainerState::kRunning) {
      kill(id, SIGKILL).ignore();
      waitExit(id, std::chrono::seconds(30)).status().ignore();
    }
    auto del = runProcess({crun(), "--root", config_.crun_root, "delete", "-f", id});
    if (del && del->exit_code != 0 && del->err.find("does not exist") == std::string::npos &&
        del->err.find("No such file") == std::string::npos)
      LOG_WARN("crun delete failed", "id", id, "err", firstLine(del->err));
    if (auto st = unmountRootfs(dir); !st) return st;
    if (!cgroup.empty()) {
      removeCgroup(cgroup).ignore();
      // The pod's cgroup goes with its last container (EBUSY otherwise).
      auto parent = fs::path(cgroup).parent_path().string();
      if (parent != config_.cgroup_parent && parent != "/") removeCgroup(parent).ignore();
    }
    std::error_code ec;
    if (fs::exists(dir) && !isMountPoint(dir + "/rootfs")) fs::remove_all(dir, ec);
    if (ec) return Status(Code::kInternal, "remove " + dir + ": " + ec.message());
    if (layersDir() != containersDir()) fs::remove_all(layerDirOf(id), ec);
    if (ec) return Status(Code::kInternal, "remove " + layerDirOf(id) + ": " + ec.message());
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    if (it != containers_.end()) {
      unwatchLocked(it->second);
      containers_.erase(it);
    }
    cv_.notify_all();
    return Status::ok();
  }

  Result<ContainerStatus> status(const std::string& id) const override {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end() || !it->second.prepared_for.empty())
      return Status(Code::kNotFound, "container " + id + " not found");
    return it->second.status;
  }

  std::vector<ContainerStatus> list() const override {
    std::lock_guard lock(mu_);
    std::vector<ContainerStatus> out;
    for (const auto& [id, e] : containers_)
      if (e.prepared_for.empty()) out.push_back(e.status);
    return out;
  }

  void prepare(const std::string& after, const ContainerSpec& next) override {
    std::lock_guard lock(mu_);
    if (stopping_ || tried_.count(after) || containers_.count(next.id)) return;
    auto a = containers_.find(after);
    if (a == containers_.end() || a->second.status.state != ContainerState::kRunning || !a->second.prepared_for.empty())
      return;
    tried_.insert(after);
    Entry& e = containers_[next.id];
    e.dir = containersDir() + "/" + next.id;
    e.cgroup = cgroupPathOf(config_.cgroup_parent, next.pod_uid, next.id);
    e.status.id = next.id;
    e.status.pod_uid = next.pod_uid;
    e.status.state = ContainerState::kCreated;
    e.status.labels = next.labels;
    e.status.log_path = next.log_path;
    e.prepared_for = after;
    e.prep = Prep::kQueued;
    e.spec = std::make_shared<const ContainerSpec>(next);
    prep_queue_.push_back(next.id);
    cv_.notify_all();
  }

  bool hasPrepared(const std::string& after) const override {
    std::lock_guard lock(mu_);
    return tried_.count(after) > 0;
  }

  void discardPrepared(const std::string& after) override { dropSuccessorOf(after); }

  Result<ExecResult> exec(const std::string& id, const std::vector<std::string>& argv,
                          const ExecOptions& options) override {
    auto args = execArgs(id, argv, options);
    if (!args) return args.status();
    ProcessOptions po;
    po.stdin_data = options.stdin_data;
    po.timeout = options.timeout;
    auto r = runProcess(*args, po);
    if (!r) return r.status();
    return ExecResult{r->exit_code, std::move(r->out), std::move(r->err)};
  }

  Result<ExecProcess> execStreaming(const std::string& id, const std::vector<std::string>& argv,
                                    const ExecOptions& options) override {
    auto args = execArgs(id, argv, options);
    if (!args) return args.status();
    if (options.tty) return execOnTerminal(*args);
    auto p = spawnProcess(*args, {});
    if (!p) return p.status();
    return ExecProcess{p->pid, p->stdin_fd, p->stdout_fd, p->stderr_fd};
  }

  Result<ExecProcess> attach(const std::string& id) override {
    std::string dir;
    {
      std::lock_guard lock(mu_);
      auto it = containers_.find(id);
      if (it == containers_.end() || it->second.status.state != ContainerState::kRunning)
        return Status(Code::kConflict, "container " + id + " is not running");
      dir = it->second.dir;
    }
    // Through /proc/self/fd: the bundle's path may exceed sun_path.
    int dirfd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) return Status(Code::kNotFound, "container " + id + " has no bundle");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dirfd, kAttachSocket);
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool connected = s >= 0 && ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(dirfd);
    if (!connected) {
      if (s >= 0) ::close(s);
      return Status(Code::kNotFound, "the shim of container " + id + " serves no attach socket");
    }
    char byte = 0;
    int fds[3];
    int n = receiveFds(s, &byte, fds, 3);
    ::close(s);
    if (n != 3) {
      for (int i = 0; i < n; ++i) ::close(fds[i]);
      return Status(Code::kInternal, "the shim of container " + id + " refused the attach");
    }
    if (byte == 't') return ExecProcess{-1, fds[0], fds[1], -1, fds[2]};
    return ExecProcess{-1, fds[0], fds[1], fds[2], -1};
  }

  Result<ContainerStats> stats(const std::string& id) const override {
    std::string cgroup;
    {
      std::lock_guard lock(mu_);
      auto it = containers_.find(id);
      if (it == containers_.end()) return Status(Code::kNotFound, "container " + id + " not found");
      cgroup = it->second.cgroup;
    }
    auto s = readCgroupStats(cgroup);
    if (s) s->timestamp = clock_.now();
    return s;
  }

  std::string version() const override { return version_; }

 private:
  // A prepared successor's progress: queued for the preparer thread, being
  // created by it, or created and waiting for start().
  enum class Prep { kNone, kQueued, kCreating, kReady };

  struct Entry {
    ContainerStatus status;
    std::string dir;
    std::string cgroup;
    int shim_pid = 0;
    int pidfd = -1;  // a prepared one's is not in the epoll set until it starts
    // Non-empty: a successor prepared for that container, hidden from
    // status() and list() until start() takes it.
    std::string prepared_for;
    Prep prep = Prep::kNone;
    std::string fingerprint;                     // what it was created from
    std::shared_ptr<const ContainerSpec> spec;   // what to create
  };

  // Preparing waits while starts happen and for this long after the last
  // one: a successor must not slow down a pod that is starting.
  static constexpr std::chrono::milliseconds kPrepareQuiet{100};
  // crun's work for a successor runs at this niceness (the shim resets the
  // container to 0 before it runs anything).
  static constexpr int kPrepareNice = 10;
  // The marker of a prepared container's bundle: an agent that restarts
  // removes such containers (recover()).
  static constexpr const char* kPreparedMarker = "prepared";

  // Counts a start() in progress, and when the last one ended.
  class StartingGuard {
   public:
    explicit StartingGuard(CrunRuntime& rt) : rt_(rt) {
      std::lock_guard lock(rt_.mu_);
      ++rt_.starting_;
    }
    ~StartingGuard() {
      std::lock_guard lock(rt_.mu_);
      --rt_.starting_;
      rt_.last_start_ = std::chrono::steady_clock::now();
      rt_.cv_.notify_all();
    }

   private:
    CrunRuntime& rt_;
  };

  // The bundle in `dir`: the rootfs mounted and config.json written.
  Status writeBundle(const ContainerSpec& spec, const std::string& dir, const Json& config) {
    std::error_code ec;
    fs::create_directories(fs::path(spec.log_path).parent_path(), ec);
    std::vector<std::string> layers = spec.rootfs.layer_dirs;
    // The container's mount points as a shared read-only layer, so that
    // crun creates none of them in the writable layer on disk.
    auto points = mountPointLayer(config_.state_dir + "/mountpoints", layers, mountPointsOf(config));
    if (!points) return points.status();
    if (!points->empty()) layers.push_back(*points);
    auto rootfs = mountRootfs(layers, dir, layerDirOf(spec.id));
    if (!rootfs) return rootfs.status();
    return writeFile(dir + "/config.json", config.dump(1));
  }

  ShimParams shimParamsOf(const ContainerSpec& spec, const std::string& dir, const std::string& cgroup) const {
    ShimParams params{config_.shim_path, crun(), config_.crun_root, dir, spec.id, spec.log_path,
                      controllerDir("memory", cgroup) + "/memory.oom_control"};
    params.tty = spec.tty;
    params.stdin = spec.stdin;
    params.stdin_once = spec.stdin_once;
    params.log_max_bytes = config_.container_log_max_bytes;
    params.log_max_files = config_.container_log_max_files;
    return params;
  }

  // Everything a container is made from: its OCI config (args, env,
  // mounts, resources, labels...), and what the shim and the rootfs get.
  static std::string fingerprintOf(const ContainerSpec& spec, const Json& config) {
    std::string f = config.dump();
    f += '\n';
    f += spec.log_path;
    for (const auto& layer : spec.rootfs.layer_dirs) f += '\n' + layer;
    f += spec.tty ? "\nt" : "\n-";
    f += spec.stdin ? 's' : '-';
    f += spec.stdin_once ? 'o' : '-';
    return f;
  }

  // start() of a prepared container: nullopt when there is none to use
  // (then start() makes the container as usual; a stale one is removed).
  std::optional<Result<ContainerStatus>> startPrepared(const ContainerSpec& spec, const std::string& fingerprint) {
    int cpid = 0;
    std::string dir;
    {
      std::unique_lock lock(mu_);
      auto it = containers_.find(spec.id);
      if (it == containers_.end() || it->second.prepared_for.empty()) return std::nullopt;
      if (it->second.prep == Prep::kQueued) {  // nothing made yet
        containers_.erase(it);
        return std::nullopt;
      }
      cv_.wait(lock, [&] {
        auto i = containers_.find(spec.id);
        return i == containers_.end() || i->second.prep != Prep::kCreating;
      });
      it = containers_.find(spec.id);
      if (it == containers_.end()) return std::nullopt;
      Entry& e = it->second;
      pollfd pf{e.pidfd, POLLIN, 0};
      bool alive = e.pidfd >= 0 && ::poll(&pf, 1, 0) == 0;
      if (e.prep != Prep::kReady || e.fingerprint != fingerprint || !alive) {
        e.prepared_for.clear();  // remove() may take it now
        lock.unlock();
        if (auto st = remove(spec.id); !st) LOG_WARN("removing a stale prepared container", "id", spec.id, "error", st.message());
        return std::nullopt;
      }
      // Claimed: from now on it is listed (as created, then running).
      e.prepared_for.clear();
      e.prep = Prep::kNone;
      cpid = e.status.pid;
      dir = e.dir;
    }
    auto r = runProcess({crun(), "--root", config_.crun_root, "start", spec.id});
    if (!r || r->exit_code != 0) {
      LOG_WARN("crun start of a prepared container failed; starting it afresh", "id", spec.id, "error",
               r ? firstLine(r->err) : r.status().message());
      if (auto st = remove(spec.id); !st) return Result<ContainerStatus>(st);
      return std::nullopt;
    }
    int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    writeFile(dir + "/started", fmt::format("{} {}\n", cpid, now_ns)).ignore();
    ::unlink((dir + "/" + kPreparedMarker).c_str());
    std::lock_guard lock(mu_);
    auto it = containers_.find(spec.id);
    if (it == containers_.end()) return Result<ContainerStatus>(Status(Code::kNotFound, "container " + spec.id + " was removed"));
    Entry& e = it->second;
    e.status.state = ContainerState::kRunning;
    e.status.started_at = fromNs(now_ns);
    // Level-triggered: a container that already exited is reported at once.
    watchLocked(spec.id, e, e.pidfd);
    last_start_ = std::chrono::steady_clock::now();
    return Result<ContainerStatus>(e.status);
  }

  // Removes the successor prepared for `after`, if there is one; waits for
  // one being created, so that nothing of it outlives the call.
  void dropSuccessorOf(const std::string& after) {
    std::string id;
    {
      std::unique_lock lock(mu_);
      for (auto& [cid, e] : containers_)
        if (e.prepared_for == after) id = cid;
      if (id.empty()) return;
      if (containers_[id].prep == Prep::kQueued) {  // nothing made yet
        containers_.erase(id);
        return;
      }
      cv_.wait(lock, [&] {
        auto it = containers_.find(id);
        return it == containers_.end() || it->second.prep != Prep::kCreating;
      });
      auto it = containers_.find(id);
      if (it == containers_.end() || it->second.prepared_for != after) return;
      it->second.prepared_for.clear();  // remove() may take it now
    }
    if (auto st = remove(id); !st) LOG_WARN("removing a prepared container", "id", id, "error", st.message());
  }

  // What the preparer thread makes of a queued successor.
  struct Made {
    std::string fingerprint;
    int shim_pid = 0;
    int container_pid = 0;
    int pidfd = -1;
  };

  Result<Made> createPrepared(const ContainerSpec& spec, const std::string& dir, const std::string& cgroup) {
    auto config = buildOciConfig(spec, dir + "/rootfs", cgroup);
    if (!config) return config.status();
    std::error_code ec;
    fs::create_directories(dir, ec);
    // First, so that an agent killed from here on finds it out.
    if (auto st = writeFile(dir + "/" + kPreparedMarker, ""); !st) return st;
    if (auto st = writeBundle(spec, dir, *config); !st) return st;
    ShimParams params = shimParamsOf(spec, dir, cgroup);
    params.create_only = true;
    params.nice = kPrepareNice;
    auto launch = launchShim(params, std::chrono::seconds(60));
    if (!launch) return launch.status();
    if (!launch->created) return Status(Code::kInternal, "crun create: " + lastCrunError(dir));
    int pidfd = pidfdOpen(launch->shim_pid);
    if (pidfd < 0) return Status(Code::kInternal, "the prepared container's shim is gone");
    return Made{fingerprintOf(spec, *config), launch->shim_pid, launch->container_pid, pidfd};
  }

  // The preparer thread: one successor at a time, while no start() runs.
  void prepareLoop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stopping_ || !prep_queue_.empty(); });
      if (stopping_) return;
      auto quiet_at = last_start_ + kPrepareQuiet;
      auto now = std::chrono::steady_clock::now();
      if (starting_ > 0 || now < quiet_at) {
        cv_.wait_until(lock, starting_ > 0 ? now + kPrepareQuiet : quiet_at);
        continue;
      }
      std::string id = prep_queue_.front();
      prep_queue_.pop_front();
      auto it = containers_.find(id);
      if (it == containers_.end() || it->second.prep != Prep::kQueued) continue;
      it->second.prep = Prep::kCreating;
      auto spec = it->second.spec;
      std::string dir = it->second.dir, cgroup = it->second.cgroup;
      lock.unlock();
      auto made = createPrepared(*spec, dir, cgroup);
      lock.lock();
      it = containers_.find(id);
      if (it == containers_.end()) {  // not expected: dropSuccessorOf() and start() wait for kCreating
        if (made) ::close(made->pidfd);
        continue;
      }
      Entry& e = it->second;
      e.spec.reset();
      if (!made) {
        // Still kCreating, so that nobody else removes it meanwhile;
        // remove() erases the entry and wakes those waiting for it.
        LOG_WARN("preparing a container's restart failed", "id", id, "error", made.status().message());
        lock.unlock();
        if (auto st = remove(id); !st) LOG_WARN("removing a prepared container", "id", id, "error", st.message());
        lock.lock();
        containers_.erase(id);
        cv_.notify_all();
        continue;
      }
      e.fingerprint = std::move(made->fingerprint);
      e.shim_pid = made->shim_pid;
      e.status.pid = made->container_pid;
      e.pidfd = made->pidfd;
      e.prep = Prep::kReady;
      cv_.notify_all();
    }
  }

  std::string containersDir() const { return config_.state_dir + "/containers"; }
  // Where container `id`'s writable layer lives (rootfs.h).
  std::string layersDir() const { return config_.layers_dir.empty() ? containersDir() : config_.layers_dir; }
  std::string layerDirOf(const std::string& id) const { return layersDir() + "/" + id; }

  Result<std::vector<std::string>> execArgs(const std::string& id, const std::vector<std::string>& argv,
                                            const ExecOptions& options) const {
    if (argv.empty()) return Status(Code::kInvalid, "exec needs a command");
    auto s = status(id);
    if (!s) return s.status();
    if (s->state != ContainerState::kRunning) return Status(Code::kConflict, "container " + id + " is not running");
    std::vector<std::string> args = {crun(), "--root", config_.crun_root, "exec"};
    for (const auto& e : options.env) args.insert(args.end(), {"--env", e});
    if (!options.cwd.empty()) args.insert(args.end(), {"--cwd", options.cwd});
    args.push_back(id);
    args.insert(args.end(), argv.begin(), argv.end());
    return args;
  }

  // `crun exec --tty` makes the pseudo-terminal in the container's devpts
  // and hands its master over --console-socket (SCM_RIGHTS), as runc does.
  Result<ExecProcess> execOnTerminal(std::vector<std::string> args) {
    static std::atomic<uint64_t> counter{0};
    std::string path = fmt::format("{}/exec-{}-{}.sock", config_.state_dir, ::getpid(), counter++);
    int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) return Status(Code::kInternal, std::string("console socket: ") + std::strerror(errno));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
      ::close(listener);
      return Status(Code::kInternal, "console socket path too long: " + path);
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ::unlink(path.c_str());
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(listener, 1) < 0) {
      Status st(Code::kInternal, std::string("console socket: ") + std::strerror(errno));
      ::close(listener);
      return st;
    }
    auto cleanup = [&] {
      ::close(listener);
      ::unlink(path.c_str());
    };
    auto exec_at = std::find(args.begin(), args.end(), "exec");
    args.insert(exec_at + 1, {"--tty", "--console-socket", path});
    auto p = spawnProcess(args, {});
    if (!p) {
      cleanup();
      return p.status();
    }
    ::close(p->stdin_fd);
    ::close(p->stdout_fd);
    auto fail = [&](const std::string& why) -> Status {
      ::kill(p->pid, SIGKILL);
      std::string err;
      char buf[4096];
      ssize_t n;
      while ((n = ::read(p->stderr_fd, buf, sizeof buf)) > 0) err.append(buf, static_cast<size_t>(n));
      int st = 0;
      while (::waitpid(p->pid, &st, 0) < 0 && errno == EINTR) {
      }
      ::close(p->stderr_fd);
      cleanup();
      return Status(Code::kInternal, "crun exec --tty: " + (err.empty() ? why : firstLine(err)));
    };
    // Wait for crun to connect, or for it to fail first (its stderr closes).
    pollfd fds[2] = {{listener, POLLIN, 0}, {p->stderr_fd, POLLIN, 0}};
    int ready = 0;
    while ((ready = ::poll(fds, 2, 10000)) < 0 && errno == EINTR) {
    }
    if (ready <= 0 || !(fds[0].revents & POLLIN)) return fail("no terminal from crun");
    int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return fail(std::string("accept: ") + std::strerror(errno));
    char byte = 0;
    int master = -1;
    int got = receiveFds(conn, &byte, &master, 1);
    ::close(conn);
    if (got != 1) return fail("no terminal from crun");
    cleanup();
    int in = ::fcntl(master, F_DUPFD_CLOEXEC, 0);
    int resize = ::fcntl(master, F_DUPFD_CLOEXEC, 0);
    return ExecProcess{p->pid, in, master, p->stderr_fd, resize};
  }

  void watchLocked(const std::string& id, Entry& e, int pidfd) {
    e.pidfd = pidfd;
    by_fd_[pidfd] = id;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = pidfd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, pidfd, &ev);
  }

  void unwatchLocked(Entry& e) {
    if (e.pidfd < 0) return;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, e.pidfd, nullptr);
    by_fd_.erase(e.pidfd);
    ::close(e.pidfd);
    e.pidfd = -1;
  }

  // The shim behind a pidfd exited: its exit file says how the container
  // ended; without one the shim itself died.
  std::optional<ContainerStatus> onShimExitLocked(int fd) {
    auto it = by_fd_.find(fd);
    if (it == by_fd_.end()) return std::nullopt;
    auto cit = containers_.find(it->second);
    if (cit == containers_.end()) return std::nullopt;
    Entry& e = cit->second;
    unwatchLocked(e);
    if (auto ex = readShimExit(e.dir)) {
      applyExit(e.status, *ex, e.dir);
    } else {
      e.status.state = ContainerState::kExited;
      e.status.exit_code = 255;
      e.status.reason = "Error";
      e.status.message = "the container's shim died";
      e.status.finished_at = clock_.now();
    }
    cv_.notify_all();
    return e.status;
  }

  void watch() {
    epoll_event events[32];
    for (;;) {
      int n = epoll_wait(epoll_fd_, events, 32, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return;
      std::vector<ContainerStatus> exited;
      ExitHandler handler;
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        for (int i = 0; i < n; ++i) {
          if (events[i].data.fd == wake_fd_) continue;
          if (auto s = onShimExitLocked(events[i].data.fd)) exited.push_back(std::move(*s));
        }
        handler = handler_;
      }
      for (const auto& s : exited) {
        LOG_INFO("container exited", "id", s.id, "exit_code", s.exit_code, "reason", s.reason);
        if (handler) handler(s);
      }
    }
  }

  // Adopts containers left by an earlier agent, and removes the restarts
  // it had prepared (the pod workers prepare them again).
  void recover() {
    std::error_code ec;
    std::vector<std::string> prepared;
    for (const auto& d : fs::directory_iterator(containersDir(), ec)) {
      std::string dir = d.path().string();
      std::string id = d.path().filename().string();
      if (fs::exists(dir + "/" + kPreparedMarker, ec)) prepared.push_back(id);
      std::ifstream in(dir + "/config.json");
      std::stringstream ss;
      ss << in.rdbuf();
      auto config = parseJson(ss.str());
      Entry e;
      e.dir = dir;
      e.status.id = id;
      if (config) {
        e.cgroup = getString(config->value("linux", Json::object()), "cgroupsPath");
        const Json annotations = config->value("annotations", Json::object());
        for (const auto& [k, v] : annotations.items()) {
          if (!v.is_string()) continue;
          if (k == kPodUidAnnotation) e.status.pod_uid = v.get<std::string>();
          else if (k == kLogPathAnnotation) e.status.log_path = v.get<std::string>();
          else if (k.rfind(kLabelAnnotationPrefix, 0) == 0)
            e.status.labels[k.substr(kLabelAnnotationPrefix.size())] = v.get<std::string>();
        }
      }
      if (auto st = readShimStarted(dir)) {
        e.status.pid = st->container_pid;
        e.status.started_at = fromNs(st->started_ns);
      }
      std::lock_guard lock(mu_);
      Entry& slot = containers_[id] = std::move(e);
      if (auto ex = readShimExit(dir)) {
        applyExit(slot.status, *ex, dir);
        continue;
      }
      auto shim = readShimPid(dir);
      int pidfd = shim ? pidfdOpen(shim->first) : -1;
      if (pidfd >= 0 && processStartTime(shim->first) == shim->second) {
        slot.shim_pid = shim->first;
        slot.status.state = slot.status.pid > 0 ? ContainerState::kRunning : ContainerState::kCreated;
        watchLocked(id, slot, pidfd);
        // It may have exited between the exit-file check and the pidfd.
        if (auto ex = readShimExit(dir)) {
          unwatchLocked(slot);
          applyExit(slot.status, *ex, dir);
        }
        if (prepared.empty() || prepared.back() != id)
          LOG_INFO("adopted running container", "id", id, "pid", slot.status.pid);
        continue;
      }
      if (pidfd >= 0) ::close(pidfd);
      if (auto ex = readShimExit(dir)) {
        applyExit(slot.status, *ex, dir);
      } else {
        slot.status.state = ContainerState::kExited;
        slot.status.exit_code = 255;
        slot.status.reason = "Error";
        slot.status.message = "the container's shim is gone";
      }
    }
    for (const auto& id : prepared)
      if (auto st = remove(id); !st) LOG_WARN("removing a prepared container", "id", id, "error", st.message());
    // Writable layers whose bundle is gone (the bundles are on tmpfs: after
    // a reboot) belong to no container any more.
    if (layersDir() != containersDir())
      for (const auto& d : fs::directory_iterator(layersDir(), ec))
        if (!fs::exists(containersDir() + "/" + d.path().filename().string())) {
          LOG_INFO("removing a container layer without its bundle", "dir", d.path().string());
          fs::remove_all(d.path(), ec);
        }
  }

  // The crun to execute: the sealed copy when there is one.
  const std::string& crun() const { return crun_copy_.fd >= 0 ? crun_copy_.path : config_.crun_path; }

  RuntimeConfig config_;
  const Clock& clock_;
  SealedCopy crun_copy_;
  std::string version_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread watcher_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::map<std::string, Entry> containers_;
  std::map<int, std::string> by_fd_;  // pidfd -> container id
  ExitHandler handler_;
  bool stopping_ = false;
  // Prepared restarts: ids waiting for the preparer, the containers one
  // was prepared (or tried) for, and the starts that hold it back.
  std::deque<std::string> prep_queue_;
  std::set<std::string> tried_;
  int starting_ = 0;
  std::chrono::steady_clock::time_point last_start_{};
  std::thread preparer_;
};

}  // namespace

Result<std::unique_ptr<Runtime>> Runtime::open(const RuntimeConfig& config, const Clock& clock) {
  if (config.state_dir.empty()) return Status(Code::kInvalid, "runtime state dir is required");
  auto rt = std::make_unique<CrunRuntime>(config, clock);
  if (auto st = rt->init(); !st) return st;
  return std::unique_ptr<Runtime>(std::move(rt));
}

}  // namespace capstan::agent::runtime
