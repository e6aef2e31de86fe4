#include "proxy/nft_elements.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <cstring>
#include <set>
#include <sstream>

#include "proxy/nftables.h"

namespace capstan::proxy {
namespace {

// What the maps and sets of the generator's table hold (its skeleton and
// backendsMapDeclaration in rule_generator.cc).
enum class Field { kAddr, kProto, kPort, kNumgen };
struct Layout {
  std::vector<Field> key;
  std::vector<Field> data;  // empty: a set (no data) or a verdict map
  bool verdict = false;
};

bool layoutOf(const std::string& map, Layout& out) {
  if (map == "service-ips" || map == "no-endpoint-services") {
    out = {{Field::kAddr, Field::kProto, Field::kPort}, {}, true};
  } else if (map == "service-nodeports" || map == "no-endpoint-nodeports") {
    out = {{Field::kProto, Field::kPort}, {}, true};
  } else if (map == "masquerade-ips" || map == "cluster-ips") {
    out = {{Field::kAddr, Field::kProto, Field::kPort}, {}, false};
  } else if (map == "masquerade-nodeports") {
    out = {{Field::kProto, Field::kPort}, {}, false};
  } else if (map == "hairpin") {
    out = {{Field::kAddr, Field::kAddr}, {}, false};
  } else if (map.rfind("backends-", 0) == 0) {
    out = {{Field::kNumgen}, {Field::kAddr, Field::kPort}, false};
  } else {
    return false;
  }
  return true;
}

// Appends one field, padded to 4 bytes as the kernel's registers are.
bool putField(Field f, const std::string& text, std::vector<uint8_t>& out) {
  uint8_t word[4] = {0, 0, 0, 0};
  switch (f) {
    case Field::kAddr:
      if (inet_pton(AF_INET, text.c_str(), word) != 1) return false;
      break;
    case Field::kProto:
      if (text == "tcp")
        word[0] = IPPROTO_TCP;
      else if (text == "udp")
        word[0] = IPPROTO_UDP;
      else if (text == "sctp")
        word[0] = IPPROTO_SCTP;
      else
        return false;
      break;
    case Field::kPort:
    case Field::kNumgen: {
      if (text.empty() || text.size() > 10 || text.find_first_not_of("0123456789") != std::string::npos)
        return false;
      uint64_t v = std::stoull(text);
      if (f == Field::kPort) {
        if (v > 65535) return false;
        uint16_t be = htons(static_cast<uint16_t>(v));
        std::memcpy(word, &be, 2);
      } else {
        if (v > UINT32_MAX) return false;
        uint32_t host = static_cast<uint32_t>(v);  // numgen's register: host byte order
        std::memcpy(word, &host, 4);
      }
      break;
    }
  }
  out.insert(out.end(), word, word + 4);
  return true;
}

bool putFields(const std::vector<Field>& fields, const std::string& text, std::vector<uint8_t>& out) {
  size_t start = 0;
  for (size_t i = 0; i < fields.size(); ++i) {
    size_t end = text.find(" . ", start);
    bool last = i + 1 == fields.size();
    if (last != (end == std::string::npos)) return false;
    if (!putField(fields[i], text.substr(start, last ? std::string::npos : end - start), out)) return false;
    start = end + 3;
  }
  return true;
}

// Messages are flushed at this estimated size: an element list is one
// netlink attribute, whose length is 16 bits.
constexpr size_t kMessageBudget = 32 * 1024;
constexpr size_t kScratch = kMessageBudget + 8 * 1024;

struct SetFree {
  void operator()(nftnl_set* s) const { nftnl_set_free(s); }
};
struct TableFree {
  void operator()(nftnl_table* t) const { nftnl_table_free(t); }
};
struct ChainFree {
  void operator()(nftnl_chain* c) const { nftnl_chain_free(c); }
};
struct RuleFree {
  void operator()(nftnl_rule* r) const { nftnl_rule_free(r); }
};

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool parseU32(const std::string& s, uint32_t& out) {
  if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  uint64_t v = std::stoull(s);
  if (v > UINT32_MAX) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

uint8_t protoNumber(const std::string& p) {
  if (p == "tcp") return IPPROTO_TCP;
  if (p == "udp") return IPPROTO_UDP;
  if (p == "sctp") return IPPROTO_SCTP;
  return 0;
}

// The chains a rule's text names as a jump or goto (also inside an
// anonymous verdict map: "vmap { 0 : goto x, 1 : goto y }").
void chainsNamedBy(const std::string& rule, std::set<std::string>& out) {
  auto w = words(rule);
  for (size_t i = 0; i + 1 < w.size(); ++i) {
    if (w[i] != "goto" && w[i] != "jump") continue;
    std::string name = w[i + 1];
    while (!name.empty() && (name.back() == ',' || name.back() == '}')) name.pop_back();
    out.insert(name);
  }
}

// Appends expressions to a rule (which owns them), register 1 throughout
// as nft uses it; false when libnftnl cannot allocate.
struct ExprAdder {
  nftnl_rule* rule;
  nftnl_expr* add(const char* kind) {
    nftnl_expr* e = nftnl_expr_alloc(kind);
    if (e) nftnl_rule_add_expr(rule, e);
    return e;
  }
  bool metaLoad(uint32_t key) {
    nftnl_expr* e = add("meta");
    if (!e) return false;
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
    return true;
  }
  bool cmp(uint32_t op, const void* data, uint32_t len) {
    nftnl_expr* e = add("cmp");
    if (!e) return false;
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
    nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
    return true;
  }
};

bool buildRule(nftnl_rule* rule, const RuleShape& r) {
  ExprAdder x{rule};
  if (!x.metaLoad(NFT_META_L4PROTO) || !x.cmp(NFT_CMP_EQ, &r.proto, 1)) return false;
  nftnl_expr* e = x.add("numgen");
  if (!e) return false;
  nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, r.modulus);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, r.offset);
  if (!(e = x.add("lookup"))) return false;
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_1);
  nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, r.target.c_str());
  // The map's data is ip daddr . port: the address in the first 32-bit
  // register of register 1, the port in the second.
  if (!(e = x.add("nat"))) return false;
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG32_01);
  return true;
}

}  // namespace

