// x402 routes (specs/x402.md §5-6): the facilitator merchants call (/x402/supported, /verify,
// /settle, with the reference facilitator's JSON), the flush of deferred on-chain settlements
// (specs/evm.md §6.3) and the payer agents call (/v1/x402/pay).
#include "api/app.h"
#include "api/handler_util.h"
#include "api/http_server.h"
#include "api/idempotent_route.h"

namespace mandated::api {

using identity::Permission;


void App::RegisterX402Routes() {
  const AccessGuard& g = *guard_;
  settlement::Facilitator& fac = *facilitator_;
  settlement::Payer& payer = *payer_;
  policy::IdempotencyKeys& idem = *idempotency_;

  // ---- Facilitator (reference shapes: invalid payments are 200 with isValid/success false) ----
  router_.Add("GET", "/x402/supported", [&fac](Request&) { return JsonResponse(200, fac.Supported()); });
  router_.Add("POST", "/x402/verify", g.Guard(Permission::kFacilitate, [&fac](Request& req, const Access&) {
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    Result<settlement::VerifyResponse> v = fac.Verify(*body);
    if (v.ok()) {
      AnnotateRequestLog("x402_valid", v->is_valid ? "true" : "false");
      if (!v->is_valid) AnnotateRequestLog("x402_reason", v->invalid_reason);
    }
    return Answer(v, req, 200, settlement::VerifyResponseToJson);
  }));
  router_.Add("POST", "/x402/settle", g.Guard(Permission::kFacilitate, [&fac](Request& req, const Access&) {
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    settlement::SettleMode mode = settlement::SettleMode::kLedger;
    Result<settlement::SettleResponse> s = fac.Settle(*body, &mode);
    if (!s.ok()) return ProblemResponse(s.error(), req);
    AnnotateRequestLog("x402_success", s->success ? "true" : "false");
    if (!s->success) AnnotateRequestLog("x402_reason", s->error_reason);
    json::Value out = settlement::SettleResponseToJson(*s);
    if (mode != settlement::SettleMode::kLedger) {
      // How the payment is settled (specs/x402.md §5.3): "onchain", or "deferred" when it was
      // accepted now and goes on chain in a later batch.
      AnnotateRequestLog("x402_mode", std::string(settlement::SettleModeName(mode)));
      json::Value settled = json::Value::Object();
      settled.Set("mode", json::Value::String(std::string(settlement::SettleModeName(mode))));
      json::Value ext = json::Value::Object();
      ext.Set("settlement", std::move(settled));
      out.Set("extensions", std::move(ext));
    }
    return JsonResponse(200, out);
  }));
  // Deferred on-chain settlements: submit every queued payment now (specs/evm.md §6.3). Only
  // with an evm backend: without one there is nothing to flush.
  if (fac.has_evm_backend()) router_.Add("POST", "/x402/deferred/flush", g.Guard(Permission::kManageServiceKeys, [&fac](Request& req, const Access&) {
    Result<size_t> flushed = fac.FlushDeferred();
    if (!flushed.ok()) return ProblemResponse(flushed.error(), req);
    fac.ResumeSubmissions().status().IgnoreError();  // records batches already final
    Result<std::pair<size_t, size_t>> backlog = fac.Backlog();
    if (!backlog.ok()) return ProblemResponse(backlog.error(), req);
    json::Value out = json::Value::Object();
    out.Set("submitted", json::Value::Uint(*flushed));
    out.Set("queued", json::Value::Uint(backlog->first));
    out.Set("in_flight", json::Value::Uint(backlog->second));
    return JsonResponse(200, out);
  }));

  // ---- Payer (agent sessions): one signed payment per Idempotency-Key ----
  router_.Add("POST", "/v1/x402/pay", g.Guard(Permission::kPay, [&payer, &idem](Request& req, const Access& a) {
    const policy::Actor actor = ActorOf(a);
    // The key is checked first, so a reused key gets 422 and a missing one 400 whatever the
    // body says; then the body's parse and the choice of requirements, whose refusals are not
    // recorded (the corrected request may reuse the key). A retry with the same body makes the
    // same choice (specs/x402.md §6.2).
    auto parse_and_choose =
        [&]() -> Result<std::pair<settlement::PayRequest, settlement::Choice>> {
      MD_ASSIGN_OR_RETURN(json::Value body, ParseJsonBody(req));
      MD_ASSIGN_OR_RETURN(settlement::PayRequest pr, settlement::ParsePayRequest(body));
      MD_ASSIGN_OR_RETURN(settlement::Choice choice, payer.Choose(*a.tenant, actor, pr));
      return std::make_pair(std::move(pr), std::move(choice));
    };
    auto replay = [&](const policy::StoredAnswer& stored) {
      if (stored.status != 201 && stored.status != 200) return ReplayAsStored(stored);
      Result<std::pair<settlement::PayRequest, settlement::Choice>> chosen = parse_and_choose();
      if (!chosen.ok()) return ProblemResponse(chosen.error(), req);
      // Keys are the agent's, its sessions' alike: a session limited to other mandates gets no
      // payment signed under this one by replaying another session's key (as a new request
      // under it would be refused).
      if (Status s = ReplayInMandateScope(a, stored); !s.ok()) return ProblemResponse(s, req);
      Result<policy::Answer> again = payer.Render(
          *a.tenant, actor, chosen->second, policy::Answer{stored.status, stored.body, "", ""});
      if (!again.ok()) return ProblemResponse(again.error(), req);
      return Response::Json(again->status, std::move(again->body));
    };
    std::optional<std::pair<settlement::PayRequest, settlement::Choice>> chosen;
    auto validate = [&]() -> Status {
      MD_ASSIGN_OR_RETURN(chosen, parse_and_choose());
      return OkStatus();
    };
    return IdempotentValidated(idem, req, a, validate, [&](const policy::IdempotencyClaim* claim) -> Result<policy::Answer> {
      Result<policy::Answer> answer =
          payer.Pay(*a.tenant, actor, chosen->first, chosen->second, claim);
      if (answer.ok()) {
        AnnotateRequestLog("authorization", answer->id);
        AnnotateRequestLog("decision", answer->decision);
      }
      return answer;
    }, replay);
  }));
}

}  // namespace mandated::api
