// Tenant: the principal-scoped view of identity storage. Every record of a principal lives under
// "<principal id>/<kind>/<id>" in the tenants family (specs/storage.md), and this class is the
// only code that builds those keys, so no query can reach another principal's records without
// a Tenant for that principal, and only the authorization guard (api/auth.cc) makes one from an
// authenticated caller.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "store/kv_store.h"

namespace mandated::identity {

inline constexpr char kTenantsFamily[] = "tenants";

// Thread safety: immutable; safe from any thread (the store is thread-safe).
class Tenant {
 public:
  Tenant(store::KvStore& kv, std::string principal_id)
      : kv_(&kv), principal_id_(std::move(principal_id)) {}

  const std::string& principal_id() const { return principal_id_; }

  Result<std::optional<std::string>> Get(std::string_view kind, std::string_view id) const;
  void Put(store::WriteBatch& batch, std::string_view kind, std::string_view id,
           std::string_view value) const;
  void Delete(store::WriteBatch& batch, std::string_view kind, std::string_view id) const;
  // Records of `kind` in id order, after `after` (exclusive) when non-empty; `fn` returns false
  // to stop. Ids may contain '/' (secondary indexes use "<a>/<b>").
  Status Scan(std::string_view kind, std::string_view after,
              const std::function<bool(std::string_view id, std::string_view value)>& fn) const;
  // Records of `kind` whose id starts with `id_prefix`, in id order.
  Status ScanIds(std::string_view kind, std::string_view id_prefix,
                 const std::function<bool(std::string_view id, std::string_view value)>& fn) const;

 private:
  std::string Key(std::string_view kind, std::string_view id) const;
  store::KvStore* kv_;
  std::string principal_id_;
};

}  // namespace mandated::identity
