#include "api/known_fields.h"

#include <map>
#include <set>

namespace capstan::api {
namespace {

const std::set<std::string>& rootFields(const ResourceInfo& info) {
  static const std::set<std::string> kSpecStatus = {"apiVersion", "kind", "metadata", "spec", "status"};
  static const std::map<std::string, std::set<std::string>> kByKind = {
      {"ConfigMap", {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"}},
      {"Secret", {"apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"}},
      {"Endpoints", {"apiVersion", "kind", "metadata", "subsets"}},
      {"ServiceAccount", {"apiVersion", "kind", "metadata", "secrets", "imagePullSecrets", "automountServiceAccountToken"}},
      {"ControllerRevision", {"apiVersion", "kind", "metadata", "data", "revision"}},
      {"EndpointSlice", {"apiVersion", "kind", "metadata", "addressType", "endpoints", "ports"}},
  };
  static const std::set<std::string> kCoreEvent = {
      "apiVersion", "kind", "metadata", "involvedObject", "reason", "message", "source", "firstTimestamp",
      "lastTimestamp", "count", "type", "eventTime", "series", "action", "related", "reportingComponent",
      "reportingInstance"};
  static const std::set<std::string> kEventsV1 = {
      "apiVersion", "kind", "metadata", "eventTime", "series", "reportingController", "reportingInstance",
      "action", "reason", "regarding", "related", "note", "type", "deprecatedSource", "deprecatedFirstTimestamp",
      "deprecatedLastTimestamp", "deprecatedCount"};
  if (info.kind == "Event") return info.group.empty() ? kCoreEvent : kEventsV1;
  auto it = kByKind.find(info.kind);
  return it == kByKind.end() ? kSpecStatus : it->second;
}

const std::set<std::string> kObjectMeta = {
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields"};

}  // namespace

std::vector<std::string> unknownFields(const ResourceInfo& info, const Json& obj) {
  std::vector<std::string> out;
  if (!obj.is_object()) return out;
  const auto& roots = rootFields(info);
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (!roots.count(it.key())) out.push_back(it.key());
  if (auto m = obj.find("metadata"); m != obj.end() && m->is_object())
    for (auto it = m->begin(); it != m->end(); ++it)
      if (!kObjectMeta.count(it.key())) out.push_back("metadata." + it.key());
  return out;
}

}  // namespace capstan::api
