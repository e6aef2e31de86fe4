#include "proxy/rule_generator.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace capstan::proxy {
namespace {

// Map names, as declared by the skeleton.
constexpr const char* kServiceIps = "service-ips";
constexpr const char* kServiceNodePorts = "service-nodeports";
constexpr const char* kNoEndpointServices = "no-endpoint-services";
constexpr const char* kNoEndpointNodePorts = "no-endpoint-nodeports";
constexpr const char* kMasqueradeIps = "masquerade-ips";
constexpr const char* kMasqueradeNodePorts = "masquerade-nodeports";
constexpr const char* kHairpin = "hairpin";
constexpr const char* kClusterIps = "cluster-ips";
// Endpoint addresses of the backend groups, in maps per protocol (nft 1.0.6
// refuses a transport header of another protocol, th or tcp for a udp rule,
// in the data of a map loaded from the kernel) and per shard of group ids.
// Shards because the kernel checks every element added to a map against
// every rule that uses the map (nft_add_set_elem walks the set's bindings):
// with one map for all, a full sync of 1,000 services x 10 endpoints did
// 10,000 x 1,000 such checks, of 10,000 x 10,000 services 13 s of kernel
// time, and one endpoint change among 10,000 services ~100 ms. With 64
// shards in all (64 / the service tables in each) each map serves 1/64 of
// the groups. Each service table declares its tcp and udp maps in its
// skeleton; an sctp map when a group there first needs it, until the next
// full sync.
constexpr uint32_t kBackendShards = 64;
uint32_t backendShards(uint32_t service_tables) { return std::max<uint32_t>(kBackendShards / service_tables, 1); }
std::string backendsMap(const std::string& protocol, uint32_t group_id, uint32_t service_tables) {
  return fmt::format("backends-{}-{}", protocol, group_id % backendShards(service_tables));
}
// The protocols whose backends maps every service table declares in its
// skeleton (sctp's are declared when a group first needs one), so that a
// full sync's text does not depend on the services and a new service
// declares nothing.
constexpr const char* kDeclaredProtocols[] = {"tcp", "udp"};
std::string backendsMapDeclaration(const std::string& name) {
  // name is backends-<protocol>-<shard>
  std::string protocol = name.substr(9, name.rfind('-') - 9);
  return fmt::format("{} {{ typeof numgen random mod 1 : ip daddr . {} dport; }}", name, protocol);
}
constexpr const char* kReject = "goto reject-chain";

// Element keys of the maps that share a key space: an address . proto .
// port belongs to one service only, whichever map it is in; so does a
// node port.
std::string ownerKey(const std::string& map, const std::string& key) {
  bool by_port = map == kServiceNodePorts || map == kNoEndpointNodePorts || map == kMasqueradeNodePorts;
  return (by_port ? "port|" : "addr|") + key;
}

bool owned(const std::string& map) { return map.rfind("backends-", 0) != 0; }

void appendChain(std::string& out, const std::string& name, const std::vector<std::string>& rules) {
  fmt::format_to(std::back_inserter(out), "  chain {} {{\n    {}\n  }}\n", name, fmt::join(rules, "\n    "));
}

}  // namespace

std::string chainsBlockText(const std::string& table, const std::vector<ChainRules>& chains, bool dormant) {
  if (chains.empty()) return "";
  std::string out = fmt::format("table ip {} {{\n", table);
  if (dormant) out += "  flags dormant;\n";
  for (const auto& [name, rules] : chains) appendChain(out, name, rules);
  out += "}\n";
  return out;
}

// Commands of one transaction grouped by table and, in each, by phase, so
// that nothing is deleted while referenced and nothing is referenced before
// it exists, whatever order the services were visited in. No table refers
// to another.
struct RuleGenerator::Transaction {
  struct Part {
    ElementChanges elements;  // deletions first, additions after the chains
    std::vector<std::string> add_maps;  // "name { decl }"
    std::vector<std::string> add_sets;  // "name { decl }"
    std::vector<std::string> flush_chains;
    std::vector<std::pair<std::string, const std::vector<std::string>*>> fill_chains;
    std::vector<std::string> delete_chains;
    std::vector<std::string> delete_sets;

