// The real mandatectl binary against the real mandated binary: an agent asks before paying
// (`authorize`: allowed, denied, approval_required, retried with the same idempotency key),
// captures and voids; an approver decides a step-up with evidence signed by its own key; the
// admin reads headroom and authorizations. Exit codes and output are asserted exactly: the
// README's quickstart runs these commands.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <cstdio>
#include <regex>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/json.h"
#include "cli/commands.h"
#include "mandates/credential.h"
#include "tests/support/mandatectl_run.h"
#include "tests/support/test_support.h"

namespace mandated::cli {
namespace {

using testing::FirstWord;
using testing::LineValue;
using testing::Matches;
using testing::ParseOrDie;
using testing::WriteFile;

// Payees: shop.example only. Per payment at most 500.00 USD, 600.00 over the mandate's life;
// a person approves anything above 200.00. Byte for byte the README's paper.json.
constexpr char kTerms[] =
    R"({"scope":{"payees":{"allow":[{"type":"domain","value":"shop.example"}]}},
 "limits":{"per_transaction":[{"asset":"USD","max":"50000"}],
           "lifetime":[{"asset":"USD","max":"60000"}]},
 "step_up":{"above":[{"asset":"USD","amount":"20000"}]}}
)";

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n') + 1); }
// The first instant of next month (UTC): when a principal's monthly ceiling resets.
std::string NextMonthUtc(int64_t now) {
  const time_t t = static_cast<time_t>(now);
  struct tm tm {};
  gmtime_r(&t, &tm);
  const bool december = tm.tm_mon == 11;
  const int year = tm.tm_year + 1900 + (december ? 1 : 0);
  const int month = december ? 1 : tm.tm_mon + 2;  // 1-based
  return std::to_string(year) + (month < 10 ? "-0" : "-") + std::to_string(month) + "-01T00:00:00Z";
}

class CliAuthorizationTest : public testing::MandatectlTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartServerWithPrincipal({"--ceiling", "USD:month:100000"}));

    // The admin: a user and its credential, made with the operator token.
    Ran alice = As(op_, {"users", "create", "--name", "Alice", "--role", "admin"});
    ASSERT_EQ(alice.exit_code, 0) << alice.err;
    Ran cred = As(op_, {"credentials", "create", "--role", "admin", "--user", FirstWord(alice.out),
                       "--name", "alice laptop"});
    ASSERT_EQ(cred.exit_code, 0) << cred.err;
    admin_ = LineValue(cred.out, "token");
    ASSERT_FALSE(admin_.empty()) << cred.out;

    // The approver: a user registered with the did:key of its own key file.
    Ran keygen = Exec({"agent", "keygen", "--out", Path("approver.key")});
    ASSERT_EQ(keygen.exit_code, 0) << keygen.err;
    approver_did_ = LineValue(keygen.out, "did");
    ASSERT_EQ(approver_did_.rfind("did:key:z6Mk", 0), 0u) << keygen.out;
    Ran bob = As(
        admin_, {"users", "create", "--name", "Bob", "--role", "approver", "--did", approver_did_});
    ASSERT_EQ(bob.exit_code, 0) << bob.err;
    approver_user_ = FirstWord(bob.out);
    EXPECT_EQ(bob.out, approver_user_ + "  Bob  approver  active  did " + approver_did_ + "\n");
    Ran bob_cred = As(admin_, {"credentials", "create", "--role", "approver", "--user",
                               approver_user_, "--name", "bob phone"});
    ASSERT_EQ(bob_cred.exit_code, 0) << bob_cred.err;
    approver_ = LineValue(bob_cred.out, "token");

    // The agent, its mandate and its session.
    ASSERT_EQ(Exec({"agent", "keygen", "--out", Path("agent.key")}).exit_code, 0);
    Ran did = Exec({"agent", "did", "--key", Path("agent.key")});
    ASSERT_EQ(did.exit_code, 0) << did.err;
    Ran agent = As(admin_, {"agents", "create", "--name", "Shopping bot", "--did",
                            did.out.substr(0, did.out.size() - 1)});
    ASSERT_EQ(agent.exit_code, 0) << agent.err;
    agent_ = FirstWord(agent.out);
    // As the README: valid from now ($(date -u +%FT%TZ)) for 30 days; the id is the fourth
    // '"'-separated field of the record ({"id":"mnd_...",...}), `cut -d'"' -f4`.
    WriteFile(Path("paper.json"), kTerms);
    const int64_t now = SystemClock::Get().NowUnixSeconds();
    Ran issued =
        As(admin_, {"mandates", "issue", "--agent", agent_, "--valid-from",
                    mandates::FormatRfc3339Utc(now), "--valid-until",
                    mandates::FormatRfc3339Utc(now + 30 * 86400), "--terms", Path("paper.json")});
    ASSERT_EQ(issued.exit_code, 0) << issued.err;
    ASSERT_EQ(issued.out.rfind("{\"id\":\"mnd_", 0), 0u) << issued.out;
    mandate_ = issued.out.substr(7, issued.out.find('"', 7) - 7);
    EXPECT_EQ(mandate_, testing::StringField(ParseOrDie(issued.out), "id"));
    Ran session = Exec({"--server", url_, "session", "open", "--key", Path("agent.key"), "--task",
                        "buy office paper", "--mandate", mandate_});
    ASSERT_EQ(session.exit_code, 0) << session.err;
    session_ = LineValue(session.out, "token");
    ASSERT_EQ(session_.rfind("ses_", 0), 0u) << session.out;
  }

  // As the agent: with --principal given (MandatectlTest::As), a session token still picks the
  // agent's own routes.
  Ran Agent(std::vector<std::string> args) { return As(session_, std::move(args)); }
  Ran Authorize(const std::string& payee, const std::string& amount,
                std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"authorize", "--mandate", mandate_,  "--payee", payee,
                                     "--amount",  amount,      "--asset", "USD"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Agent(args);
  }
  // The authorization as JSON (the admin's view).
  json::Value Get(const std::string& id) {
    Ran r = As(admin_, {"--json", "authorizations", "get", id});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ParseOrDie(r.out);
  }

  std::string admin_, approver_, approver_user_, approver_did_, agent_, mandate_, session_;
};

