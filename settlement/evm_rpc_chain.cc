// The evm settlement backend over JSON-RPC: journal, nonces, submission, tracking, replacement
// (specs/evm.md §5).
#include "settlement/evm_rpc_chain.h"

#include <algorithm>
#include <utility>

#include "base/json.h"
#include "base/log.h"
#include "settlement/evm_abi.h"
#include "signer/ethereum.h"

namespace mandated::settlement {
namespace {

std::string_view StateName(SubmissionState s) {
  switch (s) {
    case SubmissionState::kPending:
      return "pending";
    case SubmissionState::kConfirmed:
      return "confirmed";
    case SubmissionState::kReverted:
      return "reverted";
    case SubmissionState::kFailed:
      return "failed";
  }
  return "pending";
}

Result<SubmissionState> StateFromName(std::string_view n) {
  for (SubmissionState s : {SubmissionState::kPending, SubmissionState::kConfirmed,
                            SubmissionState::kReverted, SubmissionState::kFailed}) {
    if (StateName(s) == n) {
      return s;
    }
  }
  return DataLossError("chain journal: unknown state \"" + std::string(n) + "\"",
                       "storage-corruption");
}

Status Corrupt(const Status& s) {
  return DataLossError("chain journal: " + s.message(), "storage-corruption");
}

json::Value Str(std::string s) { return json::Value::String(std::move(s)); }
json::Value Dec(Uint128 v) { return Str(Amount::FromRaw(v).ToString()); }

Result<Uint128> DecOf(json::ObjectReader& r, std::string_view key) {
  MD_ASSIGN_OR_RETURN(Amount a, r.AmountField(key));
  return a.raw();
}

template <size_t N>
Result<std::array<uint8_t, N>> FixedHexOf(json::ObjectReader& r, std::string_view key) {
  MD_ASSIGN_OR_RETURN(std::string s, r.String(key));
  MD_ASSIGN_OR_RETURN(Bytes b, HexDecode(s, true));
  if (b.size() != N) {
    return InvalidArgumentError(r.PointerTo(key) + ": wrong length");
  }
  std::array<uint8_t, N> out{};
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}

Result<Bytes> HexOf(json::ObjectReader& r, std::string_view key) {
  MD_ASSIGN_OR_RETURN(std::string s, r.String(key));
  return HexDecode(s, true);
}

json::Value RecordToJson(const EvmRpcChain::Record& rec) {
  json::Value o = json::Value::Object();
  o.Set("v", json::Value::Int(1));
  o.Set("id", Str(rec.sub.id));
  o.Set("state", Str(std::string(StateName(rec.sub.state))));
  o.Set("to", Str(AddressLower(rec.to)));
  o.Set("data", Str("0x" + HexEncode(rec.data)));
  o.Set("account_nonce", json::Value::Uint(rec.account_nonce));
  o.Set("gas_limit", json::Value::Uint(rec.gas_limit));
  o.Set("created_at", json::Value::Int(rec.created_at));
  if (rec.from) o.Set("from", Str(AddressLower(*rec.from)));
  if (!rec.key_id.empty()) o.Set("key", Str(rec.key_id));
  json::Value transfers = json::Value::Array();
  for (const SignedTransfer& t : rec.transfers) {
    json::Value j = json::Value::Object();
    j.Set("token", Str(AddressLower(t.token)));
    j.Set("from", Str(AddressLower(t.authorization.from)));
    j.Set("to", Str(AddressLower(t.authorization.to)));
    j.Set("value", Str(t.authorization.value.ToString()));
    j.Set("valid_after", Dec(t.authorization.valid_after));
    j.Set("valid_before", Dec(t.authorization.valid_before));
    j.Set("nonce", Str(NonceText(t.authorization.nonce)));
    j.Set("signature", Str("0x" + HexEncode(t.signature)));
    transfers.Append(std::move(j));
  }
  o.Set("transfers", std::move(transfers));
  json::Value attempts = json::Value::Array();
  for (const EvmRpcChain::Attempt& a : rec.attempts) {
    json::Value j = json::Value::Object();
    j.Set("hash", Str(a.hash));
    j.Set("raw", Str("0x" + HexEncode(a.raw)));
    j.Set("max_fee_per_gas", Dec(a.max_fee_per_gas));
    j.Set("max_priority_fee_per_gas", Dec(a.max_priority_fee_per_gas));
    j.Set("sent_at", json::Value::Int(a.sent_at));
    attempts.Append(std::move(j));
  }
  o.Set("attempts", std::move(attempts));
  o.Set("tx_hash", Str(rec.sub.tx_hash));
  o.Set("block", json::Value::Uint(rec.sub.block));
  json::Value outcomes = json::Value::Array();
  for (const TransferOutcome& t : rec.sub.outcomes) {
    json::Value j = json::Value::Object();
    j.Set("nonce", Str(NonceText(t.nonce)));
    j.Set("succeeded", json::Value::Bool(t.succeeded));
    outcomes.Append(std::move(j));
  }
  o.Set("outcomes", std::move(outcomes));
  o.Set("error", Str(rec.sub.error));
  return o;
}

Result<EvmRpcChain::Record> RecordFromJsonInner(const json::Value& v) {
  EvmRpcChain::Record rec;
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v));
  MD_ASSIGN_OR_RETURN(int64_t version, r.Int("v"));
  if (version != 1) {
    return InvalidArgumentError("unknown record version " + std::to_string(version));
  }
  MD_ASSIGN_OR_RETURN(rec.sub.id, r.String("id"));
  MD_ASSIGN_OR_RETURN(std::string state, r.String("state"));
  MD_ASSIGN_OR_RETURN(rec.sub.state, StateFromName(state));
  MD_ASSIGN_OR_RETURN(rec.to, FixedHexOf<20>(r, "to"));
  MD_ASSIGN_OR_RETURN(rec.data, HexOf(r, "data"));
  MD_ASSIGN_OR_RETURN(int64_t nonce, r.Int("account_nonce"));
  MD_ASSIGN_OR_RETURN(int64_t gas, r.Int("gas_limit"));
  rec.account_nonce = static_cast<uint64_t>(nonce);
  rec.gas_limit = static_cast<uint64_t>(gas);
  MD_ASSIGN_OR_RETURN(rec.created_at, r.Int("created_at"));
  if (r.Optional("from") != nullptr) {
    MD_ASSIGN_OR_RETURN(rec.from, FixedHexOf<20>(r, "from"));
  }
  if (r.Optional("key") != nullptr) {
    MD_ASSIGN_OR_RETURN(rec.key_id, r.String("key"));
  }
  MD_ASSIGN_OR_RETURN(const json::Value* transfers, r.Required("transfers"));
  for (const json::Value& tv : transfers->items()) {
    MD_ASSIGN_OR_RETURN(json::ObjectReader t, json::ObjectReader::Of(tv, "/transfers"));
    SignedTransfer st;
    MD_ASSIGN_OR_RETURN(st.token, FixedHexOf<20>(t, "token"));
    MD_ASSIGN_OR_RETURN(st.authorization.from, FixedHexOf<20>(t, "from"));
    MD_ASSIGN_OR_RETURN(st.authorization.to, FixedHexOf<20>(t, "to"));
    MD_ASSIGN_OR_RETURN(st.authorization.value, t.AmountField("value"));
    MD_ASSIGN_OR_RETURN(st.authorization.valid_after, DecOf(t, "valid_after"));
    MD_ASSIGN_OR_RETURN(st.authorization.valid_before, DecOf(t, "valid_before"));
    MD_ASSIGN_OR_RETURN(st.authorization.nonce, FixedHexOf<32>(t, "nonce"));
    MD_ASSIGN_OR_RETURN(st.signature, HexOf(t, "signature"));
    MD_RETURN_IF_ERROR(t.Finish());
    rec.transfers.push_back(std::move(st));
  }
  MD_ASSIGN_OR_RETURN(const json::Value* attempts, r.Required("attempts"));
  for (const json::Value& av : attempts->items()) {
    MD_ASSIGN_OR_RETURN(json::ObjectReader a, json::ObjectReader::Of(av, "/attempts"));
    EvmRpcChain::Attempt at;
    MD_ASSIGN_OR_RETURN(at.hash, a.String("hash"));
    MD_ASSIGN_OR_RETURN(at.raw, HexOf(a, "raw"));
    MD_ASSIGN_OR_RETURN(at.max_fee_per_gas, DecOf(a, "max_fee_per_gas"));
    MD_ASSIGN_OR_RETURN(at.max_priority_fee_per_gas, DecOf(a, "max_priority_fee_per_gas"));
    MD_ASSIGN_OR_RETURN(at.sent_at, a.Int("sent_at"));
    MD_RETURN_IF_ERROR(a.Finish());
    rec.attempts.push_back(std::move(at));
  }
  MD_ASSIGN_OR_RETURN(rec.sub.tx_hash, r.String("tx_hash"));
  MD_ASSIGN_OR_RETURN(int64_t block, r.Int("block"));
  rec.sub.block = static_cast<uint64_t>(block);
  MD_ASSIGN_OR_RETURN(const json::Value* outcomes, r.Required("outcomes"));
  for (const json::Value& ov : outcomes->items()) {
    MD_ASSIGN_OR_RETURN(json::ObjectReader o, json::ObjectReader::Of(ov, "/outcomes"));
    TransferOutcome out;
    MD_ASSIGN_OR_RETURN(out.nonce, FixedHexOf<32>(o, "nonce"));
    MD_ASSIGN_OR_RETURN(out.succeeded, o.Bool("succeeded"));
    MD_RETURN_IF_ERROR(o.Finish());
    rec.sub.outcomes.push_back(out);
  }
  MD_ASSIGN_OR_RETURN(rec.sub.error, r.String("error"));
  MD_RETURN_IF_ERROR(r.Finish());
  return rec;
}

