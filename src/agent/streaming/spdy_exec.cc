#include "agent/streaming/spdy_exec.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "agent/streaming/channel.h"
#include "agent/streaming/fd_pump.h"
#include "agent/streaming/log_follower.h"
#include "agent/streaming/spdy_connection.h"

namespace capstan::agent::streaming {

bool spdyOffers(std::string_view value, std::string_view protocol) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view p = value.substr(pos, comma - pos);
    while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
    while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
    if (p == protocol) return true;
    pos = comma + 1;
  }
  return false;
}

namespace {

struct SpdyExec : std::enable_shared_from_this<SpdyExec> {
  runtime::Runtime* runtime = nullptr;
  ExecRequest request;
  std::optional<LogSource> attach;
  std::shared_ptr<SpdyConnection> conn;
  std::mutex mu;  // guards the ids, pump, follower, started
  uint32_t error_id = 0, stdin_id = 0, stdout_id = 0, stderr_id = 0, resize_id = 0;
  int tty_fd = -1;      // owned: the terminal, for resizing
  std::string resizes;  // the resize stream's bytes not yet a whole line
  bool started = false;
  bool gone = false;
  std::string early_stdin;  // stdin that came before the command started
  bool early_fin = false;
  std::shared_ptr<FdPump> pump;
  std::shared_ptr<LogFollower> follower;

  ~SpdyExec() {
    if (tty_fd >= 0) ::close(tty_fd);
  }

  // The resize stream is newline-separated JSON terminal sizes.
  void onResize(std::string data) {
    resizes += data;
    for (size_t nl; (nl = resizes.find('\n')) != std::string::npos;) {
      applyTerminalResize(tty_fd, std::string_view(resizes).substr(0, nl));
      resizes.erase(0, nl + 1);
    }
    if (resizes.size() > 4096) resizes.clear();
  }

  bool ready() const {
    return error_id && (!request.stdin || stdin_id) && (!request.stdout || stdout_id) &&
           (!request.stderr || request.tty || stderr_id);
  }

  void onStream(uint32_t id, const spdy::Headers& h) {
    std::string type = spdy::headerValue(h, "streamtype");
    std::unique_lock lock(mu);
    if (type == "error") error_id = id;
    else if (type == "stdin") stdin_id = id;
    else if (type == "stdout") stdout_id = id;
    else if (type == "stderr") stderr_id = id;
    else if (type == "resize") resize_id = id;
    if (started || !ready()) return;
    started = true;
    lock.unlock();
    begin();
  }

  void finishAll(const std::string& status) {
    conn->write(error_id, status);
    for (uint32_t id : {error_id, stdin_id, stdout_id, stderr_id, resize_id})
      if (id) conn->finish(id);
    conn->close();
  }

  void begin() {
    auto self = shared_from_this();
    Result<runtime::ExecProcess> proc = Status(Code::kNotFound, "");
    if (attach) proc = runtime->attach(request.container_id);
    if (attach && !proc && proc.status().code() == Code::kNotFound) {
      // No attach socket: the container's output, from its log.
      LogOptions opts;
      opts.follow = true;
      auto f = LogFollower::start(
          *runtime, *attach, opts,
          [self](std::string_view stream, std::string data) {
            if (self->gone) return false;
            uint32_t id = stream == "stderr" && !self->request.tty ? self->stderr_id : self->stdout_id;
            if (id) self->conn->write(id, std::move(data));
            return true;
          },
          [self] { self->finishAll(exitStatusJson(0)); });
      std::lock_guard lock(mu);
      follower = f;
      return;
    }
    if (!attach) proc = runtime->execStreaming(request.container_id, request.command, {.tty = request.tty});
    if (!proc) return finishAll(failureStatusJson(proc.status().message()));
    {
      std::lock_guard lock(mu);
      tty_fd = proc->tty_fd;
    }
    FdPumpOptions opts;
    opts.input_fd = proc->stdin_fd;
    opts.output_fds = {proc->stdout_fd, proc->stderr_fd};
    opts.pid = proc->pid;
    auto p = FdPump::start(
        opts,
        [self](FdPump& pump, size_t index, std::string data) {
          size_t n = data.size();
          uint32_t id = index == 0 ? self->stdout_id : (self->request.tty ? self->stdout_id : self->stderr_id);
          if (!id) return pump.consumed(n);
          self->conn->write(id, std::move(data), [p = pump.shared_from_this(), n](Status) { p->consumed(n); });
        },
        // An attach (no process of its own) ends when the container does.
        [self](int exit_code) { self->finishAll(exitStatusJson(std::max(exit_code, 0))); });
    bool close_stdin;
    {
      std::lock_guard lock(mu);
      pump = p;
      p->write(std::move(early_stdin));
      close_stdin = !request.stdin || gone || early_fin;
    }
    if (close_stdin) p->closeInput();
    if (gone) p->stop();
  }
};

}  // namespace

void serveSpdyExec(runtime::Runtime& runtime, std::shared_ptr<apiserver::DuplexStream> stream, ExecRequest request,
                   std::optional<LogSource> attach) {
  auto s = std::make_shared<SpdyExec>();
  s->runtime = &runtime;
  s->request = std::move(request);
  s->attach = std::move(attach);
  SpdyConnection::Handlers h;
  h.on_stream = [s](uint32_t id, const spdy::Headers& headers) { s->onStream(id, headers); };
  h.on_data = [s](uint32_t id, std::string data) {
    std::lock_guard lock(s->mu);
    if (id == s->resize_id && id) return s->onResize(std::move(data));
    if (id != s->stdin_id) return;
    if (s->pump) s->pump->write(std::move(data));
    else if (s->early_stdin.size() < (1u << 20)) s->early_stdin += data;
  };
  h.on_fin = [s](uint32_t id) {
    std::lock_guard lock(s->mu);
    if (id != s->stdin_id) return;
    if (s->pump) s->pump->closeInput();
    else s->early_fin = true;
  };
  h.on_close = [s] {
    std::lock_guard lock(s->mu);
    s->gone = true;
    if (s->pump) s->pump->stop();
    if (s->follower) s->follower->stop();
  };
  s->conn = SpdyConnection::create(std::move(stream), std::move(h));
  s->conn->run();
}

}  // namespace capstan::agent::streaming