TEST_F(CliAuthorizationTest, EveryAuthorizationCommandHasHelp) {
  for (const std::vector<std::string>& cmd :
       std::vector<std::vector<std::string>>{{"authorize"},
                                             {"authorizations", "get"},
                                             {"authorizations", "list"},
                                             {"capture"},
                                             {"void"},
                                             {"approvals", "list"},
                                             {"approvals", "get"},
                                             {"approvals", "approve"},
                                             {"approvals", "deny"},
                                             {"headroom"}}) {
    std::vector<std::string> args = cmd;
    args.push_back("--help");
    Ran o = Exec(args);
    EXPECT_EQ(o.exit_code, 0) << cmd[0];
    std::string name = cmd[0] + (cmd.size() > 1 ? " " + cmd[1] : "");
    EXPECT_EQ(o.out.rfind("Usage: mandatectl " + name + " ", 0), 0u) << o.out;
  }
  EXPECT_NE(Exec({"authorize", "--help"}).out.find("4 approval_required"), std::string::npos);
  // Every state the server filters on, `withdrawn` included.
  EXPECT_EQ(Exec({"approvals", "list", "--help"}).out.rfind(
                "Usage: mandatectl approvals list "
                "[--state pending|approved|denied|expired|withdrawn] [--after ID] [--limit N]\n",
                0),
            0u);
  EXPECT_NE(Exec({"users", "create", "--help"}).out.find("[--did DID]"), std::string::npos);
  Ran top = Exec({"--help"});
  EXPECT_NE(top.out.find("  headroom [--mandate ID | --agent ID]\n"), std::string::npos);
  EXPECT_NE(top.out.find("4 `authorize` needs a person's approval"), std::string::npos);
}

