// EvmRpcChain against a real anvil node (tests/support/anvil_chain.h) through the real HTTP
// transport: single and batched EIP-3009 transfers tracked to confirmation, idempotent Submit,
// a restart between submission and confirmation, dropped and stuck transactions; and the
// JSON-RPC quantity rules (specs/evm.md §4.2, §5).
#include "settlement/evm_rpc_chain.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/evm_transport_httplib.h"
#include "base/json.h"
#include "settlement/evm_rpc.h"
#include "settlement/x402_wire.h"
#include "signer/ethereum.h"
#include "signer/recoverable.h"
#include "store/rocks_store.h"
#include "tests/support/anvil_chain.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_support.h"

namespace mandated::settlement {
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
using testing::Hex;

Address Addr(std::string_view text) {
  Address a{};
  const Bytes b = Hex(text);
  std::copy_n(b.begin(), std::min<size_t>(20, b.size()), a.begin());
  return a;
}

TEST(EvmRpcQuantityTest, ParsesStrictly) {
  EXPECT_EQ(*ParseQuantity64("0x0"), 0u);
  EXPECT_EQ(*ParseQuantity64("0x7a69"), 31337u);
  EXPECT_EQ(*ParseQuantity64("0xffffffffffffffff"), UINT64_MAX);
  EXPECT_TRUE(*ParseQuantity128("0xffffffffffffffffffffffffffffffff") == ~Uint128{0});
  for (std::string_view bad : {"", "0x", "7a69", "0x07a69", "0x00", "0xg1", "0x10000000000000000",
                               " 0x1"}) {
    Result<uint64_t> r = ParseQuantity64(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reason(), "bad-rpc-answer") << bad;
  }
  EXPECT_FALSE(ParseQuantity128("0x100000000000000000000000000000000").ok());
  EXPECT_EQ(Quantity(0), "0x0");
  EXPECT_EQ(Quantity(31337), "0x7a69");
  EXPECT_EQ(*ParseData("0x"), Bytes{});
  EXPECT_FALSE(ParseData("0xabc").ok());
}

TEST(EvmRpcTransportTest, UnreachableNodeIsUnavailable) {
  // Port 1 on loopback: nothing listens there.
  auto t = api::MakeHttpJsonRpcTransport("http://127.0.0.1:1", 500);
  EvmRpc rpc(*t, 1);
  Result<uint64_t> id = rpc.ChainId();
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.error().code(), StatusCode::kUnavailable);
}

// Provider URLs carry API keys (in the path, the query or the user info); errors, which reach
// merchants and logs, show the scheme, host and port only.
TEST(EvmRpcTransportTest, ErrorsNameTheNodeWithoutItsKey) {
  auto t = api::MakeHttpJsonRpcTransport(
      "http://user:pa55word@127.0.0.1:1/v3/SECRETPATHKEY?apikey=SECRETQUERYKEY", 500);
  EvmRpc rpc(*t, 1);
  Result<uint64_t> id = rpc.ChainId();
  ASSERT_FALSE(id.ok());
  const std::string message = id.error().ToString();
  EXPECT_NE(message.find("http://127.0.0.1:1"), std::string::npos) << message;
  for (const char* secret : {"pa55word", "user", "SECRETPATHKEY", "SECRETQUERYKEY", "/v3"}) {
    EXPECT_EQ(message.find(secret), std::string::npos) << secret << " in " << message;
  }
}

// The URL forms node providers hand out reach the node as meant: user info as HTTP Basic
// authentication (percent-decoded), a query without a path as "/?query", a fragment not at all.
// Before, each of these went into httplib's host name and never connected.
TEST(EvmRpcTransportTest, ProviderUrlFormsReachTheNode) {
  httplib::Server node;
  std::mutex mu;
  std::vector<std::string> seen;  // "<target> <Authorization header>"
  node.Post(".*", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    std::string target = req.path;
    if (!req.params.empty()) {
      target += "?";
      for (const auto& [k, v] : req.params) target += k + "=" + v;
    }
    seen.push_back(target + " " + req.get_header_value("Authorization"));
    res.set_content(R"({"jsonrpc":"2.0","id":1,"result":"0x7a69"})", "application/json");
  });
  const int port = node.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { node.listen_after_bind(); });
  const std::string host = "127.0.0.1:" + std::to_string(port);
  const char* urls[] = {
      "http://user:pa%3Ass@HOST/v3/KEY", "http://HOST?apikey=K", "http://HOST#frag",
      "http://:secret@HOST/", "http://HOST/rpc?apikey=K#frag"};
  for (const char* form : urls) {
    std::string url = form;
    url.replace(url.find("HOST"), 4, host);
    auto t = api::MakeHttpJsonRpcTransport(url, 2000);
    EvmRpc rpc(*t, 1);
    Result<uint64_t> id = rpc.ChainId();  // no ASSERT here: the server thread must be joined
    EXPECT_TRUE(id.ok() && *id == 31337u) << url << ": " << id.status().ToString();
  }
  node.stop();
  serving.join();
  // base64("user:pa:ss") and base64(":secret").
  EXPECT_EQ(seen, (std::vector<std::string>{"/v3/KEY Basic dXNlcjpwYTpzcw==", "/?apikey=K ",
                                            "/ ", "/ Basic OnNlY3JldA==", "/rpc?apikey=K "}));
}

