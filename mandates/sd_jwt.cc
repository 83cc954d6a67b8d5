// SD-JWT (RFC 9901) and Delegate-SD-JWT chains: issuance, parsing, disclosure processing and
// chain verification (specs/ap2.md §1-§3).
#include "mandates/sd_jwt.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>

#include "base/bytes.h"
#include "signer/did.h"
#include "signer/hash.h"

namespace mandated::mandates::sdjwt {
namespace {

constexpr size_t kSaltBytes = 16;   // 128-bit salts (RFC 9901 §4.2.1)
constexpr int kMaxWalkDepth = 128;  // nesting of payload plus disclosed values

Status Malformed(std::string message) {
  return InvalidArgumentError("SD-JWT: " + std::move(message), "sd-jwt-malformed");
}
Status Invalid(std::string message, std::string reason) {
  return InvalidArgumentError("SD-JWT: " + std::move(message), std::move(reason));
}
Status Unauth(std::string message, std::string reason) {
  return UnauthenticatedError("SD-JWT: " + std::move(message), std::move(reason));
}

bool IsReservedName(std::string_view name) { return name == "_sd" || name == "..."; }

// `obj` without member `key` (order kept).
json::Value Without(const json::Value& obj, std::string_view key) {
  json::Value out = json::Value::Object();
  for (size_t i = 0; i < obj.size(); ++i) {
    if (obj.keys()[i] != key) out.AppendMember(obj.keys()[i], obj.items()[i]);
  }
  return out;
}

// ---- issuance ----

struct Issuer {
  HashAlg alg;
  Random& random;
  std::vector<std::string>& disclosures;

  Result<std::string> MakeDisclosure(const std::optional<std::string>& name,
                                     const json::Value& value) {
    MD_ASSIGN_OR_RETURN(Bytes salt, random.Generate(kSaltBytes));
    json::Value arr = json::Value::Array();
    arr.Append(json::Value::String(Base64UrlEncode(salt)));
    if (name.has_value()) arr.Append(json::Value::String(*name));
    arr.Append(value);
    std::string encoded = Base64UrlEncode(AsBytes(json::Write(arr)));
    std::string digest = HashB64(alg, encoded);
    disclosures.push_back(std::move(encoded));
    return digest;
  }

