#include "dns/resolver.h"

#include <algorithm>
#include <memory>
#include <string_view>

#include "dns/ldns.h"
#include "dns/message_writer.h"

namespace capstan::dns {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMinUdpSize = 512;
constexpr size_t kMaxMessage = 65535;
constexpr uint8_t kExtRcodeBadVers = 1;  // BADVERS (16) >> 4

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};

uint16_t replyFlags(std::span<const uint8_t> query, uint8_t rcode) {
  // Opcode and RD come back as asked; RA because names outside the zone are forwarded.
  uint16_t flags = kFlagQr | kFlagRa | rcode;
  flags |= static_cast<uint16_t>((query[2] & 0x78) << 8);
  if (query[2] & 0x01) flags |= kFlagRd;
  return flags;
}

Disposition headerOnly(std::span<const uint8_t> query, uint8_t rcode, std::vector<uint8_t>& response) {
  MessageWriter w(response);
  w.header(static_cast<uint16_t>(query[0] << 8 | query[1]), replyFlags(query, rcode));
  return Disposition::kAnswer;
}

// The wire name as lowercase dotted text, without the trailing dot. False
// when a label holds a dot (such a name cannot be one of ours).
bool dottedName(std::span<const uint8_t> wire, char (&buf)[256], size_t* len) {
  size_t pos = 0, n = 0;
  bool plain = true;
  while (pos < wire.size() && wire[pos] != 0) {
    size_t label = wire[pos++];
    if (pos + label > wire.size() || n + label + 1 > sizeof(buf)) return false;
    if (n > 0) buf[n++] = '.';
    for (size_t i = 0; i < label; ++i) {
      char c = static_cast<char>(wire[pos + i]);
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c == '.') plain = false;
      buf[n++] = c;
    }
    pos += label;
  }
  *len = n;
  return plain;
}

void writeSoa(MessageWriter& w, Section section, const ZoneSnapshot& zone) {
  w.beginRecord(section, zone.domain, kTypeSoa, zone.ttl);
  w.name(zone.soa_mname);
  w.name(zone.soa_rname);
  w.u32(zone.serial);
  w.u32(7200);   // refresh
  w.u32(1800);   // retry
  w.u32(86400);  // expire
  w.u32(zone.ttl);
  w.endRecord();
}

int writeAddresses(MessageWriter& w, Section section, std::string_view owner, const NameRecords& r,
                   uint16_t type, uint32_t ttl) {
  int n = 0;
  if (type == kTypeA || type == kTypeAny) {
    for (const auto& a : r.a) {
      w.beginRecord(section, owner, kTypeA, ttl);
      w.bytes(a);
      w.endRecord();
      ++n;
    }
  }
  if (type == kTypeAaaa || type == kTypeAny) {
    for (const auto& a : r.aaaa) {
      w.beginRecord(section, owner, kTypeAaaa, ttl);
      w.bytes(a);
      w.endRecord();
      ++n;
    }
  }
  return n;
}

// The records of `name` for `type` in the answer section (and the
// addresses of SRV targets in the additional one); how many answers.
int writeRecords(MessageWriter& w, std::string_view name, const NameRecords& r, uint16_t type,
                 const ZoneSnapshot& zone) {
  if (!r.cname.empty()) {
    w.beginRecord(Section::kAnswer, name, kTypeCname, zone.ttl);
    w.name(r.cname);
    w.endRecord();
    return 1;
  }
  int n = writeAddresses(w, Section::kAnswer, name, r, type, zone.ttl);
  if (type == kTypeSrv || type == kTypeAny) {
    for (const auto& s : r.srv) {
      w.beginRecord(Section::kAnswer, name, kTypeSrv, zone.ttl);
      w.u16(s.priority);
      w.u16(s.weight);
      w.u16(s.port);
      w.name(s.target, /*compress=*/false);  // RFC 2782: SRV targets are not compressed
      w.endRecord();
      ++n;
    }
  }
  if (type == kTypePtr || type == kTypeAny) {
    for (const auto& p : r.ptr) {
      w.beginRecord(Section::kAnswer, name, kTypePtr, zone.ttl);
      w.name(p);
      w.endRecord();
      ++n;
    }
  }
  if ((type == kTypeSoa || type == kTypeAny) && name == zone.domain) {
    writeSoa(w, Section::kAnswer, zone);
    ++n;
  }
  if (type == kTypeSrv) {
    for (size_t i = 0; i < r.srv.size(); ++i) {
      const std::string& target = r.srv[i].target;
      bool seen = std::any_of(r.srv.begin(), r.srv.begin() + static_cast<ptrdiff_t>(i),
                              [&](const SrvRecord& s) { return s.target == target; });
      if (seen) continue;
      if (const NameRecords* t = zone.find(target))
        writeAddresses(w, Section::kAdditional, target, *t, kTypeAny, zone.ttl);
    }
  }
  return n;
}

}  // namespace

