// Spending windows (specs/windows.md) at month ends, leap days, DST changes and rolling edges.
#include "policy/windows.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace mandated::policy {

// Failure messages print windows as [start, end) (found by argument-dependent lookup).
inline void PrintTo(const WindowBounds& w, std::ostream* os) {
  *os << "[" << w.start << ", " << w.end << ")";
}

namespace {

using mandates::WindowKind;
using mandates::WindowUnit;

// Every expected instant below is a literal produced outside this code, with GNU date and zdump on
// tzdata 2025b: `date -u -d '2026-02-01 00:00:00' +%s` for UTC, `TZ=Europe/Paris date -d
// '2026-10-25 02:00:00 +0100' +%s` for local times (an explicit offset picks one occurrence of a
// repeated local time), and `zdump -v -c 2026,2027 ZONE` for the transitions. The comment beside
// each literal is the input given to date.

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

WindowBounds Calendar(WindowUnit unit, std::string_view zone, int64_t now) {
  const Result<WindowBounds> r = CalendarWindow(unit, zone, now);
  EXPECT_TRUE(r.ok()) << zone << " @ " << now << ": " << r.status().ToString();
  return r.value_or(WindowBounds{-1, -1});
}

WindowBounds Utc(WindowUnit unit, int64_t now) { return Calendar(unit, "UTC", now); }

std::string Show(const WindowBounds& w) {
  return "[" + std::to_string(w.start) + ", " + std::to_string(w.end) + ")";
}

// ---- Month ends (UTC) ----

TEST(CalendarWindowUtc, JanuaryToFebruary) {
  // Last second of January 2026 and first second of February.
  EXPECT_EQ(Utc(WindowUnit::kMonth, 1769903999),   // 2026-01-31 23:59:59Z
            (WindowBounds{1767225600, 1769904000}));  // 2026-01-01 .. 2026-02-01
  EXPECT_EQ(Utc(WindowUnit::kMonth, 1769904000),   // 2026-02-01 00:00:00Z
            (WindowBounds{1769904000, 1772323200}));  // 2026-02-01 .. 2026-03-01 (28 days)
  EXPECT_EQ(Utc(WindowUnit::kDay, 1769903999),
            (WindowBounds{1769817600, 1769904000}));  // 2026-01-31 .. 2026-02-01
  EXPECT_EQ(Utc(WindowUnit::kDay, 1769904000),
            (WindowBounds{1769904000, 1769990400}));  // 2026-02-01 .. 2026-02-02
}

TEST(CalendarWindowUtc, FebruaryOfANonLeapYearEndsAfterThe28th) {
  EXPECT_EQ(Utc(WindowUnit::kDay, 1772323199),     // 2026-02-28 23:59:59Z
            (WindowBounds{1772236800, 1772323200}));  // 2026-02-28 .. 2026-03-01
  EXPECT_EQ(Utc(WindowUnit::kMonth, 1772323199).Length(), 28 * 86400);
  EXPECT_EQ(Utc(WindowUnit::kMonth, 1772323200).start, 1772323200);  // 2026-03-01 00:00:00Z
}

TEST(CalendarWindowUtc, ThirtyAndThirtyOneDayMonths) {
  EXPECT_EQ(Utc(WindowUnit::kMonth, 1777593599),   // 2026-04-30 23:59:59Z
            (WindowBounds{1775001600, 1777593600}));  // 2026-04-01 .. 2026-05-01: 30 days
  EXPECT_EQ(Utc(WindowUnit::kMonth, 1777593600),   // 2026-05-01 00:00:00Z
            (WindowBounds{1777593600, 1780272000}));  // 2026-05-01 .. 2026-06-01: 31 days
  EXPECT_EQ(Utc(WindowUnit::kMonth, 1785542399),   // 2026-07-31 23:59:59Z
            (WindowBounds{1782864000, 1785542400}));  // 2026-07-01 .. 2026-08-01: 31 days
  EXPECT_EQ(Utc(WindowUnit::kMonth, 1785542400).start, 1785542400);  // 2026-08-01 00:00:00Z
}

TEST(CalendarWindowUtc, DecemberToJanuary) {
  const int64_t last = 1767225599;  // 2025-12-31 23:59:59Z
  const int64_t first = 1767225600;  // 2026-01-01 00:00:00Z
  EXPECT_EQ(Utc(WindowUnit::kMinute, last), (WindowBounds{1767225540, 1767225600}));
  EXPECT_EQ(Utc(WindowUnit::kMinute, first), (WindowBounds{1767225600, 1767225660}));
  EXPECT_EQ(Utc(WindowUnit::kHour, last), (WindowBounds{1767222000, 1767225600}));
  EXPECT_EQ(Utc(WindowUnit::kHour, first), (WindowBounds{1767225600, 1767229200}));
  EXPECT_EQ(Utc(WindowUnit::kDay, last), (WindowBounds{1767139200, 1767225600}));
  EXPECT_EQ(Utc(WindowUnit::kDay, first), (WindowBounds{1767225600, 1767312000}));
  EXPECT_EQ(Utc(WindowUnit::kMonth, last).end, 1767225600);
  EXPECT_EQ(Utc(WindowUnit::kMonth, first), (WindowBounds{1767225600, 1769904000}));
  EXPECT_EQ(Utc(WindowUnit::kYear, last), (WindowBounds{1735689600, 1767225600}));  // 2025
  EXPECT_EQ(Utc(WindowUnit::kYear, first), (WindowBounds{1767225600, 1798761600}));  // 2026
}

// ---- Leap days ----

TEST(CalendarWindowUtc, LeapDay2024) {
  const int64_t now = 1709210096;  // 2024-02-29 12:34:56Z
  EXPECT_EQ(Utc(WindowUnit::kDay, now),
            (WindowBounds{1709164800, 1709251200}));  // 2024-02-29 .. 2024-03-01
  const WindowBounds feb = Utc(WindowUnit::kMonth, now);
  EXPECT_EQ(feb, (WindowBounds{1706745600, 1709251200}));  // 2024-02-01 .. 2024-03-01
  EXPECT_EQ(feb.Length(), 2505600);                        // 29 days
  EXPECT_EQ(Utc(WindowUnit::kDay, 1709164799).start, 1709078400);  // 02-28 23:59:59 -> 02-28
}

TEST(CalendarWindowUtc, Year2100IsNotLeapButYear2000Is) {
  EXPECT_EQ(Utc(WindowUnit::kDay, 4107542399),     // 2100-02-28 23:59:59Z
            (WindowBounds{4107456000, 4107542400}));  // 2100-02-28 .. 2100-03-01
  EXPECT_EQ(Utc(WindowUnit::kMonth, 4107542399),
            (WindowBounds{4105123200, 4107542400}));  // February 2100: 28 days
  EXPECT_EQ(Utc(WindowUnit::kDay, 4107542400).start, 4107542400);  // 2100-03-01 00:00:00Z

  EXPECT_EQ(Utc(WindowUnit::kMonth, 951782400),   // 2000-02-29 00:00:00Z
            (WindowBounds{949363200, 951868800}));  // February 2000: 29 days
  EXPECT_EQ(Utc(WindowUnit::kDay, 951782400), (WindowBounds{951782400, 951868800}));
}

TEST(CalendarWindowUtc, LeapYearHas366Days) {
  const WindowBounds y2024 = Utc(WindowUnit::kYear, 1709210096);  // 2024-02-29 12:34:56Z
  EXPECT_EQ(y2024, (WindowBounds{1704067200, 1735689600}));       // 2024-01-01 .. 2025-01-01
  EXPECT_EQ(y2024.Length(), 31622400);
  const WindowBounds y2023 = Utc(WindowUnit::kYear, 1672531200);  // 2023-01-01 00:00:00Z
  EXPECT_EQ(y2023, (WindowBounds{1672531200, 1704067200}));
  EXPECT_EQ(y2023.Length(), 31536000);
}

// ---- Weeks (ISO 8601, Monday 00:00) ----

TEST(CalendarWindowUtc, WeekAcrossTheYearEnd) {
  // Friday 2026-01-02 12:00Z is in the week of Monday 2025-12-29.
  EXPECT_EQ(Utc(WindowUnit::kWeek, 1767355200),
            (WindowBounds{1766966400, 1767571200}));  // 2025-12-29 .. 2026-01-05
  EXPECT_EQ(Utc(WindowUnit::kWeek, 1766966399).end, 1766966400);  // Sunday 2025-12-28 23:59:59
  EXPECT_EQ(Utc(WindowUnit::kWeek, 1767571200).start, 1767571200);  // Monday 2026-01-05
}

TEST(CalendarWindowUtc, WeekAcrossAMonthEnd) {
  EXPECT_EQ(Utc(WindowUnit::kWeek, 1777852799),    // Sunday 2026-05-03 23:59:59Z
            (WindowBounds{1777248000, 1777852800}));  // Monday 2026-04-27 .. Monday 2026-05-04
  EXPECT_EQ(Utc(WindowUnit::kWeek, 1777852800),    // Monday 2026-05-04 00:00:00Z
            (WindowBounds{1777852800, 1778457600}));  // .. Monday 2026-05-11
}

TEST(CalendarWindowUtc, BeforeTheEpoch) {
  // 1970-01-01 was a Thursday: its week began on Monday 1969-12-29.
  EXPECT_EQ(Utc(WindowUnit::kWeek, 0), (WindowBounds{-259200, 345600}));
  EXPECT_EQ(Utc(WindowUnit::kDay, -1), (WindowBounds{-86400, 0}));
  EXPECT_EQ(Utc(WindowUnit::kHour, -1), (WindowBounds{-3600, 0}));
  EXPECT_EQ(Utc(WindowUnit::kMinute, -61), (WindowBounds{-120, -60}));
  EXPECT_EQ(Utc(WindowUnit::kYear, -1), (WindowBounds{-31536000, 0}));  // 1969
}

// ---- Europe/Paris DST 2026: 03-29 01:00Z (02:00 CET -> 03:00 CEST), 10-25 01:00Z back ----

TEST(CalendarWindowParis, SpringForwardDayHas23Hours) {
  const WindowBounds day = Calendar(WindowUnit::kDay, "Europe/Paris", 1774778400);  // 12:00 CEST
  EXPECT_EQ(day, (WindowBounds{1774738800, 1774821600}));  // 03-29 00:00 +0100 .. 03-30 +0200
  EXPECT_EQ(day.Length(), 82800);
}

TEST(CalendarWindowParis, FallBackDayHas25Hours) {
  const WindowBounds day =
      Calendar(WindowUnit::kDay, "Europe/Paris", 1792891800);  // 10-25 02:30 +0100
  EXPECT_EQ(day, (WindowBounds{1792879200, 1792969200}));     // 10-25 00:00 +0200 .. 10-26 +0100
  EXPECT_EQ(day.Length(), 90000);
  // The first 02:30 (CEST) is the same day.
  EXPECT_EQ(Calendar(WindowUnit::kDay, "Europe/Paris", 1792888200), day);
}

TEST(CalendarWindowParis, RepeatedHourIsTwoHours) {
  const WindowBounds first = {1792886400, 1792890000};   // 02:00 +0200 .. 02:00 +0100
  const WindowBounds second = {1792890000, 1792893600};  // 02:00 +0100 .. 03:00 +0100
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Europe/Paris", 1792886400), first);   // 02:00 +0200
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Europe/Paris", 1792888200), first);   // 02:30 +0200
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Europe/Paris", 1792889999), first);   // 02:59:59 +0200
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Europe/Paris", 1792890000), second);  // 02:00 +0100
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Europe/Paris", 1792891800), second);  // 02:30 +0100
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Europe/Paris", 1792893599), second);  // 02:59:59 +0100
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Europe/Paris", 1792893600).start, 1792893600);  // 03:00
  // Minutes in the repeated hour, too.
  EXPECT_EQ(Calendar(WindowUnit::kMinute, "Europe/Paris", 1792891815),  // 02:30:15 +0100
            (WindowBounds{1792891800, 1792891860}));
}

TEST(CalendarWindowParis, SkippedHourHasNoWindow) {
  // 01:00-02:00 CET ends exactly at the transition; 03:00-04:00 CEST begins there.
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Europe/Paris", 1774744200),  // 01:30 +0100
            (WindowBounds{1774742400, 1774746000}));
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Europe/Paris", 1774745999),  // 01:59:59 +0100
            (WindowBounds{1774742400, 1774746000}));
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Europe/Paris", 1774746000),  // 03:00 +0200
            (WindowBounds{1774746000, 1774749600}));
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Europe/Paris", 1774746600),  // 03:10 +0200
            (WindowBounds{1774746000, 1774749600}));
}