  Status Conceal(json::Value& node, const json::Value& frame, int depth) {
    if (!frame.is_object()) return OkStatus();
    if (depth > kMaxWalkDepth) return Invalid("frame nests too deep", "sd-jwt-bad-frame");
    // Children first, so values disclosed below are concealed inside their parent's disclosure.
    for (size_t i = 0; i < frame.size(); ++i) {
      const std::string& k = frame.keys()[i];
      if (k == "_sd") continue;
      json::Value* child = nullptr;
      if (node.is_object()) {
        child = node.Find(k);
      } else if (node.is_array()) {
        char* end = nullptr;
        const unsigned long idx = std::strtoul(k.c_str(), &end, 10);
        if (!k.empty() && end != nullptr && *end == '\0' && idx < node.items().size()) {
          child = &node.items()[idx];
        }
      }
      if (child == nullptr) return Invalid("frame names a missing member " + k, "sd-jwt-bad-frame");
      MD_RETURN_IF_ERROR(Conceal(*child, frame.items()[i], depth + 1));
    }
    const json::Value* sd = frame.Find("_sd");
    if (sd == nullptr) return OkStatus();
    if (!sd->is_array()) return Invalid("frame _sd must be an array", "sd-jwt-bad-frame");
    if (node.is_object()) {
      std::vector<std::string> digests;
      if (const json::Value* existing = node.Find("_sd"); existing != nullptr) {
        return Invalid("claims already carry _sd", "sd-jwt-bad-frame");
      }
      for (const json::Value& n : sd->items()) {
        if (!n.is_string() || IsReservedName(n.as_string()) || n.as_string() == "_sd_alg") {
          return Invalid("frame _sd must name ordinary members", "sd-jwt-bad-frame");
        }
        const json::Value* v = node.Find(n.as_string());
        if (v == nullptr) {
          return Invalid("frame names a missing member " + n.as_string(), "sd-jwt-bad-frame");
        }
        MD_ASSIGN_OR_RETURN(std::string d, MakeDisclosure(n.as_string(), *v));
        node = Without(node, n.as_string());
        digests.push_back(std::move(d));
      }
      std::sort(digests.begin(), digests.end());
      json::Value arr = json::Value::Array();
      for (std::string& d : digests) arr.Append(json::Value::String(std::move(d)));
      node.Set("_sd", std::move(arr));
      return OkStatus();
    }
    if (node.is_array()) {
      std::set<uint64_t> done;
      for (const json::Value& n : sd->items()) {
        const std::optional<uint64_t> idx = n.is_number() ? n.as_uint64() : std::nullopt;
        if (!idx.has_value() || *idx >= node.items().size() || !done.insert(*idx).second) {
          return Invalid("frame _sd of an array must list distinct indices", "sd-jwt-bad-frame");
        }
        json::Value& item = node.items()[*idx];
        MD_ASSIGN_OR_RETURN(std::string d, MakeDisclosure(std::nullopt, item));
        item = json::Value::Object().Set("...", json::Value::String(std::move(d)));
      }
      return OkStatus();
    }
    return Invalid("frame _sd on a value that is neither object nor array", "sd-jwt-bad-frame");
  }
};

// ---- disclosure processing (RFC 9901 §7.1) ----

struct Walker {
  HashAlg alg;
  const std::vector<Disclosure>& disclosures;
  std::map<std::string, size_t> by_digest;
  std::vector<bool> used;
  std::set<std::string> seen;

  Status Note(const std::string& digest) {
    if (!seen.insert(digest).second) {
      return Invalid("the digest " + digest + " appears twice", "sd-jwt-duplicate-digest");
    }
    return OkStatus();
  }

