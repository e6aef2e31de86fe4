// The kubelet API server of the agent (agent/streaming) against real
// containers: logs (plain, tail, follow to the container's exit), exec over
// WebSocket (v5: stdout, stderr, stdin, exit codes), exec over SPDY, and
// port-forward over SPDY (plain and tunnelled in a WebSocket) to an httpd
// in the pod's network namespace. The clients below speak the wire
// protocols directly, as kubectl does.

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <gtest/gtest.h>

#include <thread>

#include "agent/streaming/kubelet_server.h"
#include "agent/streaming/spdy_codec.h"
#include "common/json.h"
#include "runtime/fixture.h"

namespace capstan::agent::testing {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using streaming::KubeletServer;

const std::string kToken = "test-join-token";

class KubeletServerTest : public RuntimeFixture {
 protected:
  void SetUp() override {
    RuntimeFixture::SetUp();
    streaming::KubeletServerOptions o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    o.tls_dir = root_ + "/kubelet-tls";
    o.token = kToken;
    auto s = KubeletServer::start(o, *runtime_);
    ASSERT_TRUE(s) << s.status().message();
    server_ = std::move(*s);
  }
  void TearDown() override {
    server_.reset();
    RuntimeFixture::TearDown();
  }

  // Starts a container labelled as the pod worker labels them.
  runtime::ContainerStatus startContainer(const std::string& name, std::vector<std::string> args, int attempt = 0,
                                          const network::Sandbox* sb = nullptr) {
    auto spec = containerSpec(name + "-" + std::to_string(attempt), std::move(args), sb);
    spec.labels = {{streaming::kPodNamespaceLabel, "default"},
                   {streaming::kPodNameLabel, "pod"},
                   {streaming::kPodUidLabel, pod_uid_},
                   {streaming::kContainerNameLabel, name},
                   {streaming::kContainerAttemptLabel, std::to_string(attempt)}};
    auto st = runtime_->start(spec);
    EXPECT_TRUE(st) << st.status().message();
    return st ? *st : runtime::ContainerStatus{};
  }

  struct Conn {
    net::io_context ioc;
    ssl::context ctx{ssl::context::tls_client};
    beast::ssl_stream<beast::tcp_stream> stream{ioc, ctx};
    beast::flat_buffer buffer;
  };
  std::unique_ptr<Conn> connect() {
    auto c = std::make_unique<Conn>();
    c->ctx.set_verify_mode(ssl::verify_none);
    beast::get_lowest_layer(c->stream).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
    c->stream.handshake(ssl::stream_base::client);
    return c;
  }

  // A plain GET; returns status and the whole body (the server ends it).
  std::pair<int, std::string> get(const std::string& target, const std::string& token = kToken) {
    auto c = connect();
    http::request<http::empty_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    http::write(c->stream, req);
    http::response<http::string_body> res;
    beast::error_code ec;
    http::read(c->stream, c->buffer, res, ec);
    return {res.result_int(), res.body()};
  }

  std::unique_ptr<KubeletServer> server_;
};

struct WsResult {
  std::string out, err, status;
};

// A kubectl-like WebSocket exec client (v5.channel.k8s.io).
WsResult wsExec(uint16_t port, const std::string& target, const std::string& stdin_data, bool close_stdin) {
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  ctx.set_verify_mode(ssl::verify_none);
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(ioc, ctx);
  beast::get_lowest_layer(ws).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(20));
  ws.next_layer().handshake(ssl::stream_base::client);
  ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
    req.set(http::field::sec_websocket_protocol, "v5.channel.k8s.io");
    req.set(http::field::authorization, "Bearer " + kToken);
  }));
  websocket::response_type res;
  ws.handshake(res, "127.0.0.1", target);
  EXPECT_EQ(res[http::field::sec_websocket_protocol], "v5.channel.k8s.io");
  ws.binary(true);
  if (!stdin_data.empty()) ws.write(net::buffer(std::string(1, '\0') + stdin_data));
  if (close_stdin) ws.write(net::buffer(std::string("\xff\x00", 2)));
  WsResult r;
  while (true) {
    beast::flat_buffer b;
    beast::error_code ec;
    ws.read(b, ec);
    if (ec) break;
    std::string m = beast::buffers_to_string(b.data());
    if (m.empty()) continue;
    if (m[0] == 1) r.out += m.substr(1);
    if (m[0] == 2) r.err += m.substr(1);
    if (m[0] == 3) r.status += m.substr(1);
  }
  return r;
}

