// Purchase codec and the static check of a purchase against mandate terms (specs/mandate.md §7.2).
#include "mandates/purchase.h"

#include <algorithm>
#include <utility>

#include "base/asset.h"
#include "mandates/patterns.h"
#include "mandates/time_zone.h"

namespace mandated::mandates {
namespace {

// Pointers in reasons are relative to the credential payload (specs/mandate.md §2).
constexpr std::string_view kMandatePointer = "/credentialSubject/mandate";
constexpr size_t kMaxResourceBytes = 2048;
// 9999-12-31T23:59:59Z: the last instant RFC 3339 timestamps of §2 can write.
constexpr int64_t kMaxUnixSeconds = 253402300799;

Status Fail(const std::string& pointer, const std::string& what, const char* reason) {
  return InvalidArgumentError(pointer + ": " + what, reason);
}

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = LowerAscii(c);
  }
  return out;
}

// A plain host name as §3.1.1 writes domain payees, without the "*." wildcard.
bool IsPlainHost(std::string_view host) {
  return host.substr(0, 2) != "*." && IsDomainPattern(host);
}

// `url` up to its query or fragment: the part resource patterns are matched against.
std::string_view WithoutQuery(std::string_view url) {
  return url.substr(0, url.find_first_of("?#"));
}

// Checks an absolute http(s) URL (see ParsePurchase) and returns it with scheme and host
// lower-cased (RFC 3986 §6.2.2.1); the path, query and fragment are kept as written.
Result<std::string> NormalizeResource(std::string_view url, const std::string& pointer) {
  auto bad = [&](const std::string& why) {
    return Fail(pointer, "not an absolute http(s) URL: " + why, "bad-resource");
  };
  if (url.size() > kMaxResourceBytes) {
    return bad("longer than 2048 bytes");
  }
  for (char c : url) {
    if (c <= 0x20 || c >= 0x7f || c == '\\') {
      return bad("only printable ASCII without spaces or '\\'");
    }
  }
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return bad("no scheme");
  }
  const std::string scheme = Lower(url.substr(0, sep));
  if (scheme != "http" && scheme != "https") {
    return bad("the scheme must be http or https");
  }
  const std::string_view rest = url.substr(sep + 3);
  const size_t authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  const std::string authority = Lower(rest.substr(0, authority_end));
  if (authority.find('@') != std::string::npos) {
    return bad("user info is not allowed");
  }
  const size_t colon = authority.find(':');
  const std::string host = authority.substr(0, colon);
  if (!IsPlainHost(host) && host != "localhost") {
    return bad("the host must be a domain name or localhost");
  }
  if (colon != std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    bool ok = !port.empty() && port.size() <= 5 && port[0] != '0';
    unsigned value = 0;
    for (char c : port) {
      ok = ok && c >= '0' && c <= '9';
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (!ok || value > 65535) {
      return bad("the port must be 1 to 65535");
    }
  }
  const std::string_view tail = rest.substr(authority_end);
  const std::string_view path = WithoutQuery(tail);
  if (!path.empty()) {
    // path starts with '/'; split the segments after it.
    size_t start = 1;
    while (true) {
      const size_t slash = path.find('/', start);
      const bool last = slash == std::string_view::npos;
      const std::string_view seg = path.substr(start, last ? std::string_view::npos : slash - start);
      if ((seg.empty() && !last) || IsAmbiguousPathSegment(seg)) {
        return bad("empty, \".\" or \"..\" path segments (also as %2e or with \";\" "
                   "parameters) and encoded '/' or '\\' (%2f, %5c) are not allowed");
      }
      if (last) {
        break;
      }
      start = slash + 1;
    }
  }
  return scheme + "://" + authority + std::string(tail);
}

Result<Payee> ParsePurchasePayee(const json::Value& v, const std::string& pointer) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, pointer));
  MD_ASSIGN_OR_RETURN(std::string type, r.String("type"));
  MD_ASSIGN_OR_RETURN(std::string value, r.String("value"));
  MD_RETURN_IF_ERROR(r.Finish());
  Payee p;
  bool ok = false;
  if (type == "did") {
    p.type = PayeeType::kDid;
    ok = IsPayeeDid(value);
  } else if (type == "domain") {
    p.type = PayeeType::kDomain;
    ok = IsPlainHost(value);
  } else if (type == "address") {
    // Any case is accepted (EIP-55 mixed case included) and lower-cased; the "0x" is literal.
    p.type = PayeeType::kAddress;
    if (value.substr(0, 2) == "0x") {
      value = Lower(value);
      ok = IsPayeeAddress(value);
    }
  } else {
    return Fail(pointer + "/type", "payee type must be did, domain or address", "bad-payee");
  }
  if (!ok) {
    const char* what = p.type == PayeeType::kDomain
                           ? "not a valid domain payee (a host name, no wildcard)"
                       : p.type == PayeeType::kAddress ? "not a valid address payee (0x + 40 hex)"
                                                       : "not a valid did payee";
    return Fail(pointer + "/value", what, "bad-payee");
  }
  p.value = std::move(value);
  return p;
}

