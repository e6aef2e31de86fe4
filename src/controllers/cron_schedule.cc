#include "controllers/cron_schedule.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <string>
#include <vector>

#include "common/duration.h"
#include "common/strings.h"

namespace capstan::controllers {
namespace {

using namespace std::chrono;

struct Bounds {
  int min, max;
  const char* const* names = nullptr;  // names[i] is value min+i... see lookup
  int names_base = 0;
  int name_count = 0;
};

constexpr const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                   "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

Result<int> value(std::string_view s, const Bounds& b) {
  std::string l = asciiLower(s);
  for (int i = 0; i < b.name_count; ++i)
    if (l == b.names[i]) return b.names_base + i;
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 0)
    return Status(Code::kBadRequest, fmt::format("failed to parse int from {}", s));
  return v;
}

// One comma-separated field into a bit set; *star says it was "*" or "?"
// (with no step above 1).
Result<uint64_t> field(std::string_view text, const Bounds& b, bool* star) {
  uint64_t bits = 0;
  *star = false;
  for (auto part : split(text, ',')) {
    auto range_step = split(part, '/');
    if (range_step.size() > 2) return Status(Code::kBadRequest, fmt::format("too many slashes: {}", part));
    auto low_high = split(range_step[0], '-');
    int start = 0, end = 0;
    bool is_star = false;
    if (low_high[0] == "*" || low_high[0] == "?") {
      if (low_high.size() > 1) return Status(Code::kBadRequest, fmt::format("too many hyphens: {}", part));
      start = b.min;
      end = b.max;
      is_star = true;
    } else {
      if (low_high.size() > 2) return Status(Code::kBadRequest, fmt::format("too many hyphens: {}", part));
      auto s = value(low_high[0], b);
      if (!s) return s.status();
      start = end = *s;
      if (low_high.size() == 2) {
        auto e = value(low_high[1], b);
        if (!e) return e.status();
        end = *e;
      }
    }
    int step = 1;
    if (range_step.size() == 2) {
      auto s = value(range_step[1], Bounds{0, 0});
      if (!s) return s.status();
      step = *s;
      if (step <= 0)
        return Status(Code::kBadRequest, fmt::format("step of range should be a positive number: {}", part));
      if (low_high.size() == 1 && !is_star) end = b.max;  // "N/step" is "N-max/step"
      if (step > 1) is_star = false;
    }
    if (start < b.min)
      return Status(Code::kBadRequest,
                    fmt::format("beginning of range ({}) below minimum ({}): {}", start, b.min, part));
    if (end > b.max)
      return Status(Code::kBadRequest,
                    fmt::format("end of range ({}) above maximum ({}): {}", end, b.max, part));
    if (start > end)
      return Status(Code::kBadRequest,
                    fmt::format("beginning of range ({}) beyond end of range ({}): {}", start, end, part));
    for (int v = start; v <= end; v += step) bits |= uint64_t{1} << v;
    *star = *star || is_star;
  }
  return bits;
}

}  // namespace

Result<CronSchedule> CronSchedule::parse(std::string_view spec) {
  while (!spec.empty() && std::isspace(static_cast<unsigned char>(spec.front()))) spec.remove_prefix(1);
  while (!spec.empty() && std::isspace(static_cast<unsigned char>(spec.back()))) spec.remove_suffix(1);
  if (spec.empty()) return Status(Code::kBadRequest, "empty spec string");
  if (spec.starts_with("TZ=") || spec.starts_with("CRON_TZ="))
    return Status(Code::kBadRequest, "TZ or CRON_TZ in schedule is not supported, use spec.timeZone");
  std::string text(spec);
  if (spec.front() == '@') {
    std::string d = asciiLower(spec);
    if (d.starts_with("@every ")) {
      std::string_view text = std::string_view(d).substr(7);
      auto dur = parseGoDuration(text);
      if (!dur)
        return Status(Code::kBadRequest,
                      fmt::format("failed to parse duration {}: time: invalid duration \"{}\"", spec, text));
      CronSchedule s;
      s.every_ = std::max(std::chrono::duration_cast<seconds>(*dur), seconds(1));
      return s;
    }
    if (d == "@yearly" || d == "@annually")
      text = "0 0 1 1 *";
    else if (d == "@monthly")
      text = "0 0 1 * *";
    else if (d == "@weekly")
      text = "0 0 * * 0";
    else if (d == "@daily" || d == "@midnight")
      text = "0 0 * * *";
    else if (d == "@hourly")
      text = "0 * * * *";
    else
      return Status(Code::kBadRequest, fmt::format("unrecognized descriptor: {}", spec));
  }
  std::vector<std::string_view> fields;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t i = 0;
    while (i < rest.size() && std::isspace(static_cast<unsigned char>(rest[i]))) ++i;
    size_t j = i;
    while (j < rest.size() && !std::isspace(static_cast<unsigned char>(rest[j]))) ++j;
    if (j > i) fields.push_back(rest.substr(i, j - i));
    rest = rest.substr(j);
  }
  if (fields.size() != 5)
    return Status(Code::kBadRequest,
                  fmt::format("expected exactly 5 fields, found {}: {}", fields.size(), spec));
  CronSchedule s;
  bool star = false;
  auto f = [&](int i, Bounds b, uint64_t* out, bool* star_out) -> Status {
    auto r = field(fields[i], b, star_out ? star_out : &star);
    if (!r) return r.status();
    *out = *r;
    return Status::ok();
  };
  if (Status st = f(0, {0, 59}, &s.minutes_, nullptr); !st) return st;
  if (Status st = f(1, {0, 23}, &s.hours_, nullptr); !st) return st;
  if (Status st = f(2, {1, 31}, &s.days_, &s.days_star_); !st) return st;
  if (Status st = f(3, {1, 12, kMonths, 1, 12}, &s.months_, nullptr); !st) return st;
  if (Status st = f(4, {0, 6, kDays, 0, 7}, &s.weekdays_, &s.weekdays_star_); !st) return st;
  return s;
}

std::optional<SysSeconds> CronSchedule::next(SysSeconds t, const TimeZone& zone) const {
  if (every_.count() > 0) return t + every_;
  auto bit = [](uint64_t set, unsigned v) { return (set >> v) & 1; };
  LocalSeconds local = floor<minutes>(zone.toLocal(t)) + minutes(1);
  const LocalSeconds limit = local + years(5);
  while (local < limit) {
    auto day = floor<days>(local);
    year_month_day ymd{day};
    if (!bit(months_, static_cast<unsigned>(ymd.month()))) {
      auto first_next = year_month_day{ymd.year() / ymd.month() / 1} + months(1);
      local = local_days(first_next);
      continue;
    }
    bool dom = bit(days_, static_cast<unsigned>(ymd.day()));
    bool dow = bit(weekdays_, weekday(day).c_encoding());
    bool day_ok = days_star_ || weekdays_star_ ? dom && dow : dom || dow;
    if (!day_ok) {
      local = day + days(1);
      continue;
    }
    hh_mm_ss hms{local - day};
    if (!bit(hours_, static_cast<unsigned>(hms.hours().count()))) {
      local = floor<hours>(local) + hours(1);
      continue;
    }
    if (!bit(minutes_, static_cast<unsigned>(hms.minutes().count()))) {
      local += minutes(1);
      continue;
    }
    for (SysSeconds u : zone.fromLocal(local))
      if (u > t) return u;
    local += minutes(1);  // skipped by a DST change, or already past
  }
  return std::nullopt;
}

}  // namespace capstan::controllers
