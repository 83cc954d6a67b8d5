// The real mandatectl binary against the real mandated binary: an auditor reads a principal's
// trail in sequence order, exports bundles and verifies them offline (`audit verify`, no server)
// with the key `audit key` prints; altered, shortened, reordered bundles and forged earlier
// checkpoints are caught and named; a bundle checked only under its own key is not "verified"
// (exit 5); usage errors exit 2; an auditor sees no other principal.
// Exit codes and output are asserted exactly: the README's compliance quickstart runs these.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/merkle.h"
#include "base/bytes.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/random.h"
#include "cli/commands.h"
#include "mandates/credential.h"
#include "signer/signature.h"
#include "tests/support/mandatectl_run.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated::cli {
namespace {

using testing::FirstWord;
using testing::LineValue;
using testing::Matches;
using testing::ParseOrDie;
using testing::WriteFile;

// Payees: shop.example only; at most 500.00 USD a payment.
constexpr char kTerms[] =
    R"({"scope":{"payees":{"allow":[{"type":"domain","value":"shop.example"}]}},)"
    R"("limits":{"per_transaction":[{"asset":"USD","max":"50000"}]}})";

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The lines of `text` without their "\n" (a final newline ends the last line).
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}
std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

// Sets an environment variable for one scope and then restores it. Thread safety: test thread.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = getenv(name)) {
      old_ = old;
    }
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_.has_value()) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

class CliAuditTest : public testing::MandatectlTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartServerWithPrincipal());

    // The admin and the auditor: users and credentials, made with the operator token.
    Ran alice = As(op_, {"users", "create", "--name", "Alice", "--role", "admin"});
    ASSERT_EQ(alice.exit_code, 0) << alice.err;
    Ran admin = As(op_, {"credentials", "create", "--role", "admin", "--user",
                         FirstWord(alice.out), "--name", "alice laptop"});
    ASSERT_EQ(admin.exit_code, 0) << admin.err;
    admin_ = LineValue(admin.out, "token");
    Ran carol = As(op_, {"users", "create", "--name", "Carol", "--role", "auditor"});
    ASSERT_EQ(carol.exit_code, 0) << carol.err;
    Ran auditor = As(op_, {"credentials", "create", "--role", "auditor", "--user",
                           FirstWord(carol.out), "--name", "compliance"});
    ASSERT_EQ(auditor.exit_code, 0) << auditor.err;
    auditor_ = LineValue(auditor.out, "token");
    ASSERT_EQ(auditor_.rfind("crd_", 0), 0u) << auditor.out;

    // The agent, its mandate and its session.
    ASSERT_EQ(Exec({"agent", "keygen", "--out", Path("agent.key")}).exit_code, 0);
    Ran did = Exec({"agent", "did", "--key", Path("agent.key")});
    ASSERT_EQ(did.exit_code, 0) << did.err;
    Ran agent = As(admin_, {"agents", "create", "--name", "Shopping bot", "--did",
                            did.out.substr(0, did.out.size() - 1)});
    ASSERT_EQ(agent.exit_code, 0) << agent.err;
    agent_ = FirstWord(agent.out);
    WriteFile(Path("terms.json"), kTerms);
    const int64_t now = SystemClock::Get().NowUnixSeconds();
    Ran issued =
        As(admin_, {"mandates", "issue", "--agent", agent_, "--valid-from",
                    mandates::FormatRfc3339Utc(now - 60), "--valid-until",
                    mandates::FormatRfc3339Utc(now + 30 * 86400), "--terms", Path("terms.json")});
    ASSERT_EQ(issued.exit_code, 0) << issued.err;
    mandate_ = testing::StringField(ParseOrDie(issued.out), "id");
    ASSERT_EQ(mandate_.rfind("mnd_", 0), 0u) << issued.out;
    Ran session = Exec({"--server", url_, "session", "open", "--key", Path("agent.key"), "--task",
                        "buy office paper", "--mandate", mandate_});
    ASSERT_EQ(session.exit_code, 0) << session.err;
    session_ = LineValue(session.out, "token");
    ASSERT_EQ(session_.rfind("ses_", 0), 0u) << session.out;
    session_id_ = FirstWord(session.out);

    Ran key = As(auditor_, {"audit", "key"});
    ASSERT_EQ(key.exit_code, 0) << key.err;
    vkey_ = key.out.substr(0, key.out.size() - 1);
  }

  // Offline: no server, no token.
  Ran Verify(std::vector<std::string> args) {
    args.insert(args.begin(), {"audit", "verify"});
    return Exec(args);
  }
  // Exports the whole log (the operator's) to `name` and returns its lines.
  std::vector<std::string> ExportAll(const std::string& name) {
    Ran r = Exec({"--server", url_, "--token", op_, "audit", "export", "-o", Path(name)});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> lines = Lines(testing::ReadFileOrDie(Path(name)));
    EXPECT_EQ(r.out, "wrote " + Path(name) + ": " + std::to_string(lines.size() - 1) +
                         " events, checkpoint size " + std::to_string(lines.size() - 1) + "\n");
    return lines;
  }
  // The summary `audit verify --key` prints for a whole-log bundle of `lines`.
  std::string WholeSummary(const std::vector<std::string>& lines) {
    json::Value header = ParseOrDie(lines[0]);
    const std::string size = std::to_string(lines.size() - 1);
    return "origin: 127.0.0.1:" + std::to_string(server_->port()) + "/audit\nsize: " + size +
           "\nroot: " + testing::StringField(header, "root") + "\nevents: " + size +
           " (the whole log: the root is recomputed from them)\nkey: trusted (--key)\n";
  }

  std::string admin_, auditor_, agent_, mandate_, session_, session_id_, vkey_;
};

