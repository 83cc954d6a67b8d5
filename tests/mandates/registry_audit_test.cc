// The audit events MandateRegistry stages in the batch of each change (specs/audit.md §1.3):
// issuance and delegation, revocation cascades, suspension, resumption and uses, each checked
// for exactly the expected events, and refused operations for none.
#include <gtest/gtest.h>

#include "audit/event.h"
#include "identity/key_events.h"
#include "mandates/registry.h"
#include "store/rocks_store.h"
#include "tests/mandates/mandate_test_util.h"
#include "tests/support/fake_clock.h"
#include "tests/support/staged_events.h"
#include "tests/support/test_support.h"

namespace mandated::mandates {
namespace {

using testing::StagedEvent;
using testing::TakeStaged;
using testing::Types;
using Strings = std::vector<std::string>;

constexpr char kPrincipal[] = "prn_a";
constexpr char kRootTerms[] =
    R"({"limits":{"lifetime":[{"asset":"USD","max":"500"}],"max_uses":3}})";
constexpr char kChildTerms[] =
    R"({"limits":{"lifetime":[{"asset":"USD","max":"100"}],"max_uses":1}})";

class RegistryAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {identity::kTenantsFamily, signer::kKeysFamily,
                         std::string(audit::kAuditFamily)};
    kv_ = std::move(*store::OpenRocksStore(o));
    keys_ = std::move(*signer::KeyStore::Open(*kv_, SecretBytes(ByteSpan(Bytes(32, 7))), clock_,
                                              SystemRandom::Get()));
    keys_->set_change_hook(identity::KeyAuditHook(clock_));
    RegistryOptions ro;
    ro.service_did = "did:web:mandated.test";
    ro.public_base_url = "https://mandated.test";
    registry_ = std::make_unique<MandateRegistry>(*kv_, *keys_, clock_, SystemRandom::Get(), ro);
    tenant_.emplace(*kv_, kPrincipal);
  }

  Result<MandateRecord> Issue(const std::string& agent, const char* terms,
                              const std::string& parent = "") {
    IssueRequest req;
    req.agent_id = agent;
    req.subject = "did:key:z6MkexampleSubjectOf" + agent;
    req.parent_id = parent;
    req.terms = testutil::TermsOf(terms);
    req.validity = Validity{clock_.NowUnixSeconds(), clock_.NowUnixSeconds() + 86400};
    req.issued_by = "crd_issuer";
    return registry_->Issue(*tenant_, std::move(req));
  }

  MandateRecord MustIssue(const std::string& agent, const char* terms,
                          const std::string& parent = "") {
    Result<MandateRecord> rec = Issue(agent, terms, parent);
    EXPECT_TRUE(rec.ok()) << rec.error().ToString();
    return rec.ok() ? *rec : MandateRecord();
  }

