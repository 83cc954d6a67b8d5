// AP2 v0.2 constraint validation and evaluation (specs/ap2.md §5-§7).
#include "mandates/ap2.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "mandates/credential.h"

namespace mandated::mandates::ap2 {
namespace {

Status Bad(const std::string& pointer, const std::string& why) {
  return InvalidArgumentError(pointer + ": " + why, "ap2-bad-constraint");
}
Status Deny(std::string message, std::string reason) {
  return PermissionDeniedError(std::move(message), std::move(reason));
}

bool IsCurrency(const json::Value* v) {
  if (v == nullptr || !v->is_string() || v->as_string().size() != 3) return false;
  const std::string& s = v->as_string();
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}
std::optional<int64_t> NonNegInt(const json::Value* v) {
  if (v == nullptr || !v->is_number()) return std::nullopt;
  std::optional<int64_t> i = v->as_int64();
  if (!i.has_value() || *i < 0) return std::nullopt;
  return i;
}
bool NonEmptyString(const json::Value* v) {
  return v != nullptr && v->is_string() && !v->as_string().empty();
}

// An object with exactly `required` members present (non-empty strings unless `typed` says
// otherwise) and no members outside required + optional.
Status CheckObject(const json::Value& v, const std::string& pointer,
                   std::initializer_list<std::string_view> required,
                   std::initializer_list<std::string_view> optional = {}) {
  if (!v.is_object()) return Bad(pointer, "must be an object");
  for (std::string_view k : required) {
    if (v.Find(k) == nullptr) return Bad(pointer + "/" + std::string(k), "is required");
  }
  for (const std::string& k : v.keys()) {
    if (std::find(required.begin(), required.end(), k) == required.end() &&
        std::find(optional.begin(), optional.end(), k) == optional.end()) {
      return Bad(pointer + "/" + k, "is not a member of this type");
    }
  }
  return OkStatus();
}
Status CheckStrings(const json::Value& v, const std::string& pointer,
                    std::initializer_list<std::string_view> keys) {
  for (std::string_view k : keys) {
    const json::Value* m = v.Find(k);
    if (m != nullptr && !NonEmptyString(m)) {
      return Bad(pointer + "/" + std::string(k), "must be a non-empty string");
    }
  }
  return OkStatus();
}
Status CheckMerchant(const json::Value& v, const std::string& p) {
  MD_RETURN_IF_ERROR(CheckObject(v, p, {"id", "name"}, {"website"}));
  return CheckStrings(v, p, {"id", "name", "website"});
}
// Free-form JSON carried inside a claim (an instrument's extra members, risk_data): bounded in
// depth and members, and free of SD-JWT reserved names, so what is signed is exactly what reads.
constexpr int kMaxExtraDepth = 8;
constexpr size_t kMaxExtraMembers = 256;
bool ReservedName(std::string_view k) {
  return k == "_sd" || k == "..." || k == "_sd_alg" || k == "delegate_payload";
}
Status CheckFreeJson(const json::Value& v, const std::string& pointer, int depth,
                     size_t* members, const std::string& reason) {
  if (depth > kMaxExtraDepth) {
    return InvalidArgumentError(pointer + ": nested deeper than " + std::to_string(kMaxExtraDepth),
                                reason);
  }
  if (v.is_object()) {
    for (size_t i = 0; i < v.keys().size(); ++i) {
      const std::string& k = v.keys()[i];
      const std::string p = pointer + "/" + k;
      if (ReservedName(k)) return InvalidArgumentError(p + ": a reserved name", reason);
      if (++*members > kMaxExtraMembers) {
        return InvalidArgumentError(pointer + ": more than " + std::to_string(kMaxExtraMembers) +
                                        " members",
                                    reason);
      }
      MD_RETURN_IF_ERROR(CheckFreeJson(v.items()[i], p, depth + 1, members, reason));
    }
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.items().size(); ++i) {
      if (++*members > kMaxExtraMembers) {
        return InvalidArgumentError(pointer + ": more than " + std::to_string(kMaxExtraMembers) +
                                        " members",
                                    reason);
      }
      MD_RETURN_IF_ERROR(
          CheckFreeJson(v.items()[i], pointer + "/" + std::to_string(i), depth + 1, members, reason));
    }
  }
  return OkStatus();
}
// {id, type, description?} and, as AP2's schema allows (additionalProperties), other members
// (an x402 instrument's payee_address, facilitator, ...), kept as they are, bounded.
Status CheckInstrument(const json::Value& v, const std::string& p) {
  if (!v.is_object()) return Bad(p, "must be an object");
  for (std::string_view k : {"id", "type"}) {
    if (v.Find(k) == nullptr) return Bad(p + "/" + std::string(k), "is required");
  }
  MD_RETURN_IF_ERROR(CheckStrings(v, p, {"id", "type", "description"}));
  size_t members = 0;
  return CheckFreeJson(v, p, 0, &members, "ap2-bad-constraint");
}
Status CheckPisp(const json::Value& v, const std::string& p) {
  MD_RETURN_IF_ERROR(CheckObject(v, p, {"legal_name", "brand_name", "domain_name"}));
  return CheckStrings(v, p, {"legal_name", "brand_name", "domain_name"});
}
Status CheckItem(const json::Value& v, const std::string& p) {
  MD_RETURN_IF_ERROR(CheckObject(v, p, {"id", "title"}, {"price", "image_url"}));
  MD_RETURN_IF_ERROR(CheckStrings(v, p, {"id", "title", "image_url"}));
  if (v.Find("price") != nullptr && !NonNegInt(v.Find("price"))) {
    return Bad(p + "/price", "must be a non-negative integer");
  }
  return OkStatus();
}
// `allowed`: a non-empty array whose elements pass `each`.
Status CheckList(const json::Value& c, const std::string& p, std::string_view key,
                 const std::function<Status(const json::Value&, const std::string&)>& each) {
  const json::Value* l = c.Find(key);
  const std::string lp = p + "/" + std::string(key);
  if (l == nullptr || !l->is_array() || l->items().empty()) {
    return Bad(lp, "must be a non-empty array");
  }
  for (size_t i = 0; i < l->items().size(); ++i) {
    MD_RETURN_IF_ERROR(each(l->items()[i], lp + "/" + std::to_string(i)));
  }
  return OkStatus();
}

bool IsPaymentType(std::string_view t) {
  return t == "payment.amount_range" || t == "payment.budget" ||
         t == "payment.agent_recurrence" || t == "payment.allowed_payees" ||
         t == "payment.allowed_payment_instruments" || t == "payment.allowed_pisps" ||
         t == "payment.execution_date" || t == "payment.reference" || t == kAllowedCurrencies;
}
bool IsCheckoutType(std::string_view t) {
  return t == "checkout.allowed_merchants" || t == "checkout.line_items";
}

Status CheckOne(const json::Value& c, const std::string& p) {
  const std::string t = c.Find("type")->as_string();
  if (t == "payment.amount_range") {
    MD_RETURN_IF_ERROR(CheckObject(c, p, {"type", "currency", "max"}, {"min"}));
    if (!IsCurrency(c.Find("currency"))) return Bad(p + "/currency", "must be ISO 4217");
    std::optional<int64_t> max = NonNegInt(c.Find("max"));
    if (!max) return Bad(p + "/max", "must be a non-negative integer of minor units");
    if (c.Find("min") != nullptr) {
      std::optional<int64_t> min = NonNegInt(c.Find("min"));
      if (!min || *min > *max) return Bad(p + "/min", "must be an integer not above max");
    }
    return OkStatus();
  }
  if (t == "payment.budget") {
    MD_RETURN_IF_ERROR(CheckObject(c, p, {"type", "currency", "max"}));
    if (!IsCurrency(c.Find("currency"))) return Bad(p + "/currency", "must be ISO 4217");
    if (!NonNegInt(c.Find("max"))) {
      return Bad(p + "/max", "must be a non-negative integer of minor units (specs/ap2.md §5.3)");
    }
    return OkStatus();
  }
  if (t == "payment.agent_recurrence") {
    MD_RETURN_IF_ERROR(CheckObject(c, p, {"type", "frequency"}, {"max_occurrences"}));
    const json::Value* f = c.Find("frequency");
    if (!f->is_string() || !RecurrencePeriod(f->as_string())) {
      return Bad(p + "/frequency", "must be ON_DEMAND, DAILY, WEEKLY, BIWEEKLY, MONTHLY, "
                                   "QUARTERLY or ANNUALLY");
    }
    if (c.Find("max_occurrences") != nullptr) {
      std::optional<int64_t> m = NonNegInt(c.Find("max_occurrences"));
      if (!m || *m == 0) return Bad(p + "/max_occurrences", "must be a positive integer");
    }
    return OkStatus();
  }
  if (t == "payment.allowed_payees" || t == "checkout.allowed_merchants") {
    MD_RETURN_IF_ERROR(CheckObject(c, p, {"type", "allowed"}));
    return CheckList(c, p, "allowed", CheckMerchant);
  }
  if (t == "payment.allowed_payment_instruments") {
    MD_RETURN_IF_ERROR(CheckObject(c, p, {"type", "allowed"}));
    return CheckList(c, p, "allowed", CheckInstrument);
  }
  if (t == "payment.allowed_pisps") {
    MD_RETURN_IF_ERROR(CheckObject(c, p, {"type", "allowed"}));
    return CheckList(c, p, "allowed", CheckPisp);
  }
  if (t == "payment.execution_date") {
    MD_RETURN_IF_ERROR(CheckObject(c, p, {"type"}, {"not_before", "not_after"}));
    for (const char* k : {"not_before", "not_after"}) {
      const json::Value* d = c.Find(k);
      if (d != nullptr && (!d->is_string() || !ParseRfc3339Utc(d->as_string()).ok())) {
        return Bad(p + "/" + k, "must be YYYY-MM-DDTHH:MM:SSZ");
      }
    }
    return OkStatus();
  }
  if (t == "payment.reference") {
    MD_RETURN_IF_ERROR(CheckObject(c, p, {"type", "conditional_transaction_id"}));
    return CheckStrings(c, p, {"conditional_transaction_id"});
  }
  if (t == kAllowedCurrencies) {
    MD_RETURN_IF_ERROR(CheckObject(c, p, {"type", "allowed"}));
    return CheckList(c, p, "allowed", [](const json::Value& v, const std::string& ip) {
      return IsCurrency(&v) ? OkStatus() : Bad(ip, "must be ISO 4217");
    });
  }
  if (t == "checkout.line_items") {
    MD_RETURN_IF_ERROR(CheckObject(c, p, {"type", "items"}));
    return CheckList(c, p, "items", [](const json::Value& r, const std::string& rp) -> Status {
      MD_RETURN_IF_ERROR(CheckObject(r, rp, {"id", "acceptable_items", "quantity"}));
      MD_RETURN_IF_ERROR(CheckStrings(r, rp, {"id"}));
      std::optional<int64_t> q = NonNegInt(r.Find("quantity"));
      if (!q || *q == 0) return Bad(rp + "/quantity", "must be a positive integer");
      return CheckList(r, rp, "acceptable_items", CheckItem);
    });
  }
  return InvalidArgumentError(p + "/type: unknown constraint type " + t, "ap2-unknown-constraint");
}

// The constraints of `open` (its disclosed claims), or an empty list.
const std::vector<json::Value>& ConstraintsOf(const json::Value& open) {
  static const json::Value* const kEmpty = new json::Value(json::Value::Array());
  const json::Value* c = open.is_object() ? open.Find("constraints") : nullptr;
  return c != nullptr && c->is_array() ? c->items() : kEmpty->items();
}
std::string StrOf(const json::Value& v, std::string_view key) {
  const json::Value* m = v.is_object() ? v.Find(key) : nullptr;
  return m != nullptr && m->is_string() ? m->as_string() : "";
}
int64_t IntOf(const json::Value& v, std::string_view key) {
  const json::Value* m = v.Find(key);
  return m != nullptr && m->is_number() ? m->as_int64().value_or(0) : 0;
}

// Max-flow (Ford-Fulkerson, small graphs) of requirements to checkout lines.
int64_t MaxFlow(std::vector<std::vector<int64_t>>& cap, size_t s, size_t t) {
  int64_t total = 0;
  while (true) {
    std::vector<size_t> prev(cap.size(), SIZE_MAX);
    std::vector<size_t> queue{s};
    prev[s] = s;
    for (size_t qi = 0; qi < queue.size() && prev[t] == SIZE_MAX; ++qi) {
      const size_t u = queue[qi];
      for (size_t v = 0; v < cap.size(); ++v) {
        if (prev[v] == SIZE_MAX && cap[u][v] > 0) {
          prev[v] = u;
          queue.push_back(v);
        }
      }
    }
    if (prev[t] == SIZE_MAX) return total;
    int64_t f = INT64_MAX;
    for (size_t v = t; v != s; v = prev[v]) f = std::min(f, cap[prev[v]][v]);
    for (size_t v = t; v != s; v = prev[v]) {
      cap[prev[v]][v] -= f;
      cap[v][prev[v]] += f;
    }
    total += f;
  }
}

}  // namespace

