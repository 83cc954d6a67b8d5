// SD-JWT (RFC 9901) and Delegate-SD-JWT chains: issuance round trips under each _sd_alg, the
// RFC's own disclosure digests, and every refusal with its reason (specs/ap2.md §2-§3).
#include "mandates/sd_jwt.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <utility>

#include "base/bytes.h"
#include "base/json.h"
#include "base/random.h"
#include "signer/did.h"
#include "signer/signature.h"

namespace mandated::mandates::sdjwt {
namespace {

constexpr int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z

json::Value J(std::string_view text) {
  Result<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : json::Value();
}

signer::PrivateKey NewKey(signer::KeyType type = signer::KeyType::kP256) {
  SystemRandom random;
  Result<signer::PrivateKey> k = signer::GenerateKey(type, random);
  EXPECT_TRUE(k.ok());
  return std::move(*k);
}
signer::PublicKey Pub(const signer::PrivateKey& k) { return *signer::DerivePublicKey(k); }
json::Value Cnf(const signer::PrivateKey& k) {
  return json::Value::Object().Set("jwk", signer::PublicKeyToJwk(Pub(k)));
}
json::Value Header(std::string_view typ) {
  return json::Value::Object().Set("typ", json::Value::String(std::string(typ)));
}

// Encodes a disclosure array given as JSON text.
std::string Enc(std::string_view array_json) { return Base64UrlEncode(AsBytes(array_json)); }

class SdJwtTest : public ::testing::Test {
 protected:
  // Issues `claims` with `frame` under the issuer key.
  std::string IssueWith(const json::Value& claims, const json::Value& frame,
                        HashAlg alg = HashAlg::kSha256) {
    Result<std::string> s = Issue(claims, frame, Header("dc+sd-jwt"), alg, random_,
                                  SignerFor(issuer_));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : "";
  }
  // Signs a raw payload (already concealed by hand) and appends the given disclosures.
  std::string Raw(const json::Value& payload, const std::vector<std::string>& disclosures,
                  const signer::PrivateKey* key = nullptr, std::string_view typ = "dc+sd-jwt") {
    Result<std::string> jwt =
        signer::SignJws(key != nullptr ? *key : issuer_, Header(typ), json::Write(payload));
    EXPECT_TRUE(jwt.ok());
    std::string out = *jwt + "~";
    for (const std::string& d : disclosures) out += d + "~";
    return out;
  }
  // Parses and discloses one SD-JWT; returns the error reason or "" with the claims in *claims.
  std::string ReasonOf(std::string_view compact, json::Value* claims = nullptr) {
    Result<Presentation> p = Parse(compact);
    if (!p.ok()) return p.error().reason();
    Result<VerifiedHop> v = VerifyHop(p->hops[0], Pub(issuer_), kNow);
    if (!v.ok()) return v.error().reason();
    if (claims != nullptr) *claims = v->claims;
    return "";
  }
  // Verifies a chain; returns the reason ("" on success).
  std::string ChainReason(std::string_view compact, std::string aud = "merchant.example",
                          std::string nonce = "n-1", int64_t now = kNow) {
    Result<Presentation> p = Parse(compact);
    if (!p.ok()) return p.error().reason();
    Result<std::vector<VerifiedHop>> v =
        VerifyPresentation(*p, Pub(issuer_), Expectation{std::move(aud), std::move(nonce), now});
    if (!v.ok()) return v.error().reason();
    verified_ = std::move(*v);
    return "";
  }
  // An open mandate bound to `agent`.
  std::string OpenMandate(const signer::PrivateKey& agent) {
    json::Value claims = J(R"({"vct":"mandate.payment.open.1","constraints":[
        {"type":"payment.amount_range","currency":"USD","max":5000},
        {"type":"payment.allowed_payees","allowed":[{"id":"m1","name":"One"},{"id":"m2","name":"Two"}]}]})");
    claims.Set("cnf", Cnf(agent));
    claims.Set("iat", json::Value::Int(kNow - 60));
    return IssueWith(claims, J(R"({"constraints":{"_sd":[0,1],"1":{"allowed":{"_sd":[0,1]}}}})"));
  }
  json::Value TerminalClaims(std::string_view aud = "merchant.example",
                             std::string_view nonce = "n-1") {
    json::Value c = J(R"({"vct":"mandate.payment.1","transaction_id":"tx",
        "payment_amount":{"amount":1200,"currency":"USD"}})");
    c.Set("iat", json::Value::Int(kNow));
    c.Set("aud", json::Value::String(std::string(aud)));
    c.Set("nonce", json::Value::String(std::string(nonce)));
    return c;
  }
  std::string Close(const std::string& chain, const signer::PrivateKey& agent,
                    json::Value claims, HopOptions options = {}) {
    Result<std::string> s = AppendHop(chain, std::move(claims), J("null"), options, random_,
                                      SignerFor(agent));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : "";
  }

  SystemRandom random_;
  signer::PrivateKey issuer_ = NewKey();
  std::vector<VerifiedHop> verified_;
};

