// Mandate routes (specs/api.md §Mandates): issuance and delegation, reads, revoke / suspend /
// resume, merchant verification with optional use counting, and the public documents a verifier
// needs offline: status lists and each principal's issuer DID document and JWKS.
#include <charconv>

#include "api/app.h"
#include "api/handler_util.h"
#include "base/log.h"
#include "mandates/online.h"
#include "mandates/verifier.h"

namespace mandated::api {
namespace {

using identity::Permission;

std::string Actor(const Access& a) { return a.caller.credential_id; }

// Who may issue what (specs/access.md §Mandates): an agent only delegates from a mandate it
// holds and its session may use; a credential limited to agents or mandates stays inside them,
// the parent included (a child spends its parent's budget, so delegating from another agent's
// mandate would spend outside the credential's agents).
Status CheckIssueScope(const Access& a, const mandates::IssueBody& body,
                       const mandates::MandateRegistry& reg) {
  if (a.caller.role == identity::Role::kAgent && body.parent_id.empty()) {
    return PermissionDeniedError("/parent: agents can only delegate from a mandate they hold",
                                 "delegation-only");
  }
  if (!a.caller.InAgentScope(body.agent_id) && a.caller.role != identity::Role::kAgent) {
    return PermissionDeniedError("/agent: this credential is limited to other agents",
                                 "agent-out-of-scope");
  }
  if (!a.caller.mandate_scope.empty() &&
      (body.parent_id.empty() || !a.caller.InMandateScope(body.parent_id))) {
    return PermissionDeniedError("/parent: this credential is limited to other mandates",
                                 "mandate-out-of-scope");
  }
  if (!body.parent_id.empty() && !a.caller.agent_scope.empty() &&
      a.caller.role != identity::Role::kAgent) {
    // Before any other check of the parent, so its refusals tell nothing of a mandate outside
    // the credential's agents. A parent that does not exist is the registry's 404.
    Result<mandates::MandateRecord> parent = reg.Get(*a.tenant, body.parent_id);
    if (parent.ok() && !a.caller.InAgentScope(parent->agent_id)) {
      return PermissionDeniedError("/parent: this credential is limited to other agents",
                                   "agent-out-of-scope");
    }
    if (!parent.ok() && parent.error().code() != StatusCode::kNotFound) return parent.error();
  }
  return OkStatus();
}

}  // namespace

namespace {

// Whether an If-None-Match value names `etag` (RFC 9110 §13.1.2: "*", or a comma-separated list
// of entity tags compared weakly, so W/"x" matches "x").
bool NoneMatchNames(std::string_view header, std::string_view etag) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  if (trim(header) == "*") return true;
  while (!header.empty()) {
    const size_t comma = header.find(',');
    std::string_view tag = trim(header.substr(0, comma));
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (!tag.empty() && tag == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

Response StatusListResponse(
    Request& req, const std::function<Result<mandates::ServedStatusList>(uint64_t list)>& serve) {
  const std::string list_text = req.Param("list");
  uint64_t list = 0;
  const char* end = list_text.data() + list_text.size();
  // One spelling per list: "00" or "01" is no list's (as the URIs mandates name never are).
  if (list_text.empty() || list_text.size() > 12 || (list_text.size() > 1 && list_text[0] == '0') ||
      std::from_chars(list_text.data(), end, list).ptr != end) {
    return ProblemResponse(NotFoundError("no status list " + list_text, "status-list-not-found"), req);
  }
  Result<mandates::ServedStatusList> served = serve(list);
  if (!served.ok()) return ProblemResponse(served.error(), req);
  Response r;
  r.headers.emplace_back("ETag", served->etag);
  r.headers.emplace_back("Cache-Control", "public, max-age=" + std::to_string(served->max_age));
  if (NoneMatchNames(req.Header("If-None-Match"), served->etag)) {
    r.status = 304;
    r.content_type = "";
    return r;
  }
  r.status = 200;
  r.content_type = "application/statuslist+jwt";
  r.body = served->token;
  return r;
}

void App::RegisterMandateRoutes() {
  const AccessGuard& g = *guard_;
  mandates::MandateRegistry& reg = *mandates_;
  identity::Directory& dir = *directory_;
  const std::string base = "/v1/principals/{principal}/mandates";

  router_.Add("POST", base, g.Guard(Permission::kIssueMandates, [&reg, &dir](Request& req, const Access& a) {
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    Result<mandates::IssueBody> ib = mandates::ParseIssueBody(*body);
    if (!ib.ok()) return ProblemResponse(ib.error(), req);
    if (Status s = CheckIssueScope(a, *ib, reg); !s.ok()) return ProblemResponse(s, req);
    Result<identity::Agent> agent = dir.GetAgent(*a.tenant, ib->agent_id);
    if (!agent.ok()) return ProblemResponse(agent.error(), req);
    if (agent->state != "active") {
      return ProblemResponse(FailedPreconditionError("agent " + agent->id + " is " + agent->state,
                                                     "agent-state"),
                             req);
    }
    mandates::IssueRequest ir;
    ir.agent_id = agent->id;
    ir.subject = agent->did;
    ir.parent_id = ib->parent_id;
    ir.terms = std::move(ib->terms);
    ir.validity = ib->validity;
    ir.issued_by = Actor(a);
    if (a.caller.role == identity::Role::kAgent) {
      ir.delegating_agent_id = a.caller.agent_id;
    }
    Result<mandates::MandateRecord> m = reg.Issue(*a.tenant, std::move(ir));
    if (!m.ok()) return ProblemResponse(m.error(), req);
    log::Info("mandate issued", {{"request_id", req.request_id}, {"principal", m->principal_id},
                                 {"mandate", m->id}, {"agent", m->agent_id},
                                 {"parent", m->parent}, {"by", Actor(a)}});
    AnnotateRequestLog("mandate", m->id);
    Response res = JsonResponse(201, mandates::MandateRecordToJson(*m));
    res.headers.emplace_back("Location", "/v1/principals/" + m->principal_id + "/mandates/" + m->id);
    return res;
  }));

  router_.Add("GET", base, g.Guard(Permission::kReadMandates, [&reg](Request& req, const Access& a) {
    Result<Page> page = ParsePage(req);
    if (!page.ok()) return ProblemResponse(page.error(), req);
    Result<std::vector<mandates::MandateRecord>> list =
        reg.List(*a.tenant, page->after, page->limit, req.Query("agent"));
    if (!list.ok()) return ProblemResponse(list.error(), req);
    json::Value items = json::Value::Array();
    for (const mandates::MandateRecord& m : *list) {
      if (a.caller.InAgentScope(m.agent_id) && a.caller.InMandateScope(m.id)) {
        items.Append(mandates::MandateRecordToJson(m));
      }
    }
    return ListResponse(std::move(items), list->size() == page->limit,
                        list->empty() ? "" : list->back().id);
  }));

  // A mandate of an agent outside the credential's agent scope is refused (403), like the agent.
  auto scoped = [&reg](const Access& a, const std::string& id) -> Result<mandates::MandateRecord> {
    MD_ASSIGN_OR_RETURN(mandates::MandateRecord m, reg.Get(*a.tenant, id));
    if (!a.caller.InAgentScope(m.agent_id)) {
      return PermissionDeniedError("this credential is limited to other agents",
                                   "agent-out-of-scope");
    }
    return m;
  };
  router_.Add("GET", base + "/{mandate}", g.Guard(Permission::kReadMandates, [scoped](Request& req, const Access& a) {
    return Answer(scoped(a, req.Param("mandate")), req, 200, mandates::MandateRecordToJson);
  }));
  for (const std::string action : {"revoke", "suspend", "resume"}) {
    router_.Add("POST", base + "/{mandate}/" + action, g.Guard(Permission::kManageMandates, [&reg, scoped, action](Request& req, const Access& a) {
      Result<mandates::MandateRecord> m = scoped(a, req.Param("mandate"));
      if (!m.ok()) return ProblemResponse(m.error(), req);
      Result<mandates::MandateRecord> after =
          action == "revoke"    ? reg.Revoke(*a.tenant, m->id, Actor(a))
          : action == "suspend" ? reg.Suspend(*a.tenant, m->id, Actor(a))
                                : reg.Resume(*a.tenant, m->id, Actor(a));
      if (after.ok()) {
        log::Info("mandate state changed", {{"request_id", req.request_id}, {"principal", after->principal_id},
                                            {"mandate", after->id}, {"state", after->state}, {"by", Actor(a)}});
      }
      return Answer(after, req, 200, mandates::MandateRecordToJson);
    }));
  }

  // ---- Verification (merchants and anyone else holding a token) ----
  router_.Add("POST", "/v1/mandates/verify", g.Guard(Permission::kVerifyMandates, [this, &reg](Request& req, const Access& a) {
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    Result<mandates::VerifyRequest> vr = mandates::ParseVerifyRequest(*body, {"use"});
    if (!vr.ok()) return ProblemResponse(vr.error(), req);
    std::string use_key;
    if (const json::Value* use = body->Find("use")) {
      Result<json::ObjectReader> ur = json::ObjectReader::Of(*use, "/use");
      if (!ur.ok()) return ProblemResponse(ur.error(), req);
      Result<std::string> key = ur->String("key");
      if (!key.ok()) return ProblemResponse(key.error(), req);
      if (Status f = ur->Finish(); !f.ok()) return ProblemResponse(f, req);
      use_key = *key;
      if (Status k = mandates::MandateRegistry::ValidateUseKey(use_key); !k.ok()) {
        return ProblemResponse(k, req);
      }
      if (!identity::RoleAllows(a.caller.role, Permission::kUseMandates)) {
        return ProblemResponse(
            PermissionDeniedError("role " + std::string(identity::RoleName(a.caller.role)) +
                                      " lacks the permission mandates:use",
                                  "forbidden"),
            req);
      }
    }
    mandates::IssuerKeyResolver resolver(reg, *keys_);
    mandates::RegistryStatusSource statuses(reg, *store_);
    const int64_t now = clock_->NowUnixSeconds();
    mandates::Verdict verdict =
        mandates::VerifyMandate(*vr, resolver, statuses, mandates::VerifyOptions{now});
    // The verified mandate's principal (empty unless one of ours issued it) and id.
    std::string principal;
    std::string mandate_id;
    if (!verdict.chain.empty()) {
      principal = reg.PrincipalOfIssuer(verdict.chain.front().credential.issuer);
      mandate_id = verdict.chain.front().credential.id;
    }
    // Without a chain, a delegated mandate of this service is verified again against the
    // ancestors the service stored for it (the tokens as issued); the verifier checks them like
    // any others. Only delegated mandates sent without their chain pay for a second pass.
    if (vr->chain.empty() && !principal.empty() &&
        !verdict.chain.front().credential.terms.parent.empty()) {
      Result<std::vector<std::string>> chain =
          reg.ParentTokens(identity::Tenant(*store_, principal), mandate_id);
      if (chain.ok() && !chain->empty()) {
        vr->chain = std::move(*chain);
        verdict = mandates::VerifyMandate(*vr, resolver, statuses, mandates::VerifyOptions{now});
      }
    }
    json::Value out;
    std::optional<json::Value> use_json;
    auto use_json_of = [&use_key](const mandates::MandateRegistry::UseOutcome& u) {
      json::Value v = json::Value::Object();
      v.Set("key", json::Value::String(use_key));
      v.Set("uses", json::Value::Int(u.uses));
      if (u.record.max_uses) v.Set("max_uses", json::Value::Int(*u.record.max_uses));
      v.Set("replayed", json::Value::Bool(u.replayed));
      return v;
    };
    // Who may record (and so read back) a use: only the mandate's own principal's credentials
    // (and the operator), so no other principal's credential can use a mandate up; not one
    // limited to other mandates or to other agents.
    auto use_scope = [&]() -> Status {
      if ((a.tenant && a.tenant->principal_id() != principal) ||
          !a.caller.InMandateScope(mandate_id)) {
        return PermissionDeniedError("a use of a mandate is recorded by its own principal's "
                                     "credentials only",
                                     "mandate-out-of-scope");
      }
      if (!a.caller.agent_scope.empty()) {
        Result<mandates::MandateRecord> held =
            reg.Get(identity::Tenant(*store_, principal), mandate_id);
        if (!held.ok() || !a.caller.InAgentScope(held->agent_id)) {
          return PermissionDeniedError("this credential is limited to other agents",
                                       "agent-out-of-scope");
        }
      }
      return OkStatus();
    };
    if (!use_key.empty() && !principal.empty()) {
      // A use this caller may not record is refused whatever the verdict (specs/mandate.md §6.4).
      Status scope = use_scope();
      if (!scope.ok()) return ProblemResponse(scope, req);
      // A key already used answers its first outcome, before anything this verification found
      // now: that use may itself have ended the mandate (max_uses reached, status revoked).
      Result<std::optional<mandates::MandateRegistry::UseOutcome>> first =
          reg.RecordedUse(identity::Tenant(*store_, principal), mandate_id, use_key);
      if (!first.ok()) return ProblemResponse(first.error(), req);
      if (first->has_value()) {
        const mandates::MandateRegistry::UseOutcome& u = **first;
        Result<json::Value> stored = u.verdict_json.empty()
                                         ? Result<json::Value>(mandates::VerdictToJson(verdict, now))
                                         : json::Parse(u.verdict_json);
        if (!stored.ok()) return ProblemResponse(stored.error(), req);
        out = std::move(*stored);
        out.Set("use", use_json_of(u));
        AnnotateRequestLog("verdict", "replayed");
        return JsonResponse(200, out);
      }
    }
    if (verdict.valid && !use_key.empty()) {
      Result<mandates::MandateRegistry::UseOutcome> used =
          reg.Use(identity::Tenant(*store_, principal), mandate_id, use_key,
                  json::Write(mandates::VerdictToJson(verdict, now)));
      if (!used.ok() && used.error().code() != StatusCode::kFailedPrecondition) {
        return ProblemResponse(used.error(), req);
      }
      if (!used.ok()) {
        verdict.valid = false;
        verdict.reasons.push_back(mandates::Reason{used.error().reason(), mandate_id, "",
                                                   used.error().message()});
      } else {
        use_json = use_json_of(*used);
      }
    }
    out = mandates::VerdictToJson(verdict, now);
    if (use_json) out.Set("use", std::move(*use_json));
    AnnotateRequestLog("verdict", verdict.valid ? "valid" : "invalid");
    return JsonResponse(200, out);
  }));

  // ---- Public documents (no credential: merchants verify offline with them) ----
  auto known_principal = [this](const std::string& id) -> Status {
    return principals_->Get(id).status();
  };
  router_.Add("GET", "/v1/status-lists/{principal}/{list}", [this, &reg, known_principal](Request& req) {
    const std::string principal = req.Param("principal");
    if (Status s = known_principal(principal); !s.ok()) return ProblemResponse(s, req);
    return StatusListResponse(req, [&reg, &principal, this](uint64_t list) {
      return reg.ServeStatusList(identity::Tenant(*store_, principal), list);
    });
  });
  router_.Add("GET", "/principals/{principal}/did.json", [this, &reg, known_principal](Request& req) {
    const std::string principal = req.Param("principal");
    if (Status s = known_principal(principal); !s.ok()) return ProblemResponse(s, req);
    return DidDocumentResponse(reg.IssuerDid(principal),
                               PublishedKeys(*keys_, principal, std::string(mandates::kIssuerKeyPurpose)));
  });
  router_.Add("GET", "/principals/{principal}/jwks.json", [this, &reg, known_principal](Request& req) {
    const std::string principal = req.Param("principal");
    if (Status s = known_principal(principal); !s.ok()) return ProblemResponse(s, req);
    return JwksResponse(reg.IssuerDid(principal),
                        PublishedKeys(*keys_, principal, std::string(mandates::kIssuerKeyPurpose)));
  });
}

}  // namespace mandated::api
