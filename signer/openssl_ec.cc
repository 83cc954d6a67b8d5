// Ed25519 and P-256 keys and signatures over OpenSSL 3.0 EVP (BIGNUM/EC_POINT for key checks),
// with validated EVP_PKEY objects cached per key so repeat calls neither rebuild nor re-check them.
// Thread safety: every function is safe to call from any thread; the key caches are synchronized.
#include "signer/openssl_ec.h"

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "signer/bounded_cache.h"
#include "signer/openssl_errors.h"

namespace mandated::signer::internal {
namespace {

// One deleter for every OpenSSL handle this file owns. BIGNUMs may hold secrets, so they are
// cleared before they are freed.
struct OpensslFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(EC_GROUP* p) const { EC_GROUP_free(p); }
  void operator()(EC_POINT* p) const { EC_POINT_free(p); }
  void operator()(BIGNUM* p) const { BN_clear_free(p); }
  void operator()(BN_CTX* p) const { BN_CTX_free(p); }
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
  void operator()(unsigned char* p) const { OPENSSL_free(p); }
};
template <typename T>
using Ptr = std::unique_ptr<T, OpensslFree>;

constexpr size_t kEd25519KeySize = 32;
constexpr size_t kEd25519SignatureSize = 64;
constexpr size_t kP256ScalarSize = 32;
constexpr size_t kP256CompressedSize = 33;
constexpr size_t kP256UncompressedSize = 65;
constexpr size_t kP256SignatureSize = 64;
constexpr char kP256GroupName[] = "prime256v1";

using Be256 = std::array<uint8_t, 32>;  // a 256-bit big-endian integer

// The P-256 field prime p, group order n and floor(n / 2) (SEC 2 §2.4.2).
constexpr Be256 kP256Prime = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                              0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr Be256 kP256Order = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                              0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                              0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
constexpr Be256 kP256HalfOrder = {0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b,
                                  0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8};

// Random draws before GenerateKey gives up on a source that never yields a valid P-256 scalar
// (a uniform source is rejected with probability about 2^-32 per draw).
constexpr int kMaxScalarDraws = 64;

// An EVP_PKEY built once from key bytes that passed validation, shared by every call that uses the
// same key. EVP_PKEY_free, run when the last holder lets go, wipes any private material.
// Thread safety: immutable once built. OpenSSL allows concurrent operations on one EVP_PKEY as
// long as each has its own EVP_MD_CTX, which every caller here creates.
struct PreparedKey {
  Ptr<EVP_PKEY> pkey;
};
using PreparedKeyPtr = std::shared_ptr<const PreparedKey>;

// The prepared EVP_PKEY for a private or public key: from the cache, or validated, built and
// cached. Errors as the key checks give them (kInvalidArgument "bad-key", kInternal).
Result<PreparedKeyPtr> PreparedPrivateKey(const PrivateKey& key);
Result<PreparedKeyPtr> PreparedPublicKey(const PublicKey& key);

Status OpensslFailure(const std::string& what) {
  return InternalError(what + " failed in OpenSSL" + internal::DrainOpensslErrors());
}

Status BadKey(const std::string& what) {
  internal::DrainOpensslErrors();  // parse failures leave entries that say no more than `what`
  return InvalidArgumentError(what, "bad-key");
}

Status BadSignature(const std::string& what) {
  internal::DrainOpensslErrors();
  return UnauthenticatedError(what, "bad-signature");
}

Status NotOpensslType(KeyType type) {
  return InternalError("the OpenSSL signer does not handle " + std::string(KeyTypeName(type)) +
                       " keys");
}

// OpenSSL wants a non-null pointer even for empty input in some paths.
const uint8_t* DataOrEmpty(ByteSpan s) {
  static const uint8_t kEmpty = 0;
  return s.empty() ? &kEmpty : s.data();
}

// a < b for 256-bit big-endian integers, in time independent of the values (a may be secret).
bool LessThan(const uint8_t* a, const Be256& b) {
  uint32_t borrow = 0;
  for (size_t i = b.size(); i-- > 0;) {
    const uint32_t diff = uint32_t{a[i]} - uint32_t{b[i]} - borrow;
    borrow = (diff >> 8) & 1;
  }
  return borrow == 1;
}

bool IsZero(const uint8_t* a, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) {
    acc |= a[i];
  }
  return acc == 0;
}

// s > n/2 for a 32-byte big-endian s.
bool IsHighS(const uint8_t* s) {
  return !LessThan(s, kP256HalfOrder) && std::memcmp(s, kP256HalfOrder.data(), 32) != 0;
}

// A valid P-256 private scalar: 32 bytes, 0 < k < n.
bool IsValidP256Scalar(ByteSpan k) {
  return k.size() == kP256ScalarSize && !IsZero(k.data(), k.size()) &&
         LessThan(k.data(), kP256Order);
}

