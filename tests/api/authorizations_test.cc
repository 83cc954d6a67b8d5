// Authorizations over real HTTP against the service (in-process, real RocksDB, a fake clock):
// idempotent retries (byte-identical answers, nothing created twice, keys per caller, in-flight),
// calendar and rolling windows at month ends, DST days and the leap day, reservations (capture,
// void, leases), the step-up approval flow with signed evidence and receipts, every kind of
// denial, and counters rebuilt after a restart (specs/authorization.md, specs/windows.md).
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/app.h"
#include "audit/bundle.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/random.h"
#include "identity/tenant.h"
#include "mandates/credential.h"
#include "policy/authorizer.h"
#include "signer/did.h"
#include "signer/hash.h"
#include "signer/jws.h"
#include "signer/signature.h"
#include "tests/support/fake_clock.h"
#include "tests/support/http_json.h"
#include "tests/support/in_process_service.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::Reply;
using testing::StringField;

constexpr char kOperatorToken[] = "authorizations-test-operator-token-7c41d0";
constexpr int64_t kStart = 1795000000;  // 2026-11-18T08:26:40Z
constexpr char kProblem[] = "urn:mandated:problem:";

std::string Rfc(int64_t t) { return mandates::FormatRfc3339Utc(t); }

// The codes of an authorization's reasons, in order (empty when it has none).
std::vector<std::string> Codes(const json::Value& a) {
  std::vector<std::string> out;
  const json::Value* reasons = a.Find("reasons");
  if (reasons == nullptr) {
    return out;
  }
  for (const json::Value& r : reasons->items()) {
    out.push_back(StringField(r, "code"));
  }
  return out;
}

// The counter named `name` in a list of counters; fails the test when absent.
json::Value CounterIn(const json::Value* list, const std::string& name) {
  if (list != nullptr && list->is_array()) {
    for (const json::Value& c : list->items()) {
      if (StringField(c, "counter") == name) {
        return c;
      }
    }
  }
  ADD_FAILURE() << "no counter " << name << " in " << (list ? json::Write(*list) : "null");
  return json::Value::Object();
}

std::string Purchase(const std::string& mandate, const std::string& amount,
                     const std::string& payee = "api.shop.example",
                     const std::string& asset = "USD") {
  return R"({"mandate":")" + mandate + R"(","payee":{"type":"domain","value":")" + payee +
         R"("},"amount":")" + amount + R"(","asset":")" + asset + R"("})";
}

// Terms paying *.shop.example in USD with the given `windows` entries (a JSON array's
// contents) and extra members of `limits` / terms.
std::string Terms(const std::string& windows, const std::string& more_limits = "",
                  const std::string& more_terms = "") {
  return R"({"scope":{"payees":{"allow":[{"type":"domain","value":"*.shop.example"}]}},)"
         R"("limits":{"per_transaction":[{"asset":"USD","max":"1000000"}],"windows":[)" +
         windows + "]" + more_limits + "}" + more_terms + "}";
}
std::string Window(const std::string& unit, const std::string& kind, const std::string& zone,
                   const std::string& max) {
  return R"({"asset":"USD","window":")" + unit + R"(","kind":")" + kind + "\"" +
         (zone.empty() ? "" : R"(,"time_zone":")" + zone + "\"") + R"(,"max":")" + max + R"("})";
}
std::string DayCounter(const std::string& mandate, const std::string& zone) {
  return "mandate:" + mandate + ":window:day:calendar:" + zone;
}

class AuthorizationsApiTest : public ::testing::Test {
 protected:
  // Starts the service with the clock at `start` and makes a principal (with a EUR month
  // ceiling of 5000) and its admin.
  void Boot(int64_t start) {
    clock_ = std::make_unique<testing::FakeClock>(start);
    StartService();
    ASSERT_NE(service_.app(), nullptr);
    const testing::PrincipalWithAdmin p = testing::CreatePrincipalWithAdmin(
        service_.client(), kOperatorToken,
        R"({"name":"Authz Corp","ceilings":[{"asset":"EUR","window":"month","max":"5000"}]})");
    principal_ = p.id;
    base_ = p.base;
    admin_ = p.admin;
  }
  // Stops the service and starts a new one on the same data directory and clock.
  void Restart() {
    service_.Stop();
    StartService();
    ASSERT_NE(service_.app(), nullptr);
  }
  // A fixed public host: the service DID (and with it the issuer DIDs that mandates name) stays
  // the same across restarts, which listen on new ports.
  void StartService() {
    service_.Start(dir_.Sub("data"), kOperatorToken, clock_.get(),
                   [](api::ServerConfig& c) { c.public_host = "mandated.test"; });
  }

  int64_t Now() { return clock_->NowUnixSeconds(); }
  void AdvanceTo(int64_t t) {
    ASSERT_GE(t, Now());
    clock_->AdvanceSeconds(t - Now());
  }

  Reply Send(const std::string& method, const std::string& path, const std::string& token,
             const std::string& body, const std::string& idempotency_key = "") {
    return testing::Send(service_.client(), method, path, token, body, idempotency_key);
  }
  json::Value Call(const std::string& method, const std::string& path, const std::string& token,
                   const std::string& body, int want, const std::string& key = "") {
    return testing::Call(service_.client(), method, path, token, body, want, key);
  }
  std::string NextKey() { return "key-" + std::to_string(++keys_); }

  std::string NewAgent(const std::string& name) {
    signer::PrivateKey key = *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
    const std::string did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(key));
    return StringField(Call("POST", base_ + "/agents", admin_,
                            R"({"name":")" + name + R"(","did":")" + did + R"("})", 201),
                       "id");
  }
  // Opens a session for `agent` (sessions last 15 minutes: tests open one after moving time).
  json::Value OpenSession(const std::string& agent, const std::string& extra = "") {
    return Call("POST", base_ + "/agents/" + agent + "/sessions", admin_,
                R"({"task":"shop")" + extra + "}", 201);
  }
  std::string Session(const std::string& agent) {
    return StringField(OpenSession(agent), "token");
  }
  // Issues (as the admin) a mandate valid from a minute ago for `seconds`; returns its id.
  std::string IssueFor(const std::string& agent, const std::string& terms, int64_t seconds) {
    const std::string body = R"({"agent":")" + agent + R"(","valid_from":")" + Rfc(Now() - 60) +
                             R"(","valid_until":")" + Rfc(Now() + seconds) + R"(","terms":)" +
                             terms + "}";
    return StringField(Call("POST", base_ + "/mandates", admin_, body, 201), "id");
  }
  // Issues a mandate valid from a minute ago for `days`; returns its id.
  std::string Issue(const std::string& agent, const std::string& terms, int64_t days = 30,
                    const std::string& parent = "", const std::string& token = "") {
    std::string body = R"({"agent":")" + agent + "\"";
    if (!parent.empty()) {
      body += R"(,"parent":")" + parent + "\"";
    }
    body += R"(,"valid_from":")" + Rfc(Now() - 60) + R"(","valid_until":")" +
            Rfc(Now() + days * 86400) + R"(","terms":)" + terms + "}";
    return StringField(
        Call("POST", base_ + "/mandates", token.empty() ? admin_ : token, body, 201), "id");
  }

  // POST /v1/authorizations with a fresh key; expects 201.
  json::Value Authorize(const std::string& session, const std::string& body) {
    return Call("POST", "/v1/authorizations", session, body, 201, NextKey());
  }
  json::Value Capture(const std::string& session, const std::string& id,
                      const std::string& body = "", int want = 200) {
    return Call("POST", "/v1/authorizations/" + id + "/capture", session, body, want, NextKey());
  }
  json::Value Void(const std::string& session, const std::string& id, int want = 200) {
    return Call("POST", "/v1/authorizations/" + id + "/void", session, "", want, NextKey());
  }
  json::Value Headroom(const std::string& mandate) {
    return Call("GET", base_ + "/mandates/" + mandate + "/headroom", admin_, "", 200);
  }
  json::Value HeadroomCounter(const std::string& mandate, const std::string& name) {
    json::Value h = Headroom(mandate);
    return CounterIn(h.Find("counters"), name);
  }
  json::Value Record(const std::string& id) {
    return Call("GET", base_ + "/authorizations/" + id, admin_, "", 200);
  }
  // The reservation state of authorization `id` as stored (not as a read computes it).
  std::string StoredReservationState(const std::string& id) {
    identity::Tenant t(service_.app()->store_for_testing(), principal_);
    Result<std::optional<std::string>> raw = t.Get("atz", id);
    if (!raw.ok() || !raw->has_value()) return "";
    Result<json::Value> v = json::Parse(**raw);
    return v.ok() ? StringField(*v->Find("reservation"), "state") : "";
  }
  // Polls the stored state until it is `want` (the sweeper runs every 2 s) or 10 s passed.
  std::string AwaitStoredReservationState(const std::string& id, const std::string& want) {
    std::string state;
    for (int i = 0; i < 100 && state != want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      state = StoredReservationState(id);
    }
    return state;
  }
  size_t CountAuthorizations(const std::string& mandate) {
    json::Value l =
        Call("GET", base_ + "/authorizations?limit=100&mandate=" + mandate, admin_, "", 200);
    return l.Find("items") ? l.Find("items")->items().size() : 0;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::FakeClock> clock_;
  testing::InProcessService service_;
  std::string principal_, base_, admin_;
  int keys_ = 0;
};

// ---- Idempotency (specs/authorization.md §6) ----

