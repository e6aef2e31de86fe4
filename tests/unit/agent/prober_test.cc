// The prober's pieces: threshold counting, the tcpSocket and httpGet
// handlers against real sockets on loopback, and the schedule (startup
// gating, readiness wake-ups, liveness kills) with a scripted runner.
#include "agent/prober.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <thread>

namespace capstan::agent {
namespace {

using namespace std::chrono_literals;

// A listening socket on 127.0.0.1 with an ephemeral port; each accepted
// connection is answered with `reply` (if any) and closed.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::string reply = "") : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(::listen(fd_, 16), 0);
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        if (!reply_.empty()) {
          char buf[4096];
          (void)::recv(c, buf, sizeof buf, 0);  // the request
          request_ = std::string(buf);
          (void)::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        }
        ::close(c);
      }
    });
  }
  ~LoopbackServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  std::string request_;

 private:
  std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// A port nothing listens on: bound but not listening, so connects are refused.
int closedPort(int& fd) {
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

TEST(ProbeCounterTest, FlipsOnlyAfterThresholdsInARow) {
  ProbeCounter c{.success_threshold = 2, .failure_threshold = 3};
  EXPECT_FALSE(c.record(true));
  EXPECT_TRUE(c.record(true));
  EXPECT_TRUE(c.result);
  EXPECT_FALSE(c.record(false));
  EXPECT_FALSE(c.record(false));
  EXPECT_FALSE(c.record(true));  // a success in between resets the failures
  EXPECT_FALSE(c.record(false));
  EXPECT_FALSE(c.record(false));
  EXPECT_TRUE(c.record(false));
  EXPECT_FALSE(c.result);
}

TEST(ProbeHandlerTest, TcpSocketConnectsOrReportsRefusal) {
  LoopbackServer server;
  Json container = {{"ports", {{{"name", "web"}, {"containerPort", server.port()}}}}};
  auto ok = runTcpSocketProbe({{"port", "web"}}, "127.0.0.1", container, 1s);
  EXPECT_TRUE(ok.success) << ok.message;
  int fd;
  int port = closedPort(fd);
  auto refused = runTcpSocketProbe({{"port", port}}, "127.0.0.1", Json::object(), 1s);
  ::close(fd);
  EXPECT_FALSE(refused.success);
  EXPECT_EQ(refused.message, "dial tcp 127.0.0.1:" + std::to_string(port) + ": connect: connection refused");
  EXPECT_FALSE(runTcpSocketProbe({{"port", "missing"}}, "127.0.0.1", container, 1s).success);
}

TEST(ProbeHandlerTest, HttpGetSucceedsBelow400AndSendsKubeletHeaders) {
  LoopbackServer ok("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  auto r = runHttpGetProbe({{"path", "/healthz"}, {"port", ok.port()}, {"httpHeaders", {{{"name", "X-Probe"}, {"value", "1"}}}}},
                           "127.0.0.1", Json::object(), 1s);
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_NE(ok.request_.find("GET /healthz HTTP/1.1"), std::string::npos) << ok.request_;
  EXPECT_NE(ok.request_.find("User-Agent: kube-probe/"), std::string::npos) << ok.request_;
  EXPECT_NE(ok.request_.find("X-Probe: 1"), std::string::npos) << ok.request_;

  LoopbackServer bad("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  auto f = runHttpGetProbe({{"port", bad.port()}}, "127.0.0.1", Json::object(), 1s);
  EXPECT_FALSE(f.success);
  EXPECT_EQ(f.message, "HTTP probe failed with statuscode: 503");

  int fd;
  int port = closedPort(fd);
  auto refused = runHttpGetProbe({{"port", port}}, "127.0.0.1", Json::object(), 1s);
  ::close(fd);
  EXPECT_FALSE(refused.success);
  EXPECT_NE(refused.message.find("Get \"http://127.0.0.1:" + std::to_string(port) + "/\""), std::string::npos)
      << refused.message;
}

// Records what the prober asks of the agent.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> woken, unhealthy, killed;
  template <typename Pred>
  bool waitFor(Pred pred, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, pred);
  }
  Prober::Hooks hooks() {
    return {.wake =
                [this](const std::string& key) {
                  std::lock_guard lock(mu);
                  woken.push_back(key);
                  cv.notify_all();
                },
            .unhealthy =
                [this](const ProbeTarget&, ProbeKind kind, const std::string& message) {
                  std::lock_guard lock(mu);
                  unhealthy.push_back(std::string(probeKindName(kind)) + ": " + message);
                  cv.notify_all();
                },
            .kill =
                [this](const ProbeTarget& t, ProbeKind kind, int64_t grace) {
                  std::lock_guard lock(mu);
                  killed.push_back(t.container_id + " " + probeKindName(kind) + " " + std::to_string(grace));
                  cv.notify_all();
                }};
  }
};