TEST_F(CliAuditTest, EveryAuditCommandHasHelp) {
  for (const char* verb : {"trail", "export", "verify", "checkpoint", "key"}) {
    Ran o = Exec({"audit", verb, "--help"});
    EXPECT_EQ(o.exit_code, 0) << verb;
    EXPECT_EQ(o.out.rfind(std::string("Usage: mandatectl audit ") + verb, 0), 0u) << o.out;
  }
  EXPECT_TRUE(Has(Exec({"audit", "verify", "--help"}).out, "exit 0 verified, 1 not verified"));
  Ran top = Exec({"--help"});
  EXPECT_TRUE(Has(top.out, "  audit verify BUNDLE [--key VKEY | --key-file FILE | "
                           "--trust-bundle-key] [--checkpoint NOTE_FILE]... [--earlier-key VKEY]...\n"))
      << top.out;
  EXPECT_TRUE(Has(top.out, "  audit trail --authorization ID | --mandate ID | --agent ID | "
                           "--principal ID [--from T] [--to T]\n"));
  EXPECT_TRUE(Has(top.out, "for `audit verify`, a bundle that does not verify"));
  // Any audit reader may publish a checkpoint (the route needs audit: read).
  EXPECT_TRUE(Has(Exec({"audit", "checkpoint", "--help"}).out,
                  "(POST /v1/audit/checkpoints, auditor or operator)\n"));
  EXPECT_TRUE(Has(Exec({"audit", "export", "--help"}).out,
                  "MANDATED_PRINCIPAL selects nothing here, --principal does"));
}

// MANDATED_PRINCIPAL, exported for every other command (the README's quickstart), selects no
// audit trail: only --principal on the command line does. With only the variable set, the
// operator's `audit export` is the whole log, and an auditor's is refused as such.
TEST_F(CliAuditTest, EnvironmentPrincipalSelectsNoTrail) {
  ScopedEnv env("MANDATED_PRINCIPAL", principal_);
  Output exported = RunCommand(
      {"--server", url_, "--token", op_, "audit", "export", "-o", Path("env.ndjson")});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const std::vector<std::string> lines = Lines(testing::ReadFileOrDie(Path("env.ndjson")));
  EXPECT_EQ(exported.out, "wrote " + Path("env.ndjson") + ": " +
                              std::to_string(lines.size() - 1) + " events, checkpoint size " +
                              std::to_string(lines.size() - 1) + "\n");
  Ran whole = Verify({Path("env.ndjson"), "--key", vkey_});
  EXPECT_EQ(whole.exit_code, 0) << whole.out;
  EXPECT_EQ(whole.out, WholeSummary(lines) + "verified\n");
  EXPECT_EQ(lines.size(), ExportAll("all.ndjson").size());

  // --principal itself still selects the principal's trail, with a proof for each event.
  Output mine = RunCommand({"--server", url_, "--token", op_, "--principal", principal_, "audit",
                            "export", "-o", Path("mine.ndjson")});
  ASSERT_EQ(mine.exit_code, 0) << mine.err;
  Ran proofs = Verify({Path("mine.ndjson"), "--key", vkey_});
  EXPECT_EQ(proofs.exit_code, 0) << proofs.out;
  EXPECT_EQ(LineValue(proofs.out, "events"),
            std::to_string(Lines(testing::ReadFileOrDie(Path("mine.ndjson"))).size() - 1) +
                " (each with an inclusion proof)");

  // The auditor asked for the whole log, which is the operator's: refused.
  Output auditor = RunCommand(
      {"--server", url_, "--token", auditor_, "audit", "export", "-o", Path("auditor.ndjson")});
  EXPECT_EQ(auditor.exit_code, 1);
  EXPECT_TRUE(Has(auditor.err, "error 400 (urn:mandated:problem:audit-query-invalid)"))
      << auditor.err;
  // A trail needs a selector, and the variable is not one.
  Output trail = RunCommand({"--server", url_, "--token", auditor_, "audit", "trail"});
  EXPECT_EQ(trail.exit_code, 2);
  EXPECT_EQ(trail.err,
            "mandatectl audit trail: give one of --authorization ID, --mandate ID, --agent ID or "
            "--principal ID (MANDATED_PRINCIPAL does not select a trail)\n");
  Output bounded = RunCommand({"--server", url_, "--token", auditor_, "audit", "trail", "--from",
                               "2026-01-01T00:00:00Z"});
  EXPECT_EQ(bounded.exit_code, 2);
  EXPECT_EQ(bounded.err,
            "mandatectl audit trail: --from and --to bound a --principal trail only\n");
}

