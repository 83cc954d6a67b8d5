// Access over HTTP: every route refuses every wrong caller as specified, writes nothing and
// leaks no token (issue: access, must-shows 1-2; specs/access.md).
#include <gtest/gtest.h>
#include <httplib.h>

#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/app.h"
#include "audit/event.h"
#include "api/config.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/log.h"
#include "base/random.h"
#include "base/secret.h"
#include "identity/access.h"
#include "identity/directory.h"
#include "identity/operator_auth.h"
#include "identity/principals.h"
#include "identity/tenant.h"
#include "mandates/credential.h"
#include "settlement/facilitator.h"
#include "settlement/ledger.h"
#include "settlement/usage.h"
#include "signer/did.h"
#include "signer/hash.h"
#include "signer/key_store.h"
#include "signer/signature.h"
#include "tests/support/http_json.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::StringField;
using testing::ResponseJson;

using identity::Permission;
using identity::Role;

constexpr char kBootstrapToken[] = "access-test-operator-token-7c1f0a9e42";
// A principal id of the right shape that no principal has.
constexpr char kNoSuchPrincipal[] = "prn_aaaaaaaaaaaaaaaaaaaaaaaaaa";
// The terms of every mandate the test issues (a delegation repeats them: no widening).
constexpr char kMandateTerms[] = R"({"limits":{"per_transaction":[{"asset":"USD","max":"1000"}]}})";
// The same with a step-up above 500: a purchase of 600 waits for a person (specs/mandate.md §3.3).
constexpr char kStepUpTerms[] =
    R"({"limits":{"per_transaction":[{"asset":"USD","max":"1000"}]},)"
    R"("step_up":{"above":[{"asset":"USD","amount":"500"}]}})";
// Base Sepolia USDC, as the payer's mandate and the 402 answer name it (specs/x402.md §2).
constexpr char kPayTo[] = "0x209693bc6afc0c5328ba36faf03c514ef312287c";
constexpr char kSepoliaUsdc[] = "eip155:84532/erc20:0x036cbd53842c5426634e7929541ec2318f3dcf7e";
// The terms of the custodial agent's mandate: USDC to kPayTo on Base Sepolia, 50000 a payment.
const std::string& PayTerms() {
  static const auto* const kTerms = new std::string(
      std::string(R"({"scope":{"payees":{"allow":[{"type":"address","value":")") + kPayTo +
      R"("}]},"assets":{"allow":[")" + kSepoliaUsdc +
      R"("]},"networks":{"allow":["eip155:84532"]}},"limits":{"per_transaction":[{"asset":")" +
      kSepoliaUsdc + R"(","max":"50000"}]}})");
  return *kTerms;
}
// A v2 402 answer asking 12000 of that USDC for kPayTo: inside PayTerms.
const std::string& PaymentRequired() {
  static const auto* const kRequired = new std::string(
      std::string(R"({"x402Version":2,"error":"Payment required","resource":)") +
      R"({"url":"https://api.shop.example/premium","description":"premium",)" +
      R"("mimeType":"application/json"},"accepts":[{"scheme":"exact","network":"eip155:84532",)" +
      R"("amount":"12000","asset":"0x036cbd53842c5426634e7929541ec2318f3dcf7e","payTo":")" +
      kPayTo + R"(","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}}]})");
  return *kRequired;
}
// One usage event of A's agent X; "{fresh-event}" becomes a new id on every call, so that each
// allowed report counts an event (a duplicate writes nothing).
constexpr char kUsageBatch[] =
    R"({"events":[{"id":"{fresh-event}","agent":"{a-agent}","payee":"api.shop.example",)"
    R"("asset":"USD","amount":"25","resource":"/v1/table"}]})";

// Every column family the service opens (api/app.cc), for storage snapshots; but the audit
// family, which the service's own sequencer moves in the background at any moment (staged events
// become leaves): a refused call that staged an event would show in its other family anyway.
const std::vector<std::string>& Families() {
  static const auto* const kFamilies = new std::vector<std::string>{
      identity::kPrincipalsFamily, identity::kOperatorFamily, signer::kKeysFamily,
      identity::kTenantsFamily,    identity::kIdentityIndexFamily, settlement::kLedgerFamily,
      settlement::kX402Family,     settlement::kUsageFamily};
  return *kFamilies;
}

// specs/access.md §Roles, copied by hand: the test does not trust identity::RoleAllows.
const std::map<Permission, std::set<Role>>& SpecRoleTable() {
  static const auto* const kTable = new std::map<Permission, std::set<Role>>{
      {Permission::kManagePrincipals, {Role::kOperator}},
      {Permission::kManageServiceKeys, {Role::kOperator}},
      {Permission::kManageBackups, {Role::kOperator}},
      {Permission::kReadPrincipal,
       {Role::kOperator, Role::kAdmin, Role::kApprover, Role::kAuditor, Role::kMerchant}},
      {Permission::kReadUsers, {Role::kOperator, Role::kAdmin, Role::kAuditor}},
      {Permission::kManageUsers, {Role::kOperator, Role::kAdmin}},
      {Permission::kReadCredentials, {Role::kOperator, Role::kAdmin, Role::kAuditor}},
      {Permission::kManageCredentials, {Role::kOperator, Role::kAdmin}},
      {Permission::kReadAgents, {Role::kOperator, Role::kAdmin, Role::kApprover, Role::kAuditor}},
      {Permission::kManageAgents, {Role::kOperator, Role::kAdmin}},
      {Permission::kReadSessions, {Role::kOperator, Role::kAdmin, Role::kApprover, Role::kAuditor}},
      {Permission::kManageSessions, {Role::kOperator, Role::kAdmin}},
      {Permission::kReadKeys, {Role::kOperator, Role::kAdmin, Role::kAuditor}},
      {Permission::kManageKeys, {Role::kOperator, Role::kAdmin}},
      {Permission::kOwnSession, {Role::kAgent}},
      {Permission::kReadMandates, {Role::kOperator, Role::kAdmin, Role::kApprover, Role::kAuditor}},
      {Permission::kIssueMandates, {Role::kOperator, Role::kAdmin, Role::kAgent}},
      {Permission::kManageMandates, {Role::kOperator, Role::kAdmin}},
      {Permission::kVerifyMandates,
       {Role::kOperator, Role::kAdmin, Role::kApprover, Role::kAuditor, Role::kMerchant,
        Role::kAgent}},
      {Permission::kUseMandates, {Role::kOperator, Role::kAdmin, Role::kMerchant}},
      // specs/authorization.md §4, §7, §8: only agents ask, and capture or void their own; the
      // principal's admins capture or void any; approvers decide; auditors only read.
      {Permission::kAuthorize, {Role::kAgent}},
      {Permission::kReadAuthorizations,
       {Role::kOperator, Role::kAdmin, Role::kApprover, Role::kAuditor}},
      {Permission::kManageAuthorizations, {Role::kOperator, Role::kAdmin}},
      {Permission::kReadApprovals, {Role::kOperator, Role::kAdmin, Role::kApprover, Role::kAuditor}},
      {Permission::kDecideApprovals, {Role::kOperator, Role::kAdmin, Role::kApprover}},
      // specs/audit.md §4: auditors only (and the operator); admins do not read the trail.
      {Permission::kReadAudit, {Role::kOperator, Role::kAuditor}},
      // specs/access.md §x402, §Ledger, §Usage: merchants settle and report, only agents pay,
      // auditors read the ledger and usage; only admins (and the operator) deposit.
      {Permission::kFacilitate, {Role::kOperator, Role::kAdmin, Role::kMerchant}},
      {Permission::kPay, {Role::kAgent}},
      {Permission::kReadLedger, {Role::kOperator, Role::kAdmin, Role::kAuditor}},
      {Permission::kManageLedger, {Role::kOperator, Role::kAdmin}},
      {Permission::kReportUsage, {Role::kOperator, Role::kAdmin, Role::kMerchant}},
      {Permission::kReadUsage, {Role::kOperator, Role::kAdmin, Role::kAuditor}},
  };
  return *kTable;
}

bool SpecAllows(Role role, Permission p) { return SpecRoleTable().at(p).count(role) > 0; }

constexpr Role kAllRoles[] = {Role::kOperator, Role::kAdmin,    Role::kApprover,
                              Role::kAuditor,  Role::kMerchant, Role::kAgent};
constexpr Role kPrincipalRoles[] = {Role::kAdmin, Role::kApprover, Role::kAuditor, Role::kMerchant};

// One row per guarded route. `path` is the registered pattern; its {placeholders} are filled
// with the ids of principal A (or, for the allowed call of a mutating route, of A's victims).
// A body of a mutating route is valid, so only the guard can refuse it; "{fresh-did}" becomes a
// new did:key on every call, "{fresh-event}" a new usage event id, and the fixture fills
// "{a-agent}", "{a-mandate}" (a mandate of A's agent), "{a-mandate-token}" (its JWS),
// "{a-account}" (A's prepaid ledger account), "{a-pay-mandate}" (a mandate of A's custodial
// agent), "{x402-request}" (the reference facilitator's /verify body of a vector),
// "{valid-from}" and "{valid-until}" (see Body()).
struct RouteRow {
  std::string method;
  std::string path;
  Permission permission;
  std::string body;
  int ok_status;  // what the allowed call answers
  std::string query = "";  // appended to the filled path, its {placeholders} filled the same way
  // A path, query or body that names no principal but one of A's records (an agent's own
  // routes, a ledger account, a usage event's agent): B's callers allowed the route find
  // nothing, 404 with this problem type. Empty: B's callers are answered for their own
  // principal.
  std::string foreign_slug = "";
  // The route needs a principal the operator (who has none) does not name: 400 with this type.
  std::string no_principal_slug = "";
  // A POST that moves money: every call carries an Idempotency-Key (specs/authorization.md §6).
  bool idempotent = false;
  // The allowed call writes outside the audit family. The facilitator's allowed calls do not:
  // the vector's payer holds nothing on the ledger, so verify and settle answer 200 with
  // isValid / success false and write nothing (specs/access.md §x402).
  bool writes = true;
};

