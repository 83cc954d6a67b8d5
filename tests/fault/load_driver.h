// LoadDriver: the mixed load of the fault tests over real HTTP (authorizations allowed and
// denied, captures, voids, ledger deposits, usage batches), recording every acknowledged answer
// and keeping every request that got none (cut off by a crash, refused with storage-full) to
// send again with its Idempotency-Key until it gets one. Plus the world it runs in.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "tests/fault/invariants.h"

namespace httplib {
class Client;
}  // namespace httplib

namespace mandated::fault {

// Ceilings of the world (USD cents): small, so that the load fills them within a few rounds and
// denials are part of every run.
inline constexpr uint64_t kPerTransactionMax = 150;
inline constexpr uint64_t kMandateLifetime = 30000;
inline constexpr uint64_t kPrincipalMonth = 50000;

// Creates one principal (with a monthly ceiling), its admin, `agents` agents each with one
// mandate (per transaction and lifetime limits) and pins the audit verifier key. Returns false
// with `error` set when a request fails.
bool SetUpWorld(int port, const std::string& operator_token, int agents, Subject& subject,
                std::vector<std::string>& agent_ids, std::string& error);

// Thread safety: RunLoad's client threads share it; the other methods are for the test thread
// while no load runs.
class LoadDriver {
 public:
  LoadDriver(Subject& subject, std::vector<std::string> agents, uint64_t seed);

  // Opens a fresh session per agent (sessions last 15 minutes; a soak outlives them).
  bool OpenSessions(int port, std::string& error);

  // `threads` clients send mixed requests until `stop` is set or the server stops answering;
  // each client stops at its first request without an answer. `round` varies the requests.
  void RunLoad(int port, int threads, const std::atomic<bool>& stop, uint64_t round);

  // Sends every request still without an answer again (same key, same body) until each has
  // one or `attempts` rounds of retries pass. True when none is left.
  bool Settle(int port, int attempts = 50);

  // What was acknowledged; complete (nothing in doubt) right after a Settle that returned true.
  const Acknowledged& acked() const { return acked_; }
  size_t pending() const { return pending_.size(); }
  // Requests answered in an unexpected way (a 500, a malformed answer, a refusal the load never
  // provokes): each one breaks invariant 8 or the driver.
  const std::vector<std::string>& errors() const { return errors_; }
  // Requests answered 503/507 (a storage fault) since the last call; they stay pending.
  std::vector<std::string> TakeStorageRefusals();
  uint64_t answered() const { return answered_.load(); }

  enum class Kind { kAuthorize, kCapture, kVoid, kDeposit, kUsage };
  struct Request {
    Kind kind = Kind::kAuthorize;
    int agent = 0;             // whose session sends authorize/capture/void
    std::string path, key, body;
    uint64_t amount = 0;       // authorize, capture part, deposit, usage total
    uint64_t events = 0;       // usage
    std::string authorization; // capture/void
  };
  // Outcome of one attempt.
  enum class Outcome { kAnswered, kRetry, kStorageRefused, kNoAnswer };

 private:
  Outcome Send(httplib::Client& client, const Request& r, std::string* authorization_allowed);
  Outcome Record(const Request& r, int status, const std::string& body,
                 std::string* authorization_allowed);
  std::string TokenFor(const Request& r);

  Subject& subject_;
  std::vector<std::string> agents_;
  uint64_t seed_;
  std::mutex mu_;  // guards everything below
  std::vector<std::string> sessions_;  // by agent
  Acknowledged acked_;
  std::vector<Request> pending_;
  std::vector<std::string> errors_;
  std::vector<std::string> storage_refusals_;
  std::atomic<uint64_t> answered_{0};
  std::atomic<uint64_t> next_key_{0};
};

}  // namespace mandated::fault
