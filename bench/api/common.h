#pragma once
// Small helpers the API benchmark's parts share.

#include <openssl/err.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace capstan::bench {

inline double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Wall-clock nanoseconds: comparable across processes (the server stamps
// events with the same clock).
inline int64_t realtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// `what` and OpenSSL's oldest queued error.
inline std::string sslError(const char* what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  return std::string(what) + ": " + buf;
}

}  // namespace capstan::bench
