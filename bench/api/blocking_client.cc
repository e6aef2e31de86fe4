#include "blocking_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

#include "common.h"

namespace capstan::bench {
namespace {

constexpr size_t kReadBuffer = 256 * 1024;

}  // namespace

BlockingClient::BlockingClient(const std::string& host, uint16_t port, const std::string& ca_file,
                               const std::string& cert_file, const std::string& key_file) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) throw std::runtime_error(sslError("SSL_CTX_new"));
  if (SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) != 1 ||
      SSL_CTX_use_certificate_file(ctx_, cert_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx_, key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error(sslError("TLS credentials"));
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  // Read ahead: one recv fills the buffer with as many records as arrived.
  SSL_CTX_set_read_ahead(ctx_, 1);
  SSL_CTX_set_default_read_buffer_len(ctx_, kReadBuffer);

  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (fd_ < 0 || ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
      ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("connect " + host + ":" + std::to_string(port) + ": " + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  if (SSL_connect(ssl_) != 1) throw std::runtime_error(sslError("TLS handshake"));
  chunk_.resize(kReadBuffer);
}

BlockingClient::~BlockingClient() {
  if (ssl_) {
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
  if (fd_ >= 0) ::close(fd_);
  if (ctx_) SSL_CTX_free(ctx_);
}

void BlockingClient::readSome() {
  int n = SSL_read(ssl_, chunk_.data(), static_cast<int>(chunk_.size()));
  if (n <= 0) throw std::runtime_error(sslError("TLS read"));
  in_.append(chunk_.data(), static_cast<size_t>(n));
}

BlockingClient::Timing BlockingClient::get(const std::string& target) {
  std::string req = "GET " + target +
                    " HTTP/1.1\r\nHost: capstan\r\nUser-Agent: capstan-api-bench\r\nAccept: application/json\r\n\r\n";
  auto t0 = std::chrono::steady_clock::now();
  if (SSL_write(ssl_, req.data(), static_cast<int>(req.size())) != static_cast<int>(req.size()))
    throw std::runtime_error(sslError("TLS write"));
  size_t end;
  while ((end = in_.find("\r\n\r\n")) == std::string::npos) readSome();
  Timing t;
  t.header_ms = msSince(t0);
  std::string head = in_.substr(0, end + 2);
  in_.erase(0, end + 4);
  if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) throw std::runtime_error("bad response: " + head.substr(0, 80));
  t.status = static_cast<unsigned>(std::stoi(head.substr(9, 3)));
  size_t length = 0;
  bool found = false;
  for (size_t pos = head.find("\r\n") + 2; pos < head.size();) {
    size_t eol = head.find("\r\n", pos);
    std::string line = head.substr(pos, eol - pos);
    pos = eol + 2;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "content-length") {
      length = std::stoull(line.substr(colon + 1));
      found = true;
    }
  }
  if (!found) throw std::runtime_error("response without Content-Length");
  body_.clear();
  body_.reserve(length);
  while (body_.size() + in_.size() < length) {
    body_ += in_;
    in_.clear();
    readSome();
  }
  size_t rest = length - body_.size();
  body_.append(in_, 0, rest);
  in_.erase(0, rest);
  t.body_bytes = body_.size();
  t.total_ms = msSince(t0);
  return t;
}

}  // namespace capstan::bench
