// IANA time zone names: the one check of whether a name is a real zone of the system's tz
// database (used for calendar windows and business hours, specs/mandate.md §3.2).
#pragma once

#include <cstdint>
#include <string_view>

#include "base/result.h"

namespace mandated::mandates {

// True if `name` is an IANA zone name ("Europe/Paris", "UTC", "America/Argentina/Buenos_Aires")
// whose compiled file /usr/share/zoneinfo/<name> exists, is a regular file and starts with the
// TZif magic. Names are 1 to 64 characters of [A-Za-z0-9_+-/], with no empty segment, no "."
// (so no ".."), no leading "/", and not under posix/ or right/, nor "localtime"/"posixrules".
// Thread safety: safe from any thread (reads the file system only).
bool IsIanaTimeZone(std::string_view name);

// The offset of local time from UTC, in seconds, in zone `name` at Unix time `unix_seconds`
// (Europe/Paris: 3600 in winter, 7200 in summer). Reads the zone's TZif file (RFC 9636, version
// 2+ 64-bit data) once and caches it (bounded); instants after the last transition follow the
// file's POSIX TZ footer rule. kInvalidArgument ("bad-time-zone") for a name IsIanaTimeZone
// refuses, kDataLoss ("bad-tzif") for a file that does not parse.
// Thread safety: safe from any thread.
Result<int64_t> UtcOffsetAt(std::string_view name, int64_t unix_seconds);

// Local civil time at `unix_seconds` in zone `name`: UtcOffsetAt applied, then split.
struct LocalTime {
  int year = 1970, month = 1, day = 1;  // calendar date
  int hour = 0, minute = 0, second = 0;
  int weekday = 3;                      // 0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday)
  int64_t utc_offset = 0;               // seconds
};
// UtcOffsetAt's errors, and kOutOfRange ("time-out-of-range") when the local year does not fit
// in an int.
Result<LocalTime> ToLocalTime(std::string_view name, int64_t unix_seconds);

// The Unix time of local civil time y-m-d h:m:s in zone `name`. Local times that occur twice
// (DST ends) resolve to the earlier instant; local times that do not exist (DST starts) resolve
// to the instant the gap ends (02:30 on a spring-forward night at 02:00 gives 03:00 local).
// kInvalidArgument ("bad-local-time") unless 1 <= month <= 12, the day exists in that month,
// 0 <= hour <= 23 and 0 <= minute, second <= 59.
Result<int64_t> FromLocalTime(std::string_view name, int year, int month, int day, int hour,
                              int minute, int second);

// ---- Testing only (tests/mandates/time_zone_test.cc); production code calls UtcOffsetAt ----
// UtcOffsetAt's computation on the bytes of a whole TZif file instead of a named zone (uncached):
// kDataLoss ("bad-tzif") when they do not parse.
Result<int64_t> UtcOffsetAtForTesting(std::string_view tzif, int64_t unix_seconds);

}  // namespace mandated::mandates
