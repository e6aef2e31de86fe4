#include "controllers/cronjob_controller.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "common/log.h"
#include "controllers/cron_schedule.h"
#include "controllers/object_fields.h"
#include "controllers/pod_template.h"

namespace capstan::controllers {
namespace {

using namespace std::chrono;

// Jobs by the key ("ns/name") of the CronJob that controls them.
constexpr const char* kJobsByCronJob = "cronjob-controller/cronjob";
constexpr const char* kScheduledAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp";
const OwnerKind kCronJobKind{"batch/v1", "CronJob"};

std::string ownerKey(const Json& job) {
  const Json* ref = controllerRefOf(job);
  if (!ref || stringField(*ref, "kind") != "CronJob") return "";
  return stringField(metadataOf(job), "namespace") + "/" + stringField(*ref, "name");
}

// "" while running, else "Complete" or "Failed".
std::string finishedAs(const Json& job) {
  for (const char* t : {"Complete", "Failed"})
    if (conditionTrue(job, t)) return t;
  return "";
}

std::optional<SysSeconds> sysTime(const Json& obj, std::string_view key) {
  auto t = timeField(obj, key);
  if (!t) return std::nullopt;
  return floor<seconds>(*t);
}

struct Schedules {
  std::optional<SysSeconds> most_recent;  // the latest schedule time in (earliest, now]
  int64_t missed = 0;                     // about how many, as upstream estimates
};

// Upstream's mostRecentScheduleTime: the schedule times after the last one
// run (or creation), bounded by startingDeadlineSeconds.
Schedules unmetSchedules(const CronSchedule& sched, const TimeZone& zone, SysSeconds earliest,
                         SysSeconds now) {
  Schedules out;
  auto t1 = sched.next(earliest, zone);
  if (!t1 || *t1 > now) return out;
  auto t2 = sched.next(*t1, zone);
  if (!t2 || *t2 > now) {
    out.most_recent = t1;
    out.missed = 1;
    return out;
  }
  auto interval = *t2 - *t1;
  out.missed = interval.count() > 0 ? (now - *t1) / interval + 1 : 2;
  // Find the latest schedule time <= now looking back over growing windows,
  // so that a long outage does not walk every minute since.
  for (seconds back : {interval * 2, seconds(hours(24)), seconds(days(8)), seconds(days(63)),
                       seconds(days(400)), seconds(days(5 * 366))}) {
    SysSeconds from = std::max(earliest, now - back);
    auto t = sched.next(from, zone);
    if (!t || *t > now) continue;
    for (int i = 0; i < 100000; ++i) {
      auto n = sched.next(*t, zone);
      if (!n || *n > now) break;
      t = n;
    }
    out.most_recent = t;
    return out;
  }
  out.most_recent = t2;
  return out;
}

// RFC 3339 in the CronJob's zone, as upstream writes the scheduled time.
std::string rfc3339InZone(SysSeconds t, const TimeZone& zone) {
  auto local = zone.toLocal(t);
  auto day = floor<days>(local);
  year_month_day ymd{day};
  hh_mm_ss hms{local - day};
  int64_t mins = zone.offsetAt(t).count() / 60;
  std::string suffix = mins == 0 ? "Z"
                                 : fmt::format("{}{:02}:{:02}", mins < 0 ? '-' : '+', std::abs(mins) / 60,
                                               std::abs(mins) % 60);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count(), suffix);
}

Json jobReference(const Json& job) {
  const Json& m = metadataOf(job);
  return {{"apiVersion", "batch/v1"},       {"kind", "Job"},
          {"name", stringField(m, "name")}, {"namespace", stringField(m, "namespace")},
          {"uid", stringField(m, "uid")},   {"resourceVersion", stringField(m, "resourceVersion")}};
}

}  // namespace

CronJobController::CronJobController(Context& ctx) : Controller("cronjob", ctx, 2) {
  ctx.informers.get(client::res::kCronJobs).addHandlers(enqueueHandlers());
  auto& jobs = ctx.informers.get(client::res::kJobs);
  jobs.addIndex(kJobsByCronJob, [](const Json& job) {
    std::string k = ownerKey(job);
    return k.empty() ? std::vector<std::string>{} : std::vector<std::string>{k};
  });
  jobs.addHandlers({.on_add = [this](const ObjectPtr& j) { jobChanged(j); },
                    .on_update = [this](const ObjectPtr&, const ObjectPtr& j) { jobChanged(j); },
                    .on_delete = [this](const ObjectPtr& j) { jobChanged(j); }});
}

void CronJobController::jobChanged(const ObjectPtr& job) {
  std::string k = ownerKey(*job);
  if (!k.empty()) queue().add(k);
}

