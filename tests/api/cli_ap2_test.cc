// mandatectl's AP2 commands against the real server binary (specs/ap2.md §9): a principal's
// admin lists, shows and revokes AP2 open mandates and reads what one spent and the payments
// closed under it. The mandate is issued and closed over HTTP, as an agent holding its own
// P-256 key does (the CLI issues none: AP2's constraints are its own JSON).
#include <gtest/gtest.h>
#include <httplib.h>

#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/random.h"
#include "cli/command_kit.h"
#include "mandates/credential.h"
#include "mandates/status_list.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"
#include "tests/support/ap2_closing.h"
#include "tests/support/http_json.h"
#include "tests/support/mandatectl_run.h"

namespace mandated::cli {
namespace {

using testing::StringField;

class CliAp2Test : public testing::MandatectlTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartServerWithPrincipal());
    http_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    base_ = "/v1/principals/" + principal_;
    key_ = std::move(*signer::GenerateKey(signer::KeyType::kP256, SystemRandom::Get()));
    agent_ = StringField(
        testing::Call(*http_, "POST", base_ + "/agents", op_,
                      R"({"name":"ap2 bot","did":")" +
                          signer::DidKeyFromPublicKey(*signer::DerivePublicKey(key_)) + "\"}",
                      201),
        "id");
    session_ = StringField(testing::Call(*http_, "POST", base_ + "/agents/" + agent_ + "/sessions",
                                         op_, R"({"task":"shop"})", 201),
                           "token");
    open_ = testing::Call(
        *http_, "POST", base_ + "/ap2/mandates", op_,
        R"({"agent":")" + agent_ + R"(","kind":"payment","ttl_seconds":86400,"constraints":[)"
        R"({"type":"payment.reference","conditional_transaction_id":"x"},)"
        R"({"type":"payment.agent_recurrence","frequency":"ON_DEMAND"}]})",
        201);
  }
  // The agent closes the open mandate for `amount` in transaction `tx`: the closed record.
  json::Value Pay(int64_t amount, const std::string& tx) {
    const json::Value ch = testing::Call(*http_, "POST", "/v1/ap2/challenges", session_, "", 201);
    Result<std::string> chain = testing::SignAp2Closing(
        StringField(open_, "token"), key_, amount, tx, StringField(ch, "aud"),
        StringField(ch, "nonce"), SystemClock::Get().NowUnixSeconds(), SystemRandom::Get());
    EXPECT_TRUE(chain.ok());
    return testing::Call(*http_, "POST", "/v1/ap2/present", session_,
                         json::Write(json::Value::Object().Set(
                             "chain", json::Value::String(chain.ok() ? *chain : ""))),
                         201, "present-" + tx);
  }

  std::unique_ptr<httplib::Client> http_;
  std::string base_, agent_, session_;
  signer::PrivateKey key_;
  json::Value open_;
};

