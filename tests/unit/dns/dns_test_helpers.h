#pragma once
// Queries made and answers read with ldns, so the tests check the server's
// bytes with an independent DNS implementation.

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/ldns.h"

namespace capstan::dns::testing {

struct QueryOptions {
  uint16_t id = 0x1234;
  uint16_t edns_size = 0;  // 0: no OPT record
  uint8_t edns_version = 0;
  ldns_rr_class cls = LDNS_RR_CLASS_IN;
};

inline std::vector<uint8_t> makeQuery(std::string_view name, ldns_rr_type type, const QueryOptions& o = {}) {
  ldns_rdf* dname = ldns_dname_new_frm_str(std::string(name).c_str());
  ldns_pkt* pkt = ldns_pkt_query_new(dname, type, o.cls, LDNS_RD);
  ldns_pkt_set_id(pkt, o.id);
  if (o.edns_size > 0) {
    ldns_pkt_set_edns_udp_size(pkt, o.edns_size);
    ldns_pkt_set_edns_version(pkt, o.edns_version);
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  std::vector<uint8_t> out;
  if (ldns_pkt2wire(&wire, pkt, &size) == LDNS_STATUS_OK) out.assign(wire, wire + size);
  free(wire);  // NOLINT: ldns allocates with malloc
  ldns_pkt_free(pkt);
  return out;
}

struct Reply {
  bool parsed = false;
  uint16_t id = 0;
  int rcode = -1;
  bool qr = false, aa = false, tc = false, ra = false;
  bool edns = false;
  uint16_t edns_size = 0;
  uint8_t ext_rcode = 0;
  size_t size = 0;
  std::vector<std::string> answer, authority, additional;  // "name ttl IN TYPE rdata", sorted
};

inline std::vector<std::string> rrStrings(const ldns_rr_list* list) {
  std::vector<std::string> out;
  for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) {
    char* s = ldns_rr2str(ldns_rr_list_rr(list, i));
    std::string text(s ? s : "");
    free(s);  // NOLINT
    std::replace(text.begin(), text.end(), '\t', ' ');
    while (!text.empty() && text.back() == '\n') text.pop_back();
    out.push_back(text);
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline Reply parseReply(std::span<const uint8_t> bytes) {
  Reply r;
  r.size = bytes.size();
  ldns_pkt* pkt = nullptr;
  if (bytes.empty() || ldns_wire2pkt(&pkt, bytes.data(), bytes.size()) != LDNS_STATUS_OK) return r;
  r.parsed = true;
  r.id = ldns_pkt_id(pkt);
  r.rcode = ldns_pkt_get_rcode(pkt);
  r.qr = ldns_pkt_qr(pkt);
  r.aa = ldns_pkt_aa(pkt);
  r.tc = ldns_pkt_tc(pkt);
  r.ra = ldns_pkt_ra(pkt);
  r.edns = ldns_pkt_edns(pkt);
  r.edns_size = ldns_pkt_edns_udp_size(pkt);
  r.ext_rcode = ldns_pkt_edns_extended_rcode(pkt);
  r.answer = rrStrings(ldns_pkt_answer(pkt));
  r.authority = rrStrings(ldns_pkt_authority(pkt));
  r.additional = rrStrings(ldns_pkt_additional(pkt));
  ldns_pkt_free(pkt);
  return r;
}

}  // namespace capstan::dns::testing