TEST_F(AuthorizationsApiTest, RetriesAnswerByteForByteAndCreateNothingTwice) {
  Boot(kStart);
  const std::string agent = NewAgent("buyer");
  const std::string s = Session(agent);
  const std::string m = Issue(agent, Terms(Window("day", "calendar", "UTC", "100000")), 30, "",
                              "");
  // Step-up above 3000 on a second mandate.
  const std::string ms =
      Issue(agent, Terms(Window("day", "calendar", "UTC", "100000"), "",
                         R"(,"step_up":{"above":[{"asset":"USD","amount":"3000"}]})"));
  struct Case {
    std::string what, body;
    int status;
    std::string decision;  // "" for an error answer
  };
  const std::vector<Case> cases = {
      {"allowed", Purchase(m, "1000"), 201, "allowed"},
      {"denied", Purchase(m, "100", "evil.example"), 201, "denied"},
      {"approval_required", Purchase(ms, "4000"), 201, "approval_required"},
      {"bad request",
       R"({"mandate":")" + m + R"(","payee":{"type":"domain","value":"api.shop.example"},"amount":100,"asset":"USD"})",
       400, ""},
  };
  std::vector<std::string> keys;
  std::string allowed_id;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string key = NextKey();
    keys.push_back(key);
    Reply first = Send("POST", "/v1/authorizations", s, c.body, key);
    ASSERT_EQ(first.status, c.status) << first.body;
    if (!c.decision.empty()) {
      EXPECT_EQ(StringField(first.json, "decision"), c.decision) << first.body;
    } else {
      EXPECT_EQ(StringField(first.json, "type"), std::string(kProblem) + "amount-not-string");
    }
    if (c.decision == "allowed") {
      allowed_id = StringField(first.json, "id");
    }
    const std::string headroom_before = json::Write(Headroom(m)) + json::Write(Headroom(ms));
    const size_t count_before = CountAuthorizations(m) + CountAuthorizations(ms);
    for (int retry = 0; retry < 2; ++retry) {
      Reply again = Send("POST", "/v1/authorizations", s, c.body, key);
      EXPECT_EQ(again.status, first.status);
      EXPECT_EQ(again.body, first.body);
      EXPECT_EQ(again.replayed, "true");
    }
    EXPECT_EQ(json::Write(Headroom(m)) + json::Write(Headroom(ms)), headroom_before);
    EXPECT_EQ(CountAuthorizations(m) + CountAuthorizations(ms), count_before);
  }
  EXPECT_EQ(CountAuthorizations(m), 2u);
  EXPECT_EQ(CountAuthorizations(ms), 1u);
  json::Value pending = Call("GET", base_ + "/approvals?state=pending", admin_, "", 200);
  EXPECT_EQ(pending.Find("items")->items().size(), 1u);
  // The day window holds the 1000 once.
  EXPECT_EQ(StringField(HeadroomCounter(m, DayCounter(m, "UTC")), "spent"), "1000");

  // The same key with another body (amount, then mandate), and no key at all.
  for (const std::string& other : {Purchase(m, "1001"), Purchase(ms, "1000")}) {
    Reply reused = Send("POST", "/v1/authorizations", s, other, keys[0]);
    EXPECT_EQ(reused.status, 422) << reused.body;
    EXPECT_EQ(StringField(reused.json, "type"), std::string(kProblem) + "idempotency-key-reused");
  }
  Reply missing = Send("POST", "/v1/authorizations", s, Purchase(m, "5"), "");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(StringField(missing.json, "type"), std::string(kProblem) + "missing-idempotency-key");
  EXPECT_EQ(CountAuthorizations(m), 2u);

  // Keys are per caller: another agent's session with the same key is a fresh request, and a
  // new session of the same agent replays.
  const std::string other_agent = NewAgent("other");
  const std::string mo = Issue(other_agent, Terms(Window("day", "calendar", "UTC", "100000")));
  Reply fresh = Send("POST", "/v1/authorizations", Session(other_agent), Purchase(mo, "1000"),
                     keys[0]);
  EXPECT_EQ(fresh.status, 201) << fresh.body;
  EXPECT_EQ(StringField(fresh.json, "decision"), "allowed");
  EXPECT_NE(StringField(fresh.json, "id"), allowed_id);
  EXPECT_EQ(fresh.replayed, "");
  Reply same_agent = Send("POST", "/v1/authorizations", Session(agent), cases[0].body, keys[0]);
  EXPECT_EQ(StringField(same_agent.json, "id"), allowed_id);
  EXPECT_EQ(CountAuthorizations(m), 2u);
  EXPECT_EQ(CountAuthorizations(mo), 1u);

  // Capture and void retries return the first answer; the hold moves once.
  const std::string cap_key = NextKey();
  const std::string cap_path = "/v1/authorizations/" + allowed_id + "/capture";
  Reply cap = Send("POST", cap_path, s, R"({"amount":"600"})", cap_key);
  ASSERT_EQ(cap.status, 200) << cap.body;
  EXPECT_EQ(StringField(*cap.json.Find("reservation"), "state"), "captured");
  Reply cap_again = Send("POST", cap_path, s, R"({"amount":"600"})", cap_key);
  EXPECT_EQ(cap_again.status, 200);
  EXPECT_EQ(cap_again.body, cap.body);
  Reply cap_reused = Send("POST", cap_path, s, R"({"amount":"500"})", cap_key);
  EXPECT_EQ(cap_reused.status, 422);
  EXPECT_EQ(StringField(HeadroomCounter(m, DayCounter(m, "UTC")), "spent"), "600");

  const std::string v_id = StringField(Authorize(s, Purchase(m, "700")), "id");
  EXPECT_EQ(StringField(HeadroomCounter(m, DayCounter(m, "UTC")), "spent"), "1300");
  const std::string void_key = NextKey();
  Reply voided = Send("POST", "/v1/authorizations/" + v_id + "/void", s, "", void_key);
  ASSERT_EQ(voided.status, 200) << voided.body;
  EXPECT_EQ(StringField(*voided.json.Find("reservation"), "state"), "voided");
  Reply void_again = Send("POST", "/v1/authorizations/" + v_id + "/void", s, "", void_key);
  EXPECT_EQ(void_again.status, 200);
  EXPECT_EQ(void_again.body, voided.body);
  EXPECT_EQ(StringField(HeadroomCounter(m, DayCounter(m, "UTC")), "spent"), "600");
  // A 409 is kept too: voiding the voided one again with a new key, then retrying.
  const std::string k409 = NextKey();
  Reply conflict = Send("POST", "/v1/authorizations/" + v_id + "/void", s, "", k409);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(StringField(conflict.json, "type"), std::string(kProblem) + "reservation-state");
  EXPECT_EQ(Send("POST", "/v1/authorizations/" + v_id + "/void", s, "", k409).body,
            conflict.body);
}

TEST_F(AuthorizationsApiTest, ConcurrentSameKeyGetsTheOneAnswerOrInFlight) {
  Boot(kStart);
  const std::string agent = NewAgent("buyer");
  const std::string s = Session(agent);
  const std::string m = Issue(agent, Terms(Window("day", "calendar", "UTC", "100000")));
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    const std::string key = NextKey();
    const std::string body = Purchase(m, std::to_string(100 + round));
    constexpr int kThreads = 8;
    std::vector<Reply> replies(kThreads);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        httplib::Client c("127.0.0.1", service_.port());
        c.set_read_timeout(10, 0);
        ++ready;
        while (ready.load() < kThreads) {
          std::this_thread::yield();
        }
        httplib::Result r =
            c.Post("/v1/authorizations",
                   {{"Authorization", "Bearer " + s}, {"Idempotency-Key", key}}, body,
                   "application/json");
        if (r) {
          replies[i].status = r->status;
          replies[i].body = r->body;
          Result<json::Value> v = json::Parse(r->body);
          replies[i].json = v.ok() ? *v : json::Value::Object();
        }
      });
    }
    for (std::thread& t : threads) {
      t.join();
    }
    std::string the_body;
    int created = 0, in_flight = 0;
    for (const Reply& r : replies) {
      if (r.status == 201) {
        ++created;
        if (the_body.empty()) {
          the_body = r.body;
        }
        EXPECT_EQ(r.body, the_body);
      } else {
        EXPECT_EQ(r.status, 409) << r.body;
        EXPECT_EQ(StringField(r.json, "type"),
                  std::string(kProblem) + "idempotency-key-in-flight");
        ++in_flight;
      }
    }
    EXPECT_GE(created, 1);
    EXPECT_EQ(created + in_flight, kThreads);
    EXPECT_EQ(CountAuthorizations(m), static_cast<size_t>(round + 1));
    // Once settled, the key replays the one answer.
    EXPECT_EQ(Send("POST", "/v1/authorizations", s, body, key).body, the_body);
  }
}

// ---- Windows through the API (specs/windows.md) ----

class AuthorizationWindowsTest : public AuthorizationsApiTest {
 public:
  // A `day` window in `zone` covers exactly [day_start, day_end): a spend at the second before
  // the day and one at its first second land in different days, the day's spend counts up to
  // its last second and not at day_end.
  void CheckLocalDay(const std::string& zone, int64_t day_start, int64_t day_end) {
    Boot(day_start - 12 * 3600);
    const std::string agent = NewAgent("buyer");
    const std::string m = Issue(agent, Terms(Window("day", "calendar", zone, "1000")), 10);
    const std::string counter = DayCounter(m, zone);
    AdvanceTo(day_start - 1);
    std::string s = Session(agent);
    json::Value before = Authorize(s, Purchase(m, "700"));
    ASSERT_EQ(StringField(before, "decision"), "allowed") << json::Write(before);
    Capture(s, StringField(before, "id"));
    json::Value c = HeadroomCounter(m, counter);
    EXPECT_EQ(StringField(c, "spent"), "700");
    EXPECT_EQ(StringField(c, "remaining"), "300");
    EXPECT_EQ(c.Find("resets_at")->as_int64(), day_start);

    AdvanceTo(day_start);  // local 00:00:00: a new day, the 700 is yesterday's
    c = HeadroomCounter(m, counter);
    EXPECT_EQ(StringField(c, "spent"), "0");
    EXPECT_EQ(StringField(c, "remaining"), "1000");
    EXPECT_EQ(c.Find("resets_at")->as_int64(), day_end);
    json::Value full = Authorize(s, Purchase(m, "1000"));
    ASSERT_EQ(StringField(full, "decision"), "allowed") << json::Write(full);
    Capture(s, StringField(full, "id"));

    AdvanceTo(day_end - 1);  // local 23:59:59 of the same day
    s = Session(agent);
    json::Value denied = Authorize(s, Purchase(m, "1"));
    EXPECT_EQ(StringField(denied, "decision"), "denied");
    EXPECT_EQ(Codes(denied), std::vector<std::string>{"window-exceeded"});
    EXPECT_EQ(StringField(denied.Find("reasons")->items()[0], "counter"), counter);
    EXPECT_EQ(StringField(denied.Find("reasons")->items()[0], "remaining"), "0");
    json::Value dc = CounterIn(denied.Find("headroom"), counter);
    EXPECT_EQ(StringField(dc, "spent"), "1000");
    EXPECT_EQ(StringField(dc, "remaining"), "0");
    EXPECT_EQ(dc.Find("resets_at")->as_int64(), day_end);
    // The denial is recorded.
    EXPECT_EQ(StringField(Record(StringField(denied, "id")), "decision"), "denied");

    AdvanceTo(day_end);  // the next local midnight
    EXPECT_EQ(StringField(HeadroomCounter(m, counter), "spent"), "0");
    EXPECT_EQ(StringField(Authorize(s, Purchase(m, "1")), "decision"), "allowed");
  }
};

