// The realistic audit event mix shared by bench/audit_bench.cc and bench/audit_fixture.cc: a
// seeded generator of the events a running service would stage, staged through audit::Stage.
//
// 100 principals, 400 agents active at any time, each agent living for 60 purchases with one
// mandate per 20 and one session per 5; a purchase is authorization.decided, then
// approval.approved for one in five, then authorization.captured (four in five) or .voided;
// every data member is about 500 bytes. The stream depends only on the seed, so a tool can
// regenerate it to find the purchases a stored log holds, or skip what a store already has.
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "audit/event.h"
#include "store/kv_store.h"

namespace mandated::audit::bench_mix {

inline std::string Id(const char* prefix, uint64_t n) {
  char buf[40];
  snprintf(buf, sizeof(buf), "%s_%016" PRIx64, prefix, static_cast<uint64_t>(n * 0x9e3779b97f4a7c15ULL));
  return buf;
}

// A data member of about 500 bytes shaped like a stored authorization (or other record).
inline std::string Data(const std::string& type, const std::string& id, uint64_t n) {
  std::string d = "{\"id\":\"" + id + "\",\"type\":\"" + type +
                  "\",\"amount\":{\"value\":\"" + std::to_string(n % 50000 / 100) + "." +
                  std::to_string(10 + n % 90) +
                  "\",\"currency\":\"EUR\"},\"payee\":{\"did\":\"did:web:shop" +
                  std::to_string(n % 997) +
                  ".example\",\"domain\":\"shop.example\"},\"decision\":\"allowed\","
                  "\"reasons\":[{\"code\":\"within-limits\",\"detail\":\"per_transaction and "
                  "daily budget\"},{\"code\":\"payee-allowed\"}],\"reservation\":{\"state\":"
                  "\"held\",\"amount\":\"12.34\",\"lease_expires_at\":\"2026-12-05T10:46:07Z\"},"
                  "\"policy_version\":\"pol_7\",\"created_at\":\"2026-12-05T10:41:07Z\",\"pad\":\"";
  if (d.size() < 496) d.append(496 - d.size(), 'x');
  d += "\"}";
  return d;
}

// Generates the mixed event stream (see the file comment) and stages it in write batches, as
// domain modules do (each change's batch carries its event; here `batch_events` per batch to
// build fast). Records probe purchases (decided, approved, captured) to query and, when asked,
// every purchase. Thread safety: none.
class Filler {
 public:
  static constexpr int kPrincipals = 100;
  static constexpr int kActiveAgents = 400;
  static constexpr int kPurchasesPerAgent = 60;
  static constexpr int kPurchasesPerMandate = 20;
  static constexpr int kPurchasesPerSession = 5;

  struct Probe {
    std::string authorization;
    uint64_t last_seq;  // the purchase is complete once the log holds this many events
  };
  // Any purchase: its authorization is Id("atz", number).
  struct Purchase {
    uint64_t number;
    uint64_t last_seq;  // as Probe::last_seq
    uint32_t events;    // its own events (2 or 3)
  };

  explicit Filler(uint64_t seed = 42, bool record_purchases = false)
      : rng_(seed), record_purchases_(record_purchases) {}

  // Stages events until exactly `target` are staged (a purchase may straddle two calls).
  // Returns the first failed write, if any (the events of a failed batch count as staged).
  Status StageUntil(store::KvStore& kv, uint64_t target, size_t batch_events = 64) {
    store::WriteBatch batch;
    Status first;
    while (staged_ < target) {
      Event& e = NextEvent();
      e.at_micros = 1796467267000000 + static_cast<int64_t>(staged_) * 1000;
      if (e.data_json.empty()) {
        e.data_json = Data(e.type, e.subjects.empty() ? "" : e.subjects[0].second, staged_);
      }
      Stage(batch, e);
      ++staged_;
      if (batch.size() >= batch_events) {
        Status s = kv.Write(batch, store::Durability::kNoSync);
        if (first.ok()) first = s;
        batch = store::WriteBatch();
      }
    }
    if (!batch.empty()) {
      Status s = kv.Write(batch, store::Durability::kNoSync);
      if (first.ok()) first = s;
    }
    return first;
  }
  // Generates events until `target` are generated, staging none (the store already holds them).
  void SkipUntil(uint64_t target) {
    while (staged_ < target) {
      NextEvent();
      ++staged_;
    }
  }
  uint64_t staged() const { return staged_; }
  const std::vector<Probe>& probes() const { return probes_; }
  // Every purchase generated so far (only with record_purchases).
  const std::vector<Purchase>& purchases() const { return purchases_; }

