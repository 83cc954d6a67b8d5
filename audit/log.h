// The audit log: sequences staged events into Merkle-tree leaves, signs checkpoints, answers
// proofs and trail queries, and writes export bundles (specs/audit.md §1-5).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/merkle.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/result.h"
#include "signer/key_store.h"
#include "store/kv_store.h"

namespace mandated::audit {

struct StoredEvent {
  uint64_t seq = 0;
  std::string bytes;  // the leaf
};

struct SignedCheckpoint {
  uint64_t size = 0;
  Hash root{};
  std::string note;  // the signed note text
};

// A trail selector: exactly one of the ids (specs/audit.md §4).
struct TrailQuery {
  std::string authorization, mandate, agent, principal;
  std::optional<int64_t> from_micros, to_micros;  // bounds on `at` (principal queries)
  // Only events of this principal ("" for every principal: the operator).
  std::string visible_principal;
  // A credential limited to some agents or mandates (specs/access.md): only events whose
  // `subjects.agent` / `subjects.mandate` is absent or in these lists; delegations of the named
  // mandate are not followed. Empty: no limit.
  std::vector<std::string> agent_scope, mandate_scope;
  // The query names an agent of another principal than visible_principal: it selects no event,
  // and reads none (its index would be scanned only for every entry to be filtered out).
  bool foreign = false;
};

// A trail page ends at `limit` events or once its events hold this many bytes, whichever comes
// first (a usage batch's event can be about as large as a request body): every page fits the
// answer any client reads (mandatectl reads at most 64 MiB).
inline constexpr size_t kTrailPageBytes = size_t{8} << 20;
// A trail export (a selector) holds at most this many bytes of events: it is built in memory.
inline constexpr size_t kTrailExportBytes = size_t{256} << 20;

struct TrailPage {
  std::vector<StoredEvent> items;
  std::optional<uint64_t> next_after;
};

// Thread safety: every method is safe from any thread; sequencing is serialized internally.
class Log {
 public:
  // `origin`: the checkpoint origin ("<host>/audit") for a new log; a log keeps the origin it
  // was first opened with. Loads the tree size and frontier, and refuses (kDataLoss,
  // "storage-corruption") a stored tree that does not extend its newest signed checkpoint or
  // holds events at or above its size (specs/audit.md §3.1): the service does not start then.
  static Result<std::unique_ptr<Log>> Open(store::KvStore& kv, signer::KeyStore& keys,
                                           Clock& clock, std::string origin);

  ~Log();

  // A background thread sequences staged events every `sequence_ms` and publishes a checkpoint
  // every `checkpoint_s` when the tree grew. Stop sequences once more before returning.
  void StartBackground(int sequence_ms, int checkpoint_s);
  void StopBackground();

  // Sequences the staged events (specs/audit.md §1.1): every one this process staged and
  // committed (so a read after a write sees it), and on the first call every staged event.
  // Returns how many it sequenced.
  Result<uint64_t> Sequence();
  // The same over every staged key, whoever staged it and however late its batch committed.
  Result<uint64_t> SequenceAll();

  uint64_t size();
  const std::string& origin() const { return origin_; }

  // The verifier key of the active audit key (created on first use).
  Result<std::string> VerifierKey();
  // The verifier keys of the audit keys this one replaced (rotated out, newest first): the
  // keys of checkpoints signed before (`audit verify --earlier-key`).
  Result<std::vector<std::string>> EarlierVerifierKeys();
  Result<signer::KeyInfo> AuditKey();

  // Signs and stores a checkpoint of the current tree (after sequencing). Every signing first
  // checks that the stored tree extends the newest signed checkpoint (kDataLoss
  // "storage-corruption" otherwise, nothing signed).
  Result<SignedCheckpoint> Publish();
  // The newest stored checkpoint if it covers the current tree, else a new one; `*published`
  // (when given) says which.
  Result<SignedCheckpoint> Latest(bool* published = nullptr);
  // Publishes when the tree grew since the newest checkpoint; nullopt when it did not.
  Result<std::optional<SignedCheckpoint>> PublishIfGrown();
  Result<SignedCheckpoint> CheckpointAt(uint64_t size);  // kNotFound checkpoint-not-found

