// The audit events identity changes stage in their own write batch (specs/audit.md §1): one test
// per operation checks exactly which events are staged, with type, principal, subjects and data,
// that no token, secret hash or key material appears in them, and that refused operations stage
// nothing.
#include <gtest/gtest.h>

#include "audit/event.h"
#include "identity/directory.h"
#include "identity/key_events.h"
#include "identity/operator_auth.h"
#include "identity/principals.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/staged_events.h"
#include "tests/support/test_support.h"

namespace mandated::identity {
namespace {

using testing::StagedEvent;
using testing::TakeStaged;
using testing::Types;
using Strings = std::vector<std::string>;

constexpr char kServiceDid[] = "did:web:mandated.test";
constexpr char kPrincipal[] = "prn_a";

// The token's secret part ("<id>.<secret>") and the hex SHA-256 stored for it: neither may
// appear in any event.
void ExpectNoSecret(const std::vector<StagedEvent>& events, std::string_view token) {
  const size_t dot = token.find('.');
  ASSERT_NE(dot, std::string_view::npos);
  const std::string secret(token.substr(dot + 1));
  for (const StagedEvent& e : events) {
    EXPECT_EQ(e.raw.find(secret), std::string::npos) << e.raw;
    EXPECT_EQ(e.raw.find("secret"), std::string::npos) << e.raw;
  }
}

class IdentityAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {kPrincipalsFamily, kOperatorFamily, kTenantsFamily,
                         kIdentityIndexFamily, signer::kKeysFamily,
                         std::string(audit::kAuditFamily)};
    kv_ = std::move(*store::OpenRocksStore(o));
    keys_ = std::move(*signer::KeyStore::Open(*kv_, SecretBytes(ByteSpan(Bytes(32, 7))), clock_,
                                              SystemRandom::Get()));
    keys_->set_change_hook(KeyAuditHook(clock_));
    DirectoryOptions opts;
    opts.service_did = kServiceDid;
    dir_store_ = std::make_unique<Directory>(*kv_, *keys_, clock_, SystemRandom::Get(), opts);
    tenant_.emplace(*kv_, kPrincipal);
    // The admin credential that opens sessions (a session names the credential that opened
    // it, and a revoked or unknown one opens none); its own event is not under test.
    CreateCredentialRequest opener;
    opener.name = "opener";
    opener.role = Role::kAdmin;
    opener_id_ = dir_store_->CreateCredential(*tenant_, opener)->record.id;
    TakeStaged(*kv_);
  }

  Agent SelfCustodyAgent(signer::PrivateKey* key_out = nullptr) {
    signer::PrivateKey key =
        std::move(*signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get()));
    CreateAgentRequest req;
    req.name = "buyer";
    req.did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(key));
    Result<Agent> a = dir_store_->CreateAgent(*tenant_, req);
    EXPECT_TRUE(a.ok()) << a.error().ToString();
    if (key_out != nullptr) {
      *key_out = std::move(key);
    }
    return a.ok() ? *a : Agent();
  }

  User AdminUser() {
    CreateUserRequest req;
    req.name = "Ada";
    req.roles = {Role::kAdmin};
    Result<User> u = dir_store_->CreateUser(*tenant_, req);
    EXPECT_TRUE(u.ok()) << u.error().ToString();
    return u.ok() ? *u : User();
  }

  WithToken<Credential> UserCredential(const std::string& user_id) {
    CreateCredentialRequest req;
    req.name = "laptop";
    req.role = Role::kAdmin;
    req.user_id = user_id;
    Result<WithToken<Credential>> c = dir_store_->CreateCredential(*tenant_, req);
    EXPECT_TRUE(c.ok()) << c.error().ToString();
    return c.ok() ? std::move(*c) : WithToken<Credential>{};
  }

  WithToken<Session> AdminSession(const std::string& agent_id) {
    OpenSessionRequest req;
    req.task = "buy a dataset";
    Result<WithToken<Session>> s =
        dir_store_->OpenSessionForAgent(*tenant_, agent_id, req, opener_id_);
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    return s.ok() ? std::move(*s) : WithToken<Session>{};
  }

  // Expects common fields of an event of this test's principal.
  void ExpectEvent(const StagedEvent& e, const std::string& type) {
    EXPECT_EQ(e.type(), type);
    EXPECT_EQ(e.principal(), kPrincipal);
    EXPECT_EQ(testing::StringField(e.json, "at"), audit::FormatMicros(clock_.NowUnixMicros()));
    const json::Value* actor = e.json.Find("actor");
    ASSERT_NE(actor, nullptr);
    EXPECT_EQ(testing::StringField(*actor, "kind"), "service");
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<Directory> dir_store_;
  std::optional<Tenant> tenant_;
  std::string opener_id_;
};