    bool elementsOnly() const {
      return add_maps.empty() && add_sets.empty() && flush_chains.empty() && fill_chains.empty() &&
             delete_chains.empty() && delete_sets.empty();
    }
    bool declaresNothing() const { return add_maps.empty() && add_sets.empty() && delete_sets.empty(); }

    // with_added_elements false: all but the element additions (which the
    // caller sends another way). dormant: the table block says so (a block
    // without the flag would wake a dormant table).
    void write(const std::string& table, std::string& out, bool with_added_elements, bool dormant) const {
      for (const auto& [map, keys] : elements.remove)
        if (!keys.empty())
          fmt::format_to(std::back_inserter(out), "delete element ip {} {} {{ {} }}\n", table, map,
                         fmt::join(keys, ", "));
      for (const auto& m : add_maps) fmt::format_to(std::back_inserter(out), "add map ip {} {}\n", table, m);
      for (const auto& s : add_sets) fmt::format_to(std::back_inserter(out), "add set ip {} {}\n", table, s);
      for (const auto& c : flush_chains)
        fmt::format_to(std::back_inserter(out), "flush chain ip {} {}\n", table, c);
      if (!fill_chains.empty()) {
        // One table block: the parser handles it much faster than a command
        // per rule, and it creates the chains that do not exist yet.
        fmt::format_to(std::back_inserter(out), "table ip {} {{\n", table);
        if (dormant) out += "  flags dormant;\n";
        for (const auto& [name, rules] : fill_chains) appendChain(out, name, *rules);
        out += "}\n";
      }
      for (const auto& [map, items] : elements.add) {
        if (items.empty() || !with_added_elements) continue;
        fmt::format_to(std::back_inserter(out), "add element ip {} {} {{ ", table, map);
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out += ", ";
          out += items[i].first;
          if (!items[i].second.empty()) out += " : " + items[i].second;
        }
        out += " }\n";
      }
      for (const auto& c : delete_chains)
        fmt::format_to(std::back_inserter(out), "flush chain ip {} {}\n", table, c);
      for (const auto& c : delete_chains)
        fmt::format_to(std::back_inserter(out), "delete chain ip {} {}\n", table, c);
      for (const auto& s : delete_sets)
        fmt::format_to(std::back_inserter(out), "delete set ip {} {}\n", table, s);
    }
  };
  std::map<std::string, Part> parts;  // by table

  bool elementsOnly() const {
    return std::all_of(parts.begin(), parts.end(), [](const auto& p) { return p.second.elementsOnly(); });
  }
  bool declaresNothing() const {
    return std::all_of(parts.begin(), parts.end(), [](const auto& p) { return p.second.declaresNothing(); });
  }
  void write(std::string& out, bool with_added_elements = true, bool dormant = false) const {
    for (const auto& [table, part] : parts) part.write(table, out, with_added_elements, dormant);
  }
};

RuleGenerator::RuleGenerator(GeneratorOptions options)
    : options_(std::move(options)), table_(options_.table) {
  options_.shards = std::max<uint32_t>(options_.shards, 1);
}

std::string alternateTable(const std::string& table) { return table + "__2"; }

std::string shardTable(const std::string& table, uint32_t shard) { return fmt::format("{}-s{}", table, shard); }

std::vector<std::string> tableSet(const std::string& table, uint32_t shards) {
  std::vector<std::string> out{table};
  for (uint32_t i = 0; i < shards; ++i) out.push_back(shardTable(table, i));
  return out;
}

std::string RuleGenerator::deleteTableText(const std::string& table, uint32_t shards) {
  std::string out;
  for (const auto& t : tableSet(table, shards))
    fmt::format_to(std::back_inserter(out), "add table ip {0}\ndelete table ip {0}\n", t);
  return out;
}

uint32_t serviceShard(const std::string& key, uint32_t shards) {
  // FNV-1a: the same shard for a service in every process and run.
  uint32_t h = 2166136261u;
  for (unsigned char c : key) h = (h ^ c) * 16777619u;
  return h % std::max<uint32_t>(shards, 1);
}

