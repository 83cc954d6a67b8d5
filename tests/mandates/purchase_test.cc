// Purchase codec, CheckPurchase reasons and pointers, NeedsStepUp, and Reason JSON.
#include "mandates/purchase.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "base/asset.h"
#include "mandates/reason.h"
#include "tests/mandates/mandate_test_util.h"

namespace mandated::mandates {
namespace {

using testutil::JsonOf;
using testutil::TermsOf;

constexpr std::string_view kId = "mnd_7ks2q4";
const std::string kM = "/credentialSubject/mandate";

// (code, pointer) of each reason, in order.
using Codes = std::vector<std::pair<std::string, std::string>>;

Codes CodesOf(const std::vector<Reason>& reasons) {
  Codes out;
  for (const Reason& r : reasons) {
    out.emplace_back(r.code, r.pointer);
  }
  return out;
}

Purchase Buy(std::string_view text) {
  Result<Purchase> p = ParsePurchase(JsonOf(text));
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().ToString()) << "\n" << text;
  return p.ok() ? std::move(p).value() : Purchase();
}

Codes Check(std::string_view terms, std::string_view purchase) {
  return CodesOf(CheckPurchase(TermsOf(terms), Buy(purchase), kId));
}

#define LIM R"("limits":{"per_transaction":[{"asset":"USD","min":"100","max":"50000"}]})"
#define TERMS(scope) "{\"scope\":" scope "," LIM "}"
#define DOMAIN_PAYEE(host) R"({"type":"domain","value":")" host R"("})"
#define BUY(payee, rest) "{\"payee\":" payee ",\"amount\":\"1000\",\"asset\":\"USD\"" rest "}"

constexpr std::string_view kUsdc = "eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";

// Every scope dimension and every amount limit.
constexpr std::string_view kFullTerms =
    R"({"scope":{"payees":{"allow":[{"type":"did","value":"did:web:merchant.example"},)"
    R"({"type":"domain","value":"*.shop.example"},)"
    R"({"type":"address","value":"0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"}],)"
    R"("block":[{"type":"domain","value":"bad.shop.example"}]},)"
    R"("categories":{"allow":["5411","5999"],"block":["7995"]},)"
    R"("countries":{"allow":["US","FR"],"block":["KP"]},)"
    R"("assets":{"allow":["USD","eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"]},)"
    R"("networks":{"allow":["eip155:8453"]},)"
    R"("resources":{"allow":["https://api.shop.example/v1/**","https://*.cdn.example/img/*.png"]}},)"
    R"("limits":{"per_transaction":[{"asset":"USD","min":"100","max":"50000"},)"
    R"({"asset":"eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","max":"5000000"}],)"
    R"("windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"Europe/Paris","max":"200000"},)"
    R"({"asset":"USD","window":"hour","kind":"rolling","max":"100000"}],)"
    R"("lifetime":[{"asset":"USD","max":"1000000"}]},)"
    R"("session_cap":[{"asset":"USD","max":"40000"}]})";

constexpr std::string_view kGoodPurchase =
    R"({"payee":{"type":"domain","value":"api.shop.example"},"amount":"1000","asset":"USD",)"
    R"("network":"eip155:8453","category":"5411","country":"US",)"
    R"("resource":"https://api.shop.example/v1/orders?id=3#top"})";

TEST(PurchaseCheck, PassesEverything) {
  EXPECT_EQ(Check(kFullTerms, kGoodPurchase), Codes{});
  // The same in the CAIP-19 asset, on its own chain, by address and by DID.
  EXPECT_EQ(Check(kFullTerms,
                  R"({"payee":{"type":"address","value":"0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"},)"
                  R"("amount":"5000000","asset":"eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",)"
                  R"("category":"5999","country":"FR","resource":"https://img.cdn.example/img/a.png"})"),
            Codes{});
  EXPECT_EQ(Check(kFullTerms,
                  R"({"payee":{"type":"did","value":"did:web:merchant.example"},"amount":"100",)"
                  R"("asset":"USD","network":"eip155:8453","category":"5411","country":"US",)"
                  R"("resource":"https://api.shop.example/v1"})"),
            Codes{});
}

TEST(PurchaseCheck, UnrestrictedMandatePassesAnySpendablePurchase) {
  EXPECT_EQ(Check("{" LIM "}", BUY(DOMAIN_PAYEE("anything.example"), "")), Codes{});
}

TEST(PurchaseCheck, PayeeNotAllowed) {
  constexpr std::string_view terms = TERMS(R"({"payees":{"allow":[)" DOMAIN_PAYEE("*.shop.example") "]}}");
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("other.example"), "")),
            (Codes{{"payee-not-allowed", kM + "/scope/payees/allow"}}));
  // Same text, other payee type: types never match each other.
  EXPECT_EQ(Check(terms, BUY(R"({"type":"did","value":"did:web:api.shop.example"})", "")),
            (Codes{{"payee-not-allowed", kM + "/scope/payees/allow"}}));
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("api.shop.example"), "")), Codes{});
}

TEST(PurchaseCheck, PayeeBlocked) {
  constexpr std::string_view terms =
      TERMS(R"({"payees":{"block":[{"type":"did","value":"did:web:x.example"},)" DOMAIN_PAYEE(
          "*.bad.example") "]}}");
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("x.bad.example"), "")),
            (Codes{{"payee-blocked", kM + "/scope/payees/block/1"}}));
  EXPECT_EQ(Check(terms, BUY(R"({"type":"did","value":"did:web:x.example"})", "")),
            (Codes{{"payee-blocked", kM + "/scope/payees/block/0"}}));
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("bad.example"), "")), Codes{});
}

