// MandateRegistry serializes state changes per principal, not service-wide: while one
// principal's issuance is held inside its durable write, another principal's revocation goes
// through (a revocation must not queue behind someone else's burst of issuances).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "audit/event.h"
#include "mandates/registry.h"
#include "store/rocks_store.h"
#include "tests/mandates/mandate_test_util.h"
#include "tests/support/fake_clock.h"
#include "tests/support/gated_store.h"
#include "tests/support/test_support.h"

namespace mandated::mandates {
namespace {

constexpr char kTerms[] = R"({"limits":{"lifetime":[{"asset":"USD","max":"500"}]}})";

using testing::GatedStore;

TEST(RegistryStripesTest, OnePrincipalsWriteInFlightDoesNotHoldAnothersRevocation) {
  // Two principals on different stripes (a shared stripe would serialize them, by design).
  const std::string a = "prn_a";
  std::string b;
  for (int i = 0; b.empty(); ++i) {
    const std::string candidate = "prn_b" + std::to_string(i);
    if (MandateRegistry::WriteStripeOf(candidate) != MandateRegistry::WriteStripeOf(a)) {
      b = candidate;
    }
  }
  testing::TempDir dir;
  testing::FakeClock clock;
  store::RocksStoreOptions o;
  o.path = dir.Sub("db");
  o.column_families = {identity::kTenantsFamily, signer::kKeysFamily,
                       std::string(audit::kAuditFamily)};
  std::unique_ptr<store::KvStore> rocks = std::move(*store::OpenRocksStore(o));
  GatedStore kv(*rocks);
  std::unique_ptr<signer::KeyStore> keys = std::move(
      *signer::KeyStore::Open(kv, SecretBytes(ByteSpan(Bytes(32, 7))), clock, SystemRandom::Get()));
  RegistryOptions ro;
  ro.service_did = "did:web:mandated.test";
  ro.public_base_url = "https://mandated.test";
  MandateRegistry registry(kv, *keys, clock, SystemRandom::Get(), ro);
  const identity::Tenant ta(kv, a), tb(kv, b);
  auto issue = [&](const identity::Tenant& t) {
    IssueRequest req;
    req.agent_id = "agt_1";
    req.subject = "did:key:z6MkexampleSubjectOfagt_1";
    req.terms = testutil::TermsOf(kTerms);
    req.validity = Validity{clock.NowUnixSeconds(), clock.NowUnixSeconds() + 86400};
    req.issued_by = "crd_issuer";
    return registry.Issue(t, std::move(req));
  };
  // Both principals have an issuer key and a mandate before the gate closes.
  ASSERT_TRUE(issue(ta).ok());
  Result<MandateRecord> mb = issue(tb);
  ASSERT_TRUE(mb.ok()) << mb.error().ToString();

  std::future<void> arrived = kv.Arrived();
  std::promise<Result<MandateRecord>> a_done;
  std::thread writer([&] {
    kv.Hold(std::this_thread::get_id());
    a_done.set_value(issue(ta));
  });
  arrived.wait();  // a's issuance now sits in its durable write, under a's stripe

  // b's revocation completes meanwhile (with one stripe for everyone it would wait for a's
  // write, which waits for this test: the wait below would give up).
  std::future<Result<MandateRecord>> revoked =
      std::async(std::launch::async, [&] { return registry.Revoke(tb, mb->id, "crd_admin"); });
  const bool finished = revoked.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  kv.Release();
  writer.join();
  ASSERT_TRUE(finished) << "b's revocation waited for a's write";
  Result<MandateRecord> r = revoked.get();
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->state, "revoked");
  Result<MandateRecord> ra = a_done.get_future().get();
  ASSERT_TRUE(ra.ok()) << ra.error().ToString();
  EXPECT_EQ(ra->state, "active");
  // a's status index counter went on from its first mandate: the second one has index 1.
  EXPECT_EQ(ra->idx, 1u);
}

}  // namespace
}  // namespace mandated::mandates