TEST(CalendarWindowParis, WeekMonthYearAroundDst) {
  // The week of Monday 2026-03-23 holds the spring change: one hour short.
  const WindowBounds week = Calendar(WindowUnit::kWeek, "Europe/Paris", 1774778400);
  EXPECT_EQ(week, (WindowBounds{1774220400, 1774821600}));  // 03-23 +0100 .. 03-30 +0200
  EXPECT_EQ(week.Length(), 7 * 86400 - 3600);
  const WindowBounds march = Calendar(WindowUnit::kMonth, "Europe/Paris", 1774778400);
  EXPECT_EQ(march, (WindowBounds{1772319600, 1774994400}));  // 03-01 +0100 .. 04-01 +0200
  EXPECT_EQ(march.Length(), 31 * 86400 - 3600);
  EXPECT_EQ(Calendar(WindowUnit::kYear, "Europe/Paris", 1774778400),
            (WindowBounds{1767222000, 1798758000}));  // 2026-01-01 +0100 .. 2027-01-01 +0100
}

TEST(CalendarWindowParis, LocalYearDiffersFromUtcYear) {
  const int64_t now = 1767223800;  // 2026-01-01 00:30 +0100 = 2025-12-31 23:30Z
  EXPECT_EQ(Calendar(WindowUnit::kYear, "Europe/Paris", now),
            (WindowBounds{1767222000, 1798758000}));  // Paris 2026
  EXPECT_EQ(Utc(WindowUnit::kYear, now), (WindowBounds{1735689600, 1767225600}));  // UTC 2025
  EXPECT_EQ(Calendar(WindowUnit::kWeek, "Europe/Paris", now),
            (WindowBounds{1766962800, 1767567600}));  // 2025-12-29 +0100 .. 2026-01-05 +0100
}

