// On-chain settlement end to end (issue 9, specs/evm.md §6): the real server binary over loopback
// with an evm backend pointed at a real anvil node running our EIP-3009 token and batch settler
// (tests/support/anvil_chain.h). An agent pays through /v1/x402/pay, the merchant verifies and
// settles through /x402/verify and /x402/settle, and the chain is checked: balances, nonces,
// transaction counts.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/amount.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/secret.h"
#include "mandates/credential.h"
#include "settlement/x402_wire.h"
#include "signer/ethereum.h"
#include "signer/recoverable.h"
#include "tests/support/anvil_chain.h"
#include "tests/support/http_json.h"
#include "tests/support/sanitizers.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

// CI must run against a real anvil node (scripts/test.sh installs it with `npm ci` in
// tests/interop): there a missing one fails the test; elsewhere it skips it.
bool InCi() {
  for (const char* v : {"CI", "MANDATED_CI"}) {
    const char* s = getenv(v);
    if (s != nullptr && *s != '\0' && std::string(s) != "0") return true;
  }
  return false;
}

using testing::AnvilChain;
using testing::Reply;
using testing::StringField;

constexpr char kOperatorToken[] = "onchain-test-operator-token-5d21c7";
// The merchant's address (anvil's account 2; any address would do).
constexpr char kPayTo[] = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc";

