// The Node's conditions as kubelet's setters report them: transition times
// that hold while the status holds, and kubelet's events on changes.
#include "agent/node_conditions.h"

#include <gtest/gtest.h>

namespace capstan::agent {
namespace {

std::vector<ConditionReading> readings(bool memory, bool ready) {
  return {
      {"MemoryPressure", memory, memory ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory", "m"},
      {"DiskPressure", false, "KubeletHasNoDiskPressure", "d"},
      {"PIDPressure", false, "KubeletHasSufficientPID", "p"},
      {"Ready", ready, ready ? "KubeletReady" : "KubeletNotReady", "r"}};
}

TEST(NodeConditions, AFreshNodeAnnouncesEveryCondition) {
  NodeConditions c;
  std::vector<std::string> events;
  Json got = c.report(readings(false, true), "2026-11-26T08:00:00Z", &events);
  EXPECT_EQ(events, (std::vector<std::string>{"NodeHasSufficientMemory", "NodeHasNoDiskPressure",
                                              "NodeHasSufficientPID", "NodeReady"}));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3], Json::parse(R"({"type":"Ready","status":"True","reason":"KubeletReady","message":"r",
    "lastHeartbeatTime":"2026-11-26T08:00:00Z","lastTransitionTime":"2026-11-26T08:00:00Z"})"));
}

TEST(NodeConditions, TransitionTimeHoldsWhileTheStatusHolds) {
  NodeConditions c;
  std::vector<std::string> events;
  c.report(readings(false, true), "2026-11-26T08:00:00Z", &events);
  events.clear();
  Json got = c.report(readings(false, true), "2026-11-26T08:00:10Z", &events);
  EXPECT_TRUE(events.empty());
  for (const auto& cond : got) {
    EXPECT_EQ(cond["lastHeartbeatTime"], "2026-11-26T08:00:10Z");
    EXPECT_EQ(cond["lastTransitionTime"], "2026-11-26T08:00:00Z");
  }
  got = c.report(readings(true, false), "2026-11-26T08:00:20Z", &events);
  EXPECT_EQ(events, (std::vector<std::string>{"NodeHasInsufficientMemory", "NodeNotReady"}));
  EXPECT_EQ(got[0]["lastTransitionTime"], "2026-11-26T08:00:20Z");
  EXPECT_EQ(got[1]["lastTransitionTime"], "2026-11-26T08:00:00Z");
  EXPECT_EQ(got[3]["status"], "False");
}

TEST(NodeConditions, AfterARestartOnlyChangesAreNews) {
  NodeConditions c;
  c.seed(Json::parse(R"([
    {"type":"MemoryPressure","status":"False","lastTransitionTime":"2026-11-25T00:00:00Z"},
    {"type":"DiskPressure","status":"False","lastTransitionTime":"2026-11-25T00:00:00Z"},
    {"type":"PIDPressure","status":"False","lastTransitionTime":"2026-11-25T00:00:00Z"},
    {"type":"Ready","status":"Unknown","reason":"NodeStatusUnknown","lastTransitionTime":"2026-11-25T01:00:00Z"}])"));
  std::vector<std::string> events;
  Json got = c.report(readings(false, true), "2026-11-26T08:00:00Z", &events);
  // The node controller had marked it Unknown while the agent was down.
  EXPECT_EQ(events, std::vector<std::string>{"NodeReady"});
  EXPECT_EQ(got[0]["lastTransitionTime"], "2026-11-25T00:00:00Z");
  EXPECT_EQ(got[3]["lastTransitionTime"], "2026-11-26T08:00:00Z");
}

TEST(NodeConditions, EventReasonsAreKubelets) {
  EXPECT_EQ(nodeConditionEvent("DiskPressure", true), "NodeHasDiskPressure");
  EXPECT_EQ(nodeConditionEvent("PIDPressure", true), "NodeHasInsufficientPID");
  EXPECT_EQ(nodeConditionEvent("NetworkUnavailable", true), "");
}

}  // namespace
}  // namespace capstan::agent
