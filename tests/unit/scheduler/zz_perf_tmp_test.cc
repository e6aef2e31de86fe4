#include <gtest/gtest.h>
#include <chrono>
#include "unit/scheduler/cluster_fixture.h"
namespace capstan::scheduler {
TEST(SchedPerfTmp, FiveThousandNodes) {
  Snapshot s;
  for (int i = 0; i < 5000; ++i) {
    Json n = testing::yaml("metadata: {name: x}");
    n["metadata"]["name"] = "n" + std::to_string(i);
    n["metadata"]["labels"] = {{"topology.kubernetes.io/zone", "z" + std::to_string(i % 3)}};
    ASSERT_TRUE(s.upsertNode(testing::completeNode(n)).isOk());
  }
  Scheduler sched({}, [] { static uint64_t x = 88172645463325252ull; x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x; });
  std::vector<std::shared_ptr<const Json>> pods;
  for (int i = 0; i < 4000; ++i) {
    Json p = testing::yaml("{metadata: {name: p, ownerReferences: [{uid: rs, controller: true}], labels: {app: web}}, spec: {containers: [{name: c, resources: {requests: {cpu: 100m, memory: 100Mi}}}]}}");
    p["metadata"]["name"] = "p" + std::to_string(i);
    pods.push_back(testing::completePod(p));
  }
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 4000; ++i) {
    auto obj = pods[i];
    auto r = sched.schedule(obj, s);
    ASSERT_TRUE(r.isOk() && r->scheduled());
    ASSERT_TRUE(s.upsertPod(obj, r->node).isOk());
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  printf("4000 pods in %lld ms\n", (long long)ms);
}
}
