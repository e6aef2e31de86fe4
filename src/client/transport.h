#pragma once
// How a Client reaches an API server. Two implementations: in-process
// (ApiServer::transport(), every call still passes the full request chain)
// and HTTPS for agents on other machines. Both carry the same bytes, so a
// component behaves the same in either place; except that an in-process
// watch may hand over its events as decoded objects (watchObjects), the
// same events without the serialising and parsing between.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"

namespace capstan::client {

struct HttpCall {
  std::string method = "GET";
  std::string path;                                          // not encoded
  std::vector<std::pair<std::string, std::string>> query;    // not encoded
  std::string body;
  std::string content_type = "application/json";
  // A JSON body given as the object instead of `body` (left empty), for
  // callers that built one: the in-process transport hands it to the
  // server as it is, with no text in between; others send its dump.
  std::shared_ptr<Json> object;

  // The body as text, whichever way it was given.
  std::string bodyText() const { return body.empty() && object ? object->dump() : body; }
};

struct HttpReply {
  int status = 0;  // 0: the transport failed (body says why)
  std::string body;
};

// A streaming response being received; destroying or cancelling it ends
// the stream (on_end is still called exactly once).
class StreamHandle {
 public:
  virtual ~StreamHandle() = default;
  virtual void cancel() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // `done` is called exactly once, from any thread; it must not block.
  virtual void send(HttpCall call, std::function<void(HttpReply)> done) = 0;
  // Opens a streaming response (a watch). `on_chunk` gets the body bytes in
  // order (chunks need not align with lines); `on_end` is called once, with
  // the status and, for a non-2xx answer, its body. Callbacks come from any
  // thread and must not block.
  virtual std::unique_ptr<StreamHandle> stream(HttpCall call, std::function<void(std::string_view)> on_chunk,
                                               std::function<void(HttpReply)> on_end) = 0;
  // A watch whose events come decoded: `on_event` gets each event's type
  // and object (without metadata.managedFields, as Client::watch gives
  // them; one object may go to several watchers, so it is shared and
  // const), `on_end` as above. Null when the transport has no such path
  // (then nothing was sent): use stream().
  virtual std::unique_ptr<StreamHandle> watchObjects(HttpCall call,
                                                     std::function<void(std::string_view, std::shared_ptr<const Json>)> on_event,
                                                     std::function<void(HttpReply)> on_end) {
    return nullptr;
  }
};

}  // namespace capstan::client
