// did:key against the w3c-ccg/did-method-key test vectors themselves (tests/vectors/did-key/
// w3c-ccg-nist-curves.json and w3c-ccg-ed25519-x25519.json), every entry: the supported keys
// (Ed25519, P-256) decode to the listed key, JWK and private key; P-384 and P-521 DIDs, their JWKs
// and the X25519 key-agreement keys are refused. (w3c-ccg-secp256k1.json: secp256k1_test.cc.)
#include <gtest/gtest.h>

#include <string>

#include "base/bytes.h"
#include "base/json.h"
#include "signer/did.h"
#include "signer/signature.h"
#include "tests/support/test_support.h"

namespace mandated::signer {
namespace {

using testing::At;
using testing::StringField;

json::Value LoadJson(const std::string& rel) {
  Result<json::Value> v = json::Parse(testing::ReadFileOrDie(testing::SourcePath(rel)));
  EXPECT_TRUE(v.ok()) << rel;
  return v.ok() ? *v : json::Value::Object();
}

Bytes B64u(std::string_view text) {
  Result<Bytes> b = Base64UrlDecode(text);
  EXPECT_TRUE(b.ok()) << text;
  return b.ok() ? *b : Bytes{};
}

Bytes B58(std::string_view text) {
  Result<Bytes> b = Base58BtcDecode(text);
  EXPECT_TRUE(b.ok()) << text;
  return b.ok() ? *b : Bytes{};
}

PublicKey FromPrivate(KeyType type, ByteSpan secret) {
  Result<PrivateKey> key = ImportPrivateKey(type, secret);
  EXPECT_TRUE(key.ok()) << key.error().ToString();
  if (!key.ok()) return PublicKey{};
  Result<PublicKey> pub = DerivePublicKey(*key);
  EXPECT_TRUE(pub.ok()) << pub.error().ToString();
  return pub.ok() ? *pub : PublicKey{};
}

// What every supported entry shares: the DID re-encodes, and the DID document's first
// verification method is the key's method id (and resolves to the key).
void ExpectDidDocument(const std::string& did, const json::Value& entry, const PublicKey& key) {
  EXPECT_EQ(DidKeyFromPublicKey(key), did);
  const json::Value& doc = At(entry, {"didDocument"});
  EXPECT_EQ(StringField(doc, "id"), did);
  const json::Value& methods = At(doc, {"verificationMethod"});
  ASSERT_GE(methods.items().size(), 1u);
  EXPECT_EQ(StringField(methods.items()[0], "id"), DidKeyVerificationMethodId(key));
  ASSERT_TRUE(At(doc, {"assertionMethod"}).items()[0].is_string());
  EXPECT_EQ(At(doc, {"assertionMethod"}).items()[0].as_string(), DidKeyVerificationMethodId(key));
  DidKeyResolver resolver;
  Result<PublicKey> resolved = resolver.ResolveVerificationMethod(DidKeyVerificationMethodId(key));
  ASSERT_TRUE(resolved.ok()) << resolved.error().ToString();
  EXPECT_EQ(*resolved, key);
}

void ExpectEcJwkMatches(const json::Value& jwk, const PublicKey& key, std::string_view crv) {
  EXPECT_EQ(StringField(jwk, "kty"), "EC");
  EXPECT_EQ(StringField(jwk, "crv"), crv);
  const json::Value ours = PublicKeyToJwk(key);
  for (const char* m : {"kty", "crv", "x", "y"}) {
    EXPECT_EQ(StringField(ours, m), StringField(jwk, m)) << m;
  }
  Result<PublicKey> parsed = PublicKeyFromJwk(jwk);
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(*parsed, key);
}

TEST(W3cDidKeyVectors, NistCurves) {
  const json::Value file = LoadJson("tests/vectors/did-key/w3c-ccg-nist-curves.json");
  ASSERT_TRUE(file.is_object());
  int p256 = 0;
  int refused = 0;
  for (size_t i = 0; i < file.size(); ++i) {
    const std::string did = file.keys()[i];
    const json::Value& entry = file.items()[i];
    SCOPED_TRACE(did);
    const json::Value& vm = At(entry, {"verificationMethod"});
    const json::Value* public_jwk = vm.Find("publicKeyJwk");
    const std::string crv = public_jwk != nullptr ? StringField(*public_jwk, "crv") : "P-256";
    Result<PublicKey> key = PublicKeyFromDidKey(did);

    if (crv == "P-384" || crv == "P-521") {
      // Multicodec 0x1201 / 0x1202: not a key type we support.
      ASSERT_FALSE(key.ok());
      EXPECT_EQ(key.error().code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(key.error().reason(), "bad-did");
      EXPECT_EQ(key.error().message(), "did:key uses an unsupported multicodec");
      Result<PublicKey> from_jwk = PublicKeyFromJwk(*public_jwk);
      ASSERT_FALSE(from_jwk.ok());
      EXPECT_EQ(from_jwk.error().reason(), "bad-jwk");
      EXPECT_EQ(from_jwk.error().message(), "JWK crv must be P-256 or secp256k1");
      // The private JWK is refused for its "d" before its curve is looked at.
      Result<PublicKey> from_private = PublicKeyFromJwk(At(vm, {"privateKeyJwk"}));
      ASSERT_FALSE(from_private.ok());
      EXPECT_EQ(from_private.error().reason(), "bad-jwk");
      DidKeyResolver resolver;
      Result<PublicKey> resolved =
          resolver.ResolveVerificationMethod(did + "#" + did.substr(std::string("did:key:").size()));
      ASSERT_FALSE(resolved.ok());
      EXPECT_EQ(resolved.error().reason(), "kid-unresolvable");
      ++refused;
      continue;
    }

    ASSERT_EQ(crv, "P-256");
    ASSERT_TRUE(key.ok()) << key.error().ToString();
    EXPECT_EQ(key->type, KeyType::kP256);
    ASSERT_EQ(key->bytes.size(), 33u);  // compressed
    if (public_jwk != nullptr) {
      // JsonWebKey2020: public and private JWK.
      ExpectEcJwkMatches(*public_jwk, *key, "P-256");
      const json::Value& private_jwk = At(vm, {"privateKeyJwk"});
      EXPECT_EQ(FromPrivate(KeyType::kP256, B64u(StringField(private_jwk, "d"))), *key);
    } else {
      // P256Key2021: base58 of the compressed point and of the private scalar.
      EXPECT_EQ(StringField(vm, "type"), "P256Key2021");
      EXPECT_EQ(B58(StringField(vm, "publicKeyBase58")), key->bytes);
      EXPECT_EQ(FromPrivate(KeyType::kP256, B58(StringField(vm, "privateKeyBase58"))), *key);
      EXPECT_EQ(StringField(vm, "id"), DidKeyVerificationMethodId(*key));
    }
    ExpectDidDocument(did, entry, *key);
    ++p256;
  }
  EXPECT_EQ(p256, 3);
  EXPECT_EQ(refused, 4);  // two P-384, two P-521
}

TEST(W3cDidKeyVectors, Ed25519AndX25519) {
  const json::Value file = LoadJson("tests/vectors/did-key/w3c-ccg-ed25519-x25519.json");
  ASSERT_TRUE(file.is_object());
  int checked = 0;
  int jwk_form = 0;
  for (size_t i = 0; i < file.size(); ++i) {
    const std::string did = file.keys()[i];
    const json::Value& entry = file.items()[i];
    SCOPED_TRACE(did);
    Result<PublicKey> key = PublicKeyFromDidKey(did);
    ASSERT_TRUE(key.ok()) << key.error().ToString();
    EXPECT_EQ(key->type, KeyType::kEd25519);

    // The seed is the Ed25519 private key.
    Result<Bytes> seed = HexDecode(StringField(entry, "seed"));
    ASSERT_TRUE(seed.ok());
    EXPECT_EQ(FromPrivate(KeyType::kEd25519, *seed), *key);

    const json::Value& vm = At(entry, {"verificationKeyPair"});
    if (const json::Value* jwk = vm.Find("publicKeyJwk"); jwk != nullptr) {
      EXPECT_EQ(StringField(*jwk, "crv"), "Ed25519");
      EXPECT_EQ(B64u(StringField(*jwk, "x")), key->bytes);
      EXPECT_EQ(StringField(PublicKeyToJwk(*key), "x"), StringField(*jwk, "x"));
      Result<PublicKey> parsed = PublicKeyFromJwk(*jwk);
      ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
      EXPECT_EQ(*parsed, *key);
      EXPECT_EQ(B64u(StringField(At(vm, {"privateKeyJwk"}), "d")), *seed);
      EXPECT_EQ(PublicKeyFromJwk(At(vm, {"privateKeyJwk"})).error().reason(), "bad-jwk");
      ++jwk_form;
    } else {
      EXPECT_EQ(B58(StringField(vm, "publicKeyBase58")), key->bytes);
    }
    ExpectDidDocument(did, entry, *key);

    // The X25519 key-agreement key (multicodec 0xec) is not a signing key: as a did:key it is
    // refused, its JWK is refused, and the document's keyAgreement URL does not resolve.
    const json::Value& ka = At(entry, {"keyAgreementKeyPair"});
    std::string ka_fragment = StringField(ka, "id");
    ka_fragment = ka_fragment.substr(ka_fragment.find('#') + 1);
    ASSERT_EQ(ka_fragment.rfind("z6LS", 0), 0u);
    Result<PublicKey> x25519 = PublicKeyFromDidKey("did:key:" + ka_fragment);
    ASSERT_FALSE(x25519.ok());
    EXPECT_EQ(x25519.error().reason(), "bad-did");
    EXPECT_EQ(x25519.error().message(), "did:key uses an unsupported multicodec");
    if (const json::Value* ka_jwk = ka.Find("publicKeyJwk"); ka_jwk != nullptr) {
      EXPECT_EQ(PublicKeyFromJwk(*ka_jwk).error().reason(), "bad-jwk");
    }
    const json::Value& agreement = At(entry, {"didDocument", "keyAgreement"});
    ASSERT_EQ(agreement.items().size(), 1u);
    EXPECT_EQ(agreement.items()[0].as_string(), did + "#" + ka_fragment);
    DidKeyResolver resolver;
    Result<PublicKey> resolved = resolver.ResolveVerificationMethod(agreement.items()[0].as_string());
    ASSERT_FALSE(resolved.ok());
    EXPECT_EQ(resolved.error().reason(), "kid-unresolvable");
    ++checked;
  }
  EXPECT_EQ(checked, 5);
  EXPECT_EQ(jwk_form, 1);
}

}  // namespace
}  // namespace mandated::signer
