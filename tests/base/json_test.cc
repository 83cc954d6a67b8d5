// Strict JSON parser, writer and ObjectReader: every refusal has its own reason.
#include "base/json.h"

#include <gtest/gtest.h>

#include <string>

namespace mandated::json {
namespace {

std::string ReasonOf(std::string_view text) {
  Result<Value> r = Parse(text);
  return r.ok() ? "ok" : r.error().reason();
}

TEST(JsonParse, AcceptsOrdinaryDocuments) {
  Result<Value> v = Parse(R"({"a":[1,-2,3.5e2,true,false,null],"b":{"c":"d\u00e9"}})");
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  EXPECT_EQ(Write(*v), "{\"a\":[1,-2,3.5e2,true,false,null],\"b\":{\"c\":\"d\xc3\xa9\"}}");
  EXPECT_EQ(v->Find("a")->items()[2].number_text(), "3.5e2");
}

TEST(JsonParse, KeepsBigIntegersExact) {
  Result<Value> v = Parse("[340282366920938463463374607431768211456, 18446744073709551616]");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->items()[0].number_text(), "340282366920938463463374607431768211456");
  EXPECT_EQ(v->items()[1].number_text(), "18446744073709551616");
  EXPECT_FALSE(v->items()[1].as_uint64().has_value());
}

TEST(JsonParse, RefusesDuplicateKeysAtAnyDepth) {
  EXPECT_EQ(ReasonOf(R"({"amount":"100","amount":"999999"})"), "duplicate-key");
  EXPECT_EQ(ReasonOf(R"({"a":[{"x":1,"y":2,"x":3}]})"), "duplicate-key");
  EXPECT_EQ(ReasonOf(R"({"a":{"x":1},"b":{"x":1}})"), "ok");
}

TEST(JsonParse, RefusesDeepNesting) {
  std::string deep(10000, '[');
  deep += std::string(10000, ']');
  EXPECT_EQ(ReasonOf(deep), "json-too-deep");
  std::string ok64 = std::string(64, '[') + std::string(64, ']');
  EXPECT_EQ(ReasonOf(ok64), "ok");
  std::string over = std::string(65, '[') + std::string(65, ']');
  EXPECT_EQ(ReasonOf(over), "json-too-deep");
  std::string deep_obj;
  for (int i = 0; i < 100; ++i) deep_obj += "{\"a\":";
  deep_obj += "1" + std::string(100, '}');
  EXPECT_EQ(ReasonOf(deep_obj), "json-too-deep");
}

TEST(JsonParse, RefusesInvalidUtf8AndLoneSurrogates) {
  EXPECT_EQ(ReasonOf("{\"a\":\"\xff\"}"), "invalid-utf8");
  EXPECT_EQ(ReasonOf("{\"a\":\"\xc3\"}"), "invalid-utf8");          // truncated sequence
  EXPECT_EQ(ReasonOf("{\"a\":\"\xc0\xaf\"}"), "invalid-utf8");      // overlong '/'
  EXPECT_EQ(ReasonOf("{\"a\":\"\xed\xa0\x80\"}"), "invalid-utf8");  // encoded surrogate
  EXPECT_EQ(ReasonOf(R"({"a":"\ud800"})"), "invalid-utf8");
  EXPECT_EQ(ReasonOf(R"({"a":"\udc00"})"), "invalid-utf8");
  EXPECT_EQ(ReasonOf(R"({"a":"\ud83d\ude00"})"), "ok");
}

TEST(JsonParse, RefusesMalformedText) {
  for (const char* bad : {"", " ", "{", "[1,]", "{\"a\":1,}", "01", "NaN", "{'a':1}", "[1] x",
                          "\xef\xbb\xbf{}", "/*c*/{}", "[1e]", "\"\t\""}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(ReasonOf(bad), "malformed-json");
  }
}

TEST(ObjectReader, ReadsTypedFieldsAndRefusesUnknownOnes) {
  Result<Value> v = Parse(R"({"name":"x","n":5,"amount":"10000","flag":true})");
  ASSERT_TRUE(v.ok());
  Result<ObjectReader> r = ObjectReader::Of(*v);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->String("name"), "x");
  EXPECT_EQ(*r->Int("n"), 5);
  EXPECT_EQ(r->AmountField("amount")->ToString(), "10000");
  EXPECT_EQ(r->Finish().reason(), "unknown-field");
  EXPECT_TRUE(*r->Bool("flag"));
  EXPECT_TRUE(r->Finish().ok());
}

TEST(ObjectReader, AmountsMustBeStringsWithinRange) {
  Result<Value> v = Parse(
      R"({"a":100,"b":"340282366920938463463374607431768211456","c":"1e3","d":"-1","e":"007",
          "f":"340282366920938463463374607431768211455","g":null})");
  ASSERT_TRUE(v.ok());
  ObjectReader r = *ObjectReader::Of(*v);
  EXPECT_EQ(r.AmountField("a").error().reason(), "amount-not-string");
  EXPECT_EQ(r.AmountField("b").error().reason(), "amount-out-of-range");
  EXPECT_EQ(r.AmountField("b").error().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(r.AmountField("c").error().reason(), "bad-amount");
  EXPECT_EQ(r.AmountField("d").error().reason(), "bad-amount");
  EXPECT_EQ(r.AmountField("e").error().reason(), "bad-amount");
  EXPECT_EQ(r.AmountField("f")->ToString(), "340282366920938463463374607431768211455");
  EXPECT_EQ(r.AmountField("g").error().reason(), "wrong-type");
  EXPECT_EQ(r.AmountField("missing").error().reason(), "missing-field");
}

TEST(ObjectReader, ErrorsNameTheFieldAsAPointer) {
  Result<Value> v = Parse(R"({"limits":[{"max":5}]})");
  ASSERT_TRUE(v.ok());
  ObjectReader outer = *ObjectReader::Of(*v);
  const Value* limits = *outer.Required("limits");
  ObjectReader inner = *ObjectReader::Of(limits->items()[0], outer.PointerTo("limits") + "/0");
  Status s = inner.AmountField("max").status();
  EXPECT_EQ(s.reason(), "amount-not-string");
  EXPECT_NE(s.message().find("/limits/0/max"), std::string::npos) << s.message();
}

TEST(JsonWrite, EscapesControlCharacters) {
  Value v = Value::Object();
  v.Set("k", Value::String(std::string("a\"b\\c\n\x01", 7)));
  EXPECT_EQ(Write(v), "{\"k\":\"a\\\"b\\\\c\\n\\u0001\"}");
}

}  // namespace
}  // namespace mandated::json
