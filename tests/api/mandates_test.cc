// Mandates over real HTTP against the service (in-process, real RocksDB, a fake clock): issuance,
// tampering, validity window, revocation and suspension, delegation chains and their refusals,
// max-use counting, purchase checks, and, for every verification made here, the offline verifier
// in mandatectl (`mandates verify --offline`, fed only with the public documents fetched from
// the service) giving the very same verdict as POST /v1/mandates/verify.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/app.h"
#include "api/config.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/random.h"
#include "base/secret.h"
#include "cli/commands.h"
#include "mandates/credential.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"
#include "tests/support/fake_clock.h"
#include "tests/support/http_json.h"
#include "tests/support/in_process_service.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::ResponseJson;
using testing::StringField;

constexpr char kOperatorToken[] = "mandates-test-operator-token-5b2e91";
constexpr int64_t kStart = 1795000000;  // 2026-11-18T08:26:40Z

std::string Rfc(int64_t t) { return mandates::FormatRfc3339Utc(t); }

// The codes of a verdict's reasons, in order.
std::vector<std::string> Codes(const json::Value& verdict) {
  std::vector<std::string> out;
  const json::Value* reasons = verdict.Find("reasons");
  if (reasons == nullptr || !reasons->is_array()) {
    ADD_FAILURE() << "verdict without reasons: " << json::Write(verdict);
    return out;
  }
  for (const json::Value& r : reasons->items()) {
    out.push_back(StringField(r, "code"));
  }
  return out;
}

std::string B64(std::string_view s) { return Base64UrlEncode(AsBytes(s)); }
std::string UnB64(std::string_view s) {
  Result<Bytes> b = Base64UrlDecode(s);
  EXPECT_TRUE(b.ok());
  return b.ok() ? std::string(b->begin(), b->end()) : "";
}

struct Parts {
  std::string header, payload, signature;  // header and payload decoded; signature as sent
};
Parts Split(const std::string& token) {
  const size_t a = token.find('.');
  const size_t b = token.find('.', a + 1);
  return {UnB64(token.substr(0, a)), UnB64(token.substr(a + 1, b - a - 1)), token.substr(b + 1)};
}
std::string Join(const Parts& p) { return B64(p.header) + "." + B64(p.payload) + "." + p.signature; }

// A verification case: what the merchant sends.
struct Case {
  std::string token;
  std::vector<std::string> chain;
  std::string purchase;  // JSON text, or ""
};

class MandatesApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_.Start(dir_.Sub("data"), kOperatorToken, &clock_);
    ASSERT_NE(service_.app(), nullptr);
    app_ = service_.app();
    client_ = &service_.client();
    url_ = "http://127.0.0.1:" + std::to_string(app_->port());

    const testing::PrincipalWithAdmin p = testing::CreatePrincipalWithAdmin(
        *client_, kOperatorToken, R"({"name":"Mandate Corp"})");
    principal_ = p.id;
    base_ = p.base;
    admin_ = p.admin;
    merchant_ = StringField(Call("POST", base_ + "/credentials", admin_,
                                 R"({"role":"merchant","name":"shop"})", 201),
                            "token");
  }

  json::Value Call(const std::string& method, const std::string& path, const std::string& token,
                   const std::string& body, int want) {
    httplib::Headers h = {{"Authorization", "Bearer " + token}};
    httplib::Result r = method == "GET" ? client_->Get(path, h)
                                        : client_->Post(path, h, body, "application/json");
    EXPECT_TRUE(r) << method << " " << path;
    if (!r) {
      return json::Value::Object();
    }
    EXPECT_EQ(r->status, want) << method << " " << path << " " << body << " -> " << r->body;
    return ResponseJson(r);
  }

  // A new agent of the principal with its own did:key; returns its id.
  std::string NewAgent(const std::string& name) {
    signer::PrivateKey key = *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
    const std::string did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(key));
    return StringField(Call("POST", base_ + "/agents", admin_,
                            R"({"name":")" + name + R"(","did":")" + did + R"("})", 201),
                       "id");
  }
  // A session token for an agent, opened by the admin.
  std::string SessionFor(const std::string& agent) {
    return StringField(Call("POST", base_ + "/agents/" + agent + "/sessions", admin_,
                            R"({"task":"delegate"})", 201),
                       "token");
  }

  std::string IssueBody(const std::string& agent, const std::string& terms, int64_t from,
                        int64_t until, const std::string& parent = "") {
    std::string body = R"({"agent":")" + agent + "\"";
    if (!parent.empty()) {
      body += R"(,"parent":")" + parent + "\"";
    }
    return body + R"(,"valid_from":")" + Rfc(from) + R"(","valid_until":")" + Rfc(until) +
           R"(","terms":)" + terms + "}";
  }
  // Issues as `token` (the admin by default); returns the record.
  json::Value Issue(const std::string& agent, const std::string& terms, int64_t from,
                    int64_t until, const std::string& parent = "", std::string token = "") {
    return Call("POST", base_ + "/mandates", token.empty() ? admin_ : token,
                IssueBody(agent, terms, from, until, parent), 201);
  }

  // Verifies online, then offline with mandatectl from documents fetched now, and checks that
  // both answer the same JSON; returns the online verdict.
  json::Value Verify(const Case& c) {
    std::string body = R"({"mandate":")" + c.token + "\"";
    if (!c.chain.empty()) {
      body += R"(,"chain":[)";
      for (size_t i = 0; i < c.chain.size(); ++i) {
        body += (i ? ",\"" : "\"") + c.chain[i] + "\"";
      }
      body += "]";
    }
    if (!c.purchase.empty()) {
      body += R"(,"purchase":)" + c.purchase;
    }
    body += "}";
    json::Value online = Call("POST", "/v1/mandates/verify", merchant_, body, 200);
    ++verifications_;
    ExpectOfflineAgrees(c, online);
    return online;
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = dir_.Sub(name);
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // Fetches the public documents (no credential) and runs `mandatectl mandates verify --offline`
  // at the online answer's checked_at.
  void ExpectOfflineAgrees(const Case& c, const json::Value& online) {
    const std::string n = std::to_string(verifications_);
    httplib::Result did = client_->Get("/principals/" + principal_ + "/did.json");
    httplib::Result jwks = client_->Get("/principals/" + principal_ + "/jwks.json");
    httplib::Result list = client_->Get("/v1/status-lists/" + principal_ + "/0");
    ASSERT_TRUE(did && jwks && list);
    ASSERT_EQ(did->status, 200);
    ASSERT_EQ(list->status, 200) << list->body;
    std::vector<std::string> args = {
        "mandates", "verify", "--offline", WriteFile("token-" + n, c.token),
        "--did-document", WriteFile("did-" + n + ".json", did->body),
        "--jwks", WriteFile("jwks-" + n + ".json", jwks->body),
        "--status-list", WriteFile("status-" + n + ".jwt", list->body),
        "--at", std::to_string(*online.Find("checked_at")->as_int64())};
    for (size_t i = 0; i < c.chain.size(); ++i) {
      args.push_back("--chain");
      args.push_back(WriteFile("chain-" + n + "-" + std::to_string(i), c.chain[i]));
    }
    if (!c.purchase.empty()) {
      args.push_back("--purchase");
      args.push_back(WriteFile("purchase-" + n + ".json", c.purchase));
    }
    cli::Output out = cli::RunCommand(args);
    const bool valid = StringField(online, "verdict") == "valid";
    EXPECT_EQ(out.exit_code, valid ? 0 : 1) << out.err;
    Result<json::Value> offline = json::Parse(out.out);
    ASSERT_TRUE(offline.ok()) << out.out << out.err;
    EXPECT_EQ(json::Write(*offline), json::Write(online))
        << "offline and online verdicts differ for case " << n;
    ++offline_agreed_;
  }

  testing::FakeClock clock_{kStart};
  testing::TempDir dir_;
  testing::InProcessService service_;
  api::App* app_ = nullptr;
  httplib::Client* client_ = nullptr;
  std::string url_, principal_, base_, admin_, merchant_;
  int verifications_ = 0;
  int offline_agreed_ = 0;
};

