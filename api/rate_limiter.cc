// Token buckets per credential.
#include "api/rate_limiter.h"

#include <algorithm>
#include <functional>

namespace mandated::api {

RateLimiter::RateLimiter(Clock& clock, size_t max_buckets)
    : clock_(clock), max_per_shard_(std::max<size_t>(1, max_buckets / kShards)) {}

namespace {

constexpr int64_t kOneToken = 1000000;

// The bucket's level after `elapsed` microseconds of refill, capped at `capacity`.
int64_t Refilled(int64_t level, int64_t elapsed, int64_t per_second, int64_t capacity) {
  if (elapsed <= 0) {
    return std::min(level, capacity);
  }
  // elapsed * per_second could overflow for very long idle times; those fill the bucket anyway.
  if (elapsed >= (capacity - std::min(level, capacity)) / per_second + 1) {
    return capacity;
  }
  return std::min(capacity, level + elapsed * per_second);
}

}  // namespace

RateLimiter::Decision RateLimiter::Take(std::string_view key, const identity::RateLimit& limit) {
  const int64_t rate = std::clamp<int64_t>(limit.per_second, 1, 1000000000);
  const int64_t capacity = std::clamp<int64_t>(limit.burst, 1, 1000000000) * kOneToken;
  const int64_t now = clock_.MonotonicMicros();
  Shard& shard = shards_[std::hash<std::string_view>()(key) % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.buckets.find(std::string(key));
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= max_per_shard_) {
      // Drop buckets that have refilled completely under their own limits: forgetting them
      // changes no decision. (Judged by the new key's limit, a drained bucket of a larger one
      // looked full, was dropped and came back full: a way around the limit.)
      std::erase_if(shard.buckets, [&](const auto& kv) {
        const Bucket& old = kv.second;
        return Refilled(old.micro_tokens, now - old.last_micros, old.rate, old.capacity) ==
               old.capacity;
      });
    }
    it = shard.buckets.emplace(std::string(key), Bucket{capacity, now, rate, capacity}).first;
  }
  Bucket& b = it->second;
  b.rate = rate;
  b.capacity = capacity;
  // A lowered burst takes effect at once.
  b.micro_tokens = Refilled(b.micro_tokens, now - b.last_micros, rate, capacity);
  b.last_micros = std::max(b.last_micros, now);
  Decision d;
  if (b.micro_tokens >= kOneToken) {
    b.micro_tokens -= kOneToken;
    d.allowed = true;
    return d;
  }
  d.retry_after_micros = (kOneToken - b.micro_tokens + rate - 1) / rate;
  return d;
}

size_t RateLimiter::bucket_count() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace mandated::api
