// Mandate credential envelope: payload codec, every refusal reason with its pointer, RFC 3339
// timestamps and protected-header checks (specs/mandate.md §2).
#include "mandates/credential.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <initializer_list>
#include <string>
#include <utility>

#include "tests/mandates/mandate_test_util.h"

namespace mandated::mandates {
namespace {

using testutil::At;
using testutil::JsonOf;
using testutil::Remove;

constexpr std::string_view kAgentDid = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
constexpr int64_t kJan2026 = 1767225600;  // 2026-01-01T00:00:00Z
constexpr int64_t kFeb2026 = 1769904000;  // 2026-02-01T00:00:00Z

// The payload of specs/mandate.md §2 with minimal terms, exactly as MandateCredentialToJson writes it.
constexpr std::string_view kCanonical =
    R"({"@context":["https://www.w3.org/ns/credentials/v2","https://mandated.dev/ns/mandate/v1"],)"
    R"("type":["VerifiableCredential","SpendingMandate"],)"
    R"("id":"urn:mandated:mandate:mnd_7ks2q4",)"
    R"("issuer":"did:web:acme.example",)"
    R"("validFrom":"2026-01-01T00:00:00Z","validUntil":"2026-02-01T00:00:00Z",)"
    R"("credentialStatus":{"type":"TokenStatusListEntry",)"
    R"("status_list":{"idx":1234,"uri":"https://mandated.acme.example/v1/status-lists/1"}},)"
    R"("credentialSubject":{"id":"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",)"
    R"("mandate":{"limits":{"lifetime":[{"asset":"USD","max":"500"}]}}},)"
    R"("iss":"did:web:acme.example",)"
    R"("sub":"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",)"
    R"("jti":"urn:mandated:mandate:mnd_7ks2q4",)"
    R"("iat":1767225600,"nbf":1767225600,"exp":1769904000,)"
    R"("status":{"status_list":{"idx":1234,"uri":"https://mandated.acme.example/v1/status-lists/1"}}})";

MandateCredential Sample() {
  MandateCredential c;
  c.id = "mnd_7ks2q4";
  c.issuer = "did:web:acme.example";
  c.subject = std::string(kAgentDid);
  c.validity = Validity{kJan2026, kFeb2026};
  c.issued_at = kJan2026;
  c.status = StatusReference{1234, "https://mandated.acme.example/v1/status-lists/1"};
  c.terms = testutil::TermsOf(R"({"limits":{"lifetime":[{"asset":"USD","max":"500"}]}})");
  return c;
}

// MandateCredential has no operator== (the header declares none); compare member by member.
void ExpectSameCredential(const MandateCredential& got, const MandateCredential& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.issuer, want.issuer);
  EXPECT_EQ(got.subject, want.subject);
  EXPECT_EQ(got.validity, want.validity);
  EXPECT_EQ(got.issued_at, want.issued_at);
  EXPECT_EQ(got.status, want.status);
  EXPECT_TRUE(got.terms == want.terms) << json::Write(MandateTermsToJson(got.terms));
}

void ExpectRefused(const Result<MandateCredential>& got, std::string_view reason,
                   std::string_view pointer) {
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), StatusCode::kInvalidArgument) << got.error().ToString();
  EXPECT_EQ(got.error().reason(), reason) << got.error().ToString();
  EXPECT_EQ(got.error().message().rfind(std::string(pointer) + ": ", 0), 0u)
      << "message does not start with " << pointer << ": " << got.error().message();
}

// --- codec -------------------------------------------------------------------------------------

TEST(CredentialCodec, WritesTheCanonicalBytes) {
  EXPECT_EQ(json::Write(MandateCredentialToJson(Sample())), kCanonical);
}

TEST(CredentialCodec, ParsesTheCanonicalPayload) {
  Result<MandateCredential> c = ParseMandateCredential(JsonOf(kCanonical));
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->id, "mnd_7ks2q4");
  EXPECT_EQ(c->issuer, "did:web:acme.example");
  EXPECT_EQ(c->subject, kAgentDid);
  EXPECT_EQ(c->validity.not_before, kJan2026);
  EXPECT_EQ(c->validity.not_after, kFeb2026);
  EXPECT_EQ(c->issued_at, kJan2026);
  EXPECT_EQ(c->status.idx, 1234u);
  EXPECT_EQ(c->status.uri, "https://mandated.acme.example/v1/status-lists/1");
  ExpectSameCredential(*c, Sample());
}

