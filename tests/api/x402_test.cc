// x402 over real HTTP against the service (in-process, real RocksDB, a fake clock): the
// facilitator verifies and settles the reference client's vectors once on the ledger, the payer
// signs only inside a mandate (one payment per Idempotency-Key), and a settled payment captures
// its authorization and appears in the purchase's audit trail (specs/x402.md).
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/app.h"
#include "audit/bundle.h"
#include "base/amount.h"
#include "base/bytes.h"
#include "base/json.h"
#include "mandates/credential.h"
#include "settlement/x402_wire.h"
#include "signer/recoverable.h"
#include "signer/signature.h"
#include "tests/support/fake_clock.h"
#include "tests/support/http_json.h"
#include "tests/support/in_process_service.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::Reply;
using testing::StringField;

constexpr char kOperatorToken[] = "x402-test-operator-token-93be01";
constexpr char kProblem[] = "urn:mandated:problem:";
// The reference vectors verify at this instant (their "referenceVerify.clockUnix").
constexpr int64_t kVectorClock = 1750000001;
constexpr char kPayTo[] = "0x209693bc6afc0c5328ba36faf03c514ef312287c";
constexpr char kOtherPayee[] = "0x00000000000000000000000000000000000000b2";
// The development key the vectors' payer signed with (anvil's second account; their
// expectedSigner 0x7099...79c8).
constexpr char kVectorPayerKey[] =
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
constexpr char kUsdcSepolia[] = "0x036cbd53842c5426634e7929541ec2318f3dcf7e";
constexpr char kSepoliaUsdcAsset[] =
    "eip155:84532/erc20:0x036cbd53842c5426634e7929541ec2318f3dcf7e";

const std::vector<std::string>& VectorNames() {
  static const auto* const kNames = new std::vector<std::string>{
      "vector_v1_base_sepolia_usdc_10000", "vector_v1_base_mainnet_usdc_1234567",
      "vector_v2_base_sepolia_usdc_10000", "vector_v2_base_mainnet_usdc_1",
      "vector_v2_avalanche_usdc_250000_longlived"};
  return *kNames;
}

json::Value LoadVector(const std::string& name) {
  Result<json::Value> v = json::Parse(
      testing::ReadFileOrDie(testing::SourcePath("tests/vectors/x402/" + name + ".json")));
  EXPECT_TRUE(v.ok()) << name;
  return v.ok() ? *v : json::Value::Object();
}

const json::Value& Member(const json::Value& v, const char* key) {
  static const json::Value kNull;
  const json::Value* m = v.is_object() ? v.Find(key) : nullptr;
  return m != nullptr ? *m : kNull;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class X402ApiTest : public ::testing::Test {
 protected:
  void Boot(int64_t start) {
    clock_ = std::make_unique<testing::FakeClock>(start);
    service_.Start(dir_.Sub("data"), kOperatorToken, clock_.get(),
                   [](api::ServerConfig& c) { c.public_host = "mandated.test"; });
    ASSERT_NE(service_.app(), nullptr);
    const testing::PrincipalWithAdmin p = testing::CreatePrincipalWithAdmin(
        service_.client(), kOperatorToken, R"({"name":"x402 Corp"})");
    principal_ = p.id;
    base_ = p.base;
    admin_ = p.admin;
    merchant_ = StringField(Call("POST", base_ + "/credentials", kOperatorToken,
                                 R"({"role":"merchant","name":"shop"})", 201),
                            "token");
  }

  Reply Send(const std::string& method, const std::string& path, const std::string& token,
             const std::string& body, const std::string& key = "") {
    return testing::Send(service_.client(), method, path, token, body, key);
  }
  json::Value Call(const std::string& method, const std::string& path, const std::string& token,
                   const std::string& body, int want, const std::string& key = "") {
    return testing::Call(service_.client(), method, path, token, body, want, key);
  }
  std::string NextKey() { return "key-" + std::to_string(++keys_); }

  void Deposit(const std::string& account, const std::string& asset, const std::string& amount) {
    Call("POST", "/v1/ledger/deposits", kOperatorToken,
         R"({"account":")" + account + R"(","asset":")" + asset + R"(","amount":")" + amount +
             R"("})",
         201, NextKey());
  }
  // The balance of `account` in `asset` as the ledger API reports it ("0" when it never moved).
  std::string BalanceOf(const std::string& account, const std::string& asset) {
    json::Value v = Call("GET", "/v1/ledger/accounts/" + account, kOperatorToken, "", 200);
    const json::Value& balances = Member(v, "balances");
    if (balances.is_array()) {
      for (const json::Value& b : balances.items()) {
        if (StringField(b, "asset") == asset) return StringField(b, "balance");
      }
    }
    return "0";
  }

  // What mandate `m`'s calendar day in UTC has spent, as its headroom reports it.
  std::string DaySpent(const std::string& m) {
    const std::string day = "mandate:" + m + ":window:day:calendar:UTC";
    json::Value h = Call("GET", base_ + "/mandates/" + m + "/headroom", admin_, "", 200);
    for (const json::Value& c : Member(h, "counters").items()) {
      if (StringField(c, "counter") == day) return StringField(c, "spent");
    }
    return std::string("no counter");
  }

  std::string NewCustodialAgent(const std::string& name) {
    json::Value a = Call("POST", base_ + "/agents", admin_,
                         R"({"name":")" + name +
                             R"(","custodial":{"key_type":"secp256k1","chain_id":84532}})",
                         201);
    address_[StringField(a, "id")] = StringField(a, "address");
    return StringField(a, "id");
  }
  // A custodial agent "buyer" with a session, a mandate paying up to 50000 of Sepolia USDC, and
  // 100000 of it on its ledger account.
  struct Buyer {
    std::string agent, session, mandate, account;
  };
  Buyer FundedBuyer() {
    Buyer b;
    b.agent = NewCustodialAgent("buyer");
    b.session = Session(b.agent);
    b.mandate = Issue(b.agent, SepoliaTerms("50000"));
    b.account = "eip155:84532:" + Lower(address_[b.agent]);
    Deposit(b.account, kSepoliaUsdcAsset, "100000");
    return b;
  }
  std::string Session(const std::string& agent) {
    return StringField(
        Call("POST", base_ + "/agents/" + agent + "/sessions", admin_, R"({"task":"pay"})", 201),
        "token");
  }
  // Issues a mandate for `agent`: a root by the admin, or a delegation from `parent` by the
  // parent's agent (`token`, its session).
  std::string Issue(const std::string& agent, const std::string& terms,
                    const std::string& parent = "", const std::string& token = "") {
    const std::string body = R"({"agent":")" + agent + "\"" +
                             (parent.empty() ? "" : R"(,"parent":")" + parent + "\"") +
                             R"(,"valid_from":")" +
                             mandates::FormatRfc3339Utc(clock_->NowUnixSeconds() - 60) +
                             R"(","valid_until":")" +
                             mandates::FormatRfc3339Utc(clock_->NowUnixSeconds() + 30 * 86400) +
                             R"(","terms":)" + terms + "}";
    return StringField(
        Call("POST", base_ + "/mandates", token.empty() ? admin_ : token, body, 201), "id");
  }
  // Terms paying kPayTo in Base Sepolia USDC, at most `max` per payment.
  static std::string SepoliaTerms(const std::string& max, const std::string& more = "") {
    return std::string(R"({"scope":{"payees":{"allow":[{"type":"address","value":")") + kPayTo +
           R"("}]},"assets":{"allow":[")" + kSepoliaUsdcAsset +
           R"("]},"networks":{"allow":["eip155:84532"]}},"limits":{"per_transaction":[{"asset":")" +
           kSepoliaUsdcAsset + R"(","max":")" + max + R"("}],"windows":[{"asset":")" +
           kSepoliaUsdcAsset + R"(","window":"day","kind":"calendar","time_zone":"UTC","max":"1000000"}]})" +
           more + "}";
  }
  // A 402 answer of the given version asking `amount` of Sepolia USDC for kPayTo (or `pay_to`).
  static std::string PaymentRequired(int version, const std::string& amount,
                                     const std::string& pay_to = kPayTo,
                                     const std::string& network = "",
                                     const std::string& asset = kUsdcSepolia) {
    if (version == 1) {
      return R"({"x402Version":1,"error":"X-PAYMENT header is required","accepts":[{"scheme":"exact","network":")" +
             (network.empty() ? std::string("base-sepolia") : network) +
             R"(","maxAmountRequired":")" + amount +
             R"(","resource":"https://api.shop.example/premium","description":"premium","mimeType":"application/json","payTo":")" +
             pay_to + R"(","maxTimeoutSeconds":60,"asset":")" + asset +
             R"(","extra":{"name":"USDC","version":"2"}}]})";
    }
    return R"({"x402Version":2,"error":"Payment required","resource":{"url":"https://api.shop.example/premium","description":"premium","mimeType":"application/json"},"accepts":[{"scheme":"exact","network":")" +
           (network.empty() ? std::string("eip155:84532") : network) + R"(","amount":")" + amount +
           R"(","asset":")" + asset + R"(","payTo":")" + pay_to +
           R"(","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}}]})";
  }
  static std::string PayBody(const std::string& mandate, const std::string& payment_required) {
    return R"({"mandate_id":")" + mandate + R"(","payment_required":)" + payment_required + "}";
  }
  // The /verify and /settle body for a payment our payer produced and the requirement it chose.
  static std::string FacilitatorBody(const json::Value& pay) {
    json::Value body = json::Value::Object();
    body.Set("x402Version", Member(pay, "x402_version"));
    body.Set("paymentPayload", Member(pay, "payment_payload"));
    body.Set("paymentRequirements", Member(pay, "accepted"));
    return json::Write(body);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::FakeClock> clock_;
  testing::InProcessService service_;
  std::string principal_, base_, admin_, merchant_;
  std::map<std::string, std::string> address_;  // agent id -> EIP-55 address
  int keys_ = 0;
};

