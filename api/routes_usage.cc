// Usage routes (specs/usage.md §3-4): merchants report batches of usage events, each id counted
// once; a principal's admins and auditors read aggregates and, per budget, spend, burn rate and
// projected depletion.
#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "api/app.h"
#include "api/handler_util.h"
#include "api/http_server.h"
#include "mandates/credential.h"
#include "mandates/model.h"

namespace mandated::api {
namespace {

using identity::Permission;

constexpr size_t kMaxRows = 10000;
constexpr int64_t kDefaultTrailingMinutes = 60;

Status QueryError(std::string detail) {
  return InvalidArgumentError(std::move(detail), "usage-query-invalid");
}

Status PrincipalRequired(const Access& a) {
  if (a.tenant) return OkStatus();
  return InvalidArgumentError(
      "the operator names the principal: use /v1/principals/{principal}/usage...",
      "principal-required");
}

bool IsJson(const Request& req) {
  std::string type = req.Header("content-type");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  for (char& c : type) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return type == "application/json";
}

int64_t FloorDivSeconds(int64_t micros) {
  return micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
}

// RFC 3339 or unix seconds.
Result<std::optional<int64_t>> ParseBound(const Request& req, const std::string& name) {
  const std::string text = req.Query(name);
  if (text.empty()) return std::optional<int64_t>();
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && ptr == text.data() + text.size() && v >= 0) {
    return std::optional<int64_t>(v);
  }
  // Any RFC 3339 time: an offset, a fraction (bounds are whole seconds, rounded down).
  const std::optional<int64_t> micros = mandates::ParseRfc3339Micros(text);
  if (!micros) return QueryError("?" + name + "= must be an RFC 3339 time or unix seconds");
  return std::optional<int64_t>(FloorDivSeconds(*micros));
}

Result<settlement::UsageQuery> ParseUsageQuery(const Request& req, const std::string& principal) {
  settlement::UsageQuery q;
  q.principal = principal;
  const std::string group_by = req.Query("group_by");
  size_t start = 0;
  while (!group_by.empty() && start <= group_by.size()) {
    size_t end = group_by.find(',', start);
    if (end == std::string::npos) end = group_by.size();
    const std::string dim = group_by.substr(start, end - start);
    if (dim == "agent") {
      q.by_agent = true;
    } else if (dim == "mandate") {
      q.by_mandate = true;
    } else if (dim == "payee") {
      q.by_payee = true;
    } else if (dim == "resource") {
      q.by_resource = true;
    } else if (dim == "source") {
      q.by_source = true;
    } else if (dim != "asset") {  // rows are always per asset
      return QueryError("group_by takes agent, mandate, payee, asset, resource and source");
    }
    start = end + 1;
  }
  if (const std::string w = req.Query("window"); !w.empty()) {
    MD_ASSIGN_OR_RETURN(q.window, settlement::ParseGranularity(w));
  }
  MD_ASSIGN_OR_RETURN(q.from, ParseBound(req, "from"));
  MD_ASSIGN_OR_RETURN(q.to, ParseBound(req, "to"));
  if (q.from && q.to && *q.from >= *q.to) return QueryError("from must be before to");
  q.agent = req.Query("agent");
  q.mandate = req.Query("mandate");
  q.payee = req.Query("payee");
  q.asset = req.Query("asset");
  q.resource = req.Query("resource");
  q.source = req.Query("source");
  return q;
}

json::Value RowJson(const settlement::UsageRow& r, const settlement::UsageQuery& q) {
  json::Value v = json::Value::Object();
  if (q.by_agent) v.Set("agent", json::Value::String(r.agent));
  if (q.by_mandate) v.Set("mandate", json::Value::String(r.mandate));
  if (q.by_payee) v.Set("payee", json::Value::String(r.payee));
  if (q.by_resource) v.Set("resource", json::Value::String(r.resource));
  if (q.by_source) v.Set("source", json::Value::String(r.source));
  v.Set("asset", json::Value::String(r.asset));
  if (r.window_start) v.Set("window_start", json::Value::Int(*r.window_start));
  v.Set("amount", json::Value::String(r.amount.ToString()));
  v.Set("quantity", json::Value::String(r.quantity.ToString()));
  v.Set("events", json::Value::Uint(r.events));
  return v;
}

const char* StatusName(settlement::IngestStatus s) {
  switch (s) {
    case settlement::IngestStatus::kAccepted: return "accepted";
    case settlement::IngestStatus::kDuplicate: return "duplicate";
    case settlement::IngestStatus::kConflict: return "conflict";
  }
  return "accepted";
}

// A lookup failure of event i's `field`, with the pointer in front of the message.
Status AtField(Status s, size_t i, const char* field) {
  return Status(s.code(), "/events/" + std::to_string(i) + "/" + field + ": " + s.message(),
                s.reason());
}

}  // namespace

