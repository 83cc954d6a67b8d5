// Users, credentials, agents and sessions; token authentication; session assertions
// (specs/access.md).
#include "identity/directory.h"

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "audit/event.h"
#include "base/log.h"
#include "signer/bounded_cache.h"
#include "signer/did.h"
#include "signer/ethereum.h"
#include "signer/hash.h"
#include "signer/jws.h"
#include "signer/keys.h"

namespace mandated::identity {
namespace {

// Record kinds inside a tenant (specs/storage.md).
constexpr char kUserKind[] = "usr";
constexpr char kCredentialKind[] = "crd";
constexpr char kAgentKind[] = "agt";
constexpr char kSessionKind[] = "ses";
constexpr char kAgentSessionKind[] = "agt-ses";  // id "<agent id>/<session id>"
// Sessions an admin's credential opened: id "<credential id>/<session id>". Revoking the
// credential revokes them (sessions opened before this index existed are not listed).
constexpr char kCredentialSessionKind[] = "crd-ses";

constexpr size_t kSecretBytes = 32;

std::string IndexKey(std::string_view kind, std::string_view id) {
  std::string k(kind);
  k.push_back('/');
  k.append(id);
  return k;
}

template <typename T>
Result<T> Decode(std::string_view raw, Result<T> (*from_json)(const json::Value&),
                 std::string_view what) {
  Result<json::Value> v = json::Parse(raw);
  Result<T> out = v.ok() ? from_json(*v) : Result<T>(v.error());
  if (!out.ok()) {
    return DataLossError("stored " + std::string(what) + " does not decode: " +
                             out.error().message(),
                         "storage-corruption");
  }
  return out;
}

// The stored bytes of record `id` of `kind`, or kNotFound "<what>-not-found".
Result<std::string> ReadStored(const Tenant& t, std::string_view kind, const std::string& id,
                               std::string_view what) {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> raw, t.Get(kind, id));
  if (!raw.has_value()) {
    return NotFoundError("no " + std::string(what) + " " + id + " in principal " +
                             t.principal_id(),
                         std::string(what) + "-not-found");
  }
  return std::move(*raw);
}

// Records decoded for authentication, by their stored bytes: a token presented again costs the
// reads (which see every revocation and expiry as it is written) but not the JSON decode of bytes
// already decoded. Keyed by content, the cache never serves a stale record: changed bytes miss.
// One cache per record type, at most kDecodedRecordCapacity entries, least recently used dropped
// first. Thread safety: BoundedCache is synchronized.
constexpr size_t kDecodedRecordCapacity = 4096;

template <typename T>
Result<std::shared_ptr<const T>> LoadShared(const Tenant& t, std::string_view kind,
                                            const std::string& id,
                                            Result<T> (*from_json)(const json::Value&),
                                            std::string_view what) {
  // Never destroyed: a request may still authenticate while static destructors run.
  static signer::BoundedCache<T>* const kDecoded =
      new signer::BoundedCache<T>(kDecodedRecordCapacity);
  MD_ASSIGN_OR_RETURN(std::string raw, ReadStored(t, kind, id, what));
  if (std::shared_ptr<const T> hit = kDecoded->Find(raw); hit != nullptr) {
    return hit;
  }
  MD_ASSIGN_OR_RETURN(T decoded, Decode<T>(raw, from_json, what));
  return kDecoded->Insert(raw, std::make_shared<const T>(std::move(decoded)));
}

template <typename T>
Result<T> Load(const Tenant& t, std::string_view kind, const std::string& id,
               Result<T> (*from_json)(const json::Value&), std::string_view what) {
  MD_ASSIGN_OR_RETURN(std::string raw, ReadStored(t, kind, id, what));
  return Decode<T>(raw, from_json, what);
}

template <typename T>
Result<std::vector<T>> List(const Tenant& t, std::string_view kind, const std::string& after,
                            size_t limit, Result<T> (*from_json)(const json::Value&),
                            std::string_view what,
                            const std::function<bool(const T&)>& keep = nullptr) {
  std::vector<T> out;
  Status error;
  MD_RETURN_IF_ERROR(t.Scan(kind, after, [&](std::string_view, std::string_view value) {
    Result<T> rec = Decode<T>(value, from_json, what);
    if (!rec.ok()) {
      error = rec.error();
      return false;
    }
    if (!keep || keep(*rec)) {
      out.push_back(std::move(*rec));
    }
    return out.size() < limit;
  }));
  MD_RETURN_IF_ERROR(error);
  return out;
}

bool IsDirectoryId(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + 26 || id.substr(0, prefix.size()) != prefix) {
    return false;
  }
  for (char c : id.substr(prefix.size())) {
    if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) {
      return false;
    }
  }
  return true;
}

// Splits "<id>.<secret>"; false if the shape is wrong.
bool SplitToken(std::string_view token, std::string_view prefix, std::string_view* id,
                std::string_view* secret) {
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos) {
    return false;
  }
  *id = token.substr(0, dot);
  *secret = token.substr(dot + 1);
  return IsDirectoryId(*id, prefix) && !secret->empty() && secret->size() <= 128;
}

bool SecretMatches(std::string_view secret, const Bytes& stored_sha256) {
  const Bytes h = signer::Sha256(AsBytes(secret));
  return ConstantTimeEquals(h, stored_sha256);
}

