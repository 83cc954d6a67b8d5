// Ledger routes over real HTTP against the in-process service (real RocksDB): deposits by the
// operator and by a principal's admin, retries with one Idempotency-Key crediting once, tenant
// scoping (another principal's accounts, agents and addresses are 404), balances, histories and
// transfers, and precise problem types for bad input that change nothing (specs/ledger.md).
#include <gtest/gtest.h>
#include <httplib.h>

#include <cctype>
#include <map>
#include <string>

#include "api/app.h"
#include "base/json.h"
#include "base/random.h"
#include "signer/did.h"
#include "signer/signature.h"
#include "tests/support/http_json.h"
#include "tests/support/in_process_service.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::Reply;
using testing::StringField;

constexpr char kOperatorToken[] = "ledger-test-operator-token-5e02b7";
constexpr char kProblem[] = "urn:mandated:problem:";

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string DepositBody(const std::string& account, const std::string& amount,
                        const std::string& asset = "USD", const std::string& more = "") {
  return R"({"account":")" + account + R"(","asset":")" + asset + R"(","amount":")" + amount +
         "\"" + more + "}";
}

// A principal with its admin and auditor, one self-custody agent and one custodial secp256k1
// agent (with its address, lower-cased as ledger accounts spell it).
struct Tenant {
  std::string id, admin, auditor, agent, custodial, address;
};

class LedgerApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_.Start(dir_.Sub("data"), kOperatorToken);
    ASSERT_NE(service_.app(), nullptr);
    a_ = MakeTenant("Ledger A");
    b_ = MakeTenant("Ledger B");
  }

  Tenant MakeTenant(const std::string& name) {
    Tenant t;
    t.id = StringField(Call("POST", "/v1/principals", kOperatorToken,
                            R"({"name":")" + name + R"("})", 201),
                       "id");
    const std::string base = "/v1/principals/" + t.id;
    t.admin = StringField(Call("POST", base + "/credentials", kOperatorToken,
                               R"({"role":"admin"})", 201),
                          "token");
    t.auditor = StringField(Call("POST", base + "/credentials", kOperatorToken,
                                 R"({"role":"auditor"})", 201),
                            "token");
    signer::PrivateKey key = *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
    const std::string did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(key));
    t.agent = StringField(Call("POST", base + "/agents", t.admin,
                               R"({"name":"self","did":")" + did + R"("})", 201),
                          "id");
    json::Value custodial =
        Call("POST", base + "/agents", t.admin,
             R"({"name":"wallet","custodial":{"key_type":"secp256k1","chain_id":8453}})", 201);
    t.custodial = StringField(custodial, "id");
    t.address = Lower(StringField(custodial, "address"));
    EXPECT_EQ(t.address.size(), 42u);
    return t;
  }

  Reply Send(const std::string& method, const std::string& path, const std::string& token,
             const std::string& body = "", const std::string& key = "") {
    return testing::Send(service_.client(), method, path, token, body, key);
  }
  json::Value Call(const std::string& method, const std::string& path, const std::string& token,
                   const std::string& body, int want, const std::string& key = "") {
    return testing::Call(service_.client(), method, path, token, body, want, key);
  }
  std::string NextKey() { return "dep-" + std::to_string(++keys_); }

  Reply DepositAs(const std::string& token, const std::string& body, const std::string& key = "") {
    return Send("POST", "/v1/ledger/deposits", token, body, key.empty() ? NextKey() : key);
  }
  // The balance text of `account` in `asset` as the operator reads it ("0" when it never moved).
  std::string BalanceOf(const std::string& account, const std::string& asset = "USD") {
    json::Value v = Call("GET", "/v1/ledger/accounts/" + account, kOperatorToken, "", 200);
    const json::Value* items = v.Find("balances");
    if (items != nullptr) {
      for (const json::Value& b : items->items()) {
        if (StringField(b, "asset") == asset) return StringField(b, "balance");
      }
    }
    return "0";
  }
  void ExpectProblem(const Reply& r, int status, const std::string& slug) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(StringField(r.json, "type"), kProblem + slug) << r.body;
    EXPECT_EQ(r.content_type, "application/problem+json") << r.body;
  }
  // Every key and value of the ledger family.
  std::map<std::string, std::string> LedgerSnapshot() {
    std::map<std::string, std::string> out;
    Status s = service_.app()->store_for_testing().ScanPrefix(
        settlement::kLedgerFamily, "", [&](std::string_view k, std::string_view v) {
          out[std::string(k)] = std::string(v);
          return true;
        });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  testing::TempDir dir_;
  testing::InProcessService service_;
  Tenant a_, b_;
  int keys_ = 0;
};

