#pragma once
// Records core/v1 Events about objects, as client-go's recorder does:
// repeats of the same (object, type, reason, message) within the
// aggregation window bump count and lastTimestamp on one Event instead of
// creating new ones, so a crash loop does not flood the store.
//
// The aggregation state is an LRU of at most kMaxRemembered events, each
// forgotten 10 minutes after its last repeat (client-go keeps 4,096), so
// recording costs the same with one event or a million behind it.
//
// Threading: record() never blocks (writes are asynchronous); thread-safe.

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "client/client.h"
#include "common/clock.h"

namespace capstan::client {

class EventRecorder {
 public:
  // `component` is source.component / reportingController (e.g.
  // "default-scheduler", "kubelet"); `host` is source.host for agents.
  EventRecorder(const Client& client, std::string component, std::string host = "",
                const Clock& clock = SystemClock::instance());

  // `type` is "Normal" or "Warning"; `reason` is CamelCase (Scheduled,
  // FailedScheduling, Pulled, BackOff, ...).
  void record(const Json& involved, const std::string& type, const std::string& reason, const std::string& message);

  static constexpr size_t kMaxRemembered = 4096;

 private:
  struct Seen {
    std::string name;
    int count = 0;
    WallTime last;
  };
  using Order = std::list<std::string>;  // keys, most recently seen first
  struct Remembered {
    Seen seen;
    Order::iterator place;
  };

  // Drops what fell out of the window or past the size bound. Holds mu_.
  void forgetOld(WallTime now);

  const Client& client_;
  std::string component_;
  std::string host_;
  const Clock& clock_;
  std::mutex mu_;  // guards seen_ and order_
  std::unordered_map<std::string, Remembered> seen_;
  Order order_;
  uint64_t sequence_ = 0;
};

// An ObjectReference to obj (kind, namespace, name, uid, apiVersion, resourceVersion).
Json objectReference(const Json& obj);

}  // namespace capstan::client
