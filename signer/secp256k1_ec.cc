// libsecp256k1 0.2 adapter: secp256k1 keys, ES256K (RFC 8812) and Ethereum recoverable signatures.
#include "signer/secp256k1_ec.h"

#include <openssl/sha.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>

#include "base/secret.h"
#include "signer/ethereum.h"
#include "signer/recoverable.h"

namespace mandated::signer {
namespace {

constexpr size_t kScalarSize = 32;
constexpr size_t kCompressedSize = 33;
constexpr size_t kUncompressedSize = 65;
constexpr size_t kCompactSize = 64;
constexpr size_t kRecoverableSize = 65;
constexpr size_t kMaxDerSize = 72;
// Random 32-byte strings are valid scalars with probability 1 - 2^-128; this bound only stops a
// broken Random from looping forever.
constexpr int kMaxKeyDraws = 64;

using Digest = std::array<uint8_t, 32>;

Status BadKey(std::string message) { return InvalidArgumentError(std::move(message), "bad-key"); }
Status BadSignature(std::string message) {
  return UnauthenticatedError(std::move(message), "bad-signature");
}

// The process-wide context for operations on secret keys (signing, public key derivation),
// created with SECP256K1_CONTEXT_NONE and randomized once against side channels.
// Thread safety: built once under the function-local static guard, then only read; libsecp256k1
// allows concurrent use of a const context.
struct SigningContext {
  secp256k1_context* ctx = nullptr;
  Status status;
};

const SigningContext& GetSigningContext() {
  // Never destroyed: other static destructors may still sign during shutdown.
  static const SigningContext* const kContext = [] {
    auto* c = new SigningContext;
    std::array<uint8_t, 32> seed{};
    Status fill = SystemRandom::Get().Fill(seed);
    if (!fill.ok()) {
      c->status = fill.Annotate("seeding the secp256k1 context");
      return c;
    }
    secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (ctx == nullptr) {
      c->status = InternalError("secp256k1_context_create failed");
    } else if (secp256k1_context_randomize(ctx, seed.data()) != 1) {
      secp256k1_context_destroy(ctx);
      c->status = InternalError("secp256k1_context_randomize failed");
    } else {
      c->ctx = ctx;
    }
    SecureWipe(seed.data(), seed.size());
    return c;
  }();
  return *kContext;
}

Result<const secp256k1_context*> SigningCtx() {
  const SigningContext& c = GetSigningContext();
  if (c.ctx == nullptr) {
    return c.status;
  }
  return static_cast<const secp256k1_context*>(c.ctx);
}

// The static context, for parsing, serializing, verifying and recovering (no secrets involved).
const secp256k1_context* StaticCtx() {
  static const bool kSelfTested = [] {
    secp256k1_selftest();  // aborts the process if the library is miscompiled
    return true;
  }();
  (void)kSelfTested;
  return secp256k1_context_static;
}

Status CheckPrivateKey(const PrivateKey& key) {
  if (key.type != KeyType::kSecp256k1) {
    return InvalidArgumentError("not a secp256k1 private key", "bad-key");
  }
  if (key.secret.size() != kScalarSize ||
      secp256k1_ec_seckey_verify(StaticCtx(), key.secret.data()) != 1) {
    return BadKey("secp256k1 private key is not a scalar in [1, n-1]");
  }
  return OkStatus();
}

// Parses a SEC1 point: 33 bytes (0x02/0x03) or 65 bytes (0x04). libsecp256k1 also accepts the
// hybrid 0x06/0x07 form, which nothing we interoperate with emits, so it is refused here.
Result<secp256k1_pubkey> ParsePoint(ByteSpan bytes) {
  bool shape_ok = (bytes.size() == kCompressedSize && (bytes[0] == 0x02 || bytes[0] == 0x03)) ||
                  (bytes.size() == kUncompressedSize && bytes[0] == 0x04);
  if (!shape_ok) {
    return BadKey(
        "secp256k1 public key must be a 33-byte compressed or 65-byte uncompressed point");
  }
  secp256k1_pubkey pubkey;
  if (secp256k1_ec_pubkey_parse(StaticCtx(), &pubkey, bytes.data(), bytes.size()) != 1) {
    return BadKey("secp256k1 public key is not a point on the curve");
  }
  return pubkey;
}

Result<secp256k1_pubkey> ParseKey(const PublicKey& key) {
  if (key.type != KeyType::kSecp256k1) {
    return BadKey("not a secp256k1 public key");
  }
  return ParsePoint(key.bytes);
}

Bytes SerializePoint(const secp256k1_pubkey& pubkey, bool compressed) {
  Bytes out(compressed ? kCompressedSize : kUncompressedSize);
  size_t len = out.size();
  // Cannot fail: the buffer is large enough and the key was produced by the library.
  (void)secp256k1_ec_pubkey_serialize(StaticCtx(), out.data(), &len, &pubkey,
                                      compressed ? SECP256K1_EC_COMPRESSED
                                                 : SECP256K1_EC_UNCOMPRESSED);
  out.resize(len);
  return out;
}

PublicKey CompressedKey(const secp256k1_pubkey& pubkey) {
  return PublicKey{KeyType::kSecp256k1, SerializePoint(pubkey, /*compressed=*/true)};
}

// OpenSSL's one-shot SHA256() runs the digest directly; EVP_Digest would look the algorithm up in
// the provider store on every call, which costs more than hashing a short message.
Result<Digest> Sha256(ByteSpan message) {
  static const uint8_t kEmpty = 0;
  Digest digest{};
  const uint8_t* data = message.empty() ? &kEmpty : message.data();
  if (SHA256(data, message.size(), digest.data()) == nullptr) {
    return InternalError("SHA-256 failed");
  }
  return digest;
}

bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

// Parses r||s or DER into a signature with r, s in [1, n-1]; DER must be exactly the encoding
// libsecp256k1 would produce (minimal lengths and integers, no trailing data).
Result<secp256k1_ecdsa_signature> ParseSignature(ByteSpan signature, SignatureFormat format) {
  const secp256k1_context* ctx = StaticCtx();
  secp256k1_ecdsa_signature sig;
  if (format == SignatureFormat::kRaw) {
    if (signature.size() != kCompactSize) {
      return BadSignature("ES256K signature must be 64 bytes r||s");
    }
    if (secp256k1_ecdsa_signature_parse_compact(ctx, &sig, signature.data()) != 1) {
      return BadSignature("ECDSA r or s is not below the group order");
    }
  } else {
    if (signature.empty() || signature.size() > kMaxDerSize ||
        secp256k1_ecdsa_signature_parse_der(ctx, &sig, signature.data(), signature.size()) != 1) {
      return BadSignature("malformed DER ECDSA signature");
    }
    std::array<uint8_t, kMaxDerSize> der{};
    size_t der_len = der.size();
    if (secp256k1_ecdsa_signature_serialize_der(ctx, der.data(), &der_len, &sig) != 1 ||
        der_len != signature.size() || std::memcmp(der.data(), signature.data(), der_len) != 0) {
      // Covers BER length forms, padded integers and r or s >= n (parsed as zero).
      return BadSignature("DER ECDSA signature is not in canonical form");
    }
  }
  std::array<uint8_t, kCompactSize> compact{};
  (void)secp256k1_ecdsa_signature_serialize_compact(ctx, compact.data(), &sig);
  if (AllZero(compact.data(), 32) || AllZero(compact.data() + 32, 32)) {
    return BadSignature("ECDSA r or s is zero");
  }
  return sig;
}

}  // namespace

namespace internal {

Result<PrivateKey> Secp256k1GenerateKey(Random& random) {
  SecretBytes candidate(kScalarSize);
  for (int i = 0; i < kMaxKeyDraws; ++i) {
    MD_RETURN_IF_ERROR(random.Fill(std::span<uint8_t>(candidate.data(), candidate.size())));
    if (secp256k1_ec_seckey_verify(StaticCtx(), candidate.data()) == 1) {
      return PrivateKey{KeyType::kSecp256k1, std::move(candidate)};
    }
  }
  return InternalError("random source produced no valid secp256k1 scalar");
}

Result<PrivateKey> Secp256k1ImportPrivateKey(ByteSpan secret) {
  if (secret.size() != kScalarSize) {
    return BadKey("secp256k1 private key must be 32 bytes");
  }
  PrivateKey key{KeyType::kSecp256k1, SecretBytes(secret)};
  MD_RETURN_IF_ERROR(CheckPrivateKey(key));
  return key;
}

Result<PublicKey> Secp256k1DerivePublicKey(const PrivateKey& key) {
  MD_RETURN_IF_ERROR(CheckPrivateKey(key));
  MD_ASSIGN_OR_RETURN(const secp256k1_context* ctx, SigningCtx());
  secp256k1_pubkey pubkey;
  if (secp256k1_ec_pubkey_create(ctx, &pubkey, key.secret.data()) != 1) {
    return BadKey("secp256k1 private key is invalid");
  }
  return CompressedKey(pubkey);
}

Result<PublicKey> Secp256k1ParsePublicKey(ByteSpan bytes) {
  MD_ASSIGN_OR_RETURN(secp256k1_pubkey pubkey, ParsePoint(bytes));
  return CompressedKey(pubkey);
}

Result<Bytes> Secp256k1UncompressedPoint(const PublicKey& key) {
  MD_ASSIGN_OR_RETURN(secp256k1_pubkey pubkey, ParseKey(key));
  return SerializePoint(pubkey, /*compressed=*/false);
}

Result<Bytes> Secp256k1Sign(const PrivateKey& key, ByteSpan message) {
  MD_RETURN_IF_ERROR(CheckPrivateKey(key));
  MD_ASSIGN_OR_RETURN(const secp256k1_context* ctx, SigningCtx());
  MD_ASSIGN_OR_RETURN(Digest digest, Sha256(message));
  secp256k1_ecdsa_signature sig;
  // noncefp = NULL, ndata = NULL: RFC 6979 with no extra entropy, so signatures are reproducible.
  if (secp256k1_ecdsa_sign(ctx, &sig, digest.data(), key.secret.data(), nullptr, nullptr) != 1) {
    return InternalError("secp256k1_ecdsa_sign failed");
  }
  Bytes out(kCompactSize);
  (void)secp256k1_ecdsa_signature_serialize_compact(ctx, out.data(), &sig);
  return out;
}

Status Secp256k1Verify(const PublicKey& key, ByteSpan message, ByteSpan signature,
                       const VerifyOptions& options) {
  MD_ASSIGN_OR_RETURN(secp256k1_pubkey pubkey, ParseKey(key));
  MD_ASSIGN_OR_RETURN(secp256k1_ecdsa_signature sig, ParseSignature(signature, options.format));
  const secp256k1_context* ctx = StaticCtx();
  secp256k1_ecdsa_signature normalized;
  if (secp256k1_ecdsa_signature_normalize(ctx, &normalized, &sig) == 1 && !options.allow_high_s) {
    return BadSignature("ECDSA signature has a high S value");
  }
  MD_ASSIGN_OR_RETURN(Digest digest, Sha256(message));
  if (secp256k1_ecdsa_verify(ctx, &normalized, digest.data(), &pubkey) != 1) {
    return BadSignature("ECDSA signature does not verify");
  }
  return OkStatus();
}

}  // namespace internal

Result<Bytes> SignDigestRecoverable(const PrivateKey& key, ByteSpan digest32) {
  MD_RETURN_IF_ERROR(CheckPrivateKey(key));
  if (digest32.size() != 32) {
    return InvalidArgumentError("recoverable signing needs a 32-byte digest");
  }
  MD_ASSIGN_OR_RETURN(const secp256k1_context* ctx, SigningCtx());
  secp256k1_ecdsa_recoverable_signature sig;
  if (secp256k1_ecdsa_sign_recoverable(ctx, &sig, digest32.data(), key.secret.data(), nullptr,
                                       nullptr) != 1) {
    return InternalError("secp256k1_ecdsa_sign_recoverable failed");
  }
  Bytes out(kRecoverableSize);
  int recid = 0;
  (void)secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, out.data(), &recid, &sig);
  if (recid != 0 && recid != 1) {
    // Only when r >= p - n, probability about 2^-127; such a signature has no Ethereum v.
    return InternalError("recoverable signature has recovery id " + std::to_string(recid));
  }
  out[64] = static_cast<uint8_t>(27 + recid);
  return out;
}

