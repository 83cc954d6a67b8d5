// Facilitator: the x402 facilitator merchants call (specs/x402.md §4-5): verifies exact EVM
// payments (the reference's off-chain checks plus nonce use and the payer's ledger balance) and
// settles them on the ledger, once per (chain, token, payer, nonce), recording the result.
#pragma once

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
  int64_t at = 0;
};

// Called after a payment bound to an authorization of ours settled: capture it for `amount`.
using CaptureHook = std::function<void(const std::string& principal,
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

  // The payer binds nonces of its payments to authorizations (specs/x402.md §5.3).
  void set_capture_hook(CaptureHook hook) { capture_ = std::move(hook); }

 private:
  store::KvStore& kv_;
  Ledger& ledger_;
  UsageMeter& usage_;
  Clock& clock_;
  CaptureHook capture_;
  std::mutex inflight_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> inflight_;
};

}  // namespace mandated::settlement
