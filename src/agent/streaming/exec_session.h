#pragma once
// exec and attach over an upgraded connection: the WebSocket channel
// protocols (v4/v5.channel.k8s.io) here; SPDY in spdy_exec.h. The process
// (crun exec) is driven by an FdPump, and so is attach, over the pipes the
// container's shim hands out (runtime::Runtime::attach).
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
  bool tty = false;
};

void serveWebSocketExec(runtime::Runtime& runtime, std::shared_ptr<apiserver::DuplexStream> ws, bool v5,
                        ExecRequest request);
// Attach: the container's stdio through its shim (runtime.attach), with
// stdin and terminal resizing; for a container whose shim has no attach
// socket, its output followed from the log.
void serveWebSocketAttach(runtime::Runtime& runtime, std::shared_ptr<apiserver::DuplexStream> ws, bool v5,
                          LogSource source, ExecRequest request);

}  // namespace capstan::agent::streaming
