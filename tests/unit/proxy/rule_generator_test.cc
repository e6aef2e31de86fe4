// The service proxy's pure half: Service + EndpointSlices -> ServiceInfo ->
// nft transaction text. When run as root, every text is also put through
// libnftables' dry run, so the real nft parser and evaluator accept it
// (nothing reaches the kernel).

#include "proxy/rule_generator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>

#include "proxy/load_balancer_status.h"
#include "proxy/nftables.h"
#include "proxy/service_model.h"
#include "unit/proxy/rules_text.h"

namespace capstan::proxy {
namespace {

const NodeContext kNode{"node-a", {"192.168.7.5"}};

Json service(const std::string& name, Json spec) {
  spec["clusterIP"] = spec.value("clusterIP", "10.43.0.10");
  return {{"metadata", {{"namespace", "default"}, {"name", name}}}, {"spec", spec}};
}

Json tcpPort(const std::string& name, int port, int node_port = 0) {
  Json p = {{"port", port}, {"protocol", "TCP"}};
  if (!name.empty()) p["name"] = name;
  if (node_port) p["nodePort"] = node_port;
  return p;
}

// One endpoint: address, node, ready (and optionally serving/terminating).
Json endpoint(const std::string& ip, const std::string& node = "node-b", bool ready = true,
              bool terminating = false) {
  Json conditions = {{"ready", ready}, {"serving", ready || terminating}, {"terminating", terminating}};
  return {{"addresses", {ip}}, {"nodeName", node}, {"conditions", conditions}};
}

Json slice(const std::string& service, Json ports, Json endpoints) {
  return {{"metadata",
           {{"namespace", "default"},
            {"name", service + "-x1"},
            {"labels", {{"kubernetes.io/service-name", service}}}}},
          {"addressType", "IPv4"},
          {"ports", ports},
          {"endpoints", endpoints}};
}

Json httpSlice(const std::string& service, Json endpoints) {
  return slice(service, Json::array({{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}}), endpoints);
}

ServiceInfo info(const Json& svc, const std::vector<Json>& slices, const NodeContext& node = kNode) {
  std::vector<const Json*> ptrs;
  for (const auto& s : slices) ptrs.push_back(&s);
  return serviceInfoOf(svc, ptrs, node);
}

// nft --check: parse and evaluate without changing anything. Needs
// CAP_NET_ADMIN to read the kernel's ruleset for the cache.
void expectAccepted(const std::string& text) {
  if (geteuid() != 0) return;
  auto nft = Nftables::open(/*dry_run=*/true);
  ASSERT_TRUE(nft) << nft.status().message();
  Status st = (*nft)->run(text);
  EXPECT_TRUE(st) << st.message() << "\n--- text ---\n" << text;
}

class RuleGeneratorTest : public ::testing::Test {
 protected:
  RuleGeneratorTest() : gen_({"capstan_unit_" + std::to_string(getpid()), "10.42.0.0/16", "node-a"}) {}

  std::string full(const std::map<std::string, ServiceInfo>& services) {
    std::string text = gen_.fullSync(services);
    expectAccepted(text);
    return text;
  }

  // The main table, and the service table of service `key`.
  static std::string mainTable() { return "capstan_unit_" + std::to_string(getpid()); }
  static std::string tableOf(const std::string& key) { return shardTable(mainTable(), serviceShard(key)); }