std::optional<RuleShape> parseRule(const std::string& rule) {
  auto w = words(rule);
  RuleShape r;
  // meta l4proto P dnat ip to numgen random mod N offset B map @MAP
  if (w.size() == 14 && w[0] == "meta" && w[1] == "l4proto" && w[3] == "dnat" && w[4] == "ip" && w[5] == "to" &&
      w[6] == "numgen" && w[7] == "random" && w[8] == "mod" && w[10] == "offset" && w[12] == "map" &&
      w[13].size() > 1 && w[13][0] == '@') {
    r.kind = RuleShape::kDnatSpread;
    r.proto = protoNumber(w[2]);
    r.target = w[13].substr(1);
    if (!r.proto || !parseU32(w[9], r.modulus) || r.modulus == 0 || !parseU32(w[11], r.offset) ||
        r.target.size() >= NFT_SET_MAXNAMELEN)
      return std::nullopt;
    return r;
  }
  return std::nullopt;
}

Result<EncodedElement> encodeElement(const std::string& map, const std::string& key,
                                     const std::string& value) {
  Layout layout;
  if (!layoutOf(map, layout)) return Status(Code::kInvalid, "nft elements: unknown map " + map);
  EncodedElement e;
  if (!putFields(layout.key, key, e.key))
    return Status(Code::kInvalid, "nft elements: bad key '" + key + "' for " + map);
  if (value.empty() && (layout.verdict || !layout.data.empty())) {
    // the key alone: a deletion
  } else if (layout.verdict) {
    if (value.rfind("goto ", 0) == 0)
      e.verdict = NFT_GOTO;
    else if (value.rfind("jump ", 0) == 0)
      e.verdict = NFT_JUMP;
    else
      return Status(Code::kInvalid, "nft elements: bad verdict '" + value + "' for " + map);
    e.chain = value.substr(5);
    if (e.chain.empty() || e.chain.size() >= NFT_CHAIN_MAXNAMELEN)
      return Status(Code::kInvalid, "nft elements: bad chain in '" + value + "'");
  } else if (layout.data.empty()) {
    if (!value.empty()) return Status(Code::kInvalid, "nft elements: " + map + " is a set");
  } else if (!putFields(layout.data, value, e.data)) {
    return Status(Code::kInvalid, "nft elements: bad value '" + value + "' for " + map);
  }
  return e;
}

