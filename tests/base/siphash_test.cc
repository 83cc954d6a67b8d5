// Tests for base/siphash.h: the designers' 64 SipHash-2-4 vectors (tests/vectors/siphash), one
// changed key or message bit, and the process key.
#include "base/siphash.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "tests/support/test_support.h"

namespace mandated {
namespace {

SipKey ReferenceKey() {
  SipKey k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i);
  return k;
}

// The 8 output bytes of a vector line as the 64-bit result (little-endian, as the reference
// implementation writes it).
uint64_t ParseOutput(const std::string& hex) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | std::stoul(hex.substr(static_cast<size_t>(2 * i), 2), nullptr, 16);
  }
  return v;
}

std::vector<std::string> VectorLines() {
  std::istringstream in(
      testing::ReadFileOrDie(testing::SourcePath("tests/vectors/siphash/siphash24_64.txt")));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') lines.push_back(line);
  }
  return lines;
}

TEST(SipHashTest, AllReferenceVectors) {
  const std::vector<std::string> lines = VectorLines();
  ASSERT_EQ(lines.size(), 64u);
  std::string message;
  for (size_t len = 0; len < lines.size(); ++len) {
    SCOPED_TRACE(len);
    ASSERT_EQ(lines[len].size(), 16u);
    EXPECT_EQ(SipHash24(ReferenceKey(), message), ParseOutput(lines[len]));
    message.push_back(static_cast<char>(len));
  }
}

TEST(SipHashTest, PaperAppendixExample) {
  std::string message;
  for (int i = 0; i < 15; ++i) message.push_back(static_cast<char>(i));
  EXPECT_EQ(SipHash24(ReferenceKey(), message), 0xa129ca6149be45e5ull);
}

TEST(SipHashTest, OneFlippedBitOfKeyOrMessageChangesTheHash) {
  const std::string message = "u10000-42-7";
  const uint64_t base = SipHash24(ReferenceKey(), message);
  for (size_t bit = 0; bit < 128; ++bit) {
    SipKey k = ReferenceKey();
    k[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(SipHash24(k, message), base) << "key bit " << bit;
  }
  for (size_t bit = 0; bit < 8 * message.size(); ++bit) {
    std::string m = message;
    m[bit / 8] = static_cast<char>(m[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_NE(SipHash24(ReferenceKey(), m), base) << "message bit " << bit;
  }
  // A trailing zero byte is a different message (the length is hashed).
  EXPECT_NE(SipHash24(ReferenceKey(), message + std::string(1, '\0')), base);
}

TEST(SipHashTest, TheProcessKeyIsDrawnOnceAndIsNotZero) {
  const SipKey& a = ProcessSipKey();
  const SipKey& b = ProcessSipKey();
  EXPECT_EQ(&a, &b);
  EXPECT_NE(a, SipKey{});
}

}  // namespace
}  // namespace mandated
