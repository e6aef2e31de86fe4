#pragma once
// Running one CNI plugin per the CNI spec: the network config on stdin,
// the parameters in CNI_* environment variables, the result (or an error
// object) on stdout.

#include <string>
#include <vector>

#include "agent/network/network.h"
#include "common/json.h"

namespace capstan::agent::network {

inline constexpr const char* kCniVersion = "1.0.0";

struct CniCall {
  std::string command;  // ADD, DEL, CHECK
  std::string container_id;
  std::string netns;
  std::string ifname;
};

// Runs <bin_dir>/<config.type>; returns the parsed result (an empty
// object for DEL). Errors carry the plugin's msg/details.
Result<Json> runCniPlugin(const std::string& bin_dir, const Json& config, const CniCall& call);

// The three network configs of a pod; prev_result empty for none.
// ip_masq: the bridge plugin's own per-pod masquerade chain (sandboxes
// made by older agents had it; today the node has one rule instead).
Json loopbackConfig(const NetworkConfig& config);
Json bridgeConfig(const NetworkConfig& config, const Json& prev_result, bool ip_masq);
Json portmapConfig(const NetworkConfig& config, const std::vector<PortMapping>& ports, const Json& prev_result);

// The first IPv4 address of a result, without its prefix, and its gateway.
std::string resultIp(const Json& result);
std::string resultGateway(const Json& result);

}  // namespace capstan::agent::network
