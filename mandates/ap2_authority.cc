// Ap2Authority: issuance of open AP2 mandates, acceptance of closed ones with stateful
// enforcement, and merchant verification with signed receipts (specs/ap2.md §6-§8).
#include "mandates/ap2_authority.h"

#include <utility>
#include <vector>

#include "audit/event.h"
#include "base/bytes.h"
#include "mandates/credential.h"
#include "mandates/sd_jwt.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/keccak.h"

namespace mandated::mandates::ap2 {
namespace {

constexpr char kOpenKind[] = "ap2-mandate";
constexpr char kUsageKind[] = "ap2-usage";
constexpr char kClosedKind[] = "ap2-closed";     // "<open id>/<transaction digest>"
constexpr char kClosedByTx[] = "ap2-closed-tx";  // "<transaction_id digest>" -> closed id
constexpr char kClosedByAtz[] = "ap2-closed-atz";  // "<authorization id>" -> the closing's id
constexpr char kCapturePending[] = "ap2-capture";  // the same, until its capture is written
constexpr char kCaptureLost[] = "ap2-capture-lost";  // the same, when it never can be
constexpr char kChallengeKind[] = "ap2-challenge";
constexpr char kNonceKind[] = "ap2-nonce";       // digest of aud "\n" nonce: used nonces
constexpr char kX402Kind[] = "ap2-x402";         // "0x<keccak256(chain)>" -> closed record
// Payment mandates issued for a checkout mandate: "<checkout id>/<payment id>" -> "" (its
// revocation sets their status entries too).
constexpr char kCheckoutPaymentKind[] = "ap2-checkout-payment";
constexpr char kStatusListKind[] = "ap2-status-list";  // "<n>" -> the raw 2-bit status bytes
constexpr char kStatusMetaKind[] = "ap2-status-meta";  // "next" -> the next free index
constexpr char kRootTyp[] = "dc+sd-jwt";

std::string KindName(Kind k) { return k == Kind::kPayment ? "payment" : "checkout"; }
std::string Digest(std::string_view s) { return sdjwt::HashB64(sdjwt::HashAlg::kSha256, s); }
std::string StrOf(const json::Value& v, std::string_view key) {
  const json::Value* m = v.is_object() ? v.Find(key) : nullptr;
  return m != nullptr && m->is_string() ? m->as_string() : "";
}
int64_t IntOf(const json::Value& v, std::string_view key) {
  const json::Value* m = v.is_object() ? v.Find(key) : nullptr;
  return m != nullptr && m->is_number() ? m->as_int64().value_or(0) : 0;
}

Result<OpenMandate> OpenFromJson(std::string_view text) {
  MD_ASSIGN_OR_RETURN(json::Value v, json::Parse(text));
  OpenMandate m;
  m.id = StrOf(v, "id");
  m.principal_id = StrOf(v, "principal");
  m.agent_id = StrOf(v, "agent");
  m.kind = StrOf(v, "kind") == "checkout" ? Kind::kCheckout : Kind::kPayment;
  m.token = StrOf(v, "token");
  m.digest = StrOf(v, "digest");
  m.key_id = StrOf(v, "key_id");
  m.issued_at = IntOf(v, "issued_at");
  m.expires_at = IntOf(v, "expires_at");
  const json::Value* format = v.Find("format");
  m.format = format != nullptr ? static_cast<int>(format->as_int64().value_or(1)) : 1;
  m.revoked_at = IntOf(v, "revoked_at");
  m.revoked_by = StrOf(v, "revoked_by");
  m.checkout_mandate_id = StrOf(v, "checkout_mandate");
  // The status entry only when every part of it reads: a damaged one is no entry at all, never
  // another mandate's (a revocation would set that one).
  if (const json::Value* st = v.Find("status_list"); st != nullptr && st->is_object()) {
    const json::Value* list = st->Find("list");
    const json::Value* idx = st->Find("idx");
    const std::optional<int64_t> l = list != nullptr ? list->as_int64() : std::nullopt;
    const std::optional<int64_t> i = idx != nullptr ? idx->as_int64() : std::nullopt;
    if (l && i && *l >= 0 && *i >= 0 && !StrOf(*st, "uri").empty()) {
      m.status = StatusSlot{static_cast<uint64_t>(*l), static_cast<uint64_t>(*i)};
      m.status_uri = StrOf(*st, "uri");
    }
  }
  return m;
}

// The usage record as stored (zeros before the first closing); a record that does not read is
// kDataLoss "corrupt-record" (a closing must not take it for nothing spent).
Result<Usage> UsageFromJson(const std::optional<std::string>& text) {
  Usage u;
  if (!text.has_value()) return u;
  Result<json::Value> v = json::Parse(*text);
  if (!v.ok() || !v->is_object()) {
    return DataLossError("a stored AP2 usage record does not parse", "corrupt-record");
  }
  u.spent = IntOf(*v, "spent");
  u.uses = IntOf(*v, "uses");
  if (v->Find("last_use_at") != nullptr) u.last_use_at = IntOf(*v, "last_use_at");
  return u;
}
std::string UsageToJson(const Usage& u) {
  json::Value v = json::Value::Object();
  v.Set("spent", json::Value::Int(u.spent));
  v.Set("uses", json::Value::Int(u.uses));
  if (u.last_use_at) v.Set("last_use_at", json::Value::Int(*u.last_use_at));
  return json::Write(v);
}


// A closed mandate is exactly <open mandate>~~<closed hop> (specs/ap2.md §6, §8): AP2's SDK
// requires two payloads, and the authority evaluates only the root's constraints, so neither a
// single SD-JWT with a KB-JWT nor a delegation through intermediate hops is accepted.
Status CheckChainShape(const sdjwt::Presentation& p, std::string_view what) {
  if (p.hops.size() == 1 && !p.kb_jwt.empty()) {
    return InvalidArgumentError(std::string(what) + " is <open mandate>~~<closed hop>, not an "
                                                    "SD-JWT with a KB-JWT",
                                "ap2-chain-shape");
  }
  if (p.hops.size() < 2) {
    return InvalidArgumentError(std::string(what) + " is <open mandate>~~<closed hop>",
                                "sd-jwt-key-binding-missing");
  }
  if (p.hops.size() > 2) {
    return InvalidArgumentError(std::string(what) + " has " + std::to_string(p.hops.size()) +
                                    " hops; AP2 closes an open mandate with exactly one hop",
                                "ap2-chain-shape");
  }
  return OkStatus();
}

}  // namespace

json::Value OpenMandateToJson(const OpenMandate& m) {
  json::Value v = json::Value::Object();
  v.Set("id", json::Value::String(m.id));
  v.Set("principal", json::Value::String(m.principal_id));
  v.Set("agent", json::Value::String(m.agent_id));
  v.Set("kind", json::Value::String(KindName(m.kind)));
  v.Set("vct", json::Value::String(std::string(VctOf(m.kind))));
  v.Set("token", json::Value::String(m.token));
  v.Set("digest", json::Value::String(m.digest));
  v.Set("key_id", json::Value::String(m.key_id));
  v.Set("issued_at", json::Value::Int(m.issued_at));
  v.Set("expires_at", json::Value::Int(m.expires_at));
  v.Set("format", json::Value::Int(m.format));
  if (!m.checkout_mandate_id.empty()) {
    v.Set("checkout_mandate", json::Value::String(m.checkout_mandate_id));
  }
  if (m.status) {
    v.Set("status_list", json::Value::Object()
                             .Set("list", json::Value::Uint(m.status->list))
                             .Set("idx", json::Value::Uint(m.status->idx))
                             .Set("uri", json::Value::String(m.status_uri)));
  }
  if (m.revoked_at != 0) {
    v.Set("revoked_at", json::Value::Int(m.revoked_at));
    v.Set("revoked_by", json::Value::String(m.revoked_by));
  }
  return v;
}

Authority::Authority(store::KvStore& kv, signer::KeyStore& keys, identity::Directory& directory,
                     Clock& clock, Random& random, std::string service_did,
                     StatusListsConfig lists)
    : kv_(kv), keys_(keys), directory_(directory), clock_(clock), random_(random),
      service_did_(std::move(service_did)),
      statuses_(keys, clock, [this, &lists] {
        StatusBookOptions o;
        o.list_kind = kStatusListKind;
        o.meta_kind = kStatusMetaKind;
        o.list_size = lists.list_size;
        o.ttl_s = lists.ttl_s;
        o.exp_s = lists.exp_s;
        o.uri = [base = lists.public_base_url](std::string_view principal, uint64_t list) {
          return base + "/v1/ap2/status-lists/" + std::string(principal) + "/" +
                 std::to_string(list);
        };
        // As the open mandates: "iss" the principal, signed by its AP2 issuer key, which the
        // header names by key id (§5.1).
        o.issuer = [](std::string_view principal) { return std::string(principal); };
        // With no active AP2 issuer key (the last one disabled), a new one signs the lists, as
        // the next issuance would make one: offline verifiers still get them.
        o.signing_key = [this](std::string_view principal) {
          return IssuerKey(std::string(principal));
        };
        o.kid = [](std::string_view, const signer::KeyInfo& key) { return key.id; };
        return o;
      }()) {}

json::Value ClosedRecordToJson(const ClosedRecord& r) {
  json::Value v = json::Value::Object();
  v.Set("id", json::Value::String(r.id));
  v.Set("open_mandate", json::Value::String(r.open_mandate_id));
  v.Set("agent", json::Value::String(r.agent_id));
  v.Set("transaction_id", json::Value::String(r.transaction_id));
  v.Set("nonce", json::Value::String(r.nonce));
  v.Set("payee", r.payment.payee);
  v.Set("payment_amount", json::Value::Object()
                              .Set("amount", json::Value::Int(r.payment.amount))
                              .Set("currency", json::Value::String(r.payment.currency)));
  v.Set("payment_instrument", r.payment.payment_instrument);
  v.Set("chain", json::Value::String(r.chain));
  v.Set("reference", json::Value::String(r.reference));
  v.Set("payment_receipt", json::Value::String(r.receipt));
  if (!r.x402_nonce.empty()) v.Set("x402_nonce", json::Value::String(r.x402_nonce));
  if (!r.ledger_transfer.empty()) v.Set("ledger_transfer", json::Value::String(r.ledger_transfer));
  if (!r.authorization_id.empty()) {
    v.Set("authorization", json::Value::String(r.authorization_id));
    v.Set("authorization_mandate", json::Value::String(r.authorization_mandate));
  }
  v.Set("closed_at", json::Value::Int(r.closed_at));
  return v;
}

Result<IssueOpenRequest> ParseIssueOpen(const json::Value& body) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  IssueOpenRequest req;
  MD_ASSIGN_OR_RETURN(req.agent_id, r.String("agent"));
  MD_ASSIGN_OR_RETURN(std::string kind, r.String("kind"));
  if (kind != "payment" && kind != "checkout") {
    return InvalidArgumentError("/kind: must be payment or checkout", "bad-value");
  }
  req.kind = kind == "payment" ? Kind::kPayment : Kind::kCheckout;
  MD_ASSIGN_OR_RETURN(const json::Value* constraints, r.Required("constraints"));
  req.constraints = *constraints;
  if (const json::Value* preset = r.Optional("preset"); preset != nullptr) {
    if (!preset->is_object() || req.kind != Kind::kPayment) {
      return InvalidArgumentError("/preset: an object, for payment mandates only", "bad-value");
    }
    for (const std::string& k : preset->keys()) {
      if (k != "payee" && k != "payment_amount" && k != "payment_instrument" && k != "pisp" &&
          k != "execution_date") {
        return InvalidArgumentError("/preset/" + k + ": not a claim an open payment mandate "
                                    "may pre-set", "unknown-field");
      }
    }
    req.preset = *preset;
  }
  MD_ASSIGN_OR_RETURN(std::optional<std::string> checkout, r.OptionalString("checkout_mandate"));
  if (checkout.has_value()) {
    if (req.kind != Kind::kPayment) {
      return InvalidArgumentError("/checkout_mandate: for payment mandates only", "bad-value");
    }
    req.checkout_mandate = *checkout;
  }
  MD_ASSIGN_OR_RETURN(std::optional<int64_t> ttl, r.OptionalInt("ttl_seconds"));
  if (ttl.has_value()) {
    if (*ttl < 60 || *ttl > 31622400) {
      return InvalidArgumentError("/ttl_seconds: 60 to 31622400", "bad-value");
    }
    req.ttl_s = *ttl;
  }
  MD_RETURN_IF_ERROR(r.Finish());
  return req;
}

