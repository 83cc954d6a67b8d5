// AP2 over HTTP against the real service on loopback (specs/ap2.md §6-§9): the failure modes
// AP2's reference leaves to chance, each refused with its own reason, and a whole
// human-not-present purchase from open mandates to verified receipts and the audit trail.
//
// The agent holds its own P-256 key (a self-custody did:key agent) and signs its closing hops
// with mandates/sd_jwt.h, as an agent-side tool would; the merchant signs its checkout JWT with
// its own P-256 key. The service's clock is a FakeClock so recurrence can be tested exactly.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/app.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/random.h"
#include "identity/tenant.h"
#include "mandates/credential.h"
#include "mandates/sd_jwt.h"
#include "settlement/x402_wire.h"
#include "signer/did.h"
#include "signer/ethereum.h"
#include "signer/jws.h"
#include "signer/keccak.h"
#include "signer/recoverable.h"
#include "signer/signature.h"
#include "tests/support/ap2_closing.h"
#include "tests/support/fake_clock.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/http_json.h"
#include "tests/support/in_process_service.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

namespace sdjwt = mandates::sdjwt;
using testing::Reply;
using testing::StringField;

constexpr char kOperatorToken[] = "ap2-operator-token-3b9e61d27a";
constexpr char kMerchantDid[] = "did:web:shop.example";
constexpr int64_t kStart = 1795000000;

json::Value J(std::string_view text) {
  Result<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : json::Value();
}
// The final SD-JWT of a chain (its terminal hop with its disclosures and closing '~'): what a
// receipt's reference hashes, as sd_hash is computed (specs/ap2.md §8).
std::string Terminal(const std::string& chain) { return chain.substr(chain.rfind("~~") + 2); }
std::string ProblemType(const Reply& r) {
  const std::string t = StringField(r.json, "type");
  const std::string prefix = "urn:mandated:problem:";
  return t.rfind(prefix, 0) == 0 ? t.substr(prefix.size()) : t;
}

class Ap2ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ = std::make_unique<testing::FakeClock>(kStart);
    service_.Start(dir_.Sub("data"), kOperatorToken, clock_.get(),
                   [](api::ServerConfig& c) { c.public_host = "mandated.test"; });
    ASSERT_NE(service_.app(), nullptr);
    const testing::PrincipalWithAdmin p = testing::CreatePrincipalWithAdmin(
        service_.client(), kOperatorToken, R"({"name":"AP2 Corp"})");
    base_ = p.base;
    admin_ = p.admin;
    merchant_token_ = StringField(Call("POST", base_ + "/credentials", admin_,
                                       R"({"role":"merchant","name":"shop"})", 201),
                                  "token");
    agent_key_ = std::move(*signer::GenerateKey(signer::KeyType::kP256, random_));
    const std::string did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(agent_key_));
    agent_ = StringField(Call("POST", base_ + "/agents", admin_,
                              R"({"name":"buyer","did":")" + did + R"("})", 201),
                         "id");
    NewSession();
    merchant_key_ = std::move(*signer::GenerateKey(signer::KeyType::kP256, random_));
  }

  // Opens a session for the agent (sessions expire: tests that move time open a new one).
  void NewSession() {
    session_ = StringField(Call("POST", base_ + "/agents/" + agent_ + "/sessions", admin_,
                                R"({"task":"shop"})", 201),
                           "token");
  }

  Reply Send(const std::string& method, const std::string& path, const std::string& token,
             const std::string& body) {
    return testing::Send(service_.client(), method, path, token, body);
  }
  json::Value Call(const std::string& method, const std::string& path, const std::string& token,
                   const std::string& body, int want) {
    return testing::Call(service_.client(), method, path, token, body, want);
  }

  // Another agent of the principal, holding a fresh P-256 key of its own: its id.
  std::string NewP256Agent(const std::string& name) {
    const std::string did = signer::DidKeyFromPublicKey(
        *signer::DerivePublicKey(*signer::GenerateKey(signer::KeyType::kP256, random_)));
    return StringField(Call("POST", base_ + "/agents", admin_,
                            R"({"name":")" + name + R"(","did":")" + did + "\"}", 201),
                       "id");
  }
  // A vc+jwt mandate for `agent` to pay *.shop.example up to 100000 USD a purchase for 30 days:
  // its id.
  std::string ShopMandate(const std::string& agent) {
    return StringField(
        Call("POST", base_ + "/mandates", admin_,
             R"({"agent":")" + agent + R"(","valid_from":")" +
                 mandates::FormatRfc3339Utc(kStart - 60) + R"(","valid_until":")" +
                 mandates::FormatRfc3339Utc(kStart + 30 * 86400) +
                 R"(","terms":{"scope":{"payees":{"allow":[{"type":"domain","value":"*.shop.example"}]}},)"
                 R"("limits":{"per_transaction":[{"asset":"USD","max":"100000"}]}}})",
             201),
        "id");
  }
  // Issues an open mandate; returns the record.
  json::Value IssueOpen(const std::string& kind, const std::string& constraints,
                        const std::string& extra = "") {
    return Call("POST", base_ + "/ap2/mandates", admin_,
                R"({"agent":")" + agent_ + R"(","kind":")" + kind + R"(","constraints":)" +
                    constraints + extra + "}",
                201);
  }
  // An open payment mandate with `constraints` (payment.reference added).
  std::string OpenPayment(const std::string& constraints) {
    std::string c = constraints;
    c.insert(1, R"({"type":"payment.reference","conditional_transaction_id":"no-checkout"})" +
                    std::string(c.size() > 2 ? "," : ""));
    return StringField(IssueOpen("payment", c, R"(,"ttl_seconds":2592000)"), "token");
  }
  // A challenge for the agent: {nonce, aud}.
  json::Value Challenge(const std::string& session = "") {
    return Call("POST", "/v1/ap2/challenges", session.empty() ? session_ : session, "", 201);
  }
  // The agent closes `open` (a token) for `amount` to payee `payee` with transaction `tx`,
  // signing for `aud` and `nonce`.
  std::string Close(const std::string& open, int64_t amount, const std::string& tx,
                    const std::string& aud, const std::string& nonce,
                    const std::string& instrument = "card") {
    Result<std::string> chain = testing::SignAp2Closing(
        open, agent_key_, amount, tx, aud, nonce, clock_->NowUnixSeconds(), random_, instrument);
    EXPECT_TRUE(chain.ok()) << chain.status().ToString();
    return chain.ok() ? *chain : "";
  }
  // Credits the principal's prepaid balance.
  void Deposit(int64_t amount) {
    testing::Call(service_.client(), "POST", "/v1/ledger/deposits", admin_,
                  R"({"account":"principal:)" + base_.substr(base_.rfind('/') + 1) +
                      R"(","asset":"USD","amount":")" + std::to_string(amount) + R"("})",
                  201, "deposit-" + std::to_string(++deposits_));
  }
  std::string Balance() {
    const json::Value b = Call("GET", "/v1/ledger/accounts/principal:" +
                                          base_.substr(base_.rfind('/') + 1), admin_, "", 200);
    const json::Value* list = b.Find("balances");
    return list != nullptr && !list->items().empty() ? StringField(list->items()[0], "balance") : "0";
  }

  // Challenge, close and present in one go.
  Reply Pay(const std::string& open, int64_t amount, const std::string& tx,
            httplib::Client* client = nullptr, const std::string& instrument = "card") {
    const json::Value ch = client == nullptr
                               ? Challenge()
                               : testing::Call(*client, "POST", "/v1/ap2/challenges", session_, "", 201);
    const std::string chain =
        Close(open, amount, tx, StringField(ch, "aud"), StringField(ch, "nonce"), instrument);
    return Present(chain, client);
  }
  // Pays on a connection of its own (for racing threads): a 201 counts in `paid`, a refusal of
  // problem type `refusal` in `refused`, anything else in `other` and fails the test.
  void PayCounted(const std::string& open, int64_t amount, const std::string& tx,
                  const std::string& refusal, std::atomic<int>& paid, std::atomic<int>& refused,
                  std::atomic<int>& other) {
    httplib::Client client("127.0.0.1", service_.port());
    Reply r = Pay(open, amount, tx, &client);
    if (r.status == 201) {
      ++paid;
    } else if (ProblemType(r) == refusal) {
      ++refused;
    } else {
      ++other;
      ADD_FAILURE() << r.body;
    }
  }
  // Presents `chain` under a fresh Idempotency-Key (or `key`).
  Reply Present(const std::string& chain, httplib::Client* client = nullptr,
                const std::string& key = "") {
    json::Value body = json::Value::Object().Set("chain", json::Value::String(chain));
    return testing::Send(client != nullptr ? *client : service_.client(), "POST", "/v1/ap2/present",
                         session_, json::Write(body),
                         key.empty() ? "present-" + std::to_string(++idempotency_keys_) : key);
  }

  // The claims of a receipt the service signed, checked against the published receipts key its
  // kid names; its header `typ` in `*typ` when given.
  json::Value ReceiptClaims(const std::string& jws, std::string* typ = nullptr) {
    Result<signer::Jws> r = signer::ParseJws(jws);
    EXPECT_TRUE(r.ok()) << jws;
    if (!r.ok()) return json::Value();
    const json::Value jwks = Call("GET", "/.well-known/ap2-jwks.json", "", "", 200);
    for (const json::Value& k : jwks.Find("keys")->items()) {
      if (StringField(k, "kid") != r->kid) continue;
      EXPECT_TRUE(signer::VerifyJws(*r, *signer::PublicKeyFromJwk(k)).ok());
      if (typ != nullptr) *typ = StringField(r->header, "typ");
      return J(r->payload);
    }
    ADD_FAILURE() << "no published key " << r->kid;
    return json::Value();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::FakeClock> clock_;
  testing::InProcessService service_;
  SystemRandom random_;
  std::string base_, admin_, merchant_token_, agent_, session_;
  signer::PrivateKey agent_key_;
  signer::PrivateKey merchant_key_;
  int deposits_ = 0;
  std::atomic<int> idempotency_keys_{0};
};

// ---- Must-show 2: each failure mode refused with its own reason ----

TEST_F(Ap2ApiTest, ReplayedClosedMandateIsRefused) {
  const std::string open = OpenPayment(R"([{"type":"payment.amount_range","currency":"USD","max":5000}])");
  const json::Value ch = Challenge();
  EXPECT_EQ(StringField(ch, "aud"), "did:web:mandated.test");
  const std::string chain = Close(open, 1200, "tx-1", StringField(ch, "aud"), StringField(ch, "nonce"));
  Reply first = Present(chain);
  ASSERT_EQ(first.status, 201) << first.body;
  // The same closed mandate again: its nonce is spent.
  Reply again = Present(chain);
  EXPECT_EQ(again.status, 401);
  EXPECT_EQ(ProblemType(again), "ap2-nonce-replayed");
  // The same transaction closed again under a fresh challenge: single use.
  Reply second_use = Pay(open, 1200, "tx-1");
  EXPECT_EQ(second_use.status, 403);
  EXPECT_EQ(ProblemType(second_use), "ap2-closed-mandate-replayed");
  // A nonce the service never issued.
  Reply made_up = Present(Close(open, 1200, "tx-2", "did:web:mandated.test", "my-own-nonce"));
  EXPECT_EQ(ProblemType(made_up), "ap2-nonce-unknown");
  // max_occurrences 1: a single-use open mandate admits one closing.
  const std::string once = OpenPayment(
      R"([{"type":"payment.agent_recurrence","frequency":"ON_DEMAND","max_occurrences":1}])");
  ASSERT_EQ(Pay(once, 100, "tx-a").status, 201);
  Reply twice = Pay(once, 100, "tx-b");
  EXPECT_EQ(twice.status, 403);
  EXPECT_EQ(ProblemType(twice), "ap2-recurrence-exhausted");
}

// A principal withdraws an open mandate (specs/ap2.md §9): nothing closes it afterwards and the
// refusal consumes nothing, what it paid before stands, a second revocation changes nothing,
// and the trail records one revocation naming who made it.
TEST_F(Ap2ApiTest, ARevokedOpenMandateClosesNoMore) {
  const json::Value issued = IssueOpen(
      "payment",
      R"([{"type":"payment.reference","conditional_transaction_id":"no-checkout"},)"
      R"({"type":"payment.amount_range","currency":"USD","max":5000}])",
      R"(,"ttl_seconds":2592000)");
  const std::string id = StringField(issued, "id");
  const std::string open = StringField(issued, "token");
  Reply before = Pay(open, 1200, "tx-before");
  ASSERT_EQ(before.status, 201) << before.body;
  EXPECT_EQ(issued.Find("revoked_at"), nullptr);

  clock_->AdvanceSeconds(10);
  const json::Value revoked =
      Call("POST", base_ + "/ap2/mandates/" + id + "/revoke", admin_, "", 200);
  ASSERT_NE(revoked.Find("revoked_at"), nullptr);
  EXPECT_EQ(revoked.Find("revoked_at")->as_int64(), clock_->NowUnixSeconds());
  const std::string by = StringField(revoked, "revoked_by");
  EXPECT_EQ(by.rfind("crd_", 0), 0u) << by;
  EXPECT_EQ(StringField(revoked, "token"), open);  // the record, as issued, plus the revocation

  // Closing it is refused before the challenge is looked at: the nonce stays unspent, and
  // another open mandate closes under it.
  const json::Value ch = Challenge();
  Reply after = Present(Close(open, 100, "tx-after", StringField(ch, "aud"), StringField(ch, "nonce")));
  EXPECT_EQ(after.status, 403) << after.body;
  EXPECT_EQ(ProblemType(after), "ap2-mandate-revoked");
  const std::string other = OpenPayment(R"([{"type":"payment.amount_range","currency":"USD","max":5000}])");
  Reply elsewhere =
      Present(Close(other, 100, "tx-other", StringField(ch, "aud"), StringField(ch, "nonce")));
  EXPECT_EQ(elsewhere.status, 201) << elsewhere.body;

  // Again, later: the first revocation, unchanged; reads show it.
  clock_->AdvanceSeconds(10);
  EXPECT_EQ(json::Write(Call("POST", base_ + "/ap2/mandates/" + id + "/revoke", admin_, "", 200)),
            json::Write(revoked));
  EXPECT_EQ(json::Write(Call("GET", base_ + "/ap2/mandates/" + id, admin_, "", 200)),
            json::Write(revoked));
  Reply missing = Send("POST", base_ + "/ap2/mandates/ap2m_none/revoke", admin_, "");
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(ProblemType(missing), "ap2-mandate-not-found");

  const json::Value trail =
      Call("GET", "/v1/audit/trail?mandate=" + id + "&limit=1000", kOperatorToken, "", 200);
  std::vector<std::string> types;
  for (const json::Value& item : trail.Find("items")->items()) {
    const json::Value e = J(StringField(item, "event"));
    types.push_back(StringField(e, "type"));
    if (types.back() == "ap2.mandate_revoked") {
      EXPECT_EQ(StringField(*e.Find("actor"), "id"), by);
      EXPECT_EQ(StringField(*e.Find("data"), "revoked_by"), by);
    }
  }
  EXPECT_EQ(types, (std::vector<std::string>{"ap2.mandate_issued", "ap2.payment_closed",
                                             "ap2.mandate_revoked"}));
}

