// The DNS server on 127.0.0.1 against a real ApiServer (memory store):
// Services created through the API resolve over UDP and TCP, other names go
// to a stub upstream this test runs, and neither malformed queries, floods
// nor a dead upstream stop it answering.
#include "dns/dns_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "apiserver/api_server.h"
#include "client/client.h"
#include "client/informer.h"
#include "dns_test_helpers.h"
#include "unit/testing/test_api_server.h"

namespace capstan::dns {
namespace {

using namespace std::chrono_literals;
using testing::makeQuery;
using testing::parseReply;
using testing::Reply;

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A UDP socket on loopback that queries the server.
class UdpClient {
 public:
  explicit UdpClient(int port) : to_(loopback(port)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in any = loopback(0);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&any), sizeof(any)), 0);
  }
  ~UdpClient() { ::close(fd_); }
  bool send(const std::vector<uint8_t>& q) {
    return ::sendto(fd_, q.data(), q.size(), 0, reinterpret_cast<const sockaddr*>(&to_), sizeof(to_)) ==
           static_cast<ssize_t>(q.size());
  }
  // The next datagram, or empty after `timeout`.
  std::vector<uint8_t> receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return {};
    std::vector<uint8_t> buf(65535);
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return buf;
  }
  // Asks, retrying like a stub resolver, until the answer with the query's id.
  Reply ask(const std::vector<uint8_t>& q, int tries = 3, std::chrono::milliseconds timeout = 500ms) {
    for (int t = 0; t < tries; ++t) {
      send(q);
      auto deadline = std::chrono::steady_clock::now() + timeout;
      while (std::chrono::steady_clock::now() < deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        auto bytes = receive(left);
        if (bytes.empty()) break;
        Reply r = parseReply(bytes);
        if (r.parsed && r.id == static_cast<uint16_t>(q[0] << 8 | q[1])) return r;
      }
    }
    return {};
  }
  int fd() const { return fd_; }

 private:
  int fd_;
  sockaddr_in to_;
};

// A TCP connection to the server, queries length-prefixed.
class TcpClient {
 public:
  explicit TcpClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to = loopback(port);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0;
  }
  ~TcpClient() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool send(const std::vector<std::vector<uint8_t>>& queries, int flags = 0) {
    std::vector<uint8_t> out;
    for (const auto& q : queries) {
      out.push_back(static_cast<uint8_t>(q.size() >> 8));
      out.push_back(static_cast<uint8_t>(q.size()));
      out.insert(out.end(), q.begin(), q.end());
    }
    return ::send(fd_, out.data(), out.size(), MSG_NOSIGNAL | flags) == static_cast<ssize_t>(out.size());
  }
  // The next `n` answers (fewer when the server closes or `timeout` passes).
  std::vector<Reply> receive(size_t n, std::chrono::milliseconds timeout = 3s) {
    std::vector<Reply> out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n) {
      while (buf_.size() >= 2) {
        size_t len = static_cast<size_t>(buf_[0] << 8 | buf_[1]);
        if (buf_.size() < 2 + len) break;
        out.push_back(parseReply(std::span<const uint8_t>(buf_.data() + 2, len)));
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(2 + len));
      }
      if (out.size() >= n || !readSome(deadline)) break;
    }
    return out;
  }
  // True when the server closed the connection before `timeout`.
  bool closedWithin(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (readSome(deadline)) {
    }
    return eof_;
  }

 private:
  bool readSome(std::chrono::steady_clock::time_point deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    uint8_t chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.insert(buf_.end(), chunk, chunk + n);
    return true;
  }
  int fd_;
  bool connected_ = false;
  bool eof_ = false;
  std::vector<uint8_t> buf_;
};

// The upstream resolver of the tests: answers every A question with
// 192.0.2.1, or (silent) never answers.
class StubUpstream {
 public:
  explicit StubUpstream(bool silent) : silent_(silent) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback(0);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~StubUpstream() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int queries() const { return queries_.load(); }

 private:
  void run() {
    std::vector<uint8_t> buf(65535);
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      sockaddr_in from{};
      socklen_t from_len = sizeof(from);
      ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n <= 0) continue;
      ++queries_;
      if (silent_) continue;
      ldns_pkt* q = nullptr;
      if (ldns_wire2pkt(&q, buf.data(), static_cast<size_t>(n)) != LDNS_STATUS_OK) continue;
      ldns_pkt* r = ldns_pkt_new();
      ldns_pkt_set_id(r, ldns_pkt_id(q));
      ldns_pkt_set_qr(r, true);
      ldns_pkt_set_ra(r, true);
      ldns_rr* question = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q), 0));
      char* owner = ldns_rdf2str(ldns_rr_owner(question));
      ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, question);
      ldns_rr* a = nullptr;
      if (ldns_rr_new_frm_str(&a, (std::string(owner) + " 60 IN A 192.0.2.1").c_str(), 0, nullptr, nullptr) ==
          LDNS_STATUS_OK)
        ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, a);
      free(owner);  // NOLINT: ldns allocates with malloc
      uint8_t* wire = nullptr;
      size_t size = 0;
      if (ldns_pkt2wire(&wire, r, &size) == LDNS_STATUS_OK)
        ::sendto(fd_, wire, size, 0, reinterpret_cast<sockaddr*>(&from), from_len);
      free(wire);  // NOLINT
      ldns_pkt_free(r);
      ldns_pkt_free(q);
    }
  }
  bool silent_;
  int fd_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

class DnsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_unique<test_support::TestApiServer>("capstan-dns");
    ASSERT_TRUE(api_->ok());
    client_ =
        api_->adminClient();
    informers_ = std::make_unique<client::InformerFactory>(*client_, 0ms);
  }
  void TearDown() override {
    if (dns_) dns_->stop();
    if (informers_) informers_->stop();
    dns_.reset();
    informers_.reset();
    client_.reset();
    api_.reset();
  }
  // Starts the DNS server (before the informers, as its contract asks) and
  // waits until the zone is synced: a cluster name then gets NXDOMAIN, not SERVFAIL.
  void startDns(DnsServerOptions o) {
    o.address = "127.0.0.1";
    o.port = 0;
    auto d = DnsServer::start(o, *informers_);
    ASSERT_TRUE(d) << d.status().message();
    dns_ = std::move(*d);
    ASSERT_GT(dns_->port(), 0);
    informers_->start();
    ASSERT_TRUE(informers_->waitForSync(5s));
    UdpClient udp(dns_->port());
    ASSERT_TRUE(eventually([&] {
      return udp.ask(makeQuery("nothing.default.svc.cluster.local.", LDNS_RR_TYPE_A)).rcode ==
             LDNS_RCODE_NXDOMAIN;
    }));
  }
  template <typename F>
  static bool eventually(F f, std::chrono::milliseconds limit = 5s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(1ms);
    }
    return f();
  }
  Json createService(const std::string& name) {
    Json svc = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec", {{"ports", {{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}}}}}}};
    auto r = client_->create(client::res::kServices, "default", svc);
    EXPECT_TRUE(r) << r.status().message();
    return r ? *r : Json();
  }

  std::unique_ptr<test_support::TestApiServer> api_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::unique_ptr<DnsServer> dns_;
};

TEST_F(DnsServerTest, ServiceResolvesOverUdpAndTcpRightAfterCreation) {
  StubUpstream upstream(false);
  startDns({.upstreams = std::vector<std::string>{upstream.address()}});
  UdpClient udp(dns_->port());

  Json svc = createService("web");
  std::string ip = getString(objectAt(svc, "spec"), "clusterIP");
  ASSERT_FALSE(ip.empty());
  const std::string expected = "web.default.svc.cluster.local. 5 IN A " + ip;
  auto created = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] {
    Reply r = udp.ask(makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A));
    return r.rcode == LDNS_RCODE_NOERROR && r.answer == std::vector<std::string>{expected};
  }));
  auto latency =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - created);
  EXPECT_LT(latency, 2s);
  RecordProperty("resolvable_after_ms", static_cast<int>(latency.count()));

  // TCP: several queries on one connection, answered in order.
  TcpClient tcp(dns_->port());
  ASSERT_TRUE(tcp.connected());
  ASSERT_TRUE(tcp.send({makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A, {.id = 1}),
                        makeQuery("_http._tcp.web.default.svc.cluster.local.", LDNS_RR_TYPE_SRV, {.id = 2}),
                        makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_AAAA, {.id = 3})}));
  auto replies = tcp.receive(3);
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0].id, 1);
  EXPECT_EQ(replies[0].answer, std::vector<std::string>{expected});
  EXPECT_EQ(replies[1].id, 2);
  EXPECT_EQ(replies[1].answer,
            std::vector<std::string>{"_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 "
                                     "web.default.svc.cluster.local."});
  EXPECT_EQ(replies[2].id, 3);
  EXPECT_EQ(replies[2].rcode, LDNS_RCODE_NOERROR);
  EXPECT_TRUE(replies[2].answer.empty());
  EXPECT_EQ(upstream.queries(), 0);  // cluster names never go upstream

  // Deleted, it is gone as quickly.
  ASSERT_TRUE(client_->remove(client::res::kServices, "default", "web"));
  EXPECT_TRUE(eventually([&] {
    return udp.ask(makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A)).rcode == LDNS_RCODE_NXDOMAIN;
  }));
}

TEST_F(DnsServerTest, ForwardsOtherNamesToTheUpstream) {
  StubUpstream upstream(false);
  startDns({.upstreams = std::vector<std::string>{upstream.address()}});
  UdpClient udp(dns_->port());
  Reply r = udp.ask(makeQuery("www.example.org.", LDNS_RR_TYPE_A, {.id = 4242}));
  EXPECT_EQ(r.id, 4242);
  EXPECT_EQ(r.rcode, LDNS_RCODE_NOERROR);
  EXPECT_EQ(r.answer, std::vector<std::string>{"www.example.org. 60 IN A 192.0.2.1"});

  TcpClient tcp(dns_->port());
  ASSERT_TRUE(tcp.send({makeQuery("api.example.org.", LDNS_RR_TYPE_A, {.id = 7}),
                        makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A, {.id = 8})}));
  auto replies = tcp.receive(2);
  ASSERT_EQ(replies.size(), 2u);
  // The cluster answer does not wait for the upstream's.
  std::map<uint16_t, Reply> by_id;
  for (auto& rep : replies) by_id[rep.id] = rep;
  EXPECT_EQ(by_id[7].answer, std::vector<std::string>{"api.example.org. 60 IN A 192.0.2.1"});
  EXPECT_EQ(by_id[8].rcode, LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(upstream.queries(), 2);
}

