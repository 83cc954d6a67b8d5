// FakeClock: a Clock that moves only when the test says so.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/clock.h"

namespace mandated::testing {

// Thread safety: safe from any thread (atomics).
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t unix_seconds = 1795000000) : unix_micros_(unix_seconds * 1000000) {}

  int64_t NowUnixMicros() override { return unix_micros_.load(); }
  int64_t MonotonicMicros() override { return monotonic_micros_.load(); }

  // Moves both clocks forward.
  void AdvanceMicros(int64_t micros) {
    unix_micros_ += micros;
    monotonic_micros_ += micros;
  }
  void AdvanceSeconds(int64_t seconds) { AdvanceMicros(seconds * 1000000); }
  // Steps the wall clock back (as NTP may); the monotonic clock does not move.
  void StepWallClockBackSeconds(int64_t seconds) { unix_micros_ -= seconds * 1000000; }
  // Steps the wall clock forward alone (a clock set wrong, then corrected).
  void StepWallClockForwardSeconds(int64_t seconds) { unix_micros_ += seconds * 1000000; }

 private:
  std::atomic<int64_t> unix_micros_;
  std::atomic<int64_t> monotonic_micros_{1000000};
};

}  // namespace mandated::testing
