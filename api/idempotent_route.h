// Helpers of the routes that move money: the caller as a policy actor, and Idempotent, which
// runs a POST at most once per Idempotency-Key (specs/authorization.md §6).
#pragma once

#include <string>

#include "api/auth.h"
#include "api/http_types.h"
#include "api/problem.h"
#include "base/json.h"
#include "identity/access.h"
#include "policy/authorizer.h"
#include "policy/idempotency.h"

namespace mandated::api {

// The caller of a guarded route as the authorizer (and the payer) see it.
inline policy::Actor ActorOf(const Access& a) {
  policy::Actor actor;
  actor.id = a.caller.credential_id;
  actor.user_id = a.caller.user_id;
  actor.agent_id = a.caller.agent_id;
  actor.session_id = a.caller.session_id;
  actor.mandate_scope = a.caller.mandate_scope;
  return actor;
}

// The answer first recorded for a key, sent again as it was (the default `replay`).
inline Response ReplayAsStored(const policy::StoredAnswer& stored) {
  Response r;
  r.status = stored.status;
  r.content_type = stored.content_type;
  r.body = stored.body;
  return r;
}

// Keys are an agent's, its sessions' alike (specs/authorization.md §6): a replay of a recorded
// authorization (a 2xx answer holding its record, "mandate" naming its mandate) to a session
// limited to other mandates is 403 mandate-out-of-scope, as a GET of it would be.
inline Status ReplayInMandateScope(const Access& a, const policy::StoredAnswer& stored) {
  if (a.caller.mandate_scope.empty() || stored.status < 200 || stored.status >= 300) {
    return OkStatus();
  }
  Result<json::Value> v = json::Parse(stored.body);
  const json::Value* m = v.ok() && v->is_object() ? v->Find("mandate") : nullptr;
  if (m != nullptr && m->is_string() && a.caller.InMandateScope(m->as_string())) {
    return OkStatus();
  }
  return PermissionDeniedError("this session is limited to other mandates",
                               "mandate-out-of-scope");
}

// Runs `work` at most once per idempotency key (specs/authorization.md §6). `work` gets the
// claim and records its answer in the batch of the state it changes; errors that change nothing
// are recorded here (4xx only: a 5xx or a transient conflict lets the retry run again; a 403 or
// 404 refusal writes nothing, specs/access.md), unless `work` had recorded an answer already.
// `replay` turns a recorded answer into the response of a retry (the x402 payer re-renders the
// recorded authorization as the payment it stands for).
// `validate` runs once the key is claimed and before `work`: its refusal (the request's own
// input is bad) is answered but not recorded, so the corrected request may reuse the key.
// `decorate` may add to the problem answering an error of `work` before it is recorded (the
// AP2 routes add a signed error receipt), so that a retry replays it as it was; not when `work`
// recorded an answer already, which is the answer a retry gets.
inline void NoDecoration(Response&, const Status&) {}
template <typename Validate, typename Work,
          typename Replay = Response (*)(const policy::StoredAnswer&),
          typename Decorate = void (*)(Response&, const Status&)>
Response IdempotentValidated(policy::IdempotencyKeys& keys, Request& req, const Access& a,
                             Validate validate, Work work, Replay replay = &ReplayAsStored,
                             Decorate decorate = &NoDecoration) {
  const std::string key = req.Header("Idempotency-Key");
  if (Status s = policy::ValidateIdempotencyKey(key); !s.ok()) return ProblemResponse(s, req);
  const std::string caller =
      a.caller.role == identity::Role::kAgent ? a.caller.agent_id : a.caller.credential_id;
  Result<policy::IdempotencyKeys::Begin> begin = keys.Start(
      *a.tenant, caller, key, policy::RequestFingerprint(req.method, req.path, req.body));
  if (!begin.ok()) return ProblemResponse(begin.error(), req);
  if (begin->replay) {
    Response r = replay(*begin->replay);
    r.headers.emplace_back("Idempotent-Replayed", "true");
    return r;
  }
  const policy::IdempotencyClaim& claim = *begin->claim;
  if (Status valid = validate(); !valid.ok()) return ProblemResponse(valid, req);
  Result<policy::Answer> answer = work(&claim);
  if (answer.ok()) return Response::Json(answer->status, std::move(answer->body));
  Response problem = ProblemResponse(answer.error(), req);
  if (!claim.recorded()) decorate(problem, answer.error());
  // An error after `work` recorded its answer (the x402 payer held, then failed to render the
  // payment) keeps that first answer: a retry replays it.
  if (!claim.recorded() && problem.status >= 400 && problem.status < 500 &&
      problem.status != 403 && problem.status != 404 &&
      answer.error().code() != StatusCode::kAborted) {
    Status kept = claim.RecordAlone(
        policy::StoredAnswer{problem.status, problem.content_type, problem.body});
    if (!kept.ok()) return ProblemResponse(kept, req);
  }
  return problem;
}

template <typename Work, typename Replay = Response (*)(const policy::StoredAnswer&)>
Response Idempotent(policy::IdempotencyKeys& keys, Request& req, const Access& a, Work work,
                    Replay replay = &ReplayAsStored) {
  return IdempotentValidated(
      keys, req, a, [] { return OkStatus(); }, std::move(work), std::move(replay));
}

}  // namespace mandated::api