const std::vector<RouteRow>& RouteTable() {
  static const auto* const kRows = new std::vector<RouteRow>{
      {"POST", "/v1/principals", Permission::kManagePrincipals, R"({"name":"Table Corp"})", 201},
      {"GET", "/v1/principals", Permission::kManagePrincipals, "", 200},
      {"GET", "/v1/principals/{principal}", Permission::kReadPrincipal, "", 200},

      {"POST", "/v1/keys", Permission::kManageServiceKeys,
       R"({"type":"Ed25519","purpose":"issuer"})", 201},
      {"GET", "/v1/keys", Permission::kManageServiceKeys, "", 200},
      // A backup writes the store's copy beside it and only an audit event into it.
      {"POST", "/v1/backups", Permission::kManageBackups, "", 201, "", "", "", false, false},
      {"GET", "/v1/backups", Permission::kManageBackups, "", 200},
      {"GET", "/v1/keys/{key}", Permission::kManageServiceKeys, "", 200},
      {"POST", "/v1/keys/{key}/rotate", Permission::kManageServiceKeys, "", 200},
      {"POST", "/v1/keys/{key}/disable", Permission::kManageServiceKeys, "", 200},

      {"POST", "/v1/principals/{principal}/keys", Permission::kManageKeys,
       R"({"type":"Ed25519","purpose":"issuer"})", 201},
      {"GET", "/v1/principals/{principal}/keys", Permission::kReadKeys, "", 200},
      {"GET", "/v1/principals/{principal}/keys/{key}", Permission::kReadKeys, "", 200},
      {"POST", "/v1/principals/{principal}/keys/{key}/rotate", Permission::kManageKeys, "", 200},
      {"POST", "/v1/principals/{principal}/keys/{key}/disable", Permission::kManageKeys, "", 200},

      {"POST", "/v1/principals/{principal}/users", Permission::kManageUsers,
       R"({"name":"table user","roles":["auditor"]})", 201},
      {"GET", "/v1/principals/{principal}/users", Permission::kReadUsers, "", 200},
      {"GET", "/v1/principals/{principal}/users/{user}", Permission::kReadUsers, "", 200},
      {"POST", "/v1/principals/{principal}/users/{user}/disable", Permission::kManageUsers, "",
       200},

      {"POST", "/v1/principals/{principal}/credentials", Permission::kManageCredentials,
       R"({"role":"auditor","name":"table credential"})", 201},
      {"GET", "/v1/principals/{principal}/credentials", Permission::kReadCredentials, "", 200},
      {"GET", "/v1/principals/{principal}/credentials/{credential}", Permission::kReadCredentials,
       "", 200},
      {"POST", "/v1/principals/{principal}/credentials/{credential}/revoke",
       Permission::kManageCredentials, "", 200},

      {"POST", "/v1/principals/{principal}/agents", Permission::kManageAgents,
       R"({"name":"table agent","did":"{fresh-did}"})", 201},
      {"GET", "/v1/principals/{principal}/agents", Permission::kReadAgents, "", 200},
      {"GET", "/v1/principals/{principal}/agents/{agent}", Permission::kReadAgents, "", 200},
      {"POST", "/v1/principals/{principal}/agents/{agent}/sessions", Permission::kManageSessions,
       R"({"task":"table session"})", 201},
      {"POST", "/v1/principals/{principal}/agents/{agent}/suspend", Permission::kManageAgents, "",
       200},
      {"POST", "/v1/principals/{principal}/agents/{agent}/resume", Permission::kManageAgents, "",
       200},
      {"POST", "/v1/principals/{principal}/agents/{agent}/revoke", Permission::kManageAgents, "",
       200},

      {"GET", "/v1/principals/{principal}/sessions", Permission::kReadSessions, "", 200},
      {"GET", "/v1/principals/{principal}/sessions/{session}", Permission::kReadSessions, "", 200},
      {"POST", "/v1/principals/{principal}/sessions/{session}/revoke", Permission::kManageSessions,
       "", 200},

      {"GET", "/v1/session", Permission::kOwnSession, "", 200},
      {"DELETE", "/v1/session", Permission::kOwnSession, "", 200},

      // A delegation from A's mandate, which A's agent holds: valid for every role allowed to
      // issue, the agent included (an agent only delegates, specs/access.md §Mandates).
      {"POST", "/v1/principals/{principal}/mandates", Permission::kIssueMandates,
       R"({"agent":"{a-agent}","parent":"{a-mandate}","valid_from":"{valid-from}",)"
       R"("valid_until":"{valid-until}","terms":)" + std::string(kMandateTerms) + "}",
       201},
      {"GET", "/v1/principals/{principal}/mandates", Permission::kReadMandates, "", 200},
      {"GET", "/v1/principals/{principal}/mandates/{mandate}", Permission::kReadMandates, "",
       200},
      {"POST", "/v1/principals/{principal}/mandates/{mandate}/suspend",
       Permission::kManageMandates, "", 200},
      {"POST", "/v1/principals/{principal}/mandates/{mandate}/resume",
       Permission::kManageMandates, "", 200},
      {"POST", "/v1/principals/{principal}/mandates/{mandate}/revoke",
       Permission::kManageMandates, "", 200},
      // With a use, so that the allowed call writes (a plain verification writes nothing); a
      // use also needs mandates:use, which every caller the table admits here holds.
      {"POST", "/v1/mandates/verify", Permission::kVerifyMandates,
       R"({"mandate":"{a-mandate-token}","use":{"key":"access-table"}})", 200},

      // Authorizations (specs/authorization.md). The agent's own routes name no principal: a
      // session of B finds none of A's authorizations or mandates. The allowed mutating calls
      // act on victims of their own ({authorization}, {approval} per route; see BuildExtras).
      {"POST", "/v1/authorizations", Permission::kAuthorize,
       R"({"mandate":"{a-mandate}","payee":{"type":"domain","value":"api.shop.example"},)"
       R"("amount":"100","asset":"USD"})",
       201, "", "", "", true},
      {"GET", "/v1/authorizations/{authorization}", Permission::kAuthorize, "", 200, "",
       "authorization-not-found"},
      {"POST", "/v1/authorizations/{authorization}/capture", Permission::kAuthorize,
       R"({"amount":"60"})", 200, "", "authorization-not-found", "", true},
      {"POST", "/v1/authorizations/{authorization}/void", Permission::kAuthorize, "", 200, "",
       "authorization-not-found", "", true},
      {"GET", "/v1/headroom", Permission::kAuthorize, "", 200, "?mandate={mandate}",
       "mandate-not-found"},
      {"GET", "/v1/principals/{principal}/authorizations", Permission::kReadAuthorizations, "",
       200},
      {"GET", "/v1/principals/{principal}/authorizations/{authorization}",
       Permission::kReadAuthorizations, "", 200},
      {"POST", "/v1/principals/{principal}/authorizations/{authorization}/capture",
       Permission::kManageAuthorizations, "", 200, "", "", "", true},
      {"POST", "/v1/principals/{principal}/authorizations/{authorization}/void",
       Permission::kManageAuthorizations, "", 200, "", "", "", true},
      {"GET", "/v1/principals/{principal}/mandates/{mandate}/headroom",
       Permission::kReadAuthorizations, "", 200},
      {"GET", "/v1/principals/{principal}/agents/{agent}/headroom",
       Permission::kReadAuthorizations, "", 200},
      {"GET", "/v1/principals/{principal}/approvals", Permission::kReadApprovals, "", 200,
       "?state=pending"},
      // A credential's own principal; B's people see B's approvals.
      {"GET", "/v1/approvals", Permission::kReadApprovals, "", 200, "", "", "principal-required"},
      {"GET", "/v1/principals/{principal}/approvals/{approval}", Permission::kReadApprovals, "",
       200},
      {"POST", "/v1/principals/{principal}/approvals/{approval}/approve",
       Permission::kDecideApprovals, R"({"note":"access table"})", 200, "", "", "", true},
      {"POST", "/v1/principals/{principal}/approvals/{approval}/deny",
       Permission::kDecideApprovals, "", 200, "", "", "", true},

      // The audit trail (specs/audit.md §4). Checkpoints, proofs and the key are the same for
      // every auditor; events and trails only of their own principal.
      {"GET", "/v1/audit/key", Permission::kReadAudit, "", 200},
      {"GET", "/v1/audit/checkpoint", Permission::kReadAudit, "", 200},
      {"POST", "/v1/audit/checkpoints", Permission::kReadAudit, "", 201},
      {"GET", "/v1/audit/checkpoints/{size}", Permission::kReadAudit, "", 200},
      {"GET", "/v1/audit/events/{seq}", Permission::kReadAudit, "", 200, "",
       "audit-event-not-found"},
      {"GET", "/v1/audit/proofs/inclusion", Permission::kReadAudit, "", 200, "?seq=0&size=1"},
      {"GET", "/v1/audit/proofs/consistency", Permission::kReadAudit, "", 200, "?from=1&to=2"},
      {"GET", "/v1/audit/trail", Permission::kReadAudit, "", 200, "?principal={principal}",
       "principal-not-found"},
      {"GET", "/v1/audit/export", Permission::kReadAudit, "", 200, "?principal={principal}",
       "principal-not-found"},

      // AP2 (specs/ap2.md §9). Open mandates bind a P-256 agent ({a-ap2-agent}). Agent X's
      // admitted closings are answered by the handler: a malformed chain (400, kept under its
      // Idempotency-Key like any 4xx answer) and a closed mandate without its claims (400
      // before the key is taken: nothing written); the merchant-side verification writes
      // nothing either, and the operator names no principal there.
      {"POST", "/v1/principals/{principal}/ap2/mandates", Permission::kIssueMandates,
       R"({"agent":"{a-ap2-agent}","kind":"checkout","constraints":[{"type":"checkout.line_items",)"
       R"("items":[{"id":"r","acceptable_items":[{"id":"s","title":"T"}],"quantity":1}]}]})",
       201},
      {"GET", "/v1/principals/{principal}/ap2/mandates/{ap2_mandate}", Permission::kReadMandates,
       "", 200},
      {"GET", "/v1/principals/{principal}/ap2/mandates", Permission::kReadMandates, "", 200},
      {"GET", "/v1/principals/{principal}/ap2/mandates/{ap2_mandate}/closings",
       Permission::kReadMandates, "", 200},
      // The admitted call revokes the table's checkout mandate; nothing after closes it.
      {"POST", "/v1/principals/{principal}/ap2/mandates/{ap2_mandate}/revoke",
       Permission::kManageMandates, "", 200},
      {"POST", "/v1/ap2/challenges", Permission::kAuthorize, "", 201},
      {"POST", "/v1/ap2/present", Permission::kAuthorize, R"({"chain":"not-a-jwt~"})", 400, "",
       "", "", true},
      {"POST", "/v1/ap2/close", Permission::kAuthorize,
       R"({"mandate":"{a-ap2-mandate}","authorization":"atz_none","closed":{},)"
       R"("aud":"did:web:shop.example","nonce":"n"})",
       400, "", "", "", true, false},
      {"POST", "/v1/ap2/verify", Permission::kUseMandates,
       R"({"checkout_chain":"not-a-jwt~","checkout_jwt":"x","merchant_jwk":{},"aud":"a","nonce":"n"})",
       400, "", "", "principal-required", false, false},

      // x402 (specs/access.md §x402). The facilitator names no principal and acts on the
      // payment in its body: B's callers allowed it are answered like A's.
      {"POST", "/x402/verify", Permission::kFacilitate, "{x402-request}", 200, "", "", "", false,
       false},
      {"POST", "/x402/settle", Permission::kFacilitate, "{x402-request}", 200, "", "", "", false,
       false},
      // A's custodial agent pays under its mandate; B's agent finds no such mandate.
      {"POST", "/v1/x402/pay", Permission::kPay,
       R"({"mandate_id":"{a-pay-mandate}","payment_required":)" + PaymentRequired() + "}", 201,
       "", "mandate-not-found", "", true},

      // The ledger (specs/access.md §Ledger): A's accounts and transfers do not exist for B.
      {"POST", "/v1/ledger/deposits", Permission::kManageLedger,
       R"({"account":"{a-account}","asset":"USD","amount":"100","reference":"access table"})",
       201, "", "account-not-found", "", true},
      {"GET", "/v1/ledger/accounts/{account}", Permission::kReadLedger, "", 200, "",
       "account-not-found"},
      {"GET", "/v1/ledger/accounts/{account}/transfers", Permission::kReadLedger, "", 200,
       "?asset=USD", "account-not-found"},
      {"GET", "/v1/ledger/transfers/{transfer}", Permission::kReadLedger, "", 200, "",
       "transfer-not-found"},

      // Usage (specs/access.md §Usage): the caller's own principal, or the operator's twins.
      // B's people see B's aggregates; A's agent, named in a batch or a query, is not theirs.
      {"POST", "/v1/usage", Permission::kReportUsage, kUsageBatch, 200, "", "agent-not-found",
       "principal-required"},
      {"GET", "/v1/usage", Permission::kReadUsage, "", 200, "?group_by=agent&window=day", "",
       "principal-required"},
      {"GET", "/v1/usage/budgets", Permission::kReadUsage, "", 200, "?agent={agent}",
       "agent-not-found", "principal-required"},
      {"POST", "/v1/principals/{principal}/usage", Permission::kReportUsage, kUsageBatch, 200},
      {"GET", "/v1/principals/{principal}/usage", Permission::kReadUsage, "", 200,
       "?group_by=agent,mandate"},
      {"GET", "/v1/principals/{principal}/usage/budgets", Permission::kReadUsage, "", 200,
       "?mandate={mandate}&trailing_minutes=30"},
  };
  return *kRows;
}

// The routes specs/api.md §Authentication leaves open.
const std::set<std::pair<std::string, std::string>>& PublicRoutes() {
  static const auto* const kPublic = new std::set<std::pair<std::string, std::string>>{
      {"GET", "/healthz"},
      {"GET", "/readyz"},
      {"GET", "/metrics"},
      {"GET", "/.well-known/did.json"},
      {"GET", "/.well-known/jwks.json"},
      {"POST", "/v1/sessions"},
      {"GET", "/v1/status-lists/{principal}/{list}"},
      {"GET", "/principals/{principal}/did.json"},
      {"GET", "/principals/{principal}/jwks.json"},
      {"GET", "/x402/supported"},
      {"GET", "/.well-known/ap2-jwks.json"},
      {"GET", "/principals/{principal}/ap2-jwks.json"},
      {"GET", "/v1/ap2/status-lists/{principal}/{list}"},
  };
  return *kPublic;
}

bool NamesPrincipal(const std::string& path) {
  return path.find("{principal}") != std::string::npos;
}

std::string NewAgentDid(signer::KeyType type = signer::KeyType::kEd25519) {
  Result<signer::PrivateKey> key = signer::GenerateKey(type, SystemRandom::Get());
  EXPECT_TRUE(key.ok());
  if (!key.ok()) {
    return "";
  }
  Result<signer::PublicKey> pub = signer::DerivePublicKey(*key);
  EXPECT_TRUE(pub.ok());
  return pub.ok() ? signer::DidKeyFromPublicKey(*pub) : "";
}