// Other spellings of one DID do not slip past a list (specs/mandate.md §3.1.1): did:web hosts
// in any case or with %XX of unreserved characters, did:pkh eip155 addresses in any case.
// An eip155 asset names a hexadecimal address, whatever its letter case (EIP-55 mixed case, as
// USDC is usually written, or the lower case the x402 payer uses): the limits, the allow list
// and the amount checks see one asset. Before, the other spelling was "not spendable".
TEST(PurchaseCheck, Eip155AssetsCompareWhateverTheirCase) {
  constexpr std::string_view mixed = "eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
  constexpr std::string_view lower = "eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
  const std::string terms = std::string(R"({"scope":{"assets":{"allow":[")") + std::string(mixed) +
                            R"("]}},"limits":{"per_transaction":[{"asset":")" + std::string(mixed) +
                            R"(","max":"1000000"}],"lifetime":[{"asset":")" + std::string(mixed) +
                            R"(","max":"5000000"}]}})";
  auto buy = [](std::string_view asset, const char* amount) {
    return std::string(R"({"payee":{"type":"domain","value":"api.shop.example"},"amount":")") +
           amount + R"(","asset":")" + std::string(asset) + R"("})";
  };
  EXPECT_EQ(Check(terms, buy(lower, "1000000")), Codes{});
  EXPECT_EQ(Check(terms, buy(mixed, "1000000")), Codes{});
  EXPECT_EQ(Check(terms, buy(lower, "1000001")),
            (Codes{{"amount-above-maximum", kM + "/limits/per_transaction/0/max"}}));
  // Another chain is another asset.
  EXPECT_EQ(Check(terms, buy("eip155:1/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913", "1"))
                .front()
                .first,
            "asset-not-allowed");
  EXPECT_TRUE(SameAssetId(mixed, lower));
  EXPECT_FALSE(SameAssetId("USD", "usd"));  // currency codes are upper case, and only that
}

TEST(PurchaseCheck, DidPayeesCompareInCanonicalForm) {
  constexpr std::string_view terms = TERMS(
      R"({"payees":{"block":[{"type":"did","value":"did:web:evil.example"},)"
      R"({"type":"did","value":"did:pkh:eip155:8453:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"},)"
      R"({"type":"did","value":"did:web:shop.example:Stores:Main"},)"
      R"({"type":"did","value":"did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH"}]}})");
#define DID_PAYEE(did) R"({"type":"did","value":")" did R"("})"
  for (const char* did : {"did:web:EVIL.example", "did:web:Evil.Example", "did:web:evil%2Eexample",
                          "did:web:%65vil.example", "did:web:%45VIL%2eexample"}) {
    const std::string buy = std::string(R"({"payee":{"type":"did","value":")") + did +
                            R"("},"amount":"1000","asset":"USD"})";
    EXPECT_EQ(Check(terms, buy), (Codes{{"payee-blocked", kM + "/scope/payees/block/0"}})) << did;
  }
  EXPECT_EQ(Check(terms, BUY(DID_PAYEE("did:pkh:eip155:8453:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"), "")),
            (Codes{{"payee-blocked", kM + "/scope/payees/block/1"}}));
  EXPECT_EQ(Check(terms, BUY(DID_PAYEE("did:pkh:EIP155:8453:0X833589FCD6EDB6E08F4C7C32D4F71B54BDA02913"), "")),
            (Codes{{"payee-blocked", kM + "/scope/payees/block/1"}}));
  // The host only: did:web path components keep their case.
  EXPECT_EQ(Check(terms, BUY(DID_PAYEE("did:web:SHOP.example:Stores:Main"), "")),
            (Codes{{"payee-blocked", kM + "/scope/payees/block/2"}}));
  EXPECT_EQ(Check(terms, BUY(DID_PAYEE("did:web:shop.example:stores:main"), "")), Codes{});
  // Another chain is another account; a did:key is case-sensitive base58.
  EXPECT_EQ(Check(terms, BUY(DID_PAYEE("did:pkh:eip155:1:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"), "")),
            Codes{});
  EXPECT_EQ(Check(terms, BUY(DID_PAYEE("did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvkth"), "")),
            Codes{});
  // Allow lists match in the same form, whichever side is spelled otherwise.
  constexpr std::string_view allow =
      TERMS(R"({"payees":{"allow":[{"type":"did","value":"did:web:Merchant.Example%3a8443"}]}})");
  EXPECT_EQ(Check(allow, BUY(DID_PAYEE("did:web:merchant.example%3A8443"), "")), Codes{});
  EXPECT_EQ(Check(allow, BUY(DID_PAYEE("did:web:merchant.example"), "")),
            (Codes{{"payee-not-allowed", kM + "/scope/payees/allow"}}));
#undef DID_PAYEE
}

TEST(PurchaseCheck, WildcardAllowWithBlockedSubdomain) {
  constexpr std::string_view terms = TERMS(R"({"payees":{"allow":[)" DOMAIN_PAYEE(
      "*.shop.example") R"(],"block":[)" DOMAIN_PAYEE("evil.shop.example") "]}}");
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("api.shop.example"), "")), Codes{});
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("a.b.shop.example"), "")), Codes{});
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("evil.shop.example"), "")),
            (Codes{{"payee-blocked", kM + "/scope/payees/block/0"}}));
  // The wildcard covers strict subdomains only.
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("shop.example"), "")),
            (Codes{{"payee-not-allowed", kM + "/scope/payees/allow"}}));
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("notshop.example"), "")),
            (Codes{{"payee-not-allowed", kM + "/scope/payees/allow"}}));
}