Result<EvmRpcChain::Record> RecordFromText(std::string_view text) {
  Result<json::Value> v = json::Parse(text);
  if (!v.ok()) {
    return Corrupt(v.error());
  }
  Result<EvmRpcChain::Record> rec = RecordFromJsonInner(*v);
  if (!rec.ok()) {
    return Corrupt(rec.error());
  }
  return rec;
}

constexpr Uint128 kMaxFee = ~Uint128{0};

// ceil(v * 11 / 10), and at least v + 1: the +10% a replacement needs at least, which nodes also
// require to be a strict increase (a 0 tip becomes 1 wei) (specs/evm.md §5.4). Saturating.
Uint128 Bump(Uint128 v) {
  const Uint128 step = std::max<Uint128>((v / 10) + (v % 10 != 0 ? 1 : 0), 1);
  return v > kMaxFee - step ? kMaxFee : v + step;
}

Uint128 Twice(Uint128 v) { return v > kMaxFee / 2 ? kMaxFee : 2 * v; }

}  // namespace

EvmRpcChain::EvmRpcChain(EvmChainConfig config, std::unique_ptr<JsonRpcTransport> transport,
                         store::KvStore& kv, signer::KeyStore& keys, Clock& clock)
    : config_(std::move(config)),
      transport_(std::move(transport)),
      rpc_(*transport_, config_.rpc_retries),
      kv_(kv),
      keys_(keys),
      clock_(clock) {}

