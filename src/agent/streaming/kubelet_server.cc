#include "agent/streaming/kubelet_server.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <thread>

#include "agent/streaming/channel.h"
#include "agent/streaming/exec_session.h"
#include "agent/streaming/log_follower.h"
#include "agent/streaming/port_forward.h"
#include "agent/streaming/spdy_exec.h"
#include "apiserver/http_server.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pki.h"

namespace capstan::agent::streaming {

using apiserver::DuplexStream;
using apiserver::Request;
using apiserver::Responder;
using apiserver::Response;

namespace {

Response statusResponse(int code, const std::string& reason, const std::string& message) {
  Json j = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Failure"},
            {"message", message}, {"reason", reason}, {"code", code}};
  Response r;
  r.status = code;
  r.body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

Response errorResponse(const Status& st) { return statusResponse(httpCode(st.code()), reasonOf(st.code()), st.message()); }

int attemptOf(const runtime::ContainerStatus& c) {
  auto it = c.labels.find(kContainerAttemptLabel);
  if (it == c.labels.end()) return -1;
  try {
    return std::stoi(it->second);
  } catch (...) {
    return -1;
  }
}

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (slash > pos) parts.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return parts;
}

bool flag(const Request& req, std::string_view name, bool def) {
  if (!req.hasParam(name)) return def;
  std::string v = req.param(name);
  return v == "true" || v == "1" || v == "True" || v.empty();
}

bool tokenMatches(const std::string& header, const std::string& token) {
  static constexpr std::string_view kBearer = "Bearer ";
  if (token.empty() || header.size() != kBearer.size() + token.size()) return false;
  if (header.compare(0, kBearer.size(), kBearer) != 0) return false;
  return CRYPTO_memcmp(header.data() + kBearer.size(), token.data(), token.size()) == 0;
}

// A log read as a chunked response.
class LogBody final : public apiserver::StreamBody {
 public:
  LogBody(runtime::Runtime& runtime, LogSource source, LogOptions options)
      : runtime_(runtime), source_(std::move(source)), options_(std::move(options)) {}
  void start(std::shared_ptr<apiserver::StreamSink> sink) override {
    std::lock_guard lock(mu_);
    if (stopped_) return sink->close();
    follower_ = LogFollower::start(
        runtime_, source_, options_,
        [sink](std::string_view, std::string data) {
          // A slow reader: wait on this follower's own thread (the sink
          // offers no drain event), never on an I/O thread.
          while (sink->pendingBytes() > (8u << 20)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
          return sink->write(std::move(data));
        },
        [sink] { sink->close(); });
  }
  void stop() override {
    std::lock_guard lock(mu_);
    stopped_ = true;
    if (follower_) follower_->stop();
  }

 private:
  runtime::Runtime& runtime_;
  LogSource source_;
  LogOptions options_;
  std::mutex mu_;
  bool stopped_ = false;
  std::shared_ptr<LogFollower> follower_;
};

}  // namespace

std::optional<runtime::ContainerStatus> findContainer(const runtime::Runtime& runtime, const std::string& ns,
                                                      const std::string& pod, const std::string& container,
                                                      bool previous) {
  std::vector<runtime::ContainerStatus> found;
  for (auto& c : runtime.list()) {
    auto get = [&](const char* k) {
      auto it = c.labels.find(k);
      return it == c.labels.end() ? std::string() : it->second;
    };
    if (get(kPodNamespaceLabel) == ns && get(kPodNameLabel) == pod && get(kContainerNameLabel) == container)
      found.push_back(std::move(c));
  }
  if (found.empty()) return std::nullopt;
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return attemptOf(a) > attemptOf(b); });
  if (!previous) return found[0];
  // The previous container of the same pod (a pod recreated under the same
  // name has a new UID).
  std::string uid = found[0].labels[kPodUidLabel];
  for (size_t i = 1; i < found.size(); ++i)
    if (found[i].labels[kPodUidLabel] == uid) return found[i];
  return std::nullopt;
}

class KubeletServer::Impl {
 public:
  Impl(const KubeletServerOptions& options, runtime::Runtime& runtime)
      : options_(options), runtime_(runtime), stats_(runtime, options.stats) {}

