// KeyStore on a real RocksDB: a disabled or rotated key stops signing as soon as Disable or Rotate
// returns, even if it was open in memory, and signing load on other threads cannot hold the
// change off.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "signer/jws.h"
#include "signer/key_store.h"
#include "signer/signature.h"
#include "store/rocks_store.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/test_support.h"

namespace mandated::signer {
namespace {

class KeyStoreStopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {kKeysFamily};
    Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(o);
    ASSERT_TRUE(kv.ok()) << kv.error().ToString();
    kv_ = std::move(*kv);
    Result<std::unique_ptr<KeyStore>> keys = KeyStore::Open(
        *kv_, SecretBytes(ByteSpan(Bytes(32, 0x4b))), SystemClock::Get(), SystemRandom::Get());
    ASSERT_TRUE(keys.ok()) << keys.error().ToString();
    keys_ = std::move(*keys);
  }

  KeyInfo NewKey(KeyType type) {
    Result<KeyInfo> k = keys_->Generate(type, "issuer", "prn_stop");
    EXPECT_TRUE(k.ok()) << k.error().ToString();
    return k.ok() ? *k : KeyInfo{};
  }

  // One signature of each kind the key's type allows; the first error, or OK.
  Status SignAllWays(const KeyInfo& k) {
    if (k.type == KeyType::kSecp256k1) {
      Result<Bytes> r = keys_->SignDigestRecoverable(k.id, Bytes(32, 0x11));
      if (!r.ok()) return r.error();
    }
    Result<Bytes> sig = keys_->Sign(k.id, AsBytes("message"));
    if (!sig.ok()) return sig.error();
    Result<std::string> jws = keys_->SignJws(k.id, json::Value::Object(), "{\"a\":1}");
    if (!jws.ok()) return jws.error();
    return OkStatus();
  }

  testing::TempDir dir_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<KeyStore> keys_;
};

// The key was opened (and prepared) by signatures just before: the cached copy must not sign
// once the change has returned.
TEST_F(KeyStoreStopTest, DisabledKeyStopsSigningAtOnceThoughItWasOpen) {
  for (KeyType t : {KeyType::kEd25519, KeyType::kP256, KeyType::kSecp256k1}) {
    SCOPED_TRACE(std::string(KeyTypeName(t)));
    const KeyInfo k = NewKey(t);
    ASSERT_TRUE(SignAllWays(k).ok());
    ASSERT_TRUE(SignAllWays(k).ok());  // now served from the open-key cache
    const uint64_t before = keys_->generation();
    Result<KeyInfo> disabled = keys_->Disable(k.id);
    ASSERT_TRUE(disabled.ok()) << disabled.error().ToString();
    EXPECT_EQ(disabled->state, KeyState::kDisabled);
    EXPECT_GT(keys_->generation(), before);
    Status s = SignAllWays(k);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(s.reason(), "key-not-active");
    EXPECT_EQ(keys_->Sign(k.id, AsBytes("again")).error().reason(), "key-not-active");
  }
}

// Runs `after_write` once, right after the next write landed and before Write returns: the
// moment other threads already see the write but the writer has not yet returned.
class AfterWriteStore final : public testing::ForwardingStore {
 public:
  using testing::ForwardingStore::ForwardingStore;
  std::function<void()> after_write;
  Status Write(const store::WriteBatch& batch, store::Durability d) override {
    Status s = testing::ForwardingStore::Write(batch, d);
    if (s.ok() && after_write) {
      std::function<void()> f = std::move(after_write);
      after_write = nullptr;
      f();
    }
    return s;
  }
};

// Once a disabling or rotation is written, a signature that starts, even before Disable or
// Rotate returned, does not use the copy that was open before (specs/signing.md §Key store).
TEST_F(KeyStoreStopTest, NoSignatureStartingOnceTheChangeIsWrittenUsesTheOpenCopy) {
  AfterWriteStore watched(*kv_);
  Result<std::unique_ptr<KeyStore>> opened = KeyStore::Open(
      watched, SecretBytes(ByteSpan(Bytes(32, 0x4b))), SystemClock::Get(), SystemRandom::Get());
  ASSERT_TRUE(opened.ok()) << opened.error().ToString();
  KeyStore& ks = **opened;
  for (const bool rotate : {false, true}) {
    SCOPED_TRACE(rotate ? "rotate" : "disable");
    Result<KeyInfo> k = ks.Generate(KeyType::kEd25519, "issuer", "prn_stop");
    ASSERT_TRUE(k.ok());
    ASSERT_TRUE(ks.Sign(k->id, AsBytes("open it")).ok());  // now open in memory
    std::optional<Status> during;
    watched.after_write = [&] { during = ks.Sign(k->id, AsBytes("after the write")).status(); };
    ASSERT_TRUE((rotate ? ks.Rotate(k->id) : ks.Disable(k->id)).ok());
    ASSERT_TRUE(during.has_value());
    EXPECT_EQ(during->reason(), "key-not-active");
  }
}

