#pragma once
// The node agent's container runtime: OCI bundles run by crun, one
// conmon-like shim process per container.
//
// Shape of a pod on this node (the pod worker drives it):
//   network::Network::createSandbox(pod)      -> pinned net/ipc/uts namespaces + pod IP
//   ImageStore::resolve(image)                -> Image (layer snapshots + config)
//   Runtime::start(ContainerSpec)             -> container running, logs pumped
//   ... ExitHandler fires when it exits (milliseconds, no polling) ...
//   Runtime::stop(id, grace) / Runtime::remove(id)
//   network::Network::removeSandbox(pod)
//
// Each container lives in <state_dir>/containers/<id>/ (the OCI bundle:
// config.json, rootfs = overlayfs mount over the image's layer snapshots,
// upper/work dirs, shim state files). The shim (a double-forked process
// in its own session, a child subreaper) runs `crun create` + `crun start`,
// writes the container's stdout/stderr to the log file in the CRI format,
// reaps the container, records its exit (code, signal, OOM) in a file and
// exits. The agent watches each shim with a pidfd in one epoll loop. A
// SIGKILLed agent loses nothing: containers keep running and logging, and
// Runtime::open() adopts them again (same PIDs), including exits that
// happened while the agent was down.
//
// Threading: every method is thread-safe. Calls on different containers
// run concurrently (crun is exec'd outside the lock). The ExitHandler runs
// on the runtime's single watcher thread; it must not block for long and
// must not call stop()/waitExit() on the container it is told about (it
// may call status(), remove(), start() of another container).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace capstan::agent::runtime {

struct RuntimeConfig {
  // Bundles and shim state: <state_dir>/containers/<id>/ (config.json, the
  // rootfs mount point, the shim's files). State of processes, which no
  // reboot keeps: the agent puts it on tmpfs, under /run, as containerd does.
  std::string state_dir;
  // The containers' writable layers (overlayfs upper and work dirs):
  // <layers_dir>/<id>/, on the node's disk (ext4, xfs; or tmpfs). Empty:
  // inside each bundle. Layers without a bundle (after a reboot) are removed
  // when the runtime opens.
  std::string layers_dir;
  // crun's own state (--root); a private one keeps `crun list` ours only.
  std::string crun_root = "/run/capstan/crun";
  std::string crun_path = "/usr/bin/crun";
  // The per-container shim program; empty: capstan-shim beside the running
  // executable.
  std::string shim_path;
  // Absolute cgroup parent: containers go to <cgroup_parent>/<pod_uid>/<id>
  // in every v1 hierarchy.
  std::string cgroup_parent = "/capstan";
  // On a hybrid cgroup host where cgroup2 still holds a controller (crun
  // refuses to run there: "cgroups in hybrid mode not supported"), open()
  // mounts each such controller on its own v1 hierarchy under
  // /sys/fs/cgroup/<name> (host-wide, lasts until reboot). See
  // docs in cgroups.h for why this and not a private mount namespace.
  bool fix_hybrid_cgroups = true;
  // Container logs rotate past this size, keeping this many files in all
  // (kubelet's containerLogMaxSize 10Mi and containerLogMaxFiles 5).
  size_t container_log_max_bytes = 10 * 1024 * 1024;
  int container_log_max_files = 5;
};

// A file or directory made visible inside the container.
struct Mount {
  std::string source;        // host path (bind) or fs source (tmpfs)
  std::string destination;   // absolute path in the container
  std::string type = "bind"; // "bind" or "tmpfs"
  bool readonly = false;
  std::vector<std::string> options;  // extra mount options (e.g. "size=64m")
};

struct Resources {
  int64_t memory_limit_bytes = 0;  // 0 = unlimited; swap is limited to the same
  int64_t cpu_shares = 0;          // 0 = default (1024); requests.cpu -> shares
  int64_t cpu_quota_us = 0;        // 0 = unlimited; limits.cpu -> quota/period
  int64_t cpu_period_us = 100000;
  int64_t pids_limit = 0;          // 0 = unlimited
};