TEST_F(AuthorizationWindowsTest, ParisDayIs23HoursOnTheSpringChange) {
  // 2026-03-29 in Europe/Paris: 00:00 CET to 00:00 CEST next day (specs/windows.md §2.3).
  CheckLocalDay("Europe/Paris", 1774738800, 1774821600);
}

TEST_F(AuthorizationWindowsTest, ParisDayIs25HoursOnTheAutumnChange) {
  CheckLocalDay("Europe/Paris", 1792879200, 1792969200);
}

TEST_F(AuthorizationWindowsTest, NewYorkDayIs25HoursOnNovember1st2026) {
  CheckLocalDay("America/New_York", 1793505600, 1793595600);
}

TEST_F(AuthorizationWindowsTest, ParisMonthEndsAtLocalMidnightOfTheFirst) {
  constexpr int64_t kFeb1 = 1769900400;  // 2026-02-01T00:00:00+01:00
  constexpr int64_t kMar1 = 1772319600;  // 2026-03-01T00:00:00+01:00
  Boot(1769857200);                      // 2026-01-31 12:00 Paris
  const std::string agent = NewAgent("buyer");
  const std::string m = Issue(agent, Terms(Window("day", "calendar", "Europe/Paris", "1000") +
                                           "," +
                                           Window("month", "calendar", "Europe/Paris", "1000")));
  const std::string month = "mandate:" + m + ":window:month:calendar:Europe/Paris";
  AdvanceTo(kFeb1 - 1);  // Jan 31 23:59:59 local
  const std::string s = Session(agent);
  json::Value a = Authorize(s, Purchase(m, "600"));
  ASSERT_EQ(StringField(a, "decision"), "allowed") << json::Write(a);
  json::Value over = Authorize(s, Purchase(m, "500"));
  EXPECT_EQ(StringField(over, "decision"), "denied");
  EXPECT_EQ(Codes(over), (std::vector<std::string>{"window-exceeded", "window-exceeded"}));
  json::Value mc = CounterIn(over.Find("headroom"), month);
  EXPECT_EQ(StringField(mc, "spent"), "600");
  EXPECT_EQ(StringField(mc, "remaining"), "400");
  EXPECT_EQ(mc.Find("resets_at")->as_int64(), kFeb1);

  AdvanceTo(kFeb1);  // Feb 1 00:00:00 local: the January hold (still reserved) no longer counts
  mc = HeadroomCounter(m, month);
  EXPECT_EQ(StringField(mc, "spent"), "0");
  EXPECT_EQ(StringField(mc, "remaining"), "1000");
  EXPECT_EQ(mc.Find("resets_at")->as_int64(), kMar1);
  EXPECT_EQ(HeadroomCounter(m, DayCounter(m, "Europe/Paris")).Find("resets_at")->as_int64(),
            kFeb1 + 86400);
  EXPECT_EQ(StringField(Authorize(s, Purchase(m, "1000")), "decision"), "allowed");
  EXPECT_EQ(StringField(*Record(StringField(a, "id")).Find("reservation"), "state"),
            "reserved");
}

TEST_F(AuthorizationWindowsTest, LeapDay2028IsItsOwnDayAndFebruaryHas29) {
  constexpr int64_t kFeb1 = 1832976000;   // 2028-02-01T00:00:00Z
  constexpr int64_t kFeb29 = 1835395200;  // 2028-02-29T00:00:00Z
  constexpr int64_t kMar1 = 1835481600;   // 2028-03-01T00:00:00Z
  constexpr int64_t kApr1 = kMar1 + 31 * 86400;
  ASSERT_EQ(kMar1 - kFeb1, 2505600);
  Boot(kFeb1);
  const std::string agent = NewAgent("buyer");
  const std::string m = Issue(agent, Terms(Window("day", "calendar", "UTC", "1000") + "," +
                                           Window("month", "calendar", "UTC", "10000")),
                              60);
  const std::string day = DayCounter(m, "UTC");
  const std::string month = "mandate:" + m + ":window:month:calendar:UTC";
  std::string s = Session(agent);
  Capture(s, StringField(Authorize(s, Purchase(m, "900")), "id"));  // Feb 1 00:00:00
  AdvanceTo(kFeb29 - 1);                                               // Feb 28 23:59:59
  s = Session(agent);
  Capture(s, StringField(Authorize(s, Purchase(m, "800")), "id"));
  AdvanceTo(kFeb29);  // the leap day: a day of its own
  json::Value h = Headroom(m);
  json::Value dc = CounterIn(h.Find("counters"), day);
  EXPECT_EQ(StringField(dc, "spent"), "0");
  EXPECT_EQ(dc.Find("resets_at")->as_int64(), kMar1);
  json::Value mc = CounterIn(h.Find("counters"), month);
  EXPECT_EQ(StringField(mc, "spent"), "1700");
  EXPECT_EQ(StringField(mc, "remaining"), "8300");
  EXPECT_EQ(mc.Find("resets_at")->as_int64(), kMar1);
  Capture(s, StringField(Authorize(s, Purchase(m, "1000")), "id"));
  AdvanceTo(kMar1 - 1);  // Feb 29 23:59:59: the day is used up, the month counts all of February
  s = Session(agent);
  json::Value denied = Authorize(s, Purchase(m, "1"));
  EXPECT_EQ(Codes(denied), std::vector<std::string>{"window-exceeded"});
  EXPECT_EQ(StringField(denied.Find("reasons")->items()[0], "counter"), day);
  EXPECT_EQ(StringField(CounterIn(denied.Find("headroom"), month), "spent"), "2700");
  AdvanceTo(kMar1);
  h = Headroom(m);
  EXPECT_EQ(StringField(CounterIn(h.Find("counters"), month), "spent"), "0");
  EXPECT_EQ(CounterIn(h.Find("counters"), month).Find("resets_at")->as_int64(), kApr1);
  EXPECT_EQ(StringField(CounterIn(h.Find("counters"), day), "spent"), "0");
  EXPECT_EQ(StringField(Authorize(s, Purchase(m, "1000")), "decision"), "allowed");
}

TEST_F(AuthorizationWindowsTest, RollingHourCountsASpendUntilTPlus3599AndNotAtTPlus3600) {
  Boot(kStart);
  const std::string agent = NewAgent("buyer");
  const std::string m = Issue(agent, Terms(Window("hour", "rolling", "", "1000")));
  const std::string counter = "mandate:" + m + ":window:hour:rolling";
  std::string s = Session(agent);
  const int64_t t = Now();
  Capture(s, StringField(Authorize(s, Purchase(m, "1000")), "id"));
  AdvanceTo(t + 3599);
  s = Session(agent);
  json::Value denied = Authorize(s, Purchase(m, "1"));
  EXPECT_EQ(Codes(denied), std::vector<std::string>{"window-exceeded"});
  json::Value c = CounterIn(denied.Find("headroom"), counter);
  EXPECT_EQ(StringField(c, "spent"), "1000");
  EXPECT_EQ(c.Find("resets_at"), nullptr);  // no single reset
  AdvanceTo(t + 3600);
  c = HeadroomCounter(m, counter);
  EXPECT_EQ(StringField(c, "spent"), "0");
  EXPECT_EQ(StringField(c, "remaining"), "1000");
  EXPECT_EQ(StringField(Authorize(s, Purchase(m, "1000")), "decision"), "allowed");
  // And a reserved (not captured) hold counts within its lease in the same way.
  EXPECT_EQ(StringField(HeadroomCounter(m, counter), "spent"), "1000");
}

// ---- Reservations (§4) ----

// The principal rotates its issuer key, then disables the new one (say compromised): mandates
// signed by the old, retired key still verify, and their purchases still get a receipt, signed
// by a key made for it and published (before: 404 key-not-found until the next issuance).
TEST_F(AuthorizationsApiTest, ReceiptsAreSignedAfterTheActiveIssuerKeyIsDisabled) {
  Boot(kStart);
  const std::string agent = NewAgent("buyer");
  const std::string m = Issue(agent, R"({"limits":{"per_transaction":[{"asset":"USD","max":"500"}]}})");
  const std::string s = Session(agent);
  const json::Value first = Authorize(s, Purchase(m, "10"));
  Result<signer::Jws> first_receipt = signer::ParseJws(StringField(first, "receipt"));
  ASSERT_TRUE(first_receipt.ok());
  const std::string old_key = first_receipt->kid.substr(first_receipt->kid.find('#') + 1);
  const std::string new_key =
      StringField(Call("POST", base_ + "/keys/" + old_key + "/rotate", admin_, "", 200), "id");
  Call("POST", base_ + "/keys/" + new_key + "/disable", admin_, "", 200);
  const json::Value after = Authorize(s, Purchase(m, "10"));
  EXPECT_EQ(StringField(after, "decision"), "allowed") << json::Write(after);
  Result<signer::Jws> receipt = signer::ParseJws(StringField(after, "receipt"));
  ASSERT_TRUE(receipt.ok());
  const std::string made = receipt->kid.substr(receipt->kid.find('#') + 1);
  EXPECT_NE(made, old_key);
  EXPECT_NE(made, new_key);
  const json::Value jwks = Call("GET", "/principals/" + principal_ + "/jwks.json", "", "", 200);
  EXPECT_NE(json::Write(jwks).find(made), std::string::npos);
}

