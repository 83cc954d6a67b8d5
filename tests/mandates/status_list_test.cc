// Token Status List: the draft's examples, bit placement per width, and every refusal with its
// reason and JSON pointer (tests/vectors/status-list/token-status-list.json).
#include "mandates/status_list.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/deflate.h"
#include "mandates/credential.h"
#include "tests/mandates/mandate_test_util.h"
#include "tests/support/test_support.h"

namespace mandated::mandates {
namespace {

constexpr size_t kOneMiB = 1024 * 1024;

// The tokenStatusList member of the vector file.
const json::Value& Vectors() {
  static const json::Value tsl = [] {
    Result<json::Value> file = json::Parse(testing::ReadFileOrDie(
        testing::SourcePath("tests/vectors/status-list/token-status-list.json")));
    EXPECT_TRUE(file.ok()) << file.error().ToString();
    const json::Value* member = file.ok() ? file->Find("tokenStatusList") : nullptr;
    return member != nullptr ? *member : json::Value::Object();
  }();
  return tsl;
}

const json::Value& Member(const json::Value& v, const char* key) {
  static const json::Value kNull;
  const json::Value* m = v.Find(key);
  EXPECT_NE(m, nullptr) << "vector member " << key << " missing";
  return m != nullptr ? *m : kNull;
}

json::Value Json(std::string_view text) {
  Result<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : json::Value();
}

constexpr std::string_view kHead = R"("sub":"https://example.com/statuslists/1","iat":1686920170)";

// A status list payload: the members in `head`, then "status_list": `status_list`.
json::Value Payload(std::string_view status_list, std::string_view head = kHead) {
  return Json("{" + std::string(head) + R"(,"status_list":)" + std::string(status_list) + "}");
}

void ExpectBadStatusList(const Status& s, std::string_view pointer) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.reason(), "bad-status-list") << s.ToString();
  EXPECT_EQ(s.message().substr(0, pointer.size() + 1), std::string(pointer) + ":")
      << s.ToString();
}

std::string LstOf(ByteSpan zlib_bytes) { return Base64UrlEncode(zlib_bytes); }

void ExpectExampleDecodes(const char* name) {
  SCOPED_TRACE(name);
  const json::Value& ex = Member(Vectors(), name);
  const int bits = static_cast<int>(*Member(ex, "bits").as_int64());
  Result<StatusArray> decoded = DecodeStatusList(bits, Member(ex, "lst").as_string(), kOneMiB);
  ASSERT_TRUE(decoded.ok()) << decoded.error().ToString();
  EXPECT_EQ(decoded->bits(), bits);
  EXPECT_EQ(HexEncode(decoded->bytes()), Member(ex, "byteArrayHex").as_string());
  const std::vector<json::Value>& expected = Member(ex, "statuses").items();
  ASSERT_EQ(decoded->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    Result<uint8_t> got = decoded->Get(i);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(static_cast<int64_t>(*got), *expected[i].as_int64()) << "index " << i;
  }
}

TEST(StatusListVectors, Example1DecodesToListedStatuses) { ExpectExampleDecodes("example1"); }

TEST(StatusListVectors, Example2DecodesToListedStatuses) { ExpectExampleDecodes("example2"); }

TEST(StatusListVectors, Example1CompressedBytesAreTheLst) {
  const json::Value& ex = Member(Vectors(), "example1");
  EXPECT_EQ(HexEncode(*Base64UrlDecode(Member(ex, "lst").as_string())),
            Member(ex, "compressedHex").as_string());
}

TEST(StatusListVectors, OurEncodingOfExample1RoundTrips) {
  const json::Value& ex = Member(Vectors(), "example1");
  Result<StatusArray> original = StatusArray::FromBytes(1, *HexDecode(Member(ex, "byteArrayHex").as_string()));
  ASSERT_TRUE(original.ok());
  Result<std::string> lst = EncodeStatusList(*original);
  ASSERT_TRUE(lst.ok()) << lst.error().ToString();
  EXPECT_EQ(lst->find('='), std::string::npos);
  Bytes compressed = *Base64UrlDecode(*lst);
  // Byte for byte the zlib level-9 output the vector records (78 da: ZLIB, best compression),
  // which here is also the draft's own example.
  EXPECT_EQ(HexEncode(compressed), Member(Vectors(), "ourDeflateOfExample1Hex").as_string());
  EXPECT_EQ(HexEncode(compressed), "78dadbb918000217015d");
  EXPECT_EQ(*lst, Member(ex, "lst").as_string());
  Result<StatusArray> back = DecodeStatusList(1, *lst, kOneMiB);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->bytes(), original->bytes());
  EXPECT_EQ(back->size(), 16u);
}

