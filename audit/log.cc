// The audit log over the `audit` column family: sequencing, checkpoints, proofs, trails, export
// (specs/audit.md).
#include "audit/log.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <set>

#include "audit/event.h"
#include "base/json_scan.h"
#include "base/log.h"

namespace mandated::audit {
namespace {

// Each pass's events go in durable batches of at most this many. Smaller batches shorten what a
// purchase's write waits behind, but a full pass rescans its staging range from the start for
// every batch, and a backlog that then takes more than kPendingKeyMaxAge to sequence turns
// every pending key late: at 256 a backlog of 65,536 took minutes (BENCHMARKS.md, audit).
constexpr size_t kSequenceBatch = 4096;
// A pass's write batch also stops growing past this many bytes of staged events (a usage batch's
// event is about 40 bytes per usage event), so it stays one ordinary heap allocation.
constexpr size_t kSequenceBytes = size_t{8} << 20;
// A staged key not sequenced this long after it was handed out is left to the full passes.
constexpr auto kPendingKeyMaxAge = std::chrono::seconds(5);
// How long a dropped key is looked for after each scan that started past it (LateStagingKeys).
constexpr auto kLateKeyMaxAge = std::chrono::minutes(10);
// How often the background thread makes a full pass.
constexpr auto kFullPassEvery = std::chrono::seconds(60);
constexpr int kMaxDelegationDepth = 16;

std::string Hex16(uint64_t v) {
  char buf[17];
  snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

Result<uint64_t> ParseHex16(std::string_view s) {
  if (s.size() != 16) return InvalidArgumentError("bad key", "audit-key-malformed");
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return InvalidArgumentError("bad key", "audit-key-malformed");
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

// A stored decimal count (meta/size, meta/checkpoint); kDataLoss when it is not one.
Result<uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 19 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return DataLossError("audit counter is malformed", "storage-corruption");
  }
  uint64_t v = 0;
  for (char c : text) v = v * 10 + static_cast<uint64_t>(c - '0');
  return v;
}

std::string EventKey(uint64_t seq) { return "e/" + Hex16(seq); }

std::string NodeKey(NodeId id) {
  char buf[8];
  snprintf(buf, sizeof(buf), "%02x/", id.level);
  return "n/" + std::string(buf) + Hex16(id.index);
}

std::string IndexPrefix(std::string_view kind, std::string_view id) {
  return "x/" + std::string(kind) + "/" + std::string(id) + "/";
}

// The lifecycle index (specs/audit.md §3): only the events that change a mandate, agent or
// session itself, so a purchase's trail finds them without walking every purchase of a busy
// mandate or agent.
std::string LifecyclePrefix(std::string_view kind, std::string_view id) {
  return "l/" + std::string(kind) + "/" + std::string(id) + "/";
}

std::string CheckpointKey(uint64_t size) { return "c/" + Hex16(size); }

constexpr char kSizeKey[] = "meta/size";
constexpr char kNewestCheckpointKey[] = "meta/checkpoint";
constexpr char kOriginKey[] = "meta/origin";

// The fields of an event the log itself needs.
struct EventFacts {
  std::string type, principal, at;
  std::vector<std::pair<std::string, std::string>> subjects;
};

// The fast path of FactsOf, for events as Stage writes them (LeafBytes puts "seq" first): the
// members before "data", which comes last, read without building a tree, so a usage batch's
// megabyte of data is not parsed (nor checked: the log stages only what json::Write made).
// False (nothing decided) on anything else.
bool FastFactsOf(std::string_view bytes, EventFacts& f) {
  json::Scanner s(bytes);
  if (!s.BeginObject()) return false;
  bool first = true;
  std::string_view key;
  uint32_t seen = 0;
  auto once = [&seen](uint32_t bit) {
    if ((seen & bit) != 0) return false;
    seen |= bit;
    return true;
  };
  auto strings = [&s](auto&& each) {  // an object of string members
    if (!s.BeginObject()) return false;
    bool first_member = true;
    std::string_view k, v;
    while (s.NextMember(first_member, k)) {
      if (!s.String(v) || !each(k, v)) return false;
    }
    return s.ok();
  };
  while (s.NextMember(first, key)) {
    std::string_view v;
    bool ok = false;
    if (key == "seq") {
      uint64_t seq = 0;
      ok = once(1) && s.Uint(seq);
    } else if (key == "at") {
      ok = once(2) && s.String(v);
      f.at = v;
    } else if (key == "type") {
      ok = once(4) && s.String(v);
      f.type = v;
    } else if (key == "principal") {
      ok = once(8) && s.String(v);
      f.principal = v;
    } else if (key == "actor") {
      ok = once(16) && strings([](std::string_view, std::string_view) { return true; });
    } else if (key == "subjects") {
      ok = once(32) && strings([&f](std::string_view k, std::string_view id) {
        for (const auto& [kind, existing] : f.subjects) {
          if (kind == k) return false;  // repeated: the strict parser names the fault
        }
        f.subjects.emplace_back(k, id);
        return true;
      });
    } else if (key == "data") {
      return (seen & (2 | 4 | 8 | 32)) == (2 | 4 | 8 | 32);
    }
    if (!ok) return false;
  }
  return false;
}

Result<EventFacts> FactsOf(std::string_view bytes) {
  if (EventFacts f; FastFactsOf(bytes, f)) return f;
  Result<json::Value> v = json::Parse(bytes);
  if (!v.ok()) return v.error();
  if (!v->is_object()) return InvalidArgumentError("event is not an object", "event-malformed");
  EventFacts f;
  if (const json::Value* t = v->Find("type"); t && t->is_string()) f.type = t->as_string();
  if (const json::Value* p = v->Find("principal"); p && p->is_string()) {
    f.principal = p->as_string();
  }
  if (const json::Value* a = v->Find("at"); a && a->is_string()) f.at = a->as_string();
  if (const json::Value* s = v->Find("subjects"); s && s->is_object()) {
    for (size_t i = 0; i < s->size(); ++i) {
      if (s->items()[i].is_string()) f.subjects.emplace_back(s->keys()[i], s->items()[i].as_string());
    }
  }
  return f;
}

std::string SubjectOf(const EventFacts& f, std::string_view kind) {
  for (const auto& [k, id] : f.subjects) {
    if (k == kind) return id;
  }
  return "";
}

constexpr char kLifecycleIndexKey[] = "meta/lifecycle-index";  // set once the index is complete

}  // namespace

// A store sequenced before the lifecycle index existed gets it once, from the trail index (the
// lifecycle entries are a subset of its mandate, agent and session entries), in batches; a crash
// part way writes the same entries again at the next start.
namespace {
Status BuildLifecycleIndex(store::KvStore& kv) {
  Result<std::optional<std::string>> done = kv.Get(kAuditFamily, kLifecycleIndexKey);
  if (!done.ok()) return done.error();
  if (done->has_value()) return OkStatus();
  for (std::string_view kind : {"mandate", "agent", "session"}) {
    const std::string prefix = "x/" + std::string(kind) + "/";
    store::WriteBatch batch;
    size_t in_batch = 0;
    Status write_error;
    MD_RETURN_IF_ERROR(kv.ScanPrefix(kAuditFamily, prefix, [&](std::string_view k,
                                                                 std::string_view v) {
      if (!IsLifecycleEvent(kind, v)) return true;
      batch.Put(kAuditFamily, "l/" + std::string(k.substr(2)), v);
      if (++in_batch == 4096) {
        write_error = kv.Write(batch);
        batch = store::WriteBatch();
        in_batch = 0;
      }
      return write_error.ok();
    }));
    MD_RETURN_IF_ERROR(write_error);
    if (in_batch > 0) MD_RETURN_IF_ERROR(kv.Write(batch));
  }
  store::WriteBatch mark;
  mark.Put(kAuditFamily, kLifecycleIndexKey, "1");
  return kv.Write(mark, store::Durability::kSync);
}
}  // namespace

Result<std::unique_ptr<Log>> Log::Open(store::KvStore& kv, signer::KeyStore& keys, Clock& clock,
                                       std::string origin) {
  // The origin names the log in every checkpoint and in the verifier key: it is fixed at the
  // first start, so checkpoints held from before keep verifying if the host or port changes.
  Result<std::optional<std::string>> pinned = kv.Get(kAuditFamily, kOriginKey);
  if (!pinned.ok()) return pinned.error();
  if (pinned->has_value()) {
    origin = **pinned;
  } else {
    store::WriteBatch batch;
    batch.Put(kAuditFamily, kOriginKey, origin);
    MD_RETURN_IF_ERROR(kv.Write(batch, store::Durability::kSync));
  }
  std::unique_ptr<Log> log(new Log(kv, keys, clock, std::move(origin)));
  Result<std::optional<std::string>> size = kv.Get(kAuditFamily, kSizeKey);
  if (!size.ok()) return size.error();
  uint64_t n = 0;
  if (size->has_value()) {
    const std::string& text = **size;
    if (text.empty() || text.size() > 19 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return DataLossError("audit tree size is malformed", "storage-corruption");
    }
    n = std::stoull(text);
  }
  MD_RETURN_IF_ERROR(BuildLifecycleIndex(kv));
  Log* raw = log.get();
  Result<Frontier> f = Frontier::Load(n, [raw](NodeId id) { return raw->ReadNode(id); });
  if (!f.ok()) return f.error();
  log->frontier_ = std::move(*f);

  // Events at or above the size: the sequencer writes each leaf with the size that covers it,
  // in one batch, so only a changed size (a log cut back to append over old numbers) leaves
  // them (specs/audit.md §3.1).
  bool beyond = false;
  MD_RETURN_IF_ERROR(kv.ScanRange(kAuditFamily, EventKey(n), "e0",
                                  [&beyond](std::string_view, std::string_view) {
                                    beyond = true;
                                    return false;
                                  }));
  // The newest signed checkpoint: the one meta/checkpoint names, or a larger c/ key (a pointer
  // moved back does not hide a newer checkpoint). Scanning from the pointer reads one key when
  // nothing was changed.
  uint64_t pointer = 0;
  Result<std::optional<std::string>> pointer_text = kv.Get(kAuditFamily, kNewestCheckpointKey);
  if (!pointer_text.ok()) return pointer_text.error();
  if (pointer_text->has_value()) {
    Result<uint64_t> p = ParseDecimal(**pointer_text);
    if (!p.ok()) return p.error();
    pointer = *p;
  }
  Status key_error;
  MD_RETURN_IF_ERROR(kv.ScanRange(
      kAuditFamily, CheckpointKey(pointer), "c0", [&](std::string_view k, std::string_view) {
        Result<uint64_t> cp_size = ParseHex16(k.substr(2));
        if (!cp_size.ok()) {
          key_error = DataLossError("audit checkpoint key is malformed", "storage-corruption");
          return false;
        }
        log->newest_checkpoint_ = *cp_size;
        return true;
      }));
  MD_RETURN_IF_ERROR(key_error);
  Status intact = OkStatus();
  if (beyond) {
    intact = DataLossError("the audit log holds events at or above its size " +
                               std::to_string(n) + " (meta/size was changed)",
                           "storage-corruption");
  } else if (pointer_text->has_value() && !log->newest_checkpoint_) {
    intact = DataLossError("the newest signed audit checkpoint (size " + std::to_string(pointer) +
                               ") is missing",
                           "storage-corruption");
  } else {
    std::lock_guard<std::mutex> lock(log->mu_);
    intact = log->CheckNewestCheckpointLocked();
  }
  if (!intact.ok()) {
    mandated::log::Error("audit storage was altered or damaged: refusing to start",
                         {{"error", intact.ToString()}});
    return DataLossError(intact.message() +
                             "; the audit data was altered or damaged, so the service will not "
                             "sign over it: restore the data directory from a backup",
                         "storage-corruption");
  }
  return log;
}

Status Log::CheckNewestCheckpointLocked() {
  if (!newest_checkpoint_) return OkStatus();
  const uint64_t size = *newest_checkpoint_;
  auto corrupt = [size](const std::string& what) {
    return DataLossError("the audit tree does not extend its newest signed checkpoint (size " +
                             std::to_string(size) + "): " + what,
                         "storage-corruption");
  };
  Result<std::optional<std::string>> note = kv_.Get(kAuditFamily, CheckpointKey(size));
  if (!note.ok()) return note.error();
  if (!note->has_value()) return corrupt("the checkpoint is missing");
  // It must be ours: a note written into the store by hand, under no audit key, vouches for
  // nothing.
  Result<std::vector<signer::KeyInfo>> keys = keys_.List("service");
  if (!keys.ok()) return keys.error();
  std::optional<Checkpoint> signed_cp;
  for (const signer::KeyInfo& k : *keys) {
    if (k.purpose != "audit" || k.type != signer::KeyType::kEd25519) continue;
    Result<NoteVerifier> v = ParseVerifierKey(VerifierKeyString(origin_, k.public_key));
    if (!v.ok()) continue;
    Result<std::string> body = OpenNote(**note, *v);
    if (!body.ok()) continue;
    Result<Checkpoint> c = ParseCheckpointBody(*body);
    if (!c.ok()) return corrupt("its body is malformed");
    signed_cp = std::move(*c);
    break;
  }
  if (!signed_cp) return corrupt("its signature does not verify under any audit key");
  if (signed_cp->origin != origin_ || signed_cp->size != size) {
    return corrupt("it is signed for " + signed_cp->origin + " at size " +
                   std::to_string(signed_cp->size));
  }
  if (size > frontier_.size()) {
    return corrupt("the tree holds only " + std::to_string(frontier_.size()) + " events");
  }
  Result<Hash> root = RootAt(size, [this](NodeId id) { return ReadNode(id); });
  if (!root.ok()) return root.error();
  if (*root != signed_cp->root) {
    return corrupt("the stored tree's root at that size is " + HashHex(*root) +
                   ", the signed one " + HashHex(signed_cp->root));
  }
  return OkStatus();
}

Log::~Log() { StopBackground(); }

void Log::StartBackground(int sequence_ms, int checkpoint_s) {
  std::lock_guard<std::mutex> start_lock(bg_mu_);
  if (bg_.joinable()) return;
  bg_stop_ = false;
  bg_ = std::thread([this, sequence_ms, checkpoint_s] {
    const int64_t checkpoint_us = static_cast<int64_t>(checkpoint_s) * 1000000;
    int64_t last_checkpoint = clock_.MonotonicMicros();
    auto last_full = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(bg_mu_);
    while (!bg_stop_) {
      bg_cv_.wait_for(lock, std::chrono::milliseconds(sequence_ms));
      if (bg_stop_) break;
      lock.unlock();
      const bool full = std::chrono::steady_clock::now() - last_full >= kFullPassEvery;
      if (full) last_full = std::chrono::steady_clock::now();
      if (Result<uint64_t> n = full ? SequenceAll() : Sequence(); !n.ok()) {
        log::Warn("audit sequencing failed", {{"error", n.error().ToString()}});
      }
      const int64_t now = clock_.MonotonicMicros();
      if (now - last_checkpoint >= checkpoint_us) {
        last_checkpoint = now;
        if (Result<std::optional<SignedCheckpoint>> c = PublishIfGrown(); !c.ok()) {
          log::Warn("audit checkpoint failed", {{"error", c.error().ToString()}});
        }
      }
      lock.lock();
    }
  });
}

void Log::StopBackground() {
  // The thread is taken out under the lock that StartBackground assigns it under, so two
  // stops (or a stop racing a start) never join one thread twice.
  std::thread running;
  {
    std::lock_guard<std::mutex> lock(bg_mu_);
    bg_stop_ = true;
    running = std::move(bg_);
  }
  bg_cv_.notify_all();
  if (running.joinable()) {
    running.join();
    if (Result<uint64_t> n = SequenceAll(); !n.ok()) {
      log::Warn("audit sequencing failed", {{"error", n.error().ToString()}});
    }
  }
}

Result<Hash> Log::ReadNode(NodeId id) {
  Result<std::optional<std::string>> v = kv_.Get(kAuditFamily, NodeKey(id));
  if (!v.ok()) return v.error();
  if (!v->has_value()) {
    return DataLossError("audit tree node " + std::to_string(id.level) + "/" +
                             std::to_string(id.index) + " is missing",
                         "storage-corruption");
  }
  if ((*v)->size() != Hash().size()) {
    return DataLossError("audit tree node " + std::to_string(id.level) + "/" +
                             std::to_string(id.index) + " is not 32 bytes",
                         "storage-corruption");
  }
  return HashFromBytes(AsBytes(**v));
}

uint64_t Log::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return frontier_.size();
}

