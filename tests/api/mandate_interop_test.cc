// Interop: npm jose and did-jwt verify issued mandates with only public data fetched over HTTP.
//
// The service runs in-process on loopback. For each issuer algorithm (EdDSA, ES256, ES256K) a
// principal gets an issuer key of that type and issues a mandate; the test fetches the
// principal's did:web document, JWKS and status list over HTTP and hands only those and the
// tokens to tests/interop/verify_mandate.mjs (versions pinned in tests/interop/package-lock.json):
// jose verifies the token and the status list with the JWKS, did-jwt resolves the issuer's
// did:web to the fetched document. Forgeries of each token are refused by both: one payload byte
// changed, alg changed, alg "none", and its exact header and payload signed by another
// principal's issuer key (imported, so the test can sign with it). Then a key rotation (old and
// new mandates both verify, each under its own kid) and revocation (the re-fetched status list
// turns the mandate's entry from 0 to 1).
#include <gtest/gtest.h>
#include <httplib.h>
#include <stdio.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/app.h"
#include "api/config.h"
#include "base/bytes.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/random.h"
#include "base/secret.h"
#include "mandates/credential.h"
#include "signer/did.h"
#include "signer/signature.h"
#include "tests/support/http_json.h"
#include "tests/support/in_process_service.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::ResponseJson;
using testing::StringField;

constexpr char kBootstrapToken[] = "mandate-interop-operator-token-5d2e8b71c4";
constexpr char kHost[] = "127.0.0.1";

// One issuer algorithm and the key type that selects it (POST /v1/principals/{p}/keys).
struct Algorithm {
  std::string alg;
  std::string key_type;
};
const std::vector<Algorithm>& Algorithms() {
  static const auto* const kAlgs = new std::vector<Algorithm>{
      {"EdDSA", "Ed25519"}, {"ES256", "P-256"}, {"ES256K", "secp256k1"}};
  return *kAlgs;
}

// The member `key` of `v` when `v` is an object, else null.
const json::Value* Member(const json::Value* v, const char* key) {
  return v != nullptr && v->is_object() ? v->Find(key) : nullptr;
}
bool BoolAt(const json::Value& r, const char* part, const char* key) {
  const json::Value* b = Member(Member(&r, part), key);
  return b != nullptr && b->is_bool() && b->as_bool();
}
std::string StringAt(const json::Value& r, const char* part, const char* key) {
  const json::Value* o = Member(&r, part);
  return o != nullptr ? StringField(*o, key) : "";
}
int64_t IntAt(const json::Value& r, const char* part, const char* key) {
  const json::Value* n = Member(Member(&r, part), key);
  return n != nullptr && n->is_number() ? n->as_int64().value_or(-1) : -1;
}

// Runs verify_mandate.mjs on `input`; returns its results keyed by "<name>/<case>".
std::map<std::string, json::Value> RunNodeVerifier(const json::Value& input) {
  const json::Value v = testing::RunInteropScript("verify_mandate.mjs", input);
  EXPECT_TRUE(v.is_array()) << json::Write(v);
  std::map<std::string, json::Value> results;
  if (v.is_array()) {
    for (const json::Value& r : v.items()) {
      results.emplace(StringField(r, "name") + "/" + StringField(r, "case"), r);
    }
  }
  return results;
}

// What the service said about one issued mandate.
struct Issued {
  std::string principal;
  std::string id;
  std::string token;
  std::string issuer;      // the principal's issuer DID
  std::string kid;         // DID URL of the issuer key that signed it
  std::string status_uri;  // where its status list is served
  uint64_t idx = 0;        // its entry there
};

// A genuine token: both libraries verify it under the signing key's kid, and its status entry
// in the fetched list is `want_status`.
void ExpectGenuine(const std::map<std::string, json::Value>& results, const std::string& name,
                   const std::string& alg, const Issued& m, int64_t want_status) {
  SCOPED_TRACE(name);
  auto it = results.find(name + "/as-issued");
  ASSERT_NE(it, results.end()) << "no result";
  const json::Value& r = it->second;
  SCOPED_TRACE(json::Write(r));
  EXPECT_EQ(StringAt(r, "header", "typ"), "vc+jwt");
  EXPECT_EQ(StringAt(r, "header", "alg"), alg);

  ASSERT_TRUE(BoolAt(r, "jose", "verified"));
  EXPECT_EQ(IntAt(r, "jose", "version"), alg == "ES256K" ? 5 : 6);
  EXPECT_EQ(StringAt(r, "jose", "alg"), alg);
  EXPECT_EQ(StringAt(r, "jose", "kid"), m.kid);
  EXPECT_EQ(StringAt(r, "jose", "iss"), m.issuer);
  EXPECT_EQ(StringAt(r, "jose", "jti"), "urn:mandated:mandate:" + m.id);
  EXPECT_EQ(StringAt(r, "jose", "sub").rfind("did:key:z6Mk", 0), 0u);
  const json::Value* failures = Member(r.Find("jose"), "claim_failures");
  ASSERT_NE(failures, nullptr);
  EXPECT_TRUE(failures->is_array() && failures->items().empty());

  EXPECT_TRUE(BoolAt(r, "did_jwt", "verified"));
  EXPECT_EQ(StringAt(r, "did_jwt", "issuer"), m.issuer);
  EXPECT_EQ(StringAt(r, "did_jwt", "signer"), m.kid);
  EXPECT_TRUE(BoolAt(r, "did_jwt", "signer_is_kid"));

  EXPECT_TRUE(BoolAt(r, "status", "verified"));
  EXPECT_EQ(StringAt(r, "status", "uri"), m.status_uri);
  EXPECT_EQ(IntAt(r, "status", "idx"), static_cast<int64_t>(m.idx));
  EXPECT_EQ(IntAt(r, "status", "bits"), 2);
  EXPECT_EQ(IntAt(r, "status", "value"), want_status);
}

