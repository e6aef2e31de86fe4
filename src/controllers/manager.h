#pragma once
// The controller manager: the shared informers, every controller, and
// leader election so that of several servers only one runs them. In one
// process with the API server it uses the in-process client.
//
// Threading: start() returns at once; controllers start on the election's
// thread once this process leads, and stop when it loses the lease.

#include <memory>
#include <string>
#include <vector>

#include "api/registry.h"
#include "client/client.h"
#include "client/leader_election.h"
#include "client/work_queue_metrics.h"
#include "controllers/controller.h"

namespace capstan::controllers {

struct ManagerOptions {
  std::string identity;  // this server's name in the Lease
  ControllerOptions controllers;
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  // Controllers to leave out (by name), e.g. for tests.
  std::vector<std::string> disabled;
  // Optional: each controller's queue reports workqueue_* series under
  // kube-controller-manager's queue name.
  std::shared_ptr<client::WorkQueueMetricsProvider> queue_metrics;
};

class Manager {
 public:
  Manager(std::shared_ptr<client::Transport> transport, const api::Registry& registry, ManagerOptions opts);
  ~Manager();
  void start();
  void stop();
  bool leading() const;

 private:
  void startControllers();
  void stopControllers();

  const api::Registry& registry_;
  ManagerOptions opts_;
  client::Client client_;
  client::EventRecorder events_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::unique_ptr<Context> ctx_;
  std::vector<std::unique_ptr<Controller>> controllers_;
  std::unique_ptr<client::LeaderElector> elector_;
};

}  // namespace capstan::controllers
