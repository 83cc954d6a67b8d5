// Adapter: KvStore over RocksDB 7.8. The only file that includes RocksDB headers.
#include "store/rocks_store.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <exception>
#include <map>

#include "base/log.h"

namespace mandated::store {
namespace {

Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) {
    return OkStatus();
  }
  std::string msg = std::string(context) + ": " + s.ToString();
  if (s.IsCorruption()) {
    return DataLossError(std::move(msg), "storage-corruption");
  }
  if (s.IsNoSpace()) {
    return ResourceExhaustedError(std::move(msg), "storage-full");
  }
  if (s.IsIOError()) {
    // RocksDB's own words for a LOCK file another process (or this one) holds; not any message
    // that merely contains "lock", as a path such as /srv/blockstore would.
    const std::string text = s.ToString();
    if (text.find("While lock file") != std::string::npos ||
        text.find("lock hold by current process") != std::string::npos) {
      return UnavailableError(std::move(msg), "storage-locked");
    }
    return UnavailableError(std::move(msg), "storage-io");
  }
  if (s.IsNotFound()) {
    return NotFoundError(std::move(msg));
  }
  return InternalError(std::move(msg), "storage-error");
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// RocksDB's own diagnostics, warnings and worse, go to the service log instead of a LOG file in
// the data directory: on a full disk RocksDB 7.8's file logger aborts the process (an assertion
// on its first write after a failed one) while reporting the very error it should survive.
// Thread safety: stateless; log::Write is thread-safe.
class ServiceLogger final : public rocksdb::Logger {
 public:
  ServiceLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  void Logv(const char* format, va_list ap) override {
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, ap);
    log::Warn("rocksdb", {{"message", static_cast<const char*>(line)}});
  }
#pragma GCC diagnostic pop
};

// Thread safety: RocksDB's DB is thread-safe; handles_ is immutable after open.
class RocksStore final : public KvStore {
 public:
  RocksStore(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
             std::shared_ptr<rocksdb::Statistics> stats)
      : db_(std::move(db)), handles_(std::move(handles)), stats_(std::move(stats)) {
    for (rocksdb::ColumnFamilyHandle* h : handles_) {
      by_name_[h->GetName()] = h;
    }
  }

  ~RocksStore() override {
    if (!wal_failed_.load()) {
      db_->FlushWAL(/*sync=*/true).PermitUncheckedError();
    }
    for (rocksdb::ColumnFamilyHandle* h : handles_) {
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    db_->Close().PermitUncheckedError();
  }

  Result<std::optional<std::string>> Get(std::string_view cf, std::string_view key) override {
    MD_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * h, Handle(cf));
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    std::string value;
    rocksdb::Status s = db_->Get(ro, h, ToSlice(key), &value);
    if (s.IsNotFound()) {
      return std::optional<std::string>();
    }
    MD_RETURN_IF_ERROR(FromRocks(s, "get"));
    return std::optional<std::string>(std::move(value));
  }

