// KeyStore: sealed storage of private keys and signing with them.
#include "signer/key_store.h"

#include <algorithm>

#include "signer/aead.h"
#include "signer/did.h"
#include "signer/ethereum.h"
#include "signer/jws.h"
#include "signer/recoverable.h"
#include "signer/signature.h"

namespace mandated::signer {
namespace {

constexpr char kRecordPrefix[] = "k/";
constexpr char kCheckKey[] = "kek_check";
constexpr char kCheckPlaintext[] = "mandated key-encryption key check v1";

std::string Aad(const std::string& id, KeyType type) {
  return "mandated-key-v1|" + id + "|" + std::string(KeyTypeName(type));
}

Result<KeyState> StateFromName(const std::string& s) {
  if (s == "active") return KeyState::kActive;
  if (s == "retired") return KeyState::kRetired;
  if (s == "disabled") return KeyState::kDisabled;
  return DataLossError("stored key has unknown state " + s, "storage-corruption");
}

// The fields the stored record and the public view share, in that order.
json::Value CommonFields(const KeyInfo& k) {
  json::Value v = json::Value::Object();
  v.Set("id", json::Value::String(k.id));
  v.Set("type", json::Value::String(std::string(KeyTypeName(k.type))));
  v.Set("purpose", json::Value::String(k.purpose));
  v.Set("owner", json::Value::String(k.owner));
  v.Set("created_at", json::Value::Int(k.created_at));
  v.Set("state", json::Value::String(std::string(KeyStateName(k.state))));
  return v;
}

json::Value RecordJson(const KeyInfo& k, const Bytes& sealed) {
  json::Value v = CommonFields(k);
  v.Set("replaced_by", json::Value::String(k.replaced_by));
  v.Set("public_key", json::Value::String(Base64UrlEncode(k.public_key.bytes)));
  v.Set("sealed_private_key", json::Value::String(Base64UrlEncode(sealed)));
  return v;
}

Result<std::pair<KeyInfo, Bytes>> ParseRecord(std::string_view raw) {
  auto corrupt = [](const std::string& why) {
    return DataLossError("stored key record " + why, "storage-corruption");
  };
  Result<json::Value> v = json::Parse(raw);
  if (!v.ok()) return corrupt("is not JSON");
  Result<json::ObjectReader> r = json::ObjectReader::Of(*v);
  if (!r.ok()) return corrupt("is not an object");
  KeyInfo k;
  std::string type, state, pub, sealed;
  Result<std::string> f = r->String("id");
  if (!f.ok()) return corrupt("has no id");
  k.id = *f;
  if (!(f = r->String("type")).ok()) return corrupt("has no type");
  type = *f;
  if (!(f = r->String("purpose")).ok()) return corrupt("has no purpose");
  k.purpose = *f;
  if (!(f = r->String("owner")).ok()) return corrupt("has no owner");
  k.owner = *f;
  Result<int64_t> created = r->Int("created_at");
  if (!created.ok()) return corrupt("has no created_at");
  k.created_at = *created;
  if (!(f = r->String("state")).ok()) return corrupt("has no state");
  state = *f;
  if (!(f = r->String("replaced_by")).ok()) return corrupt("has no replaced_by");
  k.replaced_by = *f;
  if (!(f = r->String("public_key")).ok()) return corrupt("has no public key");
  pub = *f;
  if (!(f = r->String("sealed_private_key")).ok()) return corrupt("has no sealed key");
  sealed = *f;
  Result<KeyType> t = KeyTypeFromName(type);
  if (!t.ok()) return corrupt("has an unknown type");
  k.type = *t;
  MD_ASSIGN_OR_RETURN(k.state, StateFromName(state));
  Result<Bytes> pub_bytes = Base64UrlDecode(pub);
  Result<Bytes> sealed_bytes = Base64UrlDecode(sealed);
  if (!pub_bytes.ok() || !sealed_bytes.ok()) return corrupt("has bad base64url");
  k.public_key = PublicKey{k.type, std::move(*pub_bytes)};
  return std::make_pair(std::move(k), std::move(*sealed_bytes));
}

}  // namespace

std::string_view KeyStateName(KeyState s) {
  switch (s) {
    case KeyState::kActive: return "active";
    case KeyState::kRetired: return "retired";
    case KeyState::kDisabled: return "disabled";
  }
  return "disabled";
}

json::Value KeyInfoToJson(const KeyInfo& k) {
  json::Value v = CommonFields(k);
  if (!k.replaced_by.empty()) {
    v.Set("replaced_by", json::Value::String(k.replaced_by));
  }
  v.Set("did", json::Value::String(DidKeyFromPublicKey(k.public_key)));
  json::Value jwk = PublicKeyToJwk(k.public_key);
  jwk.Set("kid", json::Value::String(k.id));
  v.Set("public_jwk", std::move(jwk));
  if (k.type == KeyType::kSecp256k1) {
    if (Result<std::string> a = EthereumAddress(k.public_key); a.ok()) {
      v.Set("address", json::Value::String(*a));
    }
  }
  return v;
}

Result<std::unique_ptr<KeyStore>> KeyStore::Open(store::KvStore& kv, SecretBytes kek,
                                                 Clock& clock, Random& random) {
  if (kek.size() != 32) {
    return FailedPreconditionError("the key-encryption key must be 32 bytes", "bad-kek");
  }
  std::unique_ptr<KeyStore> ks(new KeyStore(kv, std::move(kek), clock, random));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> check, kv.Get(kKeysFamily, kCheckKey));
  if (check.has_value()) {
    Result<SecretBytes> opened = OpenAes256Gcm(ks->kek_, AsBytes(*check), AsBytes(kCheckKey));
    if (!opened.ok() || opened->chars() != kCheckPlaintext) {
      return FailedPreconditionError(
          "the key-encryption key does not match the one this data directory was sealed with",
          "wrong-kek");
    }
    MD_RETURN_IF_ERROR(ks->IndexOwners());
    return ks;
  }
  // No check record: a new store, or one copied without it. Keys already sealed here must open
  // under this KEK, or a wrong KEK would be locked in as the check's.
  std::optional<std::pair<KeyInfo, Bytes>> sealed_key;
  Status scanned = OkStatus();
  MD_RETURN_IF_ERROR(kv.ScanPrefix(kKeysFamily, kRecordPrefix,
                                   [&](std::string_view, std::string_view value) {
                                     Result<std::pair<KeyInfo, Bytes>> r = ParseRecord(value);
                                     if (!r.ok()) {
                                       scanned = r.error();
                                     } else {
                                       sealed_key = std::move(*r);
                                     }
                                     return false;  // the first record is enough
                                   }));
  MD_RETURN_IF_ERROR(scanned);
  if (sealed_key.has_value() &&
      !OpenAes256Gcm(ks->kek_, sealed_key->second,
                     AsBytes(Aad(sealed_key->first.id, sealed_key->first.type)))
           .ok()) {
    return FailedPreconditionError(
        "the key-encryption key does not open the keys already in this data directory",
        "wrong-kek");
  }
  MD_ASSIGN_OR_RETURN(Bytes sealed, SealAes256Gcm(ks->kek_, AsBytes(kCheckPlaintext),
                                                  AsBytes(kCheckKey), random));
  store::WriteBatch b;
  b.Put(kKeysFamily, kCheckKey, AsChars(sealed));
  MD_RETURN_IF_ERROR(kv.Write(b));
  MD_RETURN_IF_ERROR(ks->IndexOwners());
  return ks;
}

