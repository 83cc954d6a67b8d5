// EIP-712 encodeType / encodeData / hashStruct over json::Value typed data, with a 256-bit
// integer parser so uint256/int256 values keep their full range.
#include "signer/eip712.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "signer/ethereum.h"
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

// Adds the EIP712Domain type derived from the members `domain` holds, unless `types` has one.
Status EnsureDomainType(TypeMap& map, const json::Value& domain) {
  if (map.find(kDomainTypeName) != map.end()) {
    return OkStatus();
  }
  if (!domain.is_object()) {
    return Invalid("/domain", "must be an object");
  }
  static constexpr std::pair<std::string_view, std::string_view> kCanonical[] = {
      {"name", "string"},
      {"version", "string"},
      {"chainId", "uint256"},
      {"verifyingContract", "address"},
      {"salt", "bytes32"},
  };
  std::vector<Field> fields;
  for (const auto& [name, type] : kCanonical) {
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
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct BigInt {
  bool negative = false;
  Word magnitude{};  // big-endian
};

// A JSON integer, or a JSON string with a decimal ("-12") or 0x-hex ("0xff") integer.
Result<BigInt> ParseInteger(const json::Value& value, std::string_view path) {
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
Result<Word> EncodeInteger(const BigInt& v, bool is_signed, uint32_t bits, std::string_view path,
                           std::string_view type) {
  const Word& m = v.magnitude;
  const size_t first = 32 - bits / 8;  // index of the most significant byte of the type
  bool is_zero = true;
  bool fits = true;  // magnitude < 2^bits
  for (size_t i = 0; i < 32; ++i) {
    is_zero = is_zero && m[i] == 0;
    fits = fits && (i >= first || m[i] == 0);
  }
  const bool negative = v.negative && !is_zero;
  bool in_range = fits;
  if (!is_signed) {
    in_range = in_range && !negative;
  } else if (in_range && (m[first] & 0x80) != 0) {
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

Result<Bytes> ParseHexString(const json::Value& value, std::string_view path) {
  if (!value.is_string() || value.as_string().substr(0, 2) != "0x") {
    return Invalid(path, "expected a 0x-prefixed hex string");
  }
  Result<Bytes> bytes = HexDecode(std::string_view(value.as_string()).substr(2));
  if (!bytes.ok()) {
    return Invalid(path, "expected a 0x-prefixed hex string with an even number of digits");
  }
  return bytes;
}

// --- encodeData --------------------------------------------------------------------------------

// Encodes values against one validated TypeMap, caching type hashes.
// Thread safety: not synchronized; one call at a time.
class Encoder {
 public:
  explicit Encoder(const TypeMap& types) : types_(types) {}

  Result<Bytes> EncodeData(std::string_view type_name, const json::Value& value,
                           const std::string& path, int depth) {
    if (depth > kMaxDepth) {
      return Invalid(path, "nested deeper than 32 levels");
    }
    const auto it = types_.find(type_name);
    if (it == types_.end()) {
      return Invalid(path, "unknown struct type " + Quoted(type_name));
    }
    if (!value.is_object()) {
      return Invalid(path, "expected an object for " + std::string(type_name));
    }
    const std::vector<Field>& fields = it->second;
    for (const std::string& key : value.keys()) {
      bool declared = false;
      for (const Field& f : fields) {
        declared = declared || f.name == key;
      }
      if (!declared) {
        return Invalid(Pointer(path, key), "member not declared by type " + std::string(type_name));
      }
    }
    const Word type_hash = TypeHashOf(it->first);
    Bytes out(type_hash.begin(), type_hash.end());
    out.reserve(32 * (fields.size() + 1));
    for (const Field& f : fields) {
      const std::string fpath = Pointer(path, f.name);
      const json::Value* member = value.Find(f.name);
      if (member == nullptr) {
        return Invalid(fpath, "missing field of type " + f.type);
      }
      MD_ASSIGN_OR_RETURN(Word word, EncodeField(f.type, *member, fpath, depth + 1));
      out.insert(out.end(), word.begin(), word.end());
    }
    return out;
  }

  Word TypeHashOf(const std::string& type_name) {
    auto it = type_hashes_.find(type_name);
    if (it == type_hashes_.end()) {
      it = type_hashes_.emplace(type_name, HashToWord(AsBytes(EncodeTypeString(types_, type_name))))
               .first;
    }
    return it->second;
  }

 private:
  Result<Word> EncodeField(std::string_view type, const json::Value& value,
                           const std::string& path, int depth) {
    if (depth > kMaxDepth) {
      return Invalid(path, "nested deeper than 32 levels");
    }
    MD_ASSIGN_OR_RETURN(TypeInfo info, Classify(type, types_, path));
    Word word{};
    switch (info.kind) {
      case Kind::kStruct: {
        MD_ASSIGN_OR_RETURN(Bytes data, EncodeData(type, value, path, depth));
        return HashToWord(data);
      }
      case Kind::kArray: {
        if (!value.is_array()) {
          return Invalid(path, "expected an array for " + std::string(type));
        }
        const std::vector<json::Value>& items = value.items();
        if (info.size != 0 && items.size() != info.size) {
          return Invalid(path, "expected " + std::to_string(info.size) + " elements for " +
                                   std::string(type) + ", got " + std::to_string(items.size()));
        }
        Keccak256Hasher hasher;
        for (size_t i = 0; i < items.size(); ++i) {
          MD_ASSIGN_OR_RETURN(Word element,
                              EncodeField(info.element, items[i], Pointer(path, i), depth + 1));
          hasher.Update(element);
        }
        return hasher.Finish();
      }
      case Kind::kString:
        if (!value.is_string()) {
          return Invalid(path, "expected a string");
        }
        return HashToWord(AsBytes(value.as_string()));
      case Kind::kBytes: {
        MD_ASSIGN_OR_RETURN(Bytes bytes, ParseHexString(value, path));
        return HashToWord(bytes);
      }
      case Kind::kFixedBytes: {
        MD_ASSIGN_OR_RETURN(Bytes bytes, ParseHexString(value, path));
        if (bytes.size() != info.size) {
          return Invalid(path, "expected " + std::to_string(info.size) + " bytes for " +
                                   std::string(type) + ", got " + std::to_string(bytes.size()));
        }
        std::copy(bytes.begin(), bytes.end(), word.begin());  // right-padded with zeros
        return word;
      }
      case Kind::kBool:
        if (!value.is_bool()) {
          return Invalid(path, "expected true or false");
        }
        word[31] = value.as_bool() ? 1 : 0;
        return word;
      case Kind::kAddress: {
        if (!value.is_string()) {
          return Invalid(path, "expected an address string");
        }
        Result<Bytes> address = ParseAddress(value.as_string(), /*require_checksum=*/false);
        if (!address.ok()) {
          return Invalid(path, address.error().message());
        }
        std::copy(address->begin(), address->end(), word.begin() + (32 - kEthereumAddressSize));
        return word;
      }
      case Kind::kUint:
      case Kind::kInt: {
        MD_ASSIGN_OR_RETURN(BigInt v, ParseInteger(value, path));
        return EncodeInteger(v, info.kind == Kind::kInt, info.size, path, type);
      }
    }
    return Invalid(path, "unhandled type " + Quoted(type));
  }

  const TypeMap& types_;
  std::map<std::string, Word, std::less<>> type_hashes_;
};

Result<Bytes> HashStructIn(const TypeMap& map, std::string_view type_name,
                           const json::Value& value, const std::string& path) {
  Encoder encoder(map);
  MD_ASSIGN_OR_RETURN(Bytes data, encoder.EncodeData(type_name, value, path, 0));
  return Keccak256(data);
}

Status RequireStruct(const TypeMap& map, std::string_view type_name, std::string_view path) {
  if (map.find(type_name) == map.end()) {
    return Invalid(path, "no struct type " + Quoted(type_name) + " in types");
  }
  return OkStatus();
}

}  // namespace

Bytes Eip712DigestFromHashes(ByteSpan domain_separator, ByteSpan struct_hash) {
  Keccak256Hasher hasher;
  const uint8_t prefix[2] = {0x19, 0x01};
  hasher.Update(prefix);
  hasher.Update(domain_separator);
  hasher.Update(struct_hash);
  const std::array<uint8_t, 32> digest = hasher.Finish();
  return Bytes(digest.begin(), digest.end());
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

  MD_ASSIGN_OR_RETURN(TypeMap map, ParseTypes(*types));
  MD_RETURN_IF_ERROR(EnsureDomainType(map, *domain));
  MD_RETURN_IF_ERROR(RequireStruct(map, primary->as_string(), "/primaryType"));
  MD_ASSIGN_OR_RETURN(Bytes domain_separator,
                      HashStructIn(map, kDomainTypeName, *domain, "/domain"));

  if (primary->as_string() == kDomainTypeName) {
    // Only the domain is signed; refuse a message that would look signed but is not.
    if (message != nullptr && !(message->is_object() && message->size() == 0)) {
      return Invalid("/message", "must be absent or {} when primaryType is EIP712Domain");
    }
    Keccak256Hasher hasher;
    const uint8_t prefix[2] = {0x19, 0x01};
    hasher.Update(prefix);
    hasher.Update(domain_separator);
    const std::array<uint8_t, 32> digest = hasher.Finish();
    return Bytes(digest.begin(), digest.end());
  }
  if (message == nullptr) return Invalid("/message", "missing");
  MD_ASSIGN_OR_RETURN(Bytes struct_hash,
                      HashStructIn(map, primary->as_string(), *message, "/message"));
  return Eip712DigestFromHashes(domain_separator, struct_hash);
}

Result<Bytes> Eip712DomainSeparator(const json::Value& types, const json::Value& domain) {
  MD_ASSIGN_OR_RETURN(TypeMap map, ParseTypes(types));
  MD_RETURN_IF_ERROR(EnsureDomainType(map, domain));
  return HashStructIn(map, kDomainTypeName, domain, "/domain");
}

Result<std::string> EncodeType(const json::Value& types, std::string_view type_name) {
  MD_ASSIGN_OR_RETURN(TypeMap map, ParseTypes(types));
  MD_RETURN_IF_ERROR(RequireStruct(map, type_name, "/types"));
  return EncodeTypeString(map, type_name);
}

Result<Bytes> TypeHash(const json::Value& types, std::string_view type_name) {
  MD_ASSIGN_OR_RETURN(std::string encoded, EncodeType(types, type_name));
  return Keccak256(AsBytes(encoded));
}

Result<Bytes> EncodeData(const json::Value& types, std::string_view type_name,
                         const json::Value& value) {
  MD_ASSIGN_OR_RETURN(TypeMap map, ParseTypes(types));
  MD_RETURN_IF_ERROR(RequireStruct(map, type_name, "/types"));
  Encoder encoder(map);
  return encoder.EncodeData(type_name, value, "", 0);
}

Result<Bytes> HashStruct(const json::Value& types, std::string_view type_name,
                         const json::Value& value) {
  MD_ASSIGN_OR_RETURN(TypeMap map, ParseTypes(types));
  MD_RETURN_IF_ERROR(RequireStruct(map, type_name, "/types"));
  return HashStructIn(map, type_name, value, "");
}

}  // namespace mandated::signer
