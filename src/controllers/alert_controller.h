#pragma once
// The alert evaluator: capstan's built-in alerting, as a controller.
//
// Every evaluation interval (and shortly after any watched object changes)
// it runs each enabled AlertRule's check (alert_checks.h) over the informer
// caches — and, for checks of the server itself, over two scrapes of the
// API server's /metrics — and reconciles Alert objects with the findings:
//   new finding           -> Alert Pending (activeAt), or Firing when spec.for is 0
//   Pending for spec.for  -> Firing: a Warning Event "AlertFiring" on the
//                            object, a condition "alerting.capstan.io/<rule>"
//                            on it (Pods, Deployments, Nodes, Jobs)
//   finding gone          -> Pending alerts are deleted; Firing ones become
//                            Resolved (Event "AlertResolved", condition removed)
//                            and are deleted after resolved_retention
// Firing and Resolved alerts are sent to every AlertReceiver
// (alert_notifier.h) when the set changes and again every resend_interval,
// as Prometheus re-sends to Alertmanager.
//
// All state that matters is in the store (Alerts carry activeAt/firedAt), so
// a new leader carries on where the last one stopped. In memory are only the
// previous /metrics scrape and what each receiver was last sent.
//
// At start it creates the default rules (alert_rules/default_rules.yaml)
// that do not exist yet.
//
// Threading: one worker; one key ("evaluate") that handlers enqueue.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "controllers/alert_checks.h"
#include "controllers/alert_notifier.h"
#include "controllers/controller.h"

namespace capstan::controllers {

class AlertController final : public Controller {
 public:
  struct Options {
    std::chrono::milliseconds interval{10000};
    std::chrono::milliseconds resend_interval{60000};
    std::chrono::milliseconds resolved_retention{15 * 60 * 1000};
    std::string external_url;  // the server's URL, for links in notifications; may be empty
    alerts::Poster poster = alerts::postJson;
  };

  AlertController(Context& ctx, Options opts);
  ~AlertController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  struct Desired {
    const Json* rule;
    alerts::Finding finding;
  };

  Status ensureDefaultRules();
  std::optional<alerts::ServerReadings> serverReadings();
  Status reconcileAlerts(const std::map<std::string, Desired>& desired, std::map<std::string, std::pair<int, int>>& counts);
  Status reconcileConditions();
  Status updateRuleStatuses(const std::vector<client::ObjectPtr>& rules,
                            const std::map<std::string, std::pair<int, int>>& counts);
  void notifyReceivers();

  Options opts_;
  bool defaults_created_ = false;
  std::vector<Sample> last_scrape_;
  WallTime last_scrape_time_{};
  std::optional<alerts::ServerReadings> readings_;
  struct Sent {
    std::string fingerprint;
    WallTime at{};
    bool ok = false;
  };
  std::map<std::string, Sent> sent_;  // by receiver name
};

}  // namespace capstan::controllers