// A usage event id no call has used.
std::string NewUsageEventId() {
  uint8_t raw[12];
  EXPECT_TRUE(SystemRandom::Get().Fill(raw).ok());
  return "access-" + HexEncode(raw);
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// The part of a "crd_..."/"ses_..." token after the dot.
std::string SecretPart(const std::string& token) {
  const size_t dot = token.find('.');
  return dot == std::string::npos ? token : token.substr(dot + 1);
}

using Snapshot = std::map<std::string, std::string>;

// A short description of how two snapshots differ (the first few keys).
std::string Diff(const Snapshot& before, const Snapshot& after) {
  std::string out;
  int shown = 0;
  for (const auto& [k, v] : after) {
    auto it = before.find(k);
    if (it == before.end() || it->second != v) {
      out +=
          (it == before.end() ? " added " : " changed ") + ReplaceAll(k, std::string(1, '\0'), ":");
      if (++shown == 5) {
        return out;
      }
    }
  }
  for (const auto& [k, v] : before) {
    if (after.count(k) == 0) {
      out += " removed " + ReplaceAll(k, std::string(1, '\0'), ":");
      if (++shown == 5) {
        return out;
      }
    }
  }
  return out;
}

// A caller of the table: a label, the token it sends and whom it belongs to.
struct Caller {
  std::string label;
  std::string token;
  std::string principal;  // "A", "B" or "" (the operator)
  Role role = Role::kOperator;
};

// The ids and tokens of one principal built by the fixture.
struct PrincipalSetup {
  std::string id;
  std::map<Role, std::string> user;        // one user per principal role
  std::map<Role, std::string> token;       // one credential per principal role (and the agent)
  std::map<Role, std::string> credential;  // the credential ids
  std::string agent;                       // self-custody did:key agent
  std::string session;                     // a session of `agent`, opened by the admin
  std::string key;                         // a principal key (purpose issuer)
  std::string mandate;                     // a root mandate of `agent`, issued by the admin
  std::string mandate_token;               // its JWS (not a secret)
  std::string step_up_mandate;             // a root mandate of `agent` with a step-up above 500
  std::string authorization;               // `agent`'s allowed authorization under `mandate`
  std::string approval;                    // a pending approval under `step_up_mandate`
};

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetMinLevel(log::Level::kDebug);
    log::SetSinkForTest([this](std::string_view line) {
      std::lock_guard<std::mutex> lock(log_mu_);
      logs_.emplace_back(line);
    });
    api::ServerConfig config;
    config.data_dir = dir_.Sub("data");
    config.backup_dir = dir_.Sub("backups");
    config.listen_host = "127.0.0.1";
    config.listen_port = 0;
    config.worker_threads = 4;
    // Throttling has its own tests; here it must not turn a refusal into a 429.
    for (Role r : kAllRoles) {
      config.rate_limits[std::string(identity::RoleName(r))] =
          identity::RateLimit{1000000, 1000000};
    }
    api::App::Secrets secrets;
    secrets.bootstrap_token = SecretBytes(AsBytes(std::string_view(kBootstrapToken)));
    Result<std::unique_ptr<api::App>> app = api::App::Start(config, std::move(secrets));
    ASSERT_TRUE(app.ok()) << app.error().ToString();
    app_ = std::move(*app);
    server_ = std::thread([this] { run_status_ = app_->Run(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", app_->port());
    client_->set_keep_alive(true);
    client_->set_tcp_nodelay(true);  // headers and body go out in separate writes
    client_->set_read_timeout(10, 0);
    tokens_.push_back(kBootstrapToken);
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    valid_from_ = mandates::FormatRfc3339Utc(now);
    valid_until_ = mandates::FormatRfc3339Utc(now + 86400);
    // The reference facilitator's /verify body of the vector that verifies on the real clock
    // (but for the payer's balance, which the ledger does not hold).
    Result<json::Value> vector = json::Parse(testing::ReadFileOrDie(testing::SourcePath(
        "tests/vectors/x402/vector_v2_avalanche_usdc_250000_longlived.json")));
    ASSERT_TRUE(vector.ok()) << vector.error().ToString();
    const json::Value* requests = vector->Find("facilitatorRequests");
    ASSERT_NE(requests, nullptr);
    ASSERT_NE(requests->Find("POST /verify"), nullptr);
    x402_request_ = json::Write(*requests->Find("POST /verify"));

    Populate(a_, "Principal A");
    Populate(b_, "Principal B");
    ASSERT_FALSE(HasFailure()) << "setup failed";
    BuildExtras();
    ASSERT_FALSE(HasFailure()) << "setup failed";
  }

  void TearDown() override {
    StopApp();
    log::SetSinkForTest(nullptr);
    log::SetMinLevel(log::Level::kInfo);
  }

  void StopApp() {
    if (app_ == nullptr) {
      return;
    }
    client_.reset();
    app_->Stop();
    server_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_.ToString();
    app_.reset();  // closes the store
  }

  static httplib::Headers Bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }

  httplib::Result Send(const std::string& method, const std::string& path,
                       const httplib::Headers& headers, const std::string& body) {
    if (method == "GET") {
      return client_->Get(path, headers);
    }
    if (method == "HEAD") {
      return client_->Head(path, headers);
    }
    if (method == "DELETE") {
      return client_->Delete(path, headers);
    }
    EXPECT_EQ(method, "POST");
    return client_->Post(path, headers, body, "application/json");
  }

  // POSTs `body` as `token` and expects 201; remembers a returned token.
  json::Value Create(const std::string& path, const std::string& token, const std::string& body) {
    httplib::Result r = client_->Post(path, Bearer(token), body, "application/json");
    if (!r || r->status != 201) {
      ADD_FAILURE() << "POST " << path << " " << body << " -> "
                    << (r ? std::to_string(r->status) + " " + r->body : "no response");
      return json::Value::Object();
    }
    json::Value v = ResponseJson(r);
    RememberToken(v);
    return v;
  }

  // Remembers the credential or session token a response carries (a mandate's "token" is its
  // JWS, public by design).
  void RememberToken(const json::Value& v) {
    const std::string t = StringField(v, "token");
    if (t.rfind("crd_", 0) == 0 || t.rfind("ses_", 0) == 0) {
      tokens_.push_back(t);
    }
  }

  // The body issuing a mandate of `agent` (a delegation from `parent` unless it is empty), valid
  // from the fixture's start for a day.
  std::string MandateBody(const std::string& agent, const std::string& parent,
                          const std::string& terms = kMandateTerms) const {
    std::string body = R"({"agent":")" + agent + "\"";
    if (!parent.empty()) {
      body += R"(,"parent":")" + parent + "\"";
    }
    return body + R"(,"valid_from":")" + valid_from_ + R"(","valid_until":")" + valid_until_ +
           R"(","terms":)" + terms + "}";
  }

  // A fresh Idempotency-Key, so that no admitted call is answered as a replay of another.
  std::string NewIdempotencyKey() { return "access-" + std::to_string(++idempotency_keys_); }

  // t's agent (its fixture session) asks to pay `amount` USD under `mandate`; expects 201 with
  // `decision` and returns the authorization.
  json::Value AuthorizeAs(const PrincipalSetup& t, const std::string& mandate,
                          const std::string& amount, const std::string& decision) {
    httplib::Headers headers = Bearer(t.token.at(Role::kAgent));
    headers.emplace("Idempotency-Key", NewIdempotencyKey());
    httplib::Result r = client_->Post(
        "/v1/authorizations", headers,
        R"({"mandate":")" + mandate +
            R"(","payee":{"type":"domain","value":"api.shop.example"},"amount":")" + amount +
            R"(","asset":"USD"})",
        "application/json");
    if (!r || r->status != 201) {
      ADD_FAILURE() << "POST /v1/authorizations under " << mandate << " -> "
                    << (r ? std::to_string(r->status) + " " + r->body : "no response");
      return json::Value::Object();
    }
    json::Value v = ResponseJson(r);
    EXPECT_EQ(StringField(v, "decision"), decision) << r->body;
    return v;
  }

  // A mandate of A's agent Y (with a step-up above 500) and Y's authorization of `amount` USD
  // under it, asked with Y's session `agent_y`.
  struct YAuthorization {
    std::string mandate, authorization, approval;
  };
  YAuthorization AuthorizeAsY(const std::string& agent_y, const std::string& amount,
                              const std::string& decision) {
    YAuthorization y;
    y.mandate = StringField(Create("/v1/principals/" + a_.id + "/mandates",
                                   a_.token.at(Role::kAdmin),
                                   MandateBody(agent_y_, "", kStepUpTerms)),
                            "id");
    PrincipalSetup as_y = a_;
    as_y.token[Role::kAgent] = agent_y;
    const json::Value a = AuthorizeAs(as_y, y.mandate, amount, decision);
    y.authorization = StringField(a, "id");
    if (const json::Value* approval = a.Find("approval"); approval != nullptr) {
      y.approval = StringField(*approval, "id");
    }
    return y;
  }

  // An allowed authorization (100 USD, reserved) of t's agent under t's mandate.
  std::string Reserved(const PrincipalSetup& t) {
    return StringField(AuthorizeAs(t, t.mandate, "100", "allowed"), "id");
  }

  // A pending approval (600 USD held) of t's agent under t's step-up mandate.
  std::string PendingApproval(const PrincipalSetup& t) {
    const json::Value a = AuthorizeAs(t, t.step_up_mandate, "600", "approval_required");
    const json::Value* approval = a.Find("approval");
    EXPECT_NE(approval, nullptr) << json::Write(a);
    return approval == nullptr ? "" : StringField(*approval, "id");
  }

  std::string OpenSession(const PrincipalSetup& t, const std::string& agent,
                          const std::string& task) {
    const json::Value s = Create("/v1/principals/" + t.id + "/agents/" + agent + "/sessions",
                                 t.token.at(Role::kAdmin), R"({"task":")" + task + "\"}");
    return StringField(s, "token");
  }

  // A principal with one user and one credential per role, an agent, a session and a key.
  void Populate(PrincipalSetup& t, const std::string& name) {
    t.id = StringField(Create("/v1/principals", kBootstrapToken, R"({"name":")" + name + "\"}"), "id");
    const std::string base = "/v1/principals/" + t.id;
    for (Role r : kPrincipalRoles) {
      const std::string role(identity::RoleName(r));
      // The operator stands in for the admin until the principal has an admin credential.
      t.user[r] = StringField(Create(base + "/users", kBootstrapToken,
                             R"({"name":")" + role + R"( user","roles":[")" + role + "\"]}"),
                      "id");
      const json::Value c = Create(
          base + "/credentials", kBootstrapToken,
          R"({"role":")" + role + R"(","name":")" + role + R"(","user":")" + t.user[r] + "\"}");
      t.token[r] = StringField(c, "token");
      t.credential[r] = StringField(c, "id");
    }
    const std::string admin = t.token[Role::kAdmin];
    t.agent =
        StringField(Create(base + "/agents", admin, R"({"name":"agent X","did":")" + NewAgentDid() + "\"}"),
            "id");
    const json::Value s =
        Create(base + "/agents/" + t.agent + "/sessions", admin, R"({"task":"buy things"})");
    t.session = StringField(s, "id");
    t.token[Role::kAgent] = StringField(s, "token");
    t.key = StringField(Create(base + "/keys", admin, R"({"type":"Ed25519","purpose":"issuer"})"), "id");
    const json::Value m = Create(base + "/mandates", admin, MandateBody(t.agent, ""));
    t.mandate = StringField(m, "id");
    t.mandate_token = StringField(m, "token");
    EXPECT_FALSE(t.mandate_token.empty());
    t.step_up_mandate =
        StringField(Create(base + "/mandates", admin, MandateBody(t.agent, "", kStepUpTerms)), "id");
    t.authorization = Reserved(t);
    t.approval = PendingApproval(t);
    EXPECT_FALSE(t.authorization.empty());
    EXPECT_FALSE(t.approval.empty());
  }

  // Principal A's victims (targets of the allowed mutating calls), a second agent with a
  // session, a custodial agent with a session and a mandate to pay under, a deposit into A's
  // prepaid account, an agent-scoped credential, and a revoked credential and session.
  void BuildExtras() {
    const std::string base = "/v1/principals/" + a_.id;
    const std::string admin = a_.token.at(Role::kAdmin);
    victim_.user =
        StringField(Create(base + "/users", admin, R"({"name":"victim","roles":["auditor"]})"), "id");
    victim_.credential =
        StringField(Create(base + "/credentials", admin, R"({"role":"auditor","name":"victim"})"), "id");
    victim_.agent = StringField(Create(base + "/agents", admin,
                               R"({"name":"victim agent","did":")" + NewAgentDid() + "\"}"),
                        "id");
    victim_.session = StringField(
        Create(base + "/agents/" + a_.agent + "/sessions", admin, R"({"task":"victim"})"), "id");
    victim_.key =
        StringField(Create(base + "/keys", admin, R"({"type":"Ed25519","purpose":"issuer"})"), "id");
    victim_service_key_ =
        StringField(Create("/v1/keys", kBootstrapToken, R"({"type":"Ed25519","purpose":"victim"})"), "id");
    victim_agent_token_ = OpenSession(a_, a_.agent, "ended by the table");
    victim_.mandate =
        StringField(Create(base + "/mandates", admin, MandateBody(a_.agent, "")), "id");
    ap2_agent_ = StringField(Create(base + "/agents", admin,
                                    R"({"name":"ap2 agent","did":")" + NewAgentDid(signer::KeyType::kP256) + "\"}"),
                             "id");
    ap2_mandate_ = StringField(
        Create(base + "/ap2/mandates", admin,
               R"({"agent":")" + ap2_agent_ + R"(","kind":"checkout","constraints":[)"
               R"({"type":"checkout.line_items","items":[{"id":"r","acceptable_items":)"
               R"([{"id":"s","title":"T"}],"quantity":1}]}]})"),
        "id");
    // One reservation or approval per route that consumes it.
    for (const char* route : {"/v1/authorizations/{authorization}/capture",
                              "/v1/authorizations/{authorization}/void",
                              "/v1/principals/{principal}/authorizations/{authorization}/capture",
                              "/v1/principals/{principal}/authorizations/{authorization}/void"}) {
      victim_.authorization[route] = Reserved(a_);
    }
    for (const char* route : {"/v1/principals/{principal}/approvals/{approval}/approve",
                              "/v1/principals/{principal}/approvals/{approval}/deny"}) {
      victim_.approval[route] = PendingApproval(a_);
    }

    agent_y_ =
        StringField(Create(base + "/agents", admin, R"({"name":"agent Y","did":")" + NewAgentDid() + "\"}"),
            "id");
    session_y_ =
        StringField(Create(base + "/agents/" + agent_y_ + "/sessions", admin, R"({"task":"y"})"), "id");
    payer_agent_ = StringField(
        Create(base + "/agents", admin,
               R"({"name":"payer","custodial":{"key_type":"secp256k1","chain_id":84532}})"),
        "id");
    payer_token_ = OpenSession(a_, payer_agent_, "pay");
    pay_mandate_ = StringField(
        Create(base + "/mandates", admin, MandateBody(payer_agent_, "", PayTerms())), "id");
    a_account_ = "principal:" + a_.id;
    a_transfer_ = Deposit(admin, a_account_);
    const json::Value scoped =
        Create(base + "/credentials", admin,
               R"({"role":"admin","name":"scoped to X","agents":[")" + a_.agent + "\"]}");
    scoped_token_ = StringField(scoped, "token");

    const json::Value revoked = Create(base + "/credentials", admin, R"({"role":"admin"})");
    revoked_credential_token_ = StringField(revoked, "token");
    EXPECT_EQ(client_
                  ->Post(base + "/credentials/" + StringField(revoked, "id") + "/revoke", Bearer(admin), "",
                         "application/json")
                  ->status,
              200);
    const json::Value s =
        Create(base + "/agents/" + a_.agent + "/sessions", admin, R"({"task":"r"})");
    revoked_session_token_ = StringField(s, "token");
    // A checkpoint to read back by size, and the first audit event of principal A.
    audit_checkpoint_size_ =
        Create("/v1/audit/checkpoints", kBootstrapToken, "").Find("size")->number_text();
    httplib::Result trail =
        client_->Get("/v1/audit/trail?limit=1&principal=" + a_.id, Bearer(kBootstrapToken));
    EXPECT_TRUE(trail && trail->status == 200);
    if (trail) {
      a_audit_seq_ = ResponseJson(trail).Find("items")->items().at(0).Find("seq")->number_text();
    }
    EXPECT_EQ(client_
                  ->Post(base + "/sessions/" + StringField(s, "id") + "/revoke", Bearer(admin), "",
                         "application/json")
                  ->status,
              200);
  }

  // Deposits 1000 USD into `account` as `token`; returns the transfer id.
  std::string Deposit(const std::string& token, const std::string& account) {
    httplib::Headers headers = Bearer(token);
    headers.emplace("Idempotency-Key", NewIdempotencyKey());
    httplib::Result r = client_->Post(
        "/v1/ledger/deposits", headers,
        R"({"account":")" + account + R"(","asset":"USD","amount":"1000"})", "application/json");
    if (!r || r->status != 201) {
      ADD_FAILURE() << "deposit into " << account << " -> "
                    << (r ? std::to_string(r->status) + " " + r->body : "no response");
      return "";
    }
    const json::Value answer = ResponseJson(r);
    const json::Value* transfer = answer.Find("transfer");
    EXPECT_NE(transfer, nullptr) << r->body;
    return transfer == nullptr ? "" : StringField(*transfer, "id");
  }

  // `with_audit`: the audit family too (for admitted calls, which may write only there).
  Snapshot TakeSnapshot(bool with_audit = false) {
    Snapshot all;
    std::vector<std::string> families = Families();
    if (with_audit) families.emplace_back(audit::kAuditFamily);
    for (const std::string& cf : families) {
      Status s =
          app_->store_for_testing().ScanPrefix(cf, "", [&](std::string_view k, std::string_view v) {
            all.emplace(cf + std::string(1, '\0') + std::string(k), std::string(v));
            return true;
          });
      EXPECT_TRUE(s.ok()) << cf << ": " << s.ToString();
    }
    return all;
  }

  // The ids a path of principal A is filled with; `victims` for the allowed mutating calls.
  std::map<std::string, std::string> Ids(bool victims) const {
    if (!victims) {
      return {{"principal", a_.id},
              {"size", audit_checkpoint_size_},
              {"seq", a_audit_seq_},
              {"user", a_.user.at(Role::kAuditor)},
              {"credential", a_.credential.at(Role::kAuditor)},
              {"agent", a_.agent},
              {"session", a_.session},
              {"key", a_.key},
              {"mandate", a_.mandate},
              {"authorization", a_.authorization},
              {"approval", a_.approval},
              {"account", a_account_},
              {"transfer", a_transfer_},
              {"ap2_mandate", ap2_mandate_}};
    }
    // Routes that consume an authorization or approval get their own (see BuildExtras).
    return {{"principal", a_.id},         {"size", audit_checkpoint_size_},
            {"seq", a_audit_seq_},         {"user", victim_.user},
            {"credential", victim_.credential}, {"agent", victim_.agent},
            {"session", victim_.session}, {"key", victim_.key},
            {"mandate", victim_.mandate}, {"authorization", a_.authorization},
            {"approval", a_.approval},    {"account", a_account_},
            {"transfer", a_transfer_},     {"ap2_mandate", ap2_mandate_}};
  }

  static std::string Fill(const std::string& pattern,
                          const std::map<std::string, std::string>& ids) {
    std::string path = pattern;
    for (const auto& [name, value] : ids) {
      path = ReplaceAll(path, "{" + name + "}", value);
    }
    EXPECT_EQ(path.find('{'), std::string::npos) << path;
    return path;
  }

  // The path and query a row is called at, filled with `ids`.
  static std::string Target(const RouteRow& row, const std::map<std::string, std::string>& ids) {
    return Fill(row.path + row.query, ids);
  }

  // `headers` plus, on a row that moves money, a valid Idempotency-Key: refusals carry one too,
  // so that a refusal which looked at it (and kept an answer) would show in storage.
  static httplib::Headers Keyed(const RouteRow& row, httplib::Headers headers) {
    if (row.idempotent) {
      headers.emplace("Idempotency-Key", "access-table-refused");
    }
    return headers;
  }

  std::string Body(const RouteRow& row) const {
    std::string body = ReplaceAll(row.body, "{fresh-did}", NewAgentDid());
    body = ReplaceAll(body, "{fresh-event}", NewUsageEventId());
    for (const auto& [placeholder, value] :
         std::vector<std::pair<std::string, std::string>>{{"{a-agent}", a_.agent},
                                                          {"{a-mandate}", a_.mandate},
                                                          {"{a-mandate-token}", a_.mandate_token},
                                                          {"{a-account}", a_account_},
                                                          {"{a-pay-mandate}", pay_mandate_},
                                                          {"{a-ap2-agent}", ap2_agent_},
                                                          {"{a-ap2-mandate}", ap2_mandate_},
                                                          {"{x402-request}", x402_request_},
                                                          {"{valid-from}", valid_from_},
                                                          {"{valid-until}", valid_until_}}) {
      body = ReplaceAll(body, placeholder, value);
    }
    return body;
  }

  // Sends one call that must be refused with `status` and problem type `slug`, and checks that
  // storage is byte for byte what it was.
  void ExpectRefused(const std::string& method, const std::string& path,
                     const httplib::Headers& headers, const std::string& body, int status,
                     const std::string& slug) {
    SCOPED_TRACE(method + " " + path);
    const Snapshot before = TakeSnapshot();
    httplib::Result r = Send(method, path, headers, body);
    ASSERT_TRUE(r) << "no response";
    EXPECT_EQ(r->status, status) << r->body;
    if (method != "HEAD") {
      EXPECT_EQ(r->get_header_value("Content-Type"), "application/problem+json") << r->body;
      const json::Value p = ResponseJson(r);
      EXPECT_EQ(StringField(p, "type"), "urn:mandated:problem:" + slug) << r->body;
      ExpectNoSecretIn(r->body, "a refusal");
    }
    const Snapshot after = TakeSnapshot();
    EXPECT_TRUE(after == before) << "a refused call changed storage:" << Diff(before, after);
    ++refusals_;
  }

  // Sends one call that must be admitted and answer `status`; with an Idempotency-Key when
  // `idempotency_key` is not empty.
  httplib::Result ExpectAdmitted(const std::string& method, const std::string& path,
                                 const std::string& token, const std::string& body, int status,
                                 const std::string& idempotency_key = "") {
    SCOPED_TRACE(method + " " + path);
    httplib::Headers headers = Bearer(token);
    if (!idempotency_key.empty()) {
      headers.emplace("Idempotency-Key", idempotency_key);
    }
    httplib::Result r = Send(method, path, headers, body);
    EXPECT_TRUE(r) << "no response";
    if (r) {
      EXPECT_EQ(r->status, status) << r->body;
      if (r->get_header_value("Content-Type") == "application/json") {
        RememberToken(ResponseJson(r));
      }
    }
    ++admitted_;
    return r;
  }

  void ExpectNoSecretIn(const std::string& haystack, const std::string& where) {
    for (const std::string& t : tokens_) {
      EXPECT_EQ(haystack.find(SecretPart(t)), std::string::npos)
          << "the secret of " << t.substr(0, t.find('.')) << " appears in " << where;
    }
  }

  // The callers with a valid token: the operator, and each role of A and of B (the agent through
  // its session).
  std::vector<Caller> Callers() const {
    std::vector<Caller> out = {{"operator", kBootstrapToken, "", Role::kOperator}};
    for (const auto* t : {&a_, &b_}) {
      const std::string p = t == &a_ ? "A" : "B";
      for (Role r :
           {Role::kAdmin, Role::kApprover, Role::kAuditor, Role::kMerchant, Role::kAgent}) {
        out.push_back({p + " " + std::string(identity::RoleName(r)), t->token.at(r), p, r});
      }
    }
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<api::App> app_;
  std::thread server_;
  Status run_status_;
  std::unique_ptr<httplib::Client> client_;
  std::mutex log_mu_;
  std::vector<std::string> logs_;    // guarded by log_mu_
  std::vector<std::string> tokens_;  // every token issued (and the operator's)

  PrincipalSetup a_, b_;
  struct {
    std::string user, credential, agent, session, key, mandate;
    std::map<std::string, std::string> authorization, approval;  // by route pattern
  } victim_;
  std::string victim_service_key_;
  std::string victim_agent_token_;  // a session of A's agent, ended by DELETE /v1/session
  std::string agent_y_, session_y_;
  std::string scoped_token_;  // A admin credential limited to A's agent X
  std::string payer_agent_;   // A's custodial secp256k1 agent
  std::string payer_token_;   // its session
  std::string pay_mandate_;   // its mandate (PayTerms)
  std::string ap2_agent_;     // A's agent with a P-256 did:key (AP2 binds ES256 keys)
  std::string ap2_mandate_;   // an AP2 open checkout mandate of it
  std::string a_account_;     // "principal:<A>", A's prepaid ledger account
  std::string a_transfer_;    // a deposit into it
  std::string x402_request_;  // the facilitator body of the reference vector
  std::string revoked_credential_token_, revoked_session_token_;
  std::string audit_checkpoint_size_, a_audit_seq_;
  std::string valid_from_, valid_until_;  // the validity of the mandates the test issues
  int refusals_ = 0;
  int admitted_ = 0;
  int idempotency_keys_ = 0;
};

