// Authorizations under load against the real server binary (durable RocksDB in a temp dir, real
// HTTP on loopback), for DESIGN §2 invariants 1-3:
//  - Concurrency: 64 keep-alive clients fire 10,000 decisions at mandates whose ceilings overlap
//    (per transaction, a calendar day window, a lifetime budget, the parent's limits for a
//    delegated child, the agent's ceiling, the principal's monthly ceiling). From the answers
//    alone: no ceiling is overspent, and every ceiling some denial names is filled to within the
//    smallest amount it refused; the server's headroom agrees with the answers to the unit.
//  - Crash: the same kind of load, with captures and voids, while a killer thread SIGKILLs and
//    restarts the server 5 to 10 times; clients retry with the same Idempotency-Key and body, as
//    a real client does. Afterwards, from what the server stored: no overspend, every
//    acknowledged answer is there unchanged, one authorization per key, every acknowledged
//    capture and void is in place, and headroom equals a recount of the stored records.
// Inputs are drawn from a seed printed by each test; MANDATED_TEST_SEED=<n> replays it.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/amount.h"
#include "base/json.h"
#include "base/random.h"
#include "mandates/credential.h"
#include "signer/did.h"
#include "signer/signature.h"
#include "tests/support/http_json.h"
#include "tests/support/sanitizers.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::kLoadDivisor;
using testing::ResponseJson;
using testing::ServerProcess;
using testing::StringField;

constexpr uint64_t kPerTxMax = 1000;  // every mandate's per-transaction max (USD cents)
constexpr char kRateLimits[] =
    "operator=100000/100000,admin=100000/100000,agent=100000/100000";

uint64_t SeedForTest() {
  if (const char* s = std::getenv("MANDATED_TEST_SEED"); s != nullptr && *s != '\0') {
    return std::strtoull(s, nullptr, 10);
  }
  return std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32);
}

uint64_t ParseAmount(const json::Value* v) {
  if (v == nullptr || !v->is_string()) {
    ADD_FAILURE() << "amount is not a string";
    return 0;
  }
  Result<Amount> a = Amount::Parse(v->as_string());
  if (!a.ok() || !a->fits_uint64()) {
    ADD_FAILURE() << "bad amount " << v->as_string();
    return 0;
  }
  return a->low64();
}

// An IANA zone in which it is now about noon, so a calendar day cannot end during the test.
std::string NoonZone(int64_t now) {
  const int utc_hour = static_cast<int>((now % 86400) / 3600);
  const int offset = 12 - utc_hour;  // -11 .. +12 hours east of UTC
  if (offset == 0) return "UTC";
  // POSIX sign convention: Etc/GMT-5 is five hours east of UTC.
  return offset > 0 ? "Etc/GMT-" + std::to_string(offset) : "Etc/GMT+" + std::to_string(-offset);
}

// Seconds until the current UTC month ends.
int64_t SecondsToMonthEnd(int64_t now) {
  const time_t t = static_cast<time_t>(now);
  struct tm tm_utc;
  gmtime_r(&t, &tm_utc);
  tm_utc.tm_mday = 1;
  tm_utc.tm_hour = tm_utc.tm_min = tm_utc.tm_sec = 0;
  tm_utc.tm_mon += 1;
  return static_cast<int64_t>(timegm(&tm_utc)) - now;
}

// One authorization as the server answered or stored it.
struct Decision {
  std::string id;
  std::string decision;  // allowed | denied | approval_required
  std::string mandate;
  std::string agent;
  std::vector<std::string> chain;
  uint64_t amount = 0;
  std::string state;  // reservation state; "" without a reservation
  uint64_t captured = 0;
  struct Reason {
    std::string code;
    std::string counter;
    std::optional<uint64_t> remaining;
  };
  std::vector<Reason> reasons;
  int64_t created_at = 0;
};

Decision DecisionFromJson(const json::Value& v) {
  Decision d;
  d.id = StringField(v, "id");
  d.decision = StringField(v, "decision");
  d.mandate = StringField(v, "mandate");
  d.agent = StringField(v, "agent");
  if (const json::Value* c = v.Find("chain"); c != nullptr && c->is_array()) {
    for (const json::Value& m : c->items()) d.chain.push_back(m.as_string());
  }
  d.amount = ParseAmount(v.Find("amount"));
  if (const json::Value* r = v.Find("reservation"); r != nullptr && r->is_object()) {
    d.state = StringField(*r, "state");
    d.captured = ParseAmount(r->Find("captured"));
    EXPECT_EQ(ParseAmount(r->Find("amount")), d.amount) << json::Write(v);
  }
  if (const json::Value* rs = v.Find("reasons"); rs != nullptr && rs->is_array()) {
    for (const json::Value& r : rs->items()) {
      Decision::Reason reason{StringField(r, "code"), StringField(r, "counter"), std::nullopt};
      if (r.Find("remaining") != nullptr) reason.remaining = ParseAmount(r.Find("remaining"));
      d.reasons.push_back(std::move(reason));
    }
  }
  if (const json::Value* c = v.Find("created_at"); c != nullptr && c->as_int64()) {
    d.created_at = *c->as_int64();
  }
  return d;
}

// What a hold counts against every counter it is charged to (specs/authorization.md §3).
uint64_t Counted(const Decision& d) {
  if (d.state == "reserved" || d.state == "pending") return d.amount;
  if (d.state == "captured") return d.captured;
  return 0;
}

