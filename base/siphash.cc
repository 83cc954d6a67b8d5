// SipHash-2-4, written from the paper's description (§2): four 64-bit lanes, two compression
// rounds per 8-byte word, the length in the last word's top byte, four finalization rounds.
#include "base/siphash.h"

#include <span>

#include "base/log.h"
#include "base/random.h"

namespace mandated {
namespace {

constexpr uint64_t Rotl(uint64_t v, int n) { return (v << n) | (v >> (64 - n)); }

struct SipState {
  uint64_t v0, v1, v2, v3;

  void Round() {
    v0 += v1;
    v1 = Rotl(v1, 13);
    v1 ^= v0;
    v0 = Rotl(v0, 32);
    v2 += v3;
    v3 = Rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = Rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = Rotl(v1, 17);
    v1 ^= v2;
    v2 = Rotl(v2, 32);
  }

  void Compress(uint64_t m) {
    v3 ^= m;
    Round();
    Round();
    v0 ^= m;
  }
};

uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

uint64_t SipHash24(const SipKey& key, std::string_view data) {
  const uint64_t k0 = LoadLe64(key.data());
  const uint64_t k1 = LoadLe64(key.data() + 8);
  SipState s{k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull, k0 ^ 0x6c7967656e657261ull,
             k1 ^ 0x7465646279746573ull};
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const size_t n = data.size();
  const size_t whole = n - n % 8;
  for (size_t i = 0; i < whole; i += 8) s.Compress(LoadLe64(p + i));
  // The last word: the remaining 0-7 bytes, then the length mod 256 in the top byte.
  uint64_t last = static_cast<uint64_t>(n & 0xff) << 56;
  for (size_t i = whole; i < n; ++i) last |= static_cast<uint64_t>(p[i]) << (8 * (i - whole));
  s.Compress(last);
  s.v2 ^= 0xff;
  s.Round();
  s.Round();
  s.Round();
  s.Round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

const SipKey& ProcessSipKey() {
  static const SipKey kKey = [] {
    SipKey k{};
    if (Status s = SystemRandom::Get().Fill(std::span<uint8_t>(k.data(), k.size())); !s.ok()) {
      log::Warn("no random hash key: tables hash with a fixed key", {{"error", s.ToString()}});
      k.fill(0);
    }
    return k;
  }();
  return kKey;
}

}  // namespace mandated
