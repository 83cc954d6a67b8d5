// Tests for the libsecp256k1 adapter: keys, ES256K sign/verify, and recoverable signatures.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "base/bytes.h"
#include "base/json.h"
#include "signer/recoverable.h"
#include "signer/secp256k1_ec.h"
#include "signer/signature.h"
#include "tests/support/test_support.h"

namespace mandated::signer {
namespace {

// The secp256k1 group order n and floor(n / 2), big-endian.
constexpr std::string_view kOrderHex =
    "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
constexpr std::string_view kHalfOrderHex =
    "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0";

Bytes H(std::string_view hex) {
  Result<Bytes> b = HexDecode(hex, /*allow_0x=*/true);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes{};
}

// a - b for 32-byte big-endian numbers with a >= b.
Bytes Sub32(ByteSpan a, ByteSpan b) {
  Bytes out(32);
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = int{a[i]} - int{b[i]} - borrow;
    borrow = d < 0 ? 1 : 0;
    out[i] = static_cast<uint8_t>(d + (borrow ? 256 : 0));
  }
  return out;
}

// Replaces s (bytes 32..63) by n - s.
Bytes NegateS(ByteSpan sig) {
  Bytes out(sig.begin(), sig.end());
  Bytes order = H(kOrderHex);
  Bytes neg = Sub32(order, sig.subspan(32, 32));
  std::copy(neg.begin(), neg.end(), out.begin() + 32);
  return out;
}

bool IsLowS(ByteSpan sig) {
  Bytes half = H(kHalfOrderHex);
  return !std::lexicographical_compare(half.begin(), half.end(), sig.begin() + 32,
                                       sig.begin() + 64);
}

// DER SEQUENCE { INTEGER r, INTEGER s } from 32-byte r and s (minimal encoding).
Bytes DerFromCompact(ByteSpan sig) {
  auto integer = [](ByteSpan v) {
    size_t i = 0;
    while (i < v.size() - 1 && v[i] == 0) ++i;
    Bytes body(v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
    if (body[0] & 0x80) body.insert(body.begin(), 0);
    Bytes out = {0x02, static_cast<uint8_t>(body.size())};
    out.insert(out.end(), body.begin(), body.end());
    return out;
  };
  Bytes r = integer(sig.subspan(0, 32));
  Bytes s = integer(sig.subspan(32, 32));
  Bytes out = {0x30, static_cast<uint8_t>(r.size() + s.size())};
  out.insert(out.end(), r.begin(), r.end());
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

// Hands out queued 32-byte blocks, then fails.
class ScriptedRandom final : public Random {
 public:
  void Push(Bytes b) { blocks_.push_back(std::move(b)); }
  Status Fill(std::span<uint8_t> out) override {
    if (blocks_.empty() || blocks_.front().size() != out.size()) {
      return UnavailableError("scripted random exhausted");
    }
    std::copy(blocks_.front().begin(), blocks_.front().end(), out.begin());
    blocks_.pop_front();
    ++draws_;
    return OkStatus();
  }
  int draws() const { return draws_; }

 private:
  std::deque<Bytes> blocks_;
  int draws_ = 0;
};

PrivateKey ImportOrDie(std::string_view hex) {
  Result<PrivateKey> key = ImportPrivateKey(KeyType::kSecp256k1, H(hex));
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return key.ok() ? std::move(key).value() : PrivateKey{};
}

PublicKey DeriveOrDie(const PrivateKey& key) {
  Result<PublicKey> pub = DerivePublicKey(key);
  EXPECT_TRUE(pub.ok()) << pub.status().ToString();
  return pub.ok() ? *pub : PublicKey{};
}

json::Value LoadJson(const std::string& relative) {
  Result<json::Value> v = json::Parse(testing::ReadFileOrDie(testing::SourcePath(relative)));
  EXPECT_TRUE(v.ok()) << relative << ": " << v.status().ToString();
  return v.ok() ? *v : json::Value();
}

void ExpectBadSignature(const Status& status) {
  EXPECT_EQ(status.code(), StatusCode::kUnauthenticated) << status.ToString();
  EXPECT_EQ(status.reason(), "bad-signature") << status.ToString();
}

void ExpectBadKey(const Status& status) {
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
  EXPECT_EQ(status.reason(), "bad-key") << status.ToString();
}

constexpr std::string_view kTestKeyHex =
    "b86cbce181fb2e63519192985c8e10d8b606e6a7c603310cbd830ab4825cfa09";

// ---- keys ----

TEST(Secp256k1KeyTest, GenerateKeyRejectsOutOfRangeDraws) {
  ScriptedRandom random;
  random.Push(Bytes(32, 0x00));         // zero
  random.Push(H(kOrderHex));            // n
  random.Push(Bytes(32, 0xff));         // > n
  random.Push(H(kTestKeyHex));          // valid
  Result<PrivateKey> key = GenerateKey(KeyType::kSecp256k1, random);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(random.draws(), 4);
  EXPECT_EQ(key->type, KeyType::kSecp256k1);
  EXPECT_TRUE(key->secret.Equals(H(kTestKeyHex)));
}

TEST(Secp256k1KeyTest, GenerateKeyPropagatesRandomFailure) {
  ScriptedRandom random;
  Result<PrivateKey> key = GenerateKey(KeyType::kSecp256k1, random);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), StatusCode::kUnavailable);
}

TEST(Secp256k1KeyTest, ImportValidatesScalar) {
  Bytes n_minus_1 = H(kOrderHex);
  n_minus_1[31] -= 1;
  EXPECT_TRUE(ImportPrivateKey(KeyType::kSecp256k1, n_minus_1).ok());
  Bytes one(32, 0);
  one[31] = 1;
  EXPECT_TRUE(ImportPrivateKey(KeyType::kSecp256k1, one).ok());

  ExpectBadKey(ImportPrivateKey(KeyType::kSecp256k1, Bytes(32, 0)).status());
  ExpectBadKey(ImportPrivateKey(KeyType::kSecp256k1, H(kOrderHex)).status());
  ExpectBadKey(ImportPrivateKey(KeyType::kSecp256k1, Bytes(32, 0xff)).status());
  ExpectBadKey(ImportPrivateKey(KeyType::kSecp256k1, Bytes(31, 1)).status());
  ExpectBadKey(ImportPrivateKey(KeyType::kSecp256k1, Bytes(33, 1)).status());
  ExpectBadKey(ImportPrivateKey(KeyType::kSecp256k1, Bytes{}).status());
}

TEST(Secp256k1KeyTest, DerivesKnownPublicKeyOfGeneratorMultiple) {
  Bytes one(32, 0);
  one[31] = 1;
  Result<PrivateKey> key = ImportPrivateKey(KeyType::kSecp256k1, one);
  ASSERT_TRUE(key.ok());
  PublicKey pub = DeriveOrDie(*key);
  EXPECT_EQ(pub.type, KeyType::kSecp256k1);
  EXPECT_EQ(HexEncode(pub.bytes),
            "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
  Result<Bytes> point = UncompressedPoint(pub);
  ASSERT_TRUE(point.ok());
  EXPECT_EQ(HexEncode(*point),
            "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
            "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8");
}

TEST(Secp256k1KeyTest, W3cDidKeyVectorsDeriveTheirPublicKeys) {
  json::Value doc = LoadJson("tests/vectors/did-key/w3c-ccg-secp256k1.json");
  ASSERT_TRUE(doc.is_object());
  ASSERT_EQ(doc.size(), 6u);  // five base58 key pairs and one JsonWebKey2020 pair
  int base58_pairs = 0;
  int jwk_pairs = 0;
  for (size_t i = 0; i < doc.size(); ++i) {
    SCOPED_TRACE(doc.keys()[i]);
    const json::Value& entry = doc.items()[i];
    const json::Value* pair = entry.Find("verificationKeyPair");
    ASSERT_NE(pair, nullptr);
    Bytes secret;
    PublicKey pub;
    if (const json::Value* jwk = pair->Find("privateKeyJwk"); jwk != nullptr) {
      // JsonWebKey2020 form: d, x, y in base64url.
      ASSERT_EQ(jwk->Find("crv")->as_string(), "secp256k1");
      secret = Base64UrlDecode(jwk->Find("d")->as_string()).value_or(Bytes{});
      pub = DeriveOrDie(ImportOrDie(HexEncode(secret)));
      Bytes xy = {0x04};
      for (const char* coord : {"x", "y"}) {
        Bytes c = Base64UrlDecode(pair->Find("publicKeyJwk")->Find(coord)->as_string())
                      .value_or(Bytes{});
        ASSERT_EQ(c.size(), 32u);
        xy.insert(xy.end(), c.begin(), c.end());
      }
      EXPECT_EQ(UncompressedPoint(pub).value_or(Bytes{}), xy);
      Result<PublicKey> parsed = ParsePublicKey(KeyType::kSecp256k1, xy);
      ASSERT_TRUE(parsed.ok());
      EXPECT_EQ(*parsed, pub);
      ++jwk_pairs;
    } else {
      // Ed/EcdsaSecp256k1VerificationKey2019 form: base58 keys and a hex seed.
      Result<Bytes> expected_pub = Base58BtcDecode(pair->Find("publicKeyBase58")->as_string());
      ASSERT_TRUE(expected_pub.ok());
      secret = Base58BtcDecode(pair->Find("privateKeyBase58")->as_string()).value_or(Bytes{});
      ASSERT_NE(entry.Find("seed"), nullptr);
      EXPECT_EQ(HexEncode(secret), entry.Find("seed")->as_string());
      pub = DeriveOrDie(ImportOrDie(HexEncode(secret)));
      EXPECT_EQ(pub.bytes, *expected_pub);
      ++base58_pairs;
    }
    // The multibase key in the DID is 0xe7 0x01 (secp256k1-pub varint) || compressed point.
    std::string did = doc.keys()[i];
    ASSERT_EQ(did.rfind("did:key:z", 0), 0u);
    Result<Bytes> multikey = Base58BtcDecode(did.substr(9));
    ASSERT_TRUE(multikey.ok());
    Bytes expected_multikey = {0xe7, 0x01};
    expected_multikey.insert(expected_multikey.end(), pub.bytes.begin(), pub.bytes.end());
    EXPECT_EQ(*multikey, expected_multikey);
  }
  EXPECT_EQ(base58_pairs, 5);
  EXPECT_EQ(jwk_pairs, 1);
}

TEST(Secp256k1KeyTest, ParsePublicKeyAcceptsBothFormsAndReturnsCompressed) {
  PublicKey pub = DeriveOrDie(ImportOrDie(kTestKeyHex));
  ASSERT_EQ(pub.bytes.size(), 33u);
  Result<Bytes> point = UncompressedPoint(pub);
  ASSERT_TRUE(point.ok());
  ASSERT_EQ(point->size(), 65u);
  EXPECT_EQ((*point)[0], 0x04);

  Result<PublicKey> from_uncompressed = ParsePublicKey(KeyType::kSecp256k1, *point);
  ASSERT_TRUE(from_uncompressed.ok()) << from_uncompressed.status().ToString();
  EXPECT_EQ(*from_uncompressed, pub);
  Result<PublicKey> from_compressed = ParsePublicKey(KeyType::kSecp256k1, pub.bytes);
  ASSERT_TRUE(from_compressed.ok());
  EXPECT_EQ(*from_compressed, pub);
}

TEST(Secp256k1KeyTest, ParsePublicKeyRejectsMalformedPoints) {
  PublicKey pub = DeriveOrDie(ImportOrDie(kTestKeyHex));
  Bytes point = UncompressedPoint(pub).value_or(Bytes{});
  ASSERT_EQ(point.size(), 65u);

  Bytes prefix5 = pub.bytes;
  prefix5[0] = 0x05;
  ExpectBadKey(ParsePublicKey(KeyType::kSecp256k1, prefix5).status());

  // x = 5: 5^3 + 7 is not a square mod p, so no point has this x.
  Bytes x5(33, 0);
  x5[0] = 0x02;
  x5[32] = 5;
  ExpectBadKey(ParsePublicKey(KeyType::kSecp256k1, x5).status());
  x5[0] = 0x03;
  ExpectBadKey(ParsePublicKey(KeyType::kSecp256k1, x5).status());

  // x = p (not a field element).
  Bytes x_p = H("02fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f");
  ExpectBadKey(ParsePublicKey(KeyType::kSecp256k1, x_p).status());

  // Uncompressed with y changed: off the curve.
  Bytes bad_y = point;
  bad_y[64] ^= 0x01;
  ExpectBadKey(ParsePublicKey(KeyType::kSecp256k1, bad_y).status());

  // Hybrid encodings (0x06 / 0x07) of a valid point are refused.
  for (uint8_t hybrid : {uint8_t{0x06}, uint8_t{0x07}}) {
    Bytes h = point;
    h[0] = hybrid;
    ExpectBadKey(ParsePublicKey(KeyType::kSecp256k1, h).status());
  }

  // Wrong lengths: raw X||Y, X alone, 0x04 with 33 bytes, compressed prefix with 65 bytes.
  ExpectBadKey(ParsePublicKey(KeyType::kSecp256k1, ByteSpan(point).subspan(1)).status());
  ExpectBadKey(ParsePublicKey(KeyType::kSecp256k1, ByteSpan(pub.bytes).subspan(1)).status());
  Bytes short04 = pub.bytes;
  short04[0] = 0x04;
  ExpectBadKey(ParsePublicKey(KeyType::kSecp256k1, short04).status());
  Bytes long02 = point;
  long02[0] = 0x02;
  ExpectBadKey(ParsePublicKey(KeyType::kSecp256k1, long02).status());
  ExpectBadKey(ParsePublicKey(KeyType::kSecp256k1, Bytes{}).status());
  ExpectBadKey(ParsePublicKey(KeyType::kSecp256k1, Bytes{0x00}).status());  // infinity
}

// ---- ES256K ----

TEST(Secp256k1SignTest, SignVerifyRoundTrip) {
  PrivateKey key = ImportOrDie(kTestKeyHex);
  PublicKey pub = DeriveOrDie(key);
  Bytes message = ToBytes("pay 25.00 USD to did:web:merchant.example");

  Result<Bytes> sig = Sign(key, message);
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  ASSERT_EQ(sig->size(), 64u);
  EXPECT_TRUE(IsLowS(*sig));
  EXPECT_TRUE(Verify(pub, message, *sig).ok());

  Result<Bytes> again = Sign(key, message);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *sig);  // RFC 6979: deterministic

  // DER encoding of the same signature.
  EXPECT_TRUE(Verify(pub, message, DerFromCompact(*sig), {SignatureFormat::kDer, false}).ok());

  Bytes tampered_message = message;
  tampered_message.back() ^= 0x01;
  ExpectBadSignature(Verify(pub, tampered_message, *sig));
  Bytes tampered_sig = *sig;
  tampered_sig[5] ^= 0x01;
  ExpectBadSignature(Verify(pub, message, tampered_sig));

  Bytes other = H(kTestKeyHex);
  other[31] ^= 0x01;
  PublicKey other_pub = DeriveOrDie(ImportOrDie(HexEncode(other)));
  ExpectBadSignature(Verify(other_pub, message, *sig));

  // Empty message signs and verifies too.
  Result<Bytes> empty_sig = Sign(key, ByteSpan());
  ASSERT_TRUE(empty_sig.ok());
  EXPECT_TRUE(Verify(pub, ByteSpan(), *empty_sig).ok());
}

TEST(Secp256k1SignTest, GeneratedKeysRoundTrip) {
  std::vector<PublicKey> seen;
  for (int i = 0; i < 4; ++i) {
    Result<PrivateKey> key = GenerateKey(KeyType::kSecp256k1, SystemRandom::Get());
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_EQ(key->type, KeyType::kSecp256k1);
    PublicKey pub = DeriveOrDie(*key);
    EXPECT_EQ(pub.type, KeyType::kSecp256k1);
    ASSERT_EQ(pub.bytes.size(), 33u);
    Result<Bytes> sig = Sign(*key, ToBytes("hello"));
    ASSERT_TRUE(sig.ok());
    ASSERT_EQ(sig->size(), 64u);
    EXPECT_TRUE(IsLowS(*sig));
    EXPECT_TRUE(Verify(pub, ToBytes("hello"), *sig).ok());
    // Another message does not verify, with the reason every bad signature gets.
    ExpectBadSignature(Verify(pub, ToBytes("hellp"), *sig));
    // Every generated key is a new one: no public key repeats, and no earlier key verifies this
    // key's signature.
    for (const PublicKey& earlier : seen) {
      EXPECT_NE(earlier, pub);
      ExpectBadSignature(Verify(earlier, ToBytes("hello"), *sig));
    }
    seen.push_back(pub);
  }
  EXPECT_EQ(seen.size(), 4u);
}

TEST(Secp256k1SignTest, HighSRejectedUnlessAllowed) {
  PrivateKey key = ImportOrDie(kTestKeyHex);
  PublicKey pub = DeriveOrDie(key);
  Bytes message = ToBytes("malleability");
  Bytes sig = Sign(key, message).value_or(Bytes{});
  ASSERT_EQ(sig.size(), 64u);
  Bytes high = NegateS(sig);
  EXPECT_FALSE(IsLowS(high));

  ExpectBadSignature(Verify(pub, message, high));
  EXPECT_TRUE(Verify(pub, message, high, {SignatureFormat::kRaw, true}).ok());
  ExpectBadSignature(Verify(pub, message, DerFromCompact(high), {SignatureFormat::kDer, false}));
  EXPECT_TRUE(Verify(pub, message, DerFromCompact(high), {SignatureFormat::kDer, true}).ok());
}

TEST(Secp256k1SignTest, VerifyRejectsMalformedSignatures) {
  PrivateKey key = ImportOrDie(kTestKeyHex);
  PublicKey pub = DeriveOrDie(key);
  Bytes message = ToBytes("shape");
  Bytes sig = Sign(key, message).value_or(Bytes{});
  ASSERT_EQ(sig.size(), 64u);
  const VerifyOptions lax{SignatureFormat::kRaw, true};

  ExpectBadSignature(Verify(pub, message, ByteSpan(sig).first(63), lax));
  Bytes longer = sig;
  longer.push_back(0);
  ExpectBadSignature(Verify(pub, message, longer, lax));
  ExpectBadSignature(Verify(pub, message, Bytes{}, lax));
  ExpectBadSignature(Verify(pub, message, DerFromCompact(sig), lax));  // DER given as raw

  Bytes zero_r = sig;
  std::fill(zero_r.begin(), zero_r.begin() + 32, 0);
  ExpectBadSignature(Verify(pub, message, zero_r, lax));
  Bytes zero_s = sig;
  std::fill(zero_s.begin() + 32, zero_s.end(), 0);
  ExpectBadSignature(Verify(pub, message, zero_s, lax));
  Bytes r_is_n = sig;
  Bytes order = H(kOrderHex);
  std::copy(order.begin(), order.end(), r_is_n.begin());
  ExpectBadSignature(Verify(pub, message, r_is_n, lax));

  // DER: trailing byte, long-form length, and a raw signature given as DER.
  const VerifyOptions der{SignatureFormat::kDer, true};
  Bytes good_der = DerFromCompact(sig);
  ASSERT_TRUE(Verify(pub, message, good_der, der).ok());
  Bytes trailing = good_der;
  trailing.push_back(0);
  ExpectBadSignature(Verify(pub, message, trailing, der));
  Bytes long_form = good_der;
  long_form.insert(long_form.begin() + 1, 0x81);
  ExpectBadSignature(Verify(pub, message, long_form, der));
  ExpectBadSignature(Verify(pub, message, sig, der));
}

TEST(Secp256k1SignTest, AdapterRejectsKeysOfOtherTypesOrShapes) {
  PrivateKey key = ImportOrDie(kTestKeyHex);
  PublicKey pub = DeriveOrDie(key);
  Bytes sig = Sign(key, ToBytes("x")).value_or(Bytes{});

  PublicKey p256_typed{KeyType::kP256, pub.bytes};
  ExpectBadKey(internal::Secp256k1Verify(p256_typed, ToBytes("x"), sig, {}));
  ExpectBadKey(internal::Secp256k1UncompressedPoint(p256_typed).status());
  PublicKey garbage{KeyType::kSecp256k1, Bytes(33, 0x00)};
  garbage.bytes[0] = 0x02;
  garbage.bytes[32] = 5;  // x = 5 is not on the curve
  ExpectBadKey(Verify(garbage, ToBytes("x"), sig));

  PrivateKey empty{KeyType::kSecp256k1, SecretBytes()};
  ExpectBadKey(Sign(empty, ToBytes("x")).status());
  ExpectBadKey(DerivePublicKey(empty).status());
  PrivateKey p256_private{KeyType::kP256, SecretBytes(H(kTestKeyHex))};
  ExpectBadKey(internal::Secp256k1Sign(p256_private, ToBytes("x")).status());
  EXPECT_EQ(SignDigestRecoverable(p256_private, Bytes(32, 1)).status().code(),
            StatusCode::kInvalidArgument);
}

// didkey-jws-selftest.json: ES256K tokens made by libsecp256k1 with the default RFC 6979 nonce.
TEST(Secp256k1SignTest, ReproducesEs256kJwsByteForByte) {
  json::Value doc = LoadJson("tests/vectors/jws/didkey-jws-selftest.json");
  const json::Value* valid = doc.Find("valid");
  ASSERT_NE(valid, nullptr);
  int es256k_cases = 0;
  for (const json::Value& c : valid->items()) {
    const json::Value* header = c.Find("protectedHeader");
    if (header == nullptr || header->Find("alg")->as_string() != "ES256K") continue;
    ++es256k_cases;
    SCOPED_TRACE(c.Find("name")->as_string());
    PrivateKey key = ImportOrDie(c.Find("privateKeyHex")->as_string());
    PublicKey pub = DeriveOrDie(key);

    // The did:key names this public key.
    std::string did = c.Find("did")->as_string();
    ASSERT_EQ(did.rfind("did:key:z", 0), 0u);
    Result<Bytes> multikey = Base58BtcDecode(did.substr(9));
    ASSERT_TRUE(multikey.ok());
    Bytes expected_multikey = {0xe7, 0x01};
    expected_multikey.insert(expected_multikey.end(), pub.bytes.begin(), pub.bytes.end());
    EXPECT_EQ(*multikey, expected_multikey);

    const std::string& signing_input = c.Find("signingInput")->as_string();
    const std::string& token = c.Find("token")->as_string();
    ASSERT_EQ(token.rfind(signing_input + ".", 0), 0u);
    Result<Bytes> token_sig = Base64UrlDecode(token.substr(signing_input.size() + 1));
    ASSERT_TRUE(token_sig.ok());
    EXPECT_EQ(HexEncode(*token_sig), c.Find("signatureHex")->as_string());

    Result<Bytes> sig = Sign(key, AsBytes(signing_input));
    ASSERT_TRUE(sig.ok()) << sig.status().ToString();
    EXPECT_EQ(HexEncode(*sig), c.Find("signatureHex")->as_string());
    EXPECT_EQ(Base64UrlEncode(*sig), token.substr(signing_input.size() + 1));
    EXPECT_TRUE(Verify(pub, AsBytes(signing_input), *token_sig).ok());
  }
  EXPECT_EQ(es256k_cases, 1);

  // The same token with s := n - s is refused by default and accepted when high S is allowed.
  const json::Value* invalid = doc.Find("invalid");
  ASSERT_NE(invalid, nullptr);
  int high_s_cases = 0;
  for (const json::Value& c : invalid->items()) {
    if (c.Find("name")->as_string() != "ES256K same token with high-S (s := n - s)") continue;
    ++high_s_cases;
    const std::string& token = c.Find("token")->as_string();
    size_t dot = token.rfind('.');
    ASSERT_NE(dot, std::string::npos);
    Result<Bytes> high = Base64UrlDecode(token.substr(dot + 1));
    ASSERT_TRUE(high.ok());
    PublicKey pub = DeriveOrDie(ImportOrDie(kTestKeyHex));
    ByteSpan input = AsBytes(std::string_view(token).substr(0, dot));
    ExpectBadSignature(Verify(pub, input, *high));
    EXPECT_TRUE(Verify(pub, input, *high, {SignatureFormat::kRaw, true}).ok());
  }
  EXPECT_EQ(high_s_cases, 1);
}

TEST(Secp256k1SignTest, ConcurrentSigningSharesOneContext) {
  PrivateKey key = ImportOrDie(kTestKeyHex);
  Bytes expected = Sign(key, ToBytes("threads")).value_or(Bytes{});
  ASSERT_EQ(expected.size(), 64u);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        Result<Bytes> sig = Sign(key, ToBytes("threads"));
        if (!sig.ok() || *sig != expected) ++mismatches[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

// ---- recoverable (Ethereum) ----

Bytes Digest(uint8_t fill) { return Bytes(32, fill); }

TEST(Secp256k1RecoverableTest, SignThenRecoverReturnsSigner) {
  PrivateKey key = ImportOrDie(kTestKeyHex);
  PublicKey pub = DeriveOrDie(key);
  for (uint8_t i = 0; i < 16; ++i) {
    SCOPED_TRACE(int{i});
    Bytes digest = Digest(i);
    digest[0] = 0xa5;
    Result<Bytes> sig = SignDigestRecoverable(key, digest);
    ASSERT_TRUE(sig.ok()) << sig.status().ToString();
    ASSERT_EQ(sig->size(), 65u);
    EXPECT_TRUE((*sig)[64] == 27 || (*sig)[64] == 28);
    EXPECT_TRUE(IsLowS(*sig));
    Result<PublicKey> recovered = RecoverDigest(digest, *sig);
    ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
    EXPECT_EQ(*recovered, pub);
    EXPECT_EQ(*SignDigestRecoverable(key, digest), *sig);  // deterministic

    // A different digest recovers some other key (or none), never the signer.
    Bytes tampered = digest;
    tampered[31] ^= 0x01;
    Result<PublicKey> other = RecoverDigest(tampered, *sig);
    if (other.ok()) {
      EXPECT_NE(*other, pub);
    } else {
      ExpectBadSignature(other.status());
    }
  }
}

TEST(Secp256k1RecoverableTest, VValues) {
  PrivateKey key = ImportOrDie(kTestKeyHex);
  PublicKey pub = DeriveOrDie(key);
  Bytes digest = Digest(0x42);
  Bytes sig = SignDigestRecoverable(key, digest).value_or(Bytes{});
  ASSERT_EQ(sig.size(), 65u);
  const uint8_t v = sig[64];

  Bytes raw = sig;
  raw[64] = static_cast<uint8_t>(v - 27);
  ExpectBadSignature(RecoverDigest(digest, raw).status());
  Result<PublicKey> raw_ok =
      RecoverDigest(digest, raw, {.allow_high_s = false, .allow_raw_v = true});
  ASSERT_TRUE(raw_ok.ok()) << raw_ok.status().ToString();
  EXPECT_EQ(*raw_ok, pub);

  // The other parity recovers some other key (or nothing), never the signer.
  Bytes flipped = sig;
  flipped[64] = static_cast<uint8_t>(v == 27 ? 28 : 27);
  Result<PublicKey> wrong = RecoverDigest(digest, flipped);
  if (wrong.ok()) {
    EXPECT_NE(*wrong, pub);
  }

  for (uint8_t bad_v : {uint8_t{2}, uint8_t{3}, uint8_t{26}, uint8_t{29}, uint8_t{30},
                        uint8_t{35}, uint8_t{37}, uint8_t{255}}) {
    SCOPED_TRACE(int{bad_v});
    Bytes bad = sig;
    bad[64] = bad_v;
    ExpectBadSignature(RecoverDigest(digest, bad).status());
    ExpectBadSignature(
        RecoverDigest(digest, bad, {.allow_high_s = true, .allow_raw_v = true}).status());
  }
}

TEST(Secp256k1RecoverableTest, HighSRejectedByDefaultRecoversWhenAllowed) {
  PrivateKey key = ImportOrDie(kTestKeyHex);
  PublicKey pub = DeriveOrDie(key);
  for (uint8_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(int{i});
    Bytes digest = Digest(static_cast<uint8_t>(0x10 + i));
    Bytes sig = SignDigestRecoverable(key, digest).value_or(Bytes{});
    ASSERT_EQ(sig.size(), 65u);
    // The malleated twin: (r, n - s) with the other v.
    Bytes high = NegateS(sig);
    high[64] = static_cast<uint8_t>(sig[64] == 27 ? 28 : 27);
    ASSERT_FALSE(IsLowS(high));

    ExpectBadSignature(RecoverDigest(digest, high).status());
    Result<PublicKey> recovered =
        RecoverDigest(digest, high, {.allow_high_s = true, .allow_raw_v = false});
    ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
    EXPECT_EQ(*recovered, pub);
  }
}

TEST(Secp256k1RecoverableTest, RejectsMalformedInput) {
  PrivateKey key = ImportOrDie(kTestKeyHex);
  Bytes digest = Digest(0x33);
  Bytes sig = SignDigestRecoverable(key, digest).value_or(Bytes{});
  ASSERT_EQ(sig.size(), 65u);

  ExpectBadSignature(RecoverDigest(digest, ByteSpan(sig).first(64)).status());
  Bytes longer = sig;
  longer.push_back(27);
  ExpectBadSignature(RecoverDigest(digest, longer).status());
  ExpectBadSignature(RecoverDigest(digest, Bytes{}).status());

  Bytes zero_r = sig;
  std::fill(zero_r.begin(), zero_r.begin() + 32, 0);
  ExpectBadSignature(RecoverDigest(digest, zero_r).status());
  Bytes zero_s = sig;
  std::fill(zero_s.begin() + 32, zero_s.begin() + 64, 0);
  ExpectBadSignature(RecoverDigest(digest, zero_s).status());
  Bytes r_is_n = sig;
  Bytes order = H(kOrderHex);
  std::copy(order.begin(), order.end(), r_is_n.begin());
  ExpectBadSignature(RecoverDigest(digest, r_is_n).status());
  Bytes s_is_n = sig;
  std::copy(order.begin(), order.end(), s_is_n.begin() + 32);
  ExpectBadSignature(
      RecoverDigest(digest, s_is_n, {.allow_high_s = true, .allow_raw_v = false}).status());

  EXPECT_EQ(RecoverDigest(Bytes(31, 0x33), sig).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SignDigestRecoverable(key, Bytes(31, 0x33)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SignDigestRecoverable(key, Bytes(33, 0x33)).status().code(),
            StatusCode::kInvalidArgument);
}

// x402 vectors: EIP-3009 authorizations signed by viem with the Anvil #1 development key.
TEST(Secp256k1RecoverableTest, X402VectorsReproduceAndRecover) {
  const char* kFiles[] = {
      "tests/vectors/x402/vector_v1_base_mainnet_usdc_1234567.json",
      "tests/vectors/x402/vector_v1_base_sepolia_usdc_10000.json",
      "tests/vectors/x402/vector_v2_avalanche_usdc_250000_longlived.json",
      "tests/vectors/x402/vector_v2_base_mainnet_usdc_1.json",
      "tests/vectors/x402/vector_v2_base_sepolia_usdc_10000.json",
  };
  for (const char* file : kFiles) {
    SCOPED_TRACE(file);
    json::Value doc = LoadJson(file);
    ASSERT_TRUE(doc.is_object());
    PrivateKey key = ImportOrDie(doc.Find("privateKey")->as_string());
    PublicKey pub = DeriveOrDie(key);
    Result<Bytes> point = UncompressedPoint(pub);
    ASSERT_TRUE(point.ok());
    ASSERT_EQ(point->size(), 65u);
    EXPECT_EQ((*point)[0], 0x04);
    // The Ethereum address (Keccak-256 of X||Y) is checked by the Ethereum tests.

    const json::Value* eip712 = doc.Find("eip712");
    ASSERT_NE(eip712, nullptr);
    Bytes digest = H(eip712->Find("digest")->as_string());
    Bytes expected_sig =
        H(doc.Find("decodedPaymentPayload")->Find("payload")->Find("signature")->as_string());
    ASSERT_EQ(expected_sig.size(), 65u);
    const json::Value* parts = eip712->Find("signatureParts");
    EXPECT_EQ(int64_t{expected_sig[64]}, parts->Find("v")->as_int64().value_or(-1));

    Result<Bytes> sig = SignDigestRecoverable(key, digest);
    ASSERT_TRUE(sig.ok()) << sig.status().ToString();
    EXPECT_EQ(HexEncode(*sig), HexEncode(expected_sig));

    Result<PublicKey> recovered = RecoverDigest(digest, expected_sig);
    ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
    EXPECT_EQ(*recovered, pub);
  }
}

}  // namespace
}  // namespace mandated::signer