// Stages the audit event of a change to a principal's directory (specs/audit.md §1.3) in the
// batch of that change. `data` is the record's public form: never a token or a secret's hash.
void StageEvent(store::WriteBatch& batch, const Tenant& t, std::string type, int64_t at_micros,
                std::initializer_list<std::pair<const char*, std::string>> subjects,
                json::Value data) {
  audit::Event e;
  e.type = std::move(type);
  e.principal = t.principal_id();
  e.at_micros = at_micros;
  for (const auto& [kind, id] : subjects) {
    e.Subject(kind, id);
  }
  e.data = std::move(data);
  audit::Stage(batch, e);
}

Status BadCredential() {
  return UnauthenticatedError("the bearer token is not a valid credential", "bad-credential");
}

bool AudienceNames(const json::Value* aud, const std::string& service_did) {
  if (aud == nullptr) {
    return false;
  }
  if (aud->is_string()) {
    return aud->as_string() == service_did;
  }
  if (aud->is_array()) {
    for (const json::Value& a : aud->items()) {
      if (a.is_string() && a.as_string() == service_did) {
        return true;
      }
    }
  }
  return false;
}

struct AssertionClaims {
  std::string did;
  std::string jti;
  int64_t exp = 0;
};

// Verifies the session assertion of specs/access.md §Sessions: a did:key-signed JWT with
// iss = sub = the agent DID, aud = the service, iat/exp within bounds and a jti.
Result<AssertionClaims> VerifyAssertion(std::string_view compact, const DirectoryOptions& o,
                                        int64_t now) {
  // A payload without a string iss is a malformed assertion (bad-assertion), not one whose key
  // belongs to another issuer, which is what the DID-bound JWT check would call it.
  if (Result<signer::Jws> jws = signer::ParseJws(compact); jws.ok()) {
    Result<json::Value> payload = json::Parse(jws->payload);
    const json::Value* iss = payload.ok() && payload->is_object() ? payload->Find("iss") : nullptr;
    if (payload.ok() && payload->is_object() && (iss == nullptr || !iss->is_string())) {
      return UnauthenticatedError("session assertion: iss and sub must both be the agent DID",
                                  "bad-assertion");
    }
  }
  signer::DidKeyResolver resolver;
  Result<json::Value> claims = signer::VerifyDidJwt(compact, resolver);
  if (!claims.ok()) {
    return claims.error().Annotate("session assertion");
  }
  auto refuse = [](std::string msg, std::string reason) {
    return UnauthenticatedError("session assertion: " + std::move(msg), std::move(reason));
  };
  const json::Value* iss = claims->Find("iss");
  const json::Value* sub = claims->Find("sub");
  const json::Value* iat = claims->Find("iat");
  const json::Value* exp = claims->Find("exp");
  const json::Value* jti = claims->Find("jti");
  if (iss == nullptr || !iss->is_string() || sub == nullptr || !sub->is_string() ||
      sub->as_string() != iss->as_string()) {
    return refuse("iss and sub must both be the agent DID", "bad-assertion");
  }
  if (!AudienceNames(claims->Find("aud"), o.service_did)) {
    return refuse("aud must name this service (" + o.service_did + ")", "wrong-audience");
  }
  std::optional<int64_t> iat_v = iat != nullptr && iat->is_number() ? iat->as_int64() : std::nullopt;
  std::optional<int64_t> exp_v = exp != nullptr && exp->is_number() ? exp->as_int64() : std::nullopt;
  if (!iat_v.has_value() || !exp_v.has_value()) {
    return refuse("iat and exp must be integer seconds", "bad-assertion");
  }
  // Bounded before any arithmetic on them: a signed overflow would let a far-apart pair pass
  // the lifetime check (and is undefined behaviour).
  if (*iat_v < 0 || *exp_v < 0 || *iat_v > kMaxNumericDate || *exp_v > kMaxNumericDate) {
    return refuse("iat and exp must be times from 1970 to 9999", "bad-assertion");
  }
  if (*exp_v <= *iat_v || *exp_v - *iat_v > o.assertion_max_lifetime_s) {
    return refuse("exp must follow iat by at most " + std::to_string(o.assertion_max_lifetime_s) +
                      " seconds",
                  "assertion-lifetime");
  }
  if (*iat_v > now + o.clock_skew_s) {
    return refuse("issued in the future (iat)", "assertion-not-yet-valid");
  }
  if (now >= *exp_v + o.clock_skew_s) {
    return refuse("expired (exp)", "assertion-expired");
  }
  if (jti == nullptr || !jti->is_string() || jti->as_string().size() < 16 ||
      jti->as_string().size() > 128) {
    return refuse("jti must be a unique string of 16 to 128 characters", "bad-assertion");
  }
  for (unsigned char c : jti->as_string()) {
    if (c <= 0x20 || c >= 0x7f) {
      return refuse("jti must be printable ASCII", "bad-assertion");
    }
  }
  return AssertionClaims{iss->as_string(), jti->as_string(), *exp_v};
}

}  // namespace

bool Directory::LooksLikeDirectoryToken(std::string_view token) {
  return token.substr(0, 4) == "crd_" || token.substr(0, 4) == "ses_";
}

