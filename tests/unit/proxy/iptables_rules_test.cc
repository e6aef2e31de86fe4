// The iptables mode's rules as text: what kube-proxy's iptables mode would
// write for the same services, chain names iptables accepts, and services
// that are gone taking their chains with them. As root, the text also goes
// through `iptables-legacy-restore --test` (parsed and checked by the
// kernel's x_tables, nothing committed).
#include "proxy/iptables_rules.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <sstream>

#include "agent/runtime/process.h"
#include "unit/proxy/rules_text.h"

namespace capstan::proxy {
namespace {

ServicePort port(const std::string& name, int number, std::vector<std::string> ips, int node_port = 0) {
  ServicePort p;
  p.name = name;
  p.protocol = "tcp";
  p.port = number;
  p.node_port = node_port;
  for (const auto& ip : ips) p.endpoints.push_back({ip, 8080, "node-a"});
  p.local_endpoints = p.endpoints;
  return p;
}

ServiceInfo svc(const std::string& name, const std::string& ip, std::vector<ServicePort> ports) {
  ServiceInfo s;
  s.ns = "default";
  s.name = name;
  s.cluster_ip = ip;
  s.ports = std::move(ports);
  return s;
}

// Lines of the text that contain `what`.
int rulesMatching(const std::string& text, const std::string& what) {
  int n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (has(line, what)) ++n;
  return n;
}

void expectRestorable(const std::string& text) {
  if (geteuid() != 0 || ::access("/usr/sbin/iptables-legacy-restore", X_OK) != 0) return;
  agent::runtime::ProcessOptions po;
  po.stdin_data = text;
  // A scratch namespace of its own: --test still needs the tables' modules,
  // and must not meet the host's chains.
  auto r = agent::runtime::runProcess(
      {"/usr/bin/unshare", "--net", "/usr/sbin/iptables-legacy-restore", "--test", "--noflush"}, po);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->exit_code, 0) << r->err << "\n--- text ---\n" << text;
}

IptablesOptions options() {
  IptablesOptions o;
  o.prefix = "CPTEST";
  o.cluster_cidr = "10.42.0.0/16";
  o.node_name = "node-a";
  return o;
}

TEST(IptablesRulesTest, ClusterIpSpreadsEvenlyAndMasqueradesOffClusterSources) {
  auto text = iptablesRestoreText(
      {{"default/web", svc("web", "10.43.0.10", {port("http", 80, {"10.42.1.2", "10.42.1.3", "10.42.1.4"})})}},
      options(), {});
  EXPECT_TRUE(has(text, "*nat\n")) << text;
  EXPECT_TRUE(has(text, "*filter\n")) << text;
  EXPECT_TRUE(has(text, "-d 10.43.0.10/32 -p tcp -m tcp --dport 80 -j CPTEST-SVC-")) << text;
  EXPECT_TRUE(has(text, "! -s 10.42.0.0/16 -j CPTEST-MARK-MASQ")) << text;
  // 1/3, then 1/2 of the rest, then the last: each endpoint a third.
  EXPECT_TRUE(has(text, "--probability 0.3333333333 -j CPTEST-SEP-")) << text;
  EXPECT_TRUE(has(text, "--probability 0.5000000000 -j CPTEST-SEP-")) << text;
  EXPECT_EQ(rulesMatching(text, "-j DNAT --to-destination"), 3) << text;
  EXPECT_TRUE(has(text, "-p tcp -j DNAT --to-destination 10.42.1.3:8080")) << text;
  // Hairpin: an endpoint's own traffic is masqueraded.
  EXPECT_TRUE(has(text, "-s 10.42.1.2/32 -j CPTEST-MARK-MASQ")) << text;
  EXPECT_TRUE(has(text, "-A CPTEST-POSTROUTING -j MASQUERADE --random-fully")) << text;
  // Node ports last in the services chain, never on loopback.
  EXPECT_TRUE(has(text, "-A CPTEST-SERVICES -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j CPTEST-NODEPORTS\n"))
      << text;
  // iptables' limit is 28 characters per chain name.
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] == ':') {
      EXPECT_LE(line.find(' ') - 1, 28u) << line;
    }
  expectRestorable(text);
}

TEST(IptablesRulesTest, AServiceWithoutEndpointsIsRejectedInTheFilterTable) {
  auto s = svc("empty", "10.43.0.11", {port("http", 80, {}, 30080)});
  s.ports[0].protocol = "udp";
  auto text = iptablesRestoreText({{"default/empty", s}}, options(), {});
  EXPECT_TRUE(has(text, "-A CPTEST-FILTER -m comment --comment \"default/empty:http\" -m conntrack --ctstate NEW "
                        "-d 10.43.0.11/32 -p udp -m udp --dport 80 -j REJECT --reject-with icmp-port-unreachable"))
      << text;
  EXPECT_TRUE(has(text, "-m addrtype --dst-type LOCAL -p udp -m udp --dport 30080 -j REJECT")) << text;
  EXPECT_FALSE(has(text, "CPTEST-SVC-")) << text;
  expectRestorable(text);
}

