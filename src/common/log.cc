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
Sink g_sink = nullptr;
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

void setSink(Sink sink) {
  std::lock_guard lock(g_mu);
  g_sink = sink;
}

void write(Level level, std::string_view line) {
  std::string formatted = fmt::format("{} {} {}\n", formatRfc3339Micro(std::chrono::system_clock::now()), name(level), line);
  std::lock_guard lock(g_mu);
  if (g_sink != nullptr) {
    g_sink(formatted);
    return;
  }
  std::fwrite(formatted.data(), 1, formatted.size(), stderr);
}

}  // namespace capstan::log
