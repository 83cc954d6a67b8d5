// SystemRandom: small requests served from a per-thread block of kernel randomness stay
// distinct across block boundaries and threads; ids keep their form.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/random.h"

namespace mandated {
namespace {

TEST(SystemRandomTest, SmallFillsAcrossManyBlocksAreDistinctAndNotZero) {
  std::set<std::string> seen;
  for (int i = 0; i < 5000; ++i) {  // 5000 x 24 bytes: about 235 blocks of 512
    uint8_t buf[24] = {};
    ASSERT_TRUE(SystemRandom::Get().Fill(std::span<uint8_t>(buf, sizeof(buf))).ok());
    std::string s(reinterpret_cast<char*>(buf), sizeof(buf));
    EXPECT_NE(s, std::string(sizeof(buf), '\0'));
    EXPECT_TRUE(seen.insert(s).second) << "repeated 24 random bytes at draw " << i;
  }
}

TEST(SystemRandomTest, LargeFillsComeStraightFromTheKernel) {
  std::vector<uint8_t> a(4096), b(4096);
  ASSERT_TRUE(SystemRandom::Get().Fill(a).ok());
  ASSERT_TRUE(SystemRandom::Get().Fill(b).ok());
  EXPECT_NE(a, b);
  EXPECT_NE(a, std::vector<uint8_t>(4096, 0));
}

TEST(SystemRandomTest, IdsFromManyThreadsAreUniqueAndWellFormed) {
  std::vector<std::vector<std::string>> ids(8);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < ids.size(); ++t) {
    threads.emplace_back([&ids, t] {
      for (int i = 0; i < 2000; ++i) {
        Result<std::string> id = SystemRandom::Get().NewId("atz_");
        if (id.ok()) ids[t].push_back(*id);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  std::set<std::string> all;
  for (const auto& list : ids) {
    ASSERT_EQ(list.size(), 2000u);
    for (const std::string& id : list) {
      ASSERT_EQ(id.size(), 4u + 26u) << id;
      EXPECT_EQ(id.substr(0, 4), "atz_");
      EXPECT_EQ(id.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567", 4), std::string::npos)
          << id;
      EXPECT_TRUE(all.insert(id).second) << "duplicate id " << id;
    }
  }
}

}  // namespace
}  // namespace mandated
