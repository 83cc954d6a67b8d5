// Byte strings and their text encodings: hex, base64url (RFC 4648 §5, unpadded) and base58btc.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace mandated {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

inline ByteSpan AsBytes(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string_view AsChars(ByteSpan b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Lower-case hex, no prefix.
std::string HexEncode(ByteSpan data);
// Accepts upper or lower case and an optional "0x" prefix only when allow_0x is true.
// Returns kInvalidArgument (reason "bad-hex") on odd length or a non-hex digit.
Result<Bytes> HexDecode(std::string_view text, bool allow_0x = false);

// base64url without padding (JOSE). Decoding is strict: no padding, no whitespace, no
// standard-alphabet characters, and non-canonical trailing bits are rejected.
std::string Base64UrlEncode(ByteSpan data);
Result<Bytes> Base64UrlDecode(std::string_view text);

// Standard base64 with padding (RFC 4648 §4), for formats that use it.
std::string Base64Encode(ByteSpan data);
Result<Bytes> Base64Decode(std::string_view text);

// Bitcoin base58 alphabet (multibase 'z' without the prefix). Leading zero bytes map to '1'.
std::string Base58BtcEncode(ByteSpan data);
// Takes time quadratic in text's length: callers bound it first.
Result<Bytes> Base58BtcDecode(std::string_view text);

// Constant-time equality for secrets and MACs: time depends only on the lengths.
bool ConstantTimeEquals(ByteSpan a, ByteSpan b);

}  // namespace mandated
