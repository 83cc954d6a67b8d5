// Authentication, rate limiting, tenant confinement and permission checks for every route.
#include "api/auth.h"

#include "api/handler_util.h"
#include "api/http_server.h"
#include "api/problem.h"
#include "audit/event.h"

namespace mandated::api {
namespace {

constexpr char kPrincipalParam[] = "principal";
constexpr char kAgentParam[] = "agent";
constexpr char kMandateParam[] = "mandate";

}  // namespace

AccessGuard::AccessGuard(store::KvStore& kv, identity::Directory& directory,
                         identity::OperatorAuth& operator_auth,
                         identity::PrincipalStore& principals, RateLimiter& limiter,
                         Metrics& metrics, std::map<std::string, identity::RateLimit> role_limits)
    : kv_(kv),
      directory_(directory),
      operator_auth_(operator_auth),
      principals_(principals),
      limiter_(limiter),
      metrics_(metrics),
      role_limits_(std::move(role_limits)) {
  for (const auto& [role, limit] : role_limits_) {
    const double rate = static_cast<double>(limit.per_second);
    const double burst = static_cast<double>(limit.burst);
    metrics_.RegisterGauge("mandated_rate_limit_per_second",
                           "Configured token refill rate per credential, by role", {{"role", role}},
                           [rate] { return rate; });
    metrics_.RegisterGauge("mandated_rate_limit_burst",
                           "Configured bucket size per credential, by role", {{"role", role}},
                           [burst] { return burst; });
  }
  metrics_.RegisterGauge("mandated_rate_limit_buckets", "Token buckets currently tracked",
                         [this] { return static_cast<double>(limiter_.bucket_count()); });
}

Response RateLimitedResponse(const Request& req, const RateLimiter::Decision& decision,
                             std::string detail) {
  const int64_t seconds = std::max<int64_t>(1, (decision.retry_after_micros + 999999) / 1000000);
  Response r = ProblemResponse(ResourceExhaustedError(std::move(detail), "rate-limited"), req);
  r.headers.emplace_back("Retry-After", std::to_string(seconds));
  return r;
}

identity::RateLimit AccessGuard::LimitFor(std::string_view role) const {
  auto it = role_limits_.find(std::string(role));
  return it == role_limits_.end() ? identity::RateLimit{1, 1} : it->second;
}

std::optional<Response> AccessGuard::Refusal(Request& req, identity::Permission permission,
                                             Access* access) const {
  // The token is read in place and the header wiped once it has been checked, whatever the
  // outcome: no copy of the secret outlives the check.
  struct WipeOnReturn {
    Request& req;
    ~WipeOnReturn() { WipeAuthorization(req); }
  } wipe{req};
  const std::string_view token = BearerToken(req);
  if (token.empty()) {
    return ProblemResponse(
        UnauthenticatedError("send a credential as Authorization: Bearer <token>",
                             "missing-credential"),
        req);
  }
  identity::Caller& caller = access->caller;
  if (identity::Directory::LooksLikeDirectoryToken(token)) {
    Result<identity::Caller> c = directory_.Authenticate(token);
    if (!c.ok()) {
      return ProblemResponse(c.error(), req);
    }
    caller = std::move(*c);
  } else {
    if (Status s = operator_auth_.Check(token); !s.ok()) {
      return ProblemResponse(s, req);
    }
    caller.role = identity::Role::kOperator;
    caller.credential_id = "operator";
  }
  const std::string role(identity::RoleName(caller.role));
  AnnotateRequestLog("role", role);
  AnnotateRequestLog("credential", caller.credential_id);
  if (!caller.principal_id.empty()) {
    AnnotateRequestLog("principal", caller.principal_id);
  }
  if (!caller.session_id.empty()) {
    AnnotateRequestLog("session", caller.session_id);
    AnnotateRequestLog("agent", caller.agent_id);
  }

  const identity::RateLimit limit = caller.agent_rate_limit.value_or(LimitFor(role));
  RateLimiter::Decision d = limiter_.Take(caller.credential_id, limit);
  metrics_.IncrementCounter("mandated_rate_limit_decisions_total",
                            "Requests admitted or refused by the per-credential rate limiter",
                            {{"role", role}, {"decision", d.allowed ? "allowed" : "limited"}});
  if (!d.allowed) {
    return RateLimitedResponse(req, d,
                               "rate limit of " + std::to_string(limit.per_second) + "/s (burst " +
                                   std::to_string(limit.burst) + ") exceeded for this credential");
  }

  const std::string path_principal = req.Param(kPrincipalParam);
  if (!path_principal.empty()) {
    if (caller.role == identity::Role::kOperator) {
      Result<identity::Principal> p = principals_.Get(path_principal);
      if (!p.ok()) {
        return ProblemResponse(p.error(), req);
      }
    } else if (caller.principal_id != path_principal) {
      // Another principal's resources do not exist for this caller.
      return ProblemResponse(
          NotFoundError("no principal " + path_principal, "principal-not-found"), req);
    }
    access->tenant.emplace(kv_, path_principal);
  } else if (!caller.principal_id.empty()) {
    access->tenant.emplace(kv_, caller.principal_id);
  }

  if (!identity::RoleAllows(caller.role, permission)) {
    return ProblemResponse(
        PermissionDeniedError("role " + role + " lacks the permission " +
                                  std::string(identity::PermissionName(permission)),
                              "forbidden"),
        req);
  }
  if (const std::string agent = req.Param(kAgentParam);
      !agent.empty() && !caller.InAgentScope(agent)) {
    return ProblemResponse(
        PermissionDeniedError("this credential is limited to other agents", "agent-out-of-scope"),
        req);
  }
  if (const std::string mandate = req.Param(kMandateParam);
      !mandate.empty() && !caller.InMandateScope(mandate)) {
    return ProblemResponse(PermissionDeniedError("this credential is limited to other mandates",
                                                 "mandate-out-of-scope"),
                           req);
  }
  return std::nullopt;
}

Status RequireWholePrincipal(const Access& a) {
  if (!a.caller.agent_scope.empty()) {
    return PermissionDeniedError("this credential is limited to some agents", "agent-out-of-scope");
  }
  if (!a.caller.mandate_scope.empty()) {
    return PermissionDeniedError("this credential is limited to some mandates",
                                 "mandate-out-of-scope");
  }
  return OkStatus();
}

Handler AccessGuard::Guard(identity::Permission permission, GuardedHandler handler) const {
  return [this, permission, handler = std::move(handler)](Request& req) -> Response {
    Access access;
    if (std::optional<Response> refused = Refusal(req, permission, &access)) {
      return std::move(*refused);
    }
    // Every audit event staged while this request is handled names this caller.
    const identity::Caller& c = access.caller;
    audit::ScopedActor actor(
        c.role == identity::Role::kOperator ? audit::Actor::Operator()
        : !c.session_id.empty()
            ? audit::Actor::Session(c.session_id)
            : audit::Actor::Credential(c.credential_id, std::string(identity::RoleName(c.role))));
    return handler(req, access);
  };
}

}  // namespace mandated::api
