// Mandate verification (specs/mandate.md §7): the one algorithm behind POST /v1/mandates/verify
// and `mandatectl mandate verify`, so that online and offline answers cannot drift apart. The
// two differ only in the ports they pass: where keys come from (DidResolver) and where statuses
// come from (StatusSource).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "mandates/credential.h"
#include "mandates/purchase.h"
#include "mandates/reason.h"
#include "mandates/status_list.h"
#include "signer/did.h"

namespace mandated::mandates {

// Where the verifier reads the status of a mandate's status list entry.
// Thread safety: implementations say.
class StatusSource {
 public:
  virtual ~StatusSource() = default;
  // The 2-bit status at `ref` of a mandate issued by `issuer` (a DID; for AP2, a principal
  // id). kUnavailable
  // "status-unavailable" when no valid, unexpired list for ref.uri signed by the issuer is at
  // hand; kOutOfRange "status-index-out-of-range" for an idx past its end.
  virtual Result<uint8_t> StatusOf(const StatusReference& ref, std::string_view issuer,
                                   int64_t now) = 0;
};

// An offline status source: statuslist+jwt tokens fetched earlier, each verified (typ, kid via
// the resolver, signature, iss, claims, 2 bits) the first time a lookup needs it and kept
// decoded; on every lookup the list must be signed by the mandate's issuer and carry an exp not
// yet reached, and of the lists that do, the one with the largest iat answers (ties: the higher
// status). Thread safety: not synchronized.
class TokenStatusListSource final : public StatusSource {
 public:
  // Who a key speaks for: for vc+jwt lists the DID of its kid (the part before '#'). AP2 lists
  // name their key by id: the caller resolves them with one principal's published key set only
  // and names that principal here (specs/ap2.md §5.6), so "signed by the mandate's issuer"
  // means "signed by a key of that set".
  using IssuerOfKid = std::function<std::string(std::string_view kid)>;
  explicit TokenStatusListSource(signer::DidResolver& resolver, IssuerOfKid issuer_of = {})
      : resolver_(resolver), issuer_of_(std::move(issuer_of)) {}
  // Adds one compact statuslist+jwt; it is checked only when used, so that a bad list fails the
  // verdicts that need it and nothing else.
  void Add(std::string token) { lists_.push_back(List{std::move(token), false, {}, {}, {}}); }
  Result<uint8_t> StatusOf(const StatusReference& ref, std::string_view issuer,
                           int64_t now) override;

 private:
  struct List {
    std::string token;
    bool checked = false;
    std::string problem;        // why it cannot be used ("" when it can)
    StatusListClaims claims;    // set when checked and usable
    std::string signer_did;     // the DID of the key that signed it, once checked
  };
  void Check(List& list);

  signer::DidResolver& resolver_;
  IssuerOfKid issuer_of_;  // empty: the DID of the kid
  std::vector<List> lists_;
};

struct VerifyRequest {
  std::string token;                // the mandate (compact JWS)
  std::vector<std::string> chain;   // its ancestors' tokens, nearest first
  std::optional<Purchase> purchase; // a proposed purchase to check against the static terms
  std::vector<std::string> trusted_issuers;  // empty: any issuer the resolver can resolve
};

// Parses {"mandate","chain"?,"purchase"?,"trusted_issuers"?} (specs/api.md §Mandates), with
// `use` left to the caller (it is an online action); kInvalidArgument with pointer and reason.
Result<VerifyRequest> ParseVerifyRequest(const json::Value& body,
                                         const std::vector<std::string>& extra_members = {});

// One verified link of a chain.
struct VerifiedLink {
  MandateCredential credential;
  std::string alg;
  std::string kid;
  std::optional<uint8_t> status;  // absent when it could not be read
};

struct Verdict {
  bool valid = false;
  std::vector<Reason> reasons;       // empty exactly when valid
  std::vector<VerifiedLink> chain;   // the mandate, then its ancestors, as far as they verified
  bool step_up = false;              // a purchase was given and needs a person's approval
};

// {"verdict":"valid"|"invalid","reasons":[...],"mandate"?:{id,issuer,subject,valid_from,
// valid_until,alg,kid,status},"chain":[mandate ids],"step_up"?}; `now` is echoed as "checked_at".
json::Value VerdictToJson(const Verdict& verdict, int64_t now);

struct VerifyOptions {
  int64_t now = 0;  // Unix seconds
};

// Verifies per specs/mandate.md §7.1. Deterministic: the same inputs give the same verdict.
// Thread safety: safe to call concurrently when the ports are.
Verdict VerifyMandate(const VerifyRequest& request, signer::DidResolver& resolver,
                      StatusSource& statuses, const VerifyOptions& options);

// The public key of a JWK as a JWKS publishes it: only its key members (kty, crv, x, y) are read,
// so metadata (kid, alg, use) does not trip the strict JWK parser.
Result<signer::PublicKey> PublicKeyOfJwksEntry(const json::Value& jwk);

// A resolver over DID documents and JWKS obtained earlier (offline verification): resolves
// "<did>#<fragment>" to a JsonWebKey2020 / JWK verification method of a document whose id is
// <did> and which lists it in assertionMethod, or to a JWKS key whose "kid" is the whole DID URL.
// Also resolves did:key URLs (they carry their key). Thread safety: not synchronized.
class DocumentResolver final : public signer::DidResolver {
 public:
  // kInvalidArgument "bad-did-document" for a document that is not an object with a string id
  // and well-formed verification methods.
  Status AddDidDocument(const json::Value& document);
  // kInvalidArgument "bad-jwks" for anything but {"keys":[jwk with string kid...]}.
  Status AddJwks(const json::Value& jwks);
  Result<signer::PublicKey> ResolveVerificationMethod(std::string_view did_url) override;

 private:
  std::map<std::string, signer::PublicKey, std::less<>> keys_;  // DID URL -> key
};

}  // namespace mandated::mandates