Result<uint64_t> Log::Sequence() {
  std::lock_guard<std::mutex> lock(mu_);
  return SequenceLocked(false);
}

Result<uint64_t> Log::SequenceAll() {
  std::lock_guard<std::mutex> lock(mu_);
  return SequenceLocked(true);
}

Result<bool> Log::AnyLateKeyWrittenLocked() {
  for (const std::string& key : LateStagingKeys(kLateKeyMaxAge)) {
    MD_ASSIGN_OR_RETURN(std::optional<std::string> v, kv_.Get(kAuditFamily, key));
    if (v.has_value()) return true;
  }
  return false;
}

Result<uint64_t> Log::SequenceLocked(bool full) {
  // A full pass walks every staged key from "q/" (and the tombstones of those already
  // sequenced); the others start at the oldest key this process staged and has not sequenced.
  // The first pass after opening is full: staged keys of an earlier process are there.
  full = full || !full_pass_done_;
  uint64_t total = 0;
  for (;;) {
    std::string from = "q/";
    if (!full) {
      bool dropped = false;
      std::optional<std::string> oldest = OldestPendingStagingKey(kPendingKeyMaxAge, &dropped);
      if (dropped) {
        // A key staged more than kPendingKeyMaxAge ago and not sequenced yet: its batch was
        // slow, failed or was never written. Without this pass a slow one (a sequencer that
        // fell behind, a write that waited out a full disk) would stay out of the tree until
        // the next periodic full pass.
        full = true;
        continue;
      }
      if (!oldest) {
        // Nothing in flight, but a key dropped as late may have been written since: a full
        // pass sequences it now, not at the next periodic one (specs/audit.md §1.1).
        MD_ASSIGN_OR_RETURN(bool late_written, AnyLateKeyWrittenLocked());
        if (!late_written) return total;
        full = true;
        continue;
      }
      from = *oldest;
    }
    std::vector<std::pair<std::string, std::string>> staged;
    size_t staged_bytes = 0;
    bool more = false;  // stopped at a limit: more may be staged
    MD_RETURN_IF_ERROR(kv_.ScanRange(kAuditFamily, from, "q0", [&](std::string_view k, std::string_view v) {
      staged.emplace_back(std::string(k), std::string(v));
      staged_bytes += v.size();
      more = staged.size() >= kSequenceBatch || staged_bytes >= kSequenceBytes;
      return !more;
    }));
    if (!full) {
      // A key dropped as late whose batch has committed since sorts before `from`: a full scan
      // sequences it before what this scan found, staged after it (specs/audit.md §1.1).
      MD_ASSIGN_OR_RETURN(bool late_written, AnyLateKeyWrittenLocked());
      if (late_written) {
        full = true;
        continue;
      }
    }
    if (staged.empty()) {
      full_pass_done_ = full_pass_done_ || full;
      return total;
    }
    Frontier next = frontier_;
    store::WriteBatch batch;
    for (const auto& [key, value] : staged) {
      const uint64_t seq = next.size();
      std::string leaf = LeafBytes(seq, value);
      next.Append(LeafHash(AsBytes(leaf)), [&batch](NodeId id, const Hash& h) {
        batch.Put(kAuditFamily, NodeKey(id), std::string_view(reinterpret_cast<const char*>(h.data()), h.size()));
      });
      batch.Put(kAuditFamily, EventKey(seq), std::move(leaf));
      Result<EventFacts> facts = FactsOf(value);
      if (!facts.ok()) {
        // Staged by our own code, so this is a bug: keep the event, say it is not indexed.
        log::Error("audit event not indexed", {{"seq", std::to_string(seq)},
                                               {"error", facts.error().ToString()}});
      } else {
        const std::string tail = Hex16(seq);
        if (!facts->principal.empty()) {
          batch.Put(kAuditFamily, IndexPrefix("principal", facts->principal) + tail, facts->type);
        }
        for (const auto& [kind, id] : facts->subjects) {
          if (kind == "principal" && id == facts->principal) continue;
          batch.Put(kAuditFamily, IndexPrefix(kind, id) + tail, facts->type);
          if (IsLifecycleEvent(kind, facts->type)) {
            batch.Put(kAuditFamily, LifecyclePrefix(kind, id) + tail, facts->type);
          }
        }
      }
      batch.Delete(kAuditFamily, key);
    }
    batch.Put(kAuditFamily, kSizeKey, std::to_string(next.size()));
    MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kSync));
    for (const auto& entry : staged) ForgetStagingKey(entry.first);
    total += staged.size();
    frontier_ = std::move(next);
    if (!more) {
      full_pass_done_ = full_pass_done_ || full;
      return total;
    }
  }
}

