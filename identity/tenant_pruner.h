// TenantPruner: the background task that deletes per-principal records past their retention
// (idempotency records, spent and expired AP2 challenges), cycling through the operator's
// records and every principal's, one bounded sweep pass at a time (specs/storage.md §Retention).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "base/periodic_task.h"
#include "base/result.h"
#include "identity/tenant.h"
#include "store/kv_store.h"

namespace mandated::identity {

// What one sweep pass over one principal's records did.
struct PrunePass {
  size_t examined = 0;  // records looked at (at most the pass's limit)
  size_t pruned = 0;    // records deleted
  // The last record looked at, where the principal's next pass resumes; empty when this pass
  // reached the principal's last record.
  std::string next_after;
};

// One kind of record to prune: `run` looks at up to `limit` of the principal's records after
// `after` (from the first when empty) and deletes those past their retention.
struct PruneSweep {
  std::string name;  // for the log: "idempotency records"
  std::function<Result<PrunePass>(const Tenant& t, const std::string& after, size_t limit)> run;
};

// Thread safety: Start and Stop from one thread (the app's). PassOnce is what the background
// thread runs; tests call it directly, never while the thread runs.
class TenantPruner {
 public:
  // The ids of up to `limit` principals after `after` (from the first when empty), in order.
  using PrincipalLister =
      std::function<Result<std::vector<std::string>>(const std::string& after, size_t limit)>;

  TenantPruner(store::KvStore& kv, std::vector<PruneSweep> sweeps, PrincipalLister principals,
               size_t records_per_pass = 1000, PeriodicTaskOptions options = {});
  TenantPruner(const TenantPruner&) = delete;
  TenantPruner& operator=(const TenantPruner&) = delete;

  void Start() { task_.Start(); }
  void Stop() { task_.Stop(); }

  // One pass of one sweep over at most records_per_pass records of the principal whose turn it
  // is (the operator's records, principal "", come first). When the sweep reaches that
  // principal's last record, the next sweep's turn; after the last sweep, the next principal's,
  // and after the last principal the operator's again. Returns whether more is waiting before
  // the next round. Errors: the sweep's or the lister's (the next pass retries from the same
  // place).
  Result<bool> PassOnce();

 private:
  store::KvStore& kv_;
  const std::vector<PruneSweep> sweeps_;
  const PrincipalLister principals_;
  const size_t records_per_pass_;
  std::string principal_;  // whose records the next pass looks at ("": the operator's)
  size_t sweep_ = 0;       // which sweep
  std::string after_;      // where in its records
  PeriodicTask task_;      // last: stopped (destroyed) before the members its passes use
};

}  // namespace mandated::identity
