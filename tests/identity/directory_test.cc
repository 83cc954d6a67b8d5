// Directory on a real RocksDB with a fake clock: session assertions (replay, expiry, wrong key,
// wrong audience), immediate effect of revocation and suspension, credentials and tenant walls.
#include "identity/directory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_support.h"

namespace mandated::identity {
namespace {

constexpr char kServiceDid[] = "did:web:mandated.test";

class DirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {kTenantsFamily, kIdentityIndexFamily, signer::kKeysFamily, "audit"};
    kv_ = std::move(*store::OpenRocksStore(o));
    keys_ = std::move(*signer::KeyStore::Open(*kv_, SecretBytes(ByteSpan(Bytes(32, 7))), clock_,
                                              SystemRandom::Get()));
    DirectoryOptions opts;
    opts.service_did = kServiceDid;
    dir_store_ = std::make_unique<Directory>(*kv_, *keys_, clock_, SystemRandom::Get(), opts);
    tenant_.emplace(*kv_, "prn_a");
    agent_key_ = std::move(*signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get()));
    agent_did_ = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(agent_key_));
    CreateAgentRequest req;
    req.name = "buyer";
    req.did = agent_did_;
    agent_ = *dir_store_->CreateAgent(*tenant_, req);
  }

  // A session assertion signed by `key` claiming to be `iss`, valid unless a field is changed.
  std::string Assertion(const signer::PrivateKey& key, const std::string& iss,
                        const std::string& jti, int64_t iat_offset = 0, int64_t lifetime = 120,
                        const std::string& aud = kServiceDid) {
    const signer::PublicKey pub = *signer::DerivePublicKey(key);
    json::Value header = json::Value::Object();
    header.Set("typ", json::Value::String("JWT"));
    header.Set("kid", json::Value::String(signer::DidKeyVerificationMethodId(pub)));
    const int64_t iat = clock_.NowUnixSeconds() + iat_offset;
    json::Value claims = json::Value::Object();
    claims.Set("iss", json::Value::String(iss));
    claims.Set("sub", json::Value::String(iss));
    claims.Set("aud", json::Value::String(aud));
    claims.Set("iat", json::Value::Int(iat));
    claims.Set("exp", json::Value::Int(iat + lifetime));
    claims.Set("jti", json::Value::String(jti));
    return *signer::SignJws(key, header, json::Write(claims));
  }

  OpenSessionRequest Request(std::string assertion) {
    OpenSessionRequest r;
    r.assertion = std::move(assertion);
    r.task = "buy a dataset";
    return r;
  }

  static std::string Reason(const Status& s) { return s.reason(); }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<Directory> dir_store_;
  std::optional<Tenant> tenant_;
  signer::PrivateKey agent_key_;
  std::string agent_did_;
  Agent agent_;
};

TEST_F(DirectoryTest, ValidAssertionOpensASessionTheTokenAuthenticates) {
  Result<WithToken<Session>> s =
      dir_store_->OpenSessionWithAssertion(Request(Assertion(agent_key_, agent_did_, "jti-0001-abcdefgh")));
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->record.agent_id, agent_.id);
  EXPECT_EQ(s->record.expires_at, clock_.NowUnixSeconds() + 15 * 60);
  EXPECT_EQ(s->record.opened_by, "assertion");
  Result<Caller> c = dir_store_->Authenticate(s->token.chars());
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->role, Role::kAgent);
  EXPECT_EQ(c->principal_id, "prn_a");
  EXPECT_EQ(c->session_id, s->record.id);
  EXPECT_EQ(c->agent_id, agent_.id);
}

TEST_F(DirectoryTest, ReplayedJtiIsRefused) {
  const std::string a = Assertion(agent_key_, agent_did_, "jti-replay-000001");
  ASSERT_TRUE(dir_store_->OpenSessionWithAssertion(Request(a)).ok());
  Result<WithToken<Session>> again = dir_store_->OpenSessionWithAssertion(Request(a));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(Reason(again.error()), "assertion-replayed");
  // A fresh assertion with the same jti is a replay too.
  clock_.AdvanceSeconds(1);
  again = dir_store_->OpenSessionWithAssertion(
      Request(Assertion(agent_key_, agent_did_, "jti-replay-000001")));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(Reason(again.error()), "assertion-replayed");
}