TEST(CalendarWindowParis, FooterRuleIn2100) {
  // After the TZif table, the POSIX rule: last Sunday of March 2100 is the 28th.
  const WindowBounds day = Calendar(WindowUnit::kDay, "Europe/Paris", 4109911200);  // 12:00 +0200
  EXPECT_EQ(day, (WindowBounds{4109871600, 4109954400}));  // 03-28 +0100 .. 03-29 +0200
  EXPECT_EQ(day.Length(), 82800);
}

// ---- America/New_York 2026: 03-08 07:00Z (02:00 EST -> 03:00 EDT), 11-01 06:00Z back ----

TEST(CalendarWindowNewYork, SpringForward) {
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/New_York", 1772955000),  // 03-08 03:30 -0400
            (WindowBounds{1772946000, 1773028800}));  // 03-08 00:00 -0500 .. 03-09 -0400: 23 h
  EXPECT_EQ(Calendar(WindowUnit::kHour, "America/New_York", 1772951400),  // 01:30 -0500
            (WindowBounds{1772949600, 1772953200}));
  EXPECT_EQ(Calendar(WindowUnit::kHour, "America/New_York", 1772955000),  // 03:30 -0400
            (WindowBounds{1772953200, 1772956800}));
}

TEST(CalendarWindowNewYork, FallBack) {
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/New_York", 1793513700),  // 11-01 01:15 -0500
            (WindowBounds{1793505600, 1793595600}));  // 11-01 00:00 -0400 .. 11-02 -0500: 25 h
  EXPECT_EQ(Calendar(WindowUnit::kHour, "America/New_York", 1793510100),  // 01:15 -0400
            (WindowBounds{1793509200, 1793512800}));
  EXPECT_EQ(Calendar(WindowUnit::kHour, "America/New_York", 1793513700),  // 01:15 -0500
            (WindowBounds{1793512800, 1793516400}));
}

