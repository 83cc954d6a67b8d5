// BoundedCache: a thread-safe, size-bounded map from byte-string keys to shared immutable values,
// with least-recently-used eviction; keeps what is costly to rebuild from its key (prepared keys,
// compiled EIP-712 types, EIP-55 spellings, decoded identity records) for reuse.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mandated::signer {

// Values are held as std::shared_ptr<const V>. Find hands out shared ownership, so a value that is
// evicted (or dropped by Clear) while a caller still uses it lives until that caller lets go; the
// value's destructor runs outside the cache's locks. Only insert values that are fully built and
// validated: the cache trusts whatever it holds.
//
// The map is split into shards by key hash, each with its own mutex and LRU list, so lookups of
// different keys rarely contend. Eviction is least-recently-used within a shard, so the cache holds
// at most `capacity` entries in total (rounded up to a multiple of the shard count).
// Thread safety: every method is safe to call concurrently.
template <typename V>
class BoundedCache {
 public:
  // REQUIRES: capacity >= 1 and shards >= 1.
  explicit BoundedCache(size_t capacity, size_t shards = 16)
      : per_shard_((capacity + shards - 1) / shards), shards_(shards) {
    for (auto& s : shards_) {
      s = std::make_unique<Shard>();
    }
  }

  BoundedCache(const BoundedCache&) = delete;
  BoundedCache& operator=(const BoundedCache&) = delete;

  // The value cached under `key` (marking it recently used), or nullptr.
  std::shared_ptr<const V> Find(std::string_view key) {
    const size_t h = Hash(key);
    Shard& s = ShardOf(h);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.index.find(key);
    if (it == s.index.end()) {
      return nullptr;
    }
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return it->second->value;
  }

  // Whether `key` is cached (marking it recently used); no shared ownership is taken.
  bool Contains(std::string_view key) {
    const size_t h = Hash(key);
    Shard& s = ShardOf(h);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.index.find(key);
    if (it == s.index.end()) {
      return false;
    }
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return true;
  }

  // Caches `value` under `key` unless the key is present already, and returns the cached value:
  // `value` itself, or the one another thread inserted first. May evict the shard's least
  // recently used entry. REQUIRES: value != nullptr.
  std::shared_ptr<const V> Insert(std::string_view key, std::shared_ptr<const V> value) {
    const size_t h = Hash(key);
    Shard& s = ShardOf(h);
    std::shared_ptr<const V> evicted;  // destroyed after the lock is released
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.index.find(key);
    if (it != s.index.end()) {
      s.lru.splice(s.lru.begin(), s.lru, it->second);
      return it->second->value;
    }
    if (s.lru.size() >= per_shard_) {
      Entry& last = s.lru.back();
      s.index.erase(std::string_view(last.key));
      evicted = std::move(last.value);
      s.lru.pop_back();
    }
    s.lru.push_front(Entry{std::string(key), std::move(value)});
    s.index.emplace(std::string_view(s.lru.front().key), s.lru.begin());
    return s.lru.front().value;
  }

  // Drops every entry. Values still held by callers live until they are released.
  void Clear() {
    for (auto& s : shards_) {
      std::list<Entry> dropped;  // destroyed after the lock is released
      std::lock_guard<std::mutex> lock(s->mu);
      s->index.clear();
      dropped.swap(s->lru);
    }
  }

  size_t size() const {
    size_t n = 0;
    for (const auto& s : shards_) {
      std::lock_guard<std::mutex> lock(s->mu);
      n += s->lru.size();
    }
    return n;
  }

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const V> value;
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<Entry> lru;  // most recently used first
    // Keys view the strings owned by `lru` entries (list nodes never move).
    std::unordered_map<std::string_view, typename std::list<Entry>::iterator> index;
  };

  static size_t Hash(std::string_view key) { return std::hash<std::string_view>{}(key); }
  // Higher bits pick the shard, the shard's map buckets by the whole hash.
  Shard& ShardOf(size_t h) { return *shards_[(h >> 16) % shards_.size()]; }

  const size_t per_shard_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace mandated::signer
