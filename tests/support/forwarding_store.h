// ForwardingStore: a KvStore that passes every call on to another one, so that a test double
// overrides only the calls it changes (a failing Write, a slowed-down Get).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/kv_store.h"

namespace mandated::testing {

// Thread safety: as the wrapped store.
class ForwardingStore : public store::KvStore {
 public:
  // `inner` must outlive this store.
  explicit ForwardingStore(store::KvStore& inner) : inner_(inner) {}

  Result<std::optional<std::string>> Get(std::string_view cf, std::string_view key) override {
    return inner_.Get(cf, key);
  }
  Status Write(const store::WriteBatch& batch, store::Durability d) override {
    return inner_.Write(batch, d);
  }
  Status ScanPrefix(std::string_view cf, std::string_view prefix,
                    const store::ScanVisitor& visit) override {
    return inner_.ScanPrefix(cf, prefix, visit);
  }
  Status ScanRange(std::string_view cf, std::string_view start, std::string_view end,
                   const store::ScanVisitor& visit) override {
    return inner_.ScanRange(cf, start, end, visit);
  }
  Status Flush() override { return inner_.Flush(); }
  Result<uint64_t> Checkpoint(const std::string& dir) override { return inner_.Checkpoint(dir); }
  store::StoreStats Stats() override { return inner_.Stats(); }

 private:
  store::KvStore& inner_;
};

namespace internal {
struct OwnedStore {
  std::unique_ptr<store::KvStore> inner;
};
}  // namespace internal

// A ForwardingStore that owns the store it wraps: what an App::StoreWrapper hands over (the
// owned store is constructed before the forwarding base that refers to it).
// Thread safety: as the wrapped store.
class OwningForwardingStore : private internal::OwnedStore, public ForwardingStore {
 public:
  explicit OwningForwardingStore(std::unique_ptr<store::KvStore> s)
      : OwnedStore{std::move(s)}, ForwardingStore(*inner) {}
};

}  // namespace mandated::testing
