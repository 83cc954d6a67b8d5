// mandatectl mandate commands against a real server: issue, list, show, state changes, and the
// same verdict from `mandates verify` online and `mandates verify --offline` over the documents
// `mandates fetch` downloads (valid, revoked, suspended, tampered, purchase, chain, stale list).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "base/clock.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/random.h"
#include "cli/commands.h"
#include "mandates/credential.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"
#include "tests/support/mandatectl_run.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated::cli {
namespace {

using testing::FirstWord;
using testing::ParseOrDie;
using testing::WriteFile;

constexpr char kTerms[] =
    R"({"scope":{"payees":{"allow":[{"type":"domain","value":"shop.example"}]}},)"
    R"("limits":{"per_transaction":[{"asset":"USD","max":"50000"}]}})";

// The reason codes of a verdict, in order, joined by ','.
std::string Codes(const std::string& verdict_json) {
  json::Value v = ParseOrDie(verdict_json);
  std::string out;
  if (const json::Value* reasons = v.Find("reasons")) {
    for (const json::Value& r : reasons->items()) {
      out += (out.empty() ? "" : ",") + testing::StringField(r, "code");
    }
  }
  return out;
}

class CliMandateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<testing::ServerProcess>(dir_.Sub("data"));
    ASSERT_TRUE(server_->Start()) << server_->Stderr();
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
    Output p = Run({"principals", "create", "--name", "Acme"});
    ASSERT_EQ(p.exit_code, 0) << p.err;
    principal_ = FirstWord(p.out);
    const std::string key = dir_.Sub("agent.key");
    ASSERT_EQ(RunCommand({"agent", "keygen", "--out", key}).exit_code, 0);
    Output did = RunCommand({"agent", "did", "--key", key});
    ASSERT_EQ(did.exit_code, 0) << did.err;
    Output agent = Run({"--principal", principal_, "agents", "create", "--name", "Shopper",
                        "--did", did.out.substr(0, did.out.size() - 1)});
    ASSERT_EQ(agent.exit_code, 0) << agent.err;
    agent_ = FirstWord(agent.out);
    const int64_t now = SystemClock::Get().NowUnixSeconds();
    valid_from_ = mandates::FormatRfc3339Utc(now - 60);
    valid_until_ = mandates::FormatRfc3339Utc(now + 30 * 86400);
    WriteFile(dir_.Sub("terms.json"), kTerms);
  }

  // Runs with the operator token (it stands in for the principal's admin).
  Output Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", url_, "--token", server_->bootstrap_token()});
    return RunCommand(args);
  }
  Output InPrincipal(std::vector<std::string> args) {
    args.insert(args.begin(), {"--principal", principal_});
    return Run(std::move(args));
  }
  // Issues a mandate (a child of `parent` when given), writing its token to <name>.jwt; returns
  // the record.
  json::Value Issue(const std::string& name, const std::string& parent = "") {
    std::vector<std::string> args = {"mandates", "issue", "--agent", agent_, "--valid-from",
                                     valid_from_, "--valid-until", valid_until_, "--terms",
                                     dir_.Sub("terms.json"), "--token-out", Path(name + ".jwt")};
    if (!parent.empty()) {
      args.insert(args.end(), {"--parent", parent});
    }
    Output o = InPrincipal(args);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return ParseOrDie(o.out);
  }
  // `mandates verify` online with `extra` flags.
  Output Online(const std::string& token_file, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"mandates", "verify", token_file};
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(args);
  }
  // `mandates verify --offline` over the fetched documents in `docs`, at `at`. No --token or
  // --server: offline verification needs neither.
  Output Offline(const std::string& token_file, const std::string& docs, int64_t at,
                 std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"mandates",       "verify", "--offline",
                                     token_file,       "--did-document", docs + "/did.json",
                                     "--jwks",         docs + "/jwks.json", "--at",
                                     std::to_string(at)};
    args.insert(args.end(), extra.begin(), extra.end());
    for (const std::string& list : lists_) {
      args.insert(args.end(), {"--status-list", docs + "/" + list});
    }
    return RunCommand(args);
  }
  // Fetches the documents of `token_file` (and its chain) into `docs`; remembers the status list
  // files.
  void Fetch(const std::string& token_file, const std::string& docs,
             std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--server", url_, "mandates", "fetch", token_file, "--out",
                                     docs};
    args.insert(args.end(), extra.begin(), extra.end());
    Output o = RunCommand(args);  // no credential
    ASSERT_EQ(o.exit_code, 0) << o.err;
    lists_.clear();
    for (size_t at = 0; at < o.out.size();) {
      const size_t nl = o.out.find('\n', at);
      const std::string file = o.out.substr(at, nl - at);
      const std::string name = file.substr(file.rfind('/') + 1);
      if (name.rfind("status-", 0) == 0) {
        lists_.push_back(name);
      }
      at = nl + 1;
    }
  }
  // Verifies online, then offline at the online checked_at: asserts the same exit code and the
  // same bytes. Returns the verdict JSON.
  std::string Parity(const std::string& token_file, const std::string& docs,
                     const std::vector<std::string>& extra = {}) {
    Output online = Online(token_file, extra);
    const json::Value verdict = ParseOrDie(online.out);  // kept alive: `checked` points into it
    const json::Value* checked = verdict.Find("checked_at");
    if ((online.exit_code != 0 && online.exit_code != 1) || checked == nullptr) {
      ADD_FAILURE() << "no verdict online: " << online.err << online.out;
      return "";
    }
    const int64_t at = checked->as_int64().value_or(0);
    Output offline = Offline(token_file, docs, at, extra);
    EXPECT_EQ(offline.exit_code, online.exit_code) << offline.err;
    EXPECT_EQ(offline.out, online.out);
    EXPECT_EQ(offline.err, "");
    return online.out;
  }
  std::string Path(const std::string& name) const { return dir_.Sub(name); }

  testing::TempDir dir_;
  std::unique_ptr<testing::ServerProcess> server_;
  std::string url_;
  std::string principal_;
  std::string agent_;
  std::string valid_from_;
  std::string valid_until_;
  std::vector<std::string> lists_;  // status list file names of the last Fetch
};