// Each principal's deposits come from its own outside account: one tenant filling its deposits'
// total to 2^128-1 leaves every other tenant's deposits as they were (before, all shared
// external:deposits and the next deposit of anyone in that asset overflowed it).
TEST_F(LedgerApiTest, OneTenantsDepositsLeaveRoomForTheOthers) {
  const std::string max = "340282366920938463463374607431768211455";
  ASSERT_EQ(DepositAs(a_.admin, DepositBody("principal:" + a_.id, max, "GBP")).status, 201);
  Reply b = DepositAs(b_.admin, DepositBody("principal:" + b_.id, "1", "GBP"));
  ASSERT_EQ(b.status, 201) << b.body;
  EXPECT_EQ(StringField(*b.json.Find("transfer"), "debit"), "external:deposits." + b_.id);
  EXPECT_EQ(BalanceOf("principal:" + b_.id, "GBP"), "1");
  // Its own total is still bounded: one more in A's is refused, and nothing moves.
  Reply over = DepositAs(a_.admin, DepositBody("principal:" + a_.id, "1", "GBP"));
  EXPECT_EQ(over.status, 400) << over.body;
  EXPECT_EQ(StringField(over.json, "type"), "urn:mandated:problem:amount-out-of-range");
  EXPECT_EQ(BalanceOf("principal:" + a_.id, "GBP"), max);
  // The operator's deposit to an account named with a 128-character id (no principal of ours)
  // still goes through, from the shared outside account.
  const std::string long_id(128, 'p');
  Reply op = DepositAs(kOperatorToken, DepositBody("principal:" + long_id, "5", "GBP"));
  ASSERT_EQ(op.status, 201) << op.body;
  EXPECT_EQ(StringField(*op.json.Find("transfer"), "debit"), "external:deposits");
}

TEST_F(LedgerApiTest, OperatorDepositsAndARetryCreditsOnce) {
  const std::string account = "principal:" + a_.id;
  const std::string body = DepositBody(account, "1000", "USD", R"(,"reference":"wire 2026-001")");
  Reply first = DepositAs(kOperatorToken, body, "op-deposit-1");
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.replayed, "");
  const json::Value* t = first.json.Find("transfer");
  ASSERT_NE(t, nullptr);
  const std::string id = StringField(*t, "id");
  EXPECT_EQ(id.substr(0, 4), "xfr_");
  EXPECT_EQ(StringField(*t, "debit"), "external:deposits." + a_.id);
  EXPECT_EQ(StringField(*t, "credit"), account);
  EXPECT_EQ(StringField(*t, "asset"), "USD");
  EXPECT_EQ(StringField(*t, "amount"), "1000");
  EXPECT_EQ(StringField(*t, "kind"), "deposit");
  EXPECT_EQ(StringField(*t, "reference"), "wire 2026-001");
  EXPECT_EQ(StringField(*t, "principal"), a_.id);
  const json::Value* b = first.json.Find("balance");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(json::Write(*b), R"({"account":")" + account +
                                 R"(","asset":"USD","balance":"1000","credits":"1000",)"
                                 R"("debits":"0","transfers":1})");

  // The retry answers the first answer, byte for byte, and credits nothing.
  Reply again = DepositAs(kOperatorToken, body, "op-deposit-1");
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.replayed, "true");
  EXPECT_EQ(BalanceOf(account), "1000");
  EXPECT_EQ(BalanceOf("external:deposits." + a_.id), "-1000");

  // The same key for another deposit; no key at all.
  ExpectProblem(DepositAs(kOperatorToken, DepositBody(account, "999"), "op-deposit-1"), 422,
                "idempotency-key-reused");
  ExpectProblem(Send("POST", "/v1/ledger/deposits", kOperatorToken, body), 400,
                "missing-idempotency-key");
  EXPECT_EQ(BalanceOf(account), "1000");

  // A second deposit adds; the operator may use any account.
  Reply second = DepositAs(kOperatorToken, DepositBody(account, "250"));
  ASSERT_EQ(second.status, 201) << second.body;
  EXPECT_EQ(StringField(*second.json.Find("balance"), "balance"), "1250");
  Reply merchant = DepositAs(kOperatorToken, DepositBody("merchant:shop.example", "5", "EUR"));
  ASSERT_EQ(merchant.status, 201) << merchant.body;
  EXPECT_EQ(StringField(*merchant.json.Find("transfer"), "principal"), "");
  EXPECT_EQ(BalanceOf("merchant:shop.example", "EUR"), "5");

  json::Value got = Call("GET", "/v1/ledger/transfers/" + id, kOperatorToken, "", 200);
  EXPECT_EQ(json::Write(got), json::Write(*t));
}

