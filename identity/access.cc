// The role table of specs/access.md §Roles.
#include "identity/access.h"

#include <algorithm>

namespace mandated::identity {

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kOperator: return "operator";
    case Role::kAdmin: return "admin";
    case Role::kApprover: return "approver";
    case Role::kAuditor: return "auditor";
    case Role::kMerchant: return "merchant";
    case Role::kAgent: return "agent";
  }
  return "unknown";
}

Result<Role> GrantableRoleFromName(std::string_view name) {
  for (Role r : {Role::kAdmin, Role::kApprover, Role::kAuditor, Role::kMerchant}) {
    if (RoleName(r) == name) {
      return r;
    }
  }
  return InvalidArgumentError("role must be one of admin, approver, auditor, merchant",
                              "bad-role");
}

std::string_view PermissionName(Permission p) {
  switch (p) {
    case Permission::kManagePrincipals: return "principals:manage";
    case Permission::kManageServiceKeys: return "service-keys:manage";
    case Permission::kManageBackups: return "backups:manage";
    case Permission::kReadPrincipal: return "principal:read";
    case Permission::kReadUsers: return "users:read";
    case Permission::kManageUsers: return "users:manage";
    case Permission::kReadCredentials: return "credentials:read";
    case Permission::kManageCredentials: return "credentials:manage";
    case Permission::kReadAgents: return "agents:read";
    case Permission::kManageAgents: return "agents:manage";
    case Permission::kReadSessions: return "sessions:read";
    case Permission::kManageSessions: return "sessions:manage";
    case Permission::kReadKeys: return "keys:read";
    case Permission::kManageKeys: return "keys:manage";
    case Permission::kOwnSession: return "session:own";
    case Permission::kReadMandates: return "mandates:read";
    case Permission::kIssueMandates: return "mandates:issue";
    case Permission::kManageMandates: return "mandates:manage";
    case Permission::kVerifyMandates: return "mandates:verify";
    case Permission::kUseMandates: return "mandates:use";
    case Permission::kAuthorize: return "authorizations:request";
    case Permission::kReadAuthorizations: return "authorizations:read";
    case Permission::kManageAuthorizations: return "authorizations:manage";
    case Permission::kReadApprovals: return "approvals:read";
    case Permission::kDecideApprovals: return "approvals:decide";
    case Permission::kReadAudit: return "audit:read";
    case Permission::kFacilitate: return "x402:facilitate";
    case Permission::kPay: return "x402:pay";
    case Permission::kReadLedger: return "ledger:read";
    case Permission::kManageLedger: return "ledger:manage";
    case Permission::kReportUsage: return "usage:report";
    case Permission::kReadUsage: return "usage:read";
  }
  return "unknown";
}

bool RoleAllows(Role role, Permission p) {
  switch (role) {
    case Role::kOperator:
      // The operator administers the service and stands in for any principal's admin (to
      // bootstrap and to recover a principal that lost its admin credentials).
      // Only agents ask for authorizations: a purchase is always some agent's, in a session.
      return p != Permission::kOwnSession && p != Permission::kAuthorize &&
             p != Permission::kPay;
    case Role::kAdmin:
      return p != Permission::kManagePrincipals && p != Permission::kManageServiceKeys &&
             p != Permission::kManageBackups && p != Permission::kOwnSession && p != Permission::kAuthorize &&
             p != Permission::kPay && p != Permission::kReadAudit;
    case Role::kApprover:
      return p == Permission::kReadPrincipal || p == Permission::kReadAgents ||
             p == Permission::kReadSessions || p == Permission::kReadMandates ||
             p == Permission::kVerifyMandates || p == Permission::kReadAuthorizations ||
             p == Permission::kReadApprovals || p == Permission::kDecideApprovals;
    case Role::kAuditor:
      return p == Permission::kReadPrincipal || p == Permission::kReadUsers ||
             p == Permission::kReadCredentials || p == Permission::kReadAgents ||
             p == Permission::kReadSessions || p == Permission::kReadKeys ||
             p == Permission::kReadMandates || p == Permission::kVerifyMandates ||
             p == Permission::kReadAuthorizations || p == Permission::kReadApprovals ||
             p == Permission::kReadAudit || p == Permission::kReadLedger ||
             p == Permission::kReadUsage;
    case Role::kMerchant:
      return p == Permission::kReadPrincipal || p == Permission::kVerifyMandates ||
             p == Permission::kUseMandates || p == Permission::kFacilitate ||
             p == Permission::kReportUsage;
    case Role::kAgent:
      return p == Permission::kOwnSession || p == Permission::kIssueMandates ||
             p == Permission::kVerifyMandates || p == Permission::kAuthorize ||
             p == Permission::kPay;
  }
  return false;
}

bool Caller::InAgentScope(std::string_view id) const {
  return agent_scope.empty() ||
         std::find(agent_scope.begin(), agent_scope.end(), id) != agent_scope.end();
}

bool Caller::InMandateScope(std::string_view id) const {
  return mandate_scope.empty() ||
         std::find(mandate_scope.begin(), mandate_scope.end(), id) != mandate_scope.end();
}

}  // namespace mandated::identity
