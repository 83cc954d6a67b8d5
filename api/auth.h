// AccessGuard: the one place where a request is authenticated, throttled, confined to its
// principal and checked against the role table (specs/access.md). Route handlers receive the
// caller and the Tenant they may act in; they never look at tokens or principal ids themselves.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "api/http_types.h"
#include "api/metrics.h"
#include "api/rate_limiter.h"
#include "api/router.h"
#include "identity/access.h"
#include "identity/directory.h"
#include "identity/operator_auth.h"
#include "identity/principals.h"
#include "identity/tenant.h"
#include "store/kv_store.h"

namespace mandated::api {

struct Access {
  identity::Caller caller;
  // Routes under /v1/principals/{principal}: that principal (after the checks). Agent routes:
  // the agent's principal. Operator-only routes: none.
  std::optional<identity::Tenant> tenant;
};

using GuardedHandler = std::function<Response(Request&, const Access&)>;

// Users, agents, keys and other credentials are the whole principal's: a credential limited to
// some agents (403 agent-out-of-scope) or mandates (403 mandate-out-of-scope) neither creates
// them nor disables, rotates or revokes them.
Status RequireWholePrincipal(const Access& a);

// 429 rate-limited with Retry-After (whole seconds, at least 1) for a refused decision.
Response RateLimitedResponse(const Request& req, const RateLimiter::Decision& decision,
                             std::string detail);

// Thread safety: immutable after construction; Guard's handlers run on any thread.
class AccessGuard {
 public:
  AccessGuard(store::KvStore& kv, identity::Directory& directory,
              identity::OperatorAuth& operator_auth, identity::PrincipalStore& principals,
              RateLimiter& limiter, Metrics& metrics,
              std::map<std::string, identity::RateLimit> role_limits);

  // Wraps `handler`: answers 401 (no or bad credential), 429 (over the credential's rate, with
  // Retry-After), 404 principal-not-found (the path names another principal), 403 forbidden
  // (the role lacks `permission`) or 403 agent-out-of-scope (the credential is limited to other
  // agents), in that order, and calls `handler` only when all pass. Refusals change no state.
  Handler Guard(identity::Permission permission, GuardedHandler handler) const;

  // The configured limit of a role ("agent", "admin", ...); an unknown role gets 1/s, burst 1.
  identity::RateLimit LimitFor(std::string_view role) const;

 private:
  // The refusal for this request, or nullopt when it may proceed (then `access` is filled).
  std::optional<Response> Refusal(Request& req, identity::Permission permission,
                                  Access* access) const;

  store::KvStore& kv_;
  identity::Directory& directory_;
  identity::OperatorAuth& operator_auth_;
  identity::PrincipalStore& principals_;
  RateLimiter& limiter_;
  Metrics& metrics_;
  std::map<std::string, identity::RateLimit> role_limits_;
};

}  // namespace mandated::api
