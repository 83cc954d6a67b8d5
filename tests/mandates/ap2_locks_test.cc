// The AP2 authority serializes closings per principal (by lock stripe), not service-wide
// (specs/ap2.md §6 step 4): while one principal's closing sits in its durable write, the closing
// and revocation of a principal on another stripe go through; and a closing waiting on that lock while a revocation is written reads
// the mandate again under it.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "audit/event.h"
#include "identity/directory.h"
#include "mandates/ap2_authority.h"
#include "signer/did.h"
#include "signer/signature.h"
#include "store/rocks_store.h"
#include "tests/support/ap2_closing.h"
#include "tests/support/fake_clock.h"
#include "tests/support/gated_store.h"
#include "tests/support/test_support.h"

namespace mandated::mandates::ap2 {
namespace {

constexpr char kServiceDid[] = "did:web:mandated.test";

// One principal's agent (holding its own P-256 key) and an open payment mandate for it.
struct Buyer {
  std::unique_ptr<identity::Tenant> tenant;
  std::string agent_id;
  signer::PrivateKey key;
  OpenMandate open;
};

class Ap2LocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {identity::kTenantsFamily, identity::kIdentityIndexFamily,
                         signer::kKeysFamily, std::string(audit::kAuditFamily)};
    rocks_ = std::move(*store::OpenRocksStore(o));
    kv_ = std::make_unique<testing::GatedStore>(*rocks_);
    keys_ = std::move(*signer::KeyStore::Open(*kv_, SecretBytes(ByteSpan(Bytes(32, 7))), clock_,
                                              SystemRandom::Get()));
    identity::DirectoryOptions opts;
    opts.service_did = kServiceDid;
    directory_ = std::make_unique<identity::Directory>(*kv_, *keys_, clock_, SystemRandom::Get(),
                                                       opts);
    authority_ = std::make_unique<Authority>(*kv_, *keys_, *directory_, clock_,
                                             SystemRandom::Get(), kServiceDid);
  }

  Buyer NewBuyer(const std::string& principal) {
    Buyer b;
    b.tenant = std::make_unique<identity::Tenant>(*kv_, principal);
    b.key = std::move(*signer::GenerateKey(signer::KeyType::kP256, SystemRandom::Get()));
    identity::CreateAgentRequest req;
    req.name = "buyer";
    req.did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(b.key));
    Result<identity::Agent> agent = directory_->CreateAgent(*b.tenant, req);
    EXPECT_TRUE(agent.ok()) << agent.error().ToString();
    if (agent.ok()) b.agent_id = agent->id;
    IssueOpenRequest open;
    open.agent_id = b.agent_id;
    open.kind = Kind::kPayment;
    Result<json::Value> constraints = json::Parse(
        R"([{"type":"payment.reference","conditional_transaction_id":"x"},
            {"type":"payment.agent_recurrence","frequency":"ON_DEMAND"}])");
    open.constraints = constraints.ok() ? *constraints : json::Value();
    open.ttl_s = 86400;
    Result<OpenMandate> m = authority_->IssueOpen(*b.tenant, open, "crd_admin");
    EXPECT_TRUE(m.ok()) << m.error().ToString();
    if (m.ok()) b.open = *m;
    return b;
  }
  // The buyer's closing of `tx` for `amount`, signed for a fresh challenge.
  std::string Closing(const Buyer& b, const std::string& tx, int64_t amount) {
    Result<Challenge> ch = authority_->NewChallenge(*b.tenant, b.agent_id);
    EXPECT_TRUE(ch.ok());
    Result<std::string> chain =
        testing::SignAp2Closing(b.open.token, b.key, amount, tx, ch.ok() ? ch->aud : "",
                                ch.ok() ? ch->nonce : "", clock_.NowUnixSeconds(),
                                SystemRandom::Get());
    EXPECT_TRUE(chain.ok()) << chain.status().ToString();
    return chain.ok() ? *chain : "";
  }

  testing::TempDir dir_;
  testing::FakeClock clock_{1795000000};
  std::unique_ptr<store::KvStore> rocks_;
  std::unique_ptr<testing::GatedStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<identity::Directory> directory_;
  std::unique_ptr<Authority> authority_;
};

