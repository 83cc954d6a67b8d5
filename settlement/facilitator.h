// Facilitator: the x402 facilitator merchants call (specs/x402.md §5): verifies exact EVM
// payments (the reference's off-chain checks plus nonce use and the payer's ledger balance) and
// settles them on the ledger, once per (chain, token, payer, nonce), recording the result.
#pragma once

#include <array>
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
};

// What the payer tied an EIP-3009 nonce to when it signed (specs/x402.md §6.3), so settlement
// can capture the authorization and meter the payment under its principal.
struct Binding {
  std::string principal;
  std::string authorization_id;
  std::string agent_id;
  std::string mandate_id;
  std::string payer;  // the agent's address, lower-case: only its own payments use the binding
};

// Called after a payment bound to an authorization of ours settled: capture it for `amount`.
// An error leaves the capture pending; RetryCaptures tries again (the hook must be idempotent).
using CaptureHook = std::function<Status(const std::string& principal,
                                         const std::string& authorization_id, Amount amount)>;

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
  // POST /x402/settle: verifies again, then moves the value on the ledger from the payer's
  // account to the payee's, once per nonce key; an identical retry gets the first answer.
  Result<SettleResponse> Settle(const json::Value& body);

  // A recorded settlement by nonce key, or nullopt.
  Result<std::optional<Settlement>> Find(const std::string& key);

  // The payer binds nonces of its payments to authorizations (specs/x402.md §6.3): durable
  // before the signed payment is handed out. Rebinding a nonce to the same values is a no-op.
  Status Bind(const Nonce32& nonce, const Binding& binding);
  Result<std::optional<Binding>> FindBinding(const Nonce32& nonce);

  // Installs the capture of bound authorizations. REQUIRES: before the facilitator is shared.
  void set_capture_hook(CaptureHook hook) { capture_ = std::move(hook); }
  // Captures settled payments whose capture has not been written yet (a crash or a failed
  // capture after the settlement committed). Returns how many were pending.
  Result<size_t> RetryCaptures();

 private:
  // A /verify or /settle body, parsed; when `parsed` is false `early` says why it is invalid.
  struct Parsed {
    bool parsed = false;
    VerifyResponse early;
    PaymentPayload payload;
    PaymentRequirements requirements;
  };
  static Result<Parsed> Parse(const json::Value& body);
  // Every check of Verify on a parsed body at `now`: offline, nonce unused (unless the caller
  // already looked it up: `check_nonce` false), payer's balance.
  VerifyResponse Check(const Parsed& in, int64_t now, bool check_nonce = true);
  void CaptureBound(const Settlement& s);

  store::KvStore& kv_;
  Ledger& ledger_;
  UsageMeter& usage_;
  Clock& clock_;
  CaptureHook capture_;
  std::array<std::mutex, 64> stripes_;  // settlements of one nonce key share a stripe
};

}  // namespace mandated::settlement
