// Keccak-256 written from FIPS 202 §3 (the Keccak-f[1600] permutation) with Keccak's original
// pad10*1 domain byte 0x01 (SHA3 uses 0x06). Constants are derived from the spec at compile time.
#include "signer/keccak.h"

namespace mandated::signer {
namespace {

constexpr int kRounds = 24;  // 12 + 2 * l, l = 6 for 64-bit lanes

constexpr uint64_t Rotl(uint64_t v, int n) {
  return n == 0 ? v : (v << n) | (v >> (64 - n));
}

// rc(t), FIPS 202 Algorithm 5: an 8-bit LFSR. Bit k of `r` holds R[k].
constexpr bool RcBit(int t) {
  if (t % 255 == 0) {
    return true;
  }
  unsigned r = 1;  // R = 10000000
  for (int i = 1; i <= t % 255; ++i) {
    r <<= 1;  // R = 0 || R, nine bits
    const unsigned r8 = (r >> 8) & 1u;
    r ^= r8 | (r8 << 4) | (r8 << 5) | (r8 << 6);  // R[0], R[4], R[5], R[6] ^= R[8]
    r &= 0xffu;                                     // Trunc8
  }
  return (r & 1u) != 0;
}

// FIPS 202 Algorithm 6: bit 2^j - 1 of RC for round ir is rc(j + 7 * ir), j = 0..6.
constexpr std::array<uint64_t, kRounds> MakeRoundConstants() {
  std::array<uint64_t, kRounds> rc{};
  for (int ir = 0; ir < kRounds; ++ir) {
    for (int j = 0; j <= 6; ++j) {
      if (RcBit(j + 7 * ir)) {
        rc[ir] |= uint64_t{1} << ((1 << j) - 1);
      }
    }
  }
  return rc;
}

// Rotation offsets of rho, FIPS 202 Algorithm 2: starting at (x, y) = (1, 0), lane t gets
// (t + 1)(t + 2) / 2 mod 64, then (x, y) <- (y, (2x + 3y) mod 5). Lane (0, 0) is not rotated.
constexpr std::array<int, 25> MakeRhoOffsets() {
  std::array<int, 25> offsets{};
  int x = 1;
  int y = 0;
  for (int t = 0; t < 24; ++t) {
    offsets[x + 5 * y] = ((t + 1) * (t + 2) / 2) % 64;
    const int next_y = (2 * x + 3 * y) % 5;
    x = y;
    y = next_y;
  }
  return offsets;
}

constexpr std::array<uint64_t, kRounds> kRoundConstants = MakeRoundConstants();
constexpr std::array<int, 25> kRhoOffsets = MakeRhoOffsets();

// Spot checks against the published tables (first, second and last round constants; rho of
// lanes (1,0), (0,1) and (4,4)).
static_assert(kRoundConstants[0] == 0x0000000000000001ull);
static_assert(kRoundConstants[1] == 0x0000000000008082ull);
static_assert(kRoundConstants[23] == 0x8000000080008008ull);
static_assert(kRhoOffsets[1] == 1 && kRhoOffsets[5] == 36 && kRhoOffsets[24] == 14);

// Keccak-f[1600]: 24 rounds of theta, rho, pi, chi, iota over lanes a[x + 5y].
void KeccakF1600(std::array<uint64_t, 25>& a) {
  for (int round = 0; round < kRounds; ++round) {
    // theta: xor each lane with the parities of two neighbouring columns.
    uint64_t c[5];
    for (int x = 0; x < 5; ++x) {
      c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
    }
    for (int x = 0; x < 5; ++x) {
      const uint64_t d = c[(x + 4) % 5] ^ Rotl(c[(x + 1) % 5], 1);
      for (int y = 0; y < 5; ++y) {
        a[x + 5 * y] ^= d;
      }
    }
    // rho and pi: lane (x, y), rotated, moves to (y, 2x + 3y).
    std::array<uint64_t, 25> b;
    for (int x = 0; x < 5; ++x) {
      for (int y = 0; y < 5; ++y) {
        b[y + 5 * ((2 * x + 3 * y) % 5)] = Rotl(a[x + 5 * y], kRhoOffsets[x + 5 * y]);
      }
    }
    // chi: the only non-linear step, along rows.
    for (int y = 0; y < 5; ++y) {
      for (int x = 0; x < 5; ++x) {
        a[x + 5 * y] = b[x + 5 * y] ^ (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y]);
      }
    }
    // iota
    a[0] ^= kRoundConstants[round];
  }
}

// XORs one byte into the state at byte offset `pos` (lanes are little-endian).
void XorByte(std::array<uint64_t, 25>& lanes, size_t pos, uint8_t byte) {
  lanes[pos / 8] ^= uint64_t{byte} << (8 * (pos % 8));
}

}  // namespace

void Keccak256Hasher::Update(ByteSpan data) {
  for (uint8_t byte : data) {
    XorByte(lanes_, position_, byte);
    if (++position_ == kRateBytes) {
      KeccakF1600(lanes_);
      position_ = 0;
    }
  }
}

std::array<uint8_t, Keccak256Hasher::kDigestSize> Keccak256Hasher::Finish() {
  // pad10*1 with Keccak's domain bits: 0x01 after the message, 0x80 in the block's last byte
  // (both land in the same byte, 0x81, when one byte of the block is left).
  XorByte(lanes_, position_, 0x01);
  XorByte(lanes_, kRateBytes - 1, 0x80);
  KeccakF1600(lanes_);
  std::array<uint8_t, kDigestSize> digest;
  for (size_t i = 0; i < kDigestSize; ++i) {
    digest[i] = static_cast<uint8_t>(lanes_[i / 8] >> (8 * (i % 8)));
  }
  Reset();
  return digest;
}

void Keccak256Hasher::Reset() {
  lanes_.fill(0);
  position_ = 0;
}

Bytes Keccak256(ByteSpan data) {
  Keccak256Hasher hasher;
  hasher.Update(data);
  const std::array<uint8_t, Keccak256Hasher::kDigestSize> digest = hasher.Finish();
  return Bytes(digest.begin(), digest.end());
}

}  // namespace mandated::signer
