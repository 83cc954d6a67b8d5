// Ap2Authority: mandated as the stateful AP2 mandate authority (specs/ap2.md §6-§8). It issues
// open Checkout and Payment Mandates for a principal's agents (signed with the principal's
// "ap2-issuer" P-256 key, cnf = the agent's P-256 key), hands out challenges, accepts closed
// Payment Mandates the agent signed (or signs the closing hop with a custodial agent's key) and
// enforces budget, recurrence, single use and nonce replay atomically and durably, and verifies a
// merchant's presented checkout against the closed payment, answering with signed receipts.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/json.h"
#include "base/mutex_stripes.h"
#include "base/random.h"
#include "base/result.h"
#include "identity/directory.h"
#include "identity/tenant.h"
#include "identity/tenant_pruner.h"
#include "mandates/ap2.h"
#include "mandates/status_book.h"
#include "signer/key_store.h"
#include "store/kv_store.h"

namespace mandated::mandates::ap2 {

inline constexpr char kIssuerPurpose[] = "ap2-issuer";     // per principal, P-256
inline constexpr char kReceiptPurpose[] = "ap2-receipts";  // owner "service", P-256
inline constexpr int64_t kChallengeTtlSeconds = 300;

// An open mandate as issued and stored.
struct OpenMandate {
  std::string id;  // "ap2m_..."; also the root's "jti"
  std::string principal_id;
  std::string agent_id;
  Kind kind = Kind::kPayment;
  std::string token;   // the SD-JWT as issued, every disclosure
  std::string digest;  // sha-256 digest of `token` (payment.reference names a checkout's)
  std::string key_id;  // the issuer key
  int64_t issued_at = 0;
  int64_t expires_at = 0;
  // The record format (ap2::kOpenMandateFormat for those issued now); a stored record without
  // one is 1: its budget is in minor units and it closes more than once (EvaluatePayment).
  int format = kOpenMandateFormat;
  // Revocation by the principal (specs/ap2.md §9): from then on nothing closes it, and a
  // merchant's verification of a checkout it opened is refused. 0 / "": not revoked.
  int64_t revoked_at = 0;
  std::string revoked_by;  // the credential that revoked it
  // A payment mandate issued with `checkout_mandate`: that checkout mandate's id. Its revocation
  // stops this one's closings too. "" otherwise, and in records issued before it was kept.
  std::string checkout_mandate_id;
  // Its entry in the principal's AP2 Token Status Lists (specs/ap2.md §5.5), as the token's
  // `status` claim names it; none in records issued before the lists existed.
  std::optional<StatusSlot> status;
  std::string status_uri;
};
json::Value OpenMandateToJson(const OpenMandate& m);

// Where the AP2 status lists are published (specs/ap2.md §5.5).
struct StatusListsConfig {
  std::string public_base_url = "http://localhost";  // status list URIs start with it
  size_t list_size = 16384;
  int64_t ttl_s = 300;
  int64_t exp_s = 3600;
};

// POST /v1/principals/{p}/ap2/mandates:
// {"agent", "kind": "payment"|"checkout", "constraints": [...], "preset"?: {...},
//  "checkout_mandate"?: "ap2m_...", "ttl_seconds"?: 60..31622400}. With checkout_mandate (payment
// only) the service adds the payment.reference constraint naming that mandate's digest.
struct IssueOpenRequest {
  std::string agent_id;
  Kind kind = Kind::kPayment;
  json::Value constraints;
  json::Value preset = json::Value::Object();
  std::string checkout_mandate;
  int64_t ttl_s = 86400;
};
Result<IssueOpenRequest> ParseIssueOpen(const json::Value& body);

struct Challenge {
  std::string nonce;
  std::string aud;
  int64_t expires_at = 0;
};

// A closed payment mandate accepted and recorded.
struct ClosedRecord {
  std::string id;  // "ap2c_..."
  std::string open_mandate_id;
  std::string agent_id;
  std::string transaction_id;
  std::string nonce;
  ClosedPayment payment;
  std::string chain;      // the presentation exactly as accepted (or as we signed it)
  // The receipt reference: digest of the chain's final SD-JWT, its terminal hop's compact form
  // (specs/ap2.md §8).
  std::string reference;
  std::string receipt;    // the signed Payment Receipt
  // For a payment instrument of type "x402": the EIP-3009 nonce that ties the on-chain transfer
  // to this mandate chain, "0x" + hex(keccak256(chain)) (specs/ap2.md §6.1); "" otherwise.
  std::string x402_nonce;
  // For a payment instrument of type kLedgerInstrument: the id of its ledger transfer.
  std::string ledger_transfer;
  // For a custodial closing (CloseCustodial): the authorization it spent and the vc+jwt mandate
  // that authorization was made under, whose budget the payment is counted against (and
  // metered under, specs/usage.md §1); "" for a closing the agent presented.
  std::string authorization_id;
  std::string authorization_mandate;
  int64_t closed_at = 0;
};

// The mandate whose budget a closing spent: its authorization's for a custodial closing, else
// its open mandate. A ledger payment is metered under it (specs/usage.md §1).
inline const std::string& SpendingMandate(const ClosedRecord& r) {
  return r.authorization_mandate.empty() ? r.open_mandate_id : r.authorization_mandate;
}

// The authorization a custodial closing spends (specs/ap2.md §6): its id and its mandate.
struct SpentAuthorization {
  std::string id;
  std::string mandate_id;
};

// Pays an accepted closed payment on the ledger: applies the transfer `record` names
// (record.ledger_transfer) together with `batch` (the closed record, usage, nonce and audit
// event) in one durable write, or writes nothing and returns why (e.g. "insufficient-funds").
// `before_write` runs on the batch once every check of the payment passed, just before the
// write (what is recorded only with a payment made: the route's idempotency answer).
using SettleHook = std::function<Status(
    const ClosedRecord& record, const std::string& principal, store::WriteBatch batch,
    const std::function<void(store::WriteBatch&)>& before_write)>;
// Stages into `batch` (the closed record's own durable write) the binding of an x402 payment's
// nonce (record.x402_nonce) to the record, so the facilitator that settles the transfer links it
// back to the mandate (specs/ap2.md §6.1).
using X402BindHook = std::function<void(const ClosedRecord& record, const std::string& principal,
                                        store::WriteBatch& batch)>;
json::Value ClosedRecordToJson(const ClosedRecord& r);
// Stages, into the accepted closing's own durable batch, what the caller records with it (the
// route's idempotency answer, specs/authorization.md §6).
using StageHook = std::function<void(const ClosedRecord& record, store::WriteBatch& batch)>;
// Charges an accepted closing the agent signed itself to the ceilings outside its open mandate
// (the agent's, its session's and the principal's; specs/ap2.md §6): refuses it when one of them
// has no room (the refusal is the answer), else adds its record to `batch` and runs `commit`
// (the closing's durable write, which sets `*reached_store` once the payment's checks passed
// and the write began), taking the charge back when that fails before the store.
using ChargeHook = std::function<Status(const ClosedRecord& record, store::WriteBatch& batch,
                                        const std::function<Status(bool* reached_store)>& commit)>;

// POST /v1/ap2/verify (a merchant): the presented checkout chain, the merchant's latest
// checkout_jwt and the key that signed it, and the aud and nonce the merchant expects.
struct MerchantVerifyRequest {
  std::string checkout_chain;
  std::string checkout_jwt;
  json::Value merchant_jwk;
  std::string aud;
  std::string nonce;
};
Result<MerchantVerifyRequest> ParseMerchantVerify(const json::Value& body);

struct MerchantVerifyResult {
  std::string checkout_hash;
  std::string order_id;
  std::string checkout_receipt;  // signed CheckoutReceipt JWT
  std::string payment_receipt;   // the Payment Receipt of the closed payment it matched
  std::string closed_payment_id;
};

// The AP2 error code (agent_authorization.md, Action Authorization) of one of our refusal
// reasons: "unresolved_constraint" for a constraint that refuses (the agent may fall back to a
// human-present flow), "invalid_credential" for a signature, key binding, nonce or issuer that
// does not verify, "invalid_mandate" for everything else (terminal).
std::string_view Ap2ErrorCode(std::string_view reason);

// Thread safety: safe from any thread. Every acceptance of a closed mandate (the check of the
// nonce, single use, budget and recurrence and the durable write) runs under its principal's
// closings lock (one of kAcceptStripes, picked by principal id), so concurrent closings of one
// open mandate are admitted exactly up to its budget, and principals on different stripes never
// wait on each other's lock (ledger payments to one payee still take turns at the ledger's
// account lock). Everything a closing
// checks lives in its principal's records (the x402 binding's key is a hash of the chain,
// unique to the issuing principal's mandate). Issuance and revocation of open mandates take the
// same lock: they change the principal's AP2 status lists, and a revocation must see every
// payment mandate issued for the checkout mandate it revokes.
class Authority {
 public:
  static constexpr size_t kAcceptStripes = 64;
  // The stripe of a principal's closings lock (tests pick principals on different ones).
  static size_t AcceptStripeOf(std::string_view principal) {
    return MutexStripes<kAcceptStripes>::IndexOf(principal);
  }

