// scheduler_bench: scheduling throughput of a running `capstan server`, as
// Kubernetes' scheduler_perf measures it. Nodes are API objects only (no
// agents); pods with resource requests are created at full speed and the
// clock runs until the scheduler has bound every one (seen through a
// watch). The floor, measured in the same run: the same number of pods
// bound by this client itself through pods/binding with the same
// concurrency, i.e. what the API alone allows. Reports pods/s and the ratio.
//
// usage: scheduler_bench --server URL --ca FILE --token T [--nodes 5000]
//        [--pods 10000] [--inflight 64] [--mode plain|spread|antiaffinity]
//        [--automount true: pods with the service-account token volume]
//        [--server-pid PID: also report the server's CPU seconds in the measured window]
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

#include <sys/resource.h>
#include <unistd.h>

#include "client/client.h"
#include "client/https_transport.h"

using namespace capstan;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string server, ca, token, mode = "plain";
  int nodes = 5000, pods = 10000, inflight = 64, server_pid = 0;
};

// Runs `n` calls, at most `inflight` at once; returns the seconds taken.
double runAll(const client::Client& c, int n, int inflight, const std::function<client::HttpCall(int)>& make) {
  std::mutex mu;
  std::condition_variable cv;
  int next = 0, running = 0, failed = 0;
  std::string first_error;
  auto start = Clock::now();
  std::function<void()> launch;
  launch = [&] {
    // Called with mu held.
    while (running < inflight && next < n) {
      int i = next++;
      ++running;
      // The answers' bodies are not parsed: the bench's own CPU would come off the server's.
      c.sendAsync(make(i), [&](Status r) {
        std::lock_guard lock(mu);
        --running;
        if (!r.ok()) {
          ++failed;
          if (first_error.empty()) first_error = r.message();
        }
        launch();
        cv.notify_all();
      });
    }
  };
  std::unique_lock lock(mu);
  launch();
  cv.wait(lock, [&] { return next == n && running == 0; });
  if (failed) std::fprintf(stderr, "%d of %d calls failed, first: %s\n", failed, n, first_error.c_str());
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Json node(int i) {
  Json cap = {{"cpu", "4"}, {"memory", "16Gi"}, {"pods", "110"}};
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", fmt::format("bench-node-{}", i)},
                        {"labels", {{"kubernetes.io/hostname", fmt::format("bench-node-{}", i)},
                                    {"topology.kubernetes.io/zone", fmt::format("zone-{}", i % 3)}}}}},
          {"status", {{"capacity", cap},
                      {"allocatable", cap},
                      {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
}

bool g_automount = false;  // --automount true: pods with the token volume

Json pod(const std::string& name, const std::string& group, const std::string& scheduler, const std::string& mode) {
  // No service-account token volume: Kubernetes' scheduler_perf runs its
  // API server without ServiceAccount admission, so its pods have none.
  // (With it, each pod carries a projected volume: see docs/performance.md.)
  Json spec = {{"schedulerName", scheduler},
               {"automountServiceAccountToken", g_automount},
               {"containers", Json::array({{{"name", "c"},
                                            {"image", "bench"},
                                            {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}}}}})}};
  Json selector = {{"matchLabels", {{"group", group}}}};
  if (mode == "spread")
    spec["topologySpreadConstraints"] = Json::array({{{"maxSkew", 1},
                                                      {"topologyKey", "topology.kubernetes.io/zone"},
                                                      {"whenUnsatisfiable", "DoNotSchedule"},
                                                      {"labelSelector", selector}}});
  if (mode == "antiaffinity")
    spec["affinity"] = {{"podAntiAffinity",
                         {{"preferredDuringSchedulingIgnoredDuringExecution",
                           Json::array({{{"weight", 100},
                                         {"podAffinityTerm",
                                          {{"topologyKey", "kubernetes.io/hostname"}, {"labelSelector", selector}}}}})}}}};
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"group", group}}}}},
          {"spec", spec}};
}

client::HttpCall post(const client::ResourceRef& r, const std::string& ns, const Json& body,
                      const std::string& name = "", const std::string& sub = "") {
  std::string path = r.path(ns, name);
  if (!sub.empty()) path += "/" + sub;
  return {.method = "POST", .path = path, .body = body.dump()};
}