Result<std::unique_ptr<EvmRpcChain>> EvmRpcChain::Create(
    EvmChainConfig config, std::unique_ptr<JsonRpcTransport> transport, store::KvStore& kv,
    signer::KeyStore& keys, Clock& clock) {
  auto chain =
      std::make_unique<EvmRpcChain>(std::move(config), std::move(transport), kv, keys, clock);
  // What the configuration decides stops the start; a node that does not answer now does not
  // (the ledger and every other network keep working): it is asked again at first use.
  MD_ASSIGN_OR_RETURN(signer::KeyInfo key, keys.Get(chain->config_.facilitator_key));
  if (key.type != signer::KeyType::kSecp256k1) {
    return InvalidArgumentError("facilitator key " + key.id + " is not a secp256k1 key",
                                "bad-facilitator-key");
  }
  // The gas account is the key's, whatever the node: published now, so the operator learns
  // where to send gas even from a start whose node did not answer.
  MD_ASSIGN_OR_RETURN(Bytes addr, signer::EthereumAddressBytes(key.public_key));
  std::copy(addr.begin(), addr.end(), chain->published_from_.begin());
  chain->address_published_.store(true, std::memory_order_release);
  Status checked = chain->CheckChainId();
  if (checked.ok()) {
    std::lock_guard<std::mutex> lock(chain->mu_);
    checked = chain->EnsureReadyLocked();
  }
  if (!checked.ok()) {
    // Only what the node says about itself (its chain id) or what is stored stops the start; a
    // node that does not answer, answers with an error (a gateway's "upstream timeout") or with
    // something that is no JSON-RPC answer (an HTML error page) is asked again at first use.
    const std::string& why = checked.reason();
    const bool node_failed = checked.code() == StatusCode::kUnavailable || why == "rpc-error" ||
                             why == "bad-rpc-answer" || why == "execution-reverted";
    if (!node_failed) return checked;
    log::Warn("evm node not usable at start; it is asked again at first use",
              {{"chain_id", static_cast<int64_t>(chain->config_.chain_id)},
               {"error", checked.ToString()}});
  }
  return chain;
}

