// Key routes: the service's did:web document and JWKS, and the operator's key administration
// (specs/api.md §Keys). Responses carry public parts only.
#include "api/app.h"

#include <functional>

#include "api/handler_util.h"
#include "api/problem.h"
#include "mandates/ap2_authority.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"

namespace mandated::api {
namespace {

constexpr char kServiceOwner[] = "service";

}  // namespace

// The keys a DID document publishes: an owner's keys that are not disabled, of one purpose when
// `purpose` is given (a principal's DID speaks only through its issuer keys).
Result<std::vector<signer::KeyInfo>> PublishedKeys(signer::KeyStore& keys, const std::string& owner,
                                                   const std::string& purpose) {
  MD_ASSIGN_OR_RETURN(std::vector<signer::KeyInfo> all, keys.List(owner));
  std::vector<signer::KeyInfo> out;
  for (signer::KeyInfo& k : all) {
    if (k.state != signer::KeyState::kDisabled && (purpose.empty() || k.purpose == purpose)) {
      out.push_back(std::move(k));
    }
  }
  return out;
}

namespace {

// The service keys its DID document and JWKS publish: all but the audit key, which signs
// checkpoint notes rather than JWS and is published as a note verifier key (specs/audit.md §2).
Result<std::vector<signer::KeyInfo>> ServiceJwsKeys(signer::KeyStore& keys) {
  MD_ASSIGN_OR_RETURN(std::vector<signer::KeyInfo> all, PublishedKeys(keys, kServiceOwner, ""));
  std::erase_if(all, [](const signer::KeyInfo& k) { return k.purpose == "audit"; });
  return all;
}

// `fixed_owner`: a principal's key route (no "owner" field accepted); otherwise the operator's
// route, where "owner" defaults to the service. An imported private key is read from the body in
// place: its only copy is the SecretBytes below (the caller wipes the body's text).
// `audit_key` makes the service's audit key as the audit log does (one at a time, under its
// lock), so a request racing the log's own creation (or another request) makes no second one.
Result<signer::KeyInfo> CreateKey(signer::KeyStore& keys, identity::PrincipalStore& principals,
                                  const std::function<Result<signer::KeyInfo>()>& audit_key,
                                  const json::Value& body,
                                  const std::optional<std::string>& fixed_owner) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  MD_ASSIGN_OR_RETURN(std::string type_name, r.String("type"));
  MD_ASSIGN_OR_RETURN(std::string purpose, r.String("purpose"));
  std::optional<std::string> owner;
  if (!fixed_owner.has_value()) {
    MD_ASSIGN_OR_RETURN(owner, r.OptionalString("owner"));
  }
  const json::Value* import_hex = r.Optional("private_key_hex");
  if (import_hex != nullptr && !import_hex->is_string()) {
    return InvalidArgumentError("/private_key_hex: expected a string", "wrong-type");
  }
  MD_RETURN_IF_ERROR(r.Finish());
  MD_ASSIGN_OR_RETURN(signer::KeyType type, signer::KeyTypeFromName(type_name));
  const std::string who = fixed_owner.value_or(owner.value_or(kServiceOwner));
  // An owner is the service or a principal that exists: a key for a typo would never be used
  // nor published, and listed under an owner nobody is (specs/api.md §Keys).
  if (owner.has_value() && *owner != kServiceOwner) {
    if (Result<identity::Principal> p = principals.Get(*owner); !p.ok()) {
      if (p.error().code() != StatusCode::kNotFound) return p.error();
      return InvalidArgumentError("/owner: no principal " + owner->substr(0, 64) +
                                      " (\"service\" or a principal id)",
                                  "bad-key-request");
    }
  }
  // The audit log's checkpoint key (specs/audit.md §3) is Ed25519 and born here: a key known
  // outside the key store could sign a rewritten history.
  if (purpose == "audit" && (type != signer::KeyType::kEd25519 || import_hex != nullptr)) {
    return InvalidArgumentError("/purpose: an audit key is generated here as Ed25519, never "
                                "imported or of another type",
                                "bad-key-request");
  }
  // AP2's roots are ES256 (specs/ap2.md §5.1): an issuer key of another type would sign
  // mandates every AP2 verifier refuses, so the principal's AP2 issuance would stop.
  if (purpose == mandates::ap2::kIssuerPurpose && type != signer::KeyType::kP256) {
    return InvalidArgumentError("/type: an ap2-issuer key is P-256 (AP2 mandates are ES256)",
                                "bad-key-request");
  }
  if (purpose == "audit") {
    // One audit key at a time, replaced only by rotation, which keeps the one it replaces
    // listed for the checkpoints it signed (specs/audit.md §2). A second active key would take
    // over signing and leave the first unlisted, so earlier checkpoints would stop verifying.
    if (who != kServiceOwner) {
      return InvalidArgumentError("/owner: an audit key is the service's", "bad-key-request");
    }
    Result<signer::KeyInfo> current = keys.ActiveKey(kServiceOwner, "audit");
    if (current.ok()) {
      return FailedPreconditionError("the service has an active audit key " + current->id +
                                         "; replace it with POST /v1/keys/" + current->id +
                                         "/rotate",
                                     "audit-key-exists");
    }
    if (current.error().code() != StatusCode::kNotFound) return current.error();
    return audit_key();
  }
  if (import_hex == nullptr) {
    return keys.Generate(type, purpose, who);
  }
  Result<Bytes> raw = HexDecode(import_hex->as_string());
  SecretBytes secret;
  if (raw.ok()) secret = SecretBytes::Adopt(std::move(*raw));
  if (secret.size() != 32) {
    return InvalidArgumentError("/private_key_hex: must be 64 hexadecimal characters", "bad-key");
  }
  return keys.Import(type, secret.span(), purpose, who);
}

Result<signer::KeyInfo> CreateKeyFromRequest(
    signer::KeyStore& keys, identity::PrincipalStore& principals,
    const std::function<Result<signer::KeyInfo>()>& audit_key, Request& req,
    const std::optional<std::string>& fixed_owner) {
  Result<json::Value> body = ParseJsonBody(req);
  // The body may hold an imported private key: wipe it once parsed, and its parsed text after use.
  SecureWipe(req.body.data(), req.body.size());
  if (!body.ok()) {
    return body.error();
  }
  Result<signer::KeyInfo> created = CreateKey(keys, principals, audit_key, *body, fixed_owner);
  if (json::Value* hex = body->is_object() ? body->Find("private_key_hex") : nullptr;
      hex != nullptr) {
    hex->WipeText();
  }
  return created;
}

Response KeyList(const Result<std::vector<signer::KeyInfo>>& keys, const Request& req) {
  if (!keys.ok()) {
    return ProblemResponse(keys.error(), req);
  }
  json::Value items = json::Value::Array();
  for (const signer::KeyInfo& k : *keys) {
    items.Append(signer::KeyInfoToJson(k));
  }
  json::Value body = json::Value::Object();
  body.Set("items", std::move(items));
  return JsonResponse(200, body);
}

}  // namespace

