// UsageMeter on a real RocksDB with a fake clock: exact de-duplication across retries, batches
// and restarts, the 24 h retention boundary, conflicts, exact aggregates per dimension and window,
// settled payments staged in the facilitator's batch, burn rates, depletion, the batch parser's
// errors and the audit event each batch stages (specs/usage.md).
#include "settlement/usage.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/event.h"
#include "base/json.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/test_support.h"

namespace mandated::settlement {
namespace {

constexpr int64_t kStart = 1795000020;  // 2026-11-18T08:27:00Z, a minute boundary
constexpr char kPrn[] = "prn_acme";

UsageEvent Ev(std::string id, std::string agent, std::string payee, std::string asset,
              uint64_t amount, int64_t at = 0, uint64_t quantity = 1) {
  UsageEvent e;
  e.id = std::move(id);
  e.agent = std::move(agent);
  e.payee = std::move(payee);
  e.asset = std::move(asset);
  e.amount = Amount::FromUint64(amount);
  e.at = at;
  e.quantity = quantity;
  return e;
}

std::vector<IngestStatus> All(size_t n, IngestStatus s) { return std::vector<IngestStatus>(n, s); }

class UsageMeterTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenAll(); }

  void OpenAll(const UsageMeterOptions& options = {}) {
    meter_.reset();
    kv_.reset();
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {kUsageFamily, std::string(audit::kAuditFamily)};
    Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(o);
    ASSERT_TRUE(kv.ok()) << kv.error().ToString();
    kv_ = std::move(*kv);
    Result<std::unique_ptr<UsageMeter>> m = UsageMeter::Open(*kv_, clock_, options);
    ASSERT_TRUE(m.ok()) << m.error().ToString();
    meter_ = std::move(*m);
  }

  IngestResult Ingest(std::vector<UsageEvent> events, const std::string& principal = kPrn) {
    Result<IngestResult> r = meter_->Ingest(principal, std::move(events));
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? *r : IngestResult();
  }

  // "asset amount quantity events" of every row of the principal's total per asset.
  std::vector<std::string> Totals(UsageQuery q = {}) {
    if (q.principal.empty()) q.principal = kPrn;
    Result<std::vector<UsageRow>> rows = meter_->Query(q);
    EXPECT_TRUE(rows.ok()) << rows.error().ToString();
    std::vector<std::string> out;
    if (!rows.ok()) return out;
    for (const UsageRow& r : *rows) {
      std::string line;
      for (const std::string* f : {&r.agent, &r.mandate, &r.payee, &r.resource, &r.source}) {
        if (!f->empty()) line += *f + " ";
      }
      if (r.window_start) line += std::to_string(*r.window_start) + " ";
      line += r.asset + " " + r.amount.ToString() + " " + r.quantity.ToString() + " " +
              std::to_string(r.events);
      out.push_back(line);
    }
    return out;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_{kStart};
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<UsageMeter> meter_;
};

TEST_F(UsageMeterTest, RetriesAreDuplicatesAcrossBatchesAndRestarts) {
  const std::vector<UsageEvent> batch = {Ev("e1", "agt_a", "api.shop", "USD", 100),
                                         Ev("e2", "agt_a", "api.shop", "USD", 250),
                                         Ev("e3", "agt_b", "api.shop", "EUR", 7)};
  IngestResult first = Ingest(batch);
  EXPECT_EQ(first.accepted, 3u);
  EXPECT_EQ(first.status, All(3, IngestStatus::kAccepted));
  EXPECT_EQ(Totals(), (std::vector<std::string>{"EUR 7 1 1", "USD 350 2 2"}));

  clock_.AdvanceSeconds(30);  // the retry comes later, still without `at`: the same events
  IngestResult retry = Ingest(batch);
  EXPECT_EQ(retry.accepted, 0u);
  EXPECT_EQ(retry.duplicates, 3u);
  EXPECT_EQ(retry.batch, "");
  EXPECT_EQ(Totals(), (std::vector<std::string>{"EUR 7 1 1", "USD 350 2 2"}));

  // Partial overlap: e2 again and a new e4.
  IngestResult overlap = Ingest({batch[1], Ev("e4", "agt_a", "api.shop", "USD", 1)});
  EXPECT_EQ(overlap.status,
            (std::vector<IngestStatus>{IngestStatus::kDuplicate, IngestStatus::kAccepted}));
  EXPECT_EQ(Totals(), (std::vector<std::string>{"EUR 7 1 1", "USD 351 3 3"}));

  OpenAll();  // a restart: store and meter reopened
  EXPECT_EQ(meter_->RememberedIdsForTest(), 4u);
  EXPECT_EQ(Totals(), (std::vector<std::string>{"EUR 7 1 1", "USD 351 3 3"}));
  IngestResult after = Ingest(batch);
  EXPECT_EQ(after.duplicates, 3u);
  EXPECT_EQ(Totals(), (std::vector<std::string>{"EUR 7 1 1", "USD 351 3 3"}));

  // Ids are per principal: another principal's e1 is new.
  EXPECT_EQ(Ingest({batch[0]}, "prn_other").accepted, 1u);
  EXPECT_EQ(Totals(), (std::vector<std::string>{"EUR 7 1 1", "USD 351 3 3"}));
}

// Batches are written without the meter's lock, so two in flight may carry the same id: the
// later one waits for the earlier write, and every id is accepted exactly once.
TEST_F(UsageMeterTest, ConcurrentBatchesWithOverlappingIdsAcceptEachIdOnce) {
  constexpr int kThreads = 4, kBatches = 40, kPerBatch = 200, kStride = 100;
  std::vector<IngestResult> results(kThreads * kBatches);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<UsageEvent> batch;
        for (int j = 0; j < kPerBatch; ++j) {
          const int n = b * kStride + j;  // overlaps the next batch and every thread's same batch
          batch.push_back(Ev("c-" + std::to_string(n), "agt_a", "api.shop", "USD",
                             static_cast<uint64_t>(n) + 1, kStart));
        }
        Result<IngestResult> r = meter_->Ingest(kPrn, std::move(batch));
        ASSERT_TRUE(r.ok()) << r.error().ToString();
        results[t * kBatches + b] = *r;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  size_t accepted = 0, duplicates = 0, conflicts = 0;
  for (const IngestResult& r : results) {
    accepted += r.accepted;
    duplicates += r.duplicates;
    conflicts += r.conflicts;
  }
  constexpr int kDistinct = (kBatches - 1) * kStride + kPerBatch;  // ids c-0 .. c-4099
  EXPECT_EQ(accepted, static_cast<size_t>(kDistinct));
  EXPECT_EQ(duplicates, static_cast<size_t>(kThreads * kBatches * kPerBatch - kDistinct));
  EXPECT_EQ(conflicts, 0u);
  // Sum of n + 1 for n in [0, kDistinct).
  const std::string total = "USD " + std::to_string(kDistinct * (kDistinct + 1) / 2) + " " +
                            std::to_string(kDistinct) + " " + std::to_string(kDistinct);
  EXPECT_EQ(Totals(), (std::vector<std::string>{total}));
  OpenAll();  // what was stored says the same
  EXPECT_EQ(meter_->RememberedIdsForTest(), static_cast<size_t>(kDistinct));
  EXPECT_EQ(Totals(), (std::vector<std::string>{total}));
}

// A store whose first write holding `marker` waits until the test releases it, then fails or
// lands as told.
class GatedStore : public testing::ForwardingStore {
 public:
  GatedStore(store::KvStore& inner, std::string marker, bool fail)
      : ForwardingStore(inner), marker_(std::move(marker)), fail_(fail) {}
  Status Write(const store::WriteBatch& batch, store::Durability d) override {
    bool gated = false;
    for (const store::WriteBatch::Op& op : batch.ops()) {
      gated = gated || op.value.find(marker_) != std::string::npos;
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (gated && !used_) {
      used_ = true;
      entered_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return released_; });
      if (fail_) return UnavailableError("injected write failure", "storage-io");
    }
    lock.unlock();
    return ForwardingStore::Write(batch, d);
  }
  void AwaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  const std::string marker_;
  const bool fail_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool used_ = false, entered_ = false, released_ = false;
};

