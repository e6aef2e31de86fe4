#include "scheduler/service/scheduler_service.h"

#include <fmt/format.h>

#include <random>

#include "common/clock.h"
#include "common/log.h"

namespace capstan::scheduler {
namespace {

using client::ObjectPtr;
using Clock = std::chrono::steady_clock;

constexpr auto kUnschedulableSafetyFlush = std::chrono::seconds(60);

const Json& field(const Json& obj, const char* name) {
  static const Json kEmpty = Json::object();
  auto it = obj.find(name);
  return it != obj.end() && it->is_object() ? *it : kEmpty;
}

std::string nodeNameOf(const Json& pod) { return field(pod, "spec").value("nodeName", ""); }

bool terminal(const Json& pod) {
  std::string phase = field(pod, "status").value("phase", "");
  return phase == "Succeeded" || phase == "Failed";
}

int64_t priorityOf(const Json& pod) {
  const Json& spec = field(pod, "spec");
  auto p = spec.find("priority");
  return p != spec.end() && p->is_number_integer() ? p->get<int64_t>() : 0;
}

}  // namespace

SchedulerService::SchedulerService(std::shared_ptr<client::Transport> transport, ServiceOptions opts)
    : opts_(std::move(opts)), client_(std::move(transport), "default-scheduler"), events_(client_, opts_.scheduler_name) {}

SchedulerService::~SchedulerService() { stop(); }

void SchedulerService::start() {
  client::LeaderElectionConfig cfg{.lease_name = "kube-scheduler",
                                   .identity = opts_.identity,
                                   .lease_duration = opts_.lease_duration,
                                   .renew_deadline = opts_.renew_deadline,
                                   .retry_period = opts_.retry_period};
  elector_ = std::make_unique<client::LeaderElector>(
      client_, cfg, [this] { lead(); }, [this] { unlead(); });
  elector_->start();
}

void SchedulerService::stop() {
  if (elector_) elector_->stop();
  elector_.reset();
}

SchedulerService::Stats SchedulerService::stats() const {
  std::lock_guard lock(queue_mu_);
  return stats_;
}

bool SchedulerService::responsibleFor(const Json& pod) const {
  std::string name = field(pod, "spec").value("schedulerName", "");
  return name.empty() || name == opts_.scheduler_name;
}

void SchedulerService::lead() {
  snapshot_ = std::make_unique<Snapshot>();
  std::mt19937_64 rng(std::random_device{}());
  framework_ = std::make_unique<Scheduler>(opts_.framework, [rng]() mutable { return rng(); });
  informers_ = std::make_unique<client::InformerFactory>(client_);
  auto& nodes = informers_->get(client::res::kNodes);
  nodes.addHandlers({.on_add =
                         [this](const ObjectPtr& n) {
                           {
                             std::lock_guard lock(snapshot_mu_);
                             (void)snapshot_->upsertNode(n);
                           }
                           std::lock_guard lock(queue_mu_);
                           flushUnschedulable();
                         },
                     .on_update =
                         [this](const ObjectPtr& old_node, const ObjectPtr& n) {
                           {
                             std::lock_guard lock(snapshot_mu_);
                             (void)snapshot_->upsertNode(n);
                           }
                           // A resync replays the same object: nothing changed.
                           if (old_node == n) return;
                           std::lock_guard lock(queue_mu_);
                           flushUnschedulable();
                         },
                     .on_delete =
                         [this](const ObjectPtr& n) {
                           std::lock_guard lock(snapshot_mu_);
                           snapshot_->removeNode(client::nameOf(*n));
                         }});
  auto& namespaces = informers_->get(client::res::kNamespaces);
  namespaces.addHandlers({.on_add =
                              [this](const ObjectPtr& ns) {
                                std::lock_guard lock(snapshot_mu_);
                                snapshot_->upsertNamespace(ns);
                              },
                          .on_update =
                              [this](const ObjectPtr&, const ObjectPtr& ns) {
                                std::lock_guard lock(snapshot_mu_);
                                snapshot_->upsertNamespace(ns);
                              },
                          .on_delete =
                              [this](const ObjectPtr& ns) {
                                std::lock_guard lock(snapshot_mu_);
                                snapshot_->removeNamespace(client::nameOf(*ns));
                              }});
  auto& pods = informers_->get(client::res::kPods);
  pods.addHandlers({.on_add = [this](const ObjectPtr& p) { onPod(nullptr, p, false); },
                    .on_update = [this](const ObjectPtr& o, const ObjectPtr& p) { onPod(o, p, false); },
                    .on_delete = [this](const ObjectPtr& p) { onPod(nullptr, p, true); }});
  {
    std::lock_guard lock(queue_mu_);
    running_ = true;
  }
  informers_->start();
  if (!informers_->waitForSync(std::chrono::seconds(30))) LOG_WARN("scheduler caches not synced after 30s");
  thread_ = std::thread([this] { loop(); });
  LOG_INFO("scheduler started", "name", opts_.scheduler_name);
}

void SchedulerService::unlead() {
  {
    std::lock_guard lock(queue_mu_);
    running_ = false;
  }
  queue_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (informers_) informers_->stop();
  informers_.reset();
  std::lock_guard lock(queue_mu_);
  active_.clear();
  pending_.clear();
  unschedulable_.clear();
  backoff_.clear();
  in_flight_.clear();
  completions_.clear();
  publishPending();
}

void SchedulerService::onPod(const ObjectPtr& old_pod, const ObjectPtr& pod, bool deleted) {
  std::string key = client::keyOf(*pod);
  bool assigned = !nodeNameOf(*pod).empty();
  {
    std::lock_guard lock(snapshot_mu_);
    if (deleted || terminal(*pod)) {
      snapshot_->removePod(client::namespaceOf(*pod), client::nameOf(*pod));
    } else if (assigned) {
      (void)snapshot_->upsertPod(pod);
    }
  }
  std::lock_guard lock(queue_mu_);
  if (deleted || assigned || terminal(*pod)) {
    if (pending_.count(key)) {
      const Pending& p = pending_[key];
      active_.erase({-p.priority, p.seq, key});
      pending_.erase(key);
    }
    unschedulable_.erase(key);
    // Resources were freed: pods waiting for room may fit now.
    if (deleted || (terminal(*pod) && old_pod && !terminal(*old_pod))) flushUnschedulable();
    publishPending();
    return;
  }
  if (!responsibleFor(*pod) || objectAt(*pod, "metadata").contains("deletionTimestamp")) return;
  if (in_flight_.count(key)) return;
  if (auto u = unschedulable_.find(key); u != unschedulable_.end()) {
    // Only a change of the pod's spec or labels can make it fit; our own
    // status updates must not spin it.
    bool changed = !old_pod || field(*old_pod, "spec") != field(*pod, "spec") ||
                   field(*old_pod, "metadata").value("labels", Json::object()) !=
                       field(*pod, "metadata").value("labels", Json::object());
    if (!changed) {
      u->second = pod;
      return;
    }
    unschedulable_.erase(u);
  }
  enqueue(pod);
}

void SchedulerService::publishPending() {
  if (!opts_.metrics) return;
  // Upstream's queues: activeQ, podBackoffQ, unschedulablePods, gated. Pods
  // retrying a failed binding wait in unschedulable_ here, counted there.
  opts_.metrics->setPending("active", static_cast<double>(active_.size()));
  opts_.metrics->setPending("backoff", 0);
  opts_.metrics->setPending("unschedulable", static_cast<double>(unschedulable_.size()));
  opts_.metrics->setPending("gated", 0);
}

void SchedulerService::observeAttempt(std::string_view result, Clock::time_point started) {
  if (!opts_.metrics) return;
  opts_.metrics->attempt(result, opts_.scheduler_name,
                         std::chrono::duration<double>(Clock::now() - started).count());
}

void SchedulerService::enqueue(const ObjectPtr& pod) {
  std::string key = client::keyOf(*pod);
  if (auto it = pending_.find(key); it != pending_.end()) {
    it->second.pod = pod;  // keep its place, newest object
    return;
  }
  Pending p{pod, priorityOf(*pod), ++seq_};
  active_.insert({-p.priority, p.seq, key});
  pending_[key] = std::move(p);
  queue_cv_.notify_one();
  publishPending();
}

void SchedulerService::flushUnschedulable() {
  for (auto& [key, pod] : unschedulable_) enqueue(pod);
  unschedulable_.clear();
  publishPending();
}

void SchedulerService::loop() {
  std::unique_lock lock(queue_mu_);
  while (running_) {
    // Binding answers first: they change what the snapshot assumes.
    while (!completions_.empty()) {
      Completion c = std::move(completions_.front());
      completions_.pop_front();
      lock.unlock();
      handleCompletion(std::move(c));
      lock.lock();
    }
    auto now = Clock::now();
    while (!backoff_.empty() && backoff_.begin()->first <= now) {
      std::string key = backoff_.begin()->second;
      backoff_.erase(backoff_.begin());
      if (auto u = unschedulable_.find(key); u != unschedulable_.end()) {
        ObjectPtr p = u->second;
        unschedulable_.erase(u);
        enqueue(p);
      }
    }
    if (active_.empty()) {
      if (backoff_.empty()) queue_cv_.wait(lock);
      else queue_cv_.wait_until(lock, backoff_.begin()->first);
      continue;
    }
    auto first = active_.begin();
    std::string key = std::get<2>(*first);
    active_.erase(first);
    ObjectPtr pod = pending_[key].pod;
    pending_.erase(key);
    ++stats_.attempts;
    publishPending();
    lock.unlock();
    scheduleOne(pod, Clock::now());
    lock.lock();
  }
}

void SchedulerService::scheduleOne(const ObjectPtr& pod, Clock::time_point started) {
  std::string key = client::keyOf(*pod);
  Result<ScheduleResult> result = Status(Code::kInternal, "not run");
  {
    std::lock_guard lock(snapshot_mu_);
    result = framework_->schedule(pod, *snapshot_);
    if (result && result->scheduled()) (void)snapshot_->upsertPod(pod, result->node);  // assume
  }
  if (!result) {
    // The pod itself is malformed; retrying does not help until it changes.
    reportUnschedulable(pod, result.status().message());
    std::lock_guard lock(queue_mu_);
    ++stats_.errors;
    unschedulable_[key] = pod;
    observeAttempt("error", started);
    publishPending();
    return;
  }
  if (!result->scheduled()) {
    std::string message = result->fit_error.message();
    Result<PreemptionResult> pre = Status(Code::kInternal, "not run");
    {
      std::lock_guard lock(snapshot_mu_);
      pre = framework_->preempt(pod, *snapshot_, result->fit_error);
    }
    if (pre && !pre->nominated_node.empty()) {
      writes_.post([this, pod, victims = pre->victims, node = pre->nominated_node] {
        for (const auto& victim : victims) {
          events_.record(*victim, "Normal", "Preempted",
                         fmt::format("Preempted by pod {} on node {}", client::uidOf(*pod), node));
          Json opts = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"preconditions", {{"uid", client::uidOf(*victim)}}}};
          client_.sendAsync({.method = "DELETE",
                             .path = client::res::kPods.path(client::namespaceOf(*victim), client::nameOf(*victim)),
                             .body = opts.dump()});
        }
        Json patch = {{"status", {{"nominatedNodeName", node}}}};
        client_.sendAsync({.method = "PATCH",
                           .path = client::res::kPods.path(client::namespaceOf(*pod), client::nameOf(*pod), "status"),
                           .body = patch.dump(),
                           .content_type = "application/merge-patch+json"});
      });
    } else if (pre && !pre->message.empty()) {
      FitError with_post = result->fit_error;
      with_post.post_filter_msg = pre->message;
      message = with_post.message();
    }
    reportUnschedulable(pod, message);
    std::lock_guard lock(queue_mu_);
    ++stats_.unschedulable;
    unschedulable_[key] = pod;
    backoff_.emplace(Clock::now() + kUnschedulableSafetyFlush, key);
    observeAttempt("unschedulable", started);
    publishPending();
    return;
  }
  std::string node = result->node;
  {
    std::lock_guard lock(queue_mu_);
    in_flight_.insert(key);
  }
  writes_.post([this, key, pod, node, started] {
    auto binding = std::make_shared<Json>(
        Json{{"apiVersion", "v1"},
             {"kind", "Binding"},
             {"metadata", {{"name", client::nameOf(*pod)}, {"namespace", client::namespaceOf(*pod)}}},
             {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}});
    client_.sendAsync(
        {.method = "POST",
         .path = client::res::kPods.path(client::namespaceOf(*pod), client::nameOf(*pod), "binding"),
         .object = std::move(binding)},
        [this, key, pod, node, started](Status st) {
          std::lock_guard lock(queue_mu_);
          completions_.push_back({key, pod, node, std::move(st), started});
          queue_cv_.notify_one();
        });
  });
}

