// The verifier's two status ports (specs/mandate.md §7.3): offline, the latest qualifying
// statuslist+jwt answers whatever the order the lists are given in; online, the registry answers
// only for status lists of the mandate's own issuer.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "audit/event.h"
#include "mandates/online.h"
#include "mandates/registry.h"
#include "mandates/status_list.h"
#include "mandates/verifier.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"
#include "store/rocks_store.h"
#include "tests/mandates/mandate_test_util.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_support.h"

namespace mandated::mandates {
namespace {

constexpr int64_t kNow = 1795000000;
constexpr char kUri[] = "https://issuer.example/v1/status-lists/prn_a/0";

class TokenStatusListSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = std::move(*signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get()));
    const signer::PublicKey pub = *signer::DerivePublicKey(key_);
    issuer_ = signer::DidKeyFromPublicKey(pub);
    kid_ = signer::DidKeyVerificationMethodId(pub);
  }

  // A statuslist+jwt for kUri signed by the issuer, issued at `iat`, valid for an hour, with
  // `status` at index 3.
  std::string List(int64_t iat, uint8_t status) {
    StatusListClaims claims;
    claims.uri = kUri;
    claims.issued_at = iat;
    claims.expires_at = kNow + 3600;
    claims.statuses = *StatusArray::Create(2, 16);
    EXPECT_TRUE(claims.statuses.Set(3, status).ok());
    json::Value header = json::Value::Object();
    header.Set("typ", json::Value::String(std::string(kStatusListTyp)));
    header.Set("kid", json::Value::String(kid_));
    return *signer::SignJws(key_, header, json::Write(*StatusListClaimsToJson(claims, issuer_)));
  }

  // The status at index 3 from a source holding `lists` in that order.
  Result<uint8_t> StatusFrom(const std::vector<std::string>& lists) {
    TokenStatusListSource source(resolver_);
    for (const std::string& l : lists) {
      source.Add(l);
    }
    return source.StatusOf(StatusReference{3, kUri}, issuer_, kNow);
  }

  signer::PrivateKey key_;
  std::string issuer_;
  std::string kid_;
  DocumentResolver resolver_;  // resolves did:key
};

TEST_F(TokenStatusListSourceTest, TheLatestListAnswersInEitherOrder) {
  const std::string before = List(kNow - 600, 0);  // valid, from before the revocation
  const std::string after = List(kNow - 60, 1);    // revoked
  Result<uint8_t> old_first = StatusFrom({before, after});
  ASSERT_TRUE(old_first.ok()) << old_first.error().ToString();
  EXPECT_EQ(*old_first, 1);
  Result<uint8_t> new_first = StatusFrom({after, before});
  ASSERT_TRUE(new_first.ok()) << new_first.error().ToString();
  EXPECT_EQ(*new_first, 1);
  // A resumed mandate: the later list says valid again, and wins over the older revocation.
  Result<uint8_t> resumed = StatusFrom({List(kNow - 600, 2), List(kNow - 60, 0)});
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(*resumed, 0);
}

TEST_F(TokenStatusListSourceTest, ListsOfTheSameSecondGiveTheHigherStatus) {
  const std::string valid = List(kNow - 60, 0);
  const std::string suspended = List(kNow - 60, 2);
  Result<uint8_t> a = StatusFrom({valid, suspended});
  Result<uint8_t> b = StatusFrom({suspended, valid});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, 2);
  EXPECT_EQ(*b, 2);
}

class RegistryStatusSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {identity::kTenantsFamily, signer::kKeysFamily,
                         std::string(audit::kAuditFamily)};
    kv_ = std::move(*store::OpenRocksStore(o));
    keys_ = std::move(*signer::KeyStore::Open(*kv_, SecretBytes(ByteSpan(Bytes(32, 7))), clock_,
                                              SystemRandom::Get()));
    RegistryOptions ro;
    ro.service_did = "did:web:mandated.test";
    ro.public_base_url = "https://mandated.test";
    registry_ = std::make_unique<MandateRegistry>(*kv_, *keys_, clock_, SystemRandom::Get(), ro);
  }

  MandateRecord Issue(const std::string& principal) {
    identity::Tenant tenant(*kv_, principal);
    IssueRequest req;
    req.agent_id = "agt_1";
    req.subject = "did:key:z6MkexampleSubject";
    req.terms = testutil::TermsOf(R"({"limits":{"lifetime":[{"asset":"USD","max":"500"}]}})");
    req.validity = Validity{clock_.NowUnixSeconds(), clock_.NowUnixSeconds() + 86400};
    req.issued_by = "crd_issuer";
    Result<MandateRecord> rec = registry_->Issue(tenant, std::move(req));
    EXPECT_TRUE(rec.ok()) << rec.error().ToString();
    return rec.ok() ? *rec : MandateRecord();
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<MandateRegistry> registry_;
};

TEST_F(RegistryStatusSourceTest, AnswersOnlyForTheIssuersOwnLists) {
  const MandateRecord a = Issue("prn_a");
  const MandateRecord b = Issue("prn_b");
  RegistryStatusSource source(*registry_, *kv_);
  const StatusReference ref_b{b.idx, registry_->StatusListUri("prn_b", b.list)};
  Result<uint8_t> own = source.StatusOf(ref_b, b.issuer, clock_.NowUnixSeconds());
  ASSERT_TRUE(own.ok()) << own.error().ToString();
  EXPECT_EQ(*own, 0);
  // prn_a's mandate naming prn_b's list: not evidence for prn_a's mandate.
  Result<uint8_t> foreign = source.StatusOf(ref_b, a.issuer, clock_.NowUnixSeconds());
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(foreign.error().reason(), "status-unavailable");
  // An issuer that is no principal of this service.
  Result<uint8_t> stranger = source.StatusOf(ref_b, "did:web:other.example", clock_.NowUnixSeconds());
  ASSERT_FALSE(stranger.ok());
  EXPECT_EQ(stranger.error().reason(), "status-unavailable");
}

}  // namespace
}  // namespace mandated::mandates
