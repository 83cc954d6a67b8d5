// Race tests (specs/testing.md §Races): the real service in-process (real RocksDB, real HTTP on
// loopback, a fake clock), hammered from many threads at once, then checked from what it stored.
// Built and run under ThreadSanitizer by scripts/race.sh; an ordinary test in the other presets.
//  - One mandate: workers authorize, capture (whole or part), void and leave holds to lapse while
//    another thread moves the clock (so leases expire under the workers and the sweeper writes
//    them down) and another revokes the mandate midway. Afterwards: no overspend (the captured
//    amounts plus the holds still live stay within the lifetime budget, by recount and by the
//    server's own counter); nothing is allowed once the revocation was acknowledged; after a
//    restart every acknowledged decision, capture and void is stored as answered; the mandate's
//    audit export verifies offline.
//  - One x402 payment settled by many merchants' requests at once: one answer for all, exactly
//    one ledger transfer, balances moved once.
//  - Usage batches with overlapping ids posted from many threads (written without the meter's
//    lock) while aggregates are read: each id accepted once, totals exact, also after a restart.
//  - One agent ceiling filled at once by AP2 closings the agent signs (the principal's AP2
//    closings lock, then its Authorizer lock) and by purchases under a vc+jwt mandate that are captured, partly
//    captured or voided (the principal's lock, then the authority's guard): never past the
//    ceiling, the server's counter equal to the recount of what was acknowledged, also after a
//    restart.
//  - AP2 payment mandates issued for one checkout mandate while it is revoked, beside payment
//    mandates issued for nothing (issuance and revocation take the principal's AP2 closings
//    lock): each took its own status list entry, every one issued for the checkout is either
//    refused as revoked or set in the list by the revocation (none stays valid), the others stay
//    valid, also after a restart.
//  - The principal's issuer key rotated again and again while agents authorize and an admin
//    issues mandates: no request fails for it, and every signature names one of the keys.
// Inputs are drawn from a seed printed by each test; MANDATED_TEST_SEED=<n> replays it (thread
// interleavings are not replayed, only the choices).
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/app.h"
#include "audit/bundle.h"
#include "base/amount.h"
#include "base/json.h"
#include "base/random.h"
#include "mandates/credential.h"
#include "mandates/status_list.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"
#include "tests/support/ap2_closing.h"
#include "tests/support/fake_clock.h"
#include "tests/support/http_json.h"
#include "tests/support/in_process_service.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::Reply;
using testing::StringField;

constexpr char kOperatorToken[] = "race-test-operator-token-5d20c7";
constexpr int64_t kStart = 1795000000;  // 2026-11-18T08:26:40Z
constexpr uint64_t kBudget = 20000;     // the mandate's lifetime budget, USD cents
constexpr int64_t kLeaseSeconds = 20;   // reservation_ttl_s
constexpr int kWorkers = 6;
constexpr int kOpsPerWorker = 40;

uint64_t SeedForTest() {
  uint64_t seed = 0;
  if (const char* s = std::getenv("MANDATED_TEST_SEED"); s != nullptr && *s != '\0') {
    seed = std::strtoull(s, nullptr, 10);
  } else {
    seed = std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32);
  }
  std::cout << "MANDATED_TEST_SEED=" << seed << std::endl;
  return seed;
}

uint64_t AmountOf(const json::Value* v) {
  if (v == nullptr || !v->is_string()) {
    return 0;
  }
  Result<Amount> a = Amount::Parse(v->as_string());
  return a.ok() && a->fits_uint64() ? a->low64() : 0;
}

const json::Value& Member(const json::Value& v, const char* key) {
  static const json::Value kNull;
  const json::Value* m = v.is_object() ? v.Find(key) : nullptr;
  return m != nullptr ? *m : kNull;
}

// What workers saw go wrong, reported from the test's thread once they are done.
// Thread safety: operator() from any thread; Report from one, after the workers.
class Failures {
 public:
  void operator()(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(what);
  }
  void Report() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& f : seen_) ADD_FAILURE() << f;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> seen_;
};

// A thread's own connection, as a separate client of the service would have.
Reply SendOn(httplib::Client& c, const std::string& method, const std::string& path,
             const std::string& token, const std::string& body, const std::string& key) {
  return testing::Send(c, method, path, token, body, key);
}