// ---- Fractional-hour offsets ----

TEST(CalendarWindowOffsets, KolkataHoursStartAtHalfPastUtc) {
  const WindowBounds hour = Calendar(WindowUnit::kHour, "Asia/Kolkata", 1781512200 + 1200);
  EXPECT_EQ(hour, (WindowBounds{1781512200, 1781515800}));  // 2026-06-15 14:00 .. 15:00 +0530
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Asia/Kolkata", 1781515799), hour);  // 14:59:59
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Asia/Kolkata", 1781515800).start, 1781515800);  // 15:00
  EXPECT_EQ(Calendar(WindowUnit::kDay, "Asia/Kolkata", 1781515800),
            (WindowBounds{1781461800, 1781548200}));  // 06-15 .. 06-16 00:00 +0530
}

TEST(CalendarWindowOffsets, KathmanduHoursStartAtQuarterPastUtc) {
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Asia/Kathmandu", 1781512500),  // 14:20 +0545
            (WindowBounds{1781511300, 1781514900}));                    // 14:00 .. 15:00 +0545
  EXPECT_EQ(Calendar(WindowUnit::kMinute, "Asia/Kathmandu", 1781512500 + 59),
            (WindowBounds{1781512500, 1781512560}));
}

// ---- Australia/Lord_Howe: +10:30 standard, +11 DST (30-minute shifts) ----

TEST(CalendarWindowLordHowe, SpringForwardCutsTheHourToHalf) {
  // 2026-10-04 15:30Z: 02:00 +1030 -> 02:30 +11.
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Australia/Lord_Howe", 1791041399),  // 01:59:59 +1030
            (WindowBounds{1791037800, 1791041400}));                         // 01:00 .. 02:00
  const WindowBounds half = {1791041400, 1791043200};  // 02:30 +11 .. 03:00 +11
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Australia/Lord_Howe", 1791041400), half);
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Australia/Lord_Howe", 1791042000), half);  // 02:40
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Australia/Lord_Howe", 1791043200),        // 03:00
            (WindowBounds{1791043200, 1791046800}));
  const WindowBounds day = Calendar(WindowUnit::kDay, "Australia/Lord_Howe", 1791042000);
  EXPECT_EQ(day, (WindowBounds{1791034200, 1791118800}));  // 10-04 +1030 .. 10-05 +11
  EXPECT_EQ(day.Length(), 84600);                          // 23.5 hours
}

TEST(CalendarWindowLordHowe, FallBackRepeatsHalfAnHour) {
  // 2026-04-04 15:00Z: 02:00 +11 -> 01:30 +1030; 01:30-02:00 happens twice.
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Australia/Lord_Howe", 1775313900),  // 01:45 +11
            (WindowBounds{1775311200, 1775314800}));                         // 01:00 .. 02:00 +11
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Australia/Lord_Howe", 1775315700),  // 01:45 +1030
            (WindowBounds{1775314800, 1775316600}));  // 01:30 +1030 .. 02:00 +1030
  EXPECT_EQ(Calendar(WindowUnit::kHour, "Australia/Lord_Howe", 1775316600),  // 02:00 +1030
            (WindowBounds{1775316600, 1775320200}));
  const WindowBounds day = Calendar(WindowUnit::kDay, "Australia/Lord_Howe", 1775315700);
  EXPECT_EQ(day, (WindowBounds{1775307600, 1775395800}));  // 04-05 +11 .. 04-06 +1030
  EXPECT_EQ(day.Length(), 88200);                          // 24.5 hours
}

