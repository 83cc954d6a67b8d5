// Ap2 Authority on a real RocksDB with a fake clock (specs/ap2.md §6, §8): the issuer key's state
// decides whether an open mandate still verifies (retired yes, disabled no) on the agent's and
// the merchant's side, and the merchant side refuses an open mandate at its stored expiry.
#include "mandates/ap2_authority.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "audit/event.h"
#include "base/bytes.h"
#include "identity/directory.h"
#include "mandates/sd_jwt.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_support.h"

namespace mandated::mandates::ap2 {
namespace {

constexpr char kServiceDid[] = "did:web:mandated.test";
constexpr char kMerchantDid[] = "did:web:shop.example";

json::Value J(std::string_view text) {
  Result<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : json::Value();
}

class Ap2AuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {identity::kTenantsFamily, identity::kIdentityIndexFamily,
                         signer::kKeysFamily, std::string(audit::kAuditFamily)};
    kv_ = std::move(*store::OpenRocksStore(o));
    keys_ = std::move(*signer::KeyStore::Open(*kv_, SecretBytes(ByteSpan(Bytes(32, 7))), clock_,
                                              SystemRandom::Get()));
    identity::DirectoryOptions opts;
    opts.service_did = kServiceDid;
    directory_ = std::make_unique<identity::Directory>(*kv_, *keys_, clock_, SystemRandom::Get(),
                                                       opts);
    authority_ = std::make_unique<Authority>(*kv_, *keys_, *directory_, clock_,
                                             SystemRandom::Get(), kServiceDid);
    tenant_.emplace(*kv_, "prn_a");
    agent_key_ = std::move(*signer::GenerateKey(signer::KeyType::kP256, SystemRandom::Get()));
    merchant_key_ = std::move(*signer::GenerateKey(signer::KeyType::kP256, SystemRandom::Get()));
    identity::CreateAgentRequest req;
    req.name = "buyer";
    req.did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(agent_key_));
    Result<identity::Agent> agent = directory_->CreateAgent(*tenant_, req);
    ASSERT_TRUE(agent.ok()) << agent.error().ToString();
    agent_id_ = agent->id;
  }

  // Makes the agent a new custodial one (its P-256 key in the key store) from here on; `made`,
  // when given, gets its record.
  void UseNewCustodialAgent(identity::Agent* made = nullptr) {
    identity::CreateAgentRequest req;
    req.name = "custodial buyer";
    req.custodial_key_type = "P-256";
    Result<identity::Agent> agent = directory_->CreateAgent(*tenant_, req);
    ASSERT_TRUE(agent.ok()) << agent.error().ToString();
    agent_id_ = agent->id;
    if (made != nullptr) *made = *agent;
  }

  OpenMandate Issue(Kind kind, std::string_view constraints, int64_t ttl_s = 86400,
                    const std::string& checkout_mandate = "") {
    IssueOpenRequest req;
    req.agent_id = agent_id_;
    req.kind = kind;
    req.constraints = J(constraints);
    req.checkout_mandate = checkout_mandate;
    req.ttl_s = ttl_s;
    Result<OpenMandate> m = authority_->IssueOpen(*tenant_, req, "crd_admin");
    EXPECT_TRUE(m.ok()) << m.error().ToString();
    return m.ok() ? *m : OpenMandate();
  }
  // An open checkout mandate (two teas from "shop") and an open payment mandate naming it.
  std::pair<OpenMandate, OpenMandate> IssueBoth(int64_t checkout_ttl_s = 86400) {
    OpenMandate checkout = Issue(Kind::kCheckout, R"([
        {"type":"checkout.line_items","items":[{"id":"tea","acceptable_items":[
           {"id":"sku-tea","title":"Green tea"}],"quantity":2}]},
        {"type":"checkout.allowed_merchants","allowed":[{"id":"shop","name":"Shop"}]}])",
                                 checkout_ttl_s);
    OpenMandate payment = Issue(
        Kind::kPayment, R"([{"type":"payment.amount_range","currency":"USD","max":5000}])", 86400,
        checkout.id);
    return {checkout, payment};
  }

  // The agent's closing of `open` for `amount` USD to "shop" under transaction `tx`, for the
  // service challenge `ch`.
  std::string Closing(const OpenMandate& open, int64_t amount, const std::string& tx,
                      const Challenge& ch) {
    json::Value claims = J(R"({"vct":"mandate.payment.1","payee":{"id":"shop","name":"Shop"},
        "payment_instrument":{"id":"card-1","type":"card"}})");
    claims.Set("transaction_id", json::Value::String(tx));
    claims.Set("payment_amount", json::Value::Object()
                                     .Set("amount", json::Value::Int(amount))
                                     .Set("currency", json::Value::String("USD")));
    claims.Set("iat", json::Value::Int(clock_.NowUnixSeconds()));
    claims.Set("aud", json::Value::String(ch.aud));
    claims.Set("nonce", json::Value::String(ch.nonce));
    Result<std::string> chain =
        sdjwt::AppendHop(open.token, claims, json::Value(), sdjwt::HopOptions{},
                         SystemRandom::Get(), sdjwt::SignerFor(agent_key_));
    EXPECT_TRUE(chain.ok());
    return chain.ok() ? *chain : std::string();
  }
  // The same for a fresh service challenge, presented.
  Result<ClosedRecord> Pay(const OpenMandate& open, int64_t amount, const std::string& tx) {
    Result<Challenge> ch = authority_->NewChallenge(*tenant_, agent_id_);
    EXPECT_TRUE(ch.ok());
    return authority_->Present(*tenant_, agent_id_, Closing(open, amount, tx, *ch));
  }
  // How many records of `kind` the principal has.
  size_t Count(std::string_view kind) {
    size_t n = 0;
    EXPECT_TRUE(tenant_->Scan(kind, "", [&](std::string_view, std::string_view) {
                          ++n;
                          return true;
                        }).ok());
    return n;
  }

  // The merchant's signed checkout: two green teas, 1200 USD in total.
  std::string CheckoutJwt() {
    json::Value c = J(R"({"id":"order-1","merchant":{"id":"shop","name":"Shop"},"currency":"USD",
        "totals":[{"type":"total","amount":1200}],
        "line_items":[{"id":"line-1","item":{"id":"sku-tea","title":"Green tea"},"quantity":2}]})");
    return *signer::SignJws(merchant_key_, J(R"({"typ":"JWT"})"), json::Write(c));
  }
  // The agent closes `open` over `checkout_jwt` for the merchant's nonce; the merchant verifies.
  Result<MerchantVerifyResult> MerchantVerify(const OpenMandate& open,
                                              const std::string& checkout_jwt,
                                              const std::string& nonce) {
    json::Value claims = json::Value::Object();
    claims.Set("vct", json::Value::String("mandate.checkout.1"));
    claims.Set("checkout_jwt", json::Value::String(checkout_jwt));
    claims.Set("checkout_hash",
               json::Value::String(sdjwt::HashB64(sdjwt::HashAlg::kSha256, checkout_jwt)));
    claims.Set("iat", json::Value::Int(clock_.NowUnixSeconds()));
    claims.Set("aud", json::Value::String(kMerchantDid));
    claims.Set("nonce", json::Value::String(nonce));
    Result<std::string> chain =
        sdjwt::AppendHop(open.token, claims, json::Value(), sdjwt::HopOptions{},
                         SystemRandom::Get(), sdjwt::SignerFor(agent_key_));
    EXPECT_TRUE(chain.ok());
    MerchantVerifyRequest req;
    req.checkout_chain = *chain;
    req.checkout_jwt = checkout_jwt;
    req.merchant_jwk = signer::PublicKeyToJwk(*signer::DerivePublicKey(merchant_key_));
    req.aud = kMerchantDid;
    req.nonce = nonce;
    return authority_->VerifyCheckout(*tenant_, req);
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<identity::Directory> directory_;
  std::unique_ptr<Authority> authority_;
  std::optional<identity::Tenant> tenant_;
  signer::PrivateKey agent_key_;
  signer::PrivateKey merchant_key_;
  std::string agent_id_;
};

