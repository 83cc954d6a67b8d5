// Directory: the users, credentials, agents and sessions of every principal, and the
// authentication of bearer tokens (specs/access.md). Operations on a principal's records take
// the Tenant they act in; only Authenticate and OpenSessionWithAssertion find a tenant from a
// token, through the identity index.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/mutex_stripes.h"
#include "base/random.h"
#include "base/secret.h"
#include "identity/access.h"
#include "identity/records.h"
#include "identity/tenant.h"
#include "signer/key_store.h"
#include "store/kv_store.h"

namespace mandated::identity {

// Global lookups from a token or DID to the principal that owns it (specs/storage.md).
inline constexpr char kIdentityIndexFamily[] = "identity-index";

struct DirectoryOptions {
  std::string service_did;            // the "aud" session assertions must name
  int64_t session_ttl_minutes = 15;   // default and maximum session lifetime
  int64_t assertion_max_lifetime_s = 300;
  int64_t clock_skew_s = 60;
  // How long a session's record and index keys are kept once the session ended (was revoked or
  // expired) before PruneSessions deletes them (specs/access.md §Session retention).
  // REQUIRES: positive.
  int64_t session_retention_s = 7 * 86400;
};

// What one PruneSessions pass did.
struct SessionPrunePass {
  size_t examined = 0;    // sessions looked at (at most the pass's limit)
  size_t pruned = 0;      // sessions deleted, each with its index keys
  size_t unreadable = 0;  // session records that did not decode: left in place
  // The last session id looked at, where the next pass resumes; empty when this pass reached
  // the end of the sessions (the next one starts again from the first).
  std::string next_after;
};

// What one PruneAssertionJtis pass did.
struct JtiPrunePass {
  size_t examined = 0;    // replay records looked at (at most the pass's limit)
  size_t pruned = 0;      // deleted: their assertion expired long enough ago
  size_t unreadable = 0;  // values that are not a time: left in place
  // Where the next pass resumes; empty when this pass reached the last record.
  std::string next_after;
};

// A record together with the bearer token that was created for it. The token is shown once and
// never stored (only the SHA-256 of its secret part is).
template <typename T>
struct WithToken {
  T record;
  SecretBytes token;
};

// Every state change stages its audit events (specs/audit.md §1.3) in the batch of the change;
// refused operations stage nothing. Pruning ended sessions (retention, not a state change)
// stages no audit event and deletes none.
// Thread safety: safe from any thread. State changes (create, disable, revoke, suspend, open,
// prune) of one principal are serialized by its write stripe so that each read-check-write is
// atomic, while principals do not wait for each other (their synced writes share fsyncs); the
// one check across principals (an agent DID is registered once) also holds a DID mutex. Reads
// take no lock.
class Directory {
 public:
  using WriteStripes = MutexStripes<64>;  // by principal id
  Directory(store::KvStore& kv, signer::KeyStore& keys, Clock& clock, Random& random,
            DirectoryOptions options)
      : kv_(kv), keys_(keys), clock_(clock), random_(random), options_(std::move(options)) {}

  const DirectoryOptions& options() const { return options_; }

  // Authenticates a credential ("crd_...") or session ("ses_...") token. kUnauthenticated with
  // reason bad-credential (unknown or wrong secret), credential-revoked, credential-expired,
  // session-revoked, session-expired, agent-suspended or agent-revoked. Changes nothing.
  Result<Caller> Authenticate(std::string_view token);
  static bool LooksLikeDirectoryToken(std::string_view token);

  // Users.
  Result<User> CreateUser(const Tenant& t, const CreateUserRequest& req);
  Result<User> GetUser(const Tenant& t, const std::string& id);
  Result<std::vector<User>> ListUsers(const Tenant& t, const std::string& after, size_t limit);
  // Disables the user and revokes its credentials, and the sessions they opened, in one batch.
  Result<User> DisableUser(const Tenant& t, const std::string& id);

  // Credentials.
  Result<WithToken<Credential>> CreateCredential(const Tenant& t,
                                                 const CreateCredentialRequest& req);
  Result<Credential> GetCredential(const Tenant& t, const std::string& id);
  Result<std::vector<Credential>> ListCredentials(const Tenant& t, const std::string& after,
                                                  size_t limit);
  // Revokes the credential and, in the same batch, the sessions it opened.
  Result<Credential> RevokeCredential(const Tenant& t, const std::string& id);

  // Agents.
  Result<Agent> CreateAgent(const Tenant& t, const CreateAgentRequest& req);
  Result<Agent> GetAgent(const Tenant& t, const std::string& id);
  Result<std::vector<Agent>> ListAgents(const Tenant& t, const std::string& after, size_t limit);
  // action: suspend (active -> suspended), resume (suspended -> active), revoke (-> revoked,
  // final). Suspending or revoking revokes the agent's open sessions in the same batch.
  // kFailedPrecondition ("agent-state") for a transition the state machine forbids.
  Result<Agent> ChangeAgentState(const Tenant& t, const std::string& id, std::string_view action);

