// The operator token: a configured one that looks like a credential or session token is refused
// at start (it could never be used), a generated one has its documented form, and the server
// takes MANDATED_BOOTSTRAP_TOKEN out of its environment (/proc/<pid>/environ, children).
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "api/app.h"
#include "api/config.h"
#include "base/secret.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

api::ServerConfig LoopbackConfig(const std::string& data_dir) {
  api::ServerConfig config;
  config.data_dir = data_dir;
  config.listen_host = "127.0.0.1";
  config.listen_port = 0;
  config.worker_threads = 2;
  return config;
}

Result<std::unique_ptr<api::App>> StartWith(const std::string& data_dir,
                                            std::optional<std::string> token) {
  api::App::Secrets secrets;
  if (token.has_value()) {
    secrets.bootstrap_token = SecretBytes(AsBytes(*token));
  }
  return api::App::Start(LoopbackConfig(data_dir), std::move(secrets));
}

// AccessGuard sends every bearer token starting with crd_ or ses_ to the directory, so an
// operator token of that form would lock the operator out: the start refuses it.
TEST(OperatorToken, ConfiguredTokenShapedLikeACredentialOrSessionIsRefused) {
  testing::TempDir dir;
  for (const std::string token : {"crd_operator-token-0123456789", "ses_operator-token-0123456789",
                                  "crd_", "ses_0123456789abcdef"}) {
    SCOPED_TRACE(token);
    Result<std::unique_ptr<api::App>> app = StartWith(dir.Sub("data"), token);
    ASSERT_FALSE(app.ok());
    EXPECT_EQ(app.error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(app.error().reason(), "bad-config");
    EXPECT_FALSE(std::filesystem::exists(dir.Sub("data")));  // refused before anything is made
    if (token.size() >= 16) {  // shorter ones fail the length rule first
      EXPECT_NE(app.error().message().find("must not start with \"crd_\" or \"ses_\""),
                std::string::npos)
          << app.error().ToString();
    }
  }
  // Only the prefix of a directory token is refused: the same text elsewhere is fine.
  Result<std::unique_ptr<api::App>> fine = StartWith(dir.Sub("data"), "my-crd_ses_operator-token");
  ASSERT_TRUE(fine.ok()) << fine.error().ToString();
}

TEST(OperatorToken, BinaryRefusesADirectoryShapedTokenAtStart) {
  testing::TempDir dir;
  testing::ServerProcess server(dir.Sub("data"),
                                {{"MANDATED_BOOTSTRAP_TOKEN", "crd_operator-token-0123456789"}});
  EXPECT_FALSE(server.Start());
  EXPECT_NE(server.Stderr().find("bad-config"), std::string::npos) << server.Stderr();
  EXPECT_EQ(server.Stderr().find("crd_operator-token-0123456789"), std::string::npos)
      << "the refused token was printed";
}

// Without a configured token, the first start generates one: "mdt_op_" and 43 base64url
// characters (32 random bytes), which then authenticates.
TEST(OperatorToken, GeneratedTokenHasItsFormAndAuthenticates) {
  testing::TempDir dir;
  Result<std::unique_ptr<api::App>> app = StartWith(dir.Sub("data"), std::nullopt);
  ASSERT_TRUE(app.ok()) << app.error().ToString();
  std::optional<SecretBytes> token = (*app)->TakeGeneratedToken();
  ASSERT_TRUE(token.has_value());
  const std::string text(token->chars());
  ASSERT_EQ(text.size(), 7u + 43u);
  EXPECT_EQ(text.substr(0, 7), "mdt_op_");
  Result<Bytes> raw = Base64UrlDecode(text.substr(7));
  ASSERT_TRUE(raw.ok()) << text;
  EXPECT_EQ(raw->size(), 32u);

  api::App& a = **app;
  Status run_status;
  std::thread serving([&a, &run_status] { run_status = a.Run(); });
  httplib::Client client("127.0.0.1", a.port());
  auto r = client.Get("/v1/keys", {{"Authorization", "Bearer " + text}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  a.Stop();
  serving.join();
  EXPECT_TRUE(run_status.ok()) << run_status.ToString();
}

// A first start that fails (here: its port is taken) stores no token it never showed: the next
// start generates one and shows it.
TEST(OperatorToken, AFirstStartThatFailsLeavesTheTokenToTheNextOne) {
  testing::TempDir dir;
  httplib::Server squatter;
  const int busy = squatter.bind_to_any_port("127.0.0.1");
  ASSERT_GT(busy, 0);
  api::ServerConfig on_busy = LoopbackConfig(dir.Sub("data"));
  on_busy.listen_port = busy;
  Result<std::unique_ptr<api::App>> failed = api::App::Start(on_busy, api::App::Secrets());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().reason(), "listen-failed") << failed.error().ToString();
  Result<std::unique_ptr<api::App>> app = StartWith(dir.Sub("data"), std::nullopt);
  ASSERT_TRUE(app.ok()) << app.error().ToString();
  std::optional<SecretBytes> token = (*app)->TakeGeneratedToken();
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(std::string(token->chars()).substr(0, 7), "mdt_op_");
}

// A did:web names a host: listening on an IPv6 address without --public-host is refused at
// start (bad-config) before anything is made on disk; with one it starts.
TEST(ServerIdentity, AnIpv6ListenAddressNeedsAPublicHost) {
  testing::TempDir dir;
  api::ServerConfig v6 = LoopbackConfig(dir.Sub("data"));
  v6.listen_host = "::1";
  Result<std::unique_ptr<api::App>> refused = api::App::Start(v6, api::App::Secrets());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().reason(), "bad-config");
  EXPECT_EQ(refused.error().message(),
            "--public-host: required when listening on an IPv6 address (::1): the service's "
            "did:web names a host");
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("data")));
  v6.public_host = "pay.example.com";
  Result<std::unique_ptr<api::App>> named = api::App::Start(v6, api::App::Secrets());
  if (!named.ok() && named.error().reason() == "listen-failed") {
    GTEST_SKIP() << "no IPv6 loopback here: " << named.error().ToString();
  }
  ASSERT_TRUE(named.ok()) << named.error().ToString();
  EXPECT_EQ((*named)->service_did(), "did:web:pay.example.com");
}