// While batch A's write is in flight, batch B carrying one of A's ids waits for it: a landed
// write makes B's copy a duplicate, a failed one leaves the id to B.
TEST_F(UsageMeterTest, ABatchMeetingAnIdInFlightWaitsForThatWrite) {
  for (const bool fail : {true, false}) {
    SCOPED_TRACE(fail ? "A's write fails" : "A's write lands");
    OpenAll();
    GatedStore gate(*kv_, "gate-" + std::string(fail ? "f" : "s"), fail);
    Result<std::unique_ptr<UsageMeter>> m = UsageMeter::Open(gate, clock_);
    ASSERT_TRUE(m.ok());
    UsageMeter& meter = **m;
    // Each round its own principal (the store keeps the first round's ids).
    const std::string prn = fail ? kPrn : "prn_second";
    const std::string a_only = fail ? "gate-f" : "gate-s", shared = fail ? "sf" : "ss",
                      b_only = fail ? "bf" : "bs";
    Result<IngestResult> a_result = InternalError("not run");
    std::thread a([&] {
      a_result = meter.Ingest(prn, {Ev(a_only, "", "api.shop", "USD", 1, kStart),
                                     Ev(shared, "", "api.shop", "USD", 2, kStart)});
    });
    gate.AwaitEntered();
    std::atomic<bool> b_done{false};
    Result<IngestResult> b_result = InternalError("not run");
    std::thread b([&] {
      b_result = meter.Ingest(prn, {Ev(shared, "", "api.shop", "USD", 2, kStart),
                                     Ev(b_only, "", "api.shop", "USD", 4, kStart)});
      b_done.store(true);
    });
    // B cannot have an answer while A's write is undecided (it waits however long this is).
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(b_done.load());
    gate.Release();
    a.join();
    b.join();
    ASSERT_TRUE(b_result.ok()) << b_result.error().ToString();
    if (fail) {
      EXPECT_FALSE(a_result.ok());
      EXPECT_EQ(b_result->status,
                (std::vector<IngestStatus>{IngestStatus::kAccepted, IngestStatus::kAccepted}));
    } else {
      ASSERT_TRUE(a_result.ok()) << a_result.error().ToString();
      EXPECT_EQ(a_result->accepted, 2u);
      EXPECT_EQ(b_result->status,
                (std::vector<IngestStatus>{IngestStatus::kDuplicate, IngestStatus::kAccepted}));
    }
    // What the meter counts is what the store holds.
    UsageQuery q;
    q.principal = prn;
    Result<std::vector<UsageRow>> rows = meter.Query(q);
    ASSERT_TRUE(rows.ok());
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].amount, Amount::FromUint64(fail ? 6 : 7));
    const size_t remembered = fail ? 2u : 2u + 3u;  // the second round also loaded the first's
    EXPECT_EQ(meter.RememberedIdsForTest(), remembered);
    Result<std::unique_ptr<UsageMeter>> reopened = UsageMeter::Open(*kv_, clock_);
    ASSERT_TRUE(reopened.ok());
    EXPECT_EQ((*reopened)->RememberedIdsForTest(), remembered);
  }
}

