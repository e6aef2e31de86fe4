#include "agent/prober.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "common/log.h"

namespace capstan::agent {
namespace {

using namespace std::chrono_literals;

// A probe's port: a number, or the name of one of the container's ports.
int resolvePort(const Json& port, const Json& container) {
  if (port.is_number_integer()) return port.get<int>();
  if (port.is_string()) {
    std::string name = port.get<std::string>();
    for (const auto& p : arrayAt(container, "ports"))
      if (p.value("name", "") == name) return p.value("containerPort", 0);
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) return std::stoi(name);
  }
  return 0;
}

std::chrono::milliseconds timeoutOf(const Json& probe) {
  int64_t s = probe.value("timeoutSeconds", int64_t{1});
  return std::chrono::seconds(s > 0 ? s : 1);
}

// Go's wording of errno (lower case), as kubelet's messages carry it.
std::string goErrno(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

size_t discardBody(char*, size_t size, size_t n, void*) { return size * n; }

ProbeOutcome runExecProbe(runtime::Runtime& rt, const ProbeTarget& t, const Json& exec, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv;
  for (const auto& a : arrayAt(exec, "command"))
    if (a.is_string()) argv.push_back(a.get<std::string>());
  if (argv.empty()) return {false, "exec probe has no command"};
  runtime::ExecOptions opts;
  opts.timeout = timeout;
  auto r = rt.exec(t.container_id, argv, opts);
  if (!r) {
    if (r.status().code() == Code::kTimeout)
      return {false, fmt::format("command timed out after {}s", std::chrono::duration_cast<std::chrono::seconds>(timeout).count())};
    return {false, r.status().message()};
  }
  std::string out = r->out + r->err;
  if (out.size() > 10240) out.resize(10240);  // kubelet keeps at most 10 KiB of output
  return {r->exit_code == 0, out};
}

}  // namespace

const char* probeKindName(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kStartup: return "Startup";
    case ProbeKind::kLiveness: return "Liveness";
    case ProbeKind::kReadiness: return "Readiness";
  }
  return "";
}

bool ProbeCounter::record(bool success) {
  bool before = result;
  if (success) {
    failures = 0;
    if (++successes >= std::max(success_threshold, 1)) result = true;
  } else {
    successes = 0;
    if (++failures >= std::max(failure_threshold, 1)) result = false;
  }
  return before != result;
}

HttpGetResult httpGet(const Json& http_get, const std::string& pod_ip, const Json& container,
                      std::chrono::milliseconds timeout, const std::string& user_agent) {
  static std::once_flag curl_once;
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  HttpGetResult result;
  int port = resolvePort(http_get.contains("port") ? http_get["port"] : Json(), container);
  if (port <= 0 || port > 65535) {
    result.error = "no valid port";
    return result;
  }
  std::string host = http_get.value("host", "");
  if (host.empty()) host = pod_ip;
  std::string scheme = http_get.value("scheme", "HTTP");
  std::string path = http_get.value("path", "/");
  if (path.empty() || path[0] != '/') path = "/" + path;
  result.url = fmt::format("{}://{}:{}{}", scheme == "HTTPS" ? "https" : "http", host, port, path);

  CURL* curl = curl_easy_init();
  if (!curl) {
    result.error = "cannot start an HTTP client";
    return result;
  }
  curl_slist* headers = nullptr;
  bool has_agent = false, has_accept = false;
  for (const auto& h : arrayAt(http_get, "httpHeaders")) {
    std::string name = h.value("name", ""), value = h.value("value", "");
    if (name.empty()) continue;
    if (strcasecmp(name.c_str(), "User-Agent") == 0) has_agent = true;
    if (strcasecmp(name.c_str(), "Accept") == 0) has_accept = true;
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  // kubelet's defaults.
  if (!has_agent) headers = curl_slist_append(headers, ("User-Agent: " + user_agent).c_str());
  if (!has_accept) headers = curl_slist_append(headers, "Accept: */*");
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, result.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);  // as kubelet: probes and hooks do not verify certificates
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discardBody);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    result.code = 0;
    result.error = error[0] ? error : curl_easy_strerror(rc);
  }
  return result;
}

