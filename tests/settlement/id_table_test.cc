// IdTable: exact membership with values and tags through growth, tombstones, reuse of freed
// slots and arena compaction, checked against std::unordered_map as the model.
#include "settlement/id_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/siphash.h"

namespace mandated::settlement {
namespace {

std::string Key(uint64_t i) { return "prn_acme\x1fu-" + std::to_string(i); }

TEST(IdTableTest, InsertFindsTheFirstEntryAndKeepsItsValue) {
  IdTable t;
  bool inserted = false;
  IdTable::Entry* e = t.Insert("prn_a\x1f" "id1", 7, 3, inserted);
  ASSERT_TRUE(inserted);
  EXPECT_EQ(e->value, 7u);
  EXPECT_EQ(e->tag, 3u);
  e = t.Insert("prn_a\x1f" "id1", 9, 0, inserted);
  EXPECT_FALSE(inserted);
  EXPECT_EQ(e->value, 7u);
  EXPECT_EQ(e->tag, 3u);
  e->tag = 0;
  EXPECT_EQ(t.Find("prn_a\x1f" "id1")->tag, 0u);
  // Same bytes under another principal, and a prefix of the key, are other keys.
  EXPECT_EQ(t.Find("prn_b\x1f" "id1"), nullptr);
  EXPECT_EQ(t.Find("prn_a\x1f" "id"), nullptr);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.Erase("prn_a\x1f" "id1"));
  EXPECT_FALSE(t.Erase("prn_a\x1f" "id1"));
  EXPECT_EQ(t.Find("prn_a\x1f" "id1"), nullptr);
  EXPECT_EQ(t.size(), 0u);
}

TEST(IdTableTest, AgreesWithAMapThroughGrowthErasuresAndCompaction) {
  IdTable t;
  std::unordered_map<std::string, uint64_t> model;
  std::mt19937_64 rng(20261205);
  // 300,000 inserts of 100,000 distinct keys and 150,000 erasures: the table grows past 2^17
  // slots, reuses tombstones and compacts its arena whenever erased key bytes outweigh the live
  // ones; tags survive every rebuild.
  for (int step = 0; step < 450000; ++step) {
    const uint64_t i = rng() % 100000;
    const std::string k = Key(i);
    if (step % 3 == 2) {
      EXPECT_EQ(t.Erase(k), model.erase(k) == 1) << k;
      continue;
    }
    bool inserted = false;
    IdTable::Entry* e = t.Insert(k, i * 31 + 1, static_cast<uint32_t>(i % 7), inserted);
    auto [it, fresh] = model.try_emplace(k, i * 31 + 1);
    ASSERT_EQ(inserted, fresh) << k;
    ASSERT_EQ(e->value, it->second) << k;
  }
  EXPECT_EQ(t.size(), model.size());
  for (uint64_t i = 0; i < 100000; ++i) {
    const std::string k = Key(i);
    IdTable::Entry* e = t.Find(k);
    auto it = model.find(k);
    ASSERT_EQ(e != nullptr, it != model.end()) << k;
    if (e != nullptr) {
      EXPECT_EQ(e->value, it->second) << k;
      EXPECT_EQ(e->tag, i % 7) << k;
    }
  }
  // Erasing everything leaves an empty table that still takes new keys, and the arena was
  // compacted on the way (the 100,000 keys held about 1.6 MB).
  for (uint64_t i = 0; i < 100000; ++i) t.Erase(Key(i));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_LE(t.arena_bytes(), size_t{16} << 10);
  bool inserted = false;
  t.Insert(Key(5), 11, 0, inserted);
  EXPECT_TRUE(inserted);
  EXPECT_EQ(t.Find(Key(5))->value, 11u);
}

TEST(IdTableTest, KeysLongerThanAnArenaChunkAreKept) {
  IdTable t;
  const std::string big(5 << 20, 'x');  // chunks grow to 4 MiB at most
  bool inserted = false;
  t.Insert(big, 1, 0, inserted);
  t.Insert("short", 2, 0, inserted);
  ASSERT_NE(t.Find(big), nullptr);
  EXPECT_EQ(t.Find(big)->value, 1u);
  EXPECT_EQ(t.Find("short")->value, 2u);
  EXPECT_EQ(t.Find(std::string(5 << 20, 'y')), nullptr);
  EXPECT_EQ(t.arena_bytes(), big.size() + 5);
}

// Ids chosen to share the low 16 bits of the library's unkeyed string hash (found here by brute
// force, as a merchant could offline) would all probe from one slot of a table that used it.
// The table's hash is SipHash-2-4 under the process's random key, so they spread like any ids.
TEST(IdTableTest, IdsCollidingUnderTheUnkeyedHashDoNotCollideUnderTheTables) {
  constexpr uint64_t kMask = 0xffff;
  constexpr size_t kIds = 32;
  const uint64_t target = std::hash<std::string_view>()(Key(0)) & kMask;
  std::vector<std::string> crafted;
  for (uint64_t i = 0; crafted.size() < kIds; ++i) {
    const std::string k = Key(i);
    if ((std::hash<std::string_view>()(k) & kMask) == target) crafted.push_back(k);
  }
  std::map<uint64_t, int> buckets;
  for (const std::string& k : crafted) {
    EXPECT_EQ(IdTable::Hash(k), SipHash24(ProcessSipKey(), k));
    ++buckets[IdTable::Hash(k) & kMask];
  }
  int largest = 0;
  for (const auto& [bucket, n] : buckets) largest = std::max(largest, n);
  // 32 random 16-bit values: four in one bucket has odds of about 1 in 10^10.
  EXPECT_LE(largest, 3);
  IdTable t;
  bool inserted = false;
  for (size_t i = 0; i < crafted.size(); ++i) t.Insert(crafted[i], i, 0, inserted);
  for (size_t i = 0; i < crafted.size(); ++i) {
    ASSERT_NE(t.Find(crafted[i]), nullptr);
    EXPECT_EQ(t.Find(crafted[i])->value, i);
  }
}

}  // namespace
}  // namespace mandated::settlement
