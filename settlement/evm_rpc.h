// EvmRpc: a JSON-RPC 2.0 client of an Ethereum node (specs/evm.md §4) over an abstract transport,
// with bounded retries of transport failures for reads and for raw-transaction submission.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/amount.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/result.h"
#include "settlement/evm_abi.h"
#include "settlement/x402_wire.h"

namespace mandated::settlement {

// Carries one JSON-RPC request body to the node and returns the response body. Timeouts are the
// transport's. A failure to get an answer (connect, timeout, HTTP status other than 200) is
// kUnavailable; the client retries those. Thread safety: implementations must be safe from any
// thread.
class JsonRpcTransport {
 public:
  virtual ~JsonRpcTransport() = default;
  virtual Result<std::string> Post(const std::string& body) = 0;
};

// Quantities (specs/evm.md §4.2): "0x" + lower- or upper-case hex, no leading zero except "0x0".
// kInvalidArgument ("bad-rpc-answer") otherwise or when the value does not fit.
Result<uint64_t> ParseQuantity64(std::string_view text);
Result<Uint128> ParseQuantity128(std::string_view text);
std::string Quantity(Uint128 v);
// "0x" + hex of arbitrary length (DATA). kInvalidArgument ("bad-rpc-answer").
Result<Bytes> ParseData(std::string_view text);

// EIP-1559 fee suggestion. Value types, like Receipt below.
struct FeeData {
  Uint128 base_fee = 0;               // of the latest block
  Uint128 max_priority_fee_per_gas = 0;
  Uint128 max_fee_per_gas = 0;        // 2 * base fee + priority fee
};

struct Receipt {
  std::string tx_hash;
  uint64_t block_number = 0;
  bool status = false;  // 1 succeeded, 0 reverted
  uint64_t gas_used = 0;
  std::vector<abi::Log> logs;
};

// Errors: a JSON-RPC error object is kFailedPrecondition with reason "rpc-error" and the node's
// code and message in the message (an execution revert: reason "execution-reverted"); a
// malformed answer is kInvalidArgument ("bad-rpc-answer"); transport failures kUnavailable.
// Thread safety: safe from any thread (the transport must be, and the id counter is atomic).
class EvmRpc {
 public:
  // `retries`: how many more times a transport failure is retried (0: once only).
  EvmRpc(JsonRpcTransport& transport, int retries) : transport_(transport), retries_(retries) {}

  // The `result` member of a call. `retry` only for idempotent requests.
  Result<json::Value> Call(std::string_view method, json::Value params, bool retry);

  Result<uint64_t> ChainId();
  Result<uint64_t> BlockNumber();
  // eth_getTransactionCount(address, block) with block "pending" or "latest".
  Result<uint64_t> TransactionCount(const Address& account, std::string_view block);
  Result<uint64_t> EstimateGas(const Address& from, const Address& to, ByteSpan data);
  // eth_maxPriorityFeePerGas (eth_gasPrice - base fee when the node lacks it) and the latest
  // block's baseFeePerGas.
  Result<FeeData> Fees();
  Result<Bytes> EthCall(const Address& to, ByteSpan data);
  // eth_sendRawTransaction. `hash` is the transaction's own hash: an "already known" answer, or
  // "nonce too low" when the node knows `hash`, means it already has this very transaction and
  // is success (retrying the same raw bytes is therefore safe). Returns the hash.
  Result<std::string> SendRawTransaction(ByteSpan raw, const std::string& hash);
  // nullopt while the node has no receipt (pending, dropped or unknown).
  Result<std::optional<Receipt>> TransactionReceipt(const std::string& hash);
  // Whether the node knows the transaction (mined or in its pool).
  Result<bool> TransactionKnown(const std::string& hash);

 private:
  JsonRpcTransport& transport_;
  int retries_;
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace mandated::settlement
