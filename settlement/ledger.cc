// Ledger (specs/ledger.md): balances, transfers and per-account history in the `ledger` family,
// applied in one durable batch with their audit events; balances cached in memory per
// (account, asset) and changed only under that balance's lock.
#include "settlement/ledger.h"

#include <cstdio>
#include <utility>

#include "audit/event.h"
#include "base/asset.h"
#include "base/bytes.h"

namespace mandated::settlement {
namespace {

constexpr size_t kMaxIdLength = 128;
constexpr size_t kMaxReferenceLength = 256;
constexpr char kTransferPrefix[] = "t/";
constexpr char kBalancePrefix[] = "b/";
constexpr char kHistoryPrefix[] = "h/";
constexpr size_t kSeqDigits = 20;  // every uint64 fits

bool IdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool IsIdText(std::string_view s) {
  if (s.empty() || s.size() > kMaxIdLength) {
    return false;
  }
  for (char c : s) {
    if (!IdChar(c)) {
      return false;
    }
  }
  return true;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

// Decimal digits without a leading zero, 1-20 of them (an EIP-155 chain id).
bool IsChainNumber(std::string_view s) {
  if (s.empty() || s.size() > 20 || s[0] == '0') {
    return false;
  }
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

Status BadTransfer(std::string message) {
  return InvalidArgumentError(std::move(message), "bad-transfer");
}

Status Corrupt(std::string_view what, const Status& s) {
  return DataLossError("ledger " + std::string(what) + ": " + s.message(), "storage-corruption");
}

std::string StateKey(std::string_view account, std::string_view asset) {
  std::string k;
  k.append(account).append("/").append(asset);
  return k;
}

std::string Seq(uint64_t n) {
  char buf[kSeqDigits + 1];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(n));
  return std::string(buf, kSeqDigits);
}

std::string HistoryPrefix(std::string_view account, std::string_view asset) {
  return std::string(kHistoryPrefix) + StateKey(account, asset) + "/";
}

// The stored balance record: {"credits","debits","transfers"}.
std::string EncodeBalance(Amount credits, Amount debits, uint64_t transfers) {
  json::Value v = json::Value::Object();
  v.Set("credits", json::Value::String(credits.ToString()));
  v.Set("debits", json::Value::String(debits.ToString()));
  v.Set("transfers", json::Value::Uint(transfers));
  return json::Write(v);
}

struct BalanceRecord {
  Amount credits;
  Amount debits;
  uint64_t transfers = 0;
};

Result<BalanceRecord> DecodeBalance(std::string_view text) {
  Result<json::Value> v = json::Parse(text);
  if (!v.ok()) {
    return Corrupt("balance", v.error());
  }
  Result<json::ObjectReader> r = json::ObjectReader::Of(*v);
  if (!r.ok()) {
    return Corrupt("balance", r.error());
  }
  Result<Amount> credits = r->AmountField("credits");
  Result<Amount> debits = r->AmountField("debits");
  Result<int64_t> transfers = r->Int("transfers");
  for (const Status& s : {credits.status(), debits.status(), transfers.status(), r->Finish()}) {
    if (!s.ok()) {
      return Corrupt("balance", s);
    }
  }
  if (*transfers < 0) {
    return Corrupt("balance", InvalidArgumentError("negative transfer count"));
  }
  return BalanceRecord{*credits, *debits, static_cast<uint64_t>(*transfers)};
}

Balance MakeBalance(std::string account, std::string asset, Amount credits, Amount debits,
                    uint64_t transfers) {
  Balance b;
  b.account = std::move(account);
  b.asset = std::move(asset);
  b.credits = credits;
  b.debits = debits;
  b.transfers = transfers;
  b.negative = credits < debits;
  b.magnitude = Amount::FromRaw(b.negative ? debits.raw() - credits.raw()
                                           : credits.raw() - debits.raw());
  return b;
}

// The stored transfer record: {"transfer":{...},"debit_seq":n,"credit_seq":n}; the sequence
// numbers place it in each side's history (pagination by transfer id).
struct TransferRecord {
  Transfer transfer;
  uint64_t debit_seq = 0;
  uint64_t credit_seq = 0;
};

std::string EncodeTransferRecord(const std::string& transfer_json, uint64_t debit_seq,
                                 uint64_t credit_seq) {
  std::string out = "{\"transfer\":";
  out.append(transfer_json);
  out.append(",\"debit_seq\":").append(std::to_string(debit_seq));
  out.append(",\"credit_seq\":").append(std::to_string(credit_seq));
  out.append("}");
  return out;
}

Result<TransferRecord> DecodeTransferRecord(std::string_view text) {
  Result<json::Value> v = json::Parse(text);
  if (!v.ok()) {
    return Corrupt("transfer", v.error());
  }
  Result<json::ObjectReader> r = json::ObjectReader::Of(*v);
  if (!r.ok()) {
    return Corrupt("transfer", r.error());
  }
  Result<const json::Value*> t = r->Required("transfer");
  Result<int64_t> debit_seq = r->Int("debit_seq");
  Result<int64_t> credit_seq = r->Int("credit_seq");
  for (const Status& s : {t.status(), debit_seq.status(), credit_seq.status(), r->Finish()}) {
    if (!s.ok()) {
      return Corrupt("transfer", s);
    }
  }
  Result<Transfer> transfer = TransferFromJson(**t);
  if (!transfer.ok()) {
    return Corrupt("transfer", transfer.error());
  }
  if (*debit_seq <= 0 || *credit_seq <= 0) {
    return Corrupt("transfer", InvalidArgumentError("sequence numbers start at 1"));
  }
  return TransferRecord{std::move(*transfer), static_cast<uint64_t>(*debit_seq),
                        static_cast<uint64_t>(*credit_seq)};
}

bool KnownKind(std::string_view kind) {
  return kind == "deposit" || kind == "payment" || kind == "withdrawal" || kind == "adjustment";
}

// Checks one transfer's fields (not its id's freshness nor balances). `at` is "transfers[i]".
Status CheckTransfer(const Transfer& t, const std::string& at) {
  if (!IsIdText(t.id)) {
    return BadTransfer(at + ": id must be 1-128 of [A-Za-z0-9._-]");
  }
  MD_RETURN_IF_ERROR(ValidateAccountId(t.debit).Annotate(at + "/debit"));
  MD_RETURN_IF_ERROR(ValidateAccountId(t.credit).Annotate(at + "/credit"));
  if (t.debit == t.credit) {
    return BadTransfer(at + ": debit and credit name the same account " + t.debit);
  }
  MD_RETURN_IF_ERROR(ValidateAssetId(t.asset).Annotate(at + "/asset"));
  if (t.amount.is_zero()) {
    return InvalidArgumentError(at + "/amount: a transfer moves more than 0", "bad-amount");
  }
  if (!KnownKind(t.kind)) {
    return BadTransfer(at + "/kind: one of deposit, payment, withdrawal, adjustment");
  }
  if (t.reference.size() > kMaxReferenceLength) {
    return BadTransfer(at + "/reference: at most 256 bytes");
  }
  for (char c : t.reference) {
    if (c < 0x20 || c > 0x7e) {
      return BadTransfer(at + "/reference: printable ASCII only");
    }
  }
  if (!t.principal.empty() && !IsIdText(t.principal)) {
    return BadTransfer(at + "/principal: not a principal id");
  }
  if (t.at < 0) {
    return BadTransfer(at + "/at: negative time");
  }
  return OkStatus();
}

}  // namespace

// ---- Accounts ----

Status ValidateAccountId(std::string_view account) {
  auto bad = [&] {
    return InvalidArgumentError(
        "account \"" + std::string(account.substr(0, 200)) +
            "\" is not eip155:<chain>:0x<40 lower-case hex>, principal:<id>, agent:<id>, "
            "merchant:<id> or external:<name>",
        "bad-account");
  };
  const size_t colon = account.find(':');
  if (colon == std::string_view::npos) {
    return bad();
  }
  const std::string_view scheme = account.substr(0, colon);
  const std::string_view rest = account.substr(colon + 1);
  if (scheme == "eip155") {
    const size_t second = rest.find(':');
    if (second == std::string_view::npos || !IsChainNumber(rest.substr(0, second))) {
      return bad();
    }
    const std::string_view address = rest.substr(second + 1);
    if (address.size() != 42 || address.substr(0, 2) != "0x" || !IsLowerHex(address.substr(2))) {
      return bad();
    }
    return OkStatus();
  }
  if (scheme == "principal" || scheme == "agent" || scheme == "merchant" || scheme == "external") {
    return IsIdText(rest) ? OkStatus() : bad();
  }
  return bad();
}

bool AllowsNegative(std::string_view account) { return account.rfind("external:", 0) == 0; }

// ---- Values ----

json::Value TransferToJson(const Transfer& t) {
  json::Value v = json::Value::Object();
  v.Set("id", json::Value::String(t.id));
  v.Set("debit", json::Value::String(t.debit));
  v.Set("credit", json::Value::String(t.credit));
  v.Set("asset", json::Value::String(t.asset));
  v.Set("amount", json::Value::String(t.amount.ToString()));
  v.Set("kind", json::Value::String(t.kind));
  v.Set("reference", json::Value::String(t.reference));
  v.Set("principal", json::Value::String(t.principal));
  v.Set("at", json::Value::Int(t.at));
  return v;
}

Result<Transfer> TransferFromJson(const json::Value& v) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v));
  Transfer t;
  MD_ASSIGN_OR_RETURN(t.id, r.String("id"));
  MD_ASSIGN_OR_RETURN(t.debit, r.String("debit"));
  MD_ASSIGN_OR_RETURN(t.credit, r.String("credit"));
  MD_ASSIGN_OR_RETURN(t.asset, r.String("asset"));
  MD_ASSIGN_OR_RETURN(t.amount, r.AmountField("amount"));
  MD_ASSIGN_OR_RETURN(t.kind, r.String("kind"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> reference, r.OptionalString("reference"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> principal, r.OptionalString("principal"));
  MD_ASSIGN_OR_RETURN(t.at, r.Int("at"));
  MD_RETURN_IF_ERROR(r.Finish());
  t.reference = reference.value_or("");
  t.principal = principal.value_or("");
  MD_RETURN_IF_ERROR(CheckTransfer(t, ""));
  return t;
}

std::string Balance::Text() const {
  return (negative ? "-" : "") + magnitude.ToString();
}

json::Value BalanceToJson(const Balance& b) {
  json::Value v = json::Value::Object();
  v.Set("account", json::Value::String(b.account));
  v.Set("asset", json::Value::String(b.asset));
  v.Set("balance", json::Value::String(b.Text()));
  v.Set("credits", json::Value::String(b.credits.ToString()));
  v.Set("debits", json::Value::String(b.debits.ToString()));
  v.Set("transfers", json::Value::Uint(b.transfers));
  return v;
}

// ---- Ledger ----

// One (account, asset) balance. `mu` guards the rest; `loaded` is false until the stored record
// was read (and again after a failed write, so the next use rereads what the store holds).
struct Ledger::AccountState {
  std::mutex mu;
  bool loaded = false;
  Amount credits;
  Amount debits;
  uint64_t transfers = 0;
};

namespace {

// Reads the stored balance into `s`. REQUIRES: s.mu held.
template <typename State>
Status LoadState(store::KvStore& kv, const std::string& key, State& s) {
  if (s.loaded) {
    return OkStatus();
  }
  MD_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                      kv.Get(kLedgerFamily, std::string(kBalancePrefix) + key));
  BalanceRecord rec;
  if (stored.has_value()) {
    MD_ASSIGN_OR_RETURN(rec, DecodeBalance(*stored));
  }
  s.credits = rec.credits;
  s.debits = rec.debits;
  s.transfers = rec.transfers;
  s.loaded = true;
  return OkStatus();
}

}  // namespace

