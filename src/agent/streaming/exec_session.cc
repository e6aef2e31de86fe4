#include "agent/streaming/exec_session.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "agent/streaming/channel.h"
#include "agent/streaming/fd_pump.h"
#include "common/log.h"

namespace capstan::agent::streaming {
namespace {

using apiserver::DuplexStream;

struct WsExec : std::enable_shared_from_this<WsExec> {
  std::shared_ptr<DuplexStream> ws;
  std::shared_ptr<FdPump> pump;
  ExecRequest request;
  bool v5 = false;
  int tty_fd = -1;  // owned: the terminal, for resizing
  std::atomic<bool> finished{false};

  ~WsExec() {
    if (tty_fd >= 0) ::close(tty_fd);
  }

  void readLoop() {
    ws->read([self = shared_from_this()](Status st, std::string msg) {
      if (!st) {
        // The client left before the command ended: end it.
        if (!self->finished) self->pump->stop();
        return;
      }
      if (auto m = decodeChannelMessage(msg)) {
        if (m->channel == Channel::kStdin && self->request.stdin) {
          self->pump->write(std::string(m->payload));
        } else if (m->channel == Channel::kClose && self->v5 && !m->payload.empty() &&
                   static_cast<uint8_t>(m->payload[0]) == static_cast<uint8_t>(Channel::kStdin)) {
          self->pump->closeInput();
        } else if (m->channel == Channel::kResize) {
          applyTerminalResize(self->tty_fd, m->payload);
        }
      }
      self->readLoop();
    });
  }
};

struct WsAttach : std::enable_shared_from_this<WsAttach> {
  std::shared_ptr<DuplexStream> ws;
  std::shared_ptr<LogFollower> follower;
  std::atomic<bool> gone{false};

  void readLoop() {
    ws->read([self = shared_from_this()](Status st, std::string) {
      if (!st) {
        self->gone = true;
        if (self->follower) self->follower->stop();
        return;
      }
      self->readLoop();
    });
  }
};

// A process's (or an attached container's: pid -1) stdio over the channel
// protocol, until it exits or the client goes away.
void serveWebSocketProcess(std::shared_ptr<DuplexStream> ws, bool v5, ExecRequest request,
                           Result<runtime::ExecProcess> proc) {
  if (!proc) {
    ws->write(encodeChannelMessage(Channel::kError, failureStatusJson(proc.status().message())));
    ws->close();
    return;
  }
  auto session = std::make_shared<WsExec>();
  session->ws = ws;
  session->request = request;
  session->v5 = v5;
  session->tty_fd = proc->tty_fd;
  FdPumpOptions opts;
  opts.input_fd = proc->stdin_fd;
  opts.output_fds = {proc->stdout_fd, proc->stderr_fd};
  opts.pid = proc->pid;
  // The pump's callbacks reach the pump through the session; the cycle
  // ends when the pump drops its callbacks after on_done.
  session->pump = FdPump::start(
      opts,
      [session](FdPump& pump, size_t index, std::string data) {
        size_t n = data.size();
        bool want = index == 0 ? session->request.stdout : session->request.stderr;
        if (!want) return pump.consumed(n);
        // On a terminal everything is stdout (stderr then only has crun's errors).
        Channel ch = index == 0 || session->request.tty ? Channel::kStdout : Channel::kStderr;
        session->ws->write(encodeChannelMessage(ch, data),
                           [p = pump.shared_from_this(), n](Status) { p->consumed(n); });
      },
      [session](int exit_code) {
        session->finished = true;
        // An attach (no process of its own) ends when the container does.
        session->ws->write(encodeChannelMessage(Channel::kError, exitStatusJson(std::max(exit_code, 0))));
        session->ws->close();
      });
  if (!request.stdin) session->pump->closeInput();
  session->readLoop();
}

}  // namespace

void serveWebSocketExec(runtime::Runtime& runtime, std::shared_ptr<DuplexStream> ws, bool v5, ExecRequest request) {
  auto proc = runtime.execStreaming(request.container_id, request.command, {.tty = request.tty});
  serveWebSocketProcess(std::move(ws), v5, std::move(request), std::move(proc));
}

void serveWebSocketAttach(runtime::Runtime& runtime, std::shared_ptr<DuplexStream> ws, bool v5, LogSource source,
                          ExecRequest request) {
  // Through the shim: the container's stdio itself, stdin and terminal too.
  if (auto proc = runtime.attach(request.container_id); proc || proc.status().code() != Code::kNotFound)
    return serveWebSocketProcess(std::move(ws), v5, std::move(request), std::move(proc));
  // A container whose shim has no attach socket: its output, from its log.
  auto session = std::make_shared<WsAttach>();
  session->ws = ws;
  LogOptions opts;
  opts.follow = true;
  source.from_end = true;
  std::weak_ptr<WsAttach> weak = session;
  session->follower = LogFollower::start(
      runtime, source, opts,
      [weak, request](std::string_view stream, std::string data) {
        auto s = weak.lock();
        if (!s || s->gone) return false;
        bool err = stream == "stderr";
        if (err ? !request.stderr : !request.stdout) return true;
        // Without a separate stderr (tty), everything goes to stdout.
        Channel ch = err && !request.tty ? Channel::kStderr : Channel::kStdout;
        s->ws->write(encodeChannelMessage(ch, data));
        return true;
      },
      [weak] {
        if (auto s = weak.lock()) {
          s->ws->write(encodeChannelMessage(Channel::kError, exitStatusJson(0)));
          s->ws->close();
        }
      });
  session->readLoop();
}

}  // namespace capstan::agent::streaming
