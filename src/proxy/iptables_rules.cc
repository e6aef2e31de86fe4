#include "proxy/iptables_rules.h"

#include <fmt/format.h>

#include <sstream>

namespace capstan::proxy {
namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hashOf(const std::string& id) { return fmt::format("{:012x}", fnv1a(id) & 0xffffffffffffull); }

// The chains of one table, declared in order, with their rules.
struct Table {
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> rules;
  void chain(const std::string& name) {
    if (rules.try_emplace(name).second) order.push_back(name);
  }
  void add(const std::string& name, std::string rule) {
    chain(name);
    rules[name].push_back(std::move(rule));
  }
};

std::string rejectWith(const std::string& protocol) {
  return protocol == "tcp" ? "REJECT --reject-with tcp-reset" : "REJECT --reject-with icmp-port-unreachable";
}

class Writer {
 public:
  explicit Writer(const IptablesOptions& o)
      : o_(o),
        services_(o.prefix + "-SERVICES"),
        node_ports_(o.prefix + "-NODEPORTS"),
        mark_masq_(o.prefix + "-MARK-MASQ"),
        mark_drop_(o.prefix + "-MARK-DROP"),
        postrouting_(o.prefix + "-POSTROUTING"),
        filter_(o.prefix + "-FILTER") {
    nat_.chain(services_);
    nat_.chain(node_ports_);
    nat_.add(mark_masq_, fmt::format("-j MARK --or-mark {:#x}", o.masquerade_mark));
    nat_.add(mark_drop_, fmt::format("-j MARK --or-mark {:#x}", o.drop_mark));
    nat_.add(postrouting_, fmt::format("-m mark ! --mark {0:#x}/{0:#x} -j RETURN", o.masquerade_mark));
    nat_.add(postrouting_, fmt::format("-j MARK --xor-mark {:#x}", o.masquerade_mark));
    nat_.add(postrouting_, "-j MASQUERADE --random-fully");
    filter_table_.add(filter_, fmt::format("-m mark --mark {0:#x}/{0:#x} -j DROP", o.drop_mark));
  }

  void service(const ServiceInfo& info) {
    if (info.cluster_ip.empty()) return;  // headless, ExternalName, not IPv4
    for (const auto& sp : info.ports) {
      const std::string id = fmt::format("{}/{}/{}/{}", info.ns, info.name, sp.protocol,
                                         sp.name.empty() ? std::to_string(sp.port) : sp.name);
      const std::string comment = fmt::format("-m comment --comment \"{}/{}:{}\"", info.ns, info.name,
                                              sp.name.empty() ? std::to_string(sp.port) : sp.name);
      const std::string match = fmt::format("-p {} -m {} --dport {}", sp.protocol, sp.protocol, sp.port);
      if (sp.endpoints.empty()) {
        // Refused at once rather than sent nowhere.
        for (const auto& ip : addresses(info))
          filter_table_.add(filter_, fmt::format("{} -m conntrack --ctstate NEW -d {}/32 {} -j {}", comment, ip,
                                                 match, rejectWith(sp.protocol)));
        if (sp.node_port > 0)
          filter_table_.add(filter_,
                            fmt::format("{} -m conntrack --ctstate NEW -m addrtype --dst-type LOCAL -p {} -m {} "
                                        "--dport {} -j {}",
                                        comment, sp.protocol, sp.protocol, sp.node_port, rejectWith(sp.protocol)));
        continue;
      }
      const std::string h = hashOf(id);
      const std::string svc = o_.prefix + "-SVC-" + h;
      if (!o_.cluster_cidr.empty()) nat_.add(svc, fmt::format("! -s {} -j {}", o_.cluster_cidr, mark_masq_));
      spread(svc, id, sp, sp.endpoints, info.affinity_timeout, comment);
      nat_.add(services_, fmt::format("{} -d {}/32 {} -j {}", comment, info.cluster_ip, match, svc));
      if (info.external_ips.empty() && sp.node_port == 0) continue;

      const std::string ext = o_.prefix + "-EXT-" + h;
      if (!info.external_local) {
        nat_.add(ext, "-j " + mark_masq_);
        nat_.add(ext, "-j " + svc);
      } else {
        // Pods and the host itself use every endpoint; traffic from outside
        // keeps its source and goes to this node's endpoints only.
        if (!o_.cluster_cidr.empty()) nat_.add(ext, fmt::format("-s {} -j {}", o_.cluster_cidr, svc));
        nat_.add(ext, "-m addrtype --src-type LOCAL -j " + mark_masq_);
        nat_.add(ext, "-m addrtype --src-type LOCAL -j " + svc);
        if (sp.local_endpoints.empty()) {
          nat_.add(ext, "-j " + mark_drop_);
        } else {
          const std::string local = o_.prefix + "-LOCAL-" + h;
          spread(local, id, sp, sp.local_endpoints, info.affinity_timeout, comment);
          nat_.add(ext, "-j " + local);
        }
      }
      for (const auto& ip : info.external_ips)
        nat_.add(services_, fmt::format("{} -d {}/32 {} -j {}", comment, ip, match, ext));
      if (sp.node_port > 0)
        nat_.add(node_ports_,
                 fmt::format("{} -p {} -m {} --dport {} -j {}", comment, sp.protocol, sp.protocol, sp.node_port, ext));
    }
  }

