// Usage over real HTTP against the service (in-process, real RocksDB, a fake clock): batch
// ingestion, retries that change nothing, partial overlaps and conflicts, validation errors that
// store nothing, aggregates recounted from the audit trail, restarts, and budgets (spend, burn
// rate, projected depletion) of a real mandate after authorizations (specs/usage.md).
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "base/json.h"
#include "base/random.h"
#include "mandates/credential.h"
#include "settlement/usage.h"
#include "signer/did.h"
#include "signer/signature.h"
#include "tests/support/fake_clock.h"
#include "tests/support/http_json.h"
#include "tests/support/in_process_service.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::Reply;
using testing::StringField;

constexpr char kOperatorToken[] = "usage-test-operator-token-5e2b91a7";
constexpr int64_t kStart = 1795000020;  // 2026-11-18T08:27:00Z
constexpr char kProblem[] = "urn:mandated:problem:";

class UsageApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_.Start(dir_.Sub("data"), kOperatorToken, &clock_,
                   [](api::ServerConfig& c) { c.public_host = "mandated.test"; });
    ASSERT_NE(service_.app(), nullptr);
    const testing::PrincipalWithAdmin p = testing::CreatePrincipalWithAdmin(
        service_.client(), kOperatorToken, R"({"name":"Usage Corp"})");
    principal_ = p.id;
    base_ = p.base;
    admin_ = p.admin;
    merchant_ = Credential("merchant");
    auditor_ = Credential("auditor");
  }

  std::string Credential(const std::string& role) {
    return StringField(
        Call("POST", base_ + "/credentials", admin_, R"({"role":")" + role + R"("})", 201),
        "token");
  }

  Reply Send(const std::string& method, const std::string& path, const std::string& token,
             const std::string& body = "") {
    return testing::Send(service_.client(), method, path, token, body);
  }
  json::Value Call(const std::string& method, const std::string& path, const std::string& token,
                   const std::string& body, int want) {
    return testing::Call(service_.client(), method, path, token, body, want);
  }
  // A refusal: its status, its problem type and the JSON pointer its detail starts with, if any.
  std::string Problem(const Reply& r) {
    const std::string detail = StringField(r.json, "detail");
    return std::to_string(r.status) + " " +
           StringField(r.json, "type").substr(std::string(kProblem).size()) + " " +
           (detail.rfind("/", 0) == 0 ? detail.substr(0, detail.find(':')) : "");
  }

  std::string NewAgent(const std::string& name) {
    signer::PrivateKey key = *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
    const std::string did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(key));
    return StringField(Call("POST", base_ + "/agents", admin_,
                            R"({"name":")" + name + R"(","did":")" + did + R"("})", 201),
                       "id");
  }
  std::string Issue(const std::string& agent, const std::string& terms) {
    const int64_t now = clock_.NowUnixSeconds();
    const std::string body = R"({"agent":")" + agent + R"(","valid_from":")" +
                             mandates::FormatRfc3339Utc(now - 60) + R"(","valid_until":")" +
                             mandates::FormatRfc3339Utc(now + 30 * 86400) + R"(","terms":)" +
                             terms + "}";
    return StringField(Call("POST", base_ + "/mandates", admin_, body, 201), "id");
  }

  std::string Batch(const std::vector<std::string>& events) {
    std::string b = R"({"events":[)";
    for (size_t i = 0; i < events.size(); ++i) b += (i ? "," : "") + events[i];
    return b + "]}";
  }
  std::string Event(const std::string& id, const std::string& amount, const std::string& asset,
                    const std::string& more = "") {
    return R"({"id":")" + id + R"(","payee":"api.shop","asset":")" + asset + R"(","amount":")" +
           amount + "\"" + more + "}";
  }
  std::string Usage(const std::string& query = "group_by=agent,asset") {
    return Call("GET", "/v1/usage?" + query, admin_, "", 200).Find("items") != nullptr
               ? json::Write(*Call("GET", "/v1/usage?" + query, admin_, "", 200).Find("items"))
               : "";
  }

  testing::TempDir dir_;
  testing::FakeClock clock_{kStart};
  testing::InProcessService service_;
  std::string principal_, base_, admin_, merchant_, auditor_;
};