TEST_F(LedgerApiTest, PrincipalAdminDepositsIntoItsOwnAccounts) {
  const std::string usdc = "eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
  const std::string wallet = "eip155:8453:" + a_.address;
  Reply p = DepositAs(a_.admin, DepositBody("principal:" + a_.id, "300"));
  ASSERT_EQ(p.status, 201) << p.body;
  EXPECT_EQ(StringField(*p.json.Find("transfer"), "principal"), a_.id);
  Reply g = DepositAs(a_.admin, DepositBody("agent:" + a_.agent, "40"));
  ASSERT_EQ(g.status, 201) << g.body;
  Reply w = DepositAs(a_.admin, DepositBody(wallet, "2000000", usdc));
  ASSERT_EQ(w.status, 201) << w.body;
  EXPECT_EQ(StringField(*w.json.Find("balance"), "balance"), "2000000");
  // The custodial address counts on any EVM chain.
  ASSERT_EQ(DepositAs(a_.admin, DepositBody("eip155:1:" + a_.address, "7")).status, 201);

  // A's auditor reads them.
  json::Value acct = Call("GET", "/v1/ledger/accounts/" + wallet, a_.auditor, "", 200);
  EXPECT_EQ(json::Write(acct),
            R"({"account":")" + wallet + R"(","balances":[{"account":")" + wallet +
                R"(","asset":")" + usdc +
                R"(","balance":"2000000","credits":"2000000","debits":"0","transfers":1}]})");
  json::Value empty = Call("GET", "/v1/ledger/accounts/agent:" + a_.custodial, a_.auditor, "", 200);
  EXPECT_EQ(json::Write(empty),
            R"({"account":"agent:)" + a_.custodial + R"(","balances":[]})");
  const std::string pid = StringField(*p.json.Find("transfer"), "id");
  json::Value t = Call("GET", "/v1/ledger/transfers/" + pid, a_.auditor, "", 200);
  EXPECT_EQ(StringField(t, "amount"), "300");

  // The auditor may not deposit.
  ExpectProblem(DepositAs(a_.auditor, DepositBody("principal:" + a_.id, "1")), 403, "forbidden");
  EXPECT_EQ(BalanceOf("principal:" + a_.id), "300");
}

TEST_F(LedgerApiTest, OtherTenantsAccountsAreNotFound) {
  ASSERT_EQ(DepositAs(kOperatorToken, DepositBody("principal:" + b_.id, "500")).status, 201);
  Reply bt = DepositAs(kOperatorToken, DepositBody("agent:" + b_.agent, "60"));
  ASSERT_EQ(bt.status, 201);
  const std::string b_transfer = StringField(*bt.json.Find("transfer"), "id");
  const std::map<std::string, std::string> before = LedgerSnapshot();

  const std::vector<std::string> foreign = {
      "principal:" + b_.id,
      "agent:" + b_.agent,
      "agent:" + b_.custodial,
      "eip155:8453:" + b_.address,
      "agent:agt_doesnotexist",
      "principal:prn_doesnotexist",
      "merchant:shop.example",
      "eip155:8453:0x1111111111111111111111111111111111111111",
  };
  for (const std::string& account : foreign) {
    ExpectProblem(DepositAs(a_.admin, DepositBody(account, "1")), 404, "account-not-found");
    ExpectProblem(Send("GET", "/v1/ledger/accounts/" + account, a_.auditor), 404,
                  "account-not-found");
    ExpectProblem(Send("GET", "/v1/ledger/accounts/" + account + "/transfers?asset=USD", a_.admin),
                  404, "account-not-found");
  }
  // A malformed account looks the same as another tenant's to them.
  ExpectProblem(Send("GET", "/v1/ledger/accounts/wallet:x", a_.auditor), 404, "account-not-found");
  // B's transfer is not A's to see; B sees it.
  ExpectProblem(Send("GET", "/v1/ledger/transfers/" + b_transfer, a_.auditor), 404,
                "transfer-not-found");
  EXPECT_EQ(StringField(Call("GET", "/v1/ledger/transfers/" + b_transfer, b_.auditor, "", 200),
                        "amount"),
            "60");
  // B cannot see A's accounts either.
  ExpectProblem(Send("GET", "/v1/ledger/accounts/principal:" + a_.id, b_.admin), 404,
                "account-not-found");
  // A history cursor naming B's transfer is answered as one naming no transfer at all, detail
  // included: a cursor cannot probe whether another tenant's payment settled here.
  ASSERT_EQ(DepositAs(a_.admin, DepositBody("agent:" + a_.agent, "7")).status, 201);
  const std::string history = "/v1/ledger/accounts/agent:" + a_.agent + "/transfers?asset=USD&after=";
  Reply foreign_cursor = Send("GET", history + b_transfer, a_.auditor);
  Reply unknown_cursor = Send("GET", history + "xfr_0123456789abcdef0123456789abcdef", a_.auditor);
  ExpectProblem(foreign_cursor, 404, "transfer-not-found");
  ExpectProblem(unknown_cursor, 404, "transfer-not-found");
  EXPECT_EQ(StringField(foreign_cursor.json, "detail"),
            "transfer " + b_transfer + " is not in this history");
  EXPECT_EQ(StringField(unknown_cursor.json, "detail"),
            "transfer xfr_0123456789abcdef0123456789abcdef is not in this history");

  EXPECT_EQ(BalanceOf("principal:" + b_.id), "500");
}

