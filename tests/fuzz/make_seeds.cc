// Writes the seed inputs that need our own code to make (tests/fuzz/make_corpus.sh runs it):
// JWS tokens signed by the fuzz targets' fixed keys, signed mandate credential tokens, and audit
// export bundles from a real audit log on RocksDB (a complete prefix, and a trail with inclusion
// proofs), and SD-JWTs with a key binding and a delegation chain. Usage: fuzz_make_seeds <corpus dir>; writes into <dir>/<target>/seed-*.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audit/bundle.h"
#include "audit/event.h"
#include "audit/log.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/random.h"
#include "base/secret.h"
#include "mandates/sd_jwt.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/key_store.h"
#include "signer/signature.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

int failures = 0;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "make_seeds: %s failed\n", what);
    ++failures;
  }
}

void Write(const std::filesystem::path& dir, const std::string& target, const std::string& name,
           std::string_view content) {
  std::filesystem::create_directories(dir / target);
  std::ofstream out(dir / target / ("seed-" + name), std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  Check(out.good(), "write");
}

// The fixed keys of tests/fuzz/jws.cc.
std::vector<std::pair<std::string, signer::PrivateKey>> FixedKeys() {
  std::vector<std::pair<std::string, signer::PrivateKey>> keys;
  const std::pair<signer::KeyType, const char*> list[] = {
      {signer::KeyType::kEd25519,
       "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"},
      {signer::KeyType::kP256, "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"},
      {signer::KeyType::kSecp256k1,
       "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"},
  };
  for (const auto& [type, hex] : list) {
    Result<signer::PrivateKey> k = signer::ImportPrivateKey(type, *HexDecode(hex));
    Check(k.ok(), "import key");
    keys.emplace_back(std::string(signer::KeyTypeName(type)), std::move(*k));
  }
  return keys;
}

// A minimal valid mandate credential payload (specs/mandate.md §2) for `issuer`.
std::string CredentialPayload(const std::string& issuer) {
  return R"({"@context":["https://www.w3.org/ns/credentials/v2","https://mandated.dev/ns/mandate/v1"],)"
         R"("type":["VerifiableCredential","SpendingMandate"],)"
         R"("id":"urn:mandated:mandate:mnd_7ks2q4","issuer":")" + issuer + R"(",)"
         R"("validFrom":"2026-01-01T00:00:00Z","validUntil":"2026-02-01T00:00:00Z",)"
         R"("credentialStatus":{"type":"TokenStatusListEntry",)"
         R"("status_list":{"idx":1234,"uri":"https://mandated.acme.example/v1/status-lists/1"}},)"
         R"("credentialSubject":{"id":"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",)"
         R"("mandate":{"scope":{"payees":{"allow":[{"type":"did","value":"did:web:shop.example"},)"
         R"({"type":"domain","value":"*.shop.example"}]},"countries":{"allow":["US","FR"]},)"
         R"("resources":{"allow":["https://api.shop.example/v1/**"]}},)"
         R"("limits":{"per_transaction":[{"asset":"USD","min":"100","max":"50000"}],)"
         R"("windows":[{"asset":"USD","window":"day","kind":"calendar","time_zone":"Europe/Paris","max":"200000"}],)"
         R"("lifetime":[{"asset":"USD","max":"1000000"}],"max_uses":100},)"
         R"("step_up":{"above":[{"asset":"USD","amount":"20000"}]}}},)"
         R"("iss":")" + issuer + R"(",)"
         R"("sub":"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",)"
         R"("jti":"urn:mandated:mandate:mnd_7ks2q4",)"
         R"("iat":1767225600,"nbf":1767225600,"exp":1769904000,)"
         R"("status":{"status_list":{"idx":1234,"uri":"https://mandated.acme.example/v1/status-lists/1"}}})";
}

void Tokens(const std::filesystem::path& dir) {
  for (auto& [name, key] : FixedKeys()) {
    Result<signer::PublicKey> pub = signer::DerivePublicKey(key);
    Check(pub.ok(), "derive");
    const std::string did = signer::DidKeyFromPublicKey(*pub);
    json::Value header = json::Value::Object();
    header.Set("kid", json::Value::String(signer::DidKeyVerificationMethodId(*pub)));
    header.Set("typ", json::Value::String("JWT"));
    json::Value claims = json::Value::Object();
    claims.Set("iss", json::Value::String(did));
    claims.Set("sub", json::Value::String("did:web:shop.example"));
    claims.Set("iat", json::Value::Int(1767225600));
    Result<std::string> jwt = signer::SignJws(key, header, json::Write(claims));
    Check(jwt.ok(), "sign jwt");
    Write(dir, "jws", name + ".jwt", *jwt);
    Write(dir, "did", name + ".did", did);
    Write(dir, "did", name + ".vm", signer::DidKeyVerificationMethodId(*pub));
    Write(dir, "did", name + ".jwk", json::Write(signer::PublicKeyToJwk(*pub)));

    json::Value vc_header = json::Value::Object();
    vc_header.Set("kid", json::Value::String(signer::DidKeyVerificationMethodId(*pub)));
    vc_header.Set("typ", json::Value::String("vc+jwt"));
    const std::string payload = CredentialPayload(did);
    Result<std::string> vc = signer::SignJws(key, vc_header, payload);
    Check(vc.ok(), "sign vc");
    Write(dir, "jws", name + ".vc.jwt", *vc);
    Write(dir, "credential", name + ".vc.jwt", *vc);
    if (name == "Ed25519") {
      Write(dir, "credential", "payload.json", payload);
    }
  }
  // A did:web document naming a JWK, and a JWKS, for the DID target.
  std::vector<std::pair<std::string, signer::PrivateKey>> keys = FixedKeys();
  const signer::PublicKey pub = *signer::DerivePublicKey(keys[1].second);
  json::Value vm = json::Value::Object();
  vm.Set("id", json::Value::String("#key-1"));
  vm.Set("type", json::Value::String("JsonWebKey"));
  vm.Set("controller", json::Value::String("did:web:acme.example"));
  vm.Set("publicKeyJwk", signer::PublicKeyToJwk(pub));
  json::Value doc = json::Value::Object();
  doc.Set("@context", json::Value::String("https://www.w3.org/ns/did/v1"));
  doc.Set("id", json::Value::String("did:web:acme.example"));
  doc.Set("verificationMethod", json::Value::Array().Append(vm));
  doc.Set("assertionMethod", json::Value::Array().Append(json::Value::String("#key-1")));
  Write(dir, "did", "did-web-document.json", json::Write(doc));
  json::Value jwk = signer::PublicKeyToJwk(pub);
  jwk.Set("kid", json::Value::String("did:web:acme.example#key-1"));
  json::Value jwks = json::Value::Object();
  jwks.Set("keys", json::Value::Array().Append(jwk));
  Write(dir, "did", "jwks.json", json::Write(jwks));
}

void Bundles(const std::filesystem::path& dir) {
  testing::TempDir tmp;
  testing::FakeClock clock(1795000000);
  store::RocksStoreOptions o;
  o.path = tmp.Sub("db");
  o.column_families = {signer::kKeysFamily, std::string(audit::kAuditFamily), "state"};
  Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(o);
  Check(kv.ok(), "open store");
  Result<std::unique_ptr<signer::KeyStore>> keys = signer::KeyStore::Open(
      **kv, SecretBytes(ByteSpan(Bytes(32, 9))), clock, SystemRandom::Get());
  Check(keys.ok(), "open keys");
  Result<std::unique_ptr<audit::Log>> log =
      audit::Log::Open(**kv, **keys, clock, "audit.fuzz.example/audit");
  Check(log.ok(), "open log");
  const char* types[] = {"agent.created", "mandate.issued", "session.opened",
                         "authorization.decided", "authorization.captured", "mandate.revoked"};
  int n = 0;
  for (const char* type : types) {
    store::WriteBatch b;
    audit::Event e;
    e.type = type;
    e.principal = "prn_a";
    e.actor = audit::Actor::Operator();
    e.Subject("agent", "agt_1").Subject("mandate", "mnd_1");
    if (std::string_view(type).rfind("authorization", 0) == 0) {
      e.Subject("authorization", "atz_1");
    }
    e.data.Set("n", json::Value::Int(++n));
    e.at_micros = clock.NowUnixMicros();
    audit::Stage(b, e);
    Check((*kv)->Write(b).ok(), "write");
    clock.AdvanceSeconds(1);
  }
  Check((*log)->Sequence().ok(), "sequence");
  const std::string vkey = *(*log)->VerifierKey();
  Result<std::string> all = (*log)->Export(audit::TrailQuery{}, 1000);
  Check(all.ok(), "export all");
  audit::TrailQuery purchase;
  purchase.authorization = "atz_1";
  Result<std::string> trail = (*log)->Export(purchase, 1000);
  Check(trail.ok(), "export trail");
  audit::BundleVerifyOptions options;
  options.verifier_key = vkey;
  Check(audit::VerifyBundle(*all, options).ok(), "verify complete bundle");
  Check(audit::VerifyBundle(*trail, options).ok(), "verify trail bundle");
  Write(dir, "audit_bundle", "complete.ndjson", *all);
  Write(dir, "audit_bundle", "trail.ndjson", *trail);
}

// SD-JWTs issued by the sd_jwt target's fixed P-256 key: with a KB-JWT, and a two-hop
// Delegate-SD-JWT chain whose second hop the holder key signs.
void SdJwts(const std::filesystem::path& dir) {
  std::vector<std::pair<std::string, signer::PrivateKey>> keys = FixedKeys();
  const signer::PrivateKey& issuer = keys[1].second;
  Result<signer::PrivateKey> holder =
      signer::ImportPrivateKey(signer::KeyType::kP256, Bytes(32, 7));
  Check(holder.ok(), "holder key");
  const signer::PublicKey holder_pub = *signer::DerivePublicKey(*holder);
  Result<json::Value> claims = json::Parse(
      R"({"iss":"did:web:bank.example","iat":1767225600,"exp":1769904000,)"
      R"("given_name":"Ada","payment":{"amount":"1250","currency":"USD"},)"
      R"("merchants":["shop.example","cdn.example"]})");
  Check(claims.ok(), "claims");
  json::Value with_cnf = *claims;
  json::Value cnf = json::Value::Object();
  cnf.Set("jwk", signer::PublicKeyToJwk(holder_pub));
  with_cnf.Set("cnf", cnf);
  Result<json::Value> frame =
      json::Parse(R"({"_sd":["given_name","payment"],"merchants":{"_sd":[1]}})");
  Check(frame.ok(), "frame");
  Result<std::string> sd = mandates::sdjwt::Issue(
      with_cnf, *frame, json::Value::Object(), mandates::sdjwt::HashAlg::kSha256,
      SystemRandom::Get(), mandates::sdjwt::SignerFor(issuer));
  Check(sd.ok(), "issue");
  Write(dir, "sd_jwt", "issued", *sd);
  Result<std::string> kb = mandates::sdjwt::AppendKeyBinding(
      *sd, "https://merchant.example", "n-0S6_WzA2Mj", 1767225600,
      mandates::sdjwt::SignerFor(*holder));
  Check(kb.ok(), "key binding");
  Write(dir, "sd_jwt", "key-binding", *kb);
  Result<json::Value> hop = json::Parse(
      R"({"aud":"https://merchant.example","nonce":"n-0S6_WzA2Mj","iat":1767225600,)"
      R"("checkout":{"total":"1250"}})");
  Check(hop.ok(), "hop claims");
  Result<std::string> chain = mandates::sdjwt::AppendHop(
      *sd, *hop, json::Value(), mandates::sdjwt::HopOptions{}, SystemRandom::Get(),
      mandates::sdjwt::SignerFor(*holder));
  Check(chain.ok(), "append hop");
  Write(dir, "sd_jwt", "chain", *chain);
  Write(dir, "sd_jwt", "claims.json", json::Write(*claims));
}

}  // namespace
}  // namespace mandated

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds <corpus dir>\n");
    return 2;
  }
  const std::filesystem::path dir(argv[1]);
  mandated::Tokens(dir);
  mandated::Bundles(dir);
  mandated::SdJwts(dir);
  return mandated::failures == 0 ? 0 : 1;
}