Result<signer::KeyInfo> Log::AuditKey() {
  Result<signer::KeyInfo> k = keys_.ActiveKey("service", "audit");
  if (k.ok() || k.error().code() != StatusCode::kNotFound) return k;
  static std::mutex create_mu;  // one audit key even when two callers race at first use
  std::lock_guard<std::mutex> lock(create_mu);
  k = keys_.ActiveKey("service", "audit");
  if (k.ok() || k.error().code() != StatusCode::kNotFound) return k;
  return keys_.Generate(signer::KeyType::kEd25519, "audit", "service");
}

Result<std::string> Log::VerifierKey() {
  Result<signer::KeyInfo> k = AuditKey();
  if (!k.ok()) return k.error();
  return VerifierKeyString(origin_, k->public_key);
}

Result<std::vector<std::string>> Log::EarlierVerifierKeys() {
  MD_ASSIGN_OR_RETURN(std::vector<signer::KeyInfo> all, keys_.List("service"));
  std::vector<signer::KeyInfo> earlier;
  for (signer::KeyInfo& k : all) {
    if (k.purpose == "audit" && k.state == signer::KeyState::kRetired) earlier.push_back(std::move(k));
  }
  std::stable_sort(earlier.begin(), earlier.end(),
                   [](const signer::KeyInfo& a, const signer::KeyInfo& b) {
                     return a.created_at > b.created_at;
                   });
  std::vector<std::string> out;
  for (const signer::KeyInfo& k : earlier) out.push_back(VerifierKeyString(origin_, k.public_key));
  return out;
}