TEST_F(UsageMeterTest, SameIdWithOtherContentIsAConflict) {
  Ingest({Ev("e1", "agt_a", "api.shop", "USD", 100), Ev("t1", "", "api.shop", "USD", 5, kStart)});
  IngestResult r = Ingest({Ev("e1", "agt_a", "api.shop", "USD", 101),      // amount differs
                           Ev("e1", "agt_b", "api.shop", "USD", 100),      // agent differs
                           Ev("t1", "", "api.shop", "USD", 5, kStart - 60),  // at differs
                           Ev("t1", "", "api.shop", "USD", 5),             // at now missing
                           Ev("t1", "", "api.shop", "USD", 5, kStart),     // the same
                           Ev("n1", "", "api.shop", "USD", 9),             // new
                           Ev("n1", "", "api.shop", "USD", 9),             // same batch, same
                           Ev("n1", "", "api.shop", "USD", 8)});           // same batch, other
  EXPECT_EQ(r.status, (std::vector<IngestStatus>{
                          IngestStatus::kConflict, IngestStatus::kConflict,
                          IngestStatus::kConflict, IngestStatus::kConflict,
                          IngestStatus::kDuplicate, IngestStatus::kAccepted,
                          IngestStatus::kDuplicate, IngestStatus::kConflict}));
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_EQ(r.duplicates, 2u);
  EXPECT_EQ(r.conflicts, 5u);
  EXPECT_EQ(Totals(), (std::vector<std::string>{"USD 114 3 3"}));
}

// A wall clock stepped forward past the retention for a moment (a prune runs meanwhile) and
// back does not make the meter forget ids it saw less than 24 h ago by the monotonic clock: a
// retry after the step back is still a duplicate, counted once.
TEST_F(UsageMeterTest, AWallClockSteppedForwardForgetsNoIdBeforeItsTime) {
  UsageEvent e = Ev("k1", "agt_a", "api.shop", "USD", 5, kStart);
  EXPECT_EQ(Ingest({e}).accepted, 1u);
  clock_.AdvanceSeconds(60);
  clock_.StepWallClockForwardSeconds(86401);
  ASSERT_TRUE(meter_->Prune().ok());
  EXPECT_EQ(meter_->RememberedIdsForTest(), 1u);
  clock_.StepWallClockBackSeconds(86401);
  IngestResult retry = Ingest({e});
  EXPECT_EQ(retry.duplicates, 1u);
  EXPECT_EQ(retry.accepted, 0u);
  EXPECT_EQ(Totals(), (std::vector<std::string>{"USD 5 1 1"}));
  // Real time passing still forgets it after the retention.
  clock_.AdvanceSeconds(86400 + 3600);
  ASSERT_TRUE(meter_->Prune().ok());
  EXPECT_EQ(meter_->RememberedIdsForTest(), 0u);
}

TEST_F(UsageMeterTest, IdsAreRememberedForTheRetentionThenForgotten) {
  UsageEvent e = Ev("r1", "agt_a", "api.shop", "USD", 40);
  EXPECT_EQ(Ingest({e}).accepted, 1u);
  clock_.AdvanceSeconds(86400);  // exactly 24 h later (a prune pass runs now): still remembered
  EXPECT_EQ(Ingest({e}).duplicates, 1u);
  EXPECT_EQ(meter_->RememberedIdsForTest(), 1u);
  clock_.AdvanceSeconds(3600);  // the next pass forgets it; the same id is then new
  IngestResult again = Ingest({e});
  EXPECT_EQ(again.accepted, 1u);
  EXPECT_EQ(meter_->RememberedIdsForTest(), 1u);
  // Both count: the first from the rollup it was folded into, the second from its record.
  EXPECT_EQ(Totals(), (std::vector<std::string>{"USD 80 2 2"}));
  OpenAll();
  EXPECT_EQ(Totals(), (std::vector<std::string>{"USD 80 2 2"}));
  EXPECT_EQ(Ingest({e}).duplicates, 1u);
  int records = 0, rollups = 0;
  ASSERT_TRUE(kv_->ScanPrefix(kUsageFamily, "", [&](std::string_view k, std::string_view) {
                   records += k.substr(0, 2) == "b/";
                   rollups += k.substr(0, 2) == "r/";
                   return true;
                 }).ok());
  EXPECT_EQ(records, 1);
  EXPECT_EQ(rollups, 1);
}

