#include "controllers/job_controller.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "common/log.h"
#include "controllers/active_pods.h"
#include "controllers/job_indexes.h"
#include "controllers/object_fields.h"
#include "controllers/pod_template.h"

namespace capstan::controllers {
namespace {

constexpr const char* kTrackingFinalizer = "batch.kubernetes.io/job-tracking";
constexpr const char* kIndexKey = "batch.kubernetes.io/job-completion-index";
// Pods by the key ("ns/name") of the Job that controls them.
constexpr const char* kPodsByJob = "job-controller/job";
const OwnerKind kJobKind{"batch/v1", "Job"};

bool isFinished(const Json& job) { return conditionTrue(job, "Complete") || conditionTrue(job, "Failed"); }

// As upstream with podReplacementPolicy TerminatingOrFailed: a pod being
// deleted before it succeeded counts as failed (it may never get to report).
bool countsAsFailed(const Json& pod, bool only_failed_phase) {
  if (podPhase(pod) == "Failed") return true;
  return !only_failed_phase && isDeleting(pod) && podPhase(pod) != "Succeeded";
}

int podIndex(const Json& pod) {
  std::string s = stringField(objectField(metadataOf(pod), "annotations"), kIndexKey);
  if (s.empty()) s = stringField(labelsOf(pod), kIndexKey);
  if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), ::isdigit)) return -1;
  return std::stoi(s);
}

int64_t containerRestarts(const Json& pod) {
  int64_t n = 0;
  for (const char* list : {"initContainerStatuses", "containerStatuses"})
    for (const auto& cs : arrayField(statusOf(pod), list))
      n += std::max<int64_t>(0, intField(cs, "restartCount", 0));
  return n;
}

Json uidArray(const std::set<std::string>& uids) {
  Json a = Json::array();
  for (const auto& u : uids) a.push_back(u);
  return a;
}

}  // namespace

JobController::JobController(Context& ctx, JobControllerOptions opts)
    : Controller("job", ctx, 2), opts_(opts), expectations_(ctx.clock) {
  ctx.informers.get(client::res::kJobs).addHandlers(enqueueHandlers());
  auto& pods = ctx.informers.get(client::res::kPods);
  pods.addIndex(kPodsByJob, [](const Json& pod) {
    std::string k = controllerKey(pod, kJobKind);
    return k.empty() ? std::vector<std::string>{} : std::vector<std::string>{k};
  });
  pods.addHandlers({.on_add = [this](const ObjectPtr& p) { podChanged(nullptr, p, false); },
                    .on_update = [this](const ObjectPtr& o, const ObjectPtr& p) { podChanged(o, p, false); },
                    .on_delete = [this](const ObjectPtr& p) { podChanged(nullptr, p, true); }});
}

void JobController::podChanged(const ObjectPtr& old_pod, const ObjectPtr& pod, bool deleted) {
  std::string k = controllerKey(*pod, kJobKind);
  if (k.empty()) return;
  if (deleted || isDeleting(*pod))
    expectations_.deletionObserved(k, client::keyOf(*pod));
  else if (!old_pod)
    expectations_.creationObserved(k);
  queue().add(k);
}

Status JobController::removeTrackingFinalizer(const Json& pod) {
  const Json& fs = arrayField(metadataOf(pod), "finalizers");
  for (size_t i = 0; i < fs.size(); ++i) {
    if (fs[i] != kTrackingFinalizer) continue;
    std::string path = fmt::format("/metadata/finalizers/{}", i);
    Json patch = Json::array({{{"op", "test"}, {"path", path}, {"value", kTrackingFinalizer}},
                              {{"op", "remove"}, {"path", path}}});
    auto r = ctx_.client.patch(client::res::kPods, client::namespaceOf(pod), client::nameOf(pod),
                               client::PatchType::kJson, patch);
    if (!r && r.status().code() != Code::kNotFound) {
      // A failed test means the list moved under us: retry the whole sync.
      return r.status().code() == Code::kInvalid ? Status(Code::kConflict, r.status().message()) : r.status();
    }
    return Status::ok();
  }
  return Status::ok();
}

Status JobController::releaseOrphans(const std::string& key, const std::string& job_uid) {
  for (const auto& pod : ctx_.informers.get(client::res::kPods).byIndex(kPodsByJob, key))
    if (controllerUid(*pod) != job_uid && hasFinalizer(*pod, kTrackingFinalizer))
      if (Status st = removeTrackingFinalizer(*pod); !st) return st;
  return Status::ok();
}

