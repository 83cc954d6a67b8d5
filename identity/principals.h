// Principals: the tenants of mandated (organisations that grant mandates). Model, strict request
// codec and storage (specs/api.md §Principals).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/amount.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/random.h"
#include "store/kv_store.h"

namespace mandated::identity {

inline constexpr char kPrincipalsFamily[] = "principals";

// A ceiling that applies to all spending of the principal in one asset over one window.
// Enforced by the authorization engine (policy/); stored and validated here.
struct Ceiling {
  std::string asset;   // ISO 4217 code or CAIP-19 id
  std::string window;  // transaction | minute | hour | day | week | month | year | lifetime
  Amount max;
};

// Parses a list of ceilings (absent: none) at `pointer`: at most 64, one per (asset, window),
// valid assets and windows; kInvalidArgument naming the entry otherwise. Shared by principals
// and agents.
Result<std::vector<Ceiling>> ParseCeilings(const json::Value* v, const std::string& pointer);
json::Value CeilingsToJson(const std::vector<Ceiling>& ceilings);

struct Principal {
  std::string id;  // "prn_..."
  std::string name;
  std::vector<Ceiling> ceilings;
  int64_t created_at = 0;  // Unix seconds
};

// Parses and validates a create request: {"name": "...", "ceilings": [{asset, window, max}]}.
// Unknown fields, wrong types, amounts that are numbers or out of range, bad assets and windows,
// and duplicate (asset, window) pairs are kInvalidArgument with a precise reason.
Result<Principal> ParseCreatePrincipal(const json::Value& body);

json::Value PrincipalToJson(const Principal& p);
Result<Principal> PrincipalFromJson(const json::Value& v);

// Stores principals. Creating one writes the record, its unique-name index and its
// principal.created audit event (specs/audit.md §1) in one durable batch. Thread safety: safe from any thread (name uniqueness is serialized by a mutex).
class PrincipalStore {
 public:
  PrincipalStore(store::KvStore& kv, Clock& clock, Random& random)
      : kv_(kv), clock_(clock), random_(random) {}

  // Assigns id and created_at, then stores. kAlreadyExists ("principal-name-taken") if another
  // principal has the same name (case-insensitive).
  Result<Principal> Create(Principal p);
  // kNotFound ("principal-not-found").
  Result<Principal> Get(const std::string& id);
  // Principals in id order, at most `limit`, starting after `after` (exclusive) when non-empty.
  Result<std::vector<Principal>> List(const std::string& after, size_t limit);

 private:
  store::KvStore& kv_;
  Clock& clock_;
  Random& random_;
  std::mutex create_mu_;
};

}  // namespace mandated::identity
