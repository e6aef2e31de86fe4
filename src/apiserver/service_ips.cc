#include "apiserver/service_ips.h"

#include <arpa/inet.h>
#include <openssl/rand.h>

#include <fmt/format.h>

namespace capstan::apiserver {
namespace {

constexpr int kNodePortMin = 30000;
constexpr int kNodePortMax = 32767;

std::optional<uint32_t> parseIp(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string formatIp(uint32_t ip) {
  in_addr a{};
  a.s_addr = htonl(ip);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

uint64_t randomU64() {
  uint64_t v = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v);
  return v;
}

}  // namespace

Result<std::unique_ptr<ServiceAllocator>> ServiceAllocator::create(const std::string& cidr, const ObjectCache& cache) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return Status(Code::kInvalid, "service CIDR must be of the form A.B.C.D/N: " + cidr);
  auto ip = parseIp(cidr.substr(0, slash));
  int bits = std::atoi(cidr.c_str() + slash + 1);
  if (!ip || bits < 8 || bits > 30) return Status(Code::kInvalid, "invalid IPv4 service CIDR (prefix 8..30): " + cidr);
  std::unique_ptr<ServiceAllocator> a(new ServiceAllocator(cache));
  a->cidr_ = cidr;
  uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  a->base_ = *ip & mask;
  a->size_ = ~mask + 1;
  a->next_ = randomU64();
  return a;
}

std::string ServiceAllocator::firstIp() const { return formatIp(base_ + 1); }

void ServiceAllocator::usedLocked(std::set<uint32_t>* ips, std::set<int>* ports) const {
  *ips = pending_ips_;
  *ports = pending_ports_;
  for (const auto& svc : cache_.list("/registry/core/services/", nullptr)) {
    const Json& spec = svc->obj.contains("spec") ? svc->obj["spec"] : Json::object();
    if (auto* cips = find(spec, "clusterIPs"); cips && cips->is_array()) {
      for (const auto& c : *cips)
        if (c.is_string())
          if (auto v = parseIp(c.get<std::string>())) ips->insert(*v);
    } else if (auto v = parseIp(getString(spec, "clusterIP"))) {
      ips->insert(*v);
    }
    if (auto* ps = find(spec, "ports"); ps && ps->is_array())
      for (const auto& p : *ps)
        if (p.contains("nodePort") && p["nodePort"].is_number_integer()) ports->insert(p["nodePort"].get<int>());
  }
}

Result<std::string> ServiceAllocator::allocateIp() {
  std::lock_guard lock(mu_);
  std::set<uint32_t> ips;
  std::set<int> ports;
  usedLocked(&ips, &ports);
  // Usable: base+1 .. base+size-2 (network and broadcast excluded).
  uint32_t usable = size_ - 2;
  for (uint32_t i = 0; i < usable; ++i) {
    uint32_t candidate = base_ + 1 + static_cast<uint32_t>((next_ + i) % usable);
    if (ips.count(candidate)) continue;
    next_ = randomU64();
    pending_ips_.insert(candidate);
    return formatIp(candidate);
  }
  return Status(Code::kInternal, "range is full: no ClusterIPs left in " + cidr_);
}

Status ServiceAllocator::reserveIp(const std::string& ip_str) {
  auto ip = parseIp(ip_str);
  Status invalid(Code::kInvalid, "");
  if (!ip) {
    Status st(Code::kInvalid, fmt::format("spec.clusterIPs: Invalid value: [\"{}\"]: must be a valid IP address", ip_str));
    st.causes.push_back({"FieldValueInvalid", fmt::format("Invalid value: \"{}\": must be a valid IP address", ip_str), "spec.clusterIPs[0]"});
    return st;
  }
  if (*ip <= base_ || *ip >= base_ + size_ - 1) {
    Status st(Code::kInvalid, fmt::format("spec.clusterIPs: Invalid value: [\"{}\"]: failed to allocate IP {}: the provided IP ({}) is not in the valid range. The range of valid IPs is {}",
                                          ip_str, ip_str, ip_str, cidr_));
    st.causes.push_back({"FieldValueInvalid", "the provided IP is not in the valid range", "spec.clusterIPs"});
    return st;
  }
  std::lock_guard lock(mu_);
  std::set<uint32_t> ips;
  std::set<int> ports;
  usedLocked(&ips, &ports);
  if (ips.count(*ip)) {
    Status st(Code::kInvalid, fmt::format("spec.clusterIPs: Invalid value: [\"{}\"]: failed to allocate IP {}: provided IP is already allocated", ip_str, ip_str));
    st.causes.push_back({"FieldValueInvalid", "provided IP is already allocated", "spec.clusterIPs"});
    return st;
  }
  pending_ips_.insert(*ip);
  return Status::ok();
}

Result<int> ServiceAllocator::allocateNodePort() {
  std::lock_guard lock(mu_);
  std::set<uint32_t> ips;
  std::set<int> ports;
  usedLocked(&ips, &ports);
  int span = kNodePortMax - kNodePortMin + 1;
  uint64_t start = randomU64();
  for (int i = 0; i < span; ++i) {
    int p = kNodePortMin + static_cast<int>((start + static_cast<uint64_t>(i)) % static_cast<uint64_t>(span));
    if (ports.count(p)) continue;
    pending_ports_.insert(p);
    return p;
  }
  return Status(Code::kInternal, "range is full: no node ports left");
}

Status ServiceAllocator::reserveNodePort(int port) {
  if (port < kNodePortMin || port > kNodePortMax) {
    Status st(Code::kInvalid, fmt::format("spec.ports[0].nodePort: Invalid value: {}: provided port is not in the valid range. The range of valid ports is {}-{}", port, kNodePortMin, kNodePortMax));
    st.causes.push_back({"FieldValueInvalid", "provided port is not in the valid range", "spec.ports[0].nodePort"});
    return st;
  }
  std::lock_guard lock(mu_);
  std::set<uint32_t> ips;
  std::set<int> ports;
  usedLocked(&ips, &ports);
  if (ports.count(port)) {
    Status st(Code::kInvalid, fmt::format("spec.ports[0].nodePort: Invalid value: {}: provided port is already allocated", port));
    st.causes.push_back({"FieldValueInvalid", "provided port is already allocated", "spec.ports[0].nodePort"});
    return st;
  }
  pending_ports_.insert(port);
  return Status::ok();
}

void ServiceAllocator::release(const std::string& ip) {
  std::lock_guard lock(mu_);
  if (auto v = parseIp(ip)) pending_ips_.erase(*v);
}

void ServiceAllocator::releasePort(int port) {
  std::lock_guard lock(mu_);
  pending_ports_.erase(port);
}

}  // namespace capstan::apiserver
