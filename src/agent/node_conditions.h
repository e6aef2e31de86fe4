#pragma once
// The Node's conditions as kubelet's status setters report them: each
// condition keeps its lastTransitionTime while its status holds (only the
// heartbeat moves), and a change of status is announced with kubelet's
// event reason: NodeHasSufficientMemory / NodeHasInsufficientMemory,
// NodeHasNoDiskPressure / NodeHasDiskPressure, NodeHasSufficientPID /
// NodeHasInsufficientPID, NodeReady / NodeNotReady ("Node <name> status is
// now: <reason>"), which `kubectl describe node` lists.
//
// A condition seen for the first time is announced too, as kubelet does
// for the pressure conditions (they start as Unknown). For Ready kubelet
// announces only changes, but its first report is NotReady until the
// network is up, so a fresh node always shows NodeReady; the agent reports
// Ready from the start and announces it the first time for the same
// result. After a restart, seed() with the Node's stored conditions keeps
// what did not change silent.
//
// Pure; not thread-safe (the node reporter owns one).

#include <map>
#include <string>
#include <vector>

#include "common/json.h"

namespace capstan::agent {

struct ConditionReading {
  std::string type;  // MemoryPressure, DiskPressure, PIDPressure, Ready
  bool status = false;
  std::string reason;
  std::string message;
};

class NodeConditions {
 public:
  // The conditions of the stored Node (status.conditions), if it exists.
  void seed(const Json& conditions);

  // The conditions to report at `now` (RFC 3339); `events` receives the
  // event reasons of the conditions whose status changed.
  Json report(const std::vector<ConditionReading>& readings, const std::string& now,
              std::vector<std::string>* events);

 private:
  struct Reported {
    std::string status;  // "True", "False", "Unknown"
    std::string since;   // lastTransitionTime
  };
  std::map<std::string, Reported> reported_;
};

// kubelet's event reason for a condition having become `status`; "" for
// conditions kubelet does not announce.
std::string nodeConditionEvent(const std::string& type, bool status);

}  // namespace capstan::agent
