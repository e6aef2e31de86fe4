#pragma once
// The pure half of the service proxy: services in, nft transaction text
// out. No kernel, no root: unit tests read the text, and libnftables'
// dry run proves the nft parser accepts it.
//
// The tables (family ip, one set per proxy instance): a main table and
// `shards` service tables, <table>-s0 ... Each service (by a hash of its
// key) lives in one service table: its chains, its map elements and its
// backends maps. The kernel validates a whole table (every chain reached
// from its base chains, through every verdict map) on each commit that adds
// a rule with a nat, lookup or verdict expression, so a service's rule
// change costs validating its own shard only: 1/8 of 10,000 services, not
// all of them (docs/performance.md, Services). Each service table adds a
// nat base chain to prerouting and output, which every new connection
// that is not to a service passes through.
//
// Main table:
//   base chains      nat-postrouting (nat, 110) jump masquerading;
//                    filter-input / filter-forward / filter-output (filter,
//                    -10): new connections jump endpoints-check
//   endpoints-check  the cluster-IP and node-port lookups in
//                    @no-endpoint-services and @no-endpoint-nodeports, whose
//                    verdict is goto reject-chain (TCP reset, ICMP port
//                    unreachable otherwise): a service without endpoints
//                    refuses at once instead of black-holing
//   masquerading     hairpin (a pod reaching itself through a service:
//                    ct status dnat and saddr . daddr in @hairpin, this
//                    node's endpoint IPs) and the 0x4000 mark: masquerade
// Each service table:
//   base chains      nat-prerouting / nat-output (nat, -110) jump services
//                    (the kernel runs the nat chains of a hook in turn until
//                    one of them binds the connection, so the first shard
//                    whose map has the address translates it)
//   services         from outside the cluster CIDR to a cluster IP (set
//                    @cluster-ips): jump mark-for-masquerade (one rule, not
//                    one per service: each rule costs the kernel's parse of
//                    its expressions in a full sync); then
//                    ip daddr . meta l4proto . th dport vmap @service-ips
//                    a node port in @service-nodeports, if fib daddr type
//                    local (not 127/8): the same map as a vmap (the cheap
//                    lookup first: every new connection passes each service
//                    table); before each vmap, a match in
//                    @masquerade-ips / @masquerade-nodeports (external IPs and
//                    node ports of externalTrafficPolicy Cluster) jumps to
//                    mark-for-masquerade, and their map elements go straight
//                    to svc-...
//   svc-<ns>/<name>/<proto>/<port>   one per service port reached by its
//                    cluster IP, one rule: `dnat ip to numgen random mod
//                    N offset B map @backends-<proto>-<shard>`, which maps
//                    B+i to endpoint i's ip . port (B = the group's id << 12,
//                    shard = id % (64 / shards): see backendsMap in the .cc)
//   ext-...          only with externalTrafficPolicy Local, the external
//                    path (node ports, LoadBalancer / external IPs):
//                    cluster-CIDR and host sources go to svc-..., the rest to
//                    local-... (this node's endpoints, source kept) or are
//                    dropped when there is none
//   ep-...__<ip>/<port>, set aff-...   only for sessionAffinity ClientIP:
//                    per-endpoint chains that record the client in a
//                    timeout set, and `ip saddr @aff-... goto ep-...` before
//                    the random choice
//
// Updates: fullSync() replaces all the tables in one transaction (or
// planFullSync() builds replacements and switches to them); update()
// after it writes only what changed for the given services (their chains,
// sets and map elements), computed against the state kept here. Both texts
// are one nft transaction, so the kernel switches atomically. plan() is
// update() that also says when only elements change (an endpoint replaced:
// the common case), so that the caller can send them as one nfnetlink batch
// (proxy/nft_elements.h) instead of through nft's parser. When applying a
// change fails, call invalidate(): the next call must be a fullSync().
//
// Threading: one thread at a time; the proxy's sync thread owns it and
// lends it to a helper thread for a full sync's plan (planAndApplyFullSync,
// proxy/nft_elements.h), meanwhile calling only fullSyncSkeleton(), which
// reads nothing but the options.

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "proxy/service_model.h"