TEST_F(AuthorizationsApiTest, CaptureVoidAndLeasesMoveTheHeadroomExactly) {
  Boot(kStart);
  const std::string agent = NewAgent("buyer");
  const std::string s = Session(agent);
  const std::string m = Issue(agent, Terms(Window("day", "calendar", "UTC", "5000")));
  const std::string day = DayCounter(m, "UTC");
  auto remaining = [&] { return StringField(HeadroomCounter(m, day), "remaining"); };

  json::Value a1 = Authorize(s, Purchase(m, "1000"));
  ASSERT_EQ(StringField(a1, "decision"), "allowed");
  EXPECT_EQ(a1.Find("reservation")->Find("expires_at")->as_int64(), Now() + 600);
  EXPECT_EQ(remaining(), "4000");
  json::Value cap = Capture(s, StringField(a1, "id"), R"({"amount":"600"})");
  EXPECT_EQ(StringField(*cap.Find("reservation"), "state"), "captured");
  EXPECT_EQ(StringField(*cap.Find("reservation"), "captured"), "600");
  // The receipt stays in the record through the capture (and through a void, below).
  ASSERT_FALSE(StringField(a1, "receipt").empty());
  EXPECT_EQ(StringField(cap, "receipt"), StringField(a1, "receipt"));
  EXPECT_EQ(StringField(Record(StringField(a1, "id")), "receipt"), StringField(a1, "receipt"));
  EXPECT_EQ(remaining(), "4400");  // up by exactly 400
  json::Value twice = Capture(s, StringField(a1, "id"), "", 409);
  EXPECT_EQ(StringField(twice, "type"), std::string(kProblem) + "reservation-state");

  json::Value a2 = Authorize(s, Purchase(m, "1000"));
  EXPECT_EQ(remaining(), "3400");
  json::Value above = Capture(s, StringField(a2, "id"), R"({"amount":"1001"})", 400);
  EXPECT_EQ(StringField(above, "type"), std::string(kProblem) + "capture-above-reserved");
  EXPECT_EQ(remaining(), "3400");
  EXPECT_EQ(StringField(*Void(s, StringField(a2, "id")).Find("reservation"), "state"), "voided");
  EXPECT_FALSE(StringField(a2, "receipt").empty());
  EXPECT_EQ(StringField(Record(StringField(a2, "id")), "receipt"), StringField(a2, "receipt"));
  EXPECT_EQ(remaining(), "4400");

  // A lease: 4000 held at t; 1000 does not fit until t + 600, and fits at t + 600 exactly.
  const int64_t t = Now();
  json::Value a3 = Authorize(s, Purchase(m, "4000"));
  ASSERT_EQ(StringField(a3, "decision"), "allowed");
  AdvanceTo(t + 599);
  json::Value no = Authorize(s, Purchase(m, "1000"));
  EXPECT_EQ(Codes(no), std::vector<std::string>{"window-exceeded"});
  EXPECT_EQ(StringField(CounterIn(no.Find("headroom"), day), "remaining"), "400");
  AdvanceTo(t + 600);
  json::Value late = Capture(s, StringField(a3, "id"), "", 409);
  EXPECT_EQ(StringField(late, "type"), std::string(kProblem) + "reservation-expired");
  EXPECT_EQ(remaining(), "4400");
  json::Value rec = Record(StringField(a3, "id"));
  EXPECT_EQ(StringField(*rec.Find("reservation"), "state"), "expired");
  json::Value yes = Authorize(s, Purchase(m, "1000"));
  EXPECT_EQ(StringField(yes, "decision"), "allowed") << json::Write(yes);
  EXPECT_EQ(remaining(), "3400");
  // Void of an expired hold is refused as well.
  EXPECT_EQ(StringField(Void(s, StringField(a3, "id"), 409), "type"),
            std::string(kProblem) + "reservation-state");
}

// ---- Approvals (§7) ----

class AuthorizationApprovalsTest : public AuthorizationsApiTest {
 protected:
  // A mandate of `agent` with a 100000 USD day (UTC) whose purchases above 5000 need a step-up.
  std::string StepUpMandate(const std::string& agent) {
    return Issue(agent, Terms(Window("day", "calendar", "UTC", "100000"), "",
                              R"(,"step_up":{"above":[{"asset":"USD","amount":"5000"}]})"));
  }
  void SetUpApprover() {
    approver_key_ = *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
    approver_pub_ = *signer::DerivePublicKey(approver_key_);
    approver_did_ = signer::DidKeyFromPublicKey(approver_pub_);
    const std::string user = StringField(
        Call("POST", base_ + "/users", admin_,
             R"({"name":"bob","roles":["approver"],"did":")" + approver_did_ + R"("})", 201),
        "id");
    approver_ = StringField(Call("POST", base_ + "/credentials", admin_,
                                 R"({"role":"approver","user":")" + user + R"("})", 201),
                            "token");
    auditor_ = StringField(Call("POST", base_ + "/credentials", admin_,
                                R"({"role":"auditor","name":"aud"})", 201),
                           "token");
  }
  // Evidence for `approval` signed by `key` (the approver's by default).
  std::string Evidence(const std::string& approval, const std::string& decision,
                       const std::string& shown, const std::string& aud, int64_t iat,
                       int64_t exp, const signer::PrivateKey* key = nullptr) {
    const signer::PrivateKey& k = key ? *key : approver_key_;
    const signer::PublicKey pub = *signer::DerivePublicKey(k);
    json::Value header = json::Value::Object();
    header.Set("alg", json::Value::String("EdDSA"));
    header.Set("kid", json::Value::String(signer::DidKeyVerificationMethodId(pub)));
    json::Value p = json::Value::Object();
    p.Set("iss", json::Value::String(signer::DidKeyFromPublicKey(pub)));
    p.Set("aud", json::Value::String(aud));
    p.Set("approval", json::Value::String(approval));
    p.Set("decision", json::Value::String(decision));
    p.Set("shown_sha256", json::Value::String(shown));
    p.Set("iat", json::Value::Int(iat));
    p.Set("exp", json::Value::Int(exp));
    Result<std::string> jws = signer::SignJws(k, std::move(header), json::Write(p));
    EXPECT_TRUE(jws.ok());
    return jws.ok() ? *jws : "";
  }
  std::string EvidenceBody(const std::string& jws) {
    return R"({"evidence":")" + jws + R"("})";
  }

  signer::PrivateKey approver_key_;
  signer::PublicKey approver_pub_;
  std::string approver_did_, approver_, auditor_;
};

TEST_F(AuthorizationApprovalsTest, StepUpIsApprovedWithSignedEvidenceThenCapturedWithAVerifiableReceipt) {
  Boot(kStart);
  SetUpApprover();
  const std::string agent = NewAgent("buyer");
  const std::string s = Session(agent);
  const std::string m = StepUpMandate(agent);
  const std::string day = DayCounter(m, "UTC");
  // At the threshold: no step-up.
  EXPECT_EQ(StringField(Authorize(s, Purchase(m, "5000")), "decision"), "allowed");
  json::Value a = Authorize(s, Purchase(m, "8000"));
  ASSERT_EQ(StringField(a, "decision"), "approval_required") << json::Write(a);
  EXPECT_EQ(StringField(*a.Find("reservation"), "state"), "pending");
  EXPECT_EQ(a.Find("receipt"), nullptr);
  const std::string id = StringField(a, "id");
  const std::string apr = StringField(*a.Find("approval"), "id");
  ASSERT_EQ(apr.rfind("apr_", 0), 0u);
  EXPECT_EQ(StringField(HeadroomCounter(m, day), "spent"), "13000");  // held while waiting
  // Capture while pending is refused.
  EXPECT_EQ(StringField(Capture(s, id, "", 409), "type"),
            std::string(kProblem) + "reservation-state");

  // Listed for the approver, at both paths; readable by an auditor.
  for (const std::string& path : {std::string("/v1/approvals"),
                                  base_ + "/approvals?state=pending"}) {
    json::Value list = Call("GET", path, approver_, "", 200);
    ASSERT_EQ(list.Find("items")->items().size(), 1u) << path;
    EXPECT_EQ(StringField(list.Find("items")->items()[0], "id"), apr);
  }
  json::Value ap = Call("GET", base_ + "/approvals/" + apr, auditor_, "", 200);
  EXPECT_EQ(StringField(ap, "state"), "pending");
  EXPECT_EQ(StringField(ap, "authorization"), id);
  const std::string shown = StringField(ap, "shown_sha256");
  EXPECT_EQ(HexEncode(signer::Sha256(AsBytes(json::Write(*ap.Find("shown"))))), shown);
  // An auditor cannot decide.
  EXPECT_EQ(Send("POST", base_ + "/approvals/" + apr + "/approve", auditor_, "", NextKey()).status,
            403);

  // Evidence that does not hold: 400 bad-evidence, and the approval stays pending.
  const std::string aud = service_.app()->service_did();
  const int64_t now = Now();
  signer::PrivateKey stranger =
      *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"wrong shown_sha256", Evidence(apr, "approve", std::string(64, '0'), aud, now, now + 120)},
      {"wrong decision", Evidence(apr, "deny", shown, aud, now, now + 120)},
      {"wrong aud", Evidence(apr, "approve", shown, "did:web:elsewhere.example", now, now + 120)},
      {"another key", Evidence(apr, "approve", shown, aud, now, now + 120, &stranger)},
      {"expired", Evidence(apr, "approve", shown, aud, now - 400, now - 300)},
      {"another approval", Evidence("apr_aaaaaaaaaaaaaaaaaaaaaaaaaa", "approve", shown, aud, now,
                                    now + 120)},
      // exp - iat overflows int64: must be refused, not wrap to a small lifetime.
      {"far-apart iat and exp", Evidence(apr, "approve", shown, aud,
                                         std::numeric_limits<int64_t>::min() + 1000,
                                         int64_t{1} << 62)},
  };
  for (const auto& [what, jws] : bad) {
    SCOPED_TRACE(what);
    Reply r = Send("POST", base_ + "/approvals/" + apr + "/approve", approver_, EvidenceBody(jws),
                   NextKey());
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(StringField(r.json, "type"), std::string(kProblem) + "bad-evidence");
    EXPECT_EQ(StringField(Call("GET", base_ + "/approvals/" + apr, approver_, "", 200), "state"),
              "pending");
  }
  EXPECT_EQ(StringField(HeadroomCounter(m, day), "spent"), "13000");

  // The right evidence approves; a retry replays; the authorization is allowed with a receipt.
  const std::string key = NextKey();
  const std::string good = EvidenceBody(Evidence(apr, "approve", shown, aud, now, now + 120));
  Reply ok = Send("POST", base_ + "/approvals/" + apr + "/approve", approver_, good, key);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(StringField(ok.json, "state"), "approved");
  EXPECT_EQ(StringField(*ok.json.Find("evidence"), "did"), approver_did_);
  EXPECT_EQ(Send("POST", base_ + "/approvals/" + apr + "/approve", approver_, good, key).body,
            ok.body);
  json::Value after = Call("GET", "/v1/authorizations/" + id, s, "", 200);
  EXPECT_EQ(StringField(after, "decision"), "allowed");
  EXPECT_EQ(StringField(*after.Find("reservation"), "state"), "reserved");
  EXPECT_EQ(after.Find("reservation")->Find("expires_at")->as_int64(), Now() + 600);
  const std::string receipt = StringField(after, "receipt");
  ASSERT_FALSE(receipt.empty());
  // The receipt verifies with the principal's published key.
  Result<signer::Jws> jws = signer::ParseJws(receipt);
  ASSERT_TRUE(jws.ok());
  EXPECT_EQ(jws->typ, "authz+jwt");
  Reply jwks = Send("GET", "/principals/" + principal_ + "/jwks.json", "", "");
  ASSERT_EQ(jwks.status, 200);
  bool verified = false;
  for (const json::Value& k : jwks.json.Find("keys")->items()) {
    if (StringField(k, "kid") != jws->kid) {
      continue;
    }
    Result<signer::PublicKey> pk = signer::PublicKeyFromJwk(k);
    ASSERT_TRUE(pk.ok()) << pk.error().ToString();
    Status v = signer::VerifyJws(*jws, *pk);
    EXPECT_TRUE(v.ok()) << v.ToString();
    verified = v.ok();
  }
  EXPECT_TRUE(verified) << "no JWKS key " << jws->kid;
  Result<json::Value> claims = json::Parse(jws->payload);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(StringField(*claims, "jti"), "urn:mandated:authorization:" + id);
  EXPECT_EQ(StringField(*claims, "amount"), "8000");
  EXPECT_EQ(StringField(*claims, "reservation"), StringField(*after.Find("reservation"), "id"));
  EXPECT_EQ(claims->Find("exp")->as_int64(), after.Find("reservation")->Find("expires_at")->as_int64());
  EXPECT_EQ(StringField(*claims, "iss"), service_.app()->service_did() + ":principals:" + principal_);

  // Deciding again is 409; capture works.
  json::Value again = Call("POST", base_ + "/approvals/" + apr + "/deny", approver_, "", 409,
                           NextKey());
  EXPECT_EQ(StringField(again, "type"), std::string(kProblem) + "approval-state");
  EXPECT_EQ(StringField(*Capture(s, id).Find("reservation"), "state"), "captured");
  EXPECT_EQ(StringField(HeadroomCounter(m, day), "spent"), "13000");
  EXPECT_TRUE(Call("GET", base_ + "/approvals?state=pending", approver_, "", 200)
                  .Find("items")
                  ->items()
                  .empty());
}

