// RocksStore on a real on-disk RocksDB: batches, scans, durability, group commit, corruption.
#include "store/rocks_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "tests/support/test_support.h"

namespace mandated::store {
namespace {

std::unique_ptr<KvStore> Open(const std::string& path) {
  RocksStoreOptions o;
  o.path = path;
  o.column_families = {"a", "b"};
  Result<std::unique_ptr<KvStore>> s = OpenRocksStore(o);
  EXPECT_TRUE(s.ok()) << s.error().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

TEST(RocksStore, BatchIsAtomicAcrossFamiliesAndSurvivesReopen) {
  mandated::testing::TempDir dir;
  {
    auto kv = Open(dir.Sub("db"));
    WriteBatch b;
    b.Put("a", "k1", "v1");
    b.Put("b", "k2", "v2");
    ASSERT_TRUE(kv->Write(b).ok());
    WriteBatch d;
    d.Delete("a", "k1");
    d.Put("a", "k3", "v3");
    ASSERT_TRUE(kv->Write(d).ok());
  }
  auto kv = Open(dir.Sub("db"));
  EXPECT_FALSE(kv->Get("a", "k1")->has_value());
  EXPECT_EQ(kv->Get("b", "k2")->value(), "v2");
  EXPECT_EQ(kv->Get("a", "k3")->value(), "v3");
}

// A checkpoint taken while writers commit batches across both families holds each batch whole or
// not at all, everything acknowledged before it started, nothing written after it returned, and
// opens as a store of its own; an existing directory is never overwritten.
TEST(RocksStore, CheckpointIsAConsistentCopyTakenWhileWritersRun) {
  mandated::testing::TempDir dir;
  auto kv = Open(dir.Sub("db"));
  ASSERT_NE(kv, nullptr);
  auto put = [&](int i) {
    WriteBatch b;
    b.Put("a", "k" + std::to_string(i), std::to_string(i));
    b.Put("b", "k" + std::to_string(i), std::to_string(i));
    return kv->Write(b);
  };
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(put(i).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> next{100};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&] {
      while (!stop.load()) {
        if (!put(next.fetch_add(1)).ok()) return;
      }
    });
  }
  Result<uint64_t> seq = kv->Checkpoint(dir.Sub("copy"));
  const int written_after = next.load();
  stop.store(true);
  for (std::thread& t : writers) t.join();
  ASSERT_TRUE(seq.ok()) << seq.error().ToString();
  EXPECT_GT(*seq, 0u);
  ASSERT_TRUE(put(1000000).ok());  // after the copy: not in it

  Result<uint64_t> again = kv->Checkpoint(dir.Sub("copy"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().reason(), "backup-exists");

  auto copy = Open(dir.Sub("copy"));
  ASSERT_NE(copy, nullptr);
  int in_a = 0, in_b = 0;
  ASSERT_TRUE(copy->ScanPrefix("a", "k", [&](std::string_view, std::string_view) {
                ++in_a;
                return true;
              }).ok());
  for (int i = 0; i < written_after; ++i) {
    const bool a = copy->Get("a", "k" + std::to_string(i))->has_value();
    const bool b = copy->Get("b", "k" + std::to_string(i))->has_value();
    EXPECT_EQ(a, b) << "batch " << i << " torn";
    in_b += b ? 1 : 0;
  }
  EXPECT_GE(in_b, 100);
  EXPECT_EQ(in_a, in_b);  // nothing else: not the write made after the copy returned
  EXPECT_FALSE(copy->Get("a", "k1000000")->has_value());
  EXPECT_TRUE(kv->Get("a", "k1000000")->has_value());
}

TEST(RocksStore, UnknownFamilyFailsWholeBatch) {
  mandated::testing::TempDir dir;
  auto kv = Open(dir.Sub("db"));
  WriteBatch b;
  b.Put("a", "x", "1");
  b.Put("nope", "y", "2");
  Status s = kv->Write(b);
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_FALSE(kv->Get("a", "x")->has_value());
}

TEST(RocksStore, PrefixAndRangeScansAreOrderedAndBounded) {
  mandated::testing::TempDir dir;
  auto kv = Open(dir.Sub("db"));
  WriteBatch b;
  for (const char* k : {"p/2", "p/1", "p/3", "q/1", "o/9"}) b.Put("a", k, k);
  ASSERT_TRUE(kv->Write(b).ok());
  std::vector<std::string> seen;
  ASSERT_TRUE(kv->ScanPrefix("a", "p/", [&](std::string_view k, std::string_view) {
                  seen.emplace_back(k);
                  return true;
                }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"p/1", "p/2", "p/3"}));
  seen.clear();
  ASSERT_TRUE(kv->ScanRange("a", "p/2", "q/", [&](std::string_view k, std::string_view) {
                  seen.emplace_back(k);
                  return true;
                }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"p/2", "p/3"}));
  seen.clear();
  ASSERT_TRUE(kv->ScanPrefix("a", "p/", [&](std::string_view k, std::string_view) {
                  seen.emplace_back(k);
                  return false;
                }).ok());
  EXPECT_EQ(seen.size(), 1u);
}