void App::RegisterUsageRoutes() {
  const AccessGuard& g = *guard_;
  settlement::UsageMeter& meter = *usage_;
  policy::Authorizer& az = *authorizer_;

  auto report = [this, &meter](Request& req, const Access& a) -> Response {
    if (Status s = PrincipalRequired(a); !s.ok()) return ProblemResponse(s, req);
    if (!IsJson(req)) {
      return ProblemResponse(InvalidArgumentError("request body must be application/json",
                                                  "unsupported-media-type"),
                             req);
    }
    Result<std::vector<settlement::UsageEvent>> events = settlement::ParseUsageBatch(req.body);
    if (!events.ok()) return ProblemResponse(events.error(), req);
    // Every agent and mandate named must be the principal's (and in the credential's scope);
    // a mandate names its agent when the event does not.
    std::map<std::string, std::string> mandate_agent;
    std::set<std::string> agents;
    for (size_t i = 0; i < events->size(); ++i) {
      settlement::UsageEvent& e = (*events)[i];
      if (!e.mandate.empty()) {
        auto it = mandate_agent.find(e.mandate);
        if (it == mandate_agent.end()) {
          if (!a.caller.InMandateScope(e.mandate)) {
            return ProblemResponse(
                AtField(PermissionDeniedError("this credential is limited to other mandates",
                                              "mandate-out-of-scope"),
                        i, "mandate"),
                req);
          }
          Result<mandates::MandateRecord> m = mandates_->Get(*a.tenant, e.mandate);
          if (!m.ok()) return ProblemResponse(AtField(m.error(), i, "mandate"), req);
          it = mandate_agent.emplace(e.mandate, m->agent_id).first;
        }
        if (e.agent.empty()) {
          e.agent = it->second;
        } else if (e.agent != it->second) {
          return ProblemResponse(
              AtField(InvalidArgumentError("the mandate is held by another agent",
                                           "usage-agent-mismatch"),
                      i, "agent"),
              req);
        }
      }
      // A limited credential reports only inside its scope: an event naming no agent (no
      // mandate) would be the whole principal's usage (specs/access.md §Usage).
      if (e.agent.empty() && !a.caller.agent_scope.empty()) {
        return ProblemResponse(
            AtField(PermissionDeniedError("this credential is limited to some agents: name one",
                                          "agent-out-of-scope"),
                    i, "agent"),
            req);
      }
      if (e.mandate.empty() && !a.caller.mandate_scope.empty()) {
        return ProblemResponse(
            AtField(PermissionDeniedError("this credential is limited to some mandates: name one",
                                          "mandate-out-of-scope"),
                    i, "mandate"),
            req);
      }
      if (!e.agent.empty() && agents.insert(e.agent).second) {
        if (!a.caller.InAgentScope(e.agent)) {
          return ProblemResponse(
              AtField(PermissionDeniedError("this credential is limited to other agents",
                                            "agent-out-of-scope"),
                      i, "agent"),
              req);
        }
        Result<identity::Agent> agent = directory_->GetAgent(*a.tenant, e.agent);
        if (!agent.ok()) return ProblemResponse(AtField(agent.error(), i, "agent"), req);
      }
    }
    Result<settlement::IngestResult> r = meter.Ingest(a.tenant->principal_id(), std::move(*events));
    if (!r.ok()) return ProblemResponse(r.error(), req);
    AnnotateRequestLog("usage_accepted", std::to_string(r->accepted));
    // The answer lists only the events that were not accepted (the rest were).
    std::string body = "{\"accepted\":" + std::to_string(r->accepted) +
                       ",\"duplicates\":" + std::to_string(r->duplicates) +
                       ",\"conflicts\":" + std::to_string(r->conflicts) + ",\"results\":[";
    bool first = true;
    for (size_t i = 0; i < r->status.size(); ++i) {
      if (r->status[i] == settlement::IngestStatus::kAccepted) continue;
      body += first ? "" : ",";
      first = false;
      body += "{\"index\":" + std::to_string(i) + ",\"status\":\"" + StatusName(r->status[i]) +
              "\"}";
    }
    body += "]}";
    return Response::Json(200, std::move(body));
  };

  auto aggregates = [this, &meter](Request& req, const Access& a) -> Response {
    if (Status s = PrincipalRequired(a); !s.ok()) return ProblemResponse(s, req);
    Result<settlement::UsageQuery> q = ParseUsageQuery(req, a.tenant->principal_id());
    if (!q.ok()) return ProblemResponse(q.error(), req);
    if (!q->agent.empty() && !a.caller.InAgentScope(q->agent)) {
      return ProblemResponse(
          PermissionDeniedError("this credential is limited to other agents", "agent-out-of-scope"),
          req);
    }
    if (!a.caller.agent_scope.empty() && q->agent.empty()) {
      return ProblemResponse(QueryError("this credential is limited to some agents: name one "
                                        "with ?agent="),
                             req);
    }
    if (!q->mandate.empty() && !a.caller.InMandateScope(q->mandate)) {
      return ProblemResponse(PermissionDeniedError("this credential is limited to other mandates",
                                                   "mandate-out-of-scope"),
                             req);
    }
    if (!a.caller.mandate_scope.empty() && q->mandate.empty()) {
      return ProblemResponse(QueryError("this credential is limited to some mandates: name one "
                                        "with ?mandate="),
                             req);
    }
    // A filter naming an agent or mandate the principal does not have is 404, as in a batch
    // (specs/access.md §Usage), not an empty answer that looks like "nothing spent".
    if (!q->agent.empty()) {
      if (Status s = directory_->GetAgent(*a.tenant, q->agent).status(); !s.ok()) {
        return ProblemResponse(s, req);
      }
    }
    if (!q->mandate.empty()) {
      // An AP2 open mandate's closings are metered under its own id (specs/usage.md §1).
      const Status s = q->mandate.rfind("ap2m_", 0) == 0
                           ? ap2_->Get(*a.tenant, q->mandate).status()
                           : mandates_->Get(*a.tenant, q->mandate).status();
      if (!s.ok()) return ProblemResponse(s, req);
    }
    q->max_rows = kMaxRows;
    Result<std::vector<settlement::UsageRow>> rows = meter.Query(*q);
    if (!rows.ok()) return ProblemResponse(rows.error(), req);
    json::Value items = json::Value::Array();
    for (const settlement::UsageRow& r : *rows) items.Append(RowJson(r, *q));
    json::Value v = json::Value::Object();
    v.Set("principal", json::Value::String(q->principal));
    const std::string w = req.Query("window");
    v.Set("window", json::Value::String(w.empty() ? "total" : w));
    if (q->from) v.Set("from", json::Value::Int(*q->from));
    if (q->to) v.Set("to", json::Value::Int(*q->to));
    v.Set("items", std::move(items));
    return JsonResponse(200, v);
  };

  auto budgets = [this, &meter, &az](Request& req, const Access& a) -> Response {
    if (Status s = PrincipalRequired(a); !s.ok()) return ProblemResponse(s, req);
    const std::string mandate = req.Query("mandate");
    const std::string agent = req.Query("agent");
    if (mandate.empty() == agent.empty()) {
      return ProblemResponse(QueryError("name exactly one of ?mandate= or ?agent="), req);
    }
    int64_t minutes = kDefaultTrailingMinutes;
    if (const std::string t = req.Query("trailing_minutes"); !t.empty()) {
      auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), minutes);
      if (ec != std::errc() || ptr != t.data() + t.size() || minutes < 1 || minutes > 43200) {
        return ProblemResponse(QueryError("?trailing_minutes= must be 1 to 43200"), req);
      }
    }
    Result<json::Value> headroom = json::Value();
    if (!mandate.empty()) {
      if (!a.caller.InMandateScope(mandate)) {
        return ProblemResponse(PermissionDeniedError("this credential is limited to other mandates",
                                                     "mandate-out-of-scope"),
                               req);
      }
      Result<mandates::MandateRecord> m = mandates_->Get(*a.tenant, mandate);
      if (!m.ok()) return ProblemResponse(m.error(), req);
      if (!a.caller.InAgentScope(m->agent_id)) {
        return ProblemResponse(
            PermissionDeniedError("this credential is limited to other agents",
                                  "agent-out-of-scope"),
            req);
      }
      headroom = az.MandateHeadroom(*a.tenant, m->id);
    } else {
      if (!a.caller.InAgentScope(agent)) {
        return ProblemResponse(
            PermissionDeniedError("this credential is limited to other agents",
                                  "agent-out-of-scope"),
            req);
      }
      headroom = az.AgentHeadroom(*a.tenant, agent);
    }
    if (!headroom.ok()) return ProblemResponse(headroom.error(), req);
    // The counters: a mandate's, or those of each of the agent's mandates, then its and the
    // principal's ceilings on their own (each counter once: an agent paying under no vc+jwt
    // mandate, through AP2, still has those).
    // A counter is its name and its asset: a limit in two assets is two counters of one name.
    std::vector<const json::Value*> counters;
    std::set<std::pair<std::string, std::string>> names;
    auto collect = [&](const json::Value& h, const char* member = "counters") {
      const json::Value* list = h.Find(member);
      if (list == nullptr || !list->is_array()) return;
      for (const json::Value& c : list->items()) {
        const json::Value* name = c.Find("counter");
        const json::Value* asset = c.Find("asset");
        if (name == nullptr || !name->is_string()) continue;
        if (names.emplace(name->as_string(), asset != nullptr && asset->is_string() ? asset->as_string() : "")
                .second) {
          counters.push_back(&c);
        }
      }
    };
    if (!mandate.empty()) {
      collect(*headroom);
    } else if (const json::Value* ms = headroom->Find("mandates"); ms != nullptr) {
      // A credential limited to mandates sees only theirs (specs/access.md).
      for (const json::Value& h : ms->items()) {
        const json::Value* id = h.Find("mandate");
        if (id != nullptr && id->is_string() && a.caller.InMandateScope(id->as_string())) {
          collect(h);
        }
      }
      // Not for a credential limited to some mandates: those counters (and their burn) count
      // payments outside its mandates (specs/access.md).
      if (a.caller.mandate_scope.empty()) collect(*headroom, "ceilings");
    }
    const int64_t now = clock_->NowUnixSeconds();
    const std::string& principal = a.tenant->principal_id();
    // A mandate's counters are spent through its delegations too (specs/usage.md §4): its burn
    // sums the recent spend of every mandate whose lineage (itself, then its ancestors) holds
    // it. Worked from the mandates that spent something, so its cost follows the usage, not
    // how many delegations a mandate has. A credential limited to some agents or mandates
    // counts only mandates in its scope (specs/access.md).
    std::map<std::string, std::map<std::string, Amount>> spent_in;  // asset -> mandate -> spent
    std::map<std::string, std::vector<std::string>> lineage_of;    // mandate -> lineage
    auto lineage = [&](const std::string& m) -> const std::vector<std::string>& {
      auto [it, fresh] = lineage_of.try_emplace(m);
      if (!fresh || !a.caller.InMandateScope(m)) return it->second;
      std::string cur = m;
      for (int hops = 0; !cur.empty() && hops <= mandates::kMaxChainLength; ++hops) {
        Result<mandates::MandateRecord> r = mandates_->Get(*a.tenant, cur);
        if (!r.ok()) break;  // a record that does not read ends the lineage
        if (hops == 0 && !a.caller.InAgentScope(r->agent_id)) return it->second;
        it->second.push_back(cur);
        cur = r->parent;
      }
      return it->second;
    };
    auto mandate_burn = [&](const std::string& owner, const std::string& asset) {
      auto [sit, fresh] = spent_in.try_emplace(asset);
      if (fresh) sit->second = meter.SpentByMandate(principal, asset, minutes);
      Amount spent;
      for (const auto& [m, amount] : sit->second) {
        const std::vector<std::string>& l = lineage(m);
        if (std::find(l.begin(), l.end(), owner) != l.end()) {
          Result<Amount> sum = spent.Add(amount);
          spent = sum.ok() ? *sum : Amount::Max();  // saturates, as the meter's sums do
        }
      }
      return settlement::BurnOver(spent, minutes);
    };
    json::Value out_list = json::Value::Array();
    for (const json::Value* c : counters) {
      json::Value b = *c;
      const json::Value* owner = c->Find("owner");
      const json::Value* asset = c->Find("asset");
      const json::Value* remaining = c->Find("remaining");
      const std::string owner_text = owner ? owner->as_string() : "";
      const size_t colon = owner_text.find(':');
      const std::string kind = owner_text.substr(0, colon);
      const std::string id = colon == std::string::npos ? "" : owner_text.substr(colon + 1);
      std::optional<settlement::OwnerKind> ok;
      if (kind == "principal") ok = settlement::OwnerKind::kPrincipal;
      if (kind == "agent") ok = settlement::OwnerKind::kAgent;
      if (kind == "mandate") ok = settlement::OwnerKind::kMandate;
      Result<Amount> left = remaining ? Amount::Parse(remaining->as_string())
                                      : Result<Amount>(Amount());
      // A limited credential reads no burn it could not read as usage: the principal's (all of
      // its usage) unless it is unlimited, an agent's unless its mandates are (specs/access.md).
      const bool burn_in_scope =
          (ok != settlement::OwnerKind::kPrincipal ||
           (a.caller.agent_scope.empty() && a.caller.mandate_scope.empty())) &&
          (ok != settlement::OwnerKind::kAgent || a.caller.mandate_scope.empty());
      // A per-payment cap (window "transaction") bounds each payment, not a sum: nothing to
      // burn through or deplete.
      const json::Value* window = c->Find("window");
      const bool per_payment = window != nullptr && window->is_string() &&
                               window->as_string() == "transaction";
      if (ok && asset != nullptr && left.ok() && burn_in_scope && !per_payment) {
        settlement::Burn burn =
            *ok == settlement::OwnerKind::kMandate
                ? mandate_burn(id, asset->as_string())
                : meter.BurnRate(principal, *ok, id, asset->as_string(), minutes);
        json::Value bj = json::Value::Object();
        bj.Set("trailing_minutes", json::Value::Int(burn.minutes));
        bj.Set("spent", json::Value::String(burn.spent.ToString()));
        bj.Set("per_hour", json::Value::String(burn.per_hour.ToString()));
        b.Set("burn", std::move(bj));
        std::optional<int64_t> depletes = settlement::ProjectDepletion(*left, burn, now);
        b.Set("projected_depletion", depletes ? json::Value::Int(*depletes) : json::Value::Null());
        if (depletes) {
          const json::Value* resets = c->Find("resets_at");
          std::optional<int64_t> r = resets ? resets->as_int64() : std::nullopt;
          b.Set("depletes_before_reset", json::Value::Bool(!r || *depletes < *r));
        }
      }
      out_list.Append(std::move(b));
    }
    json::Value v = json::Value::Object();
    if (!mandate.empty()) v.Set("mandate", json::Value::String(mandate));
    if (!agent.empty()) v.Set("agent", json::Value::String(agent));
    v.Set("at", json::Value::Int(now));
    v.Set("budgets", std::move(out_list));
    return JsonResponse(200, v);
  };

  const std::string base = "/v1/principals/{principal}";
  router_.Add("POST", "/v1/usage", g.Guard(Permission::kReportUsage, report));
  router_.Add("POST", base + "/usage", g.Guard(Permission::kReportUsage, report));
  router_.Add("GET", "/v1/usage", g.Guard(Permission::kReadUsage, aggregates));
  router_.Add("GET", base + "/usage", g.Guard(Permission::kReadUsage, aggregates));
  router_.Add("GET", "/v1/usage/budgets", g.Guard(Permission::kReadUsage, budgets));
  router_.Add("GET", base + "/usage/budgets", g.Guard(Permission::kReadUsage, budgets));
}

}  // namespace mandated::api