Result<Ptr<BIGNUM>> BignumFromBytes(ByteSpan bytes, bool secret) {
  Ptr<BIGNUM> bn(secret ? BN_secure_new() : BN_new());
  if (bn == nullptr ||
      BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), bn.get()) == nullptr) {
    return OpensslFailure("BN_bin2bn");
  }
  if (secret) {
    BN_set_flags(bn.get(), BN_FLG_CONSTTIME);
  }
  return bn;
}

// ---------------------------------------------------------------------------------------------
// Ed25519

// Decodes an RFC 8032 §5.1.3 point encoding with BIGNUM arithmetic (OpenSSL does not expose
// Ed25519 point decoding) and checks that it is canonical (y < p), on the curve, and not of small
// order (8·P ≠ identity; this includes the identity itself). Small-order keys are refused because
// a signature under one can verify for unrelated messages.
Status CheckEd25519PublicKey(ByteSpan pk) {
  if (pk.size() != kEd25519KeySize) {
    return BadKey("Ed25519 public key must be 32 bytes, got " + std::to_string(pk.size()));
  }
  Be256 y_be;
  for (size_t i = 0; i < kEd25519KeySize; ++i) {
    y_be[i] = pk[kEd25519KeySize - 1 - i];
  }
  const bool x_odd = (y_be[0] & 0x80) != 0;
  y_be[0] &= 0x7f;

  Ptr<BN_CTX> ctx(BN_CTX_new());
  Ptr<BIGNUM> p(BN_new()), d(BN_new()), y(BN_new()), y2(BN_new()), u(BN_new()), v(BN_new()),
      x2(BN_new()), x(BN_new()), t(BN_new()), x_next(BN_new()), y_next(BN_new()), den(BN_new());
  for (BIGNUM* bn : {p.get(), d.get(), y.get(), y2.get(), u.get(), v.get(), x2.get(), x.get(),
                     t.get(), x_next.get(), y_next.get(), den.get()}) {
    if (bn == nullptr) {
      return OpensslFailure("BN_new");
    }
  }
  if (ctx == nullptr) {
    return OpensslFailure("BN_CTX_new");
  }
  // p = 2^255 - 19; d = -121665 / 121666 mod p.
  if (BN_set_bit(p.get(), 255) != 1 || BN_sub_word(p.get(), 19) != 1 ||
      BN_set_word(t.get(), 121666) != 1 ||
      BN_mod_inverse(t.get(), t.get(), p.get(), ctx.get()) == nullptr ||
      BN_set_word(d.get(), 121665) != 1 || BN_sub(d.get(), p.get(), d.get()) != 1 ||
      BN_mod_mul(d.get(), d.get(), t.get(), p.get(), ctx.get()) != 1) {
    return OpensslFailure("Ed25519 constants");
  }
  if (BN_bin2bn(y_be.data(), static_cast<int>(y_be.size()), y.get()) == nullptr) {
    return OpensslFailure("BN_bin2bn");
  }
  if (BN_cmp(y.get(), p.get()) >= 0) {
    return BadKey("Ed25519 public key is not canonical (y >= p)");
  }
  // x^2 = (y^2 - 1) / (d·y^2 + 1).
  if (BN_mod_sqr(y2.get(), y.get(), p.get(), ctx.get()) != 1 ||
      BN_mod_sub(u.get(), y2.get(), BN_value_one(), p.get(), ctx.get()) != 1 ||
      BN_mod_mul(v.get(), d.get(), y2.get(), p.get(), ctx.get()) != 1 ||
      BN_mod_add(v.get(), v.get(), BN_value_one(), p.get(), ctx.get()) != 1 ||
      BN_mod_inverse(v.get(), v.get(), p.get(), ctx.get()) == nullptr ||
      BN_mod_mul(x2.get(), u.get(), v.get(), p.get(), ctx.get()) != 1) {
    return OpensslFailure("Ed25519 point decoding");
  }
  if (BN_mod_sqrt(x.get(), x2.get(), p.get(), ctx.get()) == nullptr) {
    return BadKey("Ed25519 public key is not a point on the curve");
  }
  if (BN_is_zero(x.get()) && x_odd) {
    return BadKey("Ed25519 public key is not canonical (x = 0 with the sign bit set)");
  }
  // The sign of x does not change the order of the point, so the root found is good enough.
  // Three affine doublings on -x^2 + y^2 = 1 + d·x^2·y^2:
  //   x' = 2xy / (y^2 - x^2),  y' = (y^2 + x^2) / (2 - y^2 + x^2)  (denominators never vanish).
  for (int i = 0; i < 3; ++i) {
    if (BN_mod_sqr(x2.get(), x.get(), p.get(), ctx.get()) != 1 ||
        BN_mod_sqr(y2.get(), y.get(), p.get(), ctx.get()) != 1 ||
        BN_mod_mul(t.get(), x.get(), y.get(), p.get(), ctx.get()) != 1 ||
        BN_mod_add(t.get(), t.get(), t.get(), p.get(), ctx.get()) != 1 ||
        BN_mod_sub(den.get(), y2.get(), x2.get(), p.get(), ctx.get()) != 1 ||
        BN_mod_inverse(den.get(), den.get(), p.get(), ctx.get()) == nullptr ||
        BN_mod_mul(x_next.get(), t.get(), den.get(), p.get(), ctx.get()) != 1 ||
        BN_set_word(den.get(), 2) != 1 ||
        BN_mod_sub(den.get(), den.get(), y2.get(), p.get(), ctx.get()) != 1 ||
        BN_mod_add(den.get(), den.get(), x2.get(), p.get(), ctx.get()) != 1 ||
        BN_mod_inverse(den.get(), den.get(), p.get(), ctx.get()) == nullptr ||
        BN_mod_add(t.get(), y2.get(), x2.get(), p.get(), ctx.get()) != 1 ||
        BN_mod_mul(y_next.get(), t.get(), den.get(), p.get(), ctx.get()) != 1) {
      return OpensslFailure("Ed25519 point doubling");
    }
    std::swap(x, x_next);
    std::swap(y, y_next);
  }
  if (BN_is_zero(x.get()) && BN_is_one(y.get())) {
    return BadKey("Ed25519 public key is a point of small order");
  }
  return OkStatus();
}

