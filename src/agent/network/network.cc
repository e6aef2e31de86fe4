#include "agent/network/network.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "agent/network/cni.h"
#include "agent/network/namespaces.h"
#include "agent/runtime/process.h"
#include "common/log.h"

namespace capstan::agent::network {
namespace fs = std::filesystem;
using runtime::runProcess;
namespace {

constexpr const char* kIptables = "/usr/sbin/iptables";
constexpr const char* kIp = "/usr/sbin/ip";

bool validId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

Result<Json> readJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status(Code::kNotFound, "missing " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parseJson(ss.str());
}

Json portsToJson(const std::vector<PortMapping>& ports) {
  Json a = Json::array();
  for (const auto& p : ports)
    a.push_back({{"hostPort", p.host_port}, {"containerPort", p.container_port}, {"protocol", p.protocol},
                 {"hostIP", p.host_ip}});
  return a;
}

std::vector<PortMapping> portsFromJson(const Json& a) {
  std::vector<PortMapping> out;
  if (!a.is_array()) return out;
  for (const auto& p : a)
    out.push_back({p.value("hostPort", 0), p.value("containerPort", 0), p.value("protocol", "tcp"),
                   p.value("hostIP", "")});
  return out;
}

std::string readTrimmed(const std::string& path) {
  std::ifstream in(path);
  std::string value;
  std::getline(in, value);
  return value;
}

}  // namespace

Status ensureBridgeNetfilter(const std::string& proc_sys) {
  const std::string knob = proc_sys + "/net/bridge/bridge-nf-call-iptables";
  if (!fs::exists(knob)) {
    std::string why = "no modprobe";
    for (const char* modprobe : {"/usr/sbin/modprobe", "/sbin/modprobe"}) {
      if (!fs::exists(modprobe)) continue;
      auto r = runProcess({modprobe, "br_netfilter"});
      why = !r ? r.status().message() : r->exit_code != 0 ? runtime::firstLine(r->err) : "loaded nothing";
      break;
    }
    if (!fs::exists(knob))
      return Status(Code::kUnavailable, "br_netfilter is not loaded (" + knob + " is missing): " + why);
  }
  if (readTrimmed(knob) == "1") return Status::ok();
  std::ofstream out(knob);
  out << "1\n";
  out.close();
  if (!out || readTrimmed(knob) != "1") return Status(Code::kUnavailable, "cannot set " + knob + " to 1");
  LOG_INFO("set net.bridge.bridge-nf-call-iptables=1 (Service traffic between pods of one node needs it)");
  return Status::ok();
}

namespace {

class CniNetwork final : public Network {
 public:
  explicit CniNetwork(NetworkConfig config) : config_(std::move(config)) {}

  Status init() {
    if (config_.ipam_data_dir.empty() || config_.run_dir.empty())
      return Status(Code::kInvalid, "network needs ipam_data_dir and run_dir");
    if (config_.bridge.empty() || config_.bridge.size() > 15) return Status(Code::kInvalid, "bad bridge name");
    for (const char* p : {"loopback", "bridge", "host-local", "portmap"})
      if (!fs::exists(config_.cni_bin_dir + "/" + p))
        return Status(Code::kInternal, std::string("CNI plugin missing: ") + config_.cni_bin_dir + "/" + p);
    std::error_code ec;
    fs::create_directories(config_.ipam_data_dir, ec);
    fs::create_directories(config_.run_dir, ec);
    if (ec) return Status(Code::kInternal, "mkdir " + config_.run_dir + ": " + ec.message());
    if (config_.create_bridge)
      if (auto st = ensureBridge(); !st) return st;
    if (auto st = ensureBridgeNetfilter(); !st)
      LOG_WARN("bridged traffic skips netfilter: this node's pods will not reach Services whose endpoints are on it",
               "err", st.message());
    for (const auto& rule : hostRules())
      if (auto st = install(rule); !st) return st;
    return Status::ok();
  }

