// Interop of x402 with the reference npm packages (pinned in tests/interop), in both directions.
//
// The service runs in-process on loopback with the system clock, and the demo merchant
// (tests/interop/demo_merchant.mjs: x402-express for v1, @x402/express for v2) runs as a child
// process with mandated as its facilitator and a merchant credential's token.
//
// Reference clients pay us: pay_demo.mjs pays the merchant with x402-fetch (v1) and @x402/fetch
// (v2) as the Anvil #1 development key; each call gets the resource, the settlement header says
// success with a transaction, the ledger moves exactly the price from the payer's account to the
// merchant's, and the same payment header sent again is refused (it settles once).
//
// The reference facilitator accepts our payer: a custodial secp256k1 agent pays the merchant's
// own 402 answers through POST /v1/x402/pay inside a mandate, and reference_verify.mjs runs
// @x402/evm's facilitator verify (and, for v1, x402's legacy verify) on the headers with a local
// stand-in for the chain reads: valid, with the agent as payer. Tampered headers are refused with
// the reference's reasons. The agent's headers then buy the resource from the merchant.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/json.h"
#include "mandates/credential.h"
#include "tests/support/in_process_service.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::StringField;

constexpr char kOperatorToken[] = "x402-interop-operator-token-61c0d2";
// The public Anvil #1 development account pay_demo.mjs pays with (its default --key).
constexpr char kAnvil1[] = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
// demo_merchant.mjs defaults: its payTo (Anvil #3), the token and the prices of its two routes.
constexpr char kMerchantPayTo[] = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
constexpr char kUsdcSepolia[] = "eip155:84532/erc20:0x036cbd53842c5426634e7929541ec2318f3dcf7e";
constexpr char kPriceV1[] = "10000";
constexpr char kPriceV2[] = "2500";

std::string Lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

// The ledger account of an address on Base Sepolia.
std::string SepoliaAccount(const std::string& address) {
  return "eip155:84532:" + Lower(address);
}

const json::Value& Member(const json::Value& v, const char* key) {
  static const json::Value kNull;
  const json::Value* m = v.is_object() ? v.Find(key) : nullptr;
  return m != nullptr ? *m : kNull;
}

bool IsTransactionHash(const std::string& s) {
  if (s.size() != 66 || s.rfind("0x", 0) != 0) {
    return false;
  }
  for (size_t i = 2; i < s.size(); ++i) {
    if (std::isxdigit(static_cast<unsigned char>(s[i])) == 0) {
      return false;
    }
  }
  return true;
}

// The JSON inside a base64 header value (PAYMENT-REQUIRED, X-PAYMENT, ...), or null.
json::Value DecodeBase64Json(const std::string& value) {
  Result<Bytes> raw = Base64Decode(value);
  if (!raw.ok()) {
    return json::Value();
  }
  Result<json::Value> v = json::Parse(std::string(raw->begin(), raw->end()));
  return v.ok() ? *v : json::Value();
}

std::string EncodeBase64Json(const json::Value& v) {
  const std::string text = json::Write(v);
  return Base64Encode(AsBytes(std::string_view(text)));
}

// The node binary on PATH, found before any fork (the child only execs).
std::string NodeBinary() {
  const char* path = getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, end - start) + "/node";
    if (end > start && access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return "";
}

// CI must run these tests: there a missing node or tests/interop/node_modules fails them;
// elsewhere they are skipped.
bool InCi() {
  for (const char* v : {"CI", "MANDATED_CI"}) {
    const char* s = getenv(v);
    if (s != nullptr && *s != '\0' && std::string(s) != "0") return true;
  }
  return false;
}

bool InteropInstalled() {
  return std::filesystem::exists(testing::SourcePath("tests/interop/node_modules/x402-fetch")) &&
         std::filesystem::exists(testing::SourcePath("tests/interop/node_modules/@x402/fetch")) &&
         !NodeBinary().empty();
}

// One node script run as a child process, in its own process group. The destructor ends it (TERM,
// then KILL after two seconds) and reaps it, so an assertion failing half-way leaves no process.
class NodeChild {
 public:
  NodeChild() = default;
  NodeChild(const NodeChild&) = delete;
  NodeChild& operator=(const NodeChild&) = delete;
  ~NodeChild() { Stop(); }