std::string_view VctOf(Kind kind) {
  return kind == Kind::kPayment ? kVctPaymentOpen : kVctCheckoutOpen;
}

Status CheckConstraints(Kind kind, const json::Value& constraints) {
  if (!constraints.is_array() || constraints.items().empty()) {
    return InvalidArgumentError("/constraints: must be a non-empty array", "ap2-bad-constraint");
  }
  bool has_required = false;
  for (size_t i = 0; i < constraints.items().size(); ++i) {
    const json::Value& c = constraints.items()[i];
    const std::string p = "/constraints/" + std::to_string(i);
    const json::Value* type = c.is_object() ? c.Find("type") : nullptr;
    if (type == nullptr || !type->is_string()) return Bad(p + "/type", "must be a string");
    const std::string& t = type->as_string();
    if ((kind == Kind::kPayment && IsCheckoutType(t)) ||
        (kind == Kind::kCheckout && IsPaymentType(t))) {
      return InvalidArgumentError(p + "/type: " + t + " does not belong in this mandate",
                                  "ap2-constraint-kind");
    }
    MD_RETURN_IF_ERROR(CheckOne(c, p));
    if (t == (kind == Kind::kPayment ? "payment.reference" : "checkout.line_items")) {
      has_required = true;
    }
  }
  if (!has_required) {
    return InvalidArgumentError(kind == Kind::kPayment
                                    ? "/constraints: a payment mandate needs payment.reference"
                                    : "/constraints: a checkout mandate needs checkout.line_items",
                                "ap2-constraint-missing");
  }
  return OkStatus();
}