TEST_F(UsageMeterTest, AggregatesAreExactPerDimensionAndWindow) {
  // 2026-11-30T23:59:00Z and 2026-12-01T00:00:00Z: a month boundary.
  const int64_t nov_end = 1796083140;
  const int64_t dec_start = 1796083200;
  clock_.AdvanceSeconds(dec_start + 120 - kStart);
  UsageEvent a = Ev("a", "agt_a", "api.shop", "USD", 100, nov_end, 2);
  a.mandate = "mnd_1";
  a.resource = "https://api.shop/x";
  UsageEvent b = Ev("b", "agt_a", "api.shop", "USD", 30, dec_start + 5, 1);
  b.mandate = "mnd_1";
  UsageEvent c = Ev("c", "agt_b", "cdn.shop", "USD", 7, dec_start + 61, 3);
  UsageEvent d = Ev("d", "agt_b", "cdn.shop", "EUR", 9, dec_start + 62);
  Ingest({a, b, c, d});

  UsageQuery q;
  q.by_agent = true;
  EXPECT_EQ(Totals(q), (std::vector<std::string>{"agt_a USD 130 3 2", "agt_b EUR 9 1 1",
                                                 "agt_b USD 7 3 1"}));
  q = {};
  q.window = Granularity::kMonth;
  // Rows sort by group (here the asset), then window.
  EXPECT_EQ(Totals(q), (std::vector<std::string>{"1796083200 EUR 9 1 1",
                                                 "1793491200 USD 100 2 1",
                                                 "1796083200 USD 37 4 2"}));
  q.window = Granularity::kMinute;
  q.asset = "USD";
  EXPECT_EQ(Totals(q), (std::vector<std::string>{"1796083140 USD 100 2 1",
                                                 "1796083200 USD 30 1 1",
                                                 "1796083260 USD 7 3 1"}));
  q = {};
  q.by_mandate = true;
  q.by_resource = true;
  q.by_payee = true;
  q.by_source = true;
  EXPECT_EQ(Totals(q), (std::vector<std::string>{
                           "cdn.shop usage EUR 9 1 1",
                           "cdn.shop usage USD 7 3 1",
                           "mnd_1 api.shop usage USD 30 1 1",
                           "mnd_1 api.shop https://api.shop/x usage USD 100 2 1"}));
  q = {};
  q.from = dec_start;
  q.to = dec_start + 60;
  EXPECT_EQ(Totals(q), (std::vector<std::string>{"USD 30 1 1"}));
  q.from = dec_start + 60;
  q.to = dec_start;
  EXPECT_EQ(meter_->Query(q).error().reason(), "usage-query-invalid");
  // A query with more rows than its limit stops with an error, not a list to throw away.
  q = {};
  q.by_mandate = true;
  q.by_resource = true;
  q.by_payee = true;
  q.by_source = true;
  q.principal = kPrn;
  q.max_rows = 4;
  EXPECT_EQ(Totals(q).size(), 4u);
  q.max_rows = 3;
  EXPECT_EQ(meter_->Query(q).error().reason(), "usage-query-too-large");
  q = {};
  q.mandate = "mnd_1";
  q.window = Granularity::kDay;
  EXPECT_EQ(Totals(q), (std::vector<std::string>{"1795996800 USD 100 2 1",
                                                 "1796083200 USD 30 1 1"}));
  q = {};
  q.principal = "prn_nobody";
  EXPECT_EQ(Totals(q), std::vector<std::string>{});
}

TEST_F(UsageMeterTest, SettledPaymentsCountOnceWithTheirBatch) {
  UsageEvent p = Ev("x402:0xabc", "agt_a", "0xPayTo", "eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913",
                    10000, kStart);
  p.principal = kPrn;
  p.mandate = "mnd_1";
  p.source = "payment";
  store::WriteBatch batch;
  batch.Put(kUsageFamily, "facilitator-own-key-stand-in", "x");  // the settlement's own write
  meter_->StagePayment(batch, p);
  UsageQuery q;
  q.by_source = true;
  EXPECT_EQ(Totals(q), std::vector<std::string>{});  // not committed yet: not counted
  ASSERT_TRUE(kv_->Write(batch).ok());
  meter_->CommittedPayment(p);
  meter_->CommittedPayment(p);  // told twice: counted once
  const std::vector<std::string> want = {
      "payment eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913 10000 1 1"};
  EXPECT_EQ(Totals(q), want);
  // A reported event under the payment's id is another event: a conflict.
  UsageEvent clash = p;
  clash.source = "";
  EXPECT_EQ(Ingest({clash}).conflicts, 1u);
  OpenAll();
  EXPECT_EQ(Totals(q), want);
  meter_->CommittedPayment(p);
  EXPECT_EQ(Totals(q), want);
}