TEST_F(CliAuditTest, KeyAndCheckpoint) {
  const std::string origin = "127.0.0.1:" + std::to_string(server_->port()) + "/audit";
  EXPECT_TRUE(Matches(vkey_, std::regex_replace(origin, std::regex("\\."), "\\.") +
                                 "\\+[0-9a-f]{8}\\+[A-Za-z0-9+/]{44}")) << vkey_;
  EXPECT_EQ(As(op_, {"audit", "key"}).out, vkey_ + "\n");
  EXPECT_EQ(As(op_, {"audit", "key", "--earlier"}).out, "");  // never rotated
  Ran json = As(auditor_, {"--json", "audit", "key"});
  EXPECT_EQ(testing::StringField(ParseOrDie(json.out), "verifier_key"), vkey_);

  // The signed note, exactly: origin, size, root, a blank line, one signature line.
  Ran note = As(auditor_, {"audit", "checkpoint"});
  ASSERT_EQ(note.exit_code, 0) << note.err;
  EXPECT_TRUE(Matches(note.out, std::regex_replace(origin, std::regex("\\."), "\\.") +
                                    "\n[1-9][0-9]*\n[A-Za-z0-9+/]{43}=\n\n\xE2\x80\x94 [^ ]+ "
                                    "[A-Za-z0-9+/]+=*\n"))
      << note.out;
  Ran saved = As(auditor_, {"audit", "checkpoint", "-o", Path("cp.note")});
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  EXPECT_EQ(testing::ReadFileOrDie(Path("cp.note")), note.out);
  json::Value cp = ParseOrDie(As(auditor_, {"--json", "audit", "checkpoint"}).out);
  EXPECT_EQ(saved.out, "wrote " + Path("cp.note") + ": checkpoint size " +
                           json::Write(*cp.Find("size")) + ", root " +
                           testing::StringField(cp, "root") + "\n");
  EXPECT_EQ(testing::StringField(cp, "note"), note.out);

  // --new publishes a checkpoint of the current tree: one more event, one larger size.
  ASSERT_EQ(As(admin_, {"agents", "suspend", agent_}).exit_code, 0);
  Ran fresh = As(op_, {"--json", "audit", "checkpoint", "--new"});
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_GT(ParseOrDie(fresh.out).Find("size")->as_uint64().value_or(0),
            cp.Find("size")->as_uint64().value_or(0));
}

TEST_F(CliAuditTest, TrailShowsThePrincipalsEventsInSequenceOrder) {
  Ran raw = As(auditor_, {"--json", "audit", "trail", "--principal", principal_});
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  const json::Value items = *ParseOrDie(raw.out).Find("items");
  Ran trail = As(auditor_, {"audit", "trail", "--principal", principal_});
  ASSERT_EQ(trail.exit_code, 0) << trail.err;
  const std::vector<std::string> lines = Lines(trail.out);
  ASSERT_EQ(lines.size(), items.items().size()) << trail.out;

  // One line per event, in strictly ascending seq: "#seq  at  type  actor  ...".
  std::vector<std::string> types;
  int64_t previous = -1;
  for (size_t i = 0; i < lines.size(); ++i) {
    const json::Value& item = items.items()[i];
    const int64_t seq = item.Find("seq")->as_int64().value_or(-1);
    EXPECT_GT(seq, previous) << trail.out;
    previous = seq;
    json::Value e = ParseOrDie(testing::StringField(item, "event"));
    EXPECT_EQ(testing::StringField(e, "principal"), principal_);
    EXPECT_EQ(lines[i].rfind("#" + std::to_string(seq) + "  " + testing::StringField(e, "at") +
                                 "  " + testing::StringField(e, "type") + "  ",
                             0),
              0u)
        << lines[i];
    types.push_back(testing::StringField(e, "type"));
  }
  // Who did what, as the setup did it.
  ASSERT_GE(lines.size(), 7u) << trail.out;
  EXPECT_TRUE(Matches(lines[0], "#[0-9]+  [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{6}Z  "
                                "principal\\.created  operator  " + principal_ + "  \"Acme\""))
      << lines[0];
  EXPECT_TRUE(Matches(lines[1], "#[0-9]+  [^ ]+  user\\.created  operator  usr_[a-z0-9]+  "
                                "\"Alice\" roles \\[\"admin\"\\] active"))
      << lines[1];
  const std::vector<std::string> expected = {"principal.created", "user.created",
                                             "credential.created", "user.created",
                                             "credential.created", "agent.created",
                                             "mandate.issued", "session.opened"};
  size_t found = 0;
  for (const std::string& t : types) {
    if (found < expected.size() && t == expected[found]) ++found;
  }
  EXPECT_EQ(found, expected.size()) << trail.out;
  for (const std::string& line : lines) {
    if (Has(line, "  agent.created  ")) {
      EXPECT_TRUE(Matches(line, "#[0-9]+  [^ ]+  agent\\.created  crd_[a-z0-9]+\\(admin\\)  " +
                                    agent_ + "  \"Shopping bot\" active"))
          << line;
    }
    if (Has(line, "  mandate.issued  ")) {
      EXPECT_TRUE(Matches(line, "#[0-9]+  [^ ]+  mandate\\.issued  crd_[a-z0-9]+\\(admin\\)  " +
                                    mandate_ + " " + agent_ + "  .*active"))
          << line;
    }
  }

  // The agent's trail is part of it; --from after everything leaves nothing.
  Ran agent = As(auditor_, {"audit", "trail", "--agent", agent_});
  ASSERT_EQ(agent.exit_code, 0) << agent.err;
  for (const std::string& line : Lines(agent.out)) {
    EXPECT_TRUE(Has(trail.out, line + "\n")) << line;
    EXPECT_TRUE(Has(line, agent_)) << line;
  }
  Ran later = As(auditor_, {"audit", "trail", "--principal", principal_, "--from",
                            std::to_string(SystemClock::Get().NowUnixSeconds() + 3600)});
  EXPECT_EQ(later.exit_code, 0) << later.err;
  EXPECT_EQ(later.out, "no audit events\n");
}