namespace capstan::proxy {

inline constexpr uint32_t kServiceShards = 8;

struct GeneratorOptions {
  std::string table = "capstan";  // the main table; the service tables are named after it
  std::string cluster_cidr;  // e.g. 10.42.0.0/16; empty: no masquerade of off-cluster sources
  std::string node_name;     // endpoints with this nodeName (or none) are hairpin candidates
  uint32_t masquerade_mark = 0x4000;
  uint32_t shards = kServiceShards;  // service tables, at least 1
};

// Service table `shard` of main table `table`: table + "-s" + shard.
std::string shardTable(const std::string& table, uint32_t shard);
// The service table (shard) of service `key` ("ns/name").
uint32_t serviceShard(const std::string& key, uint32_t shards = kServiceShards);
// The main table and its service tables, in that order.
std::vector<std::string> tableSet(const std::string& table, uint32_t shards = kServiceShards);

// The most endpoints one service port spreads over; the rest are left out.
inline constexpr size_t kMaxEndpointsPerGroup = 4096;

// Element changes of one transaction, keys and values in nft's syntax as
// the text has them ("10.43.0.1 . tcp . 80" : "goto svc-...", "4096" :
// "10.42.0.5 . 8080"; a set's elements have an empty value), by map or set
// name. Applied as: every removal, then every addition.
struct ElementChanges {
  std::map<std::string, std::vector<std::string>> remove;                       // map -> keys
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> add;  // map -> key, value
  bool empty() const { return remove.empty() && add.empty(); }
};

// A full sync in three steps, for a proxy that sends elements by nfnetlink
// (they are most of a full sync, and nft's parser takes ~10 µs each):
// `text` builds the tables of `table` anew with their base chains but
// dormant (their hooks not registered, so no packet sees them half-built)
// and their maps empty; `parts` (the services' chains, apart so that the
// caller may send them as nfnetlink messages too, and the elements) fill
// them; then one batch wakes `tables` and deletes `replaced`
// (proxy/nft_elements.h), which switches atomically. `text` also creates
// the replaced tables that are absent, so that the delete cannot fail.
// The name a proxy whose table is `table` builds its next full sync in
// while `table` is live (and back again): table + "__2".
std::string alternateTable(const std::string& table);

// A chain of the generator's table and its rules, as nft text.
using ChainRules = std::pair<std::string, std::vector<std::string>>;

// What one transaction does to one table, in this order: elements.remove,
// `flush` (chains emptied), `fill` (chains created if new, and their rules
// added), elements.add, `remove` (chains emptied and deleted).
struct TableChanges {
  std::string table;
  ElementChanges elements;
  std::vector<std::string> flush;
  std::vector<ChainRules> fill;
  std::vector<std::string> remove;
};

// One table's share of a planned full sync: its chains and elements, and
// `text`, the nft text that must go first (maps and sets beyond the
// skeleton's: sctp backends maps, session-affinity sets), usually empty.
struct PlannedPart {
  TableChanges changes;
  std::string text;
};

struct FullSyncPlan {
  std::string table;                 // the new main table
  std::string replacing;             // the main table it replaces
  std::vector<std::string> tables;   // tableSet(table): woken by the switch
  std::vector<std::string> replaced; // tableSet(replacing): deleted by it
  std::string skeleton;              // the dormant tables, empty: fullSyncSkeleton()
  std::string text;                  // their maps and sets that depend on the services (often empty)
  std::vector<TableChanges> parts;   // per table: its services' chains (fill) and elements (additions)
};

// The nft text that adds `chains` to `table` (one table block; dormant: the
// block keeps the table dormant, as every block of a planned full sync must).
std::string chainsBlockText(const std::string& table, const std::vector<ChainRules>& chains, bool dormant);

// One incremental sync. `text` is always the whole transaction (empty: no
// change); when elements_only, `tables` holds all of it too (elements
// only) and no chain, set or map is created, changed or deleted. When
// chains_and_elements, no map or set is declared or deleted, and `tables`
// holds all of it, one TableChanges per table touched; a caller may send
// that as nfnetlink messages instead of the text (proxy/nft_elements.h).
struct SyncPlan {
  std::string text;
  bool elements_only = false;
  bool chains_and_elements = false;
  std::vector<TableChanges> tables;
};

class RuleGenerator {
 public:
  explicit RuleGenerator(GeneratorOptions options);