Result<SecretBytes> Directory::NewSecret(const std::string& id, Bytes* secret_sha256) {
  SecretBytes secret(kSecretBytes);
  MD_RETURN_IF_ERROR(random_.Fill(std::span<uint8_t>(secret.data(), secret.size())));
  std::string encoded = Base64UrlEncode(secret.span());
  *secret_sha256 = signer::Sha256(AsBytes(encoded));
  std::string token = id + "." + encoded;
  SecretBytes out(AsBytes(token));
  SecureWipe(encoded.data(), encoded.size());
  SecureWipe(token.data(), token.size());
  return out;
}

Result<std::string> Directory::PrincipalOf(std::string_view index_kind, std::string_view id) {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> pid,
                      kv_.Get(kIdentityIndexFamily, IndexKey(index_kind, id)));
  if (!pid.has_value()) {
    return BadCredential();
  }
  return *pid;
}

Result<Caller> Directory::Authenticate(std::string_view token) {
  std::string_view id, secret;
  if (SplitToken(token, "crd_", &id, &secret)) {
    return AuthenticateCredential(id, secret);
  }
  if (SplitToken(token, "ses_", &id, &secret)) {
    return AuthenticateSession(id, secret);
  }
  return BadCredential();
}

Result<Caller> Directory::AuthenticateCredential(std::string_view id, std::string_view secret) {
  MD_ASSIGN_OR_RETURN(std::string pid, PrincipalOf(kCredentialKind, id));
  Tenant t(kv_, pid);
  Result<std::shared_ptr<const Credential>> loaded = LoadShared<Credential>(
      t, kCredentialKind, std::string(id), &CredentialFromJson, "credential");
  if (!loaded.ok()) {
    return loaded.error().code() == StatusCode::kNotFound ? BadCredential() : loaded.error();
  }
  const Credential* c = loaded->get();
  if (!SecretMatches(secret, c->secret_sha256)) {
    return BadCredential();
  }
  if (c->state != "active") {
    return UnauthenticatedError("credential " + c->id + " is revoked", "credential-revoked");
  }
  if (c->expires_at.has_value() && clock_.NowUnixSeconds() >= *c->expires_at) {
    return UnauthenticatedError("credential " + c->id + " has expired", "credential-expired");
  }
  Caller caller;
  caller.role = c->role;
  caller.principal_id = pid;
  caller.credential_id = c->id;
  caller.user_id = c->user_id;
  caller.credential_expires_at = c->expires_at;
  caller.agent_scope = c->agents;
  caller.mandate_scope = c->mandates;
  return caller;
}

Result<Caller> Directory::AuthenticateSession(std::string_view id, std::string_view secret) {
  MD_ASSIGN_OR_RETURN(std::string pid, PrincipalOf(kSessionKind, id));
  Tenant t(kv_, pid);
  Result<std::shared_ptr<const Session>> loaded =
      LoadShared<Session>(t, kSessionKind, std::string(id), &SessionFromJson, "session");
  if (!loaded.ok()) {
    return loaded.error().code() == StatusCode::kNotFound ? BadCredential() : loaded.error();
  }
  const Session* s = loaded->get();
  if (!SecretMatches(secret, s->secret_sha256)) {
    return BadCredential();
  }
  if (s->state != "active") {
    // A session ended because its agent was suspended or revoked says what the agent is now:
    // still suspended, revoked since, or resumed (then the session stays ended: a new one is
    // needed, which "session-revoked" tells the client, not to wait for a resume).
    const bool by_agent = s->revoked_reason == "agent-suspended" ||
                          s->revoked_reason == "agent-revoked";
    if (by_agent) {
      Result<std::shared_ptr<const Agent>> agent =
          LoadShared<Agent>(t, kAgentKind, s->agent_id, &AgentFromJson, "agent");
      if (agent.ok() && (*agent)->state != "active") {
        return UnauthenticatedError("session " + s->id + " ended: agent " + (*agent)->id +
                                        " is " + (*agent)->state,
                                    "agent-" + (*agent)->state);
      }
    }
    return UnauthenticatedError("session " + s->id + " is revoked (" + s->revoked_reason + ")",
                                "session-revoked");
  }
  if (clock_.NowUnixSeconds() >= s->expires_at) {
    return UnauthenticatedError("session " + s->id + " has expired", "session-expired");
  }
  MD_ASSIGN_OR_RETURN(std::shared_ptr<const Agent> agent,
                      LoadShared<Agent>(t, kAgentKind, s->agent_id, &AgentFromJson, "agent"));
  const Agent& a = *agent;
  if (a.state != "active") {
    return UnauthenticatedError("agent " + a.id + " is " + a.state, "agent-" + a.state);
  }
  Caller caller;
  caller.role = Role::kAgent;
  caller.principal_id = pid;
  caller.credential_id = s->id;
  caller.session_id = s->id;
  caller.agent_id = a.id;
  caller.agent_scope = {a.id};
  caller.mandate_scope = s->mandates;
  caller.agent_rate_limit = a.rate_limit;
  return caller;
}

// ---- Users -------------------------------------------------------------------------------

