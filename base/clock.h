// Clock: the port through which all code reads time, so tests can drive it (FakeClock).
#pragma once

#include <cstdint>

namespace mandated {

// The last second of 9999-12-31 UTC: the largest NumericDate (seconds since the epoch) this
// service accepts in a signed claim, so arithmetic on two of them cannot overflow.
inline constexpr int64_t kMaxNumericDate = 253402300799;

// Thread safety: implementations must be safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, microseconds since the Unix epoch (UTC).
  virtual int64_t NowUnixMicros() = 0;
  // Monotonic time for measuring intervals, microseconds from an arbitrary origin.
  virtual int64_t MonotonicMicros() = 0;

  int64_t NowUnixSeconds() { return NowUnixMicros() / 1000000; }
};

// The real clocks of the operating system. Thread safety: stateless.
class SystemClock final : public Clock {
 public:
  int64_t NowUnixMicros() override;
  int64_t MonotonicMicros() override;
  // A process-wide instance (trivially destructible state; never deleted).
  static SystemClock& Get();
};

}  // namespace mandated
