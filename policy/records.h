// The stored and public forms of authorizations and approvals (specs/authorization.md §1, §2,
// §7), the request parser of POST /v1/authorizations, and the effective state of a record at a
// given time (leases expire by time, whether or not anything wrote it down yet).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/amount.h"
#include "base/json.h"
#include "base/result.h"
#include "mandates/purchase.h"

namespace mandated::policy {

inline constexpr std::string_view kAllowed = "allowed";
inline constexpr std::string_view kDenied = "denied";
inline constexpr std::string_view kApprovalRequired = "approval_required";

// One failing check of a decision. Thread safety: value type.
struct PolicyReason {
  std::string code;
  std::string mandate;   // the mandate whose term refused, if any
  std::string pointer;   // into that mandate's credential payload, if any
  std::string counter;   // the counter that refused, if any ("mandate:mnd_x:window:day:...")
  std::string detail;
  std::optional<Amount> remaining;  // what the counter still allowed
};
json::Value PolicyReasonToJson(const PolicyReason& r);

// Reservation states: pending, reserved, captured, voided, expired, released.
struct Reservation {
  std::string id;  // "rsv_..."
  std::string state;
  Amount amount;    // held (pending, reserved) or was held
  Amount captured;  // captured amount (captured only)
  int64_t expires_at = 0;  // the lease: a pending or reserved hold counts nothing from then on
  std::optional<int64_t> closed_at;  // when it left pending/reserved
  std::string closed_by;             // who captured or voided; "lease" for expiry
};

// One authorization decision with its context. Thread safety: value type.
struct Authorization {
  std::string id;  // "atz_..."
  std::string principal_id;
  std::string mandate_id;
  std::vector<std::string> chain;  // the mandate, then its ancestors
  std::string agent_id;
  std::string agent_did;
  std::string session_id;
  mandates::Purchase purchase;  // without `at`
  std::string cart_hash;
  std::string policy_version;   // SHA-256 hex of the mandate token
  std::string decision;         // allowed | denied | approval_required
  std::vector<PolicyReason> reasons;
  std::optional<Reservation> reservation;
  std::string approval_id;
  std::optional<int64_t> approval_expires_at;
  std::string receipt;
  int64_t charged_at = 0;  // the instant counters charge it at
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// The record as it stands at `now`: a reserved hold past its lease is "expired"; a pending one
// past its approval deadline is "released" and the decision becomes denied (approval-timeout).
Authorization EffectiveAt(Authorization a, int64_t now);

// The stored form and the public form are the same JSON.
json::Value AuthorizationToJson(const Authorization& a);
Result<Authorization> AuthorizationFromJson(const json::Value& v);

// Approval states: pending, approved, denied, expired (no decision in time), withdrawn (the
// authorization was voided while it waited).
struct Approval {
  std::string id;  // "apr_..."
  std::string principal_id;
  std::string authorization_id;
  std::string agent_id;
  std::string mandate_id;
  std::string state = "pending";
  json::Value shown;          // what the approver is shown
  std::string shown_sha256;   // hex of SHA-256 of json::Write(shown)
  std::string policy_version;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  std::optional<int64_t> decided_at;
  std::string decided_by_user;
  std::string decided_by_credential;
  std::string evidence;        // the approver's JWS, if given
  std::string evidence_did;    // the DID that signed it
  std::string note;
};
Approval ApprovalEffectiveAt(Approval a, int64_t now);
json::Value ApprovalToJson(const Approval& a);
Result<Approval> ApprovalFromJson(const json::Value& v);

// A payment made under no vc+jwt mandate that the counters of its agent, its session and the
// principal still count (specs/authorization.md §3, outside charges): an AP2 closing the agent
// signed itself. Final once written (nothing captures or voids it). Stored as
// `<p>/atz-outside/<id>` in the payment's own durable write. Thread safety: value type.
struct OutsideCharge {
  std::string id;          // the payment's own id ("ap2c_...")
  std::string source;      // what made it: "ap2-closing"
  std::string agent_id;
  std::string session_id;
  std::string asset;
  Amount amount;
  int64_t charged_at = 0;  // the instant counters charge it at (the principal's clock, §3 Time)
};
json::Value OutsideChargeToJson(const OutsideCharge& c);
Result<OutsideCharge> OutsideChargeFromJson(const json::Value& v);

// The body of POST /v1/authorizations (specs/authorization.md §2).
struct AuthorizeRequest {
  std::string mandate_id;
  mandates::Purchase purchase;
  std::string cart_hash;
};
Result<AuthorizeRequest> ParseAuthorizeRequest(const json::Value& body);

// {"amount"?: "..."} of a capture; an absent amount captures the whole hold.
Result<std::optional<Amount>> ParseCaptureRequest(const json::Value& body);

// {"evidence"?: "<jws>", "note"?: "..."} of an approval decision.
struct DecideRequest {
  std::string evidence;
  std::string note;  // kept in the approval record, which the agent does not read
  // The `approval-denied` reason's detail, which the agent reads: set by the service only (a
  // denial it makes itself says why), never parsed from a request; "" for "denied by an
  // approver".
  std::string denial_detail;
};
Result<DecideRequest> ParseDecideRequest(const json::Value& body);

}  // namespace mandated::policy
