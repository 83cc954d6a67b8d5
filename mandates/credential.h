// The mandate credential envelope: a W3C VC 2.0 carried as the payload of a compact JWS with
// typ "vc+jwt", and the JWT claims that mirror it (specs/mandate.md §2). Builds and strictly
// parses the payload and checks the protected header; signatures are signer/jws.h's business.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/json.h"
#include "base/result.h"
#include "mandates/model.h"

namespace mandated::mandates {

inline constexpr std::string_view kMandateTyp = "vc+jwt";
inline constexpr std::string_view kVcContext = "https://www.w3.org/ns/credentials/v2";
inline constexpr std::string_view kMandateContext = "https://mandated.dev/ns/mandate/v1";
// validUntil - validFrom may not exceed this (specs/mandate.md §2).
inline constexpr int64_t kMaxValiditySeconds = 366 * 86400;

// A mandate id: 1 to 64 of [a-z0-9_-] (the part after kMandateIdPrefix).
bool IsMandateId(std::string_view id);

// "YYYY-MM-DDTHH:MM:SSZ" for Unix seconds in [0, 253402300799] (years 1970-9999).
std::string FormatRfc3339Utc(int64_t unix_seconds);
// Parses exactly "YYYY-MM-DDTHH:MM:SSZ" (no fraction, no offset, real calendar date, seconds
// 00-59); kInvalidArgument "bad-validity" otherwise.
Result<int64_t> ParseRfc3339Utc(std::string_view text);
// Any RFC 3339 date-time (§5.6): an optional fraction (kept to the microsecond) and Z or an
// offset, "T" and "Z" in either case; leap second 60 counts as the next second. Unix
// microseconds, or nullopt when `text` is not one.
std::optional<int64_t> ParseRfc3339Micros(std::string_view text);

// The Token Status List reference a mandate carries (draft-ietf-oauth-status-list §6.2).
struct StatusReference {
  uint64_t idx = 0;
  std::string uri;
  friend bool operator==(const StatusReference&, const StatusReference&) = default;
};

// Everything a mandate credential states. Thread safety: value type.
struct MandateCredential {
  std::string id;          // the mandate id, without kMandateIdPrefix ("mnd_7ks2q4")
  std::string issuer;      // the issuer DID (iss, issuer)
  std::string subject;     // the agent DID (sub, credentialSubject.id)
  Validity validity;       // validFrom/nbf and validUntil/exp, Unix seconds
  int64_t issued_at = 0;   // iat
  StatusReference status;  // credentialStatus.status_list and the JWT status claim
  MandateTerms terms;      // credentialSubject.mandate
};

// The JWT payload of specs/mandate.md §2, members in the order shown there. The caller passes a
// credential whose fields are valid (the issuer validated them); no check is made here.
json::Value MandateCredentialToJson(const MandateCredential& credential);
// Exactly json::Write(MandateCredentialToJson(credential)), written straight to the string
// without the tree: what issuance signs.
std::string MandateCredentialPayload(const MandateCredential& credential);

// Parses a JWT payload strictly (specs/mandate.md §2): unknown members, wrong types, a context or
// type other than the fixed ones, timestamps not in the exact form, validFrom >= validUntil or
// more than kMaxValiditySeconds apart, iat > exp, a status entry that is not {idx, uri} with a
// non-negative integer idx and an http(s) uri, mirrored claims that differ, and terms that do not
// parse are all kInvalidArgument with the reasons of §2 (bad-context, bad-credential-type,
// bad-mandate-id, bad-validity, bad-status-entry, claims-mismatch, missing-field,
// unknown-field, wrong-type) or of §5 for the terms; messages start with the JSON pointer of the
// fault relative to the payload ("/credentialSubject/mandate/limits: ...").
Result<MandateCredential> ParseMandateCredential(const json::Value& payload);

// ParseMandateCredential's single-pass twin for verifiers: reads the payload text straight into
// a MandateCredential, without a json::Value tree. Returns nullopt for everything
// json::Parse + ParseMandateCredential refuse, and for some text they accept (escapes, non-ASCII,
// numbers written otherwise than plainly, whitespace aside; any "constraints"): the caller then
// runs those two on the same text, and they name the fault. When it returns a credential,
// json::Parse(payload) gives an object whose ParseMandateCredential is an equal credential.
std::optional<MandateCredential> ScanMandateCredential(std::string_view payload);

// Checks a protected header: typ exactly "vc+jwt" (reason "bad-typ"), "kid" a string whose DID
// part (before '#') is non-empty ("kid-missing"), cty absent or "vc" ("bad-typ"); alg is left to
// signer/jws.h. Other members are left to VerifyJws (crit) and otherwise ignored.
Status CheckMandateHeader(const json::Value& header);

}  // namespace mandated::mandates
