// api_bench: drives a running `capstan server` over HTTPS the way real
// clients do (keep-alive, admin client certificate) and measures creates,
// gets, a large list and watch fan-out, beside floors measured in the same
// run on the same filesystem (fdatasync, SQLite batched durable inserts).
// bench/api/run.sh starts the server and calls this; see docs/performance.md.
//
// The only bench TU with Beast/Asio (heavy to compile). Client model: one
// io_context run by --client-threads threads; every connection lives on its
// own strand and runs one coroutine at a time.
#include <sys/statfs.h>
#include <sys/utsname.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <fmt/format.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "blocking_client.h"
#include "fanout_floor.h"
#include "floors.h"
#include "report.h"
#include "stats.h"
#include "watch_fleet.h"

namespace capstan::bench {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using net::use_awaitable;
template <class T>
using Task = net::awaitable<T>;
using SteadyClock = std::chrono::steady_clock;
using Json = nlohmann::json;

double msBetween(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// ---------------------------------------------------------------- options

struct Options {
  std::string server;  // https://HOST:PORT
  std::string data_dir;
  std::string scratch_dir;
  std::string json_path;
  std::string label;  // what was measured (run.sh: the git revision)
  int server_pid = 0;
  size_t clients = 64;
  size_t warmup = 2000;
  size_t creates = 20000;
  size_t gets = 20000;
  size_t pods = 10000;
  int list_runs = 7;
  size_t watchers = 1000;
  size_t events = 5;
  int client_threads = 1;
  double floor_seconds = 2;
  // Shell commands run just before and after each measured section (not
  // around set-up such as opening connections): profile.sh turns callgrind's
  // instrumentation on and off with them.
  std::string hook_on, hook_off;
  std::vector<std::string> phases = {"floors", "healthz", "creates", "gets", "pods", "list", "watch"};
};

[[noreturn]] void usage(const std::string& why) {
  if (!why.empty()) std::cerr << "api_bench: " << why << "\n";
  (why.empty() ? std::cout : std::cerr)
            << "usage: api_bench --server https://HOST:PORT --data-dir DIR --scratch-dir DIR [--json FILE] [--label TEXT]\n"
               "  [--server-pid PID] [--clients 64] [--warmup 2000] [--creates 20000] [--gets 20000]\n"
               "  [--pods 10000] [--list-runs 7] [--watchers 1000] [--events 5] [--client-threads 1]\n"
               "  [--floor-seconds 2] [--phases floors,healthz,creates,gets,pods,list,watch]\n"
               "  [--hook-on CMD] [--hook-off CMD]   (run around each measured section)\n";
  std::exit(why.empty() ? 0 : 2);
}

Options parseOptions(int argc, char** argv) {
  Options o;
  std::map<std::string, std::function<void(const std::string&)>> flags = {
      {"--server", [&](const std::string& v) { o.server = v; }},
      {"--data-dir", [&](const std::string& v) { o.data_dir = v; }},
      {"--scratch-dir", [&](const std::string& v) { o.scratch_dir = v; }},
      {"--json", [&](const std::string& v) { o.json_path = v; }},
      {"--label", [&](const std::string& v) { o.label = v; }},
      {"--server-pid", [&](const std::string& v) { o.server_pid = std::stoi(v); }},
      {"--clients", [&](const std::string& v) { o.clients = std::stoul(v); }},
      {"--warmup", [&](const std::string& v) { o.warmup = std::stoul(v); }},
      {"--creates", [&](const std::string& v) { o.creates = std::stoul(v); }},
      {"--gets", [&](const std::string& v) { o.gets = std::stoul(v); }},
      {"--pods", [&](const std::string& v) { o.pods = std::stoul(v); }},
      {"--list-runs", [&](const std::string& v) { o.list_runs = std::stoi(v); }},
      {"--watchers", [&](const std::string& v) { o.watchers = std::stoul(v); }},
      {"--events", [&](const std::string& v) { o.events = std::stoul(v); }},
      {"--client-threads", [&](const std::string& v) { o.client_threads = std::max(1, std::stoi(v)); }},
      {"--floor-seconds", [&](const std::string& v) { o.floor_seconds = std::stod(v); }},
      {"--hook-on", [&](const std::string& v) { o.hook_on = v; }},
      {"--hook-off", [&](const std::string& v) { o.hook_off = v; }},
      {"--phases",
       [&](const std::string& v) {
         o.phases.clear();
         size_t start = 0;
         while (start <= v.size()) {
           size_t comma = v.find(',', start);
           if (comma == std::string::npos) comma = v.size();
           if (comma > start) o.phases.push_back(v.substr(start, comma - start));
           start = comma + 1;
         }
       }},
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") usage("");
    auto it = flags.find(a);
    if (it == flags.end()) usage("unknown flag " + a);
    if (i + 1 >= argc) usage(a + " needs a value");
    try {
      it->second(argv[++i]);
    } catch (const std::exception&) {
      usage("bad value for " + a);
    }
  }
  if (o.server.empty() || o.data_dir.empty() || o.scratch_dir.empty()) usage("--server, --data-dir and --scratch-dir are required");
  if (o.clients == 0) usage("--clients must be positive");
  return o;
}

// ---------------------------------------------------------------- client

struct Endpoint {
  std::string host;
  uint16_t port = 0;
};

Endpoint parseUrl(const std::string& url) {
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) throw std::runtime_error("server URL must start with https://: " + url);
  std::string rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  if (slash != std::string::npos) rest = rest.substr(0, slash);
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) return {rest, 443};
  Endpoint ep{rest.substr(0, colon), 0};
  if (!ep.host.empty() && ep.host.front() == '[') ep.host = ep.host.substr(1, ep.host.size() - 2);
  ep.port = static_cast<uint16_t>(std::stoi(rest.substr(colon + 1)));
  return ep;
}

