// Authorizer: the pre-purchase decision (specs/authorization.md): verifies the mandate chain,
// checks the static terms and every counter that applies, holds the amount, records the decision
// durably before answering, and moves reservations through capture, void, expiry and approval.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/random.h"
#include "base/result.h"
#include "identity/directory.h"
#include "identity/principals.h"
#include "identity/tenant.h"
#include "mandates/registry.h"
#include "mandates/verifier.h"
#include "policy/counters.h"
#include "policy/idempotency.h"
#include "policy/records.h"
#include "signer/key_store.h"
#include "store/kv_store.h"

namespace mandated::policy {

struct AuthorizerOptions {
  int64_t reservation_ttl_s = 600;   // how long an allowed hold lasts
  int64_t approval_timeout_s = 900;  // how long a step-up waits for a person
  int64_t sweep_interval_ms = 2000;  // how often leases past their end are written down
  std::string service_did;           // the audience of approvers' evidence JWS
};

// Who is asking: the agent's session (for authorize) or a principal's credential.
struct Actor {
  std::string id;          // the session or credential id ("operator" for the operator)
  std::string user_id;     // the user behind a credential, if any
  std::string agent_id;    // set for sessions
  std::string session_id;  // set for sessions
  std::vector<std::string> mandate_scope;  // a session's or credential's mandate list
  // The facilitator releasing the hold of a payment that failed: passes the void guard.
  bool releases_failed_payment = false;
  // The facilitator capturing a payment that settled: captures even a hold whose lease ended
  // before the capture was written (specs/authorization.md §3, late capture).
  bool captures_settled_payment = false;
};

// One counter's state, for denials and the headroom API (specs/authorization.md §8).
struct CounterView {
  std::string counter;  // "mandate:mnd_x:window:day:calendar:UTC", "principal:month", ...
  std::string owner;    // "mandate:mnd_x" | "agent:agt_x" | "principal:prn_x" | "session:ses_x"
  std::string asset;
  std::string window;   // minute..year, lifetime, session
  Amount max;
  Amount spent;
  Amount remaining;
  std::optional<int64_t> resets_at;
};
json::Value CounterViewToJson(const CounterView& c);

// An answer as sent (and as kept for its idempotency key): status (201 for decisions, 200
// otherwise) and the written JSON body; `id` and `decision` name the authorization for logs.
struct Answer {
  int status = 200;
  std::string body;
  std::string id;
  std::string decision;
};

// Thread safety: safe from any thread. Decisions of one principal are serialized by its lock;
// durable writes happen outside it (RocksDB groups them), holds count from the moment they are
// decided and are taken back if their write fails.
class Authorizer {
 public:
  Authorizer(store::KvStore& kv, signer::KeyStore& keys, mandates::MandateRegistry& registry,
             identity::Directory& directory, identity::PrincipalStore& principals, Clock& clock,
             Random& random, AuthorizerOptions options);
  ~Authorizer();  // stops the sweeper

  // Starts the background sweeper that writes down expired leases (optional: effective states
  // are computed on every read either way).
  void StartSweeper();
  void StopSweeper();