Result<std::unique_ptr<NftElements>> NftElements::open() {
  std::unique_ptr<NftElements> n(new NftElements());
  Status st = n->connect();
  if (!st) return st;
  return n;
}

NftElements::~NftElements() { disconnect(); }

Status NftElements::connect() {
  nl_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (!nl_) return Status(Code::kInternal, std::string("netlink socket: ") + std::strerror(errno));
  if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
    int err = errno;
    disconnect();
    return Status(Code::kInternal, std::string("netlink bind: ") + std::strerror(err));
  }
  portid_ = mnl_socket_get_portid(nl_);
  // Acks without a copy of each request; and a bound on waiting for them.
  int one = 1;
  mnl_socket_setsockopt(nl_, NETLINK_CAP_ACK, &one, sizeof one);
  timeval tv{5, 0};
  setsockopt(mnl_socket_get_fd(nl_), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return Status::ok();
}

void NftElements::disconnect() {
  if (nl_) mnl_socket_close(nl_);
  nl_ = nullptr;
}

Status NftElements::apply(const std::vector<TableChanges>& parts) {
  auto batch = encode(parts);
  if (!batch) return batch.status();
  return send(*batch);
}

Status NftElements::send(const Batch& batch) {
  if (batch.bytes.empty()) return Status::ok();
  if (!nl_) {
    Status st = connect();
    if (!st) return st;
  }
  return send(batch.bytes, 1);
}