std::string RuleGenerator::tableOf(const std::string& map, uint32_t shard) const {
  bool main = map == kNoEndpointServices || map == kNoEndpointNodePorts || map == kHairpin;
  return main ? table_ : shardTable(table_, shard);
}

// Every new connection passes the services chain of each service table, so
// each rule starts with a hash lookup and only a node port costs the route
// lookup of `fib daddr type local` (the node-port map used as a set first).
std::string RuleGenerator::shardSkeleton(const std::string& table, uint32_t shard, bool dormant) const {
  std::string mark = fmt::format("{:#x}", options_.masquerade_mark);
  std::string backends;
  for (const char* protocol : kDeclaredProtocols)
    for (uint32_t i = 0; i < backendShards(options_.shards); ++i)
      backends += "\n  map " + backendsMapDeclaration(fmt::format("backends-{}-{}", protocol, i));
  // Traffic to a cluster IP from outside the cluster CIDR (the node itself,
  // or another host routing to it) is masqueraded, so that replies come
  // back through this node: one rule here rather than one per service.
  std::string off_cluster;
  if (!options_.cluster_cidr.empty())
    off_cluster = fmt::format("\n    ip saddr != {} ip daddr . meta l4proto . th dport @{} jump mark-for-masquerade",
                              options_.cluster_cidr, kClusterIps);
  return fmt::format(R"(table ip {t} {{{flags}
  map {sips} {{ type ipv4_addr . inet_proto . inet_service : verdict; }}
  map {snp} {{ type inet_proto . inet_service : verdict; }}
  set {mips} {{ type ipv4_addr . inet_proto . inet_service; }}
  set {mnp} {{ type inet_proto . inet_service; }}
  set {cips} {{ type ipv4_addr . inet_proto . inet_service; }}{backends}
  chain nat-prerouting {{ type nat hook prerouting priority -110; policy accept; jump services; }}
  chain nat-output {{ type nat hook output priority -110; policy accept; jump services; }}
  chain services {{{off_cluster}
    ip daddr . meta l4proto . th dport @{mips} jump mark-for-masquerade
    ip daddr . meta l4proto . th dport vmap @{sips}
    meta l4proto . th dport @{mnp} fib daddr type local ip daddr != 127.0.0.0/8 jump mark-for-masquerade
    meta l4proto . th dport @{snp} fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @{snp}
  }}
  chain mark-for-masquerade {{ meta mark set meta mark | {mark}; }}
}}
)",
                     fmt::arg("t", shardTable(table, shard)), fmt::arg("backends", backends),
                     fmt::arg("sips", kServiceIps),
                     fmt::arg("snp", kServiceNodePorts), fmt::arg("mips", kMasqueradeIps),
                     fmt::arg("mnp", kMasqueradeNodePorts), fmt::arg("cips", kClusterIps), fmt::arg("mark", mark),
                     fmt::arg("off_cluster", off_cluster), fmt::arg("flags", dormant ? "\n  flags dormant;" : ""));
}

std::string RuleGenerator::skeleton(const std::string& t, bool dormant) const {
  std::string mark = fmt::format("{:#x}", options_.masquerade_mark);
  std::string out = deleteTableText(t, options_.shards);
  fmt::format_to(std::back_inserter(out),
                 R"(table ip {t} {{{flags}
  map {nes} {{ type ipv4_addr . inet_proto . inet_service : verdict; }}
  map {nenp} {{ type inet_proto . inet_service : verdict; }}
  set {hairpin} {{ type ipv4_addr . ipv4_addr; }}
  chain nat-postrouting {{ type nat hook postrouting priority 110; policy accept; jump masquerading; }}
  chain filter-input {{ type filter hook input priority -10; policy accept; ct state new jump endpoints-check; }}
  chain filter-forward {{ type filter hook forward priority -10; policy accept; ct state new jump endpoints-check; }}
  chain filter-output {{ type filter hook output priority -10; policy accept; ct state new jump endpoints-check; }}
  chain endpoints-check {{
    ip daddr . meta l4proto . th dport vmap @{nes}
    fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @{nenp}
  }}
  chain reject-chain {{
    meta l4proto tcp reject with tcp reset
    reject
  }}
  chain masquerading {{
    ct status dnat ip saddr . ip daddr @{hairpin} masquerade
    meta mark & {mark} == 0 return
    meta mark set meta mark ^ {mark}
    masquerade fully-random
  }}
}}
)",
                 fmt::arg("t", t), fmt::arg("nes", kNoEndpointServices), fmt::arg("nenp", kNoEndpointNodePorts),
                 fmt::arg("hairpin", kHairpin), fmt::arg("mark", mark),
                 fmt::arg("flags", dormant ? "\n  flags dormant;" : ""));
  for (uint32_t i = 0; i < options_.shards; ++i) out += shardSkeleton(t, i, dormant);
  return out;
}

