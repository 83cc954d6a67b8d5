// UsageMeter: metered consumption (specs/usage.md): usage events reported in batches and settled
// payments (x402 transfers, AP2 closings paid on the ledger), de-duplicated by event id for at least 24 hours, aggregated per principal, agent,
// mandate, payee, asset, resource and window, with spend, burn rate and projected depletion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/amount.h"
#include "base/clock.h"
#include "base/result.h"
#include "store/kv_store.h"

namespace mandated::settlement {

inline constexpr char kUsageFamily[] = "usage";
// The most events one Ingest (one POST /v1/usage) takes.
inline constexpr size_t kMaxUsageBatch = 10000;
// The audit event type of an ingested batch (specs/audit.md §1.3).
inline constexpr char kUsageRecordedEvent[] = "usage.recorded";

// One metered unit of consumption. Thread safety: value type.
struct UsageEvent {
  std::string id;         // the reporter's id, unique per principal (payments: "x402:<nonce>",
                          // "ap2:<closed id>")
  std::string principal;  // whose budget it counts against
  std::string agent;      // "" if not stated
  std::string mandate;    // "" if not stated
  std::string payee;
  std::string asset;
  Amount amount;
  uint64_t quantity = 1;
  std::string resource;   // "" if not stated
  int64_t at = 0;         // unix seconds; 0 when the reporter did not say (Ingest stamps it)
  std::string source;     // "usage" (reported) | "payment" (a settled x402 payment or an AP2
                          // closing paid on the ledger, "ap2:<closed id>")
};

// What happened to one event of a batch.
enum class IngestStatus : uint8_t {
  kAccepted,   // new: stored and counted
  kDuplicate,  // its id was seen (within the retention) with the same content: not counted again
  kConflict,   // its id was seen with different content: refused, nothing counted
};

struct IngestResult {
  std::vector<IngestStatus> status;  // one per event, in batch order
  size_t accepted = 0;
  size_t duplicates = 0;
  size_t conflicts = 0;
  std::string batch;  // the stored batch record's key ("" when nothing was accepted)
};

struct UsageMeterOptions {
  // Ids are remembered at least this long after their batch was ingested (and at most
  // retention + prune_interval).
  int64_t retention_s = 86400;
  int64_t prune_interval_s = 3600;
  // Reported `at` may be at most this far ahead of the service clock.
  int64_t max_future_s = 300;
};

// The windows a query groups by (calendar, UTC); kTotal is one row per group over [from, to).
enum class Granularity { kMinute, kHour, kDay, kMonth, kTotal };
// "minute", "hour", "day", "month", "total"; kInvalidArgument ("usage-query-invalid") otherwise.
Result<Granularity> ParseGranularity(std::string_view text);

// An aggregate query (specs/usage.md §4). Rows are always per asset (no implicit FX).
struct UsageQuery {
  std::string principal;
  bool by_agent = false, by_mandate = false, by_payee = false, by_resource = false,
       by_source = false;
  Granularity window = Granularity::kTotal;
  // Bounds on `at`, unix seconds, [from, to), applied at minute resolution (rounded down).
  std::optional<int64_t> from, to;
  // Filters: "" matches every value.
  std::string agent, mandate, payee, asset, resource, source;
  // More rows than this: Query stops at once with kInvalidArgument "usage-query-too-large"
  // (0: no limit), so one wide query does not hold the meter's lock while it builds them all.
  size_t max_rows = 0;
};

struct UsageRow {
  // The grouped dimensions; the others are "". `asset` is always set.
  std::string agent, mandate, payee, asset, resource, source;
  std::optional<int64_t> window_start;  // unix seconds; absent for kTotal
  Amount amount;    // sum of amounts, base units
  Amount quantity;  // sum of quantities
  uint64_t events = 0;
};

// Whose spend a burn rate measures: kPrincipal (every event of the principal), kAgent, kMandate.
enum class OwnerKind { kPrincipal, kAgent, kMandate };

// Spend over a trailing window: the events whose minute is one of the last `minutes` minutes
// (the current one included).
struct Burn {
  Amount spent;
  int64_t minutes = 0;
  Amount per_hour;  // floor(spent * 60 / minutes)
};

// When `remaining` runs out at `burn`: `now` if nothing remains, nullopt when the burn is zero,
// else now + floor(remaining * minutes * 60 / spent) (capped at INT64_MAX).
std::optional<int64_t> ProjectDepletion(Amount remaining, const Burn& burn, int64_t now);

// The burn of `spent` over `minutes` (clamped to 1 to 43200).
Burn BurnOver(Amount spent, int64_t minutes);

// Parses the body of POST /v1/usage (specs/usage.md §3):
// {"events":[{"id","agent"?,"mandate"?,"payee","asset","amount","quantity"?,"resource"?,"at"?}]}.
// Errors are kInvalidArgument whose message starts with the JSON pointer of the fault
// ("/events/3/amount: ..."): the strict JSON reasons, "usage-batch-empty",
// "usage-batch-too-large", "bad-usage-id", "bad-payee", "bad-asset", "bad-usage-agent",
// "bad-usage-mandate", "bad-quantity", "bad-resource", "bad-usage-at", the amount reasons.
// Sets source "usage"; leaves principal empty.
Result<std::vector<UsageEvent>> ParseUsageBatch(std::string_view body);

// The data of a usage.recorded audit event (specs/usage.md §5): the accepted events in runs of
// consecutive events that share agent, mandate, payee, asset and resource, each run naming those
// once.
std::string UsageAuditData(std::string_view batch, const std::vector<const UsageEvent*>& events);
// Reads that data back (for recounts), in either format (runs, or the full rows written before
// them): the events with principal left empty. kInvalidArgument ("malformed-json") otherwise.
Result<std::vector<UsageEvent>> ParseUsageAuditData(std::string_view data_json);

// Thread safety: safe from any thread. One mutex guards the ids and aggregates; ingestion holds
// it to check and claim its ids and to count them, not across its durable write, so concurrent
// batches are written (and synced) together. A batch that meets an id another batch is still
// writing waits for that write to end.
class UsageMeter {
 public:
  // Loads the stored rollups and batch records of the `usage` family: aggregates and the
  // de-duplication index are rebuilt in memory. kDataLoss ("usage-record-corrupt") when a record
  // does not decode.
  static Result<std::unique_ptr<UsageMeter>> Open(store::KvStore& kv, Clock& clock);
  static Result<std::unique_ptr<UsageMeter>> Open(store::KvStore& kv, Clock& clock,
                                                  const UsageMeterOptions& options);
  ~UsageMeter();
  UsageMeter(const UsageMeter&) = delete;
  UsageMeter& operator=(const UsageMeter&) = delete;

