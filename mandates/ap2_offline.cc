// Offline verification of AP2 open mandates against published keys and status lists
// (specs/ap2.md §5.6).
#include "mandates/ap2_offline.h"

#include <utility>

#include "mandates/ap2.h"
#include "mandates/sd_jwt.h"
#include "signer/jws.h"

namespace mandated::mandates::ap2 {
namespace {

constexpr char kRootTyp[] = "dc+sd-jwt";

std::string StringAt(const json::Value& v, std::string_view key) {
  const json::Value* m = v.is_object() ? v.Find(key) : nullptr;
  return m != nullptr && m->is_string() ? m->as_string() : "";
}

// The token's status.status_list, when it has a well-formed one; `bad` set when it has one that
// is not (a verifier cannot tell its status: fail closed). `signed_payload` is the root's payload
// as signed: the claim must be there, not in a disclosure a holder could leave out (§5.5).
std::optional<StatusReference> StatusOf(const json::Value& claims,
                                        const json::Value& signed_payload, bool* bad) {
  const json::Value* status = claims.Find("status");
  if (status == nullptr) return std::nullopt;
  if (signed_payload.Find("status") == nullptr) {
    *bad = true;
    return std::nullopt;
  }
  const json::Value* list = status->is_object() ? status->Find("status_list") : nullptr;
  const json::Value* idx = list != nullptr && list->is_object() ? list->Find("idx") : nullptr;
  const std::optional<uint64_t> i = idx != nullptr ? idx->as_uint64() : std::nullopt;
  const std::string uri = list != nullptr ? StringAt(*list, "uri") : "";
  if (!i || uri.empty()) {
    *bad = true;
    return std::nullopt;
  }
  return StatusReference{*i, uri};
}

}  // namespace

Status PublishedKeySet::Add(const json::Value& jwks) {
  const json::Value* keys = jwks.is_object() ? jwks.Find("keys") : nullptr;
  if (keys == nullptr || !keys->is_array()) {
    return InvalidArgumentError("JWKS must be {\"keys\": [...]}", "bad-jwks");
  }
  for (const json::Value& k : keys->items()) {
    const std::string kid = StringAt(k, "kid");
    if (kid.empty()) return InvalidArgumentError("JWKS keys need a string kid", "bad-jwks");
    if (keys_.count(kid) != 0) {
      return InvalidArgumentError("JWKS has the kid " + kid + " twice", "bad-jwks");
    }
    Result<signer::PublicKey> key = PublicKeyOfJwksEntry(k);
    if (!key.ok()) {
      return InvalidArgumentError("JWKS key " + kid + ": " + key.error().message(), "bad-jwks");
    }
    keys_.emplace(kid, *key);
  }
  return OkStatus();
}

Result<signer::PublicKey> PublishedKeySet::ResolveVerificationMethod(std::string_view kid) {
  auto it = keys_.find(kid);
  if (it == keys_.end()) {
    return NotFoundError("no published key " + std::string(kid), "key-not-found");
  }
  return it->second;
}

OpenVerdict VerifyOpenMandate(std::string_view token, PublishedKeySet& keys,
                              StatusSource& statuses, int64_t now) {
  OpenVerdict v;
  bool verified = false;  // the mandate's id is named only once its signature verified
  auto refuse = [&v, &verified](std::string code, std::string detail) {
    v.reasons.push_back(Reason{std::move(code), verified ? v.id : "", "", std::move(detail)});
    return v;
  };
  Result<sdjwt::Presentation> p = sdjwt::Parse(token);
  if (!p.ok()) return refuse(p.error().reason(), p.error().message());
  if (p->hops.size() != 1 || !p->kb_jwt.empty()) {
    return refuse("ap2-chain-shape",
                  "an open mandate as issued is one SD-JWT (\"<jwt>~<disclosures>~\"), without "
                  "later hops or a KB-JWT");
  }
  const sdjwt::Hop& root = p->hops[0];
  v.id = StringAt(root.payload, "jti");
  v.kid = root.jws.kid;
  if (root.jws.typ != kRootTyp) {
    return refuse("sd-jwt-hop-typ", "the open mandate's typ is \"" + root.jws.typ + "\", not " +
                                        kRootTyp);
  }
  Result<signer::PublicKey> key = keys.ResolveVerificationMethod(v.kid);
  if (!key.ok()) {
    return refuse("ap2-unknown-issuer",
                  "no published AP2 issuer key has the kid \"" + v.kid + "\"");
  }
  Result<sdjwt::VerifiedHop> hop = sdjwt::VerifyHop(root, *key, now);
  if (!hop.ok()) return refuse(hop.error().reason(), hop.error().message());
  verified = true;
  v.vct = StringAt(hop->claims, "vct");
  v.issuer = StringAt(hop->claims, "iss");
  const json::Value* exp = hop->claims.Find("exp");
  v.expires_at = exp != nullptr ? exp->as_int64().value_or(0) : 0;
  if (v.vct != kVctPaymentOpen && v.vct != kVctCheckoutOpen) {
    return refuse("ap2-not-open", "vct \"" + v.vct + "\" is not an open payment or checkout "
                                                     "mandate's");
  }
  bool bad_status = false;
  v.status = StatusOf(hop->claims, root.payload, &bad_status);
  if (bad_status) {
    return refuse("status-unknown",
                  "the status claim is not {\"status_list\":{\"idx\":<n>,\"uri\":\"...\"}} "
                  "in the signed payload");
  }
  if (v.status) {
    Result<uint8_t> value = statuses.StatusOf(*v.status, v.issuer, now);
    if (!value.ok()) return refuse(value.error().reason(), value.error().message());
    v.status_value = *value;
    if (*value == 1) {
      return refuse("revoked", "entry " + std::to_string(v.status->idx) + " of " +
                                   v.status->uri + " is 1: the principal revoked it");
    }
    if (*value != 0) {
      return refuse("status-unknown", "entry " + std::to_string(v.status->idx) + " of " +
                                          v.status->uri + " is " + std::to_string(*value));
    }
    v.status_checked = true;
  }
  v.valid = true;
  return v;
}

json::Value OpenVerdictToJson(const OpenVerdict& verdict, int64_t now) {
  json::Value out = json::Value::Object();
  out.Set("verdict", json::Value::String(verdict.valid ? "valid" : "invalid"));
  json::Value reasons = json::Value::Array();
  for (const Reason& r : verdict.reasons) reasons.Append(ReasonToJson(r));
  out.Set("reasons", std::move(reasons));
  if (!verdict.vct.empty()) {
    json::Value m = json::Value::Object();
    m.Set("id", json::Value::String(verdict.id));
    m.Set("vct", json::Value::String(verdict.vct));
    m.Set("issuer", json::Value::String(verdict.issuer));
    m.Set("kid", json::Value::String(verdict.kid));
    m.Set("expires_at", json::Value::Int(verdict.expires_at));
    m.Set("status_checked", json::Value::Bool(verdict.status_checked));
    if (verdict.status) {
      json::Value s = json::Value::Object()
                          .Set("idx", json::Value::Uint(verdict.status->idx))
                          .Set("uri", json::Value::String(verdict.status->uri));
      if (verdict.status_value) s.Set("value", json::Value::Uint(*verdict.status_value));
      m.Set("status", std::move(s));
    }
    out.Set("mandate", std::move(m));
  }
  out.Set("checked_at", json::Value::Int(now));
  return out;
}

}  // namespace mandated::mandates::ap2
