// Ledger: a double-entry ledger of balances per (account, asset) in the `ledger` column family
// (specs/ledger.md; specs/x402.md §7). Every transfer debits one account and credits another by
// the same amount; an account's balance never goes below zero unless it is an external account
// ("external:<name>", the other side of deposits and withdrawals). It holds prepaid balances and is the default
// settlement backend of the x402 facilitator.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/amount.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/random.h"
#include "base/result.h"
#include "store/kv_store.h"

namespace mandated::settlement {

inline constexpr char kLedgerFamily[] = "ledger";

// Account ids (specs/ledger.md):
//   "eip155:<chain id>:0x<40 lower-case hex>"  an on-chain holder (CAIP-10): payers and payees of
//                                              x402 payments, agents' custodial addresses
//   "principal:<principal id>", "agent:<agent id>", "merchant:<id>"  prepaid balances
//   "external:<name>"                          outside the ledger (deposits come from
//                                              "external:deposits"); may go negative
// <id> and <name> are 1-128 of [A-Za-z0-9._-]. kInvalidArgument "bad-account" otherwise.
Status ValidateAccountId(std::string_view account);
bool AllowsNegative(std::string_view account);  // true for external:*

// One movement of value. Thread safety: value type.
struct Transfer {
  std::string id;         // "xfr_<hex>"; Apply assigns one when empty; unique
  std::string debit;      // account losing the amount
  std::string credit;     // account gaining it
  std::string asset;      // ISO 4217 or CAIP-19 (base/asset.h)
  Amount amount;          // > 0
  std::string kind;       // deposit | payment | withdrawal | adjustment
  std::string reference;  // free text the caller ties it to (x402 nonce, deposit reference)
  std::string principal;  // the tenant it belongs to for audit ("" service-wide)
  int64_t at = 0;         // unix seconds; Apply sets the clock's now when 0
};
json::Value TransferToJson(const Transfer& t);
Result<Transfer> TransferFromJson(const json::Value& v);

// A balance: credits - debits, signed only for external accounts.
struct Balance {
  std::string account;
  std::string asset;
  Amount credits;
  Amount debits;
  uint64_t transfers = 0;
  bool negative = false;  // credits < debits (external accounts only)
  Amount magnitude;       // |credits - debits|
  std::string Text() const;  // "123" or "-123"
};
json::Value BalanceToJson(const Balance& b);

// Thread safety: safe from any thread. Transfers touching an account are serialized by that
// account's lock (taken in a fixed order, so transfers never deadlock); balances are cached in
// memory after their first read and only change through Apply.
class Ledger {
 public:
  Ledger(store::KvStore& kv, Clock& clock, Random& random);
  ~Ledger();

  // Applies `transfers` and the caller's other writes in `batch` in one durable write, with one
  // audit event per transfer ("ledger.transferred", specs/audit.md) in the same batch. Checks
  // first, writing nothing on any error: ids unused (kAlreadyExists "transfer-exists"), accounts
  // and assets valid ("bad-account", "bad-asset"), amounts > 0 ("bad-amount"), debit != credit,
  // a known kind and a printable reference of at most 256 bytes (kInvalidArgument
  // "bad-transfer"), totals within 128 bits (kOutOfRange "amount-out-of-range"), and each
  // debited non-external account holding enough after the earlier transfers of the same call
  // (kFailedPrecondition "insufficient-funds", message naming account, asset, balance, amount).
  // Returns the transfers as written (ids and times filled in).
  Result<std::vector<Transfer>> Apply(std::vector<Transfer> transfers, store::WriteBatch batch);

  // Called by Apply once every check passed, under the locks of the balances it moves, with the
  // transfers as they will be written and the balance after them of every (account, asset) they
  // touch, in "<account>/<asset>" order. It may add writes that depend on the outcome to `batch`
  // (an idempotency record of the answer); they commit in the same durable write or not at all.
  using BeforeWrite = std::function<void(const std::vector<Transfer>& transfers,
                                         const std::vector<Balance>& after,
                                         store::WriteBatch& batch)>;
  // Apply with a BeforeWrite hook (may be empty). A transfer id that another Apply is still
  // writing is kAborted "transfer-in-flight" (retry: it then exists or is free again).
  Result<std::vector<Transfer>> Apply(std::vector<Transfer> transfers, store::WriteBatch batch,
                                      const BeforeWrite& before_write);

  // The balance of one account in one asset (zero when it never moved). Reading a balance that
  // never moved keeps nothing in memory.
  Result<Balance> GetBalance(std::string_view account, std::string_view asset);
  // How many (account, asset) balances are held in memory: those a transfer touched.
  size_t held_balances();
  // Every asset of an account with a balance record, in asset order.
  Result<std::vector<Balance>> Balances(std::string_view account);
  // A transfer by id; kNotFound "transfer-not-found".
  Result<Transfer> GetTransfer(std::string_view id);
  // An account's transfers in one asset, oldest first, after the transfer id `after` ("" from the
  // start), at most `limit`.
  Result<std::vector<Transfer>> History(std::string_view account, std::string_view asset,
                                        std::string_view after, size_t limit);

 private:
  struct AccountState;
  // The state of "<account>/<asset>", created (not yet loaded) on first use; it lives as long as
  // the Ledger. REQUIRES: mu_ held.
  Result<AccountState*> StateLocked(const std::string& key);

  store::KvStore& kv_;
  Clock& clock_;
  Random& random_;
  std::mutex mu_;  // guards states_ (the map), not the balances
  std::map<std::string, std::unique_ptr<AccountState>> states_;  // "<account>/<asset>"
  std::set<std::string> pending_ids_;  // transfer ids an Apply is writing; guarded by mu_
};

}  // namespace mandated::settlement
