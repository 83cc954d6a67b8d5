// Amount parsing, printing and checked arithmetic.
#include "base/amount.h"

namespace mandated {

Result<Amount> Amount::Parse(std::string_view text) {
  if (text.empty()) {
    return InvalidArgumentError("amount is empty", "bad-amount");
  }
  for (char c : text) {
    if (c < '0' || c > '9') {
      return InvalidArgumentError("amount must be a string of decimal digits", "bad-amount");
    }
  }
  if (text.size() > 1 && text[0] == '0') {
    return InvalidArgumentError("amount has a leading zero", "bad-amount");
  }
  const Uint128 max = ~Uint128{0};
  Uint128 v = 0;
  for (char c : text) {
    const Uint128 digit = static_cast<Uint128>(c - '0');
    if (v > (max - digit) / 10) {
      return OutOfRangeError("amount exceeds 2^128-1 base units", "amount-out-of-range");
    }
    v = v * 10 + digit;
  }
  return Amount(v);
}

std::string Amount::ToString() const {
  char buf[40];  // 2^128 - 1 has 39 digits
  char* const end = buf + sizeof(buf);
  char* p = end;
  Uint128 v = v_;
  // Nineteen digits per 128-bit division, the rest in 64-bit arithmetic (a 128-bit division is
  // a library call; most amounts never need one).
  constexpr uint64_t k1e19 = 10000000000000000000ull;
  while (v > UINT64_MAX) {
    uint64_t chunk = static_cast<uint64_t>(v % k1e19);
    v /= k1e19;
    for (int i = 0; i < 19; ++i) {
      *--p = static_cast<char>('0' + chunk % 10);
      chunk /= 10;
    }
  }
  auto low = static_cast<uint64_t>(v);
  do {
    *--p = static_cast<char>('0' + low % 10);
    low /= 10;
  } while (low != 0);
  return std::string(p, end);
}

Result<Amount> Amount::Add(Amount other) const {
  Uint128 sum = v_ + other.v_;
  if (sum < v_) {
    return OutOfRangeError("amount sum overflows 128 bits", "amount-out-of-range");
  }
  return Amount(sum);
}

Result<Amount> Amount::Sub(Amount other) const {
  if (other.v_ > v_) {
    return OutOfRangeError("amount difference is negative", "amount-out-of-range");
  }
  return Amount(v_ - other.v_);
}

Result<Amount> Amount::Mul(uint64_t factor) const {
  if (factor != 0 && v_ > (~Uint128{0}) / factor) {
    return OutOfRangeError("amount product overflows 128 bits", "amount-out-of-range");
  }
  return Amount(v_ * factor);
}

}  // namespace mandated
