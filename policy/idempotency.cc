// Idempotency keys (specs/authorization.md §6): in-flight marks in memory, first answers in the
// tenants family as "<principal>/idem/<caller>/<sha-256 hex of key>".
#include "policy/idempotency.h"

#include <cassert>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "base/json.h"
#include "base/utf8.h"
#include "signer/hash.h"

namespace mandated::policy {
namespace {

constexpr char kIdemKind[] = "idem";
constexpr size_t kMaxKeyLength = 255;

std::string Sha256Hex(std::string_view data) { return HexEncode(signer::Sha256(AsBytes(data))); }

// The stored record. "body" holds the body as a JSON string when it is valid UTF-8 (every answer
// api/ builds is); otherwise "body_base64" holds it, so any bytes come back exactly.
std::string EncodeRecord(std::string_view fingerprint, const StoredAnswer& answer,
                         int64_t created_at) {
  json::Value v = json::Value::Object();
  v.Set("fingerprint", json::Value::String(std::string(fingerprint)));
  v.Set("status", json::Value::Int(answer.status));
  v.Set("content_type", json::Value::String(answer.content_type));
  if (IsValidUtf8(answer.body)) {
    v.Set("body", json::Value::String(answer.body));
  } else {
    v.Set("body_base64", json::Value::String(Base64Encode(AsBytes(answer.body))));
  }
  v.Set("created_at", json::Value::Int(created_at));
  return json::Write(v);
}

struct DecodedRecord {
  std::string fingerprint;
  StoredAnswer answer;
  int64_t created_at = 0;
};

Result<DecodedRecord> DecodeRecord(std::string_view text) {
  auto corrupt = [](const Status& s) {
    return DataLossError("idempotency record: " + s.message(), "storage-corruption");
  };
  Result<json::Value> v = json::Parse(text);
  if (!v.ok()) {
    return corrupt(v.error());
  }
  Result<json::ObjectReader> r = json::ObjectReader::Of(*v);
  if (!r.ok()) {
    return corrupt(r.error());
  }
  DecodedRecord d;
  Result<std::string> fingerprint = r->String("fingerprint");
  Result<int64_t> status = r->Int("status");
  Result<std::string> content_type = r->String("content_type");
  Result<std::optional<std::string>> body = r->OptionalString("body");
  Result<std::optional<std::string>> body_b64 = r->OptionalString("body_base64");
  Result<int64_t> created_at = r->Int("created_at");
  for (const Status& s : {fingerprint.status(), status.status(), content_type.status(),
                          body.status(), body_b64.status(), created_at.status(), r->Finish()}) {
    if (!s.ok()) {
      return corrupt(s);
    }
  }
  if (body->has_value() == body_b64->has_value()) {
    return corrupt(InvalidArgumentError("exactly one of body and body_base64 is required"));
  }
  if (body->has_value()) {
    d.answer.body = std::move(**body);
  } else {
    Result<Bytes> raw = Base64Decode(**body_b64);
    if (!raw.ok()) {
      return corrupt(raw.error());
    }
    d.answer.body.assign(AsChars(*raw));
  }
  d.fingerprint = std::move(*fingerprint);
  d.answer.status = static_cast<int>(*status);
  d.answer.content_type = std::move(*content_type);
  d.created_at = *created_at;
  return d;
}

}  // namespace

Status ValidateIdempotencyKey(std::string_view key) {
  if (key.empty()) {
    return InvalidArgumentError("the Idempotency-Key header is required",
                                "missing-idempotency-key");
  }
  if (key.size() > kMaxKeyLength) {
    return InvalidArgumentError("Idempotency-Key is longer than 255 characters",
                                "bad-idempotency-key");
  }
  for (char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x21 || c > 0x7e) {
      return InvalidArgumentError(
          "Idempotency-Key must be printable ASCII characters without spaces",
          "bad-idempotency-key");
    }
  }
  return OkStatus();
}

std::string RequestFingerprint(std::string_view method, std::string_view path,
                               std::string_view body) {
  std::string input;
  input.reserve(method.size() + path.size() + 66);
  input.append(method).append("\n").append(path).append("\n").append(Sha256Hex(body));
  return Sha256Hex(input);
}

// ---- IdempotencyClaim ----