struct Conn {
  Conn(net::any_io_executor ex, ssl::context& ctx) : stream(std::move(ex), ctx) {}
  beast::ssl_stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  net::any_io_executor executor() { return stream.get_executor(); }
};

struct Reply {
  unsigned status = 0;
  std::string body;
};

Task<std::unique_ptr<Conn>> connect(ssl::context& ctx, tcp::endpoint ep) {
  auto c = std::make_unique<Conn>(co_await net::this_coro::executor, ctx);
  // Asio asks OpenSSL to free its record buffers whenever they are empty,
  // which costs a malloc/free of ~17 KiB per record; keep them (the client
  // shares the CPUs with the server it measures).
  SSL_clear_mode(c->stream.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  auto& layer = beast::get_lowest_layer(c->stream);
  layer.expires_after(std::chrono::seconds(30));
  co_await layer.async_connect(ep, use_awaitable);
  layer.socket().set_option(tcp::no_delay(true));
  co_await c->stream.async_handshake(ssl::stream_base::client, use_awaitable);
  layer.expires_never();
  co_return c;
}

http::request<http::string_body> makeRequest(http::verb verb, const std::string& target, std::string body) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "capstan");
  req.set(http::field::user_agent, "capstan-api-bench");
  req.set(http::field::accept, "application/json");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

Task<Reply> call(Conn& c, http::verb verb, const std::string& target, std::string body = {}) {
  auto req = makeRequest(verb, target, std::move(body));
  co_await http::async_write(c.stream, req, use_awaitable);
  http::response_parser<http::string_body> parser;
  parser.body_limit(1ull << 31);
  co_await http::async_read(c.stream, c.buffer, parser, use_awaitable);
  auto res = parser.release();
  co_return Reply{res.result_int(), std::move(res.body())};
}

// Runs `ioc` on `threads` threads (this one included) until it is out of
// work, then readies it for the next phase.
void runPhase(net::io_context& ioc, int threads) {
  std::vector<std::thread> extra;
  for (int i = 1; i < threads; ++i) extra.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : extra) t.join();
  ioc.restart();
}

// Records the first failure of a batch of coroutines.
struct Failures {
  std::mutex mu;
  size_t count = 0;
  std::string first;
  void add(const std::string& what) {
    std::lock_guard lock(mu);
    if (count++ == 0) first = what;
  }
  auto handler() {
    return [this](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        add(ex.what());
      }
    };
  }
};

class Bench {
 public:
  explicit Bench(Options opts) : opts_(std::move(opts)) {}
  int run();