Result<MerchantVerifyRequest> ParseMerchantVerify(const json::Value& body) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  MerchantVerifyRequest req;
  MD_ASSIGN_OR_RETURN(req.checkout_chain, r.String("checkout_chain"));
  MD_ASSIGN_OR_RETURN(req.checkout_jwt, r.String("checkout_jwt"));
  MD_ASSIGN_OR_RETURN(const json::Value* jwk, r.Required("merchant_jwk"));
  req.merchant_jwk = *jwk;
  MD_ASSIGN_OR_RETURN(req.aud, r.String("aud"));
  MD_ASSIGN_OR_RETURN(req.nonce, r.String("nonce"));
  MD_RETURN_IF_ERROR(r.Finish());
  if (req.aud.empty() || req.nonce.empty()) {
    return InvalidArgumentError("/aud and /nonce are never optional", "sd-jwt-expectation-missing");
  }
  return req;
}

Result<signer::KeyInfo> Authority::IssuerKey(const std::string& principal_id) {
  return keys_.ActiveKeyOrNew(principal_id, kIssuerPurpose, signer::KeyType::kP256);
}

Result<signer::KeyInfo> Authority::ReceiptKey() {
  return keys_.ActiveKeyOrNew("service", kReceiptPurpose, signer::KeyType::kP256);
}

Result<json::Value> Authority::KeySetJwks(const std::string& owner, std::string_view purpose,
                                          const std::optional<signer::KeyInfo>& active) {
  // The active key first, then every other key of the purpose that is not disabled (retired
  // ones, or an active one that is not the newest), in the store's order: what was signed
  // before a rotation still verifies from this set; a disabled key's signatures no longer do
  // (specs/ap2.md §Receipts).
  MD_ASSIGN_OR_RETURN(std::vector<signer::KeyInfo> all, keys_.List(owner));
  std::vector<signer::KeyInfo> published;
  if (active) published.push_back(*active);
  for (signer::KeyInfo& k : all) {
    if (k.purpose == purpose && (!active || k.id != active->id) &&
        k.state != signer::KeyState::kDisabled) {
      published.push_back(std::move(k));
    }
  }
  json::Value keys = json::Value::Array();
  for (const signer::KeyInfo& k : published) {
    json::Value jwk = signer::PublicKeyToJwk(k.public_key);
    jwk.Set("kid", json::Value::String(k.id));
    jwk.Set("alg", json::Value::String(std::string(signer::JwsAlgFor(k.type))));
    keys.Append(std::move(jwk));
  }
  return json::Value::Object().Set("keys", keys);
}

Result<json::Value> Authority::ReceiptJwks() {
  MD_ASSIGN_OR_RETURN(signer::KeyInfo active, ReceiptKey());
  return KeySetJwks("service", kReceiptPurpose, active);
}

Result<json::Value> Authority::IssuerJwks(const std::string& principal_id) {
  Result<signer::KeyInfo> active = keys_.ActiveKey(principal_id, kIssuerPurpose);
  if (!active.ok() && active.error().code() != StatusCode::kNotFound) return active.error();
  return KeySetJwks(principal_id, kIssuerPurpose,
                    active.ok() ? std::optional<signer::KeyInfo>(*active) : std::nullopt);
}

Result<ServedStatusList> Authority::ServeStatusList(const identity::Tenant& t, uint64_t list) {
  return statuses_.Serve(t, list);
}

Result<signer::PublicKey> Authority::AgentKey(const identity::Agent& agent) {
  if (agent.key_type != "P-256") {
    return FailedPreconditionError("agent " + agent.id + " has a " + agent.key_type +
                                       " key; AP2 binds ES256 (P-256) keys only",
                                   "ap2-agent-key");
  }
  if (agent.custody == "custodial") {
    MD_ASSIGN_OR_RETURN(signer::KeyInfo k, keys_.Get(agent.key_id));
    return k.public_key;
  }
  return signer::PublicKeyFromDidKey(agent.did);
}