// A node that is down until told otherwise, then answers eth_chainId with `chain_hex` (and
// nothing else: the tests below never get further).
class ScriptedNode : public JsonRpcTransport {
 public:
  explicit ScriptedNode(std::shared_ptr<std::string> chain_hex) : chain_hex_(std::move(chain_hex)) {}
  Result<std::string> Post(const std::string& body) override {
    if (chain_hex_->empty()) return UnavailableError("no answer from the node", "rpc-unreachable");
    if (*chain_hex_ == "html") return std::string("<html>502 Bad Gateway</html>");
    Result<json::Value> req = json::Parse(body);
    if (req.ok() && *chain_hex_ == "error") {
      return R"({"jsonrpc":"2.0","id":)" + json::Write(*req->Find("id")) +
             R"(,"error":{"code":-32603,"message":"upstream request timeout"}})";
    }
    if (!req.ok() || testing::StringField(*req, "method") != "eth_chainId") {
      return UnavailableError("only eth_chainId is scripted", "rpc-unreachable");
    }
    return R"({"jsonrpc":"2.0","id":)" + json::Write(*req->Find("id")) + R"(,"result":")" +
           *chain_hex_ + R"("})";
  }

 private:
  std::shared_ptr<std::string> chain_hex_;
};

// A node that does not answer at start does not stop it (the ledger and other networks serve);
// the chain id is asked at first use, and a node of another chain is then refused for every read
// and write, as it would have stopped the start. The facilitator key's type is checked at once.
TEST(EvmChainStartTest, ANodeDownAtStartIsAskedAtFirstUseAndAWrongChainRefused) {
  testing::TempDir dir;
  testing::FakeClock clock(1795000000);
  store::RocksStoreOptions so;
  so.path = dir.Sub("db");
  so.column_families = {signer::kKeysFamily, kChainFamily};
  std::unique_ptr<store::KvStore> kv = std::move(*store::OpenRocksStore(so));
  std::unique_ptr<signer::KeyStore> keys = std::move(*signer::KeyStore::Open(
      *kv, SecretBytes(ByteSpan(Bytes(32, 9))), clock, SystemRandom::Get()));
  EvmChainConfig config;
  config.chain_id = 84532;
  config.rpc_url = "http://node.invalid";
  config.tokens = {Addr("0x036CbD53842c5426634e7929541eC2318f3dCF7e")};
  config.facilitator_key =
      keys->Generate(signer::KeyType::kSecp256k1, "facilitator", "service")->id;
  const Address token = config.tokens[0];

  auto chain_hex = std::make_shared<std::string>();  // down
  Result<std::unique_ptr<EvmRpcChain>> chain =
      EvmRpcChain::Create(config, std::make_unique<ScriptedNode>(chain_hex), *kv, *keys, clock);
  ASSERT_TRUE(chain.ok()) << chain.error().ToString();
  // The gas account is known without the node (the operator funds it before the node is up).
  const std::optional<Address> gas = (*chain)->facilitator_address();
  ASSERT_TRUE(gas.has_value());
  EXPECT_EQ(AddressText(*gas),
            *signer::EthereumAddress(keys->Get(config.facilitator_key)->public_key));
  Result<Amount> balance = (*chain)->BalanceOf(token, token);
  ASSERT_FALSE(balance.ok());
  EXPECT_EQ(balance.error().reason(), "rpc-unreachable");

  *chain_hex = "0x1";  // up, but mainnet
  for (const Status& s : {(*chain)->BalanceOf(token, token).status(),
                          (*chain)->AuthorizationUsed(token, token, Nonce32{}).status(),
                          (*chain)->DomainOf(token).status()}) {
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
    EXPECT_EQ(s.reason(), "chain-id-mismatch") << s.ToString();
  }
  // A node that answers, but with an error or with no JSON-RPC answer at all (a gateway in front
  // of it), does not stop the start either: it is asked again at first use.
  for (const auto& [answer, reason] : {std::pair<std::string, std::string>{"error", "rpc-error"},
                                       {"html", "bad-rpc-answer"}}) {
    *chain_hex = answer;
    Result<std::unique_ptr<EvmRpcChain>> started =
        EvmRpcChain::Create(config, std::make_unique<ScriptedNode>(chain_hex), *kv, *keys, clock);
    ASSERT_TRUE(started.ok()) << answer << ": " << started.error().ToString();
    Result<Amount> read = (*started)->BalanceOf(token, token);
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.error().reason(), reason);
  }
  *chain_hex = "0x1";
  // At start, a node of another chain stops it, as before.
  Result<std::unique_ptr<EvmRpcChain>> wrong =
      EvmRpcChain::Create(config, std::make_unique<ScriptedNode>(chain_hex), *kv, *keys, clock);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().reason(), "chain-id-mismatch");
  // And a key that cannot pay gas, even with the node down.
  *chain_hex = "";
  config.facilitator_key = keys->Generate(signer::KeyType::kEd25519, "signing", "service")->id;
  Result<std::unique_ptr<EvmRpcChain>> bad_key =
      EvmRpcChain::Create(config, std::make_unique<ScriptedNode>(chain_hex), *kv, *keys, clock);
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.error().reason(), "bad-facilitator-key");
}

