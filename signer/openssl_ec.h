// Internal to signer/: Ed25519 and P-256 operations implemented over OpenSSL 3.0
// (openssl_ec.cc). Callers use signature.h, which dispatches here.
#pragma once

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

}  // namespace mandated::signer::internal