 private:
  struct Req {
    http::verb verb;
    std::string target;
    std::string body;
  };
  using MakeReq = std::function<Req(size_t)>;

  std::vector<std::unique_ptr<Conn>> openConnections(size_t n);
  Reply once(Conn& c, http::verb verb, const std::string& target, std::string body = {});
  LoadFigures load(const std::string& what, size_t total, unsigned expect, const MakeReq& make, bool measured = true);
  void hook(bool on) {
    const std::string& cmd = on ? opts_.hook_on : opts_.hook_off;
    if (!cmd.empty() && std::system(cmd.c_str()) != 0) std::fprintf(stderr, "api_bench: hook failed: %s\n", cmd.c_str());
  }
  Task<void> loadWorker(Conn& c, size_t total, unsigned expect, const MakeReq& make, std::atomic<size_t>& next,
                        std::vector<double>& lat, Failures& failures);
  void waitReady();
  size_t storedSize(const std::string& target);
  void measureFloors();
  void measureList();
  void measureFanout();
  Task<void> fanoutDriver(Conn& c);
  bool has(const std::string& phase) const {
    return std::find(opts_.phases.begin(), opts_.phases.end(), phase) != opts_.phases.end();
  }

  Options opts_;
  Results results_;
  net::io_context ioc_;
  std::unique_ptr<ssl::context> tls_;
  tcp::endpoint endpoint_;
  std::vector<std::unique_ptr<Conn>> clients_;

  // Watch fan-out: the watch streams, and when each event's POST was sent
  // (CLOCK_REALTIME ns, the clock of the kernel's receive timestamps).
  std::unique_ptr<WatchFleet> fleet_;
  std::vector<int64_t> sent_ns_;
  std::vector<double> event_create_ms_;
};

std::vector<std::unique_ptr<Conn>> Bench::openConnections(size_t n) {
  std::vector<std::unique_ptr<Conn>> out(n);
  Failures failures;
  // Connect in waves so the server's accept queue and handshake timeouts are
  // never the thing measured.
  constexpr size_t kWave = 100;
  for (size_t first = 0; first < n; first += kWave) {
    for (size_t i = first; i < std::min(n, first + kWave); ++i) {
      net::co_spawn(
          net::make_strand(ioc_),
          [this, &out, i]() -> Task<void> { out[i] = co_await connect(*tls_, endpoint_); }, failures.handler());
    }
    runPhase(ioc_, opts_.client_threads);
  }
  if (failures.count) throw std::runtime_error(fmt::format("{} of {} connections failed: {}", failures.count, n, failures.first));
  return out;
}

Reply Bench::once(Conn& c, http::verb verb, const std::string& target, std::string body) {
  Reply out;
  Failures failures;
  net::co_spawn(
      c.executor(),
      [&]() -> Task<void> { out = co_await call(c, verb, target, std::move(body)); }, failures.handler());
  runPhase(ioc_, 1);
  if (failures.count) throw std::runtime_error(fmt::format("{} {}: {}", std::string(http::to_string(verb)), target, failures.first));
  return out;
}

Task<void> Bench::loadWorker(Conn& c, size_t total, unsigned expect, const MakeReq& make, std::atomic<size_t>& next,
                             std::vector<double>& lat, Failures& failures) {
  for (;;) {
    size_t i = next.fetch_add(1);
    if (i >= total) co_return;
    Req r = make(i);
    auto t0 = SteadyClock::now();
    Reply rep = co_await call(c, r.verb, r.target, std::move(r.body));
    lat.push_back(msBetween(t0, SteadyClock::now()));
    if (rep.status != expect) failures.add(fmt::format("{} {} -> {}: {}", std::string(http::to_string(r.verb)), r.target, rep.status, rep.body.substr(0, 300)));
  }
}

