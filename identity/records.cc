// Codecs and request parsers of the identity records (specs/access.md).
#include "identity/records.h"

#include <set>

#include "base/asset.h"
#include "base/utf8.h"
#include "signer/did.h"

namespace mandated::identity {
namespace {

// Ids we accept in scope lists: our id shapes ("agt_" + base32) and, for mandates issued later,
// any short [a-z0-9_-] token.
Status ValidateId(const std::string& id, const std::string& pointer) {
  if (id.empty() || id.size() > 64) {
    return InvalidArgumentError(pointer + ": must be an id of 1 to 64 characters", "bad-id");
  }
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      return InvalidArgumentError(pointer + ": must be an id of [a-z0-9_-]", "bad-id");
    }
  }
  return OkStatus();
}

Result<std::vector<std::string>> IdList(const json::Value* v, const std::string& pointer,
                                        size_t max_items) {
  std::vector<std::string> out;
  if (v == nullptr) {
    return out;
  }
  if (!v->is_array()) {
    return InvalidArgumentError(pointer + ": expected an array", "wrong-type");
  }
  if (v->items().size() > max_items) {
    return InvalidArgumentError(pointer + ": at most " + std::to_string(max_items) + " items",
                                "too-many-items");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < v->items().size(); ++i) {
    const std::string at = pointer + "/" + std::to_string(i);
    const json::Value& item = v->items()[i];
    if (!item.is_string()) {
      return InvalidArgumentError(at + ": expected a string", "wrong-type");
    }
    MD_RETURN_IF_ERROR(ValidateId(item.as_string(), at));
    if (!seen.insert(item.as_string()).second) {
      return InvalidArgumentError(at + ": listed twice", "duplicate-item");
    }
    out.push_back(item.as_string());
  }
  return out;
}

json::Value StringArray(const std::vector<std::string>& items) {
  json::Value a = json::Value::Array();
  for (const std::string& s : items) {
    a.Append(json::Value::String(s));
  }
  return a;
}

Result<std::optional<RateLimit>> ParseRateLimit(const json::Value* v, const std::string& pointer) {
  if (v == nullptr) {
    return std::optional<RateLimit>();
  }
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(*v, pointer));
  RateLimit rl;
  MD_ASSIGN_OR_RETURN(rl.per_second, r.Int("per_second"));
  MD_ASSIGN_OR_RETURN(rl.burst, r.Int("burst"));
  MD_RETURN_IF_ERROR(r.Finish());
  if (rl.per_second < 1 || rl.per_second > 1000000) {
    return InvalidArgumentError(pointer + "/per_second: must be 1 to 1000000", "bad-rate-limit");
  }
  if (rl.burst < 1 || rl.burst > 1000000) {
    return InvalidArgumentError(pointer + "/burst: must be 1 to 1000000", "bad-rate-limit");
  }
  return std::optional<RateLimit>(rl);
}

json::Value RateLimitToJson(const RateLimit& rl) {
  json::Value v = json::Value::Object();
  v.Set("per_second", json::Value::Int(rl.per_second));
  v.Set("burst", json::Value::Int(rl.burst));
  return v;
}

Result<std::optional<SpendCap>> ParseSpendCap(const json::Value* v, const std::string& pointer) {
  if (v == nullptr) {
    return std::optional<SpendCap>();
  }
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(*v, pointer));
  SpendCap cap;
  MD_ASSIGN_OR_RETURN(cap.asset, r.String("asset"));
  MD_ASSIGN_OR_RETURN(cap.max, r.AmountField("max"));
  MD_RETURN_IF_ERROR(r.Finish());
  if (Status s = ValidateAssetId(cap.asset); !s.ok()) {
    return s.Annotate(pointer + "/asset");
  }
  return std::optional<SpendCap>(std::move(cap));
}