std::string RuleGenerator::fullSyncSkeleton(const std::string& into, const std::string& replacing) const {
  std::string out;
  for (const auto& t : tableSet(replacing, options_.shards))
    fmt::format_to(std::back_inserter(out), "add table ip {}\n", t);
  return out + skeleton(into, /*dormant=*/true);
}

uint32_t RuleGenerator::groupId(const std::string& group) {
  auto it = group_ids_.find(group);
  if (it != group_ids_.end()) return it->second;
  uint32_t id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = next_id_++;
  }
  group_ids_[group] = id;
  return id;
}

void RuleGenerator::releaseGroups(const ServiceRules& r, const ServiceRules* keep) {
  for (const auto& g : r.groups) {
    if (keep && std::find(keep->groups.begin(), keep->groups.end(), g) != keep->groups.end()) continue;
    auto it = group_ids_.find(g);
    if (it == group_ids_.end()) continue;
    free_ids_.push_back(it->second);
    group_ids_.erase(it);
  }
}

void RuleGenerator::spread(ServiceRules& r, const std::string& chain, const std::string& group,
                           const ServicePort& sp, const std::vector<Endpoint>& all, const std::string& id,
                           int affinity_timeout) {
  auto& rules = r.chains[chain];
  size_t n = std::min(all.size(), kMaxEndpointsPerGroup);
  if (affinity_timeout > 0) {
    // Per-endpoint chains: each remembers its clients in a timeout set, and
    // a remembered client goes straight back to its endpoint.
    std::vector<std::string> choices;
    for (size_t i = 0; i < n; ++i) {
      const Endpoint& ep = all[i];
      std::string suffix = fmt::format("{}__{}/{}", id, ep.ip, ep.port);
      std::string ep_chain = "ep-" + suffix;
      std::string set = fmt::format("aff-{}-{}", affinity_timeout, suffix);
      r.sets[set] =
          fmt::format("{{ type ipv4_addr; flags dynamic,timeout; timeout {}s; }}", affinity_timeout);
      r.chains[ep_chain] = {fmt::format("update @{} {{ ip saddr }}", set),
                            fmt::format("meta l4proto {} dnat to {}:{}", sp.protocol, ep.ip, ep.port)};
      rules.push_back(fmt::format("ip saddr @{} goto {}", set, ep_chain));
      choices.push_back(fmt::format("{} : goto {}", i, ep_chain));
    }
    rules.push_back(fmt::format("numgen random mod {} vmap {{ {} }}", n, fmt::join(choices, ", ")));
    return;
  }
  uint32_t gid = groupId(group);
  uint64_t base = uint64_t{gid} << 12;
  r.groups.push_back(group);
  std::string map = backendsMap(sp.protocol, gid, options_.shards);
  auto& backends = r.elements[map];
  for (size_t i = 0; i < n; ++i)
    backends[std::to_string(base + i)] = fmt::format("{} . {}", all[i].ip, all[i].port);
  rules.push_back(fmt::format("meta l4proto {} dnat ip to numgen random mod {} offset {} map @{}",
                              sp.protocol, n, base, map));
}