TEST(AccessRoleTable, RoleAllowsMatchesSpecsAccessMd) {
  for (Role r : kAllRoles) {
    for (const auto& [p, roles] : SpecRoleTable()) {
      EXPECT_EQ(identity::RoleAllows(r, p), roles.count(r) > 0)
          << identity::RoleName(r) << " " << identity::PermissionName(p);
    }
  }
}

TEST_F(AccessTest, TableCoversEveryRegisteredRouteExceptThePublicOnes) {
  std::set<std::pair<std::string, std::string>> registered;
  for (const auto& route : app_->router_for_testing().Routes()) {
    EXPECT_TRUE(registered.insert(route).second)
        << "registered twice: " << route.first << " " << route.second;
  }
  std::set<std::pair<std::string, std::string>> table;
  for (const RouteRow& row : RouteTable()) {
    EXPECT_TRUE(table.insert({row.method, row.path}).second) << "twice in the table: " << row.path;
    EXPECT_EQ(PublicRoutes().count({row.method, row.path}), 0u) << row.path;
  }
  for (const auto& route : PublicRoutes()) {
    EXPECT_EQ(registered.count(route), 1u) << "public route not registered: " << route.second;
    table.insert(route);
  }
  for (const auto& route : registered) {
    EXPECT_EQ(table.count(route), 1u)
        << "route missing from the access table: " << route.first << " " << route.second;
  }
  for (const auto& route : table) {
    EXPECT_EQ(registered.count(route), 1u)
        << "table row for no route: " << route.first << " " << route.second;
  }
  EXPECT_EQ(registered.size(), RouteTable().size() + PublicRoutes().size());

  // The public routes answer without a token, and refuse nothing for lack of one.
  for (const char* path : {"/healthz", "/readyz", "/metrics", "/.well-known/did.json",
                           "/.well-known/jwks.json", "/x402/supported"}) {
    EXPECT_EQ(client_->Get(path)->status, 200) << path;
  }
  // A principal's issuer documents and status lists, for merchants verifying offline.
  for (const std::string& path :
       {"/principals/" + a_.id + "/did.json", "/principals/" + a_.id + "/jwks.json",
        "/v1/status-lists/" + a_.id + "/0"}) {
    EXPECT_EQ(client_->Get(path)->status, 200) << path;
  }
  for (const std::string& path :
       {"/principals/" + std::string(kNoSuchPrincipal) + "/did.json",
        "/principals/" + std::string(kNoSuchPrincipal) + "/jwks.json",
        "/v1/status-lists/" + std::string(kNoSuchPrincipal) + "/0",
        "/principals/" + std::string(kNoSuchPrincipal) + "/ap2-jwks.json",
        "/v1/ap2/status-lists/" + std::string(kNoSuchPrincipal) + "/0"}) {
    EXPECT_EQ(client_->Get(path)->status, 404) << path;
  }
  // Its AP2 issuer keys (none yet: an empty set) for verifying open mandates offline; its AP2
  // status lists are tested with the mandates they serve (ap2_status_test.cc).
  EXPECT_EQ(client_->Get("/principals/" + a_.id + "/ap2-jwks.json")->status, 200);
  const Snapshot before = TakeSnapshot();
  auto r = client_->Post("/v1/sessions", R"({"task":"no assertion"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(StringField(ResponseJson(r), "type"), "urn:mandated:problem:missing-field") << r->body;
  EXPECT_TRUE(TakeSnapshot() == before);
}

// Must-show 1: every guarded route x {no credential, wrong credentials, another principal's
// callers, every role without the permission} is refused as specified and changes nothing;
// the allowed roles are admitted.
TEST_F(AccessTest, EveryRouteRefusesEveryWrongCallerAndChangesNothing) {
  const std::map<std::string, std::string> ids = Ids(false);
  const std::string admin_a = a_.token.at(Role::kAdmin);
  const std::string admin_b = b_.token.at(Role::kAdmin);
  // Well-formed tokens with a wrong secret, unknown ids, garbage: all 401 bad-credential.
  const std::vector<std::pair<std::string, std::string>> wrong = {
      {"A admin id, wrong secret", admin_a.substr(0, admin_a.find('.') + 1) + std::string(43, 'A')},
      {"A admin id, B admin secret",
       admin_a.substr(0, admin_a.find('.') + 1) + SecretPart(admin_b)},
      {"A session id, wrong secret",
       a_.token.at(Role::kAgent).substr(0, a_.token.at(Role::kAgent).find('.') + 1) +
           std::string(43, 'A')},
      {"unknown credential id", "crd_aaaaaaaaaaaaaaaaaaaaaaaaaa." + SecretPart(admin_a)},
      {"unknown session id",
       "ses_aaaaaaaaaaaaaaaaaaaaaaaaaa." + SecretPart(a_.token.at(Role::kAgent))},
      {"credential id without secret", admin_a.substr(0, admin_a.find('.'))},
      {"garbage", "garbage"},
      {"operator token plus a byte", std::string(kBootstrapToken) + "x"},
      {"operator token minus a byte", std::string(kBootstrapToken).substr(1)},
  };
  const std::vector<Caller> callers = Callers();
  std::set<std::pair<std::string, std::string>> seen_routes;

  for (const RouteRow& row : RouteTable()) {
    SCOPED_TRACE(row.method + " " + row.path);
    const std::string path = Target(row, ids);
    seen_routes.insert({row.method, row.path});
    // (a) No credential.
    ExpectRefused(row.method, path, Keyed(row, {}), Body(row), 401, "missing-credential");
    ExpectRefused(row.method, path, Keyed(row, {{"Authorization", "Basic dGVzdDp0ZXN0"}}),
                  Body(row), 401, "missing-credential");
    ExpectRefused(row.method, path, Keyed(row, {{"Authorization", "Bearer"}}), Body(row), 401,
                  "missing-credential");
    if (row.method == "GET") {
      ExpectRefused("HEAD", path, {}, "", 401, "missing-credential");
    }
    // (b) Wrong credentials, and a revoked credential and session.
    for (const auto& [label, token] : wrong) {
      SCOPED_TRACE(label);
      ExpectRefused(row.method, path, Keyed(row, Bearer(token)), Body(row), 401,
                    "bad-credential");
    }
    ExpectRefused(row.method, path, Keyed(row, Bearer(revoked_credential_token_)), Body(row), 401,
                  "credential-revoked");
    ExpectRefused(row.method, path, Keyed(row, Bearer(revoked_session_token_)), Body(row), 401,
                  "session-revoked");
    // (c) Another principal: its callers see A's paths as not existing (before any role check);
    // on paths without a principal their role decides, and A's records named there do not
    // exist for them. A principal that does not exist gets the same answer.
    // (d) Every role without the permission: 403.
    // A refusal comes before the Idempotency-Key is looked at: without one, the same answer.
    for (const Caller& c : callers) {
      SCOPED_TRACE(c.label);
      const bool allowed = SpecAllows(c.role, row.permission);
      int status = 0;
      std::string slug;
      if (c.principal == "B" && NamesPrincipal(row.path)) {
        status = 404;
        slug = "principal-not-found";
      } else if (!allowed) {
        status = 403;
        slug = "forbidden";
      } else if (c.principal == "B" && !row.foreign_slug.empty()) {
        status = 404;
        slug = row.foreign_slug;
      } else if (c.role == Role::kOperator && !row.no_principal_slug.empty()) {
        status = 400;
        slug = row.no_principal_slug;
      } else {
        continue;
      }
      ExpectRefused(row.method, path, Keyed(row, Bearer(c.token)), Body(row), status, slug);
      if (row.idempotent && (slug == "principal-not-found" || slug == "forbidden")) {
        ExpectRefused(row.method, path, Bearer(c.token), Body(row), status, slug);
      }
    }
    if (NamesPrincipal(row.path)) {
      std::map<std::string, std::string> nowhere = ids;
      nowhere["principal"] = kNoSuchPrincipal;
      const std::string missing = Target(row, nowhere);
      ExpectRefused(row.method, missing, Keyed(row, Bearer(admin_a)), Body(row), 404,
                    "principal-not-found");
      ExpectRefused(row.method, missing, Keyed(row, Bearer(kBootstrapToken)), Body(row), 404,
                    "principal-not-found");
    }
  }
  EXPECT_EQ(seen_routes.size(), RouteTable().size());

  // The allowed callers are admitted: every allowed role on every read...
  for (const RouteRow& row : RouteTable()) {
    if (row.method != "GET") {
      continue;
    }
    for (const Caller& c : callers) {
      const bool refused_above =
          (c.principal == "B" && (NamesPrincipal(row.path) || !row.foreign_slug.empty())) ||
          (c.role == Role::kOperator && !row.no_principal_slug.empty());
      if (SpecAllows(c.role, row.permission) && !refused_above) {
        SCOPED_TRACE(c.label);
        httplib::Result r = ExpectAdmitted("GET", Target(row, ids), c.token, "", 200);
        if (r) {
          ExpectNoSecretIn(r->body, "GET " + row.path);
        }
      }
    }
  }
  // ...and on each mutating route the first allowed caller (A's admin, else the operator, else
  // the agent: the session DELETE /v1/session ends for its own session, A's agent's fixture
  // session otherwise), on A's victims so that the refusals above kept their targets.
  std::map<std::string, std::string> victim_ids = Ids(true);
  for (const RouteRow& row : RouteTable()) {
    if (row.method == "GET") {
      continue;
    }
    std::string token;
    if (SpecAllows(Role::kAdmin, row.permission)) {
      token = admin_a;
    } else if (SpecAllows(Role::kOperator, row.permission)) {
      token = kBootstrapToken;
      victim_ids["key"] = victim_service_key_;  // /v1/keys/{key}: a service key
    } else if (row.permission == Permission::kOwnSession) {
      token = victim_agent_token_;
    } else if (row.permission == Permission::kPay) {
      token = payer_token_;  // agent X holds its own key: only a custodial agent pays
    } else {
      token = a_.token.at(Role::kAgent);
    }
    std::map<std::string, std::string> row_ids = victim_ids;
    if (victim_.authorization.count(row.path) > 0) {
      row_ids["authorization"] = victim_.authorization.at(row.path);
    }
    if (victim_.approval.count(row.path) > 0) {
      row_ids["approval"] = victim_.approval.at(row.path);
    }
    const std::string path = Target(row, row_ids);
    victim_ids["key"] = victim_.key;
    const Snapshot before = TakeSnapshot(true);
    const Snapshot before_outside_audit = TakeSnapshot();
    ExpectAdmitted(row.method, path, token, Body(row), row.ok_status,
                   row.idempotent ? NewIdempotencyKey() : "");
    if (row.writes) {
      // The same snapshot does see what an admitted call writes.
      EXPECT_FALSE(TakeSnapshot(true) == before)
          << row.method << " " << row.path << " wrote nothing";
    } else {
      const Snapshot after = TakeSnapshot();
      EXPECT_TRUE(after == before_outside_audit)
          << row.method << " " << row.path << " wrote:" << Diff(before_outside_audit, after);
    }
  }
  EXPECT_EQ(refusals_, 2220);
  EXPECT_EQ(admitted_, 183);
  std::cout << "[ access ] " << RouteTable().size() << " routes, " << refusals_
            << " refused calls with storage unchanged, " << admitted_ << " admitted calls\n";
}

// Tenant isolation (specs/access.md): on its own principal's path, a caller allowed the route
// finds no record of another principal, whatever its id, and changes nothing.
TEST_F(AccessTest, AnotherPrincipalsRecordsDoNotExistOnOwnPath) {
  const std::map<std::string, std::string> slugs = {{"user", "user-not-found"},
                                                    {"credential", "credential-not-found"},
                                                    {"agent", "agent-not-found"},
                                                    {"session", "session-not-found"},
                                                    {"key", "key-not-found"},
                                                    {"mandate", "mandate-not-found"},
                                                    {"authorization", "authorization-not-found"},
                                                    {"approval", "approval-not-found"}};
  const std::map<std::string, std::string> b_records = {
      {"principal", a_.id},
      {"user", b_.user.at(Role::kAuditor)},
      {"credential", b_.credential.at(Role::kAuditor)},
      {"agent", b_.agent},
      {"session", b_.session},
      {"key", b_.key},
      {"mandate", b_.mandate},
      {"authorization", b_.authorization},
      {"approval", b_.approval}};
  int rows = 0;
  for (const RouteRow& row : RouteTable()) {
    if (!NamesPrincipal(row.path)) {
      continue;
    }
    for (const auto& [placeholder, slug] : slugs) {
      if (row.path.find("{" + placeholder + "}") == std::string::npos) {
        continue;
      }
      ++rows;
      const std::string path = Target(row, b_records);
      for (const std::string& token : {a_.token.at(Role::kAdmin), std::string(kBootstrapToken)}) {
        ExpectRefused(row.method, path, Keyed(row, Bearer(token)), Body(row), 404, slug);
      }
    }
  }
  EXPECT_EQ(rows, 26);
  // B's records are still there for B.
  ExpectAdmitted("GET", "/v1/principals/" + b_.id + "/agents/" + b_.agent,
                 b_.token.at(Role::kAdmin), "", 200);
}

// The ledger, usage and the payer name no principal in their paths (specs/access.md §x402,
// §Ledger, §Usage): another principal's accounts, transfers, agents and mandates do not exist
// for a caller allowed the route, a credential limited to agents sees only theirs, and none of
// these refusals writes anything.
TEST_F(AccessTest, LedgerUsageAndPaymentsFindNothingOfAnotherPrincipal) {
  const std::string admin = a_.token.at(Role::kAdmin);
  const std::string auditor = a_.token.at(Role::kAuditor);
  const std::string merchant = a_.token.at(Role::kMerchant);
  const std::string b_transfer = Deposit(kBootstrapToken, "principal:" + b_.id);
  ASSERT_FALSE(b_transfer.empty());
  auto keyed = [](const std::string& token) {
    httplib::Headers h = Bearer(token);
    h.emplace("Idempotency-Key", "access-other-principal");
    return h;
  };
  auto deposit = [](const std::string& account) {
    return R"({"account":")" + account + R"(","asset":"USD","amount":"5"})";
  };

  // B's accounts and transfer, and accounts that are no one's, for A's admin and auditor.
  for (const std::string& token : {admin, auditor}) {
    for (const std::string& account :
         {"principal:" + b_.id, "agent:" + b_.agent, "principal:" + std::string(kNoSuchPrincipal),
          std::string("merchant:shop"), std::string("external:deposits"),
          std::string("not-an-account")}) {
      SCOPED_TRACE(account);
      const std::string path = "/v1/ledger/accounts/" + account;
      ExpectRefused("GET", path, Bearer(token), "", 404, "account-not-found");
      ExpectRefused("GET", path + "/transfers?asset=USD", Bearer(token), "", 404,
                    "account-not-found");
    }
    ExpectRefused("GET", "/v1/ledger/transfers/" + b_transfer, Bearer(token), "", 404,
                  "transfer-not-found");
  }
  ExpectRefused("POST", "/v1/ledger/deposits", keyed(admin), deposit("principal:" + b_.id), 404,
                "account-not-found");
  ExpectRefused("POST", "/v1/ledger/deposits", keyed(admin), deposit("agent:" + b_.agent), 404,
                "account-not-found");
  // The operator names any account; a malformed one is a bad request only for it.
  ExpectAdmitted("GET", "/v1/ledger/transfers/" + b_transfer, kBootstrapToken, "", 200);
  ExpectRefused("GET", "/v1/ledger/accounts/nonsense", Bearer(kBootstrapToken), "", 400,
                "bad-account");

  // A credential limited to agent X: X's account, not the principal's nor agent Y's.
  ExpectAdmitted("GET", "/v1/ledger/accounts/agent:" + a_.agent, scoped_token_, "", 200);
  ExpectRefused("GET", "/v1/ledger/accounts/" + a_account_, Bearer(scoped_token_), "", 404,
                "account-not-found");
  ExpectRefused("GET", "/v1/ledger/accounts/agent:" + agent_y_, Bearer(scoped_token_), "", 404,
                "account-not-found");
  ExpectRefused("GET", "/v1/ledger/transfers/" + a_transfer_, Bearer(scoped_token_), "", 404,
                "transfer-not-found");
  ExpectRefused("POST", "/v1/ledger/deposits", keyed(scoped_token_), deposit(a_account_), 404,
                "account-not-found");
  ExpectAdmitted("GET", "/v1/ledger/transfers/" + a_transfer_, auditor, "", 200);

  // Usage: B's agent and mandate, in a batch or a query, for A's people and for the operator on
  // A's path; nothing of a refused batch is kept.
  auto batch = [](const std::string& field, const std::string& id) {
    return R"({"events":[{"id":"access-other","payee":"api.shop.example","asset":"USD",)"
           R"("amount":"1",")" + field + R"(":")" + id + R"("}]})";
  };
  const std::string a_usage = "/v1/principals/" + a_.id + "/usage";
  for (const auto& [token, path] : std::vector<std::pair<std::string, std::string>>{
           {merchant, "/v1/usage"}, {admin, "/v1/usage"}, {kBootstrapToken, a_usage}}) {
    ExpectRefused("POST", path, Bearer(token), batch("agent", b_.agent), 404, "agent-not-found");
    ExpectRefused("POST", path, Bearer(token), batch("mandate", b_.mandate), 404,
                  "mandate-not-found");
  }
  for (const auto& [token, path] : std::vector<std::pair<std::string, std::string>>{
           {auditor, "/v1/usage/budgets"}, {kBootstrapToken, a_usage + "/budgets"}}) {
    ExpectRefused("GET", path + "?agent=" + b_.agent, Bearer(token), "", 404, "agent-not-found");
    ExpectRefused("GET", path + "?mandate=" + b_.mandate, Bearer(token), "", 404,
                  "mandate-not-found");
  }
  // The credential limited to X: not agent Y, in a batch or a query.
  ExpectRefused("POST", "/v1/usage", Bearer(scoped_token_), batch("agent", agent_y_), 403,
                "agent-out-of-scope");
  ExpectRefused("GET", "/v1/usage?agent=" + agent_y_, Bearer(scoped_token_), "", 403,
                "agent-out-of-scope");
  ExpectRefused("GET", "/v1/usage/budgets?agent=" + agent_y_, Bearer(scoped_token_), "", 403,
                "agent-out-of-scope");
  ExpectAdmitted("GET", "/v1/usage?agent=" + a_.agent, scoped_token_, "", 200);
  // Nor an event naming no agent, which would be the whole principal's usage; its agent's is.
  const std::string unnamed =
      R"({"events":[{"id":"access-unnamed","payee":"api.shop.example","asset":"USD","amount":"1"}]})";
  ExpectRefused("POST", "/v1/usage", Bearer(scoped_token_), unnamed, 403, "agent-out-of-scope");
  ExpectAdmitted("POST", "/v1/usage", scoped_token_, batch("agent", a_.agent), 200);
  // A merchant limited to A's mandate reports only events naming it.
  const std::string mandate_merchant = StringField(
      Create("/v1/principals/" + a_.id + "/credentials", admin,
             R"({"role":"merchant","name":"M's shop","mandates":[")" + a_.mandate + "\"]}"),
      "token");
  ExpectRefused("POST", "/v1/usage", Bearer(mandate_merchant), unnamed, 403,
                "mandate-out-of-scope");
  ExpectAdmitted("POST", "/v1/usage", mandate_merchant, batch("mandate", a_.mandate), 200);
  // A credential limited to A's mandate: other mandates' usage is not its to read, nor all of
  // the principal's at once.
  const std::string limited = StringField(
      Create("/v1/principals/" + a_.id + "/credentials", admin,
             R"({"role":"auditor","name":"scoped to M","mandates":[")" + a_.mandate + "\"]}"),
      "token");
  ASSERT_FALSE(limited.empty());
  ExpectRefused("GET", "/v1/usage?mandate=" + victim_.mandate, Bearer(limited), "", 403,
                "mandate-out-of-scope");
  ExpectRefused("GET", "/v1/usage/budgets?mandate=" + victim_.mandate, Bearer(limited), "", 403,
                "mandate-out-of-scope");
  ExpectRefused("GET", "/v1/usage?group_by=mandate", Bearer(limited), "", 400,
                "usage-query-invalid");
  ExpectAdmitted("GET", "/v1/usage?group_by=mandate&mandate=" + a_.mandate, limited, "", 200);

  // The payer: the custodial agent's mandate is no other agent's, of A or of B.
  const std::string pay =
      R"({"mandate_id":")" + pay_mandate_ + R"(","payment_required":)" + PaymentRequired() + "}";
  for (const std::string& other : {a_.token.at(Role::kAgent), b_.token.at(Role::kAgent)}) {
    ExpectRefused("POST", "/v1/x402/pay", keyed(other), pay, 404, "mandate-not-found");
  }
  // A's agent X under its own mandate is admitted, but holds no key of ours to sign with (a
  // 409, kept for its Idempotency-Key as other 4xx answers are).
  const json::Value refused = ResponseJson(ExpectAdmitted(
      "POST", "/v1/x402/pay", a_.token.at(Role::kAgent),
      R"({"mandate_id":")" + a_.mandate + R"(","payment_required":)" + PaymentRequired() + "}",
      409, "access-no-custodial-key"));
  EXPECT_EQ(StringField(refused, "type"), "urn:mandated:problem:x402-no-custodial-key");
}

// An agent-limited credential acts only on its agents (specs/access.md §Roles).
TEST_F(AccessTest, AgentScopedCredentialStaysInsideItsAgents) {
  const std::string base = "/v1/principals/" + a_.id;
  const httplib::Headers scoped = Bearer(scoped_token_);
  const std::string y = base + "/agents/" + agent_y_;
  ExpectRefused("GET", y, scoped, "", 403, "agent-out-of-scope");
  // An AP2 open mandate of another agent: neither read nor revoked.
  ExpectRefused("GET", base + "/ap2/mandates/" + ap2_mandate_, scoped, "", 403,
                "agent-out-of-scope");
  ExpectRefused("POST", base + "/ap2/mandates/" + ap2_mandate_ + "/revoke", scoped, "", 403,
                "agent-out-of-scope");
  for (const char* action : {"/suspend", "/resume", "/revoke"}) {
    ExpectRefused("POST", y + action, scoped, "", 403, "agent-out-of-scope");
  }
  ExpectRefused("POST", y + "/sessions", scoped, R"({"task":"t"})", 403, "agent-out-of-scope");
  ExpectRefused("GET", base + "/sessions/" + session_y_, scoped, "", 403, "agent-out-of-scope");
  ExpectRefused("GET", base + "/sessions?agent=" + agent_y_, scoped, "", 403,
                "agent-out-of-scope");
  ExpectRefused("POST", base + "/sessions/" + session_y_ + "/revoke", scoped, "", 403,
                "agent-out-of-scope");
  // No credential wider than itself.
  ExpectRefused("POST", base + "/credentials", scoped, R"({"role":"auditor"})", 403,
                "scope-widened");
  ExpectRefused("POST", base + "/credentials", scoped,
                R"({"role":"admin","agents":[")" + agent_y_ + "\"]}", 403, "scope-widened");
  ExpectRefused("POST", base + "/credentials", scoped,
                R"({"role":"auditor","agents":[")" + a_.agent + "\",\"" + agent_y_ + "\"]}", 403,
                "scope-widened");
  // No agents, keys or users, and no revoking credentials or disabling users.
  ExpectRefused("POST", base + "/agents", scoped,
                R"({"name":"more","did":")" + NewAgentDid() + "\"}", 403, "agent-out-of-scope");
  ExpectRefused("POST", base + "/users", scoped, R"({"name":"u","roles":["admin"]})", 403,
                "agent-out-of-scope");
  ExpectRefused("POST", base + "/users/" + a_.user.at(Role::kMerchant) + "/disable", scoped, "",
                403, "agent-out-of-scope");
  ExpectRefused("POST", base + "/credentials/" + a_.credential.at(Role::kMerchant) + "/revoke",
                scoped, "", 403, "agent-out-of-scope");
  ExpectRefused("POST", base + "/keys", scoped, R"({"type":"Ed25519","purpose":"issuer"})", 403,
                "agent-out-of-scope");
  ExpectRefused("POST", base + "/keys/" + a_.key + "/rotate", scoped, "", 403,
                "agent-out-of-scope");
  ExpectRefused("POST", base + "/keys/" + a_.key + "/disable", scoped, "", 403,
                "agent-out-of-scope");

  // Inside its scope it works, and lists show only its agent.
  EXPECT_EQ(
      StringField(ResponseJson(ExpectAdmitted("GET", base + "/agents/" + a_.agent, scoped_token_, "", 200)), "id"),
      a_.agent);
  const json::Value agents = ResponseJson(ExpectAdmitted("GET", base + "/agents", scoped_token_, "", 200));
  ASSERT_NE(agents.Find("items"), nullptr);
  ASSERT_EQ(agents.Find("items")->items().size(), 1u);
  EXPECT_EQ(StringField(agents.Find("items")->items()[0], "id"), a_.agent);
  const json::Value sessions =
      ResponseJson(ExpectAdmitted("GET", base + "/sessions", scoped_token_, "", 200));
  ASSERT_NE(sessions.Find("items"), nullptr);
  EXPECT_FALSE(sessions.Find("items")->items().empty());
  for (const json::Value& s : sessions.Find("items")->items()) {
    EXPECT_EQ(StringField(s, "agent"), a_.agent);
  }
  EXPECT_EQ(ExpectAdmitted("GET", base + "/sessions/" + a_.session, scoped_token_, "", 200)->status,
            200);
  // It may grant its own scope or less; what it grants is limited in turn.
  const json::Value narrower =
      ResponseJson(ExpectAdmitted("POST", base + "/credentials", scoped_token_,
                          R"({"role":"auditor","agents":[")" + a_.agent + "\"]}", 201));
  const std::string narrower_token = StringField(narrower, "token");
  ASSERT_FALSE(narrower_token.empty());
  ExpectRefused("GET", y, Bearer(narrower_token), "", 403, "agent-out-of-scope");
  ExpectAdmitted("GET", base + "/agents/" + a_.agent, narrower_token, "", 200);
  // The unscoped admin sees agent Y.
  ExpectAdmitted("GET", y, a_.token.at(Role::kAdmin), "", 200);

  // The same holds for mandates.
  const std::string m1 = "mnd_aaaaaaaaaaaaaaaaaaaaaaaaaa";
  const std::string m2 = "mnd_bbbbbbbbbbbbbbbbbbbbbbbbbb";
  const std::string mandate_token =
      StringField(ResponseJson(ExpectAdmitted("POST", base + "/credentials", a_.token.at(Role::kAdmin),
                              R"({"role":"admin","mandates":[")" + m1 + "\"]}", 201)),
          "token");
  ASSERT_FALSE(mandate_token.empty());
  ExpectRefused("POST", base + "/credentials", Bearer(mandate_token), R"({"role":"auditor"})", 403,
                "scope-widened");
  ExpectRefused("POST", base + "/credentials", Bearer(mandate_token),
                R"({"role":"auditor","mandates":[")" + m2 + "\"]}", 403, "scope-widened");
  ExpectAdmitted("POST", base + "/credentials", mandate_token,
                 R"({"role":"auditor","mandates":[")" + m1 + "\"]}", 201);
}

