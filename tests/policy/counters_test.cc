// SpendSeries: window sums and the latest live entry against a plain recount.
#include "policy/counters.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace mandated::policy {
namespace {

// The answers recounted entry by entry.
struct Plain {
  std::vector<int64_t> times;
  std::vector<Uint128> amounts;
  Uint128 SumIn(int64_t start, int64_t end) const {
    Uint128 sum = 0;
    for (size_t i = 0; i < times.size(); ++i) {
      if (times[i] >= start && times[i] < end) sum += amounts[i];
    }
    return sum;
  }
  int64_t LatestLiveTime() const {
    for (size_t i = amounts.size(); i > 0; --i) {
      if (amounts[i - 1] != 0) return times[i - 1];
    }
    return INT64_MIN;
  }
};

TEST(SpendSeries, EmptyAndAllZeroHaveNoLiveEntry) {
  SpendSeries s;
  EXPECT_EQ(s.LatestLiveTime(), INT64_MIN);
  EXPECT_EQ(s.Total(), Uint128{0});
  s.Append(10, 1);
  s.Append(20, 1);
  EXPECT_EQ(s.LatestLiveTime(), 20);
  s.Set(1, 0);
  EXPECT_EQ(s.LatestLiveTime(), 10);
  s.Set(0, 0);
  EXPECT_EQ(s.LatestLiveTime(), INT64_MIN);
  s.Append(20, 0);  // a zero entry after them changes nothing
  EXPECT_EQ(s.LatestLiveTime(), INT64_MIN);
  s.Set(0, 1);
  EXPECT_EQ(s.LatestLiveTime(), 10);
}

// Random appends (uses of 0 or 1 and larger amounts), sets and voids at every size through 600
// entries: the latest live entry and window sums always agree with the recount.
TEST(SpendSeries, AgreesWithARecountThroughAppendsAndVoids) {
  std::mt19937_64 rng(20261206);
  SpendSeries s;
  Plain p;
  int64_t t = 1795000000;
  for (int step = 0; step < 600; ++step) {
    t += static_cast<int64_t>(rng() % 3);  // times repeat now and then
    const Uint128 amount = rng() % 4 == 0 ? 0 : (rng() % 2 == 0 ? 1 : rng() % 1000000);
    s.Append(t, amount);
    p.times.push_back(t);
    p.amounts.push_back(amount);
    // Void (zero) or change a few earlier entries, the latest ones most often.
    for (int k = 0; k < 2; ++k) {
      const size_t n = p.amounts.size();
      const size_t i = rng() % 2 == 0 ? n - 1 - rng() % std::min<size_t>(n, 3) : rng() % n;
      const Uint128 to = rng() % 3 == 0 ? Uint128{rng() % 50} : 0;
      s.Set(i, to);
      p.amounts[i] = to;
    }
    ASSERT_EQ(s.LatestLiveTime(), p.LatestLiveTime()) << "step " << step;
    const int64_t a = p.times[rng() % p.times.size()];
    const int64_t b = a + static_cast<int64_t>(rng() % 200);
    ASSERT_TRUE(s.SumIn(a, b) == p.SumIn(a, b)) << "step " << step;
  }
}

}  // namespace
}  // namespace mandated::policy
