#pragma once
// Many watch streams read by one epoll thread, for the fan-out figure.
//
// Each stream is a blocking TLS handshake and request, then non-blocking
// reads: recvmsg() with SO_TIMESTAMPNS takes the bytes off the socket along
// with the kernel's receive time, and OpenSSL decrypts them from a memory
// BIO. The kernel time says when the event reached the watcher's socket,
// however long this one client thread then takes to get round to reading
// a thousand sockets; both times are kept.

#include <openssl/ssl.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace capstan::bench {

struct WatchFleetOptions {
  std::string host;
  uint16_t port = 0;
  std::string ca_file, cert_file, key_file;
  std::string target;  // GET target of the watch
  size_t watchers = 0;
  size_t events = 0;  // event k is an object named "<marker>K"
  std::string marker = "\"name\":\"bench-ev-";
};

class WatchFleet {
 public:
  // Opens every stream and reads its response headers; throws on failure.
  explicit WatchFleet(WatchFleetOptions opts);
  ~WatchFleet();

  void start();  // the reading thread
  void stop();

  // Watchers that have seen event k so far.
  size_t received(size_t k) const { return received_[k]->load(); }
  // CLOCK_REALTIME nanoseconds when event k reached watcher w's socket
  // (kernel) and when this client read it; 0 if it did not arrive.
  int64_t kernelNs(size_t k, size_t w) const { return kernel_ns_[k][w]; }
  int64_t readNs(size_t k, size_t w) const { return read_ns_[k][w]; }
  size_t watchers() const { return conns_.size(); }
  bool kernelTimestamps() const { return kernel_timestamps_; }

 private:
  struct Stream {
    int fd = -1;
    SSL* ssl = nullptr;
    BIO* in = nullptr;  // ciphertext from recvmsg, read by OpenSSL
    std::string text;   // decrypted, not yet scanned
  };
  void loop();
  void readStream(size_t w);

  WatchFleetOptions opts_;
  SSL_CTX* ctx_ = nullptr;
  std::vector<Stream> conns_;
  std::vector<std::vector<int64_t>> kernel_ns_, read_ns_;  // written by the thread only
  std::vector<std::unique_ptr<std::atomic<size_t>>> received_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> kernel_timestamps_{true};
  std::thread thread_;
};

}  // namespace capstan::bench