ProbeTarget target(Json container) {
  return {.pod_key = "ns/pod",
          .pod_uid = "uid-1",
          .pod_ip = "10.0.0.1",
          .container_id = "c1",
          .container_name = "app",
          .container = std::move(container),
          .started = std::chrono::steady_clock::now(),
          .termination_grace_seconds = 7};
}

TEST(ProberTest, ReadinessTurnsTrueOnSuccessAndWakesThePod) {
  Recorder rec;
  std::atomic<bool> healthy{true};
  // The first probe may run as soon as ensure() returns: hold it until the
  // "not ready yet" check below has been made.
  std::atomic<bool> checked{false};
  Prober prober(
      [&](const ProbeTarget&, const Json&) {
        while (!checked.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return ProbeOutcome{healthy.load(), "nope"};
      },
      rec.hooks(), SystemClock::instance(), 2);
  prober.ensure(target({{"readinessProbe", {{"exec", {{"command", {"true"}}}}, {"periodSeconds", 1}, {"failureThreshold", 1}}}}));
  EXPECT_FALSE(prober.ready("c1"));  // not ready before the first success
  checked = true;
  ASSERT_TRUE(rec.waitFor([&] { return rec.woken.size() == 1; }));
  EXPECT_TRUE(prober.ready("c1"));
  healthy = false;
  ASSERT_TRUE(rec.waitFor([&] { return rec.woken.size() == 2; }));
  EXPECT_FALSE(prober.ready("c1"));
  EXPECT_TRUE(rec.killed.empty());  // readiness never kills
  EXPECT_EQ(rec.unhealthy.at(0), "Readiness: nope");
  prober.removePod("uid-1");
  EXPECT_TRUE(prober.ready("c1"));  // no longer probed: nothing holds it back
}

TEST(ProberTest, LivenessFailureKillsWithTheProbeGracePeriod) {
  Recorder rec;
  Prober prober([&](const ProbeTarget&, const Json&) { return ProbeOutcome{false, "down"}; }, rec.hooks(),
                SystemClock::instance(), 2);
  prober.ensure(target({{"livenessProbe",
                         {{"tcpSocket", {{"port", 80}}}, {"failureThreshold", 1}, {"terminationGracePeriodSeconds", 3}}}}));
  ASSERT_TRUE(rec.waitFor([&] { return !rec.killed.empty(); }));
  EXPECT_EQ(rec.killed[0], "c1 Liveness 3");
  EXPECT_TRUE(prober.ready("c1"));  // liveness does not gate readiness
}

TEST(ProberTest, StartupProbeGatesReadinessAndKillsAfterFailureThreshold) {
  Recorder rec;
  std::atomic<int> startup_runs{0}, readiness_runs{0};
  Prober prober(
      [&](const ProbeTarget&, const Json& probe) {
        if (probe.contains("exec")) {
          ++startup_runs;
          return ProbeOutcome{false, "not yet"};
        }
        ++readiness_runs;
        return ProbeOutcome{true, ""};
      },
      rec.hooks(), SystemClock::instance(), 2);
  prober.ensure(target({{"startupProbe", {{"exec", {{"command", {"false"}}}}, {"periodSeconds", 1}, {"failureThreshold", 2}}},
                        {"readinessProbe", {{"tcpSocket", {{"port", 80}}}, {"periodSeconds", 1}}}}));
  EXPECT_FALSE(prober.started("c1"));
  ASSERT_TRUE(rec.waitFor([&] { return !rec.killed.empty(); }));
  EXPECT_EQ(rec.killed[0], "c1 Startup 7");  // the pod's grace period
  EXPECT_EQ(startup_runs.load(), 2);
  EXPECT_EQ(readiness_runs.load(), 0);
  EXPECT_FALSE(prober.ready("c1"));
}

}  // namespace
}  // namespace capstan::agent