struct SecurityOptions {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;
  bool privileged = false;          // all capabilities, all devices, no seccomp, rw /sys
  bool no_new_privileges = false;   // = !allowPrivilegeEscalation
  bool readonly_rootfs = false;
  std::vector<std::string> cap_add;   // "NET_ADMIN" or "CAP_NET_ADMIN"; "ALL" allowed
  std::vector<std::string> cap_drop;  // "ALL" drops the default set first
  bool seccomp_unconfined = false;    // false = the default deny-list profile
};

// Paths of the pod's pinned namespaces (network::Sandbox gives them). An
// empty path means a new namespace for this container.
struct PodNamespaces {
  std::string network;
  std::string ipc;
  std::string uts;
};

// An image's rootfs recipe as the ImageStore hands it out: read-only layer
// snapshot dirs, bottom layer first.
struct RootfsSpec {
  std::vector<std::string> layer_dirs;
};

struct ContainerSpec {
  // Unique on the node; [A-Za-z0-9_.-], at most 128 chars. The pod worker
  // chooses it, e.g. "<pod-uid>_<container-name>_<attempt>".
  std::string id;
  std::string pod_uid;  // groups the cgroup: <cgroup_parent>/<pod_uid>/<id>
  RootfsSpec rootfs;
  std::vector<std::string> args;  // final argv (see resolveArgs in image_store.h)
  std::vector<std::string> env;   // "K=V"
  std::string cwd = "/";
  std::string hostname;           // empty: keep the UTS namespace's name
  std::vector<Mount> mounts;      // volumes, /etc/hosts, /etc/resolv.conf, ...
  PodNamespaces namespaces;       // pid and mount are always new
  Resources resources;
  SecurityOptions security;
  bool tty = false;               // a terminal made by crun inside the container
  bool stdin = false;             // stdin from attached clients (else /dev/null)
  bool stdin_once = false;        // closed when the first attached client detaches
  // CRI-format log file the shim appends to (created if missing).
  std::string log_path;
  // Kept with the container and returned by status()/list(): pod name,
  // namespace, container name, attempt, image... whatever the worker needs
  // to adopt the container after a restart.
  std::map<std::string, std::string> labels;
};

enum class ContainerState { kCreated, kRunning, kExited, kUnknown };

struct ContainerStatus {
  std::string id;
  std::string pod_uid;
  ContainerState state = ContainerState::kUnknown;
  int pid = 0;  // container init in the host pid namespace; 0 once exited
  std::optional<WallTime> started_at;
  std::optional<WallTime> finished_at;
  int exit_code = 0;      // 128+signal when killed by a signal (137 = SIGKILL)
  int signal = 0;
  bool oom_killed = false;  // the cgroup's oom_kill counter moved
  // Kubernetes' terminated reason: "Completed", "Error", "OOMKilled";
  // "StartError" (message = crun's error) when create/start failed.
  std::string reason;
  std::string message;
  std::string log_path;
  std::map<std::string, std::string> labels;
};

struct ContainerStats {
  uint64_t cpu_usage_ns = 0;           // cpuacct.usage
  uint64_t memory_usage_bytes = 0;     // memory.usage_in_bytes
  uint64_t memory_working_set_bytes = 0;  // usage - total_inactive_file (cAdvisor)
  uint64_t memory_rss_bytes = 0;
  uint64_t pids = 0;
  WallTime timestamp;
};

struct ExecOptions {
  std::vector<std::string> env;  // added to the container's env
  std::string cwd;               // empty: the container's cwd
  std::chrono::milliseconds timeout{30000};  // exec() only: then SIGKILL, Timeout
  std::string stdin_data;        // exec() only
  bool tty = false;              // execStreaming() only: run on a pseudo-terminal
};

struct ExecResult {
  int exit_code = 0;
  std::string out;
  std::string err;
};

// A running `crun exec` for the caller to stream; the caller owns the fds
// and must reap the pid (waitpid) -- see ExecProcess::wait().
// With ExecOptions::tty the process runs on a pseudo-terminal made inside
// the container: stdin_fd and stdout_fd are (duplicates of) its master,
// stderr_fd carries only crun's own errors, and tty_fd is one more
// duplicate of the master for resizing (the caller closes it too).
struct ExecProcess {
  int pid = -1;
  int stdin_fd = -1;   // write end
  int stdout_fd = -1;  // read end
  int stderr_fd = -1;  // read end
  int tty_fd = -1;     // the terminal's master, for TIOCSWINSZ; -1 without tty
};