TEST_F(Ap2ApiTest, BudgetIsCumulativeAcrossClosedMandates) {
  const std::string open = OpenPayment(
      R"([{"type":"payment.budget","currency":"USD","max":1000},
          {"type":"payment.agent_recurrence","frequency":"ON_DEMAND"}])");
  EXPECT_EQ(Pay(open, 400, "b-1").status, 201);
  EXPECT_EQ(Pay(open, 400, "b-2").status, 201);
  Reply over = Pay(open, 300, "b-3");
  EXPECT_EQ(over.status, 403);
  EXPECT_EQ(ProblemType(over), "ap2-budget-exceeded");
  EXPECT_EQ(Pay(open, 200, "b-4").status, 201);  // exactly the budget
  EXPECT_EQ(ProblemType(Pay(open, 1, "b-5")), "ap2-budget-exceeded");
}

// specs/ap2.md §9: a principal lists its open mandates and reads what each spent and the
// closed payments made under it, page by page.
TEST_F(Ap2ApiTest, PrincipalsListOpenMandatesAndReadTheirClosings) {
  const json::Value first = IssueOpen(
      "payment", R"([{"type":"payment.reference","conditional_transaction_id":"x"},
                     {"type":"payment.budget","currency":"USD","max":1000},
                     {"type":"payment.agent_recurrence","frequency":"ON_DEMAND"}])",
      R"(,"ttl_seconds":2592000)");
  const std::string open = StringField(first, "token");
  const std::string id = StringField(first, "id");
  const std::string other = StringField(
      IssueOpen("payment", R"([{"type":"payment.reference","conditional_transaction_id":"y"}])"),
      "id");
  ASSERT_EQ(Pay(open, 250, "k-1").status, 201);
  ASSERT_EQ(Pay(open, 300, "k-2").status, 201);
  ASSERT_EQ(Pay(open, 100, "k-3").status, 201);

  const json::Value list = Call("GET", base_ + "/ap2/mandates?agent=" + agent_, admin_, "", 200);
  std::vector<std::string> ids;
  for (const json::Value& m : list.Find("items")->items()) ids.push_back(StringField(m, "id"));
  std::vector<std::string> want = {id, other};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids, want);
  const json::Value none = Call("GET", base_ + "/ap2/mandates?agent=agt_nobody", admin_, "", 200);
  EXPECT_TRUE(none.Find("items")->items().empty());
  // A credential limited to the agent sees its mandates only, in full pages, and never has
  // another agent's mandate named as the next page (three others, in among them by id).
  const std::string other_agent = NewP256Agent("other");
  for (int i = 0; i < 3; ++i) {
    Call("POST", base_ + "/ap2/mandates", admin_,
         R"({"agent":")" + other_agent +
             R"(","kind":"payment","constraints":[{"type":"payment.reference","conditional_transaction_id":"z"}]})",
         201);
  }
  const std::string scoped = StringField(
      Call("POST", base_ + "/credentials", admin_,
           R"({"role":"auditor","name":"one agent","agents":[")" + agent_ + "\"]}", 201),
      "token");
  std::vector<std::string> seen;
  std::string next;
  for (int page = 0; page < 4; ++page) {
    const json::Value p = Call("GET", base_ + "/ap2/mandates?limit=1" +
                                          (next.empty() ? "" : "&after=" + next),
                               scoped, "", 200);
    for (const json::Value& m : p.Find("items")->items()) {
      EXPECT_EQ(StringField(m, "agent"), agent_);
      seen.push_back(StringField(m, "id"));
    }
    next = StringField(p, "next_after");
    if (next.empty()) break;
    EXPECT_EQ(next, seen.back());
  }
  EXPECT_EQ(seen, want);

  // Two pages of closings: usage on each, every transaction once.
  std::vector<std::string> txs;
  std::string after;
  for (int page = 0; page < 3; ++page) {
    const json::Value c = Call("GET", base_ + "/ap2/mandates/" + id + "/closings?limit=2" +
                                          (after.empty() ? "" : "&after=" + after),
                               admin_, "", 200);
    EXPECT_EQ(StringField(c, "mandate"), id);
    EXPECT_EQ(json::Write(*c.Find("usage")).rfind(R"({"spent":650,"uses":3,"last_use_at":)", 0),
              0u)
        << json::Write(c);
    for (const json::Value& item : c.Find("items")->items()) {
      txs.push_back(StringField(item, "transaction_id"));
      EXPECT_EQ(StringField(item, "open_mandate"), id);
    }
    after = StringField(c, "next_after");
    if (after.empty()) break;
  }
  std::sort(txs.begin(), txs.end());
  EXPECT_EQ(txs, (std::vector<std::string>{"k-1", "k-2", "k-3"}));
  const json::Value unused = Call("GET", base_ + "/ap2/mandates/" + other + "/closings", admin_, "", 200);
  EXPECT_EQ(json::Write(*unused.Find("usage")), R"({"spent":0,"uses":0})");
  EXPECT_TRUE(unused.Find("items")->items().empty());
  EXPECT_EQ(Send("GET", base_ + "/ap2/mandates/ap2m_nope/closings", admin_, "").status, 404);
}

TEST_F(Ap2ApiTest, ConcurrentClosingsAdmitExactlyTheBudget) {
  const std::string open = OpenPayment(
      R"([{"type":"payment.budget","currency":"USD","max":1000},
          {"type":"payment.agent_recurrence","frequency":"ON_DEMAND"}])");
  constexpr int kThreads = 16;  // 16 x 100 against a budget of 1000
  std::atomic<int> admitted{0}, over_budget{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      PayCounted(open, 100, "c-" + std::to_string(i), "ap2-budget-exceeded", admitted,
                 over_budget, other);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 10);
  EXPECT_EQ(over_budget.load(), 6);
  EXPECT_EQ(other.load(), 0);
}

TEST_F(Ap2ApiTest, RecurrenceTooFrequentIsRefused) {
  const std::string open = OpenPayment(R"([{"type":"payment.agent_recurrence","frequency":"DAILY"}])");
  ASSERT_EQ(Pay(open, 100, "r-1").status, 201);
  clock_->AdvanceSeconds(86400 - 1);
  NewSession();
  Reply early = Pay(open, 100, "r-2");
  EXPECT_EQ(early.status, 403);
  EXPECT_EQ(ProblemType(early), "ap2-recurrence-too-frequent");
  clock_->AdvanceSeconds(1);
  EXPECT_EQ(Pay(open, 100, "r-3").status, 201);
}

TEST_F(Ap2ApiTest, WrongAudienceIsRefused) {
  const std::string open = OpenPayment(R"([{"type":"payment.amount_range","currency":"USD","max":5000}])");
  const json::Value ch = Challenge();
  Reply r = Present(Close(open, 100, "w-1", "did:web:someone-else.example", StringField(ch, "nonce")));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(ProblemType(r), "sd-jwt-wrong-aud");
  // The refusal spent nothing: the challenge still works with the right audience.
  EXPECT_EQ(Present(Close(open, 100, "w-1", StringField(ch, "aud"), StringField(ch, "nonce"))).status, 201);
}

TEST_F(Ap2ApiTest, UnknownConstraintTypeIsRefused) {
  Reply r = Send("POST", base_ + "/ap2/mandates", admin_,
                 R"({"agent":")" + agent_ + R"(","kind":"payment","constraints":[
                    {"type":"payment.reference","conditional_transaction_id":"x"},
                    {"type":"com.example.loyalty_points","max":5}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ProblemType(r), "ap2-unknown-constraint");
  EXPECT_NE(StringField(r.json, "detail").find("/constraints/1/type"), std::string::npos);
}

TEST_F(Ap2ApiTest, AlteredDisclosureIsRefused) {
  const std::string open = OpenPayment(
      R"([{"type":"payment.amount_range","currency":"USD","max":500}])");
  const json::Value ch = Challenge();
  std::string chain = Close(open, 400, "a-1", StringField(ch, "aud"), StringField(ch, "nonce"));
  // Raise the amount range's max inside its disclosure (salt kept), re-encoded.
  Result<sdjwt::Presentation> p = sdjwt::Parse(chain);
  ASSERT_TRUE(p.ok());
  std::string target;
  for (const sdjwt::Disclosure& d : p->hops[0].disclosures) {
    if (!d.name && d.value.is_object() && d.value.Find("type") != nullptr &&
        d.value.Find("type")->as_string() == "payment.amount_range") {
      target = d.encoded;
      json::Value arr = json::Value::Array();
      arr.Append(json::Value::String(d.salt));
      json::Value v = d.value;
      v.Set("max", json::Value::Int(999999));
      arr.Append(v);
      chain.replace(chain.find(target), target.size(), Base64UrlEncode(AsBytes(json::Write(arr))));
    }
  }
  ASSERT_FALSE(target.empty());
  Reply r = Present(chain);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ProblemType(r), "sd-jwt-disclosure-unreferenced");
}

// A custodial agent: the service signs the closing hop with the agent's key-store key only
// behind an allowed, reserved authorization for exactly that purchase (the Authorizer, as for any
// purchase), captures it, and an x402 instrument gets the EIP-3009 nonce tied to the chain.
TEST_F(Ap2ApiTest, CustodialAgentClosesBehindAnAuthorization) {
  const json::Value agent = Call("POST", base_ + "/agents", admin_,
                                 R"({"name":"custodial","custodial":{"key_type":"P-256"}})", 201);
  const std::string cust = StringField(agent, "id");
  const std::string token = StringField(
      Call("POST", base_ + "/agents/" + cust + "/sessions", admin_, R"({"task":"shop"})", 201),
      "token");
  // The principal's own mandate for the agent (the Authorizer's terms).
  const std::string mandate = ShopMandate(cust);
  int keys = 0;
  auto authorize = [&](int amount) {
    return StringField(
        testing::Call(service_.client(), "POST", "/v1/authorizations", token,
                      R"({"mandate":")" + mandate +
                          R"(","payee":{"type":"domain","value":"api.shop.example"},"amount":")" +
                          std::to_string(amount) + R"(","asset":"USD"})",
                      201, "ap2-key-" + std::to_string(++keys)),
        "id");
  };
  const json::Value open = Call(
      "POST", base_ + "/ap2/mandates", admin_,
      R"({"agent":")" + cust + R"(","kind":"payment","constraints":[
          {"type":"payment.reference","conditional_transaction_id":"x"},
          {"type":"payment.budget","currency":"USD","max":1000},
          {"type":"payment.agent_recurrence","frequency":"ON_DEMAND"},
          {"type":"payment.allowed_payment_instruments","allowed":[{"id":"wallet-1","type":"x402"}]}]})",
      201);
  auto close = [&](const std::string& authorization, int amount, const std::string& tx,
                   const std::string& nonce, const std::string& session) {
    return testing::Send(service_.client(), "POST", "/v1/ap2/close", session,
                R"({"mandate":")" + StringField(open, "id") + R"(","authorization":")" +
                    authorization + R"(","aud":"did:web:shop.example","nonce":")" + nonce +
                    R"(","closed":{"vct":"mandate.payment.1","transaction_id":")" + tx +
                    R"(","payee":{"id":"api.shop.example","name":"Shop"},"payment_amount":{"amount":)" +
                    std::to_string(amount) +
                    R"(,"currency":"USD"},"payment_instrument":{"id":"wallet-1","type":"x402"}}})",
                "close-" + std::to_string(++idempotency_keys_));
  };
  const std::string a600 = authorize(600);
  // The authorization must be for this very purchase.
  EXPECT_EQ(ProblemType(close(a600, 500, "t-0", "n-0", token)), "ap2-authorization-mismatch");
  Reply ok = close(a600, 600, "t-1", "n-1", token);
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_TRUE(ok.json.Find("captured") != nullptr && ok.json.Find("captured")->as_bool());
  const json::Value rec = Call("GET", base_ + "/authorizations/" + a600, admin_, "", 200);
  EXPECT_EQ(StringField(*rec.Find("reservation"), "state"), "captured");
  // A captured authorization holds nothing any more.
  EXPECT_EQ(ProblemType(close(a600, 600, "t-9", "n-9", token)), "ap2-authorization-not-reserved");
  // The chain verifies offline: the root with the principal's AP2 issuer key, the hop with the
  // agent's key bound in cnf, for the merchant's aud and nonce.
  const std::string chain = StringField(ok.json, "chain");
  const json::Value key = Call("GET", base_ + "/keys/" + StringField(open, "key_id"), admin_, "", 200);
  Result<sdjwt::Presentation> p = sdjwt::Parse(chain);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->hops.size(), 2u);
  Result<std::vector<sdjwt::VerifiedHop>> v = sdjwt::VerifyPresentation(
      *p, *signer::PublicKeyFromJwk(*key.Find("public_jwk")),
      sdjwt::Expectation{"did:web:shop.example", "n-1", clock_->NowUnixSeconds()});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(StringField((*v)[1].claims, "transaction_id"), "t-1");
  EXPECT_EQ(StringField(ok.json, "x402_nonce"),
            "0x" + HexEncode(signer::Keccak256(AsBytes(chain))));
  // The AP2 refusals still apply behind a valid authorization; nothing is signed for them.
  EXPECT_EQ(ProblemType(close(authorize(600), 600, "t-2", "n-2", token)), "ap2-budget-exceeded");
  EXPECT_EQ(ProblemType(close(authorize(100), 100, "t-3", "n-1", token)), "ap2-nonce-replayed");
  EXPECT_EQ(ProblemType(close(authorize(100), 100, "t-1", "n-4", token)),
            "ap2-closed-mandate-replayed");

  // Closings racing against one authorization (each another transaction and nonce): one is
  // accepted, so one payment is signed and paid against the one hold.
  const std::string raced = authorize(100);
  std::atomic<int> accepted{0};
  std::vector<std::thread> racers;
  for (int i = 0; i < 6; ++i) {
    racers.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", service_.port());
      const std::string body =
          R"({"mandate":")" + StringField(open, "id") + R"(","authorization":")" + raced +
          R"(","aud":"did:web:shop.example","nonce":"race-)" + std::to_string(i) +
          R"(","closed":{"vct":"mandate.payment.1","transaction_id":"race-t-)" +
          std::to_string(i) +
          R"(","payee":{"id":"api.shop.example","name":"Shop"},"payment_amount":{"amount":100,)"
          R"("currency":"USD"},"payment_instrument":{"id":"wallet-1","type":"x402"}}})";
      httplib::Result r = c.Post("/v1/ap2/close",
                                 {{"Authorization", "Bearer " + token},
                                  {"Idempotency-Key", "race-" + std::to_string(i)}},
                                 body, "application/json");
      if (r && r->status == 201) ++accepted;
    });
  }
  for (std::thread& t : racers) t.join();
  EXPECT_EQ(accepted.load(), 1);
  // Spent so far: 600 and the one raced closing of 100.
  EXPECT_EQ(ProblemType(close(authorize(400), 400, "t-5", "n-5", token)), "ap2-budget-exceeded");
  EXPECT_EQ(close(authorize(300), 300, "t-6", "n-6", token).status, 201);
}

