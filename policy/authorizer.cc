// Authorizer: decisions, holds, capture, void, leases and approvals (specs/authorization.md).
#include "policy/authorizer.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "audit/event.h"
#include "base/asset.h"
#include "base/bytes.h"
#include "base/log.h"
#include "mandates/online.h"
#include "mandates/verifier.h"
#include "policy/windows.h"
#include "signer/hash.h"
#include "signer/jws.h"

namespace mandated::policy {
namespace {

constexpr std::string_view kAtzKind = "atz";
constexpr std::string_view kAtzByMandateKind = "atz-mandate";
constexpr std::string_view kAtzByAgentKind = "atz-agent";
constexpr std::string_view kOutsideKind = "atz-outside";
constexpr std::string_view kAprKind = "apr";
constexpr std::string_view kAprOpenKind = "apr-open";
constexpr std::string_view kReceiptTyp = "authz+jwt";
constexpr int64_t kEvidenceMaxLifetime = 300;
constexpr int64_t kEvidenceSkew = 60;

std::string Sha256Hex(std::string_view s) {
  return HexEncode(signer::Sha256(
      ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size())));
}

// The asset in its one spelling (base/asset.h: an eip155 id in lower case), so a checksummed
// and a lower-case spelling of one token are one series.
std::string SeriesKey(std::string_view owner, std::string_view asset) {
  std::string k(owner);
  k += '|';
  k += CanonicalAssetId(asset);
  return k;
}

// One token whatever the case of its address (base/asset.h): a limit or ceiling written in the
// checksummed spelling bounds a payment in lower case, and the other way round.
bool SameAsset(std::string_view a, std::string_view b) {
  return a == b || CanonicalAssetId(a) == CanonicalAssetId(b);
}

Amount FromRaw(Uint128 v) { return Amount::FromRaw(v); }

// Every stored record of `kind` of a principal in id order, parsed by `from_json` and given to
// `visit`; kDataLoss "corrupt-record" naming the first that does not parse (a `what`).
template <typename T, typename Visit>
Status ScanRecords(const identity::Tenant& t, std::string_view kind, std::string_view what,
                   Result<T> (*from_json)(const json::Value&), Visit visit) {
  Status inner;
  MD_RETURN_IF_ERROR(t.Scan(kind, "", [&](std::string_view id, std::string_view value) {
    Result<json::Value> v = json::Parse(value);
    Result<T> r = v.ok() ? from_json(*v) : Result<T>(v.error());
    if (!r.ok()) {
      inner = DataLossError("stored " + std::string(what) + " " + std::string(id) +
                                " does not parse: " + r.error().message(),
                            "corrupt-record");
      return false;
    }
    visit(std::move(*r));
    return true;
  }));
  return inner;
}

bool Live(const std::string& state) {
  return state == "pending" || state == "reserved";
}

PolicyReason FromVerifierReason(const mandates::Reason& r) {
  return PolicyReason{r.code, r.mandate, r.pointer, "", r.detail, {}};
}


// An approval event's data: the approval as the approve and deny routes answer it, with the
// authorization after the decision as "authorization_after".
std::string WithApproval(const std::string& record_json, const Approval& approval) {
  std::string out = json::Write(ApprovalToJson(approval));
  out.pop_back();  // its closing brace
  out += ",\"authorization_after\":";
  out += record_json;
  out += '}';
  return out;
}

}  // namespace

json::Value CounterViewToJson(const CounterView& c) {
  json::Value v = json::Value::Object();
  v.Set("counter", json::Value::String(c.counter));
  v.Set("owner", json::Value::String(c.owner));
  v.Set("asset", json::Value::String(c.asset));
  v.Set("window", json::Value::String(c.window));
  v.Set("max", json::Value::String(c.max.ToString()));
  v.Set("spent", json::Value::String(c.spent.ToString()));
  v.Set("remaining", json::Value::String(c.remaining.ToString()));
  if (c.resets_at) v.Set("resets_at", json::Value::Int(*c.resets_at));
  return v;
}

// A live hold (pending or reserved) and where it is counted.
struct Authorizer::Hold {
  Authorization record;  // as last written (or being written)
  std::vector<std::pair<SpendSeries*, size_t>> amount_refs;
  std::vector<std::pair<SpendSeries*, size_t>> use_refs;
  bool busy = false;  // a capture, void or decision is being written
};

// Everything the authorizer keeps in memory for one principal, guarded by `mu`.
struct Authorizer::PrincipalState {
  std::mutex mu;
  bool loaded = false;
  int64_t last_now = INT64_MIN;
  identity::Principal principal;
  std::map<std::string, SpendSeries> series;              // SeriesKey(owner, asset)
  std::map<std::string, std::unique_ptr<Hold>> holds;     // live holds by authorization id
  std::multimap<int64_t, std::string> leases;             // expires_at -> authorization id
  std::map<std::string, Authorization> lapsed;            // leases ended, not yet written down
  std::set<std::string> sweeping;  // lapses the sweeper is writing down (no late capture meanwhile)
};

// The verified chain of a mandate: records and credentials, the mandate first.
struct Authorizer::ChainInfo {
  std::vector<mandates::MandateRecord> records;
  std::shared_ptr<const mandates::Verdict> verdict;  // shared with the verified-chain cache
};

Authorizer::Authorizer(store::KvStore& kv, signer::KeyStore& keys,
                       mandates::MandateRegistry& registry, identity::Directory& directory,
                       identity::PrincipalStore& principals, Clock& clock, Random& random,
                       AuthorizerOptions options)
    : kv_(kv), keys_(keys), registry_(registry), directory_(directory), principals_(principals),
      clock_(clock), random_(random), options_(std::move(options)) {}

Authorizer::~Authorizer() { StopSweeper(); }

void Authorizer::StartSweeper() {
  std::lock_guard<std::mutex> lock(sweeper_mu_);
  if (sweeper_.joinable()) return;
  sweeper_stop_ = false;
  sweeper_ = std::thread([this] { SweeperLoop(); });
}

