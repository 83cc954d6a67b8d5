// AP2 constraint validation and evaluation (specs/ap2.md §5-§7): every constraint type's shape,
// fail-closed unknown types, and each refusal of a closed payment or a checkout with its reason.
#include "mandates/ap2.h"

#include <gtest/gtest.h>

#include <string>

#include "base/json.h"

namespace mandated::mandates::ap2 {
namespace {

json::Value J(std::string_view text) {
  Result<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : json::Value();
}
std::string Reason(const Status& s) { return s.ok() ? "" : s.reason(); }

constexpr std::string_view kRef = R"({"type":"payment.reference","conditional_transaction_id":"abc"})";
std::string PaymentWith(std::string_view c) {
  return "[" + std::string(kRef) + "," + std::string(c) + "]";
}

TEST(Ap2ConstraintsTest, EveryAp2TypeValidates) {
  const char* ok[] = {
      R"({"type":"payment.amount_range","currency":"USD","max":5000,"min":100})",
      R"({"type":"payment.budget","currency":"USD","max":10000})",
      R"({"type":"payment.agent_recurrence","frequency":"WEEKLY","max_occurrences":4})",
      R"({"type":"payment.allowed_payees","allowed":[{"id":"m1","name":"One","website":"https://one.example"}]})",
      R"({"type":"payment.allowed_payment_instruments","allowed":[{"id":"i1","type":"x402"}]})",
      R"({"type":"payment.allowed_pisps","allowed":[{"legal_name":"L","brand_name":"B","domain_name":"pisp.example"}]})",
      R"({"type":"payment.execution_date","not_before":"2026-01-01T00:00:00Z","not_after":"2026-02-01T00:00:00Z"})",
      R"({"type":"dev.mandated.payment.allowed_currencies","allowed":["USD","EUR"]})",
  };
  for (const char* c : ok) {
    EXPECT_EQ(Reason(CheckConstraints(Kind::kPayment, J(PaymentWith(c)))), "") << c;
  }
  EXPECT_EQ(Reason(CheckConstraints(Kind::kCheckout, J(R"([
      {"type":"checkout.line_items","items":[{"id":"r","acceptable_items":[{"id":"s","title":"T","price":5}],"quantity":1}]},
      {"type":"checkout.allowed_merchants","allowed":[{"id":"m","name":"M"}]}])"))),
            "");
}

TEST(Ap2ConstraintsTest, RefusalsAtIssuance) {
  auto pay = [](std::string_view c) { return Reason(CheckConstraints(Kind::kPayment, J(PaymentWith(c)))); };
  EXPECT_EQ(pay(R"({"type":"payment.teleport","max":1})"), "ap2-unknown-constraint");
  EXPECT_EQ(pay(R"({"type":"com.example.loyalty_points","max":1})"), "ap2-unknown-constraint");
  EXPECT_EQ(pay(R"({"type":"checkout.allowed_merchants","allowed":[{"id":"m","name":"M"}]})"),
            "ap2-constraint-kind");
  EXPECT_EQ(pay(R"({"type":"payment.amount_range","currency":"usd","max":5})"), "ap2-bad-constraint");
  EXPECT_EQ(pay(R"({"type":"payment.amount_range","currency":"USD","max":5,"min":6})"), "ap2-bad-constraint");
  EXPECT_EQ(pay(R"({"type":"payment.amount_range","currency":"USD","max":5.5})"), "ap2-bad-constraint");
  EXPECT_EQ(pay(R"({"type":"payment.budget","currency":"USD","max":100.50})"), "ap2-bad-constraint");
  EXPECT_EQ(pay(R"({"type":"payment.budget","currency":"USD","max":1,"extra":1})"), "ap2-bad-constraint");
  EXPECT_EQ(pay(R"({"type":"payment.agent_recurrence","frequency":"HOURLY"})"), "ap2-bad-constraint");
  EXPECT_EQ(pay(R"({"type":"payment.agent_recurrence","frequency":"DAILY","max_occurrences":0})"),
            "ap2-bad-constraint");
  EXPECT_EQ(pay(R"({"type":"payment.allowed_payees","allowed":[]})"), "ap2-bad-constraint");
  EXPECT_EQ(pay(R"({"type":"payment.allowed_payees","allowed":[{"id":"m"}]})"), "ap2-bad-constraint");
  EXPECT_EQ(pay(R"({"type":"payment.execution_date","not_before":"tomorrow"})"), "ap2-bad-constraint");
  EXPECT_EQ(pay(R"({"type":7})"), "ap2-bad-constraint");
  EXPECT_EQ(Reason(CheckConstraints(Kind::kPayment, J(R"([{"type":"payment.budget","currency":"USD","max":1}])"))),
            "ap2-constraint-missing");
  EXPECT_EQ(Reason(CheckConstraints(Kind::kCheckout, J(R"([{"type":"checkout.allowed_merchants","allowed":[{"id":"m","name":"M"}]}])"))),
            "ap2-constraint-missing");
  EXPECT_EQ(Reason(CheckConstraints(Kind::kPayment, J("[]"))), "ap2-bad-constraint");
}

TEST(Ap2ConstraintsTest, FrameHidesEveryConstraintAndListElement) {
  const json::Value f = FrameFor(J(R"([{"type":"payment.allowed_payees","allowed":[{"id":"a","name":"A"},{"id":"b","name":"B"}]},
      {"type":"checkout.line_items","items":[{"id":"r","acceptable_items":[{"id":"s","title":"T"}],"quantity":1}]}])"));
  EXPECT_EQ(json::Write(f),
            R"({"constraints":{"0":{"allowed":{"_sd":[0,1]}},"1":{"items":{"0":{"acceptable_items":{"_sd":[0]}}}},"_sd":[0,1]}})");
}

ClosedPayment Closed(int64_t amount, std::string payee = "m1", std::string currency = "USD") {
  Result<ClosedPayment> c = ParseClosedPayment(J(
      R"({"vct":"mandate.payment.1","transaction_id":"tx","payee":{"id":")" + payee +
      R"(","name":"N"},"payment_amount":{"amount":)" + std::to_string(amount) +
      R"(,"currency":")" + currency + R"("},"payment_instrument":{"id":"i1","type":"card"}})"));
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return *c;
}

TEST(Ap2EvaluateTest, ClosedPaymentParsing) {
  EXPECT_EQ(ParseClosedPayment(J(R"({"vct":"mandate.payment.open.1"})")).status().reason(), "ap2-wrong-vct");
  EXPECT_EQ(ParseClosedPayment(J(R"({"vct":"mandate.payment.1","transaction_id":"t"})")).status().reason(),
            "ap2-closed-mandate-invalid");
  EXPECT_EQ(ParseClosedPayment(J(R"({"vct":"mandate.payment.1","transaction_id":"t","payee":{"id":"m","name":"n"},
      "payment_amount":{"amount":"5","currency":"USD"},"payment_instrument":{"id":"i","type":"card"}})"))
                .status().reason(),
            "ap2-closed-mandate-invalid");
}

TEST(Ap2EvaluateTest, EachConstraintRefusesWithItsReason) {
  constexpr int64_t kNow = 1767225600;
  auto eval = [&](std::string_view c, const ClosedPayment& p, Usage u = {}) {
    json::Value open = J(R"({"vct":"mandate.payment.open.1"})");
    open.Set("constraints", J(PaymentWith(c)));
    return Reason(EvaluatePayment(open, p, u, kNow));
  };
  const char* range = R"({"type":"payment.amount_range","currency":"USD","max":5000,"min":100})";
  EXPECT_EQ(eval(range, Closed(100)), "");
  EXPECT_EQ(eval(range, Closed(5000)), "");
  EXPECT_EQ(eval(range, Closed(99)), "ap2-amount-out-of-range");
  EXPECT_EQ(eval(range, Closed(5001)), "ap2-amount-out-of-range");
  EXPECT_EQ(eval(range, Closed(200, "m1", "EUR")), "ap2-currency-mismatch");
  // The credential carries the budget in major units (10 USD = 1000 minor units); reuse needs
  // agent_recurrence.
  const char* budget = R"({"type":"payment.budget","currency":"USD","max":10},
                          {"type":"payment.agent_recurrence","frequency":"ON_DEMAND"})";
  EXPECT_EQ(eval(budget, Closed(400), Usage{600, 2, kNow - 10}), "");
  EXPECT_EQ(eval(budget, Closed(401), Usage{600, 2, kNow - 10}), "ap2-budget-exceeded");
  const char* weekly = R"({"type":"payment.agent_recurrence","frequency":"WEEKLY","max_occurrences":3})";
  EXPECT_EQ(eval(weekly, Closed(1), Usage{0, 0, std::nullopt}), "");
  EXPECT_EQ(eval(weekly, Closed(1), Usage{1, 1, kNow - 7 * 86400}), "");
  EXPECT_EQ(eval(weekly, Closed(1), Usage{1, 1, kNow - 7 * 86400 + 1}), "ap2-recurrence-too-frequent");
  EXPECT_EQ(eval(weekly, Closed(1), Usage{3, 3, kNow - 30 * 86400}), "ap2-recurrence-exhausted");
  EXPECT_EQ(eval(R"({"type":"payment.agent_recurrence","frequency":"ON_DEMAND"})", Closed(1),
                 Usage{5, 5, kNow}),
            "");
  const char* payees = R"({"type":"payment.allowed_payees","allowed":[{"id":"m1","name":"N"}]})";
  EXPECT_EQ(eval(payees, Closed(1)), "");
  EXPECT_EQ(eval(payees, Closed(1, "m2")), "ap2-payee-not-allowed");
  EXPECT_EQ(eval(R"({"type":"payment.allowed_payment_instruments","allowed":[{"id":"i1","type":"x402"}]})",
                 Closed(1)),
            "ap2-instrument-not-allowed");
  EXPECT_EQ(eval(R"({"type":"payment.allowed_pisps","allowed":[{"legal_name":"L","brand_name":"B","domain_name":"p"}]})",
                 Closed(1)),
            "ap2-pisp-not-allowed");
  EXPECT_EQ(eval(R"({"type":"payment.execution_date","not_after":"2025-12-31T23:59:59Z"})", Closed(1)),
            "ap2-execution-date");
  EXPECT_EQ(eval(R"({"type":"payment.execution_date","not_before":"2025-12-31T23:59:59Z"})", Closed(1)), "");
  // A ledger payment moves its money now: a stated date inside a later window does not make it
  // wait, so it is refused; a card's rail executes it at the stated date.
  const char* later = R"({"type":"payment.execution_date","not_before":"2027-01-01T00:00:00Z"})";
  auto dated = [&](const char* instrument) {
    Result<ClosedPayment> c = ParseClosedPayment(J(
        std::string(R"({"vct":"mandate.payment.1","transaction_id":"tx","payee":{"id":"m1","name":"N"},)"
                    R"("payment_amount":{"amount":1,"currency":"USD"},"execution_date":"2027-01-02T00:00:00Z",)"
                    R"("payment_instrument":{"id":"i1","type":")") + instrument + "\"}}"));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return *c;
  };
  EXPECT_EQ(eval(later, dated("card")), "");
  EXPECT_EQ(eval(later, dated("dev.mandated.ledger")), "ap2-execution-date");
  EXPECT_EQ(eval(R"({"type":"dev.mandated.payment.allowed_currencies","allowed":["EUR"]})", Closed(1)),
            "ap2-currency-mismatch");
  EXPECT_EQ(eval(R"({"type":"com.example.unknown"})", Closed(1)), "ap2-unknown-constraint");
  // Pre-set claims must reappear unchanged; the payee is matched on its id (as AP2's SDK).
  json::Value open = J(R"({"vct":"mandate.payment.open.1","payee":{"id":"m9","name":"N"}})");
  open.Set("constraints", J(std::string("[") + std::string(kRef) + "]"));
  EXPECT_EQ(Reason(EvaluatePayment(open, Closed(1), {}, kNow)), "ap2-preset-mismatch");
  open.Set("payee", J(R"({"id":"m1","name":"Another display name"})"));
  EXPECT_EQ(Reason(EvaluatePayment(open, Closed(1), {}, kNow)), "");
  // The reference names the open checkout mandate's digest.
  EXPECT_EQ(Reason(CheckReference(open, "abc")), "");
  EXPECT_EQ(Reason(CheckReference(open, "abd")), "ap2-reference-mismatch");
}

