// RocksStore: the embedded RocksDB implementation of KvStore (the default backend).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/kv_store.h"

namespace mandated::store {

struct RocksStoreOptions {
  // Directory of the database; created if missing.
  std::string path;
  // Column families the caller will use (besides "default"); created if missing.
  std::vector<std::string> column_families;
  // Background threads for flush and compaction.
  int background_threads = 2;
  // Read every table file against its checksums before the store opens (a corrupted one is
  // kDataLoss "storage-corruption"); costs one sequential read of the database at start.
  bool verify_tables = true;
};

// Opens (or creates) the database. Recovery is strict: a corrupted WAL, MANIFEST, CURRENT or SST
// (every block checked, see verify_tables) is reported as
// kDataLoss ("storage-corruption") and the store does not open; nothing is silently dropped.
// Returns kUnavailable ("storage-locked") if another process holds the database.
Result<std::unique_ptr<KvStore>> OpenRocksStore(const RocksStoreOptions& options);

}  // namespace mandated::store
