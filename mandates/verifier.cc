// Mandate verification shared by the online endpoint and the offline CLI (specs/mandate.md §7).
#include "mandates/verifier.h"

#include <utility>

#include "mandates/attenuation.h"
#include "mandates/status_list.h"
#include "signer/jws.h"

namespace mandated::mandates {
namespace {

// Status lists larger than this are refused when decoded (16 Mi entries of 2 bits).
constexpr size_t kMaxStatusListBytes = 4 << 20;

std::string DidOf(std::string_view did_url) {
  return std::string(did_url.substr(0, did_url.find('#')));
}

Reason MakeReason(std::string code, std::string mandate, std::string detail,
                  std::string pointer = "") {
  return Reason{std::move(code), std::move(mandate), std::move(pointer), std::move(detail)};
}

// The outcome of checking one token of a chain.
struct LinkCheck {
  std::optional<VerifiedLink> link;   // set when signature and credential are sound
  std::string fatal_code;             // set when they are not: the reason code
  std::string fatal_detail;
  std::vector<Reason> reasons;        // time and status failures of a sound link (own codes)
};

// Signature, header and credential: what must hold before anything in the token is believed.
LinkCheck CheckSignedCredential(const std::string& token, signer::DidResolver& resolver,
                                const std::vector<std::string>& trusted_issuers) {
  LinkCheck out;
  auto fail = [&](const Status& s) {
    out.fatal_code = s.reason().empty() ? "invalid" : s.reason();
    out.fatal_detail = s.message();
    return out;
  };
  Result<signer::Jws> jws = signer::ParseJws(token);
  if (!jws.ok()) {
    return fail(jws.error());
  }
  // The alg is judged first so that "none" and unknown algs are named as such.
  Result<signer::KeyType> alg_type = signer::KeyTypeForAlg(jws->alg);
  if (!alg_type.ok()) {
    return fail(alg_type.error());
  }
  if (Status h = CheckMandateHeader(jws->header); !h.ok()) {
    return fail(h);
  }
  // The payload is read in one pass straight into the credential when it can be; when that
  // declines, the strict parser and codec decide instead, and name the fault. Either way the
  // outcome is the same (ScanMandateCredential accepts only what they accept, equally).
  std::optional<MandateCredential> scanned = ScanMandateCredential(jws->payload);
  std::optional<json::Value> payload;
  if (!scanned) {
    Result<json::Value> parsed = json::Parse(jws->payload);
    if (!parsed.ok() || !parsed->is_object()) {
      return fail(InvalidArgumentError("payload is not a strict JSON object", "bad-jws"));
    }
    payload = std::move(*parsed);
  }
  // The kid must name a key of the issuer the token claims. Judged before the signature (on
  // claims not yet verified) so that a kid pointing elsewhere is named as such; either way
  // nothing in the token is believed unless the signature then verifies.
  const json::Value* iss = scanned ? nullptr : payload->Find("iss");
  if (!scanned && (iss == nullptr || !iss->is_string())) {
    return fail(UnauthenticatedError("kid " + jws->kid + " is not a key of the token's issuer",
                                     "kid-issuer-mismatch"));
  }
  const std::string_view kid_did = std::string_view(jws->kid).substr(0, jws->kid.find('#'));
  if (kid_did != (scanned ? scanned->issuer : iss->as_string())) {
    return fail(UnauthenticatedError("kid " + jws->kid + " is not a key of the token's issuer",
                                     "kid-issuer-mismatch"));
  }
  Result<signer::PublicKey> key = resolver.ResolveVerificationMethod(jws->kid);
  if (!key.ok()) {
    return fail(UnauthenticatedError(key.error().message(), "kid-unresolvable"));
  }
  if (Status v = signer::VerifyJws(*jws, *key); !v.ok()) {
    return fail(v);
  }
  Result<MandateCredential> cred =
      scanned ? Result<MandateCredential>(std::move(*scanned)) : ParseMandateCredential(*payload);
  if (!cred.ok()) {
    return fail(cred.error());
  }
  if (!trusted_issuers.empty()) {
    bool trusted = false;
    for (const std::string& t : trusted_issuers) {
      trusted = trusted || t == cred->issuer;
    }
    if (!trusted) {
      return fail(PermissionDeniedError("issuer " + cred->issuer + " is not trusted",
                                        "untrusted-issuer"));
    }
  }
  out.link = VerifiedLink{std::move(*cred), std::move(jws->alg), std::move(jws->kid),
                          std::nullopt};
  return out;
}

// Time window and status of a sound link; codes are the mandate's own ("expired", ...).
void CheckTimeAndStatus(LinkCheck& c, StatusSource& statuses, int64_t now) {
  VerifiedLink& link = *c.link;
  const MandateCredential& m = link.credential;
  if (now < m.validity.not_before) {
    c.reasons.push_back(MakeReason("not-yet-valid", m.id,
                                   "valid from " + FormatRfc3339Utc(m.validity.not_before),
                                   "/nbf"));
  }
  if (now >= m.validity.not_after) {
    c.reasons.push_back(MakeReason(
        "expired", m.id, "expired at " + FormatRfc3339Utc(m.validity.not_after), "/exp"));
  }
  Result<uint8_t> st = statuses.StatusOf(m.status, m.issuer, now);
  if (!st.ok()) {
    const std::string code =
        st.error().reason().empty() ? "status-unavailable" : st.error().reason();
    c.reasons.push_back(MakeReason(code, m.id, st.error().message(), "/status"));
    return;
  }
  link.status = *st;
  switch (*st) {
    case 0:
      break;
    case 1:
      c.reasons.push_back(MakeReason("revoked", m.id, "the status list marks it revoked",
                                     "/status"));
      break;
    case 2:
      c.reasons.push_back(MakeReason("suspended", m.id, "the status list marks it suspended",
                                     "/status"));
      break;
    default:
      c.reasons.push_back(MakeReason("status-unknown", m.id,
                                     "status value " + std::to_string(*st) + " is not defined",
                                     "/status"));
  }
}

// The code a parent's own failure has in its child's verdict.
std::string ParentCode(std::string_view own) {
  if (own == "revoked" || own == "suspended" || own == "expired" || own == "not-yet-valid") {
    return "parent-" + std::string(own);
  }
  if (own == "status-unavailable" || own == "status-index-out-of-range" ||
      own == "status-unknown") {
    return "parent-status-unavailable";
  }
  return "parent-invalid";
}

}  // namespace

Result<VerifyRequest> ParseVerifyRequest(const json::Value& body,
                                         const std::vector<std::string>& extra_members) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  VerifyRequest req;
  MD_ASSIGN_OR_RETURN(req.token, r.String("mandate"));
  if (req.token.empty() || req.token.size() > 32768) {
    return InvalidArgumentError("/mandate: must be a compact JWS of at most 32768 bytes",
                                "bad-jws");
  }
  if (const json::Value* chain = r.Optional("chain")) {
    if (!chain->is_array()) {
      return InvalidArgumentError("/chain: must be an array of compact JWS", "wrong-type");
    }
    if (chain->items().size() >= static_cast<size_t>(kMaxChainLength)) {
      return InvalidArgumentError("/chain: at most " + std::to_string(kMaxChainLength - 1) +
                                      " ancestors",
                                  "too-many-items");
    }
    for (size_t i = 0; i < chain->items().size(); ++i) {
      const json::Value& t = chain->items()[i];
      if (!t.is_string() || t.as_string().empty() || t.as_string().size() > 32768) {
        return InvalidArgumentError("/chain/" + std::to_string(i) + ": must be a compact JWS",
                                    "wrong-type");
      }
      req.chain.push_back(t.as_string());
    }
  }
  if (const json::Value* p = r.Optional("purchase")) {
    MD_ASSIGN_OR_RETURN(Purchase purchase, ParsePurchase(*p, "/purchase"));
    req.purchase = std::move(purchase);
  }
  if (const json::Value* ti = r.Optional("trusted_issuers")) {
    if (!ti->is_array() || ti->items().empty() || ti->items().size() > 32) {
      return InvalidArgumentError("/trusted_issuers: must be 1 to 32 DIDs", "wrong-type");
    }
    for (size_t i = 0; i < ti->items().size(); ++i) {
      const json::Value& d = ti->items()[i];
      if (!d.is_string() || d.as_string().rfind("did:", 0) != 0 || d.as_string().size() > 512) {
        return InvalidArgumentError("/trusted_issuers/" + std::to_string(i) + ": must be a DID",
                                    "bad-did");
      }
      req.trusted_issuers.push_back(d.as_string());
    }
  }
  for (const std::string& m : extra_members) {
    (void)r.Optional(m);
  }
  MD_RETURN_IF_ERROR(r.Finish());
  return req;
}

