// Hex, base64url and base58btc codecs against RFC 4648 and known base58 vectors.
#include "base/bytes.h"

#include <gtest/gtest.h>

#include "base/asset.h"
#include "base/random.h"

namespace mandated {
namespace {

TEST(Hex, RoundTripAndStrictness) {
  EXPECT_EQ(HexEncode(ToBytes("\x01\xab\xff")), "01abff");
  EXPECT_EQ(*HexDecode("01ABff"), ToBytes("\x01\xab\xff"));
  EXPECT_EQ(*HexDecode("0x01", /*allow_0x=*/true), ToBytes("\x01"));
  EXPECT_EQ(HexDecode("0x01").error().reason(), "bad-hex");
  EXPECT_EQ(HexDecode("abc").error().reason(), "bad-hex");
  EXPECT_EQ(HexDecode("zz").error().reason(), "bad-hex");
}

// RFC 4648 §10 test vectors, in the base64url alphabet without padding.
TEST(Base64Url, Rfc4648Vectors) {
  const std::pair<const char*, const char*> cases[] = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"},
      {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : cases) {
    EXPECT_EQ(Base64UrlEncode(AsBytes(plain)), encoded);
    EXPECT_EQ(*Base64UrlDecode(encoded), ToBytes(plain));
  }
  EXPECT_EQ(Base64UrlEncode(ToBytes("\xfb\xff")), "-_8");
}

TEST(Base64Url, RefusesPaddingForeignAlphabetAndSpareBits) {
  EXPECT_EQ(Base64UrlDecode("Zg==").error().reason(), "bad-base64");
  EXPECT_EQ(Base64UrlDecode("+/8").error().reason(), "bad-base64");
  EXPECT_EQ(Base64UrlDecode("Zh").error().reason(), "bad-base64");  // non-zero trailing bits
  EXPECT_EQ(Base64UrlDecode("Z").error().reason(), "bad-base64");
  EXPECT_EQ(Base64UrlDecode("Zm 9v").error().reason(), "bad-base64");
}

TEST(Base64, StandardPadded) {
  EXPECT_EQ(Base64Encode(AsBytes("fo")), "Zm8=");
  EXPECT_EQ(*Base64Decode("Zm8="), ToBytes("fo"));
  EXPECT_EQ(Base64Decode("Zm8").error().reason(), "bad-base64");
}

TEST(Base58Btc, KnownVectors) {
  EXPECT_EQ(Base58BtcEncode(AsBytes("Hello World!")), "2NEpo7TZRRrLZSi2U");
  EXPECT_EQ(Base58BtcEncode(ToBytes(std::string("\0\0\x01", 3))), "112");
  EXPECT_EQ(*Base58BtcDecode("2NEpo7TZRRrLZSi2U"), ToBytes("Hello World!"));
  EXPECT_EQ(*Base58BtcDecode("112"), ToBytes(std::string("\0\0\x01", 3)));
  EXPECT_EQ(Base58BtcDecode("0OIl").error().reason(), "bad-base58");
  Bytes random_bytes = *SystemRandom::Get().Generate(40);
  EXPECT_EQ(*Base58BtcDecode(Base58BtcEncode(random_bytes)), random_bytes);
}

TEST(ConstantTime, Equality) {
  EXPECT_TRUE(ConstantTimeEquals(AsBytes("abc"), AsBytes("abc")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("abc"), AsBytes("abd")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("abc"), AsBytes("ab")));
}

TEST(Random, IdsArePrefixedAndDistinct) {
  std::string a = *SystemRandom::Get().NewId("prn_");
  std::string b = *SystemRandom::Get().NewId("prn_");
  EXPECT_EQ(a.size(), 30u);
  EXPECT_EQ(a.substr(0, 4), "prn_");
  EXPECT_NE(a, b);
}

TEST(Asset, Identifiers) {
  EXPECT_TRUE(ValidateAssetId("USD").ok());
  EXPECT_TRUE(ValidateAssetId("eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913").ok());
  EXPECT_EQ(ValidateAssetId("usd").reason(), "bad-asset");
  EXPECT_EQ(ValidateAssetId("eip155:8453").reason(), "bad-asset");
  EXPECT_TRUE(ValidateNetworkId("eip155:84532").ok());
  EXPECT_EQ(ValidateNetworkId("base-sepolia").reason(), "bad-network");
}

}  // namespace
}  // namespace mandated
