// Beast and Asio (coroutines) live in this translation unit only.
#include "ingress/reverse_proxy.h"

#include <fmt/format.h>
#include <openssl/ssl.h>

#include <atomic>
#include <deque>
#include <optional>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <map>
#include <mutex>
#include <thread>

#include "common/log.h"

namespace capstan::ingress {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using net::awaitable;
using namespace net::experimental::awaitable_operators;

constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr size_t kChunk = 16 * 1024;

// A failure that ends one connection (thrown and caught inside this file only).
struct ConnectionClosed {};

void check(beast::error_code ec) {
  if (ec && ec != http::error::need_buffer) throw ConnectionClosed{};
}

template <class Stream>
void expire(Stream& s, std::chrono::milliseconds after) {
  beast::get_lowest_layer(s).expires_after(after);
}

// Streams the rest of a message whose header `p` has read from `in` to
// `out`: header first, then the body in chunks as they arrive.
template <bool isRequest, class In, class Out>
awaitable<void> relayMessage(http::parser<isRequest, http::buffer_body>& p, In& in,
                             beast::flat_buffer& in_buffer, Out& out, std::chrono::milliseconds idle) {
  http::serializer<isRequest, http::buffer_body> sr{p.get()};
  char chunk[kChunk];
  do {
    if (!p.is_done()) {
      p.get().body().data = chunk;
      p.get().body().size = sizeof chunk;
      expire(in, idle);
      auto [ec, n] = co_await http::async_read(in, in_buffer, p, kTuple);
      check(ec);
      p.get().body().size = sizeof chunk - p.get().body().size;
      p.get().body().data = chunk;
      p.get().body().more = !p.is_done();
    } else {
      p.get().body().data = nullptr;
      p.get().body().size = 0;
      p.get().body().more = false;
    }
    expire(out, idle);
    auto [ec, n] = co_await http::async_write(out, sr, kTuple);
    check(ec);
  } while (!p.is_done() && !sr.is_done());
}

// Copies bytes from `from` to `to` until either side closes (a tunnel
// after 101 Switching Protocols).
template <class From, class To>
awaitable<void> pump(From& from, To& to, std::chrono::milliseconds idle) {
  char buf[kChunk];
  for (;;) {
    expire(from, idle);
    auto [ec, n] = co_await from.async_read_some(net::buffer(buf), kTuple);
    if (ec) co_return;
    expire(to, idle);
    auto [wec, m] = co_await net::async_write(to, net::buffer(buf, n), kTuple);
    if (wec) co_return;
  }
}

// Idle upstream connections, kept after a complete keep-alive answer and
// reused by the next request to the same endpoint (nginx's upstream
// keepalive): at most kIdlePerEndpoint each, none idle longer than asked.
class UpstreamPool {
 public:
  static constexpr size_t kIdlePerEndpoint = 32;

  std::optional<tcp::socket> take(const std::string& endpoint, std::chrono::milliseconds max_idle) {
    std::lock_guard lock(mu_);
    auto it = idle_.find(endpoint);
    while (it != idle_.end() && !it->second.empty()) {
      Idle idle = std::move(it->second.back());
      it->second.pop_back();
      if (std::chrono::steady_clock::now() - idle.since > max_idle || !usable(idle.socket)) continue;
      return std::move(idle.socket);
    }
    return std::nullopt;
  }

  void put(const std::string& endpoint, tcp::socket socket) {
    std::lock_guard lock(mu_);
    auto& list = idle_[endpoint];
    if (list.size() >= kIdlePerEndpoint) list.pop_front();  // the oldest goes
    list.push_back({std::move(socket), std::chrono::steady_clock::now()});
  }

 private:
  // Still open, with nothing unasked-for to read (an upstream that closed
  // an idle connection has sent its FIN).
  static bool usable(tcp::socket& s) {
    char byte;
    ssize_t n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  struct Idle {
    tcp::socket socket;
    std::chrono::steady_clock::time_point since;
  };
  std::mutex mu_;
  std::map<std::string, std::deque<Idle>> idle_;
};

std::string appendForwardedFor(std::string_view existing, const std::string& ip) {
  if (existing.empty()) return ip;
  return std::string(existing) + ", " + ip;
}

}  // namespace

class ReverseProxy::Impl {
 public:
  explicit Impl(ReverseProxyOptions o) : opts_(std::move(o)), routes_(std::make_shared<RouteTable>()) {}