Result<User> Directory::CreateUser(const Tenant& t, const CreateUserRequest& req) {
  User u;
  MD_ASSIGN_OR_RETURN(u.id, random_.NewId("usr_"));
  u.principal_id = t.principal_id();
  u.name = req.name;
  u.roles = req.roles;
  u.did = req.did;
  u.created_at = clock_.NowUnixSeconds();
  store::WriteBatch batch;
  t.Put(batch, kUserKind, u.id, json::Write(UserToJson(u)));
  StageEvent(batch, t, "user.created", clock_.NowUnixMicros(), {{"user", u.id}}, UserToJson(u));
  MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kSync));
  return u;
}

Result<User> Directory::GetUser(const Tenant& t, const std::string& id) {
  return Load<User>(t, kUserKind, id, &UserFromJson, "user");
}

Result<std::vector<User>> Directory::ListUsers(const Tenant& t, const std::string& after,
                                               size_t limit) {
  return List<User>(t, kUserKind, after, limit, &UserFromJson, "user");
}

Result<User> Directory::DisableUser(const Tenant& t, const std::string& id) {
  std::lock_guard<std::mutex> lock(write_mu_.For(t.principal_id()));
  MD_ASSIGN_OR_RETURN(User u, GetUser(t, id));
  if (u.state == "disabled") {
    return u;
  }
  u.state = "disabled";
  const int64_t now_micros = clock_.NowUnixMicros();
  const int64_t now = now_micros / 1000000;
  store::WriteBatch batch;
  t.Put(batch, kUserKind, u.id, json::Write(UserToJson(u)));
  StageEvent(batch, t, "user.disabled", now_micros, {{"user", u.id}}, UserToJson(u));
  MD_ASSIGN_OR_RETURN(std::vector<Credential> creds,
                      List<Credential>(t, kCredentialKind, "", SIZE_MAX, &CredentialFromJson,
                                       "credential", [&](const Credential& c) {
                                         return c.user_id == u.id && c.state == "active";
                                       }));
  for (Credential& c : creds) {
    c.state = "revoked";
    c.revoked_at = now;
    t.Put(batch, kCredentialKind, c.id, json::Write(CredentialToJson(c, true)));
    StageEvent(batch, t, "credential.revoked", now_micros,
               {{"credential", c.id}, {"user", c.user_id}}, CredentialToJson(c, false));
    MD_RETURN_IF_ERROR(
        RevokeIndexedSessionsLocked(t, kCredentialSessionKind, c.id, "credential-revoked", batch));
  }
  MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kSync));
  return u;
}

// ---- Credentials -------------------------------------------------------------------------

Result<WithToken<Credential>> Directory::CreateCredential(const Tenant& t,
                                                          const CreateCredentialRequest& req) {
  const int64_t now = clock_.NowUnixSeconds();
  if (req.expires_at.has_value() && *req.expires_at <= now) {
    return InvalidArgumentError("/expires_at: must be in the future", "bad-expiry");
  }
  std::lock_guard<std::mutex> lock(write_mu_.For(t.principal_id()));
  if (!req.user_id.empty()) {
    Result<User> u = GetUser(t, req.user_id);
    if (!u.ok()) {
      if (u.error().code() == StatusCode::kNotFound) {
        return InvalidArgumentError("/user: no such user in this principal", "unknown-user");
      }
      return u.error();
    }
    if (u->state != "active") {
      return FailedPreconditionError("/user: user " + u->id + " is disabled", "user-disabled");
    }
    if (std::find(u->roles.begin(), u->roles.end(), req.role) == u->roles.end()) {
      return InvalidArgumentError("/role: user " + u->id + " does not hold the role " +
                                      std::string(RoleName(req.role)),
                                  "role-not-held");
    }
  }
  for (size_t i = 0; i < req.agents.size(); ++i) {
    MD_ASSIGN_OR_RETURN(std::optional<std::string> a, t.Get(kAgentKind, req.agents[i]));
    if (!a.has_value()) {
      return InvalidArgumentError("/agents/" + std::to_string(i) + ": no such agent",
                                  "unknown-agent");
    }
  }
  Credential c;
  MD_ASSIGN_OR_RETURN(c.id, random_.NewId("crd_"));
  c.principal_id = t.principal_id();
  c.name = req.name;
  c.role = req.role;
  c.user_id = req.user_id;
  c.agents = req.agents;
  c.mandates = req.mandates;
  c.expires_at = req.expires_at;
  c.created_at = now;
  MD_ASSIGN_OR_RETURN(SecretBytes token, NewSecret(c.id, &c.secret_sha256));
  store::WriteBatch batch;
  t.Put(batch, kCredentialKind, c.id, json::Write(CredentialToJson(c, true)));
  batch.Put(kIdentityIndexFamily, IndexKey(kCredentialKind, c.id), t.principal_id());
  StageEvent(batch, t, "credential.created", clock_.NowUnixMicros(),
             {{"credential", c.id}, {"user", c.user_id}}, CredentialToJson(c, false));
  MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kSync));
  return WithToken<Credential>{std::move(c), std::move(token)};
}

Result<Credential> Directory::GetCredential(const Tenant& t, const std::string& id) {
  return Load<Credential>(t, kCredentialKind, id, &CredentialFromJson, "credential");
}

Result<std::vector<Credential>> Directory::ListCredentials(const Tenant& t,
                                                           const std::string& after,
                                                           size_t limit) {
  return List<Credential>(t, kCredentialKind, after, limit, &CredentialFromJson, "credential");
}

