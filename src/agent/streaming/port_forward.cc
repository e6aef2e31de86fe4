#include "agent/streaming/port_forward.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "agent/streaming/fd_pump.h"
#include "agent/streaming/spdy_connection.h"
#include "common/log.h"

namespace capstan::agent::streaming {

Result<int> connectInNetns(int pid, uint16_t port) {
  Result<int> result = Status(Code::kInternal, "not run");
  std::thread([&] {
    std::string ns = "/proc/" + std::to_string(pid) + "/ns/net";
    int nsfd = ::open(ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
      result = Status(Code::kNotFound, "open " + ns + ": " + std::strerror(errno));
      return;
    }
    // Only this thread changes namespace; it ends right after.
    int rc = ::setns(nsfd, CLONE_NEWNET);
    ::close(nsfd);
    if (rc != 0) {
      result = Status(Code::kInternal, std::string("setns: ") + std::strerror(errno));
      return;
    }
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
      result = Status(Code::kInternal, std::string("socket: ") + std::strerror(errno));
      return;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      result = Status(Code::kUnavailable, std::string("connect: ") + std::strerror(errno));
      ::close(s);
      return;
    }
    result = s;
  }).join();
  return result;
}

namespace {

struct Forward {
  uint32_t error_id = 0;
  uint32_t data_id = 0;
  uint16_t port = 0;
  std::shared_ptr<FdPump> pump;
  std::string early;  // data that came before the connection was made
  bool early_fin = false;
  bool connecting = false;
};

struct PortForward : std::enable_shared_from_this<PortForward> {
  int pid = 0;
  std::shared_ptr<SpdyConnection> conn;
  std::mutex mu;  // guards forwards, by_stream, gone
  std::map<std::string, Forward> forwards;    // by requestID
  std::map<uint32_t, std::string> by_stream;  // stream id -> requestID
  bool gone = false;

  void onStream(uint32_t id, const spdy::Headers& h) {
    std::string type = spdy::headerValue(h, "streamtype");
    std::string request_id = spdy::headerValue(h, "requestid");
    std::string port_s = spdy::headerValue(h, "port");
    int port = 0;
    try {
      port = std::stoi(port_s);
    } catch (...) {
    }
    std::unique_lock lock(mu);
    Forward& f = forwards[request_id];
    by_stream[id] = request_id;
    if (type == "error") f.error_id = id;
    else if (type == "data") f.data_id = id;
    else return conn->reset(id);
    if (port <= 0 || port > 65535) {
      uint32_t eid = f.error_id;
      lock.unlock();
      if (eid) {
        conn->write(eid, "invalid port \"" + port_s + "\"");
        conn->finish(eid);
      }
      return;
    }
    f.port = static_cast<uint16_t>(port);
    if (!f.data_id || !f.error_id || f.connecting) return;
    f.connecting = true;
    lock.unlock();
    // setns and connect block: a thread of their own.
    std::thread([self = shared_from_this(), request_id, port = f.port] { self->connect(request_id, port); }).detach();
  }

  void connect(const std::string& request_id, uint16_t port) {
    auto fd = connectInNetns(pid, port);
    std::unique_lock lock(mu);
    auto it = forwards.find(request_id);
    if (it == forwards.end() || gone) {
      if (fd) ::close(*fd);
      return;
    }
    Forward& f = it->second;
    if (!fd) {
      uint32_t eid = f.error_id, did = f.data_id;
      lock.unlock();
      conn->write(eid, "error forwarding port " + std::to_string(port) + " to pod: " + fd.status().message());
      conn->finish(eid);
      conn->finish(did);
      return;
    }
    FdPumpOptions opts;
    opts.input_fd = *fd;
    opts.output_fds = {*fd};
    opts.input_is_socket = true;
    uint32_t data_id = f.data_id, error_id = f.error_id;
    auto self = shared_from_this();
    f.pump = FdPump::start(
        opts,
        [self, data_id](FdPump& pump, size_t, std::string data) {
          size_t n = data.size();
          self->conn->write(data_id, std::move(data), [p = pump.shared_from_this(), n](Status) { p->consumed(n); });
        },
        [self, data_id, error_id, request_id](int) {
          self->conn->finish(data_id);
          self->conn->finish(error_id);
          std::lock_guard lock(self->mu);
          self->forwards.erase(request_id);
          self->by_stream.erase(data_id);
          self->by_stream.erase(error_id);
        });
    if (!f.early.empty()) f.pump->write(std::move(f.early));
    if (f.early_fin) f.pump->closeInput();
  }

  void onData(uint32_t id, std::string data) {
    std::lock_guard lock(mu);
    auto s = by_stream.find(id);
    if (s == by_stream.end()) return;
    Forward& f = forwards[s->second];
    if (id != f.data_id) return;
    if (f.pump) f.pump->write(std::move(data));
    else if (f.early.size() < (4u << 20)) f.early += data;
  }

  void onFin(uint32_t id) {
    std::lock_guard lock(mu);
    auto s = by_stream.find(id);
    if (s == by_stream.end()) return;
    Forward& f = forwards[s->second];
    if (id != f.data_id) return;
    if (f.pump) f.pump->closeInput();
    else f.early_fin = true;
  }

  void onClose() {
    std::lock_guard lock(mu);
    gone = true;
    for (auto& [k, f] : forwards)
      if (f.pump) f.pump->stop();
  }
};

}  // namespace

void servePortForward(std::shared_ptr<apiserver::DuplexStream> stream, int pid) {
  auto pf = std::make_shared<PortForward>();
  pf->pid = pid;
  SpdyConnection::Handlers h;
  h.on_stream = [pf](uint32_t id, const spdy::Headers& headers) { pf->onStream(id, headers); };
  h.on_data = [pf](uint32_t id, std::string data) { pf->onData(id, std::move(data)); };
  h.on_fin = [pf](uint32_t id) { pf->onFin(id); };
  h.on_close = [pf] { pf->onClose(); };
  pf->conn = SpdyConnection::create(std::move(stream), std::move(h));
  pf->conn->run();
}

}  // namespace capstan::agent::streaming
