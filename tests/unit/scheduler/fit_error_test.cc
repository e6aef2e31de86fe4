// FitError.Error() wording, exactly as kube-scheduler prints it.
#include <gtest/gtest.h>

#include "scheduler/framework.h"

namespace capstan::scheduler {
namespace {

TEST(SchedFitError, CountsAndSortsReasons) {
  FitError e;
  e.num_all_nodes = 3;
  e.failures = {{"a", {"Insufficient memory"}, true},
                {"b", {"node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"}, false},
                {"c", {"node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"}, false}};
  EXPECT_EQ(e.message(),
            "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint "
            "{node-role.kubernetes.io/control-plane: }.");
}

TEST(SchedFitError, SeveralReasonsOnOneNodeAndSortingAsStrings) {
  FitError e;
  e.num_all_nodes = 12;
  e.failures.push_back({"a", {"Insufficient cpu", "Insufficient memory"}, true});
  for (int i = 0; i < 10; ++i) e.failures.push_back({"n" + std::to_string(i), {"Too many pods"}, true});
  e.failures.push_back({"b", {"Insufficient cpu"}, true});
  // "10 Too many pods" sorts before "2 Insufficient cpu": upstream sorts the
  // formatted strings.
  EXPECT_EQ(e.message(),
            "0/12 nodes are available: 1 Insufficient memory, 10 Too many pods, 2 Insufficient cpu.");
}

TEST(SchedFitError, PreFilterAndPostFilterMessages) {
  FitError e;
  e.num_all_nodes = 2;
  e.pre_filter_msg = "node(s) didn't match pod topology spread constraints";
  e.failures = {{"a", {"ignored"}, true}};
  EXPECT_EQ(e.message(), "0/2 nodes are available: node(s) didn't match pod topology spread constraints.");

  FitError f;
  f.num_all_nodes = 1;
  f.failures = {{"a", {"Insufficient cpu"}, true}};
  f.post_filter_msg = "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
  EXPECT_EQ(f.message(),
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No "
            "preemption victims found for incoming pod..");
}

TEST(SchedFitError, NoNodes) {
  FitError e;
  EXPECT_EQ(e.message(), "no nodes available to schedule pods");
}

TEST(SchedNumFeasibleNodes, AdaptiveAsUpstream) {
  EXPECT_EQ(numFeasibleNodesToFind(50, 0), 50);
  EXPECT_EQ(numFeasibleNodesToFind(99, 0), 99);
  EXPECT_EQ(numFeasibleNodesToFind(100, 0), 100);   // 50% of 100 < 100
  EXPECT_EQ(numFeasibleNodesToFind(1000, 0), 420);  // 50 - 8 = 42%
  EXPECT_EQ(numFeasibleNodesToFind(5000, 0), 500);  // 50 - 40 = 10%
  EXPECT_EQ(numFeasibleNodesToFind(6000, 0), 300);  // 50 - 48 = 2% -> 5%
  EXPECT_EQ(numFeasibleNodesToFind(1000, 30), 300);
  EXPECT_EQ(numFeasibleNodesToFind(1000, 5), 100);
  EXPECT_EQ(numFeasibleNodesToFind(1000, 100), 1000);
}

}  // namespace
}  // namespace capstan::scheduler