// ---- Facilitator ----

TEST_F(X402ApiTest, EveryVectorVerifiesSettlesOnceAndMovesTheLedgerExactly) {
  Boot(kVectorClock);
  // GET /x402/supported against the reference facilitator's answer (getSupported() in
  // facilitator_api_examples.json): the same members in the same order, the same extensions,
  // and every reference kind, in the reference's order. The differences specs/x402.md §5.1
  // documents: ours lists every chain of §2.4 (in both versions), and no signer, since
  // settlement is on the ledger.
  const json::Value supported = Call("GET", "/x402/supported", "", "", 200);
  const json::Value examples = LoadVector("facilitator_api_examples");
  const json::Value& reference =
      Member(examples, "GET /supported (x402Facilitator.getSupported())");
  ASSERT_TRUE(reference.is_object());
  EXPECT_EQ(supported.keys(), reference.keys());
  EXPECT_EQ(Member(supported, "extensions"), Member(reference, "extensions"));
  EXPECT_EQ(Member(supported, "signers").keys(), Member(reference, "signers").keys());
  EXPECT_EQ(Member(Member(reference, "signers"), "eip155:*").items().size(), 1u);
  EXPECT_EQ(json::Write(Member(supported, "signers")), R"({"eip155:*":[]})");
  const std::vector<json::Value>& want = Member(reference, "kinds").items();
  ASSERT_EQ(want.size(), 5u);
  size_t matched = 0;  // reference kinds found so far, in order
  std::map<uint64_t, std::set<int>> listed;  // chain id -> versions it is listed for
  int previous_version = settlement::kX402V2;
  for (const json::Value& k : Member(supported, "kinds").items()) {
    SCOPED_TRACE(json::Write(k));
    if (matched < want.size() && k == want[matched]) ++matched;
    EXPECT_EQ(k.keys(), want[0].keys());
    EXPECT_EQ(StringField(k, "scheme"), "exact");
    const int version = static_cast<int>(Member(k, "x402Version").as_int64().value_or(0));
    const std::string network = StringField(k, "network");
    const std::optional<uint64_t> chain = version == settlement::kX402V1
                                              ? settlement::V1ChainIdOf(network)
                                              : settlement::Caip2ChainIdOf(network);
    ASSERT_TRUE(chain.has_value());
    EXPECT_TRUE(listed[*chain].insert(version).second) << "listed twice";
    // As the reference: the v2 kinds first, then the v1 kinds.
    EXPECT_FALSE(version == settlement::kX402V2 && previous_version == settlement::kX402V1);
    previous_version = version;
  }
  EXPECT_EQ(matched, want.size()) << "a reference kind is missing or out of order";
  EXPECT_EQ(listed.size(), 15u);  // the chains of §2.4
  for (const auto& [chain, versions] : listed) {
    EXPECT_EQ(versions.size(), 2u) << chain;
  }

  for (const std::string& name : VectorNames()) {
    SCOPED_TRACE(name);
    const json::Value vec = LoadVector(name);
    const std::string body = json::Write(Member(Member(vec, "facilitatorRequests"), "POST /verify"));
    const json::Value& req = Member(vec, "paymentRequirements");
    const std::string network = StringField(req, "network");
    const uint64_t chain = *settlement::ChainIdOf(network);
    const std::string payer = StringField(vec, "expectedSigner");
    const json::Value& auth =
        Member(Member(Member(vec, "decodedPaymentPayload"), "payload"), "authorization");
    const std::string value = StringField(auth, "value");
    const std::string from_account = "eip155:" + std::to_string(chain) + ":" + Lower(payer);
    const std::string to_account =
        "eip155:" + std::to_string(chain) + ":" + Lower(StringField(auth, "to"));
    const std::string asset =
        "eip155:" + std::to_string(chain) + "/erc20:" + Lower(StringField(req, "asset"));

    // Nothing deposited: the payer cannot pay.
    json::Value v = Call("POST", "/x402/verify", merchant_, body, 200);
    EXPECT_EQ(Member(v, "isValid").as_bool(), false);
    EXPECT_EQ(StringField(v, "invalidReason"), "invalid_exact_evm_insufficient_balance");
    // Not the balance itself: the merchant has no ledger:read.
    EXPECT_EQ(StringField(v, "invalidMessage"),
              "the payer's ledger balance is less than the payment's value");
    EXPECT_EQ(StringField(v, "payer"), payer);

    Deposit(from_account, asset, value);
    const Amount payee_before = *Amount::Parse(BalanceOf(to_account, asset));
    const std::string payee_after = payee_before.Add(*Amount::Parse(value))->ToString();
    v = Call("POST", "/x402/verify", merchant_, body, 200);
    EXPECT_EQ(json::Write(v), R"({"isValid":true,"payer":")" + payer + R"("})");

    const Reply first = Send("POST", "/x402/settle", merchant_, body);
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(Member(first.json, "success").as_bool(), true) << first.body;
    EXPECT_EQ(StringField(first.json, "network"), network);
    EXPECT_EQ(StringField(first.json, "payer"), payer);
    EXPECT_EQ(StringField(first.json, "transaction").size(), 66u);
    EXPECT_EQ(BalanceOf(from_account, asset), "0");
    EXPECT_EQ(BalanceOf(to_account, asset), payee_after);

    // The same payment again: the first answer, and the value moves once.
    const Reply again = Send("POST", "/x402/settle", merchant_, body);
    EXPECT_EQ(again.body, first.body);
    EXPECT_EQ(BalanceOf(from_account, asset), "0");
    EXPECT_EQ(BalanceOf(to_account, asset), payee_after);
    // The same payment against another payee's requirements is not reported settled to it.
    json::Value other = *json::Parse(body);
    other.Find("paymentRequirements")->Set("payTo", json::Value::String(kOtherPayee));
    const Reply elsewhere = Send("POST", "/x402/settle", merchant_, json::Write(other));
    ASSERT_EQ(elsewhere.status, 200) << elsewhere.body;
    EXPECT_EQ(Member(elsewhere.json, "success").as_bool(), false) << elsewhere.body;
    EXPECT_EQ(StringField(elsewhere.json, "errorReason"), "invalid_exact_evm_recipient_mismatch");
    EXPECT_EQ(BalanceOf(to_account, asset), payee_after);
    // Verified again, it is a used nonce (a merchant replaying the header gets a refusal).
    v = Call("POST", "/x402/verify", merchant_, body, 200);
    EXPECT_EQ(StringField(v, "invalidReason"), "invalid_exact_evm_nonce_already_used");
  }
}

