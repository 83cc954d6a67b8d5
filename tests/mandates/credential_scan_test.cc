// The single-pass twins of the credential codec agree with it: MandateCredentialPayload writes
// the bytes json::Write(MandateCredentialToJson) writes, and ScanMandateCredential accepts only
// what json::Parse + ParseMandateCredential accept, with an equal credential (checked on
// canonical payloads and on every one-character edit of a rich one).
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/json_scan.h"
#include "mandates/credential.h"
#include "mandates/model.h"
#include "tests/mandates/mandate_test_util.h"

namespace mandated::mandates {
namespace {

// Every member of the terms, both window kinds, step-up hours, a session cap.
constexpr std::string_view kRichTerms =
    R"({"parent":"urn:mandated:mandate:root_1",)"
    R"("scope":{"payees":{"allow":[{"type":"did","value":"did:web:shop.example"},)"
    R"({"type":"domain","value":"*.shop.example"},)"
    R"({"type":"address","value":"0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"}],)"
    R"("block":[{"type":"domain","value":"bad.shop.example"}]},)"
    R"("categories":{"allow":["5411","5999"],"block":["7995"]},)"
    R"("countries":{"allow":["US","FR"],"block":["KP"]},)"
    R"("assets":{"allow":["USD","eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"]},)"
    R"("networks":{"allow":["eip155:8453"]},)"
    R"("resources":{"allow":["https://api.shop.example/v1/**","https://*.cdn.example/img/*.png"]}},)"
    R"("limits":{"per_transaction":[{"asset":"USD","min":"100","max":"50000"},)"
    R"({"asset":"eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","max":"5000000"}],)"
    R"("windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"Europe/Paris","max":"200000"},)"
    R"({"asset":"USD","window":"hour","kind":"rolling","max":"100000"}],)"
    R"("lifetime":[{"asset":"USD","max":"1000000"}],)"
    R"("max_uses":100,"min_interval_seconds":60},)"
    R"("step_up":{"above":[{"asset":"USD","amount":"20000"}],)"
    R"("outside_hours":{"time_zone":"America/New_York","days":["mon","tue","fri"],"start":"09:00","end":"17:30"}},)"
    R"("session_cap":[{"asset":"USD","max":"10000"}]})";

constexpr std::string_view kMinimalTerms = R"({"limits":{"lifetime":[{"asset":"USD","max":"500"}]}})";

MandateCredential CredentialWith(std::string_view terms) {
  MandateCredential c;
  c.id = "mnd_7ks2q4";
  c.issuer = "did:web:acme.example:principals:prn_1";
  c.subject = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
  c.validity = Validity{1767225600, 1769904000};
  c.issued_at = 1767225000;
  c.status = StatusReference{1234, "https://mandated.acme.example/v1/status-lists/prn_1/0"};
  c.terms = testutil::TermsOf(terms);
  return c;
}

bool SameCredential(const MandateCredential& a, const MandateCredential& b) {
  return a.id == b.id && a.issuer == b.issuer && a.subject == b.subject &&
         a.validity == b.validity && a.issued_at == b.issued_at && a.status == b.status &&
         a.terms == b.terms;
}

// What the strict path makes of `payload`.
Result<MandateCredential> Strict(std::string_view payload) {
  Result<json::Value> v = json::Parse(payload);
  if (!v.ok()) {
    return v.error();
  }
  if (!v->is_object()) {
    return InvalidArgumentError("not an object", "bad-jws");
  }
  return ParseMandateCredential(*v);
}

// The scanner accepts `payload` only if the strict path does, with an equal credential.
// Returns whether the scanner accepted.
bool ExpectAgreement(std::string_view payload) {
  std::optional<MandateCredential> fast = ScanMandateCredential(payload);
  if (!fast) {
    return false;
  }
  Result<MandateCredential> strict = Strict(payload);
  EXPECT_TRUE(strict.ok()) << "the scanner accepted what the strict codec refuses ("
                           << (strict.ok() ? "" : strict.error().ToString()) << "):\n"
                           << payload;
  if (strict.ok()) {
    EXPECT_TRUE(SameCredential(*fast, *strict)) << payload;
  }
  return true;
}

TEST(CredentialPayload, WritesTheBytesOfTheTree) {
  for (std::string_view terms : {kRichTerms, kMinimalTerms}) {
    const MandateCredential c = CredentialWith(terms);
    EXPECT_EQ(MandateCredentialPayload(c), json::Write(MandateCredentialToJson(c)));
    std::string direct;
    AppendMandateTermsJson(direct, c.terms);
    EXPECT_EQ(direct, json::Write(MandateTermsToJson(c.terms)));
  }
}

TEST(CredentialPayload, EscapesLikeTheWriter) {
  // Not valid credentials (the writers check nothing); the bytes must still agree.
  MandateCredential c = CredentialWith(kMinimalTerms);
  c.issuer = "did:web:\"quoted\"\\\n\x01";
  c.terms.parent = "urn:mandated:mandate:a\tb";
  c.terms.constraints.push_back(Constraint{"com.example.x", testutil::JsonOf(
      R"({"type":"com.example.x","n":[1,2.5e3,"\u00e9"]})")});
  EXPECT_EQ(MandateCredentialPayload(c), json::Write(MandateCredentialToJson(c)));
}

