// The service proxy against the real kernel, in a scratch world of network
// namespaces (nothing touches the host's own network or rules):
//
//   client netns  eth0 10.251.0.2 ──veth── router netns (the proxy's table)
//                                           veth 10.251.0.1 = the "node IP"
//                                           bridge br0 10.250.0.1/24
//                                    ┌─────────┴─────────┐
//   ep1 netns eth0 10.250.0.2 :8080 "ep1"    ep2 netns eth0 10.250.0.3 :8080 "ep2"
//
// The API server runs in-process (memory store); the endpoints are TCP
// servers on threads of this process that entered their namespaces.

#include "proxy/service_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "agent/runtime/process.h"
#include "apiserver/api_server.h"
#include "client/client.h"
#include "client/informer.h"
#include "proxy/iptables_rules.h"
#include "proxy/nft_elements.h"
#include "proxy/nftables.h"
#include "proxy/rule_generator.h"
#include "runtime/fixture.h"

namespace capstan::proxy {
namespace {
using namespace std::chrono_literals;
using agent::runtime::runProcess;
using agent::testing::eventually;
using agent::testing::randomToken;
using SteadyClock = std::chrono::steady_clock;

struct DialResult {
  std::string reply;
  int error = 0;  // errno of connect, 0 on success
  double ms = 0;
};

// Connects from inside `netns` (a thread that entered it), reads to EOF.
DialResult dial(const std::string& netns, const std::string& ip, int port) {
  DialResult out;
  std::thread([&] {
    auto t0 = SteadyClock::now();
    if (!enterNetworkNamespace(netns)) {
      out.error = EBADF;
      return;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, 2000) == 1) {
        socklen_t len = sizeof out.error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &out.error, &len);
      } else {
        out.error = ETIMEDOUT;
      }
    } else if (rc != 0) {
      out.error = errno;
    }
    if (out.error == 0) {
      char buf[256];
      pollfd p{fd, POLLIN, 0};
      // Every server name is 3 bytes. The client closes first, so the
      // TIME_WAIT stays on this side: a server-side TIME_WAIT would let the
      // kernel reuse this source port at once, and the next connection
      // would follow the old conntrack entry to the same endpoint.
      while (out.reply.size() < 3 && poll(&p, 1, 2000) == 1) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.reply.append(buf, static_cast<size_t>(n));
      }
    }
    close(fd);
    out.ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
  }).join();
  return out;
}

// A TCP server on a thread inside `netns` that answers every connection
// with `name` and closes it.
class NameServer {
 public:
  NameServer(const std::string& netns, std::string name) : name_(std::move(name)) {
    std::promise<int> bound;
    auto fd = bound.get_future();
    thread_ = std::thread([this, netns, bound = std::move(bound)]() mutable {
      if (!enterNetworkNamespace(netns)) {
        bound.set_value(-1);
        return;
      }
      int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int one = 1;
      setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(8080);
      if (bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(s, 64) != 0) {
        close(s);
        bound.set_value(-1);
        return;
      }
      bound.set_value(s);
      while (true) {
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        int c = accept4(s, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
        if (c < 0) break;  // shut down by stop()
        char text[INET_ADDRSTRLEN] = "";
        inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
        {
          std::lock_guard lock(mu_);
          peers_.insert(text);
        }
        if (write(c, name_.data(), name_.size()) == static_cast<ssize_t>(name_.size())) {
          char buf[16];
          pollfd p{c, POLLIN, 0};
          while (poll(&p, 1, 2000) == 1 && read(c, buf, sizeof buf) > 0) {
          }  // until the client closes
        }
        close(c);
      }
    });
    fd_ = fd.get();
  }
  // The source addresses of the connections accepted since the last call.
  std::set<std::string> takePeers() {
    std::lock_guard lock(mu_);
    return std::exchange(peers_, {});
  }
  ~NameServer() {
    if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);  // wakes accept
    thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

 private:
  std::string name_;
  std::mutex mu_;
  std::set<std::string> peers_;  // guarded by mu_
  int fd_ = -1;
  std::thread thread_;
};

Status sh(const std::vector<std::string>& argv) {
  auto r = runProcess(argv);
  if (!r) return r.status();
  if (r->exit_code != 0) return Status(Code::kInternal, argv[0] + " " + argv[1] + ": " + r->err);
  return Status::ok();
}

std::string out(const std::vector<std::string>& argv) {
  auto r = runProcess(argv);
  return r ? r->out + r->err : r.status().message();
}

Json slice(const std::string& service, const std::vector<std::string>& ips) {
  Json eps = Json::array();
  for (const auto& ip : ips)
    eps.push_back({{"addresses", {ip}}, {"nodeName", "node-a"}, {"conditions", {{"ready", true}}}});
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata", {{"name", service + "-abc"}, {"labels", {{"kubernetes.io/service-name", service}}}}},
          {"addressType", "IPv4"},
          {"ports", {{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}}},
          {"endpoints", eps}};
}

class ServiceProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    token_ = randomToken(6);
    for (const char* role : {"r", "c", "e1", "e2"}) ns_[role] = "cpx" + std::string(role) + "-" + token_;
    table_ = "capstan_rt_" + token_;
    dir_ = "/tmp/capstan-rt-proxy-" + token_;
    std::filesystem::create_directories(dir_);
    for (const auto& [role, name] : ns_) {
      ASSERT_TRUE(sh({"/usr/sbin/ip", "netns", "add", name}));
      created_.push_back(name);
      ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", name, "link", "set", "lo", "up"}));
    }
    const std::string r = ns_["r"];
    // Router: the bridge for the endpoints, a link to the client.
    ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", r, "link", "add", "br0", "type", "bridge"}));
    ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", r, "addr", "add", "10.250.0.1/24", "dev", "br0"}));
    ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", r, "link", "set", "br0", "up"}));
    int i = 2;
    for (const char* role : {"e1", "e2"}) {
      std::string v = std::string("v") + role;
      ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", r, "link", "add", v, "type", "veth", "peer", "name", "eth0",
                      "netns", ns_[role]}));
      ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", r, "link", "set", v, "master", "br0", "up"}));
      // As the agent's CNI bridge (hairpinMode): br_netfilter sends a pod's
      // own service traffic back out of the port it came in on.
      ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", r, "link", "set", v, "type", "bridge_slave", "hairpin", "on"}));
      std::string ip = "10.250.0." + std::to_string(i++);
      ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", ns_[role], "addr", "add", ip + "/24", "dev", "eth0"}));
      ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", ns_[role], "link", "set", "eth0", "up"}));
      ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", ns_[role], "route", "add", "default", "via", "10.250.0.1"}));
    }
    ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", r, "link", "add", "vc", "type", "veth", "peer", "name", "eth0",
                    "netns", ns_["c"]}));
    ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", r, "addr", "add", "10.251.0.1/24", "dev", "vc"}));
    ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", r, "link", "set", "vc", "up"}));
    ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", ns_["c"], "addr", "add", "10.251.0.2/24", "dev", "eth0"}));
    ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", ns_["c"], "link", "set", "eth0", "up"}));
    ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", ns_["c"], "route", "add", "default", "via", "10.251.0.1"}));
    // The router's own traffic to a VIP needs a route before DNAT.
    ASSERT_TRUE(sh({"/usr/sbin/ip", "-n", r, "route", "add", "10.43.0.0/16", "dev", "br0"}));
    ASSERT_TRUE(sh({"/usr/sbin/ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"}));

    e1_ = std::make_unique<NameServer>(path("e1"), "ep1");
    e2_ = std::make_unique<NameServer>(path("e2"), "ep2");
    ASSERT_TRUE(e1_->ok() && e2_->ok());

    apiserver::ApiServerOptions o;
    o.data_dir = dir_ + "/server";
    o.port = 0;
    o.bind_address = "127.0.0.1";
    o.datastore_endpoint = "memory://";
    auto s = apiserver::ApiServer::start(o);
    ASSERT_TRUE(s) << s.status().message();
    server_ = std::move(*s);
    client_ = std::make_unique<client::Client>(server_->inProcessTransport({"test", "", {"system:masters"}}),
                                               "test");
    informers_ = std::make_unique<client::InformerFactory>(*client_, 0ms);
  }

  void TearDown() override {
    // Whatever happened: rules, servers, namespaces (their links go with
    // them), then check that nothing is left.
    if (proxy_) {
      EXPECT_TRUE(proxy_->stop(/*remove_rules=*/true));
    }
    if (informers_) informers_->stop();
    proxy_.reset();
    informers_.reset();
    client_.reset();
    if (server_) server_->stop();
    server_.reset();
    e1_.reset();
    e2_.reset();
    if (!created_.empty()) {
      EXPECT_EQ(tables("r").find(table_), std::string::npos);
    }
    for (const auto& name : created_) EXPECT_TRUE(sh({"/usr/sbin/ip", "netns", "del", name})) << name;
    std::string left = out({"/usr/sbin/ip", "netns", "list"});
    EXPECT_EQ(left.find(token_), std::string::npos) << left;
    EXPECT_EQ(out({"/usr/sbin/ip", "-o", "link", "show"}).find(token_), std::string::npos);
    EXPECT_EQ(out({"/usr/sbin/nft", "list", "tables"}).find(table_), std::string::npos);  // the host's
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // The proxy of "node-a" (node IP 10.251.0.1) programming the router
  // namespace, then the informers it registered on.
  void startProxy() {
    ProxyOptions po;
    po.node_name = "node-a";
    po.node_ips = {"10.251.0.1"};
    po.cluster_cidr = "10.250.0.0/16";
    po.table = table_;
    po.netns = path("r");
    po.mode = mode_;
    po.iptables_tool = "iptables-legacy";
    auto p = ServiceProxy::start(po, *client_, *informers_);
    ASSERT_TRUE(p) << p.status().message();
    proxy_ = std::move(*p);
    informers_->start();
  }
  std::string path(const std::string& role) { return "/run/netns/" + ns_[role]; }
  std::string tables(const std::string& role) {
    return out({"/usr/sbin/ip", "netns", "exec", ns_[role], "/usr/sbin/nft", "list", "tables"});
  }
  // The listings of main table `main` (table_ by default) and its service tables.
  std::string table(const std::string& main = "") {
    std::string listed;
    for (const auto& t : tableSet(main.empty() ? table_ : main))
      listed += out({"/usr/sbin/ip", "netns", "exec", ns_["r"], "/usr/sbin/nft", "list", "table", "ip", t});
    return listed;
  }

  Json create(const client::ResourceRef& r, const Json& obj) {
    auto c = client_->create(r, r.namespaced ? "default" : "", obj);
    EXPECT_TRUE(c) << c.status().message();
    return c ? *c : Json();
  }

  // Names of the endpoints that answered `n` connections.
  std::map<std::string, int> spread(const std::string& from, const std::string& ip, int port, int n) {
    std::map<std::string, int> seen;
    for (int i = 0; i < n; ++i) {
      auto d = dial(path(from), ip, port);
      ++seen[d.error ? "error:" + std::to_string(d.error) : d.reply];
    }
    return seen;
  }

  // Node "node-a" (InternalIP 10.251.0.1); "web" of `type` with e1 and e2
  // as endpoints; "empty", which selects nothing.
  struct WebAndEmpty {
    std::string vip, empty_vip;
    int node_port = 0;
  };
  WebAndEmpty createWebAndEmpty(const std::string& type) {
    create(client::res::kNodes, {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "node-a"}}}});
    auto st = client_->patch(
        client::res::kNodes, "", "node-a", client::PatchType::kMerge,
        {{"status", {{"addresses", {{{"type", "InternalIP"}, {"address", "10.251.0.1"}}}}}}}, "status");
    EXPECT_TRUE(st) << st.status().message();
    Json web = create(client::res::kServices,
                      {{"apiVersion", "v1"},
                       {"kind", "Service"},
                       {"metadata", {{"name", "web"}}},
                       {"spec", {{"type", type}, {"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}}}}}});
    Json empty =
        create(client::res::kServices,
               {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", "empty"}}},
                {"spec", {{"selector", {{"app", "none"}}}, {"ports", {{{"name", "http"}, {"port", 80}}}}}}});
    create(client::res::kEndpointSlices, slice("web", {"10.250.0.2", "10.250.0.3"}));
    WebAndEmpty out{getString(web["spec"], "clusterIP"), getString(empty["spec"], "clusterIP"),
                    web["spec"]["ports"][0].value("nodePort", 0)};
    EXPECT_FALSE(out.vip.empty());
    EXPECT_GT(out.node_port, 0);
    return out;
  }

  // Both of web's endpoints answer its cluster IP from the node (output
  // hook), from another netns (prerouting, masqueraded as it is outside
  // the cluster CIDR) and from an endpoint itself (hairpin), and its node
  // port on the node IP; "empty" refuses at once, from the node and
  // through it.
  void expectServedAndRefused(const WebAndEmpty& s) {
    auto both = [](const std::map<std::string, int>& seen) {
      return seen.size() == 2 && seen.count("ep1") && seen.count("ep2");
    };
    for (const char* from : {"r", "c", "e1"}) {
      auto seen = spread(from, s.vip, 80, 30);
      EXPECT_TRUE(both(seen)) << from << ": " << ::testing::PrintToString(seen);
    }
    auto seen = spread("c", "10.251.0.1", s.node_port, 30);
    EXPECT_TRUE(both(seen)) << ::testing::PrintToString(seen);
    // The node port from an endpoint: traffic from the cluster CIDR to a
    // node port is masqueraded too (set masquerade-nodeports), else ep2
    // answers e1 straight over the bridge and e1 drops the reply. Bridged
    // frames kept out of netfilter here (br_netfilter would un-NAT that
    // reply on the bridge, hiding it), as between nodes.
    const std::string knob = "net.bridge.bridge-nf-call-iptables";
    bool bridged_nf = sh({"/usr/sbin/ip", "netns", "exec", ns_["r"], "sysctl", "-qw", knob + "=0"}).isOk();
    seen = spread("e1", "10.251.0.1", s.node_port, 30);
    EXPECT_TRUE(both(seen)) << "e1: " << ::testing::PrintToString(seen);
    if (bridged_nf) {
      EXPECT_TRUE(sh({"/usr/sbin/ip", "netns", "exec", ns_["r"], "sysctl", "-qw", knob + "=1"}));
    }
    for (const char* from : {"r", "c"}) {
      auto d = dial(path(from), s.empty_vip, 80);
      EXPECT_EQ(d.error, ECONNREFUSED) << from;
      EXPECT_LT(d.ms, 500) << from;
    }
  }

  // web's slice loses its endpoints; returns once its cluster IP refuses.
  void removeWebEndpoints(const std::string& vip) {
    auto sl = client_->get(client::res::kEndpointSlices, "default", "web-abc");
    ASSERT_TRUE(sl);
    Json changed = *sl;
    changed["endpoints"] = Json::array();
    ASSERT_TRUE(client_->update(client::res::kEndpointSlices, "default", changed));
    ASSERT_TRUE(eventually([&] { return dial(path("c"), vip, 80).error == ECONNREFUSED; }));
  }

  std::string token_, table_, dir_;
  ProxyMode mode_ = ProxyMode::kAuto;
  std::map<std::string, std::string> ns_;
  std::vector<std::string> created_;
  std::unique_ptr<NameServer> e1_, e2_;
  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::unique_ptr<ServiceProxy> proxy_;
};


TEST_F(ServiceProxyTest, VipsSpreadRefuseHairpinAndCleanUp) {
  ASSERT_NO_FATAL_FAILURE(startProxy());
  WebAndEmpty svc = createWebAndEmpty("LoadBalancer");
  std::string vip = svc.vip;
  ASSERT_TRUE(eventually([&] {
    std::string t = table();
    return t.find(svc.empty_vip + " . tcp . 80 : goto reject-chain") != std::string::npos &&
           t.find("10.250.0.3 . 8080") != std::string::npos;
  })) << table();
  std::printf("[timing] proxy sync %lld us (syncs %llu)\n",
              static_cast<long long>(proxy_->lastSyncDuration().count()),
              static_cast<unsigned long long>(proxy_->syncCount()));
  EXPECT_EQ(proxy_->mode(), ProxyMode::kNftables);

  expectServedAndRefused(svc);
  // A connection to the cluster IP from outside the cluster CIDR is
  // masqueraded (the services chain's lookup in cluster-ips), so the reply
  // comes back through the node; one from a pod keeps its source.
  e1_->takePeers();
  e2_->takePeers();
  spread("c", vip, 80, 10);
  auto from_outside = e1_->takePeers();
  from_outside.merge(e2_->takePeers());
  EXPECT_EQ(from_outside, (std::set<std::string>{"10.250.0.1"}));
  spread("e1", vip, 80, 10);
  EXPECT_EQ(e2_->takePeers(), (std::set<std::string>{"10.250.0.2"}));
  // LoadBalancer: published on the node IP.
  auto seen = spread("c", "10.251.0.1", 80, 30);
  EXPECT_TRUE(seen.size() == 2 && seen.count("ep1") && seen.count("ep2")) << ::testing::PrintToString(seen);

  // The LoadBalancer status lists the node's address.
  EXPECT_TRUE(eventually([&] {
    auto s = client_->get(client::res::kServices, "default", "web");
    return s && arrayAt(objectAt(objectAt(*s, "status"), "loadBalancer"), "ingress") ==
                    Json::parse(R"([{"ip":"10.251.0.1"}])");
  }));

  // An incremental change: web loses its endpoints and refuses too.
  ASSERT_NO_FATAL_FAILURE(removeWebEndpoints(vip));
  EXPECT_FALSE(proxy_->lastSyncWasFull());
  std::printf("[timing] incremental sync %lld us\n",
              static_cast<long long>(proxy_->lastSyncDuration().count()));

  // stop(false) leaves the rules serving; cleanup() removes them, twice.
  ASSERT_TRUE(proxy_->stop(/*remove_rules=*/false));
  EXPECT_NE(tables("r").find(table_), std::string::npos);
  EXPECT_TRUE(ServiceProxy::cleanup(table_, path("r")));
  EXPECT_EQ(tables("r").find(table_), std::string::npos);
  EXPECT_TRUE(ServiceProxy::cleanup(table_, path("r")));
}

// The iptables mode (hosts without nftables), with the legacy tools so that
// nothing of it goes through nf_tables: the same traffic as above reaches
// the same endpoints, an empty service refuses, and cleanup leaves no chain
// and no hook behind.
TEST_F(ServiceProxyTest, IptablesModeSpreadsRefusesAndCleansUp) {
  mode_ = ProxyMode::kIptables;
  ASSERT_NO_FATAL_FAILURE(startProxy());
  EXPECT_EQ(proxy_->mode(), ProxyMode::kIptables);
  auto saved = [&] {
    return out({"/usr/sbin/ip", "netns", "exec", ns_["r"], "/usr/sbin/iptables-legacy-save"});
  };
  const std::string prefix = iptablesPrefix(table_);

  WebAndEmpty svc = createWebAndEmpty("NodePort");
  const std::string vip = svc.vip;
  ASSERT_TRUE(eventually([&] {
    std::string s = saved();
    return s.find("--to-destination 10.250.0.3:8080") != std::string::npos &&
           s.find("-d " + svc.empty_vip + "/32") != std::string::npos;
  })) << saved();
  ASSERT_TRUE(proxy_->waitForSync(10s));
  std::string s = saved();
  EXPECT_NE(s.find("-A PREROUTING -m comment --comment \"capstan service proxy\" -j " + prefix + "-SERVICES"),
            std::string::npos)
      << s;
  EXPECT_EQ(tables("r").find(table_), std::string::npos);  // no nftables table
  expectServedAndRefused(svc);

  // web loses its endpoints: refused too, and its endpoint chains are gone.
  ASSERT_NO_FATAL_FAILURE(removeWebEndpoints(vip));
  ASSERT_TRUE(proxy_->waitForSync(10s));
  s = saved();
  EXPECT_EQ(s.find("--to-destination 10.250.0."), std::string::npos) << s;  // (the API server's own service stays)

  // stop(false) leaves the rules; cleanup() removes chains and hooks, twice.
  ASSERT_TRUE(proxy_->stop(/*remove_rules=*/false));
  EXPECT_NE(saved().find(prefix + "-SERVICES"), std::string::npos);
  EXPECT_TRUE(ServiceProxy::cleanup(table_, path("r"), "iptables-legacy"));
  s = saved();
  EXPECT_EQ(s.find(prefix), std::string::npos) << s;
  EXPECT_EQ(s.find("capstan service proxy"), std::string::npos) << s;
  EXPECT_TRUE(ServiceProxy::cleanup(table_, path("r"), "iptables-legacy"));
}

// An endpoint replaced (a rolling update) changes map elements only: the
// proxy sends them as one nfnetlink batch (proxy/nft_elements.h), and the
// kernel's map holds exactly the new elements. A batch that fails (an
// element removed behind the proxy's back) falls back to a full resync.
TEST_F(ServiceProxyTest, EndpointReplacedGoesThroughNetlinkBatch) {
  // Without the API server's own Service (it has an endpoint), "web" is the
  // first group the proxy numbers.
  ASSERT_TRUE(client_->remove(client::res::kServices, "default", "kubernetes"));
  ASSERT_NO_FATAL_FAILURE(startProxy());

  Json web = create(client::res::kServices,
                    {{"apiVersion", "v1"},
                     {"kind", "Service"},
                     {"metadata", {{"name", "web"}}},
                     {"spec", {{"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}}}}}});
  create(client::res::kEndpointSlices, slice("web", {"10.250.0.2"}));
  std::string vip = getString(web["spec"], "clusterIP");
  std::string live = table_;
  // The map in web's service table.
  auto map = [&](const std::string& name) {
    return out({"/usr/sbin/ip", "netns", "exec", ns_["r"], "/usr/sbin/nft", "list", "map", "ip",
                shardTable(live, serviceShard("default/web")), name});
  };
  auto set = [&](const std::string& name) {
    return out(
        {"/usr/sbin/ip", "netns", "exec", ns_["r"], "/usr/sbin/nft", "list", "set", "ip", table_, name});
  };
  // The first group (id 1) is in shard 1 with offset 1 << 12.
  ASSERT_TRUE(eventually([&] {
    return map("backends-tcp-1").find("elements = { 4096 : 10.250.0.2 . 8080 }") != std::string::npos;
  })) << map("backends-tcp-1");
  ASSERT_TRUE(proxy_->waitForSync(10s));
  auto seen = spread("c", vip, 80, 5);
  EXPECT_EQ(seen, (std::map<std::string, int>{{"ep1", 5}}));

  auto replace = [&](const std::string& ip) {
    auto sl = client_->get(client::res::kEndpointSlices, "default", "web-abc");
    ASSERT_TRUE(sl);
    Json changed = *sl;
    changed["endpoints"][0]["addresses"] = {ip};
    ASSERT_TRUE(client_->update(client::res::kEndpointSlices, "default", changed));
  };
  uint64_t syncs = proxy_->syncCount();
  replace("10.250.0.3");
  ASSERT_TRUE(eventually([&] { return proxy_->syncCount() > syncs && proxy_->waitForSync(0ms); }));
  EXPECT_FALSE(proxy_->lastSyncWasFull());
  std::string m = map("backends-tcp-1");
  EXPECT_NE(m.find("elements = { 4096 : 10.250.0.3 . 8080 }"), std::string::npos) << m;
  EXPECT_EQ(m.find("10.250.0.2"), std::string::npos) << m;
  std::string h = set("hairpin");
  EXPECT_NE(h.find("elements = { 10.250.0.3 . 10.250.0.3 }"), std::string::npos) << h;
  EXPECT_NE(map("service-ips").find(vip + " . tcp . 80 : goto svc-default/web/tcp/http"), std::string::npos);
  seen = spread("c", vip, 80, 5);
  EXPECT_EQ(seen, (std::map<std::string, int>{{"ep2", 5}}));
  std::printf("[timing] element-only sync %lld us\n",
              static_cast<long long>(proxy_->lastSyncDuration().count()));

  // Someone deletes the element: the next batch's delete fails, the whole
  // batch with it, and a full resync puts the rules right. It builds them
  // in the alternate table (dormant, then woken as the first one is
  // deleted, in one transaction), so the first table is gone after it.
  ASSERT_TRUE(sh({"/usr/sbin/ip", "netns", "exec", ns_["r"], "/usr/sbin/nft", "delete", "element", "ip",
                  shardTable(table_, serviceShard("default/web")), "backends-tcp-1", "{ 4096 }"}));
  replace("10.250.0.2");
  ASSERT_TRUE(eventually([&] { return proxy_->lastSyncWasFull() && proxy_->waitForSync(0ms); }))
      << proxy_->lastSyncStatus().message();
  std::string listed = tables("r");
  EXPECT_EQ(listed.find("table ip " + table_ + "\n"), std::string::npos) << listed;
  EXPECT_NE(listed.find("table ip " + alternateTable(table_) + "\n"), std::string::npos) << listed;
  live = alternateTable(table_);
  m = map("backends-tcp-1");
  EXPECT_NE(m.find("elements = { 4096 : 10.250.0.2 . 8080 }"), std::string::npos) << m;
  EXPECT_EQ(table(live).find("flags dormant"), std::string::npos);
  EXPECT_NE(table(live).find("svc-default/web/tcp/http"), std::string::npos);
  seen = spread("c", vip, 80, 5);
  EXPECT_EQ(seen, (std::map<std::string, int>{{"ep1", 5}}));

  // Changes after the switch go to the live table.
  replace("10.250.0.3");
  ASSERT_TRUE(eventually([&] { return map("backends-tcp-1").find("10.250.0.3 . 8080") != std::string::npos; }))
      << map("backends-tcp-1");
  EXPECT_FALSE(proxy_->lastSyncWasFull());
  seen = spread("c", vip, 80, 5);
  EXPECT_EQ(seen, (std::map<std::string, int>{{"ep2", 5}}));

  // A proxy started again adopts the alternate as live and switches back;
  // stop(true) removes whichever tables exist.
  ASSERT_TRUE(proxy_->stop(/*remove_rules=*/false));
  proxy_.reset();
  informers_ = std::make_unique<client::InformerFactory>(*client_, 0ms);
  ASSERT_NO_FATAL_FAILURE(startProxy());
  ASSERT_TRUE(eventually([&] { return proxy_->syncCount() > 0 && proxy_->waitForSync(0ms); }));
  listed = tables("r");
  EXPECT_NE(listed.find("table ip " + table_ + "\n"), std::string::npos) << listed;
  EXPECT_EQ(listed.find("table ip " + alternateTable(table_) + "\n"), std::string::npos) << listed;
  live = table_;
  EXPECT_NE(map("backends-tcp-1").find("10.250.0.3 . 8080"), std::string::npos) << map("backends-tcp-1");
  seen = spread("c", vip, 80, 5);
  EXPECT_EQ(seen, (std::map<std::string, int>{{"ep2", 5}}));
  ASSERT_TRUE(proxy_->stop(/*remove_rules=*/true));
  EXPECT_EQ(tables("r").find(table_), std::string::npos) << tables("r");
}

// The nfnetlink element path on its own, against a table the generator's
// text made: removals and additions land as sent, and a batch with one bad
// message changes nothing at all.
// A UDP server on a thread inside `netns` answering every datagram on :8080
// with `name`.
class UdpNameServer {
 public:
  UdpNameServer(const std::string& netns, std::string name) : name_(std::move(name)) {
    std::promise<bool> bound;
    auto ok = bound.get_future();
    thread_ = std::thread([this, netns, bound = std::move(bound)]() mutable {
      int s = enterNetworkNamespace(netns) ? socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0) : -1;
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(8080);
      if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (s >= 0) close(s);
        bound.set_value(false);
        return;
      }
      bound.set_value(true);
      while (!stop_) {
        pollfd p{s, POLLIN, 0};
        if (poll(&p, 1, 100) != 1) continue;
        char buf[64];
        sockaddr_in from{};
        socklen_t len = sizeof from;
        if (recvfrom(s, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len) < 0) continue;
        sendto(s, name_.data(), name_.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
      close(s);
    });
    ok_ = ok.get();
  }
  ~UdpNameServer() {
    stop_ = true;
    thread_.join();
  }
  bool ok() const { return ok_; }

 private:
  std::string name_;
  std::atomic<bool> stop_{false};
  bool ok_ = false;
  std::thread thread_;
};

// One datagram from `netns`, always from source port `src_port` (so every
// ask is the same flow to conntrack); the reply, or "refused"/"timeout".
std::string udpAsk(const std::string& netns, const std::string& ip, int port, int src_port) {
  std::string out;
  std::thread([&] {
    if (!enterNetworkNamespace(netns)) {
      out = "no netns";
      return;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_port = htons(static_cast<uint16_t>(src_port));
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, ip.c_str(), &dst.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
        connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 || send(fd, "?", 1, 0) != 1) {
      out = std::string("error: ") + std::strerror(errno);
    } else {
      pollfd p{fd, POLLIN, 0};
      char buf[64];
      ssize_t n = poll(&p, 1, 1000) == 1 ? recv(fd, buf, sizeof buf, 0) : -2;
      out = n >= 0 ? std::string(buf, static_cast<size_t>(n)) : n == -2 ? "timeout" : "refused";
    }
    close(fd);
  }).join();
  return out;
}

// UDP has no connection to end: a client that keeps its source port would
// follow its conntrack entry to the old endpoint (or to the rejection of a
// service without endpoints) until the entry times out. The proxy removes
// those entries when the endpoints change.
TEST_F(ServiceProxyTest, UdpFlowsFollowEndpointChanges) {
  UdpNameServer u1(path("e1"), "ep1"), u2(path("e2"), "ep2");
  ASSERT_TRUE(u1.ok() && u2.ok());
  ASSERT_NO_FATAL_FAILURE(startProxy());

  Json svc = create(client::res::kServices,
                    {{"apiVersion", "v1"},
                     {"kind", "Service"},
                     {"metadata", {{"name", "dns"}}},
                     {"spec", {{"ports", {{{"name", "dns"}, {"port", 53}, {"targetPort", 8080}, {"protocol", "UDP"}}}}}}});
  std::string vip = getString(svc["spec"], "clusterIP");
  auto setEndpoints = [&](const std::vector<std::string>& ips) {
    Json s = slice("dns", ips);
    s["ports"] = {{{"name", "dns"}, {"port", 8080}, {"protocol", "UDP"}}};
    auto cur = client_->get(client::res::kEndpointSlices, "default", "dns-abc");
    if (cur) {
      s["metadata"]["resourceVersion"] = (*cur)["metadata"]["resourceVersion"];
      ASSERT_TRUE(client_->update(client::res::kEndpointSlices, "default", s));
    } else {
      create(client::res::kEndpointSlices, s);
    }
    std::this_thread::sleep_for(50ms);  // the informer's event before waitForSync's snapshot
    ASSERT_TRUE(proxy_->waitForSync(10s));
  };
  setEndpoints({"10.250.0.2"});
  ASSERT_TRUE(eventually([&] { return udpAsk(path("c"), vip, 53, 40053) == "ep1"; }));
  EXPECT_EQ(udpAsk(path("c"), vip, 53, 40053), "ep1");

  // ep1 stops being an endpoint (it still listens): the same flow goes to ep2.
  setEndpoints({"10.250.0.3"});
  EXPECT_EQ(udpAsk(path("c"), vip, 53, 40053), "ep2");

  // No endpoints: rejected. Then one again: the flow that was rejected reaches it.
  setEndpoints({});
  EXPECT_EQ(udpAsk(path("c"), vip, 53, 40053), "refused");
  setEndpoints({"10.250.0.2"});
  EXPECT_EQ(udpAsk(path("c"), vip, 53, 40053), "ep1");
}

TEST(NftElementsRuntime, BatchAppliesAllOrNothing) {
  std::string ns = "cpxe-" + randomToken(6), table = "capstan_elements";
  ASSERT_TRUE(sh({"/usr/sbin/ip", "netns", "add", ns}));
  // web's maps are in its service table, the no-endpoint maps in the main one.
  const std::string web_table = shardTable(table, serviceShard("default/web"));
  auto list = [&](const std::string& map) {
    const std::string& in = map.rfind("no-endpoint", 0) == 0 ? table : web_table;
    return out({"/usr/sbin/ip", "netns", "exec", ns, "/usr/sbin/nft", "list", "map", "ip", in, map});
  };
  ServiceInfo si;
  si.ns = "default";
  si.name = "web";
  si.cluster_ip = "10.43.0.5";
  si.ports.push_back({"http", "tcp", 80, 30080, {{"10.42.0.2", 8080, "node-a"}}, {}});
  RuleGenerator gen({table, "10.42.0.0/16", "node-a"});
  Status st, bad;
  std::thread([&] {
    if (!(st = enterNetworkNamespace("/run/netns/" + ns))) return;
    auto nft = Nftables::open();
    auto elements = NftElements::open();
    if (!nft || !elements) {
      st = !nft ? nft.status() : elements.status();
      return;
    }
    if (!(st = (*nft)->run(gen.fullSync({{"default/web", si}})))) return;
    ServiceInfo next = si;
    next.ports[0].endpoints = {{"10.42.0.3", 8080, "node-b"}};
    SyncPlan plan = gen.plan({{"default/web", &next}});
    if (!plan.elements_only) {
      st = Status(Code::kInternal, "not element-only: " + plan.text);
      return;
    }
    if (!(st = (*elements)->apply(plan.tables))) return;
    // A valid addition and a deletion of an absent element: all or nothing.
    ElementChanges mixed;
    mixed.add["service-ips"] = {{"10.43.0.99 . tcp . 80", "goto reject-chain"}};
    mixed.remove["backends-tcp-1"] = {"4000"};
    bad = (*elements)->apply(web_table, mixed);
    // The socket is usable again after a failed batch.
    ElementChanges ok;
    ok.add["no-endpoint-nodeports"] = {{"udp . 31000", "goto reject-chain"}};
    st = (*elements)->apply(table, ok);
  }).join();
  EXPECT_TRUE(st) << st.message();
  EXPECT_FALSE(bad);
  std::string backends = list("backends-tcp-1");
  EXPECT_NE(backends.find("elements = { 4096 : 10.42.0.3 . 8080 }"), std::string::npos) << backends;
  EXPECT_EQ(list("service-ips").find("10.43.0.99"), std::string::npos) << list("service-ips");
  EXPECT_NE(list("no-endpoint-nodeports").find("udp . 31000 : goto reject-chain"), std::string::npos)
      << list("no-endpoint-nodeports");
  EXPECT_TRUE(ServiceProxy::cleanup(table, "/run/netns/" + ns));
  EXPECT_TRUE(sh({"/usr/sbin/ip", "netns", "del", ns}));
}

// Not a benchmark (bench/service is, against `nft -f` in the same run), but
// the figures to watch: a full sync of 1,000 services x 10 endpoints and one
// service change among them, generator + libnftables + kernel, in a scratch
// namespace.
TEST(ServiceProxyScale, FullSyncOfThousandServicesAndOneChange) {
  std::string ns = "cpxs-" + randomToken(6), table = "capstan_scale";
  ASSERT_TRUE(sh({"/usr/sbin/ip", "netns", "add", ns}));
  std::map<std::string, ServiceInfo> services;
  for (int s = 0; s < 1000; ++s) {
    ServiceInfo si;
    si.ns = "default";
    si.name = "svc" + std::to_string(s);
    si.cluster_ip = "10.43." + std::to_string(s / 250) + "." + std::to_string(s % 250 + 1);
    ServicePort sp{"http", "tcp", 80, 30000 + s, {}, {}};
    for (int e = 0; e < 10; ++e) {
      int n = s * 10 + e;
      sp.endpoints.push_back({"10.42." + std::to_string(n / 250) + "." + std::to_string(n % 250 + 1), 8080,
                              e < 3 ? "node-a" : "node-b"});
    }
    si.ports.push_back(sp);
    services["default/" + si.name] = si;
  }
  RuleGenerator gen({table, "10.42.0.0/16", "node-a"});
  double full_ms = 0, gen_ms = 0, change_ms = 0;
  Status st;
  std::thread([&] {
    if (!(st = enterNetworkNamespace("/run/netns/" + ns))) return;
    auto nft = Nftables::open();
    if (!nft) {
      st = nft.status();
      return;
    }
    for (int round = 0; round < 2 && st; ++round) {  // the second replaces a full table
      auto t0 = SteadyClock::now();
      std::string text = gen.fullSync(services);
      gen_ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
      st = (*nft)->run(text);
      full_ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
    }
    std::vector<double> changes;
    for (int i = 0; i < 20 && st; ++i) {
      ServiceInfo next = services["default/svc" + std::to_string(i * 7)];
      next.ports[0].endpoints.pop_back();
      auto t0 = SteadyClock::now();
      st = (*nft)->run(gen.update({{"default/" + next.name, &next}}));
      changes.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
    }
    std::sort(changes.begin(), changes.end());
    if (!changes.empty()) change_ms = changes.back();
  }).join();
  EXPECT_TRUE(st) << st.message();
  std::printf(
      "[timing] 1000 services x 10 endpoints: full sync %.1f ms (text %.1f ms), one change max of 20 %.1f "
      "ms\n",
      full_ms, gen_ms, change_ms);
  EXPECT_TRUE(ServiceProxy::cleanup(table, "/run/netns/" + ns));
  EXPECT_TRUE(sh({"/usr/sbin/ip", "netns", "del", ns}));
}

}  // namespace
}  // namespace capstan::proxy
