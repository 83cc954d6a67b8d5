// Audit routes: checkpoints, proofs, events, trails and export bundles (specs/audit.md §4).
// Auditors see their principal's events; checkpoints, proofs and the key are the same for all.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "api/app.h"
#include "api/handler_util.h"
#include "api/problem.h"
#include "base/clock.h"
#include "base/log.h"
#include "mandates/credential.h"

namespace mandated::api {
namespace {

// A trail export is built in memory: it holds at most this many events.
constexpr size_t kMaxTrailExportEvents = 1000000;

Status QueryError(std::string detail) {
  return InvalidArgumentError(std::move(detail), "audit-query-invalid");
}

// A query number: decimal digits only, no leading zero; nullopt otherwise (also when empty).
std::optional<uint64_t> PlainDecimal(std::string_view text) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() ||
      (text.size() > 1 && text[0] == '0')) {
    return std::nullopt;
  }
  return v;
}

Result<uint64_t> ParseCount(const Request& req, const std::string& name, bool required,
                            uint64_t fallback) {
  const std::string text = req.Query(name);
  if (text.empty()) {
    if (required) return QueryError("?" + name + "= is required");
    return fallback;
  }
  const std::optional<uint64_t> v = PlainDecimal(text);
  if (!v) return QueryError("?" + name + "= must be a non-negative decimal integer");
  return *v;
}

// ?consistency_from=M[,M...]: the earlier tree sizes an export proves its tree extends (at most
// 16, each a decimal integer; a size's range is the log's to check).
Result<std::vector<uint64_t>> ParseConsistencyFrom(const Request& req) {
  std::vector<uint64_t> sizes;
  const std::string text = req.Query("consistency_from");
  if (text.empty()) return sizes;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::optional<uint64_t> v =
        PlainDecimal(std::string_view(text.data() + start, comma - start));
    if (!v) return QueryError("?consistency_from= is a comma-separated list of tree sizes");
    sizes.push_back(*v);
    if (sizes.size() > 16) {
      return InvalidArgumentError("?consistency_from= names at most 16 sizes", "audit-proof-range");
    }
    start = comma + 1;
  }
  return sizes;
}

// RFC 3339 (with a fraction and an offset) or unix seconds.
Result<std::optional<int64_t>> ParseBound(const Request& req, const std::string& name) {
  const std::string text = req.Query(name);
  if (text.empty()) return std::optional<int64_t>();
  int64_t micros = 0;
  if (text.find_first_not_of("0123456789") == std::string::npos && text.size() <= 12) {
    micros = std::stoll(text) * 1000000;
  } else {
    std::optional<int64_t> parsed = mandates::ParseRfc3339Micros(text);
    if (!parsed) {
      return QueryError("?" + name + "= must be an RFC 3339 date-time "
                        "(YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)) or unix seconds");
    }
    micros = *parsed;
  }
  // Events' times compare as their RFC 3339 text, which orders correctly up to year 9999.
  if (micros < 0 || micros > kMaxNumericDate * 1000000 + 999999) {
    return QueryError("?" + name + "= must be a time from 1970 to 9999");
  }
  return std::optional<int64_t>(micros);
}