TEST(PurchaseCheck, AddressesCompareInLowerCase) {
  constexpr std::string_view terms =
      TERMS(R"({"payees":{"allow":[{"type":"address","value":"0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"}],)"
            R"("block":[{"type":"address","value":"0x000000000000000000000000000000000000dead"}]}})");
  // EIP-55 mixed case from the wire is lower-cased by the parser...
  Purchase p = Buy(BUY(R"({"type":"address","value":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"})", ""));
  EXPECT_EQ(p.payee.value, "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913");
  EXPECT_TRUE(CheckPurchase(TermsOf(terms), p, kId).empty());
  // ...and by the check, for a purchase built in code.
  p.payee.value = "0x833589FCD6EDB6E08F4C7C32D4F71B54BDA02913";
  EXPECT_TRUE(CheckPurchase(TermsOf(terms), p, kId).empty());
  p.payee.value = "0x000000000000000000000000000000000000DEAD";
  EXPECT_EQ(CodesOf(CheckPurchase(TermsOf(terms), p, kId)),
            (Codes{{"payee-not-allowed", kM + "/scope/payees/allow"},
                   {"payee-blocked", kM + "/scope/payees/block/0"}}));
}

TEST(PurchaseCheck, Categories) {
  constexpr std::string_view allow = TERMS(R"({"categories":{"allow":["5411","5999"]}})");
  constexpr std::string_view block = TERMS(R"({"categories":{"block":["7995"]}})");
  EXPECT_EQ(Check(allow, BUY(DOMAIN_PAYEE("a.example"), R"(,"category":"5999")")), Codes{});
  EXPECT_EQ(Check(allow, BUY(DOMAIN_PAYEE("a.example"), R"(,"category":"7995")")),
            (Codes{{"category-not-allowed", kM + "/scope/categories/allow"}}));
  EXPECT_EQ(Check(block, BUY(DOMAIN_PAYEE("a.example"), R"(,"category":"7995")")),
            (Codes{{"category-blocked", kM + "/scope/categories/block/0"}}));
  EXPECT_EQ(Check(block, BUY(DOMAIN_PAYEE("a.example"), R"(,"category":"5411")")), Codes{});
  // Restricted (even by a block list alone) but not stated: fail closed.
  EXPECT_EQ(Check(allow, BUY(DOMAIN_PAYEE("a.example"), "")),
            (Codes{{"category-unstated", kM + "/scope/categories"}}));
  EXPECT_EQ(Check(block, BUY(DOMAIN_PAYEE("a.example"), "")),
            (Codes{{"category-unstated", kM + "/scope/categories"}}));
}

TEST(PurchaseCheck, Countries) {
  constexpr std::string_view allow = TERMS(R"({"countries":{"allow":["US","FR"]}})");
  constexpr std::string_view block = TERMS(R"({"countries":{"block":["RU","KP"]}})");
  EXPECT_EQ(Check(allow, BUY(DOMAIN_PAYEE("a.example"), R"(,"country":"FR")")), Codes{});
  EXPECT_EQ(Check(allow, BUY(DOMAIN_PAYEE("a.example"), R"(,"country":"DE")")),
            (Codes{{"country-not-allowed", kM + "/scope/countries/allow"}}));
  EXPECT_EQ(Check(block, BUY(DOMAIN_PAYEE("a.example"), R"(,"country":"KP")")),
            (Codes{{"country-blocked", kM + "/scope/countries/block/1"}}));
  EXPECT_EQ(Check(block, BUY(DOMAIN_PAYEE("a.example"), R"(,"country":"DE")")), Codes{});
  EXPECT_EQ(Check(block, BUY(DOMAIN_PAYEE("a.example"), "")),
            (Codes{{"country-unstated", kM + "/scope/countries"}}));
}

TEST(PurchaseCheck, AssetNotAllowed) {
  constexpr std::string_view terms =
      R"({"scope":{"assets":{"allow":["USD","EUR"]}},)"
      R"("limits":{"lifetime":[{"asset":"USD","max":"100000"},{"asset":"EUR","max":"100000"}]}})";
  EXPECT_EQ(Check(terms, R"({"payee":)" DOMAIN_PAYEE("a.example") R"(,"amount":"5","asset":"EUR"})"),
            Codes{});
  EXPECT_EQ(Check(terms, R"({"payee":)" DOMAIN_PAYEE("a.example") R"(,"amount":"5","asset":"GBP"})"),
            (Codes{{"asset-not-allowed", kM + "/scope/assets/allow"},
                   {"asset-not-spendable", kM + "/limits"}}));
}

TEST(PurchaseCheck, Networks) {
  constexpr std::string_view terms =
      R"({"scope":{"networks":{"allow":["eip155:8453"]}},)"
      R"("limits":{"lifetime":[{"asset":"USD","max":"100000"},)"
      R"({"asset":"eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","max":"100000"},)"
      R"({"asset":"eip155:1/erc20:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48","max":"100000"}]}})";
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("a.example"), R"(,"network":"eip155:8453")")), Codes{});
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("a.example"), R"(,"network":"eip155:1")")),
            (Codes{{"network-not-allowed", kM + "/scope/networks/allow"}}));
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("a.example"), "")),
            (Codes{{"network-unstated", kM + "/scope/networks"}}));
}

