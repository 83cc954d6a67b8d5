// Authorization routes (specs/authorization.md): agents ask for decisions and capture or void
// their reservations; a principal's people read decisions, decide step-up approvals and watch
// headroom. Every POST that moves money runs once per Idempotency-Key.
#include <vector>

#include "api/app.h"
#include "api/handler_util.h"
#include "api/http_server.h"
#include "api/idempotent_route.h"

namespace mandated::api {
namespace {

using identity::Permission;

// A credential limited to some agents acts only on their authorizations and approvals
// (specs/access.md §Authorizations): 403 agent-out-of-scope, nothing written.
Status CheckAgentScope(const Access& a, const std::string& agent_id) {
  if (a.caller.role != identity::Role::kAgent && !a.caller.InAgentScope(agent_id)) {
    return PermissionDeniedError("this credential is limited to other agents",
                                 "agent-out-of-scope");
  }
  return OkStatus();
}

// The same for a record's agent and mandate: a credential or session limited to some mandates
// reads and moves only the authorizations and approvals under them (403 mandate-out-of-scope).
Status CheckScope(const Access& a, const std::string& agent_id, const std::string& mandate_id) {
  MD_RETURN_IF_ERROR(CheckAgentScope(a, agent_id));
  if (!a.caller.InMandateScope(mandate_id)) {
    return PermissionDeniedError("this credential is limited to other mandates",
                                 "mandate-out-of-scope");
  }
  return OkStatus();
}

bool Limited(const Access& a) {
  return !a.caller.agent_scope.empty() || !a.caller.mandate_scope.empty();
}

json::Value AuthorizationJson(const policy::Authorization& a) {
  return policy::AuthorizationToJson(a);
}

}  // namespace

void App::RegisterAuthorizationRoutes() {
  const AccessGuard& g = *guard_;
  policy::Authorizer& az = *authorizer_;
  policy::IdempotencyKeys& idem = *idempotency_;

  // ---- The agent's own routes (session token) ----
  router_.Add("POST", "/v1/authorizations", g.Guard(Permission::kAuthorize, [&az, &idem](Request& req, const Access& a) {
    return Idempotent(idem, req, a, [&](const policy::IdempotencyClaim* claim) -> Result<policy::Answer> {
      MD_ASSIGN_OR_RETURN(json::Value body, ParseJsonBody(req));
      MD_ASSIGN_OR_RETURN(policy::AuthorizeRequest ar, policy::ParseAuthorizeRequest(body));
      Result<policy::Answer> answer = az.Authorize(*a.tenant, ActorOf(a), ar, claim);
      if (answer.ok()) {
        AnnotateRequestLog("authorization", answer->id);
        AnnotateRequestLog("decision", answer->decision);
      }
      return answer;
    }, [&req, &a](const policy::StoredAnswer& stored) {
      // Keys are the agent's (§6), its sessions' alike: a session limited to other mandates
      // gets no replay of another session's authorization, as it would get no GET of it.
      if (Status s = ReplayInMandateScope(a, stored); !s.ok()) return ProblemResponse(s, req);
      return ReplayAsStored(stored);
    });
  }));
  router_.Add("GET", "/v1/authorizations/{authorization}", g.Guard(Permission::kAuthorize, [&az](Request& req, const Access& a) {
    Result<policy::Authorization> got = az.Get(*a.tenant, req.Param("authorization"));
    if (got.ok() && got->agent_id != a.caller.agent_id) {
      got = NotFoundError("no authorization " + req.Param("authorization"), "authorization-not-found");
    }
    if (got.ok()) {
      if (Status s = CheckScope(a, got->agent_id, got->mandate_id); !s.ok()) got = s;
    }
    return Answer(got, req, 200, AuthorizationJson);
  }));
  for (const std::string action : {"capture", "void"}) {
    auto run = [&az, &idem, action](Request& req, const Access& a) {
      const std::string id = req.Param("authorization");
      if (Limited(a)) {
        Result<policy::Authorization> got = az.Get(*a.tenant, id);
        if (!got.ok()) return ProblemResponse(got.error(), req);
        // Another agent's record is the authorizer's 404 for an agent session (below).
        const bool others = a.caller.role == identity::Role::kAgent && got->agent_id != a.caller.agent_id;
        if (Status s = CheckScope(a, got->agent_id, got->mandate_id); !others && !s.ok()) {
          return ProblemResponse(s, req);
        }
      }
      return Idempotent(idem, req, a, [&](const policy::IdempotencyClaim* claim) -> Result<policy::Answer> {
        if (action == "void") {
          if (!req.body.empty()) {
            MD_ASSIGN_OR_RETURN(json::Value body, ParseJsonBody(req));
            MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
            MD_RETURN_IF_ERROR(r.Finish());
          }
          return az.Void(*a.tenant, ActorOf(a), id, claim);
        }
        std::optional<Amount> amount;
        if (!req.body.empty()) {
          MD_ASSIGN_OR_RETURN(json::Value body, ParseJsonBody(req));
          MD_ASSIGN_OR_RETURN(amount, policy::ParseCaptureRequest(body));
        }
        return az.Capture(*a.tenant, ActorOf(a), id, amount, claim);
      });
    };
    router_.Add("POST", "/v1/authorizations/{authorization}/" + action, g.Guard(Permission::kAuthorize, run));
    router_.Add("POST", "/v1/principals/{principal}/authorizations/{authorization}/" + action,
                g.Guard(Permission::kManageAuthorizations, run));
  }
  router_.Add("GET", "/v1/headroom", g.Guard(Permission::kAuthorize, [this, &az](Request& req, const Access& a) {
    const std::string mandate = req.Query("mandate");
    if (mandate.empty() && !a.caller.agent_id.empty()) {  // the session's own ceilings
      return Answer(az.SessionHeadroom(*a.tenant, ActorOf(a)), req, 200,
                    [](const json::Value& v) { return v; });
    }
    Result<mandates::MandateRecord> m = mandates_->Get(*a.tenant, mandate);
    if (m.ok() && m->agent_id != a.caller.agent_id) {
      m = NotFoundError("no mandate " + mandate, "mandate-not-found");
    }
    if (!m.ok()) return ProblemResponse(m.error(), req);
    if (!a.caller.InMandateScope(m->id)) {  // a session limited to other mandates
      return ProblemResponse(PermissionDeniedError("this session is limited to other mandates",
                                                   "mandate-out-of-scope"),
                             req);
    }
    const policy::Actor session = ActorOf(a);  // its own session's cap counts too
    return Answer(az.MandateHeadroom(*a.tenant, m->id, &session), req, 200,
                  [](const json::Value& v) { return v; });
  }));

  // ---- A principal's people ----
  const std::string base = "/v1/principals/{principal}";
  router_.Add("GET", base + "/authorizations", g.Guard(Permission::kReadAuthorizations, [&az](Request& req, const Access& a) {
    Result<Page> page = ParsePage(req);
    if (!page.ok()) return ProblemResponse(page.error(), req);
    Result<std::vector<policy::Authorization>> list =
        az.List(*a.tenant, page->after, page->limit, req.Query("mandate"), req.Query("agent"));
    if (!list.ok()) return ProblemResponse(list.error(), req);
    json::Value items = json::Value::Array();
    for (const policy::Authorization& x : *list) {
      if (a.caller.InAgentScope(x.agent_id) && a.caller.InMandateScope(x.mandate_id)) {
        items.Append(AuthorizationJson(x));
      }
    }
    return ListResponse(std::move(items), list->size() == page->limit,
                        list->empty() ? "" : list->back().id);
  }));
  router_.Add("GET", base + "/authorizations/{authorization}", g.Guard(Permission::kReadAuthorizations, [&az](Request& req, const Access& a) {
    Result<policy::Authorization> got = az.Get(*a.tenant, req.Param("authorization"));
    if (got.ok()) {
      if (Status s = CheckScope(a, got->agent_id, got->mandate_id); !s.ok()) got = s;
    }
    return Answer(got, req, 200, AuthorizationJson);
  }));
  router_.Add("GET", base + "/mandates/{mandate}/headroom", g.Guard(Permission::kReadAuthorizations, [this, &az](Request& req, const Access& a) {
    Result<mandates::MandateRecord> m = mandates_->Get(*a.tenant, req.Param("mandate"));
    if (!m.ok()) return ProblemResponse(m.error(), req);
    if (Status s = CheckAgentScope(a, m->agent_id); !s.ok()) return ProblemResponse(s, req);
    return Answer(az.MandateHeadroom(*a.tenant, m->id), req, 200,
                  [](const json::Value& v) { return v; });
  }));
  router_.Add("GET", base + "/agents/{agent}/headroom", g.Guard(Permission::kReadAuthorizations, [&az](Request& req, const Access& a) {
    Result<json::Value> headroom = az.AgentHeadroom(*a.tenant, req.Param("agent"));
    // A credential limited to mandates sees only theirs (specs/access.md §Authorizations): not
    // the agent's ceilings on their own either, which count payments outside its mandates.
    if (headroom.ok() && !a.caller.mandate_scope.empty()) {
      headroom->Set("ceilings", json::Value::Array());
      if (json::Value* ms = headroom->Find("mandates"); ms != nullptr && ms->is_array()) {
        std::erase_if(ms->items(), [&](const json::Value& h) {
          const json::Value* id = h.Find("mandate");
          return id == nullptr || !id->is_string() || !a.caller.InMandateScope(id->as_string());
        });
      }
    }
    return Answer(headroom, req, 200, [](const json::Value& v) { return v; });
  }));

  // Approvals: listed under the principal, and at /v1/approvals for a credential's own principal.
  auto list_approvals = [&az](Request& req, const Access& a) {
    if (!a.tenant) {
      return ProblemResponse(InvalidArgumentError("the operator names the principal: use "
                                                  "/v1/principals/{principal}/approvals",
                                                  "principal-required"),
                             req);
    }
    Result<Page> page = ParsePage(req);
    if (!page.ok()) return ProblemResponse(page.error(), req);
    const std::string state = req.Query("state");
    if (!state.empty() && state != "pending" && state != "approved" && state != "denied" &&
        state != "expired" && state != "withdrawn") {
      return ProblemResponse(InvalidArgumentError("state must be pending, approved, denied, expired or withdrawn",
                                                  "bad-query"),
                             req);
    }
    Result<std::vector<policy::Approval>> list =
        az.ListApprovals(*a.tenant, state, page->after, page->limit);
    if (!list.ok()) return ProblemResponse(list.error(), req);
    json::Value items = json::Value::Array();
    for (const policy::Approval& x : *list) {
      if (a.caller.InAgentScope(x.agent_id) && a.caller.InMandateScope(x.mandate_id)) {
        items.Append(policy::ApprovalToJson(x));
      }
    }
    return ListResponse(std::move(items), list->size() == page->limit,
                        list->empty() ? "" : list->back().id);
  };
  router_.Add("GET", base + "/approvals", g.Guard(Permission::kReadApprovals, list_approvals));
  router_.Add("GET", "/v1/approvals", g.Guard(Permission::kReadApprovals, list_approvals));
  router_.Add("GET", base + "/approvals/{approval}", g.Guard(Permission::kReadApprovals, [&az](Request& req, const Access& a) {
    Result<policy::Approval> got = az.GetApproval(*a.tenant, req.Param("approval"));
    if (got.ok()) {
      if (Status s = CheckScope(a, got->agent_id, got->mandate_id); !s.ok()) got = s;
    }
    return Answer(got, req, 200, policy::ApprovalToJson);
  }));
  for (const bool approve : {true, false}) {
    router_.Add("POST", base + "/approvals/{approval}/" + (approve ? "approve" : "deny"),
                g.Guard(Permission::kDecideApprovals, [&az, &idem, approve](Request& req, const Access& a) {
      if (Limited(a)) {
        Result<policy::Approval> got = az.GetApproval(*a.tenant, req.Param("approval"));
        if (!got.ok()) return ProblemResponse(got.error(), req);
        if (Status s = CheckScope(a, got->agent_id, got->mandate_id); !s.ok()) {
          return ProblemResponse(s, req);
        }
      }
      return Idempotent(idem, req, a, [&](const policy::IdempotencyClaim* claim) -> Result<policy::Answer> {
        policy::DecideRequest dr;
        if (!req.body.empty()) {
          MD_ASSIGN_OR_RETURN(json::Value body, ParseJsonBody(req));
          MD_ASSIGN_OR_RETURN(dr, policy::ParseDecideRequest(body));
        }
        return az.Decide(*a.tenant, ActorOf(a), req.Param("approval"), approve, dr, claim);
      });
    }));
  }
}

}  // namespace mandated::api
