#pragma once
// Cron schedules as CronJob's spec.schedule takes them: the standard five
// fields (minute hour day-of-month month day-of-week) with lists, ranges,
// steps ("*/15", "1-30/5", "5/10" meaning 5-max/10), "?" for "*", month and
// weekday names (JAN, mon), and the descriptors @yearly/@annually,
// @monthly, @weekly, @daily/@midnight, @hourly and "@every <duration>",
// with the semantics of robfig/cron v3's standard parser that upstream uses:
// when both day fields are restricted a day matching either runs; when
// either is "*" both must match.
//
// Threading: an immutable value.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/status.h"
#include "controllers/time_zone.h"

namespace capstan::controllers {

class CronSchedule {
 public:
  // BadRequest with a message saying what is wrong.
  static Result<CronSchedule> parse(std::string_view spec);

  // The first activation strictly after t, in civil time of `zone`; none
  // within five years gives nullopt (e.g. "0 0 30 2 *"). Civil times that
  // a DST change skips do not run that day, as in robfig/cron.
  std::optional<SysSeconds> next(SysSeconds t, const TimeZone& zone) const;

 private:
  uint64_t minutes_ = 0, hours_ = 0, days_ = 0, months_ = 0, weekdays_ = 0;
  bool days_star_ = false, weekdays_star_ = false;
  std::chrono::seconds every_{0};
};

}  // namespace capstan::controllers