Verdict VerifyMandate(const VerifyRequest& request, signer::DidResolver& resolver,
                      StatusSource& statuses, const VerifyOptions& options) {
  Verdict verdict;
  const int64_t now = options.now;

  // The mandate itself.
  LinkCheck head = CheckSignedCredential(request.token, resolver, request.trusted_issuers);
  if (!head.link) {
    verdict.reasons.push_back(MakeReason(head.fatal_code, "", head.fatal_detail));
    return verdict;
  }
  CheckTimeAndStatus(head, statuses, now);
  verdict.reasons = std::move(head.reasons);
  verdict.chain.push_back(std::move(*head.link));

  // Its ancestors, nearest first: each must be the one the child names, sound, current, from
  // the same issuer, and no narrower than the child.
  size_t used = 0;
  while (!verdict.chain.back().credential.terms.parent.empty()) {
    const MandateCredential& child = verdict.chain.back().credential;
    const std::string want = child.terms.parent.substr(kMandateIdPrefix.size());
    if (verdict.chain.size() >= static_cast<size_t>(kMaxChainLength)) {
      verdict.reasons.push_back(MakeReason(
          "chain-too-long", child.id,
          "a delegation chain holds at most " + std::to_string(kMaxChainLength) + " mandates"));
      break;
    }
    if (used >= request.chain.size()) {
      verdict.reasons.push_back(MakeReason("parent-missing", child.id,
                                           "the token of parent " + want + " was not given",
                                           "/credentialSubject/mandate/parent"));
      break;
    }
    LinkCheck parent = CheckSignedCredential(request.chain[used], resolver, {});
    ++used;
    if (!parent.link) {
      verdict.reasons.push_back(MakeReason("parent-invalid", want,
                                           parent.fatal_code + ": " + parent.fatal_detail));
      break;
    }
    const MandateCredential& pc = parent.link->credential;
    if (pc.id != want) {
      verdict.reasons.push_back(MakeReason("parent-mismatch", child.id,
                                           "chain entry " + std::to_string(used - 1) + " is " +
                                               pc.id + ", not the parent " + want,
                                           "/credentialSubject/mandate/parent"));
      break;
    }
    if (pc.issuer != child.issuer) {
      verdict.reasons.push_back(MakeReason(
          "chain-issuer-mismatch", child.id,
          "parent " + pc.id + " was issued by " + pc.issuer + ", the child by " + child.issuer,
          "/iss"));
      break;
    }
    if (Status a = CheckAttenuation(pc.terms, pc.validity, child.terms, child.validity);
        !a.ok()) {
      // The attenuation message starts with the child's offending pointer.
      const std::string& msg = a.message();
      std::string pointer;
      if (!msg.empty() && msg[0] == '/') {
        pointer = msg.substr(0, msg.find(':'));
        pointer = (pointer == "/validFrom" || pointer == "/validUntil")
                      ? pointer
                      : "/credentialSubject/mandate" + pointer;
      }
      verdict.reasons.push_back(MakeReason(a.reason().empty() ? "delegation-widens" : a.reason(),
                                           child.id, msg, pointer));
    }
    CheckTimeAndStatus(parent, statuses, now);
    for (const Reason& r : parent.reasons) {
      verdict.reasons.push_back(MakeReason(ParentCode(r.code), r.mandate, r.detail, r.pointer));
    }
    verdict.chain.push_back(std::move(*parent.link));
  }
  if (verdict.reasons.empty() && used < request.chain.size()) {
    verdict.reasons.push_back(MakeReason(
        "chain-unexpected", verdict.chain.front().credential.id,
        std::to_string(request.chain.size() - used) + " chain token(s) beyond the root"));
  }

  // The purchase against every mandate of the chain: a child spends within its parents too.
  if (request.purchase) {
    for (const VerifiedLink& link : verdict.chain) {
      std::vector<Reason> pr =
          CheckPurchase(link.credential.terms, *request.purchase, link.credential.id);
      verdict.reasons.insert(verdict.reasons.end(), pr.begin(), pr.end());
      verdict.step_up = verdict.step_up || NeedsStepUp(link.credential.terms, *request.purchase,
                                                       now);
    }
  }
  verdict.valid = verdict.reasons.empty();
  return verdict;
}