TEST(StatusListVectors, JwtExamplePayloadParses) {
  const json::Value& payload = Member(Member(Vectors(), "statusListJwtExample"), "payload");
  Result<StatusListClaims> claims = ParseStatusListClaims(payload, kOneMiB);
  ASSERT_TRUE(claims.ok()) << claims.error().ToString();
  EXPECT_EQ(claims->uri, "https://example.com/statuslists/1");
  EXPECT_EQ(claims->issued_at, 1686920170);
  EXPECT_EQ(claims->expires_at, 2291720170);
  EXPECT_EQ(claims->ttl, 43200);
  EXPECT_EQ(claims->statuses.bits(), 1);
  EXPECT_EQ(HexEncode(claims->statuses.bytes()), "b9a3");
  EXPECT_EQ(Member(Member(Member(Vectors(), "statusListJwtExample"), "header"), "typ").as_string(),
            kStatusListTyp);
}

// The draft's Referenced Token claim {"status":{"status_list":{"idx":0,"uri":...}}}: a mandate
// credential carries it as its JWT "status" claim (and credentialStatus.status_list), writes it
// member for member as the draft does, and parses it back to the same reference.
TEST(StatusListVectors, ReferencedTokenClaimParses) {
  const json::Value& claim = Member(Vectors(), "referencedTokenClaim");
  const json::Value& status_list = Member(Member(claim, "status"), "status_list");
  EXPECT_EQ(*Member(status_list, "idx").as_uint64(), 0u);
  EXPECT_EQ(Member(status_list, "uri").as_string(),
            Member(Member(Member(Vectors(), "statusListJwtExample"), "payload"), "sub").as_string());

  MandateCredential c;
  c.id = "mnd_7ks2q4";
  c.issuer = "did:web:acme.example";
  c.subject = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
  c.validity = Validity{1767225600, 1769904000};
  c.issued_at = 1767225600;
  c.status = StatusReference{0, "https://example.com/statuslists/1"};
  c.terms = testutil::TermsOf(R"({"limits":{"lifetime":[{"asset":"USD","max":"500"}]}})");
  json::Value payload = MandateCredentialToJson(c);
  EXPECT_EQ(json::Write(*payload.Find("status")), json::Write(Member(claim, "status")));

  // The vector's claim in place of ours (both places), then parsed.
  c.status = StatusReference{7, "https://other.example/lists/9"};
  payload = MandateCredentialToJson(c);
  payload.Set("status", Member(claim, "status"));
  payload.Find("credentialStatus")->Set("status_list", status_list);
  Result<MandateCredential> parsed = ParseMandateCredential(payload);
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(parsed->status.idx, 0u);
  EXPECT_EQ(parsed->status.uri, "https://example.com/statuslists/1");

  // Only the JWT claim from the vector: it must mirror credentialStatus, so it is refused.
  payload = MandateCredentialToJson(c);
  payload.Set("status", Member(claim, "status"));
  Result<MandateCredential> mismatch = ParseMandateCredential(payload);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().reason(), "claims-mismatch");
}

TEST(StatusListClaims, WritesMembersInOrderAndParsesBack) {
  StatusListClaims claims;
  claims.uri = "https://mandated.example/v1/status-lists/1";
  claims.issued_at = 1767225600;
  claims.expires_at = 1767312000;
  claims.ttl = 300;
  claims.statuses = *StatusArray::Create(2, 8);
  ASSERT_TRUE(claims.statuses.Set(5, static_cast<uint8_t>(TokenStatus::kRevoked)).ok());
  ASSERT_TRUE(claims.statuses.Set(6, static_cast<uint8_t>(TokenStatus::kSuspended)).ok());
  const std::string lst = *EncodeStatusList(claims.statuses);

  Result<json::Value> with_iss = StatusListClaimsToJson(claims, "did:web:mandated.example");
  ASSERT_TRUE(with_iss.ok()) << with_iss.error().ToString();
  EXPECT_EQ(json::Write(*with_iss),
            R"({"iss":"did:web:mandated.example","sub":"https://mandated.example/v1/status-lists/1",)"
            R"("iat":1767225600,"exp":1767312000,"ttl":300,"status_list":{"bits":2,"lst":")" +
                lst + R"("}})");
  Result<StatusListClaims> back = ParseStatusListClaims(*with_iss, kOneMiB);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->uri, claims.uri);
  EXPECT_EQ(back->issued_at, claims.issued_at);
  EXPECT_EQ(back->expires_at, claims.expires_at);
  EXPECT_EQ(back->ttl, claims.ttl);
  EXPECT_EQ(back->statuses.bits(), 2);
  EXPECT_EQ(back->statuses.bytes(), claims.statuses.bytes());
  EXPECT_EQ(*back->statuses.Get(6), static_cast<uint8_t>(TokenStatus::kSuspended));

  claims.expires_at = 0;
  claims.ttl = 0;
  Result<json::Value> bare = StatusListClaimsToJson(claims, "");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(json::Write(*bare), R"({"sub":"https://mandated.example/v1/status-lists/1",)"
                                R"("iat":1767225600,"status_list":{"bits":2,"lst":")" +
                                    lst + R"("}})");
}