TEST_F(DnsServerTest, DeadUpstreamNeitherStallsClusterAnswersNorHangsClients) {
  StubUpstream dead(true);
  startDns({.upstreams = std::vector<std::string>{dead.address()}, .upstream_timeout = 400ms});
  createService("web");
  UdpClient probe(dns_->port());
  ASSERT_TRUE(eventually([&] {
    return !probe.ask(makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A)).answer.empty();
  }));

  UdpClient external(dns_->port());
  for (uint16_t i = 0; i < 200; ++i) external.send(makeQuery("slow.example.org.", LDNS_RR_TYPE_A, {.id = i}));
  auto start = std::chrono::steady_clock::now();
  Reply r = probe.ask(makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A, {.id = 999}), 1, 1s);
  EXPECT_EQ(r.answer.size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 300ms);

  // Every forwarded query ends in SERVFAIL once the upstream timed out.
  int servfails = 0;
  while (servfails < 200) {
    auto bytes = external.receive(2s);
    if (bytes.empty()) break;
    if (parseReply(bytes).rcode == LDNS_RCODE_SERVFAIL) ++servfails;
  }
  EXPECT_EQ(servfails, 200);
  EXPECT_GE(dead.queries(), 200);
}

TEST_F(DnsServerTest, MalformedQueriesAndFloodsDoNotStopTheServer) {
  startDns({.upstreams = std::vector<std::string>{}, .threads = 2});
  createService("web");
  UdpClient probe(dns_->port());
  ASSERT_TRUE(eventually([&] {
    return !probe.ask(makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A)).answer.empty();
  }));

  // Garbage with a header: FORMERR, and the server keeps serving.
  std::vector<uint8_t> garbage = {0xAB, 0xCD, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0x3F, 'x',  'y',  0xC0, 0xFF};
  probe.send(garbage);
  Reply bad = parseReply(probe.receive(2s));
  EXPECT_EQ(bad.id, 0xABCD);
  EXPECT_EQ(bad.rcode, LDNS_RCODE_FORMERR);
  // Names outside the cluster without upstreams: REFUSED.
  EXPECT_EQ(probe.ask(makeQuery("example.org.", LDNS_RR_TYPE_A)).rcode, LDNS_RCODE_REFUSED);

  // A UDP flood and a TCP client that never reads its answers, while a
  // well-behaved client keeps asking.
  std::atomic<bool> flooding{true};
  std::atomic<int> sent{0};
  std::thread udp_flood([&] {
    UdpClient flood(dns_->port());
    auto q = makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A);
    while (flooding) {
      if (flood.send(q)) ++sent;
    }
  });
  TcpClient hog(dns_->port());
  std::thread tcp_flood([&] {
    std::vector<std::vector<uint8_t>> batch(200, makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A));
    while (flooding) {
      // Once the server stops reading the hog (its answers pile up), sends fail: back off.
      if (!hog.send(batch, MSG_DONTWAIT)) std::this_thread::sleep_for(1ms);
    }
  });
  std::this_thread::sleep_for(100ms);
  int answered = 0;
  std::chrono::nanoseconds worst{0};
  for (uint16_t i = 0; i < 50; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    Reply r = probe.ask(
        makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A, {.id = static_cast<uint16_t>(100 + i)}),
        5, 200ms);
    worst = std::max(worst, std::chrono::steady_clock::now() - t0);
    if (r.answer.size() == 1) ++answered;
  }
  TcpClient other(dns_->port());
  ASSERT_TRUE(other.send({makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A, {.id = 5})}));
  auto other_reply = other.receive(1, 2s);
  flooding = false;
  udp_flood.join();
  tcp_flood.join();
  EXPECT_EQ(answered, 50);
  EXPECT_LT(worst, 1s);
  ASSERT_EQ(other_reply.size(), 1u);
  EXPECT_EQ(other_reply[0].answer.size(), 1u);
  EXPECT_GT(sent.load(), 1000);
  RecordProperty("flood_queries_sent", sent.load());
}

TEST_F(DnsServerTest, IdleTcpConnectionsAreClosed) {
  startDns({.upstreams = std::vector<std::string>{}, .tcp_idle_timeout = 300ms});
  TcpClient tcp(dns_->port());
  ASSERT_TRUE(tcp.send({makeQuery("cluster.local.", LDNS_RR_TYPE_SOA)}));
  auto replies = tcp.receive(1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].answer.size(), 1u);
  EXPECT_TRUE(tcp.closedWithin(3s));
}

}  // namespace
}  // namespace capstan::dns