Status KeyStore::IndexOwners() {
  std::lock_guard<std::mutex> lock(owners_mu_);
  return kv_.ScanPrefix(kKeysFamily, kRecordPrefix, [&](std::string_view, std::string_view value) {
    Result<std::pair<KeyInfo, Bytes>> r = ParseRecord(value);
    if (!r.ok()) {
      unreadable_ = r.error();  // every List answers it, as the scan it replaces did
      return false;
    }
    owners_[r->first.owner].insert_or_assign(r->first.id, r->first);
    return true;
  });
}

void KeyStore::Remember(const KeyInfo& key) {
  std::lock_guard<std::mutex> lock(owners_mu_);
  owners_[key.owner].insert_or_assign(key.id, key);
}

Result<KeyInfo> KeyStore::Store(KeyType type, const PrivateKey& key, std::string purpose,
                                std::string owner, store::WriteBatch* batch) {
  if (purpose.empty() || purpose.size() > 64 || owner.empty() || owner.size() > 64) {
    return InvalidArgumentError("key purpose and owner must be 1 to 64 bytes", "bad-key-request");
  }
  KeyInfo info;
  MD_ASSIGN_OR_RETURN(info.id, random_.NewId("key_"));
  info.type = type;
  info.purpose = std::move(purpose);
  info.owner = std::move(owner);
  info.created_at = clock_.NowUnixSeconds();
  info.state = KeyState::kActive;
  MD_ASSIGN_OR_RETURN(info.public_key, DerivePublicKey(key));
  MD_ASSIGN_OR_RETURN(Bytes sealed, SealAes256Gcm(kek_, key.secret.span(),
                                                  AsBytes(Aad(info.id, type)), random_));
  batch->Put(kKeysFamily, kRecordPrefix + info.id, json::Write(RecordJson(info, sealed)));
  return info;
}

