#pragma once
// Running the real tools (crun, CNI plugins, iptables) as child processes.
// posix_spawn, so it is safe from a multi-threaded agent; the child gets
// only the fds it is given (everything else is close-on-exec or closed).

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace capstan::agent::runtime {

struct ProcessOptions {
  std::vector<std::string> env;  // empty: inherit the agent's environment
  std::string stdin_data;
  std::chrono::milliseconds timeout{60000};  // then SIGKILL (by pid) and Timeout
  size_t max_output = 16 << 20;              // per stream; the rest is dropped
};

struct ProcessResult {
  int exit_code = 0;  // 128+signal when killed by a signal
  std::string out;
  std::string err;
};

// Runs argv[0] (an absolute path) to completion. An error Status only when
// it cannot be started or times out; a non-zero exit is a result.
Result<ProcessResult> runProcess(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// Spawns argv with three pipes (stdin write end, stdout/stderr read ends,
// all close-on-exec in the agent). The caller reaps `pid`.
struct SpawnedProcess {
  int pid = -1;
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
};
Result<SpawnedProcess> spawnProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env);

// Starts argv (posix_spawn) with fds[i] as its fd i and nothing else open,
// default signal handling, in a new session when asked; env empty: the
// agent's environment. Returns its pid.
Result<int> spawnWithFds(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                         const std::vector<int>& fds, bool new_session = false);

// "crun failed: <first line of err or out>" style summaries.
std::string firstLine(const std::string& text);

// Decodes a wait status: exit code, or 128+signal.
int exitCodeOf(int wait_status);

}  // namespace capstan::agent::runtime