Result<NftElements::Batch> NftElements::encode(const std::vector<TableChanges>& parts) {
  Batch out;
  if (std::all_of(parts.begin(), parts.end(), [](const TableChanges& p) {
        return p.elements.empty() && p.fill.empty() && p.flush.empty() && p.remove.empty();
      }))
    return out;
  // Build the whole batch first: an element or a rule that cannot be
  // encoded sends nothing.
  std::vector<char>& batch = out.bytes;
  std::vector<char> scratch(kScratch);
  size_t last = 0;  // where the last message of the batch starts
  auto append = [&](const nlmsghdr* nlh) {
    const char* p = reinterpret_cast<const char*>(nlh);
    last = batch.size();
    batch.insert(batch.end(), p, p + NLMSG_ALIGN(nlh->nlmsg_len));
  };
  append(nftnl_batch_begin(scratch.data(), seq_++));
  const size_t begin = last;

  // No message asks for an ack but the last one (thousands of acks would
  // overrun the socket's receive buffer: one per element message of each
  // map of 17 tables, one per chain and rule); the kernel answers one that
  // fails all the same, and an error aborts the whole batch.
  auto chain_message = [&](const std::string& table, uint16_t type, const std::string& name) {
    std::unique_ptr<nftnl_chain, ChainFree> c(nftnl_chain_alloc());
    if (!c) return false;
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, table.c_str());
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, name.c_str());
    uint16_t create = type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0;
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(scratch.data(), type, NFPROTO_IPV4, create, seq_++);
    nftnl_chain_nlmsg_build_payload(nlh, c.get());
    append(nlh);
    return true;
  };
  auto flush_message = [&](const std::string& table, const std::string& chain) {  // DELRULE naming the chain alone empties it
    std::unique_ptr<nftnl_rule, RuleFree> r(nftnl_rule_alloc());
    if (!r) return false;
    nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, NFPROTO_IPV4);
    nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
    nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.c_str());
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(scratch.data(), NFT_MSG_DELRULE, NFPROTO_IPV4, 0, seq_++);
    nftnl_rule_nlmsg_build_payload(nlh, r.get());
    append(nlh);
    return true;
  };
  // The chains (new ones made; a rule may jump to one made here), then
  // their rules.
  auto fill = [&](const std::string& table, const std::vector<ChainRules>& chains) -> Status {
    for (const auto& [name, rules] : chains)
      if (!chain_message(table, NFT_MSG_NEWCHAIN, name))
        return Status(Code::kInternal, "nftnl_chain_alloc failed");
    for (const auto& [name, rules] : chains)
      for (const auto& text : rules) {
        auto shape = parseRule(text);
        if (!shape) return Status(Code::kInvalid, "nft rules: not a rule made here: " + text);
        std::unique_ptr<nftnl_rule, RuleFree> r(nftnl_rule_alloc());
        if (!r) return Status(Code::kInternal, "nftnl_rule_alloc failed");
        nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, NFPROTO_IPV4);
        nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
        nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, name.c_str());
        if (!buildRule(r.get(), *shape)) return Status(Code::kInternal, "nftnl_expr_alloc failed");
        nlmsghdr* nlh = nftnl_nlmsg_build_hdr(scratch.data(), NFT_MSG_NEWRULE, NFPROTO_IPV4,
                                              NLM_F_CREATE | NLM_F_APPEND, seq_++);
        nftnl_rule_nlmsg_build_payload(nlh, r.get());
        append(nlh);
      }
    return Status::ok();
  };

  auto flush = [&](std::unique_ptr<nftnl_set, SetFree>& set, uint16_t type) {
    uint16_t flags = type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0;
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(scratch.data(), type, NFPROTO_IPV4, flags, seq_++);
    nftnl_set_elems_nlmsg_build_payload(nlh, set.get());
    append(nlh);
    set.reset();
  };
  auto add_all = [&](const std::string& table, const std::string& map, uint16_t type, auto&& items, auto&& key_of,
                     auto&& value_of) -> Status {
    std::unique_ptr<nftnl_set, SetFree> set;
    size_t size = 0;
    for (const auto& item : items) {
      auto enc = encodeElement(map, key_of(item), value_of(item));
      if (!enc) return enc.status();
      if (!set) {
        set.reset(nftnl_set_alloc());
        if (!set) return Status(Code::kInternal, "nftnl_set_alloc failed");
        nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, table.c_str());
        nftnl_set_set_str(set.get(), NFTNL_SET_NAME, map.c_str());
        size = 256;
      }
      nftnl_set_elem* e = nftnl_set_elem_alloc();
      if (!e) return Status(Code::kInternal, "nftnl_set_elem_alloc failed");
      nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, enc->key.data(), static_cast<uint32_t>(enc->key.size()));
      if (type == NFT_MSG_NEWSETELEM) {
        if (enc->verdict) {
          nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, static_cast<uint32_t>(enc->verdict));
          nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, enc->chain.c_str());
        } else if (!enc->data.empty()) {
          nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, enc->data.data(),
                             static_cast<uint32_t>(enc->data.size()));
        }
      }
      nftnl_set_elem_add(set.get(), e);  // the set owns it now
      size += 64 + enc->key.size() + enc->data.size() + enc->chain.size();
      if (size >= kMessageBudget) flush(set, type);
    }
    if (set) flush(set, type);
    return Status::ok();
  };
  // As the text's transaction (RuleGenerator::Transaction::write): removed
  // elements, emptied chains, filled chains, added elements (a verdict may
  // name a chain made here), then chains deleted.
  static const std::string kNone;
  for (const auto& p : parts)
    for (const auto& [map, keys] : p.elements.remove) {
      Status st = add_all(
          p.table, map, NFT_MSG_DELSETELEM, keys, [](const std::string& k) -> const std::string& { return k; },
          [](const std::string&) -> const std::string& { return kNone; });
      if (!st) return st;
    }
  for (const auto& p : parts)
    for (const auto& chain : p.flush)
      if (!flush_message(p.table, chain)) return Status(Code::kInternal, "nftnl_rule_alloc failed");
  for (const auto& p : parts)
    if (Status st = fill(p.table, p.fill); !st) return st;
  for (const auto& p : parts)
    for (const auto& [map, items] : p.elements.add) {
      Status st = add_all(
          p.table, map, NFT_MSG_NEWSETELEM, items, [](const auto& kv) -> const std::string& { return kv.first; },
          [](const auto& kv) -> const std::string& { return kv.second; });
      if (!st) return st;
    }
  for (const auto& p : parts)
    for (const auto& chain : p.remove)
      if (!flush_message(p.table, chain) || !chain_message(p.table, NFT_MSG_DELCHAIN, chain))
        return Status(Code::kInternal, "nftnl_chain_alloc failed");
  if (last == begin) {  // nothing but the batch's start
    batch.clear();
    return out;
  }
  reinterpret_cast<nlmsghdr*>(batch.data() + last)->nlmsg_flags |= NLM_F_ACK;
  append(nftnl_batch_end(scratch.data(), seq_++));
  return out;
}

