// The invariant check every fault test ends with (DESIGN §2 invariants 1, 2, 3 and 7): no
// overspend, no lost acknowledged answer, the trail verifies; against a stopped data directory
// (the ledger read straight from the store) and against a running service over HTTP. Plus the
// seed every fault test is driven by, and how a failure names it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mandated::fault {

// The seed of a fault test: MANDATED_FAULT_SEED when set, else drawn from the time; printed.
uint64_t FaultSeed();
// "replay with MANDATED_FAULT_SEED=<seed>".
std::string ReplayLine(uint64_t seed);
// MANDATED_FAULT_ROUNDS when set (> 0), else `default_rounds` (a quarter of it, at least 10,
// in a sanitizer build, whose server is several times slower).
int FaultRounds(int default_rounds);
// MANDATED_FAULT_DURATION_S when set (> 0): a soak runs rounds until this many seconds pass,
// whatever the round count; 0 otherwise.
int FaultDurationSeconds();

// An authorization as the load driver last saw it acknowledged: the decision, and for an
// allowed one the state its last acknowledged capture or void left (reserved, captured with
// `captured`, voided).
struct AckedAuthorization {
  std::string id;
  std::string decision;  // allowed | denied | approval_required
  std::string mandate;
  uint64_t amount = 0;
  std::string state;  // "" without a reservation
  uint64_t captured = 0;
};

// Everything the load driver was told, once no request is in doubt any more (each request
// without an answer was sent again with its Idempotency-Key until it got one).
struct Acknowledged {
  std::map<std::string, AckedAuthorization> authorizations;  // by id
  uint64_t deposited = 0;                                    // sum of acknowledged deposits
  std::vector<std::string> deposit_transfers;                // their transfer ids
  uint64_t usage_amount = 0;                                 // sum of every usage event sent
  uint64_t usage_events = 0;
};

// The world the load runs in: one principal with its ceilings, its mandates.
struct Subject {
  std::string principal;
  std::string admin;           // admin credential of the principal
  std::string operator_token;  // reads the audit trail
  std::vector<std::string> mandates;
  std::string deposit_account;  // "principal:<id>"
  std::string asset = "USD";
  std::string verifier_key;              // the audit verifier key, pinned at set-up
  std::vector<std::string> checkpoints;  // signed notes published earlier (the latest few)
  size_t transfers_verified = 0;         // acknowledged transfers read back by earlier checks
};

// What a check found: each check with its figure, and every broken invariant.
// Thread safety: a value; fill it from one thread.
class CheckReport {
 public:
  void Pass(const std::string& what) { lines_.push_back("PASS " + what); }
  void Fail(const std::string& what) {
    lines_.push_back("FAIL " + what);
    failures_.push_back(what);
  }
  void Check(bool ok, const std::string& what) { ok ? Pass(what) : Fail(what); }
  void Merge(const CheckReport& other);
  bool ok() const { return failures_.empty(); }
  const std::vector<std::string>& failures() const { return failures_; }
  // Every line, one per check; `seed` is named on a failure.
  std::string Text(uint64_t seed) const;

 private:
  std::vector<std::string> lines_;
  std::vector<std::string> failures_;
};

// A stopped service's data directory, read from the store itself: the ledger's double entry
// (per asset, the credits of all accounts equal their debits) and no overdraft (no non-external
// balance below zero).
CheckReport CheckStoredLedger(const std::string& data_dir);

// A running service at 127.0.0.1:`port`, read over HTTP:
//  - no overspend: every stored authorization recounted (a reservation's amount while held,
//    its captured amount once captured) stays within every ceiling its mandates' headroom
//    names, and each lifetime counter the service reports equals the recount;
//  - no lost acknowledged answer: the stored authorizations are exactly the acknowledged ones,
//    each with its decision, amount, mandate and reservation state; the deposit account holds
//    exactly the acknowledged deposits and each transfer is readable; the usage total is every
//    event sent, once;
//  - the trail verifies: the principal's export bundle verifies offline against the pinned
//    verifier key and every earlier checkpoint, and names every acknowledged authorization.
// Appends the checkpoint it saw to `subject.checkpoints`. Reads back each acknowledged transfer
// by id: all of them when `every_transfer`, else those acknowledged since the last check (the
// balance covers the earlier ones).
CheckReport CheckService(int port, Subject& subject, const Acknowledged& acked,
                         bool every_transfer = false);

}  // namespace mandated::fault