void SchedulerService::handleCompletion(Completion c) {
  if (c.status) {
    writes_.post([this, pod = c.pod, message = fmt::format("Successfully assigned {} to {}", c.key, c.node)] {
      events_.record(*pod, "Normal", "Scheduled", message);
    });
    std::lock_guard lock(queue_mu_);
    ++stats_.scheduled;
    in_flight_.erase(c.key);
    attempts_.erase(c.key);
    observeAttempt("scheduled", c.started);
    return;
  }
  // The binding failed: forget the assumption and try again after a backoff
  // (1 s doubling to 10 s, as upstream's podInitialBackoff/podMaxBackoff),
  // unless the pod is gone or was bound by someone else.
  {
    std::lock_guard lock(snapshot_mu_);
    const PodInfo* assumed = snapshot_->pod(client::namespaceOf(*c.pod), client::nameOf(*c.pod));
    if (assumed) snapshot_->removePod(client::namespaceOf(*c.pod), client::nameOf(*c.pod));
  }
  LOG_DEBUG("binding failed", "pod", c.key, "node", c.node, "error", c.status.message());
  std::lock_guard lock(queue_mu_);
  in_flight_.erase(c.key);
  ++stats_.errors;
  observeAttempt("error", c.started);
  if (c.status.code() == Code::kNotFound || c.status.code() == Code::kConflict) return;
  int n = attempts_[c.key]++;
  auto delay = std::min(std::chrono::milliseconds(1000LL << std::min(n, 4)), std::chrono::milliseconds(10000));
  unschedulable_[c.key] = c.pod;
  backoff_.emplace(Clock::now() + delay, c.key);
  publishPending();
}

void SchedulerService::reportUnschedulable(const ObjectPtr& pod, const std::string& message) {
  for (const auto& c : field(*pod, "status").value("conditions", Json::array()))
    if (c.is_object() && c.value("type", "") == "PodScheduled" && c.value("status", "") == "False" &&
        c.value("message", "") == message)
      return;  // already said
  writes_.post([this, pod, message, now = SystemClock::instance().now()] {
    events_.record(*pod, "Warning", "FailedScheduling", message);
    Json patch = {{"status",
                   {{"conditions",
                     {{{"type", "PodScheduled"},
                       {"status", "False"},
                       {"reason", "Unschedulable"},
                       {"message", message},
                       {"lastProbeTime", nullptr},
                       {"lastTransitionTime", formatRfc3339(now)}}}}}}};
    client_.sendAsync({.method = "PATCH",
                       .path = client::res::kPods.path(client::namespaceOf(*pod), client::nameOf(*pod), "status"),
                       .body = patch.dump(),
                       .content_type = "application/strategic-merge-patch+json"});
  });
}

}  // namespace capstan::scheduler