Ledger::Ledger(store::KvStore& kv, Clock& clock, Random& random)
    : kv_(kv), clock_(clock), random_(random) {}

Ledger::~Ledger() = default;

Result<Ledger::AccountState*> Ledger::StateLocked(const std::string& key) {
  std::unique_ptr<AccountState>& slot = states_[key];
  if (slot == nullptr) {
    slot = std::make_unique<AccountState>();
  }
  return slot.get();
}

Result<std::vector<Transfer>> Ledger::Apply(std::vector<Transfer> transfers,
                                            store::WriteBatch batch) {
  return Apply(std::move(transfers), std::move(batch), BeforeWrite());
}

Result<std::vector<Transfer>> Ledger::Apply(std::vector<Transfer> transfers,
                                            store::WriteBatch batch,
                                            const BeforeWrite& before_write) {
  if (transfers.empty()) {
    return BadTransfer("no transfers to apply");
  }
  // 1. Fields, ids and times; nothing is locked yet.
  const int64_t now = clock_.NowUnixSeconds();
  std::set<std::string> ids;
  std::set<std::string> keys;  // "<account>/<asset>": the lock order
  for (size_t i = 0; i < transfers.size(); ++i) {
    Transfer& t = transfers[i];
    if (t.id.empty()) {
      MD_ASSIGN_OR_RETURN(Bytes raw, random_.Generate(16));
      t.id = "xfr_" + HexEncode(raw);
    }
    if (t.at == 0) {
      t.at = now;
    }
    const std::string at = "transfers[" + std::to_string(i) + "]";
    MD_RETURN_IF_ERROR(CheckTransfer(t, at));
    // One spelling per asset (base/asset.h): a checksummed token address is the balance the
    // facilitator debits, not a second asset (specs/ledger.md §1).
    t.asset = CanonicalAssetId(t.asset);
    if (!ids.insert(t.id).second) {
      return AlreadyExistsError(at + ": transfer id " + t.id + " is used twice in this call",
                                "transfer-exists");
    }
    keys.insert(StateKey(t.debit, t.asset));
    keys.insert(StateKey(t.credit, t.asset));
  }

  // 2. Claim the ids (no other Apply writes them meanwhile) and find the states.
  std::vector<AccountState*> states;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& id : ids) {
      if (pending_ids_.count(id) != 0) {
        return AbortedError("transfer " + id + " is being written by another request; retry",
                            "transfer-in-flight");
      }
    }
    pending_ids_.insert(ids.begin(), ids.end());
    for (const std::string& key : keys) {
      MD_ASSIGN_OR_RETURN(AccountState * s, StateLocked(key));
      states.push_back(s);
    }
  }
  struct Unclaim {
    Ledger* ledger;
    const std::set<std::string>* ids;
    ~Unclaim() {
      std::lock_guard<std::mutex> lock(ledger->mu_);
      for (const std::string& id : *ids) {
        ledger->pending_ids_.erase(id);
      }
    }
  } unclaim{this, &ids};

  // 3. Lock the balances in key order (every Apply does), so transfers never deadlock.
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(states.size());
  for (AccountState* s : states) {
    locks.emplace_back(s->mu);
  }

  // 4. Checks against the store and the balances; nothing is written on any error.
  for (const std::string& id : ids) {
    MD_ASSIGN_OR_RETURN(std::optional<std::string> existing,
                        kv_.Get(kLedgerFamily, std::string(kTransferPrefix) + id));
    if (existing.has_value()) {
      return AlreadyExistsError("transfer " + id + " already exists", "transfer-exists");
    }
  }
  struct Work {
    AccountState* state;
    Amount credits;
    Amount debits;
    uint64_t transfers;
  };
  std::map<std::string, Work> work;
  {
    size_t i = 0;
    for (const std::string& key : keys) {
      AccountState* s = states[i++];
      MD_RETURN_IF_ERROR(LoadState(kv_, key, *s));
      work.emplace(key, Work{s, s->credits, s->debits, s->transfers});
    }
  }
  std::vector<std::pair<uint64_t, uint64_t>> seqs;  // (debit, credit) history positions
  for (size_t i = 0; i < transfers.size(); ++i) {
    const Transfer& t = transfers[i];
    Work& d = work.at(StateKey(t.debit, t.asset));
    Work& c = work.at(StateKey(t.credit, t.asset));
    Result<Amount> debits = d.debits.Add(t.amount);
    if (!debits.ok()) {
      return debits.error().Annotate("transfers[" + std::to_string(i) + "] debits of " + t.debit);
    }
    if (!AllowsNegative(t.debit) && d.credits < *debits) {
      const Balance held = MakeBalance(t.debit, t.asset, d.credits, d.debits, d.transfers);
      return FailedPreconditionError("account " + t.debit + " holds " + held.Text() + " " +
                                         t.asset + ", less than the " + t.amount.ToString() +
                                         " to move",
                                     "insufficient-funds");
    }
    Result<Amount> credits = c.credits.Add(t.amount);
    if (!credits.ok()) {
      return credits.error().Annotate("transfers[" + std::to_string(i) + "] credits of " +
                                      t.credit);
    }
    d.debits = *debits;
    c.credits = *credits;
    seqs.emplace_back(++d.transfers, ++c.transfers);
  }

  // 5. One batch: the caller's writes, the ledger's, one audit event per transfer.
  const int64_t now_micros = clock_.NowUnixMicros();
  for (size_t i = 0; i < transfers.size(); ++i) {
    const Transfer& t = transfers[i];
    const std::string transfer_json = json::Write(TransferToJson(t));
    batch.Put(kLedgerFamily, std::string(kTransferPrefix) + t.id,
              EncodeTransferRecord(transfer_json, seqs[i].first, seqs[i].second));
    batch.Put(kLedgerFamily, HistoryPrefix(t.debit, t.asset) + Seq(seqs[i].first), t.id);
    batch.Put(kLedgerFamily, HistoryPrefix(t.credit, t.asset) + Seq(seqs[i].second), t.id);
    audit::Event e;
    e.type = "ledger.transferred";
    e.principal = t.principal;
    e.Subject("transfer", t.id).Subject("debit_account", t.debit).Subject("credit_account", t.credit);
    e.data_json = transfer_json;
    e.at_micros = now_micros;
    audit::Stage(batch, e);
  }
  std::vector<Balance> after;
  after.reserve(work.size());
  for (const auto& [key, w] : work) {
    batch.Put(kLedgerFamily, std::string(kBalancePrefix) + key,
              EncodeBalance(w.credits, w.debits, w.transfers));
    const size_t slash = key.find('/');  // account ids hold no '/'
    after.push_back(
        MakeBalance(key.substr(0, slash), key.substr(slash + 1), w.credits, w.debits, w.transfers));
  }
  if (before_write) {
    before_write(transfers, after, batch);
  }
  if (Status s = kv_.Write(batch, store::Durability::kSync); !s.ok()) {
    // Memory keeps the old balances, marked for a reread: if the store did keep the batch after
    // all (an error after the WAL write), the next use sees what it holds.
    for (auto& [key, w] : work) {
      w.state->loaded = false;
    }
    return s;
  }

  // 6. Memory follows the store.
  for (auto& [key, w] : work) {
    w.state->credits = w.credits;
    w.state->debits = w.debits;
    w.state->transfers = w.transfers;
  }
  return transfers;
}