const json::Value& Member(const json::Value& v, const char* key) {
  static const json::Value kNull;
  const json::Value* m = v.is_object() ? v.Find(key) : nullptr;
  return m != nullptr ? *m : kNull;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct EvmSettings {
  std::string network = "eip155:84532";  // the network the evm backend settles
  std::string deferred_below;  // "" = no deferred settlement
  int64_t settle_wait_ms = 30000;
  int batch_max = 200;
};

class OnchainTest : public ::testing::Test {
 protected:
  // Starts anvil (with `o`), then the server with an evm backend for eip155:84532 on it.
  void Boot(AnvilChain::Options o, EvmSettings e = {}) {
    if (!AnvilChain::Available()) {
      const char* missing = "anvil / node / solc missing in tests/interop (npm ci there)";
      if (InCi()) FAIL() << missing;
      GTEST_SKIP() << missing;
    }
    chain_ = std::make_unique<AnvilChain>(std::move(o));
    ASSERT_TRUE(chain_->Start()) << chain_->error();
    json::Value net = json::Value::Object();
    net.Set("backend", json::Value::String("evm"));
    net.Set("rpc_url", json::Value::String(chain_->rpc_url()));
    json::Value tokens = json::Value::Array();
    tokens.Append(json::Value::String(chain_->token()));
    net.Set("tokens", std::move(tokens));
    net.Set("confirmations", json::Value::Int(1));
    net.Set("batch_settler", json::Value::String(chain_->batch_settler()));
    if (!e.deferred_below.empty()) net.Set("deferred_below", json::Value::String(e.deferred_below));
    net.Set("settle_wait_ms", json::Value::Int(e.settle_wait_ms));
    net.Set("batch_max", json::Value::Int(e.batch_max));
    json::Value nets = json::Value::Object();
    nets.Set(e.network, std::move(net));
    json::Value cfg = json::Value::Object();
    cfg.Set("networks", std::move(nets));
    cfg.Set("track_interval_ms", json::Value::Int(200));
    cfg.Set("flush_interval_s", json::Value::Int(0));  // flushed by the test
    std::ofstream(dir_.Sub("settlement.json")) << json::Write(cfg);
    server_ = std::make_unique<testing::ServerProcess>(
        dir_.Sub("data"), std::map<std::string, std::string>{{"MANDATED_BOOTSTRAP_TOKEN", kOperatorToken}},
        std::vector<std::string>{"--settlement-config", dir_.Sub("settlement.json"),
                                 "--rate-limits", "merchant=100000/100000,agent=100000/100000"});
    ASSERT_TRUE(server_->Start()) << server_->Stderr();
    // The facilitator account the server logged pays gas: fund it.
    std::smatch m;
    const std::string err = server_->Stderr();
    ASSERT_TRUE(std::regex_search(err, m, std::regex("\"facilitator\":\"(0x[0-9a-fA-F]{40})\"")))
        << err;
    facilitator_ = m[1];
    chain_->SetEthBalance(facilitator_, "0x56bc75e2d63100000");  // 100 ETH
    client_ = std::make_unique<httplib::Client>(server_->host(), server_->port());
    client_->set_read_timeout(120, 0);
    const testing::PrincipalWithAdmin p =
        testing::CreatePrincipalWithAdmin(*client_, kOperatorToken, R"({"name":"Chain Corp"})");
    base_ = p.base;
    admin_ = p.admin;
    merchant_ = StringField(Call("POST", base_ + "/credentials", kOperatorToken,
                                 R"({"role":"merchant","name":"shop"})", 201),
                            "token");
    auditor_ = StringField(Call("POST", base_ + "/credentials", kOperatorToken,
                                R"({"role":"auditor","name":"audit"})", 201),
                           "token");
  }

  // The server again on the same data directory (after a kill).
  void Restart() {
    ASSERT_TRUE(server_->Start()) << server_->Stderr();
    client_ = std::make_unique<httplib::Client>(server_->host(), server_->port());
    client_->set_read_timeout(120, 0);
  }

  Reply Send(const std::string& method, const std::string& path, const std::string& token,
             const std::string& body, const std::string& key = "") {
    return testing::Send(*client_, method, path, token, body, key);
  }
  json::Value Call(const std::string& method, const std::string& path, const std::string& token,
                   const std::string& body, int want, const std::string& key = "") {
    return testing::Call(*client_, method, path, token, body, want, key);
  }
  std::string NextKey() { return "key-" + std::to_string(++keys_); }
  // How a settle answer says the payment was settled ("deferred", "onchain"; "" when it says
  // nothing).
  static std::string ModeOf(const json::Value& answer) {
    const json::Value* ext = answer.Find("extensions");
    const json::Value* settlement = ext != nullptr ? ext->Find("settlement") : nullptr;
    return settlement != nullptr ? StringField(*settlement, "mode") : std::string();
  }
  // Waits for the next whole second to begin and returns it: what follows at once runs within
  // that second (unless the machine stalls; tests check the time again before relying on it).
  static int64_t AFreshSecond() {
    const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    std::this_thread::sleep_for(std::chrono::milliseconds(1050 - ms % 1000));
    return Now();
  }

  std::string Asset() const { return "eip155:84532/erc20:" + chain_->token(); }

  // An agent with a custodial key, `minted` tokens on chain, a session and a mandate paying
  // kPayTo up to `max` per payment.
  struct Agent {
    std::string id, address, session, mandate;
  };
  Agent NewAgent(const std::string& name, const std::string& minted, const std::string& max) {
    Agent a;
    json::Value created = Call("POST", base_ + "/agents", admin_,
                               R"({"name":")" + name +
                                   R"(","custodial":{"key_type":"secp256k1","chain_id":84532}})",
                               201);
    a.id = StringField(created, "id");
    a.address = StringField(created, "address");
    a.session = StringField(Call("POST", base_ + "/agents/" + a.id + "/sessions", admin_,
                                 R"({"task":"pay"})", 201),
                            "token");
    const std::string terms =
        std::string(R"({"scope":{"payees":{"allow":[{"type":"address","value":")") + kPayTo +
        R"("}]},"assets":{"allow":[")" + Asset() +
        R"("]},"networks":{"allow":["eip155:84532"]}},"limits":{"per_transaction":[{"asset":")" +
        Asset() + R"(","max":")" + max + R"("}],"windows":[{"asset":")" + Asset() +
        R"(","window":"day","kind":"calendar","time_zone":"UTC","max":"100000000"}]}})";
    const std::string body = R"({"agent":")" + a.id + R"(","valid_from":")" +
                             mandates::FormatRfc3339Utc(Now() - 60) + R"(","valid_until":")" +
                             mandates::FormatRfc3339Utc(Now() + 86400) + R"(","terms":)" + terms +
                             "}";
    a.mandate = StringField(Call("POST", base_ + "/mandates", admin_, body, 201), "id");
    if (!minted.empty()) chain_->Mint(a.address, minted);
    return a;
  }

  // The v2 402 answer asking `amount` of the test token for kPayTo.
  std::string PaymentRequired(const std::string& amount) const {
    return R"({"x402Version":2,"error":"Payment required","resource":{"url":"https://api.shop.example/premium","description":"premium","mimeType":"application/json"},"accepts":[{"scheme":"exact","network":"eip155:84532","amount":")" +
           amount + R"(","asset":")" + chain_->token() + R"(","payTo":")" + kPayTo +
           R"(","maxTimeoutSeconds":900,"extra":{"name":"USD Coin","version":"2"}}]})";
  }
  // The agent pays `amount` through our payer; the pay answer.
  json::Value Pay(const Agent& a, const std::string& amount) {
    const Reply r = Send("POST", "/v1/x402/pay", a.session,
                         R"({"mandate_id":")" + a.mandate + R"(","payment_required":)" +
                             PaymentRequired(amount) + "}",
                         NextKey());
    EXPECT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(StringField(r.json, "decision"), "allowed") << r.body;
    return r.json;
  }
  // The /verify and /settle body the merchant builds from the payment header.
  static std::string FacilitatorBody(const json::Value& pay) {
    json::Value body = json::Value::Object();
    body.Set("x402Version", Member(pay, "x402_version"));
    body.Set("paymentPayload", Member(pay, "payment_payload"));
    body.Set("paymentRequirements", Member(pay, "accepted"));
    return json::Write(body);
  }
  // A v2 /verify and /settle body: `payer` (signing in-process: the facilitator does not care
  // who signed) pays `value` of the test token to kPayTo, nonce number `n`, valid until `until`,
  // signed for the EIP-712 domain {name, version} that the requirements' extra names too.
  std::string SignedBody(const testing::DevAccount& payer, uint64_t value, int n, int64_t until,
                         const std::string& name = "USD Coin", const std::string& version = "2",
                         int64_t valid_after = 0) {
    signer::PrivateKey key;
    key.type = signer::KeyType::kSecp256k1;
    const Bytes secret = testing::Hex(payer.private_key);
    key.secret = SecretBytes(ByteSpan(secret.data(), secret.size()));
    settlement::Address from{}, to{}, token{};
    EXPECT_TRUE(signer::ParseAddressInto(payer.address, false, from).ok());
    EXPECT_TRUE(signer::ParseAddressInto(kPayTo, false, to).ok());
    EXPECT_TRUE(signer::ParseAddressInto(chain_->token(), false, token).ok());
    settlement::Authorization3009 auth;
    auth.from = from;
    auth.to = to;
    auth.value = Amount::FromUint64(value);
    auth.valid_after = static_cast<Uint128>(valid_after);
    auth.valid_before = static_cast<Uint128>(until);
    for (size_t b = 0; b < auth.nonce.size(); ++b) {
      auth.nonce[b] = static_cast<uint8_t>((n * 31 + static_cast<int>(b) * 7) & 0xff);
    }
    auth.nonce[0] = static_cast<uint8_t>(n >> 8);
    auth.nonce[1] = static_cast<uint8_t>(n & 0xff);
    const std::array<uint8_t, 32> digest =
        settlement::Eip3009Digest(name, version, chain_->chain_id(), token, auth);
    Result<Bytes> sig = signer::SignDigestRecoverable(key, ByteSpan(digest.data(), digest.size()));
    EXPECT_TRUE(sig.ok());
    const std::string requirements =
        R"({"scheme":"exact","network":"eip155:84532","amount":")" + std::to_string(value) +
        R"(","asset":")" + chain_->token() + R"(","payTo":")" + kPayTo +
        R"(","maxTimeoutSeconds":3600,"extra":{"name":")" + name + R"(","version":")" + version +
        R"("}})";
    const std::string payload =
        R"({"x402Version":2,"payload":{"authorization":{"from":")" + payer.address +
        R"(","to":")" + settlement::AddressText(to) + R"(","value":")" + std::to_string(value) +
        R"(","validAfter":")" + std::to_string(valid_after) + R"(","validBefore":")" +
        std::to_string(until) + R"(","nonce":")" +
        settlement::NonceText(auth.nonce) + R"("},"signature":"0x)" +
        (sig.ok() ? HexEncode(*sig) : std::string()) + R"("},"accepted":)" + requirements + "}";
    return R"({"x402Version":2,"paymentPayload":)" + payload + R"(,"paymentRequirements":)" +
           requirements + "}";
  }
  json::Value Authorization(const std::string& atz) {
    return Call("GET", base_ + "/authorizations/" + atz, admin_, "", 200);
  }
  // The audit events of an authorization's trail, once `type` is among them (the log sequences
  // staged events in the background).
  std::vector<json::Value> TrailWith(const std::string& atz, const std::string& type) {
    std::vector<json::Value> events;
    for (int i = 0; i < 100; ++i) {
      events.clear();
      bool found = false;
      json::Value trail = Call("GET", "/v1/audit/trail?authorization=" + atz, auditor_, "", 200);
      for (const json::Value& item : Member(trail, "items").items()) {
        Result<json::Value> e = json::Parse(StringField(item, "event"));
        if (!e.ok()) continue;
        found = found || StringField(*e, "type") == type;
        events.push_back(*e);
      }
      if (found) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return events;
  }
  // transferWithAuthorization call data for a payment payload (what anyone may submit).
  static std::string TransferCallData(const json::Value& payload) {
    const json::Value& p = Member(payload, "payload");
    const json::Value& a = Member(p, "authorization");
    const std::string sig = testing::StringField(p, "signature").substr(2);
    return "0x" +
           AnvilChain::Selector("transferWithAuthorization(address,address,uint256,uint256,uint256,"
                                "bytes32,uint8,bytes32,bytes32)") +
           AnvilChain::Word(StringField(a, "from")) + AnvilChain::Word(StringField(a, "to")) +
           AnvilChain::WordOfDecimal(StringField(a, "value")) +
           AnvilChain::WordOfDecimal(StringField(a, "validAfter")) +
           AnvilChain::WordOfDecimal(StringField(a, "validBefore")) +
           AnvilChain::Word(StringField(a, "nonce")) + AnvilChain::Word(sig.substr(128, 2)) +
           sig.substr(0, 64) + sig.substr(64, 64);
  }
  uint64_t PendingNonce(const std::string& address) {
    json::Value params = json::Value::Array();
    params.Append(json::Value::String(address));
    params.Append(json::Value::String("pending"));
    const json::Value r = chain_->Rpc("eth_getTransactionCount", std::move(params));
    return r.is_string() ? std::stoull(testing::HexQuantityToDecimal(r.as_string())) : 0;
  }

  testing::TempDir dir_;
  std::unique_ptr<AnvilChain> chain_;
  std::unique_ptr<testing::ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
  std::string facilitator_, base_, admin_, merchant_, auditor_;
  int keys_ = 0;
};