Result<std::vector<Role>> ParseRoles(const json::Value* v, const std::string& pointer) {
  if (v == nullptr || !v->is_array()) {
    return InvalidArgumentError(pointer + ": expected an array of roles", "wrong-type");
  }
  if (v->items().empty() || v->items().size() > 4) {
    return InvalidArgumentError(pointer + ": give 1 to 4 roles", "bad-role");
  }
  std::vector<Role> out;
  for (size_t i = 0; i < v->items().size(); ++i) {
    const std::string at = pointer + "/" + std::to_string(i);
    if (!v->items()[i].is_string()) {
      return InvalidArgumentError(at + ": expected a string", "wrong-type");
    }
    Result<Role> r = GrantableRoleFromName(v->items()[i].as_string());
    if (!r.ok()) {
      return r.error().Annotate(at);
    }
    for (Role seen : out) {
      if (seen == *r) {
        return InvalidArgumentError(at + ": listed twice", "duplicate-item");
      }
    }
    out.push_back(*r);
  }
  return out;
}

Result<Bytes> StoredHash(json::ObjectReader& r) {
  MD_ASSIGN_OR_RETURN(std::string hex, r.String("secret_sha256"));
  MD_ASSIGN_OR_RETURN(Bytes h, HexDecode(hex));
  if (h.size() != 32) {
    return InvalidArgumentError("secret_sha256 must be 32 bytes", "bad-record");
  }
  return h;
}

}  // namespace

Status ValidateDisplayName(const std::string& name, const std::string& pointer) {
  if (name.empty() || name.size() > 200) {
    return InvalidArgumentError(pointer + ": must be 1 to 200 bytes", "bad-name");
  }
  if (HasControlCharacter(name)) {  // C1 too: U+0085 breaks a line, U+009B starts a terminal escape
    return InvalidArgumentError(pointer + ": must not contain control characters", "bad-name");
  }
  return OkStatus();
}

Result<CreateUserRequest> ParseCreateUser(const json::Value& body) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  CreateUserRequest req;
  MD_ASSIGN_OR_RETURN(req.name, r.String("name"));
  MD_RETURN_IF_ERROR(ValidateDisplayName(req.name, "/name"));
  MD_ASSIGN_OR_RETURN(const json::Value* roles, r.Required("roles"));
  MD_ASSIGN_OR_RETURN(req.roles, ParseRoles(roles, "/roles"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> did, r.OptionalString("did"));
  if (did) {
    if (!signer::PublicKeyFromDidKey(*did).ok()) {
      return InvalidArgumentError("/did: must be a did:key", "bad-did");
    }
    req.did = *did;
  }
  MD_RETURN_IF_ERROR(r.Finish());
  return req;
}

Result<CreateCredentialRequest> ParseCreateCredential(const json::Value& body) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  CreateCredentialRequest req;
  MD_ASSIGN_OR_RETURN(std::string role, r.String("role"));
  Result<Role> parsed = GrantableRoleFromName(role);
  if (!parsed.ok()) {
    return parsed.error().Annotate("/role");
  }
  req.role = *parsed;
  MD_ASSIGN_OR_RETURN(std::optional<std::string> name, r.OptionalString("name"));
  req.name = name.value_or(std::string(RoleName(req.role)) + " credential");
  MD_RETURN_IF_ERROR(ValidateDisplayName(req.name, "/name"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> user, r.OptionalString("user"));
  if (user.has_value()) {
    MD_RETURN_IF_ERROR(ValidateId(*user, "/user"));
    req.user_id = *user;
  }
  MD_ASSIGN_OR_RETURN(req.agents, IdList(r.Optional("agents"), "/agents", 100));
  MD_ASSIGN_OR_RETURN(req.mandates, IdList(r.Optional("mandates"), "/mandates", 100));
  MD_ASSIGN_OR_RETURN(req.expires_at, r.OptionalInt("expires_at"));
  MD_RETURN_IF_ERROR(r.Finish());
  return req;
}

