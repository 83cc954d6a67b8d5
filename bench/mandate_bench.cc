// Mandate issue and verify benchmarks, per algorithm, beside the raw signature rate of the curve.
// Same binary and round as their baselines; BENCHMARKS.md "Mandates" reports the issue/raw-sign
// and verify/raw-verify ratios. Names: Mandate/<Operation>/<Algorithm>:
//
//   Issue         credential -> MandateCredentialPayload (the payload written straight to a
//                 string; byte for byte json::Write(MandateCredentialToJson), as
//                 MandateRegistry::Issue signs it) -> signer::SignJws with an in-memory
//                 PrivateKey (what issuance does, minus storage);
//   IssueKeyStore the same through KeyStore::SignJws on a RocksDB-backed key store;
//   SignRaw       the raw library call the signer bench uses as "raw" for that curve, over a
//                 message as long as a mandate's JWS signing input;
//   Verify        mandates::VerifyMandate of a pre-issued token (header, kid, signature,
//                 credential and terms parse, time, status from a cached statuslist+jwt);
//   VerifyRaw     the raw verify call over the same message;
//   IssueDurable  MandateRegistry::Issue end to end against RocksDB with synced writes
//                 (information only: bounded by fsync).
// MandateSplit/<piece>[/<Algorithm>] times the pieces of issue and verify alone.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "base/clock.h"
#include "base/json.h"
#include "base/random.h"
#include "base/secret.h"
#include "bench/raw_baselines.h"
#include "identity/tenant.h"
#include "mandates/credential.h"
#include "mandates/model.h"
#include "mandates/registry.h"
#include "mandates/status_list.h"
#include "mandates/time_zone.h"
#include "mandates/verifier.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/key_store.h"
#include "signer/signature.h"
#include "store/rocks_store.h"