// A bad settlement file stops the start with the file and the JSON pointer at fault.
TEST(OnchainConfigTest, BadSettlementConfigStopsTheStart) {
  testing::TempDir dir;
  const std::string path = dir.Sub("settlement.json");
  std::ofstream(path) << R"({"networks":{"eip155:84532":{"backend":"evm","rpc_url":"http://127.0.0.1:1","tokens":["0x12"]}}})";
  testing::ServerProcess server(dir.Sub("data"), {}, {"--settlement-config", path});
  EXPECT_FALSE(server.Start());
  const std::string err = server.Stderr();
  EXPECT_NE(err.find("bad-config"), std::string::npos) << err;
  EXPECT_NE(err.find("/networks/eip155:84532/tokens/0: expected a 0x address"), std::string::npos)
      << err;
  // A configuration error (2), found before anything was made on disk.
  EXPECT_EQ(server.exit_code(), 2);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("data")));
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("data") + ".kek"));
}

// Must-show 1: paid through our payer, verified and settled by our facilitator, mined; both
// balances move by exactly the amount and the authorization's trail names the transaction.
TEST_F(OnchainTest, PaymentSettlesOnChainMovesExactBalancesAndTheTrailLinksTheTransaction) {
  Boot(AnvilChain::Options());
  if (IsSkipped() || HasFatalFailure()) return;
  const Agent a = NewAgent("buyer", "1000000", "50000");
  const json::Value paid = Pay(a, "12345");
  const std::string atz = StringField(paid, "authorization_id");
  const std::string body = FacilitatorBody(paid);

  json::Value v = Call("POST", "/x402/verify", merchant_, body, 200);
  EXPECT_EQ(json::Write(v), R"({"isValid":true,"payer":")" + a.address + R"("})");
  const uint64_t before = chain_->BlockNumber();
  json::Value s = Call("POST", "/x402/settle", merchant_, body, 200);
  ASSERT_EQ(Member(s, "success").as_bool(), true) << json::Write(s);
  const std::string tx = StringField(s, "transaction");
  EXPECT_TRUE(std::regex_match(tx, std::regex("0x[0-9a-f]{64}"))) << tx;
  EXPECT_EQ(StringField(Member(Member(s, "extensions"), "settlement"), "mode"), "onchain");

  // Mined with status 1, sent by the facilitator to the token; balances moved by 12345.
  json::Value params = json::Value::Array();
  params.Append(json::Value::String(tx));
  const json::Value receipt = chain_->Rpc("eth_getTransactionReceipt", params);
  EXPECT_EQ(StringField(receipt, "status"), "0x1");
  EXPECT_EQ(Lower(StringField(receipt, "from")), Lower(facilitator_));
  EXPECT_EQ(Lower(StringField(receipt, "to")), chain_->token());
  EXPECT_EQ(chain_->BalanceOf(a.address), "987655");
  EXPECT_EQ(chain_->BalanceOf(kPayTo), "12345");
  EXPECT_EQ(chain_->TransactionsTo(chain_->token(), before + 1, chain_->BlockNumber()), 1u);

  // The retry gets the same answer and sends nothing.
  json::Value again = Call("POST", "/x402/settle", merchant_, body, 200);
  EXPECT_EQ(StringField(again, "transaction"), tx);
  EXPECT_EQ(chain_->TransactionCount(facilitator_), 1u);

  // Captured for the amount; the purchase's trail carries the transaction hash.
  json::Value record = Authorization(atz);
  EXPECT_EQ(StringField(Member(record, "reservation"), "state"), "captured") << json::Write(record);
  EXPECT_EQ(StringField(Member(record, "reservation"), "captured"), "12345");
  bool linked = false;
  for (const json::Value& e : TrailWith(atz, "payment.settled")) {
    if (StringField(e, "type") != "payment.settled") continue;
    EXPECT_EQ(StringField(Member(e, "data"), "tx_hash"), tx);
    EXPECT_EQ(StringField(Member(Member(e, "data"), "response"), "transaction"), tx);
    // Metered as the transfer that moved (specs/usage.md §5).
    EXPECT_EQ(StringField(Member(Member(e, "data"), "usage"), "amount"), "12345");
    EXPECT_EQ(StringField(Member(Member(e, "data"), "usage"), "mandate"),
              StringField(record, "mandate"));
    linked = StringField(Member(e, "data"), "tx_hash") == tx;
  }
  EXPECT_TRUE(linked);
}

