// The real mandatectl binary against the real mandated binary: a merchant reports a usage batch
// from a file, the retry is all duplicates, the operator (naming the principal) and an admin show
// the aggregates, and usage errors exit 2 (specs/usage.md §7).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/clock.h"
#include "cli/command_kit.h"
#include "tests/support/mandatectl_run.h"
#include "tests/support/test_support.h"

namespace mandated::cli {
namespace {

using testing::LineValue;
using testing::WriteFile;

class CliUsageTest : public testing::MandatectlTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartServerWithPrincipal());
    Ran merchant = As(op_, {"credentials", "create", "--role", "merchant", "--name", "shop"});
    ASSERT_EQ(merchant.exit_code, 0) << merchant.err;
    merchant_ = LineValue(merchant.out, "token");
    ASSERT_EQ(merchant_.rfind("crd_", 0), 0u) << merchant.out;
  }

  std::string merchant_;
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
