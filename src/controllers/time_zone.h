#pragma once
// IANA time zones read from the system tz database (TZif files under
// /usr/share/zoneinfo), for CronJob's spec.timeZone. GCC 12's libstdc++ has
// no std::chrono::tzdb, and localtime_r with TZ is process-global, so the
// transitions are read here, once per zone, into an immutable table.
//
// Limit: instants after a file's last transition keep its last offset (the
// POSIX TZ footer rule is not evaluated). Debian ships "fat" files with
// transitions through 2037, so this only matters for slim databases.
//
// Threading: a loaded TimeZone is immutable; load() is thread-safe.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace capstan::controllers {

using SysSeconds = std::chrono::sys_seconds;
using LocalSeconds = std::chrono::local_seconds;

class TimeZone {
 public:
  // UTC: what an empty spec.timeZone means here (the controller's zone).
  static std::shared_ptr<const TimeZone> utc();
  // "Europe/Berlin", "Etc/UTC", "UTC". NotFound for an unknown name,
  // Invalid for a malformed one or an unreadable file.
  static Result<std::shared_ptr<const TimeZone>> load(std::string_view name,
                                                      const std::string& dir = "/usr/share/zoneinfo");
  // Parses TZif data (for tests).
  static Result<std::shared_ptr<const TimeZone>> fromTzif(std::string name, std::string_view data);

  const std::string& name() const { return name_; }
  std::chrono::seconds offsetAt(SysSeconds t) const;
  LocalSeconds toLocal(SysSeconds t) const { return LocalSeconds((t + offsetAt(t)).time_since_epoch()); }
  // The instants that local civil time `l` names: none in a spring-forward
  // gap, two in a fall-back overlap (earlier first).
  std::vector<SysSeconds> fromLocal(LocalSeconds l) const;

 private:
  std::string name_;
  std::vector<int64_t> transitions_;  // UTC seconds, ascending
  std::vector<int32_t> offsets_;      // offset in effect from transitions_[i]
  int32_t initial_offset_ = 0;        // before the first transition
};

}  // namespace capstan::controllers