  // Sessions. An admin opens one for an agent (custodial agents cannot sign an assertion);
  // an agent opens its own with a signed assertion. A session `opened_by` a credential
  // ("crd_...") expires no later than that credential.
  Result<WithToken<Session>> OpenSessionForAgent(const Tenant& t, const std::string& agent_id,
                                                 const OpenSessionRequest& req,
                                                 const std::string& opened_by);
  Result<WithToken<Session>> OpenSessionWithAssertion(const OpenSessionRequest& req);
  Result<Session> GetSession(const Tenant& t, const std::string& id);
  // Newest last (id order); `agent_id` filters when non-empty.
  Result<std::vector<Session>> ListSessions(const Tenant& t, const std::string& agent_id,
                                            const std::string& after, size_t limit);
  // reason: "revoked" (by an admin) or "ended" (by the agent itself).
  Result<Session> RevokeSession(const Tenant& t, const std::string& id, const std::string& reason);

  // Session retention (specs/access.md §Session retention, specs/storage.md): looks at up to
  // `limit` sessions of every principal, in session id order after `after` (from the first when
  // empty), and deletes each one that ended at least options().session_retention_s ago (revoked,
  // or past expires_at, whichever came first) together with its index keys: the tenants keys
  // ses/<id>, agt-ses/<agent id>/<id> and crd-ses/<credential id>/<id>, and identity-index
  // ses/<id>. A live session (active, before expires_at) is never deleted; an identity-index
  // ses/<id> entry without its session record is deleted too. Writes one store batch
  // per chunk of at most kSessionPruneChunk sessions, under the write lock, so that no revocation
  // runs between a chunk's reads and its deletes; audit events are kept and none is added.
  // Errors: the store's (what was written before stays written).
  Result<SessionPrunePass> PruneSessions(const std::string& after, size_t limit);
  static constexpr size_t kSessionPruneChunk = 128;

  // Replay records of session assertions (identity-index jti/<agent DID>/<jti> -> the
  // assertion's exp; specs/access.md §Session retention): looks at up to `limit` of them after
  // `after` (from the first when empty) and deletes each whose assertion expired more than
  // options().clock_skew_s + kJtiRetentionS ago. Such an assertion is refused as expired
  // whatever its record says: the opening checks exp again under the principal's lock, after
  // the replay check, so a record deleted meanwhile lets nothing through. One batch per chunk
  // of at most kSessionPruneChunk records. Errors: the store's.
  Result<JtiPrunePass> PruneAssertionJtis(const std::string& after, size_t limit);
  static constexpr int64_t kJtiRetentionS = 3600;

 private:
  Result<SecretBytes> NewSecret(const std::string& id, Bytes* secret_sha256);
  Result<WithToken<Session>> OpenSessionLocked(const Tenant& t, const Agent& agent,
                                               const OpenSessionRequest& req,
                                               const std::string& opened_by,
                                               const std::string& jti, int64_t jti_expires_at,
                                               std::optional<int64_t> not_after);
  // Stages the revocation of every active session listed under `owner_id` in `index_kind`
  // (an agent's, or the sessions a credential opened), with `reason`. An entry whose session is
  // gone is skipped.
  Status RevokeIndexedSessionsLocked(const Tenant& t, std::string_view index_kind,
                                     const std::string& owner_id, const std::string& reason,
                                     store::WriteBatch& batch);
  // Deletes the sessions of `chunk` (session id, principal id) that PruneSessions may delete,
  // one batch per principal under its write stripe, and counts them into `pass`.
  Status PruneChunk(const std::vector<std::pair<std::string, std::string>>& chunk,
                    SessionPrunePass& pass);
  // PruneChunk's part for the sessions `sids` of one principal, in one batch. REQUIRES: the
  // principal's write stripe held.
  Status PruneSessionsOfLocked(const Tenant& t, const std::vector<std::string>& sids,
                               SessionPrunePass& pass);
  Result<Caller> AuthenticateCredential(std::string_view id, std::string_view secret);
  Result<Caller> AuthenticateSession(std::string_view id, std::string_view secret);
  Result<std::string> PrincipalOf(std::string_view index_kind, std::string_view id);

  store::KvStore& kv_;
  signer::KeyStore& keys_;
  Clock& clock_;
  Random& random_;
  DirectoryOptions options_;
  WriteStripes write_mu_;
  std::mutex did_mu_;  // held (after a stripe) while an agent DID is checked and registered
};

}  // namespace mandated::identity
