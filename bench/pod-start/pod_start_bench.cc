// pod_start_bench: pod start, restart and idle cost of a running `capstan
// server` with its node agent (real crun, real CNI), beside the floor
// measured in the same run: the same CNI ADD (loopback, then bridge with
// host-local, built by the agent's own config code and run the same way)
// plus `crun create` + `crun start` of the same container by themselves,
// one at a time and --burst at once (by as many threads as the agent has
// pod workers).
//
//   serial  pods created one at a time: create -> Running, create -> Ready
//           (client clock: from sending the create to the watch event)
//   burst   --burst pods created at once: time until all are Running/Ready
//   idle    the server process's CPU and RSS over --idle-seconds with the
//           burst's pods running (the whole process: API server,
//           controllers, scheduler and agent), plus the containers' shims
//   crash   a container that exits on request (the bench writes to a FIFO
//           it reads through a hostPath) and announces each start by
//           appending to a file there; crash -> restart is from the write
//           to the inotify event of the next start. (containerStatuses'
//           times are whole seconds, as Kubernetes writes them.)
//
// Prints one JSON object. run.sh starts the server and cleans up after.
//
// usage: pod_start_bench --server URL --ca FILE --token T --server-pid PID
//          --image IMAGE --work DIR --floor-subnet CIDR --floor-bridge NAME
//          [--serial 30] [--burst 100] [--crash 10] [--floor 20] [--idle-seconds 10]
//          [--sandbox-dir DIR: wait until it is empty after each phase's deletion]
//          [--automount false: pods without the service-account token volume]
//        pod_start_bench --cleanup-floor --work DIR --floor-bridge NAME
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spawn.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/network/cni.h"
#include "agent/runtime/process.h"
#include "client/client.h"
#include "client/https_transport.h"

extern char** environ;

using namespace capstan;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

struct Options {
  std::string server, ca, token, image = "capstan.test/busybox:1", work, floor_subnet, floor_bridge;
  std::string sandbox_dir;  // the agent's pod sandboxes (/run/capstan/<node>/netns)
  std::string cni_bin = "/usr/lib/cni", crun = "/usr/bin/crun";
  int server_pid = 0, serial = 30, burst = 100, crash = 10, floor = 20, idle_seconds = 10;
  bool cleanup_floor = false;
  // Whether pods get the service-account token volume (ServiceAccount
  // admission's default); --automount=false compares pods without it.
  bool automount = true;
};

// Set once from the flags: the pods' automountServiceAccountToken.
bool g_automount = true;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Summary {
  double p50 = 0, p99 = 0, min = 0, max = 0, mean = 0;
  size_t n = 0;
};

Summary summarize(std::vector<double> v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5))]; };
  s.p50 = at(0.5);
  s.p99 = at(0.99);
  s.min = v.front();
  s.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

Json toJson(const Summary& s) {
  auto r = [](double x) { return std::round(x * 10) / 10; };
  return {{"n", s.n}, {"p50_ms", r(s.p50)}, {"p99_ms", r(s.p99)}, {"min_ms", r(s.min)}, {"mean_ms", r(s.mean)},
          {"max_ms", r(s.max)}};
}

// ---------------------------------------------------------------------------
// The floor: CNI ADD + crun create/start by themselves.

