// JWS and did:key against RFC 8037, the did:key vectors (positive and negative) and the did:key
// JWS self-test vectors, including every invalid token.
#include "signer/jws.h"

#include <gtest/gtest.h>

#include "signer/did.h"
#include "signer/signature.h"
#include "tests/support/test_support.h"

namespace mandated::signer {
namespace {

using testing::StringField;

json::Value LoadJson(const std::string& rel) {
  Result<json::Value> v = json::Parse(testing::ReadFileOrDie(testing::SourcePath(rel)));
  EXPECT_TRUE(v.ok()) << rel;
  return v.ok() ? *v : json::Value();
}

PrivateKey Import(KeyType t, const std::string& hex) {
  Result<PrivateKey> k = ImportPrivateKey(t, *HexDecode(hex));
  EXPECT_TRUE(k.ok()) << k.error().ToString();
  return std::move(*k);
}

// RFC 8037 Appendix A.4: the EdDSA JWS, byte for byte.
TEST(Jws, ReproducesRfc8037ExampleByteForByte) {
  json::Value v = LoadJson("tests/vectors/jws/rfc8037-ed25519.json");
  PrivateKey key = Import(KeyType::kEd25519, StringField(v, "privateKeyHex"));
  json::Value header = json::Value::Object();
  header.Set("alg", json::Value::String("EdDSA"));
  Result<std::string> jws = SignJws(key, header, StringField(v, "payload"));
  ASSERT_TRUE(jws.ok()) << jws.error().ToString();
  EXPECT_EQ(*jws, StringField(v, "jws"));
  PublicKey pub = *DerivePublicKey(key);
  EXPECT_EQ(HexEncode(pub.bytes), StringField(v, "publicKeyHex"));
  EXPECT_EQ(StringField(PublicKeyToJwk(pub), "x"), StringField(*v.Find("publicJwk"), "x"));
  EXPECT_EQ(JwkThumbprint(pub), StringField(v, "jwkThumbprintSha256"));
  EXPECT_EQ(DidKeyFromPublicKey(pub), StringField(v, "didKeyOfThisKey"));
  Result<Jws> parsed = ParseJws(*jws);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(VerifyJws(*parsed, pub).ok());
}

TEST(DidKey, EveryPositiveVectorRoundTrips) {
  json::Value v = LoadJson("tests/vectors/did-key/did-key-derived.json");
  int checked = 0;
  for (const json::Value& c : v.Find("positive")->items()) {
    const std::string did = StringField(c, "did");
    SCOPED_TRACE(did);
    Result<PublicKey> key = PublicKeyFromDidKey(did);
    ASSERT_TRUE(key.ok()) << key.error().ToString();
    EXPECT_EQ(std::string(KeyTypeName(key->type)), StringField(c, "keyType"));
    EXPECT_EQ(HexEncode(key->bytes), StringField(c, "publicKeyHex"));
    EXPECT_EQ(DidKeyFromPublicKey(*key), did);
    EXPECT_EQ(MultibaseFromPublicKey(*key), StringField(c, "publicKeyMultibase"));
    EXPECT_EQ(DidKeyVerificationMethodId(*key), StringField(c, "verificationMethodId"));
    // The JWK matches member for member, and parses back to the same key.
    const json::Value& jwk = *c.Find("publicKeyJwk");
    json::Value ours = PublicKeyToJwk(*key);
    for (const char* m : {"kty", "crv", "x", "y"}) {
      EXPECT_EQ(StringField(ours, m), StringField(jwk, m)) << m;
    }
    EXPECT_EQ(*PublicKeyFromJwk(jwk), *key);
    if (!StringField(c, "privateKeyHex").empty()) {
      Result<KeyType> t = KeyTypeFromName(StringField(c, "keyType"));
      PrivateKey priv = Import(*t, StringField(c, "privateKeyHex"));
      EXPECT_EQ(*DerivePublicKey(priv), *key);
    }
    ++checked;
  }
  EXPECT_EQ(checked, 14);
}

TEST(DidKey, EveryNegativeVectorIsRefused) {
  json::Value v = LoadJson("tests/vectors/did-key/did-key-derived.json");
  int checked = 0;
  for (const json::Value& c : v.Find("negative")->items()) {
    SCOPED_TRACE(StringField(c, "reason"));
    Result<PublicKey> key = PublicKeyFromDidKey(StringField(c, "did"));
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.error().reason(), "bad-did");
    ++checked;
  }
  EXPECT_EQ(checked, 7);
  EXPECT_EQ(PublicKeyFromDidKey("did:web:example.com").error().reason(), "bad-did");
  EXPECT_EQ(PublicKeyFromDidKey("did:key:z").error().reason(), "bad-did");
  EXPECT_EQ(PublicKeyFromDidKey("did:key:z0OIl").error().reason(), "bad-did");
}

// Base58 decoding is quadratic: a DID longer than any key's is refused before it is decoded
// (a 45,000-digit one took seconds of CPU per request at the unauthenticated session route).
TEST(DidKeyDecoding, AMultibaseLongerThanAnyKeysIsRefusedBeforeDecoding) {
  const PublicKey p256 = *ParsePublicKey(KeyType::kP256, *HexDecode(
      "036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"));
  const std::string longest = DidKeyFromPublicKey(p256);
  EXPECT_LE(longest.size() - std::string("did:key:").size(), 1024u);
  EXPECT_TRUE(PublicKeyFromDidKey(longest).ok());
  // 1,024 characters of multibase are decoded (and found to be no key); 1,025 are not.
  const std::string at_cap = "did:key:z" + std::string(1023, '2');
  Result<PublicKey> decoded = PublicKeyFromDidKey(at_cap);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().reason(), "bad-did");
  EXPECT_EQ(decoded.error().message().find("longer"), std::string::npos) << decoded.error().message();
  for (const size_t digits : {1024u, 45000u}) {
    Result<PublicKey> refused = PublicKeyFromDidKey("did:key:z" + std::string(digits, '2'));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().reason(), "bad-did");
    EXPECT_EQ(refused.error().message(),
              "did:key is longer than any key's (1024 characters after did:key:)");
  }
}