constexpr char kTerms[] =
    R"({"scope":{"payees":{"allow":[{"type":"domain","value":"*.shop.example"}],)"
    R"("block":[{"type":"domain","value":"bad.shop.example"}]},"assets":{"allow":["USD","EUR"]}},)"
    R"("limits":{"per_transaction":[{"asset":"USD","max":"50000"},{"asset":"EUR","max":"40000"}],)"
    R"("windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"Europe/Paris","max":"200000"}],)"
    R"("lifetime":[{"asset":"USD","max":"1000000"}],"max_uses":100}})";

TEST_F(MandatesApiTest, IssuedMandateIsAVcJwtThatVerifiesAndTamperingFailsWithItsOwnReason) {
  const std::string agent = NewAgent("buyer");
  json::Value rec = Issue(agent, kTerms, kStart - 60, kStart + 86400);
  const std::string token = StringField(rec, "token");
  const std::string id = StringField(rec, "id");
  EXPECT_EQ(StringField(rec, "state"), "active");
  EXPECT_EQ(StringField(rec, "issuer"), app_->service_did() + ":principals:" + principal_);

  Parts p = Split(token);
  Result<json::Value> header = json::Parse(p.header);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(StringField(*header, "typ"), "vc+jwt");
  EXPECT_EQ(StringField(*header, "alg"), "EdDSA");
  EXPECT_EQ(StringField(*header, "kid"),
            StringField(rec, "issuer") + "#" + StringField(rec, "key_id"));
  Result<json::Value> payload = json::Parse(p.payload);
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(StringField(*payload, "jti"), "urn:mandated:mandate:" + id);
  EXPECT_EQ(StringField(*payload, "validFrom"), Rfc(kStart - 60));

  json::Value ok = Verify({token, {}, ""});
  EXPECT_EQ(StringField(ok, "verdict"), "valid") << json::Write(ok);
  EXPECT_TRUE(Codes(ok).empty());

  // Every claim, changed: the signature no longer covers the payload.
  for (const std::string& member : payload->keys()) {
    json::Value changed = *payload;
    json::Value* v = changed.Find(member);
    if (v->is_string()) {
      *v = json::Value::String(v->as_string() + "x");
    } else if (v->is_number()) {
      *v = json::Value::Int(*v->as_int64() + 1);
    } else if (v->is_array()) {
      v->Append(json::Value::String("x"));
    } else {
      v->Set("x", json::Value::Int(1));
    }
    Parts t = p;
    t.payload = json::Write(changed);
    const std::vector<std::string> want = member == "iss"
                                              ? std::vector<std::string>{"kid-issuer-mismatch"}
                                              : std::vector<std::string>{"bad-signature"};
    EXPECT_EQ(Codes(Verify({Join(t), {}, ""})), want) << member;
  }
  // A nested term: the per-transaction maximum raised.
  {
    Parts t = p;
    const size_t at = t.payload.find("\"50000\"");
    ASSERT_NE(at, std::string::npos);
    t.payload.replace(at, 7, "\"90000\"");
    EXPECT_EQ(Codes(Verify({Join(t), {}, ""})), std::vector<std::string>{"bad-signature"});
  }
  // The signature: one bit flipped, and cut short.
  {
    Parts t = p;
    t.signature[5] = t.signature[5] == 'A' ? 'B' : 'A';
    EXPECT_EQ(Codes(Verify({Join(t), {}, ""})), std::vector<std::string>{"bad-signature"});
    t = p;
    std::string sig = UnB64(p.signature);
    t.signature = B64(sig.substr(0, sig.size() - 2));
    EXPECT_EQ(Codes(Verify({Join(t), {}, ""})), std::vector<std::string>{"bad-signature"});
  }
  // The kid: an unknown key of the issuer, and a key of another DID.
  auto with_header = [&](const std::string& name, json::Value value) {
    json::Value h = *header;
    h.Set(name, std::move(value));
    Parts t = p;
    t.header = json::Write(h);
    return Join(t);
  };
  EXPECT_EQ(Codes(Verify({with_header("kid", json::Value::String(StringField(rec, "issuer") +
                                                                  "#key_nosuchkey")),
                          {}, ""})),
            std::vector<std::string>{"kid-unresolvable"});
  EXPECT_EQ(Codes(Verify({with_header("kid", json::Value::String(app_->service_did() + "#" +
                                                                  StringField(rec, "key_id"))),
                          {}, ""})),
            std::vector<std::string>{"kid-issuer-mismatch"});
  // The alg: another curve's, none, an HMAC.
  EXPECT_EQ(Codes(Verify({with_header("alg", json::Value::String("ES256")), {}, ""})),
            std::vector<std::string>{"alg-key-mismatch"});
  EXPECT_EQ(Codes(Verify({with_header("alg", json::Value::String("none")), {}, ""})),
            std::vector<std::string>{"alg-none"});
  EXPECT_EQ(Codes(Verify({with_header("alg", json::Value::String("HS256")), {}, ""})),
            std::vector<std::string>{"unknown-alg"});
  // The typ.
  EXPECT_EQ(Codes(Verify({with_header("typ", json::Value::String("JWT")), {}, ""})),
            std::vector<std::string>{"bad-typ"});
  // Not a JWS at all.
  EXPECT_EQ(Codes(Verify({"abc.def", {}, ""})), std::vector<std::string>{"bad-jws"});
  EXPECT_EQ(offline_agreed_, verifications_);
}

