// x402 wire codecs and the off-chain exact-EVM (EIP-3009) verification; see specs/x402.md §2-4.
#include "settlement/x402_wire.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <system_error>
#include <utility>

#include "signer/bounded_cache.h"
#include "signer/ethereum.h"
#include "signer/keccak.h"
#include "signer/recoverable.h"

namespace mandated::settlement {
namespace {

using Hash32 = std::array<uint8_t, 32>;

// keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
constexpr Hash32 kDomainTypeHash = {
    0x8b, 0x73, 0xc3, 0xc6, 0x9b, 0xb8, 0xfe, 0x3d, 0x51, 0x2e, 0xcc, 0x4c, 0xf7, 0x59, 0xcc, 0x79,
    0x23, 0x9f, 0x7b, 0x17, 0x9b, 0x0f, 0xfa, 0xca, 0xa9, 0xa7, 0x5d, 0x52, 0x2b, 0x39, 0x40, 0x0f};
// keccak256("TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,
// uint256 validBefore,bytes32 nonce)"), FiatToken's TRANSFER_WITH_AUTHORIZATION_TYPEHASH.
constexpr Hash32 kTransferTypeHash = {
    0x7c, 0x7c, 0x6c, 0xdb, 0x67, 0xa1, 0x87, 0x43, 0xf4, 0x9e, 0xc6, 0xfa, 0x9b, 0x35, 0xf5, 0x0d,
    0x52, 0xed, 0x05, 0xcb, 0xed, 0x4c, 0xc5, 0x92, 0xe1, 0x3b, 0x44, 0x50, 0x1c, 0x1a, 0x22, 0x67};
// secp256k1 group order n / 2 (big-endian): the largest S FiatToken's ECRecover accepts.
constexpr Hash32 kHalfOrder = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};

// The v1 network names of npm @x402/evm 2.27.0 (constants.ts EVM_NETWORK_CHAIN_ID_MAP); the first
// fifteen are also x402@1.2.0's (types/shared/network.ts EvmNetworkToChainId).
struct V1Network {
  std::string_view name;
  uint64_t chain_id;
};
constexpr V1Network kV1Networks[] = {
    {"base-sepolia", 84532},
    {"base", 8453},
    {"avalanche-fuji", 43113},
    {"avalanche", 43114},
    {"polygon", 137},
    {"polygon-amoy", 80002},
    {"iotex", 4689},
    {"sei", 1329},
    {"sei-testnet", 1328},
    {"peaq", 3338},
    {"story", 1514},
    {"educhain", 41923},
    {"abstract", 2741},
    {"abstract-testnet", 11124},
    {"skale-base-sepolia", 324705682},
    // @x402/evm only:
    {"ethereum", 1},
    {"sepolia", 11155111},
    {"megaeth", 4326},
    {"monad", 143},
    {"stable", 988},
    {"stable-testnet", 2201},
    {"celo", 42220},
    {"flare", 14},
};

constexpr uint64_t kMaxSafeInteger = (uint64_t{1} << 53) - 1;  // JavaScript's Number limit

// ---- small JSON readers with the wire's error reasons ----

std::string Ptr(std::string_view base, std::string_view key) {
  std::string p(base);
  p.push_back('/');
  p += json::EscapePointerToken(key);
  return p;
}

Status Bad(std::string_view reason, std::string_view pointer, std::string_view what) {
  std::string msg(pointer.empty() ? "/" : pointer);
  msg += ": ";
  msg += what;
  return InvalidArgumentError(std::move(msg), std::string(reason));
}

// Nesting of arrays and objects in `v` (a scalar is 0). The requirements and payload are kept
// raw in settlement records and their audit events, a few levels deeper than in the request;
// what exceeds kMaxRawDepth there could not be parsed back by the bundle verifier (whose limit,
// like the request's, is 64 levels), so it is refused up front.
constexpr int kMaxRawDepth = 32;
int Depth(const json::Value& v) {
  int deepest = 0;
  for (const json::Value& item : v.items()) deepest = std::max(deepest, Depth(item));
  return v.is_array() || v.is_object() ? deepest + 1 : 0;
}

Result<const json::Value*> Member(const json::Value& obj, std::string_view key,
                                  std::string_view base, std::string_view reason) {
  const json::Value* m = obj.Find(key);
  if (m == nullptr) {
    return Bad(reason, Ptr(base, key), "missing");
  }
  return m;
}

Result<std::string> StringMember(const json::Value& obj, std::string_view key,
                                 std::string_view base, std::string_view reason) {
  MD_ASSIGN_OR_RETURN(const json::Value* m, Member(obj, key, base, reason));
  if (!m->is_string()) {
    return Bad(reason, Ptr(base, key), "must be a string");
  }
  return m->as_string();
}

// An optional string member: absent -> nullopt; present but not a string -> error.
Result<std::optional<std::string>> OptionalStringMember(const json::Value& obj,
                                                        std::string_view key,
                                                        std::string_view base,
                                                        std::string_view reason) {
  const json::Value* m = obj.Find(key);
  if (m == nullptr) {
    return std::optional<std::string>();
  }
  if (!m->is_string()) {
    return Bad(reason, Ptr(base, key), "must be a string");
  }
  return std::optional<std::string>(m->as_string());
}

Result<Amount> DecimalMember(const json::Value& obj, std::string_view key, std::string_view base,
                             std::string_view reason) {
  MD_ASSIGN_OR_RETURN(std::string text, StringMember(obj, key, base, reason));
  Result<Amount> a = Amount::Parse(text);
  if (!a.ok()) {
    return Bad(reason, Ptr(base, key),
               "must be a decimal integer string below 2^128 without leading zeros");
  }
  return *a;
}

Status AddressMember(const json::Value& obj, std::string_view key, std::string_view base,
                     std::string_view reason, Address& out) {
  MD_ASSIGN_OR_RETURN(std::string text, StringMember(obj, key, base, reason));
  Status s = signer::ParseAddressInto(text, /*require_checksum=*/false, out);
  if (!s.ok()) {
    return Bad(reason, Ptr(base, key),
               "must be 0x and 40 hex digits (mixed case only as a valid EIP-55 checksum)");
  }
  return OkStatus();
}

// "0x" + an even, non-zero number of hex digits.
Result<Bytes> HexMember(const json::Value& obj, std::string_view key, std::string_view base,
                        std::string_view reason) {
  MD_ASSIGN_OR_RETURN(std::string text, StringMember(obj, key, base, reason));
  if (text.size() < 4 || text[0] != '0' || text[1] != 'x') {
    return Bad(reason, Ptr(base, key), "must be 0x and hex digits");
  }
  Result<Bytes> b = HexDecode(std::string_view(text).substr(2));
  if (!b.ok()) {
    return Bad(reason, Ptr(base, key), "must be 0x and an even number of hex digits");
  }
  return std::move(b).value();
}

std::optional<uint64_t> ParseDecimalU64(std::string_view s) {
  if (s.empty() || s.size() > 19) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// ---- ABI words ----

void PutU64Word(uint8_t* word, uint64_t v) {
  std::memset(word, 0, 24);
  for (int i = 0; i < 8; ++i) {
    word[31 - i] = static_cast<uint8_t>(v >> (8 * i));
  }
}

void PutU128Word(uint8_t* word, Uint128 v) {
  std::memset(word, 0, 16);
  for (int i = 0; i < 16; ++i) {
    word[31 - i] = static_cast<uint8_t>(v >> (8 * i));
  }
}

void PutAddressWord(uint8_t* word, const Address& a) {
  std::memset(word, 0, 12);
  std::memcpy(word + 12, a.data(), a.size());
}

Hash32 Keccak(ByteSpan data) {
  signer::Keccak256Hasher h;
  h.Update(data);
  return h.Finish();
}

Hash32 ComputeDomainSeparator(std::string_view name, std::string_view version, uint64_t chain_id,
                              const Address& asset) {
  std::array<uint8_t, 160> buf;
  std::memcpy(buf.data(), kDomainTypeHash.data(), 32);
  signer::Keccak256Hasher h;
  h.Update(AsBytes(name));
  const Hash32 name_hash = h.Finish();
  h.Update(AsBytes(version));
  const Hash32 version_hash = h.Finish();
  std::memcpy(buf.data() + 32, name_hash.data(), 32);
  std::memcpy(buf.data() + 64, version_hash.data(), 32);
  PutU64Word(buf.data() + 96, chain_id);
  PutAddressWord(buf.data() + 128, asset);
  h.Update(buf);
  return h.Finish();
}

// Domain separators by (name, version, chain, asset). Bounded, so requirements chosen by callers
// cannot grow it; entries are immutable once inserted.
signer::BoundedCache<Hash32>& DomainCache() {
  static auto* cache = new signer::BoundedCache<Hash32>(256, 8);  // never destroyed
  return *cache;
}

std::string DomainCacheKey(std::string_view name, std::string_view version, uint64_t chain_id,
                           const Address& asset) {
  // Length-prefixed name so no (name, version) pair can collide with another.
  std::string key;
  key.reserve(8 + name.size() + version.size() + 8 + 20);
  const uint64_t n = name.size();
  key.append(reinterpret_cast<const char*>(&n), sizeof(n));
  key.append(name);
  key.append(version);
  key.push_back('\0');
  key.append(reinterpret_cast<const char*>(&chain_id), sizeof(chain_id));
  key.append(reinterpret_cast<const char*>(asset.data()), asset.size());
  return key;
}

// ---- JavaScript number printing (Number.prototype.toString, radix 10) ----

// For a JSON number text: the n with 10^(n-1) <= |value| < 10^n (digits are what count, so the
// result is exact for any length), or 0 for zero. Saturates far beyond double range.
int64_t DecimalMagnitude(std::string_view text) {
  if (!text.empty() && text[0] == '-') {
    text.remove_prefix(1);
  }
  const size_t e = text.find_first_of("eE");
  int64_t exp10 = 0;
  if (e != std::string_view::npos) {
    std::string_view es = text.substr(e + 1);
    const bool negative = !es.empty() && es[0] == '-';
    if (!es.empty() && (es[0] == '-' || es[0] == '+')) {
      es.remove_prefix(1);
    }
    exp10 = es.size() > 9 ? 1000000000 : 0;
    if (es.size() <= 9) {
      std::from_chars(es.data(), es.data() + es.size(), exp10);
    }
    exp10 = negative ? -exp10 : exp10;
    text = text.substr(0, e);
  }
  const size_t dot = text.find('.');
  const std::string_view int_part = text.substr(0, dot);
  const std::string_view frac_part =
      dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  const size_t nz = int_part.find_first_not_of('0');
  if (nz != std::string_view::npos) {
    return static_cast<int64_t>(int_part.size() - nz) + exp10;
  }
  const size_t fz = frac_part.find_first_not_of('0');
  if (fz != std::string_view::npos) {
    return -static_cast<int64_t>(fz) + exp10;
  }
  return 0;
}

std::string JsNumberText(std::string_view text) {
  // Fast path: a plain integer below 2^53 already prints as itself.
  if (!text.empty() && text.size() <= 15) {
    size_t i = text[0] == '-' ? 1 : 0;
    bool plain = i < text.size() && (text[i] != '0' || text.size() == i + 1);
    for (size_t j = i; plain && j < text.size(); ++j) {
      plain = text[j] >= '0' && text[j] <= '9';
    }
    if (plain) {
      return text == "-0" ? std::string("0") : std::string(text);
    }
  }
  double x = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  if (ec == std::errc::result_out_of_range) {
    // Beyond double range JSON.parse gives +-Infinity (printed as null) or, for underflow, +-0.
    return DecimalMagnitude(text) <= 0 ? "0" : "null";
  }
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::string(text);  // not a number we can read; keep it
  }
  if (x == 0) {
    return "0";
  }
  std::string out;
  if (x < 0) {
    out.push_back('-');
    x = -x;
  }
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<size_t>(r.ptr - buf));  // "d.ddde+XX"
  const size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') {
      digits.push_back(c);
    }
  }
  int exp10 = 0;
  std::from_chars(sci.data() + e_pos + (sci[e_pos + 1] == '+' ? 2 : 1), sci.data() + sci.size(),
                  exp10);
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;  // value = 0.digits * 10^n
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<size_t>(n));
    out.push_back('.');
    out += digits.substr(static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-n), '0');
    out += digits;
  } else {
    out.push_back(digits[0]);
    if (k > 1) {
      out.push_back('.');
      out += digits.substr(1);
    }
    out.push_back('e');
    out.push_back(n - 1 >= 0 ? '+' : '-');
    out += std::to_string(n - 1 >= 0 ? n - 1 : 1 - n);
  }
  return out;
}