// The purchase payee as the matcher compares it: addresses and hosts in lower case, DIDs in
// their canonical form (specs/mandate.md §3.1.1).
Payee NormalizedPayee(const Payee& payee) {
  Payee p = payee;
  p.value = p.type == PayeeType::kDid ? CanonicalPayeeDid(p.value) : Lower(p.value);
  return p;
}

bool PayeeMatches(const Payee& entry, const Payee& payee) {
  if (entry.type != payee.type) {
    return false;
  }
  if (entry.type == PayeeType::kDomain) {
    // A purchase names one host; anything else ("*.x.example") matches no entry.
    return IsPlainHost(payee.value) && DomainMatches(entry.value, payee.value);
  }
  if (entry.type == PayeeType::kDid) {
    return CanonicalPayeeDid(entry.value) == payee.value;  // payee: NormalizedPayee
  }
  return entry.value == payee.value;
}

bool Contains(const std::vector<std::string>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::string At(std::string_view pointer, size_t i) {
  return std::string(pointer) + "/" + std::to_string(i);
}

// The CAIP-2 chain a CAIP-19 asset lives on; "" for an ISO 4217 code.
std::string_view ChainOf(std::string_view asset) {
  const size_t slash = asset.find('/');
  return slash == std::string_view::npos ? std::string_view() : asset.substr(0, slash);
}

std::string WindowName(const WindowLimit& w) {
  std::string out(WindowUnitName(w.window));
  out += " (";
  out += WindowKindName(w.kind);
  if (w.kind == WindowKind::kCalendar) {
    out += ", " + w.time_zone;
  }
  return out + ")";
}

// Collects reasons for one mandate.
class Verdict {
 public:
  explicit Verdict(std::string_view mandate_id) : mandate_(mandate_id) {}

  void Add(const char* code, std::string pointer, std::string detail) {
    reasons_.push_back(Reason{code, mandate_, std::move(pointer), std::move(detail)});
  }
  std::vector<Reason> Take() && { return std::move(reasons_); }

 private:
  std::string mandate_;
  std::vector<Reason> reasons_;
};

// Categories and countries: allow list, block list, and fail closed when unstated.
void CheckCodes(Verdict& verdict, const AllowBlock<std::string>& lists, const std::string& value,
                std::string_view dimension, std::string_view noun, const char* not_allowed,
                const char* blocked, const char* unstated) {
  if (lists.allow.empty() && lists.block.empty()) {
    return;
  }
  const std::string pointer = std::string(kMandatePointer) + "/scope/" + std::string(dimension);
  if (value.empty()) {
    verdict.Add(unstated, pointer,
                "the purchase states no " + std::string(noun) + " but the mandate restricts " +
                    std::string(dimension));
    return;
  }
  if (!lists.allow.empty() && !Contains(lists.allow, value)) {
    verdict.Add(not_allowed, pointer + "/allow",
                std::string(noun) + " " + value + " is not in the allow list");
  }
  for (size_t i = 0; i < lists.block.size(); ++i) {
    if (lists.block[i] == value) {
      verdict.Add(blocked, At(pointer + "/block", i),
                  std::string(noun) + " " + value + " is in the block list");
      break;
    }
  }
}

void CheckPayee(Verdict& verdict, const AllowBlock<Payee>& lists, const Payee& purchase_payee) {
  const Payee payee = NormalizedPayee(purchase_payee);
  const std::string pointer = std::string(kMandatePointer) + "/scope/payees";
  const std::string name = "payee " + std::string(PayeeTypeName(payee.type)) + " " + payee.value;
  if (!lists.allow.empty() &&
      std::none_of(lists.allow.begin(), lists.allow.end(),
                   [&](const Payee& entry) { return PayeeMatches(entry, payee); })) {
    verdict.Add("payee-not-allowed", pointer + "/allow", name + " matches no allowed payee");
  }
  for (size_t i = 0; i < lists.block.size(); ++i) {
    if (PayeeMatches(lists.block[i], payee)) {
      verdict.Add("payee-blocked", At(pointer + "/block", i),
                  name + " matches the blocked payee " + lists.block[i].value);
      break;
    }
  }
}

void CheckNetwork(Verdict& verdict, const std::vector<std::string>& allow,
                  const Purchase& purchase) {
  const std::string_view implied = ChainOf(purchase.asset);
  const std::string pointer = std::string(kMandatePointer) + "/scope/networks";
  if (!allow.empty()) {
    if (purchase.network.empty() && implied.empty()) {
      verdict.Add("network-unstated", pointer,
                  "the purchase states no network but the mandate restricts networks");
    } else {
      for (std::string_view network : {std::string_view(purchase.network), implied}) {
        if (!network.empty() && !Contains(allow, network)) {
          verdict.Add("network-not-allowed", pointer + "/allow",
                      "network " + std::string(network) + " is not in the allow list");
          break;
        }
      }
    }
  }
  if (!purchase.network.empty() && !implied.empty() && purchase.network != implied) {
    verdict.Add("network-mismatch", "",
                "network " + purchase.network + " is not the chain " + std::string(implied) +
                    " of asset " + purchase.asset);
  }
}

void CheckResource(Verdict& verdict, const std::vector<std::string>& allow,
                   const std::string& resource) {
  if (allow.empty()) {
    return;
  }
  const std::string pointer = std::string(kMandatePointer) + "/scope/resources";
  if (resource.empty()) {
    verdict.Add("resource-unstated", pointer,
                "the purchase states no resource but the mandate restricts resources");
    return;
  }
  const std::string_view url = WithoutQuery(resource);
  if (std::none_of(allow.begin(), allow.end(),
                   [&](const std::string& pattern) { return ResourceMatches(pattern, url); })) {
    verdict.Add("resource-not-allowed", pointer + "/allow",
                "resource " + std::string(url) + " matches no allowed pattern");
  }
}

bool IsSpendable(const Limits& limits, const std::string& asset) {
  auto named = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(),
                       [&](const auto& l) { return SameAssetId(l.asset, asset); });
  };
  return named(limits.per_transaction) || named(limits.windows) || named(limits.lifetime);
}