TEST(CredentialCodec, RoundTripsBuildThenParse) {
  MandateCredential c = Sample();
  c.id = std::string(64, 'z');
  c.issuer = "did:pkh:eip155:8453:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
  c.validity = Validity{0, kMaxValiditySeconds};  // the longest validity, from the epoch
  c.issued_at = 0;
  c.status = StatusReference{18446744073709551615u, "http://localhost:8080/v1/status-lists/7"};
  c.terms = testutil::TermsOf(
      R"({"parent":"urn:mandated:mandate:root_1",)"
      R"("scope":{"payees":{"allow":[{"type":"domain","value":"*.shop.example"}]},"assets":{"allow":["USD"]}},)"
      R"("limits":{"per_transaction":[{"asset":"USD","min":"100","max":"50000"}],)"
      R"("windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"Europe/Paris","max":"200000"}],)"
      R"("max_uses":100},)"
      R"("step_up":{"above":[{"asset":"USD","amount":"20000"}]},)"
      R"("session_cap":[{"asset":"USD","max":"10000"}]})");
  json::Value written = MandateCredentialToJson(c);
  Result<MandateCredential> again = ParseMandateCredential(written);
  ASSERT_TRUE(again.ok()) << again.error().ToString() << "\n" << json::Write(written);
  ExpectSameCredential(*again, c);
  // And through the bytes: write(parse(write(c))) is stable.
  Result<MandateCredential> reparsed = ParseMandateCredential(JsonOf(json::Write(written)));
  ASSERT_TRUE(reparsed.ok()) << reparsed.error().ToString();
  EXPECT_EQ(json::Write(MandateCredentialToJson(*reparsed)), json::Write(written));
}

TEST(CredentialCodec, AcceptsExactly366Days) {
  json::Value v = JsonOf(kCanonical);
  *At(v, {"validUntil"}) = json::Value::String("2027-01-02T00:00:00Z");
  *At(v, {"exp"}) = json::Value::Int(kJan2026 + kMaxValiditySeconds);
  Result<MandateCredential> c = ParseMandateCredential(v);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->validity.not_after - c->validity.not_before, kMaxValiditySeconds);
}

TEST(CredentialCodec, AcceptsIatEqualToExpAndBeforeNbf) {
  for (int64_t iat : {int64_t{0}, kJan2026 - 1, kFeb2026}) {
    json::Value v = JsonOf(kCanonical);
    *At(v, {"iat"}) = json::Value::Int(iat);
    Result<MandateCredential> c = ParseMandateCredential(v);
    ASSERT_TRUE(c.ok()) << iat << ": " << c.error().ToString();
    EXPECT_EQ(c->issued_at, iat);
  }
}

TEST(CredentialCodec, DuplicateMemberIsRefusedByTheJsonParser) {
  // A second "iss" can never reach the codec: the strict parser refuses duplicate keys.
  std::string text(kCanonical);
  text.insert(text.size() - 1, R"(,"iss":"did:web:evil.example")");
  Result<json::Value> v = json::Parse(text);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().reason(), "duplicate-key");
}

TEST(CredentialCodec, RefusesANonObjectPayload) {
  ExpectRefused(ParseMandateCredential(JsonOf("[]")), "wrong-type", "/");
}

// --- refusals: one per rule --------------------------------------------------------------------

using Mutation = void (*)(json::Value&);

struct Refusal {
  const char* name;
  Mutation mutate;
  const char* reason;
  const char* pointer;
};

void SetAt(json::Value& v, std::initializer_list<std::string_view> path, json::Value value) {
  *At(v, path) = std::move(value);
}

void SetStr(json::Value& v, std::initializer_list<std::string_view> path, std::string s) {
  SetAt(v, path, json::Value::String(std::move(s)));
}

void SetNumber(json::Value& v, std::initializer_list<std::string_view> path, const char* text) {
  SetAt(v, path, json::Value::NumberText(text));
}

