// Dispatches the signature.h operations to the OpenSSL or libsecp256k1 adapter by key type.
#include "signer/signature.h"

#include "signer/openssl_ec.h"
#include "signer/secp256k1_ec.h"

namespace mandated::signer {

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kEd25519: return "Ed25519";
    case KeyType::kP256: return "P-256";
    case KeyType::kSecp256k1: return "secp256k1";
  }
  return "unknown";
}

Result<KeyType> KeyTypeFromName(std::string_view name) {
  if (name == "Ed25519") return KeyType::kEd25519;
  if (name == "P-256") return KeyType::kP256;
  if (name == "secp256k1") return KeyType::kSecp256k1;
  return InvalidArgumentError("unknown key type \"" + std::string(name) +
                                  "\" (expected Ed25519, P-256 or secp256k1)",
                              "unknown-key-type");
}

Result<PrivateKey> GenerateKey(KeyType type, Random& random) {
  if (type == KeyType::kSecp256k1) {
    return internal::Secp256k1GenerateKey(random);
  }
  return internal::OpensslGenerateKey(type, random);
}

Result<PrivateKey> ImportPrivateKey(KeyType type, ByteSpan secret) {
  if (type == KeyType::kSecp256k1) {
    return internal::Secp256k1ImportPrivateKey(secret);
  }
  return internal::OpensslImportPrivateKey(type, secret);
}

Result<PublicKey> DerivePublicKey(const PrivateKey& key) {
  if (key.type == KeyType::kSecp256k1) {
    return internal::Secp256k1DerivePublicKey(key);
  }
  return internal::OpensslDerivePublicKey(key);
}

Result<PublicKey> ParsePublicKey(KeyType type, ByteSpan bytes) {
  if (type == KeyType::kSecp256k1) {
    return internal::Secp256k1ParsePublicKey(bytes);
  }
  return internal::OpensslParsePublicKey(type, bytes);
}

Result<Bytes> UncompressedPoint(const PublicKey& key) {
  switch (key.type) {
    case KeyType::kSecp256k1: return internal::Secp256k1UncompressedPoint(key);
    case KeyType::kP256: return internal::OpensslUncompressedPoint(key);
    case KeyType::kEd25519: break;
  }
  return InvalidArgumentError("Ed25519 keys have no EC point form", "bad-key");
}

Result<Bytes> Sign(const PrivateKey& key, ByteSpan message) {
  if (key.type == KeyType::kSecp256k1) {
    return internal::Secp256k1Sign(key, message);
  }
  return internal::OpensslSign(key, message);
}

Status Verify(const PublicKey& key, ByteSpan message, ByteSpan signature,
              const VerifyOptions& options) {
  if (key.type == KeyType::kSecp256k1) {
    return internal::Secp256k1Verify(key, message, signature, options);
  }
  return internal::OpensslVerify(key, message, signature, options);
}

void DropPreparedKeys() { internal::OpensslDropPreparedKeys(); }

}  // namespace mandated::signer