// A retired issuer key still verifies what it signed; a disabled one is withdrawn
// (specs/signing.md §Key store), so its open payment mandates no longer close.
TEST_F(Ap2AuthorityTest, DisabledIssuerKeyRefusesClosingItsOpenPaymentMandate) {
  const OpenMandate open = Issue(
      Kind::kPayment,
      R"([{"type":"payment.reference","conditional_transaction_id":"c"},
          {"type":"payment.amount_range","currency":"USD","max":5000}])");
  ASSERT_TRUE(keys_->Rotate(open.key_id).ok());
  Result<ClosedRecord> retired = Pay(open, 100, "tx-retired");
  ASSERT_TRUE(retired.ok()) << retired.error().ToString();

  ASSERT_TRUE(keys_->Disable(open.key_id).ok());
  Result<ClosedRecord> disabled = Pay(open, 100, "tx-disabled");
  ASSERT_FALSE(disabled.ok());
  EXPECT_EQ(disabled.error().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(disabled.error().reason(), "ap2-unknown-issuer");
}

// The custodial closing refuses before the service signs a hop for the agent.
TEST_F(Ap2AuthorityTest, DisabledIssuerKeyRefusesACustodialClosing) {
  UseNewCustodialAgent();
  if (HasFatalFailure()) return;
  const OpenMandate open = Issue(
      Kind::kPayment,
      R"([{"type":"payment.reference","conditional_transaction_id":"c"},
          {"type":"payment.amount_range","currency":"USD","max":5000}])");
  auto close = [&](const std::string& tx, const std::string& nonce) {
    json::Value closed = J(R"({"vct":"mandate.payment.1","payee":{"id":"shop","name":"Shop"},
        "payment_amount":{"amount":100,"currency":"USD"},
        "payment_instrument":{"id":"card-1","type":"card"}})");
    closed.Set("transaction_id", json::Value::String(tx));
    return authority_->CloseCustodial(*tenant_, agent_id_, open.id, closed, kMerchantDid, nonce);
  };
  Result<ClosedRecord> active = close("tx-active", "n-1");
  ASSERT_TRUE(active.ok()) << active.error().ToString();

  ASSERT_TRUE(keys_->Disable(open.key_id).ok());
  Result<ClosedRecord> disabled = close("tx-disabled", "n-2");
  ASSERT_FALSE(disabled.ok());
  EXPECT_EQ(disabled.error().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(disabled.error().reason(), "ap2-unknown-issuer");
}

