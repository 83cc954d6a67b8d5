// Internal to signer/: hex digit values by character, for the parsers on hot paths (Ethereum
// addresses, EIP-712 integers and byte strings).
#pragma once

#include <array>
#include <cstdint>

namespace mandated::signer::internal {

inline constexpr uint8_t kNotHex = 0xff;

constexpr std::array<uint8_t, 256> MakeHexTable() {
  std::array<uint8_t, 256> table{};
  for (auto& v : table) {
    v = kNotHex;
  }
  for (int c = '0'; c <= '9'; ++c) {
    table[c] = static_cast<uint8_t>(c - '0');
  }
  for (int c = 'a'; c <= 'f'; ++c) {
    table[c] = static_cast<uint8_t>(c - 'a' + 10);
    table[c - 'a' + 'A'] = static_cast<uint8_t>(c - 'a' + 10);
  }
  return table;
}

inline constexpr std::array<uint8_t, 256> kHexTable = MakeHexTable();

// The value of hex digit `c` (0-9, a-f, A-F), or kNotHex.
inline uint8_t HexDigitValue(char c) { return kHexTable[static_cast<uint8_t>(c)]; }

}  // namespace mandated::signer::internal
