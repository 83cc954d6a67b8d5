// Interop: JWTs we sign with each algorithm under a did:key issuer are verified by npm `jose`
// (public JWK only) and `did-jwt` (resolving did:key), pinned in tests/interop/package-lock.json.
#include <gtest/gtest.h>
#include <stdio.h>

#include <fstream>

#include "base/json.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"
#include "tests/support/test_support.h"

namespace mandated::signer {
namespace {

using testing::StringField;

// Runs the interop script on `cases` and returns its parsed output (an array).
json::Value RunNodeVerifier(const json::Value& cases) {
  json::Value v = testing::RunInteropScript("verify_jws.mjs", cases);
  return v.is_array() ? v : json::Value::Array();
}

TEST(JwsInterop, JoseAndDidJwtVerifyOurTokensForEveryAlgorithm) {
  const std::string aud = "did:web:merchant.example";
  json::Value cases = json::Value::Array();
  std::map<std::string, std::string> issuers;
  for (KeyType t : {KeyType::kEd25519, KeyType::kP256, KeyType::kSecp256k1}) {
    PrivateKey key = *GenerateKey(t, SystemRandom::Get());
    PublicKey pub = *DerivePublicKey(key);
    const std::string did = DidKeyFromPublicKey(pub);
    json::Value header = json::Value::Object();
    header.Set("typ", json::Value::String("JWT"));
    header.Set("kid", json::Value::String(DidKeyVerificationMethodId(pub)));
    json::Value claims = json::Value::Object();
    claims.Set("iss", json::Value::String(did));
    claims.Set("sub", json::Value::String("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"));
    claims.Set("aud", json::Value::String(aud));
    claims.Set("iat", json::Value::Int(1767225600));
    claims.Set("exp", json::Value::Int(4102444800));
    claims.Set("jti", json::Value::String("urn:uuid:" + std::string(JwsAlgFor(t))));
    const std::string token = *SignJws(key, header, json::Write(claims));
    const std::string alg(JwsAlgFor(t));
    issuers[alg] = did;
    for (bool tamper : {false, true}) {
      std::string tok = token;
      if (tamper) {
        // Flip one character of the payload: the signature no longer matches.
        size_t at = tok.find('.') + 5;
        tok[at] = tok[at] == 'A' ? 'B' : 'A';
      }
      json::Value c = json::Value::Object();
      c.Set("name", json::Value::String(alg + (tamper ? " tampered" : "")));
      c.Set("token", json::Value::String(tok));
      c.Set("jwk", PublicKeyToJwk(pub));
      c.Set("alg", json::Value::String(alg));
      c.Set("audience", json::Value::String(aud));
      cases.Append(std::move(c));
    }
  }
  json::Value results = RunNodeVerifier(cases);
  ASSERT_EQ(results.items().size(), 6u);
  for (const json::Value& r : results.items()) {
    const std::string name = StringField(r, "name");
    SCOPED_TRACE(name);
    if (name.find("tampered") != std::string::npos) {
      EXPECT_NE(StringField(r, "jose"), "ok");
      EXPECT_NE(StringField(r, "did_jwt"), "ok");
      continue;
    }
    EXPECT_EQ(StringField(r, "jose"), "ok");
    EXPECT_EQ(StringField(r, "jose_alg"), name);
    EXPECT_EQ(StringField(r, "did_jwt"), "ok");
    EXPECT_EQ(StringField(r, "did_jwt_issuer"), issuers[name]);
    EXPECT_EQ(StringField(r, "did_jwt_signer").substr(0, issuers[name].size()), issuers[name]);
  }
}

}  // namespace
}  // namespace mandated::signer