Result<Ptr<EVP_PKEY>> Ed25519PrivatePkey(const PrivateKey& key) {
  if (key.secret.size() != kEd25519KeySize) {
    return BadKey("Ed25519 private key must be 32 bytes, got " + std::to_string(key.secret.size()));
  }
  Ptr<EVP_PKEY> pkey(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.secret.data(), kEd25519KeySize));
  if (pkey == nullptr) {
    return OpensslFailure("EVP_PKEY_new_raw_private_key(Ed25519)");
  }
  return pkey;
}

Result<PublicKey> Ed25519DerivePublicKey(const PrivateKey& key) {
  MD_ASSIGN_OR_RETURN(Ptr<EVP_PKEY> pkey, Ed25519PrivatePkey(key));
  PublicKey pub{KeyType::kEd25519, Bytes(kEd25519KeySize)};
  size_t len = pub.bytes.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), pub.bytes.data(), &len) != 1 ||
      len != kEd25519KeySize) {
    return OpensslFailure("EVP_PKEY_get_raw_public_key(Ed25519)");
  }
  return pub;
}

Result<Bytes> Ed25519Sign(const PrivateKey& key, ByteSpan message) {
  MD_ASSIGN_OR_RETURN(PreparedKeyPtr prepared, PreparedPrivateKey(key));
  Ptr<EVP_MD_CTX> md_ctx(EVP_MD_CTX_new());
  if (md_ctx == nullptr) {
    return OpensslFailure("EVP_MD_CTX_new");
  }
  if (EVP_DigestSignInit(md_ctx.get(), nullptr, nullptr, nullptr, prepared->pkey.get()) != 1) {
    return OpensslFailure("EVP_DigestSignInit(Ed25519)");
  }
  Bytes sig(kEd25519SignatureSize);
  size_t sig_len = sig.size();
  if (EVP_DigestSign(md_ctx.get(), sig.data(), &sig_len, DataOrEmpty(message), message.size()) !=
          1 ||
      sig_len != kEd25519SignatureSize) {
    return OpensslFailure("EVP_DigestSign(Ed25519)");
  }
  return sig;
}

// The validated Ed25519 public key as an EVP_PKEY.
Result<Ptr<EVP_PKEY>> Ed25519PublicPkey(ByteSpan public_key) {
  MD_RETURN_IF_ERROR(CheckEd25519PublicKey(public_key));
  Ptr<EVP_PKEY> pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(),
                                                 public_key.size()));
  if (pkey == nullptr) {
    return OpensslFailure("EVP_PKEY_new_raw_public_key(Ed25519)");
  }
  return pkey;
}

Status Ed25519Verify(const PublicKey& key, ByteSpan message, ByteSpan signature) {
  MD_ASSIGN_OR_RETURN(PreparedKeyPtr prepared, PreparedPublicKey(key));
  if (signature.size() != kEd25519SignatureSize) {
    return BadSignature("Ed25519 signature must be 64 bytes, got " +
                        std::to_string(signature.size()));
  }
  Ptr<EVP_MD_CTX> md_ctx(EVP_MD_CTX_new());
  if (md_ctx == nullptr) {
    return OpensslFailure("EVP_MD_CTX_new");
  }
  if (EVP_DigestVerifyInit(md_ctx.get(), nullptr, nullptr, nullptr, prepared->pkey.get()) != 1) {
    return OpensslFailure("EVP_DigestVerifyInit(Ed25519)");
  }
  // 1 is a match; 0 a mismatch; negative values a malformed signature (e.g. S >= L).
  if (EVP_DigestVerify(md_ctx.get(), signature.data(), signature.size(), DataOrEmpty(message),
                       message.size()) != 1) {
    return BadSignature("Ed25519 signature does not verify");
  }
  return OkStatus();
}

