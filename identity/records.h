// The identity records kept per principal (users, credentials, agents, sessions): their fields,
// strict request parsers and JSON codecs (specs/access.md). Stored forms carry a secret's hash;
// public forms never do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/amount.h"
#include "base/bytes.h"
#include "base/json.h"
#include "identity/access.h"
#include "identity/principals.h"

namespace mandated::identity {

struct User {
  std::string id;  // "usr_..."
  std::string principal_id;
  std::string name;
  std::vector<Role> roles;
  std::string did;  // optional did:key of the user's own key: signs approval evidence
  std::string state = "active";  // active | disabled
  int64_t created_at = 0;
};

struct Credential {
  std::string id;  // "crd_..."; also the visible prefix of the token
  std::string principal_id;
  std::string name;
  Role role = Role::kAdmin;
  std::string user_id;  // "" when not tied to a user (e.g. a merchant's system)
  std::vector<std::string> agents;
  std::vector<std::string> mandates;
  std::optional<int64_t> expires_at;
  std::string state = "active";  // active | revoked
  int64_t created_at = 0;
  std::optional<int64_t> revoked_at;
  Bytes secret_sha256;  // stored only
};

struct SpendCap {
  std::string asset;
  Amount max;
};

struct Agent {
  std::string id;  // "agt_..."
  std::string principal_id;
  std::string name;
  std::string did;       // did:key of the agent's signing key
  std::string key_type;  // Ed25519 | P-256 | secp256k1
  std::string custody;   // self | custodial
  std::string key_id;    // custodial: the key store id
  std::string address;   // custodial secp256k1: EIP-55 address
  std::string did_pkh;   // custodial secp256k1: did:pkh:eip155:<chain>:<address>
  std::string state = "active";  // active | suspended | revoked
  std::optional<RateLimit> rate_limit;
  std::vector<Ceiling> ceilings;  // the agent's own spending ceilings (calendar windows in UTC)
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct Session {
  std::string id;  // "ses_..."; also the visible prefix of the token
  std::string principal_id;
  std::string agent_id;
  std::string task;
  std::vector<std::string> mandates;
  std::optional<SpendCap> spend_cap;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  std::string state = "active";  // active | revoked (expiry is computed)
  std::optional<int64_t> revoked_at;
  std::string revoked_reason;  // revoked | agent-suspended | agent-revoked | ended
  std::string opened_by;       // "assertion" or the credential id that opened it
  std::string assertion_jti;
  Bytes secret_sha256;  // stored only
};

// Requests, parsed strictly (unknown fields, wrong types and bad values are kInvalidArgument
// naming the JSON pointer at fault).
struct CreateUserRequest {
  std::string name;
  std::vector<Role> roles;
  std::string did;  // optional did:key (specs/access.md §Users)
};
Result<CreateUserRequest> ParseCreateUser(const json::Value& body);

struct CreateCredentialRequest {
  std::string name;
  Role role = Role::kAdmin;
  std::string user_id;
  std::vector<std::string> agents;
  std::vector<std::string> mandates;
  std::optional<int64_t> expires_at;
};
Result<CreateCredentialRequest> ParseCreateCredential(const json::Value& body);

struct CreateAgentRequest {
  std::string name;
  std::string did;                  // self custody
  std::string custodial_key_type;   // custodial
  uint64_t chain_id = 8453;         // custodial secp256k1: did:pkh chain
  std::optional<RateLimit> rate_limit;
  std::vector<Ceiling> ceilings;
};
Result<CreateAgentRequest> ParseCreateAgent(const json::Value& body);

struct OpenSessionRequest {
  std::string assertion;  // POST /v1/sessions only
  std::string task;
  std::vector<std::string> mandates;
  std::optional<SpendCap> spend_cap;
  std::optional<int64_t> ttl_minutes;
};
// `with_assertion`: the agent's own request (assertion required); otherwise an admin's request
// for an agent (assertion refused as unknown).
Result<OpenSessionRequest> ParseOpenSession(const json::Value& body, bool with_assertion);

json::Value UserToJson(const User& u);
Result<User> UserFromJson(const json::Value& v);
// `stored` adds the secret hash.
json::Value CredentialToJson(const Credential& c, bool stored);
Result<Credential> CredentialFromJson(const json::Value& v);
json::Value AgentToJson(const Agent& a);
Result<Agent> AgentFromJson(const json::Value& v);
// `now` decides whether an active session shows as "expired".
json::Value SessionToJson(const Session& s, bool stored, int64_t now);
Result<Session> SessionFromJson(const json::Value& v);

// Shared validation: a display name (1 to 200 bytes, no control characters) at `pointer`.
Status ValidateDisplayName(const std::string& name, const std::string& pointer);

}  // namespace mandated::identity
