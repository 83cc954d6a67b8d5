// Principal-scoped keys of the tenants family.
#include "identity/tenant.h"

namespace mandated::identity {

std::string Tenant::Key(std::string_view kind, std::string_view id) const {
  std::string k;
  k.reserve(principal_id_.size() + kind.size() + id.size() + 2);
  k.append(principal_id_).append("/").append(kind).append("/").append(id);
  return k;
}

Result<std::optional<std::string>> Tenant::Get(std::string_view kind, std::string_view id) const {
  return kv_->Get(kTenantsFamily, Key(kind, id));
}

void Tenant::Put(store::WriteBatch& batch, std::string_view kind, std::string_view id,
                 std::string_view value) const {
  batch.Put(kTenantsFamily, Key(kind, id), value);
}

void Tenant::Delete(store::WriteBatch& batch, std::string_view kind, std::string_view id) const {
  batch.Delete(kTenantsFamily, Key(kind, id));
}

Status Tenant::Scan(std::string_view kind, std::string_view after,
                    const std::function<bool(std::string_view, std::string_view)>& fn) const {
  const std::string prefix = Key(kind, "");
  // '0' follows '/' in ASCII: [prefix, prefix-with-'/'-replaced-by-'0') is exactly the kind.
  std::string end = prefix;
  end.back() = '0';
  std::string start = prefix;
  if (!after.empty()) {
    start.append(after).push_back('\0');
  }
  return kv_->ScanRange(kTenantsFamily, start, end,
                        [&](std::string_view key, std::string_view value) {
                          return fn(key.substr(prefix.size()), value);
                        });
}

Status Tenant::ScanIds(std::string_view kind, std::string_view id_prefix,
                       const std::function<bool(std::string_view, std::string_view)>& fn) const {
  const std::string kind_prefix = Key(kind, "");
  return kv_->ScanPrefix(kTenantsFamily, Key(kind, id_prefix),
                         [&](std::string_view key, std::string_view value) {
                           return fn(key.substr(kind_prefix.size()), value);
                         });
}

}  // namespace mandated::identity