// ---------------------------------------------------------------------------------------------
// P-256

Result<Ptr<EC_GROUP>> P256Group() {
  Ptr<EC_GROUP> group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  if (group == nullptr) {
    return OpensslFailure("EC_GROUP_new_by_curve_name(P-256)");
  }
  return group;
}

Result<Bytes> EncodePoint(const EC_GROUP* group, const EC_POINT* point,
                          point_conversion_form_t form, BN_CTX* ctx) {
  const size_t len = EC_POINT_point2oct(group, point, form, nullptr, 0, ctx);
  if (len == 0) {
    return OpensslFailure("EC_POINT_point2oct");
  }
  Bytes out(len);
  if (EC_POINT_point2oct(group, point, form, out.data(), out.size(), ctx) != len) {
    return OpensslFailure("EC_POINT_point2oct");
  }
  return out;
}

// Validates a SEC1 point (33-byte 0x02/0x03 compressed or 65-byte 0x04 uncompressed: canonical
// coordinates below p, on the curve, not the identity) and re-encodes it in `form`.
Result<Bytes> P256ReencodePoint(ByteSpan bytes, point_conversion_form_t form) {
  if (bytes.size() == kP256CompressedSize) {
    if (bytes[0] != 0x02 && bytes[0] != 0x03) {
      return BadKey("P-256 compressed point must start with 0x02 or 0x03");
    }
  } else if (bytes.size() == kP256UncompressedSize) {
    if (bytes[0] != 0x04) {
      return BadKey("P-256 uncompressed point must start with 0x04");
    }
    if (!LessThan(bytes.data() + 33, kP256Prime)) {
      return BadKey("P-256 point has y >= p");
    }
  } else {
    return BadKey("P-256 public key must be 33 or 65 bytes, got " + std::to_string(bytes.size()));
  }
  if (!LessThan(bytes.data() + 1, kP256Prime)) {
    return BadKey("P-256 point has x >= p");
  }
  MD_ASSIGN_OR_RETURN(Ptr<EC_GROUP> group, P256Group());
  Ptr<BN_CTX> ctx(BN_CTX_new());
  Ptr<EC_POINT> point(EC_POINT_new(group.get()));
  if (ctx == nullptr || point == nullptr) {
    return OpensslFailure("EC_POINT_new");
  }
  if (EC_POINT_oct2point(group.get(), point.get(), bytes.data(), bytes.size(), ctx.get()) != 1) {
    return BadKey("P-256 public key is not a point on the curve");
  }
  if (EC_POINT_is_at_infinity(group.get(), point.get()) == 1) {
    return BadKey("P-256 public key is the point at infinity");
  }
  if (EC_POINT_is_on_curve(group.get(), point.get(), ctx.get()) != 1) {
    return BadKey("P-256 public key is not a point on the curve");
  }
  // Belt and braces: the input must be exactly how OpenSSL writes this point.
  const point_conversion_form_t input_form = bytes.size() == kP256CompressedSize
                                                 ? POINT_CONVERSION_COMPRESSED
                                                 : POINT_CONVERSION_UNCOMPRESSED;
  MD_ASSIGN_OR_RETURN(Bytes same_form,
                      EncodePoint(group.get(), point.get(), input_form, ctx.get()));
  if (same_form.size() != bytes.size() ||
      std::memcmp(same_form.data(), bytes.data(), bytes.size()) != 0) {
    return BadKey("P-256 public key is not canonically encoded");
  }
  if (form == input_form) {
    return same_form;
  }
  return EncodePoint(group.get(), point.get(), form, ctx.get());
}

Result<Bytes> P256PublicFromScalar(const SecretBytes& scalar, point_conversion_form_t form) {
  if (!IsValidP256Scalar(scalar.span())) {
    return BadKey("P-256 private key must be a 32-byte scalar in [1, n-1]");
  }
  MD_ASSIGN_OR_RETURN(Ptr<EC_GROUP> group, P256Group());
  Ptr<BN_CTX> ctx(BN_CTX_secure_new());
  Ptr<EC_POINT> point(EC_POINT_new(group.get()));
  if (ctx == nullptr || point == nullptr) {
    return OpensslFailure("EC_POINT_new");
  }
  MD_ASSIGN_OR_RETURN(Ptr<BIGNUM> k, BignumFromBytes(scalar.span(), /*secret=*/true));
  if (EC_POINT_mul(group.get(), point.get(), k.get(), nullptr, nullptr, ctx.get()) != 1) {
    return OpensslFailure("EC_POINT_mul");
  }
  return EncodePoint(group.get(), point.get(), form, ctx.get());
}

