#include "agent/runtime/shim.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "agent/runtime/cri_log.h"
#include "common/json.h"

namespace capstan::agent::runtime {
namespace {

// ---- async-signal-safe helpers (used after fork) ----

struct Prepared {
  std::vector<std::string> strings;  // owns everything the pointers below use
  std::vector<char*> create_argv, start_argv, envp;
  std::string shim_pid_path, pid_path, started_path, exit_path, exit_tmp_path, log_path, oom_path, proc_stat;
  RotatingLog log;  // over log_path
};

size_t putInt(char* out, int64_t v) {
  char tmp[24];
  size_t n = 0;
  bool neg = v < 0;
  uint64_t u = neg ? static_cast<uint64_t>(-(v + 1)) + 1 : static_cast<uint64_t>(v);
  do {
    tmp[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u);
  size_t len = 0;
  if (neg) out[len++] = '-';
  while (n) out[len++] = tmp[--n];
  return len;
}

// Formats space-separated integers and a newline.
size_t formatInts(char* out, const int64_t* values, int count) {
  size_t len = 0;
  for (int i = 0; i < count; ++i) {
    if (i) out[len++] = ' ';
    len += putInt(out + len, values[i]);
  }
  out[len++] = '\n';
  return len;
}

void writeAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    data += w;
    n -= static_cast<size_t>(w);
  }
}

void writeSmallFile(const char* path, const char* data, size_t n) {
  int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  writeAll(fd, data, n);
  ::fsync(fd);
  ::close(fd);
}

int64_t parseLeadingInt(const char* s, size_t n, size_t* pos) {
  int64_t v = 0;
  size_t i = *pos;
  while (i < n && (s[i] == ' ' || s[i] == '\n')) ++i;
  while (i < n && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
  *pos = i;
  return v;
}

int64_t readIntFile(const char* path) {
  char buf[64];
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t r = ::read(fd, buf, sizeof buf);
  ::close(fd);
  size_t pos = 0;
  return r > 0 ? parseLeadingInt(buf, static_cast<size_t>(r), &pos) : 0;
}

// Field 22 of /proc/<pid>/stat.
uint64_t startTimeFromStat(const char* buf, size_t n) {
  const char* close_paren = nullptr;
  for (size_t i = 0; i < n; ++i)
    if (buf[i] == ')') close_paren = buf + i;
  if (!close_paren) return 0;
  // After ") " comes field 3; starttime is field 22, i.e. 19 more spaces.
  size_t pos = static_cast<size_t>(close_paren - buf) + 2;
  int field = 3;
  while (pos < n && field < 22) {
    if (buf[pos] == ' ') ++field;
    ++pos;
  }
  return static_cast<uint64_t>(parseLeadingInt(buf, n, &pos));
}

bool oomKilledFrom(const char* path) {
  char buf[512];
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t r = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (r <= 0) return false;
  buf[r] = 0;
  const char* p = strstr(buf, "oom_kill ");
  if (!p) return false;
  size_t pos = static_cast<size_t>(p - buf) + 9;
  return parseLeadingInt(buf, static_cast<size_t>(r), &pos) > 0;
}

int64_t nowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int waitFor(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

pid_t spawn(char* const* argv, char* const* envp, int in, int out, int err) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  dup2(in, 0), dup2(out, 1), dup2(err, 2);
  syscall(SYS_close_range, 3U, ~0U, 0U);
  execve(argv[0], argv, envp);
  _exit(127);
}

void writeExit(const Prepared& p, int code, int sig, bool oom, int phase) {
  char buf[128];
  int64_t v[] = {code, sig, oom ? 1 : 0, nowNs(), phase};
  size_t n = formatInts(buf, v, 5);
  writeSmallFile(p.exit_tmp_path.c_str(), buf, n);
  ::rename(p.exit_tmp_path.c_str(), p.exit_path.c_str());
}

[[noreturn]] void runShim(Prepared& p, int sync_fd) {
  // Our own fds only: the sync pipe stays, everything inherited goes.
  if (sync_fd > 3) syscall(SYS_close_range, 3U, static_cast<unsigned>(sync_fd - 1), 0U);
  syscall(SYS_close_range, static_cast<unsigned>(sync_fd + 1), ~0U, 0U);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  dup2(devnull, 0), dup2(devnull, 1), dup2(devnull, 2);

  char buf[512];
  {
    int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    ssize_t r = fd >= 0 ? ::read(fd, buf, sizeof buf) : -1;
    if (fd >= 0) ::close(fd);
    int64_t v[] = {getpid(), static_cast<int64_t>(r > 0 ? startTimeFromStat(buf, static_cast<size_t>(r)) : 0)};
    size_t n = formatInts(buf, v, 2);
    writeSmallFile(p.shim_pid_path.c_str(), buf, n);
  }

  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  bool log_open = p.log.open();
  int out[2], err[2];
  if (sfd < 0 || !log_open || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    writeExit(p, 255, 0, false, 1);
    writeAll(sync_fd, "fail\n", 5);
    _exit(1);
  }

  pid_t create = spawn(p.create_argv.data(), p.envp.data(), devnull, out[1], err[1]);
  ::close(out[1]), ::close(err[1]);
  int status = create > 0 ? waitFor(create) : -1;
  if (status != 0) {
    writeExit(p, 128, 0, false, 1);
    writeAll(sync_fd, "fail\n", 5);
    _exit(1);
  }
  pid_t cpid = static_cast<pid_t>(readIntFile(p.pid_path.c_str()));
  pid_t start = spawn(p.start_argv.data(), p.envp.data(), devnull, devnull, devnull);
  status = start > 0 ? waitFor(start) : -1;
  if (status != 0 || cpid <= 0) {
    if (cpid > 0) kill(cpid, SIGKILL), waitFor(cpid);
    writeExit(p, 128, 0, false, 2);
    writeAll(sync_fd, "fail\n", 5);
    _exit(1);
  }
  {
    int64_t v[] = {cpid, nowNs()};
    size_t n = formatInts(buf, v, 2);
    writeSmallFile(p.started_path.c_str(), buf, n);
    char msg[160] = "ok ";
    memcpy(msg + 3, buf, n);
    writeAll(sync_fd, msg, n + 3);
    ::close(sync_fd);
  }

  CriStream streams[2] = {{"stdout", RotatingLog::sink, &p.log}, {"stderr", RotatingLog::sink, &p.log}};
  int fds[2] = {out[0], err[0]};
  bool exited = false;
  int cstatus = 0;
  char data[8192];
  for (;;) {
    pollfd pfds[3] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}, {sfd, POLLIN, 0}};
    if (exited) {
      // The container is gone: take what its pipes still hold, then stop
      // (a leftover writer must not keep the exit from being reported).
      for (auto& pf : pfds) pf.events = pf.fd == sfd ? 0 : POLLIN;
      if (poll(pfds, 2, 0) <= 0) break;
    } else if (poll(pfds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i] < 0 || !pfds[i].revents) continue;
      ssize_t r = ::read(fds[i], data, sizeof data);
      if (r > 0) {
        timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        streams[i].feed(data, static_cast<size_t>(r), ts.tv_sec, ts.tv_nsec);
      } else if (r == 0 || errno != EINTR) {
        ::close(fds[i]);
        fds[i] = -1;
      }
    }
    if (!exited && pfds[2].revents) {
      signalfd_siginfo si;
      while (::read(sfd, &si, sizeof si) > 0) {
      }
      for (;;) {
        int st = 0;
        pid_t w = waitpid(-1, &st, WNOHANG);
        if (w <= 0) break;
        if (w == cpid) exited = true, cstatus = st;
      }
    }
    if (fds[0] < 0 && fds[1] < 0 && exited) break;
  }
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  streams[0].flush(ts.tv_sec, ts.tv_nsec);
  streams[1].flush(ts.tv_sec, ts.tv_nsec);
  p.log.sync();
  int code = WIFEXITED(cstatus) ? WEXITSTATUS(cstatus) : 128 + WTERMSIG(cstatus);
  int sig = WIFSIGNALED(cstatus) ? WTERMSIG(cstatus) : 0;
  writeExit(p, code, sig, oomKilledFrom(p.oom_path.c_str()), 0);
  _exit(0);
}