void CheckAmounts(Verdict& verdict, const MandateTerms& terms, const Purchase& purchase) {
  const std::string limits = std::string(kMandatePointer) + "/limits";
  const std::string& asset = purchase.asset;
  const std::string amount = "amount " + purchase.amount.ToString();
  if (!IsSpendable(terms.limits, asset)) {
    verdict.Add("asset-not-spendable", limits,
                "no amount limit names asset " + asset +
                    ", so nothing may be spent in it under this mandate");
  }
  for (size_t i = 0; i < terms.limits.per_transaction.size(); ++i) {
    const PerTransactionLimit& l = terms.limits.per_transaction[i];
    if (!SameAssetId(l.asset, asset)) {
      continue;
    }
    const std::string at = At(limits + "/per_transaction", i);
    if (l.min.has_value() && purchase.amount < *l.min) {
      verdict.Add("amount-below-minimum", at + "/min",
                  amount + " is below the per-transaction minimum " + l.min->ToString() + " " +
                      asset);
    }
    if (purchase.amount > l.max) {
      verdict.Add("amount-above-maximum", at + "/max",
                  amount + " is above the per-transaction maximum " + l.max.ToString() + " " +
                      asset);
    }
  }
  for (size_t i = 0; i < terms.limits.windows.size(); ++i) {
    const WindowLimit& w = terms.limits.windows[i];
    if (SameAssetId(w.asset, asset) && purchase.amount > w.max) {
      verdict.Add("amount-above-window", At(limits + "/windows", i) + "/max",
                  amount + " is above the whole " + WindowName(w) + " window maximum " +
                      w.max.ToString() + " " + asset);
    }
  }
  for (size_t i = 0; i < terms.limits.lifetime.size(); ++i) {
    const AssetMax& m = terms.limits.lifetime[i];
    if (SameAssetId(m.asset, asset) && purchase.amount > m.max) {
      verdict.Add("amount-above-lifetime", At(limits + "/lifetime", i) + "/max",
                  amount + " is above the lifetime maximum " + m.max.ToString() + " " + asset);
    }
  }
  for (size_t i = 0; i < terms.session_cap.size(); ++i) {
    const AssetMax& m = terms.session_cap[i];
    if (SameAssetId(m.asset, asset) && purchase.amount > m.max) {
      verdict.Add("amount-above-session-cap",
                  At(std::string(kMandatePointer) + "/session_cap", i) + "/max",
                  amount + " is above the session cap " + m.max.ToString() + " " + asset);
    }
  }
}

}  // namespace

Result<std::string> NormalizePurchaseResource(std::string_view url) {
  return NormalizeResource(url, "/resource");
}

