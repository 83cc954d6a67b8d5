// Fuzz target: compact JWS and DID-bound JWTs (signer/jws.h, specs/signing.md §JWS). The input
// is a token as it arrives in a request. Properties: no crash; a token that parses is checked
// against a fixed key of each type (Ed25519, P-256, secp256k1) and through the did:key resolver
// without crashing; and the input signed as a payload by each fixed key verifies with that key
// and carries the payload through unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/json.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using mandated::Result;
namespace json = mandated::json;
namespace signer = mandated::signer;

struct FixedKey {
  signer::PrivateKey priv;
  signer::PublicKey pub;
};

FixedKey Load(signer::KeyType type, std::string_view hex) {
  Result<mandated::Bytes> secret = mandated::HexDecode(hex);
  FUZZ_CHECK(secret.ok());
  Result<signer::PrivateKey> priv = signer::ImportPrivateKey(type, *secret);
  FUZZ_CHECK(priv.ok());
  Result<signer::PublicKey> pub = signer::DerivePublicKey(*priv);
  FUZZ_CHECK(pub.ok());
  return FixedKey{std::move(*priv), *pub};
}

// The fixed key set: RFC 8037 A.1's Ed25519 key, RFC 6979 A.2.5's P-256 key, and a secp256k1
// key. These keys sign the seed corpus's tokens (tests/fuzz/make_corpus.sh).
const std::vector<FixedKey>& Keys() {
  static const std::vector<FixedKey> keys = [] {
    std::vector<FixedKey> k;
    k.push_back(Load(signer::KeyType::kEd25519,
                     "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
    k.push_back(Load(signer::KeyType::kP256,
                     "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"));
    k.push_back(Load(signer::KeyType::kSecp256k1,
                     "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"));
    return k;
  }();
  return keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<signer::Jws> jws = signer::ParseJws(text);
  if (jws.ok()) {
    (void)signer::KeyTypeForAlg(jws->alg);
    signer::JwsVerifyOptions lenient;
    lenient.allow_high_s = true;
    for (const FixedKey& key : Keys()) {
      (void)signer::VerifyJws(*jws, key.pub);
      (void)signer::VerifyJws(*jws, key.pub, lenient);
    }
  }
  signer::DidKeyResolver resolver;
  (void)signer::VerifyDidJwt(text, resolver);

  // Signing what arrived as a payload: the token verifies and gives the payload back.
  if (size <= 4096) {
    for (const FixedKey& key : Keys()) {
      json::Value header = json::Value::Object();
      header.Set("kid", json::Value::String(signer::DidKeyVerificationMethodId(key.pub)));
      Result<std::string> token = signer::SignJws(key.priv, header, text);
      FUZZ_CHECK(token.ok());
      Result<signer::Jws> parsed = signer::ParseJws(*token);
      FUZZ_CHECK(parsed.ok());
      FUZZ_CHECK(parsed->payload == text);
      FUZZ_CHECK(signer::VerifyJws(*parsed, key.pub).ok());
    }
  }
  return 0;
}