class RaceTest : public ::testing::Test {
 protected:
  void Boot(int64_t start, const std::string& principal_body) {
    clock_ = std::make_unique<testing::FakeClock>(start);
    StartService();
    ASSERT_NE(service_.app(), nullptr);
    const testing::PrincipalWithAdmin p =
        testing::CreatePrincipalWithAdmin(service_.client(), kOperatorToken, principal_body);
    base_ = p.base;
    admin_ = p.admin;
  }
  void StartService() {
    service_.Start(dir_.Sub("data"), kOperatorToken, clock_.get(), [](api::ServerConfig& c) {
      c.public_host = "mandated.test";
      c.reservation_ttl_s = kLeaseSeconds;
      c.worker_threads = 8;
      c.log_level = "warn";  // thousands of request lines would bury a report
    });
  }
  void Restart() {
    service_.Stop();
    StartService();
    ASSERT_NE(service_.app(), nullptr);
  }
  json::Value Call(const std::string& method, const std::string& path, const std::string& token,
                   const std::string& body, int want, const std::string& key = "") {
    return testing::Call(service_.client(), method, path, token, body, want, key);
  }
  std::unique_ptr<httplib::Client> Client() {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", service_.port());
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
    c->set_read_timeout(60, 0);
    return c;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::FakeClock> clock_;
  testing::InProcessService service_;
  std::string base_, admin_;
};

// What a worker was told, and so what must be stored afterwards.
struct Acked {
  std::string decision;  // allowed | denied
  uint64_t amount = 0;
  std::string final_state;  // "captured", "voided" when a capture/void was acknowledged
  uint64_t captured = 0;
  int64_t expires_at = 0;
  bool requested_after_revocation = false;
};

TEST_F(RaceTest, OneMandateUnderConcurrentAuthorizeCaptureVoidExpireAndRevoke) {
  const uint64_t seed = SeedForTest();
  Boot(kStart, R"({"name":"Race Corp"})");
  signer::PrivateKey key = *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
  const std::string did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(key));
  const std::string agent = StringField(
      Call("POST", base_ + "/agents", admin_, R"({"name":"racer","did":")" + did + R"("})", 201),
      "id");
  const std::string auditor = StringField(
      Call("POST", base_ + "/credentials", admin_, R"({"role":"auditor","name":"aud"})", 201),
      "token");
  const std::string terms =
      R"({"scope":{"payees":{"allow":[{"type":"domain","value":"*.shop.example"}]}},)"
      R"("limits":{"per_transaction":[{"asset":"USD","max":"5000"}],)"
      R"("lifetime":[{"asset":"USD","max":")" + std::to_string(kBudget) + R"("}]}})";
  const std::string mandate = StringField(
      Call("POST", base_ + "/mandates", admin_,
           R"({"agent":")" + agent + R"(","valid_from":")" +
               mandates::FormatRfc3339Utc(kStart - 60) + R"(","valid_until":")" +
               mandates::FormatRfc3339Utc(kStart + 30 * 86400) + R"(","terms":)" + terms + "}",
           201),
      "id");
  // One session per worker (sessions last 15 minutes; the clock moves at most a few minutes).
  std::vector<std::string> sessions;
  for (int w = 0; w < kWorkers; ++w) {
    sessions.push_back(StringField(Call("POST", base_ + "/agents/" + agent + "/sessions", admin_,
                                        R"({"task":"race"})", 201),
                                   "token"));
  }

  std::mutex mu;
  std::map<std::string, Acked> acked;  // authorization id -> what its caller was told
  Failures fail;
  std::atomic<bool> revoked{false};
  std::atomic<int> done_ops{0};
  std::atomic<bool> stop{false};

  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(seed + static_cast<uint64_t>(w));
      auto client = Client();
      for (int i = 0; i < kOpsPerWorker; ++i) {
        const uint64_t amount = 100 + rng() % 1400;
        const std::string idem = "w" + std::to_string(w) + "-" + std::to_string(i);
        const bool after_revocation = revoked.load();
        const std::string body =
            R"({"mandate":")" + mandate +
            R"(","payee":{"type":"domain","value":"api.shop.example"},"amount":")" +
            std::to_string(amount) + R"(","asset":"USD"})";
        Reply r = SendOn(*client, "POST", "/v1/authorizations", sessions[w], body, idem);
        done_ops.fetch_add(1);
        if (r.status != 201) {
          fail("authorize " + idem + ": " + std::to_string(r.status) + " " + r.body);
          continue;
        }
        const std::string id = StringField(r.json, "id");
        Acked a;
        a.decision = StringField(r.json, "decision");
        a.amount = amount;
        a.requested_after_revocation = after_revocation;
        a.expires_at = Member(Member(r.json, "reservation"), "expires_at").as_int64().value_or(0);
        if (a.decision == "allowed") {
          const int what = static_cast<int>(rng() % 4);  // capture all, part, void, leave
          if (what <= 1) {
            const uint64_t take = what == 0 ? amount : 1 + rng() % amount;
            Reply c = SendOn(*client, "POST", "/v1/authorizations/" + id + "/capture",
                             sessions[w], R"({"amount":")" + std::to_string(take) + R"("})",
                             idem + "-capture");
            if (c.status == 200) {
              a.final_state = "captured";
              a.captured = take;
              if (StringField(Member(c.json, "reservation"), "state") != "captured" ||
                  AmountOf(Member(c.json, "reservation").Find("captured")) != take) {
                fail("capture " + id + " answered " + c.body);
              }
            } else if (c.status != 409) {  // 409: the lease ran out or the mandate was revoked
              fail("capture " + id + ": " + std::to_string(c.status) + " " + c.body);
            }
          } else if (what == 2) {
            Reply v = SendOn(*client, "POST", "/v1/authorizations/" + id + "/void", sessions[w],
                             "", idem + "-void");
            if (v.status == 200) {
              a.final_state = "voided";
            } else if (v.status != 409) {
              fail("void " + id + ": " + std::to_string(v.status) + " " + v.body);
            }
          }
        }
        std::lock_guard<std::mutex> lock(mu);
        acked[id] = a;
      }
    });
  }
  // The clock: a few seconds at a time, so leases (20 s) lapse while workers use them.
  threads.emplace_back([&] {
    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
    while (!stop.load()) {
      clock_->AdvanceSeconds(1 + static_cast<int64_t>(rng() % 4));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  // The revoker: midway through.
  threads.emplace_back([&] {
    auto client = Client();
    while (done_ops.load() < kWorkers * kOpsPerWorker / 2 && !stop.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    Reply r = SendOn(*client, "POST", base_ + "/mandates/" + mandate + "/revoke", admin_, "", "");
    if (r.status != 200) {
      fail("revoke: " + std::to_string(r.status) + " " + r.body);
    }
    revoked.store(true);
  });
  for (int w = 0; w < kWorkers; ++w) {
    threads[static_cast<size_t>(w)].join();
  }
  stop.store(true);
  for (size_t t = static_cast<size_t>(kWorkers); t < threads.size(); ++t) {
    threads[t].join();
  }
  fail.Report();
  ASSERT_EQ(acked.size(), static_cast<size_t>(kWorkers * kOpsPerWorker));

  // Nothing allowed once the revocation was acknowledged; something allowed before it.
  size_t allowed = 0;
  for (const auto& [id, a] : acked) {
    allowed += a.decision == "allowed";
    EXPECT_FALSE(a.requested_after_revocation && a.decision == "allowed")
        << id << " was allowed after the mandate's revocation was acknowledged";
  }
  EXPECT_GT(allowed, 0u);

  // Durable: after a restart, every answer is stored as given.
  Restart();
  const int64_t now = clock_->NowUnixSeconds();
  uint64_t captured_total = 0, live_held = 0;
  for (const auto& [id, a] : acked) {
    const json::Value rec = Call("GET", base_ + "/authorizations/" + id, admin_, "", 200);
    EXPECT_EQ(StringField(rec, "decision"), a.decision) << id;
    EXPECT_EQ(AmountOf(rec.Find("amount")), a.amount) << id;
    const json::Value& rsv = Member(rec, "reservation");
    const std::string state = StringField(rsv, "state");
    if (!a.final_state.empty()) {
      EXPECT_EQ(state, a.final_state) << id;
    }
    if (a.final_state == "captured") {
      EXPECT_EQ(AmountOf(rsv.Find("captured")), a.captured) << id;
    }
    if (state == "captured") {
      captured_total += AmountOf(rsv.Find("captured"));
    } else if (state == "reserved" &&
               Member(rsv, "expires_at").as_int64().value_or(0) > now) {
      live_held += AmountOf(rsv.Find("amount"));
    }
  }
  size_t captures = 0, voids = 0;
  for (const auto& [id, a] : acked) {
    captures += a.final_state == "captured";
    voids += a.final_state == "voided";
  }
  std::cout << "race: " << acked.size() << " decisions, " << allowed << " allowed, " << captures
            << " captured, " << voids << " voided; stored: captured " << captured_total
            << " + live holds " << live_held << " of budget " << kBudget << std::endl;
  // No overspend: by recount, and by the server's lifetime counter.
  EXPECT_LE(captured_total + live_held, kBudget);
  const json::Value headroom =
      Call("GET", base_ + "/mandates/" + mandate + "/headroom", admin_, "", 200);
  bool found = false;
  for (const json::Value& c : Member(headroom, "counters").items()) {
    if (StringField(c, "counter").find("lifetime") != std::string::npos) {
      found = true;
      EXPECT_EQ(AmountOf(c.Find("spent")), captured_total + live_held) << json::Write(c);
      EXPECT_LE(AmountOf(c.Find("spent")), kBudget);
    }
  }
  EXPECT_TRUE(found) << json::Write(headroom);

  // The trail of the mandate verifies offline.
  httplib::Headers h = {{"Authorization", "Bearer " + auditor}};
  httplib::Result bundle = service_.client().Get("/v1/audit/export?mandate=" + mandate, h);
  ASSERT_TRUE(bundle && bundle->status == 200) << (bundle ? bundle->body : "no answer");
  audit::BundleVerifyOptions o;
  o.verifier_key = StringField(Call("GET", "/v1/audit/key", auditor, "", 200), "verifier_key");
  const audit::BundleReport report = audit::VerifyBundle(bundle->body, o);
  EXPECT_TRUE(report.ok()) << report.findings.size() << " findings, first: "
                           << (report.findings.empty()
                                   ? ""
                                   : report.findings[0].code + " " + report.findings[0].detail);
  // Every decision is in it (one event each), besides issuance, captures, voids, revocation.
  EXPECT_GE(report.events, acked.size());
}

TEST_F(RaceTest, OneX402PaymentSettledConcurrentlyMovesTheLedgerOnce) {
  // The reference vector verifies at its own instant.
  const json::Value vec = [] {
    Result<json::Value> v = json::Parse(testing::ReadFileOrDie(
        testing::SourcePath("tests/vectors/x402/vector_v2_base_sepolia_usdc_10000.json")));
    EXPECT_TRUE(v.ok());
    return v.ok() ? *v : json::Value::Object();
  }();
  const int64_t clock = Member(Member(vec, "referenceVerify"), "clockUnix").as_int64().value_or(0);
  ASSERT_GT(clock, 0);
  Boot(clock, R"({"name":"x402 Race Corp"})");
  const std::string merchant = StringField(
      Call("POST", base_ + "/credentials", kOperatorToken, R"({"role":"merchant","name":"shop"})",
           201),
      "token");
  const std::string body =
      json::Write(Member(Member(vec, "facilitatorRequests"), "POST /verify"));
  const std::string asset = "eip155:84532/erc20:0x036cbd53842c5426634e7929541ec2318f3dcf7e";
  const std::string from = "eip155:84532:0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
  const std::string to = "eip155:84532:0x209693bc6afc0c5328ba36faf03c514ef312287c";
  // Enough for four payments, were it paid more than once.
  Call("POST", "/v1/ledger/deposits", kOperatorToken,
       R"({"account":")" + from + R"(","asset":")" + asset + R"(","amount":"40000"})", 201,
       "deposit-1");

  constexpr int kSettlers = 12;
  std::mutex mu;
  std::multiset<std::string> answers;
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kSettlers; ++i) {
    threads.emplace_back([&, i] {
      auto client = Client();
      ready.fetch_add(1);
      while (ready.load() < kSettlers) {
        std::this_thread::yield();
      }
      // Half verify first (reading the nonce while others write it).
      if (i % 2 == 1) {
        (void)SendOn(*client, "POST", "/x402/verify", merchant, body, "");
      }
      Reply r = SendOn(*client, "POST", "/x402/settle", merchant, body, "");
      std::lock_guard<std::mutex> lock(mu);
      answers.insert(std::to_string(r.status) + " " + r.body);
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  ASSERT_EQ(answers.size(), static_cast<size_t>(kSettlers));
  EXPECT_EQ(std::set<std::string>(answers.begin(), answers.end()).size(), 1u)
      << *answers.begin() << " ... " << *answers.rbegin();
  EXPECT_NE(answers.begin()->find(R"("success":true)"), std::string::npos) << *answers.begin();

  // Exactly one transfer out of the payer, and balances moved once.
  const json::Value transfers = Call("GET", "/v1/ledger/accounts/" + from + "/transfers?asset=" +
                                                asset + "&limit=100",
                                     kOperatorToken, "", 200);
  size_t payments = 0;
  for (const json::Value& t : Member(transfers, "items").items()) {
    payments += StringField(t, "debit") == from;
  }
  EXPECT_EQ(payments, 1u) << json::Write(transfers);
  auto balance = [&](const std::string& account) {
    const json::Value v = Call("GET", "/v1/ledger/accounts/" + account, kOperatorToken, "", 200);
    for (const json::Value& b : Member(v, "balances").items()) {
      if (StringField(b, "asset") == asset) return StringField(b, "balance");
    }
    return std::string("0");
  };
  EXPECT_EQ(balance(from), "30000");
  EXPECT_EQ(balance(to), "10000");
}

TEST_F(RaceTest, OverlappingUsageBatchesFromManyThreadsCountEachIdOnce) {
  Boot(kStart, R"({"name":"Usage Race Corp"})");
  const std::string merchant = StringField(
      Call("POST", base_ + "/credentials", kOperatorToken, R"({"role":"merchant","name":"api"})",
           201),
      "token");
  // Thread t's batch b holds ids b*50 .. b*50+99: each id is in two consecutive batches of
  // every thread, so batches carrying it are in flight at the same time; the amount is the id.
  constexpr int kThreads = 6, kBatches = 12, kPerBatch = 100, kStride = 50;
  constexpr int kDistinct = (kBatches - 1) * kStride + kPerBatch;
  auto batch = [](int b) {
    std::string body = R"({"events":[)";
    for (int j = 0; j < kPerBatch; ++j) {
      const int n = b * kStride + j;
      body += std::string(j == 0 ? "" : ",") + R"({"id":"r-)" + std::to_string(n) +
              R"(","payee":"api.example","asset":"USD","amount":")" + std::to_string(n + 1) +
              R"(","at":)" + std::to_string(kStart) + "}";
    }
    return body + "]}";
  };
  std::atomic<int> ready{0};
  std::atomic<bool> done{false};
  std::atomic<uint64_t> accepted{0}, duplicates{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto client = Client();
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int b = 0; b < kBatches; ++b) {
        Reply r = SendOn(*client, "POST", "/v1/usage", merchant, batch(b), "");
        Result<json::Value> v = json::Parse(r.body);
        if (r.status != 200 || !v.ok()) {
          failures.fetch_add(1);
          continue;
        }
        accepted.fetch_add(Member(*v, "accepted").as_uint64().value_or(0));
        duplicates.fetch_add(Member(*v, "duplicates").as_uint64().value_or(0));
      }
    });
  }
  // A reader of the aggregates meanwhile.
  std::thread reader([&] {
    auto client = Client();
    while (!done.load()) (void)SendOn(*client, "GET", "/v1/usage", admin_, "", "");
  });
  for (std::thread& t : threads) t.join();
  done.store(true);
  reader.join();
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_EQ(accepted.load(), static_cast<uint64_t>(kDistinct));
  EXPECT_EQ(duplicates.load(), static_cast<uint64_t>(kThreads * kBatches * kPerBatch - kDistinct));
  // Sum of n + 1 over the distinct ids.
  const std::string want = R"([{"asset":"USD","amount":")" +
                           std::to_string(uint64_t{kDistinct} * (kDistinct + 1) / 2) +
                           R"(","quantity":")" + std::to_string(kDistinct) + R"(","events":)" +
                           std::to_string(kDistinct) + "}]";
  EXPECT_EQ(json::Write(Member(Call("GET", "/v1/usage", admin_, "", 200), "items")), want);
  Restart();
  EXPECT_EQ(json::Write(Member(Call("GET", "/v1/usage", admin_, "", 200), "items")), want);
  const json::Value retry = Call("POST", "/v1/usage", merchant, batch(3), 200);
  EXPECT_EQ(Member(retry, "duplicates").as_uint64().value_or(0), static_cast<uint64_t>(kPerBatch));
}

