// settlement::WithJsNumbers (numbers printed as JavaScript's JSON.stringify prints them) against
// the JCS number vectors: the 28 IEEE-754 patterns of RFC 8785 Appendix B in
// tests/vectors/jcs/rfc8785-jcs-vectors.json and the 1000 lines of es6-numbers-1k.txt (the
// cyberphone/json-canonicalization numgen.js output); then the file's canonicalization cases
// through json::Parse + WithJsNumbers + a test-side sort of member names by UTF-16 code units +
// json::Write, which together make RFC 8785 output. The product has no canonicalizer of its own;
// the key sort here is test code. Provenance: tests/vectors/README.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "base/json.h"
#include "settlement/x402_wire.h"
#include "tests/support/test_support.h"

namespace mandated::settlement {
namespace {

using testing::At;
using testing::StringField;

const json::Value& Vectors() {
  static const json::Value v = [] {
    Result<json::Value> file = json::Parse(testing::ReadFileOrDie(
        testing::SourcePath("tests/vectors/jcs/rfc8785-jcs-vectors.json")));
    EXPECT_TRUE(file.ok()) << file.error().ToString();
    return file.ok() ? *file : json::Value::Object();
  }();
  return v;
}

double FromBits(std::string_view hex) {
  uint64_t bits = 0;
  const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), bits, 16);
  EXPECT_TRUE(ec == std::errc() && end == hex.data() + hex.size()) << hex;
  return std::bit_cast<double>(bits);
}

// 17 significant digits: always reads back as the same double, and is usually not the shortest
// spelling, so WithJsNumbers has to find the shortest one itself.
std::string SeventeenDigits(double x) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", x);
  return buf;
}

// What WithJsNumbers makes of one JSON number text: its text, or "null".
std::string Js(const std::string& number_text) {
  const json::Value out = WithJsNumbers(json::Value::NumberText(number_text));
  if (out.is_null()) return "null";
  EXPECT_TRUE(out.is_number()) << number_text;
  return out.number_text();
}

// Checks one finite IEEE-754 value: from a 17-digit spelling and from the expected text itself
// (already canonical, so unchanged).
void ExpectFinite(std::string_view hex, const std::string& expected) {
  const double x = FromBits(hex);
  ASSERT_TRUE(std::isfinite(x)) << hex;
  const std::string seventeen = SeventeenDigits(x);
  EXPECT_EQ(Js(seventeen), expected) << "bits " << hex << " as " << seventeen;
  EXPECT_EQ(Js(expected), expected) << "bits " << hex;
  // The expected text denotes the same double (a check of the vector itself).
  double back = 0;
  std::from_chars(expected.data(), expected.data() + expected.size(), back);
  EXPECT_EQ(back, x == 0 ? 0.0 : x) << expected;
}

TEST(JsNumberVectors, Rfc8785AppendixBPatterns) {
  const auto& numbers = At(Vectors(), {"numbers"}).items();
  int finite = 0;
  int nan = 0;
  int infinite = 0;
  for (const json::Value& n : numbers) {
    const std::string hex = StringField(n, "ieee754Hex");
    SCOPED_TRACE(hex);
    const json::Value* expected = n.Find("expected");
    ASSERT_NE(expected, nullptr);
    const double x = FromBits(hex);
    if (expected->is_string()) {
      ExpectFinite(hex, expected->as_string());
      ++finite;
    } else if (std::isnan(x)) {
      // No JSON text denotes NaN: the parser refuses the token, so no number reaches the printer.
      ASSERT_TRUE(expected->is_null());
      Result<json::Value> parsed = json::Parse("[NaN]");
      ASSERT_FALSE(parsed.ok());
      EXPECT_EQ(parsed.error().reason(), "malformed-json");
      ++nan;
    } else {
      // Infinity: JCS must fail; WithJsNumbers does what JSON.stringify does with
      // JSON.parse("1e400") = Infinity, which is to print null (settlement/x402_wire.h).
      ASSERT_TRUE(expected->is_null());
      ASSERT_TRUE(std::isinf(x));
      EXPECT_EQ(Js("1e400"), "null");
      EXPECT_EQ(Js("-1e400"), "null");
      EXPECT_EQ(Js("1.7976931348623159e308"), "null");  // rounds to Infinity
      ++infinite;
    }
  }
  EXPECT_EQ(finite, 26);
  EXPECT_EQ(nan, 1);
  EXPECT_EQ(infinite, 1);
  EXPECT_EQ(numbers.size(), 28u);
}

