// Delegation only narrows: each widening is refused naming the child's field; narrowings pass.
#include "mandates/attenuation.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "tests/mandates/mandate_test_util.h"

namespace mandated::mandates {
namespace {

using testutil::At;
using testutil::JsonOf;
using testutil::Remove;
using testutil::TermsOf;

constexpr std::string_view kParent =
    R"({"scope":{"payees":{"allow":[{"type":"did","value":"did:web:a.example"},)"
    R"({"type":"domain","value":"*.shop.example"}],)"
    R"("block":[{"type":"domain","value":"bad.shop.example"}]},)"
    R"("categories":{"allow":["5411","5999"],"block":["7995"]},)"
    R"("countries":{"block":["KP"]},)"
    R"("assets":{"allow":["USD","EUR"]},)"
    R"("networks":{"allow":["eip155:8453","eip155:1"]},)"
    R"("resources":{"allow":["https://api.shop.example/v1/**"]}},)"
    R"("limits":{"per_transaction":[{"asset":"USD","min":"100","max":"50000"}],)"
    R"("windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"Europe/Paris","max":"200000"}],)"
    R"("lifetime":[{"asset":"USD","max":"1000000"},{"asset":"EUR","max":"500000"}],)"
    R"("max_uses":100,"min_interval_seconds":60},)"
    R"("step_up":{"above":[{"asset":"USD","amount":"20000"}],)"
    R"("outside_hours":{"time_zone":"Europe/Paris","days":["mon","tue","wed","thu","fri"],"start":"09:00","end":"18:00"}},)"
    R"("session_cap":[{"asset":"USD","max":"10000"}]})";

const Validity kParentValidity{1767225600, 1769904000};  // 2026-01-01 .. 2026-02-01 UTC

json::Value Payee(const char* type, const char* value) {
  json::Value p = json::Value::Object();
  p.Set("type", json::Value::String(type));
  p.Set("value", json::Value::String(value));
  return p;
}

json::Value S(const char* s) { return json::Value::String(s); }

// Applies `edit` to a copy of the parent and checks the child against the parent.
Status Check(const std::function<void(json::Value&)>& edit, Validity child = kParentValidity) {
  json::Value c = JsonOf(kParent);
  edit(c);
  Result<MandateTerms> child_terms = ParseMandateTerms(c);
  if (!child_terms.ok()) {
    ADD_FAILURE() << "child does not parse: " << child_terms.error().ToString() << "\n"
                  << json::Write(c);
    return child_terms.error();
  }
  return CheckAttenuation(TermsOf(kParent), kParentValidity, *child_terms, child);
}

void ExpectWidens(const Status& s, const std::string& pointer) {
  ASSERT_FALSE(s.ok()) << "expected " << pointer << " to be refused";
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.reason(), "delegation-widens") << s.ToString();
  EXPECT_EQ(s.message().rfind(pointer + ": ", 0), 0u) << s.message();
}

TEST(Attenuation, IdenticalChildIsAccepted) {
  Status s = Check([](json::Value&) {});
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// --- validity ---------------------------------------------------------------------------------

TEST(Attenuation, ExtendingExpiryIsRefused) {
  ExpectWidens(Check([](json::Value&) {},
                     {kParentValidity.not_before, kParentValidity.not_after + 1}),
               "/validUntil");
}

TEST(Attenuation, StartingEarlierIsRefused) {
  ExpectWidens(Check([](json::Value&) {},
                     {kParentValidity.not_before - 1, kParentValidity.not_after}),
               "/validFrom");
}

TEST(Attenuation, ShorterValidityIsAccepted) {
  EXPECT_TRUE(Check([](json::Value&) {},
                    {kParentValidity.not_before + 3600, kParentValidity.not_after - 3600})
                  .ok());
}

// --- scope ------------------------------------------------------------------------------------

TEST(Attenuation, WideningThePayeeListIsRefused) {
  ExpectWidens(Check([](json::Value& c) {
                 At(c, {"scope", "payees", "allow"})->Append(Payee("did", "did:web:evil.example"));
               }),
               "/scope/payees/allow/2");
}

TEST(Attenuation, DroppingThePayeeAllowListIsRefused) {
  ExpectWidens(Check([](json::Value& c) { Remove(c, {"scope", "payees"}, "allow"); }),
               "/scope/payees/allow");
}

TEST(Attenuation, WideningAWildcardPayeeIsRefused) {
  // "*.shop.example" matches strict subdomains only, so the apex is a widening.
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"scope", "payees", "allow", "1", "value"}) = S("shop.example");
               }),
               "/scope/payees/allow/1");
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"scope", "payees", "allow", "1", "type"}) = S("did");
                 *At(c, {"scope", "payees", "allow", "1", "value"}) = S("did:web:shop.example");
               }),
               "/scope/payees/allow/1");
}

