// syncPod: one level-triggered pass over one pod. It compares the pod's
// spec with the containers the runtime has for it and closes the gap:
// sandbox, volumes, init containers in order, app containers with their
// restart policy and CrashLoopBackOff, graceful termination, and finally
// the status it reports. Safe to run again at any time; container exits
// and pod changes simply run it again.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "agent/agent_impl.h"
#include "agent/pod_sync.h"
#include "common/log.h"

namespace capstan::agent {
namespace fs = std::filesystem;

std::string AgentImpl::logPath(const Json& pod, const std::string& container, int attempt) const {
  const Json& m = objectAt(pod, "metadata");
  return fmt::format("{}/logs/pods/{}_{}_{}/{}/{}.log", opts_.data_dir, m.value("namespace", ""), m.value("name", ""),
                     m.value("uid", ""), container, attempt);
}

std::vector<ContainerRecord> AgentImpl::containersOf(const std::string& ns, const std::string& name) const {
  std::vector<ContainerRecord> out;
  for (auto& st : runtime_->list()) {
    auto l = st.labels;
    if (l[kLabelNamespace] != ns || l[kLabelPodName] != name) continue;
    out.push_back({st, std::atoi(l[kLabelAttempt].c_str())});
  }
  std::sort(out.begin(), out.end(), [](const ContainerRecord& a, const ContainerRecord& b) { return a.attempt > b.attempt; });
  return out;
}

Status AgentImpl::teardownPod(const std::string& ns, const std::string& name, const std::string& keep_uid,
                              std::chrono::milliseconds grace) {
  std::set<std::string> uids;
  std::vector<runtime::ContainerStatus> doomed, running;
  for (auto& c : containersOf(ns, name)) {
    std::string uid = c.status.labels[kLabelPodUid];
    if (uid == keep_uid) continue;
    uids.insert(uid);
    doomed.push_back(c.status);
    if (c.status.state == runtime::ContainerState::kRunning) running.push_back(c.status);
  }
  // The running containers stop side by side, each within the grace period
  // (its preStop hook included), as kubelet's do.
  std::vector<Status> stopped(running.size());
  if (running.size() == 1) {
    stopped[0] = killContainer(running[0], grace).status();
  } else {
    std::vector<std::thread> stoppers;
    for (size_t i = 0; i < running.size(); ++i)
      stoppers.emplace_back([&, i] { stopped[i] = killContainer(running[i], grace).status(); });
    for (auto& t : stoppers) t.join();
  }
  for (auto& st : stopped)
    if (!st) return st;
  for (auto& c : doomed)
    if (auto st = runtime_->remove(c.id); !st) return st;
  for (const auto& uid : uids) {
    prober_->removePod(uid);
    if (auto st = network_->removeSandbox(uid); !st) return st;
    (void)removePodFiles(podDirs(uid));
    std::lock_guard lock(mu_);
    for (auto* m : {&backoff_, &image_backoff_})
      for (auto it = m->begin(); it != m->end();)
        it = it->first.rfind(uid + "/", 0) == 0 ? m->erase(it) : std::next(it);
  }
  return Status::ok();
}

// One pass over one pod (see the file comment).
Status AgentImpl::syncPod(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  ObjectPtr pod = pods_->get(key);
  if (!pod) {
    // Deleted from the API (or bound elsewhere): nothing of it may stay.
    return teardownPod(ns, name, "", std::chrono::seconds(2));
  }
  const Json& meta = objectAt(*pod, "metadata");
  const Json& spec = objectAt(*pod, "spec");
  std::string uid = meta.value("uid", "");
  // An older incarnation of a pod with this name goes first.
  if (auto st = teardownPod(ns, name, uid, std::chrono::seconds(2)); !st) return st;

  if (meta.contains("deletionTimestamp")) {
    int64_t grace_s = meta.value("deletionGracePeriodSeconds", spec.value("terminationGracePeriodSeconds", int64_t{30}));
    if (auto st = teardownPod(ns, name, "", std::chrono::seconds(grace_s)); !st) return st;
    Json opts = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"gracePeriodSeconds", 0}, {"preconditions", {{"uid", uid}}}};
    auto r = client_.remove(client::res::kPods, ns, name, opts);
    if (!r && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict) return r.status();
    return Status::ok();
  }

  std::string phase = objectAt(*pod, "status").value("phase", "");
  auto containers = containersOf(ns, name);
  if (phase == "Succeeded" || phase == "Failed") {
    // Finished pods keep their containers' records but release the rest.
    bool running = false;
    for (auto& c : containers)
      if (c.status.state == runtime::ContainerState::kRunning) running = true;
    prober_->removePod(uid);
    if (!running) (void)network_->removeSandbox(uid);
    return Status::ok();
  }

  PodSync sync(*this, pod);
  return sync.run();
}

}  // namespace capstan::agent
