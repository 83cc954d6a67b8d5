// KeyStore's change hook: called with the batch of every key change (created, rotated,
// disabled), so what it adds commits with the change; no-op changes and refusals call it not.
#include <gtest/gtest.h>

#include <tuple>

#include "signer/key_store.h"
#include "store/rocks_store.h"
#include "tests/support/test_support.h"

namespace mandated::signer {
namespace {

struct Call {
  KeyChange change;
  std::string key;
  std::string state;
  std::string successor;
};

class KeyStoreHookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {kKeysFamily};
    kv_ = std::move(*store::OpenRocksStore(o));
    keys_ = std::move(*KeyStore::Open(*kv_, SecretBytes(ByteSpan(Bytes(32, 7))),
                                      SystemClock::Get(), SystemRandom::Get()));
    keys_->set_change_hook([this](store::WriteBatch& batch, KeyChange change, const KeyInfo& key,
                                  const KeyInfo* successor) {
      calls_.push_back(Call{change, key.id, std::string(KeyStateName(key.state)),
                            successor != nullptr ? successor->id : ""});
      // A record of the hook's own, in the key's batch.
      batch.Put(kKeysFamily, "hooked/" + key.id, std::string(KeyStateName(key.state)));
    });
  }

  std::optional<std::string> Hooked(const std::string& id) {
    return *kv_->Get(kKeysFamily, "hooked/" + id);
  }

  testing::TempDir dir_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<KeyStore> keys_;
  std::vector<Call> calls_;
};

TEST_F(KeyStoreHookTest, EveryChangeCallsTheHookWithItsBatch) {
  Result<KeyInfo> k = keys_->Generate(KeyType::kEd25519, "issuer", "prn_a");
  ASSERT_TRUE(k.ok());
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0].change, KeyChange::kCreated);
  EXPECT_EQ(calls_[0].key, k->id);
  EXPECT_EQ(Hooked(k->id), "active");

  Result<KeyInfo> imported = keys_->Import(KeyType::kP256, Bytes(32, 3), "issuer", "prn_a");
  ASSERT_TRUE(imported.ok());
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[1].change, KeyChange::kCreated);
  EXPECT_EQ(Hooked(imported->id), "active");

  Result<KeyInfo> next = keys_->Rotate(k->id);
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(calls_.size(), 3u);
  EXPECT_EQ(calls_[2].change, KeyChange::kRotated);
  EXPECT_EQ(calls_[2].key, k->id);
  EXPECT_EQ(calls_[2].state, "retired");
  EXPECT_EQ(calls_[2].successor, next->id);
  EXPECT_EQ(Hooked(k->id), "retired");

  ASSERT_TRUE(keys_->Disable(next->id).ok());
  ASSERT_EQ(calls_.size(), 4u);
  EXPECT_EQ(calls_[3].change, KeyChange::kDisabled);
  EXPECT_EQ(calls_[3].key, next->id);
  EXPECT_EQ(Hooked(next->id), "disabled");

  // No change, no call: disabling again, rotating a retired key, a bad request.
  ASSERT_TRUE(keys_->Disable(next->id).ok());
  EXPECT_FALSE(keys_->Rotate(k->id).ok());
  EXPECT_FALSE(keys_->Generate(KeyType::kEd25519, "", "prn_a").ok());
  EXPECT_EQ(calls_.size(), 4u);
}

}  // namespace
}  // namespace mandated::signer