  // Starts `node tests/interop/<script> args...` with stdout on a pipe and stderr in
  // `stderr_path`. False (and a test failure) when it cannot be started.
  bool Start(const std::string& script, const std::vector<std::string>& args,
             const std::string& stderr_path) {
    stderr_path_ = stderr_path;
    std::vector<std::string> argv = {NodeBinary(), testing::SourcePath("tests/interop/" + script)};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (std::string& a : argv) {
      cargv.push_back(a.data());
    }
    cargv.push_back(nullptr);
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2 failed";
      return false;
    }
    const int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_ = fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec: the service's threads live on in
      // the parent only.
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // even if the test binary itself dies
      dup2(out[1], 1);
      if (err >= 0) {
        dup2(err, 2);
      }
      execv(cargv[0], cargv.data());
      _exit(127);
    }
    close(out[1]);
    if (err >= 0) {
      close(err);
    }
    if (pid_ < 0) {
      close(out[0]);
      ADD_FAILURE() << "fork failed";
      return false;
    }
    setpgid(pid_, pid_);  // also from here, so Stop() never races the child's own call
    out_ = out[0];
    return true;
  }

  // The first line the child prints on stdout, waiting at most `timeout`; "" when none came.
  std::string ReadLine(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (out_ < 0 || left.count() <= 0) {
        return "";
      }
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        continue;
      }
      char buf[4096];
      const ssize_t n = read(out_, buf, sizeof(buf));
      if (n <= 0) {
        close(out_);
        out_ = -1;
        continue;
      }
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

  std::string Stderr() const { return testing::ReadFileOrDie(stderr_path_); }

  // Ends the child's process group and reaps the child. Idempotent.
  void Stop() {
    if (pid_ > 0) {
      kill(-pid_, SIGTERM);
      int status = 0;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      while (waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          kill(-pid_, SIGKILL);
          waitpid(pid_, &status, 0);
          break;
        }
        usleep(20 * 1000);
      }
      pid_ = -1;
    }
    if (out_ >= 0) {
      close(out_);
      out_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buffer_;
  std::string stderr_path_;
};