// A custodial closing that Accept would refuse (its checkout mandate revoked, its transaction
// paid under another open mandate) is refused before the agent's key signs anything: with the
// agent's key disabled, the refusal is the mandate's, not the key's failure to sign.
TEST_F(Ap2AuthorityTest, ACustodialClosingAcceptWouldRefuseIsRefusedBeforeTheAgentKeySigns) {
  identity::Agent agent;
  UseNewCustodialAgent(&agent);
  if (HasFatalFailure()) return;
  auto [checkout, payment] = IssueBoth();
  const OpenMandate other = Issue(
      Kind::kPayment, R"([{"type":"payment.amount_range","currency":"USD","max":5000}])", 86400,
      checkout.id);
  auto close = [&](const OpenMandate& open, const std::string& tx, const std::string& nonce) {
    json::Value closed = J(R"({"vct":"mandate.payment.1","payee":{"id":"shop","name":"Shop"},
        "payment_amount":{"amount":100,"currency":"USD"},
        "payment_instrument":{"id":"card-1","type":"card"}})");
    closed.Set("transaction_id", json::Value::String(tx));
    return authority_->CloseCustodial(*tenant_, agent_id_, open.id, closed, kMerchantDid, nonce);
  };
  ASSERT_TRUE(close(payment, "tx-paid", "n-1").ok());
  ASSERT_TRUE(keys_->Disable(agent.key_id).ok());
  Result<ClosedRecord> paid_again = close(other, "tx-paid", "n-2");
  ASSERT_FALSE(paid_again.ok());
  EXPECT_EQ(paid_again.error().reason(), "ap2-closed-mandate-replayed");
  ASSERT_TRUE(authority_->Revoke(*tenant_, checkout.id, "crd_admin").ok());
  Result<ClosedRecord> after_revocation = close(other, "tx-new", "n-3");
  ASSERT_FALSE(after_revocation.ok());
  EXPECT_EQ(after_revocation.error().reason(), "ap2-mandate-revoked");
}

