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
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "agent/runtime/cri_log.h"
#include "agent/runtime/fd_passing.h"
#include "agent/runtime/shim.h"

namespace capstan::agent::runtime {
namespace {

// ---- helpers ----

struct Prepared {
  std::vector<std::string> run_args;  // crun ... run --detach ... (without the console socket)
  std::string bundle_dir, shim_pid_path, pid_path, started_path, exit_path, exit_tmp_path, log_path, oom_path;
  bool tty = false, stdin = false, stdin_once = false;
  bool create_only = false;
  int nice = 0;
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

// Not fsynced: these files describe processes that only a crash of the
// whole machine could outlive the page cache, and such a crash ends the
// processes too. (An fsync here cost 0.3 ms typically, 18 ms under load,
// three times on the way from a container's exit to its restart.)
void writeSmallFile(const char* path, const char* data, size_t n) {
  int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  writeAll(fd, data, n);
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

// A unix socket bound at <dir>/<name> through /proc/self/fd (a data dir's
// paths can be longer than sun_path's 108 bytes); -1 on failure.
int listenIn(int dirfd, const char* name) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "/proc/self/fd/%d/%s", dirfd, name);
  ::unlinkat(dirfd, name, 0);
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return -1;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s, 8) != 0) {
    ::close(s);
    return -1;
  }
  return s;
}

void setNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// The terminal's master, sent by crun over the console socket.
int receiveConsole(int listener) {
  pollfd pf{listener, POLLIN, 0};
  if (::poll(&pf, 1, 5000) != 1) return -1;
  int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) return -1;
  char byte;
  int fd = -1;
  if (receiveFds(conn, &byte, &fd, 1) != 1) fd = -1;
  ::close(conn);
  return fd;
}

// One `kubectl attach` (through the agent): its ends of three pipes (and
// the terminal, for resizing) went to it over the attach socket.
struct AttachClient {
  int in = -1;   // its input, for the container's stdin
  int out = -1;  // the container's output (everything, on a terminal)
  int err = -1;  // the container's stderr (none on a terminal)
};

void closeFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Takes one connection on the attach socket: root only; it gets
// [stdin write end, stdout read end, stderr read end | terminal] and one
// byte, 't' (terminal: no stderr, the last fd is the master) or 'p'.
void acceptAttach(int listener, int master, std::vector<AttachClient>& clients) {
  int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) return;
  ucred cred{};
  socklen_t len = sizeof cred;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  bool ok = ::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == 0 &&
            pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 && (master >= 0 || pipe2(err, O_CLOEXEC) == 0);
  if (ok) {
    int fds[3] = {in[1], out[0], master >= 0 ? master : err[0]};
    ok = sendFds(conn, master >= 0 ? 't' : 'p', fds, 3);
  }
  closeFd(in[1]), closeFd(out[0]), closeFd(err[0]);
  ::close(conn);
  if (!ok) {
    closeFd(in[0]), closeFd(out[1]), closeFd(err[1]);
    return;
  }
  for (int fd : {in[0], out[1], err[1]})
    if (fd >= 0) setNonBlocking(fd);
  clients.push_back({in[0], out[1], err[1]});
}

// Writes what the container said to every attached client; one that is
// gone (EPIPE) or too slow to take it (a full pipe) stops getting output.
void broadcast(std::vector<AttachClient>& clients, bool to_stderr, const char* data, size_t n) {
  for (auto& c : clients) {
    int& fd = to_stderr && c.err >= 0 ? c.err : c.out;
    if (fd < 0) continue;
    ssize_t w = ::write(fd, data, n);
    if (w != static_cast<ssize_t>(n)) {
      closeFd(c.out);
      closeFd(c.err);
    }
  }
}

