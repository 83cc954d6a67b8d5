// Tests for TenantPruner: the order in which it runs its sweeps over the operator's and each
// principal's records, one bounded pass at a time, on a real store.
#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "identity/tenant_pruner.h"
#include "store/rocks_store.h"
#include "tests/support/test_support.h"

namespace mandated::identity {
namespace {

class TenantPrunerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {kTenantsFamily};
    kv_ = std::move(*store::OpenRocksStore(o));
  }

  // A sweep over records of `kind` that deletes those whose value is "old", and notes each call.
  PruneSweep SweepOf(const std::string& kind) {
    return {kind + " records", [this, kind](const Tenant& t, const std::string& after, size_t limit)
                                   -> Result<PrunePass> {
              calls_.push_back(kind + "@" + (t.principal_id().empty() ? "op" : t.principal_id()) +
                               "/" + after);
              PrunePass pass;
              store::WriteBatch batch;
              std::string last;
              MD_RETURN_IF_ERROR(t.Scan(kind, after, [&](std::string_view id, std::string_view v) {
                ++pass.examined;
                last = std::string(id);
                if (v == "old") {
                  t.Delete(batch, kind, id);
                  ++pass.pruned;
                }
                return pass.examined < limit;
              }));
              pass.next_after = pass.examined < limit ? std::string() : last;
              if (!batch.empty()) MD_RETURN_IF_ERROR(kv_->Write(batch));
              return pass;
            }};
  }

  size_t Count(const std::string& principal, const std::string& kind, const std::string& value) {
    size_t n = 0;
    EXPECT_TRUE(Tenant(*kv_, principal)
                    .Scan(kind, "", [&](std::string_view, std::string_view v) {
                      n += v == value;
                      return true;
                    })
                    .ok());
    return n;
  }

  testing::TempDir dir_;
  std::unique_ptr<store::KvStore> kv_;
  std::vector<std::string> calls_;
};

// Each principal (the operator first) has each sweep run to its last record, the sweeps in the
// order given, before the next principal's turn; after the last principal a round ends.
TEST_F(TenantPrunerTest, RunsEverySweepOverEachPrincipalInTurn) {
  for (const std::string p : {"", "prn_a", "prn_b"}) {
    const Tenant t(*kv_, p);
    store::WriteBatch batch;
    for (const std::string kind : {"x", "y"}) {
      t.Put(batch, kind, "1", "old");
      t.Put(batch, kind, "2", "new");
      t.Put(batch, kind, "3", "old");
    }
    ASSERT_TRUE(kv_->Write(batch).ok());
  }
  TenantPruner pruner(
      *kv_, {SweepOf("x"), SweepOf("y")},
      [](const std::string& after, size_t limit) -> Result<std::vector<std::string>> {
        EXPECT_EQ(limit, 1u);
        if (after.empty()) return std::vector<std::string>{"prn_a"};
        if (after == "prn_a") return std::vector<std::string>{"prn_b"};
        return std::vector<std::string>{};
      },
      /*records_per_pass=*/2);
  std::vector<bool> more;
  for (int i = 0; i < 12; ++i) more.push_back(*pruner.PassOnce());
  EXPECT_EQ(calls_, (std::vector<std::string>{
                        "x@op/", "x@op/2", "y@op/", "y@op/2",
                        "x@prn_a/", "x@prn_a/2", "y@prn_a/", "y@prn_a/2",
                        "x@prn_b/", "x@prn_b/2", "y@prn_b/", "y@prn_b/2"}));
  std::vector<bool> want(12, true);
  want.back() = false;  // the round ended with the last principal's last sweep
  EXPECT_EQ(more, want);
  for (const std::string p : {"", "prn_a", "prn_b"}) {
    for (const std::string kind : {"x", "y"}) {
      EXPECT_EQ(Count(p, kind, "old"), 0u) << p << " " << kind;
      EXPECT_EQ(Count(p, kind, "new"), 1u) << p << " " << kind;
    }
  }
  // The next round starts over with the operator's first sweep.
  ASSERT_TRUE(pruner.PassOnce().ok());
  EXPECT_EQ(calls_.back(), "x@op/");
}

// A failing sweep stops the pass with its error; the next pass retries the same place.
TEST_F(TenantPrunerTest, AFailedPassIsRetriedFromTheSamePlace) {
  bool fail = true;
  std::vector<std::string> seen;
  TenantPruner pruner(
      *kv_,
      {{"flaky", [&](const Tenant& t, const std::string& after, size_t) -> Result<PrunePass> {
          seen.push_back(t.principal_id() + "/" + after);
          if (fail) return UnavailableError("disk busy");
          return PrunePass{};
        }}},
      [](const std::string&, size_t) -> Result<std::vector<std::string>> {
        return std::vector<std::string>{};
      });
  Result<bool> first = pruner.PassOnce();
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code(), StatusCode::kUnavailable);
  fail = false;
  Result<bool> second = pruner.PassOnce();
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
  EXPECT_EQ(seen, (std::vector<std::string>{"/", "/"}));
}

}  // namespace
}  // namespace mandated::identity