json::Value FrameFor(const json::Value& constraints) {
  json::Value frame = json::Value::Object();
  json::Value sd = json::Value::Array();
  for (size_t i = 0; i < constraints.items().size(); ++i) {
    sd.Append(json::Value::Uint(i));
    const json::Value& c = constraints.items()[i];
    auto all = [](const json::Value& list) {
      json::Value idx = json::Value::Array();
      for (size_t j = 0; j < list.items().size(); ++j) idx.Append(json::Value::Uint(j));
      return json::Value::Object().Set("_sd", idx);
    };
    if (const json::Value* allowed = c.Find("allowed"); allowed != nullptr && allowed->is_array()) {
      frame.Set(std::to_string(i), json::Value::Object().Set("allowed", all(*allowed)));
    } else if (const json::Value* items = c.Find("items"); items != nullptr && items->is_array()) {
      json::Value f = json::Value::Object();
      for (size_t j = 0; j < items->items().size(); ++j) {
        const json::Value* acc = items->items()[j].Find("acceptable_items");
        if (acc != nullptr && acc->is_array()) {
          f.Set(std::to_string(j), json::Value::Object().Set("acceptable_items", all(*acc)));
        }
      }
      frame.Set(std::to_string(i), json::Value::Object().Set("items", f));
    }
  }
  frame.Set("_sd", sd);
  return json::Value::Object().Set("constraints", frame);
}