  // Common fields of a mandate event; the token (a bearer credential) never appears.
  void ExpectMandateEvent(const StagedEvent& e, const std::string& type, const MandateRecord& m) {
    EXPECT_EQ(e.type(), type);
    EXPECT_EQ(e.principal(), kPrincipal);
    EXPECT_EQ(testing::StringField(e.json, "at"), audit::FormatMicros(clock_.NowUnixMicros()));
    EXPECT_EQ(e.subject("mandate"), m.id);
    EXPECT_EQ(e.subject("agent"), m.agent_id);
    EXPECT_EQ(e.subject("parent_mandate"), m.parent);
    EXPECT_EQ(e.subject_count(), m.parent.empty() ? 2u : 3u);
    EXPECT_EQ(e.data("token"), nullptr);
    EXPECT_EQ(e.raw.find(m.token.substr(m.token.rfind('.') + 1)), std::string::npos);
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<MandateRegistry> registry_;
  std::optional<identity::Tenant> tenant_;
};

TEST_F(RegistryAuditTest, IssuanceStagesTheRecordAndItsTerms) {
  MandateRecord root = MustIssue("agt_root", kRootTerms);
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  // The principal's first mandate creates its issuer key first.
  ASSERT_EQ(Types(events), (Strings{"key.created", "mandate.issued"}));
  EXPECT_EQ(events[0].subject("key"), root.key_id);
  EXPECT_EQ(events[0].data_string("purpose"), "issuer");
  const StagedEvent& e = events[1];
  ExpectMandateEvent(e, "mandate.issued", root);
  EXPECT_EQ(e.data_string("id"), root.id);
  EXPECT_EQ(e.data_string("agent"), "agt_root");
  EXPECT_EQ(e.data_string("state"), "active");
  EXPECT_EQ(e.data_string("issuer"), root.issuer);
  EXPECT_EQ(e.data_string("key_id"), root.key_id);
  EXPECT_EQ(e.data_string("issued_by"), "crd_issuer");
  EXPECT_EQ(e.data_string("valid_from"), FormatRfc3339Utc(root.valid_from));
  EXPECT_EQ(e.data_string("valid_until"), FormatRfc3339Utc(root.valid_until));
  ASSERT_NE(e.data("status_list"), nullptr);
  EXPECT_EQ(json::Write(*e.data("status_list")), R"({"list":0,"idx":0})");
  ASSERT_NE(e.data("terms"), nullptr);
  EXPECT_EQ(json::Write(*e.data("terms")), kRootTerms);

  // A second mandate: no new key, the next status index.
  MandateRecord second = MustIssue("agt_root", kRootTerms);
  events = TakeStaged(*kv_);
  ASSERT_EQ(Types(events), (Strings{"mandate.issued"}));
  ExpectMandateEvent(events[0], "mandate.issued", second);
  EXPECT_EQ(json::Write(*events[0].data("status_list")), R"({"list":0,"idx":1})");
}

TEST_F(RegistryAuditTest, DelegationNamesItsParentAndAWideningOneStagesNothing) {
  MandateRecord root = MustIssue("agt_root", kRootTerms);
  TakeStaged(*kv_);
  MandateRecord child = MustIssue("agt_child", kChildTerms, root.id);
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(Types(events), (Strings{"mandate.issued"}));
  ExpectMandateEvent(events[0], "mandate.issued", child);
  EXPECT_EQ(events[0].subject("parent_mandate"), root.id);
  EXPECT_EQ(events[0].data_string("parent"), root.id);
  ASSERT_NE(events[0].data("depth"), nullptr);
  EXPECT_EQ(events[0].data("depth")->as_int64(), 1);

  Result<MandateRecord> wider = Issue(
      "agt_child", R"({"limits":{"lifetime":[{"asset":"USD","max":"900"}]}})", root.id);
  ASSERT_FALSE(wider.ok());
  EXPECT_EQ(wider.error().code(), StatusCode::kInvalidArgument);
  Result<MandateRecord> orphan = Issue("agt_child", kChildTerms, "mnd_aaaaaaaaaaaaaaaaaaaaaaaaaa");
  ASSERT_FALSE(orphan.ok());
  EXPECT_TRUE(TakeStaged(*kv_).empty());
}

TEST_F(RegistryAuditTest, RevocationStagesOneEventPerMandateTheCascadeChanges) {
  MandateRecord root = MustIssue("agt_root", kRootTerms);
  MandateRecord child = MustIssue("agt_child", kChildTerms, root.id);
  MandateRecord grandchild = MustIssue("agt_grand", kChildTerms, child.id);
  MandateRecord sibling = MustIssue("agt_sib", kChildTerms, root.id);
  ASSERT_TRUE(registry_->Revoke(*tenant_, sibling.id, "crd_x").ok());
  TakeStaged(*kv_);

  clock_.AdvanceSeconds(10);
  ASSERT_TRUE(registry_->Revoke(*tenant_, root.id, "crd_admin").ok());
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  // The already revoked sibling does not change, so it gets no event.
  ASSERT_EQ(Types(events), (Strings{"mandate.revoked", "mandate.revoked", "mandate.revoked"}));
  ExpectMandateEvent(events[0], "mandate.revoked", root);
  EXPECT_EQ(events[0].data_string("state"), "revoked");
  EXPECT_EQ(events[0].data_string("state_reason"), "revoked by crd_admin");
  ExpectMandateEvent(events[1], "mandate.revoked", child);
  EXPECT_EQ(events[1].data_string("state_reason"), "parent " + root.id + " revoked by crd_admin");
  ExpectMandateEvent(events[2], "mandate.revoked", grandchild);
  EXPECT_EQ(events[2].data_string("state"), "revoked");
  ASSERT_NE(events[2].data("updated_at"), nullptr);
  EXPECT_EQ(events[2].data("updated_at")->as_int64(), clock_.NowUnixSeconds());

  ASSERT_TRUE(registry_->Revoke(*tenant_, root.id, "crd_admin").ok());
  EXPECT_TRUE(TakeStaged(*kv_).empty());
}

TEST_F(RegistryAuditTest, SuspendAndResume) {
  MandateRecord root = MustIssue("agt_root", kRootTerms);
  MandateRecord child = MustIssue("agt_child", kChildTerms, root.id);
  TakeStaged(*kv_);

  ASSERT_TRUE(registry_->Suspend(*tenant_, root.id, "crd_admin").ok());
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(Types(events), (Strings{"mandate.suspended"}));
  ExpectMandateEvent(events[0], "mandate.suspended", root);
  EXPECT_EQ(events[0].data_string("state"), "suspended");
  EXPECT_EQ(events[0].data_string("state_reason"), "suspended by crd_admin");

  Result<MandateRecord> again = registry_->Suspend(*tenant_, root.id, "crd_admin");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().reason(), "mandate-state");
  Result<MandateRecord> resume_active = registry_->Resume(*tenant_, child.id, "crd_admin");
  ASSERT_FALSE(resume_active.ok());
  EXPECT_TRUE(TakeStaged(*kv_).empty());