// A closed payment with our ledger instrument is paid from the principal's prepaid balance in
// the same write as its record: without the funds it is refused and consumes nothing.
TEST_F(Ap2ApiTest, LedgerPaymentMovesFundsAtomically) {
  const std::string open = OpenPayment(
      R"([{"type":"payment.budget","currency":"USD","max":1000},
          {"type":"payment.agent_recurrence","frequency":"ON_DEMAND"}])");
  Reply broke = Pay(open, 1000, "l-1", nullptr, "dev.mandated.ledger");
  EXPECT_EQ(broke.status, 409);
  EXPECT_EQ(ProblemType(broke), "insufficient-funds");
  Deposit(1500);
  // The refused attempt spent neither budget nor the transaction id.
  Reply paid = Pay(open, 1000, "l-1", nullptr, "dev.mandated.ledger");
  ASSERT_EQ(paid.status, 201) << paid.body;
  EXPECT_EQ(Balance(), "500");
  const std::string xfr = StringField(paid.json, "ledger_transfer");
  EXPECT_EQ(xfr, "ap2-" + StringField(paid.json, "id"));
  const json::Value t = Call("GET", "/v1/ledger/transfers/" + xfr, admin_, "", 200);
  EXPECT_EQ(StringField(t, "credit"), "merchant:shop");
  EXPECT_EQ(StringField(t, "amount"), "1000");
  EXPECT_EQ(StringField(t, "kind"), "payment");
}

// specs/usage.md §1: an AP2 closing paid on the ledger is metered as a settled payment under its
// open mandate, once (a replay of its key, a refusal and a restart count nothing more), and a
// report may not take its id.
TEST_F(Ap2ApiTest, LedgerClosingsAreMeteredOnceAsPayments) {
  const json::Value open = IssueOpen(
      "payment",
      R"([{"type":"payment.reference","conditional_transaction_id":"no-checkout"},
          {"type":"payment.agent_recurrence","frequency":"ON_DEMAND"}])",
      R"(,"ttl_seconds":2592000)");
  const std::string token = StringField(open, "token");
  const std::string open_id = StringField(open, "id");
  Reply broke = Pay(token, 900, "m-0", nullptr, "dev.mandated.ledger");
  ASSERT_EQ(broke.status, 409) << broke.body;  // no funds: nothing paid, nothing metered
  Deposit(5000);
  const json::Value ch = Challenge();
  const std::string chain = Close(token, 1000, "m-1", StringField(ch, "aud"),
                                  StringField(ch, "nonce"), "dev.mandated.ledger");
  Reply paid = Present(chain, nullptr, "meter-once");
  ASSERT_EQ(paid.status, 201) << paid.body;
  EXPECT_EQ(Present(chain, nullptr, "meter-once").replayed, "true");
  ASSERT_EQ(Pay(token, 250, "m-2", nullptr, "dev.mandated.ledger").status, 201);
  ASSERT_EQ(Pay(token, 400, "m-3").status, 201);  // a card: paid by its rail, not metered here
  const std::string query = base_ + "/usage?group_by=agent,mandate,payee,source&mandate=" + open_id;
  const std::string want = R"({"agent":")" + agent_ + R"(","mandate":")" + open_id +
                           R"(","payee":"shop","source":"payment","asset":"USD","amount":"1250",)"
                           R"("quantity":"2","events":2})";
  const json::Value usage = Call("GET", query, admin_, "", 200);
  ASSERT_EQ(usage.Find("items")->items().size(), 1u) << json::Write(usage);
  EXPECT_EQ(json::Write(usage.Find("items")->items()[0]), want);
  // The recount from the trail (specs/usage.md §5): each ap2.payment_closed event whose closing
  // names a ledger transfer is one payment of its payment_amount (the events stand whether or
  // not the meter counted: this checks the two agree).
  const json::Value trail = Call("GET", "/v1/audit/trail?limit=1000&mandate=" + open_id,
                                 kOperatorToken, "", 200);
  int64_t recounted = 0;
  int payments = 0;
  for (const json::Value& item : trail.Find("items")->items()) {
    Result<json::Value> e = json::Parse(StringField(item, "event"));
    ASSERT_TRUE(e.ok());
    if (StringField(*e, "type") != "ap2.payment_closed") continue;
    const json::Value* data = e->Find("data");
    ASSERT_NE(data, nullptr);
    if (StringField(*data, "ledger_transfer").empty()) continue;
    recounted += data->Find("payment_amount")->Find("amount")->as_int64().value_or(0);
    ++payments;
  }
  EXPECT_EQ(recounted, 1250);
  EXPECT_EQ(payments, 2);

  service_.Stop();
  service_.Start(dir_.Sub("data"), kOperatorToken, clock_.get(),
                 [](api::ServerConfig& c) { c.public_host = "mandated.test"; });
  const json::Value rebuilt = Call("GET", query, admin_, "", 200);
  ASSERT_EQ(rebuilt.Find("items")->items().size(), 1u) << json::Write(rebuilt);
  EXPECT_EQ(json::Write(rebuilt.Find("items")->items()[0]), want);

  // A report may not take a payment's id.
  const Reply taken = Send("POST", base_ + "/usage", admin_,
                           R"({"events":[{"id":"ap2:)" + StringField(paid.json, "id") +
                               R"(","payee":"shop","asset":"USD","amount":"1"}]})");
  EXPECT_EQ(taken.status, 400) << taken.body;
  EXPECT_EQ(ProblemType(taken), "bad-usage-id");
}

// Must-show 1 over loopback: npm @sd-jwt/core verifies an open mandate the running service
// issued, with the issuer key fetched from the service; and a closing hop the library builds with
// an agent key it generated is accepted by the service.
TEST_F(Ap2ApiTest, NpmLibraryInteropsWithTheRunningService) {
  const json::Value keys = testing::RunInteropScript("ap2_sdjwt.mjs", J(R"({"mode":"keygen"})"));
  const json::Value* agent_jwk = keys.Find("agent") ? keys.Find("agent")->Find("public_jwk") : nullptr;
  ASSERT_NE(agent_jwk, nullptr) << json::Write(keys);
  const std::string did = signer::DidKeyFromPublicKey(*signer::PublicKeyFromJwk(*agent_jwk));
  agent_ = StringField(Call("POST", base_ + "/agents", admin_,
                            R"({"name":"node agent","did":")" + did + R"("})", 201),
                       "id");
  NewSession();
  const json::Value open = IssueOpen(
      "payment", R"([{"type":"payment.reference","conditional_transaction_id":"c"},
                     {"type":"payment.amount_range","currency":"USD","max":5000},
                     {"type":"payment.allowed_payees","allowed":[{"id":"shop","name":"Shop"},{"id":"cafe","name":"Cafe"}]}])");
  const json::Value key = Call("GET", base_ + "/keys/" + StringField(open, "key_id"), admin_, "", 200);
  // (a) The library verifies the service's token and every disclosure.
  json::Value issued = json::Value::Array();
  issued.Append(json::Value::Object()
                    .Set("name", json::Value::String("service"))
                    .Set("token", json::Value::String(StringField(open, "token"))));
  const json::Value verified = testing::RunInteropScript(
      "ap2_sdjwt.mjs", json::Value::Object()
                           .Set("mode", json::Value::String("verify"))
                           .Set("issuer_jwk", *key.Find("public_jwk"))
                           .Set("issued", issued)
                           .Set("now", json::Value::Int(clock_->NowUnixSeconds())));
  ASSERT_TRUE(verified.Find("verified") != nullptr) << json::Write(verified);
  const json::Value& r = verified.Find("verified")->items()[0];
  EXPECT_TRUE(r.Find("ok") != nullptr && r.Find("ok")->as_bool()) << json::Write(r);
  EXPECT_EQ(r.Find("disclosures")->items().size(), 5u);  // 3 constraints + 2 payees
  for (const json::Value& d : r.Find("disclosures")->items()) {
    EXPECT_TRUE(d.Find("referenced")->as_bool());
  }
  EXPECT_EQ(StringField(*r.Find("claims"), "jti"), StringField(open, "id"));
  EXPECT_FALSE(r.Find("altered")->Find("shows_altered_value")->as_bool());
  // (b) The library closes it with the agent key for the service's challenge.
  const json::Value ch = Challenge();
  json::Value claims = J(R"({"vct":"mandate.payment.1","transaction_id":"node-tx",
      "payee":{"id":"cafe","name":"Cafe"},"payment_amount":{"amount":450,"currency":"USD"},
      "payment_instrument":{"id":"card-9","type":"card"}})");
  claims.Set("iat", json::Value::Int(clock_->NowUnixSeconds()));
  claims.Set("aud", *ch.Find("aud"));
  claims.Set("nonce", *ch.Find("nonce"));
  const json::Value closed = testing::RunInteropScript(
      "ap2_sdjwt.mjs", json::Value::Object()
                           .Set("mode", json::Value::String("close"))
                           .Set("open", json::Value::String(StringField(open, "token")))
                           .Set("agent", *keys.Find("agent"))
                           .Set("claims", claims));
  Reply accepted = Present(StringField(closed, "chain"));
  ASSERT_EQ(accepted.status, 201) << accepted.body;
  EXPECT_EQ(StringField(accepted.json, "transaction_id"), "node-tx");
  EXPECT_EQ(StringField(*accepted.json.Find("payee"), "id"), "cafe");
}

// ---- Must-show 3 (and the checkout_hash failure mode): a human-not-present purchase ----

class Ap2PurchaseTest : public Ap2ApiTest {
 protected:
  // The merchant's signed checkout (ES256, its own key), with a salt in the payload.
  std::string CheckoutJwt(const std::string& id, int quantity) {
    json::Value c = J(R"({"merchant":{"id":"shop","name":"Shop"},"currency":"USD","status":"ready_for_complete",
        "totals":[{"type":"subtotal","amount":1200},{"type":"total","amount":1200}]})");
    c.Set("id", json::Value::String(id));
    c.Set("salt", json::Value::String(Base64UrlEncode(*random_.Generate(16))));
    json::Value lines = json::Value::Array();
    lines.Append(json::Value::Object()
                     .Set("id", json::Value::String("line-1"))
                     .Set("item", J(R"({"id":"sku-tea","title":"Green tea","price":600})"))
                     .Set("quantity", json::Value::Int(quantity)));
    c.Set("line_items", lines);
    return *signer::SignJws(merchant_key_, J(R"({"typ":"JWT"})"), json::Write(c));
  }
  // The agent's closed checkout mandate for `checkout_jwt`, for the merchant's aud and nonce.
  std::string CloseCheckout(const std::string& open, const std::string& checkout_jwt,
                            const std::string& hash, const std::string& nonce) {
    json::Value claims = json::Value::Object();
    claims.Set("vct", json::Value::String("mandate.checkout.1"));
    claims.Set("checkout_jwt", json::Value::String(checkout_jwt));
    claims.Set("checkout_hash", json::Value::String(hash));
    claims.Set("iat", json::Value::Int(clock_->NowUnixSeconds()));
    claims.Set("aud", json::Value::String(kMerchantDid));
    claims.Set("nonce", json::Value::String(nonce));
    return *sdjwt::AppendHop(open, claims, J(R"({"_sd":["checkout_jwt"]})"), sdjwt::HopOptions{},
                             random_, sdjwt::SignerFor(agent_key_));
  }
  Reply MerchantVerify(const std::string& chain, const std::string& checkout_jwt,
                       const std::string& nonce) {
    json::Value body = json::Value::Object();
    body.Set("checkout_chain", json::Value::String(chain));
    body.Set("checkout_jwt", json::Value::String(checkout_jwt));
    body.Set("merchant_jwk", signer::PublicKeyToJwk(*signer::DerivePublicKey(merchant_key_)));
    body.Set("aud", json::Value::String(kMerchantDid));
    body.Set("nonce", json::Value::String(nonce));
    return Send("POST", "/v1/ap2/verify", merchant_token_, json::Write(body));
  }
  // Open checkout + open payment mandates referencing it: {checkout token, payment token}.
  std::pair<std::string, std::string> OpenBoth() {
    const json::Value checkout = IssueOpen("checkout", R"([
        {"type":"checkout.line_items","items":[{"id":"tea","acceptable_items":[
           {"id":"sku-tea","title":"Green tea"},{"id":"sku-black","title":"Black tea"}],"quantity":2}]},
        {"type":"checkout.allowed_merchants","allowed":[{"id":"shop","name":"Shop"}]}])");
    const json::Value payment = IssueOpen(
        "payment", R"([{"type":"payment.amount_range","currency":"USD","max":5000},
                      {"type":"payment.budget","currency":"USD","max":10000},
                      {"type":"payment.agent_recurrence","frequency":"WEEKLY","max_occurrences":4},
                      {"type":"payment.allowed_payees","allowed":[{"id":"shop","name":"Shop"},{"id":"cafe","name":"Cafe"}]},
                      {"type":"dev.mandated.payment.allowed_currencies","allowed":["USD"]}])",
        R"(,"checkout_mandate":")" + StringField(checkout, "id") + "\"");
    return {StringField(checkout, "token"), StringField(payment, "token")};
  }
};

TEST_F(Ap2PurchaseTest, CheckoutHashMismatchIsRefused) {
  auto [open_checkout, open_payment] = OpenBoth();
  const std::string cj = CheckoutJwt("order-1", 2);
  const std::string hash = sdjwt::HashB64(sdjwt::HashAlg::kSha256, cj);
  ASSERT_EQ(Pay(open_payment, 1200, hash).status, 201);
  // The agent's closed checkout names a checkout_hash of another checkout_jwt.
  const std::string other = sdjwt::HashB64(sdjwt::HashAlg::kSha256, CheckoutJwt("order-1", 2));
  Reply r = MerchantVerify(CloseCheckout(open_checkout, cj, other, "m-nonce-1"), cj, "m-nonce-1");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ProblemType(r), "ap2-checkout-hash-mismatch");
  // Wrong aud on the merchant side too: the merchant's expectation is not optional.
  Reply aud = MerchantVerify(CloseCheckout(open_checkout, cj, hash, "m-nonce-2"), cj, "m-nonce-3");
  EXPECT_EQ(ProblemType(aud), "sd-jwt-wrong-nonce");
}

