// Random: the port for randomness; SystemRandom reads the kernel CSPRNG (getrandom).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/bytes.h"
#include "base/status.h"

namespace mandated {

// Thread safety: implementations must be safe to call from any thread.
class Random {
 public:
  virtual ~Random() = default;
  // Fills `out` with unpredictable bytes. Returns kUnavailable if the source fails.
  virtual Status Fill(std::span<uint8_t> out) = 0;

  Result<Bytes> Generate(size_t n);
  // An identifier: `prefix` + 26 lowercase base32 characters (128 random bits).
  Result<std::string> NewId(std::string_view prefix);
};

class SystemRandom final : public Random {
 public:
  Status Fill(std::span<uint8_t> out) override;
  static SystemRandom& Get();
};

}  // namespace mandated