Result<CreateAgentRequest> ParseCreateAgent(const json::Value& body) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  CreateAgentRequest req;
  MD_ASSIGN_OR_RETURN(req.name, r.String("name"));
  MD_RETURN_IF_ERROR(ValidateDisplayName(req.name, "/name"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> did, r.OptionalString("did"));
  const json::Value* custodial = r.Optional("custodial");
  MD_ASSIGN_OR_RETURN(req.rate_limit, ParseRateLimit(r.Optional("rate_limit"), "/rate_limit"));
  MD_ASSIGN_OR_RETURN(req.ceilings, ParseCeilings(r.Optional("ceilings"), "/ceilings"));
  MD_RETURN_IF_ERROR(r.Finish());
  if (did.has_value() == (custodial != nullptr)) {
    return InvalidArgumentError(
        "give exactly one of /did (the agent holds its key) or /custodial (the service holds it)",
        "bad-agent-key");
  }
  if (did.has_value()) {
    if (did->empty()) {  // else it would read as "no did", a custodial agent with no key type
      return InvalidArgumentError("/did: an empty string is not a DID", "bad-did");
    }
    req.did = *did;
    return req;
  }
  MD_ASSIGN_OR_RETURN(json::ObjectReader c, json::ObjectReader::Of(*custodial, "/custodial"));
  MD_ASSIGN_OR_RETURN(req.custodial_key_type, c.String("key_type"));
  MD_ASSIGN_OR_RETURN(std::optional<int64_t> chain, c.OptionalInt("chain_id"));
  MD_RETURN_IF_ERROR(c.Finish());
  if (chain.has_value()) {
    if (*chain < 1) {
      return InvalidArgumentError("/custodial/chain_id: must be a positive integer",
                                  "bad-chain-id");
    }
    req.chain_id = static_cast<uint64_t>(*chain);
  }
  return req;
}

Result<OpenSessionRequest> ParseOpenSession(const json::Value& body, bool with_assertion) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  OpenSessionRequest req;
  if (with_assertion) {
    MD_ASSIGN_OR_RETURN(req.assertion, r.String("assertion"));
  }
  MD_ASSIGN_OR_RETURN(req.task, r.String("task"));
  MD_RETURN_IF_ERROR(ValidateDisplayName(req.task, "/task"));
  MD_ASSIGN_OR_RETURN(req.mandates, IdList(r.Optional("mandates"), "/mandates", 100));
  MD_ASSIGN_OR_RETURN(req.spend_cap, ParseSpendCap(r.Optional("spend_cap"), "/spend_cap"));
  MD_ASSIGN_OR_RETURN(req.ttl_minutes, r.OptionalInt("ttl_minutes"));
  MD_RETURN_IF_ERROR(r.Finish());
  return req;
}

json::Value UserToJson(const User& u) {
  json::Value v = json::Value::Object();
  v.Set("id", json::Value::String(u.id));
  v.Set("principal", json::Value::String(u.principal_id));
  v.Set("name", json::Value::String(u.name));
  json::Value roles = json::Value::Array();
  for (Role r : u.roles) {
    roles.Append(json::Value::String(std::string(RoleName(r))));
  }
  v.Set("roles", std::move(roles));
  if (!u.did.empty()) {
    v.Set("did", json::Value::String(u.did));
  }
  v.Set("state", json::Value::String(u.state));
  v.Set("created_at", json::Value::Int(u.created_at));
  return v;
}

Result<User> UserFromJson(const json::Value& v) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v));
  User u;
  MD_ASSIGN_OR_RETURN(u.id, r.String("id"));
  MD_ASSIGN_OR_RETURN(u.principal_id, r.String("principal"));
  MD_ASSIGN_OR_RETURN(u.name, r.String("name"));
  MD_ASSIGN_OR_RETURN(const json::Value* roles, r.Required("roles"));
  MD_ASSIGN_OR_RETURN(u.roles, ParseRoles(roles, "/roles"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> did, r.OptionalString("did"));
  u.did = did.value_or("");
  MD_ASSIGN_OR_RETURN(u.state, r.String("state"));
  MD_ASSIGN_OR_RETURN(u.created_at, r.Int("created_at"));
  MD_RETURN_IF_ERROR(r.Finish());
  return u;
}