TEST_F(CliAuditTest, PurchaseTrailOfAnAuthorization) {
  Ran allowed = As(session_, {"authorize", "--mandate", mandate_, "--payee",
                              "domain:shop.example", "--amount", "3000", "--asset", "USD"});
  ASSERT_EQ(allowed.exit_code, 0) << allowed.err;
  const std::string atz = FirstWord(allowed.out);
  ASSERT_EQ(As(session_, {"capture", atz, "--amount", "2500"}).exit_code, 0);
  Ran trail = As(auditor_, {"audit", "trail", "--authorization", atz});
  ASSERT_EQ(trail.exit_code, 0) << trail.err;

  // The purchase: the agent's creation, the mandate's issuance, the session's opening, then the
  // decision and the capture by the session (the actor, so not repeated among the subjects).
  const std::vector<std::string> lines = Lines(trail.out);
  ASSERT_EQ(lines.size(), 5u) << trail.out;
  const std::string at = "#[0-9]+  [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{6}Z  ";
  const std::string admin = "  crd_[a-z0-9]+\\(admin\\)  ";
  EXPECT_TRUE(
      Matches(lines[0], at + "agent\\.created" + admin + agent_ + "  \"Shopping bot\" active"))
      << trail.out;
  EXPECT_TRUE(
      Matches(lines[1], at + "mandate\\.issued" + admin + mandate_ + " " + agent_ + "  active"))
      << trail.out;
  // The agent opened its session by assertion: the session is the actor (specs/audit.md §1.2).
  EXPECT_TRUE(Matches(lines[2], at + "session\\.opened  " + session_id_ + "  " + agent_ +
                                    "  active"))
      << trail.out;
  const std::string subjects = "  " + session_id_ + "  " + atz + " " + mandate_ + " " + agent_;
  EXPECT_TRUE(Matches(lines[3], at + "authorization\\.decided" + subjects +
                                    "  allowed 3000 USD to domain:shop\\.example reservation "
                                    "reserved"))
      << trail.out;
  EXPECT_TRUE(Matches(lines[4], at + "authorization\\.captured" + subjects +
                                    "  allowed 3000 USD to domain:shop\\.example reservation "
                                    "captured 2500"))
      << trail.out;

  // Its bundle verifies with a proof for each event.
  Ran exported = As(auditor_, {"audit", "export", "--authorization", atz, "-o", Path("t.ndjson")});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_TRUE(Matches(exported.out, "wrote " + Path("t.ndjson") +
                                        ": 5 events, checkpoint size [0-9]+\n"))
      << exported.out;
  Ran ok = Verify({Path("t.ndjson"), "--key", vkey_});
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_EQ(LineValue(ok.out, "events"), "5 (each with an inclusion proof)");
  EXPECT_EQ(ok.out.substr(ok.out.size() - 9), "verified\n");
}

