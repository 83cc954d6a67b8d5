// TenantPruner: the retention task for per-principal records.
#include "identity/tenant_pruner.h"

#include <cstdint>
#include <utility>

#include "base/log.h"

namespace mandated::identity {

TenantPruner::TenantPruner(store::KvStore& kv, std::vector<PruneSweep> sweeps,
                           PrincipalLister principals, size_t records_per_pass,
                           PeriodicTaskOptions options)
    : kv_(kv),
      sweeps_(std::move(sweeps)),
      principals_(std::move(principals)),
      records_per_pass_(records_per_pass),
      task_("tenant prune", [this] { return PassOnce(); }, options) {}

Result<bool> TenantPruner::PassOnce() {
  if (sweeps_.empty()) return false;
  const PruneSweep& sweep = sweeps_[sweep_];
  MD_ASSIGN_OR_RETURN(PrunePass pass,
                      sweep.run(Tenant(kv_, principal_), after_, records_per_pass_));
  if (pass.pruned > 0) {
    log::Info(sweep.name + " pruned",
              {{"principal", principal_.empty() ? std::string("operator") : principal_},
               {"pruned", static_cast<uint64_t>(pass.pruned)},
               {"examined", static_cast<uint64_t>(pass.examined)}});
  }
  if (!pass.next_after.empty()) {
    after_ = std::move(pass.next_after);
    return true;
  }
  after_.clear();
  // This sweep is done with this principal: the next sweep's turn, or the next principal's.
  if (sweep_ + 1 < sweeps_.size()) {
    ++sweep_;
    return true;
  }
  MD_ASSIGN_OR_RETURN(std::vector<std::string> next, principals_(principal_, 1));
  sweep_ = 0;
  if (next.empty()) {
    principal_.clear();
    return false;
  }
  principal_ = std::move(next.front());
  return true;
}

}  // namespace mandated::identity
