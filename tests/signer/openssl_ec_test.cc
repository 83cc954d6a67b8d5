// Tests of the OpenSSL signer (Ed25519, P-256) through signature.h: keys, sign/verify, encodings.
#include "signer/signature.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <string>

#include "base/bytes.h"
#include "base/json.h"
#include "signer/hash.h"
#include "tests/support/test_support.h"

namespace mandated::signer {
namespace {

Bytes Hex(std::string_view hex) {
  Result<Bytes> b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes();
}

// Hands out the given blocks in order, then fails (kUnavailable).
// Thread safety: not synchronized; single-threaded tests only.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::initializer_list<Bytes> blocks) : blocks_(blocks) {}
  Status Fill(std::span<uint8_t> out) override {
    if (blocks_.empty()) {
      return UnavailableError("script exhausted");
    }
    EXPECT_EQ(blocks_.front().size(), out.size());
    std::copy_n(blocks_.front().begin(), std::min(out.size(), blocks_.front().size()), out.begin());
    blocks_.pop_front();
    return OkStatus();
  }
  size_t remaining() const { return blocks_.size(); }

 private:
  std::deque<Bytes> blocks_;
};

// A reproducible stream: SHA-256(label || counter) blocks.
// Thread safety: not synchronized; single-threaded tests only.
class DeterministicRandom final : public Random {
 public:
  Status Fill(std::span<uint8_t> out) override {
    for (size_t done = 0; done < out.size();) {
      Bytes input = ToBytes("openssl_ec_test");
      input.push_back(static_cast<uint8_t>(counter_ >> 8));
      input.push_back(static_cast<uint8_t>(counter_));
      ++counter_;
      const Bytes block = Sha256(input);
      const size_t n = std::min(block.size(), out.size() - done);
      std::copy_n(block.begin(), n, out.begin() + static_cast<ptrdiff_t>(done));
      done += n;
    }
    return OkStatus();
  }

