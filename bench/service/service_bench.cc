// service_bench: the service proxy's network programming latency and the
// data path through a ClusterIP, each beside a floor measured in the same
// run. bench/service/run.sh creates the network namespaces and runs the
// phases inside them; this program never creates or deletes a namespace.
//
//   service_bench program [--services 1000] [--endpoints 10] [--big 10000]
//                         [--changes 50] [--rounds 5] [--nft /usr/sbin/nft]
//                         [--shards 8]  (service tables: proxy/rule_generator.h)
//                         [--dir DIR]
//     In the current network namespace: full syncs of --services services
//     x --endpoints endpoints (the proxy's RuleGenerator + libnftables, one
//     transaction, as its sync thread does), then --changes single-service
//     changes with --big services present, applied as the proxy does
//     (element-only changes as one nfnetlink batch, the rest as text) and,
//     for comparison, as text through libnftables. Floor: the same
//     transaction text applied by the `nft -f` command alone. Leaves no
//     table behind.
//
//   service_bench dump [--services 1000] [--endpoints 10]
//     The full sync's nft text on stdout (for `nft -f`, `nft -c`, perf).
//
//   service_bench rules --cluster-ip IP --endpoint IP [--services 1000]
//     Programs a table with a ClusterIP service IP with two tcp ports, 80 ->
//     endpoint:8080 (echo) and 81 -> endpoint:8081 (sink), among --services
//     others, in the current namespace, and exits (the table stays; run.sh
//     deletes the namespace). The client counts as a pod (the cluster CIDR
//     is 10.254.0.0/16): no masquerading, as for pod-to-service traffic.
//
//   service_bench socket-lb --cluster-ip IP --endpoint IP [--services 1000]
//                           [--netns PATH]
//     The agent's socket load balancer (proxy/socket_lb.h) for the services
//     of `rules`, balancing sockets in the namespace PATH (default: this
//     one), until killed (which detaches it).
//
//   service_bench serve
//     One epoll thread: an echo server on :8080 and a sink on :8081 (reads
//     and discards). Runs until killed.
//
//   service_bench compare --target POD_IP --cluster-ip IP [--port-echo 8080]
//                         [--port-sink 8081] [--cluster-port-echo 80]
//                         [--cluster-port-sink 81] [--pairs 12]
//                         [--seconds 1] [--threads 2] [--kinds conns,rr,bulk]
//                         [--label NAME] [--json FILE]
//     The ClusterIP beside the pod IP, in alternating pairs, for three
//     measurements: new connections (connect, 64-byte request, echo, close
//     with RST so that no TIME_WAIT piles up; latency per connection),
//     64-byte round trips on kept-alive connections (latency), and one
//     connection sending to the sink (Gbit/s). Each is reported as the
//     median of its pairs' ratios (ClusterIP / pod IP).
//
// Latencies are nearest-rank percentiles. Output: a table on stdout; with
// --json FILE also appended as one JSON object per line.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/nft_elements.h"
#include "proxy/nftables.h"
#include "proxy/rule_generator.h"
#include "proxy/service_model.h"
#include "proxy/socket_lb.h"

using namespace capstan;
using namespace capstan::proxy;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string phase;
  int services = 1000, endpoints = 10, big = 10000, changes = 50, rounds = 5;
  uint32_t shards = kServiceShards;
  std::string nft = "/usr/sbin/nft", dir = "/tmp", table = "capstan_bench";
  std::string cluster_ip, endpoint, target, json, kinds, label, netns;
  int port_echo = 8080, port_sink = 8081, cluster_port_echo = 80, cluster_port_sink = 81, threads = 2, pairs = 12;
  double seconds = 1;
};

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

void record(const Options& o, const std::string& line) {
  if (o.json.empty()) return;
  std::ofstream(o.json, std::ios::app) << line << "\n";
}

