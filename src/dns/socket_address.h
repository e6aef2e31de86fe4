#pragma once
// IP socket addresses as the DNS server takes them in its options:
// "10.43.0.10:53", "[fd00::10]:53", or an address alone with a default port.

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace capstan::dns {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  uint16_t port() const;
  void setPort(uint16_t port);
  // Same family, address and port.
  bool sameAs(const sockaddr_storage& other) const;
  std::string toString() const;
};

// An address alone ("10.43.0.10", "fd00::10") takes `default_port`;
// BadRequest for anything that is not an IP address (no name lookups here).
Result<SocketAddress> parseSocketAddress(std::string_view text, uint16_t default_port);

// The "nameserver" addresses of a resolv.conf text, in order, each as "ip:53".
std::vector<std::string> resolvConfNameservers(std::string_view text);

}  // namespace capstan::dns