// RFC 9901 §4.2.1 and §4.2.2 example disclosures and their SHA-256 digests.
TEST_F(SdJwtTest, DigestsMatchTheRfcExamples) {
  EXPECT_EQ(HashB64(HashAlg::kSha256,
                    "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"),
            "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0");
  EXPECT_EQ(HashB64(HashAlg::kSha256, "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0"),
            "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs");
  Result<Disclosure> d =
      ParseDisclosure("WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->salt, "_26bc4LT-ac6q2KI6cBW5es");
  EXPECT_EQ(*d->name, "family_name");
  EXPECT_EQ(d->value.as_string(), "M\xc3\xb6" "bius");
}

TEST_F(SdJwtTest, IssuedClaimsComeBackUnderEachSdAlg) {
  const json::Value claims = J(R"({"vct":"v","a":1,"obj":{"b":"x","c":[1,2,3]},"arr":["p","q"]})");
  const json::Value frame = J(R"({"_sd":["a","obj"],"obj":{"_sd":["b"],"c":{"_sd":[1]}},
                                  "arr":{"_sd":[0]}})");
  for (HashAlg alg : {HashAlg::kSha256, HashAlg::kSha384, HashAlg::kSha512}) {
    SCOPED_TRACE(std::string(HashAlgName(alg)));
    const std::string sd = IssueWith(claims, frame, alg);
    Result<Presentation> p = Parse(sd);
    ASSERT_TRUE(p.ok());
    ASSERT_EQ(p->hops.size(), 1u);
    EXPECT_EQ(p->hops[0].disclosures.size(), 5u);  // a, obj, obj.b, obj.c[1], arr[0]
    EXPECT_EQ(p->hops[0].payload.Find("_sd_alg")->as_string(), HashAlgName(alg));
    EXPECT_EQ(p->hops[0].payload.Find("a"), nullptr);  // concealed
    json::Value out;
    ASSERT_EQ(ReasonOf(sd, &out), "");
    EXPECT_EQ(json::Write(*out.Find("a")), "1");
    EXPECT_EQ(json::Write(*out.Find("obj")), R"({"c":[1,2,3],"b":"x"})");
    EXPECT_EQ(json::Write(*out.Find("arr")), R"(["p","q"])");
    EXPECT_EQ(out.Find("_sd_alg"), nullptr);
  }
}

TEST_F(SdJwtTest, WithheldDisclosuresDropTheirClaims) {
  const std::string sd = IssueWith(J(R"({"a":1,"b":2,"l":["x","y"]})"),
                                   J(R"({"_sd":["a","b"],"l":{"_sd":[0,1]}})"));
  Result<Presentation> p = Parse(sd);
  ASSERT_TRUE(p.ok());
  // Keep only the disclosure of "b" and of the array element "y".
  std::string kept = p->hops[0].jwt + "~";
  for (const Disclosure& d : p->hops[0].disclosures) {
    if ((d.name && *d.name == "b") || (!d.name && d.value.as_string() == "y")) kept += d.encoded + "~";
  }
  json::Value out;
  ASSERT_EQ(ReasonOf(kept, &out), "");
  EXPECT_EQ(json::Write(out), R"({"l":["y"],"b":2})");
}