  Status Write(const WriteBatch& batch, Durability durability) override {
    // Sized up front: a batch carrying a large value would otherwise copy its growing buffer
    // over and over (its record: tag, column family and two varint lengths, at most 16 bytes).
    size_t bytes = 12;  // WriteBatch header
    for (const WriteBatch::Op& op : batch.ops()) bytes += 16 + op.key.size() + op.value.size();
    rocksdb::WriteBatch wb(bytes);
    for (const WriteBatch::Op& op : batch.ops()) {
      MD_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * h, Handle(op.column_family));
      rocksdb::Status s = op.type == WriteBatch::OpType::kPut
                              ? wb.Put(h, ToSlice(op.key), ToSlice(op.value))
                              : wb.Delete(h, ToSlice(op.key));
      MD_RETURN_IF_ERROR(FromRocks(s, "building write batch"));
    }
    rocksdb::WriteOptions wo;
    wo.sync = durability == Durability::kSync;
    rocksdb::Status s = db_->Write(wo, &wb);
    if (s.IsIOError()) {
      wal_failed_.store(true);
    } else if (s.ok() && wo.sync) {
      // A synced write went through once the store recovered (a new log file): the log in use
      // syncs again, so the stop may sync it too (specs/config.md §Signals).
      wal_failed_.store(false);
    }
    return FromRocks(s, "write");
  }

  Status ScanPrefix(std::string_view cf, std::string_view prefix,
                    const ScanVisitor& visit) override {
    MD_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * h, Handle(cf));
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, h));
    for (it->Seek(ToSlice(prefix)); it->Valid(); it->Next()) {
      std::string_view k(it->key().data(), it->key().size());
      if (k.substr(0, prefix.size()) != prefix) {
        break;
      }
      if (!visit(k, std::string_view(it->value().data(), it->value().size()))) {
        break;
      }
    }
    return FromRocks(it->status(), "scan");
  }

  Status ScanRange(std::string_view cf, std::string_view start, std::string_view end,
                   const ScanVisitor& visit) override {
    MD_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * h, Handle(cf));
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, h));
    for (it->Seek(ToSlice(start)); it->Valid(); it->Next()) {
      std::string_view k(it->key().data(), it->key().size());
      if (!end.empty() && k >= end) {
        break;
      }
      if (!visit(k, std::string_view(it->value().data(), it->value().size()))) {
        break;
      }
    }
    return FromRocks(it->status(), "scan");
  }

  // After a failed write the log file has seen an error: RocksDB 7.8 aborts the process on a
  // sync of it (an assertion), so the stop only reports what the write did (nothing acknowledged
  // is lost: every acknowledged write was synced when it was made).
  Status Flush() override {
    if (wal_failed_.load()) {
      return UnavailableError("a write failed earlier; the log is not synced again",
                              "storage-io");
    }
    return FromRocks(db_->FlushWAL(/*sync=*/true), "flushing WAL");
  }

  Result<uint64_t> Checkpoint(const std::string& dir) override {
    if (db_->GetEnv()->FileExists(dir).ok()) {
      return AlreadyExistsError(dir + " already exists", "backup-exists");
    }
    rocksdb::Checkpoint* raw = nullptr;
    MD_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw), "checkpoint"));
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    uint64_t sequence = 0;
    // log_size_for_flush 0: every family's memtable is flushed first, so the copy needs no log
    // replay beyond what RocksDB copies with it; the live log files are copied either way.
    MD_RETURN_IF_ERROR(
        FromRocks(checkpoint->CreateCheckpoint(dir, /*log_size_for_flush=*/0, &sequence),
                  "checkpoint"));
    return sequence;
  }

  // Reads every block of every table file against its checksum (RocksDB's open checks only
  // the files' footers and the MANIFEST), so a flipped byte anywhere stops the start.
  Status VerifyTables() { return FromRocks(db_->VerifyChecksum(), "verifying table files"); }

  StoreStats Stats() override {
    StoreStats out;
    out.write_batches = stats_->getTickerCount(rocksdb::WRITE_DONE_BY_SELF) +
                        stats_->getTickerCount(rocksdb::WRITE_DONE_BY_OTHER);
    out.wal_syncs = stats_->getTickerCount(rocksdb::WAL_FILE_SYNCED);
    out.grouped_writes = stats_->getTickerCount(rocksdb::WRITE_DONE_BY_OTHER);
    return out;
  }

 private:
  Result<rocksdb::ColumnFamilyHandle*> Handle(std::string_view cf) const {
    auto it = by_name_.find(std::string(cf));
    if (it == by_name_.end()) {
      return InternalError("unknown column family \"" + std::string(cf) + "\"");
    }
    return it->second;
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> by_name_;
  std::shared_ptr<rocksdb::Statistics> stats_;
  std::atomic<bool> wal_failed_{false};  // a write failed with an I/O error (full disk included)
};

}  // namespace

Result<std::unique_ptr<KvStore>> OpenRocksStore(const RocksStoreOptions& options) {
  try {
    rocksdb::Options db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    db_options.paranoid_checks = true;
    db_options.info_log = std::make_shared<ServiceLogger>();
    // A crash (SIGKILL, power loss) may leave the last write-ahead log record half written: that
    // record was never acknowledged (every acknowledged write is synced whole), so it is dropped
    // and the store opens. Any other damage to a log, such as a bad checksum mid-file, still
    // stops the start (kAbsoluteConsistency also refused the torn tail, so a crash at the wrong
    // moment kept the service from starting again).
    db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
    db_options.track_and_verify_wals_in_manifest = true;
    db_options.IncreaseParallelism(options.background_threads);
    // Decisions are small batches written by many threads on few cores: the group leader
    // inserting every batch itself beats waking each writer to insert its own (measured: +27%
    // authorizations/s over HTTP at 64 connections on 2 cores, 2837 -> 3591).
    db_options.allow_concurrent_memtable_write = false;
    db_options.statistics = rocksdb::CreateDBStatistics();
    db_options.statistics->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);

    rocksdb::ColumnFamilyOptions cf_options;
    rocksdb::BlockBasedTableOptions table_options;
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));

    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    families.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
    for (const std::string& name : options.column_families) {
      families.emplace_back(name, cf_options);
    }
    // Families that exist on disk but are not requested must still be opened.
    std::vector<std::string> existing;
    if (rocksdb::DB::ListColumnFamilies(db_options, options.path, &existing).ok()) {
      for (const std::string& name : existing) {
        bool known = false;
        for (const auto& f : families) {
          known = known || f.name == name;
        }
        if (!known) {
          families.emplace_back(name, cf_options);
        }
      }
    }

    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, families, &handles, &raw);
    MD_RETURN_IF_ERROR(FromRocks(s, "opening store at " + options.path));
    auto rocks = std::make_unique<RocksStore>(std::unique_ptr<rocksdb::DB>(raw),
                                              std::move(handles), db_options.statistics);
    if (options.verify_tables) {
      Status verified = rocks->VerifyTables();
      if (!verified.ok()) {
        return verified.Annotate("opening store at " + options.path);
      }
    }
    std::unique_ptr<KvStore> store = std::move(rocks);
    return store;
  } catch (const std::exception& e) {
    return InternalError(std::string("opening store: ") + e.what(), "storage-error");
  }
}

}  // namespace mandated::store
