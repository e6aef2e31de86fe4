#pragma once
// Moves bytes between file descriptors and callbacks on a thread of its own
// (a blocking poll there, never on an I/O thread): the output fds (a
// process's stdout and stderr, or a socket) are read until EOF and handed
// to a callback; the input fd (stdin, or the same socket) gets what write()
// queues. With a pid, the process is reaped (through a pidfd, so stop() can
// interrupt the wait) once its outputs end, and its exit code reported.
//
// Backpressure: at most `max_in_flight` output bytes may be handed out and
// not yet consumed(); above that the pump stops reading.
//
// Threading: the public methods are thread-safe; the callbacks run on the
// pump's thread, in order, and must not call stop() synchronously... they
// may (stop() never joins). The thread holds a reference to the pump until
// on_done has run.

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace capstan::agent::streaming {

struct FdPumpOptions {
  int input_fd = -1;              // written from write(); -1: none
  std::vector<int> output_fds;    // read until EOF
  int pid = -1;                   // child to reap once outputs end; -1: none
  bool input_is_socket = false;   // closeInput() shuts the socket down for writing
  size_t max_in_flight = 1 << 20;
};

class FdPump : public std::enable_shared_from_this<FdPump> {
 public:
  using Output = std::function<void(FdPump& pump, size_t index, std::string data)>;
  using Done = std::function<void(int exit_code)>;  // exit code, or -1 without a pid

  // Takes ownership of every fd in `opts` (closed when the pump ends).
  static std::shared_ptr<FdPump> start(FdPumpOptions opts, Output on_output, Done on_done);
  ~FdPump();

  void write(std::string data);
  // Closes the input after the queued writes (stdin EOF, or a half-close).
  void closeInput();
  void consumed(size_t n);
  // Kills the process (SIGKILL) and ends the pump; on_done still runs.
  void stop();

 private:
  FdPump(FdPumpOptions opts, Output on_output, Done on_done);
  void run();
  void wake();

  FdPumpOptions opts_;
  Output on_output_;
  Done on_done_;
  int wake_fd_ = -1;
  std::mutex mu_;  // guards input_, input_close_
  std::deque<std::string> input_;
  bool input_close_ = false;
  std::atomic<size_t> in_flight_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace capstan::agent::streaming