// CPU seconds (user + system) this process has used so far.
double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// CPU seconds a process has used so far (utime + stime from /proc), or 0.
double cpuSecondsOf(int pid) {
  if (pid <= 0) return 0;
  std::FILE* f = std::fopen(fmt::format("/proc/{}/stat", pid).c_str(), "r");
  if (!f) return 0;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
  const char* p = std::strrchr(buf, ')');
  unsigned long long utime = 0, stime = 0;
  if (!p || std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return 0;
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--server") o.server = v;
    else if (k == "--ca") o.ca = v;
    else if (k == "--token") o.token = v;
    else if (k == "--nodes") o.nodes = std::stoi(v);
    else if (k == "--pods") o.pods = std::stoi(v);
    else if (k == "--inflight") o.inflight = std::stoi(v);
    else if (k == "--mode") o.mode = v;
    else if (k == "--server-pid") o.server_pid = std::stoi(v);
    else if (k == "--automount") g_automount = v == "true";
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  auto t = client::makeHttpsTransport({.server = o.server, .ca_file = o.ca, .bearer_token = o.token,
                                       .user_agent = "scheduler-bench", .timeout = std::chrono::minutes(5)});
  if (!t) {
    std::fprintf(stderr, "%s\n", t.status().message().c_str());
    return 1;
  }
  client::Client c(*t, "scheduler-bench");

  double node_s = runAll(c, o.nodes, o.inflight, [&](int i) { return post(client::res::kNodes, "", node(i)); });
  std::fprintf(stderr, "%d nodes created in %.2f s\n", o.nodes, node_s);

  // Floor: pods for no scheduler, bound by this client through pods/binding.
  runAll(c, o.pods, o.inflight, [&](int i) {
    return post(client::res::kPods, "default", pod(fmt::format("floor-{}", i), "floor", "none", o.mode));
  });
  double floor_s = runAll(c, o.pods, o.inflight, [&](int i) {
    Json binding = {{"apiVersion", "v1"}, {"kind", "Binding"}, {"metadata", {{"name", fmt::format("floor-{}", i)}}},
                    {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", fmt::format("bench-node-{}", i % o.nodes)}}}};
    return post(client::res::kPods, "default", binding, fmt::format("floor-{}", i), "binding");
  });
  // Free the floor's resources before the measured run.
  (void)c.call({.method = "DELETE", .path = client::res::kPods.path("default", ""),
                .query = {{"labelSelector", "group=floor"}, {"gracePeriodSeconds", "0"}}});

  // Measured: the scheduler binds pods as fast as they arrive. The line
  // below marks the start for a BENCH_WRAP profiler.
  std::fprintf(stderr, "floor: %.0f bindings/s; measured phase starts\n", o.pods / floor_s);
  std::mutex mu;
  std::condition_variable cv;
  int bound = 0;
  std::set<std::string> seen;
  auto start = Clock::now();
  double cpu_start = cpuSeconds(), server_cpu_start = cpuSecondsOf(o.server_pid);
  Clock::time_point last_bound = start;
  // Only bound pods: a pod enters this watch (as ADDED) when it is bound, so
  // the server encodes and the bench parses one event per pod, not two.
  auto watch = c.watch(client::res::kPods, "default", {.label_selector = "group=sched", .field_selector = "spec.nodeName!="},
                       [&](std::string_view type, client::ObjectPtr obj) {
                         if (type != "MODIFIED" && type != "ADDED") return;
                         if (objectAt(*obj, "spec").value("nodeName", "").empty()) return;
                         std::lock_guard lock(mu);
                         if (!seen.insert(client::nameOf(*obj)).second) return;
                         ++bound;
                         last_bound = Clock::now();
                         cv.notify_all();
                       },
                       [](Status) {});
  double create_s = runAll(c, o.pods, o.inflight, [&](int i) {
    return post(client::res::kPods, "default", pod(fmt::format("sched-{}", i), "sched", "default-scheduler", o.mode));
  });
  {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, std::chrono::minutes(10), [&] { return bound == o.pods; }))
      std::fprintf(stderr, "only %d of %d pods bound\n", bound, o.pods);
  }
  double client_cpu_s = cpuSeconds() - cpu_start, server_cpu_s = cpuSecondsOf(o.server_pid) - server_cpu_start;
  double sched_s = std::chrono::duration<double>(last_bound - start).count();
  double sched_rate = bound / sched_s, floor_rate = o.pods / floor_s;
  std::printf("{\"mode\": \"%s\", \"automount\": %s, \"nodes\": %d, \"pods\": %d, \"created_in_s\": %.2f, \"scheduled_in_s\": %.2f, "
              "\"scheduler_pods_per_s\": %.0f, \"floor_bindings_per_s\": %.0f, \"ratio\": %.3f, \"client_cpu_s\": %.2f, \"server_cpu_s\": %.2f}\n",
              o.mode.c_str(), g_automount ? "true" : "false", o.nodes, bound, create_s, sched_s, sched_rate, floor_rate, sched_rate / floor_rate, client_cpu_s, server_cpu_s);
  return bound == o.pods ? 0 : 1;
}