// AP2 answers every refusal with a signed error receipt (specs/ap2.md §8): the agent may present
// another mandate only once it holds one. Ours rides in the problem answer, keyed on what was
// presented, with AP2's error code and our reason; a retry under the same key replays it.
TEST_F(Ap2PurchaseTest, RefusalsCarryASignedErrorReceipt) {
  auto [open_checkout, open_payment] = OpenBoth();
  // A constraint refuses: unresolved_constraint, the closing hop as the reference, its
  // transaction_id as the payment id.
  const json::Value ch = Challenge();
  const std::string chain =
      Close(open_payment, 9000, "tx-too-much", StringField(ch, "aud"), StringField(ch, "nonce"));
  Reply over = Present(chain);
  ASSERT_EQ(over.status, 403) << over.body;
  EXPECT_EQ(ProblemType(over), "ap2-amount-out-of-range");
  std::string typ;
  json::Value r = ReceiptClaims(StringField(over.json, "payment_receipt"), &typ);
  EXPECT_EQ(typ, "payment-receipt+jwt");
  EXPECT_EQ(StringField(r, "status"), "Error");
  EXPECT_EQ(StringField(r, "error"), "unresolved_constraint");
  EXPECT_EQ(StringField(r, "error_description").rfind("ap2-amount-out-of-range: ", 0), 0u)
      << StringField(r, "error_description");
  const std::string hop = chain.substr(chain.rfind("~~") + 2);
  EXPECT_EQ(StringField(r, "reference"), sdjwt::HashB64(sdjwt::HashAlg::kSha256, hop));
  EXPECT_EQ(StringField(r, "payment_id"), "tx-too-much");
  EXPECT_EQ(StringField(r, "iss"), "did:web:mandated.test");
  EXPECT_EQ(r.Find("iat")->as_int64(), clock_->NowUnixSeconds());

  // A nonce spent already: invalid_credential; a 401 is kept for its key, so the retry
  // answers the same bytes, receipt included.
  const json::Value ch2 = Challenge();
  const std::string cj = CheckoutJwt("order-er", 2);
  const std::string hash = sdjwt::HashB64(sdjwt::HashAlg::kSha256, cj);
  const std::string paid = Close(open_payment, 1200, hash, StringField(ch2, "aud"),
                                 StringField(ch2, "nonce"));
  Reply accepted = Present(paid);
  ASSERT_EQ(accepted.status, 201) << accepted.body;
  // (A card payment is settled by its rail, later: its Success names this acceptance and says
  // the rail did not confirm it.)
  json::Value ok = ReceiptClaims(StringField(accepted.json, "payment_receipt"));
  EXPECT_EQ(StringField(ok, "status"), "Success");
  EXPECT_EQ(StringField(ok, "psp_confirmation_id"), StringField(accepted.json, "id"));
  EXPECT_EQ(StringField(ok, "network_confirmation_id"), StringField(accepted.json, "id"));
  ASSERT_NE(ok.Find("rail_confirmation_verified"), nullptr);
  EXPECT_FALSE(ok.Find("rail_confirmation_verified")->as_bool());
  Reply replayed = Present(paid, nullptr, "present-replayed");
  ASSERT_EQ(replayed.status, 401) << replayed.body;
  EXPECT_EQ(StringField(ReceiptClaims(StringField(replayed.json, "payment_receipt")), "error"),
            "invalid_credential");
  clock_->AdvanceSeconds(5);
  Reply again = Present(paid, nullptr, "present-replayed");
  EXPECT_EQ(again.body, replayed.body);

  // A merchant's verification refused: a Checkout Receipt, no payment id.
  Reply stale = MerchantVerify(CloseCheckout(open_checkout, cj, hash, "m-nonce-er"),
                               CheckoutJwt("order-er", 1), "m-nonce-er");
  ASSERT_EQ(stale.status, 403) << stale.body;
  json::Value c = ReceiptClaims(StringField(stale.json, "checkout_receipt"), &typ);
  EXPECT_EQ(typ, "checkout-receipt+jwt");
  EXPECT_EQ(StringField(c, "status"), "Error");
  EXPECT_EQ(StringField(c, "error_description").rfind(ProblemType(stale) + ": ", 0), 0u);
  EXPECT_EQ(c.Find("payment_id"), nullptr);

  // A body that does not parse is no refusal of a mandate: no receipt.
  Reply junk = Send("POST", "/v1/ap2/verify", merchant_token_, "{");
  EXPECT_EQ(junk.status, 400);
  EXPECT_EQ(junk.json.Find("checkout_receipt"), nullptr);
}

// A revoked open checkout mandate (specs/ap2.md §9): the merchant's verification of a checkout
// it opened is refused, even when the payment was made before, and no new payment mandate may
// reference it.
TEST_F(Ap2PurchaseTest, ARevokedCheckoutMandateIsRefusedToTheMerchant) {
  auto [open_checkout, open_payment] = OpenBoth();
  const std::string cj = CheckoutJwt("order-r", 2);
  const std::string hash = sdjwt::HashB64(sdjwt::HashAlg::kSha256, cj);
  ASSERT_EQ(Pay(open_payment, 1200, hash).status, 201);
  Result<sdjwt::Presentation> p = sdjwt::Parse(open_checkout);
  ASSERT_TRUE(p.ok());
  const std::string checkout_id = StringField(p->hops[0].payload, "jti");
  Call("POST", base_ + "/ap2/mandates/" + checkout_id + "/revoke", admin_, "", 200);
  Reply v = MerchantVerify(CloseCheckout(open_checkout, cj, hash, "m-nonce-r"), cj, "m-nonce-r");
  EXPECT_EQ(v.status, 403) << v.body;
  EXPECT_EQ(ProblemType(v), "ap2-mandate-revoked");
  // The payment mandate issued for that checkout closes no more either.
  Reply pay = Pay(open_payment, 600, sdjwt::HashB64(sdjwt::HashAlg::kSha256, CheckoutJwt("order-r2", 1)));
  EXPECT_EQ(pay.status, 403) << pay.body;
  EXPECT_EQ(ProblemType(pay), "ap2-mandate-revoked");
  Reply refer = Send("POST", base_ + "/ap2/mandates", admin_,
                     R"({"agent":")" + agent_ + R"(","kind":"payment","constraints":[],)"
                     R"("checkout_mandate":")" + checkout_id + "\"}");
  EXPECT_EQ(refer.status, 403) << refer.body;
  EXPECT_EQ(ProblemType(refer), "ap2-mandate-revoked");
}

// The merchant learns Success only for a payment of the checkout's total, in its currency, to
// it; and a checkout (its hash, the transaction id) is paid once, under any open mandate.
TEST_F(Ap2PurchaseTest, PaymentThatDoesNotPayTheCheckoutIsNoSuccessAndATransactionIsPaidOnce) {
  auto [open_checkout, open_payment] = OpenBoth();
  const std::string cj = CheckoutJwt("order-5", 2);  // total 1200 USD, merchant "shop"
  const std::string hash = sdjwt::HashB64(sdjwt::HashAlg::kSha256, cj);
  ASSERT_EQ(Pay(open_payment, 1, hash).status, 201);  // 1 unit, naming the checkout's hash
  Reply v = MerchantVerify(CloseCheckout(open_checkout, cj, hash, "m-nonce-5"), cj, "m-nonce-5");
  EXPECT_EQ(v.status, 403) << v.body;
  EXPECT_EQ(ProblemType(v), "ap2-payment-mismatch");
  // Paying it again in full under another open payment mandate is refused: it is paid.
  auto [other_checkout, other_payment] = OpenBoth();
  Reply again = Pay(other_payment, 1200, hash);
  EXPECT_EQ(again.status, 403) << again.body;
  EXPECT_EQ(ProblemType(again), "ap2-closed-mandate-replayed");
}

// The receipts key set keeps a rotated key (receipts signed before the rotation still verify
// from it) and drops a disabled one (specs/ap2.md §Receipts).
TEST_F(Ap2PurchaseTest, ReceiptsSignedBeforeARotationStillVerifyFromThePublishedKeys) {
  auto [open_checkout, open_payment] = OpenBoth();
  Deposit(5000);
  const std::string cj = CheckoutJwt("order-78", 1);
  Reply paid = Pay(open_payment, 600, sdjwt::HashB64(sdjwt::HashAlg::kSha256, cj), nullptr,
                   "dev.mandated.ledger");
  ASSERT_EQ(paid.status, 201) << paid.body;
  Result<signer::Jws> receipt = signer::ParseJws(StringField(paid.json, "payment_receipt"));
  static const json::Value kNone = json::Value::Array();
  auto keys = [](const json::Value& jwks) -> const json::Value& {
    const json::Value* k = jwks.Find("keys");
    return k != nullptr ? *k : kNone;
  };
  ASSERT_TRUE(receipt.ok());
  const json::Value before = Call("GET", "/.well-known/ap2-jwks.json", "", "", 200);
  ASSERT_EQ(keys(before).items().size(), 1u);
  const std::string old_kid = StringField(keys(before).items()[0], "kid");

  Call("POST", "/v1/keys/" + old_kid + "/rotate", kOperatorToken, "", 200);
  const json::Value after = Call("GET", "/.well-known/ap2-jwks.json", "", "", 200);
  ASSERT_EQ(keys(after).items().size(), 2u) << json::Write(after);
  EXPECT_NE(StringField(keys(after).items()[0], "kid"), old_kid);  // the new one first
  const json::Value& kept = keys(after).items()[1];
  EXPECT_EQ(StringField(kept, "kid"), old_kid);
  EXPECT_TRUE(signer::VerifyJws(*receipt, *signer::PublicKeyFromJwk(kept)).ok());

  Call("POST", "/v1/keys/" + old_kid + "/disable", kOperatorToken, "", 200);
  const json::Value disabled = Call("GET", "/.well-known/ap2-jwks.json", "", "", 200);
  ASSERT_EQ(keys(disabled).items().size(), 1u) << json::Write(disabled);
  EXPECT_NE(StringField(keys(disabled).items()[0], "kid"), old_kid);
}

TEST_F(Ap2PurchaseTest, HumanNotPresentPurchaseEndToEnd) {
  // 1. The principal's admin issues the open mandates (human present, once).
  auto [open_checkout, open_payment] = OpenBoth();
  Deposit(5000);
  // 2. Later, autonomously: the merchant offers a signed checkout; the agent closes the payment
  // mandate for it (paid from the prepaid balance on the ledger)...
  const std::string cj = CheckoutJwt("order-77", 2);
  const std::string checkout_hash = sdjwt::HashB64(sdjwt::HashAlg::kSha256, cj);
  Reply paid = Pay(open_payment, 1200, checkout_hash, nullptr, "dev.mandated.ledger");
  ASSERT_EQ(paid.status, 201) << paid.body;
  EXPECT_EQ(Balance(), "3800");
  EXPECT_EQ(StringField(Call("GET", "/v1/ledger/transfers/" + StringField(paid.json, "ledger_transfer"),
                             admin_, "", 200),
                        "credit"),
            "merchant:shop");
  const std::string payment_receipt = StringField(paid.json, "payment_receipt");
  // 3. The merchant verifies the closed checkout mandate (fresh nonce of its own).
  const std::string chain = CloseCheckout(open_checkout, cj, checkout_hash, "merchant-nonce-77");
  Reply v = MerchantVerify(chain, cj, "merchant-nonce-77");
  ASSERT_EQ(v.status, 200) << v.body;
  EXPECT_EQ(StringField(v.json, "checkout_hash"), checkout_hash);
  EXPECT_EQ(StringField(v.json, "order_id"), "order-77");
  EXPECT_EQ(StringField(v.json, "payment_receipt"), payment_receipt);
  // The same presentation again: the merchant's nonce is spent.
  EXPECT_EQ(ProblemType(MerchantVerify(chain, cj, "merchant-nonce-77")), "ap2-nonce-replayed");

  // 4. Receipts verify with the published key; their references are the defined hashes.
  const json::Value jwks = Call("GET", "/.well-known/ap2-jwks.json", "", "", 200);
  ASSERT_TRUE(jwks.Find("keys") != nullptr && jwks.Find("keys")->items().size() == 1);
  const signer::PublicKey receipt_key = *signer::PublicKeyFromJwk(jwks.Find("keys")->items()[0]);
  for (const auto& [receipt, reference, typ] :
       {std::tuple{payment_receipt, sdjwt::HashB64(sdjwt::HashAlg::kSha256, Terminal(StringField(paid.json, "chain"))),
                   std::string("payment-receipt+jwt")},
        std::tuple{StringField(v.json, "checkout_receipt"), sdjwt::HashB64(sdjwt::HashAlg::kSha256, Terminal(chain)),
                   std::string("checkout-receipt+jwt")}}) {
    Result<signer::Jws> jws = signer::ParseJws(receipt);
    ASSERT_TRUE(jws.ok());
    EXPECT_EQ(jws->typ, typ);
    EXPECT_EQ(jws->alg, "ES256");
    EXPECT_TRUE(signer::VerifyJws(*jws, receipt_key).ok());
    const json::Value claims = J(jws->payload);
    EXPECT_EQ(StringField(claims, "status"), "Success");
    EXPECT_EQ(StringField(claims, "iss"), "did:web:mandated.test");
    EXPECT_EQ(StringField(claims, "reference"), reference);
    if (typ == "payment-receipt+jwt") {
      EXPECT_EQ(StringField(claims, "psp_confirmation_id"), StringField(paid.json, "ledger_transfer"));
      // Paid on the ledger in the acceptance's own write: confirmed on the rail, and so said.
      EXPECT_EQ(StringField(claims, "network_confirmation_id"), StringField(paid.json, "ledger_transfer"));
      ASSERT_NE(claims.Find("rail_confirmation_verified"), nullptr);
      EXPECT_TRUE(claims.Find("rail_confirmation_verified")->as_bool());
    }
  }

  // 5. The audit trail tells the whole story, in order.
  const json::Value trail = Call("GET", "/v1/audit/trail?agent=" + agent_ + "&limit=1000",
                                 kOperatorToken, "", 200);
  std::vector<std::string> types;
  ASSERT_NE(trail.Find("items"), nullptr);
  for (const json::Value& item : trail.Find("items")->items()) {
    const json::Value e = J(StringField(item, "event"));
    const std::string t = StringField(e, "type");
    if (t.rfind("ap2.", 0) == 0) types.push_back(t);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"ap2.mandate_issued", "ap2.mandate_issued",
                                             "ap2.payment_closed", "ap2.checkout_verified"}));
  // And the principal's trail holds the ledger payment, tied to the closed mandate.
  const json::Value ptrail = Call("GET", "/v1/audit/trail?principal=" +
                                             base_.substr(base_.rfind('/') + 1) + "&limit=1000",
                                  kOperatorToken, "", 200);
  bool ledger_paid = false;
  for (const json::Value& item : ptrail.Find("items")->items()) {
    const json::Value e = J(StringField(item, "event"));
    const json::Value* data = e.Find("data");
    ledger_paid |= StringField(e, "type") == "ledger.transferred" && data != nullptr &&
                   StringField(*data, "reference") == "ap2:" + StringField(paid.json, "id") &&
                   StringField(*data, "amount") == "1200";
  }
  EXPECT_TRUE(ledger_paid);
}

