// IdempotencyPruner: the background task that deletes idempotency records past their TTL,
// cycling through the operator's service-wide keys and every principal's, one bounded
// IdempotencyKeys::PruneExpired pass at a time (specs/authorization.md §6).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "base/periodic_task.h"
#include "base/result.h"
#include "policy/idempotency.h"
#include "store/kv_store.h"

namespace mandated::policy {

// Thread safety: Start and Stop from one thread (the app's). PassOnce is what the background
// thread runs; tests call it directly, never while the thread runs.
class IdempotencyPruner {
 public:
  // The ids of up to `limit` principals after `after` (from the first when empty), in order.
  using PrincipalLister =
      std::function<Result<std::vector<std::string>>(const std::string& after, size_t limit)>;

  IdempotencyPruner(store::KvStore& kv, IdempotencyKeys& keys, PrincipalLister principals,
                    size_t records_per_pass = 1000, PeriodicTaskOptions options = {});

  void Start() { task_.Start(); }
  void Stop() { task_.Stop(); }

  // One pass over at most records_per_pass records of the principal whose turn it is (the
  // operator's keys, principal "", come first); then the next principal's turn, and after the
  // last one the operator's again. Returns whether more is waiting before the next round.
  // Errors: the store's (the next pass retries from the same place).
  Result<bool> PassOnce();

 private:
  store::KvStore& kv_;
  IdempotencyKeys& keys_;
  const PrincipalLister principals_;
  const size_t records_per_pass_;
  std::string principal_;  // whose records the next pass looks at ("": the operator's)
  std::string after_;      // where in them
  PeriodicTask task_;      // last: stopped (destroyed) before the members its passes use
};

}  // namespace mandated::policy