  // POST /v1/authorizations. `claim` (may be null) gets the answer recorded in the same batch.
  Result<Answer> Authorize(const identity::Tenant& t, const Actor& actor,
                           const AuthorizeRequest& req, const IdempotencyClaim* claim);
  // Capture or void a reservation. `agent_id` non-empty: only that agent's authorizations.
  // A capture by an actor that `captures_settled_payment` also takes a reservation whose lease
  // ended (the money moved): it is charged again, from the capture's time, even past a
  // ceiling later decisions have filled.
  Result<Answer> Capture(const identity::Tenant& t, const Actor& actor, const std::string& id,
                         std::optional<Amount> amount, const IdempotencyClaim* claim);
  Result<Answer> Void(const identity::Tenant& t, const Actor& actor, const std::string& id,
                      const IdempotencyClaim* claim);
  // For the first payment signed against held authorization `id` (specs/x402.md §6.3): checks
  // what a decision checks of the actor (its agent, its session's mandate scope: 403
  // mandate-out-of-scope) and that the agent and every mandate of the chain are still usable
  // (409 agent-state / mandate-state), then runs `bind` while the hold is marked busy, so no
  // void, capture or lapse acts on it until the payment's binding is written. 409
  // reservation-state when nothing is held.
  Status BindPayment(const identity::Tenant& t, const Actor& actor, const std::string& id,
                     const std::function<Status()>& bind);
  // Asked by Void and Capture, under the principal's lock, before a hold is released or
  // captured, unless the actor is the settlement itself (releasing a failed payment, capturing
  // a settled one); an error refuses the call and is the answer. The x402 payer's refuses while
  // a payment it signed can still settle (specs/x402.md §6.4), the AP2 authority's once a
  // closing spent the hold (specs/ap2.md §6): otherwise an agent could capture its own hold
  // for less than the payment that then moves, and only that much would count. Set before
  // serving.
  using HoldGuard =
      std::function<Status(const std::string& principal, const std::string& id, int64_t now)>;
  void set_hold_guard(HoldGuard guard);
  // Runs on the sweeper's thread after each round (the app retries pending x402 captures and
  // voids there). Set before StartSweeper.
  void set_after_sweep(std::function<void()> after) { after_sweep_ = std::move(after); }
  // Runs on the sweeper's thread before each round writes down ended leases (the app captures
  // the holds of paid AP2 closings there first, late rather than lapsed). Set before
  // StartSweeper.
  void set_before_sweep(std::function<void()> before) { before_sweep_ = std::move(before); }
  // Tests only: runs in Authorize after the chain was read and verified, before the principal's
  // lock (where a concurrent revocation would land).
  void set_before_decision_for_testing(std::function<void()> f) {
    std::lock_guard<std::mutex> lock(test_hook_mu_);
    has_before_decision_.store(static_cast<bool>(f));
    before_decision_ = std::move(f);
  }
  // Charges a payment made under no vc+jwt mandate (an AP2 closing the agent signed itself) to
  // the ceilings that apply to any payment of `actor`'s agent: the agent's, the session's
  // spend_cap and the principal's, in `charge.asset` (specs/authorization.md §3, outside
  // charges). Under the principal's lock: when one of them has less room than the amount,
  // kPermissionDenied "session-cap-exceeded", "agent-ceiling-exceeded" or
  // "principal-ceiling-exceeded" (the first failing, in that order; the message names every
  // failing counter and what it has left) and nothing is counted; otherwise the charge counts
  // from then on. Then, outside the lock, stages the charge's record into `batch` and runs
  // `commit` (the payment's own durable write of `batch`, which sets `*reached_store` once its
  // own checks passed and the write began). Its error is returned; the charge is taken back
  // when it failed before the store (a refusal: nothing was written), and stays counted when
  // the store failed (the batch may have been kept after all) until the next start rebuilds the
  // counters from what is stored. `charge.agent_id`, `session_id` and `charged_at` are set here.
  Status ChargeOutside(const identity::Tenant& t, const Actor& actor, OutsideCharge charge,
                       store::WriteBatch& batch,
                       const std::function<Status(bool* reached_store)>& commit);
  // The use gate of mandates::MandateRegistry (set_use_gate): runs `body` with the uses the
  // live and captured holds of `principal` take of each of `mandate_ids`, under the
  // principal's lock, so a merchant's recorded use and a decision never both take the last use.
  Status WithHeldUses(const std::string& principal, const std::vector<std::string>& mandate_ids,
                      const std::function<Status(const std::vector<uint64_t>& held)>& body);
  // The authorization as it stands now; kNotFound "authorization-not-found".
  Result<Authorization> Get(const identity::Tenant& t, const std::string& id);
  // The same at `now` (the principal's never-backwards time for callers holding its lock).
  Result<Authorization> GetAt(const identity::Tenant& t, const std::string& id, int64_t now);
  // In id order after `after`; `mandate` / `agent` filter when non-empty.
  Result<std::vector<Authorization>> List(const identity::Tenant& t, const std::string& after,
                                          size_t limit, const std::string& mandate,
                                          const std::string& agent);