// Runs argv with stdio on /dev/null (crun create hands its stdio to the
// container, so a pipe would stay open as long as it lives). Returns the
// exit code, -1 when it could not start.
int runQuiet(const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (int fd : {0, 1, 2}) posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

agent::network::NetworkConfig floorNetwork(const Options& o) {
  agent::network::NetworkConfig nc;
  nc.network_name = "capstan-benchfloor";
  nc.bridge = o.floor_bridge;
  nc.subnet = o.floor_subnet;
  nc.cni_bin_dir = o.cni_bin;
  nc.ipam_data_dir = o.work + "/floor/ipam";
  nc.run_dir = o.work + "/floor";
  return nc;
}

std::string floorCrunRoot(const Options& o) { return o.work + "/floor/crun"; }

// Tears down one floor sandbox: container, CNI DEL (while the netns
// exists), netns, cgroups. Idempotent; run for leftovers by --cleanup-floor.
void floorTeardown(const Options& o, const std::string& id) {
  runQuiet({o.crun, "--root", floorCrunRoot(o), "delete", "-f", id});
  auto nc = floorNetwork(o);
  std::string netns = "/run/netns/" + id;
  if (fs::exists(netns)) {
    (void)agent::network::runCniPlugin(o.cni_bin, agent::network::bridgeConfig(nc, Json(), false), {"DEL", id, netns, "eth0"});
    (void)agent::network::runCniPlugin(o.cni_bin, agent::network::loopbackConfig(nc), {"DEL", id, netns, "lo"});
    runQuiet({"/usr/sbin/ip", "netns", "del", id});
  }
  std::error_code ec;
  for (const auto& h : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    fs::path d = h.path() / "capstan-bench-floor" / id;
    ::rmdir(d.c_str());
  }
  fs::remove(o.work + "/floor/ids/" + id, ec);
  fs::remove_all(o.work + "/floor/c-" + id, ec);
}

void floorCleanupAll(const Options& o) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(o.work + "/floor/ids", ec)) floorTeardown(o, e.path().filename());
  for (const auto& h : fs::directory_iterator("/sys/fs/cgroup", ec)) ::rmdir((h.path() / "capstan-bench-floor").c_str());
  if (!o.floor_bridge.empty()) runQuiet({"/usr/sbin/ip", "link", "del", o.floor_bridge});
}

struct FloorResult {
  std::vector<double> netns, cni, crun, total;
  std::string error;
  Json base;           // the container's config (crun spec's, adapted per run)
  std::string bundle;  // its rootfs
};

// The agent's pod workers (AgentOptions::workers in agent/agent.h, whose
// names clash with this file's), for the burst's floor.
constexpr int kAgentPodWorkers = 4;

struct FloorStart {
  double netns_ms = 0, cni_ms = 0, crun_ms = 0;
  std::string error;
};

// One pod's floor: `ip netns add`, CNI ADD (loopback, bridge: the agent's
// own configs) and `crun create` + `crun start` of `busybox sleep 3600` in
// that netns. Left running for floorTeardown.
FloorStart floorStart(const Options& o, const Json& base, const std::string& bundle, const std::string& id) {
  FloorStart r;
  auto nc = floorNetwork(o);
  std::error_code ec;
  std::ofstream(o.work + "/floor/ids/" + id).put('\n');
  std::string netns = "/run/netns/" + id;
  auto t0 = Clock::now();
  if (runQuiet({"/usr/sbin/ip", "netns", "add", id}) != 0) {
    r.error = "ip netns add failed";
    return r;
  }
  auto t1 = Clock::now();
  auto lo = agent::network::runCniPlugin(o.cni_bin, agent::network::loopbackConfig(nc), {"ADD", id, netns, "lo"});
  auto br = lo ? agent::network::runCniPlugin(o.cni_bin, agent::network::bridgeConfig(nc, Json(), false),
                                              {"ADD", id, netns, "eth0"})
               : Result<Json>(lo.status());
  auto t2 = Clock::now();
  if (!br) {
    r.error = "CNI ADD: " + br.status().message();
    return r;
  }
  Json cfg = base;
  cfg["process"]["terminal"] = false;
  cfg["process"]["args"] = Json::array({"/bin/busybox", "sleep", "3600"});
  cfg["root"] = {{"path", bundle + "/rootfs"}, {"readonly", true}};
  cfg["hostname"] = "floor";
  cfg["linux"]["cgroupsPath"] = "/capstan-bench-floor/" + id;
  for (auto& ns : cfg["linux"]["namespaces"])
    if (ns.value("type", "") == "network") ns["path"] = netns;
  std::string cdir = o.work + "/floor/c-" + id;
  fs::create_directories(cdir, ec);
  std::ofstream(cdir + "/config.json") << cfg.dump();
  auto t3 = Clock::now();
  int rc = runQuiet({o.crun, "--root", floorCrunRoot(o), "create", "--bundle", cdir, id});
  if (rc == 0) rc = runQuiet({o.crun, "--root", floorCrunRoot(o), "start", id});
  auto t4 = Clock::now();
  if (rc != 0) r.error = fmt::format("crun create/start exited {}", rc);
  r.netns_ms = ms(t1 - t0);
  r.cni_ms = ms(t2 - t1);
  r.crun_ms = ms(t4 - t3);
  return r;
}

