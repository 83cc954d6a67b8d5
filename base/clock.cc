// SystemClock over clock_gettime.
#include "base/clock.h"

#include <time.h>

namespace mandated {

int64_t SystemClock::NowUnixMicros() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

int64_t SystemClock::MonotonicMicros() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

SystemClock& SystemClock::Get() {
  static SystemClock* clock = new SystemClock();
  return *clock;
}

}  // namespace mandated