std::string readText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<ShimLaunch> launchShim(const ShimParams& params, std::chrono::milliseconds timeout) {
  // Everything the child touches is built here, before the fork.
  auto p = std::make_unique<Prepared>();
  const std::string& b = params.bundle_dir;
  p->shim_pid_path = b + "/shim.pid";
  p->pid_path = b + "/pid";
  p->started_path = b + "/started";
  p->exit_path = b + "/exit";
  p->exit_tmp_path = b + "/exit.tmp";
  p->log_path = params.log_path;
  if (!p->log.prepare(p->log_path.c_str(), params.log_max_bytes, params.log_max_files))
    return Status(Code::kInvalid, "log path too long: " + params.log_path);
  p->oom_path = params.oom_control_path;
  std::vector<std::string> common = {params.crun_path, "--root", params.crun_root, "--log=" + b + "/crun.log",
                                     "--log-format=json"};
  auto argv = [&](std::vector<std::string> tail) {
    auto v = common;
    v.insert(v.end(), tail.begin(), tail.end());
    return v;
  };
  std::vector<std::string> create = argv({"create", "--bundle", b, "--pid-file", p->pid_path, params.id});
  std::vector<std::string> start = argv({"start", params.id});
  std::vector<std::string> env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  p->strings.reserve(create.size() + start.size() + env.size());
  auto fill = [&](const std::vector<std::string>& src, std::vector<char*>& dst) {
    for (const auto& s : src) {
      p->strings.push_back(s);
      dst.push_back(p->strings.back().data());
    }
    dst.push_back(nullptr);
  };
  fill(create, p->create_argv);
  fill(start, p->start_argv);
  fill(env, p->envp);
  ::unlink((b + "/exit").c_str());
  ::unlink((b + "/started").c_str());

  int sync[2];
  if (pipe2(sync, O_CLOEXEC) != 0) return Status(Code::kInternal, std::string("pipe: ") + strerror(errno));
  if (sync[1] < 3) {
    int moved = fcntl(sync[1], F_DUPFD_CLOEXEC, 3);
    ::close(sync[1]);
    sync[1] = moved;
  }
  pid_t first = fork();
  if (first < 0) {
    ::close(sync[0]), ::close(sync[1]);
    return Status(Code::kInternal, std::string("fork: ") + strerror(errno));
  }
  if (first == 0) {
    ::close(sync[0]);
    setsid();
    pid_t shim = fork();
    if (shim == 0) runShim(*p, sync[1]);
    _exit(shim < 0 ? 1 : 0);
  }
  ::close(sync[1]);
  int status = 0;
  while (waitpid(first, &status, 0) < 0 && errno == EINTR) {
  }
  std::string reply;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[256];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::close(sync[0]);
      return Status(Code::kTimeout, "container " + params.id + " did not start in time");
    }
    pollfd pf = {sync[0], POLLIN, 0};
    int rc = poll(&pf, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    ssize_t r = ::read(sync[0], buf, sizeof buf);
    if (r > 0) {
      reply.append(buf, static_cast<size_t>(r));
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    break;
  }
  ::close(sync[0]);
  ShimLaunch launch;
  if (auto pid = readShimPid(b)) launch.shim_pid = pid->first;
  if (reply.rfind("ok ", 0) == 0) {
    std::istringstream in(reply.substr(3));
    in >> launch.container_pid >> launch.started_ns;
    launch.started = launch.container_pid > 0;
  }
  if (!launch.started && !readShimExit(b))
    return Status(Code::kInternal, "shim for " + params.id + " died before the container started");
  return launch;
}

