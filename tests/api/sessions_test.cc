// Agent sessions and rate limits over real HTTP against the real server binary: an agent opens
// a session with a signed assertion, replays are refused, revocation and suspension take effect
// on the very next request, log lines carry the session id, and 429 carries Retry-After.
#include <gtest/gtest.h>
#include <httplib.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/random.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"
#include "tests/support/http_json.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::StringField;
using testing::ResponseJson;
using testing::ServerProcess;

class SessionsApiTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> args = {}) {
    server_ = std::make_unique<ServerProcess>(dir_.Sub("data"), std::map<std::string, std::string>{},
                                              std::move(args));
    ASSERT_TRUE(server_->Start()) << server_->Stderr();
    client_ = std::make_unique<httplib::Client>(server_->host(), server_->port());
    op_ = {{"Authorization", "Bearer " + server_->bootstrap_token()}};
  }  static httplib::Headers Bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }
  json::Value Post(const std::string& path, const httplib::Headers& h, const std::string& body,
                   int want) {
    auto r = client_->Post(path, h, body, "application/json");
    EXPECT_TRUE(r);
    if (r) {
      EXPECT_EQ(r->status, want) << path << ": " << r->body;
    }
    return ResponseJson(r);
  }
  std::string ProblemType(const httplib::Result& r) {
    json::Value b = ResponseJson(r);
    return StringField(b, "type");
  }

  // Operator: a principal, its admin user and an admin credential; returns the admin token.
  std::string SetUpPrincipal() {
    principal_ = StringField(Post("/v1/principals", op_, R"({"name":"Acme"})", 201), "id");
    const std::string base = "/v1/principals/" + principal_;
    const std::string user =
        StringField(Post(base + "/users", op_, R"({"name":"alice","roles":["admin"]})", 201), "id");
    return StringField(Post(base + "/credentials", op_,
                    R"({"role":"admin","user":")" + user + R"("})", 201),
               "token");
  }

  std::string Assertion(const signer::PrivateKey& key, const std::string& did,
                        const std::string& aud, const std::string& jti) {
    json::Value header = json::Value::Object();
    header.Set("typ", json::Value::String("JWT"));
    header.Set("kid", json::Value::String(
                          signer::DidKeyVerificationMethodId(*signer::DerivePublicKey(key))));
    const int64_t now = SystemClock::Get().NowUnixSeconds();
    json::Value claims = json::Value::Object();
    claims.Set("iss", json::Value::String(did));
    claims.Set("sub", json::Value::String(did));
    claims.Set("aud", json::Value::String(aud));
    claims.Set("iat", json::Value::Int(now));
    claims.Set("exp", json::Value::Int(now + 120));
    claims.Set("jti", json::Value::String(jti));
    return *signer::SignJws(key, header, json::Write(claims));
  }

  testing::TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
  httplib::Headers op_;
  std::string principal_;
};

