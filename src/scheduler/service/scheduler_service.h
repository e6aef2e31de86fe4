#pragma once
// The scheduler as a component: keeps a Snapshot current from informers,
// takes pending pods from a priority queue, runs the framework, binds
// through pods/binding, reports unschedulable pods (PodScheduled=False and
// a FailedScheduling event) and preempts lower-priority pods.
//
// Unschedulable pods wait until the cluster changes (a node added or
// changed, a pod deleted), not on a timer; a one-minute flush is only a
// safety net. Only the leader of the kube-scheduler Lease schedules.
//
// Threading: one scheduling thread owns the queue order and runs the
// framework; informer threads update the snapshot (under snapshot_mu_) and
// the queue (under queue_mu_); binding answers come back on the
// transport's threads and are handed to the scheduling thread. API writes
// (bindings, events, status patches, preemption deletes) go out from a
// thread of their own, in order, as upstream binds and records events off
// its scheduling cycle: an in-process transport runs the server's handler
// in the calling thread, which would otherwise be the scheduling thread.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "client/client.h"
#include "client/event_recorder.h"
#include "client/informer.h"
#include "client/leader_election.h"
#include "common/serial_executor.h"
#include "scheduler/framework.h"
#include "scheduler/service/scheduler_metrics.h"

namespace capstan::scheduler {

struct ServiceOptions {
  std::string identity;
  std::string scheduler_name = "default-scheduler";
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  Config framework;
  std::shared_ptr<SchedulerMetrics> metrics;  // optional
};

class SchedulerService {
 public:
  SchedulerService(std::shared_ptr<client::Transport> transport, ServiceOptions opts);
  ~SchedulerService();
  void start();
  void stop();

  struct Stats {
    uint64_t attempts = 0, scheduled = 0, unschedulable = 0, errors = 0;
  };
  Stats stats() const;

 private:
  struct Pending {
    client::ObjectPtr pod;
    int64_t priority = 0;
    uint64_t seq = 0;
  };
  struct Completion {
    std::string key;
    client::ObjectPtr pod;
    std::string node;
    Status status;
    std::chrono::steady_clock::time_point started;  // when the attempt took the pod off the queue
  };

  void lead();
  void unlead();
  void loop();
  void onPod(const client::ObjectPtr& old_pod, const client::ObjectPtr& pod, bool deleted);
  void enqueue(const client::ObjectPtr& pod);      // caller holds queue_mu_
  void flushUnschedulable();                        // caller holds queue_mu_
  void scheduleOne(const client::ObjectPtr& pod, std::chrono::steady_clock::time_point started);
  void observeAttempt(std::string_view result, std::chrono::steady_clock::time_point started);
  void publishPending();  // caller holds queue_mu_
  void handleCompletion(Completion c);
  void reportUnschedulable(const client::ObjectPtr& pod, const std::string& message);
  bool responsibleFor(const Json& pod) const;

  ServiceOptions opts_;
  client::Client client_;
  client::EventRecorder events_;
  std::unique_ptr<client::LeaderElector> elector_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::unique_ptr<Scheduler> framework_;

  std::mutex snapshot_mu_;
  std::unique_ptr<Snapshot> snapshot_;

  mutable std::mutex queue_mu_;  // guards everything below
  std::condition_variable queue_cv_;
  std::set<std::tuple<int64_t, uint64_t, std::string>> active_;  // (-priority, seq, key)
  std::unordered_map<std::string, Pending> pending_;              // key -> newest object, in active_
  std::unordered_map<std::string, client::ObjectPtr> unschedulable_;
  std::multimap<std::chrono::steady_clock::time_point, std::string> backoff_;
  std::unordered_map<std::string, int> attempts_;
  std::unordered_set<std::string> in_flight_;  // assumed, binding not answered yet
  std::deque<Completion> completions_;
  uint64_t seq_ = 0;
  bool running_ = false;
  Stats stats_;
  std::thread thread_;
  // Last, so that it goes first: its tasks use client_ and events_.
  SerialExecutor writes_;
};

}  // namespace capstan::scheduler
