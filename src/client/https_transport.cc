#include "client/https_transport.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "common/url.h"

namespace capstan::client {
namespace {

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One request in flight.
struct Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string request_body;
  std::string response;  // unary body, or a failed stream's body
  bool streaming = false;
  long status = 0;
  std::function<void(HttpReply)> done;  // unary: the reply; stream: on_end
  std::function<void(std::string_view)> on_chunk;
  std::atomic<bool> cancelled{false};
  char error[CURL_ERROR_SIZE] = {0};

  ~Transfer() {
    if (headers) curl_slist_free_all(headers);
    if (easy) curl_easy_cleanup(easy);
  }
};

size_t onBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  if (t->cancelled) return 0;  // aborts the transfer
  if (!t->streaming) {
    t->response.append(data, len);
    return len;
  }
  if (t->status == 0) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
  if (t->status >= 200 && t->status < 300) t->on_chunk(std::string_view(data, len));
  else if (t->response.size() < (1 << 20)) t->response.append(data, len);
  return len;
}

// The event loop and every transfer it drives; shared by the transport and
// its stream handles, so whichever goes last stops the loop.
class Core : public std::enable_shared_from_this<Core> {
 public:
  explicit Core(HttpsOptions opts) : opts_(std::move(opts)) {}
  ~Core() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    if (multi_) curl_multi_wakeup(multi_);
    if (thread_.joinable()) {
      if (thread_.get_id() == std::this_thread::get_id()) thread_.detach();
      else thread_.join();
    }
    if (multi_) curl_multi_cleanup(multi_);
  }

  Status start() {
    globalInit();
    multi_ = curl_multi_init();
    if (!multi_) return Status(Code::kInternal, "cannot start the HTTP client");
    thread_ = std::thread([this] { loop(); });
    return Status::ok();
  }

  std::shared_ptr<Transfer> prepare(const HttpCall& call, bool streaming) {
    auto t = std::make_shared<Transfer>();
    t->easy = curl_easy_init();
    t->streaming = streaming;
    std::string url = opts_.server + percentEncode(call.path, "/:");
    for (size_t i = 0; i < call.query.size(); ++i)
      url += (i == 0 ? "?" : "&") + percentEncode(call.query[i].first) + "=" + percentEncode(call.query[i].second);
    CURL* e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_CAINFO, opts_.ca_file.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");  // the API server is never reached through a proxy from the environment
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, opts_.user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    if (!streaming) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(opts_.timeout.count()));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    t->headers = curl_slist_append(t->headers, "Accept: application/json");
    if (!opts_.bearer_token.empty())
      t->headers = curl_slist_append(t->headers, ("Authorization: Bearer " + opts_.bearer_token).c_str());
    if (call.method != "GET") {
      t->request_body = call.bodyText();
      t->headers = curl_slist_append(t->headers, ("Content-Type: " + call.content_type).c_str());
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call.method.c_str());
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->request_body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->request_body.size()));
    }
    t->headers = curl_slist_append(t->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    return t;
  }

  void submit(std::shared_ptr<Transfer> t) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        t->done(HttpReply{0, "client is shutting down"});
        return;
      }
      incoming_.push_back(std::move(t));
    }
    curl_multi_wakeup(multi_);
  }

  void cancel(const std::shared_ptr<Transfer>& t) {
    t->cancelled = true;
    curl_multi_wakeup(multi_);
  }

 private:
  void finish(Transfer* raw, CURLcode rc) {
    auto it = active_.find(raw);
    if (it == active_.end()) return;
    std::shared_ptr<Transfer> t = it->second;
    active_.erase(it);
    curl_multi_remove_handle(multi_, t->easy);
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    HttpReply reply;
    if (t->cancelled) {
      reply = {static_cast<int>(status), ""};
    } else if (rc != CURLE_OK) {
      reply = {0, t->error[0] ? t->error : curl_easy_strerror(rc)};
    } else {
      reply = {static_cast<int>(status), std::move(t->response)};
    }
    if (t->streaming && reply.status >= 200 && reply.status < 300) reply.body.clear();
    t->done(std::move(reply));
  }

  void loop() {
    while (true) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) break;
        for (auto& t : incoming_) {
          active_[t.get()] = t;
          curl_multi_add_handle(multi_, t->easy);
        }
        incoming_.clear();
      }
      std::vector<Transfer*> cancelled;
      for (auto& [raw, t] : active_)
        if (t->cancelled) cancelled.push_back(raw);
      for (auto* raw : cancelled) finish(raw, CURLE_ABORTED_BY_CALLBACK);
      int running = 0;
      curl_multi_perform(multi_, &running);
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg != CURLMSG_DONE) continue;
        Transfer* raw = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&raw));
        finish(raw, m->data.result);
      }
      curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    // Whatever is still open ends now, each exactly once.
    std::vector<Transfer*> open;
    for (auto& [raw, t] : active_) open.push_back(raw);
    for (auto* raw : open) {
      active_[raw]->cancelled = true;
      finish(raw, CURLE_ABORTED_BY_CALLBACK);
    }
    std::lock_guard lock(mu_);
    for (auto& t : incoming_) t->done(HttpReply{0, "client is shutting down"});
    incoming_.clear();
  }

  HttpsOptions opts_;
  CURLM* multi_ = nullptr;
  std::thread thread_;
  std::mutex mu_;  // guards incoming_, stopping_
  bool stopping_ = false;
  std::vector<std::shared_ptr<Transfer>> incoming_;
  std::map<Transfer*, std::shared_ptr<Transfer>> active_;  // loop thread only
};

