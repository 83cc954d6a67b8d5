// Roles, permissions and the authenticated caller: who may do what inside a principal
// (specs/access.md). The role table lives here and nowhere else.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace mandated::identity {

// kOperator runs the service (the bootstrap token); kAgent is an agent acting through a session.
// The other four are the roles a principal's users and credentials hold.
enum class Role { kOperator, kAdmin, kApprover, kAuditor, kMerchant, kAgent };

std::string_view RoleName(Role r);
// Parses one of the four credential roles (admin, approver, auditor, merchant); kInvalidArgument
// ("bad-role") otherwise: operator and agent cannot be granted.
Result<Role> GrantableRoleFromName(std::string_view name);

enum class Permission {
  kManagePrincipals,   // create and list principals (operator only)
  kManageServiceKeys,  // the service's own keys (operator only)
  kManageBackups,      // take and list backups of the whole store (operator only)
  kReadPrincipal,
  kReadUsers,
  kManageUsers,
  kReadCredentials,
  kManageCredentials,
  kReadAgents,
  kManageAgents,
  kReadSessions,
  kManageSessions,
  kReadKeys,
  kManageKeys,
  kOwnSession,  // an agent reading or ending the session it calls with
  kReadMandates,
  kIssueMandates,    // admins issue any mandate; agents only delegate from mandates they hold
  kManageMandates,   // revoke, suspend, resume
  kVerifyMandates,   // POST /v1/mandates/verify: every authenticated caller
  kUseMandates,      // record a use while verifying (merchants, admins)
  kAuthorize,        // ask for a decision, and capture or void one's own (agent sessions)
  kReadAuthorizations,    // read decisions, reservations and headroom
  kManageAuthorizations,  // capture or void any reservation of the principal
  kReadApprovals,
  kDecideApprovals,       // approve or deny a pending step-up
  kReadAudit,             // the audit trail, checkpoints and proofs (auditors, operator)
  kFacilitate,            // x402 /verify and /settle (merchants, admins, operator)
  kPay,                   // x402 payments signed by the agent's custodial key (agent sessions)
  kReadLedger,            // balances and transfers of the principal's accounts
  kManageLedger,          // deposits (admins, operator)
  kReportUsage,           // POST /v1/usage (merchants, admins, operator)
  kReadUsage,             // usage aggregates, burn rate and depletion
};

std::string_view PermissionName(Permission p);
bool RoleAllows(Role role, Permission permission);

// Token bucket parameters (specs/access.md §Rate limits).
struct RateLimit {
  int64_t per_second = 0;
  int64_t burst = 0;
};

// The authenticated caller of one request. Built only by Directory::Authenticate.
// Thread safety: value type.
struct Caller {
  Role role = Role::kOperator;
  std::string principal_id;   // "" for the operator
  std::string credential_id;  // "operator", a credential id or a session id: the rate-limit key
  std::string user_id;        // the user a credential belongs to, if any
  std::optional<int64_t> credential_expires_at;  // a credential's own expiry, if it has one
  std::vector<std::string> agent_scope;    // empty: every agent of the principal
  std::vector<std::string> mandate_scope;  // empty: every mandate of the principal
  std::string session_id;     // set for agents
  std::string agent_id;       // set for agents
  std::optional<RateLimit> agent_rate_limit;  // the agent's own limit, if it has one

  bool InAgentScope(std::string_view agent_id) const;
  bool InMandateScope(std::string_view mandate_id) const;
};

}  // namespace mandated::identity