Result<Credential> Directory::RevokeCredential(const Tenant& t, const std::string& id) {
  std::lock_guard<std::mutex> lock(write_mu_.For(t.principal_id()));
  MD_ASSIGN_OR_RETURN(Credential c, GetCredential(t, id));
  if (c.state == "revoked") {
    return c;
  }
  c.state = "revoked";
  const int64_t now_micros = clock_.NowUnixMicros();
  c.revoked_at = now_micros / 1000000;
  store::WriteBatch batch;
  t.Put(batch, kCredentialKind, c.id, json::Write(CredentialToJson(c, true)));
  StageEvent(batch, t, "credential.revoked", now_micros,
             {{"credential", c.id}, {"user", c.user_id}}, CredentialToJson(c, false));
  MD_RETURN_IF_ERROR(
      RevokeIndexedSessionsLocked(t, kCredentialSessionKind, c.id, "credential-revoked", batch));
  MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kSync));
  return c;
}

// ---- Agents ------------------------------------------------------------------------------

Result<Agent> Directory::CreateAgent(const Tenant& t, const CreateAgentRequest& req) {
  Agent a;
  MD_ASSIGN_OR_RETURN(a.id, random_.NewId("agt_"));
  a.principal_id = t.principal_id();
  a.name = req.name;
  a.rate_limit = req.rate_limit;
  a.ceilings = req.ceilings;
  a.created_at = a.updated_at = clock_.NowUnixSeconds();
  if (!req.did.empty()) {
    Result<signer::PublicKey> pub = signer::PublicKeyFromDidKey(req.did);
    if (!pub.ok()) {
      return pub.error().Annotate("/did");
    }
    a.did = signer::DidKeyFromPublicKey(*pub);
    a.key_type = std::string(signer::KeyTypeName(pub->type));
    a.custody = "self";
  } else {
    Result<signer::KeyType> type = signer::KeyTypeFromName(req.custodial_key_type);
    if (!type.ok()) {
      return type.error().Annotate("/custodial/key_type");
    }
    // The key is stored first; if the agent record then fails to store, the key stays behind
    // unused (owned by the principal, purpose "agent") and is listed by GET .../keys.
    MD_ASSIGN_OR_RETURN(signer::KeyInfo key, keys_.Generate(*type, "agent", t.principal_id()));
    a.key_id = key.id;
    a.did = signer::DidKeyFromPublicKey(key.public_key);
    a.key_type = std::string(signer::KeyTypeName(key.type));
    a.custody = "custodial";
    if (key.type == signer::KeyType::kSecp256k1) {
      MD_ASSIGN_OR_RETURN(a.address, signer::EthereumAddress(key.public_key));
      MD_ASSIGN_OR_RETURN(a.did_pkh, signer::DidPkhFromPublicKey(key.public_key, req.chain_id));
    }
  }
  std::lock_guard<std::mutex> lock(write_mu_.For(t.principal_id()));
  // A DID names one agent of one principal: checked and registered under a mutex of its own,
  // since another principal may register the same DID meanwhile.
  std::lock_guard<std::mutex> did_lock(did_mu_);
  MD_ASSIGN_OR_RETURN(std::optional<std::string> taken,
                      kv_.Get(kIdentityIndexFamily, IndexKey("did", a.did)));
  if (taken.has_value()) {
    return AlreadyExistsError("/did: an agent with this DID is already registered",
                              "did-taken");
  }
  store::WriteBatch batch;
  t.Put(batch, kAgentKind, a.id, json::Write(AgentToJson(a)));
  batch.Put(kIdentityIndexFamily, IndexKey("did", a.did), t.principal_id() + "/" + a.id);
  StageEvent(batch, t, "agent.created", clock_.NowUnixMicros(),
             {{"agent", a.id}, {"key", a.key_id}}, AgentToJson(a));
  MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kSync));
  return a;
}

Result<Agent> Directory::GetAgent(const Tenant& t, const std::string& id) {
  return Load<Agent>(t, kAgentKind, id, &AgentFromJson, "agent");
}

Result<std::vector<Agent>> Directory::ListAgents(const Tenant& t, const std::string& after,
                                                 size_t limit) {
  return List<Agent>(t, kAgentKind, after, limit, &AgentFromJson, "agent");
}