  Authority(store::KvStore& kv, signer::KeyStore& keys, identity::Directory& directory,
            Clock& clock, Random& random, std::string service_did,
            StatusListsConfig lists = StatusListsConfig());

  // Errors: the request's (ParseIssueOpen, CheckConstraints), the agent's (not found, not active:
  // "agent-state"), kFailedPrecondition "ap2-agent-key" (the agent's key is not P-256),
  // "ap2-mandate-not-found" for checkout_mandate.
  Result<OpenMandate> IssueOpen(const identity::Tenant& t, const IssueOpenRequest& req,
                                const std::string& issued_by);
  // kNotFound "ap2-mandate-not-found".
  Result<OpenMandate> Get(const identity::Tenant& t, const std::string& id);
  // The principal's open mandates in id order after `after` (exclusive, when non-empty) whose
  // agent `keep` accepts, at most `limit`. A stored one that does not read is kDataLoss
  // "corrupt-record".
  Result<std::vector<OpenMandate>> List(const identity::Tenant& t, const std::string& after,
                                        size_t limit,
                                        const std::function<bool(const std::string& agent_id)>& keep);
  // What the closings of open mandate `id` used so far (zeros before the first; a record that
  // does not read is kDataLoss "corrupt-record"), and its
  // closed payments as stored (ClosedRecordToJson), in key order (`<id>/<H(transaction_id)>`)
  // after the key suffix `after`, at most `limit`; `keys` gets each one's suffix.
  Result<Usage> UsageOf(const identity::Tenant& t, const std::string& id);
  Result<std::vector<std::string>> Closings(const identity::Tenant& t, const std::string& id,
                                            const std::string& after, size_t limit,
                                            std::vector<std::string>* keys);
  // Revokes an open mandate for good: written with its `ap2.mandate_revoked` audit event and its
  // status entry (1, and that of every payment mandate issued for it when it is a checkout
  // mandate) in one durable batch, under the closings' lock, so no closing is accepted once this
  // returns and none accepted before is undone. Revoking a revoked mandate changes nothing and
  // answers it as it is. kNotFound "ap2-mandate-not-found".
  Result<OpenMandate> Revoke(const identity::Tenant& t, const std::string& id,
                             const std::string& revoked_by);