FloorResult measureFloor(const Options& o) {
  FloorResult r;
  std::error_code ec;
  fs::create_directories(o.work + "/floor/ids", ec);
  std::string bundle = o.work + "/floor/bundle";
  // The container: the busybox binary of the test image, `sleep 3600`.
  fs::create_directories(bundle + "/rootfs/bin", ec);
  fs::create_directories(bundle + "/rootfs/proc", ec);
  fs::copy_file("/bin/busybox", bundle + "/rootfs/bin/busybox", fs::copy_options::overwrite_existing, ec);
  if (runQuiet({"/bin/sh", "-c", "cd " + bundle + " && rm -f config.json && " + o.crun + " spec"}) != 0) {
    r.error = "crun spec failed";
    return r;
  }
  std::ifstream in(bundle + "/config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto base = parseJson(ss.str());
  if (!base) {
    r.error = "bad config.json from crun spec";
    return r;
  }
  r.base = *base;
  r.bundle = bundle;
  for (int i = 0; i < o.floor; ++i) {
    std::string id = fmt::format("cpfl-{}-{}", getpid(), i);
    auto one = floorStart(o, *base, bundle, id);
    floorTeardown(o, id);
    if (!one.error.empty()) {
      r.error = one.error;
      break;
    }
    // The first run creates the bridge; the agent's bridge already exists too.
    if (i == 0) continue;
    r.netns.push_back(one.netns_ms);
    r.cni.push_back(one.cni_ms);
    r.crun.push_back(one.crun_ms);
    r.total.push_back(one.cni_ms + one.crun_ms);
  }
  return r;
}

// The burst's floor: --burst sandboxes and containers at once, started by
// as many threads as the agent has pod workers, until all run; then torn
// down. Measured just before the burst, on an empty node.
double measureBurstFloor(const Options& o, const FloorResult& floor, std::string& error) {
  std::atomic<int> next{0};
  std::mutex mu;
  auto t0 = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < kAgentPodWorkers; ++w)
    workers.emplace_back([&] {
      for (int i; (i = next++) < o.burst;) {
        auto one = floorStart(o, floor.base, floor.bundle, fmt::format("cpfb-{}-{}", getpid(), i));
        if (!one.error.empty()) {
          std::lock_guard lock(mu);
          error = one.error;
        }
      }
    });
  for (auto& t : workers) t.join();
  double took = ms(Clock::now() - t0);
  for (int i = 0; i < o.burst; ++i) floorTeardown(o, fmt::format("cpfb-{}-{}", getpid(), i));
  return took;
}

// ---------------------------------------------------------------------------
// Pods through the API.

struct PodTimes {
  Clock::time_point created{}, running{}, ready{};
  bool deleted = false;
};

class PodTracker {
 public:
  void created(const std::string& name, Clock::time_point t) {
    std::lock_guard lock(mu_);
    pods_[name].created = t;
  }
  void event(std::string_view type, const Json& pod) {
    auto now = Clock::now();
    std::string name = client::nameOf(pod);
    std::lock_guard lock(mu_);
    PodTimes& p = pods_[name];
    if (type == "DELETED") {
      p.deleted = true;
    } else {
      const Json& st = objectAt(pod, "status");
      if (st.value("phase", "") == "Running" && p.running == Clock::time_point{}) p.running = now;
      for (const auto& c : st.value("conditions", Json::array()))
        if (c.value("type", "") == "Ready" && c.value("status", "") == "True" && p.ready == Clock::time_point{})
          p.ready = now;
    }
    cv_.notify_all();
  }
  // Waits until pred(pods) holds; false on timeout.
  bool waitFor(std::chrono::seconds timeout, const std::function<bool(const std::map<std::string, PodTimes>&)>& pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(pods_); });
  }
  std::map<std::string, PodTimes> snapshot() {
    std::lock_guard lock(mu_);
    return pods_;
  }
  void forget(const std::string& name) {
    std::lock_guard lock(mu_);
    pods_.erase(name);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, PodTimes> pods_;
};

Json sleepPod(const std::string& name, const std::string& group, const std::string& image) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"bench", "pod-start"}, {"group", group}}}}},
          {"spec",
           {{"terminationGracePeriodSeconds", 0},
            {"automountServiceAccountToken", g_automount},
            {"containers", Json::array({{{"name", "c"},
                                         {"image", image},
                                         {"imagePullPolicy", "Never"},
                                         {"command", Json::array({"/bin/sleep", "3600"})}}})}}}};
}