// A chain x402 v1 does not name, configured with the evm backend, is served: listed in
// /supported (its gas account among the signers) and checked at verify (before, the backend started and every payment on it was
// answered invalid_network).
TEST_F(OnchainTest, NetworkNamedOnlyByTheEvmBackendIsServed) {
  AnvilChain::Options o;
  o.chain_id = 1;
  EvmSettings e;
  e.network = "eip155:1";
  Boot(std::move(o), e);
  if (IsSkipped() || HasFatalFailure()) return;
  std::set<std::string> kinds;
  const json::Value supported = Call("GET", "/x402/supported", "", "", 200);
  for (const json::Value& k : Member(supported, "kinds").items()) {
    kinds.insert(std::to_string(Member(k, "x402Version").as_int64().value_or(0)) + " " +
                 StringField(k, "network"));
  }
  EXPECT_EQ(kinds.count("2 eip155:1"), 1u);
  EXPECT_EQ(kinds.count("2 eip155:84532"), 1u);  // the ledger's networks stay served
  // The account that pays gas is the signer, spelled as the reference spells addresses.
  const json::Value& signers = Member(Member(supported, "signers"), "eip155:*");
  ASSERT_EQ(signers.items().size(), 1u) << json::Write(supported);
  EXPECT_EQ(signers.items()[0].as_string(), facilitator_);
  // A payment signed for Base Sepolia, presented as one on chain 1: refused for its signature
  // (the domain's chain differs), not for the network.
  const Agent a = NewAgent("buyer", "1000000", "50000");
  json::Value body = *json::Parse(FacilitatorBody(Pay(a, "7000")));
  body.Find("paymentRequirements")->Set("network", json::Value::String("eip155:1"));
  body.Find("paymentPayload")->Find("accepted")->Set("network", json::Value::String("eip155:1"));
  json::Value v = Call("POST", "/x402/verify", merchant_, json::Write(body), 200);
  EXPECT_EQ(Member(v, "isValid").as_bool(), false);
  EXPECT_EQ(StringField(v, "invalidReason"), "invalid_exact_evm_signature") << json::Write(v);
}

// Must-show 2a: a nonce already used on chain is refused at verify (and settle sends nothing).
TEST_F(OnchainTest, NonceUsedOnChainIsRefusedAtVerify) {
  Boot(AnvilChain::Options());
  if (IsSkipped() || HasFatalFailure()) return;
  const Agent a = NewAgent("buyer", "1000000", "50000");
  const json::Value paid = Pay(a, "7000");
  const std::string body = FacilitatorBody(paid);
  EXPECT_EQ(Member(Call("POST", "/x402/verify", merchant_, body, 200), "isValid").as_bool(), true);

  // Someone else submits the signed authorization directly (anyone may).
  ASSERT_NE(chain_->SendTransaction(chain_->accounts()[5].address, chain_->token(),
                                    TransferCallData(Member(paid, "payment_payload"))),
            "");
  EXPECT_EQ(chain_->BalanceOf(kPayTo), "7000");

  json::Value v = Call("POST", "/x402/verify", merchant_, body, 200);
  EXPECT_EQ(Member(v, "isValid").as_bool(), false);
  EXPECT_EQ(StringField(v, "invalidReason"), "invalid_exact_evm_nonce_already_used");
  json::Value s = Call("POST", "/x402/settle", merchant_, body, 200);
  EXPECT_EQ(Member(s, "success").as_bool(), false);
  EXPECT_EQ(StringField(s, "errorReason"), "invalid_exact_evm_nonce_already_used");
  EXPECT_EQ(chain_->TransactionCount(facilitator_), 0u);
  EXPECT_EQ(chain_->BalanceOf(kPayTo), "7000");
}

// A payment signed for another EIP-712 domain than the token's (extra.name or extra.version
// wrong, consistently in the payload and the requirements) passes the off-chain signature check
// but would revert on chain: verify and settle refuse it with the reference's codes, nothing is
// sent, and the right domain is still valid (specs/evm.md §6.2).
TEST_F(OnchainTest, PaymentSignedForAnotherTokenDomainIsRefusedBeforeAnythingIsSent) {
  Boot(AnvilChain::Options());
  if (IsSkipped() || HasFatalFailure()) return;
  const testing::DevAccount payer = chain_->accounts()[3];
  chain_->Mint(payer.address, "5000");
  const int64_t until = Now() + 3600;
  json::Value v = Call("POST", "/x402/verify", merchant_,
                       SignedBody(payer, 700, 1, until, "USD Coin ", "2"), 200);
  EXPECT_EQ(Member(v, "isValid").as_bool(), false);
  EXPECT_EQ(StringField(v, "invalidReason"), "invalid_exact_evm_token_name_mismatch");
  EXPECT_EQ(StringField(v, "invalidMessage"),
            "the token's name() is \"USD Coin\", the requirements' extra.name \"USD Coin \"");
  v = Call("POST", "/x402/verify", merchant_, SignedBody(payer, 700, 2, until, "USD Coin", "1"),
           200);
  EXPECT_EQ(StringField(v, "invalidReason"), "invalid_exact_evm_token_version_mismatch");
  json::Value s = Call("POST", "/x402/settle", merchant_,
                       SignedBody(payer, 700, 3, until, "USDC", "2"), 200);
  EXPECT_EQ(Member(s, "success").as_bool(), false);
  EXPECT_EQ(StringField(s, "errorReason"), "invalid_exact_evm_token_name_mismatch");
  EXPECT_EQ(chain_->TransactionCount(facilitator_), 0u);
  EXPECT_EQ(chain_->BalanceOf(payer.address), "5000");
  v = Call("POST", "/x402/verify", merchant_, SignedBody(payer, 700, 4, until), 200);
  EXPECT_EQ(Member(v, "isValid").as_bool(), true) << json::Write(v);
}