Result<audit::TrailQuery> ParseTrailQuery(const Request& req, const Access& a, bool allow_none) {
  audit::TrailQuery q;
  q.authorization = req.Query("authorization");
  q.mandate = req.Query("mandate");
  q.agent = req.Query("agent");
  q.principal = req.Query("principal");
  const int named = !q.authorization.empty() + !q.mandate.empty() + !q.agent.empty() +
                    !q.principal.empty();
  if (named > 1 || (named == 0 && !allow_none)) {
    return QueryError("name exactly one of authorization, mandate, agent or principal");
  }
  MD_ASSIGN_OR_RETURN(q.from_micros, ParseBound(req, "from"));
  MD_ASSIGN_OR_RETURN(q.to_micros, ParseBound(req, "to"));
  if ((q.from_micros || q.to_micros) && q.principal.empty()) {
    return QueryError("from and to bound principal queries only");
  }
  if (q.from_micros && q.to_micros && *q.from_micros >= *q.to_micros) {
    return QueryError("from must be before to");
  }
  q.visible_principal = a.caller.principal_id;
  // Exact lists (specs/access.md): events about other agents or mandates are left out.
  q.agent_scope = a.caller.agent_scope;
  q.mandate_scope = a.caller.mandate_scope;
  if (!q.visible_principal.empty() && !q.principal.empty() && q.principal != q.visible_principal) {
    return NotFoundError("no principal " + q.principal, "principal-not-found");
  }
  // A credential limited to some agents or mandates reads only the trails of those it names
  // (one limited to both names a mandate of its list).
  const bool scoped_mandate_named = !a.caller.mandate_scope.empty() && !q.mandate.empty() &&
                                    a.caller.InMandateScope(q.mandate);
  if (!a.caller.agent_scope.empty() && !scoped_mandate_named &&
      (q.agent.empty() || !a.caller.InAgentScope(q.agent))) {
    return PermissionDeniedError("this credential is limited to some agents: name one of them "
                                 "with ?agent=",
                                 "agent-out-of-scope");
  }
  if (!a.caller.mandate_scope.empty() &&
      (q.mandate.empty() || !a.caller.InMandateScope(q.mandate))) {
    return PermissionDeniedError("this credential is limited to some mandates: name one of "
                                 "them with ?mandate=",
                                 "mandate-out-of-scope");
  }
  return q;
}

json::Value HashList(const std::vector<audit::Hash>& hashes) {
  json::Value arr = json::Value::Array();
  for (const audit::Hash& h : hashes) arr.Append(json::Value::String(audit::HashHex(h)));
  return arr;
}

json::Value CheckpointJson(const audit::SignedCheckpoint& c) {
  json::Value v = json::Value::Object();
  v.Set("size", json::Value::Uint(c.size));
  v.Set("root", json::Value::String(audit::HashHex(c.root)));
  v.Set("note", json::Value::String(c.note));
  return v;
}

json::Value EventJson(const audit::StoredEvent& e) {
  json::Value v = json::Value::Object();
  v.Set("seq", json::Value::Uint(e.seq));
  v.Set("event", json::Value::String(e.bytes));
  return v;
}

// An auditor may read an event only if it is their principal's.
bool Visible(const audit::StoredEvent& e, const Access& a) {
  if (a.caller.principal_id.empty()) return true;
  Result<json::Value> v = json::Parse(e.bytes);
  if (!v.ok() || !v->is_object()) return false;
  const json::Value* p = v->Find("principal");
  return p != nullptr && p->is_string() && p->as_string() == a.caller.principal_id;
}

}  // namespace