class X402InteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!InteropInstalled()) {
      const char* missing =
          "node or tests/interop/node_modules missing (scripts/test.sh runs npm ci)";
      if (InCi()) FAIL() << missing;
      GTEST_SKIP() << missing;
    }
    service_.Start(dir_.Sub("data"), kOperatorToken);
    ASSERT_NE(service_.app(), nullptr);
    principal_ = StringField(
        Call("POST", "/v1/principals", kOperatorToken, R"({"name":"Interop Shop"})", 201), "id");
    base_ = "/v1/principals/" + principal_;
    merchant_token_ = StringField(Call("POST", base_ + "/credentials", kOperatorToken,
                                       R"({"role":"merchant","name":"demo merchant"})", 201),
                                  "token");
    ASSERT_FALSE(merchant_token_.empty());
  }

  void TearDown() override { merchant_.Stop(); }

  httplib::Result Send(const std::string& method, const std::string& path,
                       const std::string& token, const std::string& body,
                       const std::string& idempotency_key = "") {
    httplib::Headers h;
    if (!token.empty()) {
      h.emplace("Authorization", "Bearer " + token);
    }
    if (!idempotency_key.empty()) {
      h.emplace("Idempotency-Key", idempotency_key);
    }
    return method == "GET" ? service_.client().Get(path, h)
                           : service_.client().Post(path, h, body, "application/json");
  }

  json::Value Call(const std::string& method, const std::string& path, const std::string& token,
                   const std::string& body, int want, const std::string& idempotency_key = "") {
    httplib::Result r = Send(method, path, token, body, idempotency_key);
    if (!r) {
      ADD_FAILURE() << method << " " << path << ": no response";
      return json::Value::Object();
    }
    EXPECT_EQ(r->status, want) << method << " " << path << " " << body << " -> " << r->body;
    Result<json::Value> v = json::Parse(r->body);
    return v.ok() ? *v : json::Value::Object();
  }

  std::string NextKey() { return "interop-" + std::to_string(++keys_); }

  void Deposit(const std::string& account, const std::string& amount) {
    Call("POST", "/v1/ledger/deposits", kOperatorToken,
         R"({"account":")" + account + R"(","asset":")" + kUsdcSepolia + R"(","amount":")" +
             amount + R"(","reference":"x402 interop test"})",
         201, NextKey());
  }

  // The account's Base Sepolia USDC balance as the ledger API reports it ("0" if it never moved).
  std::string Balance(const std::string& account) {
    httplib::Result r = Send("GET", "/v1/ledger/accounts/" + account, kOperatorToken, "");
    if (!r || r->status == 404) {
      return "0";
    }
    EXPECT_EQ(r->status, 200) << r->body;
    Result<json::Value> v = json::Parse(r->body);
    if (!v.ok()) {
      return "?";
    }
    for (const json::Value& b : Member(*v, "balances").items()) {
      if (StringField(b, "asset") == kUsdcSepolia) {
        return StringField(b, "balance");
      }
    }
    return "0";
  }

  // Starts the demo merchant on a free port with mandated as its facilitator; fails the test
  // (and leaves merchant_url_ empty) when it does not report ready within 30 s.
  void StartMerchant() {
    ASSERT_TRUE(merchant_.Start("demo_merchant.mjs",
                                {"--facilitator", service_.url() + "/x402", "--merchant-token",
                                 merchant_token_, "--port", "0"},
                                dir_.Sub("merchant.stderr")));
    const std::string line = merchant_.ReadLine(std::chrono::seconds(30));
    Result<json::Value> ready = json::Parse(line);
    ASSERT_TRUE(ready.ok() && Member(*ready, "ready").is_bool())
        << "demo merchant did not start: " << line << "\n" << merchant_.Stderr();
    merchant_url_ = StringField(*ready, "url");
    EXPECT_EQ(StringField(*ready, "pay_to"), kMerchantPayTo);
    ASSERT_FALSE(merchant_url_.empty());
  }

  // Runs pay_demo.mjs against the merchant for one version ("v1" or "v2"); its JSON line.
  json::Value PayDemo(const std::string& only) {
    const std::string err = dir_.Sub("pay_demo." + only + ".stderr");
    // Bounded: a hung merchant fails this test instead of stalling the suite.
    const std::string cmd = "timeout 120 '" + NodeBinary() + "' '" +
                            testing::SourcePath("tests/interop/pay_demo.mjs") +
                            "' --merchant '" + merchant_url_ + "' --only " + only + " 2>'" + err +
                            "'";
    FILE* p = popen(cmd.c_str(), "r");
    EXPECT_NE(p, nullptr) << cmd;
    std::string out;
    char buf[4096];
    size_t n = 0;
    while (p != nullptr && (n = fread(buf, 1, sizeof(buf), p)) > 0) {
      out.append(buf, n);
    }
    const int rc = p != nullptr ? pclose(p) : -1;
    EXPECT_EQ(rc, 0) << out << testing::ReadFileOrDie(err);
    Result<json::Value> v = json::Parse(out.substr(0, out.find('\n')));
    EXPECT_TRUE(v.ok()) << "pay_demo printed: " << out << "\n" << testing::ReadFileOrDie(err);
    return v.ok() ? *v : json::Value::Object();
  }

  // GET <merchant>/<path> with one header set (none when `name` is empty).
  httplib::Result MerchantGet(const std::string& path, const std::string& name,
                              const std::string& value) {
    httplib::Client c(merchant_url_);
    c.set_read_timeout(30, 0);
    httplib::Headers h;
    if (!name.empty()) {
      h.emplace(name, value);
    }
    return c.Get(path, h);
  }

  testing::TempDir dir_;
  testing::InProcessService service_;
  NodeChild merchant_;
  std::string principal_, base_, merchant_token_, merchant_url_;
  int keys_ = 0;
};

