// JWS compact signing and strict verification.
#include "signer/jws.h"

#include "signer/signature.h"

namespace mandated::signer {
namespace {

Status BadJws(const std::string& why) { return InvalidArgumentError("JWS " + why, "bad-jws"); }

}  // namespace

Result<KeyType> KeyTypeForAlg(std::string_view alg) {
  if (alg == "EdDSA" || alg == "Ed25519") return KeyType::kEd25519;
  if (alg == "ES256") return KeyType::kP256;
  if (alg == "ES256K") return KeyType::kSecp256k1;
  if (alg == "none") {
    return UnauthenticatedError("JWS alg \"none\" is never accepted", "alg-none");
  }
  return UnauthenticatedError("JWS alg \"" + std::string(alg) + "\" is not supported", "unknown-alg");
}

std::string_view JwsAlgFor(KeyType type) {
  switch (type) {
    case KeyType::kEd25519: return "EdDSA";
    case KeyType::kP256: return "ES256";
    case KeyType::kSecp256k1: return "ES256K";
  }
  return "";
}

Result<std::string> SignJws(const PrivateKey& key, json::Value header, std::string_view payload) {
  if (!header.is_object()) {
    return InvalidArgumentError("JWS header must be a JSON object", "bad-jws");
  }
  const std::string alg(JwsAlgFor(key.type));
  if (const json::Value* a = header.Find("alg")) {
    if (!a->is_string() || a->as_string() != alg) {
      return InvalidArgumentError("JWS header alg does not match the key type (" + alg + ")",
                                  "alg-key-mismatch");
    }
  } else {
    json::Value with_alg = json::Value::Object();
    with_alg.Set("alg", json::Value::String(alg));
    for (size_t i = 0; i < header.size(); ++i) {
      with_alg.Set(header.keys()[i], header.items()[i]);
    }
    header = std::move(with_alg);
  }
  std::string input = Base64UrlEncode(AsBytes(json::Write(header)));
  input.push_back('.');
  input += Base64UrlEncode(AsBytes(payload));
  MD_ASSIGN_OR_RETURN(Bytes sig, Sign(key, AsBytes(input)));
  input.push_back('.');
  input += Base64UrlEncode(sig);
  return input;
}

Result<Jws> ParseJws(std::string_view compact) {
  const size_t d1 = compact.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : compact.find('.', d1 + 1);
  if (d1 == std::string_view::npos || d2 == std::string_view::npos ||
      compact.find('.', d2 + 1) != std::string_view::npos) {
    return BadJws("must have exactly three dot-separated parts");
  }
  Jws out;
  Result<Bytes> header = Base64UrlDecode(compact.substr(0, d1));
  Result<Bytes> payload = Base64UrlDecode(compact.substr(d1 + 1, d2 - d1 - 1));
  Result<Bytes> sig = Base64UrlDecode(compact.substr(d2 + 1));
  if (!header.ok() || !payload.ok() || !sig.ok() || d1 == 0) {
    return BadJws("parts must be non-empty unpadded base64url");
  }
  Result<json::Value> h = json::Parse(AsChars(*header));
  if (!h.ok()) {
    return BadJws("header is not strict JSON: " + h.error().message());
  }
  if (!h->is_object()) {
    return BadJws("header must be a JSON object");
  }
  const json::Value* alg = h->Find("alg");
  if (alg == nullptr || !alg->is_string()) {
    return BadJws("header needs a string alg");
  }
  for (const char* name : {"kid", "typ"}) {
    const json::Value* v = h->Find(name);
    if (v != nullptr && !v->is_string()) {
      return BadJws(std::string("header ") + name + " must be a string");
    }
  }
  out.alg = alg->as_string();
  out.kid = h->Find("kid") != nullptr ? h->Find("kid")->as_string() : "";
  out.typ = h->Find("typ") != nullptr ? h->Find("typ")->as_string() : "";
  out.header = std::move(*h);
  out.payload.assign(payload->begin(), payload->end());
  out.signing_input = std::string(compact.substr(0, d2));
  out.signature = std::move(*sig);
  return out;
}

Status VerifyJws(const Jws& jws, const PublicKey& key, const JwsVerifyOptions& options) {
  MD_ASSIGN_OR_RETURN(KeyType alg_type, KeyTypeForAlg(jws.alg));
  if (alg_type != key.type) {
    return UnauthenticatedError("JWS alg " + jws.alg + " cannot be used with a " +
                                    std::string(KeyTypeName(key.type)) + " key",
                                "alg-key-mismatch");
  }
  if (jws.header.Find("crit") != nullptr) {
    return UnauthenticatedError("JWS crit extensions are not supported", "unsupported-crit");
  }
  if (const json::Value* b64 = jws.header.Find("b64"); b64 != nullptr) {
    return UnauthenticatedError("JWS b64 header is not supported", "unsupported-crit");
  }
  VerifyOptions vo;
  vo.format = SignatureFormat::kRaw;
  vo.allow_high_s = options.allow_high_s;
  Status s = Verify(key, AsBytes(jws.signing_input), jws.signature, vo);
  if (!s.ok()) {
    return UnauthenticatedError("JWS signature does not verify", "bad-signature");
  }
  return OkStatus();
}

Result<json::Value> VerifyDidJwt(std::string_view compact, DidResolver& resolver,
                                 const JwsVerifyOptions& options) {
  MD_ASSIGN_OR_RETURN(Jws jws, ParseJws(compact));
  // The algorithm is judged first: a token with alg "none" or an unknown alg is refused as such.
  MD_RETURN_IF_ERROR(KeyTypeForAlg(jws.alg).status());
  Result<json::Value> claims = json::Parse(jws.payload);
  if (!claims.ok() || !claims->is_object()) {
    return BadJws("payload must be a strict JSON object");
  }
  const json::Value* iss = claims->Find("iss");
  if (iss == nullptr || !iss->is_string()) {
    return UnauthenticatedError("JWT has no string iss", "kid-issuer-mismatch");
  }
  std::string kid = jws.kid;
  if (kid.empty()) {
    // A did:key names exactly one key, so its DID alone identifies the verification method.
    if (iss->as_string().rfind("did:key:", 0) != 0) {
      return UnauthenticatedError("JWT header has no kid", "kid-missing");
    }
    kid = iss->as_string();
  }
  if (kid.substr(0, kid.find('#')) != iss->as_string()) {
    return UnauthenticatedError("JWT kid " + kid + " does not belong to its issuer",
                                "kid-issuer-mismatch");
  }
  Result<PublicKey> key = resolver.ResolveVerificationMethod(kid);
  if (!key.ok()) {
    return UnauthenticatedError(key.error().message(), "kid-unresolvable");
  }
  MD_RETURN_IF_ERROR(VerifyJws(jws, *key, options));
  return std::move(*claims);
}

}  // namespace mandated::signer