// Sets both id and jti, so the id rule (not the mirror) is what refuses.
void SetBothIds(json::Value& v, const std::string& id) {
  SetStr(v, {"id"}, id);
  SetStr(v, {"jti"}, id);
}

// Sets validFrom/validUntil and the nbf/exp claims consistently.
void SetValidity(json::Value& v, const char* from, const char* until) {
  SetStr(v, {"validFrom"}, from);
  SetStr(v, {"validUntil"}, until);
  Result<int64_t> nbf = ParseRfc3339Utc(from);
  Result<int64_t> exp = ParseRfc3339Utc(until);
  if (nbf.ok()) {
    SetAt(v, {"nbf"}, json::Value::Int(*nbf));
  }
  if (exp.ok()) {
    SetAt(v, {"exp"}, json::Value::Int(*exp));
    SetAt(v, {"iat"}, json::Value::Int(nbf.ok() ? std::min(*nbf, *exp) : 0));
  }
}

// Sets the same status_list member in credentialStatus and the status claim.
void SetEntry(json::Value& v, std::string_view key, json::Value value) {
  SetAt(v, {"credentialStatus", "status_list", key}, value);
  SetAt(v, {"status", "status_list", key}, std::move(value));
}

void AddMember(json::Value& v, std::initializer_list<std::string_view> path, std::string_view key) {
  At(v, path)->Set(key, json::Value::String("x"));
}

#define CS_LIST "/credentialStatus/status_list"

