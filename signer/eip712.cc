// EIP-712 encodeType / encodeData / hashStruct over json::Value typed data, with a 256-bit
// integer parser so uint256/int256 values keep their full range. Each distinct `types` object is
// validated and compiled once (fields resolved, type hashes computed) and kept in a bounded cache.
#include "signer/eip712.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "signer/bounded_cache.h"
#include "signer/ethereum.h"
#include "signer/hex_table.h"
#include "signer/keccak.h"

namespace mandated::signer {
namespace {

constexpr int kMaxDepth = 32;
constexpr std::string_view kDomainTypeName = "EIP712Domain";

using Word = std::array<uint8_t, 32>;

Status Invalid(std::string_view path, std::string_view what) {
  return InvalidArgumentError(
      "EIP-712 " + (path.empty() ? std::string("(root)") : std::string(path)) + ": " +
          std::string(what),
      "eip712-invalid");
}

// JSON pointer (RFC 6901) of a member or an element below `base`.
std::string Pointer(std::string_view base, std::string_view key) {
  return std::string(base) + "/" + json::EscapePointerToken(key);
}
std::string Pointer(std::string_view base, size_t index) {
  return std::string(base) + "/" + std::to_string(index);
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

Word HashToWord(ByteSpan data) {
  Keccak256Hasher hasher;
  hasher.Update(data);
  return hasher.Finish();
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Identifiers as Solidity spells them; keeps '(', ',', ' ' and '[' out of type strings.
bool IsIdentifier(std::string_view s) {
  if (s.empty() || IsDigit(s[0])) {
    return false;
  }
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) || c == '_' ||
                    c == '$';
    if (!ok) {
      return false;
    }
  }
  return true;
}

// A size written as canonical decimal (no sign, no leading zero), at most 9 digits.
std::optional<uint32_t> ParseSize(std::string_view s) {
  if (s.empty() || s.size() > 9 || (s.size() > 1 && s[0] == '0')) {
    return std::nullopt;
  }
  uint32_t n = 0;
  for (char c : s) {
    if (!IsDigit(c)) {
      return std::nullopt;
    }
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  return n;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!IsDigit(c)) {
      return false;
    }
  }
  return true;
}

// Names a struct may not take: the atomic and dynamic type names and anything shaped like them.
bool IsReservedTypeName(std::string_view name) {
  if (name == "bool" || name == "address" || name == "string" || name == "bytes" ||
      name == "uint" || name == "int") {
    return true;
  }
  for (std::string_view prefix : {"uint", "int", "bytes"}) {
    if (name.substr(0, prefix.size()) == prefix && AllDigits(name.substr(prefix.size()))) {
      return true;
    }
  }
  return false;
}

struct Field {
  std::string name;
  std::string type;
};
using TypeMap = std::map<std::string, std::vector<Field>, std::less<>>;

enum class Kind { kUint, kInt, kBool, kAddress, kFixedBytes, kBytes, kString, kStruct, kArray };

// One level of a type string. For kUint/kInt `size` is the bit width, for kFixedBytes the byte
// count, for kArray the fixed length (0 for T[]); `element` is the array's element type.
struct TypeInfo {
  Kind kind = Kind::kBool;
  uint32_t size = 0;
  std::string_view element;
};

TypeInfo Leaf(Kind kind, uint32_t size = 0) { return TypeInfo{kind, size, {}}; }

Result<TypeInfo> Classify(std::string_view type, const TypeMap& types, std::string_view path) {
  if (!type.empty() && type.back() == ']') {
    const size_t open = type.rfind('[');
    if (open == std::string_view::npos || open == 0) {
      return Invalid(path, "unknown type " + Quoted(type));
    }
    TypeInfo info{Kind::kArray, 0, type.substr(0, open)};
    const std::string_view dim = type.substr(open + 1, type.size() - open - 2);
    if (!dim.empty()) {
      const std::optional<uint32_t> n = ParseSize(dim);
      if (!n.has_value() || *n == 0) {
        return Invalid(path, "bad array length in type " + Quoted(type));
      }
      info.size = *n;
    }
    return info;
  }
  if (type == "bool") return Leaf(Kind::kBool);
  if (type == "address") return Leaf(Kind::kAddress);
  if (type == "string") return Leaf(Kind::kString);
  if (type == "bytes") return Leaf(Kind::kBytes);
  for (auto [prefix, kind] : {std::pair<std::string_view, Kind>{"uint", Kind::kUint},
                              std::pair<std::string_view, Kind>{"int", Kind::kInt}}) {
    if (type.substr(0, prefix.size()) == prefix && AllDigits(type.substr(prefix.size()))) {
      const std::optional<uint32_t> bits = ParseSize(type.substr(prefix.size()));
      if (!bits.has_value() || *bits < 8 || *bits > 256 || *bits % 8 != 0) {
        return Invalid(path, "unknown type " + Quoted(type));
      }
      return Leaf(kind, *bits);
    }
  }
  if (type.substr(0, 5) == "bytes" && AllDigits(type.substr(5))) {
    const std::optional<uint32_t> n = ParseSize(type.substr(5));
    if (!n.has_value() || *n < 1 || *n > 32) {
      return Invalid(path, "unknown type " + Quoted(type));
    }
    return Leaf(Kind::kFixedBytes, *n);
  }
  if (types.find(type) != types.end()) {
    return Leaf(Kind::kStruct);
  }
  return Invalid(path, "unknown type " + Quoted(type));
}

// Checks that a field type resolves: array dimensions (at most kMaxDepth) over a known base.
Status ValidateType(std::string_view type, const TypeMap& types, std::string_view path) {
  for (int dims = 0;; ++dims) {
    if (dims > kMaxDepth) {
      return Invalid(path, "too many array dimensions in " + Quoted(type));
    }
    MD_ASSIGN_OR_RETURN(TypeInfo info, Classify(type, types, path));
    if (info.kind != Kind::kArray) {
      return OkStatus();
    }
    type = info.element;
  }
}

// The struct name underneath any array suffixes ("Person[][2]" -> "Person").
std::string_view BaseTypeName(std::string_view type) {
  return type.substr(0, type.find('['));
}

Result<TypeMap> ParseTypes(const json::Value& types) {
  const std::string base = "/types";
  if (!types.is_object()) {
    return Invalid(base, "must be an object");
  }
  TypeMap map;
  for (size_t i = 0; i < types.size(); ++i) {
    const std::string& name = types.keys()[i];
    const json::Value& fields = types.items()[i];
    const std::string path = Pointer(base, name);
    if (!IsIdentifier(name) || IsReservedTypeName(name)) {
      return Invalid(path, "invalid struct type name " + Quoted(name));
    }
    if (!fields.is_array()) {
      return Invalid(path, "must be an array of {name, type}");
    }
    std::vector<Field>& out = map[name];
    std::set<std::string_view> seen;
    for (size_t j = 0; j < fields.items().size(); ++j) {
      const json::Value& f = fields.items()[j];
      const std::string fpath = Pointer(path, j);
      const json::Value* fname = f.is_object() ? f.Find("name") : nullptr;
      const json::Value* ftype = f.is_object() ? f.Find("type") : nullptr;
      if (fname == nullptr || ftype == nullptr || !fname->is_string() || !ftype->is_string() ||
          f.size() != 2) {
        return Invalid(fpath, "must be exactly {\"name\": string, \"type\": string}");
      }
      if (!IsIdentifier(fname->as_string())) {
        return Invalid(fpath, "invalid field name " + Quoted(fname->as_string()));
      }
      out.push_back(Field{fname->as_string(), ftype->as_string()});
    }
    for (const Field& f : out) {
      if (!seen.insert(f.name).second) {
        return Invalid(path, "field " + Quoted(f.name) + " declared twice");
      }
    }
  }
  for (const auto& [name, fields] : map) {
    for (size_t j = 0; j < fields.size(); ++j) {
      MD_RETURN_IF_ERROR(
          ValidateType(fields[j].type, map, Pointer(Pointer(Pointer(base, name), j), "type")));
    }
  }
  return map;
}

// The EIP712Domain fields in canonical order, for domains whose types do not declare them.
constexpr std::pair<std::string_view, std::string_view> kCanonicalDomainFields[] = {
    {"name", "string"},
    {"version", "string"},
    {"chainId", "uint256"},
    {"verifyingContract", "address"},
    {"salt", "bytes32"},
};

// Adds the EIP712Domain type derived from the members `domain` holds, unless `types` has one.
Status EnsureDomainType(TypeMap& map, const json::Value& domain) {
  if (map.find(kDomainTypeName) != map.end()) {
    return OkStatus();
  }
  if (!domain.is_object()) {
    return Invalid("/domain", "must be an object");
  }
  std::vector<Field> fields;
  for (const auto& [name, type] : kCanonicalDomainFields) {
    if (domain.Find(name) != nullptr) {
      fields.push_back(Field{std::string(name), std::string(type)});
    }
  }
  map.emplace(std::string(kDomainTypeName), std::move(fields));
  return OkStatus();
}

std::string FormatStruct(std::string_view name, const std::vector<Field>& fields) {
  std::string out(name);
  out += '(';
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += fields[i].type;
    out += ' ';
    out += fields[i].name;
  }
  out += ')';
  return out;
}