TEST_F(CliMandateTest, EveryMandateCommandHasHelp) {
  for (const char* verb :
       {"issue", "list", "show", "revoke", "suspend", "resume", "verify", "fetch"}) {
    Output o = RunCommand({"mandates", verb, "--help"});
    EXPECT_EQ(o.exit_code, 0) << verb;
    EXPECT_EQ(o.out.rfind(std::string("Usage: mandatectl mandates ") + verb, 0), 0u) << o.out;
  }
  Output top = RunCommand({"--help"});
  EXPECT_NE(top.out.find("  mandates verify TOKEN_FILE"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("  mandates fetch TOKEN_FILE [--chain FILE]... --out DIR"),
            std::string::npos);
}

TEST_F(CliMandateTest, IssuesListsShowsAndChangesState) {
  json::Value m = Issue("m");
  const std::string id = testing::StringField(m, "id");
  ASSERT_EQ(id.rfind("mnd_", 0), 0u) << json::Write(m);
  EXPECT_EQ(testing::StringField(m, "agent"), agent_);
  EXPECT_EQ(testing::StringField(m, "state"), "active");
  EXPECT_EQ(testing::StringField(m, "valid_from"), valid_from_);
  EXPECT_EQ(testing::ReadFileOrDie(Path("m.jwt")), testing::StringField(m, "token") + "\n");

  const std::string line = id + "  agent " + agent_ + "  active  valid " + valid_from_ + " to " +
                           valid_until_ + "  uses 0\n";
  EXPECT_EQ(InPrincipal({"mandates", "show", id}).out, line);
  EXPECT_EQ(InPrincipal({"mandates", "list"}).out, line);
  EXPECT_EQ(InPrincipal({"mandates", "list", "--agent", agent_}).out, line);
  EXPECT_EQ(InPrincipal({"mandates", "list", "--agent", "agt_other"}).out, "no mandates\n");
  Output shown = InPrincipal({"--json", "mandates", "show", id, "--token-out", Path("s.jwt")});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(testing::StringField(ParseOrDie(shown.out), "token"),
            testing::StringField(m, "token"));
  EXPECT_EQ(testing::ReadFileOrDie(Path("s.jwt")), testing::ReadFileOrDie(Path("m.jwt")));

  EXPECT_NE(InPrincipal({"mandates", "suspend", id}).out.find("  suspended"), std::string::npos);
  EXPECT_NE(InPrincipal({"mandates", "resume", id}).out.find("  active"), std::string::npos);
  Output revoked = InPrincipal({"mandates", "revoke", id});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_NE(revoked.out.find("  revoked"), std::string::npos) << revoked.out;
  Output resumed = InPrincipal({"mandates", "resume", id});
  EXPECT_EQ(resumed.exit_code, 1);
  EXPECT_NE(resumed.err.find("(urn:mandated:problem:mandate-state)"), std::string::npos)
      << resumed.err;
  Output missing = InPrincipal({"mandates", "show", "mnd_nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("error 404 (urn:mandated:problem:mandate-not-found)"),
            std::string::npos)
      << missing.err;

  // The server's own refusals of a bad request (exit 1), and terms read from a missing file
  // (exit 2, nothing sent).
  Output bad = InPrincipal({"mandates", "issue", "--agent", agent_, "--valid-from", "yesterday",
                            "--valid-until", valid_until_, "--terms", Path("terms.json")});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("error 400"), std::string::npos) << bad.err;
  EXPECT_EQ(InPrincipal({"mandates", "issue", "--agent", agent_, "--valid-from", valid_from_,
                         "--valid-until", valid_until_, "--terms", Path("nope.json")})
                .exit_code,
            2);
}

// A token file is a secret: --token-out creates it mode 0600 whatever the umask, under a new
// temporary name (a link planted at "<file>.tmp" is not followed), and replaces an older file.
TEST_F(CliMandateTest, TokenOutIsMode0600) {
  WriteFile(Path("t.jwt"), "old\n");
  ASSERT_EQ(chmod(Path("t.jwt").c_str(), 0644), 0);
  ASSERT_EQ(symlink(Path("victim").c_str(), Path("t.jwt.tmp").c_str()), 0);
  const mode_t umask_before = umask(0);  // the old fopen gave 0666 under it
  json::Value m = Issue("t");
  Output shown =
      InPrincipal({"mandates", "show", testing::StringField(m, "id"), "--token-out", Path("s.jwt")});
  umask(umask_before);
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  for (const char* name : {"t.jwt", "s.jwt"}) {
    struct stat st {};
    ASSERT_EQ(lstat(Path(name).c_str(), &st), 0) << name;
    EXPECT_TRUE(S_ISREG(st.st_mode)) << name;
    EXPECT_EQ(st.st_mode & 07777, 0600u) << name;
    EXPECT_EQ(testing::ReadFileOrDie(Path(name)), testing::StringField(m, "token") + "\n");
  }
  struct stat victim {};
  EXPECT_EQ(lstat(Path("victim").c_str(), &victim), -1);
  EXPECT_EQ(errno, ENOENT);
  // No temporary file is left behind.
  std::vector<std::string> names;
  DIR* dir = opendir(Path("").c_str());
  ASSERT_NE(dir, nullptr);
  while (const dirent* e = readdir(dir)) {
    if (std::string(e->d_name).find(".jwt.tmp") != std::string::npos) {
      names.push_back(e->d_name);
    }
  }
  closedir(dir);
  EXPECT_EQ(names, std::vector<std::string>{"t.jwt.tmp"});
}

// A --token-out that cannot be written is a usage error before the request: no mandate is
// issued for a token that would be lost (before, the mandate was issued, then exit 2).
TEST_F(CliMandateTest, AnUnwritableTokenOutIssuesNothing) {
  const size_t before = ParseOrDie(InPrincipal({"--json", "mandates", "list"}).out)
                            .Find("items")->items().size();
  Output o = InPrincipal({"mandates", "issue", "--agent", agent_, "--valid-from", valid_from_,
                          "--valid-until", valid_until_, "--terms", dir_.Sub("terms.json"),
                          "--token-out", Path("no-such-dir/m.jwt")});
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_NE(o.err.find("--token-out"), std::string::npos) << o.err;
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(ParseOrDie(InPrincipal({"--json", "mandates", "list"}).out)
                .Find("items")->items().size(),
            before);
}

// The main path: a mandate verifies online and offline alike while active, and both say
// "revoked" once it is revoked and its status list fetched again.
TEST_F(CliMandateTest, OnlineAndOfflineAgreeBeforeAndAfterRevocation) {
  json::Value m = Issue("m");
  const std::string id = testing::StringField(m, "id");
  const std::string token = Path("m.jwt");
  const std::string docs = Path("docs");

  Output online = Online(token);
  ASSERT_EQ(online.exit_code, 0) << online.err << online.out;
  json::Value verdict = ParseOrDie(online.out);
  EXPECT_EQ(testing::StringField(verdict, "verdict"), "valid");
  EXPECT_EQ(json::Write(*verdict.Find("reasons")), "[]");
  EXPECT_EQ(json::Write(*verdict.Find("chain")), "[\"" + id + "\"]");

  Output fetched = RunCommand({"--server", url_, "mandates", "fetch", token, "--out", docs});
  ASSERT_EQ(fetched.exit_code, 0) << fetched.err;
  const std::string list = m.Find("status_list")->Find("list")->as_int64().has_value()
                               ? std::to_string(*m.Find("status_list")->Find("list")->as_int64())
                               : "?";
  EXPECT_EQ(fetched.out, docs + "/did.json\n" + docs + "/jwks.json\n" + docs + "/status-" + list +
                             ".jwt\n");
  EXPECT_EQ(ParseOrDie(testing::ReadFileOrDie(docs + "/did.json")).Find("id")->as_string(),
            testing::StringField(m, "issuer"));
  Output fetched_json =
      RunCommand({"--server", url_, "--json", "mandates", "fetch", token, "--out", docs});
  EXPECT_EQ(json::Write(*ParseOrDie(fetched_json.out).Find("files")),
            "[\"" + docs + "/did.json\",\"" + docs + "/jwks.json\",\"" + docs + "/status-" +
                list + ".jwt\"]");

  // Offline at the online checked_at: the same bytes, the same exit code. The DID document
  // alone and the JWKS alone each suffice for the keys.
  const std::string at = std::to_string(verdict.Find("checked_at")->as_int64().value_or(0));
  const std::string status = docs + "/status-" + list + ".jwt";
  Output offline = RunCommand({"mandates", "verify", "--offline", token, "--did-document",
                               docs + "/did.json", "--status-list", status, "--at", at});
  EXPECT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_EQ(offline.out, online.out);
  Output rfc3339 =
      RunCommand({"mandates", "verify", "--offline", token, "--did-document", docs + "/did.json",
                  "--status-list", status, "--at",
                  mandates::FormatRfc3339Utc(verdict.Find("checked_at")->as_int64().value_or(0))});
  EXPECT_EQ(rfc3339.out, online.out);
  Fetch(token, docs);
  Parity(token, docs);

  // Revoked: online at once; offline once the list is fetched again.
  ASSERT_EQ(InPrincipal({"mandates", "revoke", id}).exit_code, 0);
  Output stale = Offline(token, docs, verdict.Find("checked_at")->as_int64().value_or(0));
  EXPECT_EQ(stale.exit_code, 0) << "the list fetched before the revocation still says valid";
  Fetch(token, docs);
  const std::string revoked = Parity(token, docs);
  EXPECT_EQ(Codes(revoked), "revoked");
  EXPECT_EQ(testing::StringField(ParseOrDie(revoked), "verdict"), "invalid");
  EXPECT_EQ(Online(token).exit_code, 1);
}

TEST_F(CliMandateTest, SuspensionPurchasesAndTrustedIssuersAgree) {
  json::Value m = Issue("m");
  const std::string id = testing::StringField(m, "id");
  const std::string token = Path("m.jwt");
  const std::string docs = Path("docs");
  Fetch(token, docs);

  WriteFile(Path("ok.json"),
            R"({"payee":{"type":"domain","value":"shop.example"},"amount":"1000","asset":"USD"})");
  WriteFile(Path("big.json"),
            R"({"payee":{"type":"domain","value":"evil.example"},"amount":"60000",)"
            R"("asset":"USD"})");
  EXPECT_EQ(Codes(Parity(token, docs, {"--purchase", Path("ok.json")})), "");
  EXPECT_EQ(Codes(Parity(token, docs, {"--purchase", Path("big.json")})),
            "payee-not-allowed,amount-above-maximum");
  const std::string issuer = testing::StringField(m, "issuer");
  EXPECT_EQ(Codes(Parity(token, docs, {"--trusted-issuer", issuer})), "");
  EXPECT_EQ(Codes(Parity(token, docs, {"--trusted-issuer", "did:web:other.example"})),
            "untrusted-issuer");

  ASSERT_EQ(InPrincipal({"mandates", "suspend", id}).exit_code, 0);
  Fetch(token, docs);
  EXPECT_EQ(Codes(Parity(token, docs)), "suspended");
  ASSERT_EQ(InPrincipal({"mandates", "resume", id}).exit_code, 0);
  Fetch(token, docs);
  EXPECT_EQ(Codes(Parity(token, docs)), "");
}

TEST_F(CliMandateTest, DelegatedMandateVerifiesWithItsChain) {
  json::Value parent = Issue("parent");
  json::Value child = Issue("child", testing::StringField(parent, "id"));
  ASSERT_EQ(testing::StringField(child, "parent"), testing::StringField(parent, "id"));
  const std::string docs = Path("docs");
  Fetch(Path("child.jwt"), docs, {"--chain", Path("parent.jwt")});
  const std::string chain = "[\"" + testing::StringField(child, "id") + "\",\"" +
                            testing::StringField(parent, "id") + "\"]";
  const std::string valid = Parity(Path("child.jwt"), docs, {"--chain", Path("parent.jwt")});
  EXPECT_EQ(Codes(valid), "");
  EXPECT_EQ(json::Write(*ParseOrDie(valid).Find("chain")), chain);
  // Offline without the chain the parent is missing (online, the service knows it).
  Output no_chain = Offline(Path("child.jwt"), docs, SystemClock::Get().NowUnixSeconds());
  EXPECT_EQ(no_chain.exit_code, 1);
  EXPECT_EQ(Codes(no_chain.out), "parent-missing");
  // Revoking the parent revokes the child too.
  ASSERT_EQ(InPrincipal({"mandates", "revoke", testing::StringField(parent, "id")}).exit_code, 0);
  Fetch(Path("child.jwt"), docs, {"--chain", Path("parent.jwt")});
  EXPECT_EQ(Codes(Parity(Path("child.jwt"), docs, {"--chain", Path("parent.jwt")})),
            "revoked,parent-revoked");
}

// Only the mandate's issuer speaks for its status: a list for the same URI signed by any other
// key (here a fresh did:key, every entry 0, no iss and no exp) is no evidence, placed first or
// alone.
TEST_F(CliMandateTest, StatusListSignedByAnotherKeyIsNoEvidence) {
  json::Value m = Issue("m");
  const std::string token = Path("m.jwt");
  const std::string docs = Path("docs");
  Fetch(token, docs);
  ASSERT_EQ(lists_.size(), 1u);
  // The list's payload before the revocation: this mandate's entry is 0.
  std::string before = testing::ReadFileOrDie(docs + "/" + lists_[0]);
  while (!before.empty() && (before.back() == '\n' || before.back() == '\r')) before.pop_back();
  const size_t dot1 = before.find('.'), dot2 = before.rfind('.');
  ASSERT_NE(dot1, dot2);
  Result<Bytes> raw = Base64UrlDecode(before.substr(dot1 + 1, dot2 - dot1 - 1));
  ASSERT_TRUE(raw.ok());
  const json::Value old = ParseOrDie(std::string(raw->begin(), raw->end()));
  ASSERT_EQ(InPrincipal({"mandates", "revoke", testing::StringField(m, "id")}).exit_code, 0);
  Fetch(token, docs);

  const signer::PrivateKey key =
      *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
  json::Value header = json::Value::Object();
  header.Set("typ", json::Value::String("statuslist+jwt"));
  header.Set("kid", json::Value::String(
                        signer::DidKeyVerificationMethodId(*signer::DerivePublicKey(key))));
  json::Value forged = json::Value::Object();
  forged.Set("sub", *old.Find("sub"));
  forged.Set("iat", json::Value::Int(SystemClock::Get().NowUnixSeconds()));
  forged.Set("status_list", *old.Find("status_list"));
  WriteFile(Path("forged.jwt"), *signer::SignJws(key, header, json::Write(forged)) + "\n");

  const int64_t now = SystemClock::Get().NowUnixSeconds();
  Output first = Offline(token, docs, now, {"--status-list", Path("forged.jwt")});
  EXPECT_EQ(first.exit_code, 1);
  EXPECT_EQ(Codes(first.out), "revoked") << first.out;
  Output alone = RunCommand({"mandates", "verify", "--offline", token, "--did-document",
                             docs + "/did.json", "--status-list", Path("forged.jwt"), "--at",
                             std::to_string(now)});
  EXPECT_EQ(alone.exit_code, 1);
  EXPECT_EQ(Codes(alone.out), "status-unavailable") << alone.out;
}

TEST_F(CliMandateTest, StaleOrMissingStatusListIsStatusUnavailable) {
  Issue("m");
  const std::string token = Path("m.jwt");
  const std::string docs = Path("docs");
  Fetch(token, docs);
  ASSERT_EQ(lists_.size(), 1u);
  const int64_t now = SystemClock::Get().NowUnixSeconds();
  Output fresh = Offline(token, docs, now);
  EXPECT_EQ(fresh.exit_code, 0) << fresh.out;
  // Two hours on, the list (valid for one hour) has expired; the mandate has not.
  Output stale = Offline(token, docs, now + 7200);
  EXPECT_EQ(stale.exit_code, 1);
  EXPECT_EQ(Codes(stale.out), "status-unavailable") << stale.out;
  // No list at all, or a file that is not one.
  Output missing = RunCommand({"mandates", "verify", "--offline", token, "--did-document",
                               docs + "/did.json", "--at", std::to_string(now)});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(Codes(missing.out), "status-unavailable") << missing.out;
  WriteFile(Path("junk.jwt"), "not.a.list\n");
  Output junk = RunCommand({"mandates", "verify", "--offline", token, "--did-document",
                            docs + "/did.json", "--status-list", Path("junk.jwt"), "--at",
                            std::to_string(now)});
  EXPECT_EQ(junk.exit_code, 1);
  EXPECT_EQ(Codes(junk.out), "status-unavailable") << junk.out;
  // Documents without the issuer's keys: nothing verifies.
  WriteFile(Path("empty-did.json"),
            R"({"id":")" +
                ParseOrDie(testing::ReadFileOrDie(docs + "/did.json")).Find("id")->as_string() +
                R"("})");
  Output unsigned_list = RunCommand(
      {"mandates", "verify", "--offline", token, "--did-document", Path("empty-did.json"),
       "--status-list", docs + "/" + lists_[0], "--at", std::to_string(now)});
  EXPECT_EQ(unsigned_list.exit_code, 1);
  EXPECT_EQ(Codes(unsigned_list.out), "kid-unresolvable") << unsigned_list.out;
}