// A ceiling of the set-up, named as the server names its counter.
struct Ceiling {
  enum class Owner { kPrincipal, kAgent, kMandate };
  std::string counter;
  Owner owner;
  std::string owner_id;
  uint64_t max = 0;

  bool Applies(const Decision& d) const {
    switch (owner) {
      case Owner::kPrincipal:
        return true;
      case Owner::kAgent:
        return d.agent == owner_id;
      case Owner::kMandate:
        return std::find(d.chain.begin(), d.chain.end(), owner_id) != d.chain.end();
    }
    return false;
  }
};

// The limits of one agent's mandates and of the agent itself.
struct AgentPlan {
  uint64_t root_day = 0;
  uint64_t root_lifetime = 0;
  uint64_t child_day = 0;
  uint64_t child_lifetime = 0;
  uint64_t agent_month = 0;  // 0: no agent ceiling
};

struct Plan {
  uint64_t principal_month = 0;
  std::vector<AgentPlan> agents;
  int sessions_per_agent = 0;

  // For a run with 1/d of the requests: every ceiling binds at the same share of the run.
  void DivideLimitsBy(int d) {
    const auto u = static_cast<uint64_t>(d);
    principal_month /= u;
    for (AgentPlan& a : agents) {
      for (uint64_t* limit :
           {&a.root_day, &a.root_lifetime, &a.child_day, &a.child_lifetime, &a.agent_month}) {
        *limit /= u;
      }
    }
  }
};

struct World {
  std::string principal;
  std::string admin;  // admin credential token
  std::string zone;
  std::vector<std::string> agents;
  std::vector<std::string> roots, children;  // by agent
  struct Session {
    std::string token;
    int agent = 0;
  };
  std::vector<Session> sessions;
  std::vector<Ceiling> ceilings;
  std::set<std::string> all_mandates() const {
    std::set<std::string> s(roots.begin(), roots.end());
    s.insert(children.begin(), children.end());
    return s;
  }
};

httplib::Headers Bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

std::string AuthorizeBody(const std::string& mandate, uint64_t amount) {
  return R"({"mandate":")" + mandate +
         R"(","payee":{"type":"domain","value":"api.shop.example"},"amount":")" +
         std::to_string(amount) + R"(","asset":"USD"})";
}

class AuthorizationLoadTest : public ::testing::Test {
 protected:
  void StartServer() {
    server_ = std::make_unique<ServerProcess>(
        dir_.Sub("data"), std::map<std::string, std::string>{},
        // A fixed public host: the service's did:web (and so every issuer DID in the mandates)
        // must not change when a restart lands on another port.
        std::vector<std::string>{"--rate-limits", kRateLimits, "--workers", "64", "--public-host",
                                 "mandated.test"});
    ASSERT_TRUE(server_->Start()) << server_->Stderr();
    Connect();
  }
  void Connect() {
    client_ = std::make_unique<httplib::Client>(server_->host(), server_->port());
    client_->set_keep_alive(true);
    client_->set_read_timeout(60, 0);
  }

  json::Value Call(const std::string& method, const std::string& path, const std::string& token,
                   const std::string& body, int want) {
    httplib::Result r = method == "GET"
                            ? client_->Get(path, Bearer(token))
                            : client_->Post(path, Bearer(token), body, "application/json");
    EXPECT_TRUE(r) << method << " " << path;
    if (!r) return json::Value::Object();
    EXPECT_EQ(r->status, want) << method << " " << path << " " << body << " -> " << r->body;
    return ResponseJson(r);
  }