[[noreturn]] void runShim(Prepared& p, int sync_fd) {
  // Our own fds only: the sync pipe stays, everything inherited goes.
  if (sync_fd > 3) syscall(SYS_close_range, 3U, static_cast<unsigned>(sync_fd - 1), 0U);
  syscall(SYS_close_range, static_cast<unsigned>(sync_fd + 1), ~0U, 0U);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  dup2(devnull, 0), dup2(devnull, 1), dup2(devnull, 2);
  // Either way the exit file says the container never ran (phase 1):
  // exit code 128 when crun failed, 255 when the shim could not set up.
  auto fail = [&](bool crun_failed) {
    writeExit(p, crun_failed ? 128 : 255, 0, false, 1);
    writeAll(sync_fd, "fail\n", 5);
    _exit(1);
  };

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
  if (sfd < 0 || !log_open || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) fail(false);
  int dirfd = ::open(p.bundle_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  int attach = dirfd >= 0 ? listenIn(dirfd, kAttachSocket) : -1;
  if (attach < 0) fail(false);
  // The container's stdin: a pipe we write what attached clients type
  // into, else /dev/null. On a terminal, crun makes the terminal inside the
  // container and sends us its master.
  int stdin_r = devnull, stdin_w = -1, console = -1;
  std::vector<std::string> args = p.run_args;
  if (p.tty) {
    console = listenIn(dirfd, "console.sock");
    if (console < 0) fail(false);
    auto at = std::find(args.begin(), args.end(), p.create_only ? "create" : "--detach");
    args.insert(at + 1, {"--console-socket", "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(dirfd) +
                                                 "/console.sock"});
  } else if (p.stdin) {
    int in[2];
    if (pipe2(in, O_CLOEXEC) != 0) fail(false);
    stdin_r = in[0], stdin_w = in[1];
    setNonBlocking(stdin_w);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char path_env[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  char* envp[] = {path_env, nullptr};

  // `crun run --detach`: create and start in one crun process (two would
  // pay crun's start-up twice); it returns once the container runs. Or
  // `crun create`, for a container the runtime starts later.
  if (p.nice > 0) setpriority(PRIO_PROCESS, 0, p.nice);
  pid_t run = spawn(argv.data(), envp, stdin_r, out[1], err[1]);
  ::close(out[1]), ::close(err[1]);
  if (stdin_r != devnull) ::close(stdin_r);
  int status = run > 0 ? waitFor(run) : -1;
  pid_t cpid = static_cast<pid_t>(readIntFile(p.pid_path.c_str()));
  int master = -1;
  if (status == 0 && console >= 0) {
    master = receiveConsole(console);
    ::close(console);
    ::unlinkat(dirfd, "console.sock", 0);
  }
  if (status != 0 || cpid <= 0 || (p.tty && master < 0)) {
    if (cpid > 0) kill(cpid, SIGKILL), waitFor(cpid);
    fail(true);
  }
  if (p.nice > 0) {
    // The container waits on crun's exec fifo: back to the usual
    // niceness before it runs anything, and the shim with it.
    setpriority(PRIO_PROCESS, static_cast<id_t>(cpid), 0);
    setpriority(PRIO_PROCESS, 0, 0);
  }
  if (p.create_only) {
    char msg[48] = "created ";
    int64_t v[] = {cpid};
    size_t n = formatInts(msg + 8, v, 1);
    writeAll(sync_fd, msg, n + 8);
    ::close(sync_fd);
  } else {
    int64_t v[] = {cpid, nowNs()};
    size_t n = formatInts(buf, v, 2);
    writeSmallFile(p.started_path.c_str(), buf, n);
    char msg[160] = "ok ";
    memcpy(msg + 3, buf, n);
    writeAll(sync_fd, msg, n + 3);
    ::close(sync_fd);
  }

  // The container's output: its stdout and stderr pipes, or the terminal
  // (then crun's own stdout and stderr, which close as it exits).
  CriStream streams[2] = {{"stdout", RotatingLog::sink, &p.log}, {"stderr", RotatingLog::sink, &p.log}};
  struct Source {
    int fd;
    int stream;  // 0 stdout, 1 stderr
  };
  std::vector<Source> sources = {{out[0], 0}, {err[0], 1}};
  if (master >= 0) sources.push_back({master, 0});
  int input = master >= 0 ? master : stdin_w;  // where clients' input goes
  std::vector<AttachClient> clients;
  bool exited = false;
  int cstatus = 0;
  char data[8192];
  std::vector<pollfd> pfds;
  for (;;) {
    // [sources..., signalfd, attach listener, each client's input]
    pfds.clear();
    for (const auto& src : sources) pfds.push_back({src.fd, POLLIN, 0});
    pfds.push_back({exited ? -1 : sfd, POLLIN, 0});
    pfds.push_back({exited ? -1 : attach, POLLIN, 0});
    for (const auto& c : clients) pfds.push_back({exited ? -1 : c.in, POLLIN, 0});
    // Once the container is gone: take what its pipes still hold, then
    // stop (a leftover writer must not keep the exit from being reported).
    if (::poll(pfds.data(), pfds.size(), exited ? 0 : -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    bool any = false;
    for (size_t i = 0; i < sources.size(); ++i) {
      if (sources[i].fd < 0 || !pfds[i].revents) continue;
      any = true;
      ssize_t r = ::read(sources[i].fd, data, sizeof data);
      if (r > 0) {
        timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        streams[sources[i].stream].feed(data, static_cast<size_t>(r), ts.tv_sec, ts.tv_nsec);
        broadcast(clients, sources[i].stream == 1, data, static_cast<size_t>(r));
      } else if (r == 0 || errno != EINTR) {  // EOF; EIO from a terminal whose other side closed
        if (sources[i].fd == master) input = -1;
        ::close(sources[i].fd);
        sources[i].fd = -1;
      }
    }
    size_t base = sources.size();
    if (!exited && pfds[base].revents) {
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
    if (exited) {
      if (!any) break;
      continue;
    }
    if (pfds[base + 1].revents) acceptAttach(attach, master, clients);
    for (size_t k = 0; k < clients.size() && base + 2 + k < pfds.size(); ++k) {
      auto& c = clients[k];
      if (c.in < 0 || !pfds[base + 2 + k].revents) continue;
      ssize_t r = ::read(c.in, data, sizeof data);
      if (r > 0) {
        // A container that does not read its input loses what does not fit.
        if (input >= 0 && ::write(input, data, static_cast<size_t>(r)) < 0 && errno != EAGAIN) input = -1;
      } else if (r == 0 || errno != EINTR) {
        closeFd(c.in);
        // stdinOnce: the container's stdin closes with the first client's.
        if (p.stdin_once && stdin_w >= 0) closeFd(stdin_w), input = -1;
      }
    }
    std::erase_if(clients, [](const AttachClient& c) { return c.in < 0 && c.out < 0 && c.err < 0; });
  }
  // Clients see EOF; nobody attaches any more.
  for (auto& c : clients) closeFd(c.in), closeFd(c.out), closeFd(c.err);
  ::close(attach);
  ::unlinkat(dirfd, kAttachSocket, 0);
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  streams[0].flush(ts.tv_sec, ts.tv_nsec);
  streams[1].flush(ts.tv_sec, ts.tv_nsec);
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
    else if (k == "--tty") p.tty = v == "1";
    else if (k == "--stdin") p.stdin = v == "1";
    else if (k == "--stdin-once") p.stdin_once = v == "1";
    else if (k == "--create") p.create_only = v == "1";
    else if (k == "--nice") p.nice = std::atoi(v.c_str());
    else return false;
  }
  return argc % 2 == 1 && !p.crun_path.empty() && !p.crun_root.empty() && !p.bundle_dir.empty() && !p.id.empty() &&
         !p.log_path.empty();
}

bool prepare(const ShimParams& params, Prepared& p) {
  const std::string& b = params.bundle_dir;
  p.bundle_dir = b;
  p.shim_pid_path = b + "/shim.pid";
  p.pid_path = b + "/pid";
  p.started_path = b + "/started";
  p.exit_path = b + "/exit";
  p.exit_tmp_path = b + "/exit.tmp";
  p.log_path = params.log_path;
  p.tty = params.tty;
  p.stdin = params.stdin;
  p.stdin_once = params.stdin_once;
  p.create_only = params.create_only;
  p.nice = std::clamp(params.nice, 0, 19);
  if (!p.log.prepare(p.log_path.c_str(), params.log_max_bytes, params.log_max_files)) return false;
  p.oom_path = params.oom_control_path;
  p.run_args = {params.crun_path, "--root", params.crun_root, "--log=" + b + "/crun.log", "--log-format=json"};
  if (params.create_only) p.run_args.push_back("create");
  else p.run_args.insert(p.run_args.end(), {"run", "--detach"});
  p.run_args.insert(p.run_args.end(), {"--bundle", b, "--pid-file", p.pid_path, params.id});
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