  Status start();
  void stop();
  void setRoutes(std::shared_ptr<const RouteTable> routes);

  ReverseProxyOptions opts_;
  net::io_context ioc_;
  std::optional<tcp::acceptor> http_acceptor_, https_acceptor_;
  std::optional<ssl::context> default_tls_;
  uint16_t http_port_ = 0, https_port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
  std::atomic<size_t> next_endpoint_{0};
  UpstreamPool pool_;

  std::mutex mu_;  // guards routes_ and tls_contexts_
  std::shared_ptr<const RouteTable> routes_;
  std::map<std::string, std::shared_ptr<ssl::context>> tls_contexts_;  // by secret + PEM

  std::shared_ptr<const RouteTable> routes() {
    std::lock_guard lock(mu_);
    return routes_;
  }
  static int onServerName(SSL* ssl, int* alert, void* arg);
  Result<tcp::acceptor> listen(int port);
  awaitable<void> acceptLoop(tcp::acceptor& acceptor, bool tls);
  awaitable<void> serveTls(tcp::socket socket);
  template <class Stream>
  awaitable<void> serve(Stream& stream, bool tls);
  template <class Stream>
  awaitable<bool> proxyRequest(Stream& stream, beast::flat_buffer& buffer,
                               http::request_parser<http::buffer_body>& req, const Backend& backend,
                               bool tls);
  template <class Stream>
  awaitable<void> answer(Stream& stream, http::status status, std::string_view text, unsigned version,
                         bool keep);
  // A new connection to `to` within the connect timeout.
  awaitable<bool> connect(beast::tcp_stream& upstream, const tcp::endpoint& to) {
    upstream.expires_after(opts_.connect_timeout);
    auto [ec] = co_await upstream.async_connect(to, kTuple);
    if (ec) upstream.close();  // the next async_connect opens it again
    co_return !ec;
  }
  static std::string endpointKey(const tcp::endpoint& e) {
    return e.address().to_string() + ":" + std::to_string(e.port());
  }
};

namespace {

std::string tlsKey(const TlsCertificate& c) { return c.secret + "\n" + c.cert_pem + c.key_pem; }

std::shared_ptr<ssl::context> contextFor(const TlsCertificate& c) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  beast::error_code ec;
  ctx->use_certificate_chain(net::buffer(c.cert_pem), ec);
  if (!ec) ctx->use_private_key(net::buffer(c.key_pem), ssl::context::pem, ec);
  if (ec || SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    LOG_WARN("ingress: unusable TLS secret", "secret", c.secret, "error",
             ec ? ec.message() : "key does not match");
    return nullptr;
  }
  return ctx;
}

}  // namespace

void ReverseProxy::Impl::setRoutes(std::shared_ptr<const RouteTable> routes) {
  // Build the SSL contexts of new certificates outside the lock.
  std::map<std::string, std::shared_ptr<ssl::context>> contexts;
  {
    std::lock_guard lock(mu_);
    contexts = tls_contexts_;
  }
  std::map<std::string, std::shared_ptr<ssl::context>> next;
  for (const auto& c : routes->certificates()) {
    std::string key = tlsKey(*c);
    if (next.count(key)) continue;
    auto it = contexts.find(key);
    auto ctx = it != contexts.end() ? it->second : contextFor(*c);
    if (ctx) next[key] = ctx;
  }
  std::lock_guard lock(mu_);
  routes_ = std::move(routes);
  tls_contexts_ = std::move(next);
}

int ReverseProxy::Impl::onServerName(SSL* ssl, int*, void* arg) {
  auto* self = static_cast<Impl*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  std::lock_guard lock(self->mu_);
  auto cert = self->routes_->certificateFor(name);
  if (!cert) return SSL_TLSEXT_ERR_OK;
  auto it = self->tls_contexts_.find(tlsKey(*cert));
  if (it != self->tls_contexts_.end()) SSL_set_SSL_CTX(ssl, it->second->native_handle());
  return SSL_TLSEXT_ERR_OK;
}

