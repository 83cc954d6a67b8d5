// mandatectl against a real server: help on every command, text and --json output, errors,
// and the principal / agent flows (users, credentials, agents, sessions, agent keys).
#include "cli/commands.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>

#include <filesystem>
#include <thread>

#include "base/json.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated::cli {
namespace {

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<testing::ServerProcess>(dir_.Sub("data"));
    ASSERT_TRUE(server_->Start()) << server_->Stderr();
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  Output Run(std::vector<std::string> args) {
    return As(server_->bootstrap_token(), std::move(args));
  }
  // Runs with `token` as the bearer token ("" for none).
  Output As(const std::string& token, std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", url_, "--token", token});
    return RunCommand(args);
  }
  // Runs with `token` inside the principal `principal_` (created by NewPrincipal).
  Output InPrincipal(const std::string& token, std::vector<std::string> args) {
    args.insert(args.begin(), {"--principal", principal_});
    return As(token, std::move(args));
  }
  void NewPrincipal(const std::string& name) {
    Output p = Run({"principals", "create", "--name", name});
    ASSERT_EQ(p.exit_code, 0) << p.err;
    principal_ = FirstWord(p.out);
  }
  // Creates an admin user and an admin credential for it; returns the credential's token.
  std::string AdminToken() {
    Output user = InPrincipal(server_->bootstrap_token(),
                              {"users", "create", "--name", "Alice", "--role", "admin"});
    EXPECT_EQ(user.exit_code, 0) << user.err;
    Output cred = InPrincipal(server_->bootstrap_token(),
                              {"credentials", "create", "--role", "admin", "--user",
                               FirstWord(user.out), "--name", "alice-laptop"});
    EXPECT_EQ(cred.exit_code, 0) << cred.err;
    return TokenIn(cred.out);
  }
  static std::string FirstWord(const std::string& s) { return s.substr(0, s.find(' ')); }
  // Replaces the file at `path` with `text`.
  static void WriteText(const std::string& path, const std::string& text) {
    FILE* f = fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr) << path;
    ASSERT_EQ(fwrite(text.data(), 1, text.size(), f), text.size());
    ASSERT_EQ(fclose(f), 0);
  }
  static std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n') + 1); }
  // The value of the "token: ..." line of a creating command's output.
  static std::string TokenIn(const std::string& out) {
    const size_t at = out.find("\ntoken: ");
    if (at == std::string::npos) {
      return "";
    }
    const size_t begin = at + 8;
    return out.substr(begin, out.find('\n', begin) - begin);
  }
  testing::TempDir dir_;
  std::unique_ptr<testing::ServerProcess> server_;
  std::string url_;
  std::string principal_;
};

