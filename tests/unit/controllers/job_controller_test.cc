// The Job controller against a real API server; the test plays the node
// agent by patching pod status.
#include "controllers/job_controller.h"

#include "controller_fixture.h"
#include "controllers/job_indexes.h"

namespace capstan::controllers::testing {
namespace {

using client::res::kJobs;
using client::res::kPods;

Json job(const std::string& name, Json spec_extra = Json::object()) {
  Json containers = Json::array({{{"name", "c"}, {"image", "busybox"}}});
  Json spec = {{"template", {{"spec", {{"restartPolicy", "Never"}, {"containers", containers}}}}}};
  spec.update(spec_extra);
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", spec}};
}

// The condition of `type` (an empty object when absent).
Json condition(const Json& obj, const std::string& type) {
  if (!obj.is_object() || !obj.contains("status") || !obj["status"].contains("conditions"))
    return Json::object();
  for (const auto& c : obj["status"]["conditions"])
    if (c.value("type", "") == type) return c;
  return Json::object();
}

class JobControllerTest : public ControllerFixture {
 protected:
  JobController& startJobs() {
    return start(std::make_unique<JobController>(*ctx_, JobControllerOptions{.pod_failure_backoff = 0ms}));
  }
  // Pods of the job that are neither finished nor being deleted.
  std::vector<Json> activePods(const std::string& job_name) {
    std::vector<Json> out;
    for (auto& p : list(kPods, "batch.kubernetes.io/job-name=" + job_name)) {
      std::string phase = p.contains("status") ? p["status"].value("phase", "") : "";
      if (phase != "Succeeded" && phase != "Failed" && !p["metadata"].contains("deletionTimestamp"))
        out.push_back(p);
    }
    return out;
  }
  Json jobStatus(const std::string& name) {
    Json j = get(kJobs, name);
    return j.is_object() && j.contains("status") ? j["status"] : Json::object();
  }
  bool waitForActive(const std::string& job_name, size_t n) {
    return eventually([&] { return activePods(job_name).size() == n; });
  }
  bool jobCondition(const std::string& name, const std::string& type) {
    return eventually([&] { return condition(get(kJobs, name), type).value("status", "") == "True"; });
  }
};

TEST_F(JobControllerTest, RunsCompletionsWithParallelismAndCompletes) {
  startJobs();
  auto created = client_->create(kJobs, "default", job("pi", {{"completions", 3}, {"parallelism", 2}}));
  ASSERT_TRUE(created) << created.status().message();
  std::string uid = (*created)["metadata"]["uid"];
  ASSERT_TRUE(waitForActive("pi", 2));

  Json pod = activePods("pi")[0];
  const Json& meta = pod["metadata"];
  EXPECT_EQ(meta["generateName"], "pi-");
  EXPECT_EQ(meta["labels"]["batch.kubernetes.io/controller-uid"], uid);
  EXPECT_EQ(meta["labels"]["batch.kubernetes.io/job-name"], "pi");
  EXPECT_EQ(meta["labels"]["job-name"], "pi");
  ASSERT_EQ(meta["ownerReferences"].size(), 1u);
  EXPECT_EQ(meta["ownerReferences"][0]["kind"], "Job");
  EXPECT_EQ(meta["ownerReferences"][0]["uid"], uid);
  EXPECT_EQ(meta["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(meta["ownerReferences"][0]["blockOwnerDeletion"], true);
  EXPECT_EQ(meta["finalizers"], Json::array({"batch.kubernetes.io/job-tracking"}));
  EXPECT_TRUE(eventually([&] { return jobStatus("pi").value("active", 0) == 2; }));
  EXPECT_TRUE(jobStatus("pi").contains("startTime"));

  setPodPhase(meta["name"], "Succeeded");
  // One left to run: min(parallelism 2, remaining 2) active.
  ASSERT_TRUE(eventually([&] { return jobStatus("pi").value("succeeded", 0) == 1; }));
  ASSERT_TRUE(waitForActive("pi", 2));
  for (auto& p : activePods("pi")) setPodPhase(p["metadata"]["name"], "Succeeded");
  ASSERT_TRUE(jobCondition("pi", "Complete"));
  Json done = get(kJobs, "pi");
  ASSERT_TRUE(done.contains("status"));
  EXPECT_EQ(done["status"].value("succeeded", 0), 3);
  EXPECT_FALSE(done["status"].contains("active"));
  EXPECT_TRUE(done["status"].contains("completionTime"));
  EXPECT_EQ(condition(done, "SuccessCriteriaMet").value("status", ""), "True");
  EXPECT_EQ(list(kPods, "job-name=pi").size(), 3u);
  for (auto& p : list(kPods, "job-name=pi")) EXPECT_FALSE(p["metadata"].contains("finalizers")) << p.dump();
  EXPECT_TRUE(eventually([&] { return hasEvent("Completed", "Job completed"); }));
  EXPECT_TRUE(hasEvent("SuccessfulCreate", "Created pod: pi-"));
}

TEST_F(JobControllerTest, FailsPastBackoffLimitAndDeletesActivePods) {
  startJobs();
  ASSERT_TRUE(client_->create(kJobs, "default",
                              job("f", {{"backoffLimit", 1}, {"parallelism", 2}, {"completions", 4}})));
  ASSERT_TRUE(waitForActive("f", 2));
  setPodPhase(activePods("f")[0]["metadata"]["name"], "Failed");
  ASSERT_TRUE(eventually([&] { return jobStatus("f").value("failed", 0) == 1; }));
  ASSERT_TRUE(waitForActive("f", 2));  // replaced
  setPodPhase(activePods("f")[0]["metadata"]["name"], "Failed");
  ASSERT_TRUE(jobCondition("f", "Failed"));
  Json j = get(kJobs, "f");
  EXPECT_EQ(condition(j, "Failed").value("reason", ""), "BackoffLimitExceeded");
  EXPECT_EQ(condition(j, "FailureTarget").value("reason", ""), "BackoffLimitExceeded");
  EXPECT_EQ(jobStatus("f").value("failed", 0), 2);
  EXPECT_EQ(activePods("f").size(), 0u);
  EXPECT_TRUE(eventually([&] { return hasEvent("BackoffLimitExceeded"); }));
}

TEST_F(JobControllerTest, DeletedFinishedPodsKeepTheirCount) {
  startJobs();
  ASSERT_TRUE(client_->create(kJobs, "default", job("d", {{"completions", 2}, {"parallelism", 1}})));
  ASSERT_TRUE(waitForActive("d", 1));
  std::string first = activePods("d")[0]["metadata"]["name"];
  setPodPhase(first, "Succeeded");
  // The finalizer goes once the pod is counted; then the pod can be deleted.
  ASSERT_TRUE(eventually([&] { return !get(kPods, first)["metadata"].contains("finalizers"); }));
  ASSERT_TRUE(client_->remove(kPods, "default", first));
  ASSERT_TRUE(eventually([&] { return get(kPods, first).is_null(); }));
  ASSERT_TRUE(waitForActive("d", 1));
  EXPECT_TRUE(eventually([&] { return jobStatus("d").value("succeeded", 0) == 1; }));
  setPodPhase(activePods("d")[0]["metadata"]["name"], "Succeeded");
  ASSERT_TRUE(jobCondition("d", "Complete"));
  EXPECT_EQ(jobStatus("d").value("succeeded", 0), 2);
}

TEST_F(JobControllerTest, AnActivePodDeletedCountsAsFailedAndIsReplaced) {
  startJobs();
  ASSERT_TRUE(client_->create(kJobs, "default", job("r")));
  ASSERT_TRUE(waitForActive("r", 1));
  std::string first = activePods("r")[0]["metadata"]["name"];
  ASSERT_TRUE(client_->remove(kPods, "default", first));
  ASSERT_TRUE(eventually([&] { return get(kPods, first).is_null(); }));  // finalizer released
  ASSERT_TRUE(eventually([&] { return jobStatus("r").value("failed", 0) == 1; }));
  ASSERT_TRUE(waitForActive("r", 1));
}

TEST_F(JobControllerTest, IndexedJobsRunOnePodPerIndex) {
  startJobs();
  ASSERT_TRUE(client_->create(
      kJobs, "default", job("ix", {{"completions", 4}, {"parallelism", 3}, {"completionMode", "Indexed"}})));
  ASSERT_TRUE(waitForActive("ix", 3));
  std::map<std::string, std::string> by_index;
  for (auto& p : activePods("ix")) {
    std::string ix = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"];
    EXPECT_EQ(p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"], ix);
    EXPECT_EQ(p["spec"]["hostname"], "ix-" + ix);
    EXPECT_EQ(p["metadata"]["generateName"], "ix-" + ix + "-");
    EXPECT_EQ(p["spec"]["containers"][0]["env"][0]["name"], "JOB_COMPLETION_INDEX");
    by_index[ix] = p["metadata"]["name"];
  }
  ASSERT_EQ(by_index.size(), 3u);
  EXPECT_TRUE(by_index.count("0") && by_index.count("1") && by_index.count("2"));
  setPodPhase(by_index["0"], "Succeeded");
  setPodPhase(by_index["2"], "Succeeded");
  ASSERT_TRUE(eventually([&] { return jobStatus("ix").value("completedIndexes", "") == "0,2"; }));
  ASSERT_TRUE(waitForActive("ix", 2));  // indexes 1 and 3
  for (auto& p : activePods("ix")) setPodPhase(p["metadata"]["name"], "Succeeded");
  ASSERT_TRUE(jobCondition("ix", "Complete"));
  EXPECT_EQ(jobStatus("ix").value("completedIndexes", ""), "0-3");
  EXPECT_EQ(jobStatus("ix").value("succeeded", 0), 4);
}

TEST_F(JobControllerTest, ActiveDeadlineFailsTheJob) {
  auto& jc = startJobs();
  ASSERT_TRUE(client_->create(kJobs, "default", job("dl", {{"activeDeadlineSeconds", 30}})));
  ASSERT_TRUE(waitForActive("dl", 1));
  ASSERT_TRUE(eventually([&] { return jobStatus("dl").contains("startTime"); }));
  clock_.advance(31s);
  jc.queue().add("default/dl");
  ASSERT_TRUE(jobCondition("dl", "Failed"));
  EXPECT_EQ(condition(get(kJobs, "dl"), "Failed").value("reason", ""), "DeadlineExceeded");
  EXPECT_EQ(activePods("dl").size(), 0u) << list(kPods, "job-name=dl").dump();
  EXPECT_EQ(jobStatus("dl").value("failed", 0), 0);  // the controller's own deletions are no failures
}

TEST_F(JobControllerTest, FinishedJobsAreDeletedAfterTheirTtl) {
  startJobs();
  ASSERT_TRUE(client_->create(kJobs, "default", job("ttl", {{"ttlSecondsAfterFinished", 0}})));
  ASSERT_TRUE(waitForActive("ttl", 1));
  setPodPhase(activePods("ttl")[0]["metadata"]["name"], "Succeeded");
  EXPECT_TRUE(eventually([&] { return get(kJobs, "ttl").is_null(); }));
}

TEST_F(JobControllerTest, SuspendedJobsRunNoPodsUntilResumed) {
  startJobs();
  ASSERT_TRUE(client_->create(kJobs, "default",
                              job("s", {{"suspend", true}, {"parallelism", 2}, {"completions", 2}})));
  ASSERT_TRUE(jobCondition("s", "Suspended"));
  EXPECT_EQ(list(kPods, "job-name=s").size(), 0u);
  EXPECT_FALSE(jobStatus("s").contains("startTime"));
  ASSERT_TRUE(
      client_->patch(kJobs, "default", "s", client::PatchType::kMerge, {{"spec", {{"suspend", false}}}}));
  ASSERT_TRUE(waitForActive("s", 2));
  ASSERT_TRUE(eventually([&] {
    Json c = condition(get(kJobs, "s"), "Suspended");
    return c.value("status", "") == "False" && c.value("reason", "") == "JobResumed";
  }));
  ASSERT_TRUE(
      client_->patch(kJobs, "default", "s", client::PatchType::kMerge, {{"spec", {{"suspend", true}}}}));
  EXPECT_TRUE(waitForActive("s", 0));
  EXPECT_EQ(jobStatus("s").value("failed", 0), 0);
}

TEST(JobIndexesTest, FormatsAndParsesRanges) {
  EXPECT_EQ(formatIndexes({0, 1, 2, 4}), "0-2,4");
  EXPECT_EQ(formatIndexes({3, 4, 7}), "3-4,7");
  EXPECT_EQ(formatIndexes({}), "");
  EXPECT_EQ(parseIndexes("0-2,4", 10), (std::set<int>{0, 1, 2, 4}));
  EXPECT_EQ(parseIndexes("1,x,5-3,8-20,-1", 10), (std::set<int>{1, 8, 9}));
}

}  // namespace
}  // namespace capstan::controllers::testing