TEST(PurchaseCheck, Caip19AssetImpliesItsNetwork) {
  constexpr std::string_view restricted =
      R"({"scope":{"networks":{"allow":["eip155:8453"]}},)"
      R"("limits":{"lifetime":[{"asset":"eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","max":"100000"},)"
      R"({"asset":"eip155:1/erc20:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48","max":"100000"}]}})";
  constexpr std::string_view unrestricted =
      R"({"limits":{"lifetime":[{"asset":"eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","max":"100000"}]}})";
#define BASE_USDC R"(,"asset":"eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")"
#define MAINNET_USDC R"(,"asset":"eip155:1/erc20:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48")"
#define PAY R"({"payee":{"type":"domain","value":"a.example"},"amount":"10")"
  // The asset's chain is the stated network.
  EXPECT_EQ(Check(restricted, PAY BASE_USDC "}"), Codes{});
  EXPECT_EQ(Check(restricted, PAY BASE_USDC R"(,"network":"eip155:8453"})"), Codes{});
  EXPECT_EQ(Check(restricted, PAY MAINNET_USDC "}"),
            (Codes{{"network-not-allowed", kM + "/scope/networks/allow"}}));
  // Asset and network disagree: the mismatch is reported even without a network restriction.
  EXPECT_EQ(Check(restricted, PAY BASE_USDC R"(,"network":"eip155:1"})"),
            (Codes{{"network-not-allowed", kM + "/scope/networks/allow"},
                   {"network-mismatch", ""}}));
  EXPECT_EQ(Check(unrestricted, PAY BASE_USDC R"(,"network":"eip155:1"})"), (Codes{{"network-mismatch", ""}}));
  const std::vector<Reason> r =
      CheckPurchase(TermsOf(unrestricted), Buy(PAY BASE_USDC R"(,"network":"eip155:1"})"), kId);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].detail, "network eip155:1 is not the chain eip155:8453 of asset " +
                             std::string(kUsdc));
#undef PAY
#undef MAINNET_USDC
#undef BASE_USDC
}

TEST(PurchaseCheck, Resources) {
  constexpr std::string_view terms =
      TERMS(R"({"resources":{"allow":["https://api.shop.example/v1/**","https://*.cdn.example/img/*.png"]}})");
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("a.example"),
                             R"(,"resource":"https://api.shop.example/v1/orders/7?x=1#f")")),
            Codes{});
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("a.example"),
                             R"(,"resource":"https://eu.cdn.example/img/cat.png?w=100")")),
            Codes{});
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("a.example"),
                             R"(,"resource":"https://api.shop.example/v2/orders")")),
            (Codes{{"resource-not-allowed", kM + "/scope/resources/allow"}}));
  // The query never helps a URL match.
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("a.example"),
                             R"(,"resource":"https://api.shop.example/v2?u=/v1/x")")),
            (Codes{{"resource-not-allowed", kM + "/scope/resources/allow"}}));
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("a.example"), "")),
            (Codes{{"resource-unstated", kM + "/scope/resources"}}));
}

TEST(PurchaseCheck, AssetMustBeNamedByAnAmountLimit) {
  // A session cap or a threshold alone does not make an asset spendable (specs/mandate.md §3.2).
  constexpr std::string_view terms =
      R"({"limits":{"per_transaction":[{"asset":"USD","max":"50000"}]},)"
      R"("step_up":{"above":[{"asset":"EUR","amount":"10"}]},)"
      R"("session_cap":[{"asset":"EUR","max":"100"}]})";
  EXPECT_EQ(Check(terms, R"({"payee":)" DOMAIN_PAYEE("a.example") R"(,"amount":"50","asset":"EUR"})"),
            (Codes{{"asset-not-spendable", kM + "/limits"}}));
  EXPECT_EQ(Check(terms, R"({"payee":)" DOMAIN_PAYEE("a.example") R"(,"amount":"500","asset":"EUR"})"),
            (Codes{{"asset-not-spendable", kM + "/limits"},
                   {"amount-above-session-cap", kM + "/session_cap/0/max"}}));
  // Each kind of amount limit is enough on its own.
  for (std::string_view limits :
       {R"({"limits":{"per_transaction":[{"asset":"EUR","max":"500"}]}})",
        R"({"limits":{"windows":[{"asset":"EUR","window":"week","kind":"rolling","max":"500"}]}})",
        R"({"limits":{"lifetime":[{"asset":"EUR","max":"500"}]}})"}) {
    EXPECT_EQ(Check(limits, R"({"payee":)" DOMAIN_PAYEE("a.example") R"(,"amount":"50","asset":"EUR"})"),
              Codes{})
        << limits;
  }
}

TEST(PurchaseCheck, PerTransactionMinimumAndMaximum) {
  constexpr std::string_view terms =
      R"({"limits":{"per_transaction":[{"asset":"EUR","max":"10"},)"
      R"({"asset":"USD","min":"100","max":"50000"}]}})";
  auto buy = [](const char* amount) {
    return std::string(R"({"payee":{"type":"domain","value":"a.example"},"amount":")") + amount +
           R"(","asset":"USD"})";
  };
  EXPECT_EQ(Check(terms, buy("99")),
            (Codes{{"amount-below-minimum", kM + "/limits/per_transaction/1/min"}}));
  EXPECT_EQ(Check(terms, buy("100")), Codes{});
  EXPECT_EQ(Check(terms, buy("50000")), Codes{});
  EXPECT_EQ(Check(terms, buy("50001")),
            (Codes{{"amount-above-maximum", kM + "/limits/per_transaction/1/max"}}));
  const std::vector<Reason> r = CheckPurchase(TermsOf(terms), Buy(buy("60000")), kId);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0], (Reason{"amount-above-maximum", "mnd_7ks2q4",
                          kM + "/limits/per_transaction/1/max",
                          "amount 60000 is above the per-transaction maximum 50000 USD"}));
  const std::vector<Reason> low = CheckPurchase(TermsOf(terms), Buy(buy("0")), kId);
  ASSERT_EQ(low.size(), 1u);
  EXPECT_EQ(low[0].detail, "amount 0 is below the per-transaction minimum 100 USD");
}