LoadFigures Bench::load(const std::string& what, size_t total, unsigned expect, const MakeReq& make, bool measured) {
  std::atomic<size_t> next{0};
  std::vector<std::vector<double>> lats(clients_.size());
  for (auto& l : lats) l.reserve(total / clients_.size() + 1);
  Failures failures, broken;
  double server_cpu0 = opts_.server_pid ? cpuSeconds(opts_.server_pid) : 0, client_cpu0 = cpuSeconds(0);
  if (measured) hook(true);
  double busy0 = machineBusySeconds();
  auto t0 = SteadyClock::now();
  for (size_t k = 0; k < clients_.size(); ++k)
    net::co_spawn(clients_[k]->executor(), loadWorker(*clients_[k], total, expect, make, next, lats[k], failures),
                  broken.handler());
  runPhase(ioc_, opts_.client_threads);
  LoadFigures f;
  f.seconds = msBetween(t0, SteadyClock::now()) / 1000;
  if (measured) hook(false);
  f.server_cpu_s = opts_.server_pid ? cpuSeconds(opts_.server_pid) - server_cpu0 : 0;
  f.client_cpu_s = cpuSeconds(0) - client_cpu0;
  f.other_cpu_s = std::max(0.0, machineBusySeconds() - busy0 - f.server_cpu_s - f.client_cpu_s);
  if (broken.count) throw std::runtime_error(what + ": connection failed: " + broken.first);
  std::vector<double> all;
  all.reserve(total);
  for (auto& l : lats) all.insert(all.end(), l.begin(), l.end());
  f.what = what;
  f.clients = clients_.size();
  f.requests = all.size();
  f.errors = failures.count;
  f.first_error = failures.first;
  f.per_s = static_cast<double>(f.requests) / f.seconds;
  f.ms = summarize(std::move(all));
  std::fprintf(stderr, "  %-34s %8.0f/s  p50 %6.2f ms  p99 %6.2f ms  errors %zu  other CPU %.0f%%\n", what.c_str(),
               f.per_s, f.ms.p50, f.ms.p99, f.errors, 100 * f.other_cpu_s / f.seconds);
  if (f.errors) std::fprintf(stderr, "    first error: %s\n", f.first_error.c_str());
  return f;
}

void Bench::waitReady() {
  auto deadline = SteadyClock::now() + std::chrono::seconds(60);
  for (;;) {
    try {
      auto c = openConnections(1);
      if (once(*c[0], http::verb::get, "/readyz").status == 200) return;
    } catch (const std::exception& e) {
      if (SteadyClock::now() > deadline) throw std::runtime_error(std::string("server not ready: ") + e.what());
    }
    if (SteadyClock::now() > deadline) throw std::runtime_error("server not ready");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Size of an object as the store holds it (the GET body, less the
// resourceVersion the cache adds): the row size the floors write.
size_t Bench::storedSize(const std::string& target) {
  Reply r = once(*clients_[0], http::verb::get, target);
  if (r.status != 200) throw std::runtime_error("GET " + target + " -> " + std::to_string(r.status) + ": " + r.body);
  return r.body.size();
}

// ---------------------------------------------------------------- bodies

std::string configMapBody(const std::string& ns, const std::string& name) {
  return fmt::format(
      R"({{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{}","namespace":"{}","labels":{{"app":"bench-web","tier":"frontend"}},)"
      R"("annotations":{{"owner":"team-web"}}}},"data":{{"app.properties":"server.port=8080\nlog.level=info\ncache.ttl=30s\n",)"
      R"("feature-flags":"checkout=true,search-v2=false"}}}})",
      name, ns);
}

std::string podBody(const std::string& name) {
  return fmt::format(
      R"({{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{}","namespace":"default","labels":{{"app":"bench-web","pod-template-hash":"7d9f8c6b5"}}}},)"
      R"("spec":{{"containers":[{{"name":"web","image":"nginx:1.25","ports":[{{"containerPort":80,"protocol":"TCP"}}],)"
      R"("env":[{{"name":"MODE","value":"production"}}],)"
      R"("resources":{{"requests":{{"cpu":"100m","memory":"64Mi"}},"limits":{{"memory":"128Mi"}}}},)"
      R"("readinessProbe":{{"httpGet":{{"path":"/healthz","port":80}},"periodSeconds":5}}}}],"restartPolicy":"Always"}}}})",
      name);
}

std::string seqName(const char* prefix, size_t i) { return fmt::format("{}-{:06}", prefix, i); }

// ---------------------------------------------------------------- phases