Status EvmRpcChain::CheckChainId() {
  if (chain_checked_.load(std::memory_order_acquire)) return OkStatus();
  MD_ASSIGN_OR_RETURN(uint64_t id, rpc_.ChainId());
  if (id != config_.chain_id) {
    return FailedPreconditionError(
        "the node is chain " + std::to_string(id) + ", configured " +
            std::to_string(config_.chain_id) + ": nothing is read from or sent to it",
        "chain-id-mismatch");
  }
  chain_checked_.store(true, std::memory_order_release);
  return OkStatus();
}

std::string EvmRpcChain::Key(std::string_view kind, std::string_view id) const {
  return std::to_string(config_.chain_id) + "/" + std::string(kind) + "/" + std::string(id);
}

bool EvmRpcChain::Accepts(const Address& token) const {
  return std::find(config_.tokens.begin(), config_.tokens.end(), token) != config_.tokens.end();
}

Result<Amount> EvmRpcChain::BalanceOf(const Address& token, const Address& owner) {
  MD_RETURN_IF_ERROR(CheckChainId());
  MD_ASSIGN_OR_RETURN(Bytes ret, rpc_.EthCall(token, abi::BalanceOfCall(owner)));
  return abi::DecodeUint256(ret);
}

Result<bool> EvmRpcChain::AuthorizationUsed(const Address& token, const Address& authorizer,
                                            const Nonce32& nonce) {
  MD_RETURN_IF_ERROR(CheckChainId());
  MD_ASSIGN_OR_RETURN(Bytes ret, rpc_.EthCall(token, abi::AuthorizationStateCall(authorizer, nonce)));
  return abi::DecodeBool(ret);
}

Result<TokenDomain> EvmRpcChain::DomainOf(const Address& token) {
  const int64_t now = clock_.NowUnixSeconds();
  {
    std::lock_guard<std::mutex> lock(domains_mu_);
    auto it = domains_.find(token);
    if (it != domains_.end() && now >= it->second.read_at &&
        now - it->second.read_at < kDomainCacheSeconds) {
      return it->second.domain;
    }
  }
  MD_RETURN_IF_ERROR(CheckChainId());
  TokenDomain d;
  MD_ASSIGN_OR_RETURN(Bytes name, rpc_.EthCall(token, abi::NoArgumentCall(abi::kNameSig)));
  MD_ASSIGN_OR_RETURN(d.name, abi::DecodeString(name));
  MD_ASSIGN_OR_RETURN(Bytes version, rpc_.EthCall(token, abi::NoArgumentCall(abi::kVersionSig)));
  MD_ASSIGN_OR_RETURN(d.version, abi::DecodeString(version));
  std::lock_guard<std::mutex> lock(domains_mu_);
  domains_[token] = CachedDomain{d, now};
  return d;
}