class EvmChainTest : public ::testing::Test {
 protected:
  // Payers are anvil's dev accounts 1-3; the facilitator account 9; the merchant a fresh address.
  void Start(bool automine) {
    if (!AnvilChain::Available()) {
      const char* missing = "anvil / node / solc missing in tests/interop (npm ci there)";
      if (InCi()) FAIL() << missing;
      GTEST_SKIP() << missing;
    }
    AnvilChain::Options o;
    o.automine = automine;
    anvil_ = std::make_unique<AnvilChain>(o);
    ASSERT_TRUE(anvil_->Start()) << anvil_->error();
    for (int i = 1; i <= 3; ++i) {
      anvil_->Mint(anvil_->accounts()[static_cast<size_t>(i)].address, "1000000000");
    }
    store::RocksStoreOptions so;
    so.path = dir_.Sub("db");
    so.column_families = {signer::kKeysFamily, kChainFamily};
    kv_ = std::move(*store::OpenRocksStore(so));
    keys_ = std::move(*signer::KeyStore::Open(*kv_, SecretBytes(ByteSpan(Bytes(32, 9))), clock_,
                                              SystemRandom::Get()));
    Bytes secret = Hex(anvil_->accounts()[9].private_key);
    Result<signer::KeyInfo> k =
        keys_->Import(signer::KeyType::kSecp256k1, secret, "facilitator", "service");
    ASSERT_TRUE(k.ok()) << k.error().ToString();
    facilitator_ = anvil_->accounts()[9].address;
    ASSERT_EQ(*signer::EthereumAddress(k->public_key), facilitator_);
    config_.chain_id = anvil_->chain_id();
    config_.rpc_url = anvil_->rpc_url();
    config_.tokens = {Addr(anvil_->token())};
    config_.batch_settler = Addr(anvil_->batch_settler());
    config_.confirmations = 1;
    config_.facilitator_key = k->id;
    config_.replace_after_s = 60;
    OpenChain();
  }

  void OpenChain() {
    chain_.reset();
    Result<std::unique_ptr<EvmRpcChain>> c = EvmRpcChain::Create(
        config_, api::MakeHttpJsonRpcTransport(config_.rpc_url, 5000), *kv_, *keys_, clock_);
    ASSERT_TRUE(c.ok()) << c.error().ToString();
    chain_ = std::move(*c);
  }

  // A transfer of `value` from dev account `payer` to the merchant, signed by `signer_account`
  // (the payer itself unless testing a bad signature).
  SignedTransfer Transfer(int payer, uint64_t value, uint8_t nonce_seed, int signer_account = -1) {
    SignedTransfer t;
    t.token = Addr(anvil_->token());
    t.authorization.from = Addr(anvil_->accounts()[static_cast<size_t>(payer)].address);
    t.authorization.to = Addr(kMerchant);
    t.authorization.value = Amount::FromUint64(value);
    t.authorization.valid_after = 0;
    t.authorization.valid_before = 4000000000;
    t.authorization.nonce.fill(nonce_seed);
    t.authorization.nonce[0] = static_cast<uint8_t>(payer);
    const auto digest =
        Eip3009Digest("USD Coin", "2", anvil_->chain_id(), t.token, t.authorization);
    signer::PrivateKey key;
    key.type = signer::KeyType::kSecp256k1;
    const size_t who = static_cast<size_t>(signer_account < 0 ? payer : signer_account);
    key.secret = SecretBytes::Adopt(Hex(anvil_->accounts()[who].private_key));
    t.signature = *signer::SignDigestRecoverable(key, digest);
    return t;
  }