void Authorizer::StopSweeper() {
  {
    std::lock_guard<std::mutex> lock(sweeper_mu_);
    sweeper_stop_ = true;
  }
  sweeper_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

void Authorizer::SweeperLoop() {
  std::unique_lock<std::mutex> lock(sweeper_mu_);
  std::string loaded_up_to;  // principals are loaded in id order, a few per round
  bool all_loaded = false;
  std::map<std::string, int> load_failures;
  while (!sweeper_stop_) {
    sweeper_cv_.wait_for(lock, std::chrono::milliseconds(options_.sweep_interval_ms));
    if (sweeper_stop_) break;
    lock.unlock();
    if (!all_loaded) all_loaded = LoadSomePrincipals(&loaded_up_to, &load_failures);
    if (before_sweep_) before_sweep_();
    Result<size_t> n = SweepOnce();
    if (!n.ok()) {
      log::Warn("lease sweep failed", {{"error", n.error().ToString()}});
    }
    if (after_sweep_) after_sweep_();
    lock.lock();
  }
}

Result<Authorizer::PrincipalState*> Authorizer::StateFor(const std::string& principal_id) {
  std::lock_guard<std::mutex> lock(states_mu_);
  std::unique_ptr<PrincipalState>& ps = states_[principal_id];
  if (!ps) ps = std::make_unique<PrincipalState>();
  return ps.get();
}

int64_t Authorizer::NowLocked(PrincipalState& ps) {
  // The principal's decisions see time move forward only, so series stay in time order.
  ps.last_now = std::max(ps.last_now, clock_.NowUnixSeconds());
  return ps.last_now;
}

void Authorizer::ChargeLocked(PrincipalState& ps, Hold& hold) {
  const Authorization& a = hold.record;
  const std::string& asset = a.purchase.asset;
  const Uint128 amount = a.reservation->state == "captured" ? a.reservation->captured.raw()
                                                            : a.reservation->amount.raw();
  std::vector<std::string> owners = {"principal", "agent:" + a.agent_id,
                                     "session:" + a.session_id};
  for (const std::string& m : a.chain) {
    owners.push_back("mandate:" + m);
    owners.push_back("session-mandate:" + a.session_id + ":" + m);
  }
  for (const std::string& o : owners) {
    SpendSeries& s = ps.series[SeriesKey(o, asset)];
    hold.amount_refs.emplace_back(&s, s.Append(a.charged_at, amount));
  }
  for (const std::string& m : a.chain) {
    SpendSeries& s = ps.series[SeriesKey("uses:" + m, "")];
    hold.use_refs.emplace_back(&s, s.Append(a.charged_at, 1));
  }
}

std::vector<std::pair<SpendSeries*, size_t>> Authorizer::ChargeOutsideLocked(
    PrincipalState& ps, const OutsideCharge& c) {
  std::vector<std::pair<SpendSeries*, size_t>> refs;
  std::vector<std::string> owners = {"principal", "agent:" + c.agent_id};
  if (!c.session_id.empty()) owners.push_back("session:" + c.session_id);
  for (const std::string& o : owners) {
    SpendSeries& s = ps.series[SeriesKey(o, c.asset)];
    refs.emplace_back(&s, s.Append(c.charged_at, c.amount.raw()));
  }
  return refs;
}

void Authorizer::SetHoldAmountLocked(PrincipalState&, Hold& hold, Uint128 amount) {
  for (auto& [series, index] : hold.amount_refs) series->Set(index, amount);
  for (auto& [series, index] : hold.use_refs) series->Set(index, amount == 0 ? 0 : 1);
}

void Authorizer::ExpireLocked(PrincipalState& ps, int64_t now) {
  for (auto it = ps.leases.begin(); it != ps.leases.end() && it->first <= now;) {
    auto h = ps.holds.find(it->second);
    if (h == ps.holds.end()) {
      it = ps.leases.erase(it);
      continue;
    }
    if (h->second->busy) {  // its writer decides; looked at again on the next call
      ++it;
      continue;
    }
    Hold& hold = *h->second;
    if (!Live(hold.record.reservation->state) || hold.record.reservation->expires_at != it->first) {
      it = ps.leases.erase(it);
      continue;
    }
    SetHoldAmountLocked(ps, hold, 0);
    ps.lapsed[hold.record.id] = EffectiveAt(hold.record, now);
    ps.holds.erase(h);
    it = ps.leases.erase(it);
  }
}

Status Authorizer::LoadLocked(PrincipalState& ps, const identity::Tenant& t) {
  if (ps.loaded) return OkStatus();
  MD_ASSIGN_OR_RETURN(ps.principal, principals_.Get(t.principal_id()));
  std::vector<Authorization> records;
  // Every record's last change was made at the principal's time then: the time restarts from
  // the latest of them, denials and closed holds included, not only from what still counts
  // (a clock stepped back across a restart must not bring back a mandate that had ended).
  int64_t latest_change = ps.last_now;
  MD_RETURN_IF_ERROR(ScanRecords<Authorization>(t, kAtzKind, "authorization", &AuthorizationFromJson,
                                                [&records, &latest_change](Authorization a) {
                                                  latest_change = std::max(latest_change,
                                                                           a.updated_at);
                                                  if (a.reservation) records.push_back(std::move(a));
                                                }));
  ps.last_now = std::max(ps.last_now, latest_change);
  std::vector<OutsideCharge> outside;
  MD_RETURN_IF_ERROR(ScanRecords<OutsideCharge>(t, kOutsideKind, "outside charge",
                                                &OutsideChargeFromJson,
                                                [&outside](OutsideCharge c) {
                                                  outside.push_back(std::move(c));
                                                }));
  std::stable_sort(records.begin(), records.end(),
                   [](const Authorization& x, const Authorization& y) {
                     return x.charged_at < y.charged_at;
                   });
  std::stable_sort(outside.begin(), outside.end(),
                   [](const OutsideCharge& x, const OutsideCharge& y) {
                     return x.charged_at < y.charged_at;
                   });
  // Series take their entries in time order: the two kinds are merged by instant.
  size_t next_outside = 0;
  auto charge_outside_before = [&](int64_t at) {
    for (; next_outside < outside.size() && outside[next_outside].charged_at < at; ++next_outside) {
      ps.last_now = std::max(ps.last_now, outside[next_outside].charged_at);
      ChargeOutsideLocked(ps, outside[next_outside]);
    }
  };
  const int64_t now = NowLocked(ps);
  for (Authorization& stored : records) {
    charge_outside_before(stored.charged_at);
    ps.last_now = std::max(ps.last_now, stored.charged_at);
    Authorization eff = EffectiveAt(stored, now);
    const std::string& state = eff.reservation->state;
    if (state != "captured" && !Live(state)) {
      if (Live(stored.reservation->state)) ps.lapsed[stored.id] = std::move(eff);
      continue;
    }
    auto hold = std::make_unique<Hold>();
    hold->record = std::move(stored);
    ChargeLocked(ps, *hold);
    if (state == "captured") continue;  // counted for good; nothing more to track
    ps.leases.emplace(hold->record.reservation->expires_at, hold->record.id);
    ps.holds[hold->record.id] = std::move(hold);
  }
  charge_outside_before(INT64_MAX);
  if (!outside.empty()) ps.last_now = std::max(ps.last_now, outside.back().charged_at);
  ps.loaded = true;
  return OkStatus();
}

Result<Authorizer::ChainInfo> Authorizer::LoadChain(const identity::Tenant& t,
                                                    const std::string& mandate_id) {
  ChainInfo info;
  MD_ASSIGN_OR_RETURN(mandates::MandateRecord rec, registry_.Get(t, mandate_id));
  info.records.push_back(rec);
  while (!info.records.back().parent.empty()) {
    if (static_cast<int>(info.records.size()) >= mandates::kMaxChainLength) {
      return DataLossError("delegation chain of " + mandate_id + " is too long", "corrupt-record");
    }
    MD_ASSIGN_OR_RETURN(mandates::MandateRecord parent,
                        registry_.Get(t, info.records.back().parent));
    info.records.push_back(std::move(parent));
  }
  return info;
}

std::vector<CounterView> Authorizer::CountersLocked(PrincipalState& ps, const ChainInfo& chain,
                                                    const identity::Agent* agent,
                                                    const identity::Session* session,
                                                    const std::string& asset, int64_t now) {
  std::vector<CounterView> out;
  auto sum_in = [&](const std::string& owner, int64_t start, int64_t end) -> Uint128 {
    auto it = ps.series.find(SeriesKey(owner, asset));
    return it == ps.series.end() ? 0 : it->second.SumIn(start, end);
  };
  auto total = [&](const std::string& owner) -> Uint128 {
    auto it = ps.series.find(SeriesKey(owner, asset));
    return it == ps.series.end() ? 0 : it->second.Total();
  };
  auto push = [&](std::string counter, std::string owner, std::string window, Amount max,
                  Uint128 spent, std::optional<int64_t> resets) {
    CounterView c;
    c.counter = std::move(counter);
    c.owner = std::move(owner);
    c.asset = asset;
    c.window = std::move(window);
    c.max = max;
    c.spent = FromRaw(spent);
    c.remaining = spent >= max.raw() ? Amount() : FromRaw(max.raw() - spent);
    c.resets_at = resets;
    out.push_back(std::move(c));
  };
  // The mandate and each ancestor.
  for (size_t i = 0; i < chain.verdict->chain.size(); ++i) {
    const mandates::MandateCredential& cred = chain.verdict->chain[i].credential;
    const std::string owner = "mandate:" + cred.id;
    const mandates::Limits& limits = cred.terms.limits;
    for (size_t w = 0; w < limits.windows.size(); ++w) {
      const mandates::WindowLimit& wl = limits.windows[w];
      if (!SameAsset(wl.asset, asset)) continue;
      Result<WindowBounds> b = WindowAt(wl, now);
      std::string name = owner + ":window:" + std::string(mandates::WindowUnitName(wl.window)) +
                         ":" + std::string(mandates::WindowKindName(wl.kind)) +
                         (wl.time_zone.empty() ? "" : ":" + wl.time_zone);
      if (!b.ok()) {  // a zone that cannot be read: nothing is spendable (fail closed)
        push(name, owner, std::string(mandates::WindowUnitName(wl.window)), wl.max, wl.max.raw(),
             std::nullopt);
        continue;
      }
      std::optional<int64_t> resets;
      if (wl.kind == mandates::WindowKind::kCalendar) resets = b->end;
      push(name, owner, std::string(mandates::WindowUnitName(wl.window)), wl.max,
           sum_in(owner, b->start, b->end), resets);
    }
    for (const mandates::AssetMax& lt : limits.lifetime) {
      if (!SameAsset(lt.asset, asset)) continue;
      push(owner + ":lifetime", owner, "lifetime", lt.max, total(owner), std::nullopt);
    }
    if (session != nullptr) {
      for (const mandates::AssetMax& cap : cred.terms.session_cap) {
        if (!SameAsset(cap.asset, asset)) continue;
        const std::string so = "session-mandate:" + session->id + ":" + cred.id;
        push(owner + ":session-cap:" + session->id, owner, "session", cap.max, total(so),
             std::nullopt);
      }
    }
  }
  if (session != nullptr && session->spend_cap && SameAsset(session->spend_cap->asset, asset)) {
    const std::string owner = "session:" + session->id;
    push(owner + ":spend-cap", owner, "session", session->spend_cap->max, total(owner),
         std::nullopt);
  }
  // Ceilings of the agent and of the principal: calendar windows in UTC (specs/windows.md).
  auto ceilings = [&](const std::vector<identity::Ceiling>& list, const std::string& owner,
                      const std::string& series_owner) {
    for (const identity::Ceiling& c : list) {
      if (!SameAsset(c.asset, asset)) continue;
      const std::string name = owner + ":" + c.window;
      if (c.window == "transaction") {  // per payment: nothing is spent before it
        push(name, owner, c.window, c.max, 0, std::nullopt);
      } else if (c.window == "lifetime") {
        push(name, owner, c.window, c.max, total(series_owner), std::nullopt);
      } else {
        Result<WindowBounds> b = CeilingWindow(c.window, now);
        if (!b.ok()) {  // cannot happen for a stored ceiling; fail closed all the same
          push(name, owner, c.window, c.max, c.max.raw(), std::nullopt);
          continue;
        }
        push(name, owner, c.window, c.max, sum_in(series_owner, b->start, b->end), b->end);
      }
    }
  };
  if (agent != nullptr) {
    ceilings(agent->ceilings, "agent:" + agent->id, "agent:" + agent->id);
  }
  ceilings(ps.principal.ceilings, "principal:" + ps.principal.id, "principal");
  return out;
}

Result<signer::KeyInfo> Authorizer::IssuerKey(const std::string& principal_id, bool cached) {
  const uint64_t generation = keys_.generation();
  if (cached) {
    std::lock_guard<std::mutex> lock(verified_mu_);
    auto it = issuer_keys_.find(principal_id);
    if (it != issuer_keys_.end() && it->second.first == generation) return it->second.second;
  }
  // With its last issuer key disabled (mandates signed by earlier, retired keys still verify),
  // receipts are signed by a new one, as the next mandate issuance would make one.
  MD_ASSIGN_OR_RETURN(signer::KeyInfo key,
                      keys_.ActiveKeyOrNew(principal_id, std::string(mandates::kIssuerKeyPurpose),
                                           signer::KeyType::kEd25519));
  std::lock_guard<std::mutex> lock(verified_mu_);
  if (issuer_keys_.size() >= kVerifiedCacheSize) issuer_keys_.clear();
  issuer_keys_[principal_id] = {generation, key};
  return key;
}

Result<std::string> Authorizer::SignReceipt(const identity::Tenant& t, const Authorization& a) {
  const std::string issuer = registry_.IssuerDid(t.principal_id());
  Bytes nonce(16);
  MD_RETURN_IF_ERROR(random_.Fill(nonce));
  json::Value p = json::Value::Object();
  p.Set("iss", json::Value::String(issuer));
  p.Set("sub", json::Value::String(a.agent_did));
  p.Set("jti", json::Value::String("urn:mandated:authorization:" + a.id));
  p.Set("iat", json::Value::Int(a.updated_at));
  p.Set("exp", json::Value::Int(a.reservation->expires_at));
  p.Set("mandate", json::Value::String(std::string(mandates::kMandateIdPrefix) + a.mandate_id));
  p.Set("agent", json::Value::String(a.agent_id));
  json::Value purchase = mandates::PurchaseToJson(a.purchase);
  for (size_t i = 0; i < purchase.keys().size(); ++i) p.Set(purchase.keys()[i], purchase.items()[i]);
  p.Set("reservation", json::Value::String(a.reservation->id));
  p.Set("nonce", json::Value::String(Base64UrlEncode(nonce)));
  if (!a.cart_hash.empty()) p.Set("cart_hash", json::Value::String(a.cart_hash));
  const std::string payload = json::Write(p);
  return signer::SignWithActiveKey(
      [&](int attempt) { return IssuerKey(t.principal_id(), /*cached=*/attempt == 1); },
      [&](const signer::KeyInfo& key) {
        json::Value header = json::Value::Object();
        header.Set("alg", json::Value::String(std::string(signer::JwsAlgFor(key.type))));
        header.Set("typ", json::Value::String(std::string(kReceiptTyp)));
        header.Set("kid", json::Value::String(issuer + "#" + key.id));
        return keys_.SignJws(key.id, std::move(header), payload);
      });
}

Status Authorizer::WriteAuthorization(const identity::Tenant& t, const Authorization& a,
                                      const std::string& record_json, const Approval* approval,
                                      bool new_record, const IdempotencyClaim* claim,
                                      const Answer& answer) {
  store::WriteBatch batch;
  t.Put(batch, kAtzKind, a.id, record_json);
  if (new_record) {
    t.Put(batch, kAtzByMandateKind, a.mandate_id + "/" + a.id, "");
    t.Put(batch, kAtzByAgentKind, a.agent_id + "/" + a.id, "");
  }
  if (approval != nullptr) {
    t.Put(batch, kAprKind, approval->id, json::Write(ApprovalToJson(*approval)));
    if (approval->state == "pending") {
      t.Put(batch, kAprOpenKind, approval->id, "");
    } else {
      t.Delete(batch, kAprOpenKind, approval->id);
    }
  }
  if (claim != nullptr) {
    claim->Record(batch, StoredAnswer{answer.status, "application/json", answer.body});
  }
  StageAuthorizationEvent(batch, a, record_json, approval, new_record);
  return kv_.Write(batch, store::Durability::kSync);
}

// The audit event of a decision or of a change to it, in the batch of the record it describes
// (specs/audit.md §1.3). Its data is the stored record; an approval's event is the approval (who
// decided, when, what they were shown, the policy version and their evidence) with the record.
void Authorizer::StageAuthorizationEvent(store::WriteBatch& batch, const Authorization& a,
                                         const std::string& record_json, const Approval* approval,
                                         bool new_record) {
  audit::Event e;
  const std::string state = a.reservation ? a.reservation->state : "";
  const bool decided_approval = approval != nullptr && !new_record &&
                                (approval->state == "approved" || approval->state == "denied") &&
                                state != "voided";
  if (new_record) {
    e.type = "authorization.decided";
  } else if (decided_approval) {
    e.type = "approval." + approval->state;
  } else if (state == "captured") {
    e.type = "authorization.captured";
  } else if (state == "voided") {
    e.type = "authorization.voided";
  } else {
    e.type = "authorization.updated";
  }
  e.principal = a.principal_id;
  e.Subject("authorization", a.id)
      .Subject("mandate", a.mandate_id)
      .Subject("agent", a.agent_id)
      .Subject("session", a.session_id);
  if (approval != nullptr) e.Subject("approval", approval->id);
  e.data_json = decided_approval ? WithApproval(record_json, *approval) : record_json;
  e.at_micros = clock_.NowUnixMicros();
  audit::Stage(batch, e);
}

Result<std::shared_ptr<const Authorizer::SessionFacts>> Authorizer::FactsOf(
    const identity::Tenant& t, const Actor& actor) {
  std::string key = t.principal_id();
  key += '/';
  key += actor.session_id;
  {
    std::lock_guard<std::mutex> lock(facts_mu_);
    auto it = facts_.find(key);
    if (it != facts_.end() && it->second->agent.id == actor.agent_id) return it->second;
  }
  MD_ASSIGN_OR_RETURN(identity::Session session, directory_.GetSession(t, actor.session_id));
  MD_ASSIGN_OR_RETURN(identity::Agent agent, directory_.GetAgent(t, actor.agent_id));
  auto facts = std::make_shared<SessionFacts>();
  facts->session.id = std::move(session.id);
  facts->session.principal_id = std::move(session.principal_id);
  facts->session.agent_id = std::move(session.agent_id);
  facts->session.spend_cap = std::move(session.spend_cap);
  facts->agent.id = std::move(agent.id);
  facts->agent.principal_id = std::move(agent.principal_id);
  facts->agent.did = std::move(agent.did);
  facts->agent.ceilings = std::move(agent.ceilings);
  std::lock_guard<std::mutex> lock(facts_mu_);
  if (facts_.size() >= kVerifiedCacheSize) facts_.clear();
  facts_[key] = facts;
  return std::shared_ptr<const SessionFacts>(std::move(facts));
}

std::shared_ptr<const mandates::Verdict> Authorizer::VerifyChain(const ChainInfo& chain, int64_t now,
                                          std::string* policy_version) {
  const mandates::MandateRecord& mandate = chain.records.front();
  // Fast path: a chain whose signatures this process verified with the same keys, every link
  // still active (status 0: the record and its status bit change in one batch) and inside its
  // validity. Anything else takes the full verification, which names every reason.
  const uint64_t generation = keys_.generation();
  bool in_force = true;
  for (const mandates::MandateRecord& r : chain.records) {
    in_force = in_force && r.state == "active" && r.valid_from <= now && now < r.valid_until;
  }
  if (in_force) {
    std::lock_guard<std::mutex> lock(verified_mu_);
    auto it = verified_.find(mandate.id);
    if (it != verified_.end() && it->second.generation == generation &&
        it->second.token == mandate.token) {
      if (policy_version != nullptr) *policy_version = it->second.policy_version;
      return it->second.verdict;
    }
  }
  std::string version = Sha256Hex(mandate.token);
  if (policy_version != nullptr) *policy_version = version;
  mandates::VerifyRequest vr;
  vr.token = mandate.token;
  for (size_t i = 1; i < chain.records.size(); ++i) vr.chain.push_back(chain.records[i].token);
  mandates::IssuerKeyResolver resolver(registry_, keys_);
  mandates::RegistryStatusSource statuses(registry_, kv_);
  auto verdict = std::make_shared<const mandates::Verdict>(
      mandates::VerifyMandate(vr, resolver, statuses, mandates::VerifyOptions{now}));
  if (verdict->valid && in_force) {
    std::lock_guard<std::mutex> lock(verified_mu_);
    if (verified_.size() >= kVerifiedCacheSize) verified_.clear();
    verified_[mandate.id] = VerifiedChain{generation, mandate.token, std::move(version), verdict};
  }
  return verdict;
}

Result<Answer> Authorizer::Authorize(const identity::Tenant& t, const Actor& actor,
                                     const AuthorizeRequest& req, const IdempotencyClaim* claim) {
  const uint64_t chain_generation = registry_.records_generation();  // before the chain is read
  MD_ASSIGN_OR_RETURN(ChainInfo chain, LoadChain(t, req.mandate_id));
  const mandates::MandateRecord& mandate = chain.records.front();
  if (mandate.agent_id != actor.agent_id) {
    return PermissionDeniedError("mandate " + mandate.id + " is held by another agent",
                                 "not-mandate-holder");
  }
  if (!actor.mandate_scope.empty() &&
      std::find(actor.mandate_scope.begin(), actor.mandate_scope.end(), mandate.id) ==
          actor.mandate_scope.end()) {
    return PermissionDeniedError("this session is limited to other mandates",
                                 "mandate-out-of-scope");
  }
  MD_ASSIGN_OR_RETURN(std::shared_ptr<const SessionFacts> facts, FactsOf(t, actor));
  const identity::Session& session = facts->session;
  const identity::Agent& agent = facts->agent;

  // The chain as the online verifier sees it (specs/mandate.md §7.1), then the purchase against
  // every link of it, exactly as VerifyMandate does with a purchase. At the principal's
  // never-backwards time, which the decision is charged at below: a wall clock stepped back
  // must not make a mandate past its validity, or a purchase outside its hours, look in force.
  MD_ASSIGN_OR_RETURN(PrincipalState * ps, StateFor(t.principal_id()));
  int64_t verify_now = 0;
  {
    std::lock_guard<std::mutex> lock(ps->mu);
    MD_RETURN_IF_ERROR(LoadLocked(*ps, t));
    verify_now = NowLocked(*ps);
  }
  mandates::Purchase purchase_at = req.purchase;
  purchase_at.at = verify_now;
  std::string policy_version;
  chain.verdict = VerifyChain(chain, verify_now, &policy_version);
  std::vector<mandates::Reason> reasons = chain.verdict->reasons;
  bool step_up = chain.verdict->step_up;
  for (const mandates::VerifiedLink& link : chain.verdict->chain) {
    std::vector<mandates::Reason> pr =
        mandates::CheckPurchase(link.credential.terms, purchase_at, link.credential.id);
    reasons.insert(reasons.end(), pr.begin(), pr.end());
    step_up = step_up || mandates::NeedsStepUp(link.credential.terms, purchase_at, verify_now);
  }
  const bool valid = reasons.empty();

  Authorization a;
  MD_ASSIGN_OR_RETURN(a.id, random_.NewId("atz_"));
  a.principal_id = t.principal_id();
  a.mandate_id = mandate.id;
  for (const mandates::MandateRecord& r : chain.records) a.chain.push_back(r.id);
  a.agent_id = agent.id;
  a.agent_did = agent.did;
  a.session_id = session.id;
  a.purchase = req.purchase;
  a.purchase.at.reset();
  a.cart_hash = req.cart_hash;
  a.policy_version = std::move(policy_version);
  std::string approval_id;
  std::string reservation_id;
  if (valid) {
    MD_ASSIGN_OR_RETURN(reservation_id, random_.NewId("rsv_"));
    if (step_up) {
      MD_ASSIGN_OR_RETURN(approval_id, random_.NewId("apr_"));
    }
  }

  if (has_before_decision_.load(std::memory_order_relaxed)) {
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> lock(test_hook_mu_);
      hook = before_decision_;
    }
    if (hook) hook();
  }
  std::vector<CounterView> counters;
  Hold* hold = nullptr;
  {
    std::lock_guard<std::mutex> lock(ps->mu);
    MD_RETURN_IF_ERROR(LoadLocked(*ps, t));
    const int64_t now = NowLocked(*ps);
    ExpireLocked(*ps, now);
    a.charged_at = now;
    a.created_at = now;
    a.updated_at = now;
    for (const mandates::Reason& r : reasons) a.reasons.push_back(FromVerifierReason(r));
    // The chain's states as they are now, under the principal's lock (specs/authorization.md
    // §2 step 1): a suspension or revocation acknowledged while this request waited is not
    // overtaken by a verdict read before it. Read again only when some mandate record was
    // written since the chain was read. (A used-up mandate is the uses check's, below.)
    const bool chain_moved = registry_.records_generation() != chain_generation;
    for (size_t i = 0; valid && chain_moved && i < chain.records.size(); ++i) {
      MD_ASSIGN_OR_RETURN(mandates::MandateRecord cur, registry_.Get(t, chain.records[i].id));
      if (cur.state == "active" || cur.state == "used-up") continue;
      const std::string own = cur.state == "suspended" ? "suspended" : "revoked";
      const std::string code = i == 0 ? own : "parent-" + own;
      a.reasons.push_back(FromVerifierReason(mandates::Reason{
          code, cur.id, "/status", "mandate " + cur.id + " is " + cur.state}));
    }
    if (valid && now != verify_now) {
      // The chain was judged at verify_now and the decision is charged at now, the principal's
      // time after waiting for this lock: what the time decides is judged again at now, so a
      // mandate that ended in between is not charged after its end (specs/authorization.md §3).
      purchase_at.at = now;
      for (size_t i = 0; i < chain.verdict->chain.size(); ++i) {
        const mandates::MandateCredential& cred = chain.verdict->chain[i].credential;
        if (now >= cred.validity.not_after) {
          a.reasons.push_back(FromVerifierReason(mandates::Reason{
              i == 0 ? "expired" : "parent-expired", cred.id, "/exp",
              "expired at " + mandates::FormatRfc3339Utc(cred.validity.not_after)}));
        }
        for (const mandates::Reason& r : mandates::CheckPurchase(cred.terms, purchase_at, cred.id)) {
          a.reasons.push_back(FromVerifierReason(r));
        }
        if (approval_id.empty() && mandates::NeedsStepUp(cred.terms, purchase_at, now)) {
          MD_ASSIGN_OR_RETURN(approval_id, random_.NewId("apr_"));
        }
      }
    }
    if (valid) {
      counters = CountersLocked(*ps, chain, &agent, &session, a.purchase.asset, now);
      for (const CounterView& c : counters) {
        if (a.purchase.amount <= c.remaining) continue;
        std::string code = c.window == "lifetime" ? "lifetime-exceeded" : "window-exceeded";
        if (c.owner.rfind("principal:", 0) == 0) code = "principal-ceiling-exceeded";
        if (c.owner.rfind("agent:", 0) == 0) code = "agent-ceiling-exceeded";
        if (c.window == "session") code = "session-cap-exceeded";
        std::string mandate_of;
        if (c.owner.rfind("mandate:", 0) == 0) mandate_of = c.owner.substr(8);
        a.reasons.push_back(PolicyReason{code, mandate_of, "", c.counter,
                                         "amount " + a.purchase.amount.ToString() + " " +
                                             c.asset + " is above what " + c.counter +
                                             " has left (" + c.remaining.ToString() + ")",
                                         c.remaining});
      }
      // Uses and spacing, for the mandate and each ancestor.
      for (size_t i = 0; i < chain.verdict->chain.size(); ++i) {
        const mandates::MandateCredential& cred = chain.verdict->chain[i].credential;
        auto it = ps->series.find(SeriesKey("uses:" + cred.id, ""));
        const Uint128 held_uses = it == ps->series.end() ? 0 : it->second.Total();
        if (cred.terms.limits.max_uses) {
          // The recorded uses as they are now: a merchant's use recorded since the chain was
          // read (under this lock, through the use gate) must count.
          MD_ASSIGN_OR_RETURN(mandates::MandateRecord now_rec, registry_.Get(t, cred.id));
          const Uint128 uses = held_uses + static_cast<Uint128>(now_rec.uses);
          if (uses + 1 > static_cast<Uint128>(*cred.terms.limits.max_uses)) {
            a.reasons.push_back(PolicyReason{
                "uses-exhausted", cred.id, "/credentialSubject/mandate/limits/max_uses",
                "mandate:" + cred.id + ":uses",
                "mandate " + cred.id + " has used all " +
                    std::to_string(*cred.terms.limits.max_uses) + " of its uses",
                {}});
          }
        }
        if (cred.terms.limits.min_interval_seconds && it != ps->series.end()) {
          const int64_t last = it->second.LatestLiveTime();
          if (last != INT64_MIN && now - last < *cred.terms.limits.min_interval_seconds) {
            a.reasons.push_back(PolicyReason{
                "too-soon", cred.id, "/credentialSubject/mandate/limits/min_interval_seconds",
                "mandate:" + cred.id + ":interval",
                "the previous payment under mandate " + cred.id + " was " +
                    std::to_string(now - last) + " s ago; at least " +
                    std::to_string(*cred.terms.limits.min_interval_seconds) + " s must pass",
                {}});
          }
        }
      }
    }
    if (a.reasons.empty() && !approval_id.empty()) {
      // A step-up waits for a person: not for an agent suspended or revoked since this request
      // was admitted (its pending requests are denied right after that change is written, and
      // this one would be made after that sweep; specs/access.md §Agents).
      MD_ASSIGN_OR_RETURN(identity::Agent current, directory_.GetAgent(t, agent.id));
      if (current.state != "active") {
        return FailedPreconditionError("agent " + current.id + " is " + current.state,
                                       "agent-state");
      }
    }
    if (!a.reasons.empty()) {
      a.decision = std::string(kDenied);
    } else {
      a.decision = std::string(approval_id.empty() ? kAllowed : kApprovalRequired);
      Reservation r;
      r.id = reservation_id;
      r.state = approval_id.empty() ? "reserved" : "pending";
      r.amount = a.purchase.amount;
      r.expires_at = now + (approval_id.empty() ? options_.reservation_ttl_s
                                                : options_.approval_timeout_s);
      a.reservation = r;
      if (!approval_id.empty()) {
        a.approval_id = approval_id;
        a.approval_expires_at = r.expires_at;
      }
      auto h = std::make_unique<Hold>();
      h->record = a;
      h->busy = true;  // until its record is durable
      ChargeLocked(*ps, *h);
      hold = h.get();
      ps->leases.emplace(r.expires_at, a.id);
      ps->holds[a.id] = std::move(h);
    }
  }

  std::optional<Approval> approval;
  if (a.decision == kAllowed) {
    Result<std::string> receipt = SignReceipt(t, a);
    if (receipt.ok()) a.receipt = std::move(*receipt);
    else {
      std::lock_guard<std::mutex> lock(ps->mu);
      SetHoldAmountLocked(*ps, *hold, 0);
      ps->holds.erase(a.id);
      return receipt.error();
    }
  } else if (a.decision == kApprovalRequired) {
    Approval ap;
    ap.id = a.approval_id;
    ap.principal_id = a.principal_id;
    ap.authorization_id = a.id;
    ap.agent_id = a.agent_id;
    ap.mandate_id = a.mandate_id;
    ap.created_at = a.created_at;
    ap.expires_at = *a.approval_expires_at;
    ap.policy_version = a.policy_version;
    json::Value shown = AuthorizationToJson(a);
    json::Value why = json::Value::Array();
    for (const mandates::VerifiedLink& link : chain.verdict->chain) {
      if (mandates::NeedsStepUp(link.credential.terms, purchase_at, verify_now)) {
        why.Append(json::Value::String(link.credential.id));
      }
    }
    shown.Set("step_up_by", std::move(why));
    ap.shown = std::move(shown);
    ap.shown_sha256 = Sha256Hex(json::Write(ap.shown));
    approval = std::move(ap);
  }

  // The answer is the record as stored; a denial adds the headroom it saw.
  json::Value record = AuthorizationToJson(a);
  const std::string record_json = json::Write(record);
  Answer answer{201, record_json, a.id, a.decision};
  if (a.decision == kDenied) {
    json::Value headroom = json::Value::Array();
    for (const CounterView& c : counters) headroom.Append(CounterViewToJson(c));
    record.Set("headroom", std::move(headroom));
    answer.body = json::Write(record);
  }
  Status written = WriteAuthorization(t, a, record_json, approval ? &*approval : nullptr, true,
                                      claim, answer);
  if (hold != nullptr) {
    std::lock_guard<std::mutex> lock(ps->mu);
    if (!written.ok()) {
      SetHoldAmountLocked(*ps, *hold, 0);
      ps->holds.erase(a.id);
    } else {
      hold->record.receipt = a.receipt;  // signed after the hold was made; capture and void keep it
      hold->busy = false;
    }
  }
  MD_RETURN_IF_ERROR(written);
  return answer;
}

