// KvStore: the storage port of mandated. Named column families, atomic write batches, durable
// commits, prefix and range scans. Shaped so a networked backend can replace RocksDB later
// (specs/storage.md).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace mandated::store {

// A set of puts and deletes applied all together or not at all. Backend-agnostic.
// Thread safety: not synchronized; build it on one thread.
class WriteBatch {
 public:
  enum class OpType : uint8_t { kPut, kDelete };
  struct Op {
    OpType type;
    std::string column_family;
    std::string key;
    std::string value;
  };

  void Put(std::string_view cf, std::string_view key, std::string_view value) {
    ops_.push_back(Op{OpType::kPut, std::string(cf), std::string(key), std::string(value)});
  }
  // Takes the value without copying it (audit events and usage batches run to megabytes).
  void Put(std::string_view cf, std::string_view key, std::string&& value) {
    ops_.push_back(Op{OpType::kPut, std::string(cf), std::string(key), std::move(value)});
  }
  void Put(std::string_view cf, std::string_view key, const char* value) {
    Put(cf, key, std::string_view(value));
  }
  void Delete(std::string_view cf, std::string_view key) {
    ops_.push_back(Op{OpType::kDelete, std::string(cf), std::string(key), {}});
  }
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }

 private:
  std::vector<Op> ops_;
};

enum class Durability {
  // The commit is on stable storage (WAL fsynced) before Write returns. Concurrent durable
  // writers are grouped into one sync.
  kSync,
  // Written to the OS; survives a process crash but not a power loss. Only for data that can be
  // rebuilt (caches, metrics).
  kNoSync,
};

// Visitor for scans: return false to stop early.
using ScanVisitor = std::function<bool(std::string_view key, std::string_view value)>;

struct StoreStats {
  uint64_t write_batches = 0;     // Write calls that committed
  uint64_t wal_syncs = 0;         // fsyncs of the write-ahead log
  uint64_t grouped_writes = 0;    // writes committed by another writer's group leader
};

// Error mapping shared by every backend: corruption -> kDataLoss (reason "storage-corruption"),
// I/O failure -> kUnavailable ("storage-io"), full disk -> kResourceExhausted ("storage-full"),
// unknown column family -> kInternal.
// Thread safety: all methods are safe to call concurrently.
class KvStore {
 public:
  virtual ~KvStore() = default;

  // The value under `key`, or nullopt if absent.
  virtual Result<std::optional<std::string>> Get(std::string_view cf, std::string_view key) = 0;

  // Applies the batch atomically. With kSync the batch is durable when this returns OK.
  virtual Status Write(const WriteBatch& batch, Durability durability = Durability::kSync) = 0;

  // Visits keys starting with `prefix` in ascending byte order.
  virtual Status ScanPrefix(std::string_view cf, std::string_view prefix,
                            const ScanVisitor& visit) = 0;

  // Visits keys in [start, end) in ascending order (end empty: to the end of the family).
  virtual Status ScanRange(std::string_view cf, std::string_view start, std::string_view end,
                           const ScanVisitor& visit) = 0;

  // Makes everything written so far durable (used at shutdown).
  virtual Status Flush() = 0;

  // Writes a consistent copy of the whole store, as of one instant between writes (every batch
  // in it whole or absent, as after a crash), to `dir`, which must not exist (its parent must);
  // the copy opens as a store of its own (specs/storage.md §Backups). Files are hard-linked
  // where the file system allows, else copied. Returns the store's sequence number when the
  // copy began (the copy holds at least that). kAlreadyExists ("backup-exists") when `dir` exists.
  virtual Result<uint64_t> Checkpoint(const std::string& dir) = 0;

  virtual StoreStats Stats() = 0;
};

}  // namespace mandated::store