TEST(CredentialScan, AcceptsCanonicalPayloadsWithEqualResults) {
  for (std::string_view terms : {kRichTerms, kMinimalTerms}) {
    const std::string payload = MandateCredentialPayload(CredentialWith(terms));
    EXPECT_TRUE(ExpectAgreement(payload)) << "the scanner declined a canonical payload";
  }
}

TEST(CredentialScan, AcceptsWhitespaceAndAnyMemberOrder) {
  json::Value v = MandateCredentialToJson(CredentialWith(kRichTerms));
  // Members reversed at the top level and inside the terms' limits.
  json::Value reversed = json::Value::Object();
  for (size_t i = v.size(); i > 0; --i) {
    reversed.Set(v.keys()[i - 1], v.items()[i - 1]);
  }
  EXPECT_TRUE(ExpectAgreement(json::Write(reversed)));
  std::string spaced = json::Write(v);
  std::string out;
  bool in_string = false;  // the payload has no escapes: every '"' opens or closes a string
  for (char c : spaced) {
    out += c;
    in_string = c == '"' ? !in_string : in_string;
    if (!in_string && (c == ',' || c == ':' || c == '{' || c == '[')) out += " \n\t\r";
  }
  EXPECT_TRUE(ExpectAgreement(" " + out + "\n"));
}

TEST(CredentialScan, DeclinesWhatItLeavesToTheStrictParser) {
  const std::string payload = MandateCredentialPayload(CredentialWith(kMinimalTerms));
  // An escape the strict parser accepts, a negative zero it normalizes, a constraint.
  std::string escaped = payload;
  escaped.replace(escaped.find("acme"), 1, "\\u0061");
  EXPECT_FALSE(ScanMandateCredential(escaped).has_value());
  EXPECT_TRUE(Strict(escaped).ok());
  EXPECT_FALSE(ScanMandateCredential("\xEF\xBB\xBF" + payload).has_value());
  EXPECT_FALSE(ScanMandateCredential(payload + "x").has_value());
  EXPECT_FALSE(ScanMandateCredential(payload.substr(0, payload.size() - 1)).has_value());
}

// Every deletion, replacement and insertion of one character (from a set that makes JSON
// structure, numbers, keys and values go wrong or stay right) anywhere in a rich payload: the
// scanner never accepts what the strict path refuses, and agrees whenever it accepts.
TEST(CredentialScan, AgreesWithTheStrictCodecOnEveryOneCharacterEdit) {
  const std::string payload = MandateCredentialPayload(CredentialWith(kRichTerms));
  constexpr std::string_view kChars = "\"{}[],: 0159-.eaAz_\\/";
  size_t accepted = 0;
  size_t tried = 0;
  auto check = [&](const std::string& edited) {
    ++tried;
    accepted += ExpectAgreement(edited) ? 1 : 0;
  };
  // Each position gets the deletion and 4 of the characters, replaced and inserted, taken in
  // turn so that every character is tried at every kind of place (and the test stays quick).
  for (size_t i = 0; i < payload.size(); ++i) {
    check(payload.substr(0, i) + payload.substr(i + 1));
    for (size_t k = 0; k < 4; ++k) {
      const char c = kChars[(i + k * 5) % kChars.size()];
      if (payload[i] != c) {
        std::string replaced = payload;
        replaced[i] = c;
        check(replaced);
      }
      check(payload.substr(0, i) + c + payload.substr(i));
    }
    if (::testing::Test::HasFailure()) {
      break;  // one disagreement is enough to report
    }
  }
  // Some edits keep the payload valid (digits in amounts, spaces between tokens, ...): the
  // scanner must have accepted those, or this test checks nothing.
  EXPECT_GT(accepted, 50u) << "of " << tried;
}

// The same for the terms alone, through ScanMandateTerms.
TEST(TermsScan, AgreesWithParseMandateTermsOnEveryOneCharacterEdit) {
  const std::string terms(kRichTerms);
  constexpr std::string_view kChars = "\"{}[],:0-ab";
  size_t accepted = 0;
  for (size_t i = 0; i < terms.size() && !::testing::Test::HasFailure(); ++i) {
    std::vector<std::string> edits = {terms.substr(0, i) + terms.substr(i + 1)};
    for (size_t k = 0; k < 3; ++k) {
      const char c = kChars[(i + k * 4) % kChars.size()];
      std::string replaced = terms;
      replaced[i] = c;
      edits.push_back(replaced);
    }
    for (const std::string& e : edits) {
      json::Scanner s(e);
      MandateTerms fast;
      if (!ScanMandateTerms(s, fast) || !s.AtEnd()) {
        continue;
      }
      ++accepted;
      Result<json::Value> v = json::Parse(e);
      ASSERT_TRUE(v.ok()) << e;
      Result<MandateTerms> strict = ParseMandateTerms(*v);
      ASSERT_TRUE(strict.ok()) << strict.error().ToString() << "\n" << e;
      EXPECT_TRUE(fast == *strict) << e;
    }
  }
  EXPECT_GT(accepted, 10u);
}

}  // namespace
}  // namespace mandated::mandates
