// AP2 mandate content after review (specs/ap2.md §5-§6): the custodial `closed` allow-list, single
// use without agent_recurrence, budgets in major units read back exactly, free-form instrument
// members, and the all-must-match rules of payment.reference and allowed_pisps.
#include <gtest/gtest.h>

#include <string>

#include "base/json.h"
#include "mandates/ap2.h"

namespace mandated::mandates::ap2 {
namespace {

constexpr int64_t kNow = 1767225600;

json::Value J(std::string_view text) {
  Result<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : json::Value();
}
std::string Reason(const Status& s) { return s.ok() ? "" : s.reason(); }

constexpr char kClosed[] =
    R"({"vct":"mandate.payment.1","transaction_id":"tx","payee":{"id":"m1","name":"N"},)"
    R"("payment_amount":{"amount":500,"currency":"USD"},"payment_instrument":{"id":"i1","type":"card"}})";

ClosedPayment Closed(int64_t amount, const std::string& currency = "USD") {
  json::Value c = J(kClosed);
  c.Set("payment_amount", json::Value::Object()
                              .Set("amount", json::Value::Int(amount))
                              .Set("currency", json::Value::String(currency)));
  Result<ClosedPayment> p = ParseClosedPayment(c);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return *p;
}
json::Value Open(std::string_view constraints) {
  json::Value open = J(R"({"vct":"mandate.payment.open.1"})");
  open.Set("constraints", J(constraints));
  return open;
}

TEST(Ap2CustodialClosedTest, OnlyClosedPaymentMembersAndNoReservedNames) {
  EXPECT_EQ(Reason(CheckCustodialClosed(J(kClosed))), "");
  json::Value full = J(kClosed);
  full.Set("pisp", J(R"({"legal_name":"L","brand_name":"B","domain_name":"p.example"})"));
  full.Set("execution_date", json::Value::String("2026-01-01T00:00:00Z"));
  full.Set("risk_data", J(R"({"device":{"ip":"192.0.2.1"}})"));
  EXPECT_EQ(Reason(CheckCustodialClosed(full)), "");
  EXPECT_EQ(Reason(CheckCustodialClosed(J("[]"))), "ap2-closed-mandate-invalid");
  EXPECT_EQ(Reason(CheckCustodialClosed(J(R"("text")"))), "ap2-closed-mandate-invalid");
  struct Case {
    const char* member;
    const char* value;
    const char* pointer;
  };
  for (const Case& c : {
           Case{"delegate_payload", R"({"x":1})", "/closed/delegate_payload"},
           Case{"_sd", R"(["abc"])", "/closed/_sd"},
           Case{"...", R"("abc")", "/closed/..."},
           Case{"_sd_alg", R"("sha-256")", "/closed/_sd_alg"},
           Case{"cnf", R"({"jwk":{}})", "/closed/cnf"},
           Case{"iat", "1", "/closed/iat"},
           Case{"exp", "1", "/closed/exp"},
           Case{"note", R"("hi")", "/closed/note"},
           Case{"risk_data", R"({"_sd":["abc"]})", "/closed/risk_data/_sd"},
           Case{"risk_data", R"({"a":[{"delegate_payload":1}]})", "/closed/risk_data/a/0/delegate_payload"},
           Case{"payment_instrument", R"({"id":"i1","type":"card","x":{"...":"d"}})",
                "/closed/payment_instrument/x/..."},
       }) {
    json::Value v = J(kClosed);
    v.Set(c.member, J(c.value));
    const Status s = CheckCustodialClosed(v);
    EXPECT_EQ(Reason(s), "ap2-closed-mandate-invalid") << c.member << " " << c.value;
    EXPECT_NE(s.message().find(c.pointer), std::string::npos) << s.message();
  }
  // Too deep is refused as well (bounded).
  std::string deep = "1";
  for (int i = 0; i < 12; ++i) deep = R"({"d":)" + deep + "}";
  json::Value v = J(kClosed);
  v.Set("risk_data", J(deep));
  EXPECT_EQ(Reason(CheckCustodialClosed(v)), "ap2-closed-mandate-invalid");
}

TEST(Ap2SingleUseTest, WithoutAgentRecurrenceAnOpenMandateClosesOnce) {
  const json::Value once = Open(
      R"([{"type":"payment.reference","conditional_transaction_id":"abc"},
          {"type":"payment.amount_range","currency":"USD","max":5000}])");
  EXPECT_EQ(Reason(EvaluatePayment(once, Closed(100), Usage{0, 0, std::nullopt}, kNow)), "");
  EXPECT_EQ(Reason(EvaluatePayment(once, Closed(100), Usage{100, 1, kNow - 86400}, kNow)),
            "ap2-mandate-used");
  const json::Value reusable = Open(
      R"([{"type":"payment.reference","conditional_transaction_id":"abc"},
          {"type":"payment.agent_recurrence","frequency":"ON_DEMAND"}])");
  EXPECT_EQ(Reason(EvaluatePayment(reusable, Closed(100), Usage{100, 1, kNow - 1}, kNow)), "");
}