// The x402 binding (specs/ap2.md §6.1): a closed payment with an x402 instrument binds the
// EIP-3009 nonce keccak256(chain); the wallet's transfer under that nonce, settled by our
// facilitator, is linked to the closed mandate, its open mandate and agent in the principal's
// trail. Another payer reusing the nonce value settles unlinked.
TEST_F(Ap2ApiTest, X402PaymentUnderTheMandateNonceIsLinkedToTheClosedMandate) {
  constexpr char kPayTo[] = "0x209693bc6afc0c5328ba36faf03c514ef312287c";
  constexpr char kUsdc[] = "0x036cbd53842c5426634e7929541ec2318f3dcf7e";
  const std::string asset = std::string("eip155:84532/erc20:") + kUsdc;
  const json::Value open = IssueOpen(
      "payment", R"([{"type":"payment.reference","conditional_transaction_id":"x"},
                     {"type":"payment.budget","currency":"USD","max":5000}])",
      R"(,"ttl_seconds":2592000)");
  Reply closed = Pay(StringField(open, "token"), 1200, "x402-tx-1", nullptr, "x402");
  ASSERT_EQ(closed.status, 201) << closed.body;
  const std::string nonce = StringField(closed.json, "x402_nonce");
  ASSERT_EQ(nonce, "0x" + HexEncode(signer::Keccak256(AsBytes(StringField(closed.json, "chain")))));

  // A wallet signs the transfer with the mandate's nonce, as AP2's x402 credentials provider
  // does; the merchant settles it through our facilitator.
  auto settle_body = [&](const signer::PrivateKey& wallet, std::string* from,
                         const std::string& token_address) {
    *from = *signer::EthereumAddress(*signer::DerivePublicKey(wallet));
    settlement::Authorization3009 a;
    EXPECT_TRUE(signer::ParseAddressInto(*from, false, a.from).ok());
    EXPECT_TRUE(signer::ParseAddressInto(kPayTo, false, a.to).ok());
    a.value = Amount::FromUint64(1200);
    a.valid_after = 0;
    a.valid_before = static_cast<Uint128>(clock_->NowUnixSeconds() + 300);
    const Bytes n = *HexDecode(nonce, true);
    std::copy(n.begin(), n.end(), a.nonce.begin());
    settlement::Address token{};
    EXPECT_TRUE(signer::ParseAddressInto(token_address, false, token).ok());
    const auto digest = settlement::Eip3009Digest("USDC", "2", 84532, token, a);
    const Bytes sig = *signer::SignDigestRecoverable(wallet, ByteSpan(digest.data(), digest.size()));
    const std::string auth =
        R"({"from":")" + *from + R"(","to":")" + kPayTo +
        R"(","value":"1200","validAfter":"0","validBefore":")" +
        std::to_string(clock_->NowUnixSeconds() + 300) + R"(","nonce":")" + nonce + R"("})";
    return R"({"x402Version":1,"paymentPayload":{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{"signature":"0x)" +
           HexEncode(sig) + R"(","authorization":)" + auth +
           R"(}},"paymentRequirements":{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"1200","resource":"https://api.shop.example/premium","description":"premium","mimeType":"application/json","payTo":")" +
           kPayTo + R"(","maxTimeoutSeconds":60,"asset":")" + token_address +
           R"(","extra":{"name":"USDC","version":"2"}}})";
  };
  auto fund = [&](const std::string& from, const std::string& in) {
    std::string lower = from;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    testing::Call(service_.client(), "POST", "/v1/ledger/deposits", kOperatorToken,
                  R"({"account":"eip155:84532:)" + lower + R"(","asset":")" + in +
                      R"(","amount":"5000"})",
                  201, "fund-" + lower + in);
  };
  const signer::PrivateKey wallet = *signer::GenerateKey(signer::KeyType::kSecp256k1, random_);
  const signer::PrivateKey other = *signer::GenerateKey(signer::KeyType::kSecp256k1, random_);
  std::string from, other_from;
  const std::string body = settle_body(wallet, &from, kUsdc);
  const std::string other_body = settle_body(other, &other_from, kUsdc);
  fund(from, asset);
  fund(other_from, asset);
  const json::Value settled = Call("POST", "/x402/settle", merchant_token_, body, 200);
  ASSERT_TRUE(settled.Find("success") != nullptr && settled.Find("success")->as_bool()) << json::Write(settled);
  EXPECT_EQ(StringField(settled, "payer"), from);
  const json::Value reused = Call("POST", "/x402/settle", merchant_token_, other_body, 200);
  ASSERT_TRUE(reused.Find("success") != nullptr && reused.Find("success")->as_bool()) << json::Write(reused);
  // The same payer reusing the value for a payment in another token: a payment of its own, not
  // the closed mandate's (which the first one paid), so neither linked nor metered.
  constexpr char kOtherToken[] = "0x1111111111111111111111111111111111111111";
  std::string same_from;
  const std::string again = settle_body(wallet, &same_from, kOtherToken);
  fund(from, std::string("eip155:84532/erc20:") + kOtherToken);
  const json::Value own = Call("POST", "/x402/settle", merchant_token_, again, 200);
  ASSERT_TRUE(own.Find("success") != nullptr && own.Find("success")->as_bool()) << json::Write(own);

  // The open mandate's trail: its closing, then the settled transfer naming the closed mandate,
  // the agent and the payer's transfer; the other payer's transfer is not in it.
  const json::Value trail = Call("GET", "/v1/audit/trail?mandate=" + StringField(open, "id") +
                                            "&limit=1000",
                                 kOperatorToken, "", 200);
  std::vector<std::string> types;
  std::string linked_payment, linked_agent, linked_closed, linked_payer;
  for (const json::Value& item : trail.Find("items")->items()) {
    const json::Value e = J(StringField(item, "event"));
    types.push_back(StringField(e, "type"));
    if (StringField(e, "type") != "payment.settled") continue;
    const json::Value& subjects = *e.Find("subjects");
    linked_payment = StringField(subjects, "payment");
    linked_agent = StringField(subjects, "agent");
    linked_closed = StringField(subjects, "ap2-payment");
    linked_payer = StringField(*e.Find("data")->Find("response"), "payer");
  }
  EXPECT_EQ(types, (std::vector<std::string>{"ap2.mandate_issued", "ap2.payment_closed",
                                             "payment.settled"}));
  EXPECT_EQ(linked_closed, StringField(closed.json, "id"));
  EXPECT_EQ(linked_agent, agent_);
  EXPECT_EQ(linked_payer, from);
  std::string lower = from;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  EXPECT_EQ(linked_payment, "84532/" + std::string(kUsdc) + "/" + lower + "/" + nonce);
  // The payment is metered for the principal under the open mandate: one payment of 1200.
  const json::Value usage = Call("GET", base_ + "/usage?mandate=" + StringField(open, "id"),
                                 admin_, "", 200);
  const std::string rows = json::Write(usage);
  EXPECT_NE(rows.find(R"("amount":"1200")"), std::string::npos) << rows;
  EXPECT_NE(rows.find(R"("events":1)"), std::string::npos) << rows;
}

// ---- Review fixes (specs/ap2.md §5-§9) ----

// A custodial P-256 agent with its Authorizer mandate, as in CustodialAgentClosesBehindAnAuthorization.
class Ap2CustodialTest : public Ap2ApiTest {
 protected:
  void SetUp() override {
    Ap2ApiTest::SetUp();
    cust_ = StringField(Call("POST", base_ + "/agents", admin_,
                             R"({"name":"custodial","custodial":{"key_type":"P-256"}})", 201),
                        "id");
    CustSession();
    mandate_ = ShopMandate(cust_);
  }
  void CustSession() {
    cust_token_ = StringField(Call("POST", base_ + "/agents/" + cust_ + "/sessions", admin_,
                                   R"({"task":"shop"})", 201),
                              "token");
  }
  // An open payment mandate for the custodial agent: its id.
  std::string OpenFor(const std::string& constraints) {
    return StringField(
        Call("POST", base_ + "/ap2/mandates", admin_,
             R"({"agent":")" + cust_ + R"(","kind":"payment","ttl_seconds":2592000,"constraints":[
                 {"type":"payment.reference","conditional_transaction_id":"x"})" +
                 (constraints.empty() ? "" : "," + constraints) + "]}",
             201),
        "id");
  }
  std::string Authorize(int amount) {
    return StringField(
        testing::Call(service_.client(), "POST", "/v1/authorizations", cust_token_,
                      R"({"mandate":")" + mandate_ +
                          R"(","payee":{"type":"domain","value":"api.shop.example"},"amount":")" +
                          std::to_string(amount) + R"(","asset":"USD"})",
                      201, "authorize-" + std::to_string(++idempotency_keys_)),
        "id");
  }
  // The closed claims for `amount` and `tx`, with `instrument`'s type.
  json::Value Claims(int amount, const std::string& tx, const std::string& instrument = "card") {
    json::Value c = J(R"({"vct":"mandate.payment.1","payee":{"id":"api.shop.example","name":"Shop"}})");
    c.Set("transaction_id", json::Value::String(tx));
    c.Set("payment_amount", json::Value::Object()
                                .Set("amount", json::Value::Int(amount))
                                .Set("currency", json::Value::String("USD")));
    c.Set("payment_instrument", json::Value::Object()
                                    .Set("id", json::Value::String("pay-1"))
                                    .Set("type", json::Value::String(instrument)));
    return c;
  }
  Reply CloseWith(const std::string& open, const std::string& authorization, const json::Value& closed,
                  const std::string& nonce, const std::string& key = "") {
    json::Value body = json::Value::Object()
                           .Set("mandate", json::Value::String(open))
                           .Set("authorization", json::Value::String(authorization))
                           .Set("aud", json::Value::String(kMerchantDid))
                           .Set("nonce", json::Value::String(nonce))
                           .Set("closed", closed);
    return testing::Send(service_.client(), "POST", "/v1/ap2/close", cust_token_, json::Write(body),
                         key.empty() ? "close-" + std::to_string(++idempotency_keys_) : key);
  }
  std::string ReservationState(const std::string& authorization) {
    const json::Value a = Call("GET", base_ + "/authorizations/" + authorization, admin_, "", 200);
    const json::Value* r = a.Find("reservation");
    return r != nullptr ? StringField(*r, "state") : "";
  }

  std::string cust_, cust_token_, mandate_;
};

// Finding A: the service signs with the agent's key only AP2's closed payment claims; SD-JWT
// machinery (`_sd`, `...`, `_sd_alg`), `delegate_payload` and unknown members are refused at
// any depth, before anything is signed or spent.
TEST_F(Ap2CustodialTest, ClosingRefusesClaimsTheServiceWouldNotCheck) {
  const std::string open = OpenFor(R"({"type":"payment.agent_recurrence","frequency":"ON_DEMAND"})");
  const std::string atz = Authorize(500);
  struct Case {
    const char* member;
    const char* value;
  };
  for (const Case& c : {Case{"delegate_payload", R"({"vct":"mandate.payment.1"})"},
                        Case{"_sd", R"(["Vt2c1qP0Tk"])"}, Case{"...", R"("Vt2c1qP0Tk")"},
                        Case{"_sd_alg", R"("sha-256")"}, Case{"iss", R"("prn_x")"},
                        Case{"refund_to", R"("elsewhere")"},
                        Case{"risk_data", R"({"signals":[{"_sd":["Vt2c1qP0Tk"]}]})"},
                        Case{"risk_data", R"({"delegate_payload":{}})"},
                        Case{"payment_instrument", R"({"id":"pay-1","type":"card","x":{"_sd_alg":"sha-256"}})"}}) {
    json::Value closed = Claims(500, "a-1");
    closed.Set(c.member, J(c.value));
    Reply r = CloseWith(open, atz, closed, "n-a");
    EXPECT_EQ(r.status, 400) << c.member << " " << r.body;
    EXPECT_EQ(ProblemType(r), "ap2-closed-mandate-invalid") << c.member << " " << r.body;
  }
  // A `closed` that is not an object is the same problem (not a wrong vct).
  Reply not_object = CloseWith(open, atz, J(R"(["mandate.payment.1"])"), "n-a");
  EXPECT_EQ(not_object.status, 400);
  EXPECT_EQ(ProblemType(not_object), "ap2-closed-mandate-invalid");
  // Nothing was signed or spent: the hold is still reserved and the nonce unused.
  EXPECT_EQ(ReservationState(atz), "reserved");
  json::Value with_risk = Claims(500, "a-1");
  with_risk.Set("risk_data", J(R"({"device":"phone"})"));
  Reply ok = CloseWith(open, atz, with_risk, "n-a");
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(ReservationState(atz), "captured");
}