  Status Walk(json::Value& node, int depth) {
    if (depth > kMaxWalkDepth) return Invalid("claims nest too deep", "json-too-deep");
    if (node.is_object()) {
      json::Value out = json::Value::Object();
      const json::Value* sd = nullptr;
      for (size_t i = 0; i < node.size(); ++i) {
        if (node.keys()[i] == "_sd") {
          sd = &node.items()[i];
          continue;
        }
        json::Value child = node.items()[i];
        MD_RETURN_IF_ERROR(Walk(child, depth + 1));
        out.AppendMember(node.keys()[i], std::move(child));
      }
      if (sd != nullptr) {
        if (!sd->is_array()) return Invalid("_sd must be an array", "sd-jwt-bad-sd");
        for (const json::Value& d : sd->items()) {
          if (!d.is_string()) return Invalid("_sd must hold strings", "sd-jwt-bad-sd");
          MD_RETURN_IF_ERROR(Note(d.as_string()));
          auto it = by_digest.find(d.as_string());
          if (it == by_digest.end()) continue;  // undisclosed (or a decoy)
          const Disclosure& disc = disclosures[it->second];
          used[it->second] = true;
          if (!disc.name.has_value()) {
            return Invalid("an array-element disclosure is referenced from _sd",
                           "sd-jwt-disclosure-shape");
          }
          if (IsReservedName(*disc.name)) {
            return Invalid("a disclosure names the reserved claim " + *disc.name,
                           "sd-jwt-reserved-claim-name");
          }
          if (out.Find(*disc.name) != nullptr) {
            return Invalid("the claim " + *disc.name + " is disclosed over an existing one",
                           "sd-jwt-duplicate-claim");
          }
          json::Value v = disc.value;
          MD_RETURN_IF_ERROR(Walk(v, depth + 1));
          out.AppendMember(*disc.name, std::move(v));
        }
      }
      node = std::move(out);
      return OkStatus();
    }
    if (node.is_array()) {
      json::Value out = json::Value::Array();
      for (json::Value& item : node.items()) {
        const json::Value* dots = item.is_object() ? item.Find("...") : nullptr;
        if (dots == nullptr) {
          MD_RETURN_IF_ERROR(Walk(item, depth + 1));
          out.Append(std::move(item));
          continue;
        }
        if (item.size() != 1 || !dots->is_string()) {
          return Invalid("an array digest must be {\"...\": \"<digest>\"}", "sd-jwt-bad-sd");
        }
        MD_RETURN_IF_ERROR(Note(dots->as_string()));
        auto it = by_digest.find(dots->as_string());
        if (it == by_digest.end()) continue;  // undisclosed element: dropped
        const Disclosure& disc = disclosures[it->second];
        used[it->second] = true;
        if (disc.name.has_value()) {
          return Invalid("a claim disclosure is referenced from an array",
                         "sd-jwt-disclosure-shape");
        }
        json::Value v = disc.value;
        MD_RETURN_IF_ERROR(Walk(v, depth + 1));
        out.Append(std::move(v));
      }
      node = std::move(out);
    }
    return OkStatus();
  }
};

Result<HashAlg> SdAlgOf(const json::Value& payload) {
  const json::Value* a = payload.Find("_sd_alg");
  if (a == nullptr) return HashAlg::kSha256;
  if (!a->is_string()) return Invalid("_sd_alg must be a string", "sd-jwt-bad-sd-alg");
  return HashAlgFromName(a->as_string());
}

Result<Hop> ParseHop(std::string_view segment, std::string* kb_jwt) {
  const size_t last = segment.rfind('~');
  if (last == std::string_view::npos) return Malformed("a hop has no '~'");
  Hop hop;
  hop.compact = std::string(segment.substr(0, last + 1));
  *kb_jwt = std::string(segment.substr(last + 1));
  std::string_view rest = hop.compact;
  size_t tilde = rest.find('~');
  hop.jwt = std::string(rest.substr(0, tilde));
  if (hop.jwt.empty()) return Malformed("a hop has an empty JWT");
  rest.remove_prefix(tilde + 1);
  while (!rest.empty()) {
    tilde = rest.find('~');
    const std::string_view enc = rest.substr(0, tilde);
    if (enc.empty()) return Malformed("empty disclosure");
    MD_ASSIGN_OR_RETURN(Disclosure d, ParseDisclosure(enc));
    hop.disclosures.push_back(std::move(d));
    rest.remove_prefix(tilde + 1);
  }
  Result<signer::Jws> jws = signer::ParseJws(hop.jwt);
  if (!jws.ok()) return Malformed("the JWT is not a compact JWS: " + jws.error().message());
  hop.jws = std::move(*jws);
  Result<json::Value> payload = json::Parse(hop.jws.payload);
  if (!payload.ok() || !payload->is_object()) return Malformed("the JWT payload is not an object");
  hop.payload = std::move(*payload);
  return hop;
}

Status CheckEs256(const signer::Jws& jws, const signer::PublicKey& key) {
  if (jws.alg != "ES256" || key.type != signer::KeyType::kP256) {
    return Unauth("only ES256 with a P-256 key is accepted (got " + jws.alg + ")",
                  "sd-jwt-not-es256");
  }
  // ES256 (RFC 7518 §3.4) does not require low S, and other signers (Node's WebCrypto among them)
  // do not normalize it. Replay protection never keys on signature bytes (specs/ap2.md §1).
  signer::JwsVerifyOptions options;
  options.allow_high_s = true;
  return signer::VerifyJws(jws, key, options);
}

// The optional integer claim `name`; "sd-jwt-bad-time" when present but not an integer.
Result<std::optional<int64_t>> TimeClaim(const json::Value& claims, std::string_view name) {
  const json::Value* v = claims.Find(name);
  if (v == nullptr) return std::optional<int64_t>();
  std::optional<int64_t> t = v->is_number() ? v->as_int64() : std::nullopt;
  if (!t.has_value()) return Invalid(std::string(name) + " must be an integer", "sd-jwt-bad-time");
  return t;
}

// iat, aud and nonce of a terminal hop or KB-JWT.
Status CheckKeyBindingClaims(const json::Value& claims, const Expectation& expect,
                             const std::string& where) {
  const json::Value* iat = claims.Find("iat");
  const json::Value* aud = claims.Find("aud");
  const json::Value* nonce = claims.Find("nonce");
  if (iat == nullptr || !iat->is_number() || !iat->as_int64().has_value() || aud == nullptr ||
      !aud->is_string() || nonce == nullptr || !nonce->is_string()) {
    return Unauth(where + " needs integer iat and string aud and nonce", "sd-jwt-kb-claim-missing");
  }
  if (aud->as_string() != expect.aud) {
    return Unauth(where + " is for audience " + aud->as_string(), "sd-jwt-wrong-aud");
  }
  if (nonce->as_string() != expect.nonce) return Unauth(where + " has another nonce", "sd-jwt-wrong-nonce");
  // Arithmetic on the service's clock only: the claim is the client's and may be any int64.
  if (*iat->as_int64() > expect.now + expect.skew) {
    return Unauth(where + " is issued in the future", "sd-jwt-iat-in-future");
  }
  return OkStatus();
}

// Exactly one of sd_hash / issuer_jwt_hash, matching the previous hop.
Status CheckBinding(const json::Value& claims, const Hop& prev, HashAlg prev_alg,
                    const std::string& where, bool allow_issuer_jwt_hash) {
  const json::Value* sd_hash = claims.Find("sd_hash");
  const json::Value* jwt_hash = allow_issuer_jwt_hash ? claims.Find("issuer_jwt_hash") : nullptr;
  if ((sd_hash == nullptr) == (jwt_hash == nullptr)) {
    return Unauth(where + " needs exactly one of sd_hash and issuer_jwt_hash",
                  "sd-jwt-binding-missing");
  }
  const json::Value* h = sd_hash != nullptr ? sd_hash : jwt_hash;
  const std::string want = HashB64(prev_alg, sd_hash != nullptr ? prev.compact : prev.jwt);
  if (!h->is_string() || h->as_string() != want) {
    return Unauth(where + (sd_hash != nullptr ? " sd_hash" : " issuer_jwt_hash") +
                      " does not match the previous hop",
                  "sd-jwt-binding-mismatch");
  }
  return OkStatus();
}

}  // namespace

std::string_view HashAlgName(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha256: return "sha-256";
    case HashAlg::kSha384: return "sha-384";
    case HashAlg::kSha512: return "sha-512";
  }
  return "sha-256";
}