TEST_F(UsageApiTest, BatchesRetriesOverlapsAndTheRecountFromTheTrail) {
  const std::string agent = NewAgent("buyer");
  const std::string mandate = Issue(
      agent, R"({"scope":{"payees":{"allow":[{"type":"domain","value":"*.shop.example"}]}},)"
             R"("limits":{"per_transaction":[{"asset":"USD","max":"100000"}]}})");
  ASSERT_FALSE(mandate.empty());
  const std::string batch = Batch(
      {Event("e1", "100", "USD", R"(,"agent":")" + agent + R"(","at":)" + std::to_string(kStart - 60)),
       Event("e2", "250", "USD", R"(,"mandate":")" + mandate + R"(","quantity":5)"),
       Event("e3", "7", "EUR")});
  EXPECT_EQ(json::Write(Call("POST", "/v1/usage", merchant_, batch, 200)),
            R"({"accepted":3,"duplicates":0,"conflicts":0,"results":[]})");
  const std::string want = R"([{"agent":"","asset":"EUR","amount":"7","quantity":"1","events":1},)"
                           R"({"agent":")" + agent +
                           R"(","asset":"USD","amount":"350","quantity":"6","events":2}])";
  EXPECT_EQ(Usage(), want);
  EXPECT_EQ(Usage("group_by=mandate&asset=USD&window=minute"),
            R"([{"mandate":"","asset":"USD","window_start":)" + std::to_string(kStart - 60) +
                R"(,"amount":"100","quantity":"1","events":1},{"mandate":")" + mandate +
                R"(","asset":"USD","window_start":)" + std::to_string(kStart) +
                R"(,"amount":"250","quantity":"5","events":1}])");

  // The same batch again, later: every event a duplicate, nothing changes.
  clock_.AdvanceSeconds(90);
  EXPECT_EQ(json::Write(Call("POST", "/v1/usage", merchant_, batch, 200)),
            R"({"accepted":0,"duplicates":3,"conflicts":0,"results":[{"index":0,"status":"duplicate"},)"
            R"({"index":1,"status":"duplicate"},{"index":2,"status":"duplicate"}]})");
  EXPECT_EQ(Usage(), want);

  // A partial overlap and a conflict (e1 with another amount).
  EXPECT_EQ(json::Write(Call("POST", "/v1/usage", merchant_,
                             Batch({Event("e3", "7", "EUR"), Event("e4", "1", "EUR"),
                                    Event("e1", "101", "USD", R"(,"agent":")" + agent +
                                                                  R"(","at":)" +
                                                                  std::to_string(kStart - 60))}),
                             200)),
            R"({"accepted":1,"duplicates":1,"conflicts":1,"results":[{"index":0,"status":"duplicate"},)"
            R"({"index":2,"status":"conflict"}]})");
  const std::string want2 = R"([{"agent":"","asset":"EUR","amount":"8","quantity":"2","events":2},)"
                            R"({"agent":")" + agent +
                            R"(","asset":"USD","amount":"350","quantity":"6","events":2}])";
  EXPECT_EQ(Usage(), want2);

  // Refusals store nothing: the good event before a bad one is not kept either.
  const std::string e5 = Event("e5", "5", "USD");
  EXPECT_EQ(Problem(Send("POST", "/v1/usage", merchant_,
                         Batch({e5, R"({"id":"e6","payee":"p","asset":"USD","amount":6})"}))),
            "400 amount-not-string /events/1/amount");
  EXPECT_EQ(Problem(Send("POST", "/v1/usage", merchant_,
                         Batch({e5, Event("e6", "6", "USD", R"(,"agent":"agt_nobody")")}))),
            "404 agent-not-found /events/1/agent");
  EXPECT_EQ(Problem(Send("POST", "/v1/usage", merchant_,
                         Batch({Event("e6", "6", "USD", R"(,"mandate":"mnd_nobody")")}))),
            "404 mandate-not-found /events/0/mandate");
  const std::string other = NewAgent("other");
  EXPECT_EQ(Problem(Send("POST", "/v1/usage", merchant_,
                         Batch({Event("e6", "6", "USD", R"(,"mandate":")" + mandate +
                                                            R"(","agent":")" + other + "\"")}))),
            "400 usage-agent-mismatch /events/0/agent");
  EXPECT_EQ(Problem(Send("POST", "/v1/usage", merchant_,
                         Batch({e5, Event("e6", "6", "USD", R"(,"at":)" +
                                                             std::to_string(kStart + 90 + 301))}))),
            "400 bad-usage-at /events/1/at");
  EXPECT_EQ(Problem(Send("POST", "/v1/usage", merchant_, R"({"events":[]})")),
            "400 usage-batch-empty /events");
  // A settled payment's id (x402:<nonce>) is not for reports.
  EXPECT_EQ(Problem(Send("POST", "/v1/usage", merchant_,
                         Batch({e5, Event("x402:0x" + std::string(64, 'a'), "6", "USD")}))),
            "400 bad-usage-id /events/1/id");
  EXPECT_EQ(Problem(Send("POST", "/v1/usage", auditor_, Batch({e5}))), "403 forbidden ");
  EXPECT_EQ(Problem(Send("POST", "/v1/usage", kOperatorToken, Batch({e5}))),
            "400 principal-required ");
  EXPECT_EQ(Usage(), want2);
  EXPECT_EQ(json::Write(Call("POST", base_ + "/usage", kOperatorToken, Batch({e5}), 200)),
            R"({"accepted":1,"duplicates":0,"conflicts":0,"results":[]})");

  // The recount: every usage.recorded event of the principal's trail, summed per agent and
  // asset, equals the aggregates.
  json::Value trail =
      Call("GET", "/v1/audit/trail?principal=" + principal_ + "&limit=1000", auditor_, "", 200);
  std::map<std::pair<std::string, std::string>, std::pair<Amount, uint64_t>> recount;
  int batches = 0;
  for (const json::Value& item : trail.Find("items")->items()) {
    json::Value e = *json::Parse(StringField(item, "event"));
    if (StringField(e, "type") != settlement::kUsageRecordedEvent) continue;
    ++batches;
    Result<std::vector<settlement::UsageEvent>> events =
        settlement::ParseUsageAuditData(json::Write(*e.Find("data")));
    ASSERT_TRUE(events.ok());
    for (const settlement::UsageEvent& u : *events) {
      auto& [amount, count] = recount[{u.agent, u.asset}];
      amount = *amount.Add(u.amount);
      count += 1;
    }
  }
  EXPECT_EQ(batches, 3);  // the first batch, the overlap, the operator's; retries wrote nothing
  std::string recounted = "[";
  for (const auto& [k, v] : recount) {
    recounted += std::string(recounted.size() > 1 ? "," : "") + R"({"agent":")" + k.first +
                 R"(","asset":")" + k.second + R"(","amount":")" + v.first.ToString() +
                 R"(","events":)" + std::to_string(v.second) + "}";
  }
  recounted += "]";
  json::Value rows = *json::Parse(Usage());
  std::string from_api = "[";
  for (const json::Value& r : rows.items()) {
    from_api += std::string(from_api.size() > 1 ? "," : "") + R"({"agent":")" +
                StringField(r, "agent") + R"(","asset":")" + StringField(r, "asset") +
                R"(","amount":")" + StringField(r, "amount") + R"(","events":)" +
                json::Write(*r.Find("events")) + "}";
  }
  from_api += "]";
  EXPECT_EQ(recounted, from_api);
  EXPECT_EQ(from_api, R"([{"agent":"","asset":"EUR","amount":"8","events":2},)"
                      R"({"agent":"","asset":"USD","amount":"5","events":1},)"
                      R"({"agent":")" + agent + R"(","asset":"USD","amount":"350","events":2}])");

  // A restart rebuilds the same aggregates and still knows every id.
  const std::string before = Usage();
  service_.Stop();
  service_.Start(dir_.Sub("data"), kOperatorToken, &clock_,
                 [](api::ServerConfig& c) { c.public_host = "mandated.test"; });
  EXPECT_EQ(Usage(), before);
  EXPECT_EQ(json::Write(Call("POST", "/v1/usage", merchant_, batch, 200)),
            R"({"accepted":0,"duplicates":3,"conflicts":0,"results":[{"index":0,"status":"duplicate"},)"
            R"({"index":1,"status":"duplicate"},{"index":2,"status":"duplicate"}]})");
  EXPECT_EQ(Usage(), before);

  // Query errors.
  EXPECT_EQ(Problem(Send("GET", "/v1/usage?window=week", admin_)), "400 usage-query-invalid ");
  EXPECT_EQ(Problem(Send("GET", "/v1/usage?group_by=colour", admin_)), "400 usage-query-invalid ");
  EXPECT_EQ(Problem(Send("GET", "/v1/usage?from=200&to=100", admin_)), "400 usage-query-invalid ");
  EXPECT_EQ(Problem(Send("GET", "/v1/usage", merchant_)), "403 forbidden ");
  // Filters naming no agent or mandate of the principal are 404, as in a batch, not "nothing".
  EXPECT_EQ(Problem(Send("GET", "/v1/usage?agent=agt_nonexistent", admin_)),
            "404 agent-not-found ");
  EXPECT_EQ(Problem(Send("GET", "/v1/usage?mandate=mnd_nonexistent", admin_)),
            "404 mandate-not-found ");
  EXPECT_EQ(Problem(Send("GET", "/v1/usage?mandate=ap2m_nonexistent", admin_)),
            "404 ap2-mandate-not-found ");
  // Bounds are any RFC 3339 time: an offset and a fraction mean the same instant as UTC.
  const std::string utc = Usage("group_by=agent,asset&from=2026-11-18T07:27:00Z");
  EXPECT_EQ(Usage("group_by=agent,asset&from=2026-11-18T08:27:00%2B01:00"), utc);
  EXPECT_EQ(Usage("group_by=agent,asset&from=2026-11-18T07:27:00.5Z"), utc);
  EXPECT_EQ(Problem(Send("GET", "/v1/usage?from=2026-11-18T07:27:00", admin_)),
            "400 usage-query-invalid ");
}

