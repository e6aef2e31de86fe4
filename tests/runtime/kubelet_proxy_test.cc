// The API server's side of the streaming subresources against a real
// agent-side KubeletServer and real containers: pods/log (with follow),
// pods/exec over WebSocket relayed byte for byte through the API server,
// and the upstream errors for a missing container or one not yet running.

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <gtest/gtest.h>

#include "agent/streaming/kubelet_server.h"
#include "apiserver/api_server.h"
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

const std::string kProxyToken = "proxy-join-token";

class KubeletProxyTest : public RuntimeFixture {
 protected:
  void SetUp() override {
    RuntimeFixture::SetUp();
    streaming::KubeletServerOptions o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    o.tls_dir = root_ + "/kubelet-tls";
    o.token = kProxyToken;
    auto s = streaming::KubeletServer::start(o, *runtime_);
    ASSERT_TRUE(s) << s.status().message();
    kubelet_ = std::move(*s);
    apiserver::ApiServerOptions a;
    a.data_dir = root_ + "/server";
    a.bind_address = "127.0.0.1";
    a.port = 0;
    a.token = kProxyToken;
    a.datastore_endpoint = "memory://";
    a.threads = 1;
    auto api = apiserver::ApiServer::start(a);
    ASSERT_TRUE(api) << api.status().message();
    api_ = std::move(*api);
  }
  void TearDown() override {
    api_.reset();
    kubelet_.reset();
    RuntimeFixture::TearDown();
  }

  void call(const std::string& method, const std::string& path, const Json& body, int want) {
    auto r = api_->call(method, path, body.dump());
    EXPECT_EQ(r.status, want) << method << " " << path << ": " << r.body;
  }

  std::pair<int, std::string> get(const std::string& target) {
    net::io_context ioc;
    ssl::context ctx{ssl::context::tls_client};
    ctx.set_verify_mode(ssl::verify_none);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    beast::get_lowest_layer(stream).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), api_->port()));
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(20));
    stream.handshake(ssl::stream_base::client);
    http::request<http::empty_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::authorization, "Bearer " + kProxyToken);
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    beast::error_code ec;
    http::read(stream, buf, res, ec);
    return {res.result_int(), res.body()};
  }

  std::unique_ptr<streaming::KubeletServer> kubelet_;
  std::unique_ptr<apiserver::ApiServer> api_;
};

TEST_F(KubeletProxyTest, LogsAndExecThroughTheApiServer) {
  auto spec = containerSpec("c-0", {"/bin/sh", "-c", "echo hello; sleep 1; echo bye; sleep 3600"});
  spec.labels = {{streaming::kPodNamespaceLabel, "default"}, {streaming::kPodNameLabel, "p"},
                 {streaming::kPodUidLabel, pod_uid_},      {streaming::kContainerNameLabel, "c"},
                 {streaming::kContainerAttemptLabel, "0"}};
  auto st = runtime_->start(spec);
  ASSERT_TRUE(st) << st.status().message();

  Json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "n1"}}}};
  call("POST", "/api/v1/nodes", node, 201);
  node["status"] = {{"addresses", Json::array({{{"type", "InternalIP"}, {"address", "127.0.0.1"}}})},
                    {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", kubelet_->port()}}}}}};
  call("PUT", "/api/v1/nodes/n1/status", node, 200);
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "p"}, {"namespace", "default"}}},
              {"spec", {{"nodeName", "n1"}, {"containers", Json::array({{{"name", "c"}, {"image", "busybox"}}})}}}};
  call("POST", "/api/v1/namespaces/default/pods", pod, 201);

  // Not running yet: the kubelet's message, as a 400.
  pod["status"] = Json::parse(R"({"phase":"Pending","containerStatuses":[{"name":"c","ready":false,"restartCount":0,
      "image":"busybox","imageID":"","state":{"waiting":{"reason":"ContainerCreating"}}}]})");
  call("PUT", "/api/v1/namespaces/default/pods/p/status", pod, 200);
  auto [code, body] = get("/api/v1/namespaces/default/pods/p/log?container=c");
  EXPECT_EQ(code, 400);
  EXPECT_NE(body.find("container \\\"c\\\" in pod \\\"p\\\" is waiting to start: ContainerCreating"),
            std::string::npos)
      << body;
  std::tie(code, body) = get("/api/v1/namespaces/default/pods/p/log?container=x");
  EXPECT_EQ(code, 400);
  EXPECT_NE(body.find("container x is not valid for pod p"), std::string::npos) << body;
  EXPECT_EQ(get("/api/v1/namespaces/default/pods/nope/log").first, 404);

  pod["status"]["phase"] = "Running";
  pod["status"]["containerStatuses"][0]["state"] = Json::parse(R"({"running":{"startedAt":"2024-01-01T00:00:00Z"}})");
  call("PUT", "/api/v1/namespaces/default/pods/p/status", pod, 200);
  std::tie(code, body) = get("/api/v1/namespaces/default/pods/p/log?container=c&limitBytes=6");
  EXPECT_EQ(code, 200);
  EXPECT_EQ(body, "hello\n");
  // Exec over WebSocket through the API server (before the stop lands).
  {
    net::io_context ioc;
    ssl::context ctx{ssl::context::tls_client};
    ctx.set_verify_mode(ssl::verify_none);
    websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(ioc, ctx);
    beast::get_lowest_layer(ws).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), api_->port()));
    beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(20));
    ws.next_layer().handshake(ssl::stream_base::client);
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(http::field::sec_websocket_protocol, "v5.channel.k8s.io");
      req.set(http::field::authorization, "Bearer " + kProxyToken);
    }));
    websocket::response_type res;
    ws.handshake(res, "127.0.0.1",
                 "/api/v1/namespaces/default/pods/p/exec?command=/bin/sh&command=-c&command=echo%20via;exit%202"
                 "&container=c&stdout=true&stderr=true");
    EXPECT_EQ(res[http::field::sec_websocket_protocol], "v5.channel.k8s.io");
    std::string out, status;
    while (true) {
      beast::flat_buffer b;
      beast::error_code ec;
      ws.read(b, ec);
      if (ec) break;
      std::string m = beast::buffers_to_string(b.data());
      if (!m.empty() && m[0] == 1) out += m.substr(1);
      if (!m.empty() && m[0] == 3) status += m.substr(1);
    }
    EXPECT_EQ(out, "via\n");
    ASSERT_FALSE(status.empty());
    EXPECT_EQ(Json::parse(status)["details"]["causes"][0]["message"], "2");
  }

  // Followed while it grows; the follow ends when the container stops.
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    (void)runtime_->stop(st->id, std::chrono::milliseconds(100));
  });
  std::tie(code, body) = get("/api/v1/namespaces/default/pods/p/log?container=c&follow=true");
  stopper.join();
  EXPECT_EQ(code, 200);
  EXPECT_EQ(body, "hello\nbye\n");
}

}  // namespace
}  // namespace capstan::agent::testing
