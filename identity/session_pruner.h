// SessionPruner: the background task that deletes ended sessions after their retention, and the
// replay records of long-expired session assertions, a bounded Directory::PruneSessions and
// PruneAssertionJtis pass at a time (specs/access.md §Session retention).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/periodic_task.h"
#include "base/result.h"
#include "identity/directory.h"

namespace mandated::identity {

struct SessionPrunerOptions {
  size_t sessions_per_pass = 1000;   // sessions one pass looks at (each: two reads, up to 4 deletes)
  int64_t pass_interval_ms = 1000;   // between passes while the scan has more sessions to look at
  int64_t idle_interval_ms = 60000;  // after a pass that reached the last session
};

// Thread safety: Start and Stop from one thread (the app's). PassOnce is what the background
// thread runs; tests call it directly, never while the thread runs.
class SessionPruner {
 public:
  explicit SessionPruner(Directory& directory, SessionPrunerOptions options = {});
  SessionPruner(const SessionPruner&) = delete;
  SessionPruner& operator=(const SessionPruner&) = delete;

  // Starts the background thread (a no-op if it runs); its first pass comes after
  // pass_interval_ms.
  void Start() { task_.Start(); }
  // Stops it, waiting for a pass in progress to finish (at most one chunk's batch after that).
  void Stop() { task_.Stop(); }

  // One pass of at most sessions_per_pass sessions, resuming where the previous pass stopped.
  // Errors: Directory::PruneSessions's (the next pass retries from the same place).
  Result<SessionPrunePass> PassOnce();
  // The same over the session assertions' replay records (Directory::PruneAssertionJtis), at
  // most sessions_per_pass of them. The background task runs each scan until it reaches its
  // end, then idles until both have.
  Result<JtiPrunePass> JtiPassOnce();

 private:
  // The task's pass: PassOnce, logged; whether the scan has more sessions to look at.
  Result<bool> Pass();

  Directory& directory_;
  const SessionPrunerOptions options_;
  std::string after_;      // where the next pass resumes; only PassOnce touches it
  std::string jti_after_;  // the same for JtiPassOnce
  // Whether this round's scan reached its end; only Pass touches them.
  bool sessions_done_ = false;
  bool jtis_done_ = false;
  PeriodicTask task_;  // last: stopped (destroyed) before the members its passes use
};

}  // namespace mandated::identity
