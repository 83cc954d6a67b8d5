// The terms of a spending mandate (specs/mandate.md §3): scope, limits, step-up, session caps and
// extension constraints, with a strict parser and an exact JSON codec.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/amount.h"
#include "base/json.h"
#include "base/json_scan.h"
#include "base/result.h"

namespace mandated::mandates {

// Prefix of a mandate's credential id; the rest is the mandate id ([a-z0-9_-]{1,64}).
inline constexpr std::string_view kMandateIdPrefix = "urn:mandated:mandate:";
// A delegation chain holds at most this many mandates, the root included (specs/mandate.md §4).
inline constexpr int kMaxChainLength = 8;

// All the types below are plain values. Thread safety: as for any value type.

enum class PayeeType { kDid, kDomain, kAddress };
std::string_view PayeeTypeName(PayeeType type);

// One payee in an allow or block list (specs/mandate.md §3.1.1).
struct Payee {
  PayeeType type = PayeeType::kDid;
  std::string value;  // a DID; a lower-case domain, maybe "*."-prefixed; a lower-case 0x address
  friend bool operator==(const Payee&, const Payee&) = default;
};

// An allow list and a block list. An empty vector means the list is absent (the parser refuses
// empty lists, so "absent" and "empty" never differ on the wire). No allow list: unrestricted.
template <typename T>
struct AllowBlock {
  std::vector<T> allow;
  std::vector<T> block;
  friend bool operator==(const AllowBlock&, const AllowBlock&) = default;
};

// specs/mandate.md §3.1. Each dimension with no allow list is unrestricted in that dimension.
struct Scope {
  AllowBlock<Payee> payees;
  AllowBlock<std::string> categories;  // ISO 18245 MCCs, four digits
  AllowBlock<std::string> countries;   // ISO 3166-1 alpha-2, assigned codes
  std::vector<std::string> assets;     // allow list: ISO 4217 codes or CAIP-19 ids
  std::vector<std::string> networks;   // allow list: CAIP-2 chain ids
  std::vector<std::string> resources;  // allow list: URL patterns (specs/mandate.md §3.1.2)
  friend bool operator==(const Scope&, const Scope&) = default;
};

enum class WindowUnit { kMinute, kHour, kDay, kWeek, kMonth, kYear };
enum class WindowKind { kCalendar, kRolling };
std::string_view WindowUnitName(WindowUnit unit);
std::string_view WindowKindName(WindowKind kind);

struct PerTransactionLimit {
  std::string asset;
  std::optional<Amount> min;  // absent: no minimum
  Amount max;
  friend bool operator==(const PerTransactionLimit&, const PerTransactionLimit&) = default;
};

struct WindowLimit {
  std::string asset;
  WindowUnit window = WindowUnit::kDay;
  WindowKind kind = WindowKind::kRolling;
  std::string time_zone;  // IANA name; set exactly when kind is kCalendar
  Amount max;
  friend bool operator==(const WindowLimit&, const WindowLimit&) = default;
};

// A ceiling per asset ("lifetime" and "session_cap" entries).
struct AssetMax {
  std::string asset;
  Amount max;
  friend bool operator==(const AssetMax&, const AssetMax&) = default;
};

// specs/mandate.md §3.2.
struct Limits {
  std::vector<PerTransactionLimit> per_transaction;
  std::vector<WindowLimit> windows;
  std::vector<AssetMax> lifetime;
  std::optional<int64_t> max_uses;
  std::optional<int64_t> min_interval_seconds;
  friend bool operator==(const Limits&, const Limits&) = default;
};

struct Threshold {
  std::string asset;
  Amount amount;
  friend bool operator==(const Threshold&, const Threshold&) = default;
};

// Business hours; a purchase outside them needs approval. Days are 0 = Monday .. 6 = Sunday,
// strictly ascending; minutes are from local midnight, start < end, end <= 1440.
struct BusinessHours {
  std::string time_zone;
  std::vector<int> days;
  int start_minute = 0;
  int end_minute = 0;
  friend bool operator==(const BusinessHours&, const BusinessHours&) = default;
};

// specs/mandate.md §3.3.
struct StepUp {
  std::vector<Threshold> above;
  std::optional<BusinessHours> outside_hours;
  friend bool operator==(const StepUp&, const StepUp&) = default;
};

// An extension constraint: its reverse-DNS type and the whole object as given.
struct Constraint {
  std::string type;
  json::Value body;
  friend bool operator==(const Constraint&, const Constraint&) = default;
};

// The `credentialSubject.mandate` object of a mandate credential (specs/mandate.md §3).
struct MandateTerms {
  std::string parent;  // the parent's credential id (kMandateIdPrefix + id); "" for a root
  Scope scope;
  Limits limits;
  StepUp step_up;
  std::vector<AssetMax> session_cap;
  std::vector<Constraint> constraints;
  friend bool operator==(const MandateTerms&, const MandateTerms&) = default;
};

// The validity window of a mandate (`validFrom`/`validUntil`, JWT `nbf`/`exp`), Unix seconds.
struct Validity {
  int64_t not_before = 0;
  int64_t not_after = 0;
  friend bool operator==(const Validity&, const Validity&) = default;
};

// Parses a mandate object strictly (specs/mandate.md §3, §5). Returns kInvalidArgument with the
// reason slug of §5 and the JSON pointer of the fault, prefixed by `pointer`, at the start of the
// message ("/scope/payees/allow/2: ..."); amounts above 2^128-1 keep base's kOutOfRange
// ("amount-out-of-range").
Result<MandateTerms> ParseMandateTerms(const json::Value& v, std::string_view pointer = "");

// ParseMandateTerms's single-pass twin, for hot paths (mandate verification): reads one mandate
// object from `s` into `out` (a default MandateTerms). Returns false, with `s` failed, for
// everything ParseMandateTerms refuses and for some inputs it accepts (those json::Scanner leaves
// to the strict parser, and any "constraints"): the caller then parses the same text with
// json::Parse and ParseMandateTerms, which name the fault. When it returns true, `out` equals
// what ParseMandateTerms gives for the same text.
bool ScanMandateTerms(json::Scanner& s, MandateTerms& out);

// The canonical JSON of `terms` (members in the order of specs/mandate.md §3, absent lists left
// out). REQUIRES: `terms` came from ParseMandateTerms or obeys the same rules; then
// ParseMandateTerms(MandateTermsToJson(t)) == t, and MandateTermsToJson(ParseMandateTerms(j)) == j
// for every canonical j.
json::Value MandateTermsToJson(const MandateTerms& terms);
// Appends exactly json::Write(MandateTermsToJson(terms)) to `out`, written directly (no tree).
void AppendMandateTermsJson(std::string& out, const MandateTerms& terms);

// The value checks the parser applies to scope entries (specs/mandate.md §3.1), for other codecs
// that take the same values (purchases, specs/mandate.md §7.2). All pure; safe from any thread.
// A DID payee: did:<method>:<id>, no path, query or fragment, at most 512 bytes (§3.1.1).
bool IsPayeeDid(std::string_view s);
// The form in which DID payees are compared (§3.1.1): %XX of an unreserved character decoded
// and other escapes in upper-case hex (RFC 3986 §6.2.2); the host part of did:web lower-cased;
// the account of did:pkh:eip155 (namespace in any case) lower-cased. Idempotent.
std::string CanonicalPayeeDid(std::string_view did);
// An address payee: "0x" + 40 lower-case hex digits (§3.1.1).
bool IsPayeeAddress(std::string_view s);
// An ISO 18245 merchant category code: exactly four ASCII digits.
bool IsCategoryCode(std::string_view s);
// An assigned ISO 3166-1 alpha-2 code, upper case.
bool IsCountryCode(std::string_view s);

// The extension constraint types this build evaluates (none yet); any other type makes a mandate
// invalid ("unknown-constraint").
bool IsImplementedConstraint(std::string_view type);

}  // namespace mandated::mandates