TEST_F(CliMandateTest, TamperedTokenGivesTheSameReasonsOnlineAndOffline) {
  Issue("m");
  const std::string docs = Path("docs");
  Fetch(Path("m.jwt"), docs);
  std::string token = testing::ReadFileOrDie(Path("m.jwt"));
  token.pop_back();  // the newline
  const size_t sig = token.rfind('.');
  ASSERT_NE(sig, std::string::npos);
  // One character in the middle of the signature.
  std::string bad_sig = token;
  char& c = bad_sig[sig + 10];
  c = c == 'A' ? 'B' : 'A';
  WriteFile(Path("bad-sig.jwt"), bad_sig);
  EXPECT_EQ(Codes(Parity(Path("bad-sig.jwt"), docs)), "bad-signature");
  // One character of the payload.
  std::string bad_payload = token;
  char& p = bad_payload[token.find('.') + 20];
  p = p == 'A' ? 'B' : 'A';
  WriteFile(Path("bad-payload.jwt"), bad_payload);
  EXPECT_EQ(Codes(Parity(Path("bad-payload.jwt"), docs)), "bad-signature");
  // Not a JWS at all.
  WriteFile(Path("garbage.jwt"), "hello\n");
  EXPECT_EQ(Codes(Parity(Path("garbage.jwt"), docs)), "bad-jws");
}