// Suspending the agent stops its pending step-ups (specs/access.md §Agents): each is denied by
// the admin who suspended it and its hold released, so resuming the agent does not let the
// request be approved and captured after all. Another agent's pending request is untouched.
TEST_F(AuthorizationApprovalsTest, SuspendingTheAgentDeniesItsPendingStepUps) {
  Boot(kStart);
  SetUpApprover();
  const std::string agent = NewAgent("buyer");
  const std::string other = NewAgent("other buyer");
  const std::string m = StepUpMandate(agent);
  const std::string day = DayCounter(m, "UTC");
  const json::Value held = Authorize(Session(agent), Purchase(m, "9000"));
  const std::string apr = StringField(*held.Find("approval"), "id");
  const json::Value kept = Authorize(Session(other), Purchase(StepUpMandate(other), "8000"));
  const std::string kept_apr = StringField(*kept.Find("approval"), "id");
  EXPECT_EQ(StringField(HeadroomCounter(m, day), "spent"), "9000");

  Call("POST", base_ + "/agents/" + agent + "/suspend", admin_, "", 200);
  const json::Value ap = Call("GET", base_ + "/approvals/" + apr, approver_, "", 200);
  EXPECT_EQ(StringField(ap, "state"), "denied");
  json::Value rec = Record(StringField(held, "id"));
  EXPECT_EQ(StringField(rec, "decision"), "denied");
  EXPECT_EQ(Codes(rec), std::vector<std::string>{"approval-denied"});
  EXPECT_EQ(StringField(rec.Find("reasons")->items()[0], "detail"),
            "denied: agent " + agent + " was suspended");
  EXPECT_EQ(StringField(*rec.Find("reservation"), "state"), "released");
  EXPECT_EQ(StringField(HeadroomCounter(m, day), "spent"), "0");
  EXPECT_EQ(StringField(Call("GET", base_ + "/approvals/" + kept_apr, approver_, "", 200), "state"),
            "pending");

  Call("POST", base_ + "/agents/" + agent + "/resume", admin_, "", 200);
  const std::string shown = StringField(ap, "shown_sha256");
  const std::string aud = service_.app()->service_did();
  const json::Value late = Call("POST", base_ + "/approvals/" + apr + "/approve", approver_,
                                EvidenceBody(Evidence(apr, "approve", shown, aud, Now(), Now() + 60)),
                                409, NextKey());
  EXPECT_EQ(StringField(late, "type"), std::string(kProblem) + "approval-state");
}

TEST_F(AuthorizationApprovalsTest, DenialAndTimeoutReleaseTheHold) {
  Boot(kStart);
  SetUpApprover();
  const std::string agent = NewAgent("buyer");
  const std::string s = Session(agent);
  const std::string m = StepUpMandate(agent);
  const std::string day = DayCounter(m, "UTC");

  // Denied by the approver (no evidence: the credential is the record).
  json::Value d = Authorize(s, Purchase(m, "9000"));
  const std::string apr_d = StringField(*d.Find("approval"), "id");
  EXPECT_EQ(StringField(HeadroomCounter(m, day), "spent"), "9000");
  json::Value denied = Call("POST", base_ + "/approvals/" + apr_d + "/deny", approver_,
                            R"({"note":"not this one"})", 200, NextKey());
  EXPECT_EQ(StringField(denied, "state"), "denied");
  json::Value rec = Record(StringField(d, "id"));
  EXPECT_EQ(StringField(rec, "decision"), "denied");
  EXPECT_EQ(Codes(rec), std::vector<std::string>{"approval-denied"});
  // The approver's note stays in the approval record: the agent reads only that it was denied.
  EXPECT_EQ(StringField(rec.Find("reasons")->items()[0], "detail"), "denied by an approver");
  EXPECT_EQ(json::Write(rec).find("not this one"), std::string::npos);
  EXPECT_EQ(StringField(*rec.Find("reservation"), "state"), "released");
  EXPECT_EQ(StringField(HeadroomCounter(m, day), "spent"), "0");

  // Nobody decides: at approval_timeout_s (900 s) it is denied and released.
  json::Value t = Authorize(s, Purchase(m, "7000"));
  const std::string apr_t = StringField(*t.Find("approval"), "id");
  EXPECT_EQ(t.Find("approval")->Find("expires_at")->as_int64(), Now() + 900);
  const int64_t t0 = Now();
  AdvanceTo(t0 + 899);
  EXPECT_EQ(StringField(HeadroomCounter(m, day), "spent"), "7000");
  EXPECT_EQ(StringField(Record(StringField(t, "id")), "decision"), "approval_required");
  AdvanceTo(t0 + 900);
  rec = Record(StringField(t, "id"));
  EXPECT_EQ(StringField(rec, "decision"), "denied");
  EXPECT_EQ(Codes(rec), std::vector<std::string>{"approval-timeout"});
  EXPECT_EQ(StringField(*rec.Find("reservation"), "state"), "released");
  EXPECT_EQ(StringField(Call("GET", base_ + "/approvals/" + apr_t, approver_, "", 200), "state"),
            "expired");
  json::Value c = HeadroomCounter(m, day);
  EXPECT_EQ(StringField(c, "spent"), "0");
  EXPECT_EQ(StringField(c, "remaining"), "100000");
  const std::string aud = service_.app()->service_did();
  const std::string shown =
      StringField(Call("GET", base_ + "/approvals/" + apr_t, approver_, "", 200), "shown_sha256");
  json::Value late = Call("POST", base_ + "/approvals/" + apr_t + "/approve", approver_,
                          EvidenceBody(Evidence(apr_t, "approve", shown, aud, Now(), Now() + 60)),
                          409, NextKey());
  EXPECT_EQ(StringField(late, "type"), std::string(kProblem) + "approval-state");
  EXPECT_TRUE(Call("GET", base_ + "/approvals?state=pending", approver_, "", 200)
                  .Find("items")
                  ->items()
                  .empty());

  // Approved in time but never captured: the hold lapses at its lease, and the trail says so
  // (authorization.lapsed), not that the approval timed out; the approval stays approved.
  json::Value a = Authorize(Session(agent), Purchase(m, "6000"));  // the first session expired
  const std::string apr_a = StringField(*a.Find("approval"), "id");
  const std::string shown_a =
      StringField(Call("GET", base_ + "/approvals/" + apr_a, approver_, "", 200), "shown_sha256");
  Call("POST", base_ + "/approvals/" + apr_a + "/approve", approver_,
       EvidenceBody(Evidence(apr_a, "approve", shown_a, aud, Now(), Now() + 60)), 200, NextKey());
  AdvanceTo(Now() + 600);
  ASSERT_TRUE(service_.app()->authorizer_for_testing().SweepOnce().ok());
  EXPECT_EQ(StringField(*Record(StringField(a, "id")).Find("reservation"), "state"), "expired");
  EXPECT_EQ(StringField(Call("GET", base_ + "/approvals/" + apr_a, approver_, "", 200), "state"),
            "approved");
  json::Value trail = Call("GET", "/v1/audit/trail?authorization=" + StringField(a, "id"),
                           auditor_, "", 200);
  std::vector<std::string> types;
  for (const json::Value& item : trail.Find("items")->items()) {
    Result<json::Value> e = json::Parse(StringField(item, "event"));
    ASSERT_TRUE(e.ok());
    types.push_back(StringField(*e, "type"));
  }
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.back(), "authorization.lapsed") << json::Write(trail);
  EXPECT_EQ(std::count(types.begin(), types.end(), "approval.timed_out"), 0);
}

// ---- Denials (§2, §3) ----

