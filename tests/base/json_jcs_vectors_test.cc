// The RFC 8785 (JCS) vectors against what base/json implements: the strict parser and the compact
// writer. base/json has no canonicalizer (no key sorting, no number normalization), so here the
// writer must reproduce every canonical text byte for byte, and the parser must read every input
// and refuse the file's mustReject inputs. Number serialization (the "numbers" member and
// es6-numbers-1k.txt) is settlement::WithJsNumbers's business:
// tests/settlement/js_numbers_vectors_test.cc. Vectors: tests/vectors/jcs/ (README there).
#include <gtest/gtest.h>

#include <string>

#include "base/bytes.h"
#include "base/json.h"
#include "tests/support/test_support.h"

namespace mandated::json {
namespace {

using testing::At;
using testing::StringField;

const Value& Vectors() {
  static const Value v = [] {
    Result<Value> file = Parse(testing::ReadFileOrDie(
        testing::SourcePath("tests/vectors/jcs/rfc8785-jcs-vectors.json")));
    EXPECT_TRUE(file.ok()) << file.error().ToString();
    return file.ok() ? *file : Value::Object();
  }();
  return v;
}

TEST(JcsVectors, FileHasTheListedCaseCounts) {
  EXPECT_EQ(At(Vectors(), {"cases"}).items().size(), 6u);
  EXPECT_EQ(At(Vectors(), {"numbers"}).items().size(), 28u);
  EXPECT_EQ(At(Vectors(), {"mustReject"}).items().size(), 3u);
  EXPECT_EQ(At(Vectors(), {"pitfalls"}).items().size(), 3u);
}

// Every input (pretty-printed, escapes, non-canonical numbers) parses, and the writer reproduces
// every canonical output byte for byte: its string escaping (\n, \", \\, \u000f lower-case, DEL
// and non-ASCII left as UTF-8, "/" unescaped) and number text are JCS's.
TEST(JcsVectors, EveryInputParsesAndEveryCanonicalTextWritesBackUnchanged) {
  int checked = 0;
  for (const Value& c : At(Vectors(), {"cases"}).items()) {
    const std::string name = StringField(c, "name");
    SCOPED_TRACE(name);
    const std::string expected = StringField(c, "expectedOutput");
    EXPECT_EQ(HexEncode(AsBytes(expected)), StringField(c, "expectedOutputUtf8Hex"));

    Result<Value> input = Parse(StringField(c, "input"));
    ASSERT_TRUE(input.ok()) << input.error().ToString();
    EXPECT_TRUE(input->is_object() || input->is_array());

    Result<Value> canonical = Parse(expected);
    ASSERT_TRUE(canonical.ok()) << canonical.error().ToString();
    EXPECT_EQ(Write(*canonical), expected);
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

// The "unicode" case: JCS does no Unicode normalization, and neither does the parser.
TEST(JcsVectors, UnnormalizedUnicodeIsKept) {
  for (const Value& c : At(Vectors(), {"cases"}).items()) {
    if (StringField(c, "name") != "unicode") continue;
    Result<Value> v = Parse(StringField(c, "input"));
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->Find("Unnormalized Unicode")->as_string(), "A\xcc\x8a");  // A + U+030A
    EXPECT_EQ(Write(*v), StringField(c, "expectedOutput"));
    return;
  }
  ADD_FAILURE() << "no unicode case";
}

// mustReject: all three are refused. A duplicate member and a lone surrogate get their own
// reasons; a number beyond double range (1e400) is refused as "malformed-json" (the parser reads
// numbers through nlohmann, which refuses an overflowing one), also when written as a plain
// integer of more than 309 digits. A number that underflows (1e-400) is kept as written.
TEST(JcsVectors, MustRejectInputsAreRefusedByParse) {
  const auto& cases = At(Vectors(), {"mustReject"}).items();
  ASSERT_EQ(cases.size(), 3u);
  const std::string expected_reasons[] = {"duplicate-key", "invalid-utf8", "malformed-json"};
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string input = StringField(cases[i], "input");
    SCOPED_TRACE(input);
    Result<Value> r = Parse(input);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.error().reason(), expected_reasons[i]);
  }
  for (const std::string& huge : {std::string("[-1e400]"), std::string("[1.7976931348623159e308]"),
                                  "[1" + std::string(400, '0') + "]"}) {
    SCOPED_TRACE(huge.substr(0, 30));
    Result<Value> r = Parse(huge);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().reason(), "malformed-json");
  }
  Result<Value> tiny = Parse("[1e-400]");
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(Write(*tiny), "[1e-400]");
}

// pitfalls: the parser keeps an integer above 2^53 exact (it never goes through a double), and
// the two canonical texts (normalized numbers; keys in UTF-16 order) write back unchanged.
TEST(JcsVectors, Pitfalls) {
  const auto& cases = At(Vectors(), {"pitfalls"}).items();
  ASSERT_EQ(cases.size(), 3u);

  Result<Value> big = Parse(StringField(cases[0], "input"));
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->Find("amount")->number_text(), "9007199254740993");
  EXPECT_EQ(Write(*big), StringField(cases[0], "input"));
  EXPECT_NE(Write(*big), StringField(cases[0], "parsedAsDouble"));

  for (size_t i = 1; i < 3; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(Parse(StringField(cases[i], "input")).ok());
    const std::string canonical = StringField(cases[i], "canonical");
    Result<Value> v = Parse(canonical);
    ASSERT_TRUE(v.ok()) << v.error().ToString();
    EXPECT_EQ(Write(*v), canonical);
  }
}

}  // namespace
}  // namespace mandated::json
