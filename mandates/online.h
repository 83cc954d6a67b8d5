// The online verifier's ports: issuer keys straight from the key store and statuses straight
// from the registry's status lists (specs/mandate.md §7.3), so the service never trusts a copy
// of its own state.
#pragma once

#include "mandates/registry.h"
#include "mandates/verifier.h"
#include "signer/key_store.h"
#include "store/kv_store.h"

namespace mandated::mandates {

// Resolves "<service did>:principals:<principal>#<key id>" to an issuer key of that principal
// that is active or retired (disabled keys are withdrawn). Nothing else resolves: online, only
// this service's principals issue mandates. Thread safety: safe from any thread.
class IssuerKeyResolver final : public signer::DidResolver {
 public:
  IssuerKeyResolver(const MandateRegistry& registry, signer::KeyStore& keys)
      : registry_(registry), keys_(keys) {}
  Result<signer::PublicKey> ResolveVerificationMethod(std::string_view did_url) override;

 private:
  const MandateRegistry& registry_;
  signer::KeyStore& keys_;
};

// Reads statuses from the registry for URIs of this service's status lists of the mandate's
// issuer (the principal of `issuer`); any other URI is "status-unavailable". Thread safety: safe
// from any thread.
class RegistryStatusSource final : public StatusSource {
 public:
  RegistryStatusSource(const MandateRegistry& registry, store::KvStore& kv)
      : registry_(registry), kv_(kv) {}
  Result<uint8_t> StatusOf(const StatusReference& ref, std::string_view issuer,
                           int64_t now) override;

 private:
  const MandateRegistry& registry_;
  store::KvStore& kv_;
};

}  // namespace mandated::mandates
