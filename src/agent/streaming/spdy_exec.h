#pragma once
// exec and attach over SPDY/3.1 (remotecommand v4.channel.k8s.io, as
// kubectl 1.27-1.29 and every fallback use): the client opens one stream
// per stdio with the header streamType (error, stdin, stdout, stderr,
// resize); once all expected streams are there the command starts; its
// Status goes on the error stream, then every stream is closed.

#include <memory>
#include <optional>
#include <string_view>

#include "agent/runtime/runtime.h"
#include "agent/streaming/exec_session.h"
#include "apiserver/http.h"

namespace capstan::agent::streaming {

// Whether a comma-separated header value (X-Stream-Protocol-Version,
// Sec-WebSocket-Protocol) offers `protocol`.
bool spdyOffers(std::string_view header_value, std::string_view protocol);

// `attach` set: follow the container's output instead of running a command.
void serveSpdyExec(runtime::Runtime& runtime, std::shared_ptr<apiserver::DuplexStream> stream, ExecRequest request,
                   std::optional<LogSource> attach);

}  // namespace capstan::agent::streaming
