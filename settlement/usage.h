// UsageMeter: metered consumption (specs/x402.md §7): usage events reported in batches and settled
// x402 payments, de-duplicated by event id for at least 24 hours, aggregated per principal, agent,
// mandate, payee, asset, resource and window, with spend, burn rate and projected depletion.
// PLACEHOLDER CONTRACT: the usage work replaces this file; the facilitator and App rely only on
// Open, UsageEvent, StagePayment and CommittedPayment as declared here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/amount.h"
#include "base/clock.h"
#include "base/result.h"
#include "store/kv_store.h"

namespace mandated::settlement {

inline constexpr char kUsageFamily[] = "usage";

// One metered unit of consumption. Thread safety: value type.
struct UsageEvent {
  std::string id;         // the reporter's id, unique per principal (payments: "x402:<nonce>")
  std::string principal;  // whose budget it counts against
  std::string agent;      // "" if not stated
  std::string mandate;    // "" if not stated
  std::string payee;
  std::string asset;
  Amount amount;
  uint64_t quantity = 1;
  std::string resource;   // "" if not stated
  int64_t at = 0;         // unix seconds
  std::string source;     // "usage" (reported) | "payment" (a settled x402 payment)
};

// Thread safety: safe from any thread.
class UsageMeter {
 public:
  static Result<std::unique_ptr<UsageMeter>> Open(store::KvStore& kv, Clock& clock);
  virtual ~UsageMeter() = default;

  // For the facilitator: adds a settled payment's usage record to the settlement's own batch
  // (so the payment and its metering commit together), then, after that batch committed,
  // CommittedPayment makes it count in the in-memory aggregates.
  virtual void StagePayment(store::WriteBatch& batch, const UsageEvent& e) = 0;
  virtual void CommittedPayment(const UsageEvent& e) = 0;
};

}  // namespace mandated::settlement