void KeyStore::RunHook(store::WriteBatch& batch, KeyChange change, const KeyInfo& key,
                       const KeyInfo* successor) const {
  if (change_hook_) {
    change_hook_(batch, change, key, successor);
  }
}

Result<KeyInfo> KeyStore::Generate(KeyType type, std::string purpose, std::string owner) {
  MD_ASSIGN_OR_RETURN(PrivateKey key, GenerateKey(type, random_));
  store::WriteBatch b;
  MD_ASSIGN_OR_RETURN(KeyInfo info, Store(type, key, std::move(purpose), std::move(owner), &b));
  RunHook(b, KeyChange::kCreated, info, nullptr);
  MD_RETURN_IF_ERROR(kv_.Write(b));
  Remember(info);
  generation_.fetch_add(1, std::memory_order_release);  // a new key may be the active one now
  return info;
}

Result<KeyInfo> KeyStore::Import(KeyType type, ByteSpan secret, std::string purpose,
                                 std::string owner) {
  // An all-zero Ed25519 seed is a valid key that everyone knows (the curves refuse a zero scalar
  // themselves): what it signs anyone could have signed.
  if (std::all_of(secret.begin(), secret.end(), [](uint8_t b) { return b == 0; })) {
    return InvalidArgumentError("a private key of all zero bytes is known to everyone",
                                "bad-key");
  }
  MD_ASSIGN_OR_RETURN(PrivateKey key, ImportPrivateKey(type, secret));
  store::WriteBatch b;
  MD_ASSIGN_OR_RETURN(KeyInfo info, Store(type, key, std::move(purpose), std::move(owner), &b));
  RunHook(b, KeyChange::kCreated, info, nullptr);
  MD_RETURN_IF_ERROR(kv_.Write(b));
  Remember(info);
  generation_.fetch_add(1, std::memory_order_release);  // a new key may be the active one now
  return info;
}

Result<std::pair<KeyInfo, std::string>> KeyStore::Load(const std::string& id) {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> raw, kv_.Get(kKeysFamily, kRecordPrefix + id));
  if (!raw.has_value()) {
    return NotFoundError("no key " + id, "key-not-found");
  }
  MD_ASSIGN_OR_RETURN(auto parsed, ParseRecord(*raw));
  return std::make_pair(std::move(parsed.first), std::string(AsChars(parsed.second)));
}

Result<KeyInfo> KeyStore::Get(const std::string& id) {
  MD_ASSIGN_OR_RETURN(auto loaded, Load(id));
  return std::move(loaded.first);
}

Result<std::vector<KeyInfo>> KeyStore::List(const std::string& owner) {
  std::vector<KeyInfo> out;
  if (!owner.empty()) {
    // The owner's keys as kept in memory, not a scan of every key of every owner (the public
    // JWKS and DID routes ask this on every request), and read under one lock: a rotation is
    // seen whole or not at all, never its predecessor retired without its successor.
    std::lock_guard<std::mutex> lock(owners_mu_);
    MD_RETURN_IF_ERROR(unreadable_);
    auto it = owners_.find(owner);
    if (it == owners_.end()) return out;
    for (const auto& [id, key] : it->second) out.push_back(key);
    return out;
  }
  Status bad;
  MD_RETURN_IF_ERROR(kv_.ScanPrefix(kKeysFamily, kRecordPrefix,
                                    [&](std::string_view, std::string_view value) {
                                      Result<std::pair<KeyInfo, Bytes>> r = ParseRecord(value);
                                      if (!r.ok()) {
                                        bad = r.error();
                                        return false;
                                      }
                                      if (owner.empty() || r->first.owner == owner) {
                                        out.push_back(std::move(r->first));
                                      }
                                      return true;
                                    }));
  MD_RETURN_IF_ERROR(bad);
  return out;
}

Result<KeyInfo> KeyStore::ActiveKey(const std::string& owner, const std::string& purpose) {
  MD_ASSIGN_OR_RETURN(std::vector<KeyInfo> keys, List(owner));
  const KeyInfo* best = nullptr;
  for (const KeyInfo& k : keys) {
    if (k.state == KeyState::kActive && k.purpose == purpose &&
        (best == nullptr || k.created_at >= best->created_at)) {
      best = &k;
    }
  }
  if (best == nullptr) {
    return NotFoundError("no active " + purpose + " key for " + owner, "key-not-found");
  }
  return *best;
}