// ---- Principals ---------------------------------------------------------------------------

TEST_F(IdentityAuditTest, PrincipalCreatedStagesOneEventAndADuplicateNameNone) {
  PrincipalStore principals(*kv_, clock_, SystemRandom::Get());
  Principal p;
  p.name = "Acme";
  p.ceilings = {Ceiling{"USD", "day", *Amount::Parse("5000")}};
  Result<Principal> created = principals.Create(p);
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  const StagedEvent& e = events[0];
  EXPECT_EQ(e.type(), "principal.created");
  EXPECT_EQ(e.principal(), created->id);
  EXPECT_EQ(e.subject("principal"), created->id);
  EXPECT_EQ(e.subject_count(), 1u);
  EXPECT_EQ(e.data_string("id"), created->id);
  EXPECT_EQ(e.data_string("name"), "Acme");
  ASSERT_NE(e.data("ceilings"), nullptr);
  EXPECT_EQ(json::Write(*e.data("ceilings")),
            R"([{"asset":"USD","window":"day","max":"5000"}])");
  EXPECT_EQ(testing::StringField(e.json, "at"), audit::FormatMicros(clock_.NowUnixMicros()));

  Principal again;
  again.name = "ACME";
  Result<Principal> refused = principals.Create(again);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(TakeStaged(*kv_).empty());
}

TEST_F(IdentityAuditTest, EventsCarryTheActorOfTheRequest) {
  PrincipalStore principals(*kv_, clock_, SystemRandom::Get());
  Principal p;
  p.name = "Acme";
  {
    audit::ScopedActor actor(audit::Actor::Operator());
    ASSERT_TRUE(principals.Create(p).ok());
  }
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  ASSERT_NE(events[0].json.Find("actor"), nullptr);
  EXPECT_EQ(json::Write(*events[0].json.Find("actor")), R"({"kind":"operator"})");
}

// ---- Operator token -----------------------------------------------------------------------

TEST_F(IdentityAuditTest, OperatorTokenSetNamesItsSourceAndNeverTheTokenOrItsHash) {
  OperatorAuth op(*kv_, clock_);
  Result<std::optional<SecretBytes>> generated = op.Initialize(std::nullopt, SystemRandom::Get());
  ASSERT_TRUE(generated.ok()) << generated.error().ToString();
  ASSERT_TRUE(generated->has_value());
  const std::string token((*generated)->chars());
  std::optional<std::string> hash = *kv_->Get(kOperatorFamily, "bootstrap_token_sha256");
  ASSERT_TRUE(hash.has_value());
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), "operator.token_set");
  EXPECT_EQ(events[0].principal(), "");
  EXPECT_EQ(events[0].subject_count(), 0u);
  EXPECT_EQ(json::Write(*events[0].json.Find("data")), R"({"source":"generated"})");
  EXPECT_EQ(events[0].raw.find(token.substr(7)), std::string::npos);
  EXPECT_EQ(events[0].raw.find(HexEncode(AsBytes(*hash))), std::string::npos);
  EXPECT_EQ(events[0].raw.find(Base64UrlEncode(AsBytes(*hash))), std::string::npos);

  // A later start without a configured token changes nothing.
  OperatorAuth restarted(*kv_, clock_);
  ASSERT_TRUE(restarted.Initialize(std::nullopt, SystemRandom::Get()).ok());
  EXPECT_TRUE(TakeStaged(*kv_).empty());

  // A configured token replaces the hash once; the same token again is no change.
  const std::string configured = "configured-operator-token-0123456789";
  OperatorAuth with_config(*kv_, clock_);
  ASSERT_TRUE(with_config.Initialize(SecretBytes(AsBytes(configured)), SystemRandom::Get()).ok());
  events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), "operator.token_set");
  EXPECT_EQ(json::Write(*events[0].json.Find("data")), R"({"source":"configured"})");
  EXPECT_EQ(events[0].raw.find(configured), std::string::npos);
  OperatorAuth same(*kv_, clock_);
  ASSERT_TRUE(same.Initialize(SecretBytes(AsBytes(configured)), SystemRandom::Get()).ok());
  EXPECT_TRUE(TakeStaged(*kv_).empty());
  EXPECT_TRUE(same.Check(configured).ok());

  // Refused: too short a configured token.
  OperatorAuth bad(*kv_, clock_);
  EXPECT_FALSE(bad.Initialize(SecretBytes(AsBytes("short")), SystemRandom::Get()).ok());
  EXPECT_TRUE(TakeStaged(*kv_).empty());
}