TEST(Ap2EvaluateTest, LineItemsMatchByMaxFlow) {
  // Two tea and one cup; tea may be green or black, the cup any of two.
  const json::Value open = J(R"({"constraints":[{"type":"checkout.line_items","items":[
      {"id":"tea","acceptable_items":[{"id":"green","title":"G"},{"id":"black","title":"B"}],"quantity":2},
      {"id":"cup","acceptable_items":[{"id":"cup-a","title":"A"},{"id":"black","title":"B"}],"quantity":1}]},
      {"type":"checkout.allowed_merchants","allowed":[{"id":"shop","name":"Shop"}]}]})");
  auto eval = [&](std::string_view lines, std::string_view merchant = "shop") {
    return Reason(EvaluateCheckout(
        open, J(R"({"id":"c1","merchant":{"id":")" + std::string(merchant) + R"("},"line_items":)" +
                std::string(lines) + "}")));
  };
  // black can fill either requirement: the matching must route it to the cup when green covers
  // only one tea... and to the tea otherwise.
  EXPECT_EQ(eval(R"([{"id":"l1","item":{"id":"green"},"quantity":1},{"id":"l2","item":{"id":"black"},"quantity":2}])"), "");
  EXPECT_EQ(eval(R"([{"id":"l1","item":{"id":"green"},"quantity":2},{"id":"l2","item":{"id":"black"},"quantity":1}])"), "");
  EXPECT_EQ(eval(R"([{"id":"l1","item":{"id":"green"},"quantity":2},{"id":"l2","item":{"id":"cup-a"},"quantity":1}])"), "");
  // Short: one tea missing. Extra: an item no requirement takes. Over: three tea.
  EXPECT_EQ(eval(R"([{"id":"l1","item":{"id":"green"},"quantity":1},{"id":"l2","item":{"id":"cup-a"},"quantity":1}])"),
            "ap2-line-items-unmatched");
  EXPECT_EQ(eval(R"([{"id":"l1","item":{"id":"green"},"quantity":2},{"id":"l2","item":{"id":"cup-a"},"quantity":1},
                     {"id":"l3","item":{"id":"tv"},"quantity":1}])"),
            "ap2-line-items-unmatched");
  EXPECT_EQ(eval(R"([{"id":"l1","item":{"id":"green"},"quantity":3},{"id":"l2","item":{"id":"cup-a"},"quantity":1}])"),
            "ap2-line-items-unmatched");
  EXPECT_EQ(eval(R"([{"id":"l1","item":{"id":"green"},"quantity":2},{"id":"l2","item":{"id":"cup-a"},"quantity":1}])",
                 "other-shop"),
            "ap2-merchant-not-allowed");
  EXPECT_EQ(eval(R"([{"id":"l1","quantity":2}])"), "ap2-bad-checkout");
}

}  // namespace
}  // namespace mandated::mandates::ap2