namespace mandated::mandates {
namespace {

using signer::KeyType;

constexpr std::string_view kServiceDid = "did:web:mandated.acme.example";
constexpr std::string_view kPublicBaseUrl = "https://mandated.acme.example";
constexpr std::string_view kSecretHex =
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
// The verifier's clock: inside the mandate's validity and the status list's lifetime.
constexpr int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z
constexpr uint64_t kStatusIdx = 1234;
constexpr size_t kStatusListSize = 16384;

// Realistic terms: payees (allow and block), assets, per-transaction limits, a calendar window,
// a lifetime budget and max_uses. Parsed once, outside every loop.
constexpr std::string_view kTerms =
    R"({"scope":{"payees":{"allow":[{"type":"did","value":"did:web:shop.example"},)"
    R"({"type":"domain","value":"*.shop.example"},)"
    R"({"type":"address","value":"0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"}],)"
    R"("block":[{"type":"domain","value":"bad.shop.example"}]},)"
    R"("assets":{"allow":["USD","eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"]}},)"
    R"("limits":{"per_transaction":[{"asset":"USD","max":"50000"},)"
    R"({"asset":"eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","max":"5000000"}],)"
    R"("windows":[{"asset":"USD","window":"day","kind":"calendar",)"
    R"("time_zone":"Europe/Paris","max":"200000"}],)"
    R"("lifetime":[{"asset":"USD","max":"1000000"}],)"
    R"("max_uses":100}})";

std::string_view AlgName(KeyType t) {
  switch (t) {
    case KeyType::kEd25519: return "ed25519";
    case KeyType::kP256: return "p256";
    case KeyType::kSecp256k1: return "secp256k1";
  }
  return "";
}

std::string PrincipalFor(KeyType t) { return "prn_bench_" + std::string(AlgName(t)); }

std::string IssuerFor(KeyType t) {
  return std::string(kServiceDid) + ":principals:" + PrincipalFor(t);
}

std::string StatusUriFor(KeyType t) {
  return std::string(kPublicBaseUrl) + "/v1/status-lists/" + PrincipalFor(t) + "/0";
}

json::Value MandateHeader(KeyType t, const std::string& kid) {
  json::Value header = json::Value::Object();
  header.Set("alg", json::Value::String(std::string(signer::JwsAlgFor(t))));
  header.Set("typ", json::Value::String(std::string(kMandateTyp)));
  header.Set("kid", json::Value::String(kid));
  return header;
}

// A DID document as GET /principals/{p}/did.json serves it (api/routes_keys.cc).
json::Value DidDocument(const std::string& did, const std::string& kid,
                        const signer::PublicKey& pub) {
  json::Value context = json::Value::Array();
  context.Append(json::Value::String("https://www.w3.org/ns/did/v1"));
  context.Append(json::Value::String("https://w3id.org/security/suites/jws-2020/v1"));
  json::Value method = json::Value::Object();
  method.Set("id", json::Value::String(kid));
  method.Set("type", json::Value::String("JsonWebKey2020"));
  method.Set("controller", json::Value::String(did));
  method.Set("publicKeyJwk", signer::PublicKeyToJwk(pub));
  json::Value methods = json::Value::Array();
  methods.Append(std::move(method));
  json::Value refs = json::Value::Array();
  refs.Append(json::Value::String(kid));
  json::Value doc = json::Value::Object();
  doc.Set("@context", std::move(context));
  doc.Set("id", json::Value::String(did));
  doc.Set("verificationMethod", std::move(methods));
  doc.Set("assertionMethod", refs);
  doc.Set("authentication", std::move(refs));
  return doc;
}

// The RocksDB store (temp dir), key store and registry every store-backed benchmark shares.
class StoreEnv {
 public:
  static StoreEnv& Get() {
    static StoreEnv env;
    return env;
  }
  ~StoreEnv() {
    registry_.reset();
    keys_.reset();
    kv_.reset();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  const std::string& problem() const { return problem_; }
  signer::KeyStore& keys() { return *keys_; }
  MandateRegistry& registry() { return *registry_; }
  store::KvStore& kv() { return *kv_; }
  // The key id of the issuer key imported for `t` (owner PrincipalFor(t), purpose "issuer").
  const std::string& KeyId(KeyType t) const { return key_ids_[static_cast<size_t>(t)]; }

 private:
  StoreEnv() {
    std::string templ =
        (std::filesystem::temp_directory_path() / "mandate_bench.XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr) {
      problem_ = "cannot create a temporary directory";
      return;
    }
    dir_ = templ;
    store::RocksStoreOptions so;
    so.path = dir_ + "/db";
    so.column_families = {signer::kKeysFamily, identity::kTenantsFamily, "audit"};
    Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(so);
    if (!kv.ok()) {
      problem_ = kv.error().ToString();
      return;
    }
    kv_ = std::move(*kv);
    Result<std::unique_ptr<signer::KeyStore>> keys = signer::KeyStore::Open(
        *kv_, SecretBytes(ByteSpan(Bytes(32, 7))), SystemClock::Get(), SystemRandom::Get());
    if (!keys.ok()) {
      problem_ = keys.error().ToString();
      return;
    }
    keys_ = std::move(*keys);
    const Bytes secret = *HexDecode(kSecretHex);
    for (KeyType t : {KeyType::kEd25519, KeyType::kP256, KeyType::kSecp256k1}) {
      Result<signer::KeyInfo> info =
          keys_->Import(t, secret, std::string(kIssuerKeyPurpose), PrincipalFor(t));
      if (!info.ok()) {
        problem_ = info.error().ToString();
        return;
      }
      key_ids_[static_cast<size_t>(t)] = info->id;
    }
    RegistryOptions ro;
    ro.service_did = std::string(kServiceDid);
    ro.public_base_url = std::string(kPublicBaseUrl);
    ro.status_list_size = kStatusListSize;
    registry_ = std::make_unique<MandateRegistry>(*kv_, *keys_, SystemClock::Get(),
                                                  SystemRandom::Get(), ro);
  }

  std::string dir_;
  std::string problem_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<MandateRegistry> registry_;
  std::array<std::string, 3> key_ids_;
};

// Everything one algorithm's benchmarks need, built once: the key, a credential, a pre-issued
// token, its issuer's DID document and a signed status list (2 bits, 16384 entries).
struct Fixture {
  std::string problem;  // non-empty: the fixture could not be built
  KeyType type = KeyType::kEd25519;
  signer::PrivateKey key;
  signer::PublicKey pub;
  std::string issuer;
  std::string kid;             // for the in-memory key
  std::string key_store_kid;   // for the same key imported into the key store
  MandateCredential credential;
  std::string token;           // a mandate issued with `key`
  Bytes signing_input;         // the token's signing input: the raw benchmarks' message
  json::Value did_document;
  std::string status_list_token;
};

Fixture BuildFixture(KeyType t) {
  Fixture f;
  f.type = t;
  auto fail = [&f](const std::string& what, const Status& s) {
    f.problem = what + ": " + s.ToString();
    return std::move(f);
  };
  Result<signer::PrivateKey> key = signer::ImportPrivateKey(t, *HexDecode(kSecretHex));
  if (!key.ok()) return fail("import key", key.error());
  f.key = std::move(*key);
  Result<signer::PublicKey> pub = signer::DerivePublicKey(f.key);
  if (!pub.ok()) return fail("derive public key", pub.error());
  f.pub = *pub;
  f.issuer = IssuerFor(t);
  f.kid = f.issuer + "#key_bench";

  Result<json::Value> terms_json = json::Parse(kTerms);
  if (!terms_json.ok()) return fail("terms JSON", terms_json.error());
  Result<MandateTerms> terms = ParseMandateTerms(*terms_json);
  if (!terms.ok()) return fail("terms", terms.error());
  // The subject: an agent's did:key (an Ed25519 key of its own).
  Bytes agent_seed(32, 0x42);
  Result<signer::PrivateKey> agent = signer::ImportPrivateKey(KeyType::kEd25519, agent_seed);
  if (!agent.ok()) return fail("agent key", agent.error());
  Result<signer::PublicKey> agent_pub = signer::DerivePublicKey(*agent);
  if (!agent_pub.ok()) return fail("agent public key", agent_pub.error());

  MandateCredential& c = f.credential;
  c.id = "mnd_7ks2q4bench0000000000000000";
  c.issuer = f.issuer;
  c.subject = signer::DidKeyFromPublicKey(*agent_pub);
  c.validity = Validity{kNow - 86400, kNow + 29 * 86400};
  c.issued_at = kNow - 86400;
  c.status = StatusReference{kStatusIdx, StatusUriFor(t)};
  c.terms = std::move(*terms);

  Result<std::string> token =
      signer::SignJws(f.key, MandateHeader(t, f.kid), json::Write(MandateCredentialToJson(c)));
  if (!token.ok()) return fail("issue", token.error());
  f.token = std::move(*token);
  f.signing_input = ToBytes(std::string_view(f.token).substr(0, f.token.rfind('.')));
  f.did_document = DidDocument(f.issuer, f.kid, f.pub);

  // The status list: a few revoked and suspended entries, ours (kStatusIdx) valid.
  Result<StatusArray> arr = StatusArray::Create(2, kStatusListSize);
  if (!arr.ok()) return fail("status array", arr.error());
  for (size_t i = 0; i < kStatusListSize; i += 97) {
    if (i != kStatusIdx) {
      (void)arr->Set(i, static_cast<uint8_t>(i % 2 == 0 ? TokenStatus::kRevoked
                                                          : TokenStatus::kSuspended));
    }
  }
  StatusListClaims claims;
  claims.uri = StatusUriFor(t);
  claims.issued_at = kNow - 60;
  claims.expires_at = kNow + 3600;
  claims.ttl = 300;
  claims.statuses = std::move(*arr);
  Result<json::Value> payload = StatusListClaimsToJson(claims, f.issuer);
  if (!payload.ok()) return fail("status list claims", payload.error());
  json::Value header = json::Value::Object();
  header.Set("alg", json::Value::String(std::string(signer::JwsAlgFor(t))));
  header.Set("typ", json::Value::String(std::string(kStatusListTyp)));
  header.Set("kid", json::Value::String(f.kid));
  Result<std::string> list = signer::SignJws(f.key, std::move(header), json::Write(*payload));
  if (!list.ok()) return fail("status list", list.error());
  f.status_list_token = std::move(*list);

  StoreEnv& env = StoreEnv::Get();
  if (!env.problem().empty()) {
    f.problem = "store: " + env.problem();
    return f;
  }
  f.key_store_kid = f.issuer + "#" + env.KeyId(t);
  return f;
}

const Fixture& FixtureFor(KeyType t) {
  static const std::array<Fixture, 3> fixtures = {BuildFixture(KeyType::kEd25519),
                                                  BuildFixture(KeyType::kP256),
                                                  BuildFixture(KeyType::kSecp256k1)};
  return fixtures[static_cast<size_t>(t)];
}

// Returns false (and marks the benchmark skipped) when the fixture could not be built.
bool Ready(benchmark::State& state, const Fixture& f) {
  if (!f.problem.empty()) {
    state.SkipWithError(f.problem.c_str());
    return false;
  }
  return true;
}

// ---- issue -----------------------------------------------------------------------------------

// One mandate per iteration: a fresh id (SystemRandom, as the registry draws it) and iat, the
// credential's payload written, and signed as a compact JWS.
void BM_Issue(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  MandateCredential cred = f.credential;
  for (auto _ : state) {
    Result<std::string> id = SystemRandom::Get().NewId("mnd_");
    cred.id = std::move(*id);
    cred.issued_at = SystemClock::Get().NowUnixSeconds();
    Result<std::string> token =
        signer::SignJws(f.key, MandateHeader(t, f.kid), MandateCredentialPayload(cred));
    if (!token.ok()) {
      state.SkipWithError(token.error().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(token);
  }
  state.counters["token_bytes"] = static_cast<double>(f.token.size());
}

// The same through the key store: KeyStore::SignJws opens the sealed key under the KEK
// (AES-256-GCM) at its first signature and uses the copy it keeps open in memory after that.
void BM_IssueKeyStore(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  StoreEnv& env = StoreEnv::Get();
  const std::string& key_id = env.KeyId(t);
  MandateCredential cred = f.credential;
  for (auto _ : state) {
    Result<std::string> id = SystemRandom::Get().NewId("mnd_");
    cred.id = std::move(*id);
    cred.issued_at = SystemClock::Get().NowUnixSeconds();
    Result<std::string> token = env.keys().SignJws(key_id, MandateHeader(t, f.key_store_kid),
                                                   MandateCredentialPayload(cred));
    if (!token.ok()) {
      state.SkipWithError(token.error().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(token);
  }
  state.counters["token_bytes"] = static_cast<double>(f.token.size());
}

// MandateRegistry::Issue end to end: key lookup, credential, signature through the key store and
// one synced RocksDB write batch (record, status index, and a fresh list every 16384 mandates).
void BM_IssueDurable(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  StoreEnv& env = StoreEnv::Get();
  identity::Tenant tenant(env.kv(), PrincipalFor(t));
  IssueRequest base;
  base.agent_id = "agt_bench";
  base.subject = f.credential.subject;
  base.terms = f.credential.terms;
  base.issued_by = "operator";
  for (auto _ : state) {
    IssueRequest req = base;
    const int64_t now = SystemClock::Get().NowUnixSeconds();
    req.validity = Validity{now, now + 30 * 86400};
    Result<MandateRecord> rec = env.registry().Issue(tenant, std::move(req));
    if (!rec.ok()) {
      state.SkipWithError(rec.error().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(rec);
  }
}

// ---- verify ----------------------------------------------------------------------------------

// The resolver and status source are built once, so the status list is verified once (the source
// keeps it decoded); each iteration is the whole check of one mandate.
void BM_Verify(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  DocumentResolver resolver;
  if (Status s = resolver.AddDidDocument(f.did_document); !s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return;
  }
  TokenStatusListSource statuses(resolver);
  statuses.Add(f.status_list_token);
  VerifyRequest req;
  req.token = f.token;
  VerifyOptions options;
  options.now = kNow;
  const Verdict first = VerifyMandate(req, resolver, statuses, options);
  if (!first.valid) {
    const std::string why = first.reasons.empty()
                                ? std::string("invalid")
                                : first.reasons[0].code + ": " + first.reasons[0].detail;
    state.SkipWithError(why.c_str());
    return;
  }
  for (auto _ : state) {
    Verdict v = VerifyMandate(req, resolver, statuses, options);
    if (!v.valid) {
      state.SkipWithError("a verdict turned invalid");
      break;
    }
    benchmark::DoNotOptimize(v);
  }
  state.counters["token_bytes"] = static_cast<double>(f.token.size());
}

// ---- raw: the baselines of bench/raw_baselines.h, over the mandate's signing input ----------

void BM_SignRawEvp(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  bench::RawEvpSign(state, t, f.key, f.signing_input);
  state.counters["message_bytes"] = static_cast<double>(f.signing_input.size());
}

void BM_VerifyRawEvp(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  bench::RawEvpVerify(state, t, f.key, f.signing_input);
  state.counters["message_bytes"] = static_cast<double>(f.signing_input.size());
}

void BM_SignRawSecp(benchmark::State& state) {
  const Fixture& f = FixtureFor(KeyType::kSecp256k1);
  if (!Ready(state, f)) return;
  bench::RawSecpSign(state, f.key, f.signing_input);
  state.counters["message_bytes"] = static_cast<double>(f.signing_input.size());
}

void BM_VerifyRawSecp(benchmark::State& state) {
  const Fixture& f = FixtureFor(KeyType::kSecp256k1);
  if (!Ready(state, f)) return;
  Result<Bytes> sig = signer::Sign(f.key, f.signing_input);
  if (!sig.ok()) {
    state.SkipWithError(sig.error().ToString().c_str());
    return;
  }
  bench::RawSecpVerify(state, f.pub, f.signing_input, *sig);
  state.counters["message_bytes"] = static_cast<double>(f.signing_input.size());
}

// ---- splits: the pieces of issue and verify, measured alone -----------------------------------
// Named MandateSplit/<piece>[/<algorithm>]; bench/run.sh runs them in separate, shorter rounds
// for BENCHMARKS.md "Where the time goes". Pieces measured alone run warm in cache, so their
// sum falls a little short of the whole.

// The pieces of verification, in the order VerifyMandate runs them.
void BM_SplitParseJws(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  for (auto _ : state) {
    benchmark::DoNotOptimize(signer::ParseJws(f.token));
  }
}

void BM_SplitParsePayload(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  const signer::Jws jws = *signer::ParseJws(f.token);
  for (auto _ : state) {
    benchmark::DoNotOptimize(json::Parse(jws.payload));
  }
}

void BM_SplitVerifyJws(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  const signer::Jws jws = *signer::ParseJws(f.token);
  for (auto _ : state) {
    benchmark::DoNotOptimize(signer::VerifyJws(jws, f.pub));
  }
}

void BM_SplitParseCredential(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  const json::Value payload = *json::Parse(signer::ParseJws(f.token)->payload);
  for (auto _ : state) {
    benchmark::DoNotOptimize(ParseMandateCredential(payload));
  }
}

// The single-pass read VerifyMandate uses (json::Parse + ParseMandateCredential when it declines).
void BM_SplitScanCredential(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  const signer::Jws jws = *signer::ParseJws(f.token);
  if (!ScanMandateCredential(jws.payload).has_value()) {
    state.SkipWithError("the scanner declined the fixture's payload");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(ScanMandateCredential(jws.payload));
  }
}

void BM_SplitParseTerms(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  const json::Value terms = MandateTermsToJson(f.credential.terms);
  for (auto _ : state) {
    benchmark::DoNotOptimize(ParseMandateTerms(terms));
  }
}

void BM_SplitTimeZoneCheck(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(IsIanaTimeZone("Europe/Paris"));
  }
}

// The pieces of issuance.
void BM_SplitCredentialToJson(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  for (auto _ : state) {
    benchmark::DoNotOptimize(MandateCredentialToJson(f.credential));
  }
}

// The payload written straight to a string, as issuance signs it.
void BM_SplitCredentialPayload(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  for (auto _ : state) {
    benchmark::DoNotOptimize(MandateCredentialPayload(f.credential));
  }
}

void BM_SplitJsonWrite(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  const json::Value payload = MandateCredentialToJson(f.credential);
  for (auto _ : state) {
    benchmark::DoNotOptimize(json::Write(payload));
  }
}

void BM_SplitSignJws(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  const std::string payload = MandateCredentialPayload(f.credential);
  for (auto _ : state) {
    benchmark::DoNotOptimize(signer::SignJws(f.key, MandateHeader(t, f.kid), payload));
  }
}

void BM_SplitSign(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  for (auto _ : state) {
    benchmark::DoNotOptimize(signer::Sign(f.key, f.signing_input));
  }
}

void BM_SplitKeyStoreSignJws(benchmark::State& state, KeyType t) {
  const Fixture& f = FixtureFor(t);
  if (!Ready(state, f)) return;
  StoreEnv& env = StoreEnv::Get();
  const std::string payload = MandateCredentialPayload(f.credential);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        env.keys().SignJws(env.KeyId(t), MandateHeader(t, f.key_store_kid), payload));
  }
}

// Per algorithm, in this order within a round: the two issue rows right before their raw
// baseline, verify right before its raw baseline.
BENCHMARK_CAPTURE(BM_IssueKeyStore, Ed25519, KeyType::kEd25519)
    ->Name("Mandate/IssueKeyStore/Ed25519");
BENCHMARK_CAPTURE(BM_Issue, Ed25519, KeyType::kEd25519)->Name("Mandate/Issue/Ed25519");
BENCHMARK_CAPTURE(BM_SignRawEvp, Ed25519, KeyType::kEd25519)->Name("Mandate/SignRaw/Ed25519");
BENCHMARK_CAPTURE(BM_Verify, Ed25519, KeyType::kEd25519)->Name("Mandate/Verify/Ed25519");
BENCHMARK_CAPTURE(BM_VerifyRawEvp, Ed25519, KeyType::kEd25519)
    ->Name("Mandate/VerifyRaw/Ed25519");
BENCHMARK_CAPTURE(BM_IssueKeyStore, P256, KeyType::kP256)->Name("Mandate/IssueKeyStore/P-256");
BENCHMARK_CAPTURE(BM_Issue, P256, KeyType::kP256)->Name("Mandate/Issue/P-256");
BENCHMARK_CAPTURE(BM_SignRawEvp, P256, KeyType::kP256)->Name("Mandate/SignRaw/P-256");
BENCHMARK_CAPTURE(BM_Verify, P256, KeyType::kP256)->Name("Mandate/Verify/P-256");
BENCHMARK_CAPTURE(BM_VerifyRawEvp, P256, KeyType::kP256)->Name("Mandate/VerifyRaw/P-256");
BENCHMARK_CAPTURE(BM_IssueKeyStore, secp256k1, KeyType::kSecp256k1)
    ->Name("Mandate/IssueKeyStore/secp256k1");
BENCHMARK_CAPTURE(BM_Issue, secp256k1, KeyType::kSecp256k1)->Name("Mandate/Issue/secp256k1");
BENCHMARK(BM_SignRawSecp)->Name("Mandate/SignRaw/secp256k1");
BENCHMARK_CAPTURE(BM_Verify, secp256k1, KeyType::kSecp256k1)->Name("Mandate/Verify/secp256k1");
BENCHMARK(BM_VerifyRawSecp)->Name("Mandate/VerifyRaw/secp256k1");
// Information only: one synced RocksDB write per mandate, so the disk's fsync sets the rate. Its
// iterations are counted in wall time (the thread mostly waits for the disk, using little CPU).
BENCHMARK_CAPTURE(BM_IssueDurable, Ed25519, KeyType::kEd25519)
    ->Name("Mandate/IssueDurable/Ed25519")
    ->UseRealTime();

// Splits: algorithm-independent pieces once (Ed25519's fixture), signature pieces per algorithm.
BENCHMARK_CAPTURE(BM_SplitParseJws, x, KeyType::kEd25519)->Name("MandateSplit/ParseJws");
BENCHMARK_CAPTURE(BM_SplitParsePayload, x, KeyType::kEd25519)->Name("MandateSplit/ParsePayload");
BENCHMARK_CAPTURE(BM_SplitParseCredential, x, KeyType::kEd25519)
    ->Name("MandateSplit/ParseCredential");
BENCHMARK_CAPTURE(BM_SplitParseTerms, x, KeyType::kEd25519)->Name("MandateSplit/ParseTerms");
BENCHMARK_CAPTURE(BM_SplitScanCredential, x, KeyType::kEd25519)
    ->Name("MandateSplit/ScanCredential");
BENCHMARK(BM_SplitTimeZoneCheck)->Name("MandateSplit/TimeZoneCheck");
BENCHMARK_CAPTURE(BM_SplitCredentialToJson, x, KeyType::kEd25519)
    ->Name("MandateSplit/CredentialToJson");
BENCHMARK_CAPTURE(BM_SplitJsonWrite, x, KeyType::kEd25519)->Name("MandateSplit/JsonWrite");
BENCHMARK_CAPTURE(BM_SplitCredentialPayload, x, KeyType::kEd25519)
    ->Name("MandateSplit/CredentialPayload");
BENCHMARK_CAPTURE(BM_SplitVerifyJws, Ed25519, KeyType::kEd25519)
    ->Name("MandateSplit/VerifyJws/Ed25519");
BENCHMARK_CAPTURE(BM_SplitSign, Ed25519, KeyType::kEd25519)->Name("MandateSplit/Sign/Ed25519");
BENCHMARK_CAPTURE(BM_SplitSignJws, Ed25519, KeyType::kEd25519)
    ->Name("MandateSplit/SignJws/Ed25519");
BENCHMARK_CAPTURE(BM_SplitKeyStoreSignJws, Ed25519, KeyType::kEd25519)
    ->Name("MandateSplit/KeyStoreSignJws/Ed25519");
BENCHMARK_CAPTURE(BM_SplitVerifyJws, P256, KeyType::kP256)->Name("MandateSplit/VerifyJws/P-256");
BENCHMARK_CAPTURE(BM_SplitSign, P256, KeyType::kP256)->Name("MandateSplit/Sign/P-256");
BENCHMARK_CAPTURE(BM_SplitSignJws, P256, KeyType::kP256)->Name("MandateSplit/SignJws/P-256");
BENCHMARK_CAPTURE(BM_SplitKeyStoreSignJws, P256, KeyType::kP256)
    ->Name("MandateSplit/KeyStoreSignJws/P-256");
BENCHMARK_CAPTURE(BM_SplitVerifyJws, secp256k1, KeyType::kSecp256k1)
    ->Name("MandateSplit/VerifyJws/secp256k1");
BENCHMARK_CAPTURE(BM_SplitSign, secp256k1, KeyType::kSecp256k1)
    ->Name("MandateSplit/Sign/secp256k1");
BENCHMARK_CAPTURE(BM_SplitSignJws, secp256k1, KeyType::kSecp256k1)
    ->Name("MandateSplit/SignJws/secp256k1");
BENCHMARK_CAPTURE(BM_SplitKeyStoreSignJws, secp256k1, KeyType::kSecp256k1)
    ->Name("MandateSplit/KeyStoreSignJws/secp256k1");

}  // namespace
}  // namespace mandated::mandates

BENCHMARK_MAIN();