json::Value VerdictToJson(const Verdict& verdict, int64_t now) {
  json::Value v = json::Value::Object();
  v.Set("verdict", json::Value::String(verdict.valid ? "valid" : "invalid"));
  json::Value reasons = json::Value::Array();
  for (const Reason& r : verdict.reasons) {
    reasons.Append(ReasonToJson(r));
  }
  v.Set("reasons", std::move(reasons));
  if (!verdict.chain.empty()) {
    const VerifiedLink& head = verdict.chain.front();
    const MandateCredential& m = head.credential;
    json::Value mj = json::Value::Object();
    mj.Set("id", json::Value::String(m.id));
    mj.Set("issuer", json::Value::String(m.issuer));
    mj.Set("subject", json::Value::String(m.subject));
    mj.Set("valid_from", json::Value::String(FormatRfc3339Utc(m.validity.not_before)));
    mj.Set("valid_until", json::Value::String(FormatRfc3339Utc(m.validity.not_after)));
    mj.Set("alg", json::Value::String(head.alg));
    mj.Set("kid", json::Value::String(head.kid));
    json::Value st = json::Value::Object();
    st.Set("idx", json::Value::Uint(m.status.idx));
    st.Set("uri", json::Value::String(m.status.uri));
    mj.Set("status_list", std::move(st));
    mj.Set("terms", MandateTermsToJson(m.terms));
    v.Set("mandate", std::move(mj));
  }
  json::Value chain = json::Value::Array();
  for (const VerifiedLink& l : verdict.chain) {
    chain.Append(json::Value::String(l.credential.id));
  }
  v.Set("chain", std::move(chain));
  if (verdict.step_up) {
    v.Set("step_up", json::Value::Bool(true));
  }
  v.Set("checked_at", json::Value::Int(now));
  return v;
}