// An EVP_PKEY for P-256 from a SEC1 public point and, when `scalar` is set, the private scalar.
Result<Ptr<EVP_PKEY>> P256Pkey(ByteSpan public_point, const SecretBytes* scalar) {
  Ptr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr) {
    return OpensslFailure("OSSL_PARAM_BLD_new");
  }
  if (OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, kP256GroupName, 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, public_point.data(),
                                       public_point.size()) != 1) {
    return OpensslFailure("OSSL_PARAM_BLD_push");
  }
  Ptr<BIGNUM> k;
  if (scalar != nullptr) {
    MD_ASSIGN_OR_RETURN(k, BignumFromBytes(scalar->span(), /*secret=*/true));
    if (OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, k.get()) != 1) {
      return OpensslFailure("OSSL_PARAM_BLD_push_BN");
    }
  }
  Ptr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (params == nullptr) {
    return OpensslFailure("OSSL_PARAM_BLD_to_param");
  }
  Ptr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (ctx == nullptr) {
    return OpensslFailure("EVP_PKEY_CTX_new_from_name(EC)");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, scalar != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                        params.get()) != 1) {
    EVP_PKEY_free(raw);
    return OpensslFailure("EVP_PKEY_fromdata(P-256)");
  }
  return Ptr<EVP_PKEY>(raw);
}

// The P-256 key pair of a private scalar as an EVP_PKEY. kInvalidArgument ("bad-key") unless the
// scalar is in [1, n-1].
Result<Ptr<EVP_PKEY>> P256PrivatePkey(const PrivateKey& key) {
  MD_ASSIGN_OR_RETURN(Bytes public_point,
                      P256PublicFromScalar(key.secret, POINT_CONVERSION_UNCOMPRESSED));
  return P256Pkey(public_point, &key.secret);
}

// The validated P-256 public point (compressed or uncompressed SEC1) as an EVP_PKEY.
Result<Ptr<EVP_PKEY>> P256PublicPkey(ByteSpan public_key) {
  MD_ASSIGN_OR_RETURN(Bytes public_point,
                      P256ReencodePoint(public_key, POINT_CONVERSION_UNCOMPRESSED));
  return P256Pkey(public_point, nullptr);
}

// ---------------------------------------------------------------------------------------------
// Prepared key caches

// Up to this many public keys, and as many private keys, stay prepared (least recently used go
// first).
constexpr size_t kPreparedKeyCapacity = 1024;
constexpr size_t kMaxPublicKeySize = kP256UncompressedSize;  // longer input never validates
constexpr size_t kSaltSize = 16;  // salt || type || 32-byte secret fits one SHA-256 block

// Keys validated and built since the process started (cache misses), for tests.
std::atomic<uint64_t> g_key_preparations{0};

// Private keys are cached under SHA-256(salt || type || secret), a name for the key that is not
// the secret; the salt is random per process so the name is no stable fingerprint either.
// Thread safety: `salt` is written once before the object is published, then only read.
struct PrivateKeyCache {
  BoundedCache<PreparedKey> keys{kPreparedKeyCapacity};
  std::array<uint8_t, kSaltSize> salt{};
  bool salted = false;  // false if randomness failed: private keys are then never cached
};

// Both caches live as long as the process (never destroyed): other static destructors may still
// sign or verify during shutdown. DropPreparedKeys empties them.
PrivateKeyCache& PrivateKeys() {
  static PrivateKeyCache* const kCache = [] {
    auto* cache = new PrivateKeyCache;
    cache->salted = RAND_priv_bytes(cache->salt.data(), static_cast<int>(kSaltSize)) == 1;
    internal::DrainOpensslErrors();  // a failure only disables the cache
    return cache;
  }();
  return *kCache;
}

BoundedCache<PreparedKey>& PublicKeys() {
  static BoundedCache<PreparedKey>* const kCache =
      new BoundedCache<PreparedKey>(kPreparedKeyCapacity);
  return *kCache;
}

// Writes the cache name of `key` to `out`; false if the key cannot be cached (wrong secret size,
// or no salt).
bool PrivateKeyName(const PrivateKey& key, std::array<uint8_t, SHA256_DIGEST_LENGTH>& out) {
  const PrivateKeyCache& cache = PrivateKeys();
  if (!cache.salted || key.secret.size() != 32) {
    return false;
  }
  std::array<uint8_t, kSaltSize + 1 + 32> input;
  std::memcpy(input.data(), cache.salt.data(), kSaltSize);
  input[kSaltSize] = static_cast<uint8_t>(key.type);
  std::memcpy(input.data() + kSaltSize + 1, key.secret.data(), 32);
  const bool ok = SHA256(input.data(), input.size(), out.data()) != nullptr;
  OPENSSL_cleanse(input.data(), input.size());
  return ok;
}

