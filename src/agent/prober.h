#pragma once
// Container probes as kubelet runs them: startup, liveness and readiness
// probes (exec, httpGet, tcpSocket) of every running container, each on its
// own schedule (initialDelaySeconds, periodSeconds, timeoutSeconds,
// success/failureThreshold). Liveness and readiness wait for the startup
// probe to pass.
//
// A result that changes (ready, started) wakes the pod's worker through
// `Hooks::wake`, so the pod status follows at once; a liveness or startup
// probe that fails failureThreshold times in a row calls `Hooks::kill`
// (the runtime's exit then restarts the container per restartPolicy).
//
// Threading: one scheduler thread hands due probes to `threads` runner
// threads; a probe may block its runner up to its timeout. State is guarded
// by mu_; hooks are called without it held.

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/runtime/runtime.h"
#include "common/clock.h"
#include "common/json.h"

namespace capstan::agent {

enum class ProbeKind { kStartup, kLiveness, kReadiness };
const char* probeKindName(ProbeKind kind);  // "Startup", "Liveness", "Readiness"

// One running container to probe.
struct ProbeTarget {
  std::string pod_key;  // namespace/name
  std::string pod_uid;
  std::string pod_ip;
  std::string container_id;
  std::string container_name;
  Json container;  // the container's spec: probes, and ports for named ports
  std::chrono::steady_clock::time_point started;
  int64_t termination_grace_seconds = 30;  // the pod's
};

struct ProbeOutcome {
  bool success = false;
  std::string message;  // why it failed (or output worth keeping)
};

// Counts consecutive outcomes against the thresholds; `result` flips only
// after successThreshold successes or failureThreshold failures in a row.
struct ProbeCounter {
  int success_threshold = 1;
  int failure_threshold = 3;
  int successes = 0;
  int failures = 0;
  bool result = false;
  // Returns true when `result` changed.
  bool record(bool success);
};

// Runs one probe handler once. The real one execs in the container or
// connects to the pod IP; tests inject their own.
using ProbeRunner = std::function<ProbeOutcome(const ProbeTarget&, const Json& probe)>;
ProbeRunner realProbeRunner(runtime::Runtime& runtime);

// One GET as kubelet sends it for httpGet probes and lifecycle hooks: the
// host defaults to the pod IP, a named port is looked up in the
// container's ports, redirects are followed, certificates not verified.
// `code` is the HTTP status; 0 with `error` set when no response came.
struct HttpGetResult {
  std::string url;
  long code = 0;
  std::string error;
};
HttpGetResult httpGet(const Json& http_get, const std::string& pod_ip, const Json& container,
                      std::chrono::milliseconds timeout, const std::string& user_agent);

// The handlers the real runner uses, exposed for tests.
ProbeOutcome runHttpGetProbe(const Json& http_get, const std::string& pod_ip, const Json& container,
                             std::chrono::milliseconds timeout);
ProbeOutcome runTcpSocketProbe(const Json& tcp_socket, const std::string& pod_ip, const Json& container,
                               std::chrono::milliseconds timeout);

class Prober {
 public:
  struct Hooks {
    std::function<void(const std::string& pod_key)> wake;
    // Each failed probe (kubelet's Warning Unhealthy event).
    std::function<void(const ProbeTarget&, ProbeKind, const std::string& message)> unhealthy;
    // A liveness/startup probe failed for good: stop the container.
    std::function<void(const ProbeTarget&, ProbeKind, int64_t grace_seconds)> kill;
  };
  Prober(ProbeRunner probe_runner, Hooks hooks, const Clock& clock, int threads = 4);
  ~Prober();
  void stop();

  // Starts probing a running container (nothing when it is probed
  // already). Call it before asking ready()/started() about it.
  void ensure(const ProbeTarget& target);
  // Stops probing the pod's containers other than `running`.
  void retain(const std::string& pod_uid, const std::set<std::string>& running);
  void removePod(const std::string& pod_uid) { retain(pod_uid, {}); }

  // For the status: readiness (true when there is no readiness probe) and
  // whether the startup probe passed (true when there is none).
  bool ready(const std::string& container_id) const;
  bool started(const std::string& container_id) const;

 private:
  struct Probe {
    ProbeKind kind;
    Json spec;
    ProbeCounter counter;
    bool done = false;  // startup passed, or the container is being killed
  };
  struct Container {
    ProbeTarget target;
    std::vector<Probe> probes;
    bool has_startup = false, has_readiness = false;
    bool started = false, ready = false;
  };
  using Due = std::pair<std::chrono::steady_clock::time_point, std::pair<std::string, ProbeKind>>;

  void schedule(const std::string& id, ProbeKind kind, std::chrono::steady_clock::time_point at);
  void scheduler();
  void runner();
  void runOne(const std::string& id, ProbeKind kind);

  ProbeRunner run_;
  Hooks hooks_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_, work_cv_;
  bool stopping_ = false;
  std::map<std::string, Container> containers_;                 // by container id
  std::map<std::string, std::set<std::string>> by_pod_;         // pod uid -> container ids
  std::set<Due> due_;
  std::vector<std::pair<std::string, ProbeKind>> work_;
  std::vector<std::thread> threads_;
};

}  // namespace capstan::agent
