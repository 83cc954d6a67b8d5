// AES-256-GCM sealing of secrets at rest (aead_openssl.cc): nonce || ciphertext || tag.
#pragma once

#include "base/bytes.h"
#include "base/random.h"
#include "base/result.h"
#include "base/secret.h"

namespace mandated::signer {

inline constexpr size_t kAes256GcmKeySize = 32;
inline constexpr size_t kAes256GcmNonceSize = 12;
inline constexpr size_t kAes256GcmTagSize = 16;
// Bytes a sealed box adds to its plaintext.
inline constexpr size_t kAes256GcmOverhead = kAes256GcmNonceSize + kAes256GcmTagSize;

// Thread safety: stateless functions; safe to call from any thread (Random must be too).

// Encrypts and authenticates `plaintext`, binding `aad` (authenticated, not stored). Returns
// 12-byte random nonce || ciphertext || 16-byte tag, i.e. plaintext.size() + 28 bytes.
// Errors: kInvalidArgument ("bad-key") if key32 is not 32 bytes; kUnavailable if `random`
// fails; kInternal on an OpenSSL failure.
// Random 96-bit nonces: keep the number of messages sealed under one key well below 2^32.
Result<Bytes> SealAes256Gcm(const SecretBytes& key32, ByteSpan plaintext, ByteSpan aad,
                            Random& random);

// Reverses SealAes256Gcm. Errors: kInvalidArgument ("bad-key") if key32 is not 32 bytes,
// kInvalidArgument ("aead-too-short") if `sealed` is shorter than 28 bytes;
// kUnauthenticated ("aead-auth-failed") if the key, the aad or any byte of `sealed` is wrong;
// kInternal on an OpenSSL failure. No plaintext is released unless the tag checks.
Result<SecretBytes> OpenAes256Gcm(const SecretBytes& key32, ByteSpan sealed, ByteSpan aad);

}  // namespace mandated::signer
