// Strict parser and canonical JSON codec of mandate terms (specs/mandate.md §3, §5).
#include "mandates/model.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <utility>

#include "base/asset.h"
#include "base/json_scan.h"
#include "mandates/patterns.h"
#include "mandates/time_zone.h"

namespace mandated::mandates {
namespace {

// List size limits (specs/mandate.md §3.4).
constexpr size_t kMaxPayees = 100;
constexpr size_t kMaxCategories = 100;
constexpr size_t kMaxCountries = 250;
constexpr size_t kMaxAssets = 32;
constexpr size_t kMaxNetworks = 32;
constexpr size_t kMaxResources = 100;
constexpr size_t kMaxPerAssetEntries = 32;  // per_transaction, lifetime, above, session_cap
constexpr size_t kMaxWindows = 64;
constexpr size_t kMaxConstraints = 16;
constexpr int64_t kMaxUses = 1000000000;
constexpr int64_t kMaxIntervalSeconds = 366 * 24 * 3600;

constexpr std::array<std::string_view, 7> kDayNames = {"mon", "tue", "wed", "thu",
                                                       "fri", "sat", "sun"};

// ISO 3166-1 alpha-2 codes assigned today (as listed by tzdata's iso3166.tab), space separated.
constexpr std::string_view kCountries =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS "
    "BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE "
    "EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM "
    "HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC "
    "LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA "
    "NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW "
    "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO "
    "TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW ";

Status Fail(const std::string& pointer, const std::string& what, const char* reason) {
  return InvalidArgumentError(pointer + ": " + what, reason);
}

std::string At(const std::string& pointer, size_t i) { return pointer + "/" + std::to_string(i); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || IsDigit(c); }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

}  // namespace

// did:<method>:<method-specific-id> (W3C DID 1.0 §3.1 syntax), no path, query or fragment.
bool IsPayeeDid(std::string_view s) {
  if (s.size() > 512 || s.substr(0, 4) != "did:") {
    return false;
  }
  std::string_view rest = s.substr(4);
  size_t colon = rest.find(':');
  if (colon == 0 || colon == std::string_view::npos) {
    return false;
  }
  for (char c : rest.substr(0, colon)) {
    if (!IsLowerAlnum(c)) {
      return false;
    }
  }
  std::string_view id = rest.substr(colon + 1);
  if (id.empty() || id.back() == ':') {
    return false;
  }
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    if (c == '%') {
      if (i + 2 >= id.size() || !IsHex(id[i + 1]) || !IsHex(id[i + 2])) {
        return false;
      }
      i += 2;
      continue;
    }
    if (!(IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == '_' ||
          c == ':')) {
      return false;
    }
  }
  return true;
}

namespace {

char LowerAsciiChar(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
char UpperAsciiChar(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}
int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  c = LowerAsciiChar(c);
  return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}
bool IsUnreserved(char c) {  // RFC 3986 §2.3
  return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

// Lower-cases the ASCII letters of s[from, to), leaving %XX escapes (upper-case hex) alone.
void LowerOutsideEscapes(std::string& s, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i) {
    if (s[i] == '%') {
      i += 2;
    } else {
      s[i] = LowerAsciiChar(s[i]);
    }
  }
}

}  // namespace

std::string CanonicalPayeeDid(std::string_view did) {
  // RFC 3986 §6.2.2: %XX of an unreserved character decoded, other escapes in upper-case hex.
  std::string out;
  out.reserve(did.size());
  for (size_t i = 0; i < did.size(); ++i) {
    const int hi = did[i] == '%' && i + 2 < did.size() ? HexValue(did[i + 1]) : -1;
    const int lo = hi >= 0 ? HexValue(did[i + 2]) : -1;
    if (lo < 0) {
      out += did[i];
      continue;
    }
    const char c = static_cast<char>(hi * 16 + lo);
    if (IsUnreserved(c)) {
      out += c;
    } else {
      out += '%';
      out += UpperAsciiChar(did[i + 1]);
      out += UpperAsciiChar(did[i + 2]);
    }
    i += 2;
  }
  constexpr std::string_view kWeb = "did:web:";
  constexpr std::string_view kPkh = "did:pkh:";
  if (out.compare(0, kWeb.size(), kWeb) == 0) {
    // The host (with its %3A port) is case-insensitive; path components after ':' are not.
    const size_t host_end = std::min(out.find(':', kWeb.size()), out.size());
    LowerOutsideEscapes(out, kWeb.size(), host_end);
    // One host, one document (did:web resolves over https): a trailing dot (the same fully
    // qualified name) and the default port 443 spelled out are dropped.
    std::string host = out.substr(kWeb.size(), host_end - kWeb.size());
    std::string port;
    if (const size_t p = host.find("%3A"); p != std::string::npos) {
      port = host.substr(p);
      host.resize(p);
    }
    // The port as a URL parser reads it: an empty one or 443 (leading zeros dropped) is none.
    if (!port.empty()) {
      std::string digits = port.substr(3);
      if (std::all_of(digits.begin(), digits.end(), [](char c) { return IsDigit(c); })) {
        digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size()));
        port = digits.empty() || digits == "443" ? std::string() : "%3A" + digits;
      }
    }
    while (!host.empty() && host.back() == '.') host.pop_back();
    out = std::string(kWeb) + host + port + out.substr(host_end);
  } else if (out.compare(0, kPkh.size(), kPkh) == 0) {
    // did:pkh:eip155:<chain id>:<address>: a hex address (EIP-55 case is only a checksum).
    const size_t ns_end = std::min(out.find(':', kPkh.size()), out.size());
    std::string ns = out.substr(kPkh.size(), ns_end - kPkh.size());
    LowerOutsideEscapes(ns, 0, ns.size());
    if (ns == "eip155") {
      LowerOutsideEscapes(out, kPkh.size(), out.size());
    }
  }
  return out;
}