std::optional<ShimExit> readShimExit(const std::string& bundle_dir) {
  std::ifstream in(bundle_dir + "/exit");
  ShimExit e;
  int oom = 0;
  if (!(in >> e.exit_code >> e.signal >> oom >> e.finished_ns >> e.phase)) return std::nullopt;
  e.oom = oom != 0;
  return e;
}

std::optional<ShimStarted> readShimStarted(const std::string& bundle_dir) {
  std::ifstream in(bundle_dir + "/started");
  ShimStarted s;
  if (!(in >> s.container_pid >> s.started_ns)) return std::nullopt;
  return s;
}

std::optional<std::pair<int, uint64_t>> readShimPid(const std::string& bundle_dir) {
  std::ifstream in(bundle_dir + "/shim.pid");
  int pid = 0;
  uint64_t start = 0;
  if (!(in >> pid >> start) || pid <= 0) return std::nullopt;
  return std::make_pair(pid, start);
}

uint64_t processStartTime(int pid) {
  std::string text = readText("/proc/" + std::to_string(pid) + "/stat");
  if (text.empty()) return 0;
  return startTimeFromStat(text.data(), text.size());
}

std::string lastCrunError(const std::string& bundle_dir) {
  std::istringstream in(readText(bundle_dir + "/crun.log"));
  std::string line, msg;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = parseJson(line);
    msg = j ? getString(*j, "msg", line) : line;
  }
  return msg;
}

}  // namespace capstan::agent::runtime