// encodeType over a validated map. REQUIRES: `name` is in `map`.
std::string EncodeTypeString(const TypeMap& map, std::string_view name) {
  std::set<std::string_view> deps;  // sorted by name, as encodeType wants
  std::vector<std::string_view> pending = {name};
  while (!pending.empty()) {
    const std::string_view current = pending.back();
    pending.pop_back();
    for (const Field& f : map.find(current)->second) {
      const std::string_view base = BaseTypeName(f.type);
      if (map.find(base) != map.end() && base != name && deps.insert(base).second) {
        pending.push_back(base);
      }
    }
  }
  std::string out = FormatStruct(name, map.find(name)->second);
  for (std::string_view dep : deps) {
    out += FormatStruct(dep, map.find(dep)->second);
  }
  return out;
}

// --- JSON pointers, rendered only for errors ----------------------------------------------------

// The location of a value in the typed data. Each level lives on the caller's stack and points to
// its parent, so the walk builds no strings; Render() spells the JSON pointer when an error needs
// it.
// Thread safety: a stack-bound value; not shared.
struct Path {
  const Path* parent = nullptr;
  std::string_view text;  // the root's pointer, or a member name
  size_t index = 0;
  bool is_index = false;

  static Path Root(std::string_view pointer) { return Path{nullptr, pointer, 0, false}; }
  Path Member(std::string_view key) const { return Path{this, key, 0, false}; }
  Path Element(size_t i) const { return Path{this, {}, i, true}; }