Disposition answer(std::span<const uint8_t> query, const ZoneSnapshot& zone, Transport via,
                   std::vector<uint8_t>& response) {
  if (query.size() < kHeaderSize || (query[2] & 0x80)) return Disposition::kDrop;
  if ((query[2] >> 3 & 0x0f) != 0) return headerOnly(query, kRcodeNotImp, response);

  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, query.data(), query.size()) != LDNS_STATUS_OK)
    return headerOnly(query, kRcodeFormErr, response);
  std::unique_ptr<ldns_pkt, PktFree> pkt(raw);
  const ldns_rr_list* questions = ldns_pkt_question(pkt.get());
  if (ldns_pkt_qdcount(pkt.get()) != 1 || !questions || ldns_rr_list_rr_count(questions) != 1)
    return headerOnly(query, kRcodeFormErr, response);
  const ldns_rr* q = ldns_rr_list_rr(questions, 0);
  const ldns_rdf* owner = ldns_rr_owner(q);
  if (!owner || ldns_rdf_get_type(owner) != LDNS_RDF_TYPE_DNAME)
    return headerOnly(query, kRcodeFormErr, response);
  std::span<const uint8_t> wire_name(ldns_rdf_data(owner), ldns_rdf_size(owner));
  auto qtype = static_cast<uint16_t>(ldns_rr_get_type(q));
  auto qclass = static_cast<uint16_t>(ldns_rr_get_class(q));

  bool edns = ldns_pkt_edns(pkt.get());
  size_t limit = kMaxMessage;
  if (via == Transport::kUdp)
    limit = edns ? std::max<size_t>(kMinUdpSize, ldns_pkt_edns_udp_size(pkt.get())) : kMinUdpSize;
  bool dnssec_ok = edns && ldns_pkt_edns_do(pkt.get());

  char buf[256];
  size_t len = 0;
  bool plain = dottedName(wire_name, buf, &len);
  std::string_view name(buf, len);
  const NameRecords* records = plain ? zone.find(name) : nullptr;
  bool in_zone = zone.inZone(name);

  uint16_t id = static_cast<uint16_t>(query[0] << 8 | query[1]);
  MessageWriter w(response);
  auto finish = [&](uint8_t ext_rcode) {
    if (edns) w.opt(kAdvertisedUdpSize, ext_rcode, dnssec_ok);
    if (w.size() > limit) {
      w.truncate();
      if (edns) w.opt(kAdvertisedUdpSize, ext_rcode, dnssec_ok);
    }
    return Disposition::kAnswer;
  };
  auto refuse = [&](uint8_t rcode, uint8_t ext_rcode = 0) {
    w.header(id, replyFlags(query, rcode));
    w.question(wire_name, plain ? name : std::string_view(), qtype, qclass);
    return finish(ext_rcode);
  };

  if (edns && ldns_pkt_edns_version(pkt.get()) > 0) return refuse(kRcodeNoError, kExtRcodeBadVers);
  if (qclass != kClassIn || qtype == kTypeAxfr || qtype == kTypeIxfr || qtype == kTypeOpt)
    return refuse(kRcodeRefused);
  if (!records && !in_zone) return Disposition::kForward;
  if (!zone.synced && in_zone) return refuse(kRcodeServFail);

  bool authoritative = in_zone || records;
  uint8_t rcode = records ? kRcodeNoError : kRcodeNxDomain;
  w.header(id, static_cast<uint16_t>(replyFlags(query, rcode) | (authoritative ? kFlagAa : 0)));
  w.question(wire_name, plain ? name : std::string_view(), qtype, qclass);
  int answers = records ? writeRecords(w, name, *records, qtype, zone) : 0;
  if (answers == 0 && in_zone) writeSoa(w, Section::kAuthority, zone);
  return finish(0);
}

void failureReply(std::span<const uint8_t> query, uint8_t rcode, std::vector<uint8_t>& response) {
  if (query.size() < kHeaderSize) {
    response.clear();
    return;
  }
  MessageWriter w(response);
  w.header(static_cast<uint16_t>(query[0] << 8 | query[1]), replyFlags(query, rcode));
  // The question as it came, when it is a plain (uncompressed) one.
  size_t pos = kHeaderSize;
  while (pos < query.size() && query[pos] != 0 && query[pos] <= 63) pos += query[pos] + 1;
  if (pos >= query.size() || query[pos] != 0 || pos + 5 > query.size()) return;
  size_t end = pos + 5;
  w.question(query.subspan(kHeaderSize, pos + 1 - kHeaderSize), std::string_view(),
             static_cast<uint16_t>(query[end - 4] << 8 | query[end - 3]),
             static_cast<uint16_t>(query[end - 2] << 8 | query[end - 1]));
}

}  // namespace capstan::dns
