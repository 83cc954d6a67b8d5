// Storage I/O errors (DESIGN §2 invariants 1-3, 7, 8; specs/storage.md, specs/errors.md): the
// service in-process over a KvStore that fails writes, reads and scans (some in the middle of
// the scan) on a seeded schedule, under mixed load. Every request a fault hit answers a precise
// 503 storage-io / 507 storage-full problem and leaves nothing behind: once the faults stop,
// each is sent again with its key and gets its first real answer; the counters, balances and
// usage kept in memory equal what storage holds, before and after a restart; then the invariant
// check.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "api/app.h"
#include "base/log.h"
#include "base/secret.h"
#include "tests/fault/invariants.h"
#include "tests/fault/load_driver.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/test_support.h"

namespace mandated::fault {
namespace {

using testing::TempDir;

constexpr char kOperatorToken[] = "test-operator-token-0123456789";

// A KvStore that, while armed, fails each call with a probability drawn from its seed: writes
// with storage-io or storage-full (nothing written), reads with storage-io, scans with
// storage-io either at once or after visiting a few keys.
// Thread safety: as the wrapped store; the schedule is guarded by a mutex.
class FaultyStore final : public testing::ForwardingStore {
 public:
  FaultyStore(store::KvStore& inner, uint64_t seed) : ForwardingStore(inner), rng_(seed) {
    per_mille_ = 10 + static_cast<int>(rng_() % 31);  // 1% to 4% of calls fail
  }

  void Arm(bool on) { armed_.store(on); }
  int per_mille() const { return per_mille_; }
  uint64_t injected() const { return injected_.load(); }

  Result<std::optional<std::string>> Get(std::string_view cf, std::string_view key) override {
    if (Roll() != 0) return Injected("read");
    return ForwardingStore::Get(cf, key);
  }
  Status Write(const store::WriteBatch& batch, store::Durability d) override {
    switch (Roll()) {
      case 0:
        return ForwardingStore::Write(batch, d);
      case 1:
        return ResourceExhaustedError("injected: no space left on device", "storage-full");
      default:
        return Injected("write");
    }
  }
  Status ScanPrefix(std::string_view cf, std::string_view prefix,
                    const store::ScanVisitor& visit) override {
    const int r = Roll();
    if (r == 0) return ForwardingStore::ScanPrefix(cf, prefix, visit);
    return PartialScan(r, [&](const store::ScanVisitor& v) {
      return ForwardingStore::ScanPrefix(cf, prefix, v);
    }, visit);
  }
  Status ScanRange(std::string_view cf, std::string_view start, std::string_view end,
                   const store::ScanVisitor& visit) override {
    const int r = Roll();
    if (r == 0) return ForwardingStore::ScanRange(cf, start, end, visit);
    return PartialScan(r, [&](const store::ScanVisitor& v) {
      return ForwardingStore::ScanRange(cf, start, end, v);
    }, visit);
  }

 private:
  // 0: no fault; otherwise a fault kind 1..4.
  int Roll() {
    if (!armed_.load()) return 0;
    std::lock_guard<std::mutex> lock(mu_);
    if (static_cast<int>(rng_() % 1000) >= per_mille_) return 0;
    injected_.fetch_add(1);
    return 1 + static_cast<int>(rng_() % 4);
  }
  static Status Injected(const char* what) {
    return UnavailableError(std::string("injected I/O error on ") + what, "storage-io");
  }
  // Visits up to `kind - 1` keys (0 to 3), then fails as an iterator that hit a bad block.
  template <typename Scan>
  static Status PartialScan(int kind, Scan scan, const store::ScanVisitor& visit) {
    int left = kind - 1;
    Status s = scan([&](std::string_view k, std::string_view v) {
      if (left-- <= 0) return false;
      return visit(k, v);
    });
    if (!s.ok()) return s;
    return Injected("scan");
  }

  std::atomic<bool> armed_{false};
  std::atomic<uint64_t> injected_{0};
  std::mutex mu_;
  std::mt19937_64 rng_;
  int per_mille_ = 0;
};

// The service in-process, optionally over a FaultyStore.
// Thread safety: drive from the test thread.
class Service {
 public:
  Service(const std::string& data, uint64_t seed, bool faulty) {
    log::SetMinLevel(log::Level::kWarn);  // not a line per request
    api::ServerConfig config;
    config.data_dir = data;
    config.listen_host = "127.0.0.1";
    config.listen_port = 0;
    config.worker_threads = 8;
    config.public_host = "mandated.test";
    for (const char* role : {"operator", "admin", "approver", "auditor", "merchant", "agent"}) {
      config.rate_limits[role] = identity::RateLimit{1000000, 1000000};
    }
    api::App::Secrets secrets;
    secrets.bootstrap_token = SecretBytes(AsBytes(std::string_view(kOperatorToken)));
    api::App::StoreWrapper wrap;
    if (faulty) {
      wrap = [this, seed](std::unique_ptr<store::KvStore> s) -> std::unique_ptr<store::KvStore> {
        inner_ = std::move(s);
        auto f = std::make_unique<FaultyStore>(*inner_, seed);
        faulty_ = f.get();
        return f;
      };
    }
    Result<std::unique_ptr<api::App>> app =
        api::App::Start(config, std::move(secrets), nullptr, wrap);
    if (!app.ok()) {
      ADD_FAILURE() << app.error().ToString();
      return;
    }
    app_ = std::move(*app);
    server_ = std::thread([this] { run_ = app_->Run(); });
  }
  ~Service() { Stop(); }
  void Stop() {
    if (app_ == nullptr) return;
    app_->Stop();
    server_.join();
    EXPECT_TRUE(run_.ok()) << run_.ToString();
    app_.reset();
    inner_.reset();  // after the App, which used it through the wrapper
  }
  bool ok() const { return app_ != nullptr; }
  int port() const { return app_->port(); }
  FaultyStore* faulty() const { return faulty_; }

