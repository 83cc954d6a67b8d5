// Internal to signer/: Ed25519 and P-256 operations implemented over OpenSSL 3.0
// (openssl_ec.cc). Callers use signature.h, which dispatches here.
#pragma once

#include <cstdint>

#include "signer/keys.h"

namespace mandated::signer::internal {

// REQUIRES for all: type is kEd25519 or kP256. Contracts as in signature.h.
Result<PrivateKey> OpensslGenerateKey(KeyType type, Random& random);
Result<PrivateKey> OpensslImportPrivateKey(KeyType type, ByteSpan secret);
Result<PublicKey> OpensslDerivePublicKey(const PrivateKey& key);
Result<PublicKey> OpensslParsePublicKey(KeyType type, ByteSpan bytes);
Result<Bytes> OpensslUncompressedPoint(const PublicKey& key);  // P-256 only
Result<Bytes> OpensslSign(const PrivateKey& key, ByteSpan message);
Status OpensslVerify(const PublicKey& key, ByteSpan message, ByteSpan signature,
                     const VerifyOptions& options);

// Empties the prepared-key caches behind OpensslSign and OpensslVerify (see DropPreparedKeys).
void OpensslDropPreparedKeys();

// How many keys OpensslSign and OpensslVerify have validated and built into EVP_PKEY objects since
// the process started, i.e. their cache misses. Tests use it to check that each distinct key is
// validated once, not per call.
uint64_t OpensslKeyPreparationsForTest();

}  // namespace mandated::signer::internal