Result<SignedCheckpoint> Log::Publish() {
  std::lock_guard<std::mutex> lock(mu_);
  Result<uint64_t> s = SequenceLocked(false);
  if (!s.ok()) return s.error();
  return PublishLocked();
}

Result<SignedCheckpoint> Log::PublishLocked() {
  // Sign only a tree that extends what was signed before (specs/audit.md §3.1).
  if (Status intact = CheckNewestCheckpointLocked(); !intact.ok()) {
    log::Error("audit checkpoint refused: the stored tree was altered",
               {{"error", intact.ToString()}});
    return intact;
  }
  Result<signer::KeyInfo> key = AuditKey();
  if (!key.ok()) return key.error();
  Checkpoint c;
  c.origin = origin_;
  c.size = frontier_.size();
  c.root = frontier_.Root();
  const std::string key_id = key->id;
  Result<std::string> note =
      SignNote(CheckpointBody(c), origin_, key->public_key,
               [this, &key_id](ByteSpan m) { return keys_.Sign(key_id, m); });
  if (!note.ok()) return note.error();
  store::WriteBatch batch;
  batch.Put(kAuditFamily, CheckpointKey(c.size), *note);
  batch.Put(kAuditFamily, kNewestCheckpointKey, std::to_string(c.size));
  MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kSync));
  if (!newest_checkpoint_ || *newest_checkpoint_ < c.size) newest_checkpoint_ = c.size;
  return SignedCheckpoint{c.size, c.root, std::move(*note)};
}