// ---- Users and credentials ----------------------------------------------------------------

TEST_F(IdentityAuditTest, UserCreated) {
  User u = AdminUser();
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  ExpectEvent(events[0], "user.created");
  EXPECT_EQ(events[0].subject("user"), u.id);
  EXPECT_EQ(events[0].subject_count(), 1u);
  EXPECT_EQ(events[0].data_string("id"), u.id);
  EXPECT_EQ(events[0].data_string("name"), "Ada");
  EXPECT_EQ(events[0].data_string("state"), "active");
  EXPECT_EQ(json::Write(*events[0].data("roles")), R"(["admin"])");
}

TEST_F(IdentityAuditTest, CredentialCreatedAndRevokedWithoutTokenOrHash) {
  User u = AdminUser();
  TakeStaged(*kv_);
  WithToken<Credential> c = UserCredential(u.id);
  const std::string token(c.token.chars());
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  ExpectEvent(events[0], "credential.created");
  EXPECT_EQ(events[0].subject("credential"), c.record.id);
  EXPECT_EQ(events[0].subject("user"), u.id);
  EXPECT_EQ(events[0].subject_count(), 2u);
  EXPECT_EQ(events[0].data_string("role"), "admin");
  EXPECT_EQ(events[0].data_string("state"), "active");
  EXPECT_EQ(events[0].raw.find(HexEncode(c.record.secret_sha256)), std::string::npos);
  ExpectNoSecret(events, token);

  clock_.AdvanceSeconds(5);
  ASSERT_TRUE(dir_store_->RevokeCredential(*tenant_, c.record.id).ok());
  events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  ExpectEvent(events[0], "credential.revoked");
  EXPECT_EQ(events[0].subject("credential"), c.record.id);
  EXPECT_EQ(events[0].data_string("state"), "revoked");
  ASSERT_NE(events[0].data("revoked_at"), nullptr);
  EXPECT_EQ(events[0].data("revoked_at")->as_int64(), clock_.NowUnixSeconds());
  ExpectNoSecret(events, token);

  // Revoking it again changes nothing.
  ASSERT_TRUE(dir_store_->RevokeCredential(*tenant_, c.record.id).ok());
  EXPECT_TRUE(TakeStaged(*kv_).empty());
}

TEST_F(IdentityAuditTest, RefusedCredentialStagesNothing) {
  CreateCredentialRequest req;
  req.name = "ghost";
  req.user_id = "usr_aaaaaaaaaaaaaaaaaaaaaaaaaa";
  Result<WithToken<Credential>> c = dir_store_->CreateCredential(*tenant_, req);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(TakeStaged(*kv_).empty());
}

TEST_F(IdentityAuditTest, DisablingAUserRevokesEachActiveCredentialWithItsOwnEvent) {
  User u = AdminUser();
  WithToken<Credential> a = UserCredential(u.id);
  WithToken<Credential> b = UserCredential(u.id);
  ASSERT_TRUE(dir_store_->RevokeCredential(*tenant_, b.record.id).ok());
  TakeStaged(*kv_);
  ASSERT_TRUE(dir_store_->DisableUser(*tenant_, u.id).ok());
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(Types(events), (Strings{"user.disabled", "credential.revoked"}));
  ExpectEvent(events[0], "user.disabled");
  EXPECT_EQ(events[0].subject("user"), u.id);
  EXPECT_EQ(events[0].data_string("state"), "disabled");
  EXPECT_EQ(events[1].subject("credential"), a.record.id);
  EXPECT_EQ(events[1].subject("user"), u.id);
  ExpectNoSecret(events, std::string(a.token.chars()));

  ASSERT_TRUE(dir_store_->DisableUser(*tenant_, u.id).ok());
  EXPECT_TRUE(TakeStaged(*kv_).empty());
}

