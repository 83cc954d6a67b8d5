// Session retention on a real RocksDB with a fake clock (specs/access.md §Session retention):
// which sessions a prune deletes (ended or expired past the retention, never a live one), the
// keys it deletes with them, the per-pass bound, and what callers see afterwards.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "identity/directory.h"
#include "identity/session_pruner.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_support.h"

namespace mandated::identity {
namespace {

constexpr int64_t kRetention = 7 * 86400;  // DirectoryOptions' default
constexpr int64_t kTtl = 15 * 60;          // DirectoryOptions' default session lifetime

class SessionPruneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {kTenantsFamily, kIdentityIndexFamily, signer::kKeysFamily, "audit"};
    kv_ = std::move(*store::OpenRocksStore(o));
    keys_ = std::move(*signer::KeyStore::Open(*kv_, SecretBytes(ByteSpan(Bytes(32, 7))), clock_,
                                              SystemRandom::Get()));
    directory_ = NewDirectory(DirectoryOptions{});
    tenant_.emplace(*kv_, "prn_a");
    agent_ = NewAgent(*tenant_);
    CreateCredentialRequest creq;
    creq.role = Role::kAdmin;
    credential_ = directory_->CreateCredential(*tenant_, creq)->record.id;
  }

  std::unique_ptr<Directory> NewDirectory(DirectoryOptions opts) {
    opts.service_did = "did:web:mandated.test";
    return std::make_unique<Directory>(*kv_, *keys_, clock_, SystemRandom::Get(), opts);
  }

  std::string NewAgent(const Tenant& t) {
    CreateAgentRequest req;
    req.name = "buyer";
    req.custodial_key_type = "Ed25519";
    Result<Agent> a = directory_->CreateAgent(t, req);
    EXPECT_TRUE(a.ok()) << a.error().ToString();
    return a.ok() ? a->id : std::string();
  }

  // A session of `agent` opened by `opened_by` (a credential id, or "operator": no crd-ses key).
  WithToken<Session> Open(const Tenant& t, const std::string& agent, const std::string& opened_by) {
    OpenSessionRequest req;
    req.task = "buy a dataset";
    Result<WithToken<Session>> s = directory_->OpenSessionForAgent(t, agent, req, opened_by);
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    return std::move(*s);
  }
  WithToken<Session> Open() { return Open(*tenant_, agent_, credential_); }

  bool Has(std::string_view cf, const std::string& key) {
    Result<std::optional<std::string>> v = kv_->Get(cf, key);
    EXPECT_TRUE(v.ok());
    return v.ok() && v->has_value();
  }
  // Each of the keys a session has: its record, its agent's and its opener's index entries, and
  // its token's principal lookup.
  struct Keys {
    bool record, agent_index, credential_index, token_index;
  };
  Keys KeysOf(const Session& s) {
    const std::string p = s.principal_id + "/";
    return Keys{Has(kTenantsFamily, p + "ses/" + s.id),
                Has(kTenantsFamily, p + "agt-ses/" + s.agent_id + "/" + s.id),
                Has(kTenantsFamily, p + "crd-ses/" + s.opened_by + "/" + s.id),
                Has(kIdentityIndexFamily, "ses/" + s.id)};
  }
  void ExpectAllKeys(const Session& s) {
    const Keys k = KeysOf(s);
    EXPECT_TRUE(k.record);
    EXPECT_TRUE(k.agent_index);
    EXPECT_EQ(k.credential_index, s.opened_by.starts_with("crd_"));
    EXPECT_TRUE(k.token_index);
  }
  void ExpectNoKeys(const Session& s) {
    const Keys k = KeysOf(s);
    EXPECT_FALSE(k.record);
    EXPECT_FALSE(k.agent_index);
    EXPECT_FALSE(k.credential_index);
    EXPECT_FALSE(k.token_index);
  }