bool IsPayeeAddress(std::string_view s) {
  if (s.size() != 42 || s.substr(0, 2) != "0x") {
    return false;
  }
  for (char c : s.substr(2)) {
    if (!(IsDigit(c) || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

bool IsCategoryCode(std::string_view s) {
  return s.size() == 4 && IsDigit(s[0]) && IsDigit(s[1]) && IsDigit(s[2]) && IsDigit(s[3]);
}

bool IsCountryCode(std::string_view s) {
  if (s.size() != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z') {
    return false;
  }
  for (size_t i = 0; i + 2 <= kCountries.size(); i += 3) {
    if (kCountries.substr(i, 2) == s) {
      return true;
    }
  }
  return false;
}

namespace {

bool IsMandateId(std::string_view s) {
  if (s.substr(0, kMandateIdPrefix.size()) != kMandateIdPrefix) {
    return false;
  }
  std::string_view id = s.substr(kMandateIdPrefix.size());
  if (id.empty() || id.size() > 64) {
    return false;
  }
  for (char c : id) {
    if (!(IsLowerAlnum(c) || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

// Reverse-DNS constraint type: at least two '.'-separated labels of [a-z0-9_-], at most 128.
bool IsConstraintType(std::string_view s) {
  if (s.empty() || s.size() > 128) {
    return false;
  }
  size_t labels = 1;
  size_t label_len = 0;
  for (char c : s) {
    if (c == '.') {
      if (label_len == 0) {
        return false;
      }
      ++labels;
      label_len = 0;
    } else if (IsLowerAlnum(c) || c == '_' || c == '-') {
      ++label_len;
    } else {
      return false;
    }
  }
  return label_len > 0 && labels >= 2;
}

// --- value checks used by list parsers -------------------------------------------------------

Status CheckCategory(const std::string& v, const std::string& pointer) {
  if (!IsCategoryCode(v)) {
    return Fail(pointer, "\"" + v + "\" is not a four-digit merchant category code",
                "bad-category");
  }
  return OkStatus();
}

Status CheckCountry(const std::string& v, const std::string& pointer) {
  if (!IsCountryCode(v)) {
    return Fail(pointer, "\"" + v + "\" is not an assigned ISO 3166-1 alpha-2 code",
                "bad-country");
  }
  return OkStatus();
}

Status CheckAsset(const std::string& v, const std::string& pointer) {
  return ValidateAssetId(v).Annotate(pointer);
}

Status CheckNetwork(const std::string& v, const std::string& pointer) {
  return ValidateNetworkId(v).Annotate(pointer);
}

Status CheckResource(const std::string& v, const std::string& pointer) {
  if (!IsResourcePattern(v)) {
    return Fail(pointer, "not a resource URL pattern (specs/mandate.md §3.1.2)", "bad-resource");
  }
  return OkStatus();
}

Status CheckTimeZone(const std::string& v, const std::string& pointer) {
  if (!IsIanaTimeZone(v)) {
    return Fail(pointer, "\"" + v + "\" is not an IANA time zone name", "bad-time-zone");
  }
  return OkStatus();
}

// --- list parsers ----------------------------------------------------------------------------

Result<const std::vector<json::Value>*> ListAt(const json::Value& v, const std::string& pointer,
                                                size_t max_items) {
  if (!v.is_array()) {
    return Fail(pointer, "expected an array", "wrong-type");
  }
  if (v.items().empty()) {
    return Fail(pointer, "must not be empty (leave the member out instead)", "empty-list");
  }
  if (v.items().size() > max_items) {
    return Fail(pointer, "at most " + std::to_string(max_items) + " items", "too-many-items");
  }
  return &v.items();
}

// Parses each item with `item(value, pointer)`; equal items are "duplicate-item".
template <typename T, typename ItemFn>
Result<std::vector<T>> ParseList(const json::Value& v, const std::string& pointer,
                                 size_t max_items, ItemFn item) {
  MD_ASSIGN_OR_RETURN(const std::vector<json::Value>* items, ListAt(v, pointer, max_items));
  std::vector<T> out;
  out.reserve(items->size());
  for (size_t i = 0; i < items->size(); ++i) {
    const std::string at = At(pointer, i);
    Result<T> parsed = item((*items)[i], at);
    if (!parsed.ok()) {
      return std::move(parsed).error();
    }
    for (const T& seen : out) {
      if (seen == *parsed) {
        return Fail(at, "listed twice", "duplicate-item");
      }
    }
    out.push_back(std::move(parsed).value());
  }
  return out;
}

// An item reader for strings checked by `check`.
auto StringItem(Status (*check)(const std::string&, const std::string&)) {
  return [check](const json::Value& v, const std::string& pointer) -> Result<std::string> {
    if (!v.is_string()) {
      return Fail(pointer, "expected a string", "wrong-type");
    }
    MD_RETURN_IF_ERROR(check(v.as_string(), pointer));
    return v.as_string();
  };
}

Result<Payee> ParsePayee(const json::Value& v, const std::string& pointer) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, pointer));
  MD_ASSIGN_OR_RETURN(std::string type, r.String("type"));
  MD_ASSIGN_OR_RETURN(std::string value, r.String("value"));
  MD_RETURN_IF_ERROR(r.Finish());
  Payee p;
  p.value = std::move(value);
  bool ok = false;
  if (type == "did") {
    p.type = PayeeType::kDid;
    ok = IsPayeeDid(p.value);
  } else if (type == "domain") {
    p.type = PayeeType::kDomain;
    ok = IsDomainPattern(p.value);
  } else if (type == "address") {
    p.type = PayeeType::kAddress;
    ok = IsPayeeAddress(p.value);
  } else {
    return Fail(pointer + "/type", "payee type must be did, domain or address", "bad-payee");
  }
  if (!ok) {
    return Fail(pointer + "/value", "not a valid " + type + " payee", "bad-payee");
  }
  return p;
}

template <typename T, typename ItemFn>
Result<AllowBlock<T>> ParseAllowBlock(const json::Value& v, const std::string& pointer,
                                      size_t max_items, ItemFn item) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, pointer));
  const json::Value* allow = r.Optional("allow");
  const json::Value* block = r.Optional("block");
  MD_RETURN_IF_ERROR(r.Finish());
  if (allow == nullptr && block == nullptr) {
    return Fail(pointer, "give allow, block or both (or leave the member out)", "empty-object");
  }
  AllowBlock<T> out;
  if (allow != nullptr) {
    MD_ASSIGN_OR_RETURN(out.allow, ParseList<T>(*allow, pointer + "/allow", max_items, item));
  }
  if (block != nullptr) {
    MD_ASSIGN_OR_RETURN(out.block, ParseList<T>(*block, pointer + "/block", max_items, item));
  }
  for (size_t j = 0; j < out.block.size(); ++j) {
    for (const T& a : out.allow) {
      if (a == out.block[j]) {
        return Fail(At(pointer + "/block", j), "also in the allow list", "allow-block-overlap");
      }
    }
  }
  return out;
}

Result<std::vector<std::string>> ParseAllowOnly(
    const json::Value& v, const std::string& pointer, size_t max_items,
    Status (*check)(const std::string&, const std::string&)) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, pointer));
  const json::Value* allow = r.Optional("allow");
  // Members other than allow first (block is unknown here, §3.1), then an empty dimension (§5).
  MD_RETURN_IF_ERROR(r.Finish());
  if (allow == nullptr) {
    return Fail(pointer, "give allow (or leave the member out)", "empty-object");
  }
  return ParseList<std::string>(*allow, pointer + "/allow", max_items, StringItem(check));
}

Result<Scope> ParseScope(const json::Value& v, const std::string& pointer) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, pointer));
  const json::Value* payees = r.Optional("payees");
  const json::Value* categories = r.Optional("categories");
  const json::Value* countries = r.Optional("countries");
  const json::Value* assets = r.Optional("assets");
  const json::Value* networks = r.Optional("networks");
  const json::Value* resources = r.Optional("resources");
  MD_RETURN_IF_ERROR(r.Finish());
  if (v.size() == 0) {
    return Fail(pointer, "must restrict something (or leave the member out)", "empty-object");
  }
  Scope s;
  if (payees != nullptr) {
    MD_ASSIGN_OR_RETURN(s.payees,
                        ParseAllowBlock<Payee>(*payees, pointer + "/payees", kMaxPayees, ParsePayee));
  }
  if (categories != nullptr) {
    MD_ASSIGN_OR_RETURN(s.categories,
                        ParseAllowBlock<std::string>(*categories, pointer + "/categories",
                                                     kMaxCategories, StringItem(CheckCategory)));
  }
  if (countries != nullptr) {
    MD_ASSIGN_OR_RETURN(s.countries,
                        ParseAllowBlock<std::string>(*countries, pointer + "/countries",
                                                     kMaxCountries, StringItem(CheckCountry)));
  }
  if (assets != nullptr) {
    MD_ASSIGN_OR_RETURN(s.assets,
                        ParseAllowOnly(*assets, pointer + "/assets", kMaxAssets, CheckAsset));
  }
  if (networks != nullptr) {
    MD_ASSIGN_OR_RETURN(s.networks, ParseAllowOnly(*networks, pointer + "/networks",
                                                   kMaxNetworks, CheckNetwork));
  }
  if (resources != nullptr) {
    MD_ASSIGN_OR_RETURN(s.resources, ParseAllowOnly(*resources, pointer + "/resources",
                                                    kMaxResources, CheckResource));
  }
  return s;
}