Result<ClosedPayment> ParseClosedPayment(const json::Value& claims) {
  auto bad = [](const std::string& p, const std::string& why) {
    return InvalidArgumentError(p + ": " + why, "ap2-closed-mandate-invalid");
  };
  if (!claims.is_object()) return bad("", "the closed payment claims must be an object");
  if (StrOf(claims, "vct") != kVctPayment) {
    return InvalidArgumentError("/vct: a closed payment mandate is " + std::string(kVctPayment),
                                "ap2-wrong-vct");
  }
  ClosedPayment cp;
  cp.transaction_id = StrOf(claims, "transaction_id");
  if (cp.transaction_id.empty()) return bad("/transaction_id", "is required");
  const json::Value* payee = claims.Find("payee");
  if (payee == nullptr || !CheckMerchant(*payee, "/payee").ok()) {
    return bad("/payee", "must be {id, name, website?}");
  }
  cp.payee = *payee;
  const json::Value* amount = claims.Find("payment_amount");
  if (amount == nullptr || !CheckObject(*amount, "/payment_amount", {"amount", "currency"}).ok() ||
      !NonNegInt(amount->Find("amount")) || !IsCurrency(amount->Find("currency"))) {
    return bad("/payment_amount", "must be {amount: integer minor units, currency: ISO 4217}");
  }
  cp.amount = *NonNegInt(amount->Find("amount"));
  cp.currency = amount->Find("currency")->as_string();
  const json::Value* inst = claims.Find("payment_instrument");
  if (inst == nullptr || !CheckInstrument(*inst, "/payment_instrument").ok()) {
    return bad("/payment_instrument", "must be {id, type, description?, ...} (bounded)");
  }
  cp.payment_instrument = *inst;
  if (const json::Value* pisp = claims.Find("pisp"); pisp != nullptr) {
    if (!CheckPisp(*pisp, "/pisp").ok()) return bad("/pisp", "must be {legal_name, brand_name, domain_name}");
    cp.pisp = *pisp;
  }
  if (const json::Value* d = claims.Find("execution_date"); d != nullptr) {
    if (!d->is_string() || !ParseRfc3339Utc(d->as_string()).ok()) {
      return bad("/execution_date", "must be YYYY-MM-DDTHH:MM:SSZ");
    }
    cp.execution_date = d->as_string();
  }
  if (const json::Value* risk = claims.Find("risk_data"); risk != nullptr && !risk->is_object()) {
    return bad("/risk_data", "must be an object");
  }
  return cp;
}

