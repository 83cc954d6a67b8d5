// Strict JSON: a small ordered DOM, a parser that rejects what a payments API must not guess at,
// a compact writer, and ObjectReader for codecs that refuse unknown or mistyped fields.
// Rules and error reasons are in specs/errors.md §JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/amount.h"
#include "base/result.h"

namespace mandated::json {

enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

// A JSON value. Numbers keep their source text, so big integers are never rounded; objects keep
// member order (and never hold duplicate keys when built by Parse).
// Thread safety: a value type; const use from several threads is safe.
class Value {
 public:
  Value() = default;  // null
  static Value Null() { return Value(); }
  static Value Bool(bool b);
  static Value String(std::string s);
  // REQUIRES: `text` is a valid JSON number.
  static Value NumberText(std::string text);
  static Value Int(int64_t v);
  static Value Uint(uint64_t v);
  static Value Array();
  static Value Object();

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  bool as_bool() const { return bool_; }
  // The string value, or the number's source text.
  const std::string& as_string() const { return text_; }
  const std::string& number_text() const { return text_; }
  // Overwrites the string's (or number's) text with zeros, for a secret that arrived in a body.
  void WipeText();
  // The number as an integer if it is written as one and fits.
  std::optional<int64_t> as_int64() const;
  std::optional<uint64_t> as_uint64() const;

  // Arrays.
  const std::vector<Value>& items() const { return items_; }
  std::vector<Value>& items() { return items_; }
  Value& Append(Value v);

  // Objects. Keys are in insertion order; keys()[i] names items()[i].
  const std::vector<std::string>& keys() const { return keys_; }
  size_t size() const { return items_.size(); }
  const Value* Find(std::string_view key) const;
  Value* Find(std::string_view key);
  // Replaces the member if present, else appends it. Returns *this for chaining. Linear in the
  // number of members (objects keep insertion order, not an index).
  Value& Set(std::string_view key, Value v);
  // Appends a member without looking for an existing one: constant time, for builders that know
  // their keys are distinct (the parser, which checks duplicates itself; large generated maps).
  // REQUIRES: is_object() and no member named `key`.
  Value& AppendMember(std::string_view key, Value v);

  friend bool operator==(const Value& a, const Value& b);

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  std::string text_;
  std::vector<std::string> keys_;
  std::vector<Value> items_;
};

struct ParseOptions {
  // Arrays and objects nested deeper than this are refused ("json-too-deep").
  int max_depth = 64;
};

// Parses one JSON text (RFC 8259) strictly. Errors are kInvalidArgument with reason:
//   "malformed-json"  syntax errors, trailing data, empty input;
//   "duplicate-key"   an object names a member twice (at any depth);
//   "json-too-deep"   nesting beyond options.max_depth;
//   "invalid-utf8"    ill-formed UTF-8 or a lone surrogate escape in a string.
Result<Value> Parse(std::string_view text, const ParseOptions& options = {});

// Compact serialization: members in stored order, non-ASCII as UTF-8, control characters escaped.
std::string Write(const Value& v);
// Appends `s` as a JSON string literal (with quotes) to `out`.
void AppendQuoted(std::string& out, std::string_view s);

// Reads the members of one object for a strict codec: typed getters with precise errors, and
// Finish() refuses members that no getter asked for. Errors name the field as a JSON pointer
// (e.g. "/limits/0/amount") in the message, with reasons:
//   "missing-field", "wrong-type", "unknown-field", "amount-not-string", plus those of Amount.
// Thread safety: not synchronized; use from one thread. Borrows `object` (must outlive it).
class ObjectReader {
 public:
  // Returns kInvalidArgument ("wrong-type") if `v` is not an object.
  static Result<ObjectReader> Of(const Value& v, std::string pointer = "");

  Result<std::string> String(std::string_view key);
  Result<std::optional<std::string>> OptionalString(std::string_view key);
  Result<bool> Bool(std::string_view key);
  Result<std::optional<bool>> OptionalBool(std::string_view key);
  // Integers written without fraction or exponent, within int64.
  Result<int64_t> Int(std::string_view key);
  Result<std::optional<int64_t>> OptionalInt(std::string_view key);
  // Amounts must be JSON strings of decimal base units (DESIGN §3).
  Result<Amount> AmountField(std::string_view key);
  Result<std::optional<Amount>> OptionalAmount(std::string_view key);
  // Any value (array/object) for nested codecs; nullptr when absent.
  Result<const Value*> Required(std::string_view key);
  const Value* Optional(std::string_view key);

  // The JSON pointer of a member, for nested readers and error messages.
  std::string PointerTo(std::string_view key) const;

  // kInvalidArgument ("unknown-field") naming the first member no getter consumed.
  Status Finish() const;

 private:
  ObjectReader(const Value& object, std::string pointer)
      : object_(&object), pointer_(std::move(pointer)) {}
  const Value* Take(std::string_view key);
  // The amount at `v` (member `key`); the pointer is built only for an error.
  Result<Amount> AmountAt(const Value& v, std::string_view key) const;

  const Value* object_;
  std::string pointer_;
  // Members consumed so far, by index: bits for the first 64, then a vector (rarely allocated).
  uint64_t consumed_low_ = 0;
  std::vector<bool> consumed_high_;
};

// Escapes one JSON pointer reference token (RFC 6901): "~" -> "~0", "/" -> "~1".
std::string EscapePointerToken(std::string_view token);

// Parses an amount held in a JSON value: a string of digits. A number gets "amount-not-string".
Result<Amount> AmountFromValue(const Value& v, std::string_view pointer);

}  // namespace mandated::json