void TokenStatusListSource::Check(List& list) {
  list.checked = true;
  Result<signer::Jws> jws = signer::ParseJws(list.token);
  if (!jws.ok()) {
    list.problem = "a status list token does not parse: " + jws.error().message();
    return;
  }
  const json::Value* typ = jws->header.Find("typ");
  if (typ == nullptr || !typ->is_string() || typ->as_string() != kStatusListTyp) {
    list.problem = "a status list token does not have typ statuslist+jwt";
    return;
  }
  Result<json::Value> payload = json::Parse(jws->payload);
  if (!payload.ok() || !payload->is_object()) {
    list.problem = "a status list token's payload is not a JSON object";
    return;
  }
  Result<signer::PublicKey> key = resolver_.ResolveVerificationMethod(jws->kid);
  if (!key.ok()) {
    list.problem = "the status list's kid does not resolve: " + key.error().message();
    return;
  }
  if (Status s = signer::VerifyJws(*jws, *key); !s.ok()) {
    list.problem = "the status list's signature does not verify: " + s.message();
    return;
  }
  list.signer_did = issuer_of_ ? issuer_of_(jws->kid) : DidOf(jws->kid);
  const json::Value* iss = payload->Find("iss");
  if (iss != nullptr && (!iss->is_string() || iss->as_string() != list.signer_did)) {
    list.problem = "the status list's kid is not a key of its iss";
    return;
  }
  Result<StatusListClaims> claims = ParseStatusListClaims(*payload, kMaxStatusListBytes);
  if (!claims.ok()) {
    list.problem = "the status list does not parse: " + claims.error().message();
    return;
  }
  if (claims->statuses.bits() != 2) {
    list.problem = "the status list has " + std::to_string(claims->statuses.bits()) +
                   " bits per entry, not 2";
    return;
  }
  list.claims = std::move(*claims);
}