  RuleGenerator gen_;
};

// All the element changes of a plan, whatever their tables.
ElementChanges merged(const SyncPlan& plan) {
  ElementChanges out;
  for (const auto& t : plan.tables) {
    for (const auto& [map, keys] : t.elements.remove) out.remove[map].insert(out.remove[map].end(), keys.begin(), keys.end());
    for (const auto& [map, items] : t.elements.add) out.add[map].insert(out.add[map].end(), items.begin(), items.end());
  }
  return out;
}

const TableChanges* partOf(const SyncPlan& plan, const std::string& table) {
  for (const auto& t : plan.tables)
    if (t.table == table) return &t;
  return nullptr;
}

TEST_F(RuleGeneratorTest, ClusterIpSpreadsOverThreeEndpoints) {
  auto svc = service("web", {{"ports", {tcpPort("http", 80)}}});
  auto si =
      info(svc, {httpSlice("web", {endpoint("10.42.1.2"), endpoint("10.42.1.3"), endpoint("10.42.1.4")})});
  ASSERT_EQ(si.ports.size(), 1u);
  EXPECT_EQ(si.ports[0].endpoints.size(), 3u);
  std::string text = full({{"default/web", si}});
  EXPECT_TRUE(has(text, "10.43.0.10 . tcp . 80 : goto svc-default/web/tcp/http")) << text;
  // From outside the cluster CIDR: marked for masquerading by the services
  // chain of each service table, from the cluster-ips set.
  EXPECT_TRUE(has(text, "ip saddr != 10.42.0.0/16 ip daddr . meta l4proto . th dport @cluster-ips jump "
                        "mark-for-masquerade"))
      << text;
  EXPECT_TRUE(has(text, "add element ip " + tableOf("default/web") + " cluster-ips { 10.43.0.10 . tcp . 80 }"))
      << text;
  EXPECT_TRUE(has(text, "chain svc-default/web/tcp/http {\n    meta l4proto tcp dnat")) << text;
  // Group 1: offset 1 << 12, in shard 1 of the tcp backend maps.
  EXPECT_TRUE(has(text, "meta l4proto tcp dnat ip to numgen random mod 3 offset 4096 map @backends-tcp-1"))
      << text;
  // Declared by the skeleton of every service table.
  EXPECT_TRUE(has(text, "table ip " + tableOf("default/web") + " {")) << text;
  EXPECT_TRUE(has(text, "\n  map backends-tcp-1 { typeof numgen random mod 1 : ip daddr . tcp dport; }")) << text;
  EXPECT_FALSE(has(text, "add map")) << text;
  EXPECT_TRUE(has(text, "4096 : 10.42.1.2 . 8080, 4097 : 10.42.1.3 . 8080, 4098 : 10.42.1.4 . 8080")) << text;
  EXPECT_FALSE(has(text, "add element ip capstan_unit_" + std::to_string(getpid()) + " no-endpoint-services"))
      << text;
  EXPECT_FALSE(has(text, "add element ip capstan_unit_" + std::to_string(getpid()) + " hairpin")) << text;
}

TEST_F(RuleGeneratorTest, ServiceWithoutEndpointsRejects) {
  auto svc = service("empty", {{"ports", {tcpPort("", 80, 30080)}}, {"type", "NodePort"}});
  // Not ready and not terminating: not used.
  auto si = info(svc, {slice("empty", Json::array({{{"port", 8080}, {"protocol", "TCP"}}}),
                             {endpoint("10.42.1.9", "node-b", false)})});
  std::string text = full({{"default/empty", si}});
  EXPECT_TRUE(has(text, "no-endpoint-services { 10.43.0.10 . tcp . 80 : goto reject-chain }")) << text;
  EXPECT_TRUE(has(text, "no-endpoint-nodeports { tcp . 30080 : goto reject-chain }")) << text;
  EXPECT_TRUE(has(text, "meta l4proto tcp reject with tcp reset")) << text;
  EXPECT_FALSE(has(text, "svc-default/empty")) << text;
}

TEST_F(RuleGeneratorTest, NamedAndNumberedPortsAndTerminatingFallback) {
  auto svc = service("multi", {{"ports", {tcpPort("http", 80), tcpPort("metrics", 9100)}}});
  Json ports = Json::array({{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}},
                            {{"name", "metrics"}, {"port", 9090}, {"protocol", "TCP"}}});
  // Only a terminating-but-serving endpoint: used, as nothing is ready.
  auto si = info(svc, {slice("multi", ports, {endpoint("10.42.1.5", "node-b", false, true)})});
  ASSERT_EQ(si.ports.size(), 2u);
  ASSERT_EQ(si.ports[1].endpoints.size(), 1u);
  EXPECT_EQ(si.ports[1].endpoints[0].port, 9090);
  auto one =
      service("one", {{"clusterIP", "10.43.0.11"}, {"ports", {Json{{"port", 53}, {"protocol", "UDP"}}}}});
  auto si1 = info(
      one, {slice("one", Json::array({{{"port", 5353}, {"protocol", "UDP"}}}), {endpoint("10.42.1.6")})});
  std::string text = full({{"default/multi", si}, {"default/one", si1}});
  EXPECT_TRUE(has(text, "10.43.0.10 . tcp . 9100 : goto svc-default/multi/tcp/metrics")) << text;
  EXPECT_TRUE(has(text, "10.42.1.5 . 9090")) << text;
  EXPECT_TRUE(has(text, "10.43.0.11 . udp . 53 : goto svc-default/one/udp/53")) << text;
  EXPECT_TRUE(has(text, "meta l4proto udp dnat ip to numgen random mod 1")) << text;
  EXPECT_TRUE(has(text, "10.42.1.6 . 5353")) << text;
}

TEST_F(RuleGeneratorTest, NodePortIsMasqueradedAndGoesToTheServiceChain) {
  auto svc = service("np", {{"type", "NodePort"}, {"ports", {tcpPort("http", 80, 30080)}}});
  auto si = info(svc, {httpSlice("np", {endpoint("10.42.1.2")})});
  std::string text = full({{"default/np", si}});
  // No chain of its own: the services chain marks the node port for
  // masquerading (set masquerade-nodeports), then the map goes to svc-.
  EXPECT_TRUE(has(text, "tcp . 30080 : goto svc-default/np/tcp/http")) << text;
  EXPECT_TRUE(has(text, " masquerade-nodeports { tcp . 30080 }")) << text;
  EXPECT_FALSE(has(text, "chain ext-")) << text;
  // The sets first in each rule, the route lookup (fib) only after a hit.
  auto mark = text.find(
      "meta l4proto . th dport @masquerade-nodeports fib daddr type local ip daddr != 127.0.0.0/8 jump "
      "mark-for-masquerade");
  auto lookup = text.find(
      "meta l4proto . th dport @service-nodeports fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th "
      "dport vmap @service-nodeports");
  ASSERT_NE(mark, std::string::npos) << text;
  ASSERT_NE(lookup, std::string::npos) << text;
  EXPECT_LT(mark, lookup) << "the mark must be set before the lookup leaves the chain";
  // The cluster IP itself is not in the masquerade set.
  EXPECT_FALSE(has(text, "masquerade-ips { 10.43.")) << text;
}

TEST_F(RuleGeneratorTest, LoadBalancerIsPublishedOnNodeIps) {
  auto svc = service("lb", {{"type", "LoadBalancer"}, {"ports", {tcpPort("http", 80, 30081)}}});
  svc["status"] = {{"loadBalancer", {{"ingress", {{{"ip", "192.168.7.6"}}}}}}};
  auto si = info(svc, {httpSlice("lb", {endpoint("10.42.1.2")})});
  EXPECT_EQ(si.external_ips, (std::vector<std::string>{"192.168.7.6", "192.168.7.5"}));
  std::string text = full({{"default/lb", si}});
  EXPECT_TRUE(has(text, "192.168.7.5 . tcp . 80 : goto svc-default/lb/tcp/http")) << text;
  EXPECT_TRUE(has(text, "192.168.7.6 . tcp . 80 : goto svc-default/lb/tcp/http")) << text;
  EXPECT_TRUE(has(text, "tcp . 30081 : goto svc-default/lb/tcp/http")) << text;
  EXPECT_TRUE(has(text, " masquerade-ips { 192.168.7.5 . tcp . 80, 192.168.7.6 . tcp . 80 }")) << text;
  EXPECT_TRUE(has(text, "ip daddr . meta l4proto . th dport @masquerade-ips jump mark-for-masquerade\n"
                        "    ip daddr . meta l4proto . th dport vmap @service-ips")) << text;

  // The status every node's proxy writes: the nodes' addresses, sorted.
  auto node = [](const std::string& name, Json addresses) {
    return std::make_shared<const Json>(
        Json{{"metadata", {{"name", name}}}, {"status", {{"addresses", addresses}}}});
  };
  Json ingress = loadBalancerIngress({node("b", {{{"type", "InternalIP"}, {"address", "192.168.7.6"}},
                                                 {{"type", "Hostname"}, {"address", "b"}}}),
                                      node("a", {{{"type", "InternalIP"}, {"address", "10.0.0.5"}},
                                                 {{"type", "ExternalIP"}, {"address", "192.168.7.5"}}})});
  EXPECT_EQ(ingress, Json::parse(R"([{"ip":"192.168.7.5"},{"ip":"192.168.7.6"}])"));
  EXPECT_TRUE(publishedOnNodes(svc));
  svc["spec"]["loadBalancerClass"] = "example.com/lb";
  EXPECT_FALSE(publishedOnNodes(svc));
}

TEST_F(RuleGeneratorTest, ExternalTrafficPolicyLocalUsesThisNodesEndpoints) {
  auto svc = service(
      "loc",
      {{"type", "NodePort"}, {"externalTrafficPolicy", "Local"}, {"ports", {tcpPort("http", 80, 30082)}}});
  auto si = info(svc, {httpSlice("loc", {endpoint("10.42.1.2", "node-a"), endpoint("10.42.2.2", "node-b")})});
  ASSERT_EQ(si.ports[0].local_endpoints.size(), 1u);
  EXPECT_EQ(si.ports[0].local_endpoints[0].ip, "10.42.1.2");
  auto far = service("far", {{"clusterIP", "10.43.0.12"},
                             {"type", "NodePort"},
                             {"externalTrafficPolicy", "Local"},
                             {"ports", {tcpPort("http", 80, 30083)}}});
  auto si_far = info(far, {httpSlice("far", {endpoint("10.42.2.3", "node-b")})});
  std::string text = full({{"default/loc", si}, {"default/far", si_far}});
  EXPECT_TRUE(
      has(text,
          "chain ext-default/loc/tcp/http {\n    ip saddr 10.42.0.0/16 goto svc-default/loc/tcp/http\n"
          "    fib saddr type local jump mark-for-masquerade\n"
          "    fib saddr type local goto svc-default/loc/tcp/http\n"
          "    goto local-default/loc/tcp/http\n"))
      << text;
  EXPECT_TRUE(
      has(text, "chain local-default/loc/tcp/http {\n    meta l4proto tcp dnat ip to numgen random mod 1"))
      << text;
  EXPECT_TRUE(has(text, "fib saddr type local goto svc-default/far/tcp/http\n    drop\n")) << text;
  // The local endpoint may reach itself through the service: hairpin.
  EXPECT_TRUE(has(text, "hairpin { 10.42.1.2 . 10.42.1.2 }")) << text;
}

TEST_F(RuleGeneratorTest, InternalTrafficPolicyLocalKeepsClusterIpTrafficOnThisNode) {
  auto svc = service("dns", {{"internalTrafficPolicy", "Local"}, {"ports", {tcpPort("http", 53)}}});
  auto si = info(svc, {httpSlice("dns", {endpoint("10.42.1.1", "node-a"), endpoint("10.42.2.1", "node-b")})});
  ASSERT_EQ(si.ports[0].endpoints.size(), 1u);
  EXPECT_EQ(si.ports[0].endpoints[0].ip, "10.42.1.1");
  // Only other nodes' endpoints: refused here, as without endpoints.
  auto none = info(svc, {httpSlice("dns", {endpoint("10.42.2.1", "node-b")})});
  EXPECT_TRUE(none.ports[0].endpoints.empty());
  auto cluster = info(service("dns", {{"ports", {tcpPort("http", 53)}}}),
                      {httpSlice("dns", {endpoint("10.42.1.1", "node-a"), endpoint("10.42.2.1", "node-b")})});
  EXPECT_EQ(cluster.ports[0].endpoints.size(), 2u);
}

TEST_F(RuleGeneratorTest, SessionAffinityUsesPerEndpointChainsAndTimeoutSets) {
  auto svc = service("sticky", {{"sessionAffinity", "ClientIP"},
                                {"sessionAffinityConfig", {{"clientIP", {{"timeoutSeconds", 600}}}}},
                                {"ports", {tcpPort("http", 80)}}});
  auto si = info(svc, {httpSlice("sticky", {endpoint("10.42.1.2"), endpoint("10.42.1.3")})});
  EXPECT_EQ(si.affinity_timeout, 600);
  std::string text = full({{"default/sticky", si}});
  std::string set = "aff-600-default/sticky/tcp/http__10.42.1.2/8080";
  EXPECT_TRUE(has(text, "add set ip " + tableOf("default/sticky") + " " + set +
                            " { type ipv4_addr; flags dynamic,timeout; timeout 600s; }"))
      << text;
  EXPECT_TRUE(has(text, "ip saddr @" + set + " goto ep-default/sticky/tcp/http__10.42.1.2/8080")) << text;
  EXPECT_TRUE(has(text, "update @" + set + " { ip saddr }")) << text;
  EXPECT_TRUE(has(text,
                  "numgen random mod 2 vmap { 0 : goto ep-default/sticky/tcp/http__10.42.1.2/8080, "
                  "1 : goto ep-default/sticky/tcp/http__10.42.1.3/8080 }"))
      << text;
}

// planFullSync: the same rules as fullSync, built into the other table,
// dormant in every table block, with the map elements apart (for
// nfnetlink); later incremental texts name the new table.
TEST_F(RuleGeneratorTest, PlannedFullSyncBuildsTheOtherTableDormantWithElementsApart) {
  std::map<std::string, ServiceInfo> all;
  for (int i = 0; i < 3; ++i) {
    std::string name = "s" + std::to_string(i);
    auto svc = service(name, {{"type", "NodePort"},
                              {"clusterIP", "10.43.0." + std::to_string(20 + i)},
                              {"ports", {tcpPort("http", 80, 30080 + i)}}});
    all["default/" + name] = info(svc, {httpSlice(name, {endpoint("10.42.1." + std::to_string(10 + i), "node-a")})});
  }
  const std::string live = gen_.table();
  std::string in_place = full(all);

  const std::string next = alternateTable(live);
  EXPECT_EQ(next, live + "__2");
  FullSyncPlan plan = gen_.planFullSync(all, next, live);
  EXPECT_EQ(plan.table, next);
  EXPECT_EQ(plan.replacing, live);
  EXPECT_EQ(gen_.table(), next);
  EXPECT_FALSE(gen_.needsFullSync());
  // The skeleton apart: it depends on no service. The services' text
  // (maps and sets beyond the skeleton's) is empty here.
  EXPECT_EQ(plan.skeleton, gen_.fullSyncSkeleton(next, live));
  EXPECT_EQ(plan.text, "");
  EXPECT_EQ(plan.skeleton.rfind("add table ip " + live + "\n", 0), 0u) << plan.skeleton;
  EXPECT_FALSE(has(plan.skeleton, "add element")) << plan.skeleton;
  EXPECT_FALSE(has(plan.skeleton, "table ip " + live + " {")) << plan.skeleton;
  // Every block of the new table keeps it dormant.
  const std::string block = "table ip " + next + " {\n";
  size_t blocks = 0;
  for (size_t at = plan.skeleton.find(block); at != std::string::npos; at = plan.skeleton.find(block, at + 1)) {
    ++blocks;
    EXPECT_EQ(plan.skeleton.compare(at + block.size(), 17, "  flags dormant;\n"), 0) << plan.skeleton.substr(at, 80);
  }
  EXPECT_EQ(blocks, 1u) << plan.skeleton;  // the skeleton; the services' chains are apart
  EXPECT_EQ(plan.tables, tableSet(next));
  EXPECT_EQ(plan.replaced, tableSet(live));
  for (const auto& t : tableSet(live)) EXPECT_TRUE(has(plan.skeleton, "add table ip " + t + "\n")) << t;
  for (const auto& t : tableSet(next))
    EXPECT_TRUE(has(plan.skeleton, "table ip " + t + " {\n  flags dormant;\n")) << t;
  // They are the chains the in-place text fills, rule for rule, each in
  // its service's table.
  size_t chain_count = 0;
  std::string chains;
  for (const auto& part : plan.parts) {
    for (const auto& [name, rules] : part.fill) {
      ++chain_count;
      std::string block = "  chain " + name + " {\n";
      for (const auto& r : rules) block += "    " + r + "\n";
      EXPECT_TRUE(has(in_place, block + "  }\n")) << block;
      std::string key = "default/" + name.substr(12, 2);  // svc-default/sN/...
      EXPECT_EQ(part.table, shardTable(next, serviceShard(key))) << name;
    }
    std::string block = chainsBlockText(part.table, part.fill, /*dormant=*/true);
    if (!part.fill.empty()) {
      EXPECT_EQ(block.rfind("table ip " + part.table + " {\n  flags dormant;\n", 0), 0u) << block;
    }
    chains += block;
  }
  EXPECT_EQ(chain_count, 3u);
  expectAccepted(plan.skeleton + plan.text + chains);

  // The elements are exactly those the in-place text adds.
  size_t count = 0;
  std::string maps;
  for (const auto& part : plan.parts) {
    EXPECT_TRUE(part.elements.remove.empty());
    for (const auto& [map, items] : part.elements.add) {
      maps += part.table + "/" + map + ":" + std::to_string(items.size()) + " ";
      for (const auto& [k, v] : items) {
        ++count;
        std::string element = v.empty() ? k : k + " : " + v;
        EXPECT_TRUE(has(in_place, element)) << map << ": " << element;
        EXPECT_EQ(part.table == next, map == "hairpin") << part.table << " " << map;
      }
    }
  }
  EXPECT_EQ(count, 3u /*service-ips*/ + 3u /*cluster-ips*/ + 3u /*node ports*/ + 3u /*their masquerade set*/ +
                       3u /*backends*/ + 3u /*hairpin*/)
      << maps;

  // Incremental changes now name the new table; retarget() goes back.
  auto svc =
      service("s1", {{"type", "NodePort"}, {"clusterIP", "10.43.0.21"}, {"ports", {tcpPort("http", 80, 30081)}}});
  auto changed = info(svc, {httpSlice("s1", {endpoint("10.42.1.99", "node-a")})});
  SyncPlan update = gen_.plan({{"default/s1", &changed}});
  EXPECT_TRUE(update.elements_only);
  EXPECT_TRUE(has(update.text, "ip " + next + " ")) << update.text;
  EXPECT_FALSE(has(update.text, "ip " + live + " ")) << update.text;
  gen_.retarget(live);
  EXPECT_TRUE(gen_.needsFullSync());
  EXPECT_TRUE(has(gen_.fullSync(all), "table ip " + live + " {"));
}

TEST_F(RuleGeneratorTest, HeadlessAndExternalNameGetNothing) {
  auto headless = service("hl", {{"clusterIP", "None"}, {"ports", {tcpPort("http", 80)}}});
  auto ext = service("en", {{"type", "ExternalName"}, {"externalName", "example.com"}});
  auto si = info(headless, {httpSlice("hl", {endpoint("10.42.1.2")})});
  EXPECT_TRUE(si.ports.empty());
  EXPECT_TRUE(info(ext, {}).ports.empty());
  std::string skeleton = gen_.fullSync({});
  EXPECT_EQ(full({{"default/hl", si}, {"default/en", info(ext, {})}}), skeleton);
  EXPECT_EQ(gen_.serviceCount(), 0u);
}

TEST_F(RuleGeneratorTest, IncrementalUpdateTouchesOnlyTheChangedService) {
  std::map<std::string, ServiceInfo> all;
  for (int i = 0; i < 3; ++i) {
    std::string name = "s" + std::to_string(i);
    auto svc =
        service(name, {{"clusterIP", "10.43.0." + std::to_string(20 + i)}, {"ports", {tcpPort("http", 80)}}});
    all["default/" + name] = info(svc, {httpSlice(name, {endpoint("10.42.1." + std::to_string(10 + i))})});
  }
  std::string base = full(all);
  EXPECT_FALSE(gen_.needsFullSync());

  // s1 gains an endpoint: its chain (mod 2) and one backend element.
  auto s1 = service("s1", {{"clusterIP", "10.43.0.21"}, {"ports", {tcpPort("http", 80)}}});
  ServiceInfo next = info(s1, {httpSlice("s1", {endpoint("10.42.1.11"), endpoint("10.42.1.99")})});
  std::string text = gen_.update({{"default/s1", &next}});
  EXPECT_TRUE(has(text, "flush chain ip")) << text;
  EXPECT_TRUE(has(text, "numgen random mod 2")) << text;
  EXPECT_TRUE(has(text, " . 8080")) << text;
  EXPECT_FALSE(has(text, "s0")) << text;
  EXPECT_FALSE(has(text, "s2")) << text;
  EXPECT_FALSE(has(text, "service-ips")) << text;  // its VIP element is unchanged
  expectAccepted(base + text);

  // The same again: nothing to do.
  EXPECT_EQ(gen_.update({{"default/s1", &next}}), "");

  // s2 loses its endpoints: VIP moves to the reject map, its chain goes.
  auto s2 = service("s2", {{"clusterIP", "10.43.0.22"}, {"ports", {tcpPort("http", 80)}}});
  ServiceInfo empty = info(s2, {});
  std::string text2 = gen_.update({{"default/s2", &empty}});
  EXPECT_TRUE(has(text2, "delete element ip")) << text2;
  EXPECT_TRUE(has(text2, "no-endpoint-services { 10.43.0.22 . tcp . 80 : goto reject-chain }")) << text2;
  EXPECT_TRUE(
      has(text2, "delete chain ip " + tableOf("default/s2") + " svc-default/s2/tcp/http"))
      << text2;
  EXPECT_FALSE(has(text2, "s0")) << text2;
  expectAccepted(base + text + text2);

  // s0 is deleted.
  std::string text3 = gen_.update({{"default/s0", nullptr}});
  EXPECT_TRUE(
      has(text3, "delete chain ip " + tableOf("default/s0") + " svc-default/s0/tcp/http"))
      << text3;
  EXPECT_FALSE(has(text3, "s1")) << text3;
  EXPECT_EQ(gen_.serviceCount(), 2u);
  expectAccepted(base + text + text2 + text3);
}

// An endpoint replaced by another address changes map elements only: the
// plan says so and lists exactly them (the proxy sends those as one
// nfnetlink batch); an endpoint added changes the rule too, so the text.
TEST_F(RuleGeneratorTest, PlanIsElementOnlyWhenOnlyElementsChange) {
  auto svc = service("web", {{"clusterIP", "10.43.0.30"}, {"ports", {tcpPort("http", 80)}}});
  std::string base =
      full({{"default/web",
             info(svc, {httpSlice("web", {endpoint("10.42.1.2", "node-a"), endpoint("10.42.1.3")})})}});

  ServiceInfo replaced =
      info(svc, {httpSlice("web", {endpoint("10.42.1.2", "node-a"), endpoint("10.42.1.9", "node-a")})});
  SyncPlan plan = gen_.plan({{"default/web", &replaced}});
  ASSERT_TRUE(plan.elements_only) << plan.text;
  expectAccepted(base + plan.text);
  using Items = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(merged(plan).remove,
            (std::map<std::string, std::vector<std::string>>{{"backends-tcp-1", {"4097"}}}));
  // The new endpoint is on this node: a hairpin candidate too (the main
  // table's set).
  EXPECT_EQ(merged(plan).add,
            (std::map<std::string, Items>{{"backends-tcp-1", {{"4097", "10.42.1.9 . 8080"}}},
                                          {"hairpin", {{"10.42.1.9 . 10.42.1.9", ""}}}}));
  ASSERT_NE(partOf(plan, mainTable()), nullptr);
  EXPECT_EQ(partOf(plan, mainTable())->elements.add.count("hairpin"), 1u);
  EXPECT_TRUE(has(plan.text, "add element ip " + tableOf("default/web") + " backends-tcp-1 { 4097 : 10.42.1.9 . 8080 }"))
      << plan.text;

  ServiceInfo added =
      info(svc, {httpSlice("web", {endpoint("10.42.1.2", "node-a"), endpoint("10.42.1.9", "node-a"),
                                   endpoint("10.42.1.10")})});
  SyncPlan grown = gen_.plan({{"default/web", &added}});
  EXPECT_FALSE(grown.elements_only);
  // Its chain changes, no set or map does: the same transaction apart for
  // nfnetlink, in the text's order.
  EXPECT_TRUE(has(grown.text, "numgen random mod 3")) << grown.text;
  ASSERT_TRUE(grown.chains_and_elements);
  // Only web's table: the endpoint is on another node, so no hairpin change.
  ASSERT_EQ(grown.tables.size(), 1u);
  const TableChanges& web = grown.tables[0];
  EXPECT_EQ(web.table, tableOf("default/web"));
  EXPECT_EQ(web.flush, (std::vector<std::string>{"svc-default/web/tcp/http"}));
  ASSERT_EQ(web.fill.size(), 1u);
  EXPECT_EQ(web.fill[0].first, "svc-default/web/tcp/http");
  EXPECT_TRUE(has(web.fill[0].second.back(), "numgen random mod 3")) << web.fill[0].second.back();
  EXPECT_TRUE(web.remove.empty());
  ASSERT_EQ(web.elements.add.count("backends-tcp-1"), 1u);
  EXPECT_EQ(web.elements.add.at("backends-tcp-1").size(), 3u);  // as the text: all of its backends
  EXPECT_TRUE(gen_.plan({{"default/web", &added}}).text.empty());
}

// The tcp and udp backends maps are in every service table's skeleton, so
// a new service declares nothing; sctp's are declared on first use, once
// per table.
TEST_F(RuleGeneratorTest, BackendMapsAreShardedAndDeclaredOnce) {
  std::string base = full({});
  auto make = [&](const std::string& name, const std::string& vip, const std::string& ep,
                  const std::string& protocol = "SCTP") {
    auto svc = service(name, {{"clusterIP", vip}, {"ports", {{{"name", "p"}, {"port", 80}, {"protocol", protocol}}}}});
    return info(svc, {slice(name, Json::array({{{"name", "p"}, {"port", 8080}, {"protocol", protocol}}}),
                            {endpoint(ep)})});
  };
  ServiceInfo tcp = make("t", "10.43.0.39", "10.42.1.39", "TCP");
  std::string t0 = gen_.update({{"default/t", &tcp}});
  EXPECT_FALSE(has(t0, "add map")) << t0;
  EXPECT_TRUE(has(t0, "map @backends-tcp-1")) << t0;
  ServiceInfo a = make("a", "10.43.0.40", "10.42.1.40"), b = make("b", "10.43.0.41", "10.42.1.41");
  std::string t1 = gen_.update({{"default/a", &a}});
  EXPECT_TRUE(has(t1, "add map ip " + tableOf("default/a") + " backends-sctp-2 ")) << t1;
  EXPECT_TRUE(has(t1, "map @backends-sctp-2")) << t1;
  std::string t2 = gen_.update({{"default/b", &b}});
  EXPECT_TRUE(has(t2, " backends-sctp-3 {")) << t2;
  EXPECT_FALSE(has(t2, "backends-sctp-2")) << t2;
  // a's group id is reused by c, a service of a's table: the map exists
  // there already.
  std::string c_name = "c";
  for (int i = 0; serviceShard("default/" + c_name) != serviceShard("default/a"); ++i) c_name = "c" + std::to_string(i);
  ServiceInfo c = make(c_name, "10.43.0.42", "10.42.1.42");
  std::string t3 = gen_.update({{"default/a", nullptr}, {"default/" + c_name, &c}});
  EXPECT_FALSE(has(t3, "add map")) << t3;
  EXPECT_TRUE(has(t3, "map @backends-sctp-2")) << t3;
  // In another service table the same shard of maps is declared anew.
  std::string d_name = "d";
  for (int i = 0; serviceShard("default/" + d_name) == serviceShard("default/a"); ++i) d_name = "d" + std::to_string(i);
  ServiceInfo d = make(d_name, "10.43.0.43", "10.42.1.43");
  std::string t4 = gen_.update({{"default/" + c_name, nullptr}, {"default/" + d_name, &d}});
  EXPECT_TRUE(has(t4, "add map ip " + tableOf("default/" + d_name) + " backends-sctp-2 ")) << t4;
  expectAccepted(base + t0 + t1 + t2 + t3 + t4);
}

// The services' rules are spread over service tables, so that a change to
// one service touches (and makes the kernel validate) its own table only.
TEST(RuleGeneratorShards, EachServiceLivesInItsOwnServiceTable) {
  GeneratorOptions go{"capstan_unit_shards", "10.42.0.0/16", "node-a"};
  go.shards = 4;
  RuleGenerator gen(go);
  EXPECT_EQ(tableSet("capstan_unit_shards", 4),
            (std::vector<std::string>{"capstan_unit_shards", "capstan_unit_shards-s0", "capstan_unit_shards-s1",
                                      "capstan_unit_shards-s2", "capstan_unit_shards-s3"}));
  std::map<std::string, ServiceInfo> all;
  std::set<uint32_t> shards;
  for (int i = 0; i < 12; ++i) {
    std::string name = "s" + std::to_string(i);
    auto svc = service(name, {{"clusterIP", "10.43.1." + std::to_string(i + 1)}, {"ports", {tcpPort("http", 80)}}});
    all["default/" + name] = info(svc, {httpSlice(name, {endpoint("10.42.2." + std::to_string(i + 1))})});
    shards.insert(serviceShard("default/" + name, 4));
  }
  EXPECT_GT(shards.size(), 1u);  // spread, not all in one
  std::string text = gen.fullSync(all);
  expectAccepted(text);
  // Every table is replaced: deleted first (when present), then written.
  for (const auto& t : tableSet("capstan_unit_shards", 4)) {
    EXPECT_TRUE(has(text, "add table ip " + t + "\ndelete table ip " + t + "\n")) << t;
    EXPECT_TRUE(has(text, "table ip " + t + " {\n")) << t;
  }
  // The service tables hook the nat prerouting and output paths; the main
  // table keeps masquerading, the no-endpoint refusals and hairpin.
  EXPECT_TRUE(has(text, "table ip capstan_unit_shards-s2 {\n  map service-ips"));
  EXPECT_TRUE(has(text, "table ip capstan_unit_shards {\n  map no-endpoint-services"));
  // Each svc chain is written inside its own table's block.
  for (const auto& [key, si] : all) {
    std::string table = shardTable("capstan_unit_shards", serviceShard(key, 4));
    std::string chain = "  chain svc-" + key + "/tcp/http {";
    size_t at = text.find(chain);
    ASSERT_NE(at, std::string::npos) << chain;
    size_t block = text.rfind("\ntable ip ", at);
    ASSERT_NE(block, std::string::npos);
    EXPECT_EQ(text.compare(block + 10, table.size() + 2, table + " {"), 0) << key << " in " << text.substr(block, 60);
  }
  // One service scales: its own table only.
  ServiceInfo grown = all["default/s5"];
  grown.ports[0].endpoints.push_back({"10.42.2.99", 8080, "node-b"});
  SyncPlan plan = gen.plan({{"default/s5", &grown}});
  ASSERT_TRUE(plan.chains_and_elements) << plan.text;
  ASSERT_EQ(plan.tables.size(), 1u);
  EXPECT_EQ(plan.tables[0].table, shardTable("capstan_unit_shards", serviceShard("default/s5", 4)));
  expectAccepted(text + plan.text);
  // Cleanup deletes all of them.
  std::string del = RuleGenerator::deleteTableText("capstan_unit_shards", 4);
  for (const auto& t : tableSet("capstan_unit_shards", 4)) EXPECT_TRUE(has(del, "delete table ip " + t + "\n")) << t;
}

TEST_F(RuleGeneratorTest, AnAddressPortBelongsToOneService) {
  auto a =
      service("a", {{"clusterIP", "10.43.0.30"}, {"type", "LoadBalancer"}, {"ports", {tcpPort("http", 80)}}});
  auto b =
      service("b", {{"clusterIP", "10.43.0.31"}, {"type", "LoadBalancer"}, {"ports", {tcpPort("http", 80)}}});
  auto sa = info(a, {httpSlice("a", {endpoint("10.42.1.2")})});
  auto sb = info(b, {httpSlice("b", {endpoint("10.42.1.3")})});
  std::string text = full({{"default/a", sa}, {"default/b", sb}});
  // A full sync visits the services by service table, then by key: the
  // first one visited keeps the node address.
  bool a_first = serviceShard("default/a") <= serviceShard("default/b");
  std::string winner = a_first ? "a" : "b", loser = a_first ? "b" : "a";
  const ServiceInfo& loser_info = a_first ? sb : sa;
  EXPECT_TRUE(has(text, "192.168.7.5 . tcp . 80 : goto svc-default/" + winner + "/tcp/http")) << text;
  EXPECT_FALSE(has(text, "192.168.7.5 . tcp . 80 : goto svc-default/" + loser + "/tcp/http")) << text;
  // The winner goes away: the other takes the node address at its next change.
  std::string gone = gen_.update({{"default/" + winner, nullptr}, {"default/" + loser, &loser_info}});
  EXPECT_TRUE(has(gone, "192.168.7.5 . tcp . 80 : goto svc-default/" + loser + "/tcp/http")) << gone;
  EXPECT_TRUE(has(gone, " masquerade-ips { 192.168.7.5 . tcp . 80 }")) << gone;
  expectAccepted(text + gone);
}

TEST(NftablesDryRun, RejectsWhatNftWouldReject) {
  if (geteuid() != 0) GTEST_SKIP() << "the dry run reads the kernel's ruleset: needs root";
  auto nft = Nftables::open(/*dry_run=*/true);
  ASSERT_TRUE(nft);
  EXPECT_FALSE(
      (*nft)->run("add table ip capstan_unit_bad\nadd chain ip capstan_unit_bad c\n"
                  "add rule ip capstan_unit_bad c dnat to numgen random mod 2 banana\n"));
}

}  // namespace
}  // namespace capstan::proxy
