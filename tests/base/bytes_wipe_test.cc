// Decoders that fail part-way wipe what they had decoded before freeing it (the text may be a
// private key). Checked by looking at every block this test binary frees while a check is armed.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "base/bytes.h"

// The global allocation functions of this test binary: plain malloc and free, except that while
// a thread has armed FreedBlocksHolding, each block it frees is first searched for the marker.
namespace {

thread_local const uint8_t* g_marker = nullptr;
thread_local size_t g_marker_size = 0;
thread_local int g_blocks_found = 0;

void InspectFreed(void* p, size_t n) {
  if (g_marker != nullptr && p != nullptr && n >= g_marker_size &&
      memmem(p, n, g_marker, g_marker_size) != nullptr) {
    ++g_blocks_found;
  }
}

}  // namespace

void* operator new(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) std::abort();
  return p;
}
void operator delete(void* p) noexcept {
  if (p != nullptr) InspectFreed(p, malloc_usable_size(p));
  std::free(p);
}
void operator delete(void* p, size_t n) noexcept {
  InspectFreed(p, n);
  std::free(p);
}

namespace mandated {
namespace {

// How many blocks freed on this thread while `run` ran still held `marker`.
template <typename F>
int FreedBlocksHolding(const Bytes& marker, F run) {
  g_blocks_found = 0;
  g_marker_size = marker.size();
  g_marker = marker.data();
  run();
  g_marker = nullptr;
  return g_blocks_found;
}

// 33 bytes (whole base64 groups) that occur nowhere else in this process by chance.
Bytes Marker() {
  Bytes m(33);
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<uint8_t>(0xa7 ^ (i * 29 + 3));
  return m;
}

TEST(DecodeWipe, TheCheckSeesAnUnwipedFreedBuffer) {
  const Bytes marker = Marker();
  EXPECT_EQ(FreedBlocksHolding(marker, [&] { Bytes copy(marker); }), 1);
  // A successful decoding hands its bytes to the caller, who frees them unwiped here.
  EXPECT_GE(FreedBlocksHolding(marker, [&] { EXPECT_TRUE(HexDecode(HexEncode(marker)).ok()); }),
            1);
}

TEST(DecodeWipe, HexDecodeWipesWhatItDecodedBeforeABadDigit) {
  const Bytes marker = Marker();
  const std::string text = HexEncode(marker) + "zz";
  int found = FreedBlocksHolding(marker, [&] {
    Result<Bytes> r = HexDecode(text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().reason(), "bad-hex");
  });
  EXPECT_EQ(found, 0);
  // With a 0x prefix too, and a bad digit in the low nibble.
  const std::string prefixed = "0x" + HexEncode(marker) + "0g";
  found = FreedBlocksHolding(marker, [&] {
    EXPECT_EQ(HexDecode(prefixed, /*allow_0x=*/true).error().reason(), "bad-hex");
  });
  EXPECT_EQ(found, 0);
  // Behaviour is otherwise unchanged.
  EXPECT_EQ(*HexDecode(HexEncode(marker)), marker);
}

TEST(DecodeWipe, Base64DecodersWipeWhatTheyDecodedBeforeFailing) {
  const Bytes marker = Marker();
  const std::string encoded = Base64UrlEncode(marker);
  ASSERT_EQ(encoded.size(), 44u);
  // A bad character in a later group, in the tail, and non-zero trailing bits.
  for (const std::string& bad : {encoded + "!AAA", encoded + "A!", encoded + "AB"}) {
    SCOPED_TRACE(bad);
    const int found = FreedBlocksHolding(marker, [&] {
      EXPECT_EQ(Base64UrlDecode(bad).error().reason(), "bad-base64");
    });
    EXPECT_EQ(found, 0);
  }
  const std::string standard = Base64Encode(marker) + "!AA=";
  EXPECT_EQ(FreedBlocksHolding(marker, [&] {
              EXPECT_EQ(Base64Decode(standard).error().reason(), "bad-base64");
            }),
            0);
  EXPECT_EQ(*Base64UrlDecode(encoded), marker);
}

}  // namespace
}  // namespace mandated