  // A fresh challenge for `agent_id`: aud is the service DID; the nonce is single-use.
  Result<Challenge> NewChallenge(const identity::Tenant& t, const std::string& agent_id);

  // Retention (specs/ap2.md §7): deletes `t`'s challenges, up to `limit` of them in nonce
  // order after `after`, that can answer nothing any more: one never used once it expired, one
  // used kChallengeTtlSeconds after its use (it expired by then), with its spent-nonce record.
  // A presentation for a deleted challenge is refused as for one never issued
  // (ap2-nonce-unknown). Deletes under the closings' lock after reading each record again, so a
  // challenge spent meanwhile keeps its nonce record. An unreadable record is left in place.
  Result<identity::PrunePass> PruneChallenges(const identity::Tenant& t, const std::string& after,
                                              size_t limit);

  // An agent presents a closed payment mandate it signed: <open payment>~~<closed hop>, with aud
  // = the service DID and nonce = a challenge issued to it. Verifies the chain (sd_jwt.h), then
  // under the lock: the challenge unused ("ap2-nonce-replayed"), the transaction not closed
  // under this open mandate before ("ap2-closed-mandate-replayed"), every constraint of the
  // stored open mandate with its usage (ap2.h); records all of it in one durable batch with its
  // audit event and returns the record with a signed Payment Receipt.
  // A chain of more than these two hops, or a single SD-JWT with a KB-JWT, is 400
  // "ap2-chain-shape". `stage` (may be empty) adds to the closing's batch. `charge` (may be
  // empty: nothing outside the open mandate is charged) runs last, under the lock, and makes
  // the write.
  Result<ClosedRecord> Present(const identity::Tenant& t, const std::string& agent_id,
                               const std::string& chain, const StageHook& stage = {},
                               const ChargeHook& charge = {});
  // A custodial agent: the service signs the closing hop of `open_id` itself with the agent's
  // custodial P-256 key, for `closed` (the closed payment claims: vct, transaction_id, payee,
  // payment_amount, payment_instrument, ...) and the verifier's `aud` and `nonce`, then accepts
  // it as Present does (the nonce single-use per aud).
  // `closed` is checked by CheckCustodialClosed (ap2.h) before anything else of it.
  // `spent` (the authorization the closing spends): at most one closing is ever accepted for
  // it (409 ap2-authorization-used), checked and recorded under the authority's lock, so
  // concurrent closings cannot pay twice against one hold; the record names it.
  Result<ClosedRecord> CloseCustodial(const identity::Tenant& t, const std::string& agent_id,
                                      const std::string& open_id, json::Value closed,
                                      const std::string& aud, const std::string& nonce,
                                      const SpentAuthorization& spent = {});