Json crashPod(const std::string& name, const std::string& image, const std::string& dir) {
  Json pod = sleepPod(name, "crash", image);
  auto& c = pod["spec"]["containers"][0];
  c["command"] = Json::array({"/bin/sh", "-c", "echo up >> /d/up; read x < /d/ctl; exit 1"});
  c["volumeMounts"] = Json::array({{{"name", "d"}, {"mountPath", "/d"}}});
  pod["spec"]["volumes"] = Json::array({{{"name", "d"}, {"hostPath", {{"path", dir}, {"type", "Directory"}}}}});
  return pod;
}

// Deletes a phase's pods (grace 0) and waits until they are gone from the
// API and, with --sandbox-dir, torn down on the node too, so that each
// phase starts on an empty node rather than beside the last one's teardown.
Status deleteGroup(const Options& o, const client::Client& c, PodTracker& tracker, const std::string& group,
                   size_t n) {
  auto r = c.call({.method = "DELETE", .path = client::res::kPods.path("default", ""),
                   .query = {{"labelSelector", "group=" + group}, {"gracePeriodSeconds", "0"}}});
  if (!r) return r.status();
  bool gone = tracker.waitFor(std::chrono::seconds(120), [&](const auto& pods) {
    size_t d = 0;
    for (const auto& [name, p] : pods)
      if (name.rfind(group + "-", 0) == 0 && p.deleted) ++d;
    return d >= n;
  });
  if (!gone) return Status(Code::kTimeout, "pods of group " + group + " not deleted");
  if (o.sandbox_dir.empty()) return Status::ok();
  for (auto deadline = Clock::now() + std::chrono::seconds(120); Clock::now() < deadline;) {
    std::error_code ec;
    if (fs::is_empty(o.sandbox_dir, ec) || ec) return Status::ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status(Code::kTimeout, "pods of group " + group + " not torn down on the node");
}

// ---------------------------------------------------------------------------
// The server process's own cost.

struct ProcSample {
  double cpu_s = 0;
  double rss_mib = 0;
};

std::string readFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::optional<ProcSample> sampleProc(int pid) {
  std::string stat = readFile(fmt::format("/proc/{}/stat", pid));
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;
  for (std::string s; fields >> s;) f.push_back(s);
  if (f.size() < 13) return std::nullopt;
  // Fields after the comm: state(3) ... utime(14) stime(15) -> index 11, 12.
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  ProcSample s;
  s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / ticks;
  std::istringstream status(readFile(fmt::format("/proc/{}/status", pid)));
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) s.rss_mib = std::stod(line.substr(6)) / 1024.0;
  return s;
}

// The shims of this server's containers: capstan-shim processes whose
// arguments name the agent's crun root (beside --sandbox-dir).
std::vector<int> shimPids(const Options& o) {
  std::vector<int> out;
  if (o.sandbox_dir.empty()) return out;
  std::string root = (fs::path(o.sandbox_dir).parent_path() / "crun").string();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string n = e.path().filename();
    if (n.empty() || !std::all_of(n.begin(), n.end(), ::isdigit)) continue;
    std::string cmd = readFile(e.path().string() + "/cmdline");
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find("capstan-shim ") != std::string::npos && cmd.find(" " + root + " ") != std::string::npos)
      out.push_back(std::stoi(n));
  }
  return out;
}

// Proportional set size: the shims share their program's pages, which RSS
// would count once per process.
double pssMib(int pid) {
  std::istringstream in(readFile(fmt::format("/proc/{}/smaps_rollup", pid)));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("Pss:", 0) == 0) return std::stod(line.substr(4)) / 1024.0;
  return 0;
}

Json measureIdle(const Options& o) {
  auto before = sampleProc(o.server_pid);
  auto shims = shimPids(o);
  std::map<int, ProcSample> shims_before;
  for (int p : shims)
    if (auto s = sampleProc(p)) shims_before[p] = *s;
  auto t0 = Clock::now();
  double rss_max = before ? before->rss_mib : 0, rss_sum = 0;
  int samples = 0;
  for (int i = 0; i < o.idle_seconds; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    if (auto s = sampleProc(o.server_pid)) {
      rss_max = std::max(rss_max, s->rss_mib);
      rss_sum += s->rss_mib;
      ++samples;
    }
  }
  auto after = sampleProc(o.server_pid);
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  double shim_cpu = 0, shim_rss = 0;
  for (auto& [p, b] : shims_before)
    if (auto a = sampleProc(p)) {
      shim_cpu += a->cpu_s - b.cpu_s;
      shim_rss += pssMib(p);
    }
  if (!before || !after) return {{"error", "server process not readable"}};
  auto r = [](double x) { return std::round(x * 100) / 100; };
  return {{"seconds", r(wall)},
          {"server_cpu_percent_of_core", r(100 * (after->cpu_s - before->cpu_s) / wall)},
          {"server_rss_mib_max", r(rss_max)},
          {"server_rss_mib_mean", r(samples ? rss_sum / samples : 0)},
          {"shims", shims_before.size()},
          {"shims_cpu_percent_of_core", r(100 * shim_cpu / wall)},
          {"server_pss_mib", r(pssMib(o.server_pid))},
          {"shims_pss_mib_total", r(shim_rss)}};
}

