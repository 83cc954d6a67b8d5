// The real mandatectl binary against the real mandated binary: a merchant reports a usage batch
// from a file, the retry is all duplicates, the operator (naming the principal) and an admin show
// the aggregates, and usage errors exit 2 (specs/usage.md §7).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/clock.h"
#include "cli/command_kit.h"
#include "tests/support/mandatectl_run.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated::cli {
namespace {

using testing::FirstWord;
using testing::LineValue;
using testing::WriteFile;

class CliUsageTest : public ::testing::Test {
 protected:
  using Ran = testing::CliRun;

  void SetUp() override {
    server_ = std::make_unique<testing::ServerProcess>(dir_.Sub("data"));
    ASSERT_TRUE(server_->Start()) << server_->Stderr();
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
    op_ = server_->bootstrap_token();
    Ran p = Exec({"--server", url_, "--token", op_, "principals", "create", "--name", "Acme"});
    ASSERT_EQ(p.exit_code, 0) << p.err;
    principal_ = FirstWord(p.out);
    Ran merchant = As(op_, {"credentials", "create", "--role", "merchant", "--name", "shop"});
    ASSERT_EQ(merchant.exit_code, 0) << merchant.err;
    merchant_ = LineValue(merchant.out, "token");
    ASSERT_EQ(merchant_.rfind("crd_", 0), 0u) << merchant.out;
  }

  std::string Path(const std::string& name) { return dir_.Sub(name); }
  Ran Exec(const std::vector<std::string>& args) {
    return testing::RunMandatectl(args, Path("exec"));
  }
  Ran As(const std::string& token, std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", url_, "--token", token, "--principal", principal_});
    return Exec(args);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ServerProcess> server_;
  std::string url_, op_, principal_, merchant_;
};

TEST_F(CliUsageTest, ReportRetryAndShow) {
  const int64_t at = SystemClock::Get().NowUnixSeconds() / 86400 * 86400;  // today, 00:00 UTC
  const std::string t = std::to_string(at);
  WriteFile(Path("batch.json"),
            R"({"events":[{"id":"u1","payee":"api.shop","asset":"USD","amount":"120","at":)" + t +
                R"(},{"id":"u2","payee":"cdn.shop","asset":"USD","amount":"30","quantity":4,"at":)" +
                t + "}]}");
  // The merchant's credential names its principal; no --principal needed.
  Ran first = Exec({"--server", url_, "--token", merchant_, "usage", "report", Path("batch.json")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, "accepted 2, duplicates 0, conflicts 0\n");
  Ran retry = Exec({"--server", url_, "--token", merchant_, "usage", "report", Path("batch.json")});
  ASSERT_EQ(retry.exit_code, 0) << retry.err;
  EXPECT_EQ(retry.out,
            "accepted 0, duplicates 2, conflicts 0\nevent #0: duplicate\nevent #1: duplicate\n");

  Ran total = As(op_, {"usage", "show"});
  ASSERT_EQ(total.exit_code, 0) << total.err;
  EXPECT_EQ(total.out, "150 USD (2 events, quantity 5)\n");
  Ran by_payee = As(op_, {"usage", "show", "--group-by", "payee", "--window", "day"});
  ASSERT_EQ(by_payee.exit_code, 0) << by_payee.err;
  const std::string day = UtcTime(at);
  EXPECT_EQ(by_payee.out, day + " payee=api.shop 120 USD (1 events, quantity 1)\n" + day +
                              " payee=cdn.shop 30 USD (1 events, quantity 4)\n");
  Ran json = As(op_, {"--json", "usage", "show", "--asset", "EUR"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find(R"("items":[])"), std::string::npos) << json.out;

  // Refusals: a bad batch (exit 1, the problem named), usage errors (exit 2).
  WriteFile(Path("bad.json"), R"({"events":[{"id":"u3","payee":"p","asset":"USD","amount":3}]})");
  Ran bad = Exec({"--server", url_, "--token", merchant_, "usage", "report", Path("bad.json")});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("amount-not-string"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("/events/0/amount"), std::string::npos) << bad.err;
  EXPECT_EQ(As(op_, {"usage", "report"}).exit_code, 2);
  EXPECT_EQ(As(op_, {"usage", "budgets"}).exit_code, 2);
  EXPECT_EQ(As(op_, {"usage", "report", Path("missing.json")}).exit_code, 2);
}

}  // namespace
}  // namespace mandated::cli