Result<uint8_t> TokenStatusListSource::StatusOf(const StatusReference& ref,
                                                std::string_view issuer, int64_t now) {
  std::string problem;  // why no list answered; built only when one did not
  // Of the lists that qualify, the one issued last (largest iat) answers, whatever the order they
  // were given in: an older list from before a revocation must not win (specs/mandate.md §7.3).
  // Lists issued at the same second: the one with the higher status (an index past the end
  // highest), so a tie never hides a non-zero status.
  const List* best = nullptr;
  Result<uint8_t> best_status = uint8_t{0};
  for (List& list : lists_) {
    if (!list.checked) {
      Check(list);
    }
    if (!list.problem.empty()) {
      problem = list.problem;
      continue;
    }
    if (list.claims.uri != ref.uri) {
      continue;  // a list for another URI
    }
    // Only the mandate's issuer speaks for its status: a list for the same URI signed by any
    // other key (an agent's own did:key, say) is not evidence.
    if (list.signer_did != issuer) {
      problem = "the status list for " + ref.uri + " is signed by " + list.signer_did +
                ", not by the mandate's issuer " + std::string(issuer);
      continue;
    }
    if (list.claims.expires_at == 0) {
      problem = "the status list for " + ref.uri + " has no exp: it could be replayed forever";
      continue;
    }
    if (now >= list.claims.expires_at) {
      problem = "the status list for " + ref.uri + " expired at " +
                FormatRfc3339Utc(list.claims.expires_at);
      continue;
    }
    Result<uint8_t> st = list.claims.statuses.Get(ref.idx);
    bool wins = best == nullptr || list.claims.issued_at > best->claims.issued_at;
    if (!wins && list.claims.issued_at == best->claims.issued_at && best_status.ok()) {
      wins = !st.ok() || *st > *best_status;
    }
    if (wins) {
      best = &list;
      best_status = std::move(st);
    }
  }
  if (best != nullptr) {
    if (!best_status.ok()) {
      return OutOfRangeError("index " + std::to_string(ref.idx) + " is past the end of " +
                                 ref.uri,
                             "status-index-out-of-range");
    }
    return *best_status;
  }
  if (problem.empty()) {
    problem = "no status list for " + ref.uri + " was given";
  }
  return UnavailableError(problem, "status-unavailable");
}

