// AP2 routes (specs/ap2.md §9, specs/api.md §AP2): open mandates issued for a principal's agents,
// challenges and closed payment mandates for agents (signed by the agent, or by the service with
// a custodial key), the merchant's verification with signed receipts, and the receipts JWKS.
#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include "api/app.h"
#include "api/handler_util.h"
#include "api/idempotent_route.h"
#include "base/bytes.h"
#include "base/log.h"

namespace mandated::api {
namespace {

// Adds the signed AP2 error receipt (specs/ap2.md §8) of a refusal to its problem answer:
// refusals of the request (4xx), not a transient conflict (kAborted, retried with the same key)
// nor a server error, which refuse nothing. Its error_description is the problem's own slug and
// detail. A receipt that cannot be signed turns the answer into a 500, which no Idempotency-Key
// keeps: a refusal is never answered, and replayed, without its receipt.
void AddErrorReceipt(mandates::ap2::Authority& ap2, const Request& req, Response& problem,
                     const Status& refusal, mandates::ap2::Authority::ReceiptKind kind,
                     std::string_view presented, std::string transaction_id) {
  if (problem.status < 400 || problem.status >= 500 || refusal.code() == StatusCode::kAborted) {
    return;
  }
  Result<json::Value> body = json::Parse(problem.body);
  const json::Value* detail = body.ok() && body->is_object() ? body->Find("detail") : nullptr;
  Result<std::string> receipt =
      ap2.ErrorReceipt(kind, presented, std::move(transaction_id), ProblemSlug(refusal),
                       detail != nullptr && detail->is_string() ? detail->as_string() : "");
  if (!receipt.ok()) {
    log::Error("ap2 error receipt not signed",
               {{"request_id", req.request_id}, {"error", receipt.error().ToString()}});
    problem = ProblemResponse(receipt.error().code() == StatusCode::kInternal
                                  ? receipt.error()
                                  : InternalError(receipt.error().message(), "internal"),
                              req);
    return;
  }
  AddProblemMember(problem,
                   kind == mandates::ap2::Authority::ReceiptKind::kPayment ? "payment_receipt"
                                                                           : "checkout_receipt",
                   std::move(*receipt));
}

using identity::Permission;

// Agents act for themselves: these routes need an agent session.
Status RequireAgent(const Access& a) {
  if (a.caller.role != identity::Role::kAgent) {
    return PermissionDeniedError("only an agent session closes AP2 mandates", "forbidden");
  }
  return OkStatus();
}

}  // namespace

Status App::CaptureClosedPayment(const identity::Tenant& t, const std::string& authorization_id,
                                 policy::Actor actor) {
  Result<policy::Authorization> held = authorizer_->Get(t, authorization_id);
  if (!held.ok()) {
    if (held.error().code() != StatusCode::kNotFound) return held.error();
    return FailedPreconditionError("authorization " + authorization_id + " does not exist",
                                   "ap2-capture-lost");
  }
  // No one else may capture or void it now (the hold guard); its lease may have ended (the
  // payment is made, so it is charged late, as a settled payment's is). The sweeper writing
  // down a lapse at that moment answers reservation-busy for a moment: asked again.
  actor.captures_settled_payment = true;
  Result<policy::Answer> captured =
      authorizer_->Capture(t, actor, authorization_id, held->purchase.amount, nullptr);
  for (int attempt = 0; attempt < 100 && !captured.ok() &&
                        captured.error().reason() == "reservation-busy";
       ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    captured = authorizer_->Capture(t, actor, authorization_id, held->purchase.amount, nullptr);
  }
  if (captured.ok()) return OkStatus();
  Result<policy::Authorization> now = authorizer_->Get(t, authorization_id);
  if (!now.ok()) return captured.error();
  if (now->reservation && now->reservation->state == "captured") return OkStatus();
  if (!now->reservation || now->reservation->state == "voided" ||
      now->reservation->state == "released") {
    return FailedPreconditionError("the hold of authorization " + authorization_id +
                                       " was released before its capture",
                                   "ap2-capture-lost");
  }
  return captured.error();
}

void App::CaptureClosedPayments() {
  constexpr size_t kPage = 500;
  bool retry = false;
  std::string after;
  for (;;) {
    Result<std::vector<identity::Principal>> page = principals_->List(after, kPage);
    if (!page.ok()) {
      log::Warn("ap2 captures left pending", {{"error", page.error().ToString()}});
      retry = true;
      break;
    }
    for (const identity::Principal& p : *page) {
      const identity::Tenant t(*store_, p.id);
      Result<std::vector<mandates::ap2::Authority::PendingCapture>> pending =
          ap2_->PendingCaptures(t);
      if (!pending.ok()) {
        log::Warn("ap2 captures left pending",
                  {{"principal", p.id}, {"error", pending.error().ToString()}});
        retry = true;
        continue;
      }
      for (const mandates::ap2::Authority::PendingCapture& c : *pending) {
        policy::Actor service;
        service.id = "ap2-closing";  // the closing's agent is not here: the service captures it
        Status s = CaptureClosedPayment(t, c.authorization_id, std::move(service));
        if (s.ok()) {
          log::Info("ap2 closing captured late", {{"authorization", c.authorization_id},
                                                  {"closed", c.closing_id}});
          if (Status done = ap2_->CaptureDone(t, c.authorization_id); !done.ok()) retry = true;
        } else if (s.reason() == "ap2-capture-lost") {
          // Its money moved and no hold counts it: say so loudly, once, and keep the evidence.
          log::Error("ap2 closing paid but its hold can never be captured",
                     {{"principal", p.id}, {"authorization", c.authorization_id},
                      {"closed", c.closing_id}, {"error", s.ToString()}});
          if (Status moved = ap2_->CaptureLost(t, c.authorization_id, c.closing_id); !moved.ok()) {
            retry = true;
          }
        } else {
          log::Warn("ap2 capture left pending", {{"authorization", c.authorization_id},
                                                 {"error", s.ToString()}});
          retry = true;
        }
      }
    }
    if (page->size() < kPage) break;
    after = page->back().id;
  }
  if (retry) ap2_capture_retry_ = true;
}

void App::RegisterAp2Routes() {
  // Ledger payments of accepted closed mandates (specs/ap2.md §6.2): principal -> merchant:<payee
  // id>, in the batch of the closed record, under a transfer id derived from it (used once), and
  // metered as a settled payment (specs/usage.md §1) in the same write, counted once it landed.
  ap2_->set_settle_hook([&ledger = *ledger_, &usage = *usage_](
                            const mandates::ap2::ClosedRecord& r, const std::string& principal,
                            store::WriteBatch batch,
                            const std::function<void(store::WriteBatch&)>& before_write)
                            -> Status {
    const json::Value* payee = r.payment.payee.Find("id");
    const std::string payee_id = payee != nullptr && payee->is_string() ? payee->as_string() : "";
    settlement::Transfer t;
    t.id = r.ledger_transfer;
    t.debit = "principal:" + principal;
    t.credit = "merchant:" + payee_id;
    t.asset = r.payment.currency;
    t.amount = Amount::FromUint64(static_cast<uint64_t>(r.payment.amount));
    t.kind = "payment";
    t.reference = "ap2:" + r.id;
    t.principal = principal;
    settlement::UsageEvent metered;
    metered.id = "ap2:" + r.id;
    metered.principal = principal;
    metered.agent = r.agent_id;
    metered.mandate = mandates::ap2::SpendingMandate(r);
    metered.payee = payee_id;
    metered.asset = t.asset;
    metered.amount = t.amount;
    metered.at = r.closed_at;
    metered.source = "payment";
    // Staged before Apply, as the facilitator does (Apply writes nothing it refuses), so the
    // meter's lock is never waited for under the ledger's account locks.
    usage.StagePayment(batch, metered);
    const Status applied =
        ledger
            .Apply({std::move(t)}, std::move(batch),
                   [&before_write](const std::vector<settlement::Transfer>&,
                                   const std::vector<settlement::Balance>&,
                                   store::WriteBatch& b) { before_write(b); })
            .status();
    if (applied.ok()) usage.CommittedPayment(metered);
    return applied;
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
    // The open mandate, even for a custodial closing: the transfer is in a token, which no
    // currency counter of the authorization's mandate burns, and the settlement belongs in the
    // open mandate's trail.
    b.mandate_id = r.open_mandate_id;
    b.ap2_payment = r.id;
    settlement::Facilitator::StageBind(batch, n, b);
  });
  const AccessGuard& g = *guard_;
  mandates::ap2::Authority& ap2 = *ap2_;
  policy::Authorizer& az = *authorizer_;
  policy::IdempotencyKeys& idem = *idempotency_;

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
  // The open mandate the route names, if the caller's scopes reach it: an agent scope must
  // hold its agent, and a credential limited to some mandates reaches none (its list names
  // mandates, never AP2 open mandates).
  auto scoped = [&ap2](Request& req, const Access& a) -> Result<mandates::ap2::OpenMandate> {
    MD_ASSIGN_OR_RETURN(mandates::ap2::OpenMandate m, ap2.Get(*a.tenant, req.Param("ap2_mandate")));
    if (!a.caller.InAgentScope(m.agent_id)) {
      return PermissionDeniedError("this credential is limited to other agents",
                                   "agent-out-of-scope");
    }
    if (!a.caller.mandate_scope.empty()) {
      return PermissionDeniedError("this credential is limited to other mandates",
                                   "mandate-out-of-scope");
    }
    return m;
  };
  router_.Add("GET", "/v1/principals/{principal}/ap2/mandates/{ap2_mandate}", g.Guard(Permission::kReadMandates, [scoped](Request& req, const Access& a) {
    return Answer(scoped(req, a), req, 200, mandates::ap2::OpenMandateToJson);
  }));
  // The principal's open mandates, in id order (specs/ap2.md §9); within the caller's agent
  // scope, and none for a credential limited to some mandates (as the read).
  router_.Add("GET", "/v1/principals/{principal}/ap2/mandates", g.Guard(Permission::kReadMandates, [&ap2](Request& req, const Access& a) {
    if (!a.caller.mandate_scope.empty()) {
      return ProblemResponse(PermissionDeniedError("this credential is limited to other mandates",
                                                   "mandate-out-of-scope"), req);
    }
    const std::string agent = req.Query("agent");
    if (!agent.empty() && !a.caller.InAgentScope(agent)) {
      return ProblemResponse(PermissionDeniedError("this credential is limited to other agents",
                                                   "agent-out-of-scope"), req);
    }
    Result<Page> page = ParsePage(req);
    if (!page.ok()) return ProblemResponse(page.error(), req);
    // Filtered while read, so a page holds `limit` mandates the caller may see when there are
    // that many, and `next_after` names one of them.
    Result<std::vector<mandates::ap2::OpenMandate>> list =
        ap2.List(*a.tenant, page->after, page->limit, [&](const std::string& agent_id) {
          return (agent.empty() || agent_id == agent) && a.caller.InAgentScope(agent_id);
        });
    if (!list.ok()) return ProblemResponse(list.error(), req);
    json::Value items = json::Value::Array();
    for (const mandates::ap2::OpenMandate& m : *list) {
      items.Append(mandates::ap2::OpenMandateToJson(m));
    }
    return ListResponse(std::move(items), list->size() == page->limit,
                        list->empty() ? "" : list->back().id);
  }));
  // What an open mandate spent and the closed payments made under it (specs/ap2.md §9).
  router_.Add("GET", "/v1/principals/{principal}/ap2/mandates/{ap2_mandate}/closings", g.Guard(Permission::kReadMandates, [&ap2, scoped](Request& req, const Access& a) {
    Result<mandates::ap2::OpenMandate> m = scoped(req, a);
    if (!m.ok()) return ProblemResponse(m.error(), req);
    Result<Page> page = ParsePage(req);
    if (!page.ok()) return ProblemResponse(page.error(), req);
    Result<mandates::ap2::Usage> usage = ap2.UsageOf(*a.tenant, m->id);
    if (!usage.ok()) return ProblemResponse(usage.error(), req);
    std::vector<std::string> keys;
    Result<std::vector<std::string>> closed =
        ap2.Closings(*a.tenant, m->id, page->after, page->limit, &keys);
    if (!closed.ok()) return ProblemResponse(closed.error(), req);
    json::Value items = json::Value::Array();
    for (const std::string& c : *closed) {
      Result<json::Value> v = json::Parse(c);
      if (!v.ok()) {
        return ProblemResponse(DataLossError("a stored AP2 closing does not parse",
                                             "corrupt-record"), req);
      }
      items.Append(std::move(*v));
    }
    json::Value u = json::Value::Object();
    u.Set("spent", json::Value::Int(usage->spent));
    u.Set("uses", json::Value::Int(usage->uses));
    if (usage->last_use_at) u.Set("last_use_at", json::Value::Int(*usage->last_use_at));
    json::Value body = json::Value::Object();
    body.Set("mandate", json::Value::String(m->id));
    body.Set("usage", std::move(u));
    body.Set("items", std::move(items));
    if (closed->size() == page->limit && !keys.empty()) {
      body.Set("next_after", json::Value::String(keys.back()));
    }
    return JsonResponse(200, body);
  }));
  // Revocation (specs/ap2.md §9): whoever manages the principal's mandates, within the same
  // scopes as the read; for good, and a second revocation answers the first.
  router_.Add("POST", "/v1/principals/{principal}/ap2/mandates/{ap2_mandate}/revoke", g.Guard(Permission::kManageMandates, [&ap2, scoped](Request& req, const Access& a) {
    Result<mandates::ap2::OpenMandate> m = scoped(req, a);
    if (m.ok()) {
      const std::string by = a.caller.role == identity::Role::kOperator ? std::string("operator")
                                                                       : a.caller.credential_id;
      m = ap2.Revoke(*a.tenant, m->id, by);
    }
    if (m.ok()) {
      AnnotateRequestLog("ap2_mandate", m->id);
      log::Info("ap2 mandate revoked", {{"request_id", req.request_id},
                                        {"principal", m->principal_id},
                                        {"ap2_mandate", m->id},
                                        {"by", m->revoked_by}});
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
  // Both closing routes move money: one closing per Idempotency-Key (specs/authorization.md
  // §6). A body that does not parse is refused before the key is spent (the corrected request
  // may reuse it).
  router_.Add("POST", "/v1/ap2/present", g.Guard(Permission::kAuthorize, [&ap2, &az, &idem](Request& req, const Access& a) {
    if (Status s = RequireAgent(a); !s.ok()) return ProblemResponse(s, req);
    if (!a.caller.mandate_scope.empty()) {
      // A session limited to some (vc+jwt) mandates spends under those only; an agent-signed
      // closing spends under none of them (specs/access.md §Authorizations).
      return ProblemResponse(
          PermissionDeniedError("this session is limited to mandates; an AP2 closing the agent "
                                "signs spends outside them",
                                "mandate-out-of-scope"),
          req);
    }
    std::string chain;
    auto validate = [&]() -> Status {
      MD_ASSIGN_OR_RETURN(json::Value body, ParseJsonBody(req));
      MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
      MD_ASSIGN_OR_RETURN(chain, r.String("chain"));
      return r.Finish();
    };
    return IdempotentValidated(idem, req, a, validate, [&](const policy::IdempotencyClaim* claim) -> Result<policy::Answer> {
      // The answer is recorded in the closing's own batch: a retry after a crash either finds
      // both or neither.
      std::string body;
      Result<mandates::ap2::ClosedRecord> rec = ap2.Present(
          *a.tenant, a.caller.agent_id, chain,
          [&](const mandates::ap2::ClosedRecord& r, store::WriteBatch& batch) {
            body = json::Write(mandates::ap2::ClosedRecordToJson(r));
            claim->Record(batch, policy::StoredAnswer{201, "application/json", body});
          },
          // The payment also counts against the ceilings of the agent, its session and the
          // principal, as any purchase of the agent does (specs/ap2.md §6).
          [&](const mandates::ap2::ClosedRecord& r, store::WriteBatch& batch,
              const std::function<Status(bool*)>& commit) -> Status {
            policy::OutsideCharge charge;
            charge.id = r.id;
            charge.source = "ap2-closing";
            charge.asset = r.payment.currency;
            charge.amount = Amount::FromUint64(static_cast<uint64_t>(r.payment.amount));
            return az.ChargeOutside(*a.tenant, ActorOf(a), std::move(charge), batch, commit);
          });
      if (!rec.ok()) return rec.error();
      AnnotateRequestLog("ap2_closed", rec->id);
      return policy::Answer{201, std::move(body), rec->id, "allowed"};
    }, &ReplayAsStored, [&](Response& problem, const Status& refusal) {
      AddErrorReceipt(ap2, req, problem, refusal,
                      mandates::ap2::Authority::ReceiptKind::kPayment, chain, "");
    });
  }));
  // A custodial agent's closing runs behind the same authorization as any purchase
  // (specs/ap2.md §6): the agent names its allowed, reserved authorization (a step-up approved
  // first) for exactly this payee, amount and currency. The hold is taken out of reach of any
  // void, capture or lapse (Authorizer::BindPayment) while the service signs and records the
  // closing (which moves a ledger payment's money); once the closing is recorded the hold is
  // captured, and a void or another capture of it is refused (the hold guard App::Start
  // installs). A refused closing leaves the hold reserved; a closing that was recorded but whose
  // capture failed is answered 500, never 201.
  router_.Add("POST", "/v1/ap2/close", g.Guard(Permission::kAuthorize, [this, &ap2, &az, &idem](Request& req, const Access& a) {
    if (Status s = RequireAgent(a); !s.ok()) return ProblemResponse(s, req);
    std::string mandate, authorization, aud, nonce;
    json::Value closed;
    std::optional<mandates::ap2::ClosedPayment> cp;
    bool ap2_refused = false;
    auto validate = [&]() -> Status {
      MD_ASSIGN_OR_RETURN(json::Value body, ParseJsonBody(req));
      MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
      MD_ASSIGN_OR_RETURN(mandate, r.String("mandate"));
      MD_ASSIGN_OR_RETURN(authorization, r.String("authorization"));
      MD_ASSIGN_OR_RETURN(const json::Value* c, r.Required("closed"));
      MD_ASSIGN_OR_RETURN(aud, r.String("aud"));
      MD_ASSIGN_OR_RETURN(nonce, r.String("nonce"));
      MD_RETURN_IF_ERROR(r.Finish());
      closed = *c;
      MD_RETURN_IF_ERROR(mandates::ap2::CheckCustodialClosed(closed));
      MD_ASSIGN_OR_RETURN(cp, mandates::ap2::ParseClosedPayment(closed));
      return OkStatus();
    };
    return IdempotentValidated(idem, req, a, validate, [&](const policy::IdempotencyClaim* claim) -> Result<policy::Answer> {
      MD_ASSIGN_OR_RETURN(policy::Authorization held, az.Get(*a.tenant, authorization));
      if (held.agent_id != a.caller.agent_id) {
        return NotFoundError("no authorization " + authorization, "authorization-not-found");
      }
      if (held.decision != "allowed" || !held.reservation || held.reservation->state != "reserved") {
        return FailedPreconditionError("authorization " + held.id + " holds no live reservation",
                                       "ap2-authorization-not-reserved");
      }
      const json::Value* payee_id = cp->payee.Find("id");
      if (held.purchase.amount.ToString() != std::to_string(cp->amount) ||
          held.purchase.asset != cp->currency || payee_id == nullptr ||
          held.purchase.payee.value != payee_id->as_string()) {
        return FailedPreconditionError("the authorization is for another purchase (payee, "
                                       "amount or currency)",
                                       "ap2-authorization-mismatch");
      }
      policy::Actor actor = ActorOf(a);
      std::optional<mandates::ap2::ClosedRecord> rec;
      // BindPayment checks, under the Authorizer's lock, that the hold is still reserved (409
      // reservation-state / reservation-expired otherwise) and keeps it so while we close.
      Status bound = az.BindPayment(*a.tenant, actor, held.id, [&]() -> Status {
        Result<mandates::ap2::ClosedRecord> r = ap2.CloseCustodial(
            *a.tenant, a.caller.agent_id, mandate, closed, aud, nonce,
            mandates::ap2::SpentAuthorization{held.id, held.mandate_id});
        if (!r.ok()) {
          ap2_refused = true;  // the AP2 authority refused the mandate: a receipt says so
          return r.error();
        }
        rec = std::move(*r);
        return OkStatus();
      });
      if (!bound.ok()) return bound;
      AnnotateRequestLog("ap2_closed", rec->id);
      // The closing is recorded (and paid), with its pending mark: the spend is captured now,
      // or before the next sweep (or at start) when this fails.
      if (Status captured = CaptureClosedPayment(*a.tenant, held.id, actor); !captured.ok()) {
        ap2_capture_retry_ = true;
        log::Error("ap2 closing recorded but its capture failed; retried before the next sweep",
                   {{"request_id", req.request_id}, {"authorization", held.id},
                    {"closed", rec->id}, {"error", captured.ToString()}});
        return InternalError("closing " + rec->id + " was recorded but authorization " +
                                 held.id + " could not be captured yet (it is retried): " +
                                 captured.ToString(),
                             "ap2-capture-failed");
      }
      // Captured: a mark left behind only makes the retry find it captured and clear it.
      if (Status done = ap2.CaptureDone(*a.tenant, held.id); !done.ok()) {
        ap2_capture_retry_ = true;
        log::Warn("ap2 capture mark not cleared; cleared by the retry",
                  {{"request_id", req.request_id}, {"error", done.ToString()}});
      }
      json::Value out = mandates::ap2::ClosedRecordToJson(*rec);
      out.Set("captured", json::Value::Bool(true));
      policy::Answer answer{201, json::Write(out), rec->id, "allowed"};
      if (Status kept = claim->RecordAlone(policy::StoredAnswer{201, "application/json",
                                                                answer.body});
          !kept.ok()) {
        log::Warn("ap2 closing answer not kept for its idempotency key",
                  {{"request_id", req.request_id}, {"error", kept.ToString()}});
      }
      return answer;
    }, &ReplayAsStored, [&](Response& problem, const Status& refusal) {
      // Only the AP2 authority's refusals are refusals of the mandate: one of the authorization
      // (none, not held, another purchase) asks for a new authorization, not a new mandate.
      // Refused without returning the closing hop the service signs: the receipt references
      // the open mandate as issued (its digest), when it binds this agent (else the id only).
      if (!ap2_refused) return;
      Result<mandates::ap2::OpenMandate> open = ap2.Get(*a.tenant, mandate);
      const bool ours = open.ok() && open->agent_id == a.caller.agent_id;
      AddErrorReceipt(ap2, req, problem, refusal, mandates::ap2::Authority::ReceiptKind::kPayment,
                      ours ? open->token : mandate, cp ? cp->transaction_id : "");
    });
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
    if (!v.ok()) {
      Response problem = ProblemResponse(v.error(), req);
      AddErrorReceipt(ap2, req, problem, v.error(),
                      mandates::ap2::Authority::ReceiptKind::kCheckout, vr->checkout_chain, "");
      return problem;
    }
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
  // What a verifier without a credential checks an open mandate with (specs/ap2.md §5.5): the
  // principal's AP2 issuer keys and its AP2 Token Status Lists.
  router_.Add("GET", "/principals/{principal}/ap2-jwks.json", [this, &ap2](Request& req) {
    const std::string principal = req.Param("principal");
    if (Status s = principals_->Get(principal).status(); !s.ok()) return ProblemResponse(s, req);
    Result<json::Value> jwks = ap2.IssuerJwks(principal);
    if (!jwks.ok()) return ProblemResponse(jwks.error(), req);
    return JwkSetResponse(*jwks);
  });
  router_.Add("GET", "/v1/ap2/status-lists/{principal}/{list}", [this, &ap2](Request& req) {
    const std::string principal = req.Param("principal");
    if (Status s = principals_->Get(principal).status(); !s.ok()) return ProblemResponse(s, req);
    return StatusListResponse(req, [this, &ap2, &principal](uint64_t list) {
      return ap2.ServeStatusList(identity::Tenant(*store_, principal), list);
    });
  });
}

}  // namespace mandated::api