// Nor can 0.0.0.0 (every address) name the service: refused without --public-host, before
// anything is on disk (its did:web, and the audit origin fixed at first start, would name no
// host anyone reaches); with one it starts.
TEST(ServerIdentity, AWildcardListenAddressNeedsAPublicHost) {
  testing::TempDir dir;
  api::ServerConfig any = LoopbackConfig(dir.Sub("data"));
  any.listen_host = "0.0.0.0";
  Result<std::unique_ptr<api::App>> refused = api::App::Start(any, api::App::Secrets());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().reason(), "bad-config");
  EXPECT_NE(refused.error().message().find("required when listening on every address (0.0.0.0)"),
            std::string::npos);
  any.listen_host = "0";  // another spelling of it
  Result<std::unique_ptr<api::App>> also = api::App::Start(any, api::App::Secrets());
  ASSERT_FALSE(also.ok());
  EXPECT_EQ(also.error().reason(), "bad-config");
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("data")));
  any.public_host = "pay.example.com";
  Result<std::unique_ptr<api::App>> named = api::App::Start(any, api::App::Secrets());
  ASSERT_TRUE(named.ok()) << named.error().ToString();
  EXPECT_EQ((*named)->service_did(), "did:web:pay.example.com");
}

// The token is read at start, then overwritten where it lay in the environment and unset: the
// server's /proc/<pid>/environ no longer shows it (its other variables are still there), and the
// token still authenticates.
TEST(OperatorToken, ServerTakesTheTokenOutOfItsEnvironment) {
  testing::TempDir dir;
  const std::string token = "environ-check-operator-token-4f1c9a";
  testing::ServerProcess server(dir.Sub("data"), {{"MANDATED_BOOTSTRAP_TOKEN", token},
                                                  {"MANDATED_ENVIRON_TEST_MARK", "still-here"}});
  ASSERT_TRUE(server.Start()) << server.Stderr();
  std::ifstream in("/proc/" + std::to_string(server.pid()) + "/environ", std::ios::binary);
  ASSERT_TRUE(in.good());
  const std::string environ_text((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
  EXPECT_NE(environ_text.find("MANDATED_ENVIRON_TEST_MARK=still-here"), std::string::npos);
  EXPECT_EQ(environ_text.find("MANDATED_BOOTSTRAP_TOKEN"), std::string::npos);
  EXPECT_EQ(environ_text.find(token), std::string::npos);

  httplib::Client client(server.host(), server.port());
  auto r = client.Get("/v1/keys", {{"Authorization", "Bearer " + token}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace mandated
