// Lifecycle hooks without containers: the labels a container carries, the
// handlers (exec through a scripted runtime, httpGet against loopback
// sockets, sleep), kubelet's messages, and the preStop-then-stop sequence
// with its grace arithmetic on an injected clock.
#include "agent/lifecycle.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace capstan::agent {
namespace {

using namespace std::chrono_literals;

// A runtime that only scripts exec and records exec/stop calls.
class ScriptedRuntime final : public runtime::Runtime {
 public:
  std::vector<std::string> calls;
  runtime::ExecResult exec_result;
  std::chrono::milliseconds stop_grace{-1};

  void setExitHandler(runtime::ExitHandler) override {}
  Result<runtime::ContainerStatus> start(const runtime::ContainerSpec&) override {
    return Status(Code::kInvalid, "scripted");
  }
  Result<runtime::ContainerStatus> stop(const std::string& id, std::chrono::milliseconds grace) override {
    calls.push_back("stop " + id);
    stop_grace = grace;
    runtime::ContainerStatus s;
    s.id = id;
    s.state = runtime::ContainerState::kExited;
    s.exit_code = 143;
    return s;
  }
  Status kill(const std::string&, int) override { return Status::ok(); }
  Result<runtime::ContainerStatus> waitExit(const std::string& id, std::chrono::milliseconds) override {
    return Status(Code::kNotFound, id);
  }
  Status remove(const std::string&) override { return Status::ok(); }
  Result<runtime::ContainerStatus> status(const std::string& id) const override {
    return Status(Code::kNotFound, id);
  }
  std::vector<runtime::ContainerStatus> list() const override { return {}; }
  Result<runtime::ExecResult> exec(const std::string& id, const std::vector<std::string>& argv,
                                   const runtime::ExecOptions&) override {
    std::string line = "exec " + id;
    for (const auto& a : argv) line += " " + a;
    calls.push_back(line);
    return exec_result;
  }
  Result<runtime::ExecProcess> execStreaming(const std::string&, const std::vector<std::string>&,
                                             const runtime::ExecOptions&) override {
    return Status(Code::kInvalid, "scripted");
  }
  Result<runtime::ExecProcess> attach(const std::string&) override { return Status(Code::kInvalid, "scripted"); }
  Result<runtime::ContainerStats> stats(const std::string& id) const override {
    return Status(Code::kNotFound, id);
  }
  std::string version() const override { return "scripted"; }
};

class StepClock final : public Clock {
 public:
  WallTime now() const override { return WallTime{} + (mono_ - std::chrono::steady_clock::time_point{}); }
  std::chrono::steady_clock::time_point monotonic() const override { return mono_; }
  void advance(std::chrono::milliseconds d) { mono_ += d; }

 private:
  std::chrono::steady_clock::time_point mono_{std::chrono::hours(1)};
};

// One HTTP answer per connection on 127.0.0.1 (the request is kept).
class OneShotHttp {
 public:
  explicit OneShotHttp(std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(::listen(fd_, 4), 0);
    thread_ = std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096] = {0};
      ssize_t n = ::recv(c, buf, sizeof buf - 1, 0);
      if (n > 0) request_.assign(buf, static_cast<size_t>(n));
      (void)::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      ::close(c);
    });
  }
  ~OneShotHttp() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }
  const std::string& request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  std::string reply_, request_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

runtime::ContainerStatus runningWith(const Json& container, const std::string& ip) {
  runtime::ContainerStatus c;
  c.id = "uid1_app_0";
  c.state = runtime::ContainerState::kRunning;
  c.labels = {{"io.kubernetes.pod.name", "web"},
              {"io.kubernetes.pod.namespace", "default"},
              {"io.kubernetes.pod.uid", "uid1"},
              {"io.kubernetes.container.name", "app"}};
  for (auto& [k, v] : hookLabels(container, ip)) c.labels[k] = v;
  return c;
}

const Json kPreStopExec = Json::parse(R"({"name": "app", "ports": [{"name": "http", "containerPort": 8080}],
  "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "echo bye"]}}}})");

TEST(LifecycleTest, ContainersCarryTheirPreStopHookInLabels) {
  EXPECT_TRUE(hookLabels(Json::parse(R"({"name": "app"})"), "10.42.0.5").empty());
  EXPECT_TRUE(
      hookLabels(Json::parse(R"({"lifecycle": {"postStart": {"exec": {"command": ["true"]}}}})"), "10.42.0.5")
          .empty());

  auto c = runningWith(kPreStopExec, "10.42.0.5");
  HookTarget t = hookTargetOf(c);
  EXPECT_EQ(t.pod, "web_default(uid1)");
  EXPECT_EQ(t.pod_ip, "10.42.0.5");
  EXPECT_EQ(t.container_id, "uid1_app_0");
  EXPECT_EQ(t.container_name, "app");
  EXPECT_EQ(t.container["ports"][0]["containerPort"], 8080);
  EXPECT_EQ(Json::parse(c.labels.at(kLabelPreStopHandler)), kPreStopExec["lifecycle"]["preStop"]);
}

TEST(LifecycleTest, GraceLeftAfterPreStopIsNeverBelowTwoSeconds) {
  EXPECT_EQ(graceAfterPreStop(30s, 5s), 25s);
  EXPECT_EQ(graceAfterPreStop(3s, 2500ms), 2s);
  EXPECT_EQ(graceAfterPreStop(10s, 40s), 2s);
  EXPECT_EQ(graceAfterPreStop(1s, 0ms), 2s);
}