json::Value CredentialToJson(const Credential& c, bool stored) {
  json::Value v = json::Value::Object();
  v.Set("id", json::Value::String(c.id));
  v.Set("principal", json::Value::String(c.principal_id));
  v.Set("name", json::Value::String(c.name));
  v.Set("role", json::Value::String(std::string(RoleName(c.role))));
  if (!c.user_id.empty()) {
    v.Set("user", json::Value::String(c.user_id));
  }
  v.Set("agents", StringArray(c.agents));
  v.Set("mandates", StringArray(c.mandates));
  if (c.expires_at.has_value()) {
    v.Set("expires_at", json::Value::Int(*c.expires_at));
  }
  v.Set("state", json::Value::String(c.state));
  v.Set("created_at", json::Value::Int(c.created_at));
  if (c.revoked_at.has_value()) {
    v.Set("revoked_at", json::Value::Int(*c.revoked_at));
  }
  if (stored) {
    v.Set("secret_sha256", json::Value::String(HexEncode(c.secret_sha256)));
  }
  return v;
}

Result<Credential> CredentialFromJson(const json::Value& v) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v));
  Credential c;
  MD_ASSIGN_OR_RETURN(c.id, r.String("id"));
  MD_ASSIGN_OR_RETURN(c.principal_id, r.String("principal"));
  MD_ASSIGN_OR_RETURN(c.name, r.String("name"));
  MD_ASSIGN_OR_RETURN(std::string role, r.String("role"));
  MD_ASSIGN_OR_RETURN(c.role, GrantableRoleFromName(role));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> user, r.OptionalString("user"));
  c.user_id = user.value_or("");
  MD_ASSIGN_OR_RETURN(c.agents, IdList(r.Optional("agents"), "/agents", 100));
  MD_ASSIGN_OR_RETURN(c.mandates, IdList(r.Optional("mandates"), "/mandates", 100));
  MD_ASSIGN_OR_RETURN(c.expires_at, r.OptionalInt("expires_at"));
  MD_ASSIGN_OR_RETURN(c.state, r.String("state"));
  MD_ASSIGN_OR_RETURN(c.created_at, r.Int("created_at"));
  MD_ASSIGN_OR_RETURN(c.revoked_at, r.OptionalInt("revoked_at"));
  MD_ASSIGN_OR_RETURN(c.secret_sha256, StoredHash(r));
  MD_RETURN_IF_ERROR(r.Finish());
  return c;
}

json::Value AgentToJson(const Agent& a) {
  json::Value v = json::Value::Object();
  v.Set("id", json::Value::String(a.id));
  v.Set("principal", json::Value::String(a.principal_id));
  v.Set("name", json::Value::String(a.name));
  v.Set("did", json::Value::String(a.did));
  v.Set("key_type", json::Value::String(a.key_type));
  v.Set("custody", json::Value::String(a.custody));
  if (!a.key_id.empty()) {
    v.Set("key_id", json::Value::String(a.key_id));
  }
  if (!a.address.empty()) {
    v.Set("address", json::Value::String(a.address));
    v.Set("did_pkh", json::Value::String(a.did_pkh));
  }
  v.Set("state", json::Value::String(a.state));
  if (a.rate_limit.has_value()) {
    v.Set("rate_limit", RateLimitToJson(*a.rate_limit));
  }
  if (!a.ceilings.empty()) {
    v.Set("ceilings", CeilingsToJson(a.ceilings));
  }
  v.Set("created_at", json::Value::Int(a.created_at));
  v.Set("updated_at", json::Value::Int(a.updated_at));
  return v;
}