Status JobController::deletePod(const Json& job, const std::string& key, const Json& pod) {
  // Pods the controller deletes itself are not failures: release them first.
  if (Status st = removeTrackingFinalizer(pod); !st) {
    expectations_.deletionObserved(key, client::keyOf(pod));
    return st;
  }
  Json opts = {
      {"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"preconditions", {{"uid", client::uidOf(pod)}}}};
  auto r = ctx_.client.remove(client::res::kPods, client::namespaceOf(pod), client::nameOf(pod), opts);
  if (!r) {
    // Already gone, or not deleted: no delete event will meet the expectation.
    expectations_.deletionObserved(key, client::keyOf(pod));
    if (r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict) {
      ctx_.events.record(withTypeMeta(job, kJobKind), "Warning", "FailedDelete", "Error deleting: " + r.status().message());
      return r.status();
    }
  }
  ctx_.events.record(withTypeMeta(job, kJobKind), "Normal", "SuccessfulDelete", "Deleted pod: " + client::nameOf(pod));
  return Status::ok();
}

Status JobController::createPods(const Json& job, const std::string& key, int count,
                                 const std::vector<int>& indexes) {
  const Json& tmpl = objectField(specOf(job), "template");
  std::string job_name = client::nameOf(job);
  for (int i = 0; i < count; ++i) {
    Json pod = podFromTemplate(tmpl, job, kJobKind);
    Json& meta = pod["metadata"];
    if (!meta.contains("finalizers")) meta["finalizers"] = Json::array();
    meta["finalizers"].push_back(kTrackingFinalizer);
    if (i < static_cast<int>(indexes.size())) {
      std::string ix = std::to_string(indexes[i]);
      meta["generateName"] = job_name + "-" + ix + "-";
      meta["annotations"][kIndexKey] = ix;
      meta["labels"][kIndexKey] = ix;
      Json& spec = pod["spec"];
      if (stringField(spec, "hostname").empty()) spec["hostname"] = job_name + "-" + ix;
      // JOB_COMPLETION_INDEX from the annotation, as upstream injects it.
      Json env = {{"name", "JOB_COMPLETION_INDEX"},
                  {"valueFrom",
                   {{"fieldRef", {{"fieldPath", fmt::format("metadata.annotations['{}']", kIndexKey)}}}}}};
      for (const char* list : {"initContainers", "containers"}) {
        if (!spec.contains(list) || !spec[list].is_array()) continue;
        for (auto& c : spec[list]) {
          if (!c.is_object()) continue;
          if (!c.contains("env") || !c["env"].is_array()) c["env"] = Json::array();
          bool has = std::any_of(c["env"].begin(), c["env"].end(), [](const Json& e) {
            return stringField(e, "name") == "JOB_COMPLETION_INDEX";
          });
          if (!has) c["env"].push_back(env);
        }
      }
    }
    auto r = ctx_.client.create(client::res::kPods, client::namespaceOf(job), pod);
    if (!r) {
      expectations_.lowerCreations(key, count - i);
      ctx_.events.record(withTypeMeta(job, kJobKind), "Warning", "FailedCreate", "Error creating: " + r.status().message());
      return r.status();
    }
    ctx_.events.record(withTypeMeta(job, kJobKind), "Normal", "SuccessfulCreate", "Created pod: " + client::nameOf(*r));
  }
  return Status::ok();
}

std::chrono::milliseconds JobController::failureDelay(const std::string& uid, int64_t failed) {
  using std::chrono::milliseconds;
  if (opts_.pod_failure_backoff.count() <= 0 || failed <= 0) return milliseconds(0);
  WallTime now = ctx_.clock.now();
  std::lock_guard lock(mu_);
  Failures& f = failures_[uid];
  if (failed > f.count) f = {failed, now};
  milliseconds delay = opts_.pod_failure_backoff;
  for (int64_t i = 1; i < failed && delay < opts_.max_pod_failure_backoff; ++i) delay *= 2;
  delay = std::min(delay, opts_.max_pod_failure_backoff);
  auto left = std::chrono::duration_cast<milliseconds>(f.at + delay - now);
  return std::max(left, milliseconds(0));
}

Status JobController::sync(const std::string& key) {
  auto job_ptr = ctx_.informers.get(client::res::kJobs).get(key);
  if (!job_ptr) {
    expectations_.remove(key);
    return releaseOrphans(key, "");
  }
  const Json& job = *job_ptr;
  const std::string uid = client::uidOf(job);
  if (Status st = releaseOrphans(key, uid); !st) return st;
  // Read before counting pods, as upstream's syncJob: the informer stores a
  // pod before its handler lowers the expectations, so an add landing
  // between the count and a later check would make a second pod.
  const bool satisfied = expectations_.satisfied(key);
  auto& pod_informer = ctx_.informers.get(client::res::kPods);
  std::vector<ObjectPtr> pods;
  for (auto& p : pod_informer.byIndex(kPodsByJob, key))
    if (controllerUid(*p) == uid) pods.push_back(p);

  if (isFinished(job)) {
    // Leftovers (a pod the cache had not shown when the Job finished) stop.
    for (const auto& p : pods) {
      Status st = isPodActive(*p) ? deletePod(job, key, *p) : removeTrackingFinalizer(*p);
      if (!st) return st;
    }
    return handleFinished(job, key);
  }

  const Json& spec = specOf(job);
  const bool indexed = stringField(spec, "completionMode") == "Indexed";
  const bool has_completions = hasInt(spec, "completions");
  const int64_t completions = std::clamp<int64_t>(intField(spec, "completions", 1), 0, 100000000);
  const int64_t parallelism = std::clamp<int64_t>(intField(spec, "parallelism", 1), 0, 100000000);
  const int64_t backoff_limit = std::max<int64_t>(0, intField(spec, "backoffLimit", 6));
  const bool suspend = boolField(spec, "suspend");
  const bool only_failed_phase = stringField(spec, "podReplacementPolicy") == "Failed";
  const bool on_failure =
      stringField(objectField(objectField(spec, "template"), "spec"), "restartPolicy") == "OnFailure";
  const WallTime now = ctx_.clock.now();

  Json status = statusOf(job);
  std::set<std::string> uncounted_ok, uncounted_failed;
  const Json& uncounted = objectField(status, "uncountedTerminatedPods");
  for (const auto& u : arrayField(uncounted, "succeeded"))
    if (u.is_string()) uncounted_ok.insert(u.get<std::string>());
  for (const auto& u : arrayField(uncounted, "failed"))
    if (u.is_string()) uncounted_failed.insert(u.get<std::string>());
  int64_t succeeded = std::max<int64_t>(0, intField(status, "succeeded", 0));
  int64_t failed = std::max<int64_t>(0, intField(status, "failed", 0));
  std::set<int> completed;
  if (indexed)
    completed = parseIndexes(stringField(status, "completedIndexes"), static_cast<int>(completions));

  // Uids recorded as uncounted whose finalizer is gone are counted for good.
  std::map<std::string, const Json*> by_uid;
  for (const auto& p : pods) by_uid[client::uidOf(*p)] = p.get();
  auto released = [&](const std::string& u) {
    auto it = by_uid.find(u);
    return it == by_uid.end() || !hasFinalizer(*it->second, kTrackingFinalizer);
  };
  std::erase_if(uncounted_ok,
                [&](const std::string& u) { return released(u) ? (++succeeded, true) : false; });
  std::erase_if(uncounted_failed,
                [&](const std::string& u) { return released(u) ? (++failed, true) : false; });

  // Finished pods still holding the finalizer are recorded now and
  // released once that record is written.
  std::vector<const Json*> to_release;
  std::vector<ObjectPtr> active_pods;
  int64_t ready = 0, terminating = 0, restarts = 0;
  bool any_tracked = false;
  for (const auto& p : pods) {
    const Json& pod = *p;
    if (isPodActive(pod)) {
      active_pods.push_back(p);
      ready += isPodReady(pod) ? 1 : 0;
      restarts += containerRestarts(pod);
    } else if (!isPodTerminal(pod)) {
      ++terminating;
    }
    if (!hasFinalizer(pod, kTrackingFinalizer)) continue;
    any_tracked = true;
    if (podPhase(pod) == "Succeeded") {
      if (!indexed) uncounted_ok.insert(client::uidOf(pod));
      int ix = podIndex(pod);
      if (indexed && ix >= 0 && ix < completions) completed.insert(ix);
      to_release.push_back(&pod);
    } else if (countsAsFailed(pod, only_failed_phase)) {
      uncounted_failed.insert(client::uidOf(pod));
      to_release.push_back(&pod);
    }
  }
  const int64_t active = static_cast<int64_t>(active_pods.size());
  const int64_t total_succeeded =
      indexed ? static_cast<int64_t>(completed.size()) : succeeded + uncounted_ok.size();
  const int64_t total_failed = failed + static_cast<int64_t>(uncounted_failed.size());

  if (!suspend && !status.contains("startTime")) status["startTime"] = formatRfc3339(now);
  const bool has_deadline = hasInt(spec, "activeDeadlineSeconds");
  const auto deadline = [&]() -> std::optional<WallTime> {
    auto start = timeField(status, "startTime");
    if (!has_deadline || !start) return std::nullopt;
    return *start + std::chrono::seconds(std::max<int64_t>(0, intField(spec, "activeDeadlineSeconds", 0)));
  };

  // Failure first, as upstream: a failing Job never turns successful.
  std::string fail_reason, fail_message;
  if (const Json* c = findCondition(job, "FailureTarget"); c && stringField(*c, "status") == "True") {
    fail_reason = stringField(*c, "reason");
    fail_message = stringField(*c, "message");
  } else if (total_failed > backoff_limit ||
             (on_failure && (backoff_limit == 0 ? restarts > 0 : restarts >= backoff_limit))) {
    fail_reason = "BackoffLimitExceeded";
    fail_message = "Job has reached the specified backoff limit";
  } else if (!suspend && deadline() && now >= *deadline()) {
    fail_reason = "DeadlineExceeded";
    fail_message = "Job was active longer than specified deadline";
  }
  bool success = false;
  if (fail_reason.empty()) {
    if (conditionTrue(job, "SuccessCriteriaMet"))
      success = true;
    else if (indexed || has_completions)
      success = total_succeeded >= completions;
    else
      success = total_succeeded > 0 && active == 0;  // a work queue: done when one succeeded and all stopped
  }
  // The terminal condition waits until every pod has stopped and been counted.
  // (and until the cache shows the controller's own pod writes).
  const bool all_done = !any_tracked && uncounted_ok.empty() && uncounted_failed.empty() && active == 0 &&
                        terminating == 0 && satisfied;

  const Json job_ref = withTypeMeta(job, kJobKind);
  std::vector<ObjectPtr> to_delete;
  int to_create = 0;
  std::vector<int> new_indexes;
  if (!fail_reason.empty()) {
    if (setCondition(status, "FailureTarget", "True", fail_reason, fail_message, now))
      ctx_.events.record(job_ref, "Warning", fail_reason, fail_message);
    to_delete = active_pods;
    if (all_done) setCondition(status, "Failed", "True", fail_reason, fail_message, now);
  } else if (success) {
    const std::string msg = "Reached expected number of succeeded pods";
    setCondition(status, "SuccessCriteriaMet", "True", "CompletionsReached", msg, now);
    to_delete = active_pods;
    if (all_done) {
      setCondition(status, "Complete", "True", "CompletionsReached", msg, now);
      status["completionTime"] = formatRfc3339(now);
      ctx_.events.record(job_ref, "Normal", "Completed", "Job completed");
    }
  } else if (suspend) {
    if (setCondition(status, "Suspended", "True", "JobSuspended", "Job suspended", now))
      ctx_.events.record(job_ref, "Normal", "Suspended", "Job suspended");
    to_delete = active_pods;
  } else {
    if (conditionTrue(job, "Suspended")) {
      setCondition(status, "Suspended", "False", "JobResumed", "Job resumed", now);
      status["startTime"] = formatRfc3339(now);  // the deadline restarts on resume
      ctx_.events.record(job_ref, "Normal", "Resumed", "Job resumed");
    }
    if (satisfied) {
      if (indexed) {
        std::map<int, std::vector<ObjectPtr>> by_index;
        for (const auto& p : active_pods) {
          int ix = podIndex(*p);
          if (ix < 0 || ix >= completions || completed.count(ix))
            to_delete.push_back(p);
          else
            by_index[ix].push_back(p);
        }
        for (auto& [ix, list] : by_index) {  // duplicates: keep the best one
          rankPodsForDeletion(list, active_pods, now);
          to_delete.insert(to_delete.end(), list.begin(), list.end() - 1);
        }
        int64_t running = static_cast<int64_t>(by_index.size());
        for (auto it = by_index.rbegin(); it != by_index.rend() && running > parallelism; ++it, --running)
          to_delete.push_back(it->second.back());
        for (int ix = 0; ix < completions && running + static_cast<int64_t>(new_indexes.size()) < parallelism;
             ++ix)
          if (!completed.count(ix) && !by_index.count(ix)) new_indexes.push_back(ix);
        to_create = static_cast<int>(new_indexes.size());
      } else {
        int64_t want = !has_completions
                           ? (total_succeeded > 0 ? active : parallelism)
                           : std::min(parallelism, std::max<int64_t>(0, completions - total_succeeded));
        if (active > want) {
          rankPodsForDeletion(active_pods, active_pods, now);
          to_delete.assign(active_pods.begin(), active_pods.begin() + (active - want));
        } else {
          to_create = static_cast<int>(std::min<int64_t>(want - active, 500));  // a burst cap per sync
        }
      }
      if (to_create > 0) {
        auto delay = failureDelay(uid, total_failed);
        if (delay.count() > 0) {
          queue().addAfter(key, delay);
          to_create = 0;
          new_indexes.clear();
        }
      }
    }
    if (auto d = deadline()) queue().addAfter(key, *d - now + std::chrono::milliseconds(1));
  }

  auto setCount = [&](const char* field, int64_t v) {
    if (v > 0)
      status[field] = v;
    else
      status.erase(field);
  };
  setCount("active", active);
  setCount("succeeded", total_succeeded - static_cast<int64_t>(uncounted_ok.size()));
  setCount("failed", failed);
  status["ready"] = ready;
  status["terminating"] = terminating;
  if (indexed && !completed.empty())
    status["completedIndexes"] = formatIndexes(completed);
  else
    status.erase("completedIndexes");
  Json unc = Json::object();
  if (!uncounted_ok.empty()) unc["succeeded"] = uidArray(uncounted_ok);
  if (!uncounted_failed.empty()) unc["failed"] = uidArray(uncounted_failed);
  status["uncountedTerminatedPods"] = unc;
  if (status != statusOf(job)) {
    Json updated = job;
    updated["status"] = status;
    auto r = ctx_.client.update(client::res::kJobs, client::namespaceOf(job), updated, "status");
    if (!r) return r.status();
  }

  for (const Json* pod : to_release)
    if (Status st = removeTrackingFinalizer(*pod); !st) return st;
  // Act on pods only once the cache shows the previous round's writes.
  if (!to_delete.empty() && satisfied) {
    std::vector<std::string> keys;
    for (const auto& p : to_delete) keys.push_back(client::keyOf(*p));
    expectations_.expectDeletions(key, keys);
    Status first_error;
    for (const auto& p : to_delete)
      if (Status st = deletePod(job, key, *p); !st && first_error) first_error = st;
    if (!first_error) return first_error;
  }
  if (to_create > 0) {
    expectations_.expectCreations(key, to_create);
    return createPods(job, key, to_create, new_indexes);
  }
  return Status::ok();
}

Status JobController::handleFinished(const Json& job, const std::string& key) {
  {
    std::lock_guard lock(mu_);
    failures_.erase(client::uidOf(job));
  }
  expectations_.remove(key);
  const Json& spec = specOf(job);
  if (!hasInt(spec, "ttlSecondsAfterFinished")) return Status::ok();
  int64_t ttl = std::max<int64_t>(0, intField(spec, "ttlSecondsAfterFinished", 0));
  auto finished_at = timeField(statusOf(job), "completionTime");
  if (!finished_at)
    for (const char* t : {"Complete", "Failed"})
      if (const Json* c = findCondition(job, t); c && !finished_at)
        finished_at = timeField(*c, "lastTransitionTime");
  if (!finished_at) return Status::ok();
  WallTime expire = *finished_at + std::chrono::seconds(ttl);
  WallTime now = ctx_.clock.now();
  if (now < expire) {
    queue().addAfter(key, expire - now);
    return Status::ok();
  }
  // As upstream's TTL controller: check the live object before deleting.
  auto [ns, name] = client::splitKey(key);
  auto live = ctx_.client.get(client::res::kJobs, ns, name);
  if (!live) return live.status().code() == Code::kNotFound ? Status::ok() : live.status();
  if (client::uidOf(*live) != client::uidOf(job) || !isFinished(*live) ||
      intField(specOf(*live), "ttlSecondsAfterFinished", -1) != ttl)
    return Status::ok();  // changed since: its own event re-syncs it
  Json opts = {{"kind", "DeleteOptions"},
               {"apiVersion", "v1"},
               {"propagationPolicy", "Background"},
               {"preconditions",
                {{"uid", client::uidOf(*live)},
                 {"resourceVersion", stringField(metadataOf(*live), "resourceVersion")}}}};
  auto r = ctx_.client.remove(client::res::kJobs, ns, name, opts);
  if (!r && r.status().code() != Code::kNotFound) return r.status();
  LOG_INFO("deleted finished job after its TTL", "job", key);
  return Status::ok();
}

}  // namespace capstan::controllers