Status CronJobController::deleteJob(const Json& cj, const Json& job) {
  Json opts = {{"kind", "DeleteOptions"},
               {"apiVersion", "v1"},
               {"propagationPolicy", "Background"},
               {"preconditions", {{"uid", client::uidOf(job)}}}};
  auto r = ctx_.client.remove(client::res::kJobs, client::namespaceOf(job), client::nameOf(job), opts);
  if (!r && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict) {
    ctx_.events.record(withTypeMeta(cj, kCronJobKind), "Warning", "FailedDelete",
                       fmt::format("Deleted job: {}", r.status().message()));
    return r.status();
  }
  ctx_.events.record(withTypeMeta(cj, kCronJobKind), "Normal", "SuccessfulDelete",
                     fmt::format("Deleted job {}", client::nameOf(job)));
  return Status::ok();
}

Status CronJobController::cleanupHistory(const Json& cj, const std::vector<ObjectPtr>& jobs) {
  const Json& spec = specOf(cj);
  for (const char* kind : {"Complete", "Failed"}) {
    const char* field =
        std::string_view(kind) == "Complete" ? "successfulJobsHistoryLimit" : "failedJobsHistoryLimit";
    if (!hasInt(spec, field)) continue;  // unset: keep them all, as upstream
    int64_t limit = std::max<int64_t>(0, intField(spec, field, 0));
    std::vector<ObjectPtr> finished;
    for (const auto& j : jobs)
      if (finishedAs(*j) == kind && !isDeleting(*j)) finished.push_back(j);
    if (static_cast<int64_t>(finished.size()) <= limit) continue;
    // Oldest first, by start time then creation time.
    auto started = [](const Json& j) {
      std::string s = stringField(statusOf(j), "startTime");
      return s.empty() ? stringField(metadataOf(j), "creationTimestamp") : s;
    };
    std::sort(finished.begin(), finished.end(),
              [&](const ObjectPtr& a, const ObjectPtr& b) { return started(*a) < started(*b); });
    for (size_t i = 0; i + limit < finished.size(); ++i)
      if (Status st = deleteJob(cj, *finished[i]); !st) return st;
  }
  return Status::ok();
}

