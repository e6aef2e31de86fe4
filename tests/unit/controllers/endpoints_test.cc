// The Endpoints and EndpointSlice controllers against a real ApiServer
// (memory store). Tests play the node agent: pods are created bound to a
// node, then given an IP, a phase and a Ready condition.
#include <algorithm>
#include <map>
#include <set>

#include "controller_fixture.h"
#include "controllers/endpoints_controller.h"
#include "controllers/endpointslice_controller.h"

namespace capstan::controllers::testing {
namespace {

using client::res::kEndpoints;
using client::res::kEndpointSlices;
using client::res::kPods;
using client::res::kServices;

class EndpointsTest : public ControllerFixture {
 protected:
  void SetUp() override {
    ControllerFixture::SetUp();
    Json node = {{"apiVersion", "v1"},
                 {"kind", "Node"},
                 {"metadata", {{"name", "node1"}, {"labels", {{"topology.kubernetes.io/zone", "zone-a"}}}}}};
    auto r = client_->create(client::res::kNodes, "", node);
    ASSERT_TRUE(r) << r.status().message();
  }
  void TearDown() override {
    if (informers_) informers_->stop();
    endpoints_controller_.reset();
    ControllerFixture::TearDown();
  }
  void startControllers() {
    endpoints_controller_ = std::make_unique<EndpointsController>(*ctx_);
    slice_controller_ = &start(std::make_unique<EndpointSliceController>(*ctx_));
    endpoints_controller_->run();
  }

  Json createService(const std::string& name, const Json& selector, const Json& ports,
                     const Json& extra = {}) {
    Json spec = {{"ports", ports}};
    if (!selector.is_null()) spec["selector"] = selector;
    if (extra.is_object()) spec.update(extra);
    Json svc = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"team", "blue"}}}}},
                {"spec", spec}};
    auto r = client_->create(kServices, "default", svc);
    EXPECT_TRUE(r) << r.status().message();
    return r ? *r : Json();
  }
  static Json port(int port, const Json& target, const std::string& name = "") {
    Json p = {{"port", port}, {"targetPort", target}, {"protocol", "TCP"}};
    if (!name.empty()) p["name"] = name;
    return p;
  }
  // A pod bound to node1; `ports` are the container's named ports.
  Json createPod(const std::string& name, const Json& labels, const std::map<std::string, int>& ports = {},
                 const Json& extra_spec = {}) {
    Json container_ports = Json::array();
    for (const auto& [n, p] : ports) container_ports.push_back({{"name", n}, {"containerPort", p}});
    Json container = {{"name", "c"}, {"image", "nginx"}};
    if (!container_ports.empty()) container["ports"] = container_ports;
    Json spec = {{"nodeName", "node1"}, {"containers", Json::array({container})}};
    if (extra_spec.is_object()) spec.update(extra_spec);
    Json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", labels}}},
                {"spec", spec}};
    auto r = client_->create(kPods, "default", pod);
    EXPECT_TRUE(r) << r.status().message();
    return r ? *r : Json();
  }
  void setPodStatus(const std::string& name, const std::string& ip, bool ready,
                    const std::string& phase = "Running") {
    Json status = {{"phase", phase},
                   {"conditions", Json::array({{{"type", "Ready"},
                                                {"status", ready ? "True" : "False"},
                                                {"lastTransitionTime", formatRfc3339(clock_.now())}}})}};
    if (!ip.empty()) {
      status["podIP"] = ip;
      status["podIPs"] = Json::array({{{"ip", ip}}});
    }
    auto r =
        client_->patch(kPods, "default", name, client::PatchType::kMerge, {{"status", status}}, "status");
    ASSERT_TRUE(r) << r.status().message();
  }

  Json slicesOf(const std::string& service) {
    return list(kEndpointSlices, "kubernetes.io/service-name=" + service);
  }
  // Every endpoint of the Service's slices by pod name (with its slice's ports).
  std::map<std::string, Json> sliceEndpoints(const std::string& service) {
    std::map<std::string, Json> out;
    for (const auto& s : slicesOf(service))
      for (const auto& e : s.value("endpoints", Json::array())) {
        Json entry = e;
        entry["ports"] = s.value("ports", Json::array());
        out[e["targetRef"]["name"].get<std::string>()] = entry;
      }
    return out;
  }
  // Pod names under addresses and notReadyAddresses of the Endpoints.
  std::pair<std::set<std::string>, std::set<std::string>> endpointsPods(const std::string& service) {
    std::set<std::string> ready, not_ready;
    Json ep = get(kEndpoints, service);
    if (ep.is_null()) return {};
    for (const auto& ss : ep.value("subsets", Json::array())) {
      for (const auto& a : ss.value("addresses", Json::array()))
        ready.insert(a["targetRef"]["name"].get<std::string>());
      for (const auto& a : ss.value("notReadyAddresses", Json::array()))
        not_ready.insert(a["targetRef"]["name"].get<std::string>());
    }
    return {ready, not_ready};
  }
  static bool readyIs(const Json& endpoint, bool ready, bool serving, bool terminating) {
    const Json& c = endpoint["conditions"];
    return c.value("ready", !ready) == ready && c.value("serving", !serving) == serving &&
           c.value("terminating", !terminating) == terminating;
  }
  std::string rv(const Json& obj) { return obj["metadata"].value("resourceVersion", ""); }

  std::unique_ptr<EndpointsController> endpoints_controller_;
  EndpointSliceController* slice_controller_ = nullptr;
};

