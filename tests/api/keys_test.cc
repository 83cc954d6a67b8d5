// Keys over HTTP: admin API, did:web document and JWKS, no private key bytes in storage, logs or
// responses, and a wrong KEK stops the server (issue: signer, must-show 4).
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "base/json.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "tests/support/http_json.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::StringField;
using testing::ResponseJson;
using testing::ServerProcess;

class KeysApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.Sub("data"));
    ASSERT_TRUE(server_->Start()) << server_->Stderr();
    client_ = std::make_unique<httplib::Client>(server_->host(), server_->port());
    auth_ = {{"Authorization", "Bearer " + server_->bootstrap_token()}};
  }
  testing::TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
  httplib::Headers auth_;
  std::string responses_;  // every body we received, scanned for secrets
};

TEST_F(KeysApiTest, ImportedKeysLeaveNoPrivateBytesInFilesLogsOrResponses) {
  const std::map<std::string, std::string> secrets = {
      {"Ed25519", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"},
      {"P-256", "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"},
      {"secp256k1", "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"}};
  const testing::PrincipalWithAdmin owner = testing::CreatePrincipalWithAdmin(
      *client_, server_->bootstrap_token(), R"({"name":"Import Corp"})");
  ASSERT_FALSE(owner.id.empty());
  for (const auto& [type, hex] : secrets) {
    auto r = client_->Post("/v1/keys", auth_,
                           R"({"type":")" + type + R"(","purpose":"custody","owner":")" + owner.id +
                               R"(","private_key_hex":")" +
                               hex + "\"}",
                           "application/json");
    ASSERT_EQ(r->status, 201) << r->body;
    responses_ += r->body;
    json::Value k = ResponseJson(r);
    EXPECT_EQ(StringField(k, "type"), type);
    EXPECT_EQ(k.Find("public_jwk")->Find("d"), nullptr);
    if (type == "secp256k1") {
      EXPECT_EQ(StringField(k, "address"), "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    }
    auto g = client_->Get(("/v1/keys/" + StringField(k, "id")).c_str(), auth_);
    responses_ += g->body;
  }
  for (int i = 0; i < 5; ++i) {
    auto r = client_->Post("/v1/keys", auth_, R"({"type":"secp256k1","purpose":"custody"})",
                           "application/json");
    ASSERT_EQ(r->status, 201);
    responses_ += r->body;
  }
  responses_ += client_->Get("/v1/keys", auth_)->body;
  responses_ += client_->Get("/.well-known/jwks.json")->body;
  responses_ += client_->Get("/.well-known/did.json")->body;

  auto scan = [&](const std::string& where) {
    int files = 0;
    std::vector<std::string> haystacks = {responses_, server_->Stderr(), server_->Stdout()};
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path())) {
      if (e.is_regular_file() && e.path().string().find(".stderr.") == std::string::npos) {
        haystacks.push_back(testing::ReadFileOrDie(e.path().string()));
        ++files;
      }
    }
    for (const auto& [type, hex] : secrets) {
      const Bytes raw = *HexDecode(hex);
      for (const std::string& form : {std::string(AsChars(raw)), hex, Base64UrlEncode(raw)}) {
        for (const std::string& h : haystacks) {
          EXPECT_EQ(h.find(form), std::string::npos) << type << " private key found " << where;
        }
      }
    }
    return files;
  };
  // Killed: everything is still in the write-ahead log, uncompressed.
  server_->Kill();
  EXPECT_GT(scan("after SIGKILL"), 5);
  // Restarted and stopped cleanly: memtables flushed into table files.
  ASSERT_TRUE(server_->Start());
  ASSERT_EQ(server_->Stop(), 0);
  scan("after a clean stop");
}

