// Signer microbenchmarks: each of our operations beside its raw baseline, the library call doing
// the same cryptographic work (for EIP-712, the Keccak work the digest requires), in the same
// binary and run (BENCHMARKS.md reports ours/raw ratios).
// Names: <Operation>/<Algorithm>/<ours|raw>.
// `signer_bench --export-jws FILE [benchmark flags]` also writes the JWS tokens JwsVerify/*/ours
// verifies, with their public JWKs, for the peer comparison with npm jose (bench/jose_verify.mjs).
#include <benchmark/benchmark.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "bench/raw_baselines.h"
#include "signer/did.h"
#include "signer/eip712.h"
#include "signer/jws.h"
#include "signer/keccak.h"
#include "signer/recoverable.h"
#include "signer/signature.h"

namespace mandated::signer {
namespace {

const Bytes& Message() {
  static const Bytes m(256, 0x5a);
  return m;
}

PrivateKey KeyOf(KeyType t) {
  return *ImportPrivateKey(t, *HexDecode("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"));
}

// ---- ours -----------------------------------------------------------------------------------

void BM_Sign_Ours(benchmark::State& state, KeyType t) {
  PrivateKey key = KeyOf(t);
  for (auto _ : state) {
    benchmark::DoNotOptimize(Sign(key, Message()));
  }
}

void BM_Verify_Ours(benchmark::State& state, KeyType t) {
  PrivateKey key = KeyOf(t);
  PublicKey pub = *DerivePublicKey(key);
  Bytes sig = *Sign(key, Message());
  for (auto _ : state) {
    benchmark::DoNotOptimize(Verify(pub, Message(), sig));
  }
}

// The token JwsVerify/<alg>/ours verifies (and --export-jws writes).
std::string JwsOf(KeyType t) {
  return *SignJws(KeyOf(t), json::Value::Object(), R"({"iss":"did:example:123","amount":"10000"})");
}

void BM_JwsVerify_Ours(benchmark::State& state, KeyType t) {
  PublicKey pub = *DerivePublicKey(KeyOf(t));
  const std::string token = JwsOf(t);
  for (auto _ : state) {
    Result<Jws> jws = ParseJws(token);
    benchmark::DoNotOptimize(VerifyJws(*jws, pub));
  }
}

// ---- raw (bench/raw_baselines.h) -------------------------------------------------------------

void BM_Sign_Raw(benchmark::State& state, KeyType t) {
  bench::RawEvpSign(state, t, KeyOf(t), Message());
}

void BM_Verify_Raw(benchmark::State& state, KeyType t) {
  bench::RawEvpVerify(state, t, KeyOf(t), Message());
}

void BM_Sign_RawSecp(benchmark::State& state) {
  bench::RawSecpSign(state, KeyOf(KeyType::kSecp256k1), Message());
}

void BM_Verify_RawSecp(benchmark::State& state) {
  PrivateKey key = KeyOf(KeyType::kSecp256k1);
  bench::RawSecpVerify(state, *DerivePublicKey(key), Message(), *Sign(key, Message()));
}

void BM_Recover_Ours(benchmark::State& state) {
  PrivateKey key = KeyOf(KeyType::kSecp256k1);
  Bytes digest = Keccak256(Message());
  Bytes sig = *SignDigestRecoverable(key, digest);
  for (auto _ : state) {
    benchmark::DoNotOptimize(RecoverDigest(digest, sig));
  }
}

void BM_Recover_Raw(benchmark::State& state) {
  PrivateKey key = KeyOf(KeyType::kSecp256k1);
  Bytes digest = Keccak256(Message());
  Bytes sig = *SignDigestRecoverable(key, digest);
  for (auto _ : state) {
    secp256k1_ecdsa_recoverable_signature rs;
    secp256k1_ecdsa_recoverable_signature_parse_compact(secp256k1_context_static, &rs, sig.data(),
                                                        sig[64] - 27);
    secp256k1_pubkey pk;
    int ok = secp256k1_ecdsa_recover(secp256k1_context_static, &pk, &rs, digest.data());
    benchmark::DoNotOptimize(ok);
    uint8_t out[33];
    size_t n = 33;
    secp256k1_ec_pubkey_serialize(secp256k1_context_static, out, &n, &pk, SECP256K1_EC_COMPRESSED);
    benchmark::DoNotOptimize(out);
  }
}

// ---- EIP-712: typed-data JSON to digest, beside the Keccak work that digest requires ---------

constexpr char kTransferTypedData[] = R"({
    "types": {
      "EIP712Domain": [{"name":"name","type":"string"},{"name":"version","type":"string"},
                       {"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
      "TransferWithAuthorization": [{"name":"from","type":"address"},{"name":"to","type":"address"},
        {"name":"value","type":"uint256"},{"name":"validAfter","type":"uint256"},
        {"name":"validBefore","type":"uint256"},{"name":"nonce","type":"bytes32"}]},
    "primaryType": "TransferWithAuthorization",
    "domain": {"name":"USDC","version":"2","chainId":84532,
               "verifyingContract":"0x036CbD53842c5426634e7929541eC2318f3dCF7e"},
    "message": {"from":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                "to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"10000",
                "validAfter":"0","validBefore":"1750000060",
                "nonce":"0x161c9246737a0fb4d2fa16962850bcc7095d645fa33767d120d7799519fb7a34"}})";

const json::Value& TransferTypedData() {
  static const json::Value v = *json::Parse(kTransferTypedData);
  return v;
}

// Ours: the whole digest from the parsed JSON: types (compiled once per distinct types object and
// cached, as in production), then the domain and message walked, validated and encoded.
void BM_Eip712_Ours(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(Eip712Digest(TransferTypedData()));
  }
}

using Word = std::array<uint8_t, 32>;

Word KeccakWord(ByteSpan data) {
  Keccak256Hasher hasher;
  hasher.Update(data);
  return hasher.Finish();
}

// A 32-byte word from hex, for the pre-encoded fields.
Word WordFromHex(std::string_view hex, size_t offset) {
  Word w{};
  const Bytes b = *HexDecode(hex);
  std::copy(b.begin(), b.end(), w.begin() + static_cast<std::ptrdiff_t>(offset));
  return w;
}

// Raw: the Keccak work this digest requires, on buffers encoded by hand ahead of time (the same
// message). Per digest: keccak of the two dynamic domain members ("USDC", "2"), of the domain
// encoding (5 words) and of the struct encoding (7 words), then keccak(0x1901 || both). The two
// type hashes are computed once before the loop, as ours computes them once per types object.
void BM_Eip712_Raw(benchmark::State& state) {
  const Word domain_type_hash = KeccakWord(AsBytes(
      "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"));
  const Word transfer_type_hash = KeccakWord(
      AsBytes("TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,"
              "uint256 validBefore,bytes32 nonce)"));
  std::array<uint8_t, 5 * 32> domain_enc{};
  std::copy(domain_type_hash.begin(), domain_type_hash.end(), domain_enc.begin());
  const Word chain_id = WordFromHex("014a34", 29);  // 84532
  const Word contract = WordFromHex("036cbd53842c5426634e7929541ec2318f3dcf7e", 12);
  std::copy(chain_id.begin(), chain_id.end(), domain_enc.begin() + 3 * 32);
  std::copy(contract.begin(), contract.end(), domain_enc.begin() + 4 * 32);
  const Word struct_words[7] = {
      transfer_type_hash,
      WordFromHex("70997970c51812dc3a010c7d01b50e0d17dc79c8", 12),
      WordFromHex("209693bc6afc0c5328ba36faf03c514ef312287c", 12),
      WordFromHex("2710", 30),      // 10000
      Word{},                       // 0
      WordFromHex("684ee1bc", 28),  // 1750000060
      WordFromHex("161c9246737a0fb4d2fa16962850bcc7095d645fa33767d120d7799519fb7a34", 0),
  };
  std::array<uint8_t, 7 * 32> struct_enc{};
  for (size_t i = 0; i < 7; ++i) {
    std::copy(struct_words[i].begin(), struct_words[i].end(), struct_enc.begin() + 32 * i);
  }
  auto digest = [&] {
    const Word name = KeccakWord(AsBytes("USDC"));
    const Word version = KeccakWord(AsBytes("2"));
    std::copy(name.begin(), name.end(), domain_enc.begin() + 32);
    std::copy(version.begin(), version.end(), domain_enc.begin() + 64);
    const Word domain_separator = KeccakWord(domain_enc);
    const Word struct_hash = KeccakWord(struct_enc);
    Keccak256Hasher hasher;
    const uint8_t prefix[2] = {0x19, 0x01};
    hasher.Update(prefix);
    hasher.Update(domain_separator);
    hasher.Update(struct_hash);
    return hasher.Finish();
  };
  // The baseline must compute the real digest, or the comparison means nothing.
  const Word expected = digest();
  if (Bytes(expected.begin(), expected.end()) != *Eip712Digest(TransferTypedData())) {
    state.SkipWithError("raw EIP-712 digest differs from Eip712Digest");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(digest());
  }
}

BENCHMARK_CAPTURE(BM_Sign_Ours, Ed25519, KeyType::kEd25519)->Name("Sign/Ed25519/ours");
BENCHMARK_CAPTURE(BM_Sign_Raw, Ed25519, KeyType::kEd25519)->Name("Sign/Ed25519/raw");
BENCHMARK_CAPTURE(BM_Verify_Ours, Ed25519, KeyType::kEd25519)->Name("Verify/Ed25519/ours");
BENCHMARK_CAPTURE(BM_Verify_Raw, Ed25519, KeyType::kEd25519)->Name("Verify/Ed25519/raw");
BENCHMARK_CAPTURE(BM_Sign_Ours, P256, KeyType::kP256)->Name("Sign/P-256/ours");
BENCHMARK_CAPTURE(BM_Sign_Raw, P256, KeyType::kP256)->Name("Sign/P-256/raw");
BENCHMARK_CAPTURE(BM_Verify_Ours, P256, KeyType::kP256)->Name("Verify/P-256/ours");
BENCHMARK_CAPTURE(BM_Verify_Raw, P256, KeyType::kP256)->Name("Verify/P-256/raw");
BENCHMARK_CAPTURE(BM_Sign_Ours, secp256k1, KeyType::kSecp256k1)->Name("Sign/secp256k1/ours");
BENCHMARK(BM_Sign_RawSecp)->Name("Sign/secp256k1/raw");
BENCHMARK_CAPTURE(BM_Verify_Ours, secp256k1, KeyType::kSecp256k1)->Name("Verify/secp256k1/ours");
BENCHMARK(BM_Verify_RawSecp)->Name("Verify/secp256k1/raw");
BENCHMARK(BM_Recover_Ours)->Name("Recover/secp256k1/ours");
BENCHMARK(BM_Recover_Raw)->Name("Recover/secp256k1/raw");
BENCHMARK(BM_Eip712_Ours)->Name("EIP712Digest/TransferWithAuthorization/ours");
BENCHMARK(BM_Eip712_Raw)->Name("EIP712Digest/TransferWithAuthorization/raw");
BENCHMARK_CAPTURE(BM_JwsVerify_Ours, Ed25519, KeyType::kEd25519)->Name("JwsVerify/Ed25519/ours");
BENCHMARK_CAPTURE(BM_Verify_Raw, Ed25519j, KeyType::kEd25519)->Name("JwsVerify/Ed25519/raw");
BENCHMARK_CAPTURE(BM_JwsVerify_Ours, P256, KeyType::kP256)->Name("JwsVerify/P-256/ours");
BENCHMARK_CAPTURE(BM_Verify_Raw, P256j, KeyType::kP256)->Name("JwsVerify/P-256/raw");
BENCHMARK_CAPTURE(BM_JwsVerify_Ours, secp256k1, KeyType::kSecp256k1)
    ->Name("JwsVerify/secp256k1/ours");
BENCHMARK(BM_Verify_RawSecp)->Name("JwsVerify/secp256k1/raw");

// Writes {"<alg>":{"token","jwk"},...} for the jose comparison. Returns false on a write error.
bool ExportJws(const char* path) {
  json::Value out = json::Value::Object();
  for (KeyType t : {KeyType::kEd25519, KeyType::kP256, KeyType::kSecp256k1}) {
    json::Value entry = json::Value::Object();
    entry.Set("token", json::Value::String(JwsOf(t)));
    entry.Set("jwk", PublicKeyToJwk(*DerivePublicKey(KeyOf(t))));
    out.Set(t == KeyType::kEd25519 ? "EdDSA" : t == KeyType::kP256 ? "ES256" : "ES256K",
            std::move(entry));
  }
  std::ofstream f(path, std::ios::trunc);
  f << json::Write(out) << '\n';
  return static_cast<bool>(f);
}

}  // namespace
}  // namespace mandated::signer

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--export-jws") == 0 && i + 1 < argc) {
      if (!mandated::signer::ExportJws(argv[++i])) {
        std::fprintf(stderr, "signer_bench: cannot write %s\n", argv[i]);
        return 1;
      }
      continue;
    }
    args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
