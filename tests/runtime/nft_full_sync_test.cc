// A planned full sync (dormant table, most chains and rules and all
// elements as nfnetlink messages, then the switch), and incremental changes
// sent as nfnetlink batches, build in the kernel exactly the table the
// generator's texts build through libnftables: both are listed by nft and
// compared. In a scratch network namespace.

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "agent/runtime/process.h"
#include "proxy/nft_elements.h"
#include "proxy/nftables.h"
#include "proxy/rule_generator.h"
#include "runtime/fixture.h"

namespace capstan::proxy {
namespace {

// nft's listing of `table` in network namespace `ns`; empty on failure.
std::string listTable(const agent::testing::ScratchNetns& ns, const std::string& table) {
  auto r = agent::runtime::runProcess(
      {"/usr/sbin/ip", "netns", "exec", ns.name(), "/usr/sbin/nft", "list", "table", "ip", table});
  return r && r->exit_code == 0 ? r->out : "";
}

ServicePort port(const std::string& proto, int port, int node_port, int first, int count) {
  ServicePort sp{"p" + std::to_string(port), proto, port, node_port, {}, {}};
  for (int i = 0; i < count; ++i) {
    Endpoint ep{"10.42.1." + std::to_string(first + i), 8000 + port, i % 2 ? "node-b" : "node-a"};
    sp.endpoints.push_back(ep);
    if (ep.node_name == "node-a") sp.local_endpoints.push_back(ep);
  }
  return sp;
}

// Every kind of service the generator writes: cluster IP only (tcp, udp,
// sctp), node port, external IPs, externalTrafficPolicy Local (its chains
// stay text, and so must the chains they name), session affinity, and one
// without endpoints.
std::map<std::string, ServiceInfo> services() {
  std::map<std::string, ServiceInfo> out;
  auto add = [&](const std::string& name, const std::string& ip, std::vector<ServicePort> ports) -> ServiceInfo& {
    ServiceInfo& si = out["default/" + name];
    si.ns = "default";
    si.name = name;
    si.cluster_ip = ip;
    si.ports = std::move(ports);
    return si;
  };
  add("plain", "10.43.0.10", {port("tcp", 80, 0, 10, 3), port("udp", 53, 0, 20, 2), port("sctp", 9, 0, 30, 1)});
  add("np", "10.43.0.11", {port("tcp", 80, 30080, 40, 4)});
  add("ext", "10.43.0.12", {port("tcp", 443, 30443, 50, 2)}).external_ips = {"192.168.7.5", "192.168.7.6"};
  ServiceInfo& local = add("local", "10.43.0.13", {port("tcp", 80, 30081, 60, 4)});
  local.external_local = true;
  local.external_ips = {"192.168.7.7"};
  add("sticky", "10.43.0.14", {port("tcp", 80, 0, 70, 2)}).affinity_timeout = 60;
  add("none", "10.43.0.15", {port("tcp", 80, 30082, 0, 0)});
  return out;
}

std::string trimmed(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\n"), e = s.find_last_not_of(" \t\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// The listing of `table` as a sorted list of its chains, maps and sets,
// each with its elements sorted and the table's name replaced: the kernel
// lists chains in the order they were made and elements in its hash order,
// neither of which is what is compared. Rules stay in their chain's order.
std::vector<std::string> normalized(const std::string& listing, const std::string& table) {
  std::vector<std::string> items;
  std::string item;
  std::istringstream in(listing);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("table ", 0) == 0 || line == "}") continue;
    item += line + "\n";
    if (line == "\t}") {
      // elements = { a, b,\n c }: one sorted list.
      auto open = item.find("elements = {");
      if (open != std::string::npos) {
        auto close = item.find('}', open);
        std::vector<std::string> entries;
        std::istringstream list(item.substr(open + 12, close - open - 12));
        for (std::string e; std::getline(list, e, ',');) entries.push_back(trimmed(e));
        std::sort(entries.begin(), entries.end());
        std::string joined;
        for (const auto& e : entries) joined += e + ",";
        item = item.substr(0, open) + "elements = {" + joined + item.substr(close);
      }
      for (size_t at; (at = item.find(table)) != std::string::npos;) item.replace(at, table.size(), "T");
      if (!trimmed(item).empty()) items.push_back(item);
      item.clear();
    }
  }
  std::sort(items.begin(), items.end());
  return items;
}

// The listings of main table `table` and its service tables, one after another.
std::string listTables(const agent::testing::ScratchNetns& ns, const std::string& table) {
  std::string out;
  for (const auto& t : tableSet(table)) out += listTable(ns, t);
  return out;
}

// normalized() of each table of the set, its items tagged with the table's
// place in the set (a service in the wrong shard differs).
std::vector<std::string> normalizedSet(const agent::testing::ScratchNetns& ns, const std::string& table) {
  std::vector<std::string> out;
  auto tables = tableSet(table);
  for (size_t i = 0; i < tables.size(); ++i)
    for (auto& item : normalized(listTable(ns, tables[i]), tables[i])) out.push_back(std::to_string(i) + ":" + item);
  return out;
}

TEST(NftFullSyncTest, PlannedSyncAndNetlinkChangesBuildWhatTheTextBuilds) {
  agent::testing::ScratchNetns ns("nftfull");
  ASSERT_TRUE(ns.ok());
  const std::string text_table = "capstan_rt_text", planned = "capstan_rt_plan";
  GeneratorOptions go{text_table, "10.42.0.0/16", "node-a"};
  auto svcs = services();
  Status by_text = Status::ok(), by_plan = Status::ok();
  size_t as_messages = 0, chains = 0;
  bool first_plan_complete = false;
  std::vector<bool> by_netlink;
  std::thread([&] {
    if (Status st = enterNetworkNamespace(ns.path()); !st) {
      by_text = st;
      return;
    }
    auto nft = Nftables::open();
    auto elements = NftElements::open();
    if (!nft || !elements) {
      by_text = !nft ? nft.status() : elements.status();
      return;
    }
    RuleGenerator whole(go);
    by_text = (*nft)->run(whole.fullSync(svcs));
    GeneratorOptions gp = go;
    gp.table = planned;
    RuleGenerator g(gp);
    // As the proxy does it: the skeleton while the services are planned.
    FullSyncPlan plan;
    by_plan = planAndApplyFullSync(**nft, **elements, g, svcs, planned, alternateTable(planned), plan);
    for (const auto& part : plan.parts) {
      chains += part.fill.size();
      for (const auto& [name, rules] : part.fill) {
        bool all = true;
        for (const auto& r : rules) all = all && parseRule(r).has_value();
        as_messages += all;
      }
    }
    if (!by_text || !by_plan) return;

    // Incremental changes, the same to both tables, the planned one's
    // applied as the proxy does (nfnetlink when the plan may go that way
    // and every rule has a shape encoded there, else the text):
    //  1. an endpoint added and a service gone: chains flushed, filled
    //     and deleted, elements: one nfnetlink batch;
    //  2. a new service: its sctp backends map is new (text; tcp and udp
    //     maps are in the skeleton);
    //  3. the session-affinity service loses an endpoint (text).
    auto as_proxy = [&](const SyncPlan& p) -> std::pair<Status, bool> {
      if (p.elements_only || p.chains_and_elements) {
        Status st = (*elements)->apply(p.tables);
        if (st.code() != Code::kInvalid) return {st, true};
      }
      return {(*nft)->run(p.text), false};
    };
    auto changed = svcs;
    changed["default/plain"].ports[0].endpoints.push_back({"10.42.1.99", 8080, "node-a"});
    changed.erase("default/np");
    ServiceInfo fresh = changed["default/plain"];
    fresh.name = "fresh";
    fresh.cluster_ip = "10.43.0.16";
    changed["default/sticky"].ports[0].endpoints.pop_back();
    std::vector<std::map<std::string, const ServiceInfo*>> steps = {
        {{"default/plain", &changed["default/plain"]}, {"default/np", nullptr}},
        {{"default/fresh", &fresh}},
        {{"default/sticky", &changed["default/sticky"]}}};
    for (const auto& step : steps) {
      by_text = (*nft)->run(whole.update(step));
      SyncPlan p = g.plan(step);
      if (&step == &steps[0]) {
        bool flush = false, fill = false, remove = false;
        for (const auto& t : p.tables) {
          flush = flush || !t.flush.empty();
          fill = fill || !t.fill.empty();
          remove = remove || !t.remove.empty();
        }
        first_plan_complete = flush && fill && remove;
      }
      auto [st, netlink] = as_proxy(p);
      by_plan = st;
      by_netlink.push_back(netlink);
      if (!by_text || !by_plan) return;
    }
  }).join();
  ASSERT_TRUE(by_text.isOk()) << by_text.message();
  ASSERT_TRUE(by_plan.isOk()) << by_plan.message();
  // Both ways were taken: most chains as messages, the rest as text.
  EXPECT_GT(as_messages, 4u);
  EXPECT_LT(as_messages, chains);

  std::string a = listTables(ns, text_table), b = listTables(ns, planned);
  ASSERT_FALSE(a.empty());
  EXPECT_NE(a.find("numgen random mod 4 offset"), std::string::npos) << a;
  EXPECT_EQ(b.find("flags dormant"), std::string::npos) << b;
  // The change with chains and elements only went by nfnetlink; the new
  // maps and the affinity service's sets went as text.
  EXPECT_TRUE(first_plan_complete);
  EXPECT_EQ(by_netlink, (std::vector<bool>{true, false, false}));
  EXPECT_NE(a.find("10.42.1.99 . 8080"), std::string::npos) << a;
  EXPECT_EQ(a.find("svc-default/np/"), std::string::npos) << a;
  EXPECT_NE(a.find("svc-default/fresh/"), std::string::npos) << a;
  auto na = normalizedSet(ns, text_table), nb = normalizedSet(ns, planned);
  EXPECT_GT(na.size(), 20u);
  EXPECT_EQ(na, nb) << a << "\n----\n" << b;
}

// An element that cannot be encoded, in the last table's batch: the
// earlier batches have gone to the dormant tables, but no switch happens,
// the live tables serve on unchanged and the answer is Invalid (so that
// the proxy falls back to the text).
TEST(NftFullSyncTest, AnUnencodableElementLeavesTheLiveTablesAlone) {
  agent::testing::ScratchNetns ns("nftbad");
  ASSERT_TRUE(ns.ok());
  const std::string live = "capstan_rt_live";
  auto svcs = services();
  Status first = Status::ok(), second = Status::ok();
  std::string before;
  std::thread([&] {
    if (Status st = enterNetworkNamespace(ns.path()); !st) {
      first = st;
      return;
    }
    auto nft = Nftables::open();
    auto elements = NftElements::open();
    if (!nft || !elements) {
      first = !nft ? nft.status() : elements.status();
      return;
    }
    RuleGenerator g({live, "10.42.0.0/16", "node-a"});
    first = applyFullSync(**nft, **elements, g.planFullSync(svcs, live, alternateTable(live)));
    if (!first) return;
    before = listTables(ns, live);
    FullSyncPlan next = g.planFullSync(svcs, alternateTable(live), live);
    ASSERT_GT(next.parts.size(), 2u);
    next.parts.back().elements.add["service-ips"].emplace_back("10.43.0.99 . banana . 80", "goto svc-x");
    second = applyFullSync(**nft, **elements, next);
  }).join();
  ASSERT_TRUE(first.isOk()) << first.message();
  EXPECT_EQ(second.code(), Code::kInvalid) << second.message();
  EXPECT_FALSE(before.empty());
  EXPECT_EQ(listTables(ns, live), before);
  EXPECT_NE(listTables(ns, alternateTable(live)).find("flags dormant"), std::string::npos);
}

// release() drops the context (and libnftables' cache of the ruleset); the
// next command makes a new one, in the namespace of the thread that runs it.
TEST(NftFullSyncTest, AReleasedContextIsMadeAgainByTheNextCommand) {
  agent::testing::ScratchNetns ns("nftrel");
  ASSERT_TRUE(ns.ok());
  Status st = Status::ok();
  bool held_after_run = false, held_after_release = true;
  Result<bool> has_a = false, has_b = false;
  std::thread([&] {
    if (st = enterNetworkNamespace(ns.path()); !st) return;
    auto nft = Nftables::open();
    if (!nft) {
      st = nft.status();
      return;
    }
    if (st = (*nft)->run("add table ip capstan_rel_a\n"); !st) return;
    held_after_run = (*nft)->holdsContext();
    (*nft)->release();
    held_after_release = (*nft)->holdsContext();
    (*nft)->release();  // twice is harmless
    has_a = (*nft)->hasTable("capstan_rel_a");
    if (st = (*nft)->run("add table ip capstan_rel_b\n"); !st) return;
    has_b = (*nft)->hasTable("capstan_rel_b");
  }).join();
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_TRUE(held_after_run);
  EXPECT_FALSE(held_after_release);
  ASSERT_TRUE(has_a.isOk() && has_b.isOk());
  EXPECT_TRUE(*has_a);
  EXPECT_TRUE(*has_b);
  // In the scratch namespace, not the host's.
  EXPECT_NE(listTable(ns, "capstan_rel_b").find("table ip capstan_rel_b"), std::string::npos);
}

TEST(NftFullSyncTest, RuleShapesAreParsedExactly) {
  auto dnat = parseRule("meta l4proto udp dnat ip to numgen random mod 7 offset 8192 map @backends-udp-2");
  ASSERT_TRUE(dnat);
  EXPECT_EQ(dnat->kind, RuleShape::kDnatSpread);
  EXPECT_EQ(dnat->proto, 17);
  EXPECT_EQ(dnat->modulus, 7u);
  EXPECT_EQ(dnat->offset, 8192u);
  EXPECT_EQ(dnat->target, "backends-udp-2");
  for (const char* other : {"ip saddr 10.42.0.0/16 goto svc-x", "ip saddr != 10.42.0.0/16 jump mark-for-masquerade",
                            "ip saddr != 10.42.0.0/16 meta mark set meta mark | 0x4000",
                            "meta l4proto icmp dnat ip to numgen random mod 7 offset 1 map @m",
                            "meta l4proto tcp dnat ip to numgen random mod 0 offset 1 map @m",
                            "meta l4proto tcp dnat ip to numgen random mod 2 offset 1 map m",
                            "meta l4proto tcp dnat to 10.42.1.2:80", "update @aff-x { ip saddr }", "drop", ""})
    EXPECT_FALSE(parseRule(other)) << other;
}

}  // namespace
}  // namespace capstan::proxy