  std::string Render() const {
    if (parent == nullptr) {
      return std::string(text);
    }
    return is_index ? Pointer(parent->Render(), index) : Pointer(parent->Render(), text);
  }
};

Status Invalid(const Path& path, std::string_view what) { return Invalid(path.Render(), what); }

// --- 256-bit integers -------------------------------------------------------------------------

// magnitude = magnitude * base + digit; false when the result needs more than 256 bits.
bool MulAdd(Word& magnitude, uint32_t base, uint32_t digit) {
  uint32_t carry = digit;
  for (size_t i = magnitude.size(); i-- > 0;) {
    const uint32_t v = magnitude[i] * base + carry;
    magnitude[i] = static_cast<uint8_t>(v & 0xff);
    carry = v >> 8;
  }
  return carry == 0;
}

int HexValue(char c) {
  const uint8_t v = internal::HexDigitValue(c);
  return v == internal::kNotHex ? -1 : v;
}

// Parses `digits`, every one of them valid in `base` (10 or 16), into a big-endian magnitude
// (zero on entry). False when the value needs more than 256 bits, which is exactly when the
// digit-by-digit MulAdd would first fail too. Up to 19 decimal or 16 hex digits fit one uint64;
// longer texts go a chunk of 9 decimal or 7 hex digits at a time over 32-bit limbs.
bool ParseValidDigits(std::string_view digits, uint32_t base, Word& magnitude) {
  if (digits.size() <= (base == 10 ? 19u : 16u)) {
    uint64_t v = 0;
    for (char c : digits) {
      v = v * base + internal::HexDigitValue(c);
    }
    for (size_t i = 0; i < 8; ++i) {
      magnitude[31 - i] = static_cast<uint8_t>(v >> (8 * i));
    }
    return true;
  }
  std::array<uint32_t, 8> limbs{};  // little-endian
  const size_t chunk_digits = base == 10 ? 9 : 7;
  for (size_t pos = 0; pos < digits.size();) {
    const size_t take = std::min(chunk_digits, digits.size() - pos);
    uint64_t chunk = 0;
    uint64_t scale = 1;
    for (size_t i = 0; i < take; ++i) {
      chunk = chunk * base + internal::HexDigitValue(digits[pos + i]);
      scale *= base;
    }
    uint64_t carry = chunk;
    for (uint32_t& limb : limbs) {
      const uint64_t v = uint64_t{limb} * scale + carry;
      limb = static_cast<uint32_t>(v);
      carry = v >> 32;
    }
    if (carry != 0) {
      return false;
    }
    pos += take;
  }
  for (size_t i = 0; i < limbs.size(); ++i) {
    const uint32_t limb = limbs[limbs.size() - 1 - i];
    magnitude[4 * i] = static_cast<uint8_t>(limb >> 24);
    magnitude[4 * i + 1] = static_cast<uint8_t>(limb >> 16);
    magnitude[4 * i + 2] = static_cast<uint8_t>(limb >> 8);
    magnitude[4 * i + 3] = static_cast<uint8_t>(limb);
  }
  return true;
}

struct BigInt {
  bool negative = false;
  Word magnitude{};  // big-endian
};