TEST_F(MandatesApiTest, ValidityWindowRevocationAndSuspensionEachHaveTheirReason) {
  const std::string agent = NewAgent("buyer");
  const std::string later =
      StringField(Issue(agent, kTerms, kStart + 3600, kStart + 7200), "token");
  EXPECT_EQ(Codes(Verify({later, {}, ""})), std::vector<std::string>{"not-yet-valid"});
  clock_.AdvanceSeconds(3600);
  EXPECT_EQ(Codes(Verify({later, {}, ""})), std::vector<std::string>{});
  clock_.AdvanceSeconds(3600);  // exactly validUntil: expired (the window is [from, until))
  EXPECT_EQ(Codes(Verify({later, {}, ""})), std::vector<std::string>{"expired"});

  json::Value rec = Issue(agent, kTerms, kStart, kStart + 86400);
  const std::string token = StringField(rec, "token");
  const std::string path = base_ + "/mandates/" + StringField(rec, "id");
  EXPECT_EQ(StringField(Call("POST", path + "/suspend", admin_, "", 200), "state"), "suspended");
  EXPECT_EQ(Codes(Verify({token, {}, ""})), std::vector<std::string>{"suspended"});
  Call("POST", path + "/suspend", admin_, "", 409);
  EXPECT_EQ(StringField(Call("POST", path + "/resume", admin_, "", 200), "state"), "active");
  EXPECT_EQ(Codes(Verify({token, {}, ""})), std::vector<std::string>{});
  EXPECT_EQ(StringField(Call("POST", path + "/revoke", admin_, "", 200), "state"), "revoked");
  EXPECT_EQ(Codes(Verify({token, {}, ""})), std::vector<std::string>{"revoked"});
  // Revocation is final.
  Call("POST", path + "/resume", admin_, "", 409);
  EXPECT_EQ(StringField(Call("POST", path + "/revoke", admin_, "", 200), "state"), "revoked");
  EXPECT_EQ(offline_agreed_, verifications_);
}

