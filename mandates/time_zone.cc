// IANA time zones: name check, TZif (RFC 9636) parsing with POSIX TZ footer rules, UTC offsets.
#include "mandates/time_zone.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mandates/civil_date.h"

namespace mandated::mandates {
namespace {

constexpr const char* kZoneInfoDir = "/usr/share/zoneinfo/";
constexpr size_t kMaxTzifBytes = 1 << 20;  // real files are a few KiB
constexpr size_t kMaxCachedZones = 64;
constexpr int64_t kSecondsPerDay = 86400;
// The Gregorian calendar (weekdays included) repeats every 400 years: 146097 days.
constexpr int64_t kCycleSeconds = 146097 * kSecondsPerDay;
// RFC 9636 §3.2: utoff SHOULD be within [-89999, 93599] (POSIX's [-24:59:59, 25:59:59]).
constexpr int64_t kMinUtoff = -89999;
constexpr int64_t kMaxUtoff = 93599;

bool NameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '+' || c == '-' || c == '/';
}

bool WellFormedName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '/' || name.back() == '/') {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i])) {
      return false;  // also refuses "." and so ".."
    }
    if (name[i] == '/' && i + 1 < name.size() && name[i + 1] == '/') {
      return false;
    }
  }
  if (name.substr(0, 6) == "posix/" || name.substr(0, 6) == "right/" || name == "localtime" ||
      name == "posixrules") {
    return false;
  }
  return true;
}

// ---- Calendar arithmetic (proleptic Gregorian; after Howard Hinnant's algorithms) ----

int64_t FloorMod(int64_t a, int64_t b) {  // b > 0; result in [0, b)
  const int64_t r = a % b;
  return r < 0 ? r + b : r;
}

bool IsLeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[static_cast<size_t>(m - 1)];
}

// 0 = Sunday ... 6 = Saturday (POSIX TZ numbering); 1970-01-01 was a Thursday.
int PosixWeekday(int64_t days) { return static_cast<int>(FloorMod(days + 4, 7)); }

// ---- POSIX TZ strings (the TZif footer, RFC 9636 §3.3) ----

struct DstDate {
  enum class Kind { kJulian, kZeroBased, kMonthWeekDay };
  Kind kind = Kind::kMonthWeekDay;
  int n = 0;                          // kJulian: 1..365 (no Feb 29); kZeroBased: 0..365
  int month = 1, week = 1, wday = 0;  // kMonthWeekDay: Mm.w.d
  int64_t time = 7200;                // seconds after local midnight; -167h..167h
};

struct PosixTz {
  int64_t std_utoff = 0;  // east of UTC, seconds
  bool has_dst = false;
  int64_t dst_utoff = 0;
  DstDate start, end;
};

