// The reverse proxy over real loopback sockets: small blocking backends
// that answer with their name and what they received, and a raw HTTP
// client, so that framing (keep-alive, chunked bodies, upgrades) is seen
// byte for byte.
#include "ingress/reverse_proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace capstan::ingress {
namespace {

int listenLoopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  listen(fd, 16);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

int connectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads until `done(received)` or the peer closes.
std::string receive(int fd, const std::function<bool(const std::string&)>& done) {
  std::string out;
  char buf[4096];
  while (!done(out)) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// One complete response with a Content-Length body.
bool haveResponse(const std::string& s) {
  auto end = s.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  auto cl = s.find("Content-Length: ");
  if (cl == std::string::npos || cl > end) return false;
  return s.size() >= end + 4 + std::stoul(s.substr(cl + 16));
}

std::string headerOf(const std::string& request, const std::string& name) {
  auto at = request.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  at += name.size() + 4;
  return request.substr(at, request.find("\r\n", at) - at);
}

// A backend that answers each request with "<name> <request line> xff=..
// host=.. body=<body>" and closes, or, for "Upgrade: echo", answers 101 and
// echoes bytes.
class UpstreamServer {
 public:
  explicit UpstreamServer(std::string name) : name_(std::move(name)) {
    fd_ = listenLoopback(&port_);
    thread_ = std::thread([this] { run(); });
  }
  ~UpstreamServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  int requests() const { return requests_; }

 private:
  void run() {
    for (;;) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req = receive(c, [](const std::string& s) -> bool {
        auto end = s.find("\r\n\r\n");
        if (end == std::string::npos) return false;
        if (headerOf(s.substr(0, end + 2), "Transfer-Encoding") == "chunked")
          return s.size() >= end + 9 && s.compare(s.size() - 5, 5, "0\r\n\r\n") == 0;
        std::string len = headerOf(s.substr(0, end + 2), "Content-Length");
        return s.size() >= end + 4 + (len.empty() ? 0 : std::stoul(len));
      });
      if (req.find("\r\n\r\n") == std::string::npos) {  // the proxy gave up on this one
        close(c);
        continue;
      }
      ++requests_;
      if (headerOf(req, "Upgrade") == "echo") {
        sendAll(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n");
        char buf[256];
        ssize_t n;
        while ((n = recv(c, buf, sizeof buf, 0)) > 0)
          sendAll(c, std::string_view(buf, static_cast<size_t>(n)));
      } else {
        std::string body = name_ + " " + req.substr(0, req.find("\r\n")) +
                           " xff=" + headerOf(req, "X-Forwarded-For") + " host=" + headerOf(req, "Host") +
                           " proto=" + headerOf(req, "X-Forwarded-Proto") +
                           " body=" + req.substr(req.find("\r\n\r\n") + 4);
        sendAll(c, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\nConnection: close\r\n\r\n" + body);
      }
      close(c);
    }
  }
  std::string name_;
  int fd_ = -1, port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// Resets every connection as soon as it accepts it (SO_LINGER 0), before
// reading anything: a backend going away as a request reaches it.
class ResettingBackend {
 public:
  ResettingBackend() {
    fd_ = listenLoopback(&port_);
    thread_ = std::thread([this] {
      for (;;) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        linger l{1, 0};
        setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        close(c);
      }
    });
  }
  ~ResettingBackend() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// A backend that keeps its connections open (HTTP/1.1 keep-alive) and
// counts them. With `close_on_reuse` it answers only the first request of
// each connection and closes it, unanswered, on the next one, as an
// upstream does when its idle timeout strikes just as a request comes.
class KeepAliveBackend {
 public:
  explicit KeepAliveBackend(bool close_on_reuse = false) : close_on_reuse_(close_on_reuse) {
    fd_ = listenLoopback(&port_);
    thread_ = std::thread([this] { run(); });
  }
  ~KeepAliveBackend() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
    std::lock_guard lock(mu_);
    for (int c : open_) shutdown(c, SHUT_RDWR);
    for (auto& t : connections_) t.join();
  }
  int port() const { return port_; }
  int connections() const { return accepted_; }

 private:
  void run() {
    for (;;) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++accepted_;
      std::lock_guard lock(mu_);
      open_.push_back(c);
      connections_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    for (int n = 0;; ++n) {
      std::string req = receive(c, [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; });
      if (req.find("\r\n\r\n") == std::string::npos || (close_on_reuse_ && n > 0)) break;
      std::string body = "served " + req.substr(0, req.find("\r\n"));
      sendAll(c, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    }
    shutdown(c, SHUT_RDWR);
  }
  bool close_on_reuse_;
  int fd_ = -1, port_ = 0;
  std::atomic<int> accepted_{0};
  std::mutex mu_;  // guards open_, connections_
  std::vector<int> open_;
  std::vector<std::thread> connections_;
  std::thread thread_;
};

std::shared_ptr<const RouteTable> routesTo(const std::map<std::string, std::vector<int>>& service_ports) {
  Inputs in;
  in.classes = {std::make_shared<const Json>(
      Json{{"metadata", {{"name", "capstan"}}}, {"spec", {{"controller", kControllerName}}}})};
  Json rules = Json::array();
  for (const auto& [svc, ports] : service_ports) {
    in.services.push_back(std::make_shared<const Json>(
        Json{{"metadata", {{"namespace", "default"}, {"name", svc}}},
             {"spec", {{"ports", Json::array({{{"name", "http"}, {"port", 80}}})}}}}));
    for (int p : ports)
      in.slices.push_back(std::make_shared<const Json>(Json{
          {"metadata",
           {{"namespace", "default"},
            {"name", svc + std::to_string(p)},
            {"labels", {{"kubernetes.io/service-name", svc}}}}},
          {"addressType", "IPv4"},
          {"endpoints", Json::array({{{"addresses", {"127.0.0.1"}}, {"conditions", {{"ready", true}}}}})},
          {"ports", Json::array({{{"name", "http"}, {"port", p}}})}}));
    rules.push_back(
        {{"host", svc + ".test"},
         {"http",
          {{"paths",
            Json::array({{{"path", "/"},
                          {"pathType", "Prefix"},
                          {"backend", {{"service", {{"name", svc}, {"port", {{"number", 80}}}}}}}}})}}}});
  }
  in.ingresses = {
      std::make_shared<const Json>(Json{{"metadata", {{"namespace", "default"}, {"name", "i"}}},
                                        {"spec", {{"ingressClassName", "capstan"}, {"rules", rules}}}})};
  return RouteTable::build(in);
}

class ReverseProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ReverseProxyOptions o;
    o.bind_address = "127.0.0.1";
    o.http_port = 0;
    o.https_port = -1;
    o.connect_timeout = std::chrono::seconds(1);
    auto p = ReverseProxy::start(o);
    ASSERT_TRUE(p) << p.status().message();
    proxy_ = std::move(*p);
  }
  std::string roundTrip(const std::string& request) {
    int fd = connectLoopback(proxy_->httpPort());
    EXPECT_GE(fd, 0);
    sendAll(fd, request);
    std::string out = receive(fd, haveResponse);
    close(fd);
    return out;
  }
  std::unique_ptr<ReverseProxy> proxy_;
};

TEST_F(ReverseProxyTest, RoutesByHostAndAddsForwardedHeaders) {
  UpstreamServer a("A"), b("B");
  proxy_->setRoutes(routesTo({{"a", {a.port()}}, {"b", {b.port()}}}));
  std::string ra = roundTrip("GET /x?y=1 HTTP/1.1\r\nHost: a.test\r\n\r\n");
  EXPECT_NE(ra.find("HTTP/1.1 200 OK"), std::string::npos) << ra;
  EXPECT_NE(ra.find("A GET /x?y=1 HTTP/1.1 xff=127.0.0.1 host=a.test proto=http body="), std::string::npos)
      << ra;
  std::string rb = roundTrip(
      "POST /p HTTP/1.1\r\nHost: b.test\r\nX-Forwarded-For: 192.0.2.1\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_NE(rb.find("B POST /p HTTP/1.1 xff=192.0.2.1, 127.0.0.1 host=b.test proto=http body=hello"),
            std::string::npos)
      << rb;
}

TEST_F(ReverseProxyTest, AnswersWhenThereIsNoRouteNoEndpointOrNoBackend) {
  int dead_port;
  int dead = listenLoopback(&dead_port);
  close(dead);  // nothing listens there any more
  proxy_->setRoutes(routesTo({{"empty", {}}, {"dead", {dead_port}}}));
  EXPECT_EQ(roundTrip("GET / HTTP/1.1\r\nHost: nosuch.test\r\n\r\n").rfind("HTTP/1.1 404 Not Found", 0), 0u);
  EXPECT_EQ(
      roundTrip("GET / HTTP/1.1\r\nHost: empty.test\r\n\r\n").rfind("HTTP/1.1 503 Service Unavailable", 0),
      0u);
  EXPECT_EQ(roundTrip("GET / HTTP/1.1\r\nHost: dead.test\r\n\r\n").rfind("HTTP/1.1 502 Bad Gateway", 0), 0u);
  // Not HTTP at all: 400, and the proxy keeps serving.
  EXPECT_EQ(roundTrip("\x01\x02garbage\r\n\r\n").rfind("HTTP/1.1 400 Bad Request", 0), 0u);
  EXPECT_EQ(roundTrip("GET / HTTP/1.1\r\nHost: nosuch.test\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
}

// Whether the reset reaches the proxy before or after it wrote the
// request, the client hears 502, never a connection closed unanswered.
TEST_F(ReverseProxyTest, AnUpstreamThatResetsGives502) {
  ResettingBackend backend;
  proxy_->setRoutes(routesTo({{"reset", {backend.port()}}}));
  for (int i = 0; i < 30; ++i) {
    std::string r = roundTrip("GET /r HTTP/1.1\r\nHost: reset.test\r\n\r\n");
    ASSERT_EQ(r.rfind("HTTP/1.1 502 Bad Gateway", 0), 0u) << i << ": " << r;
  }
}

TEST_F(ReverseProxyTest, KeepsClientConnectionsAliveAndSpreadsOverEndpoints) {
  UpstreamServer a("A"), b("B");
  proxy_->setRoutes(routesTo({{"s", {a.port(), b.port()}}}));
  int fd = connectLoopback(proxy_->httpPort());
  std::string seen;
  for (int i = 0; i < 4; ++i) {
    sendAll(fd, "GET / HTTP/1.1\r\nHost: s.test\r\n\r\n");
    std::string r = receive(fd, haveResponse);
    ASSERT_NE(r.find("200 OK"), std::string::npos) << i << r;
    EXPECT_EQ(r.find("Connection: close"), std::string::npos) << r;
    seen += r.substr(r.find("\r\n\r\n") + 4, 1);
  }
  close(fd);
  EXPECT_EQ(a.requests() + b.requests(), 4);
  EXPECT_GE(a.requests(), 1);
  EXPECT_GE(b.requests(), 1);
}

TEST_F(ReverseProxyTest, ChunkedRequestBodiesAreRelayed) {
  UpstreamServer a("A");
  proxy_->setRoutes(routesTo({{"a", {a.port()}}}));
  int fd = connectLoopback(proxy_->httpPort());
  sendAll(fd,
          "POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nConnection: "
          "close\r\n\r\n3\r\nabc\r\n");
  sendAll(fd, "2\r\nde\r\n0\r\n\r\n");
  std::string r = receive(fd, [](const std::string&) { return false; });
  close(fd);
  EXPECT_NE(r.find("200 OK"), std::string::npos) << r;
  // Re-chunked (Beast may merge chunks): decode and compare the payload.
  std::string chunked = r.substr(r.find("body=") + 5), payload;
  for (size_t at = 0;;) {
    size_t line_end = chunked.find("\r\n", at);
    ASSERT_NE(line_end, std::string::npos) << r;
    size_t size = std::stoul(chunked.substr(at, line_end - at), nullptr, 16);
    if (size == 0) break;
    payload += chunked.substr(line_end + 2, size);
    at = line_end + 2 + size + 2;
  }
  EXPECT_EQ(payload, "abcde");
}

TEST_F(ReverseProxyTest, ExpectContinueIsAnsweredBeforeTheBody) {
  UpstreamServer a("A");
  proxy_->setRoutes(routesTo({{"a", {a.port()}}}));
  int fd = connectLoopback(proxy_->httpPort());
  sendAll(fd,
          "PUT /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
          "Connection: close\r\n\r\n");
  // The interim answer comes without the body being sent (curl would wait 1 s).
  std::string interim = receive(fd, [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; });
  EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue\r\n", 0), 0u) << interim;
  sendAll(fd, "hello");
  std::string r = receive(fd, [](const std::string&) { return false; });
  close(fd);
  EXPECT_NE(r.find("200 OK"), std::string::npos) << r;
  EXPECT_NE(r.find("body=hello"), std::string::npos) << r;
  // A request with no route is refused before any body is sent.
  std::string refused = roundTrip(
      "PUT / HTTP/1.1\r\nHost: nowhere.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(refused.rfind("HTTP/1.1 404", 0), 0u) << refused;
}

TEST_F(ReverseProxyTest, UpgradeBecomesATunnel) {
  UpstreamServer a("A");
  proxy_->setRoutes(routesTo({{"a", {a.port()}}}));
  int fd = connectLoopback(proxy_->httpPort());
  sendAll(fd, "GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
  std::string head =
      receive(fd, [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; });
  EXPECT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  sendAll(fd, "ping");
  std::string echo = receive(fd, [](const std::string& s) { return s.size() >= 4; });
  EXPECT_EQ(echo, "ping");
  close(fd);
}

// Upstream connections are kept after a keep-alive answer and reused by
// later requests, whichever client sends them.
TEST_F(ReverseProxyTest, UpstreamConnectionsAreReused) {
  KeepAliveBackend backend;
  proxy_->setRoutes(routesTo({{"k", {backend.port()}}}));
  for (int i = 0; i < 5; ++i) {
    std::string r = roundTrip("GET /n" + std::to_string(i) + " HTTP/1.1\r\nHost: k.test\r\n\r\n");
    ASSERT_NE(r.find("200 OK"), std::string::npos) << i << r;
    EXPECT_NE(r.find("served GET /n" + std::to_string(i)), std::string::npos) << r;
  }
  EXPECT_EQ(backend.connections(), 1);
}

// A kept connection the upstream closes as the next request comes: a
// request without a body goes again on a new connection; one with a body
// is not sent twice (502).
TEST_F(ReverseProxyTest, AClosedKeptConnectionIsRetriedForRequestsWithoutBody) {
  KeepAliveBackend backend(/*close_on_reuse=*/true);
  proxy_->setRoutes(routesTo({{"k", {backend.port()}}}));
  for (int i = 0; i < 3; ++i) {
    std::string r = roundTrip("GET /r" + std::to_string(i) + " HTTP/1.1\r\nHost: k.test\r\n\r\n");
    ASSERT_NE(r.find("200 OK"), std::string::npos) << i << r;
    EXPECT_NE(r.find("served GET /r" + std::to_string(i)), std::string::npos) << r;
  }
  EXPECT_EQ(backend.connections(), 3);
  std::string post = roundTrip("POST /p HTTP/1.1\r\nHost: k.test\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_EQ(post.rfind("HTTP/1.1 502 Bad Gateway", 0), 0u) << post;
}

}  // namespace
}  // namespace capstan::ingress
