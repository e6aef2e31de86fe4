// The socket load balancer (proxy/socket_lb.h) with the real BPF program on
// the real kernel: a client and a server network namespace joined by a veth
// pair, and no route to the ClusterIP at all, so a connect to it succeeds
// only when the program sent it to an endpoint.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "agent/runtime/process.h"
#include "proxy/socket_lb.h"

namespace capstan::proxy {
namespace {

bool ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/sbin/ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = agent::runtime::runProcess(argv);
  return r && r->exit_code == 0;
}

// Runs fn on a thread inside the namespace at `path`.
void inNetns(const std::string& path, const std::function<void()>& fn) {
  std::thread([&] {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::setns(fd, CLONE_NEWNET), 0);
    ::close(fd);
    fn();
  }).join();
}

class SocketLbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tag = std::to_string(getpid());
    client_ = "capstan-rt-slbc-" + tag;
    server_ = "capstan-rt-slbs-" + tag;
    ASSERT_TRUE(ip({"netns", "add", client_}));
    ASSERT_TRUE(ip({"netns", "add", server_}));
    ASSERT_TRUE(ip({"link", "add", "slbc" + tag, "netns", client_, "type", "veth", "peer", "name", "slbs" + tag,
                    "netns", server_}));
    ASSERT_TRUE(ip({"-n", client_, "addr", "add", "10.249.0.1/24", "dev", "slbc" + tag}));
    ASSERT_TRUE(ip({"-n", server_, "addr", "add", "10.249.0.2/24", "dev", "slbs" + tag}));
    for (const auto& [ns, dev] : {std::pair{client_, "slbc" + tag}, std::pair{server_, "slbs" + tag}}) {
      ASSERT_TRUE(ip({"-n", ns, "link", "set", "lo", "up"}));
      ASSERT_TRUE(ip({"-n", ns, "link", "set", dev, "up"}));
    }
    // Two listeners in the server namespace, each answering with its letter.
    for (auto [port, letter] : {std::pair{8080, 'A'}, std::pair{8081, 'B'}}) {
      inNetns(path(server_), [&] {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        ASSERT_EQ(::listen(fd, 64), 0);
        listeners_.push_back(fd);
      });
      int fd = listeners_.back();
      char c = letter;
      servers_.emplace_back([fd, c] {
        while (true) {
          int conn = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
          if (conn < 0) return;  // the listener was shut down
          (void)::write(conn, &c, 1);
          ::close(conn);
        }
      });
    }
    auto lb = SocketLoadBalancer::open();
    ASSERT_TRUE(lb) << lb.status().message();
    lb_ = std::move(*lb);
  }

  void TearDown() override {
    lb_.reset();  // detaches the program
    for (int fd : listeners_) ::shutdown(fd, SHUT_RDWR);
    for (auto& t : servers_) t.join();
    for (int fd : listeners_) ::close(fd);
    ip({"netns", "del", client_});
    ip({"netns", "del", server_});
  }

  static std::string path(const std::string& ns) { return "/run/netns/" + ns; }

  // Connects from the client namespace `n` times; counts the letters read
  // ('-' for a failed connect).
  std::map<char, int> connect(const std::string& to, int port, int n) {
    std::map<char, int> seen;
    inNetns(path(client_), [&] {
      for (int i = 0; i < n; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        ::inet_pton(AF_INET, to.c_str(), &a.sin_addr);
        char c = '-';
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
          if (::read(fd, &c, 1) != 1) c = '?';
          // The peer is still the address asked for, whatever served it.
          sockaddr_in peer{};
          socklen_t len = sizeof peer;
          if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0 ||
              peer.sin_addr.s_addr != a.sin_addr.s_addr || peer.sin_port != a.sin_port)
            c = 'p';
        }
        ::close(fd);
        ++seen[c];
      }
    });
    return seen;
  }

  static ServiceInfo service(std::vector<int> endpoint_ports, int affinity = 0) {
    ServiceInfo s;
    s.ns = "default";
    s.name = "web";
    s.cluster_ip = "10.96.7.7";
    s.affinity_timeout = affinity;
    ServicePort p{"http", "tcp", 80, 0, {}, {}};
    for (int port : endpoint_ports) p.endpoints.push_back({"10.249.0.2", port, "node-a"});
    s.ports.push_back(p);
    ServicePort udp{"dns", "udp", 53, 0, {{"10.249.0.2", 8080, "node-a"}}, {}};
    s.ports.push_back(udp);
    return s;
  }

  std::string client_, server_;
  std::vector<int> listeners_;
  std::vector<std::thread> servers_;
  std::unique_ptr<SocketLoadBalancer> lb_;
};

