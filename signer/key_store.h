// KeyStore: the service's private keys, sealed with AES-256-GCM under the KEK, with ids, types,
// purposes, owners, states and rotation (specs/signing.md §Key store). Private keys never leave
// it: callers get signatures and public keys only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/random.h"
#include "base/secret.h"
#include "signer/keys.h"
#include "store/kv_store.h"

namespace mandated::signer {

inline constexpr char kKeysFamily[] = "keys";

// The purpose of a custodial agent's key (identity::Directory creates it with the agent). The
// agent record names the key (key_id, did, address), so such a key is never rotated: a successor
// would sign for no agent and the agent's key would stop signing.
inline constexpr char kAgentKeyPurpose[] = "agent";
// The purpose of the service's x402 gas-paying key (specs/evm.md §6.1). The settlement backend
// holds its id and its account holds the gas and the journaled account nonces, so it is not
// rotated either: another account is configured (facilitator_key) and the service restarted.
inline constexpr char kFacilitatorKeyPurpose[] = "x402-facilitator";

enum class KeyState : uint8_t {
  kActive,    // signs and verifies
  kRetired,   // verifies old signatures, no longer signs (after rotation)
  kDisabled,  // neither; kept for the record
};
std::string_view KeyStateName(KeyState s);

// The public view of a stored key.
struct KeyInfo {
  std::string id;       // "key_..."
  KeyType type = KeyType::kEd25519;
  std::string purpose;  // e.g. "service", "issuer", "custody"
  std::string owner;    // "service" or a principal id
  int64_t created_at = 0;
  KeyState state = KeyState::kActive;
  std::string replaced_by;  // set on a retired key by rotation
  PublicKey public_key;
};

// A change of the stored keys, as a KeyStore batch hook is told of it.
enum class KeyChange : uint8_t {
  kCreated,   // Generate, Import: `key` is the new key
  kRotated,   // Rotate: `key` is the retired key (replaced_by set), `successor` the new one
  kDisabled,  // Disable: `key` is the disabled key
};

// Called with the write batch of every key change, before the batch is written, so the caller
// can add its own records (an audit event) that commit with the change or not at all. It sees
// only public key information. It runs on the thread making the change (Rotate and Disable hold
// the store's state lock), so it must be safe from any thread, must not block and must not call
// the KeyStore.
using KeyChangeHook = std::function<void(store::WriteBatch& batch, KeyChange change,
                                         const KeyInfo& key, const KeyInfo* successor)>;

// Public JSON of a key: id, type, purpose, owner, created_at, state, replaced_by?, did (did:key),
// public_jwk, and for secp256k1 the Ethereum address. Never any private material.
json::Value KeyInfoToJson(const KeyInfo& k);

// Signs with "the active key" while a rotation or disabling may retire it at any moment:
// `sign(key)` runs with the key `lookup(attempt)` names (attempt 1, 2, ...); when that key stopped
// signing in between (kFailedPrecondition "key-not-active"), the lookup runs again (a caching
// lookup reads the store from attempt 2 on) and so does `sign`, kActiveKeyAttempts times in all.
// A caller whose answer is kept for retries (an idempotent route) would otherwise keep a refusal
// caused by nothing the caller did.
inline constexpr int kActiveKeyAttempts = 4;
template <typename Lookup, typename Sign>
auto SignWithActiveKey(const Lookup& lookup, const Sign& sign)
    -> decltype(sign(std::declval<const KeyInfo&>())) {
  for (int attempt = 1;; ++attempt) {
    Result<KeyInfo> key = lookup(attempt);
    if (!key.ok()) return key.error();
    auto signed_with = sign(*key);
    if (signed_with.ok() || signed_with.error().reason() != "key-not-active" ||
        attempt == kActiveKeyAttempts) {
      return signed_with;
    }
    // The rotation that retired it is between its write and publishing its successor.
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt));
  }
}

// Thread safety: all methods are safe from any thread.
class KeyStore {
 public:
  // Verifies the KEK against the store's check record (created on first use). Errors:
  // kFailedPrecondition ("wrong-kek") if this store was sealed under another KEK.
  static Result<std::unique_ptr<KeyStore>> Open(store::KvStore& kv, SecretBytes kek, Clock& clock,
                                                Random& random);

  // Installs the hook every later key change calls with its batch (none by default).
  // REQUIRES: called before the store is shared with other threads.
  void set_change_hook(KeyChangeHook hook) { change_hook_ = std::move(hook); }

  Result<KeyInfo> Generate(KeyType type, std::string purpose, std::string owner);
  // Imports 32 secret bytes (Ed25519 seed or EC scalar); the caller wipes its copy.
  Result<KeyInfo> Import(KeyType type, ByteSpan secret, std::string purpose, std::string owner);

  // kNotFound ("key-not-found").
  Result<KeyInfo> Get(const std::string& id);
  // Keys of `owner` ("" for all), in id order.
  Result<std::vector<KeyInfo>> List(const std::string& owner);
  // The newest active key of an owner and purpose; kNotFound if none.
  Result<KeyInfo> ActiveKey(const std::string& owner, const std::string& purpose);
  // The same, or, when there is none (never made, or the last one disabled), a new key of
  // `type` made for them. Serialized, so callers asking at once make one key, not several.
  Result<KeyInfo> ActiveKeyOrNew(const std::string& owner, const std::string& purpose,
                                 KeyType type);

