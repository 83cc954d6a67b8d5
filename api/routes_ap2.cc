// AP2 routes (specs/ap2.md §9, specs/api.md §AP2): open mandates issued for a principal's agents,
// challenges and closed payment mandates for agents (signed by the agent, or by the service with
// a custodial key), the merchant's verification with signed receipts, and the receipts JWKS.
#include <algorithm>

#include "api/app.h"
#include "api/handler_util.h"
#include "api/idempotent_route.h"
#include "base/bytes.h"
#include "base/log.h"

namespace mandated::api {
namespace {

using identity::Permission;

// Agents act for themselves: these routes need an agent session.
Status RequireAgent(const Access& a) {
  if (a.caller.role != identity::Role::kAgent) {
    return PermissionDeniedError("only an agent session closes AP2 mandates", "forbidden");
  }
  return OkStatus();
}

}  // namespace

void App::RegisterAp2Routes() {
  // Ledger payments of accepted closed mandates (specs/ap2.md §6.2): principal -> merchant:<payee
  // id>, in the batch of the closed record, under a transfer id derived from it (used once).
  ap2_->set_settle_hook([&ledger = *ledger_](const mandates::ap2::ClosedRecord& r,
                                             const std::string& principal,
                                             store::WriteBatch batch) -> Status {
    settlement::Transfer t;
    t.id = r.ledger_transfer;
    t.debit = "principal:" + principal;
    const json::Value* payee = r.payment.payee.Find("id");
    t.credit = "merchant:" + (payee != nullptr && payee->is_string() ? payee->as_string() : "");
    t.asset = r.payment.currency;
    t.amount = Amount::FromUint64(static_cast<uint64_t>(r.payment.amount));
    t.kind = "payment";
    t.reference = "ap2:" + r.id;
    t.principal = principal;
    return ledger.Apply({std::move(t)}, std::move(batch)).status();
  });
  // x402 payments of accepted closed mandates (specs/ap2.md §6.1): their nonce is bound in the
  // facilitator, in the batch of the closed record, so the transfer settled under it is linked
  // to the mandate, its agent and its principal (and metered for them).
  ap2_->set_x402_bind_hook([](const mandates::ap2::ClosedRecord& r, const std::string& principal,
                              store::WriteBatch& batch) {
    Result<Bytes> nonce = HexDecode(r.x402_nonce, /*allow_0x=*/true);
    if (!nonce.ok() || nonce->size() != 32) return;  // keccak256 output: cannot happen
    settlement::Nonce32 n{};
    std::copy(nonce->begin(), nonce->end(), n.begin());
    settlement::Binding b;
    b.principal = principal;
    b.agent_id = r.agent_id;
    b.mandate_id = r.open_mandate_id;
    b.ap2_payment = r.id;
    settlement::Facilitator::StageBind(batch, n, b);
  });
  const AccessGuard& g = *guard_;
  mandates::ap2::Authority& ap2 = *ap2_;
  policy::Authorizer& az = *authorizer_;

  router_.Add("POST", "/v1/principals/{principal}/ap2/mandates", g.Guard(Permission::kIssueMandates, [&ap2](Request& req, const Access& a) {
    if (a.caller.role == identity::Role::kAgent) {
      return ProblemResponse(PermissionDeniedError("agents cannot issue AP2 open mandates",
                                                   "delegation-only"), req);
    }
    if (!a.caller.mandate_scope.empty()) {
      // New spending authority, as a root mandate is: not for a credential limited to some
      // mandates (specs/access.md), which issues no roots either.
      return ProblemResponse(PermissionDeniedError("a credential limited to some mandates issues "
                                                   "no AP2 open mandates",
                                                   "mandate-out-of-scope"), req);
    }
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    Result<mandates::ap2::IssueOpenRequest> ir = mandates::ap2::ParseIssueOpen(*body);
    if (!ir.ok()) return ProblemResponse(ir.error(), req);
    if (!a.caller.InAgentScope(ir->agent_id)) {
      return ProblemResponse(PermissionDeniedError("/agent: this credential is limited to other agents",
                                                   "agent-out-of-scope"), req);
    }
    Result<mandates::ap2::OpenMandate> m = ap2.IssueOpen(*a.tenant, *ir, a.caller.credential_id);
    if (!m.ok()) return ProblemResponse(m.error(), req);
    AnnotateRequestLog("ap2_mandate", m->id);
    Response res = JsonResponse(201, mandates::ap2::OpenMandateToJson(*m));
    res.headers.emplace_back("Location", "/v1/principals/" + m->principal_id + "/ap2/mandates/" + m->id);
    return res;
  }));
  router_.Add("GET", "/v1/principals/{principal}/ap2/mandates/{ap2_mandate}", g.Guard(Permission::kReadMandates, [&ap2](Request& req, const Access& a) {
    Result<mandates::ap2::OpenMandate> m = ap2.Get(*a.tenant, req.Param("ap2_mandate"));
    if (m.ok() && !a.caller.InAgentScope(m->agent_id)) {
      m = PermissionDeniedError("this credential is limited to other agents", "agent-out-of-scope");
    }
    if (m.ok() && !a.caller.mandate_scope.empty()) {
      // Its list names mandates, never AP2 open mandates: none of these is in its scope.
      m = PermissionDeniedError("this credential is limited to other mandates",
                                "mandate-out-of-scope");
    }
    return Answer(m, req, 200, mandates::ap2::OpenMandateToJson);
  }));

  router_.Add("POST", "/v1/ap2/challenges", g.Guard(Permission::kAuthorize, [&ap2](Request& req, const Access& a) {
    if (Status s = RequireAgent(a); !s.ok()) return ProblemResponse(s, req);
    Result<mandates::ap2::Challenge> c = ap2.NewChallenge(*a.tenant, a.caller.agent_id);
    return Answer(c, req, 201, [](const mandates::ap2::Challenge& ch) {
      return json::Value::Object()
          .Set("nonce", json::Value::String(ch.nonce))
          .Set("aud", json::Value::String(ch.aud))
          .Set("expires_at", json::Value::Int(ch.expires_at));
    });
  }));
  router_.Add("POST", "/v1/ap2/present", g.Guard(Permission::kAuthorize, [&ap2](Request& req, const Access& a) {
    if (Status s = RequireAgent(a); !s.ok()) return ProblemResponse(s, req);
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    Result<json::ObjectReader> r = json::ObjectReader::Of(*body);
    if (!r.ok()) return ProblemResponse(r.error(), req);
    Result<std::string> chain = r->String("chain");
    if (!chain.ok()) return ProblemResponse(chain.error(), req);
    if (Status s = r->Finish(); !s.ok()) return ProblemResponse(s, req);
    Result<mandates::ap2::ClosedRecord> rec = ap2.Present(*a.tenant, a.caller.agent_id, *chain);
    if (rec.ok()) AnnotateRequestLog("ap2_closed", rec->id);
    return Answer(rec, req, 201, mandates::ap2::ClosedRecordToJson);
  }));
  // A custodial agent's closing runs behind the same authorization as any purchase
  // (specs/ap2.md §6): the agent names its allowed, reserved authorization (a step-up approved
  // first) for exactly this payee, amount and currency; the service signs the hop only then, and
  // captures the reservation once the closed mandate is recorded.
  router_.Add("POST", "/v1/ap2/close", g.Guard(Permission::kAuthorize, [&ap2, &az](Request& req, const Access& a) {
    if (Status s = RequireAgent(a); !s.ok()) return ProblemResponse(s, req);
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    Result<json::ObjectReader> r = json::ObjectReader::Of(*body);
    if (!r.ok()) return ProblemResponse(r.error(), req);
    Result<std::string> mandate = r->String("mandate");
    Result<std::string> authorization = r->String("authorization");
    Result<const json::Value*> closed = r->Required("closed");
    Result<std::string> aud = r->String("aud");
    Result<std::string> nonce = r->String("nonce");
    for (const Status& s : {mandate.status(), authorization.status(), closed.status(),
                            aud.status(), nonce.status(), r->Finish()}) {
      if (!s.ok()) return ProblemResponse(s, req);
    }
    Result<mandates::ap2::ClosedPayment> cp = mandates::ap2::ParseClosedPayment(**closed);
    if (!cp.ok()) return ProblemResponse(cp.error(), req);
    Result<policy::Authorization> held = az.Get(*a.tenant, *authorization);
    if (held.ok() && held->agent_id != a.caller.agent_id) {
      held = NotFoundError("no authorization " + *authorization, "authorization-not-found");
    }
    if (!held.ok()) return ProblemResponse(held.error(), req);
    if (held->decision != "allowed" || !held->reservation || held->reservation->state != "reserved") {
      return ProblemResponse(FailedPreconditionError("authorization " + held->id +
                                                         " holds no live reservation",
                                                     "ap2-authorization-not-reserved"), req);
    }
    const json::Value* payee_id = cp->payee.Find("id");
    if (held->purchase.amount.ToString() != std::to_string(cp->amount) ||
        held->purchase.asset != cp->currency || payee_id == nullptr ||
        held->purchase.payee.value != payee_id->as_string()) {
      return ProblemResponse(FailedPreconditionError("the authorization is for another purchase "
                                                     "(payee, amount or currency)",
                                                     "ap2-authorization-mismatch"), req);
    }
    Result<mandates::ap2::ClosedRecord> rec =
        ap2.CloseCustodial(*a.tenant, a.caller.agent_id, *mandate, **closed, *aud, *nonce,
                           held->id);
    if (!rec.ok()) return ProblemResponse(rec.error(), req);
    AnnotateRequestLog("ap2_closed", rec->id);
    Result<policy::Answer> captured =
        az.Capture(*a.tenant, ActorOf(a), held->id, held->purchase.amount, nullptr);
    json::Value out = mandates::ap2::ClosedRecordToJson(*rec);
    out.Set("authorization", json::Value::String(held->id));
    out.Set("captured", json::Value::Bool(captured.ok()));
    if (!captured.ok()) {
      log::Warn("ap2 closing recorded but its capture failed",
                {{"request_id", req.request_id}, {"authorization", held->id},
                 {"error", captured.error().ToString()}});
    }
    return JsonResponse(201, out);
  }));
  router_.Add("POST", "/v1/ap2/verify", g.Guard(Permission::kUseMandates, [&ap2](Request& req, const Access& a) {
    if (!a.tenant) {
      return ProblemResponse(InvalidArgumentError("the operator verifies for no principal",
                                                  "principal-required"), req);
    }
    Result<json::Value> body = ParseJsonBody(req);
    if (!body.ok()) return ProblemResponse(body.error(), req);
    Result<mandates::ap2::MerchantVerifyRequest> vr = mandates::ap2::ParseMerchantVerify(*body);
    if (!vr.ok()) return ProblemResponse(vr.error(), req);
    Result<mandates::ap2::MerchantVerifyResult> v = ap2.VerifyCheckout(*a.tenant, *vr);
    return Answer(v, req, 200, [](const mandates::ap2::MerchantVerifyResult& x) {
      return json::Value::Object()
          .Set("checkout_hash", json::Value::String(x.checkout_hash))
          .Set("order_id", json::Value::String(x.order_id))
          .Set("closed_payment", json::Value::String(x.closed_payment_id))
          .Set("checkout_receipt", json::Value::String(x.checkout_receipt))
          .Set("payment_receipt", json::Value::String(x.payment_receipt));
    });
  }));
  router_.Add("GET", "/.well-known/ap2-jwks.json", [&ap2](Request& req) {
    return Answer(ap2.ReceiptJwks(), req, 200, [](const json::Value& v) { return v; });
  });
}

}  // namespace mandated::api
