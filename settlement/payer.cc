// Payer (specs/x402.md §6): the only way an agent's custodial key signs an x402 payment, and only
// for a requirement its mandate allows, after the authorization held the amount.
#include "settlement/payer.h"

#include <algorithm>

#include "base/asset.h"
#include "base/bytes.h"
#include "mandates/credential.h"
#include "mandates/purchase.h"
#include "signer/ethereum.h"
#include "signer/jws.h"
#include "signer/keccak.h"

namespace mandated::settlement {
namespace {

// v1 clients start an authorization's life ten minutes back (clock skew between payer and chain).
constexpr int64_t kValidAfterSkewS = 600;

Status PayInvalid(std::string detail) {
  return InvalidArgumentError(std::move(detail), "x402-pay-invalid");
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The mandate's spelling of the requirement's asset when it names it (CAIP-19 addresses may be
// written in any case), else the lower-case CAIP-19 id (which the terms then refuse).
std::string AssetFor(const mandates::MandateTerms& terms, uint64_t chain, const Address& token) {
  const std::string id = "eip155:" + std::to_string(chain) + "/erc20:" + AddressLower(token);
  for (const std::string& a : terms.scope.assets) {
    if (EqualsIgnoreCase(a, id)) return a;
  }
  return id;
}

bool IsHttpUrl(const std::string& s) {
  return (s.rfind("https://", 0) == 0 || s.rfind("http://", 0) == 0) && s.size() <= 2048 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

Result<mandates::MandateTerms> TermsOf(const mandates::MandateRecord& m) {
  MD_ASSIGN_OR_RETURN(signer::Jws jws, signer::ParseJws(m.token));
  MD_ASSIGN_OR_RETURN(json::Value payload, json::Parse(jws.payload));
  MD_ASSIGN_OR_RETURN(mandates::MandateCredential credential,
                      mandates::ParseMandateCredential(payload));
  return credential.terms;
}

// The EIP-3009 nonce of the payment for authorization `id`: fixed by the authorization, so one
// authorization can never be paid twice and settlement can find it again.
Nonce32 NonceFor(const std::string& principal, const std::string& id) {
  const std::string seed = "mandated/x402/nonce/" + principal + "/" + id;
  const Bytes h =
      signer::Keccak256(ByteSpan(reinterpret_cast<const uint8_t*>(seed.data()), seed.size()));
  Nonce32 n{};
  std::copy(h.begin(), h.end(), n.begin());
  return n;
}

Status CheckCustodial(const identity::Agent& agent) {
  if (agent.custody != "custodial" || agent.key_type != "secp256k1" || agent.address.empty()) {
    return FailedPreconditionError("agent " + agent.id + " has no custodial secp256k1 key to pay "
                                   "with", "x402-no-custodial-key");
  }
  return OkStatus();
}

}  // namespace

Result<PayRequest> ParsePayRequest(const json::Value& body) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  PayRequest req;
  MD_ASSIGN_OR_RETURN(std::optional<std::string> mandate, r.OptionalString("mandate_id"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> authorization,
                      r.OptionalString("authorization_id"));
  MD_ASSIGN_OR_RETURN(const json::Value* required, r.Required("payment_required"));
  MD_RETURN_IF_ERROR(r.Finish());
  if (mandate.has_value() == authorization.has_value()) {
    return PayInvalid("name exactly one of mandate_id and authorization_id");
  }
  if (!required->is_object()) return PayInvalid("/payment_required must be an object");
  req.mandate_id = mandate.value_or("");
  req.authorization_id = authorization.value_or("");
  req.payment_required = *required;
  return req;
}

Payer::Payer(policy::Authorizer& authorizer, mandates::MandateRegistry& mandates,
             identity::Directory& directory, signer::KeyStore& keys, Facilitator& facilitator,
             Clock& clock)
    : authorizer_(authorizer),
      mandates_(mandates),
      directory_(directory),
      keys_(keys),
      facilitator_(facilitator),
      clock_(clock) {}

Status Payer::GuardHold(const std::string& principal, const std::string& authorization_id,
                        int64_t now) {
  MD_ASSIGN_OR_RETURN(std::optional<Binding> b,
                      facilitator_.FindBinding(NonceFor(principal, authorization_id)));
  if (!b || b->authorization_id != authorization_id) return OkStatus();
  if (!b->settlement_key.empty()) {
    MD_ASSIGN_OR_RETURN(std::optional<Settlement> s, facilitator_.Find(b->settlement_key));
    if (s && s->state != "failed") {
      // Settled (its capture may not have committed yet) or settling on chain, whatever the
      // time: the hold ends with the capture, or with the void of a failed payment.
      return FailedPreconditionError("the payment signed for authorization " + authorization_id +
                                         " is settled or settling: its hold ends with that",
                                     "payment-signed");
    }
    // Failed (reverted, refused): the EIP-3009 nonce is still unused on chain, so the signed
    // payment can still move money (sent again by anyone) until its validBefore, below.
  }
  // The facilitator judges validBefore by the wall clock; `now` is the principal's time, which
  // runs ahead of it after the wall clock stepped back. The earlier of the two: the hold is
  // released only once the facilitator refuses the payment too.
  now = std::min(now, clock_.NowUnixSeconds());
  if (b->valid_before != 0 && now >= b->valid_before) return OkStatus();  // can no longer settle
  const std::string until =
      b->valid_before != 0 ? std::to_string(b->valid_before) : std::string("its hold lapses");
  return FailedPreconditionError("a payment signed for authorization " + authorization_id +
                                     " can settle until " + until +
                                     ": its hold ends when the payment settles or fails, or when "
                                     "its lease ends",
                                 "payment-signed");
}

Result<Choice> Payer::Choose(const identity::Tenant& t, const policy::Actor& actor,
                             const PayRequest& req) {
  std::string mandate_id = req.mandate_id;
  std::optional<policy::Authorization> approved;  // paying an approved authorization
  if (!req.authorization_id.empty()) {
    MD_ASSIGN_OR_RETURN(approved, authorizer_.Get(t, req.authorization_id));
    if (approved->agent_id != actor.agent_id) {
      return NotFoundError("no authorization " + req.authorization_id, "authorization-not-found");
    }
    mandate_id = approved->mandate_id;
  }
  MD_ASSIGN_OR_RETURN(mandates::MandateRecord m, mandates_.Get(t, mandate_id));
  if (m.agent_id != actor.agent_id) {
    return NotFoundError("no mandate " + mandate_id, "mandate-not-found");
  }
  MD_ASSIGN_OR_RETURN(mandates::MandateTerms terms, TermsOf(m));

  const json::Value& pr = req.payment_required;
  const json::Value* version_v = pr.Find("x402Version");
  const std::optional<int64_t> version = version_v != nullptr ? version_v->as_int64() : std::nullopt;
  if (version != kX402V1 && version != kX402V2) {
    return PayInvalid("/payment_required/x402Version must be 1 or 2");
  }
  const json::Value* accepts = pr.Find("accepts");
  if (accepts == nullptr || !accepts->is_array() || accepts->items().empty()) {
    return PayInvalid("/payment_required/accepts must be a non-empty array");
  }
  json::Value resource;
  json::Value extensions;
  std::string resource_url;
  if (*version == kX402V2) {
    if (const json::Value* r = pr.Find("resource"); r != nullptr && r->is_object()) {
      resource = *r;
      if (const json::Value* url = r->Find("url"); url != nullptr && url->is_string()) {
        resource_url = url->as_string();
      }
    }
    // Echoed in the payload as the reference client does (specs/x402.md §6.3).
    if (const json::Value* e = pr.Find("extensions"); e != nullptr && e->is_object()) {
      extensions = *e;
    }
  }

  std::vector<Choice> usable;
  std::vector<std::string> skipped;
  for (size_t i = 0; i < accepts->items().size(); ++i) {
    const std::string where = "/payment_required/accepts/" + std::to_string(i);
    Result<PaymentRequirements> parsed =
        ParseRequirements(accepts->items()[i], static_cast<int>(*version), where);
    if (!parsed.ok()) {
      skipped.push_back(parsed.error().message());
      continue;
    }
    if (parsed->scheme != "exact") {
      skipped.push_back(where + ": scheme " + parsed->scheme + " is not supported");
      continue;
    }
    if (parsed->chain_id == 0) {
      skipped.push_back(where + ": network " + parsed->network + " is not an EVM chain we know");
      continue;
    }
    if (!parsed->eip712_name || parsed->eip712_name->empty() || !parsed->eip712_version ||
        parsed->eip712_version->empty()) {  // what every verifier refuses (missing domain)
      skipped.push_back(where + ": extra.name and extra.version (the token's EIP-712 domain) "
                        "are required");
      continue;
    }
    if (parsed->amount.is_zero()) {
      // Nothing to pay, and nothing a facilitator would settle ("the ledger moves no payment
      // of 0"): holding it would take one of the mandate's uses for nothing.
      skipped.push_back(where + ": an amount of 0 is no payment");
      continue;
    }
    Choice c;
    c.version = static_cast<int>(*version);
    c.resource = resource;
    c.extensions = extensions;
    c.purchase.payee = {mandates::PayeeType::kAddress, AddressLower(parsed->pay_to)};
    c.purchase.amount = parsed->amount;
    c.purchase.asset = AssetFor(terms, parsed->chain_id, parsed->asset);
    c.purchase.network = "eip155:" + std::to_string(parsed->chain_id);
    const std::string url = *version == kX402V1 ? parsed->resource : resource_url;
    if (IsHttpUrl(url)) {
      // As a purchase body's resource is kept (scheme and host in lower case). One a purchase
      // body could not state (an ambiguous path, specs/mandate.md §7.2) makes the requirement
      // unusable: nothing is held or recorded for it.
      Result<std::string> normalized = mandates::NormalizePurchaseResource(url);
      if (!normalized.ok()) {
        skipped.push_back(where + ": the resource " + normalized.error().message());
        continue;
      }
      c.purchase.resource = std::move(*normalized);
    }
    c.requirements = std::move(*parsed);
    usable.push_back(std::move(c));
  }
  if (usable.empty()) {
    std::string detail = "no requirement of the 402 answer can be paid:";
    for (const std::string& s : skipped) detail += " " + s + ";";
    detail.pop_back();
    return FailedPreconditionError(std::move(detail), "x402-no-acceptable-requirement");
  }
  if (approved) {
    // Paying an approved authorization: the requirement must be the purchase it approved.
    mandates::Purchase allowed = approved->purchase;
    allowed.at.reset();
    for (Choice& c : usable) {
      mandates::Purchase p = c.purchase;
      p.at.reset();
      if (p == allowed) return std::move(c);
    }
    return FailedPreconditionError("no requirement of the 402 answer is the purchase authorization " +
                                       approved->id + " allowed",
                                   "x402-requirement-mismatch");
  }
  for (Choice& c : usable) {
    if (mandates::CheckPurchase(terms, c.purchase, m.id).empty()) return std::move(c);
  }
  return std::move(usable.front());  // refused by the authorization, with its reasons
}

Result<policy::Answer> Payer::Pay(const identity::Tenant& t, const policy::Actor& actor,
                                  const PayRequest& req, const Choice& choice,
                                  const policy::IdempotencyClaim* claim) {
  if (!req.authorization_id.empty()) {
    MD_ASSIGN_OR_RETURN(policy::Authorization a, authorizer_.Get(t, req.authorization_id));
    // A session limited to some mandates pays (and reads) only under them
    // (specs/access.md): refused before anything is recorded.
    if (!actor.mandate_scope.empty() &&
        std::find(actor.mandate_scope.begin(), actor.mandate_scope.end(), a.mandate_id) ==
            actor.mandate_scope.end()) {
      return PermissionDeniedError("authorization " + a.id + " is under mandate " +
                                       a.mandate_id + ", outside this session's mandates",
                                   "mandate-out-of-scope");
    }
    policy::Answer stored{200, json::Write(policy::AuthorizationToJson(a)), a.id, a.decision};
    if (claim != nullptr) {
      // A retry re-renders this record, as it does an authorization answer.
      MD_RETURN_IF_ERROR(
          claim->RecordAlone(policy::StoredAnswer{200, "application/json", stored.body}));
    }
    return Render(t, actor, choice, stored, /*reread=*/false);
  }
  // A payment needs the agent's custodial key: refuse before anything is held or recorded.
  MD_ASSIGN_OR_RETURN(identity::Agent agent, directory_.GetAgent(t, actor.agent_id));
  MD_RETURN_IF_ERROR(CheckCustodial(agent));
  policy::AuthorizeRequest ar;
  ar.mandate_id = req.mandate_id;
  ar.purchase = choice.purchase;
  MD_ASSIGN_OR_RETURN(policy::Answer answer, authorizer_.Authorize(t, actor, ar, claim));
  return Render(t, actor, choice, answer, /*reread=*/false);
}

Result<policy::Answer> Payer::Render(const identity::Tenant& t, const policy::Actor& actor,
                                     const Choice& choice, const policy::Answer& given,
                                     bool reread) {
  MD_ASSIGN_OR_RETURN(json::Value record, json::Parse(given.body));
  // A denial's answer adds the headroom it saw to the record: read the record without it.
  json::Value stored = json::Value::Object();
  if (record.is_object()) {
    for (const std::string& key : record.keys()) {
      if (key != "headroom") stored.Set(key, *record.Find(key));
    }
  }
  MD_ASSIGN_OR_RETURN(policy::Authorization a, policy::AuthorizationFromJson(stored));
  if (reread) {
    if (Result<policy::Authorization> now = authorizer_.Get(t, a.id); now.ok()) a = std::move(*now);
  }
  a = policy::EffectiveAt(std::move(a), clock_.NowUnixSeconds());

  json::Value out = json::Value::Object();
  out.Set("decision", json::Value::String(a.decision));
  out.Set("authorization_id", json::Value::String(a.id));
  const bool held = a.decision == policy::kAllowed && a.reservation &&
                    a.reservation->state == "reserved";
  if (!held) {
    // Denied, waiting for a person, or no longer held: nothing is signed. A retry shows the
    // authorization as it stands when its decision changed since (a step-up decided).
    const json::Value* was = record.is_object() ? record.Find("decision") : nullptr;
    if (reread && (was == nullptr || !was->is_string() || was->as_string() != a.decision)) {
      record = policy::AuthorizationToJson(a);
    }
    out.Set("authorization", std::move(record));
    return policy::Answer{given.status, json::Write(out), a.id, a.decision};
  }

  MD_ASSIGN_OR_RETURN(identity::Agent agent, directory_.GetAgent(t, actor.agent_id));
  MD_RETURN_IF_ERROR(CheckCustodial(agent));
  const PaymentRequirements& r = choice.requirements;
  PaymentPayload p;
  p.version = choice.version;
  p.scheme = r.scheme;
  p.network = r.network;
  if (choice.version == kX402V2) {
    p.accepted = r;
    p.resource = choice.resource;
    p.extensions = choice.extensions;
  }
  Authorization3009& auth = p.authorization;
  MD_ASSIGN_OR_RETURN(Bytes from, signer::ParseAddress(agent.address, false));
  std::copy(from.begin(), from.end(), auth.from.begin());
  auth.to = r.pay_to;
  auth.value = r.amount;
  // The window starts when the hold was granted: at the decision, or at the approval of a
  // request that waited for one (the record's updated_at while it is held), so a payment for an
  // approved authorization is not born expired.
  const int64_t allowed_at = a.updated_at > 0 ? a.updated_at : a.created_at;
  auth.valid_after = choice.version == kX402V1 && allowed_at > kValidAfterSkewS
                         ? static_cast<Uint128>(allowed_at - kValidAfterSkewS)
                         : 0;
  const int64_t until = std::min(allowed_at + r.max_timeout_seconds, a.reservation->expires_at);
  auth.valid_before = static_cast<Uint128>(std::max<int64_t>(until, 0));
  auth.nonce = NonceFor(t.principal_id(), a.id);

  Binding binding;
  binding.principal = t.principal_id();
  binding.authorization_id = a.id;
  binding.agent_id = a.agent_id;
  binding.mandate_id = a.mandate_id;
  binding.payer = AddressLower(auth.from);
  binding.valid_before = until;
  const std::array<uint8_t, 32> digest =
      Eip3009Digest(*r.eip712_name, *r.eip712_version, r.chain_id, r.asset, auth);
  binding.digest = "0x" + HexEncode(digest);
  binding.settlement_key = SettlementKey(r.chain_id, r.asset, auth.from, auth.nonce);
  // One authorization, one payment: another rendering (another token domain, version or
  // timeout) would be a second signed payment under the same nonce.
  auto same_payment = [&](const Binding& bound) -> Status {
    if (bound.digest.empty() || bound.digest == binding.digest) return OkStatus();
    return FailedPreconditionError(
        "authorization " + a.id + " already has a signed payment, for other requirements; its "
        "first Idempotency-Key answers it again",
        "x402-payment-signed");
  };
  MD_ASSIGN_OR_RETURN(std::optional<Binding> bound, facilitator_.FindBinding(auth.nonce));
  if (bound) {
    MD_RETURN_IF_ERROR(same_payment(*bound));
  } else {
    // The first signing: the hold must still be live and the actor entitled to it, and no void
    // may slip in between that check and the binding (specs/x402.md §6.4). Two first signings
    // racing: the second finds the first's binding here, under the busy hold.
    Status bound_now = authorizer_.BindPayment(t, actor, a.id, [&]() -> Status {
      MD_ASSIGN_OR_RETURN(std::optional<Binding> now, facilitator_.FindBinding(auth.nonce));
      if (now) return same_payment(*now);
      return facilitator_.Bind(auth.nonce, binding);
    });
    if (!bound_now.ok()) {
      // The decision is recorded (a retry replays it and ends here again while the hold cannot
      // be paid): name the held authorization, which the agent may void or let lapse.
      return Status(bound_now.code(),
                    "authorization " + a.id + " is held but no payment is signed for it: " +
                        bound_now.message(),
                    std::string(bound_now.reason()));
    }
  }

  MD_ASSIGN_OR_RETURN(p.signature, keys_.SignDigestRecoverable(agent.key_id, digest));

  json::Value payload = PayloadToJson(p);
  out.Set("x402_version", json::Value::Int(choice.version));
  out.Set("header", json::Value::String(choice.version == kX402V1 ? "X-PAYMENT"
                                                                  : "PAYMENT-SIGNATURE"));
  out.Set("value", json::Value::String(EncodeHeaderJson(payload)));
  out.Set("payment_payload", std::move(payload));
  out.Set("accepted", r.raw);
  out.Set("valid_before", json::Value::String(std::to_string(static_cast<int64_t>(until))));
  out.Set("authorization", policy::AuthorizationToJson(a));
  return policy::Answer{given.status, json::Write(out), a.id, a.decision};
}

}  // namespace mandated::settlement