TEST_F(SocketLbTest, ConnectsToAClusterIpGoStraightToAnEndpoint) {
  // The pod IP works, the ClusterIP has no route.
  EXPECT_EQ(connect("10.249.0.2", 8080, 1), (std::map<char, int>{{'A', 1}}));
  EXPECT_EQ(connect("10.96.7.7", 80, 1), (std::map<char, int>{{'-', 1}}));

  ServiceInfo web = service({8080, 8081});
  ASSERT_TRUE(lb_->update({{"default/web", &web}}, false));
  EXPECT_EQ(lb_->servicePorts(), 1u);  // the TCP port only
  // Not for a namespace that is not registered.
  EXPECT_EQ(connect("10.96.7.7", 80, 1), (std::map<char, int>{{'-', 1}}));

  ASSERT_TRUE(lb_->addNetns("client", path(client_)));
  EXPECT_EQ(lb_->namespaces(), 1u);
  auto seen = connect("10.96.7.7", 80, 60);
  EXPECT_EQ(seen['A'] + seen['B'], 60) << "failed: " << seen['-'];
  EXPECT_GT(seen['A'], 5);  // both endpoints get connections
  EXPECT_GT(seen['B'], 5);
  EXPECT_GE(lb_->balancedConnections(), 60u);
  EXPECT_NE(lb_->renderMetrics().find("capstan_proxy_socket_lb_service_ports 1\n"), std::string::npos);
  // Another port of the same address is not the service's.
  EXPECT_EQ(connect("10.96.7.7", 81, 1), (std::map<char, int>{{'-', 1}}));

  // An endpoint replaced: only the new one from now on.
  ServiceInfo moved = service({8081});
  ASSERT_TRUE(lb_->update({{"default/web", &moved}}, false));
  EXPECT_EQ(connect("10.96.7.7", 80, 20), (std::map<char, int>{{'B', 20}}));

  // No endpoint: left to the nftables rules (which reject); here no route.
  ServiceInfo empty = service({});
  ASSERT_TRUE(lb_->update({{"default/web", &empty}}, false));
  EXPECT_EQ(lb_->servicePorts(), 0u);
  EXPECT_EQ(connect("10.96.7.7", 80, 1), (std::map<char, int>{{'-', 1}}));

  // sessionAffinity ClientIP stays with the rules too.
  ServiceInfo sticky = service({8080}, 10800);
  ASSERT_TRUE(lb_->update({{"default/web", &sticky}}, false));
  EXPECT_EQ(connect("10.96.7.7", 80, 1), (std::map<char, int>{{'-', 1}}));

  ASSERT_TRUE(lb_->update({{"default/web", &web}}, false));
  EXPECT_EQ(connect("10.96.7.7", 80, 5)['-'], 0);
  // Deleted.
  ASSERT_TRUE(lb_->update({{"default/web", nullptr}}, false));
  EXPECT_EQ(connect("10.96.7.7", 80, 1), (std::map<char, int>{{'-', 1}}));

  // A full update drops what it does not name.
  ASSERT_TRUE(lb_->update({{"default/web", &web}}, false));
  EXPECT_EQ(connect("10.96.7.7", 80, 5)['-'], 0);
  ASSERT_TRUE(lb_->update({}, true));
  EXPECT_EQ(lb_->servicePorts(), 0u);
  EXPECT_EQ(connect("10.96.7.7", 80, 1), (std::map<char, int>{{'-', 1}}));

  // A namespace removed is not balanced any more.
  ASSERT_TRUE(lb_->update({{"default/web", &web}}, false));
  EXPECT_EQ(connect("10.96.7.7", 80, 5)['-'], 0);
  // Registered under two names, it stays until both are gone.
  ASSERT_TRUE(lb_->addNetns("client-again", path(client_)));
  ASSERT_TRUE(lb_->removeNetns("client"));
  EXPECT_EQ(connect("10.96.7.7", 80, 5)['-'], 0);
  ASSERT_TRUE(lb_->removeNetns("client-again"));
  EXPECT_EQ(lb_->namespaces(), 0u);
  EXPECT_EQ(connect("10.96.7.7", 80, 1), (std::map<char, int>{{'-', 1}}));

  // Closing the balancer detaches the program.
  ASSERT_TRUE(lb_->addNetns("client", path(client_)));
  EXPECT_EQ(connect("10.96.7.7", 80, 1)['-'], 0);
  lb_.reset();
  EXPECT_EQ(connect("10.96.7.7", 80, 1), (std::map<char, int>{{'-', 1}}));
}

}  // namespace
}  // namespace capstan::proxy