// An auditor limited to some agents or mandates reads only the trails it names of them: not the
// principal's whole trail, not single events by number, not another's (specs/audit.md §4).
TEST_F(AccessTest, LimitedAuditorsReadOnlyTheTrailsOfTheirScope) {
  const std::string base = "/v1/principals/" + a_.id;
  const std::string admin = a_.token.at(Role::kAdmin);
  const std::string by_mandate = StringField(
      ResponseJson(ExpectAdmitted("POST", base + "/credentials", admin,
                                  R"({"role":"auditor","mandates":[")" + a_.mandate + "\"]}", 201)),
      "token");
  const std::string by_agent = StringField(
      ResponseJson(ExpectAdmitted("POST", base + "/credentials", admin,
                                  R"({"role":"auditor","agents":[")" + a_.agent + "\"]}", 201)),
      "token");
  const std::string trail = "/v1/audit/trail?";
  ExpectAdmitted("GET", trail + "mandate=" + a_.mandate, by_mandate, "", 200);
  ExpectAdmitted("GET", "/v1/audit/export?mandate=" + a_.mandate, by_mandate, "", 200);
  ExpectRefused("GET", trail + "mandate=" + victim_.mandate, Bearer(by_mandate), "", 403,
                "mandate-out-of-scope");
  ExpectRefused("GET", trail + "principal=" + a_.id, Bearer(by_mandate), "", 403,
                "mandate-out-of-scope");
  ExpectRefused("GET", trail + "agent=" + a_.agent, Bearer(by_mandate), "", 403,
                "mandate-out-of-scope");
  ExpectRefused("GET", "/v1/audit/export?principal=" + a_.id, Bearer(by_mandate), "", 403,
                "mandate-out-of-scope");
  ExpectRefused("GET", "/v1/audit/events/0", Bearer(by_mandate), "", 403, "mandate-out-of-scope");

  ExpectAdmitted("GET", trail + "agent=" + a_.agent, by_agent, "", 200);
  ExpectRefused("GET", trail + "agent=" + agent_y_, Bearer(by_agent), "", 403,
                "agent-out-of-scope");
  ExpectRefused("GET", trail + "principal=" + a_.id, Bearer(by_agent), "", 403,
                "agent-out-of-scope");
  ExpectRefused("GET", "/v1/audit/events/0", Bearer(by_agent), "", 403, "agent-out-of-scope");
  // Limited to both an agent and a mandate: it names the mandate.
  const std::string by_both = StringField(
      ResponseJson(ExpectAdmitted("POST", base + "/credentials", admin,
                                  R"({"role":"auditor","agents":[")" + a_.agent +
                                      R"("],"mandates":[")" + a_.mandate + "\"]}",
                                  201)),
      "token");
  ExpectAdmitted("GET", trail + "mandate=" + a_.mandate, by_both, "", 200);
  ExpectRefused("GET", trail + "mandate=" + victim_.mandate, Bearer(by_both), "", 403,
                "agent-out-of-scope");
  // The unlimited auditor reads the principal's trail.
  ExpectAdmitted("GET", trail + "principal=" + a_.id, a_.token.at(Role::kAuditor), "", 200);
  // Bounds past year 9999 are refused, not compared as text.
  ExpectRefused("GET", trail + "principal=" + a_.id + "&to=253402300800",
                Bearer(a_.token.at(Role::kAuditor)), "", 400, "audit-query-invalid");
}