  // A principal with a monthly ceiling, agents with a root mandate each (per transaction, a
  // calendar day in a zone where it is noon, a lifetime budget), a child of each root delegated
  // by the agent's own session with a narrower day window, and load sessions limited to both.
  void SetUpWorld(const Plan& plan) {
    const std::string op = server_->bootstrap_token();
    const int64_t now = std::time(nullptr);
    w_.zone = NoonZone(now);
    w_.principal = StringField(
        Call("POST", "/v1/principals", op,
             R"({"name":"Load Corp","ceilings":[{"asset":"USD","window":"month","max":")" +
                 std::to_string(plan.principal_month) + R"("}]})",
             201),
        "id");
    ASSERT_FALSE(w_.principal.empty());
    const std::string base = "/v1/principals/" + w_.principal;
    const std::string user = StringField(
        Call("POST", base + "/users", op, R"({"name":"ada","roles":["admin"]})", 201), "id");
    w_.admin = StringField(Call("POST", base + "/credentials", op,
                                R"({"role":"admin","user":")" + user + R"("})", 201),
                           "token");
    ASSERT_FALSE(w_.admin.empty());
    w_.ceilings.push_back(Ceiling{"principal:" + w_.principal + ":month",
                                  Ceiling::Owner::kPrincipal, w_.principal,
                                  plan.principal_month});
    const std::string from = mandates::FormatRfc3339Utc(now - 3600);
    const std::string until = mandates::FormatRfc3339Utc(now + 30 * 86400);
    auto terms = [&](uint64_t day, uint64_t lifetime) {
      return R"({"limits":{"per_transaction":[{"asset":"USD","max":")" +
             std::to_string(kPerTxMax) +
             R"("}],"windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":")" +
             w_.zone + R"(","max":")" + std::to_string(day) +
             R"("}],"lifetime":[{"asset":"USD","max":")" + std::to_string(lifetime) + R"("}]}})";
    };
    auto mandate_ceilings = [&](const std::string& m, uint64_t day, uint64_t lifetime) {
      w_.ceilings.push_back(Ceiling{"mandate:" + m + ":window:day:calendar:" + w_.zone,
                                    Ceiling::Owner::kMandate, m, day});
      w_.ceilings.push_back(
          Ceiling{"mandate:" + m + ":lifetime", Ceiling::Owner::kMandate, m, lifetime});
    };
    for (size_t i = 0; i < plan.agents.size(); ++i) {
      const AgentPlan& ap = plan.agents[i];
      signer::PrivateKey key =
          *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
      const std::string did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(key));
      std::string agent_body = R"({"name":"buyer-)" + std::to_string(i) + R"(","did":")" + did + "\"";
      if (ap.agent_month != 0) {
        agent_body += R"(,"ceilings":[{"asset":"USD","window":"month","max":")" +
                      std::to_string(ap.agent_month) + R"("}])";
      }
      const std::string agent =
          StringField(Call("POST", base + "/agents", w_.admin, agent_body + "}", 201), "id");
      ASSERT_FALSE(agent.empty());
      w_.agents.push_back(agent);
      if (ap.agent_month != 0) {
        w_.ceilings.push_back(Ceiling{"agent:" + agent + ":month", Ceiling::Owner::kAgent, agent,
                                      ap.agent_month});
      }
      const std::string root = StringField(
          Call("POST", base + "/mandates", w_.admin,
               R"({"agent":")" + agent + R"(","valid_from":")" + from + R"(","valid_until":")" +
                   until + R"(","terms":)" + terms(ap.root_day, ap.root_lifetime) + "}",
               201),
          "id");
      ASSERT_FALSE(root.empty());
      // The agent delegates a narrower child to itself with its own session.
      const std::string delegator = StringField(
          Call("POST", base + "/agents/" + agent + "/sessions", w_.admin,
               R"({"task":"delegate"})", 201),
          "token");
      const std::string child = StringField(
          Call("POST", base + "/mandates", delegator,
               R"({"agent":")" + agent + R"(","parent":")" + root + R"(","valid_from":")" + from +
                   R"(","valid_until":")" + until + R"(","terms":)" +
                   terms(ap.child_day, ap.child_lifetime) + "}",
               201),
          "id");
      ASSERT_FALSE(child.empty());
      w_.roots.push_back(root);
      w_.children.push_back(child);
      mandate_ceilings(root, ap.root_day, ap.root_lifetime);
      mandate_ceilings(child, ap.child_day, ap.child_lifetime);
      for (int s = 0; s < plan.sessions_per_agent; ++s) {
        const std::string token = StringField(
            Call("POST", base + "/agents/" + agent + "/sessions", w_.admin,
                 R"({"task":"load )" + std::to_string(s) + R"(","mandates":[")" + root +
                     R"(",")" + child + R"("]})",
                 201),
            "token");
        ASSERT_FALSE(token.empty());
        w_.sessions.push_back(World::Session{token, static_cast<int>(i)});
      }
    }
  }

  // Spent per ceiling, from decisions (each counted as Counted()).
  std::map<std::string, uint64_t> Spent(const std::vector<Decision>& ds) const {
    std::map<std::string, uint64_t> spent;
    for (const Ceiling& c : w_.ceilings) spent[c.counter] = 0;
    for (const Decision& d : ds) {
      const uint64_t n = Counted(d);
      if (n == 0) continue;
      for (const Ceiling& c : w_.ceilings) {
        if (c.Applies(d)) spent[c.counter] += n;
      }
    }
    return spent;
  }

  // Every counter of every mandate's headroom that names a ceiling of the set-up has the
  // recomputed `spent` and the set-up's `max`; every ceiling shows up somewhere.
  void ExpectHeadroomEquals(const std::map<std::string, uint64_t>& spent) {
    std::set<std::string> seen;
    for (const std::string& m : w_.all_mandates()) {
      json::Value h = Call("GET", "/v1/principals/" + w_.principal + "/mandates/" + m + "/headroom",
                           w_.admin, "", 200);
      const json::Value* counters = h.Find("counters");
      ASSERT_TRUE(counters != nullptr && counters->is_array()) << json::Write(h);
      for (const json::Value& c : counters->items()) {
        const std::string name = StringField(c, "counter");
        auto it = std::find_if(w_.ceilings.begin(), w_.ceilings.end(),
                               [&](const Ceiling& x) { return x.counter == name; });
        if (it == w_.ceilings.end()) {
          ADD_FAILURE() << "headroom of " << m << " shows a counter the set-up has not: " << name;
          continue;
        }
        seen.insert(name);
        EXPECT_EQ(ParseAmount(c.Find("max")), it->max) << name;
        EXPECT_EQ(ParseAmount(c.Find("spent")), spent.at(name)) << name;
        EXPECT_EQ(ParseAmount(c.Find("remaining")),
                  it->max >= spent.at(name) ? it->max - spent.at(name) : 0)
            << name;
      }
    }
    for (const Ceiling& c : w_.ceilings) {
      EXPECT_EQ(seen.count(c.counter), 1u) << "no headroom shows " << c.counter;
    }
  }

  // Skips (rather than flakes) in the last minutes of a UTC month, when the monthly ceilings
  // would reset during the run.
  bool TooCloseToMonthEnd() {
    return SecondsToMonthEnd(std::time(nullptr)) < 600;
  }

  testing::TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
  World w_;
};