// A JSON integer, or a JSON string with a decimal ("-12") or 0x-hex ("0xff") integer.
Result<BigInt> ParseInteger(const json::Value& value, const Path& path) {
  if (!value.is_number() && !value.is_string()) {
    return Invalid(path, "expected an integer (JSON number or string)");
  }
  std::string_view text = value.as_string();  // a number's source text for numbers
  BigInt out;
  if (!text.empty() && text[0] == '-') {
    out.negative = true;
    text.remove_prefix(1);
  }
  uint32_t base = 10;
  if (value.is_string() && text.substr(0, 2) == "0x") {
    if (out.negative) {
      return Invalid(path, "negative hex integers are not accepted");
    }
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty()) {
    return Invalid(path, "expected an integer, got " + Quoted(value.as_string()));
  }
  const bool all_valid = std::all_of(text.begin(), text.end(), [base](char c) {
    return internal::HexDigitValue(c) < base;  // kNotHex is never below a base
  });
  if (all_valid) {
    if (!ParseValidDigits(text, base, out.magnitude)) {
      return Invalid(path, "integer " + Quoted(value.as_string()) + " exceeds 256 bits");
    }
    return out;
  }
  // A bad digit somewhere: go digit by digit so an overflow before it is reported first.
  for (char c : text) {
    const int digit = HexValue(c);
    if (digit < 0 || static_cast<uint32_t>(digit) >= base) {
      return Invalid(path, "expected an integer, got " + Quoted(value.as_string()));
    }
    if (!MulAdd(out.magnitude, base, static_cast<uint32_t>(digit))) {
      return Invalid(path, "integer " + Quoted(value.as_string()) + " exceeds 256 bits");
    }
  }
  return out;
}

// Range-checks `v` for uintN / intN and returns its 32-byte two's complement encoding.
Result<Word> EncodeInteger(const BigInt& v, bool is_signed, uint32_t bits, const Path& path,
                           std::string_view type) {
  const Word& m = v.magnitude;
  const size_t first = 32 - bits / 8;  // index of the most significant byte of the type
  const auto is_zero_byte = [](uint8_t b) { return b == 0; };
  // magnitude < 2^bits: the bytes above the type's width are zero.
  if (!std::all_of(m.begin(), m.begin() + first, is_zero_byte)) {
    return Invalid(path, "value out of range for " + std::string(type));
  }
  const bool negative = v.negative && !std::all_of(m.begin() + first, m.end(), is_zero_byte);
  bool in_range = true;
  if (!is_signed) {
    in_range = !negative;
  } else if ((m[first] & 0x80) != 0) {
    // |v| >= 2^(bits-1): only -2^(bits-1) itself is representable.
    bool exactly_min = negative && m[first] == 0x80;
    for (size_t i = first + 1; i < 32; ++i) {
      exactly_min = exactly_min && m[i] == 0;
    }
    in_range = exactly_min;
  }
  if (!in_range) {
    return Invalid(path, "value out of range for " + std::string(type));
  }
  Word out = m;
  if (negative) {
    uint32_t carry = 1;
    for (size_t i = 32; i-- > 0;) {
      const uint32_t b = static_cast<uint8_t>(~out[i]) + carry;
      out[i] = static_cast<uint8_t>(b & 0xff);
      carry = b >> 8;
    }
  }
  return out;
}

// The digits of a "0x"-prefixed hex string with an even number of them, or an error.
Result<std::string_view> HexDigits(const json::Value& value, const Path& path) {
  if (!value.is_string() || value.as_string().substr(0, 2) != "0x") {
    return Invalid(path, "expected a 0x-prefixed hex string");
  }
  const std::string_view digits = std::string_view(value.as_string()).substr(2);
  const bool valid =
      digits.size() % 2 == 0 &&
      std::all_of(digits.begin(), digits.end(),
                  [](char c) { return internal::HexDigitValue(c) != internal::kNotHex; });
  if (!valid) {
    return Invalid(path, "expected a 0x-prefixed hex string with an even number of digits");
  }
  return digits;
}

// Decodes hex digits already checked by HexDigits. REQUIRES: out has digits.size() / 2 bytes.
void DecodeHexDigits(std::string_view digits, uint8_t* out) {
  for (size_t i = 0; i < digits.size() / 2; ++i) {
    out[i] = static_cast<uint8_t>(internal::HexDigitValue(digits[2 * i]) << 4 |
                                  internal::HexDigitValue(digits[2 * i + 1]));
  }
}

// --- Compiled types ---------------------------------------------------------------------------

// What EnsureDomainType adds to `types` for `domain`: kNoDerivation when there is no domain or
// `types` declares EIP712Domain itself, kUnderivable when the domain is not an object (an
// error), else a bit mask of the kCanonicalDomainFields members `domain` holds.
constexpr int kNoDerivation = -1;
constexpr int kUnderivable = -2;
int DomainDerivation(const json::Value& types, const json::Value* domain) {
  if (domain == nullptr || (types.is_object() && types.Find(kDomainTypeName) != nullptr)) {
    return kNoDerivation;
  }
  if (!domain->is_object()) {
    return kUnderivable;
  }
  int present = 0;
  for (size_t i = 0; i < std::size(kCanonicalDomainFields); ++i) {
    if (domain->Find(kCanonicalDomainFields[i].first) != nullptr) {
      present |= 1 << i;
    }
  }
  return present;
}

