// Key routes: the service's did:web document and JWKS, and the operator's key administration
// (specs/api.md §Keys). Responses carry public parts only.
#include "api/app.h"
#include "api/handler_util.h"
#include "api/problem.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"

namespace mandated::api {
namespace {

constexpr char kServiceOwner[] = "service";

Result<std::vector<signer::KeyInfo>> PublishedServiceKeys(signer::KeyStore& keys) {
  MD_ASSIGN_OR_RETURN(std::vector<signer::KeyInfo> all, keys.List(kServiceOwner));
  std::vector<signer::KeyInfo> out;
  for (signer::KeyInfo& k : all) {
    if (k.state != signer::KeyState::kDisabled) {
      out.push_back(std::move(k));
    }
  }
  return out;
}

Result<signer::KeyInfo> CreateKey(signer::KeyStore& keys, const json::Value& body) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  MD_ASSIGN_OR_RETURN(std::string type_name, r.String("type"));
  MD_ASSIGN_OR_RETURN(std::string purpose, r.String("purpose"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> owner, r.OptionalString("owner"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> import_hex, r.OptionalString("private_key_hex"));
  MD_RETURN_IF_ERROR(r.Finish());
  MD_ASSIGN_OR_RETURN(signer::KeyType type, signer::KeyTypeFromName(type_name));
  const std::string who = owner.value_or(kServiceOwner);
  if (!import_hex.has_value()) {
    return keys.Generate(type, purpose, who);
  }
  Result<Bytes> raw = HexDecode(*import_hex);
  SecureWipe(import_hex->data(), import_hex->size());
  if (!raw.ok() || raw->size() != 32) {
    return InvalidArgumentError("/private_key_hex: must be 64 hexadecimal characters", "bad-key");
  }
  SecretBytes secret = SecretBytes::Adopt(std::move(*raw));
  return keys.Import(type, secret.span(), purpose, who);
}

}  // namespace

Response App::DidDocument() const {
  Result<std::vector<signer::KeyInfo>> keys = PublishedServiceKeys(*keys_);
  if (!keys.ok()) {
    return ProblemResponse(keys.error(), Request());
  }
  json::Value context = json::Value::Array();
  context.Append(json::Value::String("https://www.w3.org/ns/did/v1"));
  context.Append(json::Value::String("https://w3id.org/security/suites/jws-2020/v1"));
  json::Value methods = json::Value::Array();
  json::Value refs = json::Value::Array();
  for (const signer::KeyInfo& k : *keys) {
    const std::string vm = service_did_ + "#" + k.id;
    json::Value m = json::Value::Object();
    m.Set("id", json::Value::String(vm));
    m.Set("type", json::Value::String("JsonWebKey2020"));
    m.Set("controller", json::Value::String(service_did_));
    m.Set("publicKeyJwk", signer::PublicKeyToJwk(k.public_key));
    methods.Append(std::move(m));
    refs.Append(json::Value::String(vm));
  }
  json::Value doc = json::Value::Object();
  doc.Set("@context", std::move(context));
  doc.Set("id", json::Value::String(service_did_));
  doc.Set("verificationMethod", std::move(methods));
  doc.Set("assertionMethod", refs);
  doc.Set("authentication", std::move(refs));
  Response r = JsonResponse(200, doc);
  r.content_type = "application/did+json";
  r.headers.emplace_back("Cache-Control", "public, max-age=300");
  return r;
}

Response App::Jwks() const {
  Result<std::vector<signer::KeyInfo>> keys = PublishedServiceKeys(*keys_);
  if (!keys.ok()) {
    return ProblemResponse(keys.error(), Request());
  }
  json::Value list = json::Value::Array();
  for (const signer::KeyInfo& k : *keys) {
    json::Value jwk = signer::PublicKeyToJwk(k.public_key);
    jwk.Set("kid", json::Value::String(service_did_ + "#" + k.id));
    jwk.Set("alg", json::Value::String(std::string(signer::JwsAlgFor(k.type))));
    jwk.Set("use", json::Value::String("sig"));
    list.Append(std::move(jwk));
  }
  json::Value body = json::Value::Object();
  body.Set("keys", std::move(list));
  Response r = JsonResponse(200, body);
  r.content_type = "application/jwk-set+json";
  r.headers.emplace_back("Cache-Control", "public, max-age=300");
  return r;
}

void App::RegisterKeyRoutes() {
  router_.Add("GET", "/.well-known/did.json", [this](Request&) { return DidDocument(); });
  router_.Add("GET", "/.well-known/jwks.json", [this](Request&) { return Jwks(); });

  auto guarded = [this](auto&& body) {
    return [this, body](Request& req) -> Response {
      if (Status s = operator_auth_->Check(BearerToken(req)); !s.ok()) {
        return ProblemResponse(s, req);
      }
      Result<signer::KeyInfo> k = body(req);
      if (!k.ok()) {
        return ProblemResponse(k.error(), req);
      }
      return JsonResponse(req.method == "POST" && req.path == "/v1/keys" ? 201 : 200,
                          signer::KeyInfoToJson(*k));
    };
  };
  router_.Add("POST", "/v1/keys", guarded([this](Request& req) -> Result<signer::KeyInfo> {
                Result<json::Value> body = ParseJsonBody(req);
                // The body may hold an imported private key: wipe it once parsed.
                SecureWipe(req.body.data(), req.body.size());
                if (!body.ok()) {
                  return body.error();
                }
                return CreateKey(*keys_, *body);
              }));
  router_.Add("GET", "/v1/keys/{id}",
              guarded([this](Request& req) { return keys_->Get(req.Param("id")); }));
  router_.Add("POST", "/v1/keys/{id}/rotate",
              guarded([this](Request& req) { return keys_->Rotate(req.Param("id")); }));
  router_.Add("POST", "/v1/keys/{id}/disable",
              guarded([this](Request& req) { return keys_->Disable(req.Param("id")); }));
  router_.Add("GET", "/v1/keys", [this](Request& req) {
    if (Status s = operator_auth_->Check(BearerToken(req)); !s.ok()) {
      return ProblemResponse(s, req);
    }
    Result<std::vector<signer::KeyInfo>> keys = keys_->List(req.Query("owner"));
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
  });
}

}  // namespace mandated::api
