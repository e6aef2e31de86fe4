#include "agent/pod_status.h"

namespace capstan::agent {
namespace {

Json terminatedState(const runtime::ContainerStatus& s, const std::string& message) {
  Json t = {{"exitCode", s.exit_code},
            {"reason", s.reason.empty() ? (s.exit_code == 0 ? "Completed" : "Error") : s.reason},
            {"containerID", "crun://" + s.id}};
  if (s.signal) t["signal"] = s.signal;
  if (s.started_at) t["startedAt"] = formatRfc3339(*s.started_at);
  if (s.finished_at) t["finishedAt"] = formatRfc3339(*s.finished_at);
  std::string msg = !message.empty() ? message : s.message;
  if (!msg.empty()) t["message"] = msg;
  return {{"terminated", t}};
}

Json containerStatus(const ContainerView& c) {
  Json s = {{"name", c.name}, {"image", c.image}, {"imageID", c.image_id}, {"ready", false}, {"restartCount", 0},
            {"started", false}};
  if (!c.attempts.empty()) s["restartCount"] = static_cast<int>(c.attempts.size()) - 1;
  const runtime::ContainerStatus* cur = c.attempts.empty() ? nullptr : &c.attempts[0];
  const runtime::ContainerStatus* prev = c.attempts.size() > 1 ? &c.attempts[1] : nullptr;
  if (!c.waiting_reason.empty()) {
    Json w = {{"reason", c.waiting_reason}};
    if (!c.waiting_message.empty()) w["message"] = c.waiting_message;
    s["state"] = {{"waiting", w}};
    // In back-off the last run is what lastState shows.
    if (cur && cur->state == runtime::ContainerState::kExited) s["lastState"] = terminatedState(*cur, c.termination_message);
    else if (prev) s["lastState"] = terminatedState(*prev, "");
  } else if (cur && cur->state == runtime::ContainerState::kRunning) {
    s["state"] = {{"running", {{"startedAt", formatRfc3339(cur->started_at.value_or(WallTime{}))}}}};
    s["containerID"] = "crun://" + cur->id;
    s["ready"] = c.ready;
    s["started"] = c.started;
    if (prev) s["lastState"] = terminatedState(*prev, "");
  } else if (cur) {
    s["state"] = terminatedState(*cur, c.termination_message);
    s["containerID"] = "crun://" + cur->id;
    if (prev) s["lastState"] = terminatedState(*prev, "");
  } else {
    s["state"] = {{"waiting", {{"reason", "ContainerCreating"}}}};
  }
  if (!s.contains("lastState")) s["lastState"] = Json::object();
  return s;
}

bool running(const ContainerView& c) {
  return !c.attempts.empty() && c.attempts[0].state == runtime::ContainerState::kRunning;
}
bool terminated(const ContainerView& c) {
  return c.waiting_reason.empty() && !c.attempts.empty() && c.attempts[0].state == runtime::ContainerState::kExited;
}

std::string phaseOf(const Json& pod, const PodView& v) {
  std::string policy = objectAt(pod, "spec").value("restartPolicy", "Always");
  // An init container that failed for good fails the pod.
  if (policy == "Never")
    for (const auto& c : v.init_containers)
      if (terminated(c) && c.attempts[0].exit_code != 0) return "Failed";
  if (!v.initialized) return "Pending";
  int n_running = 0, n_waiting = 0, n_succeeded = 0, n_failed = 0;
  for (const auto& c : v.containers) {
    if (running(c)) ++n_running;
    else if (terminated(c)) (c.attempts[0].exit_code == 0 ? n_succeeded : n_failed)++;
    else if (!c.attempts.empty() && !c.waiting_reason.empty() && c.waiting_reason != "ContainerCreating") ++n_running;  // restarting
    else ++n_waiting;
  }
  if (n_waiting > 0) return "Pending";
  if (n_running > 0) return "Running";
  // All terminated (kubelet's getPhase): with Always they are all about to
  // restart, e.g. one just killed after a failed postStart hook.
  if (policy == "Always") return "Running";
  if (n_failed == 0) return "Succeeded";
  return policy == "Never" ? "Failed" : "Running";
}

Json condition(const Json& pod, const std::string& type, bool ok, const std::string& reason, const std::string& message,
               WallTime now) {
  std::string status = ok ? "True" : "False";
  std::string transition = formatRfc3339(now);
  for (const auto& c : objectAt(pod, "status").value("conditions", Json::array()))
    if (c.is_object() && c.value("type", "") == type && c.value("status", "") == status)
      transition = c.value("lastTransitionTime", transition);
  Json j = {{"type", type}, {"status", status}, {"lastProbeTime", nullptr}, {"lastTransitionTime", transition}};
  if (!reason.empty()) j["reason"] = reason;
  if (!message.empty()) j["message"] = message;
  return j;
}

}  // namespace

std::string qosClass(const Json& pod) {
  bool any = false, guaranteed = true;
  for (const char* kind : {"initContainers", "containers"})
    for (const auto& c : objectAt(pod, "spec").value(kind, Json::array())) {
      const Json& res = objectAt(c, "resources");
      const Json& req = objectAt(res, "requests");
      const Json& lim = objectAt(res, "limits");
      if (!req.empty() || !lim.empty()) any = true;
      for (const char* r : {"cpu", "memory"}) {
        if (!lim.contains(r)) guaranteed = false;
        else if (req.contains(r) && req[r] != lim[r]) guaranteed = false;
      }
    }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

Json buildPodStatus(const Json& pod, const PodView& v, WallTime now) {
  Json status = objectAt(pod, "status");
  status["phase"] = phaseOf(pod, v);
  status["qosClass"] = qosClass(pod);
  if (!v.host_ip.empty()) {
    status["hostIP"] = v.host_ip;
    status["hostIPs"] = Json::array({{{"ip", v.host_ip}}});
  }
  if (!v.pod_ip.empty()) {
    status["podIP"] = v.pod_ip;
    status["podIPs"] = Json::array({{{"ip", v.pod_ip}}});
  }
  if (v.start_time && !status.contains("startTime")) status["startTime"] = formatRfc3339(*v.start_time);

  Json inits = Json::array(), apps = Json::array();
  for (const auto& c : v.init_containers) inits.push_back(containerStatus(c));
  for (const auto& c : v.containers) apps.push_back(containerStatus(c));
  if (!inits.empty()) status["initContainerStatuses"] = inits;
  status["containerStatuses"] = apps;

  std::vector<std::string> not_ready;
  for (const auto& c : v.containers)
    if (!(running(c) && c.ready)) not_ready.push_back(c.name);
  bool all_ready = not_ready.empty();
  std::string names;
  for (const auto& n : not_ready) names += (names.empty() ? "" : " ") + n;
  std::string msg = all_ready ? "" : "containers with unready status: [" + names + "]";
  std::string phase = status["phase"];
  bool done = phase == "Succeeded" || phase == "Failed";
  std::string reason = all_ready ? "" : (done ? "PodCompleted" : "ContainersNotReady");
  if (done) msg.clear();

  std::string init_msg;
  if (!v.initialized) {
    std::string pending;
    for (const auto& c : v.init_containers)
      if (!(terminated(c) && c.attempts[0].exit_code == 0)) pending += (pending.empty() ? "" : " ") + c.name;
    init_msg = "containers with incomplete status: [" + pending + "]";
  }
  Json conds = Json::array();
  conds.push_back(condition(pod, "PodReadyToStartContainers", v.sandbox_ready, "", "", now));
  conds.push_back(condition(pod, "Initialized", v.initialized, v.initialized ? "" : "ContainersNotInitialized", init_msg, now));
  conds.push_back(condition(pod, "Ready", all_ready, reason, msg, now));
  conds.push_back(condition(pod, "ContainersReady", all_ready, reason, msg, now));
  conds.push_back(condition(pod, "PodScheduled", true, "", "", now));
  // Conditions others own (readiness gates, DisruptionTarget, alerts) are
  // kept, as kubelet keeps them.
  for (const auto& c : objectAt(pod, "status").value("conditions", Json::array())) {
    std::string type = c.is_object() ? c.value("type", "") : "";
    bool ours = false;
    for (const auto& own : conds) ours = ours || own["type"] == type;
    if (!ours && !type.empty()) conds.push_back(c);
  }
  status["conditions"] = conds;
  return status;
}

}  // namespace capstan::agent