Status DocumentResolver::AddDidDocument(const json::Value& doc) {
  auto bad = [](const std::string& why) {
    return InvalidArgumentError("DID document " + why, "bad-did-document");
  };
  if (!doc.is_object()) {
    return bad("must be a JSON object");
  }
  const json::Value* id = doc.Find("id");
  if (id == nullptr || !id->is_string() || id->as_string().rfind("did:", 0) != 0) {
    return bad("must have a string id that is a DID");
  }
  const std::string did = id->as_string();
  // Methods usable to assert: those referenced (or embedded) in assertionMethod.
  std::vector<std::string> assertion;
  if (const json::Value* am = doc.Find("assertionMethod")) {
    if (!am->is_array()) {
      return bad("assertionMethod must be an array");
    }
    for (const json::Value& m : am->items()) {
      if (m.is_string()) {
        assertion.push_back(m.as_string());
      } else if (m.is_object() && m.Find("id") != nullptr && m.Find("id")->is_string()) {
        assertion.push_back(m.Find("id")->as_string());
      }
    }
  }
  auto absolute = [&](const std::string& ref) { return ref[0] == '#' ? did + ref : ref; };
  const json::Value* vms = doc.Find("verificationMethod");
  if (vms != nullptr && !vms->is_array()) {
    return bad("verificationMethod must be an array");
  }
  std::vector<const json::Value*> methods;
  if (vms != nullptr) {
    for (const json::Value& m : vms->items()) {
      methods.push_back(&m);
    }
  }
  if (const json::Value* am = doc.Find("assertionMethod")) {
    for (const json::Value& m : am->items()) {
      if (m.is_object()) {
        methods.push_back(&m);
      }
    }
  }
  for (const json::Value* m : methods) {
    const json::Value* mid = m->is_object() ? m->Find("id") : nullptr;
    const json::Value* jwk = m->is_object() ? m->Find("publicKeyJwk") : nullptr;
    const json::Value* controller = m->is_object() ? m->Find("controller") : nullptr;
    if (mid == nullptr || !mid->is_string() || mid->as_string().empty() || jwk == nullptr) {
      return bad("verification methods need a string id and a publicKeyJwk");
    }
    if (controller != nullptr && (!controller->is_string() || controller->as_string() != did)) {
      continue;  // a key controlled by someone else never speaks for this DID
    }
    const std::string url = absolute(mid->as_string());
    if (DidOf(url) != did) {
      continue;
    }
    bool asserts = false;
    for (const std::string& a : assertion) {
      asserts = asserts || absolute(a) == url;
    }
    if (!asserts) {
      continue;
    }
    Result<signer::PublicKey> key = signer::PublicKeyFromJwk(*jwk);
    if (!key.ok()) {
      return bad("method " + url + ": " + key.error().message());
    }
    keys_.insert_or_assign(url, *key);
  }
  return OkStatus();
}

Result<signer::PublicKey> PublicKeyOfJwksEntry(const json::Value& jwk) {
  json::Value bare = json::Value::Object();
  for (const std::string& name : jwk.keys()) {
    if (name == "kty" || name == "crv" || name == "x" || name == "y") {
      bare.Set(name, *jwk.Find(name));
    }
  }
  return signer::PublicKeyFromJwk(bare);
}

Status DocumentResolver::AddJwks(const json::Value& jwks) {
  const json::Value* keys = jwks.is_object() ? jwks.Find("keys") : nullptr;
  if (keys == nullptr || !keys->is_array()) {
    return InvalidArgumentError("JWKS must be {\"keys\": [...]}", "bad-jwks");
  }
  for (const json::Value& k : keys->items()) {
    const json::Value* kid = k.is_object() ? k.Find("kid") : nullptr;
    if (kid == nullptr || !kid->is_string() || kid->as_string().rfind("did:", 0) != 0) {
      return InvalidArgumentError("JWKS keys need a kid that is a DID URL", "bad-jwks");
    }
    Result<signer::PublicKey> key = PublicKeyOfJwksEntry(k);
    if (!key.ok()) {
      return InvalidArgumentError("JWKS key " + kid->as_string() + ": " + key.error().message(),
                                  "bad-jwks");
    }
    keys_.insert_or_assign(kid->as_string(), *key);
  }
  return OkStatus();
}

Result<signer::PublicKey> DocumentResolver::ResolveVerificationMethod(std::string_view did_url) {
  if (did_url.rfind("did:key:", 0) == 0) {
    signer::DidKeyResolver did_key;
    return did_key.ResolveVerificationMethod(did_url);
  }
  auto it = keys_.find(did_url);
  if (it == keys_.end()) {
    return NotFoundError("no verification method " + std::string(did_url) + " is known",
                         "kid-unresolvable");
  }
  return it->second;
}

}  // namespace mandated::mandates
