// Strict JSON DOM, writer and ObjectReader (the parser adapter is json_parse_nlohmann.cc).
#include "base/json.h"

#include "base/json_scan.h"
#include "base/secret.h"

#include <array>
#include <charconv>

namespace mandated::json {

Value Value::Bool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}
Value Value::String(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.text_ = std::move(s);
  return v;
}
Value Value::NumberText(std::string text) {
  Value v;
  v.type_ = Type::kNumber;
  v.text_ = std::move(text);
  return v;
}
Value Value::Int(int64_t i) { return NumberText(std::to_string(i)); }
Value Value::Uint(uint64_t u) { return NumberText(std::to_string(u)); }
Value Value::Array() {
  Value v;
  v.type_ = Type::kArray;
  return v;
}
Value Value::Object() {
  Value v;
  v.type_ = Type::kObject;
  return v;
}

std::optional<int64_t> Value::as_int64() const {
  if (type_ != Type::kNumber) {
    return std::nullopt;
  }
  int64_t out = 0;
  auto [p, ec] = std::from_chars(text_.data(), text_.data() + text_.size(), out);
  if (ec != std::errc() || p != text_.data() + text_.size()) {
    return std::nullopt;
  }
  return out;
}

std::optional<uint64_t> Value::as_uint64() const {
  if (type_ != Type::kNumber || text_.empty() || text_[0] == '-') {
    return std::nullopt;
  }
  uint64_t out = 0;
  auto [p, ec] = std::from_chars(text_.data(), text_.data() + text_.size(), out);
  if (ec != std::errc() || p != text_.data() + text_.size()) {
    return std::nullopt;
  }
  return out;
}

void Value::WipeText() { SecureWipe(text_.data(), text_.size()); }

Value& Value::Append(Value v) {
  items_.push_back(std::move(v));
  return items_.back();
}

const Value* Value::Find(std::string_view key) const {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) {
      return &items_[i];
    }
  }
  return nullptr;
}

Value* Value::Find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->Find(key));
}

Value& Value::Set(std::string_view key, Value v) {
  if (Value* existing = Find(key)) {
    *existing = std::move(v);
    return *this;
  }
  keys_.emplace_back(key);
  items_.push_back(std::move(v));
  return *this;
}

Value& Value::AppendMember(std::string_view key, Value v) {
  keys_.emplace_back(key);
  items_.push_back(std::move(v));
  return *this;
}

bool operator==(const Value& a, const Value& b) {
  return a.type_ == b.type_ && a.bool_ == b.bool_ && a.text_ == b.text_ && a.keys_ == b.keys_ &&
         a.items_ == b.items_;
}

namespace {

// 1 for the bytes AppendQuoted must escape: '"', '\\' and control characters.
constexpr std::array<uint8_t, 256> kNeedsEscape = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<size_t>(c)] = 1;
  t['"'] = 1;
  t['\\'] = 1;
  return t;
}();

}  // namespace

