// Deferred settlement's queue keys and batching, and the settlement worker thread
// (specs/evm.md §6.3-6.4).
#include "settlement/deferred.h"

#include <chrono>
#include <set>

#include "base/json.h"
#include "base/log.h"
#include "settlement/facilitator.h"

namespace mandated::settlement {

std::string DeferredKey(uint64_t chain, const std::string& payer_lower,
                        const std::string& payee_lower, const std::string& nonce_key) {
  return std::string(kDeferredPrefix) + std::to_string(chain) + "/" + payer_lower + "/" +
         payee_lower + "/" + nonce_key;
}

std::string OwedKey(uint64_t chain, const std::string& payer_lower, const std::string& nonce_key) {
  return std::string(kOwedPrefix) + std::to_string(chain) + "/" + payer_lower + "/" + nonce_key;
}

std::string DeferredValue(const std::string& nonce_key, const Amount& amount) {
  json::Value v = json::Value::Object();
  v.Set("key", json::Value::String(nonce_key));
  v.Set("amount", json::Value::String(amount.ToString()));
  return json::Write(v);
}

namespace {

bool ParseValue(std::string_view raw, std::string* key, Amount* amount) {
  Result<json::Value> v = json::Parse(raw);
  if (!v.ok() || !v->is_object()) return false;
  const json::Value* k = v->Find("key");
  const json::Value* a = v->Find("amount");
  if (k == nullptr || !k->is_string() || a == nullptr || !a->is_string()) return false;
  Result<Amount> parsed = Amount::Parse(a->as_string());
  if (!parsed.ok()) return false;
  *key = k->as_string();
  *amount = *parsed;
  return true;
}

}  // namespace

std::string_view TokenOfNonceKey(std::string_view nonce_key) {
  const size_t a = nonce_key.find('/');
  if (a == std::string_view::npos) return {};
  const size_t b = nonce_key.find('/', a + 1);
  if (b == std::string_view::npos) return {};
  return nonce_key.substr(a + 1, b - a - 1);
}

std::string_view PayerOfNonceKey(std::string_view nonce_key) {
  const size_t a = nonce_key.find('/');
  const size_t b = a == std::string_view::npos ? a : nonce_key.find('/', a + 1);
  const size_t c = b == std::string_view::npos ? b : nonce_key.find('/', b + 1);
  if (c == std::string_view::npos) return {};
  return nonce_key.substr(b + 1, c - b - 1);
}

Result<Amount> QueuedBy(store::KvStore& kv, uint64_t chain, const std::string& payer_lower,
                        std::string_view token_lower) {
  Amount sum;
  Status bad = OkStatus();
  std::set<std::string> counted;  // nonce keys
  auto add = [&](std::string_view, std::string_view value) {
    std::string key;
    Amount amount;
    if (!ParseValue(value, &key, &amount)) return true;
    if (TokenOfNonceKey(key) != token_lower) return true;  // another token's balance pays it
    if (!counted.insert(key).second) return true;  // owed and still queued: once
    Result<Amount> next = sum.Add(amount);
    if (!next.ok()) {
      bad = next.error();
      return false;
    }
    sum = *next;
    return true;
  };
  const std::string tail = std::to_string(chain) + "/" + payer_lower + "/";
  MD_RETURN_IF_ERROR(kv.ScanPrefix(kX402Family, std::string(kOwedPrefix) + tail, add));
  MD_RETURN_IF_ERROR(bad);
  MD_RETURN_IF_ERROR(kv.ScanPrefix(kX402Family, std::string(kDeferredPrefix) + tail, add));
  MD_RETURN_IF_ERROR(bad);
  return sum;
}

Result<std::vector<DeferredEntry>> LoadDeferred(store::KvStore& kv) {
  std::vector<DeferredEntry> out;
  MD_RETURN_IF_ERROR(kv.ScanPrefix(kX402Family, kDeferredPrefix,
                                   [&](std::string_view key, std::string_view value) {
    // defer/<chain>/<payer>/<payee>/<nonce key>; the value names the nonce key and amount.
    const std::string k(key);
    const size_t a = k.find('/', sizeof(kDeferredPrefix) - 1);
    const size_t b = a == std::string::npos ? a : k.find('/', a + 1);
    const size_t c = b == std::string::npos ? b : k.find('/', b + 1);
    if (c == std::string::npos) return true;  // not ours
    DeferredEntry e;
    e.queue_key = k;
    if (!ParseValue(value, &e.nonce_key, &e.amount)) return true;  // not ours
    e.chain = std::strtoull(k.substr(sizeof(kDeferredPrefix) - 1, a).c_str(), nullptr, 10);
    e.pair = k.substr(a + 1, c - a - 1);
    e.token = std::string(TokenOfNonceKey(e.nonce_key));
    out.push_back(std::move(e));
    return true;
  }));
  return out;
}

std::vector<std::vector<DeferredEntry>> PlanBatches(const std::vector<DeferredEntry>& entries,
                                                    size_t batch_max) {
  std::vector<std::vector<DeferredEntry>> out;
  if (batch_max == 0) batch_max = 1;
  for (const DeferredEntry& e : entries) {
    if (out.empty() || out.back().size() >= batch_max || out.back().back().chain != e.chain ||
        out.back().back().pair != e.pair || out.back().back().token != e.token) {
      out.emplace_back();
    }
    out.back().push_back(e);
  }
  return out;
}

SettlementWorker::SettlementWorker(Facilitator& facilitator, int64_t track_interval_ms,
                                   int64_t flush_interval_s)
    : facilitator_(facilitator),
      track_interval_ms_(track_interval_ms > 0 ? track_interval_ms : 1000),
      flush_interval_s_(flush_interval_s) {}

SettlementWorker::~SettlementWorker() { Stop(); }

void SettlementWorker::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void SettlementWorker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SettlementWorker::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void SettlementWorker::Loop() {
  using Clock = std::chrono::steady_clock;
  Clock::time_point next_flush = Clock::now();
  for (;;) {
    if (Result<size_t> r = facilitator_.ResumeSubmissions(); !r.ok()) {
      log::Warn("x402 submissions not tracked", {{"error", r.error().ToString()}});
    }
    if (flush_interval_s_ > 0 && Clock::now() >= next_flush) {
      if (Result<size_t> r = facilitator_.FlushDeferred(); !r.ok()) {
        log::Warn("x402 deferred payments not flushed", {{"error", r.error().ToString()}});
      }
      next_flush = Clock::now() + std::chrono::seconds(flush_interval_s_);
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(track_interval_ms_),
                 [this] { return stop_ || woken_; });
    if (stop_) return;
    woken_ = false;
  }
}

}  // namespace mandated::settlement