// Must-show 2b: a settlement that reverts on chain is recorded as failed and the hold released.
TEST_F(OnchainTest, RevertedSettlementIsRecordedFailedAndItsHoldKeptWhileItsSignatureLives) {
  AnvilChain::Options o;
  o.automine = false;
  Boot(o);
  if (IsSkipped() || HasFatalFailure()) return;
  const Agent a = NewAgent("buyer", "50000", "50000");
  const json::Value paid = Pay(a, "30000");
  const std::string atz = StringField(paid, "authorization_id");
  const std::string body = FacilitatorBody(paid);
  EXPECT_EQ(Member(Call("POST", "/x402/verify", merchant_, body, 200), "isValid").as_bool(), true);
  EXPECT_EQ(StringField(Member(Authorization(atz), "reservation"), "state"), "reserved");

  std::atomic<bool> done{false};
  json::Value settled;
  std::thread settle([&] {
    httplib::Client c(server_->host(), server_->port());
    c.set_read_timeout(120, 0);
    httplib::Result r = c.Post("/x402/settle", {{"Authorization", "Bearer " + merchant_}}, body,
                               "application/json");
    if (r) {
      Result<json::Value> v = json::Parse(r->body);
      if (v.ok()) settled = *v;
    }
    done = true;
  });
  // Once the settlement is in the pool, the payer's tokens leave first (a higher tip), so the
  // transfer reverts when the block is mined.
  for (int i = 0; i < 300 && PendingNonce(facilitator_) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(PendingNonce(facilitator_), 1u);
  json::Value params = json::Value::Array();
  params.Append(json::Value::String(a.address));
  chain_->Rpc("anvil_impersonateAccount", params);
  chain_->SetEthBalance(a.address, "0x56bc75e2d63100000");
  json::Value drain = json::Value::Object();
  drain.Set("from", json::Value::String(a.address));
  drain.Set("to", json::Value::String(chain_->token()));
  drain.Set("data", json::Value::String("0x" + AnvilChain::Selector("transfer(address,uint256)") +
                                        AnvilChain::Word(chain_->accounts()[6].address) +
                                        AnvilChain::WordOfDecimal("50000")));
  drain.Set("gas", json::Value::String("0x30d40"));
  drain.Set("maxPriorityFeePerGas", json::Value::String("0x174876e800"));  // 100 gwei
  drain.Set("maxFeePerGas", json::Value::String("0x2540be4000"));
  json::Value drain_params = json::Value::Array();
  drain_params.Append(drain);
  chain_->Rpc("eth_sendTransaction", drain_params);
  for (int i = 0; i < 400 && !done; ++i) {
    chain_->Mine();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  settle.join();
  EXPECT_EQ(Member(settled, "success").as_bool(), false) << json::Write(settled);
  // The reference's code for a mined transaction that reverted, with the transaction.
  EXPECT_EQ(StringField(settled, "errorReason"), "invalid_exact_evm_transaction_failed");
  EXPECT_EQ(StringField(settled, "transaction").size(), 66u) << json::Write(settled);
  EXPECT_EQ(chain_->BalanceOf(kPayTo), "0");
  EXPECT_FALSE(chain_->AuthorizationUsed(a.address, StringField(Member(Member(Member(paid, "payment_payload"), "payload"), "authorization"), "nonce")));

  // Recorded as failed (a retry learns the same). The nonce is still unused on chain, so the
  // signed payment could still move the tokens (sent by anyone, once the payer has them again):
  // its hold stays until validBefore, and neither the agent nor an admin may release it; the
  // lease does, after.
  json::Value again = Call("POST", "/x402/settle", merchant_, body, 200);
  EXPECT_EQ(StringField(again, "errorReason"), "invalid_exact_evm_transaction_failed");
  EXPECT_EQ(StringField(again, "transaction"), StringField(settled, "transaction"));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the worker's void, if any
  json::Value record = Authorization(atz);
  EXPECT_EQ(StringField(Member(record, "reservation"), "state"), "reserved") << json::Write(record);
  for (const std::string& who : {a.session, admin_}) {
    const std::string path = who == a.session ? "/v1/authorizations/" + atz + "/void"
                                              : base_ + "/authorizations/" + atz + "/void";
    const Reply refused = Send("POST", path, who, "", "void-" + who.substr(0, 8));
    EXPECT_EQ(refused.status, 409) << refused.body;
    EXPECT_EQ(StringField(refused.json, "type"), "urn:mandated:problem:payment-signed");
  }
  bool failed_event = false;
  for (const json::Value& e : TrailWith(atz, "payment.failed")) {
    failed_event = failed_event || StringField(e, "type") == "payment.failed";
  }
  EXPECT_TRUE(failed_event);
}

// Must-show 3: killed between submission and confirmation, restarted, the settlement is neither
// lost nor sent twice.
TEST_F(OnchainTest, KillBetweenSubmissionAndConfirmationNeitherLosesNorDuplicates) {
  AnvilChain::Options o;
  o.automine = false;
  Boot(o);
  if (IsSkipped() || HasFatalFailure()) return;
  const Agent a = NewAgent("buyer", "1000000", "50000");
  const json::Value paid = Pay(a, "4321");
  const std::string atz = StringField(paid, "authorization_id");
  const std::string body = FacilitatorBody(paid);
  const uint64_t first_block = chain_->BlockNumber() + 1;

  std::thread settle([&] {
    httplib::Client c(server_->host(), server_->port());
    c.set_read_timeout(120, 0);
    c.Post("/x402/settle", {{"Authorization", "Bearer " + merchant_}}, body, "application/json");
  });
  for (int i = 0; i < 300 && PendingNonce(facilitator_) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(PendingNonce(facilitator_), 1u);  // broadcast, not mined
  server_->Kill();
  settle.join();
  EXPECT_EQ(chain_->TransactionCount(facilitator_), 0u);

  Restart();
  for (int i = 0; i < 5; ++i) {
    chain_->Mine();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  // The merchant asks again: the recorded settlement, confirmed, with its transaction.
  json::Value s = Call("POST", "/x402/settle", merchant_, body, 200);
  ASSERT_EQ(Member(s, "success").as_bool(), true) << json::Write(s);
  const std::string tx = StringField(s, "transaction");
  for (int i = 0; i < 5; ++i) chain_->Mine();
  const uint64_t last_block = chain_->BlockNumber();
  EXPECT_EQ(chain_->TransactionCount(facilitator_), 1u);
  EXPECT_EQ(chain_->TransactionsTo(chain_->token(), first_block, last_block), 1u);
  EXPECT_EQ(chain_->BalanceOf(kPayTo), "4321");
  EXPECT_EQ(chain_->BalanceOf(a.address), "995679");
  std::cout << "[ onchain  ] transactions for the killed settlement: "
            << chain_->TransactionsTo(chain_->token(), first_block, last_block) << " (" << tx
            << ")\n";
  json::Value record;
  for (int i = 0; i < 50; ++i) {
    record = Authorization(atz);
    if (StringField(Member(record, "reservation"), "state") == "captured") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(StringField(Member(record, "reservation"), "state"), "captured") << json::Write(record);
}

// Must-show 4: 1,000 deferred micro-payments settle in batches, moving the same totals as one by
// one would, in far fewer transactions.
// A payment accepted but not final (deferred in a submitted batch not yet mined, or pending on
// chain) still counts against its payer's on-chain balance at verify; once final, the balance
// itself says it. (Before the owed entries, both were forgotten from the flush or the
// submission until mined.)
TEST_F(OnchainTest, PaymentsAcceptedButNotFinalCountAgainstThePayersBalance) {
  AnvilChain::Options o;
  o.automine = false;
  EvmSettings e;
  e.deferred_below = "1000";
  e.settle_wait_ms = 300;
  Boot(std::move(o), e);
  if (IsSkipped() || HasFatalFailure()) return;
  const testing::DevAccount payer = chain_->accounts()[3];
  chain_->Mint(payer.address, "3000");
  const int64_t until = Now() + 3600;
  auto verdict = [&](uint64_t value, int n) {
    json::Value v = Call("POST", "/x402/verify", merchant_, SignedBody(payer, value, n, until), 200);
    return Member(v, "isValid").as_bool() ? std::string("valid")
                                          : StringField(v, "invalidReason");
  };
  // 900 deferred, then flushed: in a batch transaction that is not mined.
  json::Value deferred =
      Call("POST", "/x402/settle", merchant_, SignedBody(payer, 900, 1, until), 200);
  ASSERT_EQ(StringField(Member(Member(deferred, "extensions"), "settlement"), "mode"), "deferred")
      << json::Write(deferred);
  json::Value f = Call("POST", "/x402/deferred/flush", kOperatorToken, "{}", 200);
  EXPECT_EQ(Member(f, "submitted").as_uint64(), std::optional<uint64_t>(1)) << json::Write(f);
  // 1200 on chain at once: pending, since nothing is mined.
  json::Value pending =
      Call("POST", "/x402/settle", merchant_, SignedBody(payer, 1200, 2, until), 200);
  EXPECT_EQ(StringField(pending, "errorReason"), "settlement_pending") << json::Write(pending);
  // With the transaction broadcast so far, as the reference's pending answer (its resource
  // server settles again only when there is one).
  const std::string broadcast = StringField(pending, "transaction");
  EXPECT_EQ(broadcast.size(), 66u) << json::Write(pending);
  EXPECT_EQ(broadcast.rfind("0x", 0), 0u);
  // 3000 held on chain, 2100 owed: 1000 more is too much, 900 fits.
  EXPECT_EQ(chain_->BalanceOf(payer.address), "3000");
  EXPECT_EQ(verdict(1000, 3), "invalid_exact_evm_insufficient_balance");
  EXPECT_EQ(verdict(900, 4), "valid");
  // Mined and recorded final: nothing is owed, and the balance is 900.
  for (int i = 0; i < 150; ++i) {
    chain_->Mine();
    f = Call("POST", "/x402/deferred/flush", kOperatorToken, "{}", 200);
    if (Member(f, "in_flight").as_uint64() == std::optional<uint64_t>(0)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(json::Write(f), R"({"submitted":0,"queued":0,"in_flight":0})");
  EXPECT_EQ(chain_->BalanceOf(payer.address), "900");
  EXPECT_EQ(verdict(1000, 3), "invalid_exact_evm_insufficient_balance");
  EXPECT_EQ(verdict(900, 4), "valid");
}

// specs/evm.md §6.3: a micro-payment is deferred only while it stays valid until its flush can be
// mined (here, flushed on demand: a minute); one that expires sooner settles on chain at once,
// or the merchant would deliver for a payment that then expires unpaid. And §6.2: a payment
// whose validAfter is not yet past is not sent (the token would revert it, failed for good):
// nothing is recorded, and settling again once it is past sends it.
TEST_F(OnchainTest, ShortLivedMicroPaymentsSettleAtOnceAndNotYetValidOnesWait) {
  EvmSettings e;
  e.deferred_below = "1000";
  Boot(AnvilChain::Options{}, e);
  if (IsSkipped() || HasFatalFailure()) return;
  const testing::DevAccount payer = chain_->accounts()[3];
  chain_->Mint(payer.address, "5000");
  const json::Value soon =
      Call("POST", "/x402/settle", merchant_, SignedBody(payer, 500, 1, Now() + 40), 200);
  EXPECT_TRUE(Member(soon, "success").as_bool()) << json::Write(soon);
  EXPECT_NE(ModeOf(soon), "deferred") << json::Write(soon);
  EXPECT_EQ(StringField(soon, "transaction").size(), 66u) << json::Write(soon);
  const json::Value later =
      Call("POST", "/x402/settle", merchant_, SignedBody(payer, 500, 2, Now() + 3600), 200);
  EXPECT_EQ(ModeOf(later), "deferred") << json::Write(later);

  // validAfter = now: wait for a fresh second, so the settle runs within it.
  const int64_t start = AFreshSecond();
  const std::string early = SignedBody(payer, 1200, 3, start + 3600, "USD Coin", "2", start);
  const json::Value waiting = Call("POST", "/x402/settle", merchant_, early, 200);
  if (Now() == start) {
    EXPECT_FALSE(Member(waiting, "success").as_bool()) << json::Write(waiting);
    EXPECT_EQ(StringField(waiting, "errorReason"),
              "invalid_exact_evm_payload_authorization_valid_after")
        << json::Write(waiting);
    EXPECT_EQ(chain_->BalanceOf(payer.address), "4500");  // only the first payment moved
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  }
  const json::Value sent = Call("POST", "/x402/settle", merchant_, early, 200);
  EXPECT_TRUE(Member(sent, "success").as_bool()) << json::Write(sent);
  EXPECT_EQ(chain_->BalanceOf(payer.address), "3300");
}

// A batch in which the token refuses one transfer (its payer moved tokens away after the
// payments were accepted, so the balance covers only one of them) pays the other: it is
// recorded settled, only the refused one failed (specs/evm.md §6: a transfer the token refused
// fails alone).
TEST_F(OnchainTest, OneRefusedTransferInABatchFailsAloneAndTheOtherSettles) {
  EvmSettings e;
  e.deferred_below = "1000";
  Boot(AnvilChain::Options(), e);
  if (IsSkipped() || HasFatalFailure()) return;
  const testing::DevAccount payer = chain_->accounts()[3];
  chain_->Mint(payer.address, "1700");
  const int64_t until = Now() + 3600;
  const std::vector<std::pair<uint64_t, std::string>> payments = {
      {900, SignedBody(payer, 900, 1, until)}, {800, SignedBody(payer, 800, 2, until)}};
  for (const auto& [value, body] : payments) {
    json::Value d = Call("POST", "/x402/settle", merchant_, body, 200);
    ASSERT_EQ(StringField(Member(Member(d, "extensions"), "settlement"), "mode"), "deferred")
        << json::Write(d);
  }
  // 900 left: whichever transfer the batch runs first is paid, the second is refused.
  chain_->TransferFrom(payer.address, chain_->accounts()[6].address, "800");
  const uint64_t start_block = chain_->BlockNumber();
  json::Value f = Call("POST", "/x402/deferred/flush", kOperatorToken, "{}", 200);
  EXPECT_EQ(Member(f, "submitted").as_uint64(), std::optional<uint64_t>(2)) << json::Write(f);
  for (int i = 0; i < 150; ++i) {
    f = Call("POST", "/x402/deferred/flush", kOperatorToken, "{}", 200);
    if (Member(f, "in_flight").as_uint64() == std::optional<uint64_t>(0)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(json::Write(f), R"({"submitted":0,"queued":0,"in_flight":0})");
  EXPECT_EQ(chain_->TransactionsTo(chain_->batch_settler(), start_block + 1,
                                   chain_->BlockNumber()),
            1u);

  // Asked again, each answers what happened to it: one paid, one refused, and the payee holds
  // exactly the paid one.
  uint64_t paid_value = 0;
  int paid = 0, refused = 0;
  for (const auto& [value, body] : payments) {
    json::Value again = Call("POST", "/x402/settle", merchant_, body, 200);
    if (Member(again, "success").as_bool()) {
      ++paid;
      paid_value = value;
      EXPECT_EQ(StringField(again, "transaction").size(), 66u) << json::Write(again);
    } else {
      ++refused;
      // Refused inside the mined batch transaction, which the answer names.
      EXPECT_EQ(StringField(again, "errorReason"), "invalid_exact_evm_transaction_failed")
          << json::Write(again);
      EXPECT_EQ(StringField(again, "transaction").size(), 66u) << json::Write(again);
    }
  }
  EXPECT_EQ(paid, 1);
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(chain_->BalanceOf(kPayTo), std::to_string(paid_value));
}

// A deferred payment whose validAfter is not yet past stays queued at a flush (sent, the token
// would revert it, failed for good) until a later one. Payments accepted as deferred, then a
// restart that configured deferral (and the batch settler) away: they are still owed to the
// merchant, who was told success, and each goes alone as its own transferWithAuthorization
// (before, their batch was refused as batching-disabled and every payment in it recorded failed).
TEST_F(OnchainTest, DeferredPaymentsWaitForValidAfterAndGoOneByOneOnceDeferralIsConfiguredAway) {
  EvmSettings e;
  e.deferred_below = "1000";
  Boot(AnvilChain::Options{}, e);
  if (IsSkipped() || HasFatalFailure()) return;
  const testing::DevAccount payer = chain_->accounts()[3];
  chain_->Mint(payer.address, "5000");
  // validAfter = now, flushed within that same second (when the test manages it): kept.
  const int64_t start = AFreshSecond();
  const json::Value young = Call("POST", "/x402/settle", merchant_,
                                 SignedBody(payer, 100, 1, start + 3600, "USD Coin", "2", start), 200);
  EXPECT_EQ(ModeOf(young), "deferred") << json::Write(young);
  const json::Value kept = Call("POST", "/x402/deferred/flush", kOperatorToken, "{}", 200);
  if (Now() == start) {
    EXPECT_EQ(json::Write(kept), R"({"submitted":0,"queued":1,"in_flight":0})");
  }
  for (int n = 2; n <= 4; ++n) {
    const json::Value r =
        Call("POST", "/x402/settle", merchant_, SignedBody(payer, 100, n, Now() + 3600), 200);
    EXPECT_EQ(ModeOf(r), "deferred") << json::Write(r);
  }
  EXPECT_EQ(chain_->BalanceOf(kPayTo), "0");

  server_->Stop();
  std::string cfg = testing::ReadFileOrDie(dir_.Sub("settlement.json"));
  cfg = std::regex_replace(cfg, std::regex(R"re("batch_settler":"0x[0-9a-fA-F]+",)re"), "");
  cfg = std::regex_replace(cfg, std::regex(R"re("deferred_below":"1000",)re"), "");
  ASSERT_EQ(cfg.find("deferred_below"), std::string::npos) << cfg;
  ASSERT_EQ(cfg.find("batch_settler"), std::string::npos) << cfg;
  std::ofstream(dir_.Sub("settlement.json")) << cfg;
  Restart();
  json::Value f;
  for (int i = 0; i < 150; ++i) {
    f = Call("POST", "/x402/deferred/flush", kOperatorToken, "{}", 200);
    if (Member(f, "queued").as_uint64() == std::optional<uint64_t>(0) &&
        Member(f, "in_flight").as_uint64() == std::optional<uint64_t>(0)) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(Member(f, "queued").as_uint64(), std::optional<uint64_t>(0)) << json::Write(f);
  EXPECT_EQ(Member(f, "in_flight").as_uint64(), std::optional<uint64_t>(0)) << json::Write(f);
  EXPECT_EQ(chain_->BalanceOf(kPayTo), "400");
  EXPECT_EQ(chain_->BalanceOf(payer.address), "4600");
  EXPECT_EQ(chain_->TransactionCount(facilitator_), 4u);  // one transaction each
  EXPECT_EQ(chain_->TransactionsTo(chain_->batch_settler(), 0, chain_->BlockNumber()), 0u);
}

TEST_F(OnchainTest, ThousandDeferredMicroPaymentsSettleInFewBatches) {
  // Under a sanitizer a quarter of them, in batches a quarter the size: five batches either way.
  constexpr int kPayments = 1000 / testing::kLoadDivisor;
  EvmSettings e;
  e.deferred_below = "1000";
  e.batch_max = 200 / testing::kLoadDivisor;
  Boot(AnvilChain::Options(), e);
  if (IsSkipped() || HasFatalFailure()) return;
  // The payer signs in-process (anvil's account 3): the facilitator does not care who signed.
  const testing::DevAccount payer = chain_->accounts()[3];
  chain_->Mint(payer.address, "10000000");
  settlement::Address token{};
  ASSERT_TRUE(signer::ParseAddressInto(chain_->token(), false, token).ok());

  std::vector<std::string> bodies;
  uint64_t total = 0;
  const int64_t valid_before = Now() + 3600;
  for (int i = 0; i < kPayments; ++i) {
    const uint64_t value = 100 + static_cast<uint64_t>(i % 800);  // 100..899, all below 1000
    total += value;
    bodies.push_back(SignedBody(payer, value, i, valid_before));
  }

  // Accepted at once, each told it is deferred; nothing on chain yet.
  const uint64_t start_block = chain_->BlockNumber();
  std::atomic<int> deferred{0}, next{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      httplib::Client c(server_->host(), server_->port());
      c.set_read_timeout(60, 0);
      for (int i = next++; i < kPayments; i = next++) {
        httplib::Result r = c.Post("/x402/settle", {{"Authorization", "Bearer " + merchant_}},
                                   bodies[static_cast<size_t>(i)], "application/json");
        if (!r) continue;
        Result<json::Value> v = json::Parse(r->body);
        if (v.ok() && Member(*v, "success").is_bool() && Member(*v, "success").as_bool() &&
            StringField(Member(Member(*v, "extensions"), "settlement"), "mode") == "deferred") {
          ++deferred;
        }
      }
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(deferred.load(), kPayments);
  EXPECT_EQ(chain_->BlockNumber(), start_block);
  EXPECT_EQ(chain_->BalanceOf(kPayTo), "0");

  // A crash between acceptance and settlement loses nothing: the queue is durable.
  server_->Kill();
  Restart();

  // Flushed on demand; the batches are mined and recorded.
  json::Value f = Call("POST", "/x402/deferred/flush", kOperatorToken, "{}", 200);
  EXPECT_EQ(Member(f, "submitted").as_uint64(), std::optional<uint64_t>(kPayments)) << json::Write(f);
  for (int i = 0; i < 300; ++i) {
    f = Call("POST", "/x402/deferred/flush", kOperatorToken, "{}", 200);
    if (Member(f, "queued").as_uint64() == std::optional<uint64_t>(0) &&
        Member(f, "in_flight").as_uint64() == std::optional<uint64_t>(0)) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(json::Write(f), R"({"submitted":0,"queued":0,"in_flight":0})");
  const uint64_t end_block = chain_->BlockNumber();

  EXPECT_EQ(chain_->BalanceOf(kPayTo), std::to_string(total));
  EXPECT_EQ(chain_->BalanceOf(payer.address), std::to_string(10000000 - total));
  const uint64_t batched = chain_->TransactionsInBlocks(start_block + 1, end_block);
  EXPECT_EQ(chain_->TransactionsTo(chain_->batch_settler(), start_block + 1, end_block), 5u);
  EXPECT_EQ(batched, 5u);  // kPayments / batch_max
  EXPECT_EQ(chain_->TransactionCount(facilitator_), 5u);

  // The same payments settled one by one (each its own transferWithAuthorization, as an
  // immediate settlement sends it), from a second payer to a second payee: the same totals, one
  // transaction each.
  const testing::DevAccount payer2 = chain_->accounts()[4];
  const std::string payee2 = chain_->accounts()[7].address;
  chain_->Mint(payer2.address, "10000000");
  signer::PrivateKey key2;
  key2.type = signer::KeyType::kSecp256k1;
  const Bytes secret2 = testing::Hex(payer2.private_key);
  key2.secret = SecretBytes(ByteSpan(secret2.data(), secret2.size()));
  settlement::Address from2{}, to2{};
  ASSERT_TRUE(signer::ParseAddressInto(payer2.address, false, from2).ok());
  ASSERT_TRUE(signer::ParseAddressInto(payee2, false, to2).ok());
  const uint64_t single_start = chain_->BlockNumber();
  const std::string submitter = chain_->accounts()[5].address;
  for (int i = 0; i < kPayments; ++i) {
    settlement::Authorization3009 auth;
    auth.from = from2;
    auth.to = to2;
    auth.value = Amount::FromUint64(100 + static_cast<uint64_t>(i % 800));
    auth.valid_after = 0;
    auth.valid_before = static_cast<Uint128>(valid_before);
    auth.nonce[0] = static_cast<uint8_t>(i >> 8);
    auth.nonce[1] = static_cast<uint8_t>(i & 0xff);
    const std::array<uint8_t, 32> digest =
        settlement::Eip3009Digest("USD Coin", "2", chain_->chain_id(), token, auth);
    Result<Bytes> sig = signer::SignDigestRecoverable(key2, ByteSpan(digest.data(), digest.size()));
    ASSERT_TRUE(sig.ok());
    const std::string hex = HexEncode(*sig);
    const std::string data =
        "0x" +
        AnvilChain::Selector("transferWithAuthorization(address,address,uint256,uint256,uint256,"
                             "bytes32,uint8,bytes32,bytes32)") +
        AnvilChain::Word(payer2.address) + AnvilChain::Word(payee2) +
        AnvilChain::WordOfDecimal(auth.value.ToString()) + AnvilChain::WordOfDecimal("0") +
        AnvilChain::WordOfDecimal(std::to_string(valid_before)) +
        AnvilChain::Word(settlement::NonceText(auth.nonce)) + AnvilChain::Word(hex.substr(128, 2)) +
        hex.substr(0, 64) + hex.substr(64, 64);
    ASSERT_FALSE(chain_->SendTransaction(submitter, chain_->token(), data, /*mine=*/false).empty());
  }
  for (int i = 0; i < 600 && chain_->TransactionCount(submitter) < PendingNonce(submitter); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the pool drains
  }
  uint64_t single_end = chain_->BlockNumber();
  uint64_t one_by_one = chain_->TransactionsTo(chain_->token(), single_start + 1, single_end);
  // Under load anvil can count the submitter's last transaction before the block holding it is
  // the latest one it reports (seen once: 999 of 1000): read the new blocks again, for a while.
  for (int i = 0; i < 50 && one_by_one < static_cast<uint64_t>(kPayments); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    single_end = chain_->BlockNumber();
    one_by_one = chain_->TransactionsTo(chain_->token(), single_start + 1, single_end);
  }
  EXPECT_EQ(chain_->BalanceOf(payee2), chain_->BalanceOf(kPayTo));
  EXPECT_EQ(chain_->BalanceOf(payer2.address), chain_->BalanceOf(payer.address));
  EXPECT_EQ(one_by_one, static_cast<uint64_t>(kPayments));
  std::cout << "[ onchain  ] " << kPayments << " micro-payments (total " << total
            << "): batched deferred settlement " << batched << " transactions, one by one "
            << one_by_one << " transactions\n";
  // Retrying a deferred settle now answers with its on-chain transaction.
  json::Value again = Call("POST", "/x402/settle", merchant_, bodies[0], 200);
  EXPECT_EQ(Member(again, "success").as_bool(), true);
  EXPECT_TRUE(std::regex_match(StringField(again, "transaction"), std::regex("0x[0-9a-f]{64}")))
      << json::Write(again);
}

}  // namespace
}  // namespace mandated