std::string ipOf(uint32_t base, uint32_t n) {
  uint32_t a = base + n;
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

// count services "default/svcN", each with one tcp port (80, node port
// 30000+N below 32768) over `endpoints` endpoints in 10.64.0.0/10.
std::map<std::string, ServiceInfo> makeServices(int count, int endpoints) {
  std::map<std::string, ServiceInfo> out;
  const uint32_t svc_base = (10u << 24) | (43u << 16) | 1, ep_base = (10u << 24) | (64u << 16) | 1;
  for (int s = 0; s < count; ++s) {
    ServiceInfo si;
    si.ns = "default";
    si.name = "svc" + std::to_string(s);
    si.cluster_ip = ipOf(svc_base, s);
    ServicePort sp{"http", "tcp", 80, s < 2768 ? 30000 + s : 0, {}, {}};
    for (int e = 0; e < endpoints; ++e)
      sp.endpoints.push_back({ipOf(ep_base, s * endpoints + e), 8080, e < 3 ? "node-a" : "node-b"});
    si.ports.push_back(sp);
    out["default/" + si.name] = si;
  }
  return out;
}

// The floor: `nft -f FILE` with the same text, fork and exec included.
double nftAlone(const Options& o, const std::string& text) {
  std::string file = o.dir + "/service_bench.nft";
  std::ofstream(file, std::ios::trunc) << text;
  // posix_spawn (vfork-like): a fork would make every page of this
  // process copy-on-write, and the generator's next run would pay for it.
  auto t0 = Clock::now();
  pid_t pid = 0;
  const char* argv[] = {o.nft.c_str(), "-f", file.c_str(), nullptr};
  if (posix_spawn(&pid, o.nft.c_str(), nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
    fmt::print(stderr, "service_bench: cannot run {}\n", o.nft);
    std::exit(1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  double ms = msSince(t0);
  unlink(file.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fmt::print(stderr, "service_bench: {} -f failed (status {})\n", o.nft, status);
    std::exit(1);
  }
  return ms;
}

void check(const Status& st, const char* what) {
  if (st) return;
  fmt::print(stderr, "service_bench: {}: {}\n", what, st.message().substr(0, 2000));
  std::exit(1);
}

int program(const Options& o) {
  auto nft = Nftables::open();
  check(nft.status(), "libnftables");
  auto elements = NftElements::open();
  check(elements.status(), "nfnetlink socket");
  GeneratorOptions go{o.table, "10.64.0.0/10", "node-a"};
  go.shards = o.shards;

  // Full syncs: round 0 creates the table, later rounds replace it, as the
  // proxy's periodic resync does.
  auto services = makeServices(o.services, o.endpoints);
  // Two ways, alternating: the whole text through libnftables in place,
  // and the proxy's way (planFullSync: a dormant table built without its
  // elements, the elements by nfnetlink, then a switch of tables).
  std::vector<double> full, gen, floor_full, switched, switched_gen;
  size_t bytes = 0;
  for (int round = 0; round < o.rounds; ++round) {
    RuleGenerator g(go);
    auto t0 = Clock::now();
    std::string text = g.fullSync(services);
    gen.push_back(msSince(t0));
    check((*nft)->run(text), "full sync");
    full.push_back(msSince(t0));
    bytes = text.size();
    floor_full.push_back(nftAlone(o, text));  // replaces the table again

    // From the table just written to its alternate, which is then
    // deleted (untimed) so that the next round starts as this one did.
    // The plan alone is timed apart (untimed for the sync, which plans
    // beside the skeleton's transaction).
    RuleGenerator s(go);
    t0 = Clock::now();
    s.planFullSync(services, alternateTable(o.table), o.table);
    switched_gen.push_back(msSince(t0));
    t0 = Clock::now();
    FullSyncPlan p;
    check(planAndApplyFullSync(**nft, **elements, s, services, alternateTable(o.table), o.table, p),
          "full sync (switch)");
    switched.push_back(msSince(t0));
    check((*nft)->run(RuleGenerator::deleteTableText(p.table, o.shards)), "delete the alternate");
  }
  fmt::print("full sync, {} services x {} endpoints ({} KiB of nft text), {} rounds:\n", o.services,
             o.endpoints, bytes / 1024, o.rounds);
  fmt::print(
      "  capstan (generate + libnftables)  p50 {:7.1f} ms  min {:7.1f}  max {:7.1f}  (generate p50 {:.1f})\n",
      percentile(full, 50), percentile(full, 0), percentile(full, 100), percentile(gen, 50));
  fmt::print(
      "  capstan (dormant table, elements by nfnetlink, switch: the proxy's way)  p50 {:7.1f} ms  min {:7.1f}  "
      "max {:7.1f}  (generate p50 {:.1f})\n",
      percentile(switched, 50), percentile(switched, 0), percentile(switched, 100), percentile(switched_gen, 50));
  fmt::print("  floor: nft -f, same text          p50 {:7.1f} ms  min {:7.1f}  max {:7.1f}\n",
             percentile(floor_full, 50), percentile(floor_full, 0), percentile(floor_full, 100));
  record(o,
         fmt::format(R"({{"figure":"full_sync","services":{},"endpoints":{},"p50_ms":{:.2f},"max_ms":{:.2f},)"
                     R"("generate_p50_ms":{:.2f},"switch_p50_ms":{:.2f},"switch_max_ms":{:.2f},)"
                     R"("nft_f_p50_ms":{:.2f}}})",
                     o.services, o.endpoints, percentile(full, 50), percentile(full, 100),
                     percentile(gen, 50), percentile(switched, 50), percentile(switched, 100),
                     percentile(floor_full, 50)));

  // One service's change among --big services, two kinds: an endpoint
  // replaced by another address (a rolling update: map elements only), and
  // an endpoint removed or added back (scaling: the service's rule changes
  // too, as its modulus does).
  if (o.big > 0 && o.changes > 0) {
    auto many = makeServices(o.big, o.endpoints);
    RuleGenerator g(go);
    auto t0 = Clock::now();
    check((*nft)->run(g.fullSync(many)), "full sync (big)");
    double big_full = msSince(t0);
    fmt::print(
        "one service's change, {} services present (their full sync took {:.0f} ms), {} changes each:\n",
        o.big, big_full, o.changes);
    const uint32_t moved_base = (10u << 24) | (127u << 16) | 1;
    uint32_t moved = 0;
    for (bool scale : {false, true}) {
      const char* kind = scale ? "endpoint removed/added" : "endpoint replaced";
      std::vector<double> change, text_change, floor_change;
      bool by_text = false;  // some change went as text
      auto next = [&](const std::string& key) {
        ServiceInfo n = many[key];
        auto& eps = n.ports[0].endpoints;
        if (!scale)
          eps.back().ip = ipOf(moved_base, moved++);
        else if (static_cast<int>(eps.size()) == o.endpoints)
          eps.pop_back();
        else
          eps.push_back({ipOf(moved_base, moved++), 8080, "node-b"});
        return n;
      };
      for (int i = 0; i < o.changes; ++i) {
        std::string key = "default/svc" + std::to_string((i * 7919) % o.big);
        // As the proxy does it: one nfnetlink batch when the change has
        // only elements and chains of the common rule shapes, else text
        // through libnftables.
        ServiceInfo n = next(key);
        auto t1 = Clock::now();
        SyncPlan plan = g.plan({{key, &n}});
        Status st = Status(Code::kInvalid, "not by nfnetlink");
        if (plan.elements_only || plan.chains_and_elements)
          st = (*elements)->apply(plan.tables);
        if (st.code() == Code::kInvalid) {
          st = (*nft)->run(plan.text);
          by_text = true;
        }
        check(st, "change");
        change.push_back(msSince(t1));
        many[key] = n;
        // The same kind of change as text through libnftables (how every
        // change went before the nfnetlink path).
        ServiceInfo t = next(key);
        auto t2 = Clock::now();
        check((*nft)->run(g.update({{key, &t}})), "change (text)");
        text_change.push_back(msSince(t2));
        many[key] = t;
        // The floor: the next change of the same kind to the same service,
        // made by nft alone (the generator's kept state follows it).
        ServiceInfo m = next(key);
        floor_change.push_back(nftAlone(o, g.update({{key, &m}})));
        many[key] = m;
      }
      fmt::print("  {}:\n", kind);
      fmt::print("    capstan (as the proxy: {:11})  p50 {:6.2f} ms  p99 {:6.2f}  max {:6.2f}\n",
                 by_text ? "libnftables" : "nfnetlink", percentile(change, 50), percentile(change, 99),
                 percentile(change, 100));
      fmt::print("    capstan, text via libnftables     p50 {:6.2f} ms  p99 {:6.2f}  max {:6.2f}\n",
                 percentile(text_change, 50), percentile(text_change, 99), percentile(text_change, 100));
      fmt::print("    floor: nft -f, same kind          p50 {:6.2f} ms  p99 {:6.2f}  max {:6.2f}\n",
                 percentile(floor_change, 50), percentile(floor_change, 99), percentile(floor_change, 100));
      record(o, fmt::format(R"({{"figure":"one_change","kind":"{}","services":{},"full_sync_ms":{:.1f},)"
                            R"("p50_ms":{:.3f},"p99_ms":{:.3f},"text_p50_ms":{:.3f},"text_p99_ms":{:.3f},)"
                            R"("nft_f_p50_ms":{:.3f},"nft_f_p99_ms":{:.3f}}})",
                            kind, o.big, big_full, percentile(change, 50), percentile(change, 99),
                            percentile(text_change, 50), percentile(text_change, 99),
                            percentile(floor_change, 50), percentile(floor_change, 99)));
    }
  }
  check((*nft)->run(RuleGenerator::deleteTableText(o.table, o.shards)), "delete table");
  return 0;
}

// The data path's services: the target (ports 80 and 81 to the endpoint's
// echo and sink) among --services others.
std::map<std::string, ServiceInfo> dataPathServices(const Options& o) {
  auto services = makeServices(o.services, o.endpoints);
  ServiceInfo si;
  si.ns = "bench";
  si.name = "target";
  si.cluster_ip = o.cluster_ip;
  si.ports.push_back({"echo", "tcp", 80, 0, {{o.endpoint, 8080, "node-a"}}, {}});
  si.ports.push_back({"sink", "tcp", 81, 0, {{o.endpoint, 8081, "node-a"}}, {}});
  services["bench/target"] = si;
  return services;
}

int rules(const Options& o) {
  auto nft = Nftables::open();
  check(nft.status(), "libnftables");
  auto services = dataPathServices(o);
  RuleGenerator g({o.table, "10.254.0.0/16", "node-a"});
  check((*nft)->run(g.fullSync(services)), "rules");
  return 0;
}

// The agent's socket load balancer for the same services, for sockets in
// the namespace --netns (empty: this one), until killed.
int socketLb(const Options& o) {
  auto lb = SocketLoadBalancer::open();
  check(lb.status(), "socket load balancer");
  check((*lb)->addNetns("bench", o.netns), "socket load balancer namespace");
  auto services = dataPathServices(o);
  std::map<std::string, const ServiceInfo*> all;
  for (const auto& [key, info] : services) all[key] = &info;
  auto t0 = Clock::now();
  check((*lb)->update(all, true), "socket load balancer services");
  double first_ms = msSince(t0);
  // What a sync adds to the rules' time: all services again (nothing
  // changed), and one endpoint replaced at a time (as the proxy calls it).
  t0 = Clock::now();
  check((*lb)->update(all, true), "socket load balancer services");
  double again_ms = msSince(t0);
  std::vector<double> one;
  for (int i = 0; i < o.changes; ++i) {
    std::string key = "default/svc" + std::to_string(i % o.services);
    ServiceInfo changed = services.at(key);
    changed.ports[0].endpoints[0].ip = ipOf((10u << 24) | (80u << 16), static_cast<uint32_t>(i + 1));
    services[key] = changed;
    auto t = Clock::now();
    check((*lb)->update({{key, &services.at(key)}}, false), "socket load balancer change");
    one.push_back(msSince(t));
  }
  fmt::print("socket load balancer: {} ClusterIP ports; first load {:.1f} ms, unchanged full update {:.2f} ms, "
             "one endpoint replaced p50 {:.3f} / p99 {:.3f} ms\n",
             (*lb)->servicePorts(), first_ms, again_ms, percentile(one, 50), percentile(one, 99));
  std::fflush(stdout);
  pause();
  return 0;
}

int listenOn(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 4096) != 0) {
    fmt::print(stderr, "service_bench: listen on :{}: {}\n", port, strerror(errno));
    std::exit(1);
  }
  return fd;
}

int serve() {
  int echo = listenOn(8080), sink = listenOn(8081);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  // Tag: the fd in the low bits, bit 32 set for sink connections.
  auto add = [&](int fd, uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  };
  add(echo, static_cast<uint64_t>(echo));
  add(sink, static_cast<uint64_t>(sink));
  std::vector<char> buf(1 << 20);
  std::vector<epoll_event> events(256);
  while (true) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      int fd = static_cast<int>(tag & 0xffffffff);
      if (fd == echo || fd == sink) {
        int c;
        while ((c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          add(c, static_cast<uint64_t>(c) | (fd == sink ? (1ull << 32) : 0));
        }
        continue;
      }
      bool is_sink = tag >> 32;
      ssize_t r = read(fd, buf.data(), is_sink ? buf.size() : 4096);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        close(fd);  // also removes it from the epoll set
        continue;
      }
      if (!is_sink && write(fd, buf.data(), static_cast<size_t>(r)) != r) close(fd);
    }
  }
}