// Parses a list of per-asset entries; a second entry for an asset is "duplicate-limit".
template <typename T, typename ItemFn>
Result<std::vector<T>> ParsePerAsset(const json::Value& v, const std::string& pointer,
                                     ItemFn item) {
  MD_ASSIGN_OR_RETURN(const std::vector<json::Value>* items,
                      ListAt(v, pointer, kMaxPerAssetEntries));
  std::vector<T> out;
  for (size_t i = 0; i < items->size(); ++i) {
    const std::string at = At(pointer, i);
    Result<T> parsed = item((*items)[i], at);
    if (!parsed.ok()) {
      return std::move(parsed).error();
    }
    for (const T& seen : out) {
      if (seen.asset == parsed->asset) {
        return Fail(at, "a second entry for asset " + seen.asset, "duplicate-limit");
      }
    }
    out.push_back(std::move(parsed).value());
  }
  return out;
}

Result<AssetMax> ParseAssetMax(const json::Value& v, const std::string& pointer) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, pointer));
  AssetMax m;
  MD_ASSIGN_OR_RETURN(m.asset, r.String("asset"));
  MD_ASSIGN_OR_RETURN(m.max, r.AmountField("max"));
  MD_RETURN_IF_ERROR(r.Finish());
  MD_RETURN_IF_ERROR(CheckAsset(m.asset, pointer + "/asset"));
  return m;
}

Result<PerTransactionLimit> ParsePerTransaction(const json::Value& v,
                                                const std::string& pointer) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, pointer));
  PerTransactionLimit l;
  MD_ASSIGN_OR_RETURN(l.asset, r.String("asset"));
  MD_ASSIGN_OR_RETURN(l.min, r.OptionalAmount("min"));
  MD_ASSIGN_OR_RETURN(l.max, r.AmountField("max"));
  MD_RETURN_IF_ERROR(r.Finish());
  MD_RETURN_IF_ERROR(CheckAsset(l.asset, pointer + "/asset"));
  if (l.min.has_value() && *l.min > l.max) {
    return Fail(pointer + "/min", "greater than max", "min-above-max");
  }
  return l;
}

Result<WindowLimit> ParseWindow(const json::Value& v, const std::string& pointer) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, pointer));
  WindowLimit w;
  MD_ASSIGN_OR_RETURN(w.asset, r.String("asset"));
  MD_ASSIGN_OR_RETURN(std::string unit, r.String("window"));
  MD_ASSIGN_OR_RETURN(std::string kind, r.String("kind"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> tz, r.OptionalString("time_zone"));
  MD_ASSIGN_OR_RETURN(w.max, r.AmountField("max"));
  MD_RETURN_IF_ERROR(r.Finish());
  MD_RETURN_IF_ERROR(CheckAsset(w.asset, pointer + "/asset"));
  static constexpr std::array<std::pair<std::string_view, WindowUnit>, 6> kUnits = {{
      {"minute", WindowUnit::kMinute},
      {"hour", WindowUnit::kHour},
      {"day", WindowUnit::kDay},
      {"week", WindowUnit::kWeek},
      {"month", WindowUnit::kMonth},
      {"year", WindowUnit::kYear},
  }};
  bool found = false;
  for (const auto& [name, value] : kUnits) {
    if (unit == name) {
      w.window = value;
      found = true;
    }
  }
  if (!found) {
    return Fail(pointer + "/window",
                "must be one of minute, hour, day, week, month, year (lifetime budgets go in "
                "/limits/lifetime)",
                "bad-window");
  }
  if (kind == "calendar") {
    w.kind = WindowKind::kCalendar;
  } else if (kind == "rolling") {
    w.kind = WindowKind::kRolling;
  } else {
    return Fail(pointer + "/kind", "must be calendar or rolling", "bad-window-kind");
  }
  if (w.kind == WindowKind::kCalendar) {
    if (!tz.has_value()) {
      return Fail(pointer + "/time_zone", "a calendar window needs an IANA time zone",
                  "missing-time-zone");
    }
    MD_RETURN_IF_ERROR(CheckTimeZone(*tz, pointer + "/time_zone"));
    w.time_zone = *tz;
  } else if (tz.has_value()) {
    return Fail(pointer + "/time_zone", "a rolling window has no time zone",
                "unexpected-time-zone");
  }
  return w;
}

Result<Limits> ParseLimits(const json::Value& v, const std::string& pointer) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, pointer));
  const json::Value* per_tx = r.Optional("per_transaction");
  const json::Value* windows = r.Optional("windows");
  const json::Value* lifetime = r.Optional("lifetime");
  Limits l;
  MD_ASSIGN_OR_RETURN(l.max_uses, r.OptionalInt("max_uses"));
  MD_ASSIGN_OR_RETURN(l.min_interval_seconds, r.OptionalInt("min_interval_seconds"));
  MD_RETURN_IF_ERROR(r.Finish());
  if (per_tx != nullptr) {
    MD_ASSIGN_OR_RETURN(l.per_transaction, ParsePerAsset<PerTransactionLimit>(
                                               *per_tx, pointer + "/per_transaction",
                                               ParsePerTransaction));
  }
  if (windows != nullptr) {
    const std::string wp = pointer + "/windows";
    MD_ASSIGN_OR_RETURN(const std::vector<json::Value>* items, ListAt(*windows, wp, kMaxWindows));
    for (size_t i = 0; i < items->size(); ++i) {
      MD_ASSIGN_OR_RETURN(WindowLimit w, ParseWindow((*items)[i], At(wp, i)));
      for (const WindowLimit& seen : l.windows) {
        if (seen.asset == w.asset && seen.window == w.window && seen.kind == w.kind) {
          return Fail(At(wp, i),
                      "a second " + std::string(WindowKindName(w.kind)) + " " +
                          std::string(WindowUnitName(w.window)) + " window for " + w.asset,
                      "duplicate-limit");
        }
      }
      l.windows.push_back(std::move(w));
    }
  }
  if (lifetime != nullptr) {
    MD_ASSIGN_OR_RETURN(l.lifetime,
                        ParsePerAsset<AssetMax>(*lifetime, pointer + "/lifetime", ParseAssetMax));
  }
  if (l.max_uses.has_value() && (*l.max_uses < 1 || *l.max_uses > kMaxUses)) {
    return Fail(pointer + "/max_uses", "must be 1 to " + std::to_string(kMaxUses),
                "bad-max-uses");
  }
  if (l.min_interval_seconds.has_value() &&
      (*l.min_interval_seconds < 1 || *l.min_interval_seconds > kMaxIntervalSeconds)) {
    return Fail(pointer + "/min_interval_seconds",
                "must be 1 to " + std::to_string(kMaxIntervalSeconds), "bad-min-interval");
  }
  if (l.per_transaction.empty() && l.windows.empty() && l.lifetime.empty()) {
    return Fail(pointer,
                "give at least one amount limit (per_transaction, windows or lifetime)",
                "no-limits");
  }
  return l;
}

// "HH:MM", 00:00 to 23:59, or "24:00" when `allow_24`. Returns minutes or -1.
int ParseClock(std::string_view s, bool allow_24) {
  if (s.size() != 5 || !IsDigit(s[0]) || !IsDigit(s[1]) || s[2] != ':' || !IsDigit(s[3]) ||
      !IsDigit(s[4])) {
    return -1;
  }
  const int h = (s[0] - '0') * 10 + (s[1] - '0');
  const int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h == 24 && m == 0 && allow_24) {
    return 24 * 60;
  }
  if (h > 23 || m > 59) {
    return -1;
  }
  return h * 60 + m;
}

std::string FormatClock(int minutes) {
  std::string out = "00:00";
  out[0] = static_cast<char>('0' + minutes / 600);
  out[1] = static_cast<char>('0' + (minutes / 60) % 10);
  out[3] = static_cast<char>('0' + (minutes % 60) / 10);
  out[4] = static_cast<char>('0' + minutes % 10);
  return out;
}

