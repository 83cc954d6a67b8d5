// A proposed purchase and the static check of it against a mandate's terms: scope (payees,
// categories, countries, assets, networks, resources) and the limits a single payment can break
// on its own (specs/mandate.md §7.2). Counters (windows spent so far, uses) are policy/'s job.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/amount.h"
#include "base/json.h"
#include "base/result.h"
#include "mandates/model.h"
#include "mandates/reason.h"

namespace mandated::mandates {

// Thread safety: value type.
struct Purchase {
  Payee payee;                  // the merchant: did, domain (a host, no wildcard) or address
  Amount amount;
  std::string asset;            // ISO 4217 or CAIP-19
  std::string network;          // CAIP-2, "" if not stated
  std::string category;         // MCC, "" if not stated
  std::string country;          // ISO 3166-1 alpha-2, "" if not stated
  std::string resource;         // an http(s) URL, "" if not stated
  std::optional<int64_t> at;    // Unix seconds of the payment; the verifier's clock if absent
  friend bool operator==(const Purchase&, const Purchase&) = default;
};

// Parses {"payee":{"type","value"},"amount","asset","network"?,"category"?,"country"?,
// "resource"?,"at"?} strictly (unknown members refused). Payee values follow §3.1.1 but a domain
// payee must be a plain host (no "*."), and an address is accepted in any case and lower-cased.
// `resource` is an absolute http(s) URL (at most 2048 bytes, printable ASCII, no spaces); its
// query and fragment are ignored when matching. kInvalidArgument with the JSON pointer (prefixed
// by `pointer`) and reasons wrong-type, missing-field, unknown-field, bad-payee, bad-amount,
// amount-not-string, bad-asset, bad-network, bad-category, bad-country, bad-resource, bad-time.
Result<Purchase> ParsePurchase(const json::Value& v, std::string_view pointer = "");

// A purchase's resource as ParsePurchase keeps it: an absolute http(s) URL with scheme and host
// in lower case; kInvalidArgument ("bad-resource", "/resource: ...") otherwise (specs/mandate.md
// §7.2). For resources that arrive outside a purchase body (an x402 402 answer's URL).
Result<std::string> NormalizePurchaseResource(std::string_view url);
json::Value PurchaseToJson(const Purchase& purchase);

// Every way `purchase` falls outside `terms` on its own, in the order of specs/mandate.md §7.2
// (scope dimensions in table order, then amounts). Empty: nothing in the terms forbids it.
// Reasons carry `mandate_id` and the pointer of the term that refuses (relative to the credential
// payload, "/credentialSubject/mandate/..."). A dimension the mandate restricts (allow or block
// list) but the purchase does not state fails closed (`<dimension>-unstated`).
std::vector<Reason> CheckPurchase(const MandateTerms& terms, const Purchase& purchase,
                                  std::string_view mandate_id);

// True when terms.step_up asks for a person's approval for this purchase: amount strictly above
// the threshold of its asset, or local time (Purchase::at, else `now`) outside business hours.
// A zone whose local time cannot be computed counts as outside business hours (fail closed).
bool NeedsStepUp(const MandateTerms& terms, const Purchase& purchase, int64_t now);

}  // namespace mandated::mandates