Result<std::string> Authority::SignReceipt(json::Value claims, std::string_view typ) {
  const std::string payload = json::Write(claims);
  return signer::SignWithActiveKey([this](int) { return ReceiptKey(); },
                                   [&](const signer::KeyInfo& k) {
                                     json::Value header =
                                         json::Value::Object()
                                             .Set("typ", json::Value::String(std::string(typ)))
                                             .Set("kid", json::Value::String(k.id));
                                     return keys_.SignJws(k.id, std::move(header), payload);
                                   });
}

std::string_view Ap2ErrorCode(std::string_view reason) {
  static constexpr std::string_view kConstraint[] = {
      "ap2-amount-out-of-range", "ap2-currency-mismatch", "ap2-budget-exceeded",
      "ap2-recurrence-exhausted", "ap2-recurrence-too-frequent", "ap2-payee-not-allowed",
      "ap2-instrument-not-allowed", "ap2-pisp-not-allowed", "ap2-execution-date",
      "ap2-preset-mismatch", "ap2-reference-mismatch", "ap2-merchant-not-allowed",
      "ap2-line-items-unmatched", "ap2-unknown-constraint", "agent-ceiling-exceeded",
      "session-cap-exceeded", "principal-ceiling-exceeded"};
  static constexpr std::string_view kCredential[] = {
      "ap2-unknown-issuer", "ap2-wrong-agent",     "ap2-nonce-unknown",
      "ap2-nonce-expired",  "ap2-nonce-replayed",  "ap2-checkout-signature",
      "ap2-checkout-hash-mismatch", "bad-signature", "alg-key-mismatch",
      "bad-jws"};
  for (std::string_view r : kConstraint) {
    if (reason == r) return "unresolved_constraint";
  }
  for (std::string_view r : kCredential) {
    if (reason == r) return "invalid_credential";
  }
  if (reason.rfind("sd-jwt-", 0) == 0 && reason != "sd-jwt-expired") return "invalid_credential";
  return "invalid_mandate";
}

Result<std::string> Authority::ErrorReceipt(ReceiptKind kind, std::string_view presented,
                                            std::string transaction_id, const std::string& reason,
                                            const std::string& detail) {
  std::string reference = Digest(presented);
  Result<sdjwt::Presentation> p = sdjwt::Parse(presented);
  if (p.ok() && !p->hops.empty()) {
    const sdjwt::Hop& last = p->hops.back();
    const json::Value* alg_name = last.payload.Find("_sd_alg");
    Result<sdjwt::HashAlg> alg = alg_name != nullptr && alg_name->is_string()
                                     ? sdjwt::HashAlgFromName(alg_name->as_string())
                                     : Result<sdjwt::HashAlg>(sdjwt::HashAlg::kSha256);
    reference = sdjwt::HashB64(alg.ok() ? *alg : sdjwt::HashAlg::kSha256, last.compact);
    if (transaction_id.empty() && p->hops.size() > 1) {
      Result<json::Value> claims = sdjwt::Disclose(last);
      if (claims.ok()) transaction_id = StrOf(*claims, "transaction_id");
    }
  }
  json::Value receipt = json::Value::Object();
  receipt.Set("iss", json::Value::String(service_did_));
  receipt.Set("iat", json::Value::Int(clock_.NowUnixSeconds()));
  receipt.Set("status", json::Value::String("Error"));
  receipt.Set("reference", json::Value::String(reference));
  if (kind == ReceiptKind::kPayment) {
    receipt.Set("payment_id", json::Value::String(transaction_id.empty() ? reference
                                                                         : transaction_id));
  }
  receipt.Set("error", json::Value::String(std::string(Ap2ErrorCode(reason))));
  receipt.Set("error_description", json::Value::String(reason + ": " + detail));
  return SignReceipt(std::move(receipt), kind == ReceiptKind::kPayment ? "payment-receipt+jwt"
                                                                       : "checkout-receipt+jwt");
}

Result<OpenMandate> Authority::Get(const identity::Tenant& t, const std::string& id) {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> raw, t.Get(kOpenKind, id));
  if (!raw.has_value()) return NotFoundError("no AP2 mandate " + id, "ap2-mandate-not-found");
  return OpenFromJson(*raw);
}

Result<std::vector<OpenMandate>> Authority::List(
    const identity::Tenant& t, const std::string& after, size_t limit,
    const std::function<bool(const std::string& agent_id)>& keep) {
  std::vector<OpenMandate> out;
  Status inner;
  MD_RETURN_IF_ERROR(t.Scan(kOpenKind, after, [&](std::string_view id, std::string_view value) {
    Result<OpenMandate> m = OpenFromJson(value);
    if (!m.ok()) {
      inner = DataLossError("stored AP2 mandate " + std::string(id) + " does not parse",
                            "corrupt-record");
      return false;
    }
    if (keep(m->agent_id)) out.push_back(std::move(*m));
    return out.size() < limit;
  }));
  MD_RETURN_IF_ERROR(inner);
  return out;
}

Result<Usage> Authority::UsageOf(const identity::Tenant& t, const std::string& id) {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> raw, t.Get(kUsageKind, id));
  return UsageFromJson(raw);
}

Result<std::vector<std::string>> Authority::Closings(const identity::Tenant& t,
                                                     const std::string& id,
                                                     const std::string& after, size_t limit,
                                                     std::vector<std::string>* keys) {
  std::vector<std::string> out;
  const std::string prefix = id + "/";
  MD_RETURN_IF_ERROR(t.Scan(kClosedKind, prefix + after, [&](std::string_view key,
                                                            std::string_view value) {
    if (key.substr(0, prefix.size()) != prefix) return false;
    out.emplace_back(value);
    if (keys != nullptr) keys->emplace_back(key.substr(prefix.size()));
    return out.size() < limit;
  }));
  return out;
}

Result<OpenMandate> Authority::Revoke(const identity::Tenant& t, const std::string& id,
                                      const std::string& revoked_by) {
  std::lock_guard<std::mutex> lock(accept_locks_.For(t.principal_id()));
  MD_ASSIGN_OR_RETURN(OpenMandate m, Get(t, id));
  if (m.revoked_at != 0) return m;
  m.revoked_at = clock_.NowUnixSeconds();
  m.revoked_by = revoked_by;
  store::WriteBatch batch;
  t.Put(batch, kOpenKind, m.id, json::Write(OpenMandateToJson(m)));
  // Its status entry, and those of the payment mandates issued for it (a checkout mandate):
  // Accept refuses their closings from the checkout's record; the list tells verifiers without
  // this service the same. A payment mandate whose record does not read keeps its entry (the
  // revocation itself must not fail for it; its closings are refused all the same).
  std::vector<StatusSlot> slots;
  if (m.status) slots.push_back(*m.status);
  json::Value dependents = json::Value::Array();
  if (m.kind == Kind::kCheckout) {
    std::vector<std::string> payment_ids;
    const std::string prefix = m.id + "/";
    MD_RETURN_IF_ERROR(t.ScanIds(kCheckoutPaymentKind, prefix,
                                 [&](std::string_view key, std::string_view) {
                                   payment_ids.emplace_back(key.substr(prefix.size()));
                                   return true;
                                 }));
    for (const std::string& pid : payment_ids) {
      Result<OpenMandate> payment = Get(t, pid);
      if (!payment.ok() || !payment->status || payment->revoked_at != 0) continue;
      slots.push_back(*payment->status);
      dependents.Append(json::Value::String(pid));
    }
  }
  audit::Event e;
  e.type = "ap2.mandate_revoked";
  e.principal = t.principal_id();
  e.Subject("mandate", m.id).Subject("agent", m.agent_id);
  e.data = json::Value::Object()
               .Set("vct", json::Value::String(std::string(VctOf(m.kind))))
               .Set("digest", json::Value::String(m.digest))
               .Set("revoked_by", json::Value::String(revoked_by));
  if (!dependents.items().empty()) e.data.Set("payment_mandates", std::move(dependents));
  e.at_micros = clock_.NowUnixMicros();
  // An entry that cannot be set (its list damaged) does not stop the revocation either: the
  // event names it, for the operator.
  std::vector<StatusSlot> skipped;
  if (!slots.empty()) {
    MD_RETURN_IF_ERROR(statuses_.MarkLocked(t, slots, TokenStatus::kRevoked, batch, &skipped));
  }
  if (!skipped.empty()) {
    json::Value unset = json::Value::Array();
    for (const StatusSlot& s : skipped) {
      unset.Append(json::Value::Object()
                       .Set("list", json::Value::Uint(s.list))
                       .Set("idx", json::Value::Uint(s.idx)));
    }
    e.data.Set("status_not_set", std::move(unset));
  }
  audit::Stage(batch, e);
  const Status written = kv_.Write(batch);
  statuses_.Written(t);
  MD_RETURN_IF_ERROR(written);
  return m;
}