TEST_F(RaceTest, AgentSignedClosingsAndPurchasesShareOneAgentCeiling) {
  const uint64_t seed = SeedForTest();
  constexpr uint64_t kCeiling = 6000;  // the agent's per-day ceiling, USD cents
  constexpr int kOps = 16;
  Boot(kStart, R"({"name":"Ceiling Race Corp"})");
  signer::PrivateKey key = *signer::GenerateKey(signer::KeyType::kP256, SystemRandom::Get());
  const std::string did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(key));
  const std::string agent = StringField(
      Call("POST", base_ + "/agents", admin_,
           R"({"name":"racer","did":")" + did +
               R"(","ceilings":[{"asset":"USD","window":"day","max":")" +
               std::to_string(kCeiling) + R"("}]})",
           201),
      "id");
  const std::string mandate = StringField(
      Call("POST", base_ + "/mandates", admin_,
           R"({"agent":")" + agent + R"(","valid_from":")" +
               mandates::FormatRfc3339Utc(kStart - 60) + R"(","valid_until":")" +
               mandates::FormatRfc3339Utc(kStart + 30 * 86400) +
               R"(","terms":{"scope":{"payees":{"allow":[{"type":"domain","value":"*.shop.example"}]}},)"
               R"("limits":{"per_transaction":[{"asset":"USD","max":"5000"}]}}})",
           201),
      "id");
  const std::string open = StringField(
      Call("POST", base_ + "/ap2/mandates", admin_,
           R"({"agent":")" + agent + R"(","kind":"payment","ttl_seconds":86400,"constraints":[)"
           R"({"type":"payment.reference","conditional_transaction_id":"race"},)"
           R"({"type":"payment.budget","currency":"USD","max":1000000},)"
           R"({"type":"payment.agent_recurrence","frequency":"ON_DEMAND"}]})",
           201),
      "token");
  std::vector<std::string> sessions;
  for (int w = 0; w < kWorkers; ++w) {
    sessions.push_back(StringField(Call("POST", base_ + "/agents/" + agent + "/sessions", admin_,
                                        R"({"task":"race"})", 201),
                                   "token"));
  }

  std::atomic<uint64_t> counted{0};  // closings paid + captured amounts + holds left live
  Failures fail;
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(seed + static_cast<uint64_t>(w));
      auto client = Client();
      for (int i = 0; i < kOps; ++i) {
        const uint64_t amount = 50 + rng() % 600;
        const std::string id = "w" + std::to_string(w) + "-" + std::to_string(i);
        if (rng() % 2 == 0) {  // an AP2 closing the agent signs
          Reply ch = SendOn(*client, "POST", "/v1/ap2/challenges", sessions[w], "", "");
          if (ch.status != 201) {
            fail("challenge " + id + ": " + ch.body);
            continue;
          }
          Result<std::string> chain = testing::SignAp2Closing(
              open, key, static_cast<int64_t>(amount), "tx-" + id, StringField(ch.json, "aud"),
              StringField(ch.json, "nonce"), clock_->NowUnixSeconds(), SystemRandom::Get());
          if (!chain.ok()) {
            fail("sign " + id + ": " + chain.status().ToString());
            continue;
          }
          Reply r = SendOn(*client, "POST", "/v1/ap2/present", sessions[w],
                           json::Write(json::Value::Object().Set(
                               "chain", json::Value::String(*chain))),
                           "present-" + id);
          if (r.status == 201) {
            counted.fetch_add(amount);
          } else if (r.status != 403 ||
                     StringField(r.json, "type") != "urn:mandated:problem:agent-ceiling-exceeded") {
            fail("present " + id + ": " + std::to_string(r.status) + " " + r.body);
          }
          continue;
        }
        Reply r = SendOn(*client, "POST", "/v1/authorizations", sessions[w],
                         R"({"mandate":")" + mandate +
                             R"(","payee":{"type":"domain","value":"api.shop.example"},"amount":")" +
                             std::to_string(amount) + R"(","asset":"USD"})",
                         "authorize-" + id);
        if (r.status != 201) {
          fail("authorize " + id + ": " + std::to_string(r.status) + " " + r.body);
          continue;
        }
        if (StringField(r.json, "decision") != "allowed") continue;
        const std::string atz = StringField(r.json, "id");
        const uint64_t next = rng() % 3;
        if (next == 0) {  // left held
          counted.fetch_add(amount);
        } else if (next == 1) {  // captured for part of it (the rest released)
          const uint64_t part = 1 + rng() % amount;
          Reply c = SendOn(*client, "POST", "/v1/authorizations/" + atz + "/capture", sessions[w],
                           R"({"amount":")" + std::to_string(part) + R"("})", "capture-" + id);
          if (c.status == 200) {
            counted.fetch_add(part);
          } else {
            fail("capture " + id + ": " + std::to_string(c.status) + " " + c.body);
          }
        } else {
          Reply v = SendOn(*client, "POST", "/v1/authorizations/" + atz + "/void", sessions[w], "",
                           "void-" + id);
          if (v.status != 200) fail("void " + id + ": " + std::to_string(v.status) + " " + v.body);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  fail.Report();

  auto spent = [&]() -> uint64_t {
    const json::Value h =
        Call("GET", base_ + "/agents/" + agent + "/headroom", admin_, "", 200);
    for (const json::Value& c : Member(h, "ceilings").items()) {
      if (StringField(c, "counter") == "agent:" + agent + ":day") return AmountOf(c.Find("spent"));
    }
    ADD_FAILURE() << "no day ceiling in " << json::Write(h);
    return 0;
  };
  std::cout << "counted " << counted.load() << " of the ceiling's " << kCeiling << std::endl;
  EXPECT_LE(counted.load(), kCeiling);
  EXPECT_EQ(spent(), counted.load());
  ASSERT_NO_FATAL_FAILURE(Restart());
  EXPECT_EQ(spent(), counted.load());
}