TEST(Ap2BudgetUnitsTest, MajorUnitsTextAndExactReadBack) {
  EXPECT_EQ(CurrencyExponent("USD"), 2);
  EXPECT_EQ(CurrencyExponent("EUR"), 2);
  EXPECT_EQ(CurrencyExponent("JPY"), 0);
  EXPECT_EQ(CurrencyExponent("KWD"), 3);
  EXPECT_EQ(CurrencyExponent("BHD"), 3);
  EXPECT_EQ(CurrencyExponent("XTS"), std::nullopt);
  EXPECT_EQ(MajorUnitsText(1000, 2), "10");
  EXPECT_EQ(MajorUnitsText(1050, 2), "10.5");
  EXPECT_EQ(MajorUnitsText(1, 2), "0.01");
  EXPECT_EQ(MajorUnitsText(0, 2), "0");
  EXPECT_EQ(MajorUnitsText(500, 0), "500");
  EXPECT_EQ(MajorUnitsText(1234, 3), "1.234");
  EXPECT_EQ(MinorUnitsOf("10", 2), 1000);
  EXPECT_EQ(MinorUnitsOf("10.5", 2), 1050);
  EXPECT_EQ(MinorUnitsOf("10.50", 2), 1050);
  EXPECT_EQ(MinorUnitsOf("0.01", 2), 1);
  EXPECT_EQ(MinorUnitsOf("1.05e1", 2), 1050);
  EXPECT_EQ(MinorUnitsOf("1E3", 0), 1000);
  EXPECT_EQ(MinorUnitsOf("1.234", 3), 1234);
  EXPECT_EQ(MinorUnitsOf("0.29", 2), 29);  // 0.29 * 100 is 28.999... in binary floating point
  EXPECT_EQ(MinorUnitsOf("0.001", 2), std::nullopt);  // not a whole cent
  EXPECT_EQ(MinorUnitsOf("1.5", 0), std::nullopt);
  EXPECT_EQ(MinorUnitsOf("-1", 2), std::nullopt);
  EXPECT_EQ(MinorUnitsOf("99999999999999999999", 2), std::nullopt);
  EXPECT_EQ(MinorUnitsOf("1e400", 2), std::nullopt);
  EXPECT_EQ(MinorUnitsOf("abc", 2), std::nullopt);
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{99}, int64_t{123456789}, INT64_MAX}) {
    for (int e : {0, 2, 3, 4}) EXPECT_EQ(MinorUnitsOf(MajorUnitsText(v, e), e), v) << v << " " << e;
  }
}

TEST(Ap2BudgetUnitsTest, IssuanceWritesMajorUnitsAndEvaluationReadsThemBack) {
  json::Value c = J(R"([{"type":"payment.reference","conditional_transaction_id":"abc"},
                        {"type":"payment.budget","currency":"USD","max":1050},
                        {"type":"payment.budget","currency":"JPY","max":700},
                        {"type":"payment.budget","currency":"KWD","max":1500}])");
  ASSERT_EQ(Reason(BudgetMaxToMajorUnits(c)), "");
  EXPECT_EQ(c.items()[1].Find("max")->number_text(), "10.5");
  EXPECT_EQ(c.items()[2].Find("max")->number_text(), "700");
  EXPECT_EQ(c.items()[3].Find("max")->number_text(), "1.5");
  json::Value unknown = J(R"([{"type":"payment.budget","currency":"XTS","max":1}])");
  const Status s = BudgetMaxToMajorUnits(unknown);
  EXPECT_EQ(Reason(s), "ap2-bad-constraint");
  EXPECT_NE(s.message().find("/constraints/0/currency"), std::string::npos) << s.message();

  const json::Value open = Open(
      R"([{"type":"payment.reference","conditional_transaction_id":"abc"},
          {"type":"payment.budget","currency":"USD","max":10.5},
          {"type":"payment.agent_recurrence","frequency":"ON_DEMAND"}])");
  EXPECT_EQ(Reason(EvaluatePayment(open, Closed(1050), {}, kNow)), "");
  EXPECT_EQ(Reason(EvaluatePayment(open, Closed(1051), {}, kNow)), "ap2-budget-exceeded");
  EXPECT_EQ(Reason(EvaluatePayment(open, Closed(50), Usage{1000, 1, kNow - 1}, kNow)), "");
  EXPECT_EQ(Reason(EvaluatePayment(open, Closed(51), Usage{1000, 1, kNow - 1}, kNow)),
            "ap2-budget-exceeded");
  // A max with more decimals than the currency has does not read back: fail closed.
  const json::Value odd = Open(
      R"([{"type":"payment.reference","conditional_transaction_id":"abc"},
          {"type":"payment.budget","currency":"USD","max":10.001}])");
  EXPECT_EQ(Reason(EvaluatePayment(odd, Closed(1), {}, kNow)), "ap2-bad-constraint");
}