// Called once per container exit, on the watcher thread.
using ExitHandler = std::function<void(const ContainerStatus&)>;

class Runtime {
 public:
  virtual ~Runtime() = default;

  // Creates the dirs, makes cgroups usable for crun (hybrid fix), starts
  // the watcher thread, and adopts every container found in state_dir:
  // running ones are watched again; ones that exited while no agent ran
  // report their recorded exit (the handler is *not* called for those;
  // list() shows them as kExited).
  static Result<std::unique_ptr<Runtime>> open(const RuntimeConfig& config,
                                               const Clock& clock = SystemClock::instance());

  // Replaces the exit handler. Exits that happen before a handler is set
  // are only visible through status()/waitExit().
  virtual void setExitHandler(ExitHandler handler) = 0;

  // Mounts the rootfs, writes the bundle, runs the shim (crun run) and
  // returns once the container runs (kRunning with pid); or starts the
  // container prepared under this id when its spec is the same. On
  // failure the status says StartError; the container stays listed (as
  // kExited) until remove(), so the worker can report it. AlreadyExists
  // if the id is in use; Invalid for a bad spec.
  virtual Result<ContainerStatus> start(const ContainerSpec& spec) = 0;

  // A restart made ahead of time. prepare() creates `next` -- bundle,
  // rootfs, cgroup, shim, and a container crun has created but not started
  // -- as the successor of the running container `after`, in the
  // background, at a low priority, and only while no start() ran in the
  // last moments. A later start(next) with the same spec then only has to
  // `crun start` it: a restart costs the exit notice, a sync and that,
  // instead of a whole `crun run`. A prepared container is in no list() or
  // status(); it goes with remove(after) or discardPrepared(after), or when
  // start() finds the spec changed. hasPrepared(after): one was prepared
  // or tried for `after` (a failed try is not repeated). A runtime that
  // cannot prepare ignores these.
  virtual void prepare(const std::string& after, const ContainerSpec& next) {}
  virtual bool hasPrepared(const std::string& after) const { return false; }
  virtual void discardPrepared(const std::string& after) {}

  // SIGTERM, then SIGKILL after `grace` if still running; returns when the
  // container has exited (or at once if it already has). Idempotent.
  virtual Result<ContainerStatus> stop(const std::string& id, std::chrono::milliseconds grace) = 0;

  // Sends a signal to the container init (crun kill). NotFound/Conflict
  // when it does not run.
  virtual Status kill(const std::string& id, int signal) = 0;

  // Blocks until the container has exited or `timeout` passes (Timeout).
  virtual Result<ContainerStatus> waitExit(const std::string& id, std::chrono::milliseconds timeout) = 0;

  // Kills it if it still runs, crun delete, unmounts the rootfs, removes
  // its cgroups (and the pod's cgroup once empty) and its dir. Idempotent:
  // ok for an unknown id. Keeps the log file (the worker owns it).
  virtual Status remove(const std::string& id) = 0;

  virtual Result<ContainerStatus> status(const std::string& id) const = 0;
  virtual std::vector<ContainerStatus> list() const = 0;

  // Runs argv in the container and collects its output (bounded to 16 MiB
  // per stream).
  virtual Result<ExecResult> exec(const std::string& id, const std::vector<std::string>& argv,
                                  const ExecOptions& options = {}) = 0;
  // Starts argv in the container with pipes for the caller to stream.
  virtual Result<ExecProcess> execStreaming(const std::string& id, const std::vector<std::string>& argv,
                                            const ExecOptions& options = {}) = 0;

  // Attaches to a running container's stdio through its shim (kubectl
  // attach): pid -1; stdin_fd feeds the container's stdin (or terminal),
  // stdout_fd carries its output (all of it on a terminal) from now on,
  // stderr_fd its stderr (-1 on a terminal), tty_fd the terminal's master
  // for resizing. All reach EOF when the container exits. NotFound for a
  // container whose shim serves no attach socket.
  virtual Result<ExecProcess> attach(const std::string& id) = 0;

  // Usage from the container's v1 cgroups. NotFound once removed.
  virtual Result<ContainerStats> stats(const std::string& id) const = 0;

  // crun's version line, for nodeInfo.containerRuntimeVersion.
  virtual std::string version() const = 0;
};

}  // namespace capstan::agent::runtime
