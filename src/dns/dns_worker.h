#pragma once
// One server thread: its own SO_REUSEPORT UDP socket and TCP listener (the
// kernel spreads clients over the workers), its TCP connections, and its
// own upstream socket and table of forwarded queries, all driven by one
// epoll loop. Nothing is shared between workers but the RecordStore, whose
// snapshot a worker re-reads only when the store's generation moved.
//
// Fairness under floods: each wake-up handles a bounded amount of work per
// socket (a few recvmmsg batches of UDP, one read per TCP connection), and
// forwarding never waits: queries go upstream without blocking and their
// answers come back as events, so a slow upstream or a flooding client
// cannot stall answers for cluster names. Forwarded queries in flight, TCP
// connections and TCP output per connection are capped.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "dns/record_store.h"
#include "dns/socket_address.h"

namespace capstan::dns {

struct WorkerOptions {
  std::vector<SocketAddress> upstreams;              // empty: names outside the zone get REFUSED
  std::chrono::milliseconds upstream_timeout{2000};  // per upstream tried, then the next one
  std::chrono::milliseconds tcp_idle_timeout{10000};
  size_t max_tcp_connections = 1024;
  size_t max_pending_forwards = 4096;
  const Clock* clock = &SystemClock::instance();
};

class DnsWorker {
 public:
  // Takes ownership of the bound UDP socket and the listening TCP socket
  // (both non-blocking); `records` must outlive the worker.
  static Result<std::unique_ptr<DnsWorker>> create(int udp_fd, int tcp_fd, const RecordStore& records,
                                                   WorkerOptions options);
  ~DnsWorker();
  DnsWorker(const DnsWorker&) = delete;
  DnsWorker& operator=(const DnsWorker&) = delete;

  void start();
  // Stops the loop and closes every socket; idempotent.
  void stop();

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Client {
    bool tcp = false;
    uint64_t conn = 0;        // TCP: the connection's id (it may be gone by the answer)
    sockaddr_storage addr{};  // UDP: where the query came from
    socklen_t addr_len = 0;
  };
  struct Pending {
    uint16_t client_id = 0;
    Client client;
    std::vector<uint8_t> query;  // with our id
    size_t upstream = 0;
    size_t attempts = 0;
    uint64_t seq = 0;
  };
  struct Timeout {
    TimePoint deadline;
    uint16_t id;
    uint64_t seq;
  };
  struct Conn {
    int fd = -1;
    std::vector<uint8_t> in;
    std::vector<uint8_t> out;
    size_t out_sent = 0;
    TimePoint last_active;
    bool peer_closed = false;
    size_t forwards = 0;  // its queries waiting for an upstream
    uint32_t events = 0;  // what epoll watches now
  };

  DnsWorker(int udp_fd, int tcp_fd, const RecordStore& records, WorkerOptions options);
  Status init();
  void run();
  void refreshZone();
  int nextTimeoutMs(TimePoint now) const;
  void serveUdp();
  void acceptTcp();
  void connEvent(uint64_t id, uint32_t events);
  // Each returns false when it closed the connection.
  bool readConn(uint64_t id, Conn& c);
  bool flushConn(uint64_t id, Conn& c);
  void watchConn(uint64_t id, Conn& c);
  void closeConn(uint64_t id);
  void forward(std::span<const uint8_t> query, const Client& client);
  bool sendUpstream(Pending& p);
  void readUpstream(int fd);
  void expire(TimePoint now);
  // An answer for a forwarded query (`from_upstream`: from the upstream's
  // reply or its timeout; else at once, because forwarding was not
  // possible). To a TCP client it is queued, and sent at once only when
  // `from_upstream` (otherwise its connection is being read and flushes).
  void deliver(const Client& client, std::span<const uint8_t> message, bool from_upstream = true);
  int upstreamFd(const SocketAddress& a) const;

  int udp_fd_;
  int tcp_fd_;
  const RecordStore& records_;
  WorkerOptions options_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int upstream4_fd_ = -1;
  int upstream6_fd_ = -1;
  std::thread thread_;

  // Everything below belongs to the worker's thread.
  std::shared_ptr<const ZoneSnapshot> zone_;
  uint64_t zone_generation_ = ~uint64_t{0};
  std::unordered_map<uint64_t, Conn> conns_;
  uint64_t next_conn_id_;
  std::unordered_map<uint16_t, Pending> pending_;
  std::deque<Timeout> timeouts_;  // in deadline order: every timeout has the same length
  uint64_t next_seq_ = 0;
  size_t next_upstream_ = 0;
  std::mt19937 random_;
  TimePoint next_sweep_;
  std::vector<uint8_t> receive_buffers_;         // UDP batch
  std::vector<std::vector<uint8_t>> responses_;  // one per UDP batch slot
  std::vector<uint8_t> upstream_buffer_;
  std::vector<uint8_t> scratch_;
};

}  // namespace capstan::dns