  // Tracks until the submission is final. With automine the node may report the nonce used a
  // moment before the receipt is readable (Track then answers pending), so this polls, bounded.
  Result<Submission> Settle(const std::string& id) {
    Result<Submission> s = chain_->Track(id);
    for (int i = 0; i < 200 && s.ok() && s->state == SubmissionState::kPending; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      s = chain_->Track(id);
    }
    return s;
  }

  std::string Balance(int account) {
    return anvil_->BalanceOf(anvil_->accounts()[static_cast<size_t>(account)].address);
  }
  std::string MerchantBalance() { return anvil_->BalanceOf(kMerchant); }

  static constexpr char kMerchant[] = "0x1111111111111111111111111111111111111111";
  testing::TempDir dir_;
  testing::FakeClock clock_{1795000000};
  std::unique_ptr<AnvilChain> anvil_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  EvmChainConfig config_;
  std::string facilitator_;
  std::unique_ptr<EvmRpcChain> chain_;
};

TEST_F(EvmChainTest, SingleTransferConfirmsAndIsSubmittedOnce) {
  Start(/*automine=*/true);
  if (IsSkipped() || HasFatalFailure()) return;
  const SignedTransfer t = Transfer(1, 1234567, 0x01);
  EXPECT_FALSE(*chain_->AuthorizationUsed(t.token, t.authorization.from, t.authorization.nonce));
  EXPECT_EQ(chain_->BalanceOf(t.token, t.authorization.from)->ToString(), "1000000000");

  Result<Submission> s = chain_->Submit("pay-1", {t});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->state, SubmissionState::kPending);
  ASSERT_EQ(s->tx_hash.size(), 66u);
  EXPECT_EQ(*chain_->Unfinished(), std::vector<std::string>{"pay-1"});

  Result<Submission> done = Settle("pay-1");
  ASSERT_TRUE(done.ok()) << done.error().ToString();
  EXPECT_EQ(done->state, SubmissionState::kConfirmed) << done->error;
  EXPECT_EQ(done->tx_hash, s->tx_hash);
  EXPECT_GT(done->block, 0u);
  ASSERT_EQ(done->outcomes.size(), 1u);
  EXPECT_TRUE(done->outcomes[0].succeeded);
  EXPECT_TRUE(chain_->Unfinished()->empty());

  // Exactly the amount moved, read through the backend and through the fixture.
  EXPECT_EQ(chain_->BalanceOf(t.token, t.authorization.from)->ToString(), "998765433");
  EXPECT_EQ(chain_->BalanceOf(t.token, Addr(kMerchant))->ToString(), "1234567");
  EXPECT_EQ(MerchantBalance(), "1234567");
  EXPECT_TRUE(*chain_->AuthorizationUsed(t.token, t.authorization.from, t.authorization.nonce));

  // Submit again with the same id: the stored submission, no second transaction.
  Result<Submission> again = chain_->Submit("pay-1", {t});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->tx_hash, s->tx_hash);
  EXPECT_EQ(again->state, SubmissionState::kConfirmed);
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 1u);
  EXPECT_EQ(MerchantBalance(), "1234567");
}

TEST_F(EvmChainTest, BatchOfThreeReportsEachTransfer) {
  Start(/*automine=*/true);
  if (IsSkipped() || HasFatalFailure()) return;
  const SignedTransfer a = Transfer(1, 100, 0x21);
  const SignedTransfer bad = Transfer(2, 200, 0x22, /*signer_account=*/4);  // wrong signer
  const SignedTransfer c = Transfer(3, 300, 0x23);
  const uint64_t first_block = anvil_->BlockNumber() + 1;

  Result<Submission> s = chain_->Submit("batch-1", {a, bad, c});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  Result<Submission> done = Settle("batch-1");
  ASSERT_TRUE(done.ok()) << done.error().ToString();
  // A batch with a failed transfer is kReverted (settlement/evm_chain.h), per transfer outcomes.
  EXPECT_EQ(done->state, SubmissionState::kReverted);
  EXPECT_EQ(done->error, "1 of 3 transfers failed");
  ASSERT_EQ(done->outcomes.size(), 3u);
  EXPECT_TRUE(done->outcomes[0].succeeded);
  EXPECT_FALSE(done->outcomes[1].succeeded);
  EXPECT_TRUE(done->outcomes[2].succeeded);
  EXPECT_EQ(done->outcomes[1].nonce, bad.authorization.nonce);

  EXPECT_EQ(Balance(1), "999999900");
  EXPECT_EQ(Balance(2), "1000000000");
  EXPECT_EQ(Balance(3), "999999700");
  EXPECT_EQ(MerchantBalance(), "400");
  // One transaction, to the settler.
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 1u);
  EXPECT_EQ(anvil_->TransactionsTo(anvil_->batch_settler(), first_block, anvil_->BlockNumber()),
            1u);
}