TEST_F(KeyStoreStopTest, RotatedKeyStopsSigningAtOnceThoughItWasOpen) {
  for (KeyType t : {KeyType::kEd25519, KeyType::kP256, KeyType::kSecp256k1}) {
    SCOPED_TRACE(std::string(KeyTypeName(t)));
    const KeyInfo k = NewKey(t);
    ASSERT_TRUE(SignAllWays(k).ok());
    ASSERT_TRUE(SignAllWays(k).ok());
    Result<KeyInfo> next = keys_->Rotate(k.id);
    ASSERT_TRUE(next.ok()) << next.error().ToString();
    Status s = SignAllWays(k);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.reason(), "key-not-active");
    EXPECT_TRUE(SignAllWays(*next).ok());
  }
}

// Signer threads sign without pause, with other keys and with the victim; the main thread
// disables the victim once every thread has signed with it. Disable must return (under the old
// reader-preferring lock it could wait for a moment with no signature in flight, which steady
// load need never give), and every signature a thread starts after it saw Disable return fails
// for the victim and succeeds for the others. The hand-offs are counters and flags, not times.
TEST_F(KeyStoreStopTest, DisableCompletesUnderSigningLoadAndTheKeyStopsSigning) {
  const KeyInfo victim = NewKey(KeyType::kP256);
  const std::vector<KeyInfo> others = {NewKey(KeyType::kEd25519), NewKey(KeyType::kP256),
                                       NewKey(KeyType::kSecp256k1)};
  constexpr int kThreads = 4;
  constexpr int kRoundsBefore = 20;  // rounds each thread completes before Disable is called
  constexpr int kRoundsAfter = 20;   // rounds each thread starts after it saw Disable return

  std::atomic<bool> disabled{false};
  std::atomic<bool> stop{false};
  struct Tally {
    std::atomic<int> rounds_before{0};
    std::atomic<int> rounds_after{0};
    int victim_signed_after = 0;    // must stay 0
    int victim_refused_after = 0;   // key-not-active
    int victim_other_errors = 0;    // must stay 0
    int others_failed = 0;          // must stay 0
  };
  std::vector<std::unique_ptr<Tally>> tallies;
  for (int i = 0; i < kThreads; ++i) tallies.push_back(std::make_unique<Tally>());

  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      Tally& t = *tallies[i];
      while (!stop.load(std::memory_order_acquire)) {
        const bool after = disabled.load(std::memory_order_acquire);
        for (const KeyInfo& o : others) {
          if (!SignAllWays(o).ok()) ++t.others_failed;
        }
        Status s = SignAllWays(victim);
        if (after) {
          if (s.ok()) {
            ++t.victim_signed_after;
          } else if (s.reason() == "key-not-active") {
            ++t.victim_refused_after;
          } else {
            ++t.victim_other_errors;
          }
          t.rounds_after.fetch_add(1, std::memory_order_release);
        } else {
          // Before Disable returned: either outcome is allowed, but only these two.
          if (!s.ok() && s.reason() != "key-not-active") ++t.victim_other_errors;
          t.rounds_before.fetch_add(1, std::memory_order_release);
        }
      }
    });
  }
  auto all_reached = [&](auto field, int n) {
    for (const auto& t : tallies) {
      if (((*t).*field).load(std::memory_order_acquire) < n) return false;
    }
    return true;
  };
  while (!all_reached(&Tally::rounds_before, kRoundsBefore)) std::this_thread::yield();

  Result<KeyInfo> r = keys_->Disable(victim.id);
  disabled.store(true, std::memory_order_release);
  while (!all_reached(&Tally::rounds_after, kRoundsAfter)) std::this_thread::yield();
  stop.store(true, std::memory_order_release);
  for (std::thread& th : threads) th.join();

  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->state, KeyState::kDisabled);
  for (int i = 0; i < kThreads; ++i) {
    SCOPED_TRACE("thread " + std::to_string(i));
    const Tally& t = *tallies[i];
    EXPECT_EQ(t.victim_signed_after, 0);
    EXPECT_GE(t.victim_refused_after, kRoundsAfter);
    EXPECT_EQ(t.victim_other_errors, 0);
    EXPECT_EQ(t.others_failed, 0);
  }
  EXPECT_EQ(keys_->Get(victim.id)->state, KeyState::kDisabled);
}

}  // namespace
}  // namespace mandated::signer