TEST_F(UsageApiTest, BudgetsShowSpendBurnRateAndProjectedDepletion) {
  const std::string agent = NewAgent("buyer");
  const std::string mandate = Issue(
      agent, R"({"scope":{"payees":{"allow":[{"type":"domain","value":"*.shop.example"}]}},)"
             R"("limits":{"per_transaction":[{"asset":"USD","max":"100000"}],)"
             R"("windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"UTC","max":"100000"}]}})");
  const std::string session = StringField(
      Call("POST", base_ + "/agents/" + agent + "/sessions", admin_, R"({"task":"shop"})", 201),
      "token");
  // Two purchases of 500 each, captured.
  for (int i = 0; i < 2; ++i) {
    httplib::Headers h = {{"Authorization", "Bearer " + session},
                          {"Idempotency-Key", "k" + std::to_string(i)}};
    httplib::Result r = service_.client().Post(
        "/v1/authorizations", h,
        R"({"mandate":")" + mandate +
            R"(","payee":{"type":"domain","value":"api.shop.example"},"amount":"500","asset":"USD"})",
        "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
    const std::string id = StringField(*json::Parse(r->body), "id");
    h = {{"Authorization", "Bearer " + session}, {"Idempotency-Key", "c" + std::to_string(i)}};
    r = service_.client().Post("/v1/authorizations/" + id + "/capture", h, "", "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  }
  // Metered usage under the mandate: 600 in the last hour (and 900 two hours ago).
  Call("POST", "/v1/usage", merchant_,
       Batch({Event("u1", "200", "USD", R"(,"mandate":")" + mandate + R"(","at":)" +
                                            std::to_string(kStart - 1800)),
              Event("u2", "400", "USD", R"(,"mandate":")" + mandate + "\""),
              Event("u3", "900", "USD", R"(,"mandate":")" + mandate + R"(","at":)" +
                                            std::to_string(kStart - 7200))}),
       200);

  json::Value b = Call("GET", "/v1/usage/budgets?mandate=" + mandate, auditor_, "", 200);
  EXPECT_EQ(StringField(b, "mandate"), mandate);
  const std::string day = "mandate:" + mandate + ":window:day:calendar:UTC";
  json::Value counter;
  for (const json::Value& c : b.Find("budgets")->items()) {
    if (StringField(c, "counter") == day) counter = c;
  }
  ASSERT_TRUE(counter.is_object()) << json::Write(b);
  EXPECT_EQ(StringField(counter, "spent"), "1000");
  EXPECT_EQ(StringField(counter, "remaining"), "99000");
  EXPECT_EQ(json::Write(*counter.Find("burn")),
            R"({"trailing_minutes":60,"spent":"600","per_hour":"600"})");
  // 99000 at 600 an hour: 165 h, after the day resets.
  EXPECT_EQ(json::Write(*counter.Find("projected_depletion")), std::to_string(kStart + 594000));
  EXPECT_EQ(json::Write(*counter.Find("depletes_before_reset")), "false");
  // An agent's per-payment cap bounds each payment, not a sum: listed, with nothing to burn
  // through or deplete; its day ceiling beside it has its burn.
  signer::PrivateKey capped_key =
      *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
  const std::string capped = StringField(
      Call("POST", base_ + "/agents", admin_,
           R"({"name":"capped","did":")" +
               signer::DidKeyFromPublicKey(*signer::DerivePublicKey(capped_key)) +
               R"(","ceilings":[{"asset":"USD","window":"transaction","max":"700"},)"
               R"({"asset":"USD","window":"day","max":"5000"}]})",
           201),
      "id");
  json::Value caps = Call("GET", "/v1/usage/budgets?agent=" + capped, admin_, "", 200);
  json::Value per_payment, per_day;
  for (const json::Value& c : caps.Find("budgets")->items()) {
    if (StringField(c, "window") == "transaction") per_payment = c;
    if (StringField(c, "window") == "day" &&
        StringField(c, "owner") == "agent:" + capped) per_day = c;
  }
  ASSERT_TRUE(per_payment.is_object() && per_day.is_object()) << json::Write(caps);
  EXPECT_EQ(per_payment.Find("burn"), nullptr);
  EXPECT_EQ(per_payment.Find("projected_depletion"), nullptr);
  EXPECT_NE(per_day.Find("burn"), nullptr);

  // Over three hours the burn includes the older event: 1500 / 3 h.
  b = Call("GET", "/v1/usage/budgets?mandate=" + mandate + "&trailing_minutes=180", admin_, "",
           200);
  for (const json::Value& c : b.Find("budgets")->items()) {
    if (StringField(c, "counter") == day) {
      EXPECT_EQ(json::Write(*c.Find("burn")),
                R"({"trailing_minutes":180,"spent":"1500","per_hour":"500"})");
    }
  }
  // The agent's view lists the same counter; refusals.
  b = Call("GET", "/v1/usage/budgets?agent=" + agent, admin_, "", 200);
  bool found = false;
  for (const json::Value& c : b.Find("budgets")->items()) found |= StringField(c, "counter") == day;
  EXPECT_TRUE(found) << json::Write(b);
  EXPECT_EQ(Problem(Send("GET", "/v1/usage/budgets", admin_)), "400 usage-query-invalid ");
  EXPECT_EQ(Problem(Send("GET", "/v1/usage/budgets?mandate=mnd_nobody", admin_)),
            "404 mandate-not-found ");
  EXPECT_EQ(Problem(Send("GET", "/v1/usage/budgets?mandate=" + mandate + "&trailing_minutes=0",
                         admin_)),
            "400 usage-query-invalid ");
}

