// The invariant check of the fault tests: the stored ledger of a stopped service, and a running
// service's authorizations, headroom, balances, usage and audit trail over HTTP.
#include "tests/fault/invariants.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "audit/bundle.h"
#include "base/amount.h"
#include "base/json.h"
#include "settlement/ledger.h"
#include "store/rocks_store.h"
#include "tests/support/sanitizers.h"

namespace mandated::fault {
namespace {

std::string Str(const json::Value& v, const char* key) {
  const json::Value* m = v.Find(key);
  return m != nullptr && m->is_string() ? m->as_string() : std::string();
}

// A decimal amount member that fits 64 bits, or nullopt.
std::optional<uint64_t> U64(const json::Value& v, const char* key) {
  const json::Value* m = v.Find(key);
  if (m == nullptr || !m->is_string()) return std::nullopt;
  Result<Amount> a = Amount::Parse(m->as_string());
  if (!a.ok() || !a->fits_uint64()) return std::nullopt;
  return a->low64();
}

struct Got {
  int status = 0;  // 0: no answer
  std::string body;
  json::Value json;
};

class Api {
 public:
  explicit Api(int port) : client_("127.0.0.1", port) {
    client_.set_keep_alive(true);
    client_.set_read_timeout(60, 0);
  }
  Got Get(const std::string& path, const std::string& token) {
    Got g;
    httplib::Result r = client_.Get(path, {{"Authorization", "Bearer " + token}});
    if (!r) return g;
    g.status = r->status;
    g.body = r->body;
    Result<json::Value> v = json::Parse(r->body);
    g.json = v.ok() ? *v : json::Value::Object();
    return g;
  }

