// Codecs and effective states of authorizations and approvals (specs/authorization.md).
#include "policy/records.h"

#include <algorithm>

#include "mandates/model.h"

namespace mandated::policy {
namespace {

bool IsCartHash(std::string_view s) {
  if (s.empty() || s.size() > 128) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '=' || c == ':' || c == '.' || c == '-';
  });
}

json::Value Str(const std::string& s) { return json::Value::String(s); }

json::Value ReservationToJson(const Reservation& r) {
  json::Value v = json::Value::Object();
  v.Set("id", Str(r.id));
  v.Set("state", Str(r.state));
  v.Set("amount", Str(r.amount.ToString()));
  v.Set("captured", Str(r.captured.ToString()));
  v.Set("expires_at", json::Value::Int(r.expires_at));
  if (r.closed_at) {
    v.Set("closed_at", json::Value::Int(*r.closed_at));
    v.Set("closed_by", Str(r.closed_by));
  }
  return v;
}

Result<Reservation> ReservationFromJson(const json::Value& v) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, "/reservation"));
  Reservation out;
  MD_ASSIGN_OR_RETURN(out.id, r.String("id"));
  MD_ASSIGN_OR_RETURN(out.state, r.String("state"));
  MD_ASSIGN_OR_RETURN(out.amount, r.AmountField("amount"));
  MD_ASSIGN_OR_RETURN(out.captured, r.AmountField("captured"));
  MD_ASSIGN_OR_RETURN(out.expires_at, r.Int("expires_at"));
  MD_ASSIGN_OR_RETURN(out.closed_at, r.OptionalInt("closed_at"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> by, r.OptionalString("closed_by"));
  out.closed_by = by.value_or("");
  MD_RETURN_IF_ERROR(r.Finish());
  return out;
}

Result<std::vector<std::string>> StringList(const json::Value* v, const std::string& pointer) {
  std::vector<std::string> out;
  if (v == nullptr) {
    return out;
  }
  if (!v->is_array()) {
    return InvalidArgumentError(pointer + ": must be an array", "wrong-type");
  }
  for (const json::Value& item : v->items()) {
    if (!item.is_string()) {
      return InvalidArgumentError(pointer + ": must hold strings", "wrong-type");
    }
    out.push_back(item.as_string());
  }
  return out;
}

Result<PolicyReason> PolicyReasonFromJson(const json::Value& v) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, "/reasons"));
  PolicyReason out;
  MD_ASSIGN_OR_RETURN(out.code, r.String("code"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> m, r.OptionalString("mandate"));
  out.mandate = m.value_or("");
  MD_ASSIGN_OR_RETURN(std::optional<std::string> p, r.OptionalString("pointer"));
  out.pointer = p.value_or("");
  MD_ASSIGN_OR_RETURN(std::optional<std::string> c, r.OptionalString("counter"));
  out.counter = c.value_or("");
  MD_ASSIGN_OR_RETURN(out.detail, r.String("detail"));
  MD_ASSIGN_OR_RETURN(out.remaining, r.OptionalAmount("remaining"));
  MD_RETURN_IF_ERROR(r.Finish());
  return out;
}

}  // namespace

json::Value PolicyReasonToJson(const PolicyReason& r) {
  json::Value v = json::Value::Object();
  v.Set("code", Str(r.code));
  if (!r.mandate.empty()) v.Set("mandate", Str(r.mandate));
  if (!r.pointer.empty()) v.Set("pointer", Str(r.pointer));
  if (!r.counter.empty()) v.Set("counter", Str(r.counter));
  v.Set("detail", Str(r.detail));
  if (r.remaining) v.Set("remaining", Str(r.remaining->ToString()));
  return v;
}

Authorization EffectiveAt(Authorization a, int64_t now) {
  if (!a.reservation) {
    return a;
  }
  Reservation& r = *a.reservation;
  if (r.state == "reserved" && now >= r.expires_at) {
    r.state = "expired";
    r.closed_at = r.expires_at;
    r.closed_by = "lease";
  } else if (r.state == "pending" && now >= r.expires_at) {
    r.state = "released";
    r.closed_at = r.expires_at;
    r.closed_by = "approval-timeout";
    a.decision = std::string(kDenied);
    a.reasons.push_back(PolicyReason{"approval-timeout", "", "", "",
                                     "no approver decided before the approval expired", {}});
  }
  return a;
}

