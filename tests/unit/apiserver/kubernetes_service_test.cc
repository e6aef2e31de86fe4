// default/kubernetes and its Endpoints and EndpointSlice: written at start
// with the advertise address and the bound port, left alone when nothing
// changed, rewritten by a restart with another address and port.
#include "apiserver/kubernetes_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/net_address.h"
#include "unit/testing/test_api_server.h"

namespace capstan::apiserver {
namespace {

using test_support::TestApiServer;

// The stored object named kubernetes in default.
Json stored(TestApiServer& api, const client::ResourceRef& resource) {
  auto obj = api.adminClient()->get(resource, "default", "kubernetes");
  EXPECT_TRUE(obj) << resource.resource << ": " << obj.status().message();
  return obj ? *obj : Json::object();
}

std::string rv(const Json& obj) { return getString(objectAt(obj, "metadata"), "resourceVersion"); }

// What the three objects should say for `address` and `port`.
void expectPointingAt(TestApiServer& api, const std::string& address, int port) {
  Json ports = Json::parse(R"([{"name":"https","port":0,"protocol":"TCP"}])");
  ports[0]["port"] = port;

  Json svc = stored(api, client::res::kServices);
  EXPECT_EQ(svc["spec"]["ports"][0]["port"], 443);
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], port);
  EXPECT_FALSE(svc["spec"].contains("selector"));

  Json ep = stored(api, client::res::kEndpoints);
  Json subsets = Json::array({{{"addresses", Json::array({{{"ip", address}}})}, {"ports", ports}}});
  EXPECT_EQ(ep["subsets"], subsets);
  EXPECT_EQ(ep["metadata"]["labels"], Json::parse(R"({"endpointslice.kubernetes.io/skip-mirror":"true"})"));

  Json slice = stored(api, client::res::kEndpointSlices);
  EXPECT_EQ(slice["metadata"]["labels"], Json::parse(R"({"kubernetes.io/service-name":"kubernetes"})"));
  EXPECT_EQ(slice["addressType"], "IPv4");
  EXPECT_EQ(slice["endpoints"],
            Json::array({{{"addresses", Json::array({address})}, {"conditions", {{"ready", true}}}}}));
  EXPECT_EQ(slice["ports"], ports);
}

TEST(KubernetesServiceTest, PointsAtTheAdvertiseAddressAndTheBoundPort) {
  // Port 0: the port is picked at listen, after the other bootstrap objects.
  TestApiServer api("capstan-kubesvc", [](ApiServerOptions& o) { o.advertise_address = "192.0.2.10"; });
  ASSERT_TRUE(api.ok());
  const int port = api.server().port();
  ASSERT_NE(port, 0);
  expectPointingAt(api, "192.0.2.10", port);

  // Nothing changed: nothing is written.
  Json svc = stored(api, client::res::kServices);
  Json ep = stored(api, client::res::kEndpoints);
  Json slice = stored(api, client::res::kEndpointSlices);
  auto call = [&api](const std::string& method, const std::string& path, const std::string& body) {
    return api.server().call(method, path, body);
  };
  ASSERT_TRUE(
      ensureKubernetesService(call, {svc["spec"]["clusterIP"].get<std::string>(), "192.0.2.10", port}));
  EXPECT_EQ(rv(stored(api, client::res::kServices)), rv(svc));
  EXPECT_EQ(rv(stored(api, client::res::kEndpoints)), rv(ep));
  EXPECT_EQ(rv(stored(api, client::res::kEndpointSlices)), rv(slice));
}

TEST(KubernetesServiceTest, ARestartWithAnotherAddressAndPortRewritesThem) {
  // One SQLite store, used by two servers in turn (each with its own data dir).
  const auto db =
      std::filesystem::temp_directory_path() / ("capstan-kubesvc-" + std::to_string(::getpid()) + ".db");
  auto removeDb = [&db] {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db.string() + suffix);
  };
  removeDb();
  auto advertising = [&db](std::string address) {
    return [&db, address](ApiServerOptions& o) {
      o.datastore_endpoint = "sqlite://" + db.string();
      o.advertise_address = address;
    };
  };
  {
    TestApiServer first("capstan-kubesvc-a", advertising("192.0.2.10"));
    ASSERT_TRUE(first.ok());
    expectPointingAt(first, "192.0.2.10", first.server().port());
  }
  {
    TestApiServer second("capstan-kubesvc-b", advertising("192.0.2.11"));
    ASSERT_TRUE(second.ok());
    expectPointingAt(second, "192.0.2.11", second.server().port());
  }
  removeDb();
}

TEST(KubernetesServiceTest, DefaultAdvertiseAddress) {
  EXPECT_EQ(defaultAdvertiseAddress("10.1.2.3"), "10.1.2.3");
  // No endpoint may be unspecified or loopback: the machine's address instead.
  for (const char* bind : {"0.0.0.0", "127.0.0.1", "::", "::1"})
    EXPECT_EQ(defaultAdvertiseAddress(bind), firstHostIpv4()) << bind;
}

}  // namespace
}  // namespace capstan::apiserver