TEST_F(Ap2AuthorityTest, DisabledIssuerKeyRefusesTheMerchantsVerification) {
  auto [checkout, payment] = IssueBoth();
  const std::string cj = CheckoutJwt();
  ASSERT_TRUE(Pay(payment, 1200, sdjwt::HashB64(sdjwt::HashAlg::kSha256, cj)).ok());
  ASSERT_EQ(checkout.key_id, payment.key_id);
  ASSERT_TRUE(keys_->Rotate(checkout.key_id).ok());
  Result<MerchantVerifyResult> retired = MerchantVerify(checkout, cj, "m-nonce-1");
  ASSERT_TRUE(retired.ok()) << retired.error().ToString();

  ASSERT_TRUE(keys_->Disable(checkout.key_id).ok());
  Result<MerchantVerifyResult> disabled = MerchantVerify(checkout, cj, "m-nonce-2");
  ASSERT_FALSE(disabled.ok());
  EXPECT_EQ(disabled.error().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(disabled.error().reason(), "ap2-unknown-issuer");
}

// The merchant side holds the open checkout mandate to its stored expiry exactly as closing
// does: no SD-JWT clock skew after expires_at.
TEST_F(Ap2AuthorityTest, MerchantVerifyRefusesAnOpenMandateFromItsExpiry) {
  auto [checkout, payment] = IssueBoth(/*checkout_ttl_s=*/60);
  const std::string cj = CheckoutJwt();
  ASSERT_TRUE(Pay(payment, 1200, sdjwt::HashB64(sdjwt::HashAlg::kSha256, cj)).ok());
  clock_.AdvanceSeconds(checkout.expires_at - 1 - clock_.NowUnixSeconds());
  Result<MerchantVerifyResult> before = MerchantVerify(checkout, cj, "m-nonce-1");
  ASSERT_TRUE(before.ok()) << before.error().ToString();

  clock_.AdvanceSeconds(1);  // now == expires_at: inside the SD-JWT's 300 s skew
  Result<MerchantVerifyResult> at = MerchantVerify(checkout, cj, "m-nonce-2");
  ASSERT_FALSE(at.ok());
  EXPECT_EQ(at.error().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(at.error().reason(), "sd-jwt-expired");
}

}  // namespace
}  // namespace mandated::mandates::ap2

namespace mandated::mandates::ap2 {
namespace {

// Retention (specs/ap2.md §7): a challenge never used goes once it expired, a spent one (with
// its spent-nonce record) once it would have expired; a presentation for a pruned challenge is
// still refused, and a live challenge is kept and still works.
TEST_F(Ap2AuthorityTest, ChallengesThatAnswerNothingArePrunedAndStayRefused) {
  auto [checkout, payment] = IssueBoth();
  const Challenge idle = *authority_->NewChallenge(*tenant_, agent_id_);
  const Challenge spent = *authority_->NewChallenge(*tenant_, agent_id_);
  const std::string chain = Closing(payment, 1000, "tx-1", spent);
  ASSERT_TRUE(authority_->Present(*tenant_, agent_id_, chain).ok());
  clock_.AdvanceSeconds(kChallengeTtlSeconds - 1);
  const Challenge live = *authority_->NewChallenge(*tenant_, agent_id_);
  EXPECT_EQ(Count("ap2-challenge"), 3u);
  EXPECT_EQ(Count("ap2-nonce"), 1u);

  Result<identity::PrunePass> early = authority_->PruneChallenges(*tenant_, "", 10);
  ASSERT_TRUE(early.ok()) << early.error().ToString();
  EXPECT_EQ(early->examined, 3u);
  EXPECT_EQ(early->pruned, 0u);
  EXPECT_EQ(early->next_after, "");

  clock_.AdvanceSeconds(1);  // idle expired; spent was used kChallengeTtlSeconds ago
  // A bounded pass stops after `limit` records and names where the next one resumes.
  Result<identity::PrunePass> first = authority_->PruneChallenges(*tenant_, "", 1);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->examined, 1u);
  EXPECT_FALSE(first->next_after.empty());
  Result<identity::PrunePass> rest = authority_->PruneChallenges(*tenant_, first->next_after, 10);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->examined, 2u);
  EXPECT_EQ(rest->next_after, "");
  EXPECT_EQ(first->pruned + rest->pruned, 2u);
  EXPECT_EQ(Count("ap2-challenge"), 1u);
  EXPECT_EQ(Count("ap2-nonce"), 0u);
  EXPECT_TRUE(tenant_->Get("ap2-challenge", live.nonce)->has_value());

  // The spent closing replayed, and the idle challenge used late: refused, nothing closed.
  Result<ClosedRecord> replay = authority_->Present(*tenant_, agent_id_, chain);
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.error().reason(), "ap2-nonce-unknown");
  Result<ClosedRecord> late =
      authority_->Present(*tenant_, agent_id_, Closing(payment, 1000, "tx-2", idle));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().reason(), "ap2-nonce-unknown");
  EXPECT_EQ(Count("ap2-closed"), 1u);
  // The live one still closes (a second open mandate: the first allows one closing).
  const OpenMandate second = Issue(
      Kind::kPayment, R"([{"type":"payment.amount_range","currency":"USD","max":5000}])", 86400,
      checkout.id);
  Result<ClosedRecord> ok =
      authority_->Present(*tenant_, agent_id_, Closing(second, 1000, "tx-3", live));
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
}

}  // namespace
}  // namespace mandated::mandates::ap2