TEST_F(LedgerApiTest, AgentScopedCredentialSeesOnlyItsAgents) {
  const std::string scoped = StringField(
      Call("POST", "/v1/principals/" + a_.id + "/credentials", a_.admin,
           R"({"role":"admin","agents":[")" + a_.custodial + R"("]})", 201),
      "token");
  ASSERT_EQ(DepositAs(scoped, DepositBody("agent:" + a_.custodial, "9")).status, 201);
  ASSERT_EQ(DepositAs(scoped, DepositBody("eip155:8453:" + a_.address, "9")).status, 201);
  ExpectProblem(DepositAs(scoped, DepositBody("agent:" + a_.agent, "9")), 404,
                "account-not-found");
  ExpectProblem(DepositAs(scoped, DepositBody("principal:" + a_.id, "9")), 404,
                "account-not-found");
  EXPECT_EQ(BalanceOf("agent:" + a_.agent), "0");
  EXPECT_EQ(BalanceOf("principal:" + a_.id), "0");
}

TEST_F(LedgerApiTest, HistoryPages) {
  const std::string account = "agent:" + a_.agent;
  std::vector<std::string> ids;
  for (int i = 1; i <= 5; ++i) {
    Reply r = DepositAs(a_.admin, DepositBody(account, std::to_string(i * 10)));
    ASSERT_EQ(r.status, 201) << r.body;
    ids.push_back(StringField(*r.json.Find("transfer"), "id"));
  }
  ASSERT_EQ(DepositAs(a_.admin, DepositBody(account, "1", "EUR")).status, 201);
  const std::string base = "/v1/ledger/accounts/" + account + "/transfers?asset=USD";
  json::Value page = Call("GET", base + "&limit=2", a_.auditor, "", 200);
  ASSERT_EQ(page.Find("items")->items().size(), 2u);
  EXPECT_EQ(StringField(page.Find("items")->items()[0], "id"), ids[0]);
  EXPECT_EQ(StringField(page.Find("items")->items()[1], "amount"), "20");
  EXPECT_EQ(StringField(page, "next_after"), ids[1]);
  page = Call("GET", base + "&limit=2&after=" + ids[1], a_.auditor, "", 200);
  EXPECT_EQ(StringField(page.Find("items")->items()[0], "id"), ids[2]);
  EXPECT_EQ(StringField(page, "next_after"), ids[3]);
  page = Call("GET", base + "&limit=2&after=" + ids[3], a_.auditor, "", 200);
  ASSERT_EQ(page.Find("items")->items().size(), 1u);
  EXPECT_EQ(StringField(page.Find("items")->items()[0], "amount"), "50");
  EXPECT_EQ(page.Find("next_after"), nullptr);
  page = Call("GET", "/v1/ledger/accounts/" + account + "/transfers?asset=EUR", a_.auditor, "",
              200);
  EXPECT_EQ(page.Find("items")->items().size(), 1u);

  ExpectProblem(Send("GET", "/v1/ledger/accounts/" + account + "/transfers", a_.auditor), 400,
                "bad-asset");
  ExpectProblem(Send("GET", base + "&limit=0", a_.auditor), 400, "bad-query");
  ExpectProblem(Send("GET", base + "&after=xfr_unknown", a_.auditor), 404, "transfer-not-found");
}