Result<std::optional<SignedCheckpoint>> Log::NewestLocked() {
  if (!newest_checkpoint_) return std::optional<SignedCheckpoint>();
  const uint64_t size = *newest_checkpoint_;
  Result<std::optional<std::string>> note = kv_.Get(kAuditFamily, CheckpointKey(size));
  if (!note.ok()) return note.error();
  if (!note->has_value()) return DataLossError("newest checkpoint is missing", "storage-corruption");
  Result<Hash> root = size == frontier_.size() ? Result<Hash>(frontier_.Root())
                                               : RootAt(size, [this](NodeId id) { return ReadNode(id); });
  if (!root.ok()) return root.error();
  return std::optional<SignedCheckpoint>(SignedCheckpoint{size, *root, std::move(**note)});
}

Result<SignedCheckpoint> Log::Latest(bool* published) {
  std::lock_guard<std::mutex> lock(mu_);
  if (published != nullptr) *published = false;
  Result<uint64_t> s = SequenceLocked(false);
  if (!s.ok()) return s.error();
  Result<std::optional<SignedCheckpoint>> newest = NewestLocked();
  if (!newest.ok()) return newest.error();
  if (newest->has_value() && (*newest)->size == frontier_.size()) return std::move(**newest);
  Result<SignedCheckpoint> c = PublishLocked();
  if (c.ok() && published != nullptr) *published = true;
  return c;
}

Result<std::optional<SignedCheckpoint>> Log::PublishIfGrown() {
  std::lock_guard<std::mutex> lock(mu_);
  Result<uint64_t> s = SequenceLocked(false);
  if (!s.ok()) return s.error();
  Result<std::optional<SignedCheckpoint>> newest = NewestLocked();
  if (!newest.ok()) return newest.error();
  if (newest->has_value() && (*newest)->size == frontier_.size()) {
    return std::optional<SignedCheckpoint>();
  }
  Result<SignedCheckpoint> c = PublishLocked();
  if (!c.ok()) return c.error();
  return std::optional<SignedCheckpoint>(std::move(*c));
}

Result<SignedCheckpoint> Log::CheckpointAt(uint64_t size) {
  Result<std::optional<std::string>> note = kv_.Get(kAuditFamily, CheckpointKey(size));
  if (!note.ok()) return note.error();
  if (!note->has_value()) {
    return NotFoundError("no checkpoint of size " + std::to_string(size), "checkpoint-not-found");
  }
  Result<Hash> root = Root(size);
  if (!root.ok()) return root.error();
  return SignedCheckpoint{size, *root, std::move(**note)};
}

Result<StoredEvent> Log::Event(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  return EventLocked(seq);
}

Result<StoredEvent> Log::EventLocked(uint64_t seq) {
  // Only leaves of the tree: a stored e/ key at or above the size is not in the log.
  if (seq >= frontier_.size()) {
    return NotFoundError("no audit event " + std::to_string(seq), "audit-event-not-found");
  }
  Result<std::optional<std::string>> v = kv_.Get(kAuditFamily, EventKey(seq));
  if (!v.ok()) return v.error();
  if (!v->has_value()) {
    // Below the size every leaf was written with the tree: one missing is damage, not a
    // client's wrong number.
    return DataLossError("audit event " + std::to_string(seq) + " of the tree is missing",
                         "storage-corruption");
  }
  return StoredEvent{seq, std::move(**v)};
}

Result<Hash> Log::Root(uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  MD_RETURN_IF_ERROR(SequenceLocked(false).status());
  if (size > frontier_.size()) {
    return InvalidArgumentError("the tree has " + std::to_string(frontier_.size()) + " events",
                                "audit-proof-range");
  }
  if (size == frontier_.size()) return frontier_.Root();
  return RootAt(size, [this](NodeId id) { return ReadNode(id); });
}

Result<std::vector<Hash>> Log::Inclusion(uint64_t seq, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  MD_RETURN_IF_ERROR(SequenceLocked(false).status());
  if (size > frontier_.size() || seq >= size) {
    return InvalidArgumentError("need seq < size <= " + std::to_string(frontier_.size()),
                                "audit-proof-range");
  }
  return InclusionProof(seq, size, [this](NodeId id) { return ReadNode(id); });
}

Result<std::vector<Hash>> Log::Consistency(uint64_t from, uint64_t to) {
  std::lock_guard<std::mutex> lock(mu_);
  MD_RETURN_IF_ERROR(SequenceLocked(false).status());
  if (from == 0 || from > to || to > frontier_.size()) {
    return InvalidArgumentError("need 0 < from <= to <= " + std::to_string(frontier_.size()),
                                "audit-proof-range");
  }
  return ConsistencyProof(from, to, [this](NodeId id) { return ReadNode(id); });
}