Result<HashAlg> HashAlgFromName(std::string_view name) {
  if (name == "sha-256") return HashAlg::kSha256;
  if (name == "sha-384") return HashAlg::kSha384;
  if (name == "sha-512") return HashAlg::kSha512;
  return Invalid("unsupported _sd_alg " + std::string(name), "sd-jwt-bad-sd-alg");
}

std::string HashB64(HashAlg alg, std::string_view text) {
  switch (alg) {
    case HashAlg::kSha384: return Base64UrlEncode(signer::Sha384(AsBytes(text)));
    case HashAlg::kSha512: return Base64UrlEncode(signer::Sha512(AsBytes(text)));
    case HashAlg::kSha256: break;
  }
  return Base64UrlEncode(signer::Sha256(AsBytes(text)));
}

JwsSigner SignerFor(const signer::PrivateKey& key) {
  return [&key](json::Value header, std::string_view payload) {
    return signer::SignJws(key, std::move(header), payload);
  };
}

Result<Disclosure> ParseDisclosure(std::string_view encoded) {
  auto bad = [](const std::string& why) { return Invalid("disclosure " + why, "sd-jwt-bad-disclosure"); };
  Result<Bytes> raw = Base64UrlDecode(encoded);
  if (!raw.ok()) return bad("is not base64url");
  Result<json::Value> arr = json::Parse(AsChars(*raw));
  if (!arr.ok() || !arr->is_array()) return bad("is not a JSON array");
  const std::vector<json::Value>& items = arr->items();
  if (items.size() != 2 && items.size() != 3) return bad("must have 2 or 3 elements");
  if (!items[0].is_string()) return bad("salt must be a string");
  Disclosure d;
  d.encoded = std::string(encoded);
  d.salt = items[0].as_string();
  if (items.size() == 3) {
    if (!items[1].is_string()) return bad("claim name must be a string");
    d.name = items[1].as_string();
  }
  d.value = items.back();
  return d;
}