TEST_F(EndpointsTest, ReadyAndNotReadyPods) {
  startControllers();
  Json svc = createService("web", {{"app", "web"}}, Json::array({port(80, 8080)}));
  Json a = createPod("a", {{"app", "web"}});
  createPod("b", {{"app", "web"}});
  createPod("pending", {{"app", "web"}});
  createPod("done", {{"app", "web"}});
  createPod("other", {{"app", "other"}});
  setPodStatus("a", "10.42.0.1", true);
  setPodStatus("b", "10.42.0.2", false);
  setPodStatus("done", "10.42.0.3", false, "Succeeded");
  setPodStatus("other", "10.42.0.4", true);

  ASSERT_TRUE(eventually([&] { return sliceEndpoints("web").size() == 2; })) << slicesOf("web").dump();
  Json slices = slicesOf("web");
  ASSERT_EQ(slices.size(), 1u);
  const Json& s = slices[0];
  EXPECT_EQ(s["addressType"], "IPv4");
  EXPECT_EQ(s["metadata"]["generateName"], "web-");
  EXPECT_TRUE(s["metadata"]["name"].get<std::string>().starts_with("web-"));
  EXPECT_EQ(s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
            "endpointslice-controller.k8s.io");
  EXPECT_EQ(s["metadata"]["labels"]["team"], "blue");
  EXPECT_FALSE(s["metadata"]["labels"].contains("service.kubernetes.io/headless"));
  ASSERT_EQ(s["metadata"]["ownerReferences"].size(), 1u);
  const Json& ref = s["metadata"]["ownerReferences"][0];
  EXPECT_EQ(ref["kind"], "Service");
  EXPECT_EQ(ref["apiVersion"], "v1");
  EXPECT_EQ(ref["uid"], svc["metadata"]["uid"]);
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(ref["blockOwnerDeletion"], true);
  EXPECT_EQ(s["ports"], Json::parse(R"([{"name":"","port":8080,"protocol":"TCP"}])"));
  EXPECT_TRUE(s["metadata"]["annotations"].contains("endpoints.kubernetes.io/last-change-trigger-time"));

  auto eps = sliceEndpoints("web");
  const Json& ea = eps["a"];
  EXPECT_EQ(ea["addresses"], Json::array({"10.42.0.1"}));
  EXPECT_TRUE(readyIs(ea, true, true, false)) << ea.dump();
  EXPECT_EQ(ea["nodeName"], "node1");
  EXPECT_EQ(ea["zone"], "zone-a");
  EXPECT_EQ(ea["targetRef"],
            Json({{"kind", "Pod"}, {"namespace", "default"}, {"name", "a"}, {"uid", a["metadata"]["uid"]}}));
  EXPECT_TRUE(readyIs(eps["b"], false, false, false)) << eps["b"].dump();

  // Endpoints: a ready, b not ready, the same port; pending and done absent.
  ASSERT_TRUE(eventually([&] {
    auto [ready, not_ready] = endpointsPods("web");
    return ready == std::set<std::string>{"a"} && not_ready == std::set<std::string>{"b"};
  }));
  Json ep = get(kEndpoints, "web");
  ASSERT_EQ(ep["subsets"].size(), 1u);
  EXPECT_EQ(ep["subsets"][0]["ports"], Json::parse(R"([{"port":8080,"protocol":"TCP"}])"));
  const Json& addr = ep["subsets"][0]["addresses"][0];
  EXPECT_EQ(addr["ip"], "10.42.0.1");
  EXPECT_EQ(addr["nodeName"], "node1");
  EXPECT_EQ(addr["targetRef"]["uid"], a["metadata"]["uid"]);
  EXPECT_EQ(ep["metadata"]["labels"], Json({{"team", "blue"}}));
  EXPECT_TRUE(ep["metadata"]["annotations"].contains("endpoints.kubernetes.io/last-change-trigger-time"));
}

