// Internal to signer/: secp256k1 operations over libsecp256k1 0.2 (secp256k1_ec.cc). Callers use
// signature.h (ES256K) or recoverable.h (Ethereum), which dispatch here.
#pragma once

#include "signer/keys.h"

namespace mandated::signer::internal {

// Contracts as in signature.h, for KeyType::kSecp256k1.
Result<PrivateKey> Secp256k1GenerateKey(Random& random);
Result<PrivateKey> Secp256k1ImportPrivateKey(ByteSpan secret);
Result<PublicKey> Secp256k1DerivePublicKey(const PrivateKey& key);
Result<PublicKey> Secp256k1ParsePublicKey(ByteSpan bytes);
Result<Bytes> Secp256k1UncompressedPoint(const PublicKey& key);
Result<Bytes> Secp256k1Sign(const PrivateKey& key, ByteSpan message);
Status Secp256k1Verify(const PublicKey& key, ByteSpan message, ByteSpan signature,
                       const VerifyOptions& options);

}  // namespace mandated::signer::internal
