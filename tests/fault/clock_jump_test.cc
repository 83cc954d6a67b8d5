// Clock jumps (DESIGN §2 invariants 1 and 7; specs/authorization.md §3-4): the service in-process
// on a wall clock the test steps forward and back (the monotonic clock keeps running, as after
// an NTP step). Holds whose lease ends in a forward jump stop counting at once and are written
// down as lapsed exactly once; a backward jump re-opens nothing, releases nothing twice and
// keeps every counter equal to a recount, also across a restart; then the invariant check.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <thread>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "tests/fault/invariants.h"
#include "tests/fault/load_driver.h"
#include "tests/support/in_process_service.h"
#include "tests/support/test_support.h"

namespace mandated::fault {
namespace {

using testing::InProcessService;
using testing::TempDir;

constexpr char kOperatorToken[] = "test-operator-token-0123456789";
constexpr int64_t kTtl = 60;  // reservation_ttl_s

// The system clock plus an offset the test moves; the monotonic clock is the real one.
// Thread safety: safe from any thread (atomics).
class JumpClock final : public Clock {
 public:
  int64_t NowUnixMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() +
           offset_.load();
  }
  int64_t MonotonicMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void Jump(int64_t seconds) { offset_ += seconds * 1000000; }

 private:
  std::atomic<int64_t> offset_{0};
};

struct Reply {
  int status = 0;
  std::string body;
  json::Value json;
};

Reply Do(httplib::Client& c, const std::string& method, const std::string& path,
         const std::string& token, const std::string& body = "", const std::string& key = "") {
  httplib::Headers h{{"Authorization", "Bearer " + token}};
  if (!key.empty()) h.emplace("Idempotency-Key", key);
  httplib::Result r = method == "GET" ? c.Get(path, h) : c.Post(path, h, body, "application/json");
  Reply out;
  if (!r) return out;
  out.status = r->status;
  out.body = r->body;
  Result<json::Value> v = json::Parse(r->body);
  out.json = v.ok() ? *v : json::Value::Object();
  return out;
}

std::string Str(const json::Value& v, const char* key) {
  const json::Value* m = v.Find(key);
  return m != nullptr && m->is_string() ? m->as_string() : std::string();
}

class ClockJumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = FaultSeed();
    std::cout << "[ seed     ] MANDATED_FAULT_SEED=" << seed_ << std::endl;
    StartService();
    std::string error;
    ASSERT_TRUE(SetUpWorld(svc_->port(), kOperatorToken, 1, s_, agents_, error)) << error;
  }
  void StartService() {
    log::SetMinLevel(log::Level::kWarn);  // not a line per request
    svc_ = std::make_unique<InProcessService>();
    svc_->Start(dir_.Sub("data"), kOperatorToken, &clock_, [](api::ServerConfig& c) {
      c.reservation_ttl_s = kTtl;
      c.public_host = "mandated.test";
    });
    ASSERT_NE(svc_->app(), nullptr);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", svc_->port());
    client_->set_keep_alive(true);
  }
  std::string OpenSession() {
    Reply r = Do(*client_, "POST",
                 "/v1/principals/" + s_.principal + "/agents/" + agents_[0] + "/sessions",
                 s_.admin, R"({"task":"clock","mandates":[")" + s_.mandates[0] + R"("]})");
    EXPECT_EQ(r.status, 201) << r.body;
    return Str(r.json, "token");
  }
  // Authorizes `amount` with `session`; records and returns the acknowledged authorization.
  AckedAuthorization Authorize(const std::string& session, uint64_t amount) {
    Reply r = Do(*client_, "POST", "/v1/authorizations", session,
                 R"({"mandate":")" + s_.mandates[0] +
                     R"(","payee":{"type":"domain","value":"api.shop.example"},"amount":")" +
                     std::to_string(amount) + R"(","asset":"USD"})",
                 "clock-" + std::to_string(seed_) + "-" + std::to_string(keys_++));
    EXPECT_EQ(r.status, 201) << r.body;
    AckedAuthorization a;
    a.id = Str(r.json, "id");
    a.decision = Str(r.json, "decision");
    a.mandate = s_.mandates[0];
    a.amount = amount;
    if (const json::Value* res = r.json.Find("reservation"); res != nullptr) {
      a.state = Str(*res, "state");
    }
    EXPECT_EQ(a.decision, "allowed") << r.body;
    acked_.authorizations[a.id] = a;
    return a;
  }
  // POSTs capture or void; returns the status, updating the acknowledged state on 200.
  int Change(const std::string& session, const std::string& id, const std::string& verb) {
    Reply r = Do(*client_, "POST", "/v1/authorizations/" + id + "/" + verb, session, "",
                 "clock-" + std::to_string(seed_) + "-" + std::to_string(keys_++));
    if (r.status == 200) {
      const json::Value* res = r.json.Find("reservation");
      AckedAuthorization& a = acked_.authorizations[id];
      a.state = res != nullptr ? Str(*res, "state") : "";
      if (a.state == "captured") a.captured = a.amount;
    }
    return r.status;
  }
  std::string StateOf(const std::string& id) {
    Reply r = Do(*client_, "GET", "/v1/principals/" + s_.principal + "/authorizations/" + id,
                 s_.admin);
    const json::Value* res = r.json.Find("reservation");
    return res != nullptr ? Str(*res, "state") : "status " + std::to_string(r.status);
  }
  // The mandate's lifetime counter, as the service reports it.
  uint64_t LifetimeSpent() {
    Reply r = Do(*client_, "GET",
                 "/v1/principals/" + s_.principal + "/mandates/" + s_.mandates[0] + "/headroom",
                 s_.admin);
    if (const json::Value* cs = r.json.Find("counters"); cs != nullptr && cs->is_array()) {
      for (const json::Value& c : cs->items()) {
        if (Str(c, "counter") == "mandate:" + s_.mandates[0] + ":lifetime") {
          return std::stoull(Str(c, "spent"));
        }
      }
    }
    ADD_FAILURE() << "no lifetime counter: " << r.body;
    return ~uint64_t{0};
  }
  // authorization.lapsed events of the principal's trail, per authorization.
  std::map<std::string, int> Lapsed() {
    Reply r = Do(*client_, "GET", "/v1/audit/export?principal=" + s_.principal, kOperatorToken);
    std::map<std::string, int> out;
    size_t start = r.body.find('\n');
    while (start != std::string::npos && start + 1 < r.body.size()) {
      const size_t end = r.body.find('\n', start + 1);
      Result<json::Value> e = json::Parse(r.body.substr(start + 1, end - start - 1));
      if (e.ok() && Str(*e, "type") == "authorization.lapsed") {
        const json::Value* subjects = e->Find("subjects");
        ++out[subjects != nullptr ? Str(*subjects, "authorization") : ""];
      }
      start = end;
    }
    return out;
  }
  // Waits (for the sweeper, every 2 s) until `n` lapsed events are in the trail.
  std::map<std::string, int> WaitForLapsed(size_t n) {
    std::map<std::string, int> got;
    for (int i = 0; i < 100; ++i) {
      got = Lapsed();
      size_t total = 0;
      for (const auto& [id, count] : got) total += static_cast<size_t>(count);
      if (total >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return got;
  }

  uint64_t seed_ = 0;
  TempDir dir_;
  JumpClock clock_;
  std::unique_ptr<InProcessService> svc_;
  std::unique_ptr<httplib::Client> client_;
  Subject s_;
  std::vector<std::string> agents_;
  Acknowledged acked_;
  int keys_ = 0;
};

TEST_F(ClockJumpTest, LeasesEndOnceAndNothingReopensAcrossJumps) {
  SCOPED_TRACE(ReplayLine(seed_));
  std::string session = OpenSession();
  std::vector<AckedAuthorization> a;
  for (int i = 0; i < 6; ++i) a.push_back(Authorize(session, 100));
  ASSERT_EQ(Change(session, a[0].id, "capture"), 200);
  ASSERT_EQ(Change(session, a[1].id, "void"), 200);
  EXPECT_EQ(LifetimeSpent(), 100u + 4 * 100u);

  // Forward past every lease: the four holds stop counting at once, before any sweep.
  clock_.Jump(kTtl + 1);
  EXPECT_EQ(LifetimeSpent(), 100u);
  for (int i = 2; i < 6; ++i) EXPECT_EQ(StateOf(a[i].id), "expired") << a[i].id;
  EXPECT_EQ(Change(session, a[2].id, "capture"), 409);
  EXPECT_EQ(Change(session, a[3].id, "void"), 409);
  std::map<std::string, int> lapsed = WaitForLapsed(4);
  for (int i = 2; i < 6; ++i) {
    EXPECT_EQ(lapsed[a[i].id], 1) << a[i].id << " written down as lapsed";
    acked_.authorizations[a[i].id].state = "expired";
  }
  EXPECT_EQ(lapsed.size(), 4u);

  // Back an hour: nothing re-opens, nothing is released again; a new hold counts once.
  clock_.Jump(-3600);
  EXPECT_EQ(LifetimeSpent(), 100u);
  for (int i = 2; i < 6; ++i) EXPECT_EQ(StateOf(a[i].id), "expired") << a[i].id;
  EXPECT_EQ(Change(session, a[4].id, "capture"), 409);
  session = OpenSession();
  AckedAuthorization b = Authorize(session, 100);
  EXPECT_EQ(LifetimeSpent(), 200u);

  // A restart while the clock is an hour behind: the counters rebuilt from storage agree.
  client_.reset();
  svc_->Stop();
  StartService();
  EXPECT_EQ(LifetimeSpent(), 200u);
  for (int i = 2; i < 6; ++i) EXPECT_EQ(StateOf(a[i].id), "expired") << a[i].id;
  EXPECT_EQ(StateOf(b.id), "reserved");
  EXPECT_EQ(StateOf(a[0].id), "captured");
  EXPECT_EQ(StateOf(a[1].id), "voided");

  // Forward past the new hold's lease (counted from the latest time the service had seen).
  clock_.Jump(3600 + kTtl + 1);
  EXPECT_EQ(LifetimeSpent(), 100u);
  lapsed = WaitForLapsed(5);
  EXPECT_EQ(lapsed[b.id], 1);
  for (int i = 2; i < 6; ++i) EXPECT_EQ(lapsed[a[i].id], 1) << a[i].id << " lapsed again";
  EXPECT_EQ(lapsed.size(), 5u);
  acked_.authorizations[b.id].state = "expired";

  CheckReport report = CheckService(svc_->port(), s_, acked_, true);
  client_.reset();
  svc_->Stop();
  report.Merge(CheckStoredLedger(dir_.Sub("data")));
  EXPECT_TRUE(report.ok()) << report.Text(seed_);
  std::cout << report.Text(seed_);
}

}  // namespace
}  // namespace mandated::fault