void App::RegisterAuditRoutes() {
  using identity::Permission;
  const AccessGuard& g = *guard_;
  audit::Log& log = *audit_;
  // An auditor naming an agent of another principal sees no event (every one would be filtered
  // out): the query is marked so, and that agent's index is not read at all (it could hold any
  // number of another principal's events, read under the log's lock).
  identity::Directory& directory = *directory_;
  auto mark_foreign = [&directory](audit::TrailQuery& q, const Access& a) -> Status {
    if (q.visible_principal.empty() || q.agent.empty() || !a.tenant.has_value()) {
      return OkStatus();
    }
    Result<identity::Agent> agent = directory.GetAgent(*a.tenant, q.agent);
    if (!agent.ok() && agent.error().code() == StatusCode::kNotFound) q.foreign = true;
    return agent.ok() || q.foreign ? OkStatus() : agent.status();
  };

  router_.Add("GET", "/v1/audit/key", g.Guard(Permission::kReadAudit, [&log](Request& req, const Access&) {
    Result<signer::KeyInfo> key = log.AuditKey();
    if (!key.ok()) return ProblemResponse(key.error(), req);
    json::Value v = json::Value::Object();
    v.Set("origin", json::Value::String(log.origin()));
    v.Set("verifier_key",
          json::Value::String(audit::VerifierKeyString(log.origin(), key->public_key)));
    v.Set("key", signer::KeyInfoToJson(*key));
    Result<std::vector<std::string>> earlier = log.EarlierVerifierKeys();
    if (!earlier.ok()) return ProblemResponse(earlier.error(), req);
    json::Value list = json::Value::Array();
    for (std::string& k : *earlier) list.Append(json::Value::String(std::move(k)));
    v.Set("earlier_verifier_keys", std::move(list));
    return JsonResponse(200, v);
  }));
  router_.Add("GET", "/v1/audit/checkpoint", g.Guard(Permission::kReadAudit, [&log](Request& req, const Access&) {
    return Answer(log.Latest(), req, 200, CheckpointJson);
  }));
  router_.Add("POST", "/v1/audit/checkpoints", g.Guard(Permission::kReadAudit, [&log](Request& req, const Access&) {
    // A new checkpoint only when the tree grew: 201 with it; else 200 with the newest one, so
    // repeated calls do not store (and sync) one note each.
    bool published = false;
    Result<audit::SignedCheckpoint> c = log.Latest(&published);
    return Answer(c, req, published ? 201 : 200, CheckpointJson);
  }));
  router_.Add("GET", "/v1/audit/checkpoints/{size}", g.Guard(Permission::kReadAudit, [&log](Request& req, const Access&) {
    const std::string text = req.Param("size");
    uint64_t size = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), size);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return ProblemResponse(NotFoundError("no checkpoint " + text, "checkpoint-not-found"), req);
    }
    return Answer(log.CheckpointAt(size), req, 200, CheckpointJson);
  }));
  router_.Add("GET", "/v1/audit/events/{seq}", g.Guard(Permission::kReadAudit, [&log](Request& req, const Access& a) {
    const std::string text = req.Param("seq");
    uint64_t seq = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return ProblemResponse(NotFoundError("no audit event " + text, "audit-event-not-found"), req);
    }
    // Any event of the principal: not for a credential limited to some agents or mandates.
    if (Status s = RequireWholePrincipal(a); !s.ok()) return ProblemResponse(s, req);
    if (Result<uint64_t> s = log.Sequence(); !s.ok()) return ProblemResponse(s.error(), req);
    Result<audit::StoredEvent> e = log.Event(seq);
    if (e.ok() && !Visible(*e, a)) {
      e = NotFoundError("no audit event " + text, "audit-event-not-found");
    }
    return Answer(e, req, 200, EventJson);
  }));
  router_.Add("GET", "/v1/audit/proofs/inclusion", g.Guard(Permission::kReadAudit, [&log](Request& req, const Access&) {
    Result<uint64_t> seq = ParseCount(req, "seq", true, 0);
    if (!seq.ok()) return ProblemResponse(seq.error(), req);
    Result<uint64_t> size = ParseCount(req, "size", false, log.size());
    if (!size.ok()) return ProblemResponse(size.error(), req);
    Result<std::vector<audit::Hash>> proof = log.Inclusion(*seq, *size);
    if (!proof.ok()) return ProblemResponse(proof.error(), req);
    Result<audit::Hash> root = log.Root(*size);
    Result<audit::StoredEvent> e = log.Event(*seq);
    if (!root.ok()) return ProblemResponse(root.error(), req);
    if (!e.ok()) return ProblemResponse(e.error(), req);
    json::Value v = json::Value::Object();
    v.Set("seq", json::Value::Uint(*seq));
    v.Set("size", json::Value::Uint(*size));
    v.Set("leaf_hash", json::Value::String(audit::HashHex(audit::LeafHash(AsBytes(e->bytes)))));
    v.Set("root", json::Value::String(audit::HashHex(*root)));
    v.Set("proof", HashList(*proof));
    return JsonResponse(200, v);
  }));
  router_.Add("GET", "/v1/audit/proofs/consistency", g.Guard(Permission::kReadAudit, [&log](Request& req, const Access&) {
    Result<uint64_t> from = ParseCount(req, "from", true, 0);
    if (!from.ok()) return ProblemResponse(from.error(), req);
    Result<uint64_t> to = ParseCount(req, "to", false, log.size());
    if (!to.ok()) return ProblemResponse(to.error(), req);
    Result<std::vector<audit::Hash>> proof = log.Consistency(*from, *to);
    if (!proof.ok()) return ProblemResponse(proof.error(), req);
    Result<audit::Hash> r1 = log.Root(*from);
    Result<audit::Hash> r2 = log.Root(*to);
    if (!r1.ok()) return ProblemResponse(r1.error(), req);
    if (!r2.ok()) return ProblemResponse(r2.error(), req);
    json::Value v = json::Value::Object();
    v.Set("from", json::Value::Uint(*from));
    v.Set("to", json::Value::Uint(*to));
    v.Set("root_from", json::Value::String(audit::HashHex(*r1)));
    v.Set("root_to", json::Value::String(audit::HashHex(*r2)));
    v.Set("proof", HashList(*proof));
    return JsonResponse(200, v);
  }));
  router_.Add("GET", "/v1/audit/trail", g.Guard(Permission::kReadAudit, [&log, mark_foreign](Request& req, const Access& a) {
    Result<audit::TrailQuery> q = ParseTrailQuery(req, a, false);
    if (!q.ok()) return ProblemResponse(q.error(), req);
    if (Status m = mark_foreign(*q, a); !m.ok()) return ProblemResponse(m, req);
    std::optional<uint64_t> after;
    if (!req.Query("after").empty()) {
      Result<uint64_t> v = ParseCount(req, "after", true, 0);
      if (!v.ok()) return ProblemResponse(v.error(), req);
      after = *v;
    }
    Result<uint64_t> limit = ParseCount(req, "limit", false, 100);
    if (!limit.ok()) return ProblemResponse(limit.error(), req);
    if (*limit < 1 || *limit > 1000) {
      return ProblemResponse(QueryError("?limit= must be 1 to 1000"), req);
    }
    Result<audit::TrailPage> page = log.Trail(*q, after, static_cast<size_t>(*limit));
    if (!page.ok()) return ProblemResponse(page.error(), req);
    json::Value items = json::Value::Array();
    for (const audit::StoredEvent& e : page->items) items.Append(EventJson(e));
    json::Value v = json::Value::Object();
    v.Set("items", std::move(items));
    if (page->next_after) v.Set("next_after", json::Value::Uint(*page->next_after));
    return JsonResponse(200, v);
  }));
  router_.Add("GET", "/v1/audit/export", g.Guard(Permission::kReadAudit, [&log, mark_foreign](Request& req, const Access& a) {
    // The whole log (no selector) is for the operator; an auditor exports their own trails.
    Result<audit::TrailQuery> q = ParseTrailQuery(req, a, a.caller.principal_id.empty());
    if (!q.ok()) return ProblemResponse(q.error(), req);
    if (Status m = mark_foreign(*q, a); !m.ok()) return ProblemResponse(m, req);
    // A trail is built in memory (its proofs come first, in the header) and bounded; the whole
    // log is streamed, its header and checkpoint fixed before the first event goes out, so it
    // has no bound but the log's size.
    Result<std::vector<uint64_t>> consistency_from = ParseConsistencyFrom(req);
    if (!consistency_from.ok()) return ProblemResponse(consistency_from.error(), req);
    Result<audit::Log::ExportStart> start =
        log.BeginExport(*q, kMaxTrailExportEvents, SIZE_MAX, *consistency_from);
    if (!start.ok()) return ProblemResponse(start.error(), req);
    Response r;
    r.status = 200;
    r.content_type = "application/x-ndjson";
    r.body = std::move(start->head);
    if (start->whole) {
      r.stream = [&audit_log = log, end = start->stream_events,
                  request_id = req.request_id](const BodyWriter& write) {
        const Status s = audit_log.StreamEvents(end, write);
        if (!s.ok() && s.reason() != "export-aborted") {
          // The head is sent: the client sees the body cut short; the operator sees why.
          log::Error("audit export failed while streaming",
                     {{"request_id", request_id}, {"error", s.message()}});
        }
        return s.ok();
      };
    }
    return r;
  }));
}

}  // namespace mandated::api