TEST_F(RaceTest, Ap2PaymentMandatesIssuedWhileTheirCheckoutIsRevokedAllEndInvalid) {
  constexpr int kEach = 12;
  Boot(kStart, R"({"name":"Status Race Corp"})");
  const std::string principal = base_.substr(base_.rfind('/') + 1);
  const std::string did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(
      *signer::GenerateKey(signer::KeyType::kP256, SystemRandom::Get())));
  const std::string agent = StringField(
      Call("POST", base_ + "/agents", admin_, R"({"name":"racer","did":")" + did + R"("})", 201),
      "id");
  const std::string checkout = StringField(
      Call("POST", base_ + "/ap2/mandates", admin_,
           R"({"agent":")" + agent + R"(","kind":"checkout","constraints":[{"type":"checkout.line_items",)"
           R"("items":[{"id":"r1","acceptable_items":[{"id":"sku-1","title":"Tea"}],"quantity":1}]}]})",
           201),
      "id");

  struct Issued {
    bool for_checkout = false;
    std::string id;
    uint64_t idx = 0;
  };
  std::mutex mu;
  std::vector<Issued> issued;
  std::atomic<int> refused{0};
  std::atomic<int> started{0};
  Failures fail;
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      auto client = Client();
      const bool for_checkout = w % 3 != 0;  // a third issue payment mandates for nothing
      for (int i = 0; i < kEach; ++i) {
        ++started;
        const std::string body =
            R"({"agent":")" + agent + R"(","kind":"payment","constraints":[)" +
            (for_checkout ? std::string()
                          : R"({"type":"payment.reference","conditional_transaction_id":"none"},)") +
            R"({"type":"payment.amount_range","currency":"USD","max":5000}])" +
            (for_checkout ? R"(,"checkout_mandate":")" + checkout + "\"" : std::string()) + "}";
        Reply r = SendOn(*client, "POST", base_ + "/ap2/mandates", admin_, body, "");
        if (r.status == 201) {
          const json::Value* sl = r.json.Find("status_list");
          const json::Value* idx = sl != nullptr ? sl->Find("idx") : nullptr;
          std::lock_guard<std::mutex> lock(mu);
          issued.push_back(Issued{for_checkout, StringField(r.json, "id"),
                                  idx != nullptr ? idx->as_uint64().value_or(~0ull) : ~0ull});
        } else if (for_checkout && r.status == 403 &&
                   StringField(r.json, "type") == "urn:mandated:problem:ap2-mandate-revoked") {
          ++refused;
        } else {
          fail("issue w" + std::to_string(w) + "-" + std::to_string(i) + ": " +
               std::to_string(r.status) + " " + r.body);
        }
      }
    });
  }
  // The revocation lands while the workers issue.
  while (started.load() < kWorkers * kEach / 3) std::this_thread::yield();
  Call("POST", base_ + "/ap2/mandates/" + checkout + "/revoke", admin_, "", 200);
  for (std::thread& t : threads) t.join();
  fail.Report();

  auto entries = [&]() -> mandates::StatusArray {
    Reply r = testing::Send(service_.client(), "GET",
                            "/v1/ap2/status-lists/" + principal + "/0", "", "");
    EXPECT_EQ(r.status, 200) << r.body;
    Result<signer::Jws> jws = signer::ParseJws(r.body);
    EXPECT_TRUE(jws.ok());
    Result<json::Value> payload = json::Parse(jws.ok() ? jws->payload : "");
    EXPECT_TRUE(payload.ok());
    const std::string lst =
        payload.ok() ? StringField(Member(*payload, "status_list"), "lst") : std::string();
    Result<mandates::StatusArray> arr = mandates::DecodeStatusList(2, lst, 1 << 20);
    EXPECT_TRUE(arr.ok());
    return arr.ok() ? *arr : mandates::StatusArray();
  };
  auto check = [&]() {
    const mandates::StatusArray list = entries();
    std::set<uint64_t> seen{0};  // the checkout mandate took entry 0
    EXPECT_EQ(list.Get(0).value_or(255), 1);
    int invalid = 0;
    for (const Issued& m : issued) {
      EXPECT_TRUE(seen.insert(m.idx).second) << "entry " << m.idx << " taken twice";
      const uint8_t v = list.Get(m.idx).value_or(255);
      EXPECT_EQ(v, m.for_checkout ? 1 : 0) << m.id << " at " << m.idx;
      if (v == 1) ++invalid;
    }
    return invalid;
  };
  const int invalid = check();
  std::cout << issued.size() << " payment mandates issued (" << invalid
            << " for the checkout, set invalid by its revocation), " << refused.load()
            << " refused after it" << std::endl;
  EXPECT_EQ(issued.size() + static_cast<size_t>(refused.load()),
            static_cast<size_t>(kWorkers * kEach));
  ASSERT_NO_FATAL_FAILURE(Restart());
  EXPECT_EQ(check(), invalid);
}

}  // namespace
// The principal's issuer key rotated again and again while agents authorize and an admin issues
// mandates: a request that picked the key just before a rotation retired it signs with the
// successor instead of failing (before, 409 key-not-active, which the Idempotency-Key then kept
// for a day). Every receipt and mandate names a key the principal published.
TEST_F(RaceTest, IssuerKeyRotationsNeverFailAnAuthorizationOrAnIssuance) {
  Boot(kStart, R"({"name":"Rotating Corp"})");
  signer::PrivateKey key = *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
  const std::string agent = StringField(
      Call("POST", base_ + "/agents", admin_,
           R"({"name":"rotator","did":")" +
               signer::DidKeyFromPublicKey(*signer::DerivePublicKey(key)) + R"("})",
           201),
      "id");
  const std::string issue =
      R"({"agent":")" + agent + R"(","valid_from":")" + mandates::FormatRfc3339Utc(kStart - 60) +
      R"(","valid_until":")" + mandates::FormatRfc3339Utc(kStart + 86400) +
      R"(","terms":{"limits":{"per_transaction":[{"asset":"USD","max":"100"}]}}})";
  const json::Value first = Call("POST", base_ + "/mandates", admin_, issue, 201);
  const std::string mandate = StringField(first, "id");
  constexpr int kAuthorizers = 4, kEach = 60, kIssues = 40, kRotations = 30;
  std::vector<std::string> sessions;
  for (int w = 0; w < kAuthorizers; ++w) {
    sessions.push_back(StringField(Call("POST", base_ + "/agents/" + agent + "/sessions", admin_,
                                        R"({"task":"rotation race"})", 201),
                                   "token"));
  }
  Failures fail;
  std::mutex mu;
  std::set<std::string> kids_used;  // key ids named by receipts and mandates
  auto used = [&](const std::string& compact) {
    Result<signer::Jws> jws = signer::ParseJws(compact);
    if (!jws.ok()) {
      fail("not a compact JWS: " + compact);
      return;
    }
    const std::string& kid = jws->kid;
    std::lock_guard<std::mutex> lock(mu);
    kids_used.insert(kid.substr(kid.find('#') + 1));
  };
  std::atomic<int> working{kAuthorizers + 1};
  std::vector<std::thread> threads;
  for (int w = 0; w < kAuthorizers; ++w) {
    threads.emplace_back([&, w] {
      auto client = Client();
      for (int i = 0; i < kEach; ++i) {
        const std::string idem = "r" + std::to_string(w) + "-" + std::to_string(i);
        Reply r = SendOn(*client, "POST", "/v1/authorizations", sessions[w],
                         R"({"mandate":")" + mandate +
                             R"(","payee":{"type":"domain","value":"api.shop.example"},)"
                             R"("amount":"5","asset":"USD"})",
                         idem);
        if (r.status != 201 || StringField(r.json, "decision") != "allowed") {
          fail("authorize " + idem + ": " + std::to_string(r.status) + " " + r.body);
          continue;
        }
        used(StringField(r.json, "receipt"));
      }
      working.fetch_sub(1);
    });
  }
  threads.emplace_back([&] {
    auto client = Client();
    for (int i = 0; i < kIssues; ++i) {
      Reply r = SendOn(*client, "POST", base_ + "/mandates", admin_, issue,
                       "issue-" + std::to_string(i));
      if (r.status != 201) {
        fail("issue " + std::to_string(i) + ": " + std::to_string(r.status) + " " + r.body);
        continue;
      }
      used(StringField(r.json, "token"));
    }
    working.fetch_sub(1);
  });
  std::vector<std::string> keys = {StringField(first, "key_id")};
  threads.emplace_back([&] {
    auto client = Client();
    for (int i = 0; i < kRotations && working.load() > 0; ++i) {
      Reply r = SendOn(*client, "POST", base_ + "/keys/" + keys.back() + "/rotate", admin_, "",
                       "");
      if (r.status != 200) {
        fail("rotate " + keys.back() + ": " + std::to_string(r.status) + " " + r.body);
        return;
      }
      keys.push_back(StringField(r.json, "id"));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  for (std::thread& t : threads) t.join();
  fail.Report();
  std::cout << "rotation race: " << keys.size() - 1 << " rotations, " << kids_used.size()
            << " keys named by signatures" << std::endl;
  EXPECT_GT(keys.size(), 1u);
  const std::set<std::string> issued(keys.begin(), keys.end());
  for (const std::string& kid : kids_used) {
    EXPECT_TRUE(issued.count(kid) == 1) << kid << " is not one of the principal's issuer keys";
  }
}

}  // namespace mandated