ProbeOutcome runHttpGetProbe(const Json& http_get, const std::string& pod_ip, const Json& container,
                             std::chrono::milliseconds timeout) {
  HttpGetResult r = httpGet(http_get, pod_ip, container, timeout, "kube-probe/1.31");
  if (r.url.empty()) return {false, "httpGet probe has no valid port"};
  if (!r.error.empty()) return {false, fmt::format("Get \"{}\": {}", r.url, r.error)};
  if (r.code >= 200 && r.code < 400) return {true, ""};
  return {false, fmt::format("HTTP probe failed with statuscode: {}", r.code)};
}

ProbeOutcome runTcpSocketProbe(const Json& tcp_socket, const std::string& pod_ip, const Json& container,
                               std::chrono::milliseconds timeout) {
  int port = resolvePort(tcp_socket.contains("port") ? tcp_socket["port"] : Json(), container);
  if (port <= 0 || port > 65535) return {false, "tcpSocket probe has no valid port"};
  std::string host = tcp_socket.value("host", "");
  if (host.empty()) host = pod_ip;
  std::string where = fmt::format("dial tcp {}:{}", host, port);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return {false, where + ": not an IPv4 address"};
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return {false, where + ": " + goErrno(errno)};
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = rc == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n == 0) {
      ::close(fd);
      return {false, where + ": i/o timeout"};
    }
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  }
  ::close(fd);
  if (err != 0) return {false, where + ": connect: " + goErrno(err)};
  return {true, ""};
}

ProbeRunner realProbeRunner(runtime::Runtime& runtime) {
  return [&runtime](const ProbeTarget& t, const Json& probe) -> ProbeOutcome {
    auto timeout = timeoutOf(probe);
    if (probe.contains("exec")) return runExecProbe(runtime, t, probe["exec"], timeout);
    if (probe.contains("httpGet")) return runHttpGetProbe(probe["httpGet"], t.pod_ip, t.container, timeout);
    if (probe.contains("tcpSocket")) return runTcpSocketProbe(probe["tcpSocket"], t.pod_ip, t.container, timeout);
    if (probe.contains("grpc")) return {false, "grpc probes are not supported by this node"};
    return {false, "probe has no handler"};
  };
}

Prober::Prober(ProbeRunner probe_runner, Hooks hooks, const Clock& clock, int threads)
    : run_(std::move(probe_runner)), hooks_(std::move(hooks)), clock_(clock) {
  threads_.emplace_back([this] { scheduler(); });
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { runner(); });
}

Prober::~Prober() { stop(); }

void Prober::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  work_cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void Prober::schedule(const std::string& id, ProbeKind kind, std::chrono::steady_clock::time_point at) {
  due_.insert({at, {id, kind}});
  cv_.notify_all();
}

void Prober::ensure(const ProbeTarget& t) {
  std::lock_guard lock(mu_);
  if (containers_.count(t.container_id)) return;
  by_pod_[t.pod_uid].insert(t.container_id);
  Container c{.target = t};
  auto add = [&](ProbeKind kind, const char* field) {
    const Json& spec = objectAt(t.container, field);
    if (spec.empty()) return false;
    Probe p{.kind = kind, .spec = spec};
    p.counter.success_threshold = static_cast<int>(spec.value("successThreshold", int64_t{1}));
    p.counter.failure_threshold = static_cast<int>(spec.value("failureThreshold", int64_t{3}));
    // Until proven otherwise a container is alive; it is not ready.
    p.counter.result = kind == ProbeKind::kLiveness;
    c.probes.push_back(std::move(p));
    auto delay = std::chrono::seconds(spec.value("initialDelaySeconds", int64_t{0}));
    schedule(t.container_id, kind, std::max(t.started + delay, clock_.monotonic()));
    return true;
  };
  c.has_startup = add(ProbeKind::kStartup, "startupProbe");
  add(ProbeKind::kLiveness, "livenessProbe");
  c.has_readiness = add(ProbeKind::kReadiness, "readinessProbe");
  c.started = !c.has_startup;
  c.ready = !c.has_readiness;
  containers_.emplace(t.container_id, std::move(c));
}

