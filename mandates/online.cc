// The online verifier's ports over the key store and the registry (specs/mandate.md §7.3).
#include "mandates/online.h"

#include <charconv>
#include <string>

#include "identity/tenant.h"

namespace mandated::mandates {

Result<signer::PublicKey> IssuerKeyResolver::ResolveVerificationMethod(
    std::string_view did_url) {
  const size_t hash = did_url.find('#');
  auto unresolvable = [&]() {
    return NotFoundError("no verification method " + std::string(did_url) + " is known",
                         "kid-unresolvable");
  };
  if (hash == std::string_view::npos) {
    return unresolvable();
  }
  const std::string principal = registry_.PrincipalOfIssuer(did_url.substr(0, hash));
  const std::string key_id(did_url.substr(hash + 1));
  if (principal.empty() || key_id.rfind("key_", 0) != 0) {
    return unresolvable();
  }
  Result<signer::KeyInfo> key = keys_.Get(key_id);
  if (!key.ok()) {
    if (key.error().code() == StatusCode::kNotFound) {
      return unresolvable();
    }
    return key.error();
  }
  if (key->owner != principal || key->purpose != kIssuerKeyPurpose ||
      key->state == signer::KeyState::kDisabled) {
    return unresolvable();
  }
  return key->public_key;
}

Result<uint8_t> RegistryStatusSource::StatusOf(const StatusReference& ref,
                                               std::string_view issuer, int64_t) {
  const std::string prefix = registry_.options().public_base_url + "/v1/status-lists/";
  auto unavailable = [&]() {
    return UnavailableError("status list " + ref.uri + " is not one of this service's",
                            "status-unavailable");
  };
  if (ref.uri.size() <= prefix.size() || ref.uri.compare(0, prefix.size(), prefix) != 0) {
    return unavailable();
  }
  const std::string rest = ref.uri.substr(prefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0) {
    return unavailable();
  }
  const std::string principal = rest.substr(0, slash);
  const std::string list_text = rest.substr(slash + 1);
  uint64_t list = 0;
  const char* end = list_text.data() + list_text.size();
  if (list_text.empty() || std::from_chars(list_text.data(), end, list).ptr != end ||
      registry_.StatusListUri(principal, list) != ref.uri) {
    return unavailable();
  }
  // Only the issuer's own lists speak for its mandates (as offline, verifier.cc): the list's
  // principal must be the one whose issuer DID signed the mandate.
  if (registry_.PrincipalOfIssuer(issuer) != principal) {
    return UnavailableError("status list " + ref.uri + " is not a list of the mandate's issuer " +
                                std::string(issuer),
                            "status-unavailable");
  }
  identity::Tenant tenant(kv_, principal);
  Result<uint8_t> st = registry_.StatusAt(tenant, list, ref.idx);
  if (!st.ok() && st.error().code() == StatusCode::kNotFound) {
    return unavailable();
  }
  if (!st.ok() && st.error().code() == StatusCode::kOutOfRange) {
    return OutOfRangeError("index " + std::to_string(ref.idx) + " is past the end of " + ref.uri,
                           "status-index-out-of-range");
  }
  return st;
}

}  // namespace mandated::mandates