TEST_F(SdJwtTest, StructuralRefusals) {
  EXPECT_EQ(ReasonOf(""), "sd-jwt-malformed");
  EXPECT_EQ(ReasonOf("no-tilde"), "sd-jwt-malformed");
  EXPECT_EQ(ReasonOf("not.a.jws~"), "sd-jwt-malformed");
  const std::string sd = IssueWith(J(R"({"a":1})"), J(R"({"_sd":["a"]})"));
  EXPECT_EQ(ReasonOf("~" + sd), "sd-jwt-malformed");
  EXPECT_EQ(ReasonOf(sd + "!!~"), "sd-jwt-bad-disclosure");
  EXPECT_EQ(ReasonOf(sd + Enc(R"({"a":1})") + "~"), "sd-jwt-bad-disclosure");
  EXPECT_EQ(ReasonOf(sd + Enc(R"(["s","a",1,2])") + "~"), "sd-jwt-bad-disclosure");
  EXPECT_EQ(ReasonOf(sd + Enc(R"([1,"a",1])") + "~"), "sd-jwt-bad-disclosure");
  EXPECT_EQ(ReasonOf(sd + Enc(R"(["s",2,1])") + "~"), "sd-jwt-bad-disclosure");
  // A chain hop may not carry an RFC 9901 KB-JWT.
  EXPECT_EQ(Parse(sd + "~" + sd + "x.y.z").error().reason(), "sd-jwt-malformed");
}

TEST_F(SdJwtTest, AlteredDisclosureIsUnreferenced) {
  const std::string sd = IssueWith(J(R"({"max":5000})"), J(R"({"_sd":["max"]})"));
  Result<Presentation> p = Parse(sd);
  ASSERT_TRUE(p.ok());
  const Disclosure& d = p->hops[0].disclosures[0];
  const std::string altered =
      Enc(R"([")" + d.salt + R"(","max",999999])");
  EXPECT_EQ(ReasonOf(p->hops[0].jwt + "~" + altered + "~"), "sd-jwt-disclosure-unreferenced");
  // A genuine disclosure of another token is refused the same way.
  const std::string other = IssueWith(J(R"({"max":1})"), J(R"({"_sd":["max"]})"));
  EXPECT_EQ(ReasonOf(sd + Parse(other)->hops[0].disclosures[0].encoded + "~"),
            "sd-jwt-disclosure-unreferenced");
}

TEST_F(SdJwtTest, DigestAndDisclosureRefusals) {
  const std::string da = Enc(R"(["salt-a","a",1])");
  const std::string dsd = Enc(R"(["salt-r","_sd",["x"]])");
  const std::string ddots = Enc(R"(["salt-d","...","x"])");
  const std::string del = Enc(R"(["salt-e","elem"])");
  auto h = [](const std::string& d) { return HashB64(HashAlg::kSha256, d); };
  auto sd = [](std::initializer_list<std::string> ds) {
    json::Value a = json::Value::Array();
    for (const std::string& d : ds) a.Append(json::Value::String(d));
    return a;
  };
  // Presented twice.
  EXPECT_EQ(ReasonOf(Raw(J("{}").Set("_sd", sd({h(da)})), {da, da})), "sd-jwt-duplicate-disclosure");
  // The payload names one digest twice (even one without a disclosure).
  EXPECT_EQ(ReasonOf(Raw(J("{}").Set("_sd", sd({"zz", "zz"})), {})), "sd-jwt-duplicate-digest");
  EXPECT_EQ(ReasonOf(Raw(J("{}").Set("_sd", sd({h(da)})).Set("o", J("{}").Set("_sd", sd({h(da)}))),
                         {da})),
            "sd-jwt-duplicate-digest");
  // Reserved names.
  EXPECT_EQ(ReasonOf(Raw(J("{}").Set("_sd", sd({h(dsd)})), {dsd})), "sd-jwt-reserved-claim-name");
  EXPECT_EQ(ReasonOf(Raw(J("{}").Set("_sd", sd({h(ddots)})), {ddots})),
            "sd-jwt-reserved-claim-name");
  // Disclosed over a plain claim.
  EXPECT_EQ(ReasonOf(Raw(J(R"({"a":2})").Set("_sd", sd({h(da)})), {da})), "sd-jwt-duplicate-claim");
  // Wrong shapes for the place that references them.
  EXPECT_EQ(ReasonOf(Raw(J("{}").Set("_sd", sd({h(del)})), {del})), "sd-jwt-disclosure-shape");
  json::Value arr = json::Value::Array();
  arr.Append(J("{}").Set("...", json::Value::String(h(da))));
  EXPECT_EQ(ReasonOf(Raw(J("{}").Set("l", arr), {da})), "sd-jwt-disclosure-shape");
  // Malformed _sd and array digests.
  EXPECT_EQ(ReasonOf(Raw(J(R"({"_sd":"x"})"), {})), "sd-jwt-bad-sd");
  EXPECT_EQ(ReasonOf(Raw(J(R"({"_sd":[1]})"), {})), "sd-jwt-bad-sd");
  EXPECT_EQ(ReasonOf(Raw(J(R"({"l":[{"...":"x","y":1}]})"), {})), "sd-jwt-bad-sd");
  // Unknown or mistyped _sd_alg.
  EXPECT_EQ(ReasonOf(Raw(J(R"({"_sd_alg":"md5"})"), {})), "sd-jwt-bad-sd-alg");
  EXPECT_EQ(ReasonOf(Raw(J(R"({"_sd_alg":256})"), {})), "sd-jwt-bad-sd-alg");
  // The same structures verify when well formed.
  EXPECT_EQ(ReasonOf(Raw(J("{}").Set("_sd", sd({h(da)})), {da})), "");
}

