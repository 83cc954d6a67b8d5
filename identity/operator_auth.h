// OperatorAuth: the service operator's bootstrap credential, which may create principals. Only
// its SHA-256 is stored; comparison is constant time (specs/api.md §Authentication).
#pragma once

#include <optional>
#include <string>

#include "base/clock.h"
#include "base/random.h"
#include "base/secret.h"
#include "store/kv_store.h"

namespace mandated::identity {

inline constexpr char kOperatorFamily[] = "operator";

// Thread safety: Initialize once at start; Check is safe from any thread afterwards.
class OperatorAuth {
 public:
  // `clock` stamps the audit events; it must outlive this object.
  OperatorAuth(store::KvStore& kv, Clock& clock) : kv_(kv), clock_(clock) {}

  // With `configured` (MANDATED_BOOTSTRAP_TOKEN) set, stores its hash (replacing an earlier one).
  // Otherwise, on a fresh store, generates a token and returns it so the caller can print it
  // once; on later starts returns nullopt. Storing a new hash stages an operator.token_set
  // audit event in the same batch (data.source "configured" or "generated", never the token
  // or its hash); a configured token whose hash is already stored changes nothing. A configured
  // token shorter than 16 bytes, or starting with "crd_" or "ses_" (the forms AccessGuard sends
  // to the Directory, which would lock the operator out), is refused: kInvalidArgument
  // ("bad-config").
  // kInvalidArgument ("bad-config") for a configured token the service would never accept:
  // shorter than 16 bytes, or shaped like a credential or session token. Touches nothing.
  static Status CheckConfigured(const SecretBytes& configured);
  Result<std::optional<SecretBytes>> Initialize(const std::optional<SecretBytes>& configured,
                                                Random& random);

  // OK if `bearer` is the operator token; kUnauthenticated ("bad-credential") otherwise.
  Status Check(std::string_view bearer) const;

 private:
  store::KvStore& kv_;
  Clock& clock_;
  Bytes token_hash_;  // set by Initialize
};

}  // namespace mandated::identity
