// EvmChain: what the facilitator needs of one EVM network when its settlement backend is `evm`
// (specs/evm.md): token reads for verification and durable, exactly-once submission of EIP-3009
// transfers, one at a time or batched, tracked to finality.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/amount.h"
#include "base/bytes.h"
#include "base/result.h"
#include "settlement/x402_wire.h"

namespace mandated::settlement {

// One signed EIP-3009 transferWithAuthorization, ready to submit to `token`.
struct SignedTransfer {
  Address token{};
  Authorization3009 authorization;
  Bytes signature;  // 65 bytes r||s||v as the payer signed it
};

// Where a submission stands. A submission is one on-chain transaction (possibly replaced by a
// higher-fee copy with the same account nonce) carrying one or more transfers.
enum class SubmissionState {
  kPending,    // broadcast (or about to be, after a restart), not yet final
  kConfirmed,  // mined with status 1 and `confirmations` blocks deep (specs/evm.md §5.3)
  kReverted,   // mined with status 0, or a transfer of a batch failed (see TransferOutcome)
  kFailed,     // could not be broadcast and never will be (e.g. its gas estimation reverts)
};

// The fate of one transfer inside a submission (a batch may succeed for some and not others).
struct TransferOutcome {
  Nonce32 nonce{};
  bool succeeded = false;
};

struct Submission {
  std::string id;          // the caller's idempotency key, as given to Submit
  SubmissionState state = SubmissionState::kPending;
  std::string tx_hash;     // 0x + 64 hex of the transaction last broadcast ("" before that)
  uint64_t block = 0;      // block number once mined
  std::vector<TransferOutcome> outcomes;  // one per transfer once mined, in submit order
  std::string error;       // why kFailed / kReverted, for the record
};

// The EIP-712 domain a token's EIP-3009 signatures are made for, as the token reports it.
struct TokenDomain {
  std::string name;     // name()
  std::string version;  // version()
};

// The `evm` backend of one network, as configured (specs/evm.md).
struct EvmChainConfig {
  uint64_t chain_id = 0;
  std::string rpc_url;                 // http://host:port[/path] of the JSON-RPC endpoint
  std::vector<Address> tokens;         // EIP-3009 tokens this backend settles
  std::optional<Address> batch_settler;  // the batch settler contract, if batching is enabled
  // Blocks from the receipt's block to the head, counting the receipt's block, before final:
  // 1 is final once mined, 2 once one more block is on top (specs/evm.md §5.3).
  uint32_t confirmations = 1;
  std::string facilitator_key;         // key-store id of the secp256k1 key that pays gas
  int64_t rpc_timeout_ms = 5000;
  int rpc_retries = 3;
  int64_t replace_after_s = 60;        // re-broadcast with higher fees when pending this long
};

// The most transfers one Submit takes (a batch settler call of this many stays well below a 30M
// gas block; specs/evm.md §5.3). More: kInvalidArgument "batch-too-large"; split the batch.
inline constexpr size_t kMaxTransfersPerSubmission = 200;

// Thread safety: implementations are safe from any thread.
class EvmChain {
 public:
  virtual ~EvmChain() = default;

  virtual uint64_t chain_id() const = 0;
  // Whether `token` is one this backend is configured to settle.
  virtual bool Accepts(const Address& token) const = 0;

  // ERC-20 balanceOf(owner) at the latest block.
  virtual Result<Amount> BalanceOf(const Address& token, const Address& owner) = 0;
  // EIP-3009 authorizationState(authorizer, nonce): true when the nonce was used or cancelled.
  virtual Result<bool> AuthorizationUsed(const Address& token, const Address& authorizer,
                                         const Nonce32& nonce) = 0;
  // The token's name() and version(), which a payment's extra.name and extra.version must
  // match (a signature made for another domain passes the off-chain check and then reverts).
  // kInvalidArgument ("bad-abi") when the token answers something else than a string.
  virtual Result<TokenDomain> DomainOf(const Address& token) = 0;
  // The account that pays gas for submissions, once known (GET /x402/supported lists it among
  // the signers).
  virtual std::optional<Address> facilitator_address() = 0;

  // Submits `transfers` as one transaction (one transfer: a direct transferWithAuthorization;
  // several: one call of the batch settler contract). Durable before broadcast: after a crash,
  // the same `id` resumes the same transaction and never sends a second one. Calling Submit
  // again with an `id` it already knows returns that submission unchanged.
  virtual Result<Submission> Submit(const std::string& id,
                                    const std::vector<SignedTransfer>& transfers) = 0;
  // Polls the submission once: receipt, confirmations, replacement of a stuck transaction.
  virtual Result<Submission> Track(const std::string& id) = 0;
  // Submissions not yet final (kPending), for the tracker to resume after a restart.
  virtual Result<std::vector<std::string>> Unfinished() = 0;
};

}  // namespace mandated::settlement