TEST(StatusListClaims, WriterRefusesEmptyUriAndEmptyList) {
  StatusListClaims claims;
  claims.uri = "https://mandated.example/v1/status-lists/1";
  ExpectBadStatusList(StatusListClaimsToJson(claims, "").status(), "status list");
  claims.uri.clear();
  claims.statuses = *StatusArray::Create(1, 8);
  ExpectBadStatusList(StatusListClaimsToJson(claims, "").status(), "/sub");
}

// --- bit placement -------------------------------------------------------------------------

TEST(StatusListArray, OneBitPlacement) {
  StatusArray a = *StatusArray::Create(1, 16);
  EXPECT_EQ(a.size(), 16u);
  ASSERT_EQ(a.bytes().size(), 2u);
  ASSERT_TRUE(a.Set(0, 1).ok());
  EXPECT_EQ(HexEncode(a.bytes()), "0100");
  ASSERT_TRUE(a.Set(7, 1).ok());
  EXPECT_EQ(HexEncode(a.bytes()), "8100");
  ASSERT_TRUE(a.Set(9, 1).ok());
  EXPECT_EQ(HexEncode(a.bytes()), "8102");
  ASSERT_TRUE(a.Set(0, 0).ok());
  EXPECT_EQ(HexEncode(a.bytes()), "8002");
  EXPECT_EQ(*a.Get(7), 1);
  EXPECT_EQ(*a.Get(8), 0);
  EXPECT_EQ(*a.Get(9), 1);
}

TEST(StatusListArray, TwoBitPlacement) {
  StatusArray a = *StatusArray::Create(2, 8);
  EXPECT_EQ(a.size(), 8u);
  ASSERT_EQ(a.bytes().size(), 2u);
  ASSERT_TRUE(a.Set(0, 3).ok());
  EXPECT_EQ(HexEncode(a.bytes()), "0300");
  ASSERT_TRUE(a.Set(1, static_cast<uint8_t>(TokenStatus::kSuspended)).ok());
  EXPECT_EQ(HexEncode(a.bytes()), "0b00");
  ASSERT_TRUE(a.Set(3, static_cast<uint8_t>(TokenStatus::kRevoked)).ok());
  EXPECT_EQ(HexEncode(a.bytes()), "4b00");
  ASSERT_TRUE(a.Set(4, 2).ok());
  EXPECT_EQ(HexEncode(a.bytes()), "4b02");
  ASSERT_TRUE(a.Set(0, static_cast<uint8_t>(TokenStatus::kValid)).ok());  // clears only its bits
  EXPECT_EQ(HexEncode(a.bytes()), "4802");
  EXPECT_EQ(*a.Get(1), 2);
  EXPECT_EQ(*a.Get(3), 1);
  EXPECT_EQ(*a.Get(4), 2);
  EXPECT_EQ(*a.Get(7), 0);
}

TEST(StatusListArray, FourBitPlacement) {
  StatusArray a = *StatusArray::Create(4, 4);
  ASSERT_EQ(a.bytes().size(), 2u);
  ASSERT_TRUE(a.Set(0, 0xa).ok());
  EXPECT_EQ(HexEncode(a.bytes()), "0a00");
  ASSERT_TRUE(a.Set(1, 0x5).ok());
  EXPECT_EQ(HexEncode(a.bytes()), "5a00");
  ASSERT_TRUE(a.Set(3, 0xf).ok());
  EXPECT_EQ(HexEncode(a.bytes()), "5af0");
  EXPECT_EQ(*a.Get(0), 0xa);
  EXPECT_EQ(*a.Get(1), 0x5);
  EXPECT_EQ(*a.Get(2), 0);
  EXPECT_EQ(*a.Get(3), 0xf);
}