struct CompiledStruct;

// A field type resolved once per compiled types: what Classify says about it, with arrays and
// struct references linked to their element type and struct.
struct ResolvedType {
  std::string text;  // as written in the types, e.g. "Person[2]"
  Kind kind = Kind::kBool;
  uint32_t size = 0;                       // as TypeInfo::size
  const ResolvedType* element = nullptr;   // kArray
  const CompiledStruct* target = nullptr;  // kStruct
};

struct CompiledField {
  std::string name;
  const ResolvedType* type = nullptr;
};

// One struct type with its fields resolved. The type hash is computed on first use, since typed
// data may declare struct types that none of its values use.
// Thread safety: as CompiledTypes, which owns it and fills in type_hash under type_hash_once.
struct CompiledStruct {
  std::string name;
  std::vector<CompiledField> fields;
  mutable std::once_flag type_hash_once;
  mutable Word type_hash{};
};

// A validated `types` object compiled for encoding. Thread safety: immutable once built, except
// for the type hashes, which std::call_once fills in; shared by concurrent digests via the cache.
struct CompiledTypes {
  json::Value source;              // the types object, kept when cached to confirm a hit
  int derivation = kNoDerivation;  // the DomainDerivation it was compiled with
  TypeMap map;                     // as ParseTypes returned it, plus any derived EIP712Domain
  std::map<std::string, CompiledStruct, std::less<>> structs;       // by name; nodes never move
  std::map<std::string, ResolvedType, std::less<>> resolved_types;  // by type text

  const CompiledStruct* Find(std::string_view name) const {
    const auto it = structs.find(name);
    return it == structs.end() ? nullptr : &it->second;
  }

  const Word& TypeHash(const CompiledStruct& s) const {
    std::call_once(s.type_hash_once,
                   [&] { s.type_hash = HashToWord(AsBytes(EncodeTypeString(map, s.name))); });
    return s.type_hash;
  }
};
using CompiledTypesPtr = std::shared_ptr<const CompiledTypes>;

// Resolves a field type of a validated map, and the element types below it.
Result<const ResolvedType*> Resolve(CompiledTypes& compiled, std::string_view text) {
  const auto known = compiled.resolved_types.find(text);
  if (known != compiled.resolved_types.end()) {
    return &known->second;
  }
  MD_ASSIGN_OR_RETURN(TypeInfo info, Classify(text, compiled.map, "/types"));
  ResolvedType resolved{std::string(text), info.kind, info.size, nullptr, nullptr};
  if (info.kind == Kind::kArray) {
    MD_ASSIGN_OR_RETURN(resolved.element, Resolve(compiled, info.element));
  } else if (info.kind == Kind::kStruct) {
    resolved.target = compiled.Find(text);
  }
  return &compiled.resolved_types.emplace(std::string(text), std::move(resolved)).first->second;
}

// Validates `types` (ParseTypes) and, when `domain` is set, adds the EIP712Domain type derived from
// it if `types` has none (EnsureDomainType); then links every field to its resolved type.
Result<std::shared_ptr<CompiledTypes>> CompileTypes(const json::Value& types,
                                                   const json::Value* domain) {
  auto compiled = std::make_shared<CompiledTypes>();
  MD_ASSIGN_OR_RETURN(compiled->map, ParseTypes(types));
  compiled->derivation = DomainDerivation(types, domain);
  if (domain != nullptr) {
    MD_RETURN_IF_ERROR(EnsureDomainType(compiled->map, *domain));
  }
  for (const auto& [name, fields] : compiled->map) {
    CompiledStruct& s = compiled->structs[name];
    s.name = name;
    s.fields.reserve(fields.size());
    for (const Field& f : fields) {
      s.fields.push_back(CompiledField{f.name, nullptr});
    }
  }
  for (const auto& [name, fields] : compiled->map) {
    CompiledStruct& s = compiled->structs.find(name)->second;
    for (size_t i = 0; i < fields.size(); ++i) {
      MD_ASSIGN_OR_RETURN(s.fields[i].type, Resolve(*compiled, fields[i].type));
    }
  }
  return compiled;
}

// Compiled types are cached per distinct `types` object, at most this many; types objects with
// more than kMaxCachedTypesSize bytes of names and type strings are compiled on every call.
constexpr size_t kCompiledTypesCapacity = 256;
constexpr size_t kMaxCachedTypesSize = 8192;

// Mixes `x` into the running hash `h` (a multiply-xorshift step; the cache confirms every hit by
// comparing the types objects, so the hash only has to spread distinct ones).
void Mix(uint64_t& h, uint64_t x) {
  h = (h ^ x) * 0x9e3779b97f4a7c15ull;
  h ^= h >> 29;
}