TEST(PurchaseCheck, AmountAboveAWholeWindow) {
  constexpr std::string_view terms =
      R"({"limits":{"windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"Europe/Paris","max":"200000"},)"
      R"({"asset":"EUR","window":"hour","kind":"rolling","max":"10"},)"
      R"({"asset":"USD","window":"hour","kind":"rolling","max":"100000"}]}})";
  auto buy = [](const char* amount) {
    return std::string(R"({"payee":{"type":"domain","value":"a.example"},"amount":")") + amount +
           R"(","asset":"USD"})";
  };
  EXPECT_EQ(Check(terms, buy("100000")), Codes{});
  EXPECT_EQ(Check(terms, buy("150000")),
            (Codes{{"amount-above-window", kM + "/limits/windows/2/max"}}));
  EXPECT_EQ(Check(terms, buy("250000")),
            (Codes{{"amount-above-window", kM + "/limits/windows/0/max"},
                   {"amount-above-window", kM + "/limits/windows/2/max"}}));
  const std::vector<Reason> r = CheckPurchase(TermsOf(terms), Buy(buy("250000")), kId);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].detail,
            "amount 250000 is above the whole day (calendar, Europe/Paris) window maximum 200000 "
            "USD");
  EXPECT_EQ(r[1].detail,
            "amount 250000 is above the whole hour (rolling) window maximum 100000 USD");
}

TEST(PurchaseCheck, AmountAboveLifetime) {
  constexpr std::string_view terms =
      R"({"limits":{"lifetime":[{"asset":"EUR","max":"5"},{"asset":"USD","max":"1000"}]}})";
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("a.example"), "")), Codes{});  // 1000 == max
  EXPECT_EQ(Check(terms, R"({"payee":)" DOMAIN_PAYEE("a.example") R"(,"amount":"1001","asset":"USD"})"),
            (Codes{{"amount-above-lifetime", kM + "/limits/lifetime/1/max"}}));
}

TEST(PurchaseCheck, AmountAboveSessionCap) {
  constexpr std::string_view terms =
      R"({"limits":{"lifetime":[{"asset":"USD","max":"100000"}]},)"
      R"("session_cap":[{"asset":"EUR","max":"5"},{"asset":"USD","max":"999"}]})";
  EXPECT_EQ(Check(terms, BUY(DOMAIN_PAYEE("a.example"), "")),
            (Codes{{"amount-above-session-cap", kM + "/session_cap/1/max"}}));
  const std::vector<Reason> r =
      CheckPurchase(TermsOf(terms), Buy(BUY(DOMAIN_PAYEE("a.example"), "")), kId);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].detail, "amount 1000 is above the session cap 999 USD");
}

TEST(PurchaseCheck, ReportsEveryFailureInSpecOrder) {
  constexpr std::string_view purchase =
      R"({"payee":{"type":"domain","value":"bad.shop.example"},"amount":"300000","asset":"USD",)"
      R"("network":"eip155:1","category":"7995","country":"KP",)"
      R"("resource":"https://api.shop.example/v2/x"})";
  EXPECT_EQ(Check(kFullTerms, purchase),
            (Codes{{"payee-blocked", kM + "/scope/payees/block/0"},
                   {"category-not-allowed", kM + "/scope/categories/allow"},
                   {"category-blocked", kM + "/scope/categories/block/0"},
                   {"country-not-allowed", kM + "/scope/countries/allow"},
                   {"country-blocked", kM + "/scope/countries/block/0"},
                   {"network-not-allowed", kM + "/scope/networks/allow"},
                   {"resource-not-allowed", kM + "/scope/resources/allow"},
                   {"amount-above-maximum", kM + "/limits/per_transaction/0/max"},
                   {"amount-above-window", kM + "/limits/windows/0/max"},
                   {"amount-above-window", kM + "/limits/windows/1/max"},
                   {"amount-above-session-cap", kM + "/session_cap/0/max"}}));
  constexpr std::string_view unstated =
      R"({"payee":{"type":"domain","value":"other.example"},"amount":"2000000","asset":"EUR"})";
  EXPECT_EQ(Check(kFullTerms, unstated),
            (Codes{{"payee-not-allowed", kM + "/scope/payees/allow"},
                   {"category-unstated", kM + "/scope/categories"},
                   {"country-unstated", kM + "/scope/countries"},
                   {"asset-not-allowed", kM + "/scope/assets/allow"},
                   {"network-unstated", kM + "/scope/networks"},
                   {"resource-unstated", kM + "/scope/resources"},
                   {"asset-not-spendable", kM + "/limits"}}));
  for (const Reason& r : CheckPurchase(TermsOf(kFullTerms), Buy(unstated), kId)) {
    EXPECT_EQ(r.mandate, "mnd_7ks2q4");
    EXPECT_FALSE(r.detail.empty()) << r.code;
  }
}

// --- ParsePurchase ---------------------------------------------------------------------------

struct Refusal {
  const char* name;
  const char* json;
  const char* reason;
  const char* pointer;
};

#define P_DOMAIN R"("payee":{"type":"domain","value":"shop.example"})"
#define P_OK(rest) "{" P_DOMAIN R"(,"amount":"1000","asset":"USD")" rest "}"