Status CronJobController::sync(const std::string& key) {
  auto cj_ptr = ctx_.informers.get(client::res::kCronJobs).get(key);
  if (!cj_ptr) return Status::ok();
  const Json& cj = *cj_ptr;
  const Json cj_ref = withTypeMeta(cj, kCronJobKind);
  const std::string uid = client::uidOf(cj);
  const Json& spec = specOf(cj);
  const SysSeconds now = floor<seconds>(ctx_.clock.now());

  std::vector<ObjectPtr> jobs;
  for (const auto& j : ctx_.informers.get(client::res::kJobs).byIndex(kJobsByCronJob, key))
    if (controllerUid(*j) == uid) jobs.push_back(j);

  // Reconcile status.active with the Jobs that exist.
  Json status = statusOf(cj);
  Json active = Json::array();
  std::set<std::string> active_uids;
  for (const auto& ref : arrayField(status, "active")) {
    if (!ref.is_object()) continue;
    std::string ref_uid = stringField(ref, "uid");
    auto it = std::find_if(jobs.begin(), jobs.end(),
                           [&](const ObjectPtr& j) { return client::uidOf(*j) == ref_uid; });
    if (it == jobs.end()) {
      // Our cache may lag behind a Job we just created: ask the API.
      auto live = ctx_.client.get(client::res::kJobs, stringField(ref, "namespace", client::namespaceOf(cj)),
                                  stringField(ref, "name"));
      if (live && client::uidOf(*live) == ref_uid) {
        active.push_back(ref);
        active_uids.insert(ref_uid);
        continue;
      }
      if (!live && live.status().code() != Code::kNotFound) return live.status();
      ctx_.events.record(cj_ref, "Normal", "MissingJob",
                         "Active job went missing: " + stringField(ref, "name"));
      continue;
    }
    std::string done = finishedAs(**it);
    if (done.empty()) {
      active.push_back(jobReference(**it));
      active_uids.insert(ref_uid);
      continue;
    }
    ctx_.events.record(cj_ref, "Normal", "SawCompletedJob",
                       fmt::format("Saw completed job: {}, condition: {}", client::nameOf(**it), done));
  }
  for (const auto& j : jobs) {
    if (!finishedAs(*j).empty() || active_uids.count(client::uidOf(*j))) continue;
    active.push_back(jobReference(*j));
    active_uids.insert(client::uidOf(*j));
  }
  for (const auto& j : jobs) {
    if (finishedAs(*j) != "Complete") continue;
    auto done_at = sysTime(statusOf(*j), "completionTime");
    auto last = sysTime(status, "lastSuccessfulTime");
    if (done_at && (!last || *done_at > *last)) status["lastSuccessfulTime"] = formatRfc3339(*done_at);
  }
  if (active.empty())
    status.erase("active");
  else
    status["active"] = active;

  auto writeStatus = [&]() -> Status {
    if (status == statusOf(cj)) return Status::ok();
    Json updated = cj;
    updated["status"] = status;
    auto r = ctx_.client.update(client::res::kCronJobs, client::namespaceOf(cj), updated, "status");
    return r ? Status::ok() : r.status();
  };
  auto finish = [&]() -> Status {
    if (Status st = writeStatus(); !st) return st;
    return cleanupHistory(cj, jobs);
  };

  if (isDeleting(cj)) return finish();
  auto zone = TimeZone::load(stringField(spec, "timeZone"));
  if (!zone) {
    ctx_.events.record(
        cj_ref, "Warning", "UnknownTimeZone",
        fmt::format("invalid timeZone: \"{}\": {}", stringField(spec, "timeZone"), zone.status().message()));
    return finish();
  }
  auto sched = CronSchedule::parse(stringField(spec, "schedule"));
  if (!sched) {
    ctx_.events.record(cj_ref, "Warning", "UnparseableSchedule",
                       fmt::format("unparseable schedule: \"{}\" : {}", stringField(spec, "schedule"),
                                   sched.status().message()));
    return finish();
  }
  if (boolField(spec, "suspend")) return finish();

  auto requeueNext = [&]() {
    if (auto n = sched->next(now, **zone)) queue().addAfter(key, *n - now + milliseconds(100));
  };

  auto created = sysTime(metadataOf(cj), "creationTimestamp");
  SysSeconds earliest = sysTime(status, "lastScheduleTime").value_or(created.value_or(now));
  const bool has_deadline = hasInt(spec, "startingDeadlineSeconds");
  const seconds deadline(std::max<int64_t>(0, intField(spec, "startingDeadlineSeconds", 0)));
  if (has_deadline) earliest = std::max(earliest, now - deadline);
  Schedules unmet = unmetSchedules(*sched, **zone, earliest, now);
  if (unmet.missed > 100)
    ctx_.events.record(
        cj_ref, "Warning", "TooManyMissedTimes",
        fmt::format("too many missed start times: {}. Set or decrease .spec.startingDeadlineSeconds "
                    "or check clock skew",
                    unmet.missed));
  if (!unmet.most_recent) {
    requeueNext();
    return finish();
  }
  const SysSeconds scheduled = *unmet.most_recent;
  if (has_deadline && scheduled + deadline < now) {
    ctx_.events.record(cj_ref, "Warning", "MissSchedule",
                       fmt::format("Missed scheduled time to start a job: {}", formatRfc3339(scheduled)));
    requeueNext();
    return finish();
  }
  const std::string job_name =
      fmt::format("{}-{}", client::nameOf(cj), duration_cast<minutes>(scheduled.time_since_epoch()).count());
  bool already = sysTime(status, "lastScheduleTime") == scheduled;
  for (const auto& ref : active)
    if (stringField(ref, "name") == job_name) already = true;
  if (already) {
    requeueNext();
    return finish();
  }
  std::string policy = stringField(spec, "concurrencyPolicy", "Allow");
  if (policy == "Forbid" && !active.empty()) {
    ctx_.events.record(
        cj_ref, "Normal", "JobAlreadyActive",
        "Not starting job because prior execution is running and concurrency policy is Forbid");
    requeueNext();
    return finish();
  }
  if (policy == "Replace") {
    for (const auto& ref : active)
      for (const auto& j : jobs)
        if (client::uidOf(*j) == stringField(ref, "uid"))
          if (Status st = deleteJob(cj, *j); !st) return st;
    active = Json::array();
    status.erase("active");
  }

  // The Job, from the template.
  const Json& tmpl = objectField(spec, "jobTemplate");
  Json meta = {{"name", job_name}, {"namespace", client::namespaceOf(cj)}};
  for (const char* f : {"labels", "annotations"})
    if (const Json& m = objectField(objectField(tmpl, "metadata"), f); !m.empty()) meta[f] = m;
  meta["annotations"][kScheduledAnnotation] = rfc3339InZone(scheduled, **zone);
  meta["ownerReferences"] = Json::array({controllerRef(cj, kCronJobKind)});
  Json job = {
      {"apiVersion", "batch/v1"}, {"kind", "Job"}, {"metadata", meta}, {"spec", objectField(tmpl, "spec")}};
  auto r = ctx_.client.create(client::res::kJobs, client::namespaceOf(cj), job);
  Json made;
  if (r) {
    made = *r;
    ctx_.events.record(cj_ref, "Normal", "SuccessfulCreate", "Created job " + job_name);
  } else if (r.status().code() == Code::kAlreadyExists) {
    auto existing = ctx_.client.get(client::res::kJobs, client::namespaceOf(cj), job_name);
    if (!existing) return existing.status();
    if (controllerUid(*existing) != uid) {
      ctx_.events.record(
          cj_ref, "Warning", "FailedCreate",
          fmt::format("Error creating job: job {} exists and is not owned by this CronJob", job_name));
      requeueNext();
      return finish();
    }
    made = *existing;
  } else {
    ctx_.events.record(cj_ref, "Warning", "FailedCreate", "Error creating job: " + r.status().message());
    return r.status();
  }
  if (finishedAs(made).empty() && !active_uids.count(client::uidOf(made))) {
    active.push_back(jobReference(made));
    status["active"] = active;
  }
  status["lastScheduleTime"] = formatRfc3339(WallTime(scheduled));
  requeueNext();
  return finish();
}

}  // namespace capstan::controllers
