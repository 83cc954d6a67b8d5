// Ethereum account formats: addresses from secp256k1 keys, EIP-55 checksums, EIP-191 message hashes.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "signer/keys.h"

namespace mandated::signer {

inline constexpr size_t kEthereumAddressSize = 20;

// The account address of a secp256k1 public key: the last 20 bytes of keccak256(X || Y), as
// EIP-55 checksummed "0x..." text. kInvalidArgument ("bad-key") for other key types.
Result<std::string> EthereumAddress(const PublicKey& key);

// The same for the raw 20 address bytes of a known key.
Result<Bytes> EthereumAddressBytes(const PublicKey& key);

// The raw 20 address bytes of an uncompressed point's coordinates X || Y (64 bytes).
Bytes EthereumAddressOfPoint(ByteSpan xy64);

// "0x" + 40 hex digits with EIP-55 mixed-case checksum. REQUIRES: addr20.size() == 20 (other
// lengths are checksummed the same way, which is not meaningful). Spellings are remembered by
// address bytes (up to 1024, least recently used dropped first). Thread safety: safe to call
// concurrently.
std::string ToChecksumAddress(ByteSpan addr20);

// Parses "0x" + 40 hex digits into 20 bytes. Mixed-case text must be exactly the EIP-55 form
// (kInvalidArgument, reason "bad-address-checksum"); all-lower or all-upper text is accepted
// unless `require_checksum`, in which case only the EIP-55 form is. Anything else is
// kInvalidArgument with reason "bad-address". Texts that pass the checksum are remembered (up to
// 1024, least recently used dropped first), so a repeated address skips the Keccak-256.
// Thread safety: safe to call concurrently.
Result<Bytes> ParseAddress(std::string_view text, bool require_checksum);

// ParseAddress into a caller's 20 bytes (written only on success), with the same errors.
Status ParseAddressInto(std::string_view text, bool require_checksum,
                        std::span<uint8_t, kEthereumAddressSize> out);

// EIP-191 version 0x45 (personal_sign): keccak256("\x19Ethereum Signed Message:\n" +
// decimal(len(message)) + message). 32 bytes.
Bytes Eip191PersonalMessageHash(ByteSpan message);

}  // namespace mandated::signer