const Refusal kRefusals[] = {
    {"NotObject", "[]", "wrong-type", "/"},
    {"UnknownMember", P_OK(R"(,"tip":"5")"), "unknown-field", "/tip"},
    {"MissingPayee", R"({"amount":"1","asset":"USD"})", "missing-field", "/payee"},
    {"MissingAmount", "{" P_DOMAIN R"(,"asset":"USD"})", "missing-field", "/amount"},
    {"MissingAsset", "{" P_DOMAIN R"(,"amount":"1"})", "missing-field", "/asset"},
    {"AmountNumber", "{" P_DOMAIN R"(,"amount":1000,"asset":"USD"})", "amount-not-string", "/amount"},
    {"AmountLeadingZero", "{" P_DOMAIN R"(,"amount":"0100","asset":"USD"})", "bad-amount", "/amount"},
    {"AmountNegative", "{" P_DOMAIN R"(,"amount":"-1","asset":"USD"})", "bad-amount", "/amount"},
    {"PayeeNotObject", R"({"payee":"shop.example","amount":"1","asset":"USD"})", "wrong-type", "/payee"},
    {"PayeeUnknownMember", R"({"payee":{"type":"domain","value":"shop.example","name":"S"},"amount":"1","asset":"USD"})",
     "unknown-field", "/payee/name"},
    {"PayeeBadType", R"({"payee":{"type":"email","value":"a@shop.example"},"amount":"1","asset":"USD"})",
     "bad-payee", "/payee/type"},
    {"WildcardDomainPayee", R"({"payee":{"type":"domain","value":"*.shop.example"},"amount":"1","asset":"USD"})",
     "bad-payee", "/payee/value"},
    {"UpperCaseDomainPayee", R"({"payee":{"type":"domain","value":"Shop.example"},"amount":"1","asset":"USD"})",
     "bad-payee", "/payee/value"},
    {"ShortAddress", R"({"payee":{"type":"address","value":"0x833589fcd6"},"amount":"1","asset":"USD"})",
     "bad-payee", "/payee/value"},
    {"AddressUpperPrefix", R"({"payee":{"type":"address","value":"0X833589fcd6edb6e08f4c7c32d4f71b54bda02913"},"amount":"1","asset":"USD"})",
     "bad-payee", "/payee/value"},
    {"DidWithFragment", R"({"payee":{"type":"did","value":"did:web:shop.example#k"},"amount":"1","asset":"USD"})",
     "bad-payee", "/payee/value"},
    {"BadAsset", "{" P_DOMAIN R"(,"amount":"1","asset":"usd"})", "bad-asset", "/asset"},
    {"BadNetwork", P_OK(R"(,"network":"base")"), "bad-network", "/network"},
    {"EmptyNetwork", P_OK(R"(,"network":"")"), "bad-network", "/network"},
    {"BadCategory", P_OK(R"(,"category":"54a1")"), "bad-category", "/category"},
    {"CategoryNumber", P_OK(R"(,"category":5411)"), "wrong-type", "/category"},
    {"BadCountry", P_OK(R"(,"country":"XX")"), "bad-country", "/country"},
    {"LowerCaseCountry", P_OK(R"(,"country":"us")"), "bad-country", "/country"},
    {"ResourceFtp", P_OK(R"(,"resource":"ftp://shop.example/a")"), "bad-resource", "/resource"},
    {"ResourceRelative", P_OK(R"(,"resource":"/v1/orders")"), "bad-resource", "/resource"},
    {"ResourceSpace", P_OK(R"(,"resource":"https://shop.example/a b")"), "bad-resource", "/resource"},
    {"ResourceUserInfo", P_OK(R"(,"resource":"https://u:p@shop.example/a")"), "bad-resource", "/resource"},
    {"ResourceDotDot", P_OK(R"(,"resource":"https://shop.example/v1/../admin")"), "bad-resource", "/resource"},
    {"ResourceEncodedDotDot", P_OK(R"(,"resource":"https://shop.example/v1/%2E%2e/admin")"), "bad-resource", "/resource"},
    {"ResourceEmptySegment", P_OK(R"(,"resource":"https://shop.example/v1//admin")"), "bad-resource", "/resource"},
    // Path tricks servers resolve past a segment matcher (specs/mandate.md §7.2 resource).
    {"ResourceDotDotParams", P_OK(R"(,"resource":"https://shop.example/v1/..;/admin")"), "bad-resource", "/resource"},
    {"ResourceDotParams", P_OK(R"(,"resource":"https://shop.example/v1/.;x/admin")"), "bad-resource", "/resource"},
    {"ResourceEncodedDotDotParams", P_OK(R"(,"resource":"https://shop.example/v1/%2e%2E;jsessionid=1/admin")"), "bad-resource", "/resource"},
    {"ResourceDotDotEncodedParams", P_OK(R"(,"resource":"https://shop.example/v1/..%3Bx/admin")"), "bad-resource", "/resource"},
    {"ResourceEmptyWithParams", P_OK(R"(,"resource":"https://shop.example/v1/;x/admin")"), "bad-resource", "/resource"},
    {"ResourceEncodedSlash", P_OK(R"(,"resource":"https://shop.example/v1/%2e%2e%2fadmin")"), "bad-resource", "/resource"},
    {"ResourceEncodedSlashUpper", P_OK(R"(,"resource":"https://shop.example/v1/a%2F..%2Fb")"), "bad-resource", "/resource"},
    {"ResourceEncodedBackslash", P_OK(R"(,"resource":"https://shop.example/v1/..%5cadmin")"), "bad-resource", "/resource"},
    {"ResourceEncodedBackslashUpper", P_OK(R"(,"resource":"https://shop.example/v1/a%5C..%5Cb")"), "bad-resource", "/resource"},
    {"ResourceBadPort", P_OK(R"(,"resource":"https://shop.example:0/a")"), "bad-resource", "/resource"},
    {"ResourceWildcardHost", P_OK(R"(,"resource":"https://*.shop.example/a")"), "bad-resource", "/resource"},
    {"ResourceNonAscii", P_OK(R"(,"resource":"https://shop.example/caf\u00e9")"), "bad-resource", "/resource"},
    {"AtNegative", P_OK(R"(,"at":-1)"), "bad-time", "/at"},
    {"AtTooLate", P_OK(R"(,"at":253402300800)"), "bad-time", "/at"},
    {"AtString", P_OK(R"(,"at":"2026-11-23T14:00:00Z")"), "wrong-type", "/at"},
    {"AtFraction", P_OK(R"(,"at":1.5)"), "wrong-type", "/at"},
};

class RefusedPurchase : public testing::TestWithParam<Refusal> {};

TEST_P(RefusedPurchase, WithReasonAndPointer) {
  const Refusal& c = GetParam();
  Result<Purchase> p = ParsePurchase(JsonOf(c.json));
  ASSERT_FALSE(p.ok()) << c.json;
  EXPECT_EQ(p.error().code(), StatusCode::kInvalidArgument) << p.error().ToString();
  EXPECT_EQ(p.error().reason(), c.reason) << p.error().ToString();
  EXPECT_EQ(p.error().message().rfind(std::string(c.pointer) + ": ", 0), 0u)
      << "message does not start with " << c.pointer << ": " << p.error().message();
}

INSTANTIATE_TEST_SUITE_P(PurchaseParse, RefusedPurchase, testing::ValuesIn(kRefusals),
                         [](const testing::TestParamInfo<Refusal>& p) {
                           return std::string(p.param.name);
                         });

TEST(PurchaseParse, PointersCarryTheCallersPrefix) {
  Result<Purchase> p = ParsePurchase(JsonOf(P_OK(R"(,"country":"XX")")), "/purchase");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().reason(), "bad-country");
  EXPECT_EQ(p.error().message().rfind("/purchase/country: ", 0), 0u) << p.error().message();
  p = ParsePurchase(JsonOf(R"({"payee":{"type":"domain","value":"*.a.example"},"amount":"1","asset":"USD"})"),
                    "/purchase");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message().rfind("/purchase/payee/value: ", 0), 0u) << p.error().message();
}

TEST(PurchaseParse, AmountAboveUint128KeepsOutOfRange) {
  Result<Purchase> p = ParsePurchase(
      JsonOf("{" P_DOMAIN R"(,"amount":"340282366920938463463374607431768211456","asset":"USD"})"));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().reason(), "amount-out-of-range");
}

TEST(PurchaseParse, ReadsEveryMember) {
  Purchase p = Buy(
      R"({"payee":{"type":"did","value":"did:web:shop.example"},"amount":"340282366920938463463374607431768211455",)"
      R"("asset":"eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","network":"eip155:8453",)"
      R"("category":"5411","country":"FR","resource":"http://localhost:8080/v1/x?y=1","at":1795442400})");
  EXPECT_EQ(p.payee, (Payee{PayeeType::kDid, "did:web:shop.example"}));
  EXPECT_EQ(p.amount, Amount::Max());
  EXPECT_EQ(p.asset, kUsdc);
  EXPECT_EQ(p.network, "eip155:8453");
  EXPECT_EQ(p.category, "5411");
  EXPECT_EQ(p.country, "FR");
  EXPECT_EQ(p.resource, "http://localhost:8080/v1/x?y=1");
  EXPECT_EQ(p.at, 1795442400);
  Purchase minimal = Buy(P_OK(""));
  EXPECT_EQ(minimal.network, "");
  EXPECT_EQ(minimal.category, "");
  EXPECT_EQ(minimal.resource, "");
  EXPECT_FALSE(minimal.at.has_value());
}

TEST(PurchaseJson, RoundTripsExactly) {
  for (std::string_view text :
       {std::string_view(kGoodPurchase), std::string_view(P_OK("")),
        std::string_view(
            R"({"payee":{"type":"address","value":"0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"},)"
            R"("amount":"0","asset":"eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",)"
            R"("network":"eip155:8453","category":"0000","country":"KP",)"
            R"("resource":"https://shop.example:8443/","at":0})")}) {
    Purchase p = Buy(text);
    json::Value out = PurchaseToJson(p);
    EXPECT_EQ(json::Write(out), text);
    Result<Purchase> again = ParsePurchase(out);
    ASSERT_TRUE(again.ok()) << again.error().ToString();
    EXPECT_EQ(*again, p);
    EXPECT_EQ(json::Write(PurchaseToJson(*again)), text);
  }
}

TEST(PurchaseJson, WritesNormalizedForms) {
  // Addresses, URL schemes and hosts are case-insensitive; they are written in lower case.
  Purchase p = Buy(
      R"({"payee":{"type":"address","value":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"},)"
      R"("amount":"7","asset":"USD","resource":"HTTPS://API.Shop.Example/V1/Orders?Q=A"})");
  EXPECT_EQ(json::Write(PurchaseToJson(p)),
            R"({"payee":{"type":"address","value":"0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"},)"
            R"("amount":"7","asset":"USD","resource":"https://api.shop.example/V1/Orders?Q=A"})");
}

// --- NeedsStepUp -----------------------------------------------------------------------------

TEST(NeedsStepUp, AboveThresholdOfItsAsset) {
  const MandateTerms terms = TermsOf(
      R"({"limits":{"lifetime":[{"asset":"USD","max":"1000000"},{"asset":"EUR","max":"1000000"}]},)"
      R"("step_up":{"above":[{"asset":"USD","amount":"20000"}]}})");
  auto buy = [](const char* amount, const char* asset) {
    return Buy(std::string(R"({"payee":{"type":"domain","value":"a.example"},"amount":")") + amount +
               R"(","asset":")" + asset + R"("})");
  };
  EXPECT_FALSE(NeedsStepUp(terms, buy("19999", "USD"), 0));
  EXPECT_FALSE(NeedsStepUp(terms, buy("20000", "USD"), 0));  // strictly greater
  EXPECT_TRUE(NeedsStepUp(terms, buy("20001", "USD"), 0));
  EXPECT_FALSE(NeedsStepUp(terms, buy("999999", "EUR"), 0));  // no threshold in EUR
  EXPECT_FALSE(NeedsStepUp(TermsOf(R"({"limits":{"lifetime":[{"asset":"USD","max":"5"}]}})"),
                           buy("999999", "USD"), 0));
}

class NeedsStepUpHours : public testing::Test {
 protected:
  // America/New_York is UTC-5 in late November (EST).
  static constexpr int64_t kMonday0900 = 1795442400;   // 2026-11-23T14:00:00Z
  static constexpr int64_t kMonday0859 = 1795442340;   // 2026-11-23T13:59:00Z
  static constexpr int64_t kMonday1729 = 1795472940;   // 2026-11-23T22:29:00Z
  static constexpr int64_t kMonday1730 = 1795473000;   // 2026-11-23T22:30:00Z
  static constexpr int64_t kSaturday1000 = 1795273200;  // 2026-11-21T15:00:00Z

  const MandateTerms terms_ = TermsOf(
      R"({"limits":{"lifetime":[{"asset":"USD","max":"1000000"}]},)"
      R"("step_up":{"outside_hours":{"time_zone":"America/New_York",)"
      R"("days":["mon","tue","wed","thu","fri"],"start":"09:00","end":"17:30"}}})");

  static Purchase At(int64_t t) {
    Purchase p = Buy(R"({"payee":{"type":"domain","value":"a.example"},"amount":"1","asset":"USD"})");
    p.at = t;
    return p;
  }
};

TEST_F(NeedsStepUpHours, InsideAndOutsideBusinessHours) {
  EXPECT_FALSE(NeedsStepUp(terms_, At(kMonday0900), 0));  // start is inside
  EXPECT_TRUE(NeedsStepUp(terms_, At(kMonday0859), 0));
  EXPECT_FALSE(NeedsStepUp(terms_, At(kMonday1729), 0));
  EXPECT_TRUE(NeedsStepUp(terms_, At(kMonday1730), 0));  // end is outside
  EXPECT_TRUE(NeedsStepUp(terms_, At(kSaturday1000), 0));
}

TEST_F(NeedsStepUpHours, UsesNowWhenThePurchaseHasNoTime) {
  Purchase p = At(0);
  p.at.reset();
  EXPECT_FALSE(NeedsStepUp(terms_, p, kMonday0900));
  EXPECT_TRUE(NeedsStepUp(terms_, p, kSaturday1000));
  // Purchase::at wins over the clock.
  EXPECT_TRUE(NeedsStepUp(terms_, At(kSaturday1000), kMonday0900));
}

TEST_F(NeedsStepUpHours, EndOfDayMeansMidnight) {
  const MandateTerms all_day = TermsOf(
      R"({"limits":{"lifetime":[{"asset":"USD","max":"1000000"}]},)"
      R"("step_up":{"outside_hours":{"time_zone":"UTC","days":["mon"],"start":"00:00","end":"24:00"}}})");
  EXPECT_FALSE(NeedsStepUp(all_day, At(1795392000), 0));          // Monday 00:00:00Z
  EXPECT_FALSE(NeedsStepUp(all_day, At(1795392000 + 86399), 0));  // Monday 23:59:59Z
  EXPECT_TRUE(NeedsStepUp(all_day, At(1795392000 + 86400), 0));   // Tuesday 00:00:00Z
}

// --- ReasonToJson ----------------------------------------------------------------------------

TEST(ReasonJson, WritesMembersInOrderAndLeavesOutEmptyOnes) {
  EXPECT_EQ(json::Write(ReasonToJson(Reason{"amount-above-maximum", "mnd_1",
                                            "/credentialSubject/mandate/limits/per_transaction/0/max",
                                            "amount 60000 is above the per-transaction maximum 50000 USD"})),
            R"({"code":"amount-above-maximum","mandate":"mnd_1",)"
            R"("pointer":"/credentialSubject/mandate/limits/per_transaction/0/max",)"
            R"("detail":"amount 60000 is above the per-transaction maximum 50000 USD"})");
  EXPECT_EQ(json::Write(ReasonToJson(Reason{"network-mismatch", "mnd_1", "", "differs"})),
            R"({"code":"network-mismatch","mandate":"mnd_1","detail":"differs"})");
  EXPECT_EQ(json::Write(ReasonToJson(Reason{"bad-token", "", "", "unreadable"})),
            R"({"code":"bad-token","detail":"unreadable"})");
}

}  // namespace
}  // namespace mandated::mandates