// The whole quickstart: allowed, denied, a retry, capture, void, headroom, then a step-up that
// an approver approves with signed evidence.
TEST_F(CliAuthorizationTest, AgentAsksCapturesVoidsAndAnApproverStepsUp) {
  // Allowed: one line, exit 0; the generated idempotency key is printed for a retry.
  Ran allowed = Authorize("domain:shop.example", "3000");
  ASSERT_EQ(allowed.exit_code, 0) << allowed.err;
  const std::string paper = FirstWord(allowed.out);
  json::Value record = Get(paper);
  const json::Value& rsv = *record.Find("reservation");
  const int64_t expires = rsv.Find("expires_at")->as_int64().value_or(0);
  EXPECT_EQ(expires - record.Find("created_at")->as_int64().value_or(0), 600);  // the TTL
  EXPECT_EQ(allowed.out, paper + "  allowed  3000 USD  reservation " +
                             testing::StringField(rsv, "id") + " until " +
                             mandates::FormatRfc3339Utc(expires) + "\n");
  EXPECT_TRUE(Matches(allowed.out,
                      "atz_[a-z0-9]+  allowed  3000 USD  reservation rsv_[a-z0-9]+ "
                      "until [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\n"))
      << allowed.out;
  const std::string key = LineValue(allowed.err, "idempotency key");
  EXPECT_EQ(allowed.err, "idempotency key: " + key.substr(0, key.find(' ')) +
                             " (retry with --idempotency-key " + key.substr(0, key.find(' ')) +
                             ")\n");
  EXPECT_FALSE(testing::StringField(record, "receipt").empty());

  // Denied: exit 1, every reason code on the line, the details on stderr; nothing is held.
  Ran denied = Authorize("domain:evil.example", "60000");
  EXPECT_EQ(denied.exit_code, 1) << denied.err;
  EXPECT_TRUE(Matches(denied.out,
                      "atz_[a-z0-9]+  denied: payee-not-allowed, "
                      "amount-above-maximum\n"))
      << denied.out;
  EXPECT_NE(denied.err.find("\n  payee-not-allowed: "), std::string::npos) << denied.err;
  EXPECT_NE(denied.err.find("\n  amount-above-maximum: "), std::string::npos) << denied.err;
  Ran denied_json = Authorize("domain:evil.example", "60000", {"--json"});
  EXPECT_EQ(denied_json.exit_code, 1);
  EXPECT_EQ(testing::StringField(ParseOrDie(denied_json.out), "decision"), "denied");

  // The same idempotency key again: the first answer, the same id; another body is refused.
  Ran first = Authorize("domain:shop.example", "1000", {"--idempotency-key", "order-42"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.err, "");
  const std::string toner = FirstWord(first.out);
  Ran again = Authorize("domain:shop.example", "1000", {"--idempotency-key", "order-42"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_EQ(again.out, first.out);
  EXPECT_EQ(again.err, "replayed: the first answer to idempotency key order-42\n");
  Ran reused = Authorize("domain:shop.example", "1001", {"--idempotency-key", "order-42"});
  EXPECT_EQ(reused.exit_code, 1);
  EXPECT_NE(reused.err.find("error 422 (urn:mandated:problem:idempotency-key-reused)"),
            std::string::npos)
      << reused.err;

  // Capture less than reserved (the rest is released); once only. Void the other.
  const std::string rsv_id = testing::StringField(rsv, "id");
  Ran captured = Agent({"capture", paper, "--amount", "2500", "--idempotency-key", "cap-1"});
  ASSERT_EQ(captured.exit_code, 0) << captured.err;
  EXPECT_EQ(captured.out,
            paper + "  allowed  3000 USD  reservation " + rsv_id + " captured 2500\n");
  Ran recaptured = Agent({"capture", paper, "--amount", "2500"});
  EXPECT_EQ(recaptured.exit_code, 1);
  EXPECT_NE(recaptured.err.find("error 409 (urn:mandated:problem:reservation-state)"),
            std::string::npos)
      << recaptured.err;
  Ran voided = Agent({"void", toner});
  ASSERT_EQ(voided.exit_code, 0) << voided.err;
  EXPECT_TRUE(
      Matches(voided.out, toner + "  allowed  1000 USD  reservation rsv_[a-z0-9]+ voided\n"))
      << voided.out;

  // Headroom: exactly the captured 25.00 spent, for the admin and the agent alike.
  const std::string owner = "mandate:" + mandate_ + ":lifetime";
  const std::string month = "principal:" + principal_ + ":month";
  const std::string pad(owner.size() - month.size(), ' ');
  const std::string resets = NextMonthUtc(SystemClock::Get().NowUnixSeconds());
  const std::string table =
      "mandate " + mandate_ + "  valid\n" + "COUNTER" + std::string(owner.size() - 7, ' ') +
      "  ASSET  SPENT  MAX     REMAINING  RESETS AT\n" + owner +
      "  USD    2500   60000   57500      -\n" + month + pad +
      "  USD    2500   100000  97500      " + resets + "\n" + "uses " + mandate_ + "  1\n";
  Ran headroom = As(admin_, {"headroom", "--mandate", mandate_});
  ASSERT_EQ(headroom.exit_code, 0) << headroom.err;
  EXPECT_EQ(headroom.out, table);
  EXPECT_EQ(Agent({"headroom", "--mandate", mandate_}).out, table);
  // An agent's: its and the principal's ceilings first (this agent has none of its own).
  const std::string ceilings = "agent " + agent_ + "  ceilings\n" + "COUNTER" +
                               std::string(month.size() - 7, ' ') +
                               "  ASSET  SPENT  MAX     REMAINING  RESETS AT\n" + month +
                               "  USD    2500   100000  97500      " + resets + "\n";
  EXPECT_EQ(As(admin_, {"headroom", "--agent", agent_}).out, ceilings + "\n" + table);
  // The agent's own: the same ceilings, its session named, no mandates.
  Ran own = Agent({"headroom"});
  ASSERT_EQ(own.exit_code, 0) << own.err;
  EXPECT_TRUE(Matches(own.out, "agent " + agent_ + "  session ses_[a-z0-9]+  ceilings\n" +
                                   ceilings.substr(ceilings.find('\n') + 1)))
      << own.out;

  // Above 200.00: held while a person decides (exit 4).
  Ran stepped = Authorize("domain:shop.example", "30000");
  ASSERT_EQ(stepped.exit_code, 4) << stepped.err;
  const std::string chair = FirstWord(stepped.out);
  json::Value held = Get(chair);
  const std::string approval = testing::StringField(*held.Find("approval"), "id");
  const int64_t approval_expires =
      held.Find("approval")->Find("expires_at")->as_int64().value_or(0);
  EXPECT_EQ(stepped.out, chair + "  approval_required  30000 USD  approval " + approval +
                             " until " + mandates::FormatRfc3339Utc(approval_expires) + "\n");
  EXPECT_EQ(approval_expires - held.Find("created_at")->as_int64().value_or(0), 900);
  EXPECT_EQ(Agent({"authorizations", "get", chair}).out, stepped.out);

  Ran pending = As(approver_, {"approvals", "list", "--state", "pending"});
  ASSERT_EQ(pending.exit_code, 0) << pending.err;
  EXPECT_EQ(pending.out, approval + "  pending  " + chair + "  agent " + agent_ +
                             "  30000 USD to domain:shop.example  expires " +
                             mandates::FormatRfc3339Utc(approval_expires) + "\n");
  EXPECT_EQ(FirstLine(As(approver_, {"approvals", "get", approval}).out), pending.out);

  // Evidence signed by a key that is not the approver's registered DID is refused.
  Ran wrong = As(approver_, {"approvals", "approve", approval, "--key", Path("agent.key")});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("error 400 (urn:mandated:problem:bad-evidence)"), std::string::npos)
      << wrong.err;

  Ran approved = As(approver_, {"approvals", "approve", approval, "--key", Path("approver.key"),
                                "--note", "Q3 paper"});
  ASSERT_EQ(approved.exit_code, 0) << approved.err;
  EXPECT_EQ(FirstLine(approved.out), approval + "  approved  " + chair + "  agent " + agent_ +
                                         "  30000 USD to domain:shop.example  by " +
                                         approver_user_ + "  evidence " + approver_did_ +
                                         "  note \"Q3 paper\"\n");
  json::Value after = Get(chair);
  const json::Value& after_rsv = *after.Find("reservation");
  const std::string allowed_line =
      chair + "  allowed  30000 USD  reservation " + testing::StringField(after_rsv, "id") +
      " until " + mandates::FormatRfc3339Utc(after_rsv.Find("expires_at")->as_int64().value_or(0)) +
      "\n";
  EXPECT_EQ(approved.out.substr(FirstLine(approved.out).size()), allowed_line);

  // The authorization is now allowed, with a receipt (authz+jwt) for this authorization.
  for (const std::string& token : {admin_, session_}) {
    Ran got = As(token, {"authorizations", "get", chair});
    ASSERT_EQ(got.exit_code, 0) << got.err;
    EXPECT_EQ(FirstLine(got.out), allowed_line);
    const std::string receipt = LineValue(got.out, "receipt");
    EXPECT_EQ(receipt, testing::StringField(after, "receipt"));
    EXPECT_EQ(got.out, allowed_line + "receipt: " + receipt + "\n");
    Result<Bytes> header = Base64UrlDecode(receipt.substr(0, receipt.find('.')));
    ASSERT_TRUE(header.ok()) << receipt;
    EXPECT_EQ(testing::StringField(ParseOrDie(std::string(header->begin(), header->end())), "typ"),
              "authz+jwt");
    const size_t dot = receipt.find('.');
    Result<Bytes> payload = Base64UrlDecode(receipt.substr(dot + 1, receipt.rfind('.') - dot - 1));
    ASSERT_TRUE(payload.ok()) << receipt;
    EXPECT_EQ(
        testing::StringField(ParseOrDie(std::string(payload->begin(), payload->end())), "jti"),
        "urn:mandated:authorization:" + chair);
  }
  EXPECT_EQ(As(approver_, {"approvals", "list", "--state", "pending"}).out, "no approvals\n");
  Ran decided_again = As(approver_, {"approvals", "deny", approval});
  EXPECT_EQ(decided_again.exit_code, 1);
  EXPECT_NE(decided_again.err.find("(urn:mandated:problem:approval-state)"), std::string::npos)
      << decided_again.err;

  // The admin's (compliance) view: every decision of the mandate; 325.00 now counted.
  Ran listed = As(admin_, {"authorizations", "list", "--mandate", mandate_});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  for (const std::string& id : {paper, toner, chair, FirstWord(denied.out)}) {
    EXPECT_NE(listed.out.find(id + "  "), std::string::npos) << id << "\n" << listed.out;
  }
  EXPECT_EQ(std::count(listed.out.begin(), listed.out.end(), '\n'), 5) << listed.out;
  EXPECT_EQ(As(admin_, {"authorizations", "list", "--agent", "agt_nobody"}).out,
            "no authorizations\n");
  const std::string final_headroom = As(admin_, {"headroom", "--mandate", mandate_}).out;
  EXPECT_NE(final_headroom.find(owner + "  USD    32500  60000   27500      -\n"),
            std::string::npos)
      << final_headroom;
  EXPECT_NE(final_headroom.find("\nuses " + mandate_ + "  2\n"), std::string::npos)
      << final_headroom;
}

TEST_F(CliAuthorizationTest, DenyingReleasesTheHold) {
  Ran stepped = Authorize("domain:shop.example", "25000");
  ASSERT_EQ(stepped.exit_code, 4) << stepped.err;
  const std::string id = FirstWord(stepped.out);
  const std::string approval = FirstWord(As(approver_, {"approvals", "list"}).out);
  Ran denied = As(approver_, {"approvals", "deny", approval, "--key", Path("approver.key")});
  ASSERT_EQ(denied.exit_code, 0) << denied.err;
  EXPECT_NE(denied.out.find("  denied  " + id), std::string::npos) << denied.out;
  EXPECT_NE(denied.out.find("\n" + id + "  denied: approval-denied\n"), std::string::npos)
      << denied.out;
  Ran got = Agent({"authorizations", "get", id});
  EXPECT_EQ(got.out, id + "  denied: approval-denied\n  approval-denied: denied by an approver\n");
  EXPECT_NE(As(admin_, {"headroom", "--mandate", mandate_})
                .out.find("mandate:" + mandate_ + ":lifetime  USD    0      60000   60000"),
            std::string::npos);
}

TEST_F(CliAuthorizationTest, UsageErrorsRefusalsAndUnreachableServers) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"authorize", "--mandate", mandate_},
           {"authorize", "--mandate", mandate_, "--payee", "shop.example", "--amount", "1",
            "--asset", "USD"},
           {"authorize", "--mandate", mandate_, "--payee", "domain:shop.example", "--amount", "1",
            "--asset", "USD", "--idempotency-key", ""},
           {"authorizations", "get"},
           {"capture"},
           {"void", "a", "b"},
           {"headroom"},
           {"headroom", "--mandate", mandate_, "--agent", agent_},
           {"approvals", "approve", "apr_x", "--key", Path("missing.key")}}) {
    Ran o = As(approver_, args);
    EXPECT_EQ(o.exit_code, 2) << args.back() << ": " << o.err << o.out;
    EXPECT_EQ(o.out, "");
  }
  // The principal's routes need the principal.
  Ran no_principal = Exec({"--server", url_, "--token", admin_, "authorizations", "get", "atz_x"});
  EXPECT_EQ(no_principal.exit_code, 2);
  EXPECT_NE(no_principal.err.find("MANDATED_PRINCIPAL"), std::string::npos);
  // An approver may not authorize; an unknown authorization is 404; no server is exit 3.
  Ran refused = As(approver_, {"authorize", "--mandate", mandate_, "--payee", "domain:shop.example",
                               "--amount", "1", "--asset", "USD"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("error 403"), std::string::npos) << refused.err;
  Ran missing = Agent({"authorizations", "get", "atz_nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("error 404 (urn:mandated:problem:authorization-not-found)"),
            std::string::npos)
      << missing.err;
  Ran down = Exec({"--server", "http://127.0.0.1:1", "--token", session_, "authorize", "--mandate",
                   mandate_, "--payee", "domain:shop.example", "--amount", "1", "--asset", "USD"});
  EXPECT_EQ(down.exit_code, 3);
  EXPECT_NE(down.err.find("no answer from http://127.0.0.1:1"), std::string::npos) << down.err;
}

// The approver's signature attests to what was shown: a server answering an approval whose
// shown_sha256 is not the hash of its `shown` gets no signature and no decision.
TEST(CliApprovalEvidenceTest, AShownHashThatDoesNotMatchWhatIsShownIsNotSigned) {
  testing::TempDir dir;
  httplib::Server fake;
  std::atomic<int> decisions{0};
  fake.Get("/.well-known/did.json", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"id":"did:web:fake.example"})", "application/json");
  });
  fake.Get("/v1/principals/prn_x/approvals/apr_1", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"id":"apr_1","state":"pending","shown":{"amount":"100"},)"
                    R"("shown_sha256":")" + std::string(64, '0') + R"("})",
                    "application/json");
  });
  fake.Post(R"(/v1/principals/prn_x/approvals/apr_1/.*)",
            [&](const httplib::Request&, httplib::Response& res) {
              ++decisions;
              res.set_content("{}", "application/json");
            });
  const int port = fake.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { fake.listen_after_bind(); });
  const std::string key = dir.Sub("approver.key");
  ASSERT_EQ(RunCommand({"agent", "keygen", "--out", key}).exit_code, 0);
  Output o = RunCommand({"--server", "http://127.0.0.1:" + std::to_string(port), "--token",
                         "crd_x", "--principal", "prn_x", "approvals", "approve", "apr_1",
                         "--key", key});
  fake.stop();
  serving.join();
  EXPECT_EQ(o.exit_code, 1) << o.err;
  EXPECT_NE(o.err.find("not the hash of what it shows"), std::string::npos) << o.err;
  EXPECT_EQ(decisions.load(), 0);
}

}  // namespace
}  // namespace mandated::cli