Result<BusinessHours> ParseHours(const json::Value& v, const std::string& pointer) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, pointer));
  BusinessHours h;
  MD_ASSIGN_OR_RETURN(h.time_zone, r.String("time_zone"));
  MD_ASSIGN_OR_RETURN(const json::Value* days, r.Required("days"));
  MD_ASSIGN_OR_RETURN(std::string start, r.String("start"));
  MD_ASSIGN_OR_RETURN(std::string end, r.String("end"));
  MD_RETURN_IF_ERROR(r.Finish());
  MD_RETURN_IF_ERROR(CheckTimeZone(h.time_zone, pointer + "/time_zone"));
  const std::string dp = pointer + "/days";
  MD_ASSIGN_OR_RETURN(const std::vector<json::Value>* items, ListAt(*days, dp, kDayNames.size()));
  for (size_t i = 0; i < items->size(); ++i) {
    const std::string at = At(dp, i);
    const json::Value& d = (*items)[i];
    if (!d.is_string()) {
      return Fail(at, "expected a string", "wrong-type");
    }
    int day = -1;
    for (size_t k = 0; k < kDayNames.size(); ++k) {
      if (d.as_string() == kDayNames[k]) {
        day = static_cast<int>(k);
      }
    }
    if (day < 0) {
      return Fail(at, "days are mon, tue, wed, thu, fri, sat, sun", "bad-days");
    }
    if (!h.days.empty() && h.days.back() == day) {
      return Fail(at, "listed twice", "duplicate-item");
    }
    if (!h.days.empty() && h.days.back() > day) {
      return Fail(at, "days must be in order, Monday first", "bad-days");
    }
    h.days.push_back(day);
  }
  h.start_minute = ParseClock(start, false);
  if (h.start_minute < 0) {
    return Fail(pointer + "/start", "expected \"HH:MM\" from 00:00 to 23:59", "bad-hours");
  }
  h.end_minute = ParseClock(end, true);
  if (h.end_minute < 0) {
    return Fail(pointer + "/end", "expected \"HH:MM\" from 00:01 to 24:00", "bad-hours");
  }
  if (h.end_minute <= h.start_minute) {
    return Fail(pointer + "/end", "must be after start (hours never span midnight)",
                "bad-hours");
  }
  return h;
}

Result<Threshold> ParseThreshold(const json::Value& v, const std::string& pointer) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, pointer));
  Threshold t;
  MD_ASSIGN_OR_RETURN(t.asset, r.String("asset"));
  MD_ASSIGN_OR_RETURN(t.amount, r.AmountField("amount"));
  MD_RETURN_IF_ERROR(r.Finish());
  MD_RETURN_IF_ERROR(CheckAsset(t.asset, pointer + "/asset"));
  return t;
}

Result<StepUp> ParseStepUp(const json::Value& v, const std::string& pointer) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, pointer));
  const json::Value* above = r.Optional("above");
  const json::Value* hours = r.Optional("outside_hours");
  MD_RETURN_IF_ERROR(r.Finish());
  if (above == nullptr && hours == nullptr) {
    return Fail(pointer, "give above, outside_hours or both (or leave the member out)",
                "empty-object");
  }
  StepUp s;
  if (above != nullptr) {
    MD_ASSIGN_OR_RETURN(s.above,
                        ParsePerAsset<Threshold>(*above, pointer + "/above", ParseThreshold));
  }
  if (hours != nullptr) {
    MD_ASSIGN_OR_RETURN(BusinessHours h, ParseHours(*hours, pointer + "/outside_hours"));
    s.outside_hours = std::move(h);
  }
  return s;
}

Result<std::vector<Constraint>> ParseConstraints(const json::Value& v,
                                                 const std::string& pointer) {
  MD_ASSIGN_OR_RETURN(const std::vector<json::Value>* items,
                      ListAt(v, pointer, kMaxConstraints));
  std::vector<Constraint> out;
  for (size_t i = 0; i < items->size(); ++i) {
    const std::string at = At(pointer, i);
    const json::Value& item = (*items)[i];
    if (!item.is_object()) {
      return Fail(at, "expected a JSON object", "wrong-type");
    }
    const json::Value* type = item.Find("type");
    if (type == nullptr) {
      return Fail(at + "/type", "required field is missing", "missing-field");
    }
    if (!type->is_string()) {
      return Fail(at + "/type", "expected a string", "wrong-type");
    }
    if (!IsConstraintType(type->as_string())) {
      return Fail(at + "/type", "constraint types are reverse-DNS names", "bad-constraint");
    }
    if (!IsImplementedConstraint(type->as_string())) {
      return Fail(at + "/type",
                  "constraint type \"" + type->as_string() +
                      "\" is not implemented by this service; the mandate cannot be honoured",
                  "unknown-constraint");
    }
    for (const Constraint& seen : out) {
      if (seen.body == item) {
        return Fail(at, "listed twice", "duplicate-item");
      }
    }
    out.push_back(Constraint{type->as_string(), item});
  }
  return out;
}

// Every asset the terms name must be in /scope/assets/allow when that list is given.
Status CheckAssetsAllowed(const MandateTerms& t, const std::string& base) {
  if (t.scope.assets.empty()) {
    return OkStatus();
  }
  auto check = [&](const std::string& asset, const std::string& pointer) -> Status {
    for (const std::string& a : t.scope.assets) {
      if (a == asset) {
        return OkStatus();
      }
    }
    return Fail(pointer, "asset " + asset + " is not in /scope/assets/allow", "asset-not-allowed");
  };
  for (size_t i = 0; i < t.limits.per_transaction.size(); ++i) {
    MD_RETURN_IF_ERROR(check(t.limits.per_transaction[i].asset,
                             At(base + "/limits/per_transaction", i) + "/asset"));
  }
  for (size_t i = 0; i < t.limits.windows.size(); ++i) {
    MD_RETURN_IF_ERROR(check(t.limits.windows[i].asset, At(base + "/limits/windows", i) + "/asset"));
  }
  for (size_t i = 0; i < t.limits.lifetime.size(); ++i) {
    MD_RETURN_IF_ERROR(
        check(t.limits.lifetime[i].asset, At(base + "/limits/lifetime", i) + "/asset"));
  }
  for (size_t i = 0; i < t.step_up.above.size(); ++i) {
    MD_RETURN_IF_ERROR(check(t.step_up.above[i].asset, At(base + "/step_up/above", i) + "/asset"));
  }
  for (size_t i = 0; i < t.session_cap.size(); ++i) {
    MD_RETURN_IF_ERROR(check(t.session_cap[i].asset, At(base + "/session_cap", i) + "/asset"));
  }
  return OkStatus();
}

// --- single-pass twin of ParseMandateTerms over json::Scanner ------------------------------------
// Each Scan* below refuses (returns false with the scanner failed) everything its Parse* twin
// above refuses, and when it accepts, gives a value equal to the twin's. It also refuses some
// inputs the twin accepts (see json_scan.h); the caller then falls back to the twin. Keep the two
// in step: tests/mandates/credential_scan_test.cc compares them.

using json::Scanner;

using json::MemberIndex;

bool ScanString(Scanner& s, std::string& out) {
  std::string_view v;
  if (!s.String(v)) {
    return false;
  }
  out.assign(v);
  return true;
}

bool ScanAmount(Scanner& s, Amount& out) {
  std::string_view v;
  if (!s.String(v)) {
    return false;
  }
  Result<Amount> a = Amount::Parse(v);
  if (!a.ok()) {
    return s.Fail();
  }
  out = *a;
  return true;
}

