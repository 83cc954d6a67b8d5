// SpendSeries: a time-ordered Fenwick tree of amounts (specs/authorization.md §3).
#include "policy/counters.h"

#include <algorithm>

namespace mandated::policy {

size_t SpendSeries::Append(int64_t at, Uint128 amount) {
  times_.push_back(at);
  amounts_.push_back(amount);
  const size_t i = times_.size();  // 1-based position of the new entry
  // tree_[i] covers (i - lowbit(i), i]: the new amount plus the sums already known.
  const size_t low = i & (~i + 1);
  tree_.push_back(amount + Prefix(i - 1) - Prefix(i - low));
  return i - 1;
}

void SpendSeries::Set(size_t index, Uint128 amount) {
  const Uint128 delta = amount - amounts_[index];  // modulo 2^128, like every sum here
  amounts_[index] = amount;
  for (size_t i = index + 1; i <= tree_.size(); i += i & (~i + 1)) {
    tree_[i - 1] += delta;
  }
}

Uint128 SpendSeries::Prefix(size_t count) const {
  Uint128 sum = 0;
  for (size_t i = count; i > 0; i -= i & (~i + 1)) {
    sum += tree_[i - 1];
  }
  return sum;
}

size_t SpendSeries::LowerBound(int64_t at) const {
  return static_cast<size_t>(std::lower_bound(times_.begin(), times_.end(), at) - times_.begin());
}

Uint128 SpendSeries::SumIn(int64_t start, int64_t end) const {
  const size_t a = LowerBound(start);
  const size_t b = LowerBound(end);
  if (b <= a) {
    return 0;
  }
  return Prefix(b) - Prefix(a);
}

int64_t SpendSeries::LatestLiveTime() const {
  // The last non-zero entry is the first whose prefix sum reaches the total (amounts are never
  // negative and, as REQUIRED, the total did not wrap): a Fenwick descent, O(log n), so a series
  // of many voided (zeroed) holds costs a decision no more than a short one.
  const Uint128 total = Total();
  if (total == 0) {
    return INT64_MIN;
  }
  const size_t n = tree_.size();
  size_t step = 1;
  while (step * 2 <= n) {
    step *= 2;
  }
  size_t pos = 0;  // the largest position whose prefix sum is below the total
  Uint128 below = total;
  for (; step > 0; step /= 2) {
    if (pos + step <= n && tree_[pos + step - 1] < below) {
      pos += step;
      below -= tree_[pos - 1];
    }
  }
  return times_[pos];  // entry pos (0-based) is the 1-based position pos + 1
}

}  // namespace mandated::policy