TEST_F(EndpointsTest, NamedTargetPortResolvesPerPod) {
  startControllers();
  createService("api", {{"app", "api"}}, Json::array({port(80, "http", "web")}));
  createPod("p8080", {{"app", "api"}}, {{"http", 8080}});
  createPod("p9090", {{"app", "api"}}, {{"http", 9090}});
  createPod("noport", {{"app", "api"}}, {{"admin", 7000}});
  setPodStatus("p8080", "10.42.0.1", true);
  setPodStatus("p9090", "10.42.0.2", true);
  setPodStatus("noport", "10.42.0.3", true);

  // One slice per port set; the pod without the port in a slice without ports.
  ASSERT_TRUE(eventually([&] { return sliceEndpoints("api").size() == 3 && slicesOf("api").size() == 3; }));
  auto eps = sliceEndpoints("api");
  EXPECT_EQ(eps["p8080"]["ports"], Json::parse(R"([{"name":"web","port":8080,"protocol":"TCP"}])"));
  EXPECT_EQ(eps["p9090"]["ports"], Json::parse(R"([{"name":"web","port":9090,"protocol":"TCP"}])"));
  EXPECT_EQ(eps["noport"]["ports"], Json::array());

  // Endpoints: one subset per port number; the pod without it absent.
  ASSERT_TRUE(eventually([&] { return endpointsPods("api").first.size() == 2; }));
  Json subsets = get(kEndpoints, "api")["subsets"];
  ASSERT_EQ(subsets.size(), 2u);
  std::map<int, std::string> by_port;
  for (const auto& ss : subsets) {
    ASSERT_EQ(ss["addresses"].size(), 1u);
    ASSERT_EQ(ss["ports"].size(), 1u);
    EXPECT_EQ(ss["ports"][0]["name"], "web");
    by_port[ss["ports"][0]["port"].get<int>()] = ss["addresses"][0]["targetRef"]["name"].get<std::string>();
  }
  EXPECT_EQ(by_port, (std::map<int, std::string>{{8080, "p8080"}, {9090, "p9090"}}));
}

TEST_F(EndpointsTest, EndpointsRepackedByPortSet) {
  startControllers();
  createService("multi", {{"app", "m"}},
                Json::array({port(80, "http", "http"), port(443, "https", "https")}));
  createPod("m1", {{"app", "m"}}, {{"http", 8080}, {"https", 8443}});
  createPod("m2", {{"app", "m"}}, {{"http", 8080}, {"https", 8443}});
  createPod("m3", {{"app", "m"}}, {{"http", 8081}, {"https", 8444}});
  setPodStatus("m1", "10.42.0.2", true);
  setPodStatus("m2", "10.42.0.1", false);
  setPodStatus("m3", "10.42.0.3", true);

  // Ports served by the same addresses share a subset: m1 and m2 serve
  // 8080 and 8443, m3 serves 8081 and 8444.
  ASSERT_TRUE(eventually([&] {
    auto [ready, not_ready] = endpointsPods("multi");
    return ready == std::set<std::string>{"m1", "m3"} && not_ready == std::set<std::string>{"m2"};
  }));
  Json subsets = get(kEndpoints, "multi")["subsets"];
  ASSERT_EQ(subsets.size(), 2u) << subsets.dump();
  std::map<int, Json> by_first_port;
  for (const auto& ss : subsets) {
    ASSERT_EQ(ss["ports"].size(), 2u) << ss.dump();
    std::set<int> numbers{ss["ports"][0]["port"].get<int>(), ss["ports"][1]["port"].get<int>()};
    by_first_port[*numbers.begin()] = ss;
  }
  ASSERT_EQ(by_first_port.size(), 2u);
  const Json& pair = by_first_port[8080];
  ASSERT_TRUE(pair.is_object()) << subsets.dump();
  EXPECT_EQ(pair["addresses"].size(), 1u);
  EXPECT_EQ(pair["addresses"][0]["targetRef"]["name"], "m1");
  EXPECT_EQ(pair["notReadyAddresses"].size(), 1u);
  EXPECT_EQ(pair["notReadyAddresses"][0]["targetRef"]["name"], "m2");
  const Json& single = by_first_port[8081];
  ASSERT_TRUE(single.is_object()) << subsets.dump();
  EXPECT_EQ(single["addresses"][0]["targetRef"]["name"], "m3");
  EXPECT_FALSE(single.contains("notReadyAddresses"));
  std::set<std::string> names;
  for (const auto& p : single["ports"]) names.insert(p["name"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{"http", "https"}));
}