// A payment whose id a report took first: no second record is stored, so it is counted once,
// live, after a restart and after its records are pruned into the rollup.
TEST_F(UsageMeterTest, AnIdTakenByAReportIsCountedOnceAlsoAfterARestart) {
  const std::string asset = "eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
  UsageEvent reported = Ev("x402:0xdef", "agt_a", "0xPayTo", asset, 700, kStart);
  EXPECT_EQ(Ingest({reported}).accepted, 1u);
  UsageEvent p = Ev("x402:0xdef", "agt_a", "0xPayTo", asset, 10000, kStart);
  p.principal = kPrn;
  p.source = "payment";
  store::WriteBatch batch;
  meter_->StagePayment(batch, p);
  EXPECT_EQ(batch.size(), 0u);
  ASSERT_TRUE(kv_->Write(batch).ok());
  meter_->CommittedPayment(p);
  const std::vector<std::string> want = {asset + " 700 1 1"};
  EXPECT_EQ(Totals(), want);
  OpenAll();
  EXPECT_EQ(Totals(), want);  // before the fix: "... 10700 2 2"
  clock_.AdvanceSeconds(2 * 86400);  // past the retention: the records become the rollup
  ASSERT_TRUE(meter_->Prune().ok());
  EXPECT_EQ(Totals(), want);
  OpenAll();
  EXPECT_EQ(Totals(), want);
  // A payment with an id nobody reported is staged.
  UsageEvent fresh = p;
  fresh.id = "x402:0xfeed";
  store::WriteBatch second;
  meter_->StagePayment(second, fresh);
  EXPECT_EQ(second.size(), 1u);
}

// A synced write that failed but was kept after all (the store answered an error), then the
// client's retry: two records hold one id. Live totals and a restart count it once (the first
// record wins), and so does the prune that rolls both records up (before, it added both).
class KeptButRefused final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Status Write(const store::WriteBatch& batch, store::Durability d) override {
    Status s = ForwardingStore::Write(batch, d);
    if (s.ok() && refuse_) return UnavailableError("the sync failed", "storage-io");
    return s;
  }
  bool refuse_ = false;
};

TEST_F(UsageMeterTest, AnIdInTwoRecordsIsCountedOnceAlsoWhenRolledUp) {
  KeptButRefused store(*kv_);
  auto open = [&] {
    meter_.reset();
    Result<std::unique_ptr<UsageMeter>> m = UsageMeter::Open(store, clock_, {});
    ASSERT_TRUE(m.ok()) << m.error().ToString();
    meter_ = std::move(*m);
  };
  open();
  const UsageEvent e = Ev("dup-1", "agt_a", "api.shop", "USD", 40, kStart);
  store.refuse_ = true;
  Result<IngestResult> refused = meter_->Ingest(kPrn, {e});
  EXPECT_TRUE(!refused.ok() || refused->accepted == 0u);
  store.refuse_ = false;
  EXPECT_EQ(Ingest({e}).accepted, 1u);  // the client's retry
  const std::vector<std::string> want = {"USD 40 1 1"};
  EXPECT_EQ(Totals(), want);
  open();
  EXPECT_EQ(Totals(), want);
  clock_.AdvanceSeconds(2 * 86400);  // past the retention: both records become the rollup
  ASSERT_TRUE(meter_->Prune().ok());
  EXPECT_EQ(Totals(), want);
  open();
  EXPECT_EQ(Totals(), want);
  meter_.reset();  // before `store`, which it uses
}

TEST_F(UsageMeterTest, BurnRateAndProjectedDepletion) {
  // 600 USD over the last hour: 100 an event at minutes -50 .. 0; 1000 an hour earlier.
  std::vector<UsageEvent> events;
  for (int i = 0; i < 6; ++i) {
    UsageEvent e = Ev("b" + std::to_string(i), "agt_a", "api.shop", "USD", 100, kStart - i * 600);
    e.mandate = "mnd_1";
    events.push_back(e);
  }
  events.push_back(Ev("old", "agt_a", "api.shop", "USD", 1000, kStart - 3600));
  events.push_back(Ev("other", "agt_b", "api.shop", "USD", 50, kStart));
  events.back().mandate = "mnd_2";
  Ingest(events);
  Burn m = meter_->BurnRate(kPrn, OwnerKind::kMandate, "mnd_1", "USD", 60);
  EXPECT_EQ(m.spent, Amount::FromUint64(600));
  EXPECT_EQ(m.per_hour, Amount::FromUint64(600));
  // The same spend per mandate, in one pass (events without a mandate left out).
  const std::map<std::string, Amount> by_mandate = {{"mnd_1", Amount::FromUint64(600)},
                                                    {"mnd_2", Amount::FromUint64(50)}};
  EXPECT_EQ(meter_->SpentByMandate(kPrn, "USD", 60), by_mandate);
  EXPECT_EQ(meter_->SpentByMandate(kPrn, "USD", 1).size(), 2u);  // both in the current minute
  EXPECT_TRUE(meter_->SpentByMandate(kPrn, "EUR", 60).empty());
  EXPECT_EQ(BurnOver(Amount::FromUint64(650), 60).per_hour, Amount::FromUint64(650));
  Burn a = meter_->BurnRate(kPrn, OwnerKind::kAgent, "agt_a", "USD", 60);
  EXPECT_EQ(a.spent, Amount::FromUint64(600));
  Burn p = meter_->BurnRate(kPrn, OwnerKind::kPrincipal, "", "USD", 120);
  EXPECT_EQ(p.spent, Amount::FromUint64(1650));
  EXPECT_EQ(p.per_hour, Amount::FromUint64(825));
  EXPECT_EQ(meter_->BurnRate(kPrn, OwnerKind::kPrincipal, "", "EUR", 60).spent, Amount());
  // 1500 left at 600 an hour: 2.5 h.
  EXPECT_EQ(ProjectDepletion(Amount::FromUint64(1500), m, kStart), kStart + 9000);
  EXPECT_EQ(ProjectDepletion(Amount(), m, kStart), kStart);
  EXPECT_EQ(ProjectDepletion(Amount::FromUint64(5), Burn{}, kStart), std::nullopt);
  EXPECT_EQ(ProjectDepletion(Amount::Max(), m, kStart), INT64_MAX);
  // remaining * 3600 / 1 does not fit 128 bits, nor does remaining / 1 * 3600: the farthest
  // time, not a wrapped product (which came out under an hour away).
  Burn tiny;
  tiny.minutes = 60;
  tiny.spent = Amount::FromUint64(1);
  const Amount huge = Amount::FromRaw((~Uint128{0}) / 3600 + 1);
  EXPECT_EQ(ProjectDepletion(huge, tiny, kStart), INT64_MAX);
}

