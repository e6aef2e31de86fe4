#include "dns/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace capstan::dns {
namespace {

bool parseIp(std::string_view host, uint16_t port, SocketAddress* out) {
  std::string h(host);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out->storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out->length = sizeof(sockaddr_in);
    return true;
  }
  out->storage = {};
  if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out->length = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

}  // namespace

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

void SocketAddress::setPort(uint16_t port) {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
}

bool SocketAddress::sameAs(const sockaddr_storage& other) const {
  if (other.ss_family != storage.ss_family) return false;
  if (family() == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(storage);
    const auto& b = reinterpret_cast<const sockaddr_in&>(other);
    return a.sin_port == b.sin_port && a.sin_addr.s_addr == b.sin_addr.s_addr;
  }
  if (family() == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(storage);
    const auto& b = reinterpret_cast<const sockaddr_in6&>(other);
    return a.sin6_port == b.sin6_port && std::memcmp(&a.sin6_addr, &b.sin6_addr, sizeof(in6_addr)) == 0;
  }
  return false;
}

std::string SocketAddress::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof(buf));
    return std::string(buf) + ":" + std::to_string(port());
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf, sizeof(buf));
    return "[" + std::string(buf) + "]:" + std::to_string(port());
  }
  return "?";
}

Result<SocketAddress> parseSocketAddress(std::string_view text, uint16_t default_port) {
  std::string_view host = text;
  uint16_t port = default_port;
  auto parsePort = [&](std::string_view p) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || end != p.data() + p.size() || v > 65535 || p.empty()) return false;
    port = static_cast<uint16_t>(v);
    return true;
  };
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return Status(Code::kBadRequest, "bad address " + std::string(text));
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && (!rest.starts_with(':') || !parsePort(rest.substr(1))))
      return Status(Code::kBadRequest, "bad port in " + std::string(text));
  } else if (size_t colon = text.rfind(':'); colon != std::string_view::npos && text.find(':') == colon) {
    host = text.substr(0, colon);  // one colon: IPv4 with a port (more: a bare IPv6 address)
    if (!parsePort(text.substr(colon + 1)))
      return Status(Code::kBadRequest, "bad port in " + std::string(text));
  }
  SocketAddress out;
  if (!parseIp(host, port, &out)) return Status(Code::kBadRequest, "not an IP address: " + std::string(text));
  return out;
}

std::vector<std::string> resolvConfNameservers(std::string_view text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? text.size() : eol + 1;
    constexpr std::string_view kKey = "nameserver";
    if (!line.starts_with(kKey) || line.size() == kKey.size() ||
        (line[kKey.size()] != ' ' && line[kKey.size()] != '\t'))
      continue;
    std::string_view rest = line.substr(kKey.size());
    size_t b = rest.find_first_not_of(" \t");
    if (b == std::string_view::npos) continue;
    rest = rest.substr(b);
    std::string_view ip = rest.substr(0, rest.find_first_of(" \t\r#;"));
    if (ip.find('%') != std::string_view::npos)
      continue;  // scoped link-local: not reachable by address alone
    SocketAddress a;
    if (!parseIp(ip, 53, &a)) continue;
    out.push_back(a.toString());
  }
  return out;
}

}  // namespace capstan::dns