  // Creates a new active key of the same type, purpose and owner and retires `id` (one batch).
  // kFailedPrecondition ("agent-key-not-rotatable") for a key of purpose kAgentKeyPurpose (a new
  // key takes a new agent), ("facilitator-key-not-rotatable") for kFacilitatorKeyPurpose;
  // kFailedPrecondition ("key-not-active") unless `id` is active.
  // Once Rotate or Disable has written the change, no signature that starts afterwards uses the
  // key, although signatures already under way with it may finish; before returning, both wait
  // for those (signatures started later never delay them) and empty signature.h's prepared-key
  // caches (DropPreparedKeys), so the key that stops signing does not stay in memory as a
  // prepared OpenSSL object.
  Result<KeyInfo> Rotate(const std::string& id);
  // Disables a key for good. Disabling a disabled key is a no-op.
  Result<KeyInfo> Disable(const std::string& id);

  // Signs with an active key (signature.h formats). kFailedPrecondition ("key-not-active").
  Result<Bytes> Sign(const std::string& id, ByteSpan message);
  // Recoverable secp256k1 signature over a digest (Ethereum).
  Result<Bytes> SignDigestRecoverable(const std::string& id, ByteSpan digest32);
  // JWS compact signed with an active key; `alg` is set from the key type. The caller sets
  // `kid` (verifiers need the DID URL form, which only the caller knows).
  Result<std::string> SignJws(const std::string& id, json::Value header, std::string_view payload);

  // Bumped by every new key, rotation and disabling: whoever caches "this signature verified
  // with this store's keys" or "this is the active key" drops the cache when it changes (a
  // disabled key withdraws its signatures; a newer key becomes the active one).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  KeyStore(store::KvStore& kv, SecretBytes kek, Clock& clock, Random& random)
      : kv_(kv), kek_(std::move(kek)), clock_(clock), random_(random) {}
  Result<KeyInfo> Store(KeyType type, const PrivateKey& key, std::string purpose,
                        std::string owner, store::WriteBatch* batch);
  Result<PrivateKey> Unseal(const std::string& id, KeyInfo* info);
  Result<PrivateKey> UnsealFromStore(const std::string& id, KeyInfo* info);
  void ForgetUnsealed();
  // Right after a rotation or disabling of `id` is written: forgets its open copy and bumps the
  // generation (together, under unsealed_mu_), so no signature that starts later uses the key;
  // then waits for the signatures already under way and empties the prepared-key caches.
  void StopSigning(const std::string& id);
  // Right before that write: forgets the open copy and keeps `id` from being remembered open
  // until StopSigning (or, when the write failed, CancelStop), so that no signature starting
  // once the write is visible finds a copy opened before it.
  void BeginStop(const std::string& id);
  void CancelStop(const std::string& id);

  // Marks one signature (Sign*) as under way from the key lookup to its end, counted by the
  // generation current when it started, so StopSigning can wait for exactly those started
  // before its change.
  class SigningScope {
   public:
    explicit SigningScope(KeyStore& ks);
    ~SigningScope();
    SigningScope(const SigningScope&) = delete;
    SigningScope& operator=(const SigningScope&) = delete;

   private:
    KeyStore& ks_;
    uint64_t generation_;
  };
  // Returns once no signature that started under a generation below `generation` is under way.
  void AwaitSignaturesBefore(uint64_t generation);

  Result<std::pair<KeyInfo, std::string>> Load(const std::string& id);
  // Fills owners_ from every stored key record (at Open); Remember puts a key's public record
  // there once its write is done.
  Status IndexOwners();
  void Remember(const KeyInfo& key);
  void RunHook(store::WriteBatch& batch, KeyChange change, const KeyInfo& key,
               const KeyInfo* successor) const;

  store::KvStore& kv_;
  SecretBytes kek_;
  Clock& clock_;
  Random& random_;
  KeyChangeHook change_hook_;  // set before sharing, then read-only
  std::mutex state_mu_;  // serializes state changes (rotate, disable)
  std::mutex make_mu_;   // serializes ActiveKeyOrNew's "none, so make one"
  // Every key's public record (no private material) by owner, then id: what List(owner) and
  // ActiveKey answer from. Changed only after the store's write, and a rotation's two records
  // together, before the generation moves.
  std::mutex owners_mu_;
  std::map<std::string, std::map<std::string, KeyInfo>> owners_;  // guarded by owners_mu_
  Status unreadable_;  // guarded by owners_mu_: a record IndexOwners could not parse
  std::atomic<uint64_t> generation_{0};
  static constexpr size_t kUnsealedCacheSize = 1024;
  std::mutex unsealed_mu_;
  // Guarded by unsealed_mu_: active keys opened once. An entry is erased in the same critical
  // section that bumps the generation after its key's rotation or disabling is written, and an
  // entry opened before a bump is never inserted after it, so a hit is always an active key.
  std::map<std::string, std::pair<KeyInfo, PrivateKey>> unsealed_;
  // Guarded by unsealed_mu_: keys whose rotation or disabling is being written (BeginStop to
  // StopSigning): never served from nor put into unsealed_.
  std::set<std::string> stopping_;
  // Signatures under way, as (generation at their start, count), in ascending generation order;
  // guarded by inflight_mu_. inflight_done_ is notified when a generation's count drops to zero.
  std::mutex inflight_mu_;
  std::condition_variable inflight_done_;
  std::vector<std::pair<uint64_t, size_t>> inflight_;
};

}  // namespace mandated::signer
