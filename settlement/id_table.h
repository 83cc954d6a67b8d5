// IdTable: the exact set of ids the usage meter remembers for de-duplication (specs/usage.md §3),
// each with its content fingerprint and a tag, in flat memory: millions of ids cost one probe of
// one array each, not a node, a key allocation and a bucket each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace mandated::settlement {

// Keys are compared byte for byte (a hash only narrows the search). Open addressing with linear
// probing over 8-byte slots pointing at records kept in insertion order (in blocks that double),
// keys in an arena of chunks that grow to 4 MiB; erased keys leave tombstones, dead records and dead arena bytes, all reclaimed by
// a rebuild once they outweigh the live ones.
// Thread safety: not synchronized; the owner locks.
class IdTable {
 public:
  struct Entry {
    uint64_t value = 0;
    uint32_t tag = 0;
  };

  IdTable();
  ~IdTable();
  IdTable(const IdTable&) = delete;
  IdTable& operator=(const IdTable&) = delete;

  // The entry of `key`, inserted as {value, tag} when absent (`inserted` says which). The pointer
  // stays valid until the next Insert or Erase. REQUIRES: key is not empty.
  Entry* Insert(std::string_view key, uint64_t value, uint32_t tag, bool& inserted);
  // The same, for a key whose Hash the caller computed: a caller with many keys hashes them
  // first and Prefetches the slot of a key some steps ahead of the one it inserts, so the cache
  // misses of a large table overlap instead of adding up.
  static uint64_t Hash(std::string_view key);
  void Prefetch(uint64_t hash) const {
    __builtin_prefetch(slots_.get() + (hash & (capacity_ - 1)));
  }
  Entry* Insert(std::string_view key, uint64_t hash, uint64_t value, uint32_t tag,
                bool& inserted);
  // The entry of `key`, or nullptr.
  Entry* Find(std::string_view key);
  // Removes `key`; false when it was absent.
  bool Erase(std::string_view key);

  size_t size() const { return size_; }
  // Key bytes held, erased ones included until a rebuild drops them (for tests).
  size_t arena_bytes() const { return live_bytes_ + dead_bytes_; }

 private:
  struct Record;
  // An index slot: 0 empty, 1 tombstone, else the top 16 bits of the key's hash and its record
  // number + 2 (8 bytes a slot, so a probe of a table of millions touches one cache line).
  static constexpr uint64_t kEmptySlot = 0, kTombstoneSlot = 1;

  Record& RecordAt(uint64_t n);
  Record& NewRecord();  // the next record, in a new block when the last one is full
  std::string_view KeyOf(const Record& r) const;
  // The record number a used slot points to.
  static uint64_t RecordOfSlot(uint64_t slot) { return (slot & 0xffffffffffffu) - 2; }
  // The slot holding `key`, or the first free (empty or tombstone) slot met or-ed with kAbsent.
  size_t Probe(std::string_view key, uint64_t hash);
  // Appends the key's bytes to the arena; returns where they are.
  uint64_t StoreKey(std::string_view key);
  // Re-inserts every live record into `capacity` slots; with `compact`, also drops erased
  // records and their key bytes.
  void Rebuild(size_t capacity, bool compact);
  // Zeroed memory; a region of 2 MiB or more is mapped with transparent huge pages where the
  // kernel allows: the slots, record blocks and key chunks of a table of millions of ids then
  // take a page fault per 2 MiB rather than per 4 KiB, and a probe rarely misses the TLB.
  static void* MapHuge(size_t bytes);
  struct Unmap {
    size_t bytes = 0;
    void operator()(void* p) const;
  };
  template <typename T>
  using Mapped = std::unique_ptr<T, Unmap>;
  // Record n of a list of doubling blocks, and a record's key bytes in a list of chunks (the
  // table's own, or the old ones while a compaction moves them).
  static Record& RecordIn(const std::vector<Mapped<Record>>& blocks, uint64_t n);
  static std::string_view KeyIn(const std::vector<Mapped<char>>& chunks, const Record& r);
  template <typename T>
  static Mapped<T> MapArray(size_t n) {
    return Mapped<T>(static_cast<T*>(MapHuge(n * sizeof(T))), Unmap{n * sizeof(T)});
  }

  Mapped<uint64_t> slots_;
  size_t capacity_ = 0;  // a power of two
  // Records in insertion order, in blocks that never move.
  std::vector<Mapped<Record>> records_;
  uint64_t record_count_ = 0;
  // Key bytes, in chunks that never move, growing from 16 KiB to 4 MiB.
  std::vector<Mapped<char>> chunks_;
  size_t chunk_bytes_ = 0;  // size of the last chunk
  size_t chunk_used_ = 0;   // bytes used of the last chunk
  size_t size_ = 0, tombstones_ = 0;
  size_t live_bytes_ = 0, dead_bytes_ = 0;
};

}  // namespace mandated::settlement