class TzCursor {
 public:
  explicit TzCursor(std::string_view s) : s_(s) {}
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  bool Eat(char c) {
    if (peek() != c || done()) {
      return false;
    }
    ++i_;
    return true;
  }
  // 1..max_digits decimal digits.
  bool Number(int max_digits, int64_t* out) {
    int64_t v = 0;
    int n = 0;
    while (!done() && s_[i_] >= '0' && s_[i_] <= '9') {
      if (++n > max_digits) {
        return false;
      }
      v = v * 10 + (s_[i_] - '0');
      ++i_;
    }
    *out = v;
    return n > 0;
  }
  // A designation: "<" [A-Za-z0-9+-]{3,} ">" or [A-Za-z]{3,}.
  bool Name() {
    size_t n = 0;
    if (Eat('<')) {
      while (!done() && s_[i_] != '>') {
        const char c = s_[i_];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-')) {
          return false;
        }
        ++i_;
        ++n;
      }
      return Eat('>') && n >= 3;
    }
    while (!done() && ((s_[i_] >= 'A' && s_[i_] <= 'Z') || (s_[i_] >= 'a' && s_[i_] <= 'z'))) {
      ++i_;
      ++n;
    }
    return n >= 3;
  }
  // [+-]hh[:mm[:ss]] (the sign only if `signed_ok`) with hh in [0, max_hours] (1 to 3 digits
  // when max_hours > 99, else 1 to 2), mm and ss two digits below 60.
  bool Hms(int64_t max_hours, bool signed_ok, int64_t* out) {
    int64_t sign = 1;
    if (signed_ok && (peek() == '-' || peek() == '+')) {
      sign = peek() == '-' ? -1 : 1;
      ++i_;
    }
    int64_t h = 0, m = 0, sec = 0;
    if (!Number(max_hours > 99 ? 3 : 2, &h) || h > max_hours) {
      return false;
    }
    if (Eat(':')) {
      if (!TwoDigits(&m)) {
        return false;
      }
      if (Eat(':') && !TwoDigits(&sec)) {
        return false;
      }
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }

 private:
  bool TwoDigits(int64_t* out) {
    const size_t start = i_;
    if (!Number(2, out) || i_ - start != 2 || *out > 59) {
      return false;
    }
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

bool ParseDstDate(TzCursor& c, bool extended_times, DstDate* d) {
  int64_t v = 0;
  if (c.Eat('J')) {
    if (!c.Number(3, &v) || v < 1 || v > 365) {
      return false;
    }
    d->kind = DstDate::Kind::kJulian;
    d->n = static_cast<int>(v);
  } else if (c.Eat('M')) {
    int64_t w = 0, wd = 0;
    if (!c.Number(2, &v) || v < 1 || v > 12 || !c.Eat('.') || !c.Number(1, &w) || w < 1 ||
        w > 5 || !c.Eat('.') || !c.Number(1, &wd) || wd > 6) {
      return false;
    }
    d->kind = DstDate::Kind::kMonthWeekDay;
    d->month = static_cast<int>(v);
    d->week = static_cast<int>(w);
    d->wday = static_cast<int>(wd);
  } else {
    if (!c.Number(3, &v) || v > 365) {
      return false;
    }
    d->kind = DstDate::Kind::kZeroBased;
    d->n = static_cast<int>(v);
  }
  d->time = 7200;
  if (c.Eat('/')) {
    // POSIX: 0 to 24 hours, unsigned; version 3+ (RFC 9636 §3.3.1): -167 to 167 hours.
    return c.Hms(extended_times ? 167 : 24, extended_times, &d->time);
  }
  return true;
}

// std offset [dst [offset] ,start[/time],end[/time]]; the rule is required when dst is named
// (POSIX leaves a missing rule implementation-defined; zic always writes one).
bool ParsePosixTz(std::string_view s, bool extended_times, PosixTz* tz) {
  TzCursor c(s);
  int64_t off = 0;
  if (!c.Name() || !c.Hms(24, true, &off)) {
    return false;
  }
  tz->std_utoff = -off;  // POSIX offsets count west of UTC
  if (c.done()) {
    tz->has_dst = false;
    return true;
  }
  if (!c.Name()) {
    return false;
  }
  tz->has_dst = true;
  tz->dst_utoff = tz->std_utoff + 3600;
  if (!c.done() && c.peek() != ',') {
    if (!c.Hms(24, true, &off)) {
      return false;
    }
    tz->dst_utoff = -off;
  }
  return c.Eat(',') && ParseDstDate(c, extended_times, &tz->start) && c.Eat(',') &&
         ParseDstDate(c, extended_times, &tz->end) && c.done();
}

// Unix time at which `d` happens in `year`, its time of day read in local time of offset `utoff`.
// REQUIRES: |year| small enough (callers reduce instants to one 400-year cycle).
int64_t DstDateInstant(const DstDate& d, int64_t year, int64_t utoff) {
  int64_t days = 0;
  switch (d.kind) {
    case DstDate::Kind::kJulian:  // Feb 29 is never counted: J60 is always March 1
      days = DaysFromCivil(year, 1, 1) + d.n - 1 + (IsLeapYear(year) && d.n >= 60 ? 1 : 0);
      break;
    case DstDate::Kind::kZeroBased:
      days = DaysFromCivil(year, 1, 1) + d.n;
      break;
    case DstDate::Kind::kMonthWeekDay: {
      const int64_t first = DaysFromCivil(year, d.month, 1);
      int day = 1 + (d.wday - PosixWeekday(first) + 7) % 7 + (d.week - 1) * 7;
      while (day > DaysInMonth(year, d.month)) {  // week 5 means "last"
        day -= 7;
      }
      days = first + day - 1;
      break;
    }
  }
  return days * kSecondsPerDay + d.time - utoff;
}

// DST start and end instants of one year under `tz`.
struct DstYear {
  int64_t start = 0, end = 0;
};

// Years y-2..y+2 around the year y of `reduced` (an instant within the first 400-year cycle, so
// nothing overflows): with transition times of up to ±167h, those are all that can matter.
std::array<DstYear, 5> DstYearsAround(const PosixTz& tz, int64_t reduced) {
  const int64_t y = CivilFromDays(FloorDiv(reduced, kSecondsPerDay)).year;
  std::array<DstYear, 5> out{};
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t yy = y - 2 + static_cast<int64_t>(i);
    out[i] = {DstDateInstant(tz.start, yy, tz.std_utoff), DstDateInstant(tz.end, yy, tz.dst_utoff)};
  }
  return out;
}

// A year whose start precedes its end has DST on [start, end); one whose end precedes its start
// (southern hemisphere) has standard time on [end, start). The union over years decides, so a
// rule whose DST period reaches the next year's start (RFC 9636's "XXX3EDT4,0/0,J365/25") is DST
// all year; outside every interval, the kind of year `reduced` falls in decides.
int64_t FooterOffset(const PosixTz& tz, int64_t t) {
  if (!tz.has_dst) {
    return tz.std_utoff;
  }
  const int64_t reduced = FloorMod(t, kCycleSeconds);  // same calendar, 400k years earlier
  const std::array<DstYear, 5> years = DstYearsAround(tz, reduced);
  bool in_dst = false, in_std = false;
  for (const DstYear& y : years) {
    if (y.start < y.end && y.start <= reduced && reduced < y.end) {
      in_dst = true;
    } else if (y.end < y.start && y.end <= reduced && reduced < y.start) {
      in_std = true;
    }
  }
  if (in_dst) {
    return tz.dst_utoff;
  }
  if (in_std) {
    return tz.std_utoff;
  }
  const DstYear& current = years[2];
  return current.end < current.start ? tz.dst_utoff : tz.std_utoff;
}

// The first footer event after `t`, if representable.
std::optional<int64_t> NextFooterEvent(const PosixTz& tz, int64_t t) {
  if (!tz.has_dst) {
    return std::nullopt;
  }
  const int64_t reduced = FloorMod(t, kCycleSeconds);
  int64_t base = 0;  // t - reduced, a multiple of the cycle
  if (__builtin_sub_overflow(t, reduced, &base)) {
    return std::nullopt;
  }
  // The offset can only change at a start or end instant; take the first one after `reduced`.
  std::optional<int64_t> next;
  for (const DstYear& y : DstYearsAround(tz, reduced)) {
    for (const int64_t at : {y.start, y.end}) {
      if (at > reduced && (!next.has_value() || at < *next)) {
        next = at;
      }
    }
  }
  int64_t result = 0;
  if (next.has_value() && !__builtin_add_overflow(base, *next, &result)) {
    return result;
  }
  return std::nullopt;
}

// ---- TZif (RFC 9636) ----

struct Zone {
  std::vector<int64_t> transitions;   // strictly ascending
  std::vector<uint8_t> trans_types;   // index into utoffs, one per transition
  std::vector<int64_t> utoffs;        // per local time type; never empty
  bool has_footer = false;            // a non-empty footer TZ string
  PosixTz footer;

  bool UsesFooter(int64_t t) const {
    return has_footer && (transitions.empty() || t >= transitions.back());
  }

  int64_t OffsetAt(int64_t t) const {
    if (UsesFooter(t)) {
      return FooterOffset(footer, t);
    }
    if (transitions.empty() || t < transitions.front()) {
      return utoffs[0];  // RFC 9636 §3.2: time type 0 before the first transition
    }
    const auto it = std::upper_bound(transitions.begin(), transitions.end(), t);
    const size_t i = static_cast<size_t>(it - transitions.begin()) - 1;
    return utoffs[trans_types[i]];
  }

  // The first instant after `t` at which the offset may change.
  std::optional<int64_t> NextChange(int64_t t) const {
    if (UsesFooter(t)) {
      return NextFooterEvent(footer, t);
    }
    const auto it = std::upper_bound(transitions.begin(), transitions.end(), t);
    if (it == transitions.end()) {
      return std::nullopt;
    }
    return *it;
  }
};

Status BadTzif(const std::string& why) { return DataLossError("TZif: " + why, "bad-tzif"); }

class ByteReader {
 public:
  explicit ByteReader(std::string_view b) : b_(b) {}
  size_t remaining() const { return b_.size() - pos_; }
  bool Skip(uint64_t n) {
    if (n > remaining()) {
      return false;
    }
    pos_ += static_cast<size_t>(n);
    return true;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (n > remaining()) {
      return false;
    }
    *out = b_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool U8(uint8_t* out) {
    if (remaining() < 1) {
      return false;
    }
    *out = static_cast<uint8_t>(b_[pos_++]);
    return true;
  }
  bool U32(uint32_t* out) {
    if (remaining() < 4) {
      return false;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      v = (v << 8) | static_cast<uint8_t>(b_[pos_++]);
    }
    *out = v;
    return true;
  }
  bool I64(int64_t* out) {
    if (remaining() < 8) {
      return false;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
      v = (v << 8) | static_cast<uint8_t>(b_[pos_++]);
    }
    *out = static_cast<int64_t>(v);  // two's complement (C++20)
    return true;
  }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

struct TzifHeader {
  char version = 0;
  uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
};

Status ReadHeader(ByteReader& r, TzifHeader* h) {
  std::string_view magic;
  if (!r.Bytes(4, &magic)) {
    return BadTzif("truncated header");
  }
  if (magic != "TZif") {
    return BadTzif("bad magic");
  }
  uint8_t version = 0;
  if (!r.U8(&version) || !r.Skip(15)) {
    return BadTzif("truncated header");
  }
  h->version = static_cast<char>(version);
  if (!r.U32(&h->isutcnt) || !r.U32(&h->isstdcnt) || !r.U32(&h->leapcnt) ||
      !r.U32(&h->timecnt) || !r.U32(&h->typecnt) || !r.U32(&h->charcnt)) {
    return BadTzif("truncated header");
  }
  if (h->typecnt == 0 || h->charcnt == 0 || (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
      (h->isstdcnt != 0 && h->isstdcnt != h->typecnt)) {
    return BadTzif("inconsistent counts");
  }
  return OkStatus();
}

// Size of a data block with `time_size`-byte times (4 in v1, 8 in v2+).
uint64_t DataBlockSize(const TzifHeader& h, uint64_t time_size) {
  return uint64_t{h.timecnt} * time_size + h.timecnt + uint64_t{h.typecnt} * 6 + h.charcnt +
         uint64_t{h.leapcnt} * (time_size + 4) + h.isstdcnt + h.isutcnt;
}

Result<Zone> ParseTzif(std::string_view bytes) {
  if (bytes.size() > kMaxTzifBytes) {
    return BadTzif("file too large");
  }
  ByteReader r(bytes);
  TzifHeader h1;
  MD_RETURN_IF_ERROR(ReadHeader(r, &h1));
  if (h1.version < '2') {
    return BadTzif("version 1 file has no 64-bit data");
  }
  if (DataBlockSize(h1, 4) > r.remaining() || !r.Skip(DataBlockSize(h1, 4))) {
    return BadTzif("counts exceed the version 1 data");
  }
  TzifHeader h;
  MD_RETURN_IF_ERROR(ReadHeader(r, &h));
  if (h.version != h1.version) {
    return BadTzif("headers disagree on the version");
  }
  if (DataBlockSize(h, 8) > r.remaining()) {
    return BadTzif("counts exceed the data");
  }

  Zone z;
  z.transitions.resize(h.timecnt);
  z.trans_types.resize(h.timecnt);
  z.utoffs.resize(h.typecnt);
  for (uint32_t i = 0; i < h.timecnt; ++i) {
    if (!r.I64(&z.transitions[i])) {
      return BadTzif("truncated transition times");
    }
    if (i > 0 && z.transitions[i] <= z.transitions[i - 1]) {
      return BadTzif("transition times not ascending");
    }
  }
  for (uint32_t i = 0; i < h.timecnt; ++i) {
    if (!r.U8(&z.trans_types[i])) {
      return BadTzif("truncated transition types");
    }
    if (z.trans_types[i] >= h.typecnt) {
      return BadTzif("transition type out of range");
    }
  }
  for (uint32_t i = 0; i < h.typecnt; ++i) {
    uint32_t raw = 0;
    uint8_t isdst = 0, desigidx = 0;
    if (!r.U32(&raw) || !r.U8(&isdst) || !r.U8(&desigidx)) {
      return BadTzif("truncated local time types");
    }
    const int64_t utoff = static_cast<int32_t>(raw);
    if (utoff < kMinUtoff || utoff > kMaxUtoff) {
      return BadTzif("UT offset out of range");
    }
    if (isdst > 1 || desigidx >= h.charcnt) {
      return BadTzif("bad local time type");
    }
    z.utoffs[i] = utoff;
  }
  std::string_view designations;
  if (!r.Bytes(h.charcnt, &designations) || designations.back() != '\0') {
    return BadTzif("designations not NUL-terminated");
  }
  // Leap-second records: not applied (zones under right/ are refused by name).
  if (!r.Skip(uint64_t{h.leapcnt} * 12)) {
    return BadTzif("truncated leap-second records");
  }
  std::vector<uint8_t> isstd(h.isstdcnt), isut(h.isutcnt);
  for (uint32_t i = 0; i < h.isstdcnt; ++i) {
    if (!r.U8(&isstd[i]) || isstd[i] > 1) {
      return BadTzif("bad standard/wall indicator");
    }
  }
  for (uint32_t i = 0; i < h.isutcnt; ++i) {
    if (!r.U8(&isut[i]) || isut[i] > 1 || (isut[i] == 1 && (i >= isstd.size() || isstd[i] != 1))) {
      return BadTzif("bad UT/local indicator");
    }
  }

  // Footer: "\n" TZ string "\n", then the end of the file.
  std::string_view rest;
  if (!r.Bytes(r.remaining(), &rest) || rest.size() < 2 || rest.front() != '\n' ||
      rest.back() != '\n') {
    return BadTzif("missing footer");
  }
  const std::string_view tz = rest.substr(1, rest.size() - 2);
  if (tz.find('\n') != std::string_view::npos) {
    return BadTzif("data after the footer");
  }
  if (!tz.empty()) {
    if (!ParsePosixTz(tz, h.version >= '3', &z.footer)) {
      return BadTzif("bad footer TZ string");
    }
    z.has_footer = true;
  }
  return z;
}

// ---- Cache ----

struct ZoneCache {
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<const Zone>> zones;  // guarded by mu
};

ZoneCache& Cache() {
  static ZoneCache* const cache = new ZoneCache();  // never destroyed: safe at exit
  return *cache;
}

Result<std::string> ReadZoneFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return BadTzif("cannot open " + path);
  }
  std::string out;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    out.append(buf, n);
    if (out.size() > kMaxTzifBytes) {
      break;
    }
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) {
    return BadTzif("cannot read " + path);
  }
  return out;
}

Result<std::shared_ptr<const Zone>> LoadZone(std::string_view name) {
  ZoneCache& cache = Cache();
  const std::string key(name);
  {
    std::lock_guard<std::mutex> lock(cache.mu);
    const auto it = cache.zones.find(key);
    if (it != cache.zones.end()) {
      return it->second;
    }
  }
  if (!IsIanaTimeZone(name)) {
    return InvalidArgumentError("\"" + key + "\" is not an IANA time zone name", "bad-time-zone");
  }
  MD_ASSIGN_OR_RETURN(const std::string bytes, ReadZoneFile(kZoneInfoDir + key));
  Result<Zone> parsed = ParseTzif(bytes);
  if (!parsed.ok()) {
    return parsed.error().Annotate(key);
  }
  auto zone = std::make_shared<const Zone>(std::move(parsed).value());
  std::lock_guard<std::mutex> lock(cache.mu);
  const auto it = cache.zones.find(key);
  if (it != cache.zones.end()) {
    return it->second;  // another thread loaded it meanwhile
  }
  if (cache.zones.size() >= kMaxCachedZones) {
    cache.zones.erase(cache.zones.begin());  // arbitrary victim; holders keep their shared_ptr
  }
  cache.zones.emplace(key, zone);
  return zone;
}

Status BadLocalTime(const std::string& why) {
  return InvalidArgumentError("local time: " + why, "bad-local-time");
}

}  // namespace