Result<PreparedKeyPtr> PreparedPrivateKey(const PrivateKey& key) {
  std::array<uint8_t, SHA256_DIGEST_LENGTH> name;
  const bool cacheable = PrivateKeyName(key, name);
  const std::string_view name_view(reinterpret_cast<const char*>(name.data()), name.size());
  if (cacheable) {
    if (PreparedKeyPtr hit = PrivateKeys().keys.Find(name_view)) {
      return hit;
    }
  }
  Result<Ptr<EVP_PKEY>> pkey =
      key.type == KeyType::kEd25519 ? Ed25519PrivatePkey(key) : P256PrivatePkey(key);
  if (!pkey.ok()) {
    return pkey.error();
  }
  g_key_preparations.fetch_add(1, std::memory_order_relaxed);
  auto prepared = std::make_shared<const PreparedKey>(PreparedKey{std::move(*pkey)});
  if (!cacheable) {
    return prepared;
  }
  return PrivateKeys().keys.Insert(name_view, std::move(prepared));
}

Result<PreparedKeyPtr> PreparedPublicKey(const PublicKey& key) {
  // The cache name is type || bytes. Longer input is refused by validation, never cached.
  std::array<char, 1 + kMaxPublicKeySize> name;
  const bool cacheable = key.bytes.size() <= kMaxPublicKeySize;
  std::string_view name_view;
  if (cacheable) {
    name[0] = static_cast<char>(key.type);
    std::memcpy(name.data() + 1, key.bytes.data(), key.bytes.size());
    name_view = std::string_view(name.data(), 1 + key.bytes.size());
    if (PreparedKeyPtr hit = PublicKeys().Find(name_view)) {
      return hit;
    }
  }
  Result<Ptr<EVP_PKEY>> pkey = key.type == KeyType::kEd25519 ? Ed25519PublicPkey(key.bytes)
                                                              : P256PublicPkey(key.bytes);
  if (!pkey.ok()) {
    return pkey.error();
  }
  g_key_preparations.fetch_add(1, std::memory_order_relaxed);
  auto prepared = std::make_shared<const PreparedKey>(PreparedKey{std::move(*pkey)});
  if (!cacheable) {
    return prepared;
  }
  return PublicKeys().Insert(name_view, std::move(prepared));
}

// ---------------------------------------------------------------------------------------------
// Signing and verifying with P-256

// ECDSA-Sig-Value DER for P-256: SEQUENCE { INTEGER r, INTEGER s }, each INTEGER at most 2 + 33
// bytes (a 0x00 pad before a high bit).
constexpr size_t kP256MaxDerIntegerSize = 35;
constexpr size_t kP256MaxDerSize = 2 + 2 * kP256MaxDerIntegerSize;

// Writes the minimal DER INTEGER of a 32-byte big-endian unsigned value; returns its length.
size_t WriteDerInteger(const uint8_t* v, uint8_t* out) {
  size_t start = 0;
  while (start < 31 && v[start] == 0) {
    ++start;
  }
  const size_t pad = (v[start] & 0x80) != 0 ? 1 : 0;
  const size_t body = 32 - start + pad;
  out[0] = 0x02;
  out[1] = static_cast<uint8_t>(body);
  out[2] = 0x00;
  std::memcpy(out + 2 + pad, v + start, 32 - start);
  return 2 + body;
}

// The canonical DER of (r, s), as i2d_ECDSA_SIG writes it, into `out`; returns its length.
size_t P256RawToDer(const uint8_t* r, const uint8_t* s,
                    std::array<uint8_t, kP256MaxDerSize>& out) {
  const size_t r_len = WriteDerInteger(r, out.data() + 2);
  const size_t s_len = WriteDerInteger(s, out.data() + 2 + r_len);
  out[0] = 0x30;
  out[1] = static_cast<uint8_t>(r_len + s_len);
  return 2 + r_len + s_len;
}

// Reads one minimal, non-negative DER INTEGER of at most 256 bits at `pos` into 32 big-endian
// bytes, advancing `pos`. False if there is none.
bool ReadDerInteger(ByteSpan der, size_t& pos, uint8_t* out32) {
  if (pos + 2 > der.size() || der[pos] != 0x02) {
    return false;
  }
  size_t len = der[pos + 1];
  pos += 2;
  if (len == 0 || len > 33 || pos + len > der.size()) {
    return false;
  }
  const uint8_t* body = der.data() + pos;
  pos += len;
  if (len == 33) {
    if (body[0] != 0x00 || (body[1] & 0x80) == 0) {
      return false;
    }
    ++body;
    --len;
  } else if ((body[0] & 0x80) != 0 || (len > 1 && body[0] == 0x00 && (body[1] & 0x80) == 0)) {
    return false;
  }
  std::memset(out32, 0, 32 - len);
  std::memcpy(out32 + 32 - len, body, len);
  return true;
}

// Reads the DER signature OpenSSL wrote back into r || s (64 bytes). False if it is malformed.
bool P256DerToRaw(ByteSpan der, uint8_t* out64) {
  if (der.size() < 2 || der[0] != 0x30 || der[1] >= 0x80 || der[1] != der.size() - 2) {
    return false;
  }
  size_t pos = 2;
  return ReadDerInteger(der, pos, out64) && ReadDerInteger(der, pos, out64 + 32) &&
         pos == der.size();
}