namespace {

// kPermissionDenied "ap2-mandate-revoked" when `m` was revoked.
Status NotRevoked(const OpenMandate& m) {
  if (m.revoked_at == 0) return OkStatus();
  return PermissionDeniedError("the open mandate " + m.id + " was revoked at " +
                                   std::to_string(m.revoked_at) + " (unix seconds)",
                               "ap2-mandate-revoked");
}

}  // namespace

Result<OpenMandate> Authority::IssueOpen(const identity::Tenant& t, const IssueOpenRequest& in,
                                         const std::string& issued_by) {
  IssueOpenRequest req = in;
  MD_ASSIGN_OR_RETURN(identity::Agent agent, directory_.GetAgent(t, req.agent_id));
  if (agent.state != "active") {
    return FailedPreconditionError("agent " + agent.id + " is " + agent.state, "agent-state");
  }
  MD_ASSIGN_OR_RETURN(signer::PublicKey agent_key, AgentKey(agent));
  std::string checkout_id;
  if (!req.checkout_mandate.empty()) {
    MD_ASSIGN_OR_RETURN(OpenMandate checkout, Get(t, req.checkout_mandate));
    if (checkout.kind != Kind::kCheckout || checkout.agent_id != agent.id) {
      return InvalidArgumentError("/checkout_mandate: not an open checkout mandate of this agent",
                                  "ap2-mandate-not-found");
    }
    MD_RETURN_IF_ERROR(NotRevoked(checkout));
    checkout_id = checkout.id;
    json::Value ref = json::Value::Object()
                          .Set("type", json::Value::String("payment.reference"))
                          .Set("conditional_transaction_id", json::Value::String(checkout.digest));
    if (req.constraints.is_array()) req.constraints.Append(std::move(ref));
  }
  MD_RETURN_IF_ERROR(CheckConstraints(req.kind, req.constraints));
  // The API takes budgets in minor units; the credential carries AP2's major units (§5.2).
  MD_RETURN_IF_ERROR(BudgetMaxToMajorUnits(req.constraints));
  MD_ASSIGN_OR_RETURN(signer::KeyInfo key, IssuerKey(t.principal_id()));
  // Under the closings lock, which Revoke holds: the status entry is the principal's next one
  // (revocations change its lists under it too), and a checkout mandate this one is issued for
  // is revoked either before (refused here) or after (then its revocation finds this one).
  std::lock_guard<std::mutex> lock(accept_locks_.For(t.principal_id()));
  if (!checkout_id.empty()) {
    MD_ASSIGN_OR_RETURN(OpenMandate checkout, Get(t, checkout_id));
    MD_RETURN_IF_ERROR(NotRevoked(checkout));
  }
  store::WriteBatch batch;
  MD_ASSIGN_OR_RETURN(StatusSlot slot, statuses_.AllocateLocked(t, batch));
  OpenMandate m;
  MD_ASSIGN_OR_RETURN(m.id, random_.NewId("ap2m_"));
  m.principal_id = t.principal_id();
  m.agent_id = agent.id;
  m.kind = req.kind;
  m.key_id = key.id;
  m.issued_at = clock_.NowUnixSeconds();
  m.expires_at = m.issued_at + req.ttl_s;
  m.checkout_mandate_id = checkout_id;
  m.status = slot;
  m.status_uri = statuses_.Uri(t.principal_id(), slot.list);

  json::Value claims = json::Value::Object();
  claims.Set("vct", json::Value::String(std::string(VctOf(req.kind))));
  claims.Set("jti", json::Value::String(m.id));
  claims.Set("iss", json::Value::String(t.principal_id()));
  claims.Set("iat", json::Value::Int(m.issued_at));
  claims.Set("exp", json::Value::Int(m.expires_at));
  // The Token Status List entry (draft-ietf-oauth-status-list §6.1), never disclosable
  // selectively: a verifier without this service reads the revocation from the list (§5.5).
  claims.Set("status", json::Value::Object().Set(
                           "status_list", json::Value::Object()
                                              .Set("idx", json::Value::Uint(slot.idx))
                                              .Set("uri", json::Value::String(m.status_uri))));
  for (size_t i = 0; i < req.preset.size(); ++i) claims.Set(req.preset.keys()[i], req.preset.items()[i]);
  claims.Set("constraints", req.constraints);
  claims.Set("cnf", json::Value::Object().Set("jwk", signer::PublicKeyToJwk(agent_key)));
  // With the key active when it signs: a rotation between the pick above and the signature
  // signs with its successor (signer::SignWithActiveKey), never a refusal the caller's
  // Idempotency-Key would keep.
  signer::KeyStore& ks = keys_;
  MD_ASSIGN_OR_RETURN(
      m.token,
      signer::SignWithActiveKey(
          [&](int attempt) -> Result<signer::KeyInfo> {
            if (attempt == 1) return key;
            return IssuerKey(t.principal_id());
          },
          [&](const signer::KeyInfo& k) {
            m.key_id = k.id;
            json::Value header = json::Value::Object()
                                     .Set("typ", json::Value::String(kRootTyp))
                                     .Set("kid", json::Value::String(k.id));
            return sdjwt::Issue(claims, FrameFor(req.constraints), std::move(header),
                                sdjwt::HashAlg::kSha256, random_,
                                [&ks, &k](json::Value h, std::string_view payload) {
                                  return ks.SignJws(k.id, std::move(h), payload);
                                });
          }));
  m.digest = Digest(m.token);

  const json::Value record = OpenMandateToJson(m);
  t.Put(batch, kOpenKind, m.id, json::Write(record));
  if (!checkout_id.empty()) t.Put(batch, kCheckoutPaymentKind, checkout_id + "/" + m.id, "");
  audit::Event e;
  e.type = "ap2.mandate_issued";
  e.principal = t.principal_id();
  e.Subject("mandate", m.id).Subject("agent", m.agent_id).Subject("key", m.key_id);
  e.data = json::Value::Object()
               .Set("vct", json::Value::String(std::string(VctOf(m.kind))))
               .Set("digest", json::Value::String(m.digest))
               .Set("constraints", req.constraints)
               .Set("issued_by", json::Value::String(issued_by))
               .Set("expires_at", json::Value::Int(m.expires_at))
               .Set("status_list", *record.Find("status_list"));
  e.at_micros = clock_.NowUnixMicros();
  audit::Stage(batch, e);
  MD_RETURN_IF_ERROR(kv_.Write(batch));
  return m;
}

Result<Challenge> Authority::NewChallenge(const identity::Tenant& t, const std::string& agent_id) {
  Challenge c;
  MD_ASSIGN_OR_RETURN(Bytes raw, random_.Generate(24));
  c.nonce = Base64UrlEncode(raw);
  c.aud = service_did_;
  c.expires_at = clock_.NowUnixSeconds() + kChallengeTtlSeconds;
  store::WriteBatch batch;
  t.Put(batch, kChallengeKind, c.nonce,
        json::Write(json::Value::Object()
                        .Set("agent", json::Value::String(agent_id))
                        .Set("expires_at", json::Value::Int(c.expires_at))));
  MD_RETURN_IF_ERROR(kv_.Write(batch));
  return c;
}

