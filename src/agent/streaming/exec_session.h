#pragma once
// exec and attach over an upgraded connection: the WebSocket channel
// protocols (v4/v5.channel.k8s.io) here; SPDY in spdy_exec.h. The process
// (crun exec) is driven by an FdPump; attach follows the container's log
// from its end (the shim owns the container's stdio, so attach shows the
// output; stdin is not wired to the container).
//
// Threading: the functions return at once; the session lives on the
// stream's callbacks and the pump's or follower's thread, and ends when the
// command (or container) exits or the client goes away.

#include <memory>
#include <string>
#include <vector>

#include "agent/runtime/runtime.h"
#include "agent/streaming/log_follower.h"
#include "apiserver/http.h"

namespace capstan::agent::streaming {

struct ExecRequest {
  std::string container_id;
  std::vector<std::string> command;
  bool stdin = false;
  bool stdout = true;
  bool stderr = true;
  bool tty = false;  // accepted; the runtime's exec has no terminal yet, so output is not a tty
};

void serveWebSocketExec(runtime::Runtime& runtime, std::shared_ptr<apiserver::DuplexStream> ws, bool v5,
                        ExecRequest request);
void serveWebSocketAttach(runtime::Runtime& runtime, std::shared_ptr<apiserver::DuplexStream> ws,
                          LogSource source, ExecRequest request);

}  // namespace capstan::agent::streaming
