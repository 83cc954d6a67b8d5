// Tests of SHA-2 and HMAC-SHA256 (hash.h) against published vectors, and of AES-256-GCM sealing.
#include "signer/aead.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "base/bytes.h"
#include "base/secret.h"
#include "signer/hash.h"

namespace mandated::signer {
namespace {

// Fills every request with the same byte, or fails when `fail` is set.
// Thread safety: not synchronized; single-threaded tests only.
class FixedRandom final : public Random {
 public:
  explicit FixedRandom(uint8_t byte, bool fail = false) : byte_(byte), fail_(fail) {}
  Status Fill(std::span<uint8_t> out) override {
    if (fail_) return UnavailableError("no entropy today");
    std::fill(out.begin(), out.end(), byte_);
    return OkStatus();
  }

 private:
  uint8_t byte_;
  bool fail_;
};

// ---------------------------------------------------------------------------------------------
// Hashes

TEST(HashTest, Sha2OfAbcMatchesFips180) {
  EXPECT_EQ(HexEncode(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha384(AsBytes("abc"))),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded163"
            "1a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
  EXPECT_EQ(HexEncode(Sha512(AsBytes("abc"))),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

TEST(HashTest, Sha256OfEmptyInput) {
  EXPECT_EQ(HexEncode(Sha256(ByteSpan())),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(HashTest, HmacSha256Rfc4231) {
  // Test case 1.
  EXPECT_EQ(HexEncode(HmacSha256(Bytes(20, 0x0b), AsBytes("Hi There"))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2.
  EXPECT_EQ(HexEncode(HmacSha256(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a 131-byte key, longer than the block, is hashed first.
  EXPECT_EQ(
      HexEncode(HmacSha256(Bytes(131, 0xaa),
                           AsBytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HashTest, HmacSha256EmptyKeyAndData) {
  EXPECT_EQ(HexEncode(HmacSha256(ByteSpan(), ByteSpan())),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

// ---------------------------------------------------------------------------------------------
// AES-256-GCM

SecretBytes Key(uint8_t byte) { return SecretBytes(Bytes(32, byte)); }

TEST(AeadTest, KnownAnswerWithZeroKeyAndNonce) {
  // McGrew & Viega, "The GCM mode of operation", test cases 13 and 14.
  FixedRandom zeros(0x00);
  Result<Bytes> empty = SealAes256Gcm(Key(0), ByteSpan(), ByteSpan(), zeros);
  ASSERT_TRUE(empty.ok()) << empty.error().ToString();
  EXPECT_EQ(HexEncode(*empty), "000000000000000000000000530f8afbc74536b9a963b4f1c4cb738b");
  Result<Bytes> block = SealAes256Gcm(Key(0), Bytes(16, 0), ByteSpan(), zeros);
  ASSERT_TRUE(block.ok());
  EXPECT_EQ(HexEncode(*block),
            "000000000000000000000000"
            "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
  Result<SecretBytes> opened = OpenAes256Gcm(Key(0), *block, ByteSpan());
  ASSERT_TRUE(opened.ok()) << opened.error().ToString();
  EXPECT_TRUE(opened->Equals(Bytes(16, 0)));
}

TEST(AeadTest, RoundTripAndExactLength) {
  const SecretBytes key = Key(0x42);
  const Bytes aad = ToBytes("key-id:k_123");
  for (size_t n : {0, 1, 15, 16, 17, 32, 1000}) {
    SCOPED_TRACE(n);
    Bytes plaintext(n);
    for (size_t i = 0; i < n; ++i) plaintext[i] = static_cast<uint8_t>(i * 7 + 3);
    Result<Bytes> sealed = SealAes256Gcm(key, plaintext, aad, SystemRandom::Get());
    ASSERT_TRUE(sealed.ok()) << sealed.error().ToString();
    EXPECT_EQ(sealed->size(), n + 28);
    Result<SecretBytes> opened = OpenAes256Gcm(key, *sealed, aad);
    ASSERT_TRUE(opened.ok()) << opened.error().ToString();
    EXPECT_EQ(opened->size(), n);
    EXPECT_TRUE(opened->Equals(plaintext));
  }
}

TEST(AeadTest, NonceComesFromRandom) {
  FixedRandom random(0xab);
  Result<Bytes> sealed = SealAes256Gcm(Key(1), ToBytes("secret"), ByteSpan(), random);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(Bytes(sealed->begin(), sealed->begin() + 12), Bytes(12, 0xab));
  // A fresh nonce per call from the system source.
  Result<Bytes> a = SealAes256Gcm(Key(1), ToBytes("secret"), ByteSpan(), SystemRandom::Get());
  Result<Bytes> b = SealAes256Gcm(Key(1), ToBytes("secret"), ByteSpan(), SystemRandom::Get());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST(AeadTest, RandomFailureIsPropagated) {
  FixedRandom broken(0, /*fail=*/true);
  Result<Bytes> sealed = SealAes256Gcm(Key(1), ToBytes("secret"), ByteSpan(), broken);
  ASSERT_FALSE(sealed.ok());
  EXPECT_EQ(sealed.error().code(), StatusCode::kUnavailable);
}

void ExpectAuthFailed(const Result<SecretBytes>& r) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), StatusCode::kUnauthenticated) << r.error().ToString();
  EXPECT_EQ(r.error().reason(), "aead-auth-failed");
}

TEST(AeadTest, WrongKeyFails) {
  Result<Bytes> sealed =
      SealAes256Gcm(Key(1), ToBytes("private key bytes"), ToBytes("aad"), SystemRandom::Get());
  ASSERT_TRUE(sealed.ok());
  ExpectAuthFailed(OpenAes256Gcm(Key(2), *sealed, ToBytes("aad")));
  SecretBytes almost = Key(1);
  almost.data()[31] ^= 0x01;
  ExpectAuthFailed(OpenAes256Gcm(almost, *sealed, ToBytes("aad")));
}

TEST(AeadTest, WrongAadFails) {
  Result<Bytes> sealed =
      SealAes256Gcm(Key(1), ToBytes("private key bytes"), ToBytes("aad"), SystemRandom::Get());
  ASSERT_TRUE(sealed.ok());
  ExpectAuthFailed(OpenAes256Gcm(Key(1), *sealed, ToBytes("aae")));
  ExpectAuthFailed(OpenAes256Gcm(Key(1), *sealed, ByteSpan()));
  ExpectAuthFailed(OpenAes256Gcm(Key(1), *sealed, ToBytes("aad ")));
}

TEST(AeadTest, EveryFlippedBitFails) {
  const Bytes plaintext = ToBytes("private key bytes");
  Result<Bytes> sealed = SealAes256Gcm(Key(1), plaintext, ToBytes("aad"), SystemRandom::Get());
  ASSERT_TRUE(sealed.ok());
  // Every bit of nonce, ciphertext and tag is covered.
  for (size_t i = 0; i < sealed->size() * 8; ++i) {
    SCOPED_TRACE(i);
    Bytes tampered = *sealed;
    tampered[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
    ExpectAuthFailed(OpenAes256Gcm(Key(1), tampered, ToBytes("aad")));
  }
  // Truncation and extension fail too.
  ExpectAuthFailed(
      OpenAes256Gcm(Key(1), ByteSpan(sealed->data(), sealed->size() - 1), ToBytes("aad")));
  Bytes extended = *sealed;
  extended.push_back(0);
  ExpectAuthFailed(OpenAes256Gcm(Key(1), extended, ToBytes("aad")));
}

TEST(AeadTest, BadLengthsAreInvalidArgument) {
  FixedRandom random(0);
  for (size_t n : {0, 16, 31, 33, 64}) {
    SCOPED_TRACE(n);
    SecretBytes key{Bytes(n, 1)};
    Result<Bytes> sealed = SealAes256Gcm(key, ToBytes("x"), ByteSpan(), random);
    ASSERT_FALSE(sealed.ok());
    EXPECT_EQ(sealed.error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(sealed.error().reason(), "bad-key");
    Result<SecretBytes> opened = OpenAes256Gcm(key, Bytes(40, 0), ByteSpan());
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(opened.error().reason(), "bad-key");
  }
  for (size_t n : {0, 1, 12, 27}) {
    SCOPED_TRACE(n);
    Result<SecretBytes> opened = OpenAes256Gcm(Key(1), Bytes(n, 0), ByteSpan());
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(opened.error().reason(), "aead-too-short");
  }
  // Exactly the overhead is an (unauthentic) empty box, not a length error.
  ExpectAuthFailed(OpenAes256Gcm(Key(1), Bytes(28, 0), ByteSpan()));
}

}  // namespace
}  // namespace mandated::signer