// ---- Agents -------------------------------------------------------------------------------

TEST_F(IdentityAuditTest, SelfCustodyAgentCreated) {
  Agent a = SelfCustodyAgent();
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  ExpectEvent(events[0], "agent.created");
  EXPECT_EQ(events[0].subject("agent"), a.id);
  EXPECT_EQ(events[0].subject_count(), 1u);
  EXPECT_EQ(events[0].data_string("did"), a.did);
  EXPECT_EQ(events[0].data_string("custody"), "self");
  EXPECT_EQ(events[0].data_string("state"), "active");

  // The same DID again is refused and stages nothing.
  CreateAgentRequest req;
  req.name = "twin";
  req.did = a.did;
  Result<Agent> twin = dir_store_->CreateAgent(*tenant_, req);
  ASSERT_FALSE(twin.ok());
  EXPECT_EQ(twin.error().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(TakeStaged(*kv_).empty());
}

TEST_F(IdentityAuditTest, CustodialAgentStagesItsKeyAndItself) {
  CreateAgentRequest req;
  req.name = "custodian";
  req.custodial_key_type = "secp256k1";
  Result<Agent> a = dir_store_->CreateAgent(*tenant_, req);
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(Types(events), (Strings{"key.created", "agent.created"}));
  ExpectEvent(events[0], "key.created");
  EXPECT_EQ(events[0].subject("key"), a->key_id);
  EXPECT_EQ(events[0].data_string("purpose"), "agent");
  EXPECT_EQ(events[0].data_string("owner"), kPrincipal);
  EXPECT_EQ(events[0].data_string("did"), a->did);
  EXPECT_EQ(events[1].subject("agent"), a->id);
  EXPECT_EQ(events[1].subject("key"), a->key_id);
  EXPECT_EQ(events[1].data_string("custody"), "custodial");
  EXPECT_EQ(events[1].data_string("address"), a->address);
  for (const StagedEvent& e : events) {
    EXPECT_EQ(e.raw.find("sealed"), std::string::npos) << e.raw;
    EXPECT_EQ(e.raw.find("private"), std::string::npos) << e.raw;
  }
}

// A suspension ends the sessions that are still live, once each: one that expired already is
// not rewritten as revoked nor given a second session.ended, and one whose record no longer
// decodes (it authenticates nobody) does not hold the suspension back. An admin revoking an
// expired session writes nothing either.
TEST_F(IdentityAuditTest, ASuspensionEndsOnlyLiveSessionsAndSkipsUnreadableOnes) {
  Agent a = SelfCustodyAgent();
  OpenSessionRequest short_req;
  short_req.task = "a quick one";
  short_req.ttl_minutes = 1;
  Result<WithToken<Session>> brief =
      dir_store_->OpenSessionForAgent(*tenant_, a.id, short_req, opener_id_);
  ASSERT_TRUE(brief.ok()) << brief.error().ToString();
  WithToken<Session> live = AdminSession(a.id);
  WithToken<Session> broken = AdminSession(a.id);
  store::WriteBatch corrupt;
  corrupt.Put(kTenantsFamily, std::string(kPrincipal) + "/ses/" + broken.record.id, "{not json");
  ASSERT_TRUE(kv_->Write(corrupt).ok());
  clock_.AdvanceSeconds(61);  // the one-minute session has expired
  TakeStaged(*kv_);

  ASSERT_TRUE(dir_store_->RevokeSession(*tenant_, brief->record.id, "revoked").ok());
  EXPECT_TRUE(TakeStaged(*kv_).empty());
  Result<Agent> suspended = dir_store_->ChangeAgentState(*tenant_, a.id, "suspend");
  ASSERT_TRUE(suspended.ok()) << suspended.error().ToString();
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(Types(events), (Strings{"agent.suspended", "session.ended"}));
  EXPECT_EQ(events[1].subject("session"), live.record.id);
  Result<Session> expired = dir_store_->GetSession(*tenant_, brief->record.id);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(expired->state, "active");  // as stored: it ended by expiring, at expires_at
  EXPECT_FALSE(expired->revoked_at.has_value());
}

TEST_F(IdentityAuditTest, AgentStateChangesEndOpenSessionsEachWithItsEvent) {
  Agent a = SelfCustodyAgent();
  WithToken<Session> s1 = AdminSession(a.id);
  WithToken<Session> s2 = AdminSession(a.id);
  ASSERT_TRUE(dir_store_->RevokeSession(*tenant_, s2.record.id, "revoked").ok());
  TakeStaged(*kv_);

  ASSERT_TRUE(dir_store_->ChangeAgentState(*tenant_, a.id, "suspend").ok());
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(Types(events), (Strings{"agent.suspended", "session.ended"}));
  ExpectEvent(events[0], "agent.suspended");
  EXPECT_EQ(events[0].subject("agent"), a.id);
  EXPECT_EQ(events[0].data_string("state"), "suspended");
  EXPECT_EQ(events[1].subject("session"), s1.record.id);
  EXPECT_EQ(events[1].subject("agent"), a.id);
  EXPECT_EQ(events[1].data_string("state"), "revoked");
  EXPECT_EQ(events[1].data_string("revoked_reason"), "agent-suspended");
  ExpectNoSecret(events, std::string(s1.token.chars()));

  // Refused transition: suspending a suspended agent.
  Result<Agent> again = dir_store_->ChangeAgentState(*tenant_, a.id, "suspend");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(TakeStaged(*kv_).empty());

  ASSERT_TRUE(dir_store_->ChangeAgentState(*tenant_, a.id, "resume").ok());
  events = TakeStaged(*kv_);
  ASSERT_EQ(Types(events), (Strings{"agent.resumed"}));
  EXPECT_EQ(events[0].data_string("state"), "active");

  ASSERT_TRUE(dir_store_->ChangeAgentState(*tenant_, a.id, "revoke").ok());
  events = TakeStaged(*kv_);
  ASSERT_EQ(Types(events), (Strings{"agent.revoked"}));
  EXPECT_EQ(events[0].data_string("state"), "revoked");
}

// ---- Sessions -----------------------------------------------------------------------------

TEST_F(IdentityAuditTest, SessionOpenedByAnAdminAndEnded) {
  Agent a = SelfCustodyAgent();
  TakeStaged(*kv_);
  WithToken<Session> s = AdminSession(a.id);
  const std::string token(s.token.chars());
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  ExpectEvent(events[0], "session.opened");
  EXPECT_EQ(events[0].subject("session"), s.record.id);
  EXPECT_EQ(events[0].subject("agent"), a.id);
  EXPECT_EQ(events[0].subject_count(), 2u);
  EXPECT_EQ(events[0].data_string("task"), "buy a dataset");
  EXPECT_EQ(events[0].data_string("opened_by"), opener_id_);
  EXPECT_EQ(events[0].data_string("state"), "active");
  EXPECT_EQ(events[0].raw.find(HexEncode(s.record.secret_sha256)), std::string::npos);
  ExpectNoSecret(events, token);

  ASSERT_TRUE(dir_store_->RevokeSession(*tenant_, s.record.id, "ended").ok());
  events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  ExpectEvent(events[0], "session.ended");
  EXPECT_EQ(events[0].subject("session"), s.record.id);
  EXPECT_EQ(events[0].data_string("revoked_reason"), "ended");
  ExpectNoSecret(events, token);

  ASSERT_TRUE(dir_store_->RevokeSession(*tenant_, s.record.id, "ended").ok());
  EXPECT_TRUE(TakeStaged(*kv_).empty());
}

TEST_F(IdentityAuditTest, SessionOpenedWithAnAssertionAndAReplayStagesNothing) {
  signer::PrivateKey key;
  Agent a = SelfCustodyAgent(&key);
  TakeStaged(*kv_);
  const signer::PublicKey pub = *signer::DerivePublicKey(key);
  json::Value header = json::Value::Object();
  header.Set("typ", json::Value::String("JWT"));
  header.Set("kid", json::Value::String(signer::DidKeyVerificationMethodId(pub)));
  json::Value claims = json::Value::Object();
  claims.Set("iss", json::Value::String(a.did));
  claims.Set("sub", json::Value::String(a.did));
  claims.Set("aud", json::Value::String(kServiceDid));
  claims.Set("iat", json::Value::Int(clock_.NowUnixSeconds()));
  claims.Set("exp", json::Value::Int(clock_.NowUnixSeconds() + 120));
  claims.Set("jti", json::Value::String("jti-0123456789abcdef"));
  OpenSessionRequest req;
  req.assertion = *signer::SignJws(key, header, json::Write(claims));
  req.task = "buy";
  Result<WithToken<Session>> s = dir_store_->OpenSessionWithAssertion(req);
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  // The agent opened it by its own signature: the actor is the session, not the service.
  EXPECT_EQ(events[0].type(), "session.opened");
  ASSERT_NE(events[0].json.Find("actor"), nullptr);
  EXPECT_EQ(json::Write(*events[0].json.Find("actor")),
            R"({"kind":"session","id":")" + s->record.id + R"("})");
  EXPECT_EQ(events[0].subject("session"), s->record.id);
  EXPECT_EQ(events[0].subject("agent"), a.id);
  EXPECT_EQ(events[0].data_string("opened_by"), "assertion");
  ExpectNoSecret(events, std::string(s->token.chars()));

  Result<WithToken<Session>> replay = dir_store_->OpenSessionWithAssertion(req);
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.error().reason(), "assertion-replayed");
  EXPECT_TRUE(TakeStaged(*kv_).empty());
}