  std::string text(const std::map<std::string, std::set<std::string>>& existing,
                   std::map<std::string, std::set<std::string>>* wanted) {
    // Last in P-SERVICES: node ports on any local address but loopback.
    nat_.add(services_, fmt::format("-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j {}", node_ports_));
    std::string out;
    write("nat", nat_, existing, out);
    write("filter", filter_table_, existing, out);
    if (wanted) {
      (*wanted)["nat"] = {nat_.order.begin(), nat_.order.end()};
      (*wanted)["filter"] = {filter_table_.order.begin(), filter_table_.order.end()};
    }
    return out;
  }

 private:
  static std::vector<std::string> addresses(const ServiceInfo& info) {
    std::vector<std::string> all{info.cluster_ip};
    all.insert(all.end(), info.external_ips.begin(), info.external_ips.end());
    return all;
  }

  // Endpoint i of n with probability 1/(n-i), so each gets 1/n; a client
  // seen within the affinity timeout goes back to its endpoint first.
  void spread(const std::string& chain, const std::string& id, const ServicePort& sp,
              const std::vector<Endpoint>& eps, int affinity_timeout, const std::string& comment) {
    std::vector<std::string> seps;
    for (const auto& ep : eps) seps.push_back(endpointChain(id, sp, ep, affinity_timeout, comment));
    if (affinity_timeout > 0)
      for (const auto& sep : seps)
        nat_.add(chain, fmt::format("-m recent --name {0} --rcheck --seconds {1} --reap -j {0}", sep,
                                    affinity_timeout));
    for (size_t i = 0; i < seps.size(); ++i) {
      size_t left = seps.size() - i;
      if (left > 1)
        nat_.add(chain, fmt::format("-m statistic --mode random --probability {:.10f} -j {}", 1.0 / left, seps[i]));
      else
        nat_.add(chain, "-j " + seps[i]);
    }
  }

  std::string endpointChain(const std::string& id, const ServicePort& sp, const Endpoint& ep, int affinity_timeout,
                            const std::string& comment) {
    const std::string name = o_.prefix + "-SEP-" + hashOf(fmt::format("{}/{}:{}", id, ep.ip, ep.port));
    if (nat_.rules.count(name)) return name;  // also in the LOCAL chain
    nat_.add(name, fmt::format("{} -s {}/32 -j {}", comment, ep.ip, mark_masq_));  // hairpin
    if (affinity_timeout > 0) nat_.add(name, fmt::format("-m recent --name {} --set", name));
    nat_.add(name, fmt::format("{} -p {} -j DNAT --to-destination {}:{}", comment, sp.protocol, ep.ip, ep.port));
    return name;
  }

  static void write(const std::string& table, const Table& t,
                    const std::map<std::string, std::set<std::string>>& existing, std::string& out) {
    std::set<std::string> stale;
    if (auto it = existing.find(table); it != existing.end())
      for (const auto& name : it->second)
        if (!t.rules.count(name)) stale.insert(name);
    out += "*" + table + "\n";
    for (const auto& name : t.order) out += ":" + name + " - [0:0]\n";
    for (const auto& name : stale) out += ":" + name + " - [0:0]\n";  // flushed, so it can go
    for (const auto& name : t.order)
      for (const auto& rule : t.rules.at(name)) out += "-A " + name + " " + rule + "\n";
    for (const auto& name : stale) out += "-X " + name + "\n";
    out += "COMMIT\n";
  }

  const IptablesOptions& o_;
  const std::string services_, node_ports_, mark_masq_, mark_drop_, postrouting_, filter_;
  Table nat_, filter_table_;
};

}  // namespace

std::string iptablesPrefix(const std::string& table) {
  if (table == "capstan") return "CAPSTAN";
  return fmt::format("CP{:05X}", fnv1a(table) & 0xfffff);
}

std::vector<IptablesHook> iptablesHooks(const IptablesOptions& o) {
  const std::vector<std::string> comment = {"-m", "comment", "--comment", "capstan service proxy"};
  auto jump = [&](const std::string& to) {
    std::vector<std::string> rule = comment;
    rule.insert(rule.end(), {"-j", o.prefix + "-" + to});
    return rule;
  };
  return {{"nat", "PREROUTING", jump("SERVICES")}, {"nat", "OUTPUT", jump("SERVICES")},
          {"nat", "POSTROUTING", jump("POSTROUTING")}, {"filter", "INPUT", jump("FILTER")},
          {"filter", "FORWARD", jump("FILTER")},      {"filter", "OUTPUT", jump("FILTER")}};
}

std::map<std::string, std::set<std::string>> ourChains(const std::string& save, const std::string& prefix) {
  std::map<std::string, std::set<std::string>> out;
  std::istringstream in(save);
  std::string line, table;
  const std::string mine = ":" + prefix + "-";
  while (std::getline(in, line)) {
    if (line.size() > 1 && line[0] == '*') {
      table = line.substr(1);
    } else if (line.rfind(mine, 0) == 0 && !table.empty()) {
      out[table].insert(line.substr(1, line.find(' ') - 1));
    }
  }
  return out;
}

std::string iptablesRestoreText(const std::map<std::string, ServiceInfo>& services, const IptablesOptions& options,
                                const std::map<std::string, std::set<std::string>>& existing,
                                std::map<std::string, std::set<std::string>>* wanted) {
  Writer w(options);
  for (const auto& [key, info] : services) w.service(info);
  return w.text(existing, wanted);
}

std::string iptablesDeleteText(const std::map<std::string, std::set<std::string>>& existing) {
  std::string out;
  for (const auto& [table, chains] : existing) {
    if (chains.empty()) continue;
    out += "*" + table + "\n";
    for (const auto& c : chains) out += ":" + c + " - [0:0]\n";
    for (const auto& c : chains) out += "-X " + c + "\n";
    out += "COMMIT\n";
  }
  return out;
}

}  // namespace capstan::proxy