void MixString(uint64_t& h, std::string_view text) {
  Mix(h, text.size());
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t chunk;
    std::memcpy(&chunk, text.data() + i, 8);
    Mix(h, chunk);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, text.data() + i, text.size() - i);
  Mix(h, tail);
}

// Mixes `v` (its kind, strings and shape) into `h`, and counts its string bytes into `size`.
void HashValue(const json::Value& v, uint64_t& h, size_t& size) {
  Mix(h, static_cast<uint64_t>(v.type()));
  switch (v.type()) {
    case json::Type::kNull:
      break;
    case json::Type::kBool:
      Mix(h, v.as_bool() ? 1 : 0);
      break;
    case json::Type::kNumber:
    case json::Type::kString:
      MixString(h, v.as_string());
      size += v.as_string().size();
      break;
    case json::Type::kArray:
    case json::Type::kObject:
      Mix(h, v.items().size());
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (v.is_object()) {
          MixString(h, v.keys()[i]);
          size += v.keys()[i].size();
        }
        HashValue(v.items()[i], h, size);
      }
      break;
  }
}

BoundedCache<CompiledTypes>& CompiledTypesCache() {
  // Never destroyed: other static destructors may still hash typed data during shutdown.
  static BoundedCache<CompiledTypes>* const kCache =
      new BoundedCache<CompiledTypes>(kCompiledTypesCapacity);
  return *kCache;
}

// CompileTypes through the cache. Entries are found by a hash of the types object and the domain
// derivation, and used only if their source is equal to `types` (a hash collision just compiles
// afresh). Only successful compilations are cached, so errors are always those a fresh
// compilation reports. Each thread also remembers the cached entry it used last: a server
// signing or checking one kind of message meets the same types again and again, and then only
// compares them.
Result<CompiledTypesPtr> GetCompiledTypes(const json::Value& types, const json::Value* domain) {
  const int derivation = DomainDerivation(types, domain);
  thread_local CompiledTypesPtr last_used;  // a cached entry (never one compiled uncached)
  if (last_used != nullptr && last_used->derivation == derivation && last_used->source == types) {
    return last_used;
  }
  uint64_t h = static_cast<uint64_t>(static_cast<int64_t>(derivation));
  size_t size = 0;
  HashValue(types, h, size);
  const bool cacheable = size <= kMaxCachedTypesSize && derivation != kUnderivable;
  const std::string_view key(reinterpret_cast<const char*>(&h), sizeof(h));
  if (cacheable) {
    CompiledTypesPtr hit = CompiledTypesCache().Find(key);
    if (hit != nullptr && hit->derivation == derivation && hit->source == types) {
      last_used = hit;
      return hit;
    }
  }
  MD_ASSIGN_OR_RETURN(std::shared_ptr<CompiledTypes> compiled, CompileTypes(types, domain));
  if (!cacheable) {
    return CompiledTypesPtr(std::move(compiled));
  }
  compiled->source = types;
  CompiledTypesPtr cached = CompiledTypesCache().Insert(key, compiled);
  if (cached->derivation == derivation && cached->source == types) {
    last_used = cached;
    return cached;
  }
  return CompiledTypesPtr(std::move(compiled));  // another types object holds this hash
}

// --- encodeData --------------------------------------------------------------------------------

// Encodes values against compiled types.
// Thread safety: holds no state of its own; any number may share one CompiledTypes.
class Encoder {
 public:
  explicit Encoder(const CompiledTypes& types) : types_(types) {}

  // Feeds encodeData(s, value) = typeHash || one word per field, in declaration order, to `sink`
  // (called with each 32-byte Word).
  template <typename Sink>
  Status EncodeData(const CompiledStruct& s, const json::Value& value, const Path& path, int depth,
                    Sink&& sink) {
    if (depth > kMaxDepth) {
      return Invalid(path, "nested deeper than 32 levels");
    }
    if (!value.is_object()) {
      return Invalid(path, "expected an object for " + s.name);
    }
    const std::vector<std::string>& keys = value.keys();
    // Members usually come in declaration order: then member i is field i, and none is undeclared.
    bool in_order = keys.size() == s.fields.size();
    for (size_t i = 0; in_order && i < keys.size(); ++i) {
      in_order = keys[i] == s.fields[i].name;
    }
    if (!in_order) {
      for (const std::string& key : keys) {
        const bool declared = std::any_of(s.fields.begin(), s.fields.end(),
                                          [&key](const CompiledField& f) { return f.name == key; });
        if (!declared) {
          return Invalid(path.Member(key), "member not declared by type " + s.name);
        }
      }
    }
    sink(types_.TypeHash(s));
    for (size_t i = 0; i < s.fields.size(); ++i) {
      const CompiledField& f = s.fields[i];
      const Path field_path = path.Member(f.name);
      const json::Value* member = in_order ? &value.items()[i] : value.Find(f.name);
      if (member == nullptr) {
        return Invalid(field_path, "missing field of type " + f.type->text);
      }
      Word word{};
      MD_RETURN_IF_ERROR(EncodeField(*f.type, *member, field_path, depth + 1, word));
      sink(word);
    }
    return OkStatus();
  }