Status Directory::RevokeIndexedSessionsLocked(const Tenant& t, std::string_view index_kind,
                                              const std::string& owner_id,
                                              const std::string& reason,
                                              store::WriteBatch& batch) {
  std::vector<std::string> ids;
  const std::string prefix = owner_id + "/";
  MD_RETURN_IF_ERROR(
      t.ScanIds(index_kind, prefix, [&](std::string_view key, std::string_view) {
        ids.emplace_back(key.substr(prefix.size()));
        return true;
      }));
  const int64_t now_micros = clock_.NowUnixMicros();
  const int64_t now = now_micros / 1000000;
  for (const std::string& sid : ids) {
    Result<Session> loaded = GetSession(t, sid);
    if (!loaded.ok() && loaded.error().code() == StatusCode::kNotFound) {
      continue;  // an index entry without its session: nothing left to revoke
    }
    if (!loaded.ok() && loaded.error().code() == StatusCode::kDataLoss) {
      // A record that does not decode authenticates nobody either (its token's lookup decodes
      // it): left in place and logged, so it cannot hold back the suspension, revocation or
      // disabling that must reach every live session.
      log::Warn("session record does not decode; left in place",
                {{"principal", t.principal_id()}, {"session", sid},
                 {"error", loaded.error().ToString()}});
      continue;
    }
    MD_RETURN_IF_ERROR(loaded.status());
    Session& s = *loaded;
    if (s.state != "active" || s.expires_at <= now) {
      continue;  // ended already (revoked, or expired): it ends once, with one session.ended
    }
    s.state = "revoked";
    s.revoked_at = now;
    s.revoked_reason = reason;
    t.Put(batch, kSessionKind, s.id, json::Write(SessionToJson(s, true, now)));
    StageEvent(batch, t, "session.ended", now_micros, {{"session", s.id}, {"agent", s.agent_id}},
               SessionToJson(s, false, now));
  }
  return OkStatus();
}

Result<Agent> Directory::ChangeAgentState(const Tenant& t, const std::string& id,
                                          std::string_view action) {
  std::lock_guard<std::mutex> lock(write_mu_.For(t.principal_id()));
  MD_ASSIGN_OR_RETURN(Agent a, GetAgent(t, id));
  std::string target;
  if (action == "suspend" && a.state == "active") {
    target = "suspended";
  } else if (action == "resume" && a.state == "suspended") {
    target = "active";
  } else if (action == "revoke" && a.state != "revoked") {
    target = "revoked";
  } else {
    return FailedPreconditionError("cannot " + std::string(action) + " agent " + a.id +
                                       " while it is " + a.state,
                                   "agent-state");
  }
  a.state = target;
  const int64_t now_micros = clock_.NowUnixMicros();
  a.updated_at = now_micros / 1000000;
  store::WriteBatch batch;
  t.Put(batch, kAgentKind, a.id, json::Write(AgentToJson(a)));
  const std::string type = target == "suspended" ? "agent.suspended"
                           : target == "active"  ? "agent.resumed"
                                                 : "agent.revoked";
  StageEvent(batch, t, type, now_micros, {{"agent", a.id}}, AgentToJson(a));
  if (target != "active") {
    MD_RETURN_IF_ERROR(
        RevokeIndexedSessionsLocked(t, kAgentSessionKind, a.id, "agent-" + target, batch));
  }
  MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kSync));
  return a;
}

// ---- Sessions ----------------------------------------------------------------------------

Result<WithToken<Session>> Directory::OpenSessionLocked(const Tenant& t, const Agent& agent,
                                                        const OpenSessionRequest& req,
                                                        const std::string& opened_by,
                                                        const std::string& jti,
                                                        int64_t jti_expires_at,
                                                        std::optional<int64_t> not_after) {
  if (agent.state != "active") {
    return FailedPreconditionError("agent " + agent.id + " is " + agent.state,
                                   "agent-" + agent.state);
  }
  const int64_t ttl = req.ttl_minutes.value_or(options_.session_ttl_minutes);
  if (ttl < 1 || ttl > options_.session_ttl_minutes) {
    return InvalidArgumentError("/ttl_minutes: must be 1 to " +
                                    std::to_string(options_.session_ttl_minutes),
                                "bad-ttl");
  }
  const int64_t now_micros = clock_.NowUnixMicros();
  const int64_t now = now_micros / 1000000;
  Session s;
  MD_ASSIGN_OR_RETURN(s.id, random_.NewId("ses_"));
  s.principal_id = t.principal_id();
  s.agent_id = agent.id;
  s.task = req.task;
  s.mandates = req.mandates;
  s.spend_cap = req.spend_cap;
  s.created_at = now;
  s.expires_at = now + ttl * 60;
  if (not_after.has_value() && *not_after < s.expires_at) {
    s.expires_at = *not_after;  // a session never outlives the credential that opened it
  }
  s.opened_by = opened_by;
  s.assertion_jti = jti;
  MD_ASSIGN_OR_RETURN(SecretBytes token, NewSecret(s.id, &s.secret_sha256));
  store::WriteBatch batch;
  t.Put(batch, kSessionKind, s.id, json::Write(SessionToJson(s, true, now)));
  t.Put(batch, kAgentSessionKind, agent.id + "/" + s.id, "");
  if (opened_by.starts_with("crd_")) {
    t.Put(batch, kCredentialSessionKind, opened_by + "/" + s.id, "");
  }
  batch.Put(kIdentityIndexFamily, IndexKey(kSessionKind, s.id), t.principal_id());
  if (!jti.empty()) {
    // Replay record for the assertion: kept at least until the assertion expires.
    batch.Put(kIdentityIndexFamily, IndexKey("jti", agent.did + "/" + jti),
              std::to_string(jti_expires_at));
  }
  // An agent opening its own session by assertion acts as that session (specs/audit.md §1.2);
  // no credential or operator is behind it, and it is no work of the service's own.
  std::optional<audit::ScopedActor> as_session;
  if (opened_by == "assertion") as_session.emplace(audit::Actor::Session(s.id));
  StageEvent(batch, t, "session.opened", now_micros, {{"session", s.id}, {"agent", agent.id}},
             SessionToJson(s, false, now));
  MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kSync));
  return WithToken<Session>{std::move(s), std::move(token)};
}