namespace {

Result<secp256k1_pubkey> RecoverPoint(ByteSpan digest32, ByteSpan signature65,
                                      const RecoverOptions& options) {
  if (digest32.size() != 32) {
    return InvalidArgumentError("recovery needs a 32-byte digest");
  }
  if (signature65.size() != kRecoverableSize) {
    return BadSignature("recoverable signature must be 65 bytes r||s||v");
  }
  int recid = -1;
  uint8_t v = signature65[64];
  if (v == 27 || v == 28) {
    recid = v - 27;
  } else if (options.allow_raw_v && (v == 0 || v == 1)) {
    recid = v;
  } else {
    return BadSignature("recoverable signature has v = " + std::to_string(v));
  }
  const secp256k1_context* ctx = StaticCtx();
  MD_ASSIGN_OR_RETURN(secp256k1_ecdsa_signature sig,
                      ParseSignature(signature65.first(kCompactSize), SignatureFormat::kRaw));
  std::array<uint8_t, kCompactSize> compact{};
  std::copy_n(signature65.begin(), kCompactSize, compact.begin());
  secp256k1_ecdsa_signature normalized;
  if (secp256k1_ecdsa_signature_normalize(ctx, &normalized, &sig) == 1) {
    if (!options.allow_high_s) {
      return BadSignature("recoverable signature has a high S value");
    }
    // (r, n - s) with the other parity of R recovers the same key as (r, s).
    (void)secp256k1_ecdsa_signature_serialize_compact(ctx, compact.data(), &normalized);
    recid ^= 1;
  }
  secp256k1_ecdsa_recoverable_signature rsig;
  if (secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rsig, compact.data(), recid) != 1) {
    return BadSignature("malformed recoverable signature");
  }
  secp256k1_pubkey pubkey;
  if (secp256k1_ecdsa_recover(ctx, &pubkey, &rsig, digest32.data()) != 1) {
    return BadSignature("no public key can be recovered from this signature");
  }
  return pubkey;
}

}  // namespace

Result<PublicKey> RecoverDigest(ByteSpan digest32, ByteSpan signature65,
                                const RecoverOptions& options) {
  MD_ASSIGN_OR_RETURN(secp256k1_pubkey pubkey, RecoverPoint(digest32, signature65, options));
  return CompressedKey(pubkey);
}

Result<Bytes> RecoverEthereumAddress(ByteSpan digest32, ByteSpan signature65,
                                     const RecoverOptions& options) {
  MD_ASSIGN_OR_RETURN(secp256k1_pubkey pubkey, RecoverPoint(digest32, signature65, options));
  const Bytes point = SerializePoint(pubkey, /*compressed=*/false);  // 0x04 || X || Y
  return EthereumAddressOfPoint(ByteSpan(point).subspan(1));
}

}  // namespace mandated::signer