namespace {
// When a stored challenge can be deleted (Authority::PruneChallenges), or nullopt for a record
// that does not read.
std::optional<int64_t> ChallengeDeletableAt(std::string_view value) {
  Result<json::Value> v = json::Parse(value);
  if (!v.ok() || !v->is_object()) return std::nullopt;
  if (const json::Value* used = v->Find("used_at"); used != nullptr) {
    const std::optional<int64_t> at = used->as_int64();
    return at ? std::optional<int64_t>(*at + kChallengeTtlSeconds) : std::nullopt;
  }
  const json::Value* expires = v->Find("expires_at");
  return expires != nullptr ? expires->as_int64() : std::nullopt;
}
}  // namespace

Result<identity::PrunePass> Authority::PruneChallenges(const identity::Tenant& t,
                                                       const std::string& after, size_t limit) {
  identity::PrunePass pass;
  const int64_t now = clock_.NowUnixSeconds();
  std::vector<std::string> done;
  std::string last;
  MD_RETURN_IF_ERROR(t.Scan(kChallengeKind, after, [&](std::string_view nonce, std::string_view value) {
    ++pass.examined;
    last = std::string(nonce);
    const std::optional<int64_t> at = ChallengeDeletableAt(value);
    if (at && *at <= now) done.push_back(last);
    return pass.examined < limit;
  }));
  pass.next_after = pass.examined < limit ? std::string() : last;
  if (done.empty()) return pass;
  std::lock_guard<std::mutex> lock(accept_locks_.For(t.principal_id()));
  store::WriteBatch batch;
  for (const std::string& nonce : done) {
    MD_ASSIGN_OR_RETURN(std::optional<std::string> stored, t.Get(kChallengeKind, nonce));
    if (!stored) continue;
    const std::optional<int64_t> at = ChallengeDeletableAt(*stored);
    if (!at || *at > now) continue;
    t.Delete(batch, kChallengeKind, nonce);
    t.Delete(batch, kNonceKind, Digest(service_did_ + "\n" + nonce));
    ++pass.pruned;
  }
  // Not synced: a delete lost in a crash leaves a challenge that answers nothing anyway.
  if (!batch.empty()) MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kNoSync));
  return pass;
}

Result<OpenMandate> Authority::RootMandate(const identity::Tenant& t, const std::string& root_jwt,
                                           const std::string& kid, signer::PublicKey* key) {
  Result<signer::KeyInfo> k = keys_.Get(kid);
  if (!k.ok() || k->owner != t.principal_id() || k->purpose != kIssuerPurpose) {
    return UnauthenticatedError("the open mandate is not signed by this principal's AP2 issuer key",
                                "ap2-unknown-issuer");
  }
  // Active and retired keys verify; a disabled key is withdrawn (specs/signing.md §Key store), so
  // nothing it signed verifies any more, as for vc+jwt issuer keys (online.cc).
  if (k->state == signer::KeyState::kDisabled) {
    return UnauthenticatedError("the open mandate's AP2 issuer key " + kid + " is disabled",
                                "ap2-unknown-issuer");
  }
  *key = k->public_key;
  MD_ASSIGN_OR_RETURN(signer::Jws jws, signer::ParseJws(root_jwt));
  Result<json::Value> payload = json::Parse(jws.payload);
  const std::string jti = payload.ok() ? StrOf(*payload, "jti") : "";
  Result<OpenMandate> m = Get(t, jti);
  if (!m.ok() || m->token.compare(0, root_jwt.size() + 1, root_jwt + "~") != 0) {
    return UnauthenticatedError("the open mandate is not one this service issued",
                                "ap2-mandate-not-found");
  }
  MD_RETURN_IF_ERROR(NotRevoked(*m));
  return m;
}