  // Text that replaces table() with exactly these services (keyed
  // "ns/name") in one transaction. Resets the kept state to them.
  std::string fullSync(const std::map<std::string, ServiceInfo>& services);
  // The same services built into table `into` in three steps, as above,
  // replacing table `replacing` (the live one, or the name to keep free);
  // table() is `into` afterwards. Precondition: into != replacing.
  // A full sync visits the services by service table, then by key (so
  // that, of two services claiming one address and port, the first so
  // visited keeps it); `on_part` gets each service table's part as soon as
  // it is planned, and the main table's last, so that a caller may send
  // one while the next is planned. plan.parts and plan.text hold them all
  // the same.
  FullSyncPlan planFullSync(const std::map<std::string, ServiceInfo>& services, const std::string& into,
                            const std::string& replacing,
                            const std::function<void(const PlannedPart&)>& on_part = {});
  // The plan's skeleton, which depends on no service: the tables of
  // `replacing` created if absent, those of `into` anew and dormant. Reads
  // only the options, so it may run beside planFullSync.
  std::string fullSyncSkeleton(const std::string& into, const std::string& replacing) const;

  // Text that moves the table from the kept state to one where each given
  // key has its new info (nullptr: the service is gone). Keys not given are
  // left as they are. Empty when nothing changes. Precondition:
  // !needsFullSync().
  std::string update(const std::map<std::string, const ServiceInfo*>& changes) { return plan(changes).text; }
  // The same change, with its element-only form when it has one.
  SyncPlan plan(const std::map<std::string, const ServiceInfo*>& changes);

  // The kernel may not match the kept state (a failed transaction).
  void invalidate() { valid_ = false; }
  // The table the kept state describes, which every text names:
  // options.table until planFullSync moves to another. retarget() points it
  // at `table` again (the live one, after a switch that failed) and
  // invalidates.
  const std::string& table() const { return table_; }
  void retarget(const std::string& table) {
    table_ = table;
    valid_ = false;
  }
  bool needsFullSync() const { return !valid_; }
  size_t serviceCount() const { return services_.size(); }

  // `delete table` for cleanup (preceded by `add table` so that it succeeds
  // when the table is absent): the main table `table` and its service tables.
  static std::string deleteTableText(const std::string& table, uint32_t shards = kServiceShards);

 private:
  // What one service contributes to the table. Map elements are key ->
  // value text, keyed per map name.
  struct ServiceRules {
    std::map<std::string, std::vector<std::string>> chains;
    std::map<std::string, std::string> sets;  // name -> declaration body
    std::map<std::string, std::map<std::string, std::string>> elements;
    std::set<std::string> hairpin_ips;
    std::vector<std::string> groups;  // backend group names holding ids
  };
  // The table that holds `map` (or set) of a service in `shard`.
  std::string tableOf(const std::string& map, uint32_t shard) const;

  ServiceRules build(const ServiceInfo& info);
  void spread(ServiceRules& r, const std::string& chain, const std::string& group, const ServicePort& sp,
              const std::vector<Endpoint>& eps, const std::string& prefix, int affinity_timeout);
  uint32_t groupId(const std::string& group);
  void releaseGroups(const ServiceRules& r, const ServiceRules* keep);
  std::string skeleton(const std::string& table, bool dormant) const;
  std::string shardSkeleton(const std::string& table, uint32_t shard, bool dormant) const;
  void reset();
  // Resets the kept state; the services grouped by service table.
  std::vector<std::map<std::string, const ServiceInfo*>> resetTo(const std::map<std::string, ServiceInfo>& services);
  // The transaction of plan(), not yet written as text.
  struct Transaction;
  void diff(const std::map<std::string, const ServiceInfo*>& changes, Transaction& tx);
  void hairpinDiff(const std::map<std::string, bool>& was_present, ElementChanges& out) const;
  // Element keys claimed by another service are not taken (first one wins).
  void claim(const std::string& key, ServiceRules& r);

  GeneratorOptions options_;
  std::string table_;
  bool valid_ = false;
  std::map<std::string, ServiceRules> services_;
  std::map<std::string, uint32_t> group_ids_;
  std::vector<uint32_t> free_ids_;
  uint32_t next_id_ = 1;
  std::map<std::string, int> hairpin_refs_;    // endpoint ip -> services using it
  std::map<std::string, std::string> owners_;  // "map|element key" -> service key
  std::set<std::string> backend_maps_;         // "table|backends-<proto>-<shard>" maps declared so far
};

}  // namespace capstan::proxy
