// Tests for signer/keccak.h: known Keccak-256 digests and one-shot vs incremental hashing.
#include "signer/keccak.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace mandated::signer {
namespace {

std::string KeccakHex(std::string_view s) { return HexEncode(Keccak256(AsBytes(s))); }

// buf[i] = 7i + 3 mod 256: every byte value occurs within 256 bytes.
Bytes PatternBuffer(size_t n) {
  Bytes buf(n);
  for (size_t i = 0; i < n; ++i) {
    buf[i] = static_cast<uint8_t>(i * 7 + 3);
  }
  return buf;
}

TEST(KeccakTest, KnownDigests) {
  EXPECT_EQ(KeccakHex(""), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  EXPECT_EQ(KeccakHex("abc"), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
  // Cross-checked against a separate bit-level FIPS 202 implementation.
  EXPECT_EQ(KeccakHex("testing"),
            "5f16f4c7f149ac4f9510d9cf8cf384038ad348b3bcdc01915f95de12df9d1b02");
}

TEST(KeccakTest, IsNotSha3) {
  // SHA3-256("") is a7ffc6f8...; Keccak-256 must differ (0x01 padding, not 0x06).
  EXPECT_NE(KeccakHex(""), "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
}

TEST(KeccakTest, X402NoncesMatchViem) {
  // tests/vectors/x402/SOURCES.md: nonce i is keccak256("x402-probe-nonce-<i>"), computed by viem.
  EXPECT_EQ(KeccakHex("x402-probe-nonce-1"),
            "6e34df76f08095fd487c92a97a3aad23d7a115def3e95f39783dc83b1781ca78");
  EXPECT_EQ(KeccakHex("x402-probe-nonce-2"),
            "76cf8c766a740d1652374bf89ba61356d26bb2611fd53da670aa9efd2c904d73");
  EXPECT_EQ(KeccakHex("x402-probe-nonce-3"),
            "161c9246737a0fb4d2fa16962850bcc7095d645fa33767d120d7799519fb7a34");
  EXPECT_EQ(KeccakHex("x402-probe-nonce-4"),
            "ba12bbdada6222481267c9499420878c78a7b678e284b0f36f5fda00765c23f2");
  EXPECT_EQ(KeccakHex("x402-probe-nonce-5"),
            "fb6e6bccc52d5a46a90b93810580ac8468da18f7c2b3e18296f05597f7bab879");
}

TEST(KeccakTest, RateBoundaryLengths) {
  // Lengths around the 136-byte rate (padding in the same block, a block of its own, ...).
  // Expected values come from a separate bit-level FIPS 202 implementation.
  const Bytes buf = PatternBuffer(300);
  const struct {
    size_t length;
    const char* hex;
  } kCases[] = {
      {135, "00ef96af9cf4b24c7f269d922294444a197d0a33638c2e56634c57e892103a8f"},
      {136, "742061bcad767ed4c4f5883b1dcb1aad11afdcc140dc469d953759b127b9f9ed"},
      {137, "e3371f61e770abf254c34239c3b0099ad90594507415bc81dd0a10b9692bbf2a"},
      {200, "66d2cdf3ab4c5bd3c75add9b60b14ac5b7789534fa2da3f348853b847359a3a0"},
      {272, "ac141fd7b0a0ffcd2e967254d508da3ec616596493c36fa304425647d90e6de5"},
      {300, "fa75f2293be9f9a14dcdeeff53f7b91ff6a2b1331b13886e69077ab1cf8252a9"},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(HexEncode(Keccak256(ByteSpan(buf).first(c.length))), c.hex) << c.length;
  }
}

TEST(KeccakTest, TwoHundredBytesIncrementallyMatchesOneShot) {
  const Bytes buf = PatternBuffer(200);
  const Bytes one_shot = Keccak256(buf);
  for (size_t chunk : {1u, 7u, 64u, 135u, 136u, 137u, 199u}) {
    Keccak256Hasher hasher;
    for (size_t pos = 0; pos < buf.size(); pos += chunk) {
      hasher.Update(ByteSpan(buf).subspan(pos, std::min(chunk, buf.size() - pos)));
    }
    const auto digest = hasher.Finish();
    EXPECT_EQ(Bytes(digest.begin(), digest.end()), one_shot) << "chunk " << chunk;
  }
}

TEST(KeccakTest, EverySplitPointOf300Bytes) {
  const Bytes buf = PatternBuffer(300);
  const Bytes one_shot = Keccak256(buf);
  for (size_t split = 0; split <= buf.size(); ++split) {
    Keccak256Hasher hasher;
    hasher.Update(ByteSpan(buf).first(split));
    hasher.Update(ByteSpan(buf).subspan(split));
    const auto digest = hasher.Finish();
    ASSERT_EQ(Bytes(digest.begin(), digest.end()), one_shot) << "split " << split;
  }
}

TEST(KeccakTest, FinishResetsTheHasher) {
  Keccak256Hasher hasher;
  hasher.Update(AsBytes("abc"));
  const auto first = hasher.Finish();
  EXPECT_EQ(HexEncode(first), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
  const auto empty = hasher.Finish();
  EXPECT_EQ(HexEncode(empty), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  hasher.Update(AsBytes("testing"));
  EXPECT_EQ(HexEncode(hasher.Finish()),
            "5f16f4c7f149ac4f9510d9cf8cf384038ad348b3bcdc01915f95de12df9d1b02");
}

}  // namespace
}  // namespace mandated::signer
