// IdTable: open addressing over 8-byte slots, records in blocks, keys in a chunked arena
// (settlement/id_table.h).
#include "settlement/id_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "base/siphash.h"

namespace mandated::settlement {
namespace {

// Record block k holds kFirstBlock << k records and key chunk k up to kFirstChunkBytes << k bytes
// (at most kMaxChunkBytes): a principal with a few ids costs a few KiB, one with millions gets
// blocks of megabytes.
constexpr uint64_t kFirstBlock = 256;
constexpr size_t kFirstChunkBytes = size_t{16} << 10;
constexpr size_t kMaxChunkBytes = size_t{4} << 20;
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kAbsent = size_t{1} << 63;
constexpr size_t kInitialSlots = 1024;
constexpr uint32_t kErased = UINT32_MAX;  // Record::length of an erased record

}  // namespace

struct IdTable::Record {
  uint64_t hash;
  uint64_t offset;  // chunk index << 32 | offset in the chunk
  uint32_t length;  // key bytes; kErased once erased
  Entry entry;
};

void* IdTable::MapHuge(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) std::abort();  // as operator new would, without exceptions
  // Only regions of a huge page or more: a small table must not cost 2 MiB of memory.
  if (bytes >= kHugePage) madvise(p, bytes, MADV_HUGEPAGE);  // advice: ignored where unsupported
  return p;
}

void IdTable::Unmap::operator()(void* p) const {
  if (p != nullptr) munmap(p, bytes);
}

IdTable::IdTable() : slots_(MapArray<uint64_t>(kInitialSlots)), capacity_(kInitialSlots) {}
IdTable::~IdTable() = default;

// Keyed (SipHash-2-4 under a per-process random key): ids come from merchants, and an unkeyed
// hash would let one choose ids that share a probe sequence and make every insert walk it.
uint64_t IdTable::Hash(std::string_view key) { return SipHash24(ProcessSipKey(), key); }

IdTable::Record& IdTable::RecordIn(const std::vector<Mapped<Record>>& blocks, uint64_t n) {
  // Block k starts at record kFirstBlock * (2^k - 1).
  const unsigned k = static_cast<unsigned>(std::bit_width(n / kFirstBlock + 1)) - 1;
  return blocks[k].get()[n - kFirstBlock * ((uint64_t{1} << k) - 1)];
}

std::string_view IdTable::KeyOf(const Record& r) const { return KeyIn(chunks_, r); }

IdTable::Record& IdTable::NewRecord() {
  const uint64_t n = record_count_++;
  if (n == kFirstBlock * ((uint64_t{1} << records_.size()) - 1)) {
    records_.push_back(MapArray<Record>(kFirstBlock << records_.size()));
  }
  return RecordAt(n);
}

IdTable::Record& IdTable::RecordAt(uint64_t n) { return RecordIn(records_, n); }

std::string_view IdTable::KeyIn(const std::vector<Mapped<char>>& chunks, const Record& r) {
  return std::string_view(chunks[r.offset >> 32].get() + (r.offset & 0xffffffffu), r.length);
}

size_t IdTable::Probe(std::string_view key, uint64_t hash) {
  const size_t mask = capacity_ - 1;
  const uint64_t tag = hash >> 48;
  bool have_free = false;
  size_t free_at = 0;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const uint64_t slot = slots_.get()[i];
    if (slot == kEmptySlot) return kAbsent | (have_free ? free_at : i);
    if (slot == kTombstoneSlot) {
      if (!have_free) free_at = i;
      have_free = true;
    } else if (slot >> 48 == tag) {
      const Record& r = RecordAt(RecordOfSlot(slot));
      if (r.hash == hash && r.length == key.size() && KeyOf(r) == key) return i;
    }
  }
}