TEST_F(Ap2LocksTest, OnePrincipalsClosingInItsWriteHoldsNoOtherPrincipal) {
  // Two principals on different stripes (a shared stripe would serialize them, by design).
  std::string b_id;
  for (int i = 0; b_id.empty(); ++i) {
    const std::string candidate = "prn_b" + std::to_string(i);
    if (Authority::AcceptStripeOf(candidate) != Authority::AcceptStripeOf("prn_a")) {
      b_id = candidate;
    }
  }
  Buyer a = NewBuyer("prn_a");
  Buyer b = NewBuyer(b_id);
  // Each has closed once before the gate closes: the receipts key exists (its first use writes
  // it, under a lock of its own).
  ASSERT_TRUE(authority_->Present(*a.tenant, a.agent_id, Closing(a, "a-0", 1)).ok());
  ASSERT_TRUE(authority_->Present(*b.tenant, b.agent_id, Closing(b, "b-0", 1)).ok());
  const std::string a_chain = Closing(a, "a-1", 100);
  const std::string b_chain = Closing(b, "b-1", 100);

  std::future<void> arrived = kv_->Arrived();
  std::promise<Result<ClosedRecord>> a_done;
  std::thread writer([&] {
    kv_->Hold(std::this_thread::get_id());
    a_done.set_value(authority_->Present(*a.tenant, a.agent_id, a_chain));
  });
  arrived.wait();  // a's closing now sits in its durable write, under a's closings lock

  // b's closing and b's revocation complete meanwhile (with one lock for every principal they
  // would wait for a's write, which waits for this test: the waits below would give up).
  std::future<Result<ClosedRecord>> b_paid = std::async(std::launch::async, [&] {
    return authority_->Present(*b.tenant, b.agent_id, b_chain);
  });
  const bool paid_meanwhile = b_paid.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  std::future<Result<OpenMandate>> b_revoked = std::async(std::launch::async, [&] {
    return authority_->Revoke(*b.tenant, b.open.id, "crd_admin");
  });
  const bool revoked_meanwhile =
      b_revoked.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  kv_->Release();
  writer.join();
  ASSERT_TRUE(paid_meanwhile) << "b's closing waited for a's write";
  ASSERT_TRUE(revoked_meanwhile) << "b's revocation waited for a's write";
  Result<ClosedRecord> bp = b_paid.get();
  ASSERT_TRUE(bp.ok()) << bp.error().ToString();
  EXPECT_EQ(bp->transaction_id, "b-1");
  Result<OpenMandate> br = b_revoked.get();
  ASSERT_TRUE(br.ok()) << br.error().ToString();
  EXPECT_NE(br->revoked_at, 0);
  Result<ClosedRecord> ap = a_done.get_future().get();
  ASSERT_TRUE(ap.ok()) << ap.error().ToString();
  EXPECT_EQ(ap->transaction_id, "a-1");
  // b's mandate closes no more; a's still does.
  Result<ClosedRecord> b_after = authority_->Present(*b.tenant, b.agent_id, Closing(b, "b-2", 1));
  ASSERT_FALSE(b_after.ok());
  EXPECT_EQ(b_after.error().reason(), "ap2-mandate-revoked");
  EXPECT_TRUE(authority_->Present(*a.tenant, a.agent_id, Closing(a, "a-2", 1)).ok());
}

// A closing that passed its first look at the open mandate while a revocation was being written
// is refused: it reads the mandate again under the closings lock the revocation holds.
TEST_F(Ap2LocksTest, AClosingWaitingOnARevocationInItsWriteIsRefused) {
  Buyer a = NewBuyer("prn_a");
  ASSERT_TRUE(authority_->Present(*a.tenant, a.agent_id, Closing(a, "a-0", 1)).ok());
  const std::string chain = Closing(a, "a-1", 100);

  std::promise<void> at_lock;
  authority_->set_before_closing_lock_for_testing([&at_lock] { at_lock.set_value(); });
  std::future<void> arrived = kv_->Arrived();
  std::promise<Result<OpenMandate>> revoked;
  std::thread revoker([&] {
    kv_->Hold(std::this_thread::get_id());
    revoked.set_value(authority_->Revoke(*a.tenant, a.open.id, "crd_admin"));
  });
  arrived.wait();  // the revocation sits in its write, holding a's closings lock
  std::future<Result<ClosedRecord>> closing = std::async(std::launch::async, [&] {
    return authority_->Present(*a.tenant, a.agent_id, chain);
  });
  // The closing read the mandate as not revoked and verified the chain: it now goes for the
  // lock the revocation holds, and cannot finish until that write is done.
  at_lock.get_future().wait();
  const bool waited = closing.wait_for(std::chrono::milliseconds(100)) == std::future_status::timeout;
  kv_->Release();
  revoker.join();
  EXPECT_TRUE(waited) << "the closing finished while the revocation held the lock";
  ASSERT_TRUE(revoked.get_future().get().ok());
  Result<ClosedRecord> r = closing.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason(), "ap2-mandate-revoked");
}

}  // namespace
}  // namespace mandated::mandates::ap2