std::optional<Address> EvmRpcChain::facilitator_address() {
  // Not mu_: Submit and Track hold it across node calls, and the public /x402/supported asks.
  if (!address_published_.load(std::memory_order_acquire)) {
    return std::nullopt;
  }
  return published_from_;
}

Status EvmRpcChain::EnsureReadyLocked() {
  if (ready_) {
    return OkStatus();
  }
  MD_RETURN_IF_ERROR(CheckChainId());
  MD_ASSIGN_OR_RETURN(signer::KeyInfo key, keys_.Get(config_.facilitator_key));
  if (key.type != signer::KeyType::kSecp256k1) {
    return InvalidArgumentError("facilitator key " + key.id + " is not a secp256k1 key",
                                "bad-facilitator-key");
  }
  MD_ASSIGN_OR_RETURN(Bytes addr, signer::EthereumAddressBytes(key.public_key));
  std::copy(addr.begin(), addr.end(), from_.begin());
  // The next nonce is the larger of the journal's and the node's pending count (§5.2).
  MD_ASSIGN_OR_RETURN(uint64_t pending, rpc_.TransactionCount(from_, "pending"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                      kv_.Get(kChainFamily, Key("next-nonce", AddressLower(from_))));
  uint64_t journaled = 0;
  if (stored.has_value()) {
    Result<Amount> n = Amount::Parse(*stored);
    if (!n.ok() || !n->fits_uint64()) {
      return DataLossError("chain journal: bad next nonce", "storage-corruption");
    }
    journaled = n->low64();
  }
  next_nonce_ = std::max(pending, journaled);
  ready_ = true;
  if (!address_published_.load(std::memory_order_relaxed)) {
    published_from_ = from_;  // written once, before the flag that publishes it
    address_published_.store(true, std::memory_order_release);
  }
  return OkStatus();
}

Result<std::optional<EvmRpcChain::Record>> EvmRpcChain::LoadLocked(const std::string& id) {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> text, kv_.Get(kChainFamily, Key("sub", id)));
  if (!text.has_value()) {
    return std::optional<Record>();
  }
  MD_ASSIGN_OR_RETURN(Record rec, RecordFromText(*text));
  return std::optional<Record>(std::move(rec));
}

Status EvmRpcChain::SaveLocked(const Record& r, bool allocate_nonce) {
  store::WriteBatch batch;
  batch.Put(kChainFamily, Key("sub", r.sub.id), json::Write(RecordToJson(r)));
  if (r.sub.state == SubmissionState::kPending) {
    batch.Put(kChainFamily, Key("open", r.sub.id), "");
  } else {
    batch.Delete(kChainFamily, Key("open", r.sub.id));
  }
  if (allocate_nonce) {
    batch.Put(kChainFamily, Key("next-nonce", AddressLower(from_)),
              std::to_string(r.account_nonce + 1));
  }
  return kv_.Write(batch, store::Durability::kSync);
}

void EvmRpcChain::BroadcastLocked(Record& r, size_t attempt) {
  const Attempt& a = r.attempts[attempt];
  Result<std::string> sent = rpc_.SendRawTransaction(a.raw, a.hash);
  // A failed broadcast changes nothing durable: Track re-broadcasts from the journal (§5.3).
  r.sub.error = sent.ok() ? "" : "broadcast: " + sent.error().message();
}

