// The HPA's replica arithmetic against upstream's replica_calculator.go and
// normalizeDesiredReplicas, as tables.
#include "controllers/hpa_replicas.h"

#include <gtest/gtest.h>

#include <ostream>

namespace capstan::controllers::hpa {
namespace {

using namespace std::chrono_literals;

// A ready pod with metrics: usage and request in milli-CPU.
PodSample pod(std::string name, int64_t usage, int64_t request = 100) {
  PodSample p;
  p.name = std::move(name);
  p.has_metrics = true;
  p.usage = usage;
  p.request = request;
  return p;
}
PodSample withoutMetrics(std::string name, int64_t request = 100) {
  PodSample p = pod(std::move(name), 0, request);
  p.has_metrics = false;
  return p;
}
PodSample unready(PodSample p) {
  p.unready = true;
  return p;
}
PodSample pending(PodSample p) {
  p.pending = true;
  return p;
}
PodSample ignored(PodSample p) {
  p.ignored = true;
  return p;
}

struct UtilizationCase {
  std::string name;
  int32_t current;
  int32_t target;  // percent
  std::vector<PodSample> pods;
  int32_t want_replicas;
  int32_t want_utilization;
};
void PrintTo(const UtilizationCase& c, std::ostream* os) { *os << c.name; }

class Utilization : public ::testing::TestWithParam<UtilizationCase> {};

TEST_P(Utilization, MatchesUpstream) {
  const auto& c = GetParam();
  auto r = desiredForUtilization(c.current, c.target, "cpu", c.pods);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->replicas, c.want_replicas);
  EXPECT_EQ(r->utilization, c.want_utilization);
}

const UtilizationCase kUtilization[] = {
    {"ScaleUpOnePod", 1, 50, {pod("a", 200)}, 4, 200},
    {"ScaleUpRoundsUp", 3, 50, {pod("a", 60), pod("b", 60), pod("c", 60)}, 4, 60},
    {"ScaleDown", 4, 50, {pod("a", 10), pod("b", 10), pod("c", 10), pod("d", 10)}, 1, 10},
    {"WithinToleranceKeepsCount", 2, 50, {pod("a", 54), pod("b", 54)}, 2, 54},
    {"JustBelowToleranceKeepsCount", 2, 50, {pod("a", 46), pod("b", 46)}, 2, 46},
    // 40% of 50% is a ratio of 0.8, outside the tolerance, but ceil(0.8 * 4) = 4.
    {"SmallDropRoundsUpToCurrent", 4, 50, {pod("a", 40), pod("b", 40), pod("c", 40), pod("d", 40)}, 4, 40},
    {"OutsideToleranceScalesDown",
     5,
     50,
     {pod("a", 30), pod("b", 30), pod("c", 30), pod("d", 30), pod("e", 30)},
     3,
     30},
    {"UtilizationOverSummedRequests", 2, 50, {pod("a", 100, 100), pod("b", 0, 300)}, 1, 25},
    // A pod without metrics counts at 100% of its request when scaling down:
    // (10 + 10 + 100) / 300 = 40% -> ceil(0.8 * 3) = 3, no change.
    {"MissingMetricsHoldScaleDown", 3, 50, {pod("a", 10), pod("b", 10), withoutMetrics("c")}, 3, 10},
    // ... and at 0% when scaling up: 200 / 200 = 100% -> ratio 2 -> 4.
    {"MissingMetricsDampScaleUp", 2, 50, {pod("a", 200), withoutMetrics("b")}, 4, 200},
    // Unready pods count at 0% when scaling up: 100 / 200 = 50%, no change.
    {"UnreadyPodsDampScaleUp", 2, 50, {pod("a", 100), unready(pod("b", 100))}, 2, 100},
    // ... and are left out when scaling down.
    {"UnreadyPodsIgnoredScalingDown", 2, 50, {pod("a", 10), unready(pod("b", 500))}, 1, 10},
    {"PendingPodsAreUnready", 2, 50, {pod("a", 100), pending(withoutMetrics("b"))}, 2, 100},
    {"DeletedAndFailedPodsLeftOut", 1, 50, {pod("a", 50), ignored(pod("b", 1000))}, 1, 50},
    // The recount may not reverse the direction: 30% alone, but with the
    // missing pod at 100% the ratio is above 1 -> keep the count.
    {"RecountThatReversesKeepsCount", 2, 50, {pod("a", 30), withoutMetrics("b")}, 2, 30},
};
INSTANTIATE_TEST_SUITE_P(Hpa, Utilization, ::testing::ValuesIn(kUtilization),
                         [](const auto& info) { return info.param.name; });

TEST(HpaUtilizationErrors, NoPods) {
  auto r = desiredForUtilization(1, 50, "cpu", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().message(), "no pods returned by selector while calculating replica count");
}

TEST(HpaUtilizationErrors, NoReadyPodWithMetrics) {
  auto r = desiredForUtilization(2, 50, "cpu", {unready(pod("a", 10)), withoutMetrics("b")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().message(), "did not receive metrics for targeted pods (pods might be unready)");
}

TEST(HpaUtilizationErrors, MissingRequest) {
  PodSample p = pod("web-1", 10, 0);
  p.missing_request = true;
  p.missing_request_container = "app";
  auto r = desiredForUtilization(1, 50, "cpu", {p});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().message(), "missing request for cpu in container app of Pod web-1");
}

TEST(HpaAverageValue, ScalesOnAveragePerPod) {
  const int64_t mi = int64_t{1} << 20;
  auto r = desiredForAverageValue(2, 100 * mi, "memory", {pod("a", 200 * mi, 0), pod("b", 200 * mi, 0)});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->replicas, 4);
  EXPECT_EQ(r->raw_average, 200 * mi);
}