Result<KeyInfo> KeyStore::ActiveKeyOrNew(const std::string& owner, const std::string& purpose,
                                         KeyType type) {
  Result<KeyInfo> key = ActiveKey(owner, purpose);
  if (key.ok() || key.error().code() != StatusCode::kNotFound) return key;
  std::lock_guard<std::mutex> lock(make_mu_);
  key = ActiveKey(owner, purpose);  // another caller may have made it meanwhile
  if (key.ok() || key.error().code() != StatusCode::kNotFound) return key;
  return Generate(type, purpose, owner);
}

Result<PrivateKey> KeyStore::Unseal(const std::string& id, KeyInfo* info) {
  // An active key opened before is kept open in memory (a self-wiping copy is handed out). A hit
  // needs no check of the stored state: StopSigning erases the key's entry in the same critical
  // section that bumps the generation, right after its rotation or disabling is written, and a
  // key is only remembered here if the generation did not move while it was being opened (it may
  // have been read from the store before that write).
  const uint64_t generation = generation_.load(std::memory_order_acquire);
  {
    std::lock_guard<std::mutex> lock(unsealed_mu_);
    auto it = unsealed_.find(id);
    if (it != unsealed_.end() && stopping_.count(id) == 0) {
      *info = it->second.first;
      return PrivateKey{it->second.second.type, SecretBytes(it->second.second.secret.span())};
    }
  }
  MD_ASSIGN_OR_RETURN(PrivateKey opened, UnsealFromStore(id, info));
  std::lock_guard<std::mutex> lock(unsealed_mu_);
  if (generation_.load(std::memory_order_acquire) == generation && stopping_.count(id) == 0) {
    if (unsealed_.size() >= kUnsealedCacheSize) unsealed_.clear();
    unsealed_.insert_or_assign(
        id, std::make_pair(*info, PrivateKey{opened.type, SecretBytes(opened.secret.span())}));
  }
  return opened;
}

void KeyStore::ForgetUnsealed() {
  std::lock_guard<std::mutex> lock(unsealed_mu_);
  unsealed_.clear();  // SecretBytes wipe themselves
}

Result<PrivateKey> KeyStore::UnsealFromStore(const std::string& id, KeyInfo* info) {
  MD_ASSIGN_OR_RETURN(auto loaded, Load(id));
  if (loaded.first.state != KeyState::kActive) {
    return FailedPreconditionError("key " + id + " is " +
                                       std::string(KeyStateName(loaded.first.state)) +
                                       " and no longer signs",
                                   "key-not-active");
  }
  Result<SecretBytes> secret = OpenAes256Gcm(kek_, AsBytes(loaded.second),
                                             AsBytes(Aad(id, loaded.first.type)));
  if (!secret.ok()) {
    return DataLossError("sealed key " + id + " does not open under the KEK", "storage-corruption");
  }
  MD_ASSIGN_OR_RETURN(PrivateKey key, ImportPrivateKey(loaded.first.type, secret->span()));
  *info = std::move(loaded.first);
  return key;
}

Result<KeyInfo> KeyStore::Rotate(const std::string& id) {
  std::lock_guard<std::mutex> lock(state_mu_);
  MD_ASSIGN_OR_RETURN(auto loaded, Load(id));
  KeyInfo old = std::move(loaded.first);
  if (old.purpose == kAgentKeyPurpose) {
    return FailedPreconditionError(
        "key " + id +
            " is a custodial agent's key, which the agent's record names (key, DID, address); "
            "it cannot be rotated. Create a new agent for a new key (disabling this one stays "
            "allowed)",
        "agent-key-not-rotatable");
  }
  if (old.purpose == kFacilitatorKeyPurpose) {
    return FailedPreconditionError(
        "key " + id +
            " pays gas for x402 settlements: its account holds the gas and the settlement "
            "journal's account nonces, so it is not rotated. Fund another account's key, name "
            "it as facilitator_key in the settlement file and restart",
        "facilitator-key-not-rotatable");
  }
  if (old.state != KeyState::kActive) {
    return FailedPreconditionError("only an active key can be rotated", "key-not-active");
  }
  MD_ASSIGN_OR_RETURN(PrivateKey fresh, GenerateKey(old.type, random_));
  store::WriteBatch b;
  MD_ASSIGN_OR_RETURN(KeyInfo next, Store(old.type, fresh, old.purpose, old.owner, &b));
  old.state = KeyState::kRetired;
  old.replaced_by = next.id;
  b.Put(kKeysFamily, kRecordPrefix + old.id, json::Write(RecordJson(old, ToBytes(loaded.second))));
  RunHook(b, KeyChange::kRotated, old, &next);
  BeginStop(old.id);
  if (Status w = kv_.Write(b); !w.ok()) {
    CancelStop(old.id);
    return w;
  }
  {
    // Both at once, before the generation moves: whoever sees the new generation sees them.
    std::lock_guard<std::mutex> owners(owners_mu_);
    owners_[old.owner].insert_or_assign(old.id, old);
    owners_[next.owner].insert_or_assign(next.id, next);
  }
  StopSigning(old.id);
  return next;
}

