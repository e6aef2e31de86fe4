#pragma once
// Private to the API server: the cluster-state metrics that
// kube-state-metrics serves, with its names, labels and value conventions
// (one series per phase or condition status, 0 or 1; container waiting and
// terminated reasons only while in that state), computed when scraped from
// the watch cache's objects. Nothing is kept between scrapes.
//
// Served at /metrics/cluster-state (see docs/architecture.md for why a
// path of its own rather than part of /metrics).

#include <string>
#include <vector>

#include "common/json.h"

namespace capstan::apiserver {

class ObjectCache;

// The objects a scrape reads; pointers stay valid for the call.
struct ClusterStateObjects {
  std::vector<const Json*> namespaces;
  std::vector<const Json*> nodes;
  std::vector<const Json*> pods;
  std::vector<const Json*> deployments;
  std::vector<const Json*> daemonsets;
  std::vector<const Json*> statefulsets;
  std::vector<const Json*> jobs;
};

// The Prometheus text exposition (0.0.4) of every family, each with its
// HELP and TYPE even when it has no series.
std::string renderClusterStateMetrics(const ClusterStateObjects& objects);

// Reads the objects from the cache (one shared lock per resource) and renders them.
std::string clusterStateMetrics(const ObjectCache& cache);

}  // namespace capstan::apiserver