// ---- Must-show 1: concurrency ----

TEST_F(AuthorizationLoadTest, ConcurrentDecisionsNeverOverspendAndFillEveryBindingCeiling) {
  if (TooCloseToMonthEnd()) GTEST_SKIP() << "a UTC month ends within 10 minutes";
  const uint64_t seed = SeedForTest();
  std::cout << "[ seed     ] MANDATED_TEST_SEED=" << seed << std::endl;
  SCOPED_TRACE("MANDATED_TEST_SEED=" + std::to_string(seed));
  constexpr int kThreads = 64;
  constexpr int kRequests = 10000 / kLoadDivisor;  // and the limits below in proportion

  // Each agent offers about 1.2M cents over ~2,500 requests, half under its root, half under the
  // child. Children's day windows fill first (~10% into the run), then agent 2's own monthly
  // ceiling, agent 0's root lifetime, agent 1's root day window, and the principal's month
  // (~60% in) caps agent 3 and everything after. Agent 3's lifetime never binds.
  Plan plan;
  plan.principal_month = 1000000;
  plan.sessions_per_agent = 16;
  plan.agents = {
      {/*root_day=*/1000000, /*root_lifetime=*/200000, /*child_day=*/60000,
       /*child_lifetime=*/150000, /*agent_month=*/0},
      {250000, 1000000, 60000, 150000, 0},
      {1000000, 1000000, 60000, 150000, 150000},
      {1000000, 1000000, 60000, 150000, 0},
  };
  plan.DivideLimitsBy(kLoadDivisor);
  StartServer();
  ASSERT_NO_FATAL_FAILURE(SetUpWorld(plan));
  ASSERT_EQ(static_cast<int>(w_.sessions.size()), kThreads);

  struct Job {
    int session;
    std::string mandate;
    uint64_t amount;
  };
  std::vector<Job> jobs;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < kRequests; ++i) {
    const int s = i % kThreads;
    const int agent = w_.sessions[s].agent;
    const bool child = (rng() & 1) != 0;
    const uint64_t amount = rng() % 20 == 0 ? kPerTxMax + 1 + rng() % 500 : 1 + rng() % kPerTxMax;
    jobs.push_back(Job{s, child ? w_.children[agent] : w_.roots[agent], amount});
  }

  std::vector<json::Value> answers(kRequests);
  std::mutex errors_mu;
  std::vector<std::string> errors;
  const int port = server_->port();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      c.set_read_timeout(60, 0);
      for (int i = t; i < kRequests; i += kThreads) {
        const Job& job = jobs[i];
        httplib::Headers h = Bearer(w_.sessions[job.session].token);
        h.emplace("Idempotency-Key", "load-" + std::to_string(seed) + "-" + std::to_string(i));
        httplib::Result r =
            c.Post("/v1/authorizations", h, AuthorizeBody(job.mandate, job.amount),
                   "application/json");
        Result<json::Value> body = r ? json::Parse(r->body) : Result<json::Value>(json::Value());
        if (!r || r->status != 201 || !body.ok()) {
          std::lock_guard<std::mutex> lock(errors_mu);
          errors.push_back("request " + std::to_string(i) + ": " +
                           (r ? std::to_string(r->status) + " " + r->body
                              : "no response (" + httplib::to_string(r.error()) + ")"));
          continue;
        }
        answers[i] = std::move(*body);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(errors.empty()) << errors.size() << " requests failed; first: " << errors.front();

  // Per answer: its request, a decision, per-transaction limits.
  std::vector<Decision> decisions;
  std::set<std::string> ids;
  std::map<std::string, int> denial_codes;
  size_t allowed = 0;
  for (int i = 0; i < kRequests; ++i) {
    Decision d = DecisionFromJson(answers[i]);
    ASSERT_EQ(d.amount, jobs[i].amount) << json::Write(answers[i]);
    ASSERT_EQ(d.mandate, jobs[i].mandate);
    ASSERT_TRUE(ids.insert(d.id).second) << "two answers share " << d.id;
    if (d.decision == "allowed") {
      ++allowed;
      EXPECT_EQ(d.state, "reserved");
      EXPECT_TRUE(d.reasons.empty());
      EXPECT_LE(d.amount, kPerTxMax) << "allowed above the per-transaction max: " << d.id;
    } else {
      ASSERT_EQ(d.decision, "denied") << json::Write(answers[i]);
      EXPECT_FALSE(d.reasons.empty());
      for (const Decision::Reason& r : d.reasons) ++denial_codes[r.code];
    }
    if (d.amount > kPerTxMax) {
      EXPECT_EQ(d.decision, "denied");
      const bool above = std::any_of(d.reasons.begin(), d.reasons.end(), [](const auto& r) {
        return r.code == "amount-above-maximum";
      });
      EXPECT_TRUE(above) << json::Write(answers[i]);
    }
    decisions.push_back(std::move(d));
  }

  // No ceiling is overspent.
  const std::map<std::string, uint64_t> spent = Spent(decisions);
  for (const Ceiling& c : w_.ceilings) {
    EXPECT_LE(spent.at(c.counter), c.max) << "overspent: " << c.counter;
  }

  // Filled to within one transaction. Nothing is released in this test, so each counter's spend
  // only grows: when a denial says counter C had `remaining` < amount left, C's final headroom
  // is at most that `remaining` (so the denial was not spurious) and below the amount refused
  // (so C ended filled to within the smallest amount it refused, <= the per-transaction max).
  std::map<std::string, uint64_t> smallest_refused;
  for (const Decision& d : decisions) {
    if (d.decision != "denied" || d.amount > kPerTxMax) continue;
    bool named_counter = false;
    for (const Decision::Reason& r : d.reasons) {
      auto it = std::find_if(w_.ceilings.begin(), w_.ceilings.end(),
                             [&](const Ceiling& c) { return c.counter == r.counter; });
      if (it == w_.ceilings.end()) {
        ADD_FAILURE() << "denial " << d.id << " names " << r.code << " on unknown counter '"
                      << r.counter << "'";
        continue;
      }
      named_counter = true;
      EXPECT_TRUE(it->Applies(d)) << d.id << " denied on " << r.counter << ", not its counter";
      const uint64_t left = it->max - std::min(it->max, spent.at(r.counter));
      ASSERT_TRUE(r.remaining.has_value()) << d.id;
      EXPECT_LT(*r.remaining, d.amount) << d.id << " " << r.counter;
      EXPECT_LE(left, *r.remaining) << d.id << " denied on " << r.counter << " with "
                                    << *r.remaining << " left, but it ends with " << left;
      auto [s, inserted] = smallest_refused.emplace(r.counter, d.amount);
      if (!inserted) s->second = std::min(s->second, d.amount);
    }
    EXPECT_TRUE(named_counter) << "denial within the per-transaction max without a counter: "
                               << d.id;
  }
  for (const auto& [counter, refused] : smallest_refused) {
    const Ceiling& c = *std::find_if(w_.ceilings.begin(), w_.ceilings.end(),
                                     [&](const Ceiling& x) { return x.counter == counter; });
    EXPECT_LT(c.max - spent.at(counter), refused)
        << counter << " ends " << c.max - spent.at(counter) << " short of its max yet refused "
        << refused;
    EXPECT_LT(c.max - spent.at(counter), kPerTxMax) << counter;
  }
  // The ceilings the plan makes bind did bind.
  std::set<std::string> filled;
  for (const auto& [counter, refused] : smallest_refused) filled.insert(counter);
  std::set<std::string> expected = {
      "principal:" + w_.principal + ":month",
      "mandate:" + w_.roots[0] + ":lifetime",
      "mandate:" + w_.roots[1] + ":window:day:calendar:" + w_.zone,
      "agent:" + w_.agents[2] + ":month",
  };
  for (const std::string& child : w_.children) {
    expected.insert("mandate:" + child + ":window:day:calendar:" + w_.zone);
  }
  // A planned ceiling may be left short only when a filled ceiling stood over every request
  // that counted against it (the principal's month filling first, in some interleavings): the
  // offered load could then no longer fill it.
  auto ceiling_of = [&](const std::string& counter) -> const Ceiling& {
    return *std::find_if(w_.ceilings.begin(), w_.ceilings.end(),
                         [&](const Ceiling& x) { return x.counter == counter; });
  };
  auto shadowed = [&](const Ceiling& e) {
    return std::any_of(filled.begin(), filled.end(), [&](const std::string& f) {
      const Ceiling& over = ceiling_of(f);
      auto covered = [&](const Decision& d) { return !e.Applies(d) || over.Applies(d); };
      return f != e.counter && std::all_of(decisions.begin(), decisions.end(), covered);
    });
  };
  for (const std::string& e : expected) {
    EXPECT_TRUE(filled.count(e) == 1 || shadowed(ceiling_of(e)))
        << "the load did not fill " << e << ", and no filled ceiling over it stopped it";
  }
  // The lifetime of agent 3's root never binds (the principal's month does first).
  EXPECT_EQ(filled.count("mandate:" + w_.roots[3] + ":lifetime"), 0u);

  // The server's own view of every counter equals the sums of the answers.
  ExpectHeadroomEquals(spent);

  std::cout << "[ figures  ] " << kRequests << " requests by " << kThreads << " clients in "
            << seconds << " s (" << static_cast<int>(kRequests / seconds) << "/s); " << allowed
            << " allowed; " << filled.size() << " ceilings filled; day windows in " << w_.zone
            << std::endl;
  for (const Ceiling& c : w_.ceilings) {
    std::cout << "[ ceiling  ] " << c.counter << " " << spent.at(c.counter) << "/" << c.max
              << (filled.count(c.counter) ? " filled" : "") << std::endl;
  }
  for (const auto& [code, n] : denial_codes) {
    std::cout << "[ reasons  ] " << code << " x" << n << std::endl;
  }
}

