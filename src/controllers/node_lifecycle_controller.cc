#include "controllers/node_lifecycle_controller.h"

#include <fmt/format.h>

#include "common/log.h"

namespace capstan::controllers {
namespace {

constexpr const char* kUnreachable = "node.kubernetes.io/unreachable";
constexpr const char* kNotReady = "node.kubernetes.io/not-ready";

const Json& field(const Json& j, const char* key) {
  static const Json kEmpty = Json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : kEmpty;
}

std::string readyStatus(const Json& node) {
  for (const auto& c : field(node, "status").value("conditions", Json::array()))
    if (c.is_object() && c.value("type", "") == "Ready") return c.value("status", "Unknown");
  return "Unknown";
}

// Whether `pod` tolerates `taint`, and for how long (nullopt: forever).
bool tolerates(const Json& pod, const Json& taint, std::optional<int64_t>* seconds) {
  for (const auto& t : field(pod, "spec").value("tolerations", Json::array())) {
    if (!t.is_object()) continue;
    std::string effect = t.value("effect", "");
    if (!effect.empty() && effect != taint.value("effect", "")) continue;
    std::string key = t.value("key", "");
    std::string op = t.value("operator", "Equal");
    if (key.empty()) {
      if (op != "Exists") continue;
    } else if (key != taint.value("key", "")) {
      continue;
    } else if (op == "Equal" && t.value("value", "") != taint.value("value", "")) {
      continue;
    }
    if (t.contains("tolerationSeconds") && t["tolerationSeconds"].is_number_integer())
      *seconds = t["tolerationSeconds"].get<int64_t>();
    else
      *seconds = std::nullopt;
    return true;
  }
  return false;
}

}  // namespace

NodeLifecycleController::NodeLifecycleController(Context& ctx)
    : Controller("node-lifecycle", ctx, 1), events_(ctx.client, "node-controller", "", ctx.clock) {
  ctx.informers.get(client::res::kNodes).addHandlers(enqueueHandlers());
  ctx.informers.get(client::res::kLeases).addHandlers(
      {.on_add = [this](const ObjectPtr& l) {
         if (client::namespaceOf(*l) == "kube-node-lease") queue().add(client::nameOf(*l));
       },
       .on_update =
           [this](const ObjectPtr&, const ObjectPtr& l) {
             if (client::namespaceOf(*l) == "kube-node-lease") queue().add(client::nameOf(*l));
           }});
  // New pods on a tainted node must be checked too.
  ctx.informers.get(client::res::kPods).addHandlers({.on_add = [this](const ObjectPtr& p) {
    std::string node = field(*p, "spec").value("nodeName", "");
    if (!node.empty()) queue().add(node);
  }});
}

Status NodeLifecycleController::sync(const std::string& key) {
  // upstream's RecordNodeEvent: about the Node (its uid), message "Node <name> event: <what>".
  auto nodeEvent = [this, &key](const std::string& uid, const char* reason, const std::string& what) {
    events_.record({{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", key}, {"uid", uid}}}},
                   "Normal", reason, fmt::format("Node {} event: {}", key, what));
  };
  auto node = ctx_.informers.get(client::res::kNodes).get(key);
  if (!node) {
    std::string gone_uid;
    {
      std::lock_guard lock(mu_);
      auto it = observed_.find(key);
      if (it == observed_.end()) return Status::ok();
      gone_uid = it->second.uid;
      observed_.erase(it);
    }
    nodeEvent(gone_uid, "RemovingNode", fmt::format("Removing Node {} from Controller", key));
    return Status::ok();
  }
  bool registered = false;
  auto lease = ctx_.informers.get(client::res::kLeases).get("kube-node-lease/" + key);
  auto now = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point seen;
  {
    std::lock_guard lock(mu_);
    std::string renew = lease ? field(*lease, "spec").value("renewTime", "") : "";
    registered = !observed_.count(key);
    auto& o = observed_[key];
    o.uid = client::uidOf(*node);
    if (o.seen == std::chrono::steady_clock::time_point{} || o.renew_time != renew) {
      o.renew_time = renew;
      o.seen = now;
    }
    seen = o.seen;
  }
  if (registered)
    nodeEvent(client::uidOf(*node), "RegisteredNode", fmt::format("Registered Node {} in Controller", key));
  auto grace = ctx_.options.node_monitor_grace_period;
  bool unreachable = now - seen > grace;
  std::string ready = readyStatus(*node);
  if (unreachable && ready != "Unknown") {
    if (auto st = markUnknown(*node); !st) return st;
    ready = "Unknown";
  }
  bool not_ready = !unreachable && ready == "False";
  if (auto st = setTaints(*node, unreachable || (ready == "Unknown" && unreachable), not_ready); !st) return st;
  // Look again when the lease would expire, and for pending evictions.
  if (!unreachable) queue().addAfter(key, grace - (now - seen) + std::chrono::milliseconds(100));
  if (unreachable || not_ready) {
    auto fresh = ctx_.informers.get(client::res::kNodes).get(key);
    if (fresh) return evictPods(key, field(*fresh, "spec").value("taints", Json::array()));
  }
  return Status::ok();
}

Status NodeLifecycleController::markUnknown(const Json& node) {
  std::string now = formatRfc3339(ctx_.clock.now());
  Json conds = Json::array();
  for (const auto& c : field(node, "status").value("conditions", Json::array())) {
    if (!c.is_object()) continue;
    Json u = c;
    if (u.value("status", "") != "Unknown") u["lastTransitionTime"] = now;
    u["status"] = "Unknown";
    u["reason"] = "NodeStatusUnknown";
    u["message"] = "Kubelet stopped posting node status.";
    conds.push_back(u);
  }
  auto r = ctx_.client.patch(client::res::kNodes, "", client::nameOf(node), client::PatchType::kMerge,
                             {{"status", {{"conditions", conds}}}}, "status");
  if (!r) return r.status();
  ctx_.events.record(node, "Normal", "NodeNotReady", fmt::format("Node {} status is now: NodeNotReady", client::nameOf(node)));
  LOG_INFO("node unreachable", "node", client::nameOf(node));
  return Status::ok();
}

Status NodeLifecycleController::setTaints(const Json& node, bool unreachable, bool not_ready) {
  Json taints = Json::array();
  std::string now = formatRfc3339(ctx_.clock.now());
  Json current = field(node, "spec").value("taints", Json::array());
  auto existing = [&](const char* key, const char* effect) -> Json {
    for (const auto& t : current)
      if (t.is_object() && t.value("key", "") == key && t.value("effect", "") == effect) return t;
    return {{"key", key}, {"effect", effect}, {"timeAdded", now}};
  };
  for (const auto& t : current) {
    std::string k = t.is_object() ? t.value("key", "") : "";
    if (k != kUnreachable && k != kNotReady) taints.push_back(t);
  }
  for (const char* effect : {"NoSchedule", "NoExecute"}) {
    if (unreachable) taints.push_back(existing(kUnreachable, effect));
    if (not_ready) taints.push_back(existing(kNotReady, effect));
  }
  if (taints == current) return Status::ok();
  Json patch = {{"spec", {{"taints", taints.empty() ? Json(nullptr) : taints}}}};
  auto r = ctx_.client.patch(client::res::kNodes, "", client::nameOf(node), client::PatchType::kMerge, patch);
  return r.status();
}

Status NodeLifecycleController::evictPods(const std::string& node_name, const Json& taints) {
  auto now = ctx_.clock.now();
  std::optional<std::chrono::milliseconds> next;
  for (const auto& pod : ctx_.informers.get(client::res::kPods).list()) {
    if (field(*pod, "spec").value("nodeName", "") != node_name) continue;
    if (field(*pod, "metadata").contains("deletionTimestamp")) continue;
    std::optional<WallTime> deadline;
    bool evict_now = false;
    for (const auto& t : taints) {
      if (!t.is_object() || t.value("effect", "") != "NoExecute") continue;
      std::optional<int64_t> seconds;
      if (!tolerates(*pod, t, &seconds)) {
        evict_now = true;
        break;
      }
      if (!seconds) continue;
      WallTime added = parseRfc3339(t.value("timeAdded", "")).value_or(now);
      WallTime d = added + std::chrono::seconds(*seconds);
      if (!deadline || d < *deadline) deadline = d;
    }
    if (!evict_now && deadline && *deadline <= now) evict_now = true;
    if (evict_now) {
      ctx_.events.record(*pod, "Normal", "TaintManagerEviction",
                         fmt::format("Marking for deletion Pod {}", client::keyOf(*pod)));
      auto r = ctx_.client.remove(client::res::kPods, client::namespaceOf(*pod), client::nameOf(*pod),
                                  {{"kind", "DeleteOptions"}, {"apiVersion", "v1"},
                                   {"preconditions", {{"uid", client::uidOf(*pod)}}}});
      if (!r && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict) return r.status();
    } else if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - now);
      if (!next || left < *next) next = left;
    }
  }
  if (next) queue().addAfter(node_name, *next + std::chrono::milliseconds(50));
  return Status::ok();
}

}  // namespace capstan::controllers