// One paid call as pay_demo.mjs reported it: the resource, and a successful settlement.
void ExpectPaid(const json::Value& r, int version, const std::string& header,
                const std::string& network) {
  SCOPED_TRACE(json::Write(r));
  EXPECT_EQ(StringField(r, "error"), "");
  EXPECT_EQ(Member(r, "status").as_int64().value_or(0), 200);
  EXPECT_EQ(StringField(Member(r, "body"), "resource"), "premium");
  EXPECT_EQ(Member(Member(r, "body"), "x402Version").as_int64().value_or(0), version);
  EXPECT_EQ(StringField(Member(r, "payment_header"), "name"), header);
  const json::Value& settled = Member(r, "payment_response");
  EXPECT_TRUE(Member(settled, "success").is_bool() && Member(settled, "success").as_bool());
  EXPECT_TRUE(IsTransactionHash(StringField(settled, "transaction")));
  EXPECT_EQ(StringField(settled, "network"), network);
  EXPECT_EQ(StringField(settled, "payer"), kAnvil1);
}

TEST_F(X402InteropTest, ReferenceClientsPayTheDemoMerchantThroughMandated) {
  const std::string payer = SepoliaAccount(kAnvil1);
  const std::string payee = SepoliaAccount(kMerchantPayTo);
  Deposit(payer, "1000000");
  ASSERT_NO_FATAL_FAILURE(StartMerchant());

  // x402 v1: x402-fetch pays x402-express; mandated verifies and settles 10000 on its ledger.
  const json::Value v1 = PayDemo("v1");
  ExpectPaid(v1, 1, "X-PAYMENT", "base-sepolia");
  const json::Value& v1_required = Member(Member(v1, "payment_required"), "accepts");
  ASSERT_EQ(v1_required.items().size(), 1u) << json::Write(v1);
  EXPECT_EQ(StringField(v1_required.items()[0], "maxAmountRequired"), kPriceV1);
  EXPECT_EQ(Balance(payer), "990000");
  EXPECT_EQ(Balance(payee), kPriceV1);

  // x402 v2: @x402/fetch pays @x402/express; 2500 more.
  const json::Value v2 = PayDemo("v2");
  ExpectPaid(v2, 2, "PAYMENT-SIGNATURE", "eip155:84532");
  const json::Value& v2_required = Member(Member(v2, "payment_required"), "accepts");
  ASSERT_EQ(v2_required.items().size(), 1u) << json::Write(v2);
  EXPECT_EQ(StringField(v2_required.items()[0], "amount"), kPriceV2);
  EXPECT_EQ(Balance(payer), "987500");
  EXPECT_EQ(Balance(payee), "12500");

  // The same payments again: each settles once. x402-express answers the facilitator's refusal
  // in its 402 body, @x402/express in a fresh PAYMENT-REQUIRED; nothing moves.
  const std::string v1_header = StringField(Member(v1, "payment_header"), "value");
  httplib::Result again = MerchantGet("/v1/premium", "X-PAYMENT", v1_header);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 402) << again->body;
  Result<json::Value> refused = json::Parse(again->body);
  ASSERT_TRUE(refused.ok()) << again->body;
  EXPECT_NE(StringField(*refused, "error"), "") << again->body;
  EXPECT_EQ(again->get_header_value("X-PAYMENT-RESPONSE"), "");

  const std::string v2_header = StringField(Member(v2, "payment_header"), "value");
  again = MerchantGet("/v2/premium", "PAYMENT-SIGNATURE", v2_header);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 402) << again->body;
  const json::Value v2_refusal = DecodeBase64Json(again->get_header_value("PAYMENT-REQUIRED"));
  EXPECT_NE(StringField(v2_refusal, "error"), "") << json::Write(v2_refusal);
  EXPECT_EQ(again->get_header_value("PAYMENT-RESPONSE"), "");

  EXPECT_EQ(Balance(payer), "987500");
  EXPECT_EQ(Balance(payee), "12500");

  // Unpaid, the merchant still asks; the resource is never served for free.
  again = MerchantGet("/v2/premium", "", "");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 402);
  EXPECT_NE(again->get_header_value("PAYMENT-REQUIRED"), "");
}

