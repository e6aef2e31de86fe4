// The only translation unit that includes Beast/Asio (they are heavy to
// compile); keep it that way.
#include "apiserver/http_server.h"

#include "apiserver/tls_duplex.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

#include "common/json.h"
#include "common/log.h"
#include "common/pki.h"

namespace capstan::apiserver {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kIdleTimeout = std::chrono::seconds(120);

std::string statusBody(int code, const std::string& reason, const std::string& message) {
  Json j = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Failure"},
            {"message", message}, {"reason", reason}, {"code", code}};
  return j.dump();
}

class Session;

// Sink handed to a StreamBody; forwards chunks to the session's strand.
class SessionSink final : public StreamSink {
 public:
  explicit SessionSink(std::weak_ptr<Session> s) : session_(std::move(s)) {}
  bool write(std::string chunk) override;
  void close() override;
  size_t pendingBytes() const override { return pending_.load(); }

  std::atomic<size_t> pending_{0};
  std::atomic<bool> closed_{false};

 private:
  std::weak_ptr<Session> session_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, ssl::context& ctx, const HttpServerOptions& opts, const Handler& handler,
          std::shared_ptr<net::io_context> io_owner)
      : io_owner_(std::move(io_owner)), stream_(std::move(socket), ctx), opts_(opts), handler_(handler) {}

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->handshake(); });
  }

  net::any_io_executor executorForSink() { return stream_.get_executor(); }

  // Strand-only from here on.
  void queueChunk(std::string chunk) {
    chunks_.push_back(std::move(chunk));
    if (!writing_) writeNextChunk();
  }
  void finishStream() {
    finish_requested_ = true;
    if (!writing_) writeNextChunk();
  }

 private:
  void handshake() {
    // Asio asks OpenSSL to free its record buffers when idle; with keep-alive
    // and watches that is a 17 KiB malloc/free per record (see
    // docs/performance.md). Keep them.
    SSL_clear_mode(stream_.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    beast::get_lowest_layer(stream_).expires_after(kHandshakeTimeout);
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) { self->onHandshake(ec); });
  }

  void onHandshake(beast::error_code ec) {
    if (ec) return;
    SSL* ssl = stream_.native_handle();
    if (X509* cert = SSL_get1_peer_certificate(ssl)) {
      if (SSL_get_verify_result(ssl) == X509_V_OK) {
        auto id = pki::identityFromCertificate(cert);
        cert_user_ = UserInfo{id.user, "", id.groups};
      }
      X509_free(cert);
    }
    try {
      remote_ = beast::get_lowest_layer(stream_).socket().remote_endpoint().address().to_string();
    } catch (...) {
    }
    doRead();
  }

  void doRead() {
    parser_.emplace();
    parser_->body_limit(opts_.max_body_bytes);
    parser_->header_limit(256 * 1024);
    beast::get_lowest_layer(stream_).expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::ssl::error::stream_truncated) {
      return shutdown();
    }
    if (ec == http::error::body_limit) {
      // Read (and drop) what the client is still sending before closing,
      // so that it sees the 413 rather than a reset connection.
      drain_ = true;
      return writeError(413, "RequestEntityTooLarge",
                        "the request body is larger than the limit of " + std::to_string(opts_.max_body_bytes) +
                            " bytes",
                        false);
    }
    if (ec == http::error::header_limit) {
      return writeError(431, "RequestHeaderFieldsTooLarge", "request headers too large", false);
    }
    if (ec) {
      if (parser_ && parser_->got_some() && ec != beast::error::timeout)
        return writeError(400, "BadRequest", "malformed HTTP request: " + ec.message(), false);
      return;
    }
    auto msg = parser_->release();
    // Kept for a handler that switches protocols (WebSocket accept needs
    // the request's handshake headers).
    upgrade_req_.reset();
    if (beast::websocket::is_upgrade(msg)) upgrade_req_.emplace(msg.base());
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = sanitizeUtf8(msg.target());
    auto parsed = boost::urls::parse_origin_form(req.target);
    if (!parsed) {
      return writeError(400, "BadRequest", "malformed request target", true);
    }
    // Percent-decoding can yield any bytes; everything above the transport
    // may assume valid UTF-8.
    req.path = sanitizeUtf8(parsed->path());
    for (auto p : parsed->params())
      req.query.emplace_back(sanitizeUtf8(p.key), p.has_value ? sanitizeUtf8(p.value) : std::string());
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = sanitizeUtf8(f.value());
      auto [it, inserted] = req.headers.emplace(sanitizeUtf8(name), value);
      if (!inserted) it->second += "," + value;
    }
    req.body = std::move(msg.body());
    req.remote = remote_;
    req.cert_user = cert_user_;
    beast::get_lowest_layer(stream_).expires_never();
    auto self = shared_from_this();
    handler_(std::move(req), [self](Response r) {
      net::post(self->stream_.get_executor(), [self, r = std::move(r)]() mutable { self->respond(std::move(r)); });
    });
  }

  void writeError(int code, const std::string& reason, const std::string& message, bool keep_alive) {
    Response r;
    r.status = code;
    r.body = statusBody(code, reason, message);
    keep_alive_ = keep_alive;
    respond(std::move(r));
  }

  void respond(Response r) {
    if (r.upgrade) return switchProtocols(std::move(r));
    if (r.stream) return startStream(std::move(r));
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), version_);
    res->set(http::field::server, "capstan");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-cache, private");
    for (auto& [k, v] : r.headers) res->insert(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(kIdleTimeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec) return;
      if (self->keep_alive_) self->doRead();
      else if (self->drain_) self->drainThenShutdown();
      else self->shutdown();
    });
  }

  // Hands the connection to the handler's upgrade callback: a WebSocket
  // (Beast does the handshake) or raw bytes after a 101 with the handler's
  // headers. The session is done with the connection afterwards.
  void switchProtocols(Response r) {
    shut_ = true;
    if (r.websocket_protocol) {
      if (!upgrade_req_) return writeError(400, "BadRequest", "not a WebSocket upgrade request", false);
      auto ws = std::make_shared<detail::WsDuplex>(std::move(stream_), io_owner_);
      std::string protocol = *r.websocket_protocol;
      auto headers = std::move(r.headers);
      ws->ws().set_option(beast::websocket::stream_base::decorator(
          [protocol, headers](beast::websocket::response_type& res) {
            res.set(http::field::server, "capstan");
            if (!protocol.empty()) res.set(http::field::sec_websocket_protocol, protocol);
            for (auto& [k, v] : headers) res.insert(k, v);
          }));
      auto req = std::make_shared<http::request<http::empty_body>>(*upgrade_req_);
      ws->ws().async_accept(*req, [ws, req, cb = std::move(r.upgrade)](beast::error_code ec) {
        if (ec) return;
        cb(ws);
      });
      return;
    }
    auto res = std::make_shared<http::response<http::empty_body>>(http::status::switching_protocols, version_);
    for (auto& [k, v] : r.headers) res->insert(k, v);
    http::async_write(stream_, *res, [self = shared_from_this(), res, cb = std::move(r.upgrade)](beast::error_code ec, size_t) {
      if (ec) return;
      std::string initial = beast::buffers_to_string(self->buffer_.data());
      self->buffer_.consume(self->buffer_.size());
      cb(std::make_shared<detail::TlsDuplex>(std::move(self->stream_), std::move(initial), self->io_owner_));
    });
  }

  void drainThenShutdown() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_read_some(net::buffer(drain_buf_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > 4 * self->opts_.max_body_bytes) return self->shutdown();
      self->drainThenShutdown();
    });
  }

  void startStream(Response r) {
    body_ = std::move(r.stream);
    if (r.stream_timeout.count() > 0) {
      stream_timer_.emplace(stream_.get_executor());
      stream_timer_->expires_after(r.stream_timeout);
      stream_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec) return;
        if (self->sink_) self->sink_->closed_ = true;
        if (self->body_) {
          auto b = std::move(self->body_);
          b->stop();
        }
        self->finishStream();
      });
    }
    stream_res_.emplace(http::status::ok, version_);
    stream_res_->set(http::field::server, "capstan");
    stream_res_->set(http::field::content_type, r.content_type);
    stream_res_->set(http::field::cache_control, "no-cache, private");
    for (auto& [k, v] : r.headers) stream_res_->insert(k, v);
    stream_res_->chunked(true);
    stream_res_->keep_alive(false);
    serializer_.emplace(*stream_res_);
    writing_ = true;
    http::async_write_header(stream_, *serializer_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) return self->abortStream();
      self->sink_ = std::make_shared<SessionSink>(self->weak_from_this());
      self->watchForClose();
      self->body_->start(self->sink_);
      self->writeNextChunk();
    });
  }

  // A streaming client sends nothing more; a completed read means it left.
  void watchForClose() {
    stream_.async_read_some(net::buffer(probe_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->abortStream();
      self->watchForClose();
    });
  }

  void writeNextChunk() {
    if (writing_ || !sink_) return;
    if (!chunks_.empty()) {
      writing_ = true;
      current_ = std::move(chunks_.front());
      chunks_.pop_front();
      net::async_write(stream_, http::make_chunk(net::buffer(current_)),
                        [self = shared_from_this()](beast::error_code ec, size_t) {
                          self->writing_ = false;
                          self->sink_->pending_ -= self->current_.size();
                          if (ec) return self->abortStream();
                          self->writeNextChunk();
                        });
      return;
    }
    if (finish_requested_ && !finished_) {
      finished_ = true;
      writing_ = true;
      net::async_write(stream_, http::make_chunk_last(), [self = shared_from_this()](beast::error_code, size_t) {
        self->writing_ = false;
        self->abortStream();
      });
    }
  }

  void abortStream() {
    if (stream_timer_) stream_timer_->cancel();
    if (sink_) sink_->closed_ = true;
    if (body_) {
      auto b = std::move(body_);
      b->stop();
    }
    chunks_.clear();
    shutdown();
  }

  void shutdown() {
    if (shut_) return;
    shut_ = true;
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().close(ignored);
    });
  }

  std::shared_ptr<net::io_context> io_owner_;  // before stream_: released after it
  beast::ssl_stream<beast::tcp_stream> stream_;
  const HttpServerOptions& opts_;
  const Handler& handler_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
  std::string remote_;
  std::optional<UserInfo> cert_user_;
  std::optional<http::request_header<>> upgrade_req_;
  bool shut_ = false;
  bool drain_ = false;
  size_t drained_ = 0;
  std::array<char, 64 * 1024> drain_buf_;

  // Streaming state.
  std::shared_ptr<StreamBody> body_;
  std::shared_ptr<SessionSink> sink_;
  std::optional<http::response<http::empty_body>> stream_res_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  std::optional<net::steady_timer> stream_timer_;
  std::deque<std::string> chunks_;
  std::string current_;
  bool writing_ = false;
  bool finish_requested_ = false;
  bool finished_ = false;
  char probe_[1];
};

