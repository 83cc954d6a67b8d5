// Ethereum addresses (keccak of the uncompressed point), EIP-55 checksums and EIP-191 hashes.
#include "signer/ethereum.h"

#include <array>
#include <string>

#include "signer/keccak.h"
#include "signer/signature.h"

namespace mandated::signer {
namespace {

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

Status BadAddress(std::string_view text, std::string_view why) {
  return InvalidArgumentError("invalid Ethereum address \"" + std::string(text) + "\": " +
                                  std::string(why),
                              "bad-address");
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
  const Bytes hash = Keccak256(ByteSpan(point).subspan(1));  // X || Y, 64 bytes
  return Bytes(hash.end() - kEthereumAddressSize, hash.end());
}

Result<std::string> EthereumAddress(const PublicKey& key) {
  MD_ASSIGN_OR_RETURN(Bytes address, EthereumAddressBytes(key));
  return ToChecksumAddress(address);
}

std::string ToChecksumAddress(ByteSpan addr20) {
  std::string hex = HexEncode(addr20);  // lower case, as EIP-55 hashes it
  const Bytes hash = Keccak256(AsBytes(hex));
  for (size_t i = 0; i < hex.size() && i / 2 < hash.size(); ++i) {
    const uint8_t nibble = (i % 2 == 0) ? (hash[i / 2] >> 4) : (hash[i / 2] & 0x0f);
    if (nibble >= 8 && hex[i] >= 'a' && hex[i] <= 'f') {
      hex[i] = static_cast<char>(hex[i] - 'a' + 'A');
    }
  }
  return "0x" + hex;
}

Result<Bytes> ParseAddress(std::string_view text, bool require_checksum) {
  if (text.size() != 2 + 2 * kEthereumAddressSize || text.substr(0, 2) != "0x") {
    return BadAddress(text, "expected 0x followed by 40 hex digits");
  }
  const std::string_view digits = text.substr(2);
  bool has_lower = false;
  bool has_upper = false;
  for (char c : digits) {
    if (!IsHexDigit(c)) {
      return BadAddress(text, "expected 0x followed by 40 hex digits");
    }
    has_lower = has_lower || (c >= 'a' && c <= 'f');
    has_upper = has_upper || (c >= 'A' && c <= 'F');
  }
  MD_ASSIGN_OR_RETURN(Bytes bytes, HexDecode(digits));
  const bool uniform_case = !(has_lower && has_upper);
  if (uniform_case && !require_checksum) {
    return bytes;
  }
  if (ToChecksumAddress(bytes) != text) {
    return InvalidArgumentError("Ethereum address \"" + std::string(text) +
                                    "\" does not match its EIP-55 checksum",
                                "bad-address-checksum");
  }
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