// specs/access.md §Session retention: an assertion's replay record is deleted only once the
// assertion expired more than the clock skew plus an hour ago; the assertion itself is still
// refused (as expired), and a record that is not a time is left in place.
TEST_F(DirectoryTest, ReplayRecordsArePrunedOnlyLongAfterTheirAssertionExpired) {
  const int64_t t0 = clock_.NowUnixSeconds();
  const std::string a = Assertion(agent_key_, agent_did_, "jti-prune-00000001");  // exp t0+120
  ASSERT_TRUE(dir_store_->OpenSessionWithAssertion(Request(a)).ok());
  clock_.AdvanceSeconds(600);
  const std::string b = Assertion(agent_key_, agent_did_, "jti-prune-00000002");  // exp t0+720
  ASSERT_TRUE(dir_store_->OpenSessionWithAssertion(Request(b)).ok());
  ASSERT_TRUE(kv_->Write([] {
                   store::WriteBatch w;
                   w.Put(kIdentityIndexFamily, "jti/did:key:zBroken/jti-unreadable-0001", "soon");
                   return w;
                 }()).ok());
  auto has = [&](const std::string& jti) {
    Result<std::optional<std::string>> v =
        kv_->Get(kIdentityIndexFamily, "jti/" + agent_did_ + "/" + jti);
    return v.ok() && v->has_value();
  };
  auto prune = [&](const std::string& after = "", size_t limit = 1000) {
    Result<JtiPrunePass> p = dir_store_->PruneAssertionJtis(after, limit);
    EXPECT_TRUE(p.ok()) << p.error().ToString();
    return p.ok() ? *p : JtiPrunePass{};
  };

  JtiPrunePass p = prune();
  EXPECT_EQ(p.examined, 3u);
  EXPECT_EQ(p.pruned, 0u);
  EXPECT_EQ(p.unreadable, 1u);
  EXPECT_EQ(p.next_after, "");
  // At exp + skew + retention the record stays; a second later it goes.
  const int64_t skew_and_retention = 60 + Directory::kJtiRetentionS;
  clock_.AdvanceSeconds(t0 + 120 + skew_and_retention - clock_.NowUnixSeconds());
  EXPECT_EQ(prune().pruned, 0u);
  EXPECT_TRUE(has("jti-prune-00000001"));
  clock_.AdvanceSeconds(1);
  p = prune();
  EXPECT_EQ(p.pruned, 1u);
  EXPECT_FALSE(has("jti-prune-00000001"));
  EXPECT_TRUE(has("jti-prune-00000002"));
  // The assertion whose record went is refused all the same: it expired.
  Result<WithToken<Session>> again = dir_store_->OpenSessionWithAssertion(Request(a));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(Reason(again.error()), "assertion-expired");
  // Bounded passes resume where they stopped; the unreadable record is never deleted.
  clock_.AdvanceSeconds(600);
  p = prune("", 1);  // did:key:z6Mk... sorts before did:key:zBroken
  EXPECT_EQ(p.examined, 1u);
  EXPECT_EQ(p.pruned, 1u);
  EXPECT_EQ(p.next_after, agent_did_ + "/jti-prune-00000002");
  EXPECT_FALSE(has("jti-prune-00000002"));
  p = prune(p.next_after, 1);
  EXPECT_EQ(p.examined, 1u);
  EXPECT_EQ(p.pruned, 0u);
  EXPECT_EQ(p.unreadable, 1u);
  EXPECT_EQ(p.next_after, "did:key:zBroken/jti-unreadable-0001");
  p = prune(p.next_after, 1);
  EXPECT_EQ(p.examined, 0u);
  EXPECT_EQ(p.next_after, "");
  Result<std::optional<std::string>> broken =
      kv_->Get(kIdentityIndexFamily, "jti/did:key:zBroken/jti-unreadable-0001");
  ASSERT_TRUE(broken.ok());
  EXPECT_EQ(broken->value_or(""), "soon");
}