bool ScanInt(Scanner& s, std::optional<int64_t>& out) {
  uint64_t v = 0;
  if (!s.Uint(v, static_cast<uint64_t>(INT64_MAX))) {
    return false;
  }
  out = static_cast<int64_t>(v);
  return true;
}

bool AssetOk(std::string_view v) { return ValidateAssetId(v).ok(); }
bool NetworkOk(std::string_view v) { return ValidateNetworkId(v).ok(); }

// A non-empty array of at most `max_items` whose items `same` never matches pairwise.
template <typename T, typename ItemFn, typename SameFn>
bool ScanUnique(Scanner& s, size_t max_items, std::vector<T>& out, ItemFn item, SameFn same) {
  if (!s.BeginArray()) {
    return false;
  }
  bool first = true;
  while (s.NextItem(first)) {
    if (out.size() == max_items) {
      return s.Fail();
    }
    T v;
    if (!item(s, v)) {
      return s.Fail();
    }
    for (const T& seen : out) {
      if (same(seen, v)) {
        return s.Fail();
      }
    }
    out.push_back(std::move(v));
  }
  return s.ok() && !out.empty() ? true : s.Fail();
}

// ParseList's twin: a non-empty array of at most `max_items`, no item twice.
template <typename T, typename ItemFn>
bool ScanList(Scanner& s, size_t max_items, std::vector<T>& out, ItemFn item) {
  return ScanUnique(s, max_items, out, item, [](const T& x, const T& y) { return x == y; });
}

// StringItem's twin.
auto StringScan(bool (*check)(std::string_view)) {
  return [check](Scanner& s, std::string& out) {
    std::string_view v;
    if (!s.String(v) || !check(v)) {
      return s.Fail();
    }
    out.assign(v);
    return true;
  };
}

bool ScanPayee(Scanner& s, Payee& p) {
  static constexpr std::array<std::string_view, 2> kNames = {"type", "value"};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = 0;
  bool first = true;
  std::string_view key, type, value;
  while (s.NextMember(first, key)) {
    const int m = MemberIndex(s, key, kNames, seen);
    if (!(m == 0 ? s.String(type) : m == 1 ? s.String(value) : false)) {
      return s.Fail();
    }
  }
  if (!s.ok() || seen != 3) {
    return s.Fail();
  }
  bool ok = false;
  if (type == "did") {
    p.type = PayeeType::kDid;
    ok = IsPayeeDid(value);
  } else if (type == "domain") {
    p.type = PayeeType::kDomain;
    ok = IsDomainPattern(value);
  } else if (type == "address") {
    p.type = PayeeType::kAddress;
    ok = IsPayeeAddress(value);
  }
  if (!ok) {
    return s.Fail();
  }
  p.value.assign(value);
  return true;
}

template <typename T, typename ItemFn>
bool ScanAllowBlock(Scanner& s, size_t max_items, AllowBlock<T>& out, ItemFn item) {
  static constexpr std::array<std::string_view, 2> kNames = {"allow", "block"};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = 0;
  bool first = true;
  std::string_view key;
  while (s.NextMember(first, key)) {
    const int m = MemberIndex(s, key, kNames, seen);
    if (m < 0 || !ScanList(s, max_items, m == 0 ? out.allow : out.block, item)) {
      return s.Fail();
    }
  }
  if (!s.ok() || seen == 0) {
    return s.Fail();
  }
  for (const T& b : out.block) {
    for (const T& a : out.allow) {
      if (a == b) {
        return s.Fail();
      }
    }
  }
  return true;
}

bool ScanAllowOnly(Scanner& s, size_t max_items, std::vector<std::string>& out,
                   bool (*check)(std::string_view)) {
  static constexpr std::array<std::string_view, 1> kNames = {"allow"};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = 0;
  bool first = true;
  std::string_view key;
  while (s.NextMember(first, key)) {
    if (MemberIndex(s, key, kNames, seen) != 0 || !ScanList(s, max_items, out, StringScan(check))) {
      return s.Fail();
    }
  }
  return s.ok() && seen == 1 ? true : s.Fail();
}

bool ScanScope(Scanner& s, Scope& out) {
  static constexpr std::array<std::string_view, 6> kNames = {
      "payees", "categories", "countries", "assets", "networks", "resources"};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = 0;
  bool first = true;
  std::string_view key;
  while (s.NextMember(first, key)) {
    bool ok = false;
    switch (MemberIndex(s, key, kNames, seen)) {
      case 0: ok = ScanAllowBlock(s, kMaxPayees, out.payees, ScanPayee); break;
      case 1: ok = ScanAllowBlock(s, kMaxCategories, out.categories, StringScan(IsCategoryCode)); break;
      case 2: ok = ScanAllowBlock(s, kMaxCountries, out.countries, StringScan(IsCountryCode)); break;
      case 3: ok = ScanAllowOnly(s, kMaxAssets, out.assets, AssetOk); break;
      case 4: ok = ScanAllowOnly(s, kMaxNetworks, out.networks, NetworkOk); break;
      case 5: ok = ScanAllowOnly(s, kMaxResources, out.resources, IsResourcePattern); break;
      default: break;
    }
    if (!ok) {
      return s.Fail();
    }
  }
  return s.ok() && seen != 0 ? true : s.Fail();
}

// ParsePerAsset's twin: a non-empty array of at most kMaxPerAssetEntries, one entry per asset.
template <typename T, typename ItemFn>
bool ScanPerAsset(Scanner& s, std::vector<T>& out, ItemFn item) {
  return ScanUnique(s, kMaxPerAssetEntries, out, item,
                    [](const T& x, const T& y) { return x.asset == y.asset; });
}

// {"asset", <amount member>} for AssetMax ("max") and Threshold ("amount").
template <typename T, Amount T::*kAmount>
bool ScanAssetAmount(Scanner& s, T& out, std::string_view amount_name) {
  const std::array<std::string_view, 2> names = {"asset", amount_name};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = 0;
  bool first = true;
  std::string_view key;
  while (s.NextMember(first, key)) {
    const int m = MemberIndex(s, key, names, seen);
    if (!(m == 0 ? ScanString(s, out.asset) : m == 1 ? ScanAmount(s, out.*kAmount) : false)) {
      return s.Fail();
    }
  }
  return s.ok() && seen == 3 && AssetOk(out.asset) ? true : s.Fail();
}

bool ScanAssetMax(Scanner& s, AssetMax& out) {
  return ScanAssetAmount<AssetMax, &AssetMax::max>(s, out, "max");
}

bool ScanThreshold(Scanner& s, Threshold& out) {
  return ScanAssetAmount<Threshold, &Threshold::amount>(s, out, "amount");
}

bool ScanPerTransaction(Scanner& s, PerTransactionLimit& out) {
  static constexpr std::array<std::string_view, 3> kNames = {"asset", "min", "max"};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = 0;
  bool first = true;
  std::string_view key;
  while (s.NextMember(first, key)) {
    bool ok = false;
    switch (MemberIndex(s, key, kNames, seen)) {
      case 0: ok = ScanString(s, out.asset); break;
      case 1: ok = ScanAmount(s, out.min.emplace()); break;
      case 2: ok = ScanAmount(s, out.max); break;
      default: break;
    }
    if (!ok) {
      return s.Fail();
    }
  }
  if (!s.ok() || (seen & 5) != 5 || !AssetOk(out.asset) ||
      (out.min.has_value() && *out.min > out.max)) {
    return s.Fail();
  }
  return true;
}

