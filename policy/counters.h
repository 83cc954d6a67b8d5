// Spend series: the amounts charged to one counter owner in one asset, in time order, with exact
// window sums in O(log n) (a Fenwick tree) so a decision costs the same with 10 or 10^6 holds
// (specs/authorization.md §3, specs/windows.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/amount.h"

namespace mandated::policy {

// Amounts appended in non-decreasing time order; any entry's amount may later change (capture
// for less, void, expiry set it to zero). Sums are taken modulo 2^128: exact whenever the true
// sum is below 2^128, which holds for every range a limited counter sums (each hold was admitted
// only while its window stayed within a max below 2^128, and amounts only go down afterwards).
// Thread safety: not synchronized; the authorizer guards each principal's series with its lock.
class SpendSeries {
 public:
  // Appends an entry charged at `at` (REQUIRES: at >= the last entry's time); returns its index.
  size_t Append(int64_t at, Uint128 amount);
  // Changes the amount of entry `index`.
  void Set(size_t index, Uint128 amount);
  Uint128 AmountAt(size_t index) const { return amounts_[index]; }
  int64_t TimeAt(size_t index) const { return times_[index]; }
  size_t size() const { return times_.size(); }
  int64_t last_time() const { return times_.empty() ? INT64_MIN : times_.back(); }

  // The sum of the entries charged in [start, end).
  Uint128 SumIn(int64_t start, int64_t end) const;
  // The sum of every entry.
  Uint128 Total() const { return Prefix(times_.size()); }
  // The time of the latest entry with a non-zero amount, or INT64_MIN when there is none.
  // O(log n). REQUIRES: the true total is below 2^128 (true of the uses series it serves).
  int64_t LatestLiveTime() const;

 private:
  Uint128 Prefix(size_t count) const;  // sum of the first `count` entries
  size_t LowerBound(int64_t at) const;  // first index with time >= at

  std::vector<int64_t> times_;
  std::vector<Uint128> amounts_;
  std::vector<Uint128> tree_;  // 1-based Fenwick tree over amounts_
};

}  // namespace mandated::policy
