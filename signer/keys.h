// Key and signature types shared by every signer adapter (OpenSSL, libsecp256k1) and the
// formats above them (JWS, DIDs, EIP-712). See specs/signing.md.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "base/bytes.h"
#include "base/random.h"
#include "base/result.h"
#include "base/secret.h"

namespace mandated::signer {

enum class KeyType : uint8_t {
  kEd25519,    // RFC 8032; JOSE alg EdDSA (RFC 8037)
  kP256,       // secp256r1 / prime256v1; JOSE alg ES256
  kSecp256k1,  // JOSE alg ES256K (RFC 8812); Ethereum
};

std::string_view KeyTypeName(KeyType type);  // "Ed25519", "P-256", "secp256k1"
Result<KeyType> KeyTypeFromName(std::string_view name);

// A public key in its canonical byte form:
//   Ed25519: the 32-byte encoding;
//   P-256 and secp256k1: the 33-byte SEC1 compressed point (validated on the curve).
// Thread safety: a value type.
struct PublicKey {
  KeyType type = KeyType::kEd25519;
  Bytes bytes;
  friend bool operator==(const PublicKey&, const PublicKey&) = default;
};

// A private key: the 32-byte Ed25519 seed or the 32-byte big-endian EC scalar, held in memory
// that wipes itself. Never printed, never returned by an API.
// Thread safety: move-only value; one owner.
struct PrivateKey {
  KeyType type = KeyType::kEd25519;
  SecretBytes secret;
};

// How ECDSA signatures are encoded on the wire.
enum class SignatureFormat : uint8_t {
  kRaw,  // Ed25519 64 bytes; ECDSA r||s, 32 bytes each (JWS / IEEE P1363)
  kDer,  // ECDSA ASN.1 DER SEQUENCE { r, s }
};

struct VerifyOptions {
  SignatureFormat format = SignatureFormat::kRaw;
  // ECDSA only: accept s > n/2. Off by default for secp256k1 (we never emit high-S and
  // Ethereum rejects it); Wycheproof's plain ECDSA files expect it on.
  bool allow_high_s = false;
};

}  // namespace mandated::signer
