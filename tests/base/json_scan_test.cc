// json::Scanner and json::ScanValue, the quick path of json::Parse, agree with the full strict
// parser: what the scanner accepts, nlohmann's parser accepts with an equal value, and it declines
// everything the full parser refuses (checked on samples and every one-character edit of one).
#include "base/json_scan.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "base/json.h"

namespace mandated::json {
namespace {

// The scanner's value of `text`, if it accepts the whole text.
std::optional<Value> Quick(std::string_view text, int max_depth = 64) {
  Scanner s(text);
  Value v;
  if (ScanValue(s, max_depth, v) && s.AtEnd()) {
    return v;
  }
  return std::nullopt;
}

// json::Parse of `text` through the full parser only: the text goes in an array beside a string
// with an escape, which the scanner never reads. The value is that array's first item.
Result<Value> Full(std::string_view text) {
  Result<Value> v = Parse("[" + std::string(text) + ",\"\\u0061\"]", ParseOptions{65});
  if (!v.ok()) {
    return v.error();
  }
  EXPECT_EQ(v->items().size(), 2u);
  EXPECT_EQ(v->items()[1].as_string(), "a");
  return v->items()[0];
}

// Returns whether the scanner accepted; fails the test if it accepted what the full parser
// refuses or read a different value.
bool ExpectAgreement(std::string_view text) {
  std::optional<Value> quick = Quick(text);
  if (!quick) {
    return false;
  }
  Result<Value> full = Full(text);
  EXPECT_TRUE(full.ok()) << "the scanner accepted what the full parser refuses ("
                         << (full.ok() ? "" : full.error().ToString()) << "): " << text;
  if (full.ok()) {
    EXPECT_TRUE(*quick == *full) << text << "\nquick: " << Write(*quick) << "\nfull:  "
                                 << Write(*full);
  }
  return true;
}

TEST(JsonScan, ReadsTheSubsetLikeTheFullParser) {
  for (std::string_view text :
       {R"({"alg":"ES256K","typ":"vc+jwt","kid":"did:web:x.example#key_1"})", "[]", "{}",
        R"( [ true , false , null , 0 , 18446744073709551615 , "" , { } ] )",
        R"({"a":{"b":[1,[2,[3]]]},"c":"plain text"})", R"("x")", "7"}) {
    EXPECT_TRUE(ExpectAgreement(text)) << "declined: " << text;
  }
}

TEST(JsonScan, DeclinesWhatItLeavesToTheFullParser) {
  for (std::string_view text :
       {R"("\n")", R"("é")", "-1", "-0", "1.5", "1e3", "18446744073709551616", "01", R"({"a":1,"a":2})",
        "[1,]", "{\"a\":1,}", "", " ", "tru", "nul", "[1 2]", "{\"a\" 1}", "\"\x01\""}) {
    EXPECT_FALSE(Quick(text).has_value()) << text;
  }
  // Depth: as deep as max_depth allows, and no deeper.
  EXPECT_TRUE(Quick("[[[]]]", 3).has_value());
  EXPECT_FALSE(Quick("[[[]]]", 2).has_value());
}

// Its repeated-key check looks at each earlier key: an object of more than 32 members goes to the
// full parser (a 64 KiB body of 7,200 keys took over a second of CPU here), which takes it the
// same, and still names a key repeated far apart.
TEST(JsonScan, DeclinesAnObjectOfManyMembers) {
  auto object_of = [](size_t n) {
    std::string text = "{";
    for (size_t i = 0; i < n; ++i) text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
    return text + "}";
  };
  std::optional<Value> quick = Quick(object_of(kMaxScannedMembers));
  ASSERT_TRUE(quick.has_value());
  EXPECT_EQ(quick->size(), kMaxScannedMembers);
  EXPECT_FALSE(Quick(object_of(kMaxScannedMembers + 1)).has_value());
  Result<Value> full = Parse(object_of(7200));
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->size(), 7200u);
  EXPECT_EQ(full->Find("k7199")->number_text(), "7199");
  std::string repeated = object_of(7200);
  repeated.insert(repeated.size() - 1, ",\"k3\":0");
  EXPECT_EQ(Parse(repeated).error().reason(), "duplicate-key");
}

// A digit larger than the bound is over it too (max - d must not wrap below zero).
TEST(JsonScan, UintBoundSmallerThanADigit) {
  for (const auto& [text, max, ok] : std::vector<std::tuple<std::string, uint64_t, bool>>{
           {"5", 5, true}, {"7", 5, false}, {"9", 0, false}, {"0", 0, true}, {"10", 9, false}}) {
    Scanner s(text);
    uint64_t v = 0;
    EXPECT_EQ(s.Uint(v, max), ok) << text << " max " << max;
    if (ok) {
      EXPECT_EQ(v, std::stoull(text));
    }
  }
}

TEST(JsonScan, ParseStillNamesEveryFault) {
  EXPECT_EQ(Parse(R"({"a":1,"a":2})").error().reason(), "duplicate-key");
  EXPECT_EQ(Parse("[1,]").error().reason(), "malformed-json");
  EXPECT_EQ(Parse(std::string(65, '[') + std::string(65, ']')).error().reason(),
            "json-too-deep");
  EXPECT_TRUE(Parse(std::string(64, '[') + std::string(64, ']')).ok());
  EXPECT_EQ(Parse("\"\xff\"").error().reason(), "invalid-utf8");
  EXPECT_EQ(Parse("-0")->number_text(), "0");  // as nlohmann normalizes it
}

TEST(JsonScan, AgreesWithTheFullParserOnEveryOneCharacterEdit) {
  const std::string doc =
      R"({"alg":"EdDSA","n":[0,12,true,false,null,{"k":"v","e":{}}],"s":"a b/c:d","z":[]})";
  constexpr std::string_view kChars = "\"{}[],: 019-.eEtrufalsn\\x";
  size_t accepted = 0;
  for (size_t i = 0; i < doc.size() && !::testing::Test::HasFailure(); ++i) {
    accepted += ExpectAgreement(doc.substr(0, i) + doc.substr(i + 1)) ? 1 : 0;
    for (char c : kChars) {
      std::string replaced = doc;
      replaced[i] = c;
      accepted += ExpectAgreement(replaced) ? 1 : 0;
      accepted += ExpectAgreement(doc.substr(0, i) + c + doc.substr(i)) ? 1 : 0;
    }
  }
  EXPECT_GT(accepted, 100u);
}

}  // namespace
}  // namespace mandated::json