// ---- Changes at midnight ----

TEST(CalendarWindowMidnight, SantiagoDayStartsWhenTheGapEnds) {
  // 2026-09-06 04:00Z: Saturday 24:00 -04 -> Sunday 01:00 -03; Sunday 00:00 never happens.
  const WindowBounds sunday = Calendar(WindowUnit::kDay, "America/Santiago", 1788706800);  // 12:00
  EXPECT_EQ(sunday, (WindowBounds{1788667200, 1788750000}));  // 09-06 01:00 -03 .. 09-07 00:00 -03
  EXPECT_EQ(sunday.Length(), 82800);
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Santiago", 1788667199),  // Sat 23:59:59 -04
            (WindowBounds{1788580800, 1788667200}));                     // Saturday: 24 hours
  // The week of Monday 2026-08-31 ends at Monday 09-07 00:00 -03 as usual.
  EXPECT_EQ(Calendar(WindowUnit::kWeek, "America/Santiago", 1788706800).end, 1788750000);
}

TEST(CalendarWindowMidnight, SantiagoFallBackBeforeMidnight) {
  // 2026-04-05 03:00Z: Sunday 00:00 -03 -> Saturday 23:00 -04; Saturday 23:00-24:00 twice.
  const WindowBounds saturday = {1775271600, 1775361600};  // 04-04 00:00 -03 .. 04-05 00:00 -04
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Santiago", 1775356200), saturday);  // 23:30 -03
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Santiago", 1775359800), saturday);  // 23:30 -04
  EXPECT_EQ(saturday.end - saturday.start, 90000);
  EXPECT_EQ(Calendar(WindowUnit::kHour, "America/Santiago", 1775356200),
            (WindowBounds{1775354400, 1775358000}));  // 23:00 -03 .. 24:00 -03
  EXPECT_EQ(Calendar(WindowUnit::kHour, "America/Santiago", 1775359800),
            (WindowBounds{1775358000, 1775361600}));  // 23:00 -04 .. 24:00 -04
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Santiago", 1775361600).start, 1775361600);
}

TEST(CalendarWindowMidnight, HavanaMidnightTwiceStartsAtTheFirst) {
  // 2026-11-01 05:00Z: 01:00 CDT -> 00:00 CST, so 00:00-01:00 on Nov 1 happens twice.
  const WindowBounds nov1 = {1793505600, 1793595600};  // 11-01 00:00 -0400 .. 11-02 00:00 -0500
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Havana", 1793507400), nov1);  // 00:30 -0400
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Havana", 1793511000), nov1);  // 00:30 -0500
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Havana", 1793505599),
            (WindowBounds{1793419200, 1793505600}));  // October 31: 24 hours
  EXPECT_EQ(Calendar(WindowUnit::kMonth, "America/Havana", 1793505599).end, 1793505600);
  EXPECT_EQ(Calendar(WindowUnit::kHour, "America/Havana", 1793511000),
            (WindowBounds{1793509200, 1793512800}));  // 00:00 -0500 .. 01:00 -0500
}

TEST(CalendarWindowMidnight, HavanaAndBeirutSpringForwardAtMidnight) {
  // Havana 2026-03-08 05:00Z: 00:00 CST -> 01:00 CDT.
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Havana", 1772946000),
            (WindowBounds{1772946000, 1773028800}));  // 03-08 01:00 -0400 .. 03-09: 23 hours
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Havana", 1772945999),
            (WindowBounds{1772859600, 1772946000}));  // March 7
  // Beirut 2026-03-28 22:00Z: 00:00 EET -> 01:00 EEST.
  EXPECT_EQ(Calendar(WindowUnit::kDay, "Asia/Beirut", 1774735200),
            (WindowBounds{1774735200, 1774818000}));  // 03-29 01:00 +0300 .. 03-30 +0300
  EXPECT_EQ(Calendar(WindowUnit::kDay, "Asia/Beirut", 1774735199),
            (WindowBounds{1774648800, 1774735200}));  // March 28
}

TEST(CalendarWindowMidnight, ApiaSkippedAWholeDay) {
  // Pacific/Apia 2011-12-30 10:00Z: Thursday 29th 24:00 -10 -> Saturday 31st 00:00 +14.
  const WindowBounds dec29 = Calendar(WindowUnit::kDay, "Pacific/Apia", 1325196000);  // 29th noon
  EXPECT_EQ(dec29, (WindowBounds{1325152800, 1325239200}));
  EXPECT_EQ(dec29.Length(), 86400);
  EXPECT_EQ(Calendar(WindowUnit::kDay, "Pacific/Apia", 1325239200),  // 31st 00:00 +14
            (WindowBounds{1325239200, 1325325600}));
  const WindowBounds week = Calendar(WindowUnit::kWeek, "Pacific/Apia", 1325282400);
  EXPECT_EQ(week, (WindowBounds{1324893600, 1325412000}));  // Mon 12-26 -10 .. Mon 01-02 +14
  EXPECT_EQ(week.Length(), 6 * 86400);
}