class HttpsStream final : public StreamHandle {
 public:
  HttpsStream(std::shared_ptr<Core> core, std::shared_ptr<Transfer> t) : core_(std::move(core)), t_(std::move(t)) {}
  ~HttpsStream() override { cancel(); }
  void cancel() override { core_->cancel(t_); }

 private:
  std::shared_ptr<Core> core_;
  std::shared_ptr<Transfer> t_;
};

class HttpsTransport final : public Transport {
 public:
  explicit HttpsTransport(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  void send(HttpCall call, std::function<void(HttpReply)> done) override {
    auto t = core_->prepare(call, false);
    t->done = std::move(done);
    core_->submit(std::move(t));
  }
  std::unique_ptr<StreamHandle> stream(HttpCall call, std::function<void(std::string_view)> on_chunk,
                                       std::function<void(HttpReply)> on_end) override {
    auto t = core_->prepare(call, true);
    t->on_chunk = std::move(on_chunk);
    t->done = std::move(on_end);
    core_->submit(t);
    return std::make_unique<HttpsStream>(core_, std::move(t));
  }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace

Result<std::shared_ptr<Transport>> makeHttpsTransport(const HttpsOptions& opts) {
  if (opts.server.rfind("https://", 0) != 0) return Status(Code::kInvalid, "server URL must start with https://: " + opts.server);
  HttpsOptions o = opts;
  while (!o.server.empty() && o.server.back() == '/') o.server.pop_back();
  auto core = std::make_shared<Core>(o);
  if (auto st = core->start(); !st) return st;
  return std::shared_ptr<Transport>(std::make_shared<HttpsTransport>(std::move(core)));
}

Result<std::string> fetchUnverified(const std::string& url, std::chrono::milliseconds timeout) {
  globalInit();
  CURL* e = curl_easy_init();
  if (!e) return Status(Code::kInternal, "cannot start the HTTP client");
  std::string body;
  char error[CURL_ERROR_SIZE] = {0};
  auto append = +[](char* data, size_t size, size_t n, void* user) {
    auto* b = static_cast<std::string*>(user);
    if (b->size() > (1 << 20)) return size_t{0};
    b->append(data, size * n);
    return size * n;
  };
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error);
  CURLcode rc = curl_easy_perform(e);
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(e);
  if (rc != CURLE_OK) return Status(Code::kInternal, fmt::format("GET {}: {}", url, error[0] ? error : curl_easy_strerror(rc)));
  if (status != 200) return Status(Code::kInternal, fmt::format("GET {}: HTTP {}", url, status));
  return body;
}

}  // namespace capstan::client