TEST_F(CliAp2Test, AdminListsShowsReadsClosingsAndRevokes) {
  const std::string id = StringField(open_, "id");
  const std::string line = id + "  payment  agent " + agent_ + "  expires " +
                           TimeOf(open_, "expires_at") + "  status list 0 entry 0\n";
  Ran listed = As(op_, {"ap2", "list", "--agent", agent_});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out, line);
  Ran empty = As(op_, {"ap2", "list", "--agent", "agt_nobodyholdsthisone00000"});
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_EQ(empty.out, "no AP2 open mandates\n");
  EXPECT_EQ(As(op_, {"ap2", "get", id}).out, line);
  Ran none = As(op_, {"ap2", "closings", id});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, id + "  spent 0  uses 0\n");

  const json::Value first = Pay(250, "t-1");
  const json::Value second = Pay(100, "t-2");
  auto row = [](const json::Value& c) {
    return StringField(c, "id") + "  tx " + StringField(c, "transaction_id") + "  " +
           std::to_string(c.Find("payment_amount")->Find("amount")->as_int64().value_or(0)) +
           " USD to shop  " + TimeOf(c, "closed_at") + "\n";
  };
  Ran all = As(op_, {"ap2", "closings", id});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const std::string head =
      id + "  spent 350  uses 2  last use " + TimeOf(second, "closed_at") + "\n";
  // In the order of their keys (a hash of the transaction id).
  EXPECT_TRUE(all.out == head + row(first) + row(second) ||
              all.out == head + row(second) + row(first))
      << all.out;
  // One page at a time: the hint names the next page, which holds the other closing.
  Ran page = As(op_, {"ap2", "closings", id, "--limit", "1"});
  ASSERT_EQ(page.exit_code, 0) << page.err;
  const std::string hint = "(more: mandatectl ap2 closings " + id + " --after ";
  const size_t more = page.out.find(hint);
  ASSERT_NE(more, std::string::npos) << page.out;
  const size_t from = more + hint.size();
  const std::string after = page.out.substr(from, page.out.find(')', from) - from);
  Ran rest = As(op_, {"ap2", "closings", id, "--limit", "1", "--after", after});
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  ASSERT_EQ(rest.out.rfind(head, 0), 0u) << rest.out;
  const size_t row_end = rest.out.find('\n', head.size()) + 1;
  const std::string second_row = rest.out.substr(head.size(), row_end - head.size());
  EXPECT_EQ(page.out.substr(0, more) + second_row, all.out);

  Ran revoked = As(op_, {"ap2", "revoke", id});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_TRUE(testing::Matches(revoked.out, id + "  payment  agent " + agent_ + "  expires " +
                                                TimeOf(open_, "expires_at") +
                                                "  status list 0 entry 0"
                                                "  revoked [0-9T:Z-]+ by operator\n"))
      << revoked.out;
  Ran missing = As(op_, {"ap2", "closings", "ap2m_nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("error 404 (urn:mandated:problem:ap2-mandate-not-found)"),
            std::string::npos)
      << missing.err;
  EXPECT_EQ(As(op_, {"ap2", "closings"}).exit_code, 2);
}

// A custodial closing's line names the authorization it spent and that authorization's mandate
// (specs/ap2.md §6), which a compliance reader needs to tie the payment to its budget.
TEST_F(CliAp2Test, ACustodialClosingNamesItsAuthorization) {
  const std::string cust = StringField(
      testing::Call(*http_, "POST", base_ + "/agents", op_,
                    R"({"name":"custodial","custodial":{"key_type":"P-256"}})", 201),
      "id");
  const std::string token = StringField(
      testing::Call(*http_, "POST", base_ + "/agents/" + cust + "/sessions", op_,
                    R"({"task":"shop"})", 201),
      "token");
  const int64_t now = SystemClock::Get().NowUnixSeconds();
  const std::string mandate = StringField(
      testing::Call(*http_, "POST", base_ + "/mandates", op_,
                    R"({"agent":")" + cust + R"(","valid_from":")" +
                        mandates::FormatRfc3339Utc(now - 60) + R"(","valid_until":")" +
                        mandates::FormatRfc3339Utc(now + 86400) +
                        R"(","terms":{"limits":{"per_transaction":[{"asset":"USD","max":"1000"}]}}})",
                    201),
      "id");
  const std::string open = StringField(
      testing::Call(*http_, "POST", base_ + "/ap2/mandates", op_,
                    R"({"agent":")" + cust + R"(","kind":"payment","ttl_seconds":86400,"constraints":[)"
                    R"({"type":"payment.reference","conditional_transaction_id":"x"}]})",
                    201),
      "id");
  const std::string atz = StringField(
      testing::Call(*http_, "POST", "/v1/authorizations", token,
                    R"({"mandate":")" + mandate +
                        R"(","payee":{"type":"domain","value":"shop.example"},"amount":"300","asset":"USD"})",
                    201, "authorize-1"),
      "id");
  const json::Value closed = testing::Call(
      *http_, "POST", "/v1/ap2/close", token,
      R"({"mandate":")" + open + R"(","authorization":")" + atz +
          R"(","aud":"did:web:shop.example","nonce":"n-1","closed":{"vct":"mandate.payment.1",)"
          R"("transaction_id":"c-1","payee":{"id":"shop.example","name":"Shop"},)"
          R"("payment_amount":{"amount":300,"currency":"USD"},)"
          R"("payment_instrument":{"id":"card-1","type":"card"}}})",
      201, "close-1");
  Ran listed = As(op_, {"ap2", "closings", open});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out, open + "  spent 300  uses 1  last use " + TimeOf(closed, "closed_at") +
                            "\n" + StringField(closed, "id") + "  tx c-1  300 USD to shop.example  " +
                            TimeOf(closed, "closed_at") + "  authorization " + atz + " under " +
                            mandate + "\n");
}