json::Value AuthorizationToJson(const Authorization3009& a) {
  json::Value o = json::Value::Object();
  o.Set("from", json::Value::String(AddressText(a.from)));
  o.Set("to", json::Value::String(AddressText(a.to)));
  o.Set("value", json::Value::String(a.value.ToString()));
  o.Set("validAfter", json::Value::String(Amount::FromRaw(a.valid_after).ToString()));
  o.Set("validBefore", json::Value::String(Amount::FromRaw(a.valid_before).ToString()));
  o.Set("nonce", json::Value::String(NonceText(a.nonce)));
  return o;
}

Status ParseExactEvmInner(const json::Value& v, PaymentPayload& p) {
  constexpr std::string_view kR = "invalid_payload";
  MD_ASSIGN_OR_RETURN(const json::Value* inner, Member(v, "payload", "", kR));
  if (!inner->is_object()) {
    return Bad(kR, "/payload", "must be an object");
  }
  MD_ASSIGN_OR_RETURN(const json::Value* auth, Member(*inner, "authorization", "/payload", kR));
  if (!auth->is_object()) {
    return Bad(kR, "/payload/authorization", "must be an object");
  }
  constexpr std::string_view kA = "/payload/authorization";
  Authorization3009& a = p.authorization;
  MD_RETURN_IF_ERROR(AddressMember(*auth, "from", kA, kR, a.from));
  MD_RETURN_IF_ERROR(AddressMember(*auth, "to", kA, kR, a.to));
  MD_ASSIGN_OR_RETURN(a.value, DecimalMember(*auth, "value", kA, kR));
  MD_ASSIGN_OR_RETURN(Amount after, DecimalMember(*auth, "validAfter", kA, kR));
  MD_ASSIGN_OR_RETURN(Amount before, DecimalMember(*auth, "validBefore", kA, kR));
  a.valid_after = after.raw();
  a.valid_before = before.raw();
  MD_ASSIGN_OR_RETURN(Bytes nonce, HexMember(*auth, "nonce", kA, kR));
  if (nonce.size() != a.nonce.size()) {
    return Bad(kR, "/payload/authorization/nonce", "must be 0x and 64 hex digits");
  }
  std::copy(nonce.begin(), nonce.end(), a.nonce.begin());
  MD_ASSIGN_OR_RETURN(p.signature, HexMember(*inner, "signature", "/payload", kR));
  return OkStatus();
}