TEST_F(LedgerApiTest, BadInputGetsPreciseProblemsAndChangesNothing) {
  ASSERT_EQ(DepositAs(kOperatorToken, DepositBody("principal:" + a_.id, "100")).status, 201);
  const std::map<std::string, std::string> before = LedgerSnapshot();
  const std::string acct = "principal:" + a_.id;
  struct Case {
    std::string body;
    int status;
    std::string slug;
  };
  const std::vector<Case> cases = {
      {DepositBody("wallet:x", "10"), 400, "bad-account"},
      {DepositBody("principal:", "10"), 400, "bad-account"},
      {DepositBody("external:treasury", "10"), 400, "bad-account"},
      {DepositBody(acct, "10", "usd"), 400, "bad-asset"},
      {DepositBody(acct, "0"), 400, "bad-amount"},
      {DepositBody(acct, "010"), 400, "bad-amount"},
      {DepositBody(acct, "-5"), 400, "bad-amount"},
      {DepositBody(acct, "1.5"), 400, "bad-amount"},
      {DepositBody(acct, "340282366920938463463374607431768211456"), 400, "amount-out-of-range"},
      {R"({"account":")" + acct + R"(","asset":"USD","amount":10})", 400, "amount-not-string"},
      {DepositBody(acct, "10", "USD", R"(,"memo":"x")"), 400, "unknown-field"},
      {R"({"account":")" + acct + R"(","asset":"USD"})", 400, "missing-field"},
      {R"({"account":")" + acct + R"(","account":")" + acct + R"(","asset":"USD","amount":"1"})",
       400, "duplicate-key"},
      {"{\"account\":", 400, "malformed-json"},
      {DepositBody(acct, "10", "USD", R"(,"reference":")" + std::string(300, 'r') + "\""), 400,
       "bad-transfer"},
  };
  for (const Case& c : cases) {
    ExpectProblem(DepositAs(kOperatorToken, c.body), c.status, c.slug);
    ExpectProblem(DepositAs(a_.admin, c.body), c.status, c.slug);
  }
  // Operator reads name bad accounts plainly.
  ExpectProblem(Send("GET", "/v1/ledger/accounts/wallet:x", kOperatorToken), 400, "bad-account");
  ExpectProblem(Send("GET", "/v1/ledger/transfers/xfr_missing", kOperatorToken), 404,
                "transfer-not-found");
  ExpectProblem(Send("GET", "/v1/ledger/transfers/xfr_missing", a_.auditor), 404,
                "transfer-not-found");

  // A retried bad request gets the same problem again (kept like any 4xx answer).
  Reply bad = DepositAs(a_.admin, DepositBody(acct, "0"), "bad-once");
  Reply bad_again = DepositAs(a_.admin, DepositBody(acct, "0"), "bad-once");
  EXPECT_EQ(bad_again.body, bad.body);
  EXPECT_EQ(bad_again.replayed, "true");

  EXPECT_EQ(LedgerSnapshot(), before);
  EXPECT_EQ(BalanceOf(acct), "100");
}

TEST_F(LedgerApiTest, DepositsAreInTheAuditTrail) {
  Reply r = DepositAs(a_.admin, DepositBody("principal:" + a_.id, "77"));
  ASSERT_EQ(r.status, 201);
  const std::string id = StringField(*r.json.Find("transfer"), "id");
  json::Value trail =
      Call("GET", "/v1/audit/trail?principal=" + a_.id + "&limit=1000", a_.auditor, "", 200);
  int found = 0;
  for (const json::Value& item : trail.Find("items")->items()) {
    Result<json::Value> e = json::Parse(StringField(item, "event"));
    ASSERT_TRUE(e.ok());
    if (StringField(*e, "type") != "ledger.transferred") continue;
    ++found;
    EXPECT_EQ(StringField(*e->Find("subjects"), "transfer"), id);
    EXPECT_EQ(StringField(*e->Find("subjects"), "credit_account"), "principal:" + a_.id);
    EXPECT_EQ(StringField(*e->Find("data"), "amount"), "77");
    EXPECT_EQ(StringField(*e->Find("actor"), "kind"), "credential");
  }
  EXPECT_EQ(found, 1);
}

}  // namespace
}  // namespace mandated
