// Ledger routes (specs/ledger.md §5): deposits (once per Idempotency-Key), balances, histories and
// transfers. The operator may name any account; a principal's people only their own principal's,
// its agents' and those agents' custodial addresses, and every other account answers 404.
#include <cctype>

#include "api/app.h"
#include "api/handler_util.h"
#include "api/http_server.h"
#include "base/asset.h"

namespace mandated::api {
namespace {

using identity::Permission;

constexpr char kDepositSource[] = "external:deposits";
constexpr size_t kAgentPage = 1000;

Status AccountNotFound(std::string_view account) {
  return NotFoundError("no account " + std::string(account.substr(0, 200)), "account-not-found");
}

// Whether the caller may use `account` (specs/ledger.md §6). Runs after ValidateAccountId.
// Returns OK, kNotFound "account-not-found", or a storage error from reading the agents.
Status CheckAccountVisible(identity::Directory& directory, const Access& a,
                           std::string_view account) {
  const identity::Caller& c = a.caller;
  if (c.role == identity::Role::kOperator) {
    return OkStatus();
  }
  if (!a.tenant || c.principal_id.empty()) {
    return AccountNotFound(account);
  }
  if (!c.mandate_scope.empty()) {
    // No account is a mandate's: each holds the money of every mandate of its principal or agent.
    return AccountNotFound(account);
  }
  const size_t colon = account.find(':');
  const std::string_view scheme = account.substr(0, colon);
  const std::string_view rest = account.substr(colon + 1);
  if (scheme == "principal") {
    // A credential limited to some agents sees only those agents' money.
    if (rest == c.principal_id && c.agent_scope.empty()) {
      return OkStatus();
    }
    return AccountNotFound(account);
  }
  if (scheme == "agent") {
    const std::string agent(rest);
    if (!c.InAgentScope(agent)) {
      return AccountNotFound(account);
    }
    Result<identity::Agent> got = directory.GetAgent(*a.tenant, agent);
    if (got.ok()) {
      return OkStatus();
    }
    return got.error().code() == StatusCode::kNotFound ? AccountNotFound(account) : got.error();
  }
  if (scheme == "eip155") {
    // The address of one of the principal's custodial agents (on any chain: the key holds the
    // same address on each).
    const std::string_view address = rest.substr(rest.find(':') + 1);
    std::string after;
    while (true) {
      MD_ASSIGN_OR_RETURN(std::vector<identity::Agent> agents,
                          directory.ListAgents(*a.tenant, after, kAgentPage));
      for (const identity::Agent& agent : agents) {
        if (agent.address.size() != address.size() || !c.InAgentScope(agent.id)) {
          continue;
        }
        bool same = true;
        for (size_t i = 0; i < address.size() && same; ++i) {
          same = std::tolower(static_cast<unsigned char>(agent.address[i])) == address[i];
        }
        if (same) {
          return OkStatus();
        }
      }
      if (agents.size() < kAgentPage) {
        break;
      }
      after = agents.back().id;
    }
  }
  return AccountNotFound(account);
}

// The deposit request: {"account","asset","amount","reference"?}.
struct DepositRequest {
  std::string account;
  std::string asset;
  Amount amount;
  std::string reference;
};

Result<DepositRequest> ParseDeposit(const json::Value& body) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  DepositRequest d;
  MD_ASSIGN_OR_RETURN(d.account, r.String("account"));
  MD_ASSIGN_OR_RETURN(d.asset, r.String("asset"));
  MD_ASSIGN_OR_RETURN(d.amount, r.AmountField("amount"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> reference, r.OptionalString("reference"));
  MD_RETURN_IF_ERROR(r.Finish());
  d.reference = reference.value_or("");
  MD_RETURN_IF_ERROR(settlement::ValidateAccountId(d.account).Annotate("/account"));
  if (settlement::AllowsNegative(d.account)) {
    return InvalidArgumentError("/account: deposits credit a held account, not an external one",
                                "bad-account");
  }
  MD_RETURN_IF_ERROR(ValidateAssetId(d.asset).Annotate("/asset"));
  if (d.amount.is_zero()) {
    return InvalidArgumentError("/amount: a deposit is more than 0", "bad-amount");
  }
  if (d.reference.size() > 256) {
    return InvalidArgumentError("/reference: at most 256 bytes", "bad-transfer");
  }
  for (char ch : d.reference) {
    if (ch < 0x20 || ch > 0x7e) {
      return InvalidArgumentError("/reference: printable ASCII only", "bad-transfer");
    }
  }
  return d;
}

// The tenant a transfer belongs to for the audit trail: the caller's principal, or for the
// operator the principal a principal:<id> account names; "" (service-wide) otherwise.
std::string AuditPrincipal(const Access& a, const std::string& account) {
  if (!a.caller.principal_id.empty()) {
    return a.caller.principal_id;
  }
  constexpr std::string_view kPrincipal = "principal:";
  if (account.rfind(kPrincipal, 0) == 0) {
    return account.substr(kPrincipal.size());
  }
  return "";
}

// Runs a deposit at most once per Idempotency-Key (specs/authorization.md §6): a retry gets the
// first answer byte for byte. The record of a 201 commits in the transfer's batch; 4xx answers
// that change nothing are kept alone, except the 404 refusals and transient conflicts.
Response IdempotentDeposit(store::KvStore& kv, policy::IdempotencyKeys& keys,
                           identity::Directory& directory, settlement::Ledger& ledger,
                           Request& req, const Access& a) {
  const std::string key = req.Header("Idempotency-Key");
  if (Status s = policy::ValidateIdempotencyKey(key); !s.ok()) return ProblemResponse(s, req);
  // The operator's keys are service-wide: a tenant with no principal.
  const identity::Tenant tenant = a.tenant ? *a.tenant : identity::Tenant(kv, "");
  Result<policy::IdempotencyKeys::Begin> begin = keys.Start(
      tenant, a.caller.credential_id, key, policy::RequestFingerprint(req.method, req.path, req.body));
  if (!begin.ok()) return ProblemResponse(begin.error(), req);
  if (begin->replay) {
    Response r;
    r.status = begin->replay->status;
    r.content_type = begin->replay->content_type;
    r.body = begin->replay->body;
    r.headers.emplace_back("Idempotent-Replayed", "true");
    return r;
  }
  const policy::IdempotencyClaim& claim = *begin->claim;
  std::string answer;
  auto run = [&]() -> Status {
    MD_ASSIGN_OR_RETURN(json::Value body, ParseJsonBody(req));
    MD_ASSIGN_OR_RETURN(DepositRequest d, ParseDeposit(body));
    MD_RETURN_IF_ERROR(CheckAccountVisible(directory, a, d.account));
    settlement::Transfer t;
    t.principal = AuditPrincipal(a, d.account);
    // Each principal's deposits come from its own outside account: one shared by every tenant
    // would sum them all, and one tenant depositing 2^128-1 would leave no room for the others'
    // (specs/ledger.md §1).
    // (An operator's deposit to an account named like no principal of ours, whose id would make
    // the name longer than an account's 128, comes from the shared one, as before.)
    const std::string own = std::string(kDepositSource) + "." + t.principal;
    t.debit = t.principal.empty() || own.size() > std::string_view("external:").size() + 128
                  ? std::string(kDepositSource)
                  : own;
    t.credit = d.account;
    t.asset = d.asset;
    t.amount = d.amount;
    t.kind = "deposit";
    t.reference = d.reference;
    Result<std::vector<settlement::Transfer>> applied = ledger.Apply(
        {t}, store::WriteBatch(),
        [&](const std::vector<settlement::Transfer>& ts,
            const std::vector<settlement::Balance>& after, store::WriteBatch& batch) {
          json::Value v = json::Value::Object();
          v.Set("transfer", settlement::TransferToJson(ts[0]));
          for (const settlement::Balance& b : after) {
            if (b.account == ts[0].credit) v.Set("balance", settlement::BalanceToJson(b));
          }
          answer = json::Write(v);
          claim.Record(batch, policy::StoredAnswer{201, "application/json", answer});
        });
    if (!applied.ok()) return applied.error();
    AnnotateRequestLog("transfer", (*applied)[0].id);
    return OkStatus();
  };
  Status s = run();
  if (s.ok()) return Response::Json(201, std::move(answer));
  Response problem = ProblemResponse(s, req);
  if (problem.status >= 400 && problem.status < 500 && problem.status != 403 &&
      problem.status != 404 && s.code() != StatusCode::kAborted) {
    Status kept = claim.RecordAlone(
        policy::StoredAnswer{problem.status, problem.content_type, problem.body});
    if (!kept.ok()) return ProblemResponse(kept, req);
  }
  return problem;
}

}  // namespace

void App::RegisterLedgerRoutes() {
  const AccessGuard& g = *guard_;
  settlement::Ledger& ledger = *ledger_;
  policy::IdempotencyKeys& idem = *idempotency_;
  identity::Directory& dir = *directory_;
  store::KvStore& kv = *store_;

  router_.Add("POST", "/v1/ledger/deposits", g.Guard(Permission::kManageLedger, [&](Request& req, const Access& a) {
    return IdempotentDeposit(kv, idem, dir, ledger, req, a);
  }));

  // An unknown or invisible account answers 404 before its format is judged for callers who may
  // not see it, so a probe learns nothing; the operator gets 400 bad-account.
  auto visible = [&dir](const Access& a, const std::string& account) -> Status {
    if (Status s = settlement::ValidateAccountId(account); !s.ok()) {
      return a.caller.role == identity::Role::kOperator ? s : AccountNotFound(account);
    }
    return CheckAccountVisible(dir, a, account);
  };

  router_.Add("GET", "/v1/ledger/accounts/{account}", g.Guard(Permission::kReadLedger, [&ledger, visible](Request& req, const Access& a) {
    const std::string account = req.Param("account");
    if (Status s = visible(a, account); !s.ok()) return ProblemResponse(s, req);
    Result<std::vector<settlement::Balance>> balances = ledger.Balances(account);
    if (!balances.ok()) return ProblemResponse(balances.error(), req);
    json::Value items = json::Value::Array();
    for (const settlement::Balance& b : *balances) items.Append(settlement::BalanceToJson(b));
    json::Value v = json::Value::Object();
    v.Set("account", json::Value::String(account));
    v.Set("balances", std::move(items));
    return JsonResponse(200, v);
  }));

  router_.Add("GET", "/v1/ledger/accounts/{account}/transfers", g.Guard(Permission::kReadLedger, [&ledger, visible](Request& req, const Access& a) {
    const std::string account = req.Param("account");
    if (Status s = visible(a, account); !s.ok()) return ProblemResponse(s, req);
    const std::string asset = req.Query("asset");
    if (Status s = ValidateAssetId(asset); !s.ok()) {
      return ProblemResponse(s.Annotate("?asset="), req);
    }
    Result<Page> page = ParsePage(req);
    if (!page.ok()) return ProblemResponse(page.error(), req);
    Result<std::vector<settlement::Transfer>> list =
        ledger.History(account, asset, page->after, page->limit);
    if (!list.ok()) return ProblemResponse(list.error(), req);
    json::Value items = json::Value::Array();
    for (const settlement::Transfer& t : *list) items.Append(settlement::TransferToJson(t));
    return ListResponse(std::move(items), list->size() == page->limit,
                        list->empty() ? "" : list->back().id);
  }));

  router_.Add("GET", "/v1/ledger/transfers/{transfer}", g.Guard(Permission::kReadLedger, [&ledger, &dir](Request& req, const Access& a) {
    const std::string id = req.Param("transfer");
    Result<settlement::Transfer> t = ledger.GetTransfer(id);
    if (t.ok() && !CheckAccountVisible(dir, a, t->debit).ok() &&
        !CheckAccountVisible(dir, a, t->credit).ok()) {
      t = NotFoundError("no transfer " + id, "transfer-not-found");
    }
    return Answer(t, req, 200, settlement::TransferToJson);
  }));
}

}  // namespace mandated::api
