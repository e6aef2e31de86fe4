#include "agent/runtime/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace capstan::agent::runtime {
namespace {

struct Pipe {
  int r = -1, w = -1;
};

void closeFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::vector<char*> cStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Spawns with the given pipes as fds 0/1/2; returns pid or -errno.
bool makePipe(Pipe& p) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  p.r = fds[0];
  p.w = fds[1];
  return true;
}

}  // namespace

int exitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 255;
}

std::string firstLine(const std::string& text) {
  size_t start = text.find_first_not_of(" \n\t");
  if (start == std::string::npos) return "";
  size_t end = text.find('\n', start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

Result<int> spawnWithFds(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                         const std::vector<int>& fds, bool new_session) {
  if (argv.empty()) return Status(Code::kInvalid, "empty argv");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (size_t i = 0; i < fds.size(); ++i) posix_spawn_file_actions_adddup2(&fa, fds[i], static_cast<int>(i));
  posix_spawn_file_actions_addclosefrom_np(&fa, static_cast<int>(fds.size()));
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The child starts with default signal dispositions and an empty mask,
  // whatever the agent's threads have blocked.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
                                      (new_session ? POSIX_SPAWN_SETSID : 0));
  auto args = cStrings(argv);
  std::vector<char*> envp = env.empty() ? std::vector<char*>() : cStrings(env);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &fa, &attr, args.data(), env.empty() ? environ : envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status(Code::kInternal, "spawn " + argv[0] + ": " + strerror(rc));
  return pid;
}

Result<SpawnedProcess> spawnProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  if (argv.empty()) return Status(Code::kInvalid, "empty argv");
  Pipe in, out, err;
  if (!makePipe(in) || !makePipe(out) || !makePipe(err)) {
    int e = errno;
    closeFd(in.r), closeFd(in.w), closeFd(out.r), closeFd(out.w), closeFd(err.r), closeFd(err.w);
    return Status(Code::kInternal, std::string("pipe: ") + strerror(e));
  }
  auto pid = spawnWithFds(argv, env, {in.r, out.w, err.w});
  closeFd(in.r), closeFd(out.w), closeFd(err.w);
  if (!pid) {
    closeFd(in.w), closeFd(out.r), closeFd(err.r);
    return pid.status();
  }
  return SpawnedProcess{*pid, in.w, out.r, err.r};
}

Result<ProcessResult> runProcess(const std::vector<std::string>& argv, const ProcessOptions& options) {
  auto spawned = spawnProcess(argv, options.env);
  if (!spawned) return spawned.status();
  SpawnedProcess p = *spawned;
  fcntl(p.stdin_fd, F_SETFL, O_NONBLOCK);
  if (options.stdin_data.empty()) closeFd(p.stdin_fd);
  size_t written = 0;
  ProcessResult result;
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool timed_out = false;
  char buf[65536];
  while (p.stdout_fd >= 0 || p.stderr_fd >= 0 || p.stdin_fd >= 0) {
    pollfd fds[3];
    int n = 0;
    int idx_in = -1, idx_out = -1, idx_err = -1;
    if (p.stdin_fd >= 0) idx_in = n, fds[n++] = {p.stdin_fd, POLLOUT, 0};
    if (p.stdout_fd >= 0) idx_out = n, fds[n++] = {p.stdout_fd, POLLIN, 0};
    if (p.stderr_fd >= 0) idx_err = n, fds[n++] = {p.stderr_fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int rc = poll(fds, n, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) break;
    if (rc == 0) continue;
    if (idx_in >= 0 && fds[idx_in].revents) {
      ssize_t w = write(p.stdin_fd, options.stdin_data.data() + written, options.stdin_data.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN) closeFd(p.stdin_fd);
      if (written == options.stdin_data.size()) closeFd(p.stdin_fd);
    }
    auto drain = [&](int idx, int& fd, std::string& into) {
      if (idx < 0 || !fds[idx].revents) return;
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) {
        size_t room = options.max_output > into.size() ? options.max_output - into.size() : 0;
        into.append(buf, std::min(room, static_cast<size_t>(r)));
      } else if (r == 0 || errno != EINTR) {
        closeFd(fd);
      }
    };
    drain(idx_out, p.stdout_fd, result.out);
    drain(idx_err, p.stderr_fd, result.err);
  }
  closeFd(p.stdin_fd), closeFd(p.stdout_fd), closeFd(p.stderr_fd);
  if (timed_out) ::kill(p.pid, SIGKILL);
  int status = 0;
  while (waitpid(p.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return Status(Code::kTimeout, argv[0] + " timed out");
  result.exit_code = exitCodeOf(status);
  return result;
}

}  // namespace capstan::agent::runtime