// A forgery: neither library accepts it. `signature_error`: the refusal must come from the
// signature check itself (not from parsing, resolution or key selection). `forger_valid`: the
// signature is valid under the key that made it (the script checked it with that key's JWK).
void ExpectRefused(const std::map<std::string, json::Value>& results, const std::string& name,
                   const std::string& kase, bool signature_error, bool forger_valid = false) {
  SCOPED_TRACE(name + "/" + kase);
  auto it = results.find(name + "/" + kase);
  ASSERT_NE(it, results.end()) << "no result";
  const json::Value& r = it->second;
  SCOPED_TRACE(json::Write(r));
  EXPECT_FALSE(BoolAt(r, "jose", "verified"));
  EXPECT_FALSE(BoolAt(r, "did_jwt", "verified"));
  EXPECT_NE(StringAt(r, "jose", "error"), "");
  EXPECT_NE(StringAt(r, "did_jwt", "error"), "");
  if (signature_error) {
    EXPECT_EQ(StringAt(r, "jose", "error").rfind("ERR_JWS_SIGNATURE_VERIFICATION_FAILED", 0), 0u);
    EXPECT_NE(StringAt(r, "did_jwt", "error").find("invalid_signature"), std::string::npos);
  }
  if (forger_valid) {
    EXPECT_TRUE(BoolAt(r, "forger", "signature_valid"));
  }
}

class MandateInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_.Start(dir_.Sub("data"), kBootstrapToken);
    ASSERT_NE(service_.app(), nullptr);
    app_ = service_.app();
    client_ = &service_.client();
    authority_ = std::string(kHost) + ":" + std::to_string(app_->port());
  }

  // POSTs `body` with the operator token and expects `want`.
  json::Value Post(const std::string& path, const std::string& body, int want) {
    httplib::Result r = client_->Post(
        path, {{"Authorization", std::string("Bearer ") + kBootstrapToken}}, body,
        "application/json");
    EXPECT_TRUE(r) << "POST " << path;
    if (r) {
      EXPECT_EQ(r->status, want) << "POST " << path << " " << body << " -> " << r->body;
    }
    return ResponseJson(r);
  }

  // GETs a public document (no credential); expects 200 with `content_type`.
  std::string GetPublic(const std::string& path, const std::string& content_type) {
    httplib::Result r = client_->Get(path);
    EXPECT_TRUE(r) << "GET " << path;
    if (!r) {
      return "";
    }
    EXPECT_EQ(r->status, 200) << "GET " << path << " -> " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), content_type) << path;
    return r->body;
  }

  json::Value GetPublicJson(const std::string& path, const std::string& content_type) {
    Result<json::Value> v = json::Parse(GetPublic(path, content_type));
    EXPECT_TRUE(v.ok()) << path;
    return v.ok() ? *v : json::Value::Object();
  }

  // A principal with an issuer key of `key_type` and one self-custody agent. With `imported`,
  // the issuer key is that one (POST .../keys with private_key_hex), else the service makes it.
  struct Principal {
    std::string id;
    std::string key;
    std::string agent;
  };
  Principal NewPrincipal(const std::string& name, const std::string& key_type,
                         const signer::PrivateKey* imported = nullptr) {
    Principal p;
    p.id = StringField(Post("/v1/principals", R"({"name":")" + name + "\"}", 201), "id");
    const std::string hex =
        imported != nullptr ? R"(,"private_key_hex":")" + HexEncode(imported->secret.span()) + "\""
                            : "";
    const std::string body = R"({"type":")" + key_type + R"(","purpose":"issuer")" + hex + "}";
    p.key = StringField(Post("/v1/principals/" + p.id + "/keys", body, 201), "id");
    Result<signer::PrivateKey> key =
        signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
    EXPECT_TRUE(key.ok());
    std::string did;
    if (key.ok()) {
      Result<signer::PublicKey> pub = signer::DerivePublicKey(*key);
      EXPECT_TRUE(pub.ok());
      did = pub.ok() ? signer::DidKeyFromPublicKey(*pub) : "";
    }
    p.agent = StringField(Post("/v1/principals/" + p.id + "/agents",
                               R"({"name":"shopper","did":")" + did + "\"}", 201),
                          "id");
    return p;
  }

  // Issues a root mandate to the principal's agent: valid from an hour ago for 30 days, at most
  // 5000 USD per transaction (the script's payload forgery raises that to 9000).
  Issued Issue(const Principal& p) {
    const int64_t now = SystemClock::Get().NowUnixSeconds();
    const std::string body =
        R"({"agent":")" + p.agent + R"(","valid_from":")" +
        mandates::FormatRfc3339Utc(now - 3600) + R"(","valid_until":")" +
        mandates::FormatRfc3339Utc(now + 30 * 86400) +
        R"(","terms":{"limits":{"per_transaction":[{"asset":"USD","max":"5000"}]}}})";
    const json::Value m = Post("/v1/principals/" + p.id + "/mandates", body, 201);
    Issued out;
    out.principal = p.id;
    out.id = StringField(m, "id");
    out.token = StringField(m, "token");
    out.issuer = StringField(m, "issuer");
    // The issuer DID the test expects: did:web path form, the port's colon percent-encoded.
    EXPECT_EQ(out.issuer, "did:web:" + std::string(kHost) + "%3A" +
                              std::to_string(app_->port()) + ":principals:" + p.id);
    out.kid = out.issuer + "#" + StringField(m, "key_id");
    const json::Value* list = Member(m.Find("status_list"), "list");
    const json::Value* idx = Member(m.Find("status_list"), "idx");
    EXPECT_TRUE(list != nullptr && idx != nullptr) << json::Write(m);
    if (list != nullptr && idx != nullptr) {
      out.status_uri = "http://" + authority_ + "/v1/status-lists/" + p.id + "/" +
                       std::to_string(list->as_uint64().value_or(0));
      out.idx = idx->as_uint64().value_or(0);
    }
    return out;
  }

  // One input entry of the script: a token and what a verifier fetches for it, fetched now.
  json::Value Entry(const std::string& name, const std::string& alg, const Issued& m,
                    bool negatives) {
    const std::string docs = "/principals/" + m.principal;
    json::Value documents = json::Value::Object();
    // Keyed by where it was fetched (scheme left off): the script's did:web resolution must
    // arrive at this same place from the issuer DID alone.
    documents.Set(authority_ + docs + "/did.json",
                  GetPublicJson(docs + "/did.json", "application/did+json"));
    json::Value e = json::Value::Object();
    e.Set("name", json::Value::String(name));
    e.Set("alg", json::Value::String(alg));
    e.Set("token", json::Value::String(m.token));
    e.Set("jwks", GetPublicJson(docs + "/jwks.json", "application/jwk-set+json"));
    e.Set("did_documents", std::move(documents));
    const std::string list_path = m.status_uri.substr(m.status_uri.find("/v1/"));
    e.Set("status_list_token",
          json::Value::String(GetPublic(list_path, "application/statuslist+jwt")));
    e.Set("negatives", json::Value::Bool(negatives));
    e.Set("forged", json::Value::Array());
    return e;
  }

  // Adds to `entry` its token's header and payload signed with `key`; `jwk` is that key's
  // public JWK as its own issuer publishes it.
  static void AddForgery(json::Value& entry, const std::string& label,
                         const signer::PrivateKey& key, const json::Value& jwk) {
    const std::string token = StringField(entry, "token");
    const std::string input = token.substr(0, token.rfind('.'));
    Result<Bytes> sig = signer::Sign(key, AsBytes(input));
    ASSERT_TRUE(sig.ok()) << sig.error().ToString();
    json::Value f = json::Value::Object();
    f.Set("label", json::Value::String(label));
    f.Set("token", json::Value::String(input + "." + Base64UrlEncode(*sig)));
    f.Set("jwk", jwk);
    entry.Find("forged")->Append(std::move(f));
  }

  testing::TempDir dir_;
  testing::InProcessService service_;
  api::App* app_ = nullptr;
  httplib::Client* client_ = nullptr;
  std::string authority_;  // "127.0.0.1:<port>"
};