RuleGenerator::ServiceRules RuleGenerator::build(const ServiceInfo& info) {
  ServiceRules r;
  if (info.cluster_ip.empty()) return r;  // headless, ExternalName, not IPv4
  for (const auto& sp : info.ports) {
    std::string id = fmt::format("{}/{}/{}/{}", info.ns, info.name, sp.protocol,
                                 sp.name.empty() ? std::to_string(sp.port) : sp.name);
    std::string svc = "svc-" + id, ext = "ext-" + id, local = "local-" + id;
    std::string tail = fmt::format(" . {} . {}", sp.protocol, sp.port);
    std::string node_port = fmt::format("{} . {}", sp.protocol, sp.node_port);
    bool external = !info.external_ips.empty() || sp.node_port > 0;

    if (sp.endpoints.empty()) {
      r.elements[kNoEndpointServices][info.cluster_ip + tail] = kReject;
      for (const auto& ip : info.external_ips) r.elements[kNoEndpointServices][ip + tail] = kReject;
      if (sp.node_port > 0) r.elements[kNoEndpointNodePorts][node_port] = kReject;
      continue;
    }

    // Marked for masquerading, when from outside the cluster CIDR, by the
    // services chain's lookup in cluster-ips.
    if (!options_.cluster_cidr.empty()) r.elements[kClusterIps][info.cluster_ip + tail] = "";
    spread(r, svc, svc, sp, sp.endpoints, id, info.affinity_timeout);
    r.elements[kServiceIps][info.cluster_ip + tail] = "goto " + svc;
    for (const auto& ep : sp.endpoints)
      if (ep.node_name.empty() || ep.node_name == options_.node_name) r.hairpin_ips.insert(ep.ip);
    if (!external) continue;

    if (!info.external_local) {
      // The external path is the cluster IP's, always masqueraded: the
      // services chain marks what is in the masquerade sets, so no chain
      // per service is needed for it (each costs the full sync's parse).
      for (const auto& ip : info.external_ips) {
        r.elements[kServiceIps][ip + tail] = "goto " + svc;
        r.elements[kMasqueradeIps][ip + tail] = "";
      }
      if (sp.node_port > 0) {
        r.elements[kServiceNodePorts][node_port] = "goto " + svc;
        r.elements[kMasqueradeNodePorts][node_port] = "";
      }
      continue;
    }
    // externalTrafficPolicy Local: pods and the host itself use every
    // endpoint; traffic from outside keeps its source and goes to this
    // node's endpoints only.
    std::vector<std::string> ext_rules;
    if (!options_.cluster_cidr.empty())
      ext_rules.push_back(fmt::format("ip saddr {} goto {}", options_.cluster_cidr, svc));
    ext_rules.push_back("fib saddr type local jump mark-for-masquerade");
    ext_rules.push_back("fib saddr type local goto " + svc);
    if (sp.local_endpoints.empty()) {
      ext_rules.push_back("drop");
    } else {
      spread(r, local, local, sp, sp.local_endpoints, id, info.affinity_timeout);
      ext_rules.push_back("goto " + local);
    }
    r.chains[ext] = std::move(ext_rules);
    for (const auto& ip : info.external_ips) r.elements[kServiceIps][ip + tail] = "goto " + ext;
    if (sp.node_port > 0) r.elements[kServiceNodePorts][node_port] = "goto " + ext;
  }
  return r;
}

void RuleGenerator::claim(const std::string& key, ServiceRules& r) {
  for (auto& [map, items] : r.elements) {
    if (!owned(map)) continue;
    for (auto it = items.begin(); it != items.end();) {
      auto [owner, added] = owners_.try_emplace(ownerKey(map, it->first), key);
      if (!added && owner->second != key) {
        it = items.erase(it);  // another service has it; it keeps it
        continue;
      }
      ++it;
    }
  }
}

void RuleGenerator::hairpinDiff(const std::map<std::string, bool>& was_present, ElementChanges& out) const {
  for (const auto& [ip, was] : was_present) {
    bool now = hairpin_refs_.count(ip) > 0;
    if (was && !now) out.remove[kHairpin].push_back(fmt::format("{0} . {0}", ip));
    if (!was && now) out.add[kHairpin].emplace_back(fmt::format("{0} . {0}", ip), "");
  }
}

