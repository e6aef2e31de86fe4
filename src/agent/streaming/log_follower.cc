#include "agent/streaming/log_follower.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "common/log.h"

namespace capstan::agent::streaming {
namespace {

constexpr size_t kMaxCarry = 256 * 1024;  // a "line" longer than this is garbage: dropped

std::string readAll(int fd) {
  std::string data;
  char buf[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

}  // namespace

LogFollower::LogFollower(runtime::Runtime& runtime, LogSource source, LogOptions options, Sink sink,
                         std::function<void()> on_end)
    : runtime_(runtime),
      source_(std::move(source)),
      options_(std::move(options)),
      sink_(std::move(sink)),
      on_end_(std::move(on_end)) {}

std::shared_ptr<LogFollower> LogFollower::start(runtime::Runtime& runtime, LogSource source, LogOptions options,
                                                Sink sink, std::function<void()> on_end) {
  std::shared_ptr<LogFollower> f(
      new LogFollower(runtime, std::move(source), std::move(options), std::move(sink), std::move(on_end)));
  f->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::thread([f] { f->run(); }).detach();
  return f;
}

LogFollower::~LogFollower() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void LogFollower::stop() {
  stop_ = true;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void LogFollower::run() {
  LogFormatter formatter(options_);
  std::string carry;
  bool reader_gone = false;

  // Formats whole records from `data` (plus what was carried over) and
  // hands the output to the sink, one call per run of the same stream.
  auto consume = [&](std::string_view data) {
    carry.append(data);
    size_t start = 0;
    std::string out;
    std::string_view out_stream;
    while (!reader_gone && !formatter.done()) {
      size_t nl = carry.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(carry.data() + start, nl - start);
      std::string piece;
      std::string_view stream;
      formatter.feed(line, &piece, &stream);
      start = nl + 1;
      if (piece.empty()) continue;
      if (!out.empty() && stream != out_stream) {
        if (!sink_(out_stream, std::move(out))) reader_gone = true;
        out.clear();
      }
      out_stream = stream == "stderr" ? std::string_view("stderr") : std::string_view("stdout");
      out.append(piece);
    }
    if (!out.empty() && !reader_gone)
      if (!sink_(out_stream, std::move(out))) reader_gone = true;
    carry.erase(0, start);
    if (carry.size() > kMaxCarry) carry.clear();
  };

  int fd = ::open(source_.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (source_.from_end) {
      ::lseek(fd, 0, SEEK_END);
    } else if (options_.tail_lines) {
      std::string all = readAll(fd);
      consume(std::string_view(all).substr(tailOffset(all, *options_.tail_lines)));
    }
    // Without tail the loop below reads from the start.
  }

  int inotify_fd = -1;
  int pid_fd = -1;
  bool exited = source_.pid <= 0;
  if (options_.follow && !exited) {
    inotify_fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (inotify_fd >= 0)
      ::inotify_add_watch(inotify_fd, source_.path.c_str(), IN_MODIFY | IN_CLOSE_WRITE | IN_MOVE_SELF | IN_DELETE_SELF);
    pid_fd = static_cast<int>(::syscall(SYS_pidfd_open, source_.pid, 0));
    if (pid_fd < 0) exited = true;  // already gone
  }

  char buf[64 * 1024];
  while (!stop_ && !reader_gone && !formatter.done() && fd >= 0) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) {
      consume(std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    // At the end of the file.
    if (!options_.follow || inotify_fd < 0) break;
    if (exited) {
      // The shim writes the last output after the container's init exits;
      // it is done once the runtime has recorded the exit. Then drain.
      (void)runtime_.waitExit(source_.container_id, std::chrono::seconds(5));
      while (true) {
        ssize_t m = ::read(fd, buf, sizeof buf);
        if (m <= 0) break;
        consume(std::string_view(buf, static_cast<size_t>(m)));
      }
      break;
    }
    pollfd fds[3] = {{inotify_fd, POLLIN, 0}, {pid_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0 && errno != EINTR) break;
    if (fds[0].revents) {
      alignas(inotify_event) char ev[4096];
      ssize_t m = ::read(inotify_fd, ev, sizeof ev);
      for (ssize_t off = 0; off < m;) {
        auto* e = reinterpret_cast<inotify_event*>(ev + off);
        if (e->mask & (IN_MOVE_SELF | IN_DELETE_SELF)) {
          // Rotated: drain the old file, then continue with the new one.
          while (true) {
            ssize_t k = ::read(fd, buf, sizeof buf);
            if (k <= 0) break;
            consume(std::string_view(buf, static_cast<size_t>(k)));
          }
          int nfd = ::open(source_.path.c_str(), O_RDONLY | O_CLOEXEC);
          if (nfd >= 0) {
            ::close(fd);
            fd = nfd;
            carry.clear();
            ::inotify_add_watch(inotify_fd, source_.path.c_str(),
                                IN_MODIFY | IN_CLOSE_WRITE | IN_MOVE_SELF | IN_DELETE_SELF);
          }
        }
        off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
      }
    }
    if (fds[1].revents) exited = true;
    if (fds[2].revents) {
      uint64_t v;
      [[maybe_unused]] auto k = ::read(wake_fd_, &v, sizeof v);
    }
  }
  if (fd >= 0) ::close(fd);
  if (inotify_fd >= 0) ::close(inotify_fd);
  if (pid_fd >= 0) ::close(pid_fd);
  if (on_end_) on_end_();
  sink_ = nullptr;
  on_end_ = nullptr;
}

}  // namespace capstan::agent::streaming
