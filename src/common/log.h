#pragma once
// One line per event, leveled, with key=value fields:
//   LOG_INFO("store opened", "path", path, "revision", rev);

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace capstan::log {

enum class Level { kDebug, kInfo, kWarn, kError };

void setLevel(Level level);
bool enabled(Level level);
void write(Level level, std::string_view line);

// Where formatted lines go: stderr unless replaced (the unit tests keep each
// test's lines and print them only when it fails). Called under the log's lock.
using Sink = void (*)(std::string_view formatted_line);
void setSink(Sink sink);

namespace detail {
inline void appendFields(std::string&) {}
// fmt::format, not format_to into the string: libfmt 9 compiles format_to's
// whole formatting engine (floats included) into every translation unit
// that calls it, about 7 s of a 19 s compile for each file that logs.
template <typename K, typename V, typename... Rest>
void appendFields(std::string& out, const K& key, const V& value, const Rest&... rest) {
  out += fmt::format(" {}={}", key, value);
  appendFields(out, rest...);
}
}  // namespace detail

template <typename... Fields>
void emit(Level level, std::string_view msg, const Fields&... fields) {
  if (!enabled(level)) return;
  std::string line(msg);
  detail::appendFields(line, fields...);
  write(level, line);
}

}  // namespace capstan::log

#define LOG_DEBUG(...) ::capstan::log::emit(::capstan::log::Level::kDebug, __VA_ARGS__)
#define LOG_INFO(...) ::capstan::log::emit(::capstan::log::Level::kInfo, __VA_ARGS__)
#define LOG_WARN(...) ::capstan::log::emit(::capstan::log::Level::kWarn, __VA_ARGS__)
#define LOG_ERROR(...) ::capstan::log::emit(::capstan::log::Level::kError, __VA_ARGS__)