bool ScanWindow(Scanner& s, WindowLimit& out) {
  static constexpr std::array<std::string_view, 5> kNames = {"asset", "window", "kind",
                                                             "time_zone", "max"};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = 0;
  bool first = true;
  std::string_view key, unit, kind, tz;
  while (s.NextMember(first, key)) {
    bool ok = false;
    switch (MemberIndex(s, key, kNames, seen)) {
      case 0: ok = ScanString(s, out.asset); break;
      case 1: ok = s.String(unit); break;
      case 2: ok = s.String(kind); break;
      case 3: ok = s.String(tz); break;
      case 4: ok = ScanAmount(s, out.max); break;
      default: break;
    }
    if (!ok) {
      return s.Fail();
    }
  }
  if (!s.ok() || (seen & 0b10111) != 0b10111 || !AssetOk(out.asset)) {
    return s.Fail();
  }
  bool found = false;
  for (WindowUnit u : {WindowUnit::kMinute, WindowUnit::kHour, WindowUnit::kDay,
                       WindowUnit::kWeek, WindowUnit::kMonth, WindowUnit::kYear}) {
    if (unit == WindowUnitName(u)) {
      out.window = u;
      found = true;
    }
  }
  const bool has_tz = (seen & 0b01000) != 0;
  if (!found) {
    return s.Fail();
  }
  if (kind == "calendar") {
    if (!has_tz || !IsIanaTimeZone(tz)) {
      return s.Fail();
    }
    out.kind = WindowKind::kCalendar;
    out.time_zone.assign(tz);
  } else if (kind == "rolling") {
    if (has_tz) {
      return s.Fail();
    }
    out.kind = WindowKind::kRolling;
  } else {
    return s.Fail();
  }
  return true;
}

bool ScanWindows(Scanner& s, std::vector<WindowLimit>& out) {
  // One window per asset, span and kind.
  return ScanUnique(s, kMaxWindows, out, ScanWindow,
                    [](const WindowLimit& x, const WindowLimit& y) {
                      return x.asset == y.asset && x.window == y.window && x.kind == y.kind;
                    });
}

bool ScanLimits(Scanner& s, Limits& out) {
  static constexpr std::array<std::string_view, 5> kNames = {
      "per_transaction", "windows", "lifetime", "max_uses", "min_interval_seconds"};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = 0;
  bool first = true;
  std::string_view key;
  while (s.NextMember(first, key)) {
    bool ok = false;
    switch (MemberIndex(s, key, kNames, seen)) {
      case 0: ok = ScanPerAsset(s, out.per_transaction, ScanPerTransaction); break;
      case 1: ok = ScanWindows(s, out.windows); break;
      case 2: ok = ScanPerAsset(s, out.lifetime, ScanAssetMax); break;
      case 3: ok = ScanInt(s, out.max_uses); break;
      case 4: ok = ScanInt(s, out.min_interval_seconds); break;
      default: break;
    }
    if (!ok) {
      return s.Fail();
    }
  }
  if (!s.ok() || (out.max_uses.has_value() && (*out.max_uses < 1 || *out.max_uses > kMaxUses)) ||
      (out.min_interval_seconds.has_value() &&
       (*out.min_interval_seconds < 1 || *out.min_interval_seconds > kMaxIntervalSeconds)) ||
      (out.per_transaction.empty() && out.windows.empty() && out.lifetime.empty())) {
    return s.Fail();
  }
  return true;
}

bool ScanHours(Scanner& s, BusinessHours& out) {
  static constexpr std::array<std::string_view, 4> kNames = {"time_zone", "days", "start", "end"};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = 0;
  bool first = true;
  std::string_view key, start, end;
  while (s.NextMember(first, key)) {
    bool ok = false;
    switch (MemberIndex(s, key, kNames, seen)) {
      case 0: ok = ScanString(s, out.time_zone); break;
      case 1: {
        ok = s.BeginArray();
        bool first_day = true;
        while (ok && s.NextItem(first_day)) {
          std::string_view name;
          int day = -1;
          ok = s.String(name);
          for (size_t k = 0; k < kDayNames.size(); ++k) {
            if (name == kDayNames[k]) {
              day = static_cast<int>(k);
            }
          }
          // Strictly ascending (which also refuses a day twice), at most seven.
          ok = ok && day >= 0 && (out.days.empty() || out.days.back() < day);
          if (ok) {
            out.days.push_back(day);
          }
        }
        ok = ok && s.ok() && !out.days.empty();
        break;
      }
      case 2: ok = s.String(start); break;
      case 3: ok = s.String(end); break;
      default: break;
    }
    if (!ok) {
      return s.Fail();
    }
  }
  if (!s.ok() || seen != 15 || !IsIanaTimeZone(out.time_zone)) {
    return s.Fail();
  }
  out.start_minute = ParseClock(start, false);
  out.end_minute = ParseClock(end, true);
  if (out.start_minute < 0 || out.end_minute < 0 || out.end_minute <= out.start_minute) {
    return s.Fail();
  }
  return true;
}

bool ScanStepUp(Scanner& s, StepUp& out) {
  static constexpr std::array<std::string_view, 2> kNames = {"above", "outside_hours"};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = 0;
  bool first = true;
  std::string_view key;
  while (s.NextMember(first, key)) {
    const int m = MemberIndex(s, key, kNames, seen);
    if (!(m == 0 ? ScanPerAsset(s, out.above, ScanThreshold)
                 : m == 1 ? ScanHours(s, out.outside_hours.emplace()) : false)) {
      return s.Fail();
    }
  }
  return s.ok() && seen != 0 ? true : s.Fail();
}

// CheckAssetsAllowed's twin, without its pointers.
bool AssetsAllowed(const MandateTerms& t) {
  if (t.scope.assets.empty()) {
    return true;
  }
  auto allowed = [&](const std::string& asset) {
    for (const std::string& a : t.scope.assets) {
      if (a == asset) return true;
    }
    return false;
  };
  for (const auto& l : t.limits.per_transaction) if (!allowed(l.asset)) return false;
  for (const auto& w : t.limits.windows) if (!allowed(w.asset)) return false;
  for (const auto& l : t.limits.lifetime) if (!allowed(l.asset)) return false;
  for (const auto& a : t.step_up.above) if (!allowed(a.asset)) return false;
  for (const auto& c : t.session_cap) if (!allowed(c.asset)) return false;
  return true;
}

}  // namespace

bool ScanMandateTerms(json::Scanner& s, MandateTerms& out) {
  // "constraints" is not among the names: no constraint type is implemented, so any entry makes
  // the terms invalid, and the twin names the reason.
  static constexpr std::array<std::string_view, 5> kNames = {"parent", "scope", "limits",
                                                             "step_up", "session_cap"};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = 0;
  bool first = true;
  std::string_view key;
  while (s.NextMember(first, key)) {
    bool ok = false;
    switch (MemberIndex(s, key, kNames, seen)) {
      case 0: ok = ScanString(s, out.parent) && IsMandateId(out.parent); break;
      case 1: ok = ScanScope(s, out.scope); break;
      case 2: ok = ScanLimits(s, out.limits); break;
      case 3: ok = ScanStepUp(s, out.step_up); break;
      case 4: ok = ScanPerAsset(s, out.session_cap, ScanAssetMax); break;
      default: break;
    }
    if (!ok) {
      return s.Fail();
    }
  }
  return s.ok() && (seen & 4) != 0 && AssetsAllowed(out) ? true : s.Fail();
}