TEST_F(X402ApiTest, ConcurrentSettlesOfOnePaymentMoveItOnce) {
  Boot(kVectorClock);
  const json::Value vec = LoadVector("vector_v2_base_sepolia_usdc_10000");
  const std::string body = json::Write(Member(Member(vec, "facilitatorRequests"), "POST /verify"));
  const std::string from = "eip155:84532:0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
  Deposit(from, kSepoliaUsdcAsset, "30000");  // enough for three, if it were paid thrice
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<std::string> answers;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      httplib::Client c("127.0.0.1", service_.port());
      httplib::Result r = c.Post("/x402/settle", {{"Authorization", std::string("Bearer ") + merchant_}},
                                 body, "application/json");
      std::lock_guard<std::mutex> lock(mu);
      answers.insert(r ? std::to_string(r->status) + " " + r->body : "no response");
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(answers.size(), 1u) << *answers.begin() << " ... " << *answers.rbegin();
  EXPECT_NE(answers.begin()->find(R"("success":true)"), std::string::npos) << *answers.begin();
  EXPECT_EQ(BalanceOf(from, kSepoliaUsdcAsset), "20000");
  EXPECT_EQ(BalanceOf("eip155:84532:" + std::string(kPayTo), kSepoliaUsdcAsset), "10000");
}