Status Log::ScanIndex(std::string_view kind, std::string_view id,
                      std::vector<std::pair<uint64_t, std::string>>* out, bool lifecycle) {
  if (id.empty()) return OkStatus();
  const std::string prefix = lifecycle ? LifecyclePrefix(kind, id) : IndexPrefix(kind, id);
  Status parse_error;
  MD_RETURN_IF_ERROR(kv_.ScanPrefix(kAuditFamily, prefix, [&](std::string_view k, std::string_view v) {
    Result<uint64_t> seq = ParseHex16(k.substr(prefix.size()));
    if (!seq.ok()) {
      parse_error = DataLossError("audit index key is malformed", "storage-corruption");
      return false;
    }
    if (*seq >= frontier_.size()) return true;  // not a leaf of the tree
    out->emplace_back(*seq, std::string(v));
    return true;
  }));
  return parse_error;
}

// Whether a selected event passes a query's visibility, scope and time bounds (what an auditor
// may see, what a credential limited to some agents or mandates may see, and `from`/`to` on a
// principal's trail). `from` and `to` are the bounds as FormatMicros text.
// Thread safety: a value over a query the caller keeps alive.
class TrailFilter {
 public:
  explicit TrailFilter(const TrailQuery& q)
      : q_(q),
        from_(q.from_micros ? FormatMicros(*q.from_micros) : ""),
        to_(q.to_micros ? FormatMicros(*q.to_micros) : "") {}
  // Nothing to check: every selected event passes without being read.
  bool trivial() const {
    return q_.visible_principal.empty() && q_.agent_scope.empty() && q_.mandate_scope.empty() &&
           !q_.from_micros && !q_.to_micros;
  }
  bool Passes(std::string_view event_bytes) const {
    Result<EventFacts> f = FactsOf(event_bytes);
    if (!f.ok()) return false;
    if (!q_.visible_principal.empty() && f->principal != q_.visible_principal) return false;
    // A limited credential's lists are exact (specs/access.md): an event about another agent or
    // mandate (a delegation's purchases, another agent's payment) is not shown.
    if (!InList(q_.agent_scope, SubjectOf(*f, "agent")) ||
        !InList(q_.mandate_scope, SubjectOf(*f, "mandate"))) {
      return false;
    }
    // `at` strings of one fixed format compare in time order.
    if (q_.from_micros && f->at < from_) return false;
    if (q_.to_micros && f->at >= to_) return false;
    return true;
  }

 private:
  // An empty list admits everything; an event without the subject passes.
  static bool InList(const std::vector<std::string>& list, const std::string& id) {
    return list.empty() || id.empty() || std::find(list.begin(), list.end(), id) != list.end();
  }

  const TrailQuery& q_;
  std::string from_, to_;
};

Result<std::vector<uint64_t>> Log::SelectLocked(const TrailQuery& q) {
  std::set<uint64_t> seqs;
  // Index entries carry the event's type, so filtering by type reads no event.
  auto add_all = [&](std::string_view kind, std::string_view id) -> Status {
    std::vector<std::pair<uint64_t, std::string>> found;
    MD_RETURN_IF_ERROR(ScanIndex(kind, id, &found));
    for (const auto& [s, type] : found) seqs.insert(s);
    return OkStatus();
  };
  // What a purchase's trail shows of each mandate of its chain (its issuance and status), of
  // its agent and of its session: their lifecycle index entries, however many purchases the
  // mandate or agent has had.
  auto add_lifecycle = [&](std::string_view kind, std::string_view id) -> Status {
    std::vector<std::pair<uint64_t, std::string>> found;
    MD_RETURN_IF_ERROR(ScanIndex(kind, id, &found, /*lifecycle=*/true));
    for (const auto& [s, type] : found) seqs.insert(s);
    return OkStatus();
  };
  // The parent of a mandate, from its issuance event.
  auto parent_of = [&](const std::string& mandate) -> Result<std::string> {
    std::vector<std::pair<uint64_t, std::string>> found;
    MD_RETURN_IF_ERROR(ScanIndex("mandate", mandate, &found, /*lifecycle=*/true));
    for (const auto& [s, type] : found) {
      if (type != "mandate.issued") continue;
      Result<StoredEvent> e = EventLocked(s);
      if (!e.ok()) return e.error();
      Result<EventFacts> f = FactsOf(e->bytes);
      if (f.ok() && f->type == "mandate.issued" && SubjectOf(*f, "mandate") == mandate) {
        return SubjectOf(*f, "parent_mandate");
      }
    }
    return std::string();
  };

  if (!q.authorization.empty()) {
    std::vector<std::pair<uint64_t, std::string>> own;
    MD_RETURN_IF_ERROR(ScanIndex("authorization", q.authorization, &own));
    std::set<std::string> mandates, agents, sessions;
    for (const auto& [s, own_type] : own) {
      seqs.insert(s);
      Result<StoredEvent> e = EventLocked(s);
      if (!e.ok()) return e.error();
      Result<EventFacts> f = FactsOf(e->bytes);
      if (!f.ok()) continue;
      if (std::string m = SubjectOf(*f, "mandate"); !m.empty()) mandates.insert(m);
      if (std::string a = SubjectOf(*f, "agent"); !a.empty()) agents.insert(a);
      if (std::string ss = SubjectOf(*f, "session"); !ss.empty()) sessions.insert(ss);
    }
    // The whole chain: each mandate's ancestors through their issuance events.
    std::vector<std::string> pending(mandates.begin(), mandates.end());
    for (int depth = 0; !pending.empty() && depth < kMaxDelegationDepth; ++depth) {
      std::vector<std::string> parents;
      for (const std::string& m : pending) {
        Result<std::string> p = parent_of(m);
        if (!p.ok()) return p.error();
        if (!p->empty() && mandates.insert(*p).second) parents.push_back(*p);
      }
      pending = std::move(parents);
    }
    for (const std::string& m : mandates) {
      MD_RETURN_IF_ERROR(add_lifecycle("mandate", m));
    }
    for (const std::string& a : agents) {
      MD_RETURN_IF_ERROR(add_lifecycle("agent", a));
    }
    for (const std::string& ss : sessions) {
      MD_RETURN_IF_ERROR(add_lifecycle("session", ss));
    }
  } else if (!q.mandate.empty()) {
    std::set<std::string> seen{q.mandate};
    std::vector<std::string> pending{q.mandate};
    // A credential limited to some agents or mandates reads the named mandate's own events
    // only: its lists are exact, not closed under delegation (specs/access.md).
    const int depth_limit =
        q.agent_scope.empty() && q.mandate_scope.empty() ? kMaxDelegationDepth : 1;
    for (int depth = 0; !pending.empty() && depth < depth_limit; ++depth) {
      std::vector<std::string> children;
      for (const std::string& m : pending) {
        MD_RETURN_IF_ERROR(add_all("mandate", m));
        std::vector<std::pair<uint64_t, std::string>> delegations;
        MD_RETURN_IF_ERROR(ScanIndex("parent_mandate", m, &delegations));
        for (const auto& [s, delegation_type] : delegations) {
          Result<StoredEvent> e = EventLocked(s);
          if (!e.ok()) return e.error();
          Result<EventFacts> f = FactsOf(e->bytes);
          if (!f.ok()) continue;
          std::string child = SubjectOf(*f, "mandate");
          if (!child.empty() && seen.insert(child).second) children.push_back(child);
        }
      }
      pending = std::move(children);
    }
  } else if (!q.agent.empty()) {
    MD_RETURN_IF_ERROR(add_all("agent", q.agent));
  } else if (!q.principal.empty()) {
    MD_RETURN_IF_ERROR(add_all("principal", q.principal));
  } else {
    return InvalidArgumentError("name one of authorization, mandate, agent or principal",
                                "audit-query-invalid");
  }

  // Visibility and time bounds.
  const TrailFilter filter(q);
  if (filter.trivial()) return std::vector<uint64_t>(seqs.begin(), seqs.end());
  std::vector<uint64_t> out;
  for (uint64_t s : seqs) {
    Result<StoredEvent> e = EventLocked(s);
    if (!e.ok()) return e.error();
    if (filter.Passes(e->bytes)) out.push_back(s);
  }
  return out;
}