Status CheckCustodialClosed(const json::Value& closed) {
  constexpr char kReason[] = "ap2-closed-mandate-invalid";
  if (!closed.is_object()) return InvalidArgumentError("/closed: must be an object", kReason);
  for (size_t i = 0; i < closed.keys().size(); ++i) {
    const std::string& k = closed.keys()[i];
    if (k != "vct" && k != "transaction_id" && k != "payee" && k != "payment_amount" &&
        k != "payment_instrument" && k != "pisp" && k != "execution_date" && k != "risk_data") {
      return InvalidArgumentError("/closed/" + k + ": not a closed payment claim the caller sets",
                                  kReason);
    }
    size_t members = 0;
    MD_RETURN_IF_ERROR(CheckFreeJson(closed.items()[i], "/closed/" + k, 0, &members, kReason));
  }
  return OkStatus();
}

std::optional<int> CurrencyExponent(std::string_view c) {
  // ISO 4217 (list one, active codes): the exceptions to 2 decimals, then the 2-decimal codes.
  static const std::map<std::string_view, int> kExceptions = {
      {"BIF", 0}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0}, {"ISK", 0}, {"JPY", 0}, {"KMF", 0},
      {"KRW", 0}, {"PYG", 0}, {"RWF", 0}, {"UGX", 0}, {"UYI", 0}, {"VND", 0}, {"VUV", 0},
      {"XAF", 0}, {"XOF", 0}, {"XPF", 0}, {"BHD", 3}, {"IQD", 3}, {"JOD", 3}, {"KWD", 3},
      {"LYD", 3}, {"OMR", 3}, {"TND", 3}, {"CLF", 4}, {"UYW", 4}};
  static const std::set<std::string_view> kTwo = {
      "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
      "BGN", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF",
      "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR",
      "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF",
      "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP",
      "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
      "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK",
      "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD",
      "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP",
      "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UYU", "UZS", "VES", "WST", "XCD", "YER", "ZAR",
      "ZMW", "ZWG"};
  if (auto it = kExceptions.find(c); it != kExceptions.end()) return it->second;
  if (kTwo.count(c) != 0) return 2;
  return std::nullopt;
}

std::string MajorUnitsText(int64_t minor, int exponent) {
  std::string digits = std::to_string(minor);
  if (exponent <= 0 || minor < 0) return digits;
  if (digits.size() <= static_cast<size_t>(exponent)) {
    digits.insert(0, static_cast<size_t>(exponent) + 1 - digits.size(), '0');
  }
  std::string whole = digits.substr(0, digits.size() - exponent);
  std::string frac = digits.substr(digits.size() - exponent);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return frac.empty() ? whole : whole + "." + frac;
}

std::optional<int64_t> MinorUnitsOf(std::string_view text, int exponent) {
  // JSON number grammar (RFC 8259 §6): -? int frac? exp?; negatives are refused.
  size_t i = 0;
  if (i < text.size() && text[i] == '-') return std::nullopt;
  std::string digits;  // all significant digits, the decimal point removed
  int64_t scale = 0;   // value = digits * 10^-scale
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') digits.push_back(text[i++]);
  if (digits.empty()) return std::nullopt;
  if (i < text.size() && text[i] == '.') {
    ++i;
    const size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') digits.push_back(text[i++]);
    if (i == start) return std::nullopt;
    scale = static_cast<int64_t>(i - start);
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool neg = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) neg = text[i++] == '-';
    const size_t start = i;
    int64_t e = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (e > 100000) return std::nullopt;
      e = e * 10 + (text[i++] - '0');
    }
    if (i == start) return std::nullopt;
    scale += neg ? e : -e;
  }
  if (i != text.size()) return std::nullopt;
  // minor = digits * 10^(exponent - scale), exactly.
  const size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return 0;  // zero, however written
  digits.erase(0, first);
  int64_t shift = exponent - scale;
  while (shift < 0) {  // dropping digits: only trailing zeros may go
    if (digits.back() != '0') return std::nullopt;
    digits.pop_back();
    ++shift;
  }
  if (digits.size() + static_cast<size_t>(shift) > 19) return std::nullopt;
  digits.append(static_cast<size_t>(shift), '0');
  int64_t out = 0;
  for (char c : digits) {
    if (__builtin_mul_overflow(out, 10, &out) || __builtin_add_overflow(out, c - '0', &out)) {
      return std::nullopt;
    }
  }
  return out;
}