// Payments the ledger cannot move (a zero value, a payer paying itself) fail verify with the
// reason a chain simulation gives, and settle answers success:false and moves nothing.
TEST_F(X402ApiTest, PaymentsTheLedgerCannotMoveFailVerifyAndSettleMovesNothing) {
  Boot(kVectorClock);
  const json::Value vec = LoadVector("vector_v2_base_sepolia_usdc_10000");
  const json::Value original = Member(Member(vec, "facilitatorRequests"), "POST /verify");
  const std::string payer = StringField(vec, "expectedSigner");
  const std::string from = "eip155:84532:" + Lower(payer);
  Deposit(from, kSepoliaUsdcAsset, "30000");
  // The vector's body with the authorization and requirements changed by `change`, signed again
  // by the vector's payer (the development key it was made with).
  auto resigned = [&](const std::string& value, const std::string& to) {
    json::Value body = original;
    json::Value* payload = body.Find("paymentPayload")->Find("payload");
    json::Value* auth = payload->Find("authorization");
    auth->Set("value", json::Value::String(value));
    auth->Set("to", json::Value::String(to));
    body.Find("paymentRequirements")->Set("amount", json::Value::String(value));
    body.Find("paymentRequirements")->Set("payTo", json::Value::String(to));
    Result<settlement::PaymentRequirements> req =
        settlement::ParseRequirements(Member(body, "paymentRequirements"), 2, "");
    Result<settlement::PaymentPayload> parsed =
        settlement::ParsePayload(Member(body, "paymentPayload"));
    EXPECT_TRUE(req.ok() && parsed.ok());
    if (!req.ok() || !parsed.ok()) return std::string();
    Result<signer::PrivateKey> key =
        signer::ImportPrivateKey(signer::KeyType::kSecp256k1, *HexDecode(kVectorPayerKey));
    const auto digest = settlement::Eip3009Digest(*req->eip712_name, *req->eip712_version,
                                                  req->chain_id, req->asset,
                                                  parsed->authorization);
    Result<Bytes> sig = signer::SignDigestRecoverable(*key, digest);
    EXPECT_TRUE(sig.ok());
    payload->Set("signature", json::Value::String("0x" + HexEncode(*sig)));
    return json::Write(body);
  };
  const struct {
    const char* what;
    std::string body;
    const char* message;
  } cases[] = {
      {"zero value", resigned("0", kPayTo), "the ledger moves no payment of 0"},
      {"paying itself", resigned("10000", payer),
       "the payer pays itself: the ledger moves nothing"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    json::Value v = Call("POST", "/x402/verify", merchant_, c.body, 200);
    EXPECT_EQ(Member(v, "isValid").as_bool(), false) << json::Write(v);
    EXPECT_EQ(StringField(v, "invalidReason"), "invalid_exact_evm_transaction_simulation_failed");
    EXPECT_EQ(StringField(v, "invalidMessage"), c.message);
    const Reply settled = Send("POST", "/x402/settle", merchant_, c.body);
    ASSERT_EQ(settled.status, 200) << settled.body;
    EXPECT_EQ(Member(settled.json, "success").as_bool(), false) << settled.body;
    EXPECT_EQ(StringField(settled.json, "errorReason"),
              "invalid_exact_evm_transaction_simulation_failed");
    EXPECT_EQ(BalanceOf(from, kSepoliaUsdcAsset), "30000");
  }
  // The unchanged vector still pays: the refusals wrote nothing, not even its nonce.
  const Reply paid = Send("POST", "/x402/settle", merchant_, json::Write(original));
  EXPECT_EQ(Member(paid.json, "success").as_bool(), true) << paid.body;
  EXPECT_EQ(BalanceOf(from, kSepoliaUsdcAsset), "20000");
}

TEST_F(X402ApiTest, MalformedRequestsAreProblemsAndChangeNothing) {
  Boot(kVectorClock);
  const json::Value vec = LoadVector("vector_v2_base_sepolia_usdc_10000");
  json::Value request = Member(Member(vec, "facilitatorRequests"), "POST /verify");
  const std::string body = json::Write(request);
  struct Case {
    std::string path, token, body;
    int status;
    std::string type;
  };
  json::Value no_requirements = request;
  no_requirements.Set("paymentRequirements", json::Value::Null());
  const std::vector<Case> cases = {
      {"/x402/verify", merchant_, "{not json", 400, "malformed-json"},
      {"/x402/settle", merchant_, json::Write(no_requirements), 400, "x402-request-invalid"},
      {"/x402/settle", merchant_, "[]", 400, "x402-request-invalid"},
      {"/x402/settle", "", body, 401, ""},
      {"/x402/settle", admin_ + "x", body, 401, ""},
  };
  const std::string from = "eip155:84532:0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
  Deposit(from, kSepoliaUsdcAsset, "10000");
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path + " " + c.body);
    Reply r = Send("POST", c.path, c.token, c.body);
    EXPECT_EQ(r.status, c.status) << r.body;
    if (!c.type.empty()) {
      EXPECT_EQ(StringField(r.json, "type"), kProblem + c.type) << r.body;
    }
  }
  EXPECT_EQ(BalanceOf(from, kSepoliaUsdcAsset), "10000");

  // A payment that fails a check is an answer, not an error: 200 with the reference's reason.
  json::Value tampered = request;
  tampered.Find("paymentRequirements")->Set("payTo", json::Value::String(
      "0x1111111111111111111111111111111111111111"));
  tampered.Find("paymentPayload")->Find("accepted")->Set("payTo", json::Value::String(
      "0x1111111111111111111111111111111111111111"));
  json::Value s = Call("POST", "/x402/settle", merchant_, json::Write(tampered), 200);
  EXPECT_EQ(Member(s, "success").as_bool(), false);
  EXPECT_EQ(StringField(s, "errorReason"), "invalid_exact_evm_recipient_mismatch");
  EXPECT_EQ(StringField(s, "transaction"), "");
  EXPECT_EQ(BalanceOf(from, kSepoliaUsdcAsset), "10000");
}

// ---- Payer ----