Result<tcp::acceptor> ReverseProxy::Impl::listen(int port) {
  beast::error_code ec;
  auto addr = net::ip::make_address(opts_.bind_address, ec);
  if (ec) return Status(Code::kInvalid, "ingress: bad bind address " + opts_.bind_address);
  tcp::acceptor a(ioc_);
  tcp::endpoint ep(addr, static_cast<uint16_t>(port));
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Status(Code::kInternal,
                  fmt::format("ingress: listen on {}:{}: {}", opts_.bind_address, port, ec.message()));
  return a;
}

Status ReverseProxy::Impl::start() {
  if (opts_.http_port >= 0) {
    auto a = listen(opts_.http_port);
    if (!a) return a.status();
    http_acceptor_.emplace(std::move(*a));
    http_port_ = http_acceptor_->local_endpoint().port();
  }
  if (opts_.https_port >= 0) {
    default_tls_.emplace(ssl::context::tls_server);
    beast::error_code ec;
    default_tls_->use_certificate_chain_file(opts_.default_cert_file, ec);
    if (!ec) default_tls_->use_private_key_file(opts_.default_key_file, ssl::context::pem, ec);
    if (ec) return Status(Code::kInvalid, "ingress: default certificate: " + ec.message());
    default_tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                              ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    SSL_CTX_set_tlsext_servername_callback(default_tls_->native_handle(), &Impl::onServerName);
    SSL_CTX_set_tlsext_servername_arg(default_tls_->native_handle(), this);
    auto a = listen(opts_.https_port);
    if (!a) return a.status();
    https_acceptor_.emplace(std::move(*a));
    https_port_ = https_acceptor_->local_endpoint().port();
  }
  if (http_acceptor_) net::co_spawn(ioc_, acceptLoop(*http_acceptor_, false), net::detached);
  if (https_acceptor_) net::co_spawn(ioc_, acceptLoop(*https_acceptor_, true), net::detached);
  for (int i = 0; i < std::max(1, opts_.threads); ++i) threads_.emplace_back([this] { ioc_.run(); });
  return Status::ok();
}

void ReverseProxy::Impl::stop() {
  if (stopped_.exchange(true)) return;
  net::post(ioc_, [this] {
    beast::error_code ec;
    if (http_acceptor_) http_acceptor_->close(ec);
    if (https_acceptor_) https_acceptor_->close(ec);
  });
  ioc_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

awaitable<void> ReverseProxy::Impl::acceptLoop(tcp::acceptor& acceptor, bool tls) {
  while (!stopped_) {
    auto [ec, socket] = co_await acceptor.async_accept(net::make_strand(ioc_), kTuple);
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
      continue;  // e.g. EMFILE: keep accepting
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto exec = socket.get_executor();
    if (tls) {
      net::co_spawn(exec, serveTls(std::move(socket)), net::detached);
    } else {
      net::co_spawn(
          exec,
          [this](tcp::socket s) -> awaitable<void> {
            beast::tcp_stream stream(std::move(s));
            co_await serve(stream, false);
          }(std::move(socket)),
          net::detached);
    }
  }
}

awaitable<void> ReverseProxy::Impl::serveTls(tcp::socket socket) {
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *default_tls_);
  expire(stream, opts_.idle_timeout);
  auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kTuple);
  if (ec) co_return;
  co_await serve(stream, true);
  expire(stream, std::chrono::seconds(1));
  co_await stream.async_shutdown(kTuple);
}

template <class Stream>
awaitable<void> ReverseProxy::Impl::answer(Stream& stream, http::status status, std::string_view text,
                                           unsigned version, bool keep) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::string(text);
  res.keep_alive(keep);
  res.prepare_payload();
  expire(stream, opts_.idle_timeout);
  co_await http::async_write(stream, res, kTuple);
}

