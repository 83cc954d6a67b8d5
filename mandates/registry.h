// MandateRegistry: issuance, storage, delegation, revocation, suspension and use counting of a
// principal's mandates, and the Token Status Lists that publish their state (specs/mandate.md
// §6, specs/storage.md). Every state change is one durable write batch: the mandate records, the
// children index and the status list bytes move together.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/random.h"
#include "base/mutex_stripes.h"
#include "base/result.h"
#include "identity/tenant.h"
#include "mandates/credential.h"
#include "mandates/model.h"
#include "mandates/status_book.h"
#include "mandates/status_list.h"
#include "signer/key_store.h"

namespace mandated::mandates {

inline constexpr std::string_view kIssuerKeyPurpose = "issuer";

struct RegistryOptions {
  std::string service_did;      // did:web of the service; a principal's issuer DID extends it
  std::string public_base_url;  // "https://host[:port]": status list URIs start with it
  size_t status_list_size = 16384;  // entries per list (2 bits each: 4 KiB)
  int64_t status_list_ttl_s = 300;  // "ttl" of a served list: how long verifiers may cache it
  int64_t status_list_exp_s = 3600; // "exp" - "iat" of a served list
};

// The stored state of one mandate (specs/storage.md §mandates). Thread safety: value type.
struct MandateRecord {
  std::string id;            // "mnd_..."
  std::string principal_id;
  std::string agent_id;      // the subject agent
  std::string subject;       // its DID (credentialSubject.id)
  std::string parent;        // parent mandate id, "" for a root
  int depth = 0;             // 0 for a root, parent's + 1
  std::string issuer;        // the principal's issuer DID
  std::string key_id;        // the issuer key that signed it
  uint64_t list = 0;         // status list number
  uint64_t idx = 0;          // index in that list
  std::string state = "active";  // active | suspended | revoked | used-up
  std::string state_reason;  // why it left "active" (who revoked, which parent, ...)
  int64_t valid_from = 0;
  int64_t valid_until = 0;
  int64_t issued_at = 0;
  int64_t updated_at = 0;
  std::string issued_by;     // "operator", a credential id or an agent session id
  int64_t uses = 0;          // uses recorded through Use (its own and its descendants')
  std::optional<int64_t> max_uses;  // terms.limits.max_uses
  std::string token;         // the compact JWS as issued
};

// The public JSON of a record: everything but nothing secret (there is nothing secret in it).
json::Value MandateRecordToJson(const MandateRecord& record);

struct IssueRequest {
  std::string agent_id;      // the subject agent (checked by the caller to exist and be active)
  std::string subject;       // its DID
  std::string parent_id;     // "" for a root mandate
  MandateTerms terms;        // terms.parent is set by Issue from parent_id
  Validity validity;
  std::string issued_by;
  // For delegation by an agent: the agent that holds the parent (must be the parent's subject).
  std::string delegating_agent_id;
};

// Parses the body of POST /v1/principals/{p}/mandates:
// {"agent","parent"?,"valid_from","valid_until","terms"} (specs/api.md §Mandates). `terms` must
// not carry "parent" (the request's "parent" says it). Validity: RFC 3339 UTC, from < until,
// at most kMaxValiditySeconds apart. kInvalidArgument with pointer and reason.
struct IssueBody {
  std::string agent_id;
  std::string parent_id;
  Validity validity;
  MandateTerms terms;
};
Result<IssueBody> ParseIssueBody(const json::Value& body);

// Thread safety: safe from any thread. State changes of one principal are serialized by its
// write stripe (each read-check-write is atomic; the status index counter and lists are the
// principal's own), so one principal's issuance burst never queues another's revocation; reads
// take no lock except the caches' (served lists, records).
class MandateRegistry {
 public:
  using WriteStripes = MutexStripes<64>;
  MandateRegistry(store::KvStore& kv, signer::KeyStore& keys, Clock& clock, Random& random,
                  RegistryOptions options);

  // The issuer DID of a principal: <service_did>:principals:<principal id> (did:web path form).
  std::string IssuerDid(std::string_view principal_id) const;
  // The principal id an issuer DID of this service names, or "" if it names none.
  std::string PrincipalOfIssuer(std::string_view issuer_did) const;
  // The URI of status list `list` of a principal.
  std::string StatusListUri(std::string_view principal_id, uint64_t list) const;
  const RegistryOptions& options() const { return options_; }

  // Issues a mandate (specs/mandate.md §6.1): for a child, the parent must exist, be active and
  // unexpired, be held by `delegating_agent_id` when that is set, have room in the chain, and
  // CheckAttenuation must pass. Signs with the principal's active issuer key (an Ed25519 key is
  // generated on first use). Errors: kNotFound mandate-not-found (parent), kFailedPrecondition
  // parent-not-active / parent-expired / chain-too-long, kPermissionDenied not-parent-holder,
  // kInvalidArgument delegation-widens (with the pointer) or bad-validity.
  Result<MandateRecord> Issue(const identity::Tenant& t, IssueRequest req);

  // kNotFound "mandate-not-found". Served from memory while no mandate record has been written
  // since it was read: every write of one bumps the records' generation (after the batch is
  // durable, before the writer returns), so a revocation, suspension or use is seen by every
  // Get that starts after it returned.
  Result<MandateRecord> Get(const identity::Tenant& t, const std::string& id) const;
  // Moves on with every durable write of mandate records (before the writer returns): a caller
  // that read records at generation g and sees g again has seen every change acknowledged since.
  uint64_t records_generation() const;
  // In id order after `after`; `agent` filters by subject agent when non-empty.
  Result<std::vector<MandateRecord>> List(const identity::Tenant& t, const std::string& after,
                                          size_t limit, const std::string& agent) const;
  // The tokens of the ancestors of `id`, nearest first (the chain a verifier needs).
  Result<std::vector<std::string>> ParentTokens(const identity::Tenant& t,
                                                const std::string& id) const;

