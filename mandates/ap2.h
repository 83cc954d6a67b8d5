// AP2 v0.2 mandate content (specs/ap2.md §5-§7): the open and closed Checkout and Payment Mandate
// claims, the constraint types (AP2's and ours under reverse-DNS names), their strict validation
// at issuance and their evaluation against a closed mandate or a checkout. Pure functions: the
// running totals (budget, recurrence) come in as a Usage the caller keeps (mandates/ap2_authority.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/json.h"
#include "base/result.h"

namespace mandated::mandates::ap2 {

inline constexpr std::string_view kVctPaymentOpen = "mandate.payment.open.1";
inline constexpr std::string_view kVctCheckoutOpen = "mandate.checkout.open.1";
inline constexpr std::string_view kVctPayment = "mandate.payment.1";
inline constexpr std::string_view kVctCheckout = "mandate.checkout.1";
// Our extension constraint: the closed payment's currency must be one of `allowed`.
inline constexpr std::string_view kAllowedCurrencies = "dev.mandated.payment.allowed_currencies";
// Our payment instrument type: the closed payment is paid from the principal's prepaid ledger
// balance to the payee's merchant account when it is accepted (specs/ap2.md §6.2).
inline constexpr std::string_view kLedgerInstrument = "dev.mandated.ledger";

enum class Kind : uint8_t { kPayment, kCheckout };
std::string_view VctOf(Kind kind);  // the open vct

// Validates the constraints of an open mandate of `kind` strictly (specs/ap2.md §5): an array of
// objects with a known `type` and exactly the members that type allows. Errors (kInvalidArgument,
// message starting with the JSON pointer):
//   "ap2-unknown-constraint"   a type that is neither AP2's nor registered here (fail closed);
//   "ap2-constraint-kind"      a checkout type in a payment mandate or the reverse;
//   "ap2-bad-constraint"       a missing, mistyped or unknown member, an empty list, min > max;
//   "ap2-constraint-missing"   a payment mandate without payment.reference or a checkout mandate
//                              without checkout.line_items (AP2's schemas require them).
Status CheckConstraints(Kind kind, const json::Value& constraints);

// The disclosure frame we issue with (specs/ap2.md §5.1): every constraint selectively
// disclosable, and every element of its `allowed` / `acceptable_items` lists.
json::Value FrameFor(const json::Value& constraints);

// The claims of a closed Payment Mandate (vct mandate.payment.1), parsed strictly.
struct ClosedPayment {
  std::string transaction_id;
  json::Value payee;               // {id, name, website?}
  int64_t amount = 0;              // minor units
  std::string currency;            // ISO 4217
  json::Value payment_instrument;  // {id, type, description?, other members kept}
  std::optional<json::Value> pisp;
  std::optional<std::string> execution_date;
};
// kInvalidArgument "ap2-closed-mandate-invalid" naming the member at fault (also for claims
// that are not an object); "ap2-wrong-vct".
Result<ClosedPayment> ParseClosedPayment(const json::Value& claims);

// The `closed` claims a custodial agent asks the service to sign (specs/ap2.md §6): only the
// closed payment members of AP2 (vct, transaction_id, payee, payment_amount, payment_instrument,
// pisp, execution_date, risk_data), and no SD-JWT reserved name (`_sd`, `...`, `_sd_alg`) nor
// `delegate_payload` at any depth. kInvalidArgument "ap2-closed-mandate-invalid" with the JSON
// pointer of the member at fault.
Status CheckCustodialClosed(const json::Value& closed);

// ISO 4217 minor-unit exponent of `currency` (USD 2, JPY 0, KWD 3, CLF 4); nullopt for a code
// outside our table (specs/ap2.md §5.2 Units).
std::optional<int> CurrencyExponent(std::string_view currency);
// `minor` units as the JSON number text of major units with `exponent` decimals, trailing zeros
// dropped: MajorUnitsText(1250, 2) == "12.5", MajorUnitsText(500, 0) == "500".
std::string MajorUnitsText(int64_t minor, int exponent);
// The exact minor units of a JSON number text in major units (`12.5`, `1.25e1`); nullopt when
// negative, not representable exactly in `exponent` decimals, or beyond int64. No floating point.
std::optional<int64_t> MinorUnitsOf(std::string_view number_text, int exponent);
// Rewrites each payment.budget `max` of validated API constraints (integer minor units) into
// the credential's major units (AP2's SDK reads `max` in major units). kInvalidArgument
// "ap2-bad-constraint" naming the currency when it is outside our ISO 4217 table.
Status BudgetMaxToMajorUnits(json::Value& constraints);

// What the stateful authority knows about an open payment mandate's past uses.
struct Usage {
  int64_t spent = 0;  // minor units of the budget's currency, closed mandates so far
  int64_t uses = 0;
  std::optional<int64_t> last_use_at;  // Unix seconds
};

// The format of open mandates issued now: budgets in major units, one closing unless
// payment.agent_recurrence (specs/ap2.md §5.2). Records without a format are 1.
inline constexpr int kOpenMandateFormat = 2;

// Seconds between two uses for an agent_recurrence frequency (specs/ap2.md §5.3); 0 for
// ON_DEMAND. Rolling periods: DAILY 1 d, WEEKLY 7 d, BIWEEKLY 14 d, MONTHLY 30 d, QUARTERLY 91 d,
// ANNUALLY 365 d.
std::optional<int64_t> RecurrencePeriod(std::string_view frequency);

// Evaluates every constraint and preset claim of the open payment mandate `open` (its full,
// disclosed claims) against `closed`, with the uses so far and `now`. kPermissionDenied with:
//   "ap2-preset-mismatch", "ap2-currency-mismatch", "ap2-amount-out-of-range",
//   "ap2-budget-exceeded", "ap2-recurrence-exhausted", "ap2-recurrence-too-frequent",
//   "ap2-payee-not-allowed", "ap2-instrument-not-allowed", "ap2-pisp-not-allowed",
//   "ap2-execution-date", "ap2-unknown-constraint" (fail closed), "ap2-mandate-used" (an open
//   mandate without payment.agent_recurrence already closed once), "ap2-bad-constraint" (a
//   budget `max` that does not read back exactly in its currency's minor units).
// payment.reference is not checked here: it needs the open checkout mandate (CheckReference).
// Pre-set claims must reappear unchanged, except `payee`, matched on its (non-empty) id as AP2's
// SDK does. payment.budget's `max` is read in major units (BudgetMaxToMajorUnits).
// `format` is the open mandate's record format (OpenMandate::format): 1, for mandates issued
// before budgets were written in major units, reads `max` as an integer in minor units and lets
// a mandate without agent_recurrence close more than once, as those mandates were issued to do.
Status EvaluatePayment(const json::Value& open, const ClosedPayment& closed, const Usage& usage,
                       int64_t now, int format = kOpenMandateFormat);
// Every payment.reference of `open` (at least one) names `open_checkout_digest`; else
// kPermissionDenied "ap2-reference-mismatch".
Status CheckReference(const json::Value& open, std::string_view open_checkout_digest);

// Evaluates an open checkout mandate's constraints against a checkout (the payload of the
// merchant-signed checkout_jwt: {merchant: {id, ...}, line_items: [{id, item: {id, ...},
// quantity}], ...}). kPermissionDenied with "ap2-merchant-not-allowed",
// "ap2-line-items-unmatched" (the max-flow matching of specs/ap2.md §5.4 leaves a requirement
// short or a checkout unit unused), "ap2-unknown-constraint"; kInvalidArgument
// "ap2-bad-checkout" for a checkout without the members these need.
Status EvaluateCheckout(const json::Value& open, const json::Value& checkout);

}  // namespace mandated::mandates::ap2