  // hashStruct(s, value) = keccak256(encodeData(s, value)).
  Result<Word> HashStruct(const CompiledStruct& s, const json::Value& value, const Path& path,
                          int depth) {
    Keccak256Hasher hasher;
    MD_RETURN_IF_ERROR(EncodeData(s, value, path, depth, [&hasher](const Word& w) {
      hasher.Update(w);
    }));
    return hasher.Finish();
  }

 private:
  // Writes the 32-byte encoding of one field value to `word` (zeroed by the caller).
  Status EncodeField(const ResolvedType& type, const json::Value& value, const Path& path,
                     int depth, Word& word) {
    if (depth > kMaxDepth) {
      return Invalid(path, "nested deeper than 32 levels");
    }
    switch (type.kind) {
      case Kind::kStruct: {
        MD_ASSIGN_OR_RETURN(word, HashStruct(*type.target, value, path, depth));
        return OkStatus();
      }
      case Kind::kArray: {
        if (!value.is_array()) {
          return Invalid(path, "expected an array for " + type.text);
        }
        const std::vector<json::Value>& items = value.items();
        if (type.size != 0 && items.size() != type.size) {
          return Invalid(path, "expected " + std::to_string(type.size) + " elements for " +
                                   type.text + ", got " + std::to_string(items.size()));
        }
        Keccak256Hasher hasher;
        for (size_t i = 0; i < items.size(); ++i) {
          Word element{};
          MD_RETURN_IF_ERROR(
              EncodeField(*type.element, items[i], path.Element(i), depth + 1, element));
          hasher.Update(element);
        }
        word = hasher.Finish();
        return OkStatus();
      }
      case Kind::kString:
        if (!value.is_string()) {
          return Invalid(path, "expected a string");
        }
        word = HashToWord(AsBytes(value.as_string()));
        return OkStatus();
      case Kind::kBytes: {
        MD_ASSIGN_OR_RETURN(std::string_view digits, HexDigits(value, path));
        Bytes bytes(digits.size() / 2);
        DecodeHexDigits(digits, bytes.data());
        word = HashToWord(bytes);
        return OkStatus();
      }
      case Kind::kFixedBytes: {
        MD_ASSIGN_OR_RETURN(std::string_view digits, HexDigits(value, path));
        if (digits.size() / 2 != type.size) {
          return Invalid(path, "expected " + std::to_string(type.size) + " bytes for " +
                                   type.text + ", got " + std::to_string(digits.size() / 2));
        }
        DecodeHexDigits(digits, word.data());  // right-padded with zeros
        return OkStatus();
      }
      case Kind::kBool:
        if (!value.is_bool()) {
          return Invalid(path, "expected true or false");
        }
        word[31] = value.as_bool() ? 1 : 0;
        return OkStatus();
      case Kind::kAddress: {
        if (!value.is_string()) {
          return Invalid(path, "expected an address string");
        }
        const Status parsed = ParseAddressInto(
            value.as_string(), /*require_checksum=*/false,
            std::span<uint8_t, kEthereumAddressSize>(word.data() + (32 - kEthereumAddressSize),
                                                     kEthereumAddressSize));
        if (!parsed.ok()) {
          return Invalid(path, parsed.message());
        }
        return OkStatus();
      }
      case Kind::kUint:
      case Kind::kInt: {
        MD_ASSIGN_OR_RETURN(BigInt v, ParseInteger(value, path));
        MD_ASSIGN_OR_RETURN(word, EncodeInteger(v, type.kind == Kind::kInt, type.size, path,
                                                type.text));
        return OkStatus();
      }
    }
    return Invalid(path, "unhandled type " + Quoted(type.text));
  }

  const CompiledTypes& types_;
};

Result<const CompiledStruct*> RequireStruct(const CompiledTypes& types, std::string_view type_name,
                                            std::string_view path) {
  const CompiledStruct* s = types.Find(type_name);
  if (s == nullptr) {
    return Invalid(path, "no struct type " + Quoted(type_name) + " in types");
  }
  return s;
}

Bytes WordBytes(const Word& w) { return Bytes(w.begin(), w.end()); }

}  // namespace

Bytes Eip712DigestFromHashes(ByteSpan domain_separator, ByteSpan struct_hash) {
  Keccak256Hasher hasher;
  const uint8_t prefix[2] = {0x19, 0x01};
  hasher.Update(prefix);
  hasher.Update(domain_separator);
  hasher.Update(struct_hash);
  return WordBytes(hasher.Finish());
}

