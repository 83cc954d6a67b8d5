// AES-256-GCM seal/open over OpenSSL's EVP cipher API.
#include "signer/aead.h"

#include <algorithm>
#include <memory>
#include <string>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "signer/openssl_errors.h"

namespace mandated::signer {
namespace {

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;


Status OpensslFailure(const std::string& what) {
  return InternalError("AES-256-GCM: " + what + " failed" + internal::DrainOpensslErrors());
}

// EVP_*Update take an int length, so long inputs go in chunks. With out == nullptr the input is
// additional authenticated data. Returns the number of bytes written to `out`.
Result<size_t> UpdateInChunks(EVP_CIPHER_CTX* ctx, bool encrypt, ByteSpan in, uint8_t* out) {
  constexpr size_t kChunk = size_t{1} << 30;
  size_t written = 0;
  for (size_t offset = 0; offset < in.size(); offset += kChunk) {
    const size_t n = std::min(kChunk, in.size() - offset);
    int out_len = 0;
    uint8_t* dst = out == nullptr ? nullptr : out + written;
    const int ok =
        encrypt ? EVP_EncryptUpdate(ctx, dst, &out_len, in.data() + offset, static_cast<int>(n))
                : EVP_DecryptUpdate(ctx, dst, &out_len, in.data() + offset, static_cast<int>(n));
    if (ok != 1 || out_len < 0) {
      return OpensslFailure(encrypt ? "EVP_EncryptUpdate" : "EVP_DecryptUpdate");
    }
    written += static_cast<size_t>(out_len);
  }
  return written;
}

}  // namespace

Result<Bytes> SealAes256Gcm(const SecretBytes& key32, ByteSpan plaintext, ByteSpan aad,
                            Random& random) {
  if (key32.size() != kAes256GcmKeySize) {
    return InvalidArgumentError(
        "AES-256-GCM key must be 32 bytes, got " + std::to_string(key32.size()), "bad-key");
  }
  Bytes sealed(kAes256GcmNonceSize + plaintext.size() + kAes256GcmTagSize);
  uint8_t* nonce = sealed.data();
  uint8_t* ciphertext = nonce + kAes256GcmNonceSize;
  uint8_t* tag = ciphertext + plaintext.size();
  MD_RETURN_IF_ERROR(random.Fill(std::span<uint8_t>(nonce, kAes256GcmNonceSize)));

  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) {
    return OpensslFailure("EVP_CIPHER_CTX_new");
  }
  // The default IV length of GCM in OpenSSL is 12 bytes, the size used here.
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key32.data(), nonce) != 1) {
    return OpensslFailure("EVP_EncryptInit_ex");
  }
  MD_RETURN_IF_ERROR(UpdateInChunks(ctx.get(), true, aad, nullptr).status());
  MD_ASSIGN_OR_RETURN(size_t written, UpdateInChunks(ctx.get(), true, plaintext, ciphertext));
  int final_len = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), ciphertext + written, &final_len) != 1) {
    return OpensslFailure("EVP_EncryptFinal_ex");
  }
  if (written + static_cast<size_t>(final_len) != plaintext.size()) {
    return InternalError("AES-256-GCM: ciphertext length differs from plaintext length");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kAes256GcmTagSize),
                          tag) != 1) {
    return OpensslFailure("EVP_CTRL_GCM_GET_TAG");
  }
  return sealed;
}

Result<SecretBytes> OpenAes256Gcm(const SecretBytes& key32, ByteSpan sealed, ByteSpan aad) {
  if (key32.size() != kAes256GcmKeySize) {
    return InvalidArgumentError(
        "AES-256-GCM key must be 32 bytes, got " + std::to_string(key32.size()), "bad-key");
  }
  if (sealed.size() < kAes256GcmOverhead) {
    return InvalidArgumentError(
        "AES-256-GCM sealed box must be at least 28 bytes, got " + std::to_string(sealed.size()),
        "aead-too-short");
  }
  const ByteSpan nonce = sealed.first(kAes256GcmNonceSize);
  const ByteSpan ciphertext =
      sealed.subspan(kAes256GcmNonceSize, sealed.size() - kAes256GcmOverhead);
  const ByteSpan tag = sealed.last(kAes256GcmTagSize);

  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) {
    return OpensslFailure("EVP_CIPHER_CTX_new");
  }
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key32.data(), nonce.data()) != 1) {
    return OpensslFailure("EVP_DecryptInit_ex");
  }
  MD_RETURN_IF_ERROR(UpdateInChunks(ctx.get(), false, aad, nullptr).status());
  SecretBytes plaintext(ciphertext.size());
  MD_ASSIGN_OR_RETURN(size_t written,
                      UpdateInChunks(ctx.get(), false, ciphertext, plaintext.data()));
  // The ctrl takes a non-const pointer but only reads the expected tag.
  uint8_t expected_tag[kAes256GcmTagSize];
  std::copy(tag.begin(), tag.end(), expected_tag);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kAes256GcmTagSize),
                          expected_tag) != 1) {
    return OpensslFailure("EVP_CTRL_GCM_SET_TAG");
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), plaintext.data() + written, &final_len) != 1) {
    plaintext.Wipe();
    internal::DrainOpensslErrors();  // a tag mismatch may leave entries; they carry nothing useful
    return UnauthenticatedError("AES-256-GCM: authentication failed (wrong key, aad or data)",
                                "aead-auth-failed");
  }
  if (written + static_cast<size_t>(final_len) != ciphertext.size()) {
    plaintext.Wipe();
    return InternalError("AES-256-GCM: plaintext length differs from ciphertext length");
  }
  return plaintext;
}

}  // namespace mandated::signer