bool SessionSink::write(std::string chunk) {
  if (closed_) return false;
  auto s = session_.lock();
  if (!s) return false;
  pending_ += chunk.size();
  net::post(s->executorForSink(), [s, c = std::move(chunk)]() mutable { s->queueChunk(std::move(c)); });
  return true;
}

void SessionSink::close() {
  if (closed_.exchange(true)) return;
  if (auto s = session_.lock()) net::post(s->executorForSink(), [s] { s->finishStream(); });
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(const HttpServerOptions& opts, Handler handler)
      : opts_(opts), handler_(std::move(handler)), ctx_(ssl::context::tls_server), acceptor_(*ioc_) {}

  Status init() {
    try {
      ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      ctx_.use_certificate_chain_file(opts_.cert_file);
      ctx_.use_private_key_file(opts_.key_file, ssl::context::pem);
      if (!opts_.client_ca_file.empty()) {
        ctx_.load_verify_file(opts_.client_ca_file);
        // Ask for a client certificate but accept connections without one:
        // bearer tokens authenticate those.
        ctx_.set_verify_mode(ssl::verify_peer);
        SSL_CTX_set_verify(ctx_.native_handle(), SSL_VERIFY_PEER, nullptr);
        // With peer verification on, OpenSSL refuses to resume a session
        // (an internal_error alert) unless a session id context is set, and
        // browsers resume on every new connection.
        static constexpr unsigned char kSessionContext[] = "capstan";
        SSL_CTX_set_session_id_context(ctx_.native_handle(), kSessionContext, sizeof(kSessionContext) - 1);
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(opts_.client_ca_file.c_str());
        if (names) SSL_CTX_set_client_CA_list(ctx_.native_handle(), names);
      }
      // Only HTTP/1.1 over ALPN: kubectl and client-go fall back to it.
      SSL_CTX_set_alpn_select_cb(
          ctx_.native_handle(),
          [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
             void*) -> int {
            static const unsigned char kH11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
            unsigned char* sel = nullptr;
            if (SSL_select_next_proto(&sel, outlen, kH11, sizeof kH11, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
              *out = sel;
              return SSL_TLSEXT_ERR_OK;
            }
            return SSL_TLSEXT_ERR_NOACK;
          },
          nullptr);
      auto addr = net::ip::make_address(opts_.bind_address);
      tcp::endpoint ep(addr, opts_.port);
      acceptor_.open(ep.protocol());
      acceptor_.set_option(net::socket_base::reuse_address(true));
      if (ep.protocol() == tcp::v6()) acceptor_.set_option(net::ip::v6_only(false));
      acceptor_.bind(ep);
      acceptor_.listen(net::socket_base::max_listen_connections);
      port_ = acceptor_.local_endpoint().port();
    } catch (const std::exception& e) {
      return Status(Code::kInternal, std::string("http server: ") + e.what());
    }
    accept();
    for (int i = 0; i < std::max(1, opts_.threads); ++i) threads_.emplace_back([this] { ioc_->run(); });
    return Status::ok();
  }

  void accept() {
    acceptor_.async_accept(net::make_strand(*ioc_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == net::error::operation_aborted) return;
        LOG_WARN("accept failed", "error", ec.message());
      } else {
        socket.set_option(tcp::no_delay(true));
        std::make_shared<Session>(std::move(socket), ctx_, opts_, handler_, ioc_)->run();
      }
      accept();
    });
  }

  void stop() {
    if (stopped_.exchange(true)) return;
    net::post(*ioc_, [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    ioc_->stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  HttpServerOptions opts_;
  Handler handler_;
  // Shared with the connections handed over after a protocol switch, which
  // may outlive the server (tls_duplex.h).
  std::shared_ptr<net::io_context> ioc_ = std::make_shared<net::io_context>();
  ssl::context ctx_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpServerOptions& opts, Handler handler) {
  auto impl = std::make_unique<Impl>(opts, std::move(handler));
  if (auto st = impl->init(); !st) return st;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->port_; }
void HttpServer::stop() { impl_->stop(); }

}  // namespace capstan::apiserver