uint64_t IdTable::StoreKey(std::string_view key) {
  if (chunks_.empty() || chunk_used_ + key.size() > chunk_bytes_) {
    const size_t next =
        std::min(kMaxChunkBytes, kFirstChunkBytes << std::min<size_t>(chunks_.size(), 20));
    chunk_bytes_ = std::max(key.size(), next);
    chunks_.push_back(MapArray<char>(chunk_bytes_));
    chunk_used_ = 0;
  }
  const uint64_t offset = (static_cast<uint64_t>(chunks_.size() - 1) << 32) | chunk_used_;
  std::memcpy(chunks_.back().get() + chunk_used_, key.data(), key.size());
  chunk_used_ += key.size();
  live_bytes_ += key.size();
  return offset;
}

IdTable::Entry* IdTable::Insert(std::string_view key, uint64_t value, uint32_t tag,
                                bool& inserted) {
  return Insert(key, Hash(key), value, tag, inserted);
}

IdTable::Entry* IdTable::Insert(std::string_view key, uint64_t hash, uint64_t value, uint32_t tag,
                                bool& inserted) {
  size_t at = Probe(key, hash);
  if ((at & kAbsent) == 0) {
    inserted = false;
    return &RecordAt(RecordOfSlot(slots_.get()[at])).entry;
  }
  // At most 7/10 of the slots used or tombstoned, so probes stay short.
  if ((size_ + tombstones_ + 1) * 10 > capacity_ * 7) {
    Rebuild(size_ + 1 > capacity_ * 7 / 20 ? capacity_ * 2 : capacity_, false);
    at = Probe(key, hash);
  }
  const uint64_t n = record_count_;
  Record& r = NewRecord();
  r.hash = hash;
  r.offset = StoreKey(key);
  r.length = static_cast<uint32_t>(key.size());
  r.entry = Entry{value, tag};
  const size_t i = at & ~kAbsent;
  if (slots_.get()[i] == kTombstoneSlot) --tombstones_;
  slots_.get()[i] = (hash >> 48) << 48 | (n + 2);
  ++size_;
  inserted = true;
  return &r.entry;
}

IdTable::Entry* IdTable::Find(std::string_view key) {
  const size_t at = Probe(key, Hash(key));
  if ((at & kAbsent) != 0) return nullptr;
  return &RecordAt(RecordOfSlot(slots_.get()[at])).entry;
}

bool IdTable::Erase(std::string_view key) {
  const size_t at = Probe(key, Hash(key));
  if ((at & kAbsent) != 0) return false;
  Record& r = RecordAt(RecordOfSlot(slots_.get()[at]));
  dead_bytes_ += r.length;
  live_bytes_ -= r.length;
  r.length = kErased;
  slots_.get()[at] = kTombstoneSlot;
  --size_;
  ++tombstones_;
  if (dead_bytes_ > kFirstChunkBytes && dead_bytes_ > live_bytes_) Rebuild(capacity_, true);
  return true;
}

void IdTable::Rebuild(size_t capacity, bool compact) {
  slots_ = MapArray<uint64_t>(capacity);
  capacity_ = capacity;
  tombstones_ = 0;
  std::vector<Mapped<Record>> old_records;
  std::vector<Mapped<char>> old_chunks;
  const uint64_t old_count = record_count_;
  if (compact) {
    old_records.swap(records_);
    old_chunks.swap(chunks_);
    record_count_ = 0;
    chunk_used_ = 0;
    chunk_bytes_ = 0;
    live_bytes_ = 0;
    dead_bytes_ = 0;
  }
  auto old_record = [&](uint64_t n) -> const Record& {
    return RecordIn(compact ? old_records : records_, n);
  };
  const size_t mask = capacity_ - 1;
  constexpr uint64_t kAhead = 16;
  for (uint64_t n = 0; n < old_count; ++n) {
    if (n + kAhead < old_count) Prefetch(old_record(n + kAhead).hash);
    const Record& r = old_record(n);
    if (r.length == kErased) continue;
    uint64_t at = n;
    if (compact) {
      at = record_count_;
      Record& moved = NewRecord();
      moved = r;
      moved.offset = StoreKey(KeyIn(old_chunks, r));
    }
    size_t i = r.hash & mask;
    while (slots_.get()[i] != kEmptySlot) i = (i + 1) & mask;
    slots_.get()[i] = (r.hash >> 48) << 48 | (at + 2);
  }
}

}  // namespace mandated::settlement