Response DidDocumentResponse(const std::string& did,
                             const Result<std::vector<signer::KeyInfo>>& keys) {
  if (!keys.ok()) {
    return ProblemResponse(keys.error(), Request());
  }
  json::Value context = json::Value::Array();
  context.Append(json::Value::String("https://www.w3.org/ns/did/v1"));
  context.Append(json::Value::String("https://w3id.org/security/suites/jws-2020/v1"));
  json::Value methods = json::Value::Array();
  json::Value refs = json::Value::Array();
  for (const signer::KeyInfo& k : *keys) {
    const std::string vm = did + "#" + k.id;
    json::Value m = json::Value::Object();
    m.Set("id", json::Value::String(vm));
    m.Set("type", json::Value::String("JsonWebKey2020"));
    m.Set("controller", json::Value::String(did));
    m.Set("publicKeyJwk", signer::PublicKeyToJwk(k.public_key));
    methods.Append(std::move(m));
    refs.Append(json::Value::String(vm));
  }
  json::Value doc = json::Value::Object();
  doc.Set("@context", std::move(context));
  doc.Set("id", json::Value::String(did));
  doc.Set("verificationMethod", std::move(methods));
  doc.Set("assertionMethod", refs);
  doc.Set("authentication", std::move(refs));
  Response r = JsonResponse(200, doc);
  r.content_type = "application/did+json";
  r.headers.emplace_back("Cache-Control", "public, max-age=300");
  return r;
}

Response JwksResponse(const std::string& did, const Result<std::vector<signer::KeyInfo>>& keys) {
  if (!keys.ok()) {
    return ProblemResponse(keys.error(), Request());
  }
  json::Value list = json::Value::Array();
  for (const signer::KeyInfo& k : *keys) {
    json::Value jwk = signer::PublicKeyToJwk(k.public_key);
    jwk.Set("kid", json::Value::String(did + "#" + k.id));
    jwk.Set("alg", json::Value::String(std::string(signer::JwsAlgFor(k.type))));
    jwk.Set("use", json::Value::String("sig"));
    list.Append(std::move(jwk));
  }
  json::Value body = json::Value::Object();
  body.Set("keys", std::move(list));
  return JwkSetResponse(body);
}

