#pragma once
// Records core/v1 Events about objects, as client-go's recorder does:
// repeats of the same (object, type, reason, message) within the
// aggregation window bump count and lastTimestamp on one Event instead of
// creating new ones, so a crash loop does not flood the store.
//
// Threading: record() never blocks (writes are asynchronous); thread-safe.

#include <chrono>
#include <map>
#include <mutex>
#include <string>

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

 private:
  struct Seen {
    std::string name;
    int count = 0;
    WallTime last;
  };

  const Client& client_;
  std::string component_;
  std::string host_;
  const Clock& clock_;
  std::mutex mu_;  // guards seen_
  std::map<std::string, Seen> seen_;
  uint64_t sequence_ = 0;
};

// An ObjectReference to obj (kind, namespace, name, uid, apiVersion, resourceVersion).
Json objectReference(const Json& obj);

}  // namespace capstan::client
