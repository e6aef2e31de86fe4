#include "watch_fleet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "common.h"

namespace capstan::bench {
WatchFleet::WatchFleet(WatchFleetOptions opts) : opts_(std::move(opts)) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_ || SSL_CTX_load_verify_locations(ctx_, opts_.ca_file.c_str(), nullptr) != 1 ||
      SSL_CTX_use_certificate_file(ctx_, opts_.cert_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx_, opts_.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error(sslError("TLS credentials"));
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  kernel_ns_.assign(opts_.events, std::vector<int64_t>(opts_.watchers, 0));
  read_ns_.assign(opts_.events, std::vector<int64_t>(opts_.watchers, 0));
  for (size_t k = 0; k < opts_.events; ++k) received_.push_back(std::make_unique<std::atomic<size_t>>(0));

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(opts_.port);
  if (::inet_pton(AF_INET, opts_.host.c_str(), &addr.sin_addr) != 1) throw std::runtime_error("bad host " + opts_.host);
  const std::string request = "GET " + opts_.target +
                              " HTTP/1.1\r\nHost: capstan\r\nUser-Agent: capstan-api-bench\r\nAccept: application/json\r\n\r\n";
  conns_.resize(opts_.watchers);
  for (auto& s : conns_) {
    s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s.fd < 0 || ::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error(std::string("watch connect: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::setsockopt(s.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) != 0) kernel_timestamps_ = false;
    s.ssl = SSL_new(ctx_);
    SSL_set_fd(s.ssl, s.fd);
    if (SSL_connect(s.ssl) != 1) throw std::runtime_error(sslError("watch TLS handshake"));
    if (SSL_write(s.ssl, request.data(), static_cast<int>(request.size())) != static_cast<int>(request.size()))
      throw std::runtime_error(sslError("watch request"));
    // Blocking read of the response headers; what follows them is kept.
    std::string head;
    char buf[4096];
    size_t end;
    while ((end = head.find("\r\n\r\n")) == std::string::npos) {
      int n = SSL_read(s.ssl, buf, sizeof buf);
      if (n <= 0) throw std::runtime_error(sslError("watch response"));
      head.append(buf, static_cast<size_t>(n));
    }
    if (head.compare(0, 12, "HTTP/1.1 200") != 0) throw std::runtime_error("watch refused: " + head.substr(0, 200));
    s.text = head.substr(end + 4);
    // From here on, ciphertext arrives through recvmsg() into a memory BIO
    // (the socket BIO stays for writes).
    s.in = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(s.in, -1);
    SSL_set0_rbio(s.ssl, s.in);
  }
}

WatchFleet::~WatchFleet() {
  stop();
  for (auto& s : conns_) {
    if (s.ssl) SSL_free(s.ssl);
    if (s.fd >= 0) ::close(s.fd);
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (ctx_) SSL_CTX_free(ctx_);
}

void WatchFleet::start() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = UINT64_MAX;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  for (size_t w = 0; w < conns_.size(); ++w) {
    ev.data.u64 = w;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, conns_[w].fd, &ev);
  }
  thread_ = std::thread([this] { loop(); });
}

void WatchFleet::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  thread_.join();
}

void WatchFleet::loop() {
  // Anything that came with the headers.
  for (size_t w = 0; w < conns_.size(); ++w) readStream(w);
  std::vector<epoll_event> events(256);
  while (!stopping_) {
    int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 1000);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == UINT64_MAX) continue;
      readStream(events[i].data.u64);
    }
  }
}

void WatchFleet::readStream(size_t w) {
  Stream& s = conns_[w];
  char cipher[64 * 1024];
  char control[CMSG_SPACE(sizeof(timespec))];
  int64_t kernel_ns = 0;
  for (;;) {
    iovec iov{cipher, sizeof cipher};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(s.fd, &msg, MSG_DONTWAIT);
    if (n <= 0) break;  // EAGAIN, or the server closed the stream
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        timespec ts{};
        std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
        // The first bytes' arrival is the one that counts.
        if (!kernel_ns) kernel_ns = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
      }
    }
    BIO_write(s.in, cipher, static_cast<int>(n));
  }
  char plain[16 * 1024];
  for (int n; (n = SSL_read(s.ssl, plain, sizeof plain)) > 0;) s.text.append(plain, static_cast<size_t>(n));
  int64_t read_ns = realtimeNs();
  if (!kernel_ns) kernel_ns = read_ns;
  // Events are NDJSON lines inside HTTP chunks; only whole lines are read.
  size_t start = 0;
  for (size_t nl; (nl = s.text.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string_view line(s.text.data() + start, nl - start);
    auto at = line.find(opts_.marker);
    if (at == std::string_view::npos) continue;
    size_t k = 0;
    const char* p = line.data() + at + opts_.marker.size();
    std::from_chars(p, line.data() + line.size(), k);
    if (k < opts_.events && !read_ns_[k][w]) {
      kernel_ns_[k][w] = kernel_ns;
      read_ns_[k][w] = read_ns;
      received_[k]->fetch_add(1);
    }
  }
  s.text.erase(0, start);
}

}  // namespace capstan::bench
