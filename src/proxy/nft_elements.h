#pragma once
// Map and set element changes sent to the kernel as one nfnetlink batch
// (libnftnl builds the messages, libmnl sends them): no nft parser and no
// read of the kernel's ruleset first, which is what libnftables spends
// ~10 µs per element and 40-60 ms per command on with 10,000 services (see
// docs/performance.md, Services). A full sync also sends most of the
// services' chains and rules this way (the rule shape of RuleShape);
// the table skeleton, incremental rule changes and the rarer rule shapes
// (session affinity, externalTrafficPolicy Local) stay on the text path
// (proxy/nftables.h). A full sync's switch from one table to its
// replacement is sent from here too.
//
// Only the element kinds the rule generator writes are known here (the key
// and data types of its maps and sets, by name: proxy/rule_generator.h);
// anything else is Invalid before anything is sent, so the caller can use
// the text instead.
//
// Threading: as Nftables, one thread at a time, except that encode() may
// run beside the other calls. The socket belongs to the network namespace
// of the thread that calls open().

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "proxy/rule_generator.h"

struct mnl_socket;

namespace capstan::proxy {

// One element in the kernel's binary form: the key (concatenated fields,
// each padded to 4 bytes, network byte order except numgen keys, which are
// host order), and either data bytes or a verdict (goto/jump chain).
struct EncodedElement {
  std::vector<uint8_t> key;
  std::vector<uint8_t> data;
  int verdict = 0;  // NFT_GOTO or NFT_JUMP when the map's data is a verdict
  std::string chain;
};

// Parses one element of `map` as the generator writes it; an empty value
// of a map gives the key alone (for a deletion). Invalid for an unknown
// map or a malformed key/value.
Result<EncodedElement> encodeElement(const std::string& map, const std::string& key,
                                     const std::string& value);

// The rule shape sent as nfnetlink messages (chains with any other rule go
// as text): "meta l4proto PROTO dnat ip to numgen random mod N offset B map
// @MAP", as the rule generator writes it. nullopt for any other text.
struct RuleShape {
  enum Kind { kDnatSpread } kind = kDnatSpread;
  std::string target;  // the map
  uint8_t proto = 0;
  uint32_t modulus = 0, offset = 0;
};
std::optional<RuleShape> parseRule(const std::string& rule);

class NftElements {
 public:
  static Result<std::unique_ptr<NftElements>> open();
  ~NftElements();
  NftElements(const NftElements&) = delete;
  NftElements& operator=(const NftElements&) = delete;

  // Applies `parts` (each to its table, family ip) as one transaction
  // (NFNL_MSG_BATCH_BEGIN ... END): all of it or none of it. Invalid when
  // an element cannot be encoded or a rule does not parse as a RuleShape
  // (nothing was sent); Internal with the kernel's error otherwise.
  // Phase by phase over all the tables, as SyncPlan orders one table's:
  // removed elements, emptied chains, filled chains (created if new),
  // added elements, then chains emptied and deleted.
  Status apply(const std::vector<TableChanges>& parts);
  // apply() in two steps: a batch encoded (no socket is touched, so
  // another thread may encode while this one sends), then sent. An empty
  // batch sends nothing.
  struct Batch {
    std::vector<char> bytes;
  };
  Result<Batch> encode(const std::vector<TableChanges>& parts);
  Status send(const Batch& batch);
  // Element changes to one table.
  Status apply(const std::string& table, const ElementChanges& changes) {
    return apply(std::vector<TableChanges>{TableChanges{table, changes, {}, {}, {}}});
  }

  // One transaction: the tables `wake` (dormant) become active and the
  // tables `remove` are deleted, so that traffic moves from one set to the
  // other at once (RuleGenerator::planFullSync). All must exist.
  Status switchTables(const std::vector<std::string>& wake, const std::vector<std::string>& remove);

 private:
  NftElements() = default;
  Status connect();
  void disconnect();
  // Sends a whole batch and reads its `acks` answers.
  Status send(const std::vector<char>& batch, uint32_t acks);

  mnl_socket* nl_ = nullptr;
  uint32_t portid_ = 0;
  std::atomic<uint32_t> seq_{1};
};

class Nftables;

// Applies RuleGenerator::planFullSync's plan: its text through `nft`, with
// the chains that must stay text (a rule shape not encoded here, or named
// by such a chain); then a batch per table of the other chains, their rules
// and the elements (encoded on a helper thread meanwhile); then the switch
// of tables. Invalid (from an element that cannot be encoded) means the
// live tables were not touched.
Status applyFullSync(Nftables& nft, NftElements& elements, const FullSyncPlan& plan);

// generator.planFullSync(services, into, replacing) and applyFullSync of
// it, overlapped: the skeleton (which depends on no service) goes to the
// kernel through `nft` on this thread while a helper thread plans the
// services. `plan` gets the plan. As applyFullSync, except that a failure
// of the skeleton may leave the new tables absent or part built (never the
// live ones touched). The generator is used by the helper thread only
// until this returns.
Status planAndApplyFullSync(Nftables& nft, NftElements& elements, RuleGenerator& generator,
                            const std::map<std::string, ServiceInfo>& services, const std::string& into,
                            const std::string& replacing, FullSyncPlan& plan);

}  // namespace capstan::proxy