 private:
  uint32_t counter_ = 0;
};

constexpr char kP256OrderHex[] = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
constexpr char kP256HalfOrderHex[] =
    "7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8";

// RFC 6979 §A.2.5 P-256 key.
constexpr char kP256PrivHex[] = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
constexpr char kP256UncompressedHex[] =
    "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
    "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299";
constexpr char kP256CompressedHex[] =
    "0360fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6";

// a - b for equal-length big-endian integers with a >= b.
Bytes Subtract(const Bytes& a, const Bytes& b) {
  Bytes out(a.size());
  int borrow = 0;
  for (size_t i = a.size(); i-- > 0;) {
    int diff = int{a[i]} - int{b[i]} - borrow;
    borrow = diff < 0 ? 1 : 0;
    out[i] = static_cast<uint8_t>(diff + 256 * borrow);
  }
  return out;
}

// DER INTEGER of a 32-byte big-endian unsigned value, minimal.
Bytes DerInteger(const Bytes& v) {
  size_t start = 0;
  while (start + 1 < v.size() && v[start] == 0) ++start;
  Bytes body(v.begin() + static_cast<ptrdiff_t>(start), v.end());
  if (body[0] & 0x80) body.insert(body.begin(), 0x00);
  Bytes out = {0x02, static_cast<uint8_t>(body.size())};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes DerSignature(const Bytes& raw) {
  Bytes r = DerInteger(Bytes(raw.begin(), raw.begin() + 32));
  Bytes s = DerInteger(Bytes(raw.begin() + 32, raw.end()));
  Bytes out = {0x30, static_cast<uint8_t>(r.size() + s.size())};
  out.insert(out.end(), r.begin(), r.end());
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

void ExpectBadSignature(const Status& s) {
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.ToString();
  EXPECT_EQ(s.reason(), "bad-signature") << s.ToString();
}

template <typename T>
void ExpectBadKey(const Result<T>& r) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << r.error().ToString();
  EXPECT_EQ(r.error().reason(), "bad-key") << r.error().ToString();
}

// ---------------------------------------------------------------------------------------------
// Ed25519

TEST(OpensslEd25519Test, Rfc8032Test1ByteForByte) {
  const Bytes seed = Hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  Result<PrivateKey> key = ImportPrivateKey(KeyType::kEd25519, seed);
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  Result<PublicKey> pub = DerivePublicKey(*key);
  ASSERT_TRUE(pub.ok()) << pub.error().ToString();
  EXPECT_EQ(pub->type, KeyType::kEd25519);
  EXPECT_EQ(HexEncode(pub->bytes),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  Result<Bytes> sig = Sign(*key, ByteSpan());
  ASSERT_TRUE(sig.ok()) << sig.error().ToString();
  EXPECT_EQ(HexEncode(*sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
            "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  EXPECT_TRUE(Verify(*pub, ByteSpan(), *sig).ok());
}

TEST(OpensslEd25519Test, Rfc8037JwsSignatureByteForByte) {
  Result<json::Value> doc = json::Parse(
      testing::ReadFileOrDie(testing::SourcePath("tests/vectors/jws/rfc8037-ed25519.json")));
  ASSERT_TRUE(doc.ok()) << doc.error().ToString();
  const Bytes seed = Hex(doc->Find("privateKeyHex")->as_string());
  const std::string& signing_input = doc->Find("signingInput")->as_string();
  Result<PrivateKey> key = ImportPrivateKey(KeyType::kEd25519, seed);
  ASSERT_TRUE(key.ok());
  Result<PublicKey> pub = DerivePublicKey(*key);
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(HexEncode(pub->bytes), doc->Find("publicKeyHex")->as_string());
  Result<Bytes> sig = Sign(*key, AsBytes(signing_input));
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(HexEncode(*sig), doc->Find("signatureHex")->as_string());
  EXPECT_TRUE(Verify(*pub, AsBytes(signing_input), *sig).ok());
}

TEST(OpensslEd25519Test, GenerateUsesTheGivenRandomBytes) {
  const Bytes seed = Hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  ScriptedRandom random({seed});
  Result<PrivateKey> key = GenerateKey(KeyType::kEd25519, random);
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  EXPECT_EQ(key->type, KeyType::kEd25519);
  EXPECT_TRUE(key->secret.Equals(seed));
  EXPECT_EQ(random.remaining(), 0u);
}

TEST(OpensslEd25519Test, GeneratePropagatesRandomFailure) {
  ScriptedRandom random({});
  Result<PrivateKey> key = GenerateKey(KeyType::kEd25519, random);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code(), StatusCode::kUnavailable);
}

TEST(OpensslEd25519Test, RoundTripAndTampering) {
  DeterministicRandom random;
  Result<PrivateKey> key = GenerateKey(KeyType::kEd25519, random);
  ASSERT_TRUE(key.ok());
  Result<PublicKey> pub = DerivePublicKey(*key);
  ASSERT_TRUE(pub.ok());
  const Bytes message = ToBytes("pay 1.00 USDC to merchant 42");
  Result<Bytes> sig = Sign(*key, message);
  ASSERT_TRUE(sig.ok());
  ASSERT_EQ(sig->size(), 64u);
  EXPECT_TRUE(Verify(*pub, message, *sig).ok());

  Bytes other_message = message;
  other_message.back() ^= 0x01;
  ExpectBadSignature(Verify(*pub, other_message, *sig));
  for (size_t i : {size_t{0}, size_t{31}, size_t{32}, size_t{63}}) {
    Bytes bad = *sig;
    bad[i] ^= 0x01;
    SCOPED_TRACE(i);
    ExpectBadSignature(Verify(*pub, message, bad));
  }
  ExpectBadSignature(Verify(*pub, message, ByteSpan(sig->data(), 63)));
  Bytes longer = *sig;
  longer.push_back(0);
  ExpectBadSignature(Verify(*pub, message, longer));
  ExpectBadSignature(Verify(*pub, message, ByteSpan()));

  // Another key's signature does not verify.
  Result<PrivateKey> other = GenerateKey(KeyType::kEd25519, random);
  ASSERT_TRUE(other.ok());
  Result<Bytes> other_sig = Sign(*other, message);
  ASSERT_TRUE(other_sig.ok());
  ExpectBadSignature(Verify(*pub, message, *other_sig));
}

TEST(OpensslEd25519Test, ImportRejectsWrongLength) {
  ExpectBadKey(ImportPrivateKey(KeyType::kEd25519, Bytes(31, 1)));
  ExpectBadKey(ImportPrivateKey(KeyType::kEd25519, Bytes(33, 1)));
  ExpectBadKey(ImportPrivateKey(KeyType::kEd25519, Bytes()));
}

TEST(OpensslEd25519Test, ParsePublicKey) {
  const Bytes good = Hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  Result<PublicKey> pub = ParsePublicKey(KeyType::kEd25519, good);
  ASSERT_TRUE(pub.ok()) << pub.error().ToString();
  EXPECT_EQ(pub->bytes, good);

  ExpectBadKey(ParsePublicKey(KeyType::kEd25519, Bytes(31, 1)));
  ExpectBadKey(ParsePublicKey(KeyType::kEd25519, Bytes(33, 1)));
  // y = 2 has no x on the curve.
  ExpectBadKey(ParsePublicKey(
      KeyType::kEd25519, Hex("0200000000000000000000000000000000000000000000000000000000000000")));
  // Small order: identity (y = 1), order 2 (y = p - 1), order 4 (y = 0), order 8.
  ExpectBadKey(ParsePublicKey(
      KeyType::kEd25519, Hex("0100000000000000000000000000000000000000000000000000000000000000")));
  ExpectBadKey(ParsePublicKey(
      KeyType::kEd25519, Hex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")));
  ExpectBadKey(ParsePublicKey(
      KeyType::kEd25519, Hex("0000000000000000000000000000000000000000000000000000000000000000")));
  ExpectBadKey(ParsePublicKey(
      KeyType::kEd25519, Hex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")));
  // Non-canonical: y = p + 1 (the identity written with y >= p).
  ExpectBadKey(ParsePublicKey(
      KeyType::kEd25519, Hex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")));
  // Non-canonical: x = 0 with the sign bit set (y = 1 - with the bit: "negative zero").
  ExpectBadKey(ParsePublicKey(
      KeyType::kEd25519, Hex("0100000000000000000000000000000000000000000000000000000000000080")));
}

TEST(OpensslEd25519Test, UncompressedPointIsForEcKeysOnly) {
  PublicKey pub{KeyType::kEd25519,
                Hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")};
  ExpectBadKey(UncompressedPoint(pub));
}

// ---------------------------------------------------------------------------------------------
// P-256

TEST(OpensslP256Test, DerivesKnownPublicKey) {
  Result<PrivateKey> key = ImportPrivateKey(KeyType::kP256, Hex(kP256PrivHex));
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  Result<PublicKey> pub = DerivePublicKey(*key);
  ASSERT_TRUE(pub.ok()) << pub.error().ToString();
  EXPECT_EQ(pub->type, KeyType::kP256);
  EXPECT_EQ(HexEncode(pub->bytes), kP256CompressedHex);
  Result<Bytes> uncompressed = UncompressedPoint(*pub);
  ASSERT_TRUE(uncompressed.ok());
  EXPECT_EQ(HexEncode(*uncompressed), kP256UncompressedHex);
}

TEST(OpensslP256Test, CompressedAndUncompressedParseToTheSameKey) {
  Result<PublicKey> from_compressed = ParsePublicKey(KeyType::kP256, Hex(kP256CompressedHex));
  Result<PublicKey> from_uncompressed = ParsePublicKey(KeyType::kP256, Hex(kP256UncompressedHex));
  ASSERT_TRUE(from_compressed.ok()) << from_compressed.error().ToString();
  ASSERT_TRUE(from_uncompressed.ok()) << from_uncompressed.error().ToString();
  EXPECT_EQ(*from_compressed, *from_uncompressed);
  EXPECT_EQ(HexEncode(from_uncompressed->bytes), kP256CompressedHex);
}

TEST(OpensslP256Test, ParsePublicKeyRejectsBadPoints) {
  const Bytes uncompressed = Hex(kP256UncompressedHex);
  const Bytes compressed = Hex(kP256CompressedHex);
  // Wrong lengths.
  for (size_t n : {0, 1, 32, 34, 64, 66}) {
    SCOPED_TRACE(n);
    ExpectBadKey(ParsePublicKey(KeyType::kP256, Bytes(n, 0x02)));
  }
  // Identity (SEC1 encodes it as the single byte 0x00).
  ExpectBadKey(ParsePublicKey(KeyType::kP256, Bytes{0x00}));
  // Off the curve: y changed.
  Bytes off_curve = uncompressed;
  off_curve.back() ^= 0x01;
  ExpectBadKey(ParsePublicKey(KeyType::kP256, off_curve));
  // Compressed x = 1: x^3 - 3x + b is not a square mod p.
  Bytes x_one(33, 0);
  x_one[0] = 0x02;
  x_one[32] = 0x01;
  ExpectBadKey(ParsePublicKey(KeyType::kP256, x_one));
  // Wrong prefixes, including the hybrid forms 0x06/0x07 that OpenSSL would accept.
  for (uint8_t prefix : {0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x07}) {
    SCOPED_TRACE(prefix);
    Bytes b = uncompressed;
    b[0] = prefix;
    ExpectBadKey(ParsePublicKey(KeyType::kP256, b));
  }
  for (uint8_t prefix : {0x00, 0x01, 0x04, 0x05}) {
    SCOPED_TRACE(prefix);
    Bytes b = compressed;
    b[0] = prefix;
    ExpectBadKey(ParsePublicKey(KeyType::kP256, b));
  }
  // x >= p (x = p + x' would reduce to a valid point if taken mod p).
  Bytes x_is_p = Hex("02ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
  ExpectBadKey(ParsePublicKey(KeyType::kP256, x_is_p));
  Bytes all_ff(33, 0xff);
  all_ff[0] = 0x03;
  ExpectBadKey(ParsePublicKey(KeyType::kP256, all_ff));
  // y >= p: y + p does not fit 32 bytes here, so use y = p exactly with a valid-looking x.
  Bytes y_is_p = uncompressed;
  const Bytes p = Hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
  std::copy(p.begin(), p.end(), y_is_p.begin() + 33);
  ExpectBadKey(ParsePublicKey(KeyType::kP256, y_is_p));
}

TEST(OpensslP256Test, ImportRejectsOutOfRangeScalars) {
  ExpectBadKey(ImportPrivateKey(KeyType::kP256, Bytes(32, 0)));
  ExpectBadKey(ImportPrivateKey(KeyType::kP256, Hex(kP256OrderHex)));
  ExpectBadKey(ImportPrivateKey(KeyType::kP256, Bytes(32, 0xff)));
  ExpectBadKey(ImportPrivateKey(KeyType::kP256, Bytes(31, 1)));
  ExpectBadKey(ImportPrivateKey(KeyType::kP256, Bytes(33, 1)));
  Bytes n_minus_1 = Hex(kP256OrderHex);
  n_minus_1.back() -= 1;
  EXPECT_TRUE(ImportPrivateKey(KeyType::kP256, n_minus_1).ok());
  Bytes one(32, 0);
  one.back() = 1;
  Result<PrivateKey> key = ImportPrivateKey(KeyType::kP256, one);
  ASSERT_TRUE(key.ok());
  // 1·G is the generator.
  Result<PublicKey> pub = DerivePublicKey(*key);
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(HexEncode(pub->bytes),
            "036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
}

TEST(OpensslP256Test, GenerateRejectionSamplesTheScalar) {
  const Bytes valid = Hex(kP256PrivHex);
  ScriptedRandom random({Bytes(32, 0xff), Bytes(32, 0x00), Hex(kP256OrderHex), valid});
  Result<PrivateKey> key = GenerateKey(KeyType::kP256, random);
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  EXPECT_EQ(key->type, KeyType::kP256);
  EXPECT_TRUE(key->secret.Equals(valid));
  EXPECT_EQ(random.remaining(), 0u);
}

TEST(OpensslP256Test, GeneratePropagatesRandomFailure) {
  ScriptedRandom random({Bytes(32, 0x00)});
  Result<PrivateKey> key = GenerateKey(KeyType::kP256, random);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code(), StatusCode::kUnavailable);
}

TEST(OpensslP256Test, RoundTripAndTampering) {
  DeterministicRandom random;
  Result<PrivateKey> key = GenerateKey(KeyType::kP256, random);
  ASSERT_TRUE(key.ok());
  Result<PublicKey> pub = DerivePublicKey(*key);
  ASSERT_TRUE(pub.ok());
  ASSERT_EQ(pub->bytes.size(), 33u);
  const Bytes message = ToBytes("pay 1.00 USDC to merchant 42");
  Result<Bytes> sig = Sign(*key, message);
  ASSERT_TRUE(sig.ok());
  ASSERT_EQ(sig->size(), 64u);
  EXPECT_TRUE(Verify(*pub, message, *sig).ok());
  // The uncompressed form of the same key verifies too.
  Result<Bytes> uncompressed = UncompressedPoint(*pub);
  ASSERT_TRUE(uncompressed.ok());
  EXPECT_TRUE(Verify(PublicKey{KeyType::kP256, *uncompressed}, message, *sig).ok());

  Bytes other_message = message;
  other_message[0] ^= 0x80;
  ExpectBadSignature(Verify(*pub, other_message, *sig));
  for (size_t i : {size_t{0}, size_t{31}, size_t{32}, size_t{63}}) {
    Bytes bad = *sig;
    bad[i] ^= 0x01;
    SCOPED_TRACE(i);
    ExpectBadSignature(Verify(*pub, message, bad));
  }
  ExpectBadSignature(Verify(*pub, message, ByteSpan(sig->data(), 63)));
  Bytes longer = *sig;
  longer.push_back(0);
  ExpectBadSignature(Verify(*pub, message, longer));
  ExpectBadSignature(Verify(*pub, message, ByteSpan()));

  Result<PrivateKey> other = GenerateKey(KeyType::kP256, random);
  ASSERT_TRUE(other.ok());
  Result<PublicKey> other_pub = DerivePublicKey(*other);
  ASSERT_TRUE(other_pub.ok());
  ExpectBadSignature(Verify(*other_pub, message, *sig));
}

TEST(OpensslP256Test, EmptyMessage) {
  Result<PrivateKey> key = ImportPrivateKey(KeyType::kP256, Hex(kP256PrivHex));
  ASSERT_TRUE(key.ok());
  Result<PublicKey> pub = DerivePublicKey(*key);
  ASSERT_TRUE(pub.ok());
  Result<Bytes> sig = Sign(*key, ByteSpan());
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(Verify(*pub, ByteSpan(), *sig).ok());
  ExpectBadSignature(Verify(*pub, Bytes{0}, *sig));
}

TEST(OpensslP256Test, SignaturesAreAlwaysLowS) {
  Result<PrivateKey> key = ImportPrivateKey(KeyType::kP256, Hex(kP256PrivHex));
  ASSERT_TRUE(key.ok());
  Result<PublicKey> pub = DerivePublicKey(*key);
  ASSERT_TRUE(pub.ok());
  const Bytes half_order = Hex(kP256HalfOrderHex);
  const Bytes order = Hex(kP256OrderHex);
  const VerifyOptions strict{SignatureFormat::kRaw, /*allow_high_s=*/false};
  const VerifyOptions lenient{SignatureFormat::kRaw, /*allow_high_s=*/true};
  int high_s_checked = 0;
  for (int i = 0; i < 200; ++i) {
    SCOPED_TRACE(i);
    const Bytes message = ToBytes("message " + std::to_string(i));
    Result<Bytes> sig = Sign(*key, message);
    ASSERT_TRUE(sig.ok()) << sig.error().ToString();
    ASSERT_EQ(sig->size(), 64u);
    const Bytes s(sig->begin() + 32, sig->end());
    EXPECT_LE(HexEncode(s), HexEncode(half_order));  // same-length hex orders like the integers
    EXPECT_TRUE(Verify(*pub, message, *sig, strict).ok());
    // The high-S twin (r, n - s) is the same signature mathematically.
    Bytes twin(sig->begin(), sig->begin() + 32);
    const Bytes high_s = Subtract(order, s);
    twin.insert(twin.end(), high_s.begin(), high_s.end());
    ExpectBadSignature(Verify(*pub, message, twin, strict));
    EXPECT_TRUE(Verify(*pub, message, twin, lenient).ok());
    ++high_s_checked;
  }
  EXPECT_EQ(high_s_checked, 200);
}

TEST(OpensslP256Test, DerFormat) {
  Result<PrivateKey> key = ImportPrivateKey(KeyType::kP256, Hex(kP256PrivHex));
  ASSERT_TRUE(key.ok());
  Result<PublicKey> pub = DerivePublicKey(*key);
  ASSERT_TRUE(pub.ok());
  const Bytes message = ToBytes("sample");
  Result<Bytes> raw = Sign(*key, message);
  ASSERT_TRUE(raw.ok());
  const VerifyOptions der{SignatureFormat::kDer, /*allow_high_s=*/false};
  const Bytes good = DerSignature(*raw);
  EXPECT_TRUE(Verify(*pub, message, good, der).ok());
  // The raw bytes are not DER, and DER is not raw.
  ExpectBadSignature(Verify(*pub, message, *raw, der));
  ExpectBadSignature(Verify(*pub, message, good));

  Bytes trailing = good;
  trailing.push_back(0x00);
  ExpectBadSignature(Verify(*pub, message, trailing, der));

  // Long-form length where the short form is required.
  Bytes long_len = {0x30, 0x81, good[1]};
  long_len.insert(long_len.end(), good.begin() + 2, good.end());
  ExpectBadSignature(Verify(*pub, message, long_len, der));

  // r with a superfluous leading zero (non-minimal INTEGER).
  Bytes r(raw->begin(), raw->begin() + 32);
  Bytes s(raw->begin() + 32, raw->end());
  Bytes r_der = DerInteger(r);
  r_der.insert(r_der.begin() + 2, 0x00);
  r_der[1] += 1;
  const Bytes s_der = DerInteger(s);
  Bytes padded = {0x30, static_cast<uint8_t>(r_der.size() + s_der.size())};
  padded.insert(padded.end(), r_der.begin(), r_der.end());
  padded.insert(padded.end(), s_der.begin(), s_der.end());
  ExpectBadSignature(Verify(*pub, message, padded, der));

  ExpectBadSignature(Verify(*pub, message, ByteSpan(), der));
  ExpectBadSignature(Verify(*pub, message, Bytes{0x30, 0x00}, der));
}

TEST(OpensslP256Test, RawRejectsOutOfRangeScalars) {
  Result<PublicKey> pub = ParsePublicKey(KeyType::kP256, Hex(kP256CompressedHex));
  ASSERT_TRUE(pub.ok());
  const VerifyOptions lenient{SignatureFormat::kRaw, /*allow_high_s=*/true};
  const Bytes one = Hex("0000000000000000000000000000000000000000000000000000000000000001");
  const Bytes zero(32, 0);
  const Bytes order = Hex(kP256OrderHex);
  auto concat = [](const Bytes& a, const Bytes& b) {
    Bytes out = a;
    out.insert(out.end(), b.begin(), b.end());
    return out;
  };
  ExpectBadSignature(Verify(*pub, ToBytes("m"), concat(zero, one), lenient));
  ExpectBadSignature(Verify(*pub, ToBytes("m"), concat(one, zero), lenient));
  ExpectBadSignature(Verify(*pub, ToBytes("m"), concat(order, one), lenient));
  ExpectBadSignature(Verify(*pub, ToBytes("m"), concat(one, order), lenient));
  ExpectBadSignature(Verify(*pub, ToBytes("m"), Bytes(64, 0xff), lenient));
}

TEST(OpensslP256Test, VerifyRejectsInvalidKeyBytes) {
  Bytes x_one(33, 0);  // compressed x = 1 is not on the curve
  x_one[0] = 0x02;
  x_one[32] = 0x01;
  PublicKey bad{KeyType::kP256, x_one};
  const Status s = Verify(bad, ToBytes("m"), Bytes(64, 1));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.reason(), "bad-key");
}

}  // namespace
}  // namespace mandated::signer