TEST_F(EvmChainTest, LargestBatchFitsAndOneMoreIsRefused) {
  Start(/*automine=*/true);
  if (IsSkipped() || HasFatalFailure()) return;
  std::vector<SignedTransfer> transfers;
  for (size_t i = 0; i < kMaxTransfersPerSubmission; ++i) {
    // (payer, seed) pairs are distinct, so are the (from, nonce) pairs.
    transfers.push_back(Transfer(1 + static_cast<int>(i % 3), 1, static_cast<uint8_t>(i / 3)));
  }
  std::vector<SignedTransfer> too_many = transfers;
  too_many.push_back(Transfer(1, 1, 0xfe));
  EXPECT_EQ(chain_->Submit("too-big", too_many).error().reason(), "batch-too-large");

  Result<Submission> s = chain_->Submit("big", transfers);
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  Result<Submission> done = Settle("big");
  ASSERT_TRUE(done.ok()) << done.error().ToString();
  EXPECT_EQ(done->state, SubmissionState::kConfirmed) << done->error;
  ASSERT_EQ(done->outcomes.size(), kMaxTransfersPerSubmission);
  for (const TransferOutcome& o : done->outcomes) EXPECT_TRUE(o.succeeded);
  EXPECT_EQ(MerchantBalance(), std::to_string(kMaxTransfersPerSubmission));
  const std::optional<Receipt> receipt = *chain_->rpc().TransactionReceipt(done->tx_hash);
  ASSERT_TRUE(receipt.has_value());
  // Half of a 30M-gas block at most, so the cap leaves room on real networks.
  EXPECT_LT(receipt->gas_used, 15000000u);
  std::printf("batch of %zu transfers: %llu gas (%llu per transfer)\n", kMaxTransfersPerSubmission,
              static_cast<unsigned long long>(receipt->gas_used),
              static_cast<unsigned long long>(receipt->gas_used / kMaxTransfersPerSubmission));
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 1u);
}

TEST_F(EvmChainTest, TransferThatWouldRevertIsFailedWithoutATransaction) {
  Start(/*automine=*/true);
  if (IsSkipped() || HasFatalFailure()) return;
  const SignedTransfer t = Transfer(1, 10, 0x31);
  ASSERT_EQ(chain_->Submit("first", {t})->state, SubmissionState::kPending);
  ASSERT_EQ(Settle("first")->state, SubmissionState::kConfirmed);
  // The same authorization again: the token refuses a used nonce, so estimation reverts.
  Result<Submission> s = chain_->Submit("second", {t});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->state, SubmissionState::kFailed);
  EXPECT_EQ(s->tx_hash, "");
  EXPECT_NE(s->error.find("revert"), std::string::npos) << s->error;
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 1u);
  EXPECT_TRUE(chain_->Unfinished()->empty());
  EXPECT_EQ(MerchantBalance(), "10");
}

TEST_F(EvmChainTest, RestartBetweenSubmissionAndConfirmationSubmitsOnce) {
  Start(/*automine=*/false);
  if (IsSkipped() || HasFatalFailure()) return;
  const SignedTransfer t = Transfer(1, 5000, 0x41);
  Result<Submission> s = chain_->Submit("crash-1", {t});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  ASSERT_EQ(s->state, SubmissionState::kPending);
  const std::string hash = s->tx_hash;

  // "Crash": the chain client goes away with the transaction in the node's pool, unmined.
  OpenChain();
  EXPECT_EQ(*chain_->Unfinished(), std::vector<std::string>{"crash-1"});
  Result<Submission> waiting = chain_->Track("crash-1");
  ASSERT_TRUE(waiting.ok()) << waiting.error().ToString();
  EXPECT_EQ(waiting->state, SubmissionState::kPending);
  EXPECT_EQ(waiting->tx_hash, hash);
  // Submit after the restart returns the journaled submission; no second transaction.
  EXPECT_EQ(chain_->Submit("crash-1", {t})->tx_hash, hash);

  const uint64_t block = anvil_->BlockNumber() + 1;
  anvil_->Mine();
  Result<Submission> done = Settle("crash-1");
  ASSERT_TRUE(done.ok()) << done.error().ToString();
  EXPECT_EQ(done->state, SubmissionState::kConfirmed) << done->error;
  EXPECT_EQ(done->tx_hash, hash);
  EXPECT_EQ(done->block, block);
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 1u);
  EXPECT_EQ(anvil_->TransactionsInBlocks(block, block), 1u);
  EXPECT_EQ(MerchantBalance(), "5000");
  EXPECT_TRUE(chain_->Unfinished()->empty());

  // A new submission after the restart takes the next account nonce.
  ASSERT_TRUE(chain_->Submit("crash-2", {Transfer(2, 7, 0x42)}).ok());
  anvil_->Mine();
  EXPECT_EQ(Settle("crash-2")->state, SubmissionState::kConfirmed);
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 2u);
}