Status BudgetMaxToMajorUnits(json::Value& constraints) {
  if (!constraints.is_array()) return OkStatus();
  for (size_t i = 0; i < constraints.items().size(); ++i) {
    json::Value& c = constraints.items()[i];
    if (StrOf(c, "type") != "payment.budget") continue;
    const std::string currency = StrOf(c, "currency");
    const std::optional<int> exponent = CurrencyExponent(currency);
    if (!exponent) {
      return Bad("/constraints/" + std::to_string(i) + "/currency",
                 "no ISO 4217 minor unit is known here for " + currency +
                     ", so the budget cannot be written in major units");
    }
    const std::optional<int64_t> max = NonNegInt(c.Find("max"));
    if (!max) return Bad("/constraints/" + std::to_string(i) + "/max", "must be an integer");
    c.Set("max", json::Value::NumberText(MajorUnitsText(*max, *exponent)));
  }
  return OkStatus();
}

std::optional<int64_t> RecurrencePeriod(std::string_view f) {
  constexpr int64_t kDay = 86400;
  if (f == "ON_DEMAND") return 0;
  if (f == "DAILY") return kDay;
  if (f == "WEEKLY") return 7 * kDay;
  if (f == "BIWEEKLY") return 14 * kDay;
  if (f == "MONTHLY") return 30 * kDay;
  if (f == "QUARTERLY") return 91 * kDay;
  if (f == "ANNUALLY") return 365 * kDay;
  return std::nullopt;
}

