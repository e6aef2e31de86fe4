#pragma once
// The CronJob controller, as upstream's pkg/controller/cronjob (v2): at
// each time the schedule names (in spec.timeZone) it creates a Job named
// <cronjob>-<scheduled time in minutes since the epoch> from the job
// template, honouring concurrencyPolicy (Allow, Forbid, Replace), suspend
// and startingDeadlineSeconds; it keeps status.active, lastScheduleTime and
// lastSuccessfulTime, and deletes finished Jobs beyond the history limits.
//
// Event-driven: after each sync the key is re-queued for the next schedule
// time (queue().addAfter), there is no polling. Time comes from ctx.clock;
// tests move a fake clock and enqueue the key.
//
// Threading: the Controller workers; handlers only enqueue CronJob keys.

#include "controllers/controller.h"

namespace capstan::controllers {

class CronJobController final : public Controller {
 public:
  explicit CronJobController(Context& ctx);
  ~CronJobController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  void jobChanged(const ObjectPtr& job);
  Status cleanupHistory(const Json& cj, const std::vector<ObjectPtr>& jobs);
  Status deleteJob(const Json& cj, const Json& job);
};

}  // namespace capstan::controllers