// A limit in two assets is two counters of one name: budgets list both, each with its own
// spend (before, only the asset that sorted first was listed, for a mandate and for an agent).
TEST_F(UsageApiTest, BudgetsListEachAssetOfALimit) {
  const std::string agent = NewAgent("two-currency buyer");
  const std::string mandate = Issue(
      agent, R"({"limits":{"windows":[)"
             R"({"asset":"USD","window":"day","kind":"calendar","time_zone":"UTC","max":"1000"},)"
             R"({"asset":"EUR","window":"day","kind":"calendar","time_zone":"UTC","max":"900"}],)"
             R"("lifetime":[{"asset":"USD","max":"5000"},{"asset":"EUR","max":"4000"}]}})");
  Call("POST", "/v1/usage", merchant_,
       Batch({Event("two-1", "100", "USD", R"(,"mandate":")" + mandate + "\""),
              Event("two-2", "7", "EUR", R"(,"mandate":")" + mandate + "\"")}),
       200);
  for (const std::string& query : {"mandate=" + mandate, "agent=" + agent}) {
    SCOPED_TRACE(query);
    const json::Value b = Call("GET", "/v1/usage/budgets?" + query, admin_, "", 200);
    // "<counter> <asset>" -> "<remaining> <burn spent>" (reported usage burns, authorizations
    // spend: none here).
    std::map<std::string, std::string> seen;
    for (const json::Value& c : b.Find("budgets")->items()) {
      const json::Value* burn = c.Find("burn");
      seen[StringField(c, "counter") + " " + StringField(c, "asset")] =
          StringField(c, "remaining") + " " + (burn ? StringField(*burn, "spent") : "-");
    }
    const std::string m = "mandate:" + mandate;
    EXPECT_EQ(seen, (std::map<std::string, std::string>{
                        {m + ":lifetime EUR", "4000 7"},
                        {m + ":lifetime USD", "5000 100"},
                        {m + ":window:day:calendar:UTC EUR", "900 7"},
                        {m + ":window:day:calendar:UTC USD", "1000 100"}}))
        << json::Write(b);
  }
}