TEST_F(X402InteropTest, ReferenceFacilitatorAcceptsOurPayersHeaders) {
  ASSERT_NO_FATAL_FAILURE(StartMerchant());
  const std::string user = StringField(
      Call("POST", base_ + "/users", kOperatorToken, R"({"name":"ada","roles":["admin"]})", 201),
      "id");
  const std::string admin =
      StringField(Call("POST", base_ + "/credentials", kOperatorToken,
                       R"({"role":"admin","user":")" + user + R"("})", 201),
                  "token");
  const json::Value agent = Call("POST", base_ + "/agents", admin,
                                 R"({"name":"buyer","custodial":{"key_type":"secp256k1",)"
                                 R"("chain_id":84532}})",
                                 201);
  const std::string agent_id = StringField(agent, "id");
  const std::string agent_address = StringField(agent, "address");
  ASSERT_EQ(agent_address.size(), 42u) << json::Write(agent);
  const int64_t now = SystemClock::Get().NowUnixSeconds();
  const std::string terms =
      std::string(R"({"scope":{"payees":{"allow":[{"type":"address","value":")") +
      Lower(kMerchantPayTo) + R"("}]},"assets":{"allow":[")" + kUsdcSepolia +
      R"("]},"networks":{"allow":["eip155:84532"]}},"limits":{"per_transaction":[{"asset":")" +
      kUsdcSepolia + R"(","max":"50000"}]}})";
  const std::string mandate =
      StringField(Call("POST", base_ + "/mandates", admin,
                       R"({"agent":")" + agent_id + R"(","valid_from":")" +
                           mandates::FormatRfc3339Utc(now - 60) + R"(","valid_until":")" +
                           mandates::FormatRfc3339Utc(now + 86400) + R"(","terms":)" + terms +
                           "}",
                       201),
                  "id");
  const std::string session = StringField(
      Call("POST", base_ + "/agents/" + agent_id + "/sessions", admin, R"({"task":"buy"})", 201),
      "token");
  ASSERT_FALSE(HasFailure()) << "setup failed";

  // The merchant's own 402 answers, as x402-express and @x402/express produce them.
  httplib::Result ask_v1 = MerchantGet("/v1/premium", "", "");
  httplib::Result ask_v2 = MerchantGet("/v2/premium", "", "");
  ASSERT_TRUE(ask_v1 && ask_v2);
  ASSERT_EQ(ask_v1->status, 402);
  ASSERT_EQ(ask_v2->status, 402);
  Result<json::Value> required_v1 = json::Parse(ask_v1->body);
  ASSERT_TRUE(required_v1.ok()) << ask_v1->body;
  const json::Value required_v2 = DecodeBase64Json(ask_v2->get_header_value("PAYMENT-REQUIRED"));
  ASSERT_TRUE(required_v2.is_object()) << ask_v2->get_header_value("PAYMENT-REQUIRED");

  // Our payer signs each inside the mandate.
  std::map<int, json::Value> paid;
  for (const auto& [version, required] :
       std::vector<std::pair<int, json::Value>>{{1, *required_v1}, {2, required_v2}}) {
    json::Value body = json::Value::Object();
    body.Set("mandate_id", json::Value::String(mandate));
    body.Set("payment_required", required);
    const json::Value pay =
        Call("POST", "/v1/x402/pay", session, json::Write(body), 201, NextKey());
    EXPECT_EQ(StringField(pay, "decision"), "allowed") << json::Write(pay);
    EXPECT_EQ(StringField(pay, "header"), version == 1 ? "X-PAYMENT" : "PAYMENT-SIGNATURE");
    ASSERT_FALSE(StringField(pay, "value").empty()) << json::Write(pay);
    paid[version] = pay;
  }

  // The reference verifies them: the genuine headers, and tampered ones.
  json::Value cases = json::Value::Array();
  auto add = [&cases](const std::string& name, const std::string& header,
                      const json::Value& requirements) {
    json::Value c = json::Value::Object();
    c.Set("name", json::Value::String(name));
    c.Set("header", json::Value::String(header));
    c.Set("requirements", requirements);
    cases.Append(std::move(c));
  };
  for (int version : {1, 2}) {
    const json::Value& pay = paid[version];
    const std::string v = "v" + std::to_string(version);
    add(v, StringField(pay, "value"), Member(pay, "accepted"));
    // One hex digit of the nonce changed: the signature no longer covers the authorization.
    json::Value tampered = Member(pay, "payment_payload");
    json::Value* inner = tampered.Find("payload");
    json::Value* auth = inner != nullptr ? inner->Find("authorization") : nullptr;
    ASSERT_NE(auth, nullptr) << json::Write(pay);
    std::string nonce = StringField(*auth, "nonce");
    nonce.back() = nonce.back() == '0' ? '1' : '0';
    auth->Set("nonce", json::Value::String(nonce));
    add(v + " nonce changed", EncodeBase64Json(tampered), Member(pay, "accepted"));
    // Checked against requirements paying someone else: signed for the merchant, not for them.
    json::Value elsewhere = Member(pay, "accepted");
    elsewhere.Set("payTo", json::Value::String("0x209693Bc6afc0C5328bA36FaF03C514EF312287C"));
    add(v + " other payee", StringField(pay, "value"), elsewhere);
  }
  const json::Value results = testing::RunInteropScript("reference_verify.mjs", cases);
  std::map<std::string, json::Value> by_name;
  for (const json::Value& r : results.items()) {
    by_name[StringField(r, "name")] = r;
  }
  ASSERT_EQ(by_name.size(), 6u) << json::Write(results);

  for (const char* v : {"v1", "v2"}) {
    SCOPED_TRACE(v);
    const json::Value& ok = by_name[v];
    EXPECT_TRUE(Member(ok, "decoded").as_bool()) << json::Write(ok);
    EXPECT_TRUE(Member(Member(ok, "schema"), "valid").as_bool()) << json::Write(ok);
    EXPECT_EQ(StringField(ok, "payer"), agent_address);
    EXPECT_EQ(json::Write(Member(ok, "x402_evm")),
              R"({"isValid":true,"payer":")" + agent_address + R"("})");

    const json::Value& nonce = by_name[std::string(v) + " nonce changed"];
    EXPECT_FALSE(Member(Member(nonce, "x402_evm"), "isValid").as_bool()) << json::Write(nonce);
    EXPECT_EQ(StringField(Member(nonce, "x402_evm"), "invalidReason"), "invalid_exact_evm_signature");

    const json::Value& payee = by_name[std::string(v) + " other payee"];
    EXPECT_FALSE(Member(Member(payee, "x402_evm"), "isValid").as_bool()) << json::Write(payee);
    EXPECT_EQ(StringField(Member(payee, "x402_evm"), "invalidReason"),
              "invalid_exact_evm_recipient_mismatch");
  }
  // x402@1.2.0's own facilitator (the legacy v1 path) agrees, in its own words.
  EXPECT_EQ(json::Write(Member(by_name["v1"], "legacy_x402")),
            R"({"isValid":true,"payer":")" + agent_address + R"("})");
  EXPECT_EQ(StringField(Member(by_name["v1 nonce changed"], "legacy_x402"), "invalidReason"),
            "invalid_exact_evm_payload_signature");
  EXPECT_EQ(StringField(Member(by_name["v1 other payee"], "legacy_x402"), "invalidReason"),
            "invalid_exact_evm_payload_recipient_mismatch");

  // And the headers buy the resource: the merchant's middlewares accept them, mandated settles
  // them from the agent's account.
  const std::string agent_account = SepoliaAccount(agent_address);
  Deposit(agent_account, "100000");
  for (int version : {1, 2}) {
    SCOPED_TRACE("v" + std::to_string(version));
    const json::Value& pay = paid[version];
    httplib::Result r = MerchantGet(version == 1 ? "/v1/premium" : "/v2/premium",
                                    StringField(pay, "header"), StringField(pay, "value"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body << "\n" << merchant_.Stderr();
    const json::Value settled = DecodeBase64Json(
        r->get_header_value(version == 1 ? "X-PAYMENT-RESPONSE" : "PAYMENT-RESPONSE"));
    EXPECT_TRUE(Member(settled, "success").as_bool()) << json::Write(settled);
    EXPECT_EQ(StringField(settled, "payer"), agent_address);
  }
  EXPECT_EQ(Balance(agent_account), "87500");
  EXPECT_EQ(Balance(SepoliaAccount(kMerchantPayTo)), "12500");
}

}  // namespace
}  // namespace mandated
