// EvmRpcChain: the evm settlement backend of one network over a node's JSON-RPC (specs/evm.md
// §5): token reads by eth_call, and EIP-3009 transfers submitted in EIP-1559 transactions signed
// by the facilitator key, journaled durably before broadcast, tracked to finality, replaced when
// stuck and re-broadcast when dropped.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "settlement/evm_chain.h"
#include "settlement/evm_rpc.h"
#include "settlement/evm_tx.h"
#include "signer/key_store.h"
#include "store/kv_store.h"

namespace mandated::settlement {

// The column family of the submission journal and the account nonces (specs/evm.md §5.1).
inline constexpr char kChainFamily[] = "chain";

// Thread safety: safe from any thread. Submit and Track of one instance are serialized by one
// mutex (they allocate account nonces and rewrite the journal); the reads (BalanceOf,
// AuthorizationUsed, DomainOf) do not take it. One instance per (store, chain id, facilitator key): two
// instances sharing an account would allocate the same nonces.
class EvmRpcChain final : public EvmChain {
 public:
  // Does no I/O; the facilitator address and the account nonce are read on first Submit/Track.
  EvmRpcChain(EvmChainConfig config, std::unique_ptr<JsonRpcTransport> transport,
              store::KvStore& kv, signer::KeyStore& keys, Clock& clock);
  // The same, after checking that the facilitator key is a secp256k1 key (kInvalidArgument
  // "bad-facilitator-key") and that the node's eth_chainId is config.chain_id
  // (kFailedPrecondition "chain-id-mismatch"). A node that does not answer (kUnavailable) is
  // logged and asked again at first use; other node errors as EvmRpc reports them.
  static Result<std::unique_ptr<EvmRpcChain>> Create(EvmChainConfig config,
                                                     std::unique_ptr<JsonRpcTransport> transport,
                                                     store::KvStore& kv, signer::KeyStore& keys,
                                                     Clock& clock);

  uint64_t chain_id() const override { return config_.chain_id; }
  bool Accepts(const Address& token) const override;
  Result<Amount> BalanceOf(const Address& token, const Address& owner) override;
  Result<bool> AuthorizationUsed(const Address& token, const Address& authorizer,
                                 const Nonce32& nonce) override;
  // Read once and kept for kDomainCacheSeconds (an upgraded token may rename itself; a
  // read that fails is not kept).
  Result<TokenDomain> DomainOf(const Address& token) override;
  static constexpr int64_t kDomainCacheSeconds = 300;
  // A transfer set whose gas estimation reverts is journaled as kFailed without a transaction.
  // Errors: kInvalidArgument ("no-transfers", "batch-too-large", "token-not-accepted",
  // "mixed-tokens", "batching-disabled", "bad-signature") for transfers this backend cannot
  // submit; node and store errors otherwise (nothing journaled then, so the same id may be
  // submitted again).
  Result<Submission> Submit(const std::string& id,
                            const std::vector<SignedTransfer>& transfers) override;
  // kNotFound ("submission-not-found") for an unknown id.
  Result<Submission> Track(const std::string& id) override;
  Result<std::vector<std::string>> Unfinished() override;

  // The account that pays gas (available after the first Submit/Track, or from Create).
  std::optional<Address> facilitator_address() override;
  EvmRpc& rpc() { return rpc_; }

  // One signed copy of a submission's transaction (specs/evm.md §5.1).
  struct Attempt {
    std::string hash;
    Bytes raw;
    Uint128 max_fee_per_gas = 0;
    Uint128 max_priority_fee_per_gas = 0;
    int64_t sent_at = 0;  // unix seconds of the last broadcast of this copy
  };
  // A journal record (specs/evm.md §5.1).
  struct Record {
    Submission sub;
    std::vector<SignedTransfer> transfers;
    Address to{};
    Bytes data;
    uint64_t account_nonce = 0;
    uint64_t gas_limit = 0;
    int64_t created_at = 0;
    std::vector<Attempt> attempts;
    // The account that signs every copy and the key-store id of its key: a submission stays
    // with them when another facilitator_key is configured (older records name neither: the
    // configured key's).
    std::optional<Address> from;
    std::string key_id;
  };

 private:
  Status EnsureReadyLocked();
  // OK once the node answered eth_chainId with config_.chain_id; asked until it has. A node of
  // another chain is kFailedPrecondition ("chain-id-mismatch") for every read and write.
  Status CheckChainId();
  Result<std::optional<Record>> LoadLocked(const std::string& id);
  Status SaveLocked(const Record& r, bool allocate_nonce);
  void BroadcastLocked(Record& r, size_t attempt);
  Status ReplaceLocked(Record& r, const FeeData& fees);
  void FinalizeLocked(Record& r, const Receipt& receipt);

  std::string Key(std::string_view kind, std::string_view id) const;

  const EvmChainConfig config_;
  std::unique_ptr<JsonRpcTransport> transport_;
  EvmRpc rpc_;
  store::KvStore& kv_;
  signer::KeyStore& keys_;
  Clock& clock_;

  std::mutex mu_;
  std::atomic<bool> chain_checked_{false};  // the node's chain id was seen to be ours
  bool ready_ = false;          // guarded by mu_
  Address from_{};              // guarded by mu_ (set once ready_)
  // from_ as facilitator_address() reads it without mu_: written once under mu_, before
  // address_published_ is set (release); read after seeing it set (acquire).
  Address published_from_{};
  std::atomic<bool> address_published_{false};
  uint64_t next_nonce_ = 0;     // guarded by mu_

  struct CachedDomain {
    TokenDomain domain;
    int64_t read_at = 0;  // clock_ unix seconds
  };
  std::mutex domains_mu_;                      // not held during a node call
  std::map<Address, CachedDomain> domains_;    // guarded by domains_mu_
};

}  // namespace mandated::settlement