  // Ingests one batch for `principal`. REQUIRES: events passed ParseUsageBatch (or equivalent
  // checks) and at most kMaxUsageBatch. Events without `at` are stamped with the clock. New ids
  // are written in one durable batch together with one staged "usage.recorded" audit event, then
  // counted. kInvalidArgument ("bad-usage-at", message "/events/<i>/at: ...") when an `at` is
  // more than max_future_s ahead (nothing stored); storage errors as the store reports them
  // (nothing counted).
  Result<IngestResult> Ingest(const std::string& principal, std::vector<UsageEvent> events);

  // For the facilitator and AP2 ledger closings: adds a settled payment's usage record to the
  // settlement's own batch
  // (so the payment and its metering commit together), then, after that batch committed,
  // CommittedPayment makes it count in the in-memory aggregates (once per id).
  // REQUIRES: e.principal, e.id, e.payee, e.asset set; e.at > 0.
  void StagePayment(store::WriteBatch& batch, const UsageEvent& e);
  void CommittedPayment(const UsageEvent& e);

  // Aggregates, sorted by group then window start. kInvalidArgument ("usage-query-invalid")
  // when from >= to.
  Result<std::vector<UsageRow>> Query(const UsageQuery& q);

  // Spend of `owner` in `asset` over the last `minutes` minutes (1 to 43200).
  Burn BurnRate(const std::string& principal, OwnerKind kind, const std::string& owner_id,
                const std::string& asset, int64_t minutes);
  // The same spend, per mandate the principal's events name (events without one left out; no
  // entry for a mandate that spent nothing): what a mandate's burn is summed from when its
  // delegations' usage counts too (specs/usage.md §4). One pass over the principal's series.
  std::map<std::string, Amount> SpentByMandate(const std::string& principal,
                                               const std::string& asset, int64_t minutes);

  // Forgets ids whose batches are older than the retention: their records are folded into one
  // rollup record (aggregates unchanged). Runs by itself during Ingest once per prune interval.
  Status Prune();

  // How many ids are remembered (for tests).
  size_t RememberedIdsForTest();

 private:
  struct Series;
  struct Impl;
  UsageMeter(store::KvStore& kv, Clock& clock, const UsageMeterOptions& options);
  Status Load();
  Status PruneLocked();  // REQUIRES: impl_->mu held
  // Calls visit(agent, mandate, spent) for each of the principal's series in `asset` that spent
  // something in the last `minutes` minutes, under impl_->mu (visit must not call back).
  template <typename Visit>
  void ForEachRecentSpend(const std::string& principal, const std::string& asset,
                          int64_t minutes, const Visit& visit);

  store::KvStore& kv_;
  Clock& clock_;
  const UsageMeterOptions options_;
  std::unique_ptr<Impl> impl_;  // guarded by its own mutex
};

}  // namespace mandated::settlement