TEST_F(EndpointsTest, PublishNotReadyAddresses) {
  startControllers();
  createService("pub", {{"app", "pub"}}, Json::array({port(80, 80)}), {{"publishNotReadyAddresses", true}});
  createPod("x", {{"app", "pub"}});
  setPodStatus("x", "10.42.0.7", false);
  ASSERT_TRUE(eventually([&] { return sliceEndpoints("pub").count("x") == 1; }));
  EXPECT_TRUE(readyIs(sliceEndpoints("pub")["x"], true, false, false)) << sliceEndpoints("pub")["x"].dump();
  ASSERT_TRUE(eventually([&] { return endpointsPods("pub").first == std::set<std::string>{"x"}; }));
  EXPECT_TRUE(endpointsPods("pub").second.empty());
}

TEST_F(EndpointsTest, TerminatingPodInSlicesNotInEndpoints) {
  startControllers();
  createService("term", {{"app", "t"}}, Json::array({port(80, 80)}));
  createPod("stay", {{"app", "t"}});
  createPod("going", {{"app", "t"}});
  setPodStatus("stay", "10.42.0.1", true);
  setPodStatus("going", "10.42.0.2", true);
  ASSERT_TRUE(eventually([&] { return endpointsPods("term").first.size() == 2; }));

  // A pod bound to a node is deleted gracefully: it stays, terminating.
  ASSERT_TRUE(client_->remove(kPods, "default", "going"));
  ASSERT_TRUE(get(kPods, "going")["metadata"].contains("deletionTimestamp"));
  ASSERT_TRUE(eventually([&] {
    auto eps = sliceEndpoints("term");
    return eps.count("going") && readyIs(eps["going"], false, true, true);
  }));
  EXPECT_TRUE(readyIs(sliceEndpoints("term")["stay"], true, true, false));
  ASSERT_TRUE(eventually([&] {
    auto [ready, not_ready] = endpointsPods("term");
    return ready == std::set<std::string>{"stay"} && not_ready.empty();
  }));
}

TEST_F(EndpointsTest, ReadinessLossReachesSliceQuickly) {
  startControllers();
  createService("fast", {{"app", "f"}}, Json::array({port(80, 80)}));
  createPod("f", {{"app", "f"}});
  setPodStatus("f", "10.42.0.9", true);
  ASSERT_TRUE(eventually([&] {
    auto eps = sliceEndpoints("fast");
    return eps.count("f") && readyIs(eps["f"], true, true, false);
  }));
  auto t0 = std::chrono::steady_clock::now();
  setPodStatus("f", "10.42.0.9", false);
  ASSERT_TRUE(eventually([&] { return readyIs(sliceEndpoints("fast")["f"], false, false, false); }));
  auto slice_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  ASSERT_TRUE(eventually([&] { return endpointsPods("fast").second == std::set<std::string>{"f"}; }));
  auto endpoints_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  // No batching: one watch event and one write (generous bounds for a
  // loaded test machine; typically a few milliseconds).
  EXPECT_LT(slice_ms.count(), 500) << "slice took " << slice_ms.count() << " ms";
  EXPECT_LT(endpoints_ms.count(), 500) << "endpoints took " << endpoints_ms.count() << " ms";
  std::cout << "[ readiness ] slice " << slice_ms.count() << " ms, endpoints " << endpoints_ms.count()
            << " ms\n";
}

