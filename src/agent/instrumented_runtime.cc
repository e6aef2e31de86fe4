#include "agent/instrumented_runtime.h"

#include <chrono>

namespace capstan::agent {
namespace {

// Runs f, records its duration and outcome under `type`.
template <typename F>
auto timed(stats::KubeletMetrics& m, std::string_view type, F&& f) {
  auto start = std::chrono::steady_clock::now();
  auto r = f();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.observeRuntimeOperation(type, s, !r);
  return r;
}

class InstrumentedRuntime final : public runtime::Runtime {
 public:
  InstrumentedRuntime(std::unique_ptr<runtime::Runtime> inner, std::shared_ptr<stats::KubeletMetrics> metrics)
      : inner_(std::move(inner)), m_(std::move(metrics)) {}

  void setExitHandler(runtime::ExitHandler handler) override { inner_->setExitHandler(std::move(handler)); }
  Result<runtime::ContainerStatus> start(const runtime::ContainerSpec& spec) override {
    return timed(*m_, "start_container", [&] { return inner_->start(spec); });
  }
  // Queued for the runtime's own thread: nothing here to time.
  void prepare(const std::string& after, const runtime::ContainerSpec& next) override { inner_->prepare(after, next); }
  bool hasPrepared(const std::string& after) const override { return inner_->hasPrepared(after); }
  void discardPrepared(const std::string& after) override { inner_->discardPrepared(after); }
  Result<runtime::ContainerStatus> stop(const std::string& id, std::chrono::milliseconds grace) override {
    return timed(*m_, "stop_container", [&] { return inner_->stop(id, grace); });
  }
  Status kill(const std::string& id, int signal) override {
    return timed(*m_, "kill_container", [&] { return inner_->kill(id, signal); });
  }
  Result<runtime::ContainerStatus> waitExit(const std::string& id, std::chrono::milliseconds timeout) override {
    return inner_->waitExit(id, timeout);  // waiting, not an operation
  }
  Status remove(const std::string& id) override {
    return timed(*m_, "remove_container", [&] { return inner_->remove(id); });
  }
  Result<runtime::ContainerStatus> status(const std::string& id) const override {
    return timed(*m_, "container_status", [&] { return inner_->status(id); });
  }
  std::vector<runtime::ContainerStatus> list() const override {
    auto start = std::chrono::steady_clock::now();
    auto r = inner_->list();
    m_->observeRuntimeOperation("list_containers",
                                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), false);
    return r;
  }
  Result<runtime::ExecResult> exec(const std::string& id, const std::vector<std::string>& argv,
                                   const runtime::ExecOptions& options) override {
    return timed(*m_, "exec_sync", [&] { return inner_->exec(id, argv, options); });
  }
  Result<runtime::ExecProcess> execStreaming(const std::string& id, const std::vector<std::string>& argv,
                                             const runtime::ExecOptions& options) override {
    return timed(*m_, "exec", [&] { return inner_->execStreaming(id, argv, options); });
  }
  Result<runtime::ExecProcess> attach(const std::string& id) override {
    return timed(*m_, "attach", [&] { return inner_->attach(id); });
  }
  Result<runtime::ContainerStats> stats(const std::string& id) const override {
    return timed(*m_, "container_stats", [&] { return inner_->stats(id); });
  }
  std::string version() const override { return inner_->version(); }

 private:
  std::unique_ptr<runtime::Runtime> inner_;
  std::shared_ptr<stats::KubeletMetrics> m_;
};

class InstrumentedNetwork final : public network::Network {
 public:
  InstrumentedNetwork(std::unique_ptr<network::Network> inner, std::shared_ptr<stats::KubeletMetrics> metrics)
      : inner_(std::move(inner)), m_(std::move(metrics)) {}

  Result<network::Sandbox> createSandbox(const std::string& id, const std::string& hostname,
                                         const std::vector<network::PortMapping>& ports) override {
    return timed(*m_, "run_podsandbox", [&] { return inner_->createSandbox(id, hostname, ports); });
  }
  Status removeSandbox(const std::string& id) override {
    return timed(*m_, "remove_podsandbox", [&] { return inner_->removeSandbox(id); });
  }
  std::vector<network::Sandbox> list() const override { return inner_->list(); }
  Status close(bool delete_bridge) override { return inner_->close(delete_bridge); }

 private:
  std::unique_ptr<network::Network> inner_;
  std::shared_ptr<stats::KubeletMetrics> m_;
};

}  // namespace

std::unique_ptr<runtime::Runtime> instrumentRuntime(std::unique_ptr<runtime::Runtime> inner,
                                                    std::shared_ptr<stats::KubeletMetrics> metrics) {
  return std::make_unique<InstrumentedRuntime>(std::move(inner), std::move(metrics));
}

std::unique_ptr<network::Network> instrumentNetwork(std::unique_ptr<network::Network> inner,
                                                    std::shared_ptr<stats::KubeletMetrics> metrics) {
  return std::make_unique<InstrumentedNetwork>(std::move(inner), std::move(metrics));
}

}  // namespace capstan::agent