// A chain root -> c1 -> c2 -> c3, each delegated by the agent holding the parent.
TEST_F(MandatesApiTest, ThreeDelegationsVerifyAndRevokingTheParentRevokesTheChildren) {
  const std::string a = NewAgent("a"), b = NewAgent("b"), c = NewAgent("c"), d = NewAgent("d");
  json::Value root = Issue(a, kTerms, kStart, kStart + 30 * 86400);
  constexpr char kChild[] =
      R"({"scope":{"payees":{"allow":[{"type":"domain","value":"api.shop.example"}],)"
      R"("block":[{"type":"domain","value":"bad.shop.example"}]},"assets":{"allow":["USD"]}},)"
      R"("limits":{"per_transaction":[{"asset":"USD","max":"20000"}],)"
      R"("windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"Europe/Paris","max":"100000"}],)"
      R"("lifetime":[{"asset":"USD","max":"500000"}],"max_uses":50}})";
  json::Value c1 = Issue(b, kChild, kStart, kStart + 20 * 86400, StringField(root, "id"),
                         SessionFor(a));
  json::Value c2 = Issue(c, kChild, kStart, kStart + 10 * 86400, StringField(c1, "id"),
                         SessionFor(b));
  json::Value c3 = Issue(d, kChild, kStart, kStart + 5 * 86400, StringField(c2, "id"),
                         SessionFor(c));
  EXPECT_EQ(c3.Find("depth")->as_int64(), 3);
  const std::vector<std::string> chain = {StringField(c2, "token"), StringField(c1, "token"),
                                          StringField(root, "token")};
  // With the chain given (what an offline merchant has), and without (the service finds it).
  json::Value v = Verify({StringField(c3, "token"), chain, ""});
  EXPECT_EQ(StringField(v, "verdict"), "valid") << json::Write(v);
  EXPECT_EQ(v.Find("chain")->items().size(), 4u);
  json::Value online_only = Call("POST", "/v1/mandates/verify", merchant_,
                                 R"({"mandate":")" + StringField(c3, "token") + "\"}", 200);
  EXPECT_EQ(StringField(online_only, "verdict"), "valid") << json::Write(online_only);

  // A chain with a link missing, out of order, or one too many.
  EXPECT_EQ(Codes(Verify({StringField(c3, "token"), {chain[0], chain[1]}, ""})),
            std::vector<std::string>{"parent-missing"});
  EXPECT_EQ(Codes(Verify({StringField(c3, "token"), {chain[1], chain[0], chain[2]}, ""})),
            std::vector<std::string>{"parent-mismatch"});
  EXPECT_EQ(Codes(Verify({StringField(c1, "token"), {chain[2], chain[2]}, ""})),
            std::vector<std::string>{"chain-unexpected"});

  // A purchase is checked against every mandate of the chain.
  const std::string ok_purchase =
      R"({"payee":{"type":"domain","value":"api.shop.example"},"amount":"15000","asset":"USD"})";
  EXPECT_EQ(Codes(Verify({StringField(c3, "token"), chain, ok_purchase})),
            std::vector<std::string>{});
  const std::string big =
      R"({"payee":{"type":"domain","value":"api.shop.example"},"amount":"30000","asset":"USD"})";
  json::Value over = Verify({StringField(c3, "token"), chain, big});
  EXPECT_EQ(Codes(over), (std::vector<std::string>{"amount-above-maximum", "amount-above-maximum",
                                                   "amount-above-maximum"}));
  const std::string elsewhere =
      R"({"payee":{"type":"domain","value":"www.shop.example"},"amount":"100","asset":"USD"})";
  EXPECT_EQ(Codes(Verify({StringField(c3, "token"), chain, elsewhere})),
            (std::vector<std::string>{"payee-not-allowed", "payee-not-allowed",
                                      "payee-not-allowed"}));

  // Suspending c1 fails its descendants through the chain; resuming restores them.
  const std::string c1_path = base_ + "/mandates/" + StringField(c1, "id");
  Call("POST", c1_path + "/suspend", admin_, "", 200);
  EXPECT_EQ(Codes(Verify({StringField(c3, "token"), chain, ""})),
            std::vector<std::string>{"parent-suspended"});
  // Nor is anything delegated under it, however deep (it would spend once c1 resumed).
  const json::Value frozen =
      Call("POST", base_ + "/mandates", SessionFor(d),
           IssueBody(d, kChild, kStart, kStart + 86400, StringField(c3, "id")), 409);
  EXPECT_EQ(StringField(frozen, "type"), "urn:mandated:problem:parent-not-active");
  EXPECT_EQ(StringField(frozen, "detail"),
            "ancestor mandate " + StringField(c1, "id") + " is suspended");
  Call("POST", c1_path + "/resume", admin_, "", 200);

  // Revoking c1 revokes c2 and c3 too (in the status list), and the chain says why.
  EXPECT_EQ(StringField(Call("POST", c1_path + "/revoke", admin_, "", 200), "state"), "revoked");
  for (const json::Value* m : {&c2, &c3}) {
    json::Value after =
        Call("GET", base_ + "/mandates/" + StringField(*m, "id"), admin_, "", 200);
    EXPECT_EQ(StringField(after, "state"), "revoked");
    EXPECT_EQ(StringField(after, "state_reason").rfind("parent " + StringField(c1, "id") + " revoked by crd_", 0), 0u)
        << StringField(after, "state_reason");
  }
  EXPECT_EQ(Codes(Verify({StringField(c3, "token"), chain, ""})),
            (std::vector<std::string>{"revoked", "parent-revoked", "parent-revoked"}));
  EXPECT_EQ(Codes(Verify({StringField(c2, "token"), {chain[1], chain[2]}, ""})),
            (std::vector<std::string>{"revoked", "parent-revoked"}));
  // The root is untouched.
  EXPECT_EQ(Codes(Verify({StringField(root, "token"), {}, ""})), std::vector<std::string>{});
  EXPECT_EQ(offline_agreed_, verifications_);
}

