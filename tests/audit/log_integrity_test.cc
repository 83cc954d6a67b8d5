// audit::Log against its own signed history, on a real RocksDB (specs/audit.md §3.1): a store
// whose tree was cut back or rewritten under its newest signed checkpoint does not open and is
// never signed over; a store with no checkpoint yet opens as before; reads serve only leaves.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>

#include "audit/checkpoint.h"
#include "audit/event.h"
#include "audit/log.h"
#include "base/random.h"
#include "signer/key_store.h"
#include "signer/signature.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_support.h"

namespace mandated::audit {
namespace {

std::string Hex16(uint64_t v) {
  char buf[17];
  snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

class AuditLogIntegrityTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(Open().ok()); }

  // Closes everything and opens the store, the key store and the log again; the log's answer.
  Status Open() {
    log_.reset();
    keys_.reset();
    kv_.reset();
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {signer::kKeysFamily, std::string(kAuditFamily)};
    Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(o);
    if (!kv.ok()) return kv.error();
    kv_ = std::move(*kv);
    Result<std::unique_ptr<signer::KeyStore>> keys = signer::KeyStore::Open(
        *kv_, SecretBytes(ByteSpan(Bytes(32, 9))), clock_, SystemRandom::Get());
    if (!keys.ok()) return keys.error();
    keys_ = std::move(*keys);
    Result<std::unique_ptr<Log>> log = Log::Open(*kv_, *keys_, clock_, "audit.test/audit");
    if (!log.ok()) return log.error();
    log_ = std::move(*log);
    return OkStatus();
  }

  // `n` events, sequenced.
  void Append(int n) {
    for (int i = 0; i < n; ++i) {
      store::WriteBatch b;
      Event e;
      e.type = "principal.created";
      e.principal = "prn_" + std::to_string(++events_);
      e.actor = Actor::Operator();
      e.at_micros = clock_.NowUnixMicros();
      Stage(b, e);
      ASSERT_TRUE(kv_->Write(b).ok());
    }
    ASSERT_TRUE(log_->Sequence().ok());
  }

