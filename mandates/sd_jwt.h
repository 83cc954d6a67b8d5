// SD-JWT (RFC 9901) issuance, parsing and verification, and AP2's Delegate-SD-JWT key-binding
// chains joined by "~~" (specs/ap2.md §1-§3). A format module: no storage, no HTTP. Signing is
// delegated to a JwsSigner (a KeyStore or a PrivateKey); verification uses signer/jws.h.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/random.h"
#include "base/result.h"
#include "signer/jws.h"
#include "signer/keys.h"

namespace mandated::mandates::sdjwt {

// Header typ values of the hops of a chain (specs/ap2.md §3).
inline constexpr std::string_view kTypIntermediate = "kb+sd-jwt+kb";
inline constexpr std::string_view kTypTerminal = "kb+sd-jwt";
inline constexpr std::string_view kTypKeyBinding = "kb+jwt";  // RFC 9901 §4.3 KB-JWT
// Clock skew allowed on iat and exp (specs/ap2.md §3.4).
inline constexpr int64_t kDefaultSkewSeconds = 300;

// The digest algorithm named by "_sd_alg" (RFC 9901 §4.1.1; absent means sha-256).
enum class HashAlg : uint8_t { kSha256, kSha384, kSha512 };
std::string_view HashAlgName(HashAlg alg);  // "sha-256", "sha-384", "sha-512"
// kInvalidArgument "sd-jwt-bad-sd-alg" for any other name.
Result<HashAlg> HashAlgFromName(std::string_view name);
// base64url (no padding) of H(the ASCII bytes of `text`): disclosure digests, sd_hash,
// issuer_jwt_hash, checkout_hash and receipt references all use it.
std::string HashB64(HashAlg alg, std::string_view text);

// Signs a JWS: given the protected header (alg may be absent) and the payload bytes, returns the
// compact JWS. Errors pass through.
using JwsSigner = std::function<Result<std::string>(json::Value header, std::string_view payload)>;
// A JwsSigner over an in-memory key (tests, agent-side tools).
JwsSigner SignerFor(const signer::PrivateKey& key);

// One disclosure as received or issued.
struct Disclosure {
  std::string encoded;              // base64url of the JSON array, exactly as carried
  std::string salt;
  std::optional<std::string> name;  // absent for an array element ([salt, value])
  json::Value value;
};

// Parses one disclosure strictly: base64url of a JSON array [salt, name, value] or
// [salt, value], string salt and name. kInvalidArgument "sd-jwt-bad-disclosure" otherwise.
Result<Disclosure> ParseDisclosure(std::string_view encoded);

// Issues an SD-JWT (RFC 9901 §4): `claims` must be a JSON object; `frame` mirrors it and says
// what is selectively disclosable: an object's frame may hold "_sd": [member names], an array's
// frame "_sd": [indices]; any other frame member names a child (for arrays, the index as a
// string) to process recursively first. A non-object frame (null) discloses nothing. The
// "_sd_alg" claim is added; digests in each "_sd" are sorted; salts are 128-bit. `header` gets
// the signer's alg. Returns "<jwt>~<disclosure>~...~". Errors: kInvalidArgument
// "sd-jwt-bad-frame" (frame names a missing member or index, or a reserved name "_sd", "...",
// "_sd_alg"), and the signer's.
Result<std::string> Issue(const json::Value& claims, const json::Value& frame,
                          json::Value header, HashAlg alg, Random& random,
                          const JwsSigner& sign);

// One hop of a presentation: an issuer-signed (or agent-signed) JWT with its disclosures.
struct Hop {
  std::string compact;  // "<jwt>~<d1>~...~<dn>~" exactly as received: what sd_hash covers
  std::string jwt;      // the JWT alone: what issuer_jwt_hash covers
  signer::Jws jws;      // parsed, not yet verified
  json::Value payload;  // the signed payload (still with "_sd")
  std::vector<Disclosure> disclosures;
};

// A parsed presentation: one or more hops joined by "~~", and for a single hop optionally a
// trailing RFC 9901 KB-JWT ("<jwt>~<d>~<kb-jwt>").
struct Presentation {
  std::vector<Hop> hops;
  std::string kb_jwt;  // "" if none
};

// Structural parse (no signature or digest check). kInvalidArgument with reasons:
//   "sd-jwt-malformed"       empty, no "~", an empty disclosure, a chain hop carrying a KB-JWT,
//                            a bad JWS or a payload that is not a JSON object;
//   "sd-jwt-bad-disclosure"  as ParseDisclosure.
Result<Presentation> Parse(std::string_view compact);

// Recomputes the disclosed claims of a hop (RFC 9901 §7.1 steps 3-5): every disclosure's digest
// must be referenced exactly once; "_sd" and "_sd_alg" are removed. Reasons (kInvalidArgument):
//   "sd-jwt-bad-sd-alg"                "_sd_alg" is not a string naming sha-256/384/512;
//   "sd-jwt-bad-sd"                    "_sd" is not an array of strings; an array element
//                                      {"...": d} with other members or a non-string digest;
//   "sd-jwt-duplicate-digest"          the payload (with disclosed values) names a digest twice;
//   "sd-jwt-duplicate-disclosure"      the same disclosure is presented twice;
//   "sd-jwt-disclosure-shape"          a 2-element disclosure referenced from "_sd" or a
//                                      3-element one from an array;
//   "sd-jwt-reserved-claim-name"       a disclosure names "_sd" or "...";
//   "sd-jwt-duplicate-claim"           a disclosed name already exists in its object;
//   "sd-jwt-disclosure-unreferenced"   a disclosure whose digest the payload does not carry:
//                                      an altered disclosure, or one from another token.
Result<json::Value> Disclose(const Hop& hop);

// What a verified hop says.
struct VerifiedHop {
  std::string typ;
  json::Value claims;  // disclosed claims (Disclose)
  HashAlg alg = HashAlg::kSha256;
  std::optional<signer::PublicKey> cnf;  // the key its "cnf.jwk" binds, if any
};

// What the terminal hop (or KB-JWT) must say. aud and nonce are never optional: an empty
// expectation is refused as kInvalidArgument "sd-jwt-expectation-missing".
struct Expectation {
  std::string aud;
  std::string nonce;
  int64_t now = 0;  // Unix seconds
  int64_t skew = kDefaultSkewSeconds;
};

// Verifies a single SD-JWT (the first hop): ES256 signature by `issuer_key` (P-256), disclosures,
// "exp"/"nbf" against `now` when present, and "cnf" well formed when present. Reasons beyond
// Parse/Disclose and VerifyJws ("bad-signature", "alg-key-mismatch", ...):
//   "sd-jwt-not-es256"  the header alg is not ES256 or the key is not P-256;
//   "sd-jwt-bad-cnf"    "cnf" is not {"jwk": <P-256 public JWK>};
//   "sd-jwt-expired"    exp + skew <= now;  "sd-jwt-not-yet-valid"  nbf - skew > now.
Result<VerifiedHop> VerifyHop(const Hop& hop, const signer::PublicKey& key, int64_t now,
                              int64_t skew = kDefaultSkewSeconds);

// Verifies a whole presentation (specs/ap2.md §3): hop 0 with `issuer_key`, every later hop with
// the previous hop's cnf key; hops 1..n-2 must be typ kb+sd-jwt+kb and carry cnf; the last hop
// (n >= 2) must be typ kb+sd-jwt without cnf, with iat, aud == expect.aud, nonce == expect.nonce;
// every hop after the first carries exactly one of sd_hash (over the previous hop's compact
// form) or issuer_jwt_hash (over its JWT), computed with the previous hop's _sd_alg. A single hop
// with a KB-JWT is checked the same way (typ kb+jwt, sd_hash required). A single hop without one
// fails "sd-jwt-key-binding-missing". Reasons (kUnauthenticated unless noted):
//   "sd-jwt-hop-typ"             a hop's typ does not fit its position;
//   "sd-jwt-cnf-missing"         a hop that must bind the next key has no cnf;
//   "sd-jwt-cnf-forbidden"       the terminal hop carries cnf;
//   "sd-jwt-binding-missing"     neither or both of sd_hash and issuer_jwt_hash;
//   "sd-jwt-binding-mismatch"    the binding hash is not that of the previous hop;
//   "sd-jwt-kb-claim-missing"    the terminal hop lacks iat, aud or nonce (or one is mistyped);
//   "sd-jwt-wrong-aud", "sd-jwt-wrong-nonce", "sd-jwt-iat-in-future" (iat - skew > now);
// plus VerifyHop's for each hop (the message names the hop).
Result<std::vector<VerifiedHop>> VerifyPresentation(const Presentation& p,
                                                    const signer::PublicKey& issuer_key,
                                                    const Expectation& expect);

// Agent side: appends a Delegate-SD-JWT hop to `chain` (which ends in "~"). `claims` is the hop's
// content; the binding (sd_hash over `chain`'s last hop, or issuer_jwt_hash) is added with the
// last hop's _sd_alg; `terminal` picks the typ. Returns chain + "~" + the new hop.
struct HopOptions {
  bool terminal = true;
  bool bind_issuer_jwt = false;  // issuer_jwt_hash instead of sd_hash
  HashAlg alg = HashAlg::kSha256;  // the new hop's own _sd_alg
};
Result<std::string> AppendHop(std::string_view chain, json::Value claims, const json::Value& frame,
                              const HopOptions& options, Random& random, const JwsSigner& sign);

// Holder side of RFC 9901 §4.3: appends a KB-JWT (typ kb+jwt, iat, aud, nonce, sd_hash) to a
// single SD-JWT ending in "~".
Result<std::string> AppendKeyBinding(std::string_view sd_jwt, std::string_view aud,
                                     std::string_view nonce, int64_t iat, const JwsSigner& sign);

}  // namespace mandated::mandates::sdjwt