Result<Submission> EvmRpcChain::Submit(const std::string& id,
                                       const std::vector<SignedTransfer>& transfers) {
  std::lock_guard<std::mutex> lock(mu_);
  MD_ASSIGN_OR_RETURN(std::optional<Record> existing, LoadLocked(id));
  if (existing.has_value()) {
    return existing->sub;  // (c): a known id never builds a second transaction
  }
  if (transfers.empty()) {
    return InvalidArgumentError("nothing to submit", "no-transfers");
  }
  if (transfers.size() > kMaxTransfersPerSubmission) {
    return InvalidArgumentError(std::to_string(transfers.size()) +
                                    " transfers in one submission; at most " +
                                    std::to_string(kMaxTransfersPerSubmission),
                                "batch-too-large");
  }
  const Address token = transfers.front().token;
  for (const SignedTransfer& t : transfers) {
    if (!Accepts(t.token)) {
      return InvalidArgumentError("token " + AddressText(t.token) + " is not settled on chain " +
                                      std::to_string(config_.chain_id),
                                  "token-not-accepted");
    }
  }
  Record rec;
  rec.sub.id = id;
  rec.transfers = transfers;
  rec.created_at = clock_.NowUnixSeconds();
  if (transfers.size() == 1) {
    rec.to = token;
    MD_ASSIGN_OR_RETURN(rec.data, abi::TransferWithAuthorizationCall(transfers.front()));
  } else {
    if (!config_.batch_settler.has_value()) {
      return InvalidArgumentError("batching needs a batch settler contract", "batching-disabled");
    }
    rec.to = *config_.batch_settler;
    MD_ASSIGN_OR_RETURN(rec.data, abi::SettleBatchCall(token, transfers));
  }
  MD_RETURN_IF_ERROR(EnsureReadyLocked());

  Result<uint64_t> gas = rpc_.EstimateGas(from_, rec.to, rec.data);
  if (!gas.ok()) {
    if (gas.error().reason() != "execution-reverted") {
      return gas.error();  // nothing journaled: the caller may try again
    }
    // It would revert: recorded as failed without spending a nonce or gas (§5.3).
    rec.sub.state = SubmissionState::kFailed;
    rec.sub.error = gas.error().message();
    for (const SignedTransfer& t : transfers) {
      rec.sub.outcomes.push_back(TransferOutcome{t.authorization.nonce, false});
    }
    MD_RETURN_IF_ERROR(SaveLocked(rec, false));
    return rec.sub;
  }
  // 20% headroom over the estimate, plus a fixed margin for small calls.
  rec.gas_limit = *gas + *gas / 5 + 10000;
  MD_ASSIGN_OR_RETURN(FeeData fees, rpc_.Fees());

  rec.account_nonce = next_nonce_;
  rec.from = from_;
  rec.key_id = config_.facilitator_key;
  Eip1559Tx tx;
  tx.chain_id = config_.chain_id;
  tx.nonce = rec.account_nonce;
  tx.max_priority_fee_per_gas = fees.max_priority_fee_per_gas;
  tx.max_fee_per_gas = fees.max_fee_per_gas;
  tx.gas_limit = rec.gas_limit;
  tx.to = rec.to;
  tx.data = rec.data;
  MD_ASSIGN_OR_RETURN(SignedTx signed_tx, SignEip1559(tx, keys_, config_.facilitator_key));
  Attempt a;
  a.hash = signed_tx.HashText();
  a.raw = std::move(signed_tx.raw);
  a.max_fee_per_gas = fees.max_fee_per_gas;
  a.max_priority_fee_per_gas = fees.max_priority_fee_per_gas;
  a.sent_at = clock_.NowUnixSeconds();
  rec.attempts.push_back(std::move(a));
  rec.sub.tx_hash = rec.attempts.back().hash;
  // (a): the nonce and the signed transaction are durable before anything is broadcast.
  MD_RETURN_IF_ERROR(SaveLocked(rec, true));
  next_nonce_ = rec.account_nonce + 1;
  BroadcastLocked(rec, 0);
  return rec.sub;
}

