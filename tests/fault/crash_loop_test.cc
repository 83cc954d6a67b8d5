// Crash loop (DESIGN §2 invariants 1-3, 7): the real server binary on one data directory, mixed
// load from a few clients, SIGKILL at a moment drawn from the seed, a look at the stored ledger
// while it is down, a restart, every unanswered request sent again with its key, and the
// invariant check; MANDATED_FAULT_ROUNDS rounds (50 by default), MANDATED_FAULT_SEED replays.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <random>
#include <thread>

#include "tests/fault/invariants.h"
#include "tests/fault/load_driver.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated::fault {
namespace {

using testing::ServerProcess;
using testing::TempDir;

constexpr char kRateLimits[] = "operator=100000/100000,admin=100000/100000,agent=100000/100000";

TEST(CrashLoopTest, SigkillUnderLoadKeepsEveryInvariant) {
  const uint64_t seed = FaultSeed();
  const int rounds = FaultRounds(50);
  const int duration_s = FaultDurationSeconds();  // a soak: rounds until it has passed
  std::cout << "[ seed     ] MANDATED_FAULT_SEED=" << seed << " rounds=" << rounds
            << " duration_s=" << duration_s << std::endl;
  SCOPED_TRACE(ReplayLine(seed));
  std::mt19937_64 rng(seed);

  TempDir dir;
  const std::string data = dir.Sub("data");
  // A fixed public host keeps the service DID (and the audit origin) across restarts. The
  // reservations outlive the run (the default TTL is 600 s): the check compares the stored
  // records with the live counters a moment apart, and a hold whose lease ends in between
  // would be counted by one and not the other. Expiry has its own tests (clock jumps, races).
  const int ttl_s = std::min(604800, std::max(600, duration_s + 3600));
  ServerProcess server(data, {},
                       {"--rate-limits", kRateLimits, "--workers", "16", "--public-host",
                        "mandated.test", "--reservation-ttl-s", std::to_string(ttl_s)});
  ASSERT_TRUE(server.Start()) << server.Stderr();
  Subject subject;
  std::vector<std::string> agents;
  std::string error;
  ASSERT_TRUE(SetUpWorld(server.port(), server.bootstrap_token(), 2, subject, agents, error))
      << error;
  LoadDriver driver(subject, agents, seed);

  const auto start = std::chrono::steady_clock::now();
  uint64_t cut_off = 0;
  int kills = 0;
  for (int round = 0;; ++round) {
    const bool last =
        duration_s > 0
            ? std::chrono::steady_clock::now() - start >= std::chrono::seconds(duration_s)
            : round == rounds;
    const std::string where = "round " + std::to_string(round) + "; " + ReplayLine(seed);
    ASSERT_TRUE(driver.OpenSessions(server.port(), error)) << error << "; " << where;
    cut_off += driver.pending();
    ASSERT_TRUE(driver.Settle(server.port())) << driver.pending() << " requests never answered; "
                                              << where;
    ASSERT_TRUE(driver.errors().empty()) << driver.errors().front() << "; " << where;
    CheckReport report = CheckService(server.port(), subject, driver.acked(), last);
    ASSERT_TRUE(report.ok()) << report.Text(seed) << where;
    if (last) {
      std::cout << report.Text(seed);
      break;
    }

    // Load, and a SIGKILL 20-250 ms into it.
    std::atomic<bool> stop{false};
    const int port = server.port();
    std::thread load([&] { driver.RunLoad(port, 3, stop, static_cast<uint64_t>(round)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 231));
    server.Kill();
    ++kills;
    stop.store(true);
    load.join();

    CheckReport stored = CheckStoredLedger(data);
    ASSERT_TRUE(stored.ok()) << stored.Text(seed) << where;
    ASSERT_TRUE(server.Start()) << "restart failed: " << server.Stderr() << "; " << where;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Acknowledged& a = driver.acked();
  size_t allowed = 0;
  for (const auto& [id, x] : a.authorizations) allowed += x.decision == "allowed" ? 1 : 0;
  std::cout << "[ figures  ] " << kills << " SIGKILLs in " << seconds << " s; "
            << driver.answered() << " answers; " << a.authorizations.size()
            << " authorizations (" << allowed << " allowed); " << a.deposit_transfers.size()
            << " deposits; " << a.usage_events << " usage events; " << cut_off
            << " requests cut off by a kill and answered after the restart" << std::endl;
  if (duration_s == 0) {
    EXPECT_EQ(kills, rounds);
  }
  EXPECT_GT(cut_off, 0u) << "no kill cut a request off; " << ReplayLine(seed);
}

}  // namespace
}  // namespace mandated::fault