void Bench::measureFloors() {
  std::fprintf(stderr, "floors in %s (row %zu B)\n", opts_.scratch_dir.c_str(), results_.configmap_row_bytes);
  double s = opts_.floor_seconds;
  results_.fsync = measureFdatasync(opts_.scratch_dir, s);
  std::fprintf(stderr, "  write 4 KiB + fdatasync           p50 %.3f ms  p99 %.3f ms\n", results_.fsync.latency_ms.p50,
               results_.fsync.latency_ms.p99);
  size_t row = results_.configmap_row_bytes;
  results_.sqlite_single = measureSqliteInserts(opts_.scratch_dir, 1, row, s);
  results_.sqlite_clients = measureSqliteInserts(opts_.scratch_dir, opts_.clients, row, s);
  results_.sqlite_large = measureSqliteInserts(opts_.scratch_dir, 1024, row, s);
  for (auto* f : {&results_.sqlite_single, &results_.sqlite_clients, &results_.sqlite_large})
    std::fprintf(stderr, "  SQLite durable insert, batch %-5zu %8.0f rows/s  commit p50 %.3f ms  p99 %.3f ms\n",
                 f->batch, f->rows_per_s, f->commit_ms.p50, f->commit_ms.p99);
}

void Bench::measureList() {
  const std::string target = "/api/v1/namespaces/default/pods";
  ListFigures& f = results_.list;
  if (!results_.pod_row_bytes) results_.pod_row_bytes = storedSize(target + "/" + seqName("bench-pod", 0));
  // The figure: a lean blocking client (see blocking_client.h), so that the
  // time is the server's and the transfer's, not the Asio client's.
  std::string tls_dir = opts_.data_dir + "/tls/";
  BlockingClient lean(endpoint_.address().to_string(), endpoint_.port(), tls_dir + "ca.crt", tls_dir + "admin.crt",
                      tls_dir + "admin.key");
  auto check = lean.get(target);  // untimed: count the items, warm the buffers
  if (check.status != 200) throw std::runtime_error("list pods -> " + std::to_string(check.status));
  f.items = Json::parse(lean.body())["items"].size();
  f.bytes = check.body_bytes;
  double server_cpu0 = opts_.server_pid ? cpuSeconds(opts_.server_pid) : 0, client_cpu0 = cpuSeconds(0);
  hook(true);
  std::vector<double> first_byte;
  for (int i = 0; i < opts_.list_runs; ++i) {
    auto t = lean.get(target);
    if (t.status != 200) throw std::runtime_error("list pods -> " + std::to_string(t.status));
    f.runs_ms.push_back(t.total_ms);
    first_byte.push_back(t.header_ms);
  }
  hook(false);
  f.server_cpu_ms = (opts_.server_pid ? cpuSeconds(opts_.server_pid) - server_cpu0 : 0) * 1000 / opts_.list_runs;
  f.client_cpu_ms = (cpuSeconds(0) - client_cpu0) * 1000 / opts_.list_runs;
  f.median_ms = median(f.runs_ms);
  f.first_byte_ms = median(first_byte);

  // For comparison, the same list read by the Asio/Beast client.
  std::vector<double> asio_runs;
  for (int i = 0; i < opts_.list_runs; ++i) {
    auto t0 = SteadyClock::now();
    Reply x = once(*clients_[0], http::verb::get, target);
    asio_runs.push_back(msBetween(t0, SteadyClock::now()));
    if (x.status != 200) throw std::runtime_error("list pods -> " + std::to_string(x.status));
  }
  f.asio_client_median_ms = median(asio_runs);
  std::fprintf(stderr,
               "  list of %zu pods (%.1f MB)          median %.1f ms (headers after %.1f ms; CPU per list: server %.1f ms, "
               "client %.1f ms; Asio client %.1f ms)\n",
               f.items, static_cast<double>(f.bytes) / 1e6, f.median_ms, f.first_byte_ms, f.server_cpu_ms, f.client_cpu_ms,
               f.asio_client_median_ms);
}