Status NftElements::switchTables(const std::vector<std::string>& wake, const std::vector<std::string>& remove) {
  if (!nl_) {
    Status st = connect();
    if (!st) return st;
  }
  std::vector<char> batch;
  std::vector<char> scratch(MNL_SOCKET_BUFFER_SIZE);
  auto append = [&](const nlmsghdr* nlh) {
    const char* p = reinterpret_cast<const char*>(nlh);
    batch.insert(batch.end(), p, p + NLMSG_ALIGN(nlh->nlmsg_len));
  };
  auto table_message = [&](uint16_t type, const std::string& name, bool with_flags) {
    std::unique_ptr<nftnl_table, TableFree> t(nftnl_table_alloc());
    if (!t) return false;
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, name.c_str());
    if (with_flags) nftnl_table_set_u32(t.get(), NFTNL_TABLE_FLAGS, 0);  // not dormant
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(scratch.data(), type, NFPROTO_IPV4, NLM_F_ACK, seq_++);
    nftnl_table_nlmsg_build_payload(nlh, t.get());
    append(nlh);
    return true;
  };
  append(nftnl_batch_begin(scratch.data(), seq_++));
  for (const auto& t : wake)
    if (!table_message(NFT_MSG_NEWTABLE, t, true)) return Status(Code::kInternal, "nftnl_table_alloc failed");
  for (const auto& t : remove)
    if (!table_message(NFT_MSG_DELTABLE, t, false)) return Status(Code::kInternal, "nftnl_table_alloc failed");
  append(nftnl_batch_end(scratch.data(), seq_++));
  return send(batch, static_cast<uint32_t>(wake.size() + remove.size()));
}

Status NftElements::send(const std::vector<char>& batch, uint32_t acks) {
  int fd = mnl_socket_get_fd(nl_);
  if (batch.size() > 200 * 1024) {
    int size = static_cast<int>(batch.size() + 4096);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
  }
  if (mnl_socket_sendto(nl_, batch.data(), batch.size()) < 0) {
    int err = errno;
    disconnect();  // the next apply starts on a clean socket
    return Status(Code::kInternal, std::string("nft elements: send: ") + std::strerror(err));
  }
  // One answer per message, an ack or its error; after an error the batch
  // is aborted whatever follows.
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  uint32_t answered = 0;
  int error = 0;
  while (answered < acks && error == 0) {
    ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
    if (n < 0) {
      error = errno;
      break;
    }
    int len = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_pid != portid_ || nlh->nlmsg_type != NLMSG_ERROR) continue;
      const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      ++answered;
      if (e->error != 0 && error == 0) error = -e->error;
    }
  }
  if (error == 0) return Status::ok();
  // Answers may still be queued: do not let them meet the next batch.
  disconnect();
  return Status(Code::kInternal, std::string("nft elements: ") + std::strerror(error));
}