// A credential's sessions and children live no longer than it does (specs/access.md
// §Credentials): a session it opens expires with it and ends when it is revoked (also through
// its user's disabling); a credential it creates expires no later than it.
TEST_F(AccessTest, RevokingACredentialEndsTheSessionsItOpened) {
  const std::string base = "/v1/principals/" + a_.id;
  const std::string admin = a_.token.at(Role::kAdmin);
  const int64_t expires = static_cast<int64_t>(std::time(nullptr)) + 600;
  const json::Value opener = ResponseJson(ExpectAdmitted(
      "POST", base + "/credentials", admin,
      R"({"role":"admin","name":"opener","expires_at":)" + std::to_string(expires) + "}", 201));
  const std::string opener_id = StringField(opener, "id");
  const std::string opener_token = StringField(opener, "token");
  ASSERT_FALSE(opener_token.empty());

  // Its session (the default 15 minutes asked) expires when the credential does.
  const json::Value session = ResponseJson(ExpectAdmitted(
      "POST", base + "/agents/" + a_.agent + "/sessions", opener_token, R"({"task":"t"})", 201));
  ASSERT_NE(session.Find("expires_at"), nullptr);
  EXPECT_EQ(session.Find("expires_at")->as_int64(), std::optional<int64_t>(expires));
  const std::string session_token = StringField(session, "token");
  ExpectAdmitted("GET", "/v1/session", session_token, "", 200);

  // What it creates expires no later than it.
  ExpectRefused("POST", base + "/credentials", Bearer(opener_token), R"({"role":"auditor"})", 403,
                "scope-widened");
  ExpectRefused("POST", base + "/credentials", Bearer(opener_token),
                R"({"role":"auditor","expires_at":)" + std::to_string(expires + 1) + "}", 403,
                "scope-widened");
  ExpectAdmitted("POST", base + "/credentials", opener_token,
                 R"({"role":"auditor","expires_at":)" + std::to_string(expires) + "}", 201);

  // Revoking it ends the session at once, and the session's record says why.
  ExpectAdmitted("POST", base + "/credentials/" + opener_id + "/revoke", admin, "", 200);
  ExpectRefused("GET", "/v1/session", Bearer(session_token), "", 401, "session-revoked");
  const json::Value ended = ResponseJson(ExpectAdmitted(
      "GET", base + "/sessions/" + StringField(session, "id"), admin, "", 200));
  EXPECT_EQ(StringField(ended, "state"), "revoked");
  EXPECT_EQ(StringField(ended, "revoked_reason"), "credential-revoked");

  // Disabling a user revokes its credentials and so the sessions they opened; sessions other
  // credentials opened for the same agent go on.
  const std::string user = StringField(
      ResponseJson(ExpectAdmitted("POST", base + "/users", admin,
                                  R"({"name":"leaver","roles":["admin"]})", 201)),
      "id");
  const std::string users_token = StringField(
      ResponseJson(ExpectAdmitted("POST", base + "/credentials", admin,
                                  R"({"role":"admin","user":")" + user + "\"}", 201)),
      "token");
  const std::string users_session = StringField(
      ResponseJson(ExpectAdmitted("POST", base + "/agents/" + a_.agent + "/sessions", users_token,
                                  R"({"task":"t"})", 201)),
      "token");
  const std::string admins_session = StringField(
      ResponseJson(ExpectAdmitted("POST", base + "/agents/" + a_.agent + "/sessions", admin,
                                  R"({"task":"t"})", 201)),
      "token");
  ExpectAdmitted("POST", base + "/users/" + user + "/disable", admin, "", 200);
  ExpectRefused("GET", "/v1/session", Bearer(users_session), "", 401, "session-revoked");
  ExpectAdmitted("GET", "/v1/session", admins_session, "", 200);
}