TEST(Attenuation, NarrowingAWildcardPayeeIsAccepted) {
  Status s = Check([](json::Value& c) {
    *At(c, {"scope", "payees", "allow", "1", "value"}) = S("api.shop.example");
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// DID payees are compared in their canonical form (specs/mandate.md §3.1.1): another spelling
// of the parent's DID is the same payee, another DID is not.
TEST(Attenuation, DidPayeesCompareInCanonicalForm) {
  Status s = Check([](json::Value& c) {
    *At(c, {"scope", "payees", "allow", "0", "value"}) = S("did:web:A.%45xample");
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"scope", "payees", "allow", "0", "value"}) = S("did:web:a.example:x");
               }),
               "/scope/payees/allow/0");
}

TEST(Attenuation, DroppingABlockedPayeeIsRefused) {
  ExpectWidens(Check([](json::Value& c) { Remove(c, {"scope", "payees"}, "block"); }),
               "/scope/payees/block");
}

TEST(Attenuation, BlockingMoreIsAccepted) {
  Status s = Check([](json::Value& c) {
    *At(c, {"scope", "payees", "block", "0", "value"}) = S("*.bad.shop.example");
    At(c, {"scope", "payees", "block"})->Append(Payee("domain", "bad.shop.example"));
    At(c, {"scope", "countries", "block"})->Append(S("RU"));
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(Attenuation, AddingACategoryIsRefused) {
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"scope", "categories", "allow", "0"}) = S("5812");
               }),
               "/scope/categories/allow/0");
}

TEST(Attenuation, UnblockingACountryIsRefused) {
  ExpectWidens(Check([](json::Value& c) { Remove(c, {"scope"}, "countries"); }),
               "/scope/countries/block");
}

TEST(Attenuation, AddingAnAssetIsRefused) {
  ExpectWidens(Check([](json::Value& c) {
                 At(c, {"scope", "assets", "allow"})->Append(S("GBP"));
               }),
               "/scope/assets/allow/2");
}

TEST(Attenuation, DroppingTheAssetAllowListIsRefused) {
  ExpectWidens(Check([](json::Value& c) { Remove(c, {"scope"}, "assets"); }),
               "/scope/assets/allow");
}

TEST(Attenuation, AddingANetworkIsRefused) {
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"scope", "networks", "allow", "1"}) = S("eip155:10");
               }),
               "/scope/networks/allow/1");
}

TEST(Attenuation, WideningAResourcePatternIsRefused) {
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"scope", "resources", "allow", "0"}) = S("https://api.shop.example/**");
               }),
               "/scope/resources/allow/0");
}

TEST(Attenuation, NarrowingAResourcePatternIsAccepted) {
  Status s = Check([](json::Value& c) {
    *At(c, {"scope", "resources", "allow", "0"}) = S("https://api.shop.example/v1/search/*");
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// --- limits -----------------------------------------------------------------------------------

TEST(Attenuation, RaisingAWindowLimitIsRefused) {
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"limits", "windows", "0", "max"}) = S("200001");
               }),
               "/limits/windows/0/max");
}

TEST(Attenuation, RaisingThePerTransactionMaxIsRefused) {
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"limits", "per_transaction", "0", "max"}) = S("50001");
               }),
               "/limits/per_transaction/0/max");
}

TEST(Attenuation, LoweringThePerTransactionMinIsRefused) {
  ExpectWidens(Check([](json::Value& c) {
                 Remove(c, {"limits", "per_transaction", "0"}, "min");
               }),
               "/limits/per_transaction/0/min");
}

TEST(Attenuation, RaisingALifetimeBudgetIsRefused) {
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"limits", "lifetime", "1", "max"}) = S("500001");
               }),
               "/limits/lifetime/1/max");
}

TEST(Attenuation, DroppingAParentLimitIsRefused) {
  ExpectWidens(Check([](json::Value& c) { Remove(c, {"limits"}, "windows"); }),
               "/limits/windows");
  // Dropping the EUR budget while still spending EUR widens.
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"limits", "lifetime"}) = JsonOf(R"([{"asset":"USD","max":"1"}])");
                 At(c, {"limits", "per_transaction"})->Append(JsonOf(R"({"asset":"EUR","max":"1"})"));
               }),
               "/limits/lifetime");
}