  Status ensureBridge() {
    auto gateway = gatewayAddress(config_.subnet);
    if (!gateway) return gateway.status();
    std::string prefix = config_.subnet.substr(config_.subnet.find('/'));
    auto add = runProcess({kIp, "link", "add", config_.bridge, "type", "bridge"});
    if (!add) return add.status();
    if (add->exit_code != 0 && add->err.find("File exists") == std::string::npos)
      return Status(Code::kInternal, "ip link add " + config_.bridge + ": " + runtime::firstLine(add->err));
    for (std::vector<std::string> argv : {std::vector<std::string>{kIp, "addr", "replace", *gateway + prefix, "dev", config_.bridge},
                                          std::vector<std::string>{kIp, "link", "set", config_.bridge, "up"}}) {
      auto r = runProcess(argv);
      if (!r) return r.status();
      if (r->exit_code != 0) return Status(Code::kInternal, argv[1] + " " + argv[2] + ": " + runtime::firstLine(r->err));
    }
    return Status::ok();
  }

  Result<Sandbox> createSandbox(const std::string& id, const std::string& hostname,
                                const std::vector<PortMapping>& ports) override {
    if (!validId(id)) return Status(Code::kInvalid, "invalid sandbox id: " + id);
    std::string dir = config_.run_dir + "/" + id;
    if (auto existing = load(id)) return existing;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Status(Code::kInternal, "mkdir " + dir + ": " + ec.message());
    auto pins = pinNamespaces(dir, hostname);
    if (!pins) {
      fs::remove_all(dir, ec);
      return pins.status();
    }
    Sandbox sb{id, pins->net, pins->ipc, pins->uts, "", "", ports};
    auto fail = [&](Status st) -> Result<Sandbox> {
      removeSandbox(id).ignore();
      return st;
    };
    // Recorded first, so a crash mid-way still gets its DELs on removal.
    // The bridge plugin masquerades nothing (ipMasq false: the node's one
    // rule does it); recorded so that DEL undoes what ADD did.
    Json state = {{"hostname", hostname}, {"ports", portsToJson(ports)}, {"pluginMasq", false}};
    if (auto st = save(dir, state); !st) return fail(st);
    CniCall call{"ADD", id, pins->net, "lo"};
    if (auto r = runCniPlugin(config_.cni_bin_dir, loopbackConfig(config_), call); !r) return fail(r.status());
    call.ifname = "eth0";
    auto bridge = runCniPlugin(config_.cni_bin_dir, bridgeConfig(config_, Json(), false), call);
    if (!bridge) return fail(bridge.status());
    state["bridgeResult"] = *bridge;
    if (auto st = save(dir, state); !st) return fail(st);
    if (!ports.empty()) {
      auto pm = runCniPlugin(config_.cni_bin_dir, portmapConfig(config_, ports, *bridge), call);
      if (!pm) return fail(pm.status());
    }
    sb.ip = resultIp(*bridge);
    sb.gateway = resultGateway(*bridge);
    if (sb.ip.empty()) return fail(Status(Code::kInternal, "CNI bridge gave no IPv4 address"));
    return sb;
  }

  Status removeSandbox(const std::string& id) override {
    if (!validId(id)) return Status(Code::kInvalid, "invalid sandbox id: " + id);
    std::string dir = config_.run_dir + "/" + id;
    if (!fs::exists(dir)) return Status::ok();
    Json state = Json::object();
    if (auto s = readJson(dir + "/state.json"); s && s->is_object()) state = *s;
    Json prev = state.value("bridgeResult", Json());
    auto ports = portsFromJson(state.value("ports", Json::array()));
    std::string netns = dir + "/net";
    Status first;
    auto note = [&](Status st) {
      if (!st && first.isOk()) first = st;
    };
    // DEL in reverse order while the netns is still pinned.
    CniCall call{"DEL", id, netns, "eth0"};
    if (!ports.empty()) note(runCniPlugin(config_.cni_bin_dir, portmapConfig(config_, ports, prev), call).status());
    // Sandboxes made before the node's masquerade rule had the plugin's.
    bool plugin_masq = state.value("pluginMasq", true);
    note(runCniPlugin(config_.cni_bin_dir, bridgeConfig(config_, prev, plugin_masq), call).status());
    call.ifname = "lo";
    note(runCniPlugin(config_.cni_bin_dir, loopbackConfig(config_), call).status());
    if (!first) {
      LOG_WARN("CNI DEL failed; keeping the sandbox for a retry", "id", id, "err", first.message());
      return first;
    }
    if (auto st = unpinNamespaces(dir); !st) return st;
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) return Status(Code::kInternal, "remove " + dir + ": " + ec.message());
    return Status::ok();
  }