TEST(StatusListArray, EightBitPlacement) {
  StatusArray a = *StatusArray::Create(8, 3);
  ASSERT_EQ(a.bytes().size(), 3u);
  ASSERT_TRUE(a.Set(1, 0xfe).ok());
  ASSERT_TRUE(a.Set(2, 0xff).ok());
  EXPECT_EQ(HexEncode(a.bytes()), "00feff");
  EXPECT_EQ(*a.Get(1), 0xfe);
}

TEST(StatusListArray, FromBytesReadsExistingLayout) {
  StatusArray a = *StatusArray::FromBytes(4, *HexDecode("21"));
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(*a.Get(0), 1);
  EXPECT_EQ(*a.Get(1), 2);
}

TEST(StatusListArray, OutOfRangeIndexAndBadValues) {
  StatusArray a = *StatusArray::Create(2, 8);
  Result<uint8_t> get = a.Get(8);
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.error().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(get.error().reason(), "status-index-out-of-range");
  Status set = a.Set(8, 0);
  EXPECT_EQ(set.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(set.reason(), "status-index-out-of-range");
  EXPECT_EQ(a.Get(SIZE_MAX).error().reason(), "status-index-out-of-range");
  EXPECT_EQ(StatusArray().Get(0).error().reason(), "status-index-out-of-range");

  const std::pair<int, uint8_t> too_big[] = {{1, 2}, {2, 4}, {4, 16}};
  for (const auto& [bits, value] : too_big) {
    SCOPED_TRACE(bits);
    StatusArray b = *StatusArray::Create(bits, 8);
    Status s = b.Set(0, value);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.reason(), "bad-status-value");
    EXPECT_EQ(HexEncode(b.bytes()).find_first_not_of('0'), std::string::npos);  // unchanged
    EXPECT_TRUE(b.Set(0, static_cast<uint8_t>(value - 1)).ok());
  }
  EXPECT_TRUE(StatusArray::Create(8, 1)->Set(0, 255).ok());
}

TEST(StatusListArray, CreateAndFromBytesRefuseBadShapes) {
  for (int bits : {0, 3, 5, 16, -1}) {
    SCOPED_TRACE(bits);
    ExpectBadStatusList(StatusArray::Create(bits, 8).status(), "status list");
    ExpectBadStatusList(StatusArray::FromBytes(bits, Bytes{0}).status(), "status list");
  }
  ExpectBadStatusList(StatusArray::Create(1, 0).status(), "status list");
  ExpectBadStatusList(StatusArray::Create(1, 12).status(), "status list");  // not whole bytes
  ExpectBadStatusList(StatusArray::Create(2, 6).status(), "status list");
  ExpectBadStatusList(StatusArray::Create(4, 3).status(), "status list");
  EXPECT_EQ(StatusArray::Create(2, 4)->bytes().size(), 1u);
  ExpectBadStatusList(StatusArray::FromBytes(1, Bytes{}).status(), "status list");
  ExpectBadStatusList(EncodeStatusList(StatusArray()).status(), "status list");
}

// --- DecodeStatusList refusals -------------------------------------------------------------

class StatusListDecode : public ::testing::Test {
 protected:
  // example1's ZLIB stream.
  Bytes Known() const { return *HexDecode("78dadbb918000217015d"); }

  static void ExpectRefused(const Result<StatusArray>& r) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << r.error().ToString();
    EXPECT_EQ(r.error().reason(), "bad-status-list") << r.error().ToString();
  }
};

TEST_F(StatusListDecode, RefusesNonBase64Url) {
  ExpectRefused(DecodeStatusList(1, "eNr+uRgAAhcBXQ", kOneMiB));   // standard alphabet
  ExpectRefused(DecodeStatusList(1, "eNrbuRgAAhcB XQ", kOneMiB));  // whitespace
  ExpectRefused(DecodeStatusList(1, "eNrbuRgAAhcBXQ!", kOneMiB));
}

TEST_F(StatusListDecode, RefusesPadding) {
  ExpectRefused(DecodeStatusList(1, "eNrbuRgAAhcBXQ==", kOneMiB));
}