  // kNotFound audit-event-not-found, also for a stored e/ key at or above the tree size;
  // kDataLoss storage-corruption for a leaf below the size that is gone.
  Result<StoredEvent> Event(uint64_t seq);
  Result<Hash> Root(uint64_t size);
  // kInvalidArgument audit-proof-range when seq >= size or size > tree size.
  Result<std::vector<Hash>> Inclusion(uint64_t seq, uint64_t size);
  Result<std::vector<Hash>> Consistency(uint64_t from, uint64_t to);

  // Events selected by `q`, ascending, after `after` (exclusive), at most `limit`.
  Result<TrailPage> Trail(const TrailQuery& q, std::optional<uint64_t> after, size_t limit);

  // Takes the bytes of an export, in order; false when they cannot be taken (the reader went
  // away), which stops the export.
  using ExportWriter = std::function<bool(std::string_view bytes)>;
  // The part of an export bundle (specs/audit.md §5) made under the log's lock: the header line
  // and, for a trail, every event line. A whole-log export (a complete prefix) leaves its
  // events to StreamEvents, which reads them without the lock: events [0, stream_events).
  struct ExportStart {
    std::string head;
    bool whole = false;          // a complete prefix: its events are left to StreamEvents
    uint64_t stream_events = 0;  // then: the checkpoint's size
  };
  // Starts an export of every event `q` selects (kInvalidArgument audit-export-too-large past
  // `max_trail_events`, or past `max_trail_bytes` of events) or, with an empty query and the
  // operator's view, of the whole log
  // (the same past `max_whole_events`; the route streams it and sets no bound). For each size in
  // `consistency_from` the header carries the consistency proof from that size to its own
  // (`consistency`, specs/audit.md §5): kInvalidArgument audit-proof-range for 0 or a size past
  // the checkpoint's.
  Result<ExportStart> BeginExport(const TrailQuery& q, size_t max_trail_events,
                                  size_t max_whole_events = SIZE_MAX,
                                  const std::vector<uint64_t>& consistency_from = {},
                                  size_t max_trail_bytes = kTrailExportBytes);
  // Writes the stored events [0, end) as bundle lines, in pieces of about 64 KiB, without the
  // log's lock (an event is never rewritten once sequenced), reading them with a new storage
  // iterator every `bytes_per_iterator` (4 MiB) so that a long export pins no old storage
  // files. kAborted export-aborted when `write` refuses a piece.
  Status StreamEvents(uint64_t end, const ExportWriter& write,
                      size_t bytes_per_iterator = size_t{4} << 20);
  // A whole export bundle in memory: BeginExport with `max_events` for both shapes, then
  // StreamEvents into the string.
  Result<std::string> Export(const TrailQuery& q, size_t max_events);

 private:
  Log(store::KvStore& kv, signer::KeyStore& keys, Clock& clock, std::string origin)
      : kv_(kv), keys_(keys), clock_(clock), origin_(std::move(origin)) {}
  Result<Hash> ReadNode(NodeId id);
  Result<StoredEvent> EventLocked(uint64_t seq);
  // OK when there is no signed checkpoint yet, or when the newest one (`newest_checkpoint_`)
  // is stored, opens under an audit key, names this origin and its size, is at most the tree
  // size and its root is the stored tree's at that size; kDataLoss "storage-corruption" saying
  // what differs otherwise.
  Status CheckNewestCheckpointLocked();
  Result<uint64_t> SequenceLocked(bool full);
  // Whether a staging key dropped as late (LateStagingKeys) has been written since.
  Result<bool> AnyLateKeyWrittenLocked();
  Result<std::vector<uint64_t>> SelectLocked(const TrailQuery& q);
  // (seq, event type) of every index entry of (kind, id), ascending; with `lifecycle`, only
  // the entries of the lifecycle index (specs/audit.md §3).
  Status ScanIndex(std::string_view kind, std::string_view id,
                   std::vector<std::pair<uint64_t, std::string>>* out, bool lifecycle = false);
  Result<SignedCheckpoint> PublishLocked();
  Result<std::optional<SignedCheckpoint>> NewestLocked();

  store::KvStore& kv_;
  signer::KeyStore& keys_;
  Clock& clock_;
  const std::string origin_;
  std::mutex mu_;  // sequencing and publishing
  Frontier frontier_;
  bool full_pass_done_ = false;  // guarded by mu_
  // The size of the newest signed checkpoint (the largest c/ key), if any; guarded by mu_.
  std::optional<uint64_t> newest_checkpoint_;

  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool bg_stop_ = false;
  std::thread bg_;
};

}  // namespace mandated::audit
