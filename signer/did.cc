// did:key, did:pkh and JWK codecs.
#include "signer/did.h"

#include "signer/ethereum.h"
#include "signer/hash.h"
#include "signer/signature.h"

namespace mandated::signer {
namespace {

constexpr std::string_view kDidKeyPrefix = "did:key:";

uint64_t CodecFor(KeyType t) {
  switch (t) {
    case KeyType::kEd25519: return 0xed;
    case KeyType::kSecp256k1: return 0xe7;
    case KeyType::kP256: return 0x1200;
  }
  return 0;
}

void AppendVarint(Bytes& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

// Unsigned LEB128 as multiformats uses it: at most 9 bytes, minimal encoding.
Result<uint64_t> ReadVarint(ByteSpan in, size_t* used) {
  uint64_t v = 0;
  for (size_t i = 0; i < in.size() && i < 9; ++i) {
    v |= static_cast<uint64_t>(in[i] & 0x7f) << (7 * i);
    if ((in[i] & 0x80) == 0) {
      if (i > 0 && in[i] == 0) {
        return InvalidArgumentError("did:key multicodec varint is not minimal", "bad-did");
      }
      *used = i + 1;
      return v;
    }
  }
  return InvalidArgumentError("did:key multicodec varint is truncated", "bad-did");
}

Status BadDid(const std::string& why) { return InvalidArgumentError("did:key " + why, "bad-did"); }

std::string_view CurveName(KeyType t) {
  switch (t) {
    case KeyType::kEd25519: return "Ed25519";
    case KeyType::kP256: return "P-256";
    case KeyType::kSecp256k1: return "secp256k1";
  }
  return "";
}

}  // namespace

std::string MultibaseFromPublicKey(const PublicKey& key) {
  Bytes raw;
  AppendVarint(raw, CodecFor(key.type));
  raw.insert(raw.end(), key.bytes.begin(), key.bytes.end());
  return "z" + Base58BtcEncode(raw);
}

std::string DidKeyFromPublicKey(const PublicKey& key) {
  return std::string(kDidKeyPrefix) + MultibaseFromPublicKey(key);
}

std::string DidKeyVerificationMethodId(const PublicKey& key) {
  return DidKeyFromPublicKey(key) + "#" + MultibaseFromPublicKey(key);
}

// "z" and the base58 digits of a codec and key: an RSA-4096 key (which is refused as an unknown
// codec) takes about 750.
constexpr size_t kMaxDidKeyMultibase = 1024;

Result<PublicKey> PublicKeyFromDidKey(std::string_view did) {
  if (did.substr(0, kDidKeyPrefix.size()) != kDidKeyPrefix) {
    return BadDid("must start with did:key:");
  }
  std::string_view mb = did.substr(kDidKeyPrefix.size());
  if (mb.empty() || mb[0] != 'z') {
    return BadDid("multibase prefix must be z (base58btc)");
  }
  // The longest key we take (a 2-byte codec and 33 bytes) is 48 base58 digits. Decoding takes time
  // quadratic in the length: anything longer is refused before it (specs/signing.md §DIDs).
  if (mb.size() > kMaxDidKeyMultibase) {
    return BadDid("is longer than any key's (" + std::to_string(kMaxDidKeyMultibase) +
                  " characters after did:key:)");
  }
  Result<Bytes> raw = Base58BtcDecode(mb.substr(1));
  if (!raw.ok()) {
    return BadDid("is not valid base58btc");
  }
  size_t used = 0;
  MD_ASSIGN_OR_RETURN(uint64_t codec, ReadVarint(*raw, &used));
  KeyType type;
  size_t want = 0;
  if (codec == 0xed) {
    type = KeyType::kEd25519;
    want = 32;
  } else if (codec == 0xe7) {
    type = KeyType::kSecp256k1;
    want = 33;
  } else if (codec == 0x1200) {
    type = KeyType::kP256;
    want = 33;
  } else {
    return BadDid("uses an unsupported multicodec");
  }
  ByteSpan key(raw->data() + used, raw->size() - used);
  if (key.size() != want) {
    return BadDid(std::string(CurveName(type)) + " key must be " + std::to_string(want) +
                  " bytes, got " + std::to_string(key.size()));
  }
  Result<PublicKey> pk = ParsePublicKey(type, key);
  if (!pk.ok()) {
    return BadDid("key is not a valid point: " + pk.error().message());
  }
  return pk;
}

Result<std::string> DidPkhFromPublicKey(const PublicKey& key, uint64_t chain_id) {
  MD_ASSIGN_OR_RETURN(std::string address, EthereumAddress(key));
  return "did:pkh:eip155:" + std::to_string(chain_id) + ":" + address;
}

json::Value PublicKeyToJwk(const PublicKey& key) {
  json::Value jwk = json::Value::Object();
  if (key.type == KeyType::kEd25519) {
    jwk.Set("crv", json::Value::String("Ed25519"));
    jwk.Set("kty", json::Value::String("OKP"));
    jwk.Set("x", json::Value::String(Base64UrlEncode(key.bytes)));
    return jwk;
  }
  Result<Bytes> point = UncompressedPoint(key);
  Bytes p = point.ok() ? *point : Bytes(65, 0);
  jwk.Set("crv", json::Value::String(std::string(CurveName(key.type))));
  jwk.Set("kty", json::Value::String("EC"));
  jwk.Set("x", json::Value::String(Base64UrlEncode(ByteSpan(p.data() + 1, 32))));
  jwk.Set("y", json::Value::String(Base64UrlEncode(ByteSpan(p.data() + 33, 32))));
  return jwk;
}

Result<PublicKey> PublicKeyFromJwk(const json::Value& jwk) {
  auto bad = [](const std::string& why) { return InvalidArgumentError("JWK " + why, "bad-jwk"); };
  if (!jwk.is_object()) return bad("must be an object");
  if (jwk.Find("d") != nullptr) return bad("contains private key material");
  const json::Value* kty = jwk.Find("kty");
  const json::Value* crv = jwk.Find("crv");
  const json::Value* x = jwk.Find("x");
  if (kty == nullptr || crv == nullptr || x == nullptr || !kty->is_string() || !crv->is_string() ||
      !x->is_string()) {
    return bad("needs string kty, crv and x");
  }
  Result<Bytes> xb = Base64UrlDecode(x->as_string());
  if (!xb.ok()) return bad("x is not base64url");
  if (kty->as_string() == "OKP" && crv->as_string() == "Ed25519") {
    if (xb->size() != 32) return bad("Ed25519 x must be 32 bytes");
    Result<PublicKey> pk = ParsePublicKey(KeyType::kEd25519, *xb);
    if (!pk.ok()) return bad("x is not a valid key");
    return pk;
  }
  if (kty->as_string() != "EC") return bad("kty must be OKP or EC");
  KeyType type;
  if (crv->as_string() == "P-256") {
    type = KeyType::kP256;
  } else if (crv->as_string() == "secp256k1") {
    type = KeyType::kSecp256k1;
  } else {
    return bad("crv must be P-256 or secp256k1");
  }
  const json::Value* y = jwk.Find("y");
  if (y == nullptr || !y->is_string()) return bad("needs y");
  Result<Bytes> yb = Base64UrlDecode(y->as_string());
  if (!yb.ok() || xb->size() != 32 || yb->size() != 32) return bad("x and y must be 32 bytes");
  Bytes point = {0x04};
  point.insert(point.end(), xb->begin(), xb->end());
  point.insert(point.end(), yb->begin(), yb->end());
  Result<PublicKey> pk = ParsePublicKey(type, point);
  if (!pk.ok()) return bad("point is not on the curve");
  return pk;
}

std::string JwkThumbprint(const PublicKey& key) {
  // PublicKeyToJwk already writes the required members in lexicographic order.
  std::string canonical = json::Write(PublicKeyToJwk(key));
  return Base64UrlEncode(Sha256(AsBytes(canonical)));
}

Result<PublicKey> DidKeyResolver::ResolveVerificationMethod(std::string_view did_url) {
  size_t hash = did_url.find('#');
  std::string_view did = did_url.substr(0, hash);
  Result<PublicKey> key = PublicKeyFromDidKey(did);
  if (!key.ok()) {
    return NotFoundError("cannot resolve " + std::string(did_url) + ": " + key.error().message(),
                         "kid-unresolvable");
  }
  if (hash != std::string_view::npos && did_url.substr(hash + 1) != did.substr(8)) {
    return NotFoundError("did:key fragment must repeat the key's multibase", "kid-unresolvable");
  }
  return key;
}

}  // namespace mandated::signer