TEST_F(CliAuditTest, ExportedLogVerifiesAndEveryAlterationIsNamed) {
  const std::vector<std::string> lines = ExportAll("log.ndjson");
  ASSERT_GE(lines.size(), 8u);
  const std::string bundle = Joined(lines);

  Ran ok = Verify({Path("log.ndjson"), "--key", vkey_});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_EQ(ok.out, WholeSummary(lines) + "verified\n");
  EXPECT_EQ(ok.err, "");
  // The key may come from a file; without a key the bundle's own is used, and a clean report
  // under it is not "verified": exit 5, unless --trust-bundle-key says to accept it.
  WriteFile(Path("vkey"), vkey_ + "\n");
  EXPECT_EQ(Verify({Path("log.ndjson"), "--key-file", Path("vkey")}).out, ok.out);
  Ran own = Verify({Path("log.ndjson")});
  EXPECT_EQ(own.exit_code, 5);
  EXPECT_TRUE(Has(own.out, "\nkey: the bundle's own (not trusted: give --key)\nverified against "
                           "the bundle's own key only: pass --key to trust it\n"))
      << own.out;
  EXPECT_EQ(own.err,
            "mandatectl audit verify: no --key given: verified against the bundle's own key "
            "only: pass --key (the service's `audit key`) to trust it\n");
  Ran own_json = Exec({"--json", "audit", "verify", Path("log.ndjson")});
  EXPECT_EQ(own_json.exit_code, 5);
  EXPECT_FALSE(ParseOrDie(own_json.out).Find("verified")->as_bool());
  EXPECT_TRUE(ParseOrDie(own_json.out).Find("key_from_bundle")->as_bool());
  Ran trusting = Verify({Path("log.ndjson"), "--trust-bundle-key"});
  EXPECT_EQ(trusting.exit_code, 0) << trusting.out << trusting.err;
  EXPECT_TRUE(Has(trusting.out, "\nkey: the bundle's own (--trust-bundle-key)\nverified\n"))
      << trusting.out;
  EXPECT_EQ(trusting.err.rfind("warning: --trust-bundle-key: ", 0), 0u) << trusting.err;
  Ran json = Exec({"--json", "audit", "verify", Path("log.ndjson"), "--key", vkey_});
  EXPECT_EQ(json.exit_code, 0);
  json::Value report = ParseOrDie(json.out);
  EXPECT_TRUE(report.Find("verified")->as_bool());
  EXPECT_EQ(report.Find("findings")->items().size(), 0u);

  // One byte of one event changed: the root no longer matches.
  std::vector<std::string> changed = lines;
  const size_t at = changed[3].find("\"type\":\"") + 8;
  changed[3][at] = changed[3][at] == 'x' ? 'y' : 'x';
  WriteFile(Path("changed.ndjson"), Joined(changed));
  Ran bad = Verify({Path("changed.ndjson"), "--key", vkey_});
  EXPECT_EQ(bad.exit_code, 1);
  const std::string summary = WholeSummary(lines);
  ASSERT_EQ(bad.out.rfind(summary, 0), 0u) << bad.out;
  EXPECT_TRUE(Matches(bad.out.substr(summary.size()),
                      "root-mismatch the events hash to [0-9a-f]{64}, the checkpoint says " +
                          testing::StringField(ParseOrDie(lines[0]), "root") +
                          "\nnot verified: 1 finding\n"))
      << bad.out;

  // One event removed (seq 2, the third event line).
  std::vector<std::string> shorter = lines;
  shorter.erase(shorter.begin() + 3);
  WriteFile(Path("shorter.ndjson"), Joined(shorter));
  Ran missing = Verify({Path("shorter.ndjson"), "--key", vkey_});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(Has(missing.out, "\nevent-missing seq=2\n")) << missing.out;
  EXPECT_FALSE(Has(missing.out, "root-mismatch")) << missing.out;

  // Two events swapped (seq 2 and 3).
  std::vector<std::string> swapped = lines;
  std::swap(swapped[3], swapped[4]);
  WriteFile(Path("swapped.ndjson"), Joined(swapped));
  Ran order = Verify({Path("swapped.ndjson"), "--key", vkey_});
  EXPECT_EQ(order.exit_code, 1);
  EXPECT_TRUE(Has(order.out, "\nevent-out-of-order seq=2 follows seq=3\n")) << order.out;

  // Another key of the same name (a forger's): the checkpoint does not open under it.
  Result<signer::PrivateKey> forger = signer::GenerateKey(signer::KeyType::kEd25519,
                                                          SystemRandom::Get());
  ASSERT_TRUE(forger.ok());
  Result<signer::PublicKey> forger_pub = signer::DerivePublicKey(*forger);
  ASSERT_TRUE(forger_pub.ok());
  const std::string other =
      audit::VerifierKeyString(vkey_.substr(0, vkey_.find('+')), *forger_pub);
  Ran foreign = Verify({Path("log.ndjson"), "--key", other});
  EXPECT_EQ(foreign.exit_code, 1) << foreign.out << foreign.err;
  EXPECT_TRUE(Has(foreign.out, "verifier-key-differs")) << foreign.out;
  EXPECT_TRUE(Has(foreign.out, "checkpoint-signature-invalid")) << foreign.out;

  // A forged log signed by the forger's own key (its root recomputed, its header naming that
  // key): consistent in itself, so without --key it is never exit 0; with the service's key it
  // does not verify.
  std::vector<std::string> forged = changed;
  audit::Frontier tree;
  for (size_t i = 1; i < forged.size(); ++i) {
    tree.Append(audit::LeafHash(AsBytes(forged[i])), [](audit::NodeId, const audit::Hash&) {});
  }
  audit::Checkpoint body;
  body.origin = vkey_.substr(0, vkey_.find('+'));
  body.size = tree.size();
  body.root = tree.Root();
  Result<std::string> note = audit::SignNote(
      audit::CheckpointBody(body), body.origin, *forger_pub,
      [&forger](ByteSpan m) { return signer::Sign(*forger, m); });
  ASSERT_TRUE(note.ok());
  json::Value header = ParseOrDie(forged[0]);
  header.Set("checkpoint", json::Value::String(*note));
  header.Set("verifier_key", json::Value::String(other));
  header.Set("root", json::Value::String(audit::HashHex(body.root)));
  forged[0] = json::Write(header);
  WriteFile(Path("forged.ndjson"), Joined(forged));
  Ran self_signed = Verify({Path("forged.ndjson")});
  EXPECT_EQ(self_signed.exit_code, 5) << self_signed.out;
  EXPECT_TRUE(Has(self_signed.out, "verified against the bundle's own key only"))
      << self_signed.out;
  Ran against_service = Verify({Path("forged.ndjson"), "--key", vkey_});
  EXPECT_EQ(against_service.exit_code, 1) << against_service.out;
  EXPECT_TRUE(Has(against_service.out, "\nverifier-key-differs ")) << against_service.out;
  EXPECT_TRUE(Has(against_service.out, "\ncheckpoint-signature-invalid ")) << against_service.out;

  // Not a bundle at all.
  WriteFile(Path("junk.ndjson"), "hello\n");
  Ran junk = Verify({Path("junk.ndjson"), "--key", vkey_});
  EXPECT_EQ(junk.exit_code, 1);
  EXPECT_TRUE(Has(junk.out, "bundle-malformed line 1 is not a JSON object\n")) << junk.out;
}