Result<Balance> Ledger::GetBalance(std::string_view account, std::string_view asset_in) {
  MD_RETURN_IF_ERROR(ValidateAccountId(account));
  MD_RETURN_IF_ERROR(ValidateAssetId(asset_in));
  const std::string asset = CanonicalAssetId(asset_in);
  const std::string key = StateKey(account, asset);
  AccountState* s = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = states_.find(key);
    if (it != states_.end()) s = it->second.get();
  }
  if (s == nullptr) {
    // Not held in memory: read the store without adding an entry, so that reads of balances
    // that were never moved (a verify names any payer and asset) cannot grow the map. A
    // concurrent first Apply is seen before or after its write, as with a held entry.
    struct {
      bool loaded = false;
      Amount credits;
      Amount debits;
      uint64_t transfers = 0;
    } read;
    MD_RETURN_IF_ERROR(LoadState(kv_, key, read));
    return MakeBalance(std::string(account), std::string(asset), read.credits, read.debits,
                       read.transfers);
  }
  std::lock_guard<std::mutex> lock(s->mu);
  MD_RETURN_IF_ERROR(LoadState(kv_, key, *s));
  return MakeBalance(std::string(account), std::string(asset), s->credits, s->debits,
                     s->transfers);
}

size_t Ledger::held_balances() {
  std::lock_guard<std::mutex> lock(mu_);
  return states_.size();
}