TEST_F(DirectoryTest, ExpiredNotYetValidAndOverlongAssertionsAreRefused) {
  struct Case {
    int64_t iat_offset;
    int64_t lifetime;
    const char* reason;
  };
  const Case cases[] = {
      {-400, 300, "assertion-expired"},       // exp 100 s ago, beyond the 60 s skew
      {600, 120, "assertion-not-yet-valid"},  // issued 10 minutes from now
      {0, 301, "assertion-lifetime"},         // longer than 300 s
      {0, 0, "assertion-lifetime"},           // exp == iat
  };
  int i = 0;
  for (const Case& c : cases) {
    const std::string jti = "jti-time-case-" + std::to_string(i++) + "xxxx";
    Result<WithToken<Session>> s = dir_store_->OpenSessionWithAssertion(
        Request(Assertion(agent_key_, agent_did_, jti, c.iat_offset, c.lifetime)));
    ASSERT_FALSE(s.ok()) << c.reason;
    EXPECT_EQ(s.error().code(), StatusCode::kUnauthenticated);
    EXPECT_EQ(Reason(s.error()), c.reason);
  }
}

// iat and exp far apart overflow exp - iat: refused before any arithmetic.
TEST_F(DirectoryTest, AssertionTimesOutsideTheirRangeAreRefused) {
  const signer::PublicKey pub = *signer::DerivePublicKey(agent_key_);
  int i = 0;
  for (const auto& [iat, exp] : std::vector<std::pair<int64_t, int64_t>>{
           {-200, std::numeric_limits<int64_t>::max() - 100},
           {clock_.NowUnixSeconds(), int64_t{1} << 62}}) {
    json::Value header = json::Value::Object();
    header.Set("kid", json::Value::String(signer::DidKeyVerificationMethodId(pub)));
    json::Value claims = json::Value::Object();
    claims.Set("iss", json::Value::String(agent_did_));
    claims.Set("sub", json::Value::String(agent_did_));
    claims.Set("aud", json::Value::String(kServiceDid));
    claims.Set("iat", json::Value::Int(iat));
    claims.Set("exp", json::Value::Int(exp));
    claims.Set("jti", json::Value::String("jti-range-case-" + std::to_string(i++) + "xxxx"));
    Result<WithToken<Session>> s = dir_store_->OpenSessionWithAssertion(
        Request(*signer::SignJws(agent_key_, header, json::Write(claims))));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), StatusCode::kUnauthenticated);
    EXPECT_EQ(Reason(s.error()), "bad-assertion");
  }
}

// An assertion without a string iss is malformed (bad-assertion, as specs/access.md §Sessions
// says), not a key of another issuer (kid-issuer-mismatch).
TEST_F(DirectoryTest, AnAssertionWithoutIssIsABadAssertion) {
  const signer::PublicKey pub = *signer::DerivePublicKey(agent_key_);
  int i = 0;
  for (const std::optional<json::Value>& iss :
       {std::optional<json::Value>(), std::optional<json::Value>(json::Value::Int(7))}) {
    json::Value header = json::Value::Object();
    header.Set("kid", json::Value::String(signer::DidKeyVerificationMethodId(pub)));
    json::Value claims = json::Value::Object();
    if (iss.has_value()) claims.Set("iss", *iss);
    claims.Set("sub", json::Value::String(agent_did_));
    claims.Set("aud", json::Value::String(kServiceDid));
    claims.Set("iat", json::Value::Int(clock_.NowUnixSeconds()));
    claims.Set("exp", json::Value::Int(clock_.NowUnixSeconds() + 60));
    claims.Set("jti", json::Value::String("jti-no-iss-case-" + std::to_string(i++) + "xxxx"));
    Result<WithToken<Session>> s = dir_store_->OpenSessionWithAssertion(
        Request(*signer::SignJws(agent_key_, header, json::Write(claims))));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), StatusCode::kUnauthenticated);
    EXPECT_EQ(Reason(s.error()), "bad-assertion") << s.error().ToString();
  }
}

// A custodial agent's key signs on the service's say-so (an AP2 closing, for one): nothing it
// signed opens a session, even a well-formed assertion.
TEST_F(DirectoryTest, CustodialAgentsDoNotOpenSessionsByAssertion) {
  CreateAgentRequest req;
  req.name = "custodial";
  req.custodial_key_type = "Ed25519";
  Result<Agent> a = dir_store_->CreateAgent(*tenant_, req);
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  Result<signer::KeyInfo> key = keys_->Get(a->key_id);
  ASSERT_TRUE(key.ok());
  json::Value header = json::Value::Object();
  header.Set("alg", json::Value::String("EdDSA"));
  header.Set("kid", json::Value::String(signer::DidKeyVerificationMethodId(key->public_key)));
  json::Value claims = json::Value::Object();
  claims.Set("iss", json::Value::String(a->did));
  claims.Set("sub", json::Value::String(a->did));
  claims.Set("aud", json::Value::String(kServiceDid));
  claims.Set("iat", json::Value::Int(clock_.NowUnixSeconds()));
  claims.Set("exp", json::Value::Int(clock_.NowUnixSeconds() + 120));
  claims.Set("jti", json::Value::String("jti-custodial-agent-1"));
  const std::string input = Base64UrlEncode(AsBytes(json::Write(header))) + "." +
                            Base64UrlEncode(AsBytes(json::Write(claims)));
  Result<Bytes> sig = keys_->Sign(a->key_id, AsBytes(input));
  ASSERT_TRUE(sig.ok()) << sig.error().ToString();
  Result<WithToken<Session>> s =
      dir_store_->OpenSessionWithAssertion(Request(input + "." + Base64UrlEncode(*sig)));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(Reason(s.error()), "custodial-agent");
}