TEST_F(CliAuditTest, EarlierCheckpointsHeldBeforeMoreChanges) {
  Ran early = Exec({"--server", url_, "--token", op_, "audit", "checkpoint", "--new", "-o",
                    Path("early.note")});
  ASSERT_EQ(early.exit_code, 0) << early.err;
  const std::string note = testing::ReadFileOrDie(Path("early.note"));
  ASSERT_EQ(As(admin_, {"agents", "suspend", agent_}).exit_code, 0);
  ASSERT_EQ(As(admin_, {"agents", "resume", agent_}).exit_code, 0);
  const std::vector<std::string> lines = ExportAll("later.ndjson");
  const std::string early_size = Lines(note)[1];
  ASSERT_LT(std::stoul(early_size), lines.size() - 1);

  Ran ok = Verify({Path("later.ndjson"), "--key", vkey_, "--checkpoint", Path("early.note")});
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_EQ(ok.out, WholeSummary(lines) + "earlier checkpoints: 1\nverified\n");

  // The earlier note with its signature altered.
  std::string forged = note;
  const size_t sig = forged.rfind(' ') + 30;
  forged[sig] = forged[sig] == 'A' ? 'B' : 'A';
  WriteFile(Path("forged.note"), forged);
  Ran bad = Verify({Path("later.ndjson"), "--key", vkey_, "--checkpoint", Path("forged.note")});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(Has(bad.out, "\nearlier-checkpoint-invalid ")) << bad.out;
  EXPECT_TRUE(Has(bad.out, "\nnot verified: 1 finding\n")) << bad.out;

  // A log that lost events since the note: the earlier checkpoint is larger than the bundle's.
  const std::vector<std::string> before = ExportAll("before.ndjson");
  ASSERT_EQ(As(admin_, {"agents", "suspend", agent_}).exit_code, 0);
  ASSERT_EQ(Exec({"--server", url_, "--token", op_, "audit", "checkpoint", "--new", "-o",
                  Path("newer.note")})
                .exit_code,
            0);
  Ran truncated = Verify({Path("before.ndjson"), "--key", vkey_, "--checkpoint",
                          Path("newer.note")});
  EXPECT_EQ(truncated.exit_code, 1);
  EXPECT_TRUE(Has(truncated.out, "\nlog-truncated ")) << truncated.out;
}