TEST(RocksStore, ConcurrentDurableWritersAreGroupedIntoFewerSyncs) {
  mandated::testing::TempDir dir;
  auto kv = Open(dir.Sub("db"));
  constexpr int kThreads = 16, kPerThread = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteBatch b;
        b.Put("a", "t" + std::to_string(t) + "/" + std::to_string(i), "v");
        EXPECT_TRUE(kv->Write(b, Durability::kSync).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  StoreStats st = kv->Stats();
  EXPECT_EQ(st.write_batches, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_GT(st.wal_syncs, 0u);
  EXPECT_LT(st.wal_syncs, st.write_batches) << "no two concurrent writers shared a sync";
  EXPECT_GT(st.grouped_writes, 0u);
  int count = 0;
  ASSERT_TRUE(kv->ScanPrefix("a", "t", [&](std::string_view, std::string_view) {
                  ++count;
                  return true;
                }).ok());
  EXPECT_EQ(count, kThreads * kPerThread);
}

TEST(RocksStore, SecondOpenOfSameDirectoryIsRefused) {
  mandated::testing::TempDir dir;
  auto kv = Open(dir.Sub("db"));
  RocksStoreOptions o;
  o.path = dir.Sub("db");
  Result<std::unique_ptr<KvStore>> again = OpenRocksStore(o);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(again.error().reason(), "storage-locked");
}

// Flipping bytes inside a table file must surface as data loss, never as silently missing data.
TEST(RocksStore, CorruptedTableFileIsReportedAsDataLoss) {
  mandated::testing::TempDir dir;
  const std::string path = dir.Sub("db");
  {
    RocksStoreOptions o;
    o.path = path;
    o.column_families = {"a"};
    auto kv = std::move(*OpenRocksStore(o));
    WriteBatch b;
    for (int i = 0; i < 2000; ++i) {
      b.Put("a", "key" + std::to_string(i), std::string(100, static_cast<char>('a' + i % 26)));
    }
    ASSERT_TRUE(kv->Write(b).ok());
  }
  // Reopen: recovery flushes the WAL into an .sst file (RocksDB flushes on open by default when
  // the WAL is replayed); then corrupt every .sst in the middle.
  {
    RocksStoreOptions o;
    o.path = path;
    o.column_families = {"a"};
    auto kv = std::move(*OpenRocksStore(o));
  }
  int corrupted = 0;
  for (const auto& e : std::filesystem::directory_iterator(path)) {
    if (e.path().extension() == ".sst") {
      std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(e.path()) / 3));
      const char junk[64] = {'\x5a'};
      f.write(junk, sizeof(junk));
      ++corrupted;
    }
  }
  ASSERT_GT(corrupted, 0) << "expected a table file to corrupt";
  RocksStoreOptions o;
  o.path = path;
  o.column_families = {"a"};
  Result<std::unique_ptr<KvStore>> kv = OpenRocksStore(o);
  Status seen;
  if (!kv.ok()) {
    seen = kv.error();
  } else {
    for (int i = 0; i < 2000 && seen.ok(); ++i) {
      Result<std::optional<std::string>> v = (*kv)->Get("a", "key" + std::to_string(i));
      if (!v.ok()) {
        seen = v.error();
      }
    }
  }
  EXPECT_EQ(seen.code(), StatusCode::kDataLoss) << seen.ToString();
  EXPECT_EQ(seen.reason(), "storage-corruption");
}

}  // namespace
}  // namespace mandated::store