// An agent's headroom (and so its budgets) holds every active mandate, not the first 1,000 of
// its mandates in id order, ended ones included (an agent given a mandate per task gets there).
TEST_F(UsageApiTest, AnAgentsHeadroomHoldsEveryActiveMandatePastAThousand) {
  const std::string agent = NewAgent("a mandate per task");
  const std::string terms = R"({"limits":{"lifetime":[{"asset":"USD","max":"10"}]}})";
  std::set<std::string> issued;
  for (int i = 0; i < 1003; ++i) issued.insert(Issue(agent, terms));
  const std::string revoked = *issued.begin();
  Call("POST", base_ + "/mandates/" + revoked + "/revoke", admin_, "", 200);
  issued.erase(revoked);
  const json::Value h = Call("GET", base_ + "/agents/" + agent + "/headroom", admin_, "", 200);
  std::set<std::string> listed;
  for (const json::Value& m : h.Find("mandates")->items()) listed.insert(StringField(m, "mandate"));
  EXPECT_EQ(listed.size(), 1002u);
  EXPECT_TRUE(listed == issued);
}

TEST_F(UsageApiTest, AParentBudgetBurnsThroughItsDelegations) {
  // The parent's day window is spent by purchases under its child and grandchild too, so its
  // burn counts their metered usage; the child's counts its own subtree only.
  const std::string agent = NewAgent("lead");
  const std::string helper = NewAgent("helper");
  const char* kTerms =
      R"({"limits":{"windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"UTC","max":"%s"}]}})";
  auto terms = [&](const char* max) {
    std::string t = kTerms;
    return t.replace(t.find("%s"), 2, max);
  };
  const std::string parent = Issue(agent, terms("100000"));
  auto child_of = [&](const std::string& of, const std::string& who, const char* max) {
    const int64_t now = clock_.NowUnixSeconds();
    const std::string body = R"({"agent":")" + who + R"(","parent":")" + of +
                             R"(","valid_from":")" + mandates::FormatRfc3339Utc(now - 30) +
                             R"(","valid_until":")" + mandates::FormatRfc3339Utc(now + 86400) +
                             R"(","terms":)" + terms(max) + "}";
    return StringField(Call("POST", base_ + "/mandates", admin_, body, 201), "id");
  };
  const std::string child = child_of(parent, helper, "50000");
  const std::string grandchild = child_of(child, helper, "20000");
  const std::string sibling = child_of(parent, agent, "10000");
  auto on = [](const std::string& m) { return R"(,"mandate":")" + m + "\""; };
  Call("POST", "/v1/usage", merchant_,
       Batch({Event("p1", "300", "USD", on(parent)), Event("c1", "200", "USD", on(child)),
              Event("g1", "40", "USD", on(grandchild)), Event("s1", "7", "USD", on(sibling)),
              Event("x1", "1000", "USD")}),
       200);

  auto burns = [&](const std::string& of) {
    std::map<std::string, std::string> out;
    json::Value b = Call("GET", "/v1/usage/budgets?mandate=" + of, auditor_, "", 200);
    for (const json::Value& c : b.Find("budgets")->items()) {
      const std::string counter = StringField(c, "counter");
      if (counter.rfind("mandate:", 0) == 0 && c.Find("burn") != nullptr) {
        out[counter.substr(8, counter.find(':', 8) - 8)] = StringField(*c.Find("burn"), "spent");
      }
    }
    return out;
  };
  std::map<std::string, std::string> want = {
      {grandchild, "40"}, {child, "240"}, {parent, "547"}};
  EXPECT_EQ(burns(grandchild), want);
  want = {{child, "240"}, {parent, "547"}};
  EXPECT_EQ(burns(child), want);
  want = {{parent, "547"}};
  EXPECT_EQ(burns(parent), want);
  want = {{sibling, "7"}, {parent, "547"}};
  EXPECT_EQ(burns(sibling), want);

  // A credential limited to some agents or mandates counts only the mandates in its scope
  // (specs/access.md): the parent's burn then holds no usage of mandates it may not read.
  auto scoped = [&](const std::string& scope) {
    return StringField(Call("POST", base_ + "/credentials", admin_,
                            R"({"role":"auditor",)" + scope + "}", 201),
                       "token");
  };
  const std::string helper_only = scoped(R"("agents":[")" + helper + "\"]");
  const std::string child_only = scoped(R"("mandates":[")" + child + "\"]");
  auto burns_as = [&](const std::string& token, const std::string& of) {
    std::map<std::string, std::string> out;
    json::Value b = Call("GET", "/v1/usage/budgets?mandate=" + of, token, "", 200);
    for (const json::Value& c : b.Find("budgets")->items()) {
      const std::string counter = StringField(c, "counter");
      out[counter.substr(8, counter.find(':', 8) - 8)] = StringField(*c.Find("burn"), "spent");
    }
    return out;
  };
  want = {{child, "240"}, {parent, "240"}};  // the helper's child and grandchild only
  EXPECT_EQ(burns_as(helper_only, child), want);
  want = {{child, "200"}, {parent, "200"}};  // the child alone, not its delegation
  EXPECT_EQ(burns_as(child_only, child), want);
}

}  // namespace
}  // namespace mandated