Result<Purchase> ParsePurchase(const json::Value& v, std::string_view pointer) {
  const std::string base(pointer);
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, base));
  MD_ASSIGN_OR_RETURN(const json::Value* payee, r.Required("payee"));
  Purchase p;
  MD_ASSIGN_OR_RETURN(p.amount, r.AmountField("amount"));
  MD_ASSIGN_OR_RETURN(p.asset, r.String("asset"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> network, r.OptionalString("network"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> category, r.OptionalString("category"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> country, r.OptionalString("country"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> resource, r.OptionalString("resource"));
  MD_ASSIGN_OR_RETURN(p.at, r.OptionalInt("at"));
  MD_RETURN_IF_ERROR(r.Finish());

  MD_ASSIGN_OR_RETURN(p.payee, ParsePurchasePayee(*payee, base + "/payee"));
  MD_RETURN_IF_ERROR(ValidateAssetId(p.asset).Annotate(base + "/asset"));
  if (network.has_value()) {
    MD_RETURN_IF_ERROR(ValidateNetworkId(*network).Annotate(base + "/network"));
    p.network = std::move(*network);
  }
  if (category.has_value()) {
    if (!IsCategoryCode(*category)) {
      return Fail(base + "/category",
                  "\"" + *category + "\" is not a four-digit merchant category code",
                  "bad-category");
    }
    p.category = std::move(*category);
  }
  if (country.has_value()) {
    if (!IsCountryCode(*country)) {
      return Fail(base + "/country",
                  "\"" + *country + "\" is not an assigned ISO 3166-1 alpha-2 code",
                  "bad-country");
    }
    p.country = std::move(*country);
  }
  if (resource.has_value()) {
    MD_ASSIGN_OR_RETURN(p.resource, NormalizeResource(*resource, base + "/resource"));
  }
  if (p.at.has_value() && (*p.at < 0 || *p.at > kMaxUnixSeconds)) {
    return Fail(base + "/at", "Unix seconds from 0 to 253402300799 (year 9999)", "bad-time");
  }
  return p;
}

json::Value PurchaseToJson(const Purchase& purchase) {
  json::Value out = json::Value::Object();
  json::Value payee = json::Value::Object();
  payee.Set("type", json::Value::String(std::string(PayeeTypeName(purchase.payee.type))));
  payee.Set("value", json::Value::String(purchase.payee.value));
  out.Set("payee", std::move(payee));
  out.Set("amount", json::Value::String(purchase.amount.ToString()));
  out.Set("asset", json::Value::String(purchase.asset));
  if (!purchase.network.empty()) {
    out.Set("network", json::Value::String(purchase.network));
  }
  if (!purchase.category.empty()) {
    out.Set("category", json::Value::String(purchase.category));
  }
  if (!purchase.country.empty()) {
    out.Set("country", json::Value::String(purchase.country));
  }
  if (!purchase.resource.empty()) {
    out.Set("resource", json::Value::String(purchase.resource));
  }
  if (purchase.at.has_value()) {
    out.Set("at", json::Value::Int(*purchase.at));
  }
  return out;
}

std::vector<Reason> CheckPurchase(const MandateTerms& terms, const Purchase& purchase,
                                  std::string_view mandate_id) {
  Verdict verdict(mandate_id);
  const Scope& scope = terms.scope;
  CheckPayee(verdict, scope.payees, purchase.payee);
  CheckCodes(verdict, scope.categories, purchase.category, "categories", "category",
             "category-not-allowed", "category-blocked", "category-unstated");
  CheckCodes(verdict, scope.countries, purchase.country, "countries", "country",
             "country-not-allowed", "country-blocked", "country-unstated");
  if (!scope.assets.empty() &&
      std::none_of(scope.assets.begin(), scope.assets.end(),
                   [&](const std::string& a) { return SameAssetId(a, purchase.asset); })) {
    verdict.Add("asset-not-allowed", std::string(kMandatePointer) + "/scope/assets/allow",
                "asset " + purchase.asset + " is not in the allow list");
  }
  CheckNetwork(verdict, scope.networks, purchase);
  CheckResource(verdict, scope.resources, purchase.resource);
  CheckAmounts(verdict, terms, purchase);
  return std::move(verdict).Take();
}

bool NeedsStepUp(const MandateTerms& terms, const Purchase& purchase, int64_t now) {
  for (const Threshold& t : terms.step_up.above) {
    if (SameAssetId(t.asset, purchase.asset) && purchase.amount > t.amount) {
      return true;
    }
  }
  if (!terms.step_up.outside_hours.has_value()) {
    return false;
  }
  const BusinessHours& hours = *terms.step_up.outside_hours;
  Result<LocalTime> local = ToLocalTime(hours.time_zone, purchase.at.value_or(now));
  if (!local.ok()) {
    return true;  // the local time cannot be known: ask a person rather than guess
  }
  if (std::find(hours.days.begin(), hours.days.end(), local->weekday) == hours.days.end()) {
    return true;
  }
  const int minute = local->hour * 60 + local->minute;
  return minute < hours.start_minute || minute >= hours.end_minute;
}

}  // namespace mandated::mandates