TEST_F(SdJwtTest, SignatureTimeAndCnfRefusals) {
  const signer::PrivateKey other = NewKey();
  EXPECT_EQ(ReasonOf(Raw(J(R"({"a":1})"), {}, &other)), "bad-signature");
  const signer::PrivateKey ed = NewKey(signer::KeyType::kEd25519);
  EXPECT_EQ(ReasonOf(Raw(J(R"({"a":1})"), {}, &ed)), "sd-jwt-not-es256");
  json::Value expired = J("{}");
  expired.Set("exp", json::Value::Int(kNow - 301));
  EXPECT_EQ(ReasonOf(Raw(expired, {})), "sd-jwt-expired");
  expired.Set("exp", json::Value::Int(kNow - 299));  // within the skew
  EXPECT_EQ(ReasonOf(Raw(expired, {})), "");
  json::Value early = J("{}");
  early.Set("nbf", json::Value::Int(kNow + 301));
  EXPECT_EQ(ReasonOf(Raw(early, {})), "sd-jwt-not-yet-valid");
  EXPECT_EQ(ReasonOf(Raw(J(R"({"exp":"soon"})"), {})), "sd-jwt-bad-time");
  // iat is an integer on every hop (§1), the root's included.
  EXPECT_EQ(ReasonOf(Raw(J(R"({"iat":"yesterday"})"), {})), "sd-jwt-bad-time");
  EXPECT_EQ(ReasonOf(Raw(J(R"({"iat":1.5})"), {})), "sd-jwt-bad-time");
  EXPECT_EQ(ReasonOf(Raw(J(R"({"iat":1767225000})"), {})), "");
  // Extreme values are compared, never added to (UBSan sees any overflow): the far future is
  // not expired, the far past is, and neither is "not yet valid" by wrapping.
  json::Value extreme = J("{}");
  extreme.Set("exp", json::Value::Int(std::numeric_limits<int64_t>::max()));
  extreme.Set("nbf", json::Value::Int(std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(ReasonOf(Raw(extreme, {})), "");
  extreme.Set("exp", json::Value::Int(std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(ReasonOf(Raw(extreme, {})), "sd-jwt-expired");
  EXPECT_EQ(ReasonOf(Raw(J(R"({"cnf":{"kid":"k"}})"), {})), "sd-jwt-bad-cnf");
  json::Value ed_cnf = J("{}");
  ed_cnf.Set("cnf", Cnf(ed));
  EXPECT_EQ(ReasonOf(Raw(ed_cnf, {})), "sd-jwt-bad-cnf");
}

TEST_F(SdJwtTest, IssuanceRefusesBadFrames) {
  auto reason = [&](std::string_view claims, std::string_view frame) {
    Result<std::string> s = Issue(J(claims), J(frame), Header("t"), HashAlg::kSha256, random_,
                                  SignerFor(issuer_));
    return s.ok() ? std::string() : s.error().reason();
  };
  EXPECT_EQ(reason(R"({"a":1})", R"({"_sd":["b"]})"), "sd-jwt-bad-frame");
  EXPECT_EQ(reason(R"({"a":1})", R"({"_sd":["_sd"]})"), "sd-jwt-bad-frame");
  EXPECT_EQ(reason(R"({"l":[1]})", R"({"l":{"_sd":[1]}})"), "sd-jwt-bad-frame");
  EXPECT_EQ(reason(R"({"l":[1]})", R"({"l":{"_sd":[0,0]}})"), "sd-jwt-bad-frame");
  EXPECT_EQ(reason(R"({"_sd_alg":"x"})", "null"), "sd-jwt-bad-frame");
  EXPECT_EQ(reason(R"({"a":1})", R"({"_sd":["a"]})"), "");
}

TEST_F(SdJwtTest, ClosedHopVerifiesAndBindsThePreviousHop) {
  const signer::PrivateKey agent = NewKey();
  const std::string open = OpenMandate(agent);
  const std::string chain = Close(open, agent, TerminalClaims());
  EXPECT_EQ(chain.find(open + "~"), 0u);
  ASSERT_EQ(ChainReason(chain), "");
  ASSERT_EQ(verified_.size(), 2u);
  EXPECT_EQ(verified_[1].typ, kTypTerminal);
  EXPECT_EQ(verified_[1].claims.Find("sd_hash")->as_string(), HashB64(HashAlg::kSha256, open));
  EXPECT_EQ(verified_[0].claims.Find("constraints")->items().size(), 2u);
  // Never optional: aud and nonce must be named, and must match.
  EXPECT_EQ(ChainReason(chain, "", "n-1"), "sd-jwt-expectation-missing");
  EXPECT_EQ(ChainReason(chain, "merchant.example", ""), "sd-jwt-expectation-missing");
  EXPECT_EQ(ChainReason(chain, "other.example"), "sd-jwt-wrong-aud");
  EXPECT_EQ(ChainReason(chain, "merchant.example", "n-2"), "sd-jwt-wrong-nonce");
  EXPECT_EQ(ChainReason(chain, "merchant.example", "n-1", kNow - 301), "sd-jwt-iat-in-future");
  // The open mandate alone proves no possession.
  EXPECT_EQ(ChainReason(open), "sd-jwt-key-binding-missing");
}

TEST_F(SdJwtTest, ChainRefusals) {
  const signer::PrivateKey agent = NewKey();
  const signer::PrivateKey stranger = NewKey();
  const std::string open = OpenMandate(agent);
  Result<Presentation> p = Parse(open);
  ASSERT_TRUE(p.ok());
  // Signed by a key the open mandate does not bind.
  EXPECT_EQ(ChainReason(Close(open, stranger, TerminalClaims())), "bad-signature");
  // A disclosure of the open mandate altered after closing.
  {
    const std::string chain = Close(open, agent, TerminalClaims());
    const Disclosure& d = p->hops[0].disclosures[0];
    const std::string altered = Enc(R"([")" + d.salt + R"(",{"type":"payment.amount_range","currency":"USD","max":999999}])");
    std::string tampered = chain;
    tampered.replace(tampered.find(d.encoded), d.encoded.size(), altered);
    EXPECT_EQ(ChainReason(tampered), "sd-jwt-disclosure-unreferenced");
  }
  // A disclosure dropped after closing with sd_hash breaks the binding; with issuer_jwt_hash it
  // may be dropped.
  {
    // The first disclosure is an element of the payees list (a leaf: nothing hangs below it).
    const std::string& drop = p->hops[0].disclosures.front().encoded;
    std::string chain = Close(open, agent, TerminalClaims());
    chain.erase(chain.find(drop + "~"), drop.size() + 1);
    EXPECT_EQ(ChainReason(chain), "sd-jwt-binding-mismatch");
    std::string loose = Close(open, agent, TerminalClaims(), HopOptions{true, true});
    loose.erase(loose.find(drop + "~"), drop.size() + 1);
    EXPECT_EQ(ChainReason(loose), "");
  }
  // Hand-built terminal hops: typ, binding, claims and cnf.
  auto hop = [&](json::Value claims, std::string_view typ, const signer::PrivateKey& key) {
    Result<std::string> h = Issue(claims, J("null"), Header(typ), HashAlg::kSha256, random_,
                                  SignerFor(key));
    EXPECT_TRUE(h.ok());
    return open + "~" + *h;
  };
  json::Value good = TerminalClaims();
  good.Set("sd_hash", json::Value::String(HashB64(HashAlg::kSha256, open)));
  EXPECT_EQ(ChainReason(hop(good, kTypTerminal, agent)), "");
  EXPECT_EQ(ChainReason(hop(good, "kb+jwt", agent)), "sd-jwt-hop-typ");
  EXPECT_EQ(ChainReason(hop(good, kTypIntermediate, agent)), "sd-jwt-hop-typ");
  {
    json::Value both = good;
    both.Set("issuer_jwt_hash", json::Value::String(HashB64(HashAlg::kSha256, p->hops[0].jwt)));
    EXPECT_EQ(ChainReason(hop(both, kTypTerminal, agent)), "sd-jwt-binding-missing");
    json::Value none = TerminalClaims();
    EXPECT_EQ(ChainReason(hop(none, kTypTerminal, agent)), "sd-jwt-binding-missing");
    json::Value wrong = good;
    wrong.Set("sd_hash", json::Value::String(HashB64(HashAlg::kSha384, open)));
    EXPECT_EQ(ChainReason(hop(wrong, kTypTerminal, agent)), "sd-jwt-binding-mismatch");
  }
  for (const char* missing : {"iat", "aud", "nonce"}) {
    json::Value c = json::Value::Object();
    for (size_t i = 0; i < good.size(); ++i) {
      if (good.keys()[i] != missing) c.Set(good.keys()[i], good.items()[i]);
    }
    EXPECT_EQ(ChainReason(hop(c, kTypTerminal, agent)), "sd-jwt-kb-claim-missing") << missing;
  }
  {
    json::Value with_cnf = good;
    with_cnf.Set("cnf", Cnf(stranger));
    EXPECT_EQ(ChainReason(hop(with_cnf, kTypTerminal, agent)), "sd-jwt-cnf-forbidden");
  }
  // A root that binds no key cannot be extended.
  {
    const std::string unbound = IssueWith(J(R"({"vct":"mandate.payment.open.1"})"), J("null"));
    EXPECT_EQ(ChainReason(Close(unbound, agent, TerminalClaims())), "sd-jwt-cnf-missing");
  }
}

TEST_F(SdJwtTest, IntermediateHopsDelegateToTheNextKey) {
  const signer::PrivateKey agent = NewKey();
  const signer::PrivateKey sub = NewKey();
  const std::string open = OpenMandate(agent);
  json::Value mid = J(R"({"vct":"mandate.payment.open.1","iat":1767225600})");
  mid.Set("cnf", Cnf(sub));
  const std::string delegated = Close(open, agent, mid, HopOptions{false, false, HashAlg::kSha384});
  const std::string chain = Close(delegated, sub, TerminalClaims());
  ASSERT_EQ(ChainReason(chain), "");
  ASSERT_EQ(verified_.size(), 3u);
  EXPECT_EQ(verified_[1].typ, kTypIntermediate);
  EXPECT_EQ(verified_[1].alg, HashAlg::kSha384);
  // The terminal hop's sd_hash uses the intermediate hop's _sd_alg (sha-384).
  EXPECT_EQ(verified_[2].claims.Find("sd_hash")->as_string().size(), 64u);
  // The agent itself may not sign after delegating.
  EXPECT_EQ(ChainReason(Close(delegated, agent, TerminalClaims())), "bad-signature");
  // An intermediate hop must delegate.
  json::Value no_cnf = J(R"({"vct":"mandate.payment.open.1"})");
  const std::string bad_mid = Close(open, agent, no_cnf, HopOptions{false});
  EXPECT_EQ(ChainReason(Close(bad_mid, sub, TerminalClaims())), "sd-jwt-cnf-missing");
}

TEST_F(SdJwtTest, Rfc9901KeyBindingJwt) {
  const signer::PrivateKey agent = NewKey();
  const std::string open = OpenMandate(agent);
  Result<std::string> kb = AppendKeyBinding(open, "merchant.example", "n-1", kNow, SignerFor(agent));
  ASSERT_TRUE(kb.ok());
  ASSERT_EQ(ChainReason(*kb), "");
  EXPECT_EQ(verified_.back().typ, kTypKeyBinding);
  EXPECT_EQ(ChainReason(*kb, "merchant.example", "other"), "sd-jwt-wrong-nonce");
  const signer::PrivateKey stranger = NewKey();
  EXPECT_EQ(ChainReason(*AppendKeyBinding(open, "merchant.example", "n-1", kNow,
                                          SignerFor(stranger))),
            "bad-signature");
  // The KB-JWT covers the disclosures presented: dropping one afterwards breaks it.
  const Presentation parsed = *Parse(open);
  const Disclosure& d = parsed.hops[0].disclosures.front();
  std::string dropped = *kb;
  dropped.erase(dropped.find(d.encoded + "~"), d.encoded.size() + 1);
  EXPECT_EQ(ChainReason(dropped), "sd-jwt-binding-mismatch");
}

}  // namespace
}  // namespace mandated::mandates::sdjwt