TEST_F(EvmChainTest, DroppedTransactionIsBroadcastAgainFromTheJournal) {
  Start(/*automine=*/false);
  if (IsSkipped() || HasFatalFailure()) return;
  Result<Submission> s = chain_->Submit("drop-1", {Transfer(1, 42, 0x51)});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  json::Value params = json::Value::Array();
  params.Append(json::Value::String(s->tx_hash));
  anvil_->Rpc("anvil_dropTransaction", params);
  json::Value byhash = json::Value::Array();
  byhash.Append(json::Value::String(s->tx_hash));
  ASSERT_TRUE(anvil_->Rpc("eth_getTransactionByHash", byhash).is_null());

  // The node forgot it and the nonce is unused: Track sends the same bytes again.
  EXPECT_EQ(chain_->Track("drop-1")->state, SubmissionState::kPending);
  EXPECT_FALSE(anvil_->Rpc("eth_getTransactionByHash", byhash).is_null());
  anvil_->Mine();
  Result<Submission> done = Settle("drop-1");
  EXPECT_EQ(done->state, SubmissionState::kConfirmed) << done->error;
  EXPECT_EQ(done->tx_hash, s->tx_hash);
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 1u);
  EXPECT_EQ(MerchantBalance(), "42");
}

TEST_F(EvmChainTest, StuckTransactionIsReplacedWithTheSameNonceAndHigherFees) {
  Start(/*automine=*/false);
  if (IsSkipped() || HasFatalFailure()) return;
  Result<Submission> s = chain_->Submit("stuck-1", {Transfer(1, 77, 0x61)});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  // Not yet old enough: nothing changes.
  clock_.AdvanceSeconds(59);
  EXPECT_EQ(chain_->Track("stuck-1")->tx_hash, s->tx_hash);
  clock_.AdvanceSeconds(1);
  Result<Submission> replaced = chain_->Track("stuck-1");
  ASSERT_TRUE(replaced.ok()) << replaced.error().ToString();
  EXPECT_EQ(replaced->state, SubmissionState::kPending);
  EXPECT_NE(replaced->tx_hash, s->tx_hash);
  EXPECT_EQ(replaced->error, "");  // the node took the replacement

  const uint64_t block = anvil_->BlockNumber() + 1;
  anvil_->Mine();
  Result<Submission> done = Settle("stuck-1");
  ASSERT_TRUE(done.ok()) << done.error().ToString();
  EXPECT_EQ(done->state, SubmissionState::kConfirmed) << done->error;
  EXPECT_EQ(done->tx_hash, replaced->tx_hash);
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 1u);
  EXPECT_EQ(anvil_->TransactionsInBlocks(block, block), 1u);
  EXPECT_EQ(MerchantBalance(), "77");
}

// The operator configures another facilitator_key (a new gas account) and restarts while a
// submission is stuck: it stays with the account that holds its nonce, and its replacement is
// signed by that account's key (before, by the new key with the old account's nonce: a second
// transaction from another account, and a nonce gap on the new one).
TEST_F(EvmChainTest, AStuckSubmissionStaysWithItsAccountAfterTheGasKeyChanges) {
  Start(/*automine=*/false);
  if (IsSkipped() || HasFatalFailure()) return;
  Result<Submission> s = chain_->Submit("moved-1", {Transfer(1, 55, 0x6a)});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  Bytes secret = Hex(anvil_->accounts()[8].private_key);
  Result<signer::KeyInfo> other = keys_->Import(signer::KeyType::kSecp256k1, secret,
                                                std::string(signer::kFacilitatorKeyPurpose),
                                                "service");
  ASSERT_TRUE(other.ok()) << other.error().ToString();
  config_.facilitator_key = other->id;
  OpenChain();
  clock_.AdvanceSeconds(60);
  Result<Submission> replaced = chain_->Track("moved-1");
  ASSERT_TRUE(replaced.ok()) << replaced.error().ToString();
  EXPECT_NE(replaced->tx_hash, s->tx_hash);  // repriced
  anvil_->Mine();
  Result<Submission> done = Settle("moved-1");
  ASSERT_TRUE(done.ok()) << done.error().ToString();
  EXPECT_EQ(done->state, SubmissionState::kConfirmed) << done->error;
  EXPECT_EQ(done->tx_hash, replaced->tx_hash);
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 1u);
  EXPECT_EQ(anvil_->TransactionCount(anvil_->accounts()[8].address), 0u);
  EXPECT_EQ(MerchantBalance(), "55");
}