TEST(JsNumberVectors, Es6NumbersFirstThousand) {
  const std::string text = testing::ReadFileOrDie(
      testing::SourcePath("tests/vectors/jcs/es6-numbers-1k.txt"));
  int lines = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    const size_t comma = line.find(',');
    ASSERT_NE(comma, std::string::npos) << "line " << lines + 1 << ": " << line;
    SCOPED_TRACE("line " + std::to_string(lines + 1) + ": " + line);
    ExpectFinite(line.substr(0, comma), line.substr(comma + 1));
    ++lines;
  }
  EXPECT_EQ(lines, 1000);
}

// The file's mustReject number (beyond double range) never reaches WithJsNumbers from the wire:
// json::Parse refuses it (tests/base/json_jcs_vectors_test.cc). Built in code, it prints as
// JSON.stringify(JSON.parse("1e400")) does: null.
TEST(JsNumberVectors, OutOfRangeMustRejectNumber) {
  const auto& cases = At(Vectors(), {"mustReject"}).items();
  ASSERT_EQ(cases.size(), 3u);
  EXPECT_EQ(StringField(cases[2], "input"), "{\"n\":1e400}");
  EXPECT_FALSE(json::Parse(StringField(cases[2], "input")).ok());
  json::Value v = json::Value::Object();
  v.Set("n", json::Value::NumberText("1e400"));
  EXPECT_EQ(json::Write(WithJsNumbers(v)), "{\"n\":null}");
  EXPECT_EQ(Js("1e-400"), "0");  // underflow: JSON.parse gives 0
}

// UTF-16 code units of UTF-8 text (the parser has already checked it is well formed).
std::u16string Utf16(std::string_view s) {
  std::u16string out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    const int len = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1f) : len == 3 ? (b & 0x0f) : (b & 0x07);
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3f);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xd800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
    i += static_cast<size_t>(len);
  }
  return out;
}

// `v` with object members sorted by UTF-16 code units at every depth (RFC 8785 §3.2.3).
json::Value SortedMembers(const json::Value& v) {
  if (v.is_array()) {
    json::Value out = json::Value::Array();
    for (const json::Value& item : v.items()) out.Append(SortedMembers(item));
    return out;
  }
  if (!v.is_object()) return v;
  std::vector<size_t> order(v.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&v](size_t a, size_t b) { return Utf16(v.keys()[a]) < Utf16(v.keys()[b]); });
  json::Value out = json::Value::Object();
  for (size_t i : order) out.AppendMember(v.keys()[i], SortedMembers(v.items()[i]));
  return out;
}

std::string Canonical(std::string_view text) {
  Result<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << (v.ok() ? "" : v.error().ToString());
  return v.ok() ? json::Write(SortedMembers(WithJsNumbers(*v))) : "";
}

TEST(JcsVectors, EveryCaseCanonicalizesByteForByte) {
  int checked = 0;
  for (const json::Value& c : At(Vectors(), {"cases"}).items()) {
    SCOPED_TRACE(StringField(c, "name"));
    const std::string out = Canonical(StringField(c, "input"));
    EXPECT_EQ(out, StringField(c, "expectedOutput"));
    EXPECT_EQ(HexEncode(AsBytes(out)), StringField(c, "expectedOutputUtf8Hex"));
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

TEST(JcsVectors, Pitfalls) {
  const auto& cases = At(Vectors(), {"pitfalls"}).items();
  ASSERT_EQ(cases.size(), 3u);
  // An integer above 2^53 becomes the double JSON.parse makes of it.
  EXPECT_EQ(Canonical(StringField(cases[0], "input")), StringField(cases[0], "parsedAsDouble"));
  // 1.0 -> 1, 1e2 -> 100, -0 -> 0, 0.1e1 -> 1.
  EXPECT_EQ(Canonical(StringField(cases[1], "input")), StringField(cases[1], "canonical"));
  // U+1F602 (D83D DE02) sorts before U+FB33.
  EXPECT_EQ(Canonical(StringField(cases[2], "input")), StringField(cases[2], "canonical"));
}

}  // namespace
}  // namespace mandated::settlement