Status EvaluatePayment(const json::Value& open, const ClosedPayment& closed, const Usage& usage,
                       int64_t now, int format) {
  const bool legacy = format < kOpenMandateFormat;
  // Pre-set claims reappear unchanged.
  json::Value closed_json = json::Value::Object();
  closed_json.Set("payee", closed.payee);
  closed_json.Set("payment_amount", json::Value::Object()
                                        .Set("amount", json::Value::Int(closed.amount))
                                        .Set("currency", json::Value::String(closed.currency)));
  closed_json.Set("payment_instrument", closed.payment_instrument);
  if (closed.pisp) closed_json.Set("pisp", *closed.pisp);
  if (closed.execution_date) closed_json.Set("execution_date", json::Value::String(*closed.execution_date));
  for (const char* k : {"payee", "payment_amount", "payment_instrument", "pisp", "execution_date"}) {
    const json::Value* preset = open.Find(k);
    if (preset == nullptr) continue;
    const json::Value* got = closed_json.Find(k);
    if (std::string_view(k) == "payee") {
      // Matched on its stable id, as AP2's SDK does (display fields prove nothing).
      const std::string want = StrOf(*preset, "id");
      if (want.empty() || got == nullptr || StrOf(*got, "id") != want) {
        return Deny("/payee differs from the open mandate's (by id)", "ap2-preset-mismatch");
      }
      continue;
    }
    if (got == nullptr || !(*got == *preset)) {
      return Deny(std::string("/") + k + " differs from the open mandate's", "ap2-preset-mismatch");
    }
  }
  // Without payment.agent_recurrence an open payment mandate is closed once (AP2: recurrence is
  // what lets the agent reuse it).
  bool recurrent = false;
  for (const json::Value& c : ConstraintsOf(open)) recurrent |= StrOf(c, "type") == "payment.agent_recurrence";
  if (!recurrent && usage.uses > 0 && !legacy) {
    return Deny("the open mandate was closed already and allows no reuse "
                "(no payment.agent_recurrence)",
                "ap2-mandate-used");
  }
  for (const json::Value& c : ConstraintsOf(open)) {
    const std::string t = StrOf(c, "type");
    if (t == "payment.amount_range" || t == "payment.budget") {
      if (StrOf(c, "currency") != closed.currency) {
        return Deny(t + " is in " + StrOf(c, "currency") + ", the payment in " + closed.currency,
                    "ap2-currency-mismatch");
      }
    }
    if (t == "payment.amount_range") {
      const int64_t min = c.Find("min") != nullptr ? IntOf(c, "min") : 0;
      if (closed.amount < min || closed.amount > IntOf(c, "max")) {
        return Deny("the amount " + std::to_string(closed.amount) + " is outside [" +
                        std::to_string(min) + ", " + std::to_string(IntOf(c, "max")) + "]",
                    "ap2-amount-out-of-range");
      }
    } else if (t == "payment.budget") {
      // Major units in the credential (BudgetMaxToMajorUnits), read back exactly.
      const json::Value* max_v = c.Find("max");
      const std::optional<int> exponent = CurrencyExponent(closed.currency);
      // A format-1 record was issued with `max` in minor units.
      const std::optional<int64_t> max_minor =
          legacy ? NonNegInt(max_v)
          : max_v != nullptr && max_v->is_number() && exponent
              ? MinorUnitsOf(max_v->number_text(), *exponent)
              : std::nullopt;
      if (!max_minor) {
        return Deny("the budget max does not read as " + closed.currency + " major units",
                    "ap2-bad-constraint");
      }
      const int64_t max = *max_minor;
      if (closed.amount > max || usage.spent > max - closed.amount) {
        return Deny("the budget " + std::to_string(max) + " has " +
                        std::to_string(max - std::min(usage.spent, max)) + " left",
                    "ap2-budget-exceeded");
      }
    } else if (t == "payment.agent_recurrence") {
      if (c.Find("max_occurrences") != nullptr && usage.uses >= IntOf(c, "max_occurrences")) {
        return Deny("the mandate was used " + std::to_string(usage.uses) + " times, the most it allows",
                    "ap2-recurrence-exhausted");
      }
      const int64_t period = RecurrencePeriod(StrOf(c, "frequency")).value_or(INT64_MAX);
      if (usage.last_use_at.has_value() && now - *usage.last_use_at < period) {
        return Deny("the last use was " + std::to_string(now - *usage.last_use_at) +
                        " s ago; " + StrOf(c, "frequency") + " allows one per " +
                        std::to_string(period) + " s",
                    "ap2-recurrence-too-frequent");
      }
    } else if (t == "payment.allowed_payees") {
      bool ok = false;
      for (const json::Value& m : c.Find("allowed")->items()) ok |= StrOf(m, "id") == StrOf(closed.payee, "id");
      if (!ok) return Deny("payee " + StrOf(closed.payee, "id") + " is not allowed", "ap2-payee-not-allowed");
    } else if (t == "payment.allowed_payment_instruments") {
      bool ok = false;
      for (const json::Value& m : c.Find("allowed")->items()) {
        ok |= StrOf(m, "id") == StrOf(closed.payment_instrument, "id") &&
              StrOf(m, "type") == StrOf(closed.payment_instrument, "type");
      }
      if (!ok) return Deny("the payment instrument is not allowed", "ap2-instrument-not-allowed");
    } else if (t == "payment.allowed_pisps") {
      bool ok = false;
      for (const json::Value& m : c.Find("allowed")->items()) {
        ok |= closed.pisp.has_value() &&
              StrOf(m, "domain_name") == StrOf(*closed.pisp, "domain_name") &&
              StrOf(m, "legal_name") == StrOf(*closed.pisp, "legal_name") &&
              StrOf(m, "brand_name") == StrOf(*closed.pisp, "brand_name");
      }
      if (!ok) return Deny("the PISP is missing or not allowed", "ap2-pisp-not-allowed");
    } else if (t == "payment.execution_date") {
      const int64_t stated =
          closed.execution_date ? ParseRfc3339Utc(*closed.execution_date).value_or(0) : now;
      const json::Value* nb = c.Find("not_before");
      const json::Value* na = c.Find("not_after");
      // A payment this service moves when it accepts the closing (the ledger instrument)
      // executes now, whatever date it states: both must fall inside the window.
      const bool moves_now = StrOf(closed.payment_instrument, "type") == kLedgerInstrument;
      for (const int64_t at : {stated, moves_now ? now : stated}) {
        if ((nb != nullptr && at < ParseRfc3339Utc(nb->as_string()).value_or(INT64_MAX)) ||
            (na != nullptr && at > ParseRfc3339Utc(na->as_string()).value_or(INT64_MIN))) {
          return Deny(at == stated ? "the execution date is outside the mandate's window"
                                   : "a ledger payment executes now, outside the mandate's window",
                      "ap2-execution-date");
        }
      }
    } else if (t == kAllowedCurrencies) {
      bool ok = false;
      for (const json::Value& m : c.Find("allowed")->items()) ok |= m.as_string() == closed.currency;
      if (!ok) return Deny("the currency " + closed.currency + " is not allowed", "ap2-currency-mismatch");
    } else if (t != "payment.reference") {
      return Deny("unknown constraint type " + t + " fails closed", "ap2-unknown-constraint");
    }
  }
  return OkStatus();
}