void EvmRpcChain::FinalizeLocked(Record& r, const Receipt& receipt) {
  r.sub.outcomes.clear();
  size_t failed = 0;
  if (r.transfers.size() == 1 || !receipt.status) {
    for (const SignedTransfer& t : r.transfers) {
      r.sub.outcomes.push_back(TransferOutcome{t.authorization.nonce, receipt.status});
      failed += receipt.status ? 0 : 1;
    }
  } else {
    // One TransferSettled(token, nonce, ok) per item, in item order (§2.4).
    std::vector<bool> seen(receipt.logs.size(), false);
    for (const SignedTransfer& t : r.transfers) {
      bool ok = false;
      for (size_t i = 0; i < receipt.logs.size(); ++i) {
        // The settler this batch was sent to, as journaled: the configured one may have
        // changed since (a restart with another batch_settler).
        if (seen[i] || receipt.logs[i].address != r.to) {
          continue;
        }
        Result<abi::TransferSettled> ev = abi::DecodeTransferSettled(receipt.logs[i]);
        if (ev.ok() && ev->token == t.token && ev->nonce == t.authorization.nonce) {
          seen[i] = true;
          ok = ev->ok;
          break;
        }
      }
      r.sub.outcomes.push_back(TransferOutcome{t.authorization.nonce, ok});
      failed += ok ? 0 : 1;
    }
  }
  if (!receipt.status) {
    r.sub.state = SubmissionState::kReverted;
    r.sub.error = "transaction reverted";
  } else if (failed > 0) {
    r.sub.state = SubmissionState::kReverted;
    r.sub.error = std::to_string(failed) + " of " + std::to_string(r.transfers.size()) +
                  " transfers failed";
  } else {
    r.sub.state = SubmissionState::kConfirmed;
    r.sub.error.clear();
  }
}

Status EvmRpcChain::ReplaceLocked(Record& r, const FeeData& fees) {
  const Attempt& last = r.attempts.back();
  Eip1559Tx tx;
  tx.chain_id = config_.chain_id;
  tx.nonce = r.account_nonce;
  tx.max_priority_fee_per_gas =
      std::max(Bump(last.max_priority_fee_per_gas), fees.max_priority_fee_per_gas);
  tx.max_fee_per_gas = std::max({Bump(last.max_fee_per_gas), fees.max_fee_per_gas,
                                 tx.max_priority_fee_per_gas});
  tx.gas_limit = r.gas_limit;
  tx.to = r.to;
  tx.data = r.data;
  // Signed by the key of the account that holds the nonce, also after another facilitator_key
  // was configured: a copy from another account would sit in a gap of that account's nonces.
  MD_ASSIGN_OR_RETURN(SignedTx signed_tx,
                      SignEip1559(tx, keys_, r.key_id.empty() ? config_.facilitator_key : r.key_id));
  Attempt a;
  a.hash = signed_tx.HashText();
  a.raw = std::move(signed_tx.raw);
  a.max_fee_per_gas = tx.max_fee_per_gas;
  a.max_priority_fee_per_gas = tx.max_priority_fee_per_gas;
  a.sent_at = clock_.NowUnixSeconds();
  r.attempts.push_back(std::move(a));
  r.sub.tx_hash = r.attempts.back().hash;
  // Every copy is journaled before it is broadcast: a receipt for any of them settles (§5.4).
  MD_RETURN_IF_ERROR(SaveLocked(r, false));
  BroadcastLocked(r, r.attempts.size() - 1);
  return OkStatus();
}

