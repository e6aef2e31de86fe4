#pragma once
// The cluster DNS resolver: one query in, one answer out, over a zone
// snapshot. Pure (no sockets, no clocks), so the server's threads call it
// concurrently and tests call it directly.
//
// Semantics (the Kubernetes DNS specification, as CoreDNS serves it):
// names in the zone are answered authoritatively with TTL zone.ttl; a name
// that exists without records of the asked type gets NODATA (NOERROR, no
// answer), a name that does not exist NXDOMAIN, both with the zone's SOA in
// the authority section; ExternalName services answer a CNAME for every
// type; names outside the zone (and reverse names the zone lacks) are for
// the upstream resolvers. Over UDP an answer larger than 512 bytes (or
// the client's EDNS buffer size) is truncated with TC set.

#include <cstdint>
#include <span>
#include <vector>

#include "dns/zone_snapshot.h"

namespace capstan::dns {

enum class Transport { kUdp, kTcp };

enum class Disposition {
  kAnswer,   // `response` holds the reply (errors such as FORMERR included)
  kForward,  // a well-formed query for a name outside the zone: ask upstream
  kDrop,     // not a query (shorter than a header, or a response): never answered
};

// The EDNS buffer size this server advertises (the DNS flag day 2020 value).
inline constexpr uint16_t kAdvertisedUdpSize = 1232;

Disposition answer(std::span<const uint8_t> query, const ZoneSnapshot& zone, Transport via,
                   std::vector<uint8_t>& response);

// A reply to an accepted query carrying its header and question and `rcode`
// (SERVFAIL when no upstream answered, REFUSED when there is none).
void failureReply(std::span<const uint8_t> query, uint8_t rcode, std::vector<uint8_t>& response);

}  // namespace capstan::dns