Status CheckReference(const json::Value& open, std::string_view open_checkout_digest) {
  // Every payment.reference must name it (a mandate is bound to one open checkout mandate).
  bool any = false, all = true;
  for (const json::Value& c : ConstraintsOf(open)) {
    if (StrOf(c, "type") != "payment.reference") continue;
    any = true;
    all &= StrOf(c, "conditional_transaction_id") == open_checkout_digest;
  }
  if (any && all) return OkStatus();
  return Deny("the open payment mandate references another open checkout mandate",
              "ap2-reference-mismatch");
}

Status EvaluateCheckout(const json::Value& open, const json::Value& checkout) {
  if (!checkout.is_object()) return InvalidArgumentError("the checkout must be an object", "ap2-bad-checkout");
  for (const json::Value& c : ConstraintsOf(open)) {
    const std::string t = StrOf(c, "type");
    if (t == "checkout.allowed_merchants") {
      const json::Value* merchant = checkout.Find("merchant");
      if (merchant == nullptr || StrOf(*merchant, "id").empty()) {
        return InvalidArgumentError("/merchant/id is required", "ap2-bad-checkout");
      }
      bool ok = false;
      for (const json::Value& m : c.Find("allowed")->items()) ok |= StrOf(m, "id") == StrOf(*merchant, "id");
      if (!ok) return Deny("merchant " + StrOf(*merchant, "id") + " is not allowed", "ap2-merchant-not-allowed");
    } else if (t == "checkout.line_items") {
      const json::Value* lines = checkout.Find("line_items");
      if (lines == nullptr || !lines->is_array() || lines->items().size() > 256) {
        return InvalidArgumentError("/line_items must be an array (at most 256)", "ap2-bad-checkout");
      }
      const std::vector<json::Value>& reqs = c.Find("items")->items();
      const size_t nr = reqs.size(), nl = lines->items().size();
      const size_t s = 0, t_node = 1 + nr + nl;
      std::vector<std::vector<int64_t>> cap(t_node + 1, std::vector<int64_t>(t_node + 1, 0));
      int64_t wanted = 0, offered = 0;
      // Quantities are bounded so that the sums (at most 256 lines) cannot overflow: a wrapped
      // sum could make extra items look like none.
      constexpr int64_t kMaxQuantity = int64_t{1} << 40;
      for (size_t i = 0; i < nr; ++i) {
        cap[s][1 + i] = std::min(IntOf(reqs[i], "quantity"), kMaxQuantity);
        wanted += cap[s][1 + i];
      }
      for (size_t j = 0; j < nl; ++j) {
        const json::Value& line = lines->items()[j];
        const json::Value* item = line.is_object() ? line.Find("item") : nullptr;
        const std::optional<int64_t> q = line.is_object() ? NonNegInt(line.Find("quantity")) : std::nullopt;
        if (item == nullptr || StrOf(*item, "id").empty() || !q) {
          return InvalidArgumentError("/line_items/" + std::to_string(j) +
                                          " needs item.id and an integer quantity",
                                      "ap2-bad-checkout");
        }
        if (*q > kMaxQuantity) {
          return InvalidArgumentError("/line_items/" + std::to_string(j) +
                                          "/quantity: at most 2^40",
                                      "ap2-bad-checkout");
        }
        cap[1 + nr + j][t_node] = *q;
        offered += *q;
        for (size_t i = 0; i < nr; ++i) {
          for (const json::Value& acc : reqs[i].Find("acceptable_items")->items()) {
            if (StrOf(acc, "id") == StrOf(*item, "id")) cap[1 + i][1 + nr + j] = INT64_MAX / 4;
          }
        }
      }
      const int64_t flow = MaxFlow(cap, s, t_node);
      if (flow != wanted || flow != offered) {
        return Deny("the checkout's line items do not match the mandate's (" +
                        std::to_string(flow) + " of " + std::to_string(wanted) +
                        " required units matched, " + std::to_string(offered) + " offered)",
                    "ap2-line-items-unmatched");
      }
    } else {
      return Deny("unknown constraint type " + t + " fails closed", "ap2-unknown-constraint");
    }
  }
  return OkStatus();
}

}  // namespace mandated::mandates::ap2
