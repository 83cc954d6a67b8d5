// GatedStore: a KvStore that holds the writes of one chosen thread until released, so a test
// can keep an operation inside its durable write while others run.
#pragma once

#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "tests/support/forwarding_store.h"

namespace mandated::testing {

// Thread safety: safe from any thread. Holds one write (the chosen thread's next) per instance.
class GatedStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  // The next write of thread `writer` waits in Write until Release().
  void Hold(std::thread::id writer) {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = writer;
  }
  // Ready once the held write has arrived (and waits).
  std::future<void> Arrived() { return arrived_.get_future(); }
  void Release() { release_.set_value(); }

  Status Write(const store::WriteBatch& batch, store::Durability d) override {
    bool hold = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      hold = held_ == std::this_thread::get_id();
      if (hold) held_.reset();
    }
    if (hold) {
      arrived_.set_value();
      release_.get_future().wait();
    }
    return ForwardingStore::Write(batch, d);
  }

 private:
  std::mutex mu_;
  std::optional<std::thread::id> held_;
  std::promise<void> arrived_;
  std::promise<void> release_;
};

}  // namespace mandated::testing
