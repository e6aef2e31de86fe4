// The shim program (capstan-shim; see shim.h for what it does). The agent
// spawns it (shim.cc: launchShim) with the sync pipe as fd 3; it forks
// once more, so that the shim proper is nobody's child but init's (or a
// subreaper's), and the first process exits at once.
//
// A small program of its own rather than a fork of the agent: a fork of
// the agent's large, busy address space costs the agent a copy-on-write
// fault (and a TLB shootdown) on every page it writes afterwards, for each
// shim, and each shim would keep megabytes of the agent's heap alive.
#include "agent/runtime/shim_process.h"

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
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "agent/runtime/cri_log.h"
#include "agent/runtime/shim.h"

namespace capstan::agent::runtime {
namespace {

// ---- helpers ----

struct Prepared {
  std::vector<std::string> strings;  // owns everything the pointers below use
  std::vector<char*> run_argv, envp;
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

  // `crun run --detach`: create and start in one crun process (two would
  // pay crun's start-up twice); it returns once the container runs.
  pid_t run = spawn(p.run_argv.data(), p.envp.data(), devnull, out[1], err[1]);
  ::close(out[1]), ::close(err[1]);
  int status = run > 0 ? waitFor(run) : -1;
  pid_t cpid = static_cast<pid_t>(readIntFile(p.pid_path.c_str()));
  if (status != 0 || cpid <= 0) {
    if (cpid > 0) kill(cpid, SIGKILL), waitFor(cpid);
    writeExit(p, 128, 0, false, 1);
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


// capstan-shim --crun PATH --root DIR --bundle DIR --id ID --log FILE
//   --oom FILE --log-max-bytes N --log-max-files N   (sync pipe: fd 3)
bool parseArgs(int argc, char** argv, ShimParams& p) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--crun") p.crun_path = v;
    else if (k == "--root") p.crun_root = v;
    else if (k == "--bundle") p.bundle_dir = v;
    else if (k == "--id") p.id = v;
    else if (k == "--log") p.log_path = v;
    else if (k == "--oom") p.oom_control_path = v;
    else if (k == "--log-max-bytes") p.log_max_bytes = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--log-max-files") p.log_max_files = std::atoi(v.c_str());
    else return false;
  }
  return argc % 2 == 1 && !p.crun_path.empty() && !p.crun_root.empty() && !p.bundle_dir.empty() && !p.id.empty() &&
         !p.log_path.empty();
}

bool prepare(const ShimParams& params, Prepared& p) {
  const std::string& b = params.bundle_dir;
  p.shim_pid_path = b + "/shim.pid";
  p.pid_path = b + "/pid";
  p.started_path = b + "/started";
  p.exit_path = b + "/exit";
  p.exit_tmp_path = b + "/exit.tmp";
  p.log_path = params.log_path;
  if (!p.log.prepare(p.log_path.c_str(), params.log_max_bytes, params.log_max_files)) return false;
  p.oom_path = params.oom_control_path;
  std::vector<std::string> common = {params.crun_path, "--root", params.crun_root, "--log=" + b + "/crun.log",
                                     "--log-format=json"};
  auto argv = [&](std::vector<std::string> tail) {
    auto v = common;
    v.insert(v.end(), tail.begin(), tail.end());
    return v;
  };
  std::vector<std::string> run = argv({"run", "--detach", "--bundle", b, "--pid-file", p.pid_path, params.id});
  std::vector<std::string> env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  p.strings.reserve(run.size() + env.size());
  auto fill = [&](const std::vector<std::string>& src, std::vector<char*>& dst) {
    for (const auto& s : src) {
      p.strings.push_back(s);
      dst.push_back(p.strings.back().data());
    }
    dst.push_back(nullptr);
  };
  fill(run, p.run_argv);
  fill(env, p.envp);
  return true;
}

}  // namespace

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

int shimMain(int argc, char** argv) {
  constexpr int kSyncFd = 3;
  ShimParams params;
  if (!parseArgs(argc, argv, params)) {
    std::fprintf(stderr, "capstan-shim: bad arguments (it is started by the capstan agent)\n");
    return 2;
  }
  Prepared p;
  if (!prepare(params, p)) {
    writeAll(kSyncFd, "fail\n", 5);
    return 1;
  }
  pid_t shim = fork();
  if (shim < 0) return 1;
  if (shim == 0) runShim(p, kSyncFd);
  return 0;
}

}  // namespace capstan::agent::runtime