// ---------------------------------------------------------------------------

int usage(const char* why) {
  std::fprintf(stderr, "pod_start_bench: %s\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--cleanup-floor") {
      o.cleanup_floor = true;
      continue;
    }
    if (i + 1 >= argc) return usage(("missing value for " + k).c_str());
    std::string v = argv[++i];
    if (k == "--server") o.server = v;
    else if (k == "--ca") o.ca = v;
    else if (k == "--token") o.token = v;
    else if (k == "--image") o.image = v;
    else if (k == "--work") o.work = v;
    else if (k == "--floor-subnet") o.floor_subnet = v;
    else if (k == "--floor-bridge") o.floor_bridge = v;
    else if (k == "--cni-bin") o.cni_bin = v;
    else if (k == "--crun") o.crun = v;
    else if (k == "--sandbox-dir") o.sandbox_dir = v;
    else if (k == "--server-pid") o.server_pid = std::stoi(v);
    else if (k == "--serial") o.serial = std::stoi(v);
    else if (k == "--burst") o.burst = std::stoi(v);
    else if (k == "--crash") o.crash = std::stoi(v);
    else if (k == "--floor") o.floor = std::stoi(v);
    else if (k == "--idle-seconds") o.idle_seconds = std::stoi(v);
    else if (k == "--automount") o.automount = v != "false";
    else return usage(("unknown flag " + k).c_str());
  }
  if (o.work.empty()) return usage("--work is required");
  g_automount = o.automount;
  if (o.cleanup_floor) {
    floorCleanupAll(o);
    return 0;
  }
  if (o.server.empty() || o.floor_subnet.empty() || o.floor_bridge.empty() || o.server_pid <= 0)
    return usage("--server, --server-pid, --floor-subnet and --floor-bridge are required");

  auto t = client::makeHttpsTransport({.server = o.server, .ca_file = o.ca, .bearer_token = o.token,
                                       .user_agent = "pod-start-bench", .timeout = std::chrono::minutes(2)});
  if (!t) return usage(t.status().message().c_str());
  client::Client c(*t, "pod-start-bench");
  Json out = Json::object();
  out["automount_service_account_token"] = o.automount;
  bool ok = true;

  // The floor first: the agent's bridge and cgroups exist by now (the
  // agent also fixed up hybrid cgroups for crun).
  auto floor = measureFloor(o);
  floorCleanupAll(o);
  if (!floor.error.empty()) {
    std::fprintf(stderr, "floor: %s\n", floor.error.c_str());
    ok = false;
  }
  Summary floor_total = summarize(floor.total);
  out["floor"] = {{"netns_add", toJson(summarize(floor.netns))},
                  {"cni_add_lo_bridge", toJson(summarize(floor.cni))},
                  {"crun_create_start", toJson(summarize(floor.crun))},
                  {"cni_plus_crun", toJson(floor_total)}};
  std::fprintf(stderr, "floor: CNI+crun p50 %.1f ms (CNI %.1f, crun %.1f)\n", floor_total.p50,
               summarize(floor.cni).p50, summarize(floor.crun).p50);

  PodTracker tracker;
  auto watch = c.watch(client::res::kPods, "default", {.label_selector = "bench=pod-start"},
                       [&](std::string_view type, client::ObjectPtr obj) {
                         if (type == "ADDED" || type == "MODIFIED" || type == "DELETED") tracker.event(type, *obj);
                       },
                       [](Status) {});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the watch is established

  // (a) one at a time.
  std::vector<double> to_running, to_ready;
  for (int i = 0; i < o.serial && ok; ++i) {
    std::string name = fmt::format("serial-{}", i);
    auto t0 = Clock::now();
    tracker.created(name, t0);
    auto r = c.create(client::res::kPods, "default", sleepPod(name, "serial", o.image));
    if (!r) {
      std::fprintf(stderr, "create %s: %s\n", name.c_str(), r.status().message().c_str());
      ok = false;
      break;
    }
    if (!tracker.waitFor(std::chrono::seconds(60), [&](const auto& pods) {
          auto it = pods.find(name);
          return it != pods.end() && it->second.ready != Clock::time_point{} && it->second.running != Clock::time_point{};
        })) {
      std::fprintf(stderr, "%s not Running and Ready within 60 s\n", name.c_str());
      ok = false;
      break;
    }
    auto p = tracker.snapshot()[name];
    to_running.push_back(ms(p.running - p.created));
    to_ready.push_back(ms(p.ready - p.created));
  }
  Summary run_s = summarize(to_running), ready_s = summarize(to_ready);
  out["serial"] = {{"to_running", toJson(run_s)}, {"to_ready", toJson(ready_s)}};
  if (floor_total.p50 > 0) out["serial"]["p50_running_over_floor"] = std::round(run_s.p50 / floor_total.p50 * 100) / 100;
  std::fprintf(stderr, "serial: Running p50 %.1f p99 %.1f ms; Ready p50 %.1f p99 %.1f ms\n", run_s.p50, run_s.p99,
               ready_s.p50, ready_s.p99);
  if (ok)
    if (auto st = deleteGroup(o, c, tracker, "serial", to_running.size()); !st) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      ok = false;
    }

  // (b) all at once, after the floor of it.
  double burst_floor_ms = 0;
  if (ok && o.burst > 0) {
    std::string error;
    burst_floor_ms = measureBurstFloor(o, floor, error);
    floorCleanupAll(o);
    out["floor"]["burst_all_running_ms"] = std::round(burst_floor_ms);
    out["floor"]["burst_workers"] = kAgentPodWorkers;
    std::fprintf(stderr, "floor: %d at once by %d threads, all running in %.0f ms\n", o.burst, kAgentPodWorkers,
                 burst_floor_ms);
    if (!error.empty()) {
      std::fprintf(stderr, "burst floor: %s\n", error.c_str());
      ok = false;
    }
  }
  if (ok && o.burst > 0) {
    std::mutex mu;
    std::condition_variable cv;
    int pending = o.burst, failed = 0;
    auto start = Clock::now();
    for (int i = 0; i < o.burst; ++i) {
      std::string name = fmt::format("burst-{}", i);
      tracker.created(name, Clock::now());
      Json body = sleepPod(name, "burst", o.image);
      c.callAsync({.method = "POST", .path = client::res::kPods.path("default", ""), .body = body.dump()},
                  [&](Result<Json> r) {
                    std::lock_guard lock(mu);
                    if (!r) ++failed;
                    --pending;
                    cv.notify_all();
                  });
    }
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return pending == 0; });
    }
    double created_ms = ms(Clock::now() - start);
    auto all = [&](bool ready) {
      return [&, ready](const std::map<std::string, PodTimes>& pods) {
        int n = 0;
        for (const auto& [name, p] : pods)
          if (name.rfind("burst-", 0) == 0 && (ready ? p.ready : p.running) != Clock::time_point{}) ++n;
        return n == o.burst;
      };
    };
    bool all_running = tracker.waitFor(std::chrono::seconds(120), all(false));
    bool all_ready = all_running && tracker.waitFor(std::chrono::seconds(60), all(true));
    Clock::time_point last_running{}, last_ready{};
    std::vector<double> each;
    int n_running = 0;
    for (const auto& [name, p] : tracker.snapshot()) {
      if (name.rfind("burst-", 0) != 0) continue;
      if (p.running != Clock::time_point{}) {
        ++n_running;
        last_running = std::max(last_running, p.running);
        each.push_back(ms(p.running - p.created));
      }
      last_ready = std::max(last_ready, p.ready);
    }
    out["burst"] = {{"pods", o.burst},
                    {"create_failures", failed},
                    {"created_in_ms", std::round(created_ms)},
                    {"running", n_running},
                    {"all_running_ms", all_running ? Json(std::round(ms(last_running - start))) : Json(nullptr)},
                    {"all_ready_ms", all_ready ? Json(std::round(ms(last_ready - start))) : Json(nullptr)},
                    {"each_to_running", toJson(summarize(each))}};
    if (all_running && burst_floor_ms > 0)
      out["burst"]["all_running_over_floor"] = std::round(ms(last_running - start) / burst_floor_ms * 100) / 100;
    std::fprintf(stderr, "burst: %d/%d Running, all in %.0f ms\n", n_running, o.burst,
                 all_running ? ms(last_running - start) : -1.0);
    if (!all_ready) ok = false;

    // (d) idle with the burst's pods running.
    if (ok && o.server_pid > 0) {
      std::this_thread::sleep_for(std::chrono::seconds(3));  // status writes and events settle
      out["idle"] = measureIdle(o);
      out["idle"]["pods"] = o.burst;
      std::fprintf(stderr, "idle: %s\n", out["idle"].dump().c_str());
    }
    if (auto st = deleteGroup(o, c, tracker, "burst", static_cast<size_t>(o.burst)); !st) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      ok = false;
    }
  }

  // (c) crash -> restart, one pod at a time.
  if (ok && o.crash > 0) {
    int in = inotify_init1(IN_CLOEXEC);
    std::vector<double> restart;
    for (int i = 0; i < o.crash && ok; ++i) {
      std::string dir = fmt::format("{}/crash/{}", o.work, i);
      std::error_code ec;
      fs::create_directories(dir, ec);
      ::chmod(dir.c_str(), 0777);
      std::string ctl = dir + "/ctl";
      ::mkfifo(ctl.c_str(), 0666);
      std::ofstream(dir + "/up").flush();
      int wd = inotify_add_watch(in, dir.c_str(), IN_CLOSE_WRITE);
      // Waits for the container to announce a start; returns its time.
      auto waitUp = [&](std::chrono::milliseconds timeout) -> std::optional<Clock::time_point> {
        auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
          pollfd p{in, POLLIN, 0};
          int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
          if (::poll(&p, 1, std::max(left, 0)) <= 0) continue;
          auto now = Clock::now();
          alignas(inotify_event) char buf[4096];
          ssize_t n = ::read(in, buf, sizeof buf);
          for (ssize_t off = 0; off < n;) {
            auto* ev = reinterpret_cast<inotify_event*>(buf + off);
            off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
            if (ev->wd == wd && ev->len && std::string(ev->name) == "up") return now;
          }
        }
        return std::nullopt;
      };
      std::string name = fmt::format("crash-{}", i);
      tracker.created(name, Clock::now());
      if (auto r = c.create(client::res::kPods, "default", crashPod(name, o.image, dir)); !r) {
        std::fprintf(stderr, "create %s: %s\n", name.c_str(), r.status().message().c_str());
        ok = false;
        break;
      }
      // The first may wait for the agent to finish tearing down the burst.
      bool up = waitUp(std::chrono::seconds(180)).has_value();
      bool running = up && tracker.waitFor(std::chrono::seconds(30), [&](const auto& pods) {
        auto it = pods.find(name);
        return it != pods.end() && it->second.ready != Clock::time_point{};
      });
      if (!running) {
        auto pod = c.get(client::res::kPods, "default", name);
        std::fprintf(stderr, "%s did not start (announced: %d): %s\n", name.c_str(), up,
                     pod ? objectAt(*pod, "status").dump().c_str() : pod.status().message().c_str());
        ok = false;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // its status write is done
      int fd = ::open(ctl.c_str(), O_WRONLY);  // the container waits in open() for a writer
      auto t0 = Clock::now();
      (void)!::write(fd, "x\n", 2);
      ::close(fd);
      auto t1 = waitUp(std::chrono::seconds(30));
      inotify_rm_watch(in, wd);
      if (!t1) {
        std::fprintf(stderr, "%s was not restarted within 30 s\n", name.c_str());
        ok = false;
        break;
      }
      restart.push_back(ms(*t1 - t0));
    }
    ::close(in);
    Summary rs = summarize(restart);
    out["crash_to_restart"] = toJson(rs);
    std::fprintf(stderr, "crash -> restart: p50 %.1f p99 %.1f ms\n", rs.p50, rs.p99);
    (void)deleteGroup(o, c, tracker, "crash", restart.size());
  }
  watch.reset();
  out["ok"] = ok;
  std::printf("%s\n", out.dump(2).c_str());
  return ok ? 0 : 1;
}
