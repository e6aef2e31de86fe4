#pragma once
// The allocator's settings. Every capstan process runs on jemalloc with
// kMallocConf (it reads the `malloc_conf` symbol at start; MALLOC_CONF in
// the environment still overrides):
//   - narenas:2: an arena per core rather than four;
//   - background_thread: freed pages go back to the kernel from jemalloc's
//     own thread, not in the middle of a request or a proxy sync (that
//     purge was the 5-50 ms first change after a big proxy sync, and 5 % of
//     the scheduler benchmark);
//   - a 1 s decay, so that an idle agent stays small.
// bench/service links the same settings so that it measures the proxy as
// it runs.

namespace capstan {

inline constexpr const char* kMallocConf = "narenas:2,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000";

// The control plane keeps freed pages for 10 s instead: under a burst of
// writes the 1 s decay gave back memory that the next second faulted in
// again. Does nothing when MALLOC_CONF is set (the operator's choice wins)
// or when the setting is refused; says so in the log.
void keepFreedMemoryLonger();

}  // namespace capstan