TEST_F(MandatesApiTest, DelegationThatWidensAnythingIsRefusedNamingTheField) {
  const std::string a = NewAgent("a"), b = NewAgent("b"), other = NewAgent("other");
  json::Value root = Issue(a, kTerms, kStart, kStart + 30 * 86400);
  const std::string parent = StringField(root, "id");
  const std::string session = SessionFor(a);
  struct Widening {
    std::string what, terms;
    int64_t until;
    std::string pointer;
  };
  const std::string limits =
      R"("limits":{"per_transaction":[{"asset":"USD","max":"50000"}],)"
      R"("windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"Europe/Paris","max":"200000"}],)"
      R"("lifetime":[{"asset":"USD","max":"1000000"}],"max_uses":100})";
  const std::string scope =
      R"("scope":{"payees":{"allow":[{"type":"domain","value":"*.shop.example"}],)"
      R"("block":[{"type":"domain","value":"bad.shop.example"}]},"assets":{"allow":["USD"]}})";
  const std::vector<Widening> cases = {
      {"a payee outside the parent's list",
       R"({"scope":{"payees":{"allow":[{"type":"domain","value":"shop.example"}],)"
       R"("block":[{"type":"domain","value":"bad.shop.example"}]},"assets":{"allow":["USD"]}},)" +
           limits + "}",
       kStart + 86400, "/terms/scope/payees/allow/0"},
      {"a raised per-transaction limit",
       "{" + scope + R"(,"limits":{"per_transaction":[{"asset":"USD","max":"50001"}],)"
       R"("windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"Europe/Paris","max":"200000"}],)"
       R"("lifetime":[{"asset":"USD","max":"1000000"}],"max_uses":100}})",
       kStart + 86400, "/terms/limits/per_transaction/0/max"},
      {"an expiry past the parent's", "{" + scope + "," + limits + "}", kStart + 31 * 86400,
       "/valid_until"},
      {"an asset the parent cannot spend",
       R"({"scope":{"payees":{"allow":[{"type":"domain","value":"*.shop.example"}],)"
       R"("block":[{"type":"domain","value":"bad.shop.example"}]},"assets":{"allow":["USD","GBP"]}},)"
       R"("limits":{"per_transaction":[{"asset":"USD","max":"50000"},{"asset":"GBP","max":"10"}],)"
       R"("windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"Europe/Paris","max":"200000"}],)"
       R"("lifetime":[{"asset":"USD","max":"1000000"}],"max_uses":100}})",
       kStart + 86400, "/terms/scope/assets/allow/1"},
      {"a dropped block list",
       R"({"scope":{"payees":{"allow":[{"type":"domain","value":"*.shop.example"}]},"assets":{"allow":["USD"]}},)" +
           limits + "}",
       kStart + 86400, "/terms/scope/payees/block"},
      {"more uses", "{" + scope + "," + limits.substr(0, limits.size() - 4) + "101}}",
       kStart + 86400, "/terms/limits/max_uses"},
  };
  for (const Widening& w : cases) {
    SCOPED_TRACE(w.what);
    json::Value p = Call("POST", base_ + "/mandates", session,
                         IssueBody(b, w.terms, kStart, w.until, parent), 400);
    EXPECT_EQ(StringField(p, "type"), "urn:mandated:problem:delegation-widens");
    EXPECT_EQ(StringField(p, "detail").rfind(w.pointer + ":", 0), 0u) << StringField(p, "detail");
  }
  // A validity already over is the request's own fault (400 bad-validity), said before
  // anything about the parent (a widening here would be delegation-widens).
  json::Value past = Call("POST", base_ + "/mandates", session,
                          IssueBody(b, cases[0].terms, kStart - 7200, kStart - 3600, parent), 400);
  EXPECT_EQ(StringField(past, "type"), "urn:mandated:problem:bad-validity");
  // The same narrowing request is accepted, so the refusals above were about the widening.
  Issue(b, "{" + scope + "," + limits + "}", kStart, kStart + 86400, parent, session);
  // Only the holder of the parent delegates; an agent cannot issue a root.
  json::Value not_holder = Call("POST", base_ + "/mandates", SessionFor(other),
                                IssueBody(b, "{" + scope + "," + limits + "}", kStart,
                                          kStart + 86400, parent),
                                403);
  EXPECT_EQ(StringField(not_holder, "type"), "urn:mandated:problem:not-parent-holder");
  json::Value root_by_agent = Call("POST", base_ + "/mandates", session,
                                   IssueBody(b, kTerms, kStart, kStart + 86400), 403);
  EXPECT_EQ(StringField(root_by_agent, "type"), "urn:mandated:problem:delegation-only");
}