TEST_F(MandateInteropTest, JoseAndDidJwtVerifyIssuedMandatesWithPublicKeysOnly) {
  // Per algorithm: the issuing principal, and another one whose issuer key (same type, imported
  // so the test holds it too) signs the "signature-from-other-issuer" forgery.
  std::map<std::string, Principal> acme;
  std::map<std::string, Issued> mandate;
  json::Value input = json::Value::Array();
  for (const Algorithm& a : Algorithms()) {
    Result<signer::KeyType> type = signer::KeyTypeFromName(a.key_type);
    ASSERT_TRUE(type.ok());
    Result<signer::PrivateKey> other_key = signer::GenerateKey(*type, SystemRandom::Get());
    ASSERT_TRUE(other_key.ok());
    acme[a.alg] = NewPrincipal("Acme " + a.alg, a.key_type);
    const Principal other = NewPrincipal("Other " + a.alg, a.key_type, &*other_key);
    mandate[a.alg] = Issue(acme[a.alg]);
    EXPECT_EQ(mandate[a.alg].kid, mandate[a.alg].issuer + "#" + acme[a.alg].key)
        << "signed with the issuer key created for " << a.alg;
    // The other principal's key is a working issuer key of this service: it signs its mandates
    // and its JWKS publishes it.
    const Issued foreign = Issue(other);
    EXPECT_EQ(foreign.kid, foreign.issuer + "#" + other.key);
    const json::Value other_jwks =
        GetPublicJson("/principals/" + other.id + "/jwks.json", "application/jwk-set+json");
    const json::Value* keys = other_jwks.Find("keys");
    ASSERT_TRUE(keys != nullptr && keys->is_array() && keys->items().size() == 1u)
        << json::Write(other_jwks);
    EXPECT_EQ(StringField(keys->items()[0], "kid"), foreign.kid);

    json::Value e = Entry(a.alg, a.alg, mandate[a.alg], /*negatives=*/true);
    AddForgery(e, "other-issuer", *other_key, keys->items()[0]);
    input.Append(std::move(e));
  }
  ASSERT_FALSE(HasFailure()) << "setup failed";

  std::map<std::string, json::Value> fresh = RunNodeVerifier(input);
  EXPECT_EQ(fresh.size(), Algorithms().size() * 5);
  for (const Algorithm& a : Algorithms()) {
    ExpectGenuine(fresh, a.alg, a.alg, mandate[a.alg], /*want_status=*/0);
    ExpectRefused(fresh, a.alg, "payload-byte-changed", /*signature_error=*/true);
    ExpectRefused(fresh, a.alg, "signature-from-other-issuer", /*signature_error=*/true,
                  /*forger_valid=*/true);
    ExpectRefused(fresh, a.alg, "alg-changed", /*signature_error=*/false);
    ExpectRefused(fresh, a.alg, "alg-none", /*signature_error=*/false);
  }

  // Rotation: the EdDSA principal's issuer key is retired for a new one. Its DID document now
  // publishes both; the old mandate still verifies under the old kid, the new one under the new.
  const Principal& ed = acme["EdDSA"];
  const std::string rotated =
      StringField(Post("/v1/principals/" + ed.id + "/keys/" + ed.key + "/rotate", "", 200), "id");
  ASSERT_NE(rotated, "");
  const Issued after_rotation = Issue(ed);
  EXPECT_EQ(after_rotation.kid, after_rotation.issuer + "#" + rotated);

  // Revocation: each algorithm's first mandate is revoked; the re-fetched lists say 1 for it
  // and still 0 for the next entry (the mandate issued after the rotation).
  for (const Algorithm& a : Algorithms()) {
    const json::Value revoked = Post(
        "/v1/principals/" + acme[a.alg].id + "/mandates/" + mandate[a.alg].id + "/revoke", "", 200);
    EXPECT_EQ(StringField(revoked, "state"), "revoked");
  }
  json::Value later = json::Value::Array();
  for (const Algorithm& a : Algorithms()) {
    later.Append(Entry(a.alg + " revoked", a.alg, mandate[a.alg], /*negatives=*/false));
  }
  later.Append(Entry("EdDSA rotated", "EdDSA", after_rotation, /*negatives=*/false));
  ASSERT_FALSE(HasFailure()) << "setup failed";

  // The EdDSA documents now publish the retired and the new key: each mandate verifies under
  // its own kid (ExpectGenuine checks did-jwt's signer, which it finds by trying every key).
  std::map<std::string, json::Value> now = RunNodeVerifier(later);
  EXPECT_EQ(now.size(), Algorithms().size() + 1);
  for (const Algorithm& a : Algorithms()) {
    ExpectGenuine(now, a.alg + " revoked", a.alg, mandate[a.alg], /*want_status=*/1);
  }
  ExpectGenuine(now, "EdDSA rotated", "EdDSA", after_rotation, /*want_status=*/0);
  EXPECT_EQ(after_rotation.idx, mandate["EdDSA"].idx + 1);
}

}  // namespace
}  // namespace mandated