TEST_F(KeysApiTest, DidDocumentAndJwksListActiveAndRetiredServiceKeys) {
  json::Value doc = ResponseJson(client_->Get("/.well-known/did.json"));
  const std::string did = "did:web:127.0.0.1%3A" + std::to_string(server_->port());
  EXPECT_EQ(StringField(doc, "id"), did);
  ASSERT_EQ(doc.Find("verificationMethod")->items().size(), 1u);
  const std::string first_vm = StringField(doc.Find("verificationMethod")->items()[0], "id");
  const std::string first_id = first_vm.substr(first_vm.find('#') + 1);

  auto rotated = client_->Post(("/v1/keys/" + first_id + "/rotate").c_str(), auth_, "", "application/json");
  ASSERT_EQ(rotated->status, 200) << rotated->body;
  const std::string second_id = StringField(ResponseJson(rotated), "id");
  EXPECT_EQ(StringField(ResponseJson(client_->Get(("/v1/keys/" + first_id).c_str(), auth_)), "state"), "retired");

  json::Value jwks = ResponseJson(client_->Get("/.well-known/jwks.json"));
  ASSERT_EQ(jwks.Find("keys")->items().size(), 2u);
  std::set<std::string> kids;
  for (const json::Value& k : jwks.Find("keys")->items()) {
    kids.insert(StringField(k, "kid"));
    EXPECT_EQ(StringField(k, "alg"), "EdDSA");
    EXPECT_EQ(k.Find("d"), nullptr);
    EXPECT_TRUE(signer::PublicKeyFromJwk(k).ok());
  }
  EXPECT_EQ(kids, (std::set<std::string>{did + "#" + first_id, did + "#" + second_id}));

  // Disabled keys are withdrawn from both documents.
  ASSERT_EQ(client_->Post(("/v1/keys/" + first_id + "/disable").c_str(), auth_, "", "application/json")->status, 200);
  EXPECT_EQ(ResponseJson(client_->Get("/.well-known/jwks.json")).Find("keys")->items().size(), 1u);
  EXPECT_EQ(ResponseJson(client_->Get("/.well-known/did.json")).Find("verificationMethod")->items().size(), 1u);
}

