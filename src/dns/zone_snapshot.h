#pragma once
// The cluster zone at one moment: every name the cluster DNS answers for,
// with its records, built in one go from the ClusterSources and never
// changed afterwards, so any number of server threads read it without
// locks (RecordStore swaps in a new one when the cluster changes).
//
// Names are lowercase, without the trailing dot. Following the Kubernetes
// DNS specification (as CoreDNS's kubernetes plugin serves it):
//   <svc>.<ns>.svc.<domain>                 A/AAAA: cluster IPs; headless: ready endpoints
//   <ep>.<svc>.<ns>.svc.<domain>            A/AAAA of a headless endpoint (hostname or a-b-c-d)
//   _<port>._<proto>.<svc>.<ns>.svc.<domain> SRV for each named port
//   <svc>.<ns>.svc.<domain>                 CNAME for an ExternalName service
//   <a-b-c-d>.<ns>.pod.<domain>             A/AAAA of a running pod
//   <reversed ip>.in-addr.arpa / ip6.arpa   PTR for service and endpoint IPs
// Every ancestor of a name inside the domain exists too (without records),
// so that it answers NODATA rather than NXDOMAIN.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dns/cluster_records.h"

namespace capstan::dns {

struct SrvRecord {
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  std::string target;
};

struct NameRecords {
  std::vector<std::array<uint8_t, 4>> a;
  std::vector<std::array<uint8_t, 16>> aaaa;
  std::vector<SrvRecord> srv;
  std::string cname;
  std::vector<std::string> ptr;
};

struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct ZoneSnapshot {
  std::string domain;     // e.g. "cluster.local"
  std::string soa_mname;  // "ns.dns.<domain>", as CoreDNS names itself
  std::string soa_rname;  // "hostmaster.<domain>"
  uint32_t serial = 0;
  uint32_t ttl = 5;    // of every record, and the SOA minimum (negative answers)
  bool synced = true;  // false until the informers' first lists are in: in-zone names get SERVFAIL
  std::unordered_map<std::string, NameRecords, NameHash, std::equal_to<>> names;

  const NameRecords* find(std::string_view name) const {
    auto it = names.find(name);
    return it == names.end() ? nullptr : &it->second;
  }
  // The domain itself or a name below it.
  bool inZone(std::string_view name) const;
};

// Builds the zone of `domain` (any case, trailing dot or not) from the sources.
std::shared_ptr<const ZoneSnapshot> buildZoneSnapshot(const ClusterSources& sources, std::string_view domain,
                                                      uint32_t serial);

// A DNS name as the zone keeps names: lowercase, without the trailing dot.
std::string canonicalName(std::string_view name);

// "10.1.2.3" → "3.2.1.10.in-addr.arpa"; IPv6 nibbles under ip6.arpa; empty when not an IP.
std::string reverseName(std::string_view ip);

}  // namespace capstan::dns
