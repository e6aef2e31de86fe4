#pragma once
// The controller framework. A controller registers informer handlers that
// only enqueue keys, and implements sync(key): read the caches, compare
// desired with observed state, write the difference through the API. sync
// must be safe to run again at any time (level-triggered); a failed sync
// is retried with per-key backoff.
//
// Adding a controller is one file: a class deriving from Controller and a
// line in manager.cc.
//
// Threading: `workers` threads call sync(); one key is never synced by two
// workers at once. Informer handlers run on the informers' threads.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "client/event_recorder.h"
#include "client/informer.h"
#include "client/work_queue.h"
#include "common/clock.h"

namespace capstan::controllers {

using client::ObjectPtr;

struct ControllerOptions {
  // Node lifecycle (defaults much faster than Kubernetes' 40 s + 300 s).
  std::chrono::milliseconds node_monitor_grace_period{16000};
  std::chrono::seconds default_not_ready_toleration{30};
  std::string cluster_cidr = "10.42.0.0/16";
  int node_cidr_mask = 24;
  // HorizontalPodAutoscaler, as kube-controller-manager's
  // --horizontal-pod-autoscaler-{sync-period,downscale-stabilization,tolerance}.
  std::chrono::milliseconds hpa_sync_period{15000};
  std::chrono::seconds hpa_downscale_stabilization{300};
  double hpa_tolerance = 0.1;
  // The alert evaluator (alert_controller.h): how often every rule is evaluated.
  std::chrono::milliseconds alert_evaluation_interval{10000};
  // The cluster CA (PEM) published in every namespace's kube-root-ca.crt;
  // empty: not published.
  std::string root_ca_pem;
};

// What every controller is given.
struct Context {
  const client::Client& client;
  client::InformerFactory& informers;
  client::EventRecorder& events;
  const Clock& clock;
  ControllerOptions options;
};

class Controller {
 public:
  Controller(std::string name, Context& ctx, int workers = 2);
  virtual ~Controller();
  const std::string& name() const { return name_; }

  void run();   // starts the workers (informers are started by the manager)
  void stop();  // stops the workers and waits for them
  client::WorkQueue& queue() { return queue_; }
  // Runs one key synchronously: for unit tests.
  Status syncNow(const std::string& key) { return sync(key); }

 protected:
  virtual Status sync(const std::string& key) = 0;
  void enqueue(const ObjectPtr& obj) { queue_.add(client::keyOf(*obj)); }
  // Handlers that enqueue the object's own key on every change.
  client::InformerHandlers enqueueHandlers();

  Context& ctx_;

 private:
  void worker();

  std::string name_;
  int workers_;
  client::WorkQueue queue_;
  std::vector<std::thread> threads_;
};

}  // namespace capstan::controllers