 private:
  httplib::Client client_;
};

// What a stored authorization counts against its ceilings (specs/authorization.md §3).
uint64_t Counted(const std::string& state, uint64_t amount, uint64_t captured) {
  if (state == "reserved" || state == "pending") return amount;
  if (state == "captured") return captured;
  return 0;
}

struct Stored {
  std::string decision, mandate, state;
  uint64_t amount = 0, captured = 0;
};

}  // namespace

uint64_t FaultSeed() {
  if (const char* s = std::getenv("MANDATED_FAULT_SEED"); s != nullptr && *s != '\0') {
    return std::strtoull(s, nullptr, 10);
  }
  return static_cast<uint64_t>(
      std::chrono::system_clock::now().time_since_epoch().count());
}

std::string ReplayLine(uint64_t seed) {
  return "replay with MANDATED_FAULT_SEED=" + std::to_string(seed);
}

int FaultRounds(int default_rounds) {
  if (const char* s = std::getenv("MANDATED_FAULT_ROUNDS"); s != nullptr && std::atoi(s) > 0) {
    return std::atoi(s);
  }
  if constexpr (testing::kUnderSanitizer) {
    return std::max(10, default_rounds / testing::kLoadDivisor);
  }
  return default_rounds;
}

int FaultDurationSeconds() {
  const char* s = std::getenv("MANDATED_FAULT_DURATION_S");
  return s != nullptr && std::atoi(s) > 0 ? std::atoi(s) : 0;
}

void CheckReport::Merge(const CheckReport& other) {
  for (const std::string& l : other.lines_) lines_.push_back(l);
  for (const std::string& f : other.failures_) failures_.push_back(f);
}

std::string CheckReport::Text(uint64_t seed) const {
  std::string out;
  for (const std::string& l : lines_) out += "[invariant] " + l + "\n";
  out += ok() ? "[invariant] all hold\n"
              : "[invariant] " + std::to_string(failures_.size()) + " broken; " +
                    ReplayLine(seed) + "\n";
  return out;
}

CheckReport CheckStoredLedger(const std::string& data_dir) {
  CheckReport report;
  store::RocksStoreOptions options;
  options.path = data_dir + "/db";
  options.background_threads = 1;
  Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(options);
  if (!kv.ok()) {
    report.Fail("store opens after the crash: " + kv.error().ToString());
    return report;
  }
  // Per asset: the credits and debits of every account.
  std::map<std::string, std::pair<Amount, Amount>> totals;
  size_t balances = 0;
  std::vector<std::string> broken;
  Status scanned = (*kv)->ScanPrefix(
      settlement::kLedgerFamily, "b/", [&](std::string_view key, std::string_view value) {
        ++balances;
        const std::string k(key.substr(2));
        const size_t slash = k.find('/');
        const std::string account = k.substr(0, slash);
        const std::string asset = slash == std::string::npos ? "" : k.substr(slash + 1);
        Result<json::Value> v = json::Parse(value);
        if (!v.ok()) {
          broken.push_back("unreadable balance " + k);
          return true;
        }
        Result<Amount> credits = Amount::Parse(Str(*v, "credits"));
        Result<Amount> debits = Amount::Parse(Str(*v, "debits"));
        if (!credits.ok() || !debits.ok()) {
          broken.push_back("unreadable balance " + k);
          return true;
        }
        if (*debits > *credits && !settlement::AllowsNegative(account)) {
          broken.push_back("overdraft " + k + ": credits " + credits->ToString() + " < debits " +
                           debits->ToString());
        }
        auto& [c, d] = totals[asset];
        Result<Amount> nc = c.Add(*credits);
        Result<Amount> nd = d.Add(*debits);
        if (!nc.ok() || !nd.ok()) {
          broken.push_back("total out of range in " + asset);
          return true;
        }
        c = *nc;
        d = *nd;
        return true;
      });
  report.Check(scanned.ok(), "ledger scan reads every balance (" + std::to_string(balances) +
                                 ")" + (scanned.ok() ? "" : ": " + scanned.ToString()));
  for (const std::string& b : broken) report.Fail("ledger: " + b);
  if (broken.empty()) {
    report.Pass("no non-external balance below zero (" + std::to_string(balances) +
                " balances)");
  }
  for (const auto& [asset, cd] : totals) {
    report.Check(cd.first == cd.second, "double entry in " + asset + ": credits " +
                                            cd.first.ToString() + " = debits " +
                                            cd.second.ToString());
  }
  return report;
}

CheckReport CheckService(int port, Subject& s, const Acknowledged& acked, bool every_transfer) {
  CheckReport report;
  Api api(port);
  const std::string base = "/v1/principals/" + s.principal;

  // The stored authorizations, page by page.
  std::map<std::string, Stored> stored;
  std::string after;
  for (int page = 0; page < 10000; ++page) {
    Got list = api.Get(base + "/authorizations?limit=1000" +
                           (after.empty() ? "" : "&after=" + after),
                       s.admin);
    const json::Value* items = list.json.Find("items");
    if (list.status != 200 || items == nullptr || !items->is_array()) {
      report.Fail("listing authorizations: " + std::to_string(list.status) + " " + list.body);
      return report;
    }
    for (const json::Value& it : items->items()) {
      Stored st;
      st.decision = Str(it, "decision");
      st.mandate = Str(it, "mandate");
      st.amount = U64(it, "amount").value_or(0);
      if (const json::Value* r = it.Find("reservation"); r != nullptr && r->is_object()) {
        st.state = Str(*r, "state");
        st.captured = U64(*r, "captured").value_or(0);
      }
      stored[Str(it, "id")] = st;
    }
    after = Str(list.json, "next_after");
    if (after.empty()) break;
  }

  // No overspend: a recount per mandate, against the ceilings the headroom names.
  std::map<std::string, uint64_t> by_mandate;
  uint64_t all = 0;
  for (const auto& [id, st] : stored) {
    const uint64_t n = Counted(st.state, st.amount, st.captured);
    by_mandate[st.mandate] += n;
    all += n;
  }
  size_t counters = 0;
  std::vector<std::string> over;
  for (const std::string& m : s.mandates) {
    Got h = api.Get(base + "/mandates/" + m + "/headroom", s.admin);
    const json::Value* cs = h.json.Find("counters");
    if (h.status != 200 || cs == nullptr || !cs->is_array()) {
      report.Fail("headroom of " + m + ": " + std::to_string(h.status) + " " + h.body);
      continue;
    }
    for (const json::Value& c : cs->items()) {
      const std::optional<uint64_t> max = U64(c, "max");
      const std::optional<uint64_t> spent = U64(c, "spent");
      if (!max) continue;  // a uses counter
      ++counters;
      const std::string name = Str(c, "counter");
      if (!spent || *spent > *max) {
        over.push_back(name + " spent " + Str(c, "spent") + " > max " + Str(c, "max"));
      }
      // The recount: a mandate's lifetime is its own authorizations; the principal's month
      // holds at most all of them (some may belong to an earlier month).
      if (name == "mandate:" + m + ":lifetime") {
        if (by_mandate[m] > *max) {
          over.push_back(name + " recount " + std::to_string(by_mandate[m]) + " > max " +
                         std::to_string(*max));
        }
        if (spent && *spent != by_mandate[m]) {
          over.push_back(name + " reports spent " + std::to_string(*spent) +
                         " but the stored records add up to " + std::to_string(by_mandate[m]));
        }
      }
      if (name.rfind("principal:", 0) == 0 && spent && *spent > all) {
        over.push_back(name + " reports spent " + std::to_string(*spent) +
                       " above every stored hold and capture " + std::to_string(all));
      }
    }
  }
  for (const std::string& o : over) report.Fail("overspend: " + o);
  if (over.empty()) {
    report.Pass("no overspend: " + std::to_string(stored.size()) + " authorizations recounted, " +
                std::to_string(counters) + " ceilings within max, lifetime counters = recount");
  }

  // No lost acknowledged decision, none unacknowledged.
  size_t lost = 0, changed = 0, extra = 0;
  std::string first;
  for (const auto& [id, a] : acked.authorizations) {
    auto it = stored.find(id);
    if (it == stored.end()) {
      if (lost++ == 0 && first.empty()) first = "lost " + id;
      continue;
    }
    const Stored& st = it->second;
    if (st.decision != a.decision || st.amount != a.amount || st.mandate != a.mandate ||
        st.state != a.state || (a.state == "captured" && st.captured != a.captured)) {
      if (changed++ == 0 && first.empty()) {
        first = id + " acknowledged " + a.decision + "/" + a.state + " " +
                std::to_string(a.amount) + " captured " + std::to_string(a.captured) +
                ", stored " + st.decision + "/" + st.state + " " + std::to_string(st.amount) +
                " captured " + std::to_string(st.captured);
      }
    }
  }
  for (const auto& [id, st] : stored) {
    if (acked.authorizations.count(id) == 0 && extra++ == 0 && first.empty()) {
      first = "stored but never acknowledged: " + id;
    }
  }
  report.Check(lost == 0 && changed == 0 && extra == 0,
               "acknowledged decisions: " + std::to_string(acked.authorizations.size()) +
                   " acknowledged, " + std::to_string(stored.size()) + " stored, " +
                   std::to_string(lost) + " lost, " + std::to_string(changed) + " changed, " +
                   std::to_string(extra) + " unacknowledged" +
                   (first.empty() ? "" : " (first: " + first + ")"));

  // Deposits: the balance is exactly what was acknowledged; each transfer is readable.
  {
    Got b = api.Get("/v1/ledger/accounts/" + s.deposit_account, s.admin);
    uint64_t balance = 0;
    bool found = false;
    if (const json::Value* bs = b.json.Find("balances"); bs != nullptr && bs->is_array()) {
      for (const json::Value& one : bs->items()) {
        if (Str(one, "asset") == s.asset) {
          balance = U64(one, "balance").value_or(~uint64_t{0});
          found = true;
        }
      }
    }
    if (!found && b.status == 200) found = acked.deposited == 0;
    report.Check(b.status == 200 && found && balance == acked.deposited,
                 "ledger: " + s.deposit_account + " holds " + std::to_string(balance) +
                     ", acknowledged deposits " + std::to_string(acked.deposited) + " (" +
                     std::to_string(acked.deposit_transfers.size()) + " transfers)");
    size_t unreadable = 0;
    std::string which;
    const size_t from = every_transfer ? 0 : std::min(s.transfers_verified,
                                                      acked.deposit_transfers.size());
    for (size_t i = from; i < acked.deposit_transfers.size(); ++i) {
      const std::string& t = acked.deposit_transfers[i];
      Got g = api.Get("/v1/ledger/transfers/" + t, s.admin);
      if (g.status != 200 || Str(g.json, "id") != t) {
        if (unreadable++ == 0) which = t + ": " + std::to_string(g.status) + " " + g.body;
      }
    }
    s.transfers_verified = acked.deposit_transfers.size();
    report.Check(unreadable == 0, "ledger: " + std::to_string(acked.deposit_transfers.size() - from) +
                                      " acknowledged transfers read back" +
                                      (which.empty() ? "" : " (first missing: " + which + ")"));
  }

  // Usage: every event sent counted once.
  {
    Got u = api.Get(base + "/usage?window=total&source=usage", s.admin);
    uint64_t amount = 0, events = 0;
    if (const json::Value* items = u.json.Find("items"); items != nullptr && items->is_array()) {
      for (const json::Value& row : items->items()) {
        if (Str(row, "asset") != s.asset) continue;
        amount += U64(row, "amount").value_or(0);
        const json::Value* e = row.Find("events");
        if (e != nullptr && e->as_uint64()) events += *e->as_uint64();
        else events += U64(row, "events").value_or(0);
      }
    }
    report.Check(u.status == 200 && amount == acked.usage_amount &&
                     events == acked.usage_events,
                 "usage: counted " + std::to_string(events) + " events / " +
                     std::to_string(amount) + ", sent " + std::to_string(acked.usage_events) +
                     " / " + std::to_string(acked.usage_amount) +
                     (u.status == 200 ? "" : " (" + std::to_string(u.status) + " " + u.body + ")"));
  }

  // The trail: the principal's export verifies offline against the pinned key and every
  // checkpoint seen before, and names every acknowledged authorization.
  // Events staged with their change are sequenced into the tree in the background (every
  // audit_sequence_ms, 50 ms by default; specs/audit.md §1.1): an export may trail the latest
  // answers by that much, so it is read again (up to 5 s) while some acknowledged
  // authorization is not in it yet.
  for (int attempt = 0;; ++attempt) {
    Got e = api.Get("/v1/audit/export?principal=" + s.principal, s.operator_token);
    audit::BundleVerifyOptions options;
    options.verifier_key = s.verifier_key;
    options.earlier_checkpoints = s.checkpoints;
    const audit::BundleReport r = audit::VerifyBundle(e.body, options);
    std::string findings;
    for (const audit::BundleFinding& f : r.findings) {
      if (findings.size() < 400) findings += " " + f.code + (f.detail.empty() ? "" : "(" + f.detail + ")");
    }
    std::set<std::string> named;
    for (size_t at = e.body.find("\"atz_"); at != std::string::npos;
         at = e.body.find("\"atz_", at + 1)) {
      const size_t end = e.body.find('"', at + 1);
      if (end == std::string::npos) break;
      named.insert(e.body.substr(at + 1, end - at - 1));
    }
    size_t missing = 0;
    std::string which;
    for (const auto& [id, a] : acked.authorizations) {
      if (named.count(id) == 0 && missing++ == 0) which = id;
    }
    if (missing > 0 && attempt < 25) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    report.Check(e.status == 200 && r.ok() && !r.key_from_bundle,
                 "trail: export of " + std::to_string(r.events) + " events verifies against " +
                     "the pinned key and " + std::to_string(s.checkpoints.size()) +
                     " earlier checkpoints (size " + std::to_string(r.size) + ")" +
                     (e.status == 200 ? "" : " export answered " + std::to_string(e.status)) +
                     findings);
    report.Check(missing == 0, "trail: names every acknowledged authorization (" +
                                   std::to_string(missing) + " missing" +
                                   (which.empty() ? "" : ", first " + which) + "; read " +
                                   std::to_string(attempt + 1) + " time(s))");
    Got c = api.Get("/v1/audit/checkpoint", s.operator_token);
    const std::string note = Str(c.json, "note");
    if (c.status == 200 && !note.empty()) {
      s.checkpoints.push_back(note);
      // The latest few are enough: each was checked against the ones before it.
      if (s.checkpoints.size() > 4) s.checkpoints.erase(s.checkpoints.begin());
    } else {
      report.Fail("trail: latest checkpoint: " + std::to_string(c.status) + " " + c.body);
    }
    break;
  }
  return report;
}

}  // namespace mandated::fault