Result<KeyInfo> KeyStore::Disable(const std::string& id) {
  std::lock_guard<std::mutex> lock(state_mu_);
  MD_ASSIGN_OR_RETURN(auto loaded, Load(id));
  KeyInfo k = std::move(loaded.first);
  if (k.state == KeyState::kDisabled) {
    return k;
  }
  k.state = KeyState::kDisabled;
  store::WriteBatch b;
  b.Put(kKeysFamily, kRecordPrefix + k.id, json::Write(RecordJson(k, ToBytes(loaded.second))));
  RunHook(b, KeyChange::kDisabled, k, nullptr);
  BeginStop(k.id);
  if (Status w = kv_.Write(b); !w.ok()) {
    CancelStop(k.id);
    return w;
  }
  Remember(k);
  StopSigning(k.id);
  return k;
}

void KeyStore::BeginStop(const std::string& id) {
  std::lock_guard<std::mutex> lock(unsealed_mu_);
  stopping_.insert(id);
  unsealed_.erase(id);  // the SecretBytes wipe themselves
}

void KeyStore::CancelStop(const std::string& id) {
  std::lock_guard<std::mutex> lock(unsealed_mu_);
  stopping_.erase(id);
}

void KeyStore::StopSigning(const std::string& id) {
  // From the bump on, a signature that starts finds no open copy of the key, and opening it
  // from the store finds it retired or disabled.
  uint64_t stopped_at = 0;
  {
    std::lock_guard<std::mutex> lock(unsealed_mu_);
    stopping_.erase(id);
    unsealed_.erase(id);  // the SecretBytes wipe themselves
    stopped_at = generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
  }
  // Signatures that started before may still hold the key and prepare it again after a drop;
  // once they are done, nothing can. Later signatures do not delay this, so it cannot starve.
  AwaitSignaturesBefore(stopped_at);
  DropPreparedKeys();  // the key's prepared signing object leaves memory
}

KeyStore::SigningScope::SigningScope(KeyStore& ks) : ks_(ks) {
  std::lock_guard<std::mutex> lock(ks_.inflight_mu_);
  // Read under the mutex, so the generations recorded in inflight_ only grow.
  generation_ = ks_.generation_.load(std::memory_order_acquire);
  if (ks_.inflight_.empty() || ks_.inflight_.back().first != generation_) {
    ks_.inflight_.emplace_back(generation_, 0);
  }
  ++ks_.inflight_.back().second;
}

KeyStore::SigningScope::~SigningScope() {
  std::lock_guard<std::mutex> lock(ks_.inflight_mu_);
  auto& inflight = ks_.inflight_;
  for (auto it = inflight.rbegin(); it != inflight.rend(); ++it) {
    if (it->first == generation_) {
      if (--it->second == 0) {
        inflight.erase(std::next(it).base());
        ks_.inflight_done_.notify_all();
      }
      return;
    }
  }
}

void KeyStore::AwaitSignaturesBefore(uint64_t generation) {
  std::unique_lock<std::mutex> lock(inflight_mu_);
  inflight_done_.wait(lock, [&] {
    return inflight_.empty() || inflight_.front().first >= generation;
  });
}

Result<Bytes> KeyStore::Sign(const std::string& id, ByteSpan message) {
  SigningScope signing(*this);
  KeyInfo info;
  MD_ASSIGN_OR_RETURN(PrivateKey key, Unseal(id, &info));
  return signer::Sign(key, message);
}

Result<Bytes> KeyStore::SignDigestRecoverable(const std::string& id, ByteSpan digest32) {
  SigningScope signing(*this);
  KeyInfo info;
  MD_ASSIGN_OR_RETURN(PrivateKey key, Unseal(id, &info));
  return signer::SignDigestRecoverable(key, digest32);
}

Result<std::string> KeyStore::SignJws(const std::string& id, json::Value header,
                                      std::string_view payload) {
  SigningScope signing(*this);
  KeyInfo info;
  MD_ASSIGN_OR_RETURN(PrivateKey key, Unseal(id, &info));
  return signer::SignJws(key, std::move(header), payload);
}

}  // namespace mandated::signer
