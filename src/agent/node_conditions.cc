#include "agent/node_conditions.h"

namespace capstan::agent {

std::string nodeConditionEvent(const std::string& type, bool status) {
  if (type == "MemoryPressure") return status ? "NodeHasInsufficientMemory" : "NodeHasSufficientMemory";
  if (type == "DiskPressure") return status ? "NodeHasDiskPressure" : "NodeHasNoDiskPressure";
  if (type == "PIDPressure") return status ? "NodeHasInsufficientPID" : "NodeHasSufficientPID";
  if (type == "Ready") return status ? "NodeReady" : "NodeNotReady";
  return "";
}

void NodeConditions::seed(const Json& conditions) {
  if (!conditions.is_array()) return;
  for (const auto& c : conditions) {
    if (!c.is_object()) continue;
    std::string type = getString(c, "type");
    if (type.empty()) continue;
    reported_[type] = {getString(c, "status", "Unknown"), getString(c, "lastTransitionTime")};
  }
}

Json NodeConditions::report(const std::vector<ConditionReading>& readings, const std::string& now,
                            std::vector<std::string>* events) {
  Json out = Json::array();
  for (const auto& r : readings) {
    std::string status = r.status ? "True" : "False";
    auto& seen = reported_[r.type];
    if (seen.status != status) {
      seen = {status, now};
      if (std::string e = nodeConditionEvent(r.type, r.status); !e.empty() && events) events->push_back(e);
    }
    if (seen.since.empty()) seen.since = now;
    out.push_back({{"type", r.type},
                   {"status", status},
                   {"reason", r.reason},
                   {"message", r.message},
                   {"lastHeartbeatTime", now},
                   {"lastTransitionTime", seen.since}});
  }
  return out;
}

}  // namespace capstan::agent
