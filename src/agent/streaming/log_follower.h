#pragma once
// Reads one container's CRI log file as `kubectl logs` wants it, on a
// thread of its own: the whole file or its tail, then (follow) every new
// record as it is written -- woken by inotify, never by polling -- until
// the container has exited and the file is drained. The container's exit
// is seen through a pidfd on its init process.
//
// Threading: the sink and on_end run on the follower's thread; stop() is
// thread-safe and never blocks.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "agent/runtime/runtime.h"
#include "agent/streaming/cri_log_reader.h"

namespace capstan::agent::streaming {

struct LogSource {
  std::string path;
  std::string container_id;
  int pid = 0;           // the container's init while it runs; 0 once exited
  bool from_end = false;  // start at the end of the file (attach)
};

class LogFollower {
 public:
  // Returns false when the reader went away: the follower ends.
  using Sink = std::function<bool(std::string_view stream, std::string data)>;
  static std::shared_ptr<LogFollower> start(runtime::Runtime& runtime, LogSource source, LogOptions options, Sink sink,
                                            std::function<void()> on_end);
  ~LogFollower();
  void stop();

 private:
  LogFollower(runtime::Runtime& runtime, LogSource source, LogOptions options, Sink sink, std::function<void()> on_end);
  void run();

  runtime::Runtime& runtime_;
  LogSource source_;
  LogOptions options_;
  Sink sink_;
  std::function<void()> on_end_;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
};

}  // namespace capstan::agent::streaming