// ---- Changes off the hour ----

TEST(CalendarWindowOffHour, CaracasCutsTheHourAtTheChange) {
  // America/Caracas 2016-05-01 07:00Z: 02:30 -0430 -> 03:00 -04.
  EXPECT_EQ(Calendar(WindowUnit::kHour, "America/Caracas", 1462085100),  // 02:15 -0430
            (WindowBounds{1462084200, 1462086000}));                     // 02:00 -0430 .. change
  EXPECT_EQ(Calendar(WindowUnit::kHour, "America/Caracas", 1462086000),  // 03:00 -04
            (WindowBounds{1462086000, 1462089600}));
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Caracas", 1462086000),
            (WindowBounds{1462077000, 1462161600}));  // 05-01 00:00 -0430 .. 05-02 -04: 23.5 h
}

TEST(CalendarWindowOffHour, GooseBayOneMinuteHours) {
  // America/Goose_Bay 1987-04-05 04:01Z: 00:01 AST -> 01:01 ADT.
  EXPECT_EQ(Calendar(WindowUnit::kHour, "America/Goose_Bay", 544593630),  // 00:00:30 -0400
            (WindowBounds{544593600, 544593660}));
  EXPECT_EQ(Calendar(WindowUnit::kHour, "America/Goose_Bay", 544593660),  // 01:01 -0300
            (WindowBounds{544593660, 544597200}));                        // .. 02:00 -0300
  // 1987-10-25 03:01Z: 00:01 ADT (Sunday) -> 23:01 AST (Saturday again).
  EXPECT_EQ(Calendar(WindowUnit::kHour, "America/Goose_Bay", 562129230),  // 00:00:30 -0300
            (WindowBounds{562129200, 562129260}));
  EXPECT_EQ(Calendar(WindowUnit::kHour, "America/Goose_Bay", 562131000),  // 23:30 -0400
            (WindowBounds{562129260, 562132800}));                        // 23:01 .. 24:00 -0400
}

TEST(CalendarWindowOffHour, GooseBayRepeatedSaturdayCountsInSunday) {
  // Sunday 00:00 ADT (the first one) ends Saturday; the Saturday 23:01-24:00 AST that follows
  // belongs to Sunday's window, which thus lasts 25 hours.
  const WindowBounds saturday = {562042800, 562129200};  // 10-24 00:00 -0300 .. 10-25 00:00 -0300
  const WindowBounds sunday = {562129200, 562219200};    // 10-25 00:00 -0300 .. 10-26 00:00 -0400
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Goose_Bay", 562127400), saturday);  // 23:30 -0300
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Goose_Bay", 562129230), sunday);  // 00:00:30 -0300
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Goose_Bay", 562131000), sunday);  // 23:30 -0400
  EXPECT_EQ(Calendar(WindowUnit::kDay, "America/Goose_Bay", 562132800), sunday);  // 00:00 -0400
  EXPECT_EQ(sunday.end - sunday.start, 90000);
}

// ---- Partition: the windows of one unit tile the time line ----

// For instants every `step` seconds in [from, to): the window contains the instant, and the
// windows at its first and last second and right after its end agree with it.
void ExpectTiling(WindowUnit unit, std::string_view zone, int64_t from, int64_t to, int64_t step) {
  for (int64_t t = from; t < to; t += step) {
    const WindowBounds w = Calendar(unit, zone, t);
    ASSERT_TRUE(w.Contains(t)) << zone << " @ " << t << ": " << Show(w);
    ASSERT_EQ(Calendar(unit, zone, w.start), w) << zone << " @ " << t;
    ASSERT_EQ(Calendar(unit, zone, w.end - 1), w) << zone << " @ " << t;
    ASSERT_EQ(Calendar(unit, zone, w.end).start, w.end) << zone << " @ " << t;
  }
}