// Forwards to the real HTTP transport but loses every eth_sendRawTransaction: what a process
// that stops right after journaling leaves behind (signed and durable, never broadcast).
class LosingSendTransport final : public JsonRpcTransport {
 public:
  explicit LosingSendTransport(std::unique_ptr<JsonRpcTransport> inner)
      : inner_(std::move(inner)) {}
  Result<std::string> Post(const std::string& body) override {
    if (body.find("\"eth_sendRawTransaction\"") != std::string::npos) {
      return UnavailableError("lost on the way", "rpc-unreachable");
    }
    return inner_->Post(body);
  }

 private:
  std::unique_ptr<JsonRpcTransport> inner_;
};

TEST_F(EvmChainTest, JournaledButNeverBroadcastIsSentAfterRestart) {
  Start(/*automine=*/true);
  if (IsSkipped() || HasFatalFailure()) return;
  chain_ = std::make_unique<EvmRpcChain>(
      config_,
      std::make_unique<LosingSendTransport>(api::MakeHttpJsonRpcTransport(config_.rpc_url, 5000)),
      *kv_, *keys_, clock_);
  Result<Submission> s = chain_->Submit("lost-1", {Transfer(1, 900, 0x81)});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->state, SubmissionState::kPending);
  EXPECT_EQ(s->error.rfind("broadcast: ", 0), 0u) << s->error;
  json::Value byhash = json::Value::Array();
  byhash.Append(json::Value::String(s->tx_hash));
  EXPECT_TRUE(anvil_->Rpc("eth_getTransactionByHash", byhash).is_null());
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 0u);

  OpenChain();  // restart with a working transport
  ASSERT_EQ(*chain_->Unfinished(), std::vector<std::string>{"lost-1"});
  Result<Submission> resent = chain_->Track("lost-1");  // the node does not know it: sent again
  ASSERT_TRUE(resent.ok()) << resent.error().ToString();
  EXPECT_EQ(resent->tx_hash, s->tx_hash);
  Result<Submission> done = Settle("lost-1");
  ASSERT_TRUE(done.ok()) << done.error().ToString();
  EXPECT_EQ(done->state, SubmissionState::kConfirmed) << done->error;
  EXPECT_EQ(done->tx_hash, s->tx_hash);
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 1u);
  EXPECT_EQ(MerchantBalance(), "900");
}

// A copy the node keeps refusing (here every broadcast is lost; in life, e.g. the gas account
// out of funds) is sent again as it is, round after round: a replacement would only raise what
// it costs (before, each round signed a copy 10% dearer, without end).
TEST_F(EvmChainTest, ARefusedCopyIsSentAgainNotRepricedForEver) {
  Start(/*automine=*/true);
  if (IsSkipped() || HasFatalFailure()) return;
  chain_ = std::make_unique<EvmRpcChain>(
      config_,
      std::make_unique<LosingSendTransport>(api::MakeHttpJsonRpcTransport(config_.rpc_url, 5000)),
      *kv_, *keys_, clock_);
  Result<Submission> s = chain_->Submit("refused-1", {Transfer(1, 500, 0x91)});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  for (int round = 0; round < 5; ++round) {
    clock_.AdvanceSeconds(config_.replace_after_s);
    Result<Submission> t = chain_->Track("refused-1");
    ASSERT_TRUE(t.ok()) << t.error().ToString();
    EXPECT_EQ(t->state, SubmissionState::kPending);
    EXPECT_EQ(t->tx_hash, s->tx_hash) << "round " << round;
    EXPECT_EQ(t->error.rfind("broadcast: ", 0), 0u) << t->error;
  }
  OpenChain();  // the node takes it now: the one copy there is
  Result<Submission> done = Settle("refused-1");
  ASSERT_TRUE(done.ok()) << done.error().ToString();
  EXPECT_EQ(done->state, SubmissionState::kConfirmed) << done->error;
  EXPECT_EQ(done->tx_hash, s->tx_hash);
  EXPECT_EQ(MerchantBalance(), "500");
}

// Two submissions in the pool, neither mined: only the one whose nonce is next is repriced; the
// later one waits behind it rather than pay more for a stall that is not its own.
TEST_F(EvmChainTest, OnlyTheNextNonceIsRepricedWhenSeveralWait) {
  Start(/*automine=*/false);
  if (IsSkipped() || HasFatalFailure()) return;
  Result<Submission> first = chain_->Submit("wait-1", {Transfer(1, 11, 0xa1)});
  Result<Submission> second = chain_->Submit("wait-2", {Transfer(2, 22, 0xa2)});
  ASSERT_TRUE(first.ok() && second.ok());
  clock_.AdvanceSeconds(config_.replace_after_s);
  Result<Submission> behind = chain_->Track("wait-2");
  ASSERT_TRUE(behind.ok()) << behind.error().ToString();
  EXPECT_EQ(behind->tx_hash, second->tx_hash);
  EXPECT_EQ(behind->error, "waiting behind account nonce 0");
  Result<Submission> next = chain_->Track("wait-1");
  ASSERT_TRUE(next.ok()) << next.error().ToString();
  EXPECT_NE(next->tx_hash, first->tx_hash);
  anvil_->Mine();
  EXPECT_EQ(Settle("wait-1")->state, SubmissionState::kConfirmed);
  EXPECT_EQ(Settle("wait-2")->state, SubmissionState::kConfirmed);
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 2u);
  EXPECT_EQ(MerchantBalance(), "33");
}