Result<std::vector<Balance>> Ledger::Balances(std::string_view account) {
  MD_RETURN_IF_ERROR(ValidateAccountId(account));
  const std::string prefix = std::string(kBalancePrefix) + std::string(account) + "/";
  std::vector<Balance> out;
  Status inner;
  MD_RETURN_IF_ERROR(kv_.ScanPrefix(kLedgerFamily, prefix, [&](std::string_view key,
                                                               std::string_view value) {
    Result<BalanceRecord> rec = DecodeBalance(value);
    if (!rec.ok()) {
      inner = rec.error();
      return false;
    }
    out.push_back(MakeBalance(std::string(account), std::string(key.substr(prefix.size())),
                              rec->credits, rec->debits, rec->transfers));
    return true;
  }));
  MD_RETURN_IF_ERROR(inner);
  return out;
}

Result<Transfer> Ledger::GetTransfer(std::string_view id) {
  if (!IsIdText(id)) {
    return NotFoundError("no transfer " + std::string(id.substr(0, 200)), "transfer-not-found");
  }
  MD_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                      kv_.Get(kLedgerFamily, std::string(kTransferPrefix) + std::string(id)));
  if (!stored.has_value()) {
    return NotFoundError("no transfer " + std::string(id), "transfer-not-found");
  }
  MD_ASSIGN_OR_RETURN(TransferRecord rec, DecodeTransferRecord(*stored));
  return std::move(rec.transfer);
}