TEST(CalendarWindowTiling, AroundTransitions) {
  // Each range spans two days around a change; steps are prime to hit odd offsets.
  ExpectTiling(WindowUnit::kHour, "Europe/Paris", 1792800000, 1792972800, 997);
  ExpectTiling(WindowUnit::kMinute, "Europe/Paris", 1792889000, 1792891000, 7);
  ExpectTiling(WindowUnit::kHour, "Australia/Lord_Howe", 1775260000, 1775400000, 997);
  ExpectTiling(WindowUnit::kHour, "Australia/Lord_Howe", 1790990000, 1791130000, 997);
  ExpectTiling(WindowUnit::kDay, "America/Santiago", 1775200000, 1775500000, 3593);
  ExpectTiling(WindowUnit::kDay, "America/Havana", 1793400000, 1793700000, 3593);
  ExpectTiling(WindowUnit::kDay, "Pacific/Apia", 1325000000, 1325500000, 3593);
  ExpectTiling(WindowUnit::kWeek, "Pacific/Apia", 1324000000, 1326000000, 86399);
  ExpectTiling(WindowUnit::kHour, "America/Caracas", 1462000000, 1462200000, 997);
  ExpectTiling(WindowUnit::kHour, "America/Goose_Bay", 562100000, 562160000, 61);
  ExpectTiling(WindowUnit::kDay, "America/Goose_Bay", 562000000, 562300000, 599);
  ExpectTiling(WindowUnit::kMinute, "America/Goose_Bay", 544593000, 544594000, 7);
}

// ---- Errors ----

TEST(CalendarWindowErrors, BadTimeZone) {
  for (const std::string_view zone :
       {"Mars/Olympus", "", "europe/paris", "../etc/passwd", "CEST"}) {
    const Result<WindowBounds> r = CalendarWindow(WindowUnit::kDay, zone, 1767225600);
    ASSERT_FALSE(r.ok()) << zone;
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << zone;
    EXPECT_EQ(r.error().reason(), "bad-time-zone") << zone;
  }
  const Result<WindowBounds> hour = CalendarWindow(WindowUnit::kHour, "Nowhere/City", 0);
  ASSERT_FALSE(hour.ok());
  EXPECT_EQ(hour.error().reason(), "bad-time-zone");
}

TEST(CalendarWindowErrors, TimeOutOfRange) {
  // +-1e17 s are about 3.17 billion years away, past an int year; the int64 ends are refused too.
  constexpr int64_t kFar = 100000000000000000;
  for (const int64_t now : {kMax, kMin, kFar, -kFar}) {
    for (const WindowUnit unit : {WindowUnit::kMinute, WindowUnit::kHour, WindowUnit::kDay,
                                  WindowUnit::kWeek, WindowUnit::kMonth, WindowUnit::kYear}) {
      const Result<WindowBounds> r = CalendarWindow(unit, "Europe/Paris", now);
      ASSERT_FALSE(r.ok()) << now;
      EXPECT_EQ(r.error().code(), StatusCode::kOutOfRange);
      EXPECT_EQ(r.error().reason(), "time-out-of-range");
    }
  }
  // Year 2147483647 (INT_MAX) is representable, but not the year after it.
  const int64_t last_year = 67767976215000000;  // 2147483647-05-31 12:00:00Z
  EXPECT_EQ(Utc(WindowUnit::kDay, last_year),
            (WindowBounds{67767976214956800, 67767976215043200}));
  const Result<WindowBounds> year = CalendarWindow(WindowUnit::kYear, "UTC", last_year);
  ASSERT_FALSE(year.ok());
  EXPECT_EQ(year.error().reason(), "time-out-of-range");
}

// ---- Rolling windows ----

struct RollingCase {
  WindowUnit unit;
  int64_t seconds;
  int64_t start;  // now - seconds + 1, for now = 1767225600 (2026-01-01 00:00:00Z)
};

TEST(RollingWindowTest, EveryUnitAtItsEdges) {
  constexpr int64_t now = 1767225600;
  const RollingCase cases[] = {
      {WindowUnit::kMinute, 60, 1767225541},        {WindowUnit::kHour, 3600, 1767222001},
      {WindowUnit::kDay, 86400, 1767139201},        {WindowUnit::kWeek, 604800, 1766620801},
      {WindowUnit::kMonth, 2592000, 1764633601},    {WindowUnit::kYear, 31536000, 1735689601},
  };
  for (const RollingCase& c : cases) {
    SCOPED_TRACE(std::string(mandates::WindowUnitName(c.unit)));
    EXPECT_EQ(RollingSeconds(c.unit), c.seconds);
    const WindowBounds w = RollingWindow(c.unit, now);
    EXPECT_EQ(w, (WindowBounds{c.start, now + 1}));
    EXPECT_EQ(w.Length(), c.seconds);
    EXPECT_FALSE(w.Contains(c.start - 1));  // t = now - N: no longer counts
    EXPECT_TRUE(w.Contains(c.start));       // t = now - N + 1: counts
    EXPECT_TRUE(w.Contains(now));           // a payment at the decision instant counts
    EXPECT_FALSE(w.Contains(now + 1));
    // A payment at the window's first instant is released one second later.
    EXPECT_EQ(RollingReleaseTime(c.start, c.unit), now + 1);
    EXPECT_FALSE(RollingWindow(c.unit, now + 1).Contains(c.start));
  }
}