Result<WithToken<Session>> Directory::OpenSessionForAgent(const Tenant& t,
                                                          const std::string& agent_id,
                                                          const OpenSessionRequest& req,
                                                          const std::string& opened_by) {
  std::lock_guard<std::mutex> lock(write_mu_.For(t.principal_id()));
  MD_ASSIGN_OR_RETURN(Agent a, GetAgent(t, agent_id));
  std::optional<int64_t> not_after;
  if (opened_by.starts_with("crd_")) {
    // Read under the lock RevokeCredential takes, so a session is never opened (and indexed)
    // by a credential whose revocation has already scanned the index.
    MD_ASSIGN_OR_RETURN(Credential c, GetCredential(t, opened_by));
    if (c.state != "active") {
      return UnauthenticatedError("credential " + c.id + " is revoked", "credential-revoked");
    }
    not_after = c.expires_at;
  }
  return OpenSessionLocked(t, a, req, opened_by, "", 0, not_after);
}

Result<WithToken<Session>> Directory::OpenSessionWithAssertion(const OpenSessionRequest& req) {
  MD_ASSIGN_OR_RETURN(AssertionClaims claims,
                      VerifyAssertion(req.assertion, options_, clock_.NowUnixSeconds()));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> owner,
                      kv_.Get(kIdentityIndexFamily, IndexKey("did", claims.did)));
  if (!owner.has_value()) {
    return UnauthenticatedError("session assertion: no agent is registered with DID " +
                                    claims.did,
                                "unknown-agent");
  }
  const size_t slash = owner->find('/');
  if (slash == std::string::npos) {
    return DataLossError("identity index entry for " + claims.did + " is malformed",
                         "storage-corruption");
  }
  Tenant t(kv_, owner->substr(0, slash));
  std::lock_guard<std::mutex> lock(write_mu_.For(t.principal_id()));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> seen,
                      kv_.Get(kIdentityIndexFamily, IndexKey("jti", claims.did + "/" + claims.jti)));
  if (seen.has_value()) {
    return UnauthenticatedError("session assertion: jti " + claims.jti + " was already used",
                                "assertion-replayed");
  }
  // Expiry again, now that the replay record was read under the lock: a record the pruner
  // deleted (long after this exp) lets no assertion through that verified before the deletion.
  if (clock_.NowUnixSeconds() >= claims.exp + options_.clock_skew_s) {
    return UnauthenticatedError("session assertion: expired (exp)", "assertion-expired");
  }
  MD_ASSIGN_OR_RETURN(Agent a, GetAgent(t, owner->substr(slash + 1)));
  if (a.state != "active") {
    return UnauthenticatedError("agent " + a.id + " is " + a.state, "agent-" + a.state);
  }
  if (a.custody == "custodial") {
    // Its key is the service's: whatever it signed (an AP2 closing, say) was signed on someone's
    // request, so it never proves the agent's presence. An admin opens its sessions.
    return UnauthenticatedError("agent " + a.id + " holds a custodial key: its sessions are "
                                "opened by an admin, not by assertion",
                                "custodial-agent");
  }
  return OpenSessionLocked(t, a, req, "assertion", claims.jti, claims.exp, std::nullopt);
}

Result<Session> Directory::GetSession(const Tenant& t, const std::string& id) {
  return Load<Session>(t, kSessionKind, id, &SessionFromJson, "session");
}

Result<std::vector<Session>> Directory::ListSessions(const Tenant& t, const std::string& agent_id,
                                                     const std::string& after, size_t limit) {
  return List<Session>(t, kSessionKind, after, limit, &SessionFromJson, "session",
                       [&](const Session& s) { return agent_id.empty() || s.agent_id == agent_id; });
}

Result<Session> Directory::RevokeSession(const Tenant& t, const std::string& id,
                                         const std::string& reason) {
  std::lock_guard<std::mutex> lock(write_mu_.For(t.principal_id()));
  MD_ASSIGN_OR_RETURN(Session s, GetSession(t, id));
  const int64_t now_micros = clock_.NowUnixMicros();
  const int64_t now = now_micros / 1000000;
  if (s.state != "active" || s.expires_at <= now) {
    return s;  // ended already: nothing to write, no second session.ended
  }
  s.state = "revoked";
  s.revoked_at = now;
  s.revoked_reason = reason;
  store::WriteBatch batch;
  t.Put(batch, kSessionKind, s.id, json::Write(SessionToJson(s, true, now)));
  StageEvent(batch, t, "session.ended", now_micros, {{"session", s.id}, {"agent", s.agent_id}},
             SessionToJson(s, false, now));
  MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kSync));
  return s;
}

// ---- Session retention (specs/access.md §Session retention) -----------------------------

namespace {

// When a session stopped being usable: its expiry, or its revocation if that came first.
int64_t SessionEnd(const Session& s) {
  if (s.state != "active" && s.revoked_at.has_value()) {
    return std::min(s.expires_at, *s.revoked_at);
  }
  return s.expires_at;
}

}  // namespace