TEST_F(DirectoryTest, AssertionSignedByAnotherKeyIsRefused) {
  signer::PrivateKey other = *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
  // Claims the agent's DID but the kid names the other key: the kid does not belong to iss.
  Result<WithToken<Session>> s = dir_store_->OpenSessionWithAssertion(
      Request(Assertion(other, agent_did_, "jti-other-key-0001")));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(Reason(s.error()), "kid-issuer-mismatch");
  // The agent's kid, signed with the other key: the signature does not verify.
  std::string forged = Assertion(agent_key_, agent_did_, "jti-other-key-0002");
  const std::string signing_input = forged.substr(0, forged.rfind('.'));
  forged = signing_input + "." +
           Base64UrlEncode(*signer::Sign(other, AsBytes(signing_input)));
  s = dir_store_->OpenSessionWithAssertion(Request(forged));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(Reason(s.error()), "bad-signature");
  // A key of no registered agent, signing for itself.
  const std::string other_did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(other));
  s = dir_store_->OpenSessionWithAssertion(Request(Assertion(other, other_did, "jti-other-key-0003")));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(Reason(s.error()), "unknown-agent");
}

TEST_F(DirectoryTest, WrongAudienceIsRefused) {
  Result<WithToken<Session>> s = dir_store_->OpenSessionWithAssertion(Request(
      Assertion(agent_key_, agent_did_, "jti-audience-0001", 0, 120, "did:web:elsewhere.test")));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(Reason(s.error()), "wrong-audience");
}

TEST_F(DirectoryTest, RefusedAssertionsStoreNothing) {
  auto count = [&] {
    size_t n = 0;
    EXPECT_TRUE(kv_->ScanPrefix(kIdentityIndexFamily, "", [&](std::string_view, std::string_view) {
                   ++n;
                   return true;
                 }).ok());
    EXPECT_TRUE(kv_->ScanPrefix(kTenantsFamily, "", [&](std::string_view, std::string_view) {
                   ++n;
                   return true;
                 }).ok());
    return n;
  };
  const size_t before = count();
  EXPECT_FALSE(dir_store_->OpenSessionWithAssertion(Request(Assertion(
      agent_key_, agent_did_, "jti-nothing-00001", 0, 120, "did:web:elsewhere.test"))).ok());
  EXPECT_FALSE(dir_store_->OpenSessionWithAssertion(
      Request(Assertion(agent_key_, agent_did_, "jti-nothing-00002", -400, 300))).ok());
  EXPECT_EQ(count(), before);
}

TEST_F(DirectoryTest, RevokedSessionIsRefusedOnItsNextRequest) {
  WithToken<Session> s = std::move(*dir_store_->OpenSessionWithAssertion(
      Request(Assertion(agent_key_, agent_did_, "jti-revoke-000001"))));
  ASSERT_TRUE(dir_store_->Authenticate(s.token.chars()).ok());
  ASSERT_TRUE(dir_store_->RevokeSession(*tenant_, s.record.id, "revoked").ok());
  Result<Caller> c = dir_store_->Authenticate(s.token.chars());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(Reason(c.error()), "session-revoked");
}

