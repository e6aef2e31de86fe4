#include "agent/network/cni.h"

#include "agent/runtime/process.h"

namespace capstan::agent::network {

Result<Json> runCniPlugin(const std::string& bin_dir, const Json& config, const CniCall& call) {
  std::string type = getString(config, "type");
  runtime::ProcessOptions options;
  options.stdin_data = config.dump();
  options.timeout = std::chrono::seconds(60);
  options.env = {"CNI_COMMAND=" + call.command, "CNI_CONTAINERID=" + call.container_id,
                 "CNI_NETNS=" + call.netns,     "CNI_IFNAME=" + call.ifname,
                 "CNI_PATH=" + bin_dir,         "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  auto r = runtime::runProcess({bin_dir + "/" + type, }, options);
  if (!r) return r.status();
  if (r->exit_code != 0) {
    std::string msg = runtime::firstLine(r->err);
    if (auto err = parseJson(r->out)) {
      msg = getString(*err, "msg", msg);
      std::string details = getString(*err, "details");
      if (!details.empty()) msg += ": " + details;
    }
    return Status(Code::kInternal, "CNI " + type + " " + call.command + " failed: " + msg);
  }
  if (call.command != "ADD") return Json::object();
  auto result = parseJson(r->out);
  if (!result) return Status(Code::kInternal, "CNI " + type + " ADD: result is not JSON");
  return result;
}

Json loopbackConfig(const NetworkConfig& config) {
  return {{"cniVersion", kCniVersion}, {"name", config.network_name + "-lo"}, {"type", "loopback"}};
}

Json bridgeConfig(const NetworkConfig& config, const Json& prev_result, bool ip_masq) {
  Json c = {{"cniVersion", kCniVersion},
            {"name", config.network_name},
            {"type", "bridge"},
            {"bridge", config.bridge},
            {"isGateway", true},
            {"ipMasq", ip_masq},
            {"hairpinMode", config.hairpin_mode},
            {"ipam",
             {{"type", "host-local"},
              {"ranges", Json::array({Json::array({{{"subnet", config.subnet}}})})},
              {"routes", Json::array({{{"dst", "0.0.0.0/0"}}})},
              {"dataDir", config.ipam_data_dir}}}};
  if (config.mtu > 0) c["mtu"] = config.mtu;
  if (!prev_result.is_null()) c["prevResult"] = prev_result;
  return c;
}

Json portmapConfig(const NetworkConfig& config, const std::vector<PortMapping>& ports, const Json& prev_result) {
  Json mappings = Json::array();
  for (const auto& p : ports) {
    Json m = {{"hostPort", p.host_port}, {"containerPort", p.container_port}, {"protocol", p.protocol}};
    if (!p.host_ip.empty()) m["hostIP"] = p.host_ip;
    mappings.push_back(m);
  }
  Json c = {{"cniVersion", kCniVersion},
            {"name", config.network_name},
            {"type", "portmap"},
            {"capabilities", {{"portMappings", true}}},
            {"snat", true},
            {"runtimeConfig", {{"portMappings", mappings}}}};
  if (!prev_result.is_null()) c["prevResult"] = prev_result;
  return c;
}

std::string resultIp(const Json& result) {
  const Json* ips = find(result, "ips");
  if (!ips || !ips->is_array()) return "";
  for (const auto& ip : *ips) {
    std::string a = getString(ip, "address");
    if (a.find('.') == std::string::npos) continue;
    return a.substr(0, a.find('/'));
  }
  return "";
}

std::string resultGateway(const Json& result) {
  const Json* ips = find(result, "ips");
  if (!ips || !ips->is_array() || ips->empty()) return "";
  return getString((*ips)[0], "gateway");
}

}  // namespace capstan::agent::network
