// dns_bench: cluster DNS answers per second for cluster names (issue 6),
// beside a floor measured in the same run: the same load client against a
// UDP echo server with the same number of threads, which costs only the
// kernel's loopback path and the client (no parsing, no lookup).
//
// An in-process API server (memory store) gets --services Services; the
// real DnsServer follows them through informers, as on a node, and serves
// on 127.0.0.1. The load client keeps --window queries in flight per
// thread (sendmmsg/recvmmsg) for cluster names picked at random, and
// checks that every answer is NOERROR with an address. Rounds alternate
// between capstan and the echo floor; the medians are reported.
//
// Usage: dns_bench [--services 1000] [--threads 2] [--server-threads 2]
//                  [--window 64] [--seconds 3] [--rounds 3]
//                  [--address 127.0.0.1] [--client-netns NAME]
// By default on loopback, from the host; no root needed. From a pod:
// bench/service/run.sh runs it in one network namespace with the servers on
// that namespace's veth address (--address) and the load client's threads
// in another namespace joined by the veth (--client-netns), as a pod's
// queries reach the node.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "apiserver/api_server.h"
#include "client/client.h"
#include "client/informer.h"
#include "dns/dns_server.h"

using namespace capstan;
using SteadyClock = std::chrono::steady_clock;

namespace {

struct Args {
  int services = 1000, threads = 2, server_threads = 2, window = 64, seconds = 3, rounds = 3;
  std::string address = "127.0.0.1";  // where the DNS server and the echo floor listen
  std::string client_netns;           // the load client's network namespace (ip netns name)
};

// A DNS query for an A record, id filled in per send.
std::string query(const std::string& name) {
  std::string q(12, '\0');
  q[2] = 0x01;  // RD
  q[5] = 1;     // QDCOUNT
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(static_cast<char>(dot - start));
    q.append(name, start, dot - start);
    start = dot + 1;
  }
  q.push_back('\0');
  q.append("\x00\x01\x00\x01", 4);  // A, IN
  return q;
}

int udpSocket() {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  return fd;
}

sockaddr_in socketAddress(const std::string& address, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1) throw std::runtime_error("bad address " + address);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

// Moves the calling thread (only it) into a named network namespace.
void enterNetns(const std::string& name) {
  int fd = open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) throw std::runtime_error("cannot enter network namespace " + name);
  close(fd);
}

// The floor: `threads` SO_REUSEPORT sockets that send every datagram back.
class EchoServer {
 public:
  EchoServer(const std::string& address, int threads) {
    for (int i = 0; i < threads; ++i) {
      int fd = udpSocket();
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
      sockaddr_in a = socketAddress(address, port_);
      if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("echo bind");
      if (port_ == 0) {
        socklen_t len = sizeof a;
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
      }
      fds_.push_back(fd);
    }
    for (int fd : fds_) threads_.emplace_back([this, fd] { run(fd); });
  }
  ~EchoServer() {
    stop_ = true;
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    for (auto& t : threads_) t.join();
    for (int fd : fds_) close(fd);
  }
  int port() const { return port_; }

 private:
  void run(int fd) {
    constexpr int kBatch = 64;
    std::vector<std::array<char, 512>> bufs(kBatch);
    std::vector<sockaddr_in> peers(kBatch);
    std::vector<iovec> iov(kBatch);
    std::vector<mmsghdr> msgs(kBatch);
    while (!stop_) {
      for (int i = 0; i < kBatch; ++i) {
        iov[i] = {bufs[i].data(), bufs[i].size()};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &peers[i];
        msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
      }
      int n = recvmmsg(fd, msgs.data(), kBatch, MSG_WAITFORONE, nullptr);
      if (n <= 0) continue;
      for (int i = 0; i < n; ++i) {
        iov[i].iov_len = msgs[i].msg_len;
        bufs[i][2] |= 0x80;  // QR: an answer
      }
      sendmmsg(fd, msgs.data(), n, 0);
    }
  }
  int port_ = 0;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
};

struct LoadResult {
  double answers_per_s = 0;
  uint64_t bad = 0;  // answers that are not NOERROR with an answer record (capstan only)
};