TEST_F(EndpointsTest, SelectorAndLabelChanges) {
  startControllers();
  createService("sel", {{"app", "a"}}, Json::array({port(80, 80)}));
  createPod("pa", {{"app", "a"}});
  createPod("pb", {{"app", "b"}});
  setPodStatus("pa", "10.42.0.1", true);
  setPodStatus("pb", "10.42.0.2", true);
  ASSERT_TRUE(
      eventually([&] { return sliceEndpoints("sel").size() == 1 && sliceEndpoints("sel").count("pa"); }));

  auto r = client_->patch(kServices, "default", "sel", client::PatchType::kMerge,
                          {{"spec", {{"selector", {{"app", "b"}}}}}});
  ASSERT_TRUE(r) << r.status().message();
  ASSERT_TRUE(
      eventually([&] { return sliceEndpoints("sel").size() == 1 && sliceEndpoints("sel").count("pb"); }));
  ASSERT_TRUE(eventually([&] { return endpointsPods("sel").first == std::set<std::string>{"pb"}; }));

  // A pod relabelled into the Service joins it.
  r = client_->patch(kPods, "default", "pa", client::PatchType::kMerge,
                     {{"metadata", {{"labels", {{"app", "b"}}}}}});
  ASSERT_TRUE(r) << r.status().message();
  ASSERT_TRUE(eventually([&] { return sliceEndpoints("sel").size() == 2; }));
  ASSERT_TRUE(eventually([&] { return endpointsPods("sel").first == std::set<std::string>{"pa", "pb"}; }));
  EXPECT_EQ(slicesOf("sel").size(), 1u);
}

TEST_F(EndpointsTest, ManyPodsSplitAcrossSlices) {
  startControllers();
  createService("big", {{"app", "big"}}, Json::array({port(80, 80)}));
  const int n = 150;
  for (int i = 0; i < n; ++i) {
    std::string name = "big-" + std::to_string(i);
    createPod(name, {{"app", "big"}});
    setPodStatus(name, "10.42." + std::to_string(i / 200) + "." + std::to_string(i % 200 + 1), true);
  }
  ASSERT_TRUE(eventually([&] { return sliceEndpoints("big").size() == n; }, 20s));
  Json slices = slicesOf("big");
  EXPECT_GE(slices.size(), 2u);
  size_t total = 0;
  std::set<std::string> ips;
  for (const auto& s : slices) {
    EXPECT_LE(s["endpoints"].size(), 100u);
    total += s["endpoints"].size();
    for (const auto& e : s["endpoints"]) ips.insert(e["addresses"][0].get<std::string>());
  }
  EXPECT_EQ(total, static_cast<size_t>(n));  // no endpoint twice
  EXPECT_EQ(ips.size(), static_cast<size_t>(n));
  ASSERT_TRUE(eventually([&] { return endpointsPods("big").first.size() == n; }, 20s));
}

TEST_F(EndpointsTest, NoWriteWhenNothingChanged) {
  startControllers();
  createService("calm", {{"app", "c"}}, Json::array({port(80, 80)}));
  createPod("c1", {{"app", "c"}});
  createPod("c2", {{"app", "c"}});
  setPodStatus("c1", "10.42.0.1", true);
  setPodStatus("c2", "10.42.0.2", false);
  ASSERT_TRUE(eventually([&] {
    return sliceEndpoints("calm").size() == 2 && endpointsPods("calm").second == std::set<std::string>{"c2"};
  }));
  std::this_thread::sleep_for(200ms);  // let echoes of the last writes settle
  Json slices = slicesOf("calm");
  ASSERT_EQ(slices.size(), 1u);
  std::string slice_rv = rv(slices[0]);
  std::string ep_rv = rv(get(kEndpoints, "calm"));

  // Changes that do not touch endpoints, then explicit resyncs.
  ASSERT_TRUE(client_->patch(kPods, "default", "c1", client::PatchType::kMerge,
                             {{"metadata", {{"annotations", {{"note", "x"}}}}}}));
  ASSERT_TRUE(client_->patch(kServices, "default", "calm", client::PatchType::kMerge,
                             {{"metadata", {{"annotations", {{"note", "y"}}}}}}));
  createPod("unrelated", {{"app", "zzz"}});
  setPodStatus("unrelated", "10.42.0.3", true);
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(slice_controller_->syncNow("default/calm"));
  ASSERT_TRUE(endpoints_controller_->syncNow("default/calm"));

  slices = slicesOf("calm");
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(rv(slices[0]), slice_rv);
  EXPECT_EQ(rv(get(kEndpoints, "calm")), ep_rv);
}