TEST_F(X402ApiTest, PayerSignsInsideTheMandateOncePerKeyAndSettlementCapturesIt) {
  Boot(1795000000);
  const Buyer buyer = FundedBuyer();
  const std::string &agent = buyer.agent, &s = buyer.session, &m = buyer.mandate,
                    &payer_account = buyer.account;

  for (int version : {1, 2}) {
    SCOPED_TRACE("x402 v" + std::to_string(version));
    const std::string key = NextKey();
    const std::string body = PayBody(m, PaymentRequired(version, "12000"));
    const Reply first = Send("POST", "/v1/x402/pay", s, body, key);
    ASSERT_EQ(first.status, 201) << first.body;
    EXPECT_EQ(StringField(first.json, "decision"), "allowed");
    EXPECT_EQ(StringField(first.json, "header"), version == 1 ? "X-PAYMENT" : "PAYMENT-SIGNATURE");
    const std::string atz = StringField(first.json, "authorization_id");
    // The header is the payload, base64 of its JSON.
    Result<json::Value> decoded = settlement::DecodeHeaderJson(StringField(first.json, "value"));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(json::Write(*decoded), json::Write(Member(first.json, "payment_payload")));
    const json::Value& auth = Member(Member(*decoded, "payload"), "authorization");
    EXPECT_EQ(StringField(auth, "from"), address_[agent]);
    EXPECT_EQ(Lower(StringField(auth, "to")), kPayTo);
    EXPECT_EQ(StringField(auth, "value"), "12000");

    // A retry with the same key: the same payment, byte for byte; no second authorization.
    const Reply retry = Send("POST", "/v1/x402/pay", s, body, key);
    EXPECT_EQ(retry.status, 201);
    EXPECT_EQ(retry.replayed, "true");
    EXPECT_EQ(retry.body, first.body);
    // The key is checked before the body: reused with another body, even an unparseable one,
    // it is 422; a malformed body under a fresh key is refused without using the key up.
    const Reply reused = Send("POST", "/v1/x402/pay", s, "{", key);
    EXPECT_EQ(reused.status, 422) << reused.body;
    EXPECT_EQ(StringField(reused.json, "type"), std::string(kProblem) + "idempotency-key-reused");
    const std::string fresh = NextKey();
    EXPECT_EQ(Send("POST", "/v1/x402/pay", s, "{", fresh).status, 400);
    const Reply again = Send("POST", "/v1/x402/pay", s, "{", fresh);
    EXPECT_EQ(again.status, 400);
    EXPECT_NE(again.replayed, "true");  // not recorded: the key is still fresh

    // Our facilitator verifies and settles it; the reservation is captured for the amount.
    const std::string fbody = FacilitatorBody(first.json);
    json::Value v = Call("POST", "/x402/verify", merchant_, fbody, 200);
    EXPECT_EQ(json::Write(v), R"({"isValid":true,"payer":")" + address_[agent] + R"("})");
    json::Value settled = Call("POST", "/x402/settle", merchant_, fbody, 200);
    EXPECT_EQ(Member(settled, "success").as_bool(), true) << json::Write(settled);
    json::Value record = Call("GET", base_ + "/authorizations/" + atz, admin_, "", 200);
    EXPECT_EQ(StringField(Member(record, "reservation"), "state"), "captured") << json::Write(record);
    EXPECT_EQ(StringField(Member(record, "reservation"), "captured"), "12000");
  }
  EXPECT_EQ(BalanceOf(payer_account, kSepoliaUsdcAsset), "76000");
  EXPECT_EQ(BalanceOf("eip155:84532:" + std::string(kPayTo), kSepoliaUsdcAsset), "24000");

  // The 402 answer's resource URL is matched as a purchase body's would be: its host in any
  // case matches the mandate's pattern. A path a purchase body could not state (one a server
  // could resolve elsewhere) makes the requirement unusable: 422, nothing held or recorded.
  const std::string scoped = Issue(agent, SepoliaTerms("50000").insert(
      SepoliaTerms("50000").find(R"("networks")"),
      R"("resources":{"allow":["https://api.shop.example/premium"]},)"));
  auto asking = [&](const std::string& url) {
    std::string asked = PaymentRequired(2, "1000");
    const std::string from = "https://api.shop.example/premium";
    asked.replace(asked.find(from), from.size(), url);
    return asked;
  };
  const Reply upper = Send("POST", "/v1/x402/pay", s,
                           PayBody(scoped, asking("https://API.Shop.Example/premium")), NextKey());
  EXPECT_EQ(StringField(upper.json, "decision"), "allowed") << upper.body;
  for (const std::string url : {"https://api.shop.example/x/..;/premium",
                                "https://api.shop.example/a%2Fb"}) {
    SCOPED_TRACE(url);
    const Reply r = Send("POST", "/v1/x402/pay", s, PayBody(scoped, asking(url)), NextKey());
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(StringField(r.json, "type"), std::string(kProblem) + "x402-no-acceptable-requirement");
    EXPECT_NE(StringField(r.json, "detail").find("/payment_required/accepts/0: the resource"),
              std::string::npos) << r.body;
  }
  // An empty EIP-712 name or version (what every verifier refuses as a missing domain): nothing
  // to sign, so nothing is held.
  for (const std::string field : {R"("name":"USDC")", R"("version":"2")"}) {
    SCOPED_TRACE(field);
    std::string asked = PaymentRequired(2, "1000");
    const size_t at = asked.find(field);
    ASSERT_NE(at, std::string::npos) << asked;
    asked.replace(at, field.size(), field.substr(0, field.find(':') + 1) + "\"\"");
    const Reply r = Send("POST", "/v1/x402/pay", s, PayBody(scoped, asked), NextKey());
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_NE(StringField(r.json, "detail").find("extra.name and extra.version"),
              std::string::npos) << r.body;
  }
  const json::Value listed =
      Call("GET", base_ + "/authorizations?mandate=" + scoped, admin_, "", 200);
  EXPECT_EQ(Member(listed, "items").items().size(), 1u) << json::Write(listed);  // the allowed one

  // A v2 402 answer's extensions are echoed in the payload, where the reference client puts
  // them (between payload and resource), and the payment still verifies.
  const std::string ext = R"({"bazaar":{"info":{"input":{"type":"http","method":"GET"}},"schema":{"type":"object"}}})";
  std::string required = PaymentRequired(2, "1000");
  required.insert(required.size() - 1, R"(,"extensions":)" + ext);
  const Reply with_ext = Send("POST", "/v1/x402/pay", s, PayBody(m, required), NextKey());
  ASSERT_EQ(with_ext.status, 201) << with_ext.body;
  const json::Value& payload = Member(with_ext.json, "payment_payload");
  EXPECT_EQ(payload.keys(), (std::vector<std::string>{"x402Version", "payload", "extensions",
                                                      "resource", "accepted"}));
  EXPECT_EQ(json::Write(Member(payload, "extensions")), ext);
  EXPECT_EQ(json::Write(Call("POST", "/x402/verify", merchant_, FacilitatorBody(with_ext.json), 200)),
            R"({"isValid":true,"payer":")" + address_[agent] + R"("})");
}

TEST_F(X402ApiTest, PayerRefusesRequirementsOutsideTheMandateAndSignsNothing) {
  Boot(1795000000);
  const std::string agent = NewCustodialAgent("buyer");
  const std::string s = Session(agent);
  const std::string m = Issue(agent, SepoliaTerms("50000"));
  struct Case {
    std::string what, payment_required, code;
  };
  const std::vector<Case> cases = {
      {"asset", PaymentRequired(2, "1000", kPayTo, "", "0x1c7d4b196cb0c7b01d743fbc6116a902379c7238"),
       "asset-not-allowed"},
      {"network", PaymentRequired(2, "1000", kPayTo, "eip155:8453"), "network-not-allowed"},
      {"payee", PaymentRequired(1, "1000", "0x2222222222222222222222222222222222222222"),
       "payee-not-allowed"},
      {"amount above the per-payment ceiling", PaymentRequired(2, "50001"), "amount-above-maximum"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const Reply r = Send("POST", "/v1/x402/pay", s, PayBody(m, c.payment_required), NextKey());
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(StringField(r.json, "decision"), "denied");
    EXPECT_EQ(r.json.Find("value"), nullptr) << "signed a payment it refused: " << r.body;
    EXPECT_EQ(r.json.Find("payment_payload"), nullptr);
    std::vector<std::string> codes;
    for (const json::Value& reason : Member(Member(r.json, "authorization"), "reasons").items()) {
      codes.push_back(StringField(reason, "code"));
    }
    EXPECT_NE(std::find(codes.begin(), codes.end(), c.code), codes.end())
        << c.code << " not in " << r.body;
  }
  // Nothing payable at all: a problem naming why each requirement was skipped.
  const Reply none = Send(
      "POST", "/v1/x402/pay", s,
      PayBody(m, R"({"x402Version":2,"accepts":[{"scheme":"upto","network":"eip155:84532","amount":"1","asset":")" +
                     std::string(kUsdcSepolia) + R"(","payTo":")" + kPayTo +
                     R"(","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}}]})"),
      NextKey());
  EXPECT_EQ(none.status, 422) << none.body;
  EXPECT_EQ(StringField(none.json, "type"), std::string(kProblem) + "x402-no-acceptable-requirement");
  EXPECT_NE(StringField(none.json, "detail").find("scheme upto"), std::string::npos) << none.body;
  // An amount of 0 is no payment: nothing is held (it would take one of the mandate's uses for a
  // payment no facilitator settles).
  const Reply zero = Send("POST", "/v1/x402/pay", s, PayBody(m, PaymentRequired(2, "0")), NextKey());
  EXPECT_EQ(zero.status, 422) << zero.body;
  EXPECT_EQ(StringField(zero.json, "type"), std::string(kProblem) + "x402-no-acceptable-requirement");
  EXPECT_NE(StringField(zero.json, "detail").find("/payment_required/accepts/0: an amount of 0 is no payment"),
            std::string::npos) << zero.body;
}

TEST_F(X402ApiTest, UnsettledPaymentLapsesWithItsHoldAndCanNoLongerSettle) {
  Boot(1795000000);
  const std::string agent = NewCustodialAgent("buyer");
  const std::string s = Session(agent);
  const std::string m = Issue(agent, SepoliaTerms("50000"));
  Deposit("eip155:84532:" + Lower(address_[agent]), kSepoliaUsdcAsset, "100000");
  const Reply paid = Send("POST", "/v1/x402/pay", s, PayBody(m, PaymentRequired(2, "9000")), NextKey());
  ASSERT_EQ(paid.status, 201) << paid.body;
  const std::string atz = StringField(paid.json, "authorization_id");
  // The payment is valid for the requirement's 60 s, well inside the hold's lease.
  EXPECT_EQ(StringField(paid.json, "valid_before"), std::to_string(1795000000 + 60));
  auto spent = [&] { return DaySpent(m); };
  EXPECT_EQ(spent(), "9000");

  // Past the lease: the hold is released, and the payment has expired with it.
  clock_->AdvanceSeconds(601);
  EXPECT_EQ(spent(), "0");
  json::Value settled = Call("POST", "/x402/settle", merchant_, FacilitatorBody(paid.json), 200);
  EXPECT_EQ(Member(settled, "success").as_bool(), false);
  EXPECT_EQ(StringField(settled, "errorReason"),
            "invalid_exact_evm_payload_authorization_valid_before");
  json::Value record = Call("GET", base_ + "/authorizations/" + atz, admin_, "", 200);
  EXPECT_EQ(StringField(Member(record, "reservation"), "state"), "expired");
  EXPECT_EQ(BalanceOf("eip155:84532:" + Lower(address_[agent]), kSepoliaUsdcAsset), "100000");
}

// A hold under a payment the payer signed is neither released nor captured by the agent or an
// admin while that payment can settle: a void (or a capture for less) then would let the
// payment move money no counter holds. Past the payment's validBefore the
// void goes through and the payment can no longer settle.
TEST_F(X402ApiTest, SignedPaymentsHoldIsNotVoidedWhileThePaymentCanSettle) {
  Boot(1795000000);
  const Buyer buyer = FundedBuyer();
  const std::string &s = buyer.session, &m = buyer.mandate, &payer_account = buyer.account;
  auto spent = [&] { return DaySpent(m); };
  auto void_as = [&](const std::string& who, const std::string& atz) {
    const std::string path = who == s ? "/v1/authorizations/" + atz + "/void"
                                      : base_ + "/authorizations/" + atz + "/void";
    return Send("POST", path, who, "", NextKey());
  };

  // Paid, then the agent (and an admin) try to void it before the merchant settles: refused.
  const Reply paid = Send("POST", "/v1/x402/pay", s, PayBody(m, PaymentRequired(2, "9000")), NextKey());
  ASSERT_EQ(paid.status, 201) << paid.body;
  const std::string atz = StringField(paid.json, "authorization_id");
  EXPECT_EQ(StringField(paid.json, "valid_before"), std::to_string(1795000000 + 60));
  for (const std::string& who : {s, admin_}) {
    const Reply refused = void_as(who, atz);
    EXPECT_EQ(refused.status, 409) << refused.body;
    EXPECT_EQ(StringField(refused.json, "type"), std::string(kProblem) + "payment-signed");
    // Nor captured by them: a capture of 1 would count 1 for the 9000 the payment then moves.
    const std::string capture = who == s ? "/v1/authorizations/" + atz + "/capture"
                                         : base_ + "/authorizations/" + atz + "/capture";
    const Reply small = Send("POST", capture, who, R"({"amount":"1"})", NextKey());
    EXPECT_EQ(small.status, 409) << small.body;
    EXPECT_EQ(StringField(small.json, "type"), std::string(kProblem) + "payment-signed");
  }
  EXPECT_EQ(spent(), "9000");
  // The merchant settles: the hold is captured, and the money is counted.
  json::Value settled = Call("POST", "/x402/settle", merchant_, FacilitatorBody(paid.json), 200);
  ASSERT_EQ(Member(settled, "success").as_bool(), true) << json::Write(settled);
  EXPECT_EQ(StringField(Member(Call("GET", base_ + "/authorizations/" + atz, admin_, "", 200),
                               "reservation"),
                        "state"),
            "captured");
  EXPECT_EQ(spent(), "9000");

  // Another payment that is never presented: void is refused until its validBefore, then goes
  // through (before the hold's own lease ends), and the payment can no longer settle.
  const Reply unused =
      Send("POST", "/v1/x402/pay", s, PayBody(m, PaymentRequired(2, "7000")), NextKey());
  ASSERT_EQ(unused.status, 201) << unused.body;
  const std::string unused_atz = StringField(unused.json, "authorization_id");
  EXPECT_EQ(void_as(s, unused_atz).status, 409);
  EXPECT_EQ(spent(), "16000");
  clock_->AdvanceSeconds(60);  // now == validBefore: the facilitator refuses it from here on
  const Reply voided = void_as(s, unused_atz);
  ASSERT_EQ(voided.status, 200) << voided.body;
  EXPECT_EQ(StringField(Member(voided.json, "reservation"), "state"), "voided");
  EXPECT_EQ(spent(), "9000");
  json::Value late = Call("POST", "/x402/settle", merchant_, FacilitatorBody(unused.json), 200);
  EXPECT_EQ(Member(late, "success").as_bool(), false);
  EXPECT_EQ(StringField(late, "errorReason"), "invalid_exact_evm_payload_authorization_valid_before");
  EXPECT_EQ(BalanceOf(payer_account, kSepoliaUsdcAsset), "91000");
}

// Keys are the agent's, its sessions' alike; but a session limited to other mandates gets no
// payment signed under a mandate it may not use by replaying another session's key and body.
TEST_F(X402ApiTest, AReplayedPayKeySignsNothingOutsideTheSessionsMandates) {
  Boot(1795000000);
  const std::string agent = NewCustodialAgent("buyer");
  const std::string m1 = Issue(agent, SepoliaTerms("50000"));
  const std::string m2 = Issue(agent, SepoliaTerms("50000"));
  Deposit("eip155:84532:" + Lower(address_[agent]), kSepoliaUsdcAsset, "100000");
  const std::string wide = Session(agent);
  const std::string narrow = StringField(
      Call("POST", base_ + "/agents/" + agent + "/sessions", admin_,
           R"({"task":"pay","mandates":[")" + m2 + R"("]})", 201),
      "token");
  const std::string body = PayBody(m1, PaymentRequired(2, "9000"));
  const Reply paid = Send("POST", "/v1/x402/pay", wide, body, "pay-key-1");
  ASSERT_EQ(paid.status, 201) << paid.body;
  const Reply replay = Send("POST", "/v1/x402/pay", narrow, body, "pay-key-1");
  EXPECT_EQ(replay.status, 403) << replay.body;
  EXPECT_EQ(StringField(replay.json, "type"), std::string(kProblem) + "mandate-out-of-scope");
  EXPECT_EQ(replay.body.find("payment_payload"), std::string::npos) << replay.body;
  // The session that paid gets its answer again.
  const Reply again = Send("POST", "/v1/x402/pay", wide, body, "pay-key-1");
  EXPECT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(StringField(again.json, "authorization_id"), StringField(paid.json, "authorization_id"));
}

// The hold guard judges validBefore by the clock the facilitator judges it by: after the wall
// clock stepped back, the principal's time (which never runs back) is ahead of it, and a void
// judged by that time went through while the facilitator still settled the payment, which then
// moved money no counter held.
TEST_F(X402ApiTest, ASignedPaymentsHoldStaysWhileTheWallClockSaysItCanSettle) {
  Boot(1795000000);
  const Buyer buyer = FundedBuyer();
  const std::string &s = buyer.session, &m = buyer.mandate;
  const Reply paid = Send("POST", "/v1/x402/pay", s, PayBody(m, PaymentRequired(2, "9000")), NextKey());
  ASSERT_EQ(paid.status, 201) << paid.body;
  const std::string atz = StringField(paid.json, "authorization_id");
  EXPECT_EQ(StringField(paid.json, "valid_before"), std::to_string(1795000000 + 60));
  clock_->AdvanceSeconds(60);  // another decision moves the principal's time to validBefore
  ASSERT_EQ(Send("POST", "/v1/x402/pay", s, PayBody(m, PaymentRequired(2, "1")), NextKey()).status,
            201);
  clock_->StepWallClockBackSeconds(30);  // the facilitator would settle the first until +54
  const Reply refused = Send("POST", "/v1/authorizations/" + atz + "/void", s, "", NextKey());
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_EQ(StringField(refused.json, "type"), std::string(kProblem) + "payment-signed");
  json::Value settled = Call("POST", "/x402/settle", merchant_, FacilitatorBody(paid.json), 200);
  ASSERT_EQ(Member(settled, "success").as_bool(), true) << json::Write(settled);
  EXPECT_EQ(StringField(Member(Call("GET", base_ + "/authorizations/" + atz, admin_, "", 200),
                               "reservation"),
                        "state"),
            "captured");
}

// Paying an approved authorization checks what a decision checks of the caller and the chain
// again, and the payment's window starts at the approval, not at the request.
TEST_F(X402ApiTest, ApprovedAuthorizationIsPaidInScopeWhileItsMandateHoldsFromTheApproval) {
  Boot(1795000000);
  const std::string agent = NewCustodialAgent("buyer");
  const std::string step_up = std::string(R"(,"step_up":{"above":[{"asset":")") +
                              kSepoliaUsdcAsset + R"(","amount":"5000"}]})";
  const std::string m = Issue(agent, SepoliaTerms("50000", step_up));
  const std::string other = Issue(agent, SepoliaTerms("50000"));
  const std::string s = Session(agent);
  Deposit("eip155:84532:" + Lower(address_[agent]), kSepoliaUsdcAsset, "100000");
  const std::string required = PaymentRequired(2, "8000");
  auto ask = [&] {
    const Reply asked = Send("POST", "/v1/x402/pay", s, PayBody(m, required), NextKey());
    EXPECT_EQ(StringField(asked.json, "decision"), "approval_required") << asked.body;
    return std::make_pair(
        StringField(asked.json, "authorization_id"),
        StringField(Member(Member(asked.json, "authorization"), "approval"), "id"));
  };
  auto pay_body = [&](const std::string& atz) {
    return R"({"authorization_id":")" + atz + R"(","payment_required":)" + required + "}";
  };

  // Approved two minutes after the request: the payment is valid for 60 s from the approval.
  const auto [atz, apr] = ask();
  clock_->AdvanceSeconds(120);
  Call("POST", base_ + "/approvals/" + apr + "/approve", admin_, R"({"note":"ok"})", 200, NextKey());
  // A session limited to the other mandate may not pay it, and signs nothing.
  const std::string scoped = StringField(
      Call("POST", base_ + "/agents/" + agent + "/sessions", admin_,
           R"({"task":"pay","mandates":[")" + other + R"("]})", 201),
      "token");
  const Reply out_of_scope = Send("POST", "/v1/x402/pay", scoped, pay_body(atz), NextKey());
  EXPECT_EQ(out_of_scope.status, 403) << out_of_scope.body;
  EXPECT_EQ(StringField(out_of_scope.json, "type"), std::string(kProblem) + "mandate-out-of-scope");
  EXPECT_EQ(out_of_scope.json.Find("value"), nullptr);
  const Reply paid = Send("POST", "/v1/x402/pay", s, pay_body(atz), NextKey());
  ASSERT_EQ(paid.status, 200) << paid.body;
  EXPECT_EQ(StringField(paid.json, "valid_before"), std::to_string(1795000000 + 120 + 60));
  json::Value v = Call("POST", "/x402/verify", merchant_, FacilitatorBody(paid.json), 200);
  EXPECT_EQ(Member(v, "isValid").as_bool(), true) << json::Write(v);
  // Asked again with another key: the same payment; with another timeout (another payment
  // under the same nonce): refused, nothing signed.
  const Reply again = Send("POST", "/v1/x402/pay", s, pay_body(atz), NextKey());
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(StringField(again.json, "value"), StringField(paid.json, "value"));
  std::string longer = pay_body(atz);
  const size_t timeout = longer.find(R"("maxTimeoutSeconds":60)");
  ASSERT_NE(timeout, std::string::npos);
  longer.replace(timeout, 22, R"("maxTimeoutSeconds":90)");
  const Reply second = Send("POST", "/v1/x402/pay", s, longer, NextKey());
  EXPECT_EQ(second.status, 409) << second.body;
  EXPECT_EQ(StringField(second.json, "type"), std::string(kProblem) + "x402-payment-signed");
  EXPECT_EQ(second.json.Find("value"), nullptr);
  // Once paid, the session limited to the other mandate still gets neither the signed header
  // nor the record (before, the existing binding skipped the scope check).
  const Reply scoped_after = Send("POST", "/v1/x402/pay", scoped, pay_body(atz), NextKey());
  EXPECT_EQ(scoped_after.status, 403) << scoped_after.body;
  EXPECT_EQ(StringField(scoped_after.json, "type"), std::string(kProblem) + "mandate-out-of-scope");
  EXPECT_EQ(scoped_after.json.Find("value"), nullptr);
  EXPECT_EQ(scoped_after.json.Find("authorization"), nullptr);
  // A retry of a request that waited for a person, once the person denied it: the decision and
  // the authorization as they stand, not the pending record beside a denied decision.
  const std::string waited_key = NextKey();
  const Reply waited = Send("POST", "/v1/x402/pay", s, PayBody(m, required), waited_key);
  ASSERT_EQ(StringField(waited.json, "decision"), "approval_required") << waited.body;
  const std::string apr3 =
      StringField(Member(Member(waited.json, "authorization"), "approval"), "id");
  Call("POST", base_ + "/approvals/" + apr3 + "/deny", admin_, R"({"note":"no"})", 200, NextKey());
  const Reply after_denial = Send("POST", "/v1/x402/pay", s, PayBody(m, required), waited_key);
  EXPECT_EQ(StringField(after_denial.json, "decision"), "denied") << after_denial.body;
  EXPECT_EQ(StringField(Member(after_denial.json, "authorization"), "decision"), "denied")
      << after_denial.body;
  EXPECT_EQ(after_denial.json.Find("value"), nullptr);

  // Approved, then the mandate is revoked before the agent pays: nothing is signed.
  const auto [atz2, apr2] = ask();
  Call("POST", base_ + "/approvals/" + apr2 + "/approve", admin_, R"({"note":"ok"})", 200, NextKey());
  Call("POST", base_ + "/mandates/" + m + "/revoke", admin_, "", 200);
  const std::string revoked_key = NextKey();
  const Reply revoked = Send("POST", "/v1/x402/pay", s, pay_body(atz2), revoked_key);
  EXPECT_EQ(revoked.status, 409) << revoked.body;
  EXPECT_EQ(StringField(revoked.json, "type"), std::string(kProblem) + "mandate-state");
  EXPECT_EQ(revoked.json.Find("value"), nullptr);
  // The refusal names the held authorization, and a retry answers it again (the key keeps the
  // recorded decision, rendered anew), never a payment.
  EXPECT_EQ(StringField(revoked.json, "detail").rfind("authorization " + atz2 + " is held", 0), 0u)
      << revoked.body;
  const Reply retried = Send("POST", "/v1/x402/pay", s, pay_body(atz2), revoked_key);
  EXPECT_EQ(retried.status, 409) << retried.body;
  EXPECT_EQ(StringField(retried.json, "type"), std::string(kProblem) + "mandate-state");
  EXPECT_EQ(retried.json.Find("value"), nullptr);
}

