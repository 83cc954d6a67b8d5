// The raw baselines every "ours/raw" ratio divides by: the signature libraries called directly,
// key objects prepared once, one call per operation (OpenSSL EVP for Ed25519 and P-256,
// libsecp256k1 with OpenSSL's SHA256() for secp256k1). Shared by signer_bench and mandate_bench
// so both compare against the very same code.
#pragma once

#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <secp256k1.h>

#include <cstdint>

#include "base/bytes.h"
#include "signer/keys.h"

namespace mandated::bench {

// Ed25519 from `key`'s seed; P-256 a freshly generated key (the curve's cost does not depend on
// which key). Freed by the destructor.
struct EvpKeys {
  EVP_PKEY* priv = nullptr;
  EVP_PKEY* pub = nullptr;

  EvpKeys(signer::KeyType type, const signer::PrivateKey& key) {
    if (type == signer::KeyType::kEd25519) {
      priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.secret.data(), 32);
      size_t n = 32;
      uint8_t raw[32];
      EVP_PKEY_get_raw_public_key(priv, raw, &n);
      pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw, 32);
    } else {
      EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
      EVP_PKEY_keygen_init(ctx);
      EVP_PKEY_CTX_set_group_name(ctx, "P-256");
      EVP_PKEY_generate(ctx, &priv);
      EVP_PKEY_CTX_free(ctx);
      EVP_PKEY_up_ref(priv);
      pub = priv;
    }
  }
  ~EvpKeys() {
    EVP_PKEY_free(priv);
    EVP_PKEY_free(pub);
  }
  EvpKeys(const EvpKeys&) = delete;
  EvpKeys& operator=(const EvpKeys&) = delete;
};

inline const EVP_MD* EvpDigestFor(signer::KeyType type) {
  return type == signer::KeyType::kEd25519 ? nullptr : EVP_sha256();
}

inline void RawEvpSign(benchmark::State& state, signer::KeyType type,
                       const signer::PrivateKey& key, const Bytes& msg) {
  EvpKeys k(type, key);
  uint8_t sig[128];
  for (auto _ : state) {
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, nullptr, EvpDigestFor(type), nullptr, k.priv);
    size_t len = sizeof(sig);
    EVP_DigestSign(md, sig, &len, msg.data(), msg.size());
    EVP_MD_CTX_free(md);
    benchmark::DoNotOptimize(sig);
  }
}

inline void RawEvpVerify(benchmark::State& state, signer::KeyType type,
                         const signer::PrivateKey& key, const Bytes& msg) {
  EvpKeys k(type, key);
  uint8_t sig[128];
  size_t len = sizeof(sig);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestSignInit(md, nullptr, EvpDigestFor(type), nullptr, k.priv);
  EVP_DigestSign(md, sig, &len, msg.data(), msg.size());
  EVP_MD_CTX_free(md);
  for (auto _ : state) {
    EVP_MD_CTX* vmd = EVP_MD_CTX_new();
    EVP_DigestVerifyInit(vmd, nullptr, EvpDigestFor(type), nullptr, k.pub);
    int ok = EVP_DigestVerify(vmd, sig, len, msg.data(), msg.size());
    EVP_MD_CTX_free(vmd);
    benchmark::DoNotOptimize(ok);
  }
}

inline secp256k1_context* SecpSigningContext() {
  static secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  return ctx;
}

inline void RawSecpSign(benchmark::State& state, const signer::PrivateKey& key, const Bytes& msg) {
  for (auto _ : state) {
    uint8_t digest[32];
    SHA256(msg.data(), msg.size(), digest);
    secp256k1_ecdsa_signature sig;
    secp256k1_ecdsa_sign(SecpSigningContext(), &sig, digest, key.secret.data(), nullptr, nullptr);
    uint8_t out[64];
    secp256k1_ecdsa_signature_serialize_compact(SecpSigningContext(), out, &sig);
    benchmark::DoNotOptimize(out);
  }
}

// `sig`: a compact 64-byte signature of `msg` by `pub`.
inline void RawSecpVerify(benchmark::State& state, const signer::PublicKey& pub, const Bytes& msg,
                          const Bytes& sig) {
  for (auto _ : state) {
    uint8_t digest[32];
    SHA256(msg.data(), msg.size(), digest);
    secp256k1_pubkey pk;
    secp256k1_ecdsa_signature s;
    int ok = secp256k1_ec_pubkey_parse(secp256k1_context_static, &pk, pub.bytes.data(),
                                       pub.bytes.size());
    ok &= secp256k1_ecdsa_signature_parse_compact(secp256k1_context_static, &s, sig.data());
    ok &= secp256k1_ecdsa_verify(secp256k1_context_static, &s, digest, &pk);
    benchmark::DoNotOptimize(ok);
  }
}

}  // namespace mandated::bench