TEST_F(CliMandateTest, BadArgumentsAreUsageErrors) {
  Issue("m");
  const std::string token = Path("m.jwt");
  const std::string docs = Path("docs");
  Fetch(token, docs);
  const std::string did = docs + "/did.json";
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"mandates", "issue", "--agent", agent_},
           {"mandates", "issue", "--agent", agent_, "--valid-from", valid_from_,
            "--valid-until", valid_until_},
           {"mandates", "show"},
           {"mandates", "revoke"},
           {"mandates", "verify"},
           {"mandates", "verify", Path("missing.jwt")},
           {"mandates", "verify", token, "--at", "0"},
           {"mandates", "verify", token, "--status-list", docs + "/" + lists_[0]},
           // Counting a use changes state: only the service can.
           {"mandates", "verify", "--offline", token, "--did-document", did, "--use", "k1"},
           {"mandates", "verify", "--offline", token},
           {"mandates", "verify", "--offline", token, "--did-document", Path("missing.json")},
           {"mandates", "verify", "--offline", token, "--did-document", token},
           {"mandates", "verify", "--offline", token, "--did-document", did, "--jwks", did},
           {"mandates", "verify", "--offline", token, "--did-document", did, "--at", "soon"},
           {"mandates", "verify", "--offline", token, "--did-document", did, "--purchase",
            Path("terms.json")},
           {"mandates", "verify", "--offline", token, "--did-document", did, "--trusted-issuer",
            "acme"},
           {"mandates", "fetch", token},
           {"mandates", "fetch", "--out", docs},
           {"mandates", "fetch", Path("terms.json"), "--out", docs}}) {
    Output o = InPrincipal(args);
    EXPECT_EQ(o.exit_code, 2) << json::Write(json::Value::String(args.back())) << ": " << o.err
                              << o.out;
    EXPECT_EQ(o.out, "");
  }
  Output use = RunCommand({"mandates", "verify", "--offline", token, "--did-document", did,
                           "--use", "k1"});
  EXPECT_NE(use.err.find("--use"), std::string::npos) << use.err;
  // Online, --use needs a role that may use mandates, and the server must be there.
  EXPECT_EQ(RunCommand({"--server", "http://127.0.0.1:1", "mandates", "verify", token}).exit_code,
            3);
  EXPECT_EQ(RunCommand({"--server", "http://127.0.0.1:1", "mandates", "fetch", token, "--out",
                        docs})
                .exit_code,
            3);
  Output no_token = RunCommand({"--server", url_, "mandates", "verify", token});
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_NE(no_token.err.find("error 401"), std::string::npos) << no_token.err;
}