// An open mandate stored before budgets were written in major units (a record without a
// format: 1) keeps the meaning it was issued with: `max` in minor units, closable again.
TEST(Ap2BudgetUnitsTest, MandatesIssuedBeforeMajorUnitsKeepTheirMeaning) {
  const json::Value legacy = Open(
      R"([{"type":"payment.reference","conditional_transaction_id":"abc"},
          {"type":"payment.budget","currency":"USD","max":50000}])");
  EXPECT_EQ(Reason(EvaluatePayment(legacy, Closed(50000), {}, kNow, 1)), "");
  EXPECT_EQ(Reason(EvaluatePayment(legacy, Closed(50001), {}, kNow, 1)), "ap2-budget-exceeded");
  EXPECT_EQ(Reason(EvaluatePayment(legacy, Closed(100), Usage{49900, 1, kNow - 1}, kNow, 1)), "");
  EXPECT_EQ(Reason(EvaluatePayment(legacy, Closed(101), Usage{49900, 1, kNow - 1}, kNow, 1)),
            "ap2-budget-exceeded");
  // Read as format 2, the same integer would be 50,000 dollars.
  EXPECT_EQ(Reason(EvaluatePayment(legacy, Closed(50001), {}, kNow)), "");
  EXPECT_EQ(Reason(EvaluatePayment(legacy, Closed(100), Usage{49900, 1, kNow - 1}, kNow)),
            "ap2-mandate-used");
}

TEST(Ap2InstrumentTest, ExtraMembersAreAllowedAndKept) {
  const char* x402 =
      R"([{"type":"payment.reference","conditional_transaction_id":"abc"},
          {"type":"payment.allowed_payment_instruments","allowed":[
            {"id":"w1","type":"x402","payee_address":"0xabc","facilitator":{"url":"https://f.example"}}]}])";
  EXPECT_EQ(Reason(CheckConstraints(Kind::kPayment, J(x402))), "");
  EXPECT_EQ(Reason(CheckConstraints(
                Kind::kPayment,
                J(R"([{"type":"payment.reference","conditional_transaction_id":"abc"},
                      {"type":"payment.allowed_payment_instruments","allowed":[
                        {"id":"w1","type":"x402","_sd":["x"]}]}])"))),
            "ap2-bad-constraint");
  json::Value c = J(kClosed);
  c.Set("payment_instrument",
        J(R"({"id":"w1","type":"x402","payee_address":"0xabc","facilitator":{"url":"u"}})"));
  Result<ClosedPayment> p = ParseClosedPayment(c);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(json::Write(p->payment_instrument),
            R"({"id":"w1","type":"x402","payee_address":"0xabc","facilitator":{"url":"u"}})");
}

TEST(Ap2AllMustMatchTest, EveryReferenceAndEveryPispName) {
  const json::Value two = Open(
      R"([{"type":"payment.reference","conditional_transaction_id":"abc"},
          {"type":"payment.reference","conditional_transaction_id":"xyz"}])");
  EXPECT_EQ(Reason(CheckReference(two, "abc")), "ap2-reference-mismatch");
  EXPECT_EQ(Reason(CheckReference(two, "xyz")), "ap2-reference-mismatch");
  EXPECT_EQ(Reason(CheckReference(Open(R"([])"), "abc")), "ap2-reference-mismatch");
  const json::Value pisps = Open(
      R"([{"type":"payment.reference","conditional_transaction_id":"abc"},
          {"type":"payment.allowed_pisps","allowed":[{"legal_name":"L","brand_name":"B","domain_name":"p.example"}]}])");
  auto with_pisp = [](const char* pisp) {
    json::Value c = J(kClosed);
    c.Set("pisp", J(pisp));
    return *ParseClosedPayment(c);
  };
  EXPECT_EQ(Reason(EvaluatePayment(
                pisps, with_pisp(R"({"legal_name":"L","brand_name":"B","domain_name":"p.example"})"),
                {}, kNow)),
            "");
  EXPECT_EQ(Reason(EvaluatePayment(
                pisps, with_pisp(R"({"legal_name":"Other","brand_name":"B","domain_name":"p.example"})"),
                {}, kNow)),
            "ap2-pisp-not-allowed");
  EXPECT_EQ(Reason(EvaluatePayment(
                pisps, with_pisp(R"({"legal_name":"L","brand_name":"Other","domain_name":"p.example"})"),
                {}, kNow)),
            "ap2-pisp-not-allowed");
}

}  // namespace
}  // namespace mandated::mandates::ap2
