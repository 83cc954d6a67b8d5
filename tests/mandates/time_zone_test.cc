// Time zones: UTC offsets from TZif files and their POSIX footer rules, local time conversions.
#include "mandates/time_zone.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/support/test_support.h"

namespace mandated::mandates {
namespace {

// Unix times used below (checked against Python's zoneinfo on the same tzdata).
constexpr int64_t k2026Jan1 = 1767225600;       // 2026-01-01T00:00:00Z
constexpr int64_t k2027Jan1 = 1798761600;       // 2027-01-01T00:00:00Z
constexpr int64_t k2026Jan15 = 1768435200;      // 2026-01-15T00:00:00Z
constexpr int64_t k2026Jul15 = 1784073600;      // 2026-07-15T00:00:00Z
constexpr int64_t k2100Jan15 = 4103654400;      // 2100-01-15T00:00:00Z
constexpr int64_t k2100Jul15 = 4119292800;      // 2100-07-15T00:00:00Z
constexpr int64_t kParisSpring26 = 1774746000;  // 2026-03-29T01:00:00Z
constexpr int64_t kParisFall26 = 1792890000;    // 2026-10-25T01:00:00Z
constexpr int64_t kNySpring26 = 1772953200;     // 2026-03-08T07:00:00Z
constexpr int64_t kNyFall26 = 1793512800;       // 2026-11-01T06:00:00Z

int64_t Offset(std::string_view zone, int64_t t) {
  const Result<int64_t> r = UtcOffsetAt(zone, t);
  EXPECT_TRUE(r.ok()) << zone << " @ " << t << ": " << r.status().ToString();
  return r.value_or(-1);
}

int64_t FromLocal(std::string_view zone, int y, int mo, int d, int h, int mi, int s) {
  const Result<int64_t> r = FromLocalTime(zone, y, mo, d, h, mi, s);
  EXPECT_TRUE(r.ok()) << zone << ": " << r.status().ToString();
  return r.value_or(-1);
}

// ---- Offsets from the system tz database ----

TEST(TimeZoneOffset, Utc) {
  EXPECT_EQ(Offset("UTC", 0), 0);
  EXPECT_EQ(Offset("UTC", k2026Jul15), 0);
  EXPECT_EQ(Offset("Etc/UTC", k2100Jan15), 0);
  EXPECT_EQ(Offset("UTC", -1), 0);
}

TEST(TimeZoneOffset, ParisWinterAndSummer) {
  EXPECT_EQ(Offset("Europe/Paris", k2026Jan15), 3600);
  EXPECT_EQ(Offset("Europe/Paris", k2026Jul15), 7200);
}

TEST(TimeZoneOffset, ParisSwitches2026) {
  EXPECT_EQ(Offset("Europe/Paris", kParisSpring26 - 1), 3600);
  EXPECT_EQ(Offset("Europe/Paris", kParisSpring26), 7200);
  EXPECT_EQ(Offset("Europe/Paris", kParisFall26 - 1), 7200);
  EXPECT_EQ(Offset("Europe/Paris", kParisFall26), 3600);
}

TEST(TimeZoneOffset, NewYorkSwitches2026) {
  EXPECT_EQ(Offset("America/New_York", k2026Jan15), -18000);
  EXPECT_EQ(Offset("America/New_York", kNySpring26 - 1), -18000);
  EXPECT_EQ(Offset("America/New_York", kNySpring26), -14400);
  EXPECT_EQ(Offset("America/New_York", kNyFall26 - 1), -14400);
  EXPECT_EQ(Offset("America/New_York", kNyFall26), -18000);
}

TEST(TimeZoneOffset, LordHoweHalfHourDst) {
  EXPECT_EQ(Offset("Australia/Lord_Howe", k2026Jan15), 39600);
  EXPECT_EQ(Offset("Australia/Lord_Howe", k2026Jul15), 37800);
  EXPECT_EQ(Offset("Australia/Lord_Howe", 1775314800 - 1), 39600);  // 2026-04-04T15:00:00Z
  EXPECT_EQ(Offset("Australia/Lord_Howe", 1775314800), 37800);
  EXPECT_EQ(Offset("Australia/Lord_Howe", 1791041400 - 1), 37800);  // 2026-10-03T15:30:00Z
  EXPECT_EQ(Offset("Australia/Lord_Howe", 1791041400), 39600);
}

TEST(TimeZoneOffset, FixedAndOddOffsets) {
  EXPECT_EQ(Offset("Asia/Kolkata", k2026Jan15), 19800);
  EXPECT_EQ(Offset("Asia/Kolkata", k2026Jul15), 19800);
  EXPECT_EQ(Offset("America/St_Johns", k2026Jan15), -12600);
  EXPECT_EQ(Offset("America/St_Johns", k2026Jul15), -9000);
  EXPECT_EQ(Offset("Etc/GMT+5", k2026Jan15), -18000);  // POSIX sign: +5 is west
  EXPECT_EQ(Offset("Etc/GMT+5", k2100Jul15), -18000);
  EXPECT_EQ(Offset("Etc/GMT-14", k2026Jul15), 50400);
}

TEST(TimeZoneOffset, FooterRuleBeyondTheTable) {
  // Debian's "fat" files list transitions up to 2037; 2100 comes from the footer TZ string.
  EXPECT_EQ(Offset("Europe/Paris", k2100Jul15), 7200);
  EXPECT_EQ(Offset("Europe/Paris", k2100Jan15), 3600);
  EXPECT_EQ(Offset("Europe/Paris", 4109878800 - 1), 3600);  // 2100-03-28T01:00:00Z
  EXPECT_EQ(Offset("Europe/Paris", 4109878800), 7200);
  EXPECT_EQ(Offset("Europe/Paris", 4128627600 - 1), 7200);  // 2100-10-31T01:00:00Z
  EXPECT_EQ(Offset("Europe/Paris", 4128627600), 3600);
  EXPECT_EQ(Offset("America/New_York", 4108690800 - 1), -18000);  // 2100-03-14T07:00:00Z
  EXPECT_EQ(Offset("America/New_York", 4108690800), -14400);
  EXPECT_EQ(Offset("America/New_York", 4129250400 - 1), -14400);  // 2100-11-07T06:00:00Z
  EXPECT_EQ(Offset("America/New_York", 4129250400), -18000);
  // Southern hemisphere (DST spans the new year), half-hour DST.
  EXPECT_EQ(Offset("Australia/Lord_Howe", 4110447600 - 1), 39600);  // 2100-04-03T15:00:00Z
  EXPECT_EQ(Offset("Australia/Lord_Howe", 4110447600), 37800);
  EXPECT_EQ(Offset("Australia/Lord_Howe", 4126174200 - 1), 37800);  // 2100-10-02T15:30:00Z
  EXPECT_EQ(Offset("Australia/Lord_Howe", 4126174200), 39600);
  // IST-2IDT,M3.4.4/26,M10.5.0: a transition time past 24h (version 3 file).
  EXPECT_EQ(Offset("Asia/Jerusalem", 4109702400 - 1), 7200);  // 2100-03-26T00:00:00Z
  EXPECT_EQ(Offset("Asia/Jerusalem", 4109702400), 10800);
  EXPECT_EQ(Offset("Asia/Jerusalem", 4128620400 - 1), 10800);  // 2100-10-30T23:00:00Z
  EXPECT_EQ(Offset("Asia/Jerusalem", 4128620400), 7200);
}

TEST(TimeZoneOffset, BeforeFirstTransitionAndExtremes) {
  // Time type 0 (local mean time) before the first transition (RFC 9636 §3.2).
  EXPECT_EQ(Offset("Europe/Paris", -4000000000), 561);
  EXPECT_EQ(Offset("America/New_York", -4000000000), -17762);
  EXPECT_EQ(Offset("Europe/Paris", std::numeric_limits<int64_t>::min()), 561);
  const int64_t far = Offset("Europe/Paris", std::numeric_limits<int64_t>::max());
  EXPECT_TRUE(far == 3600 || far == 7200) << far;
  // The footer rule repeats every 400 years: the same day 400 and 4000 years later.
  EXPECT_EQ(Offset("Europe/Paris", k2100Jul15 + 10 * 12622780800), 7200);
  EXPECT_EQ(Offset("Europe/Paris", k2100Jan15 + 10 * 12622780800), 3600);
}

TEST(TimeZoneOffset, BadNames) {
  for (const char* name : {"", "Mars/Olympus", "Europe/paris", "CEST", "../etc/passwd",
                           "Europe/Paris/", "/Europe/Paris", "posix/Europe/Paris",
                           "right/Europe/Paris", "localtime", "Europe"}) {
    const Result<int64_t> r = UtcOffsetAt(name, 0);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(r.error().reason(), "bad-time-zone") << name;
    const Result<LocalTime> lt = ToLocalTime(name, 0);
    ASSERT_FALSE(lt.ok()) << name;
    EXPECT_EQ(lt.error().reason(), "bad-time-zone") << name;
    const Result<int64_t> back = FromLocalTime(name, 2026, 1, 1, 0, 0, 0);
    ASSERT_FALSE(back.ok()) << name;
    EXPECT_EQ(back.error().reason(), "bad-time-zone") << name;
  }
}

// ---- ToLocalTime ----

void ExpectLocal(const LocalTime& lt, int y, int mo, int d, int h, int mi, int s, int wd,
                 int64_t off) {
  EXPECT_EQ(lt.year, y);
  EXPECT_EQ(lt.month, mo);
  EXPECT_EQ(lt.day, d);
  EXPECT_EQ(lt.hour, h);
  EXPECT_EQ(lt.minute, mi);
  EXPECT_EQ(lt.second, s);
  EXPECT_EQ(lt.weekday, wd);
  EXPECT_EQ(lt.utc_offset, off);
}

TEST(TimeZoneLocal, Fields) {
  constexpr int64_t k2026Nov22 = 1795305600;  // 2026-11-22T00:00:00Z, a Sunday
  Result<LocalTime> lt = ToLocalTime("Europe/Paris", k2026Nov22 + 11 * 3600 + 34 * 60 + 56);
  ASSERT_TRUE(lt.ok());
  ExpectLocal(*lt, 2026, 11, 22, 12, 34, 56, 6, 3600);
  lt = ToLocalTime("America/New_York", k2026Nov22);  // still Saturday evening
  ASSERT_TRUE(lt.ok());
  ExpectLocal(*lt, 2026, 11, 21, 19, 0, 0, 5, -18000);
  lt = ToLocalTime("Europe/Paris", k2026Jul15);
  ASSERT_TRUE(lt.ok());
  ExpectLocal(*lt, 2026, 7, 15, 2, 0, 0, 2, 7200);
  lt = ToLocalTime("UTC", 0);
  ASSERT_TRUE(lt.ok());
  ExpectLocal(*lt, 1970, 1, 1, 0, 0, 0, 3, 0);
  lt = ToLocalTime("UTC", -1);
  ASSERT_TRUE(lt.ok());
  ExpectLocal(*lt, 1969, 12, 31, 23, 59, 59, 2, 0);
  lt = ToLocalTime("Asia/Kolkata", 951782400);  // 2000-02-29T00:00:00Z
  ASSERT_TRUE(lt.ok());
  ExpectLocal(*lt, 2000, 2, 29, 5, 30, 0, 1, 19800);
  lt = ToLocalTime("Australia/Lord_Howe", 1791041400);  // the spring-forward instant
  ASSERT_TRUE(lt.ok());
  ExpectLocal(*lt, 2026, 10, 4, 2, 30, 0, 6, 39600);
}

TEST(TimeZoneLocal, OutOfRange) {
  for (const char* zone : {"UTC", "Etc/GMT-14", "Europe/Paris"}) {
    const Result<LocalTime> lt = ToLocalTime(zone, std::numeric_limits<int64_t>::max());
    ASSERT_FALSE(lt.ok()) << zone;
    EXPECT_EQ(lt.error().code(), StatusCode::kOutOfRange) << zone;
    EXPECT_EQ(lt.error().reason(), "time-out-of-range") << zone;
  }
  const Result<LocalTime> lt = ToLocalTime("Etc/GMT+12", std::numeric_limits<int64_t>::min());
  ASSERT_FALSE(lt.ok());
  EXPECT_EQ(lt.error().code(), StatusCode::kOutOfRange);
}

// ---- FromLocalTime ----

TEST(TimeZoneFromLocal, Normal) {
  EXPECT_EQ(FromLocal("Europe/Paris", 2026, 7, 15, 12, 0, 0), 1784109600);  // 10:00Z
  EXPECT_EQ(FromLocal("America/New_York", 2026, 1, 15, 9, 30, 0), 1768487400);  // 14:30Z
  EXPECT_EQ(FromLocal("UTC", 1970, 1, 1, 0, 0, 0), 0);
  EXPECT_EQ(FromLocal("UTC", 1969, 12, 31, 23, 59, 59), -1);
  EXPECT_EQ(FromLocal("Asia/Kolkata", 2000, 2, 29, 5, 30, 0), 951782400);
  EXPECT_EQ(FromLocal("Europe/Paris", 2100, 7, 15, 2, 0, 0), k2100Jul15);  // footer rule
}

TEST(TimeZoneFromLocal, AmbiguousGivesEarlier) {
  EXPECT_EQ(FromLocal("Europe/Paris", 2026, 10, 25, 2, 30, 0), 1792888200);  // 00:30Z
  EXPECT_EQ(FromLocal("Europe/Paris", 2026, 10, 25, 3, 0, 0), kParisFall26 + 3600);
  EXPECT_EQ(FromLocal("Europe/Paris", 2026, 10, 25, 2, 0, 0), kParisFall26 - 3600);
  EXPECT_EQ(FromLocal("America/New_York", 2026, 11, 1, 1, 30, 0), kNyFall26 - 1800);
  EXPECT_EQ(FromLocal("Australia/Lord_Howe", 2026, 4, 5, 1, 45, 0), 1775314800 - 900);
  EXPECT_EQ(FromLocal("Europe/Paris", 2100, 10, 31, 2, 30, 0), 4128627600 - 1800);
}

TEST(TimeZoneFromLocal, NonexistentGivesGapEnd) {
  EXPECT_EQ(FromLocal("Europe/Paris", 2026, 3, 29, 2, 30, 0), kParisSpring26);
  EXPECT_EQ(FromLocal("Europe/Paris", 2026, 3, 29, 2, 0, 0), kParisSpring26);
  EXPECT_EQ(FromLocal("Europe/Paris", 2026, 3, 29, 1, 59, 59), kParisSpring26 - 1);
  EXPECT_EQ(FromLocal("Europe/Paris", 2026, 3, 29, 3, 0, 0), kParisSpring26);
  EXPECT_EQ(FromLocal("America/New_York", 2026, 3, 8, 2, 30, 0), kNySpring26);
  EXPECT_EQ(FromLocal("Australia/Lord_Howe", 2026, 10, 4, 2, 15, 0), 1791041400);
  EXPECT_EQ(FromLocal("Europe/Paris", 2100, 3, 28, 2, 30, 0), 4109878800);  // footer rule
}

TEST(TimeZoneFromLocal, BadLocalTimes) {
  const std::vector<std::tuple<int, int, int, int, int, int>> bad = {
      {2026, 0, 1, 0, 0, 0},  {2026, 13, 1, 0, 0, 0},  {2026, 1, 0, 0, 0, 0},
      {2026, 1, 32, 0, 0, 0}, {2026, 2, 29, 0, 0, 0},  {2100, 2, 29, 0, 0, 0},
      {2026, 4, 31, 0, 0, 0}, {2026, 1, 1, 24, 0, 0},  {2026, 1, 1, -1, 0, 0},
      {2026, 1, 1, 0, 60, 0}, {2026, 1, 1, 0, -1, 0},  {2026, 1, 1, 0, 0, 60},
      {2026, 1, 1, 0, 0, -1}, {2026, -1, 1, 0, 0, 0},
  };
  for (const auto& [y, mo, d, h, mi, s] : bad) {
    const Result<int64_t> r = FromLocalTime("Europe/Paris", y, mo, d, h, mi, s);
    ASSERT_FALSE(r.ok()) << y << "-" << mo << "-" << d << " " << h << ":" << mi << ":" << s;
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.error().reason(), "bad-local-time");
  }
  EXPECT_EQ(FromLocal("UTC", 2000, 2, 29, 0, 0, 0), 951782400);  // 2000 is a leap year
  EXPECT_EQ(FromLocal("UTC", 2024, 2, 29, 23, 59, 59), 1709251199);
}

TEST(TimeZoneFromLocal, ExtremeYearsRoundTrip) {
  constexpr int kMax = std::numeric_limits<int>::max();
  constexpr int kMin = std::numeric_limits<int>::min();
  for (const char* zone : {"UTC", "Europe/Paris", "America/New_York", "Etc/GMT-14"}) {
    for (const auto& [y, mo, d, h] : std::vector<std::tuple<int, int, int, int>>{
             {kMax, 12, 31, 23}, {kMax, 7, 15, 12}, {kMin, 1, 1, 0}, {kMin, 7, 15, 12}}) {
      const int64_t t = FromLocal(zone, y, mo, d, h, 59, 59);
      const Result<LocalTime> lt = ToLocalTime(zone, t);
      ASSERT_TRUE(lt.ok()) << zone << " " << y;
      EXPECT_EQ(lt->year, y);
      EXPECT_EQ(lt->month, mo);
      EXPECT_EQ(lt->day, d);
      EXPECT_EQ(lt->hour, h);
      EXPECT_EQ(lt->minute, 59);
      EXPECT_EQ(lt->second, 59);
    }
  }
  EXPECT_EQ(FromLocal("UTC", kMax, 12, 31, 23, 59, 59), 67767976233532799);
}

// Every hour (every half hour for Lord Howe) of 2026: ToLocalTime then FromLocalTime gives the
// instant back, except in the repeated hour after DST ends, where it gives the earlier instant.
void RoundTripYear(std::string_view zone, int64_t step, int64_t dst_shift) {
  int repeated = 0;
  for (int64_t t = k2026Jan1; t < k2027Jan1; t += step) {
    const Result<LocalTime> lt = ToLocalTime(zone, t);
    ASSERT_TRUE(lt.ok());
    const Result<int64_t> back =
        FromLocalTime(zone, lt->year, lt->month, lt->day, lt->hour, lt->minute, lt->second);
    ASSERT_TRUE(back.ok());
    // The same wall time was shown `dst_shift` seconds earlier iff the offset then was larger
    // by exactly dst_shift (DST had just ended).
    const bool second_occurrence = Offset(zone, t - dst_shift) == lt->utc_offset + dst_shift;
    if (second_occurrence) {
      ++repeated;
      EXPECT_EQ(*back, t - dst_shift) << zone << " @ " << t;
    } else {
      EXPECT_EQ(*back, t) << zone << " @ " << t;
    }
  }
  EXPECT_EQ(repeated, 1) << zone;  // one step lands in the repeated wall-clock interval
}

TEST(TimeZoneFromLocal, RoundTripEveryHourOf2026) {
  RoundTripYear("Europe/Paris", 3600, 3600);
  RoundTripYear("America/New_York", 3600, 3600);
  RoundTripYear("Australia/Lord_Howe", 1800, 1800);
}

// ---- TZif parsing ----

void PutBe32(std::string* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) {
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

void PutBe64(std::string* out, int64_t v) {
  const auto u = static_cast<uint64_t>(v);
  for (int i = 7; i >= 0; --i) {
    out->push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
}

struct TypeSpec {
  int32_t utoff;
  uint8_t isdst;
  uint8_t desigidx;
};

// A TZif file built the way `zic -b slim` does: a minimal version 1 block, then the 64-bit data.
std::string BuildTzif(char version, const std::vector<int64_t>& times,
                      const std::vector<uint8_t>& type_indices, const std::vector<TypeSpec>& types,
                      const std::string& designations, const std::string& footer) {
  std::string f;
  auto header = [&](uint32_t timecnt, uint32_t typecnt, uint32_t charcnt) {
    f += "TZif";
    f.push_back(version);
    f.append(15, '\0');
    PutBe32(&f, 0);  // isutcnt
    PutBe32(&f, 0);  // isstdcnt
    PutBe32(&f, 0);  // leapcnt
    PutBe32(&f, timecnt);
    PutBe32(&f, typecnt);
    PutBe32(&f, charcnt);
  };
  header(0, 1, 1);
  PutBe32(&f, 0);
  f.append(2, '\0');  // one type: UT, not DST, designation ""
  f.push_back('\0');
  header(static_cast<uint32_t>(times.size()), static_cast<uint32_t>(types.size()),
         static_cast<uint32_t>(designations.size()));
  for (int64_t t : times) {
    PutBe64(&f, t);
  }
  for (uint8_t i : type_indices) {
    f.push_back(static_cast<char>(i));
  }
  for (const TypeSpec& t : types) {
    PutBe32(&f, static_cast<uint32_t>(t.utoff));
    f.push_back(static_cast<char>(t.isdst));
    f.push_back(static_cast<char>(t.desigidx));
  }
  f += designations;
  f += "\n" + footer + "\n";
  return f;
}

// A slim file holding only the footer rule (no transitions at all).
std::string FooterOnly(const std::string& footer, char version = '3') {
  return BuildTzif(version, {}, {}, {{0, 0, 0}}, std::string("XXX\0", 4), footer);
}

std::string ReadZone(const std::string& name) {
  return testing::ReadFileOrDie("/usr/share/zoneinfo/" + name);
}

int64_t OffsetIn(const std::string& tzif, int64_t t) {
  const Result<int64_t> r = UtcOffsetAtForTesting(tzif, t);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.value_or(-1);
}

void ExpectBadTzif(const std::string& bytes, const std::string& what) {
  const Result<int64_t> r = UtcOffsetAtForTesting(bytes, k2026Jan15);
  ASSERT_FALSE(r.ok()) << what;
  EXPECT_EQ(r.error().code(), StatusCode::kDataLoss) << what;
  EXPECT_EQ(r.error().reason(), "bad-tzif") << what;
}

TEST(TimeZoneTzif, RealFileParsesLikeTheZone) {
  const std::string paris = ReadZone("Europe/Paris");
  for (int64_t t : {k2026Jan15, k2026Jul15, kParisSpring26 - 1, kParisSpring26, k2100Jan15,
                    k2100Jul15, int64_t{-4000000000}}) {
    EXPECT_EQ(OffsetIn(paris, t), Offset("Europe/Paris", t)) << t;
  }
}

TEST(TimeZoneTzif, SlimFileMatchesFatFile) {
  // Paris with its table cut at the 2026 spring transition and everything after in the footer,
  // then with no table at all: every hour of 2026-2028 must match the real (fat) file.
  const std::string designations("CET\0CEST\0", 9);
  const std::vector<TypeSpec> types = {{3600, 0, 0}, {7200, 1, 4}};
  const std::string rule = "CET-1CEST,M3.5.0,M10.5.0/3";
  const std::string slim = BuildTzif('2', {1761440400 /* 2025-10-26T01:00:00Z */, kParisSpring26},
                                     {0, 1}, types, designations, rule);
  const std::string bare = BuildTzif('2', {}, {}, types, designations, rule);
  const std::string ny = BuildTzif('2', {}, {}, {{-18000, 0, 0}}, std::string("EST\0", 4),
                                   "EST5EDT,M3.2.0,M11.1.0");
  for (int64_t t = k2026Jan1; t < k2026Jan1 + 3 * 365 * 86400; t += 3600) {
    const int64_t want = Offset("Europe/Paris", t);
    ASSERT_EQ(OffsetIn(slim, t), want) << t;
    ASSERT_EQ(OffsetIn(bare, t), want) << t;
    ASSERT_EQ(OffsetIn(ny, t), Offset("America/New_York", t)) << t;
  }
}

TEST(TimeZoneTzif, FooterForms) {
  // Jn never counts Feb 29: J60 is March 1, also in leap years (2024-03-01T00:00 at +03).
  const std::string julian = FooterOnly("<+03>-3<+04>,J60/0,J300/0");
  EXPECT_EQ(OffsetIn(julian, 1709240400 - 1), 10800);  // 2024-02-29T21:00:00Z
  EXPECT_EQ(OffsetIn(julian, 1709240400), 14400);
  EXPECT_EQ(OffsetIn(julian, 1740776400 - 1), 10800);  // 2025-02-28T21:00:00Z
  EXPECT_EQ(OffsetIn(julian, 1740776400), 14400);
  // n counts Feb 29: day 59 is Feb 29 in 2024 but March 1 in 2025.
  const std::string zero_based = FooterOnly("<+03>-3<+04>,59/0,300/0");
  EXPECT_EQ(OffsetIn(zero_based, 1709240400 - 86400 - 1), 10800);
  EXPECT_EQ(OffsetIn(zero_based, 1709240400 - 86400), 14400);
  EXPECT_EQ(OffsetIn(zero_based, 1740776400 - 1), 10800);
  EXPECT_EQ(OffsetIn(zero_based, 1740776400), 14400);
  // Negative transition time (version 3): M3.5.0/-1 is 23:00 on the Saturday before.
  const std::string negative = FooterOnly("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  EXPECT_EQ(OffsetIn(negative, kParisSpring26 - 1), -7200);  // 2026-03-29T01:00:00Z
  EXPECT_EQ(OffsetIn(negative, kParisSpring26), -3600);
  EXPECT_EQ(OffsetIn(negative, kParisFall26 - 1), -3600);  // 2026-10-25T01:00:00Z
  EXPECT_EQ(OffsetIn(negative, kParisFall26), -7200);
  // Past 24h: Thursday + 26h = Friday 02:00 (Asia/Jerusalem's rule), 2026-03-27T00:00:00Z.
  const std::string long_time = FooterOnly("IST-2IDT,M3.4.4/26,M10.5.0");
  EXPECT_EQ(OffsetIn(long_time, 1774569600 - 1), 7200);
  EXPECT_EQ(OffsetIn(long_time, 1774569600), 10800);
  // DST all year (RFC 9636 §3.3.1's example): 00:00 Jan 1 to 24:00 Dec 31 + 1h.
  const std::string all_year = FooterOnly("XXX3EDT4,0/0,J365/25");
  for (int64_t t : {k2026Jan1 - 1, k2026Jan1, k2026Jan1 + 1, k2026Jan15, k2026Jul15, k2027Jan1,
                    k2100Jan15}) {
    EXPECT_EQ(OffsetIn(all_year, t), -14400) << t;
  }
  // Quoted names, minutes, no DST; an explicit DST offset.
  EXPECT_EQ(OffsetIn(FooterOnly("<+0330>-3:30"), k2026Jul15), 12600);
  EXPECT_EQ(OffsetIn(FooterOnly("<-0330>3:30:00"), k2026Jul15), -12600);
  EXPECT_EQ(OffsetIn(FooterOnly("AAA-1BBB-3,M3.5.0,M10.5.0/3"), k2026Jul15), 10800);
  // Empty footer: the last transition's type lasts forever.
  const std::string empty_footer =
      BuildTzif('2', {0}, {1}, {{0, 0, 0}, {7200, 0, 0}}, std::string("XXX\0", 4), "");
  EXPECT_EQ(OffsetIn(empty_footer, -1), 0);
  EXPECT_EQ(OffsetIn(empty_footer, 0), 7200);
  EXPECT_EQ(OffsetIn(empty_footer, k2100Jan15), 7200);
}

TEST(TimeZoneTzif, BadFooters) {
  for (const char* footer :
       {"CET-1CEST", "CE-1", "CET", "CET-25", "CET-1:60", "CET-1:3", "<+0330", "<+03>-3:3",
        "<+3>-3", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.6.0,M10.5.0",
        "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,M3.0.0,M10.5.0", "CET-1CEST,J0,J365",
        "CET-1CEST,366,J365", "CET-1CEST,M3.5.0/168,M10.5.0", "CET-1CEST,M3.5.0,M10.5.0/3x",
        "CET-1CEST,M3.5.0", "CET-1CEST,M3.5.0,M10.5.0,", "CET-1 ", "CET-1\tCEST", "C3T-1"}) {
    ExpectBadTzif(FooterOnly(footer), footer);
  }
  // Version 2 footers follow POSIX strictly: no negative or >24h transition times.
  ExpectBadTzif(FooterOnly("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", '2'), "v2 negative time");
  ExpectBadTzif(FooterOnly("IST-2IDT,M3.4.4/26,M10.5.0", '2'), "v2 26h");
  ExpectBadTzif(FooterOnly("IST-2IDT,M3.4.4/+2,M10.5.0", '2'), "v2 signed time");
  EXPECT_EQ(OffsetIn(FooterOnly("IST-2IDT,M3.4.4/+2,M10.5.0", '3'), k2026Jul15), 10800);
  EXPECT_EQ(OffsetIn(FooterOnly("IST-2IDT,M3.4.4/24,M10.5.0", '2'), k2026Jul15), 10800);
}

TEST(TimeZoneTzif, TruncatedCopies) {
  const std::string paris = ReadZone("Europe/Paris");
  ASSERT_GT(paris.size(), 100u);
  // Truncated copies written to disk and read back: inside the first header, the v1 data, the
  // second header, the 64-bit data, and the footer.
  testing::TempDir dir;
  for (const size_t n : {size_t{0}, size_t{3}, size_t{20}, size_t{43}, size_t{44}, size_t{500},
                         paris.size() / 2, paris.size() - 40, paris.size() - 2,
                         paris.size() - 1}) {
    const std::string path = dir.Sub("Paris." + std::to_string(n));
    {
      std::ofstream out(path, std::ios::binary);
      out.write(paris.data(), static_cast<std::streamsize>(n));
    }
    const std::string copy = testing::ReadFileOrDie(path);
    ASSERT_EQ(copy.size(), n);
    ExpectBadTzif(copy, "copy truncated to " + std::to_string(n) + " bytes");
  }
  // And every proper prefix, in memory.
  for (size_t n = 0; n < paris.size(); ++n) {
    ExpectBadTzif(paris.substr(0, n), "prefix of " + std::to_string(n) + " bytes");
  }
}

TEST(TimeZoneTzif, Malformed) {
  const std::string paris = ReadZone("Europe/Paris");
  ASSERT_TRUE(UtcOffsetAtForTesting(paris, 0).ok());
  // The second header follows the v1 header and its data block (sized from the v1 counts).
  auto get32 = [&paris](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) {
      v = (v << 8) | static_cast<uint8_t>(paris[at + i]);
    }
    return size_t{v};
  };
  const size_t v1_data = get32(32) * 5 + get32(36) * 6 + get32(40) + get32(28) * 8 + get32(24) +
                         get32(20);
  const size_t h2 = 44 + v1_data;
  ASSERT_EQ(paris.substr(h2, 4), "TZif");
  const uint32_t timecnt = static_cast<uint32_t>(get32(h2 + 32));

  std::string bad = paris;
  bad[3] = 'g';
  ExpectBadTzif(bad, "bad magic");
  bad = paris;
  bad[h2 + 1] = 'X';
  ExpectBadTzif(bad, "bad second magic");

  auto set32 = [](std::string s, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
      s[at + static_cast<size_t>(i)] = static_cast<char>((v >> (8 * (3 - i))) & 0xff);
    }
    return s;
  };
  // Counts at header offsets 20 (isutcnt) .. 40 (charcnt).
  ExpectBadTzif(set32(paris, h2 + 32, 0xffffffffu), "timecnt larger than the data");
  ExpectBadTzif(set32(paris, h2 + 32, timecnt + 1), "timecnt one too large");
  ExpectBadTzif(set32(paris, h2 + 36, 0x10000000u), "typecnt larger than the data");
  ExpectBadTzif(set32(paris, h2 + 40, 0xffffffffu), "charcnt larger than the data");
  ExpectBadTzif(set32(paris, 32, 0xffffffffu), "v1 timecnt larger than the data");
  ExpectBadTzif(set32(paris, h2 + 36, 0), "typecnt zero");
  ExpectBadTzif(set32(paris, h2 + 20, 5), "isutcnt neither 0 nor typecnt");

  // Version 1 only (no 64-bit data) and mismatched versions.
  bad = paris;
  bad[4] = '\0';
  ExpectBadTzif(bad, "version 1");
  bad = paris;
  bad[h2 + 4] = '3';
  ExpectBadTzif(bad, "versions differ");

  // Footer without its newlines, missing, or followed by more data.
  const size_t footer_nl = paris.rfind('\n', paris.size() - 2);
  ASSERT_NE(footer_nl, std::string::npos);
  bad = paris;
  bad[footer_nl] = ' ';
  bad.back() = ' ';
  ExpectBadTzif(bad, "footer without newlines");
  bad = paris;
  bad.pop_back();
  ExpectBadTzif(bad, "footer without final newline");
  ExpectBadTzif(paris.substr(0, footer_nl), "no footer");
  ExpectBadTzif(paris + "x", "data after the footer");
  ExpectBadTzif(paris + "\n", "two footers");

  // Built files: bad type index, descending times, out-of-range offset, designation bounds.
  const std::string xxx("XXX\0", 4);
  EXPECT_EQ(OffsetIn(BuildTzif('2', {0}, {0}, {{3600, 0, 0}}, xxx, ""), 0), 3600);
  ExpectBadTzif(BuildTzif('2', {0}, {1}, {{3600, 0, 0}}, xxx, ""), "type index");
  ExpectBadTzif(BuildTzif('2', {10, 5}, {0, 0}, {{3600, 0, 0}}, xxx, ""), "descending");
  ExpectBadTzif(BuildTzif('2', {5, 5}, {0, 0}, {{3600, 0, 0}}, xxx, ""), "repeated");
  ExpectBadTzif(BuildTzif('2', {}, {}, {{93600, 0, 0}}, xxx, ""), "utoff too large");
  ExpectBadTzif(BuildTzif('2', {}, {}, {{INT32_MIN, 0, 0}}, xxx, ""), "utoff -2^31");
  ExpectBadTzif(BuildTzif('2', {}, {}, {{0, 2, 0}}, xxx, ""), "isdst 2");
  ExpectBadTzif(BuildTzif('2', {}, {}, {{0, 0, 4}}, xxx, ""), "desigidx past charcnt");
  ExpectBadTzif(BuildTzif('2', {}, {}, {{0, 0, 0}}, "XXX", ""), "designation not terminated");
  ExpectBadTzif("", "empty");
}

// ---- Concurrency (run under TSan/ASan) ----

TEST(TimeZoneConcurrency, ThreadsAgree) {
  // More zones than the cache holds (64), so threads race on loads and evictions too.
  std::vector<std::pair<std::string, int64_t>> fixed;  // Etc/GMT±N: exact offsets
  for (int n = 0; n <= 12; ++n) {
    fixed.emplace_back("Etc/GMT+" + std::to_string(n), -3600 * n);
  }
  for (int n = 1; n <= 14; ++n) {
    fixed.emplace_back("Etc/GMT-" + std::to_string(n), 3600 * n);
  }
  std::vector<std::string> zones = {"Europe/Paris", "America/New_York", "Australia/Lord_Howe",
                                    "Asia/Kolkata", "America/St_Johns"};
  for (const auto& e : std::filesystem::directory_iterator("/usr/share/zoneinfo/America")) {
    const std::string name = "America/" + e.path().filename().string();
    if (e.is_regular_file() && IsIanaTimeZone(name)) {
      zones.push_back(name);
    }
  }
  ASSERT_GT(zones.size() + fixed.size(), 100u);
  const std::vector<int64_t> instants = {k2026Jan15, k2026Jul15, kParisSpring26, kNyFall26,
                                         k2100Jan15, k2100Jul15, -4000000000};
  std::vector<int64_t> expected;  // computed single-threaded first
  for (const std::string& z : zones) {
    for (int64_t t : instants) {
      expected.push_back(Offset(z, t));
    }
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 8; ++k) {
    threads.emplace_back([&, k] {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < zones.size(); ++i) {
          const size_t zi = (i + static_cast<size_t>(k) * 17) % zones.size();  // varied order
          for (size_t j = 0; j < instants.size(); ++j) {
            const Result<int64_t> r = UtcOffsetAt(zones[zi], instants[j]);
            if (!r.ok() || *r != expected[zi * instants.size() + j]) {
              mismatches.fetch_add(1);
            }
          }
        }
        for (const auto& [name, off] : fixed) {
          const Result<int64_t> r = UtcOffsetAt(name, k2026Jul15);
          if (!r.ok() || *r != off) {
            mismatches.fetch_add(1);
          }
        }
        const Result<int64_t> back = FromLocalTime("Europe/Paris", 2026, 10, 25, 2, 30, 0);
        if (!back.ok() || *back != 1792888200) {
          mismatches.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace mandated::mandates