Result<TrailPage> Log::Trail(const TrailQuery& q, std::optional<uint64_t> after, size_t limit) {
  if (q.foreign) return TrailPage{};
  std::lock_guard<std::mutex> lock(mu_);
  MD_RETURN_IF_ERROR(SequenceLocked(false).status());
  size_t page_bytes = 0;
  if (q.authorization.empty() && q.mandate.empty() && (!q.agent.empty() || !q.principal.empty())) {
    // One index and nothing to expand: the page is read straight from the index, from `after`
    // on, so a page costs its own events (and those the bounds skip), not the whole trail.
    const std::string prefix =
        q.agent.empty() ? IndexPrefix("principal", q.principal) : IndexPrefix("agent", q.agent);
    const TrailFilter filter(q);
    TrailPage page;
    Status inner;
    MD_RETURN_IF_ERROR(kv_.ScanRange(
        kAuditFamily, prefix + (after ? Hex16(*after + 1) : std::string()), prefix + "~",
        [&](std::string_view k, std::string_view) {
          Result<uint64_t> seq = ParseHex16(k.substr(prefix.size()));
          if (!seq.ok()) {
            inner = DataLossError("audit index key is malformed", "storage-corruption");
            return false;
          }
          if (after && *seq <= *after) return true;  // (after + 1 overflowing)
          if (*seq >= frontier_.size()) return false;  // past the tree: not in the log
          Result<StoredEvent> e = EventLocked(*seq);
          if (!e.ok()) {
            inner = e.error();
            return false;
          }
          if (!filter.trivial() && !filter.Passes(e->bytes)) return true;
          if (page.items.size() == limit || page_bytes >= kTrailPageBytes) {
            page.next_after = page.items.back().seq;  // one more exists: the page ends here
            return false;
          }
          page_bytes += e->bytes.size();
          page.items.push_back(std::move(*e));
          return true;
        }));
    MD_RETURN_IF_ERROR(inner);
    return page;
  }
  Result<std::vector<uint64_t>> seqs = SelectLocked(q);
  if (!seqs.ok()) return seqs.error();
  TrailPage page;
  for (uint64_t s : *seqs) {
    if (after && s <= *after) continue;
    if (page.items.size() == limit || page_bytes >= kTrailPageBytes) {
      page.next_after = page.items.back().seq;
      break;
    }
    Result<StoredEvent> e = EventLocked(s);
    if (!e.ok()) return e.error();
    page_bytes += e->bytes.size();
    page.items.push_back(std::move(*e));
  }
  return page;
}

