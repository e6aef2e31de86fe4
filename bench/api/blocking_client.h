#pragma once
// A lean blocking HTTPS client for single large responses (the LIST of
// 10,000 pods): OpenSSL on a plain socket with read-ahead into a 256 KiB
// buffer, and a response buffer reused across requests. The Asio client
// reads one TLS record (16 KiB) per recvmsg and allocates a fresh body each
// time; on two shared cores that client-side cost would be charged to the
// server. Not thread-safe; one request at a time.

#include <openssl/ssl.h>

#include <string>

namespace capstan::bench {

class BlockingClient {
 public:
  // Throws std::runtime_error on failure.
  BlockingClient(const std::string& host, uint16_t port, const std::string& ca_file, const std::string& cert_file,
                 const std::string& key_file);
  ~BlockingClient();
  BlockingClient(const BlockingClient&) = delete;
  BlockingClient& operator=(const BlockingClient&) = delete;

  struct Timing {
    unsigned status = 0;
    size_t body_bytes = 0;
    double header_ms = 0;  // request written -> response headers read
    double total_ms = 0;   // request written -> last body byte read
  };
  // GET with keep-alive; the response must carry Content-Length. The body
  // is left in body().
  Timing get(const std::string& target);
  const std::string& body() const { return body_; }

 private:
  void readSome();

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  std::string in_;    // bytes read but not yet consumed
  std::string body_;  // reused: its pages stay mapped between requests
  std::string chunk_;
};

}  // namespace capstan::bench