// A mandate-limited credential or session acts only on its mandates (specs/access.md §Roles,
// §Mandates): 403 mandate-out-of-scope on any other mandate, on its paths and as the parent of
// an issuance.
TEST_F(AccessTest, MandateScopedCallersStayInsideTheirMandates) {
  const std::string base = "/v1/principals/" + a_.id;
  const std::string admin = a_.token.at(Role::kAdmin);
  const std::string scoped = StringField(
      ResponseJson(ExpectAdmitted("POST", base + "/credentials", admin,
                                  R"({"role":"admin","name":"scoped to M","mandates":[")" +
                                      a_.mandate + "\"]}",
                                  201)),
      "token");
  ASSERT_FALSE(scoped.empty());

  // Outside its scope: the victim mandate (of the same agent) is refused on every path...
  const std::string outside = base + "/mandates/" + victim_.mandate;
  ExpectRefused("GET", outside, Bearer(scoped), "", 403, "mandate-out-of-scope");
  for (const char* action : {"/suspend", "/resume", "/revoke"}) {
    ExpectRefused("POST", outside + action, Bearer(scoped), "", 403, "mandate-out-of-scope");
  }
  // ...and it issues neither a root nor a delegation from a mandate outside its scope.
  ExpectRefused("POST", base + "/mandates", Bearer(scoped), MandateBody(a_.agent, ""), 403,
                "mandate-out-of-scope");
  ExpectRefused("POST", base + "/mandates", Bearer(scoped), MandateBody(a_.agent, victim_.mandate),
                403, "mandate-out-of-scope");

  // It issues no AP2 open mandate (new spending authority), and reads and revokes none.
  ExpectRefused("POST", base + "/ap2/mandates", Bearer(scoped),
                R"({"agent":")" + a_.agent +
                    R"(","kind":"payment","constraints":[{"type":"payment.budget","currency":"USD","max":100}]})",
                403, "mandate-out-of-scope");
  ExpectRefused("POST", base + "/ap2/mandates/" + ap2_mandate_ + "/revoke", Bearer(scoped), "",
                403, "mandate-out-of-scope");

  // The sessions it opens stay inside its mandates: none without a list (it would reach every
  // mandate of the agent), none naming another; one limited to its mandate opens.
  const std::string sessions = base + "/agents/" + a_.agent + "/sessions";
  ExpectRefused("POST", sessions, Bearer(scoped), R"({"task":"t"})", 403, "scope-widened");
  ExpectRefused("POST", sessions, Bearer(scoped),
                R"({"task":"t","mandates":[")" + victim_.mandate + "\"]}", 403, "scope-widened");
  const std::string own_session = StringField(
      ResponseJson(ExpectAdmitted("POST", sessions, scoped,
                                  R"({"task":"t","mandates":[")" + a_.mandate + "\"]}", 201)),
      "id");
  // It ends only sessions limited to its mandates: not one that reaches every mandate.
  ExpectRefused("POST", base + "/sessions/" + a_.session + "/revoke", Bearer(scoped), "", 403,
                "mandate-out-of-scope");
  ExpectAdmitted("POST", base + "/sessions/" + own_session + "/revoke", scoped, "", 200);

  // Inside its scope it works, and lists show only its mandate.
  const std::string inside = base + "/mandates/" + a_.mandate;
  EXPECT_EQ(StringField(ResponseJson(ExpectAdmitted("GET", inside, scoped, "", 200)), "id"),
            a_.mandate);
  const json::Value list = ResponseJson(ExpectAdmitted("GET", base + "/mandates", scoped, "", 200));
  ASSERT_NE(list.Find("items"), nullptr);
  ASSERT_EQ(list.Find("items")->items().size(), 1u) << json::Write(list);
  EXPECT_EQ(StringField(list.Find("items")->items()[0], "id"), a_.mandate);
  const json::Value child = ResponseJson(ExpectAdmitted(
      "POST", base + "/mandates", scoped, MandateBody(a_.agent, a_.mandate), 201));
  EXPECT_EQ(StringField(child, "parent"), a_.mandate);
  EXPECT_EQ(StringField(ResponseJson(ExpectAdmitted("POST", inside + "/suspend", scoped, "", 200)),
                        "state"),
            "suspended");
  EXPECT_EQ(StringField(ResponseJson(ExpectAdmitted("POST", inside + "/resume", scoped, "", 200)),
                        "state"),
            "active");
  // The unscoped admin sees the victim.
  ExpectAdmitted("GET", outside, admin, "", 200);
  // No ledger account is its mandate's: it reads none (the principal's and the agent's hold
  // every mandate's money), as if none existed.
  ExpectRefused("GET", "/v1/ledger/accounts/principal:" + a_.id, Bearer(scoped), "", 404,
                "account-not-found");
  ExpectRefused("GET", "/v1/ledger/accounts/agent:" + a_.agent, Bearer(scoped), "", 404,
                "account-not-found");
  ExpectAdmitted("GET", "/v1/ledger/accounts/principal:" + a_.id, admin, "", 200);

  // Users, agents, keys and credentials are the whole principal's: it creates, disables,
  // suspends, rotates and revokes none of them.
  ExpectRefused("POST", base + "/agents", Bearer(scoped),
                R"({"name":"more","did":")" + NewAgentDid() + "\"}", 403, "mandate-out-of-scope");
  for (const char* action : {"/suspend", "/revoke"}) {
    ExpectRefused("POST", base + "/agents/" + a_.agent + action, Bearer(scoped), "", 403,
                  "mandate-out-of-scope");
  }
  ExpectRefused("POST", base + "/users", Bearer(scoped), R"({"name":"u","roles":["admin"]})", 403,
                "mandate-out-of-scope");
  ExpectRefused("POST", base + "/users/" + a_.user.at(Role::kAdmin) + "/disable", Bearer(scoped),
                "", 403, "mandate-out-of-scope");
  ExpectRefused("POST", base + "/credentials/" + a_.credential.at(Role::kAdmin) + "/revoke",
                Bearer(scoped), "", 403, "mandate-out-of-scope");
  ExpectRefused("POST", base + "/keys", Bearer(scoped), R"({"type":"Ed25519","purpose":"issuer"})",
                403, "mandate-out-of-scope");
  for (const char* action : {"/rotate", "/disable"}) {
    ExpectRefused("POST", base + "/keys/" + a_.key + action, Bearer(scoped), "", 403,
                  "mandate-out-of-scope");
  }

  // A session opened with mandates is limited the same way: A's agent holds both mandates but
  // delegates only from the one its session names.
  const std::string session = StringField(
      ResponseJson(ExpectAdmitted("POST", base + "/agents/" + a_.agent + "/sessions", admin,
                                  R"({"task":"scoped","mandates":[")" + victim_.mandate + "\"]}",
                                  201)),
      "token");
  ASSERT_FALSE(session.empty());
  ExpectRefused("POST", base + "/mandates", Bearer(session), MandateBody(a_.agent, a_.mandate), 403,
                "mandate-out-of-scope");
  ExpectAdmitted("POST", base + "/mandates", session, MandateBody(a_.agent, victim_.mandate), 201);
  // It reads the headroom of its own mandates only, and signs no AP2 closing: an agent-signed
  // closing spends under none of the mandates it is limited to.
  ExpectRefused("GET", "/v1/headroom?mandate=" + a_.mandate, Bearer(session), "", 403,
                "mandate-out-of-scope");
  ExpectAdmitted("GET", "/v1/headroom?mandate=" + victim_.mandate, session, "", 200);
  ExpectRefused("POST", "/v1/ap2/present", Bearer(session), R"({"chain":"not-a-jwt~"})", 403,
                "mandate-out-of-scope");
}

// Who may issue what (specs/access.md §Mandates): agents only delegate, and only from a mandate
// they hold; an agent-limited credential issues only for its agents; another principal's agents
// and mandates do not exist.
TEST_F(AccessTest, MandateIssuanceFollowsTheDelegationRules) {
  const std::string base = "/v1/principals/" + a_.id;
  const std::string issue = base + "/mandates";
  const std::string admin = a_.token.at(Role::kAdmin);
  const std::string agent_x = a_.token.at(Role::kAgent);  // a session of A's agent X

  // An agent only delegates...
  ExpectRefused("POST", issue, Bearer(agent_x), MandateBody(a_.agent, ""), 403, "delegation-only");
  // ...from a mandate it holds: agent Y may not delegate from X's mandate.
  const std::string agent_y = OpenSession(a_, agent_y_, "y delegates");
  ASSERT_FALSE(agent_y.empty());
  ExpectRefused("POST", issue, Bearer(agent_y), MandateBody(agent_y_, a_.mandate), 403,
                "not-parent-holder");
  // X may, to another agent of its principal, which then holds the child.
  const json::Value child =
      ResponseJson(ExpectAdmitted("POST", issue, agent_x, MandateBody(agent_y_, a_.mandate), 201));
  EXPECT_EQ(StringField(child, "parent"), a_.mandate);
  EXPECT_EQ(StringField(child, "agent"), agent_y_);
  const std::string child_id = StringField(child, "id");
  ASSERT_FALSE(child_id.empty());
  ExpectRefused("POST", issue, Bearer(agent_x), MandateBody(a_.agent, child_id), 403,
                "not-parent-holder");
  EXPECT_EQ(StringField(ResponseJson(ExpectAdmitted("POST", issue, agent_y,
                                                    MandateBody(agent_y_, child_id), 201)),
                        "parent"),
            child_id);

  // An agent-limited credential issues only for its agents and sees only their mandates.
  ExpectRefused("POST", issue, Bearer(scoped_token_), MandateBody(agent_y_, ""), 403,
                "agent-out-of-scope");
  ExpectAdmitted("POST", issue, scoped_token_, MandateBody(a_.agent, ""), 201);
  // Nor delegates to its agent from a mandate another agent holds: the child would spend the
  // parent's budget, outside its agents.
  ExpectRefused("POST", issue, Bearer(scoped_token_), MandateBody(a_.agent, child_id), 403,
                "agent-out-of-scope");
  ExpectRefused("GET", issue + "/" + child_id, Bearer(scoped_token_), "", 403,
                "agent-out-of-scope");
  ExpectRefused("POST", issue + "/" + child_id + "/revoke", Bearer(scoped_token_), "", 403,
                "agent-out-of-scope");

  // Another principal's agent and mandate do not exist for A's admin (nor for the operator on
  // A's path).
  for (const std::string& token : {admin, std::string(kBootstrapToken)}) {
    ExpectRefused("POST", issue, Bearer(token), MandateBody(b_.agent, ""), 404, "agent-not-found");
    ExpectRefused("POST", issue, Bearer(token), MandateBody(a_.agent, b_.mandate), 404,
                  "mandate-not-found");
  }
}

// Who may act on an authorization (specs/access.md §Authorizations, specs/authorization.md §2):
// an agent sees and moves only its own, asks only under mandates it holds and its session
// allows; an agent-limited credential acts only on its agents' authorizations. None of these
// refusals writes anything, an idempotency record included.
TEST_F(AccessTest, AuthorizationsStayWithTheirAgent) {
  const std::string base = "/v1/principals/" + a_.id;
  const std::string admin = a_.token.at(Role::kAdmin);
  const std::string agent_x = a_.token.at(Role::kAgent);
  const std::string agent_y = OpenSession(a_, agent_y_, "y pays");
  const std::string agent_b = b_.token.at(Role::kAgent);
  ASSERT_FALSE(agent_y.empty());
  auto keyed = [](const std::string& token) {
    httplib::Headers h = Bearer(token);
    h.emplace("Idempotency-Key", "access-holder-rules");
    return h;
  };
  const std::string pay = R"({"mandate":")" + a_.mandate +
                          R"(","payee":{"type":"domain","value":"api.shop.example"},)"
                          R"("amount":"100","asset":"USD"})";
  const std::string x_atz = "/v1/authorizations/" + a_.authorization;

  // Another agent of A, and B's agent: X's authorization does not exist for them.
  for (const std::string& other : {agent_y, agent_b}) {
    ExpectRefused("GET", x_atz, Bearer(other), "", 404, "authorization-not-found");
    ExpectRefused("POST", x_atz + "/capture", keyed(other), "", 404, "authorization-not-found");
    ExpectRefused("POST", x_atz + "/void", keyed(other), "", 404, "authorization-not-found");
    ExpectRefused("GET", "/v1/headroom?mandate=" + a_.mandate, Bearer(other), "", 404,
                  "mandate-not-found");
  }
  // Asking under a mandate it does not hold, or of another principal.
  ExpectRefused("POST", "/v1/authorizations", keyed(agent_y), pay, 403, "not-mandate-holder");
  ExpectRefused("POST", "/v1/authorizations", keyed(agent_b), pay, 404, "mandate-not-found");
  // A session limited to other mandates.
  const std::string limited = StringField(
      ResponseJson(ExpectAdmitted("POST", base + "/agents/" + a_.agent + "/sessions", admin,
                                  R"({"task":"limited","mandates":[")" + victim_.mandate + "\"]}",
                                  201)),
      "token");
  ASSERT_FALSE(limited.empty());
  ExpectRefused("POST", "/v1/authorizations", keyed(limited), pay, 403, "mandate-out-of-scope");

  // X itself sees its authorization and headroom.
  EXPECT_EQ(StringField(ResponseJson(ExpectAdmitted("GET", x_atz, agent_x, "", 200)), "id"),
            a_.authorization);
  ExpectAdmitted("GET", "/v1/headroom?mandate=" + a_.mandate, agent_x, "", 200);

  // An authorization of agent Y, and the admin credential limited to X.
  const YAuthorization y = AuthorizeAsY(agent_y, "100", "allowed");
  ASSERT_FALSE(y.authorization.empty());
  ExpectRefused("GET", base + "/authorizations/" + y.authorization, Bearer(scoped_token_), "",
                403, "agent-out-of-scope");
  ExpectRefused("GET", base + "/agents/" + agent_y_ + "/headroom", Bearer(scoped_token_), "", 403,
                "agent-out-of-scope");
  // Its list shows only X's authorizations; the unscoped admin sees Y's.
  const json::Value list =
      ResponseJson(ExpectAdmitted("GET", base + "/authorizations", scoped_token_, "", 200));
  ASSERT_NE(list.Find("items"), nullptr);
  EXPECT_FALSE(list.Find("items")->items().empty());
  for (const json::Value& x : list.Find("items")->items()) {
    EXPECT_EQ(StringField(x, "agent"), a_.agent);
  }
  ExpectAdmitted("GET", base + "/authorizations/" + y.authorization, admin, "", 200);
}