TEST_F(EndpointsTest, ServiceDeletionRemovesSlicesAndEndpoints) {
  startControllers();
  createService("gone", {{"app", "g"}}, Json::array({port(80, 80)}));
  createPod("g1", {{"app", "g"}});
  setPodStatus("g1", "10.42.0.1", true);
  ASSERT_TRUE(
      eventually([&] { return sliceEndpoints("gone").size() == 1 && !get(kEndpoints, "gone").is_null(); }));
  ASSERT_TRUE(client_->remove(kServices, "default", "gone"));
  ASSERT_TRUE(eventually([&] { return slicesOf("gone").empty() && get(kEndpoints, "gone").is_null(); }));
}

TEST_F(EndpointsTest, SelectorlessServicesLeftAlone) {
  startControllers();
  createService("manual", nullptr, Json::array({port(80, 80)}));
  Json ep = {{"apiVersion", "v1"},
             {"kind", "Endpoints"},
             {"metadata", {{"name", "manual"}, {"namespace", "default"}}},
             {"subsets", Json::parse(R"([{"addresses":[{"ip":"192.168.1.1"}],"ports":[{"port":80}]}])")}};
  auto created = client_->create(kEndpoints, "default", ep);
  ASSERT_TRUE(created) << created.status().message();
  createPod("m", {{"app", "m"}});
  setPodStatus("m", "10.42.0.1", true);
  // An empty placeholder slice for a Service with a selector shows the
  // controllers are running; the selectorless one gets nothing.
  createService("empty", {{"app", "nobody"}}, Json::array({port(80, 80)}));
  ASSERT_TRUE(
      eventually([&] { return slicesOf("empty").size() == 1 && !get(kEndpoints, "empty").is_null(); }));
  EXPECT_EQ(slicesOf("empty")[0].value("endpoints", Json::array()).size(), 0u);
  EXPECT_FALSE(get(kEndpoints, "empty").contains("subsets"));
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(endpoints_controller_->syncNow("default/manual"));
  ASSERT_TRUE(slice_controller_->syncNow("default/manual"));
  EXPECT_EQ(rv(get(kEndpoints, "manual")), rv(*created));
  EXPECT_TRUE(slicesOf("manual").empty());
  // default/kubernetes has no selector either: its Endpoints and
  // EndpointSlice are the API server's, untouched.
  Json kubernetes_endpoints = get(kEndpoints, "kubernetes");
  Json kubernetes_slices = slicesOf("kubernetes");
  ASSERT_TRUE(endpoints_controller_->syncNow("default/kubernetes"));
  ASSERT_TRUE(slice_controller_->syncNow("default/kubernetes"));
  EXPECT_EQ(get(kEndpoints, "kubernetes"), kubernetes_endpoints);
  EXPECT_EQ(slicesOf("kubernetes"), kubernetes_slices);
  for (const auto& slice : kubernetes_slices) EXPECT_EQ(slice["metadata"]["name"], "kubernetes");
}

TEST_F(EndpointsTest, HeadlessServiceHostnames) {
  startControllers();
  createService("db", {{"app", "db"}}, Json::array({port(5432, 5432)}), {{"clusterIP", "None"}});
  createPod("db-0", {{"app", "db"}}, {}, {{"hostname", "db-0"}, {"subdomain", "db"}});
  setPodStatus("db-0", "10.42.0.5", true);
  ASSERT_TRUE(eventually([&] { return sliceEndpoints("db").count("db-0") == 1; }));
  EXPECT_EQ(sliceEndpoints("db")["db-0"]["hostname"], "db-0");
  EXPECT_EQ(slicesOf("db")[0]["metadata"]["labels"]["service.kubernetes.io/headless"], "");
  ASSERT_TRUE(eventually([&] { return endpointsPods("db").first.size() == 1; }));
  Json ep = get(kEndpoints, "db");
  EXPECT_EQ(ep["metadata"]["labels"]["service.kubernetes.io/headless"], "");
  EXPECT_EQ(ep["subsets"][0]["addresses"][0]["hostname"], "db-0");
}

}  // namespace
}  // namespace capstan::controllers::testing