  // Approvals (specs/authorization.md §7).
  Result<Approval> GetApproval(const identity::Tenant& t, const std::string& id);
  // The same, as of `at` (unix seconds): expired when still pending at or after its expiry.
  Result<Approval> GetApprovalAt(const identity::Tenant& t, const std::string& id, int64_t at);
  Result<std::vector<Approval>> ListApprovals(const identity::Tenant& t, const std::string& state,
                                              const std::string& after, size_t limit);
  Result<Answer> Decide(const identity::Tenant& t, const Actor& actor, const std::string& id,
                        bool approve, const DecideRequest& req, const IdempotencyClaim* claim);
  // Denies every pending approval of `agent_id` as `actor` with `note` (its agent was just
  // suspended or revoked: pending requests stop with it, specs/access.md §Agents), releasing
  // their holds. One decided or timed out meanwhile is skipped. Returns how many it denied.
  Result<size_t> DenyPendingOfAgent(const identity::Tenant& t, const Actor& actor,
                                    const std::string& agent_id, const std::string& note);

  // Headroom of a mandate (its chain, the agent, the principal; with `session`, an agent
  // session asking about its own mandate, that session's cap too) or of an agent.
  Result<json::Value> MandateHeadroom(const identity::Tenant& t, const std::string& mandate_id,
                                      const Actor* session = nullptr);
  Result<json::Value> AgentHeadroom(const identity::Tenant& t, const std::string& agent_id);
  // An agent session's own ceilings, whatever mandate it pays under (AP2 closings included):
  // {"agent","session","ceilings":[counter...]}, the agent's, its session's spend cap and the
  // principal's.
  Result<json::Value> SessionHeadroom(const identity::Tenant& t, const Actor& session);

  // Writes down leases past their end (what the sweeper does), now. Returns how many records
  // changed. For tests and the sweeper.
  Result<size_t> SweepOnce();

 private:
  struct Hold;
  struct PrincipalState;
  struct ChainInfo;