Result<ClosedRecord> Authority::Accept(const identity::Tenant& t, const std::string& agent_id,
                                       const std::string& chain, const std::string& expect_aud,
                                       const std::string& expect_nonce, bool service_challenge,
                                       const SpentAuthorization& spent,
                                       const StageHook& stage, const ChargeHook& charge) {
  const std::string& authorization_id = spent.id;
  const int64_t now = clock_.NowUnixSeconds();
  MD_ASSIGN_OR_RETURN(sdjwt::Presentation p, sdjwt::Parse(chain));
  MD_RETURN_IF_ERROR(CheckChainShape(p, "a closed payment mandate"));
  signer::PublicKey issuer;
  MD_ASSIGN_OR_RETURN(OpenMandate open, RootMandate(t, p.hops[0].jwt, p.hops[0].jws.kid, &issuer));
  if (open.agent_id != agent_id) {
    return PermissionDeniedError("the open mandate binds another agent", "ap2-wrong-agent");
  }
  if (open.kind != Kind::kPayment) {
    return InvalidArgumentError("only payment mandates are closed here", "ap2-wrong-vct");
  }
  // The nonce the hop claims, checked against the expectation by VerifyPresentation.
  std::string nonce = expect_nonce;
  if (service_challenge) {
    const json::Value* hop_nonce = p.hops.back().payload.Find("nonce");
    if (hop_nonce == nullptr || !hop_nonce->is_string()) {
      return UnauthenticatedError("hop 1 needs integer iat and string aud and nonce",
                                  "sd-jwt-kb-claim-missing");
    }
    nonce = hop_nonce->as_string();
    MD_ASSIGN_OR_RETURN(std::optional<std::string> ch, t.Get(kChallengeKind, nonce));
    if (nonce.empty() || !ch.has_value()) {
      return UnauthenticatedError("the nonce is not a challenge this service issued",
                                  "ap2-nonce-unknown");
    }
    Result<json::Value> cv = json::Parse(*ch);
    if (!cv.ok() || StrOf(*cv, "agent") != agent_id) {
      return UnauthenticatedError("the challenge was issued to another agent", "ap2-nonce-unknown");
    }
    if (cv->Find("used_at") != nullptr) {
      return UnauthenticatedError("the nonce was already used", "ap2-nonce-replayed");
    }
    if (IntOf(*cv, "expires_at") <= now) {
      return UnauthenticatedError("the challenge expired", "ap2-nonce-expired");
    }
  }
  MD_ASSIGN_OR_RETURN(std::vector<sdjwt::VerifiedHop> hops,
                      sdjwt::VerifyPresentation(p, issuer, sdjwt::Expectation{expect_aud, nonce, now}));
  MD_ASSIGN_OR_RETURN(ClosedPayment closed, ParseClosedPayment(hops.back().claims));
  // Constraints come from the mandate as issued: the agent may withhold disclosures from others,
  // not from the authority that keeps the totals.
  MD_ASSIGN_OR_RETURN(sdjwt::Presentation issued, sdjwt::Parse(open.token));
  MD_ASSIGN_OR_RETURN(json::Value open_claims, sdjwt::Disclose(issued.hops[0]));

  if (before_closing_lock_) before_closing_lock_();
  std::lock_guard<std::mutex> lock(accept_locks_.For(t.principal_id()));
  {
    // Revoke holds this lock: read under it, a revocation is either seen or comes after; of
    // the checkout mandate this one was issued for too (specs/ap2.md §9).
    MD_ASSIGN_OR_RETURN(OpenMandate now_stored, Get(t, open.id));
    MD_RETURN_IF_ERROR(NotRevoked(now_stored));
    if (!now_stored.checkout_mandate_id.empty()) {
      MD_ASSIGN_OR_RETURN(OpenMandate checkout, Get(t, now_stored.checkout_mandate_id));
      MD_RETURN_IF_ERROR(NotRevoked(checkout));
    }
  }
  const std::string nonce_key = Digest(expect_aud + "\n" + nonce);
  MD_ASSIGN_OR_RETURN(std::optional<std::string> used, t.Get(kNonceKind, nonce_key));
  if (used.has_value()) return UnauthenticatedError("the nonce was already used", "ap2-nonce-replayed");
  std::optional<std::string> challenge;
  if (service_challenge) {
    MD_ASSIGN_OR_RETURN(challenge, t.Get(kChallengeKind, nonce));
    Result<json::Value> cv = challenge ? json::Parse(*challenge) : Result<json::Value>(json::Value());
    if (!cv.ok() || !cv->is_object() || cv->Find("used_at") != nullptr) {
      return UnauthenticatedError("the nonce was already used", "ap2-nonce-replayed");
    }
  }
  const std::string closed_key = open.id + "/" + Digest(closed.transaction_id);
  MD_RETURN_IF_ERROR(NotClosedBefore(t, open.id, closed, authorization_id));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> usage_raw, t.Get(kUsageKind, open.id));
  MD_ASSIGN_OR_RETURN(Usage usage, UsageFromJson(usage_raw));
  if (now >= open.expires_at) return PermissionDeniedError("the open mandate expired", "sd-jwt-expired");
  MD_RETURN_IF_ERROR(EvaluatePayment(open_claims, closed, usage, now, open.format));

  ClosedRecord rec;
  MD_ASSIGN_OR_RETURN(rec.id, random_.NewId("ap2c_"));
  rec.open_mandate_id = open.id;
  rec.agent_id = agent_id;
  rec.transaction_id = closed.transaction_id;
  rec.nonce = nonce;
  rec.payment = closed;
  rec.chain = chain;
  // AP2: a hash over the final SD-JWT of the chain, as sd_hash is computed (§8).
  rec.reference = sdjwt::HashB64(hops.back().alg, p.hops.back().compact);
  rec.authorization_id = spent.id;
  rec.authorization_mandate = spent.mandate_id;
  rec.closed_at = now;
  const std::string instrument = StrOf(closed.payment_instrument, "type");
  if (instrument == "x402") {
    rec.x402_nonce = "0x" + HexEncode(signer::Keccak256(AsBytes(chain)));
  }
  if (instrument == kLedgerInstrument) {
    if (!settle_) {
      return FailedPreconditionError("this service settles no ledger payments",
                                     "ap2-instrument-unavailable");
    }
    rec.ledger_transfer = "ap2-" + rec.id;
  }
  json::Value receipt = json::Value::Object();
  receipt.Set("iss", json::Value::String(service_did_));
  receipt.Set("iat", json::Value::Int(now));
  receipt.Set("status", json::Value::String("Success"));
  receipt.Set("reference", json::Value::String(rec.reference));
  receipt.Set("payment_id", json::Value::String(rec.id));
  receipt.Set("transaction_id", json::Value::String(rec.transaction_id));
  // AP2 requires both confirmation ids on Success. A ledger payment is applied in this very
  // write: its transfer id confirms it at the PSP and on the rail, and that is verified. Any
  // other rail settles later and elsewhere: the ids are this acceptance's own (for x402, the
  // EIP-3009 nonce that will name the transfer on chain), and say so (specs/ap2.md §8).
  if (!rec.ledger_transfer.empty()) {
    receipt.Set("psp_confirmation_id", json::Value::String(rec.ledger_transfer));
    receipt.Set("network_confirmation_id", json::Value::String(rec.ledger_transfer));
    receipt.Set("rail_confirmation_verified", json::Value::Bool(true));
  } else {
    receipt.Set("psp_confirmation_id", json::Value::String(rec.id));
    receipt.Set("network_confirmation_id",
                json::Value::String(rec.x402_nonce.empty() ? rec.id : rec.x402_nonce));
    receipt.Set("rail_confirmation_verified", json::Value::Bool(false));
  }
  MD_ASSIGN_OR_RETURN(rec.receipt, SignReceipt(std::move(receipt), "payment-receipt+jwt"));

  // Saturating: without a budget constraint nothing bounded the sum (amounts are at most int64).
  if (__builtin_add_overflow(usage.spent, closed.amount, &usage.spent)) {
    usage.spent = INT64_MAX;
  }
  usage.uses += 1;
  usage.last_use_at = now;
  store::WriteBatch batch;
  const std::string rec_json = json::Write(ClosedRecordToJson(rec));
  t.Put(batch, kClosedKind, closed_key, rec_json);
  t.Put(batch, kClosedByTx, Digest(closed.transaction_id), rec_json);
  if (!authorization_id.empty()) {
    t.Put(batch, kClosedByAtz, authorization_id, rec.id);
    t.Put(batch, kCapturePending, authorization_id, rec.id);
  }
  t.Put(batch, kUsageKind, open.id, UsageToJson(usage));
  t.Put(batch, kNonceKind, nonce_key, std::to_string(now));
  if (!rec.x402_nonce.empty()) {
    t.Put(batch, kX402Kind, rec.x402_nonce, rec_json);
    if (x402_bind_) x402_bind_(rec, t.principal_id(), batch);
  }
  if (service_challenge) {
    t.Put(batch, kChallengeKind, nonce,
          json::Write(json::Value::Object()
                          .Set("agent", json::Value::String(agent_id))
                          .Set("used_at", json::Value::Int(now))));
  }
  audit::Event e;
  e.type = "ap2.payment_closed";
  e.principal = t.principal_id();
  e.Subject("mandate", open.id).Subject("agent", agent_id);
  // A custodial closing is part of its authorization's trail (the purchase it paid).
  if (!spent.id.empty()) e.Subject("authorization", spent.id);
  json::Value data = ClosedRecordToJson(rec);
  data.Set("usage", json::Value::Object()
                        .Set("spent", json::Value::Int(usage.spent))
                        .Set("uses", json::Value::Int(usage.uses)));
  e.data = std::move(data);
  e.at_micros = clock_.NowUnixMicros();
  audit::Stage(batch, e);
  // The caller's part is staged only once every check passed (the ceilings' charge, the
  // ledger's funds): the route records its answer there, and a refusal must not read as
  // recorded (it is answered, with its error receipt, and kept for its key as such).
  auto commit = [&](bool* reached_store) -> Status {
    auto before_write = [&](store::WriteBatch& b) {
      if (reached_store != nullptr) *reached_store = true;
      if (stage) stage(rec, b);
    };
    if (!rec.ledger_transfer.empty()) {
      return settle_(rec, t.principal_id(), std::move(batch), before_write);
    }
    before_write(batch);
    return kv_.Write(batch);
  };
  MD_RETURN_IF_ERROR(charge ? charge(rec, batch, commit) : commit(nullptr));
  return rec;
}

Status Authority::NotClosedBefore(const identity::Tenant& t, const std::string& open_id,
                                  const ClosedPayment& closed,
                                  const std::string& authorization_id) {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> prior,
                      t.Get(kClosedKind, open_id + "/" + Digest(closed.transaction_id)));
  if (prior.has_value()) {
    return PermissionDeniedError("transaction " + closed.transaction_id +
                                     " was already closed under this mandate (single use)",
                                 "ap2-closed-mandate-replayed");
  }
  if (!authorization_id.empty()) {
    MD_ASSIGN_OR_RETURN(std::optional<std::string> spent_by,
                        t.Get(kClosedByAtz, authorization_id));
    if (spent_by.has_value()) {
      return FailedPreconditionError("authorization " + authorization_id +
                                         " was already spent by closing " + *spent_by,
                                     "ap2-authorization-used");
    }
  }
  // One payment per transaction (a checkout's hash) under any open mandate: a second would pay
  // the checkout twice and take over what the merchant's verify finds for it.
  MD_ASSIGN_OR_RETURN(std::optional<std::string> paid_tx,
                      t.Get(kClosedByTx, Digest(closed.transaction_id)));
  if (paid_tx.has_value()) {
    return PermissionDeniedError("transaction " + closed.transaction_id +
                                     " was already paid under another open mandate",
                                 "ap2-closed-mandate-replayed");
  }
  return OkStatus();
}

Status Authority::Precheck(const identity::Tenant& t, const OpenMandate& open,
                           const json::Value& closed_claims, const std::string& aud,
                           const std::string& nonce, const std::string& authorization_id) {
  MD_ASSIGN_OR_RETURN(ClosedPayment closed, ParseClosedPayment(closed_claims));
  // RootMandate's key check, before anything is signed for a mandate whose issuer key is gone.
  Result<signer::KeyInfo> issuer = keys_.Get(open.key_id);
  if (!issuer.ok() || issuer->state == signer::KeyState::kDisabled) {
    return UnauthenticatedError("the open mandate's AP2 issuer key " + open.key_id +
                                    " is disabled",
                                "ap2-unknown-issuer");
  }
  const int64_t now = clock_.NowUnixSeconds();
  if (now >= open.expires_at) return PermissionDeniedError("the open mandate expired", "sd-jwt-expired");
  MD_ASSIGN_OR_RETURN(std::optional<std::string> used, t.Get(kNonceKind, Digest(aud + "\n" + nonce)));
  if (used.has_value()) return UnauthenticatedError("the nonce was already used", "ap2-nonce-replayed");
  MD_RETURN_IF_ERROR(NotClosedBefore(t, open.id, closed, authorization_id));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> usage_raw, t.Get(kUsageKind, open.id));
  MD_ASSIGN_OR_RETURN(Usage usage, UsageFromJson(usage_raw));
  MD_ASSIGN_OR_RETURN(sdjwt::Presentation issued, sdjwt::Parse(open.token));
  MD_ASSIGN_OR_RETURN(json::Value open_claims, sdjwt::Disclose(issued.hops[0]));
  return EvaluatePayment(open_claims, closed, usage, now, open.format);
}