const Refusal kRefusals[] = {
    // Structure.
    {"UnknownTopLevelMember", [](json::Value& v) { v.Set("aud", json::Value::String("x")); },
     "unknown-field", "/aud"},
    {"EmbeddedVcClaim", [](json::Value& v) { v.Set("vc", json::Value::Object()); },
     "unknown-field", "/vc"},
    {"MissingJti", [](json::Value& v) { v = testutil::Without(v, "jti"); }, "missing-field",
     "/jti"},
    {"MissingCredentialStatus", [](json::Value& v) { v = testutil::Without(v, "credentialStatus"); },
     "missing-field", "/credentialStatus"},
    // @context and type.
    {"ContextOrderSwapped",
     [](json::Value& v) {
       json::Value a = json::Value::Array();
       a.Append(json::Value::String(std::string(kMandateContext)));
       a.Append(json::Value::String(std::string(kVcContext)));
       SetAt(v, {"@context"}, std::move(a));
     },
     "bad-context", "/@context"},
    {"ContextMissingOurs", [](json::Value& v) { At(v, {"@context"})->items().pop_back(); },
     "bad-context", "/@context"},
    {"ContextExtraUrl",
     [](json::Value& v) {
       At(v, {"@context"})->Append(json::Value::String("https://www.w3.org/ns/credentials/examples/v2"));
     },
     "bad-context", "/@context"},
    {"ContextString", [](json::Value& v) { SetStr(v, {"@context"}, std::string(kVcContext)); },
     "wrong-type", "/@context"},
    {"TypeExtra",
     [](json::Value& v) { At(v, {"type"})->Append(json::Value::String("ExtraCredential")); },
     "bad-credential-type", "/type"},
    {"TypeOnlyVc", [](json::Value& v) { At(v, {"type"})->items().pop_back(); },
     "bad-credential-type", "/type"},
    {"TypeString", [](json::Value& v) { SetStr(v, {"type"}, "SpendingMandate"); }, "wrong-type",
     "/type"},
    // id.
    {"IdUpperCase", [](json::Value& v) { SetBothIds(v, "urn:mandated:mandate:MND_7ks2q4"); },
     "bad-mandate-id", "/id"},
    {"Id65Chars",
     [](json::Value& v) { SetBothIds(v, "urn:mandated:mandate:" + std::string(65, 'a')); },
     "bad-mandate-id", "/id"},
    {"IdEmpty", [](json::Value& v) { SetBothIds(v, "urn:mandated:mandate:"); }, "bad-mandate-id",
     "/id"},
    {"IdWithoutPrefix", [](json::Value& v) { SetBothIds(v, "mnd_7ks2q4"); }, "bad-mandate-id",
     "/id"},
    {"IdOtherUrn", [](json::Value& v) { SetBothIds(v, "urn:uuid:mnd_7ks2q4"); }, "bad-mandate-id",
     "/id"},
    {"IdNotString", [](json::Value& v) { SetAt(v, {"id"}, json::Value::Int(7)); }, "wrong-type",
     "/id"},
    // issuer and subject DIDs.
    {"IssuerObject",
     [](json::Value& v) {
       json::Value o = json::Value::Object();
       o.Set("id", json::Value::String("did:web:acme.example"));
       SetAt(v, {"issuer"}, std::move(o));
     },
     "wrong-type", "/issuer"},
    {"IssuerNotDid",
     [](json::Value& v) {
       SetStr(v, {"issuer"}, "https://acme.example");
       SetStr(v, {"iss"}, "https://acme.example");
     },
     "bad-did", "/issuer"},
    {"IssuerWithFragment",
     [](json::Value& v) {
       SetStr(v, {"issuer"}, "did:web:acme.example#key-1");
       SetStr(v, {"iss"}, "did:web:acme.example#key-1");
     },
     "bad-did", "/issuer"},
    {"IssuerTooLong",
     [](json::Value& v) {
       const std::string did = "did:web:" + std::string(505, 'a');  // 513 bytes
       SetStr(v, {"issuer"}, did);
       SetStr(v, {"iss"}, did);
     },
     "bad-did", "/issuer"},
    {"SubjectWithPath",
     [](json::Value& v) {
       SetStr(v, {"credentialSubject", "id"}, "did:web:acme.example/agents/1");
       SetStr(v, {"sub"}, "did:web:acme.example/agents/1");
     },
     "bad-did", "/credentialSubject/id"},
    {"SubjectWithQuery",
     [](json::Value& v) {
       SetStr(v, {"credentialSubject", "id"}, "did:web:acme.example?service=x");
       SetStr(v, {"sub"}, "did:web:acme.example?service=x");
     },
     "bad-did", "/credentialSubject/id"},
    {"SubjectMissing", [](json::Value& v) { Remove(v, {"credentialSubject"}, "id"); },
     "missing-field", "/credentialSubject/id"},
    // Validity.
    {"ValidFromFraction",
     [](json::Value& v) { SetStr(v, {"validFrom"}, "2026-01-01T00:00:00.000Z"); }, "bad-validity",
     "/validFrom"},
    {"ValidFromOffset",
     [](json::Value& v) { SetStr(v, {"validFrom"}, "2026-01-01T00:00:00+00:00"); },
     "bad-validity", "/validFrom"},
    {"ValidFromLowerCase", [](json::Value& v) { SetStr(v, {"validFrom"}, "2026-01-01t00:00:00z"); },
     "bad-validity", "/validFrom"},
    {"ValidFromDateOnly", [](json::Value& v) { SetStr(v, {"validFrom"}, "2026-01-01"); },
     "bad-validity", "/validFrom"},
    {"ValidFromNumber", [](json::Value& v) { SetAt(v, {"validFrom"}, json::Value::Int(kJan2026)); },
     "wrong-type", "/validFrom"},
    {"ValidUntilNoSuchDay", [](json::Value& v) { SetStr(v, {"validUntil"}, "2026-02-30T00:00:00Z"); },
     "bad-validity", "/validUntil"},
    {"ValidFromEqualsValidUntil",
     [](json::Value& v) { SetValidity(v, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"); },
     "bad-validity", "/validUntil"},
    {"ValidUntilBeforeValidFrom",
     [](json::Value& v) { SetValidity(v, "2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z"); },
     "bad-validity", "/validUntil"},
    {"Validity367Days",
     [](json::Value& v) { SetValidity(v, "2026-01-01T00:00:00Z", "2027-01-03T00:00:00Z"); },
     "bad-validity", "/validUntil"},
    {"Validity366DaysAndOneSecond",
     [](json::Value& v) { SetValidity(v, "2026-01-01T00:00:00Z", "2027-01-02T00:00:01Z"); },
     "bad-validity", "/validUntil"},
    {"IatAfterExp", [](json::Value& v) { SetAt(v, {"iat"}, json::Value::Int(kFeb2026 + 1)); },
     "bad-validity", "/iat"},
    {"IatNegative", [](json::Value& v) { SetAt(v, {"iat"}, json::Value::Int(-1)); },
     "bad-validity", "/iat"},
    {"IatFraction", [](json::Value& v) { SetNumber(v, {"iat"}, "1767225600.5"); }, "wrong-type",
     "/iat"},
    {"IatString", [](json::Value& v) { SetStr(v, {"iat"}, "1767225600"); }, "wrong-type", "/iat"},
    {"NbfExponent", [](json::Value& v) { SetNumber(v, {"nbf"}, "1.7672256e9"); }, "wrong-type",
     "/nbf"},
    // Mirrored claims.
    {"IssDiffers", [](json::Value& v) { SetStr(v, {"iss"}, "did:web:other.example"); },
     "claims-mismatch", "/iss"},
    {"SubDiffers", [](json::Value& v) { SetStr(v, {"sub"}, "did:key:z6MkotherAgent"); },
     "claims-mismatch", "/sub"},
    {"JtiDiffers", [](json::Value& v) { SetStr(v, {"jti"}, "urn:mandated:mandate:mnd_other"); },
     "claims-mismatch", "/jti"},
    {"NbfDiffers", [](json::Value& v) { SetAt(v, {"nbf"}, json::Value::Int(kJan2026 + 1)); },
     "claims-mismatch", "/nbf"},
    {"ExpDiffers", [](json::Value& v) { SetAt(v, {"exp"}, json::Value::Int(kFeb2026 - 1)); },
     "claims-mismatch", "/exp"},
    {"StatusIdxDiffers",
     [](json::Value& v) { SetAt(v, {"status", "status_list", "idx"}, json::Value::Int(1235)); },
     "claims-mismatch", "/status/status_list"},
    {"StatusUriDiffers",
     [](json::Value& v) {
       SetStr(v, {"status", "status_list", "uri"}, "https://mandated.acme.example/v1/status-lists/2");
     },
     "claims-mismatch", "/status/status_list"},
    // Status entries.
    {"StatusIdxNegative", [](json::Value& v) { SetEntry(v, "idx", json::Value::Int(-1)); },
     "bad-status-entry", CS_LIST "/idx"},
    {"StatusIdxFraction", [](json::Value& v) { SetEntry(v, "idx", json::Value::NumberText("1.5")); },
     "bad-status-entry", CS_LIST "/idx"},
    {"StatusIdxOnePointZero",
     [](json::Value& v) { SetEntry(v, "idx", json::Value::NumberText("1.0")); }, "bad-status-entry",
     CS_LIST "/idx"},
    {"StatusIdxExponent", [](json::Value& v) { SetEntry(v, "idx", json::Value::NumberText("1e3")); },
     "bad-status-entry", CS_LIST "/idx"},
    {"StatusIdxAbove64Bits",
     [](json::Value& v) { SetEntry(v, "idx", json::Value::NumberText("18446744073709551616")); },
     "bad-status-entry", CS_LIST "/idx"},
    {"StatusIdxString", [](json::Value& v) { SetEntry(v, "idx", json::Value::String("3")); },
     "bad-status-entry", CS_LIST "/idx"},
    {"StatusIdxMissing",
     [](json::Value& v) {
       Remove(v, {"credentialStatus", "status_list"}, "idx");
       Remove(v, {"status", "status_list"}, "idx");
     },
     "missing-field", CS_LIST "/idx"},
    {"StatusUriMissing",
     [](json::Value& v) {
       Remove(v, {"credentialStatus", "status_list"}, "uri");
       Remove(v, {"status", "status_list"}, "uri");
     },
     "missing-field", CS_LIST "/uri"},
    {"StatusUriFtp",
     [](json::Value& v) { SetEntry(v, "uri", json::Value::String("ftp://mandated.acme.example/1")); },
     "bad-status-entry", CS_LIST "/uri"},
    {"StatusUriSchemeOnly", [](json::Value& v) { SetEntry(v, "uri", json::Value::String("https://")); },
     "bad-status-entry", CS_LIST "/uri"},
    {"StatusUriUpperCaseScheme",
     [](json::Value& v) { SetEntry(v, "uri", json::Value::String("HTTPS://mandated.acme.example/1")); },
     "bad-status-entry", CS_LIST "/uri"},
    {"StatusUriTooLong",
     [](json::Value& v) {
       SetEntry(v, "uri", json::Value::String("https://a.example/" + std::string(2031, 'x')));
     },
     "bad-status-entry", CS_LIST "/uri"},
    {"StatusUriNumber", [](json::Value& v) { SetEntry(v, "uri", json::Value::Int(1)); },
     "wrong-type", CS_LIST "/uri"},
    {"StatusListExtraMember", [](json::Value& v) { AddMember(v, {"credentialStatus", "status_list"}, "bits"); },
     "unknown-field", CS_LIST "/bits"},
    {"CredentialStatusWrongType",
     [](json::Value& v) { SetStr(v, {"credentialStatus", "type"}, "BitstringStatusListEntry"); },
     "bad-status-entry", "/credentialStatus/type"},
    {"CredentialStatusExtraMember",
     [](json::Value& v) { AddMember(v, {"credentialStatus"}, "statusPurpose"); }, "unknown-field",
     "/credentialStatus/statusPurpose"},
    {"CredentialStatusNotObject", [](json::Value& v) { SetAt(v, {"credentialStatus"}, json::Value::Array()); },
     "wrong-type", "/credentialStatus"},
    {"StatusClaimExtraMember", [](json::Value& v) { AddMember(v, {"status"}, "status_purpose"); },
     "unknown-field", "/status/status_purpose"},
    {"StatusClaimBadIdx",
     [](json::Value& v) { SetAt(v, {"status", "status_list", "idx"}, json::Value::Int(-1)); },
     "bad-status-entry", "/status/status_list/idx"},
    {"StatusClaimMissingList", [](json::Value& v) { Remove(v, {"status"}, "status_list"); },
     "missing-field", "/status/status_list"},
    // credentialSubject and the terms.
    {"CredentialSubjectExtraMember", [](json::Value& v) { AddMember(v, {"credentialSubject"}, "name"); },
     "unknown-field", "/credentialSubject/name"},
    {"CredentialSubjectMissingMandate", [](json::Value& v) { Remove(v, {"credentialSubject"}, "mandate"); },
     "missing-field", "/credentialSubject/mandate"},
    {"TermsNoLimits",
     [](json::Value& v) { SetAt(v, {"credentialSubject", "mandate"}, JsonOf(R"({"limits":{}})")); },
     "no-limits", "/credentialSubject/mandate/limits"},
    {"TermsBadAmount",
     [](json::Value& v) { SetStr(v, {"credentialSubject", "mandate", "limits", "lifetime", "0", "max"}, "05"); },
     "bad-amount", "/credentialSubject/mandate/limits/lifetime/0/max"},
    {"TermsUnknownMember", [](json::Value& v) { AddMember(v, {"credentialSubject", "mandate"}, "budget"); },
     "unknown-field", "/credentialSubject/mandate/budget"},
    {"TermsNotObject", [](json::Value& v) { SetAt(v, {"credentialSubject", "mandate"}, json::Value::Array()); },
     "wrong-type", "/credentialSubject/mandate"},
};

#undef CS_LIST

class CredentialRefusal : public ::testing::TestWithParam<Refusal> {};

TEST_P(CredentialRefusal, NamesReasonAndPointer) {
  const Refusal& c = GetParam();
  json::Value v = JsonOf(kCanonical);
  c.mutate(v);
  ExpectRefused(ParseMandateCredential(v), c.reason, c.pointer);
}

// The single-pass twin declines every refused payload too (the strict codec then names it).
TEST_P(CredentialRefusal, ScannerDeclinesItToo) {
  const Refusal& c = GetParam();
  json::Value v = JsonOf(kCanonical);
  c.mutate(v);
  EXPECT_FALSE(ScanMandateCredential(json::Write(v)).has_value()) << json::Write(v);
}

INSTANTIATE_TEST_SUITE_P(CredentialReasons, CredentialRefusal, ::testing::ValuesIn(kRefusals),
                         [](const ::testing::TestParamInfo<Refusal>& param) {
                           return std::string(param.param.name);
                         });

TEST(CredentialMandateId, AcceptsOnlyLowerCaseIdsUpTo64) {
  EXPECT_TRUE(IsMandateId("mnd_7ks2q4"));
  EXPECT_TRUE(IsMandateId("a"));
  EXPECT_TRUE(IsMandateId("a-b_c-0"));
  EXPECT_TRUE(IsMandateId(std::string(64, 'x')));
  EXPECT_FALSE(IsMandateId(""));
  EXPECT_FALSE(IsMandateId(std::string(65, 'x')));
  EXPECT_FALSE(IsMandateId("Mnd_1"));
  EXPECT_FALSE(IsMandateId("mnd.1"));
  EXPECT_FALSE(IsMandateId("mnd:1"));
  EXPECT_FALSE(IsMandateId("urn:mandated:mandate:mnd_1"));
}

// --- protected header ----------------------------------------------------------------------------

void ExpectHeader(std::string_view text, std::string_view reason, std::string_view pointer) {
  Status s = CheckMandateHeader(JsonOf(text));
  ASSERT_FALSE(s.ok()) << text;
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.reason(), reason) << s.ToString();
  EXPECT_EQ(s.message().rfind(std::string(pointer) + ": ", 0), 0u) << s.message();
}

TEST(CredentialHeader, AcceptsTheMandateHeader) {
  EXPECT_TRUE(CheckMandateHeader(JsonOf(
                  R"({"alg":"EdDSA","typ":"vc+jwt","kid":"did:web:acme.example#key-1"})"))
                  .ok());
  EXPECT_TRUE(CheckMandateHeader(JsonOf(
                  R"({"alg":"ES256K","typ":"vc+jwt","cty":"vc","kid":"did:key:z6Mk#z6Mk"})"))
                  .ok());
  // A bare DID is a DID part without fragment; other members are VerifyJws's business.
  EXPECT_TRUE(CheckMandateHeader(JsonOf(R"({"typ":"vc+jwt","kid":"did:web:acme.example","x5u":1})"))
                  .ok());
}

TEST(CredentialHeader, RefusesWrongTypOrCty) {
  ExpectHeader(R"({"alg":"EdDSA","kid":"did:web:acme.example#k"})", "bad-typ", "/typ");
  ExpectHeader(R"({"alg":"EdDSA","typ":"JWT","kid":"did:web:acme.example#k"})", "bad-typ", "/typ");
  ExpectHeader(R"({"alg":"EdDSA","typ":"VC+JWT","kid":"did:web:acme.example#k"})", "bad-typ",
               "/typ");
  ExpectHeader(R"({"alg":"EdDSA","typ":["vc+jwt"],"kid":"did:web:acme.example#k"})", "bad-typ",
               "/typ");
  ExpectHeader(R"({"alg":"EdDSA","typ":"vc+jwt","cty":"json","kid":"did:web:acme.example#k"})",
               "bad-typ", "/cty");
  ExpectHeader(R"({"alg":"EdDSA","typ":"vc+jwt","cty":null,"kid":"did:web:acme.example#k"})",
               "bad-typ", "/cty");
}

TEST(CredentialHeader, RefusesMissingKid) {
  ExpectHeader(R"({"alg":"EdDSA","typ":"vc+jwt"})", "kid-missing", "/kid");
  ExpectHeader(R"({"alg":"EdDSA","typ":"vc+jwt","kid":"#x"})", "kid-missing", "/kid");
  ExpectHeader(R"({"alg":"EdDSA","typ":"vc+jwt","kid":""})", "kid-missing", "/kid");
  ExpectHeader(R"({"alg":"EdDSA","typ":"vc+jwt","kid":7})", "kid-missing", "/kid");
}

TEST(CredentialHeader, RefusesANonObjectHeader) { ExpectHeader("[]", "wrong-type", "/"); }

// --- RFC 3339 ------------------------------------------------------------------------------------

void ExpectTime(std::string_view text, int64_t want) {
  Result<int64_t> t = ParseRfc3339Utc(text);
  ASSERT_TRUE(t.ok()) << text << ": " << t.error().ToString();
  EXPECT_EQ(*t, want) << text;
  EXPECT_EQ(FormatRfc3339Utc(want), text);
}

TEST(Rfc3339, ParsesAndFormatsKnownInstants) {
  ExpectTime("1970-01-01T00:00:00Z", 0);
  ExpectTime("1970-01-01T00:00:01Z", 1);
  ExpectTime("1970-12-31T23:59:59Z", 365 * 86400 - 1);
  ExpectTime("2000-02-29T23:59:59Z", 951868799);  // divisible by 400: a leap year
  ExpectTime("2024-02-29T12:00:00Z", 1709208000);
  ExpectTime("2026-01-01T00:00:00Z", kJan2026);
  ExpectTime("2026-02-01T00:00:00Z", kFeb2026);
  ExpectTime("9999-12-31T23:59:59Z", 253402300799);
}

TEST(Rfc3339, RefusesAnythingButTheExactForm) {
  for (std::string_view text : {
           "2023-02-29T00:00:00Z",       // not a leap year
           "2100-02-29T00:00:00Z",       // divisible by 100, not 400
           "2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z", "2026-01-32T00:00:00Z",
           "2026-00-01T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-00T00:00:00Z",
           "2026-01-01T24:00:00Z",       // hour 24
           "2026-01-01T23:60:00Z",
           "2016-12-31T23:59:60Z",       // a real leap second, still refused
           "2026-01-01t00:00:00Z", "2026-01-01T00:00:00z", "2026-01-01 00:00:00Z",
           "2026-01-01T00:00:00.5Z", "2026-01-01T00:00:00.000Z",
           "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00-05:00", "2026-01-01T00:00:00",
           "1969-12-31T23:59:59Z", "0000-01-01T00:00:00Z",
           "+2026-01-01T00:00:00Z", "2026-1-01T00:00:00Z", "2026-01-01T0:00:00Z",
           "2026-0a-01T00:00:00Z", "2026-01-01T00:00:0 Z", "\xef\xbc\x92" "026-01-01T00:00:00Z",
           " 2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z ", "2026/01/01T00:00:00Z", "",
       }) {
    Result<int64_t> t = ParseRfc3339Utc(text);
    ASSERT_FALSE(t.ok()) << "accepted \"" << text << "\"";
    EXPECT_EQ(t.error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(t.error().reason(), "bad-validity") << text;
  }
}

TEST(Rfc3339, AgreesWithTheCLibraryOverTheWholeRange) {
  // gmtime_r is only the oracle here; the code under test does its own calendar arithmetic.
  constexpr int64_t kLast = 253402300799;
  int64_t checked = 0;
  for (int64_t t = 0; t <= kLast; t += 35977 * 997) {  // ~7000 instants at odd times of day
    const time_t tt = static_cast<time_t>(t);
    std::tm tm{};
    ASSERT_NE(gmtime_r(&tt, &tm), nullptr);
    char want[32];
    ASSERT_EQ(std::strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm), 20u);
    ASSERT_EQ(FormatRfc3339Utc(t), want) << t;
    Result<int64_t> back = ParseRfc3339Utc(want);
    ASSERT_TRUE(back.ok()) << want;
    ASSERT_EQ(*back, t) << want;
    ++checked;
  }
  EXPECT_GT(checked, 7000);
  // Every day of a leap cycle and across the turn of a century.
  const int64_t from = ParseRfc3339Utc("2096-01-01T00:00:00Z").value_or(0) / 86400;
  const int64_t to = ParseRfc3339Utc("2104-01-01T00:00:00Z").value_or(0) / 86400;
  ASSERT_EQ(to - from, 8 * 365 + 1);  // 2096 is a leap year, 2100 is not
  for (int64_t day = from; day < to; ++day) {
    const int64_t t = day * 86400 + 86399;
    Result<int64_t> back = ParseRfc3339Utc(FormatRfc3339Utc(t));
    ASSERT_TRUE(back.ok()) << FormatRfc3339Utc(t);
    ASSERT_EQ(*back, t);
  }
}

}  // namespace
}  // namespace mandated::mandates