 private:
  struct Agent {
    uint64_t n = 0;
    int principal = 0;
    int purchases = 0;
    std::string id, mandate, session;
  };

  Event& NextEvent() {
    if (next_ == pending_.size()) {
      pending_.clear();
      next_ = 0;
      Next();
    }
    return pending_[next_++];
  }

  void Emit(Event& e) {
    pending_.push_back(std::move(e));
    ++generated_;
  }

  void Next() {
    if (agents_.empty()) agents_.resize(kActiveAgents);
    rng_ = rng_ * 6364136223846793005ULL + 1442695040888963407ULL;
    Agent& a = agents_[(rng_ >> 33) % kActiveAgents];
    const std::string principal = Id("prn", static_cast<uint64_t>(a.principal));
    if (a.id.empty() || a.purchases == kPurchasesPerAgent) {
      if (!a.session.empty()) EndSession(a, principal);
      a = Agent();
      a.n = ++agent_count_;
      a.principal = static_cast<int>(a.n % kPrincipals);
      a.id = Id("agt", a.n);
      Event e;
      e.type = "agent.created";
      e.principal = Id("prn", static_cast<uint64_t>(a.principal));
      e.actor = Actor::Credential(Id("crd", static_cast<uint64_t>(a.principal)), "admin");
      e.Subject("agent", a.id);
      Emit(e);
      return;
    }
    if (a.purchases % kPurchasesPerMandate == 0 && a.mandate.empty()) {
      a.mandate = Id("mnd", ++mandate_count_);
      Event e;
      e.type = "mandate.issued";
      e.principal = principal;
      e.actor = Actor::Credential(Id("crd", static_cast<uint64_t>(a.principal)), "admin");
      e.Subject("mandate", a.mandate).Subject("agent", a.id);
      Emit(e);
      return;
    }
    if (a.session.empty()) {
      a.session = Id("ses", ++session_count_);
      Event e;
      e.type = "session.opened";
      e.principal = principal;
      e.Subject("session", a.session).Subject("agent", a.id);
      Emit(e);
      return;
    }
    // One purchase.
    const uint64_t p = ++purchase_count_;
    const std::string atz = Id("atz", p);
    const bool approval = p % 5 == 0;
    const bool captured = p % 5 != 1;
    auto purchase_event = [&](const char* type) {
      Event e;
      e.type = type;
      e.principal = principal;
      e.actor = Actor::Session(a.session);
      e.Subject("authorization", atz).Subject("mandate", a.mandate).Subject("agent", a.id)
          .Subject("session", a.session);
      if (approval) e.Subject("approval", Id("apr", p));
      Emit(e);
    };
    purchase_event("authorization.decided");
    if (approval) purchase_event("approval.approved");
    purchase_event(captured ? "authorization.captured" : "authorization.voided");
    if (approval && captured) probes_.push_back(Probe{atz, generated_});
    if (record_purchases_) purchases_.push_back(Purchase{p, generated_, approval ? 3u : 2u});
    ++a.purchases;
    if (a.purchases % kPurchasesPerMandate == 0) a.mandate.clear();
    if (a.purchases % kPurchasesPerSession == 0) EndSession(a, principal);
  }

  void EndSession(Agent& a, const std::string& principal) {
    Event e;
    e.type = "session.ended";
    e.principal = principal;
    e.Subject("session", a.session).Subject("agent", a.id);
    e.data_json = "{\"revoked_reason\":\"ended\"}";
    Emit(e);
    a.session.clear();
  }

  std::vector<Agent> agents_;
  std::vector<Probe> probes_;
  std::vector<Purchase> purchases_;
  std::vector<Event> pending_;  // generated, not yet staged
  size_t next_ = 0;
  uint64_t staged_ = 0, generated_ = 0, rng_;
  bool record_purchases_;
  uint64_t agent_count_ = 0, mandate_count_ = 0, session_count_ = 0, purchase_count_ = 0;
};

}  // namespace mandated::audit::bench_mix
