#include "dns/zone_snapshot.h"

#include <arpa/inet.h>

#include <algorithm>

#include "common/strings.h"

namespace capstan::dns {
namespace {

// An address in either family, parsed once.
struct Address {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
};

bool parseAddress(std::string_view text, Address* out) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf)) return false;
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  if (inet_pton(AF_INET, buf, out->bytes.data()) == 1) {
    out->v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, buf, out->bytes.data()) == 1) {
    out->v6 = true;
    return true;
  }
  return false;
}

// The label CoreDNS gives an address: dots (or colons) as dashes.
std::string dashed(std::string_view ip) {
  std::string s(ip);
  std::replace(s.begin(), s.end(), '.', '-');
  std::replace(s.begin(), s.end(), ':', '-');
  return s;
}

class ZoneBuilder {
 public:
  ZoneBuilder(std::string_view domain, uint32_t serial) : zone_(std::make_shared<ZoneSnapshot>()) {
    zone_->domain = canonicalName(domain);
    zone_->serial = serial;
    zone_->soa_mname = "ns.dns." + zone_->domain;
    zone_->soa_rname = "hostmaster." + zone_->domain;
    zone_->names[zone_->domain];
  }

  // The entry of an in-zone name, creating its ancestors up to the domain.
  NameRecords& name(const std::string& fqdn) {
    auto [it, fresh] = zone_->names.try_emplace(fqdn);
    if (fresh) {
      for (size_t dot = fqdn.find('.'); dot != std::string::npos; dot = fqdn.find('.', dot + 1)) {
        std::string_view parent = std::string_view(fqdn).substr(dot + 1);
        if (parent.size() < zone_->domain.size()) break;
        if (!zone_->names.try_emplace(std::string(parent)).second) break;  // its ancestors exist already
      }
    }
    return it->second;
  }

  void address(const std::string& fqdn, const Address& a) {
    NameRecords& r = name(fqdn);
    if (a.v6) {
      if (std::find(r.aaaa.begin(), r.aaaa.end(), a.bytes) == r.aaaa.end()) r.aaaa.push_back(a.bytes);
    } else {
      std::array<uint8_t, 4> v4;
      std::copy_n(a.bytes.begin(), 4, v4.begin());
      if (std::find(r.a.begin(), r.a.end(), v4) == r.a.end()) r.a.push_back(v4);
    }
  }

  void ptr(std::string_view ip, const std::string& target) {
    std::string rev = reverseName(ip);
    if (rev.empty()) return;
    auto& ptrs = zone_->names[rev].ptr;
    if (std::find(ptrs.begin(), ptrs.end(), target) == ptrs.end()) ptrs.push_back(target);
  }

  void srv(const std::string& service_fqdn, const PortInfo& port, SrvRecord record) {
    if (port.name.empty() || port.port <= 0 || port.port > 65535) return;
    std::string owner = "_" + asciiLower(port.name) + "._" + asciiLower(port.protocol) + "." + service_fqdn;
    record.port = static_cast<uint16_t>(port.port);
    auto& list = name(owner).srv;
    for (const auto& s : list)
      if (s.target == record.target && s.port == record.port) return;
    list.push_back(std::move(record));
  }

  std::shared_ptr<const ZoneSnapshot> finish() {
    // Headless SRV weights share 100 among a port's endpoints, as CoreDNS does.
    for (auto& [n, records] : zone_->names) {
      if (records.srv.size() < 2) continue;
      uint16_t w = static_cast<uint16_t>(std::max<size_t>(1, 100 / records.srv.size()));
      for (auto& s : records.srv) s.weight = w;
    }
    return std::move(zone_);
  }

  const std::string& domain() const { return zone_->domain; }

 private:
  std::shared_ptr<ZoneSnapshot> zone_;
};

void addService(ZoneBuilder& b, const ServiceInfo& svc, const std::vector<const SliceInfo*>& slices) {
  std::string fqdn = asciiLower(svc.name) + "." + asciiLower(svc.ns) + ".svc." + b.domain();
  if (!svc.external_name.empty()) {
    b.name(fqdn).cname = canonicalName(svc.external_name);
    return;
  }
  if (!svc.headless) {
    b.name(fqdn);
    for (const auto& ip : svc.cluster_ips) {
      Address a;
      if (!parseAddress(ip, &a)) continue;
      b.address(fqdn, a);
      b.ptr(ip, fqdn);
    }
    for (const auto& p : svc.ports) b.srv(fqdn, p, {0, 100, 0, fqdn});
    return;
  }
  // Headless: the ready endpoints, each also under its own name.
  b.name(fqdn);
  for (const SliceInfo* slice : slices) {
    if (slice->address_type != "IPv4" && slice->address_type != "IPv6") continue;
    for (const auto& ep : slice->endpoints) {
      if (!ep.ready) continue;
      for (const auto& ip : ep.addresses) {
        Address a;
        if (!parseAddress(ip, &a)) continue;
        std::string ep_fqdn = (ep.hostname.empty() ? dashed(ip) : asciiLower(ep.hostname)) + "." + fqdn;
        b.address(fqdn, a);
        b.address(ep_fqdn, a);
        b.ptr(ip, ep_fqdn);
        for (const auto& p : slice->ports) b.srv(fqdn, p, {0, 100, 0, ep_fqdn});
      }
    }
  }
}

}  // namespace

std::string canonicalName(std::string_view name) {
  std::string out = asciiLower(name);
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool ZoneSnapshot::inZone(std::string_view name) const {
  if (name.size() == domain.size()) return name == domain;
  return name.size() > domain.size() && name.ends_with(domain) &&
         name[name.size() - domain.size() - 1] == '.';
}

std::string reverseName(std::string_view ip) {
  Address a;
  if (!parseAddress(ip, &a)) return {};
  std::string out;
  if (!a.v6) {
    for (int i = 3; i >= 0; --i) out += std::to_string(a.bytes[i]) + ".";
    return out + "in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out += kHex[a.bytes[i] & 0xf];
    out += '.';
    out += kHex[a.bytes[i] >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

std::shared_ptr<const ZoneSnapshot> buildZoneSnapshot(const ClusterSources& sources, std::string_view domain,
                                                      uint32_t serial) {
  ZoneBuilder b(domain, serial);
  // Slices by their service's "ns/name".
  std::unordered_map<std::string, std::vector<const SliceInfo*>> slices_of;
  for (const auto& [key, slice] : sources.slices)
    if (!slice->service.empty()) slices_of[slice->ns + "/" + slice->service].push_back(slice.get());
  static const std::vector<const SliceInfo*> kNone;
  for (const auto& [key, svc] : sources.services) {
    if (svc->name.empty() || svc->ns.empty()) continue;
    auto it = slices_of.find(key);
    addService(b, *svc, it == slices_of.end() ? kNone : it->second);
  }
  for (const auto& [key, pod] : sources.pods) {
    for (const auto& ip : pod->ips) {
      Address a;
      if (!parseAddress(ip, &a)) continue;
      b.address(dashed(ip) + "." + asciiLower(pod->ns) + ".pod." + b.domain(), a);
    }
  }
  return b.finish();
}

}  // namespace capstan::dns
