// Spending windows: calendar windows from local time in IANA zones, rolling windows, ceilings.
#include "policy/windows.h"

#include <limits>
#include <string>

#include "mandates/civil_date.h"
#include "mandates/time_zone.h"

namespace mandated::policy {
namespace {

using mandates::WindowUnit;

constexpr int64_t kSecondsPerDay = 86400;
constexpr int64_t kMinInstant = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxInstant = std::numeric_limits<int64_t>::max();
constexpr int64_t kCalendarInstantLimit = int64_t{1} << 62;

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) {
    return b > 0 ? kMaxInstant : kMinInstant;
  }
  return out;
}

// Calendar arithmetic on days since 1970-01-01: mandates/civil_date.h.
using mandates::Civil;
using mandates::CivilFromDays;
using mandates::DaysFromCivil;
using mandates::FloorDiv;

// 1970-01-05 (day 4) was a Monday.
constexpr int64_t kFirstMonday = 4;

// Periods of a unit of a day or longer are numbered: day k is the k-th day since 1970-01-01, week
// k starts on Monday 1970-01-05 + 7k, month k is month (k mod 12) + 1 of year floor(k / 12), year
// k is year k. Both functions work on local calendar dates (days since 1970-01-01).
int64_t PeriodOf(WindowUnit unit, int64_t days) {
  switch (unit) {
    case WindowUnit::kWeek:
      return FloorDiv(days - kFirstMonday, 7);
    case WindowUnit::kMonth: {
      const Civil c = CivilFromDays(days);
      return c.year * 12 + (c.month - 1);
    }
    case WindowUnit::kYear:
      return CivilFromDays(days).year;
    default:  // kDay (minute and hour never get here)
      return days;
  }
}

// The local date (days since 1970-01-01) on which period `k` starts.
int64_t FirstDayOf(WindowUnit unit, int64_t k) {
  switch (unit) {
    case WindowUnit::kWeek:
      return kFirstMonday + 7 * k;
    case WindowUnit::kMonth:
      return DaysFromCivil(FloorDiv(k, 12), static_cast<int>(k - 12 * FloorDiv(k, 12)) + 1, 1);
    case WindowUnit::kYear:
      return DaysFromCivil(k, 1, 1);
    default:
      return k;
  }
}

Status TimeOutOfRange() { return OutOfRangeError("local year out of range", "time-out-of-range"); }

// The instant period `k` starts: local 00:00 of its first day, resolved as FromLocalTime does.
Result<int64_t> PeriodStart(WindowUnit unit, std::string_view zone, int64_t k) {
  const Civil c = CivilFromDays(FirstDayOf(unit, k));
  if (c.year < std::numeric_limits<int>::min() || c.year > std::numeric_limits<int>::max()) {
    return TimeOutOfRange();
  }
  return mandates::FromLocalTime(zone, static_cast<int>(c.year), c.month, c.day, 0, 0, 0);
}

// Day, week, month and year: [B(k), B(k+1)) for the period k with B(k) <= now < B(k+1), where
// B(k) = PeriodStart(k) is non-decreasing in k. Starts from the period of now's local date; the
// two loops only move when local time steps back across a boundary (a midnight fall-back) or a
// period is empty (Pacific/Apia skipped 2011-12-30), and stop within a step or two.
Result<WindowBounds> DateWindow(WindowUnit unit, std::string_view zone, int64_t now) {
  MD_ASSIGN_OR_RETURN(const mandates::LocalTime lt, mandates::ToLocalTime(zone, now));
  int64_t k = PeriodOf(unit, DaysFromCivil(lt.year, lt.month, lt.day));
  MD_ASSIGN_OR_RETURN(int64_t lo, PeriodStart(unit, zone, k));
  MD_ASSIGN_OR_RETURN(int64_t hi, PeriodStart(unit, zone, k + 1));
  for (int steps = 0; lo > now || hi <= now; ++steps) {
    if (steps == 8) {
      return InternalError("no calendar period contains the instant");  // not with real zones
    }
    if (lo > now) {
      --k;
      hi = lo;
      MD_ASSIGN_OR_RETURN(lo, PeriodStart(unit, zone, k));
    } else {
      ++k;
      lo = hi;
      MD_ASSIGN_OR_RETURN(hi, PeriodStart(unit, zone, k + 1));
    }
  }
  return WindowBounds{lo, hi};
}