// The operator rotates the service's audit key (`keys rotate`): a checkpoint held from before
// is signed by the earlier key, which `audit verify --earlier-key` names (specs/audit.md §5).
TEST_F(CliAuditTest, CheckpointsFromBeforeAKeyRotationNeedTheEarlierKey) {
  ASSERT_EQ(Exec({"--server", url_, "--token", op_, "audit", "checkpoint", "--new", "-o",
                  Path("old.note")})
                .exit_code,
            0);
  const json::Value key = ParseOrDie(As(op_, {"--json", "audit", "key"}).out);
  const std::string key_id = testing::StringField(*key.Find("key"), "id");
  Ran rotated = As(op_, {"keys", "rotate", key_id});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  ASSERT_EQ(As(admin_, {"agents", "suspend", agent_}).exit_code, 0);  // an event under the new key
  std::string new_key = As(op_, {"audit", "key"}).out;
  if (!new_key.empty() && new_key.back() == '\n') new_key.pop_back();
  ASSERT_NE(new_key, vkey_);
  ExportAll("rotated.ndjson");

  Ran without = Verify({Path("rotated.ndjson"), "--key", new_key, "--checkpoint", Path("old.note")});
  EXPECT_EQ(without.exit_code, 1) << without.out;
  EXPECT_TRUE(Has(without.out, "\nearlier-checkpoint-invalid ")) << without.out;
  Ran with = Verify({Path("rotated.ndjson"), "--key", new_key, "--checkpoint", Path("old.note"),
                     "--earlier-key", vkey_});
  EXPECT_EQ(with.exit_code, 0) << with.out;
  EXPECT_TRUE(Has(with.out, "earlier checkpoints: 1\nverified\n")) << with.out;
  // The service lists the keys it replaced (the auditor's own copy is better evidence).
  EXPECT_EQ(As(auditor_, {"audit", "key", "--earlier"}).out, vkey_ + "\n");
  Ran bad = Verify({Path("rotated.ndjson"), "--key", new_key, "--earlier-key", "nonsense"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(Has(bad.err, "--earlier-key is not a verifier key")) << bad.err;
}

TEST_F(CliAuditTest, TrailBundleHasAProofForEachEvent) {
  Ran exported = As(auditor_, {"audit", "export", "--agent", agent_, "-o", Path("agent.ndjson")});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const std::vector<std::string> lines = Lines(testing::ReadFileOrDie(Path("agent.ndjson")));
  ASSERT_GE(lines.size(), 3u);
  Ran ok = Verify({Path("agent.ndjson"), "--key", vkey_});
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_EQ(LineValue(ok.out, "events"),
            std::to_string(lines.size() - 1) + " (each with an inclusion proof)");

  std::vector<std::string> changed = lines;
  const std::string seq =
      json::Write(*ParseOrDie(changed[1]).Find("seq"));
  const size_t at = changed[1].find("\"type\":\"") + 8;
  changed[1][at] = changed[1][at] == 'x' ? 'y' : 'x';
  WriteFile(Path("changed.ndjson"), Joined(changed));
  Ran bad = Verify({Path("changed.ndjson"), "--key", vkey_});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(Has(bad.out, "\ninclusion-proof-invalid seq=" + seq + "\nnot verified: 1 finding\n"))
      << bad.out;
  // Standard output gets the bytes exactly.
  Ran stdout_bundle = As(auditor_, {"audit", "export", "--agent", agent_, "-o", "-"});
  EXPECT_EQ(stdout_bundle.exit_code, 0);
  EXPECT_EQ(Lines(stdout_bundle.out).size(), lines.size());

  // A checkpoint kept from before, and more events since: the trail alone compares it by size
  // only; exported with --checkpoint, the bundle proves its tree extends it.
  ASSERT_EQ(As(auditor_, {"audit", "checkpoint", "--new", "-o", Path("kept.note")}).exit_code, 0);
  ASSERT_EQ(As(admin_, {"agents", "suspend", agent_}).exit_code, 0);
  ASSERT_EQ(As(auditor_, {"audit", "export", "--agent", agent_, "-o", Path("plain.ndjson")})
                .exit_code,
            0);
  Ran plain = Verify({Path("plain.ndjson"), "--key", vkey_, "--checkpoint", Path("kept.note")});
  EXPECT_EQ(plain.exit_code, 0) << plain.out;
  EXPECT_TRUE(Has(plain.out, "\nearlier checkpoints: 1, 0 shown extended by this tree\n"))
      << plain.out;
  Ran with_proof = As(auditor_, {"audit", "export", "--agent", agent_, "--checkpoint",
                                 Path("kept.note"), "-o", Path("proven.ndjson")});
  ASSERT_EQ(with_proof.exit_code, 0) << with_proof.err;
  Ran proven = Verify({Path("proven.ndjson"), "--key", vkey_, "--checkpoint", Path("kept.note")});
  EXPECT_EQ(proven.exit_code, 0) << proven.out;
  EXPECT_TRUE(Has(proven.out, "\nearlier checkpoints: 1, 1 shown extended by this tree\n"))
      << proven.out;
  WriteFile(Path("not.note"), "not a note\n");
  Ran not_note = As(auditor_, {"audit", "export", "--agent", agent_, "--checkpoint",
                               Path("not.note"), "-o", Path("x.ndjson")});
  EXPECT_EQ(not_note.exit_code, 2);
  EXPECT_TRUE(Has(not_note.err, "is not a signed checkpoint note")) << not_note.err;
}

TEST_F(CliAuditTest, UsageErrorsExitTwo) {
  WriteFile(Path("empty.ndjson"), "");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"audit", "verify"},
           {"audit", "verify", Path("absent.ndjson")},
           {"audit", "verify", Path("empty.ndjson"), Path("empty.ndjson")},
           {"audit", "verify", Path("empty.ndjson"), "--key", "not-a-key"},
           {"audit", "verify", Path("empty.ndjson"), "--key", vkey_, "--key-file", Path("k")},
           {"audit", "verify", Path("empty.ndjson"), "--key-file", Path("absent.vkey")},
           {"audit", "verify", Path("empty.ndjson"), "--checkpoint", Path("absent.note")},
           {"audit", "verify", Path("empty.ndjson"), "--key", vkey_, "--trust-bundle-key"},
           {"--server", url_, "--token", auditor_, "audit", "trail"},
           {"--server", url_, "--token", auditor_, "audit", "trail", "--agent", agent_,
            "--mandate", mandate_},
           {"--server", url_, "--token", auditor_, "audit", "trail", "--agent", agent_, "--from",
            "2026-01-01T00:00:00Z"},
           {"--server", url_, "--token", auditor_, "audit", "trail", "--agent", ""},
           {"--server", url_, "--token", auditor_, "audit", "export", "--agent", agent_},
           {"--server", url_, "--token", auditor_, "audit", "export", "--agent", agent_, "-o"},
           {"--server", url_, "--token", auditor_, "audit", "checkpoint", "extra"},
           {"--server", url_, "--token", auditor_, "audit", "key", "extra"},
       }) {
    Ran r = Exec(args);
    EXPECT_EQ(r.exit_code, 2) << args.back() << ": " << r.out << r.err;
    EXPECT_EQ(r.err.rfind("mandatectl audit ", 0), 0u) << r.err;
    EXPECT_EQ(r.out, "");
  }
  Ran absent = Verify({Path("absent.ndjson")});
  EXPECT_EQ(absent.err, "mandatectl audit verify: cannot read " + Path("absent.ndjson") +
                            ": No such file or directory\n");
  // The server's own refusals are 1: bad bounds.
  Ran bounds = As(auditor_, {"audit", "trail", "--principal", principal_, "--from", "yesterday"});
  EXPECT_EQ(bounds.exit_code, 1);
  EXPECT_TRUE(Has(bounds.err, "audit-query-invalid")) << bounds.err;
}