  size_t CountKeys(std::string_view cf, std::string_view prefix = "") {
    size_t n = 0;
    EXPECT_TRUE(kv_->ScanPrefix(cf, prefix, [&](std::string_view, std::string_view) {
                      ++n;
                      return true;
                    }).ok());
    return n;
  }

  SessionPrunePass Prune(const std::string& after = "", size_t limit = 1000) {
    Result<SessionPrunePass> pass = directory_->PruneSessions(after, limit);
    EXPECT_TRUE(pass.ok()) << pass.error().ToString();
    return pass.ok() ? *pass : SessionPrunePass{};
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<Directory> directory_;
  std::optional<Tenant> tenant_;
  std::string agent_;
  std::string credential_;
};

TEST_F(SessionPruneTest, SessionExpiredLongerThanTheRetentionIsDeletedWithItsIndexKeys) {
  WithToken<Session> s = Open();
  ExpectAllKeys(s.record);
  clock_.AdvanceSeconds(kTtl + kRetention);
  const SessionPrunePass pass = Prune();
  EXPECT_EQ(pass.examined, 1u);
  EXPECT_EQ(pass.pruned, 1u);
  EXPECT_EQ(pass.unreadable, 0u);
  EXPECT_EQ(pass.next_after, "");  // the scan reached the end
  ExpectNoKeys(s.record);
  EXPECT_TRUE(directory_->ListSessions(*tenant_, "", "", 100)->empty());
}

TEST_F(SessionPruneTest, SessionWithoutACredentialOpenerIsDeletedWithItsIndexKeys) {
  WithToken<Session> s = Open(*tenant_, agent_, "operator");
  ExpectAllKeys(s.record);  // no crd-ses key
  clock_.AdvanceSeconds(kTtl + kRetention);
  EXPECT_EQ(Prune().pruned, 1u);
  ExpectNoKeys(s.record);
}

TEST_F(SessionPruneTest, SessionExpiredLessThanTheRetentionStays) {
  WithToken<Session> s = Open();
  clock_.AdvanceSeconds(kTtl + kRetention - 1);
  const SessionPrunePass pass = Prune();
  EXPECT_EQ(pass.examined, 1u);
  EXPECT_EQ(pass.pruned, 0u);
  ExpectAllKeys(s.record);
  EXPECT_EQ(directory_->GetSession(*tenant_, s.record.id)->id, s.record.id);
  // One second later it ended the whole retention ago.
  clock_.AdvanceSeconds(1);
  EXPECT_EQ(Prune().pruned, 1u);
  ExpectNoKeys(s.record);
}

TEST_F(SessionPruneTest, LiveSessionStaysEvenWithTheShortestRetention) {
  WithToken<Session> s = Open();
  DirectoryOptions opts;
  opts.session_retention_s = 1;
  std::unique_ptr<Directory> eager = NewDirectory(opts);
  clock_.AdvanceSeconds(kTtl - 1);  // the last second of its life
  Result<SessionPrunePass> pass = eager->PruneSessions("", 1000);
  ASSERT_TRUE(pass.ok()) << pass.error().ToString();
  EXPECT_EQ(pass->examined, 1u);
  EXPECT_EQ(pass->pruned, 0u);
  ExpectAllKeys(s.record);
  EXPECT_TRUE(directory_->Authenticate(s.token.chars()).ok());
}

// A revoked session ended when it was revoked, not when it would have expired.
TEST_F(SessionPruneTest, RevokedSessionIsDeletedARetentionAfterItsRevocation) {
  WithToken<Session> s = Open();
  clock_.AdvanceSeconds(60);
  ASSERT_TRUE(directory_->RevokeSession(*tenant_, s.record.id, "revoked").ok());
  clock_.AdvanceSeconds(kRetention - 1);
  EXPECT_EQ(Prune().pruned, 0u);
  ExpectAllKeys(s.record);
  clock_.AdvanceSeconds(1);  // a retention after the revocation, before expiry + retention
  ASSERT_LT(clock_.NowUnixSeconds(), s.record.expires_at + kRetention);
  EXPECT_EQ(Prune().pruned, 1u);
  ExpectNoKeys(s.record);
}

TEST_F(SessionPruneTest, OnlySessionsPastTheRetentionAreDeleted) {
  WithToken<Session> old_expired = Open();
  WithToken<Session> old_revoked = Open();
  ASSERT_TRUE(directory_->RevokeSession(*tenant_, old_revoked.record.id, "ended").ok());
  clock_.AdvanceSeconds(kRetention);
  WithToken<Session> recent_revoked = Open();
  ASSERT_TRUE(directory_->RevokeSession(*tenant_, recent_revoked.record.id, "revoked").ok());
  clock_.AdvanceSeconds(kTtl);
  WithToken<Session> live = Open();
  const SessionPrunePass pass = Prune();
  EXPECT_EQ(pass.examined, 4u);
  EXPECT_EQ(pass.pruned, 2u);
  ExpectNoKeys(old_expired.record);
  ExpectNoKeys(old_revoked.record);
  ExpectAllKeys(recent_revoked.record);
  ExpectAllKeys(live.record);
  EXPECT_TRUE(directory_->Authenticate(live.token.chars()).ok());
  EXPECT_EQ(directory_->Authenticate(recent_revoked.token.chars()).error().reason(),
            "session-revoked");
}

// What a client sees of a pruned session: the answers of one that never existed.
TEST_F(SessionPruneTest, PrunedSessionAnswersLikeAnUnknownOne) {
  WithToken<Session> s = Open();
  clock_.AdvanceSeconds(kTtl + kRetention);
  ASSERT_EQ(Prune().pruned, 1u);
  Result<Session> got = directory_->GetSession(*tenant_, s.record.id);
  ASSERT_FALSE(got.ok());
  Result<Session> unknown = directory_->GetSession(*tenant_, "ses_" + std::string(26, 'a'));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(got.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(got.error().reason(), "session-not-found");
  EXPECT_EQ(got.error().code(), unknown.error().code());
  EXPECT_EQ(got.error().reason(), unknown.error().reason());
  // Revoking or ending it is the same 404.
  Result<Session> revoked = directory_->RevokeSession(*tenant_, s.record.id, "revoked");
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.error().reason(), "session-not-found");
  // Its token is an unknown token.
  Result<Caller> auth = directory_->Authenticate(s.token.chars());
  ASSERT_FALSE(auth.ok());
  EXPECT_EQ(auth.error().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(auth.error().reason(), "bad-credential");
}

TEST_F(SessionPruneTest, RevokingTheAgentOrCredentialWorksAfterTheirSessionsWerePruned) {
  WithToken<Session> old_session = Open();
  clock_.AdvanceSeconds(kTtl + kRetention);
  WithToken<Session> live = Open();
  ASSERT_EQ(Prune().pruned, 1u);
  ExpectNoKeys(old_session.record);
  Result<Credential> c = directory_->RevokeCredential(*tenant_, credential_);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(directory_->GetSession(*tenant_, live.record.id)->revoked_reason, "credential-revoked");

  // An agent's index entries, one of them left without its session: the revocation skips it.
  WithToken<Session> operator_opened = Open(*tenant_, agent_, "operator");
  store::WriteBatch drop;
  tenant_->Delete(drop, "ses", operator_opened.record.id);
  ASSERT_TRUE(kv_->Write(drop).ok());
  WithToken<Session> another = Open(*tenant_, agent_, "operator");
  Result<Agent> a = directory_->ChangeAgentState(*tenant_, agent_, "revoke");
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_EQ(directory_->GetSession(*tenant_, another.record.id)->revoked_reason, "agent-revoked");
}

// More sessions than a pass may look at, across principals: two passes delete them all.
TEST_F(SessionPruneTest, EachPassLooksAtNoMoreThanItsLimit) {
  Tenant other(*kv_, "prn_b");
  const std::string other_agent = NewAgent(other);
  constexpr size_t kSessions = Directory::kSessionPruneChunk + 72;  // 200: more than one chunk
  std::vector<Session> sessions;
  for (size_t i = 0; i < kSessions; ++i) {
    sessions.push_back(i % 2 == 0 ? Open().record : Open(other, other_agent, "operator").record);
  }
  clock_.AdvanceSeconds(kTtl + kRetention);
  const size_t limit = Directory::kSessionPruneChunk + 22;  // 150: two chunks in the first pass
  const SessionPrunePass first = Prune("", limit);
  EXPECT_EQ(first.examined, limit);
  EXPECT_EQ(first.pruned, limit);
  EXPECT_NE(first.next_after, "");
  EXPECT_EQ(CountKeys(kIdentityIndexFamily, "ses/"), kSessions - limit);
  const SessionPrunePass second = Prune(first.next_after, limit);
  EXPECT_EQ(second.examined, kSessions - limit);
  EXPECT_EQ(second.pruned, kSessions - limit);
  EXPECT_EQ(second.next_after, "");
  for (const Session& s : sessions) {
    ExpectNoKeys(s);
  }
}

TEST_F(SessionPruneTest, PrunerPassesResumeWhereTheLastOneStopped) {
  std::vector<Session> sessions;
  for (int i = 0; i < 5; ++i) {
    sessions.push_back(Open().record);
  }
  clock_.AdvanceSeconds(kTtl + kRetention);
  SessionPrunerOptions opts;
  opts.sessions_per_pass = 3;
  SessionPruner pruner(*directory_, opts);
  Result<SessionPrunePass> first = pruner.PassOnce();
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(first->pruned, 3u);
  Result<SessionPrunePass> second = pruner.PassOnce();
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(second->pruned, 2u);
  EXPECT_EQ(second->next_after, "");
  for (const Session& s : sessions) {
    ExpectNoKeys(s);
  }
  // Started and stopped, it leaves the store as it was.
  pruner.Start();
  pruner.Stop();
}

// Audit trails are built from audit events, which pruning neither deletes nor adds to.
TEST_F(SessionPruneTest, AuditEventsAreKept) {
  WithToken<Session> s = Open();
  ASSERT_TRUE(directory_->RevokeSession(*tenant_, s.record.id, "revoked").ok());
  const size_t audit_keys = CountKeys("audit");
  ASSERT_GT(audit_keys, 0u);
  clock_.AdvanceSeconds(kTtl + kRetention);
  ASSERT_EQ(Prune().pruned, 1u);
  EXPECT_EQ(CountKeys("audit"), audit_keys);
}

TEST_F(SessionPruneTest, UnreadableSessionIsLeftInPlace) {
  WithToken<Session> s = Open();
  store::WriteBatch garble;
  tenant_->Put(garble, "ses", s.record.id, "{not json");
  ASSERT_TRUE(kv_->Write(garble).ok());
  clock_.AdvanceSeconds(kTtl + kRetention);
  const SessionPrunePass pass = Prune();
  EXPECT_EQ(pass.unreadable, 1u);
  EXPECT_EQ(pass.pruned, 0u);
  ExpectAllKeys(s.record);
}

TEST_F(SessionPruneTest, TokenIndexEntryWithoutItsSessionIsDropped) {
  WithToken<Session> s = Open();
  store::WriteBatch drop;
  tenant_->Delete(drop, "ses", s.record.id);
  ASSERT_TRUE(kv_->Write(drop).ok());
  const SessionPrunePass pass = Prune();  // no time has passed: it is dangling, not old
  EXPECT_EQ(pass.examined, 1u);
  EXPECT_EQ(pass.pruned, 0u);
  EXPECT_FALSE(Has(kIdentityIndexFamily, "ses/" + s.record.id));
  EXPECT_EQ(directory_->Authenticate(s.token.chars()).error().reason(), "bad-credential");
}

}  // namespace
}  // namespace mandated::identity