TEST(JwsVectors, ValidTokensReproduceAndVerifyWithDidKeyIssuers) {
  json::Value v = LoadJson("tests/vectors/jws/didkey-jws-selftest.json");
  DidKeyResolver resolver;
  int checked = 0;
  for (const json::Value& c : v.Find("valid")->items()) {
    SCOPED_TRACE(StringField(c, "name"));
    const std::string token = StringField(c, "token");
    Result<json::Value> claims = VerifyDidJwt(token, resolver);
    ASSERT_TRUE(claims.ok()) << claims.error().ToString();
    EXPECT_EQ(StringField(*claims, "iss"), StringField(c, "did"));
    // Our signer reproduces the deterministic tokens (EdDSA, ES256K) byte for byte and makes a
    // verifying ES256 token (ECDSA P-256 in OpenSSL uses a random nonce).
    Result<PublicKey> pub = PublicKeyFromDidKey(StringField(c, "did"));
    PrivateKey key = Import(pub->type, StringField(c, "privateKeyHex"));
    const std::string alg = StringField(*c.Find("protectedHeader"), "alg");
    if (alg == "Ed25519") {
      continue;  // RFC 9864 alias: accepted on input, we emit EdDSA
    }
    Result<std::string> ours =
        SignJws(key, *c.Find("protectedHeader"), json::Write(*c.Find("payload")));
    ASSERT_TRUE(ours.ok()) << ours.error().ToString();
    EXPECT_EQ(ours->substr(0, ours->rfind('.')), StringField(c, "signingInput"));
    if (alg != "ES256") {
      EXPECT_EQ(*ours, token);
    }
    EXPECT_TRUE(VerifyDidJwt(*ours, resolver).ok());
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST(JwsVectors, EveryInvalidTokenIsRefusedWithItsReason) {
  json::Value v = LoadJson("tests/vectors/jws/didkey-jws-selftest.json");
  DidKeyResolver resolver;
  const std::map<std::string, std::string> expected = {
      {"ES256K same token with high-S (s := n - s)", "bad-signature"},
      {"ES256 same token with high-S (s := n - s)", "bad-signature"},
      {"ES256K-R (did-jwt, 65-byte r||s||v, non-standard)", "unknown-alg"},
      {"alg none", "alg-none"},
      {"kid names another DID than iss (did-jwt ignores kid)", "kid-issuer-mismatch"},
      {"alg ES256K header on an Ed25519 did:key (alg confusion)", "alg-key-mismatch"},
      {"signature over payload re-encoded with different key order", "bad-signature"},
  };
  int checked = 0;
  for (const json::Value& c : v.Find("invalid")->items()) {
    const std::string name = StringField(c, "name");
    SCOPED_TRACE(name);
    Result<json::Value> claims = VerifyDidJwt(StringField(c, "token"), resolver);
    ASSERT_FALSE(claims.ok());
    ASSERT_EQ(expected.count(name), 1u) << "unexpected vector";
    EXPECT_EQ(claims.error().reason(), expected.at(name)) << claims.error().ToString();
    ++checked;
  }
  EXPECT_EQ(checked, 7);
}

TEST(Jws, SwappedKidChangedAlgAndTamperingFail) {
  PrivateKey k1 = Import(KeyType::kEd25519, std::string(64, '1'));
  PrivateKey k2 = Import(KeyType::kEd25519, std::string(64, '2'));
  PublicKey p1 = *DerivePublicKey(k1);
  PublicKey p2 = *DerivePublicKey(k2);
  DidKeyResolver resolver;
  auto token_for = [&](const PrivateKey& key, const PublicKey& kid_key, const PublicKey& iss_key) {
    json::Value h = json::Value::Object();
    h.Set("kid", json::Value::String(DidKeyVerificationMethodId(kid_key)));
    return *SignJws(key, h, "{\"iss\":\"" + DidKeyFromPublicKey(iss_key) + "\"}");
  };
  EXPECT_TRUE(VerifyDidJwt(token_for(k1, p1, p1), resolver).ok());
  // kid swapped to another key (signature by k1, kid and iss name k2).
  EXPECT_EQ(VerifyDidJwt(token_for(k1, p2, p2), resolver).error().reason(), "bad-signature");
  // kid of k2 but iss of k1.
  EXPECT_EQ(VerifyDidJwt(token_for(k1, p2, p1), resolver).error().reason(), "kid-issuer-mismatch");
  // alg rewritten in the header.
  std::string t = token_for(k1, p1, p1);
  Jws parsed = *ParseJws(t);
  parsed.header.Set("alg", json::Value::String("ES256"));
  std::string forged = Base64UrlEncode(AsBytes(json::Write(parsed.header))) +
                       t.substr(t.find('.'));
  EXPECT_EQ(VerifyDidJwt(forged, resolver).error().reason(), "alg-key-mismatch");
  // crit is refused even with a good signature.
  json::Value h = json::Value::Object();
  h.Set("kid", json::Value::String(DidKeyVerificationMethodId(p1)));
  json::Value crit = json::Value::Array();
  crit.Append(json::Value::String("exp"));
  h.Set("crit", crit);
  std::string with_crit = *SignJws(k1, h, "{\"iss\":\"" + DidKeyFromPublicKey(p1) + "\"}");
  EXPECT_EQ(VerifyDidJwt(with_crit, resolver).error().reason(), "unsupported-crit");
  // Structure.
  EXPECT_EQ(ParseJws("a.b").error().reason(), "bad-jws");
  EXPECT_EQ(ParseJws("a.b.c.d").error().reason(), "bad-jws");
  EXPECT_EQ(ParseJws(t + "=").error().reason(), "bad-jws");
}

TEST(DidPkh, AddressOfTheX402TestKey) {
  // Anvil account #1, the key that signed the x402 vectors.
  PrivateKey k = Import(KeyType::kSecp256k1,
                        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
  EXPECT_EQ(*DidPkhFromPublicKey(*DerivePublicKey(k), 8453),
            "did:pkh:eip155:8453:0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
}

}  // namespace
}  // namespace mandated::signer