// ---- Keys (the hook the service installs on its KeyStore) ---------------------------------

TEST_F(IdentityAuditTest, KeyCreatedRotatedAndDisabledWithoutKeyMaterial) {
  const Bytes secret(32, 0x42);
  Result<signer::KeyInfo> imported =
      keys_->Import(signer::KeyType::kEd25519, secret, "issuer", kPrincipal);
  ASSERT_TRUE(imported.ok()) << imported.error().ToString();
  std::optional<std::string> record = *kv_->Get(signer::kKeysFamily, "k/" + imported->id);
  ASSERT_TRUE(record.has_value());
  const std::string sealed = testing::StringField(*json::Parse(*record), "sealed_private_key");
  ASSERT_FALSE(sealed.empty());
  auto expect_no_material = [&](const std::vector<StagedEvent>& events) {
    for (const StagedEvent& e : events) {
      EXPECT_EQ(e.raw.find(HexEncode(secret)), std::string::npos) << e.raw;
      EXPECT_EQ(e.raw.find(Base64UrlEncode(secret)), std::string::npos) << e.raw;
      EXPECT_EQ(e.raw.find(sealed), std::string::npos) << e.raw;
      EXPECT_EQ(e.raw.find("sealed"), std::string::npos) << e.raw;
    }
  };
  std::vector<StagedEvent> events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  ExpectEvent(events[0], "key.created");
  EXPECT_EQ(events[0].subject("key"), imported->id);
  EXPECT_EQ(events[0].subject_count(), 1u);
  EXPECT_EQ(events[0].data_string("type"), "Ed25519");
  EXPECT_EQ(events[0].data_string("purpose"), "issuer");
  EXPECT_EQ(events[0].data_string("state"), "active");
  EXPECT_EQ(events[0].data_string("did"), signer::DidKeyFromPublicKey(imported->public_key));
  expect_no_material(events);

  Result<signer::KeyInfo> next = keys_->Rotate(imported->id);
  ASSERT_TRUE(next.ok()) << next.error().ToString();
  events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  ExpectEvent(events[0], "key.rotated");
  EXPECT_EQ(events[0].subject("key"), imported->id);
  EXPECT_EQ(events[0].data_string("state"), "retired");
  EXPECT_EQ(events[0].data_string("replaced_by"), next->id);
  ASSERT_NE(events[0].data("successor"), nullptr);
  EXPECT_EQ(testing::StringField(*events[0].data("successor"), "id"), next->id);
  EXPECT_EQ(testing::StringField(*events[0].data("successor"), "state"), "active");
  expect_no_material(events);

  // Refused: rotating a retired key.
  EXPECT_FALSE(keys_->Rotate(imported->id).ok());
  EXPECT_TRUE(TakeStaged(*kv_).empty());

  ASSERT_TRUE(keys_->Disable(next->id).ok());
  events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  ExpectEvent(events[0], "key.disabled");
  EXPECT_EQ(events[0].subject("key"), next->id);
  EXPECT_EQ(events[0].data_string("state"), "disabled");
  ASSERT_TRUE(keys_->Disable(next->id).ok());
  EXPECT_TRUE(TakeStaged(*kv_).empty());

  // Service keys are service-wide events.
  ASSERT_TRUE(keys_->Generate(signer::KeyType::kP256, "service", "service").ok());
  events = TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), "key.created");
  EXPECT_EQ(events[0].principal(), "");
}

}  // namespace
}  // namespace mandated::identity
