// Tests of the prepared-key caches behind Sign and Verify (Ed25519, P-256) and of BoundedCache:
// each distinct key is validated once, invalid keys are never kept, eviction and concurrency.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/bytes.h"
#include "signer/bounded_cache.h"
#include "signer/hash.h"
#include "signer/openssl_ec.h"
#include "signer/signature.h"

namespace mandated::signer {
namespace {

using internal::OpensslKeyPreparationsForTest;

Bytes Hex(std::string_view hex) {
  Result<Bytes> b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes();
}

// A valid private key of `type` whose secret is SHA-256(label || n) (a valid P-256 scalar for
// every n used here).
PrivateKey KeyFor(KeyType type, const std::string& label, int n) {
  Result<PrivateKey> key = ImportPrivateKey(type, Sha256(AsBytes(label + std::to_string(n))));
  EXPECT_TRUE(key.ok()) << key.error().ToString();
  return key.ok() ? std::move(key).value() : PrivateKey{};
}

// How many keys a call prepared (validated and built).
template <typename F>
uint64_t PreparationsDuring(F&& f) {
  const uint64_t before = OpensslKeyPreparationsForTest();
  f();
  return OpensslKeyPreparationsForTest() - before;
}

class PreparedKeyTest : public ::testing::TestWithParam<KeyType> {
 protected:
  void SetUp() override { DropPreparedKeys(); }
};

TEST_P(PreparedKeyTest, EachKeyIsValidatedOnceNotPerCall) {
  const PrivateKey key = KeyFor(GetParam(), "once", 0);
  Result<PublicKey> pub = DerivePublicKey(key);
  ASSERT_TRUE(pub.ok());
  const Bytes message = ToBytes("pay 1.00 USDC");
  Bytes sig;
  EXPECT_EQ(PreparationsDuring([&] {
              for (int i = 0; i < 5; ++i) {
                Result<Bytes> s = Sign(key, message);
                ASSERT_TRUE(s.ok()) << s.error().ToString();
                sig = *s;
              }
            }),
            1u);
  EXPECT_EQ(PreparationsDuring([&] {
              for (int i = 0; i < 5; ++i) {
                EXPECT_TRUE(Verify(*pub, message, sig).ok());
              }
            }),
            1u);
  // A failed verification still uses (and keeps) the validated key; tampering is still caught.
  Bytes bad = sig;
  bad[10] ^= 1;
  EXPECT_EQ(PreparationsDuring([&] {
              EXPECT_EQ(Verify(*pub, message, bad).reason(), "bad-signature");
              EXPECT_TRUE(Verify(*pub, message, sig).ok());
            }),
            0u);
  // Dropping the caches makes the next use validate again.
  DropPreparedKeys();
  EXPECT_EQ(PreparationsDuring([&] {
              EXPECT_TRUE(Sign(key, message).ok());
              EXPECT_TRUE(Verify(*pub, message, sig).ok());
            }),
            2u);
}

TEST_P(PreparedKeyTest, ManyKeysEvictTheLeastRecentlyUsed) {
  // Far more distinct keys than the caches hold (1024 each, in 16 shards of 64): the first ones are
  // dropped and prepared again on their next use, and every key keeps signing and verifying.
  constexpr int kKeys = 2000;
  const Bytes message = ToBytes("m");
  std::vector<PublicKey> pubs;
  for (int i = 0; i < kKeys; ++i) {
    const PrivateKey key = KeyFor(GetParam(), "evict", i);
    Result<PublicKey> pub = DerivePublicKey(key);
    ASSERT_TRUE(pub.ok());
    Result<Bytes> sig = Sign(key, message);
    ASSERT_TRUE(sig.ok());
    ASSERT_TRUE(Verify(*pub, message, *sig).ok());
    pubs.push_back(*pub);
  }
  const PrivateKey first = KeyFor(GetParam(), "evict", 0);
  Bytes sig;
  EXPECT_EQ(PreparationsDuring([&] {
              Result<Bytes> s = Sign(first, message);
              ASSERT_TRUE(s.ok());
              sig = *s;
              EXPECT_TRUE(Verify(pubs[0], message, sig).ok());
            }),
            2u);
  // The most recent key is still prepared.
  const PrivateKey last = KeyFor(GetParam(), "evict", kKeys - 1);
  EXPECT_EQ(PreparationsDuring([&] { EXPECT_TRUE(Sign(last, message).ok()); }), 0u);
  // Keys are not confused with each other after eviction.
  EXPECT_EQ(Verify(pubs[1], message, sig).reason(), "bad-signature");
}

TEST_P(PreparedKeyTest, ConcurrentUseFromManyThreads) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 25;
  std::vector<PrivateKey> keys;
  std::vector<PublicKey> pubs;
  for (int i = 0; i < 3; ++i) {
    keys.push_back(KeyFor(GetParam(), "threads", i));
    pubs.push_back(*DerivePublicKey(keys.back()));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        const size_t k = static_cast<size_t>(t + r) % keys.size();
        const Bytes message =
            ToBytes("thread " + std::to_string(t) + " round " + std::to_string(r));
        Result<Bytes> sig = Sign(keys[k], message);
        if (!sig.ok() || !Verify(pubs[k], message, *sig).ok() ||
            Verify(pubs[(k + 1) % pubs.size()], message, *sig).ok()) {
          ++failures;
        }
        if (t == 0 && r % 10 == 0) {
          DropPreparedKeys();  // entries in use stay valid for the calls holding them
        }
      }
    });
  }
  for (std::thread& th : threads) {
    th.join();
  }
  EXPECT_EQ(failures.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Types, PreparedKeyTest,
                         ::testing::Values(KeyType::kEd25519, KeyType::kP256),
                         [](const ::testing::TestParamInfo<KeyType>& param) {
                           return param.param == KeyType::kEd25519 ? "Ed25519" : "P256";
                         });