  void handle(Request req, Responder done) {
    if (req.path == "/healthz") {
      Response r;
      r.content_type = "text/plain";
      r.body = "ok";
      return done(std::move(r));
    }
    if (!tokenMatches(req.header("authorization"), options_.token))
      return done(statusResponse(401, "Unauthorized", "Unauthorized"));
    auto parts = splitPath(req.path);
    if (parts.empty()) return done(statusResponse(404, "NotFound", "the server could not find the requested resource"));
    const std::string& verb = parts[0];
    if (verb == "containerLogs" && parts.size() == 4) return logs(req, parts[1], parts[2], parts[3], std::move(done));
    if ((verb == "exec" || verb == "attach") && parts.size() == 4)
      return execOrAttach(req, verb == "attach", parts[1], parts[2], parts[3], std::move(done));
    if (verb == "portForward" && parts.size() == 3) return portForward(req, parts[1], parts[2], std::move(done));
    if (verb == "metrics" &&
        (parts.size() == 1 || (parts.size() == 2 && (parts[1] == "cadvisor" || parts[1] == "resource")))) {
      if (req.method != "GET" && req.method != "HEAD")
        return done(statusResponse(405, "MethodNotAllowed", "only GET is allowed"));
      Response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      auto sample = stats_.collect();
      if (parts.size() == 1) {
        r.body = stats::renderKubeletMetrics(sample);
        if (options_.metrics) r.body += options_.metrics->render();
      } else if (parts[1] == "cadvisor") {
        r.body = stats::renderCadvisor(sample);
      } else {
        r.body = stats::renderResourceMetrics(sample);
      }
      return done(std::move(r));
    }
    done(statusResponse(404, "NotFound", "the server could not find the requested resource"));
  }

  void logs(const Request& req, const std::string& ns, const std::string& pod, const std::string& name,
            Responder done) {
    if (req.method != "GET") return done(statusResponse(405, "MethodNotAllowed", "only GET is allowed"));
    auto opts = parseLogOptions(
        [&req](std::string_view k) -> std::optional<std::string> {
          if (!req.hasParam(k)) return std::nullopt;
          return req.param(k);
        },
        std::chrono::system_clock::now());
    if (!opts) return done(errorResponse(opts.status()));
    auto c = findContainer(runtime_, ns, pod, name, opts->previous);
    if (!c) {
      if (opts->previous)
        return done(statusResponse(
            400, "BadRequest", "previous terminated container \"" + name + "\" in pod \"" + pod + "\" not found"));
      return done(statusResponse(404, "NotFound", "container \"" + name + "\" in pod \"" + pod + "\" not found"));
    }
    LogSource source{c->log_path, c->id, c->state == runtime::ContainerState::kRunning ? c->pid : 0, false};
    Response r;
    r.content_type = "text/plain";
    r.stream = std::make_shared<LogBody>(runtime_, std::move(source), std::move(*opts));
    done(std::move(r));
  }

  void execOrAttach(const Request& req, bool attach, const std::string& ns, const std::string& pod,
                    const std::string& name, Responder done) {
    auto c = findContainer(runtime_, ns, pod, name, false);
    if (!c || c->state != runtime::ContainerState::kRunning)
      return done(statusResponse(404, "NotFound", "container \"" + name + "\" in pod \"" + pod + "\" is not running"));
    ExecRequest er;
    er.container_id = c->id;
    for (const auto& [k, v] : req.query)
      if (k == "command") er.command.push_back(v);
    er.stdin = flag(req, "stdin", false);
    er.stdout = flag(req, "stdout", false);
    er.stderr = flag(req, "stderr", false);
    er.tty = flag(req, "tty", false);
    if (!attach && er.command.empty())
      return done(statusResponse(400, "BadRequest", "you must specify at least 1 command"));
    if (!er.stdin && !er.stdout && !er.stderr)
      return done(statusResponse(400, "BadRequest", "you must specify at least one of stdin, stdout, stderr"));
    std::string upgrade = req.header("upgrade");
    for (auto& ch : upgrade) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    runtime::Runtime* rt = &runtime_;
    if (upgrade == "websocket") {
      auto proto = chooseChannelProtocol(req.header("sec-websocket-protocol"));
      if (!proto) return done(statusResponse(400, "BadRequest", "no supported WebSocket subprotocol offered"));
      Response r;
      r.websocket_protocol = *proto;
      bool v5 = *proto == kChannelV5;
      LogSource source{c->log_path, c->id, c->pid, true};
      r.upgrade = [rt, v5, er, attach, source](std::shared_ptr<DuplexStream> ws) {
        if (attach) serveWebSocketAttach(*rt, std::move(ws), v5, source, er);
        else serveWebSocketExec(*rt, std::move(ws), v5, er);
      };
      return done(std::move(r));
    }
    if (upgrade == "spdy/3.1") {
      if (!spdyOffers(req.header("x-stream-protocol-version"), kChannelV4))
        return done(statusResponse(403, "Forbidden", "no supported X-Stream-Protocol-Version offered (v4.channel.k8s.io)"));
      Response r;
      r.headers = {{"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"},
                   {"X-Stream-Protocol-Version", std::string(kChannelV4)}};
      LogSource source{c->log_path, c->id, c->pid, true};
      r.upgrade = [rt, er, attach, source](std::shared_ptr<DuplexStream> stream) {
        serveSpdyExec(*rt, std::move(stream), er, attach ? std::optional<LogSource>(source) : std::nullopt);
      };
      return done(std::move(r));
    }
    done(statusResponse(400, "BadRequest", "Upgrade request required"));
  }