TEST_F(AuthorizationsApiTest, EveryDenialNamesItsReasonAndIsRecorded) {
  Boot(kStart);
  const std::string a = NewAgent("a"), b = NewAgent("b");
  const std::string sa = Session(a), sb = Session(b);
  const std::string simple = Terms(Window("day", "calendar", "UTC", "1000"));
  auto expect_denied = [&](const std::string& session, const std::string& body,
                           const std::vector<std::string>& codes) {
    json::Value r = Authorize(session, body);
    EXPECT_EQ(StringField(r, "decision"), "denied") << json::Write(r);
    EXPECT_EQ(Codes(r), codes) << json::Write(r);
    json::Value stored = Record(StringField(r, "id"));
    EXPECT_EQ(StringField(stored, "decision"), "denied");
    EXPECT_EQ(Codes(stored), codes);
    EXPECT_EQ(stored.Find("reservation"), nullptr);
    return r;
  };

  const std::string revoked = Issue(a, simple);
  Call("POST", base_ + "/mandates/" + revoked + "/revoke", admin_, "", 200);
  expect_denied(sa, Purchase(revoked, "10"), {"revoked"});
  const std::string suspended = Issue(a, simple);
  Call("POST", base_ + "/mandates/" + suspended + "/suspend", admin_, "", 200);
  expect_denied(sa, Purchase(suspended, "10"), {"suspended"});

  // A delegated mandate whose parent's window is used up by the parent's holder.
  const std::string parent = Issue(a, simple);
  const std::string child = Issue(b, simple, 10, parent, sa);
  Capture(sa, StringField(Authorize(sa, Purchase(parent, "800")), "id"));
  json::Value r = expect_denied(sb, Purchase(child, "300"), {"window-exceeded"});
  const json::Value& reason = r.Find("reasons")->items()[0];
  EXPECT_EQ(StringField(reason, "mandate"), parent);
  EXPECT_EQ(StringField(reason, "counter"), DayCounter(parent, "UTC"));
  EXPECT_EQ(StringField(reason, "remaining"), "200");
  EXPECT_EQ(StringField(CounterIn(r.Find("headroom"), DayCounter(child, "UTC")), "spent"), "0");
  EXPECT_EQ(StringField(Authorize(sb, Purchase(child, "200")), "decision"), "allowed");

  // The principal's EUR month ceiling (5000).
  const std::string eur = Issue(
      a, R"({"limits":{"per_transaction":[{"asset":"EUR","max":"100000"}]}})");
  EXPECT_EQ(StringField(Authorize(sa, Purchase(eur, "4000", "api.shop.example", "EUR")),
                        "decision"),
            "allowed");
  r = expect_denied(sa, Purchase(eur, "1001", "api.shop.example", "EUR"),
                    {"principal-ceiling-exceeded"});
  EXPECT_EQ(StringField(r.Find("reasons")->items()[0], "counter"),
            "principal:" + principal_ + ":month");
  EXPECT_EQ(StringField(r.Find("reasons")->items()[0], "remaining"), "1000");

  // A session's spend cap.
  json::Value capped = OpenSession(a, R"(,"spend_cap":{"asset":"USD","max":"500"})");
  const std::string sc = StringField(capped, "token");
  const std::string roomy = Issue(a, Terms(Window("day", "calendar", "UTC", "100000")));
  EXPECT_EQ(StringField(Authorize(sc, Purchase(roomy, "300")), "decision"), "allowed");
  r = expect_denied(sc, Purchase(roomy, "201"), {"session-cap-exceeded"});
  EXPECT_EQ(StringField(r.Find("reasons")->items()[0], "counter"),
            "session:" + StringField(capped, "id") + ":spend-cap");
  EXPECT_EQ(StringField(Authorize(sa, Purchase(roomy, "201")), "decision"), "allowed");
  // The capped session's own headroom shows its cap; another session's shows none.
  const std::string cap_counter = "session:" + StringField(capped, "id") + ":spend-cap";
  json::Value own = Call("GET", "/v1/headroom?mandate=" + roomy, sc, "", 200);
  EXPECT_EQ(StringField(CounterIn(own.Find("counters"), cap_counter), "remaining"), "200")
      << json::Write(own);
  json::Value other = Call("GET", "/v1/headroom?mandate=" + roomy, sa, "", 200);
  EXPECT_EQ(json::Write(other).find(cap_counter), std::string::npos);

  // Scope.
  expect_denied(sa, Purchase(roomy, "10", "shop.example"), {"payee-not-allowed"});

  // Refusals before any decision: another agent's mandate, an unknown mandate.
  json::Value not_holder = Call("POST", "/v1/authorizations", sb, Purchase(roomy, "10"), 403,
                                NextKey());
  EXPECT_EQ(StringField(not_holder, "type"), std::string(kProblem) + "not-mandate-holder");
  json::Value unknown = Call("POST", "/v1/authorizations", sa,
                             Purchase("mnd_aaaaaaaaaaaaaaaaaaaaaaaaaa", "10"), 404, NextKey());
  EXPECT_EQ(StringField(unknown, "type"), std::string(kProblem) + "mandate-not-found");
  // An agent reads only its own authorizations.
  EXPECT_EQ(Send("GET", "/v1/authorizations/" + StringField(r, "id"), sb, "").status, 404);
  EXPECT_EQ(Send("GET", "/v1/authorizations/" + StringField(r, "id"), sc, "").status, 200);
}

TEST_F(AuthorizationsApiTest, MaxUsesAndMinIntervalCountLiveHolds) {
  Boot(kStart);
  const std::string a = NewAgent("a");
  std::string s = Session(a);
  const std::string uses = Issue(a, Terms(Window("day", "calendar", "UTC", "100000"),
                                          R"(,"max_uses":2)"));
  const std::string first = StringField(Authorize(s, Purchase(uses, "1")), "id");
  EXPECT_EQ(StringField(Authorize(s, Purchase(uses, "1")), "decision"), "allowed");
  json::Value r = Authorize(s, Purchase(uses, "1"));
  EXPECT_EQ(Codes(r), std::vector<std::string>{"uses-exhausted"});
  EXPECT_EQ(StringField(Record(StringField(r, "id")), "decision"), "denied");
  json::Value h = Headroom(uses);
  EXPECT_EQ(h.Find("uses")->items()[0].Find("remaining")->as_int64(), 0);
  // A merchant's recorded use counts against the same max_uses: both are held, so none is left.
  const std::string token =
      StringField(Call("GET", base_ + "/mandates/" + uses, admin_, "", 200), "token");
  const std::string merchant = StringField(
      Call("POST", base_ + "/credentials", admin_, R"({"role":"merchant","name":"shop"})", 201),
      "token");
  auto use = [&](const std::string& key) {
    return Call("POST", "/v1/mandates/verify", merchant,
                R"({"mandate":")" + token + R"(","use":{"key":")" + key + R"("}})", 200);
  };
  json::Value refused = use("order-1");
  EXPECT_EQ(StringField(refused, "verdict"), "invalid") << json::Write(refused);
  EXPECT_EQ(Codes(refused), std::vector<std::string>{"uses-exhausted"});
  Void(s, first);  // a voided hold gives its use back
  EXPECT_EQ(Headroom(uses).Find("uses")->items()[0].Find("remaining")->as_int64(), 1);
  // The merchant records it; then no decision can take another.
  EXPECT_EQ(StringField(use("order-2"), "verdict"), "valid");
  EXPECT_EQ(Codes(Authorize(s, Purchase(uses, "1"))), std::vector<std::string>{"uses-exhausted"});

  const std::string spaced = Issue(a, Terms(Window("day", "calendar", "UTC", "100000"),
                                            R"(,"min_interval_seconds":60)"));
  const int64_t t = Now();
  EXPECT_EQ(StringField(Authorize(s, Purchase(spaced, "1")), "decision"), "allowed");
  AdvanceTo(t + 59);
  r = Authorize(s, Purchase(spaced, "1"));
  EXPECT_EQ(Codes(r), std::vector<std::string>{"too-soon"});
  EXPECT_EQ(StringField(Record(StringField(r, "id")), "decision"), "denied");
  AdvanceTo(t + 60);
  EXPECT_EQ(StringField(Authorize(s, Purchase(spaced, "1")), "decision"), "allowed");
}

// ---- Restart ----

TEST_F(AuthorizationsApiTest, RestartCountsHoldsAgainAndDropsLeasesThatEndedWhileDown) {
  Boot(kStart);
  const std::string a = NewAgent("a");
  const std::string s = Session(a);
  const std::string m = Issue(a, Terms(Window("day", "calendar", "UTC", "10000") + "," +
                                       Window("hour", "rolling", "", "10000")));
  const std::string day = DayCounter(m, "UTC");
  const int64_t t0 = Now();
  const std::string early = StringField(Authorize(s, Purchase(m, "700")), "id");  // lease t0+600
  AdvanceTo(t0 + 300);
  const std::string held = StringField(Authorize(s, Purchase(m, "1000")), "id");  // to t0+900
  const std::string taken = StringField(Authorize(s, Purchase(m, "800")), "id");
  Capture(s, taken, R"({"amount":"500"})");
  const std::string before = json::Write(Headroom(m));
  EXPECT_EQ(StringField(HeadroomCounter(m, day), "spent"), "2200");

  Restart();
  EXPECT_EQ(json::Write(Headroom(m)), before);

  service_.Stop();
  AdvanceTo(t0 + 600);  // the early lease ends while the service is down
  Restart();
  json::Value c = HeadroomCounter(m, day);
  EXPECT_EQ(StringField(c, "spent"), "1500");
  EXPECT_EQ(StringField(c, "remaining"), "8500");
  EXPECT_EQ(StringField(*Record(early).Find("reservation"), "state"), "expired");
  EXPECT_EQ(StringField(Capture(s, early, "", 409), "type"),
            std::string(kProblem) + "reservation-expired");
  // The held one is still reserved and captures; the total is unchanged by it.
  EXPECT_EQ(StringField(*Capture(s, held).Find("reservation"), "state"), "captured");
  EXPECT_EQ(StringField(HeadroomCounter(m, day), "spent"), "1500");
  json::Value last = Authorize(s, Purchase(m, "8500"));
  EXPECT_EQ(StringField(last, "decision"), "allowed") << json::Write(last);
}

// A payment that settled after its hold's lease ended (a crash between the settlement and its
// capture, or an on-chain payment confirmed late): the facilitator's capture still records it
// and counts it again, the sweep does not write "expired" over it, and a restart counts it.
// Anyone else's capture of a lapsed hold stays refused.
TEST_F(AuthorizationsApiTest, SettledPaymentsCaptureCountsEvenAfterTheLeaseEnded) {
  Boot(kStart);
  const std::string a = NewAgent("a");
  const std::string s = Session(a);
  const std::string m = Issue(a, Terms(Window("day", "calendar", "UTC", "5000") + "," +
                                       Window("hour", "rolling", "", "5000")));
  const std::string day = DayCounter(m, "UTC");
  const std::string hour = "mandate:" + m + ":window:hour:rolling";
  const int64_t t0 = Now();
  const std::string id = StringField(Authorize(s, Purchase(m, "1000")), "id");
  AdvanceTo(t0 + 600);  // the lease ends unclaimed
  EXPECT_EQ(StringField(HeadroomCounter(m, day), "spent"), "0");
  EXPECT_EQ(StringField(Capture(s, id, "", 409), "type"),
            std::string(kProblem) + "reservation-expired");
  // A newer purchase takes the headroom the lapse gave back.
  AdvanceTo(t0 + 650);
  const std::string newer = StringField(Authorize(s, Purchase(m, "3000")), "id");
  Capture(s, newer);

  AdvanceTo(t0 + 700);
  identity::Tenant t(service_.app()->store_for_testing(), principal_);
  policy::Actor settlement;
  settlement.id = "x402-settlement";
  settlement.captures_settled_payment = true;
  policy::Authorizer& az = service_.app()->authorizer_for_testing();
  EXPECT_EQ(az.Capture(t, settlement, id, Amount::FromRaw(1001), nullptr).error().reason(),
            "capture-above-reserved");
  Result<policy::Answer> captured = az.Capture(t, settlement, id, Amount::FromRaw(900), nullptr);
  ASSERT_TRUE(captured.ok()) << captured.error().ToString();
  EXPECT_EQ(captured->status, 200);
  json::Value rec = Record(id);
  EXPECT_EQ(StringField(*rec.Find("reservation"), "state"), "captured");
  EXPECT_EQ(StringField(*rec.Find("reservation"), "captured"), "900");
  EXPECT_EQ(rec.Find("charged_at")->as_int64(), std::optional<int64_t>(t0 + 700));
  EXPECT_EQ(StringField(HeadroomCounter(m, day), "spent"), "3900");
  EXPECT_EQ(StringField(HeadroomCounter(m, hour), "spent"), "3900");
  // Captured once: a second one is refused and changes nothing.
  EXPECT_EQ(az.Capture(t, settlement, id, std::nullopt, nullptr).error().reason(),
            "reservation-state");
  ASSERT_TRUE(az.SweepOnce().ok());
  EXPECT_EQ(StringField(*Record(id).Find("reservation"), "state"), "captured");
  EXPECT_EQ(Codes(Authorize(s, Purchase(m, "1101"))),
            (std::vector<std::string>{"window-exceeded", "window-exceeded"}));

  // The late capture counts from its own time: the rolling hour drops the newer purchase at
  // t0 + 4250 and the late one only at t0 + 4300; a restart counts exactly the same.
  AdvanceTo(t0 + 4260);
  EXPECT_EQ(StringField(HeadroomCounter(m, hour), "spent"), "900");
  const std::string before = json::Write(Headroom(m));
  Restart();
  EXPECT_EQ(json::Write(Headroom(m)), before);
  AdvanceTo(t0 + 4300);
  EXPECT_EQ(StringField(HeadroomCounter(m, hour), "spent"), "0");
}

