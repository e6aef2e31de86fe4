#pragma once
// What cluster DNS needs of Services, EndpointSlices and Pods, read once
// from the informers' objects so that building a zone never touches JSON.
// Every reader tolerates missing or mistyped fields (objects come from the
// API, but DNS must never fail on one odd object).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/json.h"

namespace capstan::dns {

struct PortInfo {
  std::string name;      // empty for an unnamed port (no SRV record)
  std::string protocol;  // TCP, UDP or SCTP
  int port = 0;
};

struct ServiceInfo {
  std::string ns, name;
  bool headless = false;                 // spec.clusterIP "None"
  std::string external_name;             // spec.externalName of type ExternalName
  std::vector<std::string> cluster_ips;  // spec.clusterIPs (or spec.clusterIP)
  std::vector<PortInfo> ports;
};

struct EndpointInfo {
  std::vector<std::string> addresses;
  std::string hostname;
  bool ready = true;  // conditions.ready; absent means ready
};

struct SliceInfo {
  std::string ns, name;
  std::string service;       // label kubernetes.io/service-name
  std::string address_type;  // IPv4, IPv6 or FQDN
  std::vector<EndpointInfo> endpoints;
  std::vector<PortInfo> ports;
};

struct PodInfo {
  std::string ns, name;
  std::vector<std::string> ips;  // status.podIPs (or status.podIP); empty once terminated
};

ServiceInfo serviceInfoOf(const Json& service);
SliceInfo sliceInfoOf(const Json& slice);
PodInfo podInfoOf(const Json& pod);

// The cluster as DNS sees it, each map keyed "namespace/name".
struct ClusterSources {
  std::map<std::string, std::shared_ptr<const ServiceInfo>> services;
  std::map<std::string, std::shared_ptr<const SliceInfo>> slices;
  std::map<std::string, std::shared_ptr<const PodInfo>> pods;
};

}  // namespace capstan::dns