namespace {

// --- writers -----------------------------------------------------------------------------------

json::Value Str(const std::string& s) { return json::Value::String(s); }
json::Value Amt(const Amount& a) { return json::Value::String(a.ToString()); }

json::Value StringList(const std::vector<std::string>& items) {
  json::Value a = json::Value::Array();
  for (const std::string& s : items) {
    a.Append(Str(s));
  }
  return a;
}

json::Value PayeeList(const std::vector<Payee>& items) {
  json::Value a = json::Value::Array();
  for (const Payee& p : items) {
    json::Value o = json::Value::Object();
    o.Set("type", Str(std::string(PayeeTypeName(p.type))));
    o.Set("value", Str(p.value));
    a.Append(std::move(o));
  }
  return a;
}

template <typename T, typename ListFn>
void SetAllowBlock(json::Value& parent, std::string_view key, const AllowBlock<T>& ab,
                   ListFn list) {
  if (ab.allow.empty() && ab.block.empty()) {
    return;
  }
  json::Value o = json::Value::Object();
  if (!ab.allow.empty()) {
    o.Set("allow", list(ab.allow));
  }
  if (!ab.block.empty()) {
    o.Set("block", list(ab.block));
  }
  parent.Set(key, std::move(o));
}

void SetAllowOnly(json::Value& parent, std::string_view key,
                  const std::vector<std::string>& allow) {
  if (allow.empty()) {
    return;
  }
  json::Value o = json::Value::Object();
  o.Set("allow", StringList(allow));
  parent.Set(key, std::move(o));
}

json::Value AssetMaxList(const std::vector<AssetMax>& items) {
  json::Value a = json::Value::Array();
  for (const AssetMax& m : items) {
    json::Value o = json::Value::Object();
    o.Set("asset", Str(m.asset));
    o.Set("max", Amt(m.max));
    a.Append(std::move(o));
  }
  return a;
}

}  // namespace

std::string_view PayeeTypeName(PayeeType type) {
  switch (type) {
    case PayeeType::kDid:
      return "did";
    case PayeeType::kDomain:
      return "domain";
    case PayeeType::kAddress:
      return "address";
  }
  return "did";
}

std::string_view WindowUnitName(WindowUnit unit) {
  switch (unit) {
    case WindowUnit::kMinute:
      return "minute";
    case WindowUnit::kHour:
      return "hour";
    case WindowUnit::kDay:
      return "day";
    case WindowUnit::kWeek:
      return "week";
    case WindowUnit::kMonth:
      return "month";
    case WindowUnit::kYear:
      return "year";
  }
  return "day";
}

std::string_view WindowKindName(WindowKind kind) {
  return kind == WindowKind::kCalendar ? "calendar" : "rolling";
}

bool IsImplementedConstraint(std::string_view /*type*/) { return false; }

Result<MandateTerms> ParseMandateTerms(const json::Value& v, std::string_view pointer) {
  const std::string base(pointer);
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, base));
  MandateTerms t;
  MD_ASSIGN_OR_RETURN(std::optional<std::string> parent, r.OptionalString("parent"));
  const json::Value* scope = r.Optional("scope");
  MD_ASSIGN_OR_RETURN(const json::Value* limits, r.Required("limits"));
  const json::Value* step_up = r.Optional("step_up");
  const json::Value* session_cap = r.Optional("session_cap");
  const json::Value* constraints = r.Optional("constraints");
  MD_RETURN_IF_ERROR(r.Finish());
  if (parent.has_value()) {
    if (!IsMandateId(*parent)) {
      return Fail(base + "/parent",
                  "expected the parent's credential id, " + std::string(kMandateIdPrefix) +
                      "<1 to 64 of [a-z0-9_-]>",
                  "bad-parent");
    }
    t.parent = *parent;
  }
  if (scope != nullptr) {
    MD_ASSIGN_OR_RETURN(t.scope, ParseScope(*scope, base + "/scope"));
  }
  MD_ASSIGN_OR_RETURN(t.limits, ParseLimits(*limits, base + "/limits"));
  if (step_up != nullptr) {
    MD_ASSIGN_OR_RETURN(t.step_up, ParseStepUp(*step_up, base + "/step_up"));
  }
  if (session_cap != nullptr) {
    MD_ASSIGN_OR_RETURN(t.session_cap, ParsePerAsset<AssetMax>(*session_cap, base + "/session_cap",
                                                               ParseAssetMax));
  }
  if (constraints != nullptr) {
    MD_ASSIGN_OR_RETURN(t.constraints, ParseConstraints(*constraints, base + "/constraints"));
  }
  MD_RETURN_IF_ERROR(CheckAssetsAllowed(t, base));
  return t;
}

json::Value MandateTermsToJson(const MandateTerms& t) {
  json::Value out = json::Value::Object();
  if (!t.parent.empty()) {
    out.Set("parent", Str(t.parent));
  }
  json::Value scope = json::Value::Object();
  SetAllowBlock(scope, "payees", t.scope.payees, PayeeList);
  SetAllowBlock(scope, "categories", t.scope.categories, StringList);
  SetAllowBlock(scope, "countries", t.scope.countries, StringList);
  SetAllowOnly(scope, "assets", t.scope.assets);
  SetAllowOnly(scope, "networks", t.scope.networks);
  SetAllowOnly(scope, "resources", t.scope.resources);
  if (scope.size() > 0) {
    out.Set("scope", std::move(scope));
  }

  json::Value limits = json::Value::Object();
  if (!t.limits.per_transaction.empty()) {
    json::Value a = json::Value::Array();
    for (const PerTransactionLimit& l : t.limits.per_transaction) {
      json::Value o = json::Value::Object();
      o.Set("asset", Str(l.asset));
      if (l.min.has_value()) {
        o.Set("min", Amt(*l.min));
      }
      o.Set("max", Amt(l.max));
      a.Append(std::move(o));
    }
    limits.Set("per_transaction", std::move(a));
  }
  if (!t.limits.windows.empty()) {
    json::Value a = json::Value::Array();
    for (const WindowLimit& w : t.limits.windows) {
      json::Value o = json::Value::Object();
      o.Set("asset", Str(w.asset));
      o.Set("window", Str(std::string(WindowUnitName(w.window))));
      o.Set("kind", Str(std::string(WindowKindName(w.kind))));
      if (w.kind == WindowKind::kCalendar) {
        o.Set("time_zone", Str(w.time_zone));
      }
      o.Set("max", Amt(w.max));
      a.Append(std::move(o));
    }
    limits.Set("windows", std::move(a));
  }
  if (!t.limits.lifetime.empty()) {
    limits.Set("lifetime", AssetMaxList(t.limits.lifetime));
  }
  if (t.limits.max_uses.has_value()) {
    limits.Set("max_uses", json::Value::Int(*t.limits.max_uses));
  }
  if (t.limits.min_interval_seconds.has_value()) {
    limits.Set("min_interval_seconds", json::Value::Int(*t.limits.min_interval_seconds));
  }
  out.Set("limits", std::move(limits));

  if (!t.step_up.above.empty() || t.step_up.outside_hours.has_value()) {
    json::Value s = json::Value::Object();
    if (!t.step_up.above.empty()) {
      json::Value a = json::Value::Array();
      for (const Threshold& th : t.step_up.above) {
        json::Value o = json::Value::Object();
        o.Set("asset", Str(th.asset));
        o.Set("amount", Amt(th.amount));
        a.Append(std::move(o));
      }
      s.Set("above", std::move(a));
    }
    if (t.step_up.outside_hours.has_value()) {
      const BusinessHours& h = *t.step_up.outside_hours;
      json::Value o = json::Value::Object();
      o.Set("time_zone", Str(h.time_zone));
      json::Value days = json::Value::Array();
      for (int d : h.days) {
        days.Append(Str(std::string(kDayNames[static_cast<size_t>(d)])));
      }
      o.Set("days", std::move(days));
      o.Set("start", Str(FormatClock(h.start_minute)));
      o.Set("end", Str(FormatClock(h.end_minute)));
      s.Set("outside_hours", std::move(o));
    }
    out.Set("step_up", std::move(s));
  }
  if (!t.session_cap.empty()) {
    out.Set("session_cap", AssetMaxList(t.session_cap));
  }
  if (!t.constraints.empty()) {
    json::Value a = json::Value::Array();
    for (const Constraint& c : t.constraints) {
      a.Append(c.body);
    }
    out.Set("constraints", std::move(a));
  }
  return out;
}

