#include "dns/dns_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/log.h"
#include "dns/dns_worker.h"
#include "dns/record_store.h"
#include "dns/socket_address.h"
#include "dns/zone_snapshot.h"

namespace capstan::dns {
namespace {

constexpr int kUdpReceiveBuffer = 4 << 20;  // absorbs bursts; the kernel may cap it at rmem_max
constexpr int kListenBacklog = 1024;
constexpr int kPortAttempts = 20;

// Sockets of one bind attempt, closed unless handed to the workers.
struct Sockets {
  std::vector<int> udp, tcp;
  Sockets() = default;
  Sockets(const Sockets&) = delete;
  Sockets& operator=(const Sockets&) = delete;
  ~Sockets() { closeAll(); }
  void closeAll() {
    for (int fd : udp)
      if (fd >= 0) ::close(fd);
    for (int fd : tcp)
      if (fd >= 0) ::close(fd);
    udp.clear();
    tcp.clear();
  }
};

Result<int> openSocket(const SocketAddress& addr, int type) {
  int fd = ::socket(addr.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status(Code::kInternal, std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (type == SOCK_DGRAM)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kUdpReceiveBuffer, sizeof(kUdpReceiveBuffer));
  if (addr.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  // The node agent binds the pod bridge's address, which the bridge may get
  // only with the first pod; packets arrive once it exists.
  if (addr.family() == AF_INET) setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
  if (::bind(fd, addr.get(), addr.length) != 0 ||
      (type == SOCK_STREAM && ::listen(fd, kListenBacklog) != 0)) {
    int err = errno;
    ::close(fd);
    errno = err;
    return Status(Code::kInternal, "bind " + addr.toString() + ": " + std::strerror(err));
  }
  return fd;
}

uint16_t boundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  SocketAddress a;
  a.storage = ss;
  a.length = len;
  return a.port();
}

// One UDP socket and one TCP listener per thread, all on one port.
Status bindAll(SocketAddress addr, int threads, Sockets* out) {
  for (int i = 0; i < threads; ++i) {
    auto udp = openSocket(addr, SOCK_DGRAM);
    if (!udp) return udp.status();
    out->udp.push_back(*udp);
    if (i == 0 && addr.port() == 0) addr.setPort(boundPort(*udp));
  }
  for (int i = 0; i < threads; ++i) {
    auto tcp = openSocket(addr, SOCK_STREAM);
    if (!tcp) return tcp.status();
    out->tcp.push_back(*tcp);
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<DnsServer>> DnsServer::start(const DnsServerOptions& options,
                                                    client::InformerFactory& informers) {
  if (options.port < 0 || options.port > 65535) return Status(Code::kBadRequest, "bad DNS port");
  auto listen = parseSocketAddress(options.address, static_cast<uint16_t>(options.port));
  if (!listen) return listen.status();
  std::string domain = canonicalName(options.cluster_domain);
  if (domain.empty()) return Status(Code::kBadRequest, "empty cluster domain");
  int threads = std::max(1, options.threads);

  std::vector<std::string> upstream_texts;
  if (options.upstreams) {
    upstream_texts = *options.upstreams;
  } else {
    std::ifstream f(options.resolv_conf);
    std::stringstream text;
    text << f.rdbuf();
    upstream_texts = resolvConfNameservers(text.str());
    if (upstream_texts.empty())
      LOG_WARN("dns: no nameservers to forward to", "resolv_conf", options.resolv_conf);
  }

  Sockets sockets;
  int attempts = options.port == 0 ? kPortAttempts : 1;
  for (int i = 0;; ++i) {
    Status st = bindAll(*listen, threads, &sockets);
    if (st) break;
    // With a picked port, its TCP twin may be taken: pick again.
    if (i + 1 >= attempts) return st;
    sockets.closeAll();
  }
  auto server = std::unique_ptr<DnsServer>(new DnsServer());
  server->port_ = boundPort(sockets.udp.front());

  WorkerOptions wo;
  wo.upstream_timeout = options.upstream_timeout;
  wo.tcp_idle_timeout = options.tcp_idle_timeout;
  wo.max_tcp_connections = options.max_tcp_connections;
  if (options.clock) wo.clock = options.clock;
  for (const auto& text : upstream_texts) {
    auto a = parseSocketAddress(text, 53);
    if (!a) return a.status();
    // Forwarding to ourselves would loop.
    SocketAddress self = *listen;
    self.setPort(static_cast<uint16_t>(server->port_));
    if (self.sameAs(a->storage)) continue;
    wo.upstreams.push_back(*a);
  }

  server->records_ = std::make_shared<RecordStore>(domain);
  for (int i = 0; i < threads; ++i) {
    auto w = DnsWorker::create(sockets.udp[i], sockets.tcp[i], *server->records_, wo);
    sockets.udp[i] = sockets.tcp[i] = -1;  // the worker owns them now, even when it failed
    if (!w) return w.status();
    server->workers_.push_back(std::move(*w));
  }
  sockets.udp.clear();
  sockets.tcp.clear();
  RecordStore::attach(server->records_, informers);
  server->records_->start();
  for (auto& w : server->workers_) w->start();
  std::string upstreams;
  for (const auto& u : wo.upstreams) upstreams += (upstreams.empty() ? "" : ",") + u.toString();
  LOG_INFO("dns server started", "address", options.address, "port", server->port_, "domain", domain,
           "threads", threads, "upstreams", upstreams);
  return server;
}

DnsServer::~DnsServer() { stop(); }

void DnsServer::stop() {
  for (auto& w : workers_) w->stop();
  workers_.clear();
  if (records_) records_->stop();
}

}  // namespace capstan::dns