// After a restart the sweeper loads every principal in the background: a lease that ended
// while the service was down is written down (record and audit event) although nobody asks
// for that principal (specs/authorization.md §3).
TEST_F(AuthorizationsApiTest, LeasesThatEndedWhileDownAreWrittenDownWithoutARequest) {
  Boot(kStart);
  const std::string a = NewAgent("a");
  const std::string m = Issue(a, Terms(Window("day", "calendar", "UTC", "5000")));
  const std::string id = StringField(Authorize(Session(a), Purchase(m, "700")), "id");
  service_.Stop();
  AdvanceTo(Now() + 600);
  Restart();
  EXPECT_EQ(StoredReservationState(id), "reserved");  // nothing has written the lapse yet
  EXPECT_EQ(AwaitStoredReservationState(id, "expired"), "expired");
}

// A suspension acknowledged while a decision was between reading the chain and taking the
// principal's lock is not overtaken: the decision sees the chain as it is under the lock
// (specs/authorization.md §2 step 1), and so does an approval.
TEST_F(AuthorizationsApiTest, ASuspensionWhileADecisionWaitsIsSeenUnderTheLock) {
  Boot(kStart);
  const std::string a = NewAgent("a");
  const std::string s = Session(a);
  const std::string m = Issue(a, Terms(Window("day", "calendar", "UTC", "5000")));
  bool suspended = false;
  service_.app()->authorizer_for_testing().set_before_decision_for_testing([&] {
    if (suspended) return;
    suspended = true;  // once: this request's verdict was read while the mandate was active
    // Another connection: the test's client is busy with the request this hook runs in.
    httplib::Client c("127.0.0.1", service_.port());
    httplib::Result done = c.Post(base_ + "/mandates/" + m + "/suspend",
                                  {{"Authorization", "Bearer " + admin_}}, "", "application/json");
    EXPECT_TRUE(done && done->status == 200) << (done ? done->body : "no response");
  });
  json::Value r = Authorize(s, Purchase(m, "100"));
  service_.app()->authorizer_for_testing().set_before_decision_for_testing(nullptr);
  EXPECT_TRUE(suspended);
  EXPECT_EQ(StringField(r, "decision"), "denied") << json::Write(r);
  EXPECT_EQ(Codes(r), std::vector<std::string>{"suspended"});
  EXPECT_EQ(StringField(Record(StringField(r, "id")), "decision"), "denied");
}

// The principal's time never goes back: a hold lapsed at that time stays lapsed when the wall
// clock is stepped back. Its capture is refused as expired, and the sweeper writes the lapse
// down (before, it read the stepped-back clock, found the record live and dropped the lapse).
TEST_F(AuthorizationsApiTest, LapsesStandWhenTheWallClockStepsBack) {
  Boot(kStart);
  const std::string a = NewAgent("a");
  const std::string s = Session(a);
  const std::string m = Issue(a, Terms(Window("day", "calendar", "UTC", "5000")));
  const std::string id = StringField(Authorize(s, Purchase(m, "700")), "id");
  AdvanceTo(Now() + 700);  // past its lease (600 s)
  EXPECT_EQ(StringField(Authorize(s, Purchase(m, "100")), "decision"), "allowed");
  clock_->StepWallClockBackSeconds(200);  // the wall clock says the lease still runs
  json::Value late = Capture(s, id, "", 409);
  EXPECT_EQ(StringField(late, "type"), std::string(kProblem) + "reservation-expired");
  EXPECT_EQ(AwaitStoredReservationState(id, "expired"), "expired");
}

// A mandate is judged in force at the time the decision is charged at, the principal's
// never-backwards time: behind a wall clock stepped back, a mandate whose validity ended is
// still expired, and nothing is held under it (before, it was allowed and charged after its end).
TEST_F(AuthorizationsApiTest, AMandatePastItsEndStaysExpiredWhenTheWallClockStepsBack) {
  Boot(kStart);
  const std::string a = NewAgent("a");
  const std::string other = Issue(a, Terms(Window("day", "calendar", "UTC", "5000")));
  const std::string brief = IssueFor(a, Terms(Window("day", "calendar", "UTC", "5000")), 100);
  AdvanceTo(Now() + 150);  // past its end
  const std::string s = Session(a);
  EXPECT_EQ(StringField(Authorize(s, Purchase(other, "100")), "decision"), "allowed");
  clock_->StepWallClockBackSeconds(100);  // the wall clock says the mandate still runs
  json::Value late = Authorize(s, Purchase(brief, "100"));
  EXPECT_EQ(StringField(late, "decision"), "denied") << json::Write(late);
  EXPECT_EQ(Codes(late), std::vector<std::string>{"expired"});
  EXPECT_EQ(StringField(HeadroomCounter(brief, DayCounter(brief, "UTC")), "spent"), "0");
}

// The principal's time survives a restart whatever last moved it: after only denials (which
// hold nothing) past a mandate's end, a wall clock stepped back across a restart does not bring
// the mandate back (before, the time restarted from the last allowed purchase).
TEST_F(AuthorizationsApiTest, AMandatePastItsEndStaysExpiredAcrossARestartWithTheClockBack) {
  Boot(kStart);
  const std::string a = NewAgent("a");
  const std::string m = IssueFor(a, Terms(Window("day", "calendar", "UTC", "5000")), 1000);
  EXPECT_EQ(StringField(Authorize(Session(a), Purchase(m, "100")), "decision"), "allowed");
  AdvanceTo(Now() + 1200);  // past its end: denied
  json::Value denied = Authorize(Session(a), Purchase(m, "100"));
  EXPECT_EQ(Codes(denied), std::vector<std::string>{"expired"}) << json::Write(denied);
  service_.Stop();
  clock_->StepWallClockBackSeconds(900);  // the wall clock says the mandate still runs
  StartService();
  ASSERT_NE(service_.app(), nullptr);
  json::Value late = Authorize(Session(a), Purchase(m, "100"));
  EXPECT_EQ(StringField(late, "decision"), "denied") << json::Write(late);
  EXPECT_EQ(Codes(late), std::vector<std::string>{"expired"});
}

// A mandate that ends while its decision waits for the principal's lock (after its chain was
// verified, before the charge) is denied as expired: nothing is charged after its end.
TEST_F(AuthorizationsApiTest, AMandateThatEndsWhileADecisionWaitsIsNotCharged) {
  Boot(kStart);
  const std::string a = NewAgent("a");
  const std::string s = Session(a);
  const std::string m = IssueFor(a, Terms(Window("day", "calendar", "UTC", "5000")), 100);
  const int64_t end = Now() + 100;
  bool moved = false;
  service_.app()->authorizer_for_testing().set_before_decision_for_testing([&] {
    if (moved) return;
    moved = true;
    clock_->AdvanceSeconds(end - clock_->NowUnixSeconds());  // the mandate's last instant passed
  });
  json::Value r = Authorize(s, Purchase(m, "100"));
  service_.app()->authorizer_for_testing().set_before_decision_for_testing(nullptr);
  EXPECT_TRUE(moved);
  EXPECT_EQ(StringField(r, "decision"), "denied") << json::Write(r);
  EXPECT_EQ(Codes(r), std::vector<std::string>{"expired"});
  EXPECT_EQ(StringField(HeadroomCounter(m, DayCounter(m, "UTC")), "spent"), "0");
}

// Idempotency keys are the agent's, its sessions' alike (§6); but a session limited to other
// mandates gets no replay of another session's authorization under a mandate it may not use,
// as it would get no GET of it.
TEST_F(AuthorizationsApiTest, AReplayIsNoWayAroundASessionsMandateScope) {
  Boot(kStart);
  const std::string a = NewAgent("a");
  const std::string m1 = Issue(a, Terms(Window("day", "calendar", "UTC", "1000")));
  const std::string m2 = Issue(a, Terms(Window("day", "calendar", "UTC", "1000")));
  const std::string wide = Session(a);
  const std::string narrow = StringField(OpenSession(a, R"(,"mandates":[")" + m2 + R"("])"), "token");
  const Reply first = Send("POST", "/v1/authorizations", wide, Purchase(m1, "10"), "shared-key");
  ASSERT_EQ(first.status, 201) << first.body;
  const Reply replay = Send("POST", "/v1/authorizations", narrow, Purchase(m1, "10"), "shared-key");
  EXPECT_EQ(replay.status, 403) << replay.body;
  EXPECT_EQ(StringField(replay.json, "type"), std::string(kProblem) + "mandate-out-of-scope");
  EXPECT_EQ(replay.body.find(StringField(first.json, "id")), std::string::npos);
  // Another session of the agent in scope gets the first answer again.
  const Reply again = Send("POST", "/v1/authorizations", Session(a), Purchase(m1, "10"), "shared-key");
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, first.body);
}

