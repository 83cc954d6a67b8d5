// StatusListBook: one family of a principal's numbered Token Status Lists (draft-ietf-oauth-
// status-list; specs/mandate.md §6.3 for vc+jwt mandates, specs/ap2.md §5.5 for AP2 open
// mandates): index allocation, status bits staged into the caller's write batch, and the signed
// statuslist+jwt served for each list, cached until the list changes or half its ttl passed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "identity/tenant.h"
#include "mandates/status_list.h"
#include "signer/key_store.h"
#include "store/kv_store.h"

namespace mandated::mandates {

// A signed status list as served, with what HTTP caching needs.
struct ServedStatusList {
  std::string token;     // statuslist+jwt
  std::string etag;      // quoted, from the token's SHA-256
  int64_t issued_at = 0;
  int64_t max_age = 0;   // seconds a cache may keep it from now
};

// Where a credential's status lives: entry `idx` of list `list` of its principal.
struct StatusSlot {
  uint64_t list = 0;
  uint64_t idx = 0;
};

struct StatusBookOptions {
  std::string list_kind;  // tenant kind of the lists: "<n>" -> the raw 2-bit status bytes
  std::string meta_kind;  // tenant kind of the counter: "next" -> the next free index, decimal
  size_t list_size = 16384;  // entries per list (2 bits each: 4 KiB)
  int64_t ttl_s = 300;       // "ttl" of a served list: how long verifiers may cache it
  int64_t exp_s = 3600;      // "exp" - "iat" of a served list (at least ttl_s)
  // The URI of list `list` of a principal: the token's "sub" and a status reference's "uri".
  std::function<std::string(std::string_view principal, uint64_t list)> uri;
  // The "iss" of a principal's served lists ("" leaves it out).
  std::function<std::string(std::string_view principal)> issuer;
  // The key that signs a principal's lists, and the "kid" its header names.
  std::function<Result<signer::KeyInfo>(std::string_view principal)> signing_key;
  std::function<std::string(std::string_view principal, const signer::KeyInfo& key)> kid;
};

// Thread safety: safe from any thread. The *Locked calls change a principal's counter and lists
// through the caller's batch: the caller serializes them per principal (holding its own lock
// until the batch is written, then calling Written), as the registry and the AP2 authority do.
class StatusListBook {
 public:
  StatusListBook(signer::KeyStore& keys, Clock& clock, StatusBookOptions options)
      : keys_(keys), clock_(clock), options_(std::move(options)) {}

  const StatusBookOptions& options() const { return options_; }
  std::string Uri(std::string_view principal, uint64_t list) const {
    return options_.uri(principal, list);
  }

  // The principal's next free entry: stages the counter, and a fresh all-valid list when the
  // entry opens one, into `batch`. kDataLoss "corrupt-record" for a counter that does not parse.
  Result<StatusSlot> AllocateLocked(const identity::Tenant& t, store::WriteBatch& batch) const;
  // Sets `status` at every slot and stages each changed list once into `batch` (call it once per
  // batch). A slot that cannot be set (its list missing or of the wrong size, its index past the
  // end) fails the call: kNotFound "status-list-not-found", kDataLoss "corrupt-record" or
  // kOutOfRange "status-index-out-of-range"; unless `skipped` is given, which then receives
  // those slots while the others are set.
  Status MarkLocked(const identity::Tenant& t, const std::vector<StatusSlot>& slots,
                    TokenStatus status, store::WriteBatch& batch,
                    std::vector<StatusSlot>* skipped = nullptr);
  // After the batch MarkLocked staged into was written (whatever the outcome): a list served
  // between MarkLocked and the write read the old bytes and must not stay cached.
  void Written(const identity::Tenant& t);

  // kNotFound "status-list-not-found" for a list never allocated.
  Result<StatusArray> Load(const identity::Tenant& t, uint64_t list) const;
  Result<uint8_t> StatusAt(const identity::Tenant& t, const StatusSlot& slot) const;
  // The signed statuslist+jwt of a list (kNotFound "status-list-not-found" for a list never
  // allocated). Re-signed when the list changed or after ttl/2; otherwise served from memory.
  Result<ServedStatusList> Serve(const identity::Tenant& t, uint64_t list);

 private:
  std::string CacheKey(std::string_view principal, uint64_t list) const;

  signer::KeyStore& keys_;
  Clock& clock_;
  const StatusBookOptions options_;
  struct CachedList {
    uint64_t version = 0;
    uint64_t key_generation = 0;  // the key store's when it was last seen signed by the
                                  // active key: after any key change, that is asked again
    std::string key_id;           // the key that signed it
    ServedStatusList served;
  };
  std::mutex mu_;
  std::map<std::string, CachedList> served_;      // "<principal>/<list>"; guarded by mu_
  std::map<std::string, uint64_t> version_;       // bumped on every change; guarded by mu_
  // Lists MarkLocked changed in the batch being built, by principal, bumped again by Written.
  // Guarded by mu_; a principal's entry is used only under the caller's per-principal lock.
  std::map<std::string, std::vector<std::string>> touched_;
};

}  // namespace mandated::mandates
