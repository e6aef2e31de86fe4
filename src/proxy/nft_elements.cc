#include "proxy/nft_elements.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

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
  } else if (map == "masquerade-ips") {
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

}  // namespace

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

Status NftElements::apply(const std::string& table, const ElementChanges& changes) {
  if (changes.empty()) return Status::ok();
  if (!nl_) {
    Status st = connect();
    if (!st) return st;
  }
  // Build the whole batch first: an element that cannot be encoded sends
  // nothing.
  std::vector<char> batch;
  std::vector<char> scratch(kScratch);
  uint32_t acks = 0;
  auto append = [&](const nlmsghdr* nlh) {
    const char* p = reinterpret_cast<const char*>(nlh);
    batch.insert(batch.end(), p, p + NLMSG_ALIGN(nlh->nlmsg_len));
  };
  append(nftnl_batch_begin(scratch.data(), seq_++));

  auto flush = [&](std::unique_ptr<nftnl_set, SetFree>& set, uint16_t type) {
    uint16_t flags = NLM_F_ACK | (type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(scratch.data(), type, NFPROTO_IPV4, flags, seq_++);
    nftnl_set_elems_nlmsg_build_payload(nlh, set.get());
    append(nlh);
    ++acks;
    set.reset();
  };
  auto add_all = [&](const std::string& map, uint16_t type, auto&& items, auto&& key_of,
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
  static const std::string kNone;
  for (const auto& [map, keys] : changes.remove) {
    Status st = add_all(
        map, NFT_MSG_DELSETELEM, keys, [](const std::string& k) -> const std::string& { return k; },
        [](const std::string&) -> const std::string& { return kNone; });
    if (!st) return st;
  }
  for (const auto& [map, items] : changes.add) {
    Status st = add_all(
        map, NFT_MSG_NEWSETELEM, items, [](const auto& kv) -> const std::string& { return kv.first; },
        [](const auto& kv) -> const std::string& { return kv.second; });
    if (!st) return st;
  }
  append(nftnl_batch_end(scratch.data(), seq_++));
  if (acks == 0) return Status::ok();
  return send(batch, acks);
}

Status NftElements::switchTables(const std::string& wake, const std::string& remove) {
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
  if (!table_message(NFT_MSG_NEWTABLE, wake, true) || !table_message(NFT_MSG_DELTABLE, remove, false))
    return Status(Code::kInternal, "nftnl_table_alloc failed");
  append(nftnl_batch_end(scratch.data(), seq_++));
  return send(batch, 2);
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

Status applyFullSync(Nftables& nft, NftElements& elements, const FullSyncPlan& plan) {
  Status st = nft.run(plan.text);
  if (st) st = elements.apply(plan.table, plan.elements);
  if (st) st = elements.switchTables(plan.table, plan.replacing);
  return st;
}

}  // namespace capstan::proxy
