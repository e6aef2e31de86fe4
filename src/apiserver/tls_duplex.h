#pragma once
// Private to the Beast translation units (http_server.cc, kubelet_client.cc):
// a DuplexStream over a TLS connection that switched protocols, and one over
// a Beast WebSocket. Heavy templates: include from nowhere else.
//
// Threading: every public method posts to the connection's strand (the
// executor of the stream, which its owner made a strand); callbacks run
// there.
//
// Lifetime: a stream may outlive the server that handed it over (an exec
// session still holds it when the server stops), and a Beast stream must
// not be destroyed after its io_context. So each stream keeps the
// io_context's owner alive, released after the stream itself.

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <array>
#include <deque>
#include <memory>
#include <string>

#include "apiserver/http.h"

namespace capstan::apiserver::detail {

namespace net = boost::asio;
namespace beast = boost::beast;

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

inline Status closedStatus(const beast::error_code& ec) {
  return Status(Code::kUnavailable, ec ? ec.message() : std::string("stream closed"));
}

// The write queue and close logic shared by both streams. `Derived`
// provides startWrite(data, handler(ec)), startRead(handler(ec, string)) and
// startClose().
template <typename Derived>
class DuplexBase : public DuplexStream, public std::enable_shared_from_this<Derived> {
 public:
  DuplexBase(net::any_io_executor ex, std::shared_ptr<void> io_owner)
      : io_owner_(std::move(io_owner)), ex_(std::move(ex)) {}

  void read(std::function<void(Status, std::string)> done) override {
    net::post(ex_, [self = self(), done = std::move(done)]() mutable {
      if (self->closing_ || self->failed_) return done(closedStatus({}), {});
      if (!self->initial_.empty()) {
        std::string d = std::move(self->initial_);
        self->initial_.clear();
        return done(Status::ok(), std::move(d));
      }
      self->derived().startRead([self, done = std::move(done)](beast::error_code ec, std::string data) {
        if (ec) {
          self->failed_ = true;
          return done(closedStatus(ec), {});
        }
        done(Status::ok(), std::move(data));
      });
    });
  }

  void write(std::string data, std::function<void(Status)> done) override {
    net::post(ex_, [self = self(), data = std::move(data), done = std::move(done)]() mutable {
      if (self->closing_ || self->failed_) {
        if (done) done(closedStatus({}));
        return;
      }
      self->queue_.emplace_back(std::move(data), std::move(done));
      self->writeNext();
    });
  }

  void close() override {
    net::post(ex_, [self = self()] {
      if (self->closing_) return;
      self->closing_ = true;
      self->writeNext();
    });
  }

  // Bytes the transport had already read past the upgrade response.
  std::string initial_;

 protected:
  Derived& derived() { return static_cast<Derived&>(*this); }
  std::shared_ptr<Derived> self() { return this->shared_from_this(); }

  void writeNext() {
    if (writing_) return;
    if (queue_.empty()) {
      if (closing_ && !closed_) {
        closed_ = true;
        derived().startClose();
      }
      return;
    }
    writing_ = true;
    derived().startWrite(queue_.front().first, [self = self()](beast::error_code ec) {
      self->writing_ = false;
      auto done = std::move(self->queue_.front().second);
      self->queue_.pop_front();
      if (ec) {
        self->failed_ = true;
        if (done) done(closedStatus(ec));
        for (auto& [d, cb] : self->queue_)
          if (cb) cb(closedStatus(ec));
        self->queue_.clear();
        if (!self->closed_) {
          self->closed_ = true;
          self->derived().startClose();
        }
        return;
      }
      if (done) done(Status::ok());
      self->writeNext();
    });
  }

  std::shared_ptr<void> io_owner_;  // first: destroyed after everything that uses the io_context
  net::any_io_executor ex_;
  std::deque<std::pair<std::string, std::function<void(Status)>>> queue_;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool failed_ = false;
};

// Raw bytes over TLS after a 101 (SPDY, or a relayed upgrade).
class TlsDuplex final : public DuplexBase<TlsDuplex> {
 public:
  TlsDuplex(TlsStream&& stream, std::string initial, std::shared_ptr<void> io_owner)
      : DuplexBase(stream.get_executor(), std::move(io_owner)), stream_(std::move(stream)) {
    initial_ = std::move(initial);
    beast::get_lowest_layer(stream_).expires_never();
  }

  template <typename H>
  void startRead(H handler) {
    stream_.async_read_some(net::buffer(buf_), [this, handler = std::move(handler), keep = self()](
                                                   beast::error_code ec, size_t n) mutable {
      handler(ec, ec ? std::string() : std::string(buf_.data(), n));
    });
  }
  template <typename H>
  void startWrite(const std::string& data, H handler) {
    net::async_write(stream_, net::buffer(data),
                     [handler = std::move(handler), keep = self()](beast::error_code ec, size_t) mutable { handler(ec); });
  }
  void startClose() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([keep = self()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(keep->stream_).socket().close(ignored);
    });
  }

 private:
  TlsStream stream_;
  std::array<char, 32 * 1024> buf_;
};

// Binary WebSocket messages (the handshake is done by the owner).
class WsDuplex final : public DuplexBase<WsDuplex> {
 public:
  using Ws = beast::websocket::stream<TlsStream>;
  WsDuplex(TlsStream&& stream, std::shared_ptr<void> io_owner)
      : DuplexBase(stream.get_executor(), std::move(io_owner)), ws_(std::move(stream)) {
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(beast::websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.read_message_max(16 * 1024 * 1024);
    ws_.binary(true);
  }
  Ws& ws() { return ws_; }

  template <typename H>
  void startRead(H handler) {
    ws_.async_read(rbuf_, [this, handler = std::move(handler), keep = self()](beast::error_code ec, size_t) mutable {
      std::string data = ec ? std::string() : beast::buffers_to_string(rbuf_.data());
      rbuf_.consume(rbuf_.size());
      handler(ec, std::move(data));
    });
  }
  template <typename H>
  void startWrite(const std::string& data, H handler) {
    ws_.async_write(net::buffer(data),
                    [handler = std::move(handler), keep = self()](beast::error_code ec, size_t) mutable { handler(ec); });
  }
  void startClose() {
    ws_.async_close(beast::websocket::close_code::normal, [keep = self()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(keep->ws_).socket().close(ignored);
    });
  }

 private:
  Ws ws_;
  beast::flat_buffer rbuf_;
};

}  // namespace capstan::apiserver::detail