TEST_F(StatusListDecode, RefusesTruncatedStream) {
  Bytes z = Known();
  z.pop_back();
  ExpectRefused(DecodeStatusList(1, LstOf(z), kOneMiB));
  ExpectRefused(DecodeStatusList(1, LstOf(ByteSpan(Known()).first(6)), kOneMiB));
  ExpectRefused(DecodeStatusList(1, "", kOneMiB));
}

TEST_F(StatusListDecode, RefusesTrailingGarbage) {
  Bytes z = Known();
  z.push_back(0x00);
  ExpectRefused(DecodeStatusList(1, LstOf(z), kOneMiB));
  Bytes two = Known();
  Bytes second = Known();
  two.insert(two.end(), second.begin(), second.end());
  ExpectRefused(DecodeStatusList(1, LstOf(two), kOneMiB));
}

TEST_F(StatusListDecode, RefusesRawDeflateWithoutZlibHeader) {
  Bytes raw = Known();
  raw = Bytes(raw.begin() + 2, raw.end() - 4);  // strip the header and the Adler-32
  ExpectRefused(DecodeStatusList(1, LstOf(raw), kOneMiB));
}

TEST_F(StatusListDecode, RefusesBadBitsAndEmptyArray) {
  ExpectRefused(DecodeStatusList(3, "eNrbuRgAAhcBXQ", kOneMiB));
  ExpectRefused(DecodeStatusList(0, "eNrbuRgAAhcBXQ", kOneMiB));
  ExpectRefused(DecodeStatusList(1, LstOf(*ZlibCompress(Bytes{})), kOneMiB));
}

TEST_F(StatusListDecode, StopsADecompressionBombAtMaxBytes) {
  Bytes zeros(10 * 1024 * 1024, 0);
  const std::string lst = LstOf(*ZlibCompress(zeros));
  EXPECT_LT(lst.size(), 30000u);
  Result<StatusArray> r = DecodeStatusList(2, lst, kOneMiB);
  ExpectRefused(r);
  EXPECT_NE(r.error().message().find(std::to_string(kOneMiB)), std::string::npos)
      << r.error().message();
  // The limit is inclusive: exactly max_bytes inflates.
  Result<StatusArray> exact = DecodeStatusList(2, LstOf(*ZlibCompress(Bytes(kOneMiB, 0))), kOneMiB);
  ASSERT_TRUE(exact.ok()) << exact.error().ToString();
  EXPECT_EQ(exact->size(), kOneMiB * 4);
}

// --- ParseStatusListClaims refusals --------------------------------------------------------

TEST(StatusListParse, BitsThree) {
  ExpectBadStatusList(
      ParseStatusListClaims(Payload(R"({"bits":3,"lst":"eNrbuRgAAhcBXQ"})"), kOneMiB).status(),
      "/status_list/bits");
}

TEST(StatusListParse, BitsMissingOrNotAnInteger) {
  ExpectBadStatusList(
      ParseStatusListClaims(Payload(R"({"lst":"eNrbuRgAAhcBXQ"})"), kOneMiB).status(),
      "/status_list/bits");
  ExpectBadStatusList(
      ParseStatusListClaims(Payload(R"({"bits":"1","lst":"eNrbuRgAAhcBXQ"})"), kOneMiB).status(),
      "/status_list/bits");
  ExpectBadStatusList(
      ParseStatusListClaims(Payload(R"({"bits":1.0,"lst":"eNrbuRgAAhcBXQ"})"), kOneMiB).status(),
      "/status_list/bits");
}

TEST(StatusListParse, LstNumberOrMissing) {
  ExpectBadStatusList(ParseStatusListClaims(Payload(R"({"bits":1,"lst":12})"), kOneMiB).status(),
                      "/status_list/lst");
  ExpectBadStatusList(ParseStatusListClaims(Payload(R"({"bits":1})"), kOneMiB).status(),
                      "/status_list/lst");
}

TEST(StatusListParse, BadLstNamesItsPointer) {
  ExpectBadStatusList(
      ParseStatusListClaims(Payload(R"({"bits":1,"lst":"eNrbuRgAAhcBXQ=="})"), kOneMiB).status(),
      "/status_list/lst");
  ExpectBadStatusList(
      ParseStatusListClaims(Payload(R"({"bits":1,"lst":"27kYAA"})"), kOneMiB).status(),
      "/status_list/lst");  // raw deflate
}

