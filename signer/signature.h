// Signature operations over KeyType: key generation, public key derivation, sign and verify.
// Implemented by the OpenSSL adapter (Ed25519, P-256) and the libsecp256k1 adapter (secp256k1);
// signature.cc dispatches on the key type.
#pragma once

#include "signer/keys.h"

namespace mandated::signer {

// A fresh private key from `random`. kUnavailable if randomness fails.
Result<PrivateKey> GenerateKey(KeyType type, Random& random);

// Imports 32 secret bytes (Ed25519 seed or EC scalar). kInvalidArgument ("bad-key") when the
// length is wrong or the scalar is zero or not below the group order.
Result<PrivateKey> ImportPrivateKey(KeyType type, ByteSpan secret);

Result<PublicKey> DerivePublicKey(const PrivateKey& key);

// Parses a public key given as raw Ed25519 bytes or a SEC1 point (33 compressed or 65
// uncompressed bytes; hybrid 0x06/0x07 forms are refused), validates it (length, canonical
// encoding, on the curve; for Ed25519 every small-order point is refused) and returns it in
// canonical (compressed) form. kInvalidArgument ("bad-key") otherwise.
Result<PublicKey> ParsePublicKey(KeyType type, ByteSpan bytes);

// The uncompressed SEC1 point (65 bytes, 0x04 || X || Y) of an EC key. kInvalidArgument for Ed25519.
Result<Bytes> UncompressedPoint(const PublicKey& key);

// Signs `message`:
//   Ed25519: pure EdDSA over the message (64 bytes);
//   P-256 / secp256k1: ECDSA over SHA-256(message), r||s with low S (64 bytes). secp256k1 is
//   deterministic (RFC 6979); P-256 uses OpenSSL 3.0's random nonce (it has no RFC 6979), so its
//   signatures differ from run to run.
Result<Bytes> Sign(const PrivateKey& key, ByteSpan message);

// Verifies a signature made as Sign describes. Returns OK, or kUnauthenticated with reason
// "bad-signature" (wrong signature, malformed encoding, high S when not allowed);
// kInvalidArgument ("bad-key") if `key` is not a valid key of its type; kInternal if the crypto
// library itself fails.
Status Verify(const PublicKey& key, ByteSpan message, ByteSpan signature,
              const VerifyOptions& options = {});

// Prepared keys (Ed25519 and P-256). Sign and Verify keep the validated library key objects of the
// keys they used most recently, up to 1024 public and 1024 private keys with the least recently
// used dropped first, so a key is parsed and validated once instead of on every call; a key that
// fails validation is never kept. Private key objects are looked up by a salted SHA-256 of the
// key (never the secret itself) and wiped when dropped. secp256k1 keys need no preparation.
// DropPreparedKeys empties both caches (objects in use by a running call are freed after it).
// Thread safety: Sign, Verify and DropPreparedKeys are safe to call concurrently.
void DropPreparedKeys();

}  // namespace mandated::signer