  std::vector<Sandbox> list() const override {
    std::vector<Sandbox> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(config_.run_dir, ec))
      if (auto sb = load(e.path().filename().string())) out.push_back(std::move(*sb));
    return out;
  }

  Status close(bool delete_bridge) override {
    for (const RuleKind* kind : {&kIsolate, &kMasquerade})
      if (auto st = removeTagged(*kind); !st) return st;
    if (!delete_bridge) return Status::ok();
    if (!list().empty()) return Status(Code::kConflict, "sandboxes remain; bridge kept");
    removeIdlePortmapChains();
    auto r = runProcess({kIp, "link", "del", config_.bridge});
    if (r && r->exit_code != 0 && r->err.find("Cannot find device") == std::string::npos)
      return Status(Code::kInternal, "ip link del " + config_.bridge + ": " + runtime::firstLine(r->err));
    return Status::ok();
  }

 private:
  Result<Sandbox> load(const std::string& id) const {
    std::string dir = config_.run_dir + "/" + id;
    auto state = readJson(dir + "/state.json");
    if (!state || !state->contains("bridgeResult")) return Status(Code::kNotFound, "no sandbox " + id);
    const Json& result = (*state)["bridgeResult"];
    return Sandbox{id, dir + "/net", dir + "/ipc", dir + "/uts", resultIp(result), resultGateway(result),
                   portsFromJson(state->value("ports", Json::array()))};
  }