namespace {

// Names already found to be zones: every mandate parse checks its zones, and the file system
// answer does not change while the service runs (a tzdata upgrade adds zones, never removes a
// name in use). Bounded; when full, further names are checked on disk every time.
class KnownZones {
 public:
  bool Contains(std::string_view name) {
    std::shared_lock lock(mu_);
    return names_.find(name) != names_.end();
  }
  void Add(std::string_view name) {
    std::unique_lock lock(mu_);
    if (names_.size() < kMax) {
      names_.emplace(name);
    }
  }

 private:
  static constexpr size_t kMax = 1024;
  std::shared_mutex mu_;
  std::set<std::string, std::less<>> names_;
};

KnownZones& Known() {
  static KnownZones* const known = new KnownZones();
  return *known;
}

}  // namespace

bool IsIanaTimeZone(std::string_view name) {
  if (!WellFormedName(name)) {
    return false;
  }
  if (Known().Contains(name)) {
    return true;
  }
  const std::string path = std::string(kZoneInfoDir) + std::string(name);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return false;
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return false;
  }
  char magic[4] = {};
  const size_t n = std::fread(magic, 1, sizeof(magic), f);
  std::fclose(f);
  const bool zone = n == sizeof(magic) && std::memcmp(magic, "TZif", 4) == 0;
  if (zone) {
    Known().Add(name);
  }
  return zone;
}