TEST_F(KeysApiTest, KeyRequestsAreValidatedAndGuarded) {
  auto bad = [&](const std::string& body, const std::string& slug) {
    auto r = client_->Post("/v1/keys", auth_, body, "application/json");
    EXPECT_EQ(r->status, 400) << body;
    EXPECT_EQ(StringField(ResponseJson(r), "type"), "urn:mandated:problem:" + slug) << r->body;
  };
  bad(R"({"type":"RSA","purpose":"x"})", "unknown-key-type");
  bad(R"({"type":"Ed25519"})", "missing-field");
  bad(R"({"type":"Ed25519","purpose":"x","private_key_hex":"abcd"})", "bad-key");
  bad(R"({"type":"secp256k1","purpose":"x","private_key_hex":")" + std::string(64, '0') + "\"}", "bad-key");
  // An all-zero Ed25519 seed is a valid key, and known to everyone: refused as the curves' are.
  bad(R"({"type":"Ed25519","purpose":"x","private_key_hex":")" + std::string(64, '0') + "\"}", "bad-key");
  // AP2 roots are ES256: an ap2-issuer key of another type would sign what every verifier refuses.
  bad(R"({"type":"Ed25519","purpose":"ap2-issuer"})", "bad-key-request");
  bad(R"({"type":"secp256k1","purpose":"ap2-issuer"})", "bad-key-request");
  bad(R"({"type":"Ed25519","purpose":"x","colour":"red"})", "unknown-field");
  // The audit key is generated here, as Ed25519: never imported, never of another type.
  bad(R"({"type":"Ed25519","purpose":"audit","private_key_hex":")" + std::string(63, '0') + "1\"}",
      "bad-key-request");
  bad(R"({"type":"P-256","purpose":"audit"})", "bad-key-request");
  // An owner is the service or a principal that exists; a typo creates nothing.
  bad(R"({"type":"Ed25519","purpose":"x","owner":"prn_typo"})", "bad-key-request");
  EXPECT_EQ(ResponseJson(client_->Get("/v1/keys?owner=prn_typo", auth_)).Find("items")->items().size(),
            0u);
  // The service made its audit key at the first start: a second one would take over signing
  // and leave the first unlisted, so only a rotation replaces it.
  auto second_audit = client_->Post("/v1/keys", auth_, R"({"type":"Ed25519","purpose":"audit"})",
                                    "application/json");
  EXPECT_EQ(second_audit->status, 409);
  EXPECT_EQ(StringField(ResponseJson(second_audit), "type"),
            "urn:mandated:problem:audit-key-exists");
  const testing::PrincipalWithAdmin p = testing::CreatePrincipalWithAdmin(
      *client_, server_->bootstrap_token(), R"({"name":"Audit Corp"})");
  ASSERT_FALSE(p.id.empty());
  bad(R"({"type":"Ed25519","purpose":"audit","owner":")" + p.id + "\"}", "bad-key-request");
  // Rotation is the way: the replaced key is listed for the checkpoints it signed.
  const json::Value audit_key = ResponseJson(client_->Get("/v1/audit/key", auth_));
  const std::string audit_id = StringField(*audit_key.Find("key"), "id");
  EXPECT_EQ(client_->Post("/v1/keys/" + audit_id + "/rotate", auth_, "", "application/json")->status,
            200);
  EXPECT_EQ(ResponseJson(client_->Get("/v1/audit/key", auth_))
                .Find("earlier_verifier_keys")->items().size(),
            1u);
  // With none active (the current one disabled), a request makes the one the log then uses.
  const std::string rotated_id =
      StringField(*ResponseJson(client_->Get("/v1/audit/key", auth_)).Find("key"), "id");
  ASSERT_EQ(client_->Post("/v1/keys/" + rotated_id + "/disable", auth_, "", "application/json")->status,
            200);
  auto fresh = client_->Post("/v1/keys", auth_, R"({"type":"Ed25519","purpose":"audit"})",
                             "application/json");
  ASSERT_EQ(fresh->status, 201) << fresh->body;
  EXPECT_EQ(StringField(*ResponseJson(client_->Get("/v1/audit/key", auth_)).Find("key"), "id"),
            StringField(ResponseJson(fresh), "id"));
  EXPECT_EQ(client_->Post("/v1/keys", R"({"type":"Ed25519","purpose":"x"})", "application/json")->status, 401);
  EXPECT_EQ(client_->Get("/v1/keys")->status, 401);
  EXPECT_EQ(client_->Get("/v1/keys/key_nope", auth_)->status, 404);
}

// Another principal's key is answered as one that does not exist, detail included.
TEST_F(KeysApiTest, AnotherPrincipalsKeyIsNotFoundLikeNoKey) {
  const std::string op = server_->bootstrap_token();
  const testing::PrincipalWithAdmin a =
      testing::CreatePrincipalWithAdmin(*client_, op, R"({"name":"A Corp"})");
  const testing::PrincipalWithAdmin b =
      testing::CreatePrincipalWithAdmin(*client_, op, R"({"name":"B Corp"})");
  const std::string a_key = StringField(
      testing::Call(*client_, "POST", a.base + "/keys", a.admin,
                    R"({"type":"P-256","purpose":"ap2-issuer"})", 201),
      "id");
  testing::Reply foreign = testing::Send(*client_, "GET", b.base + "/keys/" + a_key, b.admin);
  testing::Reply none = testing::Send(*client_, "GET", b.base + "/keys/key_nope", b.admin);
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(StringField(foreign.json, "type"), "urn:mandated:problem:key-not-found");
  EXPECT_EQ(StringField(foreign.json, "detail"), "no key " + a_key);
  EXPECT_EQ(StringField(none.json, "detail"), "no key key_nope");
}

