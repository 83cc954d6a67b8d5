// The deferred-settlement queue on a real RocksDB (specs/evm.md §6.4): what a payer has promised
// per token, and batches that never mix payers, payees, chains or token contracts.
#include "settlement/deferred.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "settlement/facilitator.h"
#include "store/rocks_store.h"
#include "tests/support/test_support.h"

namespace mandated::settlement {
namespace {

const std::string kPayer = "0x" + std::string(40, 'a');
const std::string kPayeeOne = "0x" + std::string(40, 'b');
const std::string kPayeeTwo = "0x" + std::string(40, 'c');
const std::string kTokenA = "0x" + std::string(40, '1');
const std::string kTokenB = "0x" + std::string(40, '2');

std::string NonceKeyOf(uint64_t chain, const std::string& token, int n) {
  char nonce[67];
  snprintf(nonce, sizeof(nonce), "0x%064x", n);
  return std::to_string(chain) + "/" + token + "/" + kPayer + "/" + nonce;
}

class DeferredTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {kX402Family};
    Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(o);
    ASSERT_TRUE(kv.ok()) << kv.error().ToString();
    kv_ = std::move(*kv);
  }

  void Queue(uint64_t chain, const std::string& payee, const std::string& token, int n,
             uint64_t amount) {
    const std::string nonce_key = NonceKeyOf(chain, token, n);
    store::WriteBatch b;
    b.Put(kX402Family, DeferredKey(chain, kPayer, payee, nonce_key),
          DeferredValue(nonce_key, Amount::FromUint64(amount)));
    ASSERT_TRUE(kv_->Write(b).ok());
  }

  void Owe(uint64_t chain, const std::string& token, int n, uint64_t amount) {
    const std::string nonce_key = NonceKeyOf(chain, token, n);
    store::WriteBatch b;
    b.Put(kX402Family, OwedKey(chain, kPayer, nonce_key),
          DeferredValue(nonce_key, Amount::FromUint64(amount)));
    ASSERT_TRUE(kv_->Write(b).ok());
  }

  Amount Queued(uint64_t chain, const std::string& token) {
    Result<Amount> q = QueuedBy(*kv_, chain, kPayer, token);
    EXPECT_TRUE(q.ok()) << q.error().ToString();
    return q.ok() ? *q : Amount::FromUint64(999999);
  }

  testing::TempDir dir_;
  std::unique_ptr<store::KvStore> kv_;
};

TEST_F(DeferredTest, TokenAndPayerOfANonceKeyAreItsSecondAndThirdFields) {
  EXPECT_EQ(TokenOfNonceKey(NonceKeyOf(8453, kTokenA, 1)), kTokenA);
  EXPECT_EQ(TokenOfNonceKey("8453/0xabc"), "");
  EXPECT_EQ(TokenOfNonceKey(""), "");
  EXPECT_EQ(PayerOfNonceKey(NonceKeyOf(8453, kTokenA, 1)), kPayer);
  EXPECT_EQ(PayerOfNonceKey("8453/0xabc/0xdef"), "");
  EXPECT_EQ(PayerOfNonceKey(""), "");
}

// Owed entries (payments submitted or pending, gone from the queue) count; a payment both owed
// and still queued counts once.
TEST_F(DeferredTest, OwedPaymentsCountOnceWithTheQueue) {
  Queue(8453, kPayeeOne, kTokenA, 1, 10);  // queued and owed
  Owe(8453, kTokenA, 1, 10);
  Owe(8453, kTokenA, 2, 300);              // in a submitted batch: owed only
  Owe(8453, kTokenB, 3, 4000);             // another token
  EXPECT_EQ(Queued(8453, kTokenA).ToString(), "310");
  EXPECT_EQ(Queued(8453, kTokenB).ToString(), "4000");
}

TEST_F(DeferredTest, QueuedAmountsCountOnlyTheTokenAndChainAsked) {
  Queue(8453, kPayeeOne, kTokenA, 1, 10);
  Queue(8453, kPayeeTwo, kTokenA, 2, 15);
  Queue(8453, kPayeeOne, kTokenB, 3, 700);
  Queue(84532, kPayeeOne, kTokenA, 4, 5000);
  EXPECT_EQ(Queued(8453, kTokenA).ToString(), "25");  // both payees, not token B's 700
  EXPECT_EQ(Queued(8453, kTokenB).ToString(), "700");
  EXPECT_EQ(Queued(84532, kTokenA).ToString(), "5000");
  EXPECT_EQ(Queued(84532, kTokenB).ToString(), "0");
}

TEST_F(DeferredTest, BatchesNeverMixTokensPayeesOrChains) {
  // One payer and payee in two tokens (interleaved as they arrive), another payee, another chain.
  Queue(8453, kPayeeOne, kTokenB, 1, 1);
  Queue(8453, kPayeeOne, kTokenA, 2, 1);
  Queue(8453, kPayeeOne, kTokenB, 3, 1);
  Queue(8453, kPayeeOne, kTokenA, 4, 1);
  Queue(8453, kPayeeOne, kTokenA, 5, 1);
  Queue(8453, kPayeeTwo, kTokenA, 6, 1);
  Queue(84532, kPayeeOne, kTokenA, 7, 1);
  Result<std::vector<DeferredEntry>> entries = LoadDeferred(*kv_);
  ASSERT_TRUE(entries.ok()) << entries.error().ToString();
  ASSERT_EQ(entries->size(), 7u);
  const std::vector<std::vector<DeferredEntry>> batches = PlanBatches(*entries, 2);
  // (8453, one, A): 3 entries in batches of 2 and 1; (8453, one, B): 2; (8453, two, A): 1;
  // (84532, one, A): 1.
  std::vector<std::string> shape;
  for (const std::vector<DeferredEntry>& batch : batches) {
    ASSERT_FALSE(batch.empty());
    for (const DeferredEntry& e : batch) {
      EXPECT_EQ(e.chain, batch.front().chain);
      EXPECT_EQ(e.pair, batch.front().pair);
      EXPECT_EQ(e.token, batch.front().token);
      EXPECT_EQ(e.token, TokenOfNonceKey(e.nonce_key));
    }
    shape.push_back(std::to_string(batch.front().chain) + " " +
                    batch.front().pair.substr(batch.front().pair.size() - 1) + " " +
                    batch.front().token.substr(2, 1) + " x" + std::to_string(batch.size()));
  }
  EXPECT_EQ(shape, (std::vector<std::string>{"8453 b 1 x2", "8453 b 1 x1", "8453 b 2 x2",
                                             "8453 c 1 x1", "84532 b 1 x1"}));
}

}  // namespace
}  // namespace mandated::settlement
