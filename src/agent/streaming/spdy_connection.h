#pragma once
// The server side of a SPDY/3.1 connection over an upgraded stream (raw
// bytes, or WebSocket messages for kubectl's tunnelled port-forward):
// accepts the client's streams (SYN_REPLY at once, as spdystream's servers
// do), answers PINGs, and lets the owner write DATA on streams.
//
// Flow control: the client (moby/spdystream) neither enforces nor sends
// window updates, so none are tracked here.
//
// Threading: handlers run on the stream's I/O thread and must not block;
// write()/finish()/close() are thread-safe (a mutex keeps the header
// compressor and the frame order consistent).

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "agent/streaming/spdy_codec.h"
#include "apiserver/http.h"

namespace capstan::agent::streaming {

class SpdyConnection : public std::enable_shared_from_this<SpdyConnection> {
 public:
  struct Handlers {
    std::function<void(uint32_t id, const spdy::Headers& headers)> on_stream;
    std::function<void(uint32_t id, std::string data)> on_data;
    std::function<void(uint32_t id)> on_fin;     // the client half-closed (or reset) the stream
    std::function<void()> on_close;              // the connection is gone
  };
  // Created idle: run() starts reading, once the owner holds the pointer.
  static std::shared_ptr<SpdyConnection> create(std::shared_ptr<apiserver::DuplexStream> stream, Handlers handlers);
  void run() { readLoop(); }

  // DATA on a stream; `done` after it is written.
  void write(uint32_t id, std::string data, std::function<void(Status)> done = nullptr);
  // Our half of the stream ends (an empty DATA frame with FIN).
  void finish(uint32_t id);
  void reset(uint32_t id);
  // GOAWAY, then closes the connection after the queued frames.
  void close();

 private:
  SpdyConnection(std::shared_ptr<apiserver::DuplexStream> stream, Handlers handlers)
      : stream_(std::move(stream)), handlers_(std::move(handlers)) {}
  void readLoop();
  void send(std::string bytes, std::function<void(Status)> done = nullptr);

  std::shared_ptr<apiserver::DuplexStream> stream_;
  Handlers handlers_;
  spdy::FrameDecoder decoder_;  // I/O thread only
  std::mutex mu_;               // guards encoder_, closed_, last_stream_
  spdy::FrameEncoder encoder_;
  bool closed_ = false;
  uint32_t last_stream_ = 0;
};

}  // namespace capstan::agent::streaming