namespace {

// --- direct writer: MandateTermsToJson's output without the tree --------------------------------

void Key(std::string& out, std::string_view key) {
  out += '"';
  out += key;  // member names are plain ASCII: nothing to escape
  out += "\":";
}

void StringMember(std::string& out, std::string_view key, std::string_view value) {
  Key(out, key);
  json::AppendQuoted(out, value);
}

void AmountMember(std::string& out, std::string_view key, const Amount& a) {
  Key(out, key);
  out += '"';
  if (a.fits_uint64()) {
    // Amount::ToString's digits, without its 128-bit division per digit.
    char digits[20];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, a.low64());
    out.append(digits, static_cast<size_t>(end - digits));
  } else {
    out += a.ToString();
  }
  out += '"';
}

void AppendStringList(std::string& out, const std::vector<std::string>& items) {
  out += '[';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += ',';
    json::AppendQuoted(out, items[i]);
  }
  out += ']';
}

void AppendPayeeList(std::string& out, const std::vector<Payee>& items) {
  out += '[';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += ',';
    out += '{';
    StringMember(out, "type", PayeeTypeName(items[i].type));
    out += ',';
    StringMember(out, "value", items[i].value);
    out += '}';
  }
  out += ']';
}

// Appends `,"key":{"allow":[...],"block":[...]}` (the comma unless `first`); nothing when both
// lists are empty.
template <typename T, typename ListFn>
void AllowBlockMember(std::string& out, bool& first, std::string_view key,
                      const AllowBlock<T>& ab, ListFn list) {
  if (ab.allow.empty() && ab.block.empty()) {
    return;
  }
  if (!first) out += ',';
  first = false;
  Key(out, key);
  out += '{';
  if (!ab.allow.empty()) {
    Key(out, "allow");
    list(out, ab.allow);
  }
  if (!ab.block.empty()) {
    if (!ab.allow.empty()) out += ',';
    Key(out, "block");
    list(out, ab.block);
  }
  out += '}';
}

void AllowOnlyMember(std::string& out, bool& first, std::string_view key,
                     const std::vector<std::string>& allow) {
  if (allow.empty()) {
    return;
  }
  if (!first) out += ',';
  first = false;
  Key(out, key);
  out += '{';
  Key(out, "allow");
  AppendStringList(out, allow);
  out += '}';
}

void AppendAssetMaxList(std::string& out, const std::vector<AssetMax>& items) {
  out += '[';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += ',';
    out += '{';
    StringMember(out, "asset", items[i].asset);
    out += ',';
    AmountMember(out, "max", items[i].max);
    out += '}';
  }
  out += ']';
}

// Opens member `key` of an object whose members so far are tracked by `first`.
void Member(std::string& out, bool& first, std::string_view key) {
  if (!first) out += ',';
  first = false;
  Key(out, key);
}

}  // namespace

void AppendMandateTermsJson(std::string& out, const MandateTerms& t) {
  out += '{';
  bool first = true;
  if (!t.parent.empty()) {
    Member(out, first, "parent");
    json::AppendQuoted(out, t.parent);
  }
  {
    const Scope& sc = t.scope;
    const bool any = !sc.payees.allow.empty() || !sc.payees.block.empty() ||
                     !sc.categories.allow.empty() || !sc.categories.block.empty() ||
                     !sc.countries.allow.empty() || !sc.countries.block.empty() ||
                     !sc.assets.empty() || !sc.networks.empty() || !sc.resources.empty();
    if (any) {
      Member(out, first, "scope");
      out += '{';
      bool f = true;
      AllowBlockMember(out, f, "payees", sc.payees, AppendPayeeList);
      AllowBlockMember(out, f, "categories", sc.categories, AppendStringList);
      AllowBlockMember(out, f, "countries", sc.countries, AppendStringList);
      AllowOnlyMember(out, f, "assets", sc.assets);
      AllowOnlyMember(out, f, "networks", sc.networks);
      AllowOnlyMember(out, f, "resources", sc.resources);
      out += '}';
    }
  }
  Member(out, first, "limits");
  out += '{';
  {
    const Limits& l = t.limits;
    bool f = true;
    if (!l.per_transaction.empty()) {
      Member(out, f, "per_transaction");
      out += '[';
      for (size_t i = 0; i < l.per_transaction.size(); ++i) {
        const PerTransactionLimit& p = l.per_transaction[i];
        if (i != 0) out += ',';
        out += '{';
        StringMember(out, "asset", p.asset);
        if (p.min.has_value()) {
          out += ',';
          AmountMember(out, "min", *p.min);
        }
        out += ',';
        AmountMember(out, "max", p.max);
        out += '}';
      }
      out += ']';
    }
    if (!l.windows.empty()) {
      Member(out, f, "windows");
      out += '[';
      for (size_t i = 0; i < l.windows.size(); ++i) {
        const WindowLimit& w = l.windows[i];
        if (i != 0) out += ',';
        out += '{';
        StringMember(out, "asset", w.asset);
        out += ',';
        StringMember(out, "window", WindowUnitName(w.window));
        out += ',';
        StringMember(out, "kind", WindowKindName(w.kind));
        if (w.kind == WindowKind::kCalendar) {
          out += ',';
          StringMember(out, "time_zone", w.time_zone);
        }
        out += ',';
        AmountMember(out, "max", w.max);
        out += '}';
      }
      out += ']';
    }
    if (!l.lifetime.empty()) {
      Member(out, f, "lifetime");
      AppendAssetMaxList(out, l.lifetime);
    }
    if (l.max_uses.has_value()) {
      Member(out, f, "max_uses");
      out += std::to_string(*l.max_uses);
    }
    if (l.min_interval_seconds.has_value()) {
      Member(out, f, "min_interval_seconds");
      out += std::to_string(*l.min_interval_seconds);
    }
  }
  out += '}';
  if (!t.step_up.above.empty() || t.step_up.outside_hours.has_value()) {
    Member(out, first, "step_up");
    out += '{';
    bool f = true;
    if (!t.step_up.above.empty()) {
      Member(out, f, "above");
      out += '[';
      for (size_t i = 0; i < t.step_up.above.size(); ++i) {
        if (i != 0) out += ',';
        out += '{';
        StringMember(out, "asset", t.step_up.above[i].asset);
        out += ',';
        AmountMember(out, "amount", t.step_up.above[i].amount);
        out += '}';
      }
      out += ']';
    }
    if (t.step_up.outside_hours.has_value()) {
      const BusinessHours& h = *t.step_up.outside_hours;
      Member(out, f, "outside_hours");
      out += '{';
      StringMember(out, "time_zone", h.time_zone);
      out += ',';
      Key(out, "days");
      out += '[';
      for (size_t i = 0; i < h.days.size(); ++i) {
        if (i != 0) out += ',';
        json::AppendQuoted(out, kDayNames[static_cast<size_t>(h.days[i])]);
      }
      out += "],";
      StringMember(out, "start", FormatClock(h.start_minute));
      out += ',';
      StringMember(out, "end", FormatClock(h.end_minute));
      out += '}';
    }
    out += '}';
  }
  if (!t.session_cap.empty()) {
    Member(out, first, "session_cap");
    AppendAssetMaxList(out, t.session_cap);
  }
  if (!t.constraints.empty()) {
    Member(out, first, "constraints");
    out += '[';
    for (size_t i = 0; i < t.constraints.size(); ++i) {
      if (i != 0) out += ',';
      out += json::Write(t.constraints[i].body);
    }
    out += ']';
  }
  out += '}';
}

}  // namespace mandated::mandates