Result<Authorization> Authorizer::Get(const identity::Tenant& t, const std::string& id) {
  return GetAt(t, id, clock_.NowUnixSeconds());
}

Result<Authorization> Authorizer::GetAt(const identity::Tenant& t, const std::string& id,
                                        int64_t now) {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> raw, t.Get(kAtzKind, id));
  if (!raw) return NotFoundError("no authorization " + id, "authorization-not-found");
  MD_ASSIGN_OR_RETURN(json::Value v, json::Parse(*raw));
  Result<Authorization> a = AuthorizationFromJson(v);
  if (!a.ok()) {
    return DataLossError("stored authorization " + id + " does not parse", "corrupt-record");
  }
  return EffectiveAt(std::move(*a), now);
}

Result<std::vector<Authorization>> Authorizer::List(const identity::Tenant& t,
                                                    const std::string& after, size_t limit,
                                                    const std::string& mandate,
                                                    const std::string& agent) {
  std::vector<std::string> ids;
  Status scan;
  if (!mandate.empty() || !agent.empty()) {
    const std::string owner = mandate.empty() ? agent : mandate;
    const std::string prefix = owner + "/";
    scan = t.ScanIds(mandate.empty() ? kAtzByAgentKind : kAtzByMandateKind, prefix,
                     [&](std::string_view key, std::string_view) {
                       std::string id(key.substr(prefix.size()));
                       if (!after.empty() && id <= after) return true;
                       ids.push_back(std::move(id));
                       return ids.size() < limit;
                     });
  } else {
    scan = t.Scan(kAtzKind, after, [&](std::string_view id, std::string_view) {
      ids.emplace_back(id);
      return ids.size() < limit;
    });
  }
  MD_RETURN_IF_ERROR(scan);
  std::vector<Authorization> out;
  for (const std::string& id : ids) {
    MD_ASSIGN_OR_RETURN(Authorization a, Get(t, id));
    if (!agent.empty() && a.agent_id != agent) continue;
    out.push_back(std::move(a));
  }
  return out;
}

