// Token buckets per credential.
#include "api/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace mandated::api {

RateLimiter::RateLimiter(Clock& clock, size_t max_buckets)
    : clock_(clock), max_per_shard_(std::max<size_t>(1, max_buckets / kShards)) {}

RateLimiter::Decision RateLimiter::Take(std::string_view key, const identity::RateLimit& limit) {
  const double rate = static_cast<double>(std::max<int64_t>(1, limit.per_second));
  const double burst = static_cast<double>(std::max<int64_t>(1, limit.burst));
  const int64_t now = clock_.MonotonicMicros();
  Shard& shard = shards_[std::hash<std::string_view>()(key) % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.buckets.find(std::string(key));
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= max_per_shard_) {
      // Drop buckets that have refilled completely: forgetting them changes no decision.
      std::erase_if(shard.buckets, [&](const auto& kv) {
        return kv.second.tokens +
                   static_cast<double>(now - kv.second.last_micros) * rate / 1e6 >=
               burst;
      });
    }
    it = shard.buckets.emplace(std::string(key), Bucket{burst, now}).first;
  }
  Bucket& b = it->second;
  if (now > b.last_micros) {
    b.tokens = std::min(burst, b.tokens + static_cast<double>(now - b.last_micros) * rate / 1e6);
    b.last_micros = now;
  }
  // A lowered burst takes effect at once.
  b.tokens = std::min(b.tokens, burst);
  Decision d;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    d.allowed = true;
    return d;
  }
  d.retry_after_micros = static_cast<int64_t>(std::ceil((1.0 - b.tokens) * 1e6 / rate));
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