// Finding B: the hold is spent before the closing's money moves; a closing whose hold is gone
// (voided by the agent, or its lease ended) is refused and moves nothing; a refused closing
// leaves the hold reserved; a paid closing is always captured.
TEST_F(Ap2CustodialTest, ClosingNeverPaysWithoutItsHold) {
  Deposit(5000);
  const std::string open = OpenFor(R"({"type":"payment.agent_recurrence","frequency":"ON_DEMAND"},
      {"type":"payment.budget","currency":"USD","max":2000})");
  // Voided first: refused, no money moves.
  const std::string voided = Authorize(700);
  testing::Call(service_.client(), "POST", "/v1/authorizations/" + voided + "/void", cust_token_, "",
                200, "void-1");
  Reply r = CloseWith(open, voided, Claims(700, "b-1", "dev.mandated.ledger"), "n-b1");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(ProblemType(r), "ap2-authorization-not-reserved");
  EXPECT_EQ(Balance(), "5000");
  // The lease ended: refused, no money moves.
  const std::string lapsed = Authorize(700);
  const json::Value a = Call("GET", base_ + "/authorizations/" + lapsed, admin_, "", 200);
  const json::Value* lease = a.Find("reservation") ? a.Find("reservation")->Find("expires_at") : nullptr;
  ASSERT_NE(lease, nullptr) << json::Write(a);
  clock_->AdvanceSeconds(*lease->as_int64() - clock_->NowUnixSeconds());
  CustSession();
  r = CloseWith(open, lapsed, Claims(700, "b-2", "dev.mandated.ledger"), "n-b2");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(ProblemType(r), "ap2-authorization-not-reserved");
  EXPECT_EQ(Balance(), "5000");
  // A closing the AP2 checks refuse leaves the hold reserved (the agent may still void it).
  const std::string over = Authorize(2500);
  r = CloseWith(open, over, Claims(2500, "b-3", "dev.mandated.ledger"), "n-b3");
  EXPECT_EQ(ProblemType(r), "ap2-budget-exceeded");
  EXPECT_EQ(ReservationState(over), "reserved");
  EXPECT_EQ(Balance(), "5000");
  testing::Call(service_.client(), "POST", "/v1/authorizations/" + over + "/void", cust_token_, "",
                200, "void-2");
  // A paid closing: the money moves and the hold is captured, in that one answer.
  const std::string paid = Authorize(1200);
  r = CloseWith(open, paid, Claims(1200, "b-4", "dev.mandated.ledger"), "n-b4");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_TRUE(r.json.Find("captured") != nullptr && r.json.Find("captured")->as_bool());
  EXPECT_EQ(ReservationState(paid), "captured");
  EXPECT_EQ(Balance(), "3800");
  // The record names the authorization it spent and that authorization's mandate.
  EXPECT_EQ(StringField(r.json, "authorization"), paid);
  EXPECT_EQ(StringField(r.json, "authorization_mandate"), mandate_);
  // Metered once, as a payment under the mandate whose budget it spent (specs/usage.md §1), so
  // that budget's burn counts it (/v1/usage/budgets sums by mandate); the refusals above
  // metered nothing.
  const json::Value usage =
      Call("GET", base_ + "/usage?group_by=agent,mandate,source", admin_, "", 200);
  EXPECT_EQ(json::Write(*usage.Find("items")),
            R"([{"agent":")" + cust_ + R"(","mandate":")" + mandate_ +
                R"(","source":"payment","asset":"USD","amount":"1200","quantity":"1","events":1}])");
  // The stored record (the closings list) says the same.
  const json::Value closings =
      Call("GET", base_ + "/ap2/mandates/" + open + "/closings", admin_, "", 200);
  ASSERT_EQ(closings.Find("items")->items().size(), 1u);
  EXPECT_EQ(StringField(closings.Find("items")->items()[0], "authorization_mandate"), mandate_);
  // The spent hold can be neither voided nor closed again.
  Reply v = testing::Send(service_.client(), "POST", "/v1/authorizations/" + paid + "/void",
                          cust_token_, "", "void-3");
  EXPECT_EQ(v.status, 409) << v.body;
  Reply spent = CloseWith(open, paid, Claims(1200, "b-5", "dev.mandated.ledger"), "n-b5");
  EXPECT_EQ(ProblemType(spent), "ap2-authorization-not-reserved");
  // A refusal of the authorization, not of the mandate: no AP2 receipt (the agent needs a new
  // authorization, and may close this mandate with it).
  EXPECT_EQ(spent.json.Find("payment_receipt"), nullptr) << spent.body;
  // The mandate revoked: the authority refuses before the service signs a closing hop, and its
  // error receipt references the open mandate as issued (its digest) and names the
  // transaction it was asked to pay.
  const std::string atz = Authorize(1200);
  Call("POST", base_ + "/ap2/mandates/" + open + "/revoke", admin_, "", 200);
  Reply revoked = CloseWith(open, atz, Claims(1200, "b-6", "dev.mandated.ledger"), "n-b6");
  EXPECT_EQ(revoked.status, 403) << revoked.body;
  EXPECT_EQ(ProblemType(revoked), "ap2-mandate-revoked");
  const json::Value refused = ReceiptClaims(StringField(revoked.json, "payment_receipt"));
  EXPECT_EQ(StringField(refused, "status"), "Error");
  EXPECT_EQ(StringField(refused, "error"), "invalid_mandate");
  EXPECT_EQ(StringField(refused, "payment_id"), "b-6");
  EXPECT_EQ(StringField(refused, "reference"),
            StringField(Call("GET", base_ + "/ap2/mandates/" + open, admin_, "", 200), "digest"));
  EXPECT_EQ(ReservationState(atz), "reserved");  // the hold stays, for another closing
  EXPECT_EQ(Balance(), "3800");
}

// Fails, while armed, every write holding the text `authorization.captured`: the capture's
// write (which stages that event), and the audit sequencer's batches that sequence one (left
// staged until it is disarmed). What a storage error, or a crash, between a custodial
// closing's write and its capture leaves. Owns the store it wraps.
class CaptureFailingStore : public testing::OwningForwardingStore {
 public:
  using OwningForwardingStore::OwningForwardingStore;
  Status Write(const store::WriteBatch& batch, store::Durability d) override {
    if (armed.load()) {
      for (const store::WriteBatch::Op& op : batch.ops()) {
        if (op.value.find("authorization.captured") != std::string::npos) {
          ++refused;
          return UnavailableError("injected: the capture's write failed", "storage-io");
        }
      }
    }
    return ForwardingStore::Write(batch, d);
  }
  std::atomic<bool> armed{true};
  std::atomic<int> refused{0};
};

// specs/ap2.md §6 step 3: a closing recorded and paid whose capture was not written is
// captured by the service: after the next sweep while it runs, and at the next start before
// the sweeper could write its hold down as lapsed (its lease ended while the service was
// down). Until then its hold is out of reach (no void) and counted as held.
TEST_F(Ap2CustodialTest, AClosingWhoseCaptureWasNotWrittenIsCapturedLater) {
  CaptureFailingStore* failing = nullptr;
  auto restart = [&](bool fail_captures) {
    service_.Stop();
    failing = nullptr;
    api::App::StoreWrapper wrap;
    if (fail_captures) {
      wrap = [&failing](std::unique_ptr<store::KvStore> s) -> std::unique_ptr<store::KvStore> {
        auto f = std::make_unique<CaptureFailingStore>(std::move(s));
        failing = f.get();
        return f;
      };
    }
    service_.Start(dir_.Sub("data"), kOperatorToken, clock_.get(),
                   [](api::ServerConfig& c) { c.public_host = "mandated.test"; }, wrap);
    ASSERT_NE(service_.app(), nullptr);
  };
  auto reservation = [&](const std::string& atz) {
    const json::Value a = Call("GET", base_ + "/authorizations/" + atz, admin_, "", 200);
    const json::Value* r = a.Find("reservation");
    return r != nullptr ? StringField(*r, "state") + " " + StringField(*r, "captured") : "";
  };
  Deposit(5000);
  const std::string open = OpenFor(R"({"type":"payment.agent_recurrence","frequency":"ON_DEMAND"})");
  ASSERT_NO_FATAL_FAILURE(restart(true));
  ASSERT_NE(failing, nullptr);

  // While the service runs: answered 500 (never 201), paid, the hold held and not voidable.
  const std::string first = Authorize(1200);
  Reply r = CloseWith(open, first, Claims(1200, "c-1", "dev.mandated.ledger"), "n-c1");
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(ProblemType(r), "ap2-capture-failed");
  EXPECT_GE(failing->refused.load(), 1);
  EXPECT_EQ(Balance(), "3800");
  EXPECT_EQ(reservation(first), "reserved 0");
  Reply v = testing::Send(service_.client(), "POST", "/v1/authorizations/" + first + "/void",
                          cust_token_, "", "void-c1");
  EXPECT_EQ(v.status, 409) << v.body;
  EXPECT_EQ(ProblemType(v), "ap2-authorization-used");
  // Once writes succeed again, the sweeper's next round (every 2 s) captures it.
  failing->armed = false;
  for (int i = 0; i < 300 && reservation(first) != "captured 1200"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(reservation(first), "captured 1200");

  // A crash between the two writes: the capture never written, the service gone with the
  // closing pending, and the hold's lease ends before it is back.
  const std::string second = Authorize(900);
  failing->armed = true;
  r = CloseWith(open, second, Claims(900, "c-2", "dev.mandated.ledger"), "n-c2");
  EXPECT_EQ(ProblemType(r), "ap2-capture-failed") << r.body;
  EXPECT_EQ(Balance(), "2900");
  const json::Value held = Call("GET", base_ + "/authorizations/" + second, admin_, "", 200);
  const json::Value* lease = held.Find("reservation") != nullptr
                                 ? held.Find("reservation")->Find("expires_at")
                                 : nullptr;
  ASSERT_NE(lease, nullptr) << json::Write(held);
  service_.Stop();
  clock_->AdvanceSeconds(*lease->as_int64() + 60 - clock_->NowUnixSeconds());
  ASSERT_NO_FATAL_FAILURE(restart(false));
  // Captured at start (late: the money moved), not written down as lapsed; nothing pending.
  EXPECT_EQ(reservation(second), "captured 900");
  EXPECT_EQ(reservation(first), "captured 1200");
  EXPECT_EQ(Balance(), "2900");
  const identity::Tenant t(service_.app()->store_for_testing(), base_.substr(base_.rfind('/') + 1));
  int pending = 0;
  ASSERT_TRUE(t.ScanIds("ap2-capture", "", [&pending](std::string_view, std::string_view) {
                 ++pending;
                 return true;
               }).ok());
  EXPECT_EQ(pending, 0);
}

// specs/ap2.md §6: a pending capture mark whose hold can never be captured (no such
// authorization, or its hold was released) is set aside at start, not retried for ever.
TEST_F(Ap2CustodialTest, APendingCaptureThatCanNeverBeTakenIsSetAsideAtStart) {
  const std::string voided = Authorize(300);
  testing::Call(service_.client(), "POST", "/v1/authorizations/" + voided + "/void", cust_token_,
                "", 200, "void-lost");
  const std::string principal = base_.substr(base_.rfind('/') + 1);
  {
    const identity::Tenant t(service_.app()->store_for_testing(), principal);
    store::WriteBatch marks;
    t.Put(marks, "ap2-capture", "atz_nosuchauthorization00000", "ap2c_gone");
    t.Put(marks, "ap2-capture", voided, "ap2c_released");
    ASSERT_TRUE(service_.app()->store_for_testing().Write(marks).ok());
  }
  service_.Stop();
  service_.Start(dir_.Sub("data"), kOperatorToken, clock_.get(),
                 [](api::ServerConfig& c) { c.public_host = "mandated.test"; });
  ASSERT_NE(service_.app(), nullptr);
  // Answered only once the service serves, after its pass over the pending marks.
  EXPECT_EQ(ReservationState(voided), "voided");
  const identity::Tenant t(service_.app()->store_for_testing(), principal);
  auto read = [&t](const std::string& kind, const std::string& id) {
    Result<std::optional<std::string>> v = t.Get(kind, id);
    EXPECT_TRUE(v.ok());
    return v.ok() && v->has_value() ? **v : std::string("(none)");
  };
  EXPECT_EQ(read("ap2-capture", "atz_nosuchauthorization00000"), "(none)");
  EXPECT_EQ(read("ap2-capture", voided), "(none)");
  EXPECT_EQ(read("ap2-capture-lost", "atz_nosuchauthorization00000"), "ap2c_gone");
  EXPECT_EQ(read("ap2-capture-lost", voided), "ap2c_released");
}

// Finding B under concurrency: the agent voiding its hold while its closing runs. Whatever the
// interleaving, a closing is answered 201 only with its hold captured, and money moves exactly
// for the closings answered 201; a void that wins leaves nothing paid.
TEST_F(Ap2CustodialTest, VoidRacingAClosingNeverLeavesAnUncountedPayment) {
  Deposit(100000);
  const std::string open = OpenFor(R"({"type":"payment.agent_recurrence","frequency":"ON_DEMAND"})");
  int64_t paid_total = 0;
  for (int i = 0; i < 8; ++i) {
    const std::string atz = Authorize(100 + i);
    Reply closed, voided;
    std::thread closer([&] {
      httplib::Client c("127.0.0.1", service_.port());
      json::Value body = json::Value::Object()
                             .Set("mandate", json::Value::String(open))
                             .Set("authorization", json::Value::String(atz))
                             .Set("aud", json::Value::String(kMerchantDid))
                             .Set("nonce", json::Value::String("race-n-" + std::to_string(i)))
                             .Set("closed", Claims(100 + i, "race-" + std::to_string(i),
                                                   "dev.mandated.ledger"));
      closed = testing::Send(c, "POST", "/v1/ap2/close", cust_token_, json::Write(body),
                             "race-close-" + std::to_string(i));
    });
    std::thread voider([&] {
      httplib::Client c("127.0.0.1", service_.port());
      voided = testing::Send(c, "POST", "/v1/authorizations/" + atz + "/void", cust_token_, "",
                             "race-void-" + std::to_string(i));
    });
    closer.join();
    voider.join();
    const std::string state = ReservationState(atz);
    if (closed.status == 201) {
      paid_total += 100 + i;
      EXPECT_TRUE(closed.json.Find("captured")->as_bool()) << closed.body;
      EXPECT_EQ(state, "captured") << closed.body;
      EXPECT_NE(voided.status, 200) << voided.body;
    } else {
      EXPECT_EQ(closed.status / 100, 4) << closed.body;  // refused, never a 5xx
      EXPECT_NE(state, "captured");
    }
  }
  EXPECT_EQ(Balance(), std::to_string(100000 - paid_total));
}

// Finding G: both closing routes take an Idempotency-Key; a retry replays the first answer and
// pays nothing again.
// specs/usage.md §1, §4: a custodial closing paid on the ledger spends the budget of its
// authorization's mandate, and that budget's burn counts it; the closing is in the
// authorization's trail (specs/audit.md).
TEST_F(Ap2CustodialTest, ALedgerClosingBurnsItsAuthorizationsBudget) {
  Deposit(5000);
  const std::string windowed = StringField(
      Call("POST", base_ + "/mandates", admin_,
           R"({"agent":")" + cust_ + R"(","valid_from":")" +
               mandates::FormatRfc3339Utc(kStart - 60) + R"(","valid_until":")" +
               mandates::FormatRfc3339Utc(kStart + 30 * 86400) +
               R"(","terms":{"limits":{"windows":[{"asset":"USD","window":"day",)"
               R"("kind":"calendar","time_zone":"UTC","max":"10000"}]}}})",
           201),
      "id");
  const std::string atz = StringField(
      testing::Call(service_.client(), "POST", "/v1/authorizations", cust_token_,
                    R"({"mandate":")" + windowed +
                        R"(","payee":{"type":"domain","value":"api.shop.example"},)"
                        R"("amount":"700","asset":"USD"})",
                    201, "authorize-windowed"),
      "id");
  const std::string open = OpenFor(R"({"type":"payment.agent_recurrence","frequency":"ON_DEMAND"})");
  Reply r = CloseWith(open, atz, Claims(700, "w-1", "dev.mandated.ledger"), "n-w1");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(StringField(r.json, "authorization_mandate"), windowed);

  const json::Value budgets =
      Call("GET", base_ + "/usage/budgets?mandate=" + windowed, admin_, "", 200);
  const std::string day = "mandate:" + windowed + ":window:day:calendar:UTC";
  std::string spent, burn;
  for (const json::Value& c : budgets.Find("budgets")->items()) {
    if (StringField(c, "counter") != day) continue;
    spent = StringField(c, "spent");
    burn = c.Find("burn") != nullptr ? StringField(*c.Find("burn"), "spent") : "";
  }
  EXPECT_EQ(spent, "700") << json::Write(budgets);
  EXPECT_EQ(burn, "700") << json::Write(budgets);

  const json::Value trail =
      Call("GET", "/v1/audit/trail?authorization=" + atz, kOperatorToken, "", 200);
  std::vector<std::string> types;
  for (const json::Value& item : trail.Find("items")->items()) {
    Result<json::Value> e = json::Parse(StringField(item, "event"));
    ASSERT_TRUE(e.ok());
    types.push_back(StringField(*e, "type"));
  }
  EXPECT_NE(std::find(types.begin(), types.end(), "ap2.payment_closed"), types.end())
      << json::Write(trail);
}

TEST_F(Ap2CustodialTest, ClosingRoutesAreIdempotent) {
  const std::string open = OpenFor(R"({"type":"payment.agent_recurrence","frequency":"ON_DEMAND"},
      {"type":"payment.budget","currency":"USD","max":1000})");
  const std::string atz = Authorize(600);
  json::Value body = json::Value::Object()
                         .Set("mandate", json::Value::String(open))
                         .Set("authorization", json::Value::String(atz))
                         .Set("aud", json::Value::String(kMerchantDid))
                         .Set("nonce", json::Value::String("n-g"))
                         .Set("closed", Claims(600, "g-1"));
  Reply missing = testing::Send(service_.client(), "POST", "/v1/ap2/close", cust_token_, json::Write(body));
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(ProblemType(missing), "missing-idempotency-key");
  EXPECT_EQ(ReservationState(atz), "reserved");
  Reply first = CloseWith(open, atz, Claims(600, "g-1"), "n-g", "close-g");
  ASSERT_EQ(first.status, 201) << first.body;
  Reply again = CloseWith(open, atz, Claims(600, "g-1"), "n-g", "close-g");
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.replayed, "true");
  EXPECT_EQ(again.body, first.body);
  // Spent once: 600 of 1000, so 400 more fits and 401 does not.
  EXPECT_EQ(ProblemType(CloseWith(open, Authorize(401), Claims(401, "g-2"), "n-g2")),
            "ap2-budget-exceeded");

  // The agent-signed route too.
  const std::string own = OpenPayment(R"([{"type":"payment.amount_range","currency":"USD","max":5000}])");
  const json::Value ch = Challenge();
  const std::string chain = Close(own, 100, "g-3", StringField(ch, "aud"), StringField(ch, "nonce"));
  json::Value pbody = json::Value::Object().Set("chain", json::Value::String(chain));
  Reply nokey = testing::Send(service_.client(), "POST", "/v1/ap2/present", session_, json::Write(pbody));
  EXPECT_EQ(ProblemType(nokey), "missing-idempotency-key");
  Reply p1 = Present(chain, nullptr, "present-g");
  ASSERT_EQ(p1.status, 201) << p1.body;
  Reply p2 = Present(chain, nullptr, "present-g");
  EXPECT_EQ(p2.status, 201);
  EXPECT_EQ(p2.replayed, "true");
  EXPECT_EQ(p2.body, p1.body);
  // Under another key the same chain is a replay of its nonce, not a second payment.
  EXPECT_EQ(ProblemType(Present(chain)), "ap2-nonce-replayed");
}

