// ZLIB adapter: round trips, a known stream, and every refusal of the strict bounded inflater.
#include "base/deflate.h"

#include <gtest/gtest.h>

#include <string>

namespace mandated {
namespace {

// The draft-ietf-oauth-status-list example 1 stream (zlib level 9 of b9a3).
constexpr std::string_view kKnownStreamHex = "78dadbb918000217015d";

Bytes Hex(std::string_view hex) { return *HexDecode(hex); }

void ExpectRefused(const Result<Bytes>& r, const char* reason) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.error().reason(), reason) << r.error().ToString();
}

TEST(Deflate, KnownStreamInflates) {
  Result<Bytes> out = ZlibDecompress(Hex(kKnownStreamHex), 1024);
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_EQ(HexEncode(*out), "b9a3");
}

TEST(Deflate, CompressWritesBestLevelZlibHeaderAndRoundTrips) {
  Result<Bytes> z = ZlibCompress(Hex("b9a3"));
  ASSERT_TRUE(z.ok());
  ASSERT_GE(z->size(), 6u);
  EXPECT_EQ((*z)[0], 0x78);  // CM 8 (deflate), 32 KiB window
  EXPECT_EQ((*z)[1], 0xda);  // FLEVEL 3 (best compression), no dictionary, FCHECK
  EXPECT_EQ(HexEncode(*ZlibDecompress(*z, 2)), "b9a3");
}

TEST(Deflate, RoundTripsEmptyAndLargeData) {
  Result<Bytes> empty = ZlibCompress(Bytes{});
  ASSERT_TRUE(empty.ok());
  Result<Bytes> empty_back = ZlibDecompress(*empty, 0);
  ASSERT_TRUE(empty_back.ok()) << empty_back.error().ToString();
  EXPECT_TRUE(empty_back->empty());

  Bytes data(200000);
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<uint8_t>((i * 7919u) ^ (i >> 5));
  }
  Result<Bytes> z = ZlibCompress(data);
  ASSERT_TRUE(z.ok());
  Result<Bytes> back = ZlibDecompress(*z, data.size());
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, data);
}

TEST(Deflate, MaxOutputIsInclusive) {
  Bytes known = Hex(kKnownStreamHex);
  EXPECT_TRUE(ZlibDecompress(known, 2).ok());
  Result<Bytes> over = ZlibDecompress(known, 1);
  ExpectRefused(over, "inflated-too-large");
  ExpectRefused(ZlibDecompress(known, 0), "inflated-too-large");
}

TEST(Deflate, BombStopsAtMaxOutput) {
  Bytes zeros(10 * 1024 * 1024, 0);
  Result<Bytes> bomb = ZlibCompress(zeros);
  ASSERT_TRUE(bomb.ok());
  EXPECT_LT(bomb->size(), 20000u);
  ExpectRefused(ZlibDecompress(*bomb, 1024 * 1024), "inflated-too-large");
  Result<Bytes> all = ZlibDecompress(*bomb, zeros.size());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), zeros.size());
}

TEST(Deflate, RefusesEveryTruncation) {
  Bytes known = Hex(kKnownStreamHex);
  for (size_t len = 0; len < known.size(); ++len) {
    SCOPED_TRACE(len);
    ExpectRefused(ZlibDecompress(ByteSpan(known).first(len), 1024), "bad-compression");
  }
}

TEST(Deflate, RefusesTrailingBytes) {
  Bytes known = Hex(kKnownStreamHex);
  known.push_back(0x00);
  ExpectRefused(ZlibDecompress(known, 1024), "bad-compression");
  Bytes twice = Hex(std::string(kKnownStreamHex) + std::string(kKnownStreamHex));
  ExpectRefused(ZlibDecompress(twice, 1024), "bad-compression");
}

TEST(Deflate, RefusesBadChecksumHeaderAndOtherWrappers) {
  ExpectRefused(ZlibDecompress(Hex("78dadbb918000217015e"), 1024), "bad-compression");  // adler
  ExpectRefused(ZlibDecompress(Hex("78dbdbb918000217015d"), 1024), "bad-compression");  // FCHECK
  ExpectRefused(ZlibDecompress(Hex("dbb91800"), 1024), "bad-compression");  // raw deflate
  // gzip of the same bytes (RFC 1952 header, deflate body, crc32, isize).
  ExpectRefused(ZlibDecompress(Hex("1f8b0800000000000203dbb918005cf5013b02000000"), 1024),
                "bad-compression");
  // FDICT set (78 f9 is a valid header with a preset dictionary): refused, not looked up.
  ExpectRefused(ZlibDecompress(Hex("78f9000000000000"), 1024), "bad-compression");
}

}  // namespace
}  // namespace mandated
