// Facilitator: the x402 facilitator merchants call (specs/x402.md §5): verifies exact EVM
// payments (the reference's off-chain checks plus nonce use and the payer's balance) and settles
// them, once per (chain, token, payer, nonce), recording the result: on the ledger, or on chain
// for a network whose backend is `evm` (specs/evm.md §6), at once or deferred into batches.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/result.h"
#include "settlement/deferred.h"
#include "settlement/evm_chain.h"
#include "settlement/ledger.h"
#include "settlement/usage.h"
#include "settlement/x402_wire.h"
#include "store/kv_store.h"

namespace mandated::settlement {

inline constexpr char kX402Family[] = "x402";

// A settled (or refused) payment as recorded under its nonce key.
struct Settlement {
  std::string key;          // "<chain id>/<token lower>/<payer lower>/<nonce hex>"
  std::string signature;    // 0x hex of the payload's signature
  SettleResponse response;  // the first answer, returned again to an identical retry
  std::string transfer_id;  // the ledger transfer
  std::string authorization_id;  // the payer-side authorization bound to the nonce, if any
  std::string principal;         // that authorization's principal
  std::string amount;            // the value moved, decimal base units
  int64_t at = 0;
  // The evm backend's (specs/evm.md §6.4); ledger settlements leave them empty.
  std::string state;       // "pending", "deferred", "settled" or "failed"; "" = settled
  std::string mode;        // "onchain" or "deferred"; "" = the ledger
  std::string submission;  // the EvmChain submission id carrying it, once submitted
  std::string tx_hash;     // the transaction that mined it (also when it reverted)
  uint64_t chain = 0;
  json::Value payload;       // the payment payload as received, to rebuild the transfer
  json::Value requirements;  // the requirements as received
  std::string agent_id;      // the binding's agent and mandate, for the final audit event
  std::string mandate_id;
  std::string ap2_payment;   // the AP2 closed payment mandate the nonce is bound to, if any
  // The usage event a settled payment bound to a principal is metered as (specs/usage.md §5):
  // {"id","agent","mandate","payee","asset","amount","resource","at"}; null otherwise.
  json::Value usage;
};

// The nonce key a payment's settlement is recorded under (specs/x402.md §5.3):
// "<chain id>/<token lower>/<payer lower>/<nonce hex>".
std::string SettlementKey(uint64_t chain, const Address& token, const Address& payer,
                          const Nonce32& nonce);

// How /x402/settle settled a payment (told to the merchant, specs/x402.md §5.3).
enum class SettleMode { kLedger, kOnchain, kDeferred };

// The settle errorReason for a transfer the node refused before broadcasting it (its gas
// estimation reverted with `message`), read from the revert text as the reference reads its
// client's error: expired, not yet valid, nonce used, balance, signature; else
// "invalid_exact_evm_transaction_failed" (specs/evm.md §6.2).
std::string_view SettleCodeOfRevert(std::string_view message);
std::string_view SettleModeName(SettleMode mode);  // "ledger", "onchain", "deferred"

// What the payer tied an EIP-3009 nonce to when it signed (specs/x402.md §6.3), so settlement
// can capture the authorization and meter the payment under its principal.
struct Binding {
  std::string principal;
  std::string authorization_id;
  std::string agent_id;
  std::string mandate_id;
  std::string payer;  // the agent's address, lower-case: only its own payments use the binding
  int64_t valid_before = 0;  // the signed payment's validBefore (0: not recorded)
  std::string digest;        // 0x hex of the signed payment's EIP-712 digest ("": not recorded)
  std::string settlement_key;  // its nonce key (SettlementKey), where its settlement is recorded
  // An AP2 closed payment mandate paid over x402 (specs/ap2.md §6.1): its id. Such a binding is
  // made when the mandate closes, before any wallet signed, so it names no payer (and no
  // authorization to capture: the closing settled that); the first payer whose payment under
  // the nonce settles claims it, in the same write, and later payers reusing the value get no
  // link.
  std::string ap2_payment;
};

// Called after a payment bound to an authorization of ours settled: capture it for `amount`.
// An error leaves the capture pending; RetryCaptures tries again (the hook must be idempotent).
using CaptureHook = std::function<Status(const std::string& principal,
                                         const std::string& authorization_id, Amount amount)>;

// Called when a payment bound to an authorization of ours failed on chain: release the hold.
// An error leaves the void pending; RetryCaptures tries again (the hook must be idempotent).
using VoidHook =
    std::function<Status(const std::string& principal, const std::string& authorization_id)>;

// Thread safety: safe from any thread; settlements of one nonce key are single-flight.
class Facilitator {
 public:
  Facilitator(store::KvStore& kv, Ledger& ledger, UsageMeter& usage, Clock& clock);

  // The networks (chain ids) whose exact scheme is supported, as GET /x402/supported lists them.
  json::Value Supported() const;

  // POST /x402/verify. `body` is {x402Version, paymentPayload, paymentRequirements}. Malformed
  // bodies are kInvalidArgument (the route answers 400); a payment that fails a check is an OK
  // VerifyResponse with is_valid false.
  Result<VerifyResponse> Verify(const json::Value& body);
  // POST /x402/settle: verifies again, then moves the value once per nonce key: on the ledger
  // from the payer's account to the payee's, or on chain (specs/evm.md §6.2-6.3). An identical
  // retry gets the recorded answer. `mode` (optional) is told how it was settled.
  Result<SettleResponse> Settle(const json::Value& body, SettleMode* mode = nullptr);