// Finding C: without payment.agent_recurrence an open payment mandate closes once.
TEST_F(Ap2ApiTest, OpenMandateWithoutRecurrenceClosesOnce) {
  const std::string open = OpenPayment(R"([{"type":"payment.budget","currency":"USD","max":5000}])");
  ASSERT_EQ(Pay(open, 100, "once-1").status, 201);
  Reply second = Pay(open, 100, "once-2");
  EXPECT_EQ(second.status, 403) << second.body;
  EXPECT_EQ(ProblemType(second), "ap2-mandate-used");
  // The same transaction again is still the replay it is.
  EXPECT_EQ(ProblemType(Pay(open, 100, "once-1")), "ap2-closed-mandate-replayed");
}

// Finding D and J: a chain is exactly <open>~~<closed hop>; a delegation through an intermediate
// hop and a single SD-JWT with a KB-JWT are refused with their own reason; a hop nonce that is not
// a string is a missing key-binding claim. None of them spends the challenge.
TEST_F(Ap2ApiTest, ChainShapeAndKeyBindingClaimsAreChecked) {
  const std::string open = OpenPayment(R"([{"type":"payment.amount_range","currency":"USD","max":5000}])");
  const json::Value ch = Challenge();
  const std::string aud = StringField(ch, "aud"), nonce = StringField(ch, "nonce");
  // open -> intermediate hop (agent delegates to a sub-agent key) -> terminal hop.
  const signer::PrivateKey sub = *signer::GenerateKey(signer::KeyType::kP256, random_);
  json::Value mid = J(R"({"vct":"mandate.payment.open.1","constraints":[]})");
  mid.Set("cnf", json::Value::Object().Set("jwk", signer::PublicKeyToJwk(*signer::DerivePublicKey(sub))));
  sdjwt::HopOptions intermediate;
  intermediate.terminal = false;
  Result<std::string> two = sdjwt::AppendHop(open, mid, json::Value(), intermediate, random_,
                                             sdjwt::SignerFor(agent_key_));
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  json::Value claims = J(R"({"vct":"mandate.payment.1","transaction_id":"d-1","payee":{"id":"shop","name":"Shop"},
      "payment_amount":{"amount":100,"currency":"USD"},"payment_instrument":{"id":"pay-1","type":"card"}})");
  claims.Set("iat", json::Value::Int(clock_->NowUnixSeconds()));
  claims.Set("aud", json::Value::String(aud));
  claims.Set("nonce", json::Value::String(nonce));
  Result<std::string> three = sdjwt::AppendHop(*two, claims, json::Value(), sdjwt::HopOptions{},
                                               random_, sdjwt::SignerFor(sub));
  ASSERT_TRUE(three.ok()) << three.status().ToString();
  Reply r = Present(*three);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(ProblemType(r), "ap2-chain-shape");
  // The open mandate alone with an RFC 9901 KB-JWT.
  Result<std::string> kb = sdjwt::AppendKeyBinding(open, aud, nonce, clock_->NowUnixSeconds(),
                                                   sdjwt::SignerFor(agent_key_));
  ASSERT_TRUE(kb.ok()) << kb.status().ToString();
  r = Present(*kb);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(ProblemType(r), "ap2-chain-shape");
  // A nonce that is not a string.
  json::Value numeric = claims;
  numeric.Set("nonce", json::Value::Int(12345));
  Result<std::string> bad = sdjwt::AppendHop(open, numeric, json::Value(), sdjwt::HopOptions{},
                                             random_, sdjwt::SignerFor(agent_key_));
  ASSERT_TRUE(bad.ok());
  r = Present(*bad);
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(ProblemType(r), "sd-jwt-kb-claim-missing");
  // The challenge is still unused.
  EXPECT_EQ(Present(Close(open, 100, "d-1", aud, nonce)).status, 201);
}

// Finding E: the credential carries payment.budget.max in major units of its currency (as AP2's
// SDK reads it), the API takes minor units, and enforcement reads the credential back exactly.
TEST_F(Ap2ApiTest, BudgetIsIssuedInMajorUnitsAndEnforcedExactly) {
  const json::Value issued = IssueOpen(
      "payment", R"([{"type":"payment.reference","conditional_transaction_id":"x"},
                     {"type":"payment.budget","currency":"USD","max":1050},
                     {"type":"payment.agent_recurrence","frequency":"ON_DEMAND"}])",
      R"(,"ttl_seconds":2592000)");
  Result<sdjwt::Presentation> p = sdjwt::Parse(StringField(issued, "token"));
  ASSERT_TRUE(p.ok());
  Result<json::Value> claims = sdjwt::Disclose(p->hops[0]);
  ASSERT_TRUE(claims.ok());
  std::string max_text;
  for (const json::Value& c : claims->Find("constraints")->items()) {
    if (StringField(c, "type") == "payment.budget") max_text = c.Find("max")->number_text();
  }
  EXPECT_EQ(max_text, "10.5");
  const std::string open = StringField(issued, "token");
  EXPECT_EQ(Pay(open, 1000, "e-1").status, 201);
  EXPECT_EQ(ProblemType(Pay(open, 51, "e-2")), "ap2-budget-exceeded");
  EXPECT_EQ(Pay(open, 50, "e-3").status, 201);
  // A currency whose minor unit we do not know cannot be written in major units.
  Reply r = Send("POST", base_ + "/ap2/mandates", admin_,
                 R"({"agent":")" + agent_ + R"(","kind":"payment","constraints":[
                    {"type":"payment.reference","conditional_transaction_id":"x"},
                    {"type":"payment.budget","currency":"XTS","max":100}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ProblemType(r), "ap2-bad-constraint");
  EXPECT_NE(StringField(r.json, "detail").find("/constraints/1/currency"), std::string::npos);
}

// Finding J (merchant side): a canceled or expired checkout is paid by no mandate, and a
// checkout's total is exactly one `total` entry.
TEST_F(Ap2PurchaseTest, CanceledExpiredOrAmbiguousCheckoutsAreRefused) {
  auto [open_checkout, open_payment] = OpenBoth();
  auto variant = [&](const std::string& id, const std::function<void(json::Value&)>& edit) {
    Result<signer::Jws> base = signer::ParseJws(CheckoutJwt(id, 2));
    json::Value c = J(base->payload);
    edit(c);
    return *signer::SignJws(merchant_key_, J(R"({"typ":"JWT"})"), json::Write(c));
  };
  const std::string canceled = variant("order-c", [](json::Value& c) {
    c.Set("status", json::Value::String("canceled"));
  });
  // RFC 3339 in the forms merchants send: an offset here, a fraction (JavaScript's
  // toISOString) for the later one below.
  auto with = [](std::string text, const std::string& zone) {
    return text.substr(0, text.size() - 1) + zone;  // "...:SSZ" -> "...:SS<zone>"
  };
  const std::string expired = variant("order-e", [&](json::Value& c) {
    c.Set("expires_at", json::Value::String(
                            with(mandates::FormatRfc3339Utc(clock_->NowUnixSeconds()), "+00:00")));
  });
  const std::string two_totals = variant("order-t", [](json::Value& c) {
    c.Find("totals")->Append(J(R"({"type":"total","amount":1})"));
  });
  struct Case {
    std::string jwt;
    int status;
    std::string reason;
  };
  int n = 0;
  for (const Case& c : {Case{canceled, 403, "ap2-checkout-canceled"},
                        Case{expired, 403, "ap2-checkout-expired"},
                        Case{two_totals, 400, "ap2-bad-checkout"}}) {
    const std::string hash = sdjwt::HashB64(sdjwt::HashAlg::kSha256, c.jwt);
    const std::string nonce = "m-nonce-j" + std::to_string(++n);
    Reply v = MerchantVerify(CloseCheckout(open_checkout, c.jwt, hash, nonce), c.jwt, nonce);
    EXPECT_EQ(v.status, c.status) << v.body;
    EXPECT_EQ(ProblemType(v), c.reason) << v.body;
  }
  // A checkout that expires later verifies (once it is paid).
  const std::string later = variant("order-l", [&](json::Value& c) {
    c.Set("expires_at", json::Value::String(with(
                            mandates::FormatRfc3339Utc(clock_->NowUnixSeconds() + 600), ".000Z")));
  });
  const std::string hash = sdjwt::HashB64(sdjwt::HashAlg::kSha256, later);
  ASSERT_EQ(Pay(open_payment, 1200, hash).status, 201);
  Reply ok = MerchantVerify(CloseCheckout(open_checkout, later, hash, "m-nonce-ok"), later, "m-nonce-ok");
  EXPECT_EQ(ok.status, 200) << ok.body;
}

// specs/ap2.md §6, specs/authorization.md §3 (outside charges): a closing the agent signed itself
// is a payment of that agent like any other, so the ceilings outside its open mandate (the
// agent's, its session's, the principal's) count it and refuse it when full, and purchases under
// vc+jwt mandates see what it spent, also after a restart.
class Ap2CeilingTest : public Ap2ApiTest {
 protected:
  void SetUp() override {
    Ap2ApiTest::SetUp();
    const testing::PrincipalWithAdmin p = testing::CreatePrincipalWithAdmin(
        service_.client(), kOperatorToken,
        R"({"name":"Capped Corp","ceilings":[{"asset":"USD","window":"month","max":"2500"}]})");
    base_ = p.base;
    admin_ = p.admin;
    agent_key_ = std::move(*signer::GenerateKey(signer::KeyType::kP256, random_));
    const std::string did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(agent_key_));
    agent_ = StringField(
        Call("POST", base_ + "/agents", admin_,
             R"({"name":"capped","did":")" + did +
                 R"(","ceilings":[{"asset":"USD","window":"day","max":"1500"}]})",
             201),
        "id");
    NewSession();
    mandate_ = ShopMandate(agent_);
    open_ = OpenPayment(R"([{"type":"payment.budget","currency":"USD","max":100000},
                            {"type":"payment.agent_recurrence","frequency":"ON_DEMAND"}])");
  }
  // A purchase under the vc+jwt mandate: the authorization's answer.
  json::Value Authorize(int64_t amount, httplib::Client* client = nullptr) {
    return testing::Call(client != nullptr ? *client : service_.client(), "POST",
                         "/v1/authorizations", session_,
                         R"({"mandate":")" + mandate_ +
                             R"(","payee":{"type":"domain","value":"api.shop.example"},"amount":")" +
                             std::to_string(amount) + R"(","asset":"USD"})",
                         201, "authorize-" + std::to_string(++idempotency_keys_));
  }
  // What counter `name` (e.g. "agent:<id>:day") has spent, from the mandate's headroom.
  std::string Spent(const std::string& name) {
    const json::Value h = Call("GET", base_ + "/mandates/" + mandate_ + "/headroom", admin_, "", 200);
    for (const json::Value& c : h.Find("counters")->items()) {
      if (StringField(c, "counter") == name) return StringField(c, "spent");
    }
    ADD_FAILURE() << "no counter " << name << " in " << json::Write(h);
    return "";
  }
  std::string AgentDay() { return "agent:" + agent_ + ":day"; }
  std::string PrincipalMonth() {
    return "principal:" + base_.substr(base_.rfind('/') + 1) + ":month";
  }

  std::string mandate_, open_;
};

