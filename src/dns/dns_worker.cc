#include "dns/dns_worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "dns/message_writer.h"
#include "dns/resolver.h"

namespace capstan::dns {
namespace {

// epoll tags; TCP connections take ids from kFirstConn on.
constexpr uint64_t kTagWake = 1;
constexpr uint64_t kTagUdp = 2;
constexpr uint64_t kTagTcp = 3;
constexpr uint64_t kTagUpstream4 = 4;
constexpr uint64_t kTagUpstream6 = 5;
constexpr uint64_t kFirstConn = 16;

constexpr int kUdpBatch = 32;
constexpr size_t kUdpBufferSize = 4096;
constexpr int kUdpBatchesPerWake = 8;  // then the other sockets get their turn
constexpr size_t kTcpReadChunk = 16384;
constexpr size_t kTcpMaxOutput = 256 * 1024;  // stop reading a client that does not read its answers
constexpr int kAcceptsPerWake = 64;
constexpr int kUpstreamReadsPerWake = 64;
constexpr auto kSweepPeriod = std::chrono::seconds(1);

int closeFd(int& fd) {
  int rc = fd >= 0 ? ::close(fd) : 0;
  fd = -1;
  return rc;
}

// The end of the question section of a message, or 0.
size_t questionEnd(std::span<const uint8_t> msg) {
  size_t pos = 12;
  while (pos < msg.size() && msg[pos] != 0 && msg[pos] <= 63) pos += msg[pos] + 1;
  if (pos >= msg.size() || msg[pos] != 0 || pos + 5 > msg.size()) return 0;
  return pos + 5;
}

}  // namespace

DnsWorker::DnsWorker(int udp_fd, int tcp_fd, const RecordStore& records, WorkerOptions options)
    : udp_fd_(udp_fd),
      tcp_fd_(tcp_fd),
      records_(records),
      options_(std::move(options)),
      next_conn_id_(kFirstConn),
      // Forwarded query ids must be unguessable (off-path spoofing), so
      // they come from the system's entropy rather than an injected source.
      random_(std::random_device{}()),
      receive_buffers_(kUdpBatch * kUdpBufferSize),
      responses_(kUdpBatch),
      upstream_buffer_(65535) {}

Result<std::unique_ptr<DnsWorker>> DnsWorker::create(int udp_fd, int tcp_fd, const RecordStore& records,
                                                     WorkerOptions options) {
  std::unique_ptr<DnsWorker> w(new DnsWorker(udp_fd, tcp_fd, records, std::move(options)));
  Status st = w->init();
  if (!st) return st;
  return w;
}

Status DnsWorker::init() {
  auto fail = [](const char* what) {
    return Status(Code::kInternal, std::string(what) + ": " + std::strerror(errno));
  };
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return fail("epoll_create1");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return fail("eventfd");
  auto add = [this](int fd, uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
  };
  if (!add(wake_fd_, kTagWake) || !add(udp_fd_, kTagUdp) || !add(tcp_fd_, kTagTcp)) return fail("epoll_ctl");
  for (const auto& u : options_.upstreams) {
    int& fd = u.family() == AF_INET6 ? upstream6_fd_ : upstream4_fd_;
    if (fd >= 0) continue;
    fd = socket(u.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail("upstream socket");
    if (!add(fd, u.family() == AF_INET6 ? kTagUpstream6 : kTagUpstream4)) return fail("epoll_ctl");
  }
  return Status::ok();
}

DnsWorker::~DnsWorker() { stop(); }

void DnsWorker::start() {
  if (thread_.joinable()) return;
  next_sweep_ = options_.clock->monotonic() + kSweepPeriod;
  thread_ = std::thread([this] { run(); });
}

void DnsWorker::stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (::write(wake_fd_, &one, sizeof(one)) < 0)
      LOG_WARN("dns worker wake failed", "error", std::strerror(errno));
    thread_.join();
  }
  for (auto& [id, c] : conns_) closeFd(c.fd);
  conns_.clear();
  closeFd(udp_fd_);
  closeFd(tcp_fd_);
  closeFd(upstream4_fd_);
  closeFd(upstream6_fd_);
  closeFd(wake_fd_);
  closeFd(epoll_fd_);
}