TEST(RollingWindowTest, IgnoresDstAndLeapDays) {
  // The rolling day across Paris's 23-hour day and the month across February 2024 stay fixed.
  EXPECT_EQ(RollingWindow(WindowUnit::kDay, 1774821600),  // 2026-03-30 00:00 +0200
            (WindowBounds{1774735201, 1774821601}));
  EXPECT_EQ(RollingWindow(WindowUnit::kMonth, 1709251200),  // 2024-03-01 00:00:00Z
            (WindowBounds{1706659201, 1709251201}));        // from 2024-01-31 00:00:01Z
}

TEST(RollingWindowTest, ReleaseTime) {
  EXPECT_EQ(RollingReleaseTime(1767225600, WindowUnit::kHour), 1767229200);
  EXPECT_EQ(RollingReleaseTime(1767225600, WindowUnit::kYear), 1798761600);  // 2027-01-01Z
  // Counted at release - 1, not at release.
  EXPECT_TRUE(RollingWindow(WindowUnit::kHour, 1767229199).Contains(1767225600));
  EXPECT_FALSE(RollingWindow(WindowUnit::kHour, 1767229200).Contains(1767225600));
}

TEST(RollingWindowTest, SaturatesAtTheLimits) {
  EXPECT_EQ(RollingWindow(WindowUnit::kMinute, kMax), (WindowBounds{kMax - 59, kMax}));
  EXPECT_EQ(RollingWindow(WindowUnit::kYear, kMin), (WindowBounds{kMin, kMin + 1}));
  EXPECT_EQ(RollingReleaseTime(kMax - 10, WindowUnit::kMinute), kMax);
}

// ---- WindowAt ----

TEST(WindowAtTest, DispatchesOnKind) {
  mandates::WindowLimit calendar;
  calendar.window = WindowUnit::kDay;
  calendar.kind = WindowKind::kCalendar;
  calendar.time_zone = "Europe/Paris";
  const Result<WindowBounds> day = WindowAt(calendar, 1774778400);  // 2026-03-29 12:00 +0200
  ASSERT_TRUE(day.ok());
  EXPECT_EQ(*day, (WindowBounds{1774738800, 1774821600}));

  mandates::WindowLimit rolling;
  rolling.window = WindowUnit::kHour;
  rolling.kind = WindowKind::kRolling;
  const Result<WindowBounds> hour = WindowAt(rolling, 1774778400);
  ASSERT_TRUE(hour.ok());
  EXPECT_EQ(*hour, (WindowBounds{1774774801, 1774778401}));

  calendar.time_zone = "Not/AZone";
  const Result<WindowBounds> bad = WindowAt(calendar, 1774778400);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().reason(), "bad-time-zone");
}

// ---- Names and ceilings ----

TEST(WindowUnitFromNameTest, NamesAndRefusals) {
  const std::pair<std::string_view, WindowUnit> names[] = {
      {"minute", WindowUnit::kMinute}, {"hour", WindowUnit::kHour},   {"day", WindowUnit::kDay},
      {"week", WindowUnit::kWeek},     {"month", WindowUnit::kMonth}, {"year", WindowUnit::kYear},
  };
  for (const auto& [name, unit] : names) {
    const Result<WindowUnit> r = WindowUnitFromName(name);
    ASSERT_TRUE(r.ok()) << name;
    EXPECT_EQ(*r, unit);
  }
  for (const std::string_view bad : {"lifetime", "transaction", "Day", "days", "", "fortnight"}) {
    const Result<WindowUnit> r = WindowUnitFromName(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.error().reason(), "bad-window");
  }
}

TEST(CeilingWindowTest, CalendarWindowsInUtc) {
  const int64_t now = 1767223800;  // 2025-12-31 23:30Z (already 2026 in Paris)
  const struct {
    std::string_view name;
    WindowBounds expected;
  } cases[] = {
      {"minute", {1767223800, 1767223860}},
      {"hour", {1767222000, 1767225600}},
      {"day", {1767139200, 1767225600}},    // 2025-12-31
      {"week", {1766966400, 1767571200}},   // Monday 2025-12-29 .. 2026-01-05
      {"month", {1764547200, 1767225600}},  // 2025-12-01 .. 2026-01-01
      {"year", {1735689600, 1767225600}},   // 2025
  };
  for (const auto& c : cases) {
    const Result<WindowBounds> r = CeilingWindow(c.name, now);
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.status().ToString();
    EXPECT_EQ(*r, c.expected) << c.name;
  }
}

TEST(CeilingWindowTest, LifetimeAndTransaction) {
  const Result<WindowBounds> lifetime = CeilingWindow("lifetime", 1767225600);
  ASSERT_TRUE(lifetime.ok());
  EXPECT_EQ(*lifetime, (WindowBounds{kMin, 1767225601}));
  EXPECT_EQ(CeilingWindow("lifetime", kMax).value_or(WindowBounds{}), (WindowBounds{kMin, kMax}));
  for (const std::string_view bad : {"transaction", "Month", "rolling"}) {
    const Result<WindowBounds> r = CeilingWindow(bad, 1767225600);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.error().reason(), "bad-window");
  }
}

}  // namespace
}  // namespace mandated::policy