// Issue 7's purchase trail: delegation, step-up approval, payment, settlement and capture, in
// order, in a bundle that verifies offline.
TEST_F(X402ApiTest, DelegatedApprovedPaymentSettlesAndItsTrailVerifiesOffline) {
  Boot(1795000000);
  const std::string planner = NewCustodialAgent("planner");
  const std::string agent = NewCustodialAgent("buyer");
  const std::string root = Issue(planner, SepoliaTerms("50000"));
  // The planner delegates to the buyer, adding a step-up above 5000.
  const std::string step_up = std::string(R"(,"step_up":{"above":[{"asset":")") +
                              kSepoliaUsdcAsset + R"(","amount":"5000"}]})";
  const std::string m = Issue(agent, SepoliaTerms("50000", step_up), root, Session(planner));
  const std::string s = Session(agent);
  Deposit("eip155:84532:" + Lower(address_[agent]), kSepoliaUsdcAsset, "100000");
  const std::string required = PaymentRequired(2, "8000");
  const Reply asked = Send("POST", "/v1/x402/pay", s, PayBody(m, required), NextKey());
  ASSERT_EQ(asked.status, 201) << asked.body;
  ASSERT_EQ(StringField(asked.json, "decision"), "approval_required") << asked.body;
  EXPECT_EQ(asked.json.Find("value"), nullptr);
  const std::string atz = StringField(asked.json, "authorization_id");
  const std::string apr = StringField(Member(Member(asked.json, "authorization"), "approval"), "id");
  Call("POST", base_ + "/approvals/" + apr + "/approve", admin_, R"({"note":"ok"})", 200, NextKey());

  const Reply paid = Send("POST", "/v1/x402/pay", s,
                          R"({"authorization_id":")" + atz + R"(","payment_required":)" + required + "}",
                          NextKey());
  ASSERT_EQ(paid.status, 200) << paid.body;
  EXPECT_EQ(StringField(paid.json, "decision"), "allowed");
  json::Value settled = Call("POST", "/x402/settle", merchant_, FacilitatorBody(paid.json), 200);
  ASSERT_EQ(Member(settled, "success").as_bool(), true) << json::Write(settled);

  const std::string auditor = StringField(
      Call("POST", base_ + "/credentials", kOperatorToken, R"({"role":"auditor","name":"audit"})", 201),
      "token");
  json::Value trail = Call("GET", "/v1/audit/trail?authorization=" + atz, auditor, "", 200);
  std::vector<std::string> types;
  for (const json::Value& item : Member(trail, "items").items()) {
    Result<json::Value> e = json::Parse(StringField(item, "event"));
    ASSERT_TRUE(e.ok());
    std::string type = StringField(*e, "type");
    if (type == "agent.created") type += " " + StringField(Member(*e, "subjects"), "agent");
    if (type == "mandate.issued") type += " " + StringField(Member(*e, "subjects"), "mandate");
    if (type == "payment.settled") {
      // What was paid and settled, tied to the authorization.
      EXPECT_EQ(StringField(Member(*e, "data"), "amount"), "8000");
      EXPECT_EQ(StringField(Member(*e, "subjects"), "authorization"), atz);
      // The usage event the payment is metered as, so a recount from the trail needs nothing
      // else (specs/usage.md §5).
      const json::Value& u = Member(Member(*e, "data"), "usage");
      EXPECT_EQ(StringField(u, "id").rfind("x402:0x", 0), 0u) << json::Write(u);
      EXPECT_EQ(StringField(u, "id").size(), 5u + 66u);
      EXPECT_EQ(StringField(u, "agent"), agent);
      EXPECT_EQ(StringField(u, "mandate"), m);
      EXPECT_EQ(StringField(u, "payee"), kPayTo);
      EXPECT_EQ(StringField(u, "asset"), kSepoliaUsdcAsset);
      EXPECT_EQ(StringField(u, "amount"), "8000");
      EXPECT_EQ(StringField(u, "resource"), "https://api.shop.example/premium");
      EXPECT_EQ(Member(u, "at").as_int64(), Member(*e, "data").Find("at")->as_int64());
    }
    types.push_back(type);
  }
  const std::vector<std::string> want = {
      "agent.created " + agent, "mandate.issued " + root,  "mandate.issued " + m,
      "session.opened",         "authorization.decided",   "approval.approved",
      "payment.settled",        "authorization.captured"};
  EXPECT_EQ(types, want);
  httplib::Result bundle = service_.client().Get("/v1/audit/export?authorization=" + atz,
                                                 {{"Authorization", "Bearer " + auditor}});
  ASSERT_TRUE(bundle && bundle->status == 200) << (bundle ? bundle->body : "");
  audit::BundleVerifyOptions o;
  o.verifier_key = StringField(Call("GET", "/v1/audit/key", auditor, "", 200), "verifier_key");
  audit::BundleReport report = audit::VerifyBundle(bundle->body, o);
  EXPECT_TRUE(report.ok()) << (report.findings.empty() ? "" : report.findings[0].code);
  EXPECT_EQ(report.events, want.size());
}

}  // namespace
}  // namespace mandated