int dialTcp(const std::string& ip, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

const char kMessage[65] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";

bool roundTrip(int fd, const char* msg, size_t len) {
  if (write(fd, msg, len) != static_cast<ssize_t>(len)) return false;
  char in[256];
  size_t got = 0;
  while (got < len) {
    ssize_t r = read(fd, in + got, len - got);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

// Runs `body` on `threads` threads for `seconds`; each call returns its
// latency in ms, or a negative value on failure.
struct Run {
  double per_second = 0, p50 = 0, p99 = 0;
  size_t failures = 0;
};
template <typename Body>
Run runFor(int threads, double seconds, Body body) {
  std::mutex mu;
  std::vector<double> all;
  size_t failures = 0;
  auto end =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      Body b = body;  // each thread its own (connection)
      std::vector<double> mine;
      size_t failed = 0;
      b.setup();
      while (Clock::now() < end) {
        double ms = b();
        if (ms < 0)
          ++failed;
        else
          mine.push_back(ms);
      }
      b.teardown();
      std::lock_guard lock(mu);
      all.insert(all.end(), mine.begin(), mine.end());
      failures += failed;
    });
  for (auto& t : ts) t.join();
  double took = std::chrono::duration<double>(Clock::now() - t0).count();
  return {static_cast<double>(all.size()) / took, percentile(all, 50), percentile(all, 99), failures};
}

// Where the load goes: an address with its echo and sink ports.
struct Target {
  std::string ip;
  int echo, sink;
};

// New connections: connect, one 64-byte round trip, close with RST (no
// TIME_WAIT on either side); latency per connection.
Run measureConnections(const Target& to, int threads, double seconds) {
  struct Connect {
    const Target& to;
    void setup() {}
    void teardown() {}
    double operator()() const {
      auto t = Clock::now();
      int fd = dialTcp(to.ip, to.echo);
      if (fd < 0) return -1;
      bool ok = roundTrip(fd, kMessage, 64);
      linger l{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      close(fd);
      return ok ? msSince(t) : -1;
    }
  };
  return runFor(threads, seconds, Connect{to});
}

// 64-byte round trips on one kept-alive connection per thread.
Run measureRoundTrips(const Target& to, int threads, double seconds) {
  struct Echo {
    const Target& to;
    int fd = -1;
    void setup() { fd = dialTcp(to.ip, to.echo); }
    void teardown() { close(fd); }
    double operator()() const {
      auto t = Clock::now();
      return fd >= 0 && roundTrip(fd, kMessage, 64) ? msSince(t) : -1;
    }
  };
  return runFor(threads, seconds, Echo{to});
}

// One connection writing 256 KiB at a time to the sink; Gbit/s in
// per_second.
Run measureBulk(const Target& to, double seconds) {
  Run out;
  int fd = dialTcp(to.ip, to.sink);
  if (fd < 0) {
    out.failures = 1;
    return out;
  }
  std::vector<char> chunk(256 << 10, 'x');
  uint64_t sent = 0;
  auto t0 = Clock::now();
  auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    ssize_t w = write(fd, chunk.data(), chunk.size());
    if (w <= 0) {
      out.failures = 1;
      break;
    }
    sent += static_cast<uint64_t>(w);
  }
  out.per_second = static_cast<double>(sent) * 8 / 1e9 / std::chrono::duration<double>(Clock::now() - t0).count();
  close(fd);
  return out;
}

// The middle value, or the mean of the two middle ones for an even count
// (the nearest-rank p50 would take the lower one).
double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The ClusterIP beside the pod IP, one measurement kind at a time, in
// --pairs pairs of --seconds each. The order within a pair alternates
// (pod IP first in even pairs), and the figure is the median of the
// pairs' ratios: drift of the machine's speed, which on these shared
// 2-core guests moves figures by 20-40 % within a minute, then hits both
// halves of a pair alike instead of whichever target ran in a slow spell.
int compare(const Options& o) {
  const Target pod{o.target, o.port_echo, o.port_sink};
  const Target cluster{o.cluster_ip, o.cluster_port_echo, o.cluster_port_sink};
  struct Kind {
    const char* key;
    const char* name;
    const char* unit;
    std::function<Run(const Target&)> measure;
  };
  const Kind kinds[] = {
      {"conns", "new connections", "/s", [&](const Target& t) { return measureConnections(t, o.threads, o.seconds); }},
      {"rr", "64 B round trips", "/s", [&](const Target& t) { return measureRoundTrips(t, o.threads, o.seconds); }},
      {"bulk", "bulk, one connection", " Gbit/s", [&](const Target& t) { return measureBulk(t, o.seconds); }},
  };
  size_t failures = 0;
  for (const Kind& k : kinds) {
    if (!o.kinds.empty() && ("," + o.kinds + ",").find("," + std::string(k.key) + ",") == std::string::npos) continue;
    std::vector<double> pod_rate, cluster_rate, ratio, pod_p50, cluster_p50, pod_p99, cluster_p99;
    for (int i = 0; i < o.pairs; ++i) {
      Run a, b;  // a: pod IP, b: ClusterIP
      if (i % 2 == 0) {
        a = k.measure(pod);
        b = k.measure(cluster);
      } else {
        b = k.measure(cluster);
        a = k.measure(pod);
      }
      failures += a.failures + b.failures;
      pod_rate.push_back(a.per_second);
      cluster_rate.push_back(b.per_second);
      ratio.push_back(a.per_second > 0 ? b.per_second / a.per_second : 0);
      pod_p50.push_back(a.p50);
      cluster_p50.push_back(b.p50);
      pod_p99.push_back(a.p99);
      cluster_p99.push_back(b.p99);
    }
    auto [lo, hi] = std::minmax_element(ratio.begin(), ratio.end());
    fmt::print("  {:<22} ClusterIP {:9.2f}{} / pod IP {:9.2f}{}: paired ratio median {:.3f} (pairs {:.3f}-{:.3f})",
               k.name, median(cluster_rate), k.unit, median(pod_rate), k.unit, median(ratio), *lo, *hi);
    if (k.key != std::string("bulk"))
      fmt::print(" | latency p50 {:.3f} / {:.3f} ms, p99 {:.3f} / {:.3f} ms", median(cluster_p50), median(pod_p50),
                 median(cluster_p99), median(pod_p99));
    fmt::print("\n");
    std::string ratios;
    for (double r : ratio) ratios += fmt::format("{}{:.4f}", ratios.empty() ? "" : ",", r);
    record(o, fmt::format(R"({{"figure":"data_path","label":"{}","kind":"{}","pairs":{},"seconds_each":{},"cluster_ip":{:.3f},)"
                          R"("pod_ip":{:.3f},"ratio_median":{:.4f},"ratio_min":{:.4f},"ratio_max":{:.4f},)"
                          R"("ratios":[{}],"cluster_ip_p50_ms":{:.4f},"pod_ip_p50_ms":{:.4f},)"
                          R"("cluster_ip_p99_ms":{:.4f},"pod_ip_p99_ms":{:.4f}}})",
                          o.label, k.key, o.pairs, o.seconds, median(cluster_rate), median(pod_rate), median(ratio), *lo, *hi,
                          ratios, median(cluster_p50), median(pod_p50), median(cluster_p99), median(pod_p99)));
  }
  if (failures) fmt::print("  {} measurements failed\n", failures);
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (argc < 2) {
    fmt::print(stderr, "usage: service_bench program|rules|serve|compare [flags]  (see the source's header)\n");
    return 2;
  }
  o.phase = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "service_bench: {} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--services")
      o.services = std::stoi(value());
    else if (a == "--endpoints")
      o.endpoints = std::stoi(value());
    else if (a == "--big")
      o.big = std::stoi(value());
    else if (a == "--changes")
      o.changes = std::stoi(value());
    else if (a == "--rounds")
      o.rounds = std::stoi(value());
    else if (a == "--shards")
      o.shards = static_cast<uint32_t>(std::stoul(value()));
    else if (a == "--nft")
      o.nft = value();
    else if (a == "--dir")
      o.dir = value();
    else if (a == "--table")
      o.table = value();
    else if (a == "--json")
      o.json = value();
    else if (a == "--cluster-ip")
      o.cluster_ip = value();
    else if (a == "--endpoint")
      o.endpoint = value();
    else if (a == "--target")
      o.target = value();
    else if (a == "--port-echo")
      o.port_echo = std::stoi(value());
    else if (a == "--port-sink")
      o.port_sink = std::stoi(value());
    else if (a == "--seconds")
      o.seconds = std::stod(value());
    else if (a == "--threads")
      o.threads = std::stoi(value());
    else if (a == "--cluster-port-echo")
      o.cluster_port_echo = std::stoi(value());
    else if (a == "--cluster-port-sink")
      o.cluster_port_sink = std::stoi(value());
    else if (a == "--netns")
      o.netns = value();
    else if (a == "--label")
      o.label = value();
    else if (a == "--kinds")
      o.kinds = value();
    else if (a == "--pairs")
      o.pairs = std::stoi(value());
    else {
      fmt::print(stderr, "service_bench: unknown flag {}\n", a);
      return 2;
    }
  }
  if (o.phase == "program") return program(o);
  if (o.phase == "rules") return rules(o);
  if (o.phase == "serve") return serve();
  if (o.phase == "socket-lb") return socketLb(o);
  if (o.phase == "compare") return compare(o);
  if (o.phase == "dump") {  // the full sync's text on stdout, for nft -f and profiling
    RuleGenerator g({o.table, "10.64.0.0/10", "node-a"});
    fmt::print("{}", g.fullSync(makeServices(o.services, o.endpoints)));
    return 0;
  }
  fmt::print(stderr, "service_bench: unknown phase {}\n", o.phase);
  return 2;
}