Result<Authorizer::Hold*> Authorizer::LiveHoldLocked(PrincipalState& ps,
                                                     const identity::Tenant& t,
                                                     const Actor& actor, const std::string& id,
                                                     std::string_view verb) {
  auto it = ps.holds.find(id);
  if (it == ps.holds.end()) {
    // At the principal's time, which lapsed the hold (the clock may have stepped back since).
    MD_ASSIGN_OR_RETURN(Authorization a, GetAt(t, id, NowLocked(ps)));
    if (!actor.agent_id.empty() && a.agent_id != actor.agent_id) {
      return NotFoundError("no authorization " + id, "authorization-not-found");
    }
    if (verb == "capture" && a.reservation && a.reservation->state == "expired") {
      return FailedPreconditionError("reservation " + a.reservation->id + " expired at " +
                                         std::to_string(a.reservation->expires_at),
                                     "reservation-expired");
    }
    return FailedPreconditionError(
        "authorization " + id + " has no reservation to " + std::string(verb) + " (" +
            (a.reservation ? "reservation " + a.reservation->state : "decision " + a.decision) +
            ")",
        "reservation-state");
  }
  Hold* hold = it->second.get();
  if (!actor.agent_id.empty() && hold->record.agent_id != actor.agent_id) {
    return NotFoundError("no authorization " + id, "authorization-not-found");
  }
  if (hold->busy) {
    return AbortedError("authorization " + id + " is being changed by another request",
                        "reservation-busy");
  }
  return hold;
}