Result<SessionPrunePass> Directory::PruneSessions(const std::string& after, size_t limit) {
  SessionPrunePass pass;
  // identity-index ses/<session id> -> principal id lists every session of every principal.
  const std::string prefix = IndexKey(kSessionKind, "");
  std::string end = prefix;
  end.back() = '0';  // '0' follows '/': [prefix, end) is exactly the ses/ keys
  std::string cursor = after;
  while (pass.examined < limit) {
    const size_t want = std::min(kSessionPruneChunk, limit - pass.examined);
    std::string start = prefix + cursor;
    if (!cursor.empty()) {
      start.push_back('\0');  // after the cursor, exclusive
    }
    std::vector<std::pair<std::string, std::string>> chunk;
    MD_RETURN_IF_ERROR(kv_.ScanRange(kIdentityIndexFamily, start, end,
                                     [&](std::string_view key, std::string_view value) {
                                       chunk.emplace_back(std::string(key.substr(prefix.size())),
                                                          std::string(value));
                                       return chunk.size() < want;
                                     }));
    if (!chunk.empty()) {
      MD_RETURN_IF_ERROR(PruneChunk(chunk, pass));
      cursor = chunk.back().first;
    }
    if (chunk.size() < want) {
      cursor.clear();  // the end of the sessions
      break;
    }
  }
  pass.next_after = std::move(cursor);
  return pass;
}

Result<JtiPrunePass> Directory::PruneAssertionJtis(const std::string& after, size_t limit) {
  JtiPrunePass pass;
  const std::string prefix = IndexKey("jti", "");
  std::string end = prefix;
  end.back() = '0';  // '0' follows '/': [prefix, end) is exactly the jti/ keys
  const int64_t cutoff = clock_.NowUnixSeconds() - options_.clock_skew_s - kJtiRetentionS;
  std::string cursor = after;
  while (pass.examined < limit) {
    const size_t want = std::min(kSessionPruneChunk, limit - pass.examined);
    std::string start = prefix + cursor;
    if (!cursor.empty()) start.push_back('\0');  // after the cursor, exclusive
    store::WriteBatch batch;
    size_t seen = 0;
    MD_RETURN_IF_ERROR(kv_.ScanRange(kIdentityIndexFamily, start, end,
                                     [&](std::string_view key, std::string_view value) {
                                       ++seen;
                                       cursor = std::string(key.substr(prefix.size()));
                                       int64_t exp = 0;
                                       const auto [ptr, ec] = std::from_chars(
                                           value.data(), value.data() + value.size(), exp);
                                       if (ec != std::errc() || ptr != value.data() + value.size()) {
                                         ++pass.unreadable;
                                       } else if (exp < cutoff) {
                                         batch.Delete(kIdentityIndexFamily, key);
                                       }
                                       return seen < want;
                                     }));
    pass.examined += seen;
    if (!batch.empty()) {
      MD_RETURN_IF_ERROR(kv_.Write(batch));
      pass.pruned += batch.size();
    }
    if (seen < want) {
      cursor.clear();  // the end of the records
      break;
    }
  }
  pass.next_after = std::move(cursor);
  return pass;
}

Status Directory::PruneChunk(const std::vector<std::pair<std::string, std::string>>& chunk,
                             SessionPrunePass& pass) {
  std::map<std::string, std::vector<std::string>> by_principal;
  for (const auto& [sid, principal] : chunk) by_principal[principal].push_back(sid);
  for (const auto& [principal, sids] : by_principal) {
    Tenant t(kv_, principal);
    std::lock_guard<std::mutex> lock(write_mu_.For(principal));
    MD_RETURN_IF_ERROR(PruneSessionsOfLocked(t, sids, pass));
  }
  return OkStatus();
}

Status Directory::PruneSessionsOfLocked(const Tenant& t, const std::vector<std::string>& sids,
                                        SessionPrunePass& pass) {
  const int64_t now = clock_.NowUnixSeconds();
  store::WriteBatch batch;
  size_t pruned = 0;
  for (const std::string& sid : sids) {
    MD_ASSIGN_OR_RETURN(std::optional<std::string> raw, t.Get(kSessionKind, sid));
    if (!raw.has_value()) {
      // A token index entry without its session authenticates nothing (bad-credential either
      // way): drop it.
      batch.Delete(kIdentityIndexFamily, IndexKey(kSessionKind, sid));
      continue;
    }
    Result<Session> s = Decode<Session>(*raw, &SessionFromJson, "session");
    if (!s.ok()) {
      ++pass.unreadable;  // never delete what cannot be read: it might be live
      continue;
    }
    const bool live = s->state == "active" && now < s->expires_at;
    if (live || SessionEnd(*s) > now - options_.session_retention_s) {
      continue;
    }
    t.Delete(batch, kSessionKind, sid);
    t.Delete(batch, kAgentSessionKind, s->agent_id + "/" + sid);
    if (s->opened_by.starts_with("crd_")) {
      t.Delete(batch, kCredentialSessionKind, s->opened_by + "/" + sid);
    }
    batch.Delete(kIdentityIndexFamily, IndexKey(kSessionKind, sid));
    ++pruned;
  }
  pass.examined += sids.size();
  if (!batch.empty()) {
    MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kSync));
  }
  pass.pruned += pruned;
  return OkStatus();
}

}  // namespace mandated::identity