Response JwkSetResponse(const json::Value& jwks) {
  Response r = JsonResponse(200, jwks);
  r.content_type = "application/jwk-set+json";
  r.headers.emplace_back("Cache-Control", "public, max-age=300");
  return r;
}

void App::RegisterKeyRoutes() {
  using identity::Permission;
  router_.Add("GET", "/.well-known/did.json", [this](Request&) {
    return DidDocumentResponse(service_did_, ServiceJwsKeys(*keys_));
  });
  router_.Add("GET", "/.well-known/jwks.json", [this](Request&) {
    return JwksResponse(service_did_, ServiceJwsKeys(*keys_));
  });
  const AccessGuard& g = *guard_;

  // The service's own keys: operator only. `owner` in the body or query picks any owner.
  router_.Add("POST", "/v1/keys", g.Guard(Permission::kManageServiceKeys, [this](Request& req, const Access&) {
    return Answer(CreateKeyFromRequest(*keys_, *principals_, [this] { return audit_->AuditKey(); }, req,
                                       std::nullopt), req, 201, signer::KeyInfoToJson);
  }));
  router_.Add("GET", "/v1/keys/{key}", g.Guard(Permission::kManageServiceKeys, [this](Request& req, const Access&) {
    return Answer(keys_->Get(req.Param("key")), req, 200, signer::KeyInfoToJson);
  }));
  router_.Add("POST", "/v1/keys/{key}/rotate", g.Guard(Permission::kManageServiceKeys, [this](Request& req, const Access&) {
    return Answer(keys_->Rotate(req.Param("key")), req, 200, signer::KeyInfoToJson);
  }));
  router_.Add("POST", "/v1/keys/{key}/disable", g.Guard(Permission::kManageServiceKeys, [this](Request& req, const Access&) {
    return Answer(keys_->Disable(req.Param("key")), req, 200, signer::KeyInfoToJson);
  }));
  router_.Add("GET", "/v1/keys", g.Guard(Permission::kManageServiceKeys, [this](Request& req, const Access&) {
    return KeyList(keys_->List(req.Query("owner")), req);
  }));

  // A principal's keys (issuer keys, custodial agent keys): owner is the principal, always.
  const std::string base = "/v1/principals/{principal}/keys";
  auto owned = [this](const Access& a, const std::string& id) -> Result<signer::KeyInfo> {
    MD_ASSIGN_OR_RETURN(signer::KeyInfo k, keys_->Get(id));
    if (k.owner != a.tenant->principal_id()) {
      // As for a key that does not exist: another principal's key is not to be found here.
      return NotFoundError("no key " + id, "key-not-found");
    }
    return k;
  };
  router_.Add("POST", base, g.Guard(Permission::kManageKeys, [this](Request& req, const Access& a) {
    if (Status s = RequireWholePrincipal(a); !s.ok()) return ProblemResponse(s, req);
    return Answer(CreateKeyFromRequest(*keys_, *principals_, [this] { return audit_->AuditKey(); }, req,
                                       a.tenant->principal_id()), req, 201, signer::KeyInfoToJson);
  }));
  router_.Add("GET", base, g.Guard(Permission::kReadKeys, [this](Request& req, const Access& a) {
    return KeyList(keys_->List(a.tenant->principal_id()), req);
  }));
  router_.Add("GET", base + "/{key}", g.Guard(Permission::kReadKeys, [owned](Request& req, const Access& a) {
    return Answer(owned(a, req.Param("key")), req, 200, signer::KeyInfoToJson);
  }));
  for (const char* action : {"rotate", "disable"}) {
    router_.Add("POST", base + "/{key}/" + action, g.Guard(Permission::kManageKeys, [this, owned, action](Request& req, const Access& a) -> Response {
      if (Status s = RequireWholePrincipal(a); !s.ok()) return ProblemResponse(s, req);
      Result<signer::KeyInfo> k = owned(a, req.Param("key"));
      if (!k.ok()) return ProblemResponse(k.error(), req);
      const bool rotate = std::string_view(action) == "rotate";
      return Answer(rotate ? keys_->Rotate(k->id) : keys_->Disable(k->id), req, 200, signer::KeyInfoToJson);
    }));
  }
}

}  // namespace mandated::api
