#include "agent/runtime/shim.h"

// The agent's side of the shim: spawning it, and reading what it records.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "agent/runtime/process.h"
#include "agent/runtime/shim_process.h"
#include "common/json.h"

namespace capstan::agent::runtime {
namespace {

std::string readText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<ShimLaunch> launchShim(const ShimParams& params, std::chrono::milliseconds timeout) {
  const std::string& b = params.bundle_dir;
  ::unlink((b + "/exit").c_str());
  ::unlink((b + "/started").c_str());
  std::vector<std::string> args = {params.shim_path,   "--crun",          params.crun_path,
                                   "--root",           params.crun_root,  "--bundle",
                                   b,                  "--id",            params.id,
                                   "--log",            params.log_path,   "--oom",
                                   params.oom_control_path, "--log-max-bytes", std::to_string(params.log_max_bytes),
                                   "--log-max-files",  std::to_string(params.log_max_files),
                                   "--tty", params.tty ? "1" : "0", "--stdin", params.stdin ? "1" : "0",
                                   "--stdin-once", params.stdin_once ? "1" : "0",
                                   "--create", params.create_only ? "1" : "0", "--nice", std::to_string(params.nice)};
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) != 0) return Status(Code::kInternal, std::string("pipe: ") + strerror(errno));
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  // The shim gets /dev/null as 0-2 and the pipe's write end as fd 3, in a
  // session of its own.
  auto spawned = spawnWithFds(args, {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                              {devnull, devnull, devnull, sync[1]}, /*new_session=*/true);
  if (devnull >= 0) ::close(devnull);
  ::close(sync[1]);
  if (!spawned) {
    ::close(sync[0]);
    return Status(Code::kInternal, "cannot run the shim " + params.shim_path + ": " + spawned.status().message());
  }
  pid_t first = *spawned;
  // It forks the shim proper and exits.
  int status = 0;
  while (waitpid(first, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ::close(sync[0]);
    return Status(Code::kInternal, "the shim " + params.shim_path + " failed to start (status " +
                                       std::to_string(status) + ")");
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
    int prc = poll(&pf, 1, static_cast<int>(left.count()));
    if (prc < 0 && errno == EINTR) continue;
    if (prc <= 0) continue;
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
  } else if (reply.rfind("created ", 0) == 0) {
    launch.container_pid = std::atoi(reply.c_str() + 8);
    launch.created = launch.container_pid > 0;
  }
  if (!launch.started && !launch.created && !readShimExit(b))
    return Status(Code::kInternal, "shim for " + params.id + " died before the container started");
  return launch;
}

std::string defaultShimPath() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (ec ? std::filesystem::path("/usr/local/bin") : self.parent_path()).string() + "/capstan-shim";
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
