// A Beast translation unit (with http_server.cc): the API server's client
// for the kubelet API.
#include "apiserver/kubelet_client.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <thread>

#include "apiserver/tls_duplex.h"
#include "common/json.h"
#include "common/log.h"

namespace capstan::apiserver {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr size_t kMaxErrorBody = 1 << 20;

Response failure(int code, const std::string& reason, const std::string& message) {
  Json j = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Failure"},
            {"message", message}, {"reason", reason}, {"code", code}};
  Response r;
  r.status = code;
  r.body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

// Headers of an upgrade request that the kubelet must see.
constexpr const char* kUpgradeHeaders[] = {"connection", "upgrade", "sec-websocket-key", "sec-websocket-version",
                                           "sec-websocket-protocol", "x-stream-protocol-version"};

class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(std::shared_ptr<net::io_context> ioc, ssl::context& ctx, KubeletEndpoint ep, std::string token, Responder done)
      : io_owner_(ioc),
        resolver_(net::make_strand(*ioc)),
        stream_(resolver_.get_executor(), ctx),
        ep_(std::move(ep)),
        token_(std::move(token)),
        done_(std::move(done)) {}

  void start(http::request<http::empty_body> req, bool upgrade) {
    req_ = std::move(req);
    upgrade_ = upgrade;
    req_.set(http::field::host, ep_.host + ":" + std::to_string(ep_.port));
    req_.set(http::field::authorization, "Bearer " + token_);
    req_.set(http::field::user_agent, "capstan-apiserver");
    if (!SSL_set_tlsext_host_name(stream_.native_handle(), ep_.host.c_str())) {
      // An IP address is not a valid SNI name; carry on without it.
    }
    net::dispatch(resolver_.get_executor(), [self = shared_from_this()] {
      self->resolver_.async_resolve(self->ep_.host, std::to_string(self->ep_.port),
                                    [self](beast::error_code ec, tcp::resolver::results_type results) {
                                      if (ec) return self->fail("resolve", ec);
                                      beast::get_lowest_layer(self->stream_).expires_after(kConnectTimeout);
                                      beast::get_lowest_layer(self->stream_)
                                          .async_connect(results, [self](beast::error_code ec, auto) {
                                            if (ec) return self->fail("connect", ec);
                                            self->handshake();
                                          });
                                    });
    });
  }

  // The log body, streamed into `sink` (called once the response headers went out).
  void pumpBody(std::shared_ptr<StreamSink> sink) {
    net::dispatch(resolver_.get_executor(), [self = shared_from_this(), sink] {
      self->sink_ = sink;
      self->readBody();
    });
  }
  void cancel() {
    net::post(resolver_.get_executor(), [self = shared_from_this()] {
      self->cancelled_ = true;
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().close(ignored);
    });
  }

 private:
  void fail(const char* what, beast::error_code ec) {
    if (!done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    done(failure(500, "InternalError",
                 "error dialing backend: " + std::string(what) + " " + ep_.host + ":" + std::to_string(ep_.port) +
                     ": " + ec.message()));
  }

  void handshake() {
    stream_.async_handshake(ssl::stream_base::client, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->fail("tls handshake", ec);
      http::async_write(self->stream_, self->req_, [self](beast::error_code ec, size_t) {
        if (ec) return self->fail("write", ec);
        self->parser_.body_limit(boost::none);
        http::async_read_header(self->stream_, self->buffer_, self->parser_, [self](beast::error_code ec, size_t) {
          if (ec) return self->fail("read", ec);
          self->onHeader();
        });
      });
    });
  }

  void onHeader() {
    beast::get_lowest_layer(stream_).expires_never();
    auto& res = parser_.get();
    int status = res.result_int();
    if (upgrade_ && status == 101) {
      Response r;
      for (const auto& f : res) {
        auto name = f.name_string();
        if (beast::iequals(name, "server") || beast::iequals(name, "date") || beast::iequals(name, "content-length"))
          continue;
        r.headers.emplace_back(std::string(name), std::string(f.value()));
      }
      std::string initial = beast::buffers_to_string(buffer_.data());
      buffer_.consume(buffer_.size());
      auto kubelet = std::make_shared<detail::TlsDuplex>(std::move(stream_), std::move(initial), io_owner_);
      r.upgrade = [kubelet](std::shared_ptr<DuplexStream> client) { relay(std::move(client), kubelet); };
      auto done = std::move(done_);
      done_ = nullptr;
      return done(std::move(r));
    }
    content_type_ = std::string(res[http::field::content_type]);
    if (status == 200 && !upgrade_) {
      // Streamed: the transport calls pumpBody() once headers are out.
      struct Body final : StreamBody {
        std::shared_ptr<Call> call;
        void start(std::shared_ptr<StreamSink> sink) override { call->pumpBody(std::move(sink)); }
        void stop() override { call->cancel(); }
      };
      auto body = std::make_shared<Body>();
      body->call = shared_from_this();
      Response r;
      r.content_type = content_type_.empty() ? "text/plain" : content_type_;
      r.stream = body;
      auto done = std::move(done_);
      done_ = nullptr;
      return done(std::move(r));
    }
    // An error (or an upgrade the kubelet refused): pass it on as it is.
    status_ = status;
    readBody();
  }

