// Cron schedule parsing and next-time computation, cases as data.
#include "controllers/cron_schedule.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace capstan::controllers {
namespace {

SysSeconds at(const std::string& rfc3339) {
  auto t = parseRfc3339(rfc3339);
  EXPECT_TRUE(t) << rfc3339;
  return std::chrono::floor<std::chrono::seconds>(t.value_or(WallTime()));
}

struct NextCase {
  const char* schedule;
  const char* zone;  // "" for UTC
  const char* after;
  const char* expected;  // "" for none
};

const NextCase kNextCases[] = {
    {"* * * * *", "", "2024-01-01T00:00:30Z", "2024-01-01T00:01:00Z"},
    {"* * * * *", "", "2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"},
    {"*/15 * * * *", "", "2024-01-01T00:14:00Z", "2024-01-01T00:15:00Z"},
    {"*/15 * * * *", "", "2024-01-01T00:15:00Z", "2024-01-01T00:30:00Z"},
    {"5/20 * * * *", "", "2024-01-01T00:06:00Z", "2024-01-01T00:25:00Z"},
    {"0-10/5 3 * * *", "", "2024-01-01T03:06:00Z", "2024-01-01T03:10:00Z"},
    {"0 9 * * MON-FRI", "", "2024-01-06T10:00:00Z", "2024-01-08T09:00:00Z"},
    {"0 0 1,15 * *", "", "2024-01-02T00:00:00Z", "2024-01-15T00:00:00Z"},
    {"0 0 29 2 *", "", "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
    {"0 0 30 2 *", "", "2024-03-01T00:00:00Z", ""},
    // Both day fields restricted: either matches (the 13th or a Friday).
    {"0 0 13 * 5", "", "2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z"},
    {"0 0 13 * 5", "", "2024-01-12T01:00:00Z", "2024-01-13T00:00:00Z"},
    // One day field "*": both must match.
    {"0 0 * * 5", "", "2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z"},
    {"0 0 13 * *", "", "2024-01-01T00:00:00Z", "2024-01-13T00:00:00Z"},
    {"0 0 ? * 1", "", "2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z"},
    {"0 0 * JAN,jul sun", "", "2024-01-01T00:00:00Z", "2024-01-07T00:00:00Z"},
    {"0 0 * JAN,jul sun", "", "2024-01-31T00:00:00Z", "2024-07-07T00:00:00Z"},
    {"@hourly", "", "2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"},
    {"@daily", "", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"},
    {"@midnight", "", "2024-01-01T10:00:00Z", "2024-01-02T00:00:00Z"},
    {"@weekly", "", "2024-01-01T00:00:00Z", "2024-01-07T00:00:00Z"},
    {"@monthly", "", "2024-01-15T00:00:00Z", "2024-02-01T00:00:00Z"},
    {"@yearly", "", "2024-01-15T00:00:00Z", "2025-01-01T00:00:00Z"},
    {"@annually", "", "2024-01-15T00:00:00Z", "2025-01-01T00:00:00Z"},
    {"@every 90m", "", "2024-01-01T00:00:10Z", "2024-01-01T01:30:10Z"},
    {"@every 1h30m", "", "2024-01-01T00:00:00Z", "2024-01-01T01:30:00Z"},
    {"0 12 * * *", "Europe/Berlin", "2024-06-01T00:00:00Z", "2024-06-01T10:00:00Z"},
    {"0 12 * * *", "Europe/Berlin", "2024-01-01T00:00:00Z", "2024-01-01T11:00:00Z"},
    // 02:30 does not exist in New York on 2024-03-10: that day is skipped.
    {"30 2 * * *", "America/New_York", "2024-03-09T12:00:00Z", "2024-03-11T06:30:00Z"},
    // 01:30 happens twice on 2024-11-03: the first one runs.
    {"30 1 * * *", "America/New_York", "2024-11-03T04:00:00Z", "2024-11-03T05:30:00Z"},
    {"0 0 * * *", "Asia/Kolkata", "2024-01-01T00:00:00Z", "2024-01-01T18:30:00Z"},
};

TEST(CronScheduleTest, NextTimes) {
  for (const auto& c : kNextCases) {
    SCOPED_TRACE(std::string(c.schedule) + " in " + c.zone + " after " + c.after);
    auto sched = CronSchedule::parse(c.schedule);
    ASSERT_TRUE(sched) << sched.status().message();
    auto zone = TimeZone::load(c.zone);
    ASSERT_TRUE(zone) << zone.status().message();
    auto next = sched->next(at(c.after), **zone);
    if (std::string(c.expected).empty()) {
      EXPECT_FALSE(next);
    } else {
      ASSERT_TRUE(next);
      EXPECT_EQ(formatRfc3339(WallTime(*next)), c.expected);
    }
  }
}

TEST(CronScheduleTest, RejectsMalformedSchedules) {
  for (const char* bad : {"",
                          "* * * *",
                          "* * * * * *",
                          "60 * * * *",
                          "* 24 * * *",
                          "* * 0 * *",
                          "* * * 13 *",
                          "* * * * 7",
                          "*/0 * * * *",
                          "a * * * *",
                          "5-1 * * * *",
                          "1-2-3 * * * *",
                          "*/2/3 * * * *",
                          "@fortnightly",
                          "@every",
                          "@every 5x",
                          "TZ=UTC * * * * *",
                          "CRON_TZ=UTC 0 * * * *",
                          "* * * FOO *",
                          "-1 * * * *"}) {
    auto s = CronSchedule::parse(bad);
    EXPECT_FALSE(s) << "'" << bad << "' parsed";
    if (!s) {
      EXPECT_EQ(s.status().code(), Code::kBadRequest);
    }
  }
}

TEST(TimeZoneTest, LoadsZonesAndRejectsBadNames) {
  auto berlin = TimeZone::load("Europe/Berlin");
  ASSERT_TRUE(berlin) << berlin.status().message();
  EXPECT_EQ((*berlin)->offsetAt(at("2024-07-01T00:00:00Z")), std::chrono::hours(2));
  EXPECT_EQ((*berlin)->offsetAt(at("2024-12-01T00:00:00Z")), std::chrono::hours(1));
  EXPECT_EQ(TimeZone::load("Mars/Olympus").status().code(), Code::kNotFound);
  EXPECT_EQ(TimeZone::load("../../etc/passwd").status().code(), Code::kInvalid);
  EXPECT_EQ(TimeZone::load("/etc/passwd").status().code(), Code::kInvalid);
  EXPECT_FALSE(TimeZone::fromTzif("x", "TZif2 garbage"));
  EXPECT_FALSE(TimeZone::fromTzif("x", ""));
}

}  // namespace
}  // namespace capstan::controllers
