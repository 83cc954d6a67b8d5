// StatusListBook: allocation, status bits and served tokens of one family of a principal's Token
// Status Lists (specs/mandate.md §6.3, specs/ap2.md §5.5).
#include "mandates/status_book.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "base/bytes.h"
#include "signer/hash.h"
#include "signer/jws.h"

namespace mandated::mandates {

std::string StatusListBook::CacheKey(std::string_view principal, uint64_t list) const {
  return std::string(principal) + "/" + std::to_string(list);
}

Result<StatusArray> StatusListBook::Load(const identity::Tenant& t, uint64_t list) const {
  const std::string id = std::to_string(list);
  MD_ASSIGN_OR_RETURN(std::optional<std::string> raw, t.Get(options_.list_kind, id));
  if (!raw) {
    return NotFoundError("no status list " + id, "status-list-not-found");
  }
  Result<StatusArray> arr = StatusArray::FromBytes(2, ToBytes(*raw));
  if (!arr.ok() || arr->size() != options_.list_size) {
    return DataLossError("stored status list " + id + " has the wrong size", "corrupt-record");
  }
  return arr;
}

Result<StatusSlot> StatusListBook::AllocateLocked(const identity::Tenant& t,
                                                  store::WriteBatch& batch) const {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> next_raw, t.Get(options_.meta_kind, "next"));
  uint64_t next = 0;
  if (next_raw) {
    const char* end = next_raw->data() + next_raw->size();
    if (next_raw->empty() || std::from_chars(next_raw->data(), end, next).ptr != end) {
      return DataLossError("stored status index counter does not parse", "corrupt-record");
    }
  }
  StatusSlot slot{next / options_.list_size, next % options_.list_size};
  t.Put(batch, options_.meta_kind, "next", std::to_string(next + 1));
  if (slot.idx == 0) {
    MD_ASSIGN_OR_RETURN(StatusArray fresh, StatusArray::Create(2, options_.list_size));
    const Bytes& b = fresh.bytes();
    t.Put(batch, options_.list_kind, std::to_string(slot.list),
          std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
  }
  return slot;
}

Status StatusListBook::MarkLocked(const identity::Tenant& t, const std::vector<StatusSlot>& slots,
                                  TokenStatus status, store::WriteBatch& batch,
                                  std::vector<StatusSlot>* skipped) {
  std::map<uint64_t, StatusArray> lists;
  for (const StatusSlot& slot : slots) {
    auto it = lists.find(slot.list);
    if (it == lists.end()) {
      Result<StatusArray> arr = Load(t, slot.list);
      if (!arr.ok()) {
        if (skipped == nullptr) return arr.error();
        skipped->push_back(slot);
        continue;
      }
      it = lists.emplace(slot.list, std::move(*arr)).first;
    }
    if (Status set = it->second.Set(slot.idx, static_cast<uint8_t>(status)); !set.ok()) {
      if (skipped == nullptr) return set;
      skipped->push_back(slot);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [list, arr] : lists) {
    const Bytes& b = arr.bytes();
    t.Put(batch, options_.list_kind, std::to_string(list),
          std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
    const std::string key = CacheKey(t.principal_id(), list);
    ++version_[key];
    touched_[t.principal_id()].push_back(key);
  }
  return OkStatus();
}

void StatusListBook::Written(const identity::Tenant& t) {
  std::lock_guard<std::mutex> lock(mu_);
  auto touched = touched_.find(t.principal_id());
  if (touched == touched_.end()) {
    return;
  }
  for (const std::string& key : touched->second) ++version_[key];
  touched_.erase(touched);
}

Result<uint8_t> StatusListBook::StatusAt(const identity::Tenant& t, const StatusSlot& slot) const {
  MD_ASSIGN_OR_RETURN(StatusArray arr, Load(t, slot.list));
  return arr.Get(slot.idx);
}

Result<ServedStatusList> StatusListBook::Serve(const identity::Tenant& t, uint64_t list) {
  const std::string cache_key = CacheKey(t.principal_id(), list);
  const int64_t now = clock_.NowUnixSeconds();
  const int64_t ttl = options_.ttl_s;
  uint64_t version = 0;
  // Read before the key: a rotation or disabling after this leaves what is signed below uncached.
  const uint64_t key_generation = keys_.generation();
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Read without inserting: anyone may ask for any list number, allocated or not.
    auto v = version_.find(cache_key);
    version = v == version_.end() ? 0 : v->second;
    auto it = served_.find(cache_key);
    if (it != served_.end() && it->second.version == version &&
        it->second.key_generation == key_generation &&
        now - it->second.served.issued_at < ttl / 2) {
      ServedStatusList s = it->second.served;
      s.max_age = std::max<int64_t>(0, ttl - (now - s.issued_at));
      return s;
    }
  }
  // A list never allocated is status-list-not-found whatever the keys (read before the key: a
  // principal that has no issuer key yet has no list either).
  MD_ASSIGN_OR_RETURN(StatusArray arr, Load(t, list));
  // A key changed somewhere since (any principal's, or a new agent's): when this list's signer
  // is still its principal's active issuer key, the cached list stands.
  MD_ASSIGN_OR_RETURN(signer::KeyInfo key, options_.signing_key(t.principal_id()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = served_.find(cache_key);
    if (it != served_.end() && it->second.version == version && it->second.key_id == key.id &&
        now - it->second.served.issued_at < ttl / 2) {
      it->second.key_generation = key_generation;
      ServedStatusList s = it->second.served;
      s.max_age = std::max<int64_t>(0, ttl - (now - s.issued_at));
      return s;
    }
  }
  StatusListClaims claims;
  claims.uri = options_.uri(t.principal_id(), list);
  claims.issued_at = now;
  // Never before a cache may keep it: a list served with max-age=ttl must still be valid then.
  claims.expires_at = now + std::max(options_.exp_s, ttl);
  claims.ttl = ttl;
  claims.statuses = std::move(arr);
  MD_ASSIGN_OR_RETURN(json::Value payload,
                      StatusListClaimsToJson(claims, options_.issuer(t.principal_id())));
  json::Value header = json::Value::Object();
  header.Set("alg", json::Value::String(std::string(signer::JwsAlgFor(key.type))));
  header.Set("typ", json::Value::String(std::string(kStatusListTyp)));
  header.Set("kid", json::Value::String(options_.kid(t.principal_id(), key)));
  ServedStatusList s;
  MD_ASSIGN_OR_RETURN(s.token, keys_.SignJws(key.id, std::move(header), json::Write(payload)));
  const Bytes digest = signer::Sha256(AsBytes(s.token));
  s.etag = "\"" + Base64UrlEncode(ByteSpan(digest.data(), 16)) + "\"";
  s.issued_at = now;
  s.max_age = ttl;
  std::lock_guard<std::mutex> lock(mu_);
  // A change that landed while we signed leaves the cache to the next caller.
  auto v = version_.find(cache_key);
  if ((v == version_.end() ? 0 : v->second) == version) {
    served_[cache_key] = CachedList{version, key_generation, key.id, s};
  }
  return s;
}

}  // namespace mandated::mandates