Result<std::string> Issue(const json::Value& claims, const json::Value& frame,
                          json::Value header, HashAlg alg, Random& random,
                          const JwsSigner& sign) {
  if (!claims.is_object()) return Invalid("claims must be an object", "sd-jwt-bad-frame");
  if (claims.Find("_sd_alg") != nullptr) return Invalid("claims carry _sd_alg", "sd-jwt-bad-frame");
  std::vector<std::string> disclosures;
  Issuer issuer{alg, random, disclosures};
  json::Value payload = claims;
  MD_RETURN_IF_ERROR(issuer.Conceal(payload, frame, 0));
  payload.Set("_sd_alg", json::Value::String(std::string(HashAlgName(alg))));
  MD_ASSIGN_OR_RETURN(std::string out, sign(std::move(header), json::Write(payload)));
  out.push_back('~');
  for (const std::string& d : disclosures) {
    out += d;
    out.push_back('~');
  }
  return out;
}

Result<Presentation> Parse(std::string_view compact) {
  if (compact.empty()) return Malformed("empty");
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (true) {
    const size_t j = compact.find("~~", start);
    if (j == std::string_view::npos) {
      segments.push_back(compact.substr(start));
      break;
    }
    segments.push_back(compact.substr(start, j + 1 - start));  // keeps the hop's closing '~'
    start = j + 2;
  }
  Presentation p;
  for (size_t i = 0; i < segments.size(); ++i) {
    std::string kb;
    MD_ASSIGN_OR_RETURN(Hop hop, ParseHop(segments[i], &kb));
    if (!kb.empty()) {
      if (segments.size() != 1) return Malformed("a hop of a chain carries a KB-JWT");
      p.kb_jwt = std::move(kb);
    }
    p.hops.push_back(std::move(hop));
  }
  return p;
}

Result<json::Value> Disclose(const Hop& hop) {
  MD_ASSIGN_OR_RETURN(HashAlg alg, SdAlgOf(hop.payload));
  Walker w{alg, hop.disclosures, {}, std::vector<bool>(hop.disclosures.size(), false), {}};
  for (size_t i = 0; i < hop.disclosures.size(); ++i) {
    if (!w.by_digest.emplace(HashB64(alg, hop.disclosures[i].encoded), i).second) {
      return Invalid("a disclosure is presented twice", "sd-jwt-duplicate-disclosure");
    }
  }
  json::Value claims = Without(hop.payload, "_sd_alg");
  MD_RETURN_IF_ERROR(w.Walk(claims, 0));
  for (size_t i = 0; i < w.used.size(); ++i) {
    if (!w.used[i]) {
      return Invalid("disclosure " + std::to_string(i) +
                         " is not referenced by the token (altered or foreign)",
                     "sd-jwt-disclosure-unreferenced");
    }
  }
  return claims;
}