json::Value AuthorizationToJson(const Authorization& a) {
  json::Value v = json::Value::Object();
  v.Set("id", Str(a.id));
  v.Set("decision", Str(a.decision));
  v.Set("principal", Str(a.principal_id));
  v.Set("mandate", Str(a.mandate_id));
  json::Value chain = json::Value::Array();
  for (const std::string& c : a.chain) chain.Append(Str(c));
  v.Set("chain", std::move(chain));
  v.Set("agent", Str(a.agent_id));
  v.Set("agent_did", Str(a.agent_did));
  v.Set("session", Str(a.session_id));
  json::Value purchase = mandates::PurchaseToJson(a.purchase);
  for (size_t i = 0; i < purchase.keys().size(); ++i) {
    v.Set(purchase.keys()[i], purchase.items()[i]);
  }
  if (!a.cart_hash.empty()) v.Set("cart_hash", Str(a.cart_hash));
  v.Set("policy_version", Str(a.policy_version));
  if (!a.reasons.empty()) {
    json::Value reasons = json::Value::Array();
    for (const PolicyReason& r : a.reasons) reasons.Append(PolicyReasonToJson(r));
    v.Set("reasons", std::move(reasons));
  }
  if (a.reservation) v.Set("reservation", ReservationToJson(*a.reservation));
  if (!a.approval_id.empty()) {
    json::Value ap = json::Value::Object();
    ap.Set("id", Str(a.approval_id));
    if (a.approval_expires_at) ap.Set("expires_at", json::Value::Int(*a.approval_expires_at));
    v.Set("approval", std::move(ap));
  }
  if (!a.receipt.empty()) v.Set("receipt", Str(a.receipt));
  v.Set("charged_at", json::Value::Int(a.charged_at));
  v.Set("created_at", json::Value::Int(a.created_at));
  v.Set("updated_at", json::Value::Int(a.updated_at));
  return v;
}

json::Value OutsideChargeToJson(const OutsideCharge& c) {
  return json::Value::Object()
      .Set("id", json::Value::String(c.id))
      .Set("source", json::Value::String(c.source))
      .Set("agent", json::Value::String(c.agent_id))
      .Set("session", json::Value::String(c.session_id))
      .Set("asset", json::Value::String(c.asset))
      .Set("amount", json::Value::String(c.amount.ToString()))
      .Set("charged_at", json::Value::Int(c.charged_at));
}

Result<OutsideCharge> OutsideChargeFromJson(const json::Value& v) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v));
  OutsideCharge c;
  MD_ASSIGN_OR_RETURN(c.id, r.String("id"));
  MD_ASSIGN_OR_RETURN(c.source, r.String("source"));
  MD_ASSIGN_OR_RETURN(c.agent_id, r.String("agent"));
  MD_ASSIGN_OR_RETURN(c.session_id, r.String("session"));
  MD_ASSIGN_OR_RETURN(c.asset, r.String("asset"));
  MD_ASSIGN_OR_RETURN(c.amount, r.AmountField("amount"));
  MD_ASSIGN_OR_RETURN(c.charged_at, r.Int("charged_at"));
  MD_RETURN_IF_ERROR(r.Finish());
  return c;
}