// specs/ap2.md §5.6: anyone holding an open mandate downloads its principal's public AP2 keys and
// status list without a credential and verifies it offline; a revocation shows once the list is
// fetched again; forgeries and wrong keys are refused with their reasons.
TEST_F(CliAp2Test, AnOpenMandateVerifiesOfflineUntilItsRevocationIsFetched) {
  const std::string token_file = Path("open.sdjwt");
  testing::WriteFile(token_file, StringField(open_, "token") + "\n");
  const std::string docs = Path("docs");
  Ran fetched = Exec({"--server", url_, "ap2", "fetch", token_file, "--out", docs});
  ASSERT_EQ(fetched.exit_code, 0) << fetched.err;
  EXPECT_EQ(fetched.out, docs + "/ap2-jwks.json\n" + docs + "/ap2-status-0.jwt\n");
  const int64_t now = SystemClock::Get().NowUnixSeconds();
  auto verify = [&](const std::string& file, std::vector<std::string> extra = {},
                    int64_t at = 0) {
    std::vector<std::string> args = {"ap2", "verify", file, "--jwks", docs + "/ap2-jwks.json",
                                     "--status-list", docs + "/ap2-status-0.jwt", "--at",
                                     std::to_string(at != 0 ? at : now)};
    args.insert(args.end(), extra.begin(), extra.end());
    return Exec(args);  // no server, no credential
  };
  auto first_reason = [](const Ran& r) {
    const json::Value v = testing::ParseOrDie(r.out);
    const json::Value* reasons = v.Find("reasons");
    return reasons != nullptr && !reasons->items().empty()
               ? StringField(reasons->items()[0], "code")
               : std::string();
  };

  Ran valid = verify(token_file);
  ASSERT_EQ(valid.exit_code, 0) << valid.out << valid.err;
  const json::Value verdict = testing::ParseOrDie(valid.out);
  EXPECT_EQ(StringField(verdict, "verdict"), "valid");
  const json::Value* m = verdict.Find("mandate");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(StringField(*m, "id"), StringField(open_, "id"));
  EXPECT_EQ(StringField(*m, "vct"), "mandate.payment.open.1");
  EXPECT_EQ(StringField(*m, "issuer"), principal_);
  EXPECT_EQ(StringField(*m, "kid"), StringField(open_, "key_id"));
  EXPECT_EQ(json::Write(*m->Find("status")), R"({"idx":0,"uri":")" + url_ +
                                                 "/v1/ap2/status-lists/" + principal_ +
                                                 R"(/0","value":0})");
  EXPECT_TRUE(m->Find("status_checked") != nullptr && m->Find("status_checked")->as_bool());
  // Exactly one key set: keys of another set could vouch for a list in this principal's name.
  EXPECT_EQ(verify(token_file, {"--jwks", docs + "/ap2-jwks.json"}).exit_code, 2);

  // Without a list its status cannot be told: invalid, never assumed valid.
  Ran no_list = Exec({"ap2", "verify", token_file, "--jwks", docs + "/ap2-jwks.json", "--at",
                      std::to_string(now)});
  EXPECT_EQ(no_list.exit_code, 1);
  EXPECT_EQ(first_reason(no_list), "status-unavailable");
  // After the list's exp (iat + 1 hour) it is no evidence either.
  Ran stale = verify(token_file, {}, now + 7200);
  EXPECT_EQ(stale.exit_code, 1);
  EXPECT_EQ(first_reason(stale), "status-unavailable") << stale.out;
  // A signature byte changed.
  std::string forged = StringField(open_, "token");
  const size_t sig_end = forged.find('~');
  forged[sig_end - 2] = forged[sig_end - 2] == 'A' ? 'B' : 'A';
  testing::WriteFile(Path("forged.sdjwt"), forged);
  Ran bad = verify(Path("forged.sdjwt"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(first_reason(bad), "bad-signature") << bad.out;
  // Keys that are not the principal's.
  testing::WriteFile(Path("other-jwks.json"),
                     R"({"keys":[{"kty":"EC","crv":"P-256","kid":"key_other",)"
                     R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
                     R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})");
  Ran stranger = Exec({"ap2", "verify", token_file, "--jwks", Path("other-jwks.json"),
                       "--status-list", docs + "/ap2-status-0.jwt", "--at", std::to_string(now)});
  EXPECT_EQ(stranger.exit_code, 1);
  EXPECT_EQ(first_reason(stranger), "ap2-unknown-issuer") << stranger.out;
  // A closed chain is not an open mandate as issued.
  testing::WriteFile(Path("closed.sdjwt"), StringField(Pay(300, "t-offline"), "chain"));
  Ran closed = verify(Path("closed.sdjwt"));
  EXPECT_EQ(closed.exit_code, 1);
  EXPECT_EQ(first_reason(closed), "ap2-chain-shape") << closed.out;
  // A file that does not read is a usage error, not a verdict.
  EXPECT_EQ(verify(Path("missing.sdjwt")).exit_code, 2);

  // The revocation: the list fetched before still says 0; the one fetched after says 1.
  ASSERT_EQ(As(op_, {"ap2", "revoke", StringField(open_, "id")}).exit_code, 0);
  EXPECT_EQ(verify(token_file).exit_code, 0);
  const std::string before = testing::ReadFileOrDie(docs + "/ap2-status-0.jwt");
  testing::WriteFile(Path("before.jwt"), before);
  ASSERT_EQ(Exec({"--server", url_, "ap2", "fetch", token_file, "--out", docs}).exit_code, 0);
  Ran revoked = verify(token_file);
  EXPECT_EQ(revoked.exit_code, 1);
  EXPECT_EQ(first_reason(revoked), "revoked") << revoked.out;
  // Given both, the newer list answers (signed in the same second: the higher status), in
  // either order.
  const std::string after = docs + "/ap2-status-0.jwt";
  for (const auto& [first, second] : {std::pair{after, Path("before.jwt")},
                                      std::pair{Path("before.jwt"), after}}) {
    EXPECT_EQ(first_reason(Exec({"ap2", "verify", token_file, "--jwks", docs + "/ap2-jwks.json",
                                 "--status-list", first, "--status-list", second, "--at",
                                 std::to_string(now)})),
              "revoked");
  }
  // A newer all-valid list under the principal's kid, signed by a key that is not its: no
  // evidence, so the real list still answers.
  Result<signer::Jws> real = signer::ParseJws(testing::ReadFileOrDie(docs + "/ap2-status-0.jwt"));
  ASSERT_TRUE(real.ok());
  Result<json::Value> claims = json::Parse(real->payload);
  ASSERT_TRUE(claims.ok());
  claims->Set("iat", json::Value::Int(claims->Find("iat")->as_int64().value_or(0) + 100));
  claims->Find("status_list")->Set(
      "lst", json::Value::String(*mandates::EncodeStatusList(
                 *mandates::StatusArray::Create(2, 16384))));
  Result<std::string> forged_list = signer::SignJws(
      *signer::GenerateKey(signer::KeyType::kP256, SystemRandom::Get()),
      json::Value::Object()
          .Set("alg", json::Value::String("ES256"))
          .Set("typ", json::Value::String("statuslist+jwt"))
          .Set("kid", json::Value::String(real->kid)),
      json::Write(*claims));
  ASSERT_TRUE(forged_list.ok());
  testing::WriteFile(Path("forged-list.jwt"), *forged_list);
  Ran not_fooled = Exec({"ap2", "verify", token_file, "--jwks", docs + "/ap2-jwks.json",
                         "--status-list", docs + "/ap2-status-0.jwt", "--status-list",
                         Path("forged-list.jwt"), "--at", std::to_string(now + 2)});
  EXPECT_EQ(first_reason(not_fooled), "revoked") << not_fooled.out;
  Ran forged_only = Exec({"ap2", "verify", token_file, "--jwks", docs + "/ap2-jwks.json",
                          "--status-list", Path("forged-list.jwt"), "--at",
                          std::to_string(now + 2)});
  EXPECT_EQ(first_reason(forged_only), "status-unavailable") << forged_only.out;
}

}  // namespace
}  // namespace mandated::cli