// s = n - s for a 32-byte big-endian s in [1, n-1].
void NegateModOrder(uint8_t* s) {
  uint32_t borrow = 0;
  for (size_t i = 32; i-- > 0;) {
    const uint32_t diff = uint32_t{kP256Order[i]} - uint32_t{s[i]} - borrow;
    s[i] = static_cast<uint8_t>(diff & 0xff);
    borrow = (diff >> 8) & 1;
  }
}

Result<Bytes> P256Sign(const PrivateKey& key, ByteSpan message) {
  MD_ASSIGN_OR_RETURN(PreparedKeyPtr prepared, PreparedPrivateKey(key));
  Ptr<EVP_MD_CTX> md_ctx(EVP_MD_CTX_new());
  if (md_ctx == nullptr) {
    return OpensslFailure("EVP_MD_CTX_new");
  }
  if (EVP_DigestSignInit(md_ctx.get(), nullptr, EVP_sha256(), nullptr, prepared->pkey.get()) !=
      1) {
    return OpensslFailure("EVP_DigestSignInit(P-256)");
  }
  std::array<uint8_t, kP256MaxDerSize> der;
  size_t der_len = der.size();
  if (EVP_DigestSign(md_ctx.get(), der.data(), &der_len, DataOrEmpty(message), message.size()) !=
      1) {
    return OpensslFailure("EVP_DigestSign(P-256)");
  }
  Bytes out(kP256SignatureSize);
  if (!P256DerToRaw(ByteSpan(der.data(), der_len), out.data())) {
    return InternalError("OpenSSL returned a malformed P-256 DER signature");
  }
  // Low S: replace s by n - s when s > n/2, so each signature has one encoding.
  if (IsHighS(out.data() + 32)) {
    NegateModOrder(out.data() + 32);
  }
  return out;
}

// Splits a signature into 32-byte big-endian r and s. DER must be strict: it has to be exactly
// the DER OpenSSL would write for the same (r, s), which refuses BER length forms, leading zero
// padding, negative integers, trailing bytes and the like.
Status P256SignatureScalars(ByteSpan signature, SignatureFormat format, uint8_t* r_out,
                            uint8_t* s_out) {
  if (format == SignatureFormat::kRaw) {
    if (signature.size() != kP256SignatureSize) {
      return BadSignature("P-256 raw signature must be 64 bytes, got " +
                          std::to_string(signature.size()));
    }
    std::memcpy(r_out, signature.data(), 32);
    std::memcpy(s_out, signature.data() + 32, 32);
    return OkStatus();
  }
  const unsigned char* cursor = signature.data();
  Ptr<ECDSA_SIG> sig(signature.empty() || signature.size() > 1024
                         ? nullptr
                         : d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(signature.size())));
  if (sig == nullptr) {
    return BadSignature("P-256 DER signature does not parse");
  }
  unsigned char* reencoded_raw = nullptr;
  const int reencoded_len = i2d_ECDSA_SIG(sig.get(), &reencoded_raw);
  Ptr<unsigned char> reencoded(reencoded_raw);
  if (reencoded_len <= 0) {
    return OpensslFailure("i2d_ECDSA_SIG");
  }
  if (static_cast<size_t>(reencoded_len) != signature.size() ||
      std::memcmp(reencoded.get(), signature.data(), signature.size()) != 0) {
    return BadSignature("P-256 DER signature is not strict DER");
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  if (BN_is_negative(r) || BN_is_negative(s) || BN_num_bytes(r) > 32 || BN_num_bytes(s) > 32) {
    return BadSignature("P-256 signature scalar out of range");
  }
  if (BN_bn2binpad(r, r_out, 32) != 32 || BN_bn2binpad(s, s_out, 32) != 32) {
    return OpensslFailure("BN_bn2binpad");
  }
  return OkStatus();
}

Status P256Verify(const PublicKey& key, ByteSpan message, ByteSpan signature,
                  const VerifyOptions& options) {
  MD_ASSIGN_OR_RETURN(PreparedKeyPtr prepared, PreparedPublicKey(key));
  Be256 r;
  Be256 s;
  MD_RETURN_IF_ERROR(P256SignatureScalars(signature, options.format, r.data(), s.data()));
  if (IsZero(r.data(), 32) || IsZero(s.data(), 32) || !LessThan(r.data(), kP256Order) ||
      !LessThan(s.data(), kP256Order)) {
    return BadSignature("P-256 signature r or s is not in [1, n-1]");
  }
  if (!options.allow_high_s && IsHighS(s.data())) {
    return BadSignature("P-256 signature has high S");
  }
  // Hand OpenSSL the canonical DER of (r, s).
  std::array<uint8_t, kP256MaxDerSize> der;
  const size_t der_len = P256RawToDer(r.data(), s.data(), der);

  Ptr<EVP_MD_CTX> md_ctx(EVP_MD_CTX_new());
  if (md_ctx == nullptr) {
    return OpensslFailure("EVP_MD_CTX_new");
  }
  if (EVP_DigestVerifyInit(md_ctx.get(), nullptr, EVP_sha256(), nullptr, prepared->pkey.get()) !=
      1) {
    return OpensslFailure("EVP_DigestVerifyInit(P-256)");
  }
  if (EVP_DigestVerify(md_ctx.get(), der.data(), der_len, DataOrEmpty(message),
                       message.size()) != 1) {
    return BadSignature("P-256 signature does not verify");
  }
  return OkStatus();
}

}  // namespace