TEST(IptablesRulesTest, ExternalPathsNodePortsLocalPolicyAndAffinity) {
  auto s = svc("lb", "10.43.0.12", {port("http", 80, {"10.42.1.2", "10.42.2.2"}, 30081)});
  s.external_ips = {"192.168.7.5"};
  s.external_local = true;
  s.affinity_timeout = 600;
  s.ports[0].local_endpoints = {{"10.42.1.2", 8080, "node-a"}};
  auto text = iptablesRestoreText({{"default/lb", s}}, options(), {});
  EXPECT_TRUE(has(text, "-d 192.168.7.5/32 -p tcp -m tcp --dport 80 -j CPTEST-EXT-")) << text;
  EXPECT_TRUE(has(text, "-p tcp -m tcp --dport 30081 -j CPTEST-EXT-")) << text;
  EXPECT_TRUE(has(text, "-s 10.42.0.0/16 -j CPTEST-SVC-")) << text;
  EXPECT_TRUE(has(text, "-m addrtype --src-type LOCAL -j CPTEST-MARK-MASQ")) << text;
  EXPECT_TRUE(has(text, "-j CPTEST-LOCAL-")) << text;
  EXPECT_TRUE(has(text, "--rcheck --seconds 600 --reap -j CPTEST-SEP-")) << text;
  EXPECT_TRUE(has(text, " --set\n")) << text;
  expectRestorable(text);

  // No endpoint on this node: outside traffic is marked and then dropped.
  s.ports[0].local_endpoints.clear();
  text = iptablesRestoreText({{"default/lb", s}}, options(), {});
  EXPECT_TRUE(has(text, "-j CPTEST-MARK-DROP\n")) << text;
  EXPECT_TRUE(has(text, "-A CPTEST-FILTER -m mark --mark 0x8000/0x8000 -j DROP")) << text;
  expectRestorable(text);
}

TEST(IptablesRulesTest, ChainsOfServicesGoneAreDeletedAndListedChainsAreOurs) {
  std::map<std::string, ServiceInfo> two = {
      {"default/a", svc("a", "10.43.0.20", {port("http", 80, {"10.42.1.2"})})},
      {"default/b", svc("b", "10.43.0.21", {port("http", 80, {"10.42.1.3"})})}};
  auto first = iptablesRestoreText(two, options(), {});
  auto existing = ourChains(first, "CPTEST");
  ASSERT_EQ(existing.count("nat"), 1u);
  EXPECT_EQ(existing["nat"].count("CPTEST-SERVICES"), 1u);
  EXPECT_EQ(existing["filter"], std::set<std::string>{"CPTEST-FILTER"});
  // Another proxy's chains and built-in ones are not ours.
  auto listed = ourChains("*nat\n:PREROUTING ACCEPT [0:0]\n:CPTEST-SVC-1 - [0:0]\n:CPTESTX-SVC-2 - [0:0]\n"
                          ":CP00001-SERVICES - [0:0]\nCOMMIT\n",
                          "CPTEST");
  EXPECT_EQ(listed["nat"], std::set<std::string>{"CPTEST-SVC-1"});

  two.erase("default/b");
  auto second = iptablesRestoreText(two, options(), existing);
  size_t deleted = 0;
  for (const auto& c : existing["nat"])
    if (has(second, "\n-X " + c + "\n")) {
      ++deleted;
      EXPECT_TRUE(has(second, ":" + c + " - [0:0]\n")) << c;  // declared, so flushed, before -X
    }
  EXPECT_EQ(deleted, 2u) << second;  // b's SVC and SEP chains
  EXPECT_FALSE(has(second, "10.42.1.3")) << second;
  expectRestorable(second);

  auto gone = iptablesDeleteText(existing);
  for (const auto& [table, chains] : existing)
    for (const auto& c : chains) EXPECT_TRUE(has(gone, "-X " + c + "\n")) << c;
}

TEST(IptablesRulesTest, PrefixesAndHooks) {
  EXPECT_EQ(iptablesPrefix("capstan"), "CAPSTAN");
  std::string other = iptablesPrefix("capstan_node_b");
  EXPECT_EQ(other.size(), 7u);
  EXPECT_EQ(other.rfind("CP", 0), 0u);
  EXPECT_NE(other, iptablesPrefix("capstan_node_c"));
  EXPECT_EQ(other, iptablesPrefix("capstan_node_b"));  // stable: cleanup finds the chains again
  auto hooks = iptablesHooks(options());
  ASSERT_EQ(hooks.size(), 6u);
  EXPECT_EQ(hooks[0].table, "nat");
  EXPECT_EQ(hooks[0].chain, "PREROUTING");
  EXPECT_EQ(hooks[0].rule.back(), "CPTEST-SERVICES");
  EXPECT_EQ(hooks[5].chain, "OUTPUT");
  EXPECT_EQ(hooks[5].rule.back(), "CPTEST-FILTER");
}

}  // namespace
}  // namespace capstan::proxy