TEST_F(KubeletServerTest, LogsTailAndFollowUntilExit) {
  // Nothing without the token.
  EXPECT_EQ(get("/containerLogs/default/pod/c", "").first, 401);
  EXPECT_EQ(get("/containerLogs/default/pod/c", "wrong").first, 401);
  EXPECT_EQ(get("/containerLogs/default/pod/nope").first, 404);

  auto c = startContainer("c", {"/bin/sh", "-c", "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; sleep 1; echo four; echo five"});
  ASSERT_EQ(c.state, runtime::ContainerState::kRunning);
  // Follow from the start: ends by itself once the container exited.
  auto t0 = std::chrono::steady_clock::now();
  auto [code, body] = get("/containerLogs/default/pod/c?follow=true");
  EXPECT_EQ(code, 200);
  EXPECT_EQ(body, "one\ntwo\nthree\nfour\nfive\n");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_EQ(get("/containerLogs/default/pod/c?tailLines=2").second, "four\nfive\n");
  EXPECT_EQ(get("/containerLogs/default/pod/c?limitBytes=6").second, "one\ntw");
  auto ts = get("/containerLogs/default/pod/c?timestamps=true&tailLines=1").second;
  EXPECT_EQ(ts.size(), 31u + 5u) << ts;
  EXPECT_EQ(get("/containerLogs/default/pod/c?tailLines=x").first, 400);
  EXPECT_EQ(get("/containerLogs/default/pod/c?previous=true").first, 400);

  // A restart: attempt 1 is current, attempt 0 previous.
  auto c1 = startContainer("c", {"/bin/sh", "-c", "echo again"}, 1);
  (void)runtime_->waitExit(c1.id, std::chrono::seconds(10));
  EXPECT_EQ(get("/containerLogs/default/pod/c").second, "again\n");
  EXPECT_EQ(get("/containerLogs/default/pod/c?previous=true&tailLines=1").second, "five\n");
}

TEST_F(KubeletServerTest, WebSocketExec) {
  auto c = startContainer("c", {"/bin/sleep", "3600"});
  ASSERT_EQ(c.state, runtime::ContainerState::kRunning);
  auto r = wsExec(server_->port(),
                  "/exec/default/pod/c?command=/bin/sh&command=-c&command=echo%20out;%20echo%20err%20%3E%262;%20exit%203"
                  "&stdout=true&stderr=true",
                  "", false);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  Json st = Json::parse(r.status);
  EXPECT_EQ(st["status"], "Failure");
  EXPECT_EQ(st["reason"], "NonZeroExitCode");
  EXPECT_EQ(st["details"]["causes"][0]["message"], "3");

  // stdin through, then EOF by v5's close signal.
  r = wsExec(server_->port(), "/exec/default/pod/c?command=/bin/cat&stdin=true&stdout=true&stderr=true", "piped\n",
             true);
  EXPECT_EQ(r.out, "piped\n");
  EXPECT_EQ(Json::parse(r.status)["status"], "Success");
}

// SPDY over an upgraded TLS connection, as kubectl's SPDY round tripper.
struct SpdyClient {
  std::unique_ptr<net::io_context> ioc = std::make_unique<net::io_context>();
  ssl::context ctx{ssl::context::tls_client};
  beast::ssl_stream<beast::tcp_stream> stream{*ioc, ctx};
  std::unique_ptr<websocket::stream<beast::ssl_stream<beast::tcp_stream>&>> ws;  // tunnelled
  streaming::spdy::FrameEncoder enc;
  streaming::spdy::FrameDecoder dec;
  std::string pending;