  ASSERT_TRUE(registry_->Resume(*tenant_, root.id, "crd_admin").ok());
  events = TakeStaged(*kv_);
  ASSERT_EQ(Types(events), (Strings{"mandate.resumed"}));
  ExpectMandateEvent(events[0], "mandate.resumed", root);
  EXPECT_EQ(events[0].data_string("state"), "active");
}

TEST_F(RegistryAuditTest, UsesAndTheMandatesTheyUseUp) {
  MandateRecord root = MustIssue("agt_root", kRootTerms);
  MandateRecord child = MustIssue("agt_child", kChildTerms, root.id);
  MandateRecord grandchild = MustIssue("agt_grand", kChildTerms, child.id);
  MandateRecord other = MustIssue("agt_other", kRootTerms);
  TakeStaged(*kv_);

  // A use of a root that does not exhaust it.
  ASSERT_TRUE(registry_->Use(*tenant_, other.id, "use-1").ok());
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(Types(events), (Strings{"mandate.used"}));
  ExpectMandateEvent(events[0], "mandate.used", other);
  EXPECT_EQ(events[0].data_string("use_key"), "use-1");
  EXPECT_EQ(events[0].data("uses")->as_int64(), 1);
  EXPECT_EQ(json::Write(*events[0].data("chain")),
            R"([{"id":")" + other.id + R"(","uses":1,"max_uses":3}])");

  // The same use key again answers the first outcome and stages nothing.
  Result<MandateRegistry::UseOutcome> replay = registry_->Use(*tenant_, other.id, "use-1");
  ASSERT_TRUE(replay.ok());
  EXPECT_TRUE(replay->replayed);
  EXPECT_TRUE(TakeStaged(*kv_).empty());

  // The child's only use: counted on the chain, the child and its delegation are used up.
  ASSERT_TRUE(registry_->Use(*tenant_, child.id, "use-2").ok());
  events = TakeStaged(*kv_);
  ASSERT_EQ(Types(events), (Strings{"mandate.used", "mandate.used_up", "mandate.used_up"}));
  ExpectMandateEvent(events[0], "mandate.used", child);
  EXPECT_EQ(json::Write(*events[0].data("chain")),
            R"([{"id":")" + child.id + R"(","uses":1,"max_uses":1},{"id":")" + root.id +
                R"(","uses":1,"max_uses":3}])");
  // The used-up events come in id order.
  const bool child_first = events[1].subject("mandate") == child.id;
  const StagedEvent& child_up = events[child_first ? 1 : 2];
  const StagedEvent& grand_up = events[child_first ? 2 : 1];
  ExpectMandateEvent(child_up, "mandate.used_up", child);
  EXPECT_EQ(child_up.data_string("state"), "used-up");
  EXPECT_EQ(child_up.data_string("state_reason"), "max_uses reached");
  ExpectMandateEvent(grand_up, "mandate.used_up", grandchild);
  EXPECT_EQ(grand_up.data_string("state"), "used-up");
  EXPECT_EQ(grand_up.data_string("state_reason"), "an ancestor reached its max_uses");

  Result<MandateRegistry::UseOutcome> exhausted = registry_->Use(*tenant_, child.id, "use-3");
  ASSERT_FALSE(exhausted.ok());
  EXPECT_EQ(exhausted.error().reason(), "uses-exhausted");
  Result<MandateRegistry::UseOutcome> bad_key = registry_->Use(*tenant_, root.id, "bad key");
  ASSERT_FALSE(bad_key.ok());
  EXPECT_TRUE(TakeStaged(*kv_).empty());
}

}  // namespace
}  // namespace mandated::mandates