// `threads` clients, each keeping `window` queries in flight for `seconds`.
LoadResult load(int port, const std::vector<std::string>& queries, const Args& a, bool check) {
  std::atomic<uint64_t> answers{0}, bad{0};
  auto until = SteadyClock::now() + std::chrono::seconds(a.seconds);
  std::vector<std::thread> ts;
  for (int t = 0; t < a.threads; ++t) {
    ts.emplace_back([&, t] {
      if (!a.client_netns.empty()) enterNetns(a.client_netns);
      int fd = udpSocket();
      sockaddr_in to = socketAddress(a.address, port);
      connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to);
      std::mt19937 rng(t + 1);
      uint16_t id = 0;
      int in_flight = 0;
      char buf[1500];
      auto send_one = [&] {
        std::string q = queries[rng() % queries.size()];
        ++id;
        q[0] = static_cast<char>(id >> 8);
        q[1] = static_cast<char>(id & 0xff);
        if (send(fd, q.data(), q.size(), 0) > 0) ++in_flight;
      };
      uint64_t mine = 0, mine_bad = 0;
      while (SteadyClock::now() < until) {
        while (in_flight < a.window) send_one();
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) {
          in_flight = 0;  // lost ones (a full socket buffer): refill the window
          continue;
        }
        ssize_t n;
        while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
          --in_flight;
          ++mine;
          if (check && (n < 12 || (buf[3] & 0x0f) != 0 || (buf[6] == 0 && buf[7] == 0))) ++mine_bad;
        }
      }
      answers += mine;
      bad += mine_bad;
      close(fd);
    });
  }
  for (auto& t : ts) t.join();
  return {static_cast<double>(answers) / a.seconds, bad.load()};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int run(const Args& a) {
  auto dir = std::filesystem::temp_directory_path() / fmt::format("capstan-dns-bench-{}", ::getpid());
  apiserver::ApiServerOptions o;
  o.data_dir = dir.string();
  o.port = 0;
  o.bind_address = "127.0.0.1";
  o.datastore_endpoint = "memory://";
  auto api = apiserver::ApiServer::start(o);
  if (!api) {
    fmt::print(stderr, "api server: {}\n", api.status().message());
    return 1;
  }
  int rc = 0;
  {
    client::Client client((*api)->inProcessTransport({"bench", "", {"system:masters"}}), "dns-bench");
    for (int i = 0; i < a.services; ++i) {
      Json svc = {{"apiVersion", "v1"},
                  {"kind", "Service"},
                  {"metadata", {{"name", fmt::format("svc-{}", i)}, {"namespace", "default"}}},
                  {"spec", {{"ports", Json::array({{{"port", 80}}})}}}};
      if (auto r = client.create(client::res::kServices, "default", svc); !r) {
        fmt::print(stderr, "create service: {}\n", r.status().message());
        return 1;
      }
    }
    client::InformerFactory informers(client, std::chrono::milliseconds(0));
    dns::DnsServerOptions d;
    d.address = a.address;
    d.port = 0;
    d.upstreams = std::vector<std::string>{};  // cluster names only; nothing is forwarded
    d.threads = a.server_threads;
    auto dns = dns::DnsServer::start(d, informers);
    if (!dns) {
      fmt::print(stderr, "dns: {}\n", dns.status().message());
      return 1;
    }
    informers.start();
    informers.waitForSync(std::chrono::seconds(30));
    std::vector<std::string> queries;
    for (int i = 0; i < a.services; ++i) queries.push_back(query(fmt::format("svc-{}.default.svc.cluster.local", i)));
    // The zone follows the informers: wait until the last service answers.
    Args probe = a;
    probe.seconds = 1;
    probe.threads = 1;
    probe.window = 1;
    std::vector<std::string> last = {queries.back()};
    for (int i = 0; i < 50 && load((*dns)->port(), last, probe, true).bad > 0; ++i) {
    }
    EchoServer echo(a.address, a.server_threads);
    std::vector<double> capstan_rates, echo_rates;
    uint64_t bad = 0;
    for (int r = 0; r < a.rounds; ++r) {
      auto c = load((*dns)->port(), queries, a, true);
      capstan_rates.push_back(c.answers_per_s);
      bad += c.bad;
      echo_rates.push_back(load(echo.port(), queries, a, false).answers_per_s);
      fmt::print("round {}: capstan {:.0f} answers/s, echo floor {:.0f}/s\n", r + 1, capstan_rates.back(),
                 echo_rates.back());
    }
    double c = median(capstan_rates), e = median(echo_rates);
    fmt::print(
        "{{\"services\": {}, \"client_threads\": {}, \"server_threads\": {}, \"window\": {}, \"from\": \"{}\", "
        "\"capstan_answers_per_s\": {:.0f}, \"echo_floor_per_s\": {:.0f}, \"ratio\": {:.2f}, \"bad_answers\": {}}}\n",
        a.services, a.threads, a.server_threads, a.window, a.client_netns.empty() ? "host" : "pod", c, e,
        e > 0 ? c / e : 0, bad);
    if (bad > 0) rc = 1;
    (*dns)->stop();
    informers.stop();
  }
  (*api)->stop();
  std::filesystem::remove_all(dir);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (k == "--address") a.address = argv[i + 1];
    else if (k == "--client-netns") a.client_netns = argv[i + 1];
    else if (k == "--services") a.services = v;
    else if (k == "--threads") a.threads = v;
    else if (k == "--server-threads") a.server_threads = v;
    else if (k == "--window") a.window = v;
    else if (k == "--seconds") a.seconds = v;
    else if (k == "--rounds") a.rounds = v;
    else {
      fmt::print(stderr, "unknown flag {}\n", k);
      return 2;
    }
  }
  sockaddr_in probe{};
  if (inet_pton(AF_INET, a.address.c_str(), &probe.sin_addr) != 1) {
    fmt::print(stderr, "--address: not an IPv4 address: {}\n", a.address);
    return 2;
  }
  if (!a.client_netns.empty() && access(("/var/run/netns/" + a.client_netns).c_str(), R_OK) != 0) {
    fmt::print(stderr, "--client-netns: no network namespace {}\n", a.client_netns);
    return 2;
  }
  return run(a);
}
