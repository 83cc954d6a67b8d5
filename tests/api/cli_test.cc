// mandatectl against a real server: help on every command, text and --json output, errors.
#include "cli/commands.h"

#include <gtest/gtest.h>

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
    args.insert(args.begin(), {"--server", url_, "--token", server_->bootstrap_token()});
    return RunCommand(args);
  }
  testing::TempDir dir_;
  std::unique_ptr<testing::ServerProcess> server_;
  std::string url_;
};

TEST_F(CliTest, EveryCommandHasHelp) {
  for (auto cmd : std::vector<std::vector<std::string>>{
           {"version"}, {"health"}, {"principals", "create"}, {"principals", "list"},
           {"principals", "get"}, {"keys", "create"}, {"keys", "list"}, {"keys", "get"},
           {"keys", "rotate"}, {"keys", "disable"}}) {
    cmd.push_back("--help");
    Output o = RunCommand(cmd);
    EXPECT_EQ(o.exit_code, 0);
    EXPECT_EQ(o.out.rfind("Usage: mandatectl " + cmd[0], 0), 0u) << o.out;
  }
  Output top = RunCommand({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("principals create --name NAME"), std::string::npos);
  EXPECT_EQ(RunCommand({}).exit_code, 2);
  EXPECT_EQ(RunCommand({"frobnicate"}).exit_code, 2);
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
  Output created = Run({"--json", "keys", "create", "--type", "secp256k1", "--purpose", "custody",
                        "--owner", "prn_a"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  Result<json::Value> k = json::Parse(created.out);
  ASSERT_TRUE(k.ok());
  const std::string id = k->Find("id")->as_string();
  EXPECT_EQ(k->Find("address")->as_string().substr(0, 2), "0x");
  Output listed = Run({"keys", "list", "--owner", "prn_a"});
  EXPECT_EQ(listed.out.rfind(id + "  secp256k1  custody  prn_a  active  did:key:zQ3s", 0), 0u)
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
  Output health = Run({"health"});
  EXPECT_EQ(health.exit_code, 0);
  EXPECT_EQ(health.out, url_ + ": ready\n");
}

}  // namespace
}  // namespace mandated::cli
