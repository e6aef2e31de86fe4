#include "fanout_floor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common.h"
#include "watch_fleet.h"

namespace capstan::bench {
namespace {

// A watch event line shaped like the server's, of about `bytes`, as one
// HTTP chunk.
std::string eventChunk(size_t k, size_t bytes) {
  std::string line = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"bench-ev-" +
                     std::to_string(k) + "\",\"namespace\":\"bench-watch\"},\"data\":{\"pad\":\"";
  while (line.size() + 4 < bytes) line += 'x';
  line += "\"}}}\n";
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", line.size());
  return size + line + "\r\n";
}

}  // namespace

FanoutFloor measureFanoutFloor(const std::string& tls_dir, size_t watchers, size_t events, size_t event_bytes) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, (tls_dir + "server.crt").c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, (tls_dir + "server.key").c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(ctx, (tls_dir + "ca.crt").c_str(), nullptr) != 1)
    throw std::runtime_error("fan-out floor: server credentials");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);

  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 4096) != 0 || ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error(std::string("fan-out floor: listen: ") + std::strerror(errno));

  // Serves the watch requests one by one, as the fleet opens them.
  std::vector<SSL*> streams;
  std::vector<int> fds;
  std::thread acceptor([&] {
    static const char kHeaders[] =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (size_t i = 0; i < watchers; ++i) {
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      SSL* ssl = SSL_new(ctx);
      SSL_set_fd(ssl, fd);
      fds.push_back(fd);
      streams.push_back(ssl);
      if (SSL_accept(ssl) != 1) return;
      std::string req;
      char buf[1024];
      while (req.find("\r\n\r\n") == std::string::npos) {
        int n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0) return;
        req.append(buf, static_cast<size_t>(n));
      }
      SSL_write(ssl, kHeaders, sizeof kHeaders - 1);
    }
  });

  FanoutFloor f;
  f.watchers = watchers;
  f.events = events;
  std::string error;
  std::vector<double> delivery, read, write_all;
  try {
    size_t total = events + 1;  // event 0 warms up
    WatchFleet fleet(WatchFleetOptions{"127.0.0.1", ntohs(addr.sin_port), tls_dir + "ca.crt", tls_dir + "admin.crt",
                                       tls_dir + "admin.key", "/watch", watchers, total});
    acceptor.join();
    if (streams.size() != watchers) throw std::runtime_error("fan-out floor: accepted too few streams");
    fleet.start();
    for (size_t k = 0; k < total; ++k) {
      std::string chunk = eventChunk(k, event_bytes);
      int64_t t0 = realtimeNs();
      for (SSL* ssl : streams) SSL_write(ssl, chunk.data(), static_cast<int>(chunk.size()));
      if (k > 0) write_all.push_back(static_cast<double>(realtimeNs() - t0) / 1e6);
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (fleet.received(k) < watchers && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      if (k == 0) continue;
      for (size_t w = 0; w < watchers; ++w) {
        if (!fleet.readNs(k, w)) continue;
        delivery.push_back(static_cast<double>(fleet.kernelNs(k, w) - t0) / 1e6);
        read.push_back(static_cast<double>(fleet.readNs(k, w) - t0) / 1e6);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    fleet.stop();
  } catch (const std::exception& e) {
    error = e.what();
    ::shutdown(listener, SHUT_RDWR);
  }
  if (acceptor.joinable()) acceptor.join();
  for (SSL* ssl : streams) SSL_free(ssl);
  for (int fd : fds) ::close(fd);
  ::close(listener);
  SSL_CTX_free(ctx);
  if (!error.empty()) throw std::runtime_error(error);
  f.delivery_ms = summarize(std::move(delivery));
  f.read_ms = summarize(std::move(read));
  f.write_all_ms = median(std::move(write_all));
  return f;
}

}  // namespace capstan::bench
