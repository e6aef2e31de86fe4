// Lifecycle hooks (see lifecycle.h) and the agent's one way of stopping a
// container: AgentImpl::killContainer, kubelet's killContainer.
#include "agent/lifecycle.h"

#include <fmt/format.h>

#include <thread>

#include "agent/agent_impl.h"
#include "agent/prober.h"
#include "common/log.h"

namespace capstan::agent {
namespace {

std::string label(const runtime::ContainerStatus& c, const char* key) {
  auto it = c.labels.find(key);
  return it == c.labels.end() ? std::string() : it->second;
}

// Go's %v of a []string.
std::string goList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + v[i];
  return out + "]";
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + v[i];
  return out;
}

HookResult failed(std::string error, std::string message) {
  return {false, std::move(error), std::move(message)};
}

}  // namespace

std::map<std::string, std::string> hookLabels(const Json& container, const std::string& pod_ip) {
  const Json& pre_stop = objectAt(objectAt(container, "lifecycle"), "preStop");
  if (pre_stop.empty()) return {};
  std::map<std::string, std::string> out{{kLabelPreStopHandler, pre_stop.dump()}, {kLabelPodIp, pod_ip}};
  const Json& ports = arrayAt(container, "ports");
  if (!ports.empty()) out[kLabelPorts] = ports.dump();
  return out;
}

HookTarget hookTargetOf(const runtime::ContainerStatus& c) {
  HookTarget t;
  t.pod =
      fmt::format("{}_{}({})", label(c, kLabelPodName), label(c, kLabelNamespace), label(c, kLabelPodUid));
  t.pod_ip = label(c, kLabelPodIp);
  t.container_id = c.id;
  t.container_name = label(c, kLabelContainer);
  Json ports = Json::parse(label(c, kLabelPorts), nullptr, false);
  if (ports.is_array()) t.container["ports"] = std::move(ports);
  return t;
}

HookResult runLifecycleHandler(runtime::Runtime& rt, const HookTarget& t, const Json& handler,
                               std::chrono::milliseconds timeout) {
  if (handler.contains("exec")) {
    std::vector<std::string> argv;
    for (const auto& a : arrayAt(handler["exec"], "command"))
      if (a.is_string()) argv.push_back(a.get<std::string>());
    std::string error, output;
    if (argv.empty()) {
      error = "exec hook has no command";
    } else {
      runtime::ExecOptions opts;
      opts.timeout = timeout;
      auto r = rt.exec(t.container_id, argv, opts);
      if (!r) {
        error = r.status().message();
      } else {
        output = r->out + r->err;
        if (r->exit_code != 0)
          error = fmt::format("command '{}' exited with {}: {}", join(argv), r->exit_code, r->err);
      }
    }
    if (error.empty()) return {};
    if (output.size() > 10240) output.resize(10240);
    return failed(
        error, fmt::format("Exec lifecycle hook ({}) for Container \"{}\" in Pod \"{}\" failed - error: {}, "
                           "message: {}",
                           goList(argv), t.container_name, t.pod, error, Json(output).dump()));
  }
  if (handler.contains("httpGet")) {
    const Json& get = handler["httpGet"];
    // Any response will do: kubelet checks only that the request went through.
    HttpGetResult r = httpGet(get, t.pod_ip, t.container, timeout, "kube-lifecycle/1.31");
    if (r.error.empty()) return {};
    std::string error =
        r.url.empty() ? "httpGet hook has no valid port" : fmt::format("Get \"{}\": {}", r.url, r.error);
    return failed(
        error, fmt::format("HTTP lifecycle hook ({}) for Container \"{}\" in Pod \"{}\" failed - error: {}",
                           get.value("path", ""), t.container_name, t.pod, error));
  }
  if (handler.contains("sleep")) {
    int64_t seconds = objectAt(handler, "sleep").value("seconds", int64_t{0});
    // Past the timeout the hook is given up (kubelet stops waiting for it
    // at the end of the grace period too).
    auto d =
        std::min<std::chrono::milliseconds>(std::chrono::seconds(std::max<int64_t>(seconds, 0)), timeout);
    std::this_thread::sleep_for(d);
    return {};
  }
  std::string error = fmt::format("invalid handler: {}", handler.dump());
  return failed(error, "Cannot run handler: " + error);
}

std::chrono::milliseconds graceAfterPreStop(std::chrono::milliseconds grace,
                                            std::chrono::milliseconds spent) {
  return std::max<std::chrono::milliseconds>(grace - spent, kMinimumGracePeriod);
}

Result<runtime::ContainerStatus> stopWithPreStop(
    runtime::Runtime& rt, const runtime::ContainerStatus& c, std::chrono::milliseconds grace,
    const HookRunner& run_hook, const Clock& clock,
    const std::function<void(const std::string&, const std::string&)>& warn) {
  if (c.state != runtime::ContainerState::kRunning) return rt.stop(c.id, grace);
  std::chrono::milliseconds spent{0};
  Json handler = Json::parse(label(c, kLabelPreStopHandler), nullptr, false);
  if (handler.is_object() && grace.count() > 0) {
    auto start = clock.monotonic();
    HookResult r = run_hook(hookTargetOf(c), handler, grace);
    spent = std::chrono::duration_cast<std::chrono::milliseconds>(clock.monotonic() - start);
    if (!r.ok) {
      LOG_WARN("preStop hook failed", "container", c.id, "error", r.error);
      if (warn) warn("FailedPreStopHook", r.error);
    }
  }
  return rt.stop(c.id, graceAfterPreStop(grace, spent));
}

Result<runtime::ContainerStatus> AgentImpl::killContainer(const runtime::ContainerStatus& c,
                                                          std::chrono::milliseconds grace,
                                                          const std::string& message) {
  Json ref = {{"kind", "Pod"},
              {"apiVersion", "v1"},
              {"metadata",
               {{"namespace", label(c, kLabelNamespace)},
                {"name", label(c, kLabelPodName)},
                {"uid", label(c, kLabelPodUid)}}}};
  if (c.state == runtime::ContainerState::kRunning)
    events_.record(
        ref, "Normal", "Killing",
        message.empty() ? fmt::format("Stopping container {}", label(c, kLabelContainer)) : message);
  HookRunner run_hook = [this](const HookTarget& t, const Json& handler, std::chrono::milliseconds timeout) {
    return runLifecycleHandler(*runtime_, t, handler, timeout);
  };
  return stopWithPreStop(*runtime_, c, grace, run_hook, SystemClock::instance(),
                         [&](const std::string& reason, const std::string& msg) {
                           events_.record(ref, "Warning", reason, msg);
                         });
}

}  // namespace capstan::agent
