#pragma once
// Scheduler test fixtures: a cluster described in YAML (nodes, placed pods,
// namespaces) loaded into a Snapshot, with shorthands so cases stay short:
// a node without status gets allocatable cpu 4, memory 8Gi, pods 110, and
// every node gets kubernetes.io/hostname=<name> unless it has one.

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "common/json.h"
#include "scheduler/framework.h"

namespace capstan::scheduler::testing {

inline Json yaml(std::string_view text) {
  Result<Json> j = parseYaml(text);
  EXPECT_TRUE(j.isOk()) << j.status().message() << "\n" << text;
  return j.isOk() ? std::move(j).value() : Json();
}

inline std::shared_ptr<const Json> completeNode(Json node) {
  if (!node["status"].is_object()) {
    node["status"] = {{"allocatable", {{"cpu", "4"}, {"memory", "8Gi"}, {"pods", "110"}}}};
  }
  std::string name = node["metadata"]["name"].get<std::string>();
  if (!node["metadata"]["labels"].is_object()) node["metadata"]["labels"] = Json::object();
  if (!node["metadata"]["labels"].contains("kubernetes.io/hostname")) {
    node["metadata"]["labels"]["kubernetes.io/hostname"] = name;
  }
  return std::make_shared<const Json>(std::move(node));
}

inline std::shared_ptr<const Json> completePod(Json pod) {
  if (!pod["metadata"].contains("namespace")) pod["metadata"]["namespace"] = "default";
  if (!pod["spec"].is_object()) pod["spec"] = Json::object();
  if (!pod["spec"].contains("containers")) pod["spec"]["containers"] = Json::array({{{"name", "c"}}});
  return std::make_shared<const Json>(std::move(pod));
}

// {nodes: [...], pods: [...], namespaces: [...]} into `snapshot`.
inline void load(Snapshot& snapshot, const Json& cluster) {
  if (cluster.contains("nodes")) {
    for (const Json& n : cluster["nodes"]) ASSERT_TRUE(snapshot.upsertNode(completeNode(n)).isOk());
  }
  if (cluster.contains("namespaces")) {
    for (const Json& n : cluster["namespaces"]) snapshot.upsertNamespace(std::make_shared<const Json>(n));
  }
  if (cluster.contains("pods")) {
    for (const Json& p : cluster["pods"]) ASSERT_TRUE(snapshot.upsertPod(completePod(p)).isOk());
  }
}

// A deterministic random source: a fixed sequence of values, cycled.
inline RandomSource fixedRandom(uint64_t value = 0) {
  return [value] { return value; };
}

// The nodes the pod can go to: each node is tried alone by pinning the pod
// to it with spec.nodeName (the NodeName filter then rejects every other
// node while the rest of the cluster still counts for affinity and
// spreading). `message` gets the FitError of an unpinned cycle when nothing
// fits. A pod that names its node is scheduled once, as it is.
inline std::set<std::string> feasibleNodes(const Json& cluster, std::string* message) {
  std::set<std::string> out;
  Snapshot snapshot;
  load(snapshot, cluster);
  Scheduler scheduler;
  Result<ScheduleResult> r = scheduler.schedule(completePod(cluster["pod"]), snapshot);
  EXPECT_TRUE(r.isOk()) << r.status().message();
  if (!r.isOk()) return out;
  if (!r->scheduled()) {
    *message = r->fit_error.message();
    return out;
  }
  if (cluster["pod"].contains("spec") && cluster["pod"]["spec"].contains("nodeName")) {
    out.insert(r->node);
    return out;
  }
  for (const NodeInfo* node : snapshot.nodes()) {
    Json pinned = cluster["pod"];
    pinned["spec"]["nodeName"] = node->name;
    Result<ScheduleResult> one = scheduler.schedule(completePod(pinned), snapshot);
    if (one.isOk() && one->scheduled()) out.insert(one->node);
  }
  return out;
}

}  // namespace capstan::scheduler::testing