TEST(Attenuation, DroppingAnAssetWithAllItsLimitsIsAccepted) {
  // Without the EUR budget and with EUR out of its scope, the child cannot spend EUR at all.
  Status s = Check([](json::Value& c) {
    *At(c, {"limits", "lifetime"}) = JsonOf(R"([{"asset":"USD","max":"1"}])");
    *At(c, {"scope", "assets", "allow"}) = JsonOf(R"(["USD"])");
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  // Nor with EUR still in scope but no EUR limit left: an asset without a limit is not spendable.
  s = Check([](json::Value& c) {
    *At(c, {"limits", "lifetime"}) = JsonOf(R"([{"asset":"USD","max":"1"}])");
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(Attenuation, MovingACalendarWindowToAnotherZoneIsRefused) {
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"limits", "windows", "0", "time_zone"}) = S("Pacific/Kiritimati");
               }),
               "/limits/windows");
}

TEST(Attenuation, ALimitInAnAssetTheParentCannotSpendIsRefused) {
  // The parent allows any asset but limits only USD: with no amount limit in GBP it cannot spend
  // GBP, so it cannot delegate GBP either.
  constexpr std::string_view parent = R"({"limits":{"lifetime":[{"asset":"USD","max":"100"}]}})";
  MandateTerms child = TermsOf(
      R"({"limits":{"lifetime":[{"asset":"USD","max":"100"},{"asset":"GBP","max":"1"}]}})");
  ExpectWidens(CheckTermsAttenuation(TermsOf(parent), child), "/limits/lifetime/1/asset");
  // The parent's asset allow list excludes EUR: the child cannot list it, nor limit it.
  constexpr std::string_view parent2 =
      R"({"scope":{"assets":{"allow":["USD"]}},"limits":{"lifetime":[{"asset":"USD","max":"100"}]}})";
  MandateTerms child2 = TermsOf(
      R"({"scope":{"assets":{"allow":["USD","EUR"]}},"limits":{"lifetime":[{"asset":"USD","max":"100"},{"asset":"EUR","max":"1"}]}})");
  ExpectWidens(CheckTermsAttenuation(TermsOf(parent2), child2), "/scope/assets/allow/1");
  MandateTerms child3 = TermsOf(
      R"({"limits":{"lifetime":[{"asset":"USD","max":"100"}],"per_transaction":[{"asset":"EUR","max":"1"}]}})");
  ExpectWidens(CheckTermsAttenuation(TermsOf(parent2), child3), "/scope/assets/allow");
  child3.scope.assets = {"USD"};
  ExpectWidens(CheckTermsAttenuation(TermsOf(parent2), child3),
               "/limits/per_transaction/0/asset");
}

TEST(Attenuation, AddingALimitInAnAssetTheParentSpendsIsAccepted) {
  Status s = Check([](json::Value& c) {
    At(c, {"limits", "per_transaction"})->Append(JsonOf(R"({"asset":"EUR","max":"100"})"));
    At(c, {"limits", "windows"})
        ->Append(JsonOf(R"({"asset":"USD","window":"hour","kind":"rolling","max":"5000"})"));
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(Attenuation, MoreUsesOrShorterSpacingIsRefused) {
  ExpectWidens(Check([](json::Value& c) { *At(c, {"limits", "max_uses"}) = json::Value::Int(101); }),
               "/limits/max_uses");
  ExpectWidens(Check([](json::Value& c) { Remove(c, {"limits"}, "max_uses"); }),
               "/limits/max_uses");
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"limits", "min_interval_seconds"}) = json::Value::Int(59);
               }),
               "/limits/min_interval_seconds");
}

// --- step-up, session caps --------------------------------------------------------------------

TEST(Attenuation, RaisingTheStepUpThresholdIsRefused) {
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"step_up", "above", "0", "amount"}) = S("20001");
               }),
               "/step_up/above/0/amount");
  ExpectWidens(Check([](json::Value& c) { Remove(c, {"step_up"}, "above"); }), "/step_up/above");
}

TEST(Attenuation, WideningBusinessHoursIsRefused) {
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"step_up", "outside_hours", "end"}) = S("18:01");
               }),
               "/step_up/outside_hours/end");
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"step_up", "outside_hours", "start"}) = S("08:59");
               }),
               "/step_up/outside_hours/start");
  ExpectWidens(Check([](json::Value& c) {
                 At(c, {"step_up", "outside_hours", "days"})->Append(S("sat"));
               }),
               "/step_up/outside_hours/days/5");
  ExpectWidens(Check([](json::Value& c) {
                 *At(c, {"step_up", "outside_hours", "time_zone"}) = S("UTC");
               }),
               "/step_up/outside_hours/time_zone");
  ExpectWidens(Check([](json::Value& c) { Remove(c, {"step_up"}, "outside_hours"); }),
               "/step_up/outside_hours");
}

