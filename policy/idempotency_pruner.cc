// IdempotencyPruner: the retention task for idempotency records.
#include "policy/idempotency_pruner.h"

#include <cstdint>
#include <utility>

#include "base/log.h"
#include "identity/tenant.h"

namespace mandated::policy {

IdempotencyPruner::IdempotencyPruner(store::KvStore& kv, IdempotencyKeys& keys,
                                     PrincipalLister principals, size_t records_per_pass,
                                     PeriodicTaskOptions options)
    : kv_(kv),
      keys_(keys),
      principals_(std::move(principals)),
      records_per_pass_(records_per_pass),
      task_("idempotency prune", [this] { return PassOnce(); }, options) {}

Result<bool> IdempotencyPruner::PassOnce() {
  MD_ASSIGN_OR_RETURN(IdempotencyPrunePass pass,
                      keys_.PruneExpired(identity::Tenant(kv_, principal_), after_,
                                         records_per_pass_));
  if (pass.pruned > 0) {
    log::Info("idempotency records pruned",
              {{"principal", principal_.empty() ? std::string("operator") : principal_},
               {"pruned", static_cast<uint64_t>(pass.pruned)},
               {"examined", static_cast<uint64_t>(pass.examined)}});
  }
  if (!pass.next_after.empty()) {
    after_ = std::move(pass.next_after);
    return true;
  }
  // This principal's records are done: the next principal's turn, or a new round.
  MD_ASSIGN_OR_RETURN(std::vector<std::string> next, principals_(principal_, 1));
  after_.clear();
  if (next.empty()) {
    principal_.clear();
    return false;
  }
  principal_ = std::move(next.front());
  return true;
}

}  // namespace mandated::policy