Result<int64_t> UtcOffsetAt(std::string_view name, int64_t unix_seconds) {
  MD_ASSIGN_OR_RETURN(const std::shared_ptr<const Zone> zone, LoadZone(name));
  return zone->OffsetAt(unix_seconds);
}

Result<LocalTime> ToLocalTime(std::string_view name, int64_t unix_seconds) {
  MD_ASSIGN_OR_RETURN(const int64_t offset, UtcOffsetAt(name, unix_seconds));
  int64_t local = 0;
  if (__builtin_add_overflow(unix_seconds, offset, &local)) {
    return OutOfRangeError("local time out of range", "time-out-of-range");
  }
  const int64_t days = FloorDiv(local, kSecondsPerDay);
  const int64_t secs = local - days * kSecondsPerDay;
  const Civil c = CivilFromDays(days);
  if (c.year < std::numeric_limits<int>::min() || c.year > std::numeric_limits<int>::max()) {
    return OutOfRangeError("local year out of range", "time-out-of-range");
  }
  LocalTime lt;
  lt.year = static_cast<int>(c.year);
  lt.month = c.month;
  lt.day = c.day;
  lt.hour = static_cast<int>(secs / 3600);
  lt.minute = static_cast<int>(secs / 60 % 60);
  lt.second = static_cast<int>(secs % 60);
  lt.weekday = static_cast<int>(FloorMod(days + 3, 7));  // 0 = Monday
  lt.utc_offset = offset;
  return lt;
}