std::vector<std::map<std::string, const ServiceInfo*>> RuleGenerator::resetTo(
    const std::map<std::string, ServiceInfo>& services) {
  services_.clear();
  group_ids_.clear();
  free_ids_.clear();
  next_id_ = 1;
  hairpin_refs_.clear();
  owners_.clear();
  backend_maps_.clear();
  for (uint32_t shard = 0; shard < options_.shards; ++shard)
    for (const char* protocol : kDeclaredProtocols)
      for (uint32_t i = 0; i < backendShards(options_.shards); ++i)
        backend_maps_.insert(fmt::format("{}|backends-{}-{}", shardTable(table_, shard), protocol, i));
  valid_ = true;
  std::vector<std::map<std::string, const ServiceInfo*>> by_shard(options_.shards);
  for (const auto& [key, info] : services) by_shard[serviceShard(key, options_.shards)][key] = &info;
  return by_shard;
}

std::string RuleGenerator::fullSync(const std::map<std::string, ServiceInfo>& services) {
  std::string out = skeleton(table_, /*dormant=*/false);
  for (const auto& changes : resetTo(services)) {
    Transaction tx;
    diff(changes, tx);
    tx.write(out);
  }
  return out;
}

FullSyncPlan RuleGenerator::planFullSync(const std::map<std::string, ServiceInfo>& services,
                                         const std::string& into, const std::string& replacing,
                                         const std::function<void(const PlannedPart&)>& on_part) {
  FullSyncPlan out;
  out.table = into;
  out.replacing = replacing;
  out.tables = tableSet(into, options_.shards);
  out.replaced = tableSet(replacing, options_.shards);
  out.skeleton = fullSyncSkeleton(into, replacing);
  table_ = into;
  // The main table's elements from every service table's turn, sent last.
  PlannedPart main;
  main.changes.table = table_;
  // The chains apart, for the caller to send as text or as nfnetlink
  // messages (applyFullSync). Every table block of the text says dormant: a
  // block without flags would wake the table before its maps are filled.
  auto take = [&](Transaction::Part& part, const std::string& table) {
    PlannedPart planned;
    planned.changes.table = table;
    planned.changes.fill.reserve(part.fill_chains.size());
    for (const auto& [name, rules] : part.fill_chains) planned.changes.fill.emplace_back(name, *rules);
    part.fill_chains.clear();
    part.write(table, planned.text, /*with_added_elements=*/false, /*dormant=*/true);
    planned.changes.elements = std::move(part.elements);
    return planned;
  };
  for (const auto& changes : resetTo(services)) {
    Transaction tx;
    diff(changes, tx);
    for (auto& [table, part] : tx.parts) {
      if (table == table_) {
        for (auto& [map, items] : part.elements.add) {
          auto& to = main.changes.elements.add[map];
          to.insert(to.end(), std::make_move_iterator(items.begin()), std::make_move_iterator(items.end()));
        }
        continue;
      }
      PlannedPart planned = take(part, table);
      if (on_part) on_part(planned);
      out.text += planned.text;
      out.parts.push_back(std::move(planned.changes));
    }
  }
  if (!main.changes.elements.empty()) {
    if (on_part) on_part(main);
    out.parts.push_back(std::move(main.changes));
  }
  return out;
}

SyncPlan RuleGenerator::plan(const std::map<std::string, const ServiceInfo*>& changes) {
  Transaction tx;
  diff(changes, tx);
  SyncPlan plan;
  tx.write(plan.text);
  if (plan.text.empty()) return plan;
  plan.elements_only = tx.elementsOnly();
  plan.chains_and_elements = tx.declaresNothing();
  if (!plan.elements_only && !plan.chains_and_elements) return plan;
  for (auto& [table, part] : tx.parts) {
    TableChanges& tc = plan.tables.emplace_back();
    tc.table = table;
    tc.elements = std::move(part.elements);
    tc.flush = std::move(part.flush_chains);
    for (const auto& [name, rules] : part.fill_chains) tc.fill.emplace_back(name, *rules);
    tc.remove = std::move(part.delete_chains);
  }
  return plan;
}

