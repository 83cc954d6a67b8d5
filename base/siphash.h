// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed 64-bit
// hash for tables whose keys come from clients, so no one without the key can choose keys that
// collide.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace mandated {

using SipKey = std::array<uint8_t, 16>;

// SipHash-2-4 of `data` under `key` (the key's bytes k0 || k1, little-endian as in the paper).
// Thread safety: a pure function.
uint64_t SipHash24(const SipKey& key, std::string_view data);

// A key drawn once per process from the kernel's CSPRNG (all zero if that ever failed, which
// leaves tables correct, only as predictable as an unkeyed hash). Thread safety: safe.
const SipKey& ProcessSipKey();

}  // namespace mandated