Result<VerifiedHop> VerifyHop(const Hop& hop, const signer::PublicKey& key, int64_t now,
                              int64_t skew) {
  MD_RETURN_IF_ERROR(CheckEs256(hop.jws, key));
  VerifiedHop v;
  v.typ = hop.jws.typ;
  MD_ASSIGN_OR_RETURN(v.alg, SdAlgOf(hop.payload));
  MD_ASSIGN_OR_RETURN(v.claims, Disclose(hop));
  MD_ASSIGN_OR_RETURN(std::optional<int64_t> exp, TimeClaim(v.claims, "exp"));
  MD_ASSIGN_OR_RETURN(std::optional<int64_t> nbf, TimeClaim(v.claims, "nbf"));
  // iat, when present, is an integer too (§1), on every hop, not only where key binding needs it.
  MD_RETURN_IF_ERROR(TimeClaim(v.claims, "iat").status());
  // Arithmetic on the service's clock only: the claims may be any int64.
  if (exp.has_value() && *exp <= now - skew) return Unauth("expired", "sd-jwt-expired");
  if (nbf.has_value() && *nbf > now + skew) return Unauth("not yet valid", "sd-jwt-not-yet-valid");
  if (const json::Value* cnf = v.claims.Find("cnf"); cnf != nullptr) {
    const json::Value* jwk = cnf->is_object() ? cnf->Find("jwk") : nullptr;
    Result<signer::PublicKey> k =
        jwk != nullptr ? signer::PublicKeyFromJwk(*jwk) : Result<signer::PublicKey>(
                                                              Invalid("no jwk", "bad-jwk"));
    if (!k.ok() || k->type != signer::KeyType::kP256) {
      return Invalid("cnf must be {\"jwk\": <P-256 public JWK>}", "sd-jwt-bad-cnf");
    }
    v.cnf = std::move(*k);
  }
  return v;
}

Result<std::vector<VerifiedHop>> VerifyPresentation(const Presentation& p,
                                                    const signer::PublicKey& issuer_key,
                                                    const Expectation& expect) {
  if (expect.aud.empty() || expect.nonce.empty()) {
    return Invalid("the verifier must name the expected aud and nonce",
                   "sd-jwt-expectation-missing");
  }
  if (p.hops.empty()) return Malformed("no hops");
  const size_t n = p.hops.size();
  if (n == 1 && p.kb_jwt.empty()) {
    return Unauth("the presentation carries no key binding", "sd-jwt-key-binding-missing");
  }
  std::vector<VerifiedHop> out;
  {
    Result<VerifiedHop> root = VerifyHop(p.hops[0], issuer_key, expect.now, expect.skew);
    if (!root.ok()) return root.error().Annotate("hop 0");
    out.push_back(std::move(*root));
  }
  for (size_t i = 1; i < n; ++i) {
    const std::string where = "hop " + std::to_string(i);
    const VerifiedHop& prev = out.back();
    if (!prev.cnf.has_value()) {
      return Unauth("hop " + std::to_string(i - 1) + " binds no key (cnf)", "sd-jwt-cnf-missing");
    }
    const bool terminal = i + 1 == n;
    const std::string_view want_typ = terminal ? kTypTerminal : kTypIntermediate;
    if (p.hops[i].jws.typ != want_typ) {
      return Unauth(where + " typ must be " + std::string(want_typ), "sd-jwt-hop-typ");
    }
    Result<VerifiedHop> v = VerifyHop(p.hops[i], *prev.cnf, expect.now, expect.skew);
    if (!v.ok()) return v.error().Annotate(where);
    MD_RETURN_IF_ERROR(CheckBinding(v->claims, p.hops[i - 1], prev.alg, where, true));
    if (terminal) {
      if (v->cnf.has_value()) return Unauth(where + " is terminal but carries cnf", "sd-jwt-cnf-forbidden");
      MD_RETURN_IF_ERROR(CheckKeyBindingClaims(v->claims, expect, where));
    } else if (!v->cnf.has_value()) {
      return Unauth(where + " is intermediate but binds no key (cnf)", "sd-jwt-cnf-missing");
    }
    out.push_back(std::move(*v));
  }
  if (n == 1) {
    const VerifiedHop& root = out.front();
    if (!root.cnf.has_value()) return Unauth("the SD-JWT binds no key (cnf)", "sd-jwt-cnf-missing");
    Result<signer::Jws> kb = signer::ParseJws(p.kb_jwt);
    if (!kb.ok()) return Malformed("the KB-JWT is not a compact JWS");
    if (kb->typ != kTypKeyBinding) return Unauth("KB-JWT typ must be kb+jwt", "sd-jwt-hop-typ");
    MD_RETURN_IF_ERROR(CheckEs256(*kb, *root.cnf));
    Result<json::Value> claims = json::Parse(kb->payload);
    if (!claims.ok() || !claims->is_object()) return Malformed("the KB-JWT payload is not an object");
    MD_RETURN_IF_ERROR(CheckBinding(*claims, p.hops[0], root.alg, "the KB-JWT", false));
    MD_RETURN_IF_ERROR(CheckKeyBindingClaims(*claims, expect, "the KB-JWT"));
    VerifiedHop kbv;
    kbv.typ = kb->typ;
    kbv.claims = std::move(*claims);
    out.push_back(std::move(kbv));
  }
  return out;
}