// A CAIP-19 id on an eip155 chain names a case-insensitive address: a report in the checksummed
// spelling and a payment in lower case are one series, found by either spelling.
TEST_F(UsageMeterTest, Eip155AssetsAreOneSeriesWhateverTheirCase) {
  const std::string mixed = "eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
  const std::string lower = "eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
  const std::string at = std::to_string(kStart - 60);
  // The first batch takes the fast parser, the second (an escaped payee) the strict one.
  for (const std::string& body :
       {R"({"events":[{"id":"m1","payee":"p","asset":")" + mixed + R"(","amount":"300","at":)" + at + "}]}",
        R"({"events":[{"id":"m2","payee":"\u0070","asset":")" + mixed + R"(","amount":"200","at":)" + at + "}]}"}) {
    Result<std::vector<UsageEvent>> parsed = ParseUsageBatch(body);
    ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
    EXPECT_EQ(parsed->front().asset, lower);
    Result<IngestResult> r = meter_->Ingest(kPrn, std::move(*parsed));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->accepted, 1u);
  }
  UsageEvent p = Ev("x402:0x01", "agt_a", "0xpayto", lower, 500, kStart);
  p.principal = kPrn;
  p.source = "payment";
  store::WriteBatch batch;
  meter_->StagePayment(batch, p);
  ASSERT_TRUE(kv_->Write(batch).ok());
  meter_->CommittedPayment(p);
  EXPECT_EQ(Totals(), std::vector<std::string>{lower + " 1000 3 3"});
  UsageQuery q;
  q.asset = mixed;
  EXPECT_EQ(Totals(q), std::vector<std::string>{lower + " 1000 3 3"});
  EXPECT_EQ(meter_->BurnRate(kPrn, OwnerKind::kPrincipal, "", mixed, 60).spent,
            Amount::FromUint64(1000));
  // ISO 4217 codes stay exact.
  q.asset = "usd";
  EXPECT_EQ(Totals(q), std::vector<std::string>{});
}

TEST_F(UsageMeterTest, FutureEventsAreRefusedWholeBatch) {
  Result<IngestResult> r = meter_->Ingest(
      kPrn, {Ev("f1", "", "api.shop", "USD", 1), Ev("f2", "", "api.shop", "USD", 1, kStart + 301)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason(), "bad-usage-at");
  EXPECT_EQ(r.error().message().rfind("/events/1/at: ", 0), 0u) << r.error().message();
  EXPECT_EQ(meter_->RememberedIdsForTest(), 0u);
  EXPECT_EQ(Totals(), std::vector<std::string>{});
}

TEST_F(UsageMeterTest, EachBatchStagesOneAuditEventListingItsAcceptedEvents) {
  Ingest({Ev("e1", "agt_a", "api.shop", "USD", 100, kStart - 60, 4)});
  IngestResult r = Ingest({Ev("e1", "agt_a", "api.shop", "USD", 100, kStart - 60, 4),
                           Ev("e\"2", "", "api.shop", "USD", 3)});
  Ingest({Ev("e1", "agt_a", "api.shop", "USD", 100, kStart - 60, 4)});  // nothing new: no event
  std::vector<json::Value> staged;
  ASSERT_TRUE(kv_->ScanPrefix(audit::kAuditFamily, "q/", [&](std::string_view, std::string_view v) {
                   Result<json::Value> j = json::Parse(v);
                   EXPECT_TRUE(j.ok());
                   staged.push_back(*j);
                   return true;
                 }).ok());
  ASSERT_EQ(staged.size(), 2u);
  EXPECT_EQ(testing::StringField(staged[1], "type"), "usage.recorded");
  EXPECT_EQ(testing::StringField(staged[1], "principal"), kPrn);
  const json::Value* data = staged[1].Find("data");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(json::Write(*data),
            "{\"batch\":\"" + r.batch.substr(2) +
                "\",\"runs\":[{\"agent\":\"\",\"mandate\":\"\",\"payee\":\"api.shop\","
                "\"asset\":\"USD\",\"resource\":\"\",\"events\":[[\"e\\\"2\",\"3\",1," +
                std::to_string(kStart) + "]]}]}");
  Result<std::vector<UsageEvent>> back = ParseUsageAuditData(json::Write(*data));
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].id, "e\"2");
  EXPECT_EQ((*back)[0].payee, "api.shop");
  EXPECT_EQ((*back)[0].amount, Amount::FromUint64(3));
  EXPECT_EQ((*back)[0].at, kStart);
}