  Result<PrincipalState*> StateFor(const std::string& principal_id);
  Status LoadLocked(PrincipalState& ps, const identity::Tenant& t);
  void ChargeLocked(PrincipalState& ps, Hold& hold);
  void SetHoldAmountLocked(PrincipalState& ps, Hold& hold, Uint128 amount);
  // Counts an outside charge in the series of its principal, agent and session; returns where.
  std::vector<std::pair<SpendSeries*, size_t>> ChargeOutsideLocked(PrincipalState& ps,
                                                                   const OutsideCharge& c);
  void ExpireLocked(PrincipalState& ps, int64_t now);
  int64_t NowLocked(PrincipalState& ps);
  // The live hold of authorization `id` that `actor` may capture or void (`verb`), or why
  // not: 404 for another agent's, 409 reservation-expired (capture) / reservation-state when
  // nothing is held, 409 reservation-busy while another request changes it.
  Result<Hold*> LiveHoldLocked(PrincipalState& ps, const identity::Tenant& t, const Actor& actor,
                               const std::string& id, std::string_view verb);
  Result<ChainInfo> LoadChain(const identity::Tenant& t, const std::string& mandate_id);
  // The agent active and every mandate of the chain active and unexpired now; else 409
  // agent-state / mandate-state, the message ending in `consequence`.
  Status StillUsable(const identity::Tenant& t, const std::string& agent_id,
                     const std::string& mandate_id, std::string_view consequence, int64_t at);
  // The verdict on the chain alone (no purchase) at `now`, from the cache when it may be.
  // `policy_version` (may be null) gets the hex SHA-256 of the mandate's token.
  std::shared_ptr<const mandates::Verdict> VerifyChain(const ChainInfo& chain, int64_t now,
                                                       std::string* policy_version = nullptr);
  // The parts of a session and its agent that a decision uses and that never change once they
  // are created: the session's id and spend cap, the agent's id, DID and ceilings (nothing else
  // is filled in). Read once per session, then from memory. Their states, which do change, are
  // not here: the access guard checks them on every request (Directory::Authenticate).
  // Errors: GetSession's and GetAgent's.
  struct SessionFacts {
    identity::Session session;
    identity::Agent agent;
  };
  Result<std::shared_ptr<const SessionFacts>> FactsOf(const identity::Tenant& t,
                                                      const Actor& actor);
  std::vector<CounterView> CountersLocked(PrincipalState& ps, const ChainInfo& chain,
                                          const identity::Agent* agent,
                                          const identity::Session* session,
                                          const std::string& asset, int64_t now);
  Result<std::string> SignReceipt(const identity::Tenant& t, const Authorization& a);
  // The counters of the agent's and the principal's ceilings (and of `session`'s spend cap,
  // when given) in every asset they name, now.
  Result<json::Value> CeilingsHeadroom(const identity::Tenant& t, const identity::Agent& agent,
                                       const identity::Session* session);
  // The principal's active issuer key, remembered per key-store generation (read from the store
  // when not `cached`).
  Result<signer::KeyInfo> IssuerKey(const std::string& principal_id, bool cached);
  // Writes the record (`record_json`, its written JSON), its indexes, the approval and the
  // idempotency record of `answer` in one durable batch.
  Status WriteAuthorization(const identity::Tenant& t, const Authorization& a,
                            const std::string& record_json, const Approval* approval,
                            bool new_record, const IdempotencyClaim* claim,
                            const Answer& answer);
  void StageAuthorizationEvent(store::WriteBatch& batch, const Authorization& a,
                               const std::string& record_json, const Approval* approval,
                               bool new_record);
  void SweeperLoop();
  // Loads the counters of up to a few principals after `after` (id order), moving `after` on;
  // true once every principal was reached.
  // `failures`: attempts that failed, by principal; a principal is tried again in later rounds
  // (3 attempts) before the loader moves past it.
  bool LoadSomePrincipals(std::string* after, std::map<std::string, int>* failures);

  store::KvStore& kv_;
  signer::KeyStore& keys_;
  mandates::MandateRegistry& registry_;
  identity::Directory& directory_;
  identity::PrincipalStore& principals_;
  Clock& clock_;
  Random& random_;
  AuthorizerOptions options_;
  HoldGuard hold_guard_;  // set before serving, then only read
  std::function<void()> after_sweep_;   // set before the sweeper starts, then only read
  std::function<void()> before_sweep_;  // the same
  std::mutex test_hook_mu_;
  std::function<void()> before_decision_;  // guarded by test_hook_mu_
  std::atomic<bool> has_before_decision_{false};  // skips the mutex when no hook is set

  std::mutex states_mu_;
  std::map<std::string, std::unique_ptr<PrincipalState>> states_;

  // Chains whose signatures verified, by mandate id: the signature work is done once per token
  // and key-store generation (a rotation or disabling drops it), not once per purchase.
  struct VerifiedChain {
    uint64_t generation = 0;
    std::string token;
    std::string policy_version;  // hex SHA-256 of `token`
    std::shared_ptr<const mandates::Verdict> verdict;
  };
  static constexpr size_t kVerifiedCacheSize = 4096;
  std::mutex verified_mu_;
  std::map<std::string, VerifiedChain> verified_;
  std::map<std::string, std::pair<uint64_t, signer::KeyInfo>> issuer_keys_;  // principal ->
  std::mutex facts_mu_;
  std::map<std::string, std::shared_ptr<const SessionFacts>> facts_;  // "<principal>/<session>"

  std::mutex sweeper_mu_;
  std::condition_variable sweeper_cv_;
  bool sweeper_stop_ = false;
  std::thread sweeper_;
};

}  // namespace mandated::policy