bool IsHighS(const Bytes& sig) {
  return std::lexicographical_compare(kHalfOrder.begin(), kHalfOrder.end(), sig.begin() + 32,
                                      sig.begin() + 64);
}

VerifyResponse Invalid(std::string_view reason, std::string payer, std::string_view message = {}) {
  VerifyResponse r;
  r.is_valid = false;
  r.invalid_reason = std::string(reason);
  r.invalid_message = std::string(message);
  r.payer = std::move(payer);
  return r;
}

bool HasText(const std::optional<std::string>& s) { return s.has_value() && !s->empty(); }

}  // namespace

std::string AddressText(const Address& a) { return signer::ToChecksumAddress(a); }

std::string AddressLower(const Address& a) { return "0x" + HexEncode(a); }

std::string NonceText(const Nonce32& n) { return "0x" + HexEncode(n); }

std::optional<uint64_t> V1ChainIdOf(std::string_view network) {
  for (const V1Network& n : kV1Networks) {
    if (n.name == network) {
      return n.chain_id;
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> Caip2ChainIdOf(std::string_view network) {
  constexpr std::string_view kPrefix = "eip155:";
  if (network.substr(0, kPrefix.size()) != kPrefix) {
    return std::nullopt;
  }
  std::string_view digits = network.substr(kPrefix.size());
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  // Leading zeros are allowed: the reference reads the id with Number().
  while (digits.size() > 1 && digits.front() == '0') {
    digits.remove_prefix(1);
  }
  const std::optional<uint64_t> id = ParseDecimalU64(digits);
  if (!id.has_value() || *id == 0 || *id > kMaxSafeInteger) {
    return std::nullopt;
  }
  return id;
}

std::optional<uint64_t> ChainIdOf(std::string_view network) {
  std::optional<uint64_t> id = V1ChainIdOf(network);
  return id.has_value() ? id : Caip2ChainIdOf(network);
}

std::string_view V1NetworkName(uint64_t chain_id) {
  for (const V1Network& n : kV1Networks) {
    if (n.chain_id == chain_id) {
      return n.name;
    }
  }
  return {};
}

std::string Caip2Network(uint64_t chain_id) { return "eip155:" + std::to_string(chain_id); }

Result<PaymentRequirements> ParseRequirements(const json::Value& v, int version,
                                              std::string_view pointer) {
  constexpr std::string_view kR = "invalid_payment_requirements";
  if (version != kX402V1 && version != kX402V2) {
    return Bad(kR, pointer, "unsupported x402 version");
  }
  if (!v.is_object()) {
    return Bad(kR, pointer, "must be an object");
  }
  if (Depth(v) > kMaxRawDepth) {
    return Bad(kR, pointer, "nests more than " + std::to_string(kMaxRawDepth) + " levels");
  }
  PaymentRequirements r;
  r.version = version;
  MD_ASSIGN_OR_RETURN(r.scheme, StringMember(v, "scheme", pointer, kR));
  MD_ASSIGN_OR_RETURN(r.network, StringMember(v, "network", pointer, kR));
  const std::optional<uint64_t> chain =
      version == kX402V1 ? V1ChainIdOf(r.network) : Caip2ChainIdOf(r.network);
  r.chain_id = chain.value_or(0);
  const std::string_view amount_key = version == kX402V1 ? "maxAmountRequired" : "amount";
  MD_ASSIGN_OR_RETURN(r.amount, DecimalMember(v, amount_key, pointer, kR));
  MD_RETURN_IF_ERROR(AddressMember(v, "asset", pointer, kR, r.asset));
  MD_RETURN_IF_ERROR(AddressMember(v, "payTo", pointer, kR, r.pay_to));
  MD_ASSIGN_OR_RETURN(const json::Value* timeout, Member(v, "maxTimeoutSeconds", pointer, kR));
  // Any number whose JavaScript value is a positive integer (60, 60.0, 6e1), as the reference's
  // schema reads it, up to 2^53 - 1.
  const std::optional<uint64_t> seconds =
      timeout->is_number() ? ParseDecimalU64(JsNumberText(timeout->number_text())) : std::nullopt;
  if (!seconds.has_value() || *seconds == 0 || *seconds > kMaxSafeInteger) {
    return Bad(kR, Ptr(pointer, "maxTimeoutSeconds"), "must be an integer > 0");
  }
  r.max_timeout_seconds = static_cast<int64_t>(*seconds);
  if (version == kX402V1) {
    MD_ASSIGN_OR_RETURN(std::optional<std::string> resource,
                        OptionalStringMember(v, "resource", pointer, kR));
    MD_ASSIGN_OR_RETURN(std::optional<std::string> description,
                        OptionalStringMember(v, "description", pointer, kR));
    MD_ASSIGN_OR_RETURN(std::optional<std::string> mime,
                        OptionalStringMember(v, "mimeType", pointer, kR));
    r.resource = resource.value_or("");
    r.description = description.value_or("");
    r.mime_type = mime.value_or("");
  }
  if (const json::Value* extra = v.Find("extra"); extra != nullptr) {
    if (!extra->is_object()) {
      return Bad(kR, Ptr(pointer, "extra"), "must be an object");
    }
    if (const json::Value* name = extra->Find("name"); name != nullptr && name->is_string()) {
      r.eip712_name = name->as_string();
    }
    if (const json::Value* ver = extra->Find("version"); ver != nullptr && ver->is_string()) {
      r.eip712_version = ver->as_string();
    }
  }
  r.raw = v;
  return r;
}

json::Value RequirementsToJson(const PaymentRequirements& r) {
  json::Value o = json::Value::Object();
  o.Set("scheme", json::Value::String(r.scheme));
  o.Set("network", json::Value::String(r.network));
  if (r.version == kX402V1) {
    o.Set("maxAmountRequired", json::Value::String(r.amount.ToString()));
    o.Set("resource", json::Value::String(r.resource));
    o.Set("description", json::Value::String(r.description));
    o.Set("mimeType", json::Value::String(r.mime_type));
    o.Set("payTo", json::Value::String(AddressText(r.pay_to)));
    o.Set("maxTimeoutSeconds", json::Value::Int(r.max_timeout_seconds));
    o.Set("asset", json::Value::String(AddressText(r.asset)));
  } else {
    o.Set("amount", json::Value::String(r.amount.ToString()));
    o.Set("asset", json::Value::String(AddressText(r.asset)));
    o.Set("payTo", json::Value::String(AddressText(r.pay_to)));
    o.Set("maxTimeoutSeconds", json::Value::Int(r.max_timeout_seconds));
  }
  if (r.eip712_name.has_value() || r.eip712_version.has_value()) {
    json::Value extra = json::Value::Object();
    if (r.eip712_name.has_value()) {
      extra.Set("name", json::Value::String(*r.eip712_name));
    }
    if (r.eip712_version.has_value()) {
      extra.Set("version", json::Value::String(*r.eip712_version));
    }
    o.Set("extra", std::move(extra));
  }
  return o;
}

Result<PaymentPayload> ParsePayload(const json::Value& v) {
  constexpr std::string_view kR = "invalid_payload";
  if (!v.is_object()) {
    return Bad(kR, "", "must be an object");
  }
  if (Depth(v) > kMaxRawDepth) {
    return Bad(kR, "", "nests more than " + std::to_string(kMaxRawDepth) + " levels");
  }
  const json::Value* version = v.Find("x402Version");
  const std::optional<int64_t> n =
      version != nullptr && version->is_number() ? version->as_int64() : std::nullopt;
  if (!n.has_value() || (*n != kX402V1 && *n != kX402V2)) {
    return Bad(kReasonInvalidX402Version, "/x402Version", "must be 1 or 2");
  }
  PaymentPayload p;
  p.version = static_cast<int>(*n);
  if (p.version == kX402V1) {
    MD_ASSIGN_OR_RETURN(p.scheme, StringMember(v, "scheme", "", kR));
    MD_ASSIGN_OR_RETURN(p.network, StringMember(v, "network", "", kR));
  } else {
    MD_ASSIGN_OR_RETURN(const json::Value* accepted, Member(v, "accepted", "", kR));
    Result<PaymentRequirements> req = ParseRequirements(*accepted, kX402V2, "/accepted");
    if (!req.ok()) {
      return InvalidArgumentError(req.error().message(), std::string(kR));
    }
    p.scheme = req->scheme;
    p.network = req->network;
    p.accepted = std::move(req).value();
    if (const json::Value* resource = v.Find("resource"); resource != nullptr) {
      if (!resource->is_object()) {
        return Bad(kR, "/resource", "must be an object");
      }
      p.resource = *resource;
    }
    if (const json::Value* ext = v.Find("extensions"); ext != nullptr) {
      if (!ext->is_object()) {
        return Bad(kR, "/extensions", "must be an object");
      }
      p.extensions = *ext;
    }
  }
  MD_RETURN_IF_ERROR(ParseExactEvmInner(v, p));
  p.raw = v;
  return p;
}

std::string EncodeHeaderJson(const json::Value& v) {
  return Base64Encode(AsBytes(json::Write(v)));
}

Result<json::Value> DecodeHeaderJson(std::string_view header_value) {
  constexpr std::string_view kR = "invalid_payload";
  size_t body = header_value.size();
  while (body > 0 && header_value[body - 1] == '=') {
    --body;
  }
  const size_t pad = header_value.size() - body;
  if (header_value.empty() || pad > 2) {
    return InvalidArgumentError("header is not base64", std::string(kR));
  }
  for (size_t i = 0; i < body; ++i) {
    const char c = header_value[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/';
    if (!ok) {
      return InvalidArgumentError("header is not base64", std::string(kR));
    }
  }
  std::string padded(header_value.substr(0, body));
  if (body % 4 == 1) {
    return InvalidArgumentError("header is not base64 (bad length)", std::string(kR));
  }
  if (pad > 0 && (body + pad) % 4 != 0) {
    return InvalidArgumentError("header has wrong base64 padding", std::string(kR));
  }
  padded.append((4 - body % 4) % 4, '=');
  Result<Bytes> bytes = Base64Decode(padded);
  if (!bytes.ok()) {
    return InvalidArgumentError("header is not base64: " + bytes.error().message(),
                                std::string(kR));
  }
  Result<json::Value> parsed = json::Parse(AsChars(*bytes));
  if (!parsed.ok()) {
    return InvalidArgumentError("header is not JSON: " + parsed.error().message(),
                                std::string(kR));
  }
  return std::move(parsed).value();
}

json::Value WithJsNumbers(const json::Value& v) {
  switch (v.type()) {
    case json::Type::kNumber: {
      std::string text = JsNumberText(v.number_text());
      return text == "null" ? json::Value::Null() : json::Value::NumberText(std::move(text));
    }
    case json::Type::kArray: {
      json::Value out = json::Value::Array();
      for (const json::Value& item : v.items()) {
        out.Append(WithJsNumbers(item));
      }
      return out;
    }
    case json::Type::kObject: {
      json::Value out = json::Value::Object();
      for (size_t i = 0; i < v.size(); ++i) {
        out.Set(v.keys()[i], WithJsNumbers(v.items()[i]));
      }
      return out;
    }
    default:
      return v;
  }
}

json::Value PayloadToJson(const PaymentPayload& p) {
  json::Value o = json::Value::Object();
  const std::string signature = "0x" + HexEncode(p.signature);
  if (p.version == kX402V1) {
    o.Set("x402Version", json::Value::Int(kX402V1));
    o.Set("scheme", json::Value::String(p.scheme));
    o.Set("network", json::Value::String(p.network));
    json::Value inner = json::Value::Object();
    inner.Set("signature", json::Value::String(signature));
    inner.Set("authorization", AuthorizationToJson(p.authorization));
    o.Set("payload", std::move(inner));
    return o;
  }
  o.Set("x402Version", json::Value::Int(p.version));
  json::Value inner = json::Value::Object();
  inner.Set("authorization", AuthorizationToJson(p.authorization));
  inner.Set("signature", json::Value::String(signature));
  o.Set("payload", std::move(inner));
  if (!p.extensions.is_null()) {
    o.Set("extensions", WithJsNumbers(p.extensions));
  }
  if (!p.resource.is_null()) {
    o.Set("resource", WithJsNumbers(p.resource));
  }
  if (p.accepted.has_value()) {
    const json::Value& raw = p.accepted->raw;
    o.Set("accepted", raw.is_object() && raw.size() > 0 ? WithJsNumbers(raw)
                                                       : RequirementsToJson(*p.accepted));
  }
  return o;
}

json::Value SettleResponseToJson(const SettleResponse& r) {
  // Member order of the reference facilitator's answers (facilitator_api_examples.json).
  json::Value o = json::Value::Object();
  o.Set("success", json::Value::Bool(r.success));
  if (!r.error_reason.empty()) {
    o.Set("errorReason", json::Value::String(r.error_reason));
  }
  if (!r.error_message.empty()) {
    o.Set("errorMessage", json::Value::String(r.error_message));
  }
  o.Set("transaction", json::Value::String(r.transaction));
  o.Set("network", json::Value::String(r.network));
  if (!r.payer.empty()) {
    o.Set("payer", json::Value::String(r.payer));
  }
  return o;
}

json::Value VerifyResponseToJson(const VerifyResponse& r) {
  json::Value o = json::Value::Object();
  o.Set("isValid", json::Value::Bool(r.is_valid));
  if (!r.invalid_reason.empty()) {
    o.Set("invalidReason", json::Value::String(r.invalid_reason));
  }
  if (!r.invalid_message.empty()) {
    o.Set("invalidMessage", json::Value::String(r.invalid_message));
  }
  if (!r.payer.empty()) {
    o.Set("payer", json::Value::String(r.payer));
  }
  return o;
}

std::array<uint8_t, 32> Eip3009DomainSeparator(std::string_view name, std::string_view version,
                                               uint64_t chain_id, const Address& asset) {
  const std::string key = DomainCacheKey(name, version, chain_id, asset);
  if (std::shared_ptr<const Hash32> hit = DomainCache().Find(key); hit != nullptr) {
    return *hit;
  }
  auto computed =
      std::make_shared<const Hash32>(ComputeDomainSeparator(name, version, chain_id, asset));
  return *DomainCache().Insert(key, std::move(computed));
}

std::array<uint8_t, 224> EncodeTransferWithAuthorization(const Authorization3009& a) {
  std::array<uint8_t, 224> buf;
  std::memcpy(buf.data(), kTransferTypeHash.data(), 32);
  PutAddressWord(buf.data() + 32, a.from);
  PutAddressWord(buf.data() + 64, a.to);
  PutU128Word(buf.data() + 96, a.value.raw());
  PutU128Word(buf.data() + 128, a.valid_after);
  PutU128Word(buf.data() + 160, a.valid_before);
  std::memcpy(buf.data() + 192, a.nonce.data(), 32);
  return buf;
}

std::array<uint8_t, 32> TransferWithAuthorizationHash(const Authorization3009& a) {
  return Keccak(EncodeTransferWithAuthorization(a));
}

std::array<uint8_t, 32> Eip3009Digest(std::string_view name, std::string_view version,
                                      uint64_t chain_id, const Address& asset,
                                      const Authorization3009& a) {
  std::array<uint8_t, 66> pre;
  pre[0] = 0x19;
  pre[1] = 0x01;
  const Hash32 domain = Eip3009DomainSeparator(name, version, chain_id, asset);
  const Hash32 st = TransferWithAuthorizationHash(a);
  std::memcpy(pre.data() + 2, domain.data(), 32);
  std::memcpy(pre.data() + 34, st.data(), 32);
  return Keccak(pre);
}

VerifyResponse VerifyExactOffline(const PaymentPayload& payload,
                                  const PaymentRequirements& requirements, int64_t now) {
  const Authorization3009& a = payload.authorization;
  std::string payer = AddressText(a.from);
  if (payload.version != requirements.version ||
      (payload.version != kX402V1 && payload.version != kX402V2)) {
    return Invalid(kReasonInvalidX402Version, std::move(payer));
  }
  const bool v1 = payload.version == kX402V1;

  // 1. Scheme (v2 compares accepted.scheme, which ParsePayload copied to payload.scheme).
  if (payload.scheme != "exact" || requirements.scheme != "exact") {
    return Invalid(kReasonInvalidScheme, std::move(payer));
  }
  // v1 resolves the chain from the payload's network before anything else.
  uint64_t chain_id = 0;
  if (v1) {
    std::optional<uint64_t> id = V1ChainIdOf(payload.network);
    if (!id.has_value()) {
      return Invalid(kReasonNetworkMismatch, std::move(payer));
    }
    chain_id = *id;
  }
  // 2. EIP-712 domain name and version (JavaScript truthiness: "" counts as missing).
  if (!HasText(requirements.eip712_name) || !HasText(requirements.eip712_version)) {
    return Invalid(kReasonMissingEip712Domain, std::move(payer));
  }
  // 3. Network.
  if (payload.network != requirements.network) {
    return Invalid(kReasonNetworkMismatch, std::move(payer));
  }
  if (!v1) {
    // The reference throws on a non-eip155 network here; we answer with the network code.
    std::optional<uint64_t> id = Caip2ChainIdOf(requirements.network);
    if (!id.has_value()) {
      return Invalid(kReasonNetworkMismatch, std::move(payer));
    }
    chain_id = *id;
  }
  // 4. Signature: 65-byte ECDSA recovering to `from`, tolerant of S and v forms as viem is.
  if (payload.signature.size() != 65) {
    return Invalid(kReasonInvalidSignature, std::move(payer));
  }
  const Hash32 digest = Eip3009Digest(*requirements.eip712_name, *requirements.eip712_version,
                                      chain_id, requirements.asset, a);
  signer::RecoverOptions tolerant;
  tolerant.allow_high_s = true;
  tolerant.allow_raw_v = true;
  Result<Bytes> recovered = signer::RecoverEthereumAddress(digest, payload.signature, tolerant);
  if (!recovered.ok() || !std::equal(recovered->begin(), recovered->end(), a.from.begin(),
                                     a.from.end())) {
    return Invalid(kReasonInvalidSignature, std::move(payer));
  }
  // 5. Recipient.
  if (a.to != requirements.pay_to) {
    return Invalid(kReasonRecipientMismatch, std::move(payer));
  }
  // 6-7. Time window: validBefore >= now + 6, validAfter <= now (non-strict, as the reference).
  if (now >= -6) {
    const Uint128 before_limit = now >= 0 ? static_cast<Uint128>(now) + 6
                                          : static_cast<Uint128>(now + 6);
    if (a.valid_before < before_limit) {
      return Invalid(kReasonValidBefore, std::move(payer));
    }
  }
  if (now < 0 || a.valid_after > static_cast<Uint128>(now)) {
    return Invalid(kReasonValidAfter, std::move(payer));
  }
  // 8. Amount: equality in both versions (@x402/evm; legacy x402@1.2.0 accepted value >= amount).
  if (a.value != requirements.amount) {
    return Invalid(v1 ? kReasonValueMismatchV1 : kReasonValueMismatchV2, std::move(payer));
  }
  // 9. Where the reference simulates transferWithAuthorization: FiatToken's ECRecover refuses
  // high S and v outside {27, 28} (it checks S first).
  if (IsHighS(payload.signature)) {
    return Invalid(kReasonSimulationFailed, std::move(payer), kMessageHighS);
  }
  const uint8_t v = payload.signature[64];
  if (v != 27 && v != 28) {
    return Invalid(kReasonSimulationFailed, std::move(payer), kMessageBadV);
  }
  VerifyResponse ok;
  ok.is_valid = true;
  ok.payer = std::move(payer);
  return ok;
}

}  // namespace mandated::settlement
