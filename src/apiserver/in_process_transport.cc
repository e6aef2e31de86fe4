#include "apiserver/in_process_transport.h"

#include <atomic>
#include <mutex>

namespace capstan::apiserver {
namespace {

Request toRequest(client::HttpCall call, const UserInfo& user) {
  Request req;
  req.method = std::move(call.method);
  req.path = std::move(call.path);
  req.target = req.path;
  req.query = std::move(call.query);
  req.body = std::move(call.body);
  if (req.body.empty()) req.body_object = std::move(call.object);
  req.headers["content-type"] = std::move(call.content_type);
  req.headers["accept"] = "application/json";
  req.remote = "in-process";
  req.user = user;
  return req;
}

// Receives a streamed response directly from the producer (the watch
// stream): chunks, or with on_event the events' objects themselves, are
// handed on synchronously, so nothing queues here.
class DirectSink final : public StreamSink {
 public:
  using OnEvent = std::function<void(std::string_view, std::shared_ptr<const Json>)>;
  DirectSink(std::function<void(std::string_view)> on_chunk, OnEvent on_event,
             std::function<void(client::HttpReply)> on_end)
      : on_chunk_(std::move(on_chunk)), on_event_(std::move(on_event)), on_end_(std::move(on_end)) {}

  bool write(std::string chunk) override {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (!on_event_) {
      on_chunk_(chunk);
      return true;
    }
    // An object sink gets text only for whole event lines (errors, say).
    size_t start = 0;
    for (size_t nl; (nl = chunk.find('\n', start)) != std::string::npos; start = nl + 1) {
      Json ev = Json::parse(std::string_view(chunk).substr(start, nl - start), nullptr, false);
      auto type = ev.is_object() ? ev.find("type") : ev.end();
      if (type == ev.end() || !type->is_string() || !ev.contains("object")) continue;
      Json obj = std::move(ev["object"]);
      if (auto m = obj.find("metadata"); m != obj.end() && m->is_object()) m->erase("managedFields");
      on_event_(type->get<std::string>(), std::make_shared<const Json>(std::move(obj)));
    }
    return true;
  }
  bool takesObjects() const override { return static_cast<bool>(on_event_); }
  bool writeObject(std::string_view type, std::shared_ptr<const Json> obj) override {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    on_event_(type, std::move(obj));
    return true;
  }
  void close() override { end({200, ""}); }
  size_t pendingBytes() const override { return 0; }

  void end(client::HttpReply reply) {
    std::function<void(client::HttpReply)> cb;
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      cb = std::move(on_end_);
    }
    cb(std::move(reply));
  }

 private:
  std::mutex mu_;
  bool closed_ = false;
  std::function<void(std::string_view)> on_chunk_;
  OnEvent on_event_;
  std::function<void(client::HttpReply)> on_end_;
};

class InProcessStream final : public client::StreamHandle {
 public:
  explicit InProcessStream(std::shared_ptr<DirectSink> sink) : sink_(std::move(sink)) {}
  ~InProcessStream() override { cancel(); }

  void attach(std::shared_ptr<StreamBody> body) {
    std::lock_guard lock(mu_);
    if (cancelled_) {
      body->stop();
      return;
    }
    body_ = std::move(body);
  }

  void cancel() override {
    std::shared_ptr<StreamBody> body;
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
      body = std::move(body_);
    }
    if (body) body->stop();
    sink_->end({200, ""});
  }

 private:
  std::mutex mu_;
  bool cancelled_ = false;
  std::shared_ptr<StreamBody> body_;
  std::shared_ptr<DirectSink> sink_;
};

class InProcessTransport final : public client::Transport {
 public:
  InProcessTransport(Handler handler, UserInfo user) : handler_(std::move(handler)), user_(std::move(user)) {}

  void send(client::HttpCall call, std::function<void(client::HttpReply)> done) override {
    handler_(toRequest(std::move(call), user_), [done = std::move(done)](Response r) {
      done({r.status, std::move(r.body)});
    });
  }

  std::unique_ptr<client::StreamHandle> stream(client::HttpCall call,
                                               std::function<void(std::string_view)> on_chunk,
                                               std::function<void(client::HttpReply)> on_end) override {
    return open(std::move(call), std::make_shared<DirectSink>(std::move(on_chunk), nullptr, std::move(on_end)));
  }

  std::unique_ptr<client::StreamHandle> watchObjects(client::HttpCall call,
                                                     std::function<void(std::string_view, std::shared_ptr<const Json>)> on_event,
                                                     std::function<void(client::HttpReply)> on_end) override {
    return open(std::move(call), std::make_shared<DirectSink>(nullptr, std::move(on_event), std::move(on_end)));
  }

 private:
  std::unique_ptr<client::StreamHandle> open(client::HttpCall call, std::shared_ptr<DirectSink> sink) {
    auto handle = std::make_unique<InProcessStream>(sink);
    auto* raw = handle.get();
    // The handler answers before this returns for cache-served watches; the
    // stream is attached here so that cancel() can stop it later.
    std::shared_ptr<StreamBody> body;
    handler_(toRequest(std::move(call), user_), [&body, sink](Response r) {
      if (r.stream) {
        body = r.stream;
        return;
      }
      sink->end({r.status, std::move(r.body)});
    });
    if (body) {
      raw->attach(body);
      body->start(sink);
    }
    return handle;
  }

  Handler handler_;
  UserInfo user_;
};

}  // namespace

std::shared_ptr<client::Transport> makeInProcessTransport(Handler handler, UserInfo user) {
  return std::make_shared<InProcessTransport>(std::move(handler), std::move(user));
}

}  // namespace capstan::apiserver
