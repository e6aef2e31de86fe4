#include "common/net_address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace capstan {

Result<std::vector<HostAddress>> hostAddresses() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0)
    return Status(Code::kInternal, std::string("cannot list host addresses: ") + std::strerror(errno));
  std::vector<HostAddress> out;
  for (ifaddrs* ifa = list; ifa != nullptr; ifa = ifa->ifa_next) {
    if (ifa->ifa_addr == nullptr || (ifa->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    const void* addr = nullptr;
    if (ifa->ifa_addr->sa_family == AF_INET)
      addr = &reinterpret_cast<const sockaddr_in*>(ifa->ifa_addr)->sin_addr;
    else if (ifa->ifa_addr->sa_family == AF_INET6)
      addr = &reinterpret_cast<const sockaddr_in6*>(ifa->ifa_addr)->sin6_addr;
    if (addr && ::inet_ntop(ifa->ifa_addr->sa_family, addr, buf, sizeof buf))
      out.push_back({ifa->ifa_name, buf});
  }
  ::freeifaddrs(list);
  return out;
}

std::string firstHostIpv4() {
  auto addresses = hostAddresses();
  if (!addresses) return "";
  for (const auto& a : *addresses) {
    std::string_view name = a.interface;
    if (name.starts_with("cni") || name.starts_with("veth") || name.starts_with("cst")) continue;
    if (a.ip.find(':') == std::string::npos) return a.ip;
  }
  return "";
}

}  // namespace capstan