// Creates the events one at a time, each after every watcher saw the one
// before (or a timeout), then lets the phase end.
Task<void> Bench::fanoutDriver(Conn& c) {
  auto ex = co_await net::this_coro::executor;
  net::steady_timer timer(ex);
  auto sleep = [&](std::chrono::milliseconds d) -> Task<void> {
    timer.expires_after(d);
    co_await timer.async_wait(use_awaitable);
  };
  // The server registers a watch just after it writes the response headers
  // (which the fleet waited for); a late one would still replay the event.
  co_await sleep(std::chrono::milliseconds(300));
  for (size_t k = 0; k < sent_ns_.size(); ++k) {
    sent_ns_[k] = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
    auto t0 = SteadyClock::now();
    Reply r = co_await call(c, http::verb::post, "/api/v1/namespaces/bench-watch/configmaps",
                            configMapBody("bench-watch", seqName("bench-ev", k)));
    event_create_ms_.push_back(msBetween(t0, SteadyClock::now()));
    if (r.status != 201) throw std::runtime_error("fan-out create -> " + std::to_string(r.status) + ": " + r.body);
    auto until = SteadyClock::now() + std::chrono::seconds(10);
    while (fleet_->received(k) < fleet_->watchers() && SteadyClock::now() < until)
      co_await sleep(std::chrono::milliseconds(2));
    co_await sleep(std::chrono::milliseconds(200));
  }
}

void Bench::measureFanout() {
  FanoutFigures& f = results_.fanout;
  f.watchers = opts_.watchers;
  f.events = opts_.events;
  Reply list = once(*clients_[0], http::verb::get, "/api/v1/namespaces/bench-watch/configmaps");
  if (list.status != 200) throw std::runtime_error("list bench-watch -> " + std::to_string(list.status));
  std::string rv = Json::parse(list.body)["metadata"]["resourceVersion"].get<std::string>();

  size_t total_events = opts_.events + 1;  // event 0 warms up
  std::string tls_dir = opts_.data_dir + "/tls/";
  auto t0 = SteadyClock::now();
  fleet_ = std::make_unique<WatchFleet>(WatchFleetOptions{
      endpoint_.address().to_string(), endpoint_.port(), tls_dir + "ca.crt", tls_dir + "admin.crt",
      tls_dir + "admin.key", "/api/v1/namespaces/bench-watch/configmaps?watch=true&resourceVersion=" + rv,
      opts_.watchers, total_events});
  f.connect_s = msBetween(t0, SteadyClock::now()) / 1000;
  f.kernel_timestamps = fleet_->kernelTimestamps();
  sent_ns_.assign(total_events, 0);

  Failures driver_failed;
  double server_cpu0 = opts_.server_pid ? cpuSeconds(opts_.server_pid) : 0, client_cpu0 = cpuSeconds(0);
  hook(true);
  fleet_->start();
  net::co_spawn(clients_[0]->executor(), fanoutDriver(*clients_[0]), driver_failed.handler());
  runPhase(ioc_, opts_.client_threads);
  fleet_->stop();
  hook(false);
  f.server_cpu_s = opts_.server_pid ? cpuSeconds(opts_.server_pid) - server_cpu0 : 0;
  f.client_cpu_s = cpuSeconds(0) - client_cpu0;
  if (driver_failed.count) throw std::runtime_error(driver_failed.first);

  std::vector<double> pooled, read, spread, first_arrivals;
  for (size_t k = 1; k < total_events; ++k) {
    std::vector<double> got;
    for (size_t w = 0; w < fleet_->watchers(); ++w) {
      if (!fleet_->readNs(k, w)) {
        ++f.missed;
        continue;
      }
      got.push_back(static_cast<double>(fleet_->kernelNs(k, w) - sent_ns_[k]) / 1e6);
      read.push_back(static_cast<double>(fleet_->readNs(k, w) - sent_ns_[k]) / 1e6);
    }
    if (got.empty()) continue;
    double first = *std::min_element(got.begin(), got.end());
    first_arrivals.push_back(first);
    for (double a : got) spread.push_back(a - first);
    pooled.insert(pooled.end(), got.begin(), got.end());
    f.per_event.push_back(summarize(got));
  }
  fleet_.reset();
  f.delivery_ms = summarize(pooled);
  f.read_ms = summarize(read);
  f.spread_ms = summarize(spread);
  f.first_ms = summarize(first_arrivals);
  f.create_ms = summarize(std::vector<double>(event_create_ms_.begin() + 1, event_create_ms_.end()));
  std::fprintf(stderr,
               "  one event to %zu watchers (x%zu)     p50 %.2f ms  p99 %.2f ms at the socket; read by the client p50 %.2f "
               "p99 %.2f ms; missed %zu\n",
               f.watchers, f.events, f.delivery_ms.p50, f.delivery_ms.p99, f.read_ms.p50, f.read_ms.p99, f.missed);
}

