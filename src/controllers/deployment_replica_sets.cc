#include "controllers/deployment_replica_sets.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "client/client.h"
#include "controllers/object_fields.h"
#include "controllers/workload_fields.h"

namespace capstan::controllers::deployment {
namespace {

// Drops nulls and empty objects/arrays, recursively.
Json normalized(const Json& j) {
  if (j.is_object()) {
    Json out = Json::object();
    for (const auto& [k, v] : j.items()) {
      Json n = normalized(v);
      if (n.is_null() || ((n.is_object() || n.is_array()) && n.empty())) continue;
      out[k] = std::move(n);
    }
    return out;
  }
  if (j.is_array()) {
    Json out = Json::array();
    for (const auto& v : j) out.push_back(normalized(v));
    return out;
  }
  return j;
}

Json withoutHash(const Json& pod_template) {
  Json t = pod_template.is_object() ? pod_template : Json::object();
  if (auto m = t.find("metadata"); m != t.end() && m->is_object())
    if (auto l = m->find("labels"); l != m->end() && l->is_object()) l->erase(kPodTemplateHashLabel);
  return normalized(t);
}

std::optional<int64_t> parseInt(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

const Json& rollingUpdateOf(const Json& d) {
  return objectField(objectField(specOf(d), "strategy"), "rollingUpdate");
}

Json intOrPercent(const Json& ru, const char* field) {
  const Json& v = fieldOrNull(ru, field);
  return v.is_null() ? Json("25%") : v;
}

std::pair<int64_t, int64_t> resolveFenceposts(const Json& d) {
  int64_t desired = specReplicas(d);
  const Json& ru = rollingUpdateOf(d);
  auto surge = scaledValue(intOrPercent(ru, "maxSurge"), desired, true);
  auto unavailable = scaledValue(intOrPercent(ru, "maxUnavailable"), desired, false);
  int64_t s = surge ? *surge : 0;
  int64_t u = unavailable ? *unavailable : 0;
  if (s == 0 && u == 0) u = 1;  // validation forbids both zero; guard anyway
  return {s, u};
}

std::optional<WallTime> createdAt(const Json& o) { return timeField(metadataOf(o), "creationTimestamp"); }

// Upstream's ReplicaSetsByCreationTimestamp.Less.
bool createdBefore(const Json& a, const Json& b) {
  auto ta = createdAt(a), tb = createdAt(b);
  if (ta == tb) return client::nameOf(a) < client::nameOf(b);
  if (!ta || !tb) return !ta;
  return *ta < *tb;
}

int64_t annotationInt(const Json& rs, const char* key, bool* ok) {
  auto v = parseInt(annotationOf(rs, key));
  *ok = v.has_value();
  return v.value_or(0);
}

}  // namespace

std::string safeEncodeString(std::string_view s) {
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string out(s.size(), ' ');
  for (size_t i = 0; i < s.size(); ++i)
    out[i] = kAlphabet[static_cast<unsigned char>(s[i]) % kAlphabet.size()];
  return out;
}

std::string computeHash(const Json& pod_template, std::optional<int64_t> collision_count) {
  uint32_t h = 2166136261u;
  auto feed = [&h](unsigned char b) {
    h ^= b;
    h *= 16777619u;
  };
  for (unsigned char c : normalized(pod_template).dump()) feed(c);
  if (collision_count) {
    auto v = static_cast<uint32_t>(*collision_count);
    for (int i = 0; i < 8; ++i) feed(i < 4 ? static_cast<unsigned char>((v >> (8 * i)) & 0xff) : 0);
  }
  return safeEncodeString(std::to_string(h));
}

bool equalIgnoreHash(const Json& a, const Json& b) { return withoutHash(a) == withoutHash(b); }

Result<int64_t> scaledValue(const Json& v, int64_t total, bool round_up) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (!v.is_string()) return Status(Code::kInvalid, "invalid value for IntOrString: invalid type");
  std::string s = v.get<std::string>();
  if (s.empty() || s.back() != '%')
    return Status(Code::kInvalid, "invalid value for IntOrString: invalid type: string is not a percentage");
  auto pct = parseInt(std::string_view(s).substr(0, s.size() - 1));
  if (!pct) return Status(Code::kInvalid, "invalid value \"" + s + "\"");
  double scaled = static_cast<double>(*pct) * static_cast<double>(total) / 100.0;
  return static_cast<int64_t>(round_up ? std::ceil(scaled) : std::floor(scaled));
}

bool isRollingUpdate(const Json& d) {
  return stringField(objectField(specOf(d), "strategy"), "type", "RollingUpdate") == "RollingUpdate";
}

int64_t maxSurge(const Json& d) { return isRollingUpdate(d) ? resolveFenceposts(d).first : 0; }

int64_t maxUnavailable(const Json& d) {
  int64_t replicas = specReplicas(d);
  if (!isRollingUpdate(d) || replicas == 0) return 0;
  return std::min(resolveFenceposts(d).second, replicas);
}

int64_t revisionOf(const Json& rs) { return parseInt(annotationOf(rs, kRevisionAnnotation)).value_or(0); }

int64_t maxRevision(const std::vector<Json>& rss) {
  int64_t m = 0;
  for (const auto& rs : rss) m = std::max(m, revisionOf(rs));
  return m;
}

bool hasProgressDeadline(const Json& d) {
  return hasInt(specOf(d), "progressDeadlineSeconds") &&
         intField(specOf(d), "progressDeadlineSeconds") != 2147483647;
}

bool setNewReplicaSetAnnotations(const Json& d, Json& rs, const std::string& new_revision, bool exists) {
  static const std::vector<std::string> kSkip = {"kubectl.kubernetes.io/last-applied-configuration",
                                                 kRevisionAnnotation,
                                                 kRevisionHistoryAnnotation,
                                                 kDesiredReplicasAnnotation,
                                                 kMaxReplicasAnnotation,
                                                 "deprecated.deployment.rollback.to"};
  bool changed = false;
  Json& annotations = rs["metadata"]["annotations"];
  if (!annotations.is_object()) annotations = Json::object();
  for (const auto& [k, v] : objectField(metadataOf(d), "annotations").items()) {
    if (std::find(kSkip.begin(), kSkip.end(), k) != kSkip.end() || !v.is_string()) continue;
    if (annotations.contains(k) && annotations[k] == v) continue;
    annotations[k] = v;
    changed = true;
  }
  std::string old_revision = stringField(annotations, kRevisionAnnotation);
  auto old_int = old_revision.empty() ? std::optional<int64_t>(0) : parseInt(old_revision);
  auto new_int = parseInt(new_revision);
  if (!old_int || !new_int) return changed;  // malformed: leave as is, as upstream
  if (*old_int < *new_int) {
    annotations[kRevisionAnnotation] = new_revision;
    changed = true;
    // A known RS taking a newer revision is a rollback to it: keep the
    // revisions it had, bounded in length.
    if (!old_revision.empty()) {
      std::string history = stringField(annotations, kRevisionHistoryAnnotation);
      if (history.empty()) {
        annotations[kRevisionHistoryAnnotation] = old_revision;
      } else {
        std::vector<std::string> parts;
        for (size_t start = 0;;) {
          size_t comma = history.find(',', start);
          parts.push_back(history.substr(start, comma - start));
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
        size_t total = history.size() + old_revision.size() + 1;
        size_t first = 0;
        while (total > kMaxRevisionHistoryChars && first < parts.size()) total -= parts[first++].size() + 1;
        if (total <= kMaxRevisionHistoryChars) {
          std::string joined;
          for (size_t i = first; i < parts.size(); ++i) joined += parts[i] + ",";
          annotations[kRevisionHistoryAnnotation] = joined + old_revision;
        }
      }
    }
  }
  if (!exists && setReplicasAnnotations(rs, specReplicas(d), specReplicas(d) + maxSurge(d))) changed = true;
  return changed;
}

bool setReplicasAnnotations(Json& rs, int64_t desired, int64_t max) {
  Json& annotations = rs["metadata"]["annotations"];
  if (!annotations.is_object()) annotations = Json::object();
  bool changed = false;
  for (auto [key, value] :
       {std::pair{kDesiredReplicasAnnotation, desired}, std::pair{kMaxReplicasAnnotation, max}}) {
    std::string s = std::to_string(value);
    if (stringField(annotations, key) == s) continue;
    annotations[key] = s;
    changed = true;
  }
  return changed;
}

bool replicasAnnotationsNeedUpdate(const Json& rs, int64_t desired, int64_t max) {
  return annotationOf(rs, kDesiredReplicasAnnotation) != std::to_string(desired) ||
         annotationOf(rs, kMaxReplicasAnnotation) != std::to_string(max);
}

bool setDeploymentRevision(Json& d, const std::string& revision) {
  if (annotationOf(d, kRevisionAnnotation) == revision) return false;
  Json& annotations = d["metadata"]["annotations"];
  if (!annotations.is_object()) annotations = Json::object();
  annotations[kRevisionAnnotation] = revision;
  return true;
}

int64_t specReplicaCount(const std::vector<Json>& rss) {
  int64_t n = 0;
  for (const auto& rs : rss) n += specReplicas(rs);
  return n;
}
int64_t actualReplicaCount(const std::vector<Json>& rss) {
  int64_t n = 0;
  for (const auto& rs : rss) n += statusCount(rs, "replicas");
  return n;
}
int64_t readyReplicaCount(const std::vector<Json>& rss) {
  int64_t n = 0;
  for (const auto& rs : rss) n += statusCount(rs, "readyReplicas");
  return n;
}
int64_t availableReplicaCount(const std::vector<Json>& rss) {
  int64_t n = 0;
  for (const auto& rs : rss) n += statusCount(rs, "availableReplicas");
  return n;
}

void sortByCreation(std::vector<Json>& rss) { std::stable_sort(rss.begin(), rss.end(), createdBefore); }

void sortByRevision(std::vector<Json>& rss) {
  std::stable_sort(rss.begin(), rss.end(), [](const Json& a, const Json& b) {
    if (revisionOf(a) == revisionOf(b)) return createdBefore(a, b);
    return revisionOf(a) < revisionOf(b);
  });
}

void sortBySizeNewer(std::vector<Json>& rss) {
  std::stable_sort(rss.begin(), rss.end(), [](const Json& a, const Json& b) {
    if (specReplicas(a) == specReplicas(b)) return createdBefore(b, a);
    return specReplicas(a) > specReplicas(b);
  });
}

void sortBySizeOlder(std::vector<Json>& rss) {
  std::stable_sort(rss.begin(), rss.end(), [](const Json& a, const Json& b) {
    if (specReplicas(a) == specReplicas(b)) return createdBefore(a, b);
    return specReplicas(a) > specReplicas(b);
  });
}

int64_t newReplicaSetReplicas(const Json& d, const std::vector<Json>& all, const Json& new_rs) {
  int64_t replicas = specReplicas(d);
  if (!isRollingUpdate(d)) return replicas;
  auto surge = scaledValue(intOrPercent(rollingUpdateOf(d), "maxSurge"), replicas, true);
  int64_t max_total = replicas + (surge ? *surge : 0);
  int64_t current = specReplicaCount(all);
  if (current >= max_total) return specReplicas(new_rs);  // cannot scale up
  int64_t up = std::min(max_total - current, replicas - specReplicas(new_rs));
  return specReplicas(new_rs) + up;
}

bool isSaturated(const Json& d, const Json* rs) {
  if (!rs) return false;
  bool ok = false;
  int64_t desired = annotationInt(*rs, kDesiredReplicasAnnotation, &ok);
  if (!ok) return false;
  int64_t replicas = specReplicas(d);
  return specReplicas(*rs) == replicas && desired == replicas &&
         statusCount(*rs, "availableReplicas") == replicas;
}

int64_t proportion(const Json& rs, const Json& d, int64_t to_add, int64_t added) {
  if (specReplicas(rs) == 0 || to_add == 0 || to_add == added) return 0;
  int64_t fraction = 0;
  if (specReplicas(d) == 0) {
    fraction = -specReplicas(rs);
  } else {
    int64_t deployment_replicas = specReplicas(d) + maxSurge(d);
    bool ok = false;
    int64_t annotated = annotationInt(rs, kMaxReplicasAnnotation, &ok);
    if (!ok) annotated = statusCount(d, "replicas");
    double size = annotated == 0 ? 0.0
                                 : static_cast<double>(specReplicas(rs) * deployment_replicas) /
                                       static_cast<double>(annotated);
    fraction = static_cast<int64_t>(std::round(size)) - specReplicas(rs);
  }
  int64_t allowed = to_add - added;
  return to_add > 0 ? std::min(fraction, allowed) : std::max(fraction, allowed);
}

bool deploymentComplete(const Json& d, const Json& status) {
  int64_t replicas = specReplicas(d);
  return intField(status, "updatedReplicas") == replicas && intField(status, "replicas") == replicas &&
         intField(status, "availableReplicas") == replicas &&
         intField(status, "observedGeneration") >= generationOf(d);
}

bool deploymentProgressing(const Json& d, const Json& status) {
  const Json& old = statusOf(d);
  int64_t old_old = intField(old, "replicas") - intField(old, "updatedReplicas");
  int64_t new_old = intField(status, "replicas") - intField(status, "updatedReplicas");
  return intField(status, "updatedReplicas") > intField(old, "updatedReplicas") || new_old < old_old ||
         intField(status, "readyReplicas") > intField(old, "readyReplicas") ||
         intField(status, "availableReplicas") > intField(old, "availableReplicas");
}

bool deploymentTimedOut(const Json& d, const Json& status, WallTime now) {
  if (!hasProgressDeadline(d)) return false;
  const Json* c = getCondition(status, "Progressing");
  if (!c) return false;
  std::string reason = stringField(*c, "reason");
  if (reason == kNewReplicaSetAvailableReason) return false;
  if (reason == kTimedOutReason) return true;
  auto from = timeField(*c, "lastUpdateTime");
  if (!from) return false;
  return *from + std::chrono::seconds(intField(specOf(d), "progressDeadlineSeconds")) < now;
}

Json newCondition(const std::string& type, const std::string& status, const std::string& reason,
                  const std::string& message, WallTime now) {
  std::string t = formatRfc3339(now);
  return {{"type", type},     {"status", status},  {"lastUpdateTime", t}, {"lastTransitionTime", t},
          {"reason", reason}, {"message", message}};
}

const Json* getCondition(const Json& status, std::string_view type) {
  for (const auto& c : arrayField(status, "conditions"))
    if (stringField(c, "type") == type) return &c;
  return nullptr;
}

void setCondition(Json& status, Json condition) {
  std::string type = stringField(condition, "type");
  if (const Json* cur = getCondition(status, type)) {
    if (stringField(*cur, "status") == stringField(condition, "status") &&
        stringField(*cur, "reason") == stringField(condition, "reason"))
      return;
    if (stringField(*cur, "status") == stringField(condition, "status"))
      condition["lastTransitionTime"] = fieldOrNull(*cur, "lastTransitionTime");
  }
  removeCondition(status, type);
  status["conditions"].push_back(std::move(condition));
}

void removeCondition(Json& status, std::string_view type) {
  Json kept = Json::array();
  for (const auto& c : arrayField(status, "conditions"))
    if (stringField(c, "type") != type) kept.push_back(c);
  if (kept.empty())
    status.erase("conditions");
  else
    status["conditions"] = std::move(kept);
}

}  // namespace capstan::controllers::deployment
