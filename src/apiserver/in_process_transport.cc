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
  req.headers["content-type"] = std::move(call.content_type);
  req.headers["accept"] = "application/json";
  req.remote = "in-process";
  req.user = user;
  return req;
}

// Receives a streamed response directly from the producer (the watch
// stream): chunks are handed on synchronously, so nothing queues here.
class DirectSink final : public StreamSink {
 public:
  DirectSink(std::function<void(std::string_view)> on_chunk, std::function<void(client::HttpReply)> on_end)
      : on_chunk_(std::move(on_chunk)), on_end_(std::move(on_end)) {}

  bool write(std::string chunk) override {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    on_chunk_(chunk);
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
    auto sink = std::make_shared<DirectSink>(std::move(on_chunk), std::move(on_end));
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

 private:
  Handler handler_;
  UserInfo user_;
};

}  // namespace

std::shared_ptr<client::Transport> makeInProcessTransport(Handler handler, UserInfo user) {
  return std::make_shared<InProcessTransport>(std::move(handler), std::move(user));
}

}  // namespace capstan::apiserver
