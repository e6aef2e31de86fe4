#include "agent/streaming/spdy_connection.h"

#include "common/log.h"

namespace capstan::agent::streaming {

std::shared_ptr<SpdyConnection> SpdyConnection::create(std::shared_ptr<apiserver::DuplexStream> stream,
                                                       Handlers handlers) {
  return std::shared_ptr<SpdyConnection>(new SpdyConnection(std::move(stream), std::move(handlers)));
}

void SpdyConnection::send(std::string bytes, std::function<void(Status)> done) {
  // Called with mu_ held, so frames leave in the order they were encoded.
  stream_->write(std::move(bytes), std::move(done));
}

void SpdyConnection::write(uint32_t id, std::string data, std::function<void(Status)> done) {
  std::lock_guard lock(mu_);
  if (closed_) {
    if (done) done(Status(Code::kUnavailable, "connection closed"));
    return;
  }
  // Frames are at most 16 MiB; stay well below.
  constexpr size_t kChunk = 64 * 1024;
  for (size_t off = 0; off < data.size() || off == 0; off += kChunk) {
    bool last = off + kChunk >= data.size();
    send(encoder_.data(id, std::string_view(data).substr(off, kChunk), false), last ? std::move(done) : nullptr);
    if (last) break;
  }
}

void SpdyConnection::finish(uint32_t id) {
  std::lock_guard lock(mu_);
  if (!closed_) send(encoder_.data(id, {}, true));
}

void SpdyConnection::reset(uint32_t id) {
  std::lock_guard lock(mu_);
  if (!closed_) send(encoder_.rstStream(id, spdy::kRstCancel));
}

void SpdyConnection::close() {
  std::lock_guard lock(mu_);
  if (closed_) return;
  closed_ = true;
  send(encoder_.goAway(last_stream_, 0));
  stream_->close();
}

void SpdyConnection::readLoop() {
  stream_->read([self = shared_from_this()](Status st, std::string bytes) {
    std::vector<spdy::Frame> frames;
    if (st) st = self->decoder_.feed(bytes, &frames);
    for (auto& f : frames) {
      switch (f.type) {
        case spdy::FrameType::kSynStream: {
          {
            std::lock_guard lock(self->mu_);
            if (self->closed_) break;
            self->last_stream_ = std::max(self->last_stream_, f.stream_id);
            self->send(self->encoder_.synReply(f.stream_id, {}, false));
          }
          if (self->handlers_.on_stream) self->handlers_.on_stream(f.stream_id, f.headers);
          if (f.fin() && self->handlers_.on_fin) self->handlers_.on_fin(f.stream_id);
          break;
        }
        case spdy::FrameType::kData:
          if (!f.data.empty() && self->handlers_.on_data) self->handlers_.on_data(f.stream_id, std::move(f.data));
          if (f.fin() && self->handlers_.on_fin) self->handlers_.on_fin(f.stream_id);
          break;
        case spdy::FrameType::kRstStream:
          if (self->handlers_.on_fin) self->handlers_.on_fin(f.stream_id);
          break;
        case spdy::FrameType::kPing: {
          std::lock_guard lock(self->mu_);
          if (!self->closed_) self->send(self->encoder_.ping(f.value));
          break;
        }
        case spdy::FrameType::kGoAway:
          st = Status(Code::kUnavailable, "GOAWAY");
          break;
        default:
          break;
      }
    }
    if (!st) {
      if (st.code() == Code::kBadRequest) LOG_WARN("spdy connection failed", "error", st.message());
      self->close();
      auto on_close = std::move(self->handlers_.on_close);
      self->handlers_ = {};
      if (on_close) on_close();
      return;
    }
    self->readLoop();
  });
}

}  // namespace capstan::agent::streaming