void DnsWorker::refreshZone() {
  uint64_t gen = records_.generation();
  if (gen == zone_generation_) return;
  zone_ = records_.current();
  zone_generation_ = gen;
}

int DnsWorker::nextTimeoutMs(TimePoint now) const {
  TimePoint next = next_sweep_;
  if (!timeouts_.empty()) next = std::min(next, timeouts_.front().deadline);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::clamp<int64_t>(ms + 1, 0, 1000));
}

void DnsWorker::run() {
  epoll_event events[64];
  for (;;) {
    int n = epoll_wait(epoll_fd_, events, 64, nextTimeoutMs(options_.clock->monotonic()));
    if (n < 0 && errno != EINTR) {
      LOG_ERROR("dns worker epoll_wait failed", "error", std::strerror(errno));
      return;
    }
    refreshZone();
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      switch (tag) {
        case kTagWake:
          return;
        case kTagUdp:
          serveUdp();
          break;
        case kTagTcp:
          acceptTcp();
          break;
        case kTagUpstream4:
          readUpstream(upstream4_fd_);
          break;
        case kTagUpstream6:
          readUpstream(upstream6_fd_);
          break;
        default:
          connEvent(tag, events[i].events);
      }
    }
    expire(options_.clock->monotonic());
  }
}

void DnsWorker::serveUdp() {
  mmsghdr in[kUdpBatch];
  iovec in_iov[kUdpBatch];
  sockaddr_storage from[kUdpBatch];
  mmsghdr out[kUdpBatch];
  iovec out_iov[kUdpBatch];
  for (int round = 0; round < kUdpBatchesPerWake; ++round) {
    for (int i = 0; i < kUdpBatch; ++i) {
      in_iov[i] = {receive_buffers_.data() + i * kUdpBufferSize, kUdpBufferSize};
      in[i] = {};
      in[i].msg_hdr.msg_iov = &in_iov[i];
      in[i].msg_hdr.msg_iovlen = 1;
      in[i].msg_hdr.msg_name = &from[i];
      in[i].msg_hdr.msg_namelen = sizeof(from[i]);
    }
    int n = recvmmsg(udp_fd_, in, kUdpBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    int replies = 0;
    for (int i = 0; i < n; ++i) {
      std::span<const uint8_t> query(receive_buffers_.data() + i * kUdpBufferSize, in[i].msg_len);
      std::vector<uint8_t>& response = responses_[i];
      switch (answer(query, *zone_, Transport::kUdp, response)) {
        case Disposition::kAnswer:
          out_iov[replies] = {response.data(), response.size()};
          out[replies] = {};
          out[replies].msg_hdr.msg_iov = &out_iov[replies];
          out[replies].msg_hdr.msg_iovlen = 1;
          out[replies].msg_hdr.msg_name = &from[i];
          out[replies].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
          ++replies;
          break;
        case Disposition::kForward: {
          Client c;
          c.addr = from[i];
          c.addr_len = in[i].msg_hdr.msg_namelen;
          forward(query, c);
          break;
        }
        case Disposition::kDrop:
          break;
      }
    }
    for (int sent = 0; sent < replies;) {
      int k = sendmmsg(udp_fd_, out + sent, static_cast<unsigned>(replies - sent), MSG_DONTWAIT);
      if (k <= 0) {
        // A full send buffer or an unreachable client: UDP answers may be lost; skip that one.
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
          ++sent;
        else if (k < 0 && errno != EINTR)
          break;
        continue;
      }
      sent += k;
    }
    if (n < kUdpBatch) return;
  }
}

void DnsWorker::acceptTcp() {
  for (int i = 0; i < kAcceptsPerWake; ++i) {
    int fd = accept4(tcp_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (conns_.size() >= options_.max_tcp_connections) {
      ::close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    uint64_t id = next_conn_id_++;
    Conn& c = conns_[id];
    c.fd = fd;
    c.last_active = options_.clock->monotonic();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      closeConn(id);
      continue;
    }
    c.events = EPOLLIN;
  }
}

void DnsWorker::connEvent(uint64_t id, uint32_t events) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  // HUP: both directions are shut (a reset), nobody would read the answers.
  if (events & (EPOLLERR | EPOLLHUP)) {
    closeConn(id);
    return;
  }
  if ((events & EPOLLOUT) && !flushConn(id, c)) return;
  if (events & EPOLLIN) readConn(id, c);
}

bool DnsWorker::readConn(uint64_t id, Conn& c) {
  size_t old = c.in.size();
  c.in.resize(old + kTcpReadChunk);
  ssize_t n = ::read(c.fd, c.in.data() + old, kTcpReadChunk);
  c.in.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
    closeConn(id);
    return false;
  }
  if (n == 0) {
    c.peer_closed = true;
  } else {
    c.last_active = options_.clock->monotonic();
  }
  // Every complete length-prefixed query in the buffer (a 16 KiB read holds
  // a bounded number of them).
  size_t off = 0;
  while (c.in.size() - off >= 2) {
    size_t len = static_cast<size_t>(c.in[off] << 8 | c.in[off + 1]);
    if (c.in.size() - off - 2 < len) break;
    std::span<const uint8_t> query(c.in.data() + off + 2, len);
    off += 2 + len;
    switch (answer(query, *zone_, Transport::kTcp, scratch_)) {
      case Disposition::kAnswer:
        c.out.push_back(static_cast<uint8_t>(scratch_.size() >> 8));
        c.out.push_back(static_cast<uint8_t>(scratch_.size()));
        c.out.insert(c.out.end(), scratch_.begin(), scratch_.end());
        break;
      case Disposition::kForward: {
        Client client;
        client.tcp = true;
        client.conn = id;
        forward(query, client);
        break;
      }
      case Disposition::kDrop:
        break;
    }
  }
  c.in.erase(c.in.begin(), c.in.begin() + static_cast<ptrdiff_t>(off));
  return flushConn(id, c);
}

