// Offline verification of an AP2 open mandate (specs/ap2.md §5.6): what a merchant, PISP or
// auditor without a credential here checks, from the principal's published AP2 keys
// (ap2-jwks.json) and its AP2 status lists fetched earlier. A format module: no storage, no
// HTTP.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "mandates/credential.h"
#include "mandates/reason.h"
#include "mandates/verifier.h"
#include "signer/did.h"

namespace mandated::mandates::ap2 {

// One principal's AP2 issuer keys as published (GET /principals/{p}/ap2-jwks.json): keys named
// by their key id, not by a DID URL. Every key of the set speaks for that one principal: give it
// only a set fetched for the mandate's principal. Thread safety: not synchronized.
class PublishedKeySet final : public signer::DidResolver {
 public:
  // kInvalidArgument "bad-jwks" for anything but {"keys":[jwk with a string kid...]}, and for a
  // kid that appears twice.
  Status Add(const json::Value& jwks);
  // kNotFound "key-not-found" for a kid the sets added do not hold.
  Result<signer::PublicKey> ResolveVerificationMethod(std::string_view kid) override;

 private:
  std::map<std::string, signer::PublicKey, std::less<>> keys_;
};

// What an offline check of an open mandate found.
struct OpenVerdict {
  bool valid = false;
  std::vector<Reason> reasons;  // empty exactly when valid
  // Read from the token, as far as it verified.
  std::string id;      // jti
  std::string vct;
  std::string issuer;  // iss: the principal
  std::string kid;
  int64_t expires_at = 0;
  std::optional<StatusReference> status;  // the token's status.status_list
  std::optional<uint8_t> status_value;    // its entry, when a list answered
  bool status_checked = false;  // false for a valid mandate that names no status entry
};

// Verifies `token`, an open mandate as issued ("<jwt>~<disclosures>~": no later hop, no
// KB-JWT), at `now`: the root's typ dc+sd-jwt and an open vct, its ES256 signature by the key
// `keys` holds for its kid, its disclosures, exp and nbf (300 s skew), and, when its signed
// payload names a status list entry, that entry read from `statuses` (0 valid, 1 "revoked",
// anything else "status-unknown"; no usable list: "status-unavailable"; an index past the end:
// "status-index-out-of-range"). `statuses` must take lists signed by a key of `keys` as
// speaking for `keys`' principal (TokenStatusListSource over `keys` with an IssuerOfKid naming
// it). A mandate without a status entry (issued before the lists) verifies without one
// (status_checked false). Reasons: "ap2-chain-shape" (not an open mandate as issued),
// "sd-jwt-*" and "bad-signature" (signature, disclosures, time), "ap2-unknown-issuer" (no
// published key has its kid), "ap2-not-open" (another vct), "status-unknown" (a status claim
// that is malformed or only disclosed), and the status reasons above. A refusal names the
// mandate only once its signature verified.
OpenVerdict VerifyOpenMandate(std::string_view token, PublishedKeySet& keys,
                              StatusSource& statuses, int64_t now);

// {"verdict":"valid"|"invalid","reasons":[...],"mandate"?:{id,vct,issuer,kid,expires_at,
// status_checked,status?:{idx,uri,value?}},"checked_at"}.
json::Value OpenVerdictToJson(const OpenVerdict& verdict, int64_t now);

}  // namespace mandated::mandates::ap2
