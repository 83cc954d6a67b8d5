// Principal-scoped routes for users, credentials, agents and sessions, and the agent's own
// session routes (specs/api.md §Access). Every handler here runs behind AccessGuard.
#include <algorithm>

#include "api/app.h"
#include "api/handler_util.h"
#include "api/http_server.h"
#include "api/idempotent_route.h"
#include "policy/authorizer.h"
#include "base/log.h"

namespace mandated::api {
namespace {

using identity::Permission;

// Whether a scope list `asked` stays within the caller's `mine` (empty: unlimited). An empty
// `asked` is unlimited, so only an unlimited caller may ask for it.
bool WithinScope(const std::vector<std::string>& mine, const std::vector<std::string>& asked) {
  if (mine.empty()) {
    return true;
  }
  if (asked.empty()) {
    return false;
  }
  return std::all_of(asked.begin(), asked.end(), [&](const std::string& x) {
    return std::find(mine.begin(), mine.end(), x) != mine.end();
  });
}

// A credential creates only credentials within its own scope and lifetime.
Status RequireSubsetScope(const Access& a, const identity::CreateCredentialRequest& req) {
  if (!WithinScope(a.caller.agent_scope, req.agents)) {
    return PermissionDeniedError("/agents: a credential cannot grant agents beyond its own scope",
                                 "scope-widened");
  }
  if (!WithinScope(a.caller.mandate_scope, req.mandates)) {
    return PermissionDeniedError(
        "/mandates: a credential cannot grant mandates beyond its own scope", "scope-widened");
  }
  if (const std::optional<int64_t>& mine = a.caller.credential_expires_at;
      mine.has_value() && (!req.expires_at.has_value() || *req.expires_at > *mine)) {
    return PermissionDeniedError("/expires_at: a credential cannot create one that outlives it "
                                 "(it expires at " + std::to_string(*mine) + ")",
                                 "scope-widened");
  }
  return OkStatus();
}

json::Value WithTokenJson(json::Value record, const SecretBytes& token) {
  record.Set("token", json::Value::String(std::string(token.chars())));
  return record;
}

std::string Actor(const Access& a) { return a.caller.credential_id; }

}  // namespace

void App::RegisterIdentityRoutes() {
  const AccessGuard& g = *guard_;
  identity::Directory& dir = *directory_;
  const std::string base = "/v1/principals/{principal}";

  // ---- Users ----
  router_.Add("POST", base + "/users", g.Guard(Permission::kManageUsers, [&dir](Request& req, const Access& a) {
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    Result<identity::CreateUserRequest> r = identity::ParseCreateUser(*body);
    if (!r.ok()) return ProblemResponse(r.error(), req);
    if (Status s = RequireWholePrincipal(a); !s.ok()) return ProblemResponse(s, req);
    return Answer(dir.CreateUser(*a.tenant, *r), req, 201, identity::UserToJson);
  }));
  router_.Add("GET", base + "/users", g.Guard(Permission::kReadUsers, [&dir](Request& req, const Access& a) {
    Result<Page> page = ParsePage(req);
    if (!page.ok()) return ProblemResponse(page.error(), req);
    Result<std::vector<identity::User>> list = dir.ListUsers(*a.tenant, page->after, page->limit);
    if (!list.ok()) return ProblemResponse(list.error(), req);
    json::Value items = json::Value::Array();
    for (const identity::User& u : *list) items.Append(identity::UserToJson(u));
    return ListResponse(std::move(items), list->size() == page->limit, list->empty() ? "" : list->back().id);
  }));
  router_.Add("GET", base + "/users/{user}", g.Guard(Permission::kReadUsers, [&dir](Request& req, const Access& a) {
    return Answer(dir.GetUser(*a.tenant, req.Param("user")), req, 200, identity::UserToJson);
  }));
  router_.Add("POST", base + "/users/{user}/disable", g.Guard(Permission::kManageUsers, [&dir](Request& req, const Access& a) {
    if (Status s = RequireWholePrincipal(a); !s.ok()) return ProblemResponse(s, req);
    return Answer(dir.DisableUser(*a.tenant, req.Param("user")), req, 200, identity::UserToJson);
  }));

  // ---- Credentials ----
  router_.Add("POST", base + "/credentials", g.Guard(Permission::kManageCredentials, [&dir](Request& req, const Access& a) {
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    Result<identity::CreateCredentialRequest> r = identity::ParseCreateCredential(*body);
    if (!r.ok()) return ProblemResponse(r.error(), req);
    if (Status s = RequireSubsetScope(a, *r); !s.ok()) return ProblemResponse(s, req);
    Result<identity::WithToken<identity::Credential>> c = dir.CreateCredential(*a.tenant, *r);
    if (!c.ok()) return ProblemResponse(c.error(), req);
    log::Info("credential created", {{"request_id", req.request_id}, {"principal", a.tenant->principal_id()},
                                     {"credential", c->record.id}, {"role", std::string(identity::RoleName(c->record.role))},
                                     {"by", Actor(a)}});
    return JsonResponse(201, WithTokenJson(identity::CredentialToJson(c->record, false), c->token));
  }));
  router_.Add("GET", base + "/credentials", g.Guard(Permission::kReadCredentials, [&dir](Request& req, const Access& a) {
    Result<Page> page = ParsePage(req);
    if (!page.ok()) return ProblemResponse(page.error(), req);
    Result<std::vector<identity::Credential>> list = dir.ListCredentials(*a.tenant, page->after, page->limit);
    if (!list.ok()) return ProblemResponse(list.error(), req);
    json::Value items = json::Value::Array();
    for (const identity::Credential& c : *list) items.Append(identity::CredentialToJson(c, false));
    return ListResponse(std::move(items), list->size() == page->limit, list->empty() ? "" : list->back().id);
  }));
  auto credential_json = [](const identity::Credential& c) { return identity::CredentialToJson(c, false); };
  router_.Add("GET", base + "/credentials/{credential}", g.Guard(Permission::kReadCredentials, [&dir, credential_json](Request& req, const Access& a) {
    return Answer(dir.GetCredential(*a.tenant, req.Param("credential")), req, 200, credential_json);
  }));
  router_.Add("POST", base + "/credentials/{credential}/revoke", g.Guard(Permission::kManageCredentials, [&dir, credential_json](Request& req, const Access& a) {
    if (Status s = RequireWholePrincipal(a); !s.ok()) return ProblemResponse(s, req);
    return Answer(dir.RevokeCredential(*a.tenant, req.Param("credential")), req, 200, credential_json);
  }));

  // ---- Agents ----
  router_.Add("POST", base + "/agents", g.Guard(Permission::kManageAgents, [&dir](Request& req, const Access& a) {
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    Result<identity::CreateAgentRequest> r = identity::ParseCreateAgent(*body);
    if (!r.ok()) return ProblemResponse(r.error(), req);
    if (Status s = RequireWholePrincipal(a); !s.ok()) return ProblemResponse(s, req);
    Result<identity::Agent> agent = dir.CreateAgent(*a.tenant, *r);
    if (!agent.ok()) return ProblemResponse(agent.error(), req);
    Response res = JsonResponse(201, identity::AgentToJson(*agent));
    res.headers.emplace_back("Location", "/v1/principals/" + agent->principal_id + "/agents/" + agent->id);
    return res;
  }));
  router_.Add("GET", base + "/agents", g.Guard(Permission::kReadAgents, [&dir](Request& req, const Access& a) {
    Result<Page> page = ParsePage(req);
    if (!page.ok()) return ProblemResponse(page.error(), req);
    Result<std::vector<identity::Agent>> list = dir.ListAgents(*a.tenant, page->after, page->limit);
    if (!list.ok()) return ProblemResponse(list.error(), req);
    json::Value items = json::Value::Array();
    for (const identity::Agent& ag : *list) {
      if (a.caller.InAgentScope(ag.id)) items.Append(identity::AgentToJson(ag));
    }
    return ListResponse(std::move(items), list->size() == page->limit, list->empty() ? "" : list->back().id);
  }));
  router_.Add("GET", base + "/agents/{agent}", g.Guard(Permission::kReadAgents, [&dir](Request& req, const Access& a) {
    return Answer(dir.GetAgent(*a.tenant, req.Param("agent")), req, 200, identity::AgentToJson);
  }));
  for (const char* action : {"suspend", "resume", "revoke"}) {
    router_.Add("POST", base + "/agents/{agent}/" + action, g.Guard(Permission::kManageAgents, [this, &dir, action](Request& req, const Access& a) {
      // An agent-limited credential manages its own agents (the guard checked {agent}); a
      // mandate-limited one would stop the agent under every other mandate too.
      if (!a.caller.mandate_scope.empty()) {
        return ProblemResponse(PermissionDeniedError("this credential is limited to some mandates",
                                                     "mandate-out-of-scope"),
                               req);
      }
      Result<identity::Agent> agent = dir.ChangeAgentState(*a.tenant, req.Param("agent"), action);
      if (agent.ok()) {
        log::Info("agent state changed", {{"request_id", req.request_id}, {"principal", agent->principal_id},
                                          {"agent", agent->id}, {"state", agent->state}, {"by", Actor(a)}});
      }
      if (agent.ok() && agent->state != "active") {
        // Its pending step-ups stop with it (specs/access.md §Agents): denied by whoever
        // suspended or revoked it, their holds released. The agent's change is written already;
        // a denial that fails is logged, and that request can still not be approved while the
        // agent is not active (nor after its timeout).
        Result<size_t> denied = authorizer_->DenyPendingOfAgent(
            *a.tenant, ActorOf(a), agent->id, "agent " + agent->id + " was " + agent->state);
        if (!denied.ok()) {
          log::Warn("pending approvals of a stopped agent not all denied",
                    {{"request_id", req.request_id}, {"agent", agent->id},
                     {"error", denied.error().ToString()}});
        }
      }
      return Answer(agent, req, 200, identity::AgentToJson);
    }));
  }

  // ---- Sessions ----
  auto session_json = [this](const identity::Session& s) {
    return identity::SessionToJson(s, false, clock_->NowUnixSeconds());
  };
  router_.Add("POST", base + "/agents/{agent}/sessions", g.Guard(Permission::kManageSessions, [&dir, session_json](Request& req, const Access& a) {
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    Result<identity::OpenSessionRequest> r = identity::ParseOpenSession(*body, false);
    if (!r.ok()) return ProblemResponse(r.error(), req);
    // A credential limited to some mandates opens sessions limited to (some of) them: a session
    // without a list could spend under every mandate of the agent.
    if (!WithinScope(a.caller.mandate_scope, r->mandates)) {
      return ProblemResponse(PermissionDeniedError("/mandates: a credential limited to some "
                                                   "mandates opens sessions limited to them",
                                                   "scope-widened"),
                             req);
    }
    Result<identity::WithToken<identity::Session>> s =
        dir.OpenSessionForAgent(*a.tenant, req.Param("agent"), *r, Actor(a));
    if (!s.ok()) return ProblemResponse(s.error(), req);
    log::Info("session opened", {{"request_id", req.request_id}, {"principal", s->record.principal_id},
                                 {"agent", s->record.agent_id}, {"session", s->record.id}, {"by", Actor(a)}});
    return JsonResponse(201, WithTokenJson(session_json(s->record), s->token));
  }));
  router_.Add("GET", base + "/sessions", g.Guard(Permission::kReadSessions, [&dir, session_json](Request& req, const Access& a) {
    Result<Page> page = ParsePage(req);
    if (!page.ok()) return ProblemResponse(page.error(), req);
    const std::string agent = req.Query("agent");
    if (!agent.empty() && !a.caller.InAgentScope(agent)) {
      return ProblemResponse(PermissionDeniedError("this credential is limited to other agents",
                                                   "agent-out-of-scope"),
                             req);
    }
    Result<std::vector<identity::Session>> list = dir.ListSessions(*a.tenant, agent, page->after, page->limit);
    if (!list.ok()) return ProblemResponse(list.error(), req);
    json::Value items = json::Value::Array();
    for (const identity::Session& s : *list) {
      if (a.caller.InAgentScope(s.agent_id)) items.Append(session_json(s));
    }
    return ListResponse(std::move(items), list->size() == page->limit, list->empty() ? "" : list->back().id);
  }));
  auto scoped_session = [&dir](const Access& a, const std::string& id) -> Result<identity::Session> {
    MD_ASSIGN_OR_RETURN(identity::Session s, dir.GetSession(*a.tenant, id));
    if (!a.caller.InAgentScope(s.agent_id)) {
      return PermissionDeniedError("this credential is limited to other agents", "agent-out-of-scope");
    }
    return s;
  };
  router_.Add("GET", base + "/sessions/{session}", g.Guard(Permission::kReadSessions, [scoped_session, session_json](Request& req, const Access& a) {
    return Answer(scoped_session(a, req.Param("session")), req, 200, session_json);
  }));
  router_.Add("POST", base + "/sessions/{session}/revoke", g.Guard(Permission::kManageSessions, [&dir, scoped_session, session_json](Request& req, const Access& a) {
    Result<identity::Session> s = scoped_session(a, req.Param("session"));
    if (!s.ok()) return ProblemResponse(s.error(), req);
    // A mandate-limited credential ends only sessions limited to its mandates: ending another
    // would stop the agent's spending under other mandates.
    if (!a.caller.mandate_scope.empty() && !WithinScope(a.caller.mandate_scope, s->mandates)) {
      return ProblemResponse(PermissionDeniedError("this session reaches mandates beyond this "
                                                   "credential's",
                                                   "mandate-out-of-scope"),
                             req);
    }
    Result<identity::Session> revoked = dir.RevokeSession(*a.tenant, s->id, "revoked");
    if (revoked.ok()) {
      log::Info("session revoked", {{"request_id", req.request_id}, {"principal", revoked->principal_id},
                                    {"agent", revoked->agent_id}, {"session", revoked->id}, {"by", Actor(a)}});
    }
    return Answer(revoked, req, 200, session_json);
  }));

  // ---- The agent's own session ----
  router_.Add("POST", "/v1/sessions", [this, &dir, session_json](Request& req) {
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    Result<identity::OpenSessionRequest> r = identity::ParseOpenSession(*body, true);
    if (!r.ok()) return ProblemResponse(r.error(), req);
    // Unauthenticated callers are throttled per remote address before any signature work.
    RateLimiter::Decision d = limiter_->Take("assertion:" + ThrottleKeyOfAddress(req.remote_addr),
                                             guard_->LimitFor("agent"));
    if (!d.allowed) {
      return RateLimitedResponse(req, d, "too many session requests from this address");
    }
    Result<identity::WithToken<identity::Session>> s = dir.OpenSessionWithAssertion(*r);
    if (!s.ok()) return ProblemResponse(s.error(), req);
    AnnotateRequestLog("principal", s->record.principal_id);
    AnnotateRequestLog("agent", s->record.agent_id);
    AnnotateRequestLog("session", s->record.id);
    return JsonResponse(201, WithTokenJson(session_json(s->record), s->token));
  });
  router_.Add("GET", "/v1/session", g.Guard(Permission::kOwnSession, [&dir, session_json](Request& req, const Access& a) {
    return Answer(dir.GetSession(*a.tenant, a.caller.session_id), req, 200, session_json);
  }));
  router_.Add("DELETE", "/v1/session", g.Guard(Permission::kOwnSession, [&dir, session_json](Request& req, const Access& a) {
    return Answer(dir.RevokeSession(*a.tenant, a.caller.session_id, "ended"), req, 200, session_json);
  }));
}

}  // namespace mandated::api