Result<Agent> AgentFromJson(const json::Value& v) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v));
  Agent a;
  MD_ASSIGN_OR_RETURN(a.id, r.String("id"));
  MD_ASSIGN_OR_RETURN(a.principal_id, r.String("principal"));
  MD_ASSIGN_OR_RETURN(a.name, r.String("name"));
  MD_ASSIGN_OR_RETURN(a.did, r.String("did"));
  MD_ASSIGN_OR_RETURN(a.key_type, r.String("key_type"));
  MD_ASSIGN_OR_RETURN(a.custody, r.String("custody"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> key_id, r.OptionalString("key_id"));
  a.key_id = key_id.value_or("");
  MD_ASSIGN_OR_RETURN(std::optional<std::string> address, r.OptionalString("address"));
  a.address = address.value_or("");
  MD_ASSIGN_OR_RETURN(std::optional<std::string> pkh, r.OptionalString("did_pkh"));
  a.did_pkh = pkh.value_or("");
  MD_ASSIGN_OR_RETURN(a.state, r.String("state"));
  MD_ASSIGN_OR_RETURN(a.rate_limit, ParseRateLimit(r.Optional("rate_limit"), "/rate_limit"));
  MD_ASSIGN_OR_RETURN(a.ceilings, ParseCeilings(r.Optional("ceilings"), "/ceilings"));
  MD_ASSIGN_OR_RETURN(a.created_at, r.Int("created_at"));
  MD_ASSIGN_OR_RETURN(a.updated_at, r.Int("updated_at"));
  MD_RETURN_IF_ERROR(r.Finish());
  return a;
}

json::Value SessionToJson(const Session& s, bool stored, int64_t now) {
  json::Value v = json::Value::Object();
  v.Set("id", json::Value::String(s.id));
  v.Set("principal", json::Value::String(s.principal_id));
  v.Set("agent", json::Value::String(s.agent_id));
  v.Set("task", json::Value::String(s.task));
  v.Set("mandates", StringArray(s.mandates));
  if (s.spend_cap.has_value()) {
    json::Value cap = json::Value::Object();
    cap.Set("asset", json::Value::String(s.spend_cap->asset));
    cap.Set("max", json::Value::String(s.spend_cap->max.ToString()));
    v.Set("spend_cap", std::move(cap));
  }
  v.Set("created_at", json::Value::Int(s.created_at));
  v.Set("expires_at", json::Value::Int(s.expires_at));
  std::string state = s.state;
  if (!stored && state == "active" && now >= s.expires_at) {
    state = "expired";
  }
  v.Set("state", json::Value::String(state));
  if (s.revoked_at.has_value()) {
    v.Set("revoked_at", json::Value::Int(*s.revoked_at));
    v.Set("revoked_reason", json::Value::String(s.revoked_reason));
  }
  v.Set("opened_by", json::Value::String(s.opened_by));
  if (!s.assertion_jti.empty()) {
    v.Set("assertion_jti", json::Value::String(s.assertion_jti));
  }
  if (stored) {
    v.Set("secret_sha256", json::Value::String(HexEncode(s.secret_sha256)));
  }
  return v;
}

Result<Session> SessionFromJson(const json::Value& v) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v));
  Session s;
  MD_ASSIGN_OR_RETURN(s.id, r.String("id"));
  MD_ASSIGN_OR_RETURN(s.principal_id, r.String("principal"));
  MD_ASSIGN_OR_RETURN(s.agent_id, r.String("agent"));
  MD_ASSIGN_OR_RETURN(s.task, r.String("task"));
  MD_ASSIGN_OR_RETURN(s.mandates, IdList(r.Optional("mandates"), "/mandates", 100));
  MD_ASSIGN_OR_RETURN(s.spend_cap, ParseSpendCap(r.Optional("spend_cap"), "/spend_cap"));
  MD_ASSIGN_OR_RETURN(s.created_at, r.Int("created_at"));
  MD_ASSIGN_OR_RETURN(s.expires_at, r.Int("expires_at"));
  MD_ASSIGN_OR_RETURN(s.state, r.String("state"));
  MD_ASSIGN_OR_RETURN(s.revoked_at, r.OptionalInt("revoked_at"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> reason, r.OptionalString("revoked_reason"));
  s.revoked_reason = reason.value_or("");
  MD_ASSIGN_OR_RETURN(s.opened_by, r.String("opened_by"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> jti, r.OptionalString("assertion_jti"));
  s.assertion_jti = jti.value_or("");
  MD_ASSIGN_OR_RETURN(s.secret_sha256, StoredHash(r));
  MD_RETURN_IF_ERROR(r.Finish());
  return s;
}

}  // namespace mandated::identity