  void portForward(const Request& req, const std::string& ns, const std::string& pod, Responder done) {
    // Any running container of the pod shares its network namespace.
    std::optional<runtime::ContainerStatus> c;
    for (auto& s : runtime_.list()) {
      auto get = [&](const char* k) {
        auto it = s.labels.find(k);
        return it == s.labels.end() ? std::string() : it->second;
      };
      if (get(kPodNamespaceLabel) == ns && get(kPodNameLabel) == pod && s.state == runtime::ContainerState::kRunning &&
          s.pid > 0) {
        c = s;
        break;
      }
    }
    if (!c) return done(statusResponse(404, "NotFound", "pod \"" + pod + "\" has no running container"));
    int pid = c->pid;
    std::string upgrade = req.header("upgrade");
    for (auto& ch : upgrade) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    Response r;
    if (upgrade == "websocket") {
      std::string offered = req.header("sec-websocket-protocol");
      if (!spdyOffers(offered, kSpdyTunnelProtocol))
        return done(statusResponse(400, "BadRequest", "no supported WebSocket subprotocol offered"));
      r.websocket_protocol = std::string(kSpdyTunnelProtocol);
    } else if (upgrade == "spdy/3.1") {
      if (!spdyOffers(req.header("x-stream-protocol-version"), kPortForwardProtocol))
        return done(statusResponse(403, "Forbidden", "no supported X-Stream-Protocol-Version offered (portforward.k8s.io)"));
      r.headers = {{"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"},
                   {"X-Stream-Protocol-Version", std::string(kPortForwardProtocol)}};
    } else {
      return done(statusResponse(400, "BadRequest", "Upgrade request required"));
    }
    r.upgrade = [pid](std::shared_ptr<DuplexStream> stream) { servePortForward(std::move(stream), pid); };
    done(std::move(r));
  }

  KubeletServerOptions options_;
  runtime::Runtime& runtime_;
  stats::Collector stats_;
  std::unique_ptr<apiserver::HttpServer> http_;
};

Result<std::unique_ptr<KubeletServer>> KubeletServer::start(const KubeletServerOptions& options,
                                                            runtime::Runtime& runtime) {
  if (options.token.empty()) return Status(Code::kInvalid, "kubelet server: a token is required");
  auto impl = std::make_unique<Impl>(options, runtime);
  apiserver::HttpServerOptions h;
  h.bind_address = options.bind_address;
  h.port = options.port;
  h.threads = options.threads;
  h.cert_file = options.cert_file;
  h.key_file = options.key_file;
  if (h.cert_file.empty()) {
    if (options.tls_dir.empty()) return Status(Code::kInvalid, "kubelet server: cert_file or tls_dir is required");
    auto bundle = pki::ensure({options.tls_dir, {}, nullptr});
    if (!bundle) return bundle.status();
    h.cert_file = bundle->server_cert.string();
    h.key_file = bundle->server_key.string();
  }
  Impl* raw = impl.get();
  auto http = apiserver::HttpServer::start(h, [raw](Request req, Responder done) { raw->handle(std::move(req), std::move(done)); });
  if (!http) return http.status();
  impl->http_ = std::move(*http);
  LOG_INFO("kubelet server listening", "port", impl->http_->port());
  return std::unique_ptr<KubeletServer>(new KubeletServer(std::move(impl)));
}

KubeletServer::KubeletServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KubeletServer::~KubeletServer() { stop(); }
uint16_t KubeletServer::port() const { return impl_->http_->port(); }
void KubeletServer::stop() {
  if (impl_->http_) impl_->http_->stop();
}

}  // namespace capstan::agent::streaming
