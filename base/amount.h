// Amount: a checked unsigned 128-bit count of an asset's base units, printed as a decimal string.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace mandated {

__extension__ typedef unsigned __int128 Uint128;

// Never floating point (DESIGN §3). Every operation that could overflow or underflow is checked
// and returns kOutOfRange with reason "amount-out-of-range".
// Thread safety: a value type.
class Amount {
 public:
  constexpr Amount() = default;
  static constexpr Amount FromUint64(uint64_t v) { return Amount(v); }
  static Amount FromRaw(Uint128 v) { return Amount(v); }
  static Amount Max() { return Amount(~Uint128{0}); }

  // Parses base units written as ASCII decimal digits: no sign, no leading zeros (except "0"),
  // no exponent, no fraction, no whitespace. Returns kInvalidArgument ("bad-amount") for a
  // malformed string and kOutOfRange ("amount-out-of-range") above 2^128-1.
  static Result<Amount> Parse(std::string_view text);

  std::string ToString() const;
  Uint128 raw() const { return v_; }
  bool is_zero() const { return v_ == 0; }
  // True if the value fits in 64 bits; then low64() is exact.
  bool fits_uint64() const { return (v_ >> 64) == 0; }
  uint64_t low64() const { return static_cast<uint64_t>(v_); }

  Result<Amount> Add(Amount other) const;
  Result<Amount> Sub(Amount other) const;
  Result<Amount> Mul(uint64_t factor) const;

  friend constexpr bool operator==(Amount a, Amount b) { return a.v_ == b.v_; }
  friend constexpr std::strong_ordering operator<=>(Amount a, Amount b) {
    return a.v_ < b.v_ ? std::strong_ordering::less
                       : (a.v_ == b.v_ ? std::strong_ordering::equal
                                       : std::strong_ordering::greater);
  }

 private:
  constexpr explicit Amount(Uint128 v) : v_(v) {}
  Uint128 v_ = 0;
};

}  // namespace mandated