  // Makes `chain` the settlement backend of its network. REQUIRES: before the facilitator is
  // shared; `chain` outlives it.
  void AddEvmBackend(EvmChain& chain, EvmSettlementOptions options);
  bool has_evm_backend() const { return !evm_.empty(); }
  // The chains verify and settle accept: the x402 v1 networks (specs/x402.md §2.4) and every
  // chain configured with the evm backend.
  bool Serves(uint64_t chain) const;
  std::vector<uint64_t> ServedChains() const;
  // Polls every submission not yet final once and records the final ones (specs/evm.md §6.5);
  // a submission the chain does not know (a crash before it was handed over) is submitted again
  // under the same id. Returns how many were still pending.
  Result<size_t> ResumeSubmissions();
  // Submits every deferred payment in batches per (payer, payee) (specs/evm.md §6.3). Returns
  // how many payments were submitted.
  Result<size_t> FlushDeferred();
  // Deferred payments not yet submitted, and submissions not yet final.
  Result<std::pair<size_t, size_t>> Backlog();

  // A recorded settlement by nonce key, or nullopt.
  Result<std::optional<Settlement>> Find(const std::string& key);

  // The payer binds nonces of its payments to authorizations (specs/x402.md §6.3): durable
  // before the signed payment is handed out. Rebinding a nonce to the same values is a no-op.
  Status Bind(const Nonce32& nonce, const Binding& binding);
  // Bind, staged into `batch` (written by the caller with its own records).
  static void StageBind(store::WriteBatch& batch, const Nonce32& nonce, const Binding& binding);
  Result<std::optional<Binding>> FindBinding(const Nonce32& nonce);

  // Installs the capture of bound authorizations. REQUIRES: before the facilitator is shared.
  void set_capture_hook(CaptureHook hook) { capture_ = std::move(hook); }
  void set_void_hook(VoidHook hook) { void_ = std::move(hook); }
  // Captures settled payments whose capture has not been written yet (a crash or a failed
  // capture after the settlement committed), and voids failed ones likewise. Returns how many
  // were pending.
  Result<size_t> RetryCaptures();
  // RetryCaptures, only when a capture or void failed since the last retry (the markers are not
  // rescanned every time: the sweeper calls this every round).
  Result<size_t> RetryFailedCaptures();

 private:
  // A /verify or /settle body, parsed; when `parsed` is false `early` says why it is invalid.
  struct Parsed {
    bool parsed = false;
    VerifyResponse early;
    PaymentPayload payload;
    PaymentRequirements requirements;
  };
  Result<Parsed> Parse(const json::Value& body) const;  // the chain must be one it Serves
  // Every check of Verify on a parsed body at `now`: offline, nonce unused (unless the caller
  // already looked it up: `check_nonce` false), payer's balance.
  VerifyResponse Check(const Parsed& in, int64_t now, bool check_nonce = true);
  void CaptureBound(const Settlement& s);
  void VoidBound(const Settlement& s);

  struct EvmBackend {
    EvmChain* chain = nullptr;
    EvmSettlementOptions options;
  };
  EvmBackend* BackendOf(uint64_t chain);
  // The evm part of Settle, with the stripe lock of `key` held (released before waiting).
  // `batch` already holds the claim of an AP2 binding, if any; `claim` (held for it) is released
  // once the batch is written.
  Result<SettleResponse> SettleEvm(const Parsed& in, Settlement s, EvmBackend& backend,
                                   std::unique_lock<std::mutex>& stripe,
                                   std::unique_lock<std::mutex>& claim, store::WriteBatch batch,
                                   SettleMode* mode);
  // Tracks submission `id` until final or `wait_ms` passed, recording the outcome.
  void AwaitFinal(EvmBackend& backend, const std::string& id, int64_t wait_ms);
  // `s`'s answer; while it is pending, with the hash of the transaction broadcast so far.
  SettleResponse PendingWithHash(EvmBackend& backend, const Settlement& s);
  // Hands submission `id` (recorded under sub/<id>) to the chain; a refusal is final.
  void SubmitRecorded(EvmBackend& backend, const std::string& id,
                      const std::vector<std::string>& keys);
  // Records the final outcome of submission `id` for each of its payments, in one batch.
  Status Finalize(const std::string& id, const Submission& sub);

  store::KvStore& kv_;
  Ledger& ledger_;
  UsageMeter& usage_;
  Clock& clock_;
  CaptureHook capture_;
  VoidHook void_;
  std::map<uint64_t, EvmBackend> evm_;  // by chain id; fixed before the facilitator is shared
  std::mutex finalize_mu_;  // one Finalize at a time (a settle's wait and the worker race)
  std::atomic<bool> retry_wanted_{false};  // a capture or void hook failed: markers are left
  std::mutex flush_mu_;     // one FlushDeferred at a time
  std::array<std::mutex, 64> stripes_;  // settlements of one nonce key share a stripe
  // Claims of AP2 bindings (payer-less, so two payers' nonce keys may race for one): the read
  // of the binding and the write that claims it are one step. Taken after a stripe.
  std::mutex claim_mu_;
};

}  // namespace mandated::settlement
