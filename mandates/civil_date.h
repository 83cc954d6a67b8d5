// Proleptic Gregorian calendar arithmetic on days since 1970-01-01 (after Howard Hinnant's
// algorithms), shared by the TZif reader (mandates/time_zone.cc) and the spending windows
// (policy/windows.cc). Pure functions: safe from any thread.
#pragma once

#include <cstdint>

namespace mandated::mandates {

// Floor division for b > 0 (rounds toward negative infinity).
inline int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b < 0) ? q - 1 : q;
}

// Days since 1970-01-01 of y-m-d (m in 1..12, d in 1..31). Exact for |y| < 2^40.
inline int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;                                     // [0, 399]
  const int64_t mp = m > 2 ? m - 3 : m + 9;                              // March = 0
  const int64_t doy = (153 * mp + 2) / 5 + d - 1;                        // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;             // [0, 146096]
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t year = 1970;
  int month = 1, day = 1;
};

// Inverse of DaysFromCivil.
inline Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;                                          // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;     // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                   // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                        // [0, 11]
  Civil c;
  c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = yoe + era * 400 + (c.month <= 2 ? 1 : 0);
  return c;
}

}  // namespace mandated::mandates