TEST_F(DirectoryTest, SuspendedAgentIsRefusedAtOnceAndResumeDoesNotReviveSessions) {
  WithToken<Session> s = std::move(*dir_store_->OpenSessionWithAssertion(
      Request(Assertion(agent_key_, agent_did_, "jti-suspend-00001"))));
  // Authenticated once first, so the decoded session and agent are cached when the agent changes.
  ASSERT_TRUE(dir_store_->Authenticate(s.token.chars()).ok());
  ASSERT_TRUE(dir_store_->ChangeAgentState(*tenant_, agent_.id, "suspend").ok());
  Result<Caller> c = dir_store_->Authenticate(s.token.chars());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(Reason(c.error()), "agent-suspended");
  Result<WithToken<Session>> fresh = dir_store_->OpenSessionWithAssertion(
      Request(Assertion(agent_key_, agent_did_, "jti-suspend-00002")));
  ASSERT_FALSE(fresh.ok());
  EXPECT_EQ(Reason(fresh.error()), "agent-suspended");
  EXPECT_EQ(Reason(dir_store_->ChangeAgentState(*tenant_, agent_.id, "suspend").error()),
            "agent-state");
  ASSERT_TRUE(dir_store_->ChangeAgentState(*tenant_, agent_.id, "resume").ok());
  EXPECT_FALSE(dir_store_->Authenticate(s.token.chars()).ok());
  EXPECT_TRUE(dir_store_->OpenSessionWithAssertion(
                  Request(Assertion(agent_key_, agent_did_, "jti-suspend-00003")))
                  .ok());
  ASSERT_TRUE(dir_store_->ChangeAgentState(*tenant_, agent_.id, "revoke").ok());
  EXPECT_EQ(Reason(dir_store_->ChangeAgentState(*tenant_, agent_.id, "resume").error()),
            "agent-state");
}

TEST_F(DirectoryTest, SessionsExpireAfterTheirTtl) {
  CreateCredentialRequest creq;
  creq.role = Role::kAdmin;
  const std::string opener = dir_store_->CreateCredential(*tenant_, creq)->record.id;
  OpenSessionRequest req = Request("");
  req.ttl_minutes = 5;
  WithToken<Session> s = std::move(*dir_store_->OpenSessionForAgent(*tenant_, agent_.id, req, opener));
  clock_.AdvanceSeconds(5 * 60 - 1);
  EXPECT_TRUE(dir_store_->Authenticate(s.token.chars()).ok());
  clock_.AdvanceSeconds(1);
  EXPECT_EQ(Reason(dir_store_->Authenticate(s.token.chars()).error()), "session-expired");
  req.ttl_minutes = 16;  // above the configured 15
  EXPECT_EQ(Reason(dir_store_->OpenSessionForAgent(*tenant_, agent_.id, req, opener).error()),
            "bad-ttl");
}

// A session lives no longer than the credential that opened it: it expires with it, ends when
// it is revoked, and a revoked credential opens none (specs/access.md §Credentials, §Sessions).
TEST_F(DirectoryTest, SessionsEndWithTheCredentialThatOpenedThem) {
  CreateCredentialRequest creq;
  creq.role = Role::kAdmin;
  creq.expires_at = clock_.NowUnixSeconds() + 120;
  const std::string opener = dir_store_->CreateCredential(*tenant_, creq)->record.id;
  WithToken<Session> capped =
      std::move(*dir_store_->OpenSessionForAgent(*tenant_, agent_.id, Request(""), opener));
  EXPECT_EQ(capped.record.expires_at, *creq.expires_at);  // not the 15 minutes asked
  clock_.AdvanceSeconds(119);
  EXPECT_TRUE(dir_store_->Authenticate(capped.token.chars()).ok());
  clock_.AdvanceSeconds(1);
  EXPECT_EQ(Reason(dir_store_->Authenticate(capped.token.chars()).error()), "session-expired");

  creq.expires_at.reset();
  const std::string second = dir_store_->CreateCredential(*tenant_, creq)->record.id;
  WithToken<Session> a =
      std::move(*dir_store_->OpenSessionForAgent(*tenant_, agent_.id, Request(""), second));
  WithToken<Session> b =
      std::move(*dir_store_->OpenSessionForAgent(*tenant_, agent_.id, Request(""), second));
  const std::string bystander = dir_store_->CreateCredential(*tenant_, creq)->record.id;
  WithToken<Session> other =
      std::move(*dir_store_->OpenSessionForAgent(*tenant_, agent_.id, Request(""), bystander));
  ASSERT_TRUE(dir_store_->RevokeCredential(*tenant_, second).ok());
  for (const WithToken<Session>* s : {&a, &b}) {
    EXPECT_EQ(Reason(dir_store_->Authenticate(s->token.chars()).error()), "session-revoked");
    EXPECT_EQ(dir_store_->GetSession(*tenant_, s->record.id)->revoked_reason, "credential-revoked");
  }
  EXPECT_TRUE(dir_store_->Authenticate(other.token.chars()).ok());  // another opener's
  EXPECT_EQ(Reason(dir_store_->OpenSessionForAgent(*tenant_, agent_.id, Request(""), second).error()),
            "credential-revoked");
}

