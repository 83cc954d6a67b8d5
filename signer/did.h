// DIDs and JWKs for our key types: did:key (Ed25519, secp256k1, P-256), did:pkh:eip155, JWK
// (RFC 7517/8037/8812) and the resolver port used by verifiers (specs/signing.md §DIDs).
#pragma once

#include <string>
#include <string_view>

#include "base/json.h"
#include "signer/keys.h"

namespace mandated::signer {

// did:key:z<base58btc(multicodec varint || key)>. EC keys are encoded compressed (33 bytes).
std::string DidKeyFromPublicKey(const PublicKey& key);
// The multibase part alone ("z6Mk..."), which is also the verification method fragment.
std::string MultibaseFromPublicKey(const PublicKey& key);

// Decodes strictly: "did:key:z" prefix (multibase base58btc only), minimal varint, a supported
// codec (0xed Ed25519, 0xe7 secp256k1, 0x1200 P-256), exact key length (32 / 33 / 33: uncompressed
// points are refused), point on the curve. kInvalidArgument with reason "bad-did" otherwise.
Result<PublicKey> PublicKeyFromDidKey(std::string_view did);

// The verification method id of a did:key: "<did>#<multibase>".
std::string DidKeyVerificationMethodId(const PublicKey& key);

// did:pkh:eip155:<chain id>:<EIP-55 address> for a secp256k1 key.
Result<std::string> DidPkhFromPublicKey(const PublicKey& key, uint64_t chain_id);

// JWK of a public key: OKP/Ed25519 {crv,kty,x}; EC {crv,kty,x,y} with crv "P-256" or "secp256k1".
json::Value PublicKeyToJwk(const PublicKey& key);
// Parses a public JWK; refuses private members ("d"), unknown kty/crv and invalid points
// (reason "bad-jwk").
Result<PublicKey> PublicKeyFromJwk(const json::Value& jwk);
// RFC 7638 thumbprint (SHA-256, base64url).
std::string JwkThumbprint(const PublicKey& key);

// Resolves a DID URL naming a verification method (e.g. "did:key:z6Mk...#z6Mk...") to its key.
// Thread safety: implementations are safe from any thread.
class DidResolver {
 public:
  virtual ~DidResolver() = default;
  // kNotFound ("kid-unresolvable") if the method cannot be resolved.
  virtual Result<PublicKey> ResolveVerificationMethod(std::string_view did_url) = 0;
};

// Resolves did:key URLs offline. The fragment must be absent or equal the key's multibase.
class DidKeyResolver final : public DidResolver {
 public:
  Result<PublicKey> ResolveVerificationMethod(std::string_view did_url) override;
};

}  // namespace mandated::signer
