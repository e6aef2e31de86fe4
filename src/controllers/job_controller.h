#pragma once
// The Job controller, as upstream's pkg/controller/job: runs pods from the
// template until spec.completions of them succeed (or, with Indexed
// completion mode, one per index), at most spec.parallelism at a time;
// fails the Job after spec.backoffLimit failed pods or spec.activeDeadlineSeconds;
// honours suspend; and deletes finished Jobs after ttlSecondsAfterFinished
// (upstream's TTL-after-finished controller, folded in here).
//
// Finished pods are counted exactly once through the batch.kubernetes.io/job-tracking
// finalizer, as upstream: a pod keeps the finalizer until its uid is
// recorded in status.uncountedTerminatedPods; once the finalizer is gone the
// uid moves into status.succeeded/failed. So a finished pod that is
// deleted (by a user, the garbage collector) never loses its count.
//
// Threading: the Controller workers; handlers only enqueue Job keys.

#include <chrono>
#include <map>
#include <mutex>

#include "controllers/controller.h"
#include "controllers/controller_expectations.h"

namespace capstan::controllers {

struct JobControllerOptions {
  // Delay before replacing failed pods: base × 2^(failures-1), capped
  // (upstream: 10 s and 6 min). Zero disables the delay.
  std::chrono::milliseconds pod_failure_backoff{10000};
  std::chrono::milliseconds max_pod_failure_backoff{360000};
};

class JobController final : public Controller {
 public:
  explicit JobController(Context& ctx, JobControllerOptions opts = {});
  ~JobController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  struct Failures {
    int64_t count = 0;
    WallTime at;
  };
  struct Pods;

  void podChanged(const ObjectPtr& old_pod, const ObjectPtr& pod, bool deleted);
  Status releaseOrphans(const std::string& key, const std::string& job_uid);
  Status removeTrackingFinalizer(const Json& pod);
  Status deletePod(const Json& job, const std::string& key, const Json& pod);
  Status createPods(const Json& job, const std::string& key, int count, const std::vector<int>& indexes);
  Status handleFinished(const Json& job, const std::string& key);
  std::chrono::milliseconds failureDelay(const std::string& uid, int64_t failed);

  JobControllerOptions opts_;
  ControllerExpectations expectations_;
  std::mutex mu_;  // guards failures_
  std::map<std::string, Failures> failures_;
};

}  // namespace capstan::controllers