void RuleGenerator::diff(const std::map<std::string, const ServiceInfo*>& changes, Transaction& tx) {
  // Hairpin addresses touched by this update and whether each was in the
  // set before: only those can change (copying all of hairpin_refs_ cost
  // ~40 ms of a one-service change among 10,000 services).
  std::map<std::string, bool> hairpin_before;
  auto touch = [&](const std::string& ip) { hairpin_before.try_emplace(ip, hairpin_refs_.count(ip) > 0); };
  // Old state of every changed service, moved out; its element keys are
  // released first so that a key passing between two changed services is
  // claimed by the new holder whatever the visiting order.
  std::map<std::string, ServiceRules> old;
  for (const auto& [key, info] : changes) {
    auto it = services_.find(key);
    if (it == services_.end()) continue;
    for (const auto& [map, items] : it->second.elements)
      if (owned(map))
        for (const auto& [k, v] : items) {
          auto o = owners_.find(ownerKey(map, k));
          if (o != owners_.end() && o->second == key) owners_.erase(o);
        }
    for (const auto& ip : it->second.hairpin_ips) {
      touch(ip);
      if (--hairpin_refs_[ip] <= 0) hairpin_refs_.erase(ip);
    }
    old[key] = std::move(it->second);
    services_.erase(it);
  }

  static const ServiceRules kEmpty;
  for (const auto& [key, info] : changes) {
    ServiceRules next;
    if (info) {
      next = build(*info);
      claim(key, next);
    }
    auto o = old.find(key);
    const ServiceRules& from = o == old.end() ? kEmpty : o->second;
    releaseGroups(from, &next);
    for (const auto& ip : next.hairpin_ips) {
      touch(ip);
      ++hairpin_refs_[ip];
    }
    if (info && !(next.chains.empty() && next.elements.empty())) services_[key] = std::move(next);
    const ServiceRules& to = services_.count(key) ? services_[key] : kEmpty;

    // Elements: deleted when gone or changed, added when new or changed.
    const uint32_t shard = serviceShard(key, options_.shards);
    for (const auto& [map, items] : from.elements) {
      auto t = to.elements.find(map);
      std::vector<std::string>* removed = nullptr;
      for (const auto& [k, v] : items) {
        if (t != to.elements.end()) {
          auto e = t->second.find(k);
          if (e != t->second.end() && e->second == v) continue;
        }
        if (!removed) removed = &tx.parts[tableOf(map, shard)].elements.remove[map];
        removed->push_back(k);
      }
    }
    for (const auto& [map, items] : to.elements) {
      auto f = from.elements.find(map);
      std::vector<std::pair<std::string, std::string>>* added = nullptr;
      for (const auto& [k, v] : items) {
        if (f != from.elements.end()) {
          auto e = f->second.find(k);
          if (e != f->second.end() && e->second == v) continue;
        }
        if (!added) added = &tx.parts[tableOf(map, shard)].elements.add[map];
        added->emplace_back(k, v);
      }
    }
    // The service's own table: its chains, sets and backends maps.
    const std::string own = shardTable(table_, shard);
    auto part = [&]() -> Transaction::Part& { return tx.parts[own]; };
    // Sets are named by their whole declaration (timeout included), so a
    // set is only ever added or deleted.
    for (const auto& [name, decl] : to.sets)
      if (!from.sets.count(name)) part().add_sets.push_back(name + " " + decl);
    for (const auto& [name, decl] : from.sets)
      if (!to.sets.count(name)) part().delete_sets.push_back(name);
    for (const auto& [map, items] : to.elements)
      if (!owned(map) && backend_maps_.insert(own + "|" + map).second)
        part().add_maps.push_back(backendsMapDeclaration(map));
    for (const auto& [name, rules] : to.chains) {
      auto f = from.chains.find(name);
      if (f == from.chains.end()) {
        // created by the table block
      } else if (f->second != rules) {
        part().flush_chains.push_back(name);
      } else {
        continue;
      }
      part().fill_chains.emplace_back(name, &rules);
    }
    for (const auto& [name, rules] : from.chains)
      if (!to.chains.count(name)) part().delete_chains.push_back(name);
  }

  ElementChanges hairpin;
  hairpinDiff(hairpin_before, hairpin);
  if (!hairpin.empty()) {
    ElementChanges& main = tx.parts[table_].elements;
    for (auto& [set, keys] : hairpin.remove) main.remove[set] = std::move(keys);
    for (auto& [set, items] : hairpin.add) main.add[set] = std::move(items);
  }
}

}  // namespace capstan::proxy