Result<PrivateKey> OpensslGenerateKey(KeyType type, Random& random) {
  if (type != KeyType::kEd25519 && type != KeyType::kP256) {
    return NotOpensslType(type);
  }
  PrivateKey key{type, SecretBytes(32)};
  const std::span<uint8_t> out(key.secret.data(), key.secret.size());
  if (type == KeyType::kEd25519) {
    MD_RETURN_IF_ERROR(random.Fill(out));  // any 32 bytes are a valid seed
    return key;
  }
  for (int draw = 0; draw < kMaxScalarDraws; ++draw) {
    MD_RETURN_IF_ERROR(random.Fill(out));
    if (IsValidP256Scalar(key.secret.span())) {
      return key;
    }
  }
  return UnavailableError("random source gave " + std::to_string(kMaxScalarDraws) +
                          " P-256 scalars out of range in a row");
}

Result<PrivateKey> OpensslImportPrivateKey(KeyType type, ByteSpan secret) {
  if (type == KeyType::kEd25519) {
    if (secret.size() != kEd25519KeySize) {
      return BadKey("Ed25519 private key must be 32 bytes, got " + std::to_string(secret.size()));
    }
  } else if (type == KeyType::kP256) {
    if (!IsValidP256Scalar(secret)) {
      return BadKey("P-256 private key must be a 32-byte scalar in [1, n-1]");
    }
  } else {
    return NotOpensslType(type);
  }
  return PrivateKey{type, SecretBytes(secret)};
}

Result<PublicKey> OpensslDerivePublicKey(const PrivateKey& key) {
  switch (key.type) {
    case KeyType::kEd25519:
      return Ed25519DerivePublicKey(key);
    case KeyType::kP256: {
      MD_ASSIGN_OR_RETURN(Bytes point,
                          P256PublicFromScalar(key.secret, POINT_CONVERSION_COMPRESSED));
      return PublicKey{KeyType::kP256, std::move(point)};
    }
    case KeyType::kSecp256k1:
      break;
  }
  return NotOpensslType(key.type);
}

Result<PublicKey> OpensslParsePublicKey(KeyType type, ByteSpan bytes) {
  switch (type) {
    case KeyType::kEd25519:
      MD_RETURN_IF_ERROR(CheckEd25519PublicKey(bytes));
      return PublicKey{KeyType::kEd25519, Bytes(bytes.begin(), bytes.end())};
    case KeyType::kP256: {
      MD_ASSIGN_OR_RETURN(Bytes point, P256ReencodePoint(bytes, POINT_CONVERSION_COMPRESSED));
      return PublicKey{KeyType::kP256, std::move(point)};
    }
    case KeyType::kSecp256k1:
      break;
  }
  return NotOpensslType(type);
}

Result<Bytes> OpensslUncompressedPoint(const PublicKey& key) {
  if (key.type != KeyType::kP256) {
    return InvalidArgumentError(std::string(KeyTypeName(key.type)) + " keys have no P-256 point",
                                "bad-key");
  }
  return P256ReencodePoint(key.bytes, POINT_CONVERSION_UNCOMPRESSED);
}

Result<Bytes> OpensslSign(const PrivateKey& key, ByteSpan message) {
  switch (key.type) {
    case KeyType::kEd25519:
      return Ed25519Sign(key, message);
    case KeyType::kP256:
      return P256Sign(key, message);
    case KeyType::kSecp256k1:
      break;
  }
  return NotOpensslType(key.type);
}

Status OpensslVerify(const PublicKey& key, ByteSpan message, ByteSpan signature,
                     const VerifyOptions& options) {
  switch (key.type) {
    case KeyType::kEd25519:
      if (options.format != SignatureFormat::kRaw) {
        return BadSignature("Ed25519 signatures have only the raw format");
      }
      return Ed25519Verify(key, message, signature);
    case KeyType::kP256:
      return P256Verify(key, message, signature, options);
    case KeyType::kSecp256k1:
      break;
  }
  return NotOpensslType(key.type);
}

void OpensslDropPreparedKeys() {
  PrivateKeys().keys.Clear();
  PublicKeys().Clear();
}

uint64_t OpensslKeyPreparationsForTest() {
  return g_key_preparations.load(std::memory_order_relaxed);
}

}  // namespace mandated::signer::internal