TEST_F(MandatesApiTest, MaxUsesAreCountedByTheServiceAcrossTheChain) {
  const std::string a = NewAgent("a"), b = NewAgent("b");
  const std::string terms2 =
      R"({"limits":{"per_transaction":[{"asset":"USD","max":"500"}],"max_uses":2}})";
  json::Value rec = Issue(a, terms2, kStart, kStart + 86400);
  const std::string token = StringField(rec, "token");
  auto use = [&](const std::string& t, const std::string& key) {
    return Call("POST", "/v1/mandates/verify", merchant_,
                R"({"mandate":")" + t + R"(","use":{"key":")" + key + R"("}})", 200);
  };
  // A merchant of another principal verifies the token but records no use of it.
  const testing::PrincipalWithAdmin other =
      testing::CreatePrincipalWithAdmin(*client_, kOperatorToken, R"({"name":"Elsewhere"})");
  const std::string foreign = StringField(Call("POST", other.base + "/credentials", other.admin,
                                               R"({"role":"merchant","name":"other shop"})", 201),
                                          "token");
  json::Value cross = Call("POST", "/v1/mandates/verify", foreign,
                           R"({"mandate":")" + token + R"(","use":{"key":"order-x"}})", 403);
  EXPECT_EQ(StringField(cross, "type"), "urn:mandated:problem:mandate-out-of-scope");
  // So is it when the verdict is invalid (here: a purchase above the limit): the use is not
  // the caller's to record, whatever the mandate's answer (before, 200 with the verdict).
  json::Value cross_invalid = Call(
      "POST", "/v1/mandates/verify", foreign,
      R"({"mandate":")" + token +
          R"(","purchase":{"payee":{"type":"domain","value":"a.example"},"amount":"501","asset":"USD"},)"
          R"("use":{"key":"order-y"}})",
      403);
  EXPECT_EQ(StringField(cross_invalid, "type"), "urn:mandated:problem:mandate-out-of-scope");
  EXPECT_EQ(Call("GET", base_ + "/mandates/" + StringField(rec, "id"), admin_, "", 200)
                .Find("uses")->as_int64(),
            0);
  json::Value first = use(token, "order-1");
  EXPECT_EQ(StringField(first, "verdict"), "valid");
  EXPECT_EQ(first.Find("use")->Find("uses")->as_int64(), 1);
  // The same key again is the same use.
  json::Value again = use(token, "order-1");
  EXPECT_EQ(again.Find("use")->Find("uses")->as_int64(), 1);
  EXPECT_TRUE(again.Find("use")->Find("replayed")->as_bool());
  json::Value second = use(token, "order-2");
  EXPECT_EQ(second.Find("use")->Find("uses")->as_int64(), 2);
  // Used up: the status list now says so, online and offline alike.
  EXPECT_EQ(StringField(Call("GET", base_ + "/mandates/" + StringField(rec, "id"), admin_, "", 200),
                        "state"),
            "used-up");
  EXPECT_EQ(Codes(use(token, "order-3")), std::vector<std::string>{"revoked"});
  EXPECT_EQ(Codes(Verify({token, {}, ""})), std::vector<std::string>{"revoked"});
  // A retry of a recorded use answers its first outcome, even once that use (or a later one)
  // ended the mandate: valid, with the uses it left, not "revoked" nor the count now.
  json::Value late_retry = use(token, "order-1");
  EXPECT_EQ(StringField(late_retry, "verdict"), "valid") << json::Write(late_retry);
  EXPECT_EQ(late_retry.Find("use")->Find("uses")->as_int64(), 1);
  EXPECT_TRUE(late_retry.Find("use")->Find("replayed")->as_bool());
  json::Value last_retry = use(token, "order-2");
  EXPECT_EQ(StringField(last_retry, "verdict"), "valid");
  EXPECT_EQ(last_retry.Find("use")->Find("uses")->as_int64(), 2);
  // A malformed key is a malformed request, whatever the verdict would be.
  json::Value bad_key = Call("POST", "/v1/mandates/verify", merchant_,
                             R"({"mandate":")" + token + R"(","use":{"key":"bad key!"}})", 400);
  EXPECT_EQ(StringField(bad_key, "type"), "urn:mandated:problem:bad-use-key");

  // A single-use child spends one of its parent's uses too.
  json::Value parent = Issue(a, terms2, kStart, kStart + 86400);
  json::Value child = Issue(
      b, R"({"limits":{"per_transaction":[{"asset":"USD","max":"500"}],"max_uses":1}})", kStart,
      kStart + 86400, StringField(parent, "id"), SessionFor(a));
  EXPECT_EQ(StringField(use(StringField(child, "token"), "c-1"), "verdict"), "valid");
  EXPECT_EQ(
      Call("GET", base_ + "/mandates/" + StringField(parent, "id"), admin_, "", 200).Find("uses")->as_int64(),
      1);
  EXPECT_EQ(Codes(use(StringField(child, "token"), "c-2")), std::vector<std::string>{"revoked"});
  // Counting a use is for merchants and admins; an auditor may verify but not use.
  const std::string auditor = StringField(
      Call("POST", base_ + "/credentials", admin_, R"({"role":"auditor","name":"aud"})", 201),
      "token");
  json::Value refused = Call("POST", "/v1/mandates/verify", auditor,
                             R"({"mandate":")" + StringField(parent, "token") +
                                 R"(","use":{"key":"k"}})",
                             403);
  EXPECT_EQ(StringField(refused, "type"), "urn:mandated:problem:forbidden");
  EXPECT_EQ(Call("GET", base_ + "/mandates/" + StringField(parent, "id"), admin_, "", 200)
                .Find("uses")
                ->as_int64(),
            1);
}