// ---- Must-show 2: crashes ----

// A client as a real one behaves: one keep-alive connection to wherever the server is now, and
// every request retried with the same Idempotency-Key and body until it gets an answer.
class RetryingClient {
 public:
  struct Outcome {
    int status = 0;
    std::string body;
    bool replayed = false;      // Idempotent-Replayed: true
    int failed_attempts = 0;    // attempts without an answer (connection lost) or 5xx
    std::string last_failure;   // what the last retried attempt got
  };

  RetryingClient(const std::atomic<int>& port, std::chrono::steady_clock::time_point deadline)
      : port_(port), deadline_(deadline) {}

  // Retries on no answer, 5xx, 429 and 409 idempotency-key-in-flight / reservation-busy (the
  // first attempt may still be running on a server that has not noticed the lost connection).
  // An empty Outcome (status 0) when the deadline passed.
  Outcome Post(const std::string& path, const std::string& token, const std::string& key,
               const std::string& body) {
    Outcome out;
    httplib::Headers h = Bearer(token);
    h.emplace("Idempotency-Key", key);
    while (std::chrono::steady_clock::now() < deadline_) {
      if (!client_ || client_port_ != port_.load()) {
        client_port_ = port_.load();
        client_ = std::make_unique<httplib::Client>("127.0.0.1", client_port_);
        client_->set_keep_alive(true);
        client_->set_connection_timeout(2, 0);
        client_->set_read_timeout(30, 0);
      }
      httplib::Result r = client_->Post(path, h, body, "application/json");
      if (!r || r->status >= 500) {
        ++out.failed_attempts;
        out.last_failure = r ? std::to_string(r->status) + " " + r->body
                             : "port " + std::to_string(client_port_) + ": " +
                                   httplib::to_string(r.error());
        client_.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      const bool transient =
          r->status == 429 ||
          (r->status == 409 &&
           (r->body.find("idempotency-key-in-flight") != std::string::npos ||
            r->body.find("reservation-busy") != std::string::npos));
      if (transient) {
        out.last_failure = std::to_string(r->status) + " " + r->body;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      out.status = r->status;
      out.body = r->body;
      out.replayed = r->get_header_value("Idempotent-Replayed") == "true";
      return out;
    }
    return out;
  }

 private:
  const std::atomic<int>& port_;
  std::chrono::steady_clock::time_point deadline_;
  int client_port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(AuthorizationLoadTest, KilledServerKeepsEveryAnswerAndNeverOverspends) {
  if (TooCloseToMonthEnd()) GTEST_SKIP() << "a UTC month ends within 10 minutes";
  const uint64_t seed = SeedForTest();
  std::cout << "[ seed     ] MANDATED_TEST_SEED=" << seed << std::endl;
  SCOPED_TRACE("MANDATED_TEST_SEED=" + std::to_string(seed));
  constexpr int kThreads = 32;
  constexpr int kRequests = 3000 / kLoadDivisor;  // and the limits below in proportion

  // About 0.36M cents offered per agent; voids give some of it back.
  Plan plan;
  plan.principal_month = 300000;
  plan.sessions_per_agent = 8;
  plan.agents = {
      {300000, 60000, 20000, 45000, 0},
      {75000, 300000, 20000, 45000, 0},
      {300000, 300000, 20000, 45000, 45000},
      {300000, 300000, 20000, 45000, 0},
  };
  plan.DivideLimitsBy(kLoadDivisor);
  StartServer();
  ASSERT_NO_FATAL_FAILURE(SetUpWorld(plan));
  ASSERT_EQ(static_cast<int>(w_.sessions.size()), kThreads);

  // What each client does: authorize; then, for an allowed one, capture (all or part), void, or
  // leave it reserved.
  enum class Then { kNothing, kCaptureAll, kCapturePart, kVoid };
  struct Job {
    int session;
    std::string mandate;
    uint64_t amount;
    Then then;
    uint64_t part;  // for kCapturePart, 1..amount
  };
  std::vector<Job> jobs;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < kRequests; ++i) {
    const int s = i % kThreads;
    const int agent = w_.sessions[s].agent;
    const bool child = (rng() & 1) != 0;
    const uint64_t amount = rng() % 20 == 0 ? kPerTxMax + 1 + rng() % 500 : 1 + rng() % kPerTxMax;
    const uint64_t r = rng() % 10;
    const Then then = r < 2 ? Then::kCaptureAll
                            : r < 4 ? Then::kCapturePart : r < 6 ? Then::kVoid : Then::kNothing;
    jobs.push_back(Job{s, child ? w_.children[agent] : w_.roots[agent], amount, then,
                       1 + rng() % amount});
  }
  // Kill points: after this many acknowledged authorizations.
  const int kills = 5 + static_cast<int>(rng() % 6);
  std::vector<int> kill_at;
  for (int k = 0; k < kills; ++k) {
    kill_at.push_back(kRequests / 20 + static_cast<int>(rng() % (kRequests * 17 / 20)));
  }
  std::sort(kill_at.begin(), kill_at.end());
  std::vector<int> kill_jitter_us;
  for (int k = 0; k < kills; ++k) kill_jitter_us.push_back(static_cast<int>(rng() % 20000));

  struct Acked {
    std::string key, path, body;  // the request
    int status = 0;
    std::string answer;  // the acknowledged body
    bool replayed = false;
    int failed_attempts = 0;
  };
  std::vector<Acked> authorize_acks(kRequests);
  std::vector<std::optional<Acked>> follow_acks(kRequests);  // capture or void
  std::mutex errors_mu;
  std::vector<std::string> errors;
  auto error = [&](std::string e) {
    std::lock_guard<std::mutex> lock(errors_mu);
    errors.push_back(std::move(e));
  };

  std::atomic<int> port{server_->port()};
  std::atomic<int> acked{0};
  std::atomic<bool> load_done{false};
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(std::getenv("MANDATED_TEST_DEADLINE_S") ? std::atoi(std::getenv("MANDATED_TEST_DEADLINE_S")) : 240);
  int kills_done = 0;
  std::thread killer([&] {
    for (int k = 0; k < kills; ++k) {
      while (acked.load() < kill_at[k] && !load_done.load()) {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
      if (load_done.load()) break;
      std::this_thread::sleep_for(std::chrono::microseconds(kill_jitter_us[k]));
      server_->Kill();
      ++kills_done;
      if (!server_->Start()) {
        error("restart " + std::to_string(k + 1) + " failed: " + server_->Stderr());
        return;
      }
      port.store(server_->port());
    }
  });

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      RetryingClient c(port, deadline);
      for (int i = t; i < kRequests; i += kThreads) {
        const Job& job = jobs[i];
        const std::string& token = w_.sessions[job.session].token;
        Acked a;
        a.key = "crash-" + std::to_string(seed) + "-" + std::to_string(i);
        a.path = "/v1/authorizations";
        a.body = AuthorizeBody(job.mandate, job.amount);
        RetryingClient::Outcome o = c.Post(a.path, token, a.key, a.body);
        if (o.status != 201) {
          error("authorize " + std::to_string(i) + ": " + std::to_string(o.status) + " " + o.body +
                (o.status == 0 ? " (gave up; last: " + o.last_failure + ")" : ""));
          continue;
        }
        a.status = o.status;
        a.answer = o.body;
        a.replayed = o.replayed;
        a.failed_attempts = o.failed_attempts;
        Result<json::Value> v = json::Parse(o.body);
        if (!v.ok()) {
          error("authorize " + std::to_string(i) + " answered " + o.body);
          continue;
        }
        authorize_acks[i] = a;
        acked.fetch_add(1);
        if (StringField(*v, "decision") != "allowed" || job.then == Then::kNothing) continue;
        const std::string id = StringField(*v, "id");
        Acked f;
        if (job.then == Then::kVoid) {
          f.key = "void-" + std::to_string(seed) + "-" + std::to_string(i);
          f.path = "/v1/authorizations/" + id + "/void";
        } else {
          f.key = "capture-" + std::to_string(seed) + "-" + std::to_string(i);
          f.path = "/v1/authorizations/" + id + "/capture";
          if (job.then == Then::kCapturePart) {
            f.body = R"({"amount":")" + std::to_string(job.part) + R"("})";
          }
        }
        RetryingClient::Outcome fo = c.Post(f.path, token, f.key, f.body);
        if (fo.status != 200) {
          error(f.path + ": " + std::to_string(fo.status) + " " + fo.body +
                (fo.status == 0 ? " (gave up; last: " + fo.last_failure + ")" : ""));
          continue;
        }
        f.status = fo.status;
        f.answer = fo.body;
        f.replayed = fo.replayed;
        f.failed_attempts = fo.failed_attempts;
        follow_acks[i] = f;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  load_done.store(true);
  killer.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(errors.empty()) << errors.size() << " failures; first: " << errors.front()
                              << "\nlast: " << errors.back() << "\nserver log tail: "
                              << server_->Stderr().substr(
                                     server_->Stderr().size() -
                                     std::min<size_t>(3000, server_->Stderr().size()));
  EXPECT_GE(kills_done, 5) << "the load ended before the kills did";

  // One last crash, so every check below reads what was rebuilt from storage.
  server_->Kill();
  ASSERT_TRUE(server_->Start()) << server_->Stderr();
  Connect();

  // The stored authorizations, listed page by page.
  std::map<std::string, Decision> stored;
  std::string after;
  for (int page = 0; page < 100; ++page) {
    json::Value list = Call("GET",
                            "/v1/principals/" + w_.principal + "/authorizations?limit=1000" +
                                (after.empty() ? "" : "&after=" + after),
                            w_.admin, "", 200);
    const json::Value* items = list.Find("items");
    ASSERT_TRUE(items != nullptr && items->is_array()) << json::Write(list);
    for (const json::Value& it : items->items()) {
      Decision d = DecisionFromJson(it);
      ASSERT_TRUE(stored.emplace(d.id, d).second) << "listed twice: " << d.id;
    }
    after = StringField(list, "next_after");
    if (after.empty()) break;
  }

  // (a) No overspend in what the server stored (and so in what it counts after a crash).
  std::vector<Decision> stored_list;
  for (const auto& [id, d] : stored) stored_list.push_back(d);
  const std::map<std::string, uint64_t> spent = Spent(stored_list);
  for (const Ceiling& c : w_.ceilings) {
    EXPECT_LE(spent.at(c.counter), c.max) << "overspent after crashes: " << c.counter;
  }
  for (const Decision& d : stored_list) {
    if (d.decision == "allowed") {
      EXPECT_LE(d.amount, kPerTxMax) << d.id;
    }
  }

  // (b) Every acknowledged decision is stored with the same decision and amount, and (c) each
  // key made exactly one authorization: every key got an answer (clients retry until they do),
  // their ids are distinct, and the store holds exactly those ids, so no first attempt whose
  // answer was lost left a second authorization behind.
  std::set<std::string> acked_ids;
  size_t allowed = 0, replayed = 0, retried = 0, captures = 0, voids = 0;
  for (int i = 0; i < kRequests; ++i) {
    const Acked& a = authorize_acks[i];
    ASSERT_EQ(a.status, 201) << "request " << i << " has no answer";
    Decision d = DecisionFromJson(*json::Parse(a.answer));
    EXPECT_EQ(d.amount, jobs[i].amount);
    EXPECT_EQ(d.mandate, jobs[i].mandate);
    ASSERT_TRUE(acked_ids.insert(d.id).second) << "two keys answered with " << d.id;
    replayed += a.replayed ? 1 : 0;
    retried += a.failed_attempts > 0 ? 1 : 0;
    allowed += d.decision == "allowed" ? 1 : 0;
    auto it = stored.find(d.id);
    ASSERT_NE(it, stored.end()) << "acknowledged " << d.id << " (key " << a.key
                                << ") is not stored";
    EXPECT_EQ(it->second.decision, d.decision) << d.id;
    EXPECT_EQ(it->second.amount, d.amount) << d.id;
    EXPECT_EQ(it->second.mandate, d.mandate) << d.id;
    EXPECT_EQ(it->second.created_at, d.created_at) << d.id;
    json::Value got = Call("GET", "/v1/principals/" + w_.principal + "/authorizations/" + d.id,
                           w_.admin, "", 200);
    EXPECT_EQ(StringField(got, "decision"), d.decision) << d.id;
    EXPECT_EQ(ParseAmount(got.Find("amount")), d.amount) << d.id;

    // (d) Captures and voids: acknowledged ones are in place; no hold was released twice or
    // lost (an allowed one nobody touched is still reserved, for its full amount).
    const Decision& s = it->second;
    if (d.decision != "allowed") {
      EXPECT_EQ(s.state, "") << d.id;
      continue;
    }
    if (!follow_acks[i]) {
      EXPECT_EQ(jobs[i].then, Then::kNothing) << d.id;
      EXPECT_EQ(s.state, "reserved") << d.id;
      continue;
    }
    const Acked& f = *follow_acks[i];
    replayed += f.replayed ? 1 : 0;
    retried += f.failed_attempts > 0 ? 1 : 0;
    Decision answered = DecisionFromJson(*json::Parse(f.answer));
    EXPECT_EQ(answered.id, d.id);
    if (jobs[i].then == Then::kVoid) {
      ++voids;
      EXPECT_EQ(answered.state, "voided") << f.answer;
      EXPECT_EQ(s.state, "voided") << d.id;
    } else {
      ++captures;
      const uint64_t want = jobs[i].then == Then::kCaptureAll ? d.amount : jobs[i].part;
      EXPECT_EQ(answered.state, "captured") << f.answer;
      EXPECT_EQ(answered.captured, want) << f.answer;
      EXPECT_EQ(s.state, "captured") << d.id;
      EXPECT_EQ(s.captured, want) << d.id;
    }
  }
  EXPECT_EQ(stored.size(), acked_ids.size()) << "the store holds authorizations no key answered";
  for (const auto& [id, d] : stored) {
    EXPECT_EQ(acked_ids.count(id), 1u) << "stored " << id << " was never acknowledged";
  }
  EXPECT_GT(retried, 0u) << "no request was cut off by a kill";

  // Idempotency across crashes: every acknowledged request, sent again now with its key and
  // body, gets the acknowledged answer back byte for byte.
  {
    std::vector<const Acked*> all;
    std::vector<std::string> tokens;
    for (int i = 0; i < kRequests; ++i) {
      all.push_back(&authorize_acks[i]);
      tokens.push_back(w_.sessions[jobs[i].session].token);
      if (follow_acks[i]) {
        all.push_back(&*follow_acks[i]);
        tokens.push_back(w_.sessions[jobs[i].session].token);
      }
    }
    std::atomic<size_t> next{0};
    std::atomic<int> mismatches{0};
    std::string first_mismatch;
    std::mutex mu;
    std::vector<std::thread> replayers;
    const int p = server_->port();
    for (int t = 0; t < 16; ++t) {
      replayers.emplace_back([&] {
        httplib::Client c("127.0.0.1", p);
        c.set_keep_alive(true);
        for (size_t n = next++; n < all.size(); n = next++) {
          httplib::Headers h = Bearer(tokens[n]);
          h.emplace("Idempotency-Key", all[n]->key);
          httplib::Result r = c.Post(all[n]->path, h, all[n]->body, "application/json");
          if (!r || r->status != all[n]->status || r->body != all[n]->answer ||
              r->get_header_value("Idempotent-Replayed") != "true") {
            if (mismatches++ == 0) {
              std::lock_guard<std::mutex> lock(mu);
              first_mismatch = all[n]->path + " key " + all[n]->key + ": acknowledged " +
                               all[n]->answer + "; now " +
                               (r ? std::to_string(r->status) + " " + r->body : "no response");
            }
          }
        }
      });
    }
    for (std::thread& th : replayers) th.join();
    EXPECT_EQ(mismatches.load(), 0) << first_mismatch;
  }

  // The server's counters, rebuilt from storage, equal a recount of the stored records.
  ExpectHeadroomEquals(spent);

  std::set<std::string> filled;
  for (const Ceiling& c : w_.ceilings) {
    if (c.max - spent.at(c.counter) < kPerTxMax) filled.insert(c.counter);
  }
  std::cout << "[ figures  ] " << kRequests << " authorizations by " << kThreads << " clients, "
            << captures << " captures, " << voids << " voids in " << seconds << " s; "
            << kills_done << " kills + 1; " << allowed << " allowed; " << retried
            << " requests retried after a lost connection, " << replayed
            << " answered by replay; " << filled.size() << " ceilings within one transaction of"
            << " full" << std::endl;
  for (const Ceiling& c : w_.ceilings) {
    std::cout << "[ ceiling  ] " << c.counter << " " << spent.at(c.counter) << "/" << c.max
              << std::endl;
  }
}

}  // namespace
}  // namespace mandated