namespace {

// The parts of a planned full sync split by how they go: the chains whose
// rules all have the shape encoded here (none of which names a chain) and
// that no chain staying text names, with the elements, as messages; the
// rest as text (applied first). Chains name only chains of their own table.
struct SplitParts {
  std::string text;
  std::vector<TableChanges> messages;
};

SplitParts splitParts(const std::vector<TableChanges>& parts) {
  SplitParts out;
  out.messages.reserve(parts.size());
  for (const auto& part : parts) {
    std::set<std::string> named_by_text;
    std::vector<bool> encodable(part.fill.size(), true);
    for (size_t i = 0; i < part.fill.size(); ++i) {
      for (const auto& rule : part.fill[i].second) {
        if (!parseRule(rule)) {
          encodable[i] = false;
          break;
        }
      }
      if (!encodable[i])
        for (const auto& rule : part.fill[i].second) chainsNamedBy(rule, named_by_text);
    }
    std::vector<ChainRules> as_text;
    TableChanges& m = out.messages.emplace_back();
    m.table = part.table;
    m.elements = part.elements;
    for (size_t i = 0; i < part.fill.size(); ++i)
      (encodable[i] && !named_by_text.count(part.fill[i].first) ? m.fill : as_text).push_back(part.fill[i]);
    out.text += chainsBlockText(part.table, as_text, /*dormant=*/true);
  }
  return out;
}

// `text` through nft, then a batch per part. The new tables are dormant
// until the switch, so each may be filled by its own batch: a helper
// thread encodes them (user space, ~2 ms a table) while libnftables runs
// the text and the kernel takes the batches already encoded. An element
// that cannot be encoded stops the sending there: the dormant tables are
// left part filled (the next full sync replaces them), the live ones
// untouched.
Status fillDormant(Nftables& nft, NftElements& elements, std::string text, const std::vector<TableChanges>& parts) {
  SplitParts split = splitParts(parts);
  text += split.text;
  std::vector<std::promise<Result<NftElements::Batch>>> encoded(split.messages.size());
  std::thread encoder([&] {
    for (size_t i = 0; i < split.messages.size(); ++i) encoded[i].set_value(elements.encode({split.messages[i]}));
  });
  Status st = text.empty() ? Status::ok() : nft.run(text);
  for (auto& promise : encoded) {
    auto batch = promise.get_future().get();
    if (!st) continue;
    st = batch ? elements.send(*batch) : batch.status();
  }
  encoder.join();
  return st;
}

}  // namespace

Status applyFullSync(Nftables& nft, NftElements& elements, const FullSyncPlan& plan) {
  Status st = fillDormant(nft, elements, plan.skeleton + plan.text, plan.parts);
  if (st) st = elements.switchTables(plan.tables, plan.replaced);
  return st;
}

Status planAndApplyFullSync(Nftables& nft, NftElements& elements, RuleGenerator& generator,
                            const std::map<std::string, ServiceInfo>& services, const std::string& into,
                            const std::string& replacing, FullSyncPlan& plan) {
  // The planner thread plans a service table at a time and encodes each
  // one that needs no text as soon as it is planned; this thread sends the
  // skeleton, then each batch as it comes. Parts that need text first (an
  // sctp map, affinity sets, rules not encoded here) wait until the end:
  // their text, then their batches, as applyFullSync.
  std::mutex mu;
  std::condition_variable ready;
  std::deque<Result<NftElements::Batch>> batches;
  bool planned = false;
  std::vector<TableChanges> deferred;
  std::string deferred_text;
  std::string skeleton = generator.fullSyncSkeleton(into, replacing);
  std::thread planner([&] {
    FullSyncPlan p = generator.planFullSync(services, into, replacing, [&](const PlannedPart& part) {
      SplitParts split = splitParts({part.changes});
      if (!part.text.empty() || !split.text.empty()) {
        std::lock_guard lock(mu);
        deferred.push_back(part.changes);
        deferred_text += part.text;
        return;
      }
      auto batch = elements.encode(split.messages);
      std::lock_guard lock(mu);
      batches.push_back(std::move(batch));
      ready.notify_one();
    });
    std::lock_guard lock(mu);
    plan = std::move(p);
    planned = true;
    ready.notify_one();
  });
  Status st = nft.run(skeleton);
  while (true) {
    std::unique_lock lock(mu);
    ready.wait(lock, [&] { return planned || !batches.empty(); });
    if (batches.empty()) break;  // and planned
    auto batch = std::move(batches.front());
    batches.pop_front();
    lock.unlock();
    if (!st) continue;
    st = batch ? elements.send(*batch) : batch.status();
  }
  planner.join();
  if (st) st = fillDormant(nft, elements, std::move(deferred_text), deferred);
  if (st) st = elements.switchTables(plan.tables, plan.replaced);
  return st;
}

}  // namespace capstan::proxy