Result<ClosedRecord> Authority::FindByX402Nonce(const identity::Tenant& t,
                                                const std::string& nonce_hex) {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> raw, t.Get(kX402Kind, nonce_hex));
  if (!raw.has_value()) {
    return NotFoundError("no closed payment mandate has x402 nonce " + nonce_hex,
                         "ap2-payment-missing");
  }
  MD_ASSIGN_OR_RETURN(json::Value v, json::Parse(*raw));
  ClosedRecord r;
  r.id = StrOf(v, "id");
  r.open_mandate_id = StrOf(v, "open_mandate");
  r.agent_id = StrOf(v, "agent");
  r.transaction_id = StrOf(v, "transaction_id");
  r.nonce = StrOf(v, "nonce");
  r.chain = StrOf(v, "chain");
  r.reference = StrOf(v, "reference");
  r.receipt = StrOf(v, "payment_receipt");
  r.x402_nonce = StrOf(v, "x402_nonce");
  r.authorization_id = StrOf(v, "authorization");
  r.authorization_mandate = StrOf(v, "authorization_mandate");
  r.closed_at = IntOf(v, "closed_at");
  json::Value claims = json::Value::Object();
  claims.Set("vct", json::Value::String(std::string(kVctPayment)));
  claims.Set("transaction_id", json::Value::String(r.transaction_id));
  for (const char* k : {"payee", "payment_amount", "payment_instrument"}) {
    if (const json::Value* m = v.Find(k); m != nullptr) claims.Set(k, *m);
  }
  MD_ASSIGN_OR_RETURN(r.payment, ParseClosedPayment(claims));
  return r;
}

Result<ClosedRecord> Authority::Present(const identity::Tenant& t, const std::string& agent_id,
                                        const std::string& chain, const StageHook& stage,
                                        const ChargeHook& charge) {
  return Accept(t, agent_id, chain, service_did_, "", true, {}, stage, charge);
}

Status Authority::GuardHold(const std::string& principal_id, const std::string& authorization_id) {
  const identity::Tenant t(kv_, principal_id);
  MD_ASSIGN_OR_RETURN(std::optional<std::string> spent, t.Get(kClosedByAtz, authorization_id));
  if (spent.has_value()) {
    return FailedPreconditionError("authorization " + authorization_id +
                                       " was spent by AP2 closing " + *spent +
                                       " (its payment is made): it is captured, not voided",
                                   "ap2-authorization-used");
  }
  return OkStatus();
}

Result<std::vector<Authority::PendingCapture>> Authority::PendingCaptures(
    const identity::Tenant& t) {
  std::vector<PendingCapture> out;
  MD_RETURN_IF_ERROR(t.ScanIds(kCapturePending, "", [&out](std::string_view id, std::string_view v) {
    out.push_back(PendingCapture{std::string(id), std::string(v)});
    return true;
  }));
  return out;
}

Status Authority::CaptureDone(const identity::Tenant& t, const std::string& authorization_id) {
  store::WriteBatch batch;
  t.Delete(batch, kCapturePending, authorization_id);
  return kv_.Write(batch);
}

Status Authority::CaptureLost(const identity::Tenant& t, const std::string& authorization_id,
                              const std::string& closing_id) {
  store::WriteBatch batch;
  t.Put(batch, kCaptureLost, authorization_id, closing_id);
  t.Delete(batch, kCapturePending, authorization_id);
  return kv_.Write(batch);
}

Result<ClosedRecord> Authority::CloseCustodial(const identity::Tenant& t,
                                               const std::string& agent_id,
                                               const std::string& open_id, json::Value closed,
                                               const std::string& aud, const std::string& nonce,
                                               const SpentAuthorization& spent) {
  if (aud.empty() || nonce.empty()) {
    return InvalidArgumentError("/aud and /nonce are never optional", "sd-jwt-expectation-missing");
  }
  MD_ASSIGN_OR_RETURN(identity::Agent agent, directory_.GetAgent(t, agent_id));
  if (agent.custody != "custodial" || agent.key_type != "P-256") {
    return FailedPreconditionError("the service closes mandates only for custodial P-256 agents",
                                   "ap2-agent-key");
  }
  MD_ASSIGN_OR_RETURN(OpenMandate open, Get(t, open_id));
  if (open.agent_id != agent_id) {
    return PermissionDeniedError("the open mandate binds another agent", "ap2-wrong-agent");
  }
  // Nothing is signed with the agent's key for a revoked mandate, nor for one whose checkout
  // mandate was revoked (Accept checks both again, under its lock).
  MD_RETURN_IF_ERROR(NotRevoked(open));
  if (!open.checkout_mandate_id.empty()) {
    MD_ASSIGN_OR_RETURN(OpenMandate checkout, Get(t, open.checkout_mandate_id));
    MD_RETURN_IF_ERROR(NotRevoked(checkout));
  }
  // Only AP2's closed payment claims, no SD-JWT machinery at any depth: the agent's key signs
  // what the caller sends, and must never sign something that reads as another kind of token
  // or carries claims nobody checked (the service sets iat, aud, nonce and sd_hash itself).
  MD_RETURN_IF_ERROR(CheckCustodialClosed(closed));
  closed.Set("iat", json::Value::Int(clock_.NowUnixSeconds()));
  closed.Set("aud", json::Value::String(aud));
  closed.Set("nonce", json::Value::String(nonce));
  MD_RETURN_IF_ERROR(Precheck(t, open, closed, aud, nonce, spent.id));
  signer::KeyStore& ks = keys_;
  const std::string key_id = agent.key_id;
  MD_ASSIGN_OR_RETURN(
      std::string chain,
      sdjwt::AppendHop(open.token, std::move(closed), json::Value(), sdjwt::HopOptions{}, random_,
                       [&ks, &key_id](json::Value h, std::string_view payload) {
                         return ks.SignJws(key_id, std::move(h), payload);
                       }));
  return Accept(t, agent_id, chain, aud, nonce, false, spent);
}