  // The Authorizer's hold guard for AP2 (specs/ap2.md §6): an authorization that a custodial
  // closing spent (its money moved) is captured by the closing only, never voided nor captured
  // by anyone else: kFailedPrecondition "ap2-authorization-used". OK for any other.
  // It runs under the Authorizer's principal lock, which closings take while holding their
  // closings lock (the outside charge of Present): it must never take a closings lock.
  Status GuardHold(const std::string& principal_id, const std::string& authorization_id);

  // Custodial closings whose authorization's capture is not written yet (specs/ap2.md §6 step
  // 3): `ap2-capture/<authorization id>` -> the closing's id, put in the closing's own batch and
  // removed by CaptureDone once the hold is captured. What a crash or a storage error between
  // the closing's write and its capture left behind; the service captures them at start and,
  // once a capture failed, before each lease sweep.
  struct PendingCapture {
    std::string authorization_id;
    std::string closing_id;
  };
  Result<std::vector<PendingCapture>> PendingCaptures(const identity::Tenant& t);
  Status CaptureDone(const identity::Tenant& t, const std::string& authorization_id);
  // A pending mark whose hold can never be captured (released by other means, or gone): moved
  // to `ap2-capture-lost/<authorization id>` (the closing's id), for the operator to settle.
  Status CaptureLost(const identity::Tenant& t, const std::string& authorization_id,
                     const std::string& closing_id);

  // The merchant side (specs/ap2.md §8).
  Result<MerchantVerifyResult> VerifyCheckout(const identity::Tenant& t,
                                              const MerchantVerifyRequest& req);

  // A refusal as AP2 words it (specs/ap2.md §8, error receipts): a Payment Receipt (kPayment)
  // or a Checkout Receipt with status "Error", `error` the AP2 code of the refusal's reason
  // (Ap2ErrorCode), `error_description` "<reason>: <message>", `reference` the digest of the
  // terminal hop of `presented` as received (with its `_sd_alg`; sha-256 of the whole text when
  // it does not parse), and for a payment `payment_id`: `transaction_id`, else the closing
  // hop's disclosed transaction_id, else the reference. Signed with the receipts key.
  // `reason` and `detail` are the refusal's as its problem answer states them.
  enum class ReceiptKind { kPayment, kCheckout };
  Result<std::string> ErrorReceipt(ReceiptKind kind, std::string_view presented,
                                   std::string transaction_id, const std::string& reason,
                                   const std::string& detail);