// A custodial agent's record names its key (key_id, DID, address): rotating the key would leave
// the agent naming a retired key that no longer signs, so both key routes refuse it with 409
// agent-key-not-rotatable and change nothing; disabling the key stays allowed.
TEST_F(KeysApiTest, CustodialAgentKeyIsNotRotatableButCanBeDisabled) {
  const std::string op = server_->bootstrap_token();
  const testing::PrincipalWithAdmin p =
      testing::CreatePrincipalWithAdmin(*client_, op, R"({"name":"Rotate Corp"})");
  ASSERT_FALSE(p.admin.empty());
  const json::Value agent =
      testing::Call(*client_, "POST", p.base + "/agents", p.admin,
                    R"({"name":"buyer","custodial":{"key_type":"secp256k1","chain_id":84532}})", 201);
  const std::string agent_id = StringField(agent, "id");
  const std::string key_id = StringField(agent, "key_id");
  ASSERT_FALSE(key_id.empty()) << json::Write(agent);
  const std::size_t keys_before =
      testing::Call(*client_, "GET", p.base + "/keys", p.admin, "", 200).Find("items")->items().size();

  auto expect_refused = [&](const std::string& path, const std::string& token) {
    testing::Reply r = testing::Send(*client_, "POST", path, token);
    EXPECT_EQ(r.status, 409) << path << " -> " << r.body;
    EXPECT_EQ(StringField(r.json, "type"), "urn:mandated:problem:agent-key-not-rotatable") << r.body;
    EXPECT_NE(StringField(r.json, "detail").find("new agent"), std::string::npos) << r.body;
  };
  expect_refused(p.base + "/keys/" + key_id + "/rotate", p.admin);  // the principal's route
  expect_refused("/v1/keys/" + key_id + "/rotate", op);               // the operator's route

  // Nothing changed: the key is active, no successor was made, the agent still names the key.
  const json::Value key = testing::Call(*client_, "GET", p.base + "/keys/" + key_id, p.admin, "", 200);
  EXPECT_EQ(StringField(key, "state"), "active");
  EXPECT_EQ(key.Find("replaced_by"), nullptr);
  EXPECT_EQ(testing::Call(*client_, "GET", p.base + "/keys", p.admin, "", 200).Find("items")->items().size(),
            keys_before);
  EXPECT_EQ(StringField(testing::Call(*client_, "GET", p.base + "/agents/" + agent_id, p.admin, "", 200),
                        "key_id"),
            key_id);

  // Disabling it stays allowed.
  EXPECT_EQ(StringField(testing::Call(*client_, "POST", p.base + "/keys/" + key_id + "/disable",
                                      p.admin, "", 200),
                        "state"),
            "disabled");
  expect_refused(p.base + "/keys/" + key_id + "/rotate", p.admin);
}

TEST(KekStartup, WrongKekStopsTheServerWithAClearMessage) {
  testing::TempDir dir;
  auto write_kek = [&](const std::string& name, char fill) {
    const std::string path = dir.Sub(name);
    std::ofstream(path) << std::string(64, fill) << "\n";
    chmod(path.c_str(), 0600);
    return path;
  };
  const std::string kek_a = write_kek("a.kek", 'a');
  const std::string kek_b = write_kek("b.kek", 'b');
  ServerProcess first(dir.Sub("data"), {{"MANDATED_KEK_FILE", kek_a}});
  ASSERT_TRUE(first.Start()) << first.Stderr();
  ASSERT_EQ(first.Stop(), 0);
  EXPECT_EQ(first.Stderr().find("DEVELOPMENT KEY-ENCRYPTION KEY"), std::string::npos);

  ServerProcess wrong(dir.Sub("data"), {{"MANDATED_KEK_FILE", kek_b}});
  EXPECT_FALSE(wrong.Start());
  EXPECT_NE(wrong.Stderr().find("wrong-kek"), std::string::npos) << wrong.Stderr();

  ServerProcess missing(dir.Sub("data"), {{"MANDATED_KEK_FILE", dir.Sub("nope.kek")}});
  EXPECT_FALSE(missing.Start());
  EXPECT_NE(missing.Stderr().find("bad-kek"), std::string::npos) << missing.Stderr();

  // Development mode warns loudly and keeps the KEK outside the data directory.
  ServerProcess dev(dir.Sub("devdata"));
  ASSERT_TRUE(dev.Start());
  EXPECT_NE(dev.Stderr().find("DEVELOPMENT KEY-ENCRYPTION KEY CREATED"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir.Sub("devdata.kek")));
  ASSERT_EQ(dev.Stop(), 0);
}

}  // namespace
}  // namespace mandated
