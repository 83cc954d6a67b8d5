// Idempotency keys for the POSTs that create or move money (specs/authorization.md §6): the first
// answer to a key is kept and returned again, byte for byte, to a retry of the same request.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "identity/tenant.h"
#include "identity/tenant_pruner.h"
#include "store/kv_store.h"

namespace mandated::policy {

// The answer kept for a key. Thread safety: value type.
struct StoredAnswer {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Checks an Idempotency-Key header value: 1 to 255 printable ASCII characters (0x21-0x7e).
// Returns kInvalidArgument "missing-idempotency-key" (empty) or "bad-idempotency-key" (longer
// than 255 bytes, or any byte outside 0x21-0x7e: space, tab, DEL, non-ASCII).
Status ValidateIdempotencyKey(std::string_view key);

// The fingerprint of a request: lower-case hex of
//   SHA-256(method + "\n" + path + "\n" + hex(SHA-256(body)))
// (hex lower-case; method and path exactly as routed, e.g. "POST", "/v1/authorizations").
std::string RequestFingerprint(std::string_view method, std::string_view path,
                               std::string_view body);

class IdempotencyKeys;

// A claim on one key while its request runs. Releasing (destruction, or move-assigning another
// claim over it) frees the in-flight mark exactly once; a moved-from or default claim holds
// nothing. The stored answer, if any, is added with Record to the batch of the state it answers
// for. REQUIRES: that batch is written (or abandoned) before the claim is released, so a Start
// after the release sees the record; the IdempotencyKeys outlives its claims.
// Thread safety: use from one thread; movable, not copyable.
class IdempotencyClaim {
 public:
  IdempotencyClaim() = default;
  IdempotencyClaim(IdempotencyClaim&& other) noexcept;
  IdempotencyClaim& operator=(IdempotencyClaim&& other) noexcept;
  IdempotencyClaim(const IdempotencyClaim&) = delete;
  IdempotencyClaim& operator=(const IdempotencyClaim&) = delete;
  ~IdempotencyClaim();

  // Adds the record of `answer` (created_at = the clock now) for this claim's key to `batch`
  // (the caller writes the batch durably with the state change). If the batch is never
  // written, nothing is kept and the key is fresh again once the claim is released.
  // A 5xx answer must not be recorded (the retry runs again): recording one is a programming
  // error and does nothing, as does Record on an empty claim.
  void Record(store::WriteBatch& batch, const StoredAnswer& answer) const;
  // Writes the record alone, durably (answers that change no other state: 4xx errors).
  // Returns OK without writing for a 5xx or an empty claim; storage errors otherwise.
  Status RecordAlone(const StoredAnswer& answer) const;
  // Whether Record or RecordAlone has put an answer in a batch or the store (the first answer
  // is the one kept: a later error of the same request must not replace it). Set when the
  // answer is put in the batch: a caller that then abandons its batch must answer 5xx (as a
  // failed write does), or the key stays fresh instead of keeping its 4xx.
  bool recorded() const { return recorded_; }

 private:
  friend class IdempotencyKeys;
  void ReleaseNow();
  IdempotencyKeys* owner_ = nullptr;
  std::string principal_;
  std::string store_id_;     // "<caller>/<sha-256 hex of key>"
  std::string fingerprint_;
  mutable bool recorded_ = false;  // used by the one request that holds the claim
};

// Thread safety: safe from any thread.
class IdempotencyKeys {
 public:
  IdempotencyKeys(store::KvStore& kv, Clock& clock, int64_t ttl_s = 86400)
      : kv_(kv), clock_(clock), ttl_s_(ttl_s) {}

  // The outcome of Start: exactly one of `claim` (a fresh key: run the request, then Record)
  // and `replay` (the first answer, to send again as it is) is set.
  struct Begin {
    std::optional<IdempotencyClaim> claim;
    std::optional<StoredAnswer> replay;
  };
  // `caller` is the agent id for sessions, the credential id otherwise. Checks, in order:
  // the key; whether it is in flight; its stored record (fresh while created_at + ttl_s > now).
  // Errors:
  //   kInvalidArgument from ValidateIdempotencyKey;
  //   same key, different fingerprint: kFailedPrecondition "idempotency-key-reused" (api/ maps
  //   this reason to 422);
  //   same key while its first request runs: kAborted "idempotency-key-in-flight" (409);
  //   storage errors; kDataLoss "storage-corruption" for an unreadable record.
  // A stored record older than the TTL counts as absent (a claim; its Record overwrites it).
  Result<Begin> Start(const identity::Tenant& t, std::string_view caller, std::string_view key,
                      std::string_view fingerprint);

  int64_t ttl_s() const { return ttl_s_; }

  // Retention (specs/authorization.md §6): deletes the records of `t`'s principal, up to
  // `limit` of them in store id order after `after` (from the first when empty), that are older
  // than the TTL: Start already treats them as absent, so nothing a client sees changes. Each
  // key is deleted under its stripe, after checking that it is not in flight and reading it
  // again, so a new record written for a reused key is never deleted. An unreadable record is
  // left in place. The deletions are not synced: one lost in a crash leaves a record that is
  // absent anyway.
  Result<identity::PrunePass> PruneExpired(const identity::Tenant& t, const std::string& after,
                                           size_t limit);

  // Keys currently claimed.
  size_t InFlightCountForTest();

 private:
  friend class IdempotencyClaim;
  void Release(const std::string& principal, const std::string& store_id);

  static constexpr size_t kStripes = 64;

  store::KvStore& kv_;
  Clock& clock_;
  int64_t ttl_s_;
  // Start holds the stripe of its key from the in-flight check to marking the key, so two
  // Starts of one key cannot both find it free; different keys rarely share a stripe, and the
  // store read happens outside mu_. Lock order: a stripe, then mu_.
  std::array<std::mutex, kStripes> stripes_;
  std::mutex mu_;
  std::set<std::string> in_flight_;  // "<principal>/<store id>", guarded by mu_
};

}  // namespace mandated::policy
