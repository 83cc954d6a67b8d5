// JWS compact serialization (RFC 7515) for EdDSA (RFC 8037), ES256 and ES256K (RFC 8812), and
// DID-bound JWT verification. Strict by design (specs/signing.md §JWS): the algorithm comes from
// the key, never from the token alone.
#pragma once

#include <string>
#include <string_view>

#include "base/json.h"
#include "signer/did.h"
#include "signer/keys.h"

namespace mandated::signer {

// The JOSE alg we emit for a key type: EdDSA, ES256, ES256K.
std::string_view JwsAlgFor(KeyType type);
// The key type an alg needs: EdDSA (and the fully-specified "Ed25519") Ed25519, ES256 P-256,
// ES256K secp256k1. kUnauthenticated "alg-none" for "none", "unknown-alg" for anything else.
Result<KeyType> KeyTypeForAlg(std::string_view alg);

// A parsed, not yet verified, compact JWS.
struct Jws {
  json::Value header;        // the protected header (strictly parsed JSON object)
  std::string alg;           // header "alg"
  std::string kid;           // header "kid" ("" if absent)
  std::string typ;           // header "typ" ("" if absent)
  std::string payload;       // decoded payload bytes
  std::string signing_input; // BASE64URL(header) "." BASE64URL(payload), as received
  Bytes signature;
};

// Signs `payload` with `key`. `header` must be a JSON object; its "alg" is set (first, if absent)
// to JwsAlgFor(key.type) and if present must equal it. Output: header.payload.signature, each
// base64url without padding; ECDSA signatures are r||s with low S.
Result<std::string> SignJws(const PrivateKey& key, json::Value header, std::string_view payload);

// Structural parse. kInvalidArgument ("bad-jws") for anything but three strict base64url parts
// with a JSON-object header carrying a string "alg".
Result<Jws> ParseJws(std::string_view compact);

struct JwsVerifyOptions {
  bool allow_high_s = false;  // ECDSA: accept s > n/2 (never needed for tokens we issue)
};

// Verifies `jws` with `key`. Errors are kUnauthenticated with reasons:
//   "alg-none"          alg "none";
//   "unknown-alg"       an alg we do not implement;
//   "alg-key-mismatch"  the alg does not belong to the key's type (EdDSA/Ed25519 for Ed25519,
//                       ES256 for P-256, ES256K for secp256k1);
//   "unsupported-crit"  a "crit" header (we understand no extensions) or "b64": false;
//   "bad-signature"     the signature does not verify (including high S when not allowed).
Status VerifyJws(const Jws& jws, const PublicKey& key, const JwsVerifyOptions& options = {});

// Verifies a JWT whose header "kid" is a DID URL resolved by `resolver`, and whose payload is a
// JSON object with "iss" equal to the DID part of kid. Without a kid, a did:key "iss" names the
// key itself; any other issuer then fails with "kid-missing". Returns the payload claims. Reasons beyond
// VerifyJws's: "bad-jws" (structure, non-object payload), "kid-missing", "kid-unresolvable",
// "kid-issuer-mismatch". Time and audience checks belong to the caller.
Result<json::Value> VerifyDidJwt(std::string_view compact, DidResolver& resolver,
                                 const JwsVerifyOptions& options = {});

}  // namespace mandated::signer