TEST_F(CliTest, EveryCommandHasHelp) {
  for (auto cmd : std::vector<std::vector<std::string>>{
           {"version"}, {"health"}, {"principals", "create"}, {"principals", "list"},
           {"principals", "get"}, {"keys", "create"}, {"keys", "list"}, {"keys", "get"},
           {"keys", "rotate"}, {"keys", "disable"}, {"users", "create"}, {"users", "list"},
           {"users", "get"}, {"users", "disable"}, {"credentials", "create"},
           {"credentials", "list"}, {"credentials", "get"}, {"credentials", "revoke"},
           {"agents", "create"}, {"agents", "list"}, {"agents", "get"}, {"agents", "suspend"},
           {"agents", "resume"}, {"agents", "revoke"}, {"sessions", "list"}, {"sessions", "get"},
           {"sessions", "revoke"}, {"sessions", "open-for"}, {"agent", "keygen"},
           {"agent", "did"}, {"session", "open"}, {"session", "show"}, {"session", "end"}}) {
    cmd.push_back("--help");
    Output o = RunCommand(cmd);
    EXPECT_EQ(o.exit_code, 0);
    EXPECT_EQ(o.out.rfind("Usage: mandatectl " + cmd[0], 0), 0u) << o.out;
  }
  Output top = RunCommand({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("principals create --name NAME"), std::string::npos);
  EXPECT_NE(top.out.find("  --principal ID "), std::string::npos);
  EXPECT_NE(top.out.find("  session open --key FILE --task TASK"), std::string::npos);
  EXPECT_EQ(RunCommand({}).exit_code, 2);
  EXPECT_EQ(RunCommand({"frobnicate"}).exit_code, 2);
  // Help says what is true: health asks /readyz only; --token is visible to other users.
  EXPECT_EQ(RunCommand({"health", "--help"}).out,
            "Usage: mandatectl health\n  check that the server is ready to serve (GET /readyz)\n");
  EXPECT_NE(top.out.find("  --token-file FILE the bearer token, read from FILE (one line)"),
            std::string::npos)
      << top.out;
  EXPECT_NE(top.out.find("  --token TOKEN     the bearer token on the command line, where other "
                         "local users can\n                    see it (ps, /proc): prefer "
                         "MANDATED_TOKEN or --token-file\n"),
            std::string::npos)
      << top.out;
}

TEST_F(CliTest, CreatesListsAndGetsPrincipals) {
  Output created = Run({"--json", "principals", "create", "--name", "Acme", "--ceiling",
                        "USD:month:500000", "--ceiling",
                        "eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913:day:1000000"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  Result<json::Value> v = json::Parse(created.out);
  ASSERT_TRUE(v.ok()) << created.out;
  const std::string id = v->Find("id")->as_string();
  EXPECT_EQ(json::Write(*v->Find("ceilings")),
            R"([{"asset":"USD","window":"month","max":"500000"},{"asset":"eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","window":"day","max":"1000000"}])");
  Output listed = Run({"principals", "list"});
  EXPECT_EQ(listed.exit_code, 0);
  EXPECT_EQ(listed.out.rfind(id + "  Acme  [USD 500000/month]", 0), 0u) << listed.out;
  Output got = Run({"principals", "get", id});
  EXPECT_EQ(got.exit_code, 0);
  EXPECT_EQ(got.out.substr(0, id.size()), id);
}

TEST_F(CliTest, ManagesKeys) {
  Output owner = Run({"--json", "principals", "create", "--name", "Key Owner"});
  ASSERT_EQ(owner.exit_code, 0) << owner.err;
  const std::string owner_id = json::Parse(owner.out)->Find("id")->as_string();
  Output typo = Run({"keys", "create", "--type", "secp256k1", "--purpose", "custody", "--owner",
                     "prn_typo"});
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_NE(typo.err.find("urn:mandated:problem:bad-key-request"), std::string::npos) << typo.err;
  Output created = Run({"--json", "keys", "create", "--type", "secp256k1", "--purpose", "custody",
                        "--owner", owner_id});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  Result<json::Value> k = json::Parse(created.out);
  ASSERT_TRUE(k.ok());
  const std::string id = k->Find("id")->as_string();
  EXPECT_EQ(k->Find("address")->as_string().substr(0, 2), "0x");
  Output listed = Run({"keys", "list", "--owner", owner_id});
  EXPECT_EQ(listed.out.rfind(id + "  secp256k1  custody  " + owner_id + "  active  did:key:zQ3s", 0), 0u)
      << listed.out;
  Output rotated = Run({"keys", "rotate", id});
  ASSERT_EQ(rotated.exit_code, 0);
  EXPECT_NE(rotated.out.find("  active  "), std::string::npos);
  EXPECT_NE(Run({"keys", "get", id}).out.find("  retired  "), std::string::npos);
  EXPECT_NE(Run({"keys", "disable", id}).out.find("  disabled  "), std::string::npos);
  EXPECT_EQ(Run({"keys", "create", "--type", "RSA", "--purpose", "x"}).exit_code, 1);
}

TEST_F(CliTest, RefusalsAndUnreachableServersHaveDistinctExitCodes) {
  Output dup = Run({"principals", "create", "--name", "Same"});
  ASSERT_EQ(dup.exit_code, 0);
  dup = Run({"principals", "create", "--name", "Same"});
  EXPECT_EQ(dup.exit_code, 1);
  EXPECT_NE(dup.err.find("urn:mandated:problem:principal-name-taken"), std::string::npos) << dup.err;
  Output no_token = RunCommand({"--server", url_, "principals", "list"});
  EXPECT_EQ(no_token.exit_code, 1);
  Output down = RunCommand({"--server", "http://127.0.0.1:1", "health"});
  EXPECT_EQ(down.exit_code, 3);
  EXPECT_EQ(Run({"principals", "create"}).exit_code, 2);
  // Only what the command's usage names: a misspelled flag, a word too many or a single-valued
  // flag given twice is a usage error that sends nothing (before, each was silently dropped:
  // "--celing" made a principal without its ceiling).
  Output typo = Run({"principals", "create", "--name", "Typo", "--celing", "USD:month:100"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("unknown flag --celing"), std::string::npos) << typo.err;
  Output extra = Run({"principals", "create", "--name", "Acme", "Corp"});
  EXPECT_EQ(extra.exit_code, 2);
  EXPECT_NE(extra.err.find("unexpected argument \"Corp\""), std::string::npos) << extra.err;
  Output twice = Run({"principals", "create", "--name", "One", "--name", "Two"});
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_NE(twice.err.find("--name given more than once"), std::string::npos) << twice.err;
  EXPECT_EQ(Run({"--json", "principals", "list"}).out.find("\"Typo\""), std::string::npos);
  EXPECT_EQ(Run({"--json", "principals", "list"}).out.find("\"One\""), std::string::npos);
  // Repeatable flags repeat, and --flag=value is --flag value.
  Output eq = Run({"principals", "create", "--name=Eq Corp", "--ceiling=USD:month:100",
                   "--ceiling", "EUR:month:100"});
  EXPECT_EQ(eq.exit_code, 0) << eq.err;
  EXPECT_NE(eq.out.find("Eq Corp"), std::string::npos) << eq.out;
  Output health = Run({"health"});
  EXPECT_EQ(health.exit_code, 0);
  EXPECT_EQ(health.out, url_ + ": ready\n");
}

// A server URL that cannot be one is a usage error (2), not an unreachable server (3); a
// trailing "/" is dropped.
TEST_F(CliTest, BadServerUrlsAreUsageErrors) {
  Output bare = RunCommand({"--server", "bad-server-url", "health"});
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_EQ(bare.out, "");
  EXPECT_EQ(bare.err, "mandatectl: bad server URL \"bad-server-url\": use http:// or https://\n");
  const std::string hostport = url_.substr(std::string("http://").size());
  Output ftp = RunCommand({"--server", "ftp://" + hostport, "health"});
  EXPECT_EQ(ftp.exit_code, 2);
  EXPECT_EQ(ftp.err, "mandatectl: bad server URL \"ftp://" + hostport +
                         "\": use http:// or https://\n");
  EXPECT_EQ(RunCommand({"--server", hostport, "health"}).exit_code, 2);
  Output path = RunCommand({"--server", url_ + "/v1", "health"});
  EXPECT_EQ(path.exit_code, 2);
  EXPECT_EQ(path.err, "mandatectl: bad server URL \"" + url_ +
                          "/v1\": want http[s]://HOST[:PORT], without a path\n");
  // The same through a command that needs a principal and a token, and one that posts.
  EXPECT_EQ(RunCommand({"--server", "bad-server-url", "--principal", "prn_x", "users", "list"})
                .exit_code,
            2);
  EXPECT_EQ(Run({"--server", "bad-server-url", "principals", "create", "--name", "X"}).exit_code,
            2);
  // A trailing "/" is dropped, from the URL and from what is printed.
  Output slash = RunCommand({"--server", url_ + "/", "health"});
  EXPECT_EQ(slash.exit_code, 0) << slash.err;
  EXPECT_EQ(slash.out, url_ + ": ready\n");
  Output slashed = Run({"--server", url_ + "//", "principals", "create", "--name", "Slash"});
  EXPECT_EQ(slashed.exit_code, 0) << slashed.err;
  // Only no answer at all is 3; an IPv6 address in brackets is a host like any other.
  EXPECT_EQ(RunCommand({"--server", "http://127.0.0.1:1/", "health"}).exit_code, 3);
  EXPECT_EQ(RunCommand({"--server", "http://[::1]:1", "health"}).exit_code, 3);
  EXPECT_EQ(RunCommand({"--server", "http://[fe80::a:b]:1", "health"}).exit_code, 3);
}

// --token-file reads the bearer token from a file (its one line, without the line end), so the
// token is not on the command line; a file that cannot give one is a usage error.
TEST_F(CliTest, TokenFileHoldsTheBearerToken) {
  const std::string file = dir_.Sub("op.token");
  WriteText(file, server_->bootstrap_token() + "\n");
  Output created =
      RunCommand({"--server", url_, "--token-file", file, "principals", "create", "--name", "Filed"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(created.out.substr(created.out.find(' ')), "  Filed\n");
  WriteText(file, server_->bootstrap_token() + "\r\n");
  Output listed = RunCommand({"--server", url_, "--token-file", file, "principals", "list"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out, created.out);
  // A wrong token in the file reaches the server, which refuses it.
  WriteText(file, "mdt_op_wrong\n");
  EXPECT_EQ(RunCommand({"--server", url_, "--token-file", file, "principals", "list"}).exit_code,
            1);

  const std::string missing = dir_.Sub("missing.token");
  Output absent = RunCommand({"--server", url_, "--token-file", missing, "principals", "list"});
  EXPECT_EQ(absent.exit_code, 2);
  EXPECT_EQ(absent.out, "");
  EXPECT_EQ(absent.err, "mandatectl: --token-file: cannot read " + missing +
                            ": No such file or directory\n");
  WriteText(file, "\n");
  Output empty = RunCommand({"--server", url_, "--token-file", file, "principals", "list"});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_EQ(empty.err, "mandatectl: --token-file: " + file + " is empty\n");
  WriteText(file, "one\ntwo\n");
  Output two = RunCommand({"--server", url_, "--token-file", file, "principals", "list"});
  EXPECT_EQ(two.exit_code, 2);
  EXPECT_EQ(two.err, "mandatectl: --token-file: " + file + " holds more than one line\n");
  Output dir = RunCommand({"--server", url_, "--token-file", dir_.Sub(""), "principals", "list"});
  EXPECT_EQ(dir.exit_code, 2);
  Output both = Run({"--token-file", file, "principals", "list"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_EQ(both.err, "mandatectl: give --token or --token-file, not both\n");
  EXPECT_EQ(RunCommand({"principals", "list", "--token-file"}).exit_code, 2);
  // A pipe works as a file does (`--token-file <(pass show ...)`).
  const std::string fifo = dir_.Sub("token.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] { WriteText(fifo, server_->bootstrap_token() + "\n"); });
  Output piped = RunCommand({"--server", url_, "--token-file", fifo, "principals", "list"});
  writer.join();
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
}

// The quickstart path: the operator bootstraps a principal's admin; the admin registers an agent
// whose key was generated locally; the agent opens a session with a signed assertion; suspending
// the agent ends the session at once.
TEST_F(CliTest, AdminRegistersAgentThatOpensSessionUntilSuspended) {
  NewPrincipal("Acme");
  const std::string admin = AdminToken();
  ASSERT_EQ(admin.rfind("crd_", 0), 0u) << admin;

  const std::string key = dir_.Sub("agent.key");
  Output gen = RunCommand({"agent", "keygen", "--out", key});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  struct stat st {};
  ASSERT_EQ(stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string file = testing::ReadFileOrDie(key);
  EXPECT_EQ(file.rfind("{\"type\":\"Ed25519\",\"private_key_hex\":\"", 0), 0u);
  const std::string secret_hex = file.substr(file.find("_hex\":\"") + 7, 64);
  EXPECT_EQ(gen.out.find(secret_hex), std::string::npos) << "the private key was printed";
  Output did = RunCommand({"agent", "did", "--key", key});
  ASSERT_EQ(did.exit_code, 0) << did.err;
  ASSERT_EQ(did.out.rfind("did:key:z6Mk", 0), 0u) << did.out;
  const std::string agent_did = did.out.substr(0, did.out.size() - 1);
  EXPECT_NE(gen.out.find("\ndid: " + agent_did + "\n"), std::string::npos) << gen.out;
  Output again = RunCommand({"agent", "keygen", "--out", key});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  EXPECT_EQ(testing::ReadFileOrDie(key), file);
  // The key was written whole under a temporary name and linked into place: none is left.
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }

  Output agent = InPrincipal(admin, {"agents", "create", "--name", "Shopper", "--did", agent_did});
  ASSERT_EQ(agent.exit_code, 0) << agent.err;
  const std::string agent_id = FirstWord(agent.out);
  EXPECT_EQ(agent.out, agent_id + "  Shopper  self  Ed25519  active  " + agent_did + "\n");
  // Ceilings of the agent's own, shown on its line; a malformed one is a usage error.
  Output capped = InPrincipal(admin, {"--json", "agents", "create", "--name", "Capped",
                                      "--custodial", "P-256", "--ceiling", "USD:day:50000"});
  ASSERT_EQ(capped.exit_code, 0) << capped.err;
  Result<json::Value> cj = json::Parse(capped.out);
  ASSERT_TRUE(cj.ok()) << capped.out;
  EXPECT_EQ(json::Write(*cj->Find("ceilings")), R"([{"asset":"USD","window":"day","max":"50000"}])");
  Output capped_line = InPrincipal(admin, {"agents", "get", cj->Find("id")->as_string()});
  EXPECT_EQ(capped_line.out.substr(capped_line.out.size() - 18), "  [USD 50000/day]\n")
      << capped_line.out;
  Output bad = InPrincipal(admin, {"agents", "create", "--name", "Bad", "--custodial", "P-256",
                                   "--ceiling", "USD:day"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--ceiling wants ASSET:WINDOW:MAX, got \"USD:day\""), std::string::npos)
      << bad.err;

  // The agent needs no bearer token to open its session.
  Output opened = As("", {"session", "open", "--key", key, "--task", "buy paper",
                          "--ttl-minutes", "10", "--cap", "USD:5000"});
  ASSERT_EQ(opened.exit_code, 0) << opened.err;
  const std::string session_id = FirstWord(opened.out);
  const std::string session_token = TokenIn(opened.out);
  ASSERT_EQ(session_id.rfind("ses_", 0), 0u) << opened.out;
  EXPECT_EQ(session_token.rfind(session_id + ".", 0), 0u) << opened.out;
  EXPECT_NE(opened.out.find("  agent " + agent_id + "  active  expires 20"), std::string::npos);
  EXPECT_NE(opened.out.find("  task \"buy paper\"  cap USD:5000\n"), std::string::npos)
      << opened.out;
  EXPECT_NE(opened.out.find("shown once"), std::string::npos);

  Output shown = As(session_token, {"session", "show"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(shown.out, FirstLine(opened.out));
  Output shown_json = As(session_token, {"--json", "session", "show"});
  Result<json::Value> sj = json::Parse(shown_json.out);
  ASSERT_TRUE(sj.ok()) << shown_json.out;
  EXPECT_EQ(sj->Find("opened_by")->as_string(), "assertion");
  EXPECT_EQ(sj->Find("expires_at")->as_int64().value() - sj->Find("created_at")->as_int64().value(),
            600);
  EXPECT_EQ(sj->Find("token"), nullptr);
  Output listed = InPrincipal(admin, {"sessions", "list", "--agent", agent_id});
  EXPECT_EQ(listed.out, shown.out);

  Output suspended = InPrincipal(admin, {"agents", "suspend", agent_id});
  ASSERT_EQ(suspended.exit_code, 0) << suspended.err;
  EXPECT_NE(suspended.out.find("  self  Ed25519  suspended  "), std::string::npos);
  Output refused = As(session_token, {"session", "show"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.err.rfind("error 401 (urn:mandated:problem:agent-suspended): session " +
                                  session_id, 0),
            0u)
      << refused.err;
  Output got = InPrincipal(admin, {"sessions", "get", session_id});
  EXPECT_NE(got.out.find("  revoked  agent-suspended  "), std::string::npos) << got.out;
  // Resuming does not revive the session; a new assertion opens a new one.
  EXPECT_EQ(InPrincipal(admin, {"agents", "resume", agent_id}).exit_code, 0);
  EXPECT_EQ(As(session_token, {"session", "show"}).exit_code, 1);
  Output reopened = As("", {"session", "open", "--key", key, "--task", "again"});
  ASSERT_EQ(reopened.exit_code, 0) << reopened.err;
  EXPECT_NE(FirstWord(reopened.out), session_id);
}

TEST_F(CliTest, CustodialAgentGetsAnAddressAndSessionsOpenedForIt) {
  NewPrincipal("Custody Co");
  const std::string admin = AdminToken();
  Output created = InPrincipal(admin, {"--json", "agents", "create", "--name", "Vault bot",
                                       "--custodial", "secp256k1", "--chain-id", "84532",
                                       "--rate", "5/10"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  Result<json::Value> a = json::Parse(created.out);
  ASSERT_TRUE(a.ok()) << created.out;
  const std::string agent_id = a->Find("id")->as_string();
  const std::string address = a->Find("address")->as_string();
  ASSERT_EQ(address.size(), 42u);
  EXPECT_EQ(address.substr(0, 2), "0x");
  EXPECT_EQ(a->Find("did_pkh")->as_string(), "did:pkh:eip155:84532:" + address);
  Output got = InPrincipal(admin, {"agents", "get", agent_id});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, agent_id + "  Vault bot  custodial  secp256k1  active  " +
                         a->Find("did")->as_string() + "  " + address +
                         "  did:pkh:eip155:84532:" + address + "  rate 5/10\n");

  Output opened = InPrincipal(admin, {"sessions", "open-for", agent_id, "--task", "pay invoice",
                                      "--mandate", "mnd_a", "--mandate", "mnd_b"});
  ASSERT_EQ(opened.exit_code, 0) << opened.err;
  const std::string session_id = FirstWord(opened.out);
  const std::string token = TokenIn(opened.out);
  EXPECT_EQ(token.rfind(session_id + ".", 0), 0u) << opened.out;
  EXPECT_NE(opened.out.find("  task \"pay invoice\"  mandates mnd_a,mnd_b\n"),
            std::string::npos)
      << opened.out;
  Output shown = As(token, {"session", "show"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(shown.out, FirstLine(opened.out));
  Output ended = As(token, {"session", "end"});
  ASSERT_EQ(ended.exit_code, 0) << ended.err;
  EXPECT_NE(ended.out.find("  revoked  ended  "), std::string::npos) << ended.out;
  Output after = As(token, {"session", "show"});
  EXPECT_EQ(after.exit_code, 1);
  EXPECT_EQ(after.err.rfind("error 401 (urn:mandated:problem:session-revoked)", 0), 0u)
      << after.err;

  Output second = InPrincipal(admin, {"sessions", "open-for", agent_id, "--task", "t2"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const std::string second_id = FirstWord(second.out);
  Output revoked = InPrincipal(admin, {"sessions", "revoke", second_id});
  EXPECT_NE(revoked.out.find("  revoked  revoked  "), std::string::npos) << revoked.out;
  Output listed = InPrincipal(admin, {"sessions", "list"});
  EXPECT_NE(listed.out.find(session_id + "  agent " + agent_id), std::string::npos);
  EXPECT_NE(listed.out.find(second_id + "  agent " + agent_id), std::string::npos);
  EXPECT_EQ(InPrincipal(admin, {"agents", "revoke", agent_id}).exit_code, 0);
  Output resumed = InPrincipal(admin, {"agents", "resume", agent_id});
  EXPECT_EQ(resumed.exit_code, 1);
  EXPECT_NE(resumed.err.find("(urn:mandated:problem:agent-state)"), std::string::npos);
}

// Every key type signs an assertion the server accepts (EdDSA, ES256, ES256K).
TEST_F(CliTest, AgentKeysOfEveryTypeOpenSessions) {
  NewPrincipal("Types");
  for (const char* type : {"Ed25519", "P-256", "secp256k1"}) {
    const std::string key = dir_.Sub(std::string(type) + ".key");
    Output gen = RunCommand({"--json", "agent", "keygen", "--out", key, "--type", type});
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
    Result<json::Value> g = json::Parse(gen.out);
    ASSERT_TRUE(g.ok()) << gen.out;
    EXPECT_EQ(g->Find("type")->as_string(), type);
    const std::string did = g->Find("did")->as_string();
    EXPECT_EQ(RunCommand({"agent", "did", "--key", key}).out, did + "\n");
    ASSERT_EQ(Run({"--principal", principal_, "agents", "create", "--name", type, "--did", did})
                  .exit_code,
              0);
    Output opened = As("", {"session", "open", "--key", key, "--task", "t"});
    EXPECT_EQ(opened.exit_code, 0) << type << ": " << opened.err;
    EXPECT_EQ(As(TokenIn(opened.out), {"session", "show"}).exit_code, 0) << type;
  }
  // A key that is not registered is refused by the server.
  const std::string stray = dir_.Sub("stray.key");
  ASSERT_EQ(RunCommand({"agent", "keygen", "--out", stray}).exit_code, 0);
  Output refused = As("", {"session", "open", "--key", stray, "--task", "t"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("error 401 (urn:mandated:problem:unknown-agent)"), std::string::npos)
      << refused.err;
}

TEST_F(CliTest, ManagesUsersAndCredentials) {
  NewPrincipal("People");
  const std::string op = server_->bootstrap_token();
  Output bob = InPrincipal(op, {"users", "create", "--name", "Bob", "--role", "approver",
                                "--role", "auditor"});
  ASSERT_EQ(bob.exit_code, 0) << bob.err;
  const std::string bob_id = FirstWord(bob.out);
  EXPECT_EQ(bob.out, bob_id + "  Bob  approver,auditor  active\n");
  EXPECT_EQ(InPrincipal(op, {"users", "get", bob_id}).out, bob.out);
  EXPECT_EQ(InPrincipal(op, {"users", "list"}).out, bob.out);

  Output cred = InPrincipal(op, {"credentials", "create", "--role", "auditor", "--user", bob_id,
                                 "--expires-at", "4102444800"});
  ASSERT_EQ(cred.exit_code, 0) << cred.err;
  const std::string cred_id = FirstWord(cred.out);
  EXPECT_EQ(FirstLine(cred.out), cred_id + "  auditor  auditor credential  active  user " +
                                     bob_id + "  expires 2100-01-01T00:00:00Z\n");
  const std::string token = TokenIn(cred.out);
  EXPECT_EQ(token.rfind(cred_id + ".", 0), 0u);
  // The token is never shown again.
  Output listed = InPrincipal(op, {"--json", "credentials", "list"});
  EXPECT_EQ(listed.out.find(token.substr(cred_id.size() + 1)), std::string::npos);
  EXPECT_EQ(InPrincipal(op, {"credentials", "get", cred_id}).out, FirstLine(cred.out));
  // An auditor reads but does not manage.
  EXPECT_EQ(InPrincipal(token, {"users", "list"}).exit_code, 0);
  Output forbidden = InPrincipal(token, {"users", "create", "--name", "Eve", "--role", "admin"});
  EXPECT_EQ(forbidden.exit_code, 1);
  EXPECT_NE(forbidden.err.find("error 403 (urn:mandated:problem:forbidden)"), std::string::npos);
  // Disabling the user revokes its credentials.
  Output disabled = InPrincipal(op, {"users", "disable", bob_id});
  EXPECT_EQ(disabled.out, bob_id + "  Bob  approver,auditor  disabled\n");
  EXPECT_NE(InPrincipal(op, {"credentials", "get", cred_id}).out.find("  revoked"),
            std::string::npos);
  Output revoked = InPrincipal(token, {"users", "list"});
  EXPECT_EQ(revoked.exit_code, 1);
  EXPECT_NE(revoked.err.find("(urn:mandated:problem:credential-revoked)"), std::string::npos);

  Output merchant = InPrincipal(op, {"credentials", "create", "--role", "merchant"});
  const std::string merchant_id = FirstWord(merchant.out);
  EXPECT_NE(InPrincipal(op, {"credentials", "revoke", merchant_id}).out.find("  revoked"),
            std::string::npos);
  Output missing = InPrincipal(op, {"users", "get", "usr_nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("error 404 (urn:mandated:problem:user-not-found)"),
            std::string::npos);
}

TEST_F(CliTest, BadArgumentsAreUsageErrors) {
  NewPrincipal("Usage");
  // No principal given (and MANDATED_PRINCIPAL is unset in tests).
  Output no_principal = Run({"users", "list"});
  EXPECT_EQ(no_principal.exit_code, 2);
  EXPECT_NE(no_principal.err.find("--principal"), std::string::npos);
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"users", "create", "--name", "NoRole"},
           {"users", "get"},
           {"agents", "create", "--name", "x"},
           {"agents", "create", "--name", "x", "--did", "did:key:z", "--custodial", "Ed25519"},
           {"agents", "create", "--name", "x", "--custodial", "Ed25519", "--rate", "5"},
           {"agents", "create", "--name", "x", "--custodial", "Ed25519", "--chain-id", "-1"},
           {"credentials", "create", "--role", "admin", "--expires-at", "soon"},
           {"sessions", "open-for", "agt_x"},
           {"sessions", "open-for", "agt_x", "--task", "t", "--cap", "USD"},
           {"sessions", "open-for", "agt_x", "--task", "t", "--ttl-minutes", "0"},
           {"agent", "keygen"},
           {"agent", "keygen", "--out", dir_.Sub("k"), "--type", "RSA"},
           {"agent", "did", "--key", dir_.Sub("missing.key")},
           {"session", "open", "--task", "t"}}) {
    EXPECT_EQ(InPrincipal(server_->bootstrap_token(), args).exit_code, 2) << args[0] << " "
                                                                           << args[1];
  }
  // A key file that is not one is refused without echoing its content.
  const std::string bad = dir_.Sub("bad.key");
  FILE* f = fopen(bad.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("{\"type\":\"Ed25519\",\"private_key_hex\":\"0123\"}", f);
  fclose(f);
  Output bad_key = RunCommand({"agent", "did", "--key", bad});
  EXPECT_EQ(bad_key.exit_code, 2);
  EXPECT_NE(bad_key.err.find("not a mandatectl key file"), std::string::npos) << bad_key.err;
  // The server is needed to open a session: unreachable is exit 3.
  const std::string key = dir_.Sub("agent.key");
  ASSERT_EQ(RunCommand({"agent", "keygen", "--out", key}).exit_code, 0);
  EXPECT_EQ(RunCommand({"--server", "http://127.0.0.1:1", "session", "open", "--key", key,
                        "--task", "t"})
                .exit_code,
            3);
}

// The binary's own last step: an answer it cannot write (a full disk) is lost, so it exits 6,
// never 0 (nor 4, approval_required), and says why on standard error.
TEST(CliBinaryTest, AnAnswerThatCannotBeWrittenExits6) {
  std::string bin = MANDATED_SERVER_BIN;
  bin = bin.substr(0, bin.rfind('/'));
  bin = bin.substr(0, bin.rfind('/')) + "/cli/mandatectl";
  const int full = std::system((bin + " version > /dev/full 2>/dev/null").c_str());
  ASSERT_TRUE(WIFEXITED(full));
  EXPECT_EQ(WEXITSTATUS(full), 6);
  const int fine = std::system((bin + " version > /dev/null").c_str());
  ASSERT_TRUE(WIFEXITED(fine));
  EXPECT_EQ(WEXITSTATUS(fine), 0);
}

}  // namespace
}  // namespace mandated::cli