IdempotencyClaim::IdempotencyClaim(IdempotencyClaim&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      principal_(std::move(other.principal_)),
      store_id_(std::move(other.store_id_)),
      fingerprint_(std::move(other.fingerprint_)),
      recorded_(other.recorded_) {}

IdempotencyClaim& IdempotencyClaim::operator=(IdempotencyClaim&& other) noexcept {
  if (this != &other) {
    ReleaseNow();
    owner_ = std::exchange(other.owner_, nullptr);
    principal_ = std::move(other.principal_);
    store_id_ = std::move(other.store_id_);
    fingerprint_ = std::move(other.fingerprint_);
    recorded_ = other.recorded_;
  }
  return *this;
}

IdempotencyClaim::~IdempotencyClaim() { ReleaseNow(); }

void IdempotencyClaim::ReleaseNow() {
  if (owner_ != nullptr) {
    std::exchange(owner_, nullptr)->Release(principal_, store_id_);
  }
}

void IdempotencyClaim::Record(store::WriteBatch& batch, const StoredAnswer& answer) const {
  if (owner_ == nullptr || answer.status >= 500) {
    return;  // an empty claim holds no key; a 5xx is never kept (header)
  }
  identity::Tenant(owner_->kv_, principal_)
      .Put(batch, kIdemKind, store_id_,
           EncodeRecord(fingerprint_, answer, owner_->clock_.NowUnixSeconds()));
  recorded_ = true;
}

Status IdempotencyClaim::RecordAlone(const StoredAnswer& answer) const {
  if (owner_ == nullptr || answer.status >= 500) {
    return OkStatus();
  }
  store::WriteBatch batch;
  Record(batch, answer);
  return owner_->kv_.Write(batch, store::Durability::kSync);
}

// ---- IdempotencyKeys ----

Result<IdempotencyKeys::Begin> IdempotencyKeys::Start(const identity::Tenant& t,
                                                      std::string_view caller,
                                                      std::string_view key,
                                                      std::string_view fingerprint) {
  MD_RETURN_IF_ERROR(ValidateIdempotencyKey(key));
  std::string store_id = std::string(caller) + "/" + Sha256Hex(key);
  std::string flight_key = t.principal_id() + "/" + store_id;

  // Starts of one key serialize on its stripe, so between "not in flight" and marking it, no
  // other Start of the key can run; the store read stays off the global mutex.
  std::lock_guard<std::mutex> stripe(
      stripes_[std::hash<std::string>{}(flight_key) % kStripes]);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_.count(flight_key) != 0) {
      return AbortedError("a request with this Idempotency-Key is still running",
                          "idempotency-key-in-flight");
    }
  }
  MD_ASSIGN_OR_RETURN(std::optional<std::string> stored, t.Get(kIdemKind, store_id));
  if (stored.has_value()) {
    MD_ASSIGN_OR_RETURN(DecodedRecord rec, DecodeRecord(*stored));
    // Kept through the second created_at + ttl: created_at is a whole second, and a record
    // written late in it must still be kept the full ttl (specs/authorization.md §6).
    if (rec.created_at + ttl_s_ >= clock_.NowUnixSeconds()) {
      if (rec.fingerprint != fingerprint) {
        return FailedPreconditionError(
            "this Idempotency-Key was used for a different request", "idempotency-key-reused");
      }
      Begin b;
      b.replay = std::move(rec.answer);
      return b;
    }
    // Older than the TTL: the key is new again; a new record will overwrite this one.
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.insert(flight_key);
  }
  Begin b;
  IdempotencyClaim claim;
  claim.owner_ = this;
  claim.principal_ = t.principal_id();
  claim.store_id_ = std::move(store_id);
  claim.fingerprint_ = std::string(fingerprint);
  b.claim.emplace(std::move(claim));
  return b;
}

Result<identity::PrunePass> IdempotencyKeys::PruneExpired(const identity::Tenant& t,
                                                          const std::string& after,
                                                          size_t limit) {
  identity::PrunePass pass;
  const int64_t now = clock_.NowUnixSeconds();
  // Expired keys by stripe; then each stripe is taken once for its keys.
  std::map<size_t, std::vector<std::string>> expired;
  std::string last;
  MD_RETURN_IF_ERROR(t.Scan(kIdemKind, after, [&](std::string_view id, std::string_view value) {
    ++pass.examined;
    last = std::string(id);
    Result<DecodedRecord> rec = DecodeRecord(value);
    if (rec.ok() && rec->created_at + ttl_s_ < now) {
      const std::string flight_key = t.principal_id() + "/" + last;
      expired[std::hash<std::string>{}(flight_key) % kStripes].push_back(last);
    }
    return pass.examined < limit;
  }));
  pass.next_after = pass.examined < limit ? std::string() : last;
  for (const auto& [stripe, ids] : expired) {
    std::lock_guard<std::mutex> hold(stripes_[stripe]);
    store::WriteBatch batch;
    for (const std::string& id : ids) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (in_flight_.count(t.principal_id() + "/" + id) != 0) continue;
      }
      // Not in flight, and no Start of this key can begin while the stripe is held: the record
      // read now is the one a delete removes.
      MD_ASSIGN_OR_RETURN(std::optional<std::string> stored, t.Get(kIdemKind, id));
      if (!stored) continue;
      Result<DecodedRecord> rec = DecodeRecord(*stored);
      if (!rec.ok() || rec->created_at + ttl_s_ >= now) continue;
      t.Delete(batch, kIdemKind, id);
      ++pass.pruned;
    }
    if (!batch.empty()) {
      MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kNoSync));
    }
  }
  return pass;
}

void IdempotencyKeys::Release(const std::string& principal, const std::string& store_id) {
  std::lock_guard<std::mutex> lock(mu_);
  [[maybe_unused]] const size_t erased = in_flight_.erase(principal + "/" + store_id);
  assert(erased == 1);
}

size_t IdempotencyKeys::InFlightCountForTest() {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_.size();
}

}  // namespace mandated::policy