Result<Submission> EvmRpcChain::Track(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  MD_ASSIGN_OR_RETURN(std::optional<Record> loaded, LoadLocked(id));
  if (!loaded.has_value()) {
    return NotFoundError("no submission " + id + " on chain " + std::to_string(config_.chain_id),
                         "submission-not-found");
  }
  Record& rec = *loaded;
  if (rec.sub.state != SubmissionState::kPending || rec.attempts.empty()) {
    return rec.sub;
  }
  MD_RETURN_IF_ERROR(EnsureReadyLocked());

  // (d)/(e): a receipt for any copy settles it; the newest is the likeliest.
  std::optional<Receipt> mined;
  for (auto it = rec.attempts.rbegin(); it != rec.attempts.rend() && !mined; ++it) {
    MD_ASSIGN_OR_RETURN(mined, rpc_.TransactionReceipt(it->hash));
  }
  if (mined.has_value()) {
    MD_ASSIGN_OR_RETURN(uint64_t head, rpc_.BlockNumber());
    const bool changed = rec.sub.tx_hash != mined->tx_hash || rec.sub.block != mined->block_number;
    rec.sub.tx_hash = mined->tx_hash;
    rec.sub.block = mined->block_number;
    const uint64_t depth = head >= mined->block_number ? head - mined->block_number + 1 : 0;
    if (depth >= std::max<uint32_t>(1, config_.confirmations)) {
      FinalizeLocked(rec, *mined);
      MD_RETURN_IF_ERROR(SaveLocked(rec, false));
    } else if (changed) {
      MD_RETURN_IF_ERROR(SaveLocked(rec, false));
    }
    return rec.sub;
  }
  if (rec.sub.block != 0) {
    // Mined before, not now: the block was reorganized away. Back to waiting (§5.3).
    rec.sub.block = 0;
    MD_RETURN_IF_ERROR(SaveLocked(rec, false));
  }

  // Not mined. If our nonce is already used, a copy is being mined or indexed: wait. The nonce
  // is the submission's account's, which is another than from_ once another facilitator_key
  // was configured (specs/evm.md §5.4).
  MD_ASSIGN_OR_RETURN(uint64_t mined_count,
                      rpc_.TransactionCount(rec.from.value_or(from_), "latest"));
  if (mined_count > rec.account_nonce) {
    rec.sub.error = "account nonce " + std::to_string(rec.account_nonce) +
                    " used but no receipt for this submission's transactions yet";
    return rec.sub;
  }
  const Attempt& last = rec.attempts.back();
  const bool old_enough = clock_.NowUnixSeconds() - last.sent_at >= config_.replace_after_s;
  MD_ASSIGN_OR_RETURN(bool known, rpc_.TransactionKnown(last.hash));
  if (!known) {
    // Not in the node's pool (dropped, refused or never sent): the same bytes again (§5.4).
    BroadcastLocked(rec, rec.attempts.size() - 1);
    if (rec.sub.error.empty() || !old_enough) return rec.sub;
    // Refused again: a new copy only if the market asks more than this one offers (a copy
    // refused for another reason, such as the gas account's funds, would only cost more).
    MD_ASSIGN_OR_RETURN(FeeData fees, rpc_.Fees());
    if (fees.max_priority_fee_per_gas > last.max_priority_fee_per_gas ||
        fees.max_fee_per_gas > last.max_fee_per_gas) {
      MD_RETURN_IF_ERROR(ReplaceLocked(rec, fees));
    }
    return rec.sub;
  }
  if (mined_count < rec.account_nonce) {
    // An earlier nonce of this account is not mined yet: this copy waits for it, not for fees.
    rec.sub.error = "waiting behind account nonce " + std::to_string(mined_count);
    return rec.sub;
  }
  if (!old_enough) return rec.sub;
  // In the pool, next to be mined and stuck for long: higher fees, while they stay within twice
  // what the market asks now, so a stall that fees do not cause cannot raise them without end.
  MD_ASSIGN_OR_RETURN(FeeData fees, rpc_.Fees());
  if (last.max_fee_per_gas >= Twice(fees.max_fee_per_gas) &&
      last.max_priority_fee_per_gas >= Twice(fees.max_priority_fee_per_gas)) {
    rec.sub.error = "pending at more than twice the current fees; not raised further";
    return rec.sub;
  }
  MD_RETURN_IF_ERROR(ReplaceLocked(rec, fees));
  return rec.sub;
}

Result<std::vector<std::string>> EvmRpcChain::Unfinished() {
  std::vector<std::string> ids;
  const std::string prefix = Key("open", "");
  MD_RETURN_IF_ERROR(kv_.ScanPrefix(kChainFamily, prefix,
                                    [&](std::string_view key, std::string_view) {
                                      ids.emplace_back(key.substr(prefix.size()));
                                      return true;
                                    }));
  return ids;
}

}  // namespace mandated::settlement
