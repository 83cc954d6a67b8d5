// Spending windows: which payment instants a window limit counts at a decision (specs/windows.md).
#pragma once

#include <cstdint>
#include <string_view>

#include "base/result.h"
#include "mandates/model.h"

namespace mandated::policy {

// Every function here is pure (its answer depends only on its arguments and the system tz
// database, read through mandates/time_zone.h and cached there). Thread safety: safe from any
// thread. Instants are Unix seconds (UTC, no leap seconds).

// The half-open interval [start, end) of payment instants a window counts: a payment charged at
// instant t counts iff start <= t < end (specs/windows.md §1). Always start < end.
//  - Calendar window: [the boundary at or before `now`, the next boundary). `end` is when the
//    window resets (a headroom's "resets_at"); no payment instant is ever in two calendar windows
//    of the same unit and zone.
//  - Rolling window of N seconds: [now - N + 1, now + 1), i.e. now - N < t <= now. There is no
//    single reset instant: each payment stops counting at its own RollingReleaseTime.
struct WindowBounds {
  int64_t start = 0;
  int64_t end = 0;

  bool Contains(int64_t t) const { return start <= t && t < end; }
  int64_t Length() const { return end - start; }  // seconds
  friend bool operator==(const WindowBounds&, const WindowBounds&) = default;
};

// The zone of principal and agent ceilings' calendar windows (specs/windows.md §4).
inline constexpr std::string_view kCeilingTimeZone = "UTC";

// The length of a rolling window (specs/windows.md §3): minute 60, hour 3600, day 86400, week
// 604800, month 2592000 (30 days), year 31536000 (365 days).
int64_t RollingSeconds(mandates::WindowUnit unit);

// The rolling window of `unit` at decision time `now`: {now - N + 1, now + 1} with N =
// RollingSeconds(unit). Arithmetic saturates at the int64 limits (only instants within N of them
// are affected).
WindowBounds RollingWindow(mandates::WindowUnit unit, int64_t now);

// The first instant at which a payment charged at `t` no longer counts in a rolling window of
// `unit`: t + RollingSeconds(unit) (saturating). It counts at every decision time in
// [t, RollingReleaseTime(t, unit)).
int64_t RollingReleaseTime(int64_t t, mandates::WindowUnit unit);

// The calendar window of `unit` in IANA zone `time_zone` that contains `now` (specs/windows.md
// §2): local minute and hour boundaries of wall-clock time under the UTC offset in force at `now`,
// cut at the zone's offset changes (so the repeated hour after a fall-back is its own hour, and a
// window is never longer than its unit's nominal length); local midnight for day (a 23- or 25-hour
// day is one day; a midnight skipped by a DST gap resolves to the end of the gap, a repeated one
// to its first occurrence, as mandates::FromLocalTime does); Monday 00:00 for week (ISO 8601);
// the 1st 00:00 for month; 1 January 00:00 for year.
// Returns kInvalidArgument ("bad-time-zone") when `time_zone` is not an IANA zone, kDataLoss
// ("bad-tzif") when its file does not parse, kOutOfRange ("time-out-of-range") when a local year
// involved does not fit in an int (|now| beyond about 6.7e16 s).
Result<WindowBounds> CalendarWindow(mandates::WindowUnit unit, std::string_view time_zone,
                                    int64_t now);

// The window of a mandate's window limit at `now`: CalendarWindow(limit.window,
// limit.time_zone, now) for a calendar limit (with its errors), RollingWindow(limit.window, now)
// for a rolling one (limit.time_zone is ignored; the mandate parser requires it empty).
Result<WindowBounds> WindowAt(const mandates::WindowLimit& limit, int64_t now);

// "minute", "hour", "day", "week", "month", "year" to their unit (exact, lower case); anything
// else is kInvalidArgument ("bad-window"), including the ceiling names "lifetime" and
// "transaction", which are not windows.
Result<mandates::WindowUnit> WindowUnitFromName(std::string_view name);

// The window of a principal or agent ceiling (identity::Ceiling::window) at `now`
// (specs/windows.md §4): for "minute" ... "year", CalendarWindow(unit, kCeilingTimeZone, now);
// for "lifetime", every instant up to now: {INT64_MIN, now + 1} (saturating). kInvalidArgument
// ("bad-window") for "transaction" (a per-payment cap, checked against the amount alone) and for
// any other name.
Result<WindowBounds> CeilingWindow(std::string_view window, int64_t now);

}  // namespace mandated::policy