// The real mandatectl binary: the exit codes and output above survive the process boundary.
class MandatectlBinaryTest : public CliMandateTest {
 protected:
  using Ran = testing::CliRun;
  // mandatectl with `args` and no MANDATED_* variables (tests/support/mandatectl_run.h).
  Ran Exec(const std::vector<std::string>& args) { return testing::RunMandatectl(args, Path("exec")); }
};

TEST_F(MandatectlBinaryTest, VerifiesOnlineAndOfflineAlike) {
  const std::string token = Path("bin.jwt");
  const std::string docs = Path("bin-docs");
  Ran issued = Exec({"--server", url_, "--token", server_->bootstrap_token(), "--principal",
                     principal_, "mandates", "issue", "--agent", agent_, "--valid-from",
                     valid_from_, "--valid-until", valid_until_, "--terms", Path("terms.json"),
                     "--token-out", token});
  ASSERT_EQ(issued.exit_code, 0) << issued.err;
  const std::string id = testing::StringField(ParseOrDie(issued.out), "id");
  ASSERT_EQ(Exec({"--server", url_, "mandates", "fetch", token, "--out", docs}).exit_code, 0);
  Fetch(token, docs);
  Ran online = Exec({"--server", url_, "--token", server_->bootstrap_token(), "mandates",
                     "verify", token});
  ASSERT_EQ(online.exit_code, 0) << online.err;
  const std::string at =
      std::to_string(ParseOrDie(online.out).Find("checked_at")->as_int64().value_or(0));
  Ran offline = Exec({"mandates", "verify", "--offline", token, "--did-document",
                      docs + "/did.json", "--status-list", docs + "/" + lists_.at(0), "--at", at});
  EXPECT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_EQ(offline.out, online.out);

  ASSERT_EQ(Exec({"--server", url_, "--token", server_->bootstrap_token(), "--principal",
                  principal_, "mandates", "revoke", id})
                .exit_code,
            0);
  ASSERT_EQ(Exec({"--server", url_, "mandates", "fetch", token, "--out", docs}).exit_code, 0);
  online = Exec({"--server", url_, "--token", server_->bootstrap_token(), "mandates", "verify",
                 token});
  EXPECT_EQ(online.exit_code, 1);
  EXPECT_EQ(Codes(online.out), "revoked");
  const std::string at2 =
      std::to_string(ParseOrDie(online.out).Find("checked_at")->as_int64().value_or(0));
  offline = Exec({"mandates", "verify", "--offline", token, "--did-document", docs + "/did.json",
                  "--status-list", docs + "/" + lists_.at(0), "--at", at2});
  EXPECT_EQ(offline.exit_code, 1);
  EXPECT_EQ(offline.out, online.out);
  Ran use = Exec({"mandates", "verify", "--offline", token, "--did-document", docs + "/did.json",
                  "--use", "k1"});
  EXPECT_EQ(use.exit_code, 2);
  EXPECT_EQ(use.out, "");
}

}  // namespace
}  // namespace mandated::cli