  // The closed payment whose x402 nonce is `nonce_hex` ("0x..."); kNotFound
  // "ap2-payment-missing".
  Result<ClosedRecord> FindByX402Nonce(const identity::Tenant& t, const std::string& nonce_hex);

  // Installs the ledger settlement of kLedgerInstrument payments (none: such payments are
  // refused, kFailedPrecondition "ap2-instrument-unavailable"). REQUIRES: before sharing.
  void set_settle_hook(SettleHook hook) { settle_ = std::move(hook); }
  // Installs the x402 binding of x402 payments (none: they are recorded and indexed by nonce
  // only). REQUIRES: before sharing.
  void set_x402_bind_hook(X402BindHook hook) { x402_bind_ = std::move(hook); }

  // Tests only: runs in every closing after the chain verified and before its principal's
  // closings lock is taken (where a revocation written meanwhile must still be seen). Set
  // before sharing.
  void set_before_closing_lock_for_testing(std::function<void()> f) {
    before_closing_lock_ = std::move(f);
  }

  // The receipts key's public JWK set (for verifying receipts offline).
  Result<json::Value> ReceiptJwks();
  // A principal's AP2 issuer keys as a JWK set, the active one first, then every other one that
  // is not disabled (kid: the key id, as open mandates and status lists name it); empty before
  // its first open mandate. For verifying open mandates and their status lists offline.
  Result<json::Value> IssuerJwks(const std::string& principal_id);
  // The signed statuslist+jwt of a principal's AP2 status list `list` (specs/ap2.md §5.5);
  // kNotFound "status-list-not-found" for a list never allocated.
  Result<ServedStatusList> ServeStatusList(const identity::Tenant& t, uint64_t list);

 private:
  Result<signer::KeyInfo> IssuerKey(const std::string& principal_id);
  Result<signer::KeyInfo> ReceiptKey();
  // `owner`'s keys of `purpose` as a JWK set: `active` first, then the others not disabled.
  Result<json::Value> KeySetJwks(const std::string& owner, std::string_view purpose,
                                 const std::optional<signer::KeyInfo>& active);
  Result<signer::PublicKey> AgentKey(const identity::Agent& agent);
  // Resolves the root of a presented chain to our stored open mandate (kid, jti, exact JWT).
  Result<OpenMandate> RootMandate(const identity::Tenant& t, const std::string& root_jwt,
                                  const std::string& kid, signer::PublicKey* key);
  Result<std::string> SignReceipt(json::Value claims, std::string_view typ);
  // Closing `closed` (spending `authorization_id` when not empty) would repeat nothing: not a
  // transaction closed under `open_id`, paid under another open mandate, nor a spent
  // authorization. Accept runs it under its lock, Precheck before the agent's key signs.
  Status NotClosedBefore(const identity::Tenant& t, const std::string& open_id,
                         const ClosedPayment& closed, const std::string& authorization_id);
  // The checks of Accept's locked part, without writing: run before the service signs a hop.
  Status Precheck(const identity::Tenant& t, const OpenMandate& open, const json::Value& closed,
                  const std::string& aud, const std::string& nonce,
                  const std::string& authorization_id);
  Result<ClosedRecord> Accept(const identity::Tenant& t, const std::string& agent_id,
                              const std::string& chain, const std::string& expect_aud,
                              const std::string& expect_nonce, bool service_challenge,
                              const SpentAuthorization& spent = {},
                              const StageHook& stage = {}, const ChargeHook& charge = {});

  store::KvStore& kv_;
  signer::KeyStore& keys_;
  identity::Directory& directory_;
  Clock& clock_;
  Random& random_;
  std::string service_did_;
  SettleHook settle_;     // set before sharing, then read-only
  std::function<void()> before_closing_lock_;  // likewise (tests)
  X402BindHook x402_bind_;  // likewise
  // The closings locks, by principal (see the class comment). Issuance and revocation take it
  // too: they change the principal's status lists.
  MutexStripes<kAcceptStripes> accept_locks_;
  StatusListBook statuses_;  // the principal's AP2 status lists (ap2-status-list, -meta)
};

}  // namespace mandated::mandates::ap2