void Prober::retain(const std::string& pod_uid, const std::set<std::string>& running) {
  std::lock_guard lock(mu_);
  auto it = by_pod_.find(pod_uid);
  if (it == by_pod_.end()) return;
  for (auto id = it->second.begin(); id != it->second.end();) {
    if (running.count(*id)) {
      ++id;
      continue;
    }
    containers_.erase(*id);  // its due entries are skipped when they come up
    id = it->second.erase(id);
  }
  if (it->second.empty()) by_pod_.erase(it);
}

bool Prober::ready(const std::string& container_id) const {
  std::lock_guard lock(mu_);
  auto it = containers_.find(container_id);
  return it == containers_.end() ? true : it->second.ready && it->second.started;
}

bool Prober::started(const std::string& container_id) const {
  std::lock_guard lock(mu_);
  auto it = containers_.find(container_id);
  return it == containers_.end() ? true : it->second.started;
}

void Prober::scheduler() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (due_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto first = due_.begin();
    if (first->first > clock_.monotonic()) {
      cv_.wait_until(lock, first->first);
      continue;
    }
    work_.push_back(first->second);
    due_.erase(first);
    work_cv_.notify_one();
  }
}

void Prober::runner() {
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait(lock, [this] { return stopping_ || !work_.empty(); });
    if (stopping_) return;
    auto [id, kind] = work_.back();
    work_.pop_back();
    lock.unlock();
    runOne(id, kind);
    lock.lock();
  }
}

void Prober::runOne(const std::string& id, ProbeKind kind) {
  ProbeTarget target;
  Json spec;
  {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return;  // stopped being probed
    Container& c = it->second;
    Probe* p = nullptr;
    for (auto& q : c.probes)
      if (q.kind == kind) p = &q;
    if (!p || p->done) return;
    auto period = std::chrono::seconds(std::max<int64_t>(p->spec.value("periodSeconds", int64_t{10}), 1));
    // Liveness and readiness wait for the startup probe.
    if (kind != ProbeKind::kStartup && !c.started) {
      schedule(id, kind, clock_.monotonic() + std::min<std::chrono::milliseconds>(period, 1s));
      return;
    }
    target = c.target;
    spec = p->spec;
  }
  ProbeOutcome outcome = run_(target, spec);

  bool wake = false;
  bool kill = false;
  {
    std::lock_guard lock(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return;
    Container& c = it->second;
    Probe* p = nullptr;
    for (auto& q : c.probes)
      if (q.kind == kind) p = &q;
    if (!p || p->done) return;
    bool changed = p->counter.record(outcome.success);
    switch (kind) {
      case ProbeKind::kReadiness:
        if (changed) {
          c.ready = p->counter.result;
          wake = true;
        }
        break;
      case ProbeKind::kStartup:
        if (changed && p->counter.result) {
          c.started = true;
          p->done = true;
          wake = true;
        } else if (p->counter.failures >= p->counter.failure_threshold) {
          p->done = kill = true;
        }
        break;
      case ProbeKind::kLiveness:
        if (!p->counter.result) p->done = kill = true;
        break;
    }
    if (!p->done) {
      auto period = std::chrono::seconds(std::max<int64_t>(spec.value("periodSeconds", int64_t{10}), 1));
      schedule(id, kind, clock_.monotonic() + period);
    }
  }
  if (!outcome.success && hooks_.unhealthy) hooks_.unhealthy(target, kind, outcome.message);
  if (wake && hooks_.wake) hooks_.wake(target.pod_key);
  if (kill && hooks_.kill) {
    int64_t grace = spec.value("terminationGracePeriodSeconds", target.termination_grace_seconds);
    hooks_.kill(target, kind, grace);
  }
}

}  // namespace capstan::agent