  void readBody() {
    if (cancelled_) return;
    if (parser_.is_done()) return finishBody();
    if (sink_ && sink_->pendingBytes() > (8u << 20)) {
      // The client reads slowly: wait before reading more from the kubelet.
      timer_.emplace(resolver_.get_executor());
      timer_->expires_after(std::chrono::milliseconds(20));
      timer_->async_wait([self = shared_from_this()](beast::error_code) { self->readBody(); });
      return;
    }
    parser_.get().body().data = chunk_.data();
    parser_.get().body().size = chunk_.size();
    http::async_read_some(stream_, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec == http::error::need_buffer) ec = {};
      size_t got = self->chunk_.size() - self->parser_.get().body().size;
      if (got > 0) {
        if (self->sink_) {
          if (!self->sink_->write(std::string(self->chunk_.data(), got))) return self->cancel();
        } else if (self->error_body_.size() < kMaxErrorBody) {
          self->error_body_.append(self->chunk_.data(), got);
        }
      }
      if (ec) return self->finishBody();
      self->readBody();
    });
  }

  void finishBody() {
    if (sink_) {
      sink_->close();
      sink_.reset();
      beast::error_code ignored;
      beast::get_lowest_layer(stream_).socket().close(ignored);
      return;
    }
    if (!done_) return;
    Response r;
    r.status = status_;
    r.content_type = content_type_.empty() ? "text/plain" : content_type_;
    r.body = std::move(error_body_);
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(r));
  }

  std::shared_ptr<net::io_context> io_owner_;  // before the I/O objects: released after them
  tcp::resolver resolver_;
  detail::TlsStream stream_;
  KubeletEndpoint ep_;
  std::string token_;
  Responder done_;
  http::request<http::empty_body> req_;
  bool upgrade_ = false;
  beast::flat_buffer buffer_;
  http::response_parser<http::buffer_body> parser_;
  std::array<char, 32 * 1024> chunk_;
  std::shared_ptr<StreamSink> sink_;
  std::optional<net::steady_timer> timer_;
  std::string content_type_;
  std::string error_body_;
  int status_ = 0;
  bool cancelled_ = false;
};

class KubeletClientImpl final : public KubeletClient {
 public:
  explicit KubeletClientImpl(const KubeletClientOptions& options)
      : options_(options), ctx_(ssl::context::tls_client), work_(net::make_work_guard(*ioc_)) {
    try {
      if (!options_.ca_file.empty()) {
        ctx_.load_verify_file(options_.ca_file);
        ctx_.set_verify_mode(ssl::verify_peer);
      } else {
        ctx_.set_verify_mode(ssl::verify_none);
      }
    } catch (const std::exception& e) {
      LOG_ERROR("kubelet client: cannot load CA", "file", options_.ca_file, "error", e.what());
    }
    thread_ = std::thread([this] { ioc_->run(); });
  }
  ~KubeletClientImpl() override {
    work_.reset();
    ioc_->stop();
    if (thread_.joinable()) thread_.join();
  }

  void get(const KubeletEndpoint& endpoint, const std::string& target, Responder done) override {
    http::request<http::empty_body> req(http::verb::get, target, 11);
    std::make_shared<Call>(ioc_, ctx_, endpoint, options_.token, std::move(done))->start(std::move(req), false);
  }

  void upgrade(const KubeletEndpoint& endpoint, const std::string& target, const Request& in,
               Responder done) override {
    http::request<http::empty_body> req(in.method == "POST" ? http::verb::post : http::verb::get, target, 11);
    for (const char* h : kUpgradeHeaders) {
      auto it = in.headers.find(h);
      if (it != in.headers.end()) req.set(h, it->second);
    }
    std::make_shared<Call>(ioc_, ctx_, endpoint, options_.token, std::move(done))->start(std::move(req), true);
  }

 private:
  KubeletClientOptions options_;
  // Shared with relayed connections, which may outlive the client (tls_duplex.h).
  std::shared_ptr<net::io_context> ioc_ = std::make_shared<net::io_context>();
  ssl::context ctx_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::thread thread_;
};

void pump(std::shared_ptr<DuplexStream> from, std::shared_ptr<DuplexStream> to) {
  from->read([from, to](Status st, std::string data) {
    if (!st) {
      to->close();
      from->close();
      return;
    }
    to->write(std::move(data), [from, to](Status st) {
      if (!st) {
        from->close();
        return;
      }
      pump(from, to);
    });
  });
}

}  // namespace

std::unique_ptr<KubeletClient> KubeletClient::create(const KubeletClientOptions& options) {
  return std::make_unique<KubeletClientImpl>(options);
}

void relay(std::shared_ptr<DuplexStream> a, std::shared_ptr<DuplexStream> b) {
  pump(a, b);
  pump(b, a);
}

}  // namespace capstan::apiserver