  Status save(const std::string& dir, const Json& state) {
    std::string tmp = dir + "/state.json.tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << state.dump();
      if (!out) return Status(Code::kInternal, "write " + tmp);
    }
    std::error_code ec;
    fs::rename(tmp, dir + "/state.json", ec);
    if (ec) return Status(Code::kInternal, "rename state: " + ec.message());
    return Status::ok();
  }

  // The kinds of rule this network puts in the host's iptables, and where
  // each lives. A rule is found again by its comment ("capstan <kind>
  // <bridge>"), so that cleanup needs no other state.
  struct RuleKind {
    const char* name;
    const char* table;
    const char* chain;
  };
  static constexpr RuleKind kIsolate{"isolate", "filter", "FORWARD"};
  static constexpr RuleKind kMasquerade{"masq", "nat", "POSTROUTING"};

  struct HostRule {
    const RuleKind& kind;
    std::vector<std::string> match;
    std::string target;
  };

  std::string comment(const RuleKind& kind) const {
    return std::string("capstan ") + kind.name + " " + config_.bridge;
  }

  std::vector<HostRule> hostRules() const {
    std::vector<HostRule> rules;
    if (config_.isolate) {
      std::vector<std::string> m = {"-i", config_.bridge};
      if (config_.isolate_allow.empty()) m.insert(m.end(), {"!", "-o", config_.bridge});
      else m.insert(m.end(), {"!", "-d", config_.isolate_allow});
      rules.push_back({kIsolate, m, "DROP"});
    }
    // Pod traffic leaving the cluster goes out with the node's address: one
    // rule per node, as the bridge plugin's ipMasq would add (with a chain
    // and two iptables runs) per pod. Traffic between pods keeps its source.
    if (config_.ip_masq) {
      std::string inside = config_.cluster_cidr.empty() ? config_.subnet : config_.cluster_cidr;
      rules.push_back({kMasquerade,
                       {"-s", config_.subnet, "!", "-d", inside, "-m", "addrtype", "!", "--dst-type", "MULTICAST"},
                       "MASQUERADE"});
    }
    return rules;
  }

  Result<int> iptables(const HostRule& rule, const std::string& op) {
    std::vector<std::string> argv = {kIptables, "-w", "-t", rule.kind.table, op, rule.kind.chain};
    if (op == "-I") argv.push_back("1");
    argv.insert(argv.end(), rule.match.begin(), rule.match.end());
    argv.insert(argv.end(), {"-m", "comment", "--comment", comment(rule.kind), "-j", rule.target});
    auto r = runProcess(argv);
    if (!r) return r.status();
    return r->exit_code;
  }

  Status install(const HostRule& rule) {
    std::lock_guard lock(mu_);
    auto check = iptables(rule, "-C");
    if (!check) return check.status();
    if (*check == 0) return Status::ok();
    auto add = iptables(rule, "-I");
    if (!add || *add != 0)
      return Status(Code::kInternal, "iptables: cannot install the rule \"" + comment(rule.kind) + "\"");
    if (&rule.kind == &kIsolate) LOG_INFO("pod traffic beyond this machine is dropped", "bridge", config_.bridge);
    return Status::ok();
  }

  // Every rule with this bridge's comment of that kind, whatever its match
  // (cleanup need not know the subnet or CIDR the agent ran with); highest
  // number first.
  Status removeTagged(const RuleKind& kind) {
    std::lock_guard lock(mu_);
    std::string table = kind.table, chain = kind.chain;
    auto listed = runProcess({kIptables, "-w", "-t", table, "-L", chain, "-n", "--line-numbers"});
    if (!listed) return listed.status();
    std::vector<int> numbers;
    std::istringstream in(listed->out);
    std::string line;
    std::string tag = "/* " + comment(kind) + " */";
    while (std::getline(in, line))
      if (line.find(tag) != std::string::npos) numbers.push_back(std::atoi(line.c_str()));
    std::sort(numbers.rbegin(), numbers.rend());
    for (int n : numbers) {
      auto r = runProcess({kIptables, "-w", "-t", table, "-D", chain, std::to_string(n)});
      if (!r) return r.status();
    }
    return Status::ok();
  }

  // portmap creates CNI-HOSTPORT-{DNAT,SETMARK,MASQ} and jumps to them for
  // every user on the host and never removes them; once no mapping is
  // left (DNAT empty) they can go.
  void removeIdlePortmapChains() {
    auto dnat = runProcess({kIptables, "-w", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT"});
    if (!dnat || dnat->exit_code != 0) return;
    std::istringstream in(dnat->out);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("-A ", 0) == 0) return;  // still in use
    auto all = runProcess({kIptables, "-w", "-t", "nat", "-S"});
    if (!all) return;
    std::istringstream rules(all->out);
    while (std::getline(rules, line)) {
      if (line.rfind("-A ", 0) != 0 || line.find("-j CNI-HOSTPORT-") == std::string::npos) continue;
      if (line.rfind("-A CNI-HOSTPORT-", 0) == 0) continue;
      std::vector<std::string> argv = {kIptables, "-w", "-t", "nat", "-D"};
      std::istringstream words(line.substr(3));
      std::string w;
      while (words >> w) argv.push_back(w);
      // Comments in jump rules are quoted; rebuild them without quotes.
      std::vector<std::string> fixed;
      for (size_t i = 0; i < argv.size(); ++i) {
        if (!argv[i].empty() && argv[i].front() == '"') {
          std::string s = argv[i];
          while (s.back() != '"' && i + 1 < argv.size()) s += " " + argv[++i];
          fixed.push_back(s.substr(1, s.size() - 2));
        } else {
          fixed.push_back(argv[i]);
        }
      }
      runProcess(fixed).status().ignore();
    }
    for (const char* c : {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"}) {
      runProcess({kIptables, "-w", "-t", "nat", "-F", c}).status().ignore();
      runProcess({kIptables, "-w", "-t", "nat", "-X", c}).status().ignore();
    }
  }

  NetworkConfig config_;
  std::mutex mu_;  // serialises the host rules' check-and-insert
};

}  // namespace

Result<std::string> gatewayAddress(const std::string& subnet) {
  std::string base = subnet.substr(0, subnet.find('/'));
  in_addr a{};
  if (subnet.find('/') == std::string::npos || ::inet_pton(AF_INET, base.c_str(), &a) != 1)
    return Status(Code::kInvalid, "bad pod subnet " + subnet);
  a.s_addr = htonl(ntohl(a.s_addr) + 1);
  char buf[INET_ADDRSTRLEN];
  return std::string(::inet_ntop(AF_INET, &a, buf, sizeof buf));
}

Result<std::unique_ptr<Network>> Network::open(const NetworkConfig& config) {
  auto n = std::make_unique<CniNetwork>(config);
  if (auto st = n->init(); !st) return st;
  return std::unique_ptr<Network>(std::move(n));
}

}  // namespace capstan::agent::network
