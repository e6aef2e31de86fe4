#pragma once
// Transport-neutral HTTP types. Everything above the transport (routing,
// the request chain, handlers) sees only these, so Beast stays inside
// http_server.cc.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace capstan::apiserver {

struct UserInfo {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
};

struct Request {
  std::string method;
  std::string target;  // raw request target
  std::string path;    // percent-decoded path
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::map<std::string, std::string> headers;              // names lower-cased
  std::string body;
  // A JSON body that an in-process client gave as an object (body is then
  // empty). decodeBody takes it: it is there for one decoding.
  std::shared_ptr<Json> body_object;
  std::string remote;
  // Set by the transport from a verified TLS client certificate.
  std::optional<UserInfo> cert_user;
  // Set by authentication.
  std::optional<UserInfo> user;

  // First value of a query parameter, or "".
  std::string param(std::string_view name) const;
  bool hasParam(std::string_view name) const;
  std::string header(std::string_view lower_name) const;
};

// The write side of a streaming (chunked) response, implemented by the
// transport. Thread-safe.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Queues one chunk. Returns false once the stream is closed.
  virtual bool write(std::string chunk) = 0;
  // Ends the response after the queued chunks.
  virtual void close() = 0;
  // Bytes queued but not yet written: lets producers detect slow readers.
  virtual size_t pendingBytes() const = 0;
  // A sink of an in-process watch may take each event as the object itself
  // (without metadata.managedFields, shared with other watchers) instead of
  // its JSON line (write() still works for the rest).
  virtual bool takesObjects() const { return false; }
  virtual bool writeObject(std::string_view type, std::shared_ptr<const Json> obj) { return false; }
};

// The producer of a streaming response (e.g. a watch), implemented above
// the transport.
class StreamBody {
 public:
  virtual ~StreamBody() = default;
  // Called once the response headers are sent.
  virtual void start(std::shared_ptr<StreamSink> sink) = 0;
  // The client went away or the server is stopping: release resources. No
  // further writes will be accepted.
  virtual void stop() = 0;
};

// A connection taken over after "101 Switching Protocols", implemented by
// the transport: raw bytes (e.g. SPDY) or, when the handler asked for a
// WebSocket, whole binary messages. Thread-safe; callbacks run on the
// connection's I/O thread and must not block.
class DuplexStream {
 public:
  virtual ~DuplexStream() = default;
  // Delivers the next chunk (raw) or message (WebSocket). One read at a
  // time: call again from (or after) `done` for more, which is how a
  // consumer applies backpressure. A non-ok Status means the peer closed
  // the stream or it failed; no more data follows.
  virtual void read(std::function<void(Status, std::string)> done) = 0;
  // Queues `data` (one chunk, or one binary message); `done` (optional)
  // runs once it is written or failed. Writes may be queued back to back.
  virtual void write(std::string data, std::function<void(Status)> done = nullptr) = 0;
  // Ends the stream after the queued writes (WebSocket close frame, TLS
  // close_notify) and fails pending and later reads. Idempotent.
  virtual void close() = 0;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<StreamBody> stream;  // set: chunked streaming, body ignored
  std::chrono::seconds stream_timeout{0};  // ends a stream after this long (0: never)
  // Set: switch protocols. The transport answers 101 with `headers` (or,
  // with `websocket_protocol` set, completes the WebSocket handshake with
  // that subprotocol) and hands the connection to `upgrade`. `status`,
  // `body` and `stream` are ignored.
  std::function<void(std::shared_ptr<DuplexStream>)> upgrade;
  std::optional<std::string> websocket_protocol;
};

// Called exactly once, from any thread.
using Responder = std::function<void(Response)>;
using Handler = std::function<void(Request, Responder)>;

}  // namespace capstan::apiserver