Machine describeMachine(const std::string& data_dir) {
  Machine m;
  m.cpus = std::thread::hardware_concurrency();
  utsname u{};
  if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      m.cpu_model = line.substr(line.find(':') + 2);
      break;
    }
  }
  struct statfs sf {};
  if (statfs(data_dir.c_str(), &sf) == 0) {
    switch (static_cast<unsigned long>(sf.f_type)) {
      case 0xEF53: m.data_fs = "ext4"; break;
      case 0x58465342: m.data_fs = "xfs"; break;
      case 0x9123683E: m.data_fs = "btrfs"; break;
      case 0x01021994: m.data_fs = "tmpfs (fsync is free: floors are meaningless)"; break;
      case 0x794c7630: m.data_fs = "overlayfs"; break;
      default: m.data_fs = fmt::format("fs type 0x{:x}", static_cast<unsigned long>(sf.f_type));
    }
  }
  return m;
}

int Bench::run() {
  auto ep = parseUrl(opts_.server);
  endpoint_ = tcp::endpoint(net::ip::make_address(ep.host), ep.port);
  tls_ = std::make_unique<ssl::context>(ssl::context::tls_client);
  std::string tls_dir = opts_.data_dir + "/tls/";
  tls_->load_verify_file(tls_dir + "ca.crt");
  tls_->use_certificate_file(tls_dir + "admin.crt", ssl::context::pem);
  tls_->use_private_key_file(tls_dir + "admin.key", ssl::context::pem);
  tls_->set_verify_mode(ssl::verify_peer);

  results_.machine = describeMachine(opts_.data_dir);
  results_.server_url = opts_.server;
  results_.label = opts_.label;
  results_.phases_run = opts_.phases;
  waitReady();
  // How busy is the machine without us? Other work skews every figure.
  {
    double server0 = opts_.server_pid ? cpuSeconds(opts_.server_pid) : 0, busy0 = machineBusySeconds();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    double other = machineBusySeconds() - busy0 - (opts_.server_pid ? cpuSeconds(opts_.server_pid) - server0 : 0);
    results_.idle_before = std::clamp(1 - other / (0.5 * results_.machine.cpus), 0.0, 1.0);
    if (results_.idle_before < 0.9)
      std::fprintf(stderr, "api_bench: warning: the machine is only %.0f%% idle before the run; figures will be low\n",
                   100 * results_.idle_before);
  }
  auto run_start = SteadyClock::now();
  double run_busy0 = machineBusySeconds(), run_server0 = opts_.server_pid ? cpuSeconds(opts_.server_pid) : 0,
         run_client0 = cpuSeconds(0);
  clients_ = openConnections(opts_.clients);
  std::fprintf(stderr, "api_bench: %zu clients, %d client thread(s), server %s\n", clients_.size(),
               opts_.client_threads, opts_.server.c_str());

  const std::string cms = "/api/v1/namespaces/default/configmaps";
  const std::string pods = "/api/v1/namespaces/default/pods";
  // Warm-up creates (not measured): connections, allocators, the WAL. A
  // second run against the same server (profiling) passes --warmup 0.
  if (opts_.warmup > 0) {
    load("warm-up creates", opts_.warmup, 201,
         [&](size_t i) { return Req{http::verb::post, cms, configMapBody("default", seqName("bench-warm", i))}; },
         false);
    results_.configmap_row_bytes = storedSize(cms + "/" + seqName("bench-warm", 0));
  } else if (has("floors")) {
    usage("the floors need the row size from the warm-up creates: --warmup > 0");
  }
  {
    Reply ns = once(*clients_[0], http::verb::post, "/api/v1/namespaces",
                    R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench-watch"}})");
    if (ns.status != 201 && ns.status != 409) throw std::runtime_error("create namespace bench-watch -> " + std::to_string(ns.status));
  }

  if (has("floors")) measureFloors();
  if (has("healthz"))
    results_.healthz = load("GET /healthz (front-end floor)", opts_.gets, 200,
                            [](size_t) { return Req{http::verb::get, "/healthz", {}}; });
  if (has("creates"))
    results_.creates = load("create configmap", opts_.creates, 201, [&](size_t i) {
      return Req{http::verb::post, cms, configMapBody("default", seqName("bench-cm", i))};
    });
  if (has("gets")) {
    // Spread over what exists: the measured creates, or the warm-up ones.
    bool created = has("creates") || opts_.warmup == 0;
    size_t n = created ? opts_.creates : opts_.warmup;
    results_.gets = load("get configmap", opts_.gets, 200, [&, n, created](size_t i) {
      return Req{http::verb::get, cms + "/" + seqName(created ? "bench-cm" : "bench-warm", (i * 7919) % n), {}};
    });
  }
  if (has("pods")) {
    results_.pod_creates = load("create pod", opts_.pods, 201,
                                [&](size_t i) { return Req{http::verb::post, pods, podBody(seqName("bench-pod", i))}; });
    results_.pod_row_bytes = storedSize(pods + "/" + seqName("bench-pod", 0));
  }
  if (has("list")) measureList();
  if (has("watch")) measureFanout();
  if (has("watch") && has("floors")) {
    // The event line: the stored object plus its resourceVersion and the
    // {"type":"ADDED","object":...} envelope.
    results_.fanout_floor = measureFanoutFloor(opts_.data_dir + "/tls/", opts_.watchers, opts_.events,
                                               results_.configmap_row_bytes + 60);
    std::fprintf(stderr, "  ideal TLS fan-out to %zu watchers      p50 %.2f ms  p99 %.2f ms at the socket (one thread wrote all in %.2f ms)\n",
                 opts_.watchers, results_.fanout_floor.delivery_ms.p50, results_.fanout_floor.delivery_ms.p99,
                 results_.fanout_floor.write_all_ms);
  }
  if (has("list") && has("floors")) {
    results_.tls_transfer = measureTlsTransfer(opts_.data_dir + "/tls/", results_.list.bytes, opts_.list_runs);
    std::fprintf(stderr, "  TLS loopback transfer of %.1f MB      median %.1f ms\n",
                 static_cast<double>(results_.tls_transfer.bytes) / 1e6, results_.tls_transfer.median_ms);
    results_.sqlite_scan = measureSqliteScan(opts_.scratch_dir, results_.list.items, results_.pod_row_bytes, opts_.list_runs);
    std::fprintf(stderr, "  SQLite range read of %zu pod rows    median %.1f ms\n", results_.sqlite_scan.rows,
                 results_.sqlite_scan.median_ms);
  }
  clients_.clear();
  results_.seconds = msBetween(run_start, SteadyClock::now()) / 1000;
  results_.other_cpu_s = std::max(0.0, machineBusySeconds() - run_busy0 -
                                           (opts_.server_pid ? cpuSeconds(opts_.server_pid) - run_server0 : 0) -
                                           (cpuSeconds(0) - run_client0));

  printTable(results_, stdout);
  if (!opts_.json_path.empty()) {
    std::ofstream out(opts_.json_path);
    out << toJson(results_).dump(2) << "\n";
    if (!out) throw std::runtime_error("cannot write " + opts_.json_path);
    std::fprintf(stderr, "api_bench: wrote %s\n", opts_.json_path.c_str());
  }
  bool errors = results_.creates.errors || results_.gets.errors || results_.pod_creates.errors ||
                results_.healthz.errors || results_.fanout.missed;
  return errors ? 1 : 0;
}

}  // namespace
}  // namespace capstan::bench

int main(int argc, char** argv) {
  auto opts = capstan::bench::parseOptions(argc, argv);
  try {
    capstan::bench::Bench bench(std::move(opts));
    return bench.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "api_bench: %s\n", e.what());
    return 1;
  }
}