TEST(Attenuation, RaisingOrDroppingTheSessionCapIsRefused) {
  ExpectWidens(Check([](json::Value& c) { *At(c, {"session_cap", "0", "max"}) = S("10001"); }),
               "/session_cap/0/max");
  ExpectWidens(Check([](json::Value& c) { c = testutil::Without(c, "session_cap"); }),
               "/session_cap");
}

// --- chains -----------------------------------------------------------------------------------

TEST(Attenuation, ThreeSuccessiveNarrowingsAreAccepted) {
  const MandateTerms root = TermsOf(kParent);
  const Validity root_v = kParentValidity;

  // Team: fewer payees and categories, smaller limits, a stricter step-up.
  const MandateTerms team = TermsOf(
      R"({"parent":"urn:mandated:mandate:root",)"
      R"("scope":{"payees":{"allow":[{"type":"domain","value":"*.shop.example"}],)"
      R"("block":[{"type":"domain","value":"bad.shop.example"}]},)"
      R"("categories":{"allow":["5411"],"block":["7995"]},"countries":{"block":["KP","RU"]},)"
      R"("assets":{"allow":["USD"]},"networks":{"allow":["eip155:8453"]},)"
      R"("resources":{"allow":["https://api.shop.example/v1/**"]}},)"
      R"("limits":{"per_transaction":[{"asset":"USD","min":"100","max":"20000"}],)"
      R"("windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"Europe/Paris","max":"100000"}],)"
      R"("lifetime":[{"asset":"USD","max":"500000"}],"max_uses":50,"min_interval_seconds":120},)"
      R"("step_up":{"above":[{"asset":"USD","amount":"10000"}],)"
      R"("outside_hours":{"time_zone":"Europe/Paris","days":["mon","tue","wed","thu","fri"],"start":"09:00","end":"17:00"}},)"
      R"("session_cap":[{"asset":"USD","max":"5000"}]})");
  const Validity team_v{root_v.not_before + 86400, root_v.not_after - 86400};

  // Task: one shop, one resource subtree, an extra rolling window.
  const MandateTerms task = TermsOf(
      R"({"parent":"urn:mandated:mandate:team",)"
      R"("scope":{"payees":{"allow":[{"type":"domain","value":"paper.shop.example"}],)"
      R"("block":[{"type":"domain","value":"bad.shop.example"}]},)"
      R"("categories":{"allow":["5411"],"block":["7995"]},"countries":{"block":["KP","RU"]},)"
      R"("assets":{"allow":["USD"]},"networks":{"allow":["eip155:8453"]},)"
      R"("resources":{"allow":["https://api.shop.example/v1/orders/**"]}},)"
      R"("limits":{"per_transaction":[{"asset":"USD","min":"500","max":"10000"}],)"
      R"("windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"Europe/Paris","max":"50000"},)"
      R"({"asset":"USD","window":"hour","kind":"rolling","max":"20000"}],)"
      R"("lifetime":[{"asset":"USD","max":"100000"}],"max_uses":10,"min_interval_seconds":600},)"
      R"("step_up":{"above":[{"asset":"USD","amount":"5000"}],)"
      R"("outside_hours":{"time_zone":"Europe/Paris","days":["mon","wed","fri"],"start":"10:00","end":"16:00"}},)"
      R"("session_cap":[{"asset":"USD","max":"2000"}]})");
  const Validity task_v{team_v.not_before + 3600, team_v.not_after - 3600};

  // Run: the same task for one session, capped lower, with a single use.
  MandateTerms run = task;
  run.parent = "urn:mandated:mandate:task";
  run.limits.max_uses = 1;
  run.session_cap[0].max = Amount::FromUint64(1000);
  run.step_up.above[0].amount = Amount::FromUint64(0);
  const Validity run_v{task_v.not_before, task_v.not_before + 900};

  Status s = CheckAttenuation(root, root_v, team, team_v);
  EXPECT_TRUE(s.ok()) << s.ToString();
  s = CheckAttenuation(team, team_v, task, task_v);
  EXPECT_TRUE(s.ok()) << s.ToString();
  s = CheckAttenuation(task, task_v, run, run_v);
  EXPECT_TRUE(s.ok()) << s.ToString();
  // Narrowing is transitive: the last link is inside the root too.
  s = CheckAttenuation(root, root_v, run, run_v);
  EXPECT_TRUE(s.ok()) << s.ToString();
  // And never the other way round.
  ExpectWidens(CheckAttenuation(run, run_v, task, task_v), "/validUntil");
  ExpectWidens(CheckTermsAttenuation(task, team), "/scope/payees/allow/0");
}

}  // namespace
}  // namespace mandated::mandates
