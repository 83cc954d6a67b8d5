// Ethereum addresses (keccak of the uncompressed point), EIP-55 checksums and EIP-191 hashes.
#include "signer/ethereum.h"

#include <algorithm>
#include <array>
#include <memory>
#include <string>

#include "signer/bounded_cache.h"
#include "signer/hex_table.h"
#include "signer/keccak.h"
#include "signer/signature.h"

namespace mandated::signer {
namespace {

Status BadAddress(std::string_view text, std::string_view why) {
  return InvalidArgumentError("invalid Ethereum address \"" + std::string(text) + "\": " +
                                  std::string(why),
                              "bad-address");
}

// Address texts that passed the EIP-55 check, so an address seen again (a token contract, a
// merchant, a payer) costs a lookup instead of a Keccak-256. Holds only public text that was
// verified in full, at most kChecksumMemoCapacity entries, least recently used dropped first.
// Thread safety: the memo is a BoundedCache (synchronized); Checked is an empty marker value.
struct Checked {};
constexpr size_t kChecksumMemoCapacity = 1024;

BoundedCache<Checked>& ChecksumMemo() {
  // Never destroyed: other static destructors may still parse addresses during shutdown.
  static BoundedCache<Checked>* const kMemo = new BoundedCache<Checked>(kChecksumMemoCapacity);
  return *kMemo;
}

// EIP-55 spellings by address bytes, so the text of an address written again (a payer in every
// answer, a token, a merchant) costs a lookup instead of a Keccak-256. The same bound and
// thread safety as the memo above; holds only public addresses.
BoundedCache<std::string>& SpellingMemo() {
  // Never destroyed, as the memo above.
  static BoundedCache<std::string>* const kMemo =
      new BoundedCache<std::string>(kChecksumMemoCapacity);
  return *kMemo;
}

// Whether `digits` (40 hex digits) are exactly the EIP-55 spelling of `addr20`.
bool MatchesChecksum(std::string_view digits, ByteSpan addr20) {
  static constexpr char kLower[] = "0123456789abcdef";
  std::array<char, 2 * kEthereumAddressSize> lower;
  for (size_t i = 0; i < kEthereumAddressSize; ++i) {
    lower[2 * i] = kLower[addr20[i] >> 4];
    lower[2 * i + 1] = kLower[addr20[i] & 0x0f];
  }
  Keccak256Hasher hasher;
  hasher.Update(AsBytes(std::string_view(lower.data(), lower.size())));
  const std::array<uint8_t, Keccak256Hasher::kDigestSize> hash = hasher.Finish();
  for (size_t i = 0; i < lower.size(); ++i) {
    const uint8_t nibble = (i % 2 == 0) ? (hash[i / 2] >> 4) : (hash[i / 2] & 0x0f);
    const char c = lower[i];
    const char expected =
        (nibble >= 8 && c >= 'a' && c <= 'f') ? static_cast<char>(c - 'a' + 'A') : c;
    if (digits[i] != expected) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<Bytes> EthereumAddressBytes(const PublicKey& key) {
  if (key.type != KeyType::kSecp256k1) {
    return InvalidArgumentError(
        "Ethereum addresses need a secp256k1 key, not " + std::string(KeyTypeName(key.type)),
        "bad-key");
  }
  MD_ASSIGN_OR_RETURN(Bytes point, UncompressedPoint(key));
  if (point.size() != 65 || point[0] != 0x04) {
    return InternalError("unexpected uncompressed point encoding");
  }
  return EthereumAddressOfPoint(ByteSpan(point).subspan(1));
}

Bytes EthereumAddressOfPoint(ByteSpan xy64) {
  const Bytes hash = Keccak256(xy64);
  return Bytes(hash.end() - kEthereumAddressSize, hash.end());
}

Result<std::string> EthereumAddress(const PublicKey& key) {
  MD_ASSIGN_OR_RETURN(Bytes address, EthereumAddressBytes(key));
  return ToChecksumAddress(address);
}

std::string ToChecksumAddress(ByteSpan addr20) {
  const std::string_view key(reinterpret_cast<const char*>(addr20.data()), addr20.size());
  if (std::shared_ptr<const std::string> hit = SpellingMemo().Find(key); hit != nullptr) {
    return *hit;
  }
  std::string hex = HexEncode(addr20);  // lower case, as EIP-55 hashes it
  const Bytes hash = Keccak256(AsBytes(hex));
  for (size_t i = 0; i < hex.size() && i / 2 < hash.size(); ++i) {
    const uint8_t nibble = (i % 2 == 0) ? (hash[i / 2] >> 4) : (hash[i / 2] & 0x0f);
    if (nibble >= 8 && hex[i] >= 'a' && hex[i] <= 'f') {
      hex[i] = static_cast<char>(hex[i] - 'a' + 'A');
    }
  }
  return *SpellingMemo().Insert(key, std::make_shared<const std::string>("0x" + hex));
}

Status ParseAddressInto(std::string_view text, bool require_checksum,
                        std::span<uint8_t, kEthereumAddressSize> out) {
  if (text.size() != 2 + 2 * kEthereumAddressSize || text.substr(0, 2) != "0x") {
    return BadAddress(text, "expected 0x followed by 40 hex digits");
  }
  const std::string_view digits = text.substr(2);
  bool has_lower = false;
  bool has_upper = false;
  uint8_t invalid = 0;  // any bit above the low nibble marks a non-hex character
  std::array<uint8_t, kEthereumAddressSize> bytes;
  for (size_t i = 0; i < digits.size(); ++i) {
    const char c = digits[i];
    const uint8_t v = internal::HexDigitValue(c);
    invalid |= v;
    if (v >= 10) {  // a letter (or not hex at all, refused below): 0x20 is set in lower case
      has_lower = has_lower || (c & 0x20) != 0;
      has_upper = has_upper || (c & 0x20) == 0;
    }
    if (i % 2 == 0) {
      bytes[i / 2] = static_cast<uint8_t>(v << 4);
    } else {
      bytes[i / 2] = static_cast<uint8_t>(bytes[i / 2] | (v & 0x0f));
    }
  }
  if ((invalid & 0xf0) != 0) {
    return BadAddress(text, "expected 0x followed by 40 hex digits");
  }
  const bool uniform_case = !(has_lower && has_upper);
  const bool checked = (uniform_case && !require_checksum) || ChecksumMemo().Contains(text);
  if (!checked) {
    if (!MatchesChecksum(digits, bytes)) {
      return InvalidArgumentError("Ethereum address \"" + std::string(text) +
                                      "\" does not match its EIP-55 checksum",
                                  "bad-address-checksum");
    }
    ChecksumMemo().Insert(text, std::make_shared<const Checked>());
  }
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return OkStatus();
}

Result<Bytes> ParseAddress(std::string_view text, bool require_checksum) {
  Bytes bytes(kEthereumAddressSize);
  const std::span<uint8_t, kEthereumAddressSize> out(bytes.data(), bytes.size());
  MD_RETURN_IF_ERROR(ParseAddressInto(text, require_checksum, out));
  return bytes;
}

Bytes Eip191PersonalMessageHash(ByteSpan message) {
  Keccak256Hasher hasher;
  const std::string prefix =
      "\x19" "Ethereum Signed Message:\n" + std::to_string(message.size());
  hasher.Update(AsBytes(prefix));
  hasher.Update(message);
  const std::array<uint8_t, Keccak256Hasher::kDigestSize> digest = hasher.Finish();
  return Bytes(digest.begin(), digest.end());
}

}  // namespace mandated::signer
