// Keccak-256 as Ethereum uses it: the Keccak-f[1600] sponge, rate 136 bytes, original 0x01 padding.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/bytes.h"

namespace mandated::signer {

// Keccak-256 of `data` (32 bytes). Not SHA3-256: SHA3 pads with 0x06, Keccak with 0x01.
Bytes Keccak256(ByteSpan data);

// Incremental Keccak-256: Update() any number of times, then Finish(). Finish() returns the digest
// and resets the hasher to its initial (empty-input) state, so it may be reused.
// Thread safety: not synchronized; use one object from one thread at a time.
class Keccak256Hasher {
 public:
  static constexpr size_t kDigestSize = 32;
  static constexpr size_t kRateBytes = 136;  // 1600 - 2 * 256 bits of capacity

  Keccak256Hasher() = default;

  void Update(ByteSpan data);
  std::array<uint8_t, kDigestSize> Finish();

 private:
  void Reset();

  std::array<uint64_t, 25> lanes_{};  // lane (x, y) is lanes_[x + 5 * y]
  size_t position_ = 0;               // bytes absorbed into the current block, < kRateBytes
};

}  // namespace mandated::signer