Result<MerchantVerifyResult> Authority::VerifyCheckout(const identity::Tenant& t,
                                                       const MerchantVerifyRequest& req) {
  const int64_t now = clock_.NowUnixSeconds();
  MD_ASSIGN_OR_RETURN(sdjwt::Presentation p, sdjwt::Parse(req.checkout_chain));
  MD_RETURN_IF_ERROR(CheckChainShape(p, "a closed checkout mandate"));
  signer::PublicKey issuer;
  MD_ASSIGN_OR_RETURN(OpenMandate open, RootMandate(t, p.hops[0].jwt, p.hops[0].jws.kid, &issuer));
  if (open.kind != Kind::kCheckout) {
    return InvalidArgumentError("the chain is not a checkout mandate", "ap2-wrong-vct");
  }
  MD_ASSIGN_OR_RETURN(std::vector<sdjwt::VerifiedHop> hops,
                      sdjwt::VerifyPresentation(p, issuer,
                                                sdjwt::Expectation{req.aud, req.nonce, now}));
  // As strict as Accept: the stored expiry, without the SD-JWT exp's 300 s skew (§8 step 1).
  if (now >= open.expires_at) {
    return PermissionDeniedError("the open mandate expired", "sd-jwt-expired");
  }
  const json::Value& closed = hops.back().claims;
  if (StrOf(closed, "vct") != kVctCheckout) {
    return InvalidArgumentError("/vct: a closed checkout mandate is " + std::string(kVctCheckout),
                                "ap2-wrong-vct");
  }
  const std::string checkout_jwt = StrOf(closed, "checkout_jwt");
  const std::string checkout_hash = StrOf(closed, "checkout_hash");
  if (checkout_jwt.empty() || checkout_hash.empty()) {
    return InvalidArgumentError("the closed checkout mandate needs checkout_jwt and checkout_hash",
                                "ap2-closed-mandate-invalid");
  }
  // Recomputed, never trusted (specs/ap2.md §8): with the mandate's _sd_alg.
  if (sdjwt::HashB64(hops.back().alg, checkout_jwt) != checkout_hash) {
    return PermissionDeniedError("checkout_hash is not the hash of checkout_jwt",
                                 "ap2-checkout-hash-mismatch");
  }
  if (checkout_jwt != req.checkout_jwt) {
    return PermissionDeniedError("the mandate closes another checkout than the merchant's latest",
                                 "ap2-checkout-stale");
  }
  Result<signer::PublicKey> merchant_key = signer::PublicKeyFromJwk(req.merchant_jwk);
  if (!merchant_key.ok()) return merchant_key.error();
  MD_ASSIGN_OR_RETURN(signer::Jws cjws, signer::ParseJws(checkout_jwt));
  // High S accepted, as for every ES256 JWS of AP2 here (specs/ap2.md §1): merchants' WebCrypto
  // signers do not normalize it.
  signer::JwsVerifyOptions checkout_options;
  checkout_options.allow_high_s = true;
  if (cjws.alg != "ES256" || !signer::VerifyJws(cjws, *merchant_key, checkout_options).ok()) {
    return UnauthenticatedError("checkout_jwt is not signed (ES256) by the merchant's key",
                                "ap2-checkout-signature");
  }
  Result<json::Value> checkout = json::Parse(cjws.payload);
  if (!checkout.ok() || !checkout->is_object()) {
    return InvalidArgumentError("the checkout_jwt payload is not an object", "ap2-bad-checkout");
  }
  // A checkout the merchant canceled or let expire is paid by no mandate (UCP checkout `status`
  // and `expires_at`), and its total is one number: exactly one `totals` entry of type total.
  if (StrOf(*checkout, "status") == "canceled") {
    return PermissionDeniedError("the checkout is canceled", "ap2-checkout-canceled");
  }
  if (const json::Value* exp = checkout->Find("expires_at"); exp != nullptr) {
    const std::optional<int64_t> at =
        exp->is_string() ? ParseRfc3339Micros(exp->as_string()) : std::nullopt;
    if (!at) {
      return InvalidArgumentError("/expires_at of the checkout must be an RFC 3339 date-time",
                                  "ap2-bad-checkout");
    }
    if (now * 1000000 >= *at) {
      return PermissionDeniedError("the checkout expired", "ap2-checkout-expired");
    }
  }
  std::optional<int64_t> total;
  {
    size_t totals_seen = 0;
    if (const json::Value* totals = checkout->Find("totals"); totals != nullptr &&
                                                               totals->is_array()) {
      for (const json::Value& line : totals->items()) {
        if (line.is_object() && StrOf(line, "type") == "total") {
          ++totals_seen;
          const json::Value* amount = line.Find("amount");
          if (amount != nullptr && amount->is_number()) total = amount->as_int64();
        }
      }
    }
    if (totals_seen != 1 || !total.has_value()) {
      return InvalidArgumentError("the checkout needs exactly one totals entry of type total "
                                  "with an integer amount",
                                  "ap2-bad-checkout");
    }
  }
  MD_ASSIGN_OR_RETURN(sdjwt::Presentation issued, sdjwt::Parse(open.token));
  MD_ASSIGN_OR_RETURN(json::Value open_claims, sdjwt::Disclose(issued.hops[0]));
  MD_RETURN_IF_ERROR(EvaluateCheckout(open_claims, *checkout));

  // The closed payment for this checkout: transaction_id == checkout_hash, under an open payment
  // mandate whose payment.reference names this open checkout mandate.
  MD_ASSIGN_OR_RETURN(std::optional<std::string> paid, t.Get(kClosedByTx, Digest(checkout_hash)));
  if (!paid.has_value()) {
    return FailedPreconditionError("no closed payment mandate has transaction_id " + checkout_hash,
                                   "ap2-payment-missing");
  }
  MD_ASSIGN_OR_RETURN(json::Value payment, json::Parse(*paid));
  MD_ASSIGN_OR_RETURN(OpenMandate open_payment, Get(t, StrOf(payment, "open_mandate")));
  MD_ASSIGN_OR_RETURN(sdjwt::Presentation op, sdjwt::Parse(open_payment.token));
  MD_ASSIGN_OR_RETURN(json::Value op_claims, sdjwt::Disclose(op.hops[0]));
  MD_RETURN_IF_ERROR(CheckReference(op_claims, open.digest));
  if (StrOf(payment, "transaction_id") != checkout_hash) {
    return PermissionDeniedError("the payment's transaction_id is not this checkout's hash",
                                 "ap2-transaction-id-mismatch");
  }
  // The payment pays this checkout: its total, in its currency, to its merchant.
  {
    const json::Value* amount = payment.Find("payment_amount");
    const json::Value* payee = payment.Find("payee");
    const json::Value* merchant = checkout->Find("merchant");
    const bool pays_it =
        total.has_value() && amount != nullptr && amount->is_object() && payee != nullptr &&
        payee->is_object() && merchant != nullptr && merchant->is_object() &&
        IntOf(*amount, "amount") == *total &&
        StrOf(*amount, "currency") == StrOf(*checkout, "currency") &&
        !StrOf(*payee, "id").empty() && StrOf(*payee, "id") == StrOf(*merchant, "id");
    if (!pays_it) {
      return PermissionDeniedError(
          "the closed payment for this checkout does not pay its total, in its currency, to its "
          "merchant",
          "ap2-payment-mismatch");
    }
  }
  // Single use on the merchant side too: the (aud, nonce) pair is consumed.
  MerchantVerifyResult out;
  out.checkout_hash = checkout_hash;
  out.order_id = StrOf(*checkout, "id");
  out.payment_receipt = StrOf(payment, "payment_receipt");
  out.closed_payment_id = StrOf(payment, "id");
  json::Value receipt = json::Value::Object();
  receipt.Set("iss", json::Value::String(service_did_));
  receipt.Set("iat", json::Value::Int(now));
  receipt.Set("status", json::Value::String("Success"));
  receipt.Set("reference", json::Value::String(sdjwt::HashB64(hops.back().alg, p.hops.back().compact)));
  receipt.Set("order_id", json::Value::String(out.order_id));
  MD_ASSIGN_OR_RETURN(out.checkout_receipt, SignReceipt(std::move(receipt), "checkout-receipt+jwt"));

  std::lock_guard<std::mutex> lock(accept_locks_.For(t.principal_id()));
  {
    // As in Accept: a revocation of the checkout mandate is seen or comes after.
    MD_ASSIGN_OR_RETURN(OpenMandate now_stored, Get(t, open.id));
    MD_RETURN_IF_ERROR(NotRevoked(now_stored));
  }
  const std::string nonce_key = Digest(req.aud + "\n" + req.nonce);
  MD_ASSIGN_OR_RETURN(std::optional<std::string> used, t.Get(kNonceKind, nonce_key));
  if (used.has_value()) return UnauthenticatedError("the nonce was already used", "ap2-nonce-replayed");
  store::WriteBatch batch;
  t.Put(batch, kNonceKind, nonce_key, std::to_string(now));
  audit::Event e;
  e.type = "ap2.checkout_verified";
  e.principal = t.principal_id();
  e.Subject("mandate", open.id).Subject("agent", open.agent_id);
  e.data = json::Value::Object()
               .Set("checkout_hash", json::Value::String(checkout_hash))
               .Set("order_id", json::Value::String(out.order_id))
               .Set("closed_payment", json::Value::String(out.closed_payment_id))
               .Set("open_payment_mandate", json::Value::String(open_payment.id))
               .Set("checkout_receipt", json::Value::String(out.checkout_receipt));
  e.at_micros = clock_.NowUnixMicros();
  audit::Stage(batch, e);
  MD_RETURN_IF_ERROR(kv_.Write(batch));
  return out;
}

}  // namespace mandated::mandates::ap2