// A ceiling names a token in its checksummed spelling, the mandate and the purchase in lower
// case: one asset, so the ceiling bounds the purchase (before, it was never consulted), and a
// mandate window in the other spelling counts it too.
TEST_F(AuthorizationsApiTest, ACeilingBoundsItsTokenWhateverTheCaseOfItsAddress) {
  Boot(kStart);
  const std::string checksummed = "eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
  const std::string lower = "eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
  signer::PrivateKey key = *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
  const std::string agent = StringField(
      Call("POST", base_ + "/agents", admin_,
           R"({"name":"capped","did":")" +
               signer::DidKeyFromPublicKey(*signer::DerivePublicKey(key)) +
               R"(","ceilings":[{"asset":")" + checksummed + R"(","window":"day","max":"1000"}]})",
           201),
      "id");
  const std::string m = Issue(
      agent, R"({"scope":{"payees":{"allow":[{"type":"domain","value":"*.shop.example"}]}},)"
             R"("limits":{"per_transaction":[{"asset":")" + lower + R"(","max":"50000"}],)"
             R"("windows":[{"asset":")" + checksummed +
                 R"(","window":"day","kind":"calendar","time_zone":"UTC","max":"700"}]}})");
  const std::string s = Session(agent);
  // Above the window's max on its own: refused by the mandate's terms before any counter.
  json::Value over = Authorize(s, Purchase(m, "5000", "api.shop.example", lower));
  EXPECT_EQ(StringField(over, "decision"), "denied") << json::Write(over);
  EXPECT_EQ(Codes(over), std::vector<std::string>{"amount-above-window"});
  EXPECT_EQ(StringField(Authorize(s, Purchase(m, "600", "api.shop.example", lower)), "decision"),
            "allowed");
  // 600 spent: 100 left in the window, 400 under the ceiling.
  json::Value second = Authorize(s, Purchase(m, "500", "api.shop.example", lower));
  EXPECT_EQ(Codes(second), (std::vector<std::string>{"window-exceeded", "agent-ceiling-exceeded"}));
  json::Value third = Authorize(s, Purchase(m, "200", "api.shop.example", lower));
  EXPECT_EQ(Codes(third), std::vector<std::string>{"window-exceeded"});
}

// The same for a step-up nobody decided: its hold times out at the principal's time, and its
// approval is written expired then, though the stepped-back wall clock says it still runs; it
// leaves the pending list and cannot be approved (before, it was stored as still pending).
// An approval decided right after a restart with the wall clock stepped back, before anything
// loaded the principal: the mandate that ended before the restart is still ended (before, it
// was judged in force at the stepped-back clock and the hold became reserved past its end).
TEST_F(AuthorizationApprovalsTest, AnApprovalAfterARestartWithTheClockBackSeesTheMandateEnded) {
  Boot(kStart);
  SetUpApprover();
  const std::string agent = NewAgent("buyer");
  const std::string terms = Terms(Window("day", "calendar", "UTC", "100000"), "",
                                  R"(,"step_up":{"above":[{"asset":"USD","amount":"5000"}]})");
  const std::string m = IssueFor(agent, terms, 500);
  json::Value t = Authorize(Session(agent), Purchase(m, "8000"));
  ASSERT_EQ(StringField(t, "decision"), "approval_required") << json::Write(t);
  const std::string apr = StringField(*t.Find("approval"), "id");
  AdvanceTo(Now() + 600);  // the mandate ended; the approval still waits (900 s)
  EXPECT_EQ(Codes(Authorize(Session(agent), Purchase(m, "100"))), std::vector<std::string>{"expired"});
  service_.Stop();
  clock_->StepWallClockBackSeconds(550);  // the wall clock says the mandate still runs
  StartService();
  ASSERT_NE(service_.app(), nullptr);
  const Reply r = Send("POST", base_ + "/approvals/" + apr + "/approve", approver_, "", NextKey());
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(StringField(r.json, "type"), std::string(kProblem) + "mandate-state") << r.body;
  EXPECT_EQ(StringField(*Record(StringField(t, "id")).Find("reservation"), "state"), "pending");
}

TEST_F(AuthorizationApprovalsTest, AnApprovalTimedOutStaysExpiredWhenTheWallClockStepsBack) {
  Boot(kStart);
  SetUpApprover();
  const std::string agent = NewAgent("buyer");
  const std::string s = Session(agent);
  const std::string m = StepUpMandate(agent);
  json::Value t = Authorize(s, Purchase(m, "7000"));
  const std::string apr = StringField(*t.Find("approval"), "id");
  AdvanceTo(Now() + 901);  // past the approval timeout (900 s), and the session's lifetime
  EXPECT_EQ(StringField(Authorize(Session(agent), Purchase(m, "100")), "decision"), "allowed");
  clock_->StepWallClockBackSeconds(30);  // the wall clock says the approval still runs
  ASSERT_TRUE(service_.app()->authorizer_for_testing().SweepOnce().ok());
  EXPECT_EQ(StringField(Call("GET", base_ + "/approvals/" + apr, approver_, "", 200), "state"),
            "expired");
  EXPECT_TRUE(Call("GET", base_ + "/approvals?state=pending", approver_, "", 200)
                  .Find("items")
                  ->items()
                  .empty());
  EXPECT_EQ(StringField(Record(StringField(t, "id")), "decision"), "denied");
}

// ---- The audit trail of a purchase (specs/audit.md §4; issue: audit trail, must-show 1) ----

// A purchase under a delegated mandate that needed a person's approval and was then captured:
// its trail holds every one of those events, in the order they happened, and its export bundle
// verifies offline with the audit key alone.
TEST_F(AuthorizationApprovalsTest, PurchaseTrailLinksDelegationApprovalAndCaptureInOrder) {
  Boot(kStart);
  SetUpApprover();
  const std::string parent_agent = NewAgent("planner");
  const std::string buyer = NewAgent("buyer");
  const std::string root = Issue(parent_agent, Terms(Window("day", "calendar", "UTC", "100000")));
  // The planner delegates to the buyer with a lower day limit and a step-up above 5000.
  const std::string child =
      Issue(buyer,
            Terms(Window("day", "calendar", "UTC", "50000"), "",
                  R"(,"step_up":{"above":[{"asset":"USD","amount":"5000"}]})"),
            30, root, Session(parent_agent));
  const std::string s = Session(buyer);
  json::Value a = Authorize(s, Purchase(child, "8000"));
  ASSERT_EQ(StringField(a, "decision"), "approval_required") << json::Write(a);
  const std::string id = StringField(a, "id");
  const std::string apr = StringField(*a.Find("approval"), "id");
  const std::string shown = StringField(Call("GET", base_ + "/approvals/" + apr, approver_, "", 200),
                                        "shown_sha256");
  const std::string aud = service_.app()->service_did();
  Call("POST", base_ + "/approvals/" + apr + "/approve", approver_,
       EvidenceBody(Evidence(apr, "approve", shown, aud, Now(), Now() + 120)), 200, NextKey());
  Capture(s, id, R"({"amount":"7000"})");
  // Another purchase of the same buyer is not part of this trail.
  const std::string other = StringField(Authorize(s, Purchase(child, "100")), "id");

  json::Value trail = Call("GET", "/v1/audit/trail?authorization=" + id, auditor_, "", 200);
  std::vector<std::string> seen;  // "type subject"
  uint64_t last = 0;
  for (const json::Value& item : trail.Find("items")->items()) {
    const uint64_t seq = item.Find("seq")->as_uint64().value_or(0);
    EXPECT_TRUE(seen.empty() || seq > last) << "out of order at " << seq;
    last = seq;
    Result<json::Value> e = json::Parse(StringField(item, "event"));
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(StringField(*e, "principal"), principal_);
    const json::Value& subjects = *e->Find("subjects");
    std::string type = StringField(*e, "type");
    const json::Value& data = *e->Find("data");
    if (type == "authorization.decided") {
      // What the policy said, and under which version of the mandate.
      EXPECT_EQ(StringField(data, "decision"), "approval_required");
      EXPECT_EQ(StringField(data, "amount"), "8000");
      EXPECT_EQ(StringField(data, "policy_version").size(), 64u);
      EXPECT_EQ(StringField(subjects, "mandate"), child);
      EXPECT_EQ(StringField(*e->Find("actor"), "kind"), "session");
    }
    if (type == "approval.approved") {
      // Who approved, what they were shown, and the evidence they signed.
      EXPECT_EQ(StringField(data, "shown_sha256"), shown);
      EXPECT_EQ(StringField(*data.Find("evidence"), "did"), approver_did_);
      EXPECT_EQ(StringField(*data.Find("authorization_after"), "decision"), "allowed");
      EXPECT_EQ(StringField(*e->Find("actor"), "role"), "approver");
    }
    if (type == "authorization.captured") {
      EXPECT_EQ(StringField(*data.Find("reservation"), "captured"), "7000");
    }
    if (type == "mandate.issued") type += " " + StringField(subjects, "mandate");
    if (type == "agent.created") type += " " + StringField(subjects, "agent");
    EXPECT_EQ(json::Write(*e).find(other), std::string::npos)
        << "the other purchase leaked into the trail";
    seen.push_back(type);
  }
  const std::vector<std::string> want = {
      "agent.created " + parent_agent, "agent.created " + buyer, "mandate.issued " + root,
      "mandate.issued " + child,       "session.opened",         "authorization.decided",
      "approval.approved",             "authorization.captured"};
  // agent.created of the planner is not about this purchase's agent: only the buyer's shows.
  std::vector<std::string> expected(want.begin() + 1, want.end());
  EXPECT_EQ(seen, expected);

  json::Value export_check = Call("GET", "/v1/audit/checkpoint", auditor_, "", 200);
  EXPECT_FALSE(StringField(export_check, "note").empty());
  httplib::Headers h = {{"Authorization", "Bearer " + auditor_}};
  httplib::Result bundle = service_.client().Get("/v1/audit/export?authorization=" + id, h);
  ASSERT_TRUE(bundle && bundle->status == 200) << (bundle ? bundle->body : "");
  const std::string vkey = StringField(Call("GET", "/v1/audit/key", auditor_, "", 200),
                                       "verifier_key");
  audit::BundleVerifyOptions o;
  o.verifier_key = vkey;
  audit::BundleReport report = audit::VerifyBundle(bundle->body, o);
  EXPECT_TRUE(report.ok()) << report.findings.size() << " findings, first: "
                           << (report.findings.empty() ? "" : report.findings[0].code + " " +
                                                                  report.findings[0].detail);
  EXPECT_FALSE(report.complete_prefix);
  EXPECT_EQ(report.events, expected.size());
}

}  // namespace
}  // namespace mandated