bool DnsWorker::flushConn(uint64_t id, Conn& c) {
  while (c.out_sent < c.out.size()) {
    ssize_t n =
        ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      closeConn(id);
      return false;
    }
    c.out_sent += static_cast<size_t>(n);
  }
  if (c.out_sent == c.out.size()) {
    c.out.clear();
    c.out_sent = 0;
    // A peer that half-closed still gets the answers of its forwarded queries.
    if (c.peer_closed && c.forwards == 0) {
      closeConn(id);
      return false;
    }
  }
  watchConn(id, c);
  return true;
}

void DnsWorker::watchConn(uint64_t id, Conn& c) {
  uint32_t want = 0;
  if (!c.peer_closed && c.out.size() - c.out_sent < kTcpMaxOutput) want |= EPOLLIN;
  if (c.out_sent < c.out.size()) want |= EPOLLOUT;
  if (want == c.events) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = id;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.events = want;
}

void DnsWorker::closeConn(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  closeFd(it->second.fd);  // also leaves the epoll set
  conns_.erase(it);
}

int DnsWorker::upstreamFd(const SocketAddress& a) const {
  return a.family() == AF_INET6 ? upstream6_fd_ : upstream4_fd_;
}

void DnsWorker::forward(std::span<const uint8_t> query, const Client& client) {
  if (options_.upstreams.empty() || pending_.size() >= options_.max_pending_forwards) {
    failureReply(query, options_.upstreams.empty() ? kRcodeRefused : kRcodeServFail, scratch_);
    deliver(client, scratch_, /*from_upstream=*/false);
    return;
  }
  if (client.tcp) {
    if (auto c = conns_.find(client.conn); c != conns_.end()) ++c->second.forwards;
  }
  uint16_t id;
  do {
    id = static_cast<uint16_t>(random_());
  } while (pending_.count(id));
  Pending p;
  p.client_id = static_cast<uint16_t>(query[0] << 8 | query[1]);
  p.client = client;
  p.query.assign(query.begin(), query.end());
  p.query[0] = static_cast<uint8_t>(id >> 8);
  p.query[1] = static_cast<uint8_t>(id);
  p.upstream = next_upstream_++ % options_.upstreams.size();
  p.attempts = 1;
  p.seq = ++next_seq_;
  sendUpstream(p);
  timeouts_.push_back({options_.clock->monotonic() + options_.upstream_timeout, id, p.seq});
  pending_.emplace(id, std::move(p));
}

