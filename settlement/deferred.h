// Deferred settlement (specs/evm.md §6.3): the options of an evm network's backend, the durable
// queue of accepted payments waiting to be settled on chain in batches per (payer, payee), and
// the background worker that tracks submissions and flushes that queue.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/amount.h"
#include "base/result.h"
#include "store/kv_store.h"

namespace mandated::settlement {

class Facilitator;

// How the facilitator settles on one evm network (specs/evm.md §6.1).
struct EvmSettlementOptions {
  // Payments with value strictly below this are deferred (needs a batch settler); none: never.
  std::optional<Amount> deferred_below;
  // A payment is deferred only when its validBefore is at least this many seconds away: the
  // flush interval and a minute to mine the batch (set from the worker's flush interval).
  int64_t defer_min_validity_s = 60;
  size_t batch_max = 200;          // transfers per batch transaction
  int64_t settle_wait_ms = 30000;  // how long /x402/settle waits for a submission to be final
};

// The queue of deferred payments in family `x402` (specs/evm.md §6.4): one key per payment,
// `defer/<chain>/<payer>/<payee>/<nonce key>`, so a prefix scan yields them grouped by pair; the
// value is {"key": nonce key, "amount": decimal}.
inline constexpr char kDeferredPrefix[] = "defer/";
std::string DeferredKey(uint64_t chain, const std::string& payer_lower,
                        const std::string& payee_lower, const std::string& nonce_key);

std::string DeferredValue(const std::string& nonce_key, const Amount& amount);

// What a payer owes on chain (specs/evm.md §6.4): one key per payment the evm backend accepted
// and has not seen final, deferred (queued or in a submitted batch) or pending on chain,
// `owe/<chain>/<payer>/<nonce key>`, with DeferredValue's value. Written with the payment's
// record, deleted when Facilitator::Finalize records it settled or failed.
inline constexpr char kOwedPrefix[] = "owe/";
std::string OwedKey(uint64_t chain, const std::string& payer_lower, const std::string& nonce_key);

// One queued payment: its queue key and the nonce key of its settlement record.
struct DeferredEntry {
  std::string queue_key;
  std::string nonce_key;
  Amount amount;
  uint64_t chain = 0;
  std::string pair;   // "<payer>/<payee>"
  std::string token;  // the token contract, lower-case (from the nonce key)
};

// The token of a nonce key "<chain id>/<token lower>/<payer lower>/<nonce hex>" ("" if none).
std::string_view TokenOfNonceKey(std::string_view nonce_key);
// Its payer, the third field ("" if none).
std::string_view PayerOfNonceKey(std::string_view nonce_key);

// Every queued payment, in key order (grouped by chain, payer and payee).
Result<std::vector<DeferredEntry>> LoadDeferred(store::KvStore& kv);
// What `payer` (lower-case) owes on `chain` in `token` (lower-case), to every payee: accepted,
// not yet final on chain (the owed entries, and queue entries a store written before they
// existed holds without one).
Result<Amount> QueuedBy(store::KvStore& kv, uint64_t chain, const std::string& payer_lower,
                        std::string_view token_lower);

// Splits queued payments into batches: one (chain, payer, payee, token) per batch (a batch is
// one transaction of one token contract), at most `batch_max` each, in queue order.
std::vector<std::vector<DeferredEntry>> PlanBatches(const std::vector<DeferredEntry>& entries,
                                                    size_t batch_max);

// Runs Facilitator::ResumeSubmissions every `track_interval_ms` and FlushDeferred every
// `flush_interval_s` (0: only on demand) on its own thread; the first round runs at once, so a
// restart resumes what an earlier run left. Thread safety: Start/Stop from one thread; Wake from
// any thread.
class SettlementWorker {
 public:
  SettlementWorker(Facilitator& facilitator, int64_t track_interval_ms, int64_t flush_interval_s);
  ~SettlementWorker();
  void Start();
  void Stop();
  // Runs a round now (e.g. after a settle submitted something).
  void Wake();

 private:
  void Loop();

  Facilitator& facilitator_;
  const int64_t track_interval_ms_;
  const int64_t flush_interval_s_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // guarded by mu_
  bool woken_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace mandated::settlement
