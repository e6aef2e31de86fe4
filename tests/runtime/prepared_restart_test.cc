// Restarts made ahead of time (Runtime::prepare), against the real crun:
// the successor is created but not started, hidden from listings, started
// by start() with the same spec, made afresh when the spec changed, and
// removed with its predecessor, by discardPrepared(), or by an agent that
// restarts.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/runtime/process.h"
#include "common/json.h"
#include "runtime/fixture.h"

namespace capstan::agent::testing {
namespace {
using namespace std::chrono_literals;
using runtime::ContainerState;
namespace fs = std::filesystem;

class PreparedRestartTest : public RuntimeFixture {
 protected:
  // Attempt `attempt` of one container: its own id and log file.
  runtime::ContainerSpec attemptSpec(int attempt, std::vector<std::string> args) {
    auto spec = containerSpec("app", std::move(args));
    spec.id = pod_uid_ + "_app_" + std::to_string(attempt);
    spec.log_path = root_ + "/logs/app-" + std::to_string(attempt) + ".log";
    spec.labels["attempt"] = std::to_string(attempt);
    return spec;
  }

  // Attempt `attempt` of a container that says its FOO and sleeps.
  runtime::ContainerSpec sayingSpec(int attempt, const std::string& foo) {
    auto spec = attemptSpec(attempt, {"/bin/sh", "-c", "echo ran $FOO; sleep 3600"});
    spec.env.push_back("FOO=" + foo);
    return spec;
  }

  // crun's view of a container: {status, pid}; status "" when crun has none.
  std::pair<std::string, int> crunState(const std::string& id) {
    auto r = runtime::runProcess({"/usr/bin/crun", "--root", root_ + "/crun", "state", id});
    if (!r || r->exit_code != 0) return {"", 0};
    auto state = parseJson(r->out);
    if (!state) return {"", 0};
    return {state->value("status", ""), state->value("pid", 0)};
  }

  // Waits until crun has created the prepared container; its pid.
  int waitCreated(const std::string& id) {
    for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;) {
      auto [status, pid] = crunState(id);
      if (status == "created") return pid;
      std::this_thread::sleep_for(20ms);
    }
    return 0;
  }

  static std::string readFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  bool waitForLog(const std::string& path, const std::string& text) {
    for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
      if (readFile(path).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  bool listed(const std::string& id) {
    for (const auto& c : runtime_->list())
      if (c.id == id) return true;
    return false;
  }

  std::string bundleDir(const std::string& id) { return root_ + "/state/containers/" + id; }
};

TEST_F(PreparedRestartTest, ThePreparedContainerIsOnlyStarted) {
  auto first = sayingSpec(0, "one");
  ASSERT_TRUE(runtime_->start(first));
  auto next = sayingSpec(1, "one");
  EXPECT_FALSE(runtime_->hasPrepared(first.id));
  runtime_->prepare(first.id, next);
  EXPECT_TRUE(runtime_->hasPrepared(first.id));

  // Created by crun, not started: in no listing, nothing in its log.
  int created_pid = waitCreated(next.id);
  ASSERT_GT(created_pid, 0) << "crun never created the prepared container";
  EXPECT_FALSE(runtime_->status(next.id));
  EXPECT_FALSE(listed(next.id));
  EXPECT_EQ(readFile(next.log_path).find("ran"), std::string::npos);
  // A second prepare for the same container changes nothing.
  runtime_->prepare(first.id, attemptSpec(1, {"/bin/false"}));
  EXPECT_EQ(crunState(next.id).second, created_pid);

  auto stopped = runtime_->stop(first.id, 0ms);
  ASSERT_TRUE(stopped) << stopped.status().message();
  auto started = runtime_->start(next);
  ASSERT_TRUE(started) << started.status().message();
  EXPECT_EQ(started->state, ContainerState::kRunning);
  EXPECT_EQ(started->pid, created_pid);  // the very process crun created ahead
  ASSERT_TRUE(started->started_at);
  EXPECT_TRUE(listed(next.id));
  EXPECT_TRUE(waitForLog(next.log_path, "stdout F ran one")) << readFile(next.log_path);
  EXPECT_EQ(crunState(next.id).first, "running");
  EXPECT_FALSE(fs::exists(bundleDir(next.id) + "/prepared"));

  // From here on an ordinary container: its exit is seen and reported.
  auto s = runtime_->stop(next.id, 0ms);
  ASSERT_TRUE(s) << s.status().message();
  EXPECT_EQ(s->exit_code, 137);
  EXPECT_EQ(s->state, ContainerState::kExited);
}

TEST_F(PreparedRestartTest, AChangedSpecIsStartedAfresh) {
  auto first = sayingSpec(0, "old");
  ASSERT_TRUE(runtime_->start(first));
  auto next = sayingSpec(1, "old");
  runtime_->prepare(first.id, next);
  int created_pid = waitCreated(next.id);
  ASSERT_GT(created_pid, 0);

  // Say a ConfigMap behind FOO changed before the restart.
  next.env.back() = "FOO=new";
  auto started = runtime_->start(next);
  ASSERT_TRUE(started) << started.status().message();
  EXPECT_EQ(started->state, ContainerState::kRunning);
  EXPECT_NE(started->pid, created_pid);
  EXPECT_TRUE(waitForLog(next.log_path, "stdout F ran new")) << readFile(next.log_path);
  EXPECT_EQ(readFile(next.log_path).find("ran old"), std::string::npos);
}

TEST_F(PreparedRestartTest, ThePreparedGoesWithItsPredecessorOrWhenDiscarded) {
  auto first = attemptSpec(0, {"/bin/sleep", "3600"});
  ASSERT_TRUE(runtime_->start(first));
  auto next = attemptSpec(1, first.args);
  runtime_->prepare(first.id, next);
  ASSERT_GT(waitCreated(next.id), 0);
  ASSERT_TRUE(runtime_->remove(first.id));
  EXPECT_EQ(crunState(next.id).first, "");
  EXPECT_FALSE(fs::exists(bundleDir(next.id)));
  EXPECT_FALSE(runtime_->hasPrepared(first.id));

  // Finished for good (a container that completed under OnFailure).
  auto other = attemptSpec(5, {"/bin/sleep", "3600"});
  ASSERT_TRUE(runtime_->start(other));
  auto successor = attemptSpec(6, other.args);
  runtime_->prepare(other.id, successor);
  ASSERT_GT(waitCreated(successor.id), 0);
  runtime_->discardPrepared(other.id);
  EXPECT_EQ(crunState(successor.id).first, "");
  EXPECT_FALSE(fs::exists(bundleDir(successor.id)));
  EXPECT_TRUE(runtime_->status(other.id));  // the running one is untouched
}

TEST_F(PreparedRestartTest, AnAgentRestartRemovesPreparedContainers) {
  auto first = attemptSpec(0, {"/bin/sleep", "3600"});
  auto running = runtime_->start(first);
  ASSERT_TRUE(running);
  auto next = attemptSpec(1, first.args);
  runtime_->prepare(first.id, next);
  ASSERT_GT(waitCreated(next.id), 0);

  openRuntime();  // the agent restarts
  ASSERT_TRUE(runtime_);

  EXPECT_EQ(crunState(next.id).first, "");
  EXPECT_FALSE(fs::exists(bundleDir(next.id)));
  auto s = runtime_->status(first.id);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, ContainerState::kRunning);
  EXPECT_EQ(s->pid, running->pid);
}

}  // namespace
}  // namespace capstan::agent::testing