Result<std::vector<Transfer>> Ledger::History(std::string_view account,
                                              std::string_view asset_in, std::string_view after,
                                              size_t limit) {
  MD_RETURN_IF_ERROR(ValidateAccountId(account));
  MD_RETURN_IF_ERROR(ValidateAssetId(asset_in));
  const std::string asset = CanonicalAssetId(asset_in);
  std::vector<Transfer> out;
  if (limit == 0) {
    return out;
  }
  const std::string prefix = HistoryPrefix(account, asset);
  uint64_t start = 1;
  if (!after.empty()) {
    std::optional<std::string> stored;
    if (IsIdText(after)) {
      MD_ASSIGN_OR_RETURN(stored,
                          kv_.Get(kLedgerFamily, std::string(kTransferPrefix) + std::string(after)));
    }
    // One answer for a transfer that does not exist and one in another history (another
    // tenant's), so a cursor cannot probe for transfers (specs/ledger.md §6).
    const Status not_here = NotFoundError(
        "transfer " + std::string(after.substr(0, 200)) + " is not in this history",
        "transfer-not-found");
    if (!stored.has_value()) return not_here;
    MD_ASSIGN_OR_RETURN(TransferRecord rec, DecodeTransferRecord(*stored));
    if (rec.transfer.asset != asset) return not_here;
    if (rec.transfer.debit == account) {
      start = rec.debit_seq + 1;
    } else if (rec.transfer.credit == account) {
      start = rec.credit_seq + 1;
    } else {
      return not_here;
    }
  }
  // '/' + 1 == '0': the end of every key under `prefix`.
  std::string end = prefix;
  end.back() = '0';
  std::vector<std::string> ids;
  MD_RETURN_IF_ERROR(kv_.ScanRange(kLedgerFamily, prefix + Seq(start), end,
                                   [&](std::string_view key, std::string_view value) {
    // Another asset's keys can share the prefix only with more after it (an asset id that
    // extends this one): the position is exactly kSeqDigits digits.
    if (key.size() == prefix.size() + kSeqDigits) {
      ids.emplace_back(value);
    }
    return ids.size() < limit;
  }));
  for (const std::string& id : ids) {
    MD_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                        kv_.Get(kLedgerFamily, std::string(kTransferPrefix) + id));
    if (!stored.has_value()) {
      return DataLossError("ledger history names a missing transfer " + id, "storage-corruption");
    }
    MD_ASSIGN_OR_RETURN(TransferRecord rec, DecodeTransferRecord(*stored));
    out.push_back(std::move(rec.transfer));
  }
  return out;
}

}  // namespace mandated::settlement
