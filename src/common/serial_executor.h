#pragma once
// Runs posted tasks one at a time, in order, on a thread of its own: for
// work a latency-sensitive loop hands off and need not wait for (the
// scheduler's API writes, as upstream's binding goroutines and event
// broadcaster take them off its scheduling cycle).
//
// Threading: post() is thread-safe and never blocks on a task. The
// destructor runs what was posted before it, then joins.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace capstan {

class SerialExecutor {
 public:
  SerialExecutor();
  ~SerialExecutor();
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  void post(std::function<void()> task);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest exists
};

}  // namespace capstan