Result<Answer> Authorizer::Capture(const identity::Tenant& t, const Actor& actor,
                                   const std::string& id, std::optional<Amount> amount,
                                   const IdempotencyClaim* claim) {
  MD_ASSIGN_OR_RETURN(PrincipalState * ps, StateFor(t.principal_id()));
  Authorization updated;
  Hold* hold = nullptr;
  bool late = false;  // a settled payment's capture after its hold's lease ended
  std::map<std::string, Authorization>::node_type unwritten_lapse;
  {
    std::lock_guard<std::mutex> lock(ps->mu);
    MD_RETURN_IF_ERROR(LoadLocked(*ps, t));
    const int64_t now = NowLocked(*ps);
    ExpireLocked(*ps, now);
    Result<Hold*> live = LiveHoldLocked(*ps, t, actor, id, "capture");
    Authorization base;
    if (live.ok()) {
      if (hold_guard_ && !actor.captures_settled_payment) {
        MD_RETURN_IF_ERROR(hold_guard_(t.principal_id(), id, now));
      }
      hold = *live;
      const Reservation& r = *hold->record.reservation;
      if (r.state != "reserved") {
        return FailedPreconditionError("reservation " + r.id + " is " + r.state +
                                           " (an approval is pending)",
                                       "reservation-state");
      }
      base = hold->record;
    } else if (actor.captures_settled_payment &&
               live.error().reason() == "reservation-expired") {
      // The payment settled but its hold lapsed before this capture was written (a crash in
      // between, or an on-chain payment confirmed after the lease): the money moved, so the
      // spend is recorded and counted again.
      if (ps->sweeping.count(id) != 0) {
        return AbortedError("the lapse of authorization " + id + " is being written down",
                            "reservation-busy");
      }
      MD_ASSIGN_OR_RETURN(base, Get(t, id));
      late = true;
    } else {
      return live.error();
    }
    const Amount take = amount.value_or(base.reservation->amount);
    if (take > base.reservation->amount) {
      return InvalidArgumentError("/amount: " + take.ToString() + " is above the reserved " +
                                      base.reservation->amount.ToString(),
                                  "capture-above-reserved");
    }
    updated = std::move(base);
    updated.reservation->state = "captured";
    updated.reservation->captured = take;
    updated.reservation->closed_at = now;
    updated.reservation->closed_by = actor.id;
    updated.updated_at = now;
    if (late) {
      // Counted again from now: series take entries in time order, and a restart charges the
      // record at its charged_at, so memory and storage agree.
      updated.charged_at = now;
      auto late_hold = std::make_unique<Hold>();
      late_hold->record = updated;
      // Charged now, under the lock, as a decision charges its hold: `now` is the principal's
      // latest time, so the series stay in time order; undone if the write fails.
      ChargeLocked(*ps, *late_hold);
      hold = late_hold.get();
      ps->holds[id] = std::move(late_hold);
      unwritten_lapse = ps->lapsed.extract(id);  // the sweeper must not write "expired" over it
    }
    hold->busy = true;
  }
  const std::string record_json = json::Write(AuthorizationToJson(updated));
  Answer answer{200, record_json, updated.id, updated.decision};
  Status written = WriteAuthorization(t, updated, record_json, nullptr, false, claim, answer);
  {
    std::lock_guard<std::mutex> lock(ps->mu);
    hold->busy = false;
    if (late) {
      if (!written.ok()) {
        SetHoldAmountLocked(*ps, *hold, 0);  // nothing was recorded: nothing counts
        if (!unwritten_lapse.empty()) {
          ps->lapsed.insert(std::move(unwritten_lapse));  // still to be written down
        }
      }
      ps->holds.erase(id);  // counted for good (or not at all) through its series entries
    } else if (written.ok()) {
      SetHoldAmountLocked(*ps, *hold, updated.reservation->captured.raw());
      ps->holds.erase(id);  // counted for good through its series entries
    }
  }
  MD_RETURN_IF_ERROR(written);
  return answer;
}

Result<Answer> Authorizer::Void(const identity::Tenant& t, const Actor& actor,
                                const std::string& id, const IdempotencyClaim* claim) {
  MD_ASSIGN_OR_RETURN(PrincipalState * ps, StateFor(t.principal_id()));
  Authorization updated;
  Hold* hold = nullptr;
  std::optional<Approval> approval;
  {
    std::lock_guard<std::mutex> lock(ps->mu);
    MD_RETURN_IF_ERROR(LoadLocked(*ps, t));
    const int64_t now = NowLocked(*ps);
    ExpireLocked(*ps, now);
    MD_ASSIGN_OR_RETURN(hold, LiveHoldLocked(*ps, t, actor, id, "void"));
    if (hold_guard_ && !actor.releases_failed_payment) {
      MD_RETURN_IF_ERROR(hold_guard_(t.principal_id(), id, now));
    }
    updated = hold->record;
    const bool was_pending = updated.reservation->state == "pending";
    updated.reservation->state = was_pending ? "released" : "voided";
    updated.reservation->closed_at = now;
    updated.reservation->closed_by = actor.id;
    updated.updated_at = now;
    if (was_pending) {
      updated.decision = std::string(kDenied);
      updated.reasons.push_back(PolicyReason{"voided", "", "", "",
                                             "voided by " + actor.id + " before approval", {}});
      if (!updated.approval_id.empty()) {
        // Withdrawn in the same write; an approval that cannot be read stops the void before
        // anything changes (else it would stay listed as pending for a released hold).
        MD_ASSIGN_OR_RETURN(Approval ap, GetApproval(t, updated.approval_id));
        approval = std::move(ap);
        approval->state = "withdrawn";
      }
    }
    hold->busy = true;
  }
  const std::string record_json = json::Write(AuthorizationToJson(updated));
  Answer answer{200, record_json, updated.id, updated.decision};
  Status written = WriteAuthorization(t, updated, record_json, approval ? &*approval : nullptr,
                                      false, claim, answer);
  {
    std::lock_guard<std::mutex> lock(ps->mu);
    hold->busy = false;
    if (written.ok()) {
      SetHoldAmountLocked(*ps, *hold, 0);
      ps->holds.erase(id);
    }
  }
  MD_RETURN_IF_ERROR(written);
  return answer;
}