// A batch is read from the logs of the settler it was sent to, as journaled: a restart with
// another (or no) batch_settler configured does not turn paid transfers into failed ones.
TEST_F(EvmChainTest, ABatchIsReadFromTheSettlerItWasSentTo) {
  Start(/*automine=*/false);
  if (IsSkipped() || HasFatalFailure()) return;
  Result<Submission> s =
      chain_->Submit("batch-moved", {Transfer(1, 100, 0xb1), Transfer(2, 200, 0xb2)});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  config_.batch_settler.reset();
  OpenChain();
  anvil_->Mine();
  Result<Submission> done = Settle("batch-moved");
  ASSERT_TRUE(done.ok()) << done.error().ToString();
  EXPECT_EQ(done->state, SubmissionState::kConfirmed) << done->error;
  ASSERT_EQ(done->outcomes.size(), 2u);
  EXPECT_TRUE(done->outcomes[0].succeeded);
  EXPECT_TRUE(done->outcomes[1].succeeded);
  EXPECT_EQ(MerchantBalance(), "300");
}

TEST_F(EvmChainTest, RawTransactionSentAgainIsTheSameTransaction) {
  Start(/*automine=*/false);
  if (IsSkipped() || HasFatalFailure()) return;
  EvmRpc& rpc = chain_->rpc();
  const Address from = *chain_->facilitator_address();
  Eip1559Tx tx;
  tx.chain_id = config_.chain_id;
  tx.nonce = *rpc.TransactionCount(from, "pending");
  const FeeData fees = *rpc.Fees();
  tx.max_priority_fee_per_gas = fees.max_priority_fee_per_gas;
  tx.max_fee_per_gas = fees.max_fee_per_gas;
  tx.gas_limit = 21000;
  tx.to = Addr(kMerchant);
  tx.value = 1;
  const SignedTx signed_tx = *SignEip1559(tx, *keys_, config_.facilitator_key);
  const std::string hash = signed_tx.HashText();
  // In the pool: the node already knows it.
  EXPECT_EQ(*rpc.SendRawTransaction(signed_tx.raw, hash), hash);
  Result<std::string> again = rpc.SendRawTransaction(signed_tx.raw, hash);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(*again, hash);
  anvil_->Mine();
  // Mined: its nonce is used, by this very transaction.
  Result<std::string> after = rpc.SendRawTransaction(signed_tx.raw, hash);
  ASSERT_TRUE(after.ok()) << after.error().ToString();
  EXPECT_EQ(*after, hash);
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 1u);
  // Another transaction with the used nonce is refused as such.
  tx.value = 2;
  const SignedTx other = *SignEip1559(tx, *keys_, config_.facilitator_key);
  Result<std::string> refused = rpc.SendRawTransaction(other.raw, other.HashText());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().reason(), "nonce-too-low") << refused.error().ToString();
}

TEST_F(EvmChainTest, ConcurrentSubmissionsTakeDistinctNonces) {
  Start(/*automine=*/true);
  if (IsSkipped() || HasFatalFailure()) return;
  std::vector<SignedTransfer> transfers;
  for (int i = 0; i < 6; ++i) {
    transfers.push_back(Transfer(1 + i % 3, 10 + static_cast<uint64_t>(i),
                                 static_cast<uint8_t>(0x70 + i)));
  }
  std::vector<std::thread> threads;
  std::vector<Status> results(transfers.size());
  for (size_t i = 0; i < transfers.size(); ++i) {
    threads.emplace_back([&, i] {
      results[i] = chain_->Submit("conc-" + std::to_string(i), {transfers[i]}).status();
    });
  }
  for (std::thread& th : threads) th.join();
  for (size_t i = 0; i < transfers.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].ToString();
    EXPECT_EQ(Settle("conc-" + std::to_string(i))->state, SubmissionState::kConfirmed);
  }
  EXPECT_EQ(anvil_->TransactionCount(facilitator_), 6u);
  EXPECT_EQ(MerchantBalance(), "75");  // 10 + 11 + ... + 15
}

}  // namespace
}  // namespace mandated::settlement
