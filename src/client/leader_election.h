#pragma once
// Leader election over a coordination.k8s.io/v1 Lease, as client-go's
// leaderelection: the holder renews the Lease; others take it over only
// after they have seen it unchanged for a whole lease duration (judged by
// their own clock, so clock skew between servers does not matter).
//
// Threading: one thread runs the election; on_started/on_stopped run on it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "client/client.h"

namespace capstan::client {

struct LeaderElectionConfig {
  std::string lease_namespace = "kube-system";
  std::string lease_name;
  std::string identity;
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
};

class LeaderElector {
 public:
  LeaderElector(const Client& client, LeaderElectionConfig cfg, std::function<void()> on_started,
                std::function<void()> on_stopped);
  ~LeaderElector();
  void start();
  // Stops; a leader releases the Lease so another server can take it at once.
  void stop();
  bool isLeader() const { return leader_.load(); }

 private:
  void run();
  // One attempt to acquire or renew. True when we hold the Lease afterwards.
  bool tryAcquireOrRenew();
  void release();
  bool sleepFor(std::chrono::milliseconds d);  // false when stopping

  const Client& client_;
  LeaderElectionConfig cfg_;
  std::function<void()> on_started_, on_stopped_;
  std::atomic<bool> leader_{false};
  // The last record seen and when (our clock) it last changed.
  std::string observed_record_;
  std::chrono::steady_clock::time_point observed_at_{};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace capstan::client
