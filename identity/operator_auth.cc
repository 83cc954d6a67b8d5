// Operator bootstrap token: generation, hashed storage and constant-time check.
#include "identity/operator_auth.h"

#include <cstring>

#include "audit/event.h"
#include "identity/directory.h"
#include "signer/hash.h"

namespace mandated::identity {
namespace {
constexpr char kTokenHashKey[] = "bootstrap_token_sha256";
constexpr char kTokenPrefix[] = "mdt_op_";

// operator.token_set: service-wide, and says only where the token came from.
void StageTokenSet(store::WriteBatch& batch, const char* source, int64_t at_micros) {
  audit::Event e;
  e.type = "operator.token_set";
  e.principal = "";
  e.at_micros = at_micros;
  e.data.Set("source", json::Value::String(source));
  audit::Stage(batch, e);
}
}  // namespace

Status OperatorAuth::CheckConfigured(const SecretBytes& configured) {
  if (configured.size() < 16) {
    return InvalidArgumentError("MANDATED_BOOTSTRAP_TOKEN must be at least 16 bytes",
                                "bad-config");
  }
  // Requests whose token looks like a credential or session token go to the directory only
  // (api/auth.cc), so such an operator token would never be accepted.
  if (Directory::LooksLikeDirectoryToken(configured.chars())) {
    return InvalidArgumentError(
        "MANDATED_BOOTSTRAP_TOKEN must not start with \"crd_\" or \"ses_\": tokens of that "
        "form are checked as principal credentials and sessions, never as the operator token",
        "bad-config");
  }
  return OkStatus();
}

Result<std::optional<SecretBytes>> OperatorAuth::Initialize(
    const std::optional<SecretBytes>& configured, Random& random) {
  if (configured.has_value()) {
    MD_RETURN_IF_ERROR(CheckConfigured(*configured));
    token_hash_ = signer::Sha256(configured->span());
    MD_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                        kv_.Get(kOperatorFamily, kTokenHashKey));
    if (stored.has_value() && ConstantTimeEquals(ToBytes(*stored), token_hash_)) {
      return std::optional<SecretBytes>();
    }
    store::WriteBatch batch;
    batch.Put(kOperatorFamily, kTokenHashKey, AsChars(token_hash_));
    StageTokenSet(batch, "configured", clock_.NowUnixMicros());
    MD_RETURN_IF_ERROR(kv_.Write(batch));
    return std::optional<SecretBytes>();
  }
  MD_ASSIGN_OR_RETURN(std::optional<std::string> stored, kv_.Get(kOperatorFamily, kTokenHashKey));
  if (stored.has_value()) {
    token_hash_ = ToBytes(*stored);
    return std::optional<SecretBytes>();
  }
  MD_ASSIGN_OR_RETURN(Bytes raw, random.Generate(32));
  // Assembled in a buffer of its final size: concatenating strings could move the encoded
  // secret to a larger buffer and free the first one unwiped.
  std::string encoded = Base64UrlEncode(raw);
  SecureWipe(raw.data(), raw.size());
  const size_t prefix_size = std::strlen(kTokenPrefix);
  SecretBytes secret(prefix_size + encoded.size());
  std::memcpy(secret.data(), kTokenPrefix, prefix_size);
  std::memcpy(secret.data() + prefix_size, encoded.data(), encoded.size());
  SecureWipe(encoded.data(), encoded.size());
  token_hash_ = signer::Sha256(secret.span());
  store::WriteBatch batch;
  batch.Put(kOperatorFamily, kTokenHashKey, AsChars(token_hash_));
  StageTokenSet(batch, "generated", clock_.NowUnixMicros());
  MD_RETURN_IF_ERROR(kv_.Write(batch));
  return std::optional<SecretBytes>(std::move(secret));
}

Status OperatorAuth::Check(std::string_view bearer) const {
  if (token_hash_.empty() || bearer.empty()) {
    return UnauthenticatedError("missing or invalid credential", "bad-credential");
  }
  Bytes h = signer::Sha256(AsBytes(bearer));
  if (!ConstantTimeEquals(h, token_hash_)) {
    return UnauthenticatedError("missing or invalid credential", "bad-credential");
  }
  return OkStatus();
}

}  // namespace mandated::identity