// Minute and hour: the local unit containing now under now's offset, cut at the offset changes
// next to now. Assumes the offset changes at most once within `unit_seconds` (tzdata's closest
// two changes are days apart), so one probe at each end tells whether to search for the change.
Result<WindowBounds> ClockWindow(int64_t unit_seconds, std::string_view zone, int64_t now) {
  MD_ASSIGN_OR_RETURN(const mandates::LocalTime lt, mandates::ToLocalTime(zone, now));
  const int64_t offset = lt.utc_offset;
  // |now| < 6.8e16 (the local year fits in an int) and |offset| < 26 h: nothing overflows.
  const int64_t local = now + offset;
  int64_t start = FloorDiv(local, unit_seconds) * unit_seconds - offset;
  int64_t end = start + unit_seconds;

  MD_ASSIGN_OR_RETURN(const int64_t offset_at_start, mandates::UtcOffsetAt(zone, start));
  if (offset_at_start != offset) {
    // The offset changed in (start, now]: find the first instant with now's offset.
    int64_t before = start, after = now;
    while (after - before > 1) {
      const int64_t mid = before + (after - before) / 2;
      MD_ASSIGN_OR_RETURN(const int64_t o, mandates::UtcOffsetAt(zone, mid));
      if (o == offset) {
        after = mid;
      } else {
        before = mid;
      }
    }
    start = after;
  }
  MD_ASSIGN_OR_RETURN(const int64_t offset_at_end, mandates::UtcOffsetAt(zone, end - 1));
  if (offset_at_end != offset) {
    // The offset changes in (now, end - 1]: find the first instant with another offset.
    int64_t before = now, after = end - 1;
    while (after - before > 1) {
      const int64_t mid = before + (after - before) / 2;
      MD_ASSIGN_OR_RETURN(const int64_t o, mandates::UtcOffsetAt(zone, mid));
      if (o == offset) {
        before = mid;
      } else {
        after = mid;
      }
    }
    end = after;
  }
  return WindowBounds{start, end};
}

}  // namespace

int64_t RollingSeconds(WindowUnit unit) {
  switch (unit) {
    case WindowUnit::kMinute:
      return 60;
    case WindowUnit::kHour:
      return 3600;
    case WindowUnit::kDay:
      return kSecondsPerDay;
    case WindowUnit::kWeek:
      return 7 * kSecondsPerDay;
    case WindowUnit::kMonth:
      return 30 * kSecondsPerDay;
    case WindowUnit::kYear:
      return 365 * kSecondsPerDay;
  }
  return kSecondsPerDay;  // unreachable: every enumerator is handled above
}

WindowBounds RollingWindow(WindowUnit unit, int64_t now) {
  // now - N + 1 never overflows upwards; saturate downwards.
  return WindowBounds{SaturatingAdd(now, 1 - RollingSeconds(unit)), SaturatingAdd(now, 1)};
}

int64_t RollingReleaseTime(int64_t t, WindowUnit unit) {
  return SaturatingAdd(t, RollingSeconds(unit));
}

Result<WindowBounds> CalendarWindow(WindowUnit unit, std::string_view time_zone, int64_t now) {
  // Local years stop fitting in an int near +-6.8e16 s anyway; refusing the far ends of int64 here
  // also keeps local-time arithmetic (instant + offset, whole days) away from overflow.
  if (now < -kCalendarInstantLimit || now > kCalendarInstantLimit) {
    return TimeOutOfRange();
  }
  switch (unit) {
    case WindowUnit::kMinute:
      return ClockWindow(60, time_zone, now);
    case WindowUnit::kHour:
      return ClockWindow(3600, time_zone, now);
    case WindowUnit::kDay:
    case WindowUnit::kWeek:
    case WindowUnit::kMonth:
    case WindowUnit::kYear:
      return DateWindow(unit, time_zone, now);
  }
  return InvalidArgumentError("unknown window unit", "bad-window");
}

Result<WindowBounds> WindowAt(const mandates::WindowLimit& limit, int64_t now) {
  if (limit.kind == mandates::WindowKind::kRolling) {
    return RollingWindow(limit.window, now);
  }
  return CalendarWindow(limit.window, limit.time_zone, now);
}

Result<WindowUnit> WindowUnitFromName(std::string_view name) {
  for (const WindowUnit unit : {WindowUnit::kMinute, WindowUnit::kHour, WindowUnit::kDay,
                                WindowUnit::kWeek, WindowUnit::kMonth, WindowUnit::kYear}) {
    if (mandates::WindowUnitName(unit) == name) {
      return unit;
    }
  }
  return InvalidArgumentError(
      "\"" + std::string(name) + "\" is not a window (minute, hour, day, week, month, year)",
      "bad-window");
}

Result<WindowBounds> CeilingWindow(std::string_view window, int64_t now) {
  if (window == "lifetime") {
    return WindowBounds{kMinInstant, SaturatingAdd(now, 1)};
  }
  MD_ASSIGN_OR_RETURN(const WindowUnit unit, WindowUnitFromName(window));
  return CalendarWindow(unit, kCeilingTimeZone, now);
}

}  // namespace mandated::policy