// A run lasts while agent, mandate, payee, asset and resource stay the same; the data reads back
// to the same events in the same order, and data in the format before runs still reads.
TEST(UsageAuditDataTest, RunsGroupConsecutiveEventsAndReadBackInOrder) {
  std::vector<UsageEvent> ev = {Ev("a", "agt_a", "p1", "USD", 1, 60), Ev("b", "agt_a", "p1", "USD", 2, 61, 3),
                                Ev("c", "agt_a", "p2", "USD", 5, 62), Ev("d", "agt_a", "p1", "USD", 7, 63)};
  ev[2].resource = "/r";
  std::vector<const UsageEvent*> ptrs;
  for (const UsageEvent& e : ev) ptrs.push_back(&e);
  const std::string data = UsageAuditData("k1", ptrs);
  EXPECT_EQ(data,
            R"({"batch":"k1","runs":[)"
            R"({"agent":"agt_a","mandate":"","payee":"p1","asset":"USD","resource":"","events":[["a","1",1,60],["b","2",3,61]]},)"
            R"({"agent":"agt_a","mandate":"","payee":"p2","asset":"USD","resource":"/r","events":[["c","5",1,62]]},)"
            R"({"agent":"agt_a","mandate":"","payee":"p1","asset":"USD","resource":"","events":[["d","7",1,63]]}]})");
  Result<std::vector<UsageEvent>> back = ParseUsageAuditData(data);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  ASSERT_EQ(back->size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*back)[i].id, ev[i].id);
    EXPECT_EQ((*back)[i].agent, ev[i].agent);
    EXPECT_EQ((*back)[i].payee, ev[i].payee);
    EXPECT_EQ((*back)[i].asset, ev[i].asset);
    EXPECT_EQ((*back)[i].resource, ev[i].resource);
    EXPECT_EQ((*back)[i].amount, ev[i].amount);
    EXPECT_EQ((*back)[i].quantity, ev[i].quantity);
    EXPECT_EQ((*back)[i].at, ev[i].at);
  }
  Result<std::vector<UsageEvent>> old = ParseUsageAuditData(
      R"({"batch":"k0","events":[["e1","agt_a","","p1","USD","9",2,"/x",120]]})");
  ASSERT_TRUE(old.ok()) << old.error().ToString();
  ASSERT_EQ(old->size(), 1u);
  EXPECT_EQ((*old)[0].resource, "/x");
  EXPECT_EQ((*old)[0].amount, Amount::FromUint64(9));
  EXPECT_EQ((*old)[0].quantity, 2u);
  EXPECT_EQ(ParseUsageAuditData(R"({"batch":"k","runs":[{"agent":"","events":[]}]})").error().reason(),
            "malformed-json");
  EXPECT_EQ(ParseUsageAuditData(R"({"batch":"k","runs":[{"agent":"","mandate":"","payee":"p","asset":"USD","resource":"","events":[["a",1,1,1]]}]})")
                .error().reason(),
            "malformed-json");
}

// ---- The batch parser.

std::string ParseError(const std::string& body) {
  Result<std::vector<UsageEvent>> r = ParseUsageBatch(body);
  if (r.ok()) return "ok";
  return r.error().reason() + " " + r.error().message().substr(0, r.error().message().find(':'));
}