TEST_F(CliAuditTest, AnAuditorSeesNoOtherPrincipal) {
  Ran p = Exec({"--server", url_, "--token", op_, "principals", "create", "--name", "Beta"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const std::string beta = FirstWord(p.out);
  ASSERT_EQ(Exec({"agent", "keygen", "--out", Path("beta.key")}).exit_code, 0);
  Ran did = Exec({"agent", "did", "--key", Path("beta.key")});
  Ran agent = Exec({"--server", url_, "--token", op_, "--principal", beta, "agents", "create",
                    "--name", "Beta bot", "--did", did.out.substr(0, did.out.size() - 1)});
  ASSERT_EQ(agent.exit_code, 0) << agent.err;
  const std::string beta_agent = FirstWord(agent.out);

  // The operator sees Beta's trail; Acme's auditor gets 404 for the principal and nothing of
  // its agent.
  Ran op = Exec({"--server", url_, "--token", op_, "audit", "trail", "--principal", beta});
  ASSERT_EQ(op.exit_code, 0) << op.err;
  EXPECT_TRUE(Has(op.out, "  principal.created  operator  " + beta + "  \"Beta\"\n")) << op.out;
  Ran theirs = As(auditor_, {"audit", "trail", "--principal", beta});
  EXPECT_EQ(theirs.exit_code, 1);
  EXPECT_EQ(theirs.out, "");
  EXPECT_EQ(theirs.err, "error 404 (urn:mandated:problem:principal-not-found): no principal " +
                            beta + "\n");
  Ran their_agent = As(auditor_, {"audit", "trail", "--agent", beta_agent});
  EXPECT_EQ(their_agent.exit_code, 0) << their_agent.err;
  EXPECT_EQ(their_agent.out, "no audit events\n");
  // Nor does an export of it hold any event; the whole log is the operator's alone.
  Ran exported =
      As(auditor_, {"audit", "export", "--agent", beta_agent, "-o", Path("beta.ndjson")});
  EXPECT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(Lines(testing::ReadFileOrDie(Path("beta.ndjson"))).size(), 1u);
  Ran whole = Exec({"--server", url_, "--token", auditor_, "audit", "export", "-o",
                    Path("all.ndjson")});
  EXPECT_EQ(whole.exit_code, 1);
  EXPECT_TRUE(Has(whole.err, "error 400 (urn:mandated:problem:audit-query-invalid)"))
      << whole.err;
  // Admins do not read audit trails at all.
  Ran admin = As(admin_, {"audit", "trail", "--principal", principal_});
  EXPECT_EQ(admin.exit_code, 1);
  EXPECT_TRUE(Has(admin.err, "error 403 ")) << admin.err;
}

}  // namespace
}  // namespace mandated::cli