TEST(HpaAverageValue, RequestsNotNeeded) {
  PodSample p = pod("a", 50, 0);
  p.missing_request = true;
  auto r = desiredForAverageValue(1, 100, "memory", {p});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->replicas, 1);
}

// ---------------------------------------------------------------------------
// normalizeDesiredReplicas

WallTime t0() { return *parseRfc3339("2024-05-01T12:00:00Z"); }

struct NormalizeCase {
  std::string name;
  int32_t current, proposed, min, max;
  int32_t want;
  bool limited;
  std::string reason;
};
void PrintTo(const NormalizeCase& c, std::ostream* os) { *os << c.name; }

class Normalize : public ::testing::TestWithParam<NormalizeCase> {};

TEST_P(Normalize, ClampsAsUpstream) {
  const auto& c = GetParam();
  std::deque<Recommendation> history;
  auto n = normalizeDesiredReplicas(c.current, c.proposed, c.min, c.max, 300s, t0(), history);
  EXPECT_EQ(n.replicas, c.want);
  EXPECT_EQ(n.limited, c.limited);
  EXPECT_EQ(n.limited_reason, c.reason);
  EXPECT_FALSE(n.stabilized);
}

const NormalizeCase kNormalize[] = {
    {"WithinRange", 2, 3, 1, 5, 3, false, "DesiredWithinRange"},
    {"TooMany", 1, 4, 1, 3, 3, true, "TooManyReplicas"},
    {"TooFew", 3, 1, 2, 5, 2, true, "TooFewReplicas"},
    {"ScaleUpLimitIsFourFromOne", 1, 10, 1, 20, 4, true, "ScaleUpLimit"},
    {"ScaleUpLimitIsDouble", 5, 30, 1, 20, 10, true, "ScaleUpLimit"},
};
INSTANTIATE_TEST_SUITE_P(Hpa, Normalize, ::testing::ValuesIn(kNormalize),
                         [](const auto& info) { return info.param.name; });

TEST(HpaStabilization, HighestRecentRecommendationWins) {
  std::deque<Recommendation> history;
  auto n = normalizeDesiredReplicas(3, 3, 1, 5, 300s, t0(), history);
  EXPECT_EQ(n.replicas, 3);
  n = normalizeDesiredReplicas(3, 1, 1, 5, 300s, t0() + 100s, history);
  EXPECT_EQ(n.replicas, 3);
  EXPECT_TRUE(n.stabilized);
  // Past the window of the 3, the highest left is 1.
  n = normalizeDesiredReplicas(3, 1, 1, 5, 300s, t0() + 301s, history);
  EXPECT_EQ(n.replicas, 1);
  EXPECT_FALSE(n.stabilized);
  // The outdated entry was reused, not appended.
  EXPECT_EQ(history.size(), 2u);
}

TEST(HpaStabilization, ScaleUpIsNotHeldBack) {
  std::deque<Recommendation> history;
  (void)normalizeDesiredReplicas(2, 1, 1, 5, 300s, t0(), history);
  auto n = normalizeDesiredReplicas(2, 4, 1, 5, 300s, t0() + 15s, history);
  EXPECT_EQ(n.replicas, 4);
  EXPECT_FALSE(n.stabilized);
}

TEST(HpaStabilization, ZeroWindowScalesDownAtOnce) {
  std::deque<Recommendation> history;
  (void)normalizeDesiredReplicas(3, 3, 1, 5, 0s, t0(), history);
  auto n = normalizeDesiredReplicas(3, 1, 1, 5, 0s, t0() + 1s, history);
  EXPECT_EQ(n.replicas, 1);
}

}  // namespace
}  // namespace capstan::controllers::hpa