Result<std::string> AppendHop(std::string_view chain, json::Value claims, const json::Value& frame,
                              const HopOptions& options, Random& random, const JwsSigner& sign) {
  MD_ASSIGN_OR_RETURN(Presentation p, Parse(chain));
  if (!p.kb_jwt.empty()) return Malformed("cannot extend a presentation that ends in a KB-JWT");
  const Hop& last = p.hops.back();
  MD_ASSIGN_OR_RETURN(HashAlg prev_alg, SdAlgOf(last.payload));
  if (!claims.is_object()) return Invalid("hop claims must be an object", "sd-jwt-bad-frame");
  if (options.bind_issuer_jwt) {
    claims.Set("issuer_jwt_hash", json::Value::String(HashB64(prev_alg, last.jwt)));
  } else {
    claims.Set("sd_hash", json::Value::String(HashB64(prev_alg, last.compact)));
  }
  json::Value header = json::Value::Object().Set(
      "typ", json::Value::String(std::string(options.terminal ? kTypTerminal : kTypIntermediate)));
  MD_ASSIGN_OR_RETURN(std::string hop,
                      Issue(claims, frame, std::move(header), options.alg, random, sign));
  std::string out(chain);
  out.push_back('~');
  out += hop;
  return out;
}

Result<std::string> AppendKeyBinding(std::string_view sd_jwt, std::string_view aud,
                                     std::string_view nonce, int64_t iat, const JwsSigner& sign) {
  MD_ASSIGN_OR_RETURN(Presentation p, Parse(sd_jwt));
  if (p.hops.size() != 1 || !p.kb_jwt.empty()) {
    return Malformed("a KB-JWT binds one SD-JWT without a KB-JWT");
  }
  MD_ASSIGN_OR_RETURN(HashAlg alg, SdAlgOf(p.hops[0].payload));
  json::Value claims = json::Value::Object();
  claims.Set("iat", json::Value::Int(iat));
  claims.Set("aud", json::Value::String(std::string(aud)));
  claims.Set("nonce", json::Value::String(std::string(nonce)));
  claims.Set("sd_hash", json::Value::String(HashB64(alg, p.hops[0].compact)));
  json::Value header =
      json::Value::Object().Set("typ", json::Value::String(std::string(kTypKeyBinding)));
  MD_ASSIGN_OR_RETURN(std::string kb, sign(std::move(header), json::Write(claims)));
  return std::string(sd_jwt) + kb;
}

}  // namespace mandated::mandates::sdjwt
