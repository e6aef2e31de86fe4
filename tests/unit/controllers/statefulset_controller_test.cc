// The StatefulSet controller against a real API server; the test plays the
// node agent by marking pods Running and Ready.
#include "controllers/statefulset_controller.h"

#include "controller_fixture.h"

namespace capstan::controllers::testing {
namespace {

using client::res::kPods;
using client::res::kStatefulSets;

Json statefulSet(const std::string& name, Json spec_extra = Json::object()) {
  Json containers = Json::array({{{"name", "c"}, {"image", "web:1"}}});
  Json spec = {
      {"replicas", 3},
      {"serviceName", "svc"},
      {"selector", {{"matchLabels", {{"app", name}}}}},
      {"template", {{"metadata", {{"labels", {{"app", name}}}}}, {"spec", {{"containers", containers}}}}}};
  spec.update(spec_extra);
  return {{"apiVersion", "apps/v1"},
          {"kind", "StatefulSet"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", spec}};
}

class StatefulSetTest : public ControllerFixture {
 protected:
  void SetUp() override {
    ControllerFixture::SetUp();
    start(std::make_unique<StatefulSetController>(*ctx_));
  }
  // Live pod names of the set, sorted.
  std::vector<std::string> names(const std::string& set) {
    std::vector<std::string> out;
    for (auto& p : list(kPods, "app=" + set))
      if (!p["metadata"].contains("deletionTimestamp")) out.push_back(p["metadata"]["name"]);
    std::sort(out.begin(), out.end());
    return out;
  }
  void ready(const std::string& pod) { setPodPhase(pod, "Running", true); }
  Json setStatus(const std::string& name) {
    Json s = get(kStatefulSets, name);
    return s.is_object() && s.contains("status") ? s["status"] : Json::object();
  }
  std::string revisionOf(const std::string& pod) {
    Json p = get(kPods, pod);
    return p.is_object() ? p["metadata"]["labels"].value("controller-revision-hash", "") : "";
  }
  using V = std::vector<std::string>;
};

TEST_F(StatefulSetTest, OrderedReadyCreatesInOrderAndDeletesInReverse) {
  ASSERT_TRUE(client_->create(kStatefulSets, "default", statefulSet("web")));
  ASSERT_TRUE(eventually([&] { return names("web") == V{"web-0"}; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(names("web"), V{"web-0"});  // web-1 waits for web-0 to be Running and Ready

  Json pod = get(kPods, "web-0");
  EXPECT_EQ(pod["spec"]["hostname"], "web-0");
  EXPECT_EQ(pod["spec"]["subdomain"], "svc");
  EXPECT_EQ(pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"], "web-0");
  EXPECT_EQ(pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "0");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
  std::string rev = pod["metadata"]["labels"]["controller-revision-hash"];
  EXPECT_TRUE(rev.starts_with("web-")) << rev;

  ready("web-0");
  ASSERT_TRUE(eventually([&] { return names("web") == V{"web-0", "web-1"}; }));
  ready("web-1");
  ASSERT_TRUE(eventually([&] { return names("web") == V{"web-0", "web-1", "web-2"}; }));
  ready("web-2");
  ASSERT_TRUE(eventually([&] {
    Json s = setStatus("web");
    return s.value("readyReplicas", 0) == 3 && s.value("replicas", 0) == 3 &&
           s.value("currentReplicas", 0) == 3 && s.value("updatedReplicas", 0) == 3 &&
           s.value("currentRevision", "") == rev && s.value("updateRevision", "") == rev &&
           s.value("availableReplicas", 0) == 3 && s.value("observedGeneration", 0) == 1;
  })) << setStatus("web").dump();

  // A deleted pod comes back under the same name.
  ASSERT_TRUE(client_->remove(kPods, "default", "web-1"));
  ASSERT_TRUE(eventually([&] { return names("web") == V{"web-0", "web-1", "web-2"}; }));
  ready("web-1");

  ASSERT_TRUE(client_->patch(kStatefulSets, "default", "web", client::PatchType::kMerge,
                             {{"spec", {{"replicas", 1}}}}));
  ASSERT_TRUE(eventually([&] { return names("web") == V{"web-0"}; }));
}

TEST_F(StatefulSetTest, ParallelCreatesAllAtOnce) {
  ASSERT_TRUE(
      client_->create(kStatefulSets, "default", statefulSet("par", {{"podManagementPolicy", "Parallel"}})));
  ASSERT_TRUE(eventually([&] { return names("par") == V{"par-0", "par-1", "par-2"}; }));
  ASSERT_TRUE(client_->patch(kStatefulSets, "default", "par", client::PatchType::kMerge,
                             {{"spec", {{"replicas", 0}}}}));
  ASSERT_TRUE(eventually([&] { return names("par").empty(); }));
}

TEST_F(StatefulSetTest, RollingUpdateGoesFromTheHighestOrdinalDownToThePartition) {
  ASSERT_TRUE(client_->create(
      kStatefulSets, "default",
      statefulSet("ru",
                  {{"podManagementPolicy", "Parallel"},
                   {"updateStrategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 1}}}}}})));
  ASSERT_TRUE(eventually([&] { return names("ru").size() == 3; }));
  for (auto& n : names("ru")) ready(n);
  std::string old_rev = revisionOf("ru-0");
  ASSERT_TRUE(eventually([&] { return setStatus("ru").value("readyReplicas", 0) == 3; }));

  ASSERT_TRUE(client_->patch(kStatefulSets, "default", "ru", client::PatchType::kMerge,
                             {{"spec", {{"template", {{"metadata", {{"annotations", {{"v", "2"}}}}}}}}}}));
  // ru-2 first.
  // One read per check: two could see the old pod and then none, which passes without a new pod.
  ASSERT_TRUE(eventually([&] {
    std::string rev = revisionOf("ru-2");
    return !rev.empty() && rev != old_rev;
  }));
  std::string new_rev = revisionOf("ru-2");
  EXPECT_EQ(revisionOf("ru-1"), old_rev);
  ready("ru-2");
  ASSERT_TRUE(eventually([&] { return revisionOf("ru-1") == new_rev; }));
  ready("ru-1");
  ASSERT_TRUE(eventually([&] {
    Json s = setStatus("ru");
    return s.value("updatedReplicas", 0) == 2 && s.value("updateRevision", "") == new_rev &&
           s.value("currentRevision", "") == old_rev && s.value("readyReplicas", 0) == 3;
  })) << setStatus("ru").dump();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(revisionOf("ru-0"), old_rev);  // below the partition

  ASSERT_TRUE(client_->patch(kStatefulSets, "default", "ru", client::PatchType::kMerge,
                             {{"spec", {{"updateStrategy", {{"rollingUpdate", {{"partition", 0}}}}}}}}));
  ASSERT_TRUE(eventually([&] { return revisionOf("ru-0") == new_rev; }));
  ready("ru-0");
  ASSERT_TRUE(eventually([&] { return setStatus("ru").value("currentRevision", "") == new_rev; }))
      << setStatus("ru").dump();
}

}  // namespace
}  // namespace capstan::controllers::testing