bool DnsWorker::sendUpstream(Pending& p) {
  const SocketAddress& to = options_.upstreams[p.upstream];
  ssize_t n = ::sendto(upstreamFd(to), p.query.data(), p.query.size(), MSG_DONTWAIT, to.get(), to.length);
  if (n < 0) LOG_DEBUG("dns forward failed", "upstream", to.toString(), "error", std::strerror(errno));
  return n >= 0;  // else the timeout tries the next upstream
}

void DnsWorker::readUpstream(int fd) {
  for (int i = 0; i < kUpstreamReadsPerWake; ++i) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    ssize_t n = ::recvfrom(fd, upstream_buffer_.data(), upstream_buffer_.size(), MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) return;
    if (n < 12) continue;
    std::span<uint8_t> reply(upstream_buffer_.data(), static_cast<size_t>(n));
    auto it = pending_.find(static_cast<uint16_t>(reply[0] << 8 | reply[1]));
    if (it == pending_.end()) continue;
    Pending& p = it->second;
    // Only the upstream asked, answering the question asked, is believed.
    if (!options_.upstreams[p.upstream].sameAs(from)) continue;
    size_t qend = questionEnd(p.query);
    if (qend == 0 || reply.size() < qend ||
        std::memcmp(reply.data() + 12, p.query.data() + 12, qend - 12) != 0)
      continue;
    reply[0] = static_cast<uint8_t>(p.client_id >> 8);
    reply[1] = static_cast<uint8_t>(p.client_id);
    Client client = p.client;
    pending_.erase(it);
    deliver(client, reply);
  }
}

void DnsWorker::expire(TimePoint now) {
  while (!timeouts_.empty() && timeouts_.front().deadline <= now) {
    Timeout t = timeouts_.front();
    timeouts_.pop_front();
    auto it = pending_.find(t.id);
    if (it == pending_.end() || it->second.seq != t.seq) continue;
    Pending& p = it->second;
    if (p.attempts < options_.upstreams.size()) {
      ++p.attempts;
      p.upstream = (p.upstream + 1) % options_.upstreams.size();
      p.seq = ++next_seq_;
      sendUpstream(p);
      timeouts_.push_back({now + options_.upstream_timeout, t.id, p.seq});
      continue;
    }
    p.query[0] = static_cast<uint8_t>(p.client_id >> 8);
    p.query[1] = static_cast<uint8_t>(p.client_id);
    failureReply(p.query, kRcodeServFail, scratch_);
    Client client = p.client;
    pending_.erase(it);
    deliver(client, scratch_);
  }
  if (now >= next_sweep_) {
    next_sweep_ = now + kSweepPeriod;
    std::vector<uint64_t> idle;
    for (const auto& [id, c] : conns_)
      if (now - c.last_active >= options_.tcp_idle_timeout) idle.push_back(id);
    for (uint64_t id : idle) closeConn(id);
  }
}

void DnsWorker::deliver(const Client& client, std::span<const uint8_t> message, bool from_upstream) {
  if (!client.tcp) {
    if (message.empty()) return;
    ::sendto(udp_fd_, message.data(), message.size(), MSG_DONTWAIT,
             reinterpret_cast<const sockaddr*>(&client.addr), client.addr_len);
    return;
  }
  auto it = conns_.find(client.conn);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  if (from_upstream && c.forwards > 0) --c.forwards;
  if (!message.empty()) {
    c.out.push_back(static_cast<uint8_t>(message.size() >> 8));
    c.out.push_back(static_cast<uint8_t>(message.size()));
    c.out.insert(c.out.end(), message.begin(), message.end());
  }
  if (from_upstream) flushConn(client.conn, c);
}

}  // namespace capstan::dns
