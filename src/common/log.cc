#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "common/clock.h"

namespace capstan::log {
namespace {
std::atomic<Level> g_level{Level::kInfo};
std::mutex g_mu;
const char* name(Level l) {
  switch (l) {
    case Level::kDebug: return "DEBUG";
    case Level::kInfo: return "INFO";
    case Level::kWarn: return "WARN";
    case Level::kError: return "ERROR";
  }
  return "?";
}
}  // namespace

void setLevel(Level level) { g_level = level; }
bool enabled(Level level) { return level >= g_level.load(std::memory_order_relaxed); }

void write(Level level, std::string_view line) {
  std::string ts = formatRfc3339Micro(std::chrono::system_clock::now());
  std::lock_guard lock(g_mu);
  std::fprintf(stderr, "%s %s %.*s\n", ts.c_str(), name(level), static_cast<int>(line.size()), line.data());
}

}  // namespace capstan::log
