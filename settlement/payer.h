// Payer: x402 payments signed by an agent's custodial key, only inside a mandate (specs/x402.md
// §6): picks an acceptable requirement of a 402 answer, runs the same authorization as any
// purchase, binds the EIP-3009 nonce to that authorization and signs the payment header.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/result.h"
#include "identity/directory.h"
#include "identity/tenant.h"
#include "mandates/purchase.h"
#include "mandates/registry.h"
#include "policy/authorizer.h"
#include "policy/idempotency.h"
#include "settlement/facilitator.h"
#include "settlement/x402_wire.h"
#include "signer/key_store.h"

namespace mandated::settlement {

// The body of POST /v1/x402/pay: {"mandate_id", "payment_required"} to ask anew, or
// {"authorization_id", "payment_required"} to sign for an authorization a person approved.
// `payment_required` is the v1 402 JSON body or the v2 PaymentRequired object (the decoded
// PAYMENT-REQUIRED header). Errors: kInvalidArgument with the JSON pointer ("x402-pay-invalid").
struct PayRequest {
  std::string mandate_id;
  std::string authorization_id;
  json::Value payment_required;
};
Result<PayRequest> ParsePayRequest(const json::Value& body);

// The requirement picked from a 402 answer and the purchase it stands for.
struct Choice {
  int version = kX402V2;
  PaymentRequirements requirements;
  json::Value resource;  // v2: PaymentRequired.resource (echoed in the payload); else null
  json::Value extensions;  // v2: PaymentRequired.extensions when an object (echoed); else null
  mandates::Purchase purchase;
};

// Thread safety: safe from any thread (the services it calls are).
class Payer {
 public:
  Payer(policy::Authorizer& authorizer, mandates::MandateRegistry& mandates,
        identity::Directory& directory, signer::KeyStore& keys, Facilitator& facilitator,
        Clock& clock);

  // Picks the first requirement the mandate's static terms allow (exact scheme, a known EVM
  // network, payee, asset, network, amount, resource), else the first usable one so that the
  // authorization records the denial with its reasons. A deterministic function of the request
  // and the mandate. kFailedPrecondition "x402-no-acceptable-requirement" when none is usable,
  // naming why each was skipped; kNotFound for a mandate the caller cannot use.
  Result<Choice> Choose(const identity::Tenant& t, const policy::Actor& actor,
                        const PayRequest& req);

  // The authorizer's hold guard (policy::Authorizer::set_hold_guard): 409 payment-signed while
  // a payment this payer signed for the authorization can still settle (before its
  // validBefore), so its hold is neither released nor captured (for less) by anyone but the
  // settlement under a payment that then moves money uncounted (specs/x402.md §6.4).
  Status GuardHold(const std::string& principal, const std::string& authorization_id, int64_t now);

  // Asks for the authorization (recording its answer under `claim`) and renders the pay answer.
  Result<policy::Answer> Pay(const identity::Tenant& t, const policy::Actor& actor,
                             const PayRequest& req, const Choice& choice,
                             const policy::IdempotencyClaim* claim);

  // The pay answer for an authorization answer (a fresh one or one replayed for the same
  // Idempotency-Key): allowed -> the signed payment; otherwise the decision as it stands. The
  // signature is deterministic (RFC 6979 over a digest fixed by the authorization), so a replay
  // hands out the same payment, never a second one. `reread`: read the record as it stands now
  // (a replay may come after the lease ended or an approval decided); false for an answer just
  // written.
  Result<policy::Answer> Render(const identity::Tenant& t, const policy::Actor& actor,
                                const Choice& choice, const policy::Answer& authorization_answer,
                                bool reread = true);

 private:
  policy::Authorizer& authorizer_;
  mandates::MandateRegistry& mandates_;
  identity::Directory& directory_;
  signer::KeyStore& keys_;
  Facilitator& facilitator_;
  Clock& clock_;
};

}  // namespace mandated::settlement
