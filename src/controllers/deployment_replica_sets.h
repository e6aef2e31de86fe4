#pragma once
// The Deployment controller's arithmetic over Deployments and their
// ReplicaSets, as upstream's pkg/controller/deployment/util: the pod
// template hash, maxSurge/maxUnavailable, revisions and their annotations,
// proportional scaling and the rollout predicates. Pure functions over JSON
// objects (copies: nothing here touches a cache or the API).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::controllers::deployment {

inline constexpr const char* kRevisionAnnotation = "deployment.kubernetes.io/revision";
inline constexpr const char* kRevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history";
inline constexpr const char* kDesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas";
inline constexpr const char* kMaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas";
inline constexpr const char* kPodTemplateHashLabel = "pod-template-hash";
// Upstream's maxRevHistoryLengthInChars.
inline constexpr size_t kMaxRevisionHistoryChars = 2000;

// Condition reasons, as upstream's deployment util.
inline constexpr const char* kNewReplicaSetReason = "NewReplicaSetCreated";
inline constexpr const char* kFoundNewReplicaSetReason = "FoundNewReplicaSet";
inline constexpr const char* kReplicaSetUpdatedReason = "ReplicaSetUpdated";
inline constexpr const char* kNewReplicaSetAvailableReason = "NewReplicaSetAvailable";
inline constexpr const char* kTimedOutReason = "ProgressDeadlineExceeded";
inline constexpr const char* kFailedReplicaSetCreateReason = "ReplicaSetCreateError";
inline constexpr const char* kPausedReason = "DeploymentPaused";
inline constexpr const char* kResumedReason = "DeploymentResumed";
inline constexpr const char* kMinimumReplicasAvailable = "MinimumReplicasAvailable";
inline constexpr const char* kMinimumReplicasUnavailable = "MinimumReplicasUnavailable";

// Go's SafeEncodeString: each byte mapped into "bcdfghjklmnpqrstvwxz2456789".
std::string safeEncodeString(std::string_view s);
// The pod-template-hash of a template: fnv32a over its canonical JSON (and
// the collision count as 8 little-endian bytes when set), printed in
// decimal and safe-encoded, as upstream's ComputeHash.
std::string computeHash(const Json& pod_template, std::optional<int64_t> collision_count);
// Templates equal once the pod-template-hash label is dropped from both
// (nulls and empty maps or lists count as absent, as Semantic.DeepEqual).
bool equalIgnoreHash(const Json& a, const Json& b);

// An int-or-string ("25%") scaled against total, rounding up or down.
Result<int64_t> scaledValue(const Json& int_or_percent, int64_t total, bool round_up);
bool isRollingUpdate(const Json& d);
// maxSurge (rounded up) and maxUnavailable (rounded down); both zero gives
// maxUnavailable 1. Zero for Recreate.
int64_t maxSurge(const Json& d);
int64_t maxUnavailable(const Json& d);

// The revision annotation (0 when absent or malformed).
int64_t revisionOf(const Json& rs);
int64_t maxRevision(const std::vector<Json>& rss);
bool hasProgressDeadline(const Json& d);
// Copies the deployment's annotations (but the controller's own and
// kubectl's last-applied) to the new RS and raises its revision to
// `new_revision`, keeping the earlier one in revision-history; a new RS
// also gets desired-/max-replicas. True when anything changed.
bool setNewReplicaSetAnnotations(const Json& d, Json& rs, const std::string& new_revision, bool exists);
bool setReplicasAnnotations(Json& rs, int64_t desired, int64_t max);
bool replicasAnnotationsNeedUpdate(const Json& rs, int64_t desired, int64_t max);
// Sets the deployment's revision annotation; true when it changed.
bool setDeploymentRevision(Json& d, const std::string& revision);

// Sums over ReplicaSets: spec.replicas, status.replicas, ready, available.
int64_t specReplicaCount(const std::vector<Json>& rss);
int64_t actualReplicaCount(const std::vector<Json>& rss);
int64_t readyReplicaCount(const std::vector<Json>& rss);
int64_t availableReplicaCount(const std::vector<Json>& rss);

// Orderings (stable): oldest first (name breaks ties); by revision; larger
// first with newer (BySizeNewer) or older (BySizeOlder) breaking ties.
void sortByCreation(std::vector<Json>& rss);
void sortByRevision(std::vector<Json>& rss);
void sortBySizeNewer(std::vector<Json>& rss);
void sortBySizeOlder(std::vector<Json>& rss);

// How many replicas the new RS may have now (maxSurge for RollingUpdate,
// all of them for Recreate).
int64_t newReplicaSetReplicas(const Json& d, const std::vector<Json>& all, const Json& new_rs);
// The new RS is fully scaled and available.
bool isSaturated(const Json& d, const Json* rs);
// Upstream's GetProportion for proportional scaling.
int64_t proportion(const Json& rs, const Json& d, int64_t to_add, int64_t added);

// Rollout predicates over a computed status.
bool deploymentComplete(const Json& d, const Json& status);
bool deploymentProgressing(const Json& d, const Json& status);
bool deploymentTimedOut(const Json& d, const Json& status, WallTime now);

// Deployment conditions (type, status, lastUpdateTime, lastTransitionTime,
// reason, message).
Json newCondition(const std::string& type, const std::string& status, const std::string& reason,
                  const std::string& message, WallTime now);
const Json* getCondition(const Json& status, std::string_view type);
// Upstream's SetDeploymentCondition: no change when status and reason are
// the same; keeps lastTransitionTime when only the reason changes.
void setCondition(Json& status, Json condition);
void removeCondition(Json& status, std::string_view type);

}  // namespace capstan::controllers::deployment