TEST_F(MandatesApiTest, StatusListIsASignedCacheableTokenStatusList) {
  const std::string agent = NewAgent("buyer");
  Issue(agent, kTerms, kStart, kStart + 86400);
  httplib::Result r = client_->Get("/v1/status-lists/" + principal_ + "/0");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/statuslist+jwt");
  EXPECT_EQ(r->get_header_value("Cache-Control"), "public, max-age=300");
  const std::string etag = r->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  Parts p = Split(r->body);
  Result<json::Value> h = json::Parse(p.header);
  Result<json::Value> claims = json::Parse(p.payload);
  ASSERT_TRUE(h.ok() && claims.ok());
  EXPECT_EQ(StringField(*h, "typ"), "statuslist+jwt");
  EXPECT_EQ(StringField(*claims, "sub"), url_ + "/v1/status-lists/" + principal_ + "/0");
  EXPECT_EQ(claims->Find("ttl")->as_int64(), 300);
  EXPECT_EQ(claims->Find("iat")->as_int64(), kStart);
  EXPECT_EQ(claims->Find("exp")->as_int64(), kStart + 3600);
  EXPECT_EQ(claims->Find("status_list")->Find("bits")->as_int64(), 2);
  // Unchanged list: 304 for the same ETag, and max-age counts down.
  clock_.AdvanceSeconds(100);
  httplib::Result same = client_->Get("/v1/status-lists/" + principal_ + "/0",
                                      {{"If-None-Match", etag}});
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 304);
  EXPECT_EQ(same->get_header_value("Cache-Control"), "public, max-age=200");
  // As RFC 9110 §13.1.2 compares: weakly, in a list, or "*"; another tag gets the list.
  for (const std::string& header :
       {"W/" + etag, "\"other\", " + etag, "\"a\",W/" + etag + " ,\"b\"", std::string("*")}) {
    httplib::Result r2 = client_->Get("/v1/status-lists/" + principal_ + "/0",
                                      {{"If-None-Match", header}});
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->status, 304) << header;
  }
  httplib::Result other = client_->Get("/v1/status-lists/" + principal_ + "/0",
                                       {{"If-None-Match", "\"other\", W/\"x\""}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  EXPECT_EQ(client_->Get("/v1/status-lists/" + principal_ + "/00")->status, 404);
  // Unknown principal and list.
  EXPECT_EQ(client_->Get("/v1/status-lists/prn_aaaaaaaaaaaaaaaaaaaaaaaaaa/0")->status, 404);
  EXPECT_EQ(client_->Get("/v1/status-lists/" + principal_ + "/7")->status, 404);
  EXPECT_EQ(client_->Get("/v1/status-lists/" + principal_ + "/x")->status, 404);
}

// A list served from the cache is signed by the principal's active issuer key (specs/mandate.md
// §6.3): once that key is rotated and the old one disabled (withdrawn from did.json), the next
// fetch is signed again by the new key, though no status changed.
TEST_F(MandatesApiTest, AListIsSignedAgainByTheNewKeyOnceTheOldOneIsDisabled) {
  const std::string agent = NewAgent("buyer");
  Issue(agent, kTerms, kStart, kStart + 86400);
  const std::string path = "/v1/status-lists/" + principal_ + "/0";
  httplib::Result first = client_->Get(path);
  ASSERT_TRUE(first && first->status == 200);
  Result<json::Value> h1 = json::Parse(Split(first->body).header);
  ASSERT_TRUE(h1.ok());
  const std::string kid1 = StringField(*h1, "kid");
  const std::string old_key = kid1.substr(kid1.find('#') + 1);
  // A key made for something else leaves the cached list as it was: served again, not signed
  // again (it would carry a later iat).
  clock_.AdvanceSeconds(10);
  Call("POST", base_ + "/keys", admin_, R"({"type":"Ed25519","purpose":"webhooks"})", 201);
  httplib::Result cached = client_->Get(path);
  ASSERT_TRUE(cached && cached->status == 200);
  EXPECT_EQ(cached->body, first->body);
  const std::string new_key =
      StringField(Call("POST", base_ + "/keys/" + old_key + "/rotate", admin_, "", 200), "id");
  Call("POST", base_ + "/keys/" + old_key + "/disable", admin_, "", 200);
  httplib::Result second = client_->Get(path);
  ASSERT_TRUE(second && second->status == 200);
  Result<json::Value> h2 = json::Parse(Split(second->body).header);
  ASSERT_TRUE(h2.ok());
  EXPECT_EQ(StringField(*h2, "kid"), kid1.substr(0, kid1.find('#') + 1) + new_key);
  EXPECT_NE(second->get_header_value("ETag"), first->get_header_value("ETag"));
  // With no active issuer key left (the new one disabled too, say compromised), the list is
  // still served, signed by a key made for it, which did.json publishes: offline verifiers of
  // the earlier mandates need it (before: 404 key-not-found until the next issuance).
  Call("POST", base_ + "/keys/" + new_key + "/disable", admin_, "", 200);
  httplib::Result third = client_->Get(path);
  ASSERT_TRUE(third);
  ASSERT_EQ(third->status, 200) << third->body;
  Result<json::Value> h3 = json::Parse(Split(third->body).header);
  ASSERT_TRUE(h3.ok());
  const std::string kid3 = StringField(*h3, "kid");
  const std::string made = kid3.substr(kid3.find('#') + 1);
  EXPECT_NE(made, new_key);
  EXPECT_NE(made, old_key);
  const json::Value did = *json::Parse(client_->Get("/principals/" + principal_ + "/did.json")->body);
  EXPECT_NE(json::Write(did).find(made), std::string::npos);
  // A principal that never issued has no list: 404 status-list-not-found, not key-not-found.
  const std::string fresh =
      StringField(Call("POST", "/v1/principals", kOperatorToken, R"({"name":"No Lists Yet"})", 201), "id");
  httplib::Result none = client_->Get("/v1/status-lists/" + fresh + "/0");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
  EXPECT_EQ(StringField(*json::Parse(none->body), "type"),
            "urn:mandated:problem:status-list-not-found");
}

TEST_F(MandatesApiTest, BadIssueRequestsAreRefusedAndChangeNothing) {
  const std::string agent = NewAgent("buyer");
  struct Bad {
    std::string body;
    int status;
    std::string type;
  };
  const std::string t = R"({"limits":{"per_transaction":[{"asset":"USD","max":"1"}]}})";
  const std::vector<Bad> cases = {
      {IssueBody("agt_nosuchagentaaaaaaaaaaaaaa", t, kStart, kStart + 60), 404, "agent-not-found"},
      {IssueBody(agent, t, kStart + 60, kStart), 400, "bad-validity"},
      {IssueBody(agent, t, kStart, kStart + 367 * 86400), 400, "bad-validity"},
      {IssueBody(agent, t, kStart - 7200, kStart - 3600), 400, "bad-validity"},
      {IssueBody(agent, R"({"limits":{"max_uses":1}})", kStart, kStart + 60), 400, "no-limits"},
      {IssueBody(agent, R"({"limits":{"per_transaction":[{"asset":"USD","max":1}]}})", kStart,
                 kStart + 60),
       400, "amount-not-string"},
      {IssueBody(agent, R"({"parent":"urn:mandated:mandate:x","limits":{"lifetime":[{"asset":"USD","max":"1"}]}})",
                 kStart, kStart + 60),
       400, "unknown-field"},
      {IssueBody(agent, R"({"limits":{"lifetime":[{"asset":"USD","max":"1"}]},"constraints":[{"type":"payment.agent_recurrence"}]})",
                 kStart, kStart + 60),
       400, "unknown-constraint"},
      {IssueBody(agent, t, kStart, kStart + 60, "mnd_nosuch"), 404, "mandate-not-found"},
      {R"({"agent":")" + agent + R"(","valid_from":"2026-11-18T08:26:40+00:00","valid_until":"2026-11-19T08:26:40Z","terms":)" + t + "}",
       400, "bad-validity"},
  };
  for (const Bad& b : cases) {
    json::Value p = Call("POST", base_ + "/mandates", admin_, b.body, b.status);
    EXPECT_EQ(StringField(p, "type"), "urn:mandated:problem:" + b.type) << b.body;
  }
  json::Value list = Call("GET", base_ + "/mandates", admin_, "", 200);
  EXPECT_EQ(list.Find("items")->items().size(), 0u);
  // A suspended agent gets no new mandate.
  Call("POST", base_ + "/agents/" + agent + "/suspend", admin_, "", 200);
  json::Value p = Call("POST", base_ + "/mandates", admin_, IssueBody(agent, t, kStart, kStart + 60), 409);
  EXPECT_EQ(StringField(p, "type"), "urn:mandated:problem:agent-state");
}

TEST_F(MandatesApiTest, BadVerifyRequestsAreRefusedPrecisely) {
  const std::string agent = NewAgent("buyer");
  const std::string token = StringField(
      Issue(agent, R"({"limits":{"per_transaction":[{"asset":"USD","max":"5"}],"max_uses":1}})",
            kStart, kStart + 60),
      "token");
  struct Bad {
    std::string body, type, pointer;
  };
  const std::string m = R"({"mandate":")" + token + "\"";
  const std::vector<Bad> cases = {
      {"{}", "missing-field", "/mandate"},
      {R"({"mandate":""})", "bad-jws", "/mandate"},
      {R"({"mandate":7})", "wrong-type", "/mandate"},
      {m + R"(,"chain":"x"})", "wrong-type", "/chain"},
      {m + R"(,"chain":[1]})", "wrong-type", "/chain/0"},
      {m + R"(,"purchase":{"payee":{"type":"domain","value":"*.a.example"},"amount":"1","asset":"USD"}})",
       "bad-payee", "/purchase/payee/value"},
      {m + R"(,"purchase":{"payee":{"type":"domain","value":"a.example"},"amount":1,"asset":"USD"}})",
       "amount-not-string", "/purchase/amount"},
      {m + R"(,"trusted_issuers":["nope"]})", "bad-did", "/trusted_issuers/0"},
      {m + R"(,"use":{"key":"has space"}})", "bad-use-key", "/use/key"},
      {m + R"(,"use":{"key":"k","extra":1}})", "unknown-field", "/use/extra"},
      {m + R"(,"surprise":true})", "unknown-field", "/surprise"},
  };
  for (const Bad& b : cases) {
    json::Value p = Call("POST", "/v1/mandates/verify", merchant_, b.body, 400);
    EXPECT_EQ(StringField(p, "type"), "urn:mandated:problem:" + b.type) << b.body;
    EXPECT_EQ(StringField(p, "detail").rfind(b.pointer, 0), 0u) << StringField(p, "detail");
  }
  // None of them counted a use: the single use is still there.
  json::Value used = Call("POST", "/v1/mandates/verify", merchant_,
                          m + R"(,"use":{"key":"the-one"}})", 200);
  EXPECT_EQ(StringField(used, "verdict"), "valid") << json::Write(used);
}

}  // namespace
}  // namespace mandated
