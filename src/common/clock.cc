#include "common/clock.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <ctime>

namespace capstan {

const SystemClock& SystemClock::instance() {
  static const SystemClock c;
  return c;
}

std::string formatRfc3339(WallTime t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string formatRfc3339Micro(WallTime t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() % 1000000;
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:06d}Z", buf, us);
}

std::optional<WallTime> parseRfc3339(std::string_view s) {
  std::tm tm{};
  std::string str(s);
  const char* rest = strptime(str.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  std::time_t tt = timegm(&tm);
  WallTime t = std::chrono::system_clock::from_time_t(tt);
  if (*rest == '.') {
    ++rest;
    long frac = 0;
    int digits = 0;
    while (*rest >= '0' && *rest <= '9') {
      if (digits < 6) { frac = frac * 10 + (*rest - '0'); ++digits; }
      ++rest;
    }
    while (digits++ < 6) frac *= 10;
    t += std::chrono::microseconds(frac);
  }
  if (*rest == 'Z' || *rest == '\0') return t;
  if (*rest == '+' || *rest == '-') {
    int sign = *rest == '+' ? 1 : -1;
    int hh = 0, mm = 0;
    if (std::sscanf(rest + 1, "%d:%d", &hh, &mm) < 1) return std::nullopt;
    t -= std::chrono::minutes(sign * (hh * 60 + mm));
    return t;
  }
  return std::nullopt;
}

std::string humanDuration(std::chrono::seconds d) {
  // Follows k8s.io/apimachinery/pkg/util/duration.HumanDuration.
  long long s = d.count();
  if (s < 0) s = 0;
  if (s < 60 * 2) return fmt::format("{}s", s);
  long long m = s / 60;
  if (m < 10) {
    long long rs = s % 60;
    return rs == 0 ? fmt::format("{}m", m) : fmt::format("{}m{}s", m, rs);
  }
  if (m < 60 * 3) return fmt::format("{}m", m);
  long long h = s / 3600;
  if (h < 8) {
    long long rm = m % 60;
    return rm == 0 ? fmt::format("{}h", h) : fmt::format("{}h{}m", h, rm);
  }
  if (h < 48) return fmt::format("{}h", h);
  if (h < 24 * 8) {
    long long rh = h % 24;
    return rh == 0 ? fmt::format("{}d", h / 24) : fmt::format("{}d{}h", h / 24, rh);
  }
  if (h < 24 * 365 * 2) return fmt::format("{}d", h / 24);
  if (h < 24 * 365 * 8) {
    long long dy = (h / 24) % 365;
    return dy == 0 ? fmt::format("{}y", h / 24 / 365) : fmt::format("{}y{}d", h / 24 / 365, dy);
  }
  return fmt::format("{}y", h / 24 / 365);
}

}  // namespace capstan