template <class Stream>
awaitable<void> ReverseProxy::Impl::serve(Stream& stream, bool tls) {
  beast::flat_buffer buffer;
  try {
    for (;;) {
      http::request_parser<http::buffer_body> req;
      req.body_limit(boost::none);
      req.header_limit(64 * 1024);
      expire(stream, opts_.idle_timeout);
      auto [ec, n] = co_await http::async_read_header(stream, buffer, req, kTuple);
      if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
          ec == net::error::connection_reset || ec == net::error::operation_aborted ||
          ec == ssl::error::stream_truncated)
        co_return;
      if (ec) {  // not HTTP
        co_await answer(stream, http::status::bad_request, "400 Bad Request\n", 11, false);
        co_return;
      }
      auto& h = req.get();
      bool keep = h.keep_alive();
      // A body we do not read makes the connection unusable after the answer.
      bool can_keep = keep && req.is_done();
      auto routes = this->routes();
      const Backend* backend = routes->match(h[http::field::host], h.target());
      if (!backend) {
        co_await answer(stream, http::status::not_found, "404 page not found\n", h.version(), can_keep);
        if (!can_keep) co_return;
        continue;
      }
      if (backend->endpoints.empty()) {
        co_await answer(stream, http::status::service_unavailable, "no available server\n", h.version(),
                        can_keep);
        if (!can_keep) co_return;
        continue;
      }
      if (!co_await proxyRequest(stream, buffer, req, *backend, tls)) co_return;
      if (!keep) co_return;
    }
  } catch (const ConnectionClosed&) {
  }
}