  std::optional<std::string> Read(const std::string& key) {
    Result<std::optional<std::string>> v = kv_->Get(kAuditFamily, key);
    EXPECT_TRUE(v.ok());
    return v.ok() ? *v : std::nullopt;
  }
  void Write(const std::function<void(store::WriteBatch&)>& change) {
    store::WriteBatch b;
    change(b);
    ASSERT_TRUE(kv_->Write(b).ok());
  }
  // Closes the log, lets `change` edit the audit family, and opens it again.
  Status TamperWhileClosed(const std::function<void(store::WriteBatch&)>& change) {
    log_.reset();
    Write(change);
    return Open();
  }
  int CountCheckpoints() {
    int n = 0;
    EXPECT_TRUE(kv_->ScanPrefix(kAuditFamily, "c/", [&n](std::string_view, std::string_view) {
                     ++n;
                     return true;
                   }).ok());
    return n;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_{1795000000};
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<Log> log_;
  int events_ = 0;
};

TEST_F(AuditLogIntegrityTest, ASizeCutBelowTheNewestCheckpointDoesNotOpen) {
  Append(5);
  ASSERT_TRUE(log_->Publish().ok());
  Append(2);
  // The forger cuts the tree back to 3 events (and their leaves), to append over seq 3 and 4.
  Status s = TamperWhileClosed([](store::WriteBatch& b) {
    for (uint64_t seq = 3; seq < 7; ++seq) b.Delete(kAuditFamily, "e/" + Hex16(seq));
    b.Put(kAuditFamily, "meta/size", "3");
  });
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.reason(), "storage-corruption");
  EXPECT_NE(s.message().find("does not extend its newest signed checkpoint (size 5): the tree "
                             "holds only 3 events"),
            std::string::npos)
      << s.ToString();
  EXPECT_NE(s.message().find("restore the data directory from a backup"), std::string::npos);
  EXPECT_EQ(log_, nullptr);
  // Nothing was written: the size is still the forged one, no checkpoint was added.
  EXPECT_EQ(Read("meta/size"), "3");
  EXPECT_EQ(CountCheckpoints(), 1);
}

TEST_F(AuditLogIntegrityTest, LeavesAtOrAboveTheSizeDoNotOpen) {
  Append(5);
  ASSERT_TRUE(log_->Publish().ok());
  Append(2);
  // Above the checkpoint, but the leaves of seq 6 are still there.
  Status s = TamperWhileClosed([](store::WriteBatch& b) { b.Put(kAuditFamily, "meta/size", "6"); });
  EXPECT_EQ(s.reason(), "storage-corruption");
  EXPECT_NE(s.message().find("holds events at or above its size 6"), std::string::npos)
      << s.ToString();
}

TEST_F(AuditLogIntegrityTest, ARewrittenNodeUnderTheCheckpointDoesNotOpen) {
  Append(4);
  ASSERT_TRUE(log_->Publish().ok());
  // The hash of the perfect subtree over the four leaves (what a forger who rewrote events
  // would have to rewrite).
  const std::optional<std::string> node = Read("n/02/" + Hex16(0));
  ASSERT_TRUE(node.has_value());
  std::string forged = *node;
  forged[0] = static_cast<char>(forged[0] ^ 1);
  Status s = TamperWhileClosed(
      [&forged](store::WriteBatch& b) { b.Put(kAuditFamily, "n/02/" + Hex16(0), forged); });
  EXPECT_EQ(s.reason(), "storage-corruption");
  EXPECT_NE(s.message().find("the stored tree's root at that size is"), std::string::npos)
      << s.ToString();
}

TEST_F(AuditLogIntegrityTest, APointerMovedBackDoesNotHideANewerCheckpoint) {
  Append(3);
  ASSERT_TRUE(log_->Publish().ok());
  Append(3);
  ASSERT_TRUE(log_->Publish().ok());
  Status s = TamperWhileClosed([](store::WriteBatch& b) {
    for (uint64_t seq = 3; seq < 6; ++seq) b.Delete(kAuditFamily, "e/" + Hex16(seq));
    b.Put(kAuditFamily, "meta/size", "3");
    b.Put(kAuditFamily, "meta/checkpoint", "3");
  });
  EXPECT_EQ(s.reason(), "storage-corruption");
  EXPECT_NE(s.message().find("(size 6)"), std::string::npos) << s.ToString();
}

TEST_F(AuditLogIntegrityTest, ACheckpointNotSignedByAnAuditKeyDoesNotOpen) {
  Append(3);
  ASSERT_TRUE(log_->Publish().ok());
  // A note of the same size and root, signed by someone else's key.
  const std::string note = *Read("c/" + Hex16(3));
  Result<Checkpoint> body = ParseCheckpointBody(note.substr(0, note.find("\n\n") + 1));
  ASSERT_TRUE(body.ok());
  signer::PrivateKey other = *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
  Result<std::string> forged = SignNote(
      CheckpointBody(*body), "audit.test/audit", *signer::DerivePublicKey(other),
      [&other](ByteSpan m) { return signer::Sign(other, m); });
  ASSERT_TRUE(forged.ok());
  Status s = TamperWhileClosed(
      [&forged](store::WriteBatch& b) { b.Put(kAuditFamily, "c/" + Hex16(3), *forged); });
  EXPECT_EQ(s.reason(), "storage-corruption");
  EXPECT_NE(s.message().find("its signature does not verify under any audit key"),
            std::string::npos)
      << s.ToString();
}

TEST_F(AuditLogIntegrityTest, AStoreWithNoCheckpointYetOpensAsBefore) {
  Append(4);
  // No checkpoint was ever signed: a shorter tree (its leaves gone too) is all there is to go on.
  Status s = TamperWhileClosed([](store::WriteBatch& b) {
    b.Delete(kAuditFamily, "e/" + Hex16(3));
    b.Put(kAuditFamily, "meta/size", "3");
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(log_->size(), 3u);
  Result<SignedCheckpoint> c = log_->Publish();
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->size, 3u);
  // A genuine store reopens.
  Append(1);
  ASSERT_TRUE(log_->Publish().ok());
  ASSERT_TRUE(Open().ok());
  EXPECT_EQ(log_->size(), 4u);
}

TEST_F(AuditLogIntegrityTest, ATreeRewrittenWhileRunningIsNotSigned) {
  Append(4);
  Result<SignedCheckpoint> first = log_->Publish();
  ASSERT_TRUE(first.ok());
  std::string forged = *Read("n/02/" + Hex16(0));
  forged[5] = static_cast<char>(forged[5] ^ 1);
  Write([&forged](store::WriteBatch& b) { b.Put(kAuditFamily, "n/02/" + Hex16(0), forged); });
  Append(1);
  Result<SignedCheckpoint> second = log_->Publish();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().reason(), "storage-corruption");
  EXPECT_EQ(log_->Latest().error().reason(), "storage-corruption");
  Result<std::optional<SignedCheckpoint>> grown = log_->PublishIfGrown();
  EXPECT_EQ(grown.error().reason(), "storage-corruption");
  EXPECT_EQ(CountCheckpoints(), 1);
  EXPECT_EQ(Read("meta/checkpoint"), std::to_string(first->size));
}

TEST_F(AuditLogIntegrityTest, EventsServeOnlyLeavesOfTheTree) {
  Append(2);
  // A stored e/ key at the size is not a leaf (nothing is sequenced over it here).
  Write([](store::WriteBatch& b) {
    b.Put(kAuditFamily, "e/" + Hex16(2), R"({"seq":2,"at":"x","type":"forged"})");
  });
  EXPECT_TRUE(log_->Event(1).ok());
  Result<StoredEvent> e = log_->Event(2);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().reason(), "audit-event-not-found");
}

// Damage below the tree's size is storage corruption, never the client's wrong number: a leaf
// that is gone and a tree node that is not a hash.
TEST_F(AuditLogIntegrityTest, DamageBelowTheSizeIsStorageCorruption) {
  Append(4);
  Write([](store::WriteBatch& b) { b.Delete(kAuditFamily, "e/" + Hex16(1)); });
  Result<StoredEvent> gone = log_->Event(1);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), StatusCode::kDataLoss);
  EXPECT_EQ(gone.error().reason(), "storage-corruption");
  // Leaf 0's path in a tree of 4 is leaf 1 and the node over leaves 2 and 3.
  Write([](store::WriteBatch& b) { b.Put(kAuditFamily, "n/01/" + Hex16(1), "short"); });
  Result<std::vector<Hash>> proof = log_->Inclusion(0, 4);
  ASSERT_FALSE(proof.ok());
  EXPECT_EQ(proof.error().code(), StatusCode::kDataLoss);
  EXPECT_EQ(proof.error().reason(), "storage-corruption");
}

}  // namespace
}  // namespace mandated::audit