TEST_F(Ap2CeilingTest, AgentSignedClosingsCountAgainstTheAgentCeiling) {
  ASSERT_EQ(Pay(open_, 1000, "t-1").status, 201);
  EXPECT_EQ(Spent(AgentDay()), "1000");
  EXPECT_EQ(Spent(PrincipalMonth()), "1000");

  // Over the agent's day: refused with the counter named, an AP2 error receipt, and nothing
  // spent (the same transaction closes afterwards within the ceiling).
  Reply over = Pay(open_, 600, "t-2");
  EXPECT_EQ(over.status, 403) << over.body;
  EXPECT_EQ(ProblemType(over), "agent-ceiling-exceeded");
  EXPECT_NE(StringField(over.json, "detail").find(AgentDay() + " has 500 left"), std::string::npos)
      << over.body;
  const json::Value refused = ReceiptClaims(StringField(over.json, "payment_receipt"));
  EXPECT_EQ(StringField(refused, "status"), "Error");
  EXPECT_EQ(StringField(refused, "error"), "unresolved_constraint");
  EXPECT_EQ(Spent(AgentDay()), "1000");
  ASSERT_EQ(Pay(open_, 500, "t-2").status, 201);
  EXPECT_EQ(Spent(AgentDay()), "1500");

  // A purchase under a vc+jwt mandate sees the day full.
  const json::Value denied = Authorize(1);
  EXPECT_EQ(StringField(denied, "decision"), "denied");
  ASSERT_NE(denied.Find("reasons"), nullptr);
  EXPECT_EQ(StringField(denied.Find("reasons")->items()[0], "code"), "agent-ceiling-exceeded");

  // The agent's headroom lists its and the principal's ceilings on their own.
  const json::Value agent_room =
      Call("GET", base_ + "/agents/" + agent_ + "/headroom", admin_, "", 200);
  ASSERT_NE(agent_room.Find("ceilings"), nullptr) << json::Write(agent_room);
  std::vector<std::string> rows;
  for (const json::Value& c : agent_room.Find("ceilings")->items()) {
    rows.push_back(StringField(c, "counter") + " " + StringField(c, "spent") + "/" +
                   StringField(c, "max"));
  }
  EXPECT_EQ(rows, (std::vector<std::string>{AgentDay() + " 1500/1500",
                                            PrincipalMonth() + " 1500/2500"}));

  // Rebuilt from the stored records at start.
  service_.Stop();
  service_.Start(dir_.Sub("data"), kOperatorToken, clock_.get(),
                 [](api::ServerConfig& c) { c.public_host = "mandated.test"; });
  EXPECT_EQ(Spent(AgentDay()), "1500");
  EXPECT_EQ(Spent(PrincipalMonth()), "1500");
  EXPECT_EQ(ProblemType(Pay(open_, 1, "t-3")), "agent-ceiling-exceeded");
  EXPECT_EQ(StringField(Authorize(1), "decision"), "denied");

  // The next day has room again; the principal's month does not reset with it.
  clock_->AdvanceSeconds(86400);
  NewSession();
  ASSERT_EQ(Pay(open_, 1000, "t-3").status, 201);
  EXPECT_EQ(Spent(AgentDay()), "1000");
  EXPECT_EQ(Spent(PrincipalMonth()), "2500");
  Reply principal_full = Pay(open_, 1, "t-4");
  EXPECT_EQ(principal_full.status, 403);
  EXPECT_EQ(ProblemType(principal_full), "principal-ceiling-exceeded") << principal_full.body;
}

TEST_F(Ap2CeilingTest, TheSessionSpendCapCountsAgentSignedClosings) {
  session_ = StringField(Call("POST", base_ + "/agents/" + agent_ + "/sessions", admin_,
                              R"({"task":"shop","spend_cap":{"asset":"USD","max":"700"}})", 201),
                         "token");
  ASSERT_EQ(Pay(open_, 500, "s-1").status, 201);
  Reply over = Pay(open_, 300, "s-2");
  EXPECT_EQ(over.status, 403);
  EXPECT_EQ(ProblemType(over), "session-cap-exceeded") << over.body;
  const json::Value denied = Authorize(201);
  EXPECT_EQ(StringField(denied, "decision"), "denied");
  ASSERT_NE(denied.Find("reasons"), nullptr);
  EXPECT_EQ(StringField(denied.Find("reasons")->items()[0], "code"), "session-cap-exceeded");
  // The session's own headroom shows the cap and the agent's day, as they stand.
  const json::Value own = Call("GET", "/v1/headroom", session_, "", 200);
  std::vector<std::string> rows;
  for (const json::Value& c : own.Find("ceilings")->items()) {
    rows.push_back(StringField(c, "counter") + " " + StringField(c, "remaining"));
  }
  const std::string session_id = session_.substr(0, session_.find('.'));
  EXPECT_EQ(rows, (std::vector<std::string>{"session:" + session_id + ":spend-cap 200",
                                            AgentDay() + " 1000", PrincipalMonth() + " 2000"}));
  NewSession();  // a session without a cap: only the agent's 1500 a day bounds it
  EXPECT_EQ(Pay(open_, 300, "s-2").status, 201);
  EXPECT_EQ(Spent(AgentDay()), "800");
}

// The usage budgets of an agent paying only through AP2 (no active vc+jwt mandate) are its and
// the principal's ceilings, with what the closings spent.
TEST_F(Ap2CeilingTest, BudgetsOfAnAgentPayingOnlyThroughAp2AreItsCeilings) {
  Call("POST", base_ + "/mandates/" + mandate_ + "/revoke", admin_, "", 200);
  ASSERT_EQ(Pay(open_, 700, "u-1").status, 201);
  const json::Value b = Call("GET", base_ + "/usage/budgets?agent=" + agent_, admin_, "", 200);
  std::vector<std::string> rows;
  for (const json::Value& c : b.Find("budgets")->items()) {
    rows.push_back(StringField(c, "counter") + " " + StringField(c, "spent") + " " +
                   StringField(c, "remaining"));
  }
  EXPECT_EQ(rows, (std::vector<std::string>{AgentDay() + " 700 800",
                                            PrincipalMonth() + " 700 1800"}))
      << json::Write(b);
}

// specs/access.md: a credential limited to some mandates does not see an agent's or the
// principal's ceilings on their own (they count payments outside its mandates), in the agent's
// headroom or its usage budgets.
TEST_F(Ap2CeilingTest, ACredentialLimitedToMandatesSeesNoCeilingsOnTheirOwn) {
  ASSERT_EQ(Pay(open_, 700, "v-1").status, 201);
  const std::string other_agent = NewP256Agent("other");
  const std::string other_mandate = ShopMandate(other_agent);
  const std::string limited = StringField(
      Call("POST", base_ + "/credentials", admin_,
           R"({"role":"auditor","name":"other's only","mandates":[")" + other_mandate + "\"]}",
           201),
      "token");
  const json::Value budgets =
      Call("GET", base_ + "/usage/budgets?agent=" + agent_, limited, "", 200);
  EXPECT_EQ(json::Write(*budgets.Find("budgets")), "[]");
  const json::Value room = Call("GET", base_ + "/agents/" + agent_ + "/headroom", limited, "", 200);
  EXPECT_EQ(json::Write(*room.Find("ceilings")), "[]");
  EXPECT_EQ(json::Write(*room.Find("mandates")), "[]");
  // The admin sees them.
  const json::Value all = Call("GET", base_ + "/usage/budgets?agent=" + agent_, admin_, "", 200);
  EXPECT_NE(json::Write(all).find(AgentDay()), std::string::npos);
  // Its own mandate's budgets show the principal's ceiling (it bounds the mandate) but not that
  // ceiling's burn, which is every usage of the principal; the admin's carry it.
  auto principal_burn = [&](const std::string& token) -> std::optional<bool> {
    const json::Value b =
        Call("GET", base_ + "/usage/budgets?mandate=" + other_mandate, token, "", 200);
    for (const json::Value& c : b.Find("budgets")->items()) {
      if (StringField(c, "counter") == PrincipalMonth()) return c.Find("burn") != nullptr;
    }
    return std::nullopt;
  };
  EXPECT_EQ(principal_burn(limited), std::optional<bool>(false));
  EXPECT_EQ(principal_burn(admin_), std::optional<bool>(true));
}

// A closing refused after the ceilings admitted it (no funds for a ledger payment) writes
// nothing and leaves the ceilings as they were.
TEST_F(Ap2CeilingTest, ARefusedLedgerClosingTakesItsChargeBack) {
  const json::Value ch = Challenge();
  const std::string chain = Close(open_, 1200, "l-1", StringField(ch, "aud"),
                                  StringField(ch, "nonce"), "dev.mandated.ledger");
  Reply broke = Present(chain, nullptr, "ledger-key");
  EXPECT_EQ(broke.status, 409);
  EXPECT_EQ(ProblemType(broke), "insufficient-funds") << broke.body;
  // Refused as AP2 words it, and kept for its key: after a deposit the same key still answers
  // the refusal, byte for byte, and pays nothing.
  const json::Value refused = ReceiptClaims(StringField(broke.json, "payment_receipt"));
  EXPECT_EQ(StringField(refused, "status"), "Error");
  EXPECT_EQ(Spent(AgentDay()), "0");
  Deposit(5000);
  Reply again = Present(chain, nullptr, "ledger-key");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.body, broke.body);
  EXPECT_EQ(again.replayed, "true");
  EXPECT_EQ(Balance(), "5000");
  EXPECT_EQ(Spent(AgentDay()), "0");
  // A ledger closing that pays keeps its answer for its key (staged by the ledger just before
  // its write): the retry replays it and pays nothing again.
  const json::Value ch2 = Challenge();
  const std::string paying = Close(open_, 1500, "l-2", StringField(ch2, "aud"),
                                   StringField(ch2, "nonce"), "dev.mandated.ledger");
  Reply paid = Present(paying, nullptr, "ledger-key-2");
  ASSERT_EQ(paid.status, 201) << paid.body;
  Reply replay = Present(paying, nullptr, "ledger-key-2");
  EXPECT_EQ(replay.status, 201);
  EXPECT_EQ(replay.body, paid.body);
  EXPECT_EQ(replay.replayed, "true");
  EXPECT_EQ(Balance(), "3500");
  EXPECT_EQ(Spent(AgentDay()), "1500");
}

// Fails the first write that carries an outside charge, as a storage error would.
class OutsideChargeFailingStore : public testing::OwningForwardingStore {
 public:
  using OwningForwardingStore::OwningForwardingStore;
  Status Write(const store::WriteBatch& batch, store::Durability d) override {
    for (const store::WriteBatch::Op& op : batch.ops()) {
      if (op.key.find("/atz-outside/") != std::string::npos && armed.exchange(false)) {
        return UnavailableError("injected: the closing's write failed", "storage-io");
      }
    }
    return ForwardingStore::Write(batch, d);
  }
  std::atomic<bool> armed{true};
};

// specs/authorization.md §3: a closing whose write the store failed may have been kept after
// all, so its charge stays counted (fail closed) until a restart rebuilds the counters from
// what is stored; the key is not spent, and nothing was paid.
TEST_F(Ap2CeilingTest, AClosingWhoseWriteFailedStaysCountedUntilRestart) {
  service_.Stop();
  service_.Start(dir_.Sub("data"), kOperatorToken, clock_.get(),
                 [](api::ServerConfig& c) { c.public_host = "mandated.test"; },
                 [](std::unique_ptr<store::KvStore> s) -> std::unique_ptr<store::KvStore> {
                   return std::make_unique<OutsideChargeFailingStore>(std::move(s));
                 });
  ASSERT_NE(service_.app(), nullptr);
  const json::Value ch = Challenge();
  const std::string chain =
      Close(open_, 500, "f-1", StringField(ch, "aud"), StringField(ch, "nonce"));
  Reply failed = Present(chain, nullptr, "failing-key");
  EXPECT_EQ(failed.status, 503) << failed.body;
  EXPECT_EQ(Spent(AgentDay()), "500");
  EXPECT_EQ(ProblemType(Pay(open_, 1001, "f-2")), "agent-ceiling-exceeded");

  service_.Stop();
  service_.Start(dir_.Sub("data"), kOperatorToken, clock_.get(),
                 [](api::ServerConfig& c) { c.public_host = "mandated.test"; });
  EXPECT_EQ(Spent(AgentDay()), "0");
  // Nothing of it was stored: the same key and chain now pay it, once.
  Reply paid = Present(chain, nullptr, "failing-key");
  EXPECT_EQ(paid.status, 201) << paid.body;
  EXPECT_EQ(Spent(AgentDay()), "500");
}

// At start the counters are rebuilt from both kinds of record in time order: closings and held
// authorizations on both sides of a day boundary count in their own day; a closing replayed
// for its key counts once.
TEST_F(Ap2CeilingTest, CountersAreRebuiltFromClosingsAndHoldsInTimeOrder) {
  const int64_t day_end = (kStart / 86400 + 1) * 86400;
  clock_->AdvanceSeconds(day_end - 20 - clock_->NowUnixSeconds());
  NewSession();
  ASSERT_EQ(Pay(open_, 400, "o-1").status, 201);
  clock_->AdvanceSeconds(10);
  ASSERT_EQ(StringField(Authorize(300), "decision"), "allowed");  // held, yesterday
  clock_->AdvanceSeconds(20);
  const json::Value ch = Challenge();
  const std::string chain =
      Close(open_, 700, "o-2", StringField(ch, "aud"), StringField(ch, "nonce"));
  Reply paid = Present(chain, nullptr, "once");
  ASSERT_EQ(paid.status, 201) << paid.body;
  Reply replayed = Present(chain, nullptr, "once");
  EXPECT_EQ(replayed.replayed, "true");
  EXPECT_EQ(replayed.body, paid.body);
  clock_->AdvanceSeconds(10);
  ASSERT_EQ(StringField(Authorize(200), "decision"), "allowed");  // held, today
  EXPECT_EQ(Spent(AgentDay()), "900");
  EXPECT_EQ(Spent(PrincipalMonth()), "1600");

  service_.Stop();
  service_.Start(dir_.Sub("data"), kOperatorToken, clock_.get(),
                 [](api::ServerConfig& c) { c.public_host = "mandated.test"; });
  EXPECT_EQ(Spent(AgentDay()), "900");
  EXPECT_EQ(Spent(PrincipalMonth()), "1600");
  EXPECT_EQ(ProblemType(Pay(open_, 601, "o-3")), "agent-ceiling-exceeded");
  EXPECT_EQ(Pay(open_, 600, "o-3").status, 201);
  EXPECT_EQ(Spent(AgentDay()), "1500");
}

// Closings and authorizations racing for one agent ceiling: together they fill it exactly.
TEST_F(Ap2CeilingTest, ClosingsAndPurchasesRacingFillTheCeilingExactly) {
  constexpr int kEach = 12;  // 24 payments of 100 against 1500 a day
  std::atomic<int> paid{0}, allowed{0}, refused{0}, denied{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kEach; ++i) {
    threads.emplace_back([&, i] {
      PayCounted(open_, 100, "r-" + std::to_string(i), "agent-ceiling-exceeded", paid, refused,
                 other);
    });
    threads.emplace_back([&] {
      httplib::Client client("127.0.0.1", service_.port());
      const std::string decision = StringField(Authorize(100, &client), "decision");
      if (decision == "allowed") {
        ++allowed;
      } else if (decision == "denied") {
        ++denied;
      } else {
        ++other;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(paid.load() + allowed.load(), 15);
  EXPECT_EQ(refused.load() + denied.load(), 2 * kEach - 15);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Spent(AgentDay()), "1500");
}

}  // namespace
}  // namespace mandated
