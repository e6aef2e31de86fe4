#include "agent/streaming/fd_pump.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace capstan::agent::streaming {
namespace {

void closeFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

int decodeWait(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

}  // namespace

FdPump::FdPump(FdPumpOptions opts, Output on_output, Done on_done)
    : opts_(std::move(opts)), on_output_(std::move(on_output)), on_done_(std::move(on_done)) {}

std::shared_ptr<FdPump> FdPump::start(FdPumpOptions opts, Output on_output, Done on_done) {
  std::shared_ptr<FdPump> p(new FdPump(std::move(opts), std::move(on_output), std::move(on_done)));
  p->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (p->opts_.input_fd >= 0) ::fcntl(p->opts_.input_fd, F_SETFL, ::fcntl(p->opts_.input_fd, F_GETFL) | O_NONBLOCK);
  std::thread([p] { p->run(); }).detach();
  return p;
}

FdPump::~FdPump() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void FdPump::wake() {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void FdPump::write(std::string data) {
  if (data.empty()) return;
  {
    std::lock_guard lock(mu_);
    if (input_close_) return;
    input_.push_back(std::move(data));
  }
  wake();
}

void FdPump::closeInput() {
  {
    std::lock_guard lock(mu_);
    input_close_ = true;
  }
  wake();
}

void FdPump::consumed(size_t n) {
  size_t before = in_flight_.fetch_sub(n);
  if (before >= opts_.max_in_flight && before - n < opts_.max_in_flight) wake();
}

void FdPump::stop() {
  stop_ = true;
  wake();
}

void FdPump::run() {
  // A write to a pipe whose reader left raises SIGPIPE in the writing
  // thread: block it here and take EPIPE instead.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  std::vector<int> outs = opts_.output_fds;
  int input = opts_.input_fd;
  bool input_shared = false;  // the input is also an output (a socket)
  for (int fd : outs) input_shared |= fd == input && input >= 0;
  std::string pending;  // the input chunk being written
  size_t pending_off = 0;
  std::vector<char> buf(64 * 1024);
  auto open_outputs = [&] {
    size_t n = 0;
    for (int fd : outs) n += fd >= 0;
    return n;
  };
  auto closeInputFd = [&] {
    if (input < 0) return;
    if (input_shared || opts_.input_is_socket) ::shutdown(input, SHUT_WR);
    if (!input_shared) ::close(input);
    input = -1;
  };

  while (!stop_ && open_outputs() > 0) {
    // Input: take the next chunk; close once drained if asked.
    if (input >= 0 && pending_off == pending.size()) {
      std::lock_guard lock(mu_);
      pending.clear();
      pending_off = 0;
      if (!input_.empty()) {
        pending = std::move(input_.front());
        input_.pop_front();
      } else if (input_close_) {
        closeInputFd();
      }
    }
    std::vector<pollfd> fds;
    fds.push_back({wake_fd_, POLLIN, 0});
    bool reading = in_flight_.load() < opts_.max_in_flight;
    for (int fd : outs) fds.push_back({reading ? fd : -1, POLLIN, 0});
    size_t input_index = fds.size();
    if (input >= 0 && pending_off < pending.size()) fds.push_back({input, POLLOUT, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) {
      uint64_t v;
      [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof v);
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      if (outs[i] < 0 || !fds[i + 1].revents) continue;
      ssize_t n = ::read(outs[i], buf.data(), buf.size());
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        if (outs[i] == input) {
          // A socket whose peer closed: our side may still write.
          ::shutdown(outs[i], SHUT_RD);
          outs[i] = -1;
        } else {
          closeFd(outs[i]);
        }
        continue;
      }
      in_flight_ += static_cast<size_t>(n);
      on_output_(*this, i, std::string(buf.data(), static_cast<size_t>(n)));
    }
    if (input_index < fds.size() && fds[input_index].revents) {
      ssize_t n = opts_.input_is_socket || input_shared
                      ? ::send(input, pending.data() + pending_off, pending.size() - pending_off, MSG_NOSIGNAL)
                      : ::write(input, pending.data() + pending_off, pending.size() - pending_off);
      if (n > 0) {
        pending_off += static_cast<size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        // The reader left: drop what is queued.
        {
          std::lock_guard lock(mu_);
          input_.clear();
          input_close_ = true;
        }
        pending.clear();
        pending_off = 0;
        closeInputFd();
      }
    }
  }

  int exit_code = -1;
  if (opts_.pid > 0) {
    if (stop_) ::kill(opts_.pid, SIGKILL);
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, opts_.pid, 0));
    while (pidfd >= 0) {
      pollfd fds[2] = {{pidfd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
      if (fds[0].revents) break;
      if (fds[1].revents) {
        uint64_t v;
        [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof v);
        if (stop_) ::kill(opts_.pid, SIGKILL);
      }
    }
    if (pidfd >= 0) ::close(pidfd);
    int st = 0;
    while (::waitpid(opts_.pid, &st, 0) < 0 && errno == EINTR) {
    }
    exit_code = decodeWait(st);
  }
  for (int& fd : outs)
    if (fd >= 0 && fd != opts_.input_fd) closeFd(fd);
  if (input_shared) ::close(opts_.input_fd);
  else closeFd(input);
  if (on_done_) on_done_(exit_code);
  on_output_ = nullptr;
  on_done_ = nullptr;
}

}  // namespace capstan::agent::streaming