Status Authorizer::StillUsable(const identity::Tenant& t, const std::string& agent_id,
                               const std::string& mandate_id, std::string_view consequence,
                               int64_t at) {
  MD_ASSIGN_OR_RETURN(identity::Agent agent, directory_.GetAgent(t, agent_id));
  if (agent.state != "active") {
    return FailedPreconditionError("agent " + agent.id + " is " + agent.state, "agent-state");
  }
  MD_ASSIGN_OR_RETURN(ChainInfo chain, LoadChain(t, mandate_id));
  for (const mandates::MandateRecord& m : chain.records) {
    if (m.state != "active" || at >= m.valid_until) {
      return FailedPreconditionError("mandate " + m.id + " is " +
                                         (m.state != "active" ? m.state : "expired") + ": " +
                                         std::string(consequence),
                                     "mandate-state");
    }
  }
  return OkStatus();
}

Status Authorizer::BindPayment(const identity::Tenant& t, const Actor& actor,
                               const std::string& id, const std::function<Status()>& bind) {
  MD_ASSIGN_OR_RETURN(Authorization a, Get(t, id));
  if (!actor.agent_id.empty() && a.agent_id != actor.agent_id) {
    return NotFoundError("no authorization " + id, "authorization-not-found");
  }
  if (!actor.mandate_scope.empty() &&
      std::find(actor.mandate_scope.begin(), actor.mandate_scope.end(), a.mandate_id) ==
          actor.mandate_scope.end()) {
    return PermissionDeniedError("this session is limited to other mandates",
                                 "mandate-out-of-scope");
  }
  MD_ASSIGN_OR_RETURN(PrincipalState * ps, StateFor(t.principal_id()));
  Hold* hold = nullptr;
  {
    std::lock_guard<std::mutex> lock(ps->mu);
    MD_RETURN_IF_ERROR(LoadLocked(*ps, t));  // first: the principal's time comes back with it
    MD_RETURN_IF_ERROR(StillUsable(t, a.agent_id, a.mandate_id, "nothing is signed under it",
                                   NowLocked(*ps)));
    ExpireLocked(*ps, NowLocked(*ps));
    MD_ASSIGN_OR_RETURN(hold, LiveHoldLocked(*ps, t, actor, id, "pay"));
    if (hold->record.reservation->state != "reserved") {
      return FailedPreconditionError("authorization " + id + " has no reservation to pay (" +
                                         hold->record.reservation->state + ")",
                                     "reservation-state");
    }
    hold->busy = true;  // no void, capture or lapse acts on it until the binding is written
  }
  const Status bound = bind();
  {
    std::lock_guard<std::mutex> lock(ps->mu);
    hold->busy = false;
  }
  return bound;
}

void Authorizer::set_hold_guard(HoldGuard guard) { hold_guard_ = std::move(guard); }

Status Authorizer::ChargeOutside(const identity::Tenant& t, const Actor& actor,
                                 OutsideCharge charge, store::WriteBatch& batch,
                                 const std::function<Status(bool* reached_store)>& commit) {
  MD_ASSIGN_OR_RETURN(std::shared_ptr<const SessionFacts> facts, FactsOf(t, actor));
  charge.agent_id = facts->agent.id;
  charge.session_id = facts->session.id;
  ChainInfo no_mandate;  // no vc+jwt mandate: only the agent's, session's and principal's
  no_mandate.verdict = std::make_shared<const mandates::Verdict>();
  MD_ASSIGN_OR_RETURN(PrincipalState * ps, StateFor(t.principal_id()));
  std::vector<std::pair<SpendSeries*, size_t>> refs;
  {
    std::lock_guard<std::mutex> lock(ps->mu);
    MD_RETURN_IF_ERROR(LoadLocked(*ps, t));
    const int64_t now = NowLocked(*ps);
    ExpireLocked(*ps, now);
    std::string code;
    std::string detail;
    for (const CounterView& c :
         CountersLocked(*ps, no_mandate, &facts->agent, &facts->session, charge.asset, now)) {
      if (charge.amount <= c.remaining) continue;
      if (code.empty()) {
        code = c.window == "session"                 ? "session-cap-exceeded"
               : c.owner.rfind("agent:", 0) == 0 ? "agent-ceiling-exceeded"
                                                     : "principal-ceiling-exceeded";
      }
      detail += detail.empty() ? "" : "; ";
      detail += c.counter + " has " + c.remaining.ToString() + " left";
    }
    if (!code.empty()) {
      return PermissionDeniedError("amount " + charge.amount.ToString() + " " + charge.asset +
                                       " is above what the ceilings outside the mandate allow: " +
                                       detail,
                                   code);
    }
    charge.charged_at = now;
    refs = ChargeOutsideLocked(*ps, charge);
  }
  t.Put(batch, kOutsideKind, charge.id, json::Write(OutsideChargeToJson(charge)));
  bool reached_store = false;
  const Status written = commit(&reached_store);
  if (!written.ok() && !reached_store) {  // refused before the write: nothing was written
    std::lock_guard<std::mutex> lock(ps->mu);
    for (auto& [series, index] : refs) series->Set(index, 0);
  } else if (!written.ok()) {
    log::Error("outside charge kept counted after a failed write",
               {{"principal", t.principal_id()}, {"payment", charge.id},
                {"error", written.ToString()}});
  }
  return written;
}

Status Authorizer::WithHeldUses(
    const std::string& principal, const std::vector<std::string>& mandate_ids,
    const std::function<Status(const std::vector<uint64_t>& held)>& body) {
  MD_ASSIGN_OR_RETURN(PrincipalState * ps, StateFor(principal));
  const identity::Tenant t(kv_, principal);
  std::lock_guard<std::mutex> lock(ps->mu);
  MD_RETURN_IF_ERROR(LoadLocked(*ps, t));
  ExpireLocked(*ps, NowLocked(*ps));
  std::vector<uint64_t> held;
  held.reserve(mandate_ids.size());
  for (const std::string& id : mandate_ids) {
    auto it = ps->series.find(SeriesKey("uses:" + id, ""));
    const Uint128 n = it == ps->series.end() ? 0 : it->second.Total();
    held.push_back(n > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(n));
  }
  return body(held);
}

Result<Approval> Authorizer::GetApproval(const identity::Tenant& t, const std::string& id) {
  return GetApprovalAt(t, id, clock_.NowUnixSeconds());
}

Result<Approval> Authorizer::GetApprovalAt(const identity::Tenant& t, const std::string& id,
                                           int64_t at) {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> raw, t.Get(kAprKind, id));
  if (!raw) return NotFoundError("no approval " + id, "approval-not-found");
  MD_ASSIGN_OR_RETURN(json::Value v, json::Parse(*raw));
  Result<Approval> a = ApprovalFromJson(v);
  if (!a.ok()) return DataLossError("stored approval " + id + " does not parse", "corrupt-record");
  return ApprovalEffectiveAt(std::move(*a), at);
}

Result<std::vector<Approval>> Authorizer::ListApprovals(const identity::Tenant& t,
                                                        const std::string& state,
                                                        const std::string& after, size_t limit) {
  std::vector<std::string> ids;
  Status scan = t.Scan(state == "pending" ? kAprOpenKind : kAprKind, after,
                       [&](std::string_view id, std::string_view) {
                         ids.emplace_back(id);
                         return true;
                       });
  MD_RETURN_IF_ERROR(scan);
  std::vector<Approval> out;
  for (const std::string& id : ids) {
    MD_ASSIGN_OR_RETURN(Approval a, GetApproval(t, id));
    if (!state.empty() && a.state != state) continue;
    out.push_back(std::move(a));
    if (out.size() >= limit) break;
  }
  return out;
}

