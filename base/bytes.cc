// Hex, base64url, base64 and base58btc codecs, and constant-time comparison.
#include "base/bytes.h"

#include <array>
#include <cstring>

#include "base/secret.h"

namespace mandated {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kB64Std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::array<int8_t, 256> ReverseTable(const char* alphabet, size_t n) {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (size_t i = 0; i < n; ++i) {
    t[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
  }
  return t;
}

// The two characters of every 12-bit value, for encoding 3 bytes with two lookups.
using PairTable = std::array<char, 2 * 4096>;
constexpr PairTable MakePairs(const char* alphabet) {
  PairTable t{};
  for (size_t i = 0; i < 4096; ++i) {
    t[2 * i] = alphabet[i >> 6];
    t[2 * i + 1] = alphabet[i & 63];
  }
  return t;
}
constexpr PairTable kUrlPairs = MakePairs(kB64Url);
constexpr PairTable kStdPairs = MakePairs(kB64Std);

// Encodes into a buffer sized once, 3 bytes to 4 characters per step.
std::string B64Encode(ByteSpan data, const char* alphabet, bool pad) {
  const size_t full = data.size() / 3;
  const size_t rest = data.size() - full * 3;
  const size_t tail = rest == 0 ? 0 : (pad ? 4 : rest + 1);
  std::string out(full * 4 + tail, '\0');
  char* o = out.data();
  const uint8_t* p = data.data();
  const PairTable& pairs = alphabet == kB64Url ? kUrlPairs : kStdPairs;
  for (size_t k = 0; k < full; ++k, p += 3, o += 4) {
    const uint32_t v = (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];
    std::memcpy(o, &pairs[2 * (v >> 12)], 2);
    std::memcpy(o + 2, &pairs[2 * (v & 0xfff)], 2);
  }
  if (rest == 1) {
    const uint32_t v = uint32_t{p[0]} << 16;
    o[0] = alphabet[v >> 18];
    o[1] = alphabet[(v >> 12) & 63];
    if (pad) {
      o[2] = '=';
      o[3] = '=';
    }
  } else if (rest == 2) {
    const uint32_t v = (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8);
    o[0] = alphabet[v >> 18];
    o[1] = alphabet[(v >> 12) & 63];
    o[2] = alphabet[(v >> 6) & 63];
    if (pad) o[3] = '=';
  }
  return out;
}

// Decodes unpadded base64 text over `table` into a buffer sized once, 4 characters to 3 bytes per
// step; rejects a length of 1 mod 4, characters outside the alphabet and non-zero spare bits.
Result<Bytes> B64DecodeUnpadded(std::string_view text, const std::array<int8_t, 256>& table) {
  if (text.size() % 4 == 1) {
    return InvalidArgumentError("base64 text has an impossible length", "bad-base64");
  }
  auto foreign = []() {
    return InvalidArgumentError("base64 text has a character outside its alphabet", "bad-base64");
  };
  const size_t full = text.size() / 4;
  const size_t rest = text.size() - full * 4;  // 0, 2 or 3 characters
  Bytes out(full * 3 + (rest == 0 ? 0 : rest - 1));
  const auto* in = reinterpret_cast<const uint8_t*>(text.data());
  uint8_t* o = out.data();
  // Table entries are -1 outside the alphabet: OR-ing them keeps the sign bit of any of them.
  for (size_t k = 0; k < full; ++k, in += 4, o += 3) {
    const int32_t a = table[in[0]], b = table[in[1]], c = table[in[2]], d = table[in[3]];
    if ((a | b | c | d) < 0) {
      SecureWipe(out.data(), out.size());  // what was decoded may be secret
      return foreign();
    }
    const uint32_t v = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                       (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    o[0] = static_cast<uint8_t>(v >> 16);
    o[1] = static_cast<uint8_t>(v >> 8);
    o[2] = static_cast<uint8_t>(v);
  }
  if (rest != 0) {
    const int32_t a = table[in[0]], b = table[in[1]], c = rest == 3 ? table[in[2]] : 0;
    if ((a | b | c) < 0) {
      SecureWipe(out.data(), out.size());
      return foreign();
    }
    const uint32_t v = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                       (static_cast<uint32_t>(c) << 6);
    // 2 characters carry 1 byte (4 spare bits), 3 carry 2 bytes (2 spare bits).
    const uint32_t spare = rest == 2 ? (v & 0xffff) : (v & 0xff);
    if (spare != 0) {
      SecureWipe(out.data(), out.size());
      return InvalidArgumentError("base64 text has non-zero trailing bits", "bad-base64");
    }
    o[0] = static_cast<uint8_t>(v >> 16);
    if (rest == 3) o[1] = static_cast<uint8_t>(v >> 8);
  }
  return out;
}

}  // namespace

std::string HexEncode(ByteSpan data) {
  std::string out;
  out.resize(data.size() * 2);
  for (size_t i = 0; i < data.size(); ++i) {
    out[2 * i] = kHexDigits[data[i] >> 4];
    out[2 * i + 1] = kHexDigits[data[i] & 15];
  }
  return out;
}

Result<Bytes> HexDecode(std::string_view text, bool allow_0x) {
  if (allow_0x && text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
  }
  if (text.size() % 2 != 0) {
    return InvalidArgumentError("hex text has odd length", "bad-hex");
  }
  Bytes out(text.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(text[2 * i]);
    int lo = HexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      // The bytes decoded so far may be part of a key: they leave memory wiped.
      SecureWipe(out.data(), out.size());
      return InvalidArgumentError("hex text has a non-hex digit", "bad-hex");
    }
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return out;
}

std::string Base64UrlEncode(ByteSpan data) { return B64Encode(data, kB64Url, false); }

Result<Bytes> Base64UrlDecode(std::string_view text) {
  static const auto table = ReverseTable(kB64Url, 64);
  return B64DecodeUnpadded(text, table);
}

std::string Base64Encode(ByteSpan data) { return B64Encode(data, kB64Std, true); }

Result<Bytes> Base64Decode(std::string_view text) {
  static const auto table = ReverseTable(kB64Std, 64);
  if (text.size() % 4 != 0) {
    return InvalidArgumentError("padded base64 text length is not a multiple of 4", "bad-base64");
  }
  size_t pad = 0;
  while (pad < 2 && !text.empty() && text.back() == '=') {
    text.remove_suffix(1);
    ++pad;
  }
  return B64DecodeUnpadded(text, table);
}

std::string Base58BtcEncode(ByteSpan data) {
  size_t zeros = 0;
  while (zeros < data.size() && data[zeros] == 0) ++zeros;
  // log(256)/log(58) ~ 1.366; digits are stored little-endian.
  std::vector<uint8_t> digits((data.size() - zeros) * 138 / 100 + 1, 0);
  size_t used = 0;
  for (size_t i = zeros; i < data.size(); ++i) {
    uint32_t carry = data[i];
    size_t j = 0;
    for (; j < used || carry != 0; ++j) {
      carry += static_cast<uint32_t>(digits[j]) * 256;
      digits[j] = static_cast<uint8_t>(carry % 58);
      carry /= 58;
    }
    used = j;
  }
  std::string out(zeros, '1');
  for (size_t i = used; i > 0; --i) out.push_back(kB58[digits[i - 1]]);
  return out;
}

Result<Bytes> Base58BtcDecode(std::string_view text) {
  static const auto table = ReverseTable(kB58, 58);
  size_t ones = 0;
  while (ones < text.size() && text[ones] == '1') ++ones;
  std::vector<uint8_t> bytes((text.size() - ones) * 733 / 1000 + 1, 0);  // log(58)/log(256)
  size_t used = 0;
  for (size_t i = ones; i < text.size(); ++i) {
    int8_t v = table[static_cast<uint8_t>(text[i])];
    if (v < 0) {
      return InvalidArgumentError("base58 text has a character outside its alphabet",
                                  "bad-base58");
    }
    uint32_t carry = static_cast<uint32_t>(v);
    size_t j = 0;
    for (; j < used || carry != 0; ++j) {
      carry += static_cast<uint32_t>(bytes[j]) * 58;
      bytes[j] = static_cast<uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    used = j;
  }
  Bytes out(ones, 0);
  for (size_t i = used; i > 0; --i) out.push_back(bytes[i - 1]);
  return out;
}

bool ConstantTimeEquals(ByteSpan a, ByteSpan b) {
  if (a.size() != b.size()) {
    return false;
  }
  volatile uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = static_cast<uint8_t>(diff | (a[i] ^ b[i]));
  }
  return diff == 0;
}

}  // namespace mandated