Result<int64_t> FromLocalTime(std::string_view name, int year, int month, int day, int hour,
                              int minute, int second) {
  if (month < 1 || month > 12) {
    return BadLocalTime("month out of range");
  }
  if (day < 1 || day > DaysInMonth(year, month)) {
    return BadLocalTime("day out of range");
  }
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
    return BadLocalTime("time of day out of range");
  }
  MD_ASSIGN_OR_RETURN(const std::shared_ptr<const Zone> zone, LoadZone(name));
  // |year| < 2^31, so every value below stays far from int64 limits.
  const int64_t local =
      DaysFromCivil(year, month, day) * kSecondsPerDay + hour * 3600 + minute * 60 + second;
  // Offsets are within [-89999, 93599], so every instant t with t + offset(t) == local lies in
  // (local - span, local + span). Walk that window segment by segment (the offset is constant on
  // each): the first segment holding local - offset gives the earliest instant; failing any, a
  // forward jump over `local` makes it nonexistent and it resolves to the jump.
  constexpr int64_t kSpan = 2 * kSecondsPerDay;
  const int64_t hi = local + kSpan;
  int64_t seg_start = local - kSpan;
  int64_t offset = zone->OffsetAt(seg_start);
  std::optional<int64_t> gap_end;
  while (true) {
    const std::optional<int64_t> next = zone->NextChange(seg_start);
    const int64_t seg_end = next.has_value() && *next <= hi ? *next : hi + 1;
    const int64_t candidate = local - offset;
    if (candidate >= seg_start && candidate < seg_end) {
      return candidate;
    }
    if (seg_end > hi) {
      break;
    }
    const int64_t next_offset = zone->OffsetAt(seg_end);
    if (!gap_end.has_value() && next_offset > offset && local >= seg_end + offset &&
        local < seg_end + next_offset) {
      gap_end = seg_end;
    }
    seg_start = seg_end;
    offset = next_offset;
  }
  if (gap_end.has_value()) {
    return *gap_end;
  }
  return InternalError("no instant for the local time");  // unreachable with bounded offsets
}

Result<int64_t> UtcOffsetAtForTesting(std::string_view tzif, int64_t unix_seconds) {
  MD_ASSIGN_OR_RETURN(const Zone zone, ParseTzif(tzif));
  return zone.OffsetAt(unix_seconds);
}

}  // namespace mandated::mandates