Result<Authorization> AuthorizationFromJson(const json::Value& v) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v));
  Authorization a;
  MD_ASSIGN_OR_RETURN(a.id, r.String("id"));
  MD_ASSIGN_OR_RETURN(a.decision, r.String("decision"));
  MD_ASSIGN_OR_RETURN(a.principal_id, r.String("principal"));
  MD_ASSIGN_OR_RETURN(a.mandate_id, r.String("mandate"));
  MD_ASSIGN_OR_RETURN(a.chain, StringList(r.Optional("chain"), "/chain"));
  MD_ASSIGN_OR_RETURN(a.agent_id, r.String("agent"));
  MD_ASSIGN_OR_RETURN(a.agent_did, r.String("agent_did"));
  MD_ASSIGN_OR_RETURN(a.session_id, r.String("session"));
  json::Value purchase = json::Value::Object();
  for (const char* key : {"payee", "amount", "asset", "network", "category", "country"}) {
    if (const json::Value* m = r.Optional(key)) purchase.Set(key, *m);
  }
  // The resource as stored: it was checked when the purchase was asked, and a record must
  // read back even after the rules for new purchases grew stricter (specs/mandate.md §7.2).
  const json::Value* resource = r.Optional("resource");
  if (resource != nullptr && !resource->is_string()) {
    return InvalidArgumentError("/resource: not a string", "wrong-type");
  }
  MD_ASSIGN_OR_RETURN(a.purchase, mandates::ParsePurchase(purchase));
  if (resource != nullptr) a.purchase.resource = resource->as_string();
  MD_ASSIGN_OR_RETURN(std::optional<std::string> cart, r.OptionalString("cart_hash"));
  a.cart_hash = cart.value_or("");
  MD_ASSIGN_OR_RETURN(a.policy_version, r.String("policy_version"));
  if (const json::Value* reasons = r.Optional("reasons")) {
    if (!reasons->is_array()) return InvalidArgumentError("/reasons: not an array", "wrong-type");
    for (const json::Value& item : reasons->items()) {
      MD_ASSIGN_OR_RETURN(PolicyReason pr, PolicyReasonFromJson(item));
      a.reasons.push_back(std::move(pr));
    }
  }
  if (const json::Value* res = r.Optional("reservation")) {
    MD_ASSIGN_OR_RETURN(Reservation rv, ReservationFromJson(*res));
    a.reservation = std::move(rv);
  }
  if (const json::Value* ap = r.Optional("approval")) {
    MD_ASSIGN_OR_RETURN(json::ObjectReader ar, json::ObjectReader::Of(*ap, "/approval"));
    MD_ASSIGN_OR_RETURN(a.approval_id, ar.String("id"));
    MD_ASSIGN_OR_RETURN(a.approval_expires_at, ar.OptionalInt("expires_at"));
    MD_RETURN_IF_ERROR(ar.Finish());
  }
  MD_ASSIGN_OR_RETURN(std::optional<std::string> receipt, r.OptionalString("receipt"));
  a.receipt = receipt.value_or("");
  MD_ASSIGN_OR_RETURN(a.charged_at, r.Int("charged_at"));
  MD_ASSIGN_OR_RETURN(a.created_at, r.Int("created_at"));
  MD_ASSIGN_OR_RETURN(a.updated_at, r.Int("updated_at"));
  MD_RETURN_IF_ERROR(r.Finish());
  return a;
}

Approval ApprovalEffectiveAt(Approval a, int64_t now) {
  if (a.state == "pending" && now >= a.expires_at) {
    a.state = "expired";
  }
  return a;
}

json::Value ApprovalToJson(const Approval& a) {
  json::Value v = json::Value::Object();
  v.Set("id", Str(a.id));
  v.Set("principal", Str(a.principal_id));
  v.Set("authorization", Str(a.authorization_id));
  v.Set("agent", Str(a.agent_id));
  v.Set("mandate", Str(a.mandate_id));
  v.Set("state", Str(a.state));
  v.Set("shown", a.shown);
  v.Set("shown_sha256", Str(a.shown_sha256));
  v.Set("policy_version", Str(a.policy_version));
  v.Set("created_at", json::Value::Int(a.created_at));
  v.Set("expires_at", json::Value::Int(a.expires_at));
  if (a.decided_at) {
    v.Set("decided_at", json::Value::Int(*a.decided_at));
    json::Value by = json::Value::Object();
    if (!a.decided_by_user.empty()) by.Set("user", Str(a.decided_by_user));
    by.Set("credential", Str(a.decided_by_credential));
    v.Set("decided_by", std::move(by));
  }
  if (!a.evidence.empty()) {
    json::Value ev = json::Value::Object();
    ev.Set("jws", Str(a.evidence));
    ev.Set("did", Str(a.evidence_did));
    v.Set("evidence", std::move(ev));
  }
  if (!a.note.empty()) v.Set("note", Str(a.note));
  return v;
}

