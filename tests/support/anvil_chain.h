// AnvilChain: a real local EVM node for tests. Starts the pinned `anvil` (tests/interop) on a free
// loopback port, deploys the test token and batch settler (tests/interop/chain_deploy.mjs) and
// offers the JSON-RPC reads and node controls the on-chain settlement tests need.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/json.h"

namespace mandated::testing {

// One of anvil's funded development accounts (its default mnemonic, so the same every run).
struct DevAccount {
  std::string address;      // EIP-55, as anvil prints it
  std::string private_key;  // 0x + 64 hex
};

// Thread safety: drive from one thread (the test's); the JSON-RPC reads are safe from any thread.
class AnvilChain {
 public:
  struct Options {
    uint64_t chain_id = 84532;  // base-sepolia: a network x402 names (specs/x402.md §2.4)
    bool automine = true;       // false: blocks only on Mine() (or every block_time_s)
    int block_time_s = 0;       // > 0: interval mining
    // ADDRESS=AMOUNT (base units of the token) minted at deploy.
    std::vector<std::pair<std::string, std::string>> mints;
  };

  AnvilChain();
  explicit AnvilChain(Options options);
  ~AnvilChain();  // SIGKILLs anvil
  AnvilChain(const AnvilChain&) = delete;
  AnvilChain& operator=(const AnvilChain&) = delete;

  // Whether anvil and node are installed (tests skip otherwise).
  static bool Available();

  // Starts anvil, waits for eth_chainId, deploys the contracts (up to three tries, each on a
  // fresh port). False (with `error()`, the last try's) on failure.
  bool Start();
  const std::string& error() const { return error_; }

  const std::string& rpc_url() const { return rpc_url_; }
  uint64_t chain_id() const { return chain_id_; }
  const std::string& token() const { return token_; }            // lower-case 0x address
  const std::string& batch_settler() const { return settler_; }  // lower-case 0x address
  const std::string& deployer() const { return deployer_; }      // the token's owner
  const std::vector<DevAccount>& accounts() const { return accounts_; }

  // One JSON-RPC call; the "result" member, or a null value (failing the current test) on error.
  json::Value Rpc(const std::string& method, json::Value params = json::Value::Array());
  // The same, returning the error message ("" on success) instead of failing the test.
  std::string TryRpc(const std::string& method, json::Value params, json::Value* result);

  // Node controls (anvil's evm_* / anvil_* methods).
  void Mine(int blocks = 1);
  void SetAutomine(bool on);
  void SetEthBalance(const std::string& address, const std::string& wei_hex);
  uint64_t BlockNumber();

  // Token reads and writes. Amounts are decimal strings of base units.
  std::string BalanceOf(const std::string& owner);
  std::string BalanceOf(const std::string& token, const std::string& owner);
  bool AuthorizationUsed(const std::string& authorizer, const std::string& nonce_hex);
  // The deployer mints `amount` to `to` (mined before it returns, even with automine off).
  void Mint(const std::string& to, const std::string& amount);
  // `from` (impersonated, funded with gas) transfers `amount` of the token to `to`.
  void TransferFrom(const std::string& from, const std::string& to, const std::string& amount);
  // Sends a transaction from an unlocked or impersonated account; returns its hash. With
  // `mine` the call mines until the receipt exists and returns "" when it reverted.
  std::string SendTransaction(const std::string& from, const std::string& to,
                              const std::string& data_hex, bool mine = true);
  // eth_call of `data_hex` on `to`; the returned hex.
  std::string Call(const std::string& to, const std::string& data_hex);

  // Transactions sent by `address` (its account nonce).
  uint64_t TransactionCount(const std::string& address);
  // Transactions in blocks [first, last].
  uint64_t TransactionsInBlocks(uint64_t first, uint64_t last);
  // Transactions to `to` in blocks [first, last] (e.g. calls of the token or the settler).
  uint64_t TransactionsTo(const std::string& to, uint64_t first, uint64_t last);

  // Helpers for building call data: the 4-byte selector of a signature, and 32-byte words.
  static std::string Selector(const std::string& signature);  // 8 hex, no 0x
  static std::string Word(const std::string& hex_or_address);  // 64 hex, left-padded
  static std::string WordOfDecimal(const std::string& decimal);

 private:
  bool StartOnce();

  Options options_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
  std::string rpc_url_;
  uint64_t chain_id_ = 0;
  std::string token_, settler_, deployer_;
  std::vector<DevAccount> accounts_;
  std::string error_;
};

// Hex quantity ("0x1f") or decimal text of at most 128 bits <-> decimal text.
std::string HexQuantityToDecimal(const std::string& hex);

}  // namespace mandated::testing