TEST(UsageBatchParseTest, ParsesEveryField) {
  Result<std::vector<UsageEvent>> r = ParseUsageBatch(
      R"({"events":[{"id":"u-1","agent":"agt_A1","mandate":"mnd_B2","payee":"api.shop",)"
      R"("asset":"USD","amount":"12","quantity":3,"resource":"https://api.shop/v1/x","at":1795000000},)"
      R"({"id":"u-2","payee":"api.shop","asset":"USD","amount":"0"}]})");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(r->size(), 2u);
  const UsageEvent& e = (*r)[0];
  EXPECT_EQ(e.id, "u-1");
  EXPECT_EQ(e.agent, "agt_A1");
  EXPECT_EQ(e.mandate, "mnd_B2");
  EXPECT_EQ(e.amount, Amount::FromUint64(12));
  EXPECT_EQ(e.quantity, 3u);
  EXPECT_EQ(e.resource, "https://api.shop/v1/x");
  EXPECT_EQ(e.at, 1795000000);
  EXPECT_EQ(e.source, "usage");
  EXPECT_EQ((*r)[1].quantity, 1u);
  EXPECT_EQ((*r)[1].at, 0);
  // The strict path (an escape) gives the same events.
  Result<std::vector<UsageEvent>> strict = ParseUsageBatch(
      R"({"events":[{"id":"u\u002d1","agent":"agt_A1","mandate":"mnd_B2","payee":"api.shop",)"
      R"("asset":"USD","amount":"12","quantity":3,"resource":"https://api.shop/v1/x","at":1795000000}]})");
  ASSERT_TRUE(strict.ok());
  EXPECT_EQ((*strict)[0].id, "u-1");
  EXPECT_EQ((*strict)[0].source, "usage");
  EXPECT_EQ((*strict)[0].at, 1795000000);
}

TEST(UsageBatchParseTest, ErrorsNameTheField) {
  const std::string ok = R"({"id":"a","payee":"p","asset":"USD","amount":"1"})";
  EXPECT_EQ(ParseError(R"({"events":[)" + ok + "]}"), "ok");
  EXPECT_EQ(ParseError(R"({"events":[]})"), "usage-batch-empty /events");
  EXPECT_EQ(ParseError(R"({"events":{}})"), "wrong-type /events");
  EXPECT_EQ(ParseError(R"({"events":[)" + ok + R"(],"x":1})"), "unknown-field /x");
  EXPECT_EQ(ParseError(R"({"events":[)" + ok + R"(,{"id":"b","asset":"USD","amount":"1"}]})"),
            "missing-field /events/1/payee");
  EXPECT_EQ(ParseError(R"({"events":[{"id":"a","payee":"p","asset":"USD","amount":1}]})"),
            "amount-not-string /events/0/amount");
  EXPECT_EQ(ParseError(R"({"events":[{"id":"a","payee":"p","asset":"USD","amount":"01"}]})"),
            "bad-amount /events/0/amount");
  EXPECT_EQ(ParseError(R"({"events":[{"id":"a","payee":"p","asset":"usd","amount":"1"}]})"),
            "bad-asset /events/0/asset");
  EXPECT_EQ(ParseError(R"({"events":[{"id":"a b","payee":"p","asset":"USD","amount":"1"}]})"),
            "bad-usage-id /events/0/id");
  // C1 controls are control characters too, escaped (the strict parser) or raw (the fast one);
  // other non-ASCII text is fine.
  EXPECT_EQ(ParseError(R"({"events":[{"id":"a","payee":"p\u0085","asset":"USD","amount":"1"}]})"),
            "bad-payee /events/0/payee");
  EXPECT_EQ(ParseError("{\"events\":[{\"id\":\"a\",\"payee\":\"p\xc2\x9f\",\"asset\":\"USD\",\"amount\":\"1\"}]}"),
            "bad-payee /events/0/payee");
  EXPECT_EQ(ParseError("{\"events\":[{\"id\":\"a\",\"payee\":\"caf\xc3\xa9\",\"asset\":\"USD\",\"amount\":\"1\"}]}"),
            "ok");
  // Settled payments' ids: refused by both parsers (the first event takes the fast one).
  EXPECT_EQ(ParseError(R"({"events":[{"id":"x402:0x01","payee":"p","asset":"USD","amount":"1"}]})"),
            "bad-usage-id /events/0/id");
  EXPECT_EQ(ParseError(R"({"events":[{"amount":"1","payee":"p","asset":"USD","id":"x402:0x01"}]})"),
            "bad-usage-id /events/0/id");
  EXPECT_EQ(ParseError(R"({"events":[{"id":"X402:0x01","payee":"p","asset":"USD","amount":"1"}]})"),
            "ok");
  EXPECT_EQ(ParseError(R"({"events":[{"id":"a","payee":"p","asset":"USD","amount":"1","agent":"x"}]})"),
            "bad-usage-agent /events/0/agent");
  EXPECT_EQ(ParseError(R"({"events":[{"id":"a","payee":"p","asset":"USD","amount":"1","mandate":""}]})"),
            "bad-usage-mandate /events/0/mandate");
  EXPECT_EQ(ParseError(R"({"events":[{"id":"a","payee":"p","asset":"USD","amount":"1","quantity":0}]})"),
            "bad-quantity /events/0/quantity");
  EXPECT_EQ(ParseError(R"({"events":[{"id":"a","payee":"p","asset":"USD","amount":"1","quantity":"2"}]})"),
            "bad-quantity /events/0/quantity");
  EXPECT_EQ(ParseError(R"({"events":[{"id":"a","payee":"p","asset":"USD","amount":"1","at":-5}]})"),
            "bad-usage-at /events/0/at");
  EXPECT_EQ(ParseUsageBatch(R"({"events":[{"id":"a","payee":"p","asset":"USD","amount":"1","id":"b"}]})")
                .error()
                .reason(),
            "duplicate-key");
  EXPECT_EQ(ParseError(R"({"events":[{"id":"a","payee":"p","asset":"USD","amount":")" +
                       std::string(31, '9') + "\"}]}"),
            "amount-out-of-range /events/0/amount");
  std::string big = R"({"events":[)";
  for (size_t i = 0; i <= kMaxUsageBatch; ++i) big += (i ? "," : "") + ok;
  EXPECT_EQ(ParseError(big + "]}"), "usage-batch-too-large /events");
}

}  // namespace
}  // namespace mandated::settlement