TEST_F(DirectoryTest, CredentialsAuthenticateUntilRevokedOrExpired) {
  CreateUserRequest ureq{"alice", {Role::kAdmin, Role::kAuditor}, ""};
  User alice = *dir_store_->CreateUser(*tenant_, ureq);
  CreateCredentialRequest creq;
  creq.role = Role::kAuditor;
  creq.name = "alice's auditor key";
  creq.user_id = alice.id;
  creq.expires_at = clock_.NowUnixSeconds() + 3600;
  WithToken<Credential> c = std::move(*dir_store_->CreateCredential(*tenant_, creq));
  Result<Caller> caller = dir_store_->Authenticate(c.token.chars());
  ASSERT_TRUE(caller.ok()) << caller.error().ToString();
  EXPECT_EQ(caller->role, Role::kAuditor);
  EXPECT_EQ(caller->user_id, alice.id);
  // A wrong secret with the right id, and a token of the wrong shape.
  std::string wrong(c.token.chars());
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(Reason(dir_store_->Authenticate(wrong).error()), "bad-credential");
  EXPECT_EQ(Reason(dir_store_->Authenticate("crd_nope.secret").error()), "bad-credential");
  clock_.AdvanceSeconds(3600);
  EXPECT_EQ(Reason(dir_store_->Authenticate(c.token.chars()).error()), "credential-expired");

  creq.expires_at.reset();
  WithToken<Credential> c2 = std::move(*dir_store_->CreateCredential(*tenant_, creq));
  ASSERT_TRUE(dir_store_->Authenticate(c2.token.chars()).ok());  // decoded and cached
  ASSERT_TRUE(dir_store_->DisableUser(*tenant_, alice.id).ok());
  EXPECT_EQ(Reason(dir_store_->Authenticate(c2.token.chars()).error()), "credential-revoked");
  // A role the user does not hold cannot be granted.
  User bob = *dir_store_->CreateUser(*tenant_, CreateUserRequest{"bob", {Role::kApprover}, ""});
  creq.user_id = bob.id;
  creq.role = Role::kAdmin;
  EXPECT_EQ(Reason(dir_store_->CreateCredential(*tenant_, creq).error()), "role-not-held");
}

TEST_F(DirectoryTest, ATenantSeesNothingOfAnother) {
  Tenant other(*kv_, "prn_b");
  Result<Agent> a = dir_store_->GetAgent(other, agent_.id);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(Reason(a.error()), "agent-not-found");
  EXPECT_TRUE(dir_store_->ListAgents(other, "", 100)->empty());
  EXPECT_EQ(dir_store_->ListAgents(*tenant_, "", 100)->size(), 1u);
  // The same DID cannot be registered again, by this or another principal.
  CreateAgentRequest req;
  req.name = "copy";
  req.did = agent_did_;
  EXPECT_EQ(Reason(dir_store_->CreateAgent(other, req).error()), "did-taken");
}

TEST_F(DirectoryTest, CustodialSecp256k1AgentHasAddressAndDidPkh) {
  CreateAgentRequest req;
  req.name = "custodial";
  req.custodial_key_type = "secp256k1";
  req.chain_id = 84532;
  Result<Agent> a = dir_store_->CreateAgent(*tenant_, req);
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_EQ(a->custody, "custodial");
  ASSERT_EQ(a->address.size(), 42u);
  EXPECT_EQ(a->did_pkh, "did:pkh:eip155:84532:" + a->address);
  Result<signer::KeyInfo> key = keys_->Get(a->key_id);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->owner, "prn_a");
  EXPECT_EQ(key->purpose, "agent");
  EXPECT_EQ(a->did, signer::DidKeyFromPublicKey(key->public_key));
}

}  // namespace
// An empty "did" is a bad DID, not "no did": it was read as a custodial agent without a key type.
TEST(CreateAgentParseTest, AnEmptyDidIsABadDid) {
  Result<CreateAgentRequest> r = ParseCreateAgent(*json::Parse(R"({"name":"x","did":""})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason(), "bad-did");
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
}

}  // namespace mandated::identity
