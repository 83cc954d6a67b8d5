// Fuzz target: SD-JWT and AP2 Delegate-SD-JWT chains (mandates/sd_jwt.h, specs/ap2.md §1-§3).
// The input is a presentation as received ("<jwt>~<d>~...~" hops joined by "~~", optionally a
// KB-JWT), or one disclosure, or (when it is a JSON object) claims to issue. Properties: no
// crash; every hop of a parsed presentation discloses or is refused cleanly, and verifies against
// a fixed P-256 issuer key or is refused cleanly; claims issued with every top-level member
// selectively disclosable parse, verify with the issuer's key, and disclose to the same members.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/json.h"
#include "base/random.h"
#include "mandates/sd_jwt.h"
#include "signer/signature.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using mandated::Result;
namespace json = mandated::json;
namespace sdjwt = mandated::mandates::sdjwt;
namespace signer = mandated::signer;

// Salts from a counter, so that a run is repeatable.
class CountingRandom final : public mandated::Random {
 public:
  mandated::Status Fill(std::span<uint8_t> out) override {
    for (uint8_t& b : out) {
      b = static_cast<uint8_t>(next_++);
    }
    return mandated::OkStatus();
  }

 private:
  uint32_t next_ = 0;
};

struct Issuer {
  signer::PrivateKey priv;
  signer::PublicKey pub;
};

// RFC 6979 A.2.5's P-256 key (also the jws target's).
const Issuer& FixedIssuer() {
  static const Issuer issuer = [] {
    Result<mandated::Bytes> secret = mandated::HexDecode(
        "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721");
    FUZZ_CHECK(secret.ok());
    Result<signer::PrivateKey> priv = signer::ImportPrivateKey(signer::KeyType::kP256, *secret);
    FUZZ_CHECK(priv.ok());
    Result<signer::PublicKey> pub = signer::DerivePublicKey(*priv);
    FUZZ_CHECK(pub.ok());
    return Issuer{std::move(*priv), *pub};
  }();
  return issuer;
}

constexpr int64_t kNow = 1767225600;

// Whether `v` names, at any depth, a member the format reserves ("_sd", "_sd_alg", "...") or
// that verification reads ("cnf").
bool HasReservedName(const json::Value& v) {
  for (size_t i = 0; i < v.items().size(); ++i) {
    if (v.is_object()) {
      const std::string& k = v.keys()[i];
      if (k == "_sd" || k == "_sd_alg" || k == "..." || k == "cnf") {
        return true;
      }
    }
    if (HasReservedName(v.items()[i])) {
      return true;
    }
  }
  return false;
}

void CheckIssue(const json::Value& claims) {
  if (!claims.is_object() || HasReservedName(claims)) {
    return;
  }
  json::Value frame = json::Value::Object();
  json::Value names = json::Value::Array();
  for (const std::string& k : claims.keys()) {
    names.Append(json::Value::String(k));
  }
  frame.Set("_sd", names);
  CountingRandom random;
  const Issuer& issuer = FixedIssuer();
  Result<std::string> issued = sdjwt::Issue(claims, frame, json::Value::Object(),
                                            sdjwt::HashAlg::kSha256, random,
                                            sdjwt::SignerFor(issuer.priv));
  FUZZ_CHECK(issued.ok());
  Result<sdjwt::Presentation> p = sdjwt::Parse(*issued);
  FUZZ_CHECK(p.ok());
  FUZZ_CHECK(p->hops.size() == 1);
  Result<sdjwt::VerifiedHop> hop = sdjwt::VerifyHop(p->hops[0], issuer.pub, kNow, 0);
  // exp / nbf among the claims may make it refuse on time, and any of exp, nbf, iat that is not
  // an integer (a number beyond int64 included) as sd-jwt-bad-time; nothing else may fail.
  if (!hop.ok()) {
    const std::string& reason = hop.error().reason();
    FUZZ_CHECK(reason == "sd-jwt-expired" || reason == "sd-jwt-not-yet-valid" ||
               reason == "sd-jwt-bad-time");
    FUZZ_CHECK(claims.Find("exp") != nullptr || claims.Find("nbf") != nullptr ||
               claims.Find("iat") != nullptr);
    return;
  }
  for (size_t i = 0; i < claims.size(); ++i) {
    const json::Value* got = hop->claims.Find(claims.keys()[i]);
    FUZZ_CHECK(got != nullptr && *got == claims.items()[i]);
  }
  FUZZ_CHECK(hop->claims.size() == claims.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)sdjwt::ParseDisclosure(text);
  Result<sdjwt::Presentation> p = sdjwt::Parse(text);
  if (p.ok()) {
    for (const sdjwt::Hop& hop : p->hops) {
      (void)sdjwt::Disclose(hop);
      (void)sdjwt::VerifyHop(hop, FixedIssuer().pub, kNow);
    }
    sdjwt::Expectation expect;
    expect.aud = "https://merchant.example";
    expect.nonce = "n-0S6_WzA2Mj";
    expect.now = kNow;
    (void)sdjwt::VerifyPresentation(*p, FixedIssuer().pub, expect);
  }
  if (size <= 4096) {
    Result<json::Value> claims = json::Parse(text);
    if (claims.ok()) {
      CheckIssue(*claims);
    }
  }
  return 0;
}
