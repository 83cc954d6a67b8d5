// Recoverable secp256k1 signatures over a 32-byte digest, as Ethereum uses them (EIP-191,
// EIP-712, EIP-3009): 65 bytes r || s || v with v in {27, 28}, always low S.
#pragma once

#include "signer/keys.h"

namespace mandated::signer {

// Signs a 32-byte digest (no further hashing). REQUIRES: key.type == kSecp256k1, digest is 32
// bytes; else kInvalidArgument. Deterministic (RFC 6979), low S.
Result<Bytes> SignDigestRecoverable(const PrivateKey& key, ByteSpan digest32);

// Recovers the signer's public key from a 65-byte r||s||v signature over a 32-byte digest.
// Accepts v in {27, 28} (and {0, 1} only when allow_raw_v). Rejects high S unless allow_high_s.
// Errors: kUnauthenticated ("bad-signature") when nothing valid can be recovered.
struct RecoverOptions {
  bool allow_high_s = false;
  bool allow_raw_v = false;
};
Result<PublicKey> RecoverDigest(ByteSpan digest32, ByteSpan signature65,
                                const RecoverOptions& options = {});
// The same recovery, straight to the signer's 20-byte Ethereum address (what EthereumAddressBytes
// of RecoverDigest's key gives, without compressing the point and decompressing it again).
Result<Bytes> RecoverEthereumAddress(ByteSpan digest32, ByteSpan signature65,
                                     const RecoverOptions& options = {});

}  // namespace mandated::signer