TEST(LifecycleTest, ExecHookFailureCarriesKubeletsMessages) {
  ScriptedRuntime rt;
  HookTarget t{.pod = "web_default(uid1)", .container_id = "cid", .container_name = "app"};
  Json handler = {{"exec", {{"command", {"sh", "-c", "echo out; echo err >&2; exit 3"}}}}};
  rt.exec_result = {0, "fine\n", ""};
  EXPECT_TRUE(runLifecycleHandler(rt, t, handler, 1s).ok);
  ASSERT_EQ(rt.calls.size(), 1u);
  EXPECT_EQ(rt.calls[0], "exec cid sh -c echo out; echo err >&2; exit 3");

  rt.exec_result = {3, "out\n", "err\n"};
  HookResult r = runLifecycleHandler(rt, t, handler, 1s);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "command 'sh -c echo out; echo err >&2; exit 3' exited with 3: err\n");
  EXPECT_EQ(
      r.message,
      "Exec lifecycle hook ([sh -c echo out; echo err >&2; exit 3]) for Container \"app\" in Pod "
      "\"web_default(uid1)\" failed - error: command 'sh -c echo out; echo err >&2; exit 3' exited with 3: "
      "err\n, message: \"out\\nerr\\n\"");
}

TEST(LifecycleTest, HttpGetHookSucceedsOnAnyResponseAndFailsWithoutOne) {
  ScriptedRuntime rt;
  OneShotHttp server("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  HookTarget t{.pod = "web_default(uid1)", .pod_ip = "127.0.0.1", .container_name = "app"};
  t.container["ports"] = {{{"name", "hook"}, {"containerPort", server.port()}}};
  EXPECT_TRUE(runLifecycleHandler(rt, t, {{"httpGet", {{"path", "/stop"}, {"port", "hook"}}}}, 2s).ok);
  EXPECT_NE(server.request().find("GET /stop HTTP/1.1"), std::string::npos) << server.request();
  EXPECT_NE(server.request().find("User-Agent: kube-lifecycle/"), std::string::npos) << server.request();

  // A port nothing listens on: bound, not listening.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  HookResult r = runLifecycleHandler(rt, t, {{"httpGet", {{"path", "/stop"}, {"port", port}}}}, 2s);
  ::close(fd);
  EXPECT_FALSE(r.ok);
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/stop";
  EXPECT_EQ(r.error.rfind("Get \"" + url + "\": ", 0), 0u) << r.error;
  EXPECT_EQ(r.message.rfind(
                "HTTP lifecycle hook (/stop) for Container \"app\" in Pod \"web_default(uid1)\" failed - "
                "error: Get \"" +
                    url + "\"",
                0),
            0u)
      << r.message;
}

TEST(LifecycleTest, SleepHookSleepsAtMostTheTimeoutAndTcpSocketIsRefused) {
  ScriptedRuntime rt;
  HookTarget t{.pod = "web_default(uid1)", .container_name = "app"};
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(runLifecycleHandler(rt, t, {{"sleep", {{"seconds", 30}}}}, 50ms).ok);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  HookResult r = runLifecycleHandler(rt, t, {{"tcpSocket", {{"port", 80}}}}, 1s);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.message.rfind("Cannot run handler: invalid handler", 0), 0u) << r.message;
  EXPECT_TRUE(rt.calls.empty());
}

TEST(LifecycleTest, PreStopRunsBeforeTheStopAndItsTimeCountsInTheGrace) {
  ScriptedRuntime rt;
  StepClock clock;
  std::vector<std::string> order, warnings;
  std::chrono::milliseconds hook_timeout{0};
  HookRunner hook = [&](const HookTarget& t, const Json& handler, std::chrono::milliseconds timeout) {
    order.push_back("hook " + t.container_id + " " + handler["exec"]["command"][2].get<std::string>());
    hook_timeout = timeout;
    clock.advance(5s);
    return HookResult{false, "command 'sh -c echo bye' exited with 1: ", "long message"};
  };
  auto warn = [&](const std::string& reason, const std::string& message) {
    warnings.push_back(reason + ": " + message);
  };
  auto stopped = stopWithPreStop(rt, runningWith(kPreStopExec, "10.42.0.5"), 30s, hook, clock, warn);
  ASSERT_TRUE(stopped) << stopped.status().message();
  ASSERT_EQ(order.size(), 1u);
  EXPECT_EQ(order[0], "hook uid1_app_0 echo bye");
  EXPECT_EQ(hook_timeout, 30s);
  EXPECT_EQ(rt.calls, std::vector<std::string>{"stop uid1_app_0"});
  EXPECT_EQ(rt.stop_grace, 25s);
  EXPECT_EQ(warnings,
            std::vector<std::string>{"FailedPreStopHook: command 'sh -c echo bye' exited with 1: "});

  // No hook: straight to SIGTERM, with kubelet's 2 s minimum.
  order.clear();
  rt.calls.clear();
  auto plain = runningWith(Json::parse(R"({"name": "app"})"), "10.42.0.5");
  ASSERT_TRUE(stopWithPreStop(rt, plain, 1s, hook, clock, warn));
  EXPECT_TRUE(order.empty());
  EXPECT_EQ(rt.stop_grace, 2s);

  // An exited container runs no hook.
  auto exited = runningWith(kPreStopExec, "10.42.0.5");
  exited.state = runtime::ContainerState::kExited;
  ASSERT_TRUE(stopWithPreStop(rt, exited, 30s, hook, clock, warn));
  EXPECT_TRUE(order.empty());
}

}  // namespace
}  // namespace capstan::agent