TEST_F(SessionsApiTest, AgentOpensSessionWithAssertionAndLosesItAtOnce) {
  StartServer();
  const httplib::Headers admin = Bearer(SetUpPrincipal());
  const std::string base = "/v1/principals/" + principal_;
  signer::PrivateKey key = *signer::GenerateKey(signer::KeyType::kP256, SystemRandom::Get());
  const std::string did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(key));
  json::Value agent = Post(base + "/agents", admin,
                           R"({"name":"shopper","did":")" + did + R"("})", 201);
  const std::string agent_id = StringField(agent, "id");
  EXPECT_EQ(StringField(agent, "key_type"), "P-256");
  EXPECT_EQ(StringField(agent, "custody"), "self");

  const std::string aud = StringField(ResponseJson(client_->Get("/.well-known/did.json")), "id");
  ASSERT_EQ(aud.rfind("did:web:127.0.0.1%3A", 0), 0u) << aud;
  const std::string assertion = Assertion(key, did, aud, "jti-http-0000000001");
  const std::string body = R"({"assertion":")" + assertion +
                           R"(","task":"buy one report","spend_cap":{"asset":"USD","max":"2500"}})";
  json::Value session = Post("/v1/sessions", {}, body, 201);
  const std::string token = StringField(session, "token");
  const std::string session_id = StringField(session, "id");
  ASSERT_EQ(token.rfind(session_id + ".", 0), 0u);
  EXPECT_EQ(StringField(session, "agent"), agent_id);
  EXPECT_EQ(StringField(*session.Find("spend_cap"), "max"), "2500");

  // The replayed assertion is refused and opens nothing.
  auto replay = client_->Post("/v1/sessions", body, "application/json");
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->status, 401);
  EXPECT_EQ(ProblemType(replay), "urn:mandated:problem:assertion-replayed");
  // Wrong audience.
  auto wrong_aud = client_->Post(
      "/v1/sessions",
      R"({"assertion":")" + Assertion(key, did, "did:web:other.example", "jti-http-0000000002") +
          R"(","task":"t"})",
      "application/json");
  ASSERT_TRUE(wrong_aud);
  EXPECT_EQ(wrong_aud->status, 401);
  EXPECT_EQ(ProblemType(wrong_aud), "urn:mandated:problem:wrong-audience");

  auto me = client_->Get("/v1/session", Bearer(token));
  ASSERT_TRUE(me);
  ASSERT_EQ(me->status, 200) << me->body;
  EXPECT_EQ(StringField(ResponseJson(me), "state"), "active");
  json::Value listed = ResponseJson(client_->Get(base + "/sessions?agent=" + agent_id, admin));
  ASSERT_EQ(listed.Find("items")->items().size(), 1u);
  EXPECT_EQ(listed.Find("items")->items()[0].Find("token"), nullptr);

  // The admin revokes it: the very next request with it is refused.
  Post(base + "/sessions/" + session_id + "/revoke", admin, "", 200);
  auto after = client_->Get("/v1/session", Bearer(token));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401);
  EXPECT_EQ(ProblemType(after), "urn:mandated:problem:session-revoked");

  // A second session; suspending the agent stops it on the next request.
  json::Value second = Post(
      "/v1/sessions", {},
      R"({"assertion":")" + Assertion(key, did, aud, "jti-http-0000000003") + R"(","task":"t2"})",
      201);
  const std::string token2 = StringField(second, "token");
  ASSERT_EQ(client_->Get("/v1/session", Bearer(token2))->status, 200);
  Post(base + "/agents/" + agent_id + "/suspend", admin, "", 200);
  auto suspended = client_->Get("/v1/session", Bearer(token2));
  ASSERT_TRUE(suspended);
  EXPECT_EQ(suspended->status, 401);
  EXPECT_EQ(ProblemType(suspended), "urn:mandated:problem:agent-suspended");
  // Resumed, the agent's old session stays ended, and says so (not that the agent is still
  // suspended); once the agent is revoked, that is what it says.
  Post(base + "/agents/" + agent_id + "/resume", admin, "", 200);
  auto resumed = client_->Get("/v1/session", Bearer(token2));
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->status, 401);
  EXPECT_EQ(ProblemType(resumed), "urn:mandated:problem:session-revoked");
  Post(base + "/agents/" + agent_id + "/revoke", admin, "", 200);
  auto revoked = client_->Get("/v1/session", Bearer(token2));
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, 401);
  EXPECT_EQ(ProblemType(revoked), "urn:mandated:problem:agent-revoked");

  // Access-log lines of the agent's requests carry its session and agent.
  const std::string log = server_->Stderr();
  EXPECT_NE(log.find("\"route\":\"/v1/session\",\"status\":200"), std::string::npos);
  EXPECT_NE(log.find("\"session\":\"" + StringField(second, "id") + "\",\"agent\":\"" + agent_id + "\""),
            std::string::npos)
      << log;
}

TEST_F(SessionsApiTest, RateLimitAnswers429WithRetryAfterAndShowsInMetrics) {
  StartServer({"--rate-limits", "admin=1/2"});
  const httplib::Headers admin = Bearer(SetUpPrincipal());
  const std::string path = "/v1/principals/" + principal_ + "/agents";
  std::vector<int> statuses;
  for (int i = 0; i < 2; ++i) {
    auto r = client_->Get(path, admin);
    ASSERT_TRUE(r);
    statuses.push_back(r->status);
  }
  auto last = client_->Get(path, admin);
  ASSERT_TRUE(last);
  statuses.push_back(last->status);
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 429}));
  EXPECT_EQ(last->get_header_value("Retry-After"), "1");
  EXPECT_EQ(ProblemType(last), "urn:mandated:problem:rate-limited");
  // The operator has its own bucket and is not affected.
  EXPECT_EQ(client_->Get("/v1/principals", op_)->status, 200);

  const std::string metrics = client_->Get("/metrics")->body;
  EXPECT_NE(metrics.find("mandated_rate_limit_per_second{role=\"admin\"} 1\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("mandated_rate_limit_burst{role=\"admin\"} 2\n"), std::string::npos);
  EXPECT_NE(metrics.find("mandated_rate_limit_per_second{role=\"agent\"} 50\n"), std::string::npos);
  EXPECT_NE(metrics.find(
                "mandated_rate_limit_decisions_total{decision=\"limited\",role=\"admin\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find(
                "mandated_rate_limit_decisions_total{decision=\"allowed\",role=\"admin\"} 2\n"),
            std::string::npos);
}

}  // namespace
}  // namespace mandated
