// The CronJob controller against a real API server, with a fake clock that
// the test moves past schedule times (then enqueues the CronJob).
#include "controller_fixture.h"
#include "controllers/cronjob_controller.h"

namespace capstan::controllers::testing {
namespace {

using client::res::kCronJobs;
using client::res::kJobs;
using namespace std::chrono;

Json cronJob(const std::string& name, Json spec_extra = Json::object()) {
  Json spec = {{"schedule", "* * * * *"},
               {"jobTemplate",
                {{"metadata", {{"labels", {{"from", name}}}}},
                 {"spec",
                  {{"template",
                    {{"spec",
                      {{"restartPolicy", "Never"},
                       {"containers", Json::array({{{"name", "c"}, {"image", "busybox"}}})}}}}}}}}}};
  spec.update(spec_extra);
  return {{"apiVersion", "batch/v1"},
          {"kind", "CronJob"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", spec}};
}

class CronJobTest : public ControllerFixture {
 protected:
  void SetUp() override {
    ControllerFixture::SetUp();
    controller_ptr_ = &start(std::make_unique<CronJobController>(*ctx_));
  }
  // Moves the clock to `secs` seconds past the minute `jump` after the next
  // one, in one step, and syncs the CronJob. One step matters: a sync the
  // informer's add triggers may run at any moment, and must see either the
  // old time or the new one, never a time between.
  int64_t tick(const std::string& name, int secs = 5, minutes jump = minutes(0)) {
    // The server stamps creationTimestamp with the real clock, which may
    // have crossed a minute boundary since the fake clock was set.
    Json cj = get(kCronJobs, name);
    if (cj.is_object() && cj.contains("metadata"))
      if (auto created = parseRfc3339(cj["metadata"].value("creationTimestamp", ""));
          created && *created > clock_.now())
        clock_.set(*created);
    auto next = floor<minutes>(clock_.now()) + minutes(1) + jump;
    clock_.set(next + seconds(secs));
    controller_ptr_->queue().add("default/" + name);
    return duration_cast<minutes>(next.time_since_epoch()).count();
  }
  std::vector<std::string> jobNames(const std::string& cj) {
    std::vector<std::string> out;
    for (auto& j : list(kJobs, "from=" + cj))
      if (!j["metadata"].contains("deletionTimestamp")) out.push_back(j["metadata"]["name"]);
    std::sort(out.begin(), out.end());
    return out;
  }
  void finishJob(const std::string& name, const std::string& type = "Complete") {
    std::string now = formatRfc3339(clock_.now());
    Json status = {
        {"conditions", Json::array({{{"type", type}, {"status", "True"}, {"lastTransitionTime", now}}})},
        {"startTime", now}};
    if (type == "Complete") status["completionTime"] = now;
    auto r =
        client_->patch(kJobs, "default", name, client::PatchType::kMerge, {{"status", status}}, "status");
    ASSERT_TRUE(r) << r.status().message();
  }
  Json status(const std::string& cj) { return get(kCronJobs, cj).value("status", Json::object()); }

  CronJobController* controller_ptr_ = nullptr;
};

TEST_F(CronJobTest, CreatesAJobAtEachScheduleTimeAndTracksIt) {
  ASSERT_TRUE(client_->create(kCronJobs, "default", cronJob("every", {{"successfulJobsHistoryLimit", 1}})));
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(jobNames("every").empty());  // nothing before the first schedule time

  int64_t m1 = tick("every");
  std::string first = "every-" + std::to_string(m1);
  ASSERT_TRUE(eventually([&] { return jobNames("every") == std::vector<std::string>{first}; }));
  Json job = get(kJobs, first);
  EXPECT_EQ(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
  EXPECT_EQ(job["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"],
            formatRfc3339(WallTime(minutes(m1))));
  ASSERT_TRUE(eventually([&] { return status("every").value("active", Json::array()).size() == 1; }));
  EXPECT_EQ(status("every")["active"][0]["name"], first);
  EXPECT_EQ(status("every")["lastScheduleTime"], formatRfc3339(WallTime(minutes(m1))));
  EXPECT_TRUE(hasEvent("SuccessfulCreate", "Created job " + first));

  finishJob(first);
  ASSERT_TRUE(eventually(
      [&] { return !status("every").contains("active") && status("every").contains("lastSuccessfulTime"); }));

  int64_t m2 = tick("every");
  std::string second = "every-" + std::to_string(m2);
  ASSERT_TRUE(eventually([&] { return jobNames("every").size() == 2; }));
  finishJob(second);
  // History: one successful Job kept, the older one deleted.
  ASSERT_TRUE(eventually([&] { return jobNames("every") == std::vector<std::string>{second}; }));
}

TEST_F(CronJobTest, ForbidSkipsWhileAJobRunsAndReplaceReplacesIt) {
  ASSERT_TRUE(client_->create(kCronJobs, "default", cronJob("forbid", {{"concurrencyPolicy", "Forbid"}})));
  int64_t m1 = tick("forbid");
  ASSERT_TRUE(eventually([&] { return jobNames("forbid").size() == 1; }));
  ASSERT_TRUE(eventually([&] { return status("forbid").contains("active"); }));
  tick("forbid");
  ASSERT_TRUE(eventually([&] { return hasEvent("JobAlreadyActive"); }));
  EXPECT_EQ(jobNames("forbid"), std::vector<std::string>{"forbid-" + std::to_string(m1)});

  ASSERT_TRUE(client_->patch(kCronJobs, "default", "forbid", client::PatchType::kMerge,
                             {{"spec", {{"concurrencyPolicy", "Replace"}}}}));
  std::this_thread::sleep_for(50ms);
  int64_t m3 = tick("forbid");
  ASSERT_TRUE(eventually(
      [&] { return jobNames("forbid") == std::vector<std::string>{"forbid-" + std::to_string(m3)}; }));
  ASSERT_TRUE(eventually([&] {
    auto a = status("forbid").value("active", Json::array());
    return a.size() == 1 && a[0]["name"] == "forbid-" + std::to_string(m3);
  }));
}

TEST_F(CronJobTest, SuspendedCronJobsCreateNothing) {
  ASSERT_TRUE(client_->create(kCronJobs, "default", cronJob("sus", {{"suspend", true}})));
  tick("sus");
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(jobNames("sus").empty());
  ASSERT_TRUE(client_->patch(kCronJobs, "default", "sus", client::PatchType::kMerge,
                             {{"spec", {{"suspend", false}}}}));
  ASSERT_TRUE(eventually([&] { return jobNames("sus").size() == 1; }));  // the missed run starts on resume
}

TEST_F(CronJobTest, StartingDeadlineSkipsLateRuns) {
  ASSERT_TRUE(client_->create(kCronJobs, "default", cronJob("late", {{"startingDeadlineSeconds", 10}})));
  tick("late", 30);  // 30 s late for a 10 s deadline
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(jobNames("late").empty());
  int64_t m = tick("late", 5);
  ASSERT_TRUE(
      eventually([&] { return jobNames("late") == std::vector<std::string>{"late-" + std::to_string(m)}; }));
}

TEST_F(CronJobTest, ManyMissedSchedulesWarnAndRunTheLatest) {
  ASSERT_TRUE(client_->create(kCronJobs, "default", cronJob("missed")));
  int64_t m = tick("missed", 5, hours(3));
  ASSERT_TRUE(eventually(
      [&] { return jobNames("missed") == std::vector<std::string>{"missed-" + std::to_string(m)}; }));
  EXPECT_TRUE(eventually([&] { return hasEvent("TooManyMissedTimes", "too many missed start times"); }));
}

TEST_F(CronJobTest, TimeZonesAndBadSchedulesAreReported) {
  ASSERT_TRUE(client_->create(kCronJobs, "default", cronJob("tz", {{"timeZone", "Asia/Kolkata"}})));
  int64_t m = tick("tz");
  ASSERT_TRUE(eventually([&] { return jobNames("tz").size() == 1; }));
  std::string stamp = get(
      kJobs, "tz-" + std::to_string(
                         m))["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"];
  EXPECT_TRUE(stamp.ends_with("+05:30")) << stamp;
  // Bypass validation by writing a bad zone the way an old object might carry it.
  auto bad = client_->create(kCronJobs, "default", cronJob("badtz", {{"timeZone", "Nowhere/Atlantis"}}));
  if (bad) {
    tick("badtz");
    EXPECT_TRUE(eventually([&] { return hasEvent("UnknownTimeZone"); }));
  }
}

}  // namespace
}  // namespace capstan::controllers::testing