Result<Bytes> Eip712Digest(const json::Value& typed_data) {
  if (!typed_data.is_object()) {
    return Invalid("", "typed data must be an object");
  }
  for (const std::string& key : typed_data.keys()) {
    if (key != "types" && key != "primaryType" && key != "domain" && key != "message") {
      return Invalid(Pointer("", key), "unexpected member");
    }
  }
  const json::Value* types = typed_data.Find("types");
  const json::Value* primary = typed_data.Find("primaryType");
  const json::Value* domain = typed_data.Find("domain");
  const json::Value* message = typed_data.Find("message");
  if (types == nullptr) return Invalid("/types", "missing");
  if (primary == nullptr || !primary->is_string()) {
    return Invalid("/primaryType", "missing or not a string");
  }
  if (domain == nullptr) return Invalid("/domain", "missing");

  MD_ASSIGN_OR_RETURN(CompiledTypesPtr compiled, GetCompiledTypes(*types, domain));
  MD_ASSIGN_OR_RETURN(const CompiledStruct* primary_struct,
                      RequireStruct(*compiled, primary->as_string(), "/primaryType"));
  MD_ASSIGN_OR_RETURN(const CompiledStruct* domain_struct,
                      RequireStruct(*compiled, kDomainTypeName, "/domain"));
  Encoder encoder(*compiled);
  MD_ASSIGN_OR_RETURN(Word domain_separator,
                      encoder.HashStruct(*domain_struct, *domain, Path::Root("/domain"), 0));

  if (primary_struct == domain_struct) {
    // Only the domain is signed; refuse a message that would look signed but is not.
    if (message != nullptr && !(message->is_object() && message->size() == 0)) {
      return Invalid("/message", "must be absent or {} when primaryType is EIP712Domain");
    }
    Keccak256Hasher hasher;
    const uint8_t prefix[2] = {0x19, 0x01};
    hasher.Update(prefix);
    hasher.Update(domain_separator);
    return WordBytes(hasher.Finish());
  }
  if (message == nullptr) return Invalid("/message", "missing");
  MD_ASSIGN_OR_RETURN(Word struct_hash,
                      encoder.HashStruct(*primary_struct, *message, Path::Root("/message"), 0));
  return Eip712DigestFromHashes(domain_separator, struct_hash);
}

Result<Bytes> Eip712DomainSeparator(const json::Value& types, const json::Value& domain) {
  MD_ASSIGN_OR_RETURN(CompiledTypesPtr compiled, GetCompiledTypes(types, &domain));
  MD_ASSIGN_OR_RETURN(const CompiledStruct* domain_struct,
                      RequireStruct(*compiled, kDomainTypeName, "/domain"));
  Encoder encoder(*compiled);
  MD_ASSIGN_OR_RETURN(Word separator,
                      encoder.HashStruct(*domain_struct, domain, Path::Root("/domain"), 0));
  return WordBytes(separator);
}

Result<std::string> EncodeType(const json::Value& types, std::string_view type_name) {
  MD_ASSIGN_OR_RETURN(CompiledTypesPtr compiled, GetCompiledTypes(types, nullptr));
  MD_RETURN_IF_ERROR(RequireStruct(*compiled, type_name, "/types").status());
  return EncodeTypeString(compiled->map, type_name);
}

Result<Bytes> TypeHash(const json::Value& types, std::string_view type_name) {
  MD_ASSIGN_OR_RETURN(CompiledTypesPtr compiled, GetCompiledTypes(types, nullptr));
  MD_ASSIGN_OR_RETURN(const CompiledStruct* s, RequireStruct(*compiled, type_name, "/types"));
  return WordBytes(compiled->TypeHash(*s));
}

Result<Bytes> EncodeData(const json::Value& types, std::string_view type_name,
                         const json::Value& value) {
  MD_ASSIGN_OR_RETURN(CompiledTypesPtr compiled, GetCompiledTypes(types, nullptr));
  MD_ASSIGN_OR_RETURN(const CompiledStruct* s, RequireStruct(*compiled, type_name, "/types"));
  Bytes out;
  out.reserve(32 * (s->fields.size() + 1));
  MD_RETURN_IF_ERROR(Encoder(*compiled).EncodeData(*s, value, Path::Root(""), 0,
                                                   [&out](const Word& w) {
                                                     out.insert(out.end(), w.begin(), w.end());
                                                   }));
  return out;
}

Result<Bytes> HashStruct(const json::Value& types, std::string_view type_name,
                         const json::Value& value) {
  MD_ASSIGN_OR_RETURN(CompiledTypesPtr compiled, GetCompiledTypes(types, nullptr));
  MD_ASSIGN_OR_RETURN(const CompiledStruct* s, RequireStruct(*compiled, type_name, "/types"));
  MD_ASSIGN_OR_RETURN(Word hash, Encoder(*compiled).HashStruct(*s, value, Path::Root(""), 0));
  return WordBytes(hash);
}

}  // namespace mandated::signer
