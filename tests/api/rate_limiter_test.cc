// RateLimiter: token buckets driven by a fake clock hold bursts to the configured rate.
#include "api/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <thread>
#include <vector>

#include "tests/support/fake_clock.h"

namespace mandated::api {
namespace {

using testing::FakeClock;

TEST(RateLimiterTest, BurstThenConfiguredRateWithinTenPercent) {
  FakeClock clock;
  RateLimiter limiter(clock);
  const identity::RateLimit limit{100, 20};
  // A burst of 50 at one instant: exactly the bucket size gets through.
  int burst_allowed = 0;
  for (int i = 0; i < 50; ++i) {
    burst_allowed += limiter.Take("crd_a", limit).allowed ? 1 : 0;
  }
  EXPECT_EQ(burst_allowed, 20);
  // Then a client retrying every millisecond for 10 s (10x the allowed rate).
  int allowed = 0;
  for (int ms = 0; ms < 10000; ++ms) {
    clock.AdvanceMicros(1000);
    allowed += limiter.Take("crd_a", limit).allowed ? 1 : 0;
  }
  const double rate = allowed / 10.0;
  EXPECT_GE(rate, 90.0);
  EXPECT_LE(rate, 110.0);
  EXPECT_EQ(allowed, 1000);  // exact for this arithmetic: one token every 10 ms
}

TEST(RateLimiterTest, RetryAfterIsTheTimeToTheNextToken) {
  FakeClock clock;
  RateLimiter limiter(clock);
  const identity::RateLimit limit{4, 1};
  EXPECT_TRUE(limiter.Take("k", limit).allowed);
  RateLimiter::Decision d = limiter.Take("k", limit);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_micros, 250000);
  clock.AdvanceMicros(249999);
  EXPECT_FALSE(limiter.Take("k", limit).allowed);
  clock.AdvanceMicros(1);
  EXPECT_TRUE(limiter.Take("k", limit).allowed);
}

TEST(RateLimiterTest, BucketsAreIndependentPerKey) {
  FakeClock clock;
  RateLimiter limiter(clock);
  const identity::RateLimit limit{1, 2};
  EXPECT_TRUE(limiter.Take("a", limit).allowed);
  EXPECT_TRUE(limiter.Take("a", limit).allowed);
  EXPECT_FALSE(limiter.Take("a", limit).allowed);
  EXPECT_TRUE(limiter.Take("b", limit).allowed);
  EXPECT_EQ(limiter.bucket_count(), 2u);
}

TEST(RateLimiterTest, ConcurrentCallersGetExactlyBurstPlusRate) {
  FakeClock clock;
  RateLimiter limiter(clock);
  const identity::RateLimit limit{50, 10};
  constexpr int kThreads = 4;
  constexpr int kSteps = 2000;  // 1 ms each: 2 s of fake time
  std::atomic<int> allowed{0};
  std::barrier sync(kThreads + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int step = 0; step <= kSteps; ++step) {
        sync.arrive_and_wait();  // the clock has moved
        for (int i = 0; i < 3; ++i) {
          if (limiter.Take("shared", limit).allowed) {
            allowed++;
          }
        }
        sync.arrive_and_wait();  // all attempts of this step are done
      }
    });
  }
  for (int step = 0; step <= kSteps; ++step) {
    if (step > 0) {
      clock.AdvanceMicros(1000);
    }
    sync.arrive_and_wait();
    sync.arrive_and_wait();
  }
  for (std::thread& t : threads) {
    t.join();
  }
  // 12 attempts per millisecond against one token per 20 ms: every token is taken, none twice.
  EXPECT_EQ(allowed.load(), 10 + 50 * 2);
}

TEST(RateLimiterTest, FullBucketsAreDroppedWhenTheTableIsFull) {
  FakeClock clock;
  RateLimiter limiter(clock, /*max_buckets=*/16);  // one per shard
  const identity::RateLimit limit{1000, 1};
  for (int i = 0; i < 1000; ++i) {
    limiter.Take("key" + std::to_string(i), limit);
    clock.AdvanceMicros(1000);  // every earlier bucket has refilled
  }
  EXPECT_LE(limiter.bucket_count(), 16u);
}

// Whether a bucket has refilled is judged by its own limit, not by the limit of the key that
// needs room: a drained bucket of a large burst stays drained while small keys pour in.
TEST(RateLimiterTest, ADrainedBucketIsNotDroppedByKeysOfASmallerLimit) {
  FakeClock clock;
  RateLimiter limiter(clock, /*max_buckets=*/16);  // one per shard
  const identity::RateLimit merchant{1, 400};
  for (int i = 0; i < 250; ++i) ASSERT_TRUE(limiter.Take("merchant", merchant).allowed);
  // 150 tokens left. Many other keys with a burst of 1 need room in every shard.
  const identity::RateLimit small{1000, 1};
  for (int i = 0; i < 2000; ++i) limiter.Take("ip" + std::to_string(i), small);
  // No time has passed: the merchant has its 150 tokens, not a fresh 400.
  int allowed = 0;
  while (allowed < 400 && limiter.Take("merchant", merchant).allowed) ++allowed;
  EXPECT_EQ(allowed, 150);
}

}  // namespace
}  // namespace mandated::api