// Relays one request and its answer; false when the client connection is
// done (closed, upgraded, or not to be kept alive).
template <class Stream>
awaitable<bool> ReverseProxy::Impl::proxyRequest(Stream& stream, beast::flat_buffer& buffer,
                                                 http::request_parser<http::buffer_body>& req,
                                                 const Backend& backend, bool tls) {
  auto& h = req.get();
  bool keep = h.keep_alive();
  bool upgrade = !h[http::field::upgrade].empty();
  beast::tcp_stream upstream(co_await net::this_coro::executor);
  size_t n = backend.endpoints.size();
  size_t first = next_endpoint_.fetch_add(1, std::memory_order_relaxed);
  std::optional<tcp::endpoint> target;
  bool reused = false;
  for (size_t i = 0; i < n && !target; ++i) {
    const Endpoint& ep = backend.endpoints[(first + i) % n];
    beast::error_code aec;
    auto addr = net::ip::make_address(ep.ip, aec);
    if (aec) continue;
    tcp::endpoint candidate(addr, static_cast<uint16_t>(ep.port));
    // An idle connection to it first (never for an upgrade: that one
    // becomes a tunnel).
    if (!upgrade)
      if (auto idle = pool_.take(endpointKey(candidate), opts_.idle_timeout)) {
        upstream.socket() = std::move(*idle);
        target = candidate;
        reused = true;
        break;
      }
    if (co_await connect(upstream, candidate)) target = candidate;
  }
  if (!target) {
    bool can_keep = keep && req.is_done();
    co_await answer(stream, http::status::bad_gateway, "Bad Gateway\n", h.version(), can_keep);
    co_return can_keep;
  }

  beast::error_code ec;
  auto peer = beast::get_lowest_layer(stream).socket().remote_endpoint(ec);
  auto local = beast::get_lowest_layer(stream).socket().local_endpoint(ec);
  std::string client_ip = ec ? "" : peer.address().to_string();
  std::string host(h[http::field::host]);
  h.set("X-Forwarded-For", appendForwardedFor(h["X-Forwarded-For"], client_ip));
  h.set("X-Forwarded-Host", host);
  h.set("X-Forwarded-Port", std::to_string(ec ? 0 : local.port()));
  h.set("X-Forwarded-Proto", tls ? "https" : "http");
  h.set("X-Real-Ip", client_ip);
  if (!upgrade) h.keep_alive(true);  // the upstream connection may serve the next request too
  bool head = h.method() == http::verb::head;
  bool bodiless = req.is_done();
  // A client that waits for "100 Continue" before its body hears it from
  // us once the request is routed and the upstream connected (as Go's
  // server does when a handler reads the body); the upstream gets the body
  // without the expectation, so nothing waits on an interim answer.
  if (beast::iequals(h[http::field::expect], "100-continue")) {
    h.erase(http::field::expect);
    if (h.version() >= 11 && !req.is_done()) {
      http::response<http::empty_body> cont{http::status::continue_, h.version()};
      expire(stream, opts_.idle_timeout);
      auto [cec, cn] = co_await http::async_write(stream, cont, kTuple);
      if (cec) co_return false;
    }
  }

  beast::flat_buffer up_buffer;
  http::response_parser<http::buffer_body> res;
  res.body_limit(boost::none);
  if (head) res.skip(true);
  // Sends the request and reads the answer's header; an error when the
  // upstream failed either. A request without a body reads nothing more
  // from the client, so a closed connection while sending it can only be
  // the upstream's (a backend shutting down, say); with a body it may be
  // either side, and the client connection ends.
  auto exchange = [&]() -> awaitable<beast::error_code> {
    bool sent = false;
    try {
      co_await relayMessage(req, stream, buffer, upstream, opts_.idle_timeout);
      sent = true;
    } catch (const ConnectionClosed&) {
      if (!bodiless) throw;
    }
    if (!sent) co_return beast::error_code(net::error::connection_reset);
    expire(upstream, opts_.idle_timeout);
    auto [ec, n] = co_await http::async_read_header(upstream, up_buffer, res, kTuple);
    co_return ec;
  };
  beast::error_code rec = co_await exchange();
  // A reused connection the upstream had closed meanwhile: a request
  // without a body goes again, on a new one (as Go's transport retries).
  if (rec && reused && bodiless && up_buffer.size() == 0) {
    upstream.close();
    rec = net::error::connection_refused;
    if (co_await connect(upstream, *target)) rec = co_await exchange();
  }
  // Whatever went wrong with the upstream, the client hears 502 (as from
  // nginx), not a closed connection.
  if (rec) {
    co_await answer(stream, http::status::bad_gateway, "Bad Gateway\n", h.version(), false);
    co_return false;
  }
  if (upgrade && res.get().result() == http::status::switching_protocols) {
    http::response<http::empty_body> head_only{res.get().base()};
    http::response_serializer<http::empty_body> sr{head_only};
    sr.split(true);
    expire(stream, opts_.idle_timeout);
    auto [wec, wn] = co_await http::async_write_header(stream, sr, kTuple);
    if (wec) co_return false;
    // Bytes already read past the headers belong to the tunnel.
    if (up_buffer.size()) co_await net::async_write(stream, up_buffer.data(), kTuple);
    if (buffer.size()) co_await net::async_write(upstream, buffer.data(), kTuple);
    co_await (pump(stream, upstream, opts_.idle_timeout) || pump(upstream, stream, opts_.idle_timeout));
    co_return false;
  }
  // Without a length or chunking the body ends with the connection: the
  // client's connection must end with it.
  bool client_keep = keep && !res.need_eof();
  bool upstream_keep = res.get().keep_alive() && !res.need_eof();
  res.get().keep_alive(client_keep);
  co_await relayMessage(res, upstream, up_buffer, stream, opts_.idle_timeout);
  if (upstream_keep && up_buffer.size() == 0) {
    upstream.expires_never();
    pool_.put(endpointKey(*target), upstream.release_socket());
  } else {
    upstream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }
  co_return client_keep;
}

ReverseProxy::ReverseProxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ReverseProxy::~ReverseProxy() { stop(); }

Result<std::unique_ptr<ReverseProxy>> ReverseProxy::start(const ReverseProxyOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  if (auto st = impl->start(); !st) return st;
  return std::unique_ptr<ReverseProxy>(new ReverseProxy(std::move(impl)));
}

void ReverseProxy::setRoutes(std::shared_ptr<const RouteTable> routes) {
  impl_->setRoutes(routes ? std::move(routes) : std::make_shared<RouteTable>());
}
uint16_t ReverseProxy::httpPort() const { return impl_->http_port_; }
uint16_t ReverseProxy::httpsPort() const { return impl_->https_port_; }
void ReverseProxy::stop() { impl_->stop(); }

}  // namespace capstan::ingress
