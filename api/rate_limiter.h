// RateLimiter: one token bucket per credential (specs/access.md §Rate limits). A bucket holds up
// to `burst` tokens and refills at `per_second`; each request takes one token or is refused with
// the time until one is available.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/clock.h"
#include "identity/access.h"

namespace mandated::api {

// Thread safety: safe from any thread; buckets are spread over independently locked shards.
class RateLimiter {
 public:
  // At most `max_buckets` buckets are kept; beyond that, full (idle) buckets are dropped, which
  // loses nothing since a new bucket starts full.
  explicit RateLimiter(Clock& clock, size_t max_buckets = 1 << 20);

  struct Decision {
    bool allowed = false;
    int64_t retry_after_micros = 0;  // when refused: until one token is available
  };
  Decision Take(std::string_view key, const identity::RateLimit& limit);

  size_t bucket_count() const;

 private:
  // Tokens are counted in millionths so that refill (per_second millionths per microsecond)
  // is exact integer arithmetic.
  struct Bucket {
    int64_t micro_tokens = 0;
    int64_t last_micros = 0;
    int64_t rate = 1;      // its own limit as last taken, for judging whether it refilled
    int64_t capacity = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;
  };
  static constexpr size_t kShards = 16;

  Clock& clock_;
  size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace mandated::api