// A credential limited to agent X neither captures nor voids agent Y's reservations, nor reads
// the headroom of Y's mandates, nor reads or decides Y's approvals (specs/access.md
// §Authorizations): 403 agent-out-of-scope, with nothing written.
TEST_F(AccessTest, AgentScopedCredentialMovesOnlyItsAgentsAuthorizations) {
  const std::string base = "/v1/principals/" + a_.id;
  const std::string agent_y = OpenSession(a_, agent_y_, "y pays");
  ASSERT_FALSE(agent_y.empty());
  const YAuthorization y = AuthorizeAsY(agent_y, "100", "allowed");
  const YAuthorization stepped = AuthorizeAsY(agent_y, "600", "approval_required");
  ASSERT_FALSE(y.authorization.empty());
  ASSERT_FALSE(stepped.approval.empty());
  const httplib::Headers scoped = Bearer(scoped_token_);
  auto keyed = [&](const std::string& key) {
    httplib::Headers h = scoped;
    h.emplace("Idempotency-Key", key);
    return h;
  };
  for (const char* action : {"/capture", "/void"}) {
    ExpectRefused("POST", base + "/authorizations/" + y.authorization + action,
                  keyed(std::string("scoped") + action), "", 403, "agent-out-of-scope");
  }
  ExpectRefused("GET", base + "/mandates/" + y.mandate + "/headroom", scoped, "", 403,
                "agent-out-of-scope");
  ExpectRefused("GET", base + "/approvals/" + stepped.approval, scoped, "", 403,
                "agent-out-of-scope");
  for (const char* action : {"/approve", "/deny"}) {
    ExpectRefused("POST", base + "/approvals/" + stepped.approval + action,
                  keyed(std::string("scoped") + action), "", 403, "agent-out-of-scope");
  }
}

// A credential limited to mandates reads and moves only the authorizations and approvals under
// them (specs/access.md §Authorizations): Y's under Y's mandate are 403 mandate-out-of-scope,
// nothing is written, and its approval list leaves them out.
TEST_F(AccessTest, MandateScopedCredentialMovesOnlyItsMandatesAuthorizations) {
  const std::string base = "/v1/principals/" + a_.id;
  const std::string agent_y = OpenSession(a_, agent_y_, "y pays");
  ASSERT_FALSE(agent_y.empty());
  const YAuthorization y = AuthorizeAsY(agent_y, "100", "allowed");
  const YAuthorization stepped = AuthorizeAsY(agent_y, "600", "approval_required");
  ASSERT_FALSE(y.authorization.empty());
  ASSERT_FALSE(stepped.approval.empty());
  const std::string admin = a_.token.at(Role::kAdmin);
  const std::string by_mandate = StringField(
      ResponseJson(ExpectAdmitted("POST", base + "/credentials", admin,
                                  R"({"role":"admin","name":"only M","mandates":[")" +
                                      a_.mandate + "\"]}",
                                  201)),
      "token");
  ASSERT_FALSE(by_mandate.empty());
  auto keyed = [&](const std::string& key) {
    httplib::Headers h = Bearer(by_mandate);
    h.emplace("Idempotency-Key", key);
    return h;
  };
  ExpectRefused("GET", base + "/authorizations/" + y.authorization, Bearer(by_mandate), "", 403,
                "mandate-out-of-scope");
  for (const char* action : {"/capture", "/void"}) {
    ExpectRefused("POST", base + "/authorizations/" + y.authorization + action,
                  keyed(std::string("by-mandate") + action), "", 403, "mandate-out-of-scope");
  }
  ExpectRefused("GET", base + "/approvals/" + stepped.approval, Bearer(by_mandate), "", 403,
                "mandate-out-of-scope");
  for (const char* action : {"/approve", "/deny"}) {
    ExpectRefused("POST", base + "/approvals/" + stepped.approval + action,
                  keyed(std::string("by-mandate") + action), "", 403, "mandate-out-of-scope");
  }
  const json::Value list =
      ResponseJson(ExpectAdmitted("GET", base + "/approvals", by_mandate, "", 200));
  ASSERT_NE(list.Find("items"), nullptr);
  for (const json::Value& item : list.Find("items")->items()) {
    EXPECT_NE(StringField(item, "id"), stepped.approval);
  }
  // The headroom of A's agent, which holds both A's mandate and the victim: only A's mandate
  // for the limited credential, both for the admin.
  for (const std::string& path : {base + "/agents/" + a_.agent + "/headroom"}) {
    SCOPED_TRACE(path);
    const std::string limited = json::Write(
        ResponseJson(ExpectAdmitted("GET", path, by_mandate, "", 200)));
    const std::string whole = json::Write(ResponseJson(ExpectAdmitted("GET", path, admin, "", 200)));
    EXPECT_EQ(limited.find(victim_.mandate), std::string::npos) << limited;
    EXPECT_NE(whole.find(victim_.mandate), std::string::npos) << whole;
  }
  // Nothing moved: the hold is still reserved, the approval still pending.
  const json::Value held =
      ResponseJson(ExpectAdmitted("GET", base + "/authorizations/" + y.authorization, admin, "", 200));
  EXPECT_EQ(StringField(*held.Find("reservation"), "state"), "reserved");
  EXPECT_EQ(StringField(ResponseJson(ExpectAdmitted("GET", base + "/approvals/" + stepped.approval,
                                                    admin, "", 200)),
                        "state"),
            "pending");
}

// Verification is open to every authenticated caller; recording a use needs mandates:use
// (specs/access.md §Mandates), and a refused use records nothing.
TEST_F(AccessTest, VerifyingIsOpenButRecordingAUseNeedsMandatesUse) {
  const std::string verify = "/v1/mandates/verify";
  const std::string plain = R"({"mandate":")" + a_.mandate_token + "\"}";
  const std::string with_use = R"({"mandate":")" + a_.mandate_token + R"(","use":{"key":"k-1"}})";
  for (const Caller& c : Callers()) {
    SCOPED_TRACE(c.label);
    const json::Value v = ResponseJson(ExpectAdmitted("POST", verify, c.token, plain, 200));
    EXPECT_EQ(StringField(v, "verdict"), "valid") << json::Write(v);
    EXPECT_EQ(v.Find("use"), nullptr);
    if (!SpecAllows(c.role, Permission::kUseMandates)) {
      ExpectRefused("POST", verify, Bearer(c.token), with_use, 403, "forbidden");
    }
  }
  // A merchant credential limited to other agents records no use of this agent's mandate (it
  // could use it up); its own agent's it may.
  const std::string base = "/v1/principals/" + a_.id;
  const std::string y_token = StringField(
      ResponseJson(ExpectAdmitted("POST", base + "/mandates", a_.token.at(Role::kAdmin),
                                  MandateBody(agent_y_, ""), 201)),
      "token");
  const std::string merchant_of_y = StringField(
      ResponseJson(ExpectAdmitted("POST", base + "/credentials", a_.token.at(Role::kAdmin),
                                  R"({"role":"merchant","agents":[")" + agent_y_ + "\"]}", 201)),
      "token");
  ExpectRefused("POST", verify, Bearer(merchant_of_y), with_use, 403, "agent-out-of-scope");
  const json::Value own_use = ResponseJson(ExpectAdmitted(
      "POST", verify, merchant_of_y,
      R"({"mandate":")" + y_token + R"(","use":{"key":"y-1"}})", 200));
  EXPECT_EQ(StringField(own_use, "verdict"), "valid") << json::Write(own_use);
  ASSERT_NE(own_use.Find("use"), nullptr) << json::Write(own_use);
  // A's merchant records a use; the same key again is answered as a replay, counted once.
  for (const bool replayed : {false, true}) {
    const json::Value v = ResponseJson(
        ExpectAdmitted("POST", verify, a_.token.at(Role::kMerchant), with_use, 200));
    EXPECT_EQ(StringField(v, "verdict"), "valid") << json::Write(v);
    const json::Value* use = v.Find("use");
    ASSERT_NE(use, nullptr) << json::Write(v);
    ASSERT_NE(use->Find("uses"), nullptr);
    EXPECT_EQ(use->Find("uses")->as_int64(), 1);
    ASSERT_NE(use->Find("replayed"), nullptr);
    EXPECT_EQ(use->Find("replayed")->as_bool(), replayed);
  }
}

// Must-show 2: tokens are shown once, in the creating response; storage and logs hold at most
// the SHA-256 of a secret, never the secret.
TEST_F(AccessTest, TokensAppearNowhereInStorageOrLogs) {
  const std::string base = "/v1/principals/" + a_.id;
  // Use every token, so each passes through authentication and the access log.
  for (const Caller& c : Callers()) {
    SCOPED_TRACE(c.label);
    if (c.role == Role::kAgent) {
      ExpectAdmitted("GET", "/v1/session", c.token, "", 200);
    } else if (c.role == Role::kOperator) {
      ExpectAdmitted("GET", "/v1/principals", c.token, "", 200);
    } else {
      ExpectAdmitted("GET", "/v1/principals/" + (c.principal == "A" ? a_.id : b_.id), c.token, "",
                     200);
    }
  }
  ExpectAdmitted("GET", base + "/agents", scoped_token_, "", 200);
  ExpectRefused("GET", base, Bearer(revoked_credential_token_), "", 401, "credential-revoked");

  // Reads never show a token (or its hash).
  const std::string admin = a_.token.at(Role::kAdmin);
  const json::Value creds = ResponseJson(ExpectAdmitted("GET", base + "/credentials", admin, "", 200));
  ASSERT_NE(creds.Find("items"), nullptr);
  EXPECT_GE(creds.Find("items")->items().size(), 4u);
  for (const json::Value& c : creds.Find("items")->items()) {
    EXPECT_EQ(c.Find("token"), nullptr) << json::Write(c);
    EXPECT_EQ(c.Find("secret_sha256"), nullptr) << json::Write(c);
    const json::Value one =
        ResponseJson(ExpectAdmitted("GET", base + "/credentials/" + StringField(c, "id"), admin, "", 200));
    EXPECT_EQ(StringField(one, "id"), StringField(c, "id"));
    EXPECT_EQ(one.Find("token"), nullptr) << json::Write(one);
    EXPECT_EQ(one.Find("secret_sha256"), nullptr) << json::Write(one);
  }
  const json::Value sessions = ResponseJson(ExpectAdmitted("GET", base + "/sessions", admin, "", 200));
  ASSERT_NE(sessions.Find("items"), nullptr);
  EXPECT_GE(sessions.Find("items")->items().size(), 3u);
  for (const json::Value& s : sessions.Find("items")->items()) {
    EXPECT_EQ(s.Find("token"), nullptr) << json::Write(s);
    EXPECT_EQ(s.Find("secret_sha256"), nullptr) << json::Write(s);
    const json::Value one =
        ResponseJson(ExpectAdmitted("GET", base + "/sessions/" + StringField(s, "id"), admin, "", 200));
    EXPECT_EQ(one.Find("token"), nullptr) << json::Write(one);
  }
  const json::Value own =
      ResponseJson(ExpectAdmitted("GET", "/v1/session", a_.token.at(Role::kAgent), "", 200));
  EXPECT_EQ(StringField(own, "id"), a_.session);
  EXPECT_EQ(own.Find("token"), nullptr);
  // The operator's, 2 x (4 credentials + 1 session) and the fixture's 8 extra tokens.
  ASSERT_EQ(tokens_.size(), 19u);

  // Storage: every file of the data directory and the KEK beside it, read as bytes, once while
  // the service runs (everything still in the write-ahead log) and once after it stopped.
  auto scan_files = [&](const std::string& when) {
    SCOPED_TRACE(when);
    std::string all;
    int files = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path())) {
      if (e.is_regular_file()) {
        all += testing::ReadFileOrDie(e.path().string());
        ++files;
      }
    }
    EXPECT_GE(files, 5);
    EXPECT_TRUE(std::filesystem::exists(dir_.Sub("data.kek")));
    for (const std::string& t : tokens_) {
      SCOPED_TRACE(t.substr(0, t.find('.')));
      EXPECT_EQ(all.find(t), std::string::npos) << "a token is stored in clear";
      EXPECT_EQ(all.find(SecretPart(t)), std::string::npos) << "a token secret is stored in clear";
      if (t != kBootstrapToken) {
        Result<Bytes> raw = Base64UrlDecode(SecretPart(t));
        ASSERT_TRUE(raw.ok());
        ASSERT_EQ(raw->size(), 32u);
        EXPECT_EQ(all.find(std::string(AsChars(*raw))), std::string::npos)
            << "a token secret is stored as raw bytes";
        // What may be stored: the id and the SHA-256 of the secret. Finding them shows the
        // scan reads the records a leak would be in.
        EXPECT_NE(all.find(t.substr(0, t.find('.'))), std::string::npos);
        EXPECT_NE(all.find(HexEncode(signer::Sha256(AsBytes(SecretPart(t))))), std::string::npos);
      }
    }
  };
  scan_files("while running");
  StopApp();
  scan_files("after a clean stop");

  // Logs: captured from the first line of this test's service to the last.
  std::lock_guard<std::mutex> lock(log_mu_);
  ASSERT_GT(logs_.size(), 50u);
  std::string joined;
  for (const std::string& line : logs_) {
    joined += line;
  }
  for (const std::string& t : tokens_) {
    SCOPED_TRACE(t.substr(0, t.find('.')));
    EXPECT_EQ(joined.find(SecretPart(t)), std::string::npos) << "a token secret is logged";
    EXPECT_EQ(joined.find(t), std::string::npos) << "a token is logged";
  }
  // The visible ids are logged (the access log names the credential), so the capture works.
  EXPECT_NE(joined.find("\"credential\":\"" + a_.credential.at(Role::kAuditor) + "\""),
            std::string::npos);
  EXPECT_NE(joined.find("\"msg\":\"credential created\""), std::string::npos);
  EXPECT_NE(joined.find("\"session\":\"" + a_.session + "\""), std::string::npos);
}

}  // namespace
}  // namespace mandated