Result<Approval> ApprovalFromJson(const json::Value& v) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v));
  Approval a;
  MD_ASSIGN_OR_RETURN(a.id, r.String("id"));
  MD_ASSIGN_OR_RETURN(a.principal_id, r.String("principal"));
  MD_ASSIGN_OR_RETURN(a.authorization_id, r.String("authorization"));
  MD_ASSIGN_OR_RETURN(a.agent_id, r.String("agent"));
  MD_ASSIGN_OR_RETURN(a.mandate_id, r.String("mandate"));
  MD_ASSIGN_OR_RETURN(a.state, r.String("state"));
  MD_ASSIGN_OR_RETURN(const json::Value* shown, r.Required("shown"));
  a.shown = *shown;
  MD_ASSIGN_OR_RETURN(a.shown_sha256, r.String("shown_sha256"));
  MD_ASSIGN_OR_RETURN(a.policy_version, r.String("policy_version"));
  MD_ASSIGN_OR_RETURN(a.created_at, r.Int("created_at"));
  MD_ASSIGN_OR_RETURN(a.expires_at, r.Int("expires_at"));
  MD_ASSIGN_OR_RETURN(a.decided_at, r.OptionalInt("decided_at"));
  if (const json::Value* by = r.Optional("decided_by")) {
    MD_ASSIGN_OR_RETURN(json::ObjectReader br, json::ObjectReader::Of(*by, "/decided_by"));
    MD_ASSIGN_OR_RETURN(std::optional<std::string> user, br.OptionalString("user"));
    a.decided_by_user = user.value_or("");
    MD_ASSIGN_OR_RETURN(a.decided_by_credential, br.String("credential"));
    MD_RETURN_IF_ERROR(br.Finish());
  }
  if (const json::Value* ev = r.Optional("evidence")) {
    MD_ASSIGN_OR_RETURN(json::ObjectReader er, json::ObjectReader::Of(*ev, "/evidence"));
    MD_ASSIGN_OR_RETURN(a.evidence, er.String("jws"));
    MD_ASSIGN_OR_RETURN(a.evidence_did, er.String("did"));
    MD_RETURN_IF_ERROR(er.Finish());
  }
  MD_ASSIGN_OR_RETURN(std::optional<std::string> note, r.OptionalString("note"));
  a.note = note.value_or("");
  MD_RETURN_IF_ERROR(r.Finish());
  return a;
}

Result<AuthorizeRequest> ParseAuthorizeRequest(const json::Value& body) {
  if (!body.is_object()) {
    return InvalidArgumentError("the body must be a JSON object", "wrong-type");
  }
  AuthorizeRequest out;
  json::Value purchase = json::Value::Object();
  bool have_mandate = false;
  for (size_t i = 0; i < body.keys().size(); ++i) {
    const std::string& key = body.keys()[i];
    const json::Value& val = body.items()[i];
    if (key == "mandate") {
      if (!val.is_string()) return InvalidArgumentError("/mandate: must be a string", "wrong-type");
      if (val.as_string().rfind("mnd_", 0) != 0 || val.as_string().size() > 64) {
        return InvalidArgumentError("/mandate: must be a mandate id (mnd_...)", "bad-mandate-id");
      }
      out.mandate_id = val.as_string();
      have_mandate = true;
    } else if (key == "cart_hash") {
      if (!val.is_string()) {
        return InvalidArgumentError("/cart_hash: must be a string", "wrong-type");
      }
      if (!IsCartHash(val.as_string())) {
        return InvalidArgumentError("/cart_hash: 1 to 128 of [A-Za-z0-9_=:.-]", "bad-cart-hash");
      }
      out.cart_hash = val.as_string();
    } else if (key == "at") {
      return InvalidArgumentError("/at: the service's clock decides the time", "unknown-field");
    } else {
      purchase.Set(key, val);
    }
  }
  if (!have_mandate) {
    return InvalidArgumentError("/mandate: is required", "missing-field");
  }
  MD_ASSIGN_OR_RETURN(out.purchase, mandates::ParsePurchase(purchase));
  if (out.purchase.amount.is_zero()) {
    return InvalidArgumentError("/amount: must be greater than zero", "bad-amount");
  }
  return out;
}

Result<std::optional<Amount>> ParseCaptureRequest(const json::Value& body) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  MD_ASSIGN_OR_RETURN(std::optional<Amount> amount, r.OptionalAmount("amount"));
  MD_RETURN_IF_ERROR(r.Finish());
  if (amount && amount->is_zero()) {
    return InvalidArgumentError("/amount: a capture of 0 is a void", "bad-amount");
  }
  return amount;
}

Result<DecideRequest> ParseDecideRequest(const json::Value& body) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  DecideRequest out;
  MD_ASSIGN_OR_RETURN(std::optional<std::string> evidence, r.OptionalString("evidence"));
  out.evidence = evidence.value_or("");
  if (evidence && (evidence->empty() || evidence->size() > 16384)) {
    return InvalidArgumentError("/evidence: a compact JWS of at most 16384 bytes", "bad-evidence");
  }
  MD_ASSIGN_OR_RETURN(std::optional<std::string> note, r.OptionalString("note"));
  out.note = note.value_or("");
  if (out.note.size() > 1000) {
    return InvalidArgumentError("/note: at most 1000 bytes", "bad-note");
  }
  MD_RETURN_IF_ERROR(r.Finish());
  return out;
}

}  // namespace mandated::policy