Result<size_t> Authorizer::DenyPendingOfAgent(const identity::Tenant& t, const Actor& actor,
                                              const std::string& agent_id,
                                              const std::string& note) {
  // The agent's change is written: an authorization that makes a step-up from now on reads the
  // agent again under the principal's lock and is refused. Those made before are either stored
  // or held in memory (their record still being written): both are collected, the latter under
  // that lock.
  std::set<std::string> ids;
  MD_ASSIGN_OR_RETURN(std::vector<Approval> pending, ListApprovals(t, "pending", "", SIZE_MAX));
  for (const Approval& ap : pending) {
    if (ap.agent_id == agent_id) ids.insert(ap.id);
  }
  MD_ASSIGN_OR_RETURN(PrincipalState * ps, StateFor(t.principal_id()));
  {
    std::lock_guard<std::mutex> lock(ps->mu);
    MD_RETURN_IF_ERROR(LoadLocked(*ps, t));
    for (const auto& [id, hold] : ps->holds) {
      const Authorization& a = hold->record;
      if (a.agent_id == agent_id && !a.approval_id.empty() && a.reservation &&
          a.reservation->state == "pending") {
        ids.insert(a.approval_id);
      }
    }
  }
  size_t denied = 0;
  Status first_error;
  DecideRequest req;
  req.note = note;
  req.denial_detail = "denied: " + note;
  for (const std::string& id : ids) {
    // A request being written or decided right now (approval-busy, or not stored yet) is
    // waited for a little: it is denied once its own write is done.
    Result<Answer> d = NotFoundError("", "");
    for (int attempt = 0; attempt < 50; ++attempt) {
      d = Decide(t, actor, id, /*approve=*/false, req, nullptr);
      const bool busy = !d.ok() && (d.error().reason() == "approval-busy" ||
                                    d.error().code() == StatusCode::kNotFound);
      if (!busy) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (d.ok()) {
      ++denied;
    } else if (d.error().reason() != "approval-state" && first_error.ok()) {
      first_error = d.error();  // the others are still denied
    }
  }
  MD_RETURN_IF_ERROR(first_error);
  return denied;
}

Result<Answer> Authorizer::Decide(const identity::Tenant& t, const Actor& actor,
                                  const std::string& id, bool approve, const DecideRequest& req,
                                  const IdempotencyClaim* claim) {
  MD_ASSIGN_OR_RETURN(Approval approval, GetApproval(t, id));
  if (approval.state != "pending") {
    return FailedPreconditionError("approval " + id + " is " + approval.state, "approval-state");
  }
  std::string evidence_did;
  if (!req.evidence.empty()) {
    // The approver's own signature over what they were shown (specs/authorization.md §7).
    if (actor.user_id.empty()) {
      return InvalidArgumentError("/evidence: only a user's credential can sign evidence",
                                  "bad-evidence");
    }
    MD_ASSIGN_OR_RETURN(identity::User user, directory_.GetUser(t, actor.user_id));
    if (user.did.empty()) {
      return InvalidArgumentError("/evidence: user " + user.id + " has no registered DID",
                                  "bad-evidence");
    }
    signer::DidKeyResolver resolver;
    Result<json::Value> claims = signer::VerifyDidJwt(req.evidence, resolver);
    if (!claims.ok()) {
      return InvalidArgumentError("/evidence: " + claims.error().message() + " (" +
                                      claims.error().reason() + ")",
                                  "bad-evidence");
    }
    auto str = [&](const char* k) -> std::string {
      const json::Value* v = claims->Find(k);
      return v != nullptr && v->is_string() ? v->as_string() : "";
    };
    auto num = [&](const char* k) -> std::optional<int64_t> {
      const json::Value* v = claims->Find(k);
      return v != nullptr && v->is_number() ? v->as_int64() : std::nullopt;
    };
    const int64_t now = clock_.NowUnixSeconds();
    std::string problem;
    if (str("iss") != user.did) problem = "iss is not the user's DID " + user.did;
    else if (str("aud") != options_.service_did) problem = "aud is not " + options_.service_did;
    else if (str("approval") != id) problem = "approval is not " + id;
    else if (str("decision") != (approve ? "approve" : "deny")) problem = "decision does not match";
    else if (str("shown_sha256") != approval.shown_sha256) problem = "shown_sha256 does not match";
    else if (!num("iat") || !num("exp")) problem = "iat and exp are required";
    // Bounded before any arithmetic on them: a signed overflow would let a far-apart pair pass.
    else if (*num("iat") < 0 || *num("exp") < 0 || *num("iat") > kMaxNumericDate ||
             *num("exp") > kMaxNumericDate)
      problem = "iat and exp must be times from 1970 to 9999";
    else if (*num("exp") - *num("iat") > kEvidenceMaxLifetime || *num("exp") <= *num("iat"))
      problem = "exp - iat must be 1 to 300 seconds";
    else if (now < *num("iat") - kEvidenceSkew) problem = "issued in the future";
    else if (now >= *num("exp") + kEvidenceSkew) problem = "expired";
    if (!problem.empty()) {
      return InvalidArgumentError("/evidence: " + problem, "bad-evidence");
    }
    evidence_did = user.did;
  }

  MD_ASSIGN_OR_RETURN(PrincipalState * ps, StateFor(t.principal_id()));
  Authorization updated;
  Hold* hold = nullptr;
  int64_t now = 0;
  {
    std::lock_guard<std::mutex> lock(ps->mu);
    // Loaded first: the principal's time comes back with its records (§3 Time), so a mandate
    // that ended before a restart is not judged in force at a wall clock stepped back.
    MD_RETURN_IF_ERROR(LoadLocked(*ps, t));
    if (approve) {
      // What was true when the request was held must still be (a revocation while waiting
      // wins), checked under the lock so that one acknowledged before this point is seen.
      MD_RETURN_IF_ERROR(StillUsable(t, approval.agent_id, approval.mandate_id,
                                     "the request can no longer be approved", NowLocked(*ps)));
    }
    now = NowLocked(*ps);
    ExpireLocked(*ps, now);
    auto it = ps->holds.find(approval.authorization_id);
    if (it == ps->holds.end() || it->second->record.reservation->state != "pending") {
      return FailedPreconditionError("approval " + id + " is no longer pending", "approval-state");
    }
    hold = it->second.get();
    if (hold->busy) {
      return AbortedError("approval " + id + " is being decided by another request",
                          "approval-busy");
    }
    updated = hold->record;
    updated.updated_at = now;
    if (approve) {
      updated.decision = std::string(kAllowed);
      updated.reservation->state = "reserved";
      updated.reservation->expires_at = now + options_.reservation_ttl_s;
    } else {
      updated.decision = std::string(kDenied);
      updated.reservation->state = "released";
      updated.reservation->closed_at = now;
      updated.reservation->closed_by = actor.id;
      updated.reasons.push_back(PolicyReason{
          "approval-denied", "", "", "",
          req.denial_detail.empty() ? "denied by an approver" : req.denial_detail, {}});
    }
    hold->busy = true;
  }
  auto unbusy = [&](bool ok) {
    std::lock_guard<std::mutex> lock(ps->mu);
    hold->busy = false;
    if (!ok) return;
    if (approve) {
      hold->record = updated;
      ps->leases.emplace(updated.reservation->expires_at, updated.id);
    } else {
      SetHoldAmountLocked(*ps, *hold, 0);
      ps->holds.erase(updated.id);
    }
  };
  if (approve) {
    Result<std::string> receipt = SignReceipt(t, updated);
    if (!receipt.ok()) {
      unbusy(false);
      return receipt.error();
    }
    updated.receipt = std::move(*receipt);
  }
  approval.state = approve ? "approved" : "denied";
  approval.decided_at = now;
  approval.decided_by_user = actor.user_id;
  approval.decided_by_credential = actor.id;
  approval.evidence = req.evidence;
  approval.evidence_did = evidence_did;
  approval.note = req.note;
  json::Value body = ApprovalToJson(approval);
  body.Set("authorization_after", AuthorizationToJson(updated));
  Answer answer{200, json::Write(body), updated.id, updated.decision};
  Status written = WriteAuthorization(t, updated, json::Write(AuthorizationToJson(updated)),
                                      &approval, false, claim, answer);
  unbusy(written.ok());
  MD_RETURN_IF_ERROR(written);
  return answer;
}

Result<json::Value> Authorizer::MandateHeadroom(const identity::Tenant& t,
                                                const std::string& mandate_id,
                                                const Actor* session) {
  MD_ASSIGN_OR_RETURN(ChainInfo chain, LoadChain(t, mandate_id));
  std::shared_ptr<const SessionFacts> facts;
  if (session != nullptr && !session->session_id.empty()) {
    MD_ASSIGN_OR_RETURN(facts, FactsOf(t, *session));
  }
  chain.verdict = VerifyChain(chain, clock_.NowUnixSeconds());
  // Every asset some amount limit of the chain names.
  std::set<std::string> assets;
  for (const mandates::VerifiedLink& link : chain.verdict->chain) {
    const mandates::Limits& l = link.credential.terms.limits;
    for (const auto& x : l.per_transaction) assets.insert(x.asset);
    for (const auto& x : l.windows) assets.insert(x.asset);
    for (const auto& x : l.lifetime) assets.insert(x.asset);
  }
  if (facts && facts->session.spend_cap) assets.insert(facts->session.spend_cap->asset);
  Result<identity::Agent> agent = directory_.GetAgent(t, chain.records.front().agent_id);
  MD_ASSIGN_OR_RETURN(PrincipalState * ps, StateFor(t.principal_id()));
  json::Value out = json::Value::Object();
  out.Set("mandate", json::Value::String(mandate_id));
  out.Set("verdict", json::Value::String(chain.verdict->valid ? "valid" : "invalid"));
  json::Value counters = json::Value::Array();
  json::Value uses = json::Value::Array();
  {
    std::lock_guard<std::mutex> lock(ps->mu);
    MD_RETURN_IF_ERROR(LoadLocked(*ps, t));
    const int64_t now = NowLocked(*ps);
    ExpireLocked(*ps, now);
    out.Set("at", json::Value::Int(now));
    for (const std::string& asset : assets) {
      for (const CounterView& c :
           CountersLocked(*ps, chain, agent.ok() ? &*agent : nullptr,
                          facts ? &facts->session : nullptr, asset, now)) {
        counters.Append(CounterViewToJson(c));
      }
    }
    for (size_t i = 0; i < chain.verdict->chain.size(); ++i) {
      const mandates::MandateCredential& cred = chain.verdict->chain[i].credential;
      auto it = ps->series.find(SeriesKey("uses:" + cred.id, ""));
      const int64_t held = it == ps->series.end() ? 0 : static_cast<int64_t>(it->second.Total());
      json::Value u = json::Value::Object();
      u.Set("mandate", json::Value::String(cred.id));
      u.Set("uses", json::Value::Int(held + chain.records[i].uses));
      if (cred.terms.limits.max_uses) {
        u.Set("max_uses", json::Value::Int(*cred.terms.limits.max_uses));
        u.Set("remaining", json::Value::Int(std::max<int64_t>(
                               0, *cred.terms.limits.max_uses - held - chain.records[i].uses)));
      }
      uses.Append(std::move(u));
    }
  }
  out.Set("counters", std::move(counters));
  out.Set("uses", std::move(uses));
  return out;
}

Result<json::Value> Authorizer::CeilingsHeadroom(const identity::Tenant& t,
                                                 const identity::Agent& agent,
                                                 const identity::Session* session) {
  MD_ASSIGN_OR_RETURN(PrincipalState * ps, StateFor(t.principal_id()));
  json::Value ceilings = json::Value::Array();
  std::lock_guard<std::mutex> lock(ps->mu);
  MD_RETURN_IF_ERROR(LoadLocked(*ps, t));
  const int64_t now = NowLocked(*ps);
  ExpireLocked(*ps, now);
  std::set<std::string> assets;
  for (const identity::Ceiling& c : agent.ceilings) assets.insert(c.asset);
  for (const identity::Ceiling& c : ps->principal.ceilings) assets.insert(c.asset);
  if (session != nullptr && session->spend_cap) assets.insert(session->spend_cap->asset);
  ChainInfo no_mandate;
  no_mandate.verdict = std::make_shared<const mandates::Verdict>();
  for (const std::string& asset : assets) {
    for (const CounterView& c : CountersLocked(*ps, no_mandate, &agent, session, asset, now)) {
      ceilings.Append(CounterViewToJson(c));
    }
  }
  return ceilings;
}

Result<json::Value> Authorizer::SessionHeadroom(const identity::Tenant& t, const Actor& session) {
  MD_ASSIGN_OR_RETURN(std::shared_ptr<const SessionFacts> facts, FactsOf(t, session));
  MD_ASSIGN_OR_RETURN(json::Value ceilings, CeilingsHeadroom(t, facts->agent, &facts->session));
  json::Value out = json::Value::Object();
  out.Set("agent", json::Value::String(facts->agent.id));
  out.Set("session", json::Value::String(facts->session.id));
  out.Set("ceilings", std::move(ceilings));
  return out;
}

Result<json::Value> Authorizer::AgentHeadroom(const identity::Tenant& t,
                                              const std::string& agent_id) {
  MD_ASSIGN_OR_RETURN(identity::Agent agent, directory_.GetAgent(t, agent_id));
  json::Value out = json::Value::Object();
  out.Set("agent", json::Value::String(agent.id));
  MD_ASSIGN_OR_RETURN(json::Value ceilings, CeilingsHeadroom(t, agent, nullptr));
  out.Set("ceilings", std::move(ceilings));
  // Every active mandate of the agent, page by page: ended ones may sort before them.
  json::Value items = json::Value::Array();
  constexpr size_t kPage = 1000;
  std::string after;
  for (;;) {
    MD_ASSIGN_OR_RETURN(std::vector<mandates::MandateRecord> page,
                        registry_.List(t, after, kPage, agent.id));
    for (const mandates::MandateRecord& m : page) {
      if (m.state != "active") continue;
      MD_ASSIGN_OR_RETURN(json::Value h, MandateHeadroom(t, m.id));
      items.Append(std::move(h));
    }
    if (page.size() < kPage) break;
    after = page.back().id;
  }
  out.Set("mandates", std::move(items));
  return out;
}

bool Authorizer::LoadSomePrincipals(std::string* after, std::map<std::string, int>* failures) {
  // Counters are otherwise loaded at a principal's first request: a principal nobody asks for
  // after a restart would keep the leases and step-ups that ended while the service was down
  // unwritten (no authorization.lapsed or approval.timed_out in its trail) until then.
  constexpr size_t kPerRound = 4;
  Result<std::vector<identity::Principal>> some = principals_.List(*after, kPerRound);
  if (!some.ok()) {
    log::Warn("loading principals for the lease sweep failed", {{"error", some.error().ToString()}});
    return false;  // tried again next round
  }
  constexpr int kAttempts = 3;
  for (const identity::Principal& p : *some) {
    Result<PrincipalState*> ps = StateFor(p.id);
    Status loaded = ps.ok() ? OkStatus() : ps.error();
    if (ps.ok()) {
      std::lock_guard<std::mutex> lock((*ps)->mu);
      loaded = LoadLocked(**ps, identity::Tenant(kv_, p.id));
    }
    if (!loaded.ok()) {
      const int attempts = ++(*failures)[p.id];
      log::Warn("loading a principal for the lease sweep failed",
                {{"principal", p.id}, {"attempt", std::to_string(attempts)},
                 {"error", loaded.ToString()}});
      // Tried again from here next round, unless it keeps failing (then its first request
      // loads it, or reports why).
      if (attempts < kAttempts) return false;
    }
    failures->erase(p.id);
    *after = p.id;
  }
  return some->size() < kPerRound;
}

Result<size_t> Authorizer::SweepOnce() {
  std::vector<std::pair<std::string, PrincipalState*>> states;
  {
    std::lock_guard<std::mutex> lock(states_mu_);
    for (auto& [id, ps] : states_) states.emplace_back(id, ps.get());
  }
  size_t changed = 0;
  Status first_error = OkStatus();  // a principal's failure does not stop the others' sweep
  for (auto& [principal, ps] : states) {
    std::map<std::string, Authorization> lapsed;
    std::vector<std::string> swept;
    int64_t sweep_now = 0;  // the principal's time (never backwards) that lapsed them
    {
      std::lock_guard<std::mutex> lock(ps->mu);
      if (!ps->loaded) continue;
      sweep_now = NowLocked(*ps);
      ExpireLocked(*ps, sweep_now);
      lapsed.swap(ps->lapsed);
      for (const auto& entry : lapsed) {
        ps->sweeping.insert(entry.first);
        swept.push_back(entry.first);
      }
    }
    if (lapsed.empty()) continue;
    // A named pointer: clang 14 does not capture structured bindings.
    PrincipalState* const state = ps;
    // However this round ends, late captures of these may go ahead afterwards.
    struct SweepingCleared {
      PrincipalState* state;
      const std::vector<std::string>& ids;
      ~SweepingCleared() {
        std::lock_guard<std::mutex> lock(state->mu);
        for (const std::string& id : ids) state->sweeping.erase(id);
      }
    } cleared{state, swept};
    // What this round could not write goes back, to be tried next time.
    auto put_back = [&, state](Status s) {
      std::lock_guard<std::mutex> lock(state->mu);
      state->lapsed.merge(lapsed);
      if (first_error.ok()) first_error = std::move(s);
    };
    const identity::Tenant t(kv_, principal);
    store::WriteBatch batch;
    size_t staged = 0;
    bool failed = false;
    for (auto& [id, a] : lapsed) {
      // Written only if the stored record is still the live one (nothing else moved it).
      Result<std::optional<std::string>> raw = t.Get(kAtzKind, id);
      if (!raw.ok()) {
        put_back(raw.error());
        failed = true;
        break;
      }
      if (!*raw) continue;
      Result<json::Value> v = json::Parse(**raw);
      Result<Authorization> parsed =
          v.ok() ? AuthorizationFromJson(*v) : Result<Authorization>(v.error());
      if (!parsed.ok()) {
        // Trying again would not help: say so, and leave the record as it is (its hold counts
        // nothing past its lease whatever the record says).
        log::Error("stored authorization does not parse; its lapse is not recorded",
                   {{"principal", principal}, {"authorization", id},
                    {"error", parsed.error().ToString()}});
        continue;
      }
      const Authorization& stored = *parsed;
      if (!stored.reservation || !Live(stored.reservation->state)) continue;
      Authorization eff = EffectiveAt(stored, sweep_now);
      if (Live(eff.reservation->state)) continue;
      eff.updated_at = *eff.reservation->closed_at;
      const std::string record_json = json::Write(AuthorizationToJson(eff));
      t.Put(batch, kAtzKind, id, record_json);
      audit::Event e;
      e.principal = principal;
      e.actor = audit::Actor::Service();
      e.Subject("authorization", id)
          .Subject("mandate", eff.mandate_id)
          .Subject("agent", eff.agent_id)
          .Subject("session", eff.session_id);
      e.at_micros = clock_.NowUnixMicros();
      if (!eff.approval_id.empty() && stored.reservation->state == "pending") {
        // At the instant its hold lapsed (the principal's time, which a wall clock stepped back
        // may be behind): the approval is written as expired, never as still pending once it
        // leaves the pending list.
        Result<Approval> ap = GetApprovalAt(t, eff.approval_id, sweep_now);
        if (ap.ok()) {
          if (ap->state == "pending") ap->state = "expired";
          t.Put(batch, kAprKind, ap->id, json::Write(ApprovalToJson(*ap)));
          t.Delete(batch, kAprOpenKind, ap->id);
        }
        // A step-up nobody decided in time: denied, and the hold released.
        e.type = "approval.timed_out";
        e.Subject("approval", eff.approval_id);
        e.data_json = ap.ok() ? WithApproval(record_json, *ap) : record_json;
      } else {
        e.type = "authorization.lapsed";  // a reservation whose lease ended unclaimed
        e.data_json = record_json;
      }
      audit::Stage(batch, e);
      ++staged;
    }
    if (failed) continue;
    if (!batch.empty()) {
      Status s = kv_.Write(batch, store::Durability::kSync);
      if (!s.ok()) {
        put_back(std::move(s));
        continue;
      }
    }
    changed += staged;
  }
  MD_RETURN_IF_ERROR(first_error);
  return changed;
}

}  // namespace mandated::policy