TEST(PreparedKeyCacheTest, InvalidKeysAreNeverKept) {
  DropPreparedKeys();
  // Ed25519 small-order point (order 8) and a P-256 x with no point on the curve.
  const PublicKey small_order{
      KeyType::kEd25519, Hex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")};
  Bytes x_one(33, 0);
  x_one[0] = 0x02;
  x_one[32] = 0x01;
  const PublicKey off_curve{KeyType::kP256, x_one};
  // A P-256 "private key" built by hand with scalar n (not below the order).
  PrivateKey bad_scalar{
      KeyType::kP256,
      SecretBytes(Hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"))};
  PrivateKey short_seed{KeyType::kEd25519, SecretBytes(Bytes(31, 7))};
  EXPECT_EQ(PreparationsDuring([&] {
              for (int i = 0; i < 3; ++i) {
                EXPECT_EQ(Verify(small_order, ToBytes("m"), Bytes(64, 1)).reason(), "bad-key");
                EXPECT_EQ(Verify(off_curve, ToBytes("m"), Bytes(64, 1)).reason(), "bad-key");
                Result<Bytes> a = Sign(bad_scalar, ToBytes("m"));
                ASSERT_FALSE(a.ok());
                EXPECT_EQ(a.error().reason(), "bad-key");
                Result<Bytes> b = Sign(short_seed, ToBytes("m"));
                ASSERT_FALSE(b.ok());
                EXPECT_EQ(b.error().reason(), "bad-key");
              }
            }),
            0u);
}

TEST(PreparedKeyCacheTest, SameBytesUnderAnotherTypeAreAnotherKey) {
  DropPreparedKeys();
  // One 32-byte secret used as an Ed25519 seed and as a P-256 scalar gives two unrelated keys.
  const Bytes secret = Sha256(AsBytes("shared secret bytes"));
  const PrivateKey ed = *ImportPrivateKey(KeyType::kEd25519, secret);
  const PrivateKey p256 = *ImportPrivateKey(KeyType::kP256, secret);
  const Bytes message = ToBytes("m");
  Result<Bytes> ed_sig = Sign(ed, message);
  Result<Bytes> p256_sig = Sign(p256, message);
  ASSERT_TRUE(ed_sig.ok() && p256_sig.ok());
  EXPECT_TRUE(Verify(*DerivePublicKey(ed), message, *ed_sig).ok());
  EXPECT_TRUE(Verify(*DerivePublicKey(p256), message, *p256_sig).ok());
  // A P-256 key given compressed and uncompressed is validated once per encoding.
  const PublicKey compressed = *DerivePublicKey(p256);
  const PublicKey uncompressed{KeyType::kP256, *UncompressedPoint(compressed)};
  EXPECT_EQ(PreparationsDuring([&] {
              EXPECT_TRUE(Verify(uncompressed, message, *p256_sig).ok());
              EXPECT_TRUE(Verify(uncompressed, message, *p256_sig).ok());
            }),
            1u);
}

// ---------------------------------------------------------------------------------------------
// BoundedCache

std::shared_ptr<const int> Int(int v) { return std::make_shared<const int>(v); }

TEST(BoundedCacheTest, FindInsertAndFirstInsertWins) {
  BoundedCache<int> cache(4, 1);
  EXPECT_EQ(cache.Find("a"), nullptr);
  EXPECT_EQ(*cache.Insert("a", Int(1)), 1);
  EXPECT_EQ(*cache.Insert("a", Int(2)), 1);  // present already: the cached value is returned
  EXPECT_EQ(*cache.Find("a"), 1);
  EXPECT_EQ(cache.size(), 1u);
  // Keys are byte strings: embedded NULs and prefixes are distinct keys.
  cache.Insert(std::string_view("a\0b", 3), Int(3));
  EXPECT_EQ(*cache.Find(std::string_view("a\0b", 3)), 3);
  EXPECT_EQ(*cache.Find("a"), 1);
}

TEST(BoundedCacheTest, EvictsTheLeastRecentlyUsed) {
  BoundedCache<int> cache(3, 1);
  cache.Insert("a", Int(1));
  cache.Insert("b", Int(2));
  cache.Insert("c", Int(3));
  ASSERT_NE(cache.Find("a"), nullptr);  // a is now the most recently used; b the least
  cache.Insert("d", Int(4));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.Find("b"), nullptr);
  EXPECT_NE(cache.Find("a"), nullptr);
  EXPECT_NE(cache.Find("c"), nullptr);
  EXPECT_NE(cache.Find("d"), nullptr);
}

TEST(BoundedCacheTest, ShardedCapacityIsBounded) {
  BoundedCache<int> cache(64, 8);
  for (int i = 0; i < 1000; ++i) {
    cache.Insert(std::to_string(i), Int(i));
  }
  EXPECT_LE(cache.size(), 64u);
  EXPECT_NE(cache.Find("999"), nullptr);
}

TEST(BoundedCacheTest, ValuesOutliveEvictionAndClearWhileHeld) {
  BoundedCache<int> cache(1, 1);
  std::shared_ptr<const int> held = cache.Insert("a", Int(7));
  std::weak_ptr<const int> watch = held;
  cache.Insert("b", Int(8));  // evicts a
  EXPECT_EQ(cache.Find("a"), nullptr);
  EXPECT_EQ(*held, 7);
  held.reset();
  EXPECT_TRUE(watch.expired());
  std::shared_ptr<const int> b = cache.Find("b");
  cache.Clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(*b, 8);
}

TEST(BoundedCacheTest, ConcurrentInsertAndFind) {
  BoundedCache<int> cache(128, 4);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const int k = (i * 7 + t) % 300;
        const std::string key = std::to_string(k);
        std::shared_ptr<const int> v = cache.Find(key);
        if (v == nullptr) {
          v = cache.Insert(key, Int(k));
        }
        if (*v != k) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& th : threads) {
    th.join();
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(cache.size(), 128u);
}

}  // namespace
}  // namespace mandated::signer