 private:
  std::unique_ptr<store::KvStore> inner_;  // the real store under a FaultyStore
  FaultyStore* faulty_ = nullptr;
  std::unique_ptr<api::App> app_;
  std::thread server_;
  Status run_;
};

TEST(StorageFaultTest, FailedReadsWritesAndScansAnswer503Or507AndLeaveNothingBehind) {
  const uint64_t seed = FaultSeed();
  std::cout << "[ seed     ] MANDATED_FAULT_SEED=" << seed << std::endl;
  SCOPED_TRACE(ReplayLine(seed));
  TempDir dir;
  const std::string data = dir.Sub("data");
  Subject subject;
  std::vector<std::string> agents;
  std::string error;
  std::unique_ptr<LoadDriver> driver;
  {
    Service svc(data, seed, /*faulty=*/true);
    ASSERT_TRUE(svc.ok());
    ASSERT_TRUE(SetUpWorld(svc.port(), kOperatorToken, 2, subject, agents, error)) << error;
    driver = std::make_unique<LoadDriver>(subject, agents, seed);
    ASSERT_TRUE(driver->OpenSessions(svc.port(), error)) << error;

    // Faults on, load for a while (three rounds, so state is loaded, cached and reloaded).
    svc.faulty()->Arm(true);
    for (int round = 0; round < 3; ++round) {
      std::atomic<bool> stop{false};
      std::thread load([&] { driver->RunLoad(svc.port(), 3, stop, static_cast<uint64_t>(round)); });
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
      stop.store(true);
      load.join();
    }
    svc.faulty()->Arm(false);
    const uint64_t injected = svc.faulty()->injected();
    const std::vector<std::string> refusals = driver->TakeStorageRefusals();
    const size_t pending = driver->pending();

    // Every refusal is a precise storage problem.
    size_t io = 0, full = 0;
    for (const std::string& r : refusals) {
      const bool is_io = r.find(" -> 503 ") != std::string::npos &&
                         r.find("storage-io") != std::string::npos;
      const bool is_full = r.find(" -> 507 ") != std::string::npos &&
                           r.find("storage-full") != std::string::npos;
      EXPECT_TRUE(is_io || is_full) << r;
      io += is_io ? 1 : 0;
      full += is_full ? 1 : 0;
    }
    EXPECT_TRUE(driver->errors().empty()) << driver->errors().size() << " unexpected answers; first: "
                                          << driver->errors().front();
    EXPECT_GT(injected, 0u);
    EXPECT_GT(refusals.size(), 0u) << "no fault reached an answer";

    // Sent again without faults: each gets its one real answer.
    ASSERT_TRUE(driver->Settle(svc.port())) << driver->pending() << " never answered";
    ASSERT_TRUE(driver->errors().empty()) << driver->errors().front();
    CheckReport live = CheckService(svc.port(), subject, driver->acked());
    EXPECT_TRUE(live.ok()) << "in memory, after the faults:\n" << live.Text(seed);
    std::cout << "[ figures  ] " << svc.faulty()->per_mille() << "/1000 calls failing: "
              << injected << " faults injected, " << refusals.size() << " refusals (" << io
              << " 503 storage-io, " << full << " 507 storage-full), " << pending
              << " requests left without an answer and answered when sent again; "
              << driver->answered() << " answers" << std::endl;
  }
  CheckReport stored = CheckStoredLedger(data);
  EXPECT_TRUE(stored.ok()) << stored.Text(seed);
  // Restarted without faults: what was rebuilt from storage is what was acknowledged.
  Service again(data, seed, /*faulty=*/false);
  ASSERT_TRUE(again.ok());
  CheckReport rebuilt = CheckService(again.port(), subject, driver->acked(), true);
  rebuilt.Merge(stored);
  EXPECT_TRUE(rebuilt.ok()) << "after a restart:\n" << rebuilt.Text(seed);
  std::cout << rebuilt.Text(seed);
}

}  // namespace
}  // namespace mandated::fault
