// Fuzz target: DIDs and the documents that name their keys (signer/did.h, signer/ethereum.h,
// mandates/verifier.h DocumentResolver; specs/signing.md §DIDs). The input is tried as a did:key
// or DID URL, an Ethereum address (the did:pkh account part), a JWK, and a did:web document or
// JWKS. Properties: no crash; a did:key that decodes encodes back to the same text (the decoder
// is strict, so there is one spelling per key); a key read from a JWK writes a JWK that reads
// back to the same key; an address that parses prints as EIP-55 text that parses back to it;
// every method a document registers resolves to a key.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/json.h"
#include "mandates/verifier.h"
#include "signer/did.h"
#include "signer/ethereum.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using mandated::Result;
namespace json = mandated::json;
namespace signer = mandated::signer;

void CheckKey(const signer::PublicKey& key) {
  const signer::PublicKey again_jwk = [&] {
    Result<signer::PublicKey> k = signer::PublicKeyFromJwk(signer::PublicKeyToJwk(key));
    FUZZ_CHECK(k.ok());
    return *k;
  }();
  FUZZ_CHECK(again_jwk == key);
  (void)signer::JwkThumbprint(key);
  const std::string did = signer::DidKeyFromPublicKey(key);
  Result<signer::PublicKey> again = signer::PublicKeyFromDidKey(did);
  FUZZ_CHECK(again.ok() && *again == key);
  signer::DidKeyResolver resolver;
  Result<signer::PublicKey> resolved =
      resolver.ResolveVerificationMethod(signer::DidKeyVerificationMethodId(key));
  FUZZ_CHECK(resolved.ok() && *resolved == key);
  if (key.type == signer::KeyType::kSecp256k1) {
    FUZZ_CHECK(signer::DidPkhFromPublicKey(key, 8453).ok());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  Result<signer::PublicKey> key = signer::PublicKeyFromDidKey(text);
  if (key.ok()) {
    FUZZ_CHECK(signer::DidKeyFromPublicKey(*key) == text);
    CheckKey(*key);
  }
  signer::DidKeyResolver did_key;
  Result<signer::PublicKey> resolved = did_key.ResolveVerificationMethod(text);
  if (resolved.ok()) {
    CheckKey(*resolved);
  }

  for (bool checksum : {false, true}) {
    Result<mandated::Bytes> addr = signer::ParseAddress(text, checksum);
    if (addr.ok()) {
      FUZZ_CHECK(addr->size() == 20);
      Result<mandated::Bytes> again = signer::ParseAddress(signer::ToChecksumAddress(*addr), true);
      FUZZ_CHECK(again.ok() && *again == *addr);
    }
  }

  Result<json::Value> doc = json::Parse(text);
  if (!doc.ok()) {
    return 0;
  }
  Result<signer::PublicKey> jwk = signer::PublicKeyFromJwk(*doc);
  if (jwk.ok()) {
    CheckKey(*jwk);
  }
  mandated::mandates::DocumentResolver documents;
  const bool added = documents.AddDidDocument(*doc).ok();
  const bool jwks = documents.AddJwks(*doc).ok();
  if ((added || jwks) && doc->is_object()) {
    // The methods the document names by id, absolute or relative to the DID.
    const json::Value* id = doc->Find("id");
    const json::Value* methods = doc->Find(jwks ? "keys" : "verificationMethod");
    if (methods != nullptr && methods->is_array()) {
      for (const json::Value& m : methods->items()) {
        const json::Value* mid = m.is_object() ? m.Find(jwks ? "kid" : "id") : nullptr;
        if (mid == nullptr || !mid->is_string()) {
          continue;
        }
        std::string url = mid->as_string();
        if (!url.empty() && url[0] == '#' && id != nullptr && id->is_string()) {
          url = id->as_string() + url;
        }
        Result<signer::PublicKey> k = documents.ResolveVerificationMethod(url);
        if (k.ok()) {
          CheckKey(*k);
        }
      }
    }
  }
  return 0;
}