void AppendQuoted(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  const char* p = s.data();
  const char* const end = p + s.size();
  while (p < end) {
    // The run that needs no escaping goes in with one append: ASCII eight bytes at a time,
    // other bytes one by one.
    const char* run = p;
    for (;;) {
      p += PlainAsciiRun(p, end);
      if (p < end && kNeedsEscape[static_cast<unsigned char>(*p)] == 0) {
        ++p;
        continue;
      }
      break;
    }
    out.append(run, static_cast<size_t>(p - run));
    if (p == end) break;
    const auto c = static_cast<unsigned char>(*p++);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.push_back('"');
}

namespace {

void WriteTo(std::string& out, const Value& v) {
  switch (v.type()) {
    case Type::kNull: out += "null"; break;
    case Type::kBool: out += v.as_bool() ? "true" : "false"; break;
    case Type::kNumber: out += v.number_text(); break;
    case Type::kString: AppendQuoted(out, v.as_string()); break;
    case Type::kArray: {
      out.push_back('[');
      bool first = true;
      for (const Value& item : v.items()) {
        if (!first) out.push_back(',');
        first = false;
        WriteTo(out, item);
      }
      out.push_back(']');
      break;
    }
    case Type::kObject: {
      out.push_back('{');
      for (size_t i = 0; i < v.size(); ++i) {
        if (i != 0) out.push_back(',');
        AppendQuoted(out, v.keys()[i]);
        out.push_back(':');
        WriteTo(out, v.items()[i]);
      }
      out.push_back('}');
      break;
    }
  }
}

}  // namespace

bool ScanValue(Scanner& s, int max_depth, Value& out) {
  switch (s.Peek()) {
    case '{': {
      if (max_depth <= 0 || !s.BeginObject()) {
        return s.Fail();
      }
      out = Value::Object();
      bool first = true;
      std::string_view key;
      while (s.NextMember(first, key)) {
        // Finding a repeated key here takes a look at each earlier one: past a few dozen
        // members, the full parser (which hashes them) takes the object instead, so that a body
        // of thousands of keys is not quadratic work.
        if (out.size() >= kMaxScannedMembers || out.Find(key) != nullptr) {
          return s.Fail();  // the full parser names the repeated key
        }
        Value v;
        if (!ScanValue(s, max_depth - 1, v)) {
          return false;
        }
        out.AppendMember(key, std::move(v));
      }
      return s.ok();
    }
    case '[': {
      if (max_depth <= 0 || !s.BeginArray()) {
        return s.Fail();
      }
      out = Value::Array();
      bool first = true;
      while (s.NextItem(first)) {
        if (!ScanValue(s, max_depth - 1, out.Append(Value()))) {
          return false;
        }
      }
      return s.ok();
    }
    case '"': {
      std::string_view v;
      if (!s.String(v)) {
        return false;
      }
      out = Value::String(std::string(v));
      return true;
    }
    case 't':
      out = Value::Bool(true);
      return s.Literal("true");
    case 'f':
      out = Value::Bool(false);
      return s.Literal("false");
    case 'n':
      out = Value::Null();
      return s.Literal("null");
    default: {
      // Plain unsigned integers only; their text is already what the full parser keeps.
      uint64_t n = 0;
      if (!s.Uint(n)) {
        return false;
      }
      out = Value::Uint(n);
      return true;
    }
  }
}

std::string EscapePointerToken(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string Write(const Value& v) {
  std::string out;
  WriteTo(out, v);
  return out;
}

Result<Amount> AmountFromValue(const Value& v, std::string_view pointer) {
  if (v.is_number()) {
    return InvalidArgumentError(
        std::string(pointer) + ": amounts must be JSON strings of base units, not numbers",
        "amount-not-string");
  }
  if (!v.is_string()) {
    return InvalidArgumentError(std::string(pointer) + ": amount must be a string", "wrong-type");
  }
  Result<Amount> a = Amount::Parse(v.as_string());
  if (!a.ok()) {
    return a.error().Annotate(pointer);
  }
  return a;
}

Result<ObjectReader> ObjectReader::Of(const Value& v, std::string pointer) {
  if (!v.is_object()) {
    return InvalidArgumentError((pointer.empty() ? "/" : pointer) + ": expected a JSON object",
                                "wrong-type");
  }
  return ObjectReader(v, std::move(pointer));
}

std::string ObjectReader::PointerTo(std::string_view key) const {
  return pointer_ + "/" + EscapePointerToken(key);
}

const Value* ObjectReader::Take(std::string_view key) {
  const Value* v = object_->Find(key);
  if (v != nullptr) {
    const auto i = static_cast<size_t>(v - object_->items().data());
    if (i < 64) {
      consumed_low_ |= uint64_t{1} << i;
    } else {
      if (consumed_high_.size() <= i - 64) consumed_high_.resize(i - 63);
      consumed_high_[i - 64] = true;
    }
  }
  return v;
}

Result<Amount> ObjectReader::AmountAt(const Value& v, std::string_view key) const {
  if (v.is_string()) {
    Result<Amount> a = Amount::Parse(v.as_string());
    if (a.ok()) {
      return a;
    }
  }
  return AmountFromValue(v, PointerTo(key));
}

const Value* ObjectReader::Optional(std::string_view key) { return Take(key); }

Result<const Value*> ObjectReader::Required(std::string_view key) {
  const Value* v = Take(key);
  if (v == nullptr) {
    return InvalidArgumentError(PointerTo(key) + ": required field is missing", "missing-field");
  }
  return v;
}

Result<std::string> ObjectReader::String(std::string_view key) {
  MD_ASSIGN_OR_RETURN(const Value* v, Required(key));
  if (!v->is_string()) {
    return InvalidArgumentError(PointerTo(key) + ": expected a string", "wrong-type");
  }
  return v->as_string();
}

Result<std::optional<std::string>> ObjectReader::OptionalString(std::string_view key) {
  const Value* v = Take(key);
  if (v == nullptr) {
    return std::optional<std::string>();
  }
  if (!v->is_string()) {
    return InvalidArgumentError(PointerTo(key) + ": expected a string", "wrong-type");
  }
  return std::optional<std::string>(v->as_string());
}

Result<bool> ObjectReader::Bool(std::string_view key) {
  MD_ASSIGN_OR_RETURN(const Value* v, Required(key));
  if (!v->is_bool()) {
    return InvalidArgumentError(PointerTo(key) + ": expected true or false", "wrong-type");
  }
  return v->as_bool();
}

Result<std::optional<bool>> ObjectReader::OptionalBool(std::string_view key) {
  const Value* v = Take(key);
  if (v == nullptr) {
    return std::optional<bool>();
  }
  if (!v->is_bool()) {
    return InvalidArgumentError(PointerTo(key) + ": expected true or false", "wrong-type");
  }
  return std::optional<bool>(v->as_bool());
}

Result<int64_t> ObjectReader::Int(std::string_view key) {
  MD_ASSIGN_OR_RETURN(const Value* v, Required(key));
  std::optional<int64_t> i = v->as_int64();
  if (!i) {
    return InvalidArgumentError(PointerTo(key) + ": expected an integer within 64 bits",
                                "wrong-type");
  }
  return *i;
}

Result<std::optional<int64_t>> ObjectReader::OptionalInt(std::string_view key) {
  if (object_->Find(key) == nullptr) {
    return std::optional<int64_t>();
  }
  MD_ASSIGN_OR_RETURN(int64_t i, Int(key));
  return std::optional<int64_t>(i);
}

Result<Amount> ObjectReader::AmountField(std::string_view key) {
  MD_ASSIGN_OR_RETURN(const Value* v, Required(key));
  return AmountAt(*v, key);
}

Result<std::optional<Amount>> ObjectReader::OptionalAmount(std::string_view key) {
  const Value* v = Take(key);
  if (v == nullptr) {
    return std::optional<Amount>();
  }
  MD_ASSIGN_OR_RETURN(Amount a, AmountAt(*v, key));
  return std::optional<Amount>(a);
}

Status ObjectReader::Finish() const {
  const std::vector<std::string>& keys = object_->keys();
  for (size_t i = 0; i < keys.size(); ++i) {
    const bool consumed = i < 64 ? (consumed_low_ >> i) & 1
                                 : (i - 64 < consumed_high_.size() && consumed_high_[i - 64]);
    // Keys are unique (Set never repeats one), so the index names the member.
    if (!consumed) {
      return InvalidArgumentError(PointerTo(keys[i]) + ": unknown field", "unknown-field");
    }
  }
  return OkStatus();
}

}  // namespace mandated::json