Result<Log::ExportStart> Log::BeginExport(const TrailQuery& q, size_t max_trail_events,
                                         size_t max_whole_events,
                                         const std::vector<uint64_t>& consistency_from,
                                         size_t max_trail_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  MD_RETURN_IF_ERROR(SequenceLocked(false).status());
  Result<std::optional<SignedCheckpoint>> newest = NewestLocked();
  if (!newest.ok()) return newest.error();
  SignedCheckpoint cp;
  if (newest->has_value() && (*newest)->size == frontier_.size()) {
    cp = std::move(**newest);
  } else {
    Result<SignedCheckpoint> c = PublishLocked();
    if (!c.ok()) return c.error();
    cp = std::move(*c);
  }
  Result<std::string> vkey = VerifierKey();
  if (!vkey.ok()) return vkey.error();

  const bool whole = q.authorization.empty() && q.mandate.empty() && q.agent.empty() &&
                     q.principal.empty();
  if (whole && !q.visible_principal.empty()) {
    return InvalidArgumentError("name one of authorization, mandate, agent or principal",
                                "audit-query-invalid");
  }
  std::vector<uint64_t> seqs;
  if (whole) {
    if (cp.size > max_whole_events) {
      return InvalidArgumentError("the log holds " + std::to_string(cp.size) +
                                      " events; this export holds at most " +
                                      std::to_string(max_whole_events),
                                  "audit-export-too-large");
    }
  } else if (!q.foreign) {
    Result<std::vector<uint64_t>> sel = SelectLocked(q);
    if (!sel.ok()) return sel.error();
    if (sel->size() > max_trail_events) {
      return InvalidArgumentError("the query selects " + std::to_string(sel->size()) +
                                      " events; an export holds at most " +
                                      std::to_string(max_trail_events),
                                  "audit-export-too-large");
    }
    seqs = std::move(*sel);
  }

  json::Value query = json::Value::Object();
  if (!q.authorization.empty()) query.Set("authorization", json::Value::String(q.authorization));
  if (!q.mandate.empty()) query.Set("mandate", json::Value::String(q.mandate));
  if (!q.agent.empty()) query.Set("agent", json::Value::String(q.agent));
  if (!q.principal.empty()) query.Set("principal", json::Value::String(q.principal));
  if (q.from_micros) query.Set("from", json::Value::String(FormatMicros(*q.from_micros)));
  if (q.to_micros) query.Set("to", json::Value::String(FormatMicros(*q.to_micros)));
  json::Value header = json::Value::Object();
  header.Set("format", json::Value::String("mandated-audit-bundle/1"));
  header.Set("query", std::move(query));
  header.Set("checkpoint", json::Value::String(cp.note));
  header.Set("verifier_key", json::Value::String(*vkey));
  header.Set("size", json::Value::Uint(cp.size));
  header.Set("root", json::Value::String(HashHex(cp.root)));
  header.Set("complete_prefix", json::Value::Bool(whole));
  json::Value proofs = json::Value::Object();
  if (!whole) {
    for (uint64_t s : seqs) {
      Result<std::vector<Hash>> p =
          InclusionProof(s, cp.size, [this](NodeId id) { return ReadNode(id); });
      if (!p.ok()) return p.error();
      json::Value arr = json::Value::Array();
      for (const Hash& h : *p) arr.Append(json::Value::String(HashHex(h)));
      proofs.AppendMember(std::to_string(s), std::move(arr));  // seqs is a set: distinct
    }
  }
  header.Set("proofs", std::move(proofs));
  if (!consistency_from.empty()) {
    // From each earlier size the auditor holds a checkpoint of, to this one: the proof that
    // this tree extends that one (RFC 9162 §2.1.4), which a trail's events alone cannot show.
    json::Value consistency = json::Value::Object();
    for (uint64_t m : std::set<uint64_t>(consistency_from.begin(), consistency_from.end())) {
      if (m == 0 || m > cp.size) {
        return InvalidArgumentError("consistency from size " + std::to_string(m) +
                                        ": sizes are 1 to the checkpoint's, " +
                                        std::to_string(cp.size),
                                    "audit-proof-range");
      }
      Result<std::vector<Hash>> p =
          ConsistencyProof(m, cp.size, [this](NodeId id) { return ReadNode(id); });
      if (!p.ok()) return p.error();
      json::Value arr = json::Value::Array();
      for (const Hash& h : *p) arr.Append(json::Value::String(HashHex(h)));
      consistency.AppendMember(std::to_string(m), std::move(arr));
    }
    header.Set("consistency", std::move(consistency));
  }
  ExportStart start;
  start.head = json::Write(header);
  start.head += '\n';
  if (whole) {
    start.whole = true;
    start.stream_events = cp.size;
    return start;
  }
  size_t event_bytes = 0;
  for (uint64_t s : seqs) {
    Result<StoredEvent> e = EventLocked(s);
    if (!e.ok()) return e.error();
    event_bytes += e->bytes.size() + 1;
    if (event_bytes > max_trail_bytes) {
      return InvalidArgumentError("the query's events hold more than " +
                                      std::to_string(max_trail_bytes) +
                                      " bytes; export a principal's trail in parts with from and to",
                                  "audit-export-too-large");
    }
    start.head += e->bytes;
    start.head += '\n';
  }
  return start;
}

Status Log::StreamEvents(uint64_t end, const ExportWriter& write, size_t bytes_per_iterator) {
  // What is stored, as stored: a missing, altered or moved event shows in the bundle and the
  // verifier names it.
  constexpr size_t kPiece = 64 * 1024;
  std::string piece;
  piece.reserve(kPiece + 4096);
  bool refused = false;
  uint64_t next = 0;  // the seq the next scan starts at
  while (next < end && !refused) {
    size_t read = 0;
    const uint64_t from = next;
    MD_RETURN_IF_ERROR(kv_.ScanRange(kAuditFamily, EventKey(from), EventKey(end),
                                     [&](std::string_view key, std::string_view v) {
                                       piece.append(v);
                                       piece += '\n';
                                       read += v.size() + 1;
                                       // A malformed key: the verifier names what it hides.
                                       Result<uint64_t> seq = ParseHex16(key.substr(2));
                                       next = seq.ok() ? *seq + 1 : next + 1;
                                       if (piece.size() >= kPiece) {
                                         refused = !write(piece);
                                         piece.clear();
                                       }
                                       return !refused && read < bytes_per_iterator;
                                     }));
    if (next == from) break;  // nothing stored at or after `from`: the verifier names the gap
  }
  if (!refused && !piece.empty()) refused = !write(piece);
  if (refused) return AbortedError("the export's reader went away", "export-aborted");
  return OkStatus();
}

Result<std::string> Log::Export(const TrailQuery& q, size_t max_events) {
  Result<ExportStart> start = BeginExport(q, max_events, max_events);
  if (!start.ok()) return start.error();
  std::string out = std::move(start->head);
  if (start->stream_events > 0) {
    MD_RETURN_IF_ERROR(StreamEvents(start->stream_events, [&out](std::string_view bytes) {
      out.append(bytes);
      return true;
    }));
  }
  return out;
}

}  // namespace mandated::audit