  // Which of the write stripes serializes `principal`'s changes (tests pick principals that do
  // not share one).
  static size_t WriteStripeOf(std::string_view principal) {
    return WriteStripes::IndexOf(principal);
  }

  // Revokes a mandate and every descendant (status 1), in one batch; revoking a revoked one is a
  // no-op answer. Suspend (status 2) needs "active"; resume needs "suspended": otherwise
  // kFailedPrecondition "mandate-state".
  Result<MandateRecord> Revoke(const identity::Tenant& t, const std::string& id,
                               const std::string& by);
  Result<MandateRecord> Suspend(const identity::Tenant& t, const std::string& id,
                                const std::string& by);
  Result<MandateRecord> Resume(const identity::Tenant& t, const std::string& id,
                               const std::string& by);

  // OK for a use key (1 to 128 of [A-Za-z0-9._:-]); kInvalidArgument "bad-use-key".
  static Status ValidateUseKey(std::string_view use_key);

  // Records one use of `id` under the idempotency key `use_key` (1 to 128 of [A-Za-z0-9._:-]):
  // the mandate and each ancestor must be active and below its max_uses; all of them count the
  // use. One that reaches its max_uses becomes "used-up" (status 1) with its descendants. The
  // same key again answers the first outcome without counting twice. Errors:
  // kFailedPrecondition "uses-exhausted" / "mandate-state", kNotFound, kInvalidArgument
  // "bad-use-key".
  // `verdict_json` is the verdict the use was recorded under, as answered (kept with the use,
  // so a retry of the key answers it again: RecordedUse).
  struct UseOutcome {
    MandateRecord record;  // after the use (a replay: as it is now)
    bool replayed = false;
    int64_t uses = 0;          // the mandate's uses as this key's use left them
    std::string verdict_json;  // the verdict of the first answer ("" for uses stored before)
  };
  Result<UseOutcome> Use(const identity::Tenant& t, const std::string& id,
                         const std::string& use_key, const std::string& verdict_json = "");
  // The use recorded under `use_key` for mandate `id`, if any (replayed = true), read before any
  // verification: a retry must answer the first outcome even once that use ended the mandate.
  // kInvalidArgument "bad-use-key"; kDataLoss for a record that does not read.
  Result<std::optional<UseOutcome>> RecordedUse(const identity::Tenant& t, const std::string& id,
                                                const std::string& use_key);
  // Runs `body` (Use's check and write) with the uses authorizations hold for each of
  // `mandate_ids`, under the lock their decisions take (policy::Authorizer::WithHeldUses), so
  // that held and recorded uses together stay within max_uses. Unset: nothing is held. Set
  // before serving.
  using UseGate = std::function<Status(
      const std::string& principal, const std::vector<std::string>& mandate_ids,
      const std::function<Status(const std::vector<uint64_t>& held)>& body)>;
  void set_use_gate(UseGate gate);

  // The current status of (list, idx) of a principal, for the online verifier.
  Result<uint8_t> StatusAt(const identity::Tenant& t, uint64_t list, uint64_t idx) const;
  // The signed statuslist+jwt of a list (kNotFound "status-list-not-found" for a list never
  // allocated). Re-signed when the list changed or after ttl/2; otherwise served from memory.
  Result<ServedStatusList> ServeStatusList(const identity::Tenant& t, uint64_t list);

 private:
  Result<MandateRecord> Load(const identity::Tenant& t, const std::string& id) const;
  StatusBookOptions BookOptions() const;
  // Sets `status` on `ids` (records and bits) into `batch`; `changed` gets the updated records.
  // Each status list is loaded once and written once per call (call it once per batch).
  Status MarkLocked(const identity::Tenant& t, const std::vector<std::string>& ids,
                    std::string_view state, TokenStatus status,
                    const std::function<std::string(const std::string&)>& reason,
                    store::WriteBatch& batch, std::vector<MandateRecord>* changed,
                    const std::map<std::string, MandateRecord>* pending = nullptr);
  Result<std::vector<std::string>> DescendantsLocked(const identity::Tenant& t,
                                                     const std::string& id) const;
  Result<MandateRecord> ChangeState(const identity::Tenant& t, const std::string& id,
                                    std::string_view action, const std::string& by);
  // kv_.Write of a batch that holds mandate records, then drops every cached record (whatever
  // the write's outcome).
  Status WriteMandates(const identity::Tenant& t, store::WriteBatch& batch);

  store::KvStore& kv_;
  signer::KeyStore& keys_;
  Clock& clock_;
  Random& random_;
  RegistryOptions options_;
  WriteStripes write_mu_;
  StatusListBook statuses_;  // the principal's lists (status-list, status-meta)
  UseGate use_gate_;  // set before serving, then only read
  // Records as last read, by "<principal>/<id>", valid while `records_generation_` is the one
  // they were read at (WriteMandates bumps it and clears the map).
  static constexpr size_t kRecordCacheSize = 4096;
  mutable std::mutex records_mu_;
  mutable std::map<std::string, MandateRecord> records_;
  uint64_t records_generation_ = 0;  // guarded by records_mu_
};

}  // namespace mandated::mandates
