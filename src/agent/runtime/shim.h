#pragma once
// The per-container shim (conmon's job): a process of its own session,
// detached from the agent (double fork), a child subreaper. It runs
// `crun run --detach` (create and start in one crun process), pumps the container's stdout/stderr into
// the CRI log file, reaps the container, records the exit, and exits --
// so the agent can die and come back without the container noticing.
//
// It is a small program of its own, capstan-shim (shim_process.h), which
// the agent spawns (posix_spawn, a new session) and which forks once more.
//
// Files in the bundle dir (all written by the shim or crun):
//   shim.pid   "<pid> <starttime>"      the shim (starttime: /proc/<pid>/stat
//                                        field 22, guards against pid reuse)
//   pid        the container init pid   (crun --pid-file)
//   started    "<pid> <unix ns>"        after crun run succeeded (a created-only
//                                        container: after the runtime's crun start)
//   exit       "<code> <signal> <oom> <unix ns> <phase>"   written last,
//              atomically; phase 0 = it ran, 1 = crun run failed
//              (crun's message is in crun.log)
//   crun.log   crun's own errors (JSON lines)
//   attach.sock  kubectl attach's way in (kAttachSocket), while it runs

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"

namespace capstan::agent::runtime {

struct ShimParams {
  std::string shim_path;  // the capstan-shim program (defaultShimPath())
  std::string crun_path;
  std::string crun_root;
  std::string bundle_dir;
  std::string id;
  std::string log_path;
  std::string oom_control_path;  // memory.oom_control of the container's cgroup
  // Rotation of log_path (kubelet's containerLogMaxSize/containerLogMaxFiles).
  size_t log_max_bytes = 10 * 1024 * 1024;
  int log_max_files = 5;
  // The container's stdio: a terminal (crun makes it; its master comes to
  // the shim), or stdin from attached clients (else /dev/null); stdin_once
  // closes it when the first client detaches.
  bool tty = false;
  bool stdin = false;
  bool stdin_once = false;
  // Create only (`crun create`): the container waits to be started by
  // `crun start`, which the runtime runs on a restart (a successor made
  // ahead of time). The shim then writes no `started` file (the runtime
  // does) and answers "created <pid>". With `nice`, crun's work runs at
  // that niceness; the container itself is put back to 0 before anything
  // of it runs.
  bool create_only = false;
  int nice = 0;
};

// In the bundle dir: the shim's attach socket (root only). A connection
// gets, with one byte ('t' on a terminal, else 'p'), three fds by
// SCM_RIGHTS: the write end of the container's input, the read end of its
// output (all of it on a terminal), and the read end of its stderr, or on
// a terminal its master (for TIOCSWINSZ).
inline constexpr const char* kAttachSocket = "attach.sock";

struct ShimLaunch {
  int shim_pid = 0;
  bool started = false;    // false: crun run failed (see exit + crun.log)
  bool created = false;    // create_only: crun create succeeded
  int container_pid = 0;
  int64_t started_ns = 0;
};

// Spawns the shim and waits until the container runs (or, create_only, is
// created) or failed to.
Result<ShimLaunch> launchShim(const ShimParams& params, std::chrono::milliseconds timeout);

// capstan-shim beside the running executable (the build and an install
// put both programs in one directory).
std::string defaultShimPath();

struct ShimExit {
  int exit_code = 0;
  int signal = 0;
  bool oom = false;
  int64_t finished_ns = 0;
  int phase = 0;
};
std::optional<ShimExit> readShimExit(const std::string& bundle_dir);

struct ShimStarted {
  int container_pid = 0;
  int64_t started_ns = 0;
};
std::optional<ShimStarted> readShimStarted(const std::string& bundle_dir);

// pid and starttime from shim.pid; nullopt when absent.
std::optional<std::pair<int, uint64_t>> readShimPid(const std::string& bundle_dir);
// /proc/<pid>/stat starttime, 0 when the process is gone.
uint64_t processStartTime(int pid);

// The last error message crun logged in crun.log.
std::string lastCrunError(const std::string& bundle_dir);

}  // namespace capstan::agent::runtime