TEST(StatusListParse, SubMissingEmptyOrNotAString) {
  const std::string_view list = R"({"bits":1,"lst":"eNrbuRgAAhcBXQ"})";
  ExpectBadStatusList(ParseStatusListClaims(Payload(list, R"("iat":1686920170)"), kOneMiB).status(),
                      "/sub");
  ExpectBadStatusList(
      ParseStatusListClaims(Payload(list, R"("sub":"","iat":1686920170)"), kOneMiB).status(),
      "/sub");
  ExpectBadStatusList(
      ParseStatusListClaims(Payload(list, R"("sub":7,"iat":1686920170)"), kOneMiB).status(),
      "/sub");
}

TEST(StatusListParse, IatStringOrMissing) {
  const std::string_view list = R"({"bits":1,"lst":"eNrbuRgAAhcBXQ"})";
  ExpectBadStatusList(
      ParseStatusListClaims(Payload(list, R"("sub":"https://e.example/1","iat":"1686920170")"),
                            kOneMiB)
          .status(),
      "/iat");
  ExpectBadStatusList(
      ParseStatusListClaims(Payload(list, R"("sub":"https://e.example/1")"), kOneMiB).status(),
      "/iat");
}

TEST(StatusListParse, ExpTtlIssAndAggregationTypes) {
  const std::string_view list = R"({"bits":1,"lst":"eNrbuRgAAhcBXQ"})";
  const std::string base = R"("sub":"https://e.example/1","iat":1686920170)";
  ExpectBadStatusList(ParseStatusListClaims(Payload(list, base + R"(,"exp":0)"), kOneMiB).status(),
                      "/exp");
  ExpectBadStatusList(
      ParseStatusListClaims(Payload(list, base + R"(,"exp":"2291720170")"), kOneMiB).status(),
      "/exp");
  ExpectBadStatusList(ParseStatusListClaims(Payload(list, base + R"(,"ttl":-5)"), kOneMiB).status(),
                      "/ttl");
  ExpectBadStatusList(ParseStatusListClaims(Payload(list, base + R"(,"ttl":1.5)"), kOneMiB).status(),
                      "/ttl");
  ExpectBadStatusList(ParseStatusListClaims(Payload(list, base + R"(,"iss":1)"), kOneMiB).status(),
                      "/iss");
  ExpectBadStatusList(
      ParseStatusListClaims(
          Payload(R"({"bits":1,"lst":"eNrbuRgAAhcBXQ","aggregation_uri":true})", base), kOneMiB)
          .status(),
      "/status_list/aggregation_uri");
}

TEST(StatusListParse, StatusListMissingOrNotAnObject) {
  ExpectBadStatusList(
      ParseStatusListClaims(Json(R"({"sub":"https://e.example/1","iat":1})"), kOneMiB).status(),
      "/status_list");
  ExpectBadStatusList(ParseStatusListClaims(Payload(R"("eNrbuRgAAhcBXQ")"), kOneMiB).status(),
                      "/status_list");
  ExpectBadStatusList(ParseStatusListClaims(Json("[]"), kOneMiB).status(), "/");
}

TEST(StatusListParse, IgnoresUnknownMembersAndAcceptsOptionalOnes) {
  Result<StatusListClaims> claims = ParseStatusListClaims(
      Payload(R"({"bits":1,"lst":"eNrbuRgAAhcBXQ","aggregation_uri":"https://e.example/agg","x":1})",
              R"("iss":"https://e.example","sub":"https://e.example/1","iat":1,"nbf":0,"extra":{})"),
      kOneMiB);
  ASSERT_TRUE(claims.ok()) << claims.error().ToString();
  EXPECT_EQ(claims->uri, "https://e.example/1");
  EXPECT_EQ(claims->expires_at, 0);
  EXPECT_EQ(claims->ttl, 0);
  EXPECT_EQ(HexEncode(claims->statuses.bytes()), "b9a3");
}

TEST(StatusListParse, DecompressionBombRefused) {
  const std::string lst = LstOf(*ZlibCompress(Bytes(10 * 1024 * 1024, 0)));
  ExpectBadStatusList(
      ParseStatusListClaims(Payload(R"({"bits":2,"lst":")" + lst + R"("})"), kOneMiB).status(),
      "/status_list/lst");
}

}  // namespace
}  // namespace mandated::mandates