  int open(uint16_t port, const std::string& target, const std::string& protocol, bool tunnel) {
    ctx.set_verify_mode(ssl::verify_none);
    beast::get_lowest_layer(stream).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(20));
    stream.handshake(ssl::stream_base::client);
    if (tunnel) {
      ws = std::make_unique<websocket::stream<beast::ssl_stream<beast::tcp_stream>&>>(stream);
      ws->set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
        req.set(http::field::sec_websocket_protocol, "SPDY/3.1+portforward.k8s.io");
        req.set(http::field::authorization, "Bearer " + kToken);
      }));
      ws->handshake("127.0.0.1", target);
      ws->binary(true);
      return 101;
    }
    http::request<http::empty_body> req(http::verb::post, target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::authorization, "Bearer " + kToken);
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::upgrade, "SPDY/3.1");
    req.set("X-Stream-Protocol-Version", protocol);
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response_parser<http::empty_body> p;
    http::read_header(stream, buf, p);
    pending = beast::buffers_to_string(buf.data());
    return p.get().result_int();
  }
  void send(const std::string& bytes) {
    if (ws) ws->write(net::buffer(bytes));
    else net::write(stream, net::buffer(bytes));
  }
  // Next frames; empty at EOF.
  std::vector<streaming::spdy::Frame> read() {
    std::vector<streaming::spdy::Frame> frames;
    if (!pending.empty()) {
      EXPECT_TRUE(dec.feed(pending, &frames));
      pending.clear();
      if (!frames.empty()) return frames;
    }
    while (frames.empty()) {
      beast::error_code ec;
      std::string chunk;
      if (ws) {
        beast::flat_buffer b;
        ws->read(b, ec);
        chunk = beast::buffers_to_string(b.data());
      } else {
        char buf[8192];
        size_t n = stream.read_some(net::buffer(buf), ec);
        chunk.assign(buf, n);
      }
      if (ec) return frames;
      EXPECT_TRUE(dec.feed(chunk, &frames));
    }
    return frames;
  }
};

TEST_F(KubeletServerTest, SpdyExec) {
  auto c = startContainer("c", {"/bin/sleep", "3600"});
  SpdyClient s;
  ASSERT_EQ(s.open(server_->port(), "/exec/default/pod/c?command=/bin/sh&command=-c&command=cat;echo%20e%3E%262;exit%205"
                   "&stdin=true&stdout=true&stderr=true",
                   "v4.channel.k8s.io", false),
            101);
  s.send(s.enc.synStream(1, {{"streamtype", "error"}}, false));
  s.send(s.enc.synStream(3, {{"streamtype", "stdin"}}, false));
  s.send(s.enc.synStream(5, {{"streamtype", "stdout"}}, false));
  s.send(s.enc.synStream(7, {{"streamtype", "stderr"}}, false));
  s.send(s.enc.data(3, "spdy in\n", true));
  std::string out, err, status;
  for (auto frames = s.read(); !frames.empty(); frames = s.read()) {
    for (auto& f : frames) {
      if (f.type != streaming::spdy::FrameType::kData) continue;
      if (f.stream_id == 5) out += f.data;
      if (f.stream_id == 7) err += f.data;
      if (f.stream_id == 1) status += f.data;
    }
  }
  EXPECT_EQ(out, "spdy in\n");
  EXPECT_EQ(err, "e\n");
  ASSERT_FALSE(status.empty());
  EXPECT_EQ(Json::parse(status)["details"]["causes"][0]["message"], "5");
}

TEST_F(KubeletServerTest, PortForwardToHttpdInThePod) {
  auto sb = network_->createSandbox("pf", "pf-pod");
  ASSERT_TRUE(sb) << sb.status().message();
  auto c = startContainer("web", {"/bin/httpd", "-f", "-p", "8080", "-h", "/www"}, 0, &*sb);
  ASSERT_EQ(c.state, runtime::ContainerState::kRunning);
  for (bool tunnel : {false, true}) {
    SCOPED_TRACE(tunnel ? "websocket tunnel" : "spdy");
    SpdyClient s;
    ASSERT_EQ(s.open(server_->port(), "/portForward/default/pod", "portforward.k8s.io", tunnel), 101);
    s.send(s.enc.synStream(1, {{"streamtype", "error"}, {"port", "8080"}, {"requestid", "0"}}, false));
    s.send(s.enc.synStream(3, {{"streamtype", "data"}, {"port", "8080"}, {"requestid", "0"}}, false));
    s.send(s.enc.data(3, "GET / HTTP/1.0\r\n\r\n", false));
    std::string body, error;
    bool fin = false;
    while (!fin) {
      auto frames = s.read();
      if (frames.empty()) break;
      for (auto& f : frames) {
        if (f.type != streaming::spdy::FrameType::kData) continue;
        if (f.stream_id == 3) body += f.data;
        if (f.stream_id == 1) error += f.data;
        if (f.stream_id == 3 && f.fin()) fin = true;
      }
    }
    EXPECT_TRUE(fin);
    EXPECT_EQ(error, "");
    EXPECT_NE(body.find("hello from pod"), std::string::npos) << body;
  }
}

}  // namespace
}  // namespace capstan::agent::testing
