// SHA-2 digests and HMAC-SHA256 over OpenSSL's one-shot EVP_Digest and HMAC.
#include "signer/hash.h"

#include <cstdio>
#include <cstdlib>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace mandated::signer {
namespace {

// Reports an OpenSSL failure that leaves no sensible way to continue, then aborts.
[[noreturn]] void FatalOpensslError(const char* what) {
  std::fprintf(stderr, "mandated: fatal: %s failed in OpenSSL", what);
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    std::fprintf(stderr, "; %s", buf);
  }
  std::fprintf(stderr, "\n");
  std::abort();
}

Bytes Digest(const EVP_MD* md, const char* name, ByteSpan data) {
  if (md == nullptr) {
    FatalOpensslError(name);
  }
  Bytes out(static_cast<size_t>(EVP_MD_get_size(md)));
  unsigned int out_len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &out_len, md, nullptr) != 1 ||
      out_len != out.size()) {
    FatalOpensslError(name);
  }
  return out;
}

}  // namespace

Bytes Sha256(ByteSpan data) { return Digest(EVP_sha256(), "SHA-256", data); }
Bytes Sha384(ByteSpan data) { return Digest(EVP_sha384(), "SHA-384", data); }
Bytes Sha512(ByteSpan data) { return Digest(EVP_sha512(), "SHA-512", data); }

Bytes HmacSha256(ByteSpan key, ByteSpan data) {
  // RFC 2104: a key longer than the 64-byte block is replaced by its hash. Doing it here keeps
  // the length within HMAC()'s int parameter.
  Bytes hashed_key;
  if (key.size() > 64) {
    hashed_key = Sha256(key);
    key = ByteSpan(hashed_key.data(), hashed_key.size());
  }
  // OpenSSL 3.0 reads an empty key as "reuse the previous key" and fails. HMAC pads the key
  // with zeros to the block size, so the one-byte key 0x00 is the same key as the empty one.
  static const uint8_t kZero = 0;
  if (key.empty()) {
    key = ByteSpan(&kZero, 1);
  }
  const uint8_t* data_ptr = data.empty() ? &kZero : data.data();
  Bytes out(32);
  unsigned int out_len = 0;
  const unsigned char* result = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                                     data_ptr, data.size(), out.data(), &out_len);
  OPENSSL_cleanse(hashed_key.data(), hashed_key.size());
  if (result == nullptr || out_len != out.size()) {
    FatalOpensslError("HMAC-SHA256");
  }
  return out;
}

}  // namespace mandated::signer
